"""Collective evaluators: the one interface the training step uses at either fidelity.

``evaluate(op, size, joins)`` runs one collective (``op`` = ``"allreduce"``,
``"reduce_scatter"``, ``"all_gather"``, ``"broadcast"``, ``"reduce"``, ``"alltoall"``, ``"sendrecv"``, ``"gather"``
or ``"scatter"``,
with the scenario's algorithm and protocol) of ``size`` bytes whose ranks post it at ``joins`` (s) and returns when each
rank is done; with ``groups`` (:class:`~dpsim.sim.collectives.groups.Groups`) every group runs
its own collective over its ranks, all at once on the one network (FSDP's HYBRID_SHARD). The
candidate schedules of an operation (one, or NCCL's algorithms × protocols for ``auto``) are
built and priced once (:func:`dpsim.sim.cost.phase_cost`); at
each size the cheapest runs — NCCL's tuner also picks by its cost model, not by trying —
and :meth:`CollectiveEngine.choice` says which. Variants:
:class:`dpsim.sim.chunk.ChunkEngine` and :class:`dpsim.sim.fast.FastEngine`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from dpsim.sim import collectives
from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import Schedule
from dpsim.sim.collectives.groups import Groups
from dpsim.sim.cost import LinearCost, phased_job, pick, priced_candidates
from dpsim.streams import Job

__all__ = ["OPS", "CollectiveEngine"]

OPS = collectives.OPS


class CollectiveEngine(ABC):
    """Evaluates the collectives of one algorithm (and protocol) on one cluster; counts what it did."""

    fidelity: str = ""

    def __init__(self, cluster: Cluster, algorithm: str, protocol: str = "none") -> None:
        self.cluster = cluster
        self.algorithm = algorithm
        self.protocol = protocol
        self.events = 0
        """Network events simulated (chunk level) or phases priced (fast level)."""
        self.calls = 0
        self._candidates: dict[tuple[str, int, Groups | None], tuple[tuple[Schedule, LinearCost], ...]] = {}
        self._cluster_of: dict[int, Cluster] = {}
        """id(schedule) → the cluster (size regime) it was priced on."""
        self.used: dict[tuple[str, str, str], int] = {}
        """(op, algorithm, protocol) → calls that ran it."""
        self._loaded: set[tuple[str, int, Groups | None]] = set()
        """The keys of :attr:`_candidates` priced with the links each phase loads (:meth:`job`)."""

    def candidates(
        self, op: str, size: float = 1 << 30, groups: Groups | None = None, loads: bool = False
    ) -> tuple[tuple[Schedule, LinearCost], ...]:
        """The (cached) candidate schedules of ``op`` over every worker (or every group at once,
        :meth:`Groups.tile`), priced on the links of ``size``'s regime; ``loads``: each cost with the links its
        phases load (:attr:`dpsim.sim.cost.LinearCost.uses`, from the routes that price it, :meth:`job`)."""
        cluster = self.cluster.at_size(size)
        key = (op, id(cluster), groups)
        if key not in self._candidates or (loads and key not in self._loaded):
            if op not in OPS:
                raise ValueError(f"unknown collective {op!r}; expected one of {OPS}")
            layout = self.cluster.layout()
            priced = priced_candidates(op, self.algorithm, layout, self.protocol, cluster, groups, loads)
            self._candidates[key] = priced
            self._cluster_of.update((id(s), cluster) for s, _ in priced)
            if loads:
                self._loaded.add(key)
        return self._candidates[key]

    def cluster_of(self, schedule: Schedule) -> Cluster:
        """The cluster (size regime) ``schedule`` was priced on and runs on."""
        return self._cluster_of.get(id(schedule), self.cluster)

    def choice(self, op: str, size: float, groups: Groups | None = None) -> tuple[Schedule, LinearCost]:
        """The schedule that runs ``op`` of ``size`` bytes (:func:`dpsim.sim.cost.pick`): a tuner plugin's region
        (``communication.nccl_tuner``), else the cheapest by NCCL's tuner estimate (:meth:`LinearCost.tuned`, with
        its size corrections); ties: the first."""
        options = self.candidates(op, size, groups)
        named = [(s.name, s.protocol, cost) for s, cost in options]
        cluster = self.cluster
        return options[pick(op, named, size, cluster.nccl_tuner, cluster.layout, groups, cluster.nccl_tuner_platform)]

    def schedule(self, op: str, size: float = 1 << 30) -> Schedule:
        """The schedule of ``op`` at ``size`` bytes (default: a large message)."""
        return self.choice(op, size)[0]

    def evaluate(self, op: str, size: float, joins: np.ndarray, groups: Groups | None = None) -> np.ndarray:
        """Per-rank completion times of one ``op`` of ``size`` bytes posted at ``joins`` (in each of ``groups``)."""
        self.calls += 1
        if size <= 0 or self.cluster.world_size <= 1 or (groups is not None and groups.size <= 1):
            return np.asarray(joins, dtype=np.float64).copy()
        schedule, cost = self.choice(op, size, groups)
        key = (op, schedule.name, schedule.protocol)
        self.used[key] = self.used.get(key, 0) + 1
        done = self._evaluate(schedule, cost, size, np.asarray(joins, dtype=np.float64), groups)
        if schedule.pipelined:  # the pipeline drains to every rank (of the group) at once
            done = np.full_like(done, float(done.max())) if groups is None else groups.fold(done)
        return done

    def job(self, op: str, size: float, groups: Groups | None = None) -> Job:
        """One ``op`` of ``size`` bytes (in each of ``groups``) as a job of :mod:`dpsim.streams`: its latency and
        bandwidth terms at its own pace and the links each of its phases loads (:func:`dpsim.sim.cost.phased_job`),
        for pricing it while another collective is in flight; counted as :meth:`evaluate` counts a call."""
        self.calls += 1
        if size <= 0 or self.cluster.world_size <= 1 or (groups is not None and groups.size <= 1):
            return Job.of(0.0)
        self.candidates(op, size, groups, loads=True)  # every candidate with its links, as the analytic engine's
        schedule, cost = self.choice(op, size, groups)
        key = (op, schedule.name, schedule.protocol)
        self.used[key] = self.used.get(key, 0) + 1
        self.events += len(schedule.phases)
        return phased_job(cost, size)

    @abstractmethod
    def _evaluate(
        self, schedule: Schedule, cost: LinearCost, size: float, joins: np.ndarray, groups: Groups | None = None
    ) -> np.ndarray: ...
