"""Where the planner's screen spends its event runs with per-chunk bucket releases (stop 54; runs with this folder's
three patches applied (branch fabric-54), whose pipeline_schedule has ``fast_start``/``start``; not on main).

PYTHONPATH=. python benchmarks/results/fabric-52/event_rows.py capture MODEL COUNT FILE  (about 80 s CPU for gpt3-175b)
PYTHONPATH=. python benchmarks/results/fabric-52/event_rows.py split FILE
PYTHONPATH=. python benchmarks/results/fabric-52/event_rows.py shift FILE
PYTHONPATH=. python benchmarks/results/fabric-52/event_rows.py arrivals FILE
PYTHONPATH=. python benchmarks/results/fabric-52/event_rows.py floor MODEL [profile|null]
PYTHONPATH=. python benchmarks/results/fabric-52/event_rows.py order FILE
PYTHONPATH=. python benchmarks/results/fabric-52/event_rows.py plain FILE

``capture``: the screen of ``benchmarks/planner.py``'s row MODEL with every ``evaluate_shared_nics`` call stood in for
by the plain schedule (``_run``; its record from ``_prefix_times``), and COUNT of those calls (inputs as the screen
passes them) drawn at random (seed 0) into FILE (pickle). ``split``: CPU seconds of the drawn runs as the screen runs
them, rows whose event run starts from the first release (no two-link overlap before it: ``start.clear`` infinite)
apart from the rest. ``shift``: for each of the rest, the whole event run against the operation-by-operation run
(``_prefix_times``): the operations before the first release, how many start at another time, the median and largest
difference, and the first and last such start. ``arrivals``: for the same runs, the operation-by-operation run with
only the sends that shared a NIC direction before the first release (those the event run delivered at other than
their departure plus their seconds) given the event run's arrival: how many such sends, how many operations before
the first release start at another time than in the event run (0: the same floats), and that run's CPU seconds.
``floor`` (stop 55): the CPU seconds of MODEL's screen as the planner times it (the programs forgotten first), as it
stands, with every ``evaluate_shared_nics`` call stood in for as in ``capture``, and with ``_starts`` stood in for too
(each row's kept state None, which the stand-in ignores): what is left once the event runs, then also the states they
resume from, cost nothing (on main, which has no ``_starts``, the first two). ``floor MODEL profile``: then
cProfile's top functions of the last. ``floor MODEL null``: only the screen with ``_starts`` stood in for and each
program's stand-in run made once, its result (and the chunks' last backwards of its record) handed to every row of
it: what the screen costs beside the rows' own evaluations.
``order`` (stop 55): for each run from the first release, whether its operations' starts and its
sends' departures from there come in the order the plain schedule (``_prefix_times``) gives them (ties in program
order), for all of them and for the sends alone, how many distinct orders the rows of one program have, and how many
events each run pops (a run's passes of an event loop on arrays), the largest a program. ``plain`` (stop 55): each
run's makespan against the plain schedule's (``_run``, no loads), from the first release and the rest apart.
"""

from __future__ import annotations

import math
import pickle
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.planner import cases
from dpsim.analytic import pipeline_schedule as ps
from dpsim.plan import enumerate_configurations


def plain(*a: Any, **k: Any) -> ps.ScheduleTimes:
    """An ``evaluate_shared_nics`` call stood in for by the plain schedule (``_run``; its record from
    ``_prefix_times``)."""
    f, b, p, m, v, schedule, p2p, slow = a[:8]
    record = a[9] if len(a) > 9 else k.get("record")
    if record is not None:
        pre = ps._prefix_times(f, b, p, m, v, schedule, p2p, tuple(slow))
        orders = ps._orders(p, m, v, schedule)
        for d in range(p):
            for op, (s, e) in zip(orders[d], pre.spans[d], strict=True):
                record.append((op[0], d, op, s, e))
    return ps._run(f, b, p, m, v, schedule, p2p, slow, None)


