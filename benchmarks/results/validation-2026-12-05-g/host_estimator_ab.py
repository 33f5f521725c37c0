"""A/B of the host compute slowdown's estimator on one validation folder (no root; a diagnostic, not landed).

The folder's ``cal.log`` holds every process's slowdown at each k (``runtime.calibrate.calibrate_host``'s log line);
the profile stores the median over the k. This writes the profile again with the median, the mean or the slowest
process's slowdown at each k (host refitted, ``fit_host``) and re-predicts the folder's runs with each (links
refitted, ``--refit``):

    PYTHONPATH=. python benchmarks/results/validation-2026-12-05-g/host_estimator_ab.py \\
        benchmarks/results/validation-2026-12-05-g OUT_DIR
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from dpsim.calibration import fit_host, load_profile, save_profile


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


folder, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
line = next(x for x in (folder / "cal.log").read_text().splitlines() if "host (compute), each process" in x)
per = {
    int(k): [float(v) for v in vs.split()] for k, vs in (p.split(":") for p in line.split("slowdown: ")[1].split("; "))
}
for name, estimate in (("median", median), ("mean", lambda xs: sum(xs) / len(xs)), ("max", max)):
    measured = {k: estimate(v) for k, v in per.items()}
    host = fit_host(measured, 2)
    profile = load_profile(folder / "all/profile.yaml")
    profile = dataclasses.replace(profile, host_model=dataclasses.replace(
        profile.host_model, measured=measured, cores=host.cores, efficiency_loss=host.efficiency_loss,
        residual=host.residual))  # fmt: skip
    save_profile(profile, out / f"profile-{name}.yaml")
    (out / "calibration-bench.json").write_bytes((folder / "all/calibration-bench.json").read_bytes())
    run = subprocess.run([sys.executable, "benchmarks/validate_emulated.py", "--reuse", str(folder / "all"),
                          "--profile", str(out / f"profile-{name}.yaml"), "--refit"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    mape = next(x for x in run.stdout.splitlines() if x.startswith("MAPE step time (analytic)"))
    print(f"{name}: slowdowns {({k: round(v, 3) for k, v in measured.items()})}, host fit residual "
          f"{100 * host.residual:.1f} %; {mape}")  # fmt: skip
