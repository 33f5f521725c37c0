"""Scenario files: YAML → typed, validated :class:`Scenario` objects with units resolved.

One ``Scenario`` is read by all three engines (closed forms, simulator, runtime); a field
means the same thing in each. Loading is strict: unknown keys are rejected with a
did-you-mean, quantities need units (``"200 Gbit/s"``), and every problem is reported as
a :class:`~dpsim.errors.ScenarioError` naming the field path. A dumped scenario reloads
to an equal object (:func:`dump_scenario`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from dpsim import catalog, inputs
from dpsim.errors import ScenarioError, did_you_mean
from dpsim.rank_speed import MAX_NORMAL_JITTER_CV, MAX_RANK_SPEED_SIGMA, JitterDistribution
from dpsim.units import (
    UnitError,
    dtype_bytes,
    parse_bandwidth,
    parse_count,
    parse_flops,
    parse_size,
    parse_time,
    unsigned_zero,
    working_bytes,
    working_dtype,
)

__all__ = [
    "ALGORITHMS",
    "SHARDED_ALGORITHMS",
    "TRANSFORMER_ONLY",
    "CalibrationRef",
    "ClusterConfig",
    "CommunicationConfig",
    "DegradedLink",
    "DeviceConfig",
    "InterNodeLink",
    "IntraNodeLink",
    "LinkConfig",
    "ModelConfig",
    "ReliabilityConfig",
    "Scenario",
    "SimulationConfig",
    "Straggler",
    "TopologyConfig",
    "TrainingConfig",
    "VariabilityConfig",
    "apply_overrides",
    "data_hash",
    "default_scenario_path",
    "dump_scenario",
    "load_scenario",
    "named_after_overrides",
    "parse_override",
    "read_scenario_data",
    "refuse_overlapping_sets",
    "resolve_profile",
    "scenario_data",
    "scenario_from_dict",
    "scenario_schema",
    "scenario_source",
]

Algorithm = Literal[
    "auto",
    "ring",
    "tree",
    "nvls",
    "nvls-tree",
    "halving-doubling",
    "hierarchical",
    "direct",
    "parameter-server",
    "backend",
]
NcclAlgo = Literal["ring", "tree", "nvls", "nvls-tree"]
NcclProto = Literal["LL", "LL128", "Simple"]
NCCL_ALGO_NAMES: dict[str, str] = {
    **{a: a for a in typing.get_args(NcclAlgo)},
    "nvlstree": "nvls-tree",
}
"""``NCCL_ALGO`` entries (lower case, as NCCL compares them) → dpsim's algorithm names."""
NCCL_PROTO_NAMES: dict[str, str] = {p.lower(): p for p in typing.get_args(NcclProto)}
"""``NCCL_PROTO`` entries (lower case) → dpsim's protocol names."""
NVLS_ENV_FIELDS: tuple[str, ...] = ("nccl_nvls_chunksize", "nccl_nvlstree_max_chunksize")
"""The ``communication`` fields that set NCCL's NVLS chunk variables (:data:`dpsim.sim.collectives.nccl.NVLS_ENV`
holds the release that first reads each)."""
FLAT_UNREAD_MODEL_FIELDS: tuple[str, ...] = (
    "attention_kernel",
    "attention_nan_to_num",
    "attention_qkv_copies",
    "projections",
    "mlp_fused_bias",
    "rope_kernels",
    "norm_kernel",
    "bias_dropout_fusion",
)
"""The transformer's fields read only by its memory-bound kernels' prices (:func:`dpsim.compute.layer_kernels`):
nothing reads them where the step is priced at one fraction of peak (:func:`dpsim.compute.prices_flat`)."""

GEMM_CURVE_FIELDS: tuple[str, ...] = (
    "matmul_efficiency",
    "matmul_efficiency_fp8",
    "kernel_overhead",
    "gemm_waves",
    "sm_count",
    "gemm_tile",
    "gemm_epilogue_exposed",
    "attention_efficiency",
    "attention_half_seq",
    "attention_efficiency_fa2",
    "attention_half_seq_fa2",
)
"""The ``cluster.device`` fields only a transformer's operation-level compute model reads (:func:`dpsim.compute.
gemm_time`, :func:`dpsim.compute.attention_rate`): none of them where the step is priced flat
(:func:`dpsim.compute.prices_flat`)."""
MIN_NCCL_BUFFSIZE = 4096
"""The smallest ``communication.nccl_buffsize`` (``NCCL_BUFFSIZE``) accepted on GPUs: ``NCCL_STEPS`` (8) steps of
NCCL's 512 B Simple grain (:meth:`Scenario._buffsize_read`)."""
NCCL_ENV_FIELDS: tuple[str, ...] = ("nccl_algo", "nccl_proto", "nccl_buffsize", "nccl_version", *NVLS_ENV_FIELDS)
"""The ``communication`` fields that set NCCL's environment (``NCCL_ALGO``, ``NCCL_PROTO``, ``NCCL_BUFFSIZE``, the
release and the NVLS chunk variables), None where unset: refused together wherever NCCL's model is not what prices a
step (``protocol: none``, CPU devices, a textbook algorithm, a profile's fitted links), in this order."""
ALGORITHMS: tuple[str, ...] = typing.get_args(Algorithm)
"""All-reduce algorithms a scenario can name (``communication.algorithm``).

``auto`` is what NCCL's tuner picks per message size (:mod:`dpsim.sim.collectives.nccl`).
``backend`` is the communication backend's own all-reduce (what plain DDP uses,
:attr:`Scenario.collective_algorithm`): on a catalog GPU NCCL's, priced as ``auto``; on CPUs (and custom devices)
gloo's, which runs a ring (``gloo/allreduce.cc``: an unspecified algorithm is ``ring``); with a calibration profile
its cost is the ring's on the links the profile fitted for ``backend``."""
SHARDED_ALGORITHMS: tuple[str, ...] = ("auto", "ring", "hierarchical", "backend")
"""The algorithms a reduce-scatter or an all-gather reads (:func:`dpsim.sim.collectives.build`): NCCL's ring,
two levels for ``hierarchical``, the backend's own; ``auto`` picks the ring. The others are all-reduce algorithms
(NCCL's tree and NVLS, the textbook ones): where the data-parallel group all-reduces nothing (ZeRO's and FSDP's
reduce-scatter and gathers) they are refused (:meth:`Scenario._algorithm_read`)."""


# --- quantity types: parsed from text, dumped back as text that reloads exactly ---------------


def _exact(value: float, unit: str, scales: Iterable[tuple[str, float]]) -> str:
    """Shortest text ``"<n> <prefix><unit>"`` that parses back to exactly ``value``."""
    for prefix, scale in scales:
        scaled = value / scale
        if abs(scaled) >= 1 and scaled * scale == value:
            return f"{scaled:g} {prefix}{unit}" if float(f"{scaled:g}") == scaled else f"{scaled!r} {prefix}{unit}"
    return f"{value!r} {unit}"


_SI = (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0))
_IEC = (("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10))


def _dump_size(v: float) -> str:
    # the exact form with the smallest whole number: "80 GB" stays "80 GB", 25 MiB stays "25 MiB"
    best: tuple[int, str] | None = None
    for prefix, scale in (*_SI, *_IEC):
        if v >= scale and (v / scale).is_integer() and (best is None or v / scale < best[0]):
            best = (int(v / scale), prefix)
    return f"{best[0]} {best[1]}B" if best is not None else _exact(v, "B", _SI)


def _dump_time(v: float) -> str:
    return _exact(v, "s", (("", 1.0), ("m", 1e-3), ("u", 1e-6), ("n", 1e-9)))


def _parser(fn: Callable[[object], float]) -> Callable[[object], float]:
    def parse(value: object) -> float:
        try:
            return fn(value)
        except UnitError as exc:
            raise ValueError(str(exc)) from None

    return parse


def _positive(v: float) -> float:
    if not v > 0:
        raise ValueError(f"must be greater than 0, got {v:g}")
    return v


def _non_negative(v: float) -> float:
    if v < 0:
        raise ValueError(f"must not be negative, got {v:g}")
    return v


def _checked(parse: Callable[[object], float], check: Callable[[float], float]) -> Callable[[object], float]:
    def validate(value: object) -> float:
        try:
            return check(_parser(parse)(value))
        except ValueError as exc:  # show the user's text, not the SI value
            if isinstance(value, str) and "got" in str(exc) and "unit" not in str(exc):
                raise ValueError(str(exc).rsplit("got", 1)[0] + f"got {inputs.brief(value)}") from None
            raise

    return validate


def _quantity_schema(example: str, what: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "description": f"{what} with its unit, e.g. {example!r}"}, mode="validation"
    )


Bandwidth = Annotated[
    float,
    BeforeValidator(_checked(parse_bandwidth, _positive)),
    PlainSerializer(lambda v: _exact(v, "B/s", _SI), return_type=str),
    _quantity_schema("200 Gbit/s", "a bandwidth"),
]
Size = Annotated[
    float,
    BeforeValidator(_checked(parse_size, _positive)),
    PlainSerializer(_dump_size, return_type=str),
    _quantity_schema("25 MiB", "a size"),
]
Duration = Annotated[
    float,
    BeforeValidator(_checked(parse_time, _non_negative)),
    PlainSerializer(_dump_time, return_type=str),
    _quantity_schema("5 us", "a duration"),
]
PositiveDuration = Annotated[
    float,
    BeforeValidator(_checked(parse_time, _positive)),
    PlainSerializer(_dump_time, return_type=str),
    _quantity_schema("50000 h", "a duration greater than 0"),
]
FlopRate = Annotated[
    float,
    BeforeValidator(_checked(parse_flops, _positive)),
    PlainSerializer(lambda v: _exact(v, "FLOP/s", _SI), return_type=str),
    _quantity_schema("312 TFLOP/s", "a compute rate"),
]
Count = Annotated[
    float,
    BeforeValidator(_checked(parse_count, _positive)),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string"}], "description": "a count, e.g. 1.5e9 or '7B'"}),
]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
MIN_FRACTION = inputs.MIN_FRACTION
Fraction = Annotated[float, Field(ge=MIN_FRACTION, le=1)]
"""An efficiency or a fraction of a rate: at least one in a million (below that no device or link is
physical, and the times it implies overflow), at most 1."""
SequenceLength = Annotated[float, Field(ge=0, le=2**53)]
"""A sequence length as a real number (a curve's parameter, not a model's shape): 0 to 2^53."""


def _default(text: str) -> Any:
    """A quantity default written with its unit; validated (parsed) like user input."""
    return Field(default=text)


@functools.cache
def field_default(section: type[BaseModel], name: str) -> Any:
    """The value a field of ``section`` takes when left out: a quantity's :func:`_default` parsed as user input is
    (``communication.bucket``'s ``"25 MiB"`` is 26214400.0), so a value can be compared with it."""
    field = section.model_fields[name]
    default = field.get_default(call_default_factory=True)
    if not isinstance(default, str) or not field.metadata:
        return default
    parsed: TypeAdapter[Any] = TypeAdapter(Annotated[(field.annotation, *field.metadata)])  # type: ignore[arg-type]
    return parsed.validate_python(default)


def changed_from_default(section: BaseModel, name: str) -> bool:
    """Whether ``section``'s field ``name`` differs from :func:`field_default` (a setting the user changed, which
    :meth:`Scenario.ignored_fields` lists where nothing reads it)."""
    return bool(getattr(section, name) != field_default(type(section), name))


# --- generic hardening: every field of every section, by its declared type ---------------------

MAX_INT = 2**53
"""Largest integer any field takes (exact as a float); physical limits below are tighter."""
MAX_FLOAT = inputs.MAX_FLOAT
"""Largest magnitude of any plain number (quantities have their own ranges in :mod:`dpsim.units`)."""
MAX_TEXT = 1024
"""Longest text field (``name`` is shorter: :data:`MAX_NAME`)."""
MAX_NAME = 200
MAX_WORLD = 2**20
"""Most devices in a cluster (1,048,576; the largest published runs use tens of thousands)."""
MAX_WORKERS_PER_NODE = 1024
MAX_PRICE = 1e6
"""Highest ``cluster.price_per_device_hour`` (and ``dpsim plan --price``): a million per device-hour."""
MAX_NICS_PER_NODE = 256
MAX_LAYERS = 100_000
"""Most layers a model takes (a thousand times the deepest published transformer's): the engines and the
memory model walk the layers one by one (ZeRO-3's trace, FSDP's units), in seconds at this depth."""

_CUSTOM = (BeforeValidator, PlainValidator, WrapValidator)


def _kind_of(annotation: Any) -> str:
    """``bool``, ``int``, ``float``, ``str``, ``custom`` (a quantity parser) or ``other``."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *meta = typing.get_args(annotation)
        return "custom" if any(isinstance(m, _CUSTOM) for m in meta) else _kind_of(base)
    if origin in (typing.Union, types.UnionType):
        kinds = {_kind_of(a) for a in typing.get_args(annotation) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else "other"
    return {bool: "bool", int: "int", float: "float", str: "str"}.get(annotation, "other")


def _field_kind(field: FieldInfo) -> str:
    if any(isinstance(m, _CUSTOM) for m in field.metadata):
        return "custom"
    return _kind_of(field.annotation)


def _item_kind(field: FieldInfo) -> str | None:
    """The kind of every item of a list or tuple field whose items are all of one plain kind (``attention_efficiency``:
    two fractions), else None: their items pass :func:`_check_raw` as a plain field's value does."""
    annotation = field.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = options[0] if len(options) == 1 else None
    if typing.get_origin(annotation) not in (tuple, list) or any(isinstance(m, _CUSTOM) for m in field.metadata):
        return None
    kinds = {_kind_of(a) for a in typing.get_args(annotation) if a is not Ellipsis}
    return kinds.pop() if len(kinds) == 1 and kinds <= {"bool", "int", "float"} else None


def _check_raw(name: str, kind: str, value: Any) -> None:
    """Type-driven checks pydantic's lax mode would let through (``"yes"`` as true, ``true`` as 1.0)."""
    if value is None:
        return
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise ValueError(f"{name}: {inputs.brief(value)} is too large (at most 2^53)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {inputs.brief(value)}")
    if isinstance(value, str):
        try:
            inputs.printable_name(value, MAX_NAME if name == "name" else MAX_TEXT)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    if kind in ("custom", "other"):
        return
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"{name}: expected true or false, got {inputs.brief(value)}")
    number = "an integer" if kind == "int" else "a number"
    if kind in ("int", "float") and isinstance(value, bool):
        raise ValueError(f"{name}: expected {number}, got {inputs.brief(value)}")
    if kind in ("int", "float") and isinstance(value, str):
        raise ValueError(f"{name}: expected {number} without quotes or units, got {inputs.brief(value)}")


def _check_value(name: str, value: Any) -> None:
    """Every float a section holds (plain or parsed from a quantity) is finite, normal and bounded."""
    if isinstance(value, float) and (problem := inputs.float_problem(value)) is not None:
        raise ValueError(f"{name}: {problem}")


