"""The same split as ``per_step_cpu.py`` on what the engines price for those runs' compute work, beside the ranks'.

Per group (``runs.jsonl``, ``profile.yaml``, ``summary.json``), the 2,362,368-parameter cases without a straggler: the
engines' work of the critical rank, ``(acc·(f + b) − (acc − 1)·no_sync_backward_saving) / host_slowdown · (1 + ε(k −
1))`` (``dpsim.analytic.step.microbatch_times``, the profile's ε), and the ranks' median compute CPU, each fitted as
``s + s_k(k − 1) + acc·f + acc·mb·c + acc·mb·c_k(k − 1) + acc·f_k(k − 1)``; printed: s, f and c of both. Seconds.

    PYTHONPATH=. python benchmarks/results/calib-53/model_per_step.py benchmarks/results/validation-2026-12-07-g/all ...
"""

from __future__ import annotations

import json
import statistics as st
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import benchmarks.validate_emulated as ve
from dpsim.analytic.step import microbatch_times, no_sync_backward_saving
from dpsim.calibration import load_profile
from dpsim.scenario import CalibrationRef
from runtime.validate import build_cases

PARAMETERS = 2362368


def main() -> None:
    scenario = Path(tempfile.mkdtemp()) / "scenario.yaml"
    scenario.write_text(ve.SCENARIO)
    for arg in sys.argv[1:]:
        group = Path(arg)
        summary = group / "summary.json"
        case_set = (json.loads(summary.read_text()).get("case_set") if summary.exists() else None) or "default"
        cases = build_cases(scenario, [], ve.CASE_SETS[case_set])
        runs = [json.loads(line) for line in (group / "runs.jsonl").read_text().splitlines() if line.strip()]
        runs = [r for r in runs if r["engine"] == "runtime"]
        repeats = len(runs) // len(cases)
        profile = load_profile(group / "profile.yaml")
        loss = profile.host_model.efficiency_loss if profile.host_model is not None else 0.0
        design, model, ranks = [], [], []
        for index, case in enumerate(cases):
            s = case.scenario.model_copy(deep=True)
            s.calibration = CalibrationRef(profile=str(group / "profile.yaml"))
            if s.variability.stragglers or s.model.num_parameters != PARAMETERS:
                continue
            k, acc, mb = s.world_size, s.accumulation_steps, s.training.micro_batch
            fwd, bwd, _ = microbatch_times(s, profile)
            saving = float(no_sync_backward_saving(s, profile, bwd))
            work = (acc * (fwd + bwd) - (acc - 1) * saving) / profile.host_slowdown(s) * (1 + loss * (k - 1))
            for r in runs[index * repeats : (index + 1) * repeats]:
                design.append([1.0, k - 1, acc, acc * mb, acc * mb * (k - 1), acc * (k - 1)])
                model.append(work)
                ranks.append(st.median(r["extra"]["per_rank_compute_cpu_s"].values()))
        x = np.array(design)
        cm, *_ = np.linalg.lstsq(x, np.array(model), rcond=None)
        cr, *_ = np.linalg.lstsq(x, np.array(ranks), rcond=None)
        print(f"{arg}: n {len(ranks)}  per step: ranks {1e3 * cr[0]:.2f} ms, engines {1e3 * cm[0]:.2f} ms | per "
              f"micro-batch: ranks {1e3 * cr[2]:.2f}, engines {1e3 * cm[2]:.2f} ms | per sample: ranks "
              f"{1e6 * cr[3]:.1f}, engines {1e6 * cm[3]:.1f} us")  # fmt: skip


if __name__ == "__main__":
    main()
