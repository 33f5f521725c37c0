"""When the ranks leave the step's last collective, and how much of the host's cores their next compute then gets.

On a host whose ``k`` ranks share ``C < k`` cores (the emulated cluster), the engines price each rank's compute at
``max(1, k/C)·(1 + ε(k − 1))`` times its time alone (:meth:`dpsim.calibration.HostModel.slowdown`): every rank
computing at once, time-sliced. That holds only if the ranks start computing together. They start when they leave
the previous step's last collective, and an algorithm whose ranks finish at different times leaves some of them
computing while the others still communicate:

- recursive halving–doubling at a rank count that is not a power of two (Thakur et al. 2005 §4.4;
  :func:`dpsim.sim.collectives.halving_doubling.halving_doubling_allreduce`): the ``r`` extra ranks and their
  partners finish with the last send of the whole vector, the other ``p − r`` ranks one such send earlier;
- a ring (NCCL's, gloo's own): every rank is in every step, so all finish together;
- pipelined schedules (NCCL's trees, :attr:`dpsim.sim.collectives.base.Schedule.pipelined`): the last chunk reaches
  every rank as the pipeline drains, together to within a chunk's hop.

:func:`completion_fractions` reads each rank's end from a schedule's phases (the one both engines build),
:func:`shared_finish` runs the ranks' compute windows from those release times under processor sharing (each of
``n`` computing ranks served ``min(1, C/n)`` of a core: Linux's fair scheduler gives runnable threads equal shares),
and :func:`overlap_share` is what that does to the step's compute: from the last rank's release to the last rank's
end of compute, over the time-sliced window ``w·max(1, k/C)`` the engines price — 1 where the ranks leave together
or fit on the cores, below where some compute partly alone. A single-bucket 6-rank halving–doubling on 2 cores whose
two early ranks finish before the others are released computes 4 at a time: 2/3 of the priced window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["completion_fractions", "overlap_share", "shared_finish"]


def completion_fractions(schedule: Any, world: int) -> np.ndarray:
    """Each of ``world`` ranks' end of ``schedule`` as a fraction of the last rank's (1: the last to finish).

    The phases run as a dependency graph in bytes (each transfer of ``fraction·S`` starts once both its ends are
    ready; a phase's transfers at once, ``repeat`` times in a row), latencies left out: a rank's end is the end of
    the last transfer it takes part in. A pipelined schedule, or one without phases, ends together (all 1);
    endpoints beyond ``world`` (a parameter server's) are left out."""
    ones = np.ones(world)
    if world <= 1 or getattr(schedule, "pipelined", False) or not schedule.phases:
        return ones
    ready = np.zeros(max(int(schedule.ranks), world))
    for phase in schedule.phases:
        src, dst = np.asarray(phase.src), np.asarray(phase.dst)
        fraction = np.asarray(phase.fraction, dtype=np.float64)
        for _ in range(max(1, int(phase.repeat))):
            end = np.maximum(ready[src], ready[dst]) + fraction
            new = ready.copy()
            np.maximum.at(new, src, end)
            np.maximum.at(new, dst, end)
            ready = new
    ends = ready[:world]
    last = float(ends.max())
    return ends / last if last > 0 else ones


def shared_finish(starts: Sequence[float], work: float, cores: float) -> np.ndarray:
    """When each rank ends ``work`` seconds of CPU begun at ``starts`` on ``cores`` cores, processor shared: while
    ``n`` ranks compute each is served ``min(1, cores/n)`` of a core (exact event by event)."""
    start = np.asarray(starts, dtype=np.float64)
    n = len(start)
    left = np.full(n, float(work))
    finish = np.full(n, np.inf)
    if work <= 0:
        return start.copy()
    now = float(start.min())
    while np.isinf(finish).any():
        running = (start <= now) & np.isinf(finish)
        waiting = start[(start > now) & np.isinf(finish)]
        rate = min(1.0, cores / running.sum()) if running.any() else 0.0
        until_next = float(waiting.min()) - now if waiting.size else np.inf
        until_done = float(left[running].min()) / rate if running.any() else np.inf
        step = min(until_next, until_done)
        if running.any():
            left[running] -= rate * step
            done = running & (left <= 1e-12 * work)
            finish[done] = now + step
        now += step
    return finish


def overlap_share(releases: Sequence[float], work: float, cores: float) -> float:
    """The step's compute from the last rank's release to the last end of compute (:func:`shared_finish`), over
    the window ``work·max(1, k/C)`` of ``k`` ranks computing at once: 1 where they are released together (or
    ``k ≤ C``), less where some compute partly alone. ``work`` is one rank's CPU seconds (with ε's inflation)."""
    k = len(releases)
    if k <= cores or work <= 0:
        return 1.0
    window = work * max(1.0, k / cores)
    finish = shared_finish(releases, work, cores)
    return float(finish.max() - max(releases)) / window
