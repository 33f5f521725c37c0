"""validate_emulated.py's fresh44 set, priced BEFORE the windows with the previous stored profile (both engines).

PYTHONPATH=. python benchmarks/results/validation-2026-12-06-q/preprice.py [PROFILE] [CASE_SET]
(default PROFILE: benchmarks/results/validation-2026-12-06-o/all/profile.yaml, stop 42's calibration; CASE_SET:
fresh44. Stop 45 prices fresh45 with it: ``… preprice.py benchmarks/results/validation-2026-12-06-q/all/profile.yaml
fresh45``, ``../validation-2026-12-06-r/preprice.txt``.)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, "benchmarks")
from validation_sessions import validate_emulated_module

from dpsim import api
from dpsim.scenario import CalibrationRef
from runtime.validate import build_cases, calibration_overlap

ve = validate_emulated_module()
prof = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/validation-2026-12-06-o/all/profile.yaml")
with tempfile.TemporaryDirectory() as tmp:
    (Path(tmp) / "s.yaml").write_text(ve.SCENARIO)
    cases = build_cases(Path(tmp) / "s.yaml", [], ve.CASE_SETS[sys.argv[2] if len(sys.argv) > 2 else "fresh44"])
for i, case in enumerate(cases):
    s = case.scenario.model_copy(deep=True)
    s.calibration = CalibrationRef(profile=str(prof.resolve()))
    a, b = api.run(s, engine="analytic"), api.run(s, engine="sim")
    overlap = "; ".join(calibration_overlap(s, ve.load_profile(prof))) or "none"
    print(f"{i:2d} {case.label:118s} n{s.world_size} analytic {1e3 * a.step_time_s:7.1f} ms  "
          f"sim {1e3 * b.step_time_s:7.1f}  overlap: {overlap}")  # fmt: skip
