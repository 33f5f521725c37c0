"""The simulator's cost guard against the real cost: estimated vs measured CPU seconds.

:func:`dpsim.sim.budget.estimate` prices a simulation before it runs, so that a user is
stopped before a run that would not finish. An estimate far above the truth refuses runs
that would finish in seconds; one far below lets a runaway through. This script runs
chunk- and fast-level steps over a range of rank counts, algorithms and jitter and prints
``estimate / measured`` (CPU time of the process, the steadier clock on a shared machine).
The guard is meant to be an upper bound within a small factor (ratio 1 to about 4).

``--pipeline`` measures instead what the guard charges a pipelined step: the schedule evaluated arithmetically
(:func:`dpsim.analytic.step.pipeline_terms`) as a simulation runs it, program built cold, without and with sends,
twice (the step and its record), in µs and bytes per operation evaluated
(:func:`dpsim.analytic.pipeline_schedule.evaluated_operations`; the source of
:data:`dpsim.sim.budget.SCHEDULE_OP_S`), then whole pipelined simulations, estimate against CPU time.

Usage: python benchmarks/budget_check.py [--max-ranks 512] [--pipeline]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, one_line_errors, whole
from benchmarks.sim_scale import scenario  # the same GPT-2 XL cluster the speed benchmark times
from dpsim.sim import simulate
from dpsim.sim.budget import estimate


@one_line_errors
def main() -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-ranks", type=whole(16), default=512, help="largest world to time (16 is the smallest)")
    parser.add_argument("--pipeline", action="store_true", help="the pipeline schedule's charge instead")
    args = parser.parse_args()
    if args.pipeline:
        pipeline()
        return 0
    cases = [
        (world, algorithm, jitter, fidelity)
        for world in (16, 64, 128, 256, 512, 1024)
        if world <= args.max_ranks
        for algorithm in ("ring", "hierarchical")
        for jitter in (0.0, 0.05)
        for fidelity in ("chunk", "fast")
        if not (algorithm == "ring" and fidelity == "chunk" and jitter > 0 and world > 64)
    ]
    print(f"{'ranks':>6} {'algorithm':>13} {'jitter':>6} {'fidelity':>8} {'estimate_s':>11} {'cpu_s':>8} {'ratio':>7}")
    ratios = []
    for world, algorithm, jitter, fidelity in cases:
        s = scenario(world, algorithm, jitter, steps=3)
        guess = estimate(s, fidelity).seconds
        cpu = time.process_time()
        simulate(s, fidelity=fidelity, allow_long=True)
        cpu = time.process_time() - cpu
        ratio = guess / cpu
        ratios.append(ratio)
        print(f"{world:>6} {algorithm:>13} {jitter:>6} {fidelity:>8} {guess:>11.3g} {cpu:>8.3g} {ratio:>7.2f}")
    print(f"estimate/measured: median {statistics.median(ratios):.2f}, min {min(ratios):.2f}, max {max(ratios):.2f}")
    return 0


def pipeline() -> None:
    """µs and bytes per evaluated operation of the pipeline schedule, then whole pipelined simulations."""
    import tracemalloc

    from dpsim.analytic import pipeline_schedule as ps
    from dpsim.scenario import load_scenario

    shapes = [(2, 2048, 1, "1f1b"), (4, 1024, 1, "1f1b"), (8, 512, 2, "interleaved"), (32, 128, 1, "1f1b"),
              (64, 64, 1, "gpipe"), (8, 10**6, 1, "1f1b"), (64, 10**5, 1, "1f1b")]  # fmt: skip
    print(f"{'p':>3} {'m':>8} {'v':>2} {'schedule':>11} {'evaluated':>10} {'us/op':>6} {'B/op':>5}")
    for p, m, v, schedule in shapes:
        evaluated = ps.evaluated_operations(p, m, v, schedule)
        times = []
        for _ in range(3):
            ps.forget_programs()
            cpu = time.process_time()
            for _ in range(2):  # the step and its record
                ps.bubble_and_sends(1.0, 2.0, p, m, v, schedule, 0.5)
            times.append(time.process_time() - cpu)
        ps.forget_programs()
        tracemalloc.start()
        ps.bubble_and_sends(1.0, 2.0, p, m, v, schedule, 0.5)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        us = statistics.median(times) / evaluated * 1e6
        print(f"{p:>3} {m:>8} {v:>2} {schedule:>11} {evaluated:>10,} {us:>6.2f} {peak / evaluated:>5.0f}")
    print(f"{'p':>3} {'m':>8} {'schedule':>11} {'estimate_s':>11} {'cpu_s':>8}")
    runs = [(2, 4096, "1f1b"), (4, 16384, "1f1b"), (8, 65536, "interleaved"), (8, 2 * 10**6, "1f1b")]
    for p, batch, schedule in runs:
        sets = [f"training.pipeline_parallel={p}", "cluster.nodes=8", f"training.global_batch={batch}"]
        sets += ["training.micro_batch=1", f"training.pipeline_schedule={schedule}"]
        s = load_scenario(None, [*sets, "training.virtual_stages=2"] if schedule == "interleaved" else sets)
        ps.forget_programs()
        guess = estimate(s).seconds
        cpu = time.process_time()
        simulate(s, allow_long=True)
        cpu = time.process_time() - cpu
        print(f"{p:>3} {s.accumulation_steps:>8} {schedule:>11} {guess:>11.3g} {cpu:>8.3g}")


if __name__ == "__main__":
    raise SystemExit(main())
