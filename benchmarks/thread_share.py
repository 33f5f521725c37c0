"""Which thread takes the cores while a DDP bucket's all-reduce overlaps the backward (issue 10).

The validation's backward gets 0.44–0.49 of a core while a bucket's all-reduce is in flight,
whatever the link rate (README, *Where the compute gap is*). The hypothesis tested here: some
thread of a rank is runnable for the whole transfer (a busy poll: gloo's TCP pair in
busy-poll mode, a wait loop), so that N ranks × (backward + a spinner) share the C cores.

Each rank (``--worker``: plain DDP over gloo, torch only, ``benchmarks/plain_ddp.py``'s ``build_job``: an
``nn.Sequential`` MLP, DDP's defaults, Adam) reads at five points of every step the scheduler's
account of every thread of *every* rank (``/proc/<pid>/task/<tid>/schedstat``: nanoseconds on a
core, nanoseconds runnable but waiting for one), of the kernel's ``ksoftirqd`` threads, and the
host's ``/proc/stat``: after the forward, when the last layer's gradients are ready (DDP's first
bucket, 1 MiB cap: the last layer alone, is handed to gloo then), when the first layer's are
ready (the backward's compute ends), when ``backward()`` returns (DDP waited for its
all-reduces) and after the optimizer step. The *window* is the backward after the first bucket:
with DDP's default buckets its all-reduce is in flight there; with ``--bucket-cap-mb 100`` (one
bucket, reduced after the backward) nothing is — the control.

Per window it reports (medians over ranks × measured steps): its wall time; the backward
thread's time on a core, runnable-waiting (``wait``) and off the run queue (``blocked``: a lock, a
condition variable, the GIL) and its share (on a core ÷ wall); the other threads of the same
rank on a core (the busiest named, with its time runnable: on a core + waiting) and of the other
ranks; ``ksoftirqd``; the cores the ranks and ``ksoftirqd`` used; the cores niced processes used
(``/proc/stat``, 10 ms ticks summed over the windows: the ranks run at nice 0, so that is other
jobs — and with the kernel's autogroups another session takes an equal share of the cores
whatever its nice value, so a run with it is not quiet); and how often the backward thread and
the busiest thread were put on a core. A spinning thread shows as another thread on a core for
most of the window at every rate. Without ``CONFIG_IRQ_TIME_ACCOUNTING`` a softirq that
interrupts a thread is charged to that thread's time on a core. Each run also prints the cores
the processes other than the ranks used over it (``ksoftirqd`` included; processes that started
and ended within the run are missed).

    sudo PYTHONPATH=. .venv/bin/python benchmarks/thread_share.py [--nodes 2] [--rates 200,1000] [--steps 20] \
        [--buckets default,one] [--out DIR]
    python benchmarks/thread_share.py --reuse DIR       # the table again from DIR/windows.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import (
    Parser,
    ScriptError,
    need_root,
    number,
    one_line_errors,
    refuse_beside_reuse,
    reuse_lines,
    unlaunched_worker,
    whole,
)

POINTS = ("forward_end", "bucket0_ready", "compute_end", "backward_end", "optimizer_end")
"""Where each step is probed, in order; the window is ``bucket0_ready`` → ``compute_end``."""


def _schedstat(path: str) -> tuple[int, int, int] | None:
    """(ns on a core, ns runnable but waiting, times put on a core): ``Documentation/scheduler/sched-stats``."""
    try:
        with open(path, encoding="ascii") as f:
            on_cpu, waiting, slices = f.read().split()
    except (OSError, ValueError):
        return None
    return int(on_cpu), int(waiting), int(slices)


def _host_ticks() -> list[int]:
    with open("/proc/stat", encoding="ascii") as f:
        return [int(v) for v in f.readline().split()[1:]]


def _ksoftirqd() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", encoding="utf-8") as f:
                    if f.read().startswith("ksoftirqd/"):
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def _task_stats(pid: int | str) -> dict[str, tuple[int, int, int]]:
    """:func:`_schedstat` of every thread of ``pid``, by "pid/tid" (none if it is gone)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return {}
    stats = {f"{pid}/{tid}": _schedstat(f"/proc/{pid}/task/{tid}/schedstat") for tid in tids}
    return {k: v for k, v in stats.items() if v is not None}


