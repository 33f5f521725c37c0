"""Validation: run configurations for real and predict them from a profile measured on *other* configurations.

For every configuration (a list of ``--set`` overrides of one scenario):

1. calibration — collective microbenchmarks once per inter-node rate, on the rank counts
   of the plan (default 2 and 4), fitted α–β per algorithm; compute and optimizer timings
   once per (model, optimizer, number of ranks): that many single-thread processes time
   forward/backward/optimizer at once, as the ranks share the host's cores
   (:mod:`runtime.calibrate`). These microbenchmarks are the *calibration configurations*;
   no training run is used.
2. measurement — the runtime executes the configuration on the testbed (medians after
   warm-up);
3. prediction — ``dpsim.api.run`` (analytic or sim engine) with ``calibration.profile``
   set to the matching profile.

Configurations that change the number of workers but not the batch keep the per-rank work
(micro-batch and accumulation) of the base scenario, so ``global_batch`` is adjusted.
The report marks configurations whose rank count was among the calibration rank counts.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpsim.calibration import HardwareProfile, save_profile
from dpsim.records import StepResult, write_jsonl
from dpsim.scenario import CalibrationRef, Scenario, apply_overrides, load_scenario, parse_override, scenario_from_dict
from runtime.calibrate import CalibrationPlan, calibrate_compute, calibrate_links
from runtime.job import JobOptions
from runtime.launch import launch, signals_as_exceptions
from runtime.train import make_testbed

__all__ = ["COMPONENTS", "Case", "build_cases", "mape", "plot_validation", "validate"]

COMPONENTS = ("step_time_s", "compute_s", "comm_s", "exposed_comm_s", "optimizer_s")
"""Measured vs predicted quantities in the report (error % is reported for each)."""


@dataclass(frozen=True)
class Case:
    """One validation configuration: a label and the resolved scenario."""

    label: str
    overrides: tuple[tuple[str, Any], ...]
    scenario: Scenario


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
    base_data = base.model_dump(mode="json", exclude_none=True)
    out = []
    for raw in cases:
        items = [parse_override(c) if isinstance(c, str) else c for c in raw]
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
        out.append(Case(_label(items), tuple(items), scenario))
    return out


def mape(measured: Iterable[float], predicted: Iterable[float]) -> float:
    """Mean absolute percentage error of ``predicted`` against ``measured`` (%)."""
    pairs = [(m, p) for m, p in zip(measured, predicted, strict=True) if m > 0]
    return 100.0 * sum(abs(p - m) / m for m, p in pairs) / len(pairs) if pairs else math.nan


def _rate_key(s: Scenario) -> str:
    return repr(s.cluster.inter_node.bandwidth)


def _compute_key(s: Scenario) -> str:
    """Compute depends on the model, the optimizer and how many ranks share the host's cores."""
    return json.dumps([s.model.model_dump(mode="json"), s.training.optimizer, s.world_size], sort_keys=True)


