"""One training step of synchronous data parallelism, simulated worker by worker.

Each worker runs its micro-batches (forward, then backward); gradient synchronisation
happens in the last micro-batch only (DDP ``no_sync`` for the others). Its gradient is
cut into DDP buckets (:func:`dpsim.buckets.bucket_sizes` of the model's tensors when known,
last layers first) that
become ready at a uniform rate during that last backward (bucket ``i`` at the fraction
``bytes in buckets 0..i / gradient bytes`` of it), or all at its end with overlap off. A
worker posts bucket ``i``'s collective when it is ready and its communication stream has
finished bucket ``i−1`` (one stream, in order: Li et al. 2020, PyTorch DDP §3.2); the
collective itself is run by a :class:`~dpsim.sim.engine.CollectiveEngine` at the chosen
fidelity, which returns when each worker is done with it. The optimizer runs once the
backward and the last bucket are done.

ZeRO (Rajbhandari et al. 2020): stages 1–2 reduce-scatter the buckets and all-gather the
updated parameters (in buckets) after the optimizer; stage 3 also all-gathers the
parameters in ``⌈param bytes / bucket⌉`` pieces before each piece's forward and backward
in every micro-batch, prefetched on the same stream (compute of piece p waits for its
gather; with ``communication.overlap: false`` no prefetch: piece p's gather is issued when piece
p−1's compute is done), with the gradient reduce-scatters queued behind the backward's gathers. FSDP's
strategies gather in the passes :func:`dpsim.sharding.step_traffic` names (SHARD_GRAD_OP:
forwards only, and no post-step gather).

FSDP HYBRID_SHARD (:attr:`StepPlan.shard_ranks`): gathers and reduce-scatters run in every shard
group of G consecutive ranks at once, and each bucket's reduced 1/G shard is all-reduced in every
replica group at once (:class:`dpsim.sim.collectives.groups.Groups`), on a second stream: bucket
i's all-reduce starts when its reduce-scatter and bucket i−1's all-reduce are done, so it overlaps
bucket i+1's reduce-scatter (PyTorch FSDP ``_reduce_grad``: ``_all_reduce_stream.wait_stream(
_post_backward_stream)`` then ``all_reduce`` on the replica process group; FSDP2's
``foreach_reduce`` the same on ``all_reduce_stream``). As FSDP's post-backward callback makes the
compute stream wait for both streams after every synchronising backward, the next micro-batch
starts when both are done; the optimizer waits for both.

This is the analytic engine's model (:mod:`dpsim.analytic.step`) executed event by event
per worker, so that heterogeneity (stragglers, jitter, uneven shards, degraded links)
and contention are resolved where the closed form must assume symmetry.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dpsim.analytic.step import BucketCopies
from dpsim.buckets import (
    bucket_sizes,
    chunk_bucket_sizes,
    chunk_gradient_readiness,
    drive,
    gloo_bucket_start,
    overlapped_gathers,
    piece_count,
    slowed_end,
)
from dpsim.sim.collectives.groups import Groups
from dpsim.sim.engine import CollectiveEngine
from dpsim.sim.timeline import Timeline
from dpsim.streams import TwoStreams

__all__ = [
    "Drain",
    "Ledger",
    "Post",
    "ProgramEnd",
    "StepOutcome",
    "StepPlan",
    "bucket_ready",
    "run_step",
    "step_program",
]


@dataclass(frozen=True)
class StepPlan:
    """What one step communicates, independent of the workers' speeds."""

    accumulation: int
    gradient_bytes: float
    param_bytes: float
    bucket_bytes: float
    """Each gradient bucket (:func:`dpsim.sharding.collective_pieces`)."""
    gather_bytes: float | None = None
    """Each ZeRO-3 / FSDP parameter piece gathered before a pass; None: :attr:`bucket_bytes`."""
    post_gather_bytes: float | None = None
    """Each post-step parameter all-gather; None: :attr:`bucket_bytes`."""
    zero_stage: int = 0
    gradient_allreduce: bool | None = None
    """Gradients all-reduced (else reduce-scattered); None: as DDP, ZeRO stage 0 only
    (:attr:`dpsim.scenario.Scenario.gradient_reduction_op`)."""
    overlap: bool = True
    """Gathers prefetched a piece ahead, and (unless :attr:`gradient_overlap` says otherwise) gradient
    buckets reduced as they become ready."""
    bucket_copies: BucketCopies = field(default_factory=BucketCopies)
    """PyTorch DDP's passes through its buckets (:func:`dpsim.analytic.step.ddp_bucket_copies`): one in the
    synchronising backward, the copies back after the reductions."""
    gradient_overlap: bool | None = None
    """Gradient buckets reduced while the backward runs (:attr:`dpsim.scenario.Scenario.overlaps_gradient_reduction`:
    DeepSpeed's ``overlap_comm``); None: as :attr:`overlap`."""
    optimizer_s: float = 0.0
    tp_comm_s: float = 0.0
    """Tensor-parallel communication per micro-batch (blocking, inside each pass: it lengthens the pass over
    which gradients become ready and gathered pieces are consumed; hybrid runs)."""
    tp_forward_share: float = 0.5
    """Share of :attr:`tp_comm_s` in the forward pass, the rest in the backward
    (:func:`dpsim.analytic.parallel.tensor_parallel_forward_share`)."""
    tp_hidden_s: float = 0.0
    """Tensor-parallel communication per micro-batch hidden behind GEMMs (``training.tp_comm_overlap``):
    counted as traffic, never on the critical path."""
    bubble_s: float = 0.0
    """Pipeline bubble per step (hybrid runs)."""
    p2p_exposed_s: float = 0.0
    """Pipeline stage-to-stage sends on the critical path per step (hybrid runs)."""
    p2p_total_s: float = 0.0
    """All pipeline stage-to-stage send time per step (hybrid runs)."""
    tied_embedding_s: float = 0.0
    """The tied word-embedding gradient's all-reduce between the first and last stage, once a step before
    the optimizer (:func:`dpsim.analytic.parallel.tied_embedding_allreduce_time`): exposed."""
    reduce_every_micro_batch: bool = False
    """Reduce-scatter each micro-batch's gradients after its backward (DeepSpeed ZeRO-2/3, FSDP)."""
    overlap_param_gather: bool = False
    """Megatron's distributed optimizer: the post-step parameter all-gather overlaps the next forward."""
    ready_fractions: tuple[float, ...] = ()
    """Fraction of the last backward elapsed when each gradient bucket is ready, measured
    (:meth:`dpsim.calibration.HardwareProfile.bucket_ready_fractions`); empty: uniform."""
    traced_buckets: tuple[float, ...] = ()
    """Gradient bucket sizes from a profiler trace's tensors (:func:`dpsim.buckets.traced_buckets`);
    empty: the buckets of :attr:`gradient_tensors` (DDP) or of a byte stream."""
    gradient_tensors: tuple[float, ...] = ()
    """The rank's gradient tensors in registration order (:func:`dpsim.buckets.gradient_tensors`),
    which DDP (ZeRO stage 0) buckets whole; empty: a uniform byte stream."""
    listed_buckets: tuple[float, ...] = ()
    """DeepSpeed ZeRO's reduce (IPG) buckets of the rank's tensors in reduction order
    (:attr:`dpsim.sharding.CollectivePieces.gradient_buckets`); empty: equal buckets of a stream."""
    chunks: int = 1
    """Model chunks with buckets of their own (:func:`dpsim.buckets.gradient_chunks`: Megatron's
    distributed optimizer under the interleaved schedule, torch's pipelining stages over FSDP), each reduced
    after its own last backward."""
    chunk_end: bool = False
    """Each chunk's buckets all ready when its last backward ends (:func:`dpsim.buckets.stage_end_reduction`:
    torch's pipelining over FSDP), not as that backward advances."""
    stages: int = 1
    """Pipeline stages (the interleaved schedule's chunk spacing on the first stage)."""
    forward_gathers: int | None = None
    """Micro-batches (the first ones) whose forward all-gathers the parameters piece by piece
    (:func:`dpsim.sharding.step_traffic`); None: every one under ZeRO-3, none otherwise."""
    backward_gathers: int | None = None
    """Micro-batches whose backward all-gathers the parameters; None: as :attr:`forward_gathers`."""
    post_step_gather: bool | None = None
    """All-gather the updated parameters after the optimizer step; None: ZeRO stages 1 and 2."""
    backward_param_bytes: float | None = None
    """Parameter bytes each backward all-gathers (None: :attr:`param_bytes`; FSDP keeps its root unit
    gathered from forward to backward, :attr:`dpsim.sharding.StepTraffic.backward_gather_share`)."""
    shard_ranks: int = 0
    """FSDP HYBRID_SHARD's shard group G (0: the whole group): gathers and reduce-scatters in groups of G
    consecutive ranks, each reduced 1/G shard all-reduced across the replica groups on a second stream."""
    ddp: bool | None = None
    """DDP's reducer buckets the gradients (its first-bucket rule, whole tensors): plain DDP and torch's
    ``ZeroRedundancyOptimizer`` over DDP (:attr:`dpsim.scenario.Scenario.reduces_with_ddp`); None: ZeRO stage 0."""
    post_step_broadcasts: tuple[float, ...] = ()
    """Broadcasts of the updated parameters after the optimizer step, in issue order (torch's
    ``ZeroRedundancyOptimizer``, :func:`dpsim.sharding.torch_zero_broadcasts`): in series, then waited for."""
    bucket_latency_s: tuple[float, ...] = ()
    """Per gradient bucket, the latency term gloo's second worker thread runs beside the previous bucket's bytes
    (:func:`dpsim.analytic.step.gloo_bucket_latency`, :func:`dpsim.buckets.gloo_bucket_start`), where DDP's buckets
    share the host with the last backward (``comm_rate``) as the analytic engine prices them; empty: one at a time."""

    @property
    def reduces_with_ddp(self) -> bool:
        """Whether DDP's reducer cuts the gradient buckets (:attr:`ddp`, default ZeRO stage 0)."""
        return self.zero_stage == 0 if self.ddp is None else self.ddp

    @property
    def gradient_op(self) -> str:
        """The collective that reduces each gradient bucket."""
        allreduce = self.reduces_with_ddp if self.gradient_allreduce is None else self.gradient_allreduce
        return "allreduce" if allreduce else "reduce_scatter"

    @property
    def reduces_overlapped(self) -> bool:
        """Whether gradient buckets are reduced as they become ready (else after each pass, blocking)."""
        return self.overlap if self.gradient_overlap is None else self.gradient_overlap

    @property
    def gathers(self) -> tuple[int, int, bool]:
        """(forward gathers, backward gathers, post-step gather) with the defaults resolved."""
        every = self.accumulation if self.zero_stage == 3 else 0
        forward = every if self.forward_gathers is None else self.forward_gathers
        backward = every if self.backward_gathers is None else self.backward_gathers
        post = self.zero_stage in (1, 2) if self.post_step_gather is None else self.post_step_gather
        return forward, backward, post

    @property
    def gradient_buckets(self) -> list[float]:
        if self.traced_buckets:
            return list(self.traced_buckets)
        if self.reduces_with_ddp:  # DDP: its first-bucket rule, whole tensors when known
            return bucket_sizes(self.gradient_bytes, self.bucket_bytes, None, self.gradient_tensors)
        if self.listed_buckets:  # DeepSpeed's IPG buckets, whole tensors
            return list(self.listed_buckets)
        if self.chunks > 1 or self.chunk_end:
            return self._chunk_readiness[0]
        return bucket_sizes(self.gradient_bytes, self.bucket_bytes, self.bucket_bytes)

    @property
    def _chunk_readiness(self) -> tuple[list[float], list[float]]:
        return chunk_gradient_readiness(
            self.gradient_bytes, self.bucket_bytes, self.chunks, self.stages, self.chunk_end
        )

    @property
    def parameter_buckets(self) -> list[float]:
        """ZeRO-1/2's post-step parameter all-gathers: equal buckets (no DDP first bucket)."""
        return bucket_sizes(self.param_bytes, self.post_gather_piece, self.post_gather_piece)

    @property
    def bucket_fractions(self) -> tuple[float, ...]:
        """Fraction of the last backward elapsed when each gradient bucket is ready (measured, or uniform)."""
        if self.ready_fractions:
            return self.ready_fractions
        if (self.chunks > 1 or self.chunk_end) and not self.reduces_with_ddp:  # may be negative: before the last one
            return tuple(self._chunk_readiness[1])
        return tuple(float(x) for x in np.cumsum(self.gradient_buckets) / self.gradient_bytes)

    @property
    def pieces(self) -> int:
        """ZeRO-3 parameter pieces gathered one by one (in the forward)."""
        return piece_count(self.param_bytes, self.gather_piece)

    @property
    def backward_gathered_bytes(self) -> float:
        """Parameter bytes a backward all-gathers (:attr:`backward_param_bytes`, default all of them)."""
        return self.param_bytes if self.backward_param_bytes is None else self.backward_param_bytes

    @property
    def backward_pieces(self) -> int:
        """Pieces of :attr:`backward_gathered_bytes` gathered one by one in a backward."""
        return piece_count(self.backward_gathered_bytes, self.gather_piece)

    @property
    def post_gather_piece(self) -> float:
        """Bytes of each post-step parameter all-gather (:attr:`post_gather_bytes`)."""
        return self.bucket_bytes if self.post_gather_bytes is None else self.post_gather_bytes

    @property
    def gather_piece(self) -> float:
        """Bytes of each parameter piece gathered before a pass (:attr:`gather_bytes`)."""
        return self.bucket_bytes if self.gather_bytes is None else self.gather_bytes


