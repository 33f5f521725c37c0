"""Measurement: per-rank, per-step timings → one :class:`~dpsim.records.StepResult` (engine="runtime").

Each rank appends one :class:`StepTiming` per optimizer step to ``rank<r>.jsonl`` as it
goes (so completed steps survive a failure). :func:`aggregate` drops the warm-up steps and
reports medians over the measured steps. The critical path is the rank with the largest
median compute (the straggler, if any); its forward+backward and exposed communication are
the breakdown, the step time is the mean over ranks (they synchronise every step, so each
lasts one period), and the other ranks' extra wait at the gradient synchronisation is the
barrier. Definitions:

- compute: forward + backward of every micro-batch, up to the moment the last gradient
  bucket became ready (DDP calls the hook as soon as a bucket's gradients exist; DDP without the
  runtime's hook, ``extra.comm_hook: none``: when the last gradient was accumulated,
  :class:`runtime.hooks.LastGradient`);
- comm: Σ over buckets of (end − start) of each bucket's all-reduce, on the critical rank (0 without
  the hook: plain DDP's all-reduces are not observable);
- exposed comm: from the last bucket ready to the end of backward (waiting for the
  all-reduces that compute did not hide);
- optimizer: ``optimizer.step()`` (includes ZeRO-1's parameter broadcast); ``optimizer_cpu_s``
  is the CPU time of the rank's thread over the same span (its work, without the time it waited
  for a core), ``optimizer_faults`` the process's minor page faults over it; ``compute_cpu_s``
  likewise the CPU time of the rank's thread over compute (CPUs).

``extra`` also records each rank's medians (``per_rank_step_time_s``, ``per_rank_compute_s``,
``per_rank_exposed_comm_s``, ``per_rank_optimizer_s``, ``per_rank_optimizer_cpu_s``,
``per_rank_optimizer_faults``, ``per_rank_compute_cpu_s``: what another
estimator would need; ``per_rank_start_lag_s`` and ``per_rank_release_lag_s``, each rank's median lag behind the
step's first rank to start computing / to leave the gradient synchronisation, on the host's shared clock:
:func:`lags`) and the data split: ``worker_step_samples`` (each rank's ``Mₙ`` per step), ``worker_samples``
(``Mₙ`` / accumulation steps, the simulator's per-micro-step ``worker_samples``),
``effective_global_batch`` (``Σ Mₙ``) and ``learning_rate``.

``extra.autocast`` is the ``training.autocast`` that describes what ran (:func:`as_run`): the runtime runs bf16/fp16
as ``torch.autocast`` over fp32 parameters, so under DDP that is ``true`` whatever the scenario said, and
``memory_predicted_bytes`` (and ``dpsim validate``'s predictions) price that scenario. Likewise
``extra.ddp_at_one_rank``: the runtime wraps a one-rank model in DDP too (``zero_stage`` 0, ZeRO-1), so a
one-rank record says ``true`` and is priced with DDP's bucket copy and passes. ``extra.gradient_as_bucket_view`` is
what DDP's reducer ran (:attr:`StepTiming.gradient_as_bucket_view`, the ranks' own record, not the scenario's field:
until 3e57ee1 the runtime built DDP with views whatever the scenario said); records without it are read as the
scenario says (:func:`ran_bucket_views`).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dpsim.records import StepResult
from dpsim.scenario import Scenario

__all__ = [
    "PHASE_BYTES",
    "PhaseFile",
    "StepTiming",
    "aggregate",
    "append_timing",
    "as_run",
    "lags",
    "ran_autocast",
    "ran_bucket_views",
    "ran_ddp",
    "ran_fields",
    "read_rank_timings",
    "spread",
]


PER_RANK = {
    "step_time_s": "step_s",
    "compute_s": "compute_s",
    "exposed_comm_s": "exposed_comm_s",
    "optimizer_s": "optimizer_s",
    "optimizer_cpu_s": "optimizer_cpu_s",
    "optimizer_faults": "optimizer_faults",
    "compute_cpu_s": "compute_cpu_s",
}
"""``extra["per_rank_<key>"]``: each rank's median over the measured steps of this :class:`StepTiming` field."""