def capture(model: str, count: int, out: str) -> None:
    calls: list[tuple[Any, Any]] = []

    def kept(*a: Any, **k: Any) -> ps.ScheduleTimes:
        calls.append((a, k))
        return plain(*a, **k)

    ps.evaluate_shared_nics = kept
    cpu = time.process_time()
    enumerate_configurations(dict(cases())[model])
    print(f"screen with the event runs stood in for: {time.process_time() - cpu:.1f} s CPU, {len(calls)} calls")
    random.seed(0)
    with open(out, "wb") as f:
        pickle.dump(random.sample(calls, min(count, len(calls))), f)


def _screen(model: str) -> float:
    ps.forget_programs()
    cpu = time.process_time()
    enumerate_configurations(dict(cases())[model])
    return time.process_time() - cpu


def floor(model: str, what: str) -> None:
    import cProfile
    import pstats

    real = ps.evaluate_shared_nics
    if what != "null":
        print(f"screen as it stands: {_screen(model):.1f} s CPU")

    if hasattr(ps, "_starts"):
        starts = ps._starts
        ps._starts = lambda p, m, v, schedule, forward, *rest: [None] * len(forward)
    if what != "null":
        ps.evaluate_shared_nics = plain
        if hasattr(ps, "_starts"):
            ps._starts = starts
            print(f"event runs stood in for: {_screen(model):.1f} s CPU")
            ps._starts = lambda p, m, v, schedule, forward, *rest: [None] * len(forward)
            print(f"event runs and _starts stood in for: {_screen(model):.1f} s CPU")
        else:
            print(f"event runs stood in for: {_screen(model):.1f} s CPU")
    if what == "null":
        kept: dict[Any, tuple[ps.ScheduleTimes, list[Any]]] = {}

        def null(*a: Any, **k: Any) -> ps.ScheduleTimes:
            key = (*a[2:6], a[1] > 0)
            if key not in kept:
                made: list[Any] = []
                times = plain(*a[:9], made)
                p, m, v, schedule = a[2:6]
                orders = ps._orders(p, m, v, schedule)
                wanted = {orders[d][i] for d, places in enumerate(ps.last_backwards(p, m, v, schedule)) for i in places}
                kept[key] = (times, [x for x in made if x[2] in wanted and x[0] != "send"])
            record = a[9] if len(a) > 9 else k.get("record")
            if record is not None:
                record.extend(kept[key][1])
            return kept[key][0]

        ps.evaluate_shared_nics = null
        print(f"event runs (one a program, then kept), _starts stood in for: {_screen(model):.1f} s CPU")
    if what == "profile":
        profiler = cProfile.Profile()
        profiler.runcall(_screen, model)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    ps.evaluate_shared_nics = real


def against_plain(path: str) -> None:
    groups: dict[str, list[float]] = {"from the first release": [], "an overlap before it": []}
    for a, k in _runs(path):
        args = list(a)
        if len(args) > 9:
            args[9] = None
        ran = ps.evaluate_shared_nics(*args, **k).makespan_s
        f, b, p, m, v, schedule, p2p, slow = a[:8]
        start = k.get("start")
        key = "from the first release" if start is not None and start.clear == math.inf else "an overlap before it"
        groups[key].append(ran / ps._run(f, b, p, m, v, schedule, p2p, slow, None).makespan_s - 1)
    for key, found in groups.items():
        found.sort()
        if found:
            print(f"{key}: {len(found)} runs, {sum(1 for x in found if x == 0)} end as the plain schedule; "
                  f"median {found[len(found) // 2]:+.3%}, range {found[0]:+.3%} to {found[-1]:+.3%}")  # fmt: skip


