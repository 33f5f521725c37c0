"""When R time-sliced ranks on C cores each do the same work from a common release, how late is the last one?

Issue 10: the validation's measured compute is the slowest rank's, the step waits for the slowest
rank, and the model prices one rank at processor sharing, ``max(1, R/C)·X`` for X seconds of CPU
work (``HostModel.slowdown`` without ε). Two readings of time-slicing give different answers:

- *work conservation*: the C cores never idle while a rank is runnable, so the last rank ends
  when the cores have done everyone's work, at ``R·X/C`` — processor sharing is the *slowest*
  rank, and the scheduler's slices only move the others earlier (their mean ends before it);
- *ranks out of phase*: processor sharing is the *mean* rank, and each rank's end lies anywhere
  in the scheduler's last round of ``R·q/C`` (q the time slice), independently of the others, so
  the slowest ends ``(R·q/C)·(R − 1)/(2(R + 1))`` after the mean (the expected largest of R
  uniform positions minus their mean).

This script measures which: R single-thread processes (the validation's 4×768 MLP, forward and
backward of one micro-batch and an Adam step, as a training rank's window between two gradient
synchronisations; no communication) are released together at common wall-clock times each round
(every process sleeps until the same instant, so each wakes on its own timer, as ranks wake on
their own all-reduce's completion) and each records when it ends and its thread's CPU time. Per R
it prints the CPU work X (median), the round's work over the cores ΣX/C (processor sharing, at least
the largest X), the mean and the slowest rank's end after the release (averaged over rounds), each
against ΣX/C, and the second reading's slowest − mean from the measured slice q (``time_slice``: two
spinning processes on one core, the median length of their uninterrupted runs). Run it on a quiet
machine. Measured (``benchmarks/results/slowest-rank-2026-12-03/quiet.txt``): the mean ends before
ΣX/C and the slowest a constant 6–11 ms after it, as at R = 2 with a core per rank: the first reading.

    PYTHONPATH=. .venv/bin/python benchmarks/slowest_rank.py [--ranks 2,3,4,5,6,8] [--rounds 25]

``--emulated 4,8`` instead runs the validation's scenario (``benchmarks/validate_emulated.py``) on that
many emulated ranks at 1000 Mbit/s (root) and prints the same split from each rank's own records:
the ranks' optimizer + compute wall (mean, slowest) against their threads' CPU over it summed over
the ranks and divided by the cores — what the ranks' own work would take on C cores.

``--runs DIR`` (a validation's ``runs.jsonl``) instead prints, per saved run, the ranks' optimizer +
compute (each rank's median over its steps): their mean, the slowest, the slowest's excess over the
mean, and what the out-of-phase reading gives for it with ``--slice`` (no measurement).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from multiprocessing import get_context
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, number, one_line_errors, whole, wholes

SLICE_GAP_S = 100e-6
"""A pause in a spinning loop longer than this is the process waiting for its core (a loop turn takes < 1 µs)."""


def out_of_phase_lag(ranks: int, cores: float, slice_s: float) -> float:
    """The second reading: how much later than the mean the slowest of ``ranks`` time-sliced ranks ends.

    With k > C runnable ranks the scheduler serves them in rounds of ``k·q/C``; if processor sharing is the
    mean rank and each rank's end lies uniformly and independently in its last round, the largest of k
    uniform positions in a round of length T, ``T·k/(k + 1)``, is ``T·(k − 1)/(2(k + 1))`` after their mean.
    0 with a core per rank.
    """
    if ranks <= cores or slice_s <= 0:
        return 0.0
    round_s = ranks * slice_s / cores
    return round_s * (ranks - 1) / (2 * (ranks + 1))


def _spin_on_core_0(seconds: float, queue: Queue[Any]) -> None:
    os.sched_setaffinity(0, {0})
    end = time.perf_counter() + seconds
    last = start = time.perf_counter()
    runs = []
    while last < end:
        now = time.perf_counter()
        if now - last > SLICE_GAP_S:  # descheduled: the run since ``start`` ended at ``last``
            runs.append(last - start)
            start = now
        last = now
    queue.put(runs[1:])


def time_slice(seconds: float = 2.0) -> float:
    """The scheduler's slice: the median uninterrupted run of two processes spinning on one core (EEVDF's
    slice, checked at the timer tick: 3.95 ms on the 2-core VM, ``CONFIG_HZ=250``)."""
    ctx = get_context("fork")
    queue: Queue[Any] = ctx.Queue()
    procs = [ctx.Process(target=_spin_on_core_0, args=(seconds, queue)) for _ in range(2)]
    for proc in procs:
        proc.start()
    runs = [r for _ in procs for r in queue.get(timeout=seconds + 60)]
    for proc in procs:
        proc.join()
    return statistics.median(runs)


def _rank(
    index: int, layers: int, hidden: int, micro_batch: int, rounds: int, period_s: float, go: Any, queue: Queue[Any]
) -> None:
    import torch

    from runtime.model import MLP

    torch.set_num_threads(1)
    torch.manual_seed(index)
    model = MLP(layers, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(micro_batch, hidden), torch.randn(micro_batch, hidden)

    def window() -> None:  # a training rank between two synchronisations: optimizer, forward, backward
        opt.step()
        opt.zero_grad(set_to_none=False)
        torch.nn.functional.mse_loss(model(x), y).backward()

    for _ in range(3):
        window()
    queue.put(("ready", index))
    first = go.get()  # the first release, sent once every rank is ready
    rows = []
    for release in (first + r * period_s for r in range(rounds)):
        delay = release - time.time()
        if delay > 0:
            time.sleep(delay)
        c0 = time.thread_time()
        window()
        rows.append((time.time() - release, time.thread_time() - c0))
    queue.put((index, rows))


def measure(
    ranks: int, rounds: int, layers: int, hidden: int, micro_batch: int, period_s: float, cores: int
) -> dict[str, float]:
    """Per round: each rank's end after the common release and its CPU; medians/means over rounds."""
    ctx = get_context("spawn")
    queue: Queue[Any] = ctx.Queue()
    go: Queue[Any] = ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(i, layers, hidden, micro_batch, rounds, period_s, go, queue))
             for i in range(ranks)]  # fmt: skip
    for p in procs:
        p.start()
    for _ in procs:
        queue.get()
    first = time.time() + 0.5
    for _ in procs:
        go.put(first)
    results = dict(queue.get() for _ in procs)
    for p in procs:
        p.join()
    kept = range(2, rounds)  # the first two rounds after the warm-up are left out
    ends = [[results[i][r][0] for i in range(ranks)] for r in kept]
    cpus = [[results[i][r][1] for i in range(ranks)] for r in kept]
    return {
        "cpu_s": statistics.median(c for row in cpus for c in row),
        # the round's work over the cores (work conservation; a rank can't end before its own CPU is done)
        "bound_s": statistics.mean(max(sum(row) / cores, max(row)) for row in cpus),
        "mean_end_s": statistics.mean(statistics.mean(e) for e in ends),
        "slowest_end_s": statistics.mean(max(e) for e in ends),
        "late_rounds": sum(max(e) > period_s for e in ends),
    }


