"""Memory model: ZeRO model states (Rajbhandari et al. 2020) and activations (Korthikanti et al. 2022)."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpsim.analytic.memory import (
    _torch_schedule_walk,
    activation_bytes_per_layer,
    in_flight_chunk_microbatches,
    in_flight_layers,
    in_flight_microbatches,
    memory_breakdown,
    model_state_parts,
    optimizer_bytes_per_param,
    pipeline_input_gradients,
    pipeline_stage_buffers,
    pipeline_walk_adjustment,
    recompute_working_set,
    stage_parameters,
    torch_schedule_operations,
    zero3_kept_parameters,
    zero3_recompute_regathered_parameters,
    zero3_recompute_released,
    zero_model_states,
)
from dpsim.compute import chunk_layers
from dpsim.scenario import load_scenario
from dpsim.sharding import step_traffic

# ZeRO paper §1/Fig. 1 example: 7.5B parameters, N_d = 64, mixed-precision Adam (K = 12).
# Stage 0: 16Ψ = 120 GB; stage 1: 4Ψ + 12Ψ/64 = 30 + 1.40625 = 31.40625 GB;
# stage 2: 2Ψ + 14Ψ/64 = 15 + 1.640625 = 16.640625 GB; stage 3: 16Ψ/64 = 1.875 GB.
ZERO_PAPER = {0: 120e9, 1: 31.40625e9, 2: 16.640625e9, 3: 1.875e9}


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_zero_paper_example(stage: int) -> None:
    assert zero_model_states(7.5e9, 64, stage, "adam", "bf16") == pytest.approx(ZERO_PAPER[stage], rel=1e-12)


def test_zero_paper_rounded_figures() -> None:
    # As printed in the paper's Figure 1: 120 GB, 31.4 GB, 16.6 GB, 1.9 GB.
    printed = [120.0, 31.4, 16.6, 1.9]
    for stage, gb in enumerate(printed):
        assert round(zero_model_states(7.5e9, 64, stage) / 1e9, 1) == gb


def test_optimizer_state_widths() -> None:
    assert optimizer_bytes_per_param("adam", "bf16") == 12  # ZeRO §3.1: K = 12
    assert optimizer_bytes_per_param("adamw", "fp16") == 12
    assert optimizer_bytes_per_param("momentum", "bf16") == 8  # fp32 master + momentum
    assert optimizer_bytes_per_param("sgd", "bf16") == 4  # fp32 master only
    assert optimizer_bytes_per_param("adam", "fp32") == 8  # m and v; weights are the master
    assert optimizer_bytes_per_param("sgd", "fp32") == 0
    # fp32 Adam without ZeRO: 4 (weights) + 4 (grads) + 8 (m, v) = 16 bytes/param as well.
    assert zero_model_states(1e9, 1, 0, "adam", "fp32") == pytest.approx(16e9)
    assert zero_model_states(1e9, 1, 0, "sgd", "fp32") == pytest.approx(8e9)
    with pytest.raises(ValueError):
        zero_model_states(1e9, 8, 4)


# GPT-3-size layer (Korthikanti et al. 2022, Table 2): s = 2048, b = 1, h = 12288, a = 96, t = 8.
# s·b·h = 2048·12288 = 25,165,824; 5·a·s/h = 5·96·2048/12288 = 80; /t = 10.
GPT3 = {"seq_len": 2048, "micro_batch": 1, "hidden": 12288, "heads": 96}
SBH = 2048 * 12288


def test_activations_gpt3_layer_by_hand() -> None:
    # No parallelism: sbh·(34 + 80) = 114·sbh = 2,868,903,936 bytes.
    assert activation_bytes_per_layer(**GPT3) == pytest.approx(114 * SBH)
    assert activation_bytes_per_layer(**GPT3) == pytest.approx(2_868_903_936)
    # t = 8: sbh·(10 + 24/8 + 10) = 23·sbh = 578,813,952 bytes.
    assert activation_bytes_per_layer(**GPT3, tensor_parallel=8) == pytest.approx(578_813_952)
    # t = 8 + sequence parallel: sbh·(34/8 + 10) = 14.25·sbh = 358,612,992 bytes.
    assert activation_bytes_per_layer(**GPT3, tensor_parallel=8, sequence_parallel=True) == pytest.approx(358_612_992)
    # t = 8 + selective recomputation: sbh·(10 + 3) = 13·sbh; with SP: sbh·34/8 = 106,954,752 bytes.
    assert activation_bytes_per_layer(**GPT3, tensor_parallel=8, recomputation="selective") == pytest.approx(13 * SBH)
    assert activation_bytes_per_layer(
        **GPT3, tensor_parallel=8, sequence_parallel=True, recomputation="selective"
    ) == pytest.approx(106_954_752)
    # Full recomputation: the layer input only, 2·sbh = 50,331,648 bytes.
    assert activation_bytes_per_layer(**GPT3, tensor_parallel=8, recomputation="full") == pytest.approx(2 * SBH)


def test_activation_generalisation_reduces_to_paper() -> None:
    # Explicit f = 4h and kv_heads = heads are the paper's GPT: same bytes.
    base = activation_bytes_per_layer(**GPT3, tensor_parallel=4)
    explicit = activation_bytes_per_layer(**GPT3, tensor_parallel=4, ffn_hidden=4 * 12288, kv_heads=96)
    assert explicit == pytest.approx(base)
    # Grouped-query attention stores smaller K and V: strictly less.
    assert activation_bytes_per_layer(**GPT3, kv_heads=8) < activation_bytes_per_layer(**GPT3)


def test_in_flight_microbatches() -> None:
    p, m = 8, 32
    assert [in_flight_microbatches(i, p, m, "1f1b") for i in range(p)] == [8, 7, 6, 5, 4, 3, 2, 1]
    assert in_flight_microbatches(0, p, m, "gpipe") == m
    assert in_flight_microbatches(0, 1, m, "1f1b") == 1
    assert in_flight_microbatches(0, p, 3, "1f1b") == 3  # fewer micro-batches than stages
    # Interleaved, first stage: (1 + (p−1)/(p·v))·p micro-batches of L/p layers (Korthikanti §4.2.3).
    v = 4
    assert in_flight_microbatches(0, p, m, "interleaved", v) == pytest.approx((1 + (p - 1) / (p * v)) * p)


def _scenario(*overrides: str):  # type: ignore[no-untyped-def]
    return load_scenario(None, list(overrides))


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_breakdown_model_states_match_zero_formula(stage: int) -> None:
    s = _scenario(f"training.zero_stage={stage}")
    mem = memory_breakdown(s)
    psi = s.model.num_parameters
    assert mem.model_states == pytest.approx(zero_model_states(psi, s.data_parallel, stage))
    assert mem.total == pytest.approx(mem.model_states + mem.activations + mem.buffers)
    assert mem.capacity == s.cluster.device.memory


def test_stage_parameters_sum_to_model() -> None:
    # Untied embeddings (Llama): the stages partition the parameters exactly.
    s = _scenario(
        "model.preset=llama2-7b", "training.tensor_parallel=2", "training.pipeline_parallel=4", "training.micro_batch=1"
    )
    per_device = stage_parameters(s)
    assert len(per_device) == 4
    assert sum(per_device) * 2 == pytest.approx(s.model.num_parameters)
    assert per_device[0] > per_device[1] and per_device[3] > per_device[1]  # embedding / output head


def test_oom_detected_and_located() -> None:
    # GPT-3 175B on 64 A100-80GB with TP 8 x PP 8, no recomputation: the first stage holds 8
    # micro-batches of 12 layers (96 layers' worth of activations, ~56 GB) plus ~45 GB of states.
    s = _scenario(
        "model.preset=gpt3-175b",
        "training.tensor_parallel=8",
        "training.pipeline_parallel=8",
        "training.micro_batch=1",
        "training.global_batch=64",
    )
    mem = memory_breakdown(s)
    assert mem.oom and mem.over_by > 0
    assert mem.worst_stage == 0 and mem.worst_device == 0
    assert mem.stage_totals[0] == max(mem.stage_totals)
    assert "out of memory on device 0" in mem.describe()
    # Full recomputation fits the same job.
    fixed = memory_breakdown(
        _scenario(
            "model.preset=gpt3-175b",
            "training.tensor_parallel=8",
            "training.pipeline_parallel=8",
            "training.micro_batch=1",
            "training.global_batch=64",
            "training.activation_recomputation=full",
        )
    )
    assert not fixed.oom and fixed.headroom > 0


def test_worst_device_rank_layout() -> None:
    # Rank of stage k's first device is k·TP·DP (TP fastest, then DP, then PP).
    s = _scenario(
        "model.preset=llama3-8b",
        "training.tensor_parallel=2",
        "training.pipeline_parallel=4",
        "training.micro_batch=1",
        "training.activation_recomputation=full",
    )
    mem = memory_breakdown(s)
    assert mem.worst_device == mem.worst_stage * 2 * s.data_parallel


@settings(max_examples=40, deadline=None)
@given(
    tp=st.sampled_from([1, 2, 4, 8]),
    pp=st.sampled_from([1, 2, 4, 8]),
    mb=st.sampled_from([1, 2, 4]),
    sp=st.booleans(),
)
def test_memory_orderings(tp: int, pp: int, mb: int, sp: bool) -> None:
    # GPT-3 shape on 16 x 8 A100: more sharding never costs memory; less recomputation never saves it.
    base = [
        "model.preset=gpt3-175b",
        "cluster.nodes=16",
        "cluster.workers_per_node=8",
        f"training.tensor_parallel={tp}",
        f"training.pipeline_parallel={pp}",
        f"training.micro_batch={mb}",
        f"training.sequence_parallel={str(sp).lower()}",
        f"training.global_batch={128 // (tp * pp) * mb * 8}",
    ]
    stages = range(4) if pp == 1 else range(2)  # DeepSpeed refuses ZeRO-2/3 with pipeline stages
    states = [memory_breakdown(_scenario(*base, f"training.zero_stage={z}")).model_states for z in stages]
    assert all(a >= b for a, b in itertools.pairwise(states))
    acts = [
        memory_breakdown(_scenario(*base, f"training.activation_recomputation={r}")).activations
        for r in ("none", "selective", "full")
    ]
    assert acts[0] >= acts[1] >= acts[2] > 0


def test_predict_reports_where_memory_runs_out() -> None:
    from dpsim.analytic.step import predict

    s = _scenario(
        "model.preset=gpt3-175b",
        "training.tensor_parallel=8",
        "training.pipeline_parallel=8",
        "training.micro_batch=1",
        "training.global_batch=64",
    )
    result, mem = predict(s), memory_breakdown(s)
    assert result.oom and result.memory_per_device_bytes == pytest.approx(mem.total)
    assert result.extra["memory_worst_device"] == mem.worst_device == 0
    assert result.extra["memory_status"] == mem.describe() and "over by" in mem.describe()


def test_activations_without_dropout_drop_the_masks() -> None:
    # Korthikanti et al. 2022 §4.1 without dropout: the two 1-byte masks of the replicated part go
    # (10 → 8 bytes per s·b·h) and the attention keeps only the 2-byte softmax output (5as²b → 2as²b).
    # GPT-3 layer, t = 8: with dropout 10 + 24/8 + 5·96·2048/(12288·8) = 23; without 8 + 3 + 2·2 = 15.
    with_dropout = activation_bytes_per_layer(**GPT3, tensor_parallel=8)
    without = activation_bytes_per_layer(**GPT3, tensor_parallel=8, dropout=False)
    assert with_dropout == pytest.approx(23 * SBH)
    assert without == pytest.approx(15 * SBH)


# --- optimizer flavours as frameworks keep them (hand-computed, Ψ = 1e9, N = 8, Adam) ----------------

PSI, N = 1e9, 8


@pytest.mark.parametrize(
    ("flavour", "stage", "expected"),
    [
        # DeepSpeed ZeRO (Rajbhandari et al. 2020 Fig. 1): 16, 4 + 12/8, 2 + 14/8, 16/8 bytes per parameter
        ("zero", 1, (2.0, 2.0, 12 / 8)),
        ("zero", 2, (2.0, 2 / 8, 12 / 8)),
        ("zero", 3, (2 / 8, 2 / 8, 12 / 8)),
        # Megatron distributed optimizer, bf16 params + fp32 main_grad (docs: 6 + 12/d)
        ("megatron", 1, (2.0, 4.0, 12 / 8)),
        # FSDP FULL_SHARD: sharded fp32 params 4/8, fp32 grads 4/8, Adam moments 8/8
        ("fsdp", 3, (4 / 8, 4 / 8, 8 / 8)),
        # FSDP SHARD_GRAD_OP: the same, plus the unsharded bf16 parameters kept from forward to backward
        ("fsdp", 2, (4 / 8 + 2.0, 4 / 8, 8 / 8)),
    ],
)
def test_model_states_per_flavour_by_hand(flavour: str, stage: int, expected: tuple[float, float, float]) -> None:
    grad = 4.0 if flavour == "megatron" else None
    parts = model_state_parts(PSI, N, stage, "adam", "bf16", flavour=flavour, gradient_bytes=grad)
    assert parts == pytest.approx(tuple(e * PSI for e in expected))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_megatron_gradient_buffer_has_its_reduce_dtype(precision: str) -> None:
    """Megatron's gradient buffer is the one it reduces in place: ``param_and_grad_buffer.py``
    (Megatron-LM d98e8a64) ``grad_dtype = torch.float if grad_reduce_in_fp32 else param.dtype``, and
    ``arguments.py`` turns ``accumulate_allreduce_grads_in_fp32`` on for bf16 only. So fp16 training keeps
    an fp16 buffer (and an fp32 copy of its shard for the update): docs/source/distrib_optimizer.md's
    "fp16 param, fp16 grads" row, 4 + 16/d, not the bf16 row's 6 + 12/d (what auto gave before)."""
    s = _scenario(f"training.precision={precision}", "training.zero_stage=1", "training.optimizer_sharding=megatron")
    assert s.gradient_buffer_bytes_per_param == (2 if precision == "fp16" else 4)
    mb = memory_breakdown(s)
    psi, d = stage_parameters(s)[mb.worst_stage], s.data_parallel
    per_param = 4 + 16 / d if precision == "fp16" else 6 + 12 / d
    assert mb.weights + mb.gradients + mb.optimizer_states == pytest.approx(per_param * psi)