@dataclass
class StepOutcome:
    """Per-worker results of one simulated step (arrays indexed by data-parallel rank)."""

    end_s: np.ndarray
    compute_s: np.ndarray
    comm_s: np.ndarray
    """Time each worker spent in collectives after the last peer had joined."""
    wait_s: np.ndarray
    """Time each worker waited for peers: at each collective and at the end of the step."""
    optimizer_s: float
    collective_s: float
    """Sum over collectives of (last done − last join): communication time of the step."""
    collectives: int
    bubble_s: float = 0.0
    calls: list[tuple[str, float, float]] = field(default_factory=list)

    @property
    def step_time_s(self) -> float:
        return float(self.end_s.max())


def bucket_ready(plan: StepPlan, start: np.ndarray, backward_s: np.ndarray, end: np.ndarray) -> list[np.ndarray]:
    """When each gradient bucket is ready, per worker, for a last backward from ``start`` to ``end``.

    With overlap, bucket ``i`` at its cumulative fraction of the backward (the profile's
    measured curve, or uniform); without, every bucket at the end.
    """
    return [
        start + backward_s * fraction if plan.reduces_overlapped else end.copy() for fraction in plan.bucket_fractions
    ]


@dataclass(frozen=True)
class Post:
    """A collective the step program posts on a communication stream: each rank joins it at
    ``max(ready, when that rank finished the stream's previous collective)``.

    On the main stream the program is sent back each rank's completion time; on HYBRID_SHARD's
    replica stream (``replicas``) it is sent nothing and moves on (that stream overlaps the next
    reduce-scatter), learning when it is done only through :class:`Drain`.
    """

    name: str
    op: str
    size: float
    ready: np.ndarray
    bucket: int | None = None
    replicas: bool = False
    slowed: tuple[np.ndarray, float] | None = None
    """(per rank until when, rate): the collective runs at that rate of its pace until then (DDP's buckets beside
    the last backward on a shared host, :func:`dpsim.buckets.slowed_end`); None: at its pace."""
    hidden_latency_s: float = 0.0
    """Its latency term that runs beside the previous collective's bytes (gloo's two worker threads,
    :func:`dpsim.buckets.gloo_bucket_start`); 0: it starts when the previous one ends."""


