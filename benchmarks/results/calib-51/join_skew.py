"""The critical rank's wait for the step's last joiner, from the per-rank lags (runs that record them, fresh50's
repeats 2-3 on): a rank joins the last bucket's all-reduce at its start lag + its compute (both medians over the
run's steps, on the host's shared clock: runtime.measure.lags); the critical rank (largest median compute) waits
``max over ranks of join − its own join``, which its exposed communication counts and no engine prices. Beside it,
each case's exposed-communication miss (measured − predicted, ms) under each variant of a split.py output.

    PYTHONPATH=. python benchmarks/results/calib-51/join_skew.py GROUP SPLIT.txt
"""

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from aggregate import rows

import benchmarks.validate_emulated as ve

RESULTS = Path(__file__).resolve().parents[1]


def main() -> None:
    group, split = sys.argv[1], Path(sys.argv[2])
    folder = RESULTS / group
    case_set = ve._recorded_case_set(folder) or "default"
    saved = ve._saved_runs(folder, len(ve.CASE_SETS[case_set]))
    variants, cases = rows(split.read_text())
    misses = {c["case"]: [-e for e in c["exposed"]] for c in cases if c["group"] == group}
    print(f"{group}: per case, the critical rank's wait for the last joiner (ms, runs with lags) and the exposed "
          f"miss per variant ({' / '.join(variants)}), then the miss less the wait")  # fmt: skip
    waits_all, pairs = [], []
    for index, runs in enumerate(saved):
        waits = []
        for run in runs:
            extra = run.extra
            lags, compute = extra.get("per_rank_start_lag_s"), extra.get("per_rank_compute_s")
            if not lags or not compute:
                continue
            joins = {r: lags[r] + compute[r] for r in compute}
            crit = str(extra.get("critical_rank"))
            waits.append(1e3 * (max(joins.values()) - joins[crit]))
        if not waits:
            continue
        wait = statistics.mean(waits)
        miss = misses.get(index, [float("nan")] * len(variants))
        waits_all.append(wait)
        pairs.append(miss)
        algorithm = runs[0].algorithm
        less = " / ".join(f"{m - wait:+6.1f}" for m in miss)
        print(f"{index:3d} {algorithm:>16} {runs[0].data_parallel:2d} ranks  wait {wait:6.1f}  miss "
              + " / ".join(f"{m:+6.1f}" for m in miss) + "  miss - wait " + less)  # fmt: skip
    if pairs:
        print(f"mean wait {statistics.mean(waits_all):.1f} ms; mean |miss| "
              + " / ".join(f"{statistics.mean(abs(p[i]) for p in pairs):.1f}" for i in range(len(variants)))
              + "; mean |miss - wait| "
              + " / ".join(f"{statistics.mean(abs(p[i] - w) for p, w in zip(pairs, waits_all, strict=True)):.1f}"
                           for i in range(len(variants))))  # fmt: skip


if __name__ == "__main__":
    main()