def saved_runs(folder: Path, slice_s: float, cores: int) -> None:
    """Per saved run: mean and slowest rank's optimizer + compute, and the out-of-phase reading's excess."""
    path = folder / "runs.jsonl"
    try:
        runs = [json.loads(line)["extra"] for line in path.read_text(encoding="utf-8").splitlines()]
        per_rank = [(extra["per_rank_compute_s"], extra["per_rank_optimizer_s"]) for extra in runs]
    except (OSError, UnicodeError, ValueError, KeyError, TypeError) as exc:
        problem = f"expected the validation runs' JSON lines with each rank's terms ({exc})"
        raise ScriptError(f"--runs: {path}: {problem}") from None
    print(f"{'R':>2} {'mean o+c ms':>11} {'slowest':>8} {'excess':>7} {'out-of-phase pred':>17}")
    for compute, optimizer in per_rank:
        window = [compute[r] + optimizer[r] for r in compute]
        ranks, mean = len(window), statistics.mean(window)
        pred = out_of_phase_lag(ranks, cores, slice_s)
        print(f"{ranks:>2} {mean * 1e3:11.1f} {max(window) * 1e3:8.1f} {(max(window) - mean) * 1e3:7.1f} "
              f"{pred * 1e3:17.1f}")  # fmt: skip


