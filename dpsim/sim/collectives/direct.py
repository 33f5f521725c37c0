"""Direct (all-to-all) all-reduce: every rank exchanges S/N with every other rank at once.

Reduce-scatter: each rank sends its chunk j to rank j, all N−1 flows concurrently; then
the reduced chunks are all-gathered the same way. Each phase pushes (N−1)·S/N through a
rank's port with one latency: 2·α + 2(N−1)/N · S/B
(:func:`dpsim.analytic.collectives.direct_allreduce_time`). N(N−1) flows per phase.
"""

from __future__ import annotations

import numpy as np

from dpsim.sim.collectives.base import Phase, Schedule

__all__ = ["direct_allreduce"]


def direct_allreduce(world: int, per_node: int = 1) -> Schedule:
    """All-to-all reduce-scatter then all-to-all all-gather over ranks 0..world−1."""
    n = world
    if n <= 1:
        return Schedule("direct", n)
    src, dst = np.divmod(np.arange(n * n), n)
    keep = src != dst
    phase = Phase.of(src[keep], dst[keep], 1.0 / n)
    return Schedule("direct", n, (phase, phase))
