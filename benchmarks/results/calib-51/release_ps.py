"""Processor sharing from the measured release times: does it give the start lags and the critical rank's wait?

Each rank leaves the step's last collective at its measured release lag (``extra.per_rank_release_lag_s``), then
needs its optimizer's CPU (``per_rank_optimizer_cpu_s``) and its forward + backward's (``per_rank_compute_cpu_s``),
served ``min(1, C/n)`` of a core while ``n`` ranks are in either phase (Linux's fair scheduler: runnable threads
get equal shares; :func:`dpsim.compute_overlap.shared_finish`'s rule, here with two phases). Predicted: each rank's
start of compute (its start lag, from the first rank's) and its join (start + compute); the critical rank (largest
median compute, as runtime.measure picks it) then waits ``max join − its join``. All inputs measured (medians over
the run's steps), nothing fitted; C from the run's profile (``host_model.cores``).

    PYTHONPATH=. python benchmarks/results/calib-51/release_ps.py GROUP
"""

import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import benchmarks.validate_emulated as ve
from dpsim.calibration import load_profile

RESULTS = Path(__file__).resolve().parents[1]


def two_phase(release: np.ndarray, first: np.ndarray, second: np.ndarray, cores: float) -> tuple[np.ndarray, ...]:
    """(end of the first phase, end of the second) per rank, processor shared from ``release`` on ``cores``."""
    n = len(release)
    left = first + second
    mid, end = np.full(n, np.inf), np.full(n, np.inf)
    now = float(release.min())
    while np.isinf(end).any():
        running = (release <= now) & np.isinf(end)
        waiting = release[(release > now) & np.isinf(end)]
        rate = min(1.0, cores / running.sum()) if running.any() else 0.0
        horizon = [float(waiting.min()) - now] if waiting.size else []
        if running.any():
            horizon.append(float(left[running].min()) / rate)
            to_mid = left - second  # CPU left before the first phase ends
            crossing = running & (to_mid > 1e-15)
            if crossing.any():
                horizon.append(float(to_mid[crossing].min()) / rate)
        step = min(horizon)
        if running.any():
            before = left.copy()
            left[running] -= rate * step
            passed = running & (before - second > 1e-15) & (left - second <= 1e-12)
            mid[passed] = now + step
            done = running & (left <= 1e-12)
            end[done] = now + step
        now += step
    mid = np.where(np.isinf(mid), release + first, mid)  # no first phase
    return mid, end


def main() -> None:
    group = sys.argv[1]
    folder = RESULTS / group
    cores = load_profile(folder / "profile.yaml").host_model.cores
    saved = ve._saved_runs(folder, len(ve.CASE_SETS[ve._recorded_case_set(folder) or "default"]))
    print(f"{group} (C = {cores:g}): per case, the critical rank's wait for the last joiner, measured (start lag + "
          "compute) / predicted (processor sharing from the release lags), ms; and the start lags' spread")  # fmt: skip
    pairs = []
    for index, runs in enumerate(saved):
        for run in runs:
            e = run.extra
            if not e.get("per_rank_release_lag_s") or not e.get("per_rank_optimizer_cpu_s"):
                continue
            ranks = sorted(e["per_rank_compute_s"], key=int)
            rel = np.array([e["per_rank_release_lag_s"][r] for r in ranks])
            opt = np.array([e["per_rank_optimizer_cpu_s"][r] for r in ranks])
            cpu = np.array([e["per_rank_compute_cpu_s"][r] for r in ranks])
            lag = np.array([e["per_rank_start_lag_s"][r] for r in ranks])
            comp = np.array([e["per_rank_compute_s"][r] for r in ranks])
            crit = ranks.index(str(e["critical_rank"]))
            start, join = two_phase(rel, opt, cpu, cores)
            measured_join = lag + comp
            wait_m = 1e3 * (measured_join.max() - measured_join[crit])
            pcrit = int(np.argmax(join - start))
            wait_p = 1e3 * (join.max() - join[pcrit])
            pairs.append((wait_m, wait_p))
            print(f"{index:3d} {run.algorithm:>16} {len(ranks)} ranks  wait {wait_m:6.1f} / {wait_p:6.1f}  "
                  f"start-lag spread {1e3 * np.ptp(lag):6.1f} / {1e3 * np.ptp(start - start.min()):6.1f}  "
                  f"crit compute {1e3 * comp[crit]:6.1f} / {1e3 * (join - start)[pcrit]:6.1f}")  # fmt: skip
    if pairs:
        m, p = zip(*pairs, strict=True)
        gap = statistics.mean(abs(a - b) for a, b in pairs)
        print(f"mean wait measured {statistics.mean(m):.1f} ms, predicted {statistics.mean(p):.1f}; mean |difference| "
              f"{gap:.1f}; correlation {np.corrcoef(m, p)[0, 1]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
