"""What a refresh would have bought on the stored fresh groups (issue 10, stop 51; no root, stored data only).

``dpsim calibrate --refresh`` keeps a profile's links and times its compute (the curve and the scenario model's fits)
and optimizer (cold fit, warm curve, page fault) again, optionally the host sweep. A group's later defaults
calibration (CAL2 / CAL3, another window or later in the same one) timed those parts again with the same procedure,
so the first calibration's links with a later calibration's parts are what a refresh at that time would have written:

- ``cal1``: the group's first (W1) calibration as stored (``--reuse G/all``);
- ``calN``: the later calibration as stored;
- ``cal1+calN compute``: CAL1 with CALN's compute curve and model fits;
- ``cal1+calN compute,optimizer``: also CALN's optimizer fit, warm curve and page fault (the refresh's default);
- ``cal1+calN compute,optimizer,host``: also CALN's host sweep, C and ε refitted as the refresh does
  (``runtime.calibrate._host_parts``'s fits; CAL1's links kept, not refitted);
- with ``--mean``, instead: ``cal1+mean(cal1,calN) compute,optimizer``: CAL1 with the mean of the two calibrations'
  compute and optimizer parts (``runtime.calibrate._mean_curve`` / ``_mean_linear``; the warm curve and page fault
  CALN's), the links CAL1's: a refresh that averages the base's timing with the new one.

Each profile prices the group's stored runs with ``validate_emulated.py --reuse G/all --profile P`` (no ``--refit``),
per repeat. Both engines are printed (they agree to 1e-12 on these groups).

    PYTHONPATH=. python benchmarks/results/refresh-stored-2026-12-07/splice.py [--mean] [GROUP...]
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from dpsim.calibration import (
    HardwareProfile,
    fit_host,
    fit_memory_streams,
    load_profile,
    save_profile,
    sharing_residual,
)
from runtime.calibrate import _mean_curve, _mean_linear

RESULTS = Path(__file__).resolve().parents[1]
GROUPS = {"fresh45": "validation-2026-12-06-r", "fresh46": "validation-2026-12-07-a",
          "fresh47": "validation-2026-12-07-b", "fresh48": "validation-2026-12-07-c",
          "fresh49": "validation-2026-12-07-d", "fresh50": "validation-2026-12-07-e"}  # fmt: skip
MAPE = re.compile(r"MAPE step time \((\w+)\): ([0-9.]+) % over \d+ configurations \(per repeat: ([^)]*)\), "
                  r"worst case ([0-9.]+) %")  # fmt: skip
PARTS = (("compute",), ("compute", "optimizer"), ("compute", "optimizer", "host"))


def splice(base: HardwareProfile, later: HardwareProfile, parts: tuple[str, ...]) -> HardwareProfile:
    """``base`` with ``later``'s ``parts`` (``dpsim calibrate --refresh``'s parts), its links kept."""
    assert base.host_model is not None and later.host_model is not None
    new, host, meta = base, base.host_model, dict(base.meta)
    if "compute" in parts:
        new = dataclasses.replace(new, compute_curve=later.compute_curve, forward=later.forward,
                                  backward=later.backward)  # fmt: skip
    if "optimizer" in parts:
        new = dataclasses.replace(new, optimizer=later.optimizer, optimizer_curve=later.optimizer_curve)
        host = dataclasses.replace(host, page_fault_s=later.host_model.page_fault_s)
        meta["fit_residuals"] = {**meta.get("fit_residuals", {}),
                                 "optimizer": later.meta.get("fit_residuals", {}).get("optimizer", 0.0)}  # fmt: skip
    if "host" in parts:
        h = later.host_model
        cores = int(base.meta.get("cores") or 2)
        fitted = fit_host(h.measured, max_cores=cores)
        host = dataclasses.replace(
            host, cores=fitted.cores, efficiency_loss=fitted.efficiency_loss, residual=fitted.residual,
            memory_streams=fit_memory_streams(h.optimizer_measured, max_streams=fitted.cores)[0],
            measured=fitted.measured, optimizer_measured=h.optimizer_measured, measured_slowest=h.measured_slowest,
            optimizer_measured_slowest=h.optimizer_measured_slowest,
            optimizer_residual=sharing_residual(h.optimizer_measured, fitted.cores),
        )  # fmt: skip
        for key in ("host_optimizer_fit", "host_cpu_inflation", "host_optimizer_faults_per_step"):
            if key in later.meta:
                meta[key] = later.meta[key]
    return dataclasses.replace(new, host_model=host, meta=meta)


def averaged(base: HardwareProfile, later: HardwareProfile) -> HardwareProfile:
    """``base`` with the mean of its and ``later``'s compute and optimizer parts (``--mean``)."""
    spliced = splice(base, later, ("compute", "optimizer"))
    return dataclasses.replace(
        spliced, compute_curve=_mean_curve([base.compute_curve, later.compute_curve]),
        forward=_mean_linear([base.forward, later.forward]), backward=_mean_linear([base.backward, later.backward]),
        optimizer=_mean_linear([base.optimizer, later.optimizer]),
    )  # fmt: skip


def later_calibrations(folder: str) -> list[tuple[str, Path]]:
    """A group's later calibrations as stored (``all-cal2`` / ``all-cal3``, else ``CAL2`` / ``CAL3``)."""
    out = []
    for n in (2, 3):
        for name in (f"all-cal{n}", f"CAL{n}"):
            path = RESULTS / folder / name / "profile.yaml"
            if path.is_file():
                out.append((f"cal{n}", path))
                break
    return out


def score(folder: str, profile: Path | None) -> str:
    cmd = [sys.executable, str(RESULTS.parent / "validate_emulated.py"), "--reuse", str(RESULTS / folder / "all")]
    cmd += ["--profile", str(profile)] if profile is not None else []
    env = {**os.environ, "PYTHONPATH": str(RESULTS.parents[1])}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    found = {m.group(1): m for m in MAPE.finditer(run.stdout)}
    if set(found) != {"analytic", "sim"}:
        return "failed: " + (run.stderr or run.stdout).strip().splitlines()[-1]
    a, s = found["analytic"], found["sim"]
    return f"{a.group(2)} % (per repeat {a.group(3)}; worst {a.group(4)} %; sim {s.group(2)} %)"


def main() -> None:
    mean = "--mean" in sys.argv[1:]
    chosen = [a for a in sys.argv[1:] if a != "--mean"] or list(GROUPS)
    with tempfile.TemporaryDirectory() as tmp:
        for group in chosen:
            folder = GROUPS[group]
            base = load_profile(RESULTS / folder / "all" / "profile.yaml")
            if not mean:
                print(f"{group} cal1: {score(folder, None)}", flush=True)
            for name, path in later_calibrations(folder):
                later = load_profile(path)
                if mean:
                    out = Path(tmp) / group / name / "mean.yaml"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    save_profile(averaged(base, later), out)
                    print(f"{group} cal1+mean(cal1,{name}) compute,optimizer: {score(folder, out)}", flush=True)
                    continue
                print(f"{group} {name}: {score(folder, path)}", flush=True)
                for parts in PARTS:
                    out = Path(tmp) / group / name / ("-".join(parts) + ".yaml")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    save_profile(splice(base, later, parts), out)
                    print(f"{group} cal1+{name} {','.join(parts)}: {score(folder, out)}", flush=True)


if __name__ == "__main__":
    main()
