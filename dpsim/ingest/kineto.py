"""A PyTorch profiler (Kineto) Chrome trace of one training step → per-layer compute, gradient readiness, overlap.

Reads the JSON ``torch.profiler.profile(...).export_chrome_trace`` writes (no torch needed).
What the trace holds and how it is used (PyTorch ``torch/csrc/autograd/profiler_kineto.cpp``,
``torch/csrc/distributed/c10d/reducer.cpp``):

- **layers**: ``python_function`` events ``nn.Module: <Class>_<k>`` (``with_stack=True``)
  mark each module's forward. The layers are the root module's children, a child with
  several sub-modules (``Sequential``, ``ModuleList``, ``TransformerEncoder``) replaced by
  them, recursively.
- **forward → backward**: every forward ``cpu_op`` carries a ``Sequence number``; the
  autograd node it creates runs in backward as ``autograd::engine::evaluate_function:
  <Node>`` with the same number. A layer's backward is the sum of the nodes created by the
  ops inside its forward window. ``AccumulateGrad`` nodes (no sequence number) belong to the
  layer whose node ran just before them.
- **gradient readiness**: each ``AccumulateGrad`` ends when a parameter's gradient is
  ready (DDP's hook copies it into its bucket right there); its ``Input Dims`` and
  ``Input type`` give the parameter's bytes (``record_shapes=True``). In ready order, this is
  the curve *fraction of gradient bytes ready* → *fraction of the backward elapsed*; DDP
  rebuilds its buckets in this order after the first iteration (``Reducer::rebuild_buckets``).
- **buckets**: each DDP communication-hook call marks a bucket ready: the dpsim runtime's
  ``dpsim: bucket <i> ready <bytes> B`` marker, or else the hook's ``c10d::allreduce_``
  (``Input Dims`` = bucket elements). Communication is the union of ``gloo:*``/``nccl:*``
  annotations and ``c10d::*`` ops on other threads and of GPU kernels whose name contains
  ``nccl`` (the profiler does not follow Python threads, so the runtime's point-to-point
  algorithms, which reduce on their own thread, show no communication intervals).
- **overlap achieved**: 1 − exposed/communication, exposed = communication after the last
  backward node ended.

GPU traces: a layer's compute is then the GPU time of the kernels it launched (the launch
``cuda_runtime`` event and the kernel share a ``correlation`` id).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpsim.errors import ScenarioError
from dpsim.inputs import brief, read_json

__all__ = ["BucketTrace", "LayerTime", "StepTrace", "load_trace", "parse_trace", "ready_curve"]

_DTYPE_BYTES = {"float": 4, "c10::Half": 2, "c10::BFloat16": 2, "double": 8, "c10::Float8_e4m3fn": 1,
                "c10::Float8_e5m2": 1, "long int": 8, "int": 4}  # fmt: skip
_MODULE = re.compile(r"^nn\.Module: (\w+?)_(\d+)$")
_EVALUATE = "autograd::engine::evaluate_function: "
_COMM_PREFIXES = ("gloo:", "nccl:", "c10d::")
_BUCKET_MARK = re.compile(r"^dpsim: bucket (\d+) ready (\d+) B$")


@dataclass(frozen=True)
class LayerTime:
    """One layer's measured compute in the step (seconds) and the bytes of the gradients it produced."""

    name: str
    forward_s: float
    backward_s: float
    gradient_bytes: float


@dataclass(frozen=True)
class BucketTrace:
    """One DDP bucket: its bytes and when it was handed to communication (s after the backward began)."""

    size_bytes: float
    ready_s: float


@dataclass(frozen=True)
class StepTrace:
    """What one profiled training step measured."""

    layers: tuple[LayerTime, ...]
    forward_s: float
    """First layer's forward start to the last layer's forward end."""
    backward_s: float
    """First to last backward node (the backward's compute span)."""
    gradients: tuple[tuple[float, float], ...]
    """(bytes, ready s after backward start) per parameter, in ready order."""
    buckets: tuple[BucketTrace, ...]
    comm_s: float
    """Union of communication intervals in the step."""
    exposed_comm_s: float
    """Communication after the backward's last node."""
    optimizer_s: float
    step_s: float
    gpu: bool

    @property
    def overlap(self) -> float:
        """Fraction of the communication hidden behind the backward (1 when there was none)."""
        return 1.0 - self.exposed_comm_s / self.comm_s if self.comm_s > 0 else 1.0


def ready_curve(gradients: Sequence[tuple[float, float]], backward_s: float) -> tuple[tuple[float, float], ...]:
    """(fraction of gradient bytes ready, fraction of backward elapsed) after each parameter, ascending."""
    total = sum(b for b, _ in gradients)
    if total <= 0 or backward_s <= 0:
        return ()
    points, done = [], 0.0
    for size, at in sorted(gradients, key=lambda g: g[1]):
        done += size
        points.append((min(1.0, done / total), min(1.0, max(0.0, at / backward_s))))
    return tuple(points)


