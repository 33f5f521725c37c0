"""Stop 55 (inproc): the optimizer fit in the calibrating process vs in a fresh one, after a reduced calibration.

Runs ``runtime.calibrate.calibrate`` on the local testbed with a reduced plan (intra ring on 2 and 3 ranks, curve
512/1024 x 16/64, host sweep 1 and 2 processes) on the emulated validation's scenario (MLP 4 x 768, Adam), whose
optimizer fit now runs in a fresh process; then, in the same (calibrating) process, ``measure_optimizer_fit`` as
it ran there until stop 55; then the same fit in a fresh process. Each fit: 1 / 4 / 16 M parameters, cold, 0.2 s idle,
5 steps a size after 3. Prints the medians, each timed step, the minor faults and involuntary switches of the fit and
the guest's steal over it. Usage: ``PYTHONPATH=. python benchmarks/results/inproc-55/inproc_vs_fresh.py WORK_DIR``
(about 4 minutes on the 2-core VM)."""

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import runtime.calibrate as rc
from benchmarks.validate_emulated import SCENARIO
from dpsim.scenario import Scenario, load_scenario


def _scenario() -> Scenario:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(SCENARIO)
        return load_scenario(path)


def _steal() -> tuple[int, int]:
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return ticks[7], sum(ticks)


def fit(label: str) -> None:
    scenario = _scenario()
    r0, s0, w0 = resource.getrusage(resource.RUSAGE_SELF), _steal(), time.perf_counter()
    samples: dict[int, list[float]] = {}
    _, residual = rc.measure_optimizer_fit(scenario, samples=samples)
    r1, s1 = resource.getrusage(resource.RUSAGE_SELF), _steal()
    medians = {k: round(1e3 * statistics.median(v), 1) for k, v in samples.items()}
    steps = {k: [round(1e3 * x, 1) for x in v] for k, v in samples.items()}
    print(f"{label}: medians ms {medians}, steps ms {steps}, residual {100 * residual:.1f} %, faults "
          f"{r1.ru_minflt - r0.ru_minflt}, involuntary switches {r1.ru_nivcsw - r0.ru_nivcsw}, steal "
          f"{s1[0] - s0[0]} of {s1[1] - s0[1]} ticks, {time.perf_counter() - w0:.1f} s, threads "
          f"{len(os.listdir('/proc/self/task'))}", flush=True)  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:] == ["--fresh"]:
        fit("fresh process")
        raise SystemExit(0)
    plan = rc.CalibrationPlan(ranks=(2, 3), sizes=(8 * 1024, 2 << 20, 8 << 20), intra_sizes=(8 * 1024, 8 << 20),
                              algorithms=("ring",), collectives=("all_reduce",), link_classes=("intra",), reps=3,
                              max_reps=3, curve_hiddens=(512, 1024), curve_micro_batches=(16, 64),
                              host_processes=(1, 2))  # fmt: skip
    start = time.perf_counter()
    profile, _ = rc.calibrate(_scenario(), plan, "local", work_dir=Path(sys.argv[1]), log=print, max_residual=1.0)
    print(f"calibrate: {time.perf_counter() - start:.0f} s, optimizer {profile.optimizer}", flush=True)
    fit("the calibrating process, right after calibrate()")
    subprocess.run([sys.executable, __file__, "--fresh"], check=True)
