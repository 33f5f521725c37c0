"""Validation: predict configurations from one testbed profile, run them for real, report the error.

``dpsim validate`` predicts, it does not re-measure:

1. calibration — a profile of the testbed (:mod:`runtime.calibrate`): given (``profile``), or
   made once with the plan's defaults, on microbenchmarks only (collectives on the plan's rank
   counts and rates, MLP layers on its (hidden, micro-batch) grid, the host with k processes)
   — no training run, whatever the cases;
2. measurement — the runtime executes each case on the testbed (medians after warm-up),
   ``repeats`` times, round robin (every case once, then every case again), so the repeats
   span the session and their spread, which is reported, includes the host's drift over it
   (back to back, they showed only the noise within minutes: two quiet sessions of the same
   cases differed by 10 %, ``benchmarks/validation_sessions.py``);
3. prediction — ``dpsim.api.run`` with every requested engine and ``calibration.profile`` set
   to that one profile, of the program the runtime ran (:func:`runtime.measure.as_run`: its bf16/fp16 is
   ``torch.autocast`` over fp32 parameters, so under DDP the case is predicted with ``training.autocast: true``,
   as the runs' ``extra.autocast`` records; one rank runs under DDP, ``training.ddp_at_one_rank: true``).

For each case the report lists which calibration points coincide with it (its rank count
among the benchmarked ones, its link rate among the shaped ones, its (hidden, micro-batch)
on the compute grid, its bucket among the benchmarked sizes) — none, for a held-out case —
and measured vs predicted per component: compute, exposed communication, optimizer, barrier.

Every measured run (all repeats) goes to ``runs.jsonl``, so the cases can be predicted again
from the same measurements (``benchmarks/validate_emulated.py --reuse``).

Configurations that change the number of workers but not the batch keep the per-rank work
(micro-batch and accumulation) of the base scenario, so ``global_batch`` is adjusted.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpsim.calibration import (
    MAX_RESIDUAL,
    HardwareProfile,
    check_residuals,
    load_profile,
    residuals_above,
    save_profile,
    within_scatter,
)
from dpsim.errors import ScenarioError
from dpsim.outputs import replaced
from dpsim.records import StepResult, write_jsonl
from dpsim.scenario import CalibrationRef, Scenario, apply_overrides, load_scenario, parse_override, scenario_from_dict
from runtime.calibrate import CalibrationPlan
from runtime.calibrate import calibrate as run_calibration
from runtime.job import JobOptions, check_supported
from runtime.launch import launch, signals_as_exceptions
from runtime.measure import as_run, ran_autocast, ran_bucket_views, ran_ddp
from runtime.pace import reference_kernel_s, run_pace_ratio, with_pace
from runtime.train import make_testbed

__all__ = [
    "COMPONENTS",
    "ESTIMATORS",
    "OUTPUTS",
    "STEP_TERMS",
    "VALIDATE_ADVICE",
    "Case",
    "breakdown",
    "build_cases",
    "calibration_overlap",
    "congestion_control_mismatch",
    "mape",
    "measured_terms",
    "pace_line",
    "plot_validation",
    "residual_lines",
    "validate",
]

COMPONENTS = ("step_time_s", "compute_s", "comm_s", "exposed_comm_s", "optimizer_s", "barrier_s")
"""Measured vs predicted quantities in the report (error % is reported for each)."""
VALIDATE_ADVICE = (
    "rerun on a quiet machine, calibrate apart with more repetitions or fewer algorithms (dpsim calibrate --reps, "
    "--algorithms) and pass that profile with --profile, or accept a larger residual with --max-residual"
)
"""What to do about a residual above the limit of validate's own calibration, in validate's options."""
OUTPUTS = ("profile.yaml", "calibration-bench.json", "records.jsonl", "runs.jsonl", "validation.csv", "summary.json",
           "validation.png")  # fmt: skip
"""The files a validation writes in its ``--out-dir`` (each whole, none through a link: :mod:`dpsim.outputs`)."""


@dataclass(frozen=True)
class Case:
    """One validation configuration: a label and the resolved scenario."""

    label: str
    overrides: tuple[tuple[str, Any], ...]
    scenario: Scenario
    replaced: tuple[tuple[str, str], ...] = ()
    """Each base ``--set`` path this case replaces (itself, or a section holding it), with why: it shaped only the base
    scenario, and the case ran its own value (round 37: ``validate --set P=x --vary P=a,b`` ran a and b and said nothing
    of x). Listed in the row's ``ignored_fields`` and in the summary's ``warnings`` (:func:`replaced_set_warnings`)."""


def _label(overrides: Sequence[tuple[str, Any]]) -> str:
    if not overrides:
        return "base"
    return ", ".join(f"{path.rsplit('.', 1)[-1]}={json.dumps(value) if isinstance(value, (list, dict)) else value}"
                     for path, value in overrides)  # fmt: skip


def build_cases(
    scenario_path: str | Path | None, base_overrides: Sequence[str], cases: Sequence[Sequence[str | tuple[str, Any]]]
) -> list[Case]:
    """Resolve each case; keep the base's per-rank batch when a case changes the worker count only."""
    import yaml

    base = load_scenario(scenario_path, base_overrides)
    base_data = _without_derived(base.model_dump(mode="json", exclude_none=True))
    set_paths = [parse_override(o)[0] for o in base_overrides]
    out = []
    for raw in cases:
        items = [parse_override(c) if isinstance(c, str) else c for c in raw]
        replaced = []
        for p in dict.fromkeys(set_paths):
            holder = next((u for u, _ in items if p == u or p.startswith(u + ".")), None)
            if holder is not None:
                replaced.append((p, f"set by --set, replaced in this case by its {holder}"))
        data = apply_overrides(base_data, items)
        paths = {p for p, _ in items}
        if "training.global_batch" not in paths:
            trial = data["cluster"]
            dp = int(trial.get("nodes", 1)) * int(trial.get("workers_per_node", 1))
            t = data["training"]
            dp //= int(t.get("tensor_parallel", 1)) * int(t.get("pipeline_parallel", 1))
            accumulation = int(t["accumulation"]) if "training.accumulation" in paths else base.accumulation_steps
            t["global_batch"] = dp * int(t.get("micro_batch", 1)) * accumulation
            t.pop("accumulation", None)
        source = f"<case {_label(items)}>"
        scenario = scenario_from_dict(yaml.safe_load(yaml.safe_dump(data)), source)
        out.append(Case(_label(items), tuple(items), scenario, tuple(replaced)))
    return out


