"""When the ranks leave the step's last collective, and how much of the host's cores their next compute then gets.

On a host whose ``k`` ranks share ``C < k`` cores (the emulated cluster), the engines price each rank's compute at
``max(1, k/C)·(1 + ε(k − 1))`` times its time alone (:meth:`dpsim.calibration.HostModel.slowdown`): every rank
computing at once, time-sliced. That holds only if the ranks start computing together. They start when they leave
the previous step's last collective, and an algorithm whose ranks finish at different times leaves some of them
computing while the others still communicate:

- recursive halving–doubling at a rank count that is not a power of two (Thakur et al. 2005 §4.4;
  :func:`dpsim.sim.collectives.halving_doubling.halving_doubling_allreduce`): the ``r`` extra ranks and their
  partners finish with the last send of the whole vector, the other ``p − r`` ranks one such send earlier;
- a ring of one rank a node (NCCL's, the runtime's, gloo's own): every rank is in every step on links of one rate, so
  all finish together;
- gloo's own ring across nodes of two or more ranks (``algorithm: backend``, :func:`gloo_ring_ends`): its hops
  alternate between fast intra-node and slow inter-node links, and a rank whose last segment comes over its node's
  link leaves while the segments it still sends sit in its socket: up to two slow segments early;
- a send completes when its last byte is in the sender's socket (gloo's tcp transport), so a rank whose last
  transfer is a send (halving–doubling's partners handing the extras their result) leaves :data:`SOCKET_BYTES`
  before its peer has it;
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

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "GLOO_MAX_SEGMENT_BYTES",
    "RELEASED_APART",
    "SOCKET_BYTES",
    "collective_releases",
    "completion_fractions",
    "gloo_ring_ends",
    "gloo_ring_segments",
    "may_release_apart",
    "overlap_share",
    "shared_finish",
]

GLOO_MAX_SEGMENT_BYTES = 1 << 20
"""``AllreduceOptions::kMaxSegmentSize`` (``gloo/allreduce.h``): the largest segment gloo's ring sends at once."""

SOCKET_BYTES = 2.65e6
"""Bytes of a send the sender's TCP socket holds when the send completes (gloo's tcp transport completes a send once
``write`` has handed its last byte to the kernel, ``gloo/transport/tcp/pair.cc`` ``Pair::write``; the kernel's
autotuned send buffer is capped by ``net.ipv4.tcp_wmem``'s maximum, 4 MiB on the emulated testbed's host, which
counts each buffer's overhead too). Measured, not fitted: the lags of stop 50's fresh draw
(``benchmarks/results/validation-2026-12-07-e/all/runs.jsonl``, repeats 2–3, ``extra.per_rank_release_lag_s``):
halving–doubling over 7 ranks, one 9.45 MB bucket at 675 Mbit/s, the three partners leave 30.7 / 32.0 ms (medians
per repeat) before the three extras they send the result to: 2.59 / 2.70 MB at 84.4 MB/s."""


def completion_fractions(schedule: Any, world: int, socket_fraction: float = 0.0) -> np.ndarray:
    """Each of ``world`` ranks' end of ``schedule`` as a fraction of the last rank's (1: the last to finish).

    The phases run as a dependency graph in bytes (each transfer of ``fraction·S`` starts once both its ends are
    ready; a phase's transfers at once, ``repeat`` times in a row), latencies left out: a rank's end is the end of
    the last transfer it takes part in, its sender's ``socket_fraction`` (the socket's bytes over S) before the
    receiver's where the socket holds the rest (:data:`SOCKET_BYTES`). A pipelined schedule, or one without phases,
    ends together (all 1); endpoints beyond ``world`` (a parameter server's) are left out."""
    ones = np.ones(world)
    if world <= 1 or getattr(schedule, "pipelined", False) or not schedule.phases:
        return ones
    ready = np.zeros(max(int(schedule.ranks), world))
    for phase in schedule.phases:
        src, dst = np.asarray(phase.src), np.asarray(phase.dst)
        fraction = np.asarray(phase.fraction, dtype=np.float64)
        for _ in range(max(1, int(phase.repeat))):
            start = np.maximum(ready[src], ready[dst])
            end = start + fraction
            new = ready.copy()
            np.maximum.at(new, src, np.maximum(start, end - socket_fraction))
            np.maximum.at(new, dst, end)
            ready = new
    ends = ready[:world]
    last = float(ends.max())
    return ends / last if last > 0 else ones


