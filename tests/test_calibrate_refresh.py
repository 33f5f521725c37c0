"""``dpsim calibrate --refresh``: the drifting parts of a profile timed again with its own settings, the links kept."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

import runtime.calibrate as rc
from dpsim.calibration import (
    ComputeCurve,
    ComputePoint,
    HardwareProfile,
    LinearTime,
    load_profile,
    save_profile,
)
from dpsim.cli import app
from dpsim.scenario import load_scenario
from runtime.torchrun import destroy_group
from tests.hostile import REFRESH_SCENARIO, refresh_base_profile


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(REFRESH_SCENARIO, encoding="utf-8")
    return path


def _base(**meta: Any) -> HardwareProfile:
    """A profile as dpsim calibrate writes one with a small plan on this host (links, host and compute parts made up,
    the settings this host and dpsim would use now; the hostile corpus's :func:`tests.hostile.refresh_base_profile`),
    ``meta`` entries replaced."""
    profile = refresh_base_profile()
    return dataclasses.replace(profile, meta={**profile.meta, **meta})


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every measurement of a refresh replaced by a known value; what each was asked recorded."""
    seen: dict[str, Any] = {}
    curve = ComputeCurve((ComputePoint(64, 4, 1, 3e-5, 6e-5),))

    def compute_curve(plan: rc.CalibrationPlan, **_: Any) -> ComputeCurve:
        seen["curve"] = (tuple(plan.curve_hiddens), tuple(plan.curve_micro_batches), plan.curve_layers)
        return curve

    def compute(scenario: Any, micro: Any, reps: int, warmup: int) -> tuple[LinearTime, LinearTime]:
        seen["model"] = (tuple(micro), reps, warmup)
        return LinearTime(3e-4, 3e-5), LinearTime(6e-4, 6e-5)

    def optimizer_fit(scenario: Any, **kwargs: Any) -> tuple[LinearTime, float]:
        seen["optimizer"] = (kwargs["cold_bytes"], kwargs["page_fault_s"])
        return LinearTime(2e-4, 7e-9), 0.02

    def sweeps(plan: rc.CalibrationPlan, **_: Any) -> tuple[dict[int, float], ...]:
        seen["host"] = tuple(plan.host_processes)
        return {1: 1.0, 2: 1.4}, {1: 1.0, 2: 1.5}, {1: 1.0, 2: 1.25}, {1: 1.0, 2: 1.35}

    monkeypatch.setattr(rc, "calibrate_compute_curve", compute_curve)
    monkeypatch.setattr(rc, "measure_compute", compute)
    monkeypatch.setattr(rc, "fresh_optimizer_fit", optimizer_fit)
    monkeypatch.setattr(rc, "measure_optimizer_curve", lambda *a, **k: ((64, 8e-9),))
    monkeypatch.setattr(rc, "measure_page_fault", lambda: 3e-6)
    monkeypatch.setattr(rc, "_host_sweeps", sweeps)

    def step_overhead(scenario: Any, micro: Any) -> rc.StepOverhead:
        seen["step_overhead"] = tuple(micro)
        return rc.StepOverhead(4e-4, 4e-4, 3e-3, 1e-4, {1: 4e-4, 2: 5e-4}, 18)

    monkeypatch.setattr(rc, "measure_step_overhead", step_overhead)
    monkeypatch.setattr("runtime.pace.reference_kernel_s", lambda: 1e-3)  # a steady host (tests/test_pace.py)
    return seen


def test_a_refresh_times_the_compute_and_optimizer_again_with_the_bases_settings_and_keeps_the_rest(
    tmp_path: Path, stubbed: dict[str, Any]
) -> None:
    base = _base()
    new = rc.refresh(base, load_scenario(_scenario(tmp_path)), work_dir=tmp_path, log=lambda m: None, base="b.yaml")
    assert stubbed["curve"] == ((64,), (4,), 1)
    assert stubbed["model"] == ((1, 2), 5, 1)
    assert stubbed["optimizer"] == (base.meta["optimizer_cold_bytes"], 3e-6)
    assert "host" not in stubbed  # not asked: the host sweep is a ratio to its own lone process
    assert new.compute_curve is not None and new.compute_curve.points[0].backward_s == 6e-5
    assert new.forward == LinearTime(3e-4, 3e-5) and new.backward == LinearTime(6e-4, 6e-5)
    assert new.optimizer == LinearTime(2e-4, 7e-9) and new.optimizer_curve == ((64, 8e-9),)
    assert new.meta["fit_residuals"]["optimizer"] == 0.02
    assert new.links == base.links and new.calibrated_on == base.calibrated_on
    assert base.host_model is not None and new.host_model is not None
    assert new.host_model == dataclasses.replace(base.host_model, page_fault_s=3e-6)
    (record,) = new.meta["refreshes"]
    assert record["parts"] == ["compute", "optimizer"] and record["base"] == "b.yaml"
    assert record["base_name"] == "base" and record["started_utc"].endswith("Z")
    again = rc.refresh(new, load_scenario(_scenario(tmp_path)), ("compute",), work_dir=tmp_path, log=lambda m: None)
    assert [r["parts"] for r in again.meta["refreshes"]] == [["compute", "optimizer"], ["compute"]]
    assert again.optimizer == new.optimizer


def test_a_refresh_of_the_compute_times_the_step_overhead_again_where_the_base_measured_it(
    tmp_path: Path, stubbed: dict[str, Any]
) -> None:
    """A base that measured the per-step cost (``compute.step_overhead``) gets it timed again with the model's fit,
    its meta record replaced; a base without it (measured before it was) stays without."""
    base = _base()
    assert base.step_overhead_s is None
    plain = rc.refresh(base, load_scenario(_scenario(tmp_path)), ("compute",), work_dir=tmp_path, log=lambda m: None)
    assert plain.step_overhead_s is None and "step_overhead" not in stubbed
    measured = dataclasses.replace(base, step_overhead_s=2e-3, meta={**base.meta, "step_overhead": {"pairs": 1}})
    new = rc.refresh(measured, load_scenario(_scenario(tmp_path)), ("compute",), work_dir=tmp_path,
                     log=lambda m: None)  # fmt: skip
    assert stubbed["step_overhead"] == (1, 2)
    assert new.step_overhead_s == 4e-4 and new.meta["step_overhead"]["pairs"] == 18


def test_a_refresh_brackets_its_parts_and_its_probes_replace_the_bases_of_those_parts(
    tmp_path: Path, stubbed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop 54 (issue 10): a refresh times the reference kernel around the parts it times (compute: the curve and the
    model's fit; optimizer), and those probes replace the base's of the same parts in meta.reference_pace, stamped
    in seconds since the base's calibration started; the base's links probes stay. The CLI refuses a refreshed part
    whose pace moved beyond --max-residual, the profile written."""
    from runtime.pace import REFERENCE_KERNEL

    def probe(part: str, at: str, t_s: float, kernel_s: float) -> dict[str, Any]:
        return {"part": part, "attempt": 1, "at": at, "t_s": t_s, "kernel_s": kernel_s}

    series = {"kernel": REFERENCE_KERNEL, "started_utc": "2026-12-07T21:20:17Z",
              "probes": [probe("links", "before", 0.0, 2e-3), probe("links", "after", 300.0, 2e-3),
                         probe("compute", "before", 300.5, 2e-3), probe("compute", "after", 360.0, 2e-3)]}  # fmt: skip
    base = _base(reference_pace=series)
    new = rc.refresh(base, load_scenario(_scenario(tmp_path)), work_dir=tmp_path, log=lambda m: None)
    probes = new.meta["reference_pace"]["probes"]
    assert [(p["part"], p["at"]) for p in probes] == [("links", "before"), ("links", "after"), ("compute", "before"),
                                                      ("compute", "after"), ("model", "before"), ("model", "after"),
                                                      ("optimizer", "before"), ("optimizer", "after")]  # fmt: skip
    assert probes[:2] == series["probes"][:2] and all(p["kernel_s"] == 1e-3 for p in probes[2:])
    assert all(p["t_s"] > 3600 for p in probes[2:])  # the refresh ran hours after the base's calibration began
    assert new.meta["reference_pace"]["started_utc"] == series["started_utc"]
    paces = iter([1e-3, 1e-3, 1e-3, 1.2e-3, 1e-3, 1e-3])  # the model's fit: 20 % apart
    monkeypatch.setattr("runtime.pace.reference_kernel_s", lambda: next(paces))
    based, out = tmp_path / "base.yaml", tmp_path / "new.yaml"
    save_profile(base, based)
    result = CliRunner().invoke(app, ["calibrate", str(_scenario(tmp_path)), "--refresh", str(based), "--out",
                                      str(out)])  # fmt: skip
    assert result.exit_code == 2 and out.is_file()
    assert "refreshed fits (or host pace) above 5 %: pace.model 20.0 % (the profile was written" in result.output


def test_a_refresh_of_the_host_refits_its_sweeps_and_keeps_the_links_and_page_fault(
    tmp_path: Path, stubbed: dict[str, Any]
) -> None:
    base = _base()
    new = rc.refresh(base, load_scenario(_scenario(tmp_path)), ("host",), work_dir=tmp_path, log=lambda m: None)
    assert stubbed["host"] == (1, 2) and "curve" not in stubbed and "optimizer" not in stubbed
    assert new.host_model is not None and base.host_model is not None
    assert dict(new.host_model.measured) == {1: 1.0, 2: 1.4}
    assert dict(new.host_model.optimizer_measured_slowest) == {1: 1.0, 2: 1.35}
    assert new.host_model.page_fault_s == base.host_model.page_fault_s  # the optimizer part's, not re-timed
    assert new.host_model.comm_cpu_per_byte_s == 1e-9
    assert new.links == base.links and new.optimizer == base.optimizer and new.compute_curve == base.compute_curve


@pytest.mark.parametrize(
    ("meta", "field"),
    [
        ({"curve_rounds": 3}, "meta.curve_rounds"),
        ({"optimizer_idle_s": 0.0}, "meta.optimizer_idle_s"),
        ({"optimizer_cold_bytes": 1 << 20}, "meta.optimizer_cold_bytes"),
        ({"torch_version": "2.0.0"}, "meta.torch_version"),
        ({"cores": 64}, "meta.cores"),
        ({"model": "mlp 1 parameters"}, "meta.model"),
        ({"optimizer_name": "sgd"}, "meta.optimizer_name"),
        ({"plan": None}, "meta.plan"),
        (
            {
                "plan": {
                    "curve_hiddens": [128],
                    "curve_micro_batches": [4],
                    "curve_layers": 1,
                    "host_processes": [1, 2],
                    "micro_batches": [1, 2],
                }
            },
            "calibrated_on",
        ),
        (
            {
                "plan": {
                    "curve_hiddens": [64],
                    "curve_micro_batches": [4],
                    "curve_layers": 1,
                    "host_processes": [1, 2],
                    "micro_batches": [1, 4],
                }
            },
            "calibrated_on",
        ),
    ],
)
def test_a_base_made_with_other_settings_is_refused_naming_the_field(
    tmp_path: Path, meta: dict[str, Any], field: str
) -> None:
    problem = rc.refresh_problem(_base(**meta), load_scenario(_scenario(tmp_path)))
    assert problem is not None and problem.startswith(field) and "\n" not in problem


def test_the_host_rounds_matter_only_when_the_host_is_refreshed(tmp_path: Path) -> None:
    base, scenario = _base(host_rounds=1), load_scenario(_scenario(tmp_path))
    assert rc.refresh_problem(base, scenario) is None
    problem = rc.refresh_problem(base, scenario, ("compute", "host"))
    assert problem is not None and problem.startswith("meta.host_rounds")
    assert rc.refresh_problem(_base(), scenario, rc.REFRESH_PARTS) is None


def test_a_profile_without_compute_parts_is_refused(tmp_path: Path) -> None:
    bare = dataclasses.replace(_base(), host_model=None)
    problem = rc.refresh_problem(bare, load_scenario(_scenario(tmp_path)))
    assert problem is not None and problem.startswith("--refresh:")


def test_a_stored_profile_of_before_stop_51_reads_its_model_micro_batches_from_its_label() -> None:
    stored = load_profile(Path("benchmarks/results/validation-2026-12-07-e/all/profile.yaml"))
    plan = rc.refresh_plan(stored)
    assert isinstance(plan, rc.CalibrationPlan)
    assert tuple(plan.micro_batches) == (1, 2, 4) and tuple(plan.curve_hiddens) == (256, 512, 1024, 2048)
    assert tuple(plan.curve_micro_batches) == (4, 16, 64, 256) and tuple(plan.host_processes) == (1, 2, 3, 4, 6, 8)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--ranks", "2,3"], "--ranks"),
        (["--testbed", "emulated"], "--testbed"),
        (["--records", "r.json"], "--records"),
        (["--refresh-parts", "compute,links"], "--refresh-parts"),
        (["--refresh-parts", "compute,compute"], "--refresh-parts"),
        (["--max-residual", "0"], "--max-residual"),
    ],
)
def test_cli_refresh_bad_options_are_one_line_exit_2_and_write_nothing(
    tmp_path: Path, extra: list[str], field: str
) -> None:
    base, out = tmp_path / "base.yaml", tmp_path / "new.yaml"
    save_profile(_base(), base)
    result = CliRunner().invoke(app, ["calibrate", str(_scenario(tmp_path)), "--refresh", str(base), "--out",
                                      str(out), *extra])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert field in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_refresh_parts_without_a_base_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["calibrate", str(_scenario(tmp_path)), "--refresh-parts", "compute"])
    assert result.exit_code == 2 and "--refresh-parts" in result.output


def test_cli_refuses_a_base_of_other_settings_before_timing_anything(tmp_path: Path) -> None:
    base, out = tmp_path / "base.yaml", tmp_path / "new.yaml"
    save_profile(_base(curve_rounds=3), base)
    result = CliRunner().invoke(app, ["calibrate", str(_scenario(tmp_path)), "--refresh", str(base), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "meta.curve_rounds" in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.slow
def test_cli_refresh_times_the_parts_on_this_host_and_records_its_base(tmp_path: Path) -> None:
    """No stubs: the compute curve (in its own process), the model's fits and the optimizer timed here."""
    base, out = tmp_path / "base.yaml", tmp_path / "new.yaml"
    save_profile(_base(), base)
    try:
        result = CliRunner().invoke(app, ["calibrate", str(_scenario(tmp_path)), "--refresh", str(base), "--out",
                                          str(out), "--max-residual", "10"])  # fmt: skip
    finally:  # the model was timed wrapped in DDP in a one-rank group of this process (as dpsim calibrate does)
        if torch.distributed.is_initialized():
            destroy_group()
    assert result.exit_code == 0, result.output
    old, new = load_profile(base), load_profile(out)
    assert new.links == old.links and new.host_model is not None and old.host_model is not None
    assert new.host_model.measured == old.host_model.measured
    assert new.compute_curve is not None and old.compute_curve is not None
    assert new.compute_curve.points[0].forward_s != old.compute_curve.points[0].forward_s
    assert new.optimizer != old.optimizer and new.forward != old.forward
    (record,) = new.meta["refreshes"]
    assert record["base"] == "base.yaml" and len(record["base_sha256"]) == 16 and record["seconds"] > 0
    assert str(tmp_path) not in out.read_text(encoding="utf-8")  # the base named without a machine path


def test_cli_refresh_names_the_base_relative_to_the_working_directory_else_by_its_file_name(
    tmp_path: Path, stubbed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cal").mkdir()
    (tmp_path / "elsewhere").mkdir()
    base, out = tmp_path / "cal" / "base.yaml", tmp_path / "new.yaml"
    save_profile(_base(), base)
    scenario = _scenario(tmp_path)
    for cwd, given, named in ((tmp_path, "cal/base.yaml", "cal/base.yaml"),
                              (tmp_path / "elsewhere", str(base), "base.yaml")):  # fmt: skip
        monkeypatch.chdir(cwd)
        out.unlink(missing_ok=True)
        result = CliRunner().invoke(app, ["calibrate", str(scenario), "--refresh", given, "--out", str(out)])
        assert result.exit_code == 0, result.output
        (record,) = load_profile(out).meta["refreshes"]
        assert record["base"] == named
        assert "compute curve: x3.000 of the base's (median over 1 points, 3.000-3.000)" in result.output
        assert "optimizer fit at 8320 parameters: " in result.output and "(x" in result.output
        assert str(tmp_path) not in out.read_text(encoding="utf-8")


def test_a_refresh_without_a_work_folder_leaves_no_temporary_folder(
    tmp_path: Path, stubbed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rc.tempfile, "tempdir", str(tmp_path))
    rc.refresh(_base(), load_scenario(_scenario(tmp_path)), log=lambda m: None)
    assert not list(tmp_path.glob("dpsim-refresh-*"))


@pytest.mark.parametrize(
    ("plan", "label", "field"),
    [
        ({"reps": 0}, None, "meta.plan.reps"),
        ({"reps": 10**9}, None, "meta.plan.reps"),
        ({"warmup": -1}, None, "meta.plan.warmup"),
        ({"micro_batches": [1, 2.5]}, None, "meta.plan.micro_batches"),
        ({"curve_hiddens": [True]}, None, "meta.plan.curve_hiddens"),
        ({"curve_micro_batches": [0]}, None, "meta.plan.curve_micro_batches"),
        ({"host_processes": ["2"]}, None, "meta.plan.host_processes"),
        ({"curve_layers": 1.5}, None, "meta.plan.curve_layers"),
        ({"micro_batches": None}, "micro-batches 1,²", None),
        ({"micro_batches": None}, "micro-batches " + "9" * 5000, None),
    ],
)
def test_a_doctored_plan_is_refused_naming_its_setting_before_anything_is_timed(
    tmp_path: Path, plan: dict[str, Any], label: str | None, field: str | None
) -> None:
    """Round 33 (hostile): ``meta.plan``'s settings are what a refresh times with, read with ``int()``: 2.5 became 2 and
    ``true`` 1 silently, 0 repetitions took the median of nothing (a ``StatisticsError`` traceback once the curve was
    timed), 10^9 ran for ever, and a stop-50 label's ``²`` passed ``str.isdigit`` and failed ``int`` (a ``ValueError``
    traceback; 5,000 digits likewise). Each is one line naming the setting now, or (a label's stray digits) skipped
    as before: the label's micro-batches are only a fallback, and the base's own label is then checked as ever."""
    base = _base()
    recorded = {k: v for k, v in {**base.meta["plan"], **plan}.items() if v is not None}
    profile = dataclasses.replace(base, meta={**base.meta, "plan": recorded})
    if label is not None:
        labels = tuple(c for c in base.calibrated_on if not c.startswith("model: "))
        profile = dataclasses.replace(profile, calibrated_on=(*labels, f"model: mlp 1 parameters, {label}"))
    problem = rc.refresh_problem(profile, load_scenario(_scenario(tmp_path)))
    assert problem is not None and "\n" not in problem and len(problem) < 400
    assert problem.startswith(field or "calibrated_on")


def test_a_recorded_plan_past_sixteen_times_the_default_plans_work_is_refused_before_anything_is_timed(
    tmp_path: Path,
) -> None:
    """Round 35 (hostile): a refresh ran ``meta.plan`` as recorded, bounded only in its repetitions: ``warmup: 10^9``
    timed for ever, ``host_processes: [1, 2, 5000]`` started 5,000 processes, a curve of hidden 10^6 held terabytes.
    Each part is held to 16 times calibrate's default plan's work, by hand: the default curve grid is 2 layers x
    (256² + 512² + 1024² + 2048² = 5,570,560) x (4 + 16 + 64 + 256) samples, so one hidden of 9,216 (84,934,656, x15.2)
    passes and 9,728 (94,633,984, x16.99) does not; the model fit's 7 samples x (5 + 1) rounds = 42 allow 672."""
    assert rc._refresh_work_problem(rc.CalibrationPlan()) is None
    assert rc._refresh_work_problem(rc.CalibrationPlan(curve_hiddens=(9216,))) is None  # the default samples, layers
    problem = rc._refresh_work_problem(rc.CalibrationPlan(curve_hiddens=(9728,)))
    assert problem is not None and problem.startswith("meta.plan.curve_hiddens") and "17 times" in problem
    assert rc._refresh_work_problem(rc.CalibrationPlan(micro_batches=(1, 2, 4, 105))) is None  # 112 x 6 = 672
    problem = rc._refresh_work_problem(rc.CalibrationPlan(micro_batches=(1, 2, 4, 106)))  # 678: x16.1
    assert problem is not None and problem.startswith("meta.plan.micro_batches")
    problem = rc._refresh_work_problem(rc.CalibrationPlan(warmup=16))
    assert problem is not None and problem.startswith("meta.plan.warmup")
    for processes in ((1, 2, 5000), (1, 1, 2)):
        problem = rc._refresh_work_problem(rc.CalibrationPlan(host_processes=processes))
        assert problem is not None and problem.startswith("meta.plan.host_processes")
    # in a profile, before the labels are compared (neither setting is in one): refused whatever the labels say
    base = _base()
    for plan, field in (({"warmup": 10**9}, "meta.plan.warmup"), ({"host_processes": [1, 2, 5000]},
                                                                    "meta.plan.host_processes")):  # fmt: skip
        profile = dataclasses.replace(base, meta={**base.meta, "plan": {**base.meta["plan"], **plan}})
        problem = rc.refresh_problem(profile, load_scenario(_scenario(tmp_path)), ("compute", "optimizer", "host"))
        assert problem is not None and problem.startswith(field)
