"""Per-step time of the small all-reduces against the per-step intercept of the large ones, per stored calibration.

For each (algorithm, ranks, rate) of a link class: the 8 and 64 KiB all-reduces' time per closed-form step, and the
intercept at size 0 of the line through the two largest sizes (intra 8 and 32 MiB, inter 2 and 8 MiB) per step;
medians over the distinct stored calibrations (``benchmarks.link_fit_points.calibrations``), how many have the
intercept below the small per-step time, and both over the host share s(n).

    PYTHONPATH=. python benchmarks/results/stream-latency-2026-12-07/intercepts.py intra|inter
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from benchmarks.link_fit_points import calibrations
from benchmarks.script_cli import read_bench_records
from dpsim.calibration import closed_form_coefficients, load_profile


def main() -> int:
    link_class = sys.argv[1] if len(sys.argv) > 1 else "intra"
    rows: dict[tuple[str, int, float | None], list[tuple[float, float, float, float]]] = defaultdict(list)
    for profile_path, bench in calibrations().values():
        profile = load_profile(profile_path)
        assert profile.host_model is not None
        by: dict[tuple[str, int, float | None], dict[float, float]] = defaultdict(dict)
        for r in read_bench_records(bench):
            if r["collective"] == "all_reduce" and r["link_class"] == link_class:
                by[(r["algorithm"], r["ranks"], r.get("rate_bytes_per_s"))][r["size_bytes"]] = r["time_s"]
        for (algorithm, n, rate), times in by.items():
            sizes = sorted(times)
            big = [x for x in sizes if x >= 2**20]
            if algorithm == "hierarchical" or len(big) < 2:
                continue
            steps, _ = closed_form_coefficients(algorithm, n, 1.0)
            small = [times[x] / steps for x in sizes if x < 2**20]
            lo, hi = big[0], big[-1]
            slope = (times[hi] - times[lo]) / (hi - lo)
            rows[(algorithm, n, rate)].append(
                (min(small), max(small), (times[lo] - slope * lo) / steps, profile.host_model.comm_share(n))
            )
    print(f"{link_class}: per-step times in us, medians over calibrations: small (8K, 64K) vs the large line's cut")
    for key in sorted(rows, key=lambda k: (k[0], k[1], k[2] or 0.0)):
        v = rows[key]
        small, small_hi = statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)
        cut, share = statistics.median(x[2] for x in v), statistics.median(x[3] for x in v)
        below = sum(x[2] < x[0] for x in v)
        rate = f"{8e-6 * key[2]:g} Mbit/s" if key[2] else "unshaped"
        print(f"{key[0]:16s} {key[1]} ranks {rate:14s} N={len(v):2d} small {1e6 * small:6.0f}-{1e6 * small_hi:6.0f} "
              f"intercept {1e6 * cut:6.0f} (below in {below}/{len(v)}) s={share:.2f} "
              f"small/s {1e6 * small / share:6.0f} "
              f"intercept/s {1e6 * cut / share:6.0f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
