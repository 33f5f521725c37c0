"""Hierarchical (two-level) collectives: rings inside nodes, rings across nodes.

All-reduce (Jia et al. 2018 §4; NCCL's hierarchical rings): an intra-node ring
reduce-scatter on S, then each of the G local ranks runs its own inter-node ring
all-reduce on its S/G shard — the G rings at once, sharing the node's NICs — then an
intra-node ring all-gather (:func:`dpsim.analytic.collectives.hierarchical_allreduce_time`).
Reduce-scatter and all-gather alone (ZeRO) keep one half each: intra reduce-scatter then
inter reduce-scatter on S/G, and the mirror image (:func:`dpsim.analytic.step.reduce_scatter_group_time`).
"""

from __future__ import annotations

import numpy as np

from dpsim.sim.collectives.base import Schedule
from dpsim.sim.collectives.ring import ring_phases

__all__ = ["hierarchical_all_gather", "hierarchical_allreduce", "hierarchical_reduce_scatter"]


def _groups(world: int, per_node: int) -> tuple[np.ndarray, np.ndarray]:
    intra = np.arange(world).reshape(world // per_node, per_node)
    return intra, intra.T.copy()


def hierarchical_allreduce(world: int, per_node: int = 1) -> Schedule:
    """Intra reduce-scatter → per-local-rank inter all-reduce on S/G → intra all-gather."""
    intra, inter = _groups(world, per_node)
    inner = ring_phases(intra)
    outer = ring_phases(inter, 1.0 / per_node)
    return Schedule("hierarchical", world, inner + outer + outer + inner)


def hierarchical_reduce_scatter(world: int, per_node: int = 1) -> Schedule:
    """Intra-node ring reduce-scatter on S, then inter-node ring reduce-scatter on S/G."""
    intra, inter = _groups(world, per_node)
    return Schedule("hierarchical-reduce-scatter", world, ring_phases(intra) + ring_phases(inter, 1.0 / per_node))


def hierarchical_all_gather(world: int, per_node: int = 1) -> Schedule:
    """Inter-node ring all-gather on S/G, then intra-node ring all-gather on S."""
    intra, inter = _groups(world, per_node)
    return Schedule("hierarchical-all-gather", world, ring_phases(inter, 1.0 / per_node) + ring_phases(intra))
