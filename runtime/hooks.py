"""DDP communication hooks that run the scenario's all-reduce and time every bucket.

``backend`` all-reduces with the process group's own ``dist.all_reduce`` (asynchronous).
The point-to-point algorithms of :mod:`runtime.collectives` run on one communication
thread per rank, buckets in the order DDP hands them over (the same on every rank), so
backward computation continues while a bucket is being reduced — the overlap the
simulator models. Each bucket's (ready, start, end) times are recorded for
:mod:`runtime.measure`.
"""

# No ``from __future__ import annotations``: DDP.register_comm_hook compares the hook's
# annotations with ``dist.GradBucket`` and ``torch.futures.Future[torch.Tensor]`` as objects.

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from runtime.collectives import all_reduce

__all__ = ["BucketTiming", "CommHookState", "timed_allreduce_hook"]


@dataclass(frozen=True)
class BucketTiming:
    """One bucket's all-reduce: when its gradients were ready, when it started and ended (perf_counter s)."""

    index: int
    size_bytes: int
    ready_s: float
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


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


def timed_allreduce_hook(state: CommHookState, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    """Scale the bucket by ``state.scale`` and sum it over all ranks with ``state.algorithm``.

    With ``scale = Mₙ/M`` (:func:`dpsim.partition.aggregation_weights` of the shard sizes)
    the sum is the weighted aggregation ``Σₙ (Mₙ/M)·∇ℓₙ`` of :mod:`runtime.aggregation`; a
    rank with no samples (scale 0) contributes zeros, as there.
    """
    ready = time.perf_counter()
    buffer = bucket.buffer()
    if state.scale == 0.0:
        buffer.zero_()
    else:
        buffer.mul_(state.scale)
    index, size = bucket.index(), buffer.numel() * buffer.element_size()
    if state.on_ready is not None:
        state.on_ready(index)
    if state.executor is None:
        start = time.perf_counter()
        work = dist.all_reduce(buffer, async_op=True)
        assert work is not None

        def done(fut: torch.futures.Future[list[torch.Tensor]]) -> torch.Tensor:
            state.timings.append(BucketTiming(index, size, ready, start, time.perf_counter()))
            return fut.value()[0]

        return work.get_future().then(done)

    result: torch.futures.Future[torch.Tensor] = torch.futures.Future()

    def reduce() -> None:
        try:
            start = time.perf_counter()
            all_reduce(buffer, state.algorithm, per_node=state.per_node)
            state.timings.append(BucketTiming(index, size, ready, start, time.perf_counter()))
            result.set_result(buffer)
        except Exception as exc:  # surfaces in the training thread when DDP waits on the future
            result.set_exception(exc)  # type: ignore[arg-type]

    state.executor.submit(reduce)
    return result
