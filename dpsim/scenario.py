"""Scenario files: YAML → typed, validated :class:`Scenario` objects with units resolved.

One ``Scenario`` is read by all three engines (closed forms, simulator, runtime); a field
means the same thing in each. Loading is strict: unknown keys are rejected with a
did-you-mean, quantities need units (``"200 Gbit/s"``), and every problem is reported as
a :class:`~dpsim.errors.ScenarioError` naming the field path. A dumped scenario reloads
to an equal object (:func:`dump_scenario`).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from dpsim import catalog
from dpsim.errors import ScenarioError
from dpsim.units import (
    UnitError,
    parse_bandwidth,
    parse_count,
    parse_flops,
    parse_size,
    parse_time,
)

__all__ = [
    "ALGORITHMS",
    "CalibrationRef",
    "ClusterConfig",
    "CommunicationConfig",
    "DegradedLink",
    "DeviceConfig",
    "InterNodeLink",
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
    "default_scenario_path",
    "dump_scenario",
    "load_scenario",
    "parse_override",
    "scenario_from_dict",
]

ALGORITHMS = ("ring", "tree", "halving-doubling", "hierarchical", "direct", "parameter-server")
"""All-reduce algorithms a scenario can name (``communication.algorithm``)."""


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
                raise ValueError(str(exc).rsplit("got", 1)[0] + f"got {value!r}") from None
            raise

    return validate


Bandwidth = Annotated[
    float,
    BeforeValidator(_checked(parse_bandwidth, _positive)),
    PlainSerializer(lambda v: _exact(v, "B/s", _SI), return_type=str),
]
Size = Annotated[float, BeforeValidator(_checked(parse_size, _positive)), PlainSerializer(_dump_size, return_type=str)]
Duration = Annotated[
    float, BeforeValidator(_checked(parse_time, _non_negative)), PlainSerializer(_dump_time, return_type=str)
]
FlopRate = Annotated[
    float,
    BeforeValidator(_checked(parse_flops, _positive)),
    PlainSerializer(lambda v: _exact(v, "FLOP/s", _SI), return_type=str),
]
Count = Annotated[float, BeforeValidator(_checked(parse_count, _positive))]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]


def _default(text: str) -> Any:
    """A quantity default written with its unit; validated (parsed) like user input."""
    return Field(default=text)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


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


class ModelConfig(_Section):
    """The model being trained: a catalog preset, or its shape (fields override the preset)."""

    preset: str | None = None
    kind: Literal["transformer", "cnn", "mlp"] = "transformer"
    layers: NonNegativeInt = 0
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
    parameters: Count | None = None
    """Parameter count; derived from the shape for transformers when not given."""
    flops_per_sample: Count | None = None
    """Training FLOPs (forward + backward) per sample; derived for transformers when not given."""

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        fields = {f: f for f in catalog.ModelSpec.__dataclass_fields__ if f in cls.model_fields and f != "preset"}
        merged = _merge_preset(data, catalog.MODELS, "model", fields)
        if isinstance(merged, dict) and isinstance(data, dict) and data.get("preset") is not None:
            # parameters/FLOPs of a transformer preset are derived below, unless given explicitly
            for key in ("parameters", "flops_per_sample"):
                if key not in data and (merged.get("kind") == "transformer" or merged.get(key) in (0, 0.0)):
                    merged.pop(key, None)
            merged.pop("sample_size", None)
        return merged

    @model_validator(mode="after")
    def _derive(self) -> ModelConfig:
        if self.kind == "transformer":
            for name in ("layers", "hidden", "heads", "seq_len", "vocab"):
                if getattr(self, name) <= 0:
                    raise ValueError(f"{name}: a transformer needs {name} > 0 (or a preset)")
            if self.hidden % self.heads:
                raise ValueError(f"heads: hidden ({self.hidden}) must be divisible by heads ({self.heads})")
            if self.kv_heads and self.heads % self.kv_heads:
                raise ValueError(f"kv_heads: heads ({self.heads}) must be divisible by kv_heads ({self.kv_heads})")
            if self.parameters is None:
                self.parameters = catalog.transformer_parameters(
                    self.layers,
                    self.hidden,
                    self.vocab,
                    self.seq_len,
                    heads=self.heads,
                    kv_heads=self.kv_heads,
                    ffn_hidden=self.ffn_hidden,
                    gated_mlp=self.gated_mlp,
                    tied_embeddings=self.tied_embeddings,
                    learned_positions=self.learned_positions,
                    token_types=self.token_types,
                    pooler=self.pooler,
                )
            if self.flops_per_sample is None:
                per_token = catalog.training_flops_per_token(
                    self.parameters,
                    self.layers,
                    self.hidden,
                    self.seq_len,
                    self.vocab,
                    embedding_parameters=self.embedding_parameters,
                )
                self.flops_per_sample = per_token * self.seq_len
        else:
            if self.parameters is None:
                raise ValueError(f"parameters: a {self.kind} model needs parameters (e.g. 25.6e6) or a preset")
            if self.flops_per_sample is None:
                raise ValueError(f"flops_per_sample: a {self.kind} model needs flops_per_sample or a preset")
        return self

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
    """A device: a catalog name, or peak FLOP/s, memory and efficiency."""

    preset: str | None = None
    peak_flops: FlopRate
    memory: Size
    memory_bandwidth: Bandwidth = _default("1 TB/s")
    efficiency: Fraction = 0.5
    """Achieved fraction of peak on training compute (per device type, from the catalog)."""

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        fields = {"peak_flops": "peak_flops", "memory": "memory_bytes", "memory_bandwidth": "memory_bandwidth"}
        fields["efficiency"] = "efficiency"
        merged = _merge_preset(data, catalog.DEVICES, "device", fields)
        return _texts(merged, {"peak_flops": "FLOP/s", "memory": "B", "memory_bandwidth": "B/s"}, data)


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
    latency: Duration = _default("0 s")

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        merged = _merge_preset(data, catalog.LINKS, "link", {"bandwidth": "bandwidth", "latency": "latency_s"})
        return _texts(merged, {"bandwidth": "B/s", "latency": "s"}, data)


class InterNodeLink(LinkConfig):
    """The network between nodes: per-NIC bandwidth and latency, and NICs per node."""

    nics_per_node: PositiveInt = 1


class TopologyConfig(_Section):
    """How nodes are wired: one non-blocking switch, a two-level fat-tree, or a direct ring."""

    kind: Literal["switch", "fat-tree", "ring"] = "switch"
    oversubscription: Annotated[float, Field(ge=1)] = 1.0
    """Fat-tree: leaf downlink to uplink bandwidth ratio (1 = non-blocking)."""
    nodes_per_leaf: PositiveInt = 16
    """Fat-tree: nodes attached to one leaf switch."""


class ClusterConfig(_Section):
    """Nodes of identical devices, a fast intra-node fabric, and NICs into the network."""

    nodes: PositiveInt = 1
    workers_per_node: PositiveInt = 1
    device: DeviceConfig
    intra_node: LinkConfig = Field(default_factory=lambda: LinkConfig.model_validate("nvlink3"))
    inter_node: InterNodeLink = Field(default_factory=lambda: InterNodeLink.model_validate("ib-hdr"))
    topology: TopologyConfig = Field(default_factory=TopologyConfig)
    price_per_device_hour: Annotated[float, Field(ge=0)] | None = None
    """Optional rental price of one device for one hour (any currency), for cost estimates."""

    @property
    def world_size(self) -> int:
        return self.nodes * self.workers_per_node


class TrainingConfig(_Section):
    """The batch, its split, the optimizer and the parallel degrees."""

    global_batch: PositiveInt
    """Samples per optimizer step across all data-parallel ranks."""
    micro_batch: PositiveInt = 1
    """Samples per forward/backward pass on one rank."""
    accumulation: PositiveInt | None = None
    """Gradient accumulation steps; derived as global_batch / (dp · micro_batch) when omitted."""
    optimizer: Literal["adam", "adamw", "sgd", "momentum"] = "adam"
    precision: Literal["bf16", "fp16", "fp32"] = "bf16"
    """bf16/fp16 mean mixed precision with fp32 master weights (the ZeRO paper's setting)."""
    zero_stage: Annotated[int, Field(strict=True, ge=0, le=3)] = 0
    tensor_parallel: PositiveInt = 1
    pipeline_parallel: PositiveInt = 1
    pipeline_schedule: Literal["gpipe", "1f1b", "interleaved"] = "1f1b"
    virtual_stages: PositiveInt = 1
    """Model chunks per pipeline stage for the interleaved schedule."""
    sequence_parallel: bool = False
    activation_recomputation: Literal["none", "selective", "full"] = "none"
    partition: Literal["round_robin", "contiguous", "weighted"] = "round_robin"
    """How each batch is split across data-parallel ranks (weighted: by worker speed)."""
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3


class CommunicationConfig(_Section):
    """Gradient synchronisation: the all-reduce algorithm, bucket size and overlap."""

    algorithm: Literal["ring", "tree", "halving-doubling", "hierarchical", "direct", "parameter-server"] = "ring"
    bucket: Size = _default("25 MiB")
    """Gradient bucket size (PyTorch DDP's default bucket_cap_mb=25 is 25 MiB)."""
    overlap: bool = True
    """Start each bucket's all-reduce as soon as its gradients are ready during backward."""
    gradient_dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """Precision of communicated gradients; auto = the training precision."""


class Straggler(_Section):
    worker: NonNegativeInt
    slowdown: Annotated[float, Field(gt=0)]
    """Compute time multiplier (1.5 = 50 % slower)."""


class DegradedLink(_Section):
    node: NonNegativeInt
    factor: Fraction
    """Fraction of nominal NIC bandwidth left (0.5 = half speed)."""


class VariabilityConfig(_Section):
    """Randomness and heterogeneity, consumed by the simulator."""

    seed: NonNegativeInt = 0
    compute_jitter_cv: Annotated[float, Field(ge=0)] = 0.0
    jitter_distribution: Literal["lognormal", "normal", "gamma"] = "lognormal"
    stragglers: list[Straggler] = Field(default_factory=list)
    degraded_links: list[DegradedLink] = Field(default_factory=list)
    replications: PositiveInt = 1


class ReliabilityConfig(_Section):
    """Failures and checkpointing, for expected time to train (Young/Daly)."""

    node_mtbf: Duration | None = None
    """Mean time between failures of one node; None = no failures."""
    checkpoint_write: Duration = _default("0 s")
    restart: Duration = _default("0 s")


class SimulationConfig(_Section):
    fidelity: Literal["auto", "chunk", "fast"] = "auto"
    steps: PositiveInt = 1


class CalibrationRef(_Section):
    profile: str
    """Path of a hardware profile written by ``dpsim calibrate`` (relative to the scenario file)."""


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

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        t, world = self.training, self.cluster.world_size
        model_parallel = t.tensor_parallel * t.pipeline_parallel
        if world % model_parallel:
            raise _FieldError(
                "training.tensor_parallel",
                f"DP x TP x PP must equal the {world} workers: TP={t.tensor_parallel} x PP={t.pipeline_parallel}"
                f" = {model_parallel} does not divide {world}",
            )
        dp = world // model_parallel
        if t.global_batch % (dp * t.micro_batch):
            raise _FieldError(
                "training.global_batch",
                f"{t.global_batch} is not divisible by data-parallel ranks x micro_batch = {dp} x {t.micro_batch}",
            )
        derived = t.global_batch // (dp * t.micro_batch)
        if t.accumulation is not None and t.accumulation != derived:
            raise _FieldError(
                "training.accumulation",
                f"{t.accumulation} contradicts global_batch / (dp x micro_batch) = "
                f"{t.global_batch} / ({dp} x {t.micro_batch}) = {derived}",
            )
        if t.pipeline_schedule == "interleaved" and t.pipeline_parallel > 1 and derived % t.pipeline_parallel:
            raise _FieldError(
                "training.accumulation",
                f"interleaved 1F1B needs micro-batches ({derived}) divisible by "
                f"pipeline_parallel ({t.pipeline_parallel})",
            )
        if self.model.kind == "transformer" and t.tensor_parallel > 1 and self.model.heads % t.tensor_parallel:
            raise _FieldError(
                "training.tensor_parallel", f"{t.tensor_parallel} must divide the model's {self.model.heads} heads"
            )
        if self.model.kind == "transformer" and self.model.layers % (t.pipeline_parallel * t.virtual_stages):
            raise _FieldError(
                "training.pipeline_parallel",
                f"layers ({self.model.layers}) must be divisible by pipeline_parallel x virtual_stages "
                f"= {t.pipeline_parallel} x {t.virtual_stages}",
            )
        for i, s in enumerate(self.variability.stragglers):
            if s.worker >= world:
                raise _FieldError(f"variability.stragglers.{i}.worker", f"{s.worker} is not a worker (0..{world - 1})")
        for i, d in enumerate(self.variability.degraded_links):
            if d.node >= self.cluster.nodes:
                raise _FieldError(
                    f"variability.degraded_links.{i}.node", f"{d.node} is not a node (0..{self.cluster.nodes - 1})"
                )
        return self

    # --- derived values --------------------------------------------------------------------
    @property
    def world_size(self) -> int:
        return self.cluster.world_size

    @property
    def data_parallel(self) -> int:
        return self.world_size // (self.training.tensor_parallel * self.training.pipeline_parallel)

    @property
    def accumulation_steps(self) -> int:
        t = self.training
        return t.global_batch // (self.data_parallel * t.micro_batch)

    @property
    def gradient_bytes_per_param(self) -> int:
        dtype = self.communication.gradient_dtype
        if dtype == "auto":
            dtype = self.training.precision
        return 4 if dtype == "fp32" else 2

    @property
    def tokens_per_step(self) -> int:
        return self.training.global_batch * self.model.tokens_per_sample

    def worker_slowdowns(self) -> list[float]:
        """Compute-time multiplier of every worker (1.0 unless named a straggler)."""
        slow = [1.0] * self.world_size
        for s in self.variability.stragglers:
            slow[s.worker] *= s.slowdown
        return slow

    def scenario_hash(self) -> str:
        """Stable short hash of the resolved scenario (provenance in result records)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


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
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ScenarioError(path, f"value {raw!r} is not valid YAML: {exc}", "<command line>") from None
    return path, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str | tuple[str, Any]]) -> dict[str, Any]:
    """Return a copy of raw scenario ``data`` with ``--set`` overrides applied."""
    data = copy.deepcopy(data)
    for item in overrides:
        path, value = parse_override(item) if isinstance(item, str) else item
        node: Any = data
        parts = path.split(".")
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                node = node[_index(part, path)]
                continue
            child = node.get(part)
            if isinstance(child, str) and i + 1 < len(parts):  # "device: a100-80gb" → {preset: a100-80gb}
                child = {"preset": child}
                node[part] = child
            if child is None:
                child = {}
                node[part] = child
            if not isinstance(child, (dict, list)):
                raise ScenarioError(path, f"cannot set a field inside {part!r}, which is {child!r}", "<command line>")
            node = child
        if isinstance(node, list):
            node[_index(parts[-1], path)] = value
        else:
            node[parts[-1]] = value
    return data


def _index(part: str, path: str) -> int:
    if not part.isdigit():
        raise ScenarioError(path, f"expected a list index, got {part!r}", "<command line>")
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
    field = ".".join(str(p) for p in loc)
    kind, msg, given = error["type"], str(error["msg"]), error.get("input")
    if kind == "extra_forbidden":
        section = _section_class(loc)
        known = sorted(section.model_fields) if section else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(known)}"
        return field, f"unknown key ({hint})"
    if kind == "missing":
        return field, "required field is missing"
    if kind in ("value_error", "assertion_error"):
        ctx = error.get("ctx") or {}
        exc = ctx.get("error")
        if isinstance(exc, _FieldError):
            return exc.field, exc.message
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if ": " in msg and loc and kind == "value_error" and msg.split(": ", 1)[0].isidentifier():
            sub, rest = msg.split(": ", 1)
            if section_has(loc, sub):
                return f"{field}.{sub}" if field else sub, rest
        return field, msg
    if kind == "literal_error":
        return field, f"{msg.replace('Input should be', 'expected')}, got {given!r}"
    if kind == "model_type" or kind == "dict_type":
        return field, f"expected a mapping of fields, got {given!r}"
    return field, f"{msg} (got {given!r})"


def section_has(loc: tuple[Any, ...], name: str) -> bool:
    section = _section_class((*loc, name))
    return section is not None and name in section.model_fields


def scenario_from_dict(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate raw scenario data (a mapping, as read from YAML) into a :class:`Scenario`."""
    if not isinstance(data, dict):
        raise ScenarioError("", f"a scenario must be a mapping of sections, got {type(data).__name__}", source)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        field, message = _describe(errors[0])
        raise ScenarioError(field or "(top level)", message, source) from None
    except _FieldError as exc:  # pragma: no cover - pydantic wraps these
        raise ScenarioError(exc.field, exc.message, source) from None


def load_scenario(path: str | Path | None = None, overrides: Iterable[str | tuple[str, Any]] = ()) -> Scenario:
    """Read a YAML scenario (the bundled default when ``path`` is None) and apply overrides.

    Raises :class:`ScenarioError` with ``<file>: <field.path>: <what is wrong>``.
    """
    file = Path(path) if path is not None else default_scenario_path()
    source = str(path) if path is not None else "default.yaml"
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError("", f"cannot read scenario: {exc.strerror or exc}", source) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError("", f"malformed YAML: {where}{problem}", source) from None
    if data is None:
        raise ScenarioError("", "the file is empty: expected model, cluster and training sections", source)
    if not isinstance(data, dict):
        raise ScenarioError("", f"a scenario must be a mapping of sections, got {type(data).__name__}", source)
    try:
        data = apply_overrides(data, overrides)
    except ScenarioError as exc:
        raise exc.with_source("<command line>") from None
    except (IndexError, KeyError, TypeError) as exc:
        raise ScenarioError("--set", f"cannot apply override: {exc}", "<command line>") from None
    scenario = scenario_from_dict(data, source)
    if scenario.calibration is not None and not Path(scenario.calibration.profile).is_absolute():
        scenario.calibration.profile = str((file.parent / scenario.calibration.profile).resolve())
    return scenario


def dump_scenario(scenario: Scenario) -> str:
    """YAML text of a scenario, with units, that :func:`load_scenario` reads back to an equal object."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
