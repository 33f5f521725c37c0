"""Capacity planning: which devices, how many, and which parallel layout train a model fastest or cheapest.

:func:`plan` enumerates configurations (device type, device count, tensor/pipeline/data
parallel degrees, ZeRO stage, micro-batch, activation recomputation, sequence parallelism,
pipeline schedule, all-reduce algorithm), screens all of them at once with vectorised
closed forms (the same model as :func:`dpsim.analytic.step.predict` and
:func:`dpsim.analytic.memory.memory_breakdown`, in numpy: ~10⁵ configurations a second),
re-checks the best ones exactly with ``predict`` and optionally with the simulator, and
ranks them by time to train (or, with a deadline and prices, by cost).

Time to train = ⌈tokens / tokens per step⌉ × step time, stretched by failures and
checkpoints when a node MTBF is given (Daly 2006, :mod:`dpsim.reliability`). Cost =
wall-clock hours × devices × price per device-hour.

Defaults, each a stated assumption: 8 devices per node; the node's fabric and network
by device generation (:data:`DEFAULT_NETWORK`: NVLink of that generation, one InfiniBand
NIC per device, as in DGX A100/H100/B200); a global batch of about 4 M tokens
(Llama 2's, Touvron et al. 2023 §2.2), rounded to a power of two samples.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from dpsim import catalog
from dpsim.analytic.collectives import Fabric
from dpsim.errors import ScenarioError, did_you_mean
from dpsim.outputs import replaced
from dpsim.reliability import checkpoint_interval
from dpsim.scenario import (
    ALGORITHMS,
    MAX_INT,
    MAX_NICS_PER_NODE,
    MAX_WORLD,
    NVLS_LINKS,
    SHARDED_ALGORITHMS,
    DeepSpeedZero,
    Scenario,
    TrainingConfig,
    scenario_from_dict,
)
from dpsim.sharding import collective_pieces
from dpsim.units import format_time

if TYPE_CHECKING:
    import pandas as pd

    from dpsim.execution import Executor

__all__ = [
    "DEFAULT_NETWORK",
    "PlanRequest",
    "PlanResult",
    "default_global_batch",
    "device_counts",
    "enumerate_configurations",
    "infeasibility_reason",
    "pareto_front",
    "plan",
    "scenario_for",
    "write_pareto_plot",
]

SOURCE = "<plan>"
MAX_PLAN_BATCH = MAX_INT // MAX_WORLD
"""Largest ``--global-batch`` and ``--tp``/``--pp``/``--micro-batch`` entry (2^33): a batch times a device count
(at most :data:`dpsim.scenario.MAX_WORLD`) stays a scenario's whole number, and the screen's int64 products exact."""
MAX_TOP = 500
"""Most configurations re-checked exactly and shown (``--top``): 3 x 500 ``predict`` calls take seconds;
every screened configuration is in ``--all``."""

DEFAULT_NETWORK: dict[str, tuple[str, str]] = {
    # device → (intra-node link, inter-node link per NIC); one NIC per device (DGX-style nodes).
    "v100": ("pcie4", "ib-edr"),  # NVLink 2 (V100) is not in the catalog; PCIe 4 is a conservative stand-in
    "a100-40gb": ("nvlink3", "ib-hdr"),  # DGX A100: NVLink 3, 8x ConnectX-6 HDR
    "a100-80gb": ("nvlink3", "ib-hdr"),
    "h100-sxm": ("nvlink4", "ib-ndr"),  # DGX H100: NVLink 4, 8x ConnectX-7 NDR
    "h200": ("nvlink4", "ib-ndr"),
    "b200": ("nvlink5", "ib-ndr"),  # DGX B200: NVLink 5, 8x ConnectX-7 NDR
    "cpu": ("pcie4", "100gbe"),
}
"""Node fabric and network assumed for each catalog device when the request does not say."""

_RECOMPUTE = ("none", "selective", "full")
_ALGORITHMS = ALGORITHMS
_SCHEDULES = ("1f1b", "interleaved")
_SEQUENCE_PARALLEL_KINDS: tuple[str, ...] = typing.get_args(
    TrainingConfig.model_fields["sequence_parallel_kind"].annotation
)


@dataclass(frozen=True)
class PlanRequest:
    """What to plan for, and the search space (every tuple is a set of options to try)."""

    model: str
    """Catalog model name (``dpsim catalog models``)."""
    tokens: float
    """Training tokens (the token budget)."""
    devices: tuple[str, ...]
    """Catalog device names to consider."""
    max_devices: int
    min_devices: int = 1
    workers_per_node: int = 8
    global_batch: int | None = None
    """Samples per step; default :func:`default_global_batch`."""
    deadline_s: float | None = None
    price_per_device_hour: Mapping[str, float] | float | None = None
    """One price for all devices, or one per device name."""
    node_mtbf_s: float | None = None
    checkpoint_s: float = 0.0
    restart_s: float = 0.0
    tensor_parallel: tuple[int, ...] = (1, 2, 4, 8)
    pipeline_parallel: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    zero_stages: tuple[int, ...] = (0, 1, 2, 3)
    micro_batches: tuple[int, ...] = (1, 2, 4, 8)
    recomputation: tuple[str, ...] = _RECOMPUTE
    sequence_parallel: tuple[bool, ...] = (False, True)
    sequence_parallel_kind: str = "megatron"
    """Which implementation runs sequence parallelism where a configuration has it (``training.sequence_parallel_kind``:
    ``megatron`` or ``dtensor``, torch DTensor's as torchtitan runs it); the screen's memory and the exact re-check
    both read it."""
    schedules: tuple[str, ...] = _SCHEDULES
    """Pipeline schedules; ``interleaved`` uses 2 chunks per stage."""
    algorithms: tuple[str, ...] = ("auto",)
    """All-reduce algorithms to try: by default ``auto``, what ``dpsim run`` prices a scenario with
    (``communication.algorithm``'s default, NCCL's tuner pick on GPUs), so a planned layout written as a scenario
    runs at the planned step. It was ``ring`` and ``hierarchical``, which a scenario leaving the algorithm out does
    not run (the textbook hierarchical all-reduce is no NCCL algorithm either)."""
    top: int = 20
    """How many of the best screened configurations to re-check exactly with ``predict``."""
    simulate: int = 0
    """How many of the ranked configurations to re-check with the simulator (0 = none), at most ``top``: the
    simulator re-checks the best of the rows shown (more was cut to ``top`` without a word)."""
    objective: str = "auto"
    """``time``, ``cost``, or ``auto`` (cost when a deadline and prices are given, else time)."""
    allow_long: bool = False
    """Screen past the cost guard's limits (:func:`dpsim.sim.budget.check_total`: the data-parallel groups'
    collectives priced in all)."""

    def __post_init__(self) -> None:
        if self.model not in catalog.MODELS:
            try:
                catalog.lookup(catalog.MODELS, self.model, "model")
            except KeyError as exc:
                raise ScenarioError("--model", str(exc.args[0]), SOURCE) from None
        spec = catalog.MODELS[self.model.strip().lower()]
        if spec.kind != "transformer":
            raise ScenarioError("--model", f"the planner needs a transformer model, {self.model!r} is a {spec.kind}")
        if not self.devices:
            raise ScenarioError("--device", "give at least one device type", SOURCE)
        for name in self.devices:
            try:
                catalog.lookup(catalog.DEVICES, name, "device")
            except KeyError as exc:
                raise ScenarioError("--device", str(exc.args[0]), SOURCE) from None
        checks: list[tuple[str, bool, str]] = [
            ("--tokens", math.isfinite(self.tokens) and self.tokens > 0, f"must be > 0, got {self.tokens:g}"),
            ("--max-devices", self.max_devices >= 1, f"must be >= 1, got {self.max_devices}"),
            ("--min-devices", 1 <= self.min_devices <= self.max_devices, "must be between 1 and --max-devices"),
            (
                "--workers-per-node",
                # round 35: a planned node gives each device its own NIC (scenario_data), and a node has at most
                # MAX_NICS_PER_NODE: 257-1,024 a node was refused as the scenario field cluster.inter_node.nics_per_node
                1 <= self.workers_per_node <= MAX_NICS_PER_NODE,
                f"must be between 1 and {MAX_NICS_PER_NODE:,} (a planned node gives each device its own NIC, at most "
                f"{MAX_NICS_PER_NODE:,} a node), got {self.workers_per_node:,}",
            ),
            (
                "--global-batch",
                self.global_batch is None or 1 <= self.global_batch <= MAX_PLAN_BATCH,
                f"must be between 1 and {MAX_PLAN_BATCH:,}",
            ),
            ("--deadline", self.deadline_s is None or self.deadline_s > 0, "must be > 0"),
            ("--node-mtbf", self.node_mtbf_s is None or self.node_mtbf_s > 0, "must be > 0"),
            ("--checkpoint-write", self.checkpoint_s >= 0, "must not be negative"),
            ("--restart", self.restart_s >= 0, "must not be negative"),
            (
                "--top",
                1 <= self.top <= MAX_TOP,
                f"must be between 1 and {MAX_TOP:,} (--all writes every configuration), got {self.top:,}",
            ),
            ("--simulate", self.simulate >= 0, f"must be >= 0, got {self.simulate}"),
            (
                "--simulate",
                self.simulate <= self.top,
                f"re-checks the best of the --top {self.top:,} configurations with the simulator: {self.simulate:,} "
                f"is more than --top; raise --top to {self.simulate:,}, or simulate at most {self.top:,}",
            ),
            ("--objective", self.objective in ("auto", "time", "cost"), "expected auto, time or cost"),
            (
                "--sequence-parallel-kind",
                self.sequence_parallel_kind in _SEQUENCE_PARALLEL_KINDS,
                f"expected {' or '.join(_SEQUENCE_PARALLEL_KINDS)}, got {self.sequence_parallel_kind!r}",
            ),
        ]
        for option, ok, message in checks:
            if not ok:
                raise ScenarioError(option, message, SOURCE)
        for option, values, allowed in (
            ("--recompute", self.recomputation, _RECOMPUTE),
            ("--schedule", self.schedules, _SCHEDULES),
            ("--algorithm", self.algorithms, _ALGORITHMS),
        ):
            bad = [v for v in values if v not in allowed]
            if bad or not values:
                hint = did_you_mean(bad[0], allowed) if bad else ""
                raise ScenarioError(
                    option,
                    f"expected a non-empty subset of {', '.join(allowed)}, got {', '.join(values)}"
                    + (f" ({hint})" if hint else ""),
                    SOURCE,
                )
        for option, ints in (
            ("--tp", self.tensor_parallel),
            ("--pp", self.pipeline_parallel),
            ("--micro-batch", self.micro_batches),
        ):
            if not ints or any(not 1 <= i <= MAX_PLAN_BATCH for i in ints):
                raise ScenarioError(option, f"expected positive integers, got {ints}", SOURCE)
        if not self.zero_stages or any(z not in (0, 1, 2, 3) for z in self.zero_stages):
            raise ScenarioError("--zero", f"expected stages among 0..3, got {self.zero_stages}", SOURCE)
        if self.sequence_parallel_kind != "megatron" and max(self.tensor_parallel) == 1:
            # the kind is read only by configurations with sequence parallelism, which needs TP > 1: the same plan to
            # the byte (round 20; as --currency without --price)
            raise ScenarioError(
                "--sequence-parallel-kind",
                f"{self.sequence_parallel_kind} changes only configurations with sequence parallelism, which needs "
                f"tensor parallelism: --tp {','.join(map(str, self.tensor_parallel))} has no degree above 1 (add one, "
                "or leave --sequence-parallel-kind out)",
                SOURCE,
            )
        if isinstance(self.price_per_device_hour, Mapping):
            missing = [d for d in self.devices if d not in self.price_per_device_hour]
            if missing:
                raise ScenarioError("--price", f"no price given for {', '.join(missing)}", SOURCE)

    def price(self, device: str) -> float:
        """Price per device-hour of ``device`` (NaN when none was given)."""
        p = self.price_per_device_hour
        if p is None:
            return math.nan
        if isinstance(p, Mapping):
            return float(p[device])
        return float(p)


def default_global_batch(model: str) -> int:
    """About 4 M tokens per step (Touvron et al. 2023 §2.2), as a power of two samples."""
    seq = catalog.MODELS[model].seq_len
    return int(2 ** round(math.log2(4 * 2**20 / seq)))


def device_counts(min_devices: int, max_devices: int, per_node: int) -> list[int]:
    """Device counts to try: powers of two (below a node) and whole nodes 2^k and 3·2^k, plus the maximum."""
    counts = {2**k for k in range(0, 20) if 2**k < per_node}
    nodes = {2**k for k in range(0, 20)} | {3 * 2**k for k in range(0, 20)}
    counts |= {n * per_node for n in nodes}
    if max_devices % per_node == 0:
        counts.add(max_devices)
    return sorted(c for c in counts if min_devices <= c <= min(max_devices, MAX_WORLD))  # no scenario has more


def scenario_data(request: PlanRequest, row: Mapping[str, Any]) -> dict[str, Any]:
    """Raw scenario data (as from YAML) of one configuration row."""
    device = str(row["device"])
    intra, inter = DEFAULT_NETWORK.get(device, ("nvlink3", "ib-hdr"))
    n = int(row["devices"])
    per_node = min(n, request.workers_per_node)
    data: dict[str, Any] = {
        "name": f"{request.model}-{n}x{device}",
        "model": {"preset": request.model},
        "cluster": {
            "nodes": n // per_node,
            "workers_per_node": per_node,
            "device": device,
            "intra_node": intra,
            "inter_node": {"preset": inter, "nics_per_node": per_node},
        },
        "training": {
            "global_batch": int(row["global_batch"]),
            "micro_batch": int(row["micro_batch"]),
            "zero_stage": int(row["zero_stage"]),
            "tensor_parallel": int(row["tp"]),
            "pipeline_parallel": int(row["pp"]),
            "pipeline_schedule": str(row["schedule"]),
            "virtual_stages": 2 if row["schedule"] == "interleaved" else 1,
            "sequence_parallel": bool(row["sequence_parallel"]),
            # the kind only with sequence parallelism (the scenario refuses dtensor without it)
            **({"sequence_parallel_kind": request.sequence_parallel_kind} if bool(row["sequence_parallel"]) else {}),
            "activation_recomputation": str(row["recomputation"]),
        },
        "communication": {"algorithm": str(row["algorithm"])},
    }
    price = request.price(device)
    if not math.isnan(price):
        data["cluster"]["price_per_device_hour"] = price
    if request.node_mtbf_s is not None:
        data["reliability"] = {
            "node_mtbf": f"{request.node_mtbf_s!r} s",
            "checkpoint_write": f"{request.checkpoint_s!r} s",
            "restart": f"{request.restart_s!r} s",
        }
    return data


def scenario_for(request: PlanRequest, row: Mapping[str, Any]) -> Scenario:
    """The validated :class:`Scenario` of one configuration row."""
    return scenario_from_dict(scenario_data(request, row), SOURCE)


# --- the vectorised screen ------------------------------------------------------------------------


def _devices(request: PlanRequest) -> list[str]:
    """The catalog names of ``request.devices``, in order (``g["device_index"]`` indexes them)."""
    return [catalog.lookup(catalog.DEVICES, d, "device").name for d in request.devices]


def _axes(request: PlanRequest) -> dict[str, Sequence[Any]]:
    """The search space's axes, whose Cartesian product :func:`_grid` builds."""
    return {
        "device_index": range(len(request.devices)),
        "devices": device_counts(request.min_devices, request.max_devices, request.workers_per_node),
        "tp": sorted(set(request.tensor_parallel)),
        "pp": sorted(set(request.pipeline_parallel)),
        "zero_stage": sorted(set(request.zero_stages)),
        "micro_batch": sorted(set(request.micro_batches)),
        "recompute_index": [_RECOMPUTE.index(r) for r in dict.fromkeys(request.recomputation)],
        "sequence_parallel": sorted(set(request.sequence_parallel)),
        "schedule_index": [_SCHEDULES.index(s) for s in dict.fromkeys(request.schedules)],
        "algorithm_index": [_ALGORITHMS.index(a) for a in dict.fromkeys(request.algorithms)],
    }


