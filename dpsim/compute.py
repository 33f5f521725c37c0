"""Compute time from the operations: one micro-batch's kernels, each priced on a roofline.

A transformer layer on one device (tensor-parallel degree ``t``, ``T = b·s`` tokens of the
micro-batch, Megatron's layout: Shoeybi et al. 2019 §3; Korthikanti et al. 2022 §4) runs

- four GEMMs (``m × n × k``): QKV ``T × (a+2·kv)·d/t × h``, attention output ``T × h × h/t``,
  MLP up ``T × f/t × h`` (``2f/t`` gated), MLP down ``T × h × f/t``; in the backward pass each
  becomes a data-gradient GEMM ``T × k × n`` and a weight-gradient GEMM ``k × n × T``;
- attention: ``standard`` is two batched GEMMs per head (scores ``s × s × d``, context
  ``s × d × s``) and the memory-bound scale-mask-softmax and dropout over the ``s × s`` scores
  (and, with ``model.attention_nan_to_num``, metaseq's ``torch.nan_to_num`` over them);
  ``flash`` is one fused kernel (Dao et al. 2022; Dao 2023, FlashAttention-2 §3) at the device's attention
  efficiency (rising with the sequence where the device says so, :func:`attention_rate`), ``4·s²·d`` FLOPs
  per head forward and 2.5× that backward (it recomputes the scores), half of it under a causal mask (the
  masked blocks are skipped);
- with ``model.rope_kernels``, the rotary embedding's eager kernels on q and k (:func:`rope_bytes`);
- memory-bound kernels priced by bytes moved over achievable bandwidth: two LayerNorms, the
  MLP activation (bias-GeLU, or SwiGLU), two bias-dropout-residual-adds (all at the activation
  width; sharded by ``t`` under sequence parallelism; the MLP's as three kernels with
  ``model.mlp_fused_bias: false``, metaseq's, with fc1's bias as well; both branches' as separate kernels with
  ``model.bias_dropout_fusion: false``, gpt-neox's, :func:`residual_bytes`); their backward moves about twice the
  bytes (it reads the saved input and the incoming gradient and writes one gradient). With ``model.elementwise:
  eager`` the norms and SwiGLU are PyTorch eager's op-by-op kernels instead (:func:`norm_bytes`;
  ``model.norm_kernel: torch_two_pass`` the LayerNorm as PyTorch ran it before its one-kernel forward).

The first pipeline stage also looks up the embedding; the last computes the logits
(``T × V/t × h``) and the cross-entropy, memory-bound over the ``T × V/t`` logits with the bytes per element of
the framework's kernels (``model.loss_kernel``, :func:`loss_bytes`: Megatron-LM's 52 at 16 bits, PyTorch eager
under autocast or after an explicit ``.float()`` 36, without either 12, the fused xentropy kernel and
torch.compile's fused loss 6), and ``model.logit_metrics`` no-grad
cross-entropies more after the backward (Composer's training metrics, 14 bytes an element each). The slowest
stage sets the pace of the pipeline, so a micro-batch costs the slowest stage's time.

A GEMM costs ``max(2mnk / (peak · matmul_efficiency), bytes / (bandwidth · memory_efficiency))
+ kernel_overhead``: a roofline whose compute ceiling is the device's maximum achievable matmul
rate, plus a fixed per-kernel cost that makes small GEMMs slow (the GEMM curve; sources in
:mod:`dpsim.catalog`). On devices whose GEMM kernels store their output after the k-loop
(``gemm_epilogue_exposed``: A100) the store is added instead: ``max(2mnk / (peak · e), loads /
bw) + m·n·width / bw``, which makes a GEMM with a short k (the attention projection at h/t)
slower per FLOP than one with a long k. Every kernel's time is divided by the device's ``sustained_fraction``:
kernel benchmarks run on an idle GPU, a training step sustains less of their rates (measured once
per device type on a published per-layer timing; :mod:`dpsim.catalog`).

With ``training.precision: fp8`` the four linear-layer GEMMs run at the
FP8 peak times the device's FP8 plateau ``matmul_efficiency_fp8`` (Transformer Engine; attention
and logits stay in bf16), and the FP8 casts of the
attention-output and MLP-down inputs (forward) and of the four output gradients (backward) move
3 bytes per element (read 2, write 1; the LayerNorm-fused inputs cast for free). With ``model.fp8_linear:
te_linear`` (Transformer Engine's plain ``te.Linear`` called without ``is_first_microbatch``) QKV's and MLP-up's inputs
and every weight of the layer are cast and transposed in each forward as well (:func:`te_linear_cast_bytes`); with
``model.fp8_linear: torchao_tensorwise`` (torchao's ``Float8Linear`` under torch.compile, torchtitan's) every distinct
input and every output gradient of the layer's linears is cast at torchao's own count instead
(:func:`torchao_cast_bytes`).

Activation recomputation reruns the layer's forward kernels (``full``) or the attention core
(``selective``) inside the backward pass. ``cluster.device.efficiency`` overrides all of this:
every FLOP at ``peak · efficiency``, forward one third (Kaplan et al. 2020 §2.1), as do models
without an operation breakdown (CNNs, MLPs) at the device's flat efficiency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from dpsim.scenario import DeviceConfig, ModelConfig, Scenario, TrainingConfig
from dpsim.sharding import parameter_gather_bytes, step_traffic
from dpsim.units import dtype_bytes, working_bytes, working_dtype

__all__ = [
    "AUTOCAST_CAST_BYTES_PER_PARAM",
    "FORWARD_FRACTION",
    "OP_SAC_RERUN",
    "ComputeTimes",
    "Kernel",
    "attention_rate",
    "autocast_cast_seconds",
    "autocast_norm_bytes",
    "chunk_layers",
    "compute_device",
    "compute_times",
    "epilogue_free_efficiency",
    "fit_gemm_curve",
    "flat_fraction",
    "float8_all_gathers",
    "fsdp2_bytes_per_param",
    "fsdp_flat_gradient_bytes_per_param",
    "fsdp_gradient_divide_factors",
    "gemm_time",
    "gradient_accumulation_bytes_per_param",
    "gradient_accumulation_seconds",
    "layer_kernels",
    "loss_bytes",
    "loss_peak_bytes",
    "loss_saved_bytes",
    "mfu_peak_flops",
    "microbatch_compute",
    "norm_bytes",
    "op_recomputed_flops_per_token",
    "op_sac_rerun_seconds",
    "op_sac_saved",
    "prices_flat",
    "rope_bytes",
    "torchao_cast_bytes",
    "wave_efficiency",
]

FORWARD_FRACTION = 1.0 / 3.0
"""Forward share of training FLOPs under the flat model (backward ≈ 2× forward; Kaplan et al. 2020)."""


@dataclass(frozen=True)
class Kernel:
    """One kernel of one micro-batch on one device."""

    name: str
    phase: str
    """``forward`` or ``backward``."""
    flops: float
    bytes: float
    seconds: float
    parts: tuple[float, ...] = ()
    """Seconds of each linear the kernel stands for, in order, where it is several linears' GEMMs priced apart
    (:meth:`_Pricer.linears`: ``model.projections: separate``); empty for one GEMM."""


@dataclass(frozen=True)
class ComputeTimes:
    """Forward and backward time of one micro-batch on one device of the slowest stage."""

    forward_s: float
    backward_s: float
    """Includes the recomputed forward kernels."""
    recompute_s: float = 0.0
    """The part of ``backward_s`` that reruns forward kernels."""
    stage_s: tuple[float, ...] = ()
    """Forward + backward per pipeline stage (the slowest sets ``forward_s`` / ``backward_s``)."""
    model: str = "flat"
    """``operations`` (priced kernel by kernel) or ``flat`` (peak · efficiency)."""


def gemm_time(
    m: float,
    n: float,
    k: float,
    batch: float,
    peak: float,
    device: DeviceConfig,
    width: float,
    efficiency: float | None = None,
) -> float:
    """One (batched) GEMM on the device's curve: roofline at the achievable rates plus the kernel overhead.

    ``efficiency``: the plateau as a fraction of ``peak`` (default the device's ``matmul_efficiency``;
    FP8 GEMMs pass ``matmul_efficiency_fp8``)."""
    if m <= 0 or n <= 0 or k <= 0 or batch <= 0:
        return 0.0
    eff = efficiency or device.matmul_efficiency or 1.0
    if device.gemm_waves and device.sm_count:
        eff *= wave_efficiency(m, n, batch, device.sm_count, device.gemm_tile)
    flops = 2.0 * m * n * k * batch
    bandwidth = device.memory_bandwidth * device.memory_efficiency
    stored = width * m * n * batch
    loaded = width * (m * k + k * n) * batch
    if device.gemm_epilogue_exposed:
        seconds = max(flops / (peak * eff), loaded / bandwidth) + stored / bandwidth
    else:
        seconds = max(flops / (peak * eff), (loaded + stored) / bandwidth)
    return (seconds + device.kernel_overhead) / device.sustained_fraction


def epilogue_free_efficiency(measured: float, k: float, peak: float, bandwidth: float, width: float = 2.0) -> float:
    """The k-loop's fraction of ``peak`` behind a GEMM measured at ``measured`` of peak with inner size ``k``,
    when its output store (``width`` bytes an element at ``bandwidth``, bytes/s) follows the k-loop:
    2mnk/(peak·measured) = 2mnk/(peak·e) + width·m·n/bandwidth, so 1/e = 1/measured − width·peak/(2·k·bandwidth)."""
    return 1.0 / (1.0 / measured - width * peak / (2.0 * k * bandwidth))


def wave_efficiency(m: float, n: float, batch: float, sms: int, tile: tuple[int, int]) -> float:
    """Useful share of the SM-waves a GEMM's m × n output (``batch`` of them) occupies.

    NVIDIA, "Matrix Multiplication Background User's Guide" (docs.nvidia.com/deeplearning/performance),
    §3.1 tile quantisation (an m not a multiple of the tile pads the last tile) and §3.2 wave
    quantisation (tiles run in waves of one per SM; a partial last wave takes a whole wave's time):
    m·n·batch / (waves · sms · tile area), waves = ⌈batch·⌈m/T₀⌉·⌈n/T₁⌉ / sms⌉, the better orientation
    of the tile. 1 for a GEMM that fills whole waves with whole tiles.
    """
    best = 0.0
    for rows, cols in (tile, (tile[1], tile[0])):
        tiles = batch * math.ceil(m / rows) * math.ceil(n / cols)
        waves = math.ceil(tiles / sms)
        best = max(best, m * n * batch / (waves * sms * rows * cols))
    return best


def attention_rate(device: DeviceConfig, kernel: str, seq_len: float, causal: bool) -> tuple[float, float]:
    """Fraction of the 16-bit peak a fused (flash) attention kernel reaches at sequence length ``seq_len``,
    (forward, backward). ``kernel`` ``fa2``: one of FlashAttention-2's generation on a device whose own are newer
    (``attention_efficiency_fa2``), else the device's best (``attention_efficiency``).

    Each query row (forward; each key row backward) costs a fixed time besides its s or s/2 key positions: the
    tile's Q (K, V) load, the final rescale and the output store, and under a causal mask the diagonal block
    computed whole but counted half. Per (batch, head) the kernel then takes (s²/2 + s·s½/2) causal or
    (s² + s·s½/2) unmasked over the long-sequence rate e, so efficiency(s) = e·s/(s + s½) causal and
    e·s/(s + s½/2) unmasked (``attention_half_seq``; 0: flat). The batch does not enter: the kernels parallelise
    over batch × heads × row blocks, which fills the device at the token counts trained with."""
    fa2 = device.attention_efficiency_fa2 if kernel == "fa2" else None
    efficiency = fa2 if fa2 is not None else device.attention_efficiency
    half = device.attention_half_seq_fa2 if fa2 is not None else None
    half = half if half is not None else device.attention_half_seq
    if seq_len <= 0:
        return efficiency[0], efficiency[1]
    per_row = 1.0 if causal else 0.5
    fwd, bwd = (e * seq_len / (seq_len + per_row * h) for e, h in zip(efficiency, half, strict=True))
    return fwd, bwd


def memory_bound_seconds(device: DeviceConfig, moved: float) -> float:
    """A memory-bound kernel (element-wise: norms, activations, the optimizer, copies) moving ``moved`` bytes
    (read + written), at the device's achievable bandwidth (memory_bandwidth × memory_efficiency ×
    sustained_fraction)."""
    return moved / (device.memory_bandwidth * device.memory_efficiency * device.sustained_fraction)


class _Pricer:
    """Collects kernels and prices them on one device."""

    def __init__(self, device: DeviceConfig, precision: str) -> None:
        self.device = device
        self.width = float(working_bytes(precision))
        self.peak16 = device.peak_for(working_dtype(precision))  # fp16 and bf16 share the 16-bit peak
        self.peak_linear = device.peak_for(precision)
        self.linear_width = float(dtype_bytes(precision))
        self.fp8 = precision == "fp8"
        self.linear_efficiency = (device.matmul_efficiency_fp8 if self.fp8 else None) or device.matmul_efficiency
        self.kernels: list[Kernel] = []

    def gemm(
        self,
        name: str,
        phase: str,
        m: float,
        n: float,
        k: float,
        batch: float = 1.0,
        linear: bool = False,
        launches: int = 1,
    ) -> None:
        """One GEMM, or ``launches`` separate GEMMs of the same shape priced one by one."""
        peak = self.peak_linear if linear else self.peak16
        width = self.linear_width if linear else self.width
        efficiency = self.linear_efficiency if linear else self.device.matmul_efficiency
        seconds = launches * gemm_time(m, n, k, batch, peak, self.device, width, efficiency)
        moved = launches * width * (m * k + k * n + m * n) * batch
        self.kernels.append(Kernel(name, phase, launches * 2.0 * m * n * k * batch, moved, seconds))

    def memory(self, name: str, phase: str, moved: float) -> None:
        self.kernels.append(Kernel(name, phase, 0.0, moved, memory_bound_seconds(self.device, moved)))

    def fused(self, name: str, phase: str, flops: float, efficiency: float) -> None:
        rate = self.peak16 * efficiency * self.device.sustained_fraction
        self.kernels.append(Kernel(name, phase, flops, 0.0, flops / rate))

    def linear(self, name: str, m: float, n: float, k: float, row_split: int = 1) -> None:
        """A linear layer: forward GEMM, and its data- and weight-gradient GEMMs. ``row_split``: the forward and
        data-gradient GEMMs run as that many GEMMs of m/row_split rows each (:func:`layer_kernels`)."""
        self.linears(name, m, (n,), k, row_split)

    def linears(self, name: str, m: float, ns: tuple[float, ...], k: float, row_split: int = 1) -> None:
        """Linear layers of widths ``ns`` reading the same input, each its own GEMMs, kept as one kernel of each pass
        under ``name`` (each GEMM priced alone: a narrow one reads the whole input for few columns)."""
        for suffix, phase in (("", "forward"), (".dgrad", "backward"), (".wgrad", "backward")):
            first = len(self.kernels)
            for n in ns:
                if suffix == ".wgrad":
                    self.gemm(name, phase, k, n, m, linear=True)
                elif suffix == ".dgrad":
                    self.gemm(name, phase, m / row_split, k, n, linear=True, launches=row_split)
                else:
                    self.gemm(name, phase, m / row_split, n, k, linear=True, launches=row_split)
            parts = self.kernels[first:]
            del self.kernels[first:]
            flops, moved = sum(x.flops for x in parts), sum(x.bytes for x in parts)
            each = tuple(x.seconds for x in parts) if len(parts) > 1 else ()
            self.kernels.append(Kernel(name + suffix, phase, flops, moved, sum(x.seconds for x in parts), each))


def te_linear_cast_bytes(model: ModelConfig, micro_batch: int, tensor_parallel: int, sequence_parallel: bool) -> float:
    """Bytes one layer's forward moves for ``model.fp8_linear: te_linear`` beyond the casts every FP8 layer pays:
    Transformer Engine v0.10's ``te.Linear`` (``module/linear.py``) casts QKV's and MLP-up's inputs itself with
    ``fp8_cast_transpose_fused`` (read 2 bytes, write the FP8 copy and its transpose: 4 an element of the
    ``tokens × hidden`` input, ``/t`` under sequence parallelism, where TE casts before its gather), and, called
    without ``is_first_microbatch``, casts and transposes every weight of the layer on this device in every
    forward (4 bytes an element of q, k, v, attention-out, MLP-up (gate and up when gated) and MLP-down)."""
    h, t = float(model.hidden), float(tensor_parallel)
    d = h / model.heads
    heads = model.heads / t
    kv_heads = max(1.0, (model.kv_heads or model.heads) / t)
    f = float(model.ffn_hidden or 4 * model.hidden)
    tokens = float(micro_batch) * model.seq_len / (t if sequence_parallel else 1.0)
    inputs = 4.0 * tokens * 2.0 * h
    weights = (
        h * (heads + 2.0 * kv_heads) * d + heads * d * h + h * (2.0 if model.gated_mlp else 1.0) * f / t + f / t * h
    )
    return inputs + 4.0 * weights


TORCHAO_CAST_BYTES = 5.0
"""Bytes torchao's dynamic tensorwise cast moves an element of an activation or output gradient under
torch.compile (``model.fp8_linear: torchao_tensorwise``), by torchao's own roofline of its overhead
(``torchao/float8/roofline_utils.py`` at eab345c, the torchao of torchtitan's Dec 2024 runs:
``get_tensor_memory_traffic_bytes(..., "dynamic", fuse_with_prev=True, model_torch_compile_limitations=True)``):
max(abs) fused into the kernel that produced the tensor (0), the cast reading bf16 (2) and writing float8 row- and
column-major (1 + 1), and the extra float8 read Inductor's kernel makes when it writes a tensor and its transpose
(pytorch/pytorch#130015: 1)."""


TORCHAO_SHARD_CAST_BYTES = 3.0
"""Bytes torchao's cast of a sequence shard moves an element under Float8 tensor parallelism (``Float8ColwiseParallel``
/ ``PrepareFloat8ModuleInput`` / ``Float8RowwiseParallel`` at 6243040, ``float8/float8_tensor_parallel.py``: cast before
the float8 all-gather): max(abs) fused into the producer (0), read bf16 (2), write the row-major float8 the gather
carries (1); a column-major copy of a shard would be of no use to the gathered tensor's GEMM."""

TORCHAO_GATHERED_TRANSPOSE_BYTES = 2.0
"""Bytes an element of a gathered float8 tensor's transposed copy moves (read 1, write 1): torchao's
``float8/float8_ops.py`` ``preprocess_addmm`` (6243040) makes ``torch._scaled_mm``'s operands row-major / column-major
(``a_data.contiguous()``, ``b_data.t().contiguous().t()``); the weight-gradient GEMM takes the gathered input as its
right operand and the gathered output gradient transposed as its left, both gathered row-major, so each is copied
once in full (once for wq, wk and wv, and for w1 and w3: one tensor, one copy after common-subexpression
elimination). The same copy is made of every float8 weight FSDP2's float8 all-gather returns: ``fsdp_post_all_gather``
(``float8/fsdp_utils.py``) wraps the gathered data, row-major ``out x in``, as the weight's ``Float8Tensor``; the
forward's GEMM takes its ``.t()``, column-major as ``_scaled_mm`` wants, but the input-gradient GEMM
(``torch.mm(grad_output, weight_t.t())``, ``float8_linear.py``) takes the weight itself as its right operand, row-major,
which ``preprocess_addmm`` copies column-major in every backward (torchao 0ed30902e ``float8_ops.py`` line 154 /
``float8_linear.py`` 78; eab345c 253 / 74; 8c81863ba 328 / 192; 6243040 332 / 191)."""


TORCHAO_WEIGHT_CAST_BYTES = 7.0
"""Bytes torchao's dynamic tensorwise cast of a bf16 weight moves a parameter in each forward when FSDP does not gather
it in float8 (``optimizer_sharding`` other than ``fsdp``: the weight is cast where ``Float8Linear`` runs), by
torchao's own roofline (``torchao/float8/roofline_utils.py`` at eab345c, ``get_tensor_memory_traffic_bytes(...,
"dynamic", fuse_with_prev=False, model_torch_compile_limitations=True)``): max(abs) reads the weight (2; no producer
in the graph to fuse it into), the cast reads it again (2) and writes float8 row- and column-major (1 + 1), plus
Inductor's extra float8 read (pytorch/pytorch#130015: 1). The column-major copy serves the input-gradient GEMM, so
no copy is made in the backward."""


def float8_all_gathers(training: TrainingConfig) -> bool:
    """Whether torchao's Float8 weights reach their linears through FSDP2's float8 all-gather (``float8_all_gather``
    of :func:`torchao_cast_bytes` and the functions that pass it on): ``training.fsdp_float8_all_gather``
    (torchtitan's ``float8.enable_fsdp_float8_all_gather``, false by default); without it, under any sharding,
    each weight is cast where the linear runs. The one reading of the rule, for the step's compute
    (:func:`compute_times`) and the TP layer's GEMMs (:func:`dpsim.analytic.parallel._layer_gemm_seconds`)."""
    return training.fsdp_float8_all_gather


def torchao_cast_bytes(
    model: ModelConfig,
    micro_batch: int,
    tensor_parallel: int,
    sequence_parallel: bool,
    float8_all_gather: bool = True,
) -> tuple[float, float]:
    """Bytes one layer's FP8 casts move under ``model.fp8_linear: torchao_tensorwise`` (torchao's ``Float8Linear``,
    dynamic tensorwise scaling, under torch.compile, as torchtitan builds it), (forward, backward):
    :data:`TORCHAO_CAST_BYTES` an element of

    - forward, each distinct input of the layer's linears: the attention norm's output (wq, wk and wv each cast it,
      one cast after AOTAutograd's common-subexpression elimination, ``torch._functorch.config.cse``), the attention
      output (wo's), the MLP norm's output (w1's and w3's, one cast), the activation (w2's);
    - backward, each linear's output gradient (torchao's ``NoopFwToFloat8BwDynamic`` on each output): q, k, v, the
      up-projections (gate and up when gated) at this rank's width, wo's and w2's.

    Under tensor and sequence parallelism the norms' outputs (forward) and wo's and w2's output gradients (backward)
    are cast on the ``1/t`` sequence shard before the float8 all-gather (torchao's ``Float8ColwiseParallel`` /
    ``PrepareFloat8ModuleInput`` / ``Float8RowwiseParallel``) at :data:`TORCHAO_SHARD_CAST_BYTES`, and each of the
    four gathered tensors is copied transposed in full for its weight-gradient GEMM, in the backward, at
    :data:`TORCHAO_GATHERED_TRANSPOSE_BYTES`.

    The cast float8 input and weight are saved for the backward (``manual_float8_matmul_with_args_in_float8`` at
    eab345c), so the backward casts no input or weight again. Weights are cast on the FSDP shard before the float8
    all-gather (torchtitan's documented recipe, ``enable_fsdp_float8_all_gather`` and
    ``precompute_float8_dynamic_scale_for_fsdp``): ``1/N`` of a layer's weights an all-gather, not priced here (7 bytes
    a parameter each forward without it); nor are the max(abs) second-stage kernels (2 µs each in torchao's roofline:
    11 a layer, about 0.04 % of a Llama 3 8B layer's time). The gathered float8 weight arrives row-major and the
    input-gradient GEMM wants it column-major: each of the layer's linear weights (this rank's ``1/t`` under tensor
    parallelism) is copied once a backward at :data:`TORCHAO_GATHERED_TRANSPOSE_BYTES` a parameter. Without FSDP's
    float8 all-gather (``float8_all_gather`` false: ``training.fsdp_float8_all_gather`` false) each weight is
    instead cast in each forward at :data:`TORCHAO_WEIGHT_CAST_BYTES` a parameter, and nothing is copied in the
    backward."""
    h, t = float(model.hidden), float(tensor_parallel)
    d = h / model.heads
    heads = model.heads / t
    kv_heads = max(1.0, (model.kv_heads or model.heads) / t)
    f = float(model.ffn_hidden or 4 * model.hidden) / t
    up = (2.0 if model.gated_mlp else 1.0) * f
    tokens = float(micro_batch) * model.seq_len
    local = TORCHAO_CAST_BYTES * tokens
    forward, backward = local * (heads * d + f), local * ((heads + 2.0 * kv_heads) * d + up)
    weights = h * ((heads + 2.0 * kv_heads) * d + heads * d + up + f)
    if float8_all_gather:
        # each float8 weight, gathered by FSDP in float8 row-major, copied column-major for the input-gradient GEMM
        backward += TORCHAO_GATHERED_TRANSPOSE_BYTES * weights
    else:
        # each bf16 weight cast where the linear runs, both layouts written
        forward += TORCHAO_WEIGHT_CAST_BYTES * weights
    if not (sequence_parallel and t > 1):
        return forward + TORCHAO_CAST_BYTES * 2.0 * tokens * h, backward + TORCHAO_CAST_BYTES * 2.0 * tokens * h
    # the two norms' outputs (forward) and wo's and w2's output gradients (backward), each cast on the sequence shard
    # and gathered in float8, then copied transposed in full for its weight-gradient GEMM
    shard_casts = TORCHAO_SHARD_CAST_BYTES * 2.0 * tokens / t * h
    transposes = TORCHAO_GATHERED_TRANSPOSE_BYTES * 4.0 * tokens * h
    return forward + shard_casts, backward + shard_casts + transposes


def norm_bytes(elementwise: str, width: float, kernel: str = "fused") -> tuple[float, float]:
    """Bytes one norm moves an element of its ``width``-byte input, (forward, backward).

    ``fused``: one kernel, read and write (2·width), backward read the input and the gradient and write one (4·width).
    ``eager``: the Llama reference RMSNorm op by op (:attr:`dpsim.scenario.ModelConfig.elementwise`), each aten
    kernel reading its inputs and writing its output, fp32 in between (per-row values negligible). Forward:
    ``x.float()`` (width + 4), ``pow(2)`` (8), ``mean(-1)`` (4), ``xf * rstd`` (8), ``.type_as(x)`` (4 + width),
    ``weight * y`` (2·width). Backward, the kernels torch's autograd runs (torch 2.13): ``g * weight`` (2·width) and
    the weight's ``g * y`` then its sum over rows (4·width); ``type_as``'s cast of the gradient (width + 4); for
    ``xf * rstd``, rstd's ``g * xf`` and row sum (16) and ``g * rstd`` (8); ``mean``'s expanded division (4);
    ``pow``'s ``xf.pow(1)``, ``* 2`` and ``* g`` (28); the two gradients of ``xf`` added (12); ``float()``'s cast
    back (4 + width). At 16 bits 36 and 92, each op's bytes as torch dispatches them
    (``tests/test_compute.py`` counts them); in fp32 ``float()`` and ``type_as`` return their input (no kernel).
    ``kernel`` (``fused`` elementwise only, :attr:`dpsim.scenario.ModelConfig.norm_kernel`): ``torch_two_pass`` is
    PyTorch's LayerNorm before its one-kernel forward: row moments (read) then the normalisation (read, write),
    3·width; backward the per-row internal gradients (read the gradient and the input), the input gradient (read
    both, write) and gamma's and beta's (read both): 7·width.
    """
    if elementwise != "eager":
        if kernel == "torch_two_pass":
            return 3.0 * width, 7.0 * width
        return 2.0 * width, 4.0 * width
    cast = 0.0 if width == 4.0 else width + 4.0
    forward = cast + 8.0 + 4.0 + 8.0 + cast + 2.0 * width
    backward = 2.0 * width + 4.0 * width + cast + 16.0 + 8.0 + 4.0 + 28.0 + 12.0 + cast
    return forward, backward


AUTOCAST_CAST_BYTES_PER_PARAM = 6.0
"""``training.autocast``: a weight's cast to 16 bits in the forward (read 4, write 2 bytes) and its gradient's cast
back to fp32 in the backward (read 2, write 4), each micro-batch (:func:`autocast_cast_seconds`)."""


def autocast_norm_bytes(elementwise: str, kernel: str = "fused") -> tuple[float, float]:
    """Bytes a norm moves an element under ``training.autocast`` (16-bit autocast over an fp32 model), (forward,
    backward): ``layer_norm`` is on autocast's fp32 list (``aten/src/ATen/autocast_mode.cpp``,
    ``KERNEL_CUDA(layer_norm, fp32)``) and its input, the fp32 residual stream, needs no cast, so the norm runs at
    4 bytes (:func:`norm_bytes` at width 4); the GEMM after it casts its fp32 output to 16 bits (read 4, write 2) and,
    backward, that cast's 16-bit gradient goes back to fp32 (read 2, write 4): 8 + 6 and 16 + 6 for a fused norm."""
    forward, backward = norm_bytes(elementwise, 4.0, kernel)
    return forward + AUTOCAST_CAST_BYTES_PER_PARAM, backward + AUTOCAST_CAST_BYTES_PER_PARAM


def rope_bytes(kernels: str, width: float) -> tuple[float, float]:
    """Bytes the rotary embedding moves an element of q or k at ``width``, (forward, backward).

    ``complex_fp32`` (Meta's reference and torchtitan's ``apply_rotary_emb``): ``float()`` (width + 4), the complex
    multiply (read 4, write 4 a real element; the frequencies are one row a position), ``type_as`` (4 + width); the
    backward casts the gradient in (width + 4), multiplies by the conjugate frequencies (8) and casts out
    (4 + width). ``pairs_fp32`` (ibm-fms ``adjusted_qk``): ``float()`` (width + 4), each pair times its 2 x 2
    rotation by broadcasting into a 2x-wide fp32 tensor (read 4, write 8), ``sum`` over the pair (read 8, write
    4), ``type_as`` (4 + width); the backward casts in (width + 4), writes the multiply's gradient 2x wide (read
    4, write 8), reduces it to the input's shape (read 8, write 4) and casts out (4 + width). ``rotate_half``
    (Hugging Face's ``apply_rotary_pos_emb``, in the input's dtype): ``q * cos`` (2·width), ``-x2`` on half
    (width), ``cat`` (2·width), ``* sin`` (2·width), the ``+`` (3·width): 10·width; backward ``g * sin``
    (2·width), the half's ``neg`` (width), two ``slice_backward`` (read half, write whole: 3·width), their sum
    (3·width), ``g * cos`` (2·width) and the two gradients of q added (3·width): 14·width. Each as torch
    dispatches them (``tests/test_compute.py``).
    """
    cast = 0.0 if width == 4.0 else width + 4.0
    if kernels == "complex_fp32":
        return cast + 8.0 + cast, cast + 8.0 + cast
    if kernels == "pairs_fp32":
        return cast + 24.0 + cast, cast + 24.0 + cast
    if kernels == "rotate_half":
        return 10.0 * width, 14.0 * width
    return 0.0, 0.0


def partial_rope_bytes(width: float) -> tuple[float, float]:
    """Bytes gpt-neox's partial rotary embedding (``rotary_pct`` < 1) adds an element of q or k, (forward, backward),
    besides the rotation of its rotated share (``megatron/model/transformer.py`` at the 20B release,
    ``ParallelSelfAttention.forward``): forward ``torch.cat((rotated, passed), dim=-1)`` reads the two slices and
    writes the whole (2·width); backward the cat's gradient is two views, and each slice of q (``query_layer[...,
    :rotary_ndims]`` and ``[..., rotary_ndims:]``) returns ``slice_backward``'s q-sized gradient, zero-filled
    (width each) with its slice copied in (read and write the slice: 2·width for the two), and autograd adds the two
    (read two, write: 3·width): 7·width."""
    return 2.0 * width, 7.0 * width


def residual_bytes(model: ModelConfig, width: float) -> float:
    """Bytes a layer's output-bias, dropout and residual adds move forward, an element of the layer's ``tokens x
    hidden`` output (:attr:`dpsim.scenario.ModelConfig.bias_dropout_fusion`). A branch with a residual: fused read
    the branch output and the residual, write (3·width, and a 1-byte mask with dropout); unfused ``x + bias`` (read,
    write), dropout (read, write, mask) and ``residual + out`` (read two, write). The sequential block has two such
    branches. The parallel block (gpt-neox's ``gpt_j_residual``): the attention branch's bias add without a residual
    (fused: read, write, the mask; unfused: ``x + bias`` and dropout), the MLP branch's with the attention output as
    its residual, then ``residual + reduce(output)`` (read two, write) in a kernel of its own."""
    mask = 1.0 if model.dropout else 0.0
    dropout = 2.0 * width + mask if model.dropout else 0.0

    def branch(residual: bool) -> float:
        if model.bias_dropout_fusion:
            return (3.0 if residual else 2.0) * width + mask
        return 2.0 * width + dropout + (3.0 * width if residual else 0.0)

    if model.parallel_block:
        return branch(False) + branch(True) + 3.0 * width
    return 2.0 * branch(True)


def loss_bytes(kernel: str, width: float) -> tuple[float, float]:
    """Bytes the cross-entropy moves a logit element of ``width`` bytes, (forward, backward); each kernel reads its
    inputs and writes its output once (the row reductions' per-token results and the label gathers are negligible).

    ``megatron``: Megatron-LM's ``vocab_parallel_cross_entropy`` (``megatron/mpu/cross_entropy.py`` at the SC'21
    artifact de7dc40; ``megatron/core/tensor_parallel/cross_entropy.py`` today) on ``output.float()``
    (``gpt_model.py``, ``fp16_lm_cross_entropy`` off): the cast (width + 4), ``torch.max`` over the vocabulary (4),
    ``sub_`` of the max (8), ``torch.exp(out=)`` (8), ``sum`` (4), ``div_`` by the sum (8), the softmax saved for
    the backward; backward ``grad_input.mul_(grad_output)`` (8) and the cast of the fp32 gradient to the logits'
    dtype (4 + width). ``torch_fp32``: ``F.cross_entropy`` under autocast, whose fp32 list holds
    ``cross_entropy``: the cast (width + 4), ``log_softmax`` (8), ``nll_loss`` a gather; backward
    ``nll_loss_backward`` zero-fills its fp32 gradient (4) and scatters, ``log_softmax_backward`` reads the
    gradient and the output and writes (12), the cast back (4 + width). ``torch_float``: ``F.cross_entropy(pred.
    float(), labels)`` in eager mode (torchtitan's loss at 9dec370, no autocast): the same kernels, the cast before
    ``log_softmax`` rather than between it and ``nll_loss``. ``loss_parallel``: that call under DTensor's
    ``loss_parallel`` on vocabulary-sharded logits (torch ``distributed/tensor/parallel/loss.py``): ``_log_softmax``
    as ``torch._decomp``'s, out of place, with all-reduces of the row max and sum (the cast, ``amax`` 4, ``x - max``
    8, ``exp`` 8, ``sum`` 4, ``shifted - logsumexp`` 8: Megatron's forward bytes), and
    ``_nll_loss_and_log_softmax_backward``'s ``(zeros_like(x) + exp(x)) * grad`` (4, 8, 12, 8) and the cast back.
    ``torch``: ``torch_fp32``'s kernels at the logits' width, no casts: ``log_softmax`` (2·width); zero fill
    (width), ``log_softmax_backward`` (3·width).
    ``xentropy``: apex's fused kernel as flash-attn ships it (``csrc/xentropy``, ``cunn_SoftMaxXEntropyForward``:
    the max and the sum of exponentials in one block per row, only the loss and the log-sum-exp written; the
    backward reads the logits and writes their gradient): width, 2·width. ``inductor``: ``F.cross_entropy(pred.
    float(), labels)`` under ``torch.compile`` (torchtitan's ``build_cross_entropy_loss`` with
    ``training.compile``, ``torchtitan/components/loss.py`` at 820504e and e7c0cae): Inductor fuses the cast into
    the row reductions and the gather, so no fp32 copy or log-softmax is written, and the backward is one pointwise
    kernel, ``exp(x - lse) - onehot`` cast back to the logits' dtype: the same bytes as ``xentropy`` (a reduction
    looped without Inductor's online softmax would read the row twice forward: 2 bytes a logit more).
    """
    cast = 0.0 if width == 4.0 else width + 4.0
    if kernel == "megatron":
        return cast + 4.0 + 8.0 + 8.0 + 4.0 + 8.0, 8.0 + cast
    if kernel == "loss_parallel":
        return cast + 4.0 + 8.0 + 8.0 + 4.0 + 8.0, 4.0 + 8.0 + 12.0 + 8.0 + cast
    if kernel in ("torch_fp32", "torch_float"):
        return cast + 8.0, 4.0 + 12.0 + cast
    if kernel == "torch":
        return 2.0 * width, width + 3.0 * width
    if kernel in ("xentropy", "inductor"):
        return width, 2.0 * width
    raise ValueError(f"unknown loss kernel {kernel!r}")


def loss_saved_bytes(kernel: str, width: float) -> float:
    """Bytes a logit element the cross-entropy keeps for its backward (the last stage's activations): ``megatron``
    its softmax, fp32, computed in place in the ``.float()`` copy (4; the 16-bit logits are freed); ``torch_fp32``
    ``log_softmax``'s output at the logits' width and ``nll_loss``'s fp32 copy of it (autocast casts between the two:
    width + 4, 4 in fp32); ``loss_parallel`` its fp32 ``_log_softmax`` output (4); ``torch_float`` what
    ``torch_fp32`` keeps in fp32, ``log_softmax``'s fp32 output (4: the cast's fp32 copy is not saved,
    ``LogSoftmaxBackward`` keeps its result, and the caller's 16-bit logits are dropped before the backward,
    torchtitan's ``del pred``); ``torch`` its output at the logits' width;
    ``xentropy`` and ``inductor`` the logits themselves (width; Inductor's partitioner keeps the 16-bit input and
    the per-row log-sum-exp rather than any vocabulary-wide fp32 tensor)."""
    if kernel in ("megatron", "loss_parallel"):
        return 4.0
    if kernel == "torch_float":
        return loss_saved_bytes("torch_fp32", 4.0)
    if kernel == "torch_fp32":
        return width + 4.0 if width < 4.0 else 4.0
    return width


def loss_peak_bytes(kernel: str, width: float) -> float:
    """Bytes a logit element takes at the cross-entropy's peak, its saved bytes included: what the last stage's
    activations hold while every layer's are still saved. PyTorch's ``F.cross_entropy`` (``log_softmax`` then
    ``nll_loss``) peaks in its backward, before any layer's: ``nll_loss_backward`` fills a gradient the size of
    ``nll_loss``'s input beside what the two saved. ``torch_fp32``: under autocast ``log_softmax`` runs at the logits'
    width and ``nll_loss`` (on autocast's fp32 list) on an fp32 copy of its output, both saved: ``width`` + 4 + 4
    (10 at 16 bits: the H200 trace's ``aten::_log_softmax`` on BFloat16, then ``aten::to`` float for ``nll_loss``;
    ``torch.cuda.max_memory_allocated`` rose 10 bytes a logit in the backward); in fp32, where nothing is cast,
    ``_log_softmax_backward_data`` writes a third tensor beside the saved output and the gradient: 12. ``torch``
    (16-bit, no autocast): the output and the two gradients, ``3·width``. ``megatron`` (softmax, its gradient and the
    ``.float()`` copy in place) and ``xentropy``: what they save (:func:`loss_saved_bytes`). ``inductor``: the
    saved logits and the gradient its backward kernel writes beside them, ``2·width``. ``torch_float``: the fp32
    case of ``torch_fp32``, 12 (the saved log-probabilities, ``nll_loss_backward``'s gradient and
    ``log_softmax_backward``'s, all fp32, before the cast back). ``loss_parallel``: 16, the saved log-probabilities
    beside the backward's zero-filled fp32 gradient, ``exp`` of the log-probabilities and their sum (its forward's
    peak, the 16-bit logits, their fp32 copy, ``x - max`` and its ``exp``, is 14)."""
    if kernel == "torch_float":
        return loss_peak_bytes("torch_fp32", 4.0)
    if kernel == "loss_parallel":
        return 16.0
    if kernel == "torch_fp32":
        return width + 8.0 if width < 4.0 else 12.0
    if kernel == "torch":
        return 3.0 * width
    if kernel == "inductor":
        return 2.0 * width
    return loss_saved_bytes(kernel, width)


def layer_kernels(
    model: ModelConfig,
    device: DeviceConfig,
    precision: str,
    micro_batch: int,
    tensor_parallel: int = 1,
    sequence_parallel: bool = False,
    autocast: bool = False,
    row_split: int = 1,
    float8_all_gather: bool = True,
) -> list[Kernel]:
    """The kernels of one transformer layer for one micro-batch on one device (forward and backward); ``autocast``:
    ``training.autocast``'s fp32 norms (:func:`autocast_norm_bytes`). ``row_split``: the four linears' forward and
    data-gradient GEMMs each run as that many GEMMs of tokens/row_split rows (torch AsyncTP's decomposition,
    :func:`dpsim.analytic.parallel.tensor_parallel_local_time`); 1 for one GEMM each. ``float8_all_gather``: FSDP
    gathers ``model.fp8_linear: torchao_tensorwise``'s weights in float8 (:func:`torchao_cast_bytes`)."""
    p = _Pricer(device, precision)
    w = p.width
    s, b, h, a, t = float(model.seq_len), float(micro_batch), float(model.hidden), float(model.heads), tensor_parallel
    tokens = b * s
    d = h / a
    heads = a / t
    kv_heads = max(1.0, (model.kv_heads or model.heads) / t)
    f = float(model.ffn_hidden or 4 * model.hidden)
    shard = t if sequence_parallel else 1
    dropout = model.dropout

    if model.projections == "separate":
        p.linears("qkv", tokens, (heads * d, kv_heads * d, kv_heads * d), h, row_split)
        # autograd sums the three input gradients; the sum fuses into the kernel that reads the gradient next (the
        # norm's backward, or the reduce-scatter's staging copy under TP), which reads two more b·s·h tensors
        p.memory("qkv.dgrad_sum", "backward", 2.0 * w * tokens * h)
    else:
        p.linear("qkv", tokens, (heads + 2.0 * kv_heads) * d, h, row_split)
    p.linear("attention_out", tokens, h, heads * d, row_split)
    if model.projections == "separate" and model.gated_mlp:
        # the gated MLP's w1 and w3 likewise: two linears on one input, their input gradients summed (one more read)
        p.linears("mlp_up", tokens, (f / t, f / t), h, row_split)
        p.memory("mlp_up.dgrad_sum", "backward", w * tokens * h)
    else:
        p.linear("mlp_up", tokens, (2.0 if model.gated_mlp else 1.0) * f / t, h, row_split)
    p.linear("mlp_down", tokens, h, f / t, row_split)
    if p.fp8 and model.fp8_linear == "torchao_tensorwise":
        # torchao's Float8Linear under torch.compile: every distinct input and every output gradient cast, at
        # torchao's own count (torchao_cast_bytes)
        cast_forward, cast_backward = torchao_cast_bytes(model, micro_batch, t, sequence_parallel, float8_all_gather)
        p.memory("fp8_cast", "forward", cast_forward)
        p.memory("fp8_cast.grad", "backward", cast_backward)
    elif p.fp8:
        # FP8 casts (read 2, write 1) of the inputs the LayerNorm does not produce, and of the four output gradients
        p.memory("fp8_cast", "forward", 3.0 * tokens * (heads * d + f / t))
        p.memory("fp8_cast.grad", "backward", 3.0 * tokens * ((heads + 2 * kv_heads) * d + h + 2 * f / t + h))
        if model.fp8_linear == "te_linear":
            p.memory("fp8_cast.te_linear", "forward", te_linear_cast_bytes(model, micro_batch, t, sequence_parallel))

    batch = b * heads
    if model.attention == "flash":
        fwd_flops = 4.0 * s * s * d * batch * (0.5 if model.causal else 1.0)
        # a kernel of FlashAttention-2's generation on a device with newer ones runs at the device's FA2 rate
        fwd_eff, bwd_eff = attention_rate(device, model.attention_kernel, s, model.causal)
        p.fused("flash_attention", "forward", fwd_flops, fwd_eff)
        p.fused("flash_attention.backward", "backward", 2.5 * fwd_flops, bwd_eff)
    else:
        scores = batch * s * s
        p.gemm("scores", "forward", s, s, d, batch)
        p.gemm("context", "forward", s, d, s, batch)
        p.gemm("scores.dgrad_q", "backward", s, d, s, batch)
        p.gemm("scores.dgrad_k", "backward", s, d, s, batch)
        p.gemm("context.dgrad_probs", "backward", s, s, d, batch)
        p.gemm("context.dgrad_v", "backward", s, d, s, batch)
        if model.attention_qkv_copies:
            # metaseq: the contiguous q, k, v chunks and the √scaling products of q and k (read, write each); the
            # backward's reshapes of the q, k, v gradients out of the batched GEMMs' transposed layout
            q_elements, kv_elements = tokens * heads * d, tokens * kv_heads * d
            copies = 2.0 * w * (q_elements + 2.0 * kv_elements)
            p.memory("qkv_copies", "forward", copies + 2.0 * w * (q_elements + kv_elements))
            p.memory("qkv_copies.backward", "backward", copies)
        if model.attention_nan_to_num:  # metaseq: torch.nan_to_num(scores) before the fused softmax
            p.memory("scores_nan_to_num", "forward", 2.0 * w * scores)  # read, write
            # grad · isfinite(scores): read the scores, write and read a 1-byte mask, read the gradient, write
            p.memory("scores_nan_to_num.backward", "backward", (3.0 * w + 2.0) * scores)
        # Megatron's causal fused softmax (scaled_upper_triang_masked_softmax) touches only the lower triangle:
        # forward reads it and writes the whole row (zeros above): 1.5 w; backward reads the two triangles
        # (probabilities, gradient) and writes the row: 2 w. Unmasked (scaled_masked_softmax): 2 w and 3 w.
        read = 0.5 if model.causal else 1.0
        p.memory("softmax", "forward", (read + 1.0) * w * scores)
        p.memory("softmax.backward", "backward", (2.0 * read + 1.0) * w * scores)
        if dropout:
            p.memory("attention_dropout", "forward", (2.0 * w + 1.0) * scores)  # read, write, 1-byte mask
            p.memory("attention_dropout.backward", "backward", (2.0 * w + 1.0) * scores)

    if model.rope_kernels != "none":
        # q and k of this rank's heads, per element forward and backward (ModelConfig.rope_kernels)
        rope_forward, rope_backward = rope_bytes(model.rope_kernels, w)
        rotated = tokens * (heads + kv_heads) * d
        p.memory("rope", "forward", rope_forward * rotated * model.rotary_fraction)
        p.memory("rope.backward", "backward", rope_backward * rotated * model.rotary_fraction)
        if model.rotary_fraction < 1.0:  # gpt-neox's partial rotary: the cat of the two slices and its backward
            partial_forward, partial_backward = partial_rope_bytes(w)
            p.memory("rope_partial", "forward", partial_forward * rotated)
            p.memory("rope_partial.backward", "backward", partial_backward * rotated)

    act = tokens * h / shard
    norm_forward, norm_backward = _norm_bytes(model, w, autocast)
    p.memory("layernorms", "forward", 2 * norm_forward * act)
    p.memory("layernorms.backward", "backward", 2 * norm_backward * act)
    inner = tokens * f / t
    if model.gated_mlp and model.elementwise == "eager":
        # silu(gate) (read, write) then * up (read two, write); backward: the product's two gradients (read two,
        # write, each) and silu's (read the gradient and the gate, write)
        p.memory("mlp_activation", "forward", 5.0 * w * inner)
        p.memory("mlp_activation.backward", "backward", 9.0 * w * inner)
    else:
        activation_bytes = (3.0 if model.gated_mlp else 2.0) * w * inner
        p.memory("mlp_activation", "forward", activation_bytes)
        p.memory("mlp_activation.backward", "backward", 2.0 * activation_bytes)
    residual = (3.0 * w + (1.0 if dropout else 0.0)) * act
    p.memory("residual_adds", "forward", residual_bytes(model, w) * act)
    if not model.mlp_fused_bias:
        # metaseq's MLP: fc1's bias copied into its output and read back by the GEMM (2 passes over the inner
        # activation); fc2's bias add (read, write), dropout (read, write, 1-byte mask) and residual add (read
        # two, write) as three kernels where the fused one reads x and the residual and writes once (+ mask)
        # (already so in residual_bytes when no branch is fused)
        unfused = 2.0 * w * inner
        if model.bias_dropout_fusion:
            unfused += (2.0 * w + (2.0 * w if dropout else 0.0)) * act
        p.memory("mlp_unfused_bias", "forward", unfused)
    p.memory("residual_adds.backward", "backward", 2 * 2.0 * residual)
    return p.kernels


def _norm_bytes(model: ModelConfig, width: float, autocast: bool) -> tuple[float, float]:
    if autocast:
        return autocast_norm_bytes(model.elementwise, model.norm_kernel)
    return norm_bytes(model.elementwise, width, model.norm_kernel)


def _head_kernels(
    model: ModelConfig, device: DeviceConfig, precision: str, micro_batch: int, tp: int, autocast: bool = False
) -> list[Kernel]:
    """Final norm, logits GEMM and the cross-entropy's kernels (last stage)."""
    p = _Pricer(device, working_dtype(precision))
    tokens = float(micro_batch * model.seq_len)
    h, v = float(model.hidden), float(model.vocab) / tp
    norm_forward, norm_backward = _norm_bytes(model, p.width, autocast)
    p.memory("final_norm", "forward", norm_forward * tokens * h)
    p.memory("final_norm.backward", "backward", norm_backward * tokens * h)
    p.gemm("logits", "forward", tokens, v, h)
    p.gemm("logits.dgrad", "backward", tokens, h, v)
    p.gemm("logits.wgrad", "backward", h, v, tokens)
    loss_forward, loss_backward = loss_bytes(model.loss_kernel, p.width)
    p.memory("cross_entropy", "forward", loss_forward * tokens * v)
    p.memory("cross_entropy.backward", "backward", loss_backward * tokens * v)
    if model.logit_metrics:  # after the backward: each metric's F.cross_entropy under autocast, forward only
        metric_forward = loss_bytes("torch_fp32", p.width)[0]
        p.memory("logit_metrics", "backward", model.logit_metrics * metric_forward * tokens * v)
    return p.kernels


def _embedding_kernels(model: ModelConfig, device: DeviceConfig, precision: str, micro_batch: int) -> list[Kernel]:
    p = _Pricer(device, working_dtype(precision))
    moved = 2.0 * p.width * micro_batch * model.seq_len * model.hidden
    p.memory("embedding", "forward", moved)
    p.memory("embedding.backward", "backward", moved)
    return p.kernels


def _sum(kernels: list[Kernel], phase: str) -> float:
    return math.fsum(k.seconds for k in kernels if k.phase == phase)


def early_stop_skipped(model: ModelConfig, precision: str) -> dict[str, float]:
    """Share of each forward kernel of a layer that the recomputation does not rerun under
    ``training.recompute_early_stop``: the final residual add (``x + branch``: read two, write one, 3 elements of
    the working width out of :func:`residual_bytes`) and, unless dropout follows it or it is an FP8 autograd
    function, the MLP's down-projection GEMM, whose ``mm``/``addmm`` saves its inputs before it computes."""
    w = float(working_bytes(precision))
    skipped = {"residual_adds": 3.0 * w / residual_bytes(model, w)}
    if not model.dropout and precision != "fp8":
        skipped["mlp_down"] = 1.0
    return skipped


def op_sac_saved(model: ModelConfig, tensor_parallel: int = 1) -> dict[str, float]:
    """Share of each forward kernel of a layer that torchtitan's op-level selective checkpointing saves, so that the
    backward does not rerun it (``training.activation_recomputation: op``; the rest of the forward is rerun).

    torchtitan ``parallelize_llama.py`` at 820504e, ``_save_list``: ``aten.mm`` but every second one (its mm
    counter), the SDPA flash / efficient kernels, ``_c10d_functional.reduce_scatter_tensor`` and ``aten.max``. Of
    the block's mms wq, wk, wv, wo, w1, w3, w2 the 2nd, 4th and 6th are not saved: wk, wo and w3. At TP 1 the
    backward needs wo's output (the residual sum x + wo(·) feeds the MLP's norm, whose backward reads it), so wo is
    rerun. Under tensor parallelism (DTensor's ``RowwiseParallel(output_layouts=Shard(1))``) wo's output only feeds
    its reduce-scatter, whose output is saved and is what the residual sum reads: nothing in the backward needs wo's
    output, and AOTAutograd's partitioner (whose backward graph is the dead-code-eliminated slice the backward
    outputs need) does not rerun it. Saved: flash attention; of the QKV GEMM the q and v columns (this rank's
    heads and KV heads); half of the gated up-projection (w1); the down-projection (w2); under TP also the
    attention's output projection (wo)."""
    t = max(1, tensor_parallel)
    heads, kv = float(model.heads) / t, max(1.0, float(model.kv_heads or model.heads) / t)
    saved = {"flash_attention": 1.0, "qkv": (heads + kv) / (heads + 2.0 * kv), "mlp_up": 0.5, "mlp_down": 1.0}
    if t > 1:
        saved["attention_out"] = 1.0
    return saved


OP_SAC_RERUN: dict[str, tuple[int, str]] = {"qkv": (1, "wk"), "mlp_up": (1, "w3")}
"""Of the linears a kernel stands for (:attr:`Kernel.parts`, ``model.projections: separate``), the one torchtitan's op
SAC reruns, by position and name (:func:`op_sac_saved`: its mm counter leaves every second mm of wq, wk, wv, wo, w1,
w3, w2 unsaved): wk of (wq, wk, wv), w3 of (w1, w3)."""


def op_sac_rerun_seconds(kernel: Kernel, saved: Mapping[str, float]) -> float:
    """Seconds of a forward kernel that op-level checkpointing reruns: the rerun linear's own GEMM where the kernel
    stands for separate linears (:data:`OP_SAC_RERUN`: a narrow wk is memory bound, so its time is not its share of
    the columns), else the kernel's unsaved share (:func:`op_sac_saved`)."""
    if kernel.parts and kernel.name in OP_SAC_RERUN:
        return kernel.parts[OP_SAC_RERUN[kernel.name][0]]
    return kernel.seconds * (1.0 - saved.get(kernel.name, 0.0))


def _recompute_forward(
    kernels: list[Kernel],
    mode: str,
    model: ModelConfig | None = None,
    early_stop: dict[str, float] | None = None,
    tensor_parallel: int = 1,
) -> float:
    if mode == "full":
        skipped = early_stop or {}
        return math.fsum(k.seconds * (1.0 - skipped.get(k.name, 0.0)) for k in kernels if k.phase == "forward")
    if mode == "op" and model is not None:
        # torchtitan's op SAC: every forward kernel again but the saved ones (op_sac_saved)
        saved = op_sac_saved(model, tensor_parallel)
        return math.fsum(op_sac_rerun_seconds(k, saved) for k in kernels if k.phase == "forward")
    if mode == "selective":
        core = ("scores", "scores_nan_to_num", "context", "softmax", "attention_dropout")
        return math.fsum(k.seconds for k in kernels if k.phase == "forward" and k.name in core)
    return 0.0


def prices_flat(model: ModelConfig, device: DeviceConfig) -> bool:
    """Whether :func:`microbatch_compute` prices every FLOP at one fraction of peak (``cluster.device.efficiency``,
    else ``flat_efficiency``) instead of a transformer's operations on the GEMM and attention curves: with the
    device's ``efficiency`` override, for a model without an operation breakdown (``model.kind`` cnn or mlp), or on
    a device without a GEMM curve (no ``matmul_efficiency``)."""
    return device.efficiency is not None or model.kind != "transformer" or device.matmul_efficiency is None


def flat_fraction(device: DeviceConfig) -> float:
    """The one fraction of peak a step priced flat (:func:`prices_flat`) runs at: the device's ``efficiency``
    override, else its ``flat_efficiency``."""
    return device.efficiency if device.efficiency is not None else device.flat_efficiency


def microbatch_compute(
    model: ModelConfig,
    device: DeviceConfig,
    *,
    precision: str,
    micro_batch: int,
    tensor_parallel: int = 1,
    pipeline_parallel: int = 1,
    sequence_parallel: bool = False,
    recomputation: str = "none",
    stage_layers: Sequence[float] | None = None,
    stage_backward_extra: Sequence[float] | None = None,
    recompute_share: float = 1.0,
    autocast: bool = False,
    stage_forward_extra: Sequence[float] | None = None,
    recompute_early_stop: bool = False,
    float8_all_gather: bool = True,
) -> ComputeTimes:
    """Forward and backward seconds of one micro-batch on one device (the slowest pipeline stage).

    ``stage_layers``: transformer layers on each stage (default L/p each; see :func:`chunk_layers`).
    ``stage_backward_extra``: seconds each stage's backward adds (the gradient accumulation pass).
    ``recompute_share``: the share of layers that recompute (``training.recompute_layer_interval``).
    ``autocast``: ``training.autocast``'s fp32 norms; ``stage_forward_extra``: seconds each stage's forward adds
    (autocast's weight casts, :func:`autocast_cast_seconds`); ``recompute_early_stop``: torch's non-reentrant
    checkpoint stops the rerun early (``training.recompute_early_stop``, :func:`early_stop_skipped`);
    ``float8_all_gather``: FSDP gathers torchao's Float8 weights in float8 (:func:`torchao_cast_bytes`).
    """
    extra = list(stage_backward_extra) if stage_backward_extra is not None else [0.0] * pipeline_parallel
    extra_f = list(stage_forward_extra) if stage_forward_extra is not None else [0.0] * pipeline_parallel
    model_parallel = tensor_parallel * pipeline_parallel
    if prices_flat(model, device):
        flat = flat_fraction(device)
        peak = device.peak_for(precision)
        total = model.training_flops_per_sample * micro_batch / model_parallel / (peak * flat)
        fwd, bwd = total * FORWARD_FRACTION, total * (1.0 - FORWARD_FRACTION)
        redo = 0.0
        if recomputation != "none":
            fraction = _recomputation_fraction(model, recomputation, recompute_early_stop, precision, tensor_parallel)
            redo = (fwd + bwd) * fraction * recompute_share
        stage_s = tuple(fwd + bwd + redo + x + y for x, y in zip(extra, extra_f, strict=True))
        return ComputeTimes(fwd + max(extra_f), bwd + redo + max(extra), redo, stage_s, "flat")

    per_stage = (
        list(stage_layers) if stage_layers is not None else [model.layers / pipeline_parallel] * pipeline_parallel
    )
    key = _job_key(
        model,
        device,
        precision,
        micro_batch,
        tensor_parallel,
        sequence_parallel,
        recomputation,
        autocast,
        recompute_early_stop,
        float8_all_gather,
    )
    job = _Job(key, (model, device))
    layer_f, layer_b, layer_redo, head_f, head_b, embed_f, embed_b = _priced(job)
    layer_redo *= recompute_share
    stages: list[tuple[float, float]] = []
    for stage, layers in enumerate(per_stage):
        f, b = layers * layer_f, layers * (layer_b + layer_redo)
        if stage == 0:
            f, b = f + embed_f, b + embed_b
        if stage == pipeline_parallel - 1:
            f, b = f + head_f, b + head_b
        stages.append((f + extra_f[stage], b + extra[stage]))
    worst = max(range(len(stages)), key=lambda i: stages[i][0] + stages[i][1])
    redo = per_stage[worst] * layer_redo
    return ComputeTimes(stages[worst][0], stages[worst][1], redo, tuple(f + b for f, b in stages), "operations")


@dataclass(frozen=True)
class _Job:
    """What one micro-batch's kernels depend on; hashed by ``key`` only (a sweep prices each shape once)."""

    key: tuple[object, ...]
    objects: tuple[ModelConfig, DeviceConfig] | None = field(default=None, compare=False, hash=False)


def _job_key(
    model: ModelConfig,
    device: DeviceConfig,
    precision: str,
    mb: int,
    tp: int,
    sp: bool,
    recomputation: str,
    autocast: bool = False,
    early_stop: bool = False,
    float8_all_gather: bool = True,
) -> tuple[object, ...]:
    shape = (model.layers, model.seq_len, model.hidden, model.heads, model.kv_heads, model.ffn_hidden, model.vocab)
    flags: tuple[object, ...] = (model.gated_mlp, model.dropout, model.causal, model.attention)
    flags += (model.attention_nan_to_num, model.mlp_fused_bias, model.elementwise, model.rope_kernels)
    flags += (model.attention_kernel, model.loss_kernel, model.logit_metrics, model.rotary_fraction)
    flags += (model.norm_kernel, model.bias_dropout_fusion, model.parallel_block, model.attention_qkv_copies)
    flags += (model.fp8_linear, model.projections)
    d = device
    curve: tuple[object, ...] = (d.peak_flops, d.peak_flops_fp8, d.peak_flops_fp32, d.matmul_efficiency)
    curve += (d.kernel_overhead, tuple(d.attention_efficiency), d.memory_bandwidth, d.memory_efficiency)
    curve += (d.sustained_fraction, d.matmul_efficiency_fp8, d.gemm_waves, d.sm_count, tuple(d.gemm_tile))
    curve += (d.gemm_epilogue_exposed, d.attention_efficiency_fa2 and tuple(d.attention_efficiency_fa2))
    curve += (tuple(d.attention_half_seq), d.attention_half_seq_fa2 and tuple(d.attention_half_seq_fa2))
    # the float8 all-gather moves only model.fp8_linear: torchao_tensorwise's casts; one key otherwise
    gather = float8_all_gather or model.fp8_linear != "torchao_tensorwise"
    return (*shape, *flags, *curve, autocast, precision, mb, tp, sp, recomputation, early_stop, gather)


@lru_cache(maxsize=4096)
def _priced(job: _Job) -> tuple[float, float, float, float, float, float, float]:
    """(layer forward, layer backward, layer recompute, head forward/backward, embedding forward/backward)."""
    assert job.objects is not None
    model, device = job.objects
    autocast, precision, mb, tp, sp, recomputation, early_stop, gather = job.key[-8:]
    assert isinstance(precision, str) and isinstance(mb, int) and isinstance(tp, int)
    layer = layer_kernels(model, device, precision, mb, tp, bool(sp), bool(autocast), float8_all_gather=bool(gather))
    head = _head_kernels(model, device, precision, mb, tp, bool(autocast))
    embed = _embedding_kernels(model, device, precision, mb)
    return (
        _sum(layer, "forward"),
        _sum(layer, "backward"),
        _recompute_forward(
            layer, str(recomputation), model, early_stop_skipped(model, precision) if early_stop else None, tp
        ),
        _sum(head, "forward"),
        _sum(head, "backward"),
        _sum(embed, "forward"),
        _sum(embed, "backward"),
    )


def op_recomputed_flops_per_token(model: ModelConfig, tensor_parallel: int = 1) -> float:
    """GEMM FLOPs a token that torchtitan's op-level selective checkpointing reruns, over all TP ranks: wk (h x
    kv·d), wo (h x h; at TP 1 only, :func:`op_sac_saved`) and w3 (h x f) of every layer, 2 FLOPs a multiply-add."""
    h, f = float(model.hidden), float(model.ffn_hidden or 4 * model.hidden)
    kv_width = h / model.heads * (model.kv_heads or model.heads)
    wo = h if tensor_parallel <= 1 else 0.0
    return 2.0 * h * (kv_width + wo + f) * model.layers


def early_stop_flops_per_token(model: ModelConfig, precision: str) -> float:
    """Forward GEMM FLOPs a token that ``training.recompute_early_stop`` does not rerun: the down-projection of every
    layer (h x f, 2 FLOPs a multiply-add), where :func:`early_stop_skipped` skips it."""
    if "mlp_down" not in early_stop_skipped(model, precision):
        return 0.0
    return 2.0 * float(model.hidden) * float(model.ffn_hidden or 4 * model.hidden) * model.layers


def _recomputation_fraction(
    model: ModelConfig, mode: str, early_stop: bool = False, precision: str = "bf16", tensor_parallel: int = 1
) -> float:
    """Recomputed forward FLOPs over training FLOPs (the flat model's recomputation)."""
    if mode == "none":
        return 0.0
    if model.kind != "transformer":
        return 1.0 / 3.0 if mode == "full" else 0.0
    attention = 4.0 * model.layers * model.seq_len * model.hidden * model.seq_len
    if mode == "selective":
        return attention / model.training_flops_per_sample
    if mode == "op":
        return op_recomputed_flops_per_token(model, tensor_parallel) * model.seq_len / model.training_flops_per_sample
    dense = model.num_parameters - model.embedding_parameters
    skipped = early_stop_flops_per_token(model, precision) if early_stop else 0.0
    return (2.0 * dense * model.seq_len + attention - skipped * model.seq_len) / model.training_flops_per_sample


def chunk_layers(scenario: Scenario) -> list[list[float]]:
    """Transformer layers in each model chunk of each pipeline stage: ``[stage][chunk]``.

    Interleaved 1F1B gives stage i the chunks i, i+p, i+2p, … of the p·v chunks (Narayanan et
    al. 2021 §2.2.2). With ``embedding_pipeline_slots`` the split has L + 2 slots: the first chunk's
    first slot is the embedding and the last chunk's last slot the output layer.
    """
    m, t = scenario.model, scenario.training
    p = t.pipeline_parallel
    v = t.virtual_stages if t.pipeline_schedule == "interleaved" else 1
    if m.kind != "transformer":
        return [[max(m.layers, 1) / (p * v)] * v for _ in range(p)]
    extra = 2 if t.embedding_pipeline_slots else 0
    per_chunk = (m.layers + extra) / (p * v)
    out = []
    for stage in range(p):
        row = []
        for chunk in range(v):
            g = chunk * p + stage
            layers = per_chunk
            if extra and g == 0:
                layers -= 1
            if extra and g == p * v - 1:
                layers -= 1
            row.append(layers)
        out.append(row)
    return out


FP32_COPY_BYTES_PER_PARAM = 18.0
"""DeepSpeed ``BF16_Optimizer.update_hp_grads``: ``hp_grad.add_(lp.grad.to(torch.float32))``, the cast
reading 2 and writing 4 bytes, the add reading 4 + 4 and writing 4."""


def fsdp_gradient_divide_factors(world_size: int) -> tuple[float, float]:
    """FSDP1's gradient pre- and post-division factors over ``world_size`` data-parallel ranks (torch 2.x
    ``DefaultState._get_gradient_predivide_factor``: the factor doubles while it divides the world size and is
    below world_size / factor; the post-division is the rest), so that the sum of N gradients is divided by N in
    two steps (fp16 overflow). Each is a kernel only above 1 (``_div_if_needed``): 8 ranks (4, 2), 64 ranks (8, 8)."""
    factor = 1
    while world_size % factor == 0 and world_size / factor > factor:
        factor *= 2
    return float(factor), world_size / factor


FSDP_SHARD_PARAM_BYTES = 4.0
"""FSDP1's sharded ``FlatParameter`` under ``MixedPrecision`` keeps the fp32 master (the 16-bit copy is gathered
for compute), so ``_cast_grad_to_param_dtype`` casts a 16-bit reduced shard to fp32 and the shard gradient
accumulates in fp32."""


def fsdp_flat_gradient_bytes_per_param(scenario: Scenario) -> float:
    """Bytes FSDP1's flat-parameter gradient path (``training.gradient_accumulation_pass: fsdp_flat``) moves per
    parameter in one micro-batch, averaged over the step's k micro-batches, with w the width of the gradient
    autograd computes (:attr:`Scenario.gradient_buffer_bytes_per_param`), r the reduce dtype's
    (:attr:`Scenario.gradient_bytes_per_param`), N the data-parallel ranks (the division factors' world) and S
    the ranks a unit is sharded over (N, or ``training.fsdp_shard_group`` under HYBRID_SHARD) (torch 2.x
    ``_runtime_utils._post_backward_hook``, ``_reduce_grad``, ``_accumulate_sharded_grad``):

    - ``SplitBackward``'s ``torch.cat`` of the views' gradients into the unsharded flat gradient: read w, write w;
    - ``flat_param.grad.to(reduce_dtype)`` where r differs from w: read w, write r;
    - the pre-division (:func:`fsdp_gradient_divide_factors`, above 1 from 2 ranks): read r, write r;
    - on the 1/S shard after the reduce-scatter: the post-division (read r, write r, where its factor is above 1),
      the cast to the fp32 sharded parameter where r is narrower (read r, write 4) and, on all but the first
      micro-batch, ``_saved_grad_shard += shard`` (read 4 + 4, write 4).

    fairscale's FSDP (``fairscale_flat``; 88200493, ``fully_sharded_data_parallel.py`` ``_post_backward_hook`` and
    ``_post_reduction_hook``, the same steps) adds, in ``utils/reduce_scatter_bucketer.py``'s direct path for a
    chunk above the bucket's shard, ``torch.cat(input_list)`` of the N chunks before ``_reduce_scatter_base`` (read
    r, write r, unsharded) and the ``torch.zeros_like`` output shard (write r on the shard)."""
    w = float(scenario.gradient_buffer_bytes_per_param)
    r = float(scenario.gradient_bytes_per_param)
    n = scenario.data_parallel
    k = scenario.accumulation_steps
    pre, post = fsdp_gradient_divide_factors(n)
    shards = scenario.training.fsdp_shard_group or n
    unsharded = 2.0 * w + (w + r if r != w else 0.0) + (2.0 * r if pre > 1 else 0.0)
    shard = (2.0 * r if post > 1 else 0.0) + (r + FSDP_SHARD_PARAM_BYTES if r < FSDP_SHARD_PARAM_BYTES else 0.0)
    shard += 3.0 * FSDP_SHARD_PARAM_BYTES * (k - 1) / k
    if scenario.training.gradient_accumulation_pass == "fairscale_flat":
        unsharded += 2.0 * r
        shard += r
    return unsharded + shard / shards


def fsdp2_bytes_per_param(scenario: Scenario) -> float:
    """Bytes FSDP2's (``fully_shard``) own passes on the compute stream move per parameter in one micro-batch,
    averaged over the step's k micro-batches (``training.gradient_accumulation_pass: fsdp2``), with p the gathered
    parameters' width (:attr:`Scenario.param_bytes_per_param`; autograd's unsharded ``.grad`` has it too) and r the
    reduce dtype's (:attr:`Scenario.gradient_bytes_per_param`). torch ``distributed/fsdp/_fully_shard``
    (``_fsdp_collectives.py``, ``_fsdp_param.py``, ``_fsdp_param_group.py``; torch 2.4 and later, the releases
    torchtitan's rows ran):

    - each all-gather's copy-out (``foreach_all_gather_copy_out``, called by ``FSDPParamGroup.wait_for_unshard``
      on the current stream: ``split_with_sizes_copy`` of the flat all-gather output into every parameter's
      unsharded tensor): read and write what the gather moved (:func:`dpsim.sharding.parameter_gather_bytes`: p, or
      under FSDP's float8 all-gather a linear weight's float8 byte), for every gather the step makes
      (:func:`dpsim.sharding.step_traffic`: the forward's and, under FULL_SHARD, the backward's less the root unit);
    - each reduce-scatter's copy-in (``foreach_reduce`` calls ``foreach_reduce_scatter_copy_in``,
      ``chunk_cat`` of the unsharded gradients into the reduce dtype's input, before
      ``reduce_scatter_stream.wait_stream(current_stream)``): read p, write r, once a reduction;
    - under ``no_sync`` (:attr:`Scenario.keeps_unsharded_gradients`; ``set_requires_gradient_sync(False)``, as
      ``torch.distributed.pipelining`` runs every micro-batch) with r wider than p: the first micro-batch's
      ``to_accumulated_grad_if_needed`` (``grad.to(reduce_dtype)``: read p, write r), each later one's
      ``accumulate_unsharded_grad_if_needed`` (``unsharded_accumulated_grad += grad``: read r + p, write r), and
      the copy-in from the accumulated gradient (read r, write r) in place of the one above; with r = p autograd
      adds into ``.grad`` (read 2p, write p on each later micro-batch).

    The all-gather's copy-in (``all_gather_copy_in``, on its own stream) and the shard's post-division and
    accumulation (on the reduce-scatter stream, 1/N of a parameter) are not counted."""
    traffic = step_traffic(scenario)
    if traffic.forward_gathers == 0 and traffic.gradient_reductions == 0:  # one rank: nothing gathered or reduced
        return 0.0
    k = scenario.accumulation_steps
    p = float(scenario.param_bytes_per_param)
    r = float(scenario.gradient_bytes_per_param)
    # the copy-out reads and writes what each gather moved (dpsim.sharding.parameter_gather_bytes, a parameter)
    forward = parameter_gather_bytes(scenario, 1.0)
    backward = parameter_gather_bytes(scenario, 1.0, traffic.backward_gather_share, layers=True)
    moved = 2.0 * (traffic.forward_gathers * forward + traffic.backward_gathers * backward)
    if scenario.keeps_unsharded_gradients:
        moved += (p + r) + (k - 1) * (2.0 * r + p) + 2.0 * r if r != p else 3.0 * p * (k - 1) + 2.0 * p
    else:
        moved += traffic.gradient_reductions * (p + r)
    return moved / k


def gradient_accumulation_bytes_per_param(scenario: Scenario) -> float:
    """Bytes one micro-batch's gradient accumulation pass moves per parameter, averaged over the step's
    ``k`` micro-batches (``training.gradient_accumulation_pass``): ``autograd`` adds on all but the first
    (``grad += new``: 3 x the gradient buffer's width, x (k - 1)/k), ``fp32_copy`` on every one, ``fsdp_flat``
    FSDP1's and ``fairscale_flat`` fairscale FSDP's flat-gradient passes
    (:func:`fsdp_flat_gradient_bytes_per_param`), ``fsdp2`` FSDP2's copies (:func:`fsdp2_bytes_per_param`)."""
    t = scenario.training
    if t.gradient_accumulation_pass == "autograd":
        k = scenario.accumulation_steps
        return 3.0 * scenario.gradient_buffer_bytes_per_param * (k - 1) / k
    if t.gradient_accumulation_pass == "fp32_copy":
        return FP32_COPY_BYTES_PER_PARAM
    if t.gradient_accumulation_pass in ("fsdp_flat", "fairscale_flat"):
        return fsdp_flat_gradient_bytes_per_param(scenario)
    if t.gradient_accumulation_pass == "fsdp2":
        return fsdp2_bytes_per_param(scenario)
    return 0.0


def gradient_accumulation_seconds(scenario: Scenario) -> list[float]:
    """The gradient accumulation pass of one micro-batch on one device of each pipeline stage, seconds:
    memory bound over the stage's parameters (:func:`dpsim.analytic.memory.stage_parameters`), added to
    that stage's backward in both engines (:func:`compute_times`, and the calibrated profile's backward)."""
    per_param = gradient_accumulation_bytes_per_param(scenario)
    if per_param <= 0.0:
        return [0.0] * scenario.training.pipeline_parallel
    from dpsim.analytic.memory import stage_parameters  # memory imports this module

    device = scenario.cluster.device
    return [memory_bound_seconds(device, params * per_param) for params in stage_parameters(scenario)]


def compute_device(scenario: Scenario) -> DeviceConfig:
    """The device as the scenario's GEMMs see it: with ``precision: fp32`` and ``training.fp32_matmul: ieee`` (TF32
    off, PyTorch's default) its fp32 peak is the FP32 units' (``peak_flops_fp32_ieee``), not TF32's."""
    device = scenario.cluster.device
    t = scenario.training
    if t.precision == "fp32" and t.fp32_matmul == "ieee" and device.peak_flops_fp32_ieee is not None:
        return device.model_copy(update={"peak_flops_fp32": device.peak_flops_fp32_ieee})
    return device


def mfu_peak_flops(scenario: Scenario) -> float:
    """One device's peak FLOP/s that MFU divides by: the peak of the precision the model's GEMMs run at
    (:func:`compute_device`'s ``peak_for(training.precision)``): FP8 runs against ``peak_flops_fp8``, fp32 against
    TF32's or (``fp32_matmul: ieee``) the FP32 units' peak, bf16/fp16 against the 16-bit peak. The convention of
    Composer's ``SpeedMonitor`` (``GPU_AVAILABLE_FLOPS[gpu][precision]``: h100-sxm ``amp_fp8`` 3.958e15 / 2,
    ``amp_bf16`` 1.979e15 / 2, ``fp32`` 67e12), which llm-foundry's tables print, and of torchtitan's Float8 rows
    (``docs/performance.md``: Llama 3.1 405B 177 tokens/s at 23.46 %, the FP8 peak's figure)."""
    return compute_device(scenario).peak_for(scenario.training.precision)


def autocast_cast_seconds(scenario: Scenario) -> list[float]:
    """``training.autocast``'s weight casts of one micro-batch on one device of each pipeline stage, seconds, the
    forward's and again the backward's (the same bytes, :data:`AUTOCAST_CAST_BYTES_PER_PARAM` a parameter): memory
    bound over the stage's parameters that a GEMM reads (:func:`dpsim.analytic.memory.autocast_cast_parameters`).
    ``autocast_mode.cpp``'s ``cached_casts`` casts each weight once a forward however often it is used (the tied
    embedding, read by the output GEMM, once)."""
    from dpsim.analytic.memory import autocast_cast_parameters  # memory imports this module

    device = scenario.cluster.device
    return [
        memory_bound_seconds(device, cast * AUTOCAST_CAST_BYTES_PER_PARAM) if cast else 0.0
        for cast in autocast_cast_parameters(scenario)
    ]


def compute_times(scenario: Scenario) -> ComputeTimes:
    """:func:`microbatch_compute` for the scenario's model, device, precision and parallel layout, each
    stage's backward with its gradient accumulation pass (:func:`gradient_accumulation_seconds`) and, under
    ``training.autocast``, each stage's forward and backward with the weight casts (:func:`autocast_cast_seconds`)."""
    t = scenario.training
    casts = autocast_cast_seconds(scenario)
    accumulation = gradient_accumulation_seconds(scenario)
    return microbatch_compute(
        scenario.model,
        compute_device(scenario),
        precision=t.precision,
        micro_batch=t.micro_batch,
        tensor_parallel=t.tensor_parallel,
        pipeline_parallel=t.pipeline_parallel,
        sequence_parallel=t.sequence_parallel,
        recomputation=t.activation_recomputation,
        stage_layers=[sum(row) for row in chunk_layers(scenario)],
        stage_backward_extra=[a + c for a, c in zip(accumulation, casts, strict=True)],
        recompute_share=scenario.recomputed_layer_share,
        autocast=t.autocast,
        stage_forward_extra=casts,
        recompute_early_stop=t.recompute_early_stop,
        float8_all_gather=float8_all_gathers(t),
    )


def fit_gemm_curve(points: Sequence[tuple[float, float]], peak_flops: float) -> tuple[float, float]:
    """Fit the GEMM curve ``t = F / (peak · efficiency) + overhead`` to measured (FLOPs, seconds).

    Ordinary least squares of ``t`` on ``F`` (slope ``1/(peak·efficiency)``, intercept the
    per-kernel overhead, clamped at 0 with the slope refitted through the origin). Returns
    (efficiency, overhead seconds); the efficiency may exceed 1 when ``peak_flops`` understates
    the device. Used by ``dpsim calibrate --compute`` on a sweep of compute-bound GEMMs.
    Times that do not grow with the work (a slope ≤ 0: launch-bound sizes, or a busy machine's noise)
    are a ValueError: the origin refit would have turned them into any efficiency at all.
    """
    if len(points) < 2:
        raise ValueError("need at least two GEMM measurements to fit the curve")
    xs = [float(f) for f, _ in points]
    ys = [float(t) for _, t in points]
    n = len(xs)
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        raise ValueError("GEMM sizes must differ to fit the curve")
    slope = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    overhead = my - slope * mx
    if slope <= 0:
        raise ValueError(
            "the GEMMs' times do not grow with their work (least-squares slope <= 0): they timed launches or a "
            "busy machine's noise, not GEMMs; time larger sizes on an idle device"
        )
    if overhead < 0:
        overhead = 0.0
        slope = math.fsum(x * y for x, y in zip(xs, ys, strict=True)) / math.fsum(x * x for x in xs)
    return 1.0 / (slope * peak_flops), overhead
