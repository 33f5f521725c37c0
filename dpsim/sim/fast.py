"""Fast fidelity: a collective advances phase by phase, priced from the load on each link.

For every phase of a :class:`~dpsim.sim.collectives.base.Schedule` the flows active at
once are routed on the cluster and their bytes summed per directed link; the phase lasts
``hops × (largest route latency) + max over links (bytes on the link / its bandwidth)``
— the time for the most loaded link to carry its share, which is exactly the max-min
fair completion time when the phase's flows are symmetric (each ring step, each
halving–doubling exchange, the G concurrent inter-node rings sharing NICs). Repeated
steps of the same pattern are priced once, so the cost of an N-rank collective is
``latency_s + size · seconds_per_byte`` after O(N) numpy work, whatever N.

Ranks are folded: every rank joins when the last one does and all finish together
(exact for the synchronous collectives of a homogeneous cluster; under stragglers the
collective starts at the last arrival, as the chunk level also finds to within one step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import Schedule
from dpsim.sim.engine import CollectiveEngine

__all__ = ["FastEngine", "LinearCost", "phase_cost"]


@dataclass(frozen=True)
class LinearCost:
    """Time of a collective as ``latency_s + size · seconds_per_byte``."""

    latency_s: float
    seconds_per_byte: float

    def __call__(self, size: float) -> float:
        return self.latency_s + size * self.seconds_per_byte if size > 0 else 0.0


def phase_cost(schedule: Schedule, cluster: Cluster) -> LinearCost:
    """Price ``schedule`` on ``cluster`` phase by phase (see the module docstring)."""
    capacity = cluster.links.capacity
    latency_total = schedule.base_latency_s
    per_byte_total = 0.0
    for phase in schedule.phases:
        if len(phase.src) == 0:
            continue
        links, latency = cluster.routes(phase.src, phase.dst)
        mask = links >= 0
        weights = np.broadcast_to(phase.fraction[:, None], links.shape)[mask]
        load = np.bincount(links[mask], weights=weights, minlength=len(capacity))
        per_byte = float(np.max(load / capacity))
        latency_total += phase.repeat * float(phase.transfer_latency(latency).max())
        per_byte_total += phase.repeat * per_byte
    return LinearCost(latency_total, per_byte_total)


class FastEngine(CollectiveEngine):
    """Fast-level evaluator: every rank finishes at the last join + the phase-priced cost."""

    fidelity = "fast"

    def __init__(self, cluster: Cluster, algorithm: str) -> None:
        super().__init__(cluster, algorithm)
        self._costs: dict[str, LinearCost] = {}

    def cost(self, op: str) -> LinearCost:
        if op not in self._costs:
            schedule = self.schedule(op)
            self._costs[op] = phase_cost(schedule, self.cluster)
            self.events += len(schedule.phases)
        return self._costs[op]

    def _evaluate(self, op: str, size: float, joins: np.ndarray) -> np.ndarray:
        return np.full(len(joins), float(joins.max()) + self.cost(op)(size))