@dataclass(frozen=True)
class StepTiming:
    """One rank's optimizer step (seconds)."""

    step: int
    rank: int
    step_s: float
    forward_s: float
    backward_s: float
    """Backward compute, excluding the wait for communication at the end."""
    exposed_comm_s: float
    optimizer_s: float
    bucket_comm_s: Sequence[float] = field(default_factory=tuple)
    bucket_bytes: Sequence[int] = field(default_factory=tuple)
    max_rss_bytes: float = 0.0
    samples: int = 0
    """Samples this rank processed in the step (its shard size ``Mₙ``; 0 in records that predate it)."""
    learning_rate: float = 0.0
    """The optimizer's learning rate in the step."""
    gpu_max_allocated_bytes: float = 0.0
    """``torch.cuda.max_memory_allocated`` of the rank's GPU so far (0 on CPUs)."""
    gpu_max_reserved_bytes: float = 0.0
    """``torch.cuda.max_memory_reserved`` (the caching allocator's footprint) so far (0 on CPUs)."""
    optimizer_cpu_s: float = 0.0
    """CPU time of the rank's own thread during ``optimizer_s`` (0 in records that predate it): with
    the wall time it splits the step's optimizer into its work and the share of the cores it got."""
    optimizer_faults: int = 0
    """Minor page faults of the rank's process during ``optimizer_s`` (0 in records that predate it): the
    pages the step got afresh from the OS (:mod:`dpsim.allocator`)."""
    compute_cpu_s: float = 0.0
    """CPU time of the rank's own thread during ``compute_s`` (forward, and backward to its last bucket
    handed over; 0 on GPUs and in records that predate it): with the wall time it splits compute into
    its work and the share of the cores it got — the backward slowed by a bucket's all-reduce in flight
    on a shared host does both (README, validation notes)."""
    gradient_as_bucket_view: bool | None = None
    """Whether DDP's reducer held the gradients as views into its buckets, as the reducer itself logged it at
    construction (``DistributedDataParallel._get_ddp_logging_data()["gradient_as_bucket_view"]``, torch's
    ``Logger::set_construction_data_and_log``): without views ``Reducer::mark_variable_ready_dense`` copies each
    gradient into its bucket and ``finalize_bucket_dense`` copies every bucket back. ``None``: not DDP (FSDP), or a
    record that predates the field."""
    optimizer_update: str = ""
    """The update ``optimizer.step()`` ran, as ``torch.optim`` resolved it (:func:`runtime.optim.resolved_update`:
    ``fused``, ``foreach`` or ``for-loop``); ``""`` in records that predate the field."""
    started_unix_s: float = 0.0
    """``time.time()`` when the step's clock started (0 in records that predate the field): one clock for every rank
    of one host (the emulated cluster's namespaces share ``CLOCK_REALTIME``), so with the step's own seconds it places
    each rank's phases beside the others' (:func:`lags`): when each left the last collective and began to compute."""

    @property
    def compute_s(self) -> float:
        return self.forward_s + self.backward_s

    @property
    def released_unix_s(self) -> float:
        """When the rank left the step's gradient synchronisation (its backward's end, the all-reduces waited for):
        the step's end less its optimizer, on :attr:`started_unix_s`'s clock."""
        return self.started_unix_s + self.step_s - self.optimizer_s

    @property
    def comm_s(self) -> float:
        return float(sum(self.bucket_comm_s))


def append_timing(path: Path, timing: StepTiming) -> None:
    """Append one step to a rank's JSON-lines file and flush (survives a later crash)."""
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(timing)) + "\n")


PHASE_BYTES = 256
"""Size of a phase record: a report is cut to it and padded with spaces (the reader strips them)."""


class PhaseFile:
    """A rank's progress reports (``rank<N>.phase``): the file is opened once, each report is one ``pwrite``.

    The training job reports inside the timed step — every micro-batch, every gradient bucket as
    DDP hands it over (before its all-reduce starts), the optimizer. ``Path.write_text`` opens,
    truncates, writes and closes the file each time: 0.2–0.34 ms on this VM's ext4, about 4 times
    a step of a small model, which the runtime measured and plain DDP does not have
    (``benchmarks/plain_ddp.py``: a 4×64 MLP on 2 ranks, 8.1 vs 6.0 ms, of which 1.3 ms lay
    outside every timed component). A ``pwrite`` of one fixed-size record at offset 0 on an open
    descriptor costs a few µs and never leaves the file empty for the reader.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def report(self, text: str) -> None:
        record = text.encode("utf-8")[:PHASE_BYTES].ljust(PHASE_BYTES, b" ")
        os.pwrite(self._fd, record, 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_rank_timings(run_dir: Path) -> dict[int, list[StepTiming]]:
    """Every rank's recorded steps (a partial last line from a killed rank is ignored)."""
    out: dict[int, list[StepTiming]] = {}
    for file in sorted(run_dir.glob("rank*.jsonl")):
        rank = int(file.stem.removeprefix("rank"))
        steps = []
        for line in file.read_text(encoding="utf-8").splitlines():
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            steps.append(StepTiming(**data))
        out[rank] = steps
    return out


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max and the half width of a normal 95 % interval of the median's sample."""
    if not values:
        return {"median": 0.0, "min": 0.0, "max": 0.0, "ci95": 0.0}
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "ci95": 1.96 * sd / len(values) ** 0.5,
    }


