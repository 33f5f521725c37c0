"""Per-term errors on the slowest rank (compute, exposed communication, optimizer, barrier), both engines, from
``validate_emulated.py --reuse … --breakdown --out DIR``'s ``DIR/validation.csv`` (no root).

PYTHONPATH=. python benchmarks/results/validation-2026-12-07-d/terms.py CSV... (one line per csv)
"""

from __future__ import annotations

import sys

import pandas as pd

for path in sys.argv[1:]:
    t = pd.read_csv(path)
    parts = []
    for term in ("step_time", "compute", "exposed_comm", "optimizer"):
        for engine in ("analytic", "sim"):
            err = t[f"error_{engine}_{term}_s_pct"]
            parts.append(f"{term}/{engine} MAPE {err.abs().mean():.1f} % mean {err.mean():+.1f} %")
    barrier = 1e3 * t.measured_barrier_s.mean()
    priced = {e: 1e3 * t[f"predicted_{e}_barrier_s"].mean() for e in ("analytic", "sim")}
    opt = 1e3 * (t.predicted_analytic_optimizer_s - t.measured_optimizer_s).mean()
    print(
        f"{path} " + "; ".join(parts) + f"; barrier measured {barrier:.1f} ms vs priced {priced['analytic']:.1f} / "
        f"{priced['sim']:.1f} ms (analytic / sim, mean); optimizer priced-measured {opt:+.1f} ms mean"
    )
