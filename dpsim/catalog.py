"""Named hardware and models: devices, links and model architectures.

Every entry cites its source in a comment. Numbers are SI: FLOP/s, bytes, bytes/s, seconds.
Model parameter counts and training FLOPs are *derived from the architecture*
(:func:`transformer_parameters`, :func:`training_flops_per_token`), never typed in,
except for convolutional networks and MLPs whose counts come from their source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from dpsim.errors import did_you_mean

__all__ = [
    "DEVICES",
    "INTER_CPU_GBPS",
    "LINKS",
    "MODELS",
    "DeviceSpec",
    "LinkSpec",
    "ModelSpec",
    "TransformerShape",
    "canonical",
    "embedding_parameters",
    "lookup",
    "model_flops_per_sample",
    "model_flops_per_token",
    "model_parameters",
    "shape_parameters",
    "training_flops_per_token",
    "transformer_parameters",
]

_T = TypeVar("_T")


@dataclass(frozen=True)
class DeviceSpec:
    """An accelerator (or CPU) as the compute model sees it."""

    name: str
    peak_flops: float
    """Dense peak at the training precision (bf16/fp16 tensor cores; fp32 for CPUs), FLOP/s."""
    memory_bytes: float
    """Device memory capacity, bytes (datasheet nominal, read as decimal GB)."""
    memory_bandwidth: float
    """Device memory bandwidth, bytes/s (used for the optimizer step, which is memory bound)."""
    efficiency: float
    """Flat fraction of peak for models without an operation breakdown (CNNs, MLPs), and for
    transformers on devices without a GEMM curve (``matmul_efficiency`` = 0)."""
    source: str
    peak_flops_fp8: float = 0.0
    """Dense FP8 tensor-core peak, FLOP/s (0: no FP8 tensor cores)."""
    peak_flops_fp32: float = 0.0
    """Dense peak for fp32 training (TF32 tensor cores where the device has them), FLOP/s; 0 = peak/2."""
    peak_flops_fp32_ieee: float = 0.0
    """IEEE FP32 peak without tensor cores (the FP32 FMA units, the datasheet's "FP32" row), FLOP/s: what fp32
    GEMMs run at when TF32 is off (``training.fp32_matmul: ieee``); 0 = ``peak_flops_fp32``."""
    matmul_efficiency: float = 0.0
    """Largest fraction of peak a GEMM reaches (maximum achievable matmul FLOP/s over peak); 0 = no curve."""
    matmul_efficiency_fp8: float = 0.0
    """The same for FP8 GEMMs, as a fraction of ``peak_flops_fp8``; 0 = ``matmul_efficiency``."""
    kernel_overhead_s: float = 0.0
    """Fixed time per GEMM kernel on top of its FLOPs at the achievable rate (ramp-up, tail, launch)."""
    attention_efficiency: tuple[float, float] = (0.0, 0.0)
    """Fraction of peak of fused (flash) attention, forward and backward."""
    attention_efficiency_fa2: tuple[float, float] = (0.0, 0.0)
    """The same for a fused attention kernel of FlashAttention-2's generation (``model.attention_kernel: fa2``),
    on a device whose own best kernels are newer (Hopper: FlashAttention-3's TMA and wgmma); (0, 0) = as
    ``attention_efficiency`` (the device's best kernel is of that generation)."""
    attention_half_seq: tuple[float, float] = (0.0, 0.0)
    """Sequence length at which the causal fused-attention kernel (forward, backward) reaches half of
    ``attention_efficiency``, its long-sequence rate: efficiency(s) = attention_efficiency · s / (s + s½) under a
    causal mask, s / (s + s½/2) without (:func:`dpsim.compute.attention_rate`); (0, 0) = flat in s."""
    attention_half_seq_fa2: tuple[float, float] = (0.0, 0.0)
    """The same for ``attention_efficiency_fa2``."""
    memory_efficiency: float = 0.0
    """Achievable fraction of the memory bandwidth for element-wise (memory-bound) kernels."""
    curve_source: str = ""
    """Where the GEMM curve, attention and memory efficiencies come from."""
    sustained_fraction: float = 1.0
    """Share of the kernel-benchmark rates (the curve above) a device sustains inside a training step,
    one number per device type measured on a published per-layer timing (1 = none measured)."""
    host_link: str = ""
    """Catalog link between the GPU and its NIC (its PCIe generation, x16; GPUDirect RDMA goes GPU ->
    PCIe switch -> NIC, not over NVLink); '' = not known (inter-node traffic then leaves through the
    intra-node port)."""
    sm_count: int = 0
    """Streaming multiprocessors (0 = not stated): one GEMM output tile per SM per wave (the opt-in
    wave-quantisation model, ``cluster.device.gemm_waves``)."""
    gemm_epilogue_exposed: bool = False
    """Whether a GEMM kernel stores its output tile after its k-loop instead of under the next tile's
    (Ampere's one-tile-per-CTA kernels; Hopper's persistent ping-pong kernels overlap it): the store then
    adds m·n·width / bandwidth to the k-loop, and ``matmul_efficiency`` is the k-loop's rate."""

    def __post_init__(self) -> None:
        if self.peak_flops <= 0 or self.memory_bytes <= 0 or self.memory_bandwidth <= 0:
            raise ValueError(f"device {self.name!r}: peak_flops, memory_bytes and memory_bandwidth must be > 0")
        if not 0.0 < self.efficiency <= 1.0:
            raise ValueError(f"device {self.name!r}: efficiency must be in (0, 1], got {self.efficiency}")
        if not 0.0 < self.sustained_fraction <= 1.0:
            raise ValueError(f"device {self.name!r}: sustained_fraction must be in (0, 1]")
        if self.sm_count < 0:
            raise ValueError(f"device {self.name!r}: sm_count must be >= 0")
        fractions = (
            self.matmul_efficiency,
            self.matmul_efficiency_fp8,
            self.memory_efficiency,
            *self.attention_efficiency,
            *self.attention_efficiency_fa2,
        )
        if any(x < 0.0 for x in (*self.attention_half_seq, *self.attention_half_seq_fa2)):
            raise ValueError(f"device {self.name!r}: attention_half_seq must be >= 0")
        if any(not 0.0 <= f <= 1.0 for f in fractions):
            raise ValueError(f"device {self.name!r}: efficiencies must be in [0, 1]")
        if self.matmul_efficiency and not (self.memory_efficiency and all(self.attention_efficiency)):
            raise ValueError(f"device {self.name!r}: a GEMM curve needs memory and attention efficiencies too")

    @property
    def has_curve(self) -> bool:
        """Whether compute is priced operation by operation (a GEMM curve is known)."""
        return self.matmul_efficiency > 0.0


@dataclass(frozen=True)
class LinkSpec:
    """A link class: per-direction bandwidth and one-way latency."""

    name: str
    bandwidth: float
    """Unidirectional bandwidth per device (intra-node) or per NIC (inter-node), bytes/s."""
    latency_s: float
    source: str
    efficiency: float = 1.0
    """Measured achievable share of ``bandwidth`` (what the engines use: ``achievable``)."""
    efficiency_source: str = ""
    nccl_net_latency_s: float = 0.0
    """The latency NCCL's network transport of this link reports to NCCL (``ncclNetProperties_t.latency``, the
    graph's ``latencyInter``), which NCCL's tuner adds to its estimate of every inter-node step, twice for Simple
    (``src/graph/tuning.cc`` ``ncclTopoTuneModel``, v2.18.3-v2.30.7): what it picks by, not what a hop costs.
    0: NCCL's own IB and socket transports ("Not set", ``net_ib``, ``net_socket.cc``)."""
    nccl_net_latency_source: str = ""
    intra_efficiency: float = 0.0
    """Measured share of ``bandwidth`` NCCL's kernels reach moving data GPU to GPU over this link as a node's
    intra-node link, where that differs from ``efficiency`` (0: the same). On PCIe the GPUs' own threads copy
    the data (``src/device/prims_simple.h``: loads and stores through P2P pointers or host memory, no copy
    engine), and the rate NCCL's ring reaches is below what a DMA engine (a NIC's GPUDirect RDMA, a
    ``cudaMemcpy``) or NCCL's search figure gets from the same link: ``intra_achievable``."""
    intra_efficiency_source: str = ""

    def __post_init__(self) -> None:
        if self.bandwidth <= 0:
            raise ValueError(f"link {self.name!r}: bandwidth must be > 0, got {self.bandwidth}")
        if self.latency_s < 0:
            raise ValueError(f"link {self.name!r}: latency_s must be >= 0, got {self.latency_s}")
        if self.nccl_net_latency_s < 0:
            raise ValueError(f"link {self.name!r}: nccl_net_latency_s must be >= 0, got {self.nccl_net_latency_s}")
        if self.nccl_net_latency_s > 0 and not self.nccl_net_latency_source:
            raise ValueError(f"link {self.name!r}: an NCCL net latency needs its source")
        if not 0.0 < self.efficiency <= 1.0:
            raise ValueError(f"link {self.name!r}: efficiency must be in (0, 1], got {self.efficiency}")
        if self.efficiency < 1.0 and not self.efficiency_source:
            raise ValueError(f"link {self.name!r}: an efficiency needs its source")
        if not 0.0 <= self.intra_efficiency <= 1.0:
            raise ValueError(f"link {self.name!r}: intra_efficiency must be in [0, 1], got {self.intra_efficiency}")
        if self.intra_efficiency > 0 and not self.intra_efficiency_source:
            raise ValueError(f"link {self.name!r}: an intra-node efficiency needs its source")

    @property
    def achievable(self) -> float:
        """Achievable per-direction bandwidth (bytes/s): nominal × measured efficiency."""
        return self.bandwidth * self.efficiency

    @property
    def intra_node_efficiency(self) -> float:
        """The achievable share GPU to GPU inside a node: ``intra_efficiency``, ``efficiency`` where none is given."""
        return self.intra_efficiency or self.efficiency

    @property
    def intra_achievable(self) -> float:
        """Per-direction bytes/s GPU to GPU inside a node: nominal × ``intra_node_efficiency``."""
        return self.bandwidth * self.intra_node_efficiency


@dataclass(frozen=True)
class ModelSpec:
    """A model architecture. Transformers derive parameters and FLOPs from their shape."""

    name: str
    kind: Literal["transformer", "cnn", "mlp"]
    source: str
    layers: int = 0
    hidden: int = 0
    heads: int = 0
    kv_heads: int = 0
    """Key/value heads (grouped-query attention); 0 means equal to ``heads``."""
    ffn_hidden: int = 0
    """Feed-forward inner size; 0 means 4·hidden."""
    gated_mlp: bool = False
    """SwiGLU-style MLP with three matrices (Llama) instead of two (GPT)."""
    dropout: bool = True
    """Dropout in training (GPT-2, GPT-3, BERT); Llama trains without (its configs: dropout 0)."""
    seq_len: int = 0
    vocab: int = 0
    tied_embeddings: bool = True
    learned_positions: bool = True
    parameters: float = 0.0
    """Only for non-transformers (given by the source); transformers derive it."""
    flops_per_sample: float = 0.0
    """Only for non-transformers: training FLOPs per sample (forward + backward)."""
    sample_size: tuple[int, ...] = field(default=())
    token_types: int = 0
    """Segment (token-type) embedding rows, BERT only (2); 0 for decoder-only models."""
    pooler: bool = False
    """BERT's pooler (one h×h dense layer with bias on the [CLS] token); False for decoders."""
    causal: bool = True
    """Decoder (causal mask: fused attention skips the masked half); False for encoders (BERT)."""

    def __post_init__(self) -> None:
        if self.kind == "transformer":
            for name in ("layers", "hidden", "heads", "seq_len", "vocab"):
                if getattr(self, name) <= 0:
                    raise ValueError(f"model {self.name!r}: transformer needs {name} > 0")
            if self.hidden % self.heads:
                raise ValueError(f"model {self.name!r}: hidden {self.hidden} is not a multiple of heads {self.heads}")
            if self.kv_heads < 0 or (self.kv_heads and self.heads % self.kv_heads):
                raise ValueError(
                    f"model {self.name!r}: heads {self.heads} is not a multiple of kv_heads {self.kv_heads}"
                )
        elif self.parameters <= 0 or self.flops_per_sample <= 0:
            raise ValueError(f"model {self.name!r}: a {self.kind} model needs parameters > 0 and flops_per_sample > 0")


def transformer_parameters(
    layers: int,
    hidden: int,
    vocab: int,
    seq_len: int,
    *,
    heads: int,
    kv_heads: int = 0,
    ffn_hidden: int = 0,
    gated_mlp: bool = False,
    tied_embeddings: bool = True,
    learned_positions: bool = True,
    token_types: int = 0,
    pooler: bool = False,
) -> float:
    """Parameter count of a decoder-only transformer (or BERT-style encoder) from its shape.

    Per layer: attention Q and O projections 2h², K and V projections 2·h·(h·kv/heads),
    MLP 2·h·f (or 3·h·f when gated), biases and two LayerNorms when GPT-style
    (GPT-2 has biases; Llama has none and uses RMSNorm with one vector each).
    Embeddings V·h (plus V·h again when untied), positions s·h when learned.
    For GPT-2 with f = 4h this is the familiar 12·L·h² + 13·L·h + (V + s)·h
    (Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU
    Clusters Using Megatron-LM", §3; Kaplan et al. 2020, Table 1).
    This reproduces the Hugging Face counts exactly for GPT-2 and Llama 2/3.
    BERT (post-LN encoder) has the same per-layer count as GPT-2; its embedding LayerNorm
    takes the place of GPT-2's final LayerNorm, and ``token_types``/``pooler`` add its
    segment embeddings (types·h) and pooler (h² + h), giving HF ``BertModel``'s count.
    """
    kv = kv_heads or heads
    ffn = ffn_hidden or 4 * hidden
    kv_dim = hidden * kv // heads
    attention = 2 * hidden * hidden + 2 * hidden * kv_dim
    mlp = (3 if gated_mlp else 2) * hidden * ffn
    # Llama: no biases, two RMSNorm weight vectors per layer.
    # GPT-2: biases on every projection (q, k, v, o; fc, proj) and two LayerNorms (weight + bias).
    gpt_extras = (hidden + 2 * kv_dim + hidden) + (ffn + hidden) + 4 * hidden
    extras = 2 * hidden if gated_mlp else gpt_extras
    per_layer = attention + mlp + extras
    embeddings = vocab * hidden * (1 if tied_embeddings else 2)
    positions = seq_len * hidden if learned_positions else 0
    final_norm = (1 if gated_mlp else 2) * hidden
    bert_extras = token_types * hidden + ((hidden * hidden + hidden) if pooler else 0)
    return float(layers * per_layer + embeddings + positions + final_norm + bert_extras)


def training_flops_per_token(
    parameters: float, layers: int, hidden: int, seq_len: int, vocab: int, *, embedding_parameters: float = 0.0
) -> float:
    """Training FLOPs per token: 6·N plus attention and logits, forward + backward.

    6·N for the dense matrices (2 FLOPs per multiply-add forward, twice that backward),
    with N the non-embedding parameters, plus 12·L·s·h for the attention score and value
    products, plus 6·V·h for the output projection (logits). This is the PaLM paper's
    count (Chowdhery et al. 2022, Appendix B: 6N + 12·L·H·Q·T) and equals
    Narayanan et al. 2021 eq. (3) without activation recomputation.
    No causal-mask discount is applied to the attention term (as in PaLM's MFU).
    """
    dense = parameters - embedding_parameters
    return 6.0 * dense + 12.0 * layers * seq_len * hidden + 6.0 * vocab * hidden


def _require_transformer(spec: ModelSpec, what: str) -> None:
    if spec.kind != "transformer":
        raise ValueError(f"model {spec.name!r}: {what} is defined for transformers only, not {spec.kind}")


class TransformerShape(Protocol):
    """The fields a transformer's parameter count is derived from: a :class:`ModelSpec`'s, and the scenario's
    ``model`` (:class:`dpsim.scenario.ModelConfig`) names them alike."""

    @property
    def layers(self) -> int: ...
    @property
    def hidden(self) -> int: ...
    @property
    def vocab(self) -> int: ...
    @property
    def seq_len(self) -> int: ...
    @property
    def heads(self) -> int: ...
    @property
    def kv_heads(self) -> int: ...
    @property
    def ffn_hidden(self) -> int: ...
    @property
    def gated_mlp(self) -> bool: ...
    @property
    def tied_embeddings(self) -> bool: ...
    @property
    def learned_positions(self) -> bool: ...
    @property
    def token_types(self) -> int: ...
    @property
    def pooler(self) -> bool: ...


def shape_parameters(shape: TransformerShape) -> float:
    """:func:`transformer_parameters` of a model's shape (a catalog entry's or a scenario's)."""
    return transformer_parameters(
        shape.layers,
        shape.hidden,
        shape.vocab,
        shape.seq_len,
        heads=shape.heads,
        kv_heads=shape.kv_heads,
        ffn_hidden=shape.ffn_hidden,
        gated_mlp=shape.gated_mlp,
        tied_embeddings=shape.tied_embeddings,
        learned_positions=shape.learned_positions,
        token_types=shape.token_types,
        pooler=shape.pooler,
    )


def model_parameters(spec: ModelSpec) -> float:
    """Total parameters: derived from the shape for transformers, given for CNNs and MLPs."""
    return float(spec.parameters) if spec.kind != "transformer" else shape_parameters(spec)


def embedding_parameters(spec: ModelSpec) -> float:
    """Parameters that :func:`training_flops_per_token` leaves out of its 6·N term.

    Token embeddings V·h, the untied output head V·h (its FLOPs are the separate 6·V·h
    logits term), learned positions s·h and BERT's segment embeddings: lookups, not matmuls.
    """
    _require_transformer(spec, "embedding_parameters")
    tables = spec.vocab * (1 if spec.tied_embeddings else 2) + spec.token_types
    if spec.learned_positions:
        tables += spec.seq_len
    return float(tables * spec.hidden)


def model_flops_per_token(spec: ModelSpec) -> float:
    """Training FLOPs (forward + backward, no recomputation) per token of a transformer."""
    _require_transformer(spec, "model_flops_per_token")
    return training_flops_per_token(
        model_parameters(spec),
        spec.layers,
        spec.hidden,
        spec.seq_len,
        spec.vocab,
        embedding_parameters=embedding_parameters(spec),
    )


def model_flops_per_sample(spec: ModelSpec) -> float:
    """Training FLOPs per sample: per token × seq_len for transformers, given otherwise."""
    if spec.kind == "transformer":
        return model_flops_per_token(spec) * spec.seq_len
    return float(spec.flops_per_sample)


_GIB = 2.0**30
"""The "32/40/80 GB" of NVIDIA's V100, A100 and H100 datasheets are binary: nvidia-smi reports
81920 MiB for an 80 GB A100 (HBM stacks come in powers of two). H200 and B200 are given in
decimal GB as their datasheets state them (141 GB, 180 GB usable)."""

# --- Devices -------------------------------------------------------------------------------
# peak_flops: dense (no 2:4 sparsity) tensor-core peak at fp16/bf16, from the datasheet;
# peak_flops_fp8 and peak_flops_fp32 (TF32) likewise.
# memory_bytes: the datasheet's "GB" (binary for V100/A100/H100, see _GIB).
#
# Compute is priced operation by operation (dpsim.compute) from a GEMM curve per device:
#   GEMM time = max(2mnk / (peak · matmul_efficiency), bytes / (bandwidth · memory_efficiency))
#               + kernel_overhead
# matmul_efficiency is the maximum achievable matmul FLOP/s (MAMF, Bekman's mamf-finder.py sweep of
# torch.matmul shapes, stas00/ml-engineering compute/accelerator) over peak; the published sweep
# results we read are the table in mag-/gpu_benchmark README.md (same mamf-finder method): A100 SXM
# 267.9 TFLOP/s bf16 (best shape MxNxK 6912x16384x2048) = 0.859 of 312; H100 SXM 792.1 TFLOP/s
# (6144x17920x2816) = 0.801 of 989.
# gemm_epilogue_exposed (A100): an Ampere GEMM kernel (cuBLAS's and CUTLASS's sm80 kernels: one output tile
# per CTA, a multistage k-loop, then the epilogue) writes its output tile after its k-loop, and the SM's
# next tile starts after that; the store is not under any k-loop. Colfax Research, "Dynamic persistent
# tile scheduling with Cluster Launch Control" (research.colfax-intl.com, 2026): "with single tile
# scheduling we can't overlap ... one work tile's epilogue with another's mainloop"; "the main benefit
# of persistent tile scheduling is that we can overlap the epilogue of one tile with the mainloop of
# the next tile" (Shah et al. 2024, FlashAttention-3, App. B.6, the same for attention on H100).
# Hopper's and Blackwell's cuBLAS/CUTLASS GEMMs are persistent warp-specialized kernels, so
# H100/H200/B200 keep the roofline. The A100 GEMM is then
#   max(2mnk / (peak · e), (mk + kn)·width / bw) + mn·width / bw + kernel_overhead,
# and the k-loop's e is the MAMF measurement with its store taken out (dpsim.compute.epilogue_free_efficiency):
# 1/e = 312/267.9 - 312e12 / (2048 · 2.039e12 · 0.83) = 1.1646 - 0.0900, e = 0.931 (the 80 GB part's
# bandwidth; which A100 SXM the sweep ran on is not stated). A GEMM with a short k pays more per FLOP:
# Korthikanti's 22B attention projection (k = h/t = 768) runs at 0.82 of its k-loop rate, the 1T one
# (k 3200) at 0.95 -- the shape dependence the flat plateau did not have.
# kernel_overhead: the fixed cost that makes small GEMMs slow,
# from the H100 (sm_90) bf16 rows of XLA's measured matmul table (openxla
# xla/service/gpu/model/matmul_interpolator_data.h): 2048^3 runs at 632 TFLOP/s (27.2 us, of
# which 21.7 us are FLOPs at 0.801 of peak) and 4096^3 at 783 TFLOP/s (175.4 us vs 173.4 us):
# 5.5 and 2.0 us, taken as 4 us; no A100 sweep with small shapes was at hand, so A100 uses the
# same 4 us (an assumption). attention_efficiency (forward, backward) of fused flash attention:
# A100 from Dao 2023, "FlashAttention-2" (abstract: forward 50-73 % of peak; backward lower),
# taken as (0.6, 0.5); H100 from Shah et al. 2024, "FlashAttention-3" (forward up to 740 TFLOP/s
# = 75 % in FP16; backward 1.5-1.75x FlashAttention-2's ~300 TFLOP/s), taken as (0.65, 0.5).
# attention_efficiency_fa2: a kernel of FlashAttention-2's generation (mma.sync, no TMA or wgmma) on a device whose
# own are newer. A100 needs none: FlashAttention-2 is its best. H100/H200: measured with attention_half_seq_fa2 on one
# H200 (benchmarks/results/gpu-h200-2026-12-04/kernels.json; torch 2.11.0+cu130, SDPA's flash backend =
# FlashAttention-2's kernels; causal, 16 heads of 128, b·s = 8192 tokens, so the same number of row blocks at every
# s): each rate scaled by that GPU's pace on the bf16 layer GEMMs (1.171 x the curve's time: its clocks under load,
# taken as the same for every kernel on that GPU), the backward less autograd's accumulation into the benchmark's leaf
# q, k, v, then fitted as e·s/(s + s½) (dpsim.compute.attention_rate: a fixed cost a query row besides its key
# positions; `python benchmarks/gpu_device_check.py --fit`): forward 0.426, half at s 1839, backward 0.328, half at
# 490 (through the three points within 8 %). At s 8192 that is the FlashAttention-3 paper's FA2 figures the catalog
# had ("FlashAttention-2 achieving only 35% utilization on the H100", ~300 TFLOP/s backward: 0.35 / 0.30); at s 2048
# those were 1.6 x (forward) and 1.1 x (backward) too fast. The H100/H200's own attention_efficiency stays flat at the
# paper's FlashAttention-3 figures: the same H200's cuDNN backend (TMA/wgmma, Transformer Engine's fused attention)
# rises the same way (0.738 / 753, 0.676 / 1135), but priced so and re-derived through the H100 chain below (idle
# 0.84, FP8 plateau 0.77, sustained 0.71 from NeMo's rows, which then imply 0.705 / 0.720 where the flat figures give
# 0.714 / 0.715) it moves the calibration runs from 2.74 to 2.82 % mean |error|: not taken (README, Published runs).
# memory_efficiency 0.83: Jia et al. 2018, "Dissecting the NVIDIA Volta GPU Architecture via
# Microbenchmarking", measured 750 of 900 GB/s on V100; assumed to hold for HBM2e/HBM3.
# None of these numbers comes from a training run. `dpsim calibrate --compute` measures the
# curve of the machine at hand.
#
# sustained_fraction: kernel benchmarks run one kernel on one idle GPU; a training step does not
# reach their rates. One number per device type, from a published per-layer timing that is none of
# the runs benchmarks/published_runs.py predicts. A100: Korthikanti et al. 2022 ("Reducing
# Activation Recomputation in Large Transformer Models", MLSys'23) Table 4 times one transformer
# layer of their 22B GPT (h 6144, 64 heads, s 2048, micro-batch 4, TP 8, standard attention, Selene
# DGX A100): forward 7.7 ms + backward 11.9 ms = 19.6 ms, the forward including its two TP
# all-reduces (the backward ones overlap the weight-gradient GEMMs, their §6.2). The curve (with the
# exposed epilogue above and Megatron's causal softmax over the lower triangle, dpsim.compute) prices that
# layer's kernels at 14.73 ms and the two 100.7 MB NVLink all-reduces at 1.50 ms:
# 14.73 / (19.6 - 1.50) = 0.81 (0.84 with the flat plateau and a full softmax; tests/test_compute.py
# re-derives it; the same number then reproduces
# Table 4's other rows within 5 %: sequence parallel, full and selective recomputation). The shortfall
# is about uniform across GEMM-bound and memory-bound kernels (forward 1.20x, backward 1.24x, selective
# recompute of the attention core 1.22x; 1.18x/1.19x/1.2x with the flat plateau), i.e. device-wide
# (clocks under a full node's power and
# thermal load, concurrent NCCL kernels), not one kernel class. H100: NVIDIA Transformer Engine
# "Getting Started" (docs/getting_started in NVIDIA/TransformerEngine; its summary table states "on an
# NVIDIA H100 GPU", taken as SXM: NVIDIA's own Slurm cluster) times forward + backward of one GPT
# layer (h 4096, ffn 16384, 32 heads, s 2048, micro-batch 8, bf16, causal, dropout 0.1, one GPU):
# "TE Unfused + TE Attention" (te.Linear/te.LayerNorm, fused attention) 35.71 ms (the CSV of another
# run: 35.78). The curve prices that layer's kernels at 29.60 ms: 29.60 / 35.75 = 0.83 of the curve on
# one idle GPU without collectives -- an upper bound for a training step, not the fraction used. The H100's
# sustained_fraction, 0.71, is measured in training: NVIDIA NeMo's performance summary for container
# 24.07 on DGX H100 (NVIDIA/NeMo docs/source/performance/performance_summary.md), the rows without
# tensor or pipeline parallelism, so that nothing unmodelled (TP communication overlap, bubbles) enters:
# LLAMA2-7B on 8 GPUs (GBS 128, MBS 1, s 4096, FP8) 16,934 tokens/s/GPU and GPT3-5B on 64 GPUs (GBS
# 2048, MBS 4, s 2048, FP8) 23,406. Both are 99.6-99.9 % compute in the model; the fraction at which
# it predicts each is 0.714 and 0.716 (benchmarks/published_runs.py H100_CALIBRATION_RUNS,
# implied_sustained_fraction; tests/test_published_runs.py re-derives 0.71; 0.707 and 0.700 before the loss
# was priced as Megatron-core 0.8's vocab_parallel_cross_entropy runs it in these rows, model.loss_kernel).
# None of them is a predicted run (Llama 3 is Meta's, the NeMo run predicted is GPT-3 175B at TP 4 on 25.02). They run
# FP8, so the value rests on the FP8 plateau below; the shortfall is taken as device-wide (as the
# A100's is uniform over kernel classes) and used for bf16 too.
# matmul_efficiency_fp8 (H100/H200): the FP8 GEMM plateau, from the FP8 rows of the same page -- the
# same layer on the same GPU, only the linear layers' precision changed, so the difference isolates
# the FP8 GEMMs at that page's own (idle) 0.83 (none of the predicted runs). "TE
# Unfused + TE Attention + FP8" 23.41 ms and "TE Fused + TE Attention + FP8" (te.LayerNormLinear /
# te.LayerNormMLP, whose FP8 cast of the LayerNorm output is free, as dpsim.compute prices it)
# 22.96 ms. With sustained 0.83 and the FP8 GEMMs at the BF16 fraction (0.801) the curve prices the
# layer at 22.18 ms; it prices 22.96 ms with FP8 GEMMs at 0.761 of the 1,979 TFLOP/s FP8 peak
# (1,506 TFLOP/s; 0.740 for the unfused row): 0.76 (tests/test_compute.py re-derives it). H200: the
# same GH100 chip at the same 700 W, assumed = H100. B200: no per-layer timing at hand, 1.0 and the
# BF16 fraction for FP8 (its predictions are expected to be optimistic).
#
# efficiency: flat fraction of peak, used for models without an operation breakdown (CNNs,
# MLPs) and for devices without a GEMM curve; one value per device from a stated source.
# MFU figures are end to end (they include exposed communication).
# sm_count: NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020): 108 SMs on the A100; NVIDIA H100
# Tensor Core GPU Architecture whitepaper (2022): 132 SMs on the H100 SXM5 (the H200 is the same GH100
# configuration); B200: 148, two dies of 80 SMs with 74 enabled on each (Chips and Cheese, "Nvidia's B200: Keeping
# the CUDA Juggernaut Rolling", 2025: "B200 enables 74 SMs per die, giving 148 SMs across the GPU"). Read by the
# opt-in wave-quantisation model (dpsim.compute.wave_efficiency) and by benchmarks/published_runs.py's what-ifs that
# take SMs from the GEMMs (--sm-margin-what-if, --sm-share-what-if).
_GEMM_A100: dict[str, Any] = dict(
    sm_count=108,
    gemm_epilogue_exposed=True,
    matmul_efficiency=1.0 / (312 / 267.9 - 312e12 / (2048 * 2.039e12 * 0.83)),
    kernel_overhead_s=4e-6,
    attention_efficiency=(0.6, 0.5),
    memory_efficiency=0.83,
    curve_source="MAMF sweep (mag-/gpu_benchmark, Bekman's mamf-finder); FlashAttention-2; Jia et al. 2018; "
    "sustained 0.81 from Korthikanti et al. 2022 Table 4; exposed epilogue: Colfax persistent-scheduling notes",
    sustained_fraction=0.81,
)
_GEMM_HOPPER: dict[str, Any] = dict(
    matmul_efficiency=792.1 / 989,
    kernel_overhead_s=4e-6,
    attention_efficiency=(0.65, 0.5),
    memory_efficiency=0.83,
    curve_source="MAMF sweep (mag-/gpu_benchmark); XLA sm_90 matmul table; FlashAttention-3; Jia et al. 2018",
)
_HOPPER_SUSTAINED: dict[str, Any] = dict(
    sm_count=132,
    attention_efficiency_fa2=(0.426, 0.328),
    attention_half_seq_fa2=(1839.0, 490.0),
    sustained_fraction=0.71,
    matmul_efficiency_fp8=0.76,
    curve_source=_GEMM_HOPPER["curve_source"] + "; FP8 GEMM plateau 0.76 from Transformer Engine Getting Started; "
    "sustained 0.71 from NeMo 24.07's in-training LLAMA2-7B and GPT3-5B rows (H100); FA2 attention curve measured on "
    "one H200 (benchmarks/results/gpu-h200-2026-12-04)",
)
DEVICES: dict[str, DeviceSpec] = {
    d.name: d
    for d in (
        # NVIDIA Tesla V100 datasheet (SXM2 32 GB): 125 TFLOP/s fp16 tensor, 32 GB HBM2 at 900 GB/s.
        # Efficiency: NVIDIA ADLR, "MegatronLM's Supercharged V1.0" (2019): 62.4 TFLOP/s per V100 on a
        # 1.2B GPT-2, single GPU (no communication), stated as 48 % of peak; taken as stated (against
        # the SXM2's 125 TFLOP/s it would be 0.50). No GEMM curve: priced at the flat efficiency.
        # (Shoeybi et al. 2019, Megatron-LM §1, reported 39 TFLOP/s = 30 % before those optimizations.)
        DeviceSpec(
            "v100",
            125e12,
            32 * _GIB,
            900e9,
            0.48,
            "NVIDIA V100 datasheet; NVIDIA ADLR MegatronLM blog 2019",
            peak_flops_fp32=15.7e12,
            peak_flops_fp32_ieee=15.7e12,
        ),
        # NVIDIA A100 datasheet (SXM 40 GB): 312 TFLOP/s dense BF16, 156 TF32, 40 GB HBM2 at 1.555 TB/s.
        # Flat efficiency (non-transformers): Korthikanti et al. 2022 abstract, 54.2 % MFU.
        DeviceSpec(
            "a100-40gb",
            312e12,
            40 * _GIB,
            1.555e12,
            0.54,
            "NVIDIA A100 datasheet; Korthikanti et al. 2022",
            peak_flops_fp32=156e12,
            peak_flops_fp32_ieee=19.5e12,
            **_GEMM_A100,
            host_link="pcie4",
        ),
        # NVIDIA A100 datasheet (SXM 80 GB): 312 TFLOP/s dense BF16, 80 GB HBM2e at 2.039 TB/s.
        DeviceSpec(
            "a100-80gb",
            312e12,
            80 * _GIB,
            2.039e12,
            0.54,
            "NVIDIA A100 datasheet; Korthikanti et al. 2022",
            peak_flops_fp32=156e12,
            peak_flops_fp32_ieee=19.5e12,
            **_GEMM_A100,
            host_link="pcie4",
        ),
        # NVIDIA H100 datasheet (SXM5): 989 TFLOP/s dense BF16 (1979 with sparsity), 1979 dense FP8,
        # 494.5 TF32, 80 GB HBM3 at 3.35 TB/s. Flat efficiency 0.47: NVIDIA/Megatron-LM README (2024),
        # "up to 47 % MFU on H100". FP8 GEMM plateau: Transformer Engine Getting Started (above).
        DeviceSpec(
            "h100-sxm",
            989e12,
            80 * _GIB,
            3.35e12,
            0.47,
            "NVIDIA H100 datasheet; Megatron-LM README (2024)",
            peak_flops_fp8=1979e12,
            peak_flops_fp32=494.5e12,
            peak_flops_fp32_ieee=67e12,
            **(_GEMM_HOPPER | _HOPPER_SUSTAINED),
            host_link="pcie5",
        ),
        # NVIDIA H200 datasheet (SXM): 989 TFLOP/s dense BF16, 1979 FP8, 141 GB HBM3e at 4.8 TB/s.
        # The same GH100 compute as the H100 (same SMs and clocks): the H100's curve.
        DeviceSpec(
            "h200",
            989e12,
            141e9,
            4.8e12,
            0.47,
            "NVIDIA H200 datasheet; efficiency assumed = H100 (Megatron-LM README)",
            peak_flops_fp8=1979e12,
            peak_flops_fp32=494.5e12,
            peak_flops_fp32_ieee=67e12,
            **(_GEMM_HOPPER | _HOPPER_SUSTAINED),
            host_link="pcie5",
        ),
        # NVIDIA DGX B200 datasheet: 8 B200 with 1,440 GB HBM3e in total (180 GB per GPU; the B200
        # product page's 192 GB is the raw stack size), 64 TB/s in total (8 TB/s per GPU),
        # 36 PFLOP/s FP16/BF16 with sparsity per 8 GPUs, i.e. 2.25 PFLOP/s dense BF16 per GPU, 4.5
        # dense FP8, 1.1 TF32. No published sweep read: the Hopper curve is assumed (revisit with
        # `dpsim calibrate --compute` on a B200).
        DeviceSpec(
            "b200",
            2.25e15,
            180e9,
            8e12,
            0.47,
            "NVIDIA DGX B200 datasheet; efficiency and GEMM curve assumed = H100",
            peak_flops_fp8=4.5e15,
            peak_flops_fp32=1.1e15,
            sm_count=148,
            **_GEMM_HOPPER,
            host_link="pcie5",
        ),
        # Generic server CPU, an assumption rather than a datasheet: ~1 TFLOP/s fp32 (e.g. 32 cores x
        # 2.0 GHz x 2 AVX-512 FMA units x 16 lanes x 2 FLOPs = 4 TFLOP/s peak, about 1 TFLOP/s
        # sustained under AVX-512 clock throttling), 64 GB DRAM, 100 GB/s (~4 DDR4-3200 channels at
        # 25.6 GB/s). Efficiency 0.3 is an assumption (no published source): PyTorch CPU training of
        # small models runs far below GEMM peak. Use a calibration profile (or `dpsim calibrate
        # --compute`) for real CPU runs.
        DeviceSpec(
            "cpu",
            1e12,
            64e9,
            100e9,
            0.3,
            "assumption: generic server CPU (stated in catalog comment)",
            peak_flops_fp32=1e12,
        ),
    )
}

# --- Links ---------------------------------------------------------------------------------
# bandwidth: nominal per-direction data rate after line coding (128b/130b for PCIe, 64b/66b
# for Ethernet/InfiniBand), before protocol headers; bits converted to bytes (/8).
# efficiency: the measured achievable share of that rate for one link (the engines use
# bandwidth x efficiency; `dpsim catalog links` shows both). Sources are link-level: NCCL's
# own per-link bandwidth constants (src/graph/topo.h: SM80_NVLINK_BW 20.0 GB/s and
# SM90_NVLINK_BW 20.6 GB/s per NVLink lane of 25 GB/s, SM100_NVLINK_BW 40.1 of 50,
# PCI_BW 12.0 GB/s for a Gen3 x16 slot of 15.75, NET_BW 12.0 GB/s for a 100 Gbit/s NIC of
# 12.5) and NVIDIA engineers' per-NIC figures in the NCCL issue tracker (HDR: "24GB/s
# inter-node", NVIDIA/nccl#412; NDR: "46-48GB/s per NIC", NVIDIA/nccl-tests#290). They are
# not fitted to any collective benchmark (benchmarks/nccl_tests_table.py says which rows
# could be read as calibration).
# latency_s: typical one-way small-message latency. Bases: NVLink/PCIe ~1-2 us per hop, the
# order of NCCL's own per-hop model (src/graph/tuning.cc, hwLat: NVLink 0.4-0.6 us LL, PCI
# 1.0 us LL, a few us for the Simple protocol); InfiniBand 5 us = ~1 us RDMA verbs latency
# (perftest ib_send_lat, ConnectX "sub-600 ns" port latency plus switch) plus NCCL's proxy and
# GPU-NIC hand-off (NCCL hwLat NET Simple ring 6.6-9.6 us); Ethernet 10 us = kernel TCP
# sockets (gloo) on a data-centre LAN, ~20 us netperf TCP_RR round trip. NCCL's algorithms
# with a protocol pay NCCL's per-step latencies, each network hop with what the link's latency exceeds
# InfiniBand's 5 us LL hop on top, and no less than the link's latency (Phase.timed_latency; EFA's ~23 us
# hop is what makes small all-reduces on AWS slow).
_NCCL_TOPO = "NVIDIA/nccl src/graph/topo.h"
_TCP_1500 = "TCP/IPv4 over 1500-byte Ethernet frames: 1448 payload bytes per 1538 on the wire = 0.94"
_AWS_OFI_LATENCY = "aws/aws-ofi-nccl src/platform-aws.cpp (p4d, p4de, p5, p5e: latency 75.0 us)"
LINKS: dict[str, LinkSpec] = {
    lk.name: lk
    for lk in (
        # NVLink 2 (V100 SXM2/SXM3): 6 links x 25 GB/s per direction = 150 GB/s per direction per GPU (NVIDIA
        # V100 datasheet: "300 GB/s" NVLink is bidirectional; DGX-1 V100 white paper: each link "a peak bandwidth
        # of 25 GB/s in each direction"). NCCL: 20.0 GB/s per link achievable (SM70_NVLINK_BW) -> 0.80. On
        # NVSwitch (DGX-2/DGX-2H: 16 GPUs, each GPU's 6 links to the 6 switch planes) every GPU has the 150 GB/s
        # port the switch model gives it; DGX-1V's 8 GPUs are a hybrid cube mesh of direct links instead.
        LinkSpec(
            "nvlink2",
            150e9,
            1e-6,
            "NVIDIA V100 datasheet; DGX-1 V100 white paper",
            20.0 / 25.0,
            f"{_NCCL_TOPO} SM70_NVLINK_BW",
        ),
        # NVLink 3 (A100): 12 links x 25 GB/s per direction = 300 GB/s per direction (NVIDIA A100 datasheet:
        # "600 GB/s" is bidirectional). NCCL: 20.0 GB/s per link achievable (SM80_NVLINK_BW) -> 0.80.
        LinkSpec("nvlink3", 300e9, 1e-6, "NVIDIA A100 datasheet", 20.0 / 25.0, f"{_NCCL_TOPO} SM80_NVLINK_BW"),
        # NVLink 4 (H100 SXM): 18 links, 900 GB/s bidirectional = 450 GB/s per direction (NVIDIA H100 datasheet).
        # NCCL: 20.6 GB/s per link (SM90_NVLINK_BW) -> 0.824.
        LinkSpec("nvlink4", 450e9, 1e-6, "NVIDIA H100 datasheet", 20.6 / 25.0, f"{_NCCL_TOPO} SM90_NVLINK_BW"),
        # NVLink 5 (B200): 18 links, 1.8 TB/s bidirectional = 900 GB/s per direction (NVIDIA DGX B200 datasheet).
        # NCCL: 40.1 GB/s per link (SM100_NVLINK_BW) -> 0.802.
        LinkSpec("nvlink5", 900e9, 1e-6, "NVIDIA DGX B200 datasheet", 40.1 / 50.0, f"{_NCCL_TOPO} SM100_NVLINK_BW"),
        # PCIe 3.0 x16: 8 GT/s x 16 lanes x 128/130 / 8 = 15.75 GB/s per direction (PCI-SIG PCIe 3.0 spec).
        # NCCL: 12.0 GB/s for a Gen3 x16 link (src/graph/topo.h PCI_BW; topo.cc "8.0 GT/s PCIe" = 60 x 100
        # Mbit/s per lane, width x speed / 80 = 12) -> 0.76. V100 PCIe, T4, RTX 20xx/30xx-era boards.
        LinkSpec(
            "pcie3",
            8e9 * 16 * 128 / 130 / 8,
            2e-6,
            "PCI-SIG PCI Express 3.0 base specification",
            12.0 / 15.75,
            f"{_NCCL_TOPO} PCI_BW (Gen3 x16)",
        ),
        # PCIe 4.0 x16: 16 GT/s x 16 lanes x 128/130 / 8 = 31.5 GB/s per direction (PCI-SIG PCIe 4.0 spec).
        # TLP overheads: NCCL models a Gen3 x16 slot (15.75 GB/s) as 12.0 GB/s (PCI_BW) -> 0.76, same encoding.
        # Achievable 24.0 GB/s, what NCCL's topology gives a Gen4 x16 link (src/graph/topo.cc: kvDictPciGen
        # "16.0 GT/s PCIe" = 120 x 100 Mbit/s per lane, link bandwidth width x speed / 80 = 24 GB/s; Gen5 48).
        # Also the GPU -> NIC path of a DGX A100 (DeviceSpec.host_link: A100 datasheet "PCIe Gen4 64 GB/s"
        # bidirectional; NVIDIA "DGX A100 System Architecture" white paper 2020, system topology: four PCIe
        # Gen4 switches, each joining 2 GPUs and 2 ConnectX-6 NICs, GPUDirect RDMA through the switch, no
        # NVLink on that path). At 24.0 GB/s it is just above an HDR NIC's
        # 24 GB/s, so it limits only a NIC faster than the GPU's slot (an NDR NIC on an A100).
        LinkSpec(
            "pcie4",
            16e9 * 16 * 128 / 130 / 8,
            2e-6,
            "PCI-SIG PCI Express 4.0 base specification",
            12.0 / 15.75,
            f"{_NCCL_TOPO} PCI_BW (Gen3 x16, same 128b/130b encoding and TLP overhead)",
        ),
        # PCIe 5.0 x16: 32 GT/s x 16 lanes x 128/130 / 8 = 63.0 GB/s per direction (PCI-SIG PCIe 5.0 spec).
        # Achievable 48.0 GB/s (NCCL topo.cc, as above); the H100/H200 SXM GPU -> NIC path (datasheets: "PCIe
        # Gen5 128 GB/s" bidirectional) and B200's (DGX B200 datasheet: ConnectX-7, a PCIe Gen5 x16 adapter),
        # above an NDR NIC's 46-48 GB/s.
        # GPU to GPU inside a PCIe-only node, NCCL's ring reaches 41.5 GB/s (intra_efficiency): purplepow3r's
        # all_reduce_perf -b 4G -e 4G -g 7 with NCCL_P2P_LEVEL=SYS on a dual AMD Turin with 7 Blackwell cards
        # (RTX PRO 6000 WS and RTX 5090, direct-attach Gen5 x16), 41.3-41.7 GB/s busbw, every ring edge P2P; at
        # 4 GiB the busbw is the links' rate (voipmonitor/rtx6kpro hardware/pcie-bandwidth.md at 1306de8).
        # Copy engines on the same links reach 50-56 GB/s a way (p2pBandwidthLatencyTest, same page); the ring's
        # data is moved by the GPUs' threads. Other Gen5 rings on the page plateau at 39.4-41.1 (switch boxes,
        # NCCL_MIN_NCHANNELS=8). NCCL's search and the GPU -> NIC path keep 48.0.
        LinkSpec(
            "pcie5",
            32e9 * 16 * 128 / 130 / 8,
            2e-6,
            "PCI-SIG PCI Express 5.0 base specification",
            12.0 / 15.75,
            f"{_NCCL_TOPO} PCI_BW (Gen3 x16, same 128b/130b encoding and TLP overhead)",
            intra_efficiency=41.5 / (32 * 16 * 128 / 130 / 8),
            intra_efficiency_source=(
                "voipmonitor/rtx6kpro hardware/pcie-bandwidth.md (1306de8): NCCL all_reduce_perf 4 GiB, 7 Blackwell "
                "GPUs on a dual Turin, NCCL_P2P_LEVEL=SYS, 41.3-41.7 GB/s busbw; midpoint"
            ),
        ),
        # InfiniBand EDR 4x: 100 Gbit/s per port (IBTA spec; NVIDIA ConnectX-5 datasheet); NCCL NET_BW 12.0 GB/s.
        LinkSpec(
            "ib-edr",
            100e9 / 8,
            5e-6,
            "IBTA InfiniBand spec; NVIDIA ConnectX-5 datasheet",
            12.0 / 12.5,
            f"{_NCCL_TOPO} NET_BW (100 Gbit/s = 12.0 GB/s)",
        ),
        # InfiniBand HDR 4x: 200 Gbit/s per port (IBTA spec; NVIDIA ConnectX-6 datasheet); 24 GB/s per NIC.
        LinkSpec(
            "ib-hdr",
            200e9 / 8,
            5e-6,
            "IBTA InfiniBand spec; NVIDIA ConnectX-6 datasheet",
            24.0 / 25.0,
            "NVIDIA/nccl#412 (NCCL maintainer: HDR gives 24GB/s inter-node)",
        ),
        # InfiniBand NDR 4x: 400 Gbit/s per port (IBTA spec; NVIDIA ConnectX-7 datasheet); 46-48 GB/s per NIC.
        LinkSpec(
            "ib-ndr",
            400e9 / 8,
            5e-6,
            "IBTA InfiniBand spec; NVIDIA ConnectX-7 datasheet",
            47.0 / 50.0,
            "NVIDIA/nccl-tests#290 (NVIDIA: NDR @ 400Gbps gives 46-48GB/s per NIC; midpoint)",
        ),
        # 25 Gigabit Ethernet (IEEE 802.3by, 25GBASE-R): 25 Gbit/s per port.
        LinkSpec("25gbe", 25e9 / 8, 10e-6, "IEEE 802.3by", 1448 / 1538, _TCP_1500),
        # 100 Gigabit Ethernet (IEEE 802.3bj/802.3cd): 100 Gbit/s per port.
        LinkSpec("100gbe", 100e9 / 8, 10e-6, "IEEE 802.3bj", 1448 / 1538, _TCP_1500),
        # 400 Gigabit Ethernet (IEEE 802.3bs): 400 Gbit/s per port, with TCP's latency (kernel sockets, NCCL's
        # net_socket or a TCP offload such as GPUDirect-TCPX); RDMA over the same wire is ``roce-400g``.
        LinkSpec(
            "400gbe",
            400e9 / 8,
            10e-6,
            "IEEE 802.3bs",
            47.0 / 50.0,
            "NVIDIA/nccl-tests#290 (ConnectX-7 at 400 Gbit/s: 46-48GB/s per NIC)",
        ),
        # RoCE v2 on 400 Gigabit Ethernet (IBTA RoCEv2 annex: InfiniBand transport over UDP/IP; IEEE 802.3bs port).
        # NCCL drives it through its IB verbs transport (src/transport/net_ib.cc, the same code as InfiniBand: a
        # port whose link layer is Ethernet only adds a GID, NCCL_IB_GID_INDEX), which reports no latency of its
        # own (latency 0), so NCCL's tuner prices a RoCE hop with the same hwLatencies[NET] as an InfiniBand one.
        # RDMA over Ethernet is a µs-class latency, not TCP's: perftest ib_write_lat between two ConnectX-3
        # ports with "Link type: Ethernet" (RoCE, GID index 1) reads about 2 µs at 1 KiB (jcxue/RDMA-Tutorial#8,
        # 2019), below InfiniBand's 5 µs hop, so the hop is NCCL's figure as on ``ib-*``: latency 5 µs, as ib-ndr.
        # Rate and efficiency as ib-ndr's: RoCE with ConnectX-7 reaches NDR's per-NIC rate (same adapter, 4 KiB
        # RDMA MTU).
        LinkSpec(
            "roce-400g",
            400e9 / 8,
            5e-6,
            "IBTA RoCEv2 (InfiniBand transport over UDP/IP); IEEE 802.3bs; NCCL src/transport/net_ib.cc "
            "(RoCE through IB verbs, latency 0); perftest ib_write_lat over RoCE ~2 us (jcxue/RDMA-Tutorial#8)",
            47.0 / 50.0,
            "NVIDIA/nccl-tests#290 (ConnectX-7 at 400 Gbit/s: 46-48GB/s per NIC)",
        ),
        # AWS Elastic Fabric Adapter: 100 Gbit/s per EFA device (AWS EC2 User Guide, "Elastic Fabric Adapter":
        # p4d.24xlarge 4 x 100 Gbit/s EFA, p5.48xlarge 32 x 100 Gbit/s EFA v2). NCCL reaches it through the
        # aws-ofi-nccl plugin over libfabric's SRD transport (Shalev et al. 2020, "A Cloud-Optimized Transport
        # Protocol for Elastic and Scalable HPC", IEEE Micro 40(6)), not RDMA verbs. efficiency (EFA v1): what
        # AWS's own 2-node p4d.24xlarge nccl-tests run reached per EFA device (aws-samples/aws-efa-eks README from
        # commit 9933d7f3, 2021-06-11: 16 A100-SXM4-40GB, 4 x 100 Gbit/s EFA a node with GPUDirect RDMA
        # ("NET/AWS Libfabric/.../GDRDMA"), NCCL 2.9.9, the repository's example job setting NCCL_ALGO=RING:
        # all_reduce 4 GiB out-of-place 183834 us, busbw 43.81 GB/s). A ring's busbw on 2 nodes is its rails'
        # summed rate (each NIC carries 2(N-1)/N of S/4 each way), so 43.81 / 4 = 10.95 GB/s per 100 Gbit/s
        # device, 0.876 of 12.5: below NCCL's NET_BW 12.0, which assumes an InfiniBand-class NIC. EFA v2 keeps
        # NET_BW's 0.96: Chen 2024 ("Libfabric EFA series", le.qun.ch, p5.48xlarge) measured 94.8 Gbit/s per
        # EFA v2 device with libfabric's fi_rma_bw and 97.4 with his own RDMA-write loop. latency_s: the
        # per-message cost of one network
        # hop, from a published 2-node nccl-tests run of one GPU per node over EFA (aws-samples/aws-efa-eks
        # README: 2 x p3dn.24xlarge, 1 V100 each, NCCL 2.6.4, all_reduce of 8 B in 52.16 / 52.04 us): on one
        # GPU per node an all-reduce is two network hops after NCCL's base latency (ring or tree LL, 6.6 / 6.8
        # us, dpsim.sim.collectives.nccl), so a hop is (52.1 - 6.6) / 2 = 22.75 us, four times NCCL's
        # InfiniBand-class hwLat[NET] LL (5.0 us). That run is EFA v1 without GPUDirect RDMA; no published
        # small-size figure of EFA v2 was found, so efa-v2 carries the same hop (nothing fitted to the p5 curve
        # of benchmarks/nccl_tests_curves.py, which is another source).
        # nccl_net_latency_s: what aws-ofi-nccl reports to NCCL as the network's latency, a tuner input
        # (aws/aws-ofi-nccl src/platform-aws.cpp platform table: 75 us on p4d, p4de, p5, p5e; 150 us on p3dn,
        # and on every platform before commit d87d61e0, 2023-05-31, v1.7.0: "a value below 75us ... makes NCCL
        # choose the wrong algorithm for the 2 nodes case"). The p4d/p5 value; p3dn's is twice it. Priced only as
        # the network hop of an LL128 ring's wave across nodes (stop 47, dpsim.sim.cost.ring_wave: the p5 series'
        # smallest ring/LL128 steps, 10.5-11.4 us, are (7 x 1.9 + 75) / 8 = 11.0); LL's small messages, the trees
        # and NCCL's own ring step keep the route's 22.75 us.
        LinkSpec(
            "efa",
            100e9 / 8,
            22.75e-6,
            "AWS EC2 User Guide (EFA); latency: aws-samples/aws-efa-eks README, 2-node nccl-tests over EFA",
            43.81 / 4 / 12.5,
            "aws-samples/aws-efa-eks README (commit 9933d7f3): 2 x p4d.24xlarge, NCCL 2.9.9, NCCL_ALGO=RING, "
            "all_reduce 4 GiB busbw 43.81 GB/s over 4 EFA a node = 10.95 GB/s per device",
            75e-6,
            _AWS_OFI_LATENCY,
        ),
        LinkSpec(
            "efa-v2",
            100e9 / 8,
            22.75e-6,
            "AWS EC2 User Guide (p5.48xlarge: 32 x 100 Gbit/s EFA v2); latency as efa (EFA v1 run)",
            12.0 / 12.5,
            f"{_NCCL_TOPO} NET_BW (100 Gbit/s = 12.0 GB/s); Chen 2024, le.qun.ch 'Libfabric EFA series' (p5: "
            "fi_rma_bw 94.8 Gbit/s per EFA v2 device)",
            75e-6,
            _AWS_OFI_LATENCY,
        ),
        # EFA v3, AWS p5en.48xlarge (8 H200): 16 EFA devices a node (meta-pytorch/torchx PR #995,
        # aws_p5en_48xlarge: EFA_DEVICE 16) of 200 Gbit/s each (aws-ofi-nccl v1.16.3 src/nccl_ofi_net.cpp: "Overriding
        # OFI link_attr speed to 200Gbps/link for P5en platform"). aws-ofi-nccl joins the two behind a GPU into one
        # NCCL device of 400 Gbit/s, as it joins a p5's four EFA v2. No measurement of EFA v3's achievable rate or
        # small-message hop was found: efficiency and hop latency as efa-v2's. The latency aws-ofi-nccl reports to
        # NCCL is its "p-series" platform entry's (p5en and later, src/platform-aws.cpp v1.16.3: latency 35.0), a
        # tuner input (dpsim.sim.collectives.nccl.net_latency_s) and an LL128 ring's wave hop, as efa-v2's.
        LinkSpec(
            "efa-v3",
            200e9 / 8,
            22.75e-6,
            "aws/aws-ofi-nccl v1.16.3 src/nccl_ofi_net.cpp (P5en: 200 Gbit/s a link); meta-pytorch/torchx#995 "
            "(p5en.48xlarge: 16 EFA devices); latency as efa (EFA v1 run)",
            12.0 / 12.5,
            "as efa-v2 (no EFA v3 measurement found): " + _NCCL_TOPO + " NET_BW's share of 100 Gbit/s",
            35e-6,
            "aws/aws-ofi-nccl src/platform-aws.cpp v1.16.3 ('p-series' entry, p5en and later: latency 35.0 us)",
        ),
    )
}


INTER_CPU_GBPS: dict[str, float] = {
    "intel-bdw": 6.0,  # BDW_QPI_BW: Broadwell and older (Intel family 6, model < 0x55)
    "intel-skl": 10.0,  # SKL_QPI_BW: Skylake-SP to Ice Lake-SP (model 0x55 .. 0x8e); 9.0 before v2.18.1
    "intel-srp": 22.0,  # SRP_QPI_BW: Sapphire Rapids (model 0x8f ..), v2.26.2 on (intel-skl before)
    "intel-erp": 40.0,  # ERP_QPI_BW: Emerald Rapids and later (model >= 0xcf), v2.26.2 on (intel-skl before)
    "amd": 16.0,  # AMD_BW: AMD x86, v2.16.2 on (no bound before: LOC_BW)
    "zhaoxin": 6.0,  # ZPI_BW
    "zhaoxin-yongfeng": 9.0,  # YONGFENG_ZPI_BW (family 7, model 0x5b)
    "power9": 32.0,  # P9_BW
    "arm": 6.0,  # ARM_BW
}
"""NCCL's bandwidth (GB/s, each direction) of the link between two CPU sockets of a node, by the CPU class
its topology detects (NVIDIA/nccl v2.26.2-v2.30.7 ``src/graph/topo.h`` constants, ``topo.cc``
``ncclTopoGetInterCpuBw``: ``ncclTopoConnectCpus`` joins every pair of sockets with a ``LINK_SYS`` of this
rate each way; the Intel class from the CPU's model id). A ring over GPUs on two sockets crosses it once in
each direction, and NCCL's search cannot lay out channels faster than it (``src/graph/search.cc``)."""

# --- Models --------------------------------------------------------------------------------
# Transformer shapes are from the paper or the released config; counts are derived.
# The published/derived comparison lives in tests/test_catalog.py.
MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        # GPT-2 small: 12 layers, d=768, 12 heads, ctx 1024, vocab 50257 (Radford et al. 2019, Table 2;
        # HF gpt2 config). 124,439,808 parameters in HF.
        ModelSpec("gpt2-small", "transformer", "Radford et al. 2019, Table 2", 12, 768, 12, seq_len=1024, vocab=50257),
        # GPT-2 medium: 24 layers, d=1024, 16 heads (Radford et al. 2019, Table 2; HF gpt2-medium config).
        ModelSpec(
            "gpt2-medium", "transformer", "Radford et al. 2019, Table 2", 24, 1024, 16, seq_len=1024, vocab=50257
        ),
        # GPT-2 large: 36 layers, d=1280, 20 heads (Radford et al. 2019, Table 2; HF gpt2-large config).
        ModelSpec("gpt2-large", "transformer", "Radford et al. 2019, Table 2", 36, 1280, 20, seq_len=1024, vocab=50257),
        # GPT-2 XL: 48 layers, d=1600, 25 heads (Radford et al. 2019, Table 2; HF gpt2-xl config).
        ModelSpec("gpt2-xl", "transformer", "Radford et al. 2019, Table 2", 48, 1600, 25, seq_len=1024, vocab=50257),
        # GPT-3 175B: 96 layers, d=12288, 96 heads, ctx 2048 (Brown et al. 2020, Table 2.1), GPT-2's
        # byte-level BPE vocabulary 50257, learned positions, tied embeddings, biases.
        ModelSpec("gpt3-175b", "transformer", "Brown et al. 2020, Table 2.1", 96, 12288, 96, seq_len=2048, vocab=50257),
        # BERT-large: 24 layers, d=1024, 16 heads, ffn 4096 (Devlin et al. 2019, §3: "340M"), WordPiece
        # vocab 30522, 512 learned positions, 2 segment types, pooler (HF bert-large-uncased config).
        # An encoder: same per-layer count as GPT-2 (post-LN instead of pre-LN); the derived count is
        # HF BertModel's 335,141,888 (the MLM/NSP heads add ~1.1M more). FLOPs: full bidirectional
        # attention is what the 12·L·s·h term already counts; logits are counted for every token.
        ModelSpec(
            "bert-large",
            "transformer",
            "Devlin et al. 2019, §3; HF bert-large-uncased config",
            24,
            1024,
            16,
            seq_len=512,
            vocab=30522,
            token_types=2,
            pooler=True,
            causal=False,
        ),
        # Llama 2 7B: 32 layers, d=4096, 32 heads, SwiGLU ffn 11008, vocab 32000, ctx 4096, RoPE, untied
        # output head, RMSNorm, no biases (Touvron et al. 2023, "Llama 2", Table 1; HF Llama-2-7b-hf config).
        ModelSpec(
            "llama2-7b",
            "transformer",
            "Touvron et al. 2023 (Llama 2), Table 1; HF Llama-2-7b-hf config",
            32,
            4096,
            32,
            ffn_hidden=11008,
            gated_mlp=True,
            dropout=False,
            seq_len=4096,
            vocab=32000,
            tied_embeddings=False,
            learned_positions=False,
        ),
        # Llama 2 70B: 80 layers, d=8192, 64 heads, 8 KV heads (GQA), ffn 28672 (Touvron et al. 2023,
        # Table 1 and §2.2; HF Llama-2-70b-hf config).
        ModelSpec(
            "llama2-70b",
            "transformer",
            "Touvron et al. 2023 (Llama 2), Table 1; HF Llama-2-70b-hf config",
            80,
            8192,
            64,
            kv_heads=8,
            ffn_hidden=28672,
            gated_mlp=True,
            dropout=False,
            seq_len=4096,
            vocab=32000,
            tied_embeddings=False,
            learned_positions=False,
        ),
        # Llama 3 8B: 32 layers, d=4096, 32 heads, 8 KV heads, ffn 14336, vocab 128256, ctx 8192
        # (Dubey et al. 2024, Table 3; HF Meta-Llama-3-8B config).
        ModelSpec(
            "llama3-8b",
            "transformer",
            "Dubey et al. 2024 (Llama 3), Table 3; HF Meta-Llama-3-8B config",
            32,
            4096,
            32,
            kv_heads=8,
            ffn_hidden=14336,
            gated_mlp=True,
            dropout=False,
            seq_len=8192,
            vocab=128256,
            tied_embeddings=False,
            learned_positions=False,
        ),
        # Llama 3 70B: 80 layers, d=8192, 64 heads, 8 KV heads, ffn 28672 (Dubey et al. 2024, Table 3;
        # HF Meta-Llama-3-70B config).
        ModelSpec(
            "llama3-70b",
            "transformer",
            "Dubey et al. 2024 (Llama 3), Table 3; HF Meta-Llama-3-70B config",
            80,
            8192,
            64,
            kv_heads=8,
            ffn_hidden=28672,
            gated_mlp=True,
            dropout=False,
            seq_len=8192,
            vocab=128256,
            tied_embeddings=False,
            learned_positions=False,
        ),
        # Llama 3 405B: 126 layers, d=16384, 128 heads, 8 KV heads, ffn 53248 (Dubey et al. 2024, Table 3;
        # HF Llama-3.1-405B config). Pre-training context 8192 (long-context stage later extends to 128K).
        ModelSpec(
            "llama3-405b",
            "transformer",
            "Dubey et al. 2024 (Llama 3), Table 3; HF Llama-3.1-405B config",
            126,
            16384,
            128,
            kv_heads=8,
            ffn_hidden=53248,
            gated_mlp=True,
            dropout=False,
            seq_len=8192,
            vocab=128256,
            tied_embeddings=False,
            learned_positions=False,
        ),
        # ResNet-50 (He et al. 2016, Table 1) at 224x224: 25,557,032 parameters and 4.09e9
        # multiply-adds per forward image (torchvision resnet50 IMAGENET1K_V1 model card; the paper's
        # "3.8e9 FLOPs" are also multiply-adds, with a slightly different layer accounting).
        # Training FLOPs per sample = 3 (forward + 2x backward) x 2 FLOPs per multiply-add x 4.09e9.
        ModelSpec(
            "resnet-50",
            "cnn",
            "He et al. 2016, Table 1; torchvision resnet50 model card",
            parameters=25_557_032,
            flops_per_sample=3 * 2 * 4.09e9,
            sample_size=(3, 224, 224),
        ),
        # mlp-tiny: a synthetic model for runtime tests, not from a paper: 4 dense layers 1024 -> 1024
        # with biases on 1024-vector samples. Parameters 4·(1024² + 1024); training FLOPs per sample
        # 6·4·1024² (6 FLOPs per weight: 2 forward, 4 backward; bias adds and activations neglected).
        ModelSpec(
            "mlp-tiny",
            "mlp",
            "synthetic (dpsim): 4 x Linear(1024, 1024) with bias",
            layers=4,
            hidden=1024,
            parameters=4 * (1024 * 1024 + 1024),
            flops_per_sample=6 * 4 * 1024 * 1024,
            sample_size=(1024,),
        ),
    )
}


def canonical(table: Mapping[str, object], name: str, what: str) -> str:
    """The catalog key ``name`` means: every catalog name (model, device, link, CPU class) is matched without regard
    to case or surrounding spaces (``' A100-80GB '`` is ``a100-80gb``), everywhere; else a ``KeyError`` with a
    did-you-mean suggestion."""
    key = name.strip().lower()
    if key in table:
        return key
    close = did_you_mean(key, table)
    hint = f" ({close})" if close else f" (known: {', '.join(sorted(table))})"
    raise KeyError(f"unknown {what} {name!r}{hint}")


def lookup(table: Mapping[str, _T], name: str, what: str) -> _T:
    """Return ``table[name]`` (:func:`canonical`: any case, surrounding spaces) or raise ``KeyError``."""
    return table[canonical(table, name, what)]