def _memory(scenario: Scenario, timings: Mapping[int, Sequence[StepTiming]]) -> dict[str, Any]:
    """Measured memory per device (the GPU's peak allocation, or host RSS on CPUs) next to the prediction."""
    gpu = {r: ts[-1] for r, ts in timings.items() if ts and ts[-1].gpu_max_allocated_bytes > 0}
    out: dict[str, Any] = {}
    if gpu:
        out["memory_measured_bytes"] = max(t.gpu_max_allocated_bytes for t in gpu.values())
        out["memory_source"] = "torch.cuda.max_memory_allocated (largest over ranks)"
        out["gpu_max_memory_allocated_bytes"] = {str(r): t.gpu_max_allocated_bytes for r, t in sorted(gpu.items())}
        out["gpu_max_memory_reserved_bytes"] = {str(r): t.gpu_max_reserved_bytes for r, t in sorted(gpu.items())}
    else:
        out["memory_measured_bytes"] = max(ts[-1].max_rss_bytes for ts in timings.values() if ts)
        out["memory_source"] = "host max RSS (process, includes the Python runtime and libraries)"
    try:
        from dpsim.analytic.memory import memory_breakdown

        out["memory_predicted_bytes"] = float(memory_breakdown(scenario).total)
    except Exception as exc:  # a model the memory model does not cover: say so, keep the measurement
        out["memory_predicted_error"] = str(exc)
    return out


def as_run(scenario: Scenario, ran_autocast: bool, ran_ddp: bool = True, ran_views: bool | None = None) -> Scenario:
    """``scenario`` as the runtime executed it, where dpsim has a field that says so.

    - ``training.autocast: true`` when the runtime ran ``torch.autocast`` over fp32 parameters (``ran_autocast``:
      :attr:`runtime.precision.Precision.autocast`) where dpsim defines that field (bf16/fp16 under DDP:
      ``zero_stage`` 0 or ``optimizer_sharding: torch``). Otherwise unchanged: fp32, fp8 (Transformer Engine) and
      FSDP's ``MixedPrecisionPolicy`` (16-bit gathered parameters, fp32 shards: what dpsim prices without autocast).
    - ``training.ddp_at_one_rank: true`` for one data-parallel rank under DDP (``ran_ddp``; the runtime wraps every
      ``zero_stage`` 0 model, and ZeRO-1's, in ``DistributedDataParallel``, one rank included: its reducer's bucket
      copy and passes run all the same, :attr:`Scenario.runs_ddp`).
    - ``training.gradient_as_bucket_view`` as DDP's reducer ran it (``ran_views``, :func:`ran_bucket_views`; ``None``:
      as the scenario says) where DDP reduces the gradients (:attr:`Scenario.reduces_with_ddp`): with views no copy
      into and out of the buckets is priced (:func:`dpsim.analytic.step.ddp_bucket_copies`) nor held in memory.
    """
    t = scenario.training
    update: dict[str, bool] = {}
    if ran_autocast and not t.autocast and t.precision in ("bf16", "fp16") and scenario.reduces_with_ddp:
        update["autocast"] = True
    if ran_ddp and not t.ddp_at_one_rank and scenario.reduces_with_ddp and scenario.data_parallel <= 1:
        update["ddp_at_one_rank"] = True
    if ran_views is not None and ran_views != t.gradient_as_bucket_view and scenario.reduces_with_ddp:
        update["gradient_as_bucket_view"] = ran_views
    if not update:
        return scenario
    return scenario.model_copy(update={"training": t.model_copy(update=update)})


