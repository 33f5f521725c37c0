"""The runtime's bf16/fp16 is torch.autocast over fp32 parameters: its records say so (``extra.autocast``) and
what is predicted for them (``memory_predicted_bytes``, ``dpsim validate``) prices that program."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("torch")

from dpsim.analytic.memory import memory_breakdown
from dpsim.scenario import Scenario, scenario_from_dict
from runtime.measure import StepTiming, aggregate, as_run, ran_autocast, ran_ddp, ran_fields
from runtime.precision import check_precision

SCENARIO = """\
name: tiny
model: {kind: mlp, layers: 2, hidden: 32, parameters: 2112, flops_per_sample: 12672}
cluster:
  nodes: 2
  device: {peak_flops: 1 TFLOP/s, memory: 1 GB}
training: {global_batch: 16, micro_batch: 2, optimizer: sgd, precision: bf16}
"""


def _scenario(**training: object) -> Scenario:
    import yaml

    data = yaml.safe_load(SCENARIO)
    data["training"].update(training)
    return scenario_from_dict(data, "<test>")


def test_precision_as_run_is_autocast_where_dpsim_defines_it() -> None:
    bf16 = _scenario()
    assert not bf16.training.autocast  # the default: Megatron-style bf16 weights, fp32 master weights
    ran = check_precision(bf16, "cpu")
    assert ran.autocast  # the runtime runs torch.autocast over fp32 parameters
    assert as_run(bf16, ran.autocast).training.autocast
    assert as_run(bf16, False) is bf16
    fp32 = _scenario(precision="fp32")
    assert not check_precision(fp32, "cpu").autocast and as_run(fp32, True) is fp32
    fsdp = _scenario(zero_stage=2, optimizer_sharding="fsdp")  # FSDP's MixedPrecisionPolicy: priced without autocast
    assert as_run(fsdp, True) is fsdp


def test_precision_the_record_says_autocast_and_predicts_its_memory() -> None:
    # a bf16 scenario with the default autocast: false, run by the runtime (autocast over fp32 parameters): the
    # record's extra.autocast is true and memory_predicted_bytes is the autocast scenario's (fp32 parameters and
    # gradients, 4 + 4 bytes a parameter, against 2 + 2 and fp32 master weights).
    scenario = _scenario()
    ran = check_precision(scenario, "cpu")
    meta = {"precision": ran.label, "autocast": as_run(scenario, ran.autocast).training.autocast}
    timings = {r: [StepTiming(s, r, 0.1, 0.03, 0.05, 0.0, 0.02) for s in range(3)] for r in range(2)}
    result = aggregate(scenario, timings, warmup_steps=1, meta=meta)
    assert result.extra["autocast"] is True and ran_autocast(result)
    autocast = _scenario(autocast=True)
    assert result.extra["memory_predicted_bytes"] == memory_breakdown(autocast).total
    assert memory_breakdown(autocast).total != memory_breakdown(scenario).total
    # records written before the field: read from the precision label
    old = dataclasses.replace(result, extra={"precision": "bf16 autocast"})
    assert ran_autocast(old)
    assert not ran_autocast(dataclasses.replace(result, extra={"precision": "fp32"}))
    fp8 = "fp8 (Transformer Engine) + bf16 autocast"
    assert not ran_autocast(dataclasses.replace(result, extra={"precision": fp8}))


def test_precision_validate_predicts_the_program_the_runtime_ran(tmp_path: Path) -> None:
    from dpsim import api
    from dpsim.calibration import HardwareProfile, save_profile
    from dpsim.scenario import CalibrationRef
    from runtime.validate import build_cases, validate

    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    cases = build_cases(path, ["communication.algorithm=ring"], [[]])
    save_profile(HardwareProfile(name="stand-in", reduction_bandwidth=1e9), tmp_path / "profile.yaml")

    def measure(index: int, case: object, repeat: int) -> object:
        result = api.run(cases[index].scenario, engine="analytic")
        return dataclasses.replace(result, engine="runtime", extra={"precision": "bf16 autocast", "autocast": True})

    table, _ = validate(cases, tmp_path / "out", profile=tmp_path / "profile.yaml", measure=measure,
                        log=lambda line: None)  # type: ignore[arg-type]  # fmt: skip

    def predicted(autocast: bool) -> float:
        s = _scenario(autocast=autocast).model_copy(deep=True)
        s.communication.algorithm = "ring"
        s.calibration = CalibrationRef(profile=str(tmp_path / "profile.yaml"))
        return api.run(s, engine="analytic").step_time_s

    # fp32 gradients all-reduced under autocast: the two programs differ, and validate priced the one that ran
    assert predicted(True) != pytest.approx(predicted(False), rel=1e-3)
    assert float(table["predicted_step_time_s"].iloc[0]) == pytest.approx(predicted(True), rel=1e-12)


# DDP at one rank (training.ddp_at_one_rank): the runtime wraps every zero_stage 0 / ZeRO-1 model in DDP, one rank
# included, so a one-rank record says so and is priced with DDP's bucket copy and its passes.


def _one_rank(**training: object) -> Scenario:
    import yaml

    data = yaml.safe_load(SCENARIO.replace("nodes: 2", "nodes: 1"))
    data["training"].update({"precision": "fp32", **training})
    return scenario_from_dict(data, "<test>")


def test_one_rank_as_run_is_ddp_where_the_runtime_wraps_it() -> None:
    one = _one_rank()
    assert one.data_parallel == 1 and not one.training.ddp_at_one_rank
    assert as_run(one, False).training.ddp_at_one_rank
    assert as_run(one, False, ran_ddp=False) is one
    two = _scenario(precision="fp32")
    assert two.data_parallel == 2 and as_run(two, False) is two  # with data parallelism DDP runs anyway
    fsdp = _one_rank(zero_stage=2, optimizer_sharding="fsdp")
    assert as_run(fsdp, False) is fsdp  # FSDP: no DDP reducer
    # the record: extra.ddp_at_one_rank true, memory predicted with the buckets' fp32 copy (4 bytes a parameter)
    meta = ran_fields(one, False, "backend")
    assert meta == {"autocast": False, "ddp_at_one_rank": True, "comm_hook": "none"}
    timings = {0: [StepTiming(s, 0, 0.1, 0.03, 0.05, 0.0, 0.02) for s in range(3)]}
    result = aggregate(one, timings, warmup_steps=1, meta=meta)
    assert result.extra["ddp_at_one_rank"] is True and ran_ddp(result)
    wrapped = memory_breakdown(as_run(one, False))
    assert result.extra["memory_predicted_bytes"] == wrapped.total
    assert wrapped.total - memory_breakdown(one).total == pytest.approx(4 * one.model.num_parameters, rel=1e-12)
    # records written before the field: the runtime wrapped one rank in DDP then too
    assert ran_ddp(dataclasses.replace(result, extra={"precision": "fp32"}))
    assert not ran_ddp(dataclasses.replace(result, extra={"ddp_at_one_rank": False}))


def test_one_rank_validate_predicts_ddp(tmp_path: Path) -> None:
    from dpsim import api
    from dpsim.calibration import HardwareProfile, save_profile
    from dpsim.scenario import CalibrationRef
    from runtime.validate import build_cases, validate

    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("nodes: 2", "nodes: 1").replace("precision: bf16", "precision: fp32"))
    cases = build_cases(path, ["communication.algorithm=backend"], [[]])
    assert cases[0].scenario.data_parallel == 1
    save_profile(HardwareProfile(name="stand-in", reduction_bandwidth=1e9), tmp_path / "profile.yaml")

    def measure(index: int, case: object, repeat: int) -> object:  # a record written before extra.ddp_at_one_rank
        return dataclasses.replace(api.run(cases[index].scenario, engine="analytic"), engine="runtime", extra={})

    table, _ = validate(cases, tmp_path / "out", profile=tmp_path / "profile.yaml", measure=measure,
                        log=lambda line: None)  # type: ignore[arg-type]  # fmt: skip

    def predicted(ddp: bool) -> float:
        s = cases[0].scenario.model_copy(deep=True)
        s.training.ddp_at_one_rank = ddp
        s.calibration = CalibrationRef(profile=str(tmp_path / "profile.yaml"))
        return api.run(s, engine="analytic").step_time_s

    # the reducer's two passes over the fp32 gradients (into the buckets, back) are priced for the one-rank case
    assert predicted(True) > predicted(False)
    assert float(table["predicted_step_time_s"].iloc[0]) == pytest.approx(predicted(True), rel=1e-12)
