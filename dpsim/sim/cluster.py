"""The simulated cluster: workers grouped in nodes, intra-node ports, NICs and a topology.

Structure (the "hierarchical node" of DGX-class machines): inside a node every worker has
its own full-duplex port of ``intra_node`` bandwidth into a non-blocking node switch
(NVSwitch) for traffic between GPUs of the node; the node's ``nics_per_node`` NICs connect it
to the inter-node :mod:`~dpsim.sim.topology`. With a ``host`` link (a GPU's PCIe x16 into the
PCIe switch its NIC hangs off: GPUDirect RDMA on DGX A100/H100, no NVLink on the way) every
worker has its own full-duplex host link and inter-node traffic crosses it instead of the
NVSwitch port, so NVSwitch traffic (tensor parallelism) and NIC traffic do not meet; without
one (PCIe boxes, whose one port is PCIe anyway; unknown devices) it leaves through the port.
Local rank ``l`` of ``G`` uses NIC ``⌊l·nics/G⌋`` (NIC
affinity: ``G/nics`` ranks share a NIC; with more NICs than ranks, ``nics/G`` NICs on each rank's
PCIe switch, ``⌊l·nics/G⌋`` the first, and a transfer's NCCL channel picks among them:
:attr:`~dpsim.sim.collectives.base.Phase.nic`), which is what
:meth:`dpsim.analytic.collectives.Fabric.inter_per_rank` assumes. With one
worker per node there is no intra-node fabric: the worker sits on its NIC (over its host link, if any).
On a DGX-1V node (``intra_topology: hybrid-cube-mesh``, :mod:`dpsim.sim.nvlink_mesh`) traffic between
the node's GPUs crosses their NVLinks instead — one directed link each way per linked pair, of its
NVLinks × ``intra / 6``, a pair without one through a GPU linked to both — and the ports carry only
what leaves the node without a host link.

**PXN** (NCCL ≥ 2.12, ``NCCL_PXN_DISABLE=0`` by default; ``src/graph/paths.cc``
``ncclTopoComputePaths``): when a NIC's PCIe switch holds only one of its GPUs
(``pcie_gpus_per_nic: 1``, fewer NICs than GPUs, NVLink inside the node, a host link, the NIC's
GPU in the sender's communicator: ``relays``), a GPU
whose NIC is not on its switch sends through that NIC's GPU — NVLink to it, then its PCIe
link to the NIC (``addInterStep(GPU, local, GPU, g, NET, n)``: "Only enabling it in the
GPU->NIC direction … to favor receiving locally and sending remotely"). Receives still come
in over the receiving GPU's own link. :attr:`pxn_relay` is that GPU per local rank
(:meth:`pxn_relays`).

**Host topology** (PCIe-only nodes, :class:`~dpsim.analytic.collectives.HostTopology`): GPUs under PCIe
switches on CPU sockets; a pair of one switch with P2P talks through it, any other pair goes up the
sender's switch uplink, across the directed inter-socket link if the sockets differ, and down the
receiver's uplink (:meth:`Cluster.node_routes`; NCCL's SHM path through the CPU, ``src/graph/paths.cc``).
NIC ``n`` sits on socket ``⌊n·sockets/nics⌋``; a GPU on another socket reaches it the same way
(:meth:`Cluster.nic_socket_hops`).

Ranks are numbered node-major (rank = node·G + local) unless ``rank_order`` places them
otherwise (``cluster.rank_order``: rank r on GPU slot ``rank_order[r]``); routes start and end
at the ranks' slots, so a rank-ordered ring over round-robin ranks crosses a node boundary
at every hop while NCCL's topology-built rings do not change. Rank ``world_size`` is the
parameter server's endpoint when an algorithm needs one.

A route's latency is the largest latency of the link classes it crosses (the end-to-end
α of the closed forms' :func:`~dpsim.analytic.collectives.flat_link`), or the sum of the
hops on a ring of nodes.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from dpsim.analytic.collectives import Fabric, HostTopology, Link, flat_link, pxn_relays
from dpsim.sim.collectives.base import Layout
from dpsim.sim.links import LinkTable
from dpsim.sim.nvlink_mesh import HYBRID_CUBE_MESH, LINKS_PER_GPU, mesh_links, mesh_path
from dpsim.sim.topology import Topology, make_topology, pad_columns

__all__ = ["Cluster"]


@dataclass
class Cluster:
    """Nodes × workers with their links; :meth:`routes` maps (src rank, dst rank) to link ids."""

    nodes: int
    per_node: int
    intra: Link
    inter: Link
    nics_per_node: int = 1
    topology: Topology = field(default_factory=lambda: make_topology("switch"))
    degraded: Mapping[int, float] = field(default_factory=dict)
    """node → fraction of nominal NIC bandwidth left."""
    nvls: bool = False
    """The node switch reduces in-network (NVLink SHARP): NCCL's NVLS algorithms exist."""
    intra_hw: str = "nvlink"
    """NCCL's hardware class of the intra-node links (``nvlink`` or ``pci``)."""
    protocol: str = "none"
    """The protocol setting its collectives run with (the fabric's: ``none`` when links are fitted α–β)."""
    regimes: tuple[tuple[float, Cluster], ...] = ()
    """(first size, cluster with the links of that size regime), ascending, when the fabric's links have
    size regimes (:meth:`dpsim.analytic.collectives.Fabric.at_size`); empty: these links at every size."""
    arch: str = ""
    """GPU generation for NCCL's per-channel caps ('' = none)."""
    rank_order: tuple[int, ...] = ()
    """GPU slot (node·per_node + local) of each rank; empty = node-major. Routes start and end at the slots."""
    nic_gbps: float = 0.0
    """One NIC's nominal port rate (GB/s) as NCCL reads it; sets NCCL's channel count (0 = unknown)."""
    host: Link | None = None
    """Each GPU's link to its NIC (PCIe), crossed by inter-node traffic instead of the port; None: the port."""
    pcie_gpus_per_nic: int = 0
    """GPUs on each NIC's PCIe switch (0: two or more); sets NCCL's tree pattern and, with 1, PXN relays."""
    nic_c2c: bool = False
    """Whether each GPU reaches its NICs through its CPU over NVLink-C2C (:attr:`Fabric.nic_c2c`)."""
    nccl_algo: tuple[str, ...] = ()
    """All-reduce algorithms NCCL may pick (``NCCL_ALGO``; empty: all)."""
    nccl_proto: tuple[str, ...] = ()
    """Protocols NCCL may pick (``NCCL_PROTO``; empty: all)."""
    nccl_buffsize: float = 0.0
    """NCCL's Simple buffer per connection in bytes (``NCCL_BUFFSIZE``); 0: NCCL's 4 MiB."""
    nccl_nvls_chunksize: float = 0.0
    """``NCCL_NVLS_CHUNKSIZE`` in bytes (:attr:`Fabric.nccl_nvls_chunksize`); 0: unset."""
    nccl_nvlstree_max_chunksize: float = 0.0
    """``NCCL_NVLSTREE_MAX_CHUNKSIZE`` in bytes (:attr:`Fabric.nccl_nvlstree_max_chunksize`); 0: unset."""
    nccl_version: str = ""
    """The NCCL release whose tuner constants the collectives use (:attr:`Fabric.nccl_version`)."""
    nccl_tuner: str = "nccl"
    """The tuner that picks ``auto``'s algorithm and protocol (:attr:`Fabric.nccl_tuner`)."""
    nccl_tuner_platform: str = "p5"
    """The instance family whose regions a tuner plugin reads (:attr:`Fabric.nccl_tuner_platform`)."""
    nccl_net_latency_s: float = 0.0
    """The latency the network plugin reports to NCCL, which its tuner picks by (:attr:`Fabric.nccl_net_latency_s`)."""
    relays: tuple[int, ...] | None = None
    """The PXN relays its communicators keep (:attr:`Fabric.relays`); None: whole-node communicators."""
    nccl_pxn_disable: bool = False
    """``NCCL_PXN_DISABLE=1``: no PXN relay (:attr:`Fabric.nccl_pxn_disable`)."""
    amd_host: bool = False
    """Whether NCCL sees AMD host CPUs (:attr:`Fabric.amd_host`)."""
    host_topology: HostTopology | None = None
    """PCIe switches and CPU sockets GPUs of a node reach each other through (:meth:`node_routes`); None: ports only."""
    intra_topology: str = "switch"
    """``switch``: each worker's port into the node switch; ``hybrid-cube-mesh``: DGX-1V's NVLinks between GPUs."""

    def __post_init__(self) -> None:
        self.links = LinkTable()
        n, g = self.world_size, self.per_node
        self.pxn_relay = self.pxn_relays()
        self.port_up = np.full(n, -1, dtype=np.int64)
        self.port_down = np.full(n, -1, dtype=np.int64)
        if g > 1:
            for rank in range(n):
                up, down = self.links.add_duplex(f"worker{rank}.port", self.intra.bandwidth, self.intra.latency_s)
                self.port_up[rank], self.port_down[rank] = up, down
        self._build_host()
        self.mesh_routes = self._mesh_routes() if self.intra_topology == HYBRID_CUBE_MESH and g > 1 else None
        # the first and last link of an inter-node route: the GPU's host link (PCIe) if it has one, else its port
        self.host_up, self.host_down = self.port_up, self.port_down
        self.host_latency_s = self.intra.latency_s if g > 1 else 0.0
        if self.host is not None and self.nodes > 1:
            self.host_up = np.empty(n, dtype=np.int64)
            self.host_down = np.empty(n, dtype=np.int64)
            for rank in range(n):
                up, down = self.links.add_duplex(f"worker{rank}.pcie", self.host.bandwidth, self.host.latency_s)
                self.host_up[rank], self.host_down[rank] = up, down
            self.host_latency_s = self.host.latency_s
        self.slot = np.arange(n + 1, dtype=np.int64)  # rank → GPU slot; the last entry: the parameter server
        if self.rank_order:
            self.slot[:n] = np.asarray(self.rank_order, dtype=np.int64)
        self.topology.build(self.links, self.nodes, self.nics_per_node, self.inter.bandwidth, self.inter.latency_s)
        server = flat_link(Fabric(self.nodes, g, self.intra, self.inter, self.nics_per_node))
        if self.nodes == 1:
            self.server_up, self.server_down = self.links.add_duplex("server", server.bandwidth, server.latency_s)
        else:
            self.topology.attach_server(self.links, server.bandwidth, server.latency_s)
        self.server_latency_s = server.latency_s
        for node, factor in sorted(self.degraded.items()):
            if self.nodes > 1:
                self.topology.degrade(self.links, node, factor)

    def _mesh_routes(self) -> np.ndarray:
        """(nodes × G × G × 2) link ids of the route between two local GPUs over DGX-1V's NVLinks (-1: none).

        Each linked pair has one directed link each way of ``NVLinks × intra / 6`` (``intra`` is a GPU's
        rate over its 6 links); a pair without a link crosses the GPU :func:`~dpsim.sim.nvlink_mesh.mesh_path`
        names (NCCL's ``PATH_NVB``).
        """
        g = self.per_node
        links = mesh_links(g)
        per_link = self.intra.bandwidth / LINKS_PER_GPU
        out = np.full((self.nodes, g, g, 2), -1, dtype=np.int64)
        for node in range(self.nodes):
            ids = np.full((g, g), -1, dtype=np.int64)
            for a, b in zip(*np.nonzero(links), strict=True):
                name = f"node{node}.nvlink{a}->{b}"
                ids[a, b] = self.links.add(name, int(links[a, b]) * per_link, self.intra.latency_s)
            for a in range(g):
                for b in range(g):
                    if a != b:
                        path = mesh_path(links, a, b)
                        out[node, a, b, : len(path) - 1] = [ids[x, y] for x, y in itertools.pairwise(path)]
        return out

    @classmethod
    def from_fabric(cls, fabric: Fabric, degraded: Mapping[int, float] | None = None) -> Cluster:
        """The cluster of an analytic :class:`~dpsim.analytic.collectives.Fabric` (same links, NICs, topology)."""
        topology = make_topology(fabric.topology, fabric.nodes_per_leaf, fabric.oversubscription)
        if fabric.intra_regimes or fabric.inter_regimes:
            regimes = tuple((start, cls.from_fabric(fabric.at_size(start), degraded)) for start in fabric.regime_starts)
            return dataclasses.replace(regimes[-1][1], regimes=regimes)
        return cls(
            topology=topology,
            degraded={**dict(fabric.degraded_nics), **dict(degraded or {})},
            **{name: getattr(fabric, name) for name in _FABRIC_FIELDS},
        )

    def _build_host(self) -> None:
        """Each node's switch uplinks (duplex, at the intra-node rate) and inter-socket links (one per ordered pair)."""
        host, g = self.host_topology, self.per_node
        if host is None or g <= 1:
            return
        switches = g // host.gpus_per_switch if host.gpus_per_switch > 1 else 0
        self.switch_up = np.full((self.nodes, max(switches, 1)), -1, dtype=np.int64)
        self.switch_down = np.full((self.nodes, max(switches, 1)), -1, dtype=np.int64)
        self.socket_link = np.full((self.nodes, host.sockets, host.sockets), -1, dtype=np.int64)
        for node in range(self.nodes):
            for sw in range(switches):
                up, down = self.links.add_duplex(f"node{node}.switch{sw}", self.intra.bandwidth, self.intra.latency_s)
                self.switch_up[node, sw], self.switch_down[node, sw] = up, down
            for a in range(host.sockets):
                for b in range(host.sockets):
                    if a != b:
                        self.socket_link[node, a, b] = self.links.add(
                            f"node{node}.cpu{a}-cpu{b}", host.socket_link_rate, self.intra.latency_s
                        )

    def node_routes(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Links from GPU slots ``src`` to ``dst`` of the same node (padded matrix, -1 = none).

        On a hybrid cube mesh: the pair's NVLinks (:meth:`_mesh_routes`). Without a host topology: out of the
        sender's port, into the receiver's. With one (NCCL's paths,
        ``src/graph/paths.cc``): GPUs of one switch with P2P go directly through it (``PIX``); any other pair
        goes up the sender's switch uplink to its CPU, across the inter-socket link if the sockets differ
        (``SYS``), and down the receiver's uplink — P2P is not used past ``PXB`` by default, so NCCL moves
        those bytes through host memory (SHM), over the same links (``ncclTopoComputePaths`` ``addInterStep``).
        """
        host, g = self.host_topology, self.per_node
        if self.mesh_routes is not None:  # DGX-1V: over the pair's NVLinks, or through a GPU linked to both
            return self.mesh_routes[src // g, src % g, dst % g]
        if host is None or g <= 1:
            return pad_columns([self.port_up[src], self.port_down[dst]], len(src))
        node, ls, ld = src // g, src % g, dst % g
        sw_s, sw_d = ls // host.gpus_per_switch, ld // host.gpus_per_switch
        sock_s, sock_d = ls * host.sockets // g, ld * host.sockets // g
        through_cpu = ~((sw_s == sw_d) & host.p2p)
        cols = [self.port_up[src]]
        if host.gpus_per_switch > 1:
            cols.append(np.where(through_cpu, self.switch_up[node, sw_s], -1))
        if host.sockets > 1:
            cols.append(np.where(sock_s != sock_d, self.socket_link[node, sock_s, sock_d], -1))
        if host.gpus_per_switch > 1:
            cols.append(np.where(through_cpu, self.switch_down[node, sw_d], -1))
        cols.append(self.port_down[dst])
        return pad_columns(cols, len(src))

    def nic_socket_hops(self, slots: np.ndarray, nic: np.ndarray, outbound: bool) -> list[np.ndarray]:
        """Host-topology links between GPU slots ``slots`` and their ``nic`` when the NIC sits on another socket.

        NIC ``n`` of a node sits on socket ``⌊n·sockets/nics⌋`` (NICs spread over the sockets in order, as the
        GPUs); a GPU on another socket reaches it up its switch's uplink and across the inter-socket link
        (NCCL's ``SYS`` GPU→NIC path, whose bandwidth its search charges: ``src/graph/paths.cc``), and the
        reverse on the way in. Empty without a host topology of several sockets.
        """
        host, g = self.host_topology, self.per_node
        if host is None or host.sockets <= 1 or g <= 1:
            return []
        node, local = slots // g, slots % g
        gpu_socket = local * host.sockets // g
        nic_socket = np.asarray(nic, dtype=np.int64) * host.sockets // self.nics_per_node
        apart = gpu_socket != nic_socket
        switch = local // host.gpus_per_switch
        if outbound:
            cols = [self.socket_link[node, gpu_socket, nic_socket]]
            if host.gpus_per_switch > 1:
                cols.insert(0, self.switch_up[node, switch])
        else:
            cols = [self.socket_link[node, nic_socket, gpu_socket]]
            if host.gpus_per_switch > 1:
                cols.append(self.switch_down[node, switch])
        return [np.where(apart, col, -1)[:, None] for col in cols]

    def at_size(self, size: float) -> Cluster:
        """The cluster a collective of ``size`` bytes runs on: its links at the regime of that size."""
        chosen = self
        for start, cluster in self.regimes:
            if size >= start:
                chosen = cluster
        return chosen

    def layout(self) -> Layout:
        """The node layout collective schedules are built on."""
        return Layout.of(self)

    @property
    def world_size(self) -> int:
        return self.nodes * self.per_node

    @property
    def server_rank(self) -> int:
        """Endpoint id of the parameter server."""
        return self.world_size

    def nic_of(self, local: np.ndarray, slot: np.ndarray | None = None) -> np.ndarray:
        """NIC used by local rank ``local``: affinity ⌊l·nics/G⌋ (its first NIC), plus ``slot`` of its own NICs.

        With more NICs than GPUs (``nics/G`` on each GPU's PCIe switch) a transfer's ``slot``
        (:attr:`~dpsim.sim.collectives.base.Phase.nic`, its NCCL channel's NIC) picks among them.
        """
        g, nics = self.per_node, self.nics_per_node
        first = local * nics // g
        if slot is None or nics <= g:
            return first
        return first + np.asarray(slot, dtype=np.int64) % (nics // g)

    def pxn_relays(self) -> np.ndarray:
        """Relay local rank of each local rank's inter-node sends (:func:`dpsim.analytic.collectives.pxn_relays`)."""
        return np.asarray(pxn_relays(self), dtype=np.int64)

    def _leaving(self, src: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """The first links of inter-node routes from GPU slots ``src`` and their latency (PXN relays included)."""
        g = self.per_node
        relay = (src // g) * g + self.pxn_relay[src % g]
        relayed = relay != src
        latency = np.full(len(src), self.host_latency_s)
        if not relayed.any():
            return [self.host_up[src][:, None]], latency
        # a relayed send: NVLink out of the sender, into its NIC's GPU, then that GPU's PCIe link
        if self.mesh_routes is not None:  # over the pair's NVLinks (a pair without one: through a GPU)
            hops = self.node_routes(src, relay)
            first = np.where(relayed, hops[:, 0], self.host_up[src])
            second = np.where(relayed, hops[:, 1], -1)
        else:
            first = np.where(relayed, self.port_up[src], self.host_up[src])
            second = np.where(relayed, self.port_down[relay], -1)
        third = np.where(relayed, self.host_up[relay], -1)
        latency[relayed] = max(self.host_latency_s, self.intra.latency_s)
        return [first[:, None], second[:, None], third[:, None]], latency

    def routes(self, src: np.ndarray, dst: np.ndarray, nic: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Link ids (padded matrix, -1 = none) and latency of the route of every (src, dst) pair.

        ``nic``: which of its GPU's NICs each pair leaves and enters its nodes through (:meth:`nic_of`).
        """
        slot = None if nic is None else np.broadcast_to(np.asarray(nic, dtype=np.int64), np.shape(src))
        src = self.slot[np.asarray(src, dtype=np.int64)]
        dst = self.slot[np.asarray(dst, dtype=np.int64)]
        count = len(src)
        g = self.per_node
        server = self.server_rank
        blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (row indices, links, latency)
        to_server, from_server = dst == server, src == server
        plain = ~(to_server | from_server)
        s_node, d_node = src // g, dst // g
        same = plain & (s_node == d_node)
        cross = plain & ~same
        if same.any():
            idx = np.flatnonzero(same)
            links = self.node_routes(src[idx], dst[idx])
            blocks.append((idx, links, np.full(len(idx), self.intra.latency_s)))
        if cross.any():
            idx = np.flatnonzero(cross)
            s, d = src[idx], dst[idx]
            pick = None if slot is None else slot[idx]
            s_nic, d_nic = self.nic_of(s % g, pick), self.nic_of(d % g, pick)
            mid, lat = self.topology.routes(s // g, s_nic, d // g, d_nic)
            leave, leave_lat = self._leaving(s)
            outward, inward = self.nic_socket_hops(s, s_nic, True), self.nic_socket_hops(d, d_nic, False)
            links = np.concatenate([*leave, *outward, mid, *inward, self.host_down[d][:, None]], axis=1)
            blocks.append((idx, links, np.maximum(lat, leave_lat)))
        for mask, towards in ((to_server, True), (from_server, False)):
            if not mask.any():
                continue
            idx = np.flatnonzero(mask)
            worker = src[idx] if towards else dst[idx]
            if self.nodes == 1:
                cols = (
                    [self.port_up[worker], np.full(len(idx), self.server_down)]
                    if towards
                    else [np.full(len(idx), self.server_up), self.port_down[worker]]
                )
                links = pad_columns(cols, len(idx))
                lat = np.full(len(idx), max(self.intra.latency_s, self.server_latency_s))
            else:
                w_nic = self.nic_of(worker % g)
                mid, lat = self.topology.server_routes(worker // g, w_nic, towards)
                hops = self.nic_socket_hops(worker, w_nic, towards)
                if towards:
                    leave, leave_lat = self._leaving(worker)
                    links = np.concatenate([*leave, *hops, mid], axis=1)
                    lat = np.maximum(lat, leave_lat)
                else:
                    links = np.concatenate([mid, *hops, self.host_down[worker][:, None]], axis=1)
                    lat = self._with_host(lat)
            blocks.append((idx, links, lat))
        if len(blocks) == 1 and len(blocks[0][0]) == count:  # one kind of route (a phase inside nodes, or across)
            _, links, lat = blocks[0]
            return np.asarray(links, dtype=np.int64), np.asarray(lat, dtype=np.float64)  # no second copy
        width = max((b[1].shape[1] for b in blocks), default=1)
        out = np.full((count, width), -1, dtype=np.int64)
        latency = np.zeros(count)
        for idx, links, lat in blocks:
            out[idx, : links.shape[1]] = links
            latency[idx] = lat
        return out, latency

    def _with_host(self, latency: np.ndarray) -> np.ndarray:
        """An inter-node route's latency: the largest of its link classes' (the GPU's first hop included)."""
        return np.maximum(latency, self.host_latency_s)


_FABRIC_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(Cluster)
    if f.name in {g.name for g in dataclasses.fields(Fabric)} and f.name != "topology"
)
"""The fields a :class:`Cluster` takes as its :class:`~dpsim.analytic.collectives.Fabric` has them, by name
(:meth:`Cluster.from_fabric`): its links, layout, NCCL's hardware view and every ``nccl_*`` setting. The fabric's
``topology`` is a name the cluster builds (:func:`dpsim.sim.topology.make_topology`) and its ``degraded_nics`` are
``degraded``. A field added to both is carried without another line (the 27 were written out one by one, where a new
NCCL setting could be left out and run at its default)."""
