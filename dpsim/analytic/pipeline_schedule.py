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
  its duration later;
- where sends of different directed links cross one NIC direction (a stage's activations and gradients both
  leave through its ranks' NICs; a node holding several stages sends two boundaries' through one NIC), those in
  flight at once share it (:func:`evaluate_shared_nics`, event by event: no longer a max-plus program).

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

import dataclasses
import functools
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "NicFlows",
    "Op",
    "ReductionStream",
    "ScheduleTimes",
    "ScreenLoads",
    "StageLoads",
    "batch_bubble_and_sends",
    "boundary_of",
    "bubble_and_sends",
    "evaluate_schedule",
    "evaluate_shared_nics",
    "evaluated_operations",
    "forget_programs",
    "schedule_order",
    "schedule_program",
]

Op = tuple[str, int, int]
"""("F" | "B", micro-batch, global chunk index); chunk c runs on stage c mod p."""

SCHEDULES = ("gpipe", "1f1b", "interleaved")


def boundary_of(src: int, dst: int, p: int) -> int:
    """The stage boundary a send from stage ``src`` to stage ``dst`` crosses: k for stages k and k + 1 (mod p), the
    index of a per-boundary ``p2p_s`` (:func:`evaluate_schedule`). With 2 stages the two directions of the one pair
    are boundaries 0 (0 → 1) and 1 (1 → 0)."""
    return src if dst == (src + 1) % p else dst


def _link_boundaries(program: Sequence[Step], p: int) -> list[int]:
    """The stage boundary (:func:`boundary_of`) of each directed link of a :func:`schedule_program`."""
    found: dict[int, int] = {}
    for d, _, _, _, link, feeds in program:
        if link >= 0 and link not in found:
            found[link] = boundary_of(d, feeds[2] % p, p)
    return [found[k] for k in range(len(found))]


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
    return _kept(_programs, (p, m, v, schedule), _build_program, len)


def _kept(cache: OrderedDict[Any, Any], key: tuple[int, int, int, str], build: Any, size: Any) -> Any:
    """``cache[key]``, built where missing; the least recently used dropped past :data:`CACHED_OPERATIONS`
    operations in all (``size`` of each)."""
    value = cache.get(key)
    if value is None:
        value = cache[key] = build(*key)
        held = sum(map(size, cache.values()))
        while held > CACHED_OPERATIONS and len(cache) > 1:
            held -= size(cache.pop(next(iter(cache))))
    cache.move_to_end(key)
    return value


def forget_programs() -> None:
    """Drop every kept program (:func:`schedule_program`, and the level form the arrays run): the next evaluation
    builds its programs as a fresh process does (``benchmarks/planner.py``)."""
    _programs.clear()
    _compiled.clear()
    _finals.cache_clear()
    _link_ends.cache_clear()
    _load_layout.cache_clear()
    _tail_shares.cache_clear()


def _build_program(p: int, m: int, v: int, schedule: str) -> tuple[Step, ...]:
    """:func:`schedule_program`, built."""
    orders = schedule_order(p, m, v, schedule)
    chunks = v if schedule == "interleaved" else 1
    last = p * chunks - 1
    slots: dict[Op, int] = {}  # numbered as first seen (a blocked input too)
    links: dict[tuple[int, int], int] = {}
    known: set[int] = set()
    pos = [0] * p
    sizes = [len(o) for o in orders]
    program: list[Step] = []
    none: Op = ("", -1, -1)
    left = sum(sizes)
    while left:
        moved = False
        for d in range(p):
            order, i, size = orders[d], pos[d], sizes[d]
            start = i
            while i < size:
                op = order[i]
                kind, mb, c = op
                forward = kind == "F"
                if forward and c == 0:
                    wait = -1
                else:
                    wait = slots.get(op, -1)
                    if wait < 0:
                        wait = slots[op] = len(slots)
                    if wait not in known:
                        break
                i += 1
                if forward:  # the last chunk's backward follows its forward
                    feeds: Op = ("F", mb, c + 1) if c < last else ("B", mb, c)
                elif c > 0:
                    feeds = ("B", mb, c - 1)
                else:
                    program.append((d, False, wait, -1, -1, none))
                    continue
                out = slots.get(feeds, -1)
                if out < 0:
                    out = slots[feeds] = len(slots)
                dst = feeds[2] % p
                link = links.setdefault((d, dst), len(links)) if dst != d else -1
                program.append((d, forward, wait, out, link, feeds))
                known.add(out)
            if i > start:
                moved = True
                left -= i - start
                pos[d] = i
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
    nics: NicFlows = (),
    loads: StageLoads | None = None,
) -> ScheduleTimes:
    """Run one step of ``m`` micro-batches through ``p`` stages (the rules of the module docstring).

    ``forward_s``/``backward_s``: one micro-batch through one stage (all its chunks), at nominal speed;
    ``slowdowns[i]`` multiplies stage i's compute. ``p2p_s``: one send (none where it is ≤ 0), or a tuple of p,
    the send across each stage boundary k (stages k and k + 1 mod p, :func:`boundary_of`; none across a
    boundary where it is ≤ 0): a stage smaller than a node sends over NVLink inside it and through a NIC at its
    edge (:func:`dpsim.analytic.parallel.pipeline_p2p_times`); ``send_s[op]``,
    where given, the duration of the send that delivers ``op`` instead. Floats, or numpy arrays of equal
    shape (one configuration an element, each equal to its own scalar evaluation bit for bit; a send of 0 s
    there leaves when its operation ends, as no send does; ``send_s`` not given). ``nics``: where the sends of
    different directed links share a NIC direction (:func:`dpsim.analytic.parallel.stage_link_nic_flows`), the
    step is run event by event with the sends in flight on one direction sharing it
    (:func:`evaluate_shared_nics`; floats only, and not with ``send_s``, whose durations were measured with their
    sharing in them), with what else crosses those NIC directions (``loads``: TP phases, reductions).

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
    shared = bool(nics) and send_s is None and _any_send(p2p_s)
    if shared and any(isinstance(x, np.ndarray) for x in (forward_s, backward_s, p2p_s)):
        raise ValueError("NIC directions shared between stage links are evaluated on floats only")

    def run(micro_batches: int) -> ScheduleTimes:
        if shared:
            return evaluate_shared_nics(
                forward_s, backward_s, p, micro_batches, v, schedule, p2p_s, slow, nics, loads=loads
            )
        return _run(forward_s, backward_s, p, micro_batches, v, schedule, p2p_s, slow, send_s)

    extended = _extension(p, m, v, schedule)
    if extended is None or send_s is not None:
        return run(m)
    m1, width = extended
    near = run(m1 - width)
    far = run(m1)
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
    nics: NicFlows = (),
    loads: StageLoads | None = None,
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
        one_shape = np.zeros(np.shape(forward_s), dtype=np.int64)
        if isinstance(p2p_s, tuple):  # one column a boundary
            p2p_s = np.stack(np.broadcast_arrays(forward_s, *p2p_s)[1:], axis=-1)
        return batch_bubble_and_sends(forward_s, backward_s, p2p_s, one_shape, [(p, m, v, schedule)], slowdowns)
    else:
        idle = evaluate_schedule(forward_s, backward_s, p, m, v, schedule, 0.0, slowdowns).makespan_s
        full = (
            evaluate_schedule(
                forward_s, backward_s, p, m, v, schedule, p2p_s, slowdowns, nics=nics, loads=loads
            ).makespan_s
            if _any_send(p2p_s)
            else idle
        )
    return _not_below_zero(idle - m * (forward_s + backward_s)), _not_below_zero(full - idle)


def _any_send(p2p_s: Any) -> bool:
    """Whether any send of ``p2p_s`` (one duration, or a tuple of one a boundary) takes time."""
    return any(x > 0 for x in p2p_s) if isinstance(p2p_s, tuple) else bool(p2p_s > 0)


def _not_below_zero(x: Any) -> Any:
    """``x``, or 0 where it is negative (a float stays a float; NaN is left as it is)."""
    if isinstance(x, np.ndarray):
        return np.where(x < 0, 0.0, x)
    return 0.0 if x < 0 else x


def batch_bubble_and_sends(
    forward_s: np.ndarray,
    backward_s: np.ndarray,
    p2p_s: np.ndarray,
    shape_of: np.ndarray,
    shapes: Sequence[tuple[int, int, int, str]],
    slowdowns: Sequence[float] | None = None,
    loads: Sequence[ScreenLoads] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`bubble_and_sends` of many configurations of several pipeline shapes at once (the planner's screen):
    configuration i has ``shapes[shape_of[i]]`` = (p, m, v, schedule), the same ``slowdowns`` for all (or None).
    ``p2p_s``: one send a configuration, or, with one axis more than ``forward_s`` (columns: stage boundaries, at
    least the most stages of any shape; those past a shape's p are not read), each boundary's send
    (:func:`evaluate_schedule`'s tuple).

    Each configuration is run twice, with sends of 0 s (which equal none bit for bit) and with its own; each program
    (p, micro-batches run, v, schedule) is evaluated once, on every distinct (forward, backward, send) that needs it,
    across shapes: past :data:`MAX_OPERATIONS` every m ≡ m' (mod p) is extended from the same two runs
    (:func:`evaluate_schedule`), and the ZeRO stages and all-reduce algorithms of a planner's group change none of
    the three inputs. Equal inputs give equal results, and the extension is :func:`evaluate_schedule`'s arithmetic,
    so each element equals its own scalar :func:`bubble_and_sends` bit for bit.

    ``loads``: the configurations whose sends share NIC directions with their stages' reductions
    (:class:`ScreenLoads`), each equal to its :func:`evaluate_shared_nics`: their steps with sends are evaluated
    without the loads and their stages' last operations run again with them (:func:`_loaded_tails`); a row where an
    earlier send is still in flight when its stage's reduction starts is evaluated event by event."""
    per_boundary = np.ndim(p2p_s) == np.broadcast(forward_s, backward_s, shape_of).ndim + 1
    if per_boundary:
        f, b, of = np.broadcast_arrays(forward_s, backward_s, shape_of)
        c = np.broadcast_to(p2p_s, (*f.shape, np.shape(p2p_s)[-1])).reshape(f.size, -1)
    else:
        f, b, c, of = np.broadcast_arrays(forward_s, backward_s, p2p_s, shape_of)
        c = c.reshape(f.size, 1)
    n = f.size
    columns = [np.tile(f.ravel(), 2), np.tile(b.ravel(), 2)]
    columns += [np.append(0.0 * f.ravel(), c[:, k]) for k in range(c.shape[1])]
    rows = np.stack(columns, axis=-1).astype(float)
    row_shape = np.tile(of.ravel(), 2)
    # who needs which program: (rows, their place in a step's runs: 0 in full, 1 near, 2 far)
    wanted: dict[tuple[int, int, int, str], list[tuple[np.ndarray, int]]] = {}
    extended: list[tuple[np.ndarray, float]] = []
    for k in np.unique(row_shape).tolist():
        p, m, v, schedule = shapes[k]
        at = np.flatnonzero(row_shape == k)
        ext = _extension(p, m, v, schedule)
        if ext is None:
            wanted.setdefault((p, m, v, schedule), []).append((at, 0))
            continue
        m1, width = ext
        wanted.setdefault((p, m1 - width, v, schedule), []).append((at, 1))
        wanted.setdefault((p, m1, v, schedule), []).append((at, 2))
        extended.append((at, (m - m1) / width))
    runs = np.zeros((3, 2 * n))
    owner_of = np.full(2 * n, -1, dtype=np.int64)  # each row's group of ``loads`` (rows with sends only), or −1
    for number, group in enumerate(loads):
        owner_of[group.rows + n] = number
    for (p, m, v, schedule), needs in wanted.items():
        slow = list(slowdowns) if slowdowns is not None else [1.0] * p
        if len(slow) != p:
            raise ValueError(f"need {p} stage slowdowns, got {len(slow)}")
        at = np.concatenate([a for a, _ in needs])
        if per_boundary and rows.shape[1] < 2 + p:
            raise ValueError(f"need a send for each of {p} stage boundaries, got {rows.shape[1] - 2}")
        # this program's columns: its p boundaries, or one where every boundary of its rows sends alike (a tuple of
        # equal sends is the one send's evaluation bit for bit)
        block = rows[at, 2 : 2 + p] if per_boundary else rows[at, 2:3]
        mine = np.ascontiguousarray(rows[at, : 2 + (p if bool(np.any(block != block[:, :1])) else 1)])
        # distinct by their bits (0.0 and −0.0 apart), so that each element is its own evaluation bit for bit
        _, first, again = np.unique(mine.view(np.int64), axis=0, return_index=True, return_inverse=True)
        distinct = mine[first]
        sends = tuple(distinct[:, 2 + k] for k in range(p)) if distinct.shape[1] > 3 else distinct[:, 2]
        owner = owner_of[at]
        hit = np.flatnonzero(owner >= 0)
        capture: list[_Reached] | None = [] if hit.size else None
        evaluated = _run(distinct[:, 0], distinct[:, 1], p, m, v, schedule, sends, slow, None, False, capture)
        makespan = evaluated.makespan_s[again.reshape(-1)]
        if hit.size:  # every loaded row of this program at once, whichever its layout
            which = again.reshape(-1)[hit]
            makespan[hit] = _screen_loaded(p, m, v, schedule, distinct, which, owner[hit], slow, capture, loads)
        start = 0
        for a, place in needs:
            runs[place, a] = makespan[start : start + a.size]
            start += a.size
    for at, scale in extended:
        near, far = runs[1, at], runs[2, at]
        runs[0, at] = far + (far - near) * scale  # evaluate_schedule's extension
    idle, full = np.split(runs[0], 2)
    m_of = np.array([m for _, m, _, _ in shapes], dtype=np.int64)[of.ravel()]
    bubble = _not_below_zero(idle - m_of * (f.ravel() + b.ravel()))
    return bubble.reshape(f.shape), _not_below_zero(full - idle).reshape(f.shape)


