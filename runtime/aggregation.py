"""Weighted gradient aggregation ``∇ℓ = Σₙ (Mₙ/M)·∇ℓₙ`` for DistributedDataParallel.

DDP's default all-reduce divides the summed gradients by the world size, i.e. it computes
the plain mean ``(1/N) Σₙ ∇ℓₙ``. That equals the full-batch gradient only when every rank
holds the same number of samples (seed document §4.2). With uneven shards — a weighted
partition for a heterogeneous cluster, or an unpadded split of ``M`` samples that ``N``
does not divide — each rank must instead contribute ``(Mₙ/M)·∇ℓₙ`` where ``ℓₙ`` is the
*mean* loss over its own ``Mₙ`` samples. :func:`weighted_allreduce_hook` does exactly
that: it scales the local bucket by ``Mₙ/M`` and all-reduces with ``SUM``.

Usage::

    ddp = DistributedDataParallel(model)
    register_weighted_aggregation(ddp, local_samples=len(my_shard))

With equal shards the weight is ``1/N`` and the result is DDP's plain mean. Gradient
accumulation with ``ddp.no_sync()`` is compatible: the hook scales the accumulated bucket
once, on the synchronising backward pass (scale each micro-batch loss so that the
accumulated gradient is ``∇ℓₙ``, e.g. ``loss.sum() / Mₙ``).
"""

# No ``from __future__ import annotations``: DDP.register_comm_hook compares the hook's
# annotations with ``dist.GradBucket`` and ``torch.futures.Future[torch.Tensor]`` as objects.

import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from dpsim.partition import aggregation_weights

# DDP without the per-forward buffer broadcast: torch >= 2.13 names it ``forward_sync_buffers``; older releases
# (2.11 on the GPU machines we checked) only know ``broadcast_buffers``, which also skips the one at construction
NO_BUFFER_SYNC: dict[str, Any] = (
    {"forward_sync_buffers": False}
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
    else {"broadcast_buffers": False}
)

__all__ = [
    "NO_BUFFER_SYNC",
    "WeightedAggregationState",
    "all_reduce_gradients_weighted",
    "local_aggregation_weight",
    "register_weighted_aggregation",
    "weighted_allreduce_hook",
]


@dataclass
class WeightedAggregationState:
    """State of :func:`weighted_allreduce_hook`: this rank's weight ``Mₙ/M`` and its group."""

    weight: float
    """``Mₙ/M``: the share of the global batch that this rank's gradient represents."""
    process_group: dist.ProcessGroup | None = None
    """Group to all-reduce over (``None``: the default group)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1] (it is Mₙ/M), got {self.weight!r}")


def local_aggregation_weight(local_samples: int, process_group: dist.ProcessGroup | None = None) -> float:
    """``Mₙ/M`` for this rank, learning ``M`` by all-gathering every rank's ``Mₙ`` (collective)."""
    if local_samples < 0:
        raise ValueError(f"local_samples must be >= 0, got {local_samples}")
    world = dist.get_world_size(process_group)
    sizes: list[int | None] = [None] * world
    dist.all_gather_object(sizes, int(local_samples), group=process_group)
    weights = aggregation_weights([int(s) for s in sizes if s is not None])
    return weights[dist.get_rank(process_group)]


def weighted_allreduce_hook(
    state: WeightedAggregationState, bucket: dist.GradBucket
) -> torch.futures.Future[torch.Tensor]:
    """DDP communication hook: all-reduce (SUM) of ``(Mₙ/M)·bucket``.

    Register with ``ddp.register_comm_hook(state, weighted_allreduce_hook)``. A rank with
    no samples (weight 0) contributes zeros, even if its local gradient is NaN (the mean
    over an empty batch).
    """
    tensor = bucket.buffer()
    if state.weight == 0.0:
        tensor.zero_()
    else:
        tensor.mul_(state.weight)
    work = dist.all_reduce(tensor, op=dist.ReduceOp.SUM, group=state.process_group, async_op=True)
    assert work is not None

    def _first(fut: torch.futures.Future[list[torch.Tensor]]) -> torch.Tensor:
        return fut.value()[0]

    return work.get_future().then(_first)


def register_weighted_aggregation(
    ddp_model: DistributedDataParallel,
    local_samples: int,
    process_group: dist.ProcessGroup | None = None,
) -> float:
    """Make ``ddp_model`` aggregate gradients as ``Σₙ (Mₙ/M)·∇ℓₙ``; returns this rank's ``Mₙ/M``.

    Collective: every rank of the group must call it with its own shard size.
    """
    weight = local_aggregation_weight(local_samples, process_group)
    ddp_model.register_comm_hook(WeightedAggregationState(weight, process_group), weighted_allreduce_hook)
    return weight


def all_reduce_gradients_weighted(
    parameters: Iterable[torch.nn.Parameter], weight: float, process_group: dist.ProcessGroup | None = None
) -> None:
    """The same aggregation without DDP: ``p.grad ← Σₙ (Mₙ/M)·p.grad`` for every parameter.

    For hand-written data parallelism (as in the seed document's worked example); one
    all-reduce per parameter, so use DDP for anything large.
    """
    for p in parameters:
        if p.grad is None:
            continue
        if weight == 0.0:
            p.grad.zero_()
        else:
            p.grad.mul_(weight)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM, group=process_group)
