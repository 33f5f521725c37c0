"""Recursive halving–doubling all-reduce (Rabenseifner 2004; Thakur et al. 2005 §4.4).

Reduce-scatter by recursive halving: in step k (k = 0..log2 p − 1) every rank exchanges
S/2^(k+1) with the partner at distance p/2^(k+1) (rank index XOR distance). All-gather by
recursive doubling mirrors it. For N not a power of two, the r = N − p extra ranks
(p = 2^⌊log2 N⌋; the odd ranks 1, 3, …, 2r−1) first send their whole vector to their
even neighbour and receive the result at the end: two more steps of α + S/B, as in
:func:`dpsim.analytic.collectives.halving_doubling_allreduce_time`.
"""

from __future__ import annotations

import numpy as np

from dpsim.sim.collectives.base import Phase, Schedule

__all__ = ["halving_doubling_allreduce"]


def halving_doubling_allreduce(world: int, per_node: int = 1) -> Schedule:
    """Halving–doubling all-reduce over ranks 0..world−1."""
    n = world
    if n <= 1:
        return Schedule("halving-doubling", n)
    p = 1 << (n.bit_length() - 1)
    r = n - p
    extra = np.arange(r) * 2 + 1
    core = np.concatenate([np.arange(r) * 2, np.arange(2 * r, n)]).astype(np.int64)
    index = np.arange(p)
    steps = p.bit_length() - 1
    phases: list[Phase] = []
    if r:
        phases.append(Phase.of(extra, extra - 1, 1.0))
    for k in range(steps):  # recursive halving (reduce-scatter)
        distance = p >> (k + 1)
        phases.append(Phase.of(core, core[index ^ distance], 1.0 / (1 << (k + 1))))
    for k in range(steps):  # recursive doubling (all-gather)
        distance = 1 << k
        phases.append(Phase.of(core, core[index ^ distance], (1 << k) / p))
    if r:
        phases.append(Phase.of(extra - 1, extra, 1.0))
    return Schedule("halving-doubling", n, tuple(phases))
