"""Leave one development node count out: which count of a GPU's network work the all-to-all's time follows.

Each reading is fitted on two of the development half's node counts (2, 8, 32) and evaluated on the third; the test
half (4, 16 nodes) is not read. ``m``: the network messages a GPU sends (``p5_series.p2p_plan``), ``w``: their
RDMA writes (aws-ofi-nccl's stripes), ``s``: the GPU's bytes across nodes, ``N``: ranks.

    PYTHONPATH=. python benchmarks/results/nccl-split-2026-12-06/loo.py
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks import p5_series

MiB = 1 << 20
PORT = 47.96e9
"""The p5 GPU's 4 × 100G EFA port as dpsim prices it (B/s)."""

Point = dict[str, float]


def points() -> list[Point]:
    out = []
    for nodes, values in p5_series.ALL_TO_ALL.items():
        if nodes not in p5_series.DEV_NODES:
            continue
        for mib, busbw in values:
            ranks, size = nodes * 8, mib * MiB
            plan = p5_series.p2p_plan(nodes, size)
            out.append(
                {
                    "nodes": nodes,
                    "t": size * (ranks - 1) / ranks / (busbw * 1e9),
                    "s": size * (ranks - 8) / ranks,
                    "m": plan["messages"],
                    "w": plan["messages"] * plan["stripes"],
                    "N": ranks,
                }
            )
    return out


READINGS: dict[str, tuple[Callable[[Point], list[float]], float]] = {
    "a + m·o + s/B": (lambda r: [1.0, r["m"], r["s"]], 0.0),
    "a + w·o + s/B": (lambda r: [1.0, r["w"], r["s"]], 0.0),
    "a + m·o + s/port": (lambda r: [1.0, r["m"]], PORT),
    "a + (w + m)·o + s/port": (lambda r: [1.0, r["w"] + r["m"]], PORT),
    "a + m·o + s/B + N·p": (lambda r: [1.0, r["m"], r["s"], r["N"]], 0.0),
}


def main() -> None:
    import numpy as np

    table = points()
    for name, (terms, port) in READINGS.items():
        errors = []
        for held in p5_series.DEV_NODES:
            fit = [r for r in table if r["nodes"] != held]
            y = [r["t"] - (r["s"] / port if port else 0.0) for r in fit]
            coef = np.linalg.lstsq(np.array([terms(r) for r in fit]), np.array(y), rcond=None)[0]
            for r in (r for r in table if r["nodes"] == held):
                predicted = float(np.dot(coef, terms(r))) + (r["s"] / port if port else 0.0)
                errors.append(r["t"] / predicted - 1.0)
        within = sum(abs(e) <= 0.10 for e in errors)
        print(
            f"{name:<24} {within:>2} of {len(errors)} within 10 %, median |error| "
            f"{statistics.median(abs(e) for e in errors):.1%}, max {max(abs(e) for e in errors):.1%}"
        )


if __name__ == "__main__":
    main()
