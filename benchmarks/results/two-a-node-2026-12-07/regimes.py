"""A two-regime latency from the one-a-node control, tried on the two-a-node grid (a lead, not priced; no root).

    PYTHONPATH=. python benchmarks/results/two-a-node-2026-12-07/regimes.py RECORDS.json BENCH.json

From a calibration's own one-a-node inter all-reduces (BENCH.json, 2-4 ranks; disjoint from the grid), per algorithm
(ring, backend): the small-message latency a step over the host's share, ``α₀ = median(excess/s(N))`` over the
8 / 64 KiB points (``s(N) = max(1, N/2)``, every rank of the 2-core host), and the large-message cost a step, a line
``a + c·b`` over the 2 / 8 MiB points (excess = time beyond the ideal wire, over the 2(N-1) steps). Each grid point
is then priced ``wire + 2(N-1)·(α₀·s(N) if S <= 64 KiB else a + c·b)`` with N all its ranks; printed with its error.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location("analyse", Path(__file__).with_name("analyse.py"))
assert _spec is not None and _spec.loader is not None
analyse = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(analyse)
SMALL = 64 * 1024


def share(n: int) -> float:
    return max(1.0, n / 2.0)


def main() -> None:
    records = json.loads(Path(sys.argv[1]).read_text())
    bench = json.loads(Path(sys.argv[2]).read_text())
    bench = bench.get("records", bench) if isinstance(bench, dict) else bench
    for alg in ("ring", "backend"):
        small, large = [], []
        for r in bench:
            if r.get("link_class") != "inter" or r["collective"] != "all_reduce" or r["algorithm"] != alg:
                continue
            n, size, rate = r["ranks"], r["size_bytes"], r["rate_bytes_per_s"]
            excess = (r["time_s"] - 2 * (n - 1) / n * size / (analyse.ETA * rate)) / (2 * (n - 1))
            (small if size <= SMALL else large).append((n, size / n, excess))
        alpha0 = float(np.median([e / share(n) for n, _, e in small]))
        (a, c), *_ = np.linalg.lstsq(np.array([[1.0, b] for _, b, _ in large]), np.array([e for *_, e in large]))
        print(
            f"{alg}: α0 {alpha0 * 1e3:.3f} ms x s(N) up to 64 KiB; above, {a * 1e3:.3f} ms + {c * 1e9:.3f} ns/B a step"
        )
        errors: dict[str, list[float]] = {"<= 64 KiB": [], ">= 1 MiB": []}
        for nodes, per_node, rate, algorithm, size, t, steps, wire in analyse.points(records):
            if algorithm != alg:
                continue
            n = nodes * per_node
            latency = alpha0 * share(n) if size <= SMALL else a + c * size / n
            priced = wire + steps * latency
            errors["<= 64 KiB" if size <= SMALL else ">= 1 MiB"].append(100 * (priced - t) / t)
            print(f"  {nodes}x{per_node} {rate * 8e-6:5.0f} {size:8d} meas {t * 1e3:7.2f} priced {priced * 1e3:7.2f} "
                  f"{100 * (priced - t) / t:+6.1f} %")  # fmt: skip
        print("  mean |error|: " + ", ".join(f"{k} {np.mean(np.abs(v)):.1f} %" for k, v in errors.items()))


if __name__ == "__main__":
    main()