MAX_ELEMENTS = 1 << 63
"""Most elements a tensor holds (PyTorch counts them in an int64): a larger shape is not a real one."""


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shape_bytes(shape: Any, dtype: Any, event: str, source: str) -> float:
    """Bytes of one tensor of ``Input Dims`` shape ``shape`` (a list of sizes) and ``Input type`` ``dtype``."""
    count = 1
    for d in shape if isinstance(shape, list) else []:
        if _whole(d):
            if d < 0:
                raise ScenarioError("traceEvents", f"event {brief(event)}: 'Input Dims' holds a negative size {d}",
                                    source)  # fmt: skip
            count *= d
            if count > MAX_ELEMENTS:
                raise ScenarioError("traceEvents", f"event {brief(event)}: 'Input Dims' sizes multiply past 2^63 "
                                    "elements (PyTorch counts a tensor's elements in an int64)", source)  # fmt: skip
    return float(count) * _DTYPE_BYTES.get(str(dtype), 4)


def _bytes(event: Mapping[str, Any], source: str) -> float:
    """Bytes of an event's first input (a parameter's gradient: ``Input Dims`` [[sizes], ...])."""
    args = event["args"]
    dims, types = args.get("Input Dims") or [[]], args.get("Input type") or ["float"]
    return _shape_bytes(dims[0], types[0], event["name"], source)


def _first_tensor_bytes(event: Mapping[str, Any], source: str) -> float:
    """Bytes of the first tensor of an event's first input, a tensor list (``c10d::allreduce_``: [[[sizes]]])."""
    args = event["args"]
    tensors = (args.get("Input Dims") or [[]])[0]
    shape = tensors[0] if isinstance(tensors, list) and tensors else []
    return _shape_bytes(shape, "float", event["name"], source)


def _checked_args(event: Mapping[str, Any], source: str) -> dict[str, Any]:
    """An event's ``args`` (a mapping, else none), the fields read of it each of the type PyTorch writes."""
    args = event.get("args")
    if not isinstance(args, dict):
        return {}
    name = brief(str(event.get("name", "")))
    seq = args.get("Sequence number")
    if seq is not None and not _whole(seq):
        raise ScenarioError("traceEvents", f"event {name}: 'Sequence number' expected a whole number, "
                            f"got {brief(seq)}", source)  # fmt: skip
    corr = args.get("correlation")
    if corr is not None and not isinstance(corr, (int, float, str)):
        raise ScenarioError("traceEvents", f"event {name}: 'correlation' expected a number, got {brief(corr)}",
                            source)  # fmt: skip
    for key in ("Input Dims", "Input type"):
        value = args.get(key)
        if value is not None and not isinstance(value, list):
            raise ScenarioError("traceEvents", f"event {name}: {key!r} expected a list (one entry per input), "
                                f"got {brief(value)}", source)  # fmt: skip
    return args


