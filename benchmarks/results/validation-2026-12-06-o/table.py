"""The per-case table of this folder's README: -o (stop 42, the 72 KiB-burst testbed) beside -j (stop 37, the old
segmenting testbed) (no root).

PYTHONPATH=. python benchmarks/results/validation-2026-12-06-o/table.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
new = pd.read_csv(HERE / "all" / "reuse" / "validation.csv")
old = pd.read_csv(HERE.parent / "validation-2026-12-05-j" / "all" / "reuse" / "validation.csv")
print("| # | configuration | ranks | measured ms (spread) | -j measured ms | predicted ms | error % | -j error % "
      "| other cores, max |")  # fmt: skip
print("|---|---|---|---|---|---|---|---|---|")
for i, row in new.iterrows():
    spread = 100 * (row.measured_step_max_s - row.measured_step_min_s) / row.measured_step_time_s
    print(
        f"| {i} | {row.case} | {row.ranks} | {1e3 * row.measured_step_time_s:.0f} ({spread:.1f} %) | "
        f"{1e3 * old.iloc[i].measured_step_time_s:.0f} | "
        f"{1e3 * row.predicted_analytic_step_time_s:.0f} | {row.error_analytic_step_time_s_pct:+.1f} | "
        f"{old.iloc[i].error_analytic_step_time_s_pct:+.1f} | {row.other_cores_max:.2f} |"
    )
for name, t in (("-o", new), ("-j", old)):
    err = t.error_analytic_step_time_s_pct
    same = bool((t.error_sim_step_time_s_pct - err).abs().max() < 1e-9)
    spread = 100 * (t.measured_step_max_s - t.measured_step_min_s) / t.measured_step_time_s
    print(
        f"{name}: MAPE {err.abs().mean():.2f} %, mean error {err.mean():+.1f} %, worst {err.abs().max():.1f} % "
        f"(case {err.abs().idxmax()}), beyond 8 %: {int((err.abs() > 8).sum())}, spread median {spread.median():.1f} % "
        f"(largest {spread.max():.1f} %), sim == analytic: {same}"
    )