def ran_fields(scenario: Scenario, ran_autocast: bool, algorithm: str) -> dict[str, Any]:
    """The record's ``extra.autocast`` and ``extra.ddp_at_one_rank`` (the fields of :func:`as_run`'s scenario), and
    ``extra.comm_hook``: why DDP ran the runtime's communication hook with ``algorithm`` (the job's), or ``none``
    (plain DDP, or FSDP; :func:`runtime.hooks.comm_hook_reason`)."""
    from runtime.hooks import comm_hook_reason

    t = as_run(scenario, ran_autocast).training
    reason = comm_hook_reason(scenario, algorithm) if scenario.reduces_with_ddp else ""
    return {"autocast": t.autocast, "ddp_at_one_rank": t.ddp_at_one_rank, "comm_hook": reason or "none"}


def ran_autocast(run: StepResult) -> bool:
    """Whether a runtime record ran under ``torch.autocast`` as dpsim's ``training.autocast`` (``extra.autocast``;
    records written before that field: read from ``extra.precision``'s label, e.g. ``bf16 autocast``)."""
    recorded = run.extra.get("autocast")
    if isinstance(recorded, bool):
        return recorded
    label = str(run.extra.get("precision", ""))
    return "autocast" in label and not label.startswith("fp8")


def ran_bucket_views(records: Iterable[StepResult | StepTiming]) -> bool | None:
    """Whether DDP's reducer ran with the gradients as bucket views, over a case's runs (each run's
    ``extra.gradient_as_bucket_view``) or one run's ranks (each :class:`StepTiming`'s own record): true only where
    every record that says is true (every rank builds DDP alike); ``None`` where none says (FSDP, or records written
    before the field: priced as the scenario says). The one place both :func:`aggregate` and
    :func:`runtime.validate.validate` combine them."""
    said = set()
    for record in records:
        value = record.extra.get("gradient_as_bucket_view") if isinstance(record, StepResult) else (
            record.gradient_as_bucket_view)  # fmt: skip
        if isinstance(value, bool):
            said.add(value)
    return all(said) if said else None


def ran_ddp(run: StepResult) -> bool:
    """Whether a one-rank runtime record ran under DDP (``extra.ddp_at_one_rank``). Records written before that
    field: true, the runtime has wrapped every ``zero_stage`` 0 and ZeRO-1 model in DDP at any rank count
    (:func:`as_run` applies it only there)."""
    recorded = run.extra.get("ddp_at_one_rank")
    return recorded if isinstance(recorded, bool) else True


def lags(by_step: Mapping[int, Mapping[int, StepTiming]]) -> dict[str, dict[str, float]]:
    """Each rank's median lag behind the first rank of the same step, over the steps every rank timed on the shared
    clock (:attr:`StepTiming.started_unix_s` > 0): ``start`` (the step's clock started: the rank began to compute)
    and ``release`` (:attr:`StepTiming.released_unix_s`: it left the gradient synchronisation). Empty where a rank's
    record predates the field."""
    steps = [per_rank for per_rank in by_step.values() if all(t.started_unix_s > 0 for t in per_rank.values())]
    if not steps:
        return {}
    out: dict[str, dict[str, float]] = {}
    for name, when in (("start", lambda t: t.started_unix_s), ("release", lambda t: t.released_unix_s)):
        behind: dict[int, list[float]] = {}
        for per_rank in steps:
            first = min(when(t) for t in per_rank.values())
            for rank, t in per_rank.items():
                behind.setdefault(rank, []).append(when(t) - first)
        out[name] = {str(rank): statistics.median(values) for rank, values in sorted(behind.items())}
    return out