GRID_ROW_BYTES = 160
"""Peak bytes a configuration of the search space holds while the grid is built and checked (:func:`_grid`,
:func:`_valid`: ten int64 axes, the rules' masks and products; 146-147 B measured at 2.5-17 million rows)."""
GRID_ROW_S = 1e-6
"""CPU seconds a configuration of the search space takes to build and check (0.21-0.74 us measured on the 2-core
VM, the most for long ``--tp`` lists, whose rules read the heads and the nodes)."""
PIPELINE_LOAD_RANK_S = 1e-5
"""CPU seconds the screen spends a rank of each pipelined layout whose stages reduce over data parallelism
(:func:`_screen_bubble`: ``step.pipeline_load_shape`` and the loads' evaluation beside the buckets): 5.7-6.5 us
measured over 360-398 layouts of 16,384-131,072 devices (llama2-7b, the default lists), about 14 us wall on the
loaded 2-core VM (27 s of the million-device plan)."""
_AXIS_OPTIONS: Final = {"device_index": "--device", "devices": "--max-devices", "tp": "--tp", "pp": "--pp",
                        "zero_stage": "--zero", "micro_batch": "--micro-batch", "recompute_index": "--recompute",
                        "algorithm_index": "--algorithm"}  # fmt: skip
"""The option that sets each axis a user can shorten (sequence parallelism and the schedules take both values)."""


def _check_grid(request: PlanRequest, axes: Mapping[str, Sequence[Any]]) -> None:
    """Refuse a search space whose grid alone is past the cost guard's limits (:data:`dpsim.sim.budget
    .MEMORY_LIMIT_BYTES` always, :data:`dpsim.sim.budget.LIMIT_S` unless ``--allow-long``), naming the option with
    the most values, before the grid is built: round 35's ``--tp`` of 11 degrees, ``--pp`` of 64, 12 micro-batches,
    every recomputation and algorithm over six devices were 766 million configurations, about 110 GiB of arrays
    (the process swapped or was killed), and 199 micro-batches over a million devices took 10 s and 1.2 GiB before
    the screen's own cost guard, which counts the data-parallel groups priced, was reached. The screen's pipeline
    loads are charged here too (:data:`PIPELINE_LOAD_RANK_S` a rank of each layout :func:`_pipelined_layouts`
    counts), refused naming ``--max-devices`` where they are most of the time: ``--global-batch 65536`` over a
    million devices (600 layouts, 67.6 million ranks) screened for minutes."""
    from dpsim.sim import budget

    rows = math.prod(len(v) for v in axes.values())
    held, seconds = rows * GRID_ROW_BYTES, rows * GRID_ROW_S
    over_memory = held > budget.MEMORY_LIMIT_BYTES
    loads_s = 0.0
    if not over_memory and not request.allow_long and seconds <= budget.LIMIT_S:
        layouts, ranks = _pipelined_layouts(request, axes)
        loads_s = ranks * PIPELINE_LOAD_RANK_S
        if loads_s > seconds and seconds + loads_s > budget.LIMIT_S:  # per rank: the largest counts, the --pp list
            raise ScenarioError(
                "--max-devices",
                f"the screen evaluates the pipeline loads of {layouts:,} layouts, {ranks:,} ranks in all: about "
                f"{format_time(seconds + loads_s)} with the grid's {format_time(seconds)} (limit "
                f"{format_time(budget.LIMIT_S)}); pass --allow-long to run it anyway, or give a smaller --max-devices "
                f"or fewer --pp values ({len(axes['pp']):,})",
                SOURCE,
            )
    seconds += loads_s
    if not over_memory and (seconds <= budget.LIMIT_S or request.allow_long):
        return
    longest = max(_AXIS_OPTIONS, key=lambda axis: len(axes[axis]))
    sizes = " x ".join(f"{len(v)} {_AXIS_OPTIONS.get(name, name.removesuffix('_index').replace('_', ' '))}"
                       for name, v in axes.items())  # fmt: skip
    loads = " with the screen's pipeline loads" if loads_s else ""
    limit = (f"holds about {held / 2**30:,.3g} GiB (limit {budget.MEMORY_LIMIT_BYTES / 2**30:g} GiB):" if over_memory
             else f"takes about {format_time(seconds)}{loads} (limit {format_time(budget.LIMIT_S)}); pass --allow-long "
             "to run it anyway, or")  # fmt: skip
    raise ScenarioError(
        _AXIS_OPTIONS[longest],
        f"the search space is {rows:,} configurations ({sizes}); building and checking them {limit} give fewer "
        f"values ({_AXIS_OPTIONS[longest]} lists the most, {len(axes[longest]):,})",
        SOURCE,
    )


