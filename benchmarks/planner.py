"""Planner throughput: configurations screened per second (vectorised closed forms).

Run: ``python benchmarks/planner.py [--repeats 3] [--only MODEL]``. Prints, per model, the grid points searched,
the valid and memory-feasible configurations, the screen time and configurations per second, and the total time
including the exact re-check of the best ones with ``predict`` (``plan``): medians of ``--repeats`` runs after one
warm-up, with each time's min–max over the repeats beside it (a difference inside that spread is noise) and the
median CPU time; each run builds its pipeline programs afresh. The three
models are the README's *Capacity planning* searches (llama2-7b on up to 1,024 devices, 70b and gpt3-175b on up to
4,096, over ring, hierarchical and tree); the last row is the README's ``dpsim plan`` example (llama2-70b, A100
and H100, up to 2,048, prices, a 30-day deadline, failures) as the CLI runs it.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, one_line_errors, whole
from dpsim.plan import PlanRequest, enumerate_configurations, plan


def cases() -> list[tuple[str, PlanRequest]]:
    """(label, request) of each timed search."""
    searches = [
        ("llama2-7b", ("a100-80gb", "h100-sxm"), 1024),
        ("llama2-70b", ("a100-80gb", "h100-sxm", "h200"), 4096),
        ("gpt3-175b", ("a100-80gb", "h100-sxm"), 4096),
    ]
    out = [
        (model, PlanRequest(model, 2e12, devices, top, algorithms=("ring", "hierarchical", "tree"), top=20))
        for model, devices, top in searches
    ]
    readme = PlanRequest(
        "llama2-70b",
        2e12,
        ("a100-80gb", "h100-sxm"),
        2048,
        price_per_device_hour={"a100-80gb": 1.8, "h100-sxm": 3.0},
        deadline_s=30 * 86400.0,
        node_mtbf_s=50000 * 3600.0,
        checkpoint_s=120.0,
        restart_s=600.0,
        top=10,
        simulate=3,
    )
    return [*out, ("README plan", readme)]


def _timed(fn: object, request: PlanRequest) -> tuple[float, float, object]:
    """(wall, CPU seconds of this process, result): CPU time is the steadier clock on a shared machine. The pipeline
    programs' caches are emptied first, so each run builds its programs as a fresh ``dpsim plan`` does."""
    from dpsim.analytic import pipeline_schedule

    forget = getattr(pipeline_schedule, "forget_programs", None)  # since stop 40
    if forget is not None:
        forget()
    elif hasattr(pipeline_schedule.schedule_program, "cache_clear"):  # before 2eb27d6: an lru_cache
        pipeline_schedule.schedule_program.cache_clear()
    start, cpu = time.perf_counter(), time.process_time()
    result = fn(request)  # type: ignore[operator]
    return time.perf_counter() - start, time.process_time() - cpu, result


@one_line_errors
def main() -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=whole(1, 1000), default=3, help="timed runs of each (median reported)")
    parser.add_argument("--only", default=None, help="time only the row with this label")
    args = parser.parse_args()
    labels = [label for label, _ in cases()]
    if args.only is not None and args.only not in labels:
        raise ScriptError(f"--only: expected one of {', '.join(labels)}, got {args.only!r}")
    print(
        f"{'search':<12} {'searched':>9} {'valid':>8} {'fit':>8} {'screen s':>9} {'(min-max)':>13} {'cpu s':>6} "
        f"{'configs/s':>11} {'plan s':>7} {'(min-max)':>13} {'cpu s':>6}"
    )
    for label, request in cases():
        if args.only and label != args.only:
            continue
        enumerate_configurations(request)  # warm-up (imports, catalog, caches)
        screens, plans, screen_cpu, plan_cpu = [], [], [], []
        df: Any = None
        for _ in range(args.repeats):
            seconds, cpu, df = _timed(enumerate_configurations, request)
            screens.append(seconds)
            screen_cpu.append(cpu)
            seconds, cpu, _ = _timed(plan, request)
            plans.append(seconds)
            plan_cpu.append(cpu)
        searched = int(df.attrs["searched"])
        screen_s, plan_s = statistics.median(screens), statistics.median(plans)
        fit = int((~df["oom"]).sum())
        print(
            f"{label:<12} {searched:>9,} {len(df):>8,} {fit:>8,} {screen_s:>9.2f} "
            f"{f'({min(screens):.2f}-{max(screens):.2f})':>13} {statistics.median(screen_cpu):>6.2f} "
            f"{searched / screen_s:>11,.0f} {plan_s:>7.2f} {f'({min(plans):.2f}-{max(plans):.2f})':>13} "
            f"{statistics.median(plan_cpu):>6.2f}"
        )

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
