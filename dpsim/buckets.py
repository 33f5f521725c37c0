"""Gradient buckets as PyTorch DDP builds them: one source of truth for both engines.

PyTorch (``torch/nn/parallel/distributed.py``, ``torch/csrc/distributed/c10d/reducer.cpp``):
after the first iteration the reducer rebuilds its buckets from the order in which gradients
became ready (the reverse of the order parameters are used, for a sequential model the reverse
of registration order, so the input embedding is ready last) with
``compute_bucket_assignment_by_size(params, [first_bucket_bytes_cap, bucket_bytes_cap])``:
tensors are appended to the open bucket one by one, never split, and the bucket closes as soon
as it holds at least the current limit; the first bucket's limit is
``dist._DEFAULT_FIRST_BUCKET_BYTES`` (1 MiB) when ``bucket_cap_mb`` is left at its default
(25 MiB), else the bucket cap itself, and every later bucket's is the cap.

:func:`ddp_bucket_layout` is that assignment for a list of tensors (tested against
``DistributedDataParallel``'s own buckets in ``tests/test_buckets.py``). The engines see the
gradient as a byte stream produced uniformly during backward (they do not track tensors), for
which the same rule gives :func:`bucket_sizes`: the first bucket, full buckets, the remainder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "DEFAULT_BUCKET_BYTES",
    "DEFAULT_FIRST_BUCKET_BYTES",
    "bucket_sizes",
    "ddp_bucket_layout",
    "first_bucket_bytes",
    "overlapped_bytes",
    "traced_buckets",
]

DEFAULT_BUCKET_BYTES = 25 * 2**20
"""DDP's default ``bucket_cap_mb`` = 25 (MiB)."""

DEFAULT_FIRST_BUCKET_BYTES = 2**20
"""``torch.distributed._DEFAULT_FIRST_BUCKET_BYTES``: 1 MiB."""


def first_bucket_bytes(bucket_bytes: float, first: float | None = None) -> float:
    """DDP's first-bucket limit: ``first`` if given, 1 MiB with the default cap, else the cap."""
    if first is not None:
        return first
    return float(DEFAULT_FIRST_BUCKET_BYTES) if bucket_bytes == DEFAULT_BUCKET_BYTES else bucket_bytes


def ddp_bucket_layout(
    tensor_bytes: Sequence[float],
    bucket_bytes: float = DEFAULT_BUCKET_BYTES,
    first_bucket: float | None = None,
    *,
    ready_order: Sequence[int] | None = None,
) -> list[list[int]]:
    """Buckets of tensor indices, in the order they are reduced (first ready first).

    ``tensor_bytes`` are the gradients' sizes in registration order (``model.parameters()``);
    ``ready_order`` the order their gradients become ready (default: reverse registration order).
    A tensor is never split; a bucket closes once it holds at least its limit.
    """
    order = list(ready_order) if ready_order is not None else list(range(len(tensor_bytes)))[::-1]
    limits = [first_bucket_bytes(bucket_bytes, first_bucket), bucket_bytes]
    buckets: list[list[int]] = []
    current: list[int] = []
    size = 0.0
    for index in order:
        current.append(index)
        size += tensor_bytes[index]
        if size >= limits[min(len(buckets), 1)]:
            buckets.append(current)
            current, size = [], 0.0
    if current:
        buckets.append(current)
    return buckets


def traced_buckets(
    curve: Sequence[tuple[float, float]], total_bytes: float, bucket_bytes: float, first_bucket: float | None = None
) -> tuple[list[float], list[float]]:
    """DDP's buckets of the tensors a profiler trace saw, and when each is ready (fraction of the backward).

    ``curve`` is :func:`dpsim.ingest.kineto.ready_curve`'s: one point per parameter, in the
    order the gradients became ready, (cumulative fraction of the gradient bytes, fraction of
    the backward elapsed). Each parameter is a tensor of its share of ``total_bytes``;
    :func:`ddp_bucket_layout` groups them as DDP does — a tensor is never split, so a
    parameter larger than the bucket cap (a large vocabulary's embedding) is one bucket and
    one collective, not ``size / cap`` of them. A bucket is ready with its last tensor.
    """
    if total_bytes <= 0 or not curve:
        return [], []
    shares = [x - prev for prev, x in zip([0.0, *(x for x, _ in curve[:-1])], (x for x, _ in curve), strict=True)]
    tensors = [max(0.0, share) * total_bytes for share in shares]
    shrink = 1.0 - 1e-9  # sizes rebuilt from fractions: a tensor of exactly the cap must close its bucket
    first = first_bucket_bytes(bucket_bytes, first_bucket)
    layout = ddp_bucket_layout(tensors, bucket_bytes * shrink, first * shrink, ready_order=range(len(tensors)))
    sizes = [sum(tensors[i] for i in bucket) for bucket in layout]
    fractions = [float(curve[max(bucket)][1]) for bucket in layout]
    keep = [i for i, size in enumerate(sizes) if size > 0]
    return [sizes[i] for i in keep], [fractions[i] for i in keep]


def overlapped_bytes(bucket_bytes: Sequence[float], ready_fractions: Sequence[float]) -> float:
    """Bytes of the buckets ready before the backward ends: the communication that overlaps it.

    With the uniform rate (``ready_fractions`` cumulative) all buckets but the last; with a
    measured curve, those the trace shows ready before the end.
    """
    return float(sum(b for b, f in zip(bucket_bytes, ready_fractions, strict=True) if f < 1.0 - 1e-12))


def bucket_sizes(total_bytes: float, bucket_bytes: float, first_bucket: float | None = None) -> list[float]:
    """Bucket sizes, in reduction order, of a gradient stream too fine to show tensor boundaries.

    :func:`ddp_bucket_layout`'s rule in the limit of small tensors: the first bucket
    (:func:`first_bucket_bytes`), then full buckets, then the remainder.
    """
    if total_bytes <= 0:
        return []
    first = min(first_bucket_bytes(bucket_bytes, first_bucket), total_bytes)
    rest_total = total_bytes - first
    full = math.floor(rest_total / bucket_bytes) if rest_total > 0 else 0
    rest = rest_total - full * bucket_bytes
    sizes = [first]
    sizes.extend([bucket_bytes] * full)
    if rest > 0:
        sizes.append(rest)
    return sizes
