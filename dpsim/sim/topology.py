"""How nodes are wired together: strategies that own the inter-node links and route between NICs.

Each topology adds its directed links to a :class:`~dpsim.sim.links.LinkTable` in
:meth:`Topology.build` and answers :meth:`Topology.routes` for many (source NIC,
destination NIC) pairs at once: a padded matrix of link ids (``-1`` = no link) and the
one-way latency of each route. Variants are siblings named by ``cluster.topology.kind``:

``switch``
    One non-blocking switch: a route is the source NIC's uplink and the destination NIC's
    downlink (two directed links, one NIC latency).
``fat-tree``
    Two-level leaf–spine (Leiserson 1985; Al-Fares et al. 2008): ``nodes_per_leaf`` nodes per
    leaf switch; each leaf's uplink to the (non-blocking) spine carries
    ``nodes_per_leaf × nics × B / oversubscription`` per direction. Traffic between leaves
    crosses the source leaf's uplink and the destination leaf's downlink.
``ring``
    Nodes cabled in a ring, no switch: each node has a link to each neighbour of
    ``B × max(1, nics // 2)`` per direction (its NICs split between its two neighbours). A
    route takes the shorter way round and pays the NIC latency once per hop.

A parameter server, when asked for, hangs off the switch/spine (or node 0 of a ring) by
its own full-duplex port.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from dpsim.sim.links import LinkTable

__all__ = ["FatTreeTopology", "RingTopology", "SwitchTopology", "Topology", "make_topology"]

Routes = tuple[np.ndarray, np.ndarray]
"""(link ids: int64 matrix, one row per route, padded with -1; latency_s per route)."""


def pad_columns(columns: list[np.ndarray], count: int) -> np.ndarray:
    """Stack 1-D int arrays of length ``count`` into a (count × k) matrix (k ≥ 1, -1 if empty)."""
    if not columns:
        return np.full((count, 1), -1, dtype=np.int64)
    return np.stack([np.asarray(c, dtype=np.int64) for c in columns], axis=1)


class Topology(ABC):
    """Inter-node network: builds its links, routes between NICs, degrades a node's NICs."""

    nodes: int
    nics: int
    bandwidth: float
    latency_s: float

    def build(self, table: LinkTable, nodes: int, nics: int, bandwidth: float, latency_s: float) -> None:
        """Add this topology's links for ``nodes`` nodes with ``nics`` NICs of ``bandwidth`` each."""
        self.nodes, self.nics, self.bandwidth, self.latency_s = nodes, nics, bandwidth, latency_s
        self._build(table)

    @abstractmethod
    def _build(self, table: LinkTable) -> None: ...

    @abstractmethod
    def routes(self, src_node: np.ndarray, src_nic: np.ndarray, dst_node: np.ndarray, dst_nic: np.ndarray) -> Routes:
        """Routes from (node, NIC) to (node, NIC) for arrays of pairs on different nodes."""

    @abstractmethod
    def degrade(self, table: LinkTable, node: int, factor: float) -> None:
        """Scale the bandwidth of ``node``'s network links by ``factor`` (a degraded NIC)."""

    @abstractmethod
    def attach_server(self, table: LinkTable, bandwidth: float, latency_s: float) -> None:
        """Add a parameter-server port."""

    @abstractmethod
    def server_routes(self, node: np.ndarray, nic: np.ndarray, to_server: bool) -> Routes:
        """Routes between (node, NIC) and the parameter server, in either direction."""


class SwitchTopology(Topology):
    """Every NIC on one non-blocking switch."""

    def _build(self, table: LinkTable) -> None:
        self.nic_up = np.empty((self.nodes, self.nics), dtype=np.int64)
        self.nic_down = np.empty((self.nodes, self.nics), dtype=np.int64)
        for node in range(self.nodes):
            for nic in range(self.nics):
                up, down = table.add_duplex(f"node{node}.nic{nic}", self.bandwidth, self.latency_s)
                self.nic_up[node, nic], self.nic_down[node, nic] = up, down

    def _fabric_columns(self, src_node: np.ndarray, dst_node: np.ndarray) -> list[np.ndarray]:
        """Links between the two NICs (none for a single switch)."""
        return []

    def routes(self, src_node: np.ndarray, src_nic: np.ndarray, dst_node: np.ndarray, dst_nic: np.ndarray) -> Routes:
        cols = [self.nic_up[src_node, src_nic], *self._fabric_columns(src_node, dst_node)]
        cols.append(self.nic_down[dst_node, dst_nic])
        return pad_columns(cols, len(src_node)), np.full(len(src_node), self.latency_s)

    def degrade(self, table: LinkTable, node: int, factor: float) -> None:
        for link in (*self.nic_up[node], *self.nic_down[node]):
            table.scale(int(link), factor)

    def attach_server(self, table: LinkTable, bandwidth: float, latency_s: float) -> None:
        self.server_up, self.server_down = table.add_duplex("server", bandwidth, latency_s)
        self.server_latency_s = latency_s

    def _server_columns(self, node: np.ndarray, to_server: bool) -> list[np.ndarray]:
        return []

    def server_routes(self, node: np.ndarray, nic: np.ndarray, to_server: bool) -> Routes:
        n = len(node)
        if to_server:
            cols = [self.nic_up[node, nic], *self._server_columns(node, True), np.full(n, self.server_down)]
        else:
            cols = [np.full(n, self.server_up), *self._server_columns(node, False), self.nic_down[node, nic]]
        return pad_columns(cols, n), np.full(n, max(self.latency_s, self.server_latency_s))


