"""Hierarchical (two-level) collectives: rings inside nodes, rings across nodes.

All-reduce (Jia et al. 2018 §4; NCCL's hierarchical rings): an intra-node ring
reduce-scatter on S, then each of the G local ranks runs its own inter-node ring
all-reduce on its S/G shard — the G rings at once, sharing the node's NICs — then an
intra-node ring all-gather (:func:`dpsim.analytic.collectives.hierarchical_allreduce_time`).
Reduce-scatter and all-gather alone (ZeRO) keep one half each: intra reduce-scatter then
inter reduce-scatter on S/G, and the mirror image (:func:`dpsim.analytic.step.reduce_scatter_group_time`).
The intra-node rings run in local-rank order, or, given ``local`` (k × G local orders), as k rings each on
S/k: NCCL's rings inside a node that is a hybrid cube mesh (:func:`dpsim.sim.collectives.nccl.local_orders`).
"""

from __future__ import annotations

import numpy as np

from dpsim.sim.collectives.base import Phase, Schedule
from dpsim.sim.collectives.ring import ring_phases

__all__ = ["hierarchical_all_gather", "hierarchical_allreduce", "hierarchical_reduce_scatter"]


def _groups(world: int, per_node: int) -> tuple[np.ndarray, np.ndarray]:
    intra = np.arange(world).reshape(world // per_node, per_node)
    return intra, intra.T.copy()


def _inner(world: int, per_node: int, local: np.ndarray | None) -> tuple[Phase, ...]:
    """The intra-node ring phases: one ring a node in local-rank order, or ``len(local)`` rings on S/k each."""
    if local is None:
        return ring_phases(_groups(world, per_node)[0])
    base = np.arange(world // per_node)[:, None, None] * per_node
    return ring_phases((base + np.asarray(local)[None]).reshape(-1, per_node), 1.0 / len(local))


def hierarchical_allreduce(world: int, per_node: int = 1, local: np.ndarray | None = None) -> Schedule:
    """Intra reduce-scatter → per-local-rank inter all-reduce on S/G → intra all-gather."""
    inner = _inner(world, per_node, local)
    outer = ring_phases(_groups(world, per_node)[1], 1.0 / per_node)
    return Schedule("hierarchical", world, inner + outer + outer + inner)


def hierarchical_reduce_scatter(world: int, per_node: int = 1, local: np.ndarray | None = None) -> Schedule:
    """Intra-node ring reduce-scatter on S, then inter-node ring reduce-scatter on S/G."""
    outer = ring_phases(_groups(world, per_node)[1], 1.0 / per_node)
    return Schedule("hierarchical-reduce-scatter", world, _inner(world, per_node, local) + outer)


def hierarchical_all_gather(world: int, per_node: int = 1, local: np.ndarray | None = None) -> Schedule:
    """Inter-node ring all-gather on S/G, then intra-node ring all-gather on S."""
    outer = ring_phases(_groups(world, per_node)[1], 1.0 / per_node)
    return Schedule("hierarchical-all-gather", world, outer + _inner(world, per_node, local))
