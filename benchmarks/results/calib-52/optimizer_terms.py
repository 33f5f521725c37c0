"""Every stored validation group priced from its own profile (no root), the optimizer's term on the critical rank
beside the step: per group the step MAPE, the optimizer term's mean signed error (ms) and MAPE, the ranks' own
optimizer CPU a parameter (median rank, median run) and the profile's fit at the runs' parameter count.

    PYTHONPATH=. python benchmarks/results/calib-52/optimizer_terms.py [--optimizer FIXED_MS,PER_PARAMETER_NS] GROUP...

``--optimizer``: price every group with its profile's optimizer fit replaced by this one (everything else the
profile's own), e.g. a fit measured by this checkout's procedure (``runtime.calibrate.measure_optimizer_fit``) on
another day: a transplant, not a calibration of the group's session. GROUP: a folder under benchmarks/results with a
``profile.yaml`` and ``runs.jsonl`` (e.g. validation-2026-12-07-f/all). Analytic engine (the engines agree on every
stored group).
"""

import dataclasses
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import benchmarks.validate_emulated as ve
from dpsim.calibration import LinearTime, load_profile, save_profile
from dpsim.records import read_jsonl
from runtime.launch import JobOptions
from runtime.validate import build_cases, validate

RESULTS = Path(__file__).resolve().parents[1]


def priced(folder: Path, optimizer: LinearTime | None) -> list[dict]:
    """The group's per-case rows (medians over repeats, as validate_emulated's table)."""
    with tempfile.TemporaryDirectory(prefix="dpsim-optterms-") as tmp:
        profile = folder / "profile.yaml"
        if optimizer is not None:
            profile = Path(tmp) / "profile.yaml"
            save_profile(dataclasses.replace(load_profile(folder / "profile.yaml"), optimizer=optimizer), profile)
        scenario = Path(tmp) / "scenario.yaml"
        scenario.write_text(ve.SCENARIO)
        case_set = ve._recorded_case_set(folder) or "default"
        cases = build_cases(scenario, [], ve.CASE_SETS[case_set])
        saved = ve._saved_runs(folder, len(cases))
        table, _ = validate(
            cases, Path(tmp) / "out", testbed="emulated", engines=["analytic"], profile=profile,
            options=JobOptions(warmup_steps=1, steps=5), repeats=len(saved[0]), work_dir=Path(tmp) / "work",
            measure=lambda index, case, r: saved[index][r], log=lambda line: None,
        )  # fmt: skip
        return table.to_dict("records")


def ranks_cpu(folder: Path) -> tuple[float, float]:
    """(the ranks' optimizer CPU ns a parameter, the profile's fit's ns a parameter), medians over the runs."""
    profile = load_profile(folder / "profile.yaml")
    cpu, fit = [], []
    for r in read_jsonl(folder / "runs.jsonl"):
        parameters = sum(r.extra.get("bucket_bytes") or []) // 4
        by_rank = r.extra.get("per_rank_optimizer_cpu_s")
        if r.engine != "runtime" or not parameters:
            continue
        if by_rank:
            cpu.append(statistics.median(by_rank.values()) / parameters * 1e9)
        fit.append(profile.optimizer_time(parameters) / parameters * 1e9)
    return (statistics.median(cpu) if cpu else float("nan")), (statistics.median(fit) if fit else float("nan"))


def main() -> None:
    args = sys.argv[1:]
    optimizer = None
    if args[:1] == ["--optimizer"]:
        fixed_ms, per_ns = (float(v) for v in args[1].split(","))
        optimizer, args = LinearTime(fixed_ms * 1e-3, per_ns * 1e-9), args[2:]
    print(f"optimizer: {'each profile its own' if optimizer is None else f'{fixed_ms:g} ms + {per_ns:g} ns'}; "
          "per group: step MAPE %, optimizer term on the critical rank (mean predicted - measured ms, MAPE %), "
          "ranks' optimizer CPU ns a parameter, the profile's own fit ns a parameter")  # fmt: skip
    print(f"{'group':36} {'step %':>7} {'opt ms':>8} {'opt %':>7} {'rank cpu':>8} {'own fit':>8}")
    steps, opts, optp = [], [], []
    for group in args:
        folder = RESULTS / group
        rows = priced(folder, optimizer)
        step = statistics.mean(abs(r["error_step_time_s_pct"]) for r in rows)
        diff = [1e3 * (r["predicted_optimizer_s"] - r["measured_optimizer_s"]) for r in rows]
        pct = [abs(r["predicted_optimizer_s"] / r["measured_optimizer_s"] - 1) * 100 for r in rows]
        cpu, fit = ranks_cpu(folder)
        steps.append(step), opts.append(statistics.mean(diff)), optp.append(statistics.mean(pct))
        print(f"{group:36} {step:7.2f} {opts[-1]:+8.1f} {optp[-1]:7.1f} {cpu:8.2f} {fit:8.2f}", flush=True)
    print(f"{'mean over ' + str(len(steps)) + ' groups':36} {statistics.mean(steps):7.2f} "
          f"{statistics.mean(opts):+8.1f} {statistics.mean(optp):7.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
