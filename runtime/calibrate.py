"""Measure a testbed's hardware profile: links, compute across sizes, the host, the optimizer.

A profile describes the testbed, not a configuration (``dpsim calibrate`` with its defaults
measures what any configuration of the testbed needs):

- **links** (:func:`calibrate_links`): all-reduce of small messages (for α) and large ones
  (for the bandwidth, ≥ 16 shaper bursts per step) on at least three rank counts, per
  algorithm including ``backend`` (gloo's own, what plain DDP uses), for the ``inter`` link
  class (one rank per node) at two shaped rates — so the link model ``1/B = 1/(η·R) + c``
  predicts other rates — and the ``intra`` class (ranks of one node, over loopback). Each
  repetition starts after a barrier and lasts until the last rank is done; the median over
  repetitions is the estimate (as for training steps). The other collectives
  (all-gather, reduce-scatter, broadcast) are reported as nccl-tests bus bandwidth with
  their own factors. The CPU time the ranks spend per byte sent is the host's κ;
- **compute** (:func:`calibrate_compute_curve`): forward and backward of DDP-wrapped square
  MLP layers over a grid of widths and micro-batch sizes, one process alone on one thread
  (as each rank runs): the time-per-FLOP curve any ``layers × hidden`` MLP is priced on;
  plus, for the scenario's own model, forward/backward linear in the micro-batch;
- **host** (:func:`calibrate_host`): k = 1…8 processes computing at once (a start barrier
  releases them together; measured again while other processes use the cores) — how ranks
  sharing the cores slow each other; fitted ``max(1, k/C)·(1 + ε·(k − 1))`` (:func:`dpsim.calibration.fit_host`:
  where C does not divide k a point is read as the run queues' placement, a band; the lone process's time is a
  measurement like the others); and k processes stepping an Adam optimizer at once as training does (fresh
  gradients, then the caches evicted as for the optimizer fit below, untimed, before each timed step:
  :func:`adam_training_step`), with glibc keeping their heaps (no first-touch faults: :data:`HEAP_KEPT_ENV`); the
  engines let the steps take turns on the compute's C cores, ``max(1, k/C)``, and that form's residual is held to
  the limit (:func:`dpsim.calibration.sharing_residual`); the free :func:`dpsim.calibration.fit_host` of the same
  points (its own C and ε) and ``max(1, k/M)`` are recorded;
- **optimizer**: ``optimizer.step()`` on 1, 4 and 16 M parameters (tensors of 1 M), each after writing twice the
  last-level cache (read from sysfs and stored in the profile: :func:`last_level_cache_bytes`), linear,
  on the thread's CPU clock and without page faults (the heap kept: :func:`optimizer_fit_module`; the engines add
  those a training step takes, :mod:`dpsim.allocator`): the state streams from memory, as in training, where the
  step follows the gradient synchronisation (cold) — this fit prices it; the curve on MLP widths right
  after a backward (warm) is measured and kept;
- **reduction**: bytes/s of an in-place fp32 add (the γ of Thakur et al.'s α–β–γ model).

Every fit's worst relative residual is in the profile (:meth:`HardwareProfile.residuals`);
:func:`dpsim.calibration.check_residuals` turns one above 5 % into an error. So does a part (links, compute, host,
model, optimizer) during which the host's pace moved more than that: each is bracketed by a fixed reference kernel
(:mod:`runtime.pace`), timed again once if it moved, and the series kept in ``meta.reference_pace``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import mmap
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from dpsim.allocator import MMAP_THRESHOLD_MAX_BYTES
from dpsim.analytic.collectives import Link
from dpsim.calibration import (
    BEYOND_SCATTER,
    FIT_ALGORITHMS,
    LINK_CLASSES,
    REFERENCE_PACE,
    CalibrationError,
    CollectiveSample,
    ComputeCurve,
    ComputePoint,
    HardwareProfile,
    HostModel,
    LinearTime,
    LinkModel,
    bus_bandwidth,
    closed_form_coefficients,
    fit_host,
    fit_linear_time,
    fit_link_model,
    fit_memory_streams,
    residuals_above,
    samples_by_link,
    sharing_residual,
)
from dpsim.inputs import brief
from dpsim.scenario import Scenario, dump_scenario, load_scenario
from runtime.bench import median_uncertainty
from runtime.hostload import host_load, snapshot
from runtime.launch import spawn_ranks
from runtime.model import MLP, build_model, synthetic_batch
from runtime.optim import build_optimizer
from runtime.pace import PaceWatch
from runtime.testbed import LocalTestbed, Testbed
from runtime.testbed.emulated import LEGACY_BURST_FLOOR_BYTES, burst_bytes

__all__ = [
    "STEP_OVERHEAD_ROUNDS",
    "CalibrationPlan",
    "StepOverhead",
    "bench_records_problem",
    "calibrate",
    "calibrate_compute",
    "calibrate_compute_curve",
    "calibrate_host",
    "calibrate_links",
    "cold_cache_bytes",
    "fault_free_time",
    "fit_link_records",
    "fit_links",
    "host_window_per_byte",
    "host_work_per_byte",
    "keep_heap",
    "last_level_cache_bytes",
    "link_point_errors",
    "measure_compute",
    "measure_compute_concurrent",
    "measure_optimizer",
    "measure_page_fault",
    "measure_reduction",
    "measure_step_overhead",
    "optimizer_fit_module",
    "optimizer_training_step",
    "pool_problem",
    "pool_profiles",
    "refit_links",
    "refresh",
    "refresh_plan",
    "refresh_problem",
    "remeasure_links",
    "remeasure_optimizer",
    "run_bench",
    "scenario_optimizer",
    "worst_link_points",
]

MiB = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class CalibrationPlan:
    """What to measure. The defaults describe a testbed: any configuration of it can be predicted."""

    ranks: Sequence[int] = (2, 3, 4)
    sizes: Sequence[int] = (8 * 1024, 64 * 1024, 2 * MiB, 8 * MiB)
    """All-reduce sizes: small ones fix α, large ones (≥ 16 shaper bursts per step) the bandwidth."""
    intra_sizes: Sequence[int] = (8 * 1024, 64 * 1024, 8 * MiB, 32 * MiB)
    """Sizes for the intra-node class (loopback, unshaped): a step of a 2 MiB all-reduce takes about as long
    as a scheduler time slice when ranks outnumber the cores, so the bandwidth is measured on ≥ 1 MiB per
    step (:data:`INTRA_LARGE_BYTES`), where the host's work per byte, not when a peer is scheduled, sets it."""
    algorithms: Sequence[str] = ("ring", "tree", "halving-doubling", "backend")
    collectives: Sequence[str] = ("all_reduce", "all_gather", "reduce_scatter", "broadcast")
    link_classes: Sequence[str] = ("inter", "intra")
    rates: Sequence[float] = (150e6 / 8, 450e6 / 8, 1200e6 / 8)
    """Shaped inter-node rates (bytes/s) the emulated testbed is calibrated at (η, and κ per rate, are fitted)."""
    micro_batches: Sequence[int] = (1, 2, 4)
    """Micro-batch sizes of the scenario's own model (forward/backward linear fit)."""
    curve_hiddens: Sequence[int] = (256, 512, 1024, 2048)
    curve_micro_batches: Sequence[int] = (4, 16, 64, 256)
    curve_layers: int = 2
    host_processes: Sequence[int] = (1, 2, 3, 4, 6, 8)
    compute_workers: int = 1
    """Processes timing the scenario's model at once (1: alone; the host model scales it)."""
    reps: int = 5
    max_reps: int = 15
    """Repetitions of a benchmark point while its median is uncertain by more than 3 % (:func:`runtime.bench.
    median_uncertainty`), within ``point_budget_s``: a shared host's scheduler scatters short collectives widely."""
    point_budget_s: float = 2.0
    """Seconds of extra repetitions one benchmark point may take."""
    warmup: int = 1
    timeout_s: float = 600.0
    tcp_cc: str = ""
    """The emulated nodes' TCP congestion control (``dpsim calibrate|validate --tcp-cc``; '': ``DPSIM_TCP_CC``, else
    the host's): passed to each cluster, as ``EmulatedCluster.tcp_cc``."""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.ranks or min(self.ranks) < 2:
            raise ValueError(f"rank counts must be at least 2, got {list(self.ranks)}")
        if not self.sizes or min(self.sizes) <= 0:
            raise ValueError("message sizes must be positive")
        if not self.rates or min(self.rates) <= 0:
            raise ValueError("shaped rates must be positive")