class ScreenLoads(NamedTuple):
    """NIC loads of some of :func:`batch_bubble_and_sends`' configurations (rows ``rows`` of its flattened inputs,
    all of one pipeline shape): the sends' NIC flows and their :class:`StageLoads`, the reduction's buckets left out
    (:func:`dpsim.analytic.step.pipeline_load_shape`), which each row's backward releases from ``stream``."""

    rows: np.ndarray
    nics: NicFlows
    loads: StageLoads
    stream: ReductionStream | None


def _screen_loaded(
    p: int,
    m: int,
    v: int,
    schedule: str,
    distinct: np.ndarray,
    of: np.ndarray,
    owner: np.ndarray,
    slow: list[float],
    capture: list[_Reached] | None,
    groups: Sequence[ScreenLoads],
) -> np.ndarray:
    """The makespans with sends of :func:`batch_bubble_and_sends`' distinct rows ``of``, each under the loads of its
    group ``groups[owner]``, from the evaluation without them that ``capture`` followed (:func:`_loaded_tails`, all
    groups at once; event by event where that is not exact)."""
    assert capture is not None
    reached = [
        _Reached(r.free[of], None if r.arrived is None else r.arrived[of], [x[of] for x in r.link_free])
        for r in capture
    ]
    rows = distinct[of]
    columns = [rows[:, 2 + k] for k in range(p)] if rows.shape[1] > 3 else [rows[:, 2]]
    makespan, exact = _loaded_tails(p, m, v, schedule, rows[:, 0], rows[:, 1], columns, slow, reached, owner, groups)
    chunks = v if schedule == "interleaved" else 1
    for i in np.flatnonzero(~exact).tolist():
        group = groups[int(owner[i])]
        forward, backward = float(rows[i, 0]), float(rows[i, 1])
        sends: Any = tuple(float(c[i]) for c in columns) if len(columns) > 1 else float(columns[0][i])
        loads = group.loads
        if group.stream is not None:
            loads = dataclasses.replace(loads, dp_buckets=group.stream.buckets(backward / chunks))
        makespan[i] = evaluate_shared_nics(
            forward, backward, p, m, v, schedule, sends, slow, group.nics, loads=loads
        ).makespan_s
    return makespan


