"""The calibration's optimizer fit back to back (warm, before b478f06) and after a write of twice the last-level
cache (cold, b478f06), alternating, 3 times each; one line per fit (~1-2 min, one core, in a quiet window).

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/results/optimizer-cold-2026-12-05/optfit_ab.py
"""

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.validate_emulated import SCENARIO
from dpsim.scenario import scenario_from_dict
from runtime.calibrate import (
    cold_cache_bytes,
    last_level_cache_bytes,
    measure_optimizer_fit,
    measure_page_fault,
)

sc = scenario_from_dict(yaml.safe_load(SCENARIO))
pf = measure_page_fault()
cold = cold_cache_bytes(last_level_cache_bytes())
print(f"page fault {pf * 1e6:.2f} us, LLC {last_level_cache_bytes()} B, cold write {cold} B", flush=True)
for trial in range(3):
    for name, nbytes in (("warm", 0), ("cold", cold)):

        def log(m: str, name: str = name, trial: int = trial) -> None:
            print(name, trial, m, flush=True)

        fit, res = measure_optimizer_fit(sc, page_fault_s=pf, cold_bytes=nbytes, log=log)
        print(f"{name} {trial}: fit {fit.fixed_s * 1e6:.0f} us + {fit.per_unit_s * 1e9:.3f} ns/param, "
              f"residual {100 * res:.1f} %", flush=True)  # fmt: skip