def _pipelined_layouts(request: PlanRequest, axes: Mapping[str, Sequence[Any]]) -> tuple[int, int]:
    """(how many, their ranks in all) of the layouts whose pipeline loads the screen evaluates (:func:`_screen_bubble`:
    devices, count, TP, PP > 1, ZeRO stage <= 2, algorithm, with data parallelism), valid by :func:`_constraints` on
    the grid of the axes that decide them (one recomputation, sequence parallelism off where asked: none of the rules
    a layout meets reads them)."""
    spec, gb = _model_and_batch(request)
    sp = [False] if False in axes["sequence_parallel"] else list(axes["sequence_parallel"])
    part = {**axes, "pp": [p for p in axes["pp"] if p > 1], "zero_stage": [z for z in axes["zero_stage"] if z <= 2],
            "recompute_index": list(axes["recompute_index"])[:1], "sequence_parallel": sp}  # fmt: skip
    if not all(len(v) for v in part.values()):
        return 0, 0
    g = _cartesian(part)
    rules, _ = _constraints(g, spec, request.workers_per_node, gb, _devices(request))
    ok = np.logical_and.reduce([mask for _, mask in rules]) & (g["devices"] > g["tp"] * g["pp"])
    keys = ("device_index", "devices", "tp", "pp", "zero_stage", "algorithm_index")
    layouts = np.unique(np.stack([g[c][ok] for c in keys], axis=1), axis=0)
    return int(layouts.shape[0]), int(layouts[:, 1].sum())


def _grid(request: PlanRequest) -> dict[str, np.ndarray]:
    """Cartesian product of the search space, as flat arrays (one entry per configuration), its size checked first
    (:func:`_check_grid`)."""
    axes = _axes(request)
    _check_grid(request, axes)
    return _cartesian(axes)


def _cartesian(axes: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray]:
    """The Cartesian product of ``axes`` as flat arrays, one entry per point (the grid, and the part of it
    :func:`_pipelined_layouts` counts)."""
    mesh = np.meshgrid(*[np.asarray(list(v)) for v in axes.values()], indexing="ij")
    return {name: m.ravel() for name, m in zip(axes, mesh, strict=True)}


def _model_and_batch(request: PlanRequest) -> tuple[catalog.ModelSpec, int]:
    """The request's catalog model and its global batch (the model's default where the request names none)."""
    spec = catalog.MODELS[request.model.strip().lower()]
    return spec, request.global_batch or default_global_batch(spec.name)