class FatTreeTopology(SwitchTopology):
    """Leaf–spine: nodes under leaves, oversubscribed leaf uplinks, non-blocking spine."""

    def __init__(self, nodes_per_leaf: int, oversubscription: float) -> None:
        self.nodes_per_leaf = nodes_per_leaf
        self.oversubscription = oversubscription

    def _build(self, table: LinkTable) -> None:
        super()._build(table)
        leaves = -(-self.nodes // self.nodes_per_leaf)
        self.leaf_up = np.empty(leaves, dtype=np.int64)
        self.leaf_down = np.empty(leaves, dtype=np.int64)
        for leaf in range(leaves):
            attached = min(self.nodes_per_leaf, self.nodes - leaf * self.nodes_per_leaf)
            capacity = attached * self.nics * self.bandwidth / self.oversubscription
            self.leaf_up[leaf], self.leaf_down[leaf] = table.add_duplex(f"leaf{leaf}", capacity, 0.0)

    def _fabric_columns(self, src_node: np.ndarray, dst_node: np.ndarray) -> list[np.ndarray]:
        src_leaf, dst_leaf = src_node // self.nodes_per_leaf, dst_node // self.nodes_per_leaf
        crossing = src_leaf != dst_leaf
        return [np.where(crossing, self.leaf_up[src_leaf], -1), np.where(crossing, self.leaf_down[dst_leaf], -1)]

    def _server_columns(self, node: np.ndarray, to_server: bool) -> list[np.ndarray]:
        leaf = node // self.nodes_per_leaf
        return [self.leaf_up[leaf] if to_server else self.leaf_down[leaf]]


class RingTopology(Topology):
    """Nodes in a ring, each cabled to its two neighbours; shortest-direction routing."""

    def _build(self, table: LinkTable) -> None:
        per_link = self.bandwidth * max(1, self.nics // 2)
        self.cable_factor: dict[int, float] = {}
        """link -> the degraded factor it runs at (:meth:`degrade`: its slower end's)."""
        self.clockwise = np.empty(self.nodes, dtype=np.int64)  # node k -> k+1
        self.counter = np.empty(self.nodes, dtype=np.int64)  # node k -> k-1
        for node in range(self.nodes):
            self.clockwise[node] = table.add(f"ring{node}->{(node + 1) % self.nodes}", per_link, self.latency_s)
        for node in range(self.nodes):
            self.counter[node] = table.add(f"ring{node}->{(node - 1) % self.nodes}", per_link, self.latency_s)

    def routes(self, src_node: np.ndarray, src_nic: np.ndarray, dst_node: np.ndarray, dst_nic: np.ndarray) -> Routes:
        m = self.nodes
        forward = (dst_node - src_node) % m
        go_cw = forward <= m // 2
        hops = np.where(go_cw, forward, m - forward)
        width = int(hops.max()) if len(hops) else 0
        cols = []
        for h in range(width):
            node_cw = (src_node + h) % m
            node_ccw = (src_node - h) % m
            link = np.where(go_cw, self.clockwise[node_cw], self.counter[node_ccw])
            cols.append(np.where(h < hops, link, -1))
        return pad_columns(cols, len(src_node)), hops * self.latency_s

    def degrade(self, table: LinkTable, node: int, factor: float) -> None:
        """Each cable touching ``node`` (both directions, both neighbours) at ``factor``; a cable between two degraded
        nodes runs at its slower end's rate, not the product of both (two neighbours at 0.25 made their cable 1/16:
        a 3-node ring's all-reduce 16x, where a switch, through both NICs, gives 4x)."""
        m = self.nodes
        touching = {
            self.clockwise[node],
            self.counter[node],
            self.clockwise[(node - 1) % m],
            self.counter[(node + 1) % m],
        }
        for link in sorted(int(x) for x in touching):
            before = self.cable_factor.get(link, 1.0)
            if factor < before:
                table.scale(link, factor / before)
                self.cable_factor[link] = factor

    def attach_server(self, table: LinkTable, bandwidth: float, latency_s: float) -> None:
        self.server_up, self.server_down = table.add_duplex("server@node0", bandwidth, latency_s)
        self.server_latency_s = latency_s

    def server_routes(self, node: np.ndarray, nic: np.ndarray, to_server: bool) -> Routes:
        n = len(node)
        zero = np.zeros(n, dtype=np.int64)
        if to_server:
            links, lat = self.routes(node, nic, zero, zero)
            cols = [links, np.full((n, 1), self.server_down)]
        else:
            links, lat = self.routes(zero, zero, node, nic)
            cols = [np.full((n, 1), self.server_up), links]
        return np.concatenate(cols, axis=1), np.maximum(lat, self.server_latency_s)


def make_topology(kind: str, nodes_per_leaf: int = 16, oversubscription: float = 1.0) -> Topology:
    """The topology strategy named in a scenario (``cluster.topology.kind``)."""
    if kind == "switch":
        return SwitchTopology()
    if kind == "fat-tree":
        return FatTreeTopology(nodes_per_leaf, oversubscription)
    if kind == "ring":
        return RingTopology()
    raise ValueError(f"unknown topology {kind!r}; expected switch, fat-tree or ring")