def replaced_set_warnings(cases: Sequence[Case]) -> list[str]:
    """One warning for each base ``--set`` a case replaces (:attr:`Case.replaced`), naming the cases: there it was read
    by nothing (in every case: by nothing but the base scenario's validation). A sweep lists the same in every row
    (:class:`dpsim.api._Base`) and under its table."""
    paths = dict.fromkeys(path for case in cases for path, _ in case.replaced)
    out = []
    for path in paths:
        where = [case.label for case in cases if path in dict(case.replaced)]
        which = "every case" if len(where) == len(cases) else f"{len(where)} of {len(cases)} cases ({'; '.join(where)})"
        out.append(f"--set {path}: replaced in {which} by the case's own value (it shaped only the base scenario)")
    return out


def _without_derived(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the model's parameters and FLOPs when they follow from its shape.

    A case that changes ``model.layers`` or ``model.hidden`` must get the new shape's
    parameters and FLOPs, not the base's (which ``model_dump`` writes out once derived).
    """
    model = {k: v for k, v in data["model"].items() if k not in ("parameters", "flops_per_sample")}
    try:
        trial = scenario_from_dict({**data, "model": model}, "<base>")
    except ScenarioError:
        return data  # not derivable: they were given
    if (trial.model.parameters, trial.model.flops_per_sample) != (
        data["model"].get("parameters"),
        data["model"].get("flops_per_sample"),
    ):
        return data
    return {**data, "model": model}


def mape(measured: Iterable[float], predicted: Iterable[float]) -> float:
    """Mean absolute percentage error of ``predicted`` against ``measured`` (%)."""
    pairs = [(m, p) for m, p in zip(measured, predicted, strict=True) if m > 0]
    return 100.0 * sum(abs(p - m) / m for m, p in pairs) / len(pairs) if pairs else math.nan


STEP_TERMS = ("compute_s", "exposed_comm_s", "optimizer_s")
"""The terms a step is the sum of, on both sides: the engines' step is compute + exposed communication +
optimizer (+ barrier and bubble); a runtime rank's step is its forward + backward to its last bucket handed
over, the wait from there to the end of ``backward()``, and ``optimizer.step()`` + ``zero_grad`` (the phase
reports between them are all else its timed span holds; drawing the data is outside it)."""
ESTIMATORS = ("slowest", "median")
"""Which rank's terms are the measured ones: the critical rank's (``slowest``, the record's own compute and
exposed communication) or the median over ranks of each rank's medians (``median``); both take the optimizer
as the median over ranks, as the record does."""


def measured_terms(run: StepResult, estimator: str = "slowest") -> dict[str, float]:
    """The measured step split into :data:`STEP_TERMS` and ``unattributed_s`` (the step less their sum).

    The record's step is the mean of the ranks' steps; ``unattributed_s`` is what none of the terms
    holds (the barrier, the phase reports, and that a median of sums is not the sum of medians).
    """
    if estimator == "slowest":
        terms = {term: float(getattr(run, term)) for term in STEP_TERMS}
    elif estimator == "median":
        terms = {}
        for term in STEP_TERMS:
            per_rank = run.extra.get(f"per_rank_{term}")
            if not per_rank:
                raise ScenarioError(
                    f"extra.per_rank_{term}", "expected each rank's median (a runtime record)", "records"
                )
            terms[term] = statistics.median(float(v) for v in per_rank.values())
    else:
        raise ScenarioError("estimator", f"expected one of {', '.join(ESTIMATORS)}, got {estimator!r}", "breakdown")
    terms["unattributed_s"] = run.step_time_s - sum(terms.values())
    return terms


def breakdown(
    pairs: Sequence[tuple[StepResult, StepResult]], estimator: str = "slowest"
) -> tuple[list[dict[str, float]], dict[str, dict[str, float]]]:
    """Per-term residuals (predicted − measured) of (measured, predicted) pairs, and their summary.

    Each row has ``measured_<term>``, ``predicted_<term>`` and ``residual_<term>`` (seconds) for
    :data:`STEP_TERMS`, ``unattributed_s`` (the predicted one is the pipeline bubble: the engines'
    barrier lies inside their compute) and ``step_time_s``; the residuals of the terms add up to the
    step's. The summary, per term: the mean residual (s), the mean residual as a share of the
    measured step (%), the mean signed and absolute error of the term itself (%, ``nan`` for
    ``unattributed_s``, which has no scale).
    """
    rows: list[dict[str, float]] = []
    for measured, predicted in pairs:
        m = measured_terms(measured, estimator)
        p = {term: float(getattr(predicted, term)) for term in STEP_TERMS}
        p["unattributed_s"] = predicted.step_time_s - sum(p.values())
        m["step_time_s"], p["step_time_s"] = measured.step_time_s, predicted.step_time_s
        row: dict[str, float] = {}
        for term in m:
            row[f"measured_{term}"], row[f"predicted_{term}"] = m[term], p[term]
            row[f"residual_{term}"] = p[term] - m[term]
        rows.append(row)
    summary: dict[str, dict[str, float]] = {}
    for term in (*STEP_TERMS, "unattributed_s", "step_time_s"):
        residual = [r[f"residual_{term}"] for r in rows]
        measured_term = [r[f"measured_{term}"] for r in rows]
        scaled = term != "unattributed_s" and all(v > 0 for v in measured_term)
        summary[term] = {
            "mean_residual_s": statistics.mean(residual),
            "share_of_step_pct": 100.0
            * statistics.mean(d / r["measured_step_time_s"] for d, r in zip(residual, rows, strict=True)),
            "bias_pct": 100.0 * statistics.mean(d / v for d, v in zip(residual, measured_term, strict=True))
            if scaled
            else math.nan,
            "mape_pct": mape(measured_term, [r[f"predicted_{term}"] for r in rows]) if scaled else math.nan,
        }
    return rows, summary


def calibration_overlap(scenario: Scenario, profile: HardwareProfile) -> list[str]:
    """The calibration points of ``profile`` that coincide with ``scenario`` (empty: a held-out case)."""
    plan = profile.meta.get("plan") or {}
    out = []
    if scenario.world_size in plan.get("ranks", []):
        out.append(f"{scenario.world_size} ranks benchmarked")
    rate = scenario.cluster.inter_node.bandwidth
    if any(math.isclose(rate, r, rel_tol=1e-9) for r in plan.get("rates_bytes_per_s", [])):
        out.append(f"link rate {rate * 8 / 1e6:g} Mbit/s calibrated")
    m = scenario.model
    if (
        m.kind == "mlp"
        and m.hidden in plan.get("curve_hiddens", [])
        and scenario.training.micro_batch in plan.get("curve_micro_batches", [])
    ):
        out.append(f"hidden {m.hidden} × micro-batch {scenario.training.micro_batch} on the compute grid")
    if scenario.communication.bucket in [*plan.get("sizes", []), *plan.get("intra_sizes", [])]:
        out.append(f"bucket {scenario.communication.bucket:.0f} B benchmarked")
    return out


def median_run(runs: Sequence[StepResult]) -> StepResult:
    """The median of ``runs`` by step time: the middle run of an odd number; of an even number, the two middle
    runs' mean, field by field (every float field, so the terms still add up to the step; the rest, and ``extra``,
    the faster run's). The faster or the slower middle run alone would bias an even number of repeats."""
    ordered = sorted(runs, key=lambda run: run.step_time_s)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    low, high = ordered[middle - 1], ordered[middle]
    means = {
        f.name: (getattr(low, f.name) + getattr(high, f.name)) / 2.0
        for f in dataclasses.fields(StepResult)
        if isinstance(getattr(low, f.name), float)
    }
    return dataclasses.replace(low, **means, extra={**low.extra, "median_of_runs": len(ordered)})


def calibrated_as_ran(scenario: Scenario, runs: Sequence[StepResult], profile: Path | str) -> Scenario:
    """The program the runtime ran for ``scenario``, priced with ``profile``: bf16/fp16 under torch.autocast over
    fp32 parameters (extra.autocast), one rank under DDP (extra.ddp_at_one_rank), DDP's gradients as bucket views or
    not as its reducer ran them (extra.gradient_as_bucket_view; runs that do not say: as the scenario says)."""
    ran = as_run(scenario, any(map(ran_autocast, runs)), any(map(ran_ddp, runs)), ran_bucket_views(runs))
    calibrated = ran.model_copy(deep=True)
    calibrated.calibration = CalibrationRef(profile=str(profile))
    return calibrated


def _measure(
    case: Case, testbed: str, options: JobOptions, run_dir: Path, timeout_s: float, tcp_cc: str = ""
) -> StepResult:
    with make_testbed(testbed, case.scenario, tcp_cc) as tb:
        return launch(case.scenario, options, tb, run_dir, timeout_s=timeout_s, extra_meta=tb.info)


def validate(
    cases: Sequence[Case],
    out_dir: Path,
    *,
    testbed: str = "local",
    engine: str = "analytic",
    engines: Sequence[str] | None = None,
    plan: CalibrationPlan | None = None,
    profile: Path | None = None,
    options: JobOptions | None = None,
    repeats: int = 1,
    timeout_s: float = 300.0,
    log: Callable[[str], None] = print,
    work_dir: Path | None = None,
    measure: Callable[[int, Case, int], StepResult] | None = None,
    max_residual: float | None = None,
) -> Any:
    """Predict every case from one profile, measure it ``repeats`` times; write records, CSV, JSON and PNG.

    The runs go round robin: repeat r of every case, in order, before repeat r + 1 of any
    (``measure`` is called in that order); ``runs.jsonl`` lists them case by case.

    ``engines`` (default: ``[engine]``) are all evaluated; columns ``predicted_<field>`` are
    the first engine's, ``predicted_<engine>_<field>`` each engine's. ``measure(index, case,
    repeat)`` gives a measured result instead of running the case on ``testbed`` (under
    torchrun the ranks have run it already: :func:`runtime.torchrun.validate_distributed`).

    ``max_residual``: the rule of ``dpsim calibrate`` for the calibration made here (no ``profile``):
    the link fits above it are measured again (:func:`runtime.calibrate.calibrate`), and one still
    above it raises :class:`dpsim.calibration.CalibrationError` (saying what to do) after the profile and
    its benchmark records are written, before any case runs. The summary records the limit and every fit
    above :data:`dpsim.calibration.MAX_RESIDUAL` that a larger limit accepted (``fit_residuals_accepted``).
    ``None``: not checked. A given ``profile`` is not checked (its residuals are in the summary); every fit of a
    profile no limit checked here (a given one, or one made here without ``max_residual``) that the 5 % rule refuses
    is in ``fit_residuals_unchecked``, which the reports print (stop 51 priced its runs with a profile refused on its
    optimizer fit, 18.4 %, that nothing in the report named).
    Returns (table, summary).
    """
    import pandas as pd

    from dpsim import api

    out_dir.mkdir(parents=True, exist_ok=True)
    work = work_dir or out_dir
    options = options or JobOptions()
    plan = plan or CalibrationPlan()  # its tcp_cc: the emulated nodes' control, calibrating and running alike
    engines = list(engines or [engine])
    for case in cases:
        check_supported(case.scenario)  # refuse before calibrating or running anything
    for warning in replaced_set_warnings(cases):  # said before the runs too (the summary's warnings repeat it)
        log(f"validate: warning: {warning}")
    with signals_as_exceptions():
        checked = profile is None and max_residual is not None
        if profile is None:
            log("validate: calibrating the testbed once (its profile predicts every case)")
            made, raw = run_calibration(cases[0].scenario, plan, testbed,
                                        work_dir=work / "calibration", name="testbed", log=log,
                                        max_residual=max_residual)  # fmt: skip
            profile = out_dir / "profile.yaml"
            save_profile(made, profile)
            with replaced(out_dir / "calibration-bench.json", "--out-dir") as tmp:
                tmp.write_text(json.dumps(raw, indent=0), encoding="utf-8")
            if max_residual is not None:  # calibrate's rule, in validate's options
                check_residuals(made, max_residual, VALIDATE_ADVICE)
        profile = profile.resolve()
        fitted = load_profile(profile)
        rows: list[dict[str, Any]] = []
        records: list[StepResult] = []
        every_run: list[StepResult] = []
        per_repeat: list[list[float]] = []
        measured_runs: list[list[StepResult]] = [[] for _ in cases]
        for r in range(repeats):  # round robin: every repeat passes over all cases, so repeats span the session
            for index, case in enumerate(cases):
                log(f"validate: {case.label} ({case.scenario.world_size} ranks), run {r + 1} of {repeats}")
                if measure is not None:
                    measured_runs[index].append(measure(index, case, r))
                    continue
                before = reference_kernel_s()  # the host's pace around the run: reported, never priced
                run = _measure(case, testbed, options, work / "runs" / f"case{index}-run{r}", timeout_s, plan.tcp_cc)
                measured_runs[index].append(with_pace(run, before, reference_kernel_s()))
        for index, case in enumerate(cases):
            runs = measured_runs[index]
            calibrated = calibrated_as_ran(case.scenario, runs, profile)
            predicted = {name: api.run(calibrated, engine=name) for name in engines}
            every_run += runs
            steps = [run.step_time_s for run in runs]
            per_repeat.append(steps)
            measured = median_run(runs)
            records += [measured, *predicted.values()]
            overlap = calibration_overlap(case.scenario, fitted)
            row: dict[str, Any] = {
                "case": case.label,
                "ranks": case.scenario.world_size,
                "per_node": case.scenario.cluster.workers_per_node,
                "algorithm": case.scenario.communication.algorithm,
                "bucket_bytes": case.scenario.communication.bucket,
                "accumulation": case.scenario.accumulation_steps,
                "batch_per_rank": case.scenario.training.micro_batch * case.scenario.accumulation_steps,
                "link_rate_mbit_s": case.scenario.cluster.inter_node.bandwidth * 8 / 1e6,
                "straggler": max(case.scenario.worker_slowdowns()),
                "calibration_overlap": "; ".join(overlap) or "none",
                "ranks_in_calibration": any("ranks benchmarked" in o for o in overlap),
                "measured_step_min_s": min(steps),
                "measured_step_max_s": max(steps),
                "other_cores_max": _other_cores(runs),
                "host_pace_vs_calibration": _median_finite([run_pace_ratio(run, fitted.meta) for run in runs]),
            }
            if case.replaced:  # round 37: a base --set this case replaced, listed as a sweep's rows list it
                row["ignored_fields"] = "; ".join(f"{path}: {why}" for path, why in case.replaced)
            for name, result in predicted.items():
                for field in COMPONENTS:
                    m, p = float(getattr(measured, field)), float(getattr(result, field))
                    row[f"measured_{field}"] = m
                    row[f"predicted_{name}_{field}"] = p
                    row[f"error_{name}_{field}_pct"] = 100.0 * (p - m) / m if m > 0 else math.nan
                    if name == engines[0]:
                        row[f"predicted_{field}"] = p
                        row[f"error_{field}_pct"] = row[f"error_{name}_{field}_pct"]
            row["measured_step_ci95_s"] = measured.step_time_ci95_s
            rows.append(row)
            errors = ", ".join(f"{name} {row[f'error_{name}_step_time_s_pct']:+.1f} %" for name in engines)
            log(f"  measured {measured.step_time_s * 1e3:.1f} ms (runs {min(steps) * 1e3:.1f}–{max(steps) * 1e3:.1f}),"
                f" predicted {predicted[engines[0]].step_time_s * 1e3:.1f} ms ({errors})")  # fmt: skip
    table = pd.DataFrame(rows)
    mismatch = congestion_control_mismatch(fitted.meta, every_run)
    ran_cc = sorted(
        {str(run.extra["tcp_congestion_control"]) for run in every_run if run.extra.get("tcp_congestion_control")}
    )
    if mismatch:
        log(f"validate: warning: {mismatch}")
    write_jsonl(out_dir / "records.jsonl", records, field="--out-dir")
    write_jsonl(
        out_dir / "runs.jsonl", every_run, field="--out-dir"
    )  # every repeat, case by case: re-predicting needs no testbed
    with replaced(out_dir / "validation.csv", "--out-dir") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    summary: dict[str, Any] = {
        "engine": engines[0],
        "engines": engines,
        "testbed": testbed,
        "cases": len(rows),
        "repeats": repeats,
        "profile": profile.name,
        "fit_residuals": fitted.residuals(),
        "max_residual": max_residual if checked else None,
        "fit_residuals_accepted": _accepted_above_rule(fitted) if checked else {},
        "fit_residuals_unchecked": {} if checked else _accepted_above_rule(fitted),
        "calibration_configurations": list(fitted.calibrated_on),
        "held_out_cases": int((table["calibration_overlap"] == "none").sum()),
        "host_load": _host_load_summary(every_run),
        "host_pace": _host_pace_summary(every_run, fitted.meta),
        "tcp_congestion_control": {"profile": fitted.meta.get("tcp_congestion_control"), "runs": ran_cc},
        "warnings": [*([mismatch] if mismatch else []), *replaced_set_warnings(cases)],
    }
    for name in engines:
        predicted_steps = table[f"predicted_{name}_step_time_s"]
        by_repeat = [
            mape([steps[r] for steps in per_repeat], predicted_steps) for r in range(repeats)
        ]  # MAPE of each repeat's measurements
        summary[f"mape_{name}_step_time_pct"] = mape(table["measured_step_time_s"], predicted_steps)
        summary[f"mape_{name}_by_repeat_pct"] = by_repeat
        summary[f"worst_{name}_step_time_pct"] = float(table[f"error_{name}_step_time_s_pct"].abs().max())
    summary["mape_step_time_pct"] = summary[f"mape_{engines[0]}_step_time_pct"]
    summary["mape_step_time_held_out_ranks_pct"] = mape(
        table.loc[~table["ranks_in_calibration"], "measured_step_time_s"],
        table.loc[~table["ranks_in_calibration"], "predicted_step_time_s"],
    )
    with replaced(out_dir / "summary.json", "--out-dir") as tmp:
        tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    plot_validation(table, out_dir / "validation.png", summary)
    return table, summary


def congestion_control_mismatch(meta: Mapping[str, Any], runs: Sequence[StepResult]) -> str | None:
    """What to say when the runs' TCP congestion control (``extra.tcp_congestion_control``, the emulated testbed's)
    is not the one the profile was calibrated with (``meta.tcp_congestion_control``); None when they agree or
    either is unknown (a profile or runs from before it was recorded).

    The control sets how a shaped link's flows share it: on this project's VM the ring all-reduce of 8 MiB at 50
    Mbit/s ran 1.23 x its busiest link's bytes over the rate under bbr and 1.07 x under reno, so the link fits
    carry the control they were measured under."""
    calibrated = meta.get("tcp_congestion_control")
    ran = sorted({str(run.extra["tcp_congestion_control"]) for run in runs if run.extra.get("tcp_congestion_control")})
    if not calibrated or not ran or ran == [calibrated]:
        return None
    return (f"the profile's links were calibrated with the nodes' TCP congestion control {calibrated}, the runs "
            f"used {', '.join(ran)}: a shaped link's flows share it differently; calibrate again with the runs' "
            f"(dpsim calibrate --testbed emulated --tcp-cc {ran[0]})")  # fmt: skip


def _other_cores(runs: Sequence[StepResult]) -> float:
    """The largest ``extra.host_load.other_cores`` over ``runs`` (cores other processes used meanwhile; NaN: not
    recorded, e.g. runs from before it was)."""
    values = [run.extra.get("host_load", {}).get("other_cores") for run in runs]
    known = [float(v) for v in values if v is not None]
    return max(known) if known else math.nan


def residual_lines(summary: Mapping[str, Any]) -> list[str]:
    """What ``dpsim validate`` and ``benchmarks/validate_emulated.py`` print of a summary's fits above the 5 % rule:
    those ``--max-residual`` accepted (``fit_residuals_accepted``), and, as a warning, those nothing here checked
    that this validation priced as they stand (``fit_residuals_unchecked``)."""

    def listed(fits: Mapping[str, float]) -> str:
        return ", ".join(f"{k} {100 * v:.1f} %" for k, v in sorted(fits.items()))

    rule = f"above the {100 * MAX_RESIDUAL:g} % rule"
    lines = []
    if summary.get("fit_residuals_accepted"):
        accepted = listed(summary["fit_residuals_accepted"])
        lines.append(f"accepted with --max-residual {summary['max_residual']:g} ({rule}): {accepted}")
    if summary.get("fit_residuals_unchecked"):
        lines.append(
            f"warning: priced with fits {rule} that nothing here checked (a given profile's, as they stand): "
            + listed(summary["fit_residuals_unchecked"])
        )
    return lines


def _accepted_above_rule(profile: HardwareProfile) -> dict[str, float]:
    """The fits above the 5 % rule that ``--max-residual`` let through (not those within their points' own scatter,
    which the rule accepts: :func:`dpsim.calibration.within_scatter`)."""
    scatter = within_scatter(profile, MAX_RESIDUAL)
    return {k: v for k, v in residuals_above(profile, MAX_RESIDUAL).items() if k not in scatter}


def _median_finite(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.median(finite) if finite else math.nan


def _host_pace_summary(runs: Sequence[StepResult], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Over every run that recorded the reference kernel's time around it (``extra.reference_pace``, as the profile
    of ``meta`` timed it): how many did, and the median, smallest and largest of its time then over its time while
    the profile was calibrated (:func:`runtime.pace.run_pace_ratio`)."""
    ratios = [r for r in (run_pace_ratio(run, meta) for run in runs) if math.isfinite(r)]
    if not ratios:
        return {"runs_recorded": 0}
    return {"runs_recorded": len(ratios), "median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def pace_line(summary: Mapping[str, Any]) -> str | None:
    """What ``dpsim validate`` and ``benchmarks/validate_emulated.py`` print of the host's pace during the cases
    against the calibration's (summary ``host_pace``), or None where no run recorded it against the profile's."""
    pace = summary.get("host_pace") or {}
    if not pace.get("runs_recorded"):
        return None
    return (f"host pace during the cases vs during calibration: {pace['median']:.2f} (range {pace['min']:.2f}-"
            f"{pace['max']:.2f} over {pace['runs_recorded']} runs; the reference kernel's time around each run over "
            "its time while the profile was calibrated, above 1: a slower host; a diagnostic, no prediction uses "
            "it)")  # fmt: skip


def _host_load_summary(runs: Sequence[StepResult]) -> dict[str, Any]:
    """Over every run that recorded ``extra.host_load``: how many did, and the median and largest cores other
    processes used, and the same for steal (runtime.hostload)."""
    loads = [run.extra["host_load"] for run in runs if run.extra.get("host_load", {}).get("other_cores") is not None]
    if not loads:
        return {"runs_recorded": 0}
    other = [float(x["other_cores"]) for x in loads]
    steal = [float(x.get("steal_cores") or 0.0) for x in loads]
    return {
        "runs_recorded": len(loads),
        "other_cores_median": statistics.median(other),
        "other_cores_max": max(other),
        "runs_other_above_0_25_cores": sum(v > 0.25 for v in other),
        "steal_cores_max": max(steal),
    }


def plot_validation(table: Any, path: Path, summary: dict[str, Any]) -> None:
    """Predicted vs measured step time (log–log, y = x and ±10 % lines), marked by algorithm."""
    from dpsim.plots import load_matplotlib

    load_matplotlib()
    import matplotlib
    import matplotlib.ticker
    from matplotlib.figure import Figure

    # a bare Figure (no pyplot): no backend switch, no global figure state in the caller's process
    fig = Figure(figsize=(6.4, 5.6))
    ax = fig.subplots()
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (algorithm, group) in enumerate(table.groupby("algorithm")):
        color = colors[i % len(colors)]
        held = group[group["calibration_overlap"] == "none"]
        seen = group[group["calibration_overlap"] != "none"]
        ax.scatter(held["measured_step_time_s"] * 1e3, held["predicted_step_time_s"] * 1e3, color=color,
                   label=f"{algorithm}")  # fmt: skip
        if len(seen):
            ax.scatter(seen["measured_step_time_s"] * 1e3, seen["predicted_step_time_s"] * 1e3, marker="x",
                       color=color, label=f"{algorithm} (shares a calibration point)")  # fmt: skip
    lo = 0.8 * min(table["measured_step_time_s"].min(), table["predicted_step_time_s"].min()) * 1e3
    hi = 1.25 * max(table["measured_step_time_s"].max(), table["predicted_step_time_s"].max()) * 1e3
    xs = [lo, hi]
    ax.plot(xs, xs, "k-", lw=1, label="predicted = measured")
    ax.plot(xs, [x * 1.1 for x in xs], "k:", lw=1, label="±10 %")
    ax.plot(xs, [x * 0.9 for x in xs], "k:", lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured step time (ms)")
    ax.set_ylabel(f"predicted step time (ms, {summary['engine']})")
    ax.set_title(
        f"{summary['cases']} configurations on the {summary['testbed']} testbed: "
        f"MAPE {summary['mape_step_time_pct']:.1f} %",
        fontsize=10,
    )
    text = "calibrated once on: " + "; ".join(summary["calibration_configurations"])
    fig.text(0.01, 0.005, text if len(text) < 600 else text[:597] + "...", fontsize=6, wrap=True)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    with replaced(path, "--out-dir") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