def probe(pids: Sequence[int], softirq_pids: Sequence[int]) -> dict[str, Any]:
    """One reading: time, every thread of ``pids`` ("pid/tid" → [on-cpu ns, wait ns, slices]), ksoftirqd, /proc/stat.

    The reading thread's own on-cpu time is ``time.thread_time_ns()``, not its ``schedstat``: ``proc_pid_schedstat``
    prints ``se.sum_exec_runtime`` as it stands, which for the running thread was last brought up to date at its last
    scheduler tick or switch (up to 1/HZ = 4 ms behind here), while ``CLOCK_THREAD_CPUTIME_ID`` adds the time since
    (``task_sched_runtime``, same sum). Over a 6 ms window the stale reading put the main thread at 1.24–1.30 of the
    wall time (root test, 2 of 3 runs, stop 44)."""
    threads = {k: list(v) for pid in pids for k, v in _task_stats(pid).items()}
    me = f"{os.getpid()}/{threading.get_native_id()}"
    if me in threads:
        threads[me][0] = time.thread_time_ns()
    soft = [_schedstat(f"/proc/{p}/schedstat") for p in softirq_pids]
    return {"t": time.perf_counter(), "threads": threads, "softirqd_ns": sum(s[0] for s in soft if s is not None),
            "host": _host_ticks()}  # fmt: skip


