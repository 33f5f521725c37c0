"""Exposed communication per stored case, before and after, by algorithm, layout and bucket size (the cases that
moved), from the same saved ``validate_emulated.py --reuse GROUP --refit --breakdown`` outputs as ``groups.py``.

    python benchmarks/results/intra-54/exposed.py BEFORE AFTER
"""

from __future__ import annotations

import collections
import re
import statistics
import sys
from pathlib import Path


def rows(text: str) -> list[tuple[str, list[float]]]:
    """(label, the table's last 12 numbers: step, compute, exposed, optimizer, barrier measured / priced, errors)."""
    out = []
    for line in text.splitlines():
        if "nodes=" in line and re.search(r"-?[\d.]+\s+-?[\d.]+\s*$", line):
            out.append((re.split(r"\s{2,}", line.strip())[0], [float(x) for x in line.split()[-12:]]))
    return out


before, after = Path(sys.argv[1]), Path(sys.argv[2])
groups: dict[tuple[str, str, str], list[tuple[float, float, float]]] = collections.defaultdict(list)
for path in sorted(before.glob("*.txt")):
    other = after / path.name
    if not other.exists() or "proper" in path.stem:  # fresh53's CAL2 row prices the same runs again
        continue
    b, a = rows(path.read_text()), rows(other.read_text())
    if len(a) != len(b):
        continue
    for (label, x), (_, y) in zip(b, a, strict=True):
        if x[5] == y[5] and x[11] == y[11]:
            continue
        algorithm = re.search(r"algorithm=([a-z-]+)", label)
        per_node = re.search(r"workers_per_node=(\d+)", label)
        nodes = re.search(r"nodes=(\d+)", label)
        bucket = re.search(r"bucket=(\d+)", label)
        key = (
            algorithm.group(1) if algorithm else "backend",
            f"{nodes.group(1) if nodes else '?'} × {per_node.group(1) if per_node else 1}",
            "<= 5 MiB" if bucket and int(bucket.group(1)) <= 5 else "larger",
        )
        groups[key].append((x[4], x[5], y[5]))
print(
    "exposed communication, ms: algorithm, layout, bucket, cases: mean measured, mean priced main → branch, "
    "mean |error| main → branch"
)
for (algorithm, layout, bucket), v in sorted(groups.items()):
    measured, main, branch = (statistics.mean(c[i] for c in v) for i in range(3))
    e0 = statistics.mean(abs(c[1] - c[0]) for c in v)
    e1 = statistics.mean(abs(c[2] - c[0]) for c in v)
    print(
        f"  {algorithm:13s} {layout:6s} {bucket:9s} {len(v):3d}: {measured:7.1f}  {main:7.1f} → {branch:7.1f}   "
        f"{e0:5.1f} → {e1:5.1f}"
    )
