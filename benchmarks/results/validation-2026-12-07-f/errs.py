"""fresh51's runs against predictions printed before them (no root, no torch): step MAPE per profile or commit.

PYTHONPATH=. python benchmarks/results/validation-2026-12-07-f/errs.py RUNS.jsonl NAME=PRED.txt ... [--own N1,N2,N3]

RUNS.jsonl: the runs case by case, repeats in order (all/runs.jsonl); PRED.txt: ``preprice.py PROFILE fresh51``'s
output (both engines' step per case; the same prediction ``validate_emulated.py --reuse`` makes, checked on fresh50).
Per NAME, per engine: the step MAPE against each case's median step over its runs (validate_emulated's headline), the
worst case and the cases beyond 8 % (on that median), the mean signed error, and the MAPE per repeat. ``--own``:
repeat r priced with Nr's prediction (each repeat with its own window's profile).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

args = sys.argv[1:]
own = None
if "--own" in args:
    own = args[args.index("--own") + 1].split(",")
    del args[args.index("--own") : args.index("--own") + 2]
runs = [json.loads(line) for line in Path(args[0]).read_text().splitlines() if line.strip()]
steps = [r["step_time_s"] for r in runs if r.get("engine") == "runtime"]
preds = {}
for arg in args[1:]:
    name, path = arg.split("=", 1)
    rows = re.findall(r"analytic\s+([\d.]+) ms\s+sim\s+([\d.]+)", Path(path).read_text())
    preds[name] = {"analytic": [float(a) / 1e3 for a, _ in rows], "sim": [float(b) / 1e3 for _, b in rows]}
n = len(next(iter(preds.values()))["analytic"])
k = len(steps) // n
assert len(steps) == n * k, (len(steps), n)
by_case = [steps[i * k : (i + 1) * k] for i in range(n)]


def report(name: str, engine: str, per_repeat_pred: list[list[float]]) -> str:
    median = [statistics.median(s) for s in by_case]
    first = per_repeat_pred[0]
    err = [100 * (first[i] / median[i] - 1) for i in range(n)] if len(set(map(tuple, per_repeat_pred))) == 1 else []
    per = [statistics.mean(abs(100 * (per_repeat_pred[r][i] / by_case[i][r] - 1)) for i in range(n)) for r in range(k)]
    signed = statistics.mean(100 * (per_repeat_pred[r][i] / by_case[i][r] - 1) for i in range(n) for r in range(k))
    head = ""
    if err:
        worst = max(range(n), key=lambda i: abs(err[i]))
        beyond = sum(abs(e) > 8 for e in err)
        head = (f"MAPE {statistics.mean(abs(e) for e in err):.2f} % (vs each case's median run), worst "
                f"{err[worst]:+.1f} % (case {worst}), beyond 8 %: {beyond}, ")  # fmt: skip
    return (f"{name:14s} {engine:8s} {head}per repeat {' / '.join(f'{p:.2f}' for p in per)} (mean "
            f"{statistics.mean(per):.2f} %), mean signed error {signed:+.2f} %")  # fmt: skip


for engine in ("analytic", "sim"):
    for name, pred in preds.items():
        print(report(name, engine, [pred[engine]] * k))
    if own and all(name in preds for name in own[:k]):
        print(report("own-window", engine, [preds[own[r]][engine] for r in range(k)]))
    elif own:
        print(f"own-window: no prediction {[name for name in own[:k] if name not in preds]}")