def test_megatron_totals_match_its_documentation() -> None:
    # Megatron-LM docs/source/distrib_optimizer.md: bf16 param + fp32 grads 6 + 12/d; fp16 + fp16 4 + 16/d
    assert sum(model_state_parts(PSI, N, 1, flavour="megatron", gradient_bytes=4.0)) == pytest.approx(
        (6 + 12 / 8) * PSI
    )
    assert sum(model_state_parts(PSI, N, 1, flavour="megatron", gradient_bytes=2.0)) == pytest.approx(
        (4 + 16 / 8) * PSI
    )


def test_bf16_optimizer_state_keeps_bf16_moments_and_no_master() -> None:
    """NeMo's optim.dtype bf16 on apex's DistributedFusedAdam (store_params False): Adam's m and v at 2 bytes over
    N_d, no fp32 master and no fp32 gradient shard: bf16 weights + FP8 copies 2 + 2, bf16 gradients 2, states
    2 x 2 / 8 = 0.5 bytes a parameter, against (12 + 4) / 8 = 2 with fp32 state (fails without state_bytes)."""
    fp32 = model_state_parts(PSI, N, 1, "adam", "fp8", flavour="megatron", gradient_bytes=2.0)
    bf16 = model_state_parts(PSI, N, 1, "adam", "fp8", flavour="megatron", gradient_bytes=2.0, state_bytes=2.0)
    assert fp32 == pytest.approx((4 * PSI, 2 * PSI, 2 * PSI))
    assert bf16 == pytest.approx((4 * PSI, 2 * PSI, 0.5 * PSI))
    s = _scenario(
        "training.precision=bf16",
        "training.zero_stage=1",
        "training.optimizer_sharding=megatron",
        "training.gradient_dtype=bf16",
        "training.optimizer_state_dtype=bf16",
    )
    mb = memory_breakdown(s)
    assert mb.optimizer_states == pytest.approx(4 * stage_parameters(s)[mb.worst_stage] / s.data_parallel)