@dataclass(frozen=True)
class Drain:
    """The program waits for both streams: it is sent, per rank, when everything it posted is done."""


@dataclass
class ProgramEnd:
    """What a step program returns: per rank its end (before waiting for the slowest rank), its compute,
    and the communication its own clock accounts for (blocking TP, exposed pipeline sends)."""

    end_s: np.ndarray
    compute_s: np.ndarray
    comm_s: np.ndarray
    collective_s: float


Request = Post | Drain
Log = Callable[[str, str, np.ndarray, np.ndarray], None]


def step_program(
    plan: StepPlan,
    forward_s: np.ndarray,
    backward_s: np.ndarray,
    communicate: bool = True,
    log: Log | None = None,
    start_s: float = 0.0,
    comm_rate: float | None = None,
) -> Generator[Request, np.ndarray | None, ProgramEnd]:
    """One step of ``plan`` for the ranks of ``forward_s``/``backward_s`` (ranks × micro-batches), as a program.

    It yields every collective (:class:`Post`) and every wait for the streams (:class:`Drain`) in the
    order the ranks issue them and is sent back when each rank is done; everything else (compute,
    prefetch, readiness, the optimizer) it works out itself, element-wise per rank. The driver decides
    where collectives run: :func:`run_step` answers each at once on the group's own network (the
    collective engine), :mod:`dpsim.sim.shared` runs one program per rank on a network shared with
    other groups and jobs. One schedule, both paths. ``start_s``: when the ranks start (a pipeline
    stage's place in its schedule).
    """
    n, k = forward_s.shape
    clock = np.full(n, float(start_s))
    compute = np.zeros(n)
    comm = np.zeros(n)
    total = 0.0

    def span(category: str, name: str, start: np.ndarray, end: np.ndarray) -> None:
        if log is not None:
            log(category, name, start, end)

    hybrid = plan.shard_ranks > 0 and communicate

    def blocking_comm(seconds: float) -> None:
        """A pass's tensor-parallel collectives (Megatron's blocking all-reduces, layer by layer inside it)."""
        nonlocal total
        comm[:] += seconds
        total += seconds

    def compute_span(category: str, name: str, duration: np.ndarray, tp_s: float = 0.0) -> None:
        """A pass of ``duration`` compute plus ``tp_s`` of tensor-parallel communication spread through it."""
        nonlocal clock
        start = clock
        clock = clock + duration + tp_s
        compute[:] += duration
        blocking_comm(tp_s)
        span(category, name, start, clock)

    def zero3_pass(
        category: str, name: str, duration: np.ndarray, tp_s: float, pieces: int, gathered_bytes: float
    ) -> Generator[Request, np.ndarray | None, np.ndarray]:
        """Gathered-parameter pass: returns the (pieces × workers) start times of each piece's compute
        (each piece carries its share of the pass's ``tp_s`` of tensor-parallel communication)."""
        nonlocal clock
        size = gathered_bytes / pieces
        # prefetched (overlap): every gather issued at the pass's start, run in order on the stream, a
        # piece's compute waiting for its own; without overlap (no prefetch) piece p's gather is issued
        # only when piece p-1's compute is done, and its compute waits for it: gathers and compute in series
        issued = clock.copy()
        piece = (duration + tp_s) / pieces
        starts = np.empty((pieces, n))
        for p in range(pieces):
            gathered = yield Post(f"{name} gather {p}", "all_gather", size, issued if plan.overlap else clock, p)
            assert gathered is not None
            starts[p] = np.maximum(clock, gathered)
            span("idle", f"{name} waiting for gather {p}", clock, starts[p])
            clock = starts[p] + piece
            span(category, f"{name} piece {p}", starts[p], clock)
        compute[:] += duration
        blocking_comm(tp_s)
        return starts

    forward_gathers, backward_gathers, post_step_gather = plan.gathers if communicate else (0, 0, False)
    buckets = plan.gradient_buckets if communicate else []
    grad_op = plan.gradient_op
    # tensor-parallel communication inside each pass (as the analytic engine): gradients become ready and
    # gathers are consumed over the pass's compute + TP span
    tp_fwd = plan.tp_comm_s * plan.tp_forward_share
    tp_bwd = plan.tp_comm_s - tp_fwd
    for j in range(k):
        fwd, bwd = forward_s[:, j], backward_s[:, j]
        # HYBRID_SHARD: FSDP's post-backward callback makes the compute stream wait for both reduction streams
        if hybrid and j and plan.reduce_every_micro_batch:
            start = clock
            clock = np.maximum(clock, (yield from _drained()))
            span("idle", f"forward {j} waiting for gradient reduction", start, clock)
        if j < forward_gathers:
            yield from zero3_pass("forward", f"forward {j}", fwd, tp_fwd, plan.pieces, plan.param_bytes)
        else:
            compute_span("forward", f"forward {j}", fwd, tp_fwd)
        last = j == k - 1
        reduce_now = last or plan.reduce_every_micro_batch
        if last and (buckets or not communicate):  # DDP's pass into its buckets, compute stream (BucketCopies)
            bwd = bwd + plan.bucket_copies.in_backward_s
        ready: list[np.ndarray] = []
        if j < backward_gathers:
            pieces = plan.backward_pieces
            starts = yield from zero3_pass(
                "backward", f"backward {j}", bwd, tp_bwd, pieces, plan.backward_gathered_bytes
            )
            if reduce_now and buckets:
                piece = (bwd + tp_bwd) / pieces
                cumulative = np.cumsum(buckets) / plan.gradient_bytes
                for fraction in cumulative:
                    p = min(pieces - 1, max(0, math.ceil(fraction * pieces - 1e-12) - 1))
                    at = starts[p] + (fraction * pieces - p) * piece
                    ready.append(at if plan.reduces_overlapped else clock.copy())
        else:
            start = clock
            compute_span("backward", f"backward {j}", bwd, tp_bwd)
            if reduce_now and buckets:
                ready.extend(bucket_ready(plan, start, bwd + tp_bwd, clock))
        if reduce_now and not plan.reduces_overlapped:
            ready = [np.maximum(at, clock) for at in ready]  # blocking: after the pass
        for i, (size, at) in enumerate(zip(buckets if reduce_now else [], ready, strict=True)):
            name = f"bucket {i}" if last else f"micro-batch {j} bucket {i}"
            # on a shared host DDP's buckets share the cores with the last backward until it ends (comm_rate)
            slowed = (clock.copy(), comm_rate) if comm_rate is not None and last and j >= backward_gathers else None
            hidden = plan.bucket_latency_s[i] if slowed is not None and plan.bucket_latency_s else 0.0
            reduced = yield Post(name, grad_op, size, at, i, slowed=slowed, hidden_latency_s=hidden)
            if hybrid:
                assert reduced is not None
                yield Post(f"{name} replica all-reduce", "allreduce", size / plan.shard_ranks, reduced, i, True)
        if reduce_now and not last and not plan.reduces_overlapped:
            clock = np.maximum(clock, (yield from _drained()))
        total += plan.tp_hidden_s
    reduced = yield from _drained()
    start = np.maximum(clock, reduced)
    span("idle", "waiting for gradient communication", clock, start)
    if (buckets or not communicate) and plan.bucket_copies.back_s:  # DDP's copies back (BucketCopies.back_end)
        copied = plan.bucket_copies.back_end(clock, start)
        compute[:] += copied - start
        span("optimizer", "DDP bucket copies back", start, copied)  # compute-stream work, not a pass
        start = copied
    end = start + plan.optimizer_s
    span("optimizer", "optimizer", start, end)
    if post_step_gather:
        if plan.overlap_param_gather:
            # the next step's first forward computes bucket by bucket as each gather lands (chunk by chunk)
            chunks = chunk_bucket_sizes(plan.param_bytes, plan.post_gather_piece, plan.chunks)
            gathers = overlapped_gathers(chunks, plan.stages, forward_s[:, 0] + tp_fwd, end)
            exposed = np.maximum(0.0, (yield from _posted(gathers)))
            # what delays a rank's next forward delays the next step only past that rank's slack: how much sooner
            # than the group's last rank it makes each of its gradient buckets ready (zero on even ranks, where
            # this is the exposure as before; a straggler's group: the fast ranks' exposure against their own
            # forward was the step's end, +14.1 % over the period the slowest rank sets)
            end = end + np.maximum(0.0, exposed - _slack(ready))
        else:
            for i, size in enumerate(plan.parameter_buckets):
                yield Post(f"parameter gather {i}", "all_gather", size, end, i)
            end = np.maximum(end, (yield from _drained()))
    if communicate and plan.post_step_broadcasts:  # torch's ZeroRedundancyOptimizer: _sync_params
        for i, size in enumerate(plan.post_step_broadcasts):
            yield Post(f"parameter broadcast {i}", "broadcast", size, end, i)
        end = np.maximum(end, (yield from _drained()))
    if plan.bubble_s > 0:
        span("bubble", "pipeline bubble", end, end + plan.bubble_s)
        end = end + plan.bubble_s
    if plan.p2p_total_s > 0:
        span("comm", "pipeline sends (exposed)", end, end + plan.p2p_exposed_s)
        end = end + plan.p2p_exposed_s
        comm[:] += plan.p2p_exposed_s
        total += plan.p2p_total_s
    if plan.tied_embedding_s > 0:
        span("comm", "tied embedding all-reduce", end, end + plan.tied_embedding_s)
        end = end + plan.tied_embedding_s
        comm[:] += plan.tied_embedding_s
        total += plan.tied_embedding_s
    return ProgramEnd(end, compute, comm, total)


