"""The per-case table of this folder's README: -i (cubic) and its bbr control beside -h (no root).

PYTHONPATH=. python benchmarks/results/validation-2026-12-05-i/table.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
cubic = pd.read_csv(HERE / "all" / "reuse" / "validation.csv")
bbr = pd.read_csv(HERE / "bbr" / "all" / "reuse" / "validation.csv")
old = pd.read_csv(HERE.parent / "validation-2026-12-05-h" / "all" / "reuse" / "validation.csv")
print(
    "| # | configuration | ranks | cubic measured ms (spread) | predicted ms | error % | bbr measured ms (spread) "
    "| bbr error % | -h error % | other cores, max (cubic / bbr) |"
)
print("|---|---|---|---|---|---|---|---|---|---|")
for i, row in cubic.iterrows():
    b, h = bbr.iloc[i], old.iloc[i]
    spread = 100 * (row.measured_step_max_s - row.measured_step_min_s) / row.measured_step_time_s
    bspread = 100 * (b.measured_step_max_s - b.measured_step_min_s) / b.measured_step_time_s
    print(
        f"| {i} | {row.case} | {row.ranks} | {1e3 * row.measured_step_time_s:.0f} ({spread:.1f} %) | "
        f"{1e3 * row.predicted_analytic_step_time_s:.0f} | {row.error_analytic_step_time_s_pct:+.1f} | "
        f"{1e3 * b.measured_step_time_s:.0f} ({bspread:.1f} %) | {b.error_analytic_step_time_s_pct:+.1f} | "
        f"{h.error_analytic_step_time_s_pct:+.1f} | {row.other_cores_max:.2f} / {b.other_cores_max:.2f} |"
    )
for name, t in (("cubic", cubic), ("bbr", bbr), ("-h", old)):
    err = t.error_analytic_step_time_s_pct
    same = bool((t.error_sim_step_time_s_pct - err).abs().max() < 1e-9)
    print(
        f"{name}: MAPE {err.abs().mean():.2f} %, mean error {err.mean():+.1f} %, worst {err.abs().max():.1f} % "
        f"(case {err.abs().idxmax()}), sim == analytic: {same}"
    )
