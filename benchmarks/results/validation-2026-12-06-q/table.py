"""The per-case table of this folder's README: the fresh44 runs priced with window 1's calibration (R1), the second
calibration (CAL2) and the previous stored profile (-o, the first prediction's), both engines (no root).

PYTHONPATH=. python benchmarks/results/validation-2026-12-06-q/table.py [FOLDER [NAME=SUBFOLDER ...]]
(stop 45's fresh45: ``… table.py benchmarks/results/validation-2026-12-06-r/all R1=reuse CAL2=reuse-cal2
-q=reuse-q-profile``; the first pair is the table's own profile)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "all"
DEFAULT = [["R1", "reuse"], ["CAL2", "reuse-cal2"], ["-o", "reuse-o-profile"]]
PAIRS = [arg.split("=", 1) for arg in sys.argv[2:]] or DEFAULT
tables = {name: pd.read_csv(HERE / folder / "validation.csv")
          for name, folder in PAIRS if (HERE / folder / "validation.csv").exists()}  # fmt: skip
FIRST = PAIRS[0][0]
main = tables[FIRST]
names = [name for name in tables if name != FIRST]
print("| # | configuration | ranks | calibration overlap | measured ms (spread) | predicted ms | error % | "
      + " | ".join(f"error % ({name} profile)" for name in names) + " | other cores, max |")  # fmt: skip
print("|---" * (8 + len(tables) - 1) + "|")
for i, row in main.iterrows():
    spread = 100 * (row.measured_step_max_s - row.measured_step_min_s) / row.measured_step_time_s
    others = " | ".join(
        f"{t.iloc[i].error_analytic_step_time_s_pct:+.1f}" for name, t in tables.items() if name != FIRST
    )
    print(
        f"| {i} | {row.case} | {row.ranks} | {row.calibration_overlap} | {1e3 * row.measured_step_time_s:.0f} "
        f"({spread:.1f} %) | {1e3 * row.predicted_analytic_step_time_s:.0f} | "
        f"{row.error_analytic_step_time_s_pct:+.1f} | {others} | {row.other_cores_max:.2f} |"
    )
for name, t in tables.items():
    for engine in ("analytic", "sim"):
        err = t[f"error_{engine}_step_time_s_pct"]
        spread = 100 * (t.measured_step_max_s - t.measured_step_min_s) / t.measured_step_time_s
        held = t.calibration_overlap == "none"
        print(
            f"{name} profile, {engine}: MAPE {err.abs().mean():.2f} % (held out entirely, {int(held.sum())} cases: "
            f"{err[held].abs().mean():.2f} %), mean error {err.mean():+.1f} %, worst {err.abs().max():.1f} % "
            f"(case {err.abs().idxmax()}: {err.iloc[err.abs().idxmax()]:+.1f} %), beyond 8 %: "
            f"{int((err.abs() > 8).sum())}, spread median {spread.median():.1f} % (largest {spread.max():.1f} %), "
            f"other cores max {t.other_cores_max.max():.2f}"
        )
