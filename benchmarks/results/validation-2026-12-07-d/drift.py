"""Diagnostic only (not a correction): the repeats' step MAPE against steps normalised by the drift reference.

Each window began with fresh47's case 12 run 4 times (``REF-W1``, ``REF-W2``). A repeat measured in window W is scaled
by mean(REF-W1) / mean(REF-W), so every repeat reads at window 1's pace, and priced again against the prediction in
``PRICED/validation.csv`` (both engines). Also prints each reference's runs and spread.

PYTHONPATH=. python benchmarks/results/validation-2026-12-07-d/drift.py FOLDER PRICED [W1 W2 W2]
(FOLDER: the results folder holding all/runs.jsonl and REF-W*/; PRICED: a --reuse --out folder; the windows of
repeats 1, 2, 3 -- default W1 W2 W2)
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pandas as pd

folder, priced = Path(sys.argv[1]), Path(sys.argv[2])
windows = sys.argv[3:6] or ["W1", "W2", "W2"]


def steps(path: Path) -> list[float]:
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["step_time_s"] for r in runs if r.get("engine") == "runtime"]


ref = {}
for w in sorted(set(windows)):
    s = steps(folder / f"REF-{w}" / "runs.jsonl")
    ref[w] = statistics.mean(s)
    spread = 100 * (max(s) - min(s)) / statistics.median(s)
    print(f"REF-{w}: {' / '.join(f'{1e3 * x:.1f}' for x in s)} ms, mean {1e3 * ref[w]:.1f}, spread {spread:.1f} %")
base = ref[windows[0]]
for w in ref:
    print(f"  {w} / {windows[0]} pace: {ref[w] / base:.4f}")
measured = steps(folder / "all" / "runs.jsonl")
table = pd.read_csv(priced / "validation.csv")
n, repeats = len(table), len(windows)
assert len(measured) == n * repeats, (len(measured), n, repeats)
for engine in ("analytic", "sim"):
    pred = table[f"predicted_{engine}_step_time_s"].tolist()
    for label, scale in (("raw", lambda w: 1.0), ("normalised", lambda w: base / ref[w])):
        per = []
        for r, w in enumerate(windows):
            errs = [abs(pred[i] / (measured[i * repeats + r] * scale(w)) - 1) for i in range(n)]
            per.append(100 * statistics.mean(errs))
        print(f"{engine} {label}: MAPE {statistics.mean(per):.2f} % (per repeat {' / '.join(f'{p:.2f}' for p in per)})")