def order(path: str) -> None:
    same_all = same_sends = count = 0
    orders: dict[Any, set[Any]] = {}
    events: dict[Any, list[int]] = {}
    for a, k in _runs(path):
        start = k.get("start")
        if start is None or start.clear != math.inf:
            continue
        f, b, p, m, v, schedule, p2p, slow = a[:8]
        record: list[Any] = []
        args = list(a)
        if len(args) > 9:
            args[9] = record
        else:
            k = {**k, "record": record}
        popped = _popped(args, k)
        events.setdefault((p, m, v, schedule), []).append(popped)
        pre = ps._prefix_times(f, b, p, m, v, schedule, p2p, tuple(slow))
        orders_ = ps._orders(p, m, v, schedule)
        plain: dict[Any, float] = {}
        for d in range(p):
            for op, (s, _) in zip(orders_[d], pre.spans[d], strict=True):
                plain[("op", d, op)] = s
        rank: dict[Any, int] = {}
        for link, feeds, _, leave, _ in pre.sends:
            plain[("send", link[0], feeds)] = leave
        for n, key in enumerate(plain):
            rank[key] = n
        ran = [(("send", d, op) if kind == "send" else ("op", d, op), s) for kind, d, op, s, _ in record]
        ran = [(key, s) for key, s in ran if key in plain]
        by_event = [key for key, _ in sorted(ran, key=lambda x: (x[1], rank[x[0]]))]
        by_plain = sorted((key for key, _ in ran), key=lambda key: (plain[key], rank[key]))
        count += 1
        same_all += by_event == by_plain
        sends_event = [x for x in by_event if x[0] == "send"]
        sends_plain = [x for x in by_plain if x[0] == "send"]
        same_sends += sends_event == sends_plain
        orders.setdefault((p, m, v, schedule), set()).add(tuple(sends_plain))
    print(f"{count} runs from the first release: {same_all} in the plain order (all), {same_sends} (sends)")
    sizes = sorted(len(x) for x in orders.values())
    print(f"{len(orders)} programs; distinct plain send orders a program: {sizes}")
    every = sorted(n for found in events.values() for n in found)
    print(f"events popped a run: median {every[len(every) // 2]}, largest {every[-1]}")
    print(f"largest a program: {sorted(max(found) for found in events.values())}")


def _popped(args: list[Any], k: dict[str, Any]) -> int:
    """How many events ``evaluate_shared_nics(*args, **k)`` pops off its heap (``heapq.heappop`` counted)."""
    import heapq

    real = heapq.heappop
    count = 0

    def counted(heap: Any) -> Any:
        nonlocal count
        count += 1
        return real(heap)

    heapq.heappop = counted
    try:
        ps.evaluate_shared_nics(*args, **k)
    finally:
        heapq.heappop = real
    return count


def _runs(path: str) -> list[tuple[Any, Any]]:
    with open(path, "rb") as f:
        return list(pickle.load(f))


def split(path: str) -> None:
    seconds: dict[str, list[float]] = {"from the first release": [], "an overlap before it": []}
    for a, k in _runs(path):
        args = list(a)
        if len(args) > 9 and args[9] is not None:
            args[9] = []
        start = k.get("start")
        cpu = time.process_time()
        ps.evaluate_shared_nics(*args, **k)
        key = "from the first release" if start is not None and start.clear == math.inf else "an overlap before it"
        seconds[key].append(time.process_time() - cpu)
    for key, found in seconds.items():
        print(f"{key}: {len(found)} runs, {sum(found):.3f} s CPU")