def host_threads() -> dict[str, tuple[str, int]]:
    """Every thread on the host: "pid/tid" → (its process's name, ns on a core so far)."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            name = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        out.update({k: (name, v[0]) for k, v in _task_stats(pid).items()})
    return out


def foreign_load(before: Mapping[str, tuple[str, int]], after: Mapping[str, tuple[str, int]], seconds: float,
                 ours: set[str]) -> tuple[float, list[tuple[str, float]]]:  # fmt: skip
    """Cores the processes other than ``ours`` (pids) used over ``seconds``, and the five largest by name."""
    by_name: dict[str, float] = {}
    for key, (name, ns) in after.items():
        if key.split("/")[0] in ours:
            continue
        used = (ns - before[key][1] if key in before else ns) / 1e9 / seconds
        by_name[name] = by_name.get(name, 0.0) + used
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:5]
    return sum(by_name.values()), top


def worker(argv: Sequence[str]) -> None:
    """One rank: plain DDP with the probes; writes ``rank<r>.json``."""
    import torch
    import torch.distributed as dist
    from torch import nn

    from benchmarks.plain_ddp import build_job

    p = Parser(prog="thread_share.py --worker")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--micro-batch", type=int, default=64)
    p.add_argument("--bucket-cap-mb", type=float, default=None)
    p.add_argument("--warmup-steps", type=int, default=2)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args(argv)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    # plain_ddp's job (seed 0, Adam at 1e-3, one micro-batch drawn from a generator seeded with the rank): this
    # script's own copy of it built the same model, optimizer and batch, tensor for tensor (stop 43)
    job = argparse.Namespace(seed=0, layers=args.layers, hidden=args.hidden, bucket_cap_mb=args.bucket_cap_mb,
                             optimizer="adam", lr=1e-3, micro_batch=args.micro_batch, accumulation=1)  # fmt: skip
    net, model, optimizer, ((x, y),) = build_job(job, rank)
    pids: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(pids, os.getpid())
    softirq_pids = _ksoftirqd()
    marks: dict[str, dict[str, Any]] = {}
    seen: dict[str, set[int]] = {"bucket0_ready": set(), "compute_end": set()}

    def when_both(point: str, layer: nn.Module) -> None:
        for param in layer.parameters():

            def hook(tensor: torch.Tensor, point: str = point) -> None:
                seen[point].add(id(tensor))
                if len(seen[point]) == 2:  # weight and bias accumulated
                    marks[point] = probe(pids, softirq_pids)

            param.register_post_accumulate_grad_hook(hook)

    linears = [m for m in net if isinstance(m, nn.Linear)]
    when_both("bucket0_ready", linears[-1])
    when_both("compute_end", linears[0])
    steps = []
    for index in range(args.warmup_steps + args.steps):
        dist.barrier()
        optimizer.zero_grad()
        marks.clear()
        for s in seen.values():
            s.clear()
        loss = nn.functional.mse_loss(model(x), y)
        marks["forward_end"] = probe(pids, softirq_pids)
        loss.backward()
        marks["backward_end"] = probe(pids, softirq_pids)
        optimizer.step()
        marks["optimizer_end"] = probe(pids, softirq_pids)
        steps.append({"step": index, "marks": {k: marks[k] for k in POINTS}})
    names = {}
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                names[f"{pid}/{tid}"] = Path(f"/proc/{pid}/task/{tid}/comm").read_text(encoding="utf-8").strip()
            except OSError:
                continue
    out = {"rank": rank, "pid": os.getpid(), "pids": pids, "names": names, "warmup_steps": args.warmup_steps,
           "steps": steps, "clk_tck": os.sysconf("SC_CLK_TCK")}  # fmt: skip
    (args.run_dir / f"rank{rank}.json").write_text(json.dumps(out), encoding="utf-8")
    del model, optimizer
    dist.destroy_process_group()


def window(rank: Mapping[str, Any], step: Mapping[str, Any], start: str = "bucket0_ready",
           end: str = "compute_end") -> dict[str, Any]:  # fmt: skip
    """One rank's account of one step's window ``start`` → ``end`` (seconds; module docstring)."""
    a, b = step["marks"][start], step["marks"][end]
    wall = b["t"] - a["t"]
    me = f"{rank['pid']}/{rank['pid']}"
    delta = {k: [(b["threads"][k][i] - v[i]) / (1e9 if i < 2 else 1) for i in (0, 1, 2)]
             for k, v in a["threads"].items() if k in b["threads"]}  # fmt: skip
    main_cpu, main_wait, main_slices = delta.get(me, [0.0, 0.0, 0.0])
    own = {k: v[0] for k, v in delta.items() if k != me and k.split("/")[0] == str(rank["pid"])}
    other = {k: v[0] for k, v in delta.items() if k.split("/")[0] != str(rank["pid"])}
    busiest = max(own.items(), key=lambda kv: kv[1], default=("", 0.0))
    runnable = delta[busiest[0]][0] + delta[busiest[0]][1] if busiest[0] else 0.0
    busiest_slices = float(delta[busiest[0]][2]) if busiest[0] else 0.0
    ticks = [y - x for x, y in zip(a["host"], b["host"], strict=True)]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return {
        "wall": wall, "main_cpu": main_cpu, "main_wait": main_wait, "main_blocked": wall - main_cpu - main_wait,
        "own_threads_cpu": sum(own.values()), "own_busiest": rank["names"].get(busiest[0], busiest[0]),
        "own_busiest_cpu": busiest[1], "own_busiest_runnable": runnable,
        "main_slices": float(main_slices), "own_busiest_slices": busiest_slices, "other_ranks_cpu": sum(other.values()),
        "softirqd_cpu": (b["softirqd_ns"] - a["softirqd_ns"]) / 1e9,
        "host_busy_ticks": sum(ticks) - idle, "host_ticks": sum(ticks), "host_softirq_ticks": ticks[6],
        "host_nice_ticks": ticks[1],
    }  # fmt: skip


def windows(ranks: Sequence[Mapping[str, Any]], start: str = "bucket0_ready",
            end: str = "compute_end") -> list[dict[str, Any]]:  # fmt: skip
    """:func:`window` of every rank's every measured step."""
    return [window(r, s, start, end) for r in ranks for s in r["steps"] if s["step"] >= r["warmup_steps"]]


def summarise(ranks: Sequence[Mapping[str, Any]], start: str = "bucket0_ready",
              end: str = "compute_end") -> dict[str, Any]:  # fmt: skip
    """:func:`summarise_rows` of the ranks' :func:`windows`."""
    return summarise_rows(windows(ranks, start, end))