def _constraints(
    g: dict[str, np.ndarray], spec: catalog.ModelSpec, per_node: int, global_batch: int, devices: Sequence[str]
) -> tuple[list[tuple[str, np.ndarray]], np.ndarray]:
    """Each rule a configuration must meet, as (what it requires, mask of configurations meeting it);
    ``devices``: the catalog names ``g["device_index"]`` indexes."""
    n, tp, pp, mb = g["devices"], g["tp"], g["pp"], g["micro_batch"]
    mp = tp * pp
    divides = n % mp == 0
    dp = np.where(divides, n // np.maximum(mp, 1), 1)
    batch_ok = global_batch % (dp * mb) == 0
    k = np.where(divides & batch_ok, global_batch // (dp * mb), 1)
    interleaved = g["schedule_index"] == _SCHEDULES.index("interleaved")
    v = np.where(interleaved, 2, 1)
    group_per_node = np.minimum(n, per_node)
    # without data parallelism one configuration stands for every algorithm: the first one asked for (the grid's
    # first point). It was _ALGORITHMS[0], 'auto', which a request of ('ring', 'hierarchical') lacks: a plan whose
    # only layouts have DP = 1 (--max-devices 1) found none
    kept = g["algorithm_index"][0] if g["algorithm_index"].size else 0
    # Scenario._nvls_runs: where the gradients are all-reduced (ZeRO stage 0 here), the node's NVSwitch reduces and
    # the whole node is one data-parallel group
    nvls = [_ALGORITHMS.index(a) for a in ("nvls", "nvls-tree")]
    sharded = [_ALGORITHMS.index(a) for a in SHARDED_ALGORITHMS]
    nvls_node = np.array([DEFAULT_NETWORK.get(d, ("",))[0] in NVLS_LINKS for d in devices], dtype=bool)
    nvls_node = nvls_node[g["device_index"]] if len(devices) else np.zeros(n.shape, dtype=bool)
    rules = [
        ("TP x PP must divide the device count", divides),
        (f"data-parallel ranks x micro-batch must divide the global batch ({global_batch})", batch_ok),
        (f"PP (x 2 chunks when interleaved) must divide the model's {spec.layers} layers", spec.layers % (pp * v) == 0),
        (
            "the interleaved schedule needs PP > 1 and micro-batches divisible by PP",
            ~(interleaved & ((pp == 1) | (k % pp != 0))),
        ),
        (f"TP must divide the model's {spec.heads} attention heads", spec.heads % tp == 0),
        ("sequence parallelism needs TP > 1", ~(g["sequence_parallel"] & (tp == 1))),
        (f"a device count above {per_node} must be whole nodes of {per_node}", (n <= per_node) | (n % per_node == 0)),
        (f"TP must fit inside a node of {per_node} devices", (tp <= group_per_node) & (group_per_node % tp == 0)),
        (
            "a pipeline stage's ranks (DP x TP) must be a divisor or a multiple of a node",
            (pp == 1) | (dp == 1) | ((dp * tp) % group_per_node == 0) | (group_per_node % (dp * tp) == 0),
        ),
        ("ZeRO needs data parallelism", ~((g["zero_stage"] > 0) & (dp == 1))),
        # Scenario: DeepSpeed's pipeline engine asserts ZeRO stage < 2 (the plan's ZeRO is DeepSpeed's)
        ("DeepSpeed refuses ZeRO-2/3 with pipeline parallelism", ~((g["zero_stage"] >= 2) & (pp > 1))),
        # Scenario._algorithm_read: ZeRO's reduce-scatter and gathers run the ring whatever all-reduce is named
        (
            f"ZeRO reduce-scatters and gathers with {', '.join(SHARDED_ALGORITHMS)} only",
            ~((g["zero_stage"] > 0) & (dp > 1) & ~np.isin(g["algorithm_index"], sharded)),
        ),
        ("the all-reduce algorithm is moot without data parallelism", ~((g["algorithm_index"] != kept) & (dp == 1))),
        (
            "NVLS needs an NVSwitch that reduces (H100 and later), 2+ devices a node and TP x PP = 1",
            ~(
                np.isin(g["algorithm_index"], nvls)
                & (dp > 1)
                & (g["zero_stage"] == 0)
                & (~nvls_node | (group_per_node < 2) | (mp > 1))
            ),
        ),
    ]
    return rules, k


def _valid(
    g: dict[str, np.ndarray], spec: catalog.ModelSpec, per_node: int, global_batch: int, devices: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Mask of configurations the scenario validator would accept (and that make sense)."""
    rules, k = _constraints(g, spec, per_node, global_batch, devices)
    ok = np.ones(g["devices"].shape, dtype=bool)
    for _, mask in rules:
        ok &= mask
    return ok, k


def infeasibility_reason(request: PlanRequest, candidates: pd.DataFrame) -> str:
    """Why no configuration survived: the rules no configuration meets, or the memory shortfall."""
    fits = candidates[~candidates["oom"]] if len(candidates) else candidates
    if len(fits) and request.node_mtbf_s is not None and not np.isfinite(fits["time_to_train_s"].to_numpy()).any():
        return (
            f"with a node failing every {format_time(request.node_mtbf_s)} (--node-mtbf) every "
            "configuration fails more often than it finishes a step between checkpoints: it never trains"
        )
    if len(fits):
        return "the configurations that fit when screened did not pass the exact re-check (memory or deadline)"
    if len(candidates):
        best = candidates.sort_values("memory_bytes").iloc[0]
        smallest, capacity = float(best["memory_bytes"]), float(best["capacity_bytes"])
        return (
            f"all {len(candidates):,} valid configurations are out of memory (the smallest needs "
            f"{smallest / 2**30:,.1f} GiB per device, the device has {capacity / 2**30:,.0f} GiB); "
            "allow more devices (--max-devices), ZeRO stage 3, or recomputation"
        )
    spec, gb = _model_and_batch(request)
    g = _grid(request)
    rules, _ = _constraints(g, spec, request.workers_per_node, gb, _devices(request))
    never = [what for what, mask in rules if not mask.any()]
    if not never:  # every rule is met somewhere, never all at once: the rules a configuration fails alone
        failed = np.sum([~mask for _, mask in rules], axis=0)
        never = [what for what, mask in rules if (~mask & (failed == 1)).any()]
    if not never:  # no configuration fails one rule alone: name the most restrictive
        never = [what for what, mask in sorted(rules, key=lambda r: int(r[1].sum()))[:2]]
    return f"no configuration of the search space is valid: {'; '.join(never)}"


def enumerate_configurations(
    request: PlanRequest, progress: Callable[[str, int, int], None] | None = None
) -> pd.DataFrame:
    """Every configuration of the search space that is valid, with its screened memory and step time.

    Columns: the configuration, ``memory_bytes``/``capacity_bytes``/``oom``, ``step_time_s``,
    ``mfu``, ``time_to_train_s`` (with failures when a node MTBF is given), ``cost`` and
    ``device_hours``. Vectorised; ``searched`` (all grid points) is in ``df.attrs``.
    """
    import pandas as pd

    spec, gb = _model_and_batch(request)
    devices = _devices(request)
    g = _grid(request)
    searched = int(g["devices"].size)
    ok, k = _valid(g, spec, request.workers_per_node, gb, devices)
    g = {name: arr[ok] for name, arr in g.items()}
    k = k[ok]
    g["accumulation"] = k
    if progress:
        progress("screen", 0, len(devices))
    frames = []
    for index, device in enumerate(devices):
        sel = g["device_index"] == index
        part = {name: arr[sel] for name, arr in g.items()}
        if part["devices"].size:
            frames.append(_screen(request, spec, device, gb, part))
        if progress:
            progress("screen", index + 1, len(devices))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["device", "devices", "step_time_s"])
    df.attrs["searched"] = searched
    df.attrs["global_batch"] = gb
    return df


def _base_scenario(request: PlanRequest, device: str, gb: int, n: int) -> Scenario:
    row = {
        "device": device,
        "devices": n,
        "global_batch": gb,
        "micro_batch": 1,
        "zero_stage": 0,
        "tp": 1,
        "pp": 1,
        "schedule": "1f1b",
        "sequence_parallel": False,
        "recomputation": "none",
        "algorithm": "ring",
    }
    data = scenario_data(request, row)
    data["training"] = {"global_batch": gb * n, "micro_batch": 1}  # always valid; training is replaced below
    return scenario_from_dict(data, SOURCE)


def _variant(base: Scenario, tp: int, pp: int, zero: int, algorithm: str) -> Scenario:
    """``base`` with other degrees, without re-validation (only for fabric and group look-ups)."""
    training = base.training.model_copy(
        update={"tensor_parallel": tp, "pipeline_parallel": pp, "zero_stage": zero, "accumulation": None}
    )
    comm = base.communication.model_copy(update={"algorithm": algorithm})
    return base.model_copy(update={"training": training, "communication": comm})


def _uniform_end(
    total: np.ndarray,
    bucket: float | np.ndarray,
    span: np.ndarray,
    c_full: np.ndarray,
    c_rest: np.ndarray,
    free: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`dpsim.analytic.step._uniform_overlap_end`: (end, total communication)."""
    full = np.floor(total / bucket)
    rest = total - full * bucket
    safe_total = np.where(total > 0, total, 1.0)
    delta = span * bucket / safe_total
    end_full = np.maximum.reduce([free + full * c_full, delta + full * c_full, full * delta + c_full])
    end = np.where(full > 0, end_full, free)
    end = np.where(rest > 0, np.maximum(span, end) + c_rest, end)
    comm = full * c_full + np.where(rest > 0, c_rest, 0.0)
    return np.where(total > 0, end, free), np.where(total > 0, comm, 0.0)


def _screen_backlog(
    count: np.ndarray, gap: np.ndarray, backward: np.ndarray, end_of: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Vectorised :func:`dpsim.analytic.step._micro_batch_backlog`, row by row the same iteration."""
    free = np.zeros(len(count))
    step_ = np.zeros(len(count))
    done = count <= 0
    i = 0
    while not done.all():
        nxt = np.maximum(0.0, end_of(free) - backward - gap)
        settled = ~done & (nxt == free)
        steady = ~done & ~settled & (i > 0) & (np.abs((nxt - free) - step_) <= 1e-12 * np.maximum(1.0, nxt))
        moving = ~done & ~settled & ~steady
        new_free = np.where(steady, nxt + step_ * (count - 1 - i), np.where(moving, nxt, free))
        step_ = np.where(moving, nxt - free, step_)
        free = new_free
        done = done | settled | steady
        i += 1
        done = done | (moving & (i >= count))
    return free


def _uniform_end_with_head(
    total: np.ndarray,
    head: np.ndarray,
    bucket: float | np.ndarray,
    span: np.ndarray,
    c_head: np.ndarray,
    c_full: np.ndarray,
    c_rest: np.ndarray,
    free: np.ndarray,
) -> np.ndarray:
    """Vectorised first-bucket branch of :func:`dpsim.analytic.step._uniform_overlap_end` (end only)."""
    safe_total = np.where(total > 0, total, 1.0)
    offset = span * head / safe_total
    start = np.maximum(free, offset) + c_head
    rest_total = total - head
    full = np.floor(rest_total / bucket)
    rest = rest_total - full * bucket
    delta = span * bucket / safe_total
    chain = np.maximum.reduce([start + full * c_full, offset + delta + full * c_full, offset + full * delta + c_full])
    end = np.where(full > 0, chain, start)
    return np.asarray(np.where(rest > 0, np.maximum(span, end) + c_rest, end), dtype=float)


def _screen_compute(
    base: Scenario, tp: np.ndarray, pp: np.ndarray, mb: np.ndarray, rc: np.ndarray, sp: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward seconds per micro-batch: :func:`dpsim.compute.compute_times`, the main path's function
    (so the scenario's precision, ``training.fp32_matmul``, ``training.autocast``'s casts and fp32 norms, the
    gradient accumulation pass and the layers of each stage are priced as ``predict`` prices them).

    The kernels depend only on (tp, pp, micro-batch, recomputation, sequence parallelism), a few
    hundred distinct shapes at most, so each is priced once and broadcast.
    """
    from dpsim.compute import compute_times

    keys = np.stack([tp, pp, mb, np.asarray(rc, dtype=np.int64), sp.astype(np.int64)], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    fwd_u = np.empty(len(unique))
    bwd_u = np.empty(len(unique))
    for i, (t_, p_, b_, r_, s_) in enumerate(unique.tolist()):
        training = base.training.model_copy(
            update={
                "tensor_parallel": t_,
                "pipeline_parallel": p_,
                "micro_batch": b_,
                "sequence_parallel": bool(s_),
                "activation_recomputation": _RECOMPUTE[r_],
                "accumulation": None,
            }
        )
        times = compute_times(base.model_copy(update={"training": training}))
        fwd_u[i], bwd_u[i] = times.forward_s, times.backward_s
    inverse = inverse.reshape(-1)
    return fwd_u[inverse], bwd_u[inverse]


@dataclass(frozen=True)
class _Rows:
    """The screened configurations' columns (one entry a row), as the screen's steps read them."""

    n: np.ndarray
    tp: np.ndarray
    pp: np.ndarray
    mb: np.ndarray
    k: np.ndarray
    zero: np.ndarray
    rc: np.ndarray
    sp: np.ndarray
    interleaved: np.ndarray
    dp: np.ndarray
    algo_names: np.ndarray

    @property
    def count(self) -> int:
        return int(self.n.size)


@dataclass(frozen=True)
class _DataParallelPrices:
    """What each row's data-parallel collectives cost and move (:func:`_screen_data_parallel_prices`): the gradient
    buckets' reductions (full, rest, DDP's small first bucket and the rest after it), the post-step gathers, ZeRO-3's
    forward and backward gathers by piece, DDP's bucket copies, and the rows whose buckets are listed (DDP's of whole
    tensors, DeepSpeed's of known tensors: selection, ready fractions, costs)."""

    grad_bytes: np.ndarray
    grad_bucket: np.ndarray
    post_piece: np.ndarray
    c_full: np.ndarray
    c_rest: np.ndarray
    head_size: np.ndarray
    c_head: np.ndarray
    h_rest: np.ndarray
    g_full: np.ndarray
    g_rest: np.ndarray
    pieces: np.ndarray
    piece_gather: np.ndarray
    bwd_pieces: np.ndarray
    bwd_piece_gather: np.ndarray
    z3_gathered: np.ndarray
    copy_in: np.ndarray
    copy_back: np.ndarray
    copy_last: np.ndarray
    layouts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    listed_blocking: np.ndarray


def _screen(
    request: PlanRequest, spec: catalog.ModelSpec, device: str, gb: int, g: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Memory and step time of the configurations of one device type (numpy, all at once): the step's terms, each
    in its own function below, summed once."""
    from dpsim.analytic import step
    from dpsim.analytic.memory import optimizer_bytes_per_param
    from dpsim.compute import loss_peak_bytes, mfu_peak_flops

    n, tp, pp, mb, k = (g[c].astype(np.int64) for c in ("devices", "tp", "pp", "micro_batch", "accumulation"))
    zero, rc, sp = g["zero_stage"].astype(np.int64), g["recompute_index"], g["sequence_parallel"].astype(bool)
    interleaved = g["schedule_index"] == _SCHEDULES.index("interleaved")
    v = np.where(interleaved, 2, 1)
    dp = n // (tp * pp)
    algo_names = np.array(_ALGORITHMS)[g["algorithm_index"]]
    rows = _Rows(n, tp, pp, mb, k, zero, rc, sp, interleaved, dp, algo_names)

    # model constants (as ModelConfig derives them)
    base = _base_scenario(request, device, gb, int(n[0]))
    dev = base.cluster.device  # the catalog's "none" resolved as predict() reads it (a CPU's memory_efficiency)
    model = base.model
    psi_total = model.num_parameters
    f_sample = model.training_flops_per_sample
    s, h, a, layers, vocab = model.seq_len, model.hidden, model.heads, model.layers, model.vocab
    width = 2.0  # bf16 activations, weights and gradients

    # --- compute per micro-batch: predict()'s operation-level model, once per distinct shape ---
    fwd, bwd = _screen_compute(base, tp, pp, mb, rc, sp)
    bases, fabrics = _screen_fabrics(request, device, gb, n)
    msg = mb * s * h * width
    tp_comm_mb = _screen_tensor_parallel(request, base, fabrics, rows, msg)
    # inside the passes (predict()'s model): 2 all-reduces per layer in the forward, the rest in the backward
    tp_fwd = tp_comm_mb * 2 / np.where(rc == 2, 6, 4)
    fwd_pass, bwd_pass = fwd + tp_fwd, bwd + (tp_comm_mb - tp_fwd)

    send = _screen_sends(bases, fabrics, rows, msg)
    keys = _screen_cost_guard(request, device, bases, rows)  # before any collective is priced
    bubble, p2p_exposed = _screen_bubble(bases, fabrics, rows, fwd_pass, bwd_pass, send)
    tied = _screen_tied_embedding(bases, fabrics, rows)

    # --- data-parallel gradient synchronisation, ZeRO gathers (predict()'s overlap model) ---
    psi = psi_total / (tp * pp)
    param_bytes = psi * width
    prices = _screen_data_parallel_prices(
        bases, fabrics, rows, keys, psi * width, param_bytes, base.communication.bucket
    )
    grad_exposed, post_gather, gather_exposed, copied = _screen_gradient_exposure(
        rows, prices, fwd_pass, bwd_pass, param_bytes
    )

    updated = psi / np.where(zero >= 1, dp, 1)
    optimizer = updated * step.optimizer_step_bytes(base) / (dev.memory_bandwidth * dev.memory_efficiency)
    optimizer = optimizer / dev.sustained_fraction

    compute = k * (fwd + bwd) + prices.copy_in + copied
    tp_comm = k * tp_comm_mb
    exposed = grad_exposed + post_gather + gather_exposed + tp_comm + p2p_exposed + tied
    step_s = compute + bubble + exposed + optimizer
    mfu = f_sample * gb / step_s / (n * mfu_peak_flops(base))

    # --- memory: the first and last pipeline stages bound every other (memory_breakdown()) ---
    memory = _screen_memory(
        model_embed=(vocab * h + (s * h if model.learned_positions else 0), vocab * h, model.tied_embeddings),
        psi_total=psi_total,
        embedding_parameters=model.embedding_parameters,
        shape=(s, h, a, layers, vocab, model.kv_heads, model.ffn_hidden, model.gated_mlp, model.dropout),
        tp=tp,
        pp=pp,
        dp=dp,
        mb=mb,
        k=k,
        v=v,
        interleaved=interleaved,
        zero=zero,
        rc=rc,
        sp=sp,
        dtensor=request.sequence_parallel_kind == "dtensor",
        z3_gathered=prices.z3_gathered,
        k_opt=optimizer_bytes_per_param("adam", "bf16"),
        logit_bytes=loss_peak_bytes(model.loss_kernel, 2.0),
    )
    return _screen_frame(request, device, gb, g, rows, step_s, bubble, exposed, mfu, memory, dev.memory, s)


def _screen_fabrics(
    request: PlanRequest, device: str, gb: int, n: np.ndarray
) -> tuple[dict[int, Scenario], dict[int, Fabric]]:
    """The base scenario and its fabric per device count (``step.fabric_of``)."""
    from dpsim.analytic import step

    fabrics: dict[int, Fabric] = {}
    bases: dict[int, Scenario] = {}
    for count_n in np.unique(n):
        bases[int(count_n)] = _base_scenario(request, device, gb, int(count_n))
        fabrics[int(count_n)] = step.fabric_of(bases[int(count_n)])
    return bases, fabrics


def _screen_tensor_parallel(
    request: PlanRequest, base: Scenario, fabrics: dict[int, Fabric], rows: _Rows, msg: np.ndarray
) -> np.ndarray:
    """Tensor parallelism's seconds a micro-batch: L/p · (4 or 6) ring all-reduces of b·s·h on NVLink, and DTensor's
    staging copies under ``sequence_parallel_kind: dtensor``."""
    from dpsim.compute import compute_device, memory_bound_seconds

    n, tp, pp, rc, sp = rows.n, rows.tp, rows.pp, rows.rc, rows.sp
    layers = base.model.layers
    intra_lat = np.array([fabrics[int(x)].intra.latency_s for x in n])
    intra_bw = np.array([fabrics[int(x)].intra.bandwidth for x in n])
    ring = np.where(tp > 1, 2 * (tp - 1) * intra_lat + 2 * (tp - 1) / tp * msg / intra_bw, 0.0)
    tp_comm_mb = np.where(tp > 1, layers / pp * np.where(rc == 2, 6, 4) * ring, 0.0)
    if request.sequence_parallel_kind == "dtensor":
        # DTensor's full-length staging copies on the compute stream (parallel.tensor_parallel_staging_copies): 4 a
        # forward, 4 a backward, 4 more with full recomputation, each reading and writing b·s·h
        staging = np.where((tp > 1) & sp, np.where(rc == 2, 12, 8), 0)
        per_byte = memory_bound_seconds(compute_device(base), 1.0)
        tp_comm_mb = tp_comm_mb + layers / pp * (staging * 2.0 * msg) * per_byte
    return np.asarray(tp_comm_mb)


def _screen_sends(bases: dict[int, Scenario], fabrics: dict[int, Fabric], rows: _Rows, msg: np.ndarray) -> np.ndarray:
    """Each stage boundary's send a row (parallel.pipeline_p2p_links: NVLink inside a node, the NIC at a node's
    edge), one column a boundary."""
    from dpsim.analytic import parallel
    from dpsim.analytic.collectives import send_time

    n, tp, pp, dp, sp = rows.n, rows.tp, rows.pp, rows.dp, rows.sp
    send = np.zeros((rows.count, int(pp.max(initial=1))))
    for key in set(zip(n.tolist(), tp.tolist(), dp.tolist(), strict=True)):
        cn, ct, cd = key
        links = parallel.pipeline_p2p_links(_variant(bases[cn], ct, cn // (ct * cd), 0, "ring"), fabrics[cn])
        sel = (n == cn) & (tp == ct) & (dp == cd)
        at = np.flatnonzero(sel)
        # each TP rank sends the stage's tensor as it holds it (parallel.stage_boundary_bytes): 1/t under SP
        sent = msg[at] / np.where(sp[at], ct, 1)
        per_link = {link: [send_time(x, link) for x in sent] for link in set(links)}  # each link once
        if links:
            send[at, : len(links)] = np.array([per_link[link] for link in links]).T
        if len(per_link) <= 1:  # one send for every boundary (the column the schedule reads)
            send[at, 1:] = send[at, :1]
    return send


def _screen_cost_guard(
    request: PlanRequest, device: str, bases: dict[int, Scenario], rows: _Rows
) -> set[tuple[int, int, int, int, str]]:
    """The layouts whose data-parallel groups the screen prices, (devices, tp, pp, ZeRO stage > 0, algorithm),
    checked against the cost guard (``budget.check_total``) before any collective is priced: the stages' loads and
    reductions after it price their buckets."""
    from dpsim.sim import budget

    n, tp, pp, zero, algo_names = rows.n, rows.tp, rows.pp, rows.zero, rows.algo_names
    keys = set(
        zip(n.tolist(), tp.tolist(), pp.tolist(), np.minimum(zero, 1).tolist(), algo_names.tolist(), strict=True)
    )
    budget.check_total(
        ((f"at {cn}x{device} tp={ct} pp={cp} {alg}", _variant(bases[cn], ct, cp, int(z1), alg))
         for cn, ct, cp, z1, alg in sorted(keys)),
        "the plan's screen", request.allow_long, fewer="give a smaller --max-devices",
    )  # fmt: skip
    return keys


def _screen_bubble(
    bases: dict[int, Scenario],
    fabrics: dict[int, Fabric],
    rows: _Rows,
    fwd_pass: np.ndarray,
    bwd_pass: np.ndarray,
    send: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pipeline bubble and exposed sends a row: the schedule evaluated (step.pipeline_terms), one group a shape."""
    from dpsim.analytic import step
    from dpsim.analytic.pipeline_schedule import ScreenLoads, batch_bubble_and_sends

    n, tp, pp, k, zero, dp, interleaved, algo_names = (
        rows.n, rows.tp, rows.pp, rows.k, rows.zero, rows.dp, rows.interleaved, rows.algo_names
    )  # fmt: skip
    uniform = bool(np.all(send == send[:, :1]))
    bubble = np.zeros(rows.count)
    p2p_exposed = np.zeros(rows.count)
    piped = pp > 1
    pipelines = sorted(set(zip(pp[piped].tolist(), k[piped].tolist(), interleaved[piped].tolist(), strict=True)))
    shape_of = np.zeros(rows.count, dtype=np.int64)
    for i, (cp, ck, ci) in enumerate(pipelines):
        shape_of[piped & (pp == cp) & (k == ck) & (interleaved == ci)] = i
    shapes = [(cp, ck, 2, "interleaved") if ci else (cp, ck, 1, "1f1b") for cp, ck, ci in pipelines]
    # where a stage's sends share its NICs with its data-parallel reduction (step.pipeline_load_shape): the rows of
    # each layout, their last operations run again beside their buckets (pipeline_schedule.ScreenLoads)
    loads: list[ScreenLoads] = []
    reducing = piped & (dp > 1) & (zero <= 2)
    layouts_reduced = zip(*(x[reducing].tolist() for x in (n, tp, pp, zero, algo_names)), strict=True)
    for cn, ct, cp, cz, alg in sorted(set(layouts_reduced)):
        shape = step.pipeline_load_shape(_variant(bases[cn], ct, cp, cz, alg), fabrics[cn])
        if shape is not None:
            if any(shape[1].tp_flows):  # TP fits a node here: no TP group crosses a NIC
                raise AssertionError("the screen prices no TP ring across nodes")
            at = np.flatnonzero(((n == cn) & (tp == ct) & (pp == cp) & (zero == cz) & (algo_names == alg))[piped])
            loads.append(ScreenLoads(at, *shape))
    if shapes:  # all shapes at once: each program evaluated once (pipeline_schedule.batch_bubble_and_sends)
        bubble[piped], p2p_exposed[piped] = batch_bubble_and_sends(
            fwd_pass[piped],
            bwd_pass[piped],
            send[piped, 0] if uniform else send[piped],
            shape_of[piped],
            shapes,
            loads=loads,
        )
    return bubble, p2p_exposed


def _screen_tied_embedding(bases: dict[int, Scenario], fabrics: dict[int, Fabric], rows: _Rows) -> np.ndarray:
    """The tied embedding's gradient, all-reduced between the first and last stage once a step."""
    from dpsim.analytic import parallel

    n, tp, pp = rows.n, rows.tp, rows.pp
    tied = np.zeros(rows.count)
    for cn, ct, cp in set(zip(n.tolist(), tp.tolist(), pp.tolist(), strict=True)):
        sel = (n == cn) & (tp == ct) & (pp == cp)
        tied[sel] = parallel.tied_embedding_allreduce_time(_variant(bases[cn], ct, cp, 0, "ring"), fabrics[cn])
    return tied


def _screen_data_parallel_prices(
    bases: dict[int, Scenario],
    fabrics: dict[int, Fabric],
    rows: _Rows,
    keys: set[tuple[int, int, int, int, str]],
    grad_bytes: np.ndarray,
    param_bytes: np.ndarray,
    bucket: float,
) -> _DataParallelPrices:
    """Each layout's data-parallel collectives priced once (``keys``, :func:`_screen_cost_guard`) and broadcast to
    its rows; ``grad_bytes`` (the gradient a stage reduces) is replaced where DeepSpeed's buckets are listed."""
    from dpsim.analytic import step
    from dpsim.analytic.memory import stage_parameters, zero3_gathered_parameters, zero3_kept_parameters
    from dpsim.buckets import bucket_sizes, first_bucket_bytes, gradient_tensors, last_bucket_bytes

    n, tp, pp, zero, algo_names, count = rows.n, rows.tp, rows.pp, rows.zero, rows.algo_names, rows.count
    c_full = np.zeros(count)
    c_rest = np.zeros(count)
    g_full = np.zeros(count)
    g_rest = np.zeros(count)
    piece_gather = np.zeros(count)
    head_size = np.zeros(count)
    c_head = np.zeros(count)
    h_rest = np.zeros(count)
    # what each collective moves (dpsim.sharding.collective_pieces: DeepSpeed ZeRO cuts by its own element counts)
    grad_bucket = np.full(count, float(bucket))
    post_piece = np.full(count, float(bucket))
    pieces = np.maximum(1, np.ceil(param_bytes / bucket))
    bwd_pieces = np.ones(count)  # ZeRO-3's backward: 0 gather time where everything was kept
    bwd_piece_gather = np.zeros(count)
    z3_gathered = np.zeros((count, 2))  # elements ZeRO-3 holds gathered on the first and the last stage
    copy_in, copy_back, copy_last = np.zeros(count), np.zeros(count), np.zeros(count)
    layouts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    listed_blocking = np.zeros(count)  # DeepSpeed's IPG buckets reduced one after another (0: the stream)
    for cn, ct, cp, z1, alg in keys:
        sel = (n == cn) & (tp == ct) & (pp == cp) & (np.minimum(zero, 1) == z1) & (algo_names == alg)
        variant = _variant(bases[cn], ct, cp, int(z1), alg)
        group = step.dp_fabric(variant, fabrics[cn])
        cut = collective_pieces(variant)
        bk = grad_bucket[sel] = cut.gradient_bucket
        post_piece[sel] = cut.post_step_gather
        size = float(grad_bytes[sel][0])
        full_b = math.floor(size / bk) * bk
        rest = size - full_b
        head = min(first_bucket_bytes(bk) if z1 == 0 else bk, size)
        if head < bk and head < size:  # DDP's small first bucket (dpsim.buckets.bucket_sizes)
            head_rest = size - head - math.floor((size - head) / bk) * bk
            head_size[sel] = head

        def cost(x: float, alg: str = alg, group: Fabric = group, z1: int = z1) -> float:
            if z1 == 0:
                return step.allreduce_time(alg, x, group)
            return step.reduce_scatter_group_time(alg, x, group)

        tensors = gradient_tensors(variant) if z1 == 0 else ()
        if z1 == 0 and cn > ct * cp:  # DDP's passes through its buckets (step.ddp_bucket_copies)
            reduced = sum(tensors) if tensors else size
            copies = step.ddp_bucket_copies(variant, reduced, last_bucket_bytes(reduced, bk, None, tensors), False)
            copy_in[sel], copy_back[sel], copy_last[sel] = copies.in_backward_s, copies.back_s, copies.back_last_s
        if tensors:  # DDP buckets whole tensors: step._uniform_overlap_end's per-bucket chain
            sizes = bucket_sizes(sum(tensors), bk, None, tensors)  # pp > 1: the first stage's
            priced = functools.cache(cost)  # a layer's buckets repeat: a few distinct sizes
            layouts.append((sel, np.cumsum(sizes) / sum(sizes), np.array([priced(x) for x in sizes])))
        for zval in np.unique(zero[sel]).tolist() if z1 else ():  # DeepSpeed's IPG buckets of known tensors
            listed = collective_pieces(_variant(bases[cn], ct, cp, int(zval), alg)).gradient_buckets
            if listed:  # per stage: the order DeepSpeed meets the tensors differs (collective_pieces)
                at = sel & (zero == zval)
                priced_listed = functools.cache(cost)
                listed_costs = np.array([priced_listed(x) for x in listed])
                grad_bytes[at] = sum(listed)  # pp > 1: the first stage's
                listed_blocking[at] = listed_costs.sum()
                layouts.append((at, np.cumsum(listed) / sum(listed), listed_costs))
        c_full[sel] = cost(bk)
        c_rest[sel] = cost(rest) if rest > 0 else 0.0
        if head_size[sel][0] > 0:
            c_head[sel] = cost(head)
            h_rest[sel] = cost(head_rest) if head_rest > 0 else 0.0
        params = float(param_bytes[sel][0])
        post_rest = params - math.floor(params / cut.post_step_gather) * cut.post_step_gather
        g_full[sel] = step.gather_time(alg, cut.post_step_gather, group)
        g_rest[sel] = step.gather_time(alg, post_rest, group) if post_rest > 0 else 0.0
        gather_piece = bucket
        if z1 and cn > ct * cp:  # DeepSpeed ZeRO-3's prefetch buckets
            z3_variant = _variant(bases[cn], ct, cp, 3, alg)
            gather_piece = collective_pieces(z3_variant).gather_piece
            pieces[sel] = max(1, math.ceil(params / gather_piece))
        npieces = float(pieces[sel][0])
        piece_gather[sel] = step.gather_time(alg, params / npieces, group)
        if z1 and cn > ct * cp:  # DeepSpeed ZeRO-3's backward gathers what its coordinator did not keep
            z3_gathered[sel, 0] = zero3_gathered_parameters(z3_variant, 0)
            z3_gathered[sel, 1] = zero3_gathered_parameters(z3_variant, cp - 1)
            kept = zero3_kept_parameters(z3_variant, 0) / stage_parameters(z3_variant)[0]
            bwd_bytes = float(param_bytes[sel][0]) * (1.0 - kept)
            if bwd_bytes > 1e-12 * float(param_bytes[sel][0]):
                bwd_pieces[sel] = max(1, math.ceil(bwd_bytes / gather_piece))
                bwd_piece_gather[sel] = step.gather_time(alg, bwd_bytes / bwd_pieces[sel][0], group)
    return _DataParallelPrices(
        grad_bytes, grad_bucket, post_piece, c_full, c_rest, head_size, c_head, h_rest, g_full, g_rest, pieces,
        piece_gather, bwd_pieces, bwd_piece_gather, z3_gathered, copy_in, copy_back, copy_last, layouts,
        listed_blocking,
    )  # fmt: skip


def _screen_gradient_exposure(
    rows: _Rows, prices: _DataParallelPrices, fwd_pass: np.ndarray, bwd_pass: np.ndarray, param_bytes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(exposed gradient reduction, post-step gathers, ZeRO-3's exposed gathers, DDP's copies back past the
    reductions) a row: predict()'s overlap model over the spans ZeRO-3's gathers stretch."""
    from dpsim.analytic import step

    zero, dp, k = rows.zero, rows.dp, rows.k
    p = prices
    grad_bytes, grad_bucket, c_full, c_rest = p.grad_bytes, p.grad_bucket, p.c_full, p.c_rest
    pieces, piece_gather, bwd_pieces, bwd_piece_gather = p.pieces, p.piece_gather, p.bwd_pieces, p.bwd_piece_gather
    z3 = (zero == 3) & (dp > 1)
    fwd_span = np.where(
        z3, piece_gather + (pieces - 1) * np.maximum(piece_gather, fwd_pass / pieces) + fwd_pass / pieces, fwd_pass
    )
    bwd_span = np.where(
        z3,
        bwd_piece_gather
        + (bwd_pieces - 1) * np.maximum(bwd_piece_gather, bwd_pass / bwd_pieces)
        + bwd_pass / bwd_pieces,
        bwd_pass,
    )
    sync_span = bwd_span + p.copy_in  # DDP's pass into its buckets lengthens the synchronising backward
    stream_free = np.where(z3, bwd_pieces * bwd_piece_gather, 0.0)  # gathers back to back from the start
    # gradients: over the last bwd_pass of the span when computing is the bottleneck (predict()'s model)
    offset = np.where(z3 & (bwd_piece_gather <= bwd_pass / bwd_pieces), sync_span - bwd_pass, 0.0)
    end, _grad_comm = _uniform_end(grad_bytes, grad_bucket, sync_span - offset, c_full, c_rest, stream_free - offset)
    end = end + offset
    # DDP's small first bucket (zero-stage-0 rows only, where nothing is offset)
    with_head = _uniform_end_with_head(
        grad_bytes, p.head_size, grad_bucket, sync_span, p.c_head, c_full, p.h_rest, stream_free
    )
    end = np.where(p.head_size > 0, with_head, end)
    for sel, fractions, costs in p.layouts:  # rows whose buckets are listed: DDP's or DeepSpeed's of known tensors
        # the chain e_i = max(r_i, e_{i-1}) + c_i in closed (max-plus) form: the latest of the stream's
        # start + all costs and each bucket's ready time + the costs from it on, for every row at once
        from_here = np.cumsum(costs[::-1])[::-1]
        span, shift = sync_span[sel] - offset[sel], offset[sel]
        paths = (span[:, None] * fractions[None, :] + from_here[None, :]).max(axis=1)
        end[sel] = np.maximum(stream_free[sel] - shift + from_here[0], paths) + shift
    grad_exposed = np.maximum(0.0, end - sync_span)
    # DDP's copies back, past the reductions (step.copies_back_end, as step.BucketCopies.back_end)
    reduced_end = np.maximum(end, sync_span)
    back_end = step.copies_back_end(sync_span, reduced_end, p.copy_back, p.copy_last)
    copied = np.where(p.copy_back > 0, back_end - reduced_end, 0.0)
    # ZeRO-2/3 reduce-scatter every micro-batch (Scenario.reduces_every_micro_batch)
    per_mb = (zero >= 2) & (dp > 1) & (k > 1)
    grad_exposed = np.where(z3 & per_mb, k * grad_exposed, grad_exposed)
    stage2 = per_mb & ~z3
    if stage2.any():
        at = np.flatnonzero(stage2)
        backlog = _screen_backlog(
            k[at] - 1,
            fwd_pass[at],
            bwd_pass[at],
            lambda free: _uniform_end(grad_bytes[at], grad_bucket[at], bwd_pass[at], c_full[at], c_rest[at], free)[0],
        )
        last = _uniform_end(grad_bytes[at], grad_bucket[at], bwd_pass[at], c_full[at], c_rest[at], backlog)[0]
        grad_exposed[at] = np.maximum(0.0, last - bwd_pass[at])
    # DeepSpeed ZeRO-1/2 without overlap_comm (its default): every reduction after its backward, blocking
    z12 = ((zero == 1) | (zero == 2)) & (dp > 1)
    blocking = np.where(p.listed_blocking > 0, p.listed_blocking, np.floor(grad_bytes / grad_bucket) * c_full + c_rest)
    grad_exposed = np.where(z12, np.where(per_mb, k, 1) * blocking, grad_exposed)
    post_gather = np.where(
        ((zero == 1) | (zero == 2)) & (dp > 1), np.floor(param_bytes / p.post_piece) * p.g_full + p.g_rest, 0.0
    )
    gather_exposed = k * ((fwd_span - fwd_pass) + (bwd_span - bwd_pass))
    return grad_exposed, post_gather, gather_exposed, copied


def _screen_frame(
    request: PlanRequest,
    device: str,
    gb: int,
    g: dict[str, np.ndarray],
    rows: _Rows,
    step_s: np.ndarray,
    bubble: np.ndarray,
    exposed: np.ndarray,
    mfu: np.ndarray,
    memory: np.ndarray,
    capacity: float,
    seq_len: int,
) -> pd.DataFrame:
    """The screened rows as the plan's frame: the layout, the step's terms, memory, and time and cost to train."""
    import pandas as pd

    n = rows.n
    tokens_per_step = gb * seq_len
    steps = np.ceil(request.tokens / tokens_per_step)
    work = steps * step_s
    nodes = np.maximum(1, n // request.workers_per_node)
    wall = _wall_time(request, work, nodes, step_s)
    price = request.price(device)
    cost_value = wall / 3600.0 * n * price
    return pd.DataFrame(
        {
            "device": device,
            "devices": n,
            "nodes": nodes,
            "tp": rows.tp,
            "pp": rows.pp,
            "dp": rows.dp,
            "zero_stage": rows.zero,
            "micro_batch": rows.mb,
            "accumulation": rows.k,
            "global_batch": gb,
            "recomputation": np.array(_RECOMPUTE)[rows.rc],
            "sequence_parallel": rows.sp,
            "schedule": np.array(_SCHEDULES)[g["schedule_index"]],
            "algorithm": rows.algo_names,
            "step_time_s": step_s,
            "bubble_s": bubble,
            "exposed_comm_s": exposed,
            "mfu": mfu,
            "memory_bytes": memory,
            "capacity_bytes": capacity,
            "headroom_bytes": capacity - memory,
            "oom": memory > capacity,
            "steps": steps,
            "work_s": work,
            "time_to_train_s": wall,
            "device_hours": wall / 3600.0 * n,
            "cost": cost_value,
        }
    )


def _screen_memory(
    *,
    model_embed: tuple[float, float, bool],
    psi_total: float,
    embedding_parameters: float,
    shape: tuple[int, int, int, int, int, int, int, bool, bool],
    tp: np.ndarray,
    pp: np.ndarray,
    dp: np.ndarray,
    mb: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    interleaved: np.ndarray,
    zero: np.ndarray,
    rc: np.ndarray,
    sp: np.ndarray,
    z3_gathered: np.ndarray,
    k_opt: float,
    logit_bytes: float = 4.0,
    dtensor: bool = False,
) -> np.ndarray:
    """Vectorised :func:`dpsim.analytic.memory.memory_breakdown` total (bf16, Adam), worst stage; ``logit_bytes`` what
    the loss holds a logit element at its peak (:func:`dpsim.compute.loss_peak_bytes`); ``dtensor``: sequence
    parallelism run as ``training.sequence_parallel_kind: dtensor`` where ``sp``."""
    s, h, a, layers, vocab, kv_heads, ffn_hidden, gated, dropout = shape
    embed_in, head, tied = model_embed
    body = (psi_total - embedding_parameters) / pp
    first = body + embed_in + np.where((pp == 1) & tied, 0.0, np.where(pp == 1, head, 0.0))
    last = body + np.where((pp > 1) | (not tied), head, 0.0) + np.where(pp == 1, embed_in, 0.0)
    width = 2.0

    def states(params: np.ndarray) -> np.ndarray:
        w = width * params / np.where(zero >= 3, dp, 1)
        gr = width * params / np.where(zero >= 2, dp, 1)
        st = k_opt * params / np.where(zero >= 1, dp, 1)
        return w + gr + st

    sbh = s * mb * h
    kv_ratio = (kv_heads or a) / a
    f = ffn_hidden or 4 * h
    replicated = 10.0 if dropout else 8.0
    per_sbh = (
        np.where(sp, replicated / tp, replicated) + ((2 + 4 * kv_ratio + 2) + (6.0 if gated else 4.0) * f / h) / tp
    )
    gathered_inputs = sp & dtensor  # the QKV and MLP inputs kept whole (memory.activation_bytes_per_layer)
    per_sbh = per_sbh + np.where(gathered_inputs, 2.0 * 2.0 * (1.0 - 1.0 / tp), 0.0)
    score = np.where(rc == 1, 0.0, (5.0 if dropout else 2.0) * a * s / (h * tp))
    per_layer = np.where(rc == 2, 2.0 * sbh / np.where(sp, tp, 1), sbh * (per_sbh + score))
    # one layer of one micro-batch re-materialised by recomputation (memory.recompute_working_set)
    score_kept = (5.0 if dropout else 2.0) * a * s / (h * tp)
    working = np.where(rc == 0, 0.0, sbh * (per_sbh + score_kept) - per_layer)
    lps = layers / pp

    def flights(stage: np.ndarray) -> np.ndarray:
        inter_chunks = np.minimum((pp - stage - 1) * 2 + (v - 1) * pp + 1, k * v) / v
        plain = np.minimum(pp - stage, k).astype(float)
        out = np.where(interleaved & (v > 1), inter_chunks, plain)
        return np.where(pp <= 1, 1.0, out)

    zeros = np.zeros_like(pp)
    acts_first = per_layer * lps * flights(zeros) + working
    acts_last = per_layer * lps * flights(pp - 1) + working
    output = s * mb / tp * (4.0 * h + logit_bytes * vocab)
    output = output + np.where(gathered_inputs, 2.0 * sbh * (1.0 - 1.0 / tp), 0.0)  # the output layer's input whole
    # the backward's full-length gathered output gradient (memory.sequence_parallel_gathered_gradient, every kind) and
    # the functional collectives' staging copy beside it (memory.sequence_parallel_staging_copy, dtensor), every stage
    sequence = np.where(sp & (tp > 1), width * sbh, 0.0) + np.where(gathered_inputs & (tp > 1), width * sbh, 0.0)
    acts_last = acts_last + output
    acts_first = np.where(pp == 1, acts_first + output, acts_first)

    reduce_buffer = width * DeepSpeedZero.reduce_bucket_size  # one IPG buffer: overlap_comm off at 1/2, stage 3 has one

    def buffers(params: np.ndarray, gathered: np.ndarray) -> np.ndarray:
        ddp = params * width  # torch DDP's bucket copy of the gradients (gradient_as_bucket_view: false)
        z3 = reduce_buffer + width * gathered
        return np.where(dp <= 1, 0.0, np.where(zero >= 3, z3, np.where(zero == 0, ddp, reduce_buffer)))

    p_first, p_last = first / tp, last / tp
    total_first = states(p_first) + acts_first + buffers(p_first, z3_gathered[:, 0]) + sequence
    total_last = states(p_last) + acts_last + buffers(p_last, z3_gathered[:, 1]) + sequence
    return np.asarray(np.maximum(total_first, total_last), dtype=float)


def _wall_time(request: PlanRequest, work: np.ndarray, nodes: np.ndarray, step_s: Any) -> np.ndarray:
    """Expected wall time with failures (Daly 2006, at :func:`~dpsim.reliability.checkpoint_interval`), vectorised."""
    if request.node_mtbf_s is None:
        return work
    mtbf = request.node_mtbf_s / nodes
    delta, restart = request.checkpoint_s, request.restart_s
    tau = np.maximum(np.array([checkpoint_interval(delta, m) for m in mtbf.tolist()], dtype=float), step_s)
    with np.errstate(over="ignore"):  # a node failing every femtosecond never finishes: inf, without a warning
        return np.asarray(mtbf * np.exp(restart / mtbf) * np.expm1((tau + delta) / mtbf) * work / tau, dtype=float)


# --- ranking, exact re-check, Pareto --------------------------------------------------------------


def pareto_front(df: pd.DataFrame, x: str = "time_to_train_s", y: str = "cost") -> pd.DataFrame:
    """Rows not dominated in (x, y), both minimised, sorted by x."""
    if df.empty:
        return df
    ordered = df.sort_values([x, y], kind="mergesort")
    keep = []
    best = math.inf
    for index, value in zip(ordered.index, ordered[y].to_numpy(), strict=True):
        if value < best:
            keep.append(index)
            best = value
    return ordered.loc[keep]


@dataclass
class PlanResult:
    """Screened candidates, the exactly re-checked ranking and its Pareto front."""

    request: PlanRequest
    candidates: pd.DataFrame
    """Every valid configuration with screened memory and times."""
    ranked: pd.DataFrame
    """The best ``request.top`` feasible ones, re-checked with ``predict`` (and the simulator)."""
    pareto: pd.DataFrame
    """Pareto front (time to train vs cost, or device-hours without prices) of the feasible candidates."""
    searched: int
    """Grid points searched (valid or not)."""
    elapsed_s: float
    screen_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def configs_per_s(self) -> float:
        return self.searched / self.screen_s if self.screen_s > 0 else math.inf


def _objective(request: PlanRequest) -> str:
    if request.objective != "auto":
        return request.objective
    has_price = request.price_per_device_hour is not None
    return "cost" if (request.deadline_s is not None and has_price) else "time"


def plan(
    request: PlanRequest,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
) -> PlanResult:
    """Screen the search space, re-check the best configurations exactly, rank them.

    ``progress(stage, done, total)`` is called as work advances (for a progress bar). The
    re-check stage (``predict`` and the simulator, one task per configuration) runs where
    :mod:`dpsim.execution` puts it: here, on ``workers`` local Dask processes, or on the
    Dask ``scheduler``; the ranking is the same.
    """
    from dpsim import execution

    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(execution.open_executor(workers, scheduler))
        return _plan(request, progress, executor)


def _plan(request: PlanRequest, progress: Callable[[str, int, int], None] | None, executor: Executor) -> PlanResult:
    import pandas as pd

    start = time.perf_counter()
    candidates = enumerate_configurations(request, progress)
    screen_s = time.perf_counter() - start
    searched = int(candidates.attrs.get("searched", len(candidates)))
    notes: list[str] = []
    objective = _objective(request)
    if objective == "cost" and request.price_per_device_hour is None:
        raise ScenarioError("--objective", "ranking by cost needs --price", SOURCE)
    feasible = candidates[~candidates["oom"]] if len(candidates) else candidates
    feasible = feasible[np.isfinite(feasible["time_to_train_s"].to_numpy())] if len(feasible) else feasible
    if request.deadline_s is not None and len(feasible):
        late = feasible["time_to_train_s"] > request.deadline_s
        if late.all():
            notes.append(f"no configuration meets the deadline; showing the fastest ({int(late.sum())} too slow)")
        else:
            feasible = feasible[~late]
    # ties (e.g. sequence parallelism changes memory, not time) go to the most memory headroom
    sort_cols = ["cost", "time_to_train_s"] if objective == "cost" else ["time_to_train_s", "cost"]
    sort_cols.append("headroom_bytes")
    ascending = [True, True, False]
    shortlist = (
        feasible.sort_values(sort_cols, ascending=ascending, kind="mergesort").head(request.top * 3)
        if len(feasible)
        else feasible
    )
    records: list[dict[str, Any]] = [{str(c): v for c, v in r.items()} for r in shortlist.to_dict("records")]
    rows = _run_stage(executor, _Recheck(request), records, "re-check", progress, batch=None)
    ranked = pd.DataFrame(rows)
    if len(ranked):
        ranked = ranked[~ranked["oom"] & np.isfinite(ranked["time_to_train_s"].to_numpy())]
        if request.deadline_s is not None and not notes:
            ranked = ranked[ranked["time_to_train_s"] <= request.deadline_s]
        ranked = ranked.sort_values(sort_cols, ascending=ascending, kind="mergesort")
        ranked = ranked.head(request.top).reset_index(drop=True)
        ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    if request.simulate and len(ranked):
        ranked = _simulate(request, ranked, progress, notes, executor)
    if len(candidates) and (~candidates["oom"]).any():
        ok = candidates[~candidates["oom"]]
        y = "cost" if request.price_per_device_hour is not None else "device_hours"
        pareto = pareto_front(ok, "time_to_train_s", y)
    else:
        pareto = candidates.head(0)
    if not len(ranked):
        oom = int(candidates["oom"].sum()) if len(candidates) else 0
        notes.append(
            f"no feasible configuration: {len(candidates)} valid, {oom} out of memory: "
            f"{infeasibility_reason(request, candidates)}"
        )
    return PlanResult(
        request, candidates, ranked, pareto, searched, time.perf_counter() - start, max(screen_s, 1e-9), notes
    )


def _describe(row: Mapping[str, Any]) -> str:
    """A configuration in words, for an error about it."""
    return (
        f"at {row['devices']}x{row['device']} tp={row['tp']} pp={row['pp']} dp={row['dp']} zero={row['zero_stage']}"
        f" micro_batch={row['micro_batch']} {row['recomputation']} recomputation {row['schedule']} {row['algorithm']}"
    )


def _run_stage(
    executor: Executor,
    fn: Callable[[dict[str, Any]], Any],
    rows: list[dict[str, Any]],
    stage: str,
    progress: Callable[[str, int, int], None] | None,
    batch: int | None,
    bad_input_ok: bool = False,
) -> list[Any]:
    """``fn`` over ``rows`` on ``executor`` (results in row order), reporting ``progress``; errors name the row.

    ``bad_input_ok``: a :class:`ScenarioError` stays in the list as a :class:`~dpsim.execution.TaskError`.
    """
    from dpsim.execution import TaskError, raise_first_failure

    done = 0

    def arrived(_index: int, _outcome: Any) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(stage, done, len(rows))

    outcomes = executor.map(fn, rows, on_result=arrived, batch=batch)
    checked = [None if bad_input_ok and isinstance(o, TaskError) and o.kind == "ScenarioError" else o for o in outcomes]
    raise_first_failure(checked, lambda i: _describe(rows[i]), SOURCE)
    return outcomes


@dataclass(frozen=True)
class _Recheck:
    """One shortlisted configuration re-checked exactly with ``predict`` (a picklable task)."""

    request: PlanRequest

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        from dpsim.analytic.step import predict

        request = self.request
        result = predict(scenario_for(request, row))
        steps = float(row["steps"])
        work = steps * result.step_time_s
        wall = float(_wall_time(request, np.array([work]), np.array([int(row["nodes"])]), result.step_time_s)[0])
        record: dict[str, Any] = dict(row)
        record.update(
            screen_step_time_s=row["step_time_s"],
            step_time_s=result.step_time_s,
            mfu=result.mfu,
            memory_bytes=result.memory_per_device_bytes,
            headroom_bytes=result.memory_capacity_bytes - result.memory_per_device_bytes,
            oom=result.oom,
            bubble_s=result.bubble_s,
            exposed_comm_s=result.exposed_comm_s,
            work_s=work,
            time_to_train_s=wall,
            goodput=work / wall if wall > 0 else 1.0,
            device_hours=wall / 3600.0 * float(row["devices"]),
            cost=wall / 3600.0 * float(row["devices"]) * request.price(str(row["device"])),
            tokens_per_s=result.tokens_per_s,
        )
        return record


@dataclass(frozen=True)
class _SimCheck:
    """One ranked configuration's step time from the simulator (a picklable task)."""

    request: PlanRequest

    def __call__(self, row: dict[str, Any]) -> float:
        from dpsim import api

        return api.run(scenario_for(self.request, row), engine="sim").step_time_s


def _check_simulate_cost(request: PlanRequest, rows: list[dict[str, Any]]) -> None:
    """Refuse the simulator's re-check of ``rows`` past the cost guard's limits in all (``budget.check_total``, as a
    sweep's simulated points are), unless ``--allow-long``. Each simulation is held to the simulator's limit when it
    runs (one past it is noted, not run), but their sum was never checked: ``--simulate 500 --top 500`` ran 500 of
    them one after another (round 36). A configuration that cannot be built, or is past the limits alone, is left
    out: it is noted when it runs."""
    from dpsim.sim import budget

    def built() -> Iterator[tuple[str, Scenario]]:
        for i, row in enumerate(rows):
            try:
                yield f"rank {i + 1}", scenario_for(request, row)
            except ScenarioError:
                continue

    budget.check_total(
        built(), "the plan's --simulate", request.allow_long, engine="sim", checked_when_run=True,
        fewer="simulate fewer configurations (--simulate)",
    )  # fmt: skip


def _simulate(
    request: PlanRequest,
    ranked: pd.DataFrame,
    progress: Callable[[str, int, int], None] | None,
    notes: list[str],
    executor: Executor,
) -> pd.DataFrame:
    """Re-run the first ``request.simulate`` ranked configurations with the simulator."""
    from dpsim import api

    ranked = ranked.copy()
    ranked["sim_step_time_s"] = np.nan
    count = min(request.simulate, len(ranked))
    try:
        api.engine_function("sim")
    except ScenarioError as exc:
        notes.append(f"simulator not used: {exc.message}")
    else:
        from dpsim.execution import TaskError

        rows = [{str(key): value for key, value in ranked.iloc[i].items()} for i in range(count)]
        _check_simulate_cost(request, rows)
        times = _run_stage(executor, _SimCheck(request), rows, "simulate", progress, batch=1, bad_input_ok=True)
        for i, value in enumerate(times):
            if isinstance(value, TaskError):  # a configuration the simulator refuses: say so, keep the rest
                notes.append(f"rank {i + 1} not simulated: {value.field}: {value.message}")
            else:
                ranked.loc[ranked.index[i], "sim_step_time_s"] = value
    ranked["sim_vs_analytic"] = ranked["sim_step_time_s"] / ranked["step_time_s"] - 1.0
    return ranked


def write_pareto_plot(result: PlanResult, path: str | Path) -> None:
    """Time to train vs cost (or device-hours) of every feasible candidate, Pareto front highlighted."""
    from dpsim.plots import load_matplotlib

    load_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cand = result.candidates
    ok = cand[~cand["oom"]] if len(cand) else cand
    y = "cost" if result.request.price_per_device_hour is not None else "device_hours"
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for device, part in ok.groupby("device"):
        sample = part.sample(min(len(part), 5000), random_state=0) if len(part) > 5000 else part
        ax.scatter(sample["time_to_train_s"] / 86400.0, sample[y], s=4, alpha=0.3, label=str(device))
    if len(result.pareto):
        front = result.pareto
        ax.plot(front["time_to_train_s"] / 86400.0, front[y], "k.-", lw=1.2, label="Pareto front")
    if result.request.deadline_s is not None:
        ax.axvline(result.request.deadline_s / 86400.0, color="red", ls="--", lw=1, label="deadline")
    ax.set_xscale("log")
    # a price of 0 (or a free device beside a priced one) costs 0, which a log axis cannot show: matplotlib drops
    # those points and warns; a linear axis keeps them
    ax.set_yscale("log" if len(ok) and bool((ok[y] > 0).all()) else "linear")
    ax.set_xlabel("time to train (days)")
    ax.set_ylabel("cost" if y == "cost" else "device-hours")
    ax.set_title(f"{result.request.model}: {result.request.tokens:.3g} tokens")
    ax.legend(fontsize=8, markerscale=3)
    fig.tight_layout()
    with replaced(path, "--plot") as tmp:
        fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip(".").lower() or "png")
    plt.close(fig)
