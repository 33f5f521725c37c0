"""The per-case table of this folder's README: -j beside stop 36's -i (bbr, the host's control, and cubic) (no root).

PYTHONPATH=. python benchmarks/results/validation-2026-12-05-j/table.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
new = pd.read_csv(HERE / "all" / "reuse" / "validation.csv")
bbr = pd.read_csv(HERE.parent / "validation-2026-12-05-i" / "bbr" / "all" / "reuse" / "validation.csv")
cubic = pd.read_csv(HERE.parent / "validation-2026-12-05-i" / "all" / "reuse" / "validation.csv")
print(
    "| # | configuration | ranks | measured ms (spread) | predicted ms | error % | -i bbr error % | -i cubic error % "
    "| other cores, max |"
)
print("|---|---|---|---|---|---|---|---|---|")
for i, row in new.iterrows():
    spread = 100 * (row.measured_step_max_s - row.measured_step_min_s) / row.measured_step_time_s
    print(
        f"| {i} | {row.case} | {row.ranks} | {1e3 * row.measured_step_time_s:.0f} ({spread:.1f} %) | "
        f"{1e3 * row.predicted_analytic_step_time_s:.0f} | {row.error_analytic_step_time_s_pct:+.1f} | "
        f"{bbr.iloc[i].error_analytic_step_time_s_pct:+.1f} | {cubic.iloc[i].error_analytic_step_time_s_pct:+.1f} | "
        f"{row.other_cores_max:.2f} |"
    )
for name, t in (("-j", new), ("-i bbr", bbr), ("-i cubic", cubic)):
    err = t.error_analytic_step_time_s_pct
    same = bool((t.error_sim_step_time_s_pct - err).abs().max() < 1e-9)
    spread = 100 * (t.measured_step_max_s - t.measured_step_min_s) / t.measured_step_time_s
    print(
        f"{name}: MAPE {err.abs().mean():.2f} %, mean error {err.mean():+.1f} %, worst {err.abs().max():.1f} % "
        f"(case {err.abs().idxmax()}), spread median {spread.median():.1f} % (largest {spread.max():.1f} %), "
        f"sim == analytic: {same}"
    )