def summarise_rows(rows: Sequence[Mapping[str, Any]], cores: int | None = None) -> dict[str, Any]:
    """Medians over ranks × measured steps of :func:`window`; host ticks summed (10 ms resolution)."""
    cores = cores or os.cpu_count() or 1
    out: dict[str, Any] = {k: statistics.median(row[k] for row in rows) for k in rows[0]
                           if isinstance(rows[0][k], float)}  # fmt: skip
    out["own_busiest"] = statistics.mode(row["own_busiest"] for row in rows)
    total = sum(r["host_ticks"] for r in rows)

    def host(key: str) -> float:
        return cores * sum(r[key] for r in rows) / total if total else float("nan")

    out["host_busy_cores"], out["host_softirq_cores"] = host("host_busy_ticks"), host("host_softirq_ticks")
    # niced user time: the ranks run at nice 0, so this is other jobs, and another session's autogroup takes an
    # equal share of the cores whatever its nice value: a window with it is not quiet
    out["host_nice_cores"] = host("host_nice_ticks")
    # what the ranks and ksoftirqd used of the cores over the window; the rest went to other processes or idled
    used = [r["main_cpu"] + r["own_threads_cpu"] + r["other_ranks_cpu"] + r["softirqd_cpu"] for r in rows]
    out["ranks_cores"] = statistics.median(u / r["wall"] for u, r in zip(used, rows, strict=True))
    out["windows"] = len(rows)
    return out


HEADER = (f"{'Mbit/s':>6} {'buckets':>8} {'window':>7} {'main cpu':>8} {'wait':>6} {'blocked':>7} {'share':>5} "
          f"{'own thr':>7} {'busiest: name cpu runnable':>28} {'other ranks':>11} {'ksoftirqd':>9} "
          f"{'ranks cores':>11} {'niced cores':>11} {'slices main/busiest':>19}")  # fmt: skip


def row(rate: Any, buckets: str, s: Mapping[str, Any]) -> str:
    """One line of the table (ms, share = main cpu / window)."""
    ms = 1e3
    busiest = f"{s['own_busiest'][:14]} {s['own_busiest_cpu'] * ms:.1f} {s['own_busiest_runnable'] * ms:.1f}"
    return (f"{rate:>6} {buckets:>8} {s['wall'] * ms:7.1f} {s['main_cpu'] * ms:8.1f} {s['main_wait'] * ms:6.1f} "
            f"{s['main_blocked'] * ms:7.1f} {s['main_cpu'] / s['wall']:5.2f} {s['own_threads_cpu'] * ms:7.2f} "
            f"{busiest:>28} {s['other_ranks_cpu'] * ms:11.1f} {s['softirqd_cpu'] * ms:9.2f} "
            f"{s['ranks_cores']:11.2f} {s['host_nice_cores']:11.2f} "
            f"{s['main_slices']:9.0f}/{s['own_busiest_slices']:<9.0f}")  # fmt: skip


def _rounded(window: Mapping[str, Any]) -> dict[str, Any]:
    """Seconds to the microsecond, cores to 10⁻⁶ (what ``windows.jsonl`` keeps)."""
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in window.items()}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--worker" in argv:
        if problem := unlaunched_worker("benchmarks/thread_share.py"):
            print(f"error: {problem}", file=sys.stderr)
            return 2
        worker(argv)
        return 0
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=whole(1, 250), default=2)
    ap.add_argument("--rates", type=_rates, default=["200", "1000"], help="Mbit/s, comma-separated")
    ap.add_argument("--steps", type=whole(1, 100_000), default=20)
    ap.add_argument("--buckets", default="default,one", help="default (DDP's, first 1 MiB) and/or one (100 MiB)")
    ap.add_argument("--out", type=Path, help="append every run's summary (one JSON line a run) to DIR/windows.jsonl")
    ap.add_argument("--reuse", type=Path, help="print the table again from DIR/windows.jsonl (no root)")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # Parser's one line printed (or --help)
        return int(exc.code or 0)
    return int(one_line_errors(lambda: _main(args, argv))())