def _loaded_tails(
    p: int,
    m: int,
    v: int,
    schedule: str,
    forward_s: np.ndarray,
    backward_s: np.ndarray,
    p2p_s: Sequence[np.ndarray],
    slow: list[float],
    reached: list[_Reached],
    owner: np.ndarray,
    groups: Sequence[ScreenLoads],
) -> tuple[np.ndarray, np.ndarray]:
    """(makespan, exact) of :func:`evaluate_shared_nics` of each row with the NIC flows and loads of its group
    ``groups[owner]`` (the buckets from its stream), from an evaluation of the same rows without them (``reached``:
    :func:`_run`'s ``capture``), where ``exact``. The rows of every group (layout) of one program run at once: what
    differs between groups (which stages reduce beside which sends, the paces, the buckets) is one value a row.

    Where the only loads are the stages' reductions, each sharing NIC directions only with the sends into and out of
    its own stage (no two reductions on one direction; sends of two links, which may share one, are never in flight
    on it at once, as :func:`_run` has them, which prices no sharing between them), nothing changes until a
    reduction starts, in its stage's last operation: every send into a stage has arrived before that operation
    starts (it feeds one of the stage's operations), and every send out of it but the last operation's own left
    earlier. Where those earlier sends were delivered before the reduction's first bucket joins (``exact``; the rows
    where one was not are left to the event-by-event evaluation), the step ends as the stages' last operations run
    one after another (each feeds the next stage's last: every last send leaves after the one before it arrived):
    each starts when its stage is free and its input has arrived, its reduction's buckets join as
    :func:`evaluate_shared_nics` joins them, and its send shares the stage's NIC directions with the bucket in flight
    at the max-min fair paces of that evaluation (:func:`fair_paces`), delivered its latency after its last byte
    (:func:`_send_beside_buckets`). Where nothing shares, every time is the evaluation's without loads, bit for
    bit."""
    chunks = v if schedule == "interleaved" else 1
    exact = np.ones(np.shape(forward_s), dtype=bool)
    finals = _finals(p, m, v, schedule)
    if any(last.link >= 0 and _final_of(finals, last.to).after != last.stage for last in finals):
        return np.zeros(np.shape(forward_s)), ~exact
    present, slot = np.unique(owner, return_inverse=True)
    slot = slot.reshape(-1)
    mine = [groups[int(g)] for g in present.tolist()]
    shares = [
        _tail_shares(g.nics, g.loads.dp_flows if g.stream is not None else (), any(g.loads.tp_flows), p, m, v, schedule)
        for g in mine
    ]
    exact &= np.array([s is not None for s in shares])[slot]  # not a layout this runs: event by event
    none = _TailShares.nothing(p, len(_link_ends(p, m, v, schedule)))
    known = [none if s is None else s for s in shares]
    reducing, sharing = (np.stack([getattr(s, name) for s in known])[slot] for name in ("reducing", "sharing"))
    send_pace, bucket_pace = (np.stack([getattr(s, name) for s in known])[slot] for name in ("send", "bucket"))
    earlier = np.stack([s.earlier for s in known])  # (group, stage, link)
    buckets = _RowBuckets.of(mine, slot, backward_s / chunks, p)

    arrival: dict[int, np.ndarray] = {}
    last_end: list[Any] = [None] * p
    for last, seen in zip(finals, reached, strict=True):
        d = last.stage
        came = arrival[d] if last.after >= 0 else seen.arrived
        start = seen.free if came is None else np.maximum(seen.free, came)
        end = start + (forward_s if last.forward else backward_s) / chunks * slow[d]
        last_end[d] = end
        if bool(np.any(reducing[:, d])):
            joins = start + buckets.ready[0] + buckets.latency
            for link in np.flatnonzero(earlier[:, d].any(axis=0)).tolist():  # the stage's earlier sends beside its
                beside = earlier[slot, d, link]  # reduction: event by event where one is still in flight
                exact &= ~beside | (seen.link_free[link] <= joins)
        if last.to < 0:
            continue
        if last.link < 0:
            arrival[last.to] = end
            continue
        k = boundary_of(d, last.to, p)
        send = p2p_s[k] if len(p2p_s) > 1 else p2p_s[0]
        leave = np.maximum(end, seen.link_free[last.link])
        arrival[last.to] = leave + send
        at = np.flatnonzero(sharing[:, d])
        if at.size:
            tail = np.where(buckets.timed[at], np.minimum(buckets.send_latency[at, k], send[at]), 0.0 * send[at])
            arrival[last.to][at] = _send_beside_buckets(
                start[at], leave[at], send[at], tail, buckets.ready[:, at], buckets.seconds[:, at],
                buckets.latency[at], send_pace[at, d], bucket_pace[at, d], buckets.valid[:, at],
            )  # fmt: skip
    return functools.reduce(np.maximum, last_end), exact


class _TailShares(NamedTuple):
    """What :func:`_loaded_tails` reads of one layout in one program, a row a stage (:func:`_tail_shares`)."""

    reducing: np.ndarray
    """Whether the stage reduces."""
    sharing: np.ndarray
    """Whether its last operation's send shares a NIC direction with its reduction."""
    send: np.ndarray
    """That send's pace beside a bucket (1 where it shares nothing)."""
    bucket: np.ndarray
    """A bucket's pace beside that send (1 where it shares nothing)."""
    earlier: np.ndarray
    """(stage, link): whether the stage's sends over the link share a NIC direction with its reduction."""

    @staticmethod
    def nothing(p: int, links: int) -> _TailShares:
        """No stage reducing beside any send."""
        return _TailShares(
            np.zeros(p, dtype=bool), np.zeros(p, dtype=bool), np.ones(p), np.ones(p), np.zeros((p, links), dtype=bool)
        )


@functools.lru_cache(maxsize=1024)
def _tail_shares(
    nics: NicFlows, dp_flows: tuple[tuple[tuple[int, int], ...], ...], tp: bool, p: int, m: int, v: int, schedule: str
) -> _TailShares | None:
    """:class:`_TailShares` of a layout (:func:`_load_layout`) in the program (p, m, v, schedule), or None where the
    layout is not one :func:`_loaded_tails` runs."""
    layout = _load_layout(nics, dp_flows, tp)
    if layout is None:
        return None
    flows_of, crossed, pace = layout
    finals = _finals(p, m, v, schedule)
    ends = _link_ends(p, m, v, schedule)
    out = _TailShares.nothing(p, len(ends))
    for link, (a, b) in enumerate(ends):
        if ("dp", a) in flows_of:
            out.earlier[a, link] = bool(crossed.get((a, b), frozenset()) & crossed[("dp", a)])
    for last in finals:
        d = last.stage
        dp = ("dp", d)
        if dp not in flows_of:
            continue
        out.reducing[d] = True
        key = (d, last.to)
        if last.to >= 0 and last.link >= 0 and crossed.get(key, frozenset()) & crossed[dp]:
            out.sharing[d] = True
            out.send[d], out.bucket[d] = pace(key, dp), pace(dp, key)
    return out


class _RowBuckets(NamedTuple):
    """Each row's reduction (:func:`_loaded_tails`): its buckets' ready times and seconds alone, (bucket, row) —
    ``valid`` where the row's stream has that bucket —, their base latency, and its sends' latencies (``timed``:
    where its group gives them)."""

    ready: np.ndarray
    seconds: np.ndarray
    valid: np.ndarray
    latency: np.ndarray
    send_latency: np.ndarray
    timed: np.ndarray

    @staticmethod
    def of(groups: Sequence[ScreenLoads], slot: np.ndarray, op_s: np.ndarray, p: int) -> _RowBuckets:
        """The buckets of rows of ``groups[slot]`` whose last backward takes ``op_s`` (each group's
        :meth:`ReductionStream.ready`, the same arithmetic a row)."""
        streams = [g.stream for g in groups]
        count = max((len(s.done) for s in streams if s is not None), default=1)
        done = np.zeros((len(groups), count))
        seconds = np.zeros((len(groups), count))
        total = np.ones(len(groups))
        after = np.full(len(groups), np.nan)
        valid = np.zeros((len(groups), count), dtype=bool)
        for i, s in enumerate(streams):
            if s is not None:
                done[i, : len(s.done)], seconds[i, : len(s.seconds)], total[i] = s.done, s.seconds, s.total
                valid[i, : len(s.done)] = True
                after[i] = np.nan if s.after_s is None else s.after_s
        latency = np.array([g.loads.dp_latency_s for g in groups])
        timed = np.array([bool(g.loads.send_latency_s) for g in groups])
        send_latency = np.zeros((len(groups), p))
        for i, g in enumerate(groups):
            given = g.loads.send_latency_s[:p]
            send_latency[i, : len(given)] = given
        waits = ~np.isnan(after)[slot]
        ready = np.where(waits, op_s + after[slot], op_s * done[slot].T / total[slot])
        return _RowBuckets(ready, seconds[slot].T, valid[slot].T, latency[slot], send_latency[slot], timed[slot])


@functools.lru_cache(maxsize=256)
def _load_layout(
    nics: NicFlows, dp_flows: tuple[tuple[tuple[int, int], ...], ...], tp: bool
) -> tuple[dict[Any, dict[int, int]], dict[Any, frozenset[int]], Any] | None:
    """What :func:`_loaded_tails` reads of a layout's NIC directions, built once a layout: each load's flows a
    direction, the directions it crosses, and its pace beside another (:func:`evaluate_shared_nics`' rule); None where
    the layout is not one :func:`_loaded_tails` runs (TP loads, two reductions on one direction, a reduction beside a
    send that neither leaves nor enters its stage)."""
    if tp:
        return None
    reducer: dict[int, int] = {}  # each NIC direction's reducing stage
    for d, reduced in enumerate(dp_flows):
        for direction, _ in reduced:
            if reducer.setdefault(direction, d) != d:  # two reductions on one direction
                return None
    for a, b, flows in nics:  # a reduction shares only with its own stage's sends and its neighbours'
        for direction, _ in flows:
            if reducer.get(direction, a) not in (a, b):
                return None
    flows_of: dict[Any, dict[int, int]] = {(a, b): dict(flows) for a, b, flows in nics}
    for d, reduced in enumerate(dp_flows):
        if reduced:
            flows_of[("dp", d)] = dict(reduced)

    @functools.cache
    def pace(key: Any, other: Any) -> float:
        """``key``'s pace while ``other`` is in flight beside it (:func:`evaluate_shared_nics`' rule,
        :func:`fair_paces`)."""
        both = {k: tuple(flows_of[k].items()) for k in (key, other) if k in flows_of}
        return fair_paces(both)[key]

    return flows_of, {key: frozenset(flows) for key, flows in flows_of.items()}, pace


