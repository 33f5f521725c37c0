"""Each repeat priced with the profile of its own window (the protocol's secondary (a)), and the drift probes beside
the repeats' errors (no root).

PYTHONPATH=. python benchmarks/results/validation-2026-12-07-f/own.py FOLDER W1=PRICED1 [W2=PRICED2 [W3=PRICED3]]
(FOLDER: the results folder holding all/runs.jsonl, case by case, repeats in order, and probe-<W>-start/end.txt;
Wr=PRICEDr: repeat r's window and the ``validate_emulated.py --reuse … --out`` folder whose validation.csv prices it.)
Prints, both engines, the mean of the repeats' step MAPE and each, the worst run and the runs beyond 8 %, then per
repeat: the mean measured step, the mean signed error with the first priced folder's profile, and its window's probe
(ns a parameter at the validation MLP's 2,362,368, start / end).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

import pandas as pd

folder = Path(sys.argv[1])
windows = [arg.split("=", 1)[0] for arg in sys.argv[2:]]
priced = [Path(arg.split("=", 1)[1]) for arg in sys.argv[2:]]
runs = [json.loads(line) for line in (folder / "all/runs.jsonl").read_text().splitlines() if line.strip()]
measured = [r["step_time_s"] for r in runs if r.get("engine") == "runtime"]
tables = [pd.read_csv(p / "validation.csv") for p in priced]
n = len(tables[0])
repeats = len(measured) // n
assert len(measured) == n * repeats and repeats <= len(priced), (len(measured), n, len(priced))


def probe(w: str, at: str) -> str:
    path = folder / f"probe-{w}-{at}.txt"
    found = re.search(r"at 2362368: ([\d.]+) ns/param", path.read_text()) if path.exists() else None
    return found.group(1) if found else "-"


for engine in ("analytic", "sim"):
    per, errors = [], []
    for r in range(repeats):
        pred = tables[r][f"predicted_{engine}_step_time_s"].tolist()
        errs = [100 * (pred[i] / measured[i * repeats + r] - 1) for i in range(n)]
        errors += errs
        per.append(statistics.mean(abs(e) for e in errs))
    worst = max(errors, key=abs)
    beyond = sum(abs(e) > 8 for e in errors)
    by_repeat = " / ".join(f"{p:.2f}" for p in per)
    print(f"{engine}: mean of the repeats' MAPE {statistics.mean(per):.2f} % (per repeat {by_repeat}), worst run "
          f"{worst:+.1f} %, runs beyond 8 %: {beyond} of {len(errors)}")  # fmt: skip
first = tables[0]["predicted_analytic_step_time_s"].tolist()
for r in range(repeats):
    steps = [measured[i * repeats + r] for i in range(n)]
    signed = statistics.mean(100 * (first[i] / steps[i] - 1) for i in range(n))
    print(f"repeat {r + 1} ({windows[r]}): mean step {1e3 * statistics.mean(steps):.1f} ms, mean error with "
          f"{priced[0].name}'s profile {signed:+.2f} %, probe {probe(windows[r], 'start')} / "
          f"{probe(windows[r], 'end')} ns/param")  # fmt: skip
