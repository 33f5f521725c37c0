"""Megatron-LM as the SC21 paper's artifact ran it (NVIDIA/Megatron-LM de7dc40, examples/sc21): synchronous
pipeline exchanges with the scatter/gather all-gather, fill and drain through unequal stages, and the fp16
optimizer's separate passes. Every expected value is written out by hand from the framework code."""

from __future__ import annotations

import pytest
from test_parallel import (  # pytest puts tests/ on the path; NIC 5 us 25 GB/s, NVLink 1 us 300 GB/s
    _fabric,
    _gpt3,
    _inner_exchanges_lengthen_every_slot,
)

from dpsim import api
from dpsim.analytic.parallel import pipeline_blocking_p2p_time, pipeline_p2p_time
from dpsim.analytic.step import optimizer_step_bytes
from dpsim.compute import compute_times, memory_bound_seconds
from dpsim.errors import ScenarioError
from dpsim.sim.pipeline import simulate_pipeline

S, T = 50_331_648, 8
"""One b·s·h 16-bit activation of GPT-3 175B at micro-batch 1: 1·2048·12288·2 bytes; TP 8."""


def _sync(*overrides: str):  # type: ignore[no-untyped-def]
    return _gpt3("training.pipeline_p2p=synchronous", *overrides)


def test_synchronous_exchanges_by_hand() -> None:
    """p2p_communication._communicate: each exchange one batch_isend_irecv, waited, then
    torch.cuda.synchronize(); each TP rank sends S/8 over its NIC and the receiver all-gathers S over NVLink
    (gather_split_1d_tensor)."""
    send = 5e-6 + S / T / 25e9
    gather = (T - 1) * 1e-6 + (T - 1) / T * S / 300e9
    fabric = _fabric()
    # plain 1F1B, a middle stage: send_forward_recv_backward after the forward, send_backward_recv_forward
    # after the backward (one transfer each way on a full-duplex link, one gather each)
    assert pipeline_blocking_p2p_time(_sync(), fabric) == pytest.approx(2 * (send + gather))
    # two stages: both are ends, one exchange a micro-batch
    assert pipeline_blocking_p2p_time(_sync("training.pipeline_parallel=2"), fabric) == pytest.approx(send + gather)
    # interleaved, 2 chunks: after each chunk's forward/backward pair send_forward_backward_recv_forward_backward
    # sends an activation and a gradient through the NIC and gathers both received tensors
    inter = _sync("training.pipeline_schedule=interleaved", "training.virtual_stages=2")
    assert pipeline_blocking_p2p_time(inter, fabric) == pytest.approx(2 * 2 * (send + gather))
    # sequence parallelism: the tensor is already S/8 and is neither scattered nor gathered
    sp = _sync("training.sequence_parallel=true")
    assert pipeline_blocking_p2p_time(sp, fabric) == pytest.approx(2 * send)
    # the overlapped closed form has nothing left to send
    assert pipeline_p2p_time(_sync(), fabric) == 0.0 < pipeline_p2p_time(_gpt3(), fabric)
    with pytest.raises(ScenarioError, match=r"training\.pipeline_p2p"):
        _sync("training.pipeline_schedule=gpipe")


def test_synchronous_exchanges_lengthen_every_interleaved_slot_in_both_engines() -> None:
    # 8 nodes: TP 8 x PP 8, no data parallelism, m = 64, v = 2: the step is m + (p - 1)/v = 67.5 micro-batch
    # slots and each carries its exchanges; the overlapped sends they replace were exposed at fill and drain only
    shape = ("cluster.nodes=8", "training.pipeline_schedule=interleaved", "training.virtual_stages=2")
    _inner_exchanges_lengthen_every_slot(_sync(*shape), _gpt3(*shape), slots=64 + 7 / 2)


def test_fill_and_drain_run_at_each_stage_own_pace() -> None:
    # p = 4, m = 8, t_f = 1, t_b = 2, the last stage 10 % slower (the logits): plain 1F1B takes
    # 3·3 + 8·3.3 = 35.4, not (8 + 3)·3.3 = 36.3; interleaved with v = 2: 3·3/2 + 8·3.3 = 30.9
    slow = [1.0, 1.0, 1.0, 1.1]
    assert simulate_pipeline(1.0, 2.0, 4, 8, 1, "1f1b", slowdowns=slow).makespan_s == pytest.approx(35.4)
    assert simulate_pipeline(1.0, 2.0, 4, 8, 2, "interleaved", slowdowns=slow).makespan_s == pytest.approx(30.9)
    # the engines: GPT-3 175B on TP 8 x PP 8, the last of 8 stages adds the logits and the loss
    s = _sync("cluster.nodes=8", "training.activation_recomputation=full")
    stages = compute_times(s).stage_s
    assert stages[-1] == max(stages) > stages[1]
    analytic = api.run(s, engine="analytic")
    tp = (analytic.extra["tensor_parallel_comm_s"] + analytic.extra["pipeline_p2p_blocking_s"]) / 64
    assert analytic.bubble_s == pytest.approx(sum(x + tp for x in stages[:-1]), rel=1e-9)
    assert api.run(s, engine="sim").bubble_s == pytest.approx(analytic.bubble_s, rel=1e-9)


def test_megatron_fp16_optimizer_passes_by_hand() -> None:
    """Float16OptimizerWithFloat16Params.step (megatron/optimizer/optimizer.py), per parameter: main_grad.float()
    (read 2, write 4), _amp_foreach_non_finite_check_and_unscale_ (read 4, write 4), clip_grad_norm_fp32 (norm:
    read 4; scale: read 4, write 4), Adam on fp32 (read param, grad, m, v: 16; write param, m, v: 12), then
    _copy_main_params_to_model_params (read 4, write 2): 6 + 8 + 12 + 28 + 6 = 60 bytes."""
    base = ("training.precision=fp16", "training.gradient_clipping=true")
    assert optimizer_step_bytes(_gpt3(*base, "training.optimizer_copies=separate")) == 60.0
    # the fused update it replaces: 28 bytes with the 16-bit gradient read and weight written, clipping 3 x 2
    assert optimizer_step_bytes(_gpt3(*base)) == 34.0
    # bf16 with an fp32 gradient buffer: no copy (.float() of fp32 is itself), no loss scale: 12 + 28 + 6
    separate = ("training.gradient_clipping=true", "training.optimizer_copies=separate")
    bf16 = _gpt3(*separate, "training.gradient_dtype=fp32")
    assert optimizer_step_bytes(bf16) == 46.0
    # in the step: 60 bytes over each device's 175e9 / 64 parameters at the achievable bandwidth
    s = _gpt3(*base, "training.optimizer_copies=separate")
    params = s.model.num_parameters / 64
    expected = memory_bound_seconds(s.cluster.device, params * 60.0)
    assert api.run(s, engine="analytic").optimizer_s == pytest.approx(expected, rel=1e-6)
