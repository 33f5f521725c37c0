"""Broadcast without NCCL: gloo's binomial tree (what ``dist.broadcast`` runs on CPUs), and send.

gloo (``gloo/broadcast.cc``, ``gloo::broadcast``, which ProcessGroupGloo's broadcast calls): with the
root as virtual rank 0, round i (i = 0 … ⌈log2 N⌉ − 1) has every virtual rank below 2^i that holds the
buffer send all of it to virtual rank + 2^i (when that exists); a rank receives once, before it sends,
and never splits the buffer. In all ⌈log2 N⌉·(α + S/B) on equal links
(:func:`dpsim.analytic.collectives.broadcast_time`); N − 1 transfers of S.
"""

from __future__ import annotations

import math

import numpy as np

from dpsim.sim.collectives.base import Phase, Schedule

__all__ = ["broadcast", "send"]


def broadcast(world: int, per_node: int = 1) -> Schedule:
    """Broadcast S bytes from rank 0 to ranks 0..world−1 over gloo's binomial tree."""
    n = world
    phases: list[Phase] = []
    for i in range(math.ceil(math.log2(n)) if n > 1 else 0):
        src = np.arange(min(1 << i, n - (1 << i)))
        phases.append(Phase.of(src, src + (1 << i), 1.0))
    return Schedule("broadcast", n, tuple(phases))


def send(world: int, src: int, dst: int) -> Schedule:
    """Point-to-point: rank ``src`` sends S bytes to ``dst`` (pipeline activations, ZeRO-Offload)."""
    return Schedule("send", world, (Phase.of([src], [dst], 1.0),))