def test_fsdp_no_sync_keeps_the_full_unsharded_gradient() -> None:
    # FULL_SHARD under no_sync: the fp32 gradient shard 4/8 plus the accumulated unsharded bf16 gradient
    # 2 bytes per parameter: 4/8 + 2 = 2.5 bytes; weights and states as without it (4/8, 8/8)
    parts = model_state_parts(PSI, N, 3, "adam", "bf16", flavour="fsdp", gradient_bytes=2.0, unsharded_gradients=True)
    assert parts == pytest.approx((4 / 8 * PSI, 2.5 * PSI, 8 / 8 * PSI))
    base = [
        "model.preset=gpt2-xl",
        "cluster.nodes=1",
        "cluster.workers_per_node=8",
        "training.micro_batch=1",
        "training.zero_stage=3",
        "training.optimizer_sharding=fsdp",
        "training.fsdp_no_sync=true",
    ]
    psi = load_scenario(None, overrides=base).model.num_parameters
    accumulating = memory_breakdown(_scenario(*base, "training.global_batch=16"))  # 2 micro-batches
    assert accumulating.gradients == pytest.approx(4.0 * psi / 8 + 2.0 * psi)
    assert memory_breakdown(_scenario(*base, "training.global_batch=8")).gradients == pytest.approx(4.0 * psi / 8)


def test_fsdp_hybrid_shards_inside_the_group() -> None:
    # HYBRID_SHARD over groups of 4 of the 8 ranks: 16/4 bytes per parameter
    assert sum(model_state_parts(PSI, N, 3, flavour="fsdp", shard_group=4)) == pytest.approx(16 / 4 * PSI)


def test_fp8_keeps_fp8_weight_copies() -> None:
    # FP8 adds the FP8 weight and its transpose (2 bytes), sharded like the weights
    bf16 = model_state_parts(PSI, N, 1, "adam", "bf16")
    fp8 = model_state_parts(PSI, N, 1, "adam", "fp8")
    assert fp8[0] - bf16[0] == pytest.approx(2.0 * PSI)
    assert fp8[1:] == pytest.approx(bf16[1:])


def test_scenario_flavours_reach_the_breakdown() -> None:
    base = [
        "model.preset=gpt2-xl",
        "cluster.nodes=1",
        "cluster.workers_per_node=8",
        "training.global_batch=8",
        "training.micro_batch=1",
    ]
    megatron = memory_breakdown(_scenario(*base, "training.zero_stage=1", "training.optimizer_sharding=megatron"))
    psi = load_scenario(None, overrides=base).model.num_parameters
    assert megatron.gradients == pytest.approx(4.0 * psi)  # fp32 main_grad, full
    assert megatron.optimizer_states == pytest.approx(12.0 * psi / 8)
    assert megatron.buffers == 0.0  # buckets are views into the gradient buffer
    fsdp = memory_breakdown(_scenario(*base, "training.zero_stage=3", "training.optimizer_sharding=fsdp"))
    assert fsdp.weights + fsdp.gradients + fsdp.optimizer_states == pytest.approx(16.0 * psi / 8)
    reserved = memory_breakdown(_scenario(*base, "training.memory_reserve=0.1"))
    plain = memory_breakdown(_scenario(*base))
    assert reserved.total - plain.total == pytest.approx(0.1 * plain.capacity)


def test_flash_attention_keeps_no_scores() -> None:
    # flash: sbh·(10 + 24/t) plus the fp32 log-sum-exp 4·a·s·b/t; the 5as/h score term is gone
    flash = activation_bytes_per_layer(**GPT3, tensor_parallel=8, attention="flash")
    assert flash == pytest.approx(13 * SBH + 4 * 96 * 2048 / 8)


def test_fp8_stores_linear_inputs_in_one_byte() -> None:
    # QKV and MLP inputs (replicated, 2 x 1 byte saved), attention-output input (1), MLP-down input (4h x 1)
    bf16 = activation_bytes_per_layer(**GPT3)
    fp8 = activation_bytes_per_layer(**GPT3, fp8=True)
    assert bf16 - fp8 == pytest.approx((1 + 1 + 1 + 4) * SBH)


def test_recompute_working_set_is_one_full_layer() -> None:
    base = ["model.preset=gpt3-175b", "training.tensor_parallel=8", "training.pipeline_parallel=8"]
    base += ["training.micro_batch=1", "training.global_batch=64", "cluster.nodes=8", "cluster.workers_per_node=8"]
    full = _scenario(*base, "training.activation_recomputation=full")
    m, t = full.model, full.training
    layer = activation_bytes_per_layer(m.seq_len, 1, m.hidden, m.heads, tensor_parallel=8)
    stored = activation_bytes_per_layer(m.seq_len, 1, m.hidden, m.heads, tensor_parallel=8, recomputation="full")
    assert recompute_working_set(full) == pytest.approx(layer - stored)
    assert t.activation_recomputation == "full"