def shift(path: str) -> None:
    print("p m ops-before-release shifted median-shift-s largest-shift-s first-shifted-start last-shifted-start")
    for a, k in _runs(path):
        start = k.get("start")
        if start is None or start.clear == math.inf:
            continue
        f, b, p, m, v, schedule, p2p, slow = a[:8]
        record: list[Any] = []
        args = list(a)
        args[9] = record
        whole = {**k, "fast_start": False, "start": None}
        ps.evaluate_shared_nics(*args, **whole)
        pre = ps._prefix_times(f, b, p, m, v, schedule, p2p, tuple(slow))
        orders = ps._orders(p, m, v, schedule)
        planned = {(d, op): span for d in range(p) for op, span in zip(orders[d], pre.spans[d], strict=True)}
        released = ps.last_backwards(p, m, v, schedule)
        t0 = min(pre.spans[d][i][0] for d in range(p) for i in released[d])
        ran = [(planned[(d, op)][0], s) for kind, d, op, s, _ in record if kind != "send" and s < t0]
        moved = sorted(abs(x - s) for x, s in ran if x != s)
        starts = [s for x, s in ran if x != s]
        if moved:
            print(p, m, len(ran), len(moved), moved[len(moved) // 2], moved[-1], min(starts), max(starts))
        else:
            print(p, m, len(ran), 0)


def _planned(a: Any, arrive: dict[Any, float]) -> dict[tuple[int, Any], float]:
    """Each operation's start, operation by operation (``_prefix_times``' arithmetic), the sends into the operations
    in ``arrive`` arriving then."""
    f, b, p, m, v, schedule, p2p, slow = a[:8]
    chunks = v if schedule == "interleaved" else 1
    ends = ps._link_ends(p, m, v, schedule)
    orders = ps._orders(p, m, v, schedule)
    fwd = [f / chunks * x for x in slow]
    bwd = [b / chunks * x for x in slow]
    free = [0.0] * p
    link_free = [0.0] * len(ends)
    arrived: dict[int, float] = {}
    starts: dict[tuple[int, Any], float] = {}
    seen = [0] * p
    for d, forward, wait, out, link, feeds in ps.schedule_program(p, m, v, schedule):
        start = free[d] if wait < 0 else max(free[d], arrived[wait])
        starts[(d, orders[d][seen[d]])] = start
        seen[d] += 1
        free[d] = end = start + (fwd[d] if forward else bwd[d])
        if out < 0:
            continue
        src, dst = ends[link] if link >= 0 else (d, d)
        send = p2p[ps.boundary_of(src, dst, p)] if isinstance(p2p, tuple) else p2p
        if link < 0 or send <= 0:
            arrived[out] = end
            continue
        leave = max(end, link_free[link])
        arrived[out] = link_free[link] = arrive[feeds] if feeds in arrive else leave + send
    return starts


def arrivals(path: str) -> None:
    print("p m shared-sends ops-before-release other-starts cpu-s")
    for a, k in _runs(path):
        start = k.get("start")
        if start is None or start.clear == math.inf:
            continue
        f, b, p, m, v, schedule, p2p, slow = a[:8]
        record: list[Any] = []
        args = list(a)
        args[9] = record
        ps.evaluate_shared_nics(*args, **{**k, "fast_start": False, "start": None})
        pre = ps._prefix_times(f, b, p, m, v, schedule, p2p, tuple(slow))
        released = ps.last_backwards(p, m, v, schedule)
        t0 = min(pre.spans[d][i][0] for d in range(p) for i in released[d])
        shared = {}
        for kind, d, op, s, e in record:
            seconds = p2p[ps.boundary_of(d, op[2] % p, p)] if isinstance(p2p, tuple) else p2p
            if kind == "send" and s < t0 and e != s + seconds:
                shared[op] = e
        cpu = time.process_time()
        planned = _planned(a, shared)
        cpu = time.process_time() - cpu
        ran = [(planned[(d, op)], s) for kind, d, op, s, _ in record if kind != "send" and s < t0]
        print(p, m, len(shared), len(ran), sum(1 for x, s in ran if x != s), f"{cpu:.4f}")


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "capture":
        capture(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif what == "split":
        split(sys.argv[2])
    elif what == "plain":
        against_plain(sys.argv[2])
    elif what == "order":
        order(sys.argv[2])
    elif what == "floor":
        floor(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
    elif what == "shift":
        shift(sys.argv[2])
    else:
        arrivals(sys.argv[2])
