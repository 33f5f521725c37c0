"""The fresh set's step, priced BEFORE window B by main's model with -n's profile (both engines; no root).

PYTHONPATH=. python benchmarks/results/plain-ddp-2026-12-06-o/preprice.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, "benchmarks")
import plain_ddp

from dpsim import api
from dpsim.scenario import CalibrationRef

prof = Path("benchmarks/results/plain-ddp-2026-12-06-n/profile.yaml").resolve()
for i, case in enumerate(plain_ddp._cases((), "fresh")):
    s = case.scenario.model_copy(deep=True)
    s.calibration = CalibrationRef(profile=str(prof))
    a, b = api.run(s, engine="analytic"), api.run(s, engine="sim")
    print(
        f"{i:2d} {case.label:75s} n{s.world_size} analytic {1e3 * a.step_time_s:7.1f} ms"
        f"  sim {1e3 * b.step_time_s:7.1f}"
    )
