"""FSDP2's copies on the compute stream (``training.gradient_accumulation_pass: fsdp2``), priced by hand.

torch ``distributed/fsdp/_fully_shard``: ``FSDPParamGroup.wait_for_unshard`` runs ``foreach_all_gather_copy_out`` on
the current stream (``split_with_sizes_copy`` of the flat all-gather output into each parameter's unsharded tensor);
``foreach_reduce`` runs ``foreach_reduce_scatter_copy_in`` (``chunk_cat`` of the unsharded gradients into the reduce
dtype's input) on the current stream before ``reduce_scatter_stream.wait_stream(current_stream)``; without a gradient
sync ``FSDPParam.to_accumulated_grad_if_needed`` casts ``.grad`` to the reduce dtype and
``accumulate_unsharded_grad_if_needed`` adds the later micro-batches' into it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import benchmarks.published_runs as RUNS
from dpsim.compute import fsdp2_bytes_per_param
from dpsim.errors import ScenarioError
from dpsim.scenario import scenario_from_dict

_TITAN = {r.name: r for r in RUNS.TORCHTITAN_RUNS}

# Llama 3.1 8B: 32 layers of 4,096 (GQA 8 of 32 heads, SwiGLU 14,336), a 128,256-token vocabulary, untied
_LAYER = 4096 * (4096 + 2 * 1024 + 4096) + 3 * 4096 * 14336 + 2 * 4096
_ROOT = 2 * 128256 * 4096  # the root unit: the embedding and the output layer (FSDP2 never reshards it)
_PSI = 32 * _LAYER + _ROOT + 4096  # + the final norm, on the root as well
_RATE = 2.4e12 * 0.83 * 0.71  # Grand Teton's 2.4 TB/s x the H100's memory efficiency x its sustained fraction


def _without(run: RUNS.PublishedRun) -> RUNS.PublishedRun:
    scenario = dict(run.scenario)
    scenario["training"] = {**scenario["training"], "gradient_accumulation_pass": "none"}
    return replace(run, scenario=scenario)


def test_full_shard_copies_by_hand() -> None:
    """torchtitan's 8B on 8 H100 (FULL_SHARD, one micro-batch): the forward's gather copies out every parameter and
    the backward's all but the root unit's, 2 + 2 bytes each (bf16); the reduce-scatter's copy-in reads the bf16
    gradient and writes fp32, 2 + 4 bytes. Ψ = 8,030,261,248; the backward grows by Ψ x those bytes over the
    memory-bound rate, on both engines (fails on the old code, which priced none of it)."""
    assert _PSI == 8_030_261_248
    run = _TITAN["torchtitan 8B FSDP on 8 H100"]
    scenario = scenario_from_dict(dict(run.scenario))
    per_param = 4.0 * (1.0 + (_PSI - _ROOT - 4096) / _PSI) + 6.0
    # dpsim's root unit holds the embedding and the output layer; the final norm's 4,096 count with the layers
    per_param_dpsim = 4.0 * (1.0 + (_PSI - _ROOT) / _PSI) + 6.0
    assert per_param_dpsim == pytest.approx(per_param, rel=1e-6)
    assert fsdp2_bytes_per_param(scenario) == pytest.approx(per_param_dpsim, rel=1e-12)
    with_copies, without = RUNS.predict_run(run)[1], RUNS.predict_run(_without(run))[1]
    grown = with_copies.extra["backward_s"] - without.extra["backward_s"]
    assert grown == pytest.approx(_PSI * per_param_dpsim / _RATE, rel=1e-9)
    for engine in ("analytic", "sim"):  # the step grows by as much (its FSDP traffic stays hidden), on both engines
        step = RUNS.predict_run(run, engine)[1].step_time_s - RUNS.predict_run(_without(run), engine)[1].step_time_s
        assert step == pytest.approx(grown, rel=1e-3)


def test_pipeline_no_sync_accumulates_in_fp32_by_hand() -> None:
    """torchtitan's 405B PP 8 1F1B rows: SHARD_GRAD_OP kept through the step (one gather, 2 + 2 bytes), 8
    micro-batches under no_sync with the fp32 reduce dtype: the first casts ``.grad`` (2 + 4), the other seven add
    it into the fp32 gradient (4 + 2 + 4), the last post-backward copies the fp32 gradient in (4 + 4): 88 bytes a
    parameter a step, 11 a micro-batch. The row's toml gathers the Float8 weights in float8: the one gather's
    copy-out reads and writes 1 byte for each linear weight (Llama 3.1 405B: 3,187,671,040 of a layer's
    3,187,703,808 elements; the embedding and output, 2 x 128,256 x 16,384 of 405,853,388,800, stay bf16)."""
    run = _TITAN["torchtitan 405B TP8 PP8 1F1B FP8 AsyncTP on 512 H100"]
    scenario = scenario_from_dict(dict(run.scenario))
    assert scenario.accumulation_steps == 8 and scenario.keeps_unsharded_gradients
    assert scenario.training.fsdp_float8_all_gather
    root = 2 * 128256 * 16384 / 405_853_388_800
    layer = 2.0 - 3_187_671_040 / 3_187_703_808  # a layer element's gathered bytes: 1 + its norms' share
    gathered = 2.0 * root + (1.0 - root) * layer
    assert fsdp2_bytes_per_param(scenario) == pytest.approx((2 * gathered + 6 + 7 * 10 + 8) / 8, rel=1e-12)
    bf16 = dict(run.scenario)
    bf16["training"] = {**bf16["training"], "fsdp_float8_all_gather": False}
    assert fsdp2_bytes_per_param(scenario_from_dict(bf16)) == pytest.approx((4 + 6 + 7 * 10 + 8) / 8, rel=1e-12)


def test_reduce_in_the_parameter_dtype_accumulates_in_grad() -> None:
    """With the reduce dtype the parameters' (bf16), FSDP2 keeps no separate accumulated gradient: autograd adds the
    later micro-batches into ``.grad`` (2 + 2 read, 2 written) and the copy-in reads and writes 2 bytes (bf16 gathers:
    the gather's copy-out 2 + 2)."""
    run = _TITAN["torchtitan 405B TP8 PP8 1F1B FP8 AsyncTP on 512 H100"]
    scenario = dict(run.scenario)
    scenario["communication"] = {**scenario["communication"], "dtype": "bf16"}
    scenario["training"] = {**scenario["training"], "fsdp_float8_all_gather": False}
    assert fsdp2_bytes_per_param(scenario_from_dict(scenario)) == pytest.approx((4 + 7 * 6 + 4) / 8, rel=1e-12)


def test_every_torchtitan_row_runs_fsdp2_and_no_other_row_does() -> None:
    """torchtitan runs FSDP2 (``fully_shard``) in every row; fms-fsdp and llm-foundry run FSDP1 (``fsdp_flat``)."""
    every = (
        RUNS.PUBLISHED_RUNS
        + RUNS.CALIBRATION_PAPER_RUNS
        + RUNS.H100_CALIBRATION_RUNS
        + RUNS.HELD_OUT_RUNS
        + RUNS.FOUNDRY_RUNS
        + RUNS.NEMO_2407_HELD_OUT
        + RUNS.BRIDGE_H100_HELD_OUT
        + RUNS.B200_CALIBRATION_RUNS
        + RUNS.B200_HELD_OUT
        + RUNS.TORCHTITAN_RUNS
        + RUNS.SCALING_RUNS
    )
    fsdp2 = {r.name for r in every if r.scenario["training"].get("gradient_accumulation_pass") == "fsdp2"}
    assert fsdp2 == set(_TITAN)


def test_fsdp2_needs_fsdp() -> None:
    scenario = dict(_TITAN["torchtitan 8B FSDP on 8 H100"].scenario)
    scenario["training"] = {**scenario["training"], "optimizer_sharding": "zero"}
    with pytest.raises(ScenarioError, match=r"training\.gradient_accumulation_pass.*fsdp2.*optimizer_sharding: fsdp"):
        scenario_from_dict(scenario)
