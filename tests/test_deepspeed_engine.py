"""What DeepSpeed's engines do per step that other frameworks do not, priced by hand.

- ``training.gradient_accumulation_pass``: the memory-bound pass that adds each micro-batch's gradients into
  the gradients kept across the step (PyTorch's ``AccumulateGrad`` into ``param.grad`` under DeepSpeed's fp16
  ZeRO-0/1; DeepSpeed ``BF16_Optimizer.update_hp_grads`` into its fp32 buffer).
- ``training.zero1_gradient_allreduce``: DeepSpeed ZeRO-1 (0.4.4-0.12) and the bf16 pipeline path reduce the
  gradients with a full all-reduce, not a reduce-scatter.
- ``training.zero3_gradient_allreduce``: DeepSpeed ZeRO-3 before 0.4.3 without ``contiguous_gradients`` (its default
  then) all-reduces each gradient bucket, waited for by the next module's fetch: in series with the backward.
"""

from __future__ import annotations

import pytest

from dpsim import api
from dpsim.errors import ScenarioError
from dpsim.scenario import load_scenario

# GPT-2 XL (48 layers, d 1600, vocabulary 50,257, 1,024 positions, tied embeddings): 48·(12·1600² + 13·1600)
# + 50,257·1600 + 1,024·1600 + 2·1600 = 1,557,611,200 parameters, all on each of the 8 data-parallel ranks.
PSI = 1_557_611_200
# the catalog's A100 80GB: 2,039 GB/s, memory-bound kernels at 0.83 of it, sustained 0.81 in a training step
RATE = 2.039e12 * 0.83 * 0.81
K = 4  # global batch 64 = 8 ranks x micro-batch 2 x 4 micro-batches

_BASE = [
    "model.preset=gpt2-xl",
    "cluster.nodes=1",
    "cluster.workers_per_node=8",
    "cluster.device=a100-80gb",
    "training.global_batch=64",
    "training.micro_batch=2",
    "training.zero_stage=1",
]


def _run(*overrides: str, engine: str = "analytic"):  # type: ignore[no-untyped-def]
    return api.run(load_scenario(None, [*_BASE, *overrides]), engine=engine)


@pytest.mark.parametrize(
    ("mode", "step_bytes"),
    [
        # autograd: grad += new on micro-batches 2..k, reading both 2-byte gradients and writing one
        ("autograd", 3 * 2 * (K - 1) * PSI),
        # BF16_Optimizer: every micro-batch casts (read 2, write 4) and adds into fp32 (read 4 + 4, write 4)
        ("fp32_copy", 18 * K * PSI),
    ],
)
def test_gradient_accumulation_pass_by_hand(mode: str, step_bytes: float) -> None:
    before = _run()
    after = _run(f"training.gradient_accumulation_pass={mode}")
    assert after.compute_s - before.compute_s == pytest.approx(step_bytes / RATE, rel=1e-9)
    assert after.extra["backward_s"] - before.extra["backward_s"] == pytest.approx(step_bytes / K / RATE, rel=1e-9)
    assert after.extra["forward_s"] == before.extra["forward_s"]
    # the simulator reads the same micro-batch times: its step grows alike
    sim = _run(f"training.gradient_accumulation_pass={mode}", engine="sim")
    assert sim.step_time_s == pytest.approx(after.step_time_s, rel=1e-9)


def test_one_micro_batch_accumulates_nothing_under_autograd() -> None:
    # k = 1: the first micro-batch's gradients are assigned, not added (AccumulateGrad steals the tensor)
    one = ("training.global_batch=16",)
    assert _run(*one, "training.gradient_accumulation_pass=autograd").step_time_s == _run(*one).step_time_s


def test_pipeline_stage_pays_for_its_own_parameters() -> None:
    # GPT-3 175B at TP 8 / PP 8: each stage's pass moves its own parameters; the slowest stage (the last, with
    # the logits) sets the slot, so the slot grows by the last stage's pass (stage_parameters: its 12 layers
    # and the tied output embedding, over 8 TP ranks)
    from test_parallel import _gpt3  # pytest puts tests/ on the path

    from dpsim.analytic.memory import stage_parameters

    plain, passed = _gpt3(), _gpt3("training.gradient_accumulation_pass=autograd")
    k = passed.accumulation_steps
    layer = 12 * 12288**2 + 13 * 12288
    last = (12 * layer + 50257 * 12288) / 8  # 12 layers + the output embedding (GPT-2 BPE, unpadded)
    assert stage_parameters(passed)[-1] == pytest.approx(last, rel=1e-3)
    grown = api.run(passed).extra["backward_s"] - api.run(plain).extra["backward_s"]
    assert grown == pytest.approx(stage_parameters(passed)[-1] * 6 * (k - 1) / k / RATE, rel=1e-9)


