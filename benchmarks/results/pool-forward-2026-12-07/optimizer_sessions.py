"""The optimizer's session-dependent excess (training steps 1.01-1.25 × the fit, stop 50): what moves with it.

Per stored fresh group (fresh44-49): the training ranks' optimizer CPU a parameter (median over the runs of each
run's median rank, ``extra.per_rank_optimizer_cpu_s`` over the gradients' parameters, as ``optimizer_share.py --runs``
reads them), for repeat 1 (right after the first calibration) and repeats 2-3 (~20 min later) apart; and per
calibration of the group: the cold optimizer fit at the validated MLP's 2,362,368 parameters (what the engines
price), the warm optimizer curve (after a DDP forward and backward, ``optimizer_curve``) at hidden 512 and 1024
(around the MLP's 768), and the compute curve's median point over fresh44's first calibration's (how fast the
host's compute ran in that calibration). No root.

    PYTHONPATH=. python benchmarks/results/pool-forward-2026-12-07/optimizer_sessions.py
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from dpsim.calibration import HardwareProfile, load_profile

RESULTS = Path(__file__).resolve().parents[1]
GROUPS = (("fresh44", "validation-2026-12-06-q", "R1"), ("fresh45", "validation-2026-12-06-r", "R1"),
          ("fresh46", "validation-2026-12-07-a", "R1b"), ("fresh47", "validation-2026-12-07-b", "R1b"),
          ("fresh48", "validation-2026-12-07-c", "R1b"), ("fresh49", "validation-2026-12-07-d", "R1b"))  # fmt: skip
EARLIER = ("validation-2026-12-05-h", "validation-2026-12-05-i", "validation-2026-12-05-j", "validation-2026-12-06-o")
"""Sessions before the fresh draws with a cold fit and the ranks' optimizer CPU recorded (one calibration each, the
default case set): not looked at when the relation was read off fresh44-49, so a check of it where the host is the
same."""
MLP = 2_362_368
FRESH_CACHE = 503_316_480
"""The last-level cache fresh44-49's VM reports (480 MiB); 2026-12-05-i, -j and 2026-12-06-o ran on one reporting
32 MiB, where the ranks' Adam took 2.4-2.8 ns a parameter: another host."""


def cpu_ns(folder: Path) -> float:
    """Median over the folder's runs of the median rank's optimizer CPU a step, ns a parameter."""
    values = []
    for line in (folder / "runs.jsonl").read_text().splitlines():
        extra = json.loads(line)["extra"]
        parameters = sum(extra["bucket_bytes"]) // 4  # fp32 gradients, every one through a bucket (optimizer_share)
        values.append(1e9 * statistics.median(extra["per_rank_optimizer_cpu_s"].values()) / parameters)
    return statistics.median(values)


def curve_times(profile: HardwareProfile) -> dict[tuple[int, int, int], float]:
    return {(q.hidden, q.micro_batch, q.layers): q.forward_s + q.backward_s for q in profile.compute_curve.points}


reference = curve_times(load_profile(RESULTS / GROUPS[0][1] / "all" / "profile.yaml"))
rows = []
print("group    runs cpu ns/param (repeat 1 / 2-3 / all)  calibration  cold fit  warm 512 / 1024  compute curve")
for group, name, first in GROUPS:
    runs = [cpu_ns(RESULTS / name / part) for part in (first, "R23", "all")]
    for cal in ("all", "CAL2", "CAL3"):
        path = RESULTS / name / cal / "profile.yaml"
        if not path.is_file():
            continue
        p = load_profile(path)
        fit = 1e9 * p.optimizer_time(MLP) / MLP
        warm = {hidden: 1e9 * seconds for hidden, seconds in p.optimizer_curve}
        times = curve_times(p)
        speed = statistics.median(times[k] / reference[k] for k in times if k in reference)
        rows.append((runs[2], fit, (warm[512] + warm[1024]) / 2, speed, fit * speed))
        print(f"{group}  {runs[0]:.2f} / {runs[1]:.2f} / {runs[2]:.2f}{'':18}{cal:>6}  {fit:8.2f}  {warm[512]:.2f} / "
              f"{warm[1024]:.2f}  {speed:13.3f}")  # fmt: skip


def check(rows: list[tuple[float, ...]], where: str) -> None:
    y = np.array([r[0] for r in rows])
    for i, label in (
        (1, "cold fit"),
        (2, "warm curve (512+1024)/2"),
        (3, "compute curve speed"),
        (4, "cold fit x speed"),
    ):
        x = np.array([r[i] for r in rows])
        print(f"{where}: {label}: correlation with the runs' optimizer CPU {np.corrcoef(x, y)[0, 1]:+.2f} over "
              f"{len(rows)} calibrations; runs / it {min(y / x):.2f}-{max(y / x):.2f}")  # fmt: skip


check(rows, "fresh44-49")
same, other = [], []
for name in EARLIER:
    p = load_profile(RESULTS / name / "all" / "profile.yaml")
    runs_all = cpu_ns(RESULTS / name / "all")
    fit = 1e9 * p.optimizer_time(MLP) / MLP
    warm = {hidden: 1e9 * seconds for hidden, seconds in p.optimizer_curve}
    times = curve_times(p)
    speed = statistics.median(times[k] / reference[k] for k in times if k in reference)
    cache = p.meta.get("last_level_cache_bytes")
    (same if cache == FRESH_CACHE else other).append((runs_all, fit, (warm[512] + warm[1024]) / 2, speed, fit * speed))
    print(f"{name}  runs {runs_all:.2f}  cold fit {fit:.2f}  warm {warm[512]:.2f} / {warm[1024]:.2f}  compute curve "
          f"{speed:.3f}  last-level cache {cache / 2**20:g} MiB")  # fmt: skip
check(rows + same, "fresh44-49 and the earlier sessions on their host")
check(other, "earlier sessions on another host")
