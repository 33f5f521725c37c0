"""The runtime's overlap on/off runs of this folder (calib's request, stop 42), one line each (no root).

PYTHONPATH=. python benchmarks/results/overlap-2026-12-06-o/summarize.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
for ln in (HERE / "runs.jsonl").read_text(encoding="utf-8").splitlines():
    r = json.loads(ln)
    x = r["extra"]
    label = (
        r["scenario"].split("[", 1)[1].replace("cluster.", "").replace("training.", "").replace("communication.", "")
    )
    overlap = "off" if "overlap: false" in str(x.get("comm_hook")) else "on"
    per = {k: statistics.median(x[k].values() if isinstance(x[k], dict) else x[k])
           for k in ("per_rank_compute_s", "per_rank_compute_cpu_s", "per_rank_exposed_comm_s")}  # fmt: skip
    print(
        f"{label} overlap {overlap}: step {1e3 * r['step_time_s']:6.1f} compute {1e3 * r['compute_s']:6.1f} comm "
        f"{1e3 * r['comm_s']:6.1f} exposed {1e3 * r['exposed_comm_s']:6.1f} opt {1e3 * r['optimizer_s']:5.1f} | "
        f"median rank: compute {1e3 * per['per_rank_compute_s']:6.1f} cpu {1e3 * per['per_rank_compute_cpu_s']:6.1f} "
        f"exposed {1e3 * per['per_rank_exposed_comm_s']:6.1f} | other cores {x['host_load'].get('other_cores')}"
    )