def test_zero1_all_reduce_moves_twice_the_reduce_scatter() -> None:
    # One 3,115,222,400-byte bucket (GPT-2 XL in bf16, under a 2e9-element reduce bucket) over 8 ranks on NVLink
    # (300 GB/s at 0.8, 1 us), ring:
    # reduce-scatter 7 α + 7/8 S/B, all-reduce 14 α + 2 · 7/8 S/B (nccl-tests' equal bus bandwidth)
    one = ("training.deepspeed_reduce_bucket_size=2000000000", "communication.algorithm=ring")
    scatter = _run(*one)
    reduced = _run(*one, "training.zero1_gradient_allreduce=true")
    size, bandwidth = 2 * PSI, 300e9 * 0.8
    assert scatter.extra["collective_op"] == "reduce_scatter" and reduced.extra["collective_op"] == "allreduce"
    assert scatter.extra["gradient_comm_s"] == pytest.approx(7e-6 + 7 / 8 * size / bandwidth, rel=5e-3)
    assert reduced.extra["gradient_comm_s"] == pytest.approx(14e-6 + 2 * 7 / 8 * size / bandwidth, rel=5e-3)
    # the payload is the gradient either way; the post-step all-gather of the parameters stays
    assert reduced.extra["traffic_bytes_per_step"] == scatter.extra["traffic_bytes_per_step"]
    assert reduced.extra["zero_param_gather_s"] == scatter.extra["zero_param_gather_s"]
    grown = reduced.extra["gradient_comm_s"] - scatter.extra["gradient_comm_s"]
    assert reduced.step_time_s - scatter.step_time_s == pytest.approx(grown, rel=1e-9)  # after the backward
    sim = _run(*one, "training.zero1_gradient_allreduce=true", engine="sim")
    assert sim.step_time_s == pytest.approx(reduced.step_time_s, rel=1e-9)


def test_zero3_pre_043_all_reduces_in_series_with_the_backward() -> None:
    # ZeRO-3, one micro-batch (global batch 16 = 8 ranks x 2), one 3,115,222,400-byte IPG bucket (a 2e9-element
    # reduce bucket) over 8 ranks on NVLink (300 GB/s at 0.8, 1 us), ring: reduce-scatter 7 α + 7/8 S/B,
    # DeepSpeed 0.3.13's buffered_reduce_fallback all-reduce 14 α + 2 · 7/8 S/B
    one = (
        "training.zero_stage=3",
        "training.global_batch=16",
        "training.deepspeed_reduce_bucket_size=2000000000",
        "communication.algorithm=ring",
    )
    scatter = _run(*one)
    serial = _run(*one, "training.deepspeed_overlap_comm=false")  # the reduce-scatter in series
    reduced = _run(*one, "training.zero3_gradient_allreduce=true")
    size, bandwidth = 2 * PSI, 300e9 * 0.8
    assert scatter.extra["collective_op"] == "reduce_scatter" and reduced.extra["collective_op"] == "allreduce"
    assert scatter.extra["gradient_comm_s"] == pytest.approx(7e-6 + 7 / 8 * size / bandwidth, rel=5e-3)
    assert reduced.extra["gradient_comm_s"] == pytest.approx(14e-6 + 2 * 7 / 8 * size / bandwidth, rel=5e-3)
    assert reduced.extra["traffic_bytes_per_step"] == scatter.extra["traffic_bytes_per_step"]  # the payload
    # every module's fetch waits for the all-reduce (torch.cuda.synchronize): in series with the backward, as a
    # reduce-scatter without overlap_comm, longer by the difference of the two collectives
    grown = reduced.extra["gradient_comm_s"] - scatter.extra["gradient_comm_s"]
    assert reduced.step_time_s - serial.step_time_s == pytest.approx(grown, rel=1e-6)
    sim = _run(*one, "training.zero3_gradient_allreduce=true", engine="sim")
    assert sim.step_time_s == pytest.approx(reduced.step_time_s, rel=1e-9)
    # with DeepSpeed's 5e8-element bucket (4 buckets) the overlapped reduce-scatters hide behind the backward; the
    # all-reduces do not: the step is the serial reduce-scatter's plus the difference of the collectives
    four = one[:2] + one[3:]
    scatter, serial = _run(*four), _run(*four, "training.deepspeed_overlap_comm=false")
    reduced = _run(*four, "training.zero3_gradient_allreduce=true")
    assert reduced.extra["buckets"] == serial.extra["buckets"] == 4
    assert serial.step_time_s - scatter.step_time_s > 0.5 * serial.extra["gradient_comm_s"]
    grown = reduced.extra["gradient_comm_s"] - serial.extra["gradient_comm_s"]
    assert reduced.step_time_s - serial.step_time_s == pytest.approx(grown, rel=1e-6)
    assert _run(*four, "training.zero3_gradient_allreduce=true", engine="sim").step_time_s == pytest.approx(
        reduced.step_time_s, rel=1e-9
    )


