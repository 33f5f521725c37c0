"""The p2p tree all-reduce on the emulated cluster: its time over 2·S/B at 3-8 ranks (the slow root test's setting).

Root, from the repository root (one run of each rank count, 2 timed calls after 1 warm-up, their median):

    DPSIM_NETNS_PREFIX=emu- PYTHONPATH=. python benchmarks/results/validation-2026-12-05-f/tree_ratio.py 3,4,5,6,7,8
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from runtime.calibrate import CalibrationPlan, run_bench
from runtime.testbed.emulated import EmulatedCluster

RATE, SIZE = 50e6 / 8, 8 * 2**20

for ranks in [int(x) for x in sys.argv[1].split(",")]:
    plan = CalibrationPlan(
        sizes=(SIZE,), algorithms=("tree",), collectives=("all_reduce",), reps=2, warmup=1, timeout_s=300
    )
    with tempfile.TemporaryDirectory() as tmp, EmulatedCluster(nodes=ranks, per_node=1, rate=RATE) as cluster:
        (record,) = run_bench(ranks, 1, cluster, plan, Path(tmp) / "bench")
    bound = 2 * record["size_bytes"] / RATE
    print(
        f"{ranks} ranks: {record['time_s']:.3f} s, 2·S/B {bound:.3f} s, ratio {record['time_s'] / bound:.3f}, "
        f"times {record.get('times_s')}",
        flush=True,
    )