def emulated(counts: list[int], cores: int, steps: int, buckets: list[str]) -> None:
    """Per rank count and bucket: the ranks' optimizer + compute wall vs their own CPU over it (runtime records)."""
    import subprocess
    import tempfile

    from benchmarks.validate_emulated import SCENARIO

    print(f"{'R':>2} {'bucket':>7} {'mean o+c ms':>11} {'slowest':>8} {'Σcpu/C':>7} {'slowest-Σcpu/C':>14} {'step':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "scenario.yaml"
        scenario.write_text(SCENARIO, encoding="utf-8")
        for ranks in counts:
            for bucket in buckets:
                out = Path(tmp) / f"r{ranks}-{bucket.replace(' ', '')}.jsonl"
                command = [sys.executable, "-m", "runtime", str(scenario), "--testbed", "emulated",
                           "--steps", str(steps), "--out", str(out), "--set", f"cluster.nodes={ranks}",
                           "--set", f"training.global_batch={64 * ranks}",
                           "--set", "cluster.inter_node.bandwidth=1000 Mbit/s",
                           "--set", f"communication.bucket={bucket}"]  # fmt: skip
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                extra = json.loads(out.read_text(encoding="utf-8").splitlines()[-1])["extra"]
                step = json.loads(out.read_text(encoding="utf-8").splitlines()[-1])["step_time_s"]
                window = [extra["per_rank_compute_s"][r] + extra["per_rank_optimizer_s"][r]
                          for r in extra["per_rank_compute_s"]]  # fmt: skip
                cpu = sum(extra["per_rank_compute_cpu_s"][r] + extra["per_rank_optimizer_cpu_s"][r]
                          for r in extra["per_rank_compute_s"]) / min(cores, ranks)  # fmt: skip
                print(f"{ranks:>2} {bucket:>7} {statistics.mean(window) * 1e3:11.1f} {max(window) * 1e3:8.1f} "
                      f"{cpu * 1e3:7.1f} {(max(window) - cpu) * 1e3:14.1f} {step * 1e3:6.0f}")  # fmt: skip


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ranks", type=wholes(1, 64), default="2,3,4,5,6,8")
    ap.add_argument("--rounds", type=whole(1, 10_000), default=25)
    ap.add_argument("--cores", type=whole(1, 4096), default=len(os.sched_getaffinity(0)))
    ap.add_argument("--layers", type=whole(1, 1000), default=4)
    ap.add_argument("--hidden", type=whole(1, 65536), default=768)
    ap.add_argument("--micro-batch", type=whole(1, 65536), default=64)
    ap.add_argument("--emulated", type=wholes(1, 64),
                    help="rank counts: run the validation's scenario on the emulated cluster (root)")  # fmt: skip
    ap.add_argument("--buckets", default="25 MiB,100 MiB", help="with --emulated: DDP bucket sizes")
    ap.add_argument("--steps", type=whole(1, 10_000), default=8, help="with --emulated: measured steps per run")
    ap.add_argument("--runs", type=Path, help="a validation folder: its saved runs' spread, nothing measured")
    ap.add_argument("--slice", type=number(1e-6, 10.0), default=4e-3,
                    help="with --runs: the time slice q in seconds")  # fmt: skip
    args = ap.parse_args(argv)
    if args.runs is not None:
        saved_runs(args.runs, args.slice, args.cores)
        return 0
    if args.emulated:
        emulated(args.emulated, args.cores, args.steps, args.buckets.split(","))
        return 0
    q = time_slice()
    print(f"time slice q = {q * 1e3:.2f} ms (two spinning processes on one core), C = {args.cores}")
    print(f"{'R':>2} {'X cpu ms':>8} {'ΣX/C':>7} {'mean end':>8} {'slowest':>8} {'slowest-mean':>12} "
          f"{'out-of-phase pred':>17} {'mean-ΣX/C':>9} {'slowest-ΣX/C':>12}")  # fmt: skip
    for ranks in args.ranks:
        fluid_guess = max(1.0, ranks / args.cores) * 0.05
        m = measure(ranks, args.rounds, args.layers, args.hidden, args.micro_batch, 3 * fluid_guess + 0.1, args.cores)
        fluid = m["bound_s"]
        excess = out_of_phase_lag(ranks, args.cores, q)
        print(f"{ranks:>2} {m['cpu_s'] * 1e3:8.1f} {fluid * 1e3:7.1f} {m['mean_end_s'] * 1e3:8.1f} "
              f"{m['slowest_end_s'] * 1e3:8.1f} {(m['slowest_end_s'] - m['mean_end_s']) * 1e3:12.1f} "
              f"{excess * 1e3:17.1f} {(m['mean_end_s'] - fluid) * 1e3:9.1f} {(m['slowest_end_s'] - fluid) * 1e3:12.1f}"
              + (f"  ({m['late_rounds']:g} rounds overran the period)" if m["late_rounds"] else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