def test_distributed_checkpoints_split_the_layer_input_over_tp_ranks() -> None:
    # Megatron-LM --distribute-saved-activations / metaseq --distribute-checkpointed-activations: each of
    # the t = 8 ranks keeps 1/8 of the 2·s·b·h checkpoint: 2·2048·12288/8 = 6,291,456 bytes per layer
    # and micro-batch (50,331,648 whole).
    kept = activation_bytes_per_layer(**GPT3, tensor_parallel=8, recomputation="full", distributed_checkpoints=True)
    assert kept == pytest.approx(6_291_456)
    # GPT-3 175B, TP 8 x PP 8, micro-batch 1: the first stage holds 8 micro-batches of 12 layers (96 layer
    # checkpoints), so distributing them saves 96 x (50,331,648 - 6,291,456) = 4,227,858,432 bytes of
    # stored checkpoints; the layer being recomputed is rebuilt whole either way, but its gathered input is
    # a new 50,331,648-byte buffer beside its shard, where the whole checkpoint served as the rebuilt input.
    base = ["model.preset=gpt3-175b", "training.tensor_parallel=8", "training.pipeline_parallel=8"]
    base += ["training.micro_batch=1", "training.global_batch=64", "cluster.nodes=8", "cluster.workers_per_node=8"]
    base += ["training.activation_recomputation=full"]
    whole = memory_breakdown(_scenario(*base))
    split = _scenario(*base, "training.distribute_checkpointed_activations=true")
    assert whole.worst_stage == 0 and memory_breakdown(split).worst_stage == 0
    saved = 96 * (50_331_648 - 6_291_456) - 50_331_648
    assert whole.activations - memory_breakdown(split).activations == pytest.approx(saved)
    assert memory_breakdown(split).model_states == pytest.approx(whole.model_states)


@pytest.mark.parametrize(
    "overrides",
    [
        ["training.activation_recomputation=selective"],
        ["training.activation_recomputation=full", "training.tensor_parallel=1"],
        ["training.activation_recomputation=full", "training.sequence_parallel=true"],
    ],
)
def test_distributed_checkpoints_refused_where_frameworks_refuse_them(overrides: list[str]) -> None:
    from dpsim.errors import ScenarioError

    base = ["model.preset=gpt3-175b", "training.tensor_parallel=8", "training.pipeline_parallel=8"]
    base += ["training.micro_batch=1", "training.global_batch=64", "cluster.nodes=8", "cluster.workers_per_node=8"]
    with pytest.raises(ScenarioError, match=r"training\.distribute_checkpointed_activations"):
        _scenario(*base, *overrides, "training.distribute_checkpointed_activations=true")


def test_embedding_slots_shift_layers_off_the_end_stages() -> None:
    # Llama 3: 126 layers in PP 16 x V 8 = 128 slots; stage 0 chunk 0 holds only the embedding
    s = _scenario(
        "model.preset=llama3-405b",
        "cluster.nodes=256",
        "cluster.workers_per_node=8",
        "training.tensor_parallel=8",
        "training.pipeline_parallel=16",
        "training.pipeline_schedule=interleaved",
        "training.virtual_stages=8",
        "training.embedding_pipeline_slots=true",
        "training.global_batch=512",
        "training.micro_batch=1",
    )
    layers = chunk_layers(s)
    assert layers[0][0] == 0 and layers[15][7] == 0
    assert sum(map(sum, layers)) == 126
    assert all(x == 1 for row in layers for x in row if x)
    # the first stage's warm-up holds chunk 0 (the embedding) for 31 of its 143 chunk-micro-batches
    assert in_flight_layers(s, 0) == 143 - 31


_GPT2_PP4 = ("training.pipeline_parallel=4", "training.global_batch=512", "training.micro_batch=4")
_GLOBAL_256 = "training.global_batch=256"
"""GPT-2 XL (48 layers, hidden 1,600, sequence 1,024) on the default 64 A100: 16 replicas, 8 micro-batches of 4."""


@pytest.mark.parametrize(
    "overrides,shard,expected,kept",
    [
        # 1F1B holds 4, 3, 2, 1 micro-batches: the first stage 4 outputs + 8 gradient buffers, the middle ones their
        # idle activation buffers (8 - n), n outputs and 8 gradient buffers, the last 7 idle activation buffers.
        # Input gradients: the activations held stay p - r through the steady state, so stage r > 0 peaks at its last
        # steady-state backward with the m - (p - r) earlier ones' kept (8 - 3, 8 - 2, 8 - 1); stage 0 has none
        ((), 1, [12, 16, 16, 7], [0, 5, 6, 7]),
        # TP 2 (32 heads of 50) with sequence parallelism, 8 replicas of 8 micro-batches: the boundary's 1/2 shard
        (
            ("model.heads=32", "training.tensor_parallel=2", "training.sequence_parallel=true", _GLOBAL_256),
            2,
            [12, 16, 16, 7],
            [0, 5, 6, 7],
        ),
        # interleaved, 2 chunks a stage: stage 0 holds 11 chunk-micro-batches (7 of chunk 0, the model's first, 4 of
        # chunk 1): 7 + 8 and 4 + 4 + 8; stage 3 holds 5 (4 of chunk 0, 1 of chunk 1, the model's last): 4 + 4 + 8
        # and 7. Input gradients: rounds of 4, warm-up 10 - 2r forwards, so 6 + 2r steady-state pairs, each chunk
        # 6 layers: the held chunk-micro-batches stay 11 - 2r up to the last steady-state backward (index 5 + 2r),
        # with every earlier one's gradient kept: 7, 9, 11 on stages 1-3; stage 0 only chunk 1's 4 (its chunk 0
        # takes the tokens)
        (("training.pipeline_schedule=interleaved", "training.virtual_stages=2"), 1, [31, 32, 32, 23], [4, 7, 9, 11]),
    ],
)
def test_torch_pipelining_stage_buffers_by_hand(
    overrides: tuple[str, ...], shard: int, expected: list[int], kept: list[int]
) -> None:
    """``pipeline_runtime: torch`` counts torch.distributed.pipelining's receive buffers and kept outputs in
    stage-boundary tensors (2 B x 4 x 1,024 x 1,600 / t each), and the input gradients its ``stage_backward`` left
    on the receive buffers until pytorch#164329; Megatron's schedules keep none. On the last stage it also keeps every
    micro-batch's logits to the next step (``output_chunks``, pytorch#159251; 2 B x 4 x 1,024 x 50,257 / t each):
    at the last micro-batch's loss all 8 (Megatron's loss kernel does not save the logits themselves), more than
    half the 16 the step's merge holds once every activation is gone (GPT-2 XL's 12 or 6 + 6 layers of 0.75 GB and
    its 0.85 GB loss), so the walk adds 8 of them there."""
    torch_pp = _scenario(*_GPT2_PP4, *overrides, "training.pipeline_runtime=torch")
    megatron = _scenario(*_GPT2_PP4, *overrides)
    boundary = 2 * 4 * 1024 * 1600 / shard
    assert [pipeline_stage_buffers(torch_pp, i) for i in range(4)] == [boundary * n for n in expected]
    assert [pipeline_stage_buffers(megatron, i) for i in range(4)] == [0.0] * 4
    assert [pipeline_input_gradients(torch_pp, i) for i in range(4)] == pytest.approx(
        [boundary * n for n in kept], rel=1e-12
    )
    assert [pipeline_input_gradients(megatron, i) for i in range(4)] == [0.0] * 4
    logits = [0.0, 0.0, 0.0, 8 * 2 * 4 * 1024 * 50257 / shard]
    assert [pipeline_walk_adjustment(torch_pp, i) for i in range(4)] == pytest.approx(
        [boundary * k + x for k, x in zip(kept, logits, strict=True)], rel=1e-12
    )
    pairs = zip(memory_breakdown(torch_pp).stage_totals, memory_breakdown(megatron).stage_totals, strict=True)
    added = [a - b for a, b in pairs]
    assert added == pytest.approx(
        [boundary * (n + k) + x for n, k, x in zip(expected, kept, logits, strict=True)], rel=1e-12
    )
    # the chunk-by-chunk count is in_flight_layers' own
    layers = chunk_layers(torch_pp)
    for i in range(4):
        held = in_flight_chunk_microbatches(torch_pp, i)
        assert sum(n * x for n, x in zip(held, layers[i], strict=True)) == in_flight_layers(torch_pp, i)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ((), [12, 16, 16, 7]),
        (("training.pipeline_schedule=interleaved", "training.virtual_stages=2"), [31, 32, 32, 23]),
    ],
)
def test_a_torch_that_releases_the_input_gradients_keeps_none(schedule: tuple[str, ...], expected: list[int]) -> None:
    """``pipeline_releases_input_grads`` (pytorch#164329, ``val.grad = None`` in ``stage_backward``): the receive
    buffers and kept outputs stay (the same 2 B x 4 x 1,024 x 1,600 tensors as above), the kept input gradients go, so
    each stage's total is Megatron's plus the stage buffers alone, and on the last stage the 8 logits torch keeps to
    the next step (above); without it the kept gradients of 1F1B's [0, 5, 6, 7] and interleaved's [4, 7, 9, 11] (the
    case above) are there too."""
    boundary = 2 * 4 * 1024 * 1600
    released = _scenario(
        *_GPT2_PP4, *schedule, "training.pipeline_runtime=torch", "training.pipeline_releases_input_grads=true"
    )
    kept = _scenario(*_GPT2_PP4, *schedule, "training.pipeline_runtime=torch")
    megatron = _scenario(*_GPT2_PP4, *schedule)
    assert [pipeline_input_gradients(released, i) for i in range(4)] == [0.0] * 4
    pairs = zip(memory_breakdown(released).stage_totals, memory_breakdown(megatron).stage_totals, strict=True)
    logits = [0.0, 0.0, 0.0, 8 * 2 * 4 * 1024 * 50257]
    assert [a - b for a, b in pairs] == pytest.approx(
        [boundary * n + x for n, x in zip(expected, logits, strict=True)], rel=1e-12
    )
    gradients = [0, 5, 6, 7] if not schedule else [4, 7, 9, 11]
    pairs = zip(memory_breakdown(kept).stage_totals, memory_breakdown(released).stage_totals, strict=True)
    assert [a - b for a, b in pairs] == pytest.approx([boundary * n for n in gradients], rel=1e-12)


