"""calib (stop 49): the per-step cost of a ring with two ranks a node, measured where it is paid.

All-reduces (ring = runtime.collectives' p2p ring, backend = gloo's own, hierarchical = runtime.collectives')
on emulated clusters of 2 x 2 and 4 x 2 ranks over a shaped inter-node link, at two of the calibration's own rates
(450 and 1200 Mbit/s: the 1-a-node control at the same rank counts and rates is in the same window's calibration
records), small and large sizes, plus 2.25 MiB (the validation MLP's 768 x 768 bucket) and 9 MiB (its whole gradient,
one bucket). Separates rate from ranks: 2 x 2 vs 4 x 2 at one rate, one layout at two rates. Nothing here is priced;
the records go to calib's analysis.

Root (emulated cluster), from the repository root, inside a quiet window:
    PYTHONPATH=. python benchmarks/results/two-a-node-2026-12-07/calib_two_a_node.py OUT_DIR [DEADLINE_HH:MM]
Writes OUT_DIR/records.json (rank 0's records, as calibration-bench.json's, each with nodes / per_node added) and
OUT_DIR/run.log. DEADLINE (UTC, default none): no new cluster is started within 60 s of it. About 4-6 minutes.
"""

import datetime
import json
import sys
import time
from pathlib import Path

from runtime.calibrate import CalibrationPlan, MiB, _testbed, run_bench

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
deadline = None
if len(sys.argv) > 2:
    hh, mm = (int(x) for x in sys.argv[2].split(":"))
    now = datetime.datetime.now(datetime.timezone.utc)
    deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0).timestamp()
sizes = (8 * 1024, 64 * 1024, 1 * MiB, 2362368, 9449472)
plan = CalibrationPlan(
    sizes=sizes,
    algorithms=("ring", "backend", "hierarchical"),
    collectives=("all_reduce",),
    reps=7,
    max_reps=15,
    point_budget_s=3.0,
)
records = []
configs = [(2, 2, 1200e6 / 8), (4, 2, 1200e6 / 8), (2, 2, 450e6 / 8), (4, 2, 450e6 / 8)]
log = (out / "run.log").open("a")  # one log for the whole run, closed at exit
for nodes, per_node, rate in configs:
    if deadline is not None and time.time() > deadline - 60:
        print(f"skip {nodes}x{per_node} at {rate * 8 / 1e6:g} Mbit/s: deadline", file=log, flush=True)
        continue
    start = time.time()
    n = nodes * per_node
    name = f"two-{nodes}x{per_node}-{rate * 8 / 1e6:g}mbit"
    with _testbed("emulated", nodes, per_node, rate, plan.tcp_cc) as tb:
        for rec in run_bench(n, per_node, tb, plan, out / name):
            rec.update(link_class="inter", rate_bytes_per_s=rate, nodes=nodes, per_node=per_node)
            rec["tbf_burst_bytes"] = int(getattr(tb, "burst_bytes", 0)) or None
            records.append(rec)
    print(f"{name}: {time.time() - start:.1f} s", file=log, flush=True)
    (out / "records.json").write_text(json.dumps(records, indent=1))
print(f"wrote {len(records)} records to {out / 'records.json'}")
