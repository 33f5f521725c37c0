"""Ring passes, the steps of ring reduce-scatter, all-gather, all-reduce (Patarasuk & Yuan 2009; Thakur et al. 2005).

Reduce-scatter: N−1 steps; in each, every rank sends one chunk of S/N to its right-hand
neighbour (and receives one from its left), reducing as it goes. All-gather: the same
N−1 steps circulating the reduced chunks. All-reduce = reduce-scatter then all-gather:
2(N−1) steps of α + (S/N)/B, i.e. :func:`dpsim.analytic.collectives.ring_allreduce_time`.
NCCL's multi-channel ring is :func:`dpsim.sim.collectives.nccl.nccl_ring`.

``groups`` (k × n) runs k disjoint rings at once, each on S·``share`` bytes (the
hierarchical algorithm's per-node and per-local-rank rings).
"""

from __future__ import annotations

import numpy as np

from dpsim.sim.collectives.base import Phase

__all__ = ["ring_phases"]


def ring_phases(groups: np.ndarray, share: float = 1.0) -> tuple[Phase, ...]:
    """The N−1 steps of a ring pass over each row of ``groups`` (n ranks each, S·share bytes per ring)."""
    groups = np.atleast_2d(np.asarray(groups, dtype=np.int64))
    n = groups.shape[1]
    if n <= 1:
        return ()
    return (Phase.of(groups, np.roll(groups, -1, axis=1), share / n, repeat=n - 1),)