def _slack(ready: list[np.ndarray]) -> np.ndarray | float:
    """Per rank, the least time by which it makes a gradient bucket ready before the group's last rank does
    (``ready``: each bucket's per-rank ready times): a delay to the rank's next step up to this leaves every
    reduction's start unchanged. Exactly 0 where every rank is ready at once."""
    if not ready:
        return 0.0
    return np.min([at.max() - at for at in ready], axis=0)


def _drained() -> Generator[Request, np.ndarray | None, np.ndarray]:
    """Wait for both streams (:class:`Drain`): per rank, when everything it posted is done."""
    drained = yield Drain()
    assert drained is not None
    return drained


def _posted(gathers: Generator[tuple[float, Any], Any, Any]) -> Generator[Request, np.ndarray | None, Any]:
    """Megatron's overlapped post-step gathers (:func:`dpsim.buckets.overlapped_gathers`) as the step's posts."""
    posted = itertools.count()
    try:
        size, ready = next(gathers)
        while True:
            i = next(posted)
            size, ready = gathers.send((yield Post(f"parameter gather {i}", "all_gather", size, ready, i)))
    except StopIteration as stop:
        return stop.value


class Ledger:
    """A group's collectives as :class:`StepOutcome` counts them, from each one's joins and completions."""

    def __init__(self, n: int, timeline: Timeline | None = None, algorithm: str = "") -> None:
        self.wait = np.zeros(n)
        self.comm = np.zeros(n)
        self.total = 0.0
        self.calls: list[tuple[str, float, float]] = []
        self.timeline = timeline
        self.algorithm = algorithm
        self.record = np.asarray(timeline.recorded if timeline is not None else [], dtype=int)

    def add(self, post: Post, joins: np.ndarray, done: np.ndarray) -> None:
        last = float(joins.max())
        self.wait += last - joins
        self.comm += np.maximum(0.0, done - last)
        self.total += max(0.0, float(done.max()) - last)
        self.calls.append((post.name, last, float(done.max())))
        if self.timeline is not None:  # what moved travels with the span (bytes, op, algorithm, bucket)
            args = {"bytes": post.size, "op": post.op, "algorithm": self.algorithm, "bucket": post.bucket}
            if self.timeline.comm_schedule:  # the span is the one stream's, not when this bucket itself ends
                args["drawn"] = self.timeline.comm_schedule
            joined, finished = joins[self.record], done[self.record]
            started = np.minimum(last, finished)
            self.timeline.add_span("wait", f"{post.name} (waiting for peers)", joined, started, args)
            self.timeline.add_span("comm", post.name, np.maximum(joined, started), finished, args)

    def outcome(self, plan: StepPlan, end: ProgramEnd) -> StepOutcome:
        """The step's outcome: the program's end and the collectives' counts; every rank waits for the slowest."""
        finish = float(end.end_s.max())
        if self.timeline is not None:
            record = self.record
            self.timeline.add_span(
                "idle", "waiting for the slowest worker", end.end_s[record], np.full(len(record), finish)
            )
        return StepOutcome(
            end_s=end.end_s,
            compute_s=end.compute_s,
            comm_s=self.comm + end.comm_s,
            wait_s=self.wait + (finish - end.end_s),
            optimizer_s=plan.optimizer_s,
            collective_s=self.total + end.collective_s,
            collectives=len(self.calls),
            bubble_s=plan.bubble_s,
            calls=self.calls,
        )