def aggregate(
    scenario: Scenario,
    timings: Mapping[int, Sequence[StepTiming]],
    *,
    warmup_steps: int,
    meta: Mapping[str, Any],
) -> StepResult:
    """Median over measured (post-warm-up) steps that every rank completed."""
    world = scenario.world_size
    complete = sorted(set.intersection(*(set(t.step for t in ts) for ts in timings.values())) if timings else set())
    measured = [s for s in complete if s >= warmup_steps]
    if not measured:
        raise RuntimeError(f"no measured step completed on all ranks (warm-up {warmup_steps}, completed {complete})")
    by_step = {s: {r: next(t for t in ts if t.step == s) for r, ts in timings.items()} for s in measured}
    # the critical rank: largest median compute over the measured steps (the straggler, if any);
    # choosing per step the noisiest rank instead would bias compute upwards on a loaded host
    ranks = sorted(timings)
    critical = max(ranks, key=lambda r: statistics.median(by_step[s][r].compute_s for s in measured))
    step_s, compute_s, comm_s, exposed_s, optimizer_s, barrier_s, fwd_s, bwd_s = ([] for _ in range(8))
    for per_rank in by_step.values():
        slowest = per_rank[critical]
        # all ranks synchronise every step, so in steady state each rank's step lasts one period
        step_s.append(statistics.mean(t.step_s for t in per_rank.values()))
        compute_s.append(slowest.compute_s)
        fwd_s.append(slowest.forward_s)
        bwd_s.append(slowest.backward_s)
        # the critical rank's all-reduces start when its own buckets are ready, when the others are
        # already waiting: its bucket times are the communication itself, the others' include the wait
        comm_s.append(slowest.comm_s)
        exposed_s.append(slowest.exposed_comm_s)
        optimizer_s.append(statistics.median(t.optimizer_s for t in per_rank.values()))
        waits = [max(0.0, t.exposed_comm_s - slowest.exposed_comm_s) for t in per_rank.values()]
        barrier_s.append(statistics.mean(waits))
    med = statistics.median
    step = spread(step_s)
    fastest_compute = med(min(t.compute_s for t in per_rank.values()) for per_rank in by_step.values())
    tokens = scenario.tokens_per_step
    last = by_step[measured[-1]]
    buckets = list(last[0].bucket_bytes) if 0 in last else []
    extra: dict[str, Any] = {
        **meta,
        "host": platform.node(),
        "steps_measured": len(measured),
        "warmup_steps": warmup_steps,
        "step_time_min_s": step["min"],
        "step_time_max_s": step["max"],
        "forward_s": med(fwd_s),
        "backward_s": med(bwd_s),
        "buckets": len(buckets),
        "bucket_bytes": buckets,
        **{
            f"per_rank_{key}": {str(r): med(getattr(by_step[s][r], of) for s in measured) for r in sorted(last)}
            for key, of in PER_RANK.items()
        },
        "critical_rank": critical,
    }
    for name, behind in lags(by_step).items():  # the ranks' phases on one clock (StepTiming.started_unix_s)
        extra[f"per_rank_{name}_lag_s"] = behind
    extra.setdefault("precision", scenario.training.precision)
    extra.setdefault("autocast", scenario.training.autocast)
    extra.setdefault("ddp_at_one_rank", scenario.training.ddp_at_one_rank)
    views_ran = ran_bucket_views(t for ts in timings.values() for t in ts)  # DDP's reducer, as each rank logged it
    if views_ran is not None:
        extra["gradient_as_bucket_view"] = views_ran
    update = "/".join(sorted({t.optimizer_update for ts in timings.values() for t in ts} - {""}))
    if update:  # every rank builds its optimizer alike: one kind
        extra["optimizer_update"] = update
    ran = as_run(scenario, bool(extra["autocast"]), bool(extra["ddp_at_one_rank"]), views_ran)
    extra.update(_memory(ran, timings))
    step_samples = [last[r].samples for r in sorted(last)]
    if sum(step_samples) > 0:
        # Mₙ per step, and per micro-step as the simulator reports it (extra["worker_samples"] there)
        k = scenario.accumulation_steps
        extra["worker_step_samples"] = step_samples
        extra["worker_samples"] = [m / k for m in step_samples]
        extra["effective_global_batch"] = sum(step_samples)
        extra["learning_rate"] = last[min(last)].learning_rate
    t = scenario.training
    return StepResult(
        scenario=scenario.name,
        engine="runtime",
        world_size=world,
        step_time_s=step["median"],
        compute_s=med(compute_s),
        comm_s=med(comm_s),
        exposed_comm_s=med(exposed_s),
        bubble_s=0.0,
        optimizer_s=med(optimizer_s),
        samples_per_s=t.global_batch / step["median"],
        scaling_efficiency=min(1.0, (fastest_compute + med(optimizer_s)) / step["median"]),
        memory_per_device_bytes=extra["memory_measured_bytes"],
        barrier_s=med(barrier_s),
        tokens_per_s=tokens / step["median"],
        data_parallel=scenario.data_parallel,
        accumulation_steps=scenario.accumulation_steps,
        global_batch=t.global_batch,
        algorithm=str(meta.get("algorithm", scenario.communication.algorithm)),
        zero_stage=t.zero_stage,
        step_time_ci95_s=step["ci95"],
        scenario_hash=scenario.scenario_hash(),
        hardware_source=str(meta.get("testbed", "runtime")),
        extra=extra,
    )