def _median_time(fn: Callable[[], object], reps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _single_rank_group() -> bool:
    """A one-rank gloo group (in-memory store), so models can be timed wrapped in DDP as ranks run them.

    False when this process already belongs to a larger group (under torchrun): DDP there
    would synchronise with the other ranks, so the bare model is timed.
    """
    import torch.distributed as dist

    if dist.is_initialized():
        return dist.get_world_size() == 1
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    return True


def _ddp_timer(
    model: torch.nn.Module, loss_of: Callable[[Any, Any], torch.Tensor]
) -> Callable[[Any], tuple[float, float]]:
    """(forward_s, backward_s) of one micro-batch through ``model`` wrapped in DDP (25 MiB buckets, as the job)."""
    from torch.nn.parallel import DistributedDataParallel

    from runtime.aggregation import NO_BUFFER_SYNC

    ddp: torch.nn.Module = model
    if _single_rank_group():
        ddp = DistributedDataParallel(model, bucket_cap_mb=25, gradient_as_bucket_view=True, **NO_BUFFER_SYNC)

    def once(batch: Any) -> tuple[float, float]:
        t0 = time.perf_counter()
        loss = loss_of(ddp, batch)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1

    return once


def _medians(once: Callable[[Any], tuple[float, float]], batch: Any, reps: int, warmup: int) -> tuple[float, float]:
    for _ in range(warmup):
        once(batch)
    runs = [once(batch) for _ in range(reps)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def _model_loss(model: Any) -> Callable[[Any, Any], torch.Tensor]:
    def loss_of(wrapped: Any, batch: Any) -> torch.Tensor:
        inputs, targets = batch
        out = wrapped(inputs)
        if isinstance(model, MLP):
            return torch.nn.functional.mse_loss(out, targets)
        return torch.nn.functional.cross_entropy(out.flatten(0, 1), targets.flatten())

    return loss_of


def measure_compute(
    scenario: Scenario, micro_batches: Sequence[int], reps: int = 5, warmup: int = 1, device: str = "cpu"
) -> tuple[LinearTime, LinearTime]:
    """Forward and backward of the scenario's model (DDP-wrapped on one CPU thread, or on one GPU), linear in b."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cuda = device.startswith("cuda")

    def now() -> float:
        if cuda:  # kernels are asynchronous: a microbenchmark waits for them
            torch.cuda.synchronize()
        return time.perf_counter()

    try:
        if not cuda:  # as ranks run it: wrapped in DDP
            model = build_model(scenario)
            once = _ddp_timer(model, _model_loss(model))
            generator = torch.Generator().manual_seed(0)
            fwd, bwd = [], []
            for mb in micro_batches:
                f, b = _medians(once, synthetic_batch(model, scenario, mb, generator), reps, warmup)
                fwd.append(f)
                bwd.append(b)
            return fit_linear_time(micro_batches, fwd), fit_linear_time(micro_batches, bwd)
        model = build_model(scenario).to(device)
        generator = torch.Generator().manual_seed(0)
        fwd, bwd = [], []
        for mb in micro_batches:
            batch = tuple(t.to(device) for t in synthetic_batch(model, scenario, mb, generator))
            f_times, b_times = [], []
            for i in range(warmup + reps):
                t0 = now()
                loss = model.loss(batch)  # type: ignore[arg-type]
                t1 = now()
                loss.backward()
                t2 = now()
                if i >= warmup:
                    f_times.append(t1 - t0)
                    b_times.append(t2 - t1)
            fwd.append(statistics.median(f_times))
            bwd.append(statistics.median(b_times))
        return fit_linear_time(micro_batches, fwd), fit_linear_time(micro_batches, bwd)
    finally:
        torch.set_num_threads(threads)


CURVE_ROUNDS = 9
"""Rounds of :func:`measure_compute_curve`: each (hidden, micro-batch) point is timed once a round, round robin over
the grid, and its time is the median over rounds. Three back-to-back repetitions a point (until stop 49) put the same
point of three calibrations of one quiet host 40 minutes apart a median 9.3 % apart (stop 48; 16.5 % at stop 47; up
to 33 %, the 2048-wide backward at 4 samples 24.3 / 18.1 / 17.1 ms, slower than at 16 samples), and swapping one
calibration's curve for another's moved the priced compute's mean by 6.5 points on the same runs
(``benchmarks/compute_share.py``'s attribution). The grid takes ~0.25 s a round on the 2-core VM."""
CURVE_WARMUP = 2
"""Untimed iterations of every point before the rounds: DDP rebuilds its buckets in gradient-ready order at the
second iteration (``DistributedDataParallel._pre_forward`` → ``reducer._rebuild_buckets()`` once the first backward
recorded the order), allocating them afresh, so one warm-up left that in the first timed repetition."""


def measure_compute_curve(
    hiddens: Sequence[int],
    micro_batches: Sequence[int],
    layers: int,
    reps: int = CURVE_ROUNDS,
    warmup: int = CURVE_WARMUP,
) -> ComputeCurve:
    """Forward/backward of DDP-wrapped ``layers``-layer square MLPs over the (hidden, micro_batch) grid, alone.

    After ``warmup`` iterations of every point, ``reps`` rounds each run every point twice, the second timed (so a
    timed iteration follows one of its own point, as back-to-back repetitions did), round robin over the grid; a
    point's forward and backward are the medians over rounds (:data:`CURVE_ROUNDS`): a burst of other work on the
    host then lands on one round of many points, not on every repetition of one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(0)
        timers: list[tuple[int, int, Callable[[Any], tuple[float, float]], Any]] = []
        for hidden in hiddens:
            torch.manual_seed(0)
            model = MLP(layers, hidden)
            once = _ddp_timer(model, _model_loss(model))
            for mb in micro_batches:
                batch = (torch.randn(mb, hidden, generator=generator), torch.randn(mb, hidden, generator=generator))
                timers.append((hidden, mb, once, batch))
        for _, _, once, batch in timers:
            for _ in range(warmup):
                once(batch)
        runs: list[list[tuple[float, float]]] = [[] for _ in timers]
        for _ in range(reps):
            for i, (_, _, once, batch) in enumerate(timers):
                once(batch)
                runs[i].append(once(batch))
        points = [ComputePoint(hidden, mb, layers, statistics.median(r[0] for r in times),
                               statistics.median(r[1] for r in times))
                  for (hidden, mb, _, _), times in zip(timers, runs, strict=True)]  # fmt: skip
        return ComputeCurve(tuple(points))
    finally:
        torch.set_num_threads(threads)


STEP_OVERHEAD_ROUNDS = 9
"""Rounds of :func:`measure_step_overhead`: each round steps the optimizer once before every micro-batch size and
times that size's micro-batch twice (right after the step, then back to back), so a burst of other work on the host
lands on one round's pairs, not on every pair of one size."""


@dataclass(frozen=True)
class StepOverhead:
    """What :func:`measure_step_overhead` measured: the per-step cost the profile keeps (``seconds``, the median of
    the paired differences on the thread's CPU clock, at least 0) and how it was spread."""

    seconds: float
    measured_s: float
    """The median of the paired CPU differences as measured (below 0: the term is inside its noise, priced 0)."""
    wall_s: float
    """The same median on the wall clock (``time.perf_counter``): on a busy host it also holds the waits for a core."""
    half_width_s: float
    """Half width of a 95 % interval of the CPU median (:func:`runtime.bench.median_uncertainty`'s form, seconds)."""
    by_micro_batch: dict[int, float]
    """The median CPU difference at each micro-batch size alone."""
    pairs: int
    idle_s: float = 0.0
    """Seconds asleep before each optimizer step (:func:`measure_step_overhead`'s ``idle_s``)."""

    def meta(self) -> dict[str, Any]:
        """The profile's ``meta.step_overhead`` record."""
        return {"measured_s": self.measured_s, "wall_s": self.wall_s, "half_width_s": self.half_width_s,
                "by_micro_batch_s": {int(k): float(v) for k, v in sorted(self.by_micro_batch.items())},
                "pairs": self.pairs, "rounds": STEP_OVERHEAD_ROUNDS, "idle_s": self.idle_s}  # fmt: skip


def _half_width_s(values: Sequence[float]) -> float:
    """Half width of a 95 % interval of the median of ``values``, in their unit (the IQR form of
    :func:`runtime.bench.median_uncertainty`, not divided by the median: a difference's median may be 0)."""
    if len(values) < 3:
        return math.inf
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return 1.96 * 1.253 * (q3 - q1) / 1.349 / math.sqrt(len(values))


def measure_step_overhead(
    scenario: Scenario,
    micro_batches: Sequence[int],
    rounds: int = STEP_OVERHEAD_ROUNDS,
    warmup: int = CURVE_WARMUP,
    idle_s: float | None = None,
) -> StepOverhead:
    """The once-a-step cost of the micro-batch that follows an optimizer step (:attr:`dpsim.calibration.
    HardwareProfile.step_overhead_s`), alone on one thread as each rank runs.

    The scenario's model, DDP-wrapped as the compute fit times it (:func:`_ddp_timer`), with the scenario's optimizer
    over it: each round, per micro-batch size of ``micro_batches``, ``idle_s`` asleep (default
    :data:`OPTIMIZER_IDLE_S`, as the optimizer fit: a training rank steps after blocking on its last all-reduce),
    ``step()`` + ``zero_grad(set_to_none=False)`` (as ``runtime.job`` ends a step), then the synchronising micro-batch
    (forward and backward) timed, then the same micro-batch timed again back to back (what the profile's forward and
    backward fit times). The step writes every parameter and streams the optimizer's state through the caches, and
    the wait before it leaves the core to other work, so the first micro-batch after it finds its code and data
    cold; the difference of each pair is that extra cost. Until stop 55 the step followed the previous pair at once:
    on the 2-core development host the micro-batch (64 samples, the validation's MLP 4 × 768) took +0.26 ms over its
    back-to-back twin that way and +0.7–1.0 ms after 0.05–0.5 s asleep before the step (stop 55,
    ``benchmarks/results/calib-55/``), and the stored runs' ranks wait 0.1–0.3 s in their synchronisation each step.
    Each micro-batch is timed on the
    thread's CPU clock (``time.thread_time``), as the runs record their compute and the optimizer fit its step: the
    rank's own work, which the engines time-slice as the compute (not the waits for a core, which on a busy host
    scatter the wall clock's pairs by milliseconds). The median over every pair of every round, floored at 0, is
    the term; its wall-clock counterpart, spread and per-size medians are kept."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = build_model(scenario)
        once = _ddp_timer(model, _model_loss(model))
        optimizer = scenario_optimizer(scenario, model)
        generator = torch.Generator().manual_seed(0)
        batches = [(mb, synthetic_batch(model, scenario, mb, generator)) for mb in micro_batches]

        def step() -> None:
            optimizer.step()
            optimizer.zero_grad(set_to_none=False)

        def timed(batch: Any) -> tuple[float, float]:
            cpu = time.thread_time()
            forward, backward = once(batch)
            return forward + backward, time.thread_time() - cpu

        for _, batch in batches:
            for _ in range(warmup):
                once(batch)
                step()
        cpus: dict[int, list[float]] = {mb: [] for mb, _ in batches}
        walls: list[float] = []
        wait = OPTIMIZER_IDLE_S if idle_s is None else idle_s
        for _ in range(rounds):
            for mb, batch in batches:
                if wait > 0:
                    time.sleep(wait)
                step()
                after, after_cpu = timed(batch)
                back, back_cpu = timed(batch)
                cpus[mb].append(after_cpu - back_cpu)
                walls.append(after - back)
        pooled = [d for values in cpus.values() for d in values]
        measured = statistics.median(pooled)
        return StepOverhead(max(0.0, measured), measured, statistics.median(walls), _half_width_s(pooled),
                            {mb: statistics.median(v) for mb, v in cpus.items()}, len(pooled), wait)  # fmt: skip
    finally:
        torch.set_num_threads(threads)


def measure_optimizer(scenario: Scenario) -> LinearTime:
    """``optimizer.step()`` time of the scenario's optimizer, linear in the parameters it updates.

    With its page faults (a profile without a host model, as ``runtime.torchrun`` writes, has no
    ``page_fault`` for the engines to add them back with).
    """
    return measure_optimizer_fit(scenario)[0]


def _minor_faults() -> int:
    """Minor page faults of this process so far (every thread)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure_page_fault(size_bytes: int = 64 * 2**20, reps: int = 5) -> float:
    """CPU seconds of one minor page fault: first write of freshly mapped memory minus a second write, per fault.

    Each repetition maps ``size_bytes`` anonymously (as glibc does for a request above its mmap
    threshold), fills it once (every page faults: the kernel maps and zeroes it) and again (no
    faults), on this thread's CPU clock (``time.thread_time``: the kernel's fault handling is the
    thread's system time). The median over ``reps``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        per = []
        for _ in range(reps):
            with mmap.mmap(-1, size_bytes) as region:
                data = torch.frombuffer(region, dtype=torch.uint8)
                f0, c0 = _minor_faults(), time.thread_time()
                data.fill_(1)
                c1, f1 = time.thread_time(), _minor_faults()
                data.fill_(2)
                c2 = time.thread_time()
                del data
            if f1 > f0:
                per.append(max(0.0, (c1 - c0) - (c2 - c1)) / (f1 - f0))
        return float(statistics.median(per)) if per else 0.0
    finally:
        torch.set_num_threads(threads)


def fault_free_time(wall_s: float, faults: int, page_fault_s: float) -> float:
    """Work of a timed step without its minor page faults (never below 0): ``wall − faults · page_fault``."""
    return max(0.0, wall_s - faults * page_fault_s)


def scenario_optimizer(scenario: Scenario, module: torch.nn.Module) -> torch.optim.Optimizer:
    """The scenario's optimizer over ``module``'s parameters, as the calibration steps it (``momentum``: SGD with
    momentum 0.9; the learning rate at the scenario's global batch)."""
    t = scenario.training
    name = {"momentum": "sgd"}.get(t.optimizer, t.optimizer)
    kwargs: dict[str, Any] = {"momentum": 0.9} if t.optimizer == "momentum" else {}
    optimizer, _ = build_optimizer(module, name, t.learning_rate, t.global_batch, t.global_batch, **kwargs)
    return optimizer


def _optimizer_step_times(
    scenario: Scenario,
    module: torch.nn.Module,
    reps: int,
    warmup: int,
    page_fault_s: float = 0.0,
    evict: Callable[[], object] = lambda: None,
    backward: Callable[[], object] | None = None,
    idle_s: float = 0.0,
) -> list[float]:
    """``reps`` timed ``optimizer.step()`` + ``zero_grad`` of the scenario's optimizer over ``module``'s parameters,
    each step prepared untimed as training prepares it (:func:`optimizer_training_step`: the gradients written
    afresh, by ``backward`` where given, then ``evict``, then ``idle_s`` asleep).

    Each step is timed on the thread's CPU clock (``time.thread_time``: the step's own work, not the time other work
    on the host's cores keeps it waiting), and its minor page faults (Adam's temporaries that glibc maps afresh, or
    re-grows the heap for) are taken out at ``page_fault_s`` each (:func:`fault_free_time`): whether a temporary
    gets fresh pages depends on the process's heap, not on the optimizer's work, so the engines
    add the faults a training step takes from the model (:func:`dpsim.allocator.optimizer_fresh_bytes`).
    """
    for p in module.parameters():
        p.grad = torch.ones_like(p)
    opt = scenario_optimizer(scenario, module)
    prepare, step = optimizer_training_step(module, opt, evict, backward, idle_s)
    for _ in range(warmup):
        prepare()
        step()
    times = []
    for _ in range(reps):
        prepare()
        f0, start = _minor_faults(), time.thread_time()
        step()
        cpu, faults = time.thread_time() - start, _minor_faults() - f0
        times.append(fault_free_time(cpu, faults, page_fault_s))
    return times


def optimizer_training_step(
    module: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    evict: Callable[[], object],
    backward: Callable[[], object] | None = None,
    idle_s: float = 0.0,
) -> tuple[Callable[[], object], Callable[[], object]]:
    """An optimizer step over ``module``'s parameters as a training rank takes it: (untimed preparation, timed step).

    The preparation writes every gradient afresh, as the backward and the gradient synchronisation do before each
    step (``backward`` where given, e.g. a DDP-wrapped forward and backward; else every gradient filled with 1),
    then runs ``evict`` (:func:`_cache_evictor`: the step's state then streams from memory), then sleeps ``idle_s``
    (:data:`OPTIMIZER_IDLE_S`: a training rank blocks on its last all-reduce before it steps). The step is
    ``step()`` + ``zero_grad(set_to_none=False)``, as ``runtime.job`` steps. Stepped on the zeros ``zero_grad``
    leaves instead, Adam's first moment decays 0.9 a step and goes subnormal at step 809
    (:func:`adam_training_step`). The one helper of the optimizer fit (:func:`measure_optimizer_fit`), its warm
    curve (:func:`measure_optimizer_curve`) and the host calibration's optimizer workers (:func:`measure_host`).
    """
    params = [p for p in module.parameters() if p.requires_grad]

    def prepare() -> None:
        if backward is not None:
            backward()
        else:
            for p in params:
                assert p.grad is not None
                p.grad.fill_(1.0)
        evict()
        if idle_s > 0:
            time.sleep(idle_s)

    def step() -> None:  # as in a training step
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)

    return prepare, step


CACHE_SYSFS = Path("/sys/devices/system/cpu/cpu0/cache")
"""Where Linux describes CPU 0's caches: one ``index*`` folder a cache, with its ``level``, ``type`` and ``size``."""

COLD_MIN_BYTES = 256 * MiB
"""Fewest bytes :func:`cold_cache_bytes` writes before an optimizer step (a host that reports no cache)."""
COLD_MAX_BYTES = 1 << 30
"""Most bytes :func:`cold_cache_bytes` writes before an optimizer step (a host reporting a larger cache)."""


def _sysfs_size(text: str) -> int:
    """Bytes of a sysfs cache ``size`` (``48K``, ``2048K``, ``32M``; a bare number is bytes)."""
    text = text.strip()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    return int(text[:-1] if scale > 1 else text) * scale


def last_level_cache_bytes(root: Path = CACHE_SYSFS) -> int | None:
    """Size of the last-level cache CPU 0 reports (the highest ``level`` of a data or unified cache), or None.

    Read from ``/sys/devices/system/cpu/cpu0/cache/index*/{level,type,size}``; a virtual machine reports
    what its hypervisor exposes (the emulated cluster's 2-core VM: 480 MiB, shared with the host's other
    tenants), so the size is a bound on what a step's state can find in the cache, stored with the profile.
    """
    best: tuple[int, int] | None = None
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text(encoding="utf-8"))
            kind = (index / "type").read_text(encoding="utf-8").strip()
            size = _sysfs_size((index / "size").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if kind != "Instruction" and size > 0 and (best is None or (level, size) > best):
            best = (level, size)
    return best[1] if best is not None else None


def cold_cache_bytes(cache_bytes: int | None) -> int:
    """Bytes written before each calibrated optimizer step so that its state comes from memory, as in training.

    Twice the last-level cache (every line of it replaced, whatever its replacement policy), at least
    :data:`COLD_MIN_BYTES` and at most :data:`COLD_MAX_BYTES`.
    """
    return min(COLD_MAX_BYTES, max(COLD_MIN_BYTES, 2 * cache_bytes if cache_bytes else 0))


def _cache_evictor(size_bytes: int) -> Callable[[], object]:
    """A step that reads and writes ``size_bytes`` of its own memory (an in-place add: no non-temporal stores
    bypassing the caches), evicting what an optimizer step left in them; nothing for 0 bytes."""
    if size_bytes <= 0:
        return lambda: None
    buffer = torch.zeros(size_bytes, dtype=torch.uint8)
    return lambda: buffer.add_(1)


OPTIMIZER_IDLE_S = 0.2
"""Seconds the optimizer fit's process sleeps before each timed step (after the gradients and the cache eviction):
a training rank steps after blocking on its last all-reduce, and a step after such a wait costs more than one
taken at once. On the quiet emulated host (stop 48, emu W3, ``benchmarks/optimizer_share.py --modes
fit,ddp-flush,ddp-wait``) one process's Adam step over the 4 × 768 MLP took 5.9 ns a parameter of CPU after an
idle wait to the next 0.2 s boundary (``ddp-wait``) against 4.6 for the fit's own step (``fit``) and 4.9 right after
a backward and the eviction (``ddp-flush``); the training ranks of stop 48's fresh draw then took 5.1–6.7 ns
(median 1.18–1.19 × the profile's fit over 54 runs, ``optimizer_share.py --runs
benchmarks/results/validation-2026-12-07-c/all``), as written down before those runs were read. 0.2 s is the
measured wait; training's exposed waits are 0.1–0.3 s in those runs. Checked on the quiet host at stop 49 (emu W2,
three alternating pairs of this fit, ``validation-2026-12-07-d/terms-optimizer-idle.txt``): 4.65 / 4.61 / 4.53 ns a
parameter without the wait, 4.75 / 4.73 / 4.67 with it, +2–3 %, not the 20–28 % of ``ddp-wait``; and fresh49's ranks
stepped at 1.01–1.02 × the fit without it. The wait is how training takes the step, kept; it is not what made
fresh47–48's steps 1.18–1.25 × the fit."""


OPTIMIZER_REPS = 5
"""Timed steps a size of the optimizer fit (:func:`measure_optimizer_fit`'s default), each size's time their median."""
OPTIMIZER_WARMUP = 3
"""Untimed steps a size before the optimizer fit's timed ones (:func:`measure_optimizer_fit`'s default): the first
creates Adam's state, and the heap (kept: :func:`keep_heap`) grows to the step's temporaries over the next ones. After
one warm-up step a fresh process's timed steps at 2 M parameters (two tensors) grew the heap by a 4 MiB temporary
(1,024 faults) in 9 of 30, after three in 2 of 75 over 1 / 2 / 4 M (2026-12-07, stop 52)."""


FIT_TENSOR_PARAMETERS = 1 << 20
"""Most parameters in one tensor of the optimizer fit's model (:func:`optimizer_fit_module`): Adam's two
parameter-sized temporaries of such a tensor (4 MiB each) stay far below glibc's largest mmap threshold
(:data:`dpsim.allocator.MMAP_THRESHOLD_MAX_BYTES`), so with the heap kept (:func:`keep_heap`) the median timed step
maps no temporary afresh (a few pages of the interpreter's own may fault, and now and then one step grows the heap
once), as the median training rank's step over the MLP's tensors maps none (``per_rank_optimizer_faults``, the
ranks' median step: 0 in 288 of fresh51's 324 rank records, half the rest 576: one 2.25 MiB temporary)."""


def optimizer_fit_module(parameters: int) -> torch.nn.Module:
    """The optimizer fit's model: ``parameters`` fp32 parameters in tensors of :data:`FIT_TENSOR_PARAMETERS` (the
    last one the remainder), as a training model holds its parameters in many tensors.

    Until stop 51 the fit stepped one tensor (``Linear(1, P)``): at 16 M parameters Adam's temporaries were 64 MiB,
    above glibc's largest mmap threshold, so every timed step mapped and first-touched 32,770 fresh pages, and at 1
    and 4 M glibc's dynamic thresholds trimmed the heap's top after a step or not (2,016 / 8,160 faults or none, a
    lottery per process). :func:`fault_free_time` took them out at :func:`measure_page_fault`'s price, which is
    not what they cost inside the fit: on the emulated cluster's VM (a Firecracker guest reporting its free pages to
    the hypervisor, ``page_reporting.page_reporting_order=11``, so memory freed for ~2 s is given back and the next
    first touch faults in the host too) the same 32,770 faults cost 40 to 350 ms from one step to the next
    (2026-12-07, one process, the fit's own settings), where the 64 MiB probe read 1.1-1.6 µs a fault (36-52 ms).
    The residue was the fit's overshoot: stop 51's 48.7 / 28.8 / 15.3 ns a parameter at 1 / 4 / 16 M (39.5 ms +
    14.1 ns, residual 18.4 %) against its ranks' 9.1 ns of CPU a parameter, the median rank with no fault."""
    sizes = [FIT_TENSOR_PARAMETERS] * (parameters // FIT_TENSOR_PARAMETERS)
    if parameters % FIT_TENSOR_PARAMETERS:
        sizes.append(parameters % FIT_TENSOR_PARAMETERS)
    return torch.nn.ParameterList(torch.nn.Parameter(torch.zeros(n)) for n in sizes)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's ``mallopt`` parameters (``malloc.h``)."""


def keep_heap() -> bool:
    """Keep this process's heap as :data:`HEAP_KEPT_ENV` keeps the host workers' (glibc's ``mallopt``: the mmap
    threshold at :data:`dpsim.allocator.MMAP_THRESHOLD_MAX_BYTES`, the trim threshold at 2 GiB, its ``int``'s
    largest): allocations below the threshold come from a heap that is never given back, so a step's temporaries
    reuse pages they touched before. Irreversible for the process (glibc's dynamic thresholds stay off), as in a
    long-running training rank whose thresholds have risen; :func:`calibrate_compute` and :func:`refresh` time the
    compute before the optimizer, and ranks, benchmarks, host workers and the optimizer fit
    (:func:`fresh_optimizer_fit`) are processes of their own, so no other measurement runs under it but the
    optimizer's warm curve (:func:`_optimizer_parts` keeps the calibrating process's heap for it). True where glibc
    took both; False elsewhere (another C library: nothing set)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def measure_optimizer_fit(
    scenario: Scenario,
    sizes: Sequence[int] = (1 << 20, 1 << 22, 1 << 24),
    reps: int = OPTIMIZER_REPS,
    warmup: int = OPTIMIZER_WARMUP,
    page_fault_s: float = 0.0,
    log: Callable[[str], None] | None = None,
    cold_bytes: int | None = None,
    idle_s: float = OPTIMIZER_IDLE_S,
    samples: dict[int, list[float]] | None = None,
) -> tuple[LinearTime, float]:
    """``optimizer.step()`` + ``zero_grad`` of the scenario's optimizer on ``sizes`` parameters, cold: fit and residual.

    ``samples``, where given, holds each size's timed steps of earlier rounds (:func:`remeasure_optimizer`; ``{}``
    for none): this round's are appended to it, and each size's time is the median over all of them (pooled, as a
    link's points measured again are, not this round's alone).

    In training the step follows the gradient synchronisation, during which the other ranks, the
    backend's threads and the kernel's network work ran on the same cores, so its parameters, gradients
    and moments come from memory (:meth:`dpsim.calibration.HardwareProfile.optimizer_for` prices it so).
    Back to back, a step finds what the previous one left in the caches, the more the smaller the state:
    3.18 / 4.12 / 4.72 ns a parameter at 1 / 4 / 16 M on the emulated cluster's VM (2026-12-05-f; 16 B of
    Adam state a parameter beside the temporaries), which no fixed cost ≥ 0 plus a cost per parameter
    explains (residual 15–99 % in the 13 stored sessions' profiles). So every step, the warm-up's
    included, follows fresh gradients and an untimed write of ``cold_bytes`` (:func:`optimizer_training_step`;
    default :func:`cold_cache_bytes` of :func:`last_level_cache_bytes`; 0: back to back, as before): the same
    memory-bound cost a parameter at every size, linear in the parameters.

    Each step also follows ``idle_s`` asleep (:data:`OPTIMIZER_IDLE_S`; 0: none, as before stop 49), as a
    training rank's step follows its wait on the last all-reduce; the profile records it (``meta.optimizer_idle_s``).

    Fault-free by construction, on the thread's CPU clock (stop 52): the parameters are held in tensors of
    :data:`FIT_TENSOR_PARAMETERS` (:func:`optimizer_fit_module`) and the process keeps its heap (:func:`keep_heap`), so
    the median timed step maps no temporary afresh, as the median training rank's does not; until stop 51 one tensor
    of P parameters was stepped and its faults taken out at :func:`measure_page_fault`'s price, which the
    hypervisor's own faults made a lottery
    (stop 51's 18.4 % refused fit, 3.4 × its ranks' CPU a step: :func:`optimizer_fit_module`). Each step is timed on
    ``time.thread_time``: other work on the host's cores delays the step's wall time, not its work, and the engines
    price the sharing apart (``host_model.optimizer_slowdown``); on the 2-core VM at a load of 2.4–3.3 (2026-12-07,
    three alternating pairs) the former fit read 5.9 / 17.2 / 9.8 ns a parameter at 2.36 M (residual 0.6 / 6.0 /
    11.8 %), this one 4.5 / 4.9 / 4.5 (3.4 / 0.7 / 1.2 %). Faults that remain (a heap grown once) are still taken out
    (:func:`fault_free_time`). ``log`` gets each size's time (what the residual is measured against).
    """
    if cold_bytes is None:
        cold_bytes = cold_cache_bytes(last_level_cache_bytes())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        keep_heap()
        evict = _cache_evictor(cold_bytes)
        pooled = samples if samples is not None else {}
        for size in sizes:
            timed = _optimizer_step_times(scenario, optimizer_fit_module(size), reps, warmup, page_fault_s, evict,
                                          idle_s=idle_s)  # fmt: skip
            pooled[int(size)] = [*pooled.get(int(size), []), *timed]
        times = [statistics.median(pooled[int(size)]) for size in sizes]
        if min(times) > 0:
            fit = fit_linear_time(sizes, times, relative=True)  # least squares in the residual's own (relative) error
            residual = max(abs(fit(x) - y) / y for x, y in zip(sizes, times, strict=True))
        else:  # page faults priced at or above a step's wall time (a loaded host): no relative error to take
            fit, residual = fit_linear_time(sizes, times), math.inf  # a failed fit, as the link fits record one
        if log is not None:
            where = f"after writing {cold_bytes / MiB:g} MiB (cold)" if cold_bytes > 0 else "back to back (warm)"
            where += f" and {idle_s:g} s idle" if idle_s > 0 else ""
            log(f"calibrate: optimizer step alone, fault-free, {where}: " + ", ".join(
                f"{x} parameters {1e3 * y:.3f} ms ({1e9 * y / x:.2f} ns each, median of {len(pooled[int(x)])} steps; "
                f"fit {1e3 * fit(x):.3f} ms)" for x, y in zip(sizes, times, strict=True)))  # fmt: skip
        return fit, float(residual)
    finally:
        torch.set_num_threads(threads)


def fresh_optimizer_fit(
    scenario: Scenario,
    *,
    sizes: Sequence[int] = (1 << 20, 1 << 22, 1 << 24),
    reps: int = OPTIMIZER_REPS,
    page_fault_s: float = 0.0,
    log: Callable[[str], None] | None = None,
    cold_bytes: int | None = None,
    idle_s: float = OPTIMIZER_IDLE_S,
    samples: dict[int, list[float]] | None = None,
    timeout_s: float = 600.0,
) -> tuple[LinearTime, float]:
    """:func:`measure_optimizer_fit` (its warm-up) in a fresh single-thread process, as
    a training rank and the compute curve (:func:`calibrate_compute_curve`) are timed: ``python -m runtime.calibrate
    optimizer IN OUT``, ``OMP_NUM_THREADS=1``. ``samples`` gets this round's steps appended as in-process; ``log``
    gets the worker's line.

    Until stop 55 the fit ran inside the calibrating process, after its links part (rank processes launched and
    their records fitted), its host sweeps (up to 8 processes of 960 MiB each) and the model's fits (a one-rank gloo
    group whose threads stay alive). In stop 54's block (emu, validation-2026-12-08-a) that fit timed 1 / 4 / 16 M
    parameters at 38.8 / 84.2 / 169.2 ms where the same fit in a fresh process minutes before and after read
    12.7 / 30.1 / 94.5 and 10.4 / 28.4 / 92.8 ms: the training ranks it prices are fresh processes too."""
    with tempfile.TemporaryDirectory(prefix="dpsim-optimizer-") as tmp:
        given, out, yaml_path = Path(tmp) / "in.json", Path(tmp) / "out.json", Path(tmp) / "scenario.yaml"
        yaml_path.write_text(dump_scenario(scenario), encoding="utf-8")
        given.write_text(json.dumps({
            "scenario": str(yaml_path), "sizes": list(sizes), "reps": reps, "page_fault_s": page_fault_s,
            "cold_bytes": cold_bytes, "idle_s": idle_s, "samples": {str(k): v for k, v in (samples or {}).items()},
        }), encoding="utf-8")  # fmt: skip
        command = [sys.executable, "-m", "runtime.calibrate", "optimizer", str(given), str(out)]
        subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=timeout_s)
        data = json.loads(out.read_text(encoding="utf-8"))
    if samples is not None:
        samples.clear()
        samples.update({int(k): [float(x) for x in v] for k, v in data["samples"].items()})
    if log is not None:
        log(data["log"] + " (a fresh process)")
    return LinearTime(float(data["fixed_s"]), float(data["per_unit_s"])), float(data["residual"])


def _optimizer_worker(argv: Sequence[str]) -> None:
    """:func:`fresh_optimizer_fit`'s process: reads its settings (IN), writes the fit, its residual, the pooled
    steps and the log line (OUT)."""
    given, out = argv
    data = json.loads(Path(given).read_text(encoding="utf-8"))
    scenario = load_scenario(data["scenario"])  # the YAML file fresh_optimizer_fit wrote beside IN
    samples = {int(k): [float(x) for x in v] for k, v in data["samples"].items()}
    lines: list[str] = []
    fit, residual = measure_optimizer_fit(
        scenario, [int(x) for x in data["sizes"]], reps=int(data["reps"]), page_fault_s=float(data["page_fault_s"]),
        log=lines.append, cold_bytes=data["cold_bytes"], idle_s=float(data["idle_s"]), samples=samples,
    )  # fmt: skip
    Path(out).write_text(json.dumps({
        "fixed_s": fit.fixed_s, "per_unit_s": fit.per_unit_s, "residual": residual,
        "samples": {str(k): v for k, v in samples.items()}, "log": "\n".join(lines),
    }), encoding="utf-8")  # fmt: skip


OPTIMIZER_MICRO_BATCH = 32
"""Samples of the forward and backward that precede every timed optimizer step of the curve."""


def measure_optimizer_curve(
    scenario: Scenario,
    hiddens: Sequence[int],
    layers: int,
    instances: int = 3,
    reps: int = 5,
    page_fault_s: float = 0.0,
) -> tuple[tuple[int, float], ...]:
    """Seconds per parameter of the scenario's optimizer (step + zero_grad) on ``layers`` square MLP layers per width.

    Measured per width as training runs it: every step follows a forward and backward of
    :data:`OPTIMIZER_MICRO_BATCH` samples through the DDP-wrapped model (one-rank gloo group, DDP's
    defaults: the backward copies the gradients into its buckets and back, and leaves the caches
    to them); each point is the median over ``instances`` freshly built models of the median of
    ``reps`` fault-free steps after one (:func:`_optimizer_step_times`). Back to back, the step's
    faults came and went with the width (2,240–8,064 a step at 768–1024 wide, none through DDP).
    """
    from torch.nn.parallel import DistributedDataParallel

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = []
        for hidden in hiddens:
            per = []
            for _ in range(instances):
                model = MLP(layers, hidden)
                wrapped: torch.nn.Module = DistributedDataParallel(model) if _single_rank_group() else model
                x, y = torch.randn(OPTIMIZER_MICRO_BATCH, hidden), torch.randn(OPTIMIZER_MICRO_BATCH, hidden)

                def backward(net: torch.nn.Module = wrapped, x: torch.Tensor = x, y: torch.Tensor = y) -> None:
                    torch.nn.functional.mse_loss(net(x), y).backward()

                steps = _optimizer_step_times(scenario, model, reps, 1, page_fault_s, backward=backward)
                step_s = statistics.median(steps)
                per.append(step_s / sum(p.numel() for p in model.parameters()))
            out.append((int(hidden), float(statistics.median(per))))
        return tuple(out)
    finally:
        torch.set_num_threads(threads)


def measure_reduction(size_bytes: int = 16 * 2**20, reps: int = 7) -> float:
    """Bytes/s of the element-wise fp32 sum a reducing collective performs (one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.ones(size_bytes // 4)
        b = torch.ones(size_bytes // 4)
        return size_bytes / _median_time(lambda: a.add_(b), reps, 2)
    finally:
        torch.set_num_threads(threads)


# --- the host: k processes computing at once --------------------------------------------------------

HOST_HIDDEN, HOST_MICRO_BATCH, HOST_WINDOW_S, HOST_MARGIN_S = 512, 64, 1.5, 0.25
"""Reference workload of the host calibration (2-layer MLP 512 wide, 64 samples) and its timing window:
every process computes for ``HOST_WINDOW_S`` from a common start; iterations within ``HOST_MARGIN_S``
of either end are dropped, so the ones kept ran while all k processes were busy."""
OPTIMIZER_WINDOW_S, OPTIMIZER_MARGIN_S = 4.0, 0.5
"""Timing window of the host calibration's optimizer workload (:func:`measure_host`, ``optimizer``): each of its
iterations writes the cache-evicting buffer before the timed step (~90 ms alone for 960 MiB on the 2-core VM, ~10×
the step), so at 8 processes on 2 cores an iteration takes ~0.4 s; 3 s kept give ≥ 6 a process."""


def _wait_for(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:g} s for {path}")
        time.sleep(0.01)


HEAP_KEPT_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_MAX_BYTES), "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}
"""glibc ``malloc`` settings of the optimizer host workers (:func:`measure_host`): Adam's parameter-sized temporaries
(4 MiB for the 1024-wide layers of :data:`OPTIMIZER_HIDDEN`) come from the heap every step and the heap is never
trimmed, so no step takes first-touch page faults. Without them the faults were a lottery per process: glibc
(``malloc/malloc.c``) raises its mmap threshold to each mmapped chunk freed and its trim threshold to twice that
(8 MiB), and ``_int_free`` trims the heap's top back to the OS (``systrim``) whenever the free top reaches it. A
worker whose temporaries sat at the heap's top gave back both 4 MiB temporaries after every layer and faulted
them in again the next step (4,032 faults a step, about 2 µs each: as long as the step's own work), one whose
heap had a hole elsewhere took none; 0 or 4,032 a step across 8 workers on the 2-core VM (2026-12-06). The
slowdowns are ratios to worker 0 alone, so that lottery, not the sharing, set the host optimizer fit's 24–42 %
residuals. Setting either value turns glibc's dynamic thresholds off (``mallopt(3)``), so both are set: the mmap
threshold at the largest the dynamic one reaches (a long-running training rank's), the trim threshold beyond any
heap. The faults a training rank does take are priced from the model (:func:`dpsim.allocator.optimizer_fresh_bytes`)
and the step alone is timed fault-free (:func:`_optimizer_step_times`), so the sharing is measured fault-free too.
Other C libraries ignore both variables."""

OPTIMIZER_HIDDEN = 1024
"""Width of the 2-layer MLP whose Adam step the memory calibration times (2.1 M parameters: 34 MB of
parameters, gradients and moments, far beyond the caches, as a training step's optimizer sees them)."""


def adam_training_step(
    module: torch.nn.Module, cold_bytes: int
) -> tuple[Callable[[], object], Callable[[], object], torch.optim.Optimizer]:
    """An Adam step over ``module``'s parameters as a training rank takes it: (untimed preparation, timed step, the
    optimizer).

    The preparation writes every gradient (as the backward and the gradient synchronisation do before each step)
    and then ``cold_bytes`` of other memory (:func:`_cache_evictor`), so the step (``step()`` + ``zero_grad``)
    reads its state from memory, as :func:`measure_optimizer_fit` times the step the engines price
    (:meth:`dpsim.calibration.HardwareProfile.optimizer_for`).

    Both matter to the host calibration's ratios (:func:`measure_host`), found on the 2-core VM (2026-12-07):

    - **gradients each step**: stepped with the gradients ``zero_grad`` left (0), Adam's first moment decays by
      β1 = 0.9 a step (``exp_avg.lerp_(grad, 1 − β1)``, torch/optim/adam.py ``_single_tensor_adam``): 0.1·0.9^(n−1)
      after n steps, so the update's products (lr·m/√v̂ in ``addcdiv_``) go subnormal from ~750 steps and m itself
      below FLT_MIN at 809; there it sticks (at 4·2⁻¹⁴⁹, ``m + 0.1·(0 − m)`` rounds back to m) and the step's
      arithmetic takes x86's subnormal assists: 2.5–3.5 × the CPU time a step. Only the worker that ran every
      stage (worker 0, the k = 1 reference) took that many steps, by k = 6–8: why it ran 16–22 × alone there while
      the others ran 5–7 × (its CPU time a step 3.4 × theirs, 0 faults);
    - **cold state**: back to back, the lone step found its 34 MB of state in the last-level cache (~5.8 ms for
      2.1 M parameters), while k > C processes taking turns evict each other's (cold: ~10 ms): the ratio over
      the warm lone step counted the cache's loss (1.6–1.7 ×) as sharing, on top of ``max(1, k/C)``, which
      the engines multiply onto the cold step.
    """
    for p in module.parameters():
        p.grad = torch.ones_like(p)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    prepare, step = optimizer_training_step(module, opt, _cache_evictor(cold_bytes))
    return prepare, step, opt


def _host_workload(workload: str) -> tuple[Callable[[], object], Callable[[], object]]:
    """One iteration of the host calibration's workload: (untimed preparation, timed work): a DDP-wrapped
    micro-batch (nothing to prepare), or an Adam step as training takes it (:func:`adam_training_step`, cold at
    :func:`cold_cache_bytes` as the optimizer fit)."""
    torch.manual_seed(0)
    if workload == "optimizer":
        prepare, step, _ = adam_training_step(MLP(2, OPTIMIZER_HIDDEN), cold_cache_bytes(last_level_cache_bytes()))
        return prepare, step
    model = MLP(2, HOST_HIDDEN)
    once = _ddp_timer(model, _model_loss(model))
    batch = (torch.randn(HOST_MICRO_BATCH, HOST_HIDDEN), torch.randn(HOST_MICRO_BATCH, HOST_HIDDEN))
    return (lambda: None), (lambda: once(batch))


def host_window(workload: str) -> tuple[float, float]:
    """(window, margin) in seconds of :func:`measure_host`'s ``workload`` (:data:`HOST_WINDOW_S`,
    :data:`OPTIMIZER_WINDOW_S`)."""
    return (OPTIMIZER_WINDOW_S, OPTIMIZER_MARGIN_S) if workload == "optimizer" else (HOST_WINDOW_S, HOST_MARGIN_S)


def _host_worker(folder: Path, index: int, stages: Sequence[int], workload: str = "compute") -> None:
    """One process of :func:`calibrate_host`: at each stage's common start time, work if among the first k.

    ``stages`` is the sequence of k in the order measured (a k recurs once a round, :data:`HOST_ROUNDS`); each
    stage's go/done files are named by its position. Per k the files hold one median a round: of the iteration's
    wall time (``host-<index>.json``) and of its thread's CPU time (``cpu-<index>.json``); the faults file one median
    over every round's kept iterations."""
    torch.set_num_threads(1)
    prepare, once = _host_workload(workload)
    window, margin = host_window(workload)
    for _ in range(3):
        prepare()
        once()
    (folder / f"ready-{index}").touch()
    results: dict[int, list[float]] = {}
    cpu_results: dict[int, list[float]] = {}
    fault_counts: dict[int, list[float]] = {}  # minor page faults of every kept iteration
    for position, k in enumerate(stages):
        go = folder / f"go-{position}"
        _wait_for(go, 600)
        start = float(go.read_text(encoding="utf-8"))  # wall-clock start, shared by every process
        while time.time() < start:
            time.sleep(0.001)
        if index < k:
            kept, cpu, faults = [], [], []
            while time.time() < start + window:
                prepare()
                f0, c0, t0 = _minor_faults(), time.thread_time(), time.time()
                once()
                t1, c1, f1 = time.time(), time.thread_time(), _minor_faults()
                if t0 >= start + margin and t1 <= start + window - margin:
                    kept.append(t1 - t0)
                    cpu.append(c1 - c0)
                    faults.append(f1 - f0)
            results.setdefault(k, []).append(statistics.median(kept) if kept else math.inf)
            cpu_results.setdefault(k, []).append(statistics.median(cpu) if cpu else math.inf)
            fault_counts.setdefault(k, []).extend(faults)
        (folder / f"done-{position}-{index}").touch()
    (folder / f"host-{index}.json").write_text(json.dumps(results), encoding="utf-8")
    (folder / f"cpu-{index}.json").write_text(json.dumps(cpu_results), encoding="utf-8")
    medians = {k: float(statistics.median(f)) if f else 0.0 for k, f in fault_counts.items()}
    (folder / f"faults-{index}.json").write_text(json.dumps(medians), encoding="utf-8")


HOST_ROUNDS = 3
"""Rounds of the compute workload's sweep over k (1, 2, 3, 4, 6, 8, then again), each k's slowdown the median
over rounds of that round's ratio to its own k = 1 (:func:`host_slowdowns`). One sweep's ε moved 0.021 / 0.048 /
0.033 in three calibrations of stop 48 within 40 minutes (0.020–0.069 over the 13 calibrations of stops 44–48),
and the compute's priced mean with it (+5.9 / −7.4 / +0.4 %), while the same runs' own CPU per sample grew with
the ranks as 1 + (0.048–0.058)(k − 1) in every repeat (stop 49, ``benchmarks/compute_share.py``): the host did not
change between the calibrations, one 1 s window per k did. The optimizer's sweep (4 s windows) stays one round."""


def measure_host(
    processes: Sequence[int],
    work_dir: Path,
    timeout_s: float = 600.0,
    workload: str = "compute",
    rounds: int | None = None,
) -> dict[int, float]:
    """Slowdown of one process's work while k processes work at once (k in ``processes``), relative to alone.

    ``workload``: ``compute`` (a DDP-wrapped MLP micro-batch: GEMMs, bound by the cores) or
    ``optimizer`` (an Adam step as training takes it, :func:`adam_training_step`: fresh gradients and cold
    caches before each timed step, untimed; bound by memory bandwidth).

    ``max(processes)`` single-thread processes start (and import torch) once; for each k a
    start barrier (a file holding a common start time) releases the first k together, the
    others stay idle; each computes for a fixed window and keeps the iterations run while all
    k were busy (:func:`host_window`). The slowdown is the median over the k of each one's
    median iteration time, over k = 1's. The sweep over k runs ``rounds`` times (default :data:`HOST_ROUNDS` for
    ``compute``, 1 for ``optimizer``), interleaved, and each k's slowdown is the median over rounds
    (:func:`host_slowdowns`).
    """
    if rounds is None:
        rounds = HOST_ROUNDS if workload == "compute" else 1
    stages = sorted(set(processes) | {1}) * max(1, rounds)
    folder = work_dir / f"host-{workload}"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(HEAP_KEPT_ENV if workload == "optimizer" else {})}
    count = max(stages)
    command = [sys.executable, "-m", "runtime.calibrate", "host", str(folder), ",".join(map(str, stages)), workload]
    procs = [subprocess.Popen([*command, str(i)], env=env) for i in range(count)]
    try:
        for i in range(count):
            _wait_for(folder / f"ready-{i}", timeout_s)
        for position in range(len(stages)):
            tmp = folder / f"go-{position}.tmp"
            tmp.write_text(repr(time.time() + 0.3), encoding="utf-8")
            tmp.replace(folder / f"go-{position}")
            for i in range(count):
                _wait_for(folder / f"done-{position}-{i}", timeout_s)
        for proc in procs:
            if proc.wait(timeout=timeout_s) != 0:
                raise RuntimeError(f"host calibration worker exited with status {proc.returncode}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return host_slowdowns(folder)[0]


def _rounds(value: float | Sequence[float]) -> list[float]:
    """One per-process entry of :func:`measure_host`'s files as its per-round medians (a number: one round)."""
    if isinstance(value, Sequence):
        return [float(v) for v in value]
    return [float(value)]


def _round_ratios(per: Sequence[Mapping[str, Any]]) -> tuple[dict[int, float], dict[int, float]]:
    """Per k, the median over rounds of (median over the k processes of their round's value) and of (the largest
    of them), each over the same round's k = 1 (so a drift of the host between rounds cancels)."""
    stages = sorted(int(k) for k in per[0])
    rounds = min(len(_rounds(r[str(k)])) for k in stages for r in per[:k])
    median: dict[int, float] = {}
    slowest: dict[int, float] = {}
    for k in stages:
        ratios, worst = [], []
        for j in range(rounds):
            alone = _rounds(per[0]["1"])[j]
            values = [_rounds(r[str(k)])[j] for r in per[:k]]
            ratios.append(statistics.median(values) / alone)
            worst.append(max(values) / alone)
        median[k], slowest[k] = statistics.median(ratios), statistics.median(worst)
    return median, slowest


def host_slowdowns(folder: Path) -> tuple[dict[int, float], dict[int, float]]:
    """From :func:`measure_host`'s per-process files: per k, the median over the k processes of each one's median
    iteration time, and the largest of them (the slowest process: the estimator of :mod:`runtime.measure`'s
    critical rank), both over k = 1's; with several rounds, each round over its own k = 1 and the median over
    rounds (:data:`HOST_ROUNDS`)."""
    return _round_ratios(_host_files(folder))


def host_cpu_inflation(folder: Path) -> dict[int, float]:
    """Per k, the median over the k processes of their thread's CPU time an iteration over k = 1's (median over
    rounds, as :func:`host_slowdowns`): the work each process's iteration grows by beside k − 1 others (caches,
    memory, context switches), without the waiting for a core the slowdown also holds. Empty where the workers did
    not record it. Recorded (``meta.host_cpu_inflation``), not priced: what a training rank's
    ``per_rank_compute_cpu_s`` is compared with (``benchmarks/compute_share.py``)."""
    per = _host_files(folder, "cpu")
    return _round_ratios(per)[0] if per else {}


def _host_files(folder: Path, kind: str = "host") -> list[dict[str, Any]]:
    """:func:`measure_host`'s per-process files, in process order: ``{k: median iteration time}`` each, a list of one
    a round (``kind`` ``cpu``: of the thread's CPU time; ``faults``: ``{k: median minor page faults per
    iteration}``)."""
    files = sorted(folder.glob(f"{kind}-*.json"), key=lambda f: int(f.stem.split("-")[1]))
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def optimizer_sharing_meta(sharing: HostModel) -> dict[str, float]:
    """What a profile's ``meta.host_optimizer_fit`` records of :func:`fit_host` on the optimizer's slowdowns: the C
    and ε it found and its residual (recorded, not priced nor held to the limit: the engines price ``max(1, k/C)``,
    :func:`dpsim.calibration.sharing_residual`)."""
    return {"cores": sharing.cores, "efficiency_loss": sharing.efficiency_loss, "residual": sharing.residual}


def host_faults(folder: Path) -> dict[int, float]:
    """Per k, the most minor page faults per iteration (each process's median) of the k processes of
    :func:`measure_host` (``faults-*.json``; empty where the workers did not record them)."""
    per = _host_files(folder, "faults")
    stages = sorted(int(k) for k in per[0]) if per else []
    return {k: max(float(r[str(k)]) for r in per[:k]) for k in stages}


def _per_process(folder: Path) -> str:
    """Each process's median iteration time over k = 1's median, per k, from :func:`measure_host`'s files."""
    per = _host_files(folder)
    if not per or "1" not in per[0]:
        return "not recorded"
    alone = statistics.median(_rounds(per[0]["1"]))
    stages = sorted(int(k) for k in per[0])
    return "; ".join(f"{k}: " + " ".join(f"{statistics.median(_rounds(r[str(k)])) / alone:.2f}" for r in per[:k]
                                         if str(k) in r) for k in stages)  # fmt: skip


def measure_compute_concurrent(
    scenario: Scenario, micro_batches: Sequence[int], workers: int, work_dir: Path, timeout_s: float = 300.0
) -> tuple[LinearTime, LinearTime, LinearTime]:
    """Forward, backward and optimizer fits of the scenario's model, alone (``workers`` is kept for compatibility).

    Co-located ranks are accounted for by the host model (:func:`calibrate_host`), not by
    timing each configuration's rank count.
    """
    del workers, work_dir, timeout_s
    fwd, bwd = measure_compute(scenario, micro_batches)
    return fwd, bwd, measure_optimizer(scenario)


# --- links ---------------------------------------------------------------------------------------


def run_bench(
    ranks: int, per_node: int, testbed: Testbed, plan: CalibrationPlan, run_dir: Path, busy: bool = False
) -> list[dict[str, Any]]:
    """Run the collective microbenchmarks with ``ranks`` ranks; return rank 0's records.

    ``busy``: gloo's all-reduce is also timed while every rank computes (:func:`runtime.bench.time_busy_all_reduce`).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "bench.jsonl").unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "runtime.bench", "--worker", "--run-dir", str(run_dir),
        "--collectives", ",".join(plan.collectives), "--algorithms", ",".join(plan.algorithms),
        "--sizes", ",".join(str(s) for s in plan.sizes), "--reps", str(plan.reps), "--warmup", str(plan.warmup),
        "--per-node", str(per_node), "--max-reps", str(max(plan.reps, plan.max_reps)),
        "--budget-s", str(plan.point_budget_s), *(["--busy"] if busy else []),
    ]  # fmt: skip
    spawn_ranks(ranks, command, testbed, run_dir, workers_per_node=per_node, timeout_s=plan.timeout_s)
    lines = (run_dir / "bench.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _testbed(kind: str, nodes: int, per_node: int, rate: float, tcp_cc: str = "") -> Testbed:
    if kind == "emulated":
        from runtime.testbed.emulated import EmulatedCluster

        return EmulatedCluster(nodes=nodes, per_node=per_node, rate=rate, tcp_cc=tcp_cc)
    return LocalTestbed()


def fit_link_records(
    records: Sequence[dict[str, Any]],
    large_message_bytes: Callable[[str], float] = lambda link_class: 256.0 * 1024,
    share: Callable[[int], float] | None = None,
    host_per_byte: Mapping[float, float] | None = None,
) -> tuple[dict[str, dict[str, Link]], dict[str, float]]:
    """α–β per (link class, algorithm) from benchmark records (all-reduce ones), and each fit's worst error.

    Records carry ``rate_bytes_per_s`` when the link was shaped (None or absent: unshaped);
    ``large_message_bytes(link class)`` is the per-step message from which a sample fixes
    the bandwidth (:func:`dpsim.calibration.fit_link_model`). ``host_per_byte`` (κ per shaped rate,
    :func:`host_per_byte_by_rate`) fixes the host term of the shaped (inter-node) links.
    """
    all_reduce = [r for r in records if r["collective"] == "all_reduce"]
    links: dict[str, dict[str, Link]] = {}
    errors: dict[str, float] = {}
    for (link_class, algorithm), group in samples_by_link(
        CollectiveSample(r["algorithm"], r["ranks"], r["size_bytes"], r["time_s"], r["link_class"]) for r in all_reduce
    ).items():
        rates = [r.get("rate_bytes_per_s") for r in all_reduce
                 if r["link_class"] == link_class and r["algorithm"] == algorithm]  # fmt: skip
        if algorithm == "hierarchical":  # combines two links: not a flat closed form
            continue
        keep = [i for i, s in enumerate(group) if _described(algorithm, s.ranks)]
        if keep:  # fit on the rank counts the closed form describes, when there are any
            group, rates = [group[i] for i in keep], [rates[i] for i in keep]
        try:
            fit = fit_link_model(group, rates, large_message_bytes=large_message_bytes(link_class), share=share,
                                 host_per_byte=host_per_byte if link_class == "inter" else None)  # fmt: skip
        except CalibrationError:  # no α–β link explains these times: reported as an infinite residual
            errors[f"links.{link_class}.{algorithm}"] = math.inf
            continue
        links.setdefault(link_class, {})[algorithm] = fit
        errors[f"links.{link_class}.{algorithm}"] = fit.residual
    return links, errors


INTRA_LARGE_BYTES = float(MiB)
"""Per-step message from which an intra-node sample fixes the bandwidth on a shared host (see ``intra_sizes``)."""


def _described(algorithm: str, ranks: int) -> bool:
    """Whether the closed form describes ``algorithm`` on ``ranks`` ranks as every rank loading the host alike.

    Halving–doubling on powers of two only: otherwise the extra ranks fold in and out while the
    others wait. The double binary tree from 3 ranks on: with 2 each tree is one edge moving S/B,
    not the form's 2·S/B.
    """
    if algorithm == "halving-doubling":
        return ranks & (ranks - 1) == 0
    return algorithm != "tree" or ranks > 2


KAPPA_MAX_UNCERTAINTY = 0.10
"""A benchmark point counts towards κ only if its median is uncertain by at most this much
(:func:`runtime.bench.median_uncertainty`; the benchmark repeats a point until 3 %, within its budget).

The host's busy time is host-wide (:func:`runtime.bench.host_busy_s`), so repetitions that shared the
cores with other work count that work as the collective's. Such repetitions scatter: in the 2026-12-05
calibration the 4-rank halving–doubling and gloo's own 8 MiB all-reduces at 1200 Mbit/s took 0.24–1.16 s
(uncertain by 35 and 72 %) and carried 18–21 ns of busy time per byte, against 9–12 for every settled point
at that rate, which lifted κ from 11.2 to 12.9 ns."""


def _settled(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points whose median is uncertain by at most :data:`KAPPA_MAX_UNCERTAINTY`; all of them if none is."""
    kept = [r for r in points if r.get("median_uncertainty", 0.0) <= KAPPA_MAX_UNCERTAINTY]
    return kept or list(points)


def _kappa_points(records: Sequence[dict[str, Any]], min_bytes: float, need: str) -> dict[float, list[dict[str, Any]]]:
    """Per shaped rate, the large inter-node all-reduces κ is measured on that carry ``need``: every algorithm
    whose closed form describes its rank count, at least ``min_bytes``, settled (:func:`_settled`) per rate."""
    by_rate: dict[float, list[dict[str, Any]]] = {}
    for r in records:
        rate = r.get("rate_bytes_per_s")
        if (r["collective"] != "all_reduce" or r["link_class"] != "inter" or rate is None or r["size_bytes"] < min_bytes
                or r.get(need) is None or r["algorithm"] not in FIT_ALGORITHMS
                or not _described(r["algorithm"], r["ranks"])):  # fmt: skip
            continue
        by_rate.setdefault(rate, []).append(r)
    return {rate: _settled(points) for rate, points in by_rate.items()}


def _sent(r: dict[str, Any]) -> float:
    """Bytes all ranks of all-reduce record ``r`` send: ranks × the closed form's bandwidth coefficient."""
    return r["ranks"] * closed_form_coefficients(r["algorithm"], r["ranks"], r["size_bytes"])[1]


def host_per_byte_by_rate(records: Sequence[dict[str, Any]], min_bytes: float = MiB) -> dict[float, float]:
    """κ per shaped rate: the host's busy CPU seconds per byte a rank sends, over the large inter-node all-reduces.

    Σ busy / Σ (ranks · bytes each sends) over every algorithm's all-reduces of at least
    ``min_bytes`` at that rate whose median settled (:data:`KAPPA_MAX_UNCERTAINTY`; a ratio of sums:
    ``/proc/stat`` counts in 10 ms ticks). The host's work per byte is the testbed's, not an
    algorithm's: on the 2-core VM 15–17 ns at 150 and 450 Mbit/s and 9–10 ns at 1200 Mbit/s for
    ring, gloo's own, tree and halving–doubling alike.
    """
    out: dict[float, float] = {}
    for rate, points in _kappa_points(records, min_bytes, "host_busy_s").items():
        busy, sent = sum(r["host_busy_s"] for r in points), sum(_sent(r) for r in points)
        if busy > 0 and sent > 0:
            out[rate] = busy / sent
    return out


def host_work_per_byte(records: Sequence[dict[str, Any]], min_bytes: float = MiB) -> dict[float, float]:
    """κ for every shaped rate: the host's busy CPU per byte a rank sends at the highest calibrated rate.

    The host's work per byte is the testbed's, not the shaper's. Busy time also counts the ranks
    waiting on the shaped wire (gloo's and the TCP stack's polling): on the 2-core VM the host was
    77–93 % busy at every rate, 2 ranks at 150 Mbit/s included, so busy time per byte grows as 1/R
    wherever the wire binds (27, 10 and 7.3 ns per byte at 150, 450 and 1200 Mbit/s). Only where
    the host binds — the highest rate, whose 3 and 4 rank all-reduces run at the host's pace — is
    it the work. Taken per rate, the polling made 5 ranks at 500 Mbit/s host-bound at 25 ns per
    byte where they ran at 21 (+16 % on the step).

    Stop 40 read it again (README, issue 10, "Gloo's all-reduce price from source"): gloo's TCP pairs do
    not poll (``busyPoll_(false)``), and where the cores are saturated the busy time per byte still
    follows the rate (4 ranks at 450 Mbit/s 11.7–18.3 ns with 1.75–1.95 cores busy, at 1200 7.9–10.3;
    emu's grid, 8 ranks: 14.0 ns at 500, 16.7 at 700, 8.7 at 1000): it is the kernel's softirq work per
    MTU packet, which depends on the shaped rate, not polling. Taking it per rate was tried and not
    landed (it helps the newest sessions and costs the older ones).
    """
    by_rate = host_per_byte_by_rate(records, min_bytes)
    if not by_rate:
        return {}
    top = by_rate[max(by_rate)]
    return {rate: top for rate in by_rate}


def fit_links(
    records: Sequence[dict[str, Any]], plan: CalibrationPlan, testbed: str, share: Callable[[int], float]
) -> tuple[dict[str, dict[str, Link]], dict[str, float]]:
    """The links of a profile from its benchmark records, with ``share`` the host's :meth:`HostModel.comm_share`.

    The emulated testbed's inter-node links take κ(R), the host's work per byte a rank sends at each
    calibrated rate, from the same table the backward's overlap window charges
    (:func:`host_window_per_byte`: the ranks' own CPU per byte at that rate, read per process, plus the
    kernel's part from the highest rate); records without the ranks' CPU, the host's busy time at the
    highest rate for every rate (:func:`host_work_per_byte`). The work per byte grows as the shaped rate
    falls: one tbf-shaped TCP flow between two namespaces costs its receiver, sender and softirq
    9.4–10.2 ns per byte at 1200 Mbit/s, 11.5–12.4 at 1000 and 25–30 at 450 (``benchmarks/results/
    validation-2026-12-05-b/kappa_probe*``), while host-wide busy time at the low rates also counts
    whatever else ran (a full core of another process in that probe).
    """
    all_reduce = [r for r in records if r["collective"] == "all_reduce"]
    kappa = (host_window_per_byte(all_reduce) or host_work_per_byte(all_reduce)) if testbed == "emulated" else {}
    return fit_link_records(
        records, lambda link_class: _large_message_bytes(testbed, link_class, plan.rates, records), share, kappa or None
    )


def link_point_errors(
    records: Sequence[dict[str, Any]], links: Mapping[str, Mapping[str, Link]], plan: CalibrationPlan, testbed: str,
    share: Callable[[int], float],
) -> list[tuple[dict[str, Any], float]]:  # fmt: skip
    """(record, relative error (predicted − measured)/measured) of ``links`` over the large all-reduce records they
    were fitted on (the bandwidth samples of :func:`fit_link_records`), with the host share ``share(ranks)``."""
    out = []
    for r in records:
        if (
            r["collective"] != "all_reduce"
            or r["algorithm"] == "hierarchical"
            or not _described(r["algorithm"], r["ranks"])
        ):
            continue
        link = links.get(r["link_class"], {}).get(r["algorithm"])
        if not isinstance(link, LinkModel):
            continue
        a, b = closed_form_coefficients(r["algorithm"], r["ranks"], r["size_bytes"])
        if b / max(a, 1.0) < _large_message_bytes(testbed, r["link_class"], plan.rates, records):
            continue
        s = share(r["ranks"]) if link.sharpness is not None else 1.0  # an older link shape has no host share
        predicted = a * link.latency_s * s + b * link.per_byte_s(r.get("rate_bytes_per_s"), s)
        out.append((r, (predicted - r["time_s"]) / r["time_s"]))
    return out


def worst_link_points(
    records: Sequence[dict[str, Any]], links: Mapping[str, Mapping[str, Link]], plan: CalibrationPlan, testbed: str,
    share: Callable[[int], float],
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Per link fit (``links.<class>.<algorithm>``), the bandwidth point its residual is taken at: rank count, size,
    shaped rate, the relative error there and that point's median uncertainty (``meta.fit_worst_points``, read by
    :func:`dpsim.calibration.check_residuals` to say whether the residual is the benchmark's scatter or the form's),
    and the fit's residual beyond its points' own scatter (:data:`dpsim.calibration.BEYOND_SCATTER`: the largest
    ``|error| − median_uncertainty`` over its points, at least 0), which that check holds to its limit."""
    out: dict[str, dict[str, Any]] = {}
    beyond: dict[str, float] = {}
    for r, error in link_point_errors(records, links, plan, testbed, share):
        name = f"links.{r['link_class']}.{r['algorithm']}"
        uncertainty = float(r.get("median_uncertainty", 0.0))
        beyond[name] = max(beyond.get(name, 0.0), abs(float(error)) - uncertainty)
        if name not in out or abs(error) > abs(out[name]["error"]):
            rate = r.get("rate_bytes_per_s")
            out[name] = {"ranks": int(r["ranks"]), "size_bytes": float(r["size_bytes"]),
                         "rate_bytes_per_s": float(rate) if rate is not None else None, "error": float(error),
                         "median_uncertainty": uncertainty}  # fmt: skip
    for name, point in out.items():
        point[BEYOND_SCATTER] = beyond[name]
    return out


def _large_message_bytes(
    testbed: str, link_class: str, rates: Sequence[float], records: Sequence[Mapping[str, Any]] = ()
) -> float:
    """Per-step message size from which a sample counts for the bandwidth: 16 shaper bursts, else 1 MiB on the
    emulated testbed's loopback, or 256 KiB. The burst is the one the ``records`` were measured with
    (``tbf_burst_bytes``, recorded since stop 41's 72 KiB floor); records without it had the older burst, so a
    stored calibration is fitted again on the points it was fitted on."""
    if testbed == "emulated" and link_class == "inter":
        measured = [float(r["tbf_burst_bytes"]) for r in records if r.get("tbf_burst_bytes") is not None]
        if measured:
            return 16.0 * max(measured)
        return 16.0 * max(burst_bytes(r, floor=LEGACY_BURST_FLOOR_BYTES) for r in rates)
    if testbed in ("emulated", "local") and link_class == "intra":
        return INTRA_LARGE_BYTES
    return 256.0 * 1024


def calibrate_links(
    scenario: Scenario,
    plan: CalibrationPlan,
    testbed: str = "local",
    *,
    work_dir: Path,
    log: Callable[[str], None],
    bench: Callable[[int, int, Testbed, CalibrationPlan, Path], list[dict[str, Any]]] | None = None,
) -> tuple[HardwareProfile, list[dict[str, Any]]]:
    """Collective microbenchmarks per link class, rank count and (emulated) shaped rate; α–β fits per algorithm."""
    del scenario
    share = HostModel(float(host_cores())).comm_share  # processor sharing: max(1, n/C)
    records: list[dict[str, Any]] = []
    latencies: list[float] = []
    controls: set[str] = set()  # the emulated nodes' TCP congestion control, as each cluster's socket read it
    for link_class in plan.link_classes:
        shaped = testbed == "emulated" and link_class == "inter"
        for rate in plan.rates if shaped else [None]:
            for n in plan.ranks:
                nodes, per_node = (n, 1) if link_class == "inter" else (1, n)
                where = f" at {rate * 8 / 1e6:g} Mbit/s" if rate else ""
                log(f"calibrate: {link_class} link, {n} ranks on the {testbed} testbed{where}")
                name = f"{link_class}-{n}" + (f"-{rate * 8 / 1e6:g}mbit" if rate else "")
                sized = plan if link_class == "inter" else dataclasses.replace(plan, sizes=plan.intra_sizes)
                with _testbed(testbed, nodes, per_node, rate or plan.rates[0], plan.tcp_cc) as tb:
                    if tb.measured_latency_s is not None:
                        latencies.append(tb.measured_latency_s)
                    if "tcp_congestion_control" in tb.info:
                        controls.add(str(tb.info["tcp_congestion_control"]))
                    for rec in (bench or run_bench)(n, per_node, tb, sized, work_dir / name):
                        rec.update(link_class=link_class, rate_bytes_per_s=rate)
                        if shaped:  # the bandwidth samples are those of >= 16 of these bursts a step
                            rec["tbf_burst_bytes"] = int(getattr(tb, "burst_bytes", 0)) or None
                        rec["busbw_bytes_per_s"] = bus_bandwidth(rec["size_bytes"], rec["time_s"], n, rec["collective"])
                        records.append(rec)
    all_reduce = [r for r in records if r["collective"] == "all_reduce"]
    links, fit_errors = fit_links(records, plan, testbed, share)
    labels = tuple(
        f"{c}: {n} ranks, all-reduce {min(plan.sizes if c == 'inter' else plan.intra_sizes)}-"
        f"{max(plan.sizes if c == 'inter' else plan.intra_sizes)} B"
        + (f" at {', '.join(f'{r * 8 / 1e6:g}' for r in plan.rates)} Mbit/s" if testbed == "emulated" and c == "inter"
           else "")
        for c in plan.link_classes
        for n in plan.ranks
    )  # fmt: skip
    profile = HardwareProfile(
        name="testbed",
        backend="gloo",
        host=platform.node(),
        links=links,
        reduction_bandwidth=measure_reduction(),
        calibrated_on=labels,
        meta={
            "torch_version": str(torch.__version__),
            "testbed": testbed,
            "link_rates_bytes_per_s": list(plan.rates) if testbed == "emulated" else None,
            "measured_latency_s": statistics.median(latencies) if latencies else None,
            "tcp_congestion_control": ",".join(sorted(controls)) or None,
            "comm_cpu_per_byte_s": _comm_cpu_per_byte(all_reduce, testbed),
            "comm_cpu_per_byte_by_rate_s": sorted([r, k] for r, k in host_window_per_byte(all_reduce).items()),
            "host_busy_per_byte_s": {
                f"{8e-6 * rate:g} Mbit/s": value for rate, value in sorted(host_per_byte_by_rate(all_reduce).items())
            },
            "benchmark_uncertainty": _uncertainty(all_reduce),
            "fit_residuals": {k: v for k, v in fit_errors.items() if math.isinf(v)},  # fits that failed
            **plan.extra,
        },
    )
    return profile, records


def _uncertainty(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Median and largest relative 95 % half width of the benchmarked medians, per link class (the profile's spread)."""
    out: dict[str, float] = {}
    for link_class in LINK_CLASSES:
        values = [r.get("median_uncertainty", math.inf) for r in records if r["link_class"] == link_class]
        values = [v for v in values if math.isfinite(v)]
        if values:
            out[f"{link_class}_median"] = float(statistics.median(values))
            out[f"{link_class}_largest"] = float(max(values))
    return out


def host_window_per_byte(records: Sequence[dict[str, Any]], min_bytes: float = MiB) -> dict[float, float]:
    """κ(R) of the backward's overlap window: the host's CPU *work* per byte a rank sends at each shaped rate.

    The window shares the cores between the backward and the communication's work, and a rank
    waiting on the shaped wire takes no core: gloo's TCP pairs neither run synchronously nor
    busy-poll by default (``sync_(false)``, ``busyPoll_(false)`` in ``gloo/transport/tcp/pair.cc``)
    and a waiting thread sleeps on a condition variable (``UnboundBuffer::waitRecv``). So κ(R) is
    the ranks' own CPU per byte at that rate (``cpu_s``: every thread of the rank, user and
    system; Σ ranks·cpu / Σ ranks·bytes sent over the large all-reduces, as
    :func:`host_per_byte_by_rate`) plus the kernel's network work done outside the ranks (softirq),
    taken as the same per byte at every rate: the host's busy time per byte minus the ranks' CPU
    at the highest rate, where the host binds (:func:`host_work_per_byte`) — so at that rate κ is
    the links' κ. The ranks' CPU per byte grows as the rate falls (10.7, 7.2 and 4.3 ns at 150,
    450 and 1200 Mbit/s in the last profile); the busy time beyond it at the low rates (24.7 and
    14.2 ns host-wide) is not the ranks'.
    """
    busy = host_per_byte_by_rate(records, min_bytes)
    ranks: dict[float, float] = {}
    for rate, points in _kappa_points(records, min_bytes, "cpu_s").items():
        sent = sum(_sent(r) for r in points)
        if sent > 0:
            ranks[rate] = sum(r["ranks"] * r["cpu_s"] for r in points) / sent
    if not busy or not ranks or max(busy) not in ranks:
        return {}
    top = max(busy)
    kernel = max(0.0, busy[top] - ranks[top])
    return {rate: ranks[rate] + kernel for rate in sorted(ranks)}


def _comm_cpu_per_byte(records: Sequence[dict[str, Any]], testbed: str = "local") -> float:
    """κ of the host model where no per-rate table applies (:func:`host_window_per_byte`).

    On the emulated testbed the links' κ (:func:`host_work_per_byte`: the host's busy time per byte
    where it binds, the highest rate); elsewhere the median over the large backend/ring
    all-reduces across nodes of the host's busy time per byte when measured (``host_busy_s``),
    else the ranks' own CPU time.
    """
    if testbed == "emulated":
        kappa = host_work_per_byte(records)
        if kappa:
            return float(max(kappa.values()))
    values = []
    for r in records:
        if r["link_class"] != "inter" or r["algorithm"] not in ("backend", "ring") or "cpu_s" not in r:
            continue
        sent = closed_form_coefficients("ring", r["ranks"], r["size_bytes"])[1]
        if r["size_bytes"] >= MiB and sent > 0:
            busy = r.get("host_busy_s")
            values.append(busy / (r["ranks"] * sent) if busy is not None else r["cpu_s"] / sent)
    return float(statistics.median(values)) if values else 0.0


def host_cores() -> int:
    """Cores this process may run on (the ranks' share of the host)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def calibrate_compute_curve(plan: CalibrationPlan, *, work_dir: Path, log: Callable[[str], None]) -> ComputeCurve:
    """The time-per-FLOP curve, measured in a fresh single-thread process (alone on the host)."""
    log(f"calibrate: compute curve, MLP {plan.curve_layers} layers × hidden {list(plan.curve_hiddens)}, "
        f"micro-batches {list(plan.curve_micro_batches)} (DDP-wrapped, one process, one thread, median of "
        f"{CURVE_ROUNDS} interleaved rounds)")  # fmt: skip
    work_dir.mkdir(parents=True, exist_ok=True)
    out = work_dir / "curve.json"
    command = [sys.executable, "-m", "runtime.calibrate", "curve", str(out), ",".join(map(str, plan.curve_hiddens)),
               ",".join(map(str, plan.curve_micro_batches)), str(plan.curve_layers)]  # fmt: skip
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=plan.timeout_s)
    data = json.loads(out.read_text(encoding="utf-8"))
    return ComputeCurve(tuple(ComputePoint(**d) for d in data))


HOST_OTHER_CORES = 0.25
"""Other work on the host (:func:`runtime.hostload.host_load`'s ``other_cores``) above which :func:`calibrate_host`
measures again: a quiet host shows 0.1–0.2 (the launcher, kernel threads)."""
HOST_ATTEMPTS = 3
"""Host measurements :func:`calibrate_host` makes at most before keeping the least disturbed one."""


def calibrate_host(
    plan: CalibrationPlan,
    *,
    work_dir: Path,
    log: Callable[[str], None],
    workload: str = "compute",
    measure: Callable[[Sequence[int], Path, float, str], dict[int, float]] | None = None,
) -> tuple[dict[int, float], dict[int, float]]:
    """:func:`measure_host`, measured again (up to :data:`HOST_ATTEMPTS` times) while other processes used more
    than :data:`HOST_OTHER_CORES` cores over it; the least disturbed measurement is kept.

    The slowdown is a ratio of iteration times of processes sharing the cores, so anything else running counts
    as theirs: in the 2026-12-05-b calibration 2 processes measured 2.34 × one alone on 2 cores (host fit
    residual 55 %), while other sessions' tests ran.

    Returns the median slowdown over the k processes and the slowest one's (:func:`host_slowdowns`), per k, of
    the measurement kept (``measure`` given, a stand-in: its slowdowns for both).
    """
    doing = "computing" if workload == "compute" else "stepping an Adam optimizer"
    log(f"calibrate: host, {list(plan.host_processes)} processes {doing} at once (start barrier)")
    best: tuple[float, tuple[dict[int, float], dict[int, float]]] | None = None
    for attempt in range(1, HOST_ATTEMPTS + 1):
        before = snapshot()
        if measure is None:
            measure_host(plan.host_processes, work_dir, plan.timeout_s, workload)
            measured = host_slowdowns(work_dir / f"host-{workload}")
        else:
            one = measure(plan.host_processes, work_dir, plan.timeout_s, workload)
            measured = (one, one)
        other = host_load(before, snapshot())["other_cores"]
        if measure is None:
            log(f"calibrate: host ({workload}), each process's slowdown: {_per_process(work_dir / f'host-{workload}')}")
            inflation = host_cpu_inflation(work_dir / f"host-{workload}")
            log(f"calibrate: host ({workload}), CPU time an iteration over alone (median process): "
                + "; ".join(f"{k}: {v:.3f}" for k, v in inflation.items()))  # fmt: skip
            faults = host_faults(work_dir / f"host-{workload}")
            log(f"calibrate: host ({workload}), most page faults per iteration of a process: "
                + "; ".join(f"{k}: {v:g}" for k, v in faults.items()))  # fmt: skip
        if other is None or other <= HOST_OTHER_CORES:
            return measured
        if best is None or other < best[0]:
            best = (other, measured)
        log(f"calibrate: host measurement {attempt} beside {other:.2f} cores of other work "
            f"(limit {HOST_OTHER_CORES}): " + ("measuring again" if attempt < HOST_ATTEMPTS else
                                               f"keeping the least disturbed ({best[0]:.2f} cores)"))  # fmt: skip
    assert best is not None
    return best[1]


def _host_sweeps(
    plan: CalibrationPlan, *, work_dir: Path, log: Callable[[str], None]
) -> tuple[dict[int, float], dict[int, float], dict[int, float], dict[int, float]]:
    """The host's two sweeps (:func:`calibrate_host`): the compute workload's median and slowest slowdowns per k, then
    the optimizer workload's, measured under ``work_dir``."""
    measured, slowest = calibrate_host(plan, work_dir=work_dir, log=log)
    memory, memory_slowest = calibrate_host(plan, work_dir=work_dir, log=log, workload="optimizer")
    return measured, slowest, memory, memory_slowest


def _host_parts(
    host: HostModel, sweeps: Sequence[dict[int, float]], page_fault: float, cores: int, work_dir: Path
) -> tuple[HostModel, dict[str, Any]]:
    """``host`` with the sweeps' measurements and the fits made on them (:func:`fit_host` of the compute sweep, the
    optimizer's memory streams and residual) and the page fault's cost; and the profile's ``meta`` entries that
    record the sweeps (read from their files under ``work_dir``)."""
    measured, slowest, memory, memory_slowest = sweeps
    fitted = fit_host(measured, max_cores=cores)
    sharing = fit_host(memory, max_cores=cores)  # recorded (meta.host_optimizer_fit), not priced
    host = dataclasses.replace(
        host,
        cores=fitted.cores,
        efficiency_loss=fitted.efficiency_loss,
        residual=fitted.residual,
        memory_streams=fit_memory_streams(memory, max_streams=fitted.cores)[0],
        measured=fitted.measured,
        optimizer_measured=memory,
        measured_slowest=slowest,
        optimizer_measured_slowest=memory_slowest,
        optimizer_residual=sharing_residual(memory, fitted.cores),  # what the engines price, held to the limit
        page_fault_s=page_fault,
    )
    meta = {
        "host_optimizer_fit": optimizer_sharing_meta(sharing),
        "host_cpu_inflation": {str(k): v for k, v in host_cpu_inflation(work_dir / "host-compute").items()},
        "host_optimizer_faults_per_step": {
            str(k): v for k, v in host_faults(work_dir / "host-optimizer").items()
        },
    }  # fmt: skip
    return host, meta


@dataclass(frozen=True)
class ModelParts:
    """What :func:`calibrate_compute` times of the scenario's own model and optimizer, alone."""

    forward: LinearTime
    backward: LinearTime
    optimizer: LinearTime
    optimizer_residual: float
    optimizer_curve: tuple[tuple[int, float], ...]
    cache_bytes: int | None
    cold_bytes: int
    step_overhead: StepOverhead | None = None
    optimizer_samples: dict[int, list[float]] = field(default_factory=dict)
    """The optimizer fit's timed steps by size (``meta.optimizer_fit_samples``)."""


def _model_parts(
    scenario: Scenario,
    plan: CalibrationPlan,
    page_fault: float,
    log: Callable[[str], None],
    watch: PaceWatch | None = None,
) -> ModelParts:
    """The scenario model's forward and backward fits, the optimizer's cold fit after its idle wait and its warm
    curve on the compute grid's widths (:func:`measure_compute`, :func:`measure_optimizer_fit`,
    :func:`measure_optimizer_curve`); the ``model`` and ``optimizer`` parts of ``watch`` (:func:`_watched`)."""
    log(f"calibrate: scenario model ({scenario.model.kind}) and {scenario.training.optimizer} optimizer, alone")

    def model() -> tuple[LinearTime, LinearTime, StepOverhead]:  # the model's fits and its per-step cost
        forward, backward = measure_compute(scenario, plan.micro_batches, plan.reps, plan.warmup)
        return forward, backward, measure_step_overhead(scenario, plan.micro_batches)

    forward, backward, overhead = _watched(watch, "model", model)
    log(f"calibrate: {overhead.seconds * 1e3:.2f} ms a step after the optimizer's step (median of {overhead.pairs} "
        f"pairs of CPU times {overhead.measured_s * 1e3:+.2f} ms, +-{overhead.half_width_s * 1e3:.2f}; wall "
        f"{overhead.wall_s * 1e3:+.2f} ms)")  # fmt: skip
    cache = last_level_cache_bytes()
    cold = cold_cache_bytes(cache)
    optimizer, residual, curve, samples = _watched(
        watch, "optimizer", lambda: _optimizer_parts(scenario, plan, page_fault, cold, log)
    )
    return ModelParts(forward, backward, optimizer, residual, curve, cache, cold, overhead, samples)


def _watched(watch: PaceWatch | None, part: str, run: Callable[[], T]) -> T:
    """``run()`` as calibration part ``part`` of ``watch`` (bracketed by the reference kernel, timed again while the
    host's pace moved: :meth:`runtime.pace.PaceWatch.part`), or alone without one."""
    return run() if watch is None else watch.part(part, run)


def _optimizer_parts(
    scenario: Scenario, plan: CalibrationPlan, page_fault: float, cold: int, log: Callable[[str], None]
) -> tuple[LinearTime, float, tuple[tuple[int, float], ...], dict[int, list[float]]]:
    """The optimizer's cold fit after its idle wait (evicting ``cold`` bytes before each step) with its residual, its
    warm curve on the compute grid's widths, and the fit's timed steps by size (``meta.optimizer_fit_samples``, which
    :func:`remeasure_optimizer` pools): what :func:`calibrate_compute` and a refresh's ``optimizer`` part
    (:func:`refresh`) time alike."""
    samples: dict[int, list[float]] = {}
    optimizer, residual = fresh_optimizer_fit(scenario, page_fault_s=page_fault, log=log, cold_bytes=cold,
                                              samples=samples, timeout_s=plan.timeout_s)  # fmt: skip
    keep_heap()  # as the in-process fit left it for the curve until stop 55 (the fit now runs in its own process)
    curve = measure_optimizer_curve(scenario, plan.curve_hiddens, plan.curve_layers, page_fault_s=page_fault)
    return optimizer, residual, curve, samples


def _measured_page_fault(log: Callable[[str], None]) -> float:
    page_fault = measure_page_fault()
    log(f"calibrate: {page_fault * 1e6:.2f} us per minor page fault (first touch of freshly mapped memory)")
    return page_fault


def _model_label(scenario: Scenario, plan: CalibrationPlan) -> str:
    return (f"model: {scenario.model.kind} {scenario.model.num_parameters:.0f} parameters, micro-batches "
            f"{','.join(map(str, plan.micro_batches))}")  # fmt: skip


def _curve_label(plan: CalibrationPlan) -> str:
    return (f"compute: MLP {plan.curve_layers} layers, hidden {','.join(map(str, plan.curve_hiddens))}, "
            f"micro-batches {','.join(map(str, plan.curve_micro_batches))}, alone")  # fmt: skip


def calibrate_compute(
    profile: HardwareProfile,
    scenario: Scenario,
    plan: CalibrationPlan,
    *,
    work_dir: Path,
    log: Callable[[str], None],
    watch: PaceWatch | None = None,
) -> HardwareProfile:
    """``profile`` plus the compute curve, the host model, the scenario model's own fit and the optimizer; with
    ``watch``, each its part (``compute``, ``host``, ``model``, ``optimizer``: :func:`_watched`)."""
    curve = _watched(watch, "compute", lambda: calibrate_compute_curve(plan, work_dir=work_dir / "compute", log=log))
    sweeps = _watched(watch, "host", lambda: _host_sweeps(plan, work_dir=work_dir / "compute", log=log))
    cores = host_cores()
    shared = "job" if profile.meta.get("testbed") in ("emulated", "local") else "node"
    window = profile.meta.get("comm_cpu_per_byte_by_rate_s") or ()
    page_fault = _measured_page_fault(log)
    host = HostModel(
        cores=float(cores),
        shared_by=shared,
        comm_cpu_per_byte_s=float(profile.meta.get("comm_cpu_per_byte_s") or 0.0),
        comm_cpu_per_byte_by_rate=tuple((float(r), float(k)) for r, k in window),
    )
    host, host_meta = _host_parts(host, sweeps, page_fault, cores, work_dir / "compute")
    parts = _model_parts(scenario, plan, page_fault, log, watch)
    labels = (
        _curve_label(plan),
        f"host: {','.join(map(str, sorted(sweeps[0])))} processes computing, and stepping Adam, at once",
        _model_label(scenario, plan),
    )
    meta = {
        **profile.meta,
        "model": f"{scenario.model.kind} {scenario.model.num_parameters:.0f} parameters",
        "optimizer_name": scenario.training.optimizer,
        "cores": cores,
        "last_level_cache_bytes": parts.cache_bytes,
        "optimizer_cold_bytes": parts.cold_bytes,
        "optimizer_idle_s": OPTIMIZER_IDLE_S,
        "host_optimizer_fit": host_meta["host_optimizer_fit"],
        "curve_rounds": CURVE_ROUNDS,
        "host_rounds": HOST_ROUNDS,
        "host_cpu_inflation": host_meta["host_cpu_inflation"],
        "host_optimizer_faults_per_step": host_meta["host_optimizer_faults_per_step"],
        **({"step_overhead": parts.step_overhead.meta()} if parts.step_overhead is not None else {}),
        "fit_residuals": {**profile.meta.get("fit_residuals", {}), "optimizer": parts.optimizer_residual},
        "optimizer_fit_samples": parts.optimizer_samples,
        "scenario_hash": scenario.scenario_hash(),
        "plan": {
            "ranks": list(plan.ranks), "sizes": list(plan.sizes), "intra_sizes": list(plan.intra_sizes),
            "algorithms": list(plan.algorithms),
            "link_classes": list(plan.link_classes), "rates_bytes_per_s": list(plan.rates),
            "curve_hiddens": list(plan.curve_hiddens), "curve_micro_batches": list(plan.curve_micro_batches),
            "curve_layers": plan.curve_layers, "host_processes": list(plan.host_processes),
            "micro_batches": list(plan.micro_batches), "reps": plan.reps, "warmup": plan.warmup,
        },
    }  # fmt: skip
    return dataclasses.replace(
        profile,
        forward=parts.forward,
        backward=parts.backward,
        optimizer=parts.optimizer,
        optimizer_curve=parts.optimizer_curve,
        step_overhead_s=parts.step_overhead.seconds if parts.step_overhead is not None else None,
        compute_curve=curve,
        host_model=host,
        calibrated_on=(*profile.calibrated_on, *labels),
        meta=meta,
    )


REMEASURE_ROUNDS = 2
"""Rounds in which the points of a link fit, or the optimizer fit, above the residual limit are measured again before
it is refused."""


def remeasure_optimizer(
    profile: HardwareProfile,
    scenario: Scenario,
    limit: float,
    *,
    log: Callable[[str], None],
    round_index: int = 0,
    rounds: int = REMEASURE_ROUNDS,
) -> HardwareProfile:
    """``profile`` with its optimizer fit measured again (:func:`measure_optimizer_fit`: the same sizes, eviction
    (``meta.optimizer_cold_bytes``) and idle wait, faults at ``host_model.page_fault``) with ``2^(round + 1)`` times
    :data:`OPTIMIZER_REPS` steps a size, as a link fit's bandwidth points are measured again
    (:func:`remeasure_links`), pooled with the earlier rounds' steps (``meta.optimizer_fit_samples``, stop 54): each
    size's median over every step timed, so a few slow ones move it less; the fit over those medians and its residual
    replace the old. A profile without the earlier steps (written before stop 54) pools nothing. Until stop 52 the
    optimizer fit was never measured again and one above the limit refused the profile on its first try (stop 51:
    18.4 %); until stop 54 each round's fit replaced the earlier ones', its steps dropped."""
    scale = 2 ** (round_index + 1)
    residual = profile.residuals()["optimizer"]
    log(f"calibrate: fit residual above {100 * limit:g} %: optimizer {100 * residual:.1f} %; timing its steps again, "
        f"{scale * OPTIMIZER_REPS} a size (round {round_index + 1} of {rounds})")  # fmt: skip
    host = profile.host_model
    cold = profile.meta.get("optimizer_cold_bytes")
    samples = _fit_samples(profile.meta.get("optimizer_fit_samples"))
    fit, residual = fresh_optimizer_fit(
        scenario, reps=scale * OPTIMIZER_REPS, page_fault_s=host.page_fault_s if host is not None else 0.0, log=log,
        cold_bytes=int(cold) if cold is not None else None, samples=samples,
    )  # fmt: skip
    residuals = {**profile.meta.get("fit_residuals", {}), "optimizer": residual}
    meta = {**profile.meta, "fit_residuals": residuals, "optimizer_fit_samples": samples}
    return dataclasses.replace(profile, optimizer=fit, meta=meta)


def _fit_samples(recorded: Any) -> dict[int, list[float]]:
    """``meta.optimizer_fit_samples`` as :func:`measure_optimizer_fit` pools them: {size: [seconds]} (a copy), or
    {} where the profile has none or another shape (a hand-edited or older profile: nothing is pooled)."""
    if not isinstance(recorded, Mapping):
        return {}
    out: dict[int, list[float]] = {}
    for size, times in recorded.items():
        if not (isinstance(times, list) and all(isinstance(t, (int, float)) and not isinstance(t, bool)
                                                and math.isfinite(t) and t >= 0 for t in times)):  # fmt: skip
            return {}
        try:
            out[int(size)] = [float(t) for t in times]
        except (TypeError, ValueError):
            return {}
    return out


def remeasure_links(
    records: Sequence[dict[str, Any]],
    fits: Sequence[str],
    plan: CalibrationPlan,
    testbed: str,
    *,
    work_dir: Path,
    log: Callable[[str], None],
    round_index: int = 0,
    bench: Callable[[int, int, Testbed, CalibrationPlan, Path], list[dict[str, Any]]] = run_bench,
) -> list[dict[str, Any]]:
    """``records`` with the bandwidth points of the link ``fits`` (``links.<class>.<algorithm>``) measured again.

    A link's residual is taken over its large all-reduces (:func:`_large_message_bytes`), so only those are
    run again, on the same rank counts and rates, with ``2^(round + 1)`` times the plan's repetitions
    (and budget). Each point's repetitions are pooled with the earlier rounds' and the median of them all
    is its time — the estimator of every benchmark point, now over more repetitions, so a few slow ones
    (a scheduler that ran another process meanwhile) move it less; its CPU and host-busy figures are the
    median over the rounds.
    """
    wanted: dict[str, set[str]] = {}
    for name in fits:
        _, link_class, algorithm = name.split(".", 2)
        wanted.setdefault(link_class, set()).add(algorithm)
    scale = 2 ** (round_index + 1)
    out = [dict(r) for r in records]
    index = {(r["collective"], r["algorithm"], r["ranks"], r["size_bytes"], r["link_class"],
              r.get("rate_bytes_per_s")): r for r in out}  # fmt: skip
    for link_class, algorithms in sorted(wanted.items()):
        large = _large_message_bytes(testbed, link_class, plan.rates, out)
        points = sorted({(r.get("rate_bytes_per_s") or 0.0, r["ranks"], r["per_node"]) for r in out
                         if r["collective"] == "all_reduce" and r["link_class"] == link_class
                         and r["algorithm"] in algorithms and r["size_bytes"] >= large})  # fmt: skip
        for rate, n, per_node in points:
            sizes = sorted({r["size_bytes"] for r in out if r["collective"] == "all_reduce" and r["ranks"] == n
                            and r["link_class"] == link_class and r["algorithm"] in algorithms
                            and (r.get("rate_bytes_per_s") or 0.0) == rate and r["size_bytes"] >= large})  # fmt: skip
            again = dataclasses.replace(plan, sizes=sizes, algorithms=tuple(sorted(algorithms)),
                                        collectives=("all_reduce",), reps=scale * plan.reps,
                                        max_reps=scale * max(plan.reps, plan.max_reps),
                                        point_budget_s=scale * plan.point_budget_s)  # fmt: skip
            where = f" at {rate * 8 / 1e6:g} Mbit/s" if rate else ""
            log(f"calibrate: {link_class} link, {n} ranks{where}: {', '.join(sorted(algorithms))} again, "
                f"{again.reps} repetitions")  # fmt: skip
            name = f"{link_class}-{n}" + (f"-{rate * 8 / 1e6:g}mbit" if rate else "")
            nodes = n // per_node
            with _testbed(testbed, nodes, per_node, rate or plan.rates[0], plan.tcp_cc) as tb:
                fresh = bench(n, per_node, tb, again, work_dir / name)
            for rec in fresh:
                old = index.get((rec["collective"], rec["algorithm"], rec["ranks"], rec["size_bytes"], link_class,
                                 rate or None))  # fmt: skip
                if old is None:
                    continue
                times = [*old.get("times_s", [old["time_s"]]), *rec["times_s"]]
                for key in ("cpu_s", "host_busy_s"):
                    if key in old and key in rec:
                        rounds = [*old.get(f"{key}_rounds", [old[key]]), rec[key]]
                        old[f"{key}_rounds"], old[key] = rounds, statistics.median(rounds)
                old.update(times_s=times, time_s=statistics.median(times), median_uncertainty=median_uncertainty(times),
                           remeasured=old.get("remeasured", 0) + 1)  # fmt: skip
                old["busbw_bytes_per_s"] = bus_bandwidth(old["size_bytes"], old["time_s"], old["ranks"], "all_reduce")
    return out


def bench_records_problem(records: Any) -> str | None:
    """Why ``records`` (a calibration's ``calibration-bench.json``, read back to refit: ``validate_emulated.py --reuse
    --refit``, ``link_fit_points.py --folders``) cannot be fitted, else None. The fit reads each record's collective,
    algorithm and link class (text: ``inter`` or ``intra``; an all-reduce's algorithm one it can invert,
    :data:`FIT_ALGORITHMS`), ranks (a
    whole number >= 2), size and median time (numbers > 0), and where present its shaped rate, CPU and host times,
    uncertainty and shaper burst (numbers >= 0): a ``KeyError`` or ``TypeError`` deep in the fit before (round 28: a
    burst ``"x"`` was a ``ValueError`` traceback, a NaN or negative one fitted silently)."""
    if not isinstance(records, list) or not records:
        return f"expected a non-empty list of benchmark records, got {brief(records)}"
    numbers = ("rate_bytes_per_s", "cpu_s", "host_busy_s", "median_uncertainty", "tbf_burst_bytes")
    for index, r in enumerate(records):
        if not isinstance(r, dict):
            return f"record {index}: expected an object, got {brief(r)}"
        for name in ("collective", "algorithm", "link_class"):
            if not isinstance(r.get(name), str):
                return f"record {index}: {name}: expected a text, got {brief(r.get(name))}"
        allowed = {"link_class": LINK_CLASSES, "algorithm": FIT_ALGORITHMS if r["collective"] == "all_reduce" else ()}
        for name, choices in allowed.items():
            if choices and r[name] not in choices:
                return f"record {index}: {name}: expected one of {', '.join(choices)}, got {brief(r[name])}"
        ranks = r.get("ranks")
        if isinstance(ranks, bool) or not isinstance(ranks, int) or not 2 <= ranks <= 1 << 20:
            return f"record {index}: ranks: expected a whole number >= 2, got {brief(ranks)}"
        for name in ("size_bytes", "time_s"):
            value = r.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                return f"record {index}: {name}: expected a finite number > 0, got {brief(value)}"
        for name in (n for n in numbers if r.get(n) is not None):
            value = r[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                return f"record {index}: {name}: expected a finite number >= 0, got {brief(value)}"
    return None


POOLED_HOST_MAPS = (("measured", "measured_slowdown"), ("optimizer_measured", "optimizer_slowdown"),
                    ("measured_slowest", "slowest_slowdown"),
                    ("optimizer_measured_slowest", "optimizer_slowest_slowdown"))  # fmt: skip
"""The host's per-k measurements :func:`pool_profiles` averages: (``HostModel`` attribute, profile key)."""


def _optimizer_idle(profile: HardwareProfile) -> float | str:
    """Seconds the profile's optimizer fit slept before each step (``meta.optimizer_idle_s``; none: 0, the fits before
    stop 49), or the value's repr where it is not a finite number >= 0."""
    value = profile.meta.get("optimizer_idle_s")
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return repr(value)[:40]
    return float(value)


def pool_problem(profile: HardwareProfile, other: HardwareProfile) -> str | None:
    """Why ``other`` cannot be pooled with ``profile`` by :func:`pool_profiles` (None: it can): round 29 (hostile).
    Each k is averaged over the calibrations that measured it, so a k one of them lacks was left out of the pool
    without a word, and without k = 1 :func:`refit_links` kept the host's old fit of the cores. Two optimizer fits timed
    after different idle waits (``meta.optimizer_idle_s``, stop 49) are two measurements of different steps."""
    if profile.host_model is None or other.host_model is None:
        return "host_model: expected testbed profiles with a host_model"
    ours_idle, theirs_idle = (_optimizer_idle(p) for p in (profile, other))
    for idle, which in ((ours_idle, "the calibration --refit fits"), (theirs_idle, "a pooled calibration")):
        if isinstance(idle, str):
            return f"meta.optimizer_idle_s: expected seconds >= 0 (or none), got {idle} in {which}"
    if ours_idle != theirs_idle:
        return (f"meta.optimizer_idle_s: the optimizer fit was timed after {theirs_idle:g} s idle, where the "
                f"calibration --refit fits timed it after {ours_idle:g} s (0: none, before stop 49): --pool would "
                "average two measurements of different steps")  # fmt: skip
    for attribute, key in POOLED_HOST_MAPS:
        ours, theirs = set(getattr(profile.host_model, attribute)), set(getattr(other.host_model, attribute))
        if ours != theirs:
            return (f"host_model.{key}: measured at k {sorted(theirs)}, where the calibration --refit fits measured k "
                    f"{sorted(ours)}: --pool averages each k over every calibration (k {sorted(ours ^ theirs)} "
                    "would be left out)")  # fmt: skip
    return None


def _mean_by_k(maps: Sequence[Mapping[int, float]]) -> dict[int, float]:
    """Per k, the mean of the maps' values (every map measured the same k: :func:`pool_problem`)."""
    if any(set(m) != set(maps[0]) for m in maps):
        raise ValueError(f"maps of other k: {[sorted(m) for m in maps]} (pool_problem refuses them)")
    return {k: statistics.fmean(m[k] for m in maps) for k in sorted(maps[0])} if maps else {}


def _mean_linear(fits: Sequence[LinearTime | None]) -> LinearTime | None:
    """The mean of linear fits (both coefficients), None where any is missing."""
    if not fits or any(f is None for f in fits):
        return None
    kept = [f for f in fits if f is not None]
    return LinearTime(statistics.fmean(f.fixed_s for f in kept), statistics.fmean(f.per_unit_s for f in kept))


def _mean_curve(curves: Sequence[ComputeCurve | None]) -> ComputeCurve | None:
    """The first curve with each point's times the mean over the curves holding that (hidden, micro-batch, layers)."""
    first = curves[0] if curves else None
    if first is None:
        return None
    others = [{(q.hidden, q.micro_batch, q.layers): q for q in c.points} for c in curves[1:] if c is not None]
    points = []
    for q in first.points:
        same = [
            q,
            *(o[(q.hidden, q.micro_batch, q.layers)] for o in others if (q.hidden, q.micro_batch, q.layers) in o),
        ]
        points.append(dataclasses.replace(q, forward_s=statistics.fmean(x.forward_s for x in same),
                                          backward_s=statistics.fmean(x.backward_s for x in same)))  # fmt: skip
    return ComputeCurve(tuple(points))


def pool_profiles(profile: HardwareProfile, others: Sequence[HardwareProfile]) -> HardwareProfile:
    """``profile`` with what its calibration measured once averaged with ``others`` (calibrations of the same
    testbed), for :func:`refit_links` to fit the links over every calibration's records: per k the host's measured
    slowdowns (compute, optimizer, and the slowest of each), the compute curve's points, the scenario model's
    forward and backward fits, the optimizer's fit and the page fault's cost. Each is one median of one
    calibration, and two calibrations 40 minutes apart moved a case's prediction by up to 10.7 points (stop 45)."""
    if profile.host_model is None or not others:
        return profile
    every = [profile, *others]
    hosts = [x.host_model for x in every if x.host_model is not None]
    h = profile.host_model
    pooled = dataclasses.replace(
        h,
        measured=_mean_by_k([x.measured for x in hosts]),
        optimizer_measured=_mean_by_k([x.optimizer_measured for x in hosts]),
        measured_slowest=_mean_by_k([x.measured_slowest for x in hosts]),
        optimizer_measured_slowest=_mean_by_k([x.optimizer_measured_slowest for x in hosts]),
        page_fault_s=statistics.fmean(x.page_fault_s for x in hosts),
    )
    return dataclasses.replace(
        profile,
        host_model=pooled,
        compute_curve=_mean_curve([x.compute_curve for x in every]),
        forward=_mean_linear([x.forward for x in every]),
        backward=_mean_linear([x.backward for x in every]),
        optimizer=_mean_linear([x.optimizer for x in every]),
        step_overhead_s=_mean_value([x.step_overhead_s for x in every]),
    )


def _mean_value(values: Sequence[float | None]) -> float | None:
    """The mean of measured values, None where any is missing."""
    kept = [v for v in values if v is not None]
    return statistics.fmean(kept) if kept and len(kept) == len(values) else None


def refit_links(
    profile: HardwareProfile, records: Sequence[dict[str, Any]], plan: CalibrationPlan, testbed: str
) -> HardwareProfile:
    """``profile`` with its links (and the host's κ) fitted from ``records`` on the host's measured sharing, and the
    host's C and ε fitted again from its measured slowdowns (:func:`fit_host`).

    The communication's own ε_c (:meth:`dpsim.calibration.HostModel.comm_share`) is 0: ranks communicating at
    once share the cores with no loss per further process. The host's busy time per byte and rank does not grow
    with the ranks (17 stored calibrations, gloo's large all-reduces at 1200 Mbit/s: medians 9.5, 8.8 and 9.2 ns at
    2, 3 and 4 ranks; ``benchmarks/comm_share.py``: 9.6–12.5 ns from 2 to 8 ranks). Until stop 41 ε_c was fitted
    on the links' times (the ε_c in 0–0.15 leaving the least squared error over every link's points): it came out
    0 in every stored profile only because the intra-node fit's missing term (two ranks priced 28 % fast, four
    19 % slow, :attr:`dpsim.calibration.LinkModel.pair_per_byte_s`) pulled it there; with that term it came out
    0–0.065 and the stored sessions' step MAPE went 5.38 → 6.17 % (one session 3.54 → 14.43 %): the times alone do
    not tell ε_c from the host's idle share at two ranks."""
    assert profile.host_model is not None
    all_reduce = [r for r in records if r["collective"] == "all_reduce"]
    host = profile.host_model
    max_cores = int(profile.meta.get("cores") or host_cores())
    if 1 in host.measured:
        cores = fit_host(host.measured, max_cores=max_cores)
        host = dataclasses.replace(host, cores=cores.cores, efficiency_loss=cores.efficiency_loss,
                                   residual=cores.residual)  # fmt: skip
    sharing = fit_host(host.optimizer_measured, max_cores=max_cores) if 1 in host.optimizer_measured else None
    if sharing is not None:
        host = dataclasses.replace(host, optimizer_residual=sharing_residual(host.optimizer_measured, host.cores))
    host = dataclasses.replace(
        host,
        comm_cpu_per_byte_s=_comm_cpu_per_byte(all_reduce, testbed),
        comm_cpu_per_byte_by_rate=tuple(sorted(host_window_per_byte(all_reduce).items())),
    )
    host = dataclasses.replace(host, comm_efficiency_loss=0.0)  # processor sharing alone (docstring)
    refitted, errors = fit_links(records, plan, testbed, host.comm_share)
    failed = {k: v for k, v in errors.items() if math.isinf(v)}
    residuals = {k: v for k, v in profile.meta.get("fit_residuals", {}).items() if not k.startswith("links.")}
    meta = {**profile.meta, "fit_residuals": {**residuals, **failed}, "benchmark_uncertainty": _uncertainty(all_reduce),
            "fit_worst_points": worst_link_points(records, refitted, plan, testbed, host.comm_share),
            "comm_cpu_per_byte_s": host.comm_cpu_per_byte_s,
            "comm_cpu_per_byte_by_rate_s": [list(p) for p in host.comm_cpu_per_byte_by_rate]}  # fmt: skip
    if sharing is not None:
        meta["host_optimizer_fit"] = optimizer_sharing_meta(sharing)
    return dataclasses.replace(profile, links=refitted, host_model=host, meta=meta)


def calibrate(
    scenario: Scenario,
    plan: CalibrationPlan,
    testbed: str = "local",
    *,
    work_dir: Path | None = None,
    name: str = "profile",
    log: Callable[[str], None] = print,
    max_residual: float | None = None,
    rounds: int = REMEASURE_ROUNDS,
    bench: Callable[[int, int, Testbed, CalibrationPlan, Path], list[dict[str, Any]]] = run_bench,
    pace: Callable[[], float] | None = None,
) -> tuple[HardwareProfile, list[dict[str, Any]]]:
    """Measure and fit the testbed's profile; also return the raw benchmark records.

    With ``max_residual``, the bandwidth points of every link fit whose residual exceeds it are
    measured again, up to ``rounds`` times (:func:`remeasure_links`), before the profile is returned —
    also when a fit that is not measured again (host, optimizer) exceeds it, which refuses the profile
    whatever the links do: the refusal then names every fit still above the limit after its second try, and a
    profile kept anyway (a larger limit, a validation that uses it as it stands) has its links measured as well as
    the rounds allow (until stop 46 the rounds were skipped, and intra fits at 8.8–16.6 % never got one). Refusing
    a fit still above it is the caller's (:func:`dpsim.calibration.check_residuals`).

    Each part (``links``, then ``compute``, ``host``, ``model``, ``optimizer``) is bracketed by the reference kernel
    (``pace``, default :func:`runtime.pace.reference_kernel_s`; :class:`runtime.pace.PaceWatch`): with
    ``max_residual``, a part during which the host's pace moved more than it is timed again, once
    (:data:`runtime.pace.DRIFT_ATTEMPTS`); the series is ``meta.reference_pace``, and one still drifting is refused
    by the same gate (:func:`dpsim.calibration.pace_problem`). The link rounds below are not bracketed.
    """
    work = work_dir or Path(tempfile.mkdtemp(prefix="dpsim-calibrate-"))
    watch = PaceWatch(limit=max_residual, log=log, kernel=pace)
    links, records = watch.part(
        "links", lambda: calibrate_links(scenario, plan, testbed, work_dir=work, log=log, bench=bench)
    )
    profile = calibrate_compute(links, scenario, plan, work_dir=work, log=log, watch=watch)
    profile = dataclasses.replace(profile, meta={**profile.meta, REFERENCE_PACE: watch.record()})
    if profile.host_model is not None:  # the links again, on the host's measured sharing (as the engines use it)
        profile = refit_links(profile, records, plan, testbed)
        for round_index in range(rounds if max_residual is not None else 0):
            assert max_residual is not None
            above = residuals_above(profile, max_residual)
            bad = sorted(n for n in above if n.startswith("links."))
            again = "optimizer" in above and profile.optimizer is not None
            kept = sorted(n for n in above if not n.startswith("links.") and not (again and n == "optimizer"))
            if not bad and not again:
                break
            if kept and round_index == 0:  # refused on those whatever the others do; the others get their rounds
                log(f"calibrate: {', '.join(kept)} above {100 * max_residual:g} % is not measured again (the "
                    "profile will be refused on it); the other fits above it are")  # fmt: skip
            if again:
                profile = remeasure_optimizer(profile, scenario, max_residual, log=log, round_index=round_index,
                                              rounds=rounds)  # fmt: skip
            if bad:
                listed = ", ".join(f"{n} {100 * profile.residuals()[n]:.1f} %" for n in bad)
                log(f"calibrate: fit residual above {100 * max_residual:g} %: {listed}; measuring their bandwidth "
                    f"points again (round {round_index + 1} of {rounds})")  # fmt: skip
                records = remeasure_links(records, bad, plan, testbed, work_dir=work / f"again-{round_index + 1}",
                                          log=log, round_index=round_index, bench=bench)  # fmt: skip
                profile = refit_links(profile, records, plan, testbed)
            profile = dataclasses.replace(profile, meta={**profile.meta, "remeasured_rounds": round_index + 1})
    return dataclasses.replace(profile, name=name), records


REFRESH_PARTS = ("compute", "optimizer", "host")
"""What ``dpsim calibrate --refresh`` can time again (:func:`refresh`): ``compute``, the compute curve and the scenario
model's forward/backward fits; ``optimizer``, the optimizer's cold fit (after its idle wait), its warm curve and the
page fault's cost; ``host``, the two host sweeps (k processes computing, and stepping Adam, at once) and their fits."""
REFRESH_DEFAULT = ("compute", "optimizer")
"""The parts a refresh times again by default: the ones the emulated host moves within a session (stop 50: the compute
curve 9–39 % between two calibrations 50 minutes apart, the optimizer probe 4.78 → 7.04 ns a parameter within 30
minutes), while the links moved little (exposed communication 5.0 % MAPE). The host sweep is a ratio to its own lone
process, so a uniformly slower host leaves it alone."""


def _plan_setting(plan: Mapping[str, Any], key: str, default: Any) -> Any:
    value = plan.get(key, default)
    return tuple(value) if isinstance(value, list) else value


def _whole_numbers(recorded: Mapping[str, Any], key: str, default: Any, least: int) -> tuple[int, ...] | str:
    """``meta.plan``'s ``key`` as whole numbers of at least ``least`` (a list, or one number), or why not: a
    fraction, a boolean or a string is not one (``int()`` truncated 2.5 to 2 and read ``true`` as 1)."""
    value = _plan_setting(recorded, key, default)
    values = value if isinstance(value, tuple) else (value,)
    if not values or not all(type(v) is int and v >= least for v in values):
        return f"meta.plan.{key}: expected whole numbers of at least {least}, got {value!r}"[:300]
    return values


def refresh_plan(profile: HardwareProfile) -> CalibrationPlan | str:
    """The plan ``profile``'s compute, host and optimizer parts were measured with (``meta.plan``; a profile of before
    stop 51 did not record the model fit's micro-batches and repetitions, which are read from its ``model:`` label or
    taken as the defaults), or why there is none: each setting a whole number of at least 1 (warm-up rounds 0), the
    repetitions at most :attr:`CalibrationPlan.max_reps`, as ``--reps`` (round 33: 0 repetitions took the median of
    nothing, a traceback once the curve was timed; a label's ``²`` passed ``str.isdigit`` and failed ``int``)."""
    recorded = profile.meta.get("plan")
    if not isinstance(recorded, dict):
        return "meta.plan: expected the plan dpsim calibrate records (curve and host settings), got none"
    defaults = CalibrationPlan()
    micro: Any = _plan_setting(recorded, "micro_batches", None)
    if micro is None:
        label = next((c for c in profile.calibrated_on if c.startswith("model: ")), "")
        _, _, tail = label.partition("micro-batches ")
        digits = [m.strip() for m in tail.split(",")]
        micro = tuple(int(m) for m in digits if m.isascii() and m.isdigit() and len(m) < 19) or defaults.micro_batches
    settings: dict[str, Any] = {}
    for key, default, least in (("micro_batches", micro, 1), ("curve_hiddens", (), 1),
                                ("curve_micro_batches", (), 1), ("curve_layers", 0, 0), ("host_processes", (), 1),
                                ("reps", defaults.reps, 1), ("warmup", defaults.warmup, 0)):  # fmt: skip
        values = _whole_numbers({**recorded, "micro_batches": micro}, key, default, least)
        if isinstance(values, str):
            return values
        settings[key] = values if isinstance(default, tuple) else values[0]
    if settings["reps"] > defaults.max_reps:
        return f"meta.plan.reps: expected at most {defaults.max_reps} (as --reps), got {settings['reps']}"
    plan = dataclasses.replace(defaults, **settings)
    return _refresh_work_problem(plan) or plan


REFRESH_WORK_LIMIT = 16
"""Most work a refresh does, in times the work of calibrate's default plan (:class:`CalibrationPlan`), part by part
(:func:`_refresh_work_problem`). ``dpsim calibrate`` records the plan it ran in ``meta.plan`` and ``--refresh`` runs
it again as recorded: a doctored ``warmup: 1000000000`` timed for ever, ``host_processes: [1, 2, 5000]`` started
5,000 processes, a curve of hidden 10^6 (its ``calibrated_on`` label edited to match) allocated 4 TB (round 35)."""


def _refresh_work_problem(plan: CalibrationPlan) -> str | None:
    """Why ``plan`` (a refresh's, from ``meta.plan``) would time far more than calibrate's defaults, or None: each
    part's work at most :data:`REFRESH_WORK_LIMIT` times the default plan's, as a proportion of it (the same model
    and host time both): the compute curve's FLOPs (``curve_layers · Σ hidden² · Σ micro-batch``) and parameters
    (``curve_layers · Σ hidden²``, every width's MLP held at once), the scenario model's timed samples
    (``Σ micro_batches · (reps + warmup)``); warm-up rounds at most as many as repetitions, and the host sweep's
    process counts distinct, at most the default sweep's largest or the processes this machine accepts."""
    from dpsim.execution import max_local_workers

    defaults = CalibrationPlan()

    def grid(p: CalibrationPlan) -> tuple[float, float]:
        widths = p.curve_layers * sum(float(h) ** 2 for h in p.curve_hiddens)
        return widths * sum(p.curve_micro_batches), widths

    def samples(p: CalibrationPlan) -> float:
        return float(sum(p.micro_batches)) * (p.reps + p.warmup)

    (work, parameters), (work0, parameters0) = grid(plan), grid(defaults)
    fields = "meta.plan.curve_hiddens, curve_micro_batches, curve_layers"
    for what, value, default in (("FLOPs", work, work0), ("parameters", parameters, parameters0)):
        if value > REFRESH_WORK_LIMIT * default:
            return (f"{fields}: the compute curve's grid would be {value / default:,.3g} times calibrate's default "
                    f"grid in {what} (at most {REFRESH_WORK_LIMIT})")  # fmt: skip
    if plan.warmup > defaults.max_reps:
        return f"meta.plan.warmup: expected at most {defaults.max_reps} (as the repetitions), got {plan.warmup}"
    if samples(plan) > REFRESH_WORK_LIMIT * samples(defaults):
        return (f"meta.plan.micro_batches: the scenario model's fit would time {samples(plan) / samples(defaults):,.3g}"
                f" times the samples of calibrate's default plan (at most {REFRESH_WORK_LIMIT}; "
                f"micro_batches x (reps + warmup))")  # fmt: skip
    most = max(max(defaults.host_processes), max_local_workers())
    if len(set(plan.host_processes)) < len(plan.host_processes) or max(plan.host_processes) > most:
        return (f"meta.plan.host_processes: expected distinct process counts of at most {most} (this machine's "
                f"limit), got {str(list(plan.host_processes))[:80]}")  # fmt: skip
    return None


def refresh_problem(profile: HardwareProfile, scenario: Scenario, parts: Sequence[str] = REFRESH_DEFAULT) -> str | None:
    """Why ``profile`` cannot be refreshed on this host for ``scenario`` (None: it can): every setting its parts were
    measured with must be what :func:`refresh` would time them with now, or the new parts would not be the same
    measurement taken later (one line, naming the field)."""
    if profile.host_model is None or profile.compute_curve is None or profile.optimizer is None:
        return ("--refresh: expected a testbed profile written by dpsim calibrate (compute curve, host model and "
                "optimizer fit), got one without them")  # fmt: skip
    plan = refresh_plan(profile)
    if isinstance(plan, str):
        return plan
    if not plan.curve_hiddens or not plan.curve_micro_batches or plan.curve_layers < 1 or not plan.host_processes:
        return "meta.plan: expected curve_hiddens, curve_micro_batches, curve_layers and host_processes, got none"
    meta = profile.meta
    cache = last_level_cache_bytes()
    model = f"{scenario.model.kind} {scenario.model.num_parameters:.0f} parameters"
    expected: list[tuple[str, Any, Any]] = [
        ("torch_version", str(torch.__version__), meta.get("torch_version")),
        ("model", model, meta.get("model")),
        ("optimizer_name", scenario.training.optimizer, meta.get("optimizer_name")),
        ("cores", host_cores(), meta.get("cores")),
        ("curve_rounds", CURVE_ROUNDS, meta.get("curve_rounds")),
        ("optimizer_idle_s", OPTIMIZER_IDLE_S, meta.get("optimizer_idle_s")),
        ("last_level_cache_bytes", cache, meta.get("last_level_cache_bytes")),
        ("optimizer_cold_bytes", cold_cache_bytes(cache), meta.get("optimizer_cold_bytes")),
    ]
    if "host" in parts:
        expected.append(("host_rounds", HOST_ROUNDS, meta.get("host_rounds")))
    for key, now, then in expected:
        if now != then:
            return (f"meta.{key}: the base profile was made with {then!r}, this host and dpsim would time its parts "
                    f"with {now!r}: calibrate afresh instead of refreshing")  # fmt: skip
    for label in (_curve_label(plan), _model_label(scenario, plan)):
        if label not in profile.calibrated_on:
            kind = label.partition(":")[0]
            return (f"calibrated_on: expected {label!r} (the base's {kind} settings as recorded in meta.plan), "
                    "got none: calibrate afresh instead of refreshing")  # fmt: skip
    return None


def _retimed(
    profile: HardwareProfile,
    scenario: Scenario,
    parts: Sequence[str],
    plan: CalibrationPlan,
    *,
    work: Path,
    log: Callable[[str], None],
    watch: PaceWatch | None = None,
) -> tuple[HardwareProfile, HostModel, dict[str, Any]]:
    """:func:`refresh`'s measurements: ``profile`` with ``parts`` timed again, its host model and its meta; each
    measurement a part of ``watch`` as :func:`calibrate` names them (:func:`_watched`)."""
    host = profile.host_model
    assert host is not None
    new = profile
    meta: dict[str, Any] = dict(profile.meta)
    if "compute" in parts:
        curve = _watched(watch, "compute", lambda: calibrate_compute_curve(plan, work_dir=work, log=log))
        log(f"calibrate: scenario model ({scenario.model.kind}), alone")
        forward, backward = _watched(
            watch, "model", lambda: measure_compute(scenario, plan.micro_batches, plan.reps, plan.warmup)
        )
        new = dataclasses.replace(new, compute_curve=curve, forward=forward, backward=backward)
        if profile.step_overhead_s is not None:  # measured with the model's fit: timed again with it
            overhead = measure_step_overhead(scenario, plan.micro_batches)
            new = dataclasses.replace(new, step_overhead_s=overhead.seconds)
            meta["step_overhead"] = overhead.meta()
    page_fault = _measured_page_fault(log) if "optimizer" in parts else host.page_fault_s
    if "host" in parts:
        sweeps = _watched(watch, "host", lambda: _host_sweeps(plan, work_dir=work, log=log))
        host, host_meta = _host_parts(host, sweeps, page_fault, int(meta["cores"]), work)
        meta.update(host_meta)
    if "optimizer" in parts:
        cold = int(meta["optimizer_cold_bytes"])
        optimizer, residual, optimizer_curve, samples = _watched(
            watch, "optimizer", lambda: _optimizer_parts(scenario, plan, page_fault, cold, log)
        )
        new = dataclasses.replace(new, optimizer=optimizer, optimizer_curve=optimizer_curve)
        meta["fit_residuals"] = {**meta.get("fit_residuals", {}), "optimizer": residual}
        meta["optimizer_fit_samples"] = samples
        host = dataclasses.replace(host, page_fault_s=page_fault)
    return new, host, meta


def refresh(
    profile: HardwareProfile,
    scenario: Scenario,
    parts: Sequence[str] = REFRESH_DEFAULT,
    *,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
    base: str = "",
    base_sha256: str = "",
    pace: Callable[[], float] | None = None,
) -> HardwareProfile:
    """``profile`` with ``parts`` (:data:`REFRESH_PARTS`) timed again on this host by the procedure and settings that
    made them (:func:`refresh_plan`; :func:`refresh_problem` must be None), everything else kept: the links, and
    the parts not named. ``meta.refreshes`` gains one record: the parts, when (UTC), how long, and the base (what the
    caller names it by, its ``name`` and, given, the first 16 hex digits of its file's SHA-256). Each measurement is
    bracketed by the reference kernel (``pace``, as :func:`calibrate`'s; recorded, not timed again): its probes
    replace the base's of the same parts in ``meta.reference_pace`` (:meth:`runtime.pace.PaceWatch.merged`)."""
    problem = refresh_problem(profile, scenario, parts)
    if problem is not None:
        raise ValueError(problem)
    plan = refresh_plan(profile)
    assert isinstance(plan, CalibrationPlan)
    started, start = time.time(), time.monotonic()
    watch = PaceWatch(limit=None, log=log, kernel=pace)
    if work_dir is None:  # the curve's worker writes its points there: removed afterwards
        with tempfile.TemporaryDirectory(prefix="dpsim-refresh-") as tmp:
            new, host, meta = _retimed(profile, scenario, parts, plan, work=Path(tmp) / "compute", log=log,
                                       watch=watch)  # fmt: skip
    else:
        new, host, meta = _retimed(profile, scenario, parts, plan, work=work_dir / "compute", log=log, watch=watch)
    meta[REFERENCE_PACE] = watch.merged(profile.meta)
    record = {
        "parts": [p for p in REFRESH_PARTS if p in parts],
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.monotonic() - start, 1),
        "base": base or profile.name,
        "base_name": profile.name,
        **({"base_sha256": base_sha256} if base_sha256 else {}),
    }
    meta["refreshes"] = [*(meta.get("refreshes") or []), record]
    return dataclasses.replace(new, host_model=host, meta=meta)


def _curve_worker(argv: Sequence[str]) -> None:
    out, hiddens, micro, layers = argv
    curve = measure_compute_curve([int(h) for h in hiddens.split(",")], [int(m) for m in micro.split(",")],
                                  int(layers))  # fmt: skip
    Path(out).write_text(json.dumps([dataclasses.asdict(p) for p in curve.points]), encoding="utf-8")


def main(argv: Sequence[str]) -> int:
    """``python -m runtime.calibrate curve OUT HIDDENS MICRO LAYERS`` | ``host FOLDER STAGES WORKLOAD INDEX`` |
    ``optimizer IN OUT``."""
    kind, *rest = argv
    if kind == "curve":
        _curve_worker(rest)
    elif kind == "optimizer":
        _optimizer_worker(rest)
    elif kind == "host":
        folder, stages, workload, index = rest
        _host_worker(Path(folder), int(index), [int(k) for k in stages.split(",")], workload)
    else:
        raise SystemExit(f"unknown worker {kind!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