class _Section(BaseModel):
    """Base of every scenario section: unknown keys rejected, and the generic checks above.

    The checks are driven by each field's declared type, so a field added later (in any
    section) is covered without writing anything: strict booleans, no booleans or text as
    numbers (nor as the items of a list of numbers), integers at most 2^53, finite non-denormal floats,
    printable bounded text.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    @model_validator(mode="before")
    @classmethod
    def _raw_types(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name) if isinstance(name, str) else None
                if field is not None:
                    _check_raw(name, _field_kind(field), value)
                    item = _item_kind(field) if isinstance(value, (list, tuple)) else None
                    if item is not None:
                        for i, part in enumerate(value):
                            _check_raw(f"{name}.{i}", item, part)
        return data

    @model_validator(mode="after")
    def _finite(self) -> Any:
        for name in type(self).model_fields:
            value = getattr(self, name)
            _check_value(name, value)
            if isinstance(value, float) and value == 0:  # -0.0 given through the API (files read it as 0 already)
                setattr(self, name, unsigned_zero(value))
        return self


def _preset_given(data: Any) -> Any:
    """A section under a ``preset`` without the fields it writes as null: null there is the preset's value, as if
    the field were left out (``model: {preset: gpt2-small, layers: null}`` is gpt2-small's 12 layers). Before, the
    preset filled some of them and not others: a device's ``memory: null`` was refused as "the bare number
    85899345920.0", ``model.parameters: null`` as "0", and a link's ``bandwidth: null`` counted as a rate given."""
    if isinstance(data, dict) and data.get("preset") is not None and any(v is None for v in data.values()):
        return {k: v for k, v in data.items() if v is not None}
    return data


def _merge_preset(data: Any, table: Mapping[str, Any], what: str, fields: Mapping[str, str]) -> Any:
    """Fill a section from a catalog entry named by ``preset`` (or given as a bare string).

    ``fields`` maps section field → catalog attribute; explicit values win over the preset.
    """
    if isinstance(data, str):
        data = {"preset": data}
    if not isinstance(data, dict) or data.get("preset") is None:
        return data
    try:
        spec = catalog.lookup(dict(table), str(data["preset"]), what)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    merged = {name: getattr(spec, attr) for name, attr in fields.items()}
    merged.update({k: v for k, v in data.items() if v is not None})
    merged["preset"] = spec.name
    return merged


# --- sections --------------------------------------------------------------------------------


TRANSFORMER_ONLY = (
    "heads", "kv_heads", "ffn_hidden", "gated_mlp", "dropout", "seq_len", "vocab", "tied_embeddings",
    "learned_positions", "token_types", "pooler", "causal", "attention", "attention_kernel", "attention_nan_to_num",
    "attention_qkv_copies", "projections", "fp8_linear", "mlp_fused_bias", "parallel_block", "elementwise",
    "loss_kernel", "logit_metrics", "rope_kernels", "rotary_fraction", "norm_kernel", "bias_dropout_fusion",
)  # fmt: skip
"""``model`` fields only a transformer reads (:mod:`dpsim.compute` prices its layers; ``runtime.model.MLP`` stands
in for the other kinds from ``layers`` and ``hidden``): set on a ``cnn`` or ``mlp`` model they are refused."""


class ModelConfig(_Section):
    """The model being trained: a catalog preset, or its shape (fields override the preset)."""

    preset: str | None = None
    kind: Literal["transformer", "cnn", "mlp"] = "transformer"
    layers: Annotated[int, Field(strict=True, ge=0, le=MAX_LAYERS)] = 0
    hidden: NonNegativeInt = 0
    heads: NonNegativeInt = 0
    kv_heads: NonNegativeInt = 0
    """Key/value heads for grouped-query attention; 0 means ``heads``."""
    ffn_hidden: NonNegativeInt = 0
    """Feed-forward inner size; 0 means 4·hidden."""
    gated_mlp: bool = False
    dropout: bool = True
    """Dropout during training (its masks take activation memory); false for Llama."""
    seq_len: NonNegativeInt = 0
    """Tokens per sample (sequence length); 0 for non-token models."""
    vocab: NonNegativeInt = 0
    tied_embeddings: bool = True
    learned_positions: bool = True
    token_types: NonNegativeInt = 0
    """Segment (token-type) embeddings, BERT only."""
    pooler: bool = False
    """BERT's pooler layer."""
    causal: bool = True
    """Causal (decoder) attention; false for encoders such as BERT."""
    attention: Literal["standard", "flash"] = "standard"
    """How attention runs: ``standard`` materialises the s×s scores (softmax, dropout and their
    activations in memory); ``flash`` is one fused kernel that keeps no scores and recomputes them
    in the backward pass (Dao et al. 2022, FlashAttention)."""
    attention_kernel: Literal["device", "fa2"] = "device"
    """Which flash-attention kernel runs (``attention: flash``). ``device``: the device's best, as the catalog prices
    it (FlashAttention-2 on A100, FlashAttention-3 / cuDNN on Hopper). ``fa2``: a kernel of FlashAttention-2's
    generation, written for Ampere (``mma.sync``, no TMA or ``wgmma``): FlashAttention-2 itself, PyTorch SDPA's flash
    backend (its FlashAttention-2 kernels), Triton kernels compiled before Triton's Hopper support (llm-foundry's
    ``attn_impl: triton`` under ``triton-pre-mlir``); on Hopper it runs at ``cluster.device.attention_efficiency_fa2``
    and ``attention_half_seq_fa2`` (torch SDPA's FlashAttention-2 kernels measured on an H200: 0.426 / 0.328 of peak at
    long sequences, half at s 1839 / 490; 35 % forward at s 8192, FlashAttention-3's figure), elsewhere as
    ``device``."""
    attention_nan_to_num: bool = False
    """The s×s scores pass through ``torch.nan_to_num`` before the softmax (metaseq's
    ``ModelParallelMultiheadAttention`` in training, whenever a mask is given, as the causal one always is):
    one more memory-bound read and write of the scores in the forward pass (and its recompute), and in the
    backward its ``grad · isfinite(scores)`` (read scores, write and read the 1-byte mask, read the gradient,
    write). Needs attention: standard."""
    attention_qkv_copies: bool = False
    """metaseq's training attention (``ModelParallelMultiheadAttention``) moves q, k and v through kernels of their
    own where Megatron-LM keeps views: ``split_tensor_along_last_dim(kvq, 3, contiguous_split_chunks=True)`` copies
    the three chunks out of the fused projection, and q and k are each multiplied by √scaling before ``baddbmm``
    (Megatron passes the scale as ``baddbmm``'s alpha); in the backward the gradients of q, k and v come back from
    their transposed batched-GEMM layout through ``ViewBackward``'s reshape, a copy each (Megatron's views of the
    chunks split without one). Forward: read and write q, k, v (copies) and q, k (products); backward: read and write
    q, k, v. The products' backward is the multiply ``baddbmm``'s alpha costs Megatron too. Needs attention:
    standard."""
    projections: Literal["fused", "separate"] = "fused"
    """How the projections that read the same input run: the attention's query, key and value, and a gated MLP's gate
    and up. ``fused``: one GEMM each (Megatron-LM's ``linear_qkv`` and ``linear_fc1``, MPT's ``Wqkv``, GPT-NeoX's
    ``query_key_value``). ``separate``: q, k and v as three linears
    reading the same input, each its own forward, data- and weight-gradient GEMMs (torchtitan's Llama ``wq``, ``wk``,
    ``wv``: ``xq, xk, xv = self.wq(x), self.wk(x), self.wv(x)``; Inductor leaves them three GEMMs in training), so a
    narrow key or value projection (128 columns a rank for Llama 3's 8 KV heads at TP 8) is priced on its own roofline,
    reading the whole input; and autograd sums their three input gradients, two more reads of the b·s·h gradient.
    With a gated MLP ``separate`` also runs its gate and up projections as two linears (torchtitan's
    ``self.w2(F.silu(self.w1(x)) * self.w3(x))``), their input gradients summed: one more read
    (:func:`dpsim.compute.layer_kernels`)."""
    fp8_linear: Literal["te_layernorm_linear", "te_linear", "torchao_tensorwise"] = "te_layernorm_linear"
    """How ``training.precision: fp8``'s linear layers are built. ``te_layernorm_linear``: Transformer Engine's
    ``LayerNormLinear`` / ``LayerNormMLP`` under Megatron-LM / NeMo: the norm writes the FP8 input of QKV and
    MLP-up itself, and Megatron passes ``is_first_microbatch``, so the weights are cast once a step (not priced).
    ``te_linear``: TE's plain ``te.Linear`` after the model's own norm, called without ``is_first_microbatch``
    (llm-foundry's ``fc_type: te`` under Composer; ``transformer_engine/pytorch/module/linear.py`` at v0.10):
    QKV's and MLP-up's inputs are cast too, by ``fp8_cast_transpose_fused`` (read 2 bytes, write the FP8 copy
    and its transpose, 1 + 1, an element, on ``tokens × hidden``, ``/t`` under sequence parallelism: TE casts
    before its gather), and every forward (and recompute) casts and transposes every weight of the layer
    (``update_fp8_weights`` when ``is_first_microbatch`` is None: read 2, write 1 + 1 an element). Time only (the
    memory model already holds an FP8 copy of each weight and its transpose). ``torchao_tensorwise``: torchao's
    ``Float8Linear`` with dynamic tensorwise scaling under torch.compile (torchtitan's ``quantize.linear.float8``),
    every distinct input and every output gradient of the layer's linears cast at 5 bytes an element, torchao's own
    roofline (:func:`dpsim.compute.torchao_cast_bytes`; under Float8 tensor parallelism the gathered tensors cast on
    the sequence shard and copied transposed in full); under ``training.optimizer_sharding: fsdp`` weights cast on
    the FSDP shard before the float8 all-gather and each gathered weight copied column-major in the backward (2 bytes
    a parameter), under any other sharding each weight cast in every forward (7 bytes a parameter). Time only. Needs
    ``training.precision: fp8``."""
    mlp_fused_bias: bool = True
    """Megatron-LM's fusions of the MLP's biases: fc1's bias into the activation kernel (``skip_bias_add``,
    bias-GeLU) and fc2's bias, dropout and residual add into one kernel (``bias_dropout_add_fused_train``).
    false = metaseq's model-parallel MLP with a non-GeLU activation (``metaseq/modules/transformer_layer.py``
    ``_ffn``, ``skip_bias_add`` only for GeLU): fc1's bias goes into its GEMM call (torch 1.10's ``addmm``
    copies the broadcast bias into the output and the GEMM reads it back, β = 1: one more write and read of
    the ``tokens × ffn/t`` output), and Megatron's ``RowParallelLinear`` adds fc2's bias after the all-reduce
    (``output_ + self.bias``), then ``dropout_module`` and ``residual_connection`` (``residual + x``) run
    as kernels of their own: the ``tokens × hidden`` output read and written twice more. Forward only (and
    its recompute): the backward's gradient work (the mask product, the bias sums, the residual's
    accumulation) is the same either way."""
    parallel_block: bool = False
    """The parallel attention + MLP block, x + attn(ln1(x)) + mlp(ln2(x)) (GPT-J; gpt-neox's ``gpt_j_residual``,
    as GPT-NeoX-20B trained): under tensor parallelism gpt-neox builds both ``RowParallelLinear``s with
    ``parallel_output=True`` and all-reduces their sum once (``reduce_from_model_parallel_region``), so a
    layer's forward all-reduces once instead of twice; its backward still all-reduces the input gradients of
    the two column-parallel linears. The FLOPs and the kernels are priced as the sequential block's. Needs
    ``training.sequence_parallel: false``."""
    elementwise: Literal["fused", "eager"] = "fused"
    """How a layer's norms and gated MLP activation run. ``fused``: one kernel each (apex / Transformer Engine /
    Megatron-LM's fused kernels, or ``torch.compile``'s Inductor): a norm reads and writes its input once (4 x the
    width an element, forward and backward), SwiGLU reads gate and up and writes once. ``eager``: PyTorch eager
    mode running the Llama reference code op by op, as Meta's ``llama/model.py`` ``RMSNorm``, Hugging Face's
    ``LlamaRMSNorm`` and ibm-fms's ``LayerNormParameterized(use_high_precision_pow=True)`` write it:
    ``x.float()``, ``pow(2)``, ``mean(-1)``, ``rsqrt``, ``xf * rstd``, ``.type_as(x)``, ``weight * y``, each a
    kernel that reads its inputs and writes its output (36 bytes an element forward at 16 bits; the autograd
    backward of each op 92), the fp32 copy and the cast output saved for the backward (4 bytes an element more
    a norm); the gated MLP as ``silu(gate)`` then ``* up`` (5 x the width an inner element forward, 9 backward,
    the silu output saved). Applies to the final norm too (:mod:`dpsim.compute`)."""
    loss_kernel: Literal["megatron", "torch_fp32", "torch_float", "loss_parallel", "torch", "xentropy", "inductor"] = (
        "megatron"
    )
    """The kernels of the cross-entropy over the ``tokens x vocab/t`` logits, priced per logit element at the 16-bit
    logits' width (:func:`dpsim.compute.loss_bytes`; each kernel reads its inputs and writes its output once).
    ``megatron``: Megatron-LM's ``vocab_parallel_cross_entropy`` on ``output.float()`` (the default,
    ``--fp16-lm-cross-entropy`` off; also Megatron-DeepSpeed, gpt-neox, metaseq): the cast (6), ``max`` (4), ``sub_``
    (8), ``exp`` (8), ``sum`` (4), ``div_`` (8); backward ``mul_`` by the loss gradient (8) and the cast of the fp32
    gradient back (6): 38 + 14 bytes. ``torch_fp32``: ``F.cross_entropy`` under autocast (``cross_entropy`` is on
    autocast's fp32 list): the cast (6), ``log_softmax`` (8); backward ``nll_loss_backward``'s zero fill (4),
    ``log_softmax_backward`` (12), the cast back (6): 14 + 22. ``torch_float``: ``F.cross_entropy(pred.float())``
    in eager mode without autocast (torchtitan's loss at 9dec370): the same bytes, the loss in fp32 after the cast,
    which keeps the fp32 log-probabilities (4 bytes a logit, 12 at its backward's peak, where ``torch_fp32`` keeps
    6 and peaks at 10). ``loss_parallel``: the same call under ``torch.distributed.tensor.parallel.loss_parallel``
    over vocabulary-sharded DTensor logits (torchtitan's TP plan, eager; torch's ``tensor/parallel/loss.py``
    handlers): ``_log_softmax`` out of place (the cast 6, ``amax`` 4, ``x - max`` 8, ``exp`` 8, ``sum`` 4,
    ``shifted - logsumexp`` 8) and the fused ``nll_loss`` + ``log_softmax`` backward (``zeros_like`` 4, ``exp`` 8,
    the add 12, the product 8, the cast back 6): 38 + 38; it keeps the fp32 log-probabilities (4) and peaks at 16
    (them, the zero-filled gradient, ``exp`` and their sum). Needs training.tensor_parallel > 1. ``torch``:
    ``F.cross_entropy`` on the 16-bit logits
    without autocast (FSDP ``MixedPrecision`` alone, fms-fsdp): 4 + 8. ``xentropy``: the fused softmax-cross-entropy
    kernel of apex / flash-attn (``xentropy_cuda_lib``, llm-foundry's ``loss_fn: fused_crossentropy``): forward reads
    the logits (2), backward reads them and writes the gradient (4). ``inductor``: ``F.cross_entropy(pred.float())``
    compiled by ``torch.compile`` (torchtitan's loss under ``training.compile`` from 2025): the cast, reductions and
    gather fused, the backward one pointwise kernel, 2 + 4 as ``xentropy``; it keeps the 16-bit logits and, at its
    backward, their gradient (4 bytes a logit at its peak, where ``torch_fp32`` holds 10). In fp32 the casts are no
    kernels."""
    logit_metrics: Annotated[int, Field(strict=True, ge=0, le=16)] = 0
    """No-grad cross-entropies over the logits after each micro-batch's backward, each ``F.cross_entropy`` under
    autocast (the ``torch_fp32`` forward: 14 bytes a logit element at 16 bits). Composer's trainer (0.10-0.16,
    ``Trainer._train_microbatch`` then ``_eval_train_metrics``) updates every training metric on every micro-batch's
    outputs; llm-foundry's MPT registers two, ``LanguageCrossEntropy`` and ``LanguagePerplexity``, each a
    ``torch.nn.CrossEntropyLoss`` over the logits: 2."""
    rope_kernels: Literal["none", "complex_fp32", "pairs_fp32", "rotate_half"] = "none"
    """The rotary position embedding's kernels on q and k. ``none``: not priced (no rotary embedding, or one
    fused into a neighbouring kernel: Transformer Engine's fused RoPE, Inductor). ``complex_fp32``: Meta's
    reference ``apply_rotary_emb`` (``llama/model.py``; torchtitan's): ``float()``, ``view_as_complex``, a
    complex multiply by the frequencies, ``type_as``: 20 bytes an element of q and k forward and 20 backward at
    16 bits. ``pairs_fp32``: ibm-fms's ``RotaryEmbedding.adjusted_qk`` (``fms/modules/positions.py``):
    ``float()``, a broadcast multiply of each pair by its 2 x 2 rotation into a 2x-wide fp32 tensor, ``sum``,
    ``type_as``: 36 bytes forward and 36 backward (the multiply's gradient written 2x wide, then reduced).
    ``rotate_half``: Hugging Face's ``apply_rotary_pos_emb`` (``q * cos + rotate_half(q) * sin`` in the input's
    dtype): 20 bytes forward and 28 backward at 16 bits (:func:`dpsim.compute.rope_bytes`)."""
    rotary_fraction: Fraction = 1.0
    """The share of each head's dimensions the rotary embedding turns (gpt-neox's ``rotary_pct``; GPT-NeoX-20B
    0.25). ``rope_kernels`` is priced on that share of q and k, and below 1 gpt-neox's partial rotary
    (``megatron/model/transformer.py``, ``ParallelSelfAttention.forward``) adds its copies: the rotated and the
    passed slices joined by ``torch.cat`` (read and write the whole of q and of k forward) and, backward, each
    slice's ``slice_backward`` (a zero-filled q- or k-sized gradient with the slice copied in) and the two summed:
    4 and 14 bytes an element of q and k at 16 bits (:func:`dpsim.compute.partial_rope_bytes`). Needs
    ``rope_kernels`` other than ``none`` when below 1."""
    norm_kernel: Literal["fused", "torch_two_pass"] = "fused"
    """The LayerNorm's kernels (``elementwise: fused`` only). ``fused``: one kernel forward (apex's
    ``FusedLayerNorm``, Megatron's ``MixedFusedLayerNorm``, Transformer Engine): read and write, 4 bytes an element
    at 16 bits; backward read the input and the gradient and write one, 8. ``torch_two_pass``: ``torch.nn.LayerNorm``
    as PyTorch's ``layer_norm_kernel.cu`` ran it before its vectorised one-kernel forward (the file gpt-neox's
    20B release ran under torch 1.10, after its commit a077464c "remove fused layernorm"):
    ``RowwiseMomentsCUDAKernel`` reads the input for the row statistics, ``LayerNormForwardCUDAKernel`` reads it
    again and writes (3 x the width an element); backward ``ComputeInternalGradientsCUDAKernel`` (reads the gradient
    and the input), ``LayerNormBackwardCUDAKenrel`` (reads both, writes the input gradient) and
    ``GammaBetaBackwardCUDAKernel`` (reads both again): 7 x the width (:func:`dpsim.compute.norm_bytes`)."""
    bias_dropout_fusion: bool = True
    """Megatron-LM's jit-fused ``bias_dropout_add_fused_train``: each branch's output bias, dropout and residual add
    in one kernel (read the branch output and the residual, write once). false = gpt-neox's default
    (``neox_args`` ``bias_dropout_fusion: False``; GPT-NeoX-20B's ``configs/20B.yml`` leaves it):
    ``bias_dropout_add`` runs ``x + bias`` (read, write), ``F.dropout`` (a kernel only with ``model.dropout``:
    read, write, a 1-byte mask) and ``residual + out`` (read two, write) as kernels of their own, forward (and its
    recompute); the backward's gradient work is the same either way. With ``parallel_block`` the attention branch has
    no residual (its bias add alone, fused or not) and the block's last add, ``residual + reduce(output)``, is a
    kernel of its own either way (:func:`dpsim.compute.residual_bytes`)."""
    parameters: Count | None = None
    """Parameter count; derived from the shape for transformers when not given."""
    flops_per_sample: Count | None = None
    """Training FLOPs (forward + backward) per sample; derived for transformers when not given."""

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        if isinstance(data, str):  # "model: gpt2-xl" is "model: {preset: gpt2-xl}"
            data = {"preset": data}
        data = _preset_given(data)
        fields = {f: f for f in catalog.ModelSpec.__dataclass_fields__ if f in cls.model_fields and f != "preset"}
        merged = _merge_preset(data, catalog.MODELS, "model", fields)
        if isinstance(merged, dict) and isinstance(data, dict) and data.get("preset") is not None:
            # parameters/FLOPs of a transformer preset are derived below, unless given explicitly
            for key in ("parameters", "flops_per_sample"):
                if key not in data and (merged.get("kind") == "transformer" or merged.get(key) in (0, 0.0)):
                    merged.pop(key, None)
            merged.pop("sample_size", None)
            cls._refuse_kind_against_preset(data, merged)
        return merged

    @classmethod
    def _refuse_kind_against_preset(cls, data: dict[str, Any], merged: dict[str, Any]) -> None:
        """A ``kind`` beside a preset of the other family (``--set model.kind=cnn`` on ``gpt2-xl``, ``kind:
        transformer`` on ``resnet-50``) was refused as a shape field the user never wrote (``model.heads: ... leave it
        out``, the preset's; ``model.layers: a transformer needs layers > 0 (or a preset)`` beside one): named as
        ``kind``, with the preset's field that does not fit."""
        kind, preset = data.get("kind"), catalog.MODELS.get(str(merged.get("preset")))
        if (
            kind not in ("transformer", "cnn", "mlp")
            or preset is None
            or (kind == "transformer") == (preset.kind == "transformer")
        ):
            return  # a kind misspelled is the field's own error (with its did-you-mean)
        if kind != "transformer":
            given = [n for n in TRANSFORMER_ONLY if n not in data and merged.get(n) != cls.model_fields[n].default]
            if given:
                raise ValueError(
                    f"kind: {kind} beside preset {preset.name}, a transformer whose {given[0]} (and the rest of a "
                    f"transformer's shape) a model of kind {kind} does not have: leave kind out, or describe the "
                    f"{kind} model without a preset"
                )
        else:
            missing = [n for n in ("layers", "hidden", "heads", "seq_len", "vocab") if n not in data and not merged[n]]
            if missing:
                article = "an" if preset.kind == "mlp" else "a"
                raise ValueError(
                    f"kind: transformer beside preset {preset.name}, {article} {preset.kind} model that gives no "
                    f"{missing[0]}: leave kind out, or describe the transformer without a preset"
                )

    @model_validator(mode="after")
    def _derive(self) -> ModelConfig:
        for name in TRANSFORMER_ONLY if self.kind != "transformer" else ():
            if getattr(self, name) != type(self).model_fields[name].default:
                raise ValueError(
                    f"{name}: shapes a transformer's layers, which a model of kind {self.kind} does not have (nothing "
                    "reads it: the same step, memory and runtime model): leave it out, or set kind: transformer"
                )
        if self.kind == "transformer":
            for name in ("layers", "hidden", "heads", "seq_len", "vocab"):
                if getattr(self, name) <= 0:
                    raise ValueError(f"{name}: a transformer needs {name} > 0 (or a preset)")
            if self.hidden % self.heads:
                raise ValueError(f"heads: hidden ({self.hidden}) must be divisible by heads ({self.heads})")
            if self.kv_heads and self.heads % self.kv_heads:
                raise ValueError(f"kv_heads: heads ({self.heads}) must be divisible by kv_heads ({self.kv_heads})")
            if self.parameters is None:
                self.parameters = catalog.shape_parameters(self)
            if self.flops_per_sample is None:
                self.flops_per_sample = self.shape_flops_per_sample
        elif self.kind == "mlp" and self.layers > 0 and self.hidden > 0:
            # ``layers`` square linear layers with biases (runtime.model.MLP): Ψ = L·(h² + h),
            # and 6·Ψ training FLOPs per sample (2 forward + 4 backward per parameter)
            if self.parameters is None:
                self.parameters = float(self.layers * (self.hidden**2 + self.hidden))
            if self.flops_per_sample is None:
                self.flops_per_sample = 6.0 * self.parameters
        else:
            if self.parameters is None:
                raise ValueError(f"parameters: a {self.kind} model needs parameters (e.g. 25.6e6) or a preset")
            if self.flops_per_sample is None:
                raise ValueError(f"flops_per_sample: a {self.kind} model needs flops_per_sample or a preset")
        return self

    @property
    def shape_flops_per_sample(self) -> float:
        """A transformer's training FLOPs per sample from its shape and parameters (``flops_per_sample`` when not
        given: :func:`dpsim.catalog.training_flops_per_token` times the sequence)."""
        assert self.parameters is not None
        per_token = catalog.training_flops_per_token(
            self.parameters, self.layers, self.hidden, self.seq_len, self.vocab,
            embedding_parameters=self.embedding_parameters,
        )  # fmt: skip
        return float(per_token * self.seq_len)

    @property
    def embedding_parameters(self) -> float:
        """Token (and learned position) embedding parameters; 0 for non-transformers."""
        if self.kind != "transformer":
            return 0.0
        untied = 0 if self.tied_embeddings else 1
        return float(
            self.vocab * self.hidden * (1 + untied) + (self.seq_len * self.hidden if self.learned_positions else 0)
        )

    @property
    def num_parameters(self) -> float:
        assert self.parameters is not None
        return self.parameters

    @property
    def training_flops_per_sample(self) -> float:
        assert self.flops_per_sample is not None
        return self.flops_per_sample

    @property
    def tokens_per_sample(self) -> int:
        return self.seq_len if self.kind == "transformer" else 0


class DeviceConfig(_Section):
    """A device: a catalog name, or peak FLOP/s, memory and how compute reaches the peak.

    Transformers are priced operation by operation (:mod:`dpsim.compute`) when the device has
    a GEMM curve (``matmul_efficiency``, from the catalog or ``dpsim calibrate --compute``);
    ``efficiency`` is the explicit flat override: every FLOP at ``peak · efficiency``. A device
    with neither runs at the flat default 0.5.
    """

    preset: str | None = None
    peak_flops: FlopRate
    """Dense 16-bit (bf16/fp16) peak."""
    memory: Size
    memory_bandwidth: Bandwidth = _default("1 TB/s")
    efficiency: Fraction | None = None
    """Flat fraction of peak for all compute (an override of the operation-level model)."""
    peak_flops_fp8: FlopRate | None = None
    """Dense FP8 peak (none: the device has no FP8 tensor cores)."""
    peak_flops_fp32: FlopRate | None = None
    """Peak for fp32 training (TF32 tensor cores where present); none: ``peak_flops``."""
    peak_flops_fp32_ieee: FlopRate | None = None
    """IEEE FP32 peak without tensor cores, for fp32 GEMMs with TF32 off (``training.fp32_matmul: ieee``); none:
    ``peak_flops_fp32``."""
    matmul_efficiency: Fraction | None = None
    """Largest fraction of peak a GEMM reaches (the GEMM curve's plateau)."""
    matmul_efficiency_fp8: Fraction | None = None
    """The plateau of FP8 GEMMs, as a fraction of ``peak_flops_fp8``; none: ``matmul_efficiency``."""
    kernel_overhead: Duration = _default("4 us")
    """Fixed time per GEMM kernel on top of its FLOPs (the GEMM curve's small-shape penalty)."""
    attention_efficiency: tuple[Fraction, Fraction] = (0.5, 0.5)
    """Fraction of peak of fused (flash) attention, forward and backward."""
    attention_efficiency_fa2: tuple[Fraction, Fraction] | None = None
    """Fraction of peak of a flash-attention kernel of FlashAttention-2's generation (``model.attention_kernel:
    fa2``), forward and backward, on a device whose best kernels are newer (the catalog's H100/H200: 0.426 / 0.328,
    measured on an H200, with ``attention_half_seq_fa2``); none: ``attention_efficiency``."""
    attention_half_seq: tuple[SequenceLength, SequenceLength] = (0.0, 0.0)
    """Sequence length at which causal fused attention (forward, backward) reaches half of ``attention_efficiency``,
    its long-sequence rate: ``attention_efficiency · s / (s + s½)`` causal, ``s / (s + s½/2)`` unmasked (a fixed
    cost per query row, :func:`dpsim.compute.attention_rate`); 0: flat in the sequence length."""
    attention_half_seq_fa2: tuple[SequenceLength, SequenceLength] | None = None
    """The same for ``attention_efficiency_fa2``; none: ``attention_half_seq``."""
    memory_efficiency: Fraction = 0.83
    """Achievable fraction of memory bandwidth for element-wise kernels."""
    sustained_fraction: Fraction = 1.0
    """Share of the curve's kernel rates sustained inside a training step (every kernel of the
    operation-level model takes 1/sustained_fraction as long); the catalog's per-device value."""
    flat_efficiency: Fraction = 0.5
    """Fraction of peak for models without an operation breakdown (CNNs, MLPs), from the catalog."""
    gemm_waves: bool = False
    """Opt-in: scale each GEMM's rate by its wave and tile quantisation (:func:`dpsim.compute.wave_efficiency`;
    needs ``sm_count``). Off by default: on the published runs it does not improve the predictions."""
    sm_count: PositiveInt | None = None
    """Streaming multiprocessors (the catalog's), for ``gemm_waves``."""
    gemm_epilogue_exposed: bool = False
    """The catalog's: the GEMM's output store follows its k-loop (:func:`dpsim.compute.gemm_time`; A100),
    instead of hiding under the next tile's k-loop (Hopper's persistent kernels)."""
    gemm_tile: tuple[PositiveInt, PositiveInt] = (256, 128)
    """GEMM output tile (rows, columns) one SM computes per wave, either orientation; NVIDIA's Matrix
    Multiplication Background guide, §3.2: 256 × 128 on A100 (cuBLAS's Hopper kernels use 128 × 256)."""

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        data = _preset_given(data)
        fields = {"peak_flops": "peak_flops", "memory": "memory_bytes", "memory_bandwidth": "memory_bandwidth"}
        fields.update(flat_efficiency="efficiency", peak_flops_fp8="peak_flops_fp8", peak_flops_fp32="peak_flops_fp32")
        fields.update(peak_flops_fp32_ieee="peak_flops_fp32_ieee")
        fields.update(matmul_efficiency="matmul_efficiency", kernel_overhead="kernel_overhead_s")
        fields.update(matmul_efficiency_fp8="matmul_efficiency_fp8")
        fields.update(attention_efficiency="attention_efficiency", memory_efficiency="memory_efficiency")
        fields.update(attention_efficiency_fa2="attention_efficiency_fa2")
        fields.update(attention_half_seq="attention_half_seq", attention_half_seq_fa2="attention_half_seq_fa2")
        fields.update(sustained_fraction="sustained_fraction", sm_count="sm_count")
        fields.update(gemm_epilogue_exposed="gemm_epilogue_exposed")
        merged = _merge_preset(data, catalog.DEVICES, "device", fields)
        if isinstance(merged, dict) and merged is not data:
            explicit = data if isinstance(data, dict) else {}
            nones = ("peak_flops_fp8", "peak_flops_fp32", "peak_flops_fp32_ieee", "matmul_efficiency", "sm_count")
            for name in (*nones, "matmul_efficiency_fp8"):
                # the catalog's "none" is 0; a 0 the scenario gives is its own value, checked as any other
                if explicit.get(name) is None and merged.get(name) in (0, 0.0):
                    merged[name] = None
            for name in ("kernel_overhead", "attention_efficiency", "memory_efficiency"):
                if name not in explicit and merged.get(name) in (0, 0.0, (0.0, 0.0)):
                    merged.pop(name)  # no curve in the catalog: the field's default
            no_fa2 = merged.get("attention_efficiency_fa2") in ((0.0, 0.0), [0.0, 0.0])
            if explicit.get("attention_efficiency_fa2") is None and no_fa2:  # absent, or None as a dump writes it
                merged.pop("attention_efficiency_fa2")  # the device's own kernels are FlashAttention-2's generation
                if explicit.get("attention_half_seq_fa2") is None:
                    merged.pop("attention_half_seq_fa2", None)
        units = {"peak_flops": "FLOP/s", "memory": "B", "memory_bandwidth": "B/s", "kernel_overhead": "s"}
        units.update(peak_flops_fp8="FLOP/s", peak_flops_fp32="FLOP/s", peak_flops_fp32_ieee="FLOP/s")
        return _texts(merged, units, data)

    @model_validator(mode="after")
    def _flat_default(self) -> DeviceConfig:
        if self.efficiency is None and self.matmul_efficiency is None and self.preset is None:
            self.efficiency = 0.5  # a device known only by its peak: the flat default
        return self

    def peak_for(self, precision: str) -> float:
        """Peak FLOP/s of the GEMMs at a training precision (fp8: the FP8 tensor cores)."""
        if precision == "fp8":
            if self.peak_flops_fp8 is None:
                raise ValueError("this device has no FP8 peak (cluster.device.peak_flops_fp8)")
            return self.peak_flops_fp8
        if precision == "fp32":
            return self.peak_flops_fp32 if self.peak_flops_fp32 is not None else self.peak_flops
        return self.peak_flops


def _texts(merged: Any, units: Mapping[str, str], original: Any) -> Any:
    """Catalog numbers are SI floats; give them units so the strict quantity parsers accept them."""
    if not isinstance(merged, dict) or merged is original:
        return merged
    explicit = original if isinstance(original, dict) else {}
    for name, unit in units.items():
        if name in merged and name not in explicit and isinstance(merged[name], (int, float)):
            merged[name] = f"{merged[name]!r} {unit}"
    return merged


class LinkConfig(_Section):
    """A link class: per-direction bandwidth and one-way latency (a catalog name also works)."""

    preset: str | None = None
    bandwidth: Bandwidth
    """Nominal per-direction rate."""
    latency: Duration = _default("0 s")
    efficiency: Fraction = 1.0
    """Achievable share of ``bandwidth`` (a catalog link's measured value; 1 for a rate given as achieved)."""

    _preset_efficiency: ClassVar[str] = "efficiency"
    """The catalog link's attribute a preset's ``efficiency`` comes from."""

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        data = _preset_given(data)
        if isinstance(data, dict) and data.get("preset") is None and data.get("bandwidth") is None:
            given = [inputs.safe_text(str(k))[:60] for k in data if data[k] is not None]
            raise ValueError(
                f"a link needs a bandwidth (e.g. '200 Gbit/s') or a preset (a catalog link such as nvlink3 or "
                f"ib-hdr; `dpsim catalog links`), got {'only ' + ', '.join(given) if given else 'neither'}"
            )
        fields = {"bandwidth": "bandwidth", "latency": "latency_s", "efficiency": cls._preset_efficiency}
        merged = _merge_preset(data, catalog.LINKS, "link", fields)
        if isinstance(merged, dict) and isinstance(data, dict) and "bandwidth" in data and "efficiency" not in data:
            merged["efficiency"] = 1.0  # an explicit rate replaces the preset's, and its efficiency with it
        return _texts(merged, {"bandwidth": "B/s", "latency": "s"}, data)

    @property
    def achievable(self) -> float:
        """Achievable per-direction bandwidth (bytes/s) the engines use: ``bandwidth × efficiency``."""
        return self.bandwidth * self.efficiency


class IntraNodeLink(LinkConfig):
    """The link of each GPU inside a node. A preset's efficiency is the share NCCL's kernels reach GPU to GPU
    (:attr:`dpsim.catalog.LinkSpec.intra_efficiency`: below a DMA engine's on PCIe Gen5), its link's otherwise."""

    _preset_efficiency: ClassVar[str] = "intra_node_efficiency"


class InterNodeLink(LinkConfig):
    """The network between nodes: per-NIC bandwidth and latency, and NICs per node."""

    nics_per_node: Annotated[int, Field(strict=True, ge=1, le=MAX_NICS_PER_NODE)] = 1
    """NICs (NCCL network devices) per node. Up to one per GPU, local rank ``l`` uses NIC ``⌊l·nics/G⌋``;
    more than the node's GPUs must be a multiple of them: ``nics/G`` on each GPU's PCIe switch, which
    NCCL's channels use in turn (:func:`dpsim.sim.collectives.nccl.channels_per_gpu`)."""
    pcie_gpus_per_nic: Annotated[int, Field(strict=True, ge=1, le=MAX_WORKERS_PER_NODE)] | None = None
    """GPUs on each NIC's PCIe switch (``nvidia-smi topo -m``: PIX); unset: two or more. With 1 on
    nodes of several GPUs, NCCL's balanced tree (child 0 on the chain's second GPU, through the
    same NIC) cannot be built, and on Hopper and later its search falls back to the ``TREE``
    pattern, which its tuner prices at 0.85 of the balanced tree (``src/graph/search.cc``,
    ``tuning.cc``). A divisor of the node's workers (the same number on each switch); several NICs may
    share a switch (DGX A100: 2 GPUs and 2 NICs on each)."""
    ports_per_nic: Annotated[int, Field(strict=True, ge=1, le=MAX_NICS_PER_NODE)] = 1
    """Ports of one NIC card among ``nics_per_node`` (``bandwidth`` is one port's), e.g. 2 for OCI
    BM.GPU.H100.8's eight dual-port 2 × 200G ConnectX-7, one on each GPU's PCIe switch. NCCL since v2.20
    fuses a card's ports into one network device of their summed rate, striping its connections over
    them (``net_ib.cc`` ``NCCL_IB_MERGE_NICS=1`` in v2.20–v2.23, NIC fusion at
    ``NCCL_NET_MERGE_LEVEL=PORT`` in ``topo.cc`` from v2.24): its channels, NVLS heads and tuner then see
    ``nics_per_node / ports_per_nic`` NICs of ``ports_per_nic × bandwidth`` (``communication.nccl_nic_fusion``
    false: each port its own device, as before v2.20)."""
    nic_path: Literal["pcie", "c2c"] = "pcie"
    """How a GPU reaches its NICs: ``pcie`` through PCIe (a switch it shares with them, or its root complex), or
    ``c2c`` through its CPU over NVLink-C2C, the NICs on the CPU's PCIe (Grace Blackwell and Grace Hopper trays:
    GB200 NVL72's ConnectX-7s hang off the Grace). NCCL's path from such a GPU to its NIC is ``PHB`` before
    v2.27.3 and ``P2C`` from it (``paths.cc``), and ``ncclTopoTuneModel`` enables LL128 by default only on graphs
    whose GPU-to-NIC path is at most ``PXN`` on Hopper and later (``P2C`` from v2.27.3, ``NCCL_LL128_C2C=1``): with
    ``c2c`` and ``communication.nccl_version`` before 2.27.3, ``auto`` leaves LL128 out across nodes unless
    ``communication.nccl_proto`` names it (:func:`dpsim.sim.collectives.candidate_pairs`)."""


class HostTopologyConfig(_Section):
    """How the GPUs of a PCIe node hang off its host: PCIe switches on CPU sockets (``nvidia-smi topo -m``).

    NCCL's topology (``src/graph/topo.cc``, ``paths.cc``) joins every pair of sockets with a link of its
    inter-CPU bandwidth (:data:`dpsim.catalog.INTER_CPU_GBPS`), and uses GPU peer-to-peer only between GPUs
    under one PCIe switch (``NCCL_P2P_LEVEL`` default ``PXB``, ``ncclTopoCheckP2p``); other pairs exchange
    through host memory (SHM transport), the route up to the CPU and down again. Local rank ``l`` of ``G``
    sits on socket ``⌊l·sockets/G⌋`` under switch ``⌊l/gpus_per_switch⌋``.
    """

    sockets: Annotated[int, Field(strict=True, ge=1, le=8)] = 1
    """CPU sockets (NUMA nodes) the node's GPUs are spread over, the same number on each."""
    gpus_per_switch: Annotated[int, Field(strict=True, ge=1, le=MAX_WORKERS_PER_NODE)] = 1
    """GPUs under each PCIe switch (``PIX`` between them); 1: each GPU on its own CPU root port (``PHB``).
    A switch's x16 uplink to the CPU runs at the intra-node link's rate."""
    cpu: str | None = None
    """The CPU class NCCL detects, which sets its inter-socket bandwidth: ``intel-bdw`` 6, ``intel-skl`` 10,
    ``intel-srp`` 22, ``intel-erp`` 40, ``amd`` 16, ``zhaoxin`` 6, ``zhaoxin-yongfeng`` 9, ``power9`` 32,
    ``arm`` 6 GB/s (:data:`dpsim.catalog.INTER_CPU_GBPS`). Needed with two sockets or more."""
    p2p: bool = True
    """GPU peer-to-peer between GPUs of one switch (false: GeForce cards, whose driver disables it, or
    ``NCCL_P2P_DISABLE=1``): every pair then goes through the CPU, up and down the switch's uplink."""
    socket_link_gbps: Annotated[float, Field(ge=1.25e-10, le=1e4)] | None = None
    """Measured GB/s each way that GPU traffic moves across the link between two sockets (P2P through both root
    complexes, SHM into the other socket's memory), e.g. one cross-socket GPU pair's bidirectional
    ``p2pBandwidthLatencyTest`` figure halved; unset: NCCL's constant for :attr:`cpu`. NCCL's ring search keeps
    its constant (the graph, :mod:`dpsim.sim.pcie_ring`); the engines price the socket link at this rate. At
    least 1.25e-10 (1 bit/s, the slowest bandwidth dpsim reads: :data:`dpsim.units.RANGES`)."""
    p2p_latency_us: Annotated[float, Field(ge=1e-9, le=1000)] | None = None
    """Measured one-way latency, µs, of the slowest GPU peer-to-peer hop on NCCL's ring of the node: half the round
    trip of a GPU-resident ping-pong (a kernel stores a flag into the peer GPU's memory and spins on its own until
    the echo arrives), e.g. the cross-switch pair of two PCIe switches. A ring step on a P2P hop is that handshake
    (``src/device/prims_ll.h``: the receiver polls the flag of each 16-byte line it was sent;
    ``prims_simple.h``: the sender stores the step's data and then the tail counter into the peer's memory, which
    the peer polls), so the engines price each step of a ring or tree whose every edge is P2P at it; unset, or a
    ring with an SHM edge (host memory, not measured by a P2P ping-pong): NCCL's own per-step figure
    (``hwLatencies[PCI]``, ``src/graph/tuning.cc``). NCCL's tuner picks the algorithm and protocol by its own
    figures either way. At least 1e-9 (1e-15 s, the shortest duration dpsim reads: :data:`dpsim.units.RANGES`)."""

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:  # a catalog name like a device's: any case, surrounding spaces
            return catalog.canonical(catalog.INTER_CPU_GBPS, value, "CPU class")
        except KeyError:
            raise ValueError(
                f"expected a CPU class: {', '.join(catalog.INTER_CPU_GBPS)}, got {inputs.brief(value)}"
            ) from None

    @property
    def inter_cpu_bandwidth(self) -> float:
        """Bytes/s each way between two sockets (NCCL's constant for :attr:`cpu`; 0 without one)."""
        return catalog.INTER_CPU_GBPS[self.cpu] * 1e9 if self.cpu is not None else 0.0

    @property
    def socket_link_bandwidth(self) -> float:
        """Bytes/s each way the engines price the socket link at (:attr:`socket_link_gbps`, else NCCL's constant)."""
        return self.socket_link_gbps * 1e9 if self.socket_link_gbps is not None else self.inter_cpu_bandwidth


class TopologyConfig(_Section):
    """How nodes are wired: one non-blocking switch, a two-level fat-tree, or a direct ring."""

    kind: Literal["switch", "fat-tree", "ring"] = "switch"
    oversubscription: Annotated[float, Field(ge=1, le=1000)] = 1.0
    """Fat-tree: leaf downlink to uplink bandwidth ratio (1 = non-blocking)."""
    nodes_per_leaf: PositiveInt = 16
    """Fat-tree: nodes attached to one leaf switch."""


RANK_ORDERS = ("node_major", "round_robin")
"""Named rank placements (``cluster.rank_order``); a list of GPU slots is the explicit one."""


def _rank_order(value: Any) -> Any:
    if isinstance(value, str):
        if value not in RANK_ORDERS:
            hint = did_you_mean(value, RANK_ORDERS)
            raise ValueError(
                f"expected {' or '.join(RANK_ORDERS)} or a list of GPU slots, got {inputs.brief(value)}"
                + (f" ({hint})" if hint else "")
            )
        return value
    if isinstance(value, list):
        bad = [v for v in value if not isinstance(v, int) or isinstance(v, bool)]
        if bad:
            raise ValueError(f"GPU slots are integers, got {inputs.brief(bad[0])}")
        return value
    raise ValueError(f"expected {' or '.join(RANK_ORDERS)} or a list of GPU slots, got {inputs.brief(value)}")


class ClusterConfig(_Section):
    """Nodes of identical devices, a fast intra-node fabric, and NICs into the network."""

    nodes: Annotated[int, Field(strict=True, ge=1, le=MAX_WORLD)] = 1
    workers_per_node: Annotated[int, Field(strict=True, ge=1, le=MAX_WORKERS_PER_NODE)] = 1
    device: DeviceConfig
    intra_node: IntraNodeLink = Field(default_factory=lambda: IntraNodeLink.model_validate("nvlink3"))
    inter_node: InterNodeLink = Field(default_factory=lambda: InterNodeLink.model_validate("ib-hdr"))
    topology: TopologyConfig = Field(default_factory=TopologyConfig)
    host_link: LinkConfig | None = None
    """A GPU's own link to its NIC (its PCIe x16 into the PCIe switch the NIC sits on: GPUDirect
    RDMA), which inter-node traffic crosses instead of the intra-node link; unset: the catalog
    device's PCIe generation (A100: pcie4, H100/H200/B200: pcie5) when the intra-node link is not
    PCIe itself, else none (inter-node traffic leaves through the intra-node link)."""
    host_topology: HostTopologyConfig | None = None
    """PCIe switches and CPU sockets of a PCIe-only node (intra-node link ``pcie3``/``4``/``5``), which NCCL's
    rings cross (:class:`HostTopologyConfig`); unset: every pair of GPUs at the intra-node link's rate, as
    through one non-blocking switch."""
    price_per_device_hour: Annotated[float, Field(ge=0, le=MAX_PRICE)] | None = None
    """Optional rental price of one device for one hour (any currency), for cost estimates."""
    intra_topology: Literal["switch", "hybrid-cube-mesh"] = "switch"
    """How a node's GPUs are wired: ``switch`` (each GPU one port of ``intra_node`` into NVSwitch, or PCIe) or
    ``hybrid-cube-mesh`` (DGX-1V: 8 V100, each with 6 NVLinks of ``intra_node / 6`` wired point to point, some
    pairs doubled, some unlinked; NCCL rings over the links its search finds, :mod:`dpsim.sim.nvlink_mesh`).
    A mesh node's ``workers_per_node`` are its GPUs 0 … G−1: 1, 2, 3, 4, 6, 7 or 8 (on GPUs 0–4 NCCL's
    rings would cross PCIe, not modelled)."""
    cpu_vendor: Literal["intel", "amd"] | None = None
    """The x86 vendor of the nodes' host CPUs, which NCCL detects (``cpuid``) and its tuner reads on several nodes
    (``src/graph/tuning.cc`` ``getNetOverhead``: a network post costs 1 µs on Intel, 2 µs on AMD, ×3 for Simple, the
    floor of a ring's step on NVLink; ``llMaxBws`` takes its Intel or its AMD row as the LL ceiling): ``amd`` e.g. AWS
    p5.48xlarge (3rd Gen AMD EPYC); unset: ``amd`` where ``host_topology.cpu`` is ``amd``, else ``intel`` (the
    default before this field). One node does not read it (NCCL does not)."""
    rank_order: Annotated[str | list[int], BeforeValidator(_rank_order)] = "node_major"
    """Which GPU each rank runs on: ``node_major`` (rank r = node·workers_per_node + local, as
    torchrun and Slurm's block distribution place them), ``round_robin`` (rank r on node
    r mod nodes, local rank r // nodes: Slurm's cyclic distribution), or a list giving each
    rank's GPU slot (node·workers_per_node + local), a permutation of 0 … world−1. Rank-ordered
    algorithms (gloo's ring, halving–doubling, direct, parameter server) follow it; NCCL's
    rings and trees are built from the topology and do not change."""

    @model_validator(mode="after")
    def _world(self) -> ClusterConfig:
        if self.nodes * self.workers_per_node > MAX_WORLD:
            raise ValueError(
                f"nodes: {self.nodes:,} nodes x {self.workers_per_node:,} workers = "
                f"{self.nodes * self.workers_per_node:,} devices, more than the {MAX_WORLD:,} supported"
            )
        if (self.inter_node.pcie_gpus_per_nic or 0) > self.workers_per_node:
            raise ValueError(
                f"inter_node.pcie_gpus_per_nic: {self.inter_node.pcie_gpus_per_nic} GPUs on a NIC's PCIe switch, "
                f"more than the node's {self.workers_per_node}"
            )
        if (pcie := self.inter_node.pcie_gpus_per_nic) and self.workers_per_node % pcie:
            # round 26 lead: 2 NICs x 5 GPUs on an 8-GPU node. Not a product bound: DGX A100 (8 NICs, 2 GPUs on
            # each NIC's switch) and OCI's 16 ports on 8 GPUs put more than one NIC on a switch.
            divisors = ", ".join(str(d) for d in range(1, self.workers_per_node + 1) if self.workers_per_node % d == 0)
            raise ValueError(
                f"inter_node.pcie_gpus_per_nic: {pcie} GPUs on each NIC's PCIe switch for {self.workers_per_node} "
                f"workers per node; expected a divisor of them ({divisors}: the same number on each switch)"
            )
        nics, g, ports = self.inter_node.nics_per_node, self.workers_per_node, self.inter_node.ports_per_nic
        if nics > g and nics % g:
            raise ValueError(
                f"inter_node.nics_per_node: {nics} NICs for {g} workers per node; more NICs than workers must be a "
                f"multiple of them (the same number on each GPU's PCIe switch)"
            )
        if nics < g and g % nics:  # round 26: 3 NICs for 8 GPUs ran slower than 2, and the fabric twice the engines
            raise ValueError(
                f"inter_node.nics_per_node: {nics} NICs for {g} workers per node; fewer NICs than workers must divide "
                f"them (the same number of GPUs on each NIC, as the engines' rails and NIC shares assume)"
            )
        if nics % ports or (g < nics // ports and (nics // ports) % g):
            raise ValueError(
                f"inter_node.ports_per_nic: {ports} ports a NIC for {nics} ports per node; expected a divisor of "
                f"nics_per_node leaving at most {g} NICs (workers per node) or a multiple of {g}"
            )
        self._check_host_topology()
        from dpsim.sim.nvlink_mesh import ring_gpu_counts

        if self.intra_topology == "hybrid-cube-mesh" and self.intra_pcie:
            raise ValueError(
                f"intra_topology: hybrid-cube-mesh wires GPUs with NVLink, but intra_node is {self.intra_node.preset} "
                f"(expected an NVLink preset such as nvlink2, or a custom link)"
            )
        if self.intra_topology == "hybrid-cube-mesh" and g not in ring_gpu_counts():
            counts = ", ".join(str(n) for n in ring_gpu_counts())
            raise ValueError(
                f"intra_topology: hybrid-cube-mesh rings GPUs 0 .. G-1 of a DGX-1V over NVLink for G in {counts}; "
                f"got workers_per_node {g}"
                + (" (GPU 4's only NVLink among GPUs 0-4 is to GPU 0: NCCL would ring over PCIe)" if g == 5 else "")
            )
        if isinstance(self.rank_order, list) and sorted(self.rank_order) != list(range(self.world_size)):
            raise ValueError(
                f"rank_order: a list of GPU slots must hold each of 0 .. {self.world_size - 1} once "
                f"({self.world_size} ranks), got {inputs.brief(self.rank_order)}"
            )
        return self

    def _check_host_topology(self) -> None:
        host, g = self.host_topology, self.workers_per_node
        if host is None:
            return
        if not self.intra_pcie:
            intra = self.intra_node.preset or "a custom link"
            raise ValueError(
                f"host_topology: describes PCIe-only nodes, but intra_node is {intra} (expected a PCIe preset: "
                f"pcie3, pcie4 or pcie5)"
            )
        if g % host.sockets:
            raise ValueError(
                f"host_topology.sockets: {host.sockets} sockets for {g} workers per node; expected a divisor of {g}"
            )
        if (g // host.sockets) % host.gpus_per_switch:
            raise ValueError(
                f"host_topology.gpus_per_switch: {host.gpus_per_switch} GPUs a switch for {g // host.sockets} GPUs a "
                f"socket; expected a divisor of {g // host.sockets} (a switch hangs off one socket)"
            )
        if host.socket_link_gbps is not None and host.sockets == 1:
            raise ValueError(
                f"host_topology.socket_link_gbps: {host.socket_link_gbps:g} GB/s between sockets, but the node has 1 "
                f"socket (expected sockets of 2 or more, or no socket_link_gbps)"
            )
        if host.p2p_latency_us is not None and not host.p2p:
            raise ValueError(
                f"host_topology.p2p_latency_us: {host.p2p_latency_us:g} us a peer-to-peer hop, but p2p is false (every "
                f"ring edge goes through host memory; expected p2p true, or no p2p_latency_us)"
            )
        if self.cpu_vendor is not None and host.cpu is not None and (self.cpu_vendor == "amd") != (host.cpu == "amd"):
            raise ValueError(
                f"cpu_vendor: {self.cpu_vendor}, but host_topology.cpu is {host.cpu} (expected cpu_vendor "
                f"{'amd' if host.cpu == 'amd' else 'intel'}, or no cpu_vendor: host_topology.cpu sets it)"
            )
        if host.sockets > 1 and host.cpu is None:
            raise ValueError(
                f"host_topology.cpu: {host.sockets} sockets need the CPU class that sets NCCL's inter-socket "
                f"bandwidth: one of {', '.join(catalog.INTER_CPU_GBPS)}"
            )

    @property
    def slots(self) -> tuple[int, ...]:
        """GPU slot of each rank (empty for ``node_major``: rank r on slot r)."""
        order = self.rank_order
        if isinstance(order, list):
            return tuple(order)
        if order == "round_robin":
            m, g = self.nodes, self.workers_per_node
            return tuple((r % m) * g + r // m for r in range(self.world_size))
        return ()

    @property
    def world_size(self) -> int:
        return self.nodes * self.workers_per_node

    @property
    def amd_host(self) -> bool:
        """Whether NCCL sees AMD host CPUs (:attr:`cpu_vendor`, else ``host_topology.cpu``)."""
        if self.cpu_vendor is not None:
            return self.cpu_vendor == "amd"
        return self.host_topology is not None and self.host_topology.cpu == "amd"

    @property
    def default_host_link(self) -> str | None:
        """The catalog link a GPU reaches its NIC through when ``host_link`` is not given."""
        return default_host_link(self.device.preset, self.intra_node.preset)

    @property
    def intra_pcie(self) -> bool:
        """Whether the GPUs of a node are joined by PCIe (a ``pcie*`` catalog preset: NCCL's ``pci`` class), not
        NVLink (a custom link counts as NVLink)."""
        return pcie_link(self.intra_node.preset)

    @property
    def nvls_node(self) -> bool:
        """Whether NCCL's NVLink-SHARP all-reduce can run in a node: an NVSwitch generation that reduces
        (:data:`NVLS_LINKS`, on a switch) and 2+ GPUs a node (:attr:`dpsim.analytic.collectives.Fabric.nvls`)."""
        preset = self.intra_node.preset or ""
        return preset in NVLS_LINKS and self.workers_per_node > 1 and self.intra_topology == "switch"

    @property
    def gloo(self) -> bool:
        """CPU devices: gloo reduces, not NCCL (its ring, α–β links; no NCCL algorithm, protocol or buffer)."""
        return self.device.preset == "cpu"

    @property
    def nccl_backend(self) -> bool:
        """Whether ``communication.algorithm: backend`` (the communicator's own choice) is NCCL's: on a catalog GPU
        (``device.preset`` other than ``cpu``), whose DDP, ZeRO and FSDP torch.distributed runs on NCCL. On CPUs it
        is gloo's ring, and so on a custom device (no preset), which names no hardware: the emulated testbed's
        CPU ranks are custom devices on gloo (:attr:`Scenario.collective_algorithm`)."""
        return self.device.preset not in (None, "cpu")

    @property
    def pxn_possible(self) -> bool:
        """Whether NCCL's PXN relay can exist: NVLink inside the node and a GPU-to-NIC link (given or the catalog
        GPU's), as :attr:`dpsim.sim.collectives.base.Layout.pxn` and :func:`dpsim.analytic.collectives.pxn_relays`
        read them (one node or one GPU a node relays nothing either, but a sweep may vary those)."""
        return not self.intra_pcie and (self.host_link is not None or self.default_host_link is not None)


def pcie_link(preset: str | None) -> bool:
    """Whether a catalog link name is a PCIe generation (``pcie3``, ``pcie4``, ``pcie5``)."""
    return (preset or "").startswith("pcie")


NVLS_LINKS = ("nvlink4", "nvlink5")
"""Intra-node links of NVSwitch generations with in-network reduction (NVLink SHARP, H100 and later)."""


def default_host_link(device: str | None, intra_node: str | None) -> str | None:
    """The catalog device's PCIe generation (A100 pcie4, H100 pcie5) when NVLink joins the node.

    None without a catalog device, or when the intra-node link is PCIe itself (inter-node traffic
    then leaves through it). Names are catalog keys (``preset`` after loading).
    """
    if device not in catalog.DEVICES or pcie_link(intra_node):
        return None
    return catalog.DEVICES[device].host_link or None


AUTO_BATCH = 0
"""``training.global_batch`` before ``auto`` is resolved by :class:`Scenario` (never seen after loading)."""


def _auto_batch(value: Any) -> Any:
    if value == "auto":
        return AUTO_BATCH
    if isinstance(value, int) and not isinstance(value, bool) and value < 1:
        raise ValueError(f"must be at least 1 (or auto), got {value}")
    return value


@dataclasses.dataclass(frozen=True)
class DeepSpeedZero:
    """DeepSpeed ZeRO's communication and ZeRO-3 coordinator settings (``DeepSpeedZeroConfig``), in elements.

    The class attributes are DeepSpeed's defaults (``deepspeed/runtime/zero/config.py``).
    """

    overlap_comm: bool
    reduce_bucket_size: int = 500_000_000
    prefetch_bucket_size: int = 50_000_000
    max_live_parameters: int = 1_000_000_000
    max_reuse_distance: int = 1_000_000_000


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


class TrainingConfig(_Section):
    """The batch, its split, the optimizer and the parallel degrees."""

    global_batch: Annotated[int, BeforeValidator(_auto_batch), Field(strict=True, ge=0)]
    """Samples per optimizer step across all data-parallel ranks; ``auto`` = the smallest valid one
    (data-parallel ranks x micro_batch, times pipeline_parallel for the interleaved schedule)."""
    micro_batch: PositiveInt = 1
    """Samples per forward/backward pass on one rank."""
    accumulation: PositiveInt | None = None
    """Gradient accumulation steps; derived as global_batch / (dp · micro_batch) when omitted."""
    optimizer: Literal["adam", "adamw", "sgd", "momentum"] = "adam"
    precision: Literal["fp8", "bf16", "fp16", "fp32"] = "bf16"
    """bf16/fp16 mean mixed precision with fp32 master weights (the ZeRO paper's setting); fp8 runs
    the linear layers' GEMMs in FP8 with per-tensor scaling (Transformer Engine) on bf16 weights,
    activations and fp32 master weights (Micikevicius et al. 2022, "FP8 Formats for Deep Learning")."""
    fp32_matmul: Literal["tf32", "ieee"] = "ieee"
    """How fp32 training's GEMMs run (``precision: fp32``). ``tf32``: on the TF32 tensor cores
    (``cluster.device.peak_flops_fp32``; ``torch.backends.cuda.matmul.allow_tf32 = True``, the runtime sets it so;
    NVIDIA's NGC containers turn it on by default). ``ieee`` (the default): full FP32 on the FP32 units
    (``cluster.device.peak_flops_fp32_ieee``: 19.5 TFLOP/s on an A100, 67 on an H100/H200 against TF32's 156 and
    494.5), PyTorch's default since 1.12 (``allow_tf32`` False, ``torch.get_float32_matmul_precision() == "highest"``),
    so a plain fp32 PyTorch program is priced as it runs. The GEMM curve's plateau and overhead are kept."""
    autocast: bool = False
    """bf16/fp16 as PyTorch's own mixed precision runs it (``torch.autocast`` over an fp32 model under plain DDP:
    what ``runtime`` runs, and PyTorch AMP scripts): the parameters, their gradients (and so DDP's buckets and
    all-reduce) stay fp32 and autocast casts per op (``aten/src/ATen/autocast_mode.cpp``). Each micro-batch's
    forward casts every weight a GEMM reads to 16 bits (read 4, write 2 bytes a parameter; cast once a forward,
    ``cached_casts`` holds the copy for the leaf weights, and autograd keeps it for the backward: 2 bytes a
    parameter more memory), and the backward casts each 16-bit weight gradient back to fp32 for ``param.grad``
    (``ToCopyBackward0``: read 2, write 4). ``layer_norm`` is on autocast's fp32 list and its input, the residual
    stream (fp32 embedding plus 16-bit branches), is fp32: the norms run at 4 bytes an element and keep an fp32
    input for the backward, their fp32 output is cast to 16 bits for the GEMM (read 4, write 2) and the GEMM's
    16-bit input gradient back to fp32 (read 2, write 4) (:func:`dpsim.compute.autocast_norm_bytes`). Model
    states as ``optimizer_sharding: torch`` keeps them: fp32 weights and gradients, the optimizer's moments.
    Needs precision bf16 or fp16 and PyTorch DDP (``zero_stage: 0``, or ``optimizer_sharding: torch``)."""
    gradient_dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """Dtype of the gradient buffer kept in memory; auto = for the megatron optimizer flavour the dtype it
    reduces in (``communication.dtype``: its main_grad is fp32 under bf16/fp8, fp16 under fp16, as
    Megatron-LM's ``grad_reduce_in_fp32`` follows), for the torch flavour fp32 (autocast keeps the parameters
    and so ``param.grad`` fp32), else the 16-bit training dtype (fp32 for fp32 training)."""
    optimizer_sharding: Literal["zero", "megatron", "fsdp", "torch"] = "zero"
    """How the optimizer is sharded, as frameworks run it: ``zero`` (DeepSpeed ZeRO per
    ``zero_stage``), ``megatron`` (Megatron-LM's distributed optimizer: ``zero_stage`` 1 with an fp32
    gradient buffer and overlapped reduce-scatter / all-gather), ``fsdp`` (PyTorch FSDP:
    ``zero_stage`` 3 is FULL_SHARD, 2 SHARD_GRAD_OP), ``torch`` (PyTorch's ``ZeroRedundancyOptimizer`` over
    DDP, ``zero_stage`` 1: DDP's all-reduce, whole parameters dealt out to owners greedily by size, each
    broadcast from its owner after the step; fp32 parameters and gradients under autocast,
    :func:`dpsim.sharding.torch_zero_broadcasts`)."""
    parameters_as_bucket_view: bool = False
    """torch's ``ZeroRedundancyOptimizer(parameters_as_bucket_view=True)`` (``optimizer_sharding: torch``):
    each rank's parameters live in one flat bucket, broadcast once after the step instead of one broadcast
    a parameter tensor (torch's default, false)."""
    fsdp_shard_group: PositiveInt | None = None
    """FSDP HYBRID_SHARD: shard over groups of this many data-parallel ranks (e.g. one node),
    replicate across groups; none = shard over all data-parallel ranks."""
    fsdp_no_sync: bool = False
    """FSDP under gradient accumulation: run every micro-batch but the last inside ``no_sync()``,
    which accumulates full unsharded gradients (in ``gradient_dtype``; auto: the reduce dtype, as FSDP2 does) and
    reduce-scatters once, after the last micro-batch (k x less gradient traffic, a full gradient more memory);
    false = FSDP's default, a reduce-scatter after every micro-batch's backward into the 1/N gradient shard."""
    fsdp_float8_all_gather: bool = False
    """FSDP2 with torchao's Float8 linears (``model.fp8_linear: torchao_tensorwise``): cast each linear weight to
    float8 on its shard before the all-gather, so FSDP gathers it at 1 byte an element and hands the linear the
    gathered float8 weight (torchao ``WeightWithDynamicFloat8CastTensor``'s ``fsdp_pre_all_gather``; torchtitan's
    ``float8.enable_fsdp_float8_all_gather``, false by default in its config manager). The other parameters
    (norms, embeddings, the output head, which torchtitan's ``filter_fqns`` leaves in bf16) are gathered at the
    parameter dtype: :func:`dpsim.sharding.parameter_gather_bytes`. false = torchao's default: FSDP gathers the
    bf16 weights and each Float8Linear casts its whole weight in every forward."""
    fsdp_reshard_after_backward: bool = True
    """FSDP: free the gathered parameters after every micro-batch's backward (the default). false =
    keep them gathered until the step's last backward (FSDP2 ``set_reshard_after_backward(False)`` on
    all but the last micro-batch, as ``torch.distributed.pipelining`` does for FSDP stages): the
    first forward's all-gather serves every micro-batch of the step (the parameters are then held
    unsharded for the whole step, which SHARD_GRAD_OP's memory already counts)."""
    gradient_as_bucket_view: bool = False
    """PyTorch DDP (``zero_stage: 0``): whether ``param.grad`` are views into DDP's flat gradient buckets.
    false = torch's default: the reducer (``torch/csrc/distributed/c10d/reducer.cpp``,
    ``Reducer::initialize_buckets``) allocates each bucket's flat ``gradients`` tensor in the parameters'
    (= the gradients') dtype and copies every gradient into it for the all-reduce and back, so memory holds
    a second, gradient-sized copy beside ``param.grad`` for the whole run. true =
    ``DistributedDataParallel(gradient_as_bucket_view=True)``: the gradients are views into the buckets, no
    copy. Megatron-LM's own DDP keeps its gradients in contiguous buffers that are the buckets (its
    ``param_and_grad_buffer.py``; the 2021 ``LocalDDP`` with contiguous buffers): set true for it. Also torch's
    ``ZeroRedundancyOptimizer`` (``optimizer_sharding: torch``), which runs over DDP. Refused for DeepSpeed
    ZeRO-1/2/3, Megatron's distributed optimizer and FSDP, which keep their own gradient buffers."""
    ddp_at_one_rank: bool = False
    """PyTorch DDP (``zero_stage: 0``, or ``optimizer_sharding: torch``) wraps the model even with one
    data-parallel rank (a DDP script launched as one process; the runtime does): the reducer builds its buckets
    all the same (``DistributedDataParallel`` has no one-rank shortcut), so memory holds their gradient-sized copy
    (unless ``gradient_as_bucket_view``) and the synchronising backward copies every gradient into them and back
    after the one-rank all-reduce (:func:`dpsim.analytic.step.ddp_bucket_copies`). false (the default): one rank
    runs without DDP. With data parallelism DDP runs anyway."""
    deepspeed_overlap_comm: bool | None = None
    """DeepSpeed ZeRO's ``overlap_comm`` (``optimizer_sharding: zero``, stages 1-3): reduce the gradient
    buckets on a stream of their own while the backward runs, in two alternating reduce (IPG) buffers.
    false: one buffer, and each bucket is reduced on the compute stream (stage 2, stage 3) or, at stage 1,
    after the backward (``reduce_gradients``: no gradient hooks without ``overlap_comm``), so the reduction
    is not overlapped. none = DeepSpeed's default, true at stage 3 and false at stages 1 and 2
    (``DeepSpeedZeroConfig.overlap_comm_valid``)."""
    deepspeed_reduce_bucket_size: Annotated[int, Field(strict=True, ge=1, le=10**13)] | None = None
    """DeepSpeed ZeRO's ``reduce_bucket_size``, in elements: the size of each reduce (IPG) buffer, which
    DeepSpeed allocates whole in the 16-bit dtype (``torch.empty(reduce_bucket_size)``; two with
    ``overlap_comm`` at stages 1/2, one at stage 3). none = DeepSpeed's default, 500,000,000 elements.
    The engines reduce the gradients in buckets of this many elements at the communication width, not in
    ``communication.bucket`` (:func:`dpsim.sharding.collective_pieces`); the runtime refuses it."""
    deepspeed_prefetch_bucket_size: Annotated[int, Field(strict=True, ge=0, le=10**13)] | None = None
    """DeepSpeed ZeRO-3's ``stage3_prefetch_bucket_size``, in elements: how many parameter elements the
    coordinator all-gathers ahead of their use (0: no prefetch). none = DeepSpeed's default, 50,000,000.
    The engines gather the parameters in pieces of this many elements, prefetched; with 0 a layer at a time,
    on demand (:func:`dpsim.sharding.collective_pieces`); the runtime refuses it."""
    deepspeed_max_live_parameters: Annotated[int, Field(strict=True, ge=0, le=10**13)] | None = None
    """DeepSpeed ZeRO-3's ``stage3_max_live_parameters``, in elements: the coordinator prefetches only while
    fewer elements than this are gathered. none = DeepSpeed's default, 1,000,000,000."""
    deepspeed_max_reuse_distance: Annotated[int, Field(strict=True, ge=0, le=10**13)] | None = None
    """DeepSpeed ZeRO-3's ``stage3_max_reuse_distance``, in elements: a parameter whose next use comes
    within this many elements of the trace is not released after use, so the forward's last layers stay
    gathered into the backward, which does not gather them again. none = DeepSpeed's default,
    1,000,000,000."""
    memory_reserve: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """Fraction of device memory kept back for the caching allocator's fragmentation and the CUDA
    context (a documented guess, e.g. 0.05-0.1; 0 = none)."""
    zero_stage: Annotated[int, Field(strict=True, ge=0, le=3)] = 0
    tensor_parallel: PositiveInt = 1
    pipeline_parallel: PositiveInt = 1
    pipeline_schedule: Literal["gpipe", "1f1b", "interleaved"] = "1f1b"
    virtual_stages: PositiveInt = 1
    """Model chunks per pipeline stage for the interleaved schedule."""
    pipeline_p2p: Literal["overlapped", "blocking", "synchronous"] = "overlapped"
    """How stages exchange activations and gradients. ``overlapped`` (Megatron-LM's schedules since its
    p2p overlap): a micro-batch's activation goes out while the stage computes on, only fill, drain and
    1F1B's round trips wait for sends. ``synchronous`` (Megatron-LM 2020-2022, ``p2p_communication.py``
    ``_communicate``: every exchange is one ``batch_isend_irecv`` of the sends and receives with the
    neighbouring stages, waited, then ``torch.cuda.synchronize()``; with TP and without sequence
    parallelism each rank sends 1/t of the tensor and the receiver all-gathers it over the TP group,
    ``gather_split_1d_tensor``): plain 1F1B puts two exchanges in a middle stage's micro-batch (after
    the forward: send activation, receive gradient; after the backward: send gradient, receive
    activation), one at either end; the interleaved schedule one exchange per model chunk in each
    direction (each steady-state iteration sends an activation and a gradient and receives both), all
    on the compute stream. ``blocking`` (DeepSpeed's ``PipelineEngine``, its ``TrainSchedule``): every
    send and receive is its own blocking call between two passes (``p2p.send``/``p2p.recv``, a
    ``dist.broadcast`` over a two-rank group or ``dist.send``), so a middle stage's micro-batch carries
    four transfers on its compute stream (receive activation, send gradient, send activation, receive
    gradient), each stage-boundary activation split over the TP ranks and all-gathered by the receiver
    (``is_pipe_partitioned``). Needs pipeline_schedule: 1f1b."""
    pipeline_grad_partitioned: bool = True
    """Whether each TP rank sends only 1/t of a stage-boundary gradient (Megatron-LM's scatter/gather,
    DeepSpeed >= 0.5.4 ``is_grad_partitioned = self.is_model_parallel``) or the whole gradient
    (DeepSpeed <= 0.5.3 and EleutherAI's DeeperSpeed: ``is_grad_partitioned = False``). ``false`` needs
    pipeline_p2p: blocking."""
    gradient_accumulation_pass: Literal["none", "autograd", "fp32_copy", "fsdp_flat", "fairscale_flat", "fsdp2"] = (
        "none"
    )
    """The memory-bound pass that adds each micro-batch's gradients into the gradients kept across the
    step, on the compute stream after that micro-batch's backward. ``none``: no separate pass (the
    weight-gradient GEMMs accumulate in place, Megatron-LM's ``gradient_accumulation_fusion``; what the
    engines priced before this field). ``autograd``: PyTorch's ``AccumulateGrad`` into ``param.grad``, an
    in-place ``grad += new`` on every micro-batch after the first, reading both and writing one (3 x the
    gradient width a parameter): DeepSpeed's fp16 engines without ZeRO-2/3, whose ZeRO-1 keeps no
    contiguous buffer (stage 1 forces ``contiguous_gradients`` off, 0.4.4-0.12) and the legacy stage 1
    (DeeperSpeed); also Megatron-LM's 2021 fp16 code without ``--use-contiguous-buffers-in-ddp`` (off by
    default until August 2021: no grad-accumulation hook, ``main_grad`` is the fp16 ``param.grad``).
    ``fp32_copy``: DeepSpeed's ``BF16_Optimizer`` (>= 0.6.2; BigScience's bf16 runs), whose
    ``update_hp_grads`` after every micro-batch's backward casts each bf16 gradient to fp32 (read 2, write 4
    bytes) and adds it into the fp32 gradient buffer (read 4 + 4, write 4): 18 bytes a parameter on every
    micro-batch. ``fsdp_flat``: PyTorch FSDP1's ``FlatParameter`` gradient path (``FullyShardedDataParallel``,
    torch 2.x ``_runtime_utils``), which every micro-batch's backward takes through each unit's whole unsharded
    flat gradient before the reduce-scatter: autograd's ``SplitBackward`` concatenates the views' gradients into
    the flat gradient (``torch.cat``), then on FSDP's post-backward stream ``flat_param.grad.to(reduce_dtype)``
    where ``MixedPrecision.reduce_dtype`` differs from the parameters' (Composer's ``mixed_precision: DEFAULT``:
    bf16 gradients reduced in fp32) and ``_div_if_needed(grad, gradient_predivide_factor)``; after the
    reduce-scatter, on the 1/N shard, the post-division, the cast to the fp32 sharded parameter's dtype and the
    add into ``_saved_grad_shard`` (:func:`dpsim.compute.fsdp_flat_gradient_bytes_per_param`). The post-backward
    stream's kernels are priced on the compute stream like the rest: they run beside the next unit's backward
    and take its SMs and memory bandwidth. FSDP2 (``fully_shard``, which the runtime runs) has no flat
    parameter. ``fairscale_flat``: the same path in fairscale's ``FullyShardedDataParallel`` (torch FSDP1's
    origin; metaseq's OPT runs, fairscale 88200493), which adds two passes: its ``ReduceScatterBucketer`` passes
    a unit whose per-rank chunk exceeds the bucket's shard (``bucket_cap_mb`` MiB over N ranks) to
    ``_reduce_scatter_base`` through ``torch.cat`` of ``chunk_and_pad``'s N chunks, a copy of the whole unsharded
    gradient, and reduces into a ``torch.zeros_like`` shard (priced as that direct path: smaller units are
    stacked and copied into the bucket instead). ``fsdp2``: FSDP2's (``fully_shard``, torch >= 2.4) per-parameter
    path, whose copies run on the compute stream: each all-gather's copy-out into the unsharded parameters
    (``foreach_all_gather_copy_out`` in ``FSDPParamGroup.wait_for_unshard``), each reduce-scatter's copy-in of the
    unsharded gradients into the reduce dtype's input (``foreach_reduce_scatter_copy_in``), and under
    ``fsdp_no_sync`` the accumulation in the reduce dtype (``FSDPParam.to_accumulated_grad_if_needed`` /
    ``accumulate_unsharded_grad_if_needed``) (:func:`dpsim.compute.fsdp2_bytes_per_param`); torchtitan's rows run
    it. Needs precision: bf16, optimizer_sharding: zero and zero_stage: 1 for fp32_copy (where DeepSpeed runs its
    BF16_Optimizer); optimizer_sharding: fsdp without fsdp_no_sync for fsdp_flat and fairscale_flat;
    optimizer_sharding: fsdp for fsdp2."""
    zero1_gradient_allreduce: bool = False
    """ZeRO-1 (``optimizer_sharding: zero``) reduces the gradients with a full all-reduce and keeps its
    own shard, instead of reduce-scattering them: twice the reduction traffic, then the usual post-step
    all-gather. What DeepSpeed's code does from 0.4.4 (``ignore overlap/contiguous_gradients if using
    zero 1``, #1246) until 0.13 (#4887): stage 1 forces ``contiguous_gradients`` off, so
    ``reduce_ipg_grads`` takes ``buffered_reduce_fallback(None, ...)`` and ``allreduce_bucket``
    all-reduces each bucket (``rank = None``); and its pipeline engine under bf16 (``_bf16_reduce_grads``,
    >= 0.6.2, BigScience's ``BF16_Optimizer`` with ``zero_optimization.stage: 0``), which all-reduces the
    optimizer's flat fp32 gradients in the communication dtype. Default false: a reduce-scatter (DeepSpeed
    <= 0.4.3 with ``contiguous_gradients``, legacy stage 1 with ``reduce_scatter``, >= 0.13, Megatron,
    FSDP). Needs zero_stage: 1 and optimizer_sharding: zero."""
    zero3_gradient_allreduce: bool = False
    """ZeRO-3 (``optimizer_sharding: zero``) reduces each gradient bucket with a full all-reduce and keeps its
    own shard, instead of reduce-scattering it: twice the reduction traffic, every micro-batch as before. What
    DeepSpeed's stage 3 does before 0.4.3 without ``contiguous_gradients`` (its stage-3 default was false until
    0.4.3, #1199): ``reduce_ipg_grads`` takes ``buffered_reduce_fallback(None, ...)``, whose
    ``allreduce_bucket`` flattens and all-reduces each ``reduce_bucket_size`` bucket (``rank = None``), and
    ``partition_previous_reduced_grads`` then keeps the rank's slice (0.3.13 ``stage3.py``). From 0.4.3 stage 3
    reduce-scatters whatever ``contiguous_gradients`` says. In those releases each bucket's all-reduce, issued on
    the reduction stream from a gradient hook, is waited for by the next module's fetch: ``fetch_sub_module`` ends
    in ``_synchronize_communication``, whose ``torch.cuda.synchronize()`` waits for every stream before the
    module runs (0.3.13-0.4.5). So the reductions run in series with the backward, as without ``overlap_comm``
    (:attr:`Scenario.overlaps_gradient_reduction`); the gathers still run one module ahead, as prefetched. Needs
    zero_stage: 3 and optimizer_sharding: zero."""
    sequence_parallel: bool = False
    tp_comm_overlap: bool = False
    """Overlap tensor-parallel all-gathers and reduce-scatters with the GEMMs, chunk by chunk
    (Megatron-LM ``--tp-comm-overlap``, NeMo ``tp_comm_overlap``: Transformer Engine userbuffers;
    needs ``sequence_parallel``). Only what the GEMMs cannot cover stays exposed."""
    tp_overlap_kind: Literal["userbuffers", "torch_async_tp"] = "userbuffers"
    """Which implementation overlaps the TP collectives (with ``tp_comm_overlap``). ``userbuffers``: Transformer
    Engine's, every all-gather and reduce-scatter beside its GEMM, forward and backward. ``torch_async_tp``:
    torch's micro-pipelined TP (Inductor's ``micro_pipeline_tp`` pass rewriting all-gather → matmul and matmul →
    reduce-scatter into symmetric-memory fused ops; torchtitan's ``enable_async_tensor_parallel``), which fuses a
    reduce-scatter only whose input is one matmul's output, so the backward's input-gradient reduce-scatters (the
    sum of the q/k/v and of the gate/up data gradients) stay plain collectives, and whose fused ops run local
    steps on the compute stream: the copy of the local shard into the symmetric buffer before an all-gather's
    first chunk, and the sum of the t stacked partials after a reduce-scatter, and whose GEMMs run as t GEMMs of
    1/t of the rows each; under DTensor's [b, s, h] layout the fused all-gathers return the gathered operand in
    (s, b) row order, which the weight gradients copy when b > 1 in bf16
    (:func:`dpsim.analytic.parallel.tensor_parallel_local_time`)."""
    sequence_parallel_kind: Literal["megatron", "dtensor"] = "megatron"
    """Which implementation runs sequence parallelism (with ``sequence_parallel``), as far as it changes what a
    column-parallel linear keeps for its weight gradient. ``megatron``: the 1/t input shard, all-gathered again in
    the backward (Megatron-LM's ``LinearWithGradAccumulationAndAsyncCommunication`` saves the pre-gather input;
    Transformer Engine's ``Linear`` likewise), Korthikanti et al. 2022's count. ``dtensor``: torch's DTensor tensor
    parallelism as torchtitan's plan runs it (``PrepareModuleInput`` / ``ColwiseParallel`` with
    ``input_layouts=Shard(1)`` redistribute the block's input to ``Replicate()`` before ``F.linear``, whose autograd
    saves that replicated tensor; torchao's ``PrepareFloat8ModuleInput`` gathers it in float8): the attention's and
    the MLP's input s·b·h each whole instead of 1/t (one tensor serves q/k/v, one w1/w3), and the output layer's
    input; and the ``torch.cat`` copy that torch's functional collectives make after an all-gather and before a
    reduce-scatter along the sequence dimension (``_functional_collectives.py``: gather_dim / scatter_dim 1), one
    full-length s·b·h tensor beside the gathered one at the peak, unless torch's AsyncTP fuses the collectives
    (:func:`dpsim.analytic.memory.sequence_parallel_staging_copy`). The collectives are priced as before; each
    copy's time (one full-length tensor read and written on the compute stream, 4 a forward, 4 a backward, 4 more
    under full recomputation, only the unfused backward scatters under torch's AsyncTP) is a local step of the TP
    time (:func:`dpsim.analytic.parallel.tensor_parallel_staging_copies`). Needs sequence_parallel: true."""
    tp_async_grad_allreduce: bool = False
    """Megatron-LM's asynchronous tensor-parallel all-reduce (``async_tensor_model_parallel_allreduce``; on by
    default in the May 2022 code of Korthikanti et al., d898a89, where ``--no-async-tensor-model-parallel-allreduce``
    turns it off): the backward of each column-parallel linear (QKV, MLP-up) starts the all-reduce of its input
    gradient right after its data-gradient GEMM and waits for it only after the weight-gradient GEMM
    (``LinearWithGradAccumulationAndAsyncCommunication.backward``, ``megatron/mpu/layers.py``), so each hides
    behind that GEMM: ``min(all-reduce, wgrad GEMM)`` a collective
    (:func:`dpsim.analytic.parallel.tensor_parallel_hidden_time`). Megatron turns it off under sequence
    parallelism (``arguments.py``), so it needs ``sequence_parallel: false``. Default false: the SC21 artifact
    de7dc40 (Aug 2021) all-reduces on the critical path."""
    embedding_pipeline_slots: bool = False
    """The embedding and the output layer (with the loss) each take one layer slot of the pipeline
    split, so the first model chunk holds only the embedding and the last only the output layer
    (Megatron-LM's --account-for-embedding-in-pipeline-split / --account-for-loss-in-pipeline-split;
    Llama 3, Dubey et al. 2024 §3.3.2). Layers + 2 must divide into pipeline_parallel x virtual_stages."""
    pipeline_runtime: Literal["megatron", "torch"] = "megatron"
    """Which code runs the pipeline stages, as far as it changes what a stage keeps beside its layers' activations.
    ``megatron``: Megatron-LM's schedules receive each activation and gradient into a new tensor that lives only as
    long as the layer reading it (a received activation is the stage's first saved layer input, counted with the
    layers) and free each output's storage once it is sent (``deallocate_output_tensor``,
    ``megatron/core/pipeline_parallel/schedules.py``): nothing more. ``torch``: ``torch.distributed.pipelining``'s
    ``PipelineStage`` (torchtitan), which allocates a receive buffer for every micro-batch's activation and every
    micro-batch's output gradient once and keeps them, and keeps each micro-batch's output until its backward
    (:func:`dpsim.analytic.memory.pipeline_stage_buffers`); over FSDP under ``fsdp_no_sync`` it also reduce-scatters
    each stage's gradients only after that stage's last backward (``backward_maybe_with_nosync`` calls FSDP's
    ``post_backward`` itself: :func:`dpsim.buckets.stage_end_reduction`, both engines); its interleaved schedule runs
    its table in lock step, one chunk forward longer than the engines' schedule
    (:func:`dpsim.analytic.step.torch_lockstep_s`). Read with pipeline_parallel > 1."""
    pipeline_releases_input_grads: bool = False
    """Under ``pipeline_runtime: torch``, whether the torch release that runs the stages drops each stage input's
    gradient once ``stage_backward`` has read it for the send (``val.grad = None`` in
    ``torch/distributed/pipelining/_backward.py``: pytorch#164329, opened 1 Oct 2025; torch 2.13's copy has it, read
    here). Off (the releases before it; every torchtitan pipeline row here runs torch 1963fc8 of Dec 2024): the
    gradient stays on the receive buffer the input was read from (a leaf's ``.grad``) until ``clear_runtime_states``
    at the next step, one stage-boundary tensor for every backward a rank has finished on a chunk other than the
    model's first (:func:`dpsim.analytic.memory.pipeline_input_gradients`). On: each is freed once its send
    completes, so none is kept at the activation peak. A main-branch memory optimisation opened two weeks before
    torch 2.9.0 (15 Oct 2025), whose release branch takes regression and critical fixes only (the release trackers'
    cherry-pick criteria, pytorch#166758), so taken as first shipped in 2.10 (no 2.9 or 2.10 wheel read here). Read
    with pipeline_parallel > 1 and a transformer."""
    gradient_clipping: bool = False
    """Clip gradients by their global norm before the update (Megatron-LM's default ``--clip-grad 1.0``):
    the optimizer step also reads the gradient buffer for the norm and rescales it."""
    optimizer_kernels: Literal["fused", "foreach"] = "fused"
    """How the optimizer update runs over the parameters. ``fused``: one kernel reads parameter, gradient and
    state and writes them back (apex's and DeepSpeed's FusedAdam, Megatron-LM's, ``torch.optim`` with
    ``fused=True``: 28 bytes a parameter for Adam). ``foreach``: ``torch.optim``'s default on CUDA (``foreach=None``
    picks the multi-tensor path; ``fused`` is opt-in), each op of the update its own multi-tensor kernel over the
    fp32 parameters (``_multi_tensor_adamw``): AdamW's weight decay (8 bytes a parameter), ``lerp_`` of the first
    moment (12), ``mul_`` and ``addcmul_`` of the second (8 + 16), ``sqrt``, the bias-correction ``div_`` and the
    ``eps`` ``add_`` (3 x 8), ``addcdiv_`` into the parameter (16): 84 bytes; Adam without weight decay 76, SGD 12,
    SGD with momentum 32 (:data:`dpsim.analytic.step.FOREACH_OPTIMIZER_BYTES_PER_PARAM`). Not with
    ``optimizer_copies: separate``."""
    optimizer_copies: Literal["fused", "separate"] = "fused"
    """How a mixed-precision update moves between the 16-bit model tensors and the fp32 master copy.
    ``fused``: one kernel reads the 16-bit gradient and writes the 16-bit weight with the update (what the
    engines priced before this field). ``separate``: Megatron-LM's ``Float16OptimizerWithFloat16Params``
    (``megatron/optimizer/optimizer.py``, ``step``): the gradients copied into fp32
    (``_copy_model_grads_to_main_grads``, ``main_grad.float()``: read 2, write 4; nothing when the buffer is
    fp32 already), under fp16 unscaled and checked for inf/nan (``_amp_foreach_non_finite_check_and_unscale_``,
    read 4, write 4), clipped as fp32 (``clip_grad_norm_fp32``), the base optimizer's update on fp32 tensors
    alone, then the fp32 master copied into the 16-bit weights (``_copy_main_params_to_model_params``: read 4,
    write 2). No effect under fp32 training."""
    optimizer_state_dtype: Literal["fp32", "bf16"] = "fp32"
    """Width of the sharded optimizer state. ``fp32``: fp32 master weights and moments (what the engines priced
    before this field). ``bf16``: NeMo's ``optim.dtype: bf16`` on apex's ``DistributedFusedAdam`` (NeMo's
    ``MegatronDistributedFusedAdam``), as NeMo-Framework-Launcher's ``nemotron_340b.yaml`` sets it: the moments in
    bf16 and, the optimizer dtype being the model's, no master copy (NeMo ``megatron_base_model.setup_optimization``:
    ``store_params`` False when ``optim_dtype == model_dtype``); apex's ``_local_step`` updates the bf16 parameter
    from the bf16 gradient shard into the bf16 all-gather buffer (read parameter, m, v, gradient; write m, v and the
    parameter: 14 bytes for Adam with bf16 gradients), and no fp32 gradient shard is made. Memory: Adam's states
    4 bytes a parameter over N_d, instead of 16. Needs an Adam optimizer (``adam`` or ``adamw``: apex's
    ``DistributedFusedAdam`` implements Adam; with ``sgd`` or ``momentum`` the state and master copy were priced
    away for an optimizer it does not run), optimizer_sharding megatron, precision bf16 or fp8, fused optimizer
    kernels and copies."""
    activation_recomputation: Literal["none", "selective", "full", "op"] = "none"
    """``selective``: Megatron-LM's, the attention core recomputed (Korthikanti et al. 2022; nothing to redo under
    flash attention). ``full``: every layer's forward rerun from its input. ``op``: torchtitan's op-level selective
    checkpointing (``selective_ac_option: "op"``, ``_apply_ac_to_transformer_block``): a layer saves the outputs of
    the ops in its ``_save_list`` (``aten.mm``, the SDPA flash/efficient kernels, reduce-scatters) except every
    second ``mm`` and recomputes everything else in the backward. In its Llama block the mms run wq, wk, wv, wo,
    w1, w3, w2, so wk, wo and w3 are recomputed with every element-wise op (norms, RoPE, SwiGLU, residual adds);
    saved: the layer input, q, v, the attention output and its log-sum-exp, w1's and w2's outputs. Needs a gated
    MLP. With tensor_parallel > 1 (torchtitan's DTensor plan: sequence_parallel with sequence_parallel_kind dtensor)
    wo's output only feeds its reduce-scatter, whose output is saved, so the backward reruns wk and w3 (not wo) and
    the two all-gathers of the attention's and the MLP's input (collectives are not in the list, so they are
    recomputed: torch's partitioner recomputes a collective tagged ``PREFER_RECOMPUTE``, ``force_save_collectives``);
    what is kept is the TP 1 set, each 1/t, wo's reduce-scattered output in w2's place
    (:func:`dpsim.analytic.parallel.op_sac_reforward_gathers`)."""
    recompute_early_stop: bool = False
    """With ``activation_recomputation: full``, the backward's rerun of a layer stops once it has recomputed the last
    tensor the layer's backward needs, as PyTorch's non-reentrant checkpoint does from torch 2.1 on
    (``torch/utils/checkpoint.py``: ``_enable_checkpoint_early_stop = True`` since pytorch#96866; the recomputation's
    pack hook raises ``_StopRecomputationError`` when its count of saved tensors reaches the original forward's).
    An operator saves its inputs before it computes (autograd's generated ``VariableType`` builds the
    ``SavedVariable`` of ``mm``/``addmm``'s inputs, then redispatches), so the layer's last GEMM, the MLP's
    down-projection, is not rerun, nor the residual add after it (it saves nothing). Where dropout follows the
    GEMM (it saves its mask after computing) or the GEMM is an FP8 autograd function (Transformer Engine's and
    torchao's save after computing) only the residual add is skipped. Off: the whole forward rerun, as Megatron-LM's
    and DeepSpeed's own checkpoint functions, torch's reentrant checkpoint and torch before 2.1 do. Needs full
    recomputation of every layer's sequential block with tensor_parallel 1 (the re-forward's TP collectives are
    not modelled with it)."""
    recompute_layer_interval: PositiveInt = 1
    """With ``activation_recomputation: full``, checkpoint one transformer layer in this many: floor(L/k) of the
    L layers keep only their input and rerun their forward in the backward, the rest keep every activation.
    What fms-fsdp's ``selective_checkpointing: k`` (``apply_fsdp_checkpointing``: every k-th ``LLaMABlock``,
    ``count % k == 0``) and torchtitan's layer-wise selective AC (``selective_ac_option: "k"``, ``ac_freq``) do.
    1 = every layer. Needs tensor_parallel 1 and pipeline_parallel 1 (not modelled with TP or PP)."""
    distribute_checkpointed_activations: bool = False
    """Split each layer's checkpointed input over the tensor-parallel ranks (Megatron-LM
    ``--distribute-saved-activations``, earlier ``--distribute-checkpointed-activations``; metaseq's
    flag of that name; DeepSpeed activation checkpointing's ``partition_activations``): every rank
    stores 1/t of the 2·s·b·h-byte checkpoint and the backward pass all-gathers it over the TP group
    before recomputing the layer. Needs full recomputation, tensor
    parallelism and no sequence parallelism (Megatron-LM and metaseq refuse the other cases)."""
    partition: Literal["round_robin", "contiguous", "weighted"] = "round_robin"
    """How each batch is split across data-parallel ranks (weighted: by worker speed)."""
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3
    """The optimizer's base learning rate, as the runtime trains (:func:`runtime.optim.build_optimizer`, scaled to
    the effective batch by :mod:`dpsim.lr`). No engine reads it (a step's time does not depend on it): set, it is
    listed in the record's ``extra.ignored_fields``."""


class CommunicationConfig(_Section):
    """Gradient synchronisation: the all-reduce algorithm, bucket size and overlap."""

    algorithm: Algorithm = "auto"
    """All-reduce algorithm. ``auto``: what NCCL's tuner picks per message size (ring, tree, NVLS);
    on CPU devices (gloo) and with a calibration profile it is the ring. ``backend``: the communicator's own choice
    (NCCL's pick on a catalog GPU, gloo's ring on CPUs and custom devices: :attr:`Scenario.collective_algorithm`)."""
    protocol: Literal["auto", "Simple", "LL", "LL128", "none"] = "auto"
    """NCCL protocol: ``auto`` picks per size on GPUs; ``none`` = the links' α–β (always on CPUs, where a named
    NCCL protocol is refused: gloo runs none)."""
    nccl_algo: list[NcclAlgo] | None = None
    """The all-reduce algorithms NCCL may pick (``NCCL_ALGO``, e.g. ``ring,tree``); None: every one NCCL
    runs on the cluster. ``algorithm: auto`` picks among these only; a named ``algorithm`` is run as named.
    A cloud's network stack may set it: GCP's GPUDirect-TCPXO profile for A3 Mega (``nccl-env-profile.sh``,
    plugin installer v1.0.0 - v1.0.11) exports ``NCCL_ALGO=Ring,Tree`` and ``NCCL_NVLS_ENABLE=0``.
    Refused on CPU devices (gloo runs its ring), beside a named ``algorithm`` (one ``NCCL_ALGO``: never read) and
    with ``protocol: none`` (no NCCL tuner)."""
    nccl_proto: list[NcclProto] | None = None
    """The protocols NCCL may pick (``NCCL_PROTO``, e.g. ``Simple``); None: LL, LL128 and Simple.
    ``protocol: auto`` picks among these only. GCP's TCPXO profile: ``Simple`` up to installer v1.0.8,
    ``Simple,LL128`` from v1.0.9 (GoogleCloudPlatform/container-engine-accelerators, gpudirect-tcpxo/README.md).
    Refused on CPU devices (gloo has no NCCL protocol), beside a named ``protocol`` (one ``NCCL_PROTO``: never read)
    and with ``protocol: none``."""
    nccl_buffsize: Size | None = None
    """NCCL's Simple-protocol buffer per connection (``NCCL_BUFFSIZE``); None: NCCL's 4 MiB. A tree forwards
    it in ``NCCL_STEPS`` = 8 steps, one whole step per hop (``src/enqueue.cc`` ``calcCollChunking``), so it
    sets how long a mid-size tree all-reduce takes to fill its pipeline. GCP's TCPXO profile and
    aws-ofi-nccl's p5 platform set 8 MiB (``NCCL_BUFFSIZE=8388608``). Refused on CPU devices (gloo) and with
    ``protocol: none``. Kept where no collective runs Simple (``protocol: LL``/``LL128``, ``nccl_proto`` without
    Simple): NCCL sizes only the Simple buffer from it (``src/init.cc`` ``computeBuffSizes``; LL and LL128 have
    ``NCCL_LL_BUFFSIZE`` / ``NCCL_LL128_BUFFSIZE``), but its send/receive (pipeline stages, all-to-all) run Simple
    whatever ``NCCL_PROTO`` says and move ``NCCL_BUFFSIZE / 8`` a step (``src/enqueue.cc`` ``addP2pToPlan``);
    dpsim prices those without it. From 4 KiB (:data:`MIN_NCCL_BUFFSIZE`: NCCL aligns a step down to its 512 B Simple
    grain, and a smaller buffer's is 0, which it divides by) and below 2 GiB (``int buffSizes[]``)."""
    nccl_nvls_chunksize: Size | None = None
    """``NCCL_NVLS_CHUNKSIZE``: the chunk an NVLS-tree all-reduce starts from (``comm->nvlsChunkSize``, ``src/transport/
    nvls.cc``; ``calcCollChunking`` in ``src/enqueue.cc`` then cuts it by size: :func:`dpsim.sim.collectives.nccl.
    nvls_tree_params`); None: NCCL's 128 KiB. Read from v2.21.5; refused with an earlier ``nccl_version`` (those start
    from one Simple step, ``NCCL_BUFFSIZE / 8``). aws-ofi-nccl's p5 / p5e, p5en and p6 environment sets 512 KiB
    (``src/platform-aws.cpp``, v1.9.0 on). It also caps one-node NVLS's chunk (at most one Simple step;
    :func:`dpsim.sim.collectives.nccl.nvls_chunking`). Below 2 GiB (NCCL reads an ``int``), and from v2.22.3 at
    least 512 B (the chunk is aligned down to the Simple grain, ``ncclProtoGrainSize``: a smaller one is 0); refused
    where no NVLS runs (a node without an NVSwitch that reduces), on CPU devices, with ``protocol: none`` and beside a
    textbook algorithm."""
    nccl_nvlstree_max_chunksize: Size | None = None
    """``NCCL_NVLSTREE_MAX_CHUNKSIZE``: the largest chunk of an NVLS-tree all-reduce (``src/enqueue.cc`` v2.20.3-
    v2.29.7, ``src/transport/nvls.cc`` from v2.30.3); None: NCCL's rule, 64 KiB on 4 nodes or more (v2.19.3 on), else
    the chunk (:func:`dpsim.sim.collectives.nccl.nvls_tree_params`). It caps ``nccl_nvls_chunksize``, never raises
    it. Read from v2.20.3; refused with an earlier ``nccl_version``. aws-ofi-nccl sets 512 KiB (v1.8.0 on, its PR #332)
    ("NCCL v2.19.3 reduced the chunk size used when running NVLS Tree algorithm on greater than 4 nodes to 64KiB.
    This drastically impacted performance on AWS"). Below 2 GiB and, from v2.22.3, at least 512 B; refused where
    ``nccl_nvls_chunksize`` is."""
    nccl_nic_fusion: bool = True
    """Whether NCCL fuses the ports of one NIC card (``cluster.inter_node.ports_per_nic``) into one network
    device: true as NCCL does by default since v2.20 (``NCCL_IB_MERGE_NICS=1``, ``NCCL_NET_MERGE_LEVEL=PORT``);
    false for NCCL before v2.20 or a run with ``NCCL_IB_MERGE_NICS=0`` / ``NCCL_NET_MERGE_LEVEL=LOC``. Listed in
    ``extra.ignored_fields`` at one port a NIC (nothing to fuse)."""
    nccl_pxn_disable: bool = False
    """``NCCL_PXN_DISABLE=1``: NCCL sets no PXN path (``src/graph/paths.cc`` ``ncclTopoComputePaths``; the p2p
    NIC choice of ``search.cc`` ``ncclTopoGetNetDev`` falls back to the sender's own NIC), so every GPU sends
    to other nodes through its own NIC: no relay of collectives where one GPU sits on each NIC's PCIe switch
    (``cluster.inter_node.pcie_gpus_per_nic: 1``), and all-to-all / send-receive leave on the sender's rail
    instead of the peer's (:mod:`dpsim.sim.collectives.p2p`). False: NCCL's default (PXN on, since v2.12). True is
    refused where no relay exists (:attr:`ClusterConfig.pxn_possible`: PCIe inside the node, or no GPU-to-NIC link)."""
    nccl_p2p_level: Literal["LOC", "NVL", "PIX", "PXB", "PHB", "SYS"] | None = None
    """``NCCL_P2P_LEVEL``: the widest PCIe path type over which GPUs of a node use peer-to-peer (P2P) instead of
    host memory (SHM) on a node with ``cluster.host_topology`` (``src/graph/paths.cc`` ``ncclTopoCheckP2p``);
    None: NCCL's default, ``PXB`` (``SYS`` on AMD CPUs with at most 2 GPUs). A ring edge through host memory
    costs its channel one more step (:mod:`dpsim.sim.pcie_ring`)."""
    nccl_version: str | None = None
    """The NCCL release the job runs (``X.Y.Z``, e.g. ``2.27.3``), whose tuner constants — per-channel bandwidth
    caps, ``llMaxBws``, base and per-step latencies, copied from ``src/graph/tuning.cc`` at that tag — set what
    ``auto`` picks and what the chosen schedule costs (:mod:`dpsim.sim.collectives.nccl_tuner`: v2.25.1 to
    v2.30.7; the rest of the NCCL model is v2.30.7's). None: v2.30.7. Refused on CPU devices (gloo)."""
    nccl_tuner: Literal["nccl", "aws-ofi-nccl-1.16.3"] = "nccl"
    """Which tuner picks ``auto``'s algorithm and protocol: ``nccl``, NCCL's own (``topoGetAlgoInfo``); or
    ``aws-ofi-nccl-1.16.3``, the tuner plugin of aws-ofi-nccl v1.16.3 (``NCCL_TUNER_PLUGIN``), whose region tuner on
    p5 / p5e and p5en replaces NCCL's pick (:mod:`dpsim.sim.collectives.tuner_plugin`: ``src/tuner/
    nccl_ofi_regions.cpp``, ``region_init_internal_p5_p5e``, ``region_init_internal_p5en``). It lays polygons over
    (message bytes, communicator ranks) — on the p5 / p5e for all-reduce on communicators of 8, 2 or 1 rank(s) a node
    and for all-gather and reduce-scatter on 1 rank a node; on the p5en for all three on 8 ranks a node and for
    all-reduce on 1 — runs the first region a point lies in or on among the pairs NCCL runs there
    (``NCCL_ALGO``/``NCCL_PROTO``, NVLS), and leaves NCCL's own pick on two nodes or fewer, outside its regions and
    for every other collective. Refused where it picks nothing: on a cluster that is neither a p5 / p5e (8 H100 or
    H200 a node, ``cluster.device`` h100-sxm or h200, over EFA v2, ``cluster.inter_node`` preset efa-v2) nor a p5en
    (8 H200 over EFA v3, preset efa-v3), on two nodes or fewer, on CPU devices (gloo), with ``protocol: none``,
    beside a textbook algorithm, or with ``algorithm`` and ``protocol`` both named."""
    bucket: Size = _default("25 MiB")
    """Gradient bucket size (PyTorch DDP's default bucket_cap_mb=25 is 25 MiB); also Megatron's distributed
    optimizer's. FSDP reduces and gathers a wrapped unit at a time instead, DeepSpeed by its own element counts
    (:func:`dpsim.sharding.collective_pieces`)."""
    overlap: bool = True
    """Start each bucket's all-reduce as soon as its gradients are ready during backward."""
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """Dtype gradients are reduced in. ``auto`` = each framework's default: Megatron's distributed
    optimizer (``optimizer_sharding: megatron``) reduces in fp32 under bf16 and fp8 training
    (Megatron-LM forces ``accumulate_allreduce_grads_in_fp32`` for bf16) and in fp16 under fp16;
    DeepSpeed ZeRO in the gradients' 16-bit dtype (``communication_data_type`` unset); FSDP in the
    16-bit parameter dtype (``MixedPrecision.reduce_dtype`` defaults to ``param_dtype``); DDP in the
    training dtype; DDP under torch's ``ZeroRedundancyOptimizer`` (``optimizer_sharding: torch``) in fp32,
    the dtype of the gradients of autocast's fp32 parameters. fp8 training's gradients are bf16; fp32 training
    reduces fp32.
    (``gradient_dtype`` is read as an old name of this field.)"""

    @field_validator("nccl_algo", "nccl_proto", mode="before")
    @classmethod
    def _nccl_list(cls, value: Any, info: ValidationInfo) -> Any:
        """NCCL's own spelling: a comma list, any case (``strcasecmp``), ``NVLSTree`` for ``nvls-tree``."""
        names = NCCL_ALGO_NAMES if info.field_name == "nccl_algo" else NCCL_PROTO_NAMES
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            out = []
            for v in value:
                if not isinstance(v, str):  # a nested list or map: not a name (and not hashable)
                    raise ValueError(f"expected {info.field_name} names, got {inputs.brief(v)}")
                key = v.strip().lower()
                if key not in names:
                    known = ", ".join(dict.fromkeys(names.values()))
                    raise ValueError(f"unknown {info.field_name} entry {inputs.brief(v)}; expected some of {known}")
                out.append(names[key])
            if not out:
                raise ValueError(f"{info.field_name} needs at least one entry (omit it for NCCL's default)")
            value = list(dict.fromkeys(out))
        return value

    @field_validator("nccl_buffsize", "nccl_nvls_chunksize", "nccl_nvlstree_max_chunksize")
    @classmethod
    def _nvls_chunk(cls, value: float | None, info: ValidationInfo) -> float | None:
        """NCCL reads all three as an ``int`` (``int buffSizes[NCCL_NUM_PROTOCOLS]`` in ``src/include/comm.h``,
        ``(int)ncclParamNvlsTreeMaxChunkSize()``, ``int nvlsChunkSize``)."""
        if value is not None and value >= 2**31:
            raise ValueError(f"expected a size below 2 GiB (NCCL reads {info.field_name} as an int), got {value:g} B")
        return value

    @model_validator(mode="before")
    @classmethod
    def _old_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "gradient_dtype" in data:
            data = dict(data)
            old = data.pop("gradient_dtype")
            if "dtype" in data and data["dtype"] != old:
                raise ValueError(f"gradient_dtype ({old}) and dtype ({data['dtype']}) disagree; give dtype only")
            data["dtype"] = old
        return data


MIN_SLOWDOWN, MAX_SLOWDOWN = 1e-6, 1e6
"""A straggler's compute-time multiplier: from one in a million (a worker a million times faster; as a
:data:`Fraction` of a rate) to a million. Round 20: the lower end was the smallest normal float, so ``slowdown:
1e-300`` priced a worker's micro-batch at 1e-302 s, far below the shortest duration any field takes (1e-15 s)."""


class Straggler(_Section):
    worker: NonNegativeInt
    slowdown: Annotated[float, Field(ge=MIN_SLOWDOWN, le=MAX_SLOWDOWN)]
    """Compute time multiplier (1.5 = 50 % slower)."""


class DegradedLink(_Section):
    node: NonNegativeInt
    factor: Fraction
    """Fraction of nominal NIC bandwidth left (0.5 = half speed)."""


class VariabilityConfig(_Section):
    """Randomness and heterogeneity, consumed by the simulator."""

    seed: NonNegativeInt = 0
    compute_jitter_cv: Annotated[float, Field(ge=0, le=10)] = 0.0
    jitter_distribution: JitterDistribution = "lognormal"
    rank_speed_sigma: Annotated[float, Field(ge=0, le=MAX_RANK_SPEED_SIGMA)] = 0.0
    """Persistent per-GPU speed spread (a fraction of the mean compute time): each rank's compute is multiplied by
    ``1 + sigma·z``, z one standard normal a rank, and the synchronous step waits for the slowest of the job's ranks
    (:mod:`dpsim.rank_speed`): drawn once per rank and replication by the simulator, priced at its exact expectation
    by the analytic engine. 0 (the default): every GPU at the catalog's pace."""
    stragglers: list[Straggler] = Field(default_factory=list)
    degraded_links: list[DegradedLink] = Field(default_factory=list)
    replications: PositiveInt = 1


class ReliabilityConfig(_Section):
    """Failures and checkpointing, for expected time to train (Young/Daly)."""

    node_mtbf: PositiveDuration | None = None
    """Mean time between failures of one node; None = no failures."""
    checkpoint_write: Duration = _default("0 s")
    restart: Duration = _default("0 s")


class SimulationConfig(_Section):
    fidelity: Literal["auto", "chunk", "fast"] = "auto"
    steps: PositiveInt = 1


class CalibrationRef(_Section):
    profile: str
    """Path of a hardware profile written by ``dpsim calibrate`` (relative to the scenario file)."""

    @field_validator("profile", mode="before")
    @classmethod
    def _no_profile(cls, value: Any) -> Any:
        if not isinstance(value, str):  # `--set calibration.profile=null` means "no profile": take the section away
            hint = " (for no profile, leave calibration out or set calibration=null)" if value is None else ""
            raise ValueError(f"expected the path of a profile file, got {inputs.brief(value)}{hint}")
        return value

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        if not value.strip():  # '' is the scenario's own folder once resolved: "cannot read a directory"
            raise ValueError(f"expected the path of a profile file, got {inputs.brief(value)}")
        return value


class Scenario(_Section):
    """A cluster and a training job: what all engines read."""

    name: str = "scenario"
    model: ModelConfig
    cluster: ClusterConfig
    training: TrainingConfig
    communication: CommunicationConfig = Field(default_factory=CommunicationConfig)
    variability: VariabilityConfig = Field(default_factory=VariabilityConfig)
    reliability: ReliabilityConfig = Field(default_factory=ReliabilityConfig)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    calibration: CalibrationRef | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():  # it labels every result, table and record: leaving it out names it 'scenario'
            raise ValueError(f"expected a non-empty name (or no name field: 'scenario'), got {inputs.brief(value)}")
        return value

    def _nccl_env_read(self) -> None:
        """Refuse an NCCL environment setting that a named algorithm or protocol shadows on GPUs.

        dpsim's named ``algorithm`` / ``protocol`` is what ``NCCL_ALGO`` / ``NCCL_PROTO`` naming one does: NCCL's
        tuner disables every other (algorithm, protocol) pair (``src/graph/tuning.cc`` ``ncclTopoTuneModel``,
        ``algoEnable`` / ``protoEnable``), and NCCL reads one ``NCCL_ALGO`` and one ``NCCL_PROTO``. So
        ``nccl_algo`` beside a named ``algorithm`` (``nccl_proto`` beside a named ``protocol``) is a second value of
        the same variable, never read (:func:`dpsim.sim.collectives.candidates` narrows only ``auto``); and
        ``protocol: none`` prices the links' α–β without NCCL, so none of the three is read. Kept:
        ``nccl_buffsize`` without Simple collectives (NCCL's send/receive run Simple whatever ``NCCL_PROTO`` says,
        one ``NCCL_BUFFSIZE / 8`` step at a time: ``src/enqueue.cc`` ``addP2pToPlan``)."""
        c = self.communication
        if self.cluster.gloo:  # refused by the CPU check, which names gloo
            return
        if c.protocol == "none":
            for name in NCCL_ENV_FIELDS:
                if getattr(c, name) is not None:
                    raise _FieldError(
                        f"communication.{name}",
                        "is an NCCL setting: communication.protocol: none prices the links' alpha-beta without "
                        "NCCL's algorithms, protocols, buffers or tuner, which it does not change; set protocol: "
                        "auto or leave it out",
                    )
        self._textbook_without_nccl()
        self._tuner_plugin_picks()
        algorithm = self.collective_algorithm  # backend on GPUs: NCCL's own pick, which reads them as auto does
        if c.nccl_version is not None and algorithm != "auto" and c.protocol != "auto":
            # a release's tuner tables pick the algorithm and protocol; every release prices a schedule alike
            # (dpsim.sim.collectives.base.Layout.estimate): with both named nothing is picked
            raise _FieldError(
                "communication.nccl_version",
                f"picks the algorithm and protocol NCCL's tuner runs (every release runs a schedule in the same "
                f"time): with algorithm {c.algorithm} and protocol {c.protocol} both named nothing is picked, so "
                "it changes nothing; set one of them to auto or leave it out",
            )
        for listed, named, env in (("nccl_algo", "algorithm", "NCCL_ALGO"), ("nccl_proto", "protocol", "NCCL_PROTO")):
            names, chosen = getattr(c, listed), algorithm if named == "algorithm" else c.protocol
            if names is not None and chosen != "auto":
                missing = "" if chosen in names else f", and {chosen} is not in it"
                raise _FieldError(
                    f"communication.{listed}",
                    f"is {env}, the list {named}: auto picks from; communication.{named}: {chosen} runs as named "
                    f"(as {env}={chosen} does), so it is never read{missing}: set {named}: auto or leave it out",
                )

    def _tuner_plugin_picks(self) -> None:
        """Refuse ``communication.nccl_tuner`` naming a plugin where it picks nothing
        (:mod:`dpsim.sim.collectives.tuner_plugin`): aws-ofi-nccl 1.16.3 loads its region tuner by the instance's
        product name (``nccl_ofi_tuner_init``: the p5 / p5e regions on ``p5.48xlarge`` / ``p5e.48xlarge``, 8 H100 or
        H200 over EFA v2; the p5en's on ``p5en.48xlarge``, 8 H200 over EFA v3: ``tuner_plugin.platform_of``), leaves
        NCCL's own pick on two nodes or fewer (``region_get_coll_info_internal_v3``: "Skip when two nodes or
        lesser"), and chooses only among algorithms and protocols NCCL runs (one named pair: no
        choice; a textbook algorithm or ``protocol: none``: no NCCL)."""
        from dpsim.sim.collectives import TEXTBOOK
        from dpsim.sim.collectives.tuner_plugin import platform_of

        c, k = self.communication, self.cluster
        if c.nccl_tuner == "nccl":
            return
        why, algorithm = "", self.collective_algorithm
        if c.protocol == "none" or algorithm in TEXTBOOK:
            named = "protocol: none" if c.protocol == "none" else f"algorithm: {c.algorithm}"
            why = f"communication.{named} prices the links' alpha-beta without NCCL's tuner"
        elif algorithm != "auto" and c.protocol != "auto":
            why = f"with algorithm {c.algorithm} and protocol {c.protocol} both named nothing is picked"
        elif platform_of(k.device.preset, k.workers_per_node, k.inter_node.preset) is None:
            why = (
                "its regions are the p5 / p5e's (8 H100 or H200 a node over EFA v2: cluster.device h100-sxm or h200, "
                "workers_per_node 8, inter_node preset efa-v2) and the p5en's (8 H200 over EFA v3: h200, 8, efa-v3), "
                f"not {k.device.preset or 'a custom device'} x {k.workers_per_node} over "
                f"{k.inter_node.preset or 'a custom link'}"
            )
        elif k.nodes <= 2:
            why = f"it leaves the pick to NCCL's own tuner on two nodes or fewer, and this cluster has {k.nodes}"
        if why:
            raise _FieldError(
                "communication.nccl_tuner", f"{c.nccl_tuner} picks nothing here: {why}; leave it out (nccl)"
            )

    def _textbook_without_nccl(self) -> None:
        """Refuse NCCL's protocol, buffer and release beside a textbook algorithm (``hierarchical``,
        ``halving-doubling``, ``direct``, ``parameter-server``) where no collective of the step runs NCCL (``backend``
        on GPUs is NCCL's own pick and reads them as ``auto`` does, :attr:`collective_algorithm`; on CPUs every NCCL
        setting is refused): those algorithms are priced on the links' alpha-beta (:func:`dpsim.sim.collectives.build`),
        and so are the pipeline's sends with them (:func:`dpsim.sim.collectives.candidates`), a ZeRO reduce-scatter and
        a tensor-parallel group inside a node (:func:`dpsim.analytic.parallel.tensor_parallel_collectives`); only a
        tensor-parallel all-reduce across nodes runs NCCL's ring. The same step to the bit, so refused."""
        from dpsim.sim.collectives import TEXTBOOK

        c, t = self.communication, self.training
        tp_across_nodes = t.tensor_parallel > self.cluster.workers_per_node and not t.sequence_parallel
        if self.collective_algorithm not in TEXTBOOK or tp_across_nodes:  # backend on GPUs: NCCL's own pick
            return
        unread = ["protocol"] if c.protocol not in ("auto", "none") else []
        # nccl_algo beside a named algorithm is refused as a second NCCL_ALGO (_nccl_env_read)
        unread += [name for name in NCCL_ENV_FIELDS if name != "nccl_algo" and getattr(c, name) is not None]
        if unread:
            raise _FieldError(
                f"communication.{unread[0]}",
                f"is an NCCL setting: communication.algorithm: {c.algorithm} is priced on the links' alpha-beta "
                "without NCCL's protocols, buffers or tuner, and so is every other collective of this step "
                "(a tensor-parallel group inside a node, the pipeline's sends), which it does not change; "
                "leave it out, or name an NCCL algorithm (auto, ring, tree)",
            )

    def _nvls_env_read(self) -> None:
        """Refuse ``NCCL_NVLS_CHUNKSIZE`` / ``NCCL_NVLSTREE_MAX_CHUNKSIZE`` where NCCL does not read them: on a
        release before the one that added the variable (:data:`dpsim.sim.collectives.nccl.NVLS_ENV`: v2.21.5 and
        v2.20.3; no ``NCCL_PARAM`` of that name before) and where no NVLS algorithm runs
        (:attr:`ClusterConfig.nvls_node`: NCCL's ``ncclNvlsInit`` finds no multicast NVSwitch, so
        ``calcCollChunking``'s NVLS branches never run), and below :data:`dpsim.sim.collectives.nccl.SIMPLE_GRAIN`
        (512 B) from v2.22.3, whose ``calcCollChunking`` aligns the chunk down to it: a smaller one is 0, which NCCL
        divides by (``DIVUP(nBytes, loopSize)``). CPU devices, ``protocol: none`` and textbook algorithms are
        refused with every NCCL setting."""
        from dpsim.sim.collectives.nccl import NVLS_ENV, NVLS_TREE_RELEASES, SIMPLE_GRAIN
        from dpsim.sim.collectives.nccl_tuner import DEFAULT_NCCL_VERSION, released

        c = self.communication
        version = c.nccl_version or DEFAULT_NCCL_VERSION
        for name, key in NVLS_ENV.items():
            if getattr(c, name) is None or self.cluster.gloo:
                continue
            env, since = f"NCCL_{name.removeprefix('nccl_').upper()}", NVLS_TREE_RELEASES[key]
            if not released(version, since):
                raise _FieldError(
                    f"communication.{name}",
                    f"is {env}, which NCCL reads from v{since} on (its NCCL_PARAM); communication.nccl_version "
                    f"{version} has none, so it changes nothing: leave it out",
                )
            if not self.cluster.nvls_node:
                raise _FieldError(
                    f"communication.{name}",
                    f"is {env}, read only by NCCL's NVLS algorithms, which need an NVSwitch that reduces "
                    "(cluster.intra_node nvlink4/nvlink5, intra_topology: switch) and 2+ GPUs a node; none runs "
                    "here, so leave it out",
                )
            value = getattr(c, name)
            if value < SIMPLE_GRAIN and released(version, NVLS_TREE_RELEASES["grain"]):
                raise _FieldError(
                    f"communication.{name}",
                    f"is {env}, whose chunk NCCL v{NVLS_TREE_RELEASES['grain']} on aligns down to its Simple grain "
                    f"({SIMPLE_GRAIN} B, ncclProtoGrainSize): {value:g} B makes it 0, which NCCL divides by; "
                    f"give {SIMPLE_GRAIN} B or more",
                )

    def _buffsize_read(self) -> None:
        """Refuse an ``NCCL_BUFFSIZE`` below :data:`MIN_NCCL_BUFFSIZE` (4 KiB) on GPUs. NCCL reads it unchecked
        (``src/init.cc`` ``computeBuffSizes``: ``buffSizes[p] = envs[p]``); a tree's, NVLS's and CollNet's Simple chunk
        is one step, ``stepSize = buffSizes[SIMPLE] / NCCL_STEPS`` (8), which ``calcCollChunking`` (``src/enqueue.cc``)
        aligns down to the Simple grain from v2.22.3 (``chunkSize / grainSize * grainSize``, 512 B): below 4 KiB the
        chunk is 0 and ``DIVUP(nBytes, loopSize)`` divides by it (0 B, an integer step of 0 before v2.22.3, likewise).
        Before v2.22.3 a 1 B - 4 KiB buffer runs in steps of a few bytes, each a flag handshake dpsim does not price
        (it prices a step's bytes, not a per-step cost), so it is refused there too rather than priced as faster than
        NCCL's 4 MiB. CPU devices and ``protocol: none`` are refused with every NCCL setting."""
        from dpsim.sim.collectives.nccl import NVLS_TREE_RELEASES, SIMPLE_GRAIN
        from dpsim.sim.collectives.nccl_tuner import DEFAULT_NCCL_VERSION, released

        c = self.communication
        if c.nccl_buffsize is None or self.cluster.gloo or c.protocol == "none":
            return
        if c.nccl_buffsize < MIN_NCCL_BUFFSIZE:
            version, grain = c.nccl_version or DEFAULT_NCCL_VERSION, NVLS_TREE_RELEASES["grain"]
            why = (
                f"NCCL {version} aligns it down to its {SIMPLE_GRAIN} B Simple grain (from v{grain}), so below "
                f"{MIN_NCCL_BUFFSIZE // 1024} KiB the chunk is 0, which calcCollChunking divides by"
                if released(version, grain)
                else f"below {MIN_NCCL_BUFFSIZE // 1024} KiB NCCL {version} moves steps under the {SIMPLE_GRAIN} B "
                f"grain later releases enforce (0 B below 8 B, which it divides by), each a handshake dpsim does "
                "not price"
            )
            raise _FieldError(
                "communication.nccl_buffsize",
                f"is NCCL_BUFFSIZE, whose eighth (NCCL_STEPS 8) is the chunk a tree or NVLS all-reduce moves: {why}; "
                f"got {c.nccl_buffsize:g} B, give {MIN_NCCL_BUFFSIZE // 1024} KiB or more (NCCL's default is 4 MiB)",
            )

    def _nvls_runs(self) -> None:
        """Refuse a named NVLS all-reduce where the data-parallel all-reduce cannot run it: it failed only once the
        step was priced (``check`` said valid), blamed on ``<scenario>`` rather than the file. dpsim runs NVLS over a
        whole node's GPUs (:func:`dpsim.analytic.fabrics.dp_fabric` has none for a group with TP or PP), with the
        Simple protocol only (NCCL's ``nvls.cc``). It is checked where the gradients are all-reduced
        (:attr:`gradient_reduction_op`); without data parallelism no all-reduce runs, and ZeRO's reduce-scatter and
        all-gather run their ring whatever the algorithm, so those pass as before."""
        c, t = self.communication, self.training
        if c.algorithm not in ("nvls", "nvls-tree") or self.data_parallel <= 1:
            return
        if self.gradient_reduction_op != "allreduce":
            return
        if not self.cluster.nvls_node or t.tensor_parallel * t.pipeline_parallel > 1:
            raise _FieldError(
                "communication.algorithm",
                f"{c.algorithm} is NCCL's NVLink-SHARP all-reduce: needs an NVSwitch that reduces "
                "(cluster.intra_node nvlink4/nvlink5, intra_topology: switch) and 2+ GPUs a node, and dpsim prices it "
                "over every GPU of a node (tensor_parallel x pipeline_parallel 1); use auto, ring or tree",
            )
        if c.protocol in ("LL", "LL128"):
            raise _FieldError("communication.protocol", f"{c.protocol}: {c.algorithm} runs the Simple protocol only")
        if c.protocol == "auto" and c.nccl_proto is not None and "Simple" not in c.nccl_proto:
            raise _FieldError("communication.nccl_proto", f"{c.algorithm} runs the Simple protocol only, not in it")

    def _algorithm_read(self) -> None:
        """Refuse a named all-reduce algorithm where the data-parallel group all-reduces nothing: ZeRO-1/2/3, FSDP
        and Megatron's distributed optimizer reduce-scatter the gradients and all-gather the parameters, which run
        NCCL's ring whatever ``communication.algorithm`` names (two levels for ``hierarchical``;
        :func:`dpsim.sim.collectives.build`): ``tree`` priced the ring's step to the bit, the textbook ones the ring
        without NCCL's protocol. NCCL itself has no tree or NVLS reduce-scatter across nodes; an ``NCCL_ALGO`` that
        leaves the ring out fails it. Where gradients are all-reduced (DDP, torch's ZeroRedundancyOptimizer,
        ``zero1_gradient_allreduce``, HYBRID_SHARD's replicas) or nothing is reduced (one data-parallel rank), it
        passes as before."""
        c, t = self.communication, self.training
        if c.algorithm in SHARDED_ALGORITHMS or self.data_parallel <= 1 or self.gradient_reduction_op == "allreduce":
            return
        if t.fsdp_shard_group is not None and t.fsdp_shard_group < self.data_parallel:
            return  # HYBRID_SHARD all-reduces each shard across its replica group with the algorithm
        raise _FieldError(
            "communication.algorithm",
            f"{c.algorithm} is an all-reduce algorithm, and this step all-reduces nothing over its "
            f"{self.data_parallel} data-parallel ranks: zero_stage {t.zero_stage} ({t.optimizer_sharding}) "
            "reduce-scatters the gradients and all-gathers the parameters, which run the ring whatever the "
            f"algorithm; give one of {', '.join(SHARDED_ALGORITHMS)}",
        )

    def _communication_read(self) -> None:
        """NCCL and gloo settings against the cluster: each NCCL field where NCCL runs, the algorithm where it runs."""
        if self.communication.nccl_p2p_level is not None and self.cluster.host_topology is None:
            # read only on a node's PCIe paths (dpsim.sim.pcie_ring); elsewhere it changed nothing without a word,
            # LOC (no peer-to-peer at all) included
            raise _FieldError(
                "communication.nccl_p2p_level",
                "sets which PCIe paths of a node use peer-to-peer instead of host memory: needs "
                "cluster.host_topology (the node's PCIe switches and sockets); other nodes are priced with "
                "peer-to-peer between all their GPUs, so leave it out",
            )
        # each NCCL setting with the values that leave NCCL as it is: nccl_tuner's default is NCCL's own tuner, a
        # protocol auto or none (the links' alpha-beta, as on CPUs)
        unset: dict[str, tuple[object, ...]] = dict.fromkeys(NCCL_ENV_FIELDS, (None,))
        unset.update(nccl_tuner=("nccl",), protocol=("auto", "none"))
        for name in (n for n in unset if getattr(self.communication, n) not in unset[n] and self.cluster.gloo):
            # protocol_of is none on CPUs: auto is the ring, no protocol, no Simple buffer; to the bit the same step
            raise _FieldError(
                f"communication.{name}",
                "is an NCCL setting: on cluster.device: cpu gloo reduces (its ring over the links), which it "
                "does not change, so leave it out",
            )
        if self.communication.nccl_version is not None:
            from dpsim.sim.collectives.nccl_tuner import NCCL_VERSIONS

            if self.communication.nccl_version not in NCCL_VERSIONS:
                raise _FieldError(
                    "communication.nccl_version",
                    f"expected one of the NCCL releases whose tuner tables dpsim carries ({', '.join(NCCL_VERSIONS)}), "
                    f"got {inputs.brief(self.communication.nccl_version)}",
                )
        self._nccl_env_read()
        self._nvls_env_read()
        self._buffsize_read()
        self._nvls_runs()
        self._algorithm_read()
        if self.communication.nccl_pxn_disable and not self.cluster.pxn_possible:
            raise _FieldError(
                "communication.nccl_pxn_disable",
                "turns off NCCL's relay through the GPU of another GPU's NIC (PXN): needs NVLink inside the node "
                "(cluster.intra_node not PCIe) and a GPU-to-NIC link (cluster.host_link, or a catalog GPU's); "
                "without them nothing is relayed, so leave it out",
            )

    def _model_kernels_read(self) -> None:
        """The model's kernel and block choices against the attention, precision and tensor parallelism they need."""
        t = self.training
        if self.model.attention_nan_to_num and self.model.attention != "standard":
            raise _FieldError(
                "model.attention_nan_to_num",
                "cleans the materialised s×s scores: needs attention: standard (flash attention keeps none)",
            )
        if self.model.attention_qkv_copies and self.model.attention != "standard":
            raise _FieldError(
                "model.attention_qkv_copies",
                "is metaseq's standard attention path (baddbmm over copied q, k, v): needs attention: standard",
            )
        if self.model.fp8_linear != "te_layernorm_linear" and t.precision != "fp8":
            raise _FieldError(
                "model.fp8_linear",
                f"chooses how FP8 linear layers cast their inputs and weights: needs training.precision: fp8 "
                f"(got {t.precision})",
            )
        if self.model.loss_kernel == "loss_parallel" and t.tensor_parallel < 2:
            raise _FieldError(
                "model.loss_kernel",
                "loss_parallel is the cross-entropy over vocabulary-sharded logits: needs training.tensor_parallel "
                f"> 1 (got {t.tensor_parallel})",
            )
        if self.model.attention_kernel != "device" and self.model.attention != "flash":
            raise _FieldError(
                "model.attention_kernel",
                "chooses the fused (flash) attention kernel: needs attention: flash",
            )
        if self.model.rotary_fraction < 1.0 and self.model.rope_kernels == "none":
            raise _FieldError(
                "model.rotary_fraction",
                "prices the partial rotary embedding's kernels: needs model.rope_kernels other than none",
            )
        if self.model.norm_kernel != "fused" and self.model.elementwise == "eager":
            raise _FieldError(
                "model.norm_kernel",
                "chooses the LayerNorm kernel of elementwise: fused (eager prices the op-by-op norm itself)",
            )
        if self.model.parallel_block and t.sequence_parallel:
            raise _FieldError(
                "model.parallel_block",
                "one all-reduce of the attention and MLP outputs' sum (gpt-neox) has no sequence-parallel form "
                "here: needs training.sequence_parallel: false",
            )

    def _layout_read(self) -> None:
        """DP x TP x PP against the workers, the batch (``global_batch: auto`` filled in here), the heads and the
        layers a stage; a layout's groups placed in Megatron order."""
        t, world = self.training, self.cluster.world_size
        model_parallel = t.tensor_parallel * t.pipeline_parallel
        if world % model_parallel:  # named by the degree that does not divide the workers (TP where both do)
            raise _FieldError(
                "training.pipeline_parallel" if world % t.pipeline_parallel else "training.tensor_parallel",
                f"DP x TP x PP must equal the {world} workers: training.tensor_parallel {t.tensor_parallel} x "
                f"training.pipeline_parallel {t.pipeline_parallel} = {model_parallel} does not divide {world}",
            )
        dp = world // model_parallel
        if self.model.kind != "transformer" and model_parallel > 1:
            raise _FieldError(
                "training.tensor_parallel" if t.tensor_parallel > 1 else "training.pipeline_parallel",
                f"tensor and pipeline parallelism split a transformer's layers; a {self.model.kind} model "
                "runs data-parallel only (set both to 1)",
            )
        if t.virtual_stages > 1 and (t.pipeline_schedule != "interleaved" or t.pipeline_parallel == 1):
            raise _FieldError(
                "training.virtual_stages",
                f"{t.virtual_stages} model chunks per stage need pipeline_schedule: interleaved and "
                f"pipeline_parallel > 1 (got {t.pipeline_schedule}, pipeline_parallel {t.pipeline_parallel})",
            )
        one_chunk = t.pipeline_schedule == "interleaved" and t.virtual_stages == 1 and t.pipeline_parallel > 1
        if one_chunk and t.pipeline_runtime == "torch":  # torch's own one-stage interleaving is not 1F1B: not priced
            raise _FieldError(
                "training.virtual_stages",
                "interleaved under pipeline_runtime: torch needs virtual_stages >= 2 (got 1): torchtitan's "
                "pipeline split asserts >= 2 stages a rank for multi-stage schedules, and torch's "
                "ScheduleInterleaved1F1B with one stage a rank warms up 2(p-1-rank) forwards, not 1F1B's "
                "p-1-rank; for one stage a rank set pipeline_schedule: 1f1b",
            )
        step = dp * t.micro_batch * (t.pipeline_parallel if self.interleaves_chunks else 1)
        if t.global_batch == AUTO_BATCH:
            t.global_batch = step
        if t.global_batch % (dp * t.micro_batch):
            raise _FieldError(
                "training.global_batch",
                f"{t.global_batch} is not divisible by data-parallel ranks x micro_batch = {dp} x {t.micro_batch}"
                f"; nearest valid: {_nearest(t.global_batch, dp * t.micro_batch)} (or auto)",
            )
        derived = t.global_batch // (dp * t.micro_batch)
        if t.accumulation is not None and t.accumulation != derived:
            raise _FieldError(
                "training.accumulation",
                f"{t.accumulation} contradicts global_batch / (dp x micro_batch) = "
                f"{t.global_batch} / ({dp} x {t.micro_batch}) = {derived}",
            )
        if self.interleaves_chunks and derived % t.pipeline_parallel:
            raise _FieldError(
                "training.accumulation",
                f"interleaved 1F1B needs micro-batches ({derived}) divisible by "
                f"pipeline_parallel ({t.pipeline_parallel}); nearest valid global_batch: "
                f"{_nearest(t.global_batch, step)} (or auto)",
            )
        if self.model.kind == "transformer" and t.tensor_parallel > 1 and self.model.heads % t.tensor_parallel:
            raise _FieldError(
                "training.tensor_parallel", f"{t.tensor_parallel} must divide the model's {self.model.heads} heads"
            )
        slots = self.model.layers + (2 if t.embedding_pipeline_slots else 0)
        if self.model.kind == "transformer" and slots % (t.pipeline_parallel * t.virtual_stages):
            what = f"layers ({self.model.layers})" + (" + 2 embedding slots" if t.embedding_pipeline_slots else "")
            if self.model.layers % (t.pipeline_parallel * t.virtual_stages) == 0:  # the layers alone divide
                culprit = "training.embedding_pipeline_slots"
            elif slots % t.pipeline_parallel == 0:  # the stages alone divide: their chunks do not
                culprit = "training.virtual_stages"
            else:
                culprit = "training.pipeline_parallel"
            raise _FieldError(
                culprit,
                f"{what} must be divisible by training.pipeline_parallel x training.virtual_stages "
                f"= {t.pipeline_parallel} x {t.virtual_stages}",
            )
        if self.cluster.rank_order != "node_major" and model_parallel > 1:
            raise _FieldError(
                "cluster.rank_order",
                "only node_major with tensor or pipeline parallelism (their groups are placed in Megatron order)",
            )

    def _precision_read(self) -> None:
        """FP8 against the device's FP8 peak; autocast against precision and DDP."""
        t = self.training
        if t.precision == "fp8" and self.cluster.device.peak_flops_fp8 is None:
            raise _FieldError(
                "training.precision", "fp8 needs a device with an FP8 peak (cluster.device.peak_flops_fp8)"
            )
        if t.autocast and (t.precision not in ("bf16", "fp16") or not self.reduces_with_ddp):
            raise _FieldError(
                "training.autocast",
                f"torch.autocast over an fp32 model under DDP: needs precision bf16 or fp16 (got {t.precision}) and "
                f"zero_stage 0 or optimizer_sharding torch (got zero_stage {t.zero_stage}, {t.optimizer_sharding})",
            )

    def _sharding_read(self) -> None:
        """The ZeRO stage each optimizer sharding implements; DeepSpeed's refusal of ZeRO-2/3 beside pipelines."""
        t = self.training
        need = {"megatron": (1,), "fsdp": (2, 3), "torch": (1,)}.get(t.optimizer_sharding)
        if need is not None and t.zero_stage not in need:
            raise _FieldError(
                "training.zero_stage",
                f"optimizer_sharding {t.optimizer_sharding} shards like ZeRO stage "
                f"{' or '.join(map(str, need))}, got zero_stage {t.zero_stage}",
            )
        if t.optimizer_sharding == "zero" and t.zero_stage >= 2 and t.pipeline_parallel > 1:
            # DeepSpeed's PipelineEngine.__init__ (deepspeed/runtime/pipe/engine.py, since #980, April 2021) asserts
            # zero_optimization_stage() < ZeroStageEnum.gradients; FSDP with pipeline stages runs (torchtitan)
            raise _FieldError(
                "training.zero_stage",
                f"DeepSpeed refuses ZeRO-{t.zero_stage} with pipeline parallelism (pipeline_parallel "
                f"{t.pipeline_parallel}): its pipeline engine asserts 'ZeRO-2 and ZeRO-3 are incompatible with "
                "pipeline parallelism'; use zero_stage 0 or 1, optimizer_sharding: fsdp, or pipeline_parallel: 1",
            )

    def _group_placement_read(self) -> None:
        """Tensor-parallel, stage and FSDP shard groups against the nodes: each holds equal ranks on its nodes."""
        t = self.training
        dp = self.data_parallel
        stage_ranks, per_node_all = dp * t.tensor_parallel, self.cluster.workers_per_node
        tp_all = t.tensor_parallel
        if self.cluster.nodes > 1 and tp_all > 1 and tp_all % per_node_all and per_node_all % tp_all:
            # a TP group (tp consecutive ranks) would hold unequal ranks per node (10 = 8 + 2, then 6 + 4), and the
            # data-parallel groups at stride tp too (TP 3 on nodes of 8: 3 + 3 + 2): neither the fabric of one TP
            # group nor a DP group's (equal ranks on each node) expresses it, and the shared fabric's TP flows ran
            # a 16-rank schedule on the 10 ranks (IndexError)
            raise _FieldError(
                "training.tensor_parallel",
                f"{tp_all} consecutive ranks a group straddle nodes of {per_node_all} unevenly "
                f"(cluster.workers_per_node): a tensor-parallel group needs a divisor or a multiple of a node",
            )
        if t.pipeline_parallel > 1 and dp > 1 and stage_ranks % per_node_all and per_node_all % stage_ranks:
            # a stage's data-parallel group would hold unequal ranks per node (12 = 8 + 4), which the fabric
            # of one data-parallel group (equal ranks on each of its nodes) cannot express
            raise _FieldError(
                "training.pipeline_parallel",
                f"{t.pipeline_parallel} stages give each stage {stage_ranks} consecutive ranks (dp x tp), which "
                f"straddle nodes of {per_node_all} unevenly: a stage needs a divisor or a multiple of a node",
            )
        if t.fsdp_shard_group is not None:
            if t.optimizer_sharding != "fsdp":
                raise _FieldError("training.fsdp_shard_group", "hybrid sharding needs optimizer_sharding: fsdp")
            if dp % t.fsdp_shard_group:
                raise _FieldError(
                    "training.fsdp_shard_group", f"{t.fsdp_shard_group} does not divide the {dp} data-parallel ranks"
                )
            per_node = max(1, min(dp, self.cluster.workers_per_node // t.tensor_parallel))
            if per_node % t.fsdp_shard_group and t.fsdp_shard_group % per_node:
                raise _FieldError(
                    "training.fsdp_shard_group",
                    f"shard groups of {t.fsdp_shard_group} straddle nodes unevenly: give a divisor or a multiple "
                    f"of the {per_node} data-parallel ranks per node",
                )
            if self.cluster.rank_order != "node_major":
                raise _FieldError("training.fsdp_shard_group", "hybrid sharding places shard groups node-major")

    def _pipeline_p2p_read(self) -> None:
        """The pipeline's transfers against the schedule that runs them."""
        t = self.training
        if t.pipeline_p2p == "blocking" and t.pipeline_schedule != "1f1b":
            raise _FieldError(
                "training.pipeline_p2p",
                f"blocking sends are DeepSpeed's TrainSchedule, a plain 1F1B order: needs pipeline_schedule: 1f1b "
                f"(got {t.pipeline_schedule})",
            )
        if t.pipeline_p2p == "synchronous" and t.pipeline_schedule == "gpipe":
            raise _FieldError(
                "training.pipeline_p2p",
                "synchronous exchanges are Megatron-LM's 1F1B schedules: needs pipeline_schedule: 1f1b or interleaved",
            )
        if not t.pipeline_grad_partitioned and t.pipeline_p2p != "blocking":
            raise _FieldError(
                "training.pipeline_grad_partitioned",
                "unpartitioned stage-boundary gradients are DeepSpeed's pipeline engine (<= 0.5.3, DeeperSpeed): "
                "needs pipeline_p2p: blocking (Megatron-LM scatters and gathers both directions)",
            )

    def _optimizer_read(self) -> None:
        """The optimizer's state dtype and kernels against the framework that has them."""
        t = self.training
        if t.optimizer_state_dtype == "bf16" and (
            t.optimizer not in ("adam", "adamw")  # apex's DistributedFusedAdam "implements Adam" (its docstring)
            or t.optimizer_sharding != "megatron"
            or t.precision not in ("bf16", "fp8")
            or t.autocast
            or t.optimizer_kernels != "fused"
            or t.optimizer_copies != "fused"
        ):
            raise _FieldError(
                "training.optimizer_state_dtype",
                "bf16 is apex's DistributedFusedAdam with dtype bf16 under NeMo (bf16 moments, no master copy): needs "
                "optimizer adam or adamw, optimizer_sharding: megatron, precision bf16 or fp8 without autocast, "
                f"optimizer_kernels and optimizer_copies fused (got {t.optimizer}, {t.optimizer_sharding}, "
                f"{t.precision}, autocast {t.autocast}, {t.optimizer_kernels}, {t.optimizer_copies})",
            )
        if t.optimizer_kernels == "foreach" and t.optimizer_copies == "separate":
            raise _FieldError(
                "training.optimizer_kernels",
                "foreach is torch.optim's multi-tensor update; optimizer_copies: separate is Megatron-LM's fp16 "
                "optimizer, whose update is apex's fused Adam: give one or the other",
            )

    def _recomputation_read(self) -> None:
        """Activation recomputation's variants against the model and parallelism they run on."""
        t = self.training
        if t.activation_recomputation == "op" and (
            self.model.kind != "transformer"
            or not self.model.gated_mlp
            or (t.tensor_parallel > 1 and (not t.sequence_parallel or t.sequence_parallel_kind != "dtensor"))
        ):
            raise _FieldError(
                "training.activation_recomputation",
                "op is torchtitan's op-level selective checkpointing of its Llama block: needs a transformer with a "
                "gated MLP, and with tensor_parallel > 1 torchtitan's DTensor sequence parallelism "
                "(sequence_parallel: true, sequence_parallel_kind: dtensor) "
                f"(got {self.model.kind}, gated_mlp {self.model.gated_mlp}, TP {t.tensor_parallel}, sequence_parallel "
                f"{t.sequence_parallel}, sequence_parallel_kind {t.sequence_parallel_kind})",
            )
        if t.recompute_early_stop and (
            t.activation_recomputation != "full"
            or t.tensor_parallel > 1
            or self.model.kind != "transformer"
            or self.model.parallel_block
        ):
            raise _FieldError(
                "training.recompute_early_stop",
                "stopping the recomputed forward early needs activation_recomputation: full of a transformer's "
                f"sequential block and tensor_parallel 1 (got {t.activation_recomputation}, {self.model.kind}, "
                f"parallel_block {self.model.parallel_block}, TP {t.tensor_parallel})",
            )
        if t.recompute_layer_interval > 1 and (
            t.activation_recomputation != "full"
            or t.tensor_parallel > 1
            or t.pipeline_parallel > 1
            or self.model.kind != "transformer"
            or t.recompute_layer_interval > self.model.layers
        ):
            raise _FieldError(
                "training.recompute_layer_interval",
                f"checkpointing one layer in {t.recompute_layer_interval} needs activation_recomputation: full, a "
                f"transformer with at least that many layers, tensor_parallel 1 and pipeline_parallel 1 (got "
                f"{t.activation_recomputation}, {self.model.layers} layers, TP {t.tensor_parallel}, PP "
                f"{t.pipeline_parallel})",
            )

    def _gradient_path_read(self) -> None:
        """Each gradient accumulation pass and gradient all-reduce against the sharding that runs it."""
        t = self.training
        if t.gradient_accumulation_pass == "fp32_copy" and (
            t.precision != "bf16" or t.optimizer_sharding != "zero" or t.zero_stage != 1
        ):
            # DeepSpeed runs BF16_Optimizer with ZeRO off or at stage 1 only (runtime/engine.py
            # _do_optimizer_sanity_check: BFLOAT16 under ZeRO only where zero_optimization_stage() == 1; stages 2/3
            # get its ZeRO optimizers), and it shards its fp32 weights and optimizer states over the data-parallel
            # ranks either way (bf16_optimizer.py fp32_groups_flat_partition): dpsim's zero_stage 1, where memory,
            # the reduction and the accumulation pass all read it (:attr:`deepspeed_bf16_optimizer`)
            raise _FieldError(
                "training.gradient_accumulation_pass",
                f"fp32_copy is DeepSpeed's BF16_Optimizer (bf16 gradients added into an fp32 buffer), which DeepSpeed "
                f"runs only with ZeRO off or at stage 1, sharding its fp32 weights and optimizer states either way: "
                f"needs precision bf16, optimizer_sharding zero and zero_stage 1 (got {t.precision}, "
                f"{t.optimizer_sharding}, zero_stage {t.zero_stage})",
            )
        if t.gradient_accumulation_pass in ("fsdp_flat", "fairscale_flat") and (
            t.optimizer_sharding != "fsdp" or t.zero_stage not in (2, 3) or t.fsdp_no_sync
        ):
            raise _FieldError(
                "training.gradient_accumulation_pass",
                f"{t.gradient_accumulation_pass} is "
                + ("PyTorch FSDP1's" if t.gradient_accumulation_pass == "fsdp_flat" else "fairscale FSDP's")
                + " flat-parameter gradient path: needs optimizer_sharding: fsdp at "
                f"zero_stage 2 or 3 without fsdp_no_sync (got {t.optimizer_sharding}, zero_stage {t.zero_stage}, "
                f"fsdp_no_sync {str(t.fsdp_no_sync).lower()})",
            )
        if t.gradient_accumulation_pass == "fsdp2" and (t.optimizer_sharding != "fsdp" or t.zero_stage not in (2, 3)):
            raise _FieldError(
                "training.gradient_accumulation_pass",
                "fsdp2 is PyTorch FSDP2's (fully_shard) copies around its collectives: needs optimizer_sharding: fsdp "
                f"at zero_stage 2 or 3 (got {t.optimizer_sharding}, zero_stage {t.zero_stage})",
            )
        if t.zero1_gradient_allreduce and (t.zero_stage != 1 or t.optimizer_sharding != "zero"):
            raise _FieldError(
                "training.zero1_gradient_allreduce",
                f"DeepSpeed's ZeRO-1 all-reduce: needs zero_stage: 1 and optimizer_sharding: zero (got stage "
                f"{t.zero_stage}, {t.optimizer_sharding}; ZeRO-2/3, FSDP and Megatron reduce into shards; "
                "pre-0.4.3 ZeRO-3's all-reduce is training.zero3_gradient_allreduce)",
            )
        if t.zero3_gradient_allreduce and (t.zero_stage != 3 or t.optimizer_sharding != "zero"):
            raise _FieldError(
                "training.zero3_gradient_allreduce",
                f"DeepSpeed's pre-0.4.3 ZeRO-3 all-reduce: needs zero_stage: 3 and optimizer_sharding: zero (got "
                f"stage {t.zero_stage}, {t.optimizer_sharding})",
            )

    def _tensor_parallel_read(self) -> None:
        """Tensor-parallel overlaps and sequence parallelism's variants against what they need."""
        t = self.training
        if t.tp_comm_overlap and not t.sequence_parallel:
            raise _FieldError(
                "training.tp_comm_overlap",
                "needs sequence_parallel: true (userbuffers overlap the all-gathers and reduce-scatters that "
                "sequence parallelism runs; Megatron-LM refuses --tp-comm-overlap without --sequence-parallel)",
            )
        if t.tp_async_grad_allreduce and t.sequence_parallel:
            raise _FieldError(
                "training.tp_async_grad_allreduce",
                "needs sequence_parallel: false (sequence parallelism has no backward all-reduce to overlap; "
                "Megatron-LM turns --async-tensor-model-parallel-allreduce off with --sequence-parallel)",
            )
        if t.sequence_parallel_kind != "megatron" and not t.sequence_parallel:
            raise _FieldError(
                "training.sequence_parallel_kind",
                f"{t.sequence_parallel_kind} says how sequence parallelism is run: needs sequence_parallel: true",
            )
        if t.tp_overlap_kind != "userbuffers" and not t.tp_comm_overlap:
            raise _FieldError(
                "training.tp_overlap_kind",
                f"{t.tp_overlap_kind} says how the TP collectives are overlapped: needs tp_comm_overlap: true",
            )
        if t.distribute_checkpointed_activations and (
            t.activation_recomputation != "full" or t.tensor_parallel <= 1 or t.sequence_parallel
        ):
            raise _FieldError(
                "training.distribute_checkpointed_activations",
                "splits full recomputation's layer checkpoints over tensor-parallel ranks: needs "
                "activation_recomputation: full, tensor_parallel > 1 and sequence_parallel: false (Megatron-LM and "
                "metaseq refuse the rest)",
            )

    def _framework_options_read(self) -> None:
        """DDP's, ZeroRedundancyOptimizer's, DeepSpeed's and FSDP's own options against the sharding that owns them."""
        t = self.training
        if not t.fsdp_reshard_after_backward and (t.optimizer_sharding != "fsdp" or t.zero_stage != 2):
            raise _FieldError(
                "training.fsdp_reshard_after_backward",
                "keeping parameters gathered across micro-batches is FSDP SHARD_GRAD_OP's (optimizer_sharding: "
                "fsdp, zero_stage: 2); FULL_SHARD frees them after every forward",
            )
        if t.ddp_at_one_rank and not self.reduces_with_ddp:
            raise _FieldError(
                "training.ddp_at_one_rank",
                "applies to PyTorch DDP (zero_stage: 0, or optimizer_sharding: torch) only, not "
                f"zero_stage {t.zero_stage} with optimizer_sharding {t.optimizer_sharding}",
            )
        if t.gradient_as_bucket_view and not self.reduces_with_ddp:
            raise _FieldError(
                "training.gradient_as_bucket_view",
                "applies to PyTorch DDP (zero_stage: 0, or optimizer_sharding: torch) only; DeepSpeed ZeRO, FSDP and "
                "Megatron's distributed optimizer keep their own gradient buffers",
            )
        if t.parameters_as_bucket_view and t.optimizer_sharding != "torch":
            raise _FieldError(
                "training.parameters_as_bucket_view",
                f"a ZeroRedundancyOptimizer argument (optimizer_sharding: torch), not {t.optimizer_sharding}'s",
            )
        deepspeed = ("overlap_comm", "reduce_bucket_size")
        stage3 = ("prefetch_bucket_size", "max_live_parameters", "max_reuse_distance")
        for name in deepspeed + stage3:
            if getattr(t, f"deepspeed_{name}") is None:
                continue
            if t.optimizer_sharding != "zero" or t.zero_stage == 0:
                raise _FieldError(
                    f"training.deepspeed_{name}",
                    f"DeepSpeed ZeRO's (optimizer_sharding: zero, zero_stage 1-3), not {t.optimizer_sharding} at "
                    f"zero_stage {t.zero_stage}",
                )
            if name in stage3 and t.zero_stage != 3:
                raise _FieldError(
                    f"training.deepspeed_{name}", f"a ZeRO-3 setting (stage3_{name}), not stage {t.zero_stage}'s"
                )
        if t.fsdp_float8_all_gather and (
            t.optimizer_sharding != "fsdp"
            or t.zero_stage < 2
            or self.model.kind != "transformer"
            or self.model.fp8_linear != "torchao_tensorwise"
        ):
            raise _FieldError(
                "training.fsdp_float8_all_gather",
                "casts torchao's Float8 weights before FSDP's all-gather: needs optimizer_sharding: fsdp, zero_stage "
                f"2 or 3 and model.fp8_linear: torchao_tensorwise (got {t.optimizer_sharding}, zero_stage "
                f"{t.zero_stage}, {self.model.fp8_linear})",
            )
        if t.fsdp_no_sync and t.optimizer_sharding != "fsdp":
            raise _FieldError(
                "training.fsdp_no_sync",
                f"no_sync is FSDP's (optimizer_sharding: fsdp), not {t.optimizer_sharding}'s: DeepSpeed ZeRO-2/3 "
                "refuse it, DDP, ZeRO-1 and Megatron already reduce once per step",
            )

    def _variability_read(self) -> None:
        """A normal jitter within its floor; stragglers and degraded NICs name real workers and nodes; one worker's or
        node's entries compose."""
        v = self.variability
        if v.jitter_distribution == "normal" and v.compute_jitter_cv > MAX_NORMAL_JITTER_CV:
            # round 29 (hostile): the simulator floors a normal draw at 0.01, so past 0.4 what both engines priced was
            # no longer a jitter of mean 1 and CV cv (cv 10: mean 4.51, CV 1.37; the default step 0.69 -> 10.7 s)
            raise _FieldError(
                "variability.compute_jitter_cv",
                f"{v.compute_jitter_cv:g} under jitter_distribution normal: expected at most {MAX_NORMAL_JITTER_CV} "
                "(a normal draw is floored at 0.01, and past 0.4 the floor holds over 0.7 % of the draws: what is "
                "drawn is no longer mean 1 and CV cv); lognormal and gamma take a CV up to 10",
            )
        world = self.cluster.world_size
        slowdowns: dict[int, float] = {}  # entries naming one worker (or node) compose: their product is used
        for i, s in enumerate(self.variability.stragglers):
            if s.worker >= world:
                raise _FieldError(f"variability.stragglers.{i}.worker", f"{s.worker} is not a worker (0..{world - 1})")
            slowdowns[s.worker] = product = slowdowns.get(s.worker, 1.0) * s.slowdown
            if not MIN_SLOWDOWN <= product <= MAX_SLOWDOWN:
                raise _FieldError(
                    f"variability.stragglers.{i}.slowdown",
                    f"worker {s.worker}'s slowdowns multiply to {product:.3g}: the entries of one worker compose, "
                    f"and their product must lie in one slowdown's range ({MIN_SLOWDOWN:g} to {MAX_SLOWDOWN:g})",
                )
        factors: dict[int, float] = {}
        for i, d in enumerate(self.variability.degraded_links):
            if d.node >= self.cluster.nodes:
                raise _FieldError(
                    f"variability.degraded_links.{i}.node", f"{d.node} is not a node (0..{self.cluster.nodes - 1})"
                )
            factors[d.node] = product = factors.get(d.node, 1.0) * d.factor
            if product < MIN_FRACTION:
                raise _FieldError(
                    f"variability.degraded_links.{i}.factor",
                    f"node {d.node}'s factors multiply to {product:.3g}: the entries of one node compose, and their "
                    f"product must be at least {MIN_FRACTION:g}, as one factor",
                )

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        """Cross-field checks, each a named step, in the order they have always run: the first broken rule is the one
        reported (``_layout_read`` also fills in ``global_batch: auto``, which the steps after it read)."""
        self._communication_read()
        self._model_kernels_read()
        self._layout_read()
        self._precision_read()
        self._sharding_read()
        self._group_placement_read()
        self._pipeline_p2p_read()
        self._optimizer_read()
        self._recomputation_read()
        self._gradient_path_read()
        self._tensor_parallel_read()
        self._framework_options_read()
        self._variability_read()
        return self

    # --- derived values --------------------------------------------------------------------
    @property
    def world_size(self) -> int:
        return self.cluster.world_size

    @property
    def interleaves_chunks(self) -> bool:
        """Whether the pipeline interleaves model chunks: ``pipeline_schedule: interleaved`` with ``virtual_stages``
        > 1 and ``pipeline_parallel`` > 1. With one chunk a stage Megatron-LM runs plain 1F1B (``validate_args``,
        ``megatron/training/arguments.py``, sets ``virtual_pipeline_model_parallel_size`` 1 to None, so
        ``get_forward_backward_func`` picks ``forward_backward_pipelining_without_interleaving`` and no micro-batch
        count divisible by the stages is needed), and both engines price it as 1F1B (listed in
        :meth:`ignored_fields`); under ``pipeline_runtime: torch`` it is refused."""
        t = self.training
        return t.pipeline_schedule == "interleaved" and t.virtual_stages > 1 and t.pipeline_parallel > 1

    @property
    def data_parallel(self) -> int:
        return self.world_size // (self.training.tensor_parallel * self.training.pipeline_parallel)

    @property
    def recomputed_layer_share(self) -> float:
        """Share of the transformer layers whose forward the backward reruns under ``activation_recomputation``
        (floor(L/k)/L with ``recompute_layer_interval`` k; 1 for every layer)."""
        k, layers = self.training.recompute_layer_interval, self.model.layers
        return 1.0 if k == 1 or layers <= 0 else (layers // k) / layers

    @property
    def accumulation_steps(self) -> int:
        t = self.training
        return t.global_batch // (self.data_parallel * t.micro_batch)

    @property
    def communication_dtype(self) -> str:
        """``communication.dtype`` with ``auto`` resolved to the framework's default (see the field)."""
        dtype: str = self.communication.dtype
        if dtype != "auto":
            return dtype
        t = self.training
        if t.precision == "fp32" or t.optimizer_sharding == "torch" or t.autocast:  # DDP reduces autocast's fp32 grads
            return "fp32"
        if t.optimizer_sharding == "megatron":
            return "fp16" if t.precision == "fp16" else "fp32"
        return "fp16" if t.precision == "fp16" else "bf16"  # fp8 training's gradients are bf16

    @property
    def param_bytes_per_param(self) -> int:
        """Bytes per parameter of the working weights that parameter all-gathers (and broadcasts) move: the
        16-bit training dtype (fp8 training keeps bf16 weights), fp32 when training in fp32, and under torch's
        ``ZeroRedundancyOptimizer`` (``optimizer_sharding: torch``), whose parameters autocast leaves fp32."""
        if self.training.optimizer_sharding == "torch":
            return dtype_bytes("fp32")
        return working_bytes(self.training.precision)

    @property
    def runs_ddp(self) -> bool:
        """Whether PyTorch DDP's reducer runs at all: :attr:`reduces_with_ddp` with data parallelism, or at one
        rank under ``training.ddp_at_one_rank``."""
        return self.reduces_with_ddp and (self.data_parallel > 1 or self.training.ddp_at_one_rank)

    @property
    def reduces_with_ddp(self) -> bool:
        """Whether PyTorch DDP's reducer all-reduces the gradients (its buckets, its copies): plain DDP
        (``zero_stage: 0``) and torch's ``ZeroRedundancyOptimizer``, which runs over DDP."""
        t = self.training
        return t.zero_stage == 0 or t.optimizer_sharding == "torch"

    @property
    def gradient_bytes_per_param(self) -> int:
        """Bytes per parameter of communicated gradients (:attr:`communication_dtype`)."""
        return dtype_bytes(self.communication_dtype)

    @property
    def reduces_every_micro_batch(self) -> bool:
        """Whether gradients are reduce-scattered after every micro-batch, not once per step.

        DeepSpeed ZeRO-2/3 reduce-scatter each micro-batch's gradients into the rank's fp32 shard
        (its backward hooks fire every micro-batch; ``no_sync`` is refused under ZeRO-2/3), and FSDP
        SHARD_GRAD_OP / FULL_SHARD reduce-scatter after every backward unless ``no_sync`` keeps full
        unsharded gradients (``training.fsdp_no_sync``, :attr:`keeps_unsharded_gradients`): traffic
        k x per step, gradient memory 1/N (what the memory model keeps). DDP, ZeRO-1, Megatron's
        distributed optimizer and FSDP under ``no_sync`` accumulate locally into full gradients and
        reduce once, after the last micro-batch.
        """
        t = self.training
        return (
            t.zero_stage >= 2
            and t.optimizer_sharding in ("zero", "fsdp")
            and not t.fsdp_no_sync
            and self.data_parallel > 1
            and self.accumulation_steps > 1
        )

    @property
    def overlaps_param_gather(self) -> bool:
        """Whether ZeRO-1's post-step parameter all-gather overlaps the next forward, bucket by bucket.

        Megatron-LM's distributed optimizer (``overlap_param_gather``) does: a two-stage flow shop of
        gathers and the forward's pieces. DeepSpeed ZeRO-1/2 gather after the optimizer step and wait for
        it (``communication.overlap`` false: all wait). FSDP has no post-step gather: its SHARD_GRAD_OP
        gathers each unit in the forward's pre-forward hooks (:func:`dpsim.sharding.step_traffic`).
        """
        return self.communication.overlap and self.training.optimizer_sharding == "megatron"

    @property
    def deepspeed(self) -> DeepSpeedZero | None:
        """DeepSpeed ZeRO's settings with its defaults filled in; None unless ``optimizer_sharding: zero``
        at stages 1-3 with data parallelism (DDP at stage 0, Megatron and FSDP have their own buffers)."""
        t = self.training
        if t.optimizer_sharding != "zero" or t.zero_stage == 0 or self.data_parallel <= 1:
            return None
        return DeepSpeedZero(
            overlap_comm=t.zero_stage == 3 if t.deepspeed_overlap_comm is None else t.deepspeed_overlap_comm,
            reduce_bucket_size=_or(t.deepspeed_reduce_bucket_size, DeepSpeedZero.reduce_bucket_size),
            prefetch_bucket_size=_or(t.deepspeed_prefetch_bucket_size, DeepSpeedZero.prefetch_bucket_size),
            max_live_parameters=_or(t.deepspeed_max_live_parameters, DeepSpeedZero.max_live_parameters),
            max_reuse_distance=_or(t.deepspeed_max_reuse_distance, DeepSpeedZero.max_reuse_distance),
        )

    @property
    def collective_algorithm(self) -> str:
        """``communication.algorithm`` as the collectives run it: ``backend``, the communicator's own choice, is
        NCCL's own tuner pick (``auto``) on a catalog GPU (:attr:`ClusterConfig.nccl_backend`) and gloo's ring
        elsewhere (kept as ``backend``: :func:`dpsim.sim.collectives.gloo_ring_layout`), as torch.distributed runs
        DDP, ZeRO and FSDP: its process group's backend for a device is ``Backend.default_device_backend_map``
        (``distributed_c10d.py``: cpu → gloo, cuda → nccl), and ``ProcessGroupNCCL`` leaves the algorithm and
        protocol to NCCL (``NCCL_ALGO`` / ``NCCL_PROTO`` when set). Every other name is returned as given."""
        algorithm = self.communication.algorithm
        return "auto" if algorithm == "backend" and self.cluster.nccl_backend else algorithm

    @property
    def gradient_reduction_op(self) -> Literal["allreduce", "reduce_scatter"]:
        """The collective that reduces the gradients: all-reduce without sharding (DDP) and for DeepSpeed's
        all-reducing ZeRO-1 and pre-0.4.3 ZeRO-3 (``training.zero1_gradient_allreduce``,
        ``training.zero3_gradient_allreduce``), else reduce-scatter into the shard."""
        t = self.training
        allreduce = self.reduces_with_ddp or t.zero1_gradient_allreduce or t.zero3_gradient_allreduce
        return "allreduce" if allreduce else "reduce_scatter"

    @property
    def overlaps_gradient_reduction(self) -> bool:
        """Whether the gradient buckets are reduced while the backward runs: ``communication.overlap``,
        and for DeepSpeed ZeRO also its ``overlap_comm`` (:attr:`deepspeed`), without which stage 1 reduces
        after the backward and stages 2/3 on the compute stream (``stage_1_and_2.py`` ``average_tensor``,
        ``stage3.py``'s ``reduce_and_partition_stream`` = the default stream), nor for pre-0.4.3 ZeRO-3's
        all-reducing path, which every module's fetch waits for (``training.zero3_gradient_allreduce``), nor for
        DeepSpeed's ``BF16_Optimizer`` (:attr:`bf16_reduces_after_backward`)."""
        ds = self.deepspeed
        synchronised = self.training.zero3_gradient_allreduce or self.bf16_reduces_after_backward
        return self.communication.overlap and (ds is None or ds.overlap_comm) and not synchronised

    @property
    def bf16_reduces_after_backward(self) -> bool:
        """DeepSpeed's ``BF16_Optimizer`` at ZeRO stage 1 (:attr:`deepspeed_bf16_optimizer`) reduces its gradients
        after the backward, whatever ``overlap_comm`` or ``communication.overlap`` say: it registers no gradient
        hooks, and the engine reduces at the accumulation boundary only (DeepSpeed 0.6.5 ``runtime/engine.py``
        ``allreduce_gradients``: ``get_grads_for_reduction``, "currently for BF16 optimizer", then
        ``buffered_allreduce_fallback``; the pipeline engine's ``ReduceGrads`` after the flush)."""
        return self.deepspeed is not None and self.deepspeed_bf16_optimizer

    @property
    def deepspeed_bf16_optimizer(self) -> bool:
        """DeepSpeed's ``BF16_Optimizer`` (``gradient_accumulation_pass: fp32_copy``, accepted only under
        ``optimizer_sharding: zero`` at ``zero_stage`` 1, where DeepSpeed runs it; BigScience's bf16 runs), not its
        ZeRO optimizer: the one property memory, the reduction and the tied embedding's all-reduce read. No reduce
        (IPG) buckets, and a full fp32 gradient beside the bf16 ``param.grad``. DeepSpeed 0.6.5
        ``runtime/bf16_optimizer.py`` ``_setup_for_real_optimizer``: ``fp32_groups_gradients_flat`` is
        ``torch.zeros_like(self.bf16_groups_flat[i], dtype=torch.float32)``, every parameter group's whole
        flat bf16 tensor (all of the rank's parameters, not its partition; only the fp32 master weights,
        ``fp32_groups_flat_partition``, and the optimizer states are the rank's 1/N), which
        ``update_hp_grads`` adds each micro-batch's bf16 gradients into; ``clear_lp_grads`` frees the bf16
        gradients only when the next backward starts. The pipeline engine then all-reduces those flat fp32
        groups (``_bf16_reduce_grads`` -> ``buffered_allreduce_fallback`` -> ``allreduce_bucket``), each
        cast to the communication dtype first (``tensor.to(self.communication_data_type)``: a bf16 copy)."""
        return self.training.gradient_accumulation_pass == "fp32_copy"  # only at ZeRO-1 (checked at load)

    @property
    def keeps_unsharded_gradients(self) -> bool:
        """FSDP's ``no_sync`` under accumulation: a full unsharded gradient lives across micro-batches.

        PyTorch FSDP (``torch.distributed.fsdp``, ``FullyShardedDataParallel.no_sync``: "FSDP will
        accumulate the full model gradients (instead of gradient shards) until the eventual sync"):
        the post-backward hook skips the reduce-scatter and keeps the unsharded flat gradient, in the
        parameters' compute dtype, from the first micro-batch until the last one reduce-scatters it. FSDP2
        (``fully_shard`` with ``set_requires_gradient_sync(False)``, as ``torch.distributed.pipelining`` runs each
        micro-batch) keeps it in the reduce dtype where one is set (:attr:`gradient_buffer_bytes_per_param`).
        """
        t = self.training
        return t.fsdp_no_sync and t.optimizer_sharding == "fsdp" and self.accumulation_steps > 1

    @property
    def gradient_buffer_bytes_per_param(self) -> int:
        """Bytes per parameter of the gradient buffer in memory (``training.gradient_dtype``).

        ``auto``: Megatron's distributed optimizer reduces its gradient buffer in place, so the buffer
        has the reduce dtype (:attr:`communication_dtype`: Megatron-LM ``param_and_grad_buffer.py``,
        ``grad_dtype = torch.float if grad_reduce_in_fp32 else param.dtype``, and ``arguments.py`` sets
        ``accumulate_allreduce_grads_in_fp32`` for bf16 only: fp32 under bf16/fp8, fp16 under fp16);
        FSDP accumulating unsharded gradients across micro-batches (:attr:`keeps_unsharded_gradients`) keeps them in
        the reduce dtype too, as FSDP2 does: without a gradient sync its post-backward moves each parameter's
        16-bit ``.grad`` into ``unsharded_accumulated_grad = grad.to(reduce_dtype)`` and adds the later
        micro-batches' into it (``FSDPParam.to_accumulated_grad_if_needed`` / ``accumulate_unsharded_grad_if_needed``,
        ``FSDPParamGroup.post_backward``; pytorch#125191, May 2024: "accumulate the unsharded gradients in fp32 across
        microbatches until reduce-scattering in fp32 upon the last microbatch"), 4 bytes a parameter under
        torchtitan's ``MixedPrecisionPolicy(reduce_dtype=float32)``. FSDP1's ``no_sync`` keeps the compute dtype:
        ``gradient_dtype`` says so. The others keep the 16-bit training dtype (fp32 for fp32 training).
        """
        t = self.training
        dtype: str = t.gradient_dtype
        if dtype == "auto":
            # torch: autocast's fp32 param.grad; fsdp under no_sync: FSDP2's reduce-dtype accumulation
            if t.optimizer_sharding in ("megatron", "torch") or t.autocast or self.keeps_unsharded_gradients:
                dtype = self.communication_dtype
            else:
                dtype = working_dtype(t.precision)
        return dtype_bytes(dtype)

    @property
    def tokens_per_step(self) -> int:
        return self.training.global_batch * self.model.tokens_per_sample

    def worker_slowdowns(self) -> list[float]:
        """Compute-time multiplier of every worker (1.0 unless named a straggler)."""
        slow = [1.0] * self.world_size
        for s in self.variability.stragglers:
            slow[s.worker] *= s.slowdown
        return slow

    def _partition_unread(self) -> str:
        """Why ``training.partition`` moves nothing here ('' where it may): a step's micro-batch is ``micro_batch`` x
        the data-parallel ranks samples (:func:`dpsim.analytic.step.worker_samples`), which ``round_robin`` and
        ``contiguous`` split into equal shards alike (:func:`dpsim.partition.shard_sizes`), and ``weighted`` by the
        ranks' speeds, equal too unless a straggler slows one data-parallel rank more than another."""
        t = self.training
        if t.partition == "contiguous":
            return (
                "a step's micro-batch (micro_batch x data-parallel ranks samples) is split into equal shards by "
                "contiguous and round_robin alike: the engines price the same step"
            )
        if t.partition != "weighted":
            return ""
        tp, pp, dp = t.tensor_parallel, t.pipeline_parallel, self.data_parallel
        slow = self.worker_slowdowns()  # a data-parallel rank's pace is its slowest worker's (analytic.step)
        paces = {max(slow[(s * dp + d) * tp + k] for s in range(pp) for k in range(tp)) for d in range(dp)}
        if len(paces) > 1:
            return ""
        return (
            "weighted shards follow the data-parallel ranks' speeds, all equal here (no straggler slows one more than "
            "another): equal shards, as round_robin"
        )

    def ignored_fields(self, engine: str = "sim", leaves: int | None = None) -> dict[str, str]:
        """Fields set to a value other than their default that nothing reads with the rest of this scenario, each with
        why: pipeline fields at ``pipeline_parallel`` 1 (no stage, no boundary), ``pipeline_schedule: interleaved``
        at one model chunk a stage (:attr:`interleaves_chunks`: Megatron-LM runs it as 1F1B), tensor-parallel ones
        (``sequence_parallel``, ``tp_comm_overlap``, ``tp_async_grad_allreduce``, ``tp_overlap_kind``,
        ``sequence_parallel_kind``) at
        ``tensor_parallel`` 1 (no TP group: every share is divided by 1), ``pipeline_grad_partitioned`` without
        tensor parallelism (a stage boundary split over TP ranks is what it changes:
        :func:`dpsim.analytic.parallel.pipeline_blocking_p2p_time`), a fat-tree's ``oversubscription`` /
        ``nodes_per_leaf`` on another ``topology.kind``, ``nccl_nic_fusion: false`` at one port a NIC,
        ``nccl_nvlstree_max_chunksize`` on one node (only NVLS-tree reads it, and it runs across nodes; one-node NVLS
        reads ``nccl_nvls_chunksize``), the wave-quantisation fields
        without it (``sm_count`` other than the catalog's, ``gemm_tile``, without ``gemm_waves``; ``gemm_waves``
        without an ``sm_count``), the device's attention curves other than the catalog's without flash attention
        (FlashAttention-2's without ``attention_kernel: fa2``), every field of the GEMM and attention curves
        (:data:`GEMM_CURVE_FIELDS`) where the step is priced at one fraction of peak (a CNN or MLP, the device's
        ``efficiency``: :func:`dpsim.compute.prices_flat`) and ``flat_efficiency`` where it is not, the FP32 and FP8
        peaks and plateau without that precision (``fp32_matmul`` without fp32 training; the 16-bit ``peak_flops`` in
        fp32 training on a device with an fp32 peak), ``nic_path: c2c`` where no
        GPU-to-NIC path is read (CPU devices, one node, NCCL 2.27.3 on a GPU other than Blackwell),
        ``ddp_at_one_rank`` with data parallelism, ``host_topology.p2p_latency_us`` at one GPU a node or where the
        node's NCCL ring has an SHM edge, ``gradient_accumulation_pass: autograd`` at one accumulation
        step, ``training.partition`` where its shards are equal (:meth:`_partition_unread`), a transformer's
        memory-bound kernel fields (:data:`FLAT_UNREAD_MODEL_FIELDS`) where the step is priced flat, the settings of
        :meth:`_unread_at_one_rank_or_step` (selective recomputation without attention, ``fsdp_no_sync`` at one
        accumulation step, DDP's bucket views and ``communication.overlap`` at one data-parallel rank, plain SGD's
        ``optimizer_kernels``, the gradient collective's settings without data parallelism:
        :meth:`_unread_without_data_parallelism`), and the jitter's
        ``seed`` and distribution at ``compute_jitter_cv: 0``; under DeepSpeed ZeRO
        (:attr:`deepspeed`) ``communication.bucket`` and, where neither its ``overlap_comm`` nor ZeRO-3's prefetch
        reads it, ``communication.overlap`` (:func:`dpsim.sharding.collective_pieces`; never under its
        ``BF16_Optimizer`` at stage 1, :attr:`bf16_reduces_after_backward`, nor ``deepspeed_overlap_comm`` there),
        and ``deepspeed_reduce_bucket_size`` under its ``BF16_Optimizer``; a fat-tree's
        ``oversubscription`` when the job's nodes hang under one leaf (``leaves``: the leaves a shared fabric placed
        them under, else ``cluster.nodes`` / ``nodes_per_leaf`` rounded up) and no parameter server sits above it,
        and its ``nodes_per_leaf`` at ``oversubscription`` 1 (a leaf's uplink then carries all its NICs);
        ``cluster.host_topology`` as a whole at one GPU a node, or where tensor or pipeline parallelism leaves each
        data-parallel group part of a node (:meth:`_host_topology_unread`; not on a shared fabric, whose one cluster
        routes every job's groups over the nodes' switch and socket links); ``training.learning_rate`` (only the
        runtime trains with it) and ``cluster.inter_node.pcie_gpus_per_nic: 1`` where none of NCCL's readers of it
        runs (:meth:`_pcie_gpus_per_nic_unread`);
        and under ``engine`` ``analytic`` the simulator's own fields (``simulation.*``, ``variability.replications``
        and the compute jitter). They are accepted, not refused (a sweep over ``pipeline_parallel`` or the topology
        sets them for every point); both engines' records list them (``extra.ignored_fields``, only where there are
        any). Each is checked against the step priced with the field at its default
        (``tests/test_ignored_fields.py``)."""
        t, topo = self.training, self.cluster.topology
        out: dict[str, str] = {}

        if t.pipeline_parallel == 1:
            for name in ("pipeline_schedule", "pipeline_p2p", "embedding_pipeline_slots", "pipeline_runtime"):
                if changed_from_default(t, name):
                    out[f"training.{name}"] = "read only with pipeline_parallel > 1"
        elif t.pipeline_schedule == "interleaved" and not self.interleaves_chunks:  # torch's runtime: refused
            out["training.pipeline_schedule"] = (
                "interleaved with virtual_stages 1 is 1F1B: Megatron-LM runs one model chunk a stage without "
                "interleaving (validate_args sets virtual_pipeline_model_parallel_size 1 to None), priced as 1f1b"
            )
        keeps = t.pipeline_parallel > 1 and t.pipeline_runtime == "torch" and self.model.kind == "transformer"
        if changed_from_default(t, "pipeline_releases_input_grads") and not keeps:
            out["training.pipeline_releases_input_grads"] = (
                "read only with pipeline_runtime: torch, pipeline_parallel > 1 and a transformer (the stage inputs' "
                "gradients torch's pipelining keeps)"
            )
        if t.tensor_parallel == 1:
            for name in (
                "sequence_parallel",
                "tp_comm_overlap",
                "tp_async_grad_allreduce",
                "tp_overlap_kind",
                "sequence_parallel_kind",
            ):
                if changed_from_default(t, name):
                    out[f"training.{name}"] = "read only with tensor_parallel > 1"
        if changed_from_default(t, "pipeline_grad_partitioned") and (
            t.pipeline_parallel == 1 or t.tensor_parallel == 1
        ):
            out["training.pipeline_grad_partitioned"] = (
                "read only with pipeline_parallel > 1 and tensor_parallel > 1 (a stage-boundary gradient split over "
                "the tensor-parallel ranks)"
            )
        if topo.kind != "fat-tree":
            for name in ("oversubscription", "nodes_per_leaf"):
                if changed_from_default(topo, name):
                    out[f"cluster.topology.{name}"] = f"read only with topology kind fat-tree, not {topo.kind}"
        elif (
            (leaves or -(-self.cluster.nodes // topo.nodes_per_leaf)) == 1
            and changed_from_default(topo, "oversubscription")
            and self.collective_algorithm != "parameter-server"  # the server's traffic crosses a leaf's uplink
        ):
            out["cluster.topology.oversubscription"] = (
                f"read only where traffic crosses the spine (more nodes than nodes_per_leaf, {topo.nodes_per_leaf}, "
                "or a parameter server)"
            )
        elif topo.oversubscription == 1 and changed_from_default(topo, "nodes_per_leaf"):
            # a leaf's uplink carries the sum of its nodes' NICs (dpsim.sim.topology.FatTreeTopology), and every
            # route over it crosses one of those NICs first: it never binds; the analytic engine reads the leaves
            # only to divide by the oversubscription (dpsim.analytic.collectives.Fabric)
            out["cluster.topology.nodes_per_leaf"] = (
                "read only with oversubscription > 1 (at 1 a leaf's uplink carries all its NICs at once: no route "
                "is slower for crossing the spine)"
            )
        out.update(self._unread_by_deepspeed())
        if not self.communication.nccl_nic_fusion and self.cluster.inter_node.ports_per_nic == 1:
            out["communication.nccl_nic_fusion"] = "read only with cluster.inter_node.ports_per_nic > 1 (ports to fuse)"
        device = self.cluster.device
        preset = _catalog_device(device.preset) if device.preset else None

        def own(name: str) -> bool:  # other than the catalog device's (a custom device's: the field's default)
            return getattr(device, name) != getattr(preset, name) if preset else changed_from_default(device, name)

        out.update(self._unread_by_compute_model(own))
        if self.cluster.nodes == 1 and changed_from_default(self.communication, "nccl_nvlstree_max_chunksize"):
            out["communication.nccl_nvlstree_max_chunksize"] = (
                "read only by the NVLS-tree all-reduce, which runs across nodes (cluster.nodes is 1)"
            )
        out.update(self._unread_by_precision(own))
        if changed_from_default(self.cluster.inter_node, "nic_path") and (why := self._nic_path_unread()):
            out["cluster.inter_node.nic_path"] = why
        if why := self._pcie_gpus_per_nic_unread():
            out["cluster.inter_node.pcie_gpus_per_nic"] = why
        if why := self.cpu_vendor_unread():
            out["cluster.cpu_vendor"] = why
        if self.cluster.host_link is not None and self.cluster.nodes == 1:
            # a GPU's path to its NIC (dpsim.analytic.fabrics.host_link_of): a hop of inter-node transfers only, which a
            # one-node job never makes, alone or on a shared fabric (its groups stay inside its node: round 21)
            out["cluster.host_link"] = "read only across nodes (cluster.nodes is 1: no GPU reaches a NIC)"
        if leaves is None and (why := self._host_topology_unread()):  # a shared fabric routes every group over it
            out["cluster.host_topology"] = why
        if why := self._p2p_latency_unread():
            out["cluster.host_topology.p2p_latency_us"] = why
        if changed_from_default(
            t, "learning_rate"
        ):  # no engine module imports it (dpsim.lr serves the runtime's optimizer)
            out["training.learning_rate"] = (
                "read only by the runtime (python -m runtime, dpsim validate), whose optimizer trains with it: a "
                "step's time does not depend on it"
            )
        if why := self._partition_unread():
            out["training.partition"] = why
        for key, why in self._unread_at_one_rank_or_step().items():
            out.setdefault(key, why)  # DeepSpeed's reason for communication.overlap comes first
        if t.ddp_at_one_rank and self.data_parallel > 1:
            out["training.ddp_at_one_rank"] = "read only with one data-parallel rank (with more DDP runs anyway)"
        if t.gradient_accumulation_pass == "autograd" and self.accumulation_steps == 1:
            out["training.gradient_accumulation_pass"] = (
                "autograd adds a micro-batch's gradients into the last's: read only with accumulation steps > 1"
            )
        v = self.variability
        if v.degraded_links and self.cluster.nodes == 1:  # a NIC's bandwidth, which one node's traffic never crosses
            out["variability.degraded_links"] = "read only across nodes (cluster.nodes is 1: no traffic crosses a NIC)"
        if v.compute_jitter_cv == 0:  # the generator draws the jitter (dpsim.sim.variability.jitter) and the paces
            if changed_from_default(v, "jitter_distribution"):
                out["variability.jitter_distribution"] = "read only with variability.compute_jitter_cv > 0"
            if changed_from_default(v, "seed") and v.rank_speed_sigma == 0:
                out["variability.seed"] = (
                    "read only with variability.compute_jitter_cv or rank_speed_sigma > 0 (nothing is drawn)"
                )
        if engine == "analytic":  # closed forms: one deterministic step, no draw, no event level
            # the jitter's CV and distribution are read by both (the analytic engine prices the expected slowest
            # rank's jittered compute: dpsim.rank_speed.expected_slowest_sum); its draws by the simulator only
            simulator = "read only by the simulator (--engine sim)"
            for section, name, why in (
                (v, "seed", f"{simulator}, which draws the jitter and the ranks' paces"),
                (v, "replications", f"{simulator}: the analytic step is deterministic"),
                (self.simulation, "fidelity", simulator),
                (self.simulation, "steps", simulator),
            ):
                key = f"{'variability' if section is v else 'simulation'}.{name}"
                if changed_from_default(section, name) and key not in out:
                    out[key] = why
        return out

    def _unread_at_one_rank_or_step(self) -> dict[str, str]:
        """Training and communication settings the rest of the scenario leaves nothing to act on: selective
        recomputation on a model without attention (a cnn or mlp: nothing is recomputed; full recomputation reruns
        its forward and is read), FSDP's ``no_sync`` at one accumulation step (no micro-batch before the last; read
        by ``torch.distributed.pipelining``'s stage-end reduction all the same: :func:`dpsim.buckets.
        stage_end_reduction`), ``gradient_as_bucket_view`` where PyTorch DDP's reducer does not run
        (:attr:`runs_ddp`), ``communication.overlap: false`` without data parallelism (no gradient reduction or
        parameter gather to overlap), and ``optimizer_kernels: foreach`` under plain SGD (one ``add_`` either way:
        :data:`dpsim.analytic.step.FOREACH_OPTIMIZER_BYTES_PER_PARAM` and the fused update both 12 bytes a
        parameter). Each was the same step to the bit with the field at its default (stop 41's hostile probe)."""
        from dpsim.buckets import stage_end_reduction

        t, out = self.training, {}
        if t.activation_recomputation == "selective" and self.model.kind != "transformer":
            out["training.activation_recomputation"] = (
                "selective recomputes a transformer's attention core (Megatron-LM --recompute-granularity "
                f"selective), which a model of kind {self.model.kind} does not have: nothing is recomputed"
            )
        if t.fsdp_no_sync and self.accumulation_steps == 1 and not stage_end_reduction(self):
            out["training.fsdp_no_sync"] = (
                "read only with accumulation steps > 1 (no_sync runs the micro-batches before the last; at one "
                "there is none)"
            )
        if t.gradient_as_bucket_view and self.reduces_with_ddp and not self.runs_ddp:
            out["training.gradient_as_bucket_view"] = (
                "read only where PyTorch DDP's reducer runs: with data parallelism, or training.ddp_at_one_rank at "
                "one data-parallel rank (without it there are no buckets)"
            )
        if not self.communication.overlap and self.data_parallel == 1:
            out["communication.overlap"] = (
                "read only with data parallelism (one data-parallel rank: no gradient reduction or parameter gather "
                "to overlap)"
            )
        if t.optimizer_kernels == "foreach" and t.optimizer == "sgd":
            out["training.optimizer_kernels"] = (
                "SGD without momentum updates with one add either way: 12 bytes a parameter fused or foreach"
            )
        out.update(self._unread_without_data_parallelism())
        return out

    def _unread_without_data_parallelism(self) -> dict[str, str]:
        """The gradient collective's settings where there is none, at one data-parallel rank (stop 43; the step was
        the same to the bit with each at its default, stop 42's lead): ``communication.algorithm``, ``protocol``
        and, where no DDP reducer builds buckets (:attr:`runs_ddp`), ``bucket``. Tensor- and pipeline-parallel
        transfers do not read them (rings and point-to-point sends on their own links:
        :func:`dpsim.analytic.parallel.tensor_parallel_collectives`, ``pipeline_p2p_links``). At one rank in all
        (no tensor or pipeline group either) also NCCL's settings (:data:`NCCL_ENV_FIELDS`, ``nccl_tuner``,
        ``nccl_pxn_disable``, ``nccl_nic_fusion``) and, without a reducer, ``communication.dtype``."""
        c = self.communication
        out: dict[str, str] = {}
        if self.data_parallel > 1:
            return out

        alone = self.world_size == 1
        why = (
            "read only with more than one rank (world size 1: no collective runs)"
            if alone
            else "read only with data parallelism (one data-parallel rank: no gradient collective; tensor- and "
            "pipeline-parallel transfers are priced as rings and sends on their own links)"
        )
        names = ["algorithm", "protocol"] + ([] if self.runs_ddp else ["bucket"])
        if alone:
            names += [*NCCL_ENV_FIELDS, "nccl_tuner", "nccl_pxn_disable", "nccl_nic_fusion"]
            names += [] if self.runs_ddp else ["dtype"]
        for name in names:
            if changed_from_default(c, name):
                out[f"communication.{name}"] = why
        return out

    def _unread_by_deepspeed(self) -> dict[str, str]:
        """DDP's bucket and overlap settings DeepSpeed ZeRO does not read (:func:`dpsim.sharding.collective_pieces`):
        it reduces in ``reduce_bucket_size`` buckets, gathers once after the step (stages 1/2) or in
        ``stage3_prefetch_bucket_size`` pieces (layers at 0), so ``communication.bucket`` is never read; and
        ``communication.overlap`` only with its ``overlap_comm`` (the gradient reduction:
        :attr:`overlaps_gradient_reduction`) or ZeRO-3's prefetch (the gathers ahead of use)."""
        ds, c = self.deepspeed, self.communication
        out: dict[str, str] = {}
        if ds is None:
            return out
        if changed_from_default(c, "bucket"):
            out["communication.bucket"] = (
                "DeepSpeed ZeRO sizes its own buckets: training.deepspeed_reduce_bucket_size (gradients), "
                "training.deepspeed_prefetch_bucket_size (ZeRO-3's gathers)"
            )
        gathers_ahead = self.training.zero_stage == 3 and ds.prefetch_bucket_size > 0
        after = self.bf16_reduces_after_backward
        gradient = ds.overlap_comm and not self.training.zero3_gradient_allreduce and not after
        if changed_from_default(c, "overlap") and not gathers_ahead and not gradient:
            out["communication.overlap"] = (
                "DeepSpeed's BF16_Optimizer (gradient_accumulation_pass: fp32_copy at zero_stage 1) all-reduces its "
                "gradients after the backward: nothing overlaps it"
                if after
                else "under DeepSpeed ZeRO read only with training.deepspeed_overlap_comm: true (or ZeRO-3's prefetch)"
            )
        if self.deepspeed_bf16_optimizer:  # no IPG buckets (dpsim.sharding.collective_pieces), no IPG buffers
            bf16 = "DeepSpeed's BF16_Optimizer (gradient_accumulation_pass: fp32_copy)"
            t = self.training
            if changed_from_default(t, "deepspeed_reduce_bucket_size"):
                out["training.deepspeed_reduce_bucket_size"] = (
                    f"{bf16} has no reduce buckets: it all-reduces its flat fp32 gradient whole"
                )
            if after and changed_from_default(t, "deepspeed_overlap_comm"):
                out["training.deepspeed_overlap_comm"] = (
                    f"{bf16} at zero_stage 1 registers no gradient hooks and keeps no reduce buffers: it all-reduces "
                    "after the backward"
                )
        return out

    def _unread_at_flat_rate(self, cause: str) -> dict[str, str]:
        """A transformer's shape fields a step priced at one fraction of peak does not read (stop 43; stop 42's lead:
        the step was the same to the bit, unlisted): ``model.causal`` (read only by the attention operation's FLOPs
        and fused-kernel rate, :func:`dpsim.compute.layer_kernels`; the model's training FLOPs apply no causal
        discount, :mod:`dpsim.catalog`) and, without tensor parallelism, ``model.parallel_block`` (else it also sets
        the TP all-reduces a layer, :func:`dpsim.analytic.parallel.tensor_parallel_counts`). Compared with the
        preset's own value where the model has one, else the field's default. ``loss_kernel`` is read by the memory
        model's loss peak at any rate and stays unlisted."""
        m = self.model
        out: dict[str, str] = {}
        preset = catalog.MODELS.get(m.preset) if m.preset else None

        def own(name: str) -> bool:
            base = getattr(preset, name) if hasattr(preset, name) else field_default(type(m), name)
            return bool(getattr(m, name) != base)

        if m.kind != "transformer":
            return out
        if own("causal"):
            out["model.causal"] = (
                f"read only by the attention operation's FLOPs and fused-kernel rate, which a step priced at one "
                f"fraction of peak does not price ({cause}); the training FLOPs count no causal discount"
            )
        if own("parallel_block") and self.training.tensor_parallel == 1:
            out["model.parallel_block"] = (
                f"read by the layer's operations, which a step priced at one fraction of peak does not price "
                f"({cause}), and by the tensor-parallel all-reduces a layer (tensor_parallel is 1)"
            )
        return out

    def _unread_by_compute_model(self, own: Callable[[str], bool]) -> dict[str, str]:
        """The device's compute fields the step's compute model does not read (other than the catalog's): priced flat
        (:func:`dpsim.compute.prices_flat`), none of the GEMM and attention curves; priced by operations,
        ``flat_efficiency``, and the wave and attention fields their switches leave off."""
        from dpsim.compute import prices_flat

        device, m, out = self.cluster.device, self.model, {}
        if prices_flat(m, device):
            cause = (
                "cluster.device.efficiency is set"
                if device.efficiency is not None
                else f"model.kind is {m.kind}"
                if m.kind != "transformer"
                else "the device has no matmul_efficiency"
            )
            why = (
                f"read only by a transformer's operations on the GEMM and attention curves; {cause}, so every FLOP "
                "is priced at one fraction of peak"
            )
            for name in (*GEMM_CURVE_FIELDS, *(("flat_efficiency",) if device.efficiency is not None else ())):
                if own(name):
                    out[f"cluster.device.{name}"] = why if name != "flat_efficiency" else f"{cause}: it overrides it"
            kernels = (
                f"shapes a transformer's memory-bound kernels (dpsim.compute.layer_kernels), which a step priced at "
                f"one fraction of peak does not price ({cause}); no memory term or runtime reads it"
            )
            for name in FLAT_UNREAD_MODEL_FIELDS:  # refused on a cnn or mlp (transformer-only fields)
                if changed_from_default(m, name):
                    out[f"model.{name}"] = kernels
            out.update(self._unread_at_flat_rate(cause))
            return out
        if m.kind == "transformer" and m.flops_per_sample != m.shape_flops_per_sample:
            out["model.flops_per_sample"] = (
                "read only by mfu: this transformer's step is priced from its layers' operations (GEMMs, attention, "
                "memory-bound kernels), not from a count of FLOPs; mfu divides the count given by the priced step "
                f"(the shape's count is {m.shape_flops_per_sample:.4g})"
            )
        if own("flat_efficiency"):
            out["cluster.device.flat_efficiency"] = (
                "read only where every FLOP is priced at one fraction of peak (model.kind cnn or mlp, a device "
                "without matmul_efficiency); this transformer's operations are priced on the GEMM curve"
            )
        # wave quantisation reads the SM count and tile (dpsim.compute.gemm_time)
        if device.gemm_waves and device.sm_count is None:
            out["cluster.device.gemm_waves"] = "read only with cluster.device.sm_count (the SMs a wave fills)"
        elif not device.gemm_waves:
            for name in ("sm_count", "gemm_tile"):
                if own(name):
                    out[f"cluster.device.{name}"] = "read only with cluster.device.gemm_waves: true"
        # a fused attention kernel's curves (dpsim.compute.attention_rate); FlashAttention-2's with that kernel only
        curves = ("attention_efficiency", "attention_half_seq", "attention_efficiency_fa2", "attention_half_seq_fa2")
        unread = curves if m.attention != "flash" else curves[2:] if m.attention_kernel != "fa2" else ()
        why = "model.attention: flash" if m.attention != "flash" else "model.attention_kernel: fa2"
        for name in (n for n in unread if own(n)):
            out[f"cluster.device.{name}"] = f"read only with {why}"
        return out

    def _unread_by_precision(self, own: Callable[[str], bool]) -> dict[str, str]:
        """The device's peaks and plateau of a precision the step does not run (other than the catalog's), and
        ``fp32_matmul`` without fp32 training: the GEMMs run at ``DeviceConfig.peak_for(training.precision)``, the
        rest at its working dtype's (:mod:`dpsim.compute`), and MFU divides by the same peak
        (:func:`dpsim.compute.mfu_peak_flops`)."""
        t, out = self.training, {}
        ieee = t.fp32_matmul == "ieee" and self.cluster.device.peak_flops_fp32_ieee is not None
        fp32 = ["peak_flops_fp32_ieee"] if ieee else ["peak_flops_fp32"]  # the one compute_device reads
        read = {"fp32": fp32, "fp8": ["peak_flops_fp8", "matmul_efficiency_fp8"]}.get(t.precision, [])
        needs = {
            "peak_flops_fp32": "training.precision: fp32 and training.fp32_matmul: tf32 (or a device without "
            "cluster.device.peak_flops_fp32_ieee)",
            "peak_flops_fp32_ieee": "training.precision: fp32 and training.fp32_matmul: ieee",
            "peak_flops_fp8": "training.precision: fp8",
            "matmul_efficiency_fp8": "training.precision: fp8",
        }
        for name in (n for n in needs if n not in read and own(n)):
            out[f"cluster.device.{name}"] = f"read only with {needs[name]}"
        if t.precision == "fp32" and self.cluster.device.peak_flops_fp32 is not None and own("peak_flops"):
            out["cluster.device.peak_flops"] = (  # peak_for(fp32) and its working dtype's, fp32 too, read the fp32 one
                "the 16-bit peak: read only with training.precision bf16, fp16 or fp8 (fp32 training runs at "
                "peak_flops_fp32, or peak_flops_fp32_ieee)"
            )
        if t.fp32_matmul != type(t).model_fields["fp32_matmul"].default and (
            t.precision != "fp32" or self.cluster.device.peak_flops_fp32_ieee is None
        ):  # without an IEEE peak fp32 GEMMs run at peak_flops_fp32 either way (dpsim.compute.compute_device)
            out["training.fp32_matmul"] = (
                "read only with training.precision: fp32 on a device with cluster.device.peak_flops_fp32_ieee"
            )
        return out

    def _host_topology_unread(self) -> str:
        """Why ``cluster.host_topology`` as a whole is read by nothing here, or '' where something reads it: with one
        GPU a node there is no path inside a node (no switch uplink, socket link or ring edge); with tensor or pipeline
        parallelism only a data-parallel group holding every GPU of a node sees the node's host topology
        (:func:`dpsim.analytic.fabrics.dp_fabric`): a group with part of a node, one GPU of it or no data parallelism
        rings without it, and the tensor-parallel groups and the pipeline's sends never see one."""
        if self.cluster.host_topology is None:
            return ""
        g = self.cluster.workers_per_node
        if g == 1:
            return "read only inside a node of two or more GPUs (cluster.workers_per_node is 1)"
        t = self.training
        if t.tensor_parallel * t.pipeline_parallel == 1:
            return ""
        from dpsim.analytic.fabrics import dp_fabric

        held = dp_fabric(self).per_node if self.data_parallel > 1 else 0
        if held == g:
            return ""
        return (
            f"read only by a data-parallel group over all of a node's GPUs: tensor and pipeline parallelism leave each "
            f"data-parallel group {held} of the node's {g} (tensor-parallel groups and the pipeline's sends see no "
            "host topology)"
        )

    def _p2p_latency_unread(self) -> str:
        """Why ``cluster.host_topology.p2p_latency_us`` is read by nothing here, or '' where a ring step reads it: with
        one GPU a node no ring edge lies inside a node; a textbook algorithm or ``protocol: none`` prices the links'
        alpha-beta, not NCCL's steps; only a data-parallel group over a whole node runs a ring on the node's host
        topology (:func:`dpsim.analytic.fabrics.dp_fabric`: a tensor-parallel group, or a data-parallel one with part of
        a node, sees none; the pipeline's sends are not ring steps); and a node whose NCCL ring has an SHM edge keeps
        NCCL's per-step figure (:attr:`dpsim.sim.collectives.base.Layout.p2p_step_s`)."""
        host = self.cluster.host_topology
        if host is None or host.p2p_latency_us is None:
            return ""
        if self.cluster.workers_per_node == 1:
            return "read only by ring steps inside a node (cluster.workers_per_node is 1)"
        from dpsim.analytic.fabrics import host_topology_of
        from dpsim.sim.collectives import TEXTBOOK

        c = self.communication
        if c.protocol == "none" or self.collective_algorithm in TEXTBOOK:
            named = "protocol: none" if c.protocol == "none" else f"algorithm: {c.algorithm}"
            return f"read only by NCCL's ring and tree steps: communication.{named} prices the links' alpha-beta"
        if why := self._host_topology_unread():  # no data-parallel group holds a whole node: no host topology at all
            return why
        topology = host_topology_of(self)
        if topology is not None and any(topology.shm_edges):
            return (
                "read only where every edge of the node's NCCL ring is P2P (this ring has edges through host memory, "
                "SHM, whose steps keep NCCL's figure; NCCL_P2P_LEVEL, communication.nccl_p2p_level, sets which)"
            )
        return ""

    def _nic_path_unread(self) -> str:
        """Why ``cluster.inter_node.nic_path: c2c`` is read by nothing here, or '' where NCCL reads it: on CPU devices
        (gloo) and on one node there is no GPU-to-NIC path, and it moves only LL128 across nodes before v2.27.3
        (:attr:`dpsim.sim.collectives.base.Layout.ll128_across_nodes`) and Blackwell's NVLS-tree tuning from v2.30.3
        (``ncclNvlsTreeSm100Tuning``): from v2.27.3 on another GPU nothing reads it."""
        from dpsim.analytic.fabrics import nccl_arch
        from dpsim.sim.collectives.nccl_tuner import DEFAULT_NCCL_VERSION, P2C_SINCE, released

        if self.cluster.gloo:
            return "read only by NCCL (on cluster.device: cpu gloo reduces)"
        if self.cluster.nodes == 1:
            return "read only across nodes (cluster.nodes is 1: no GPU reaches a NIC)"
        version = self.communication.nccl_version or DEFAULT_NCCL_VERSION
        if released(version, P2C_SINCE) and nccl_arch(self) != "blackwell":
            return (
                f"NCCL {version} enables LL128 on a C2C path (P2C, from 2.27.3) as on PCIe, and only Blackwell's "
                "NVLS-tree tuning reads it further"
            )
        return ""

    def cpu_vendor_unread(self) -> str:
        """Why ``cluster.cpu_vendor`` is read by nothing here, or '' where it is read (unset, or NCCL across nodes).
        Round 30: NCCL's tuner reads the host CPU's constants across nodes only (:mod:`dpsim.sim.collectives.nccl`:
        ``net_overhead_us`` floors a multi-node ring's intra step, ``ll_max_row`` reads the GPU's own row on one
        node), and gloo none; round 31: nor ``communication.protocol: none`` (every collective on the links'
        alpha-beta, no NCCL constant: the same step and collective rows to the bit for every algorithm, 2 nodes of 8
        A100). Both a step's (:meth:`ignored_fields`) and ``dpsim collective``'s list read it."""
        c = self.cluster
        if c.cpu_vendor is None:
            return ""
        if c.gloo:
            return "read only by NCCL (on cluster.device: cpu gloo reduces)"
        if c.nodes == 1:
            return "read only across nodes (cluster.nodes is 1: NCCL's tuner reads the GPU's own constants)"
        if self.communication.protocol == "none":  # round 31: every collective on the links' alpha-beta
            return "read only by NCCL's protocols (communication.protocol is none: the links' alpha-beta)"
        return ""

    def _pcie_gpus_per_nic_unread(self) -> str:
        """Why ``cluster.inter_node.pcie_gpus_per_nic: 1`` is read by nothing here, or '' where NCCL reads it (2 or more
        is the unset meaning). Its three readers all need NCCL, several nodes and several GPUs a node: PXN's relay
        through the NIC's GPU (:func:`dpsim.analytic.collectives.pxn_relays`,
        :func:`dpsim.sim.collectives.nccl.pxn_exit`) also NVLink inside the node, and the tree's fallback to NCCL's
        ``TREE`` pattern (:meth:`dpsim.sim.collectives.base.Layout.tree_pattern`, ``search.cc`` ``ccMin >= 90``) a
        Hopper or later GPU and the tree: on PCIe nodes of older GPUs (an A100 over PCIe Gen4) neither applies, and on
        any PCIe node only the tree (named, or ``auto``'s pick) reads it. Other algorithm-dependent cases on NVLink
        nodes are not listed (whether a ring leg is relayed depends on the NICs and the link binding)."""
        from dpsim.analytic.fabrics import nccl_arch

        c = self.cluster
        if c.inter_node.pcie_gpus_per_nic != 1:
            return ""
        if c.gloo:
            return "read only by NCCL (on cluster.device: cpu gloo reduces)"
        if c.nodes == 1:
            return "read only across nodes (cluster.nodes is 1: no GPU reaches a NIC)"
        if c.workers_per_node == 1:
            return "read only with several GPUs a node (cluster.workers_per_node is 1: no relay, no chain in the node)"
        if c.intra_pcie and nccl_arch(self) not in ("hopper", "blackwell"):
            return (
                "read only with NVLink inside the node (PXN's relay through the NIC's GPU) or on Hopper and later "
                "(NCCL's tree falls back to its TREE pattern): a PCIe node of an older GPU reads neither"
            )
        if c.intra_pcie and self.collective_algorithm not in ("tree", "auto"):
            return (
                "on a PCIe node read only by NCCL's tree (its TREE pattern on Hopper and later): communication."
                f"algorithm {self.communication.algorithm} runs none"
            )
        return ""

    def scenario_hash(self) -> str:
        """Stable short hash of the resolved scenario (provenance in result records)."""
        return data_hash(self.model_dump(mode="json"))


def data_hash(data: Any) -> str:
    """:meth:`Scenario.scenario_hash` of a scenario's JSON form ``data`` (``model_dump(mode="json")``, or a copy of
    it with some values rewritten, as ``benchmarks/predict_identity.py`` writes the checkout's path)."""
    text = json.dumps(data, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.cache
def _catalog_device(name: str) -> DeviceConfig:
    """The catalog device ``name`` as a scenario gets it (:meth:`Scenario.ignored_fields` compares fields with it)."""
    return DeviceConfig.model_validate(name)


def _nearest(value: int, step: int) -> str:
    """The multiples of ``step`` on either side of ``value`` (the smallest is ``step``)."""
    below, above = (value // step) * step, (value // step + 1) * step
    return f"{above}" if below < step else f"{below} or {above}"


class _FieldError(ValueError):
    """Raised inside validators that know the full field path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


# --- loading, overrides, dumping ------------------------------------------------------------


def default_scenario_path() -> Path:
    """The bundled default scenario (``scenarios/default.yaml``)."""
    return Path(str(resources.files("dpsim") / "scenarios" / "default.yaml"))


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``PATH=VALUE``; the value is parsed as YAML (so lists and maps work)."""
    if "=" not in text:
        raise ScenarioError("--set", f"expected PATH=VALUE, got {text!r}", "<command line>")
    path, raw = text.split("=", 1)
    path = path.strip()
    if not path or any(not part for part in path.split(".")):
        raise ScenarioError("--set", f"expected a dotted field path before '=', got {text!r}", "<command line>")
    if len(path) > 200 or not path.isprintable():
        raise ScenarioError("--set", f"expected a dotted field path, got {inputs.brief(path)}", "<command line>")
    try:
        value = inputs.load_yaml(raw, "<command line>") if raw.strip() else ""
    except ScenarioError as exc:
        raise ScenarioError(path, f"value {inputs.brief(raw)} is not valid YAML: {exc.message}", exc.source) from None
    return path, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str | tuple[str, Any]]) -> dict[str, Any]:
    """Return a copy of raw scenario ``data`` with ``--set`` overrides applied."""
    data = copy.deepcopy(data)
    created: set[tuple[str, ...]] = set()
    for item in overrides:
        path, value = parse_override(item) if isinstance(item, str) else item
        node: Any = data
        parts = path.split(".")
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                node = node[_index(part, ".".join(parts[: i + 1]), node)]
                continue
            child = node.get(part)
            if isinstance(child, str) and i + 1 < len(parts):  # "device: a100-80gb" → {preset: a100-80gb}
                child = {"preset": child}
                node[part] = child
            if child is None:
                child = {}
                node[part] = child
                created.add(tuple(parts[: i + 1]))
            if not isinstance(child, (dict, list)):
                raise ScenarioError(path, f"cannot set a field inside {part!r}, which is {child!r}", "<command line>")
            node = child
        if isinstance(node, list):
            node[_index(parts[-1], path, node)] = value
        else:
            node[parts[-1]] = value
    _default_links(data, created)
    return data


def _default_links(data: dict[str, Any], created: set[tuple[str, ...]]) -> None:
    """Links the scenario left to their default that ``--set`` changed one field of: that default's preset.

    ``--set cluster.inter_node.nics_per_node=4`` on a scenario without ``inter_node`` changes the
    link it runs on (ib-hdr), as it would under ``inter_node: {preset: ib-hdr}``; without this
    the other fields were lost (``bandwidth: required field is missing``, or a latency of 0 s).
    Done after every override, so the host link follows the final device and intra-node link.
    """
    cluster = data.get("cluster")
    if not isinstance(cluster, dict):
        return
    for name in ("intra_node", "inter_node", "host_link"):
        link = cluster.get(name)
        if ("cluster", name) not in created or not isinstance(link, dict) or link.get("preset") is not None:
            continue
        if name == "host_link":
            preset = default_host_link(_raw_preset(cluster.get("device"), catalog.DEVICES), _intra_preset(cluster))
        else:
            preset = ClusterConfig.model_fields[name].get_default(call_default_factory=True).preset
        if preset is not None:
            cluster[name] = {"preset": preset, **link}
        elif name == "host_link" and link.get("bandwidth") is None:
            raise ScenarioError(
                f"cluster.{name}",
                f"no default host link to change {', '.join(map(str, link)) or 'a field'} of (the intra-node link "
                "is PCIe itself, or the device is not from the catalog): give a preset such as pcie5, or a bandwidth",
                "<command line>",
            )


def _raw_preset(section: Any, table: Mapping[str, Any]) -> str | None:
    """The catalog key a raw section names (``name`` or ``{preset: name}``), None if it names none."""
    name = section.get("preset") if isinstance(section, dict) else section
    if not isinstance(name, str):
        return None
    try:
        return str(catalog.lookup(dict(table), name, "entry").name)
    except KeyError:
        return None


def _intra_preset(cluster: Mapping[str, Any]) -> str | None:
    if "intra_node" not in cluster:
        return str(ClusterConfig.model_fields["intra_node"].get_default(call_default_factory=True).preset)
    return _raw_preset(cluster["intra_node"], catalog.LINKS)


def overlapping_overrides(items: Sequence[tuple[str, Sequence[Any]]]) -> str | None:
    """Why two of ``items`` (path, the values it takes; in the order :func:`apply_overrides` applies them) give one
    field two values, or None. A path applied before one that holds it (``training.micro_batch`` before
    ``training``) is replaced whole by it; a map or preset that already holds what a later path sets
    (``training={micro_batch: 1}`` before ``training.micro_batch``) has that value overwritten. A path set inside a
    value that does not hold it (``cluster.device=h100-sxm`` before ``cluster.device.matmul_efficiency``) is one
    value a field, and passes."""
    for i, (outer, values) in enumerate(items):
        if (replaced := replaced_whole([path for path, _ in items[: i + 1]])) is not None:
            return replaced
        for inner, _ in items[i + 1 :]:
            rest = inner[len(outer) + 1 :].split(".")
            if inner.startswith(outer + ".") and any(_holds(value, rest) for value in values):
                return f"{outer} already gives {inner}, which is set too: one of them"
    return None


def replaced_whole(paths: Sequence[str]) -> str | None:
    """Why a path of ``paths`` (in the order they are applied) is lost, or None: the last of them holds an earlier one
    and replaces its value whole (:func:`replaced_path`)."""
    if paths and (pair := replaced_path(paths[:-1], paths[-1:])) is not None:
        return f"{pair[0]} is set before {pair[1]}, which replaces it whole: set {pair[1]} first, or one of them"
    return None


def refuse_overlapping_sets(parsed: Sequence[tuple[str, Any]]) -> None:
    """``--set`` a path and then one that holds it (``cluster.device.matmul_efficiency=0.3`` then
    ``cluster.device=h100-sxm``: the preset replaced the device whole, so 0.3 and 0.9 priced the same step while the
    result's name claimed the efficiency): one line naming ``--set``, as a ``--vary`` or ``validate --case`` that
    does so (:func:`overlapping_overrides`). ``--set`` is applied in order, so a later value of a field wins as
    before: one path set twice, or a field inside a map set before (``training={...}`` then
    ``training.micro_batch``) is its last value."""
    paths = [path for path, _ in parsed]
    for i in range(len(paths)):
        if (replaced := replaced_whole(paths[: i + 1])) is not None:
            raise ScenarioError("--set", replaced, "<command line>")


def replaced_path(earlier: Iterable[str], later: Iterable[str]) -> tuple[str, str] | None:
    """The first (path of ``earlier``, path of ``later`` that holds it): applied after it, the later one replaces
    it whole (:func:`apply_overrides` sets a path's whole value), so the earlier value is gone without a word."""
    earlier = list(earlier)
    for outer in later:
        inner = next((path for path in earlier if path.startswith(outer + ".")), None)
        if inner is not None:
            return inner, outer
    return None


def _holds(value: Any, parts: Sequence[str]) -> bool:
    """Whether ``value`` (as :func:`apply_overrides` reads it: a text where a map is expected is its preset) holds
    the field at ``parts``."""
    for part in parts:
        if isinstance(value, str):
            value = {"preset": value}
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isascii() and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False
    return True


def _index(part: str, path: str, items: list[Any]) -> int:
    """``part`` (the last element of ``path``) as an index into ``items``: ASCII digits (``int`` reads ``'١'`` as
    1), one of the items there are (past the end was "list index out of range", 10^20 "cannot fit 'int'")."""
    if not (part.isascii() and part.isdigit()):
        raise ScenarioError(path, f"expected a list index, got {inputs.brief(part)}", "<command line>")
    if len(part) > 7 or int(part) >= len(items):
        last = f"indices 0 .. {len(items) - 1}" if items else "no index"
        raise ScenarioError(path, f"the list has {len(items)} item(s) ({last}), got {inputs.brief(part)}",
                            "<command line>")  # fmt: skip
    return int(part)


def _section_class(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that holds the last element of ``loc`` (for did-you-mean)."""
    cls: Any = Scenario
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or part not in cls.model_fields:
            return None
        cls = _model_in(cls.model_fields[part].annotation)
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    loc = tuple(error["loc"])
    field = ".".join(inputs.brief(p) if not isinstance(p, (str, int)) else inputs.safe_text(str(p))[:60] for p in loc)
    kind, msg, given = error["type"], str(error["msg"]), error.get("input")
    if kind == "extra_forbidden":
        section = _section_class(loc)
        known = sorted(section.model_fields) if section else []
        hint = did_you_mean(str(loc[-1]), known) or f"expected one of: {', '.join(known)}"
        return field, f"unknown key ({hint})"
    if kind == "missing":
        return field, "required field is missing"
    if kind in ("value_error", "assertion_error"):
        ctx = error.get("ctx") or {}
        exc = ctx.get("error")
        if isinstance(exc, _FieldError):
            return exc.field, exc.message
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        head = msg.split(": ", 1)[0]
        name, _, item = head.partition(".")  # a field, an item of a list field (attention_efficiency.0), or a
        # field of a section inside (inter_node.nics_per_node: was "cluster: inter_node.nics_per_node: ...")
        inner = item.isidentifier() and section_has((*loc, name), item)
        if ": " in msg and kind == "value_error" and name.isidentifier() and (not item or item.isdigit() or inner):
            sub, rest = msg.split(": ", 1)  # loc (): a top-level field
            if section_has(loc, name):
                return f"{field}.{sub}" if field else sub, rest
        return field, msg
    if kind == "literal_error":
        # the allowed values as pydantic lists them ("'gpipe', '1f1b' or 'interleaved'"): the closest one offered
        allowed = re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))
        hint = did_you_mean(given, allowed) if isinstance(given, str) else ""
        return field, f"{msg.replace('Input should be', 'expected')}, got {inputs.brief(given)}" + (
            f" ({hint})" if hint else ""
        )
    if kind == "model_type" or kind == "dict_type":
        return field, f"expected a mapping of fields, got {inputs.brief(given)}"
    if (
        kind in ("list_type", "tuple_type")
        and isinstance(given, dict)
        and given
        and all(isinstance(k, str) and k.isascii() and k.isdigit() for k in given)
    ):  # --set FIELD.2=... into a list the file does not hold (apply_overrides made {'2': ...} of it)
        return field, (
            f"expected a list; {field}.{next(iter(given))} indexes a list the scenario does not write (it comes from "
            f"a preset or the default), so there is none to index: set the whole list, {field}=[...]"
        )
    return field, _expected(msg, given)


# pydantic's "Input should be a valid X" types, as the house names them ("expected an integer, got None")
_VALID_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "list": "a list",
    "tuple": "a list",
    "dictionary": "a mapping",
    "set": "a list",
}


def _expected(msg: str, given: Any) -> str:
    """pydantic's ``Input should be X[, detail]`` in the house's words, ``expected X, got Y[ (detail)]``; any other
    wording as pydantic gives it, with what was given."""
    if not msg.startswith("Input should be "):
        return f"{msg} (got {inputs.brief(given)})"
    what, _, detail = msg.removeprefix("Input should be ").partition(", ")
    if what.startswith("a valid "):
        what = _VALID_TYPES.get(what.removeprefix("a valid "), what)
    elif what.startswith(("greater ", "less ")):
        what = f"a number {what}"
    return f"expected {what}, got {inputs.brief(given)}" + (f" ({detail.removeprefix('got ')})" if detail else "")


def section_has(loc: tuple[Any, ...], name: str) -> bool:
    section = _section_class((*loc, name))
    return section is not None and name in section.model_fields


def _preset_cleared(data: Mapping[str, Any], path: str) -> bool:
    """Whether the section at ``path`` (``model.preset``) has a null preset in ``data``: ``--set model.preset=null``
    took it away."""
    *sections, _ = path.split(".")
    section: Any = data
    for name in sections:
        section = section.get(name) if isinstance(section, dict) else None
    return isinstance(section, dict) and "preset" in section and section["preset"] is None


def scenario_from_dict(
    data: Any, source: str = "<scenario>", overridden: Sequence[str] = (), before: Any = None
) -> Scenario:
    """Validate raw scenario data (a mapping, as read from YAML) into a :class:`Scenario`.

    An error in a field the command line set (``overridden``, or inside one) names
    ``<command line>`` as its source instead of the file. So does a constraint between fields that names one the
    command line left alone (``--set training.optimizer_sharding=fsdp`` refused as the file's ``zero_stage``) when
    ``before``, the data without the overrides, is valid (``True``: known to be): the overrides broke it, and the
    error says beside which of them (:func:`_blame_overrides`).
    """
    if not isinstance(data, dict):
        raise ScenarioError("", f"a scenario must be a mapping of sections, got {type(data).__name__}", source)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()[:50]
        # a required field reported missing is often explained by a misspelled key beside it (`global_bach: 8`):
        # the unknown key, with its did-you-mean, and any wrong value come before what is missing
        errors.sort(key=lambda error: error["type"] == "missing")
        described = [_describe(error) for error in errors]
        # the error in a field the command line set, when there is one (`--set calibration.foo=1` is about
        # foo, not the profile that calibration then lacks)
        set_here = [(f, m) for f, m in described if any(f == p or f.startswith(p + ".") for p in overridden)]
        field, message = set_here[0] if set_here else described[0]
        if any(field == p or field.startswith(p + ".") or p.startswith(field + ".") for p in overridden if field):
            source = "<command line>"
        else:  # `--set model.preset=null` left the file's model without its preset: the override is at fault
            cleared = [p for p in overridden if p.endswith(".preset") and _preset_cleared(data, p)]
            for path in cleared:
                if field.startswith(path.removesuffix("preset")):
                    field, message, source = path, f"without a preset, {field}: {message}", "<command line>"
                    break
            else:
                field, message, source = _blame_overrides(field, message, source, overridden, before)
        raise ScenarioError(field or "(top level)", message, source) from None
    except (RecursionError, OverflowError, MemoryError) as exc:  # pragma: no cover - bounded by the loader
        raise ScenarioError("(top level)", f"cannot validate: {type(exc).__name__}", source) from None
    except _FieldError as exc:  # pragma: no cover - pydantic wraps these
        raise ScenarioError(exc.field, exc.message, source) from None


def _blame_overrides(
    field: str, message: str, source: str, overridden: Sequence[str], before: Any
) -> tuple[str, str, str]:
    """A file's ``field`` refused only beside the command line's overrides, as the error of those overrides.

    When ``before`` (the scenario without them) validates, they made the file's ``field`` wrong: a constraint
    between two fields (``optimizer_sharding`` against ``zero_stage``) was blamed on the file, which is valid. The
    error keeps the field the constraint names (the one to change) with ``<command line>`` as its source, and says
    beside which overrides it was refused: those its text mentions (by path or last key), else every one."""
    if not overridden or not field or not (before is True or isinstance(before, dict)):
        return field, message, source
    try:
        if before is not True:  # True: known valid (a sweep's base, checked before its points)
            Scenario.model_validate(before)
    except (ValidationError, ValueError, RecursionError, OverflowError):
        return field, message, source  # the file alone is wrong: its own error stands
    paths = list(dict.fromkeys(overridden))
    named = [
        p for p in paths
        if re.search(rf"(?<![\w.]){re.escape(p.rsplit('.', 1)[-1])}(?![\w])", message) or p in message
    ]  # fmt: skip
    them = "them" if len(named or paths) > 1 else "it"
    return field, f"refused beside {', '.join(named or paths)} (valid without {them}): {message}", "<command line>"


def scenario_source(path: str | Path | None) -> str:
    """How errors name a scenario: its path, ``<stdin>`` for ``-``, ``default.yaml`` for None."""
    if path is None:
        return "default.yaml"
    return "<stdin>" if str(path) == inputs.STDIN else inputs.safe_text(str(path))


def read_scenario_data(path: str | Path | None = None) -> dict[str, Any]:
    """The raw mapping of a scenario file (``-`` = stdin), read through :mod:`dpsim.inputs`."""
    file = Path(path) if path is not None else default_scenario_path()
    source = scenario_source(path)
    return scenario_mapping(inputs.read_text(file if str(path) != inputs.STDIN else inputs.STDIN, source), source)


def scenario_mapping(text: str, source: str) -> dict[str, Any]:
    """The raw mapping of a scenario's YAML ``text`` (already read, as ``dpsim report -`` reads stdin)."""
    data = inputs.load_yaml(text, source)
    if data is None:
        raise ScenarioError("", "the file is empty: expected model, cluster and training sections", source)
    if not isinstance(data, dict):
        raise ScenarioError("", f"a scenario must be a mapping of sections, got {type(data).__name__}", source)
    return data


def named_after_overrides(data: dict[str, Any], overrides: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """``data`` whose ``name`` says which fields the command line changed (unless it set the name)."""
    paths = [p for p, _ in overrides]
    if not paths or "name" in paths or not isinstance(data.get("name", "scenario"), str):
        return data
    # escaped: a value the field refuses (a zero-width space) is that field's error, not the derived name's
    last = {p: v for p, v in overrides}  # a path set twice ran its last value: named once, with it
    ran = [(p, last.pop(p)) for p, _ in reversed(overrides) if p in last][::-1]
    changes = inputs.safe_text(", ".join(f"{p}={v}" if isinstance(v, (str, int, float)) else p for p, v in ran))
    name = f"{data.get('name', 'scenario')} [{changes}]"
    return {**data, "name": name if len(name) <= MAX_NAME else name[: MAX_NAME - 4] + "...]"}


def load_scenario(
    path: str | Path | None = None, overrides: Iterable[str | tuple[str, Any]] = (), *, batch_free: bool = False
) -> Scenario:
    """Read a YAML scenario (the bundled default when ``path`` is None, stdin for ``-``) and apply overrides.

    The scenario's name gains the overridden fields (``name [training.zero_stage=2]``).
    ``batch_free``: the caller uses the cluster, not the training batch (``dpsim collective``), so a
    ``training.global_batch`` the command line did not set becomes ``auto`` and cannot fail to divide
    a new rank count.
    Raises :class:`ScenarioError` with ``<file>: <field.path>: <what is wrong>``
    (``<command line>: ...`` when an override is at fault).
    """
    file = Path(path) if path is not None else default_scenario_path()
    source = scenario_source(path)
    data = read_data = read_scenario_data(path)
    parsed = [parse_override(o) if isinstance(o, str) else o for o in overrides]
    refuse_overlapping_sets(parsed)
    try:
        data = named_after_overrides(apply_overrides(data, parsed), parsed)
    except ScenarioError as exc:
        raise exc.with_source("<command line>") from None
    except (IndexError, KeyError, TypeError, AttributeError) as exc:
        raise ScenarioError("--set", f"cannot apply override: {inputs.brief(str(exc))}", "<command line>") from None
    before = read_data
    if batch_free and "training.global_batch" not in {p for p, _ in parsed} and isinstance(data.get("training"), dict):
        data["training"] = {**data["training"], "global_batch": "auto"}
        if isinstance(before.get("training"), dict):
            before = {**before, "training": {**before["training"], "global_batch": "auto"}}
    scenario = scenario_from_dict(data, source, overridden=[p for p, _ in parsed], before=before)
    resolve_profile(scenario, file.parent, [p for p, _ in parsed])
    return scenario


def resolve_profile(
    scenario: Scenario, file_dir: Path | None, overridden: Iterable[str], cwd: Path | None = None
) -> None:
    """Make a relative ``calibration.profile`` absolute: against the current directory (``cwd``, else now's) when
    the command line set it (``--set`` / ``--vary`` of ``calibration`` or ``calibration.profile``: a path typed in a
    shell is the shell's), against the scenario file's folder ``file_dir`` when the file wrote it (None: left as is).
    Before, a typed path was read from the scenario's folder too, so ``dpsim run --set
    calibration.profile=profile.yaml`` right after ``dpsim calibrate`` looked for it beside the bundled default."""
    cal = scenario.calibration
    if cal is None or Path(cal.profile).is_absolute():
        return
    typed = any(p == "calibration" or p.startswith("calibration.") for p in overridden)
    base = (cwd or Path.cwd()) if typed else file_dir
    if base is not None:
        cal.profile = str((base / cal.profile).resolve())


def scenario_data(scenario: Scenario) -> dict[str, Any]:
    """The resolved scenario as plain data (quantities as text with units): what ``dpsim check --dump`` prints."""
    return scenario.model_dump(mode="json", exclude_none=True)


def dump_scenario(scenario: Scenario) -> str:
    """YAML text of a scenario, with units, that :func:`load_scenario` reads back to an equal object."""
    return inputs.dump_yaml(scenario_data(scenario))


def scenario_schema() -> dict[str, Any]:
    """The JSON schema of a scenario file (what ``dpsim schema`` prints)."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dpsim scenario"
    definitions = schema.get("$defs", {})
    presets = {f"#/$defs/{name}" for name, d in definitions.items() if "preset" in d.get("properties", {})}

    def allow_names(node: Any) -> Any:
        """A section with a ``preset`` may also be written as the catalog name alone (``device: a100-80gb``)."""
        if isinstance(node, dict):
            if node.get("$ref") in presets:
                return {"anyOf": [dict(node), {"type": "string", "description": "a catalog name"}]}
            return {k: allow_names(v) for k, v in node.items()}
        if isinstance(node, list):
            return [allow_names(v) for v in node]
        return node

    schema = allow_names(schema)
    for name, definition in schema.get("$defs", {}).items():
        if f"#/$defs/{name}" in presets and definition.get("required"):  # a preset fills the required fields
            definition["anyOf"] = [{"required": ["preset"]}, {"required": definition.pop("required")}]
    batch = schema["$defs"]["TrainingConfig"]["properties"]["global_batch"]
    for key in ("type", "minimum", "ge"):
        batch.pop(key, None)
    batch["anyOf"] = [{"type": "integer", "minimum": 1}, {"const": "auto"}]
    return dict(schema)