def gloo_ring_segments(world: int, nbytes: float, element_bytes: int = 4) -> tuple[int, int]:
    """How gloo's ring all-reduce (``gloo/allreduce.cc`` ``ring()``) cuts ``nbytes``: (segments, bytes a segment).
    At least two segments a rank (one in flight while the other is reduced), at most
    :data:`GLOO_MAX_SEGMENT_BYTES` each, rounded up to a multiple of the ranks; segments hold whole elements."""
    total = _whole(nbytes, element_bytes)
    largest = element_bytes * max(1, GLOO_MAX_SEGMENT_BYTES // element_bytes)
    count = _whole(max(math.ceil(total / largest), 2 * world), world)
    return count, _whole(math.ceil(total / count), element_bytes)


def _whole(value: float, unit: int) -> int:
    """``value`` rounded up to a multiple of ``unit`` (gloo's ``roundUp``)."""
    return math.ceil(value / unit) * unit


def gloo_ring_ends(
    world: int, per_node: int, nbytes: float, inter: Any, intra: Any, socket_bytes: float = SOCKET_BYTES
) -> np.ndarray:
    """Each rank's end (seconds, all entering at 0) of gloo's ring all-reduce of ``nbytes`` over ``world`` ranks,
    ``per_node`` consecutive ranks a node; ``inter`` / ``intra``: the links (``latency_s``, ``bandwidth``) of a hop
    between nodes / within one.

    ``gloo/allreduce.cc`` ``ring()`` as it runs: rank r sends to r − 1 and receives from r + 1, the reduce-scatter
    and then the all-gather each ``segments − segments/world`` iterations; iteration i posts the receive and the send
    of segment i and first waits for those of i − 2 (two in flight). gloo's tcp transport sends a segment once its
    receiver has posted the receive (``Pair::send`` waits for ``NOTIFY_RECV_READY``), each link carries its segments
    in order, and a send completes when its last byte is in the socket, ``socket_bytes`` before the receiver has
    it. With one rate on every hop all ranks end together; where hops alternate (two a node) a rank whose last
    segment arrives over its node's link leaves while its last two still drain to the next node: two slow segments
    early (4 ranks, 2 a node, 9.45 MB at 175 Mbit/s: 72 ms; the lags measured 60–76)."""
    if world <= 1:
        return np.zeros(max(world, 0))
    count, size = gloo_ring_segments(world, nbytes)
    total = _whole(nbytes, 4)
    per_rank = count // world
    iterations = count - per_rank
    ranks = np.arange(world)
    downstream = (ranks - 1) % world
    same_node = ranks // max(1, per_node) == downstream // max(1, per_node)
    latency = np.where(same_node, intra.latency_s, inter.latency_s)
    rate = np.where(same_node, intra.bandwidth, inter.bandwidth)
    link_free = np.zeros(world)  # each rank's link to rank r − 1
    after_wait: list[np.ndarray] = []  # each rank's clock after waiting for op k
    phase_start = np.zeros(world)
    for phase in range(2):
        for i in range(iterations):
            k = phase * iterations + i
            posted = after_wait[k - 2] if i >= 2 else phase_start
            first = (ranks + (0 if phase else 1)) * per_rank + i  # the segment rank r sends at iteration i
            length = np.clip(total - (first % count) * size, 0, size).astype(np.float64)
            ready = np.maximum(posted, posted[downstream])  # the receiver's post reaches the sender (rendezvous)
            start = np.maximum(ready, link_free)
            end = np.where(length > 0, start + latency + length / rate, ready)
            link_free = np.where(length > 0, end, link_free)
            sent = np.where(length > 0, np.maximum(ready, end - socket_bytes / rate), ready)
            received = np.empty(world)
            received[downstream] = end  # rank r − 1 receives what r sends
            before = after_wait[k - 1] if i >= 1 else phase_start
            after_wait.append(np.maximum(before, np.maximum(received, sent)))
        phase_start = after_wait[-1]
    return after_wait[-1]


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


RELEASED_APART = ("halving-doubling", "direct", "parameter-server", "hierarchical")
"""All-reduce algorithms whose ranks may leave at different times (:func:`completion_fractions` of their schedules;
the rings and NCCL's pipelined schedules end together), besides gloo's own ring across nodes of two or more ranks
(:func:`gloo_ring_ends`)."""


def _gloo_ring_across_nodes(scenario: Any, algorithm: str, per_node: int) -> bool:
    return algorithm == "backend" and not scenario.cluster.nccl_backend and per_node > 1


def _group(scenario: Any, profile: Any) -> Any:
    from dpsim.analytic.fabrics import dp_fabric
    from dpsim.analytic.step import calibrated_fabric

    return dp_fabric(scenario, calibrated_fabric(scenario, profile))


def may_release_apart(scenario: Any, profile: Any) -> bool:
    """Whether the data-parallel ranks may leave the gradient all-reduce at different times
    (:func:`collective_releases`): an algorithm of :data:`RELEASED_APART`, or gloo's own ring across nodes of two or
    more ranks."""
    from dpsim.analytic.collectives import algorithm_of

    algorithm = algorithm_of(scenario)
    per_node = _group(scenario, profile).per_node
    return algorithm in RELEASED_APART or _gloo_ring_across_nodes(scenario, algorithm, per_node)


def collective_releases(scenario: Any, profile: Any, size: float) -> np.ndarray | None:
    """When each data-parallel rank leaves the gradient all-reduce of ``size`` bytes (seconds from its start, the
    last at the analytic engine's price of it, on the profile's links), or None where they leave together. Not
    priced: what ``benchmarks/compute_share.py`` sets beside the runs' per-rank lags and in its ``release`` column.

    gloo's own ring (``algorithm: backend`` on gloo) with two or more ranks a node: :func:`gloo_ring_ends` on the
    group's links at that size; the algorithms of :data:`RELEASED_APART`: their schedule's
    :func:`completion_fractions` times the priced time, a sender leaving :data:`SOCKET_BYTES` before its receiver
    where every hop runs at one rate (one rank a node: the bytes-only schedule does not know a node's faster link)."""
    from dpsim.analytic.collectives import algorithm_of, collective
    from dpsim.sim.collectives import allreduce

    algorithm = algorithm_of(scenario)
    group = _group(scenario, profile)
    world, per_node = group.world_size, group.per_node
    if world <= 1 or size <= 0 or not may_release_apart(scenario, profile):
        return None
    last = collective(scenario.gradient_reduction_op, algorithm, size, group).time_s
    if _gloo_ring_across_nodes(scenario, algorithm, per_node):
        links = group.at_size(size)
        ends = gloo_ring_ends(world, per_node, size, links.inter, links.intra)
        releases = last - (ends.max() - ends)
    else:
        socket = SOCKET_BYTES / size if per_node == 1 else 0.0
        releases = last * completion_fractions(allreduce(algorithm, world, per_node), world, socket)
    return None if releases.min() >= releases.max() else releases