def _final_of(finals: Sequence[_Final], stage: int) -> _Final:
    """The last operation of ``stage`` among ``finals``."""
    return next(last for last in finals if last.stage == stage)


def _send_beside_buckets(
    began: np.ndarray,
    leave: np.ndarray,
    send: np.ndarray,
    tail: Any,
    ready: Sequence[Any] | np.ndarray,
    seconds: Sequence[Any] | np.ndarray,
    latency: Any,
    send_pace: Any,
    bucket_pace: Any,
    valid: Sequence[Any] | np.ndarray | None = None,
) -> np.ndarray:
    """When a send leaving at ``leave`` (``send`` seconds alone, the last ``tail`` of them its latency after its
    bytes) is delivered beside a reduction whose buckets (``seconds`` each alone) join ``latency`` after both
    ``began`` + their ``ready`` and the bucket before is done: while both are in flight, each runs at its pace
    (``send_pace``, ``bucket_pace``: :func:`evaluate_shared_nics`' max-min fair shares), otherwise alone. A send that
    never shared is delivered at ``leave`` + ``send`` (:func:`evaluate_shared_nics`' bits). Every argument but
    ``ready``, ``seconds`` and ``valid`` (one entry a bucket) is one value, or one a row; ``valid``: where a row has
    the bucket (rows of streams of fewer buckets run the rest as none)."""
    t = leave  # the send's bytes are counted up to t
    left = send - tail
    done = np.zeros(np.shape(leave), dtype=bool)
    shared = done.copy()
    bytes_end = np.full(np.shape(leave), np.nan)
    before: Any = None
    apart = True  # every bucket so far done before its row's send leaves
    for number, (at, alone) in enumerate(zip(ready, seconds, strict=True)):
        joins = (began + at if before is None else np.maximum(before, began + at)) + latency
        if apart:
            before = joins + alone
            if bool(np.all(before <= leave)):
                continue
            apart = False
        going = ~done if valid is None else ~done & valid[number]  # rows whose send is left beside this bucket
        # the send alone until the bucket joins
        alone_end = t + left
        ends = going & (alone_end <= joins)
        bytes_end = np.where(ends, alone_end, bytes_end)
        done = done | ends
        going = going & ~ends
        moved = going & (t < joins)
        left = np.where(moved, left - (joins - t), left)
        t = np.where(moved, joins, t)
        # the bucket, alone until the send leaves (t), then beside it until one of them ends
        after = joins + alone
        both = going & (after > t)
        rest = alone - (t - joins)
        bucket_end, send_end = t + rest / bucket_pace, t + left / send_pace
        bucket_first = both & (bucket_end <= send_end)
        send_first = both & ~bucket_first
        shared = shared | both
        after = np.where(
            bucket_first, bucket_end, np.where(send_first, send_end + (rest - (send_end - t) * bucket_pace), after)
        )
        left = np.where(bucket_first, left - (bucket_end - t) * send_pace, left)
        bytes_end = np.where(send_first, send_end, bytes_end)
        done = done | send_first
        t = np.where(bucket_first, bucket_end, t)
        before = after
        if bool(np.all(done)):  # the buckets after this one meet no send
            break
    bytes_end = np.where(done, bytes_end, t + left)
    return np.asarray(np.where(shared & (send_pace != 1.0), bytes_end + tail, leave + send))


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
    busy_s: bool = True,
    capture: list[_Reached] | None = None,
) -> ScheduleTimes:
    """:func:`evaluate_schedule`, operation by operation (numpy arrays without ``send_s`` from
    :data:`LEVELS_FROM_STAGES` stages on: level by level, :func:`_run_levels`, the same bits). ``busy_s=False``
    leaves each stage's compute out (an empty tuple; the makespan and stage ends are the same). ``capture``
    collects what each stage's last operation finds as it starts (:class:`_Reached`, in program order)."""
    chunks = v if schedule == "interleaved" else 1
    boundaries = isinstance(p2p_s, tuple)
    if boundaries and len(p2p_s) != p:
        raise ValueError(f"need a send for each of {p} stage boundaries, got {len(p2p_s)}")
    durations = p2p_s if boundaries else (p2p_s,)
    vector = any(isinstance(x, np.ndarray) for x in (forward_s, backward_s, *durations))
    if vector and send_s is None and p >= LEVELS_FROM_STAGES:
        return _run_levels(forward_s, backward_s, p, m, v, schedule, p2p_s, slow, busy_s, capture)
    program = schedule_program(p, m, v, schedule)
    finals = {last.place for last in _finals(p, m, v, schedule)} if capture is not None else set()
    biggest: Any = np.maximum if vector else max
    # a send of 0 s leaves when its operation ends (the stage's earlier sends on its link left earlier) and
    # arrives then, as no send does: the arrays run every send, a scalar none where there are none
    sending = True if vector else (boundaries or p2p_s > 0)
    # each directed link's send, where the boundaries differ (None: a scalar link of no sends)
    on_link = (
        [p2p_s[k] if vector or p2p_s[k] > 0 else None for k in _link_boundaries(program, p)] if boundaries else None
    )
    fwd = [forward_s / chunks * s for s in slow]
    bwd = [backward_s / chunks * s for s in slow]
    zero = 0.0 * (forward_s + backward_s + durations[0]) if vector else 0.0
    free = [zero] * p
    busy = [zero] * p
    link_free = [zero] * (p * p)
    arrived: list[Any] = [zero] * (2 * m * p * chunks)
    sends = 0
    for i, (d, forward, wait, out, link, feeds) in enumerate(program):
        if i in finals and capture is not None:
            capture.append(_Reached(free[d], None if wait < 0 else arrived[wait], list(link_free)))
        start = free[d] if wait < 0 else biggest(free[d], arrived[wait])
        span = fwd[d] if forward else bwd[d]
        end = start + span
        if busy_s:
            busy[d] = busy[d] + span  # not +=: the stages start from one shared zero array
        free[d] = end
        if out < 0:
            continue
        if link < 0 or not sending:
            arrived[out] = end
            continue
        send = p2p_s if on_link is None else on_link[link]
        if send is None:
            arrived[out] = end
            continue
        leave = biggest(end, link_free[link])
        arrived[out] = link_free[link] = leave + (send if send_s is None else send_s.get(feeds, send))
        sends += 1
    if vector and not any(bool(np.any(x > 0)) for x in durations):
        sends = 0
    return ScheduleTimes(functools.reduce(biggest, free), tuple(busy) if busy_s else (), tuple(free), sends)


class _Final(NamedTuple):
    """A stage's last operation in a :func:`schedule_program` (:func:`_finals`)."""

    stage: int
    place: int
    """Its place in the program."""
    forward: bool
    link: int
    """The directed link its output is sent over, or −1."""
    to: int
    """The stage its output feeds, or −1."""
    after: int
    """The stage whose last operation produces its input, or −1 (another operation, or none)."""


class _Reached(NamedTuple):
    """What a stage's last operation finds as it starts in an evaluation without NIC loads (:func:`_run`'s
    ``capture``): its stage free at, its input arrived at (None: it waits for none), each link free at."""

    free: Any
    arrived: Any
    link_free: list[Any]


@functools.lru_cache(maxsize=64)
def _finals(p: int, m: int, v: int, schedule: str) -> tuple[_Final, ...]:
    """Each stage's last operation of :func:`schedule_program`, in program order."""
    program = schedule_program(p, m, v, schedule)
    last = {d: i for i, (d, *_) in enumerate(program)}
    made = {program[i][3]: d for d, i in last.items() if program[i][3] >= 0}
    out = []
    for i in sorted(last.values()):
        d, forward, wait, slot, link, feeds = program[i]
        out.append(_Final(d, i, forward, link, feeds[2] % p if slot >= 0 else -1, made.get(wait, -1)))
    return tuple(out)


@functools.lru_cache(maxsize=64)
def _link_ends(p: int, m: int, v: int, schedule: str) -> tuple[tuple[int, int], ...]:
    """(sender, receiver) of each directed link of :func:`schedule_program`."""
    ends: dict[int, tuple[int, int]] = {}
    for d, _, _, _, link, feeds in schedule_program(p, m, v, schedule):
        if link >= 0 and link not in ends:
            ends[link] = (d, feeds[2] % p)
    return tuple(ends[k] for k in range(len(ends)))