def _rates(text: str) -> list[str]:
    """``--rates``: comma-separated shaped rates in Mbit/s, finite and > 0, each once (kept as typed: the records'
    ``rate``)."""
    try:
        rates = [v.strip() for v in text.split(",")]
        values = [number(1e-3, 1e6)(v) for v in rates]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected comma-separated rates in Mbit/s > 0, got {text!r}") from None
    if len(set(values)) < len(values):
        raise argparse.ArgumentTypeError(f"lists a rate more than once, got {text!r}")
    return rates


def read_windows(folder: Path) -> list[str]:
    """``--reuse``: the table's lines from ``folder/windows.jsonl``, every run checked before any is printed (round
    26: a missing folder, a damaged line or a run without its fields was a traceback)."""

    def shown(run: Any) -> str:
        other = f"other processes {run['foreign_cores']:.2f} cores (ksoftirqd included)"
        return f"{run['nodes']} ranks at {run['at']}: {other}\n" + row(run["rate"], run["buckets"], run["summary"])

    return [HEADER, *reuse_lines(folder, "windows.jsonl", shown, "thread_share.py")]


def _main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Every option checked before the testbed is asked for (round 26: ``--rates x`` and ``--buckets bogus`` were a
    ``ValueError`` / ``KeyError`` traceback after the table's header, ``--steps 0`` and ``--nodes 1`` reached the
    ranks, ``--reuse`` of a missing folder a traceback and with measuring options it dropped them)."""
    if args.reuse is not None:
        refuse_beside_reuse(argv)
        print("\n".join(read_windows(args.reuse)))
        return 0
    buckets = [b.strip() for b in args.buckets.split(",")]
    if not all(b in ("default", "one") for b in buckets) or len(set(buckets)) < len(buckets):
        raise ScriptError(f"--buckets: expected default and/or one, each once, got {args.buckets!r}")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise ScriptError(f"--out: {str(args.out)!r} is a file: expected a folder")
    need_root()
    args.buckets = ",".join(buckets)
    from benchmarks.plain_ddp import run_workers
    from runtime.testbed.emulated import EmulatedCluster, RootRequired

    print(f"load average at start: {os.getloadavg()}")
    print(HEADER)
    try:
        for rate in args.rates:
            for buckets in args.buckets.split(","):
                cap = {"default": [], "one": ["--bucket-cap-mb", "100"]}[buckets]
                with EmulatedCluster(nodes=args.nodes, per_node=1, rate=float(rate) * 1e6 / 8) as cluster, \
                        tempfile.TemporaryDirectory(prefix="thread-share-") as tmp:  # fmt: skip
                    before, t0 = host_threads(), time.perf_counter()
                    ranks = run_workers(cluster, args.nodes, 1, Path(tmp), Path(__file__),
                                        ["--steps", str(args.steps), *cap])  # fmt: skip
                    after, elapsed = host_threads(), time.perf_counter() - t0
                ours = {str(os.getpid()), *(str(p) for p in ranks[0]["pids"])}
                cores, top = foreign_load(before, after, elapsed, ours)
                if args.out is not None:
                    args.out.mkdir(parents=True, exist_ok=True)
                    run = {"nodes": args.nodes, "rate": rate, "buckets": buckets, "at": time.strftime("%H:%M:%S"),
                           "cores": os.cpu_count(), "foreign_cores": cores,
                           "summary": _rounded(summarise(ranks))}  # fmt: skip
                    with (args.out / "windows.jsonl").open("a", encoding="utf-8") as f:
                        f.write(json.dumps(run) + "\n")
                print(row(rate, buckets, summarise(ranks)), flush=True)
                print(f"{'':>15} other processes over the run (ksoftirqd included): {cores:.2f} cores ("
                      + ", ".join(f"{n} {c:.2f}" for n, c in top) + ")", flush=True)  # fmt: skip
    except RootRequired as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
