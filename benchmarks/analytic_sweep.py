"""Points per second of the analytic engine on a 10,000-point sweep (run: python benchmarks/analytic_sweep.py).

Grid: nodes (10) × inter-node bandwidth (5) × all-reduce algorithm (5) × bucket size (5) ×
ZeRO stage (4) × overlap (2) = 10,000 scenarios of GPT-2 XL on 8-GPU A100 nodes, each
validated from raw data and predicted by :func:`dpsim.analytic.step.predict` via
:func:`dpsim.sweep`. The grid reaches 4,096 ranks of ``direct`` (O(ranks²) transfers to price), so
pricing its 490 distinct data-parallel groups is past the cost guard's 30 s: the sweep runs with
``allow_long`` (this script asks for the whole grid on purpose). The first run prices every group
(cold); the analytic engine keeps its prices, so later runs in the process are warm. Prints the
cold run, the median of the warm ones and the total time. No assertions: numbers only (tests
never assert wall times).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import dpsim

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, one_line_errors, whole

GRID: dict[str, list[object]] = {
    "cluster.nodes": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    "cluster.inter_node.bandwidth": ["25 Gbit/s", "100 Gbit/s", "200 Gbit/s", "400 Gbit/s", "800 Gbit/s"],
    "communication.algorithm": ["ring", "tree", "halving-doubling", "hierarchical", "direct"],
    "communication.bucket": ["1 MiB", "5 MiB", "25 MiB", "100 MiB", "400 MiB"],
    "training.zero_stage": [0, 1, 2, 3],
    "communication.overlap": [True, False],
}
BASE = ["training.global_batch=8192", "training.micro_batch=1"]


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__)
    parser.add_argument("--repeats", type=whole(1, 1000), default=3, help="runs of the sweep (the first is cold)")
    args = parser.parse_args(argv)
    points = 1
    for values in GRID.values():
        points *= len(values)
    base = dpsim.load_scenario(None, overrides=BASE)
    times: list[float] = []
    start_all = time.perf_counter()
    for _ in range(args.repeats):
        start = time.perf_counter()
        frame = dpsim.sweep(base, GRID, allow_long=True)
        times.append(time.perf_counter() - start)
        assert len(frame) == points
    total = time.perf_counter() - start_all
    warm = times[1:] or times
    median = statistics.median(warm)
    print(f"points per sweep:        {points}")
    print(f"sweep times (s):         {', '.join(f'{t:.3f}' for t in times)}")
    print(f"cold sweep (s):          {times[0]:.3f}  ({points / times[0]:,.0f} points/s; prices every group)")
    print(f"median warm sweep (s):   {median:.3f}")
    print(f"points per second, warm: {points / median:,.0f}")
    print(f"total time, {args.repeats} runs (s): {total:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