def _level_finals(program: _Levels, p: int) -> list[tuple[int, int]]:
    """(level, place in it) of each stage's last operation of a program run level by level."""
    found = [(0, 0)] * p
    for number, level in enumerate(program.levels):
        stages = range(p)[level.stages] if isinstance(level.stages, slice) else level.stages.tolist()
        for place, d in enumerate(stages):
            found[d] = (number, place)
    return found


NicFlows = tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...]
"""Each directed stage link's load on the NIC directions its sends cross: (src stage, dst stage, ((NIC direction,
flows), …)) (:func:`dpsim.analytic.parallel.stage_link_nic_flows`); empty where no NIC direction serves two links."""


@dataclass(frozen=True)
class StageLoads:
    """What a pipelined step puts on the NIC directions of its sends besides the sends
    (:func:`evaluate_shared_nics`; built by :func:`dpsim.analytic.step.pipeline_stage_loads`). Each stage's entries
    are ((NIC direction, flows), …) in the numbering of the sends' :data:`NicFlows`, empty where it loads none.

    ``send_latency_s``: each stage boundary's latency α, which a send pays after its last byte (not sharing the NIC).
    ``tp_flows``: each stage's TP ring phases where its TP groups cross nodes; every forward (backward) operation
    then runs ``tp_counts[0]`` (``[1]``) collectives released over ``tp_layers`` layers as Megatron runs them (each
    layer's compute, then its collectives), each collective ``tp_phases`` ring phases of ``tp_phase_s`` alone, the
    last ``tp_latency_s`` of which is the phase's latency after its bytes. ``dp_flows``: each stage's data-parallel
    reduction, its buckets ``dp_buckets`` in order on one stream: (ready, seconds of bytes alone), ready counted from
    the start of the stage's last operation, each joining ``dp_latency_s`` (its schedule's base latency) after
    both it is ready and the bucket before it is done."""

    send_latency_s: tuple[float, ...] = ()
    tp_flows: tuple[tuple[tuple[int, int], ...], ...] = ()
    tp_counts: tuple[int, int] = (0, 0)
    tp_layers: tuple[int, int] = (1, 1)
    tp_phases: int = 0
    tp_phase_s: float = 0.0
    tp_latency_s: float = 0.0
    dp_flows: tuple[tuple[tuple[int, int], ...], ...] = ()
    dp_buckets: tuple[tuple[float, float], ...] = ()
    dp_latency_s: float = 0.0

    def op_segments(self, d: int, forward: bool, span: float) -> list[tuple[bool, float]] | None:
        """Operation of ``span`` seconds on stage ``d`` as (bytes?, seconds alone) segments — compute and latencies
        (False) and its TP phases' bytes (True) — or None where its TP loads no NIC direction."""
        if d >= len(self.tp_flows) or not self.tp_flows[d] or self.tp_phases <= 0:
            return None
        count = self.tp_counts[0 if forward else 1]
        if count <= 0:
            return None
        layers = max(1, min(count, self.tp_layers[0 if forward else 1]))
        one = self.tp_phases * self.tp_phase_s
        compute = max(0.0, span - count * one) / layers
        segments: list[tuple[bool, float]] = []
        for i in range(layers):
            segments.append((False, compute))
            for _ in range((count // layers + (1 if i < count % layers else 0)) * self.tp_phases):
                segments += [(True, self.tp_phase_s - self.tp_latency_s), (False, self.tp_latency_s)]
        return segments


@dataclass(frozen=True)
class ReductionStream:
    """A stage's data-parallel reduction as its last backward releases it (:func:`dpsim.analytic.step
    .pipeline_load_shape`): the bytes done at each bucket's end (``done``, of ``total``), each bucket's seconds alone
    less the schedule's base latency (``seconds``), and, without overlap, how long after that backward every
    bucket is ready (``after_s``; None: each ready as the backward has produced its bytes)."""

    done: tuple[float, ...]
    total: float
    seconds: tuple[float, ...]
    after_s: float | None = None

    def ready(self, op_s: Any) -> list[Any]:
        """Each bucket's ready time from the start of a last backward of ``op_s`` seconds (floats or arrays)."""
        if self.after_s is not None:
            return [op_s + self.after_s] * len(self.done)
        return [op_s * done / self.total for done in self.done]

    def buckets(self, op_s: float) -> tuple[tuple[float, float], ...]:
        """:attr:`StageLoads.dp_buckets` of a last backward of ``op_s`` seconds: (ready, seconds) each."""
        return tuple(zip(self.ready(op_s), self.seconds, strict=True))


def fair_paces(loads: dict[Any, tuple[tuple[int, int], ...]]) -> dict[Any, float]:
    """Each load's pace (relative to alone) while all of ``loads`` are in flight: ((NIC direction, flows), …) each,
    every flow of a load at one rate, a direction's capacity shared max-min fairly between the flows on it
    (progressive filling, Bertsekas & Gallager, *Data Networks*, §6.5.2: raise every unfrozen flow's rate together,
    freeze the flows of each direction that fills; the rule :class:`dpsim.sim.network.FluidNetwork` shares its links
    by). A load alone runs its flows at 1/own each (own: its most flows on one direction), its pace 1; beside others
    its pace is own × its flows' rate. Where that rate is its busiest direction's equal share 1/n (n every flow in
    flight there: the processor-sharing rule of stop 44–49), the pace is ``own / n`` exactly (a level summed over
    rounds that lands within rounding of 1/n is that share); it exceeds it where a flow on that direction is held
    below its share elsewhere and leaves the rest of the direction to the others."""
    total: dict[int, int] = {}
    for flows in loads.values():
        for at, n in flows:
            total[at] = total.get(at, 0) + n
    own = {key: max((n for _, n in flows), default=0) for key, flows in loads.items()}
    share = {key: max((total[at] for at, _ in flows), default=1) for key, flows in loads.items()}
    if all(share[key] == own[key] for key in loads):  # each alone on its busiest direction (or sharing none)
        return {key: 1.0 for key in loads}
    left = dict.fromkeys(total, 1.0)
    load = dict(total)
    rising = {key for key, flows in loads.items() if flows}
    level = 0.0
    rate: dict[Any, float] = {}
    while rising:
        step = min(left[at] / load[at] for at in load if load[at] > 0)
        level += step
        full = {at for at in load if load[at] > 0 and left[at] - step * load[at] <= 1e-12 * load[at]}
        for at in load:
            left[at] -= step * load[at]
        frozen = {key for key in rising if any(at in full for at, _ in loads[key])}
        if not frozen:  # rounding: freeze the tightest
            frozen = set(rising)
        for key in frozen:
            rising.discard(key)
            rate[key] = level
            for at, n in loads[key]:
                load[at] -= n
    out = {}
    for key, flows in loads.items():
        if not flows:
            out[key] = 1.0
            continue
        equal = own[key] / share[key]
        found = own[key] * rate[key]
        out[key] = equal if found <= equal * (1 + 1e-12) else min(1.0, found)
    return out


@dataclass
class _Flowing:
    """Bytes on the wire (:func:`evaluate_shared_nics`): a send, a TP phase or a reduction; its progress at
    ``since``."""

    key: Any
    """What loads the NIC directions: a directed stage link (src, dst), ("tp", stage) or ("dp", stage)."""
    op: Any
    departed: float
    since: float
    left: float
    """What is left of its bytes in seconds at its pace alone."""
    rate: float
    """Its pace now, relative to alone (1: nothing else shares its busiest NIC direction)."""
    duration: float = 0.0
    """Bytes and latency alone: where it never shared, it ends exactly ``departed + duration``."""
    tail: float = 0.0
    """Latency after its last byte."""
    version: int = 0

    @property
    def end(self) -> float:
        return self.since + self.left / self.rate


def evaluate_shared_nics(
    forward_s: float,
    backward_s: float,
    p: int,
    m: int,
    v: int,
    schedule: str,
    p2p_s: Any,
    slow: list[float],
    nics: NicFlows,
    record: list[tuple[str, int, Op, float, float]] | None = None,
    loads: StageLoads | None = None,
    every_segment: bool = False,
) -> ScheduleTimes:
    """:func:`_run` where the sends of different directed links share NIC directions (``nics``), event by event.

    The rules of the module docstring, with one more: a send in flight loads each NIC direction it crosses with its
    flows, and runs at its max-min fair share (:func:`fair_paces`) — its alone pace (its boundary's ``p2p_s``, which
    prices its own flows on that NIC, :func:`dpsim.analytic.parallel.stage_boundary_ranks_per_nic`) times c / n at
    its busiest direction, c its own flows there and n every flow in flight there (TCP's and NCCL's flows share a
    NIC about equally: processor sharing, the rule :func:`dpsim.analytic.parallel.ring_boundary_links` prices a
    cable by), or more where a flow beside it is held below its share on another direction and leaves it the rest
    (the shared fabric's :class:`dpsim.sim.network.FluidNetwork`; stops 44-49 kept the equal share there, up to
    1 % slower on the draws of ``benchmarks/pipeline_fabric_draws.py``). Its pace changes only when a load starts
    or ends among those linked to it through shared directions. Sends on one directed link still go
    one after another (the next leaves when the previous is delivered). Where no two sends of different links are
    ever in flight on one direction at once, every time is :func:`_run`'s bit for bit (a send alone ends at its
    departure plus its duration). ``record`` collects (kind: "F" | "B" | "send", stage (a send's sender),
    operation, start, end) of each operation and send, for the shared fabric's release times.

    ``loads`` (:class:`StageLoads`) adds what else crosses those NIC directions in the step, by the same rule (the
    shared fabric, :mod:`dpsim.sim.shared`, runs all of them as flows): a send's latency α is paid after its last
    byte, off the NIC (without ``loads`` it shares with the bytes: 10 µs beside transfers of milliseconds); where a
    stage's TP groups cross nodes, each of its operations runs as its layers' compute and its TP collectives' ring
    phases (bytes, then the phase's latency), the bytes sharing the NIC with the sends in flight (issue 9 item 6:
    an operation whose first collective starts while the send before it is on the NIC lasts longer by what they
    share, and so does the send); and each stage's data-parallel reduction shares the NIC with the sends still
    queued when it starts (a last stage's gradient sends behind a slow link drain beside its reduction, and the
    first stage waits for them). An operation that shares nothing ends at its start plus its span, bit for bit.
    An operation with TP segments runs as one event while nothing else is on its NIC directions, and is stepped
    segment by segment only from the one in progress when a send or bucket joins (each segment took its seconds
    alone until then), so a long step's millions of TP phases cost events only where they share (stop 49: GPT-3
    175B at TP 16 x PP 8 with 256 micro-batches, about 6*10^6 TP phases, runs 2.5*10^5 events). ``every_segment``
    steps every segment as its own events, as before (the check of that shortcut: the same times, in another order
    of sums where an operation shared)."""
    import heapq
    from collections import deque

    extra = loads if loads is not None else StageLoads()
    chunks = v if schedule == "interleaved" else 1
    last = p * chunks - 1
    orders = schedule_order(p, m, v, schedule)
    boundaries = isinstance(p2p_s, tuple)
    if boundaries and len(p2p_s) != p:
        raise ValueError(f"need a send for each of {p} stage boundaries, got {len(p2p_s)}")
    flows_of: dict[Any, tuple[tuple[int, int], ...]] = {(a, b): flows for a, b, flows in nics}
    for d, flows in enumerate(extra.tp_flows):
        if flows:
            flows_of[("tp", d)] = flows
    for d, flows in enumerate(extra.dp_flows):
        if flows:
            flows_of[("dp", d)] = flows
    # NIC directions with the same loads (the same flows of the same keys: a TP group's 64 directions on two 8-NIC
    # nodes are a few such classes) always carry the same flows in flight: each counted once, by its first direction
    users: dict[int, list[tuple[Any, int]]] = {}
    for key, flows in flows_of.items():
        for at, n in flows:
            users.setdefault(at, []).append((key, n))
    first: dict[tuple[tuple[Any, int], ...], int] = {}
    alike = {at: first.setdefault(tuple(found), at) for at, found in users.items()}
    flows_of = {key: tuple(dict.fromkeys((alike[at], n) for at, n in flows)) for key, flows in flows_of.items()}
    sharing: dict[int, list[Any]] = {}
    for key, flows in flows_of.items():
        for at, _ in flows:
            sharing.setdefault(at, []).append(key)
    in_flight: dict[int, int] = {}
    fwd = [forward_s / chunks * s for s in slow]
    bwd = [backward_s / chunks * s for s in slow]
    free = [0.0] * p
    busy = [0.0] * p
    pos = [0] * p
    running = [False] * p
    arrived: dict[Op, float] = {}
    queued: dict[tuple[int, int], deque[Op]] = {}
    on_wire: dict[Any, _Flowing] = {}
    # an operation run as segments (its TP loads a NIC): (segments, next one, start, span, shared any, its record,
    # the segments' seconds alone as an array)
    stepping: dict[int, tuple[list[tuple[bool, float]], int, float, float, bool, int, np.ndarray]] = {}
    # an operation run as one event while nothing else is on its TP's NIC directions, split where something joins
    # (split): (segments, their seconds, first segment of the stretch, when it began, start, span, shared any, its
    # record, token)
    lazy: dict[int, tuple[list[tuple[bool, float]], np.ndarray, int, float, float, float, bool, int, int]] = {}
    tokens = [0] * p
    cut: dict[tuple[int, bool, float], tuple[list[tuple[bool, float]], np.ndarray] | None] = {}
    reducing: dict[int, tuple[float, int]] = {}  # a stage's reduction: when its last operation began, its bucket
    # events: (time, order, 0: an operation ends / 1: bytes end / 2: a send is delivered / 3: an operation's segment
    # ends / 4: a reduction starts / 5: an operation run as one event ends, what)
    events: list[tuple[float, int, int, Any]] = []
    order = 0
    sends = 0
    now = 0.0

    def push(at: float, kind: int, what: Any) -> None:
        nonlocal order
        heapq.heappush(events, (at, order, kind, what))
        order += 1

    fair: dict[frozenset[Any], dict[Any, float]] = {}
    # the loads that share a NIC direction with each one (itself among them), in one order
    near = {key: list(dict.fromkeys(o for at, _ in flows for o in sharing[at])) for key, flows in flows_of.items()}

    def paces(key: Any) -> list[tuple[Any, float]]:
        """(load, pace) of the loads in flight linked to ``key`` through NIC directions they share, those sharing
        one with ``key`` first (:func:`fair_paces`; max-min fair shares of independent groups are independent)."""
        found = [o for o in near.get(key, ()) if o in on_wire]
        seen = {key, *found}
        for other in found:
            for o in near[other]:
                if o not in seen and o in on_wire:
                    seen.add(o)
                    found.append(o)
        group = frozenset(found)  # the paces follow from which loads are in flight: once a group
        if group not in fair:
            fair[group] = fair_paces({o: flows_of[o] for o in found})
        rates = fair[group]
        return [(o, rates[o]) for o in found]

    def repace(key: Any, rates: list[tuple[Any, float]] | None = None) -> None:
        """New paces for the bytes in flight linked to ``key`` through shared NIC directions (at ``now``)."""
        for other, rate in paces(key) if rates is None else rates:
            flowing = on_wire[other]
            if other == key or flowing.end <= now:
                continue
            if rate != flowing.rate:
                flowing.left -= (now - flowing.since) * flowing.rate
                flowing.since, flowing.rate = now, rate
                flowing.version += 1
                push(flowing.end, 1, (flowing, flowing.version))

    def put_on(key: Any, what: Any, duration: float, tail: float) -> _Flowing:
        for other in near.get(key, ()):  # an operation run as one event beside it: stepped from here on
            if other[0] == "tp" and other != key and other[1] in lazy:
                split(other[1])
        for at, n in flows_of.get(key, ()):
            in_flight[at] = in_flight.get(at, 0) + n
        flowing = on_wire[key] = _Flowing(key, what, now, now, duration - tail, 1.0, duration, tail)
        rates = paces(key) if flows_of.get(key) else [(key, 1.0)]
        flowing.rate = next(rate for other, rate in rates if other == key)
        push(flowing.end if flowing.rate != 1.0 else now + flowing.left, 1, (flowing, 0))
        repace(key, rates)
        return flowing

    def depart(link: tuple[int, int]) -> None:
        nonlocal sends
        op = queued[link].popleft()
        k = boundary_of(link[0], link[1], p)
        duration = p2p_s[k] if boundaries else p2p_s
        tail = extra.send_latency_s[k] if extra.send_latency_s else 0.0
        sends += 1
        put_on(link, op, duration, min(tail, duration))

    def deliver(op: Op, src: int, dst: int) -> None:
        duration = (p2p_s[boundary_of(src, dst, p)] if boundaries else p2p_s) if src != dst else 0.0
        if duration <= 0:
            arrived[op] = now
            begin(dst)
            return
        queued.setdefault((src, dst), deque()).append(op)
        if (src, dst) not in on_wire:
            depart((src, dst))

    def begin(d: int) -> None:
        if running[d] or pos[d] == len(orders[d]):
            return
        op = orders[d][pos[d]]
        kind, _, c = op
        start = free[d]
        if kind == "B" or c > 0:
            if op not in arrived:
                return
            start = max(free[d], arrived[op])
        span = fwd[d] if kind == "F" else bwd[d]
        busy[d] = busy[d] + span
        running[d] = True
        at = -1
        if record is not None:
            at = len(record)
            record.append((kind, d, op, start, start + span))
        if pos[d] == len(orders[d]) - 1 and d < len(extra.dp_flows) and extra.dp_flows[d] and extra.dp_buckets:
            reducing[d] = (start, 0)
            push(start + extra.dp_buckets[0][0] + extra.dp_latency_s, 4, d)
        found = segments_of(d, kind == "F", span)
        if found is None:
            push(start + span, 0, d)
            return
        stepping[d] = (found[0], 0, start, span, False, at, found[1])
        push(start, 3, (d, -1))

    def segments_of(d: int, forward: bool, span: float) -> tuple[list[tuple[bool, float]], np.ndarray] | None:
        """:meth:`StageLoads.op_segments` with their seconds alone as an array, once a (stage, pass, span)."""
        key = (d, forward, span)
        if key not in cut:
            segments = extra.op_segments(d, forward, span)
            seconds = None if segments is None else np.array([max(0.0, x) for _, x in segments])
            cut[key] = None if segments is None or seconds is None else (segments, seconds)
        return cut[key]

    def ends_from(began: float, seconds: np.ndarray, i: int) -> np.ndarray:
        """``began`` and the ends of segments ``i``, ``i`` + 1, … run alone from it, summed one after another as
        the segment-by-segment run adds them (``np.add.accumulate`` is sequential): the same floats."""
        return np.add.accumulate(np.concatenate(([began], seconds[i:])))

    def split(d: int) -> None:
        """Stage ``d``'s operation run as one event, stepped again from its segment in progress at ``now``: nothing
        shared its NIC directions since the stretch began, so each segment took its seconds alone."""
        segments, seconds, i, began, start, span, shared, at, _ = lazy[d]
        ends = ends_from(began, seconds, i)
        j = int(np.searchsorted(ends, now, side="right"))  # segment i + j - 1 began at ends[j - 1] <= now
        if j >= len(ends):  # its last segment has ended: it ends as its event says
            return
        del lazy[d]
        k, begun = i + j - 1, float(ends[j - 1])
        stepping[d] = (segments, k + 1, start, span, shared, at, seconds)
        is_bytes, alone = segments[k]
        if not is_bytes:
            push(begun + alone, 3, (d, k))
            return
        key = ("tp", d)  # on the wire since it began, at its pace alone (put_on's repace then shares it)
        for direction, n in flows_of[key]:
            in_flight[direction] = in_flight.get(direction, 0) + n
        flowing = on_wire[key] = _Flowing(key, d, begun, begun, alone, 1.0, alone, 0.0)
        push(begun + alone, 1, (flowing, 0))

    def delivered(flowing: _Flowing) -> None:
        link = flowing.key
        if record is not None:
            record.append(("send", link[0], flowing.op, flowing.departed, now))
        arrived[flowing.op] = now
        if queued[link]:
            depart(link)
        begin(link[1])

    def group_paces(loads: tuple[Any, ...]) -> dict[Any, float]:
        """:func:`fair_paces` of the loads ``loads`` in flight together, as :func:`paces` caches them."""
        group = frozenset(loads)
        if group not in fair:
            fair[group] = fair_paces({o: flows_of[o] for o in loads})
        return fair[group]

    def fast_forward(d: int, i: int) -> bool:
        """Stage ``d``'s operation from its segment ``i`` (at ``now``) while one load is in flight beside its TP
        and nothing else is due: each segment as the events would run it — a TP phase's bytes at their pace beside
        that load, which is repaced as they start and end, its latency alone — with the same arithmetic in the same
        order, but no event a segment. Stops before a segment that would end at or past the next event due or the
        load's end (or the operation's end), and resumes there as an event of its own; False where it ran none.
        Every time is the segment-by-segment run's bit for bit (stop 50: GPT-3 175B TP 16 × PP 8, 256
        micro-batches, 2.5·10^5 → ~10^4 events)."""
        key = ("tp", d)
        beside = [o for o in near[key] if o in on_wire]
        if len(beside) != 1 or any(o in on_wire and o != beside[0] for o in near[beside[0]]):
            return False
        if any(o[0] == "tp" and o != key and o[1] in lazy for o in near[key]):
            return False
        (other,) = beside
        flowing = on_wire[other]
        pending = None  # the load's own end as last pushed: it moves as the loop repaces it
        while events and events[0][2] == 1:
            ends, version = events[0][3]
            if version != ends.version:
                heapq.heappop(events)  # bytes repaced since: the loop would pass over them
            elif ends is flowing and pending is None:
                pending = heapq.heappop(events)
            else:
                break
        horizon = events[0][0] if events else math.inf
        both = group_paces((key, other))
        tp_rate, on_rate, off_rate = both[key], both[other], group_paces((other,))[other]
        segments, _, start, span, shared, at, seconds = stepping[d]
        left, since, rate, version = flowing.left, flowing.since, flowing.rate, flowing.version
        t, ran = now, False
        while True:
            while i < len(segments) and segments[i][1] <= 0:
                i += 1
            if i == len(segments) or since + left / rate <= t:
                break
            is_bytes, alone = segments[i]
            if not is_bytes:
                end = t + alone
                if not (end < horizon and end < since + left / rate):
                    break
                t, i, ran = end, i + 1, True
                continue
            on_left, on_since, on_version = left, since, version
            if on_rate != rate:
                on_left, on_since, on_version = left - (t - since) * rate, t, version + 1
            end = t + alone / tp_rate if tp_rate != 1.0 else t + alone
            if not (end < horizon and end < on_since + on_left / on_rate):
                break
            off_left, off_since, off_version = on_left, on_since, on_version
            if off_rate != on_rate:
                off_left, off_since, off_version = on_left - (end - on_since) * on_rate, end, on_version + 1
            if not off_since + off_left / off_rate > end:
                break
            left, since, rate, version = off_left, off_since, off_rate, off_version
            shared = shared or tp_rate != 1.0
            t, i, ran = end, i + 1, True
        if pending is not None and (not ran or version == flowing.version):
            heapq.heappush(events, pending)  # unchanged: back as it was (its order kept)
        if not ran:
            return False
        stepping[d] = (segments, i, start, span, shared, at, seconds)
        if version != flowing.version:
            flowing.left, flowing.since, flowing.rate, flowing.version = left, since, rate, version
            push(flowing.end, 1, (flowing, version))
        push(t, 3, (d, i - 1))
        return True

    def advance(d: int) -> None:
        """Stage ``d``'s operation at its next segment (at ``now``), or its end."""
        segments, i, start, span, shared, at, seconds = stepping[d]
        while i < len(segments) and segments[i][1] <= 0:
            i += 1
        if i == len(segments):
            del stepping[d]
            push(start + span if not shared else now, 0, d)
            if shared and record is not None:  # its end as run
                record[at] = (*record[at][:4], now)
            return
        if (
            not every_segment
            and all(in_flight.get(direction, 0) == 0 for direction, _ in flows_of[("tp", d)])
            and not any(other[0] == "tp" and other[1] in lazy for other in near[("tp", d)])
        ):
            # nothing else on its NIC directions (nor another stage's TP run as one event: not counted in flight):
            # the rest as one event (split where something joins)
            del stepping[d]
            tokens[d] += 1
            end = start + span if not shared else float(ends_from(now, seconds, i)[-1])
            lazy[d] = (segments, seconds, i, now, start, span, shared, at, tokens[d])
            push(end, 5, (d, tokens[d]))
            return
        if not every_segment and fast_forward(d, i):
            return
        stepping[d] = (segments, i + 1, start, span, shared, at, seconds)
        is_bytes, alone = segments[i]
        if not is_bytes:
            push(now + alone, 3, (d, i))
            return
        flowing = put_on(("tp", d), d, alone, 0.0)
        if flowing.rate != 1.0:
            stepping[d] = (segments, i + 1, start, span, True, at, seconds)

    for d in range(p):
        begin(d)
    while events:
        now, _, kind, what = heapq.heappop(events)
        if kind == 5:  # an operation run as one event ends, unless it was split since
            d, token = what
            if d not in lazy or lazy[d][8] != token:
                continue
            shared, at = lazy.pop(d)[6:8]
            if shared and record is not None:  # its end as run
                record[at] = (*record[at][:4], now)
            kind, what = 0, d
        if kind == 0:
            d = what
            op = orders[d][pos[d]]
            pos[d] += 1
            running[d] = False
            free[d] = now
            f, mb, c = op
            if f == "F" and c < last:
                deliver(("F", mb, c + 1), d, (c + 1) % p)
            elif f == "F":
                arrived[("B", mb, c)] = now  # the last chunk's backward follows its forward
            elif c > 0:
                deliver(("B", mb, c - 1), d, (c - 1) % p)
            begin(d)
            continue
        if kind == 3:
            advance(what[0])
            continue
        if kind == 4:
            put_on(("dp", what), what, extra.dp_buckets[reducing[what][1]][1], 0.0)
            continue
        if kind == 2:
            delivered(what)
            continue
        flowing, version = what
        if version != flowing.version:
            continue
        key = flowing.key
        del on_wire[key]
        for at, n in flows_of.get(key, ()):
            in_flight[at] -= n
        repace(key)
        if isinstance(key[0], int):  # a send: delivered after its latency (exactly its duration where it shared none)
            at = (
                flowing.departed + flowing.duration
                if flowing.version == 0 and flowing.rate == 1.0
                else now + flowing.tail
            )
            if at == now:
                delivered(flowing)
            else:
                push(at, 2, flowing)
        elif key[0] == "dp":  # the stage's next bucket
            d = key[1]
            began, k = reducing[d]
            if k + 1 < len(extra.dp_buckets):
                reducing[d] = (began, k + 1)
                push(max(now, began + extra.dp_buckets[k + 1][0]) + extra.dp_latency_s, 4, d)
        elif key[0] == "tp":
            d = key[1]
            if flowing.version:
                stepping[d] = (*stepping[d][:4], True, *stepping[d][5:])
            advance(d)
    if any(pos[d] < len(orders[d]) for d in range(p)):
        raise ValueError(f"pipeline schedule {schedule!r} deadlocks (p={p}, m={m}, v={v})")
    return ScheduleTimes(max(free), tuple(busy), tuple(free), sends)


LEVELS_FROM_STAGES = 4
"""Stages from which numpy arrays run a program level by level (:func:`_levels`): a level holds up to p operations,
and at 2 stages its dozen numpy calls cost more than the operations they replace (the programs of
``benchmarks/planner.py``'s llama2-7b and gpt3-175b screens, CPU time, as first written: 2 stages 1.9× slower level by
level, 4 even, 8 1.7× and 32 3.6× faster)."""


class _Level(NamedTuple):
    """The operations of one level of a program (at most one a stage, in stage order), as indices: their stages (a
    slice where they are consecutive), their spans' rows (forward: the stage; backward: p + the stage), the
    registers of the inputs they wait for (0: none, a row of −inf), and of what they produce: positions within the
    level and registers of the outputs that stay on their stage (``local``), and positions, links and registers of
    those that are sent (``sent``; None where there are none)."""

    stages: np.ndarray | slice
    spans: np.ndarray
    waits: np.ndarray
    local_at: np.ndarray | None
    local_to: np.ndarray | None
    sent_at: np.ndarray | None
    sent_on: np.ndarray | None
    sent_to: np.ndarray | None


@dataclass(frozen=True)
class _Levels:
    """A :func:`schedule_program` as levels (:func:`_levels`)."""

    levels: tuple[_Level, ...]
    registers: int
    """Rows that hold an input between the operation that produces it and the one that waits for it (row 0: −inf)."""
    links: int
    link_boundary: np.ndarray
    """The stage boundary of each link (:func:`boundary_of`)."""
    sends: int
    operations: int


_compiled: OrderedDict[tuple[int, int, int, str], _Levels] = OrderedDict()


def _levels(p: int, m: int, v: int, schedule: str) -> _Levels:
    """:func:`_build_levels`, kept as :func:`schedule_program` keeps programs (up to :data:`CACHED_OPERATIONS`)."""
    return _kept(_compiled, (p, m, v, schedule), _build_levels, lambda levels: levels.operations)


def _build_levels(p: int, m: int, v: int, schedule: str) -> _Levels:
    """:func:`schedule_program` cut into levels: an operation's level is one more than the latest of its stage's
    previous operation and the one that produces its input (a send's link was last used by an earlier operation of
    the same stage, since a directed link has one sender). The operations of a level depend on none of each other,
    so each level is a handful of numpy operations over all its stages at once; each value is still the same max or
    sum of the same two values as operation by operation, so the result is the same bit for bit. Inputs live in
    registers reused once read (a few per stage rather than 2·p·m·v)."""
    program = schedule_program(p, m, v, schedule)
    stage_level = [0] * p
    made_at: dict[int, int] = {}
    by_level: list[list[Step]] = []
    links = 0
    for step in program:
        d, _, wait, out, link, _ = step
        level = max(stage_level[d], made_at[wait] if wait >= 0 else 0) + 1
        stage_level[d] = level
        if out >= 0:
            made_at[out] = level
        if level > len(by_level):
            by_level.append([])
        by_level[level - 1].append(step)
        links = max(links, link + 1)
    register: dict[int, int] = {}
    spare: list[int] = []
    used = 1
    levels = []
    sends = 0
    for steps in by_level:
        steps.sort(key=lambda step: step[0])  # independent of each other: any order, stage order for slices
        waits = [register.pop(w) if w >= 0 else 0 for _, _, w, _, _, _ in steps]
        local_at, local_to, sent_at, sent_on, sent_to = [], [], [], [], []
        for i, (_, _, _, out, link, _) in enumerate(steps):
            if out < 0:
                continue
            if spare:
                reg = spare.pop()
            else:
                reg, used = used, used + 1
            register[out] = reg
            if link < 0:
                local_at.append(i)
                local_to.append(reg)
            else:
                sent_at.append(i)
                sent_on.append(link)
                sent_to.append(reg)
        spare.extend(w for w in waits if w)
        sends += len(sent_at)
        stages = [d for d, _, _, _, _, _ in steps]
        consecutive = stages[-1] - stages[0] == len(stages) - 1
        levels.append(
            _Level(
                slice(stages[0], stages[-1] + 1) if consecutive else np.array(stages, dtype=np.intp),
                np.array([d if forward else p + d for d, forward, _, _, _, _ in steps], dtype=np.intp),
                np.array(waits, dtype=np.intp),
                *(np.array(x, dtype=np.intp) if x else None for x in (local_at, local_to, sent_at, sent_on, sent_to)),
            )
        )
    boundary = np.array(_link_boundaries(program, p), dtype=np.intp)
    return _Levels(tuple(levels), used, links, boundary, sends, len(program))


def _run_levels(
    forward_s: Any,
    backward_s: Any,
    p: int,
    m: int,
    v: int,
    schedule: str,
    p2p_s: Any,
    slow: list[float],
    busy_s: bool = True,
    capture: list[_Reached] | None = None,
) -> ScheduleTimes:
    """:func:`_run` on numpy arrays, level by level (:func:`_levels`): every send runs (one of 0 s leaves when its
    operation ends, as no send does), and each element equals its own scalar evaluation bit for bit; ``capture``
    as :func:`_run`'s."""
    chunks = v if schedule == "interleaved" else 1
    program = _levels(p, m, v, schedule)
    boundaries = isinstance(p2p_s, tuple)
    f, b, *cs = np.broadcast_arrays(forward_s, backward_s, *(p2p_s if boundaries else (p2p_s,)))
    shape = f.shape
    f, b = (np.asarray(x, dtype=float).reshape(-1) for x in (f, b))
    cs = [np.asarray(x, dtype=float).reshape(-1) for x in cs]
    c = cs[0]
    # each link's sends where the boundaries differ (rows: links)
    on_link = np.array(cs)[program.link_boundary] if boundaries else None
    spans = np.array([f / chunks * s for s in slow] + [b / chunks * s for s in slow])
    zero = 0.0 * (f + b + c)
    free = np.tile(zero, (p, 1))
    busy = free.copy()
    link_free = np.tile(zero, (max(1, program.links), 1))
    arrived = np.empty((program.registers, f.size))
    arrived[0] = -np.inf
    # each stage's last operation: (its level, its place there), what capture reads before that level runs
    lasts: dict[int, list[tuple[int, int]]] = {}
    reached: dict[int, _Reached] = {}
    if capture is not None:
        for d, (level, place) in enumerate(_level_finals(program, p)):
            lasts.setdefault(level, []).append((d, place))
    for number, (stages, spans_at, waits, local_at, local_to, sent_at, sent_on, sent_to) in enumerate(program.levels):
        for d, place in lasts.get(number, ()):
            wait = waits[place]
            links = [row.reshape(shape).copy() for row in link_free]
            came = arrived[wait].reshape(shape).copy() if wait else None
            reached[d] = _Reached(free[d].reshape(shape).copy(), came, links)
        span = spans[spans_at]
        end = np.maximum(free[stages], arrived[waits]) + span
        if busy_s:
            busy[stages] += span
        free[stages] = end
        if local_at is not None:
            arrived[local_to] = end[local_at]
        if sent_at is not None:
            done = np.maximum(end[sent_at], link_free[sent_on]) + (c if on_link is None else on_link[sent_on])
            link_free[sent_on] = done
            arrived[sent_to] = done
    sends = program.sends if any(bool(np.any(x > 0)) for x in cs) else 0
    if capture is not None:
        capture.extend(reached[last.stage] for last in _finals(p, m, v, schedule))
    ends = tuple(row.reshape(shape) for row in free)
    computed = tuple(row.reshape(shape) for row in busy) if busy_s else ()
    return ScheduleTimes(functools.reduce(np.maximum, ends), computed, ends, sends)