def test_fsdp2_makes_a_chunks_no_sync_gradients_at_its_first_backward() -> None:
    """Under torch's pipelining FSDP2 runs every micro-batch but the last without a gradient sync and makes each
    parameter's accumulated gradient at its first backward (``to_accumulated_grad_if_needed``), so the walk counts
    a chunk's unsharded gradient only from its first backward on. GPT-2 XL on 4 stages of 12 layers, 4 micro-batches
    of 4 (16 replicas), FSDP SHARD_GRAD_OP with no-sync (2-byte gradients). Stage 0 runs all 4 forwards, then its
    backwards: its peak is the first backward's 4 micro-batches (4 x 12 x 0.75 GB) before any gradient, where the
    sum counts the whole 2 B x 450,940,000 (12 layers and the embedding) beside them, so the walk takes it off.
    Stage 1 refills after its first backward (warm-up 3, one steady pair), so its peak holds the gradient anyway:
    only the one input gradient kept (2 B x 4 x 1,024 x 1,600). The last stage peaks at its last backward: its 4
    micro-batches' logits (2 B x 4 x 1,024 x 50,257 each) and 3 input gradients, beside the gradient already made;
    the step's end (8 logits, no activation) is lower."""
    s = _scenario(
        *_GPT2_PP4,
        _GLOBAL_256,
        "training.pipeline_runtime=torch",
        "training.optimizer_sharding=fsdp",
        "training.zero_stage=2",
        "training.fsdp_no_sync=true",
    )
    assert s.accumulation_steps == 4 and s.keeps_unsharded_gradients and s.gradient_buffer_bytes_per_param == 2
    params = stage_parameters(s)
    assert params[0] == pytest.approx(450_940_000)
    boundary, logits = 2 * 4 * 1024 * 1600, 2 * 4 * 1024 * 50257
    assert pipeline_walk_adjustment(s, 0) == pytest.approx(-2 * params[0], rel=1e-12)
    assert pipeline_walk_adjustment(s, 1) == pytest.approx(boundary, rel=1e-12)
    assert pipeline_walk_adjustment(s, 3) == pytest.approx(4 * logits + 3 * boundary, rel=1e-12)


def test_torch_pipelining_adds_nothing_without_a_pipeline() -> None:
    assert pipeline_stage_buffers(_scenario("training.pipeline_runtime=torch"), 0) == 0.0
    assert pipeline_input_gradients(_scenario("training.pipeline_runtime=torch"), 0) == 0.0


def _ddp_toy(*overrides: str):  # type: ignore[no-untyped-def]
    """An MLP of 100M parameters (2 layers of 1,000 units) on 4 ranks of one node, micro-batch 2."""
    return _scenario(
        "model={kind: mlp, parameters: 1e8, layers: 2, hidden: 1000, flops_per_sample: 6e8}",
        "cluster.nodes=1",
        "cluster.workers_per_node=4",
        "training.global_batch=8",
        "training.micro_batch=2",
        "communication.bucket=25 MiB",
        *overrides,
    )


@pytest.mark.parametrize(
    "precision,grad_bytes,k",
    [("bf16", 2, 12), ("fp32", 4, 8)],  # bf16 Adam: fp32 master + m + v; fp32 Adam: m + v
)
def test_ddp_bucket_copy_unless_gradients_are_bucket_views(precision: str, grad_bytes: int, k: int) -> None:
    # torch DDP (reducer.cpp initialize_buckets): the buckets are a second full gradient in the
    # gradients' dtype, 2 B (bf16) or 4 B (fp32) x 1e8; gradient_as_bucket_view=True: no copy
    psi = 1e8
    activations = 2 * 2 * 2 * 1000 * grad_bytes  # inputs and outputs of 2 layers, micro-batch 2
    copy = memory_breakdown(_ddp_toy(f"training.precision={precision}"))
    view = memory_breakdown(_ddp_toy(f"training.precision={precision}", "training.gradient_as_bucket_view=true"))
    states = (grad_bytes + grad_bytes + k) * psi
    assert copy.buffers == pytest.approx(grad_bytes * psi, rel=1e-12)
    assert copy.total == pytest.approx(states + grad_bytes * psi + activations, rel=1e-12)
    assert view.buffers == 0.0
    assert view.total == pytest.approx(states + activations, rel=1e-12)
    # one rank: no DDP at all, hence no buckets either way
    assert memory_breakdown(_ddp_toy("cluster.workers_per_node=1", "training.global_batch=2")).buffers == 0.0


