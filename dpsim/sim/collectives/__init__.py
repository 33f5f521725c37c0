"""Collective algorithms as schedules, one module per algorithm, and a registry by scenario name.

``ALLREDUCE[name](world, per_node)`` builds the all-reduce named by
``communication.algorithm``; :func:`reduce_scatter` and :func:`all_gather` give the ZeRO
collectives (ring, or two-level with ``hierarchical``, as NCCL and the analytic engine).
"""

from __future__ import annotations

from collections.abc import Callable

from dpsim.sim.collectives.base import Phase, Schedule
from dpsim.sim.collectives.broadcast import broadcast, send
from dpsim.sim.collectives.direct import direct_allreduce
from dpsim.sim.collectives.halving_doubling import halving_doubling_allreduce
from dpsim.sim.collectives.hierarchical import (
    hierarchical_all_gather,
    hierarchical_allreduce,
    hierarchical_reduce_scatter,
)
from dpsim.sim.collectives.parameter_server import parameter_server_allreduce
from dpsim.sim.collectives.ring import ring_all_gather, ring_allreduce, ring_reduce_scatter
from dpsim.sim.collectives.tree import tree_allreduce

__all__ = [
    "ALLREDUCE",
    "Phase",
    "Schedule",
    "all_gather",
    "allreduce",
    "broadcast",
    "reduce_scatter",
    "send",
]

Builder = Callable[[int, int], Schedule]

ALLREDUCE: dict[str, Builder] = {
    "ring": ring_allreduce,
    "tree": tree_allreduce,
    "halving-doubling": halving_doubling_allreduce,
    "hierarchical": hierarchical_allreduce,
    "direct": direct_allreduce,
    "parameter-server": parameter_server_allreduce,
    "backend": ring_allreduce,  # gloo's own all-reduce is a ring (gloo/allreduce.cc: unspecified → ring)
}
"""All-reduce algorithms by the names a scenario uses (``dpsim.scenario.ALGORITHMS``)."""


def _two_level(world: int, per_node: int) -> bool:
    return per_node > 1 and world > per_node


def allreduce(algorithm: str, world: int, per_node: int = 1) -> Schedule:
    """The all-reduce schedule of ``algorithm`` (hierarchical falls back to a ring on one level)."""
    if algorithm not in ALLREDUCE:
        raise ValueError(f"unknown all-reduce algorithm {algorithm!r}; expected one of {', '.join(ALLREDUCE)}")
    if algorithm == "hierarchical" and not _two_level(world, per_node):
        return ring_allreduce(world, per_node)
    return ALLREDUCE[algorithm](world, per_node)


def reduce_scatter(algorithm: str, world: int, per_node: int = 1) -> Schedule:
    """ZeRO's gradient reduce-scatter: two-level for ``hierarchical``, else a flat ring."""
    if algorithm == "hierarchical" and _two_level(world, per_node):
        return hierarchical_reduce_scatter(world, per_node)
    return ring_reduce_scatter(world, per_node)


def all_gather(algorithm: str, world: int, per_node: int = 1) -> Schedule:
    """ZeRO's parameter all-gather: two-level for ``hierarchical``, else a flat ring."""
    if algorithm == "hierarchical" and _two_level(world, per_node):
        return hierarchical_all_gather(world, per_node)
    return ring_all_gather(world, per_node)
