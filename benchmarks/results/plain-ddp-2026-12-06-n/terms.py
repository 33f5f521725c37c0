"""Per case: plain DDP's measured forward / backward / optimizer (medians over the runs) beside the analytic engine's
compute / comm / exposed comm / optimizer with this folder's profile (no root; diagnostic, stop 41).

    PYTHONPATH=. python benchmarks/results/plain-ddp-2026-12-06-n/terms.py
"""

import json
import statistics
import sys

sys.path.insert(0, "benchmarks")
from pathlib import Path

import plain_ddp

from dpsim import api
from dpsim.scenario import CalibrationRef

D = Path("benchmarks/results/plain-ddp-2026-12-06-n")
runs = [json.loads(ln) for ln in (D / "runs.jsonl").read_text().splitlines()]
prof = D / "profile.yaml"
for i, case in enumerate(plain_ddp._cases((), "heldout")):
    mine = [x for x in runs if x["index"] == i]
    med = {k: statistics.median(x[k] for x in mine) for k in ("step_time_s", "forward_s", "backward_s", "optimizer_s")}
    s = case.scenario.model_copy(deep=True)
    s.calibration = CalibrationRef(profile=str(prof.resolve()))
    r = api.run(s, engine="analytic")
    ms = {k: round(1e3 * v) for k, v in med.items()}
    pred = {
        k: round(1e3 * getattr(r, k)) for k in ("step_time_s", "compute_s", "comm_s", "exposed_comm_s", "optimizer_s")
    }
    print(f"{case.label[:40]:40s} n{s.world_size} | plain {ms} | predicted {pred}")