def test_zero_keeps_its_reduce_buffers_and_refuses_the_ddp_flag() -> None:
    # DeepSpeed ZeRO-1/2 (stage_1_and_2.py backward): reduce_bucket_size 16-bit elements per IPG buffer,
    # allocated whole; two with overlap_comm, one without (DeepSpeed's default at stages 1 and 2).
    # Was two 25 MiB buckets (52,428,800 B) whatever the flag.
    assert memory_breakdown(_ddp_toy("training.zero_stage=1")).buffers == pytest.approx(2 * 500_000_000)
    assert memory_breakdown(_ddp_toy("training.zero_stage=2", "training.deepspeed_overlap_comm=true")).buffers == (
        pytest.approx(2 * 2 * 500_000_000)
    )
    small = ("training.zero_stage=2", "training.deepspeed_reduce_bucket_size=1000", "training.precision=fp32")
    assert memory_breakdown(_ddp_toy(*small)).buffers == pytest.approx(4 * 1000)
    for flavour in ("training.zero_stage=1", "training.optimizer_sharding=megatron", "training.zero_stage=2"):
        extra = ["training.zero_stage=1"] if "megatron" in flavour else []
        with pytest.raises(ValueError, match=r"training\.gradient_as_bucket_view: applies to PyTorch DDP"):
            _ddp_toy(*extra, flavour, "training.gradient_as_bucket_view=true")


def test_deepspeed_bf16_optimizer_keeps_a_full_fp32_gradient() -> None:
    """DeepSpeed's BF16_Optimizer (gradient_accumulation_pass: fp32_copy; 0.6.5 bf16_optimizer.py): bf16 weights
    and param.grad (2 + 2 B), fp32_groups_gradients_flat = zeros_like(the whole flat bf16 group, fp32) (4 B,
    unsharded), fp32 master and Adam moments of the rank's 1/N (12/4 B): 1e8 x (2 + 6 + 3) on the toy. No IPG
    buffers (it is not the ZeRO optimizer); its reduction casts the fp32 gradient to a bf16 copy (2 B x 1e8)
    after the flush, when the 16,000 B of activations are freed: the peak rises by the difference. Before: 2 B of
    gradient and one 1 GB IPG buffer, 1.7 GB in all."""
    psi, activations = 1e8, 2 * 2 * 2 * 1000 * 2
    mem = memory_breakdown(_ddp_toy("training.zero_stage=1", "training.gradient_accumulation_pass=fp32_copy"))
    assert (mem.weights, mem.gradients, mem.optimizer_states) == pytest.approx((2 * psi, 6 * psi, 3 * psi), rel=1e-12)
    assert mem.activations == pytest.approx(activations, rel=1e-12)
    assert mem.buffers == pytest.approx(2 * psi - activations, rel=1e-12)
    assert mem.total == pytest.approx(13 * psi, rel=1e-12)
    assert model_state_parts(psi, 4, 1, fp32_gradient_copy=True) == pytest.approx((2 * psi, 6 * psi, 3 * psi))


def _zero3_toy(*overrides: str):  # type: ignore[no-untyped-def]
    """A 4-layer GPT (h = 100, V = 1,000, s = 10, tied embeddings) under DeepSpeed ZeRO-3 on 4 ranks.

    Each layer 12h² + 13h = 121,300 parameters plus a quarter of the final LayerNorm's 2h (the engines
    spread it over the layers): 121,350; the word embedding V·h = 100,000 (the tied head), positions s·h = 1,000.
    """
    return _scenario(
        "model={kind: transformer, layers: 4, hidden: 100, heads: 4, seq_len: 10, vocab: 1000}",
        "cluster.nodes=1",
        "cluster.workers_per_node=4",
        "training.global_batch=8",
        "training.micro_batch=2",
        "training.zero_stage=3",
        *overrides,
    )


def test_zero3_keeps_what_comes_back_within_the_reuse_distance() -> None:
    # DeepSpeed's coordinator (__params_to_release): after a unit's forward, walk the trace (forward then
    # backward) adding elements until max_reuse_distance; a unit met again before that stays gathered.
    # Trace: E P L0 L1 L2 L3 H | H L3 L2 L1 L0 P E, with H the tied embedding (E's weight again).
    layer, head = 121_350, 100_000
    total = 4 * layer + 101_000
    cases = {
        0: 0,  # nothing kept: every backward gathers the whole model again
        1: head,  # the head's backward follows its forward at distance 0 (< 1)
        2 * head + 1: head + layer,  # L3: H, H between = 200,000 < 200,001
        2 * head + 2 * layer: head + layer,  # L2 needs 200,000 + 2 x 121,350, not strictly below
        2 * head + 2 * layer + 1: head + 2 * layer,
    }
    for distance, kept in cases.items():
        scenario = _zero3_toy(f"training.deepspeed_max_reuse_distance={distance}")
        assert zero3_kept_parameters(scenario) == pytest.approx(kept)
        # the backward gathers what was not kept (traffic): share 1 - kept / total
        assert step_traffic(scenario).backward_gather_share == pytest.approx(1 - kept / total)
    # DeepSpeed's default 1e9 keeps the whole small model: the backward gathers nothing
    assert zero3_kept_parameters(_zero3_toy()) == pytest.approx(total)
    assert step_traffic(_zero3_toy()).backward_gathers == 0


def test_zero3_regathers_what_it_releases_between_a_recomputed_forward_and_its_backward() -> None:
    # h = 400: a layer's weights are qkv 3h^2, proj h^2, fc 4h^2, fc2 4h^2 (480,000 / 160,000 / 640,000 x 2
    # elements, all >= DeepSpeed's persistence threshold of 100,000; biases and norms below it). After the
    # recomputed forward of module m the walk meets the modules after it twice (recompute, then backward in
    # reverse) before m's own backward: fc2 0, fc 2 x 4h^2 = 1,280,000, proj 2 x 8h^2, qkv 2 x 9h^2.
    h, layers, head = 400, 4, 1000 * 400
    layer = 12 * h * h + 13 * h + 2 * h / layers  # the engines spread the final LayerNorm over the layers
    total = layers * layer + head + 10 * h  # + the tied word embedding and the positions

    def toy(*more: str):  # type: ignore[no-untyped-def]
        return _zero3_toy(
            f"model={{kind: transformer, layers: {layers}, hidden: {h}, heads: 4, seq_len: 10, vocab: 1000}}",
            "training.activation_recomputation=full",
            *more,
        )

    cases = {  # distance: (share of a layer gathered again, kept from the forward: the head, L3 while 2 x head fits)
        1_280_000: (8 / 12, head + layer),  # fc: 1,280,000 is not strictly below: released, as qkv and proj
        1_280_001: (4 / 12, head + layer),  # fc kept; proj (2,560,000) and qkv (2,880,000) released
        2_880_001: (0.0, head + layer),  # every module kept from its recomputation to its backward
    }
    released = {  # the same walk weight by weight: qkv, proj, fc, fc2
        1_280_000: [True, True, True, False],
        1_280_001: [True, True, False, False],
        2_880_001: [False, False, False, False],
    }
    for distance, (share, kept) in cases.items():
        scenario = toy(f"training.deepspeed_max_reuse_distance={distance}")
        again = layers * layer * share
        assert zero3_recompute_regathered_parameters(scenario) == pytest.approx(again, rel=1e-12)
        assert zero3_recompute_released(scenario) == list(
            zip([3 * h * h, h * h, 4 * h * h, 4 * h * h], released[distance], strict=True)
        )
        # the recomputation gathers what the forward did not keep, the backward what was released since
        assert step_traffic(scenario).backward_gather_share == pytest.approx(1 - (kept - again) / total, rel=1e-12)
    # one layer in two checkpointed (recompute_layer_interval 2): half of it
    half = toy("training.deepspeed_max_reuse_distance=1280000", "training.recompute_layer_interval=2")
    assert zero3_recompute_regathered_parameters(half) == pytest.approx(layers * layer * 8 / 12 / 2, rel=1e-12)
    # nothing again without full recomputation, under FSDP (its recomputation is its backward's gather), or when
    # every weight is below the persistence threshold (the h = 100 toy)
    assert zero3_recompute_regathered_parameters(_zero3_toy("training.deepspeed_max_reuse_distance=0")) == 0.0
    selective = toy("training.deepspeed_max_reuse_distance=0", "training.activation_recomputation=selective")
    assert zero3_recompute_regathered_parameters(selective) == 0.0
    fsdp = toy("training.optimizer_sharding=fsdp")
    assert zero3_recompute_regathered_parameters(fsdp) == 0.0
    small = _zero3_toy("training.activation_recomputation=full", "training.deepspeed_max_reuse_distance=0")
    assert zero3_recompute_regathered_parameters(small) == 0.0


