"""The simulator's cost guard against the real cost: estimated vs measured CPU seconds.

:func:`dpsim.sim.budget.estimate` prices a simulation before it runs, so that a user is
stopped before a run that would not finish. An estimate far above the truth refuses runs
that would finish in seconds; one far below lets a runaway through. This script runs
chunk- and fast-level steps over a range of rank counts, algorithms and jitter and prints
``estimate / measured`` (CPU time of the process, the steadier clock on a shared machine).
The guard is meant to be an upper bound within a small factor (ratio 1 to about 4).

Usage: python benchmarks/budget_check.py [--max-ranks 512]
"""

from __future__ import annotations

import argparse
import statistics
import time

from sim_scale import scenario  # the same GPT-2 XL cluster the speed benchmark times

from dpsim.sim import simulate
from dpsim.sim.budget import estimate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-ranks", type=int, default=512)
    args = parser.parse_args()
    cases = [
        (world, algorithm, jitter, fidelity)
        for world in (16, 64, 128, 256, 512, 1024)
        if world <= args.max_ranks
        for algorithm in ("ring", "hierarchical")
        for jitter in (0.0, 0.05)
        for fidelity in ("chunk", "fast")
        if not (algorithm == "ring" and fidelity == "chunk" and jitter > 0 and world > 64)
    ]
    print(f"{'ranks':>6} {'algorithm':>13} {'jitter':>6} {'fidelity':>8} {'estimate_s':>11} {'cpu_s':>8} {'ratio':>7}")
    ratios = []
    for world, algorithm, jitter, fidelity in cases:
        s = scenario(world, algorithm, jitter, steps=3)
        guess = estimate(s, fidelity).seconds
        cpu = time.process_time()
        simulate(s, fidelity=fidelity, allow_long=True)
        cpu = time.process_time() - cpu
        ratio = guess / cpu
        ratios.append(ratio)
        print(f"{world:>6} {algorithm:>13} {jitter:>6} {fidelity:>8} {guess:>11.3g} {cpu:>8.3g} {ratio:>7.2f}")
    print(f"estimate/measured: median {statistics.median(ratios):.2f}, min {min(ratios):.2f}, max {max(ratios):.2f}")


if __name__ == "__main__":
    main()
