"""Collective evaluators: the one interface the training step uses at either fidelity.

``evaluate(op, size, joins)`` runs one collective (``op`` = ``"allreduce"``,
``"reduce_scatter"`` or ``"all_gather"``, with the scenario's algorithm) of ``size`` bytes
whose ranks post it at ``joins`` (s) and returns when each rank is done. Schedules are
built and compiled once per operation; variants: :class:`dpsim.sim.chunk.ChunkEngine`
and :class:`dpsim.sim.fast.FastEngine`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from dpsim.sim import collectives
from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import Schedule

__all__ = ["OPS", "CollectiveEngine"]

OPS = ("allreduce", "reduce_scatter", "all_gather")


class CollectiveEngine(ABC):
    """Evaluates the collectives of one algorithm on one cluster; counts what it did."""

    fidelity: str = ""

    def __init__(self, cluster: Cluster, algorithm: str) -> None:
        self.cluster = cluster
        self.algorithm = algorithm
        self.events = 0
        """Network events simulated (chunk level) or phases priced (fast level)."""
        self.calls = 0
        self._schedules: dict[str, Schedule] = {}

    def schedule(self, op: str) -> Schedule:
        """The (cached) schedule of ``op`` over every worker of the cluster."""
        if op not in self._schedules:
            world, g = self.cluster.world_size, self.cluster.per_node
            if op == "allreduce":
                self._schedules[op] = collectives.allreduce(self.algorithm, world, g)
            elif op == "reduce_scatter":
                self._schedules[op] = collectives.reduce_scatter(self.algorithm, world, g)
            elif op == "all_gather":
                self._schedules[op] = collectives.all_gather(self.algorithm, world, g)
            else:
                raise ValueError(f"unknown collective {op!r}; expected one of {OPS}")
        return self._schedules[op]

    def evaluate(self, op: str, size: float, joins: np.ndarray) -> np.ndarray:
        """Per-rank completion times of one ``op`` of ``size`` bytes posted at ``joins``."""
        self.calls += 1
        if size <= 0 or self.cluster.world_size <= 1:
            return np.asarray(joins, dtype=np.float64).copy()
        return self._evaluate(op, size, np.asarray(joins, dtype=np.float64))

    @abstractmethod
    def _evaluate(self, op: str, size: float, joins: np.ndarray) -> np.ndarray: ...
