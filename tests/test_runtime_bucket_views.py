"""A run records whether DDP's reducer held the gradients as bucket views, and a prediction of it prices that.

Without views ``Reducer::mark_variable_ready_dense`` copies each gradient into its bucket and
``finalize_bucket_dense`` copies every bucket back (``dpsim.analytic.step.ddp_bucket_copies``); with them neither.
Until 3e57ee1 the runtime built DDP with views whatever the scenario said, so a run's record, not the scenario, says
what ran: ``extra.gradient_as_bucket_view``, from the reducer's own logging data. The rank's own record is checked
against whether ``param.grad`` is a view of a bucket in ``tests/test_runtime_plain_ddp.py``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("torch")

from dpsim.analytic.memory import memory_breakdown
from dpsim.records import read_jsonl
from dpsim.scenario import Scenario, scenario_from_dict
from runtime.measure import StepTiming, aggregate, as_run, ran_bucket_views

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def _scenario(**training: object) -> Scenario:
    return scenario_from_dict(
        {
            "name": "views",
            "model": {"kind": "mlp", "layers": 2, "hidden": 32, "parameters": 2112, "flops_per_sample": 12672},
            "cluster": {"nodes": 2, "device": {"peak_flops": "1 TFLOP/s", "memory": "1 GB"}},
            "training": {"global_batch": 16, "micro_batch": 2, "optimizer": "sgd", "precision": "fp32", **training},
            "communication": {"algorithm": "backend"},
        },
        "<test>",
    )


def test_the_record_says_what_ran_and_is_priced_so() -> None:
    scenario = _scenario()  # the scenario's field: false, torch's default
    timings = {r: [StepTiming(s, r, 0.1, 0.03, 0.05, 0.0, 0.02, gradient_as_bucket_view=True) for s in range(3)]
               for r in range(2)}  # fmt: skip
    result = aggregate(scenario, timings, warmup_steps=1, meta={})
    assert result.extra["gradient_as_bucket_view"] is True and ran_bucket_views([result]) is True
    ran = as_run(scenario, False, True, ran_bucket_views([result]))
    assert ran.training.gradient_as_bucket_view
    # the memory predicted beside the measurement is the program's that ran: no bucket copy of the gradients
    assert result.extra["memory_predicted_bytes"] == memory_breakdown(ran).total < memory_breakdown(scenario).total
    # a record that does not say (FSDP, or written before the field): as the scenario says
    old = dataclasses.replace(result, extra={"precision": "fp32"})
    assert ran_bucket_views([old]) is None and as_run(scenario, False, True, None) is scenario
    fsdp = _scenario(zero_stage=2, optimizer_sharding="fsdp")
    assert as_run(fsdp, False, True, True) is fsdp  # no DDP reducer to hold views
    assert "gradient_as_bucket_view" not in aggregate(fsdp, {0: [StepTiming(1, 0, 0.1, 0.03, 0.05, 0.0, 0.02)],
                                                             1: [StepTiming(1, 1, 0.1, 0.03, 0.05, 0.0, 0.02)]},
                                                      warmup_steps=1, meta={}).extra  # fmt: skip


def test_one_function_combines_the_ranks_and_the_runs() -> None:
    """``ran_bucket_views`` combines one run's ranks (:class:`StepTiming`) and a case's runs (their
    ``extra.gradient_as_bucket_view``) alike: true only where every record that says is true, ``None`` where none
    says, a value of another type (a damaged record's ``"true"``) not counted. ``aggregate`` and ``validate`` each
    wrote this set-and-``all`` before."""
    timing = StepTiming(1, 0, 0.1, 0.03, 0.05, 0.0, 0.02)
    rank = {v: dataclasses.replace(timing, gradient_as_bucket_view=v) for v in (True, False, None)}
    assert ran_bucket_views([rank[True], rank[None], rank[True]]) is True
    assert ran_bucket_views([rank[True], rank[False]]) is False
    assert ran_bucket_views([rank[None]]) is None and ran_bucket_views([]) is None
    scenario = _scenario()
    run = aggregate(scenario, {0: [rank[True]], 1: [rank[True]]}, warmup_steps=1, meta={})
    runs = {v: dataclasses.replace(run, extra={"gradient_as_bucket_view": v}) for v in (True, False, "true")}
    assert ran_bucket_views([runs[True], runs[True]]) is True
    assert ran_bucket_views([runs[True], runs[False], dataclasses.replace(run, extra={})]) is False
    assert ran_bucket_views([runs["true"]]) is None
    mixed = aggregate(scenario, {0: [rank[True]], 1: [rank[False]]}, warmup_steps=1, meta={})
    assert mixed.extra["gradient_as_bucket_view"] is False


def test_validate_prices_the_copies_only_where_they_were_made(tmp_path: Path) -> None:
    """The ``validation`` session (f7d58b8, before 3e57ee1) ran bucket views; its stored runs say so and ``--reuse``
    prices them without DDP's copies, whatever the scenario's field (false) says; a later session's runs (no field)
    are priced as the scenario says. The old code priced copies never made in both."""
    from benchmarks.validation_sessions import validate_emulated_module
    from dpsim import api
    from dpsim.scenario import CalibrationRef
    from runtime.validate import build_cases, validate

    ve = validate_emulated_module()
    path = tmp_path / "scenario.yaml"
    path.write_text(ve.SCENARIO)
    cases = build_cases(path, [], ve.CASES[:1])
    assert not cases[0].scenario.training.gradient_as_bucket_view
    for folder, views in (("validation", True), ("validation-2026-12-05-h/all", None)):
        runs = [r for r in read_jsonl(RESULTS / folder / "runs.jsonl") if r.engine == "runtime"]
        repeats = len(runs) // len(ve.CASES)
        first = runs[:repeats]
        assert {ran_bucket_views([r]) for r in first} == {views}
        profile = RESULTS / folder / "profile.yaml"
        out = tmp_path / folder.replace("/", "-")
        table, _ = validate(cases, out, profile=profile, repeats=repeats, measure=lambda i, c, r, first=first: first[r],
                            log=lambda line: None, work_dir=out / "work")  # fmt: skip

        def predicted(views: bool, profile: Path = profile) -> float:
            s = cases[0].scenario.model_copy(deep=True)
            s.training.gradient_as_bucket_view = views
            s.calibration = CalibrationRef(profile=str(profile.resolve()))
            return api.run(s, engine="analytic").step_time_s

        assert predicted(True) < predicted(False)  # the copies are priced on this host profile
        got = float(table["predicted_analytic_step_time_s"].iloc[0])
        assert got == pytest.approx(predicted(bool(views)), rel=1e-12)


def test_the_record_says_which_optimizer_update_ran() -> None:
    """Stop 43: ``extra.optimizer_update`` is what every rank's optimizer ran (``StepTiming.optimizer_update``);
    ranks' records that predate the field (``""``) leave it out."""
    timing = StepTiming(1, 0, 0.1, 0.03, 0.05, 0.0, 0.02)
    loop = dataclasses.replace(timing, optimizer_update="for-loop")
    ran = aggregate(_scenario(), {0: [loop], 1: [dataclasses.replace(loop, rank=1)]}, warmup_steps=1, meta={})
    assert ran.extra["optimizer_update"] == "for-loop"
    old = aggregate(_scenario(), {0: [timing], 1: [dataclasses.replace(timing, rank=1)]}, warmup_steps=1, meta={})
    assert "optimizer_update" not in old.extra
