"""calib's ../calib-51/release_schedule.py with stop 51's release times (terms): each rank's release from
:func:`dpsim.compute_overlap.collective_releases` of the run's last bucket (gloo's ring across nodes of 2+ ranks by
gloo_ring_ends, halving-doubling's partners SOCKET_BYTES early) instead of the schedule's completion fractions, then
calib's two-phase processor sharing (optimizer, then compute; ../calib-51/release_ps.py) to the critical rank's wait
for the last joiner. Columns: measured / from the measured release lags / from the model's releases (ms).

    PYTHONPATH=. python benchmarks/results/terms-51/release_wait.py validation-2026-12-07-e/all
"""

import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "calib-51"))

from release_ps import two_phase

import benchmarks.validate_emulated as ve
from dpsim.calibration import load_profile
from dpsim.compute_overlap import collective_releases
from runtime.validate import build_cases

RESULTS = Path(__file__).resolve().parents[1]


def main() -> None:
    group = sys.argv[1]
    folder = RESULTS / group
    profile = load_profile(folder / "profile.yaml")
    cores = profile.host_model.cores
    case_set = ve._recorded_case_set(folder) or "default"
    scenario_file = Path(tempfile.mkdtemp()) / "scenario.yaml"
    scenario_file.write_text(ve.SCENARIO)
    cases = build_cases(scenario_file, [], ve.CASE_SETS[case_set])
    saved = ve._saved_runs(folder, len(cases))
    print(f"{group} (C = {cores:g}): the critical rank's wait for the last joiner, ms: measured / from the measured "
          "release lags (release_ps.py) / from the model's releases (collective_releases)")  # fmt: skip
    rows = []
    for index, (case, runs) in enumerate(zip(cases, saved, strict=True)):
        s = case.scenario
        for run in runs:
            e = run.extra
            if not e.get("per_rank_release_lag_s") or not e.get("per_rank_optimizer_cpu_s"):
                continue
            ranks = sorted(e["per_rank_compute_s"], key=int)
            last = float((e.get("bucket_bytes") or [0.0])[-1])
            opt = np.array([e["per_rank_optimizer_cpu_s"][r] for r in ranks])
            cpu = np.array([e["per_rank_compute_cpu_s"][r] for r in ranks])
            lag = np.array([e["per_rank_start_lag_s"][r] for r in ranks])
            comp = np.array([e["per_rank_compute_s"][r] for r in ranks])
            joins = lag + comp
            crit = ranks.index(str(e["critical_rank"]))
            waits = [1e3 * (joins.max() - joins[crit])]
            mine = collective_releases(s, profile, last) if last else None
            mine = np.zeros(len(ranks)) if mine is None else mine - mine.max()
            for release in (np.array([e["per_rank_release_lag_s"][r] for r in ranks]), mine):
                start, join = two_phase(release - release.min(), opt, cpu, cores)
                pcrit = int(np.argmax(join - start))
                waits.append(1e3 * (join.max() - join[pcrit]))
            rows.append(waits)
            print(f"{index:3d} {run.algorithm:>16} {len(ranks)} ranks  wait " + " / ".join(f"{w:6.1f}" for w in waits))
    if rows:
        m, lagged, scheduled = zip(*rows, strict=True)
        print(f"mean wait {statistics.mean(m):.1f} / {statistics.mean(lagged):.1f} / {statistics.mean(scheduled):.1f} "
              f"ms; correlation with the measured: {np.corrcoef(m, lagged)[0, 1]:.2f} / "
              f"{np.corrcoef(m, scheduled)[0, 1]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