def test_zero3_reuse_walk_is_linear_in_the_layers() -> None:
    # The walk copied the trace's tail for every unit: O(L^2), hours at 100,000 layers. A layer j places from
    # the end comes back after 2 x (head + j layers): kept while that is below the distance (1e9 by default).
    layers = 100_000
    scenario = _scenario(  # the toy's shape, 100,000 layers deep
        f"model={{kind: transformer, layers: {layers}, hidden: 100, heads: 4, seq_len: 10, vocab: 1000}}",
        "cluster.nodes=1", "cluster.workers_per_node=4", "training.global_batch=8", "training.micro_batch=2",
        "training.zero_stage=3",
    )  # fmt: skip
    head, layer = 100_000, 121_300 + 200 / layers  # a layer and its share of the final LayerNorm
    count = sum(1 for j in range(layers) if 2 * (head + j * layer) < 1e9)
    start = time.perf_counter()
    assert zero3_kept_parameters(scenario) == pytest.approx(head + count * layer, rel=1e-9)
    assert time.perf_counter() - start < 5


def test_zero3_memory_holds_kept_prefetched_and_the_reduce_buffer() -> None:
    # buffers = 2 B x (reduce_bucket_size + kept + min(prefetch, max_live - kept)); the old model counted
    # two layers, 2 x 2 x 121,350 = 485,400 B, whatever the settings
    layer, head = 121_350, 100_000
    base = ("training.deepspeed_reduce_bucket_size=1000", "training.deepspeed_max_reuse_distance=200001")
    kept = head + layer
    got = memory_breakdown(_zero3_toy(*base, "training.deepspeed_prefetch_bucket_size=50000")).buffers
    assert got == pytest.approx(2 * (1000 + kept + 50_000))
    # max_live_parameters caps the prefetch: 230,000 live allows 8,650 more
    capped = (*base, "training.deepspeed_prefetch_bucket_size=50000", "training.deepspeed_max_live_parameters=230000")
    assert memory_breakdown(_zero3_toy(*capped)).buffers == pytest.approx(2 * (1000 + 230_000))
    # nothing kept (distance 0): the first backward unit (the head, 100,000) and one prefetch bucket
    none = ("training.deepspeed_reduce_bucket_size=1000", "training.deepspeed_max_reuse_distance=0")
    got = memory_breakdown(_zero3_toy(*none, "training.deepspeed_prefetch_bucket_size=50000")).buffers
    assert got == pytest.approx(2 * (1000 + head + 50_000))


