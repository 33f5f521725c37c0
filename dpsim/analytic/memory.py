"""Memory per device: model states (ZeRO), activations, communication buffers; who runs out.

Model states follow Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training
Trillion Parameter Models" (SC'20), §3 and Figure 1: with mixed precision, Ψ parameters
take 2Ψ (16-bit weights) + 2Ψ (16-bit gradients) + KΨ optimizer states (fp32 master
weights, and fp32 moments), K = 12 for Adam. ZeRO stage 1 partitions the optimizer states
over the N_d data-parallel ranks (4Ψ + KΨ/N_d), stage 2 also the gradients
(2Ψ + (2+K)Ψ/N_d), stage 3 also the weights ((4+K)Ψ/N_d).

Tensor (t) and pipeline (p) parallelism shard the parameters before ZeRO does: a device
holds the parameters of its stage's layers divided by t (Megatron-LM, Shoeybi et al. 2019;
the first stage also holds the token embedding, the last the output head).

Activations follow Korthikanti et al. 2022, "Reducing Activation Recomputation in Large
Transformer Models" (MLSys'23), §4, Table 2: per layer and micro-batch, in bytes with 16-bit
activations, s·b·h·(34 + 5·a·s/h) without parallelism; s·b·h·(10 + 24/t + 5·a·s/(h·t)) with
t-way tensor parallelism; s·b·h·(34/t + 5·a·s/(h·t)) with sequence parallelism too;
selective recomputation drops the 5·a·s/h attention term; full recomputation keeps only
the 2·s·b·h layer input (2·s·b·h/t when the checkpoints are distributed over the TP ranks,
Megatron-LM's distribute-saved-activations). The pipeline schedule sets how many micro-batches a stage holds
at once (§4.2.3): 1F1B keeps p − i in flight on stage i (so the first stage holds p
micro-batches of L/p layers, i.e. L layers' worth), GPipe all m, interleaved 1F1B with
v chunks (p−i−1)·2 + (v−1)·p + 1 chunk-micro-batches (Megatron-LM's warm-up count; the
first stage holds L·(1 + (p−1)/(p·v)) layers' worth, Korthikanti et al. eq. in §4.2.3).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from dpsim.analytic.parallel import stage_boundary_bytes
from dpsim.compute import chunk_layers, loss_peak_bytes
from dpsim.scenario import Scenario
from dpsim.sharding import float8_weight_copy_bytes, gathered_layer_width, torch_zero_partition
from dpsim.units import dtype_bytes, working_bytes, working_dtype

__all__ = [
    "FP8_WEIGHT_COPY_BYTES",
    "MemoryBreakdown",
    "activation_bytes_per_layer",
    "autocast_cast_parameters",
    "autocast_weight_copies",
    "chunk_layers",
    "in_flight_chunk_microbatches",
    "in_flight_layers",
    "in_flight_microbatches",
    "memory_breakdown",
    "model_state_parts",
    "optimizer_bytes_per_param",
    "pipeline_input_gradients",
    "pipeline_stage_buffers",
    "pipeline_walk_adjustment",
    "recompute_working_set",
    "sequence_parallel_gathered_gradient",
    "sequence_parallel_staging_copy",
    "stage_parameters",
    "stage_root_parameters",
    "torch_schedule_operations",
    "zero3_recompute_regathered_parameters",
    "zero3_recompute_released",
    "zero_model_states",
]

_OPTIMIZERS = ("adam", "adamw", "sgd", "momentum")
OPTIMIZER_MOMENTS = {"adam": 2, "adamw": 2, "momentum": 1, "sgd": 0}
"""State tensors an optimizer keeps per parameter beside any master copy: Adam's m and v, SGD's momentum buffer."""
_PRECISIONS = ("fp8", "bf16", "fp16", "fp32")


def optimizer_bytes_per_param(optimizer: str = "adam", precision: str = "bf16") -> float:
    """K: optimizer-state bytes per parameter (the ZeRO paper's K; fp32 master copy included).

    Mixed precision (bf16/fp16) keeps an fp32 master copy (4 bytes) plus fp32 moments:
    Adam/AdamW m and v (8) → K = 12 (ZeRO §3.1), momentum SGD one buffer (4) → K = 8,
    plain SGD none → K = 4. In fp32 the weights themselves are the master copy: Adam K = 8,
    momentum K = 4, SGD K = 0.
    """
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r} (known: {', '.join(_OPTIMIZERS)})")
    if precision not in _PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (known: {', '.join(_PRECISIONS)})")
    moments = OPTIMIZER_MOMENTS[optimizer] * FP32_BYTES  # fp32 moments
    master = 0.0 if precision == "fp32" else FP32_BYTES
    return master + moments


FP32_BYTES = float(dtype_bytes("fp32"))
"""An fp32 master weight, moment or gradient copy."""
FP8_WEIGHT_COPY_BYTES = 2.0 * dtype_bytes("fp8")
"""FP8 training keeps an FP8 copy of every weight and of its transpose (1 byte each): Transformer
Engine caches both because Hopper's FP8 GEMMs take only the TN layout."""


def model_state_parts(
    params: float,
    n_d: int,
    stage: int,
    optimizer: str = "adam",
    precision: str = "bf16",
    *,
    flavour: str = "zero",
    gradient_bytes: float | None = None,
    shard_group: int | None = None,
    unsharded_gradients: bool = False,
    fp32_gradient_copy: bool = False,
    owned: float | None = None,
    fp8_weight_copies: bool = True,
    state_bytes: float = FP32_BYTES,
    unsharded_weights: float | None = None,
) -> tuple[float, float, float]:
    """(weights, gradients, optimizer states) bytes on one rank, as each framework keeps them.

    - ``zero`` (DeepSpeed, Rajbhandari et al. 2020 §3): 16-bit weights and gradients, K bytes of
      optimizer state (fp32 master included); stage 1 shards the states over N_d, stage 2 also the
      gradients, stage 3 also the weights: 4 + 12/N, 2 + 14/N, 16/N for Adam.
    - ``megatron`` (Megatron-LM's distributed optimizer, docs/source/distrib_optimizer.md, the
      "bf16 param, fp32 grads" row): 16-bit weights and a full gradient buffer (fp32 main_grad,
      reduce-scattered in place), fp32 master weights and moments sharded: 6 + 12/N (4 + 16/N with
      16-bit gradients).
    - ``fsdp`` (PyTorch FSDP with MixedPrecision, Zhao et al. 2023 §3): the sharded flat parameter is
      the fp32 master, its gradient fp32 and sharded, Adam's moments sharded: 16/N for Adam, over
      the shard group (HYBRID_SHARD) or all N_d ranks; stage 2 (SHARD_GRAD_OP) also keeps the
      unsharded 16-bit parameters from forward to backward (+2Ψ); stage 3 (FULL_SHARD) frees them
      after each unit (its gathered units are buffers). Under ``no_sync`` with gradient accumulation
      (``unsharded_gradients``) it also keeps the full unsharded gradient (``gradient_bytes`` wide,
      default the 16-bit compute dtype) from the first micro-batch to the last one's reduce-scatter.
    - ``torch`` (PyTorch's ``ZeroRedundancyOptimizer`` over DDP under autocast): the fp32 parameters are the
      master copy and their gradients are fp32 (``gradient_bytes``), both full on every rank; the optimizer's
      moments only for the ``owned`` parameters (whole tensors dealt out greedily,
      :func:`dpsim.sharding.torch_zero_partition`; default Ψ/N): 4 + 4 + 8·owned/Ψ for Adam.

    ``gradient_bytes`` is the gradient buffer's width (default 16-bit, fp32 in fp32 training).
    ``fp32_gradient_copy`` (``zero``): DeepSpeed's ``BF16_Optimizer``
    (:attr:`dpsim.scenario.Scenario.deepspeed_bf16_optimizer`) also keeps the rank's whole gradient in fp32,
    4 bytes a parameter unsharded, beside the 16-bit one: 8 + 12/N for Adam at its stage 1.
    FP8 adds the FP8 weight copies (:data:`FP8_WEIGHT_COPY_BYTES`), sharded like the weights, unless
    ``fp8_weight_copies`` is false: torchao's ``Float8Linear`` (``model.fp8_linear: torchao_tensorwise``) keeps none,
    it casts each weight in every forward (``float8_linear.py`` at eab345c, ``cast_weight_to_float8_t``), and under
    FSDP's float8 all-gather, as torchtitan runs it, the cast weight is the all-gather's own buffer.
    ``state_bytes`` below 4 (``megatron``; ``training.optimizer_state_dtype: bf16``, apex's DistributedFusedAdam
    with NeMo's ``optim.dtype: bf16``): the moments at that width, no master copy and no fp32 gradient shard:
    4/N for Adam. ``unsharded_weights`` (``fsdp`` at stage 2): the bytes of the unsharded parameters SHARD_GRAD_OP
    keeps where they are not the 16-bit width × ``params`` (FSDP's float8 all-gather keeps the gathered float8
    linear weights: :func:`dpsim.sharding.parameter_gather_bytes`).
    """
    if stage not in (0, 1, 2, 3):
        raise ValueError(f"ZeRO stage must be 0..3, got {stage}")
    if n_d < 1:
        raise ValueError(f"data-parallel ranks must be >= 1, got {n_d}")
    width = float(working_bytes(precision))
    grad = width if gradient_bytes is None else float(gradient_bytes)
    k = optimizer_bytes_per_param(optimizer, working_dtype(precision))
    fp8 = FP8_WEIGHT_COPY_BYTES if precision == "fp8" and fp8_weight_copies else 0.0
    if flavour == "zero":
        weights = (width + fp8) * params / (n_d if stage >= 3 else 1)
        grads = grad * params / (n_d if stage >= 2 else 1) + (FP32_BYTES * params if fp32_gradient_copy else 0.0)
        states = k * params / (n_d if stage >= 1 else 1)
    elif flavour == "megatron":
        # 16-bit gradients need an fp32 copy of the rank's shard for the update (the docs' 4 + 16/N)
        main_grad_shard = FP32_BYTES if grad < FP32_BYTES else 0.0
        weights, grads, states = (width + fp8) * params, grad * params, (k + main_grad_shard) * params / n_d
        if state_bytes < FP32_BYTES:  # apex DistributedFusedAdam, store_params False: the bf16 weights updated
            states = OPTIMIZER_MOMENTS[optimizer] * state_bytes * params / n_d
    elif flavour == "fsdp":
        n = shard_group or n_d
        master = FP32_BYTES if precision != "fp32" else 0.0  # the sharded fp32 parameter is the master copy
        unsharded = (width + fp8) * params if unsharded_weights is None else unsharded_weights + fp8 * params
        weights = FP32_BYTES * params / n + (unsharded if stage == 2 else fp8 * params / n)
        grads = FP32_BYTES * params / n + (grad * params if unsharded_gradients else 0.0)
        states = (k - master) * params / n
    elif flavour == "torch":
        master = FP32_BYTES if precision != "fp32" else 0.0  # autocast: the fp32 parameters are the master copy
        mine = params / n_d if owned is None else owned
        weights, grads, states = (
            (FP32_BYTES + fp8) * params,
            grad * params,
            (k - master) * (mine if stage >= 1 else params),
        )
    else:
        raise ValueError(f"unknown optimizer flavour {flavour!r} (known: zero, megatron, fsdp, torch)")
    return weights, grads, states


def _zero_parts(params: float, n_d: int, stage: int, optimizer: str, precision: str) -> tuple[float, float, float]:
    """(weights, gradients, optimizer states) bytes on one rank under DeepSpeed ZeRO ``stage``."""
    return model_state_parts(params, n_d, stage, optimizer, precision)


def zero_model_states(params: float, n_d: int, stage: int, optimizer: str = "adam", precision: str = "bf16") -> float:
    """Model-state bytes per rank (weights + gradients + optimizer states) under ZeRO.

    Rajbhandari et al. 2020, §3/Fig. 1 for mixed-precision Adam (K = 12): stage 0 16Ψ,
    stage 1 4Ψ + 12Ψ/N_d, stage 2 2Ψ + 14Ψ/N_d, stage 3 16Ψ/N_d. Other optimizers and fp32
    change the per-parameter widths (:func:`optimizer_bytes_per_param`).
    """
    return sum(_zero_parts(params, n_d, stage, optimizer, precision))


def stage_parameters(scenario: Scenario) -> list[float]:
    """Parameters held by one device of each pipeline stage (after tensor-parallel sharding).

    Transformers: the stage's L/p layers (non-embedding parameters spread evenly over layers),
    plus the token/position embedding on the first stage and the output head on the last
    (tied embeddings: Megatron keeps a copy on the last stage too; Narayanan et al. 2021 §2),
    all divided by t (Megatron shards attention heads, MLP columns and the vocabulary).
    Other models: Ψ/(t·p) everywhere.
    """
    return [layers + outside for layers, outside in _stage_split(scenario)]


def stage_root_parameters(scenario: Scenario) -> list[float]:
    """Parameters outside the transformer layers held by one device of each pipeline stage.

    The token/position embedding (first stage) and the output head (last stage), divided by t: what
    FSDP's per-layer wrapping (``transformer_auto_wrap_policy``; FSDP2 ``fully_shard`` on each block,
    then on the model) leaves to the root unit (:func:`dpsim.sharding.step_traffic`). 0 for other models.
    """
    return [outside for _, outside in _stage_split(scenario)]


def _stage_split(scenario: Scenario) -> list[tuple[float, float]]:
    """(transformer-layer parameters, parameters outside the layers) on one device of each stage."""
    m, t = scenario.model, scenario.training
    tp, pp = t.tensor_parallel, t.pipeline_parallel
    total = m.num_parameters
    if m.kind != "transformer":
        return [(total / (tp * pp), 0.0)] * pp
    embed_in = float(m.vocab * m.hidden + (m.seq_len * m.hidden if m.learned_positions else 0))
    head = float(m.vocab * m.hidden)
    body = total - m.embedding_parameters
    layers = chunk_layers(scenario)
    out: list[tuple[float, float]] = []
    for stage in range(pp):
        outside = 0.0
        if stage == 0:
            outside += embed_in
        if stage == pp - 1:
            outside += head if (pp > 1 or not m.tied_embeddings) else 0.0
        out.append((body * sum(layers[stage]) / m.layers / tp, outside / tp))
    return out


def activation_bytes_per_layer(
    seq_len: int,
    micro_batch: int,
    hidden: int,
    heads: int,
    *,
    tensor_parallel: int = 1,
    sequence_parallel: bool = False,
    recomputation: str = "none",
    distributed_checkpoints: bool = False,
    kv_heads: int = 0,
    ffn_hidden: int = 0,
    gated_mlp: bool = False,
    dropout: bool = True,
    attention: str = "standard",
    fp8: bool = False,
    eager_elementwise: bool = False,
    gathered_linear_inputs: bool = False,
) -> float:
    """Bytes of activations one transformer layer stores for backward, per micro-batch.

    Korthikanti et al. 2022 §4.1 (16-bit activations, 1-byte dropout masks), per layer:
    attention 11·s·b·h + 5·a·s²·b, MLP 19·s·b·h, two LayerNorms 4·s·b·h → s·b·h·(34 + 5as/h).
    Of the s·b·h terms 10 stay replicated under tensor parallelism (LayerNorm inputs, the
    inputs of the first linear of attention and MLP, two dropout masks) and 24 are sharded,
    as is the 5·a·s²·b attention term: s·b·h·(10 + 24/t + 5as/(ht)) (Table 2). Sequence
    parallelism shards the 10 as well: s·b·h·(34/t + 5as/(ht)). Selective recomputation
    recomputes the attention core and drops 5as/(ht). Full recomputation stores only the
    layer input, 2·s·b·h (2·s·b·h/t with sequence parallelism, which keeps the input sharded,
    or with ``distributed_checkpoints``: Megatron-LM's distribute-saved-activations and
    metaseq's --distribute-checkpointed-activations keep 1/t of the checkpoint on each TP rank).

    Generalised so that it reduces to the paper's 34 for GPT (f = 4h, no GQA): the K and V
    tensors scale with kv_heads/heads (grouped-query attention), the MLP's 16·s·b·h of
    sharded intermediates is 4·f/h (two f-wide tensors of 2 bytes) or 6·f/h for a gated MLP
    (gate, up and their product). Without dropout (Llama) the two 1-byte dropout masks of
    the replicated part and the attention-dropout mask and output go: 8 instead of 10, and
    2·a·s²·b (the softmax output) instead of 5·a·s²·b. Flash attention (Dao et al. 2022 §3.1)
    stores no s×s scores, only the fp32 log-sum-exp per row and head (4·a·s·b/t bytes), like
    selective recomputation without its recompute. In FP8 training the inputs of the four
    linear layers are saved in FP8 for the weight-gradient GEMMs (Transformer Engine), 1 byte
    instead of 2: QKV and MLP inputs (replicated), attention-output input, MLP-down input.
    ``eager_elementwise`` (``model.elementwise: eager``, PyTorch eager's op-by-op RMSNorm and SwiGLU): each
    norm's autograd keeps its fp32 copy ``x.float()`` (for ``pow`` and ``xf * rstd``) and the cast output (for
    the weight's gradient) instead of the 2-byte input: 4 bytes an element more a norm, 8·s·b·h a layer
    (replicated); the gated MLP keeps ``silu(gate)`` beside gate and up (for the product's gradient): 2·f/h more.
    ``gathered_linear_inputs`` (``training.sequence_parallel_kind: dtensor``, torch DTensor's sequence parallelism): the
    QKV and MLP inputs are kept as the all-gathered tensors their linears read, whole on every TP rank, where
    Megatron keeps the 1/t shard and gathers it again in the backward; the norm inputs and masks stay sharded.
    """
    s, b, h, a = float(seq_len), float(micro_batch), float(hidden), float(heads)
    t = float(tensor_parallel)
    sbh = s * b * h
    if recomputation == "full":
        return 2.0 * sbh / (t if sequence_parallel or distributed_checkpoints else 1.0)
    if recomputation == "op":
        # torchtitan's op SAC: the layer input, wq's and wv's outputs, the attention output and its fp32
        # log-sum-exp, w1's and w2's outputs, at 2 bytes. Under TP with DTensor's sequence parallelism (compiled) each
        # is 1/t: the input and wo's reduce-scattered output (saved: the residual sum the MLP's norm reads is rebuilt
        # from it) on the sequence shard, wq, wv, attention, w1 on this rank's heads and columns; the gathered norm
        # outputs are gathered again (not saved) and w2's output, which only its reduce-scatter reads, is not kept
        # by the partitioner (nothing in the backward reads it or the scatter's output)
        f_op = float(ffn_hidden or 4 * hidden)
        kv_op = (kv_heads or heads) / heads
        return (sbh * 2.0 * (4.0 + kv_op + f_op / h) + 4.0 * a * s * b) / t
    if recomputation not in ("none", "selective"):
        raise ValueError(f"unknown activation recomputation {recomputation!r}")
    kv_ratio = (kv_heads or heads) / heads
    f = float(ffn_hidden or 4 * hidden)
    linear_in = float(dtype_bytes("fp8" if fp8 else "bf16"))
    # LN inputs 4, QKV input, MLP input, two dropout masks 2
    replicated = 4.0 + 2.0 * linear_in + (2.0 if dropout else 0.0) + (8.0 if eager_elementwise else 0.0)
    attention_sharded = 2.0 + 2.0 * kv_ratio + 2.0 * kv_ratio + linear_in  # Q, K, V, output-projection input
    # up-projection output(s) 2 bytes each, activation output (the down-projection input)
    mlp_sharded = ((4.0 if gated_mlp else 2.0) + (2.0 if gated_mlp and eager_elementwise else 0.0) + linear_in) * f / h
    per_sbh = (replicated / t if sequence_parallel else replicated) + (attention_sharded + mlp_sharded) / t
    if sequence_parallel and gathered_linear_inputs:  # the QKV and MLP inputs whole, not 1/t
        per_sbh += 2.0 * linear_in * (1.0 - 1.0 / t)
    # softmax output 2, its dropout mask 1 and dropout output 2 (bytes per score element)
    if attention == "flash":
        return sbh * per_sbh + 4.0 * a * s * b / t
    score = 0.0 if recomputation == "selective" else (5.0 if dropout else 2.0) * a * s / (h * t)
    return sbh * (per_sbh + score)


def in_flight_microbatches(stage: int, p: int, m: int, schedule: str = "1f1b", v: int = 1) -> float:
    """Micro-batches whose activations pipeline stage ``stage`` (0-based) holds at its peak.

    In units of the stage's full set of layers (L/p). GPipe: all m (Huang et al. 2019).
    1F1B (PipeDream-Flush, Narayanan et al. 2021 §2.2.1): min(p − stage, m). Interleaved
    1F1B with v chunks: Megatron-LM's warm-up count (p − stage − 1)·2 + (v − 1)·p, plus the
    one in steady state, of chunks of L/(p·v) layers, capped at m·v chunks; on the first
    stage this is (1 + (p−1)/(p·v))·p (Korthikanti et al. 2022 §4.2.3). With p = 1 only
    one micro-batch is alive at a time (gradient accumulation frees each one's activations).
    """
    if p <= 1:
        return 1.0
    if schedule == "gpipe":
        return float(m)
    if schedule == "interleaved" and v > 1:
        chunks = min((p - stage - 1) * 2 + (v - 1) * p + 1, m * v)
        return chunks / v
    if schedule in ("1f1b", "interleaved"):
        return float(min(p - stage, m))
    raise ValueError(f"unknown pipeline schedule {schedule!r}")


def in_flight_layers(scenario: Scenario, stage: int) -> float:
    """Layer-micro-batches whose activations ``stage`` holds at its peak.

    :func:`in_flight_microbatches` counts micro-batches of the whole stage; with interleaving the
    warm-up runs chunk by chunk in groups of p micro-batches (Megatron-LM's schedule: forward
    step j runs chunk (j // p) mod v), so the chunks held are known one by one and a chunk that
    holds fewer layers (the embedding or the output slot) holds fewer activations.
    """
    t = scenario.training
    p, m = t.pipeline_parallel, scenario.accumulation_steps
    layers = chunk_layers(scenario)[stage]
    v = len(layers)
    flights = in_flight_microbatches(stage, p, m, t.pipeline_schedule, t.virtual_stages)
    if v == 1:
        return flights * layers[0]
    held = round(flights * v)
    return float(sum(layers[(j // p) % v] for j in range(held)))


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes on the most loaded device, by kind; capacity; whether it runs out, and where.

    The breakdown is that of the worst device (all tensor- and data-parallel ranks of a
    pipeline stage hold the same; stages differ). ``stage_totals`` gives every stage.
    """

    weights: float
    gradients: float
    optimizer_states: float
    activations: float
    buffers: float
    total: float
    capacity: float
    oom: bool
    worst_device: int
    """Global rank of the first device of the worst stage (ranks ordered TP fastest, then DP, then PP)."""
    worst_stage: int
    stage_totals: tuple[float, ...]
    reserve: float = 0.0
    """Kept back for allocator fragmentation and the CUDA context (``training.memory_reserve``)."""

    @property
    def headroom(self) -> float:
        """Capacity minus total (negative when out of memory)."""
        return self.capacity - self.total

    @property
    def over_by(self) -> float:
        """Bytes beyond capacity (0 when it fits)."""
        return max(0.0, self.total - self.capacity)

    @property
    def model_states(self) -> float:
        return self.weights + self.gradients + self.optimizer_states

    def describe(self) -> str:
        """One line: fits / out of memory on which device, by how much."""
        gb = 1e9
        if self.oom:
            return (
                f"out of memory on device {self.worst_device} (pipeline stage {self.worst_stage}): "
                f"needs {self.total / gb:.2f} GB of {self.capacity / gb:.2f} GB, over by {self.over_by / gb:.2f} GB"
            )
        return f"fits: {self.total / gb:.2f} GB of {self.capacity / gb:.2f} GB on the most loaded device"


def _layer_activations(scenario: Scenario, recomputation: str) -> float:
    m, t = scenario.model, scenario.training
    per_layer = activation_bytes_per_layer(
        m.seq_len,
        t.micro_batch,
        m.hidden,
        m.heads,
        tensor_parallel=t.tensor_parallel,
        sequence_parallel=t.sequence_parallel,
        recomputation=recomputation,
        distributed_checkpoints=t.distribute_checkpointed_activations,
        kv_heads=m.kv_heads,
        ffn_hidden=m.ffn_hidden,
        gated_mlp=m.gated_mlp,
        dropout=m.dropout,
        attention=m.attention,
        fp8=t.precision == "fp8",
        eager_elementwise=m.elementwise == "eager",
        gathered_linear_inputs=t.sequence_parallel_kind == "dtensor",
    )
    if t.precision == "fp32":
        per_layer *= dtype_bytes("fp32") / dtype_bytes("bf16")  # the paper counts 2-byte activations (masks aside)
    elif t.autocast and recomputation != "full":
        # training.autocast: the two norms keep their fp32 input (the residual stream), 4 bytes where the paper
        # counts 2 (their 16-bit outputs, cast for the GEMMs, are the GEMMs' saved inputs, already counted)
        shard = t.tensor_parallel if t.sequence_parallel else 1
        per_layer += 2.0 * (dtype_bytes("fp32") - dtype_bytes("bf16")) * m.seq_len * t.micro_batch * m.hidden / shard
    return per_layer


def recompute_working_set(scenario: Scenario) -> float:
    """Bytes a recomputing backward pass re-materialises at once: one layer, one micro-batch.

    Full recomputation rebuilds the whole layer's activations before its backward (the stored
    input alone is what :func:`activation_bytes_per_layer` counts, and the stored input serves the
    rebuilt layer, except when distributed over the TP ranks); selective recomputation
    rebuilds the attention scores of one layer (Korthikanti et al. 2022 §5).
    """
    mode = scenario.training.activation_recomputation
    if scenario.model.kind != "transformer" or mode == "none":
        return 0.0
    if mode == "full" and scenario.training.distribute_checkpointed_activations:
        # the input is all-gathered into a new buffer beside the layer's stored shard, which stays
        # saved until the layer's backward ends: the whole layer comes on top of the stored shards
        return _layer_activations(scenario, "none")
    return _layer_activations(scenario, "none") - _layer_activations(scenario, mode)


def sequence_parallel_staging_copy(scenario: Scenario) -> float:
    """Bytes of the copy torch's functional collectives make beside a sequence-parallel gather or scatter under
    ``training.sequence_parallel_kind: dtensor``: one full-length s·b·h tensor at the working width.

    torchtitan's activations are [b, s, h], sharded on the sequence (``Shard(1)``), and NCCL gathers and scatters
    along dim 0 only. ``all_gather_tensor`` (``torch/distributed/_functional_collectives.py``, as the Dec 2024 rows'
    torch 1963fc8 has it) gathers into a full-length dim-0 buffer and copies that into the [b, s, h] result,
    ``torch.cat(torch.chunk(res, group_size, dim=0), dim=gather_dim)``; ``reduce_scatter_tensor`` copies its
    full-length input into dim-0 order, ``torch.cat(torch.chunk(self, group_size, dim=scatter_dim))``, before
    reducing: either way two full-length tensors are alive where the result (or the input) is one. (Torch 2.13
    still copies before every such reduce-scatter, ``_chunk_or_narrow_cat``; its gathers skip the copy when the
    local batch is 1, ``_maybe_view_chunk_cat``.) A layer's backward begins with such a gather (the row-parallel
    output's gradient, ``Shard(1)`` to ``Replicate()``) while the layer's activations are all alive.

    0 for Megatron-LM ([s, b, h]: it gathers and scatters along dim 0 into its own buffers), and under torch's
    AsyncTP (``tp_overlap_kind: torch_async_tp``), which rewrites the gathers and the matmul-fed scatters into
    ``fused_all_gather_matmul`` / ``fused_matmul_reduce_scatter`` (``torch/distributed/_symmetric_memory``): they
    gather into the result directly (``A_flat``), compute the scatter's partials into one full-length
    ``stacked_partials`` (where the plain matmul's output was) and stage one shard in the group's workspace
    (``get_symm_mem_workspace``), which ``CUDASymmetricMemoryAllocator::alloc`` maps with ``cuMemCreate``,
    outside the caching allocator whose peak torchtitan logs. AsyncTP's unfused input-gradient reduce-scatters
    still copy, later in the layer's backward, once its MLP activations are freed.
    """
    m, t = scenario.model, scenario.training
    if m.kind != "transformer" or t.tensor_parallel <= 1 or not t.sequence_parallel:
        return 0.0
    if t.sequence_parallel_kind != "dtensor" or (t.tp_comm_overlap and t.tp_overlap_kind == "torch_async_tp"):
        return 0.0
    return float(working_bytes(t.precision)) * m.seq_len * t.micro_batch * m.hidden


def sequence_parallel_gathered_gradient(scenario: Scenario) -> float:
    """Bytes of the full-length output gradient a sequence-parallel layer's backward gathers first: one s·b·h tensor
    at the working width, on every TP rank, under every ``sequence_parallel_kind``.

    The layer's row-parallel output (the MLP's down projection, last in the forward, so first in the backward)
    reached the sequence-sharded residual stream through a reduce-scatter, whose backward all-gathers the 1/t
    gradient shard into a new full-length tensor that the projection's data- and weight-gradient GEMMs read: Megatron-LM
    ``_ReduceScatterToSequenceParallelRegion.backward`` -> ``_gather_along_first_dim`` (``torch.empty(dim_size)``,
    not the global ``"mpu"`` buffer: ``use_global_buffer`` is False there; ``megatron/core/tensor_parallel/
    mappings.py`` at 00caa53, the same in ``megatron/mpu/mappings.py`` of 2022); torch DTensor's ``Shard(1)`` to
    ``Replicate()`` redistribute (the ``torch.cat`` result of ``all_gather_tensor``, beside which
    :func:`sequence_parallel_staging_copy` counts the dim-0 buffer); under torch's AsyncTP
    ``fused_all_gather_matmul`` gathers it into ``A_flat`` (``A_shard_flat.new_empty``, the caching allocator,
    ``torch/distributed/_symmetric_memory``). It is alive from the gather until the projection's backward ends, while
    that layer's activations (the rebuilt layer under full recomputation) are all alive. Without sequence
    parallelism the all-reduced output's gradient is the residual stream's own gradient (no gather, no new tensor).

    Not counted beside it: the residual stream's gradient itself (s·b·h/t here, s·b·h without sequence parallelism,
    at every TP degree, counted nowhere), and the projection's input gradient (s·b·f/t) that its data-gradient GEMM
    writes while the gathered tensor is alive, in a moment of its own after :func:`sequence_parallel_staging_copy`'s
    dim-0 buffer is freed. 0 without tensor parallelism, without ``sequence_parallel``, or for a model other than a
    transformer.
    """
    m, t = scenario.model, scenario.training
    if m.kind != "transformer" or t.tensor_parallel <= 1 or not t.sequence_parallel:
        return 0.0
    return float(working_bytes(t.precision)) * m.seq_len * t.micro_batch * m.hidden


def in_flight_chunk_microbatches(scenario: Scenario, stage: int) -> list[int]:
    """Micro-batches each model chunk of ``stage`` holds in flight at its peak (:func:`in_flight_layers`' count,
    chunk by chunk: the interleaved warm-up runs chunk (j // p) mod v at its j-th forward)."""
    t = scenario.training
    p, m = t.pipeline_parallel, scenario.accumulation_steps
    v = len(chunk_layers(scenario)[stage])
    flights = in_flight_microbatches(stage, p, m, t.pipeline_schedule, t.virtual_stages)
    if v == 1:
        return [round(flights)]
    counts = [0] * v
    for j in range(round(flights * v)):
        counts[(j // p) % v] += 1
    return counts


def pipeline_stage_buffers(scenario: Scenario, stage: int) -> float:
    """Bytes ``torch.distributed.pipelining`` keeps on a device of ``stage`` beside its layers' activations at the
    activation peak (``training.pipeline_runtime: torch``; 0 under ``megatron`` or without pipeline parallelism).

    Read in ``torch/distributed/pipelining/stage.py`` (torch 2.6, the torchtitan runs of Dec 2024; the same in torch
    2.13): ``_prepare_forward_infra`` makes one receive buffer per micro-batch for the stage's input
    (``_make_tensor_from_meta`` in a loop over ``num_microbatches``, every stage but the first) and
    ``_prepare_backward_infra`` one per micro-batch for its output's gradient (``_create_grad_recv_info``, every stage
    but the last); they are made once and kept from step to step. ``forward_one_chunk`` keeps each micro-batch's
    output in ``fwd_cache`` until its ``backward_one_chunk`` (and, until pytorch#153383 of May 2025, in
    ``output_chunks`` to the end of the step on every stage). A received activation is the tensor the chunk's first
    layer saves, so the in-flight ones are already counted with the layers (:func:`in_flight_layers`). So each model
    chunk g of the stage (:func:`in_flight_chunk_microbatches`: n of its m micro-batches in flight at the peak, the
    first backward, before any input gradient is written) adds, in stage-boundary tensors: m − n idle activation
    buffers unless g is the first chunk of the model, and n outputs plus m gradient buffers unless g is the last (the
    last chunk's output is the logits, counted with the loss). A boundary tensor is the residual stream of one
    micro-batch, micro_batch · seq_len · hidden at the working width, 1/t of it under sequence parallelism (the
    sequence shard a torchtitan block returns).
    """
    t = scenario.training
    p = t.pipeline_parallel
    if t.pipeline_runtime != "torch" or p <= 1:
        return 0.0
    micro_batches = scenario.accumulation_steps
    chunks = in_flight_chunk_microbatches(scenario, stage)
    tensors = 0
    for chunk, held in enumerate(chunks):
        g = chunk * p + stage
        if g > 0:
            tensors += micro_batches - held
        if g < p * len(chunks) - 1:
            tensors += held + micro_batches
    return stage_boundary_bytes(scenario) * tensors


def torch_schedule_operations(stage: int, p: int, m: int, v: int = 1) -> list[tuple[bool, int]]:
    """The forwards and backwards pipeline rank ``stage`` runs in one step under torch.distributed.pipelining, in
    order: ``(is_backward, local chunk)``, the rank's chunk ``c`` being the model's stage ``c·p + stage``.

    ``Schedule1F1B`` (v = 1): min(m, p − stage) warm-up forwards, then a backward and a forward in turn until the
    forwards run out, then the remaining backwards. ``ScheduleInterleaved1F1B`` (v > 1, ``_calculate_single_rank_
    operations``): rounds of ``m // max(1, m // p)`` micro-batches; min((v − 1) · round + 2 · (p − 1 − stage), m · v)
    warm-up forwards, the k-th on chunk (k // round) mod v; then a forward and a backward in turn, the j-th backward on
    chunk v − 1 − (j // round) mod v; then the remaining backwards. Checked against this torch's own schedule IR
    (``tests/test_memory.py``)."""
    return [op for op in _torch_schedule_walk(stage, p, m, v, skip=False) if op[0] is not None]  # type: ignore[misc]


def _torch_schedule_walk(stage: int, p: int, m: int, v: int, *, skip: bool) -> Iterator[tuple[bool | None, int]]:
    """:func:`torch_schedule_operations` one operation at a time. With ``skip``, whole periods of the steady phase
    between its first and its last are left out and announced as ``(None, k)``: every chunk ran k more forwards
    and k more backwards there. The steady phase repeats with a period of ``round · v`` forward/backward pairs
    (one pair under 1F1B), after which each chunk has run ``round`` forwards and ``round`` backwards, so what a
    rank holds is periodic and only the backwards done grow (the walk over a billion micro-batches stays short)."""
    if v <= 1:
        warm = min(m, p - stage)
        per_round, period = 1, 1
    else:
        per_round = m // max(1, m // p)
        warm = min((v - 1) * per_round + 2 * (p - 1 - stage), m * v)
        period = per_round * v
    total = m * max(v, 1)
    for k in range(warm):
        yield (False, (k // per_round) % v if v > 1 else 0)
    steady = total - warm
    j = 0
    while j < steady:
        if skip and j == period:
            periods = (steady - j) // period - 1
            if periods > 0:
                j += periods * period
                yield (None, periods * per_round)
        if v <= 1:
            yield (True, 0)
            yield (False, 0)
        else:
            yield (False, ((warm + j) // per_round) % v)
            yield (True, v - 1 - (j // per_round) % v)
        j += 1
    for j in range(steady, total):
        yield (True, v - 1 - (j // per_round) % v if v > 1 else 0)


def pipeline_input_gradients(scenario: Scenario, stage: int) -> float:
    """What the stage-input gradients torch's pipelining keeps add to a rank's activation peak
    (``training.pipeline_runtime: torch``; 0 under ``megatron``, on the model's first stage and without pipeline
    parallelism).

    ``stage_backward`` (torch/distributed/pipelining/_backward.py) runs ``torch.autograd.backward`` on the stage's
    outputs, which leaves each input's gradient on the receive buffer the input was read from (a leaf), and returns
    ``val.grad`` for the send: until pytorch#164329 (Oct 2025; torch 2.13 sets ``val.grad = None`` there: 0 under
    ``training.pipeline_releases_input_grads``) nothing released it before ``clear_runtime_states`` at the next
    step, so every micro-batch a chunk has finished its backward for keeps one boundary tensor. Walked over the
    rank's operations (:func:`torch_schedule_operations`): the largest, over its backwards, of the layers'
    activations then held (with the output layer's while the model's last chunk runs its backward) plus the input
    gradients kept so far, less the largest without them; 1F1B's stage r > 0 keeps m − (p − r) of them at its last
    steady-state backward."""
    return _torch_pipeline_walk(scenario, stage, input_gradients=True)


def pipeline_walk_adjustment(scenario: Scenario, stage: int) -> float:
    """What torch's pipelining changes in the rank's peak beside its layers' activations (``training.pipeline_runtime:
    torch``; 0 under ``megatron`` and without pipeline parallelism), walked over the rank's operations
    (:func:`torch_schedule_operations`) with three things the step makes as it goes, where the memory model's sum
    counts the first two from the start and the third not at all:

    - the stage-input gradients kept on the receive buffers (:func:`pipeline_input_gradients`);
    - FSDP2's unsharded gradients under the pipeline's no-sync (:attr:`Scenario.keeps_unsharded_gradients`): its
      post-backward makes each parameter's accumulated gradient at the parameter's first backward
      (``FSDPParam.to_accumulated_grad_if_needed``), so a model chunk's exist only from its first backward on;
      before it the sum's full unsharded gradient overstates the rank (the interleaved schedule's last rank reaches
      its activation peak before its first chunk runs any backward);
    - on the model's last stage the logits torch keeps to the next step
      (:func:`dpsim.analytic.reserved.pipeline_kept_logits`: every micro-batch's output in ``output_chunks``, merged
      with one ``torch.cat`` at the step's end, pytorch#159251): at each backward those of the forwards the last
      chunk has run (the current micro-batch's too, unless its loss saves the logits themselves:
      ``xentropy``, ``inductor``), and at the step's end all of them beside their concatenation.

    The largest, over the rank's backwards and its step's end, of the activations then held (with the output layer's
    while the model's last chunk runs its backward) plus the three, less the largest activations alone and the
    whole unsharded gradient the sum already counts. A backward counts its chunk's gradients from the next
    operation on (the micro-batch's activations go as its layers' gradients come)."""
    return _torch_pipeline_walk(scenario, stage, input_gradients=True, gradients=True, logits=True)


def _torch_pipeline_walk(
    scenario: Scenario, stage: int, *, input_gradients: bool, gradients: bool = False, logits: bool = False
) -> float:
    from dpsim.analytic.reserved import pipeline_kept_logits

    t = scenario.training
    p = t.pipeline_parallel
    if t.pipeline_runtime != "torch" or p <= 1 or scenario.model.kind != "transformer":
        return 0.0
    layers = chunk_layers(scenario)[stage]
    v = len(layers)
    m = scenario.accumulation_steps
    per_layer = _per_layer_activations(scenario)
    last = _output_layer_activations(scenario) if stage == p - 1 else 0.0
    # pytorch#164329: the input gradients freed once sent
    boundary = stage_boundary_bytes(scenario) if input_gradients and not t.pipeline_releases_input_grads else 0.0
    logit = pipeline_kept_logits(scenario, stage) if logits else 0.0
    # the kernels that save the logits tensor itself (:func:`dpsim.compute.loss_saved_bytes`): counted in the loss
    counted = 1 if logit and scenario.model.loss_kernel in ("xentropy", "inductor") else 0
    # each chunk's unsharded gradient (its layers', and the root's on the chunk that runs the root's backward)
    chunk_grads = [0.0] * v
    if gradients and scenario.keeps_unsharded_gradients:
        params, root = stage_parameters(scenario)[stage], stage_root_parameters(scenario)[stage]
        width = float(scenario.gradient_buffer_bytes_per_param)
        per = (params - root) / max(1.0, float(sum(layers)))
        chunk_grads = [width * per * n for n in layers]
        chunk_grads[0 if stage == 0 else v - 1] += width * root
    if not boundary and not logit and not any(chunk_grads):
        return 0.0
    held, done = [0] * v, [0] * v
    forwards = 0  # forwards the model's last chunk has run on this rank (its logits kept)
    without = with_kept = 0.0
    for backward, chunk in _torch_schedule_walk(stage, p, m, v, skip=True):
        if backward is None:  # whole steady periods: what is held repeats, each chunk finished `chunk` more
            done = [d + chunk for d in done]
            forwards += chunk if stage == p - 1 else 0
            continue
        if not backward:
            held[chunk] += 1
            forwards += 1 if stage == p - 1 and chunk == v - 1 else 0
            continue
        loss = chunk == v - 1
        acts = per_layer * sum(n * h for n, h in zip(layers, held, strict=True)) + (last if loss else 0.0)
        kept = boundary * sum(done[c] for c in range(v) if c * p + stage > 0)
        kept += logit * (forwards - (counted if loss else 0))
        kept += sum(g for g, d in zip(chunk_grads, done, strict=True) if d > 0)
        without, with_kept = max(without, acts), max(with_kept, acts + kept)
        held[chunk] -= 1
        done[chunk] += 1
    # the step's end: no activation left; every gradient, input gradient and output chunk, and their concatenation
    ended = boundary * sum(m for c in range(v) if c * p + stage > 0) + sum(chunk_grads) + 2.0 * m * logit
    with_kept = max(with_kept, ended)
    return with_kept - without - sum(chunk_grads)


def _activations(scenario: Scenario, stage: int) -> float:
    m, t = scenario.model, scenario.training
    if m.kind != "transformer":
        # Non-transformer activations are not modelled beyond the layer outputs of an MLP
        # (b·hidden per layer, input and output, at the training precision).
        width = float(working_bytes(t.precision))
        return 2.0 * m.layers * t.micro_batch * m.hidden * width
    p = t.pipeline_parallel
    acts = _per_layer_activations(scenario) * in_flight_layers(scenario, stage) + recompute_working_set(scenario)
    if stage == p - 1:
        acts += _output_layer_activations(scenario)
    return acts


def _per_layer_activations(scenario: Scenario) -> float:
    """Bytes a transformer layer keeps for one micro-batch's backward (the checkpointed share blended with the rest
    under ``recompute_layer_interval``)."""
    t = scenario.training
    per_layer = _layer_activations(scenario, t.activation_recomputation)
    share = scenario.recomputed_layer_share
    if share < 1.0:  # recompute_layer_interval: the layers not checkpointed keep every activation
        per_layer = share * per_layer + (1.0 - share) * _layer_activations(scenario, "none")
    return per_layer


def _output_layer_activations(scenario: Scenario) -> float:
    """Bytes the last stage's output layer and loss hold for one micro-batch at their peak.

    Final LayerNorm input, projection input and what the loss holds a logit element at its peak (fp32 logits in
    Megatron: 4·s·b·h/t · (1 + v/h), Korthikanti et al. 2022, §4.3; model.loss_kernel). Under training.autocast the
    norm's input is the fp32 residual stream: 4 + 2 bytes an element. Under training.sequence_parallel_kind: dtensor
    the projection's 2-byte input is the whole all-gathered s·b·h (DTensor's ColwiseParallel with
    input_layouts=Shard(1)), t times its shard."""
    m, t = scenario.model, scenario.training
    s, b, h = float(m.seq_len), float(t.micro_batch), float(m.hidden)
    logit = loss_peak_bytes(m.loss_kernel, float(working_bytes(t.precision)))
    norm = 6.0 if t.autocast and t.precision != "fp32" else 4.0
    if m.elementwise == "eager":
        # model.elementwise: eager runs the final norm op by op too (torchtitan's RMSNorm at 9dec370, Meta's
        # llama/model.py): its autograd keeps the fp32 copy x.float() and the cast output, 4 + 2 bytes an element
        # where the fused norm's 2-byte input is counted, as in each layer (activation_bytes_per_layer)
        norm += 4.0
    acts = s * b / t.tensor_parallel * (norm * h + logit * m.vocab)
    if t.sequence_parallel and t.sequence_parallel_kind == "dtensor":
        acts += 2.0 * s * b * h * (1.0 - 1.0 / t.tensor_parallel)
    return acts


def autocast_cast_parameters(scenario: Scenario) -> list[float]:
    """``training.autocast``: the parameters on one device of each stage that a GEMM reads, so that autocast casts
    them to 16 bits each forward: all but the learned position embedding and an untied input embedding on the first
    stage (looked up, not multiplied: ``embedding`` is on no autocast list). 0 everywhere without autocast."""
    t, m = scenario.training, scenario.model
    params = stage_parameters(scenario)
    if not t.autocast:
        return [0.0] * len(params)
    lookups = 0.0
    if m.kind == "transformer":
        lookups = (m.seq_len * m.hidden if m.learned_positions else 0) + (
            0 if m.tied_embeddings else m.vocab * m.hidden
        )
    return [p - (lookups / t.tensor_parallel if stage == 0 else 0.0) for stage, p in enumerate(params)]


def autocast_weight_copies(scenario: Scenario, stage: int) -> float:
    """``training.autocast``: the 16-bit copies autocast makes of the weights a stage's GEMMs read (``cached_casts``,
    one a weight and forward, :func:`autocast_cast_parameters`), which autograd saves for the weight's backward GEMM,
    so all of them are alive from the end of the forward until the backward reaches their layer: 2 bytes a
    parameter (fp16 or bf16)."""
    return float(working_bytes(scenario.training.precision)) * autocast_cast_parameters(scenario)[stage]


def _buffers(
    scenario: Scenario, params_on_device: float, root: float = 0.0, last_stage: bool = True, stage: int = 0
) -> float:
    """Communication buffers: DDP gradient buckets, ZeRO-1/2 buckets, ZeRO-3's gathered layers, FSDP's units.

    PyTorch DDP (``zero_stage: 0``; Li et al. 2020, "PyTorch Distributed", §3.2.3): the reducer
    allocates every bucket's flat gradient tensor up front, in the gradients' dtype, and copies each
    gradient into it (``reducer.cpp`` ``initialize_buckets``, ``mark_variable_ready``): a second,
    gradient-sized copy for the whole run, unless ``training.gradient_as_bucket_view`` makes the
    gradients views into the buckets (none). DeepSpeed ZeRO-1/2 allocate their reduce (IPG) buffers whole,
    ``reduce_bucket_size`` 16-bit elements each, two with ``overlap_comm`` (one filling while the other is
    reduced) and one without (``stage_1_and_2.py``, ``backward``); ZeRO-3 one
    (``stage3.py``, ``__ipg_bucket_flat_buffer``) plus the parameters its coordinator holds gathered
    (:func:`zero3_gathered_parameters`). FSDP: :func:`_fsdp_buffers`. Without data parallelism there is no
    buffer, nor DDP unless ``training.ddp_at_one_rank`` says the model is wrapped in it all the same.
    """
    t, m = scenario.training, scenario.model
    if scenario.runs_ddp:  # plain DDP, and DDP under torch's ZeroRedundancyOptimizer (also at one rank)
        return 0.0 if t.gradient_as_bucket_view else params_on_device * scenario.gradient_buffer_bytes_per_param
    if scenario.data_parallel <= 1 or t.optimizer_sharding == "megatron":
        return 0.0  # Megatron's buckets are views into its contiguous gradient buffer
    layers = max(1, m.layers // t.pipeline_parallel) if m.kind == "transformer" else max(1, m.layers)
    if t.optimizer_sharding == "fsdp":
        head = m.vocab * m.hidden / t.tensor_parallel if m.kind == "transformer" and last_stage else 0.0
        return _fsdp_buffers(scenario, (params_on_device - root) / layers, root, head)
    if scenario.deepspeed_bf16_optimizer:  # no IPG buffers; its reduction's bf16 copy: _bf16_reduction_copy
        return 0.0
    ds = scenario.deepspeed
    assert ds is not None  # optimizer_sharding zero, stages 1-3, data parallel
    width = float(working_bytes(t.precision))
    if t.zero_stage >= 3:  # one reduce buffer (stage3.py's __ipg_bucket_flat_buffer) and the gathered parameters
        return width * (ds.reduce_bucket_size + zero3_gathered_parameters(scenario, stage))
    return width * ds.reduce_bucket_size * (2 if ds.overlap_comm else 1)


def _bf16_reduction_copy(scenario: Scenario, params_on_device: float) -> float:
    """The communication-dtype copy DeepSpeed's ``BF16_Optimizer`` all-reduces its fp32 gradient through.

    ``allreduce_bucket`` (DeepSpeed 0.6.5 ``runtime/engine.py``) flattens each bucket of the flat fp32
    groups (one group alone: a view) and casts it, ``tensor.to(self.communication_data_type)`` (bf16): a
    second copy of the group at the communication width while it is reduced. That runs after the pipeline's
    flush (``ReduceGrads``), when the activations are freed, so it raises the peak only by what it exceeds
    them (:func:`memory_breakdown`). The groups (weight-decay and not) are not known: the whole gradient, an
    upper bound that Megatron-DeepSpeed's weight-decay group (every matrix) all but reaches.
    """
    if not scenario.deepspeed_bf16_optimizer:
        return 0.0
    return params_on_device * scenario.gradient_bytes_per_param


def _zero3_units(scenario: Scenario, stage: int) -> list[tuple[str, float]]:
    """The ZeRO-3 coordinator's trace of one forward on a device of ``stage``: (unit, elements) in order.

    Transformers: the word and position embeddings, the stage's layers, the output head (with tied
    embeddings and one stage, the word embedding used again), each divided by t; other models: their
    layers, equal.
    """
    m, t = scenario.model, scenario.training
    layer_params = _stage_split(scenario)[stage][0]
    if m.kind != "transformer":
        n = max(1, m.layers)
        return [(f"layer {i}", layer_params / n) for i in range(n)]
    tp, pp = t.tensor_parallel, t.pipeline_parallel
    n = max(1, round(sum(chunk_layers(scenario)[stage])))
    units = [(f"layer {i}", layer_params / n) for i in range(n)]
    if stage == 0:
        first = [("embedding", float(m.vocab * m.hidden) / tp)]
        first += [("positions", float(m.seq_len * m.hidden) / tp)] if m.learned_positions else []
        units = first + units
    if stage == pp - 1:
        units.append(("embedding" if m.tied_embeddings and pp == 1 else "head", float(m.vocab * m.hidden) / tp))
    return units


def zero3_kept_parameters(scenario: Scenario, stage: int = 0) -> float:
    """Elements DeepSpeed ZeRO-3 keeps gathered from their last forward use to their backward use.

    ``PartitionedParameterCoordinator.__params_to_release``: after a module runs, the coordinator walks the
    recorded trace (the forward's modules, then the backward's in reverse) from the next module on,
    adding up each module's elements; a parameter met again before the sum reaches
    ``stage3_max_reuse_distance`` is not released. For the forward's last units the next use is their own
    backward, 2 × (the units after them) away: the output head (distance 0) and the last layers stay
    gathered, and the backward does not gather them again (:attr:`dpsim.sharding.StepTraffic.backward_gather_share`).
    Traced per unit (:func:`_zero3_units`; DeepSpeed traces leaf modules, finer than a layer).
    """
    ds = scenario.deepspeed
    if ds is None or scenario.training.zero_stage != 3:
        return 0.0
    units = _zero3_units(scenario, stage)
    size = dict(units)  # a unit's elements (the tied embedding: as the output head)
    trace = units + units[::-1]
    last_forward = {key: i for i, (key, _) in enumerate(units)}
    # The walk from a unit's last forward use at ``at`` meets nothing of its own before its backward use at
    # 2L-1-at: it is kept when the elements between, twice units[at+1:], stay below the distance. Twice the
    # suffix sum decides that in one pass; within rounding of the distance the walk itself decides.
    suffix = [0.0] * (len(units) + 1)
    for i in range(len(units) - 1, -1, -1):
        suffix[i] = units[i][1] + suffix[i + 1]
    slack = 4 * len(trace) * sys.float_info.epsilon
    kept = 0.0
    for key, at in last_forward.items():
        between = 2 * suffix[at + 1]
        if abs(between - ds.max_reuse_distance) > slack * max(between, 1.0):
            kept += size[key] if between < ds.max_reuse_distance else 0.0
            continue
        traversed = 0.0
        for other, n in itertools.islice(trace, at + 1, None):
            if traversed >= ds.max_reuse_distance:
                break
            if other == key:
                kept += size[key]
                break
            traversed += n
    return kept


ZERO3_PERSISTENCE_THRESHOLD = 100_000
"""DeepSpeed ZeRO-3's default ``stage3_param_persistence_threshold`` (0.3.13 ``zero/constants.py`` and now
``zero/config.py``): a parameter of fewer elements is never partitioned, so never gathered."""


def zero3_recompute_regathered_parameters(scenario: Scenario, stage: int = 0) -> float:
    """Elements DeepSpeed ZeRO-3 gathers a second time in a backward under full recomputation.

    A checkpointed layer's recomputed forward runs its modules' forward pre-hooks, so the coordinator fetches the
    layer's parameters for the recomputation (``pre_sub_module_forward_function`` -> ``fetch_sub_module``: the
    gather dpsim counts as the backward's, :attr:`dpsim.sharding.StepTraffic.backward_gather_share`) and releases
    each module after it (``post_sub_module_forward_function`` -> ``release_sub_module``) unless its next use comes
    within ``stage3_max_reuse_distance`` elements (0.3.13 ``stage3.py`` ``_keep_for_later``; now
    ``partitioned_param_coordinator.py`` ``__params_to_release``). Its next use is its backward, right after the
    recomputation: between them the modules after it in the layer, twice (their recomputed forward, then their
    backward in reverse). A module whose weights those outweigh is released and gathered again by its backward
    pre-hook (``pre_sub_module_backward_function`` -> ``fetch_sub_module``). Traced by leaf module: each weight of
    a layer (:func:`dpsim.buckets.transformer_layer_tensors`, divided by t) at or above
    ``stage3_param_persistence_threshold`` (:data:`ZERO3_PERSISTENCE_THRESHOLD`; biases and norms stay gathered
    and are left out of the distance), one module each, in registration order, which for these layers is the
    forward's. A layer of GPT-3 175B at the default distance (1e9): the output projection of the MLP is kept,
    its input projection (walk: 2 x 4h^2 = 1.2e9) and the attention's projections are gathered again, 2/3 of the
    layer. Only the checkpointed layers (``recompute_layer_interval``). 0 without DeepSpeed ZeRO-3, without full
    recomputation (FSDP is not changed: not examined), for a model other than a transformer, or when every weight
    is below the threshold.
    """
    ds, m, t = scenario.deepspeed, scenario.model, scenario.training
    if ds is None or t.zero_stage != 3 or t.activation_recomputation != "full" or m.kind != "transformer":
        return 0.0
    released = zero3_recompute_released(scenario)
    if not released or m.layers <= 0:
        return 0.0
    layer_elements = _stage_split(scenario)[stage][0]
    checkpointed = (m.layers // t.recompute_layer_interval) / m.layers
    gone = 0.0
    for size, flag in reversed(released):  # the order the walk summed them in
        gone += size if flag else 0.0
    return layer_elements * checkpointed * gone / sum(size for size, _ in released)


def zero3_recompute_released(scenario: Scenario) -> list[tuple[float, bool]]:
    """A transformer layer's gathered weights (elements a rank's gather assembles: each weight at or above
    :data:`ZERO3_PERSISTENCE_THRESHOLD` after tensor parallelism, in registration order) and whether DeepSpeed
    ZeRO-3's coordinator releases it between the recomputed forward and the backward, so that the backward
    gathers it again (:func:`zero3_recompute_regathered_parameters` has the rule and its source). Empty without
    DeepSpeed or for a model other than a transformer."""
    from dpsim.buckets import transformer_layer_tensors

    ds, m, t = scenario.deepspeed, scenario.model, scenario.training
    if ds is None or m.kind != "transformer":
        return []
    weights = [x / t.tensor_parallel for x in transformer_layer_tensors(m)]
    weights = [x for x in weights if x >= ZERO3_PERSISTENCE_THRESHOLD]
    flags: list[bool] = []
    after = 0.0
    for size in reversed(weights):  # from the layer's last module back: ``after`` = the modules after this one
        flags.append(2.0 * after >= ds.max_reuse_distance)
        after += size
    return list(zip(weights, reversed(flags), strict=True))


def zero3_gathered_parameters(scenario: Scenario, stage: int = 0) -> float:
    """Elements DeepSpeed ZeRO-3 holds gathered where the backward starts (activations peak there).

    What the forward kept for reuse (:func:`zero3_kept_parameters`), the first backward unit if it was not
    kept, and what the coordinator prefetches: ``fetch_sub_module`` all-gathers up to
    ``stage3_prefetch_bucket_size`` elements ahead, no more than ``stage3_max_live_parameters`` minus what
    is already gathered (``max_params_to_prefetch``). One prefetch bucket ahead is counted: DeepSpeed's
    look-ahead can grow over several modules when its modules are smaller than the bucket (not modelled).
    """
    ds = scenario.deepspeed
    assert ds is not None
    units = _zero3_units(scenario, stage)
    total = sum(_stage_split(scenario)[stage])
    kept = zero3_kept_parameters(scenario, stage)
    live = kept if kept > 0 else units[-1][1]
    prefetch = min(float(ds.prefetch_bucket_size), max(0.0, ds.max_live_parameters - live), max(0.0, total - live))
    return min(total, live + prefetch)


def _fsdp_buffers(scenario: Scenario, layer: float, root: float, head: float) -> float:
    """FSDP's unsharded units in the backward, where activations peak (``layer``, ``root``, ``head``: parameters).

    - Parameters (FULL_SHARD, HYBRID_SHARD; SHARD_GRAD_OP's are all in the weights): the layer being
      computed and the one prefetched, and the root unit (everything outside the wrapped layers), which
      is gathered from its pre-forward to its post-backward: FSDP1 ``_post_forward_reshard`` does not free
      the root's flat parameter, FSDP2's lazy init sets the root's ``post_forward_mesh_info = None``.
    - Gradients: the computing layer's unsharded gradient (the parameters' dtype) and the previous
      layer's reduce-scatter input (the reduce dtype), which FSDP2 keeps in ``reduce_scatter_state``
      until the next unit's post-backward (``_fsdp_param_group.post_backward``, ``foreach_reduce``) and
      FSDP1 until its reduce-scatter ends (the stream-recorded padded gradient); and the output head's
      unsharded gradient, computed first in the backward and reduced only in the root's post-backward,
      at its end. Under ``no_sync`` the unsharded gradients are the model states' full gradient, and
      only the reduce-scatter input remains.
    - FSDP's float8 all-gather (``training.fsdp_float8_all_gather``): the gathered units hold the linear weights
      in float8 (torch ``_fsdp_param.py`` ``init_all_gather_outputs`` allocates them in the all-gather input's dtype,
      torchao's ``fsdp_post_all_gather`` wraps that storage, ``(Float8Tensor(data, ...), (data,))``: no bf16 copy),
      and the computing layer's input-gradient GEMM holds a column-major copy of its weight
      (:func:`dpsim.sharding.float8_weight_copy_bytes`, the largest).
    """
    t = scenario.training
    width = float(working_bytes(t.precision))
    # the two layers as gathered (FSDP's float8 all-gather: the linear weights in float8), the root at its width
    layers = 2.0 * layer * (gathered_layer_width(scenario) / width)
    gathered = width * (layers + root) if t.zero_stage >= 3 else 0.0
    gathered += float8_weight_copy_bytes(scenario)
    if scenario.keeps_unsharded_gradients:
        return gathered + layer * scenario.gradient_bytes_per_param
    return gathered + layer * (width + scenario.gradient_bytes_per_param) + head * width


def memory_breakdown(scenario: Scenario) -> MemoryBreakdown:
    """Bytes per device by kind for ``scenario``; the worst pipeline stage decides."""
    t = scenario.training
    n_d = scenario.data_parallel
    capacity = scenario.cluster.device.memory
    best: tuple[float, float, float, float, float] | None = None
    totals: list[float] = []
    worst_stage = 0
    reserve = capacity * t.memory_reserve
    grad_width = float(scenario.gradient_buffer_bytes_per_param)
    roots = stage_root_parameters(scenario)
    torch_zero = t.optimizer_sharding == "torch" and n_d > 1
    width = float(working_bytes(t.precision))
    layer_width = gathered_layer_width(scenario)
    for stage, params in enumerate(stage_parameters(scenario)):
        # SHARD_GRAD_OP's unsharded parameters as gathered, where that is not the 16-bit width (float8 all-gather)
        gathered = (
            None
            if t.optimizer_sharding != "fsdp" or layer_width == width
            else (params - roots[stage]) * layer_width + roots[stage] * width
        )
        weights, grads, states = model_state_parts(
            params,
            n_d,
            t.zero_stage,
            t.optimizer,
            t.precision,
            flavour="torch" if t.autocast else t.optimizer_sharding,
            gradient_bytes=grad_width,
            shard_group=t.fsdp_shard_group,
            unsharded_gradients=scenario.keeps_unsharded_gradients,
            fp32_gradient_copy=scenario.deepspeed_bf16_optimizer,
            owned=max(torch_zero_partition(scenario, stage)) if torch_zero else None,  # the most loaded rank
            fp8_weight_copies=scenario.model.fp8_linear != "torchao_tensorwise",
            state_bytes=float(dtype_bytes(t.optimizer_state_dtype)),
            unsharded_weights=gathered,
        )
        weights += autocast_weight_copies(scenario, stage)
        acts = _activations(scenario, stage)
        bufs = _buffers(scenario, params, roots[stage], stage == len(roots) - 1, stage)
        bufs += max(0.0, _bf16_reduction_copy(scenario, params) - acts)
        bufs += sequence_parallel_staging_copy(scenario) + sequence_parallel_gathered_gradient(scenario)
        bufs += pipeline_stage_buffers(scenario, stage) + pipeline_walk_adjustment(scenario, stage)
        parts = (weights, grads, states, acts, bufs)
        total = sum(parts) + reserve
        totals.append(total)
        if best is None or total > sum(best):
            best, worst_stage = parts, stage
    assert best is not None
    total = sum(best) + reserve
    worst_device = worst_stage * t.tensor_parallel * n_d
    return MemoryBreakdown(
        weights=best[0],
        gradients=best[1],
        optimizer_states=best[2],
        activations=best[3],
        buffers=best[4],
        total=total,
        capacity=capacity,
        oom=total > capacity,
        worst_device=worst_device,
        worst_stage=worst_stage,
        stage_totals=tuple(totals),
        reserve=reserve,
    )
