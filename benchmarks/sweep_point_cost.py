"""What a closed-form sweep point costs, measured, beside what ``dpsim sweep --max-time`` prices it at.

:func:`dpsim.sim.budget.sweep_point_s` prices a point from its scenario alone (a base, each data-parallel
collective of its step, each pipeline operation evaluated one by one), so that ``--max-time`` refuses the same grid
the same way on every machine. This script runs ``api.sweep`` over ``--points`` values of a field no engine reads
(``training.learning_rate``: each point is built, laid out and composed, its group priced once, as in a sweep
whose group repeats) for each case below, and prints CPU milliseconds a point (median and range of ``--repeat``
runs, after a warm-up sweep) beside the price and their ratio. The price is meant as an upper bound within a small
factor; ``tests/test_sweep_max_time.py`` holds the table this printed.

Usage: python benchmarks/sweep_point_cost.py [--points 12] [--repeat 3]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, one_line_errors, whole
from dpsim import api
from dpsim.scenario import load_scenario
from dpsim.sim.budget import dp_collectives, pipeline_evaluated_operations, sweep_point_s

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = "scenarios/default.yaml"
LLAMA = "scenarios/llama2-7b-128-h100-zero1.yaml"
CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "default": (DEFAULT, ()),
    "default, 12.5 MiB buckets": (DEFAULT, ("communication.bucket=12.5 MiB",)),
    "default, 6.25 MiB buckets": (DEFAULT, ("communication.bucket=6.25 MiB",)),
    "default, 1 MiB buckets": (DEFAULT, ("communication.bucket=1 MiB",)),
    "default, ZeRO-3": (DEFAULT, ("training.zero_stage=3",)),
    "default, PP 4": (DEFAULT, ("training.pipeline_parallel=4",)),
    "default, PP 8, batch 4,096": (DEFAULT, ("training.pipeline_parallel=8", "training.global_batch=4096")),
    "llama2-7b ZeRO-1": (LLAMA, ()),
    "llama2-7b, PP 4, batch 1,024": (LLAMA, ("training.pipeline_parallel=4", "training.global_batch=1024")),
    "resnet50": ("scenarios/resnet50-32-v100-100gbe.yaml", ()),
    "cpu cluster": ("scenarios/cpu-cluster-4-ranks-1gbit.yaml", ()),
}
"""Each case: a bundled scenario and its ``--set`` overrides."""


def measure(path: str, sets: tuple[str, ...], points: int, repeat: int) -> list[float]:
    """CPU milliseconds a point of ``repeat`` sweeps of ``points`` points each, after one warm-up point."""
    source = str(ROOT / path)
    api.sweep(source, {"training.learning_rate": [5e-5]}, overrides=sets)
    vary = {"training.learning_rate": [1e-4 * (i + 1) for i in range(points)]}
    out = []
    for _ in range(repeat):
        start = time.process_time()
        api.sweep(source, vary, overrides=sets)
        out.append((time.process_time() - start) / points * 1e3)
    return out


@one_line_errors
def main() -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=whole(1, 10_000), default=12, help="points a sweep (default 12)")
    parser.add_argument("--repeat", type=whole(1, 100), default=3, help="sweeps a case (default 3)")
    args = parser.parse_args()
    print(f"{'case':30s} {'collectives':>11s} {'pipeline ops':>12s} {'measured ms':>18s} {'priced ms':>9s} ratio")
    for name, (path, sets) in CASES.items():
        scenario = load_scenario(ROOT / path, list(sets))
        collectives = sum(work.count for work in dp_collectives(scenario))
        price = sweep_point_s(scenario) * 1e3
        ms = measure(path, sets, args.points, args.repeat)
        median = statistics.median(ms)
        spread = f"{median:.2f} ({min(ms):.2f}-{max(ms):.2f})"
        print(
            f"{name:30s} {collectives:11,.0f} {pipeline_evaluated_operations(scenario):12,d} {spread:>18s} "
            f"{price:9.2f} {price / median:5.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
