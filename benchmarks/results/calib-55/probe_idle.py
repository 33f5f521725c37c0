"""``runtime.calibrate.measure_step_overhead`` on the validation's scenario (MLP 4 x 768, Adam), twice each with
``idle_s`` 0 (the measurement before stop 55) and 0.2 s (now: the optimizer fit's wait), alternating; at the micro-batch
sizes given (the calibration's default is 1,2,4).

    PYTHONPATH=. python benchmarks/results/calib-55/probe_idle.py 1,2,4
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import benchmarks.validate_emulated as ve
from dpsim.scenario import load_scenario
from runtime.calibrate import measure_step_overhead


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="probeidle"))
    (folder / "scenario.yaml").write_text(ve.SCENARIO)
    scenario = load_scenario(folder / "scenario.yaml")
    sizes = tuple(int(x) for x in sys.argv[1].split(","))
    for _ in range(2):
        for idle in (0.0, 0.2):
            r = measure_step_overhead(scenario, sizes, idle_s=idle)
            print(f"micro-batches {sizes} idle {idle:.1f} s: {r.measured_s * 1e3:+.2f} ms "
                  f"(+-{r.half_width_s * 1e3:.2f}) wall {r.wall_s * 1e3:+.2f} by size "
                  + " ".join(f"{k}:{v * 1e3:+.2f}" for k, v in r.by_micro_batch.items()), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
