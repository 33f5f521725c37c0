"""Medians over this folder's repeats, per shaper, rate, ranks and size, against the wire's time (no root).

python benchmarks/results/shaper-2026-12-06-o/summarize.py
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
pts: dict[tuple[str, float, str], list[float]] = defaultdict(list)
for ln in (HERE / "points.jsonl").read_text(encoding="utf-8").splitlines():
    row = json.loads(ln)
    for key, v in row["median_slowest_s"].items():
        pts[(row["variant"], row["mbit"], key)].append(v)
keys = sorted({k[2] for k in pts}, key=lambda k: (int(k.split(":")[0]), int(k.split(":")[1])))
for key in keys:
    n, size = (int(x) for x in key.split(":"))
    print(f"{n} ranks, {size} B:")
    for mbit in sorted({k[1] for k in pts}):
        wire = 2 * (n - 1) / n * size / (mbit * 1e6 / 8 * 1448 / 1514)
        cells = []
        for variant in ("tbf72k", "htb1514"):
            v = pts[(variant, mbit, key)]
            med = statistics.median(v)
            cells.append(f"{variant} {1e3 * med:8.3f} ms [{1e3 * min(v):.3f}-{1e3 * max(v):.3f}] "
                         f"({100 * (med / wire - 1):+6.1f} %)")  # fmt: skip
        print(f"  {mbit:5.0f} Mbit/s  wire {1e3 * wire:8.3f} ms | " + " | ".join(cells))
