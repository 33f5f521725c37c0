"""Every stored two-a-node case, step by step (no root): the model's per-step latency on the calibrated fabric and
the exposed communication it misses per ring step.

    for d in GROUP...; do PYTHONPATH=. python benchmarks/validate_emulated.py --reuse benchmarks/results/$d \\
        --breakdown > BD/$(echo $d | tr / _).txt; done
    PYTHONPATH=. python benchmarks/results/two-a-node-2026-12-07/stored.py BD GROUP...

GROUP: a stored validation folder under benchmarks/results (e.g. validation-2026-12-07-c/all), priced with its own
profile.yaml. Per two-a-node case: the all-reduce's sequential steps (flat: 2(N-1); hierarchical: 2(G-1) + 2(M-1)),
the buckets of the measured runs, bytes a rank sends a step, the flat link's per-step latency both engines price
(``flat_link``: max of the calibrated intra and inter α·s), the median run's exposed communication measured /
predicted (slowest rank, the breakdown's table) and (measured - predicted) / (buckets x steps).
"""

import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import benchmarks.validate_emulated as ve
from dpsim.analytic.collectives import flat_link
from dpsim.analytic.step import calibrated_fabric
from dpsim.calibration import load_profile
from dpsim.records import read_jsonl
from runtime.validate import build_cases

RESULTS = Path(__file__).resolve().parents[1]


def exposed_table(text: str) -> dict[int, tuple[float, float]]:
    """Case index -> (exposed measured, predicted) ms from the breakdown's per-case table."""
    lines = text.splitlines()
    head = next((i for i, line in enumerate(lines) if "step ms meas" in line), None)
    out: dict[int, tuple[float, float]] = {}
    if head is None:
        return out
    for k, line in enumerate(lines[head + 1 :]):
        if not line.strip():
            break
        nums = [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", line)]
        out[k] = (nums[-8], nums[-7])  # exposed meas, pred (before optim, barrier, errors)
    return out


def main() -> None:
    bd, groups = Path(sys.argv[1]), sys.argv[2:]
    scenario = Path(tempfile.mkdtemp()) / "scenario.yaml"
    scenario.write_text(ve.SCENARIO)
    print(f"{'group':34} {'#':>2} {'nodes':>5} {'algorithm':>12} {'Mbit/s':>6} {'buckets':>7} {'KB/step':>7} "
          f"{'α step ms':>9} {'exposed meas':>12} {'pred':>6} {'miss/step ms':>12}")  # fmt: skip
    for group in groups:
        folder = RESULTS / group
        cases = build_cases(scenario, [], ve.CASE_SETS[ve._recorded_case_set(folder) or "default"])
        profile = load_profile(folder / "profile.yaml")
        runs_file = folder / ("runs.jsonl" if (folder / "runs.jsonl").exists() else "records.jsonl")
        runs = [r for r in read_jsonl(runs_file) if r.engine == "runtime"]
        repeats = len(runs) // len(cases)
        table = exposed_table((bd / (group.replace("/", "_") + ".txt")).read_text())
        for index, case in enumerate(cases):
            s = case.scenario
            g, m = s.cluster.workers_per_node, s.cluster.nodes
            if g != 2 or m < 2 or index not in table:
                continue
            algorithm = s.communication.algorithm
            buckets = runs[index * repeats].extra.get("bucket_bytes") or []
            n = s.data_parallel
            steps = 2 * (g - 1) + 2 * (m - 1) if algorithm == "hierarchical" else 2 * (n - 1)
            per_step = sum(buckets) / len(buckets) / n if buckets else 0.0
            alpha = flat_link(calibrated_fabric(s, profile)).latency_s
            meas, pred = table[index]
            miss = (meas - pred) / (len(buckets) * steps) if buckets else float("nan")
            print(f"{group:34} {index:2d} {m}x{g:<3} {algorithm:>12} {s.cluster.inter_node.bandwidth * 8e-6:6.0f} "
                  f"{len(buckets):7d} {per_step / 1e3:7.0f} {alpha * 1e3:9.3f} {meas:12.1f} {pred:6.1f} "
                  f"{miss:+12.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
