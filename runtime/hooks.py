"""DDP communication hooks that run the scenario's all-reduce and time every bucket.

``backend`` all-reduces with the process group's own ``dist.all_reduce`` (asynchronous).
On GPUs the times are CUDA events (:class:`Clock`): the bucket's *ready* event is recorded
on the compute stream when DDP hands the bucket over (its gradient kernels are queued
before it), the *end* event inside the all-reduce future's callback, which PyTorch runs
with the future's (NCCL's) stream current — so it completes when the all-reduce does. The
events are read after the step; nothing inside the step waits for them.
The point-to-point algorithms of :mod:`runtime.collectives` run on one communication
thread per rank, buckets in the order DDP hands them over (the same on every rank), so
backward computation continues while a bucket is being reduced — the overlap the
simulator models. Each bucket's (ready, start, end) times are recorded for
:mod:`runtime.measure`.

The hook is registered only where the scenario needs it (:func:`comm_hook_reason`): the point-to-point
algorithms, or ``communication.overlap: false``. Otherwise DDP runs without one, as plain PyTorch DDP does, whose
reducer then divides by the world size while copying each gradient into its bucket
(``Reducer::mark_variable_ready_dense``: ``at::mul_out(bucket_view, grad, 1/N)`` when ``comm_hook_ == nullptr``,
a plain ``bucket_view.copy_(grad)`` under a hook) and sums with the process group's own all-reduce
(``_AllReduceBySumCommHook``): this hook's ``buffer.mul_`` is a pass over every bucket that plain DDP does not make.
Without the hook :class:`LastGradient` marks when the synchronising backward's last gradient is ready (the last
bucket's handover); the buckets' own all-reduce times are not observable then.
"""

# No ``from __future__ import annotations``: DDP.register_comm_hook compares the hook's
# annotations with ``dist.GradBucket`` and ``torch.futures.Future[torch.Tensor]`` as objects.

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from runtime.collectives import all_reduce

__all__ = ["BucketTiming", "Clock", "CommHookState", "LastGradient", "comm_hook_reason", "timed_allreduce_hook"]


class Clock:
    """Time marks during a step: ``perf_counter`` on CPU; CUDA events on GPU, read after the step.

    :meth:`start` opens a step (its mark is the origin), :meth:`mark` records a point,
    :meth:`finish` waits once for the device after the step, :meth:`seconds` turns a mark
    into seconds since the origin. :meth:`elapsed_now` is for the rare reading needed
    *inside* a step (the straggler emulation): it synchronises on GPUs.
    """

    def __init__(self, cuda: bool = False) -> None:
        self.cuda = cuda
        self._origin: Any = None

    def mark(self) -> Any:
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def start(self) -> Any:
        self._origin = self.mark()
        return self._origin

    def finish(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def seconds(self, mark: Any) -> float:
        """Seconds from the step's origin to ``mark`` (after :meth:`finish` on GPUs)."""
        if not self.cuda:
            return float(mark - self._origin)
        return float(self._origin.elapsed_time(mark)) / 1e3

    def elapsed_now(self, since: Any) -> float:
        """Seconds from ``since`` to now (synchronises on GPUs)."""
        if not self.cuda:
            return time.perf_counter() - float(since)
        self.finish()
        return self.seconds(self.mark()) - self.seconds(since)


@dataclass(frozen=True)
class BucketTiming:
    """One bucket's all-reduce: when its gradients were ready, when it started and ended.

    Marks of the step's :class:`Clock` (perf_counter seconds on CPU, CUDA events on GPU);
    :meth:`resolved` gives seconds since the step's origin.
    """

    index: int
    size_bytes: int
    ready_s: Any
    start_s: Any
    end_s: Any
    ready_cpu_s: float = 0.0
    """CPU clock (``time.thread_time``) of the thread that handed the bucket over, then: on CPUs the
    thread running the backward (the autograd engine runs CPU work on the thread that called it)."""

    @property
    def duration_s(self) -> float:
        return float(self.end_s - self.start_s)

    def resolved(self, clock: Clock) -> "BucketTiming":
        return BucketTiming(self.index, self.size_bytes, clock.seconds(self.ready_s), clock.seconds(self.start_s),
                            clock.seconds(self.end_s), self.ready_cpu_s)  # fmt: skip


@dataclass
class CommHookState:
    """Algorithm, gradient scale (1/N, or Mₙ/M for weighted aggregation) and recorded timings."""

    algorithm: str
    scale: float
    per_node: int = 1
    timings: list[BucketTiming] = field(default_factory=list)
    executor: ThreadPoolExecutor | None = None
    on_ready: Callable[[int], None] | None = None
    """Called with the bucket index when a bucket is handed over (the job reports its phase)."""
    clock: Clock = field(default_factory=Clock)
    """Where bucket times come from (CUDA events on GPUs)."""
    overlap: bool = True
    """False: hold every bucket until the last is handed over, then reduce them in order
    (``communication.overlap: false``: no communication during the backward pass)."""
    pending: list[tuple[int, int, float, torch.Tensor, torch.futures.Future[torch.Tensor], float]] = field(
        default_factory=list
    )

    def __post_init__(self) -> None:
        if self.algorithm != "backend":
            self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dpsim-comm")

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)

    def take(self) -> list[BucketTiming]:
        """The timings recorded since the last call (one synchronising backward pass)."""
        out, self.timings = self.timings, []
        return out