def run_step(
    plan: StepPlan,
    engine: CollectiveEngine,
    forward_s: np.ndarray,
    backward_s: np.ndarray,
    timeline: Timeline | None = None,
    log: Log | None = None,
    comm_rate: float | None = None,
) -> StepOutcome:
    """Simulate one step; ``forward_s``/``backward_s`` are (workers × micro-batches) times; ``log`` is sent
    every span of every rank (category, name, start, end), as the timeline records them.

    Drives :func:`step_program` over all ranks at once, each collective evaluated on the group's own
    network by ``engine`` (HYBRID_SHARD's shard and replica collectives in every group at once). At fast
    level HYBRID_SHARD's two streams are priced together where both are in flight, by the links each
    collective loads (:class:`dpsim.streams.TwoStreams`); at chunk level the simulator runs such a step on
    one network instead (:func:`dpsim.sim.shared.run_on_one_network`).
    """
    n = forward_s.shape[0]
    communicate = engine.cluster.world_size > 1
    ledger = Ledger(n, timeline, engine.algorithm)
    record = ledger.record
    hybrid = plan.shard_ranks > 0 and communicate
    shard, replica = Groups.hybrid(n, plan.shard_ranks) if hybrid else (None, None)
    streams = [np.zeros(n), np.zeros(n)]  # main, replica: when each rank finished its last collective there
    # the main stream's previous collective's start and the one's end before it (gloo_bucket_start)
    previous_start, earlier_end = np.full(n, -math.inf), np.full(n, -math.inf)

    def spans(category: str, name: str, start: np.ndarray, end: np.ndarray) -> None:
        if timeline is not None:
            timeline.add_span(category, name, np.broadcast_to(start, n)[record], np.broadcast_to(end, n)[record])
        if log is not None:
            log(category, name, start, end)

    # fast level: the two streams' collectives priced together while both are in flight (dpsim.streams), each
    # folded to start when its last rank joins; the replica stream's ends are known once the next drain comes
    two = TwoStreams() if hybrid and engine.fidelity == "fast" else None
    pending: list[Post] = []

    def answer(request: Request) -> np.ndarray:
        if two is not None:
            return concurrent(two, request)
        if isinstance(request, Drain):
            return np.maximum(streams[0], streams[1])
        nonlocal previous_start, earlier_end
        if request.hidden_latency_s > 0 and not request.replicas:
            joins = gloo_bucket_start(request.ready, previous_start, streams[0], earlier_end, request.hidden_latency_s)
        else:
            joins = np.maximum(request.ready, streams[request.replicas])
        done = engine.evaluate(request.op, request.size, joins, replica if request.replicas else shard)
        if request.slowed is not None:
            done = slowed_end(joins, done - joins, *request.slowed)
        ledger.add(request, joins, done)
        if not request.replicas:
            previous_start, earlier_end = joins, streams[0]
        streams[request.replicas] = done
        return done

    def concurrent(two: TwoStreams, request: Request) -> np.ndarray:
        if isinstance(request, Drain):
            two.drain()
            for post, (start, end) in zip(pending, two.second_spans[-len(pending) :] if pending else [], strict=True):
                ledger.add(post, np.full(n, start), np.full(n, end))
            pending.clear()
            streams[1] = np.full(n, two.second_free)
            return np.maximum(streams[0], streams[1])
        if request.replicas:
            two.second(engine.job(request.op, request.size, replica))
            pending.append(request)
            return np.zeros(n)
        joins = np.maximum(request.ready, streams[0])
        done = np.full(n, two.first(float(joins.max()), engine.job(request.op, request.size, shard)))
        ledger.add(request, joins, done)
        streams[0] = done
        return done

    logged = spans if timeline is not None or log is not None else None
    end = drive(step_program(plan, forward_s, backward_s, communicate, logged, 0.0, comm_rate), answer)
    return ledger.outcome(plan, end)
