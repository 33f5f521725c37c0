"""Fast fidelity: a collective advances phase by phase, priced from the load on each link.

For every phase of a :class:`~dpsim.sim.collectives.base.Schedule` the flows active at
once are routed on the cluster and their bytes summed per directed link; the phase lasts
``hops × (largest route latency) + max over links (bytes on the link / its bandwidth)``
— the time for the most loaded link to carry its share, which is exactly the max-min
fair completion time when the phase's flows are symmetric (each ring step, each
halving–doubling exchange, the G concurrent inter-node rings sharing NICs). Repeated
steps of the same pattern are priced once, so the cost of an N-rank collective is
``latency_s + size · seconds_per_byte`` after O(N) numpy work, whatever N. Where a
schedule's steps load links unevenly (some ranks idle before a step ends, e.g.
halving–doubling under a shuffled ``rank_order``), ranks do not move in lock step and the
bandwidth term is the per-rank dependency run of the chunk level without latencies
(:func:`dpsim.sim.cost.lock_step`, :func:`dpsim.sim.cost.fluid_seconds_per_byte`).

Ranks are folded: every rank joins when the last one does and all finish together
(exact for the synchronous collectives of a homogeneous cluster; under stragglers the
collective starts at the last arrival, as the chunk level also finds to within one step).
"""

from __future__ import annotations

import numpy as np

from dpsim.sim.collectives.base import Schedule
from dpsim.sim.collectives.groups import Groups
from dpsim.sim.cost import LinearCost, phase_cost
from dpsim.sim.engine import CollectiveEngine

__all__ = ["FastEngine", "LinearCost", "phase_cost"]


class FastEngine(CollectiveEngine):
    """Fast-level evaluator: every rank finishes at the last join (of its group) + the phase-priced cost."""

    fidelity = "fast"

    def _evaluate(
        self, schedule: Schedule, cost: LinearCost, size: float, joins: np.ndarray, groups: Groups | None = None
    ) -> np.ndarray:
        self.events += len(schedule.phases)
        # groups run at once (their cost prices them together), each from when its last rank joins
        if groups is not None:
            return groups.fold(joins) + cost(size)
        return np.full(len(joins), float(joins.max()) + cost(size))