def test_bf16_optimizer_all_reduces_its_flat_fp32_gradient_at_once() -> None:
    # DeepSpeed 0.6.5 BF16_Optimizer (fp32_copy): no IPG buckets; _bf16_reduce_grads hands the flat fp32 groups to
    # buffered_allreduce_fallback, whose allreduce_no_retain closes a bucket only past 5e8 elements, so the
    # 1,557,611,200-element weight-decay group is one all-reduce (ring over 8 ranks on NVLink: 14 α + 2 · 7/8 S/B
    # of S = 2 B x PSI in bf16), where DeepSpeed's ZeRO-1 would cut 4 IPG buckets of at most 5e8 elements
    bf16 = ("training.gradient_accumulation_pass=fp32_copy", "training.zero1_gradient_allreduce=true")
    one = (*bf16, "communication.algorithm=ring", "communication.overlap=false")
    result = _run(*one)
    assert result.extra["buckets"] == 1
    assert result.extra["gradient_comm_s"] == pytest.approx(14e-6 + 2 * 7 / 8 * 2 * PSI / (300e9 * 0.8), rel=5e-3)
    assert _run("training.zero1_gradient_allreduce=true", "communication.algorithm=ring").extra["buckets"] == 4
    assert _run(*one, engine="sim").step_time_s == pytest.approx(result.step_time_s, rel=1e-9)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (("training.gradient_accumulation_pass=fp32_copy", "training.precision=fp16"), "gradient_accumulation_pass"),
        # BF16_Optimizer runs with ZeRO off or at stage 1 only, sharded either way (engine.py
        # _do_optimizer_sanity_check): dpsim's stage 0 (DDP) priced DDP's reduction beside its fp32 gradient and
        # reduction copy, stages 2/3 its one flat all-reduce where DeepSpeed runs the ZeRO optimizer
        *[
            (
                ("training.gradient_accumulation_pass=fp32_copy", "training.precision=bf16", *other),
                "gradient_accumulation_pass",
            )
            for other in (
                ("training.zero_stage=0",),
                ("training.zero_stage=2",),
                ("training.zero_stage=3",),
                ("training.optimizer_sharding=megatron",),
                ("training.optimizer_sharding=torch",),
            )
        ],
        (("training.gradient_accumulation_pass=fused",), "gradient_accumulation_pass"),
        (("training.zero1_gradient_allreduce=true", "training.zero_stage=2"), "zero1_gradient_allreduce"),
        (("training.zero1_gradient_allreduce=true", "training.optimizer_sharding=megatron"), "zero1_gradient"),
        (("training.zero1_gradient_allreduce=true", "training.zero_stage=0"), "zero1_gradient_allreduce"),
        (("training.zero3_gradient_allreduce=true",), "zero3_gradient_allreduce"),  # stage 1
        (("training.zero3_gradient_allreduce=true", "training.zero_stage=2"), "zero3_gradient_allreduce"),
        (
            ("training.zero3_gradient_allreduce=true", "training.zero_stage=3", "training.optimizer_sharding=fsdp"),
            "zero3_gradient_allreduce",
        ),
    ],
)
def test_fields_are_validated(overrides: tuple[str, ...], field: str) -> None:
    with pytest.raises(ScenarioError, match=rf"training\.{field}"):
        load_scenario(None, [*_BASE, *overrides])
