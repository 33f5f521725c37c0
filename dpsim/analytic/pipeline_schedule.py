"""Pipeline schedules as programs, evaluated arithmetically: the one pipelined step both engines price.

:func:`schedule_order` gives each of the p stages its operations — forward and backward passes of
(micro-batch, model chunk) — in the order its schedule prescribes (GPipe: all forwards then all backwards,
Huang et al. 2019; 1F1B: p − i − 1 warm-up forwards, then alternate, Narayanan et al. 2021 §2.2.1;
interleaved 1F1B: Megatron-LM's warm-up of (p − i − 1)·2 + (v − 1)·p chunk-forwards and its chunk order,
§2.2.2). The rules of execution (the event-level pipeline of :func:`dpsim.sim.pipeline.simulate_pipeline`
runs the same ones with simpy):

- an operation starts when its stage is free and its input has arrived: the previous chunk's activation
  for a forward, the next chunk's gradient (or the same chunk's forward, for the last chunk) for a backward;
- every chunk boundary between two stages is a point-to-point send; it leaves when the operation that
  produces it ends and the directed link between the two stages is free (one link per direction: full
  duplex; a direction carries one send at a time, in the order its sender produced them), and it arrives
  its duration later.

Every wait is a max and every span a sum, so a step is a max-plus evaluation of a fixed program
(:func:`schedule_program`: all stages' operations in one order that respects every dependency, what each
waits for and sends), one pass over 2·p·m·v operations with no event queue (:func:`evaluate_schedule`).
The same program runs on numpy arrays, one configuration an element (the planner's screen), with the
same arithmetic: each element equals the scalar evaluation bit for bit.

Where each send is longer than a stage's share of a micro-batch, the link between two stages carries the
sends one after another and the makespan grows with them (the closed form
:func:`dpsim.analytic.parallel.pipeline_step` assumes sends shorter than a chunk's compute).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Op",
    "ScheduleTimes",
    "bubble_and_sends",
    "evaluate_schedule",
    "evaluated_operations",
    "schedule_order",
    "schedule_program",
]

Op = tuple[str, int, int]
"""("F" | "B", micro-batch, global chunk index); chunk c runs on stage c mod p."""

SCHEDULES = ("gpipe", "1f1b", "interleaved")


def schedule_order(p: int, m: int, v: int = 1, schedule: str = "1f1b") -> list[list[Op]]:
    """Per-stage operation order of GPipe, 1F1B or interleaved 1F1B (v chunks per stage)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown pipeline schedule {schedule!r}")
    chunks = v if schedule == "interleaved" else 1
    if chunks > 1 and m % p:
        raise ValueError(f"interleaved 1F1B needs micro-batches ({m}) divisible by stages ({p})")
    orders: list[list[Op]] = []
    for d in range(p):
        if schedule == "gpipe":
            orders.append([("F", i, d) for i in range(m)] + [("B", i, d) for i in range(m)])
            continue
        total = m * chunks

        def op(k: int, forward: bool, d: int = d) -> Op:
            local = (k % (p * chunks)) // p
            local = local if forward else chunks - 1 - local
            mb = (k // (p * chunks)) * p + k % p
            return ("F" if forward else "B", mb, local * p + d)

        warm = min((p - d - 1) * 2 + (chunks - 1) * p, total) if chunks > 1 else min(p - d - 1, m)
        ops = [op(k, True) for k in range(warm)]
        for i in range(total - warm):
            ops += [op(warm + i, True), op(i, False)]
        ops += [op(k, False) for k in range(total - warm, total)]
        orders.append(ops)
    return orders


Step = tuple[int, bool, int, int, int, Op]
"""One operation of a :func:`schedule_program`: (stage, forward?, wait, out, link, feeds). ``wait``: the slot of
the input it waits for, or −1 (a first chunk's forward); ``out``: the slot of the input it produces for the
next operation of its micro-batch, or −1 (chunk 0's backward); ``link``: the directed link (src, dst) that
carries ``out`` to another stage, or −1 (none, or the last chunk's backward on its own stage); ``feeds``: the
operation ``out`` feeds (the key of a send's duration), ("", −1, −1) for none. Plain tuples: a program holds
2·p·m·v of them."""


CACHED_OPERATIONS = 1 << 20
"""Operations of the programs :func:`schedule_program` keeps, at most, in all (about 200 bytes each held): the
least recently used are dropped past it (a count of programs alone let a sweep over hundreds of stages hold 64
programs of half a million operations each)."""

_programs: OrderedDict[tuple[int, int, int, str], tuple[Step, ...]] = OrderedDict()


def schedule_program(p: int, m: int, v: int = 1, schedule: str = "1f1b") -> tuple[Step, ...]:
    """Every stage's operations of :func:`schedule_order` in one order that respects every dependency.

    Stages are advanced in turn, each as far as its inputs allow; an input is known once the operation that
    produces it is (a send on a link depends only on earlier sends from the same stage). A schedule that can
    deadlock raises ``ValueError``. Programs are kept, least recently used dropped first, up to
    :data:`CACHED_OPERATIONS` operations in all.
    """
    key = (p, m, v, schedule)
    program = _programs.get(key)
    if program is None:
        program = _build_program(p, m, v, schedule)
        _programs[key] = program
        held = sum(map(len, _programs.values()))
        while held > CACHED_OPERATIONS and len(_programs) > 1:
            held -= len(_programs.pop(next(iter(_programs))))
    _programs.move_to_end(key)
    return program


def _build_program(p: int, m: int, v: int, schedule: str) -> tuple[Step, ...]:
    """:func:`schedule_program`, built."""
    orders = schedule_order(p, m, v, schedule)
    chunks = v if schedule == "interleaved" else 1
    last = p * chunks - 1
    slots: dict[Op, int] = {}
    links: dict[tuple[int, int], int] = {}

    def slot(op: Op) -> int:
        return slots.setdefault(op, len(slots))

    known: set[int] = set()
    pos = [0] * p
    program: list[Step] = []
    left = sum(len(o) for o in orders)
    while left:
        moved = False
        for d in range(p):
            order = orders[d]
            while pos[d] < len(order):
                kind, mb, c = order[pos[d]]
                wait = -1 if kind == "F" and c == 0 else slot((kind, mb, c))
                if wait >= 0 and wait not in known:
                    break
                if kind == "F" and c < last:
                    feeds: Op = ("F", mb, c + 1)
                elif kind == "F":
                    feeds = ("B", mb, c)  # the last chunk's backward follows its forward
                elif c > 0:
                    feeds = ("B", mb, c - 1)
                else:
                    feeds = ("", -1, -1)
                out = -1 if feeds[1] < 0 else slot(feeds)
                dst = feeds[2] % p if out >= 0 else d
                link = links.setdefault((d, dst), len(links)) if dst != d else -1
                program.append((d, kind == "F", wait, out, link, feeds))
                if out >= 0:
                    known.add(out)
                pos[d] += 1
                left -= 1
                moved = True
        if not moved:
            raise ValueError(f"pipeline schedule {schedule!r} deadlocks (p={p}, m={m}, v={v})")
    return tuple(program)


@dataclass(frozen=True)
class ScheduleTimes:
    """One pipelined step evaluated (seconds; numpy arrays, one configuration an element, where the
    durations were)."""

    makespan_s: Any
    busy_s: tuple[Any, ...]
    """Compute time of each stage."""
    stage_end_s: tuple[Any, ...]
    """When each stage finished its last operation."""
    sends: int
    """Stage-to-stage sends."""

    @property
    def bubble_s(self) -> Any:
        """Idle time of the busiest stage: makespan minus its compute."""
        return self.makespan_s - functools.reduce(np.maximum, self.busy_s)


MAX_OPERATIONS = 1 << 13
"""Operations (2·p·m·v) evaluated one by one at most; a longer step is extrapolated from two shorter ones
(:func:`evaluate_schedule`)."""


def evaluate_schedule(
    forward_s: Any,
    backward_s: Any,
    p: int,
    m: int,
    v: int = 1,
    schedule: str = "1f1b",
    p2p_s: Any = 0.0,
    slowdowns: Sequence[float] | None = None,
    send_s: Mapping[Op, float] | None = None,
) -> ScheduleTimes:
    """Run one step of ``m`` micro-batches through ``p`` stages (the rules of the module docstring).

    ``forward_s``/``backward_s``: one micro-batch through one stage (all its chunks), at nominal speed;
    ``slowdowns[i]`` multiplies stage i's compute. ``p2p_s``: one send (none where it is ≤ 0); ``send_s[op]``,
    where given, the duration of the send that delivers ``op`` instead. Floats, or numpy arrays of equal
    shape (one configuration an element, each equal to its own scalar evaluation bit for bit; a send of 0 s
    there leaves when its operation ends, as no send does; ``send_s`` not given).

    Past :data:`MAX_OPERATIONS` operations (and without ``send_s``) the step is not run operation by operation:
    a schedule of identical micro-batches is a max-plus linear system, whose makespan grows by a fixed amount
    every period once its transient has passed (Baccelli, Cohen, Olsder & Quadrat 1992, *Synchronization and
    Linearity*, §3.7, the cyclicity theorem). It is run for m₁ ≡ m (mod p) micro-batches, the most that fit,
    and for m₀ = m₁ − W (W = half of m₁ in whole multiples of 2p: the schedules repeat every p micro-batches,
    and a period that alternates between two is common), and extended along that line:
    T(m) = T(m₁) + (m − m₁)·(T(m₁) − T(m₀))/W, for the makespan, each stage's end and its compute.
    """
    slow = list(slowdowns) if slowdowns is not None else [1.0] * p
    if len(slow) != p:
        raise ValueError(f"need {p} stage slowdowns, got {len(slow)}")
    extended = _extension(p, m, v, schedule)
    if extended is None or send_s is not None:
        return _run(forward_s, backward_s, p, m, v, schedule, p2p_s, slow, send_s)
    m1, width = extended
    near = _run(forward_s, backward_s, p, m1 - width, v, schedule, p2p_s, slow, None)
    far = _run(forward_s, backward_s, p, m1, v, schedule, p2p_s, slow, None)
    scale = (m - m1) / width

    def extend(a: Any, b: Any) -> Any:
        return b + (b - a) * scale

    return ScheduleTimes(
        extend(near.makespan_s, far.makespan_s),
        tuple(map(extend, near.busy_s, far.busy_s)),
        tuple(map(extend, near.stage_end_s, far.stage_end_s)),
        far.sends // m1 * m if far.sends else 0,
    )


def _extension(p: int, m: int, v: int, schedule: str) -> tuple[int, int] | None:
    """(m₁, W) of :func:`evaluate_schedule`'s extension of a step past :data:`MAX_OPERATIONS` operations, or None
    where it runs the step operation by operation."""
    per_mb = 2 * p * (v if schedule == "interleaved" else 1)
    if per_mb * m <= MAX_OPERATIONS:
        return None
    m1 = max(4 * p, (MAX_OPERATIONS // per_mb - m % p) // p * p + m % p)
    return (m1, max(2 * p, m1 // 2 // (2 * p) * (2 * p))) if m1 < m else None


def evaluated_operations(p: int, m: int, v: int = 1, schedule: str = "1f1b") -> int:
    """Operations :func:`evaluate_schedule` runs one by one for a step of ``m`` micro-batches (without ``send_s``):
    all 2·p·m·v of them, or past :data:`MAX_OPERATIONS` those of the two shorter steps it extends (m₁ − W and m₁
    micro-batches, m₁ at least 4·p: 8·p²·v or more however few operations that leaves). What its cost grows with
    (:func:`dpsim.sim.budget.check_schedule`)."""
    per_mb = 2 * p * (v if schedule == "interleaved" else 1)
    extended = _extension(p, m, v, schedule)
    return per_mb * m if extended is None else per_mb * (2 * extended[0] - extended[1])


def bubble_and_sends(
    forward_s: Any,
    backward_s: Any,
    p: int,
    m: int,
    v: int = 1,
    schedule: str = "1f1b",
    p2p_s: Any = 0.0,
    slowdowns: Sequence[float] | None = None,
) -> tuple[Any, Any]:
    """(bubble, exposed sends) of one pipelined step (arguments of :func:`evaluate_schedule`): what the schedule
    adds to one stage's m·(t_f + t_b) without sends (makespan − m·(t_f + t_b)), and what its sends add on top (the
    makespan with every send taking ``p2p_s`` minus the one without). Both engines' step
    (:func:`dpsim.analytic.step.pipeline_terms`) and the planner's screen read it. Floats: the schedule evaluated
    without sends, and again with them where a send takes time; numpy arrays: both in one pass (each
    configuration twice, once with sends of 0 s, which equal none bit for bit).

    Neither is negative where the slowest stage runs at slowdown 1 (as :func:`dpsim.analytic.step
    .pipeline_stage_slowdowns` gives them): that stage alone computes m·(t_f + t_b), and a send only delays what
    waits for it. Both are differences of makespans, which past about 2^50 micro-batches (extended from two short
    steps, :func:`evaluate_schedule`) carry more rounding than the bubble itself: at 2^51 micro-batches through a
    GPipe step of 1.5·10^13 s, a bubble of −1.84 s. Each is kept at 0 or above."""
    if isinstance(forward_s, np.ndarray):
        both = evaluate_schedule(
            np.tile(forward_s, 2),
            np.tile(backward_s, 2),
            p,
            m,
            v,
            schedule,
            np.append(0.0 * forward_s, p2p_s),
            slowdowns,
        )
        idle, full = np.split(both.makespan_s, 2)
    else:
        idle = evaluate_schedule(forward_s, backward_s, p, m, v, schedule, 0.0, slowdowns).makespan_s
        full = (
            evaluate_schedule(forward_s, backward_s, p, m, v, schedule, p2p_s, slowdowns).makespan_s
            if p2p_s > 0
            else idle
        )
    return _not_below_zero(idle - m * (forward_s + backward_s)), _not_below_zero(full - idle)


def _not_below_zero(x: Any) -> Any:
    """``x``, or 0 where it is negative (a float stays a float; NaN is left as it is)."""
    if isinstance(x, np.ndarray):
        return np.where(x < 0, 0.0, x)
    return 0.0 if x < 0 else x


def _run(
    forward_s: Any,
    backward_s: Any,
    p: int,
    m: int,
    v: int,
    schedule: str,
    p2p_s: Any,
    slow: list[float],
    send_s: Mapping[Op, float] | None,
) -> ScheduleTimes:
    """:func:`evaluate_schedule`, operation by operation."""
    chunks = v if schedule == "interleaved" else 1
    program = schedule_program(p, m, v, schedule)
    vector = any(isinstance(x, np.ndarray) for x in (forward_s, backward_s, p2p_s))
    biggest: Any = np.maximum if vector else max
    # a send of 0 s leaves when its operation ends (the stage's earlier sends on its link left earlier) and
    # arrives then, as no send does: the arrays run every send, a scalar none where there are none
    sending = True if vector else p2p_s > 0
    fwd = [forward_s / chunks * s for s in slow]
    bwd = [backward_s / chunks * s for s in slow]
    zero = 0.0 * (forward_s + backward_s + p2p_s) if vector else 0.0
    free = [zero] * p
    busy = [zero] * p
    link_free = [zero] * (p * p)
    arrived: list[Any] = [zero] * (2 * m * p * chunks)
    sends = 0
    for d, forward, wait, out, link, feeds in program:
        start = free[d] if wait < 0 else biggest(free[d], arrived[wait])
        span = fwd[d] if forward else bwd[d]
        end = start + span
        busy[d] = busy[d] + span  # not +=: the stages start from one shared zero array
        free[d] = end
        if out < 0:
            continue
        if link < 0 or not sending:
            arrived[out] = end
            continue
        leave = biggest(end, link_free[link])
        arrived[out] = link_free[link] = leave + (p2p_s if send_s is None else send_s.get(feeds, p2p_s))
        sends += 1
    if vector and not bool(np.any(p2p_s > 0)):
        sends = 0
    return ScheduleTimes(functools.reduce(biggest, free), tuple(busy), tuple(free), sends)
