"""The fresh2 set's step, priced BEFORE window B with the -o profile (both engines; no root).

PYTHONPATH=. python benchmarks/results/plain-ddp-2026-12-06-p/preprice.py [PROFILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, "benchmarks")
import plain_ddp

from dpsim import api
from dpsim.scenario import CalibrationRef

prof = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/plain-ddp-2026-12-06-o/profile.yaml").resolve()
for i, case in enumerate(plain_ddp._cases((), "fresh2")):
    s = case.scenario.model_copy(deep=True)
    s.calibration = CalibrationRef(profile=str(prof))
    a, b = api.run(s, engine="analytic"), api.run(s, engine="sim")
    print(
        f"{i:2d} {case.label:90s} n{s.world_size} analytic {1e3 * a.step_time_s:7.1f} ms"
        f"  sim {1e3 * b.step_time_s:7.1f}"
    )
