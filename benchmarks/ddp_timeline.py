"""When plain DDP's bucket all-reduces run against its backward on the emulated cluster (issue 10; root; diagnostic).

Stop 41 left 6–8 ranks over-predicted by 8–15 % on the link-bound testbed (``plain-ddp-2026-12-06-n``): the
engines hide 10 ms of 274 ms of communication under the backward at 8 ranks. This harness runs plain DDP exactly as
``benchmarks/plain_ddp.py`` does (its worker's model, data, optimizer and DDP defaults; its held-out cases, by
index) with probes that say where each step's time goes, per rank, on the host's monotonic clock (one clock for
every namespace, so the ranks' events line up):

- each micro-batch's forward start and end, the first and the last parameter's gradient accumulated
  (``register_post_accumulate_grad_hook``: the last is the backward's compute end) and ``backward()``'s return
  (DDP waited for its all-reduces there);
- each bucket's all-reduce: a communication hook that does what torch's ``default_hooks.allreduce_hook`` does
  (divide by the world size, ``dist.all_reduce(async_op=True)``) and notes when DDP's reducer handed the bucket
  over (the hook's call) and when gloo completed it (the future's callback), with the bucket's bytes;
- the main thread's CPU time (``time.thread_time``: forward and backward run on it) and the process's (every
  thread: gloo's included) at the step's start, the backward's compute end, ``backward()``'s return and the
  optimizer's end.

Per case it prints the medians over measured steps of: the step; the backward's compute (last forward's end →
last gradient) and the main thread's share of a core over it (CPU ÷ wall); per bucket, its bytes, when the first
and the last rank handed it over and when it completed (relative to the step's start, the median rank), and its
time from the last rank's hand-over to completion (what the link and gloo take once everyone is in); DDP's
exposed wait (last gradient → ``backward()``'s return, median rank); how much of the all-reduces' time (each
rank's own hand-over → completion, union over buckets) overlaps the rank's own backward compute; and the other
threads' CPU over the step (gloo's work, in cores).

The hook makes DDP call Python per bucket (plain DDP runs gloo's all-reduce from C++): compare the steps with
the case's plain DDP runs (``plain-ddp-2026-12-06-n``).

    sudo PYTHONPATH=. python benchmarks/ddp_timeline.py --cases 5,9 [--repeats 1] [--steps 8] --out DIR
    sudo PYTHONPATH=. python benchmarks/ddp_timeline.py --cases 0 --set cluster.workers_per_node=2 --out DIR
    PYTHONPATH=. python benchmarks/ddp_timeline.py --reuse DIR            # the table again (no root)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import plain_ddp

from benchmarks.script_cli import (
    Parser,
    ScriptError,
    need_root,
    one_line_errors,
    refuse_beside_reuse,
    reuse_lines,
    unlaunched_worker,
    whole,
    wholes,
)


def worker(argv: Sequence[str]) -> None:
    """One rank: plain DDP (``plain_ddp.worker``'s job) with the probes; writes ``rank<r>.json``."""
    import torch
    import torch.distributed as dist
    from torch import nn

    args = plain_ddp._worker_args(argv)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    net, model, optimizer, batches = plain_ddp.build_job(args, rank)
    clock, cpu, pcpu = time.perf_counter, time.thread_time, time.process_time
    cur: dict[str, Any] = {}

    def hook(state, bucket):  # no annotations: DDP refuses any but its own types (_check_comm_hook)
        launch = clock()
        buf = bucket.buffer()
        buf.div_(world)
        rec = {"index": bucket.index(), "bytes": buf.numel() * buf.element_size(), "launch": launch}
        cur["buckets"].append(rec)
        fut = dist.all_reduce(buf, async_op=True).get_future()

        def done(f: Any) -> Any:
            rec["done"] = clock()
            return f.value()[0]

        return fut.then(done)

    model.register_comm_hook(None, hook)
    grads: list[tuple[float, float]] = []
    for param in net.parameters():
        param.register_post_accumulate_grad_hook(lambda _t: grads.append((clock(), cpu())))
    steps = []
    for index in range(args.warmup_steps + args.steps):
        dist.barrier()
        t0, c0, p0 = clock(), cpu(), pcpu()
        cur.clear()
        cur["buckets"] = []
        optimizer.zero_grad(set_to_none=True)
        micro = []
        for i, (x, y) in enumerate(batches):
            with model.no_sync() if i < len(batches) - 1 else contextlib.nullcontext():
                grads.clear()
                a, ca = clock(), cpu()
                loss = nn.functional.mse_loss(model(x), y)
                b, cb = clock(), cpu()
                loss.backward()
                c, cc, pc = clock(), cpu(), pcpu()
                micro.append({"fwd": [a, b], "fwd_cpu": cb - ca, "grad_first": min(grads)[0],
                              "grad_last": max(grads)[0], "compute_cpu": max(grads)[1] - cb, "bwd_return": c,
                              "bwd_cpu": cc - cb, "proc_cpu_at_return": pc - p0})  # fmt: skip
        e, oe, pe0 = clock(), cpu(), pcpu()
        optimizer.step()
        end, ce, pe = clock(), cpu(), pcpu()
        steps.append({"step": index, "t0": t0, "opt": [e, end], "end": end, "thread_cpu": ce - c0,
                      "proc_cpu": pe - p0, "opt_cpu": ce - oe, "opt_proc_cpu": pe - pe0, "micro": micro,
                      "buckets": cur["buckets"]})  # fmt: skip
    out = {"rank": rank, "world_size": world, "torch_version": str(torch.__version__), "steps": steps,
           "warmup_steps": args.warmup_steps}  # fmt: skip
    partial = args.run_dir / f"rank{rank}.json.partial"
    partial.write_text(json.dumps(out), encoding="utf-8")
    partial.replace(args.run_dir / f"rank{rank}.json")
    del model, optimizer
    dist.destroy_process_group()


def _union_overlap(intervals: Sequence[tuple[float, float]], lo: float, hi: float) -> float:
    """Length of (union of ``intervals``) ∩ [lo, hi]."""
    total, reach = 0.0, lo
    for a, b in sorted(intervals):
        a, b = max(a, reach), min(b, hi)
        if b > a:
            total += b - a
            reach = b
    return total


def _max_in_flight(intervals: Sequence[tuple[float, float]]) -> int:
    """The most of ``intervals`` (hand-over, completion) open at one time (a completion closes before a hand-over
    at the same instant opens)."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = now = 0
    for _, d in events:
        now += d
        most = max(most, now)
    return most


def step_account(ranks: Sequence[Mapping[str, Any]], step: int) -> dict[str, Any]:
    """One measured step over every rank (seconds; relative to each rank's own step start unless said)."""
    rows = [{s["step"]: s for s in r["steps"]}[step] for r in ranks]
    med = statistics.median
    per_rank = []
    for s in rows:
        last = s["micro"][-1]
        compute = (last["fwd"][1], last["grad_last"])
        comm = [(b["launch"], b["done"]) for b in s["buckets"]]
        comm_span = (max(b for _, b in comm) - min(a for a, _ in comm)) if comm else 0.0
        per_rank.append({
            "step": s["end"] - s["t0"],
            "fwd": sum(m["fwd"][1] - m["fwd"][0] for m in s["micro"]),
            "bwd_compute_last": compute[1] - compute[0],
            "bwd_share": last["compute_cpu"] / max(compute[1] - compute[0], 1e-9),
            "exposed": last["bwd_return"] - last["grad_last"],
            "opt": s["opt"][1] - s["opt"][0],
            "comm_span": comm_span,
            "hidden": _union_overlap(comm, *compute),
            "other_threads_cores": (s["proc_cpu"] - s["thread_cpu"]) / (s["end"] - s["t0"]),
            "main_cores": s["thread_cpu"] / (s["end"] - s["t0"]),
            "opt_share": s.get("opt_cpu", float("nan")) / max(s["opt"][1] - s["opt"][0], 1e-9),
            "inflight_max": _max_in_flight(comm),
        })  # fmt: skip
    buckets = []
    for k in range(len(rows[0]["buckets"])):
        launches = [s["buckets"][k]["launch"] - s["t0"] for s in rows]
        abs_launch = [s["buckets"][k]["launch"] for s in rows]
        done_abs = [s["buckets"][k]["done"] for s in rows]
        buckets.append({
            "bytes": rows[0]["buckets"][k]["bytes"],
            "launch_first": min(launches), "launch_last": max(launches),
            "done": med(s["buckets"][k]["done"] - s["t0"] for s in rows),
            "after_last_launch": med(d - max(abs_launch) for d in done_abs),
        })  # fmt: skip
    t0_skew = max(s["t0"] for s in rows) - min(s["t0"] for s in rows)
    opt_starts = [s["opt"][0] for s in rows]  # on the shared clock, as the compute ends
    ends = [s["micro"][-1]["grad_last"] for s in rows]
    keys = per_rank[0].keys()
    return {"mean": {k: statistics.mean(r[k] for r in per_rank) for k in keys},
            "median": {k: med(r[k] for r in per_rank) for k in keys}, "buckets": buckets,
            "t0_skew": t0_skew, "compute_end_spread": max(ends) - min(ends),
            "opt_start_spread": max(opt_starts) - min(opt_starts)}  # fmt: skip


def case_summary(ranks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians over the measured steps of :func:`step_account`."""
    warm = ranks[0]["warmup_steps"]
    common = set.intersection(*({s["step"] for s in r["steps"]} for r in ranks))
    accounts = [step_account(ranks, s) for s in sorted(common) if s >= warm]
    med = statistics.median
    out: dict[str, Any] = {
        "steps": len(accounts),
        "mean_over_ranks": {k: med(a["mean"][k] for a in accounts) for k in accounts[0]["mean"]},
        "median_rank": {k: med(a["median"][k] for a in accounts) for k in accounts[0]["median"]},
        "t0_skew": med(a["t0_skew"] for a in accounts),
        "compute_end_spread": med(a["compute_end_spread"] for a in accounts),
        "opt_start_spread": med(a["opt_start_spread"] for a in accounts),
    }
    out["buckets"] = [{k: med(a["buckets"][i][k] for a in accounts) for k in accounts[0]["buckets"][i]}
                      for i in range(len(accounts[0]["buckets"]))]  # fmt: skip
    return out


def render(label: str, ranks: int, s: Mapping[str, Any]) -> str:
    m, r = s["mean_over_ranks"], s["median_rank"]
    ms = lambda v: f"{v * 1e3:.1f}"  # noqa: E731
    lines = [
        f"{label} ({ranks} ranks, {s['steps']} steps): step {ms(m['step'])} ms (mean over ranks); median rank: "
        f"forward {ms(r['fwd'])}, last backward's compute {ms(r['bwd_compute_last'])} (main thread's share of a "
        f"core {r['bwd_share']:.2f}), exposed wait {ms(r['exposed'])}, optimizer {ms(r['opt'])}; all-reduces "
        f"span {ms(r['comm_span'])}, of which under the rank's own backward {ms(r['hidden'])} (mean over ranks "
        f"{ms(m['hidden'])}); cores: main thread {r['main_cores']:.2f}, other threads {r['other_threads_cores']:.2f}"
        f"; ranks' step starts spread {ms(s['t0_skew'])}, compute ends {ms(s['compute_end_spread'])}"
        + (
            f"; optimizer: main thread's share of a core {r['opt_share']:.2f}, starts spread "
            f"{ms(s['opt_start_spread'])}; all-reduces in flight at most {r['inflight_max']:g} (median rank)"
            if "opt_start_spread" in s
            else ""
        ),
    ]
    for i, b in enumerate(s["buckets"]):
        lines.append(
            f"  bucket {i}: {b['bytes'] / 2**20:.2f} MiB handed over {ms(b['launch_first'])}–{ms(b['launch_last'])} "
            f"ms (first–last rank), done {ms(b['done'])}, {ms(b['after_last_launch'])} after the last hand-over"
        )
    return "\n".join(lines)


def read_rows(folder: Path) -> list[str]:
    """``--reuse``: the rendered rows of ``folder/timeline.jsonl``, each checked before any is printed (round 26:
    a missing folder, a damaged line or a row without its fields was a traceback after the rows before it)."""

    def shown(row: Any) -> str:
        label = f"{row.get('case_set', 'heldout')} case {row['index']} repeat {row['repeat']}: {row['case']}"
        return render(label, row["ranks"], row["summary"])

    return reuse_lines(folder, "timeline.jsonl", shown, "ddp_timeline.py")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--worker" in argv:
        if problem := unlaunched_worker("benchmarks/ddp_timeline.py"):
            print(f"error: {problem}", file=sys.stderr)
            return 2
        worker(argv)
        return 0
    p = Parser(prog="benchmarks/ddp_timeline.py", description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=wholes(0, 1 << 20), default=[5],
                   help="plain_ddp.py's case indices in --case-set (comma-separated)")  # fmt: skip
    p.add_argument("--case-set", default="heldout", choices=sorted(plain_ddp.CASE_SETS))
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="a scenario override on every case, as plain_ddp.py --set (repeatable)")  # fmt: skip
    p.add_argument("--repeats", type=whole(1, 1000), default=1)
    p.add_argument("--warmup-steps", type=whole(0, 100_000), default=1)
    p.add_argument("--steps", type=whole(1, 100_000), default=8)
    p.add_argument("--out", type=Path)
    p.add_argument("--reuse", type=Path, help="print the table again from DIR/timeline.jsonl (no root)")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:  # Parser's one line printed (or --help): the status, as every refusal returns it
        return int(exc.code or 0)
    return int(one_line_errors(lambda: _main(args, argv))())


def _main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Every option checked before the testbed is asked for, and the testbed before the folder is made (round 26:
    ``--repeats 0`` and ``--cases ''`` ran nothing and said nothing, ``--steps 0`` measured a step-less case and
    ended in an ``IndexError``, an ``--out`` that is a file in a ``FileExistsError``, ``--reuse`` took measuring
    options and dropped them)."""
    if args.reuse is not None:
        refuse_beside_reuse(argv)
        print("\n".join(read_rows(args.reuse)))
        return 0
    from dpsim.errors import ScenarioError  # here, not at the top: the ranks run this file and load no dpsim
    from runtime.testbed.emulated import EmulatedCluster

    try:
        cases = plain_ddp._cases(args.sets, args.case_set)
    except (ScenarioError, ValueError) as exc:  # a bad --set: one line before any root or testbed
        raise ScriptError(str(exc)) from None
    only = args.cases
    if bad := [i for i in only if not 0 <= i < len(cases)]:
        raise ScriptError(f"--cases: expected indices 0..{len(cases) - 1} of --case-set {args.case_set}, got {bad}")
    if len(set(only)) < len(only):  # measured twice a repeat, as if it were two cases
        raise ScriptError(f"--cases: lists a case more than once, got {','.join(map(str, only))}")
    out = args.out or Path("benchmarks/results/ddp_timeline")
    if out.exists() and not out.is_dir():
        raise ScriptError(f"--out: {str(out)!r} is a file: expected a folder")
    need_root()
    out.mkdir(parents=True, exist_ok=True)
    for r in range(args.repeats):
        for index in only:
            case = cases[index]
            s, c = case.scenario, case.scenario.cluster
            argv_w = plain_ddp.plain_argv(s, warmup_steps=args.warmup_steps, steps=args.steps)
            work = out / "work" / f"{args.case_set}{index}-run{r}"
            with EmulatedCluster(nodes=c.nodes, per_node=c.workers_per_node, rate=c.inter_node.bandwidth) as tb:
                ranks = plain_ddp.run_workers(tb, s.world_size, c.workers_per_node, work, Path(__file__), argv_w)
            summary = case_summary(ranks)
            row = {"case": case.label, "case_set": args.case_set, "index": index, "repeat": r,
                   "ranks": s.world_size, "summary": summary}  # fmt: skip
            with (out / "timeline.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            print(render(f"{args.case_set} case {index} repeat {r}: {case.label}", s.world_size, summary), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
