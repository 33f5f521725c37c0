"""Broadcast as binomial scatter + ring all-gather (van de Geijn; Thakur et al. 2005 §4.1), and send.

Scatter: the root repeatedly hands the upper half of the chunks it holds to the first rank
of that half, ⌈log2 N⌉ steps, (N−1)/N·S leaving the root; then a ring all-gather: in all
(⌈log2 N⌉ + N − 1)·α + 2(N−1)/N·S/B (:func:`dpsim.analytic.collectives.broadcast_time`).
"""

from __future__ import annotations

import numpy as np

from dpsim.sim.collectives.base import Phase, Schedule
from dpsim.sim.collectives.ring import ring_phases

__all__ = ["broadcast", "send"]


def broadcast(world: int, per_node: int = 1) -> Schedule:
    """Broadcast S bytes from rank 0 to ranks 0..world−1."""
    n = world
    segments = [(0, n)]
    phases: list[Phase] = []
    while any(hi - lo > 1 for lo, hi in segments):
        src, dst, frac, nxt = [], [], [], []
        for lo, hi in segments:
            if hi - lo <= 1:
                continue
            mid = lo + (hi - lo + 1) // 2
            src.append(lo)
            dst.append(mid)
            frac.append((hi - mid) / n)
            nxt += [(lo, mid), (mid, hi)]
        phases.append(Phase.of(src, dst, np.asarray(frac)))
        segments = nxt
    return Schedule("broadcast", n, (*phases, *ring_phases(np.arange(n))))


def send(world: int, src: int, dst: int) -> Schedule:
    """Point-to-point: rank ``src`` sends S bytes to ``dst`` (pipeline activations, ZeRO-Offload)."""
    return Schedule("send", world, (Phase.of([src], [dst], 1.0),))