def comm_hook_reason(scenario: Any, algorithm: str) -> str:
    """Why the runtime registers :func:`timed_allreduce_hook` on DDP for ``scenario`` run with ``algorithm`` (the
    job's: ``backend`` or a point-to-point one), or '' when plain DDP executes the scenario as it is.

    Weighted aggregation (unequal shards) needs no hook: the job folds ``N·Mₙ/M`` into the loss as under FSDP, and
    DDP's division by N gives ``Σₙ (Mₙ/M)·∇ℓₙ``. The runtime has no gradient compression or gradient dtype of its
    own that a hook would apply.
    """
    if algorithm != "backend":
        return f"the point-to-point {algorithm} all-reduce (runtime.collectives)"
    if not scenario.communication.overlap:
        return "communication.overlap: false (every bucket held until the last)"
    return ""


class LastGradient:
    """When the synchronising backward's last parameter gradient is accumulated: DDP without a hook hands its last
    bucket over right then (``Reducer::autograd_hook`` runs after ``AccumulateGrad``; the post-accumulate hook just
    before it). :meth:`arm` before that backward, :meth:`take` after: (clock mark, the thread's CPU time), or None
    if some parameter got no gradient. ``on_ready`` is called at that moment (the job reports its phase)."""

    def __init__(
        self, params: Sequence[torch.Tensor], clock: Clock, on_ready: Callable[[], None] | None = None
    ) -> None:
        self.clock, self.on_ready = clock, on_ready
        self.count = len(params)
        self._left = 0
        self._ready: tuple[Any, float] | None = None
        self.handles = [p.register_post_accumulate_grad_hook(self._accumulated) for p in params]

    def arm(self) -> None:
        self._left, self._ready = self.count, None

    def _accumulated(self, param: torch.Tensor) -> None:
        if self._left:
            self._left -= 1
            if not self._left:
                self._ready = (self.clock.mark(), time.thread_time())
                if self.on_ready is not None:
                    self.on_ready()

    def take(self) -> tuple[Any, float] | None:
        out, self._ready, self._left = self._ready, None, 0
        return out

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles, self.on_ready = [], None


def timed_allreduce_hook(state: CommHookState, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """Scale the bucket by ``state.scale`` and sum it over all ranks with ``state.algorithm``.

    With ``scale = Mₙ/M`` (:func:`dpsim.partition.aggregation_weights` of the shard sizes)
    the sum is the weighted aggregation ``Σₙ (Mₙ/M)·∇ℓₙ`` of :mod:`runtime.aggregation`; a
    rank with no samples (scale 0) contributes zeros, as there.
    """
    ready, ready_cpu = state.clock.mark(), time.thread_time()
    buffer = bucket.buffer()
    if state.scale == 0.0:
        buffer.zero_()
    else:
        buffer.mul_(state.scale)
    index, size = bucket.index(), buffer.numel() * buffer.element_size()
    with torch.profiler.record_function(f"dpsim: bucket {index} ready {size} B"):
        pass  # a marker for traces (dpsim.ingest.kineto): the profiler does not see the communication thread
    if state.on_ready is not None:
        state.on_ready(index)
    result: torch.futures.Future[torch.Tensor] = torch.futures.Future()
    if state.overlap:
        _launch(state, index, size, ready, buffer, result, ready_cpu)
        return result
    state.pending.append((index, size, ready, buffer, result, ready_cpu))
    if bucket.is_last():  # the backward pass is over: reduce everything held, in bucket order
        held, state.pending = sorted(state.pending, key=lambda p: p[0]), []
        for item in held:
            _launch(state, *item)
    return result


def _launch(
    state: CommHookState,
    index: int,
    size: int,
    ready: float,
    buffer: torch.Tensor,
    result: torch.futures.Future[torch.Tensor],
    ready_cpu: float = 0.0,
) -> None:
    """Start one bucket's all-reduce; ``result`` completes with the reduced buffer."""
    if state.executor is None:
        start = state.clock.mark() if not state.clock.cuda else ready
        work = dist.all_reduce(buffer, async_op=True)
        assert work is not None

        def done(fut: torch.futures.Future[list[torch.Tensor]]) -> None:
            # on GPUs this runs with the all-reduce's stream current: the event completes with it
            try:
                value = fut.value()[0]
            except Exception as exc:
                result.set_exception(exc)  # type: ignore[arg-type]
                return
            state.timings.append(BucketTiming(index, size, ready, start, state.clock.mark(), ready_cpu))
            result.set_result(value)

        work.get_future().then(done)
        return

    def reduce() -> None:
        try:
            start = time.perf_counter()
            all_reduce(buffer, state.algorithm, per_node=state.per_node)
            state.timings.append(BucketTiming(index, size, ready, start, time.perf_counter(), ready_cpu))
            result.set_result(buffer)
        except Exception as exc:  # surfaces in the training thread when DDP waits on the future
            result.set_exception(exc)  # type: ignore[arg-type]

    state.executor.submit(reduce)
