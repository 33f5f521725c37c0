"""The measured per-step cost beyond the ideal wire, as a line in the bytes a step carries (no root, no profile).

    PYTHONPATH=. python benchmarks/results/two-a-node-2026-12-07/step_fit.py RECORDS.json [BENCH.json]

Per layout, rate and algorithm: each size's excess a step ``(t − wire)/steps`` (median of the repetitions, and its
p25–p75 over ``times_s``), then the least-squares line ``excess = a + c·b`` over the sizes whose step carries ≥ 64 KiB
(b the bytes of one step: S/N for a flat ring, S/(G·M) for hierarchical's inter step). ``c`` in ns a byte is what a
serial per-byte term would cost (the profile's reduction rate gives 0.07 ns/B, its host work κ 1.2-1.4 ns/B); ``a``
is the per-step constant left. Steps and wire as ``analyse.py``. BENCH.json (a calibration's
``calibration-bench.json``): its one-a-node inter all-reduces (ring, backend) are added as the control, ``Nx1``.
"""

import importlib.util
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("analyse", Path(__file__).with_name("analyse.py"))
assert _spec is not None and _spec.loader is not None
analyse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(analyse)


def main() -> None:
    records = json.loads(Path(sys.argv[1]).read_text())
    if len(sys.argv) > 2:  # the control: one rank a node, the calibration's own points
        bench = json.loads(Path(sys.argv[2]).read_text())
        bench = bench.get("records", bench) if isinstance(bench, dict) else bench
        records += [
            {**r, "nodes": r["ranks"], "per_node": 1} for r in bench if r.get("link_class") == "inter"
            and r["collective"] == "all_reduce" and r["algorithm"] in ("ring", "backend")
        ]  # fmt: skip
    lines: dict[tuple, list[tuple[float, float]]] = defaultdict(list)
    print(f"{'config':>6} {'Mbit/s':>6} {'algorithm':>12} {'size B':>9} {'b/step KB':>9} {'meas ms':>8} "
          f"{'p25-p75 ms':>13} {'wire ms':>8} {'excess/step ms':>14} {'p25-p75':>13}")  # fmt: skip
    for nodes, per_node, rate, alg, size, t, steps, wire in analyse.points(records):
        key = (nodes, per_node, rate, alg, size)
        rec = next(r for r in records if (r["nodes"], r["per_node"], r["rate_bytes_per_s"], r["algorithm"],
                                          r["size_bytes"]) == key)  # fmt: skip
        times = np.asarray(rec.get("times_s") or [t])
        lo, hi = np.percentile(times, [25, 75])
        b = size / (nodes * per_node)
        excess = (t - wire) / steps
        print(f"{nodes}x{per_node:<4} {rate * 8e-6:6.0f} {alg:>12} {size:9d} {b / 1e3:9.1f} {t * 1e3:8.2f} "
              f"{lo * 1e3:6.2f}-{hi * 1e3:6.2f} {wire * 1e3:8.2f} {excess * 1e3:14.3f} "
              f"{(lo - wire) / steps * 1e3:6.3f}-{(hi - wire) / steps * 1e3:6.3f}")  # fmt: skip
        if b >= 64 * 1024:
            lines[(nodes, per_node, rate, alg)].append((b, excess))
    print(f"\n{'config':>6} {'Mbit/s':>6} {'algorithm':>12} {'points':>6} {'a ms/step':>10} {'c ns/B':>8}")
    for (nodes, per_node, rate, alg), pts in sorted(lines.items(), key=lambda kv: (kv[0][3], kv[0][0], -kv[0][2])):
        if len(pts) < 2:
            continue
        b, e = np.asarray(pts).T
        c, a = np.polyfit(b, e, 1)
        print(f"{nodes}x{per_node:<4} {rate * 8e-6:6.0f} {alg:>12} {len(pts):6d} {a * 1e3:10.3f} {c * 1e9:8.3f}")


if __name__ == "__main__":
    main()
