"""Step MAPE per stored validation group, before and after, from ``validate_emulated.py --reuse GROUP --refit
--breakdown`` outputs saved one file per group in two folders (same file names), and the cases that moved, by
algorithm and layout.

    PYTHONPATH=. python benchmarks/validate_emulated.py --reuse benchmarks/results/GROUP --refit --breakdown > A/G.txt
    (with main's code into BEFORE/, with this branch's into AFTER/; GROUP as listed in README.md)
    python benchmarks/results/intra-54/groups.py BEFORE AFTER
"""

from __future__ import annotations

import collections
import re
import statistics
import sys
from pathlib import Path

MAPE = r"MAPE step time \({}\): ([\d.]+) %.*worst case ([\d.]+) %"


def mape(text: str) -> tuple[float, float, float, float] | None:
    a, s = re.search(MAPE.format("analytic"), text), re.search(MAPE.format("sim"), text)
    if not (a and s):
        return None
    return float(a.group(1)), float(a.group(2)), float(s.group(1)), float(s.group(2))


def cases(text: str) -> list[tuple[str, float]]:
    rows = []
    for line in text.splitlines():
        if "nodes=" in line and re.search(r"-?[\d.]+\s+-?[\d.]+\s*$", line):
            rows.append((re.split(r"\s{2,}", line.strip())[0], float(line.split()[-2])))
    return rows


before, after = Path(sys.argv[1]), Path(sys.argv[2])
print("| group | analytic step MAPE % | simulator | worst case % (analytic) | |")
print("|---|---|---|---|---|")
tally: collections.Counter[str] = collections.Counter()
moved: dict[tuple[str, str], list[tuple[float, float]]] = collections.defaultdict(list)
means: list[tuple[float, float, float, float]] = []
for path in sorted(before.glob("*.txt")):
    other = after / path.name
    if not other.exists():
        continue
    x, y = mape(path.read_text()), mape(other.read_text())
    if x is None or y is None:
        continue
    tag = "better" if y[0] < x[0] - 0.005 else "worse" if y[0] > x[0] + 0.005 else "same"
    tally[tag] += 1
    means.append((x[0], y[0], x[2], y[2]))
    print(f"| {path.stem} | {x[0]:.2f} → {y[0]:.2f} | {x[2]:.2f} → {y[2]:.2f} | {x[1]:.1f} → {y[1]:.1f} | {tag} |")
    for (label, e0), (_, e1) in zip(cases(path.read_text()), cases(other.read_text()), strict=False):
        if e0 != e1:
            algorithm = re.search(r"algorithm=([a-z-]+)", label)
            per_node = re.search(r"workers_per_node=(\d+)", label)
            nodes = re.search(r"nodes=(\d+)", label)
            layout = f"{nodes.group(1) if nodes else '?'} × {per_node.group(1) if per_node else 1}"
            moved[(algorithm.group(1) if algorithm else "backend", layout)].append((e0, e1))
print(
    f"\n{sum(tally.values())} groups: better {tally['better']}, worse {tally['worse']}, same {tally['same']}; mean "
    f"analytic {statistics.mean(m[0] for m in means):.2f} → {statistics.mean(m[1] for m in means):.2f} %, simulator "
    f"{statistics.mean(m[2] for m in means):.2f} → {statistics.mean(m[3] for m in means):.2f} %"
)
print("\ncases that moved (analytic step error %): algorithm, layout, count, mean signed, mean |error| before → after")
for (algorithm, layout), pairs in sorted(moved.items()):
    e0, e1 = [p[0] for p in pairs], [p[1] for p in pairs]
    print(
        f"  {algorithm:17s} {layout:6s} {len(pairs):3d}  {statistics.mean(e0):+6.1f} → {statistics.mean(e1):+6.1f}  "
        f"{statistics.mean(map(abs, e0)):5.1f} → {statistics.mean(map(abs, e1)):5.1f}"
    )