def _union(intervals: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _nesting(modules: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """The modules' call tree: the roots (in time order) and each module's children (by ``id``).

    A module is the child of the innermost module still open when it starts (a stack over the modules in time
    order, O(n log n)); of two with the same start and duration the first listed is the outer one (a wrapper
    that only calls its child).
    """
    order = sorted(range(len(modules)), key=lambda i: (modules[i]["ts"], -modules[i]["dur"], i))
    roots: list[dict[str, Any]] = []
    children: dict[int, list[dict[str, Any]]] = {id(m): [] for m in modules}
    open_: list[dict[str, Any]] = []
    for i in order:
        m = modules[i]
        while open_ and m["ts"] + m["dur"] > open_[-1]["ts"] + open_[-1]["dur"]:
            open_.pop()
        (children[id(open_[-1])] if open_ else roots).append(m)
        open_.append(m)
    return roots, children


CONTAINERS = frozenset({"Sequential", "ModuleList", "ModuleDict", "TransformerEncoder", "TransformerDecoder",
                        "DistributedDataParallel", "FullyShardedDataParallel", "FSDPModule"})  # fmt: skip
"""Module classes that only run their children: a layer is never one of these, but their children."""


def _layers(modules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The root module's children, containers (:data:`CONTAINERS`) replaced by their children, recursively."""
    roots, children = _nesting(modules)

    def container(node: dict[str, Any]) -> bool:
        match = _MODULE.match(str(node["name"]))
        return match is not None and match.group(1) in CONTAINERS

    root = roots[0]
    while container(root) and len(children[id(root)]) == 1:
        root = children[id(root)][0]  # DDP/FSDP wrapper → the model
    layers: list[dict[str, Any]] = []
    pending = list(reversed(children[id(root)]))  # depth first, in order, without recursion (deep nesting)
    while pending:
        node = pending.pop()
        if children[id(node)] and container(node):
            pending.extend(reversed(children[id(node)]))
        else:
            layers.append(node)
    return layers or [root]


def parse_trace(data: Any, source: str = "<trace>") -> StepTrace:
    """The training step in a Kineto trace (the last ``ProfilerStep#`` if there are several)."""
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise ScenarioError("traceEvents", "not a PyTorch profiler (Chrome) trace: no traceEvents list", source)
    events = [e for e in data["traceEvents"] if isinstance(e, dict) and e.get("ph") == "X" and "dur" in e]
    for e in events:  # Chrome trace 'X' events: ts and dur in µs
        ts, dur = e.get("ts"), e.get("dur")
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (ts, dur))
        if not numbers or float(dur or 0) < 0:
            raise ScenarioError("traceEvents", f"event {brief(e.get('name'))}: expected finite ts and dur >= 0 (us), "
                                f"got ts {brief(ts)}, dur {brief(dur)}", source)  # fmt: skip
    # the fields read below, each of its type (a trace written by hand may lack one)
    events = [
        {**e, "name": str(e.get("name", "")), "tid": e.get("tid"), "args": _checked_args(e, source)} for e in events
    ]
    steps = [e for e in events if str(e.get("name", "")).startswith("ProfilerStep#")]
    if steps:
        window = max(steps, key=lambda e: e["ts"])
        lo, hi = window["ts"], window["ts"] + window["dur"]
        events = [e for e in events if lo <= e["ts"] <= hi]
    cpu = [e for e in events if e.get("cat") in ("cpu_op", "user_annotation", "python_function")]
    modules = [e for e in cpu if e.get("cat") == "python_function" and _MODULE.match(str(e.get("name", "")))]
    if not modules:
        raise ScenarioError("traceEvents", "no 'nn.Module: ...' events: record the trace with "
                            "torch.profiler.profile(with_stack=True, record_shapes=True)", source)  # fmt: skip
    main_tid = modules[0]["tid"]
    # with gradient accumulation the step holds several forward passes: use the last (synchronising) one
    roots, _ = _nesting(modules)
    last_root = max(roots, key=lambda m: m["ts"])
    forward_end = last_root["ts"] + last_root["dur"]
    layers = _layers([m for m in modules if last_root["ts"] <= m["ts"] <= forward_end])
    every_op = sorted((e for e in cpu if e.get("cat") == "cpu_op"), key=lambda e: e["ts"])
    ops = [e for e in every_op if e["tid"] == main_tid and last_root["ts"] <= e["ts"]]
    # CPU backward runs on the calling thread, CUDA backward on the device's autograd thread
    nodes = [e for e in every_op if str(e["name"]).startswith(_EVALUATE) and e["ts"] >= forward_end]
    if not nodes:
        raise ScenarioError("traceEvents", "no backward (autograd::engine::evaluate_function) events in the trace",
                            source)  # fmt: skip
    starts = [lay["ts"] for lay in layers]

    def layer_of(ts: float) -> int | None:
        i = bisect.bisect_right(starts, ts) - 1
        if i >= 0 and ts <= layers[i]["ts"] + layers[i]["dur"]:
            return i
        return None

    seq_layer: dict[int, int] = {}
    for e in ops:
        seq = (e.get("args") or {}).get("Sequence number")
        if seq is not None and not str(e["name"]).startswith(_EVALUATE) and (i := layer_of(e["ts"])) is not None:
            seq_layer.setdefault(int(seq), i)
    kernels = [e for e in events if e.get("cat") == "kernel"]
    gpu = bool(kernels)
    forward = [0.0] * len(layers)
    backward = [0.0] * len(layers)
    grads = [0.0] * len(layers)
    if gpu:
        forward, backward = _gpu_layer_times(events, layers, nodes, seq_layer, layer_of)
    else:
        forward = [lay["dur"] * 1e-6 for lay in layers]
    bwd_start = nodes[0]["ts"]
    bwd_end = max(e["ts"] + e["dur"] for e in nodes)
    gradients: list[tuple[float, float]] = []
    current: int | None = None
    accumulate = [e for e in every_op if e["name"] == "torch::autograd::AccumulateGrad" and e["ts"] >= forward_end]
    accumulate_starts = [a["ts"] for a in accumulate]  # in time order (every_op is): each node's op by bisection
    for node in nodes:
        seq = (node.get("args") or {}).get("Sequence number")
        if seq is not None and int(seq) in seq_layer:
            current = seq_layer[int(seq)]
        if not gpu and current is not None:
            backward[current] += node["dur"] * 1e-6
        if node["name"].endswith("AccumulateGrad"):
            end = node["ts"] + node["dur"]
            k = bisect.bisect_left(accumulate_starts, node["ts"])  # the first AccumulateGrad op inside the node
            size = _bytes(accumulate[k], source) if k < len(accumulate) and accumulate[k]["ts"] <= end else 0.0
            gradients.append((size, (end - bwd_start) * 1e-6))
            if current is not None:
                grads[current] += size
    comm_intervals = [
        (e["ts"], e["ts"] + e["dur"])
        for e in events
        if (e.get("cat") in ("cpu_op", "user_annotation") and e["tid"] != main_tid
            and str(e["name"]).startswith(_COMM_PREFIXES))
        or (e.get("cat") == "kernel" and "nccl" in str(e["name"]).lower())
    ]  # fmt: skip
    union = _union(comm_intervals)
    comm = sum(b - a for a, b in union) * 1e-6
    exposed = sum(max(0.0, b - max(a, bwd_end)) for a, b in union) * 1e-6
    markers = [(e, m) for e in cpu if (m := _BUCKET_MARK.match(str(e.get("name", "")))) and e["ts"] >= forward_end]
    if markers:  # the dpsim runtime's hook marks every bucket (also those its own threads reduce)
        buckets = tuple(BucketTrace(float(m.group(2)), (e["ts"] - bwd_start) * 1e-6) for e, m in markers)
    else:
        buckets = tuple(
            BucketTrace(_first_tensor_bytes(e, source), (e["ts"] - bwd_start) * 1e-6)
            for e in every_op
            if e["name"] == "c10d::allreduce_" and bwd_start <= e["ts"] <= bwd_end
        )  # fmt: skip
    optimizer = sum(e["dur"] for e in cpu if str(e.get("name", "")).startswith("Optimizer.step#")) * 1e-6
    first, last = min(lay["ts"] for lay in layers), max(lay["ts"] + lay["dur"] for lay in layers)
    step_events = [e for e in cpu if e["tid"] == main_tid]
    step_s = (max(e["ts"] + e["dur"] for e in step_events) - min(e["ts"] for e in step_events)) * 1e-6
    names = [str(lay["name"]).removeprefix("nn.Module: ") for lay in layers]
    return StepTrace(
        layers=tuple(LayerTime(n, f, b, g) for n, f, b, g in zip(names, forward, backward, grads, strict=True)),
        forward_s=(last - first) * 1e-6,
        backward_s=(bwd_end - bwd_start) * 1e-6,
        gradients=tuple(gradients),
        buckets=buckets,
        comm_s=comm,
        exposed_comm_s=exposed,
        optimizer_s=optimizer,
        step_s=step_s,
        gpu=gpu,
    )


def _gpu_layer_times(
    events: list[dict[str, Any]], layers: list[dict[str, Any]], nodes: list[dict[str, Any]],
    seq_layer: Mapping[int, int], layer_of: Any,
) -> tuple[list[float], list[float]]:  # fmt: skip
    """Per layer: GPU time of the kernels its forward ops and its backward nodes launched (by correlation id)."""
    launches = {(e.get("args") or {}).get("correlation"): e for e in events if e.get("cat") == "cuda_runtime"}
    node_starts = [n["ts"] for n in nodes]
    forward = [0.0] * len(layers)
    backward = [0.0] * len(layers)
    for k in (e for e in events if e.get("cat") == "kernel" and "nccl" not in str(e.get("name", "")).lower()):
        launch = launches.get((k.get("args") or {}).get("correlation"))
        if launch is None:
            continue
        i = layer_of(launch["ts"])
        if i is not None:
            forward[i] += k["dur"] * 1e-6
            continue
        j = bisect.bisect_right(node_starts, launch["ts"]) - 1
        if j >= 0 and launch["ts"] <= nodes[j]["ts"] + nodes[j]["dur"]:
            seq = (nodes[j].get("args") or {}).get("Sequence number")
            if seq is not None and int(seq) in seq_layer:
                backward[seq_layer[int(seq)]] += k["dur"] * 1e-6
    return forward, backward


MAX_TRACE_BYTES = 512 << 20
"""Largest trace read, decompressed (512 MiB; a profiled training step of a large model is tens of MB)."""


def load_trace(path: str | Path) -> StepTrace:
    """:func:`parse_trace` of a JSON file (``.json`` or ``.json.gz``), read by :func:`dpsim.inputs.read_json`."""
    source = str(path)
    data = read_json(path, source, MAX_TRACE_BYTES)
    return parse_trace(data, source)
