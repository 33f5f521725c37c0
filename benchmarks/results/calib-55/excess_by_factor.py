"""Where the ranks' per-step CPU excess lives: per run, the ranks' median compute CPU a step minus the engines' own work
for it (``calib-53/model_per_step.py``'s work, the profile's ε), split by what each case varies.

Per group (``runs.jsonl``, ``profile.yaml``, ``summary.json``), the cases without a straggler: the residual
``ranks − engines`` fitted as ``s + acc·m`` (a per-step constant and a per-micro-batch one) over the runs of one
subset (ranks sharing the host k = 2 / 3–4 / 5–8; one / two ranks a node; gloo's own algorithm, ring, tree or
another; overlap or not; the exposed communication and the link rate in three bands; the 2.36 M-parameter MLP or the
others). Prints s and m (ms) per subset, pooled over the groups given, then per group.

    PYTHONPATH=. python benchmarks/results/calib-55/excess_by_factor.py \
        benchmarks/results/validation-2026-12-0[4-7]*/all benchmarks/results/validation-2026-12-08-a/all
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


def rows(group: Path, scenario: Path) -> list[dict]:
    summary = group / "summary.json"
    case_set = (json.loads(summary.read_text()).get("case_set") if summary.exists() else None) or "default"
    if case_set not in ve.CASE_SETS:
        return []
    cases = build_cases(scenario, [], ve.CASE_SETS[case_set])
    runs = [json.loads(line) for line in (group / "runs.jsonl").read_text().splitlines() if line.strip()]
    runs = [r for r in runs if r["engine"] == "runtime"]
    if len(runs) % len(cases):
        return []
    repeats = len(runs) // len(cases)
    profile = load_profile(group / "profile.yaml")
    loss = profile.host_model.efficiency_loss if profile.host_model is not None else 0.0
    out = []
    for index, case in enumerate(cases):
        s = case.scenario.model_copy(deep=True)
        s.calibration = CalibrationRef(profile=str(group / "profile.yaml"))
        if s.variability.stragglers:
            continue
        k, acc = s.world_size, s.accumulation_steps
        fwd, bwd, _ = microbatch_times(s, profile)
        saving = float(no_sync_backward_saving(s, profile, bwd))
        work = (acc * (fwd + bwd) - (acc - 1) * saving) / profile.host_slowdown(s) * (1 + loss * (k - 1))
        for r in runs[index * repeats : (index + 1) * repeats]:
            cpu = r["extra"].get("per_rank_compute_cpu_s")
            if not cpu:
                continue
            out.append({"group": group.parent.name, "k": k, "wpn": s.cluster.workers_per_node, "acc": acc,
                        "alg": s.communication.algorithm, "overlap": s.communication.overlap,
                        "params": s.model.num_parameters, "exposed": r["exposed_comm_s"],
                        "rate": r["extra"]["link_rate_bytes_per_s"] * 8 / 1e6,
                        "excess": st.median(cpu.values()) - work})  # fmt: skip
    return out


def fit(sub: list[dict]) -> str:
    if len({r["acc"] for r in sub}) < 2:
        return f"n {len(sub):3d}  (one accumulation)  mean excess {1e3 * st.mean(r['excess'] for r in sub):+.2f} ms"
    x = np.array([[1.0, r["acc"]] for r in sub])
    c, *_ = np.linalg.lstsq(x, np.array([r["excess"] for r in sub]), rcond=None)
    return f"n {len(sub):3d}  per step {1e3 * c[0]:+.2f} ms  per micro-batch {1e3 * c[1]:+.2f} ms"


def main() -> None:
    scenario = Path(tempfile.mkdtemp()) / "scenario.yaml"
    scenario.write_text(ve.SCENARIO)
    data = [row for arg in sys.argv[1:] for row in rows(Path(arg), scenario)]
    splits = {
        "all": lambda r: True,
        "k 2": lambda r: r["k"] == 2,
        "k 3-4": lambda r: 3 <= r["k"] <= 4,
        "k 5-8": lambda r: r["k"] >= 5,
        "one a node": lambda r: r["wpn"] == 1,
        "two a node": lambda r: r["wpn"] == 2,
        "backend": lambda r: r["alg"] == "backend",
        "ring": lambda r: r["alg"] == "ring",
        "tree": lambda r: r["alg"] == "tree",
        "other algorithms": lambda r: r["alg"] not in ("backend", "ring", "tree"),
        "overlap": lambda r: r["overlap"],
        "no overlap": lambda r: not r["overlap"],
        "exposed < 50 ms": lambda r: r["exposed"] < 0.05,
        "exposed 50-150 ms": lambda r: 0.05 <= r["exposed"] < 0.15,
        "exposed >= 150 ms": lambda r: r["exposed"] >= 0.15,
        "rate < 400 Mbit/s": lambda r: r["rate"] < 400,
        "rate 400-800 Mbit/s": lambda r: 400 <= r["rate"] < 800,
        "rate >= 800 Mbit/s": lambda r: r["rate"] >= 800,
        "2.36 M parameters": lambda r: r["params"] == 2362368,
        "other sizes": lambda r: r["params"] != 2362368,
    }
    for name, keep in splits.items():
        sub = [r for r in data if keep(r)]
        if sub:
            print(f"{name:20s} {fit(sub)}")
    for group in sorted({r["group"] for r in data}):
        sub = [r for r in data if r["group"] == group]
        print(f"{group:28s} {fit(sub)}")


if __name__ == "__main__":
    main()