@pytest.mark.parametrize(
    "overrides,field",
    [
        (("training.deepspeed_overlap_comm=true",), "training.deepspeed_overlap_comm"),
        (("training.zero_stage=1", "training.deepspeed_max_reuse_distance=5"), "training.deepspeed_max_reuse_distance"),
        (
            ("training.zero_stage=3", "training.optimizer_sharding=fsdp", "training.deepspeed_reduce_bucket_size=5"),
            "training.deepspeed_reduce_bucket_size",
        ),
        (
            ("training.zero_stage=3", "training.deepspeed_prefetch_bucket_size=-1"),
            "training.deepspeed_prefetch_bucket_size",
        ),
    ],
)
def test_deepspeed_fields_are_refused_outside_deepspeed_zero(overrides: tuple[str, ...], field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        _ddp_toy(*overrides)


def _torch_stage_buffer_bytes(stage_index: int, num_stages: int, micro_batches: int, shape: tuple[int, ...]) -> int:
    """Bytes of the receive buffers torch's ``PipelineStage`` makes for ``micro_batches`` micro-batches (its
    ``_prepare_forward_infra`` / ``_prepare_backward_infra``, static shapes), on a fake process group on CPU."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch.distributed.pipelining import PipelineStage
    from torch.distributed.pipelining.stage import InferenceMode
    from torch.testing._internal.distributed.fake_pg import FakeStore

    from runtime.torchrun import destroy_group

    dist.init_process_group("fake", store=FakeStore(), rank=stage_index, world_size=num_stages)
    try:
        # a stage of layers: its output needs a gradient (an output that does not gets no gradient buffer)
        example = torch.empty(shape, dtype=torch.bfloat16, requires_grad=True)
        stage = PipelineStage(
            torch.nn.Identity(),
            stage_index,
            num_stages,
            torch.device("cpu"),
            input_args=example,
            output_args=example,
        )
        stage._inference_mode = InferenceMode.STATIC  # what the schedule's warm-up vote settles on with static shapes
        stage._prepare_forward_infra(micro_batches, None, has_backward=True)
        stage._prepare_backward_infra(micro_batches)
        storages: dict[int, int] = {}
        for infos in (*stage.args_recv_info.values(), *stage.grad_recv_info.values()):
            for info in infos:
                if info is not None and getattr(info, "buffer", None) is not None:
                    buffer = info.buffer
                    storages[buffer.untyped_storage().data_ptr()] = buffer.numel() * buffer.element_size()
        return sum(storages.values())
    finally:
        destroy_group()


def test_torch_pipelining_buffers_are_torchs_own() -> None:
    """torch's own PipelineStage (this torch) makes one activation buffer per micro-batch on every stage but the
    first and one output-gradient buffer per micro-batch on every stage but the last, all distinct: what
    :func:`pipeline_stage_buffers` counts at a chunk with no micro-batch in flight (GPT-2 XL's boundary tensor)."""
    s = _scenario(*_GPT2_PP4, "training.pipeline_runtime=torch")
    shape = (4, 1024, 1600)  # micro_batch x seq_len x hidden
    boundary = 2 * 4 * 1024 * 1600
    assert [_torch_stage_buffer_bytes(i, 4, 8, shape) for i in range(4)] == [
        8 * boundary,
        16 * boundary,
        16 * boundary,
        8 * boundary,
    ]
    # dpsim's count: these buffers, less the in-flight activations (each a layer's saved input, counted with the
    # layers), plus the in-flight outputs
    held = [in_flight_chunk_microbatches(s, i)[0] for i in range(4)]
    first_last = [(i > 0, i < 3) for i in range(4)]
    rebuilt = [
        (8 * has_input + 8 * has_grad - held[i] * has_input + held[i] * has_grad) * boundary
        for i, (has_input, has_grad) in enumerate(first_last)
    ]
    assert rebuilt == [pipeline_stage_buffers(s, i) for i in range(4)]


def test_eager_elementwise_keeps_the_final_norms_fp32_copy_too() -> None:
    """``model.elementwise: eager``: the final norm, op by op like each layer's, keeps its fp32 copy and its cast
    output, 4 bytes an element more than the fused norm's 2-byte input: 4 x s x b x h on the last stage only (GPT-2 XL,
    sequence 1,024, micro-batch 4, hidden 1,600; the layers' own 8 x s x b x h a layer move by the same rule)."""
    fused, eager = _scenario(*_GPT2_PP4), _scenario(*_GPT2_PP4, "model.elementwise=eager")
    layer = activation_bytes_per_layer(1024, 4, 1600, 25, eager_elementwise=True) - activation_bytes_per_layer(
        1024, 4, 1600, 25
    )
    assert layer == 8 * 1024 * 4 * 1600
    for stage in range(4):
        added = memory_breakdown(eager).stage_totals[stage] - memory_breakdown(fused).stage_totals[stage]
        final_norm = 4 * 1024 * 4 * 1600 if stage == 3 else 0
        assert added == pytest.approx(layer * in_flight_layers(fused, stage) + final_norm, rel=1e-12)


def _torch_schedule_order(schedule: str, p: int, m: int, v: int) -> dict[int, list]:  # type: ignore[type-arg]
    """torch.distributed.pipelining's own operation order for each pipeline rank (this torch): the schedule classes'
    IR, built without stages or a process group (the methods read only the sizes set here)."""
    from torch.distributed.pipelining import schedules as torch_schedules

    if schedule == "interleaved":
        cls = torch_schedules.ScheduleInterleaved1F1B
        obj = object.__new__(cls)
        obj.pp_group_size, obj.n_local_stages, obj._n_microbatches = p, v, m
        obj.number_of_rounds = max(1, m // p)
        obj.microbatches_per_round = m // obj.number_of_rounds
        return {rank: cls._calculate_single_rank_operations(obj, rank) for rank in range(p)}
    cls = torch_schedules.Schedule1F1B if schedule == "1f1b" else torch_schedules.ScheduleGPipe
    obj = object.__new__(cls)
    obj._num_stages, obj._n_microbatches = p, m
    return cls._get_pipeline_order(obj)


@pytest.mark.parametrize(
    "schedule,v,batch",
    [
        ("1f1b", 1, "training.global_batch=512"),
        ("1f1b", 1, "training.global_batch=1024"),
        ("gpipe", 1, "training.global_batch=512"),
        ("interleaved", 2, "training.global_batch=512"),
        ("interleaved", 2, "training.global_batch=1024"),
        ("interleaved", 3, "training.global_batch=256"),
        ("interleaved", 4, "training.global_batch=512"),
    ],
)
def test_in_flight_chunks_are_torchs_own_schedule(schedule: str, v: int, batch: str) -> None:
    """dpsim's micro-batches in flight at a stage's peak (its first backward), chunk by chunk, are the forwards torch's
    own schedule runs on that rank, on each of its stages, before the rank's first backward (GPT-2 XL, 4 stages of
    the default 64 A100, 4, 8 or 16 micro-batches): what the memory model reads under ``pipeline_runtime: torch``."""
    overrides = [*_GPT2_PP4, batch, f"training.pipeline_schedule={schedule}"]
    if v > 1:
        overrides.append(f"training.virtual_stages={v}")
    s = _scenario(*overrides, "training.pipeline_runtime=torch")
    p, m = 4, s.accumulation_steps
    order = _torch_schedule_order(schedule, p, m, v)
    for rank, actions in order.items():
        forwards = [0] * v
        for action in actions:
            if action is None:
                continue
            kind = action.computation_type.name
            if kind == "FULL_BACKWARD":
                break
            if kind == "FORWARD":
                forwards[action.stage_index // p] += 1
        assert in_flight_chunk_microbatches(s, rank) == forwards, (rank, forwards)


@pytest.mark.parametrize(
    "schedule,p,m,v",
    [
        ("1f1b", 4, 4, 1),
        ("1f1b", 4, 8, 1),
        ("1f1b", 8, 8, 1),
        ("1f1b", 2, 8, 1),
        ("interleaved", 4, 8, 2),
        ("interleaved", 4, 16, 2),
        ("interleaved", 4, 4, 3),
        ("interleaved", 8, 8, 2),
        ("interleaved", 4, 8, 4),
    ],
)
def test_torch_schedule_operations_are_torchs_own(schedule: str, p: int, m: int, v: int) -> None:
    """The forwards and backwards each rank runs, in order, as dpsim walks them for the input gradients
    (``torch_schedule_operations``) are torch.distributed.pipelining's own schedule IR (this torch), stage by stage."""
    order = _torch_schedule_order(schedule, p, m, v)
    for rank, actions in order.items():
        ops = [
            (a.computation_type.name == "FULL_BACKWARD", a.stage_index // p)
            for a in actions
            if a is not None and a.computation_type.name in ("FORWARD", "FULL_BACKWARD")
        ]
        assert torch_schedule_operations(rank, p, m, v) == ops, rank


@pytest.mark.parametrize("v", [1, 3])
def test_kept_input_gradients_walk_skips_the_steady_periods(v: int) -> None:
    """The input-gradient walk leaves out the steady phase's whole periods (what a rank holds repeats; only the
    backwards done grow): the same answer as the operation-by-operation walk, and a step of 2^37 micro-batches
    priced at once (the walk once listed 2 x 2^37 operations: MemoryError in the hostile corpus's round 22)."""
    for p, m in ((4, 4), (4, 8), (4, 12), (4, 64), (8, 24), (8, 96)):
        for stage in range(p):
            listed = torch_schedule_operations(stage, p, m, v)
            walked = [op for op in _torch_schedule_walk(stage, p, m, v, skip=True)]
            skipped = sum(k for b, k in walked if b is None)
            assert len([op for op in walked if op[0] is not None]) + 2 * v * skipped == len(listed)
    schedule = ["training.pipeline_schedule=interleaved", f"training.virtual_stages={v}"] if v > 1 else []
    small = _scenario(*_GPT2_PP4, "training.pipeline_runtime=torch", *schedule)
    huge = _scenario(*_GPT2_PP4[:1], "training.micro_batch=4", "training.global_batch=8796093022208",
                     "training.pipeline_runtime=torch", *schedule)  # fmt: skip
    boundary = 2 * 4 * 1024 * 1600
    m, p = huge.accumulation_steps, 4
    assert m == 2**37
    if v == 1:  # 1F1B: stage r > 0 keeps m - (p - r) at its last steady backward, the activations' peak unchanged
        assert [pipeline_input_gradients(huge, r) for r in range(p)] == pytest.approx(
            [0.0] + [boundary * (m - (p - r)) for r in range(1, p)], rel=1e-12
        )
    for r in range(p):  # both walks agree on the bundled size
        ops = torch_schedule_operations(r, p, small.accumulation_steps, v)
        assert len(ops) == 2 * small.accumulation_steps * v
        assert pipeline_input_gradients(huge, r) >= pipeline_input_gradients(small, r)