def validate(
    cases: Sequence[Case],
    out_dir: Path,
    *,
    testbed: str = "local",
    engine: str = "analytic",
    plan: CalibrationPlan | None = None,
    profile: Path | None = None,
    options: JobOptions | None = None,
    timeout_s: float = 300.0,
    log: Callable[[str], None] = print,
    work_dir: Path | None = None,
) -> Any:
    """Calibrate, measure and predict every case; write records, CSV and PNG to ``out_dir``.

    Per-rank logs and step records of every run, and the raw calibration runs, go to
    ``work_dir`` (default: ``out_dir``). Returns (table, summary).
    """
    import pandas as pd

    from dpsim import api

    out_dir.mkdir(parents=True, exist_ok=True)
    work = work_dir or out_dir
    plan = plan or CalibrationPlan()
    options = options or JobOptions()
    profiles: dict[str, Path] = {}
    link_profiles: dict[str, HardwareProfile] = {}
    calibration_labels: list[str] = []
    rows: list[dict[str, Any]] = []
    records: list[StepResult] = []
    with signals_as_exceptions():
        for case in cases:
            key = f"{_rate_key(case.scenario)} {_compute_key(case.scenario)}"
            if profile is not None:
                profiles[key] = profile.resolve()
            if key not in profiles:
                rate = case.scenario.cluster.inter_node.bandwidth
                if _rate_key(case.scenario) not in link_profiles:
                    fitted, raw = calibrate_links(case.scenario, plan, testbed, work_dir=work / "calibration", log=log)
                    link_profiles[_rate_key(case.scenario)] = fitted
                    bench = out_dir / f"links-{rate * 8 / 1e6:g}mbit-bench.json"
                    bench.write_text(json.dumps(raw, indent=0), encoding="utf-8")
                    calibration_labels += [f"{label} @ {rate * 8 / 1e6:g} Mbit/s" for label in fitted.calibrated_on]
                workers = case.scenario.world_size
                compute_plan = dataclasses.replace(plan, compute_workers=workers)
                fitted = calibrate_compute(link_profiles[_rate_key(case.scenario)], case.scenario, compute_plan,
                                           work_dir=work / "calibration", log=log)  # fmt: skip
                label = fitted.calibrated_on[-1]
                if label not in calibration_labels:
                    calibration_labels.append(label)
                path = out_dir / f"profile-{rate * 8 / 1e6:g}mbit-{workers}workers.yaml"
                save_profile(fitted, path)
                profiles[key] = path.resolve()
            log(f"validate: {case.label} ({case.scenario.world_size} ranks)")
            with make_testbed(testbed, case.scenario) as tb:
                measured = launch(case.scenario, options, tb, work / "runs" / f"case{len(rows)}",
                                  timeout_s=timeout_s, extra_meta=tb.info)  # fmt: skip
            calibrated = case.scenario.model_copy(deep=True)
            calibrated.calibration = CalibrationRef(profile=str(profiles[key]))
            predicted = api.run(calibrated, engine=engine)
            if Path(predicted.hardware_source).parent == out_dir.resolve():  # keep the report relocatable
                predicted = dataclasses.replace(predicted, hardware_source=Path(predicted.hardware_source).name)
            records += [measured, predicted]
            row: dict[str, Any] = {
                "case": case.label,
                "ranks": case.scenario.world_size,
                "algorithm": case.scenario.communication.algorithm,
                "bucket_bytes": case.scenario.communication.bucket,
                "accumulation": case.scenario.accumulation_steps,
                "link_rate_mbit_s": case.scenario.cluster.inter_node.bandwidth * 8 / 1e6,
                "straggler": max(case.scenario.worker_slowdowns()),
                "ranks_in_calibration": case.scenario.world_size in plan.ranks,
            }
            for field in COMPONENTS:
                m, p = float(getattr(measured, field)), float(getattr(predicted, field))
                row[f"measured_{field}"] = m
                row[f"predicted_{field}"] = p
                row[f"error_{field}_pct"] = 100.0 * (p - m) / m if m > 0 else math.nan
            row["measured_step_ci95_s"] = measured.step_time_ci95_s
            rows.append(row)
            log(
                f"  measured {measured.step_time_s * 1e3:.1f} ms, predicted {predicted.step_time_s * 1e3:.1f} ms "
                f"({row['error_step_time_s_pct']:+.1f} %)"
            )
    table = pd.DataFrame(rows)
    write_jsonl(out_dir / "records.jsonl", records)
    table.to_csv(out_dir / "validation.csv", index=False, float_format="%.6g")
    summary = {
        "engine": engine,
        "testbed": testbed,
        "cases": len(rows),
        "mape_step_time_pct": mape(table["measured_step_time_s"], table["predicted_step_time_s"]),
        "mape_step_time_held_out_ranks_pct": mape(
            table.loc[~table["ranks_in_calibration"], "measured_step_time_s"],
            table.loc[~table["ranks_in_calibration"], "predicted_step_time_s"],
        ),
        "calibration_configurations": calibration_labels,
        "profiles": sorted({p.name for p in profiles.values()}),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    plot_validation(table, out_dir / "validation.png", summary)
    return table, summary


def plot_validation(table: Any, path: Path, summary: dict[str, Any]) -> None:
    """Predicted vs measured step time (log–log, y = x and ±10 % lines), marked by algorithm."""
    import matplotlib
    import matplotlib.ticker
    from matplotlib.figure import Figure

    # a bare Figure (no pyplot): no backend switch, no global figure state in the caller's process
    fig = Figure(figsize=(6.4, 5.6))
    ax = fig.subplots()
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (algorithm, group) in enumerate(table.groupby("algorithm")):
        color = colors[i % len(colors)]
        held = group[~group["ranks_in_calibration"]]
        seen = group[group["ranks_in_calibration"]]
        ax.scatter(held["measured_step_time_s"] * 1e3, held["predicted_step_time_s"] * 1e3, color=color,
                   label=f"{algorithm}")  # fmt: skip
        if len(seen):
            ax.scatter(seen["measured_step_time_s"] * 1e3, seen["predicted_step_time_s"] * 1e3, marker="x",
                       color=color, label=f"{algorithm} (rank count also in calibration)")  # fmt: skip
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
    labels = summary["calibration_configurations"]
    links = sorted({label for label in labels if not label.startswith("compute:")})
    workers = sorted({int(label.split()[1]) for label in labels if label.startswith("compute:")})
    if links or workers:
        text = "calibrated on: " + "; ".join(links)
        if workers:
            text += f"; compute timed by N concurrent processes, N = {', '.join(map(str, workers))}"
        fig.text(0.01, 0.005, text if len(text) < 600 else text[:597] + "...", fontsize=6, wrap=True)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=110)
