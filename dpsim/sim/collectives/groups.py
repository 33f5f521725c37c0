"""Collectives of several disjoint rank groups at once, on one cluster's network.

FSDP's HYBRID_SHARD runs its gathers and reduce-scatters in every shard group of G consecutive
data-parallel ranks at the same time, and its gradient all-reduce in every replica group (ranks
i, i+G, i+2G, …) at the same time. Each group's collective is the schedule the algorithm builds
over the group's own :class:`~dpsim.sim.collectives.base.Layout` (:meth:`Groups.layout`: its
ranks per node, the NICs those ranks use, one node for a group inside a node); :meth:`Groups.tile`
renames it onto every group's ranks of the whole cluster and runs all of them as one schedule,
so groups that share a node share its NICs (and a fat-tree's uplinks) transfer by transfer, as
the cluster places them. Every evaluator prices the tiled schedule as any other (the analytic
engine's :func:`dpsim.analytic.collectives.collective`, the fast level's
:func:`dpsim.sim.cost.phase_cost`, the chunk level's flows): no second cost formula.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from dpsim.sim.collectives.base import Layout, Phase, Schedule

__all__ = ["Groups"]


@dataclass(frozen=True)
class Groups:
    """``world // size`` disjoint groups of ``size`` ranks: consecutive blocks (``stride`` 1), or
    ranks ``i, i + stride, …`` for each ``i < stride`` (``stride · size == world``)."""

    world: int
    size: int
    stride: int = 1

    def __post_init__(self) -> None:
        if self.size < 1 or self.world % self.size:
            raise ValueError(f"groups of {self.size} do not tile {self.world} ranks")
        if self.stride != 1 and self.stride * self.size != self.world:
            raise ValueError(f"a stride of {self.stride} over groups of {self.size} is not {self.world} ranks")

    @classmethod
    def hybrid(cls, world: int, shard: int) -> tuple[Groups, Groups]:
        """HYBRID_SHARD's shard groups (``shard`` consecutive ranks) and replica groups (every ``shard``-th rank)."""
        return cls(world, shard), cls(world, world // shard, shard)

    @property
    def members(self) -> np.ndarray:
        """(groups × size) ranks, each row in the group's own rank order."""
        ranks = np.arange(self.world, dtype=np.int64)
        if self.stride == 1:
            return ranks.reshape(self.world // self.size, self.size)
        return ranks.reshape(self.size, self.stride).T.copy()

    def layout(self, whole: Layout) -> Layout:
        """The layout of one group on ``whole``: its ranks per node, nodes, and the NICs its ranks of a node use."""
        slots = np.asarray(whole.slots, dtype=np.int64) if whole.slots else np.arange(whole.world, dtype=np.int64)
        g = whole.per_node
        first = slots[self.members[0]]
        nodes, counts = np.unique(first // g, return_counts=True)
        if len(set(counts.tolist())) != 1:
            raise ValueError(f"a group of {self.size} ranks holds different numbers of ranks on its nodes")
        locals_ = first[first // g == nodes[0]] % g
        nics = len(np.unique(locals_ * whole.nics // g))  # Cluster.nic_of: each rank's first NIC
        if whole.nics > g:  # every NIC on the group's GPUs' PCIe switches
            nics = len(locals_) * (whole.nics // g)
        per_node = int(counts[0])
        whole_node = per_node == whole.per_node
        return dataclasses.replace(
            whole,
            nodes=len(nodes),
            per_node=per_node,
            nics=max(1, nics),
            nvls=whole.nvls and per_node > 1,
            slots=(),
            intra_topology="switch",  # a group's GPUs are not GPUs 0 … per_node−1 of a mesh: rings in rank order
            pcie_graph=whole.pcie_graph if whole_node else (),  # the node's graph: all its GPUs
            # and so are the node's ring transports and its measured P2P step: a group with part of a node sees
            # neither (as dpsim.analytic.fabrics.dp_fabric's group); its transfers still take the node's links
            shm_edges=whole.shm_edges if whole_node else (),
            p2p_step_s=whole.p2p_step_s if whole_node else 0.0,
        )

    def tile(self, schedule: Schedule) -> Schedule:
        """``schedule`` (over one group's ranks, perhaps plus a parameter server) run by every group at once.

        Group rank r of group q becomes cluster rank ``members[q, r]``; a parameter server's
        endpoint becomes the cluster's (:attr:`dpsim.sim.cluster.Cluster.server_rank`).
        """
        members = self.members
        rename = np.concatenate([members, np.full((len(members), 1), self.world, dtype=np.int64)], axis=1)

        def tiled(values: np.ndarray) -> np.ndarray:
            return rename[:, values].ravel()

        done: dict[int, Phase] = {}  # a phase the schedule runs twice (a ring all-reduce's two passes) is tiled once

        def tile(p: Phase) -> Phase:
            if id(p) not in done:
                done[id(p)] = dataclasses.replace(
                    p,
                    src=tiled(p.src),
                    dst=tiled(p.dst),
                    fraction=np.tile(p.fraction, len(members)),
                    channel=None if p.channel is None else np.tile(p.channel, len(members)),
                    nic=None if p.nic is None else np.tile(p.nic, len(members)),
                    stage=None if p.stage is None else np.tile(p.stage, len(members)),
                )
            return done[id(p)]

        phases = tuple(tile(p) for p in schedule.phases)
        server = schedule.ranks > self.size
        return dataclasses.replace(schedule, ranks=self.world + (1 if server else 0), phases=phases)

    def fold(self, done: np.ndarray) -> np.ndarray:
        """Every rank of a group finishes when the group's last one does."""
        members = self.members
        out = np.asarray(done, dtype=np.float64).copy()
        out[members] = out[members].max(axis=1, keepdims=True)
        return out
