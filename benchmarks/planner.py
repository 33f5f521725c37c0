"""Planner throughput: configurations screened per second (vectorised closed forms).

Run: ``python benchmarks/planner.py``. Prints, per model, the grid points searched, the
valid and memory-feasible configurations, the screen time and configurations per second,
and the total time including the exact re-check of the best ones with ``predict``.
"""

from __future__ import annotations

import time

from dpsim.plan import PlanRequest, enumerate_configurations, plan


def main() -> None:
    cases = [
        ("llama2-7b", ("a100-80gb", "h100-sxm"), 1024),
        ("llama2-70b", ("a100-80gb", "h100-sxm", "h200"), 4096),
        ("gpt3-175b", ("a100-80gb", "h100-sxm"), 4096),
    ]
    print(f"{'model':<12} {'searched':>9} {'valid':>8} {'fit':>8} {'screen s':>9} {'configs/s':>11} {'plan s':>7}")
    for model, devices, max_devices in cases:
        request = PlanRequest(model, 2e12, devices, max_devices, algorithms=("ring", "hierarchical", "tree"), top=20)
        enumerate_configurations(request)  # warm-up (imports, catalog)
        start = time.perf_counter()
        df = enumerate_configurations(request)
        screen_s = time.perf_counter() - start
        searched = int(df.attrs["searched"])
        start = time.perf_counter()
        plan(request)
        plan_s = time.perf_counter() - start
        fit = int((~df["oom"]).sum())
        print(
            f"{model:<12} {searched:>9,} {len(df):>8,} {fit:>8,} {screen_s:>9.2f} {searched / screen_s:>11,.0f} "
            f"{plan_s:>7.2f}"
        )


if __name__ == "__main__":
    main()
