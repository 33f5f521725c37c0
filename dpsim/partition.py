"""Splitting a data set (or one global batch) across data-parallel workers.

This is Step 1 of the seed document's algorithm (§3.2, "数据切分": round-robin over the
workers) plus the two variants a real cluster needs: contiguous blocks, and shards
proportional to worker speed for heterogeneous clusters. The shard sizes ``Mₙ`` decide
how the gradients must be combined (§4.2)::

    ∇ℓ(w) = Σₙ (Mₙ/M) · ∇ℓₙ(w),   ℓₙ = (1/Mₙ) Σ_{i∈Dₙ} L(f(xᵢ, w), yᵢ)

which is the plain mean ``(1/N) Σₙ ∇ℓₙ`` only when every ``Mₙ = M/N``
(:func:`aggregation_weights`).

Schemes
-------
``round_robin``
    Rank ``r`` takes positions ``r, r+N, r+2N, …`` of the (optionally shuffled) order
    (the seed document's Step 1; also what ``torch.utils.data.DistributedSampler`` does).
``contiguous``
    Rank ``r`` takes one contiguous block of the order; the first ``M mod N`` ranks take
    one sample more (the split of ``numpy.array_split``). With ``pad=True`` every block
    has ``⌈M/N⌉`` samples. This is the split of the seed document's worked example (§4.3).
``weighted``
    Rank ``r`` takes a contiguous block whose size is proportional to ``weights[r]``
    (e.g. worker speeds, so that all workers finish their shard at the same time),
    rounded with the largest-remainder (Hamilton) method: every size is the floor of its
    exact quota ``M·wᵣ/Σw`` or one more, and the sizes sum to ``M`` exactly. Ties in the
    remainders go to the lower rank. Weighted shards are never padded or truncated:
    ``drop_last`` and ``pad`` are ignored and every sample is assigned exactly once.

Padding and dropping (``round_robin`` and ``contiguous`` only), with ``M`` samples and
``N`` ranks:

* ``drop_last=True``: the order is truncated to its first ``⌊M/N⌋·N`` entries (the
  ``M mod N`` last ones, after shuffling, are unused this epoch); every rank gets
  ``⌊M/N⌋`` samples, each sample at most once.
* ``drop_last=False, pad=True`` (default, as ``DistributedSampler``): the order is
  extended to ``⌈M/N⌉·N`` entries by repeating it from its start, cyclically
  (``order + order[:pad]``, or several copies when ``pad > M``); every rank gets
  ``⌈M/N⌉`` samples. With ``T = ⌈M/N⌉·N`` entries in all, every sample appears
  ``⌊T/M⌋`` or ``⌈T/M⌉`` times; for ``M ≥ N`` that is once, except the first ``T − M``
  entries of the order, which appear twice.
* ``drop_last=False, pad=False``: no sample is repeated or dropped; the shards differ in
  size by at most one (the first ``M mod N`` ranks have one more), so the gradients must
  be combined with :func:`aggregation_weights`, not with the plain mean.

With ``M = 0`` every shard is empty (there is nothing to pad with).

Shuffling: ``seed=None`` keeps the natural order ``0 … M−1``. An integer seed shuffles
with ``numpy.random.default_rng([seed, epoch])`` — a fresh Generator per call, no global
random state — so the split is a pure function of its arguments: the same on every rank
(no communication needed) and different from epoch to epoch, as with
``DistributedSampler.set_epoch``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Final, Literal, get_args

import numpy as np

__all__ = [
    "EQUAL_SCHEMES",
    "SCHEMES",
    "PartitionScheme",
    "aggregation_weights",
    "partition",
    "shard_sizes",
    "speed_weights",
    "step_shards",
]

PartitionScheme = Literal["round_robin", "contiguous", "weighted"]
"""Names of the partitioning schemes (also the values of ``training.partition`` in a scenario)."""

SCHEMES: Final[tuple[str, ...]] = get_args(PartitionScheme)
"""All scheme names."""

EQUAL_SCHEMES: Final[frozenset[str]] = frozenset({"round_robin", "contiguous"})
"""Schemes that aim at equal shards and therefore obey ``drop_last`` and ``pad``."""


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_args(
    num_samples: object, world_size: object, scheme: object, weights: Sequence[float] | None
) -> tuple[int, int, list[float] | None]:
    m = _check_int("num_samples", num_samples, 0)
    n = _check_int("world_size", world_size, 1)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown partition scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    if scheme != "weighted":
        if weights is not None:
            raise ValueError(f"weights are only used by the 'weighted' scheme, not by {scheme!r}")
        return m, n, None
    if weights is None:
        raise ValueError("the 'weighted' scheme needs weights (one positive number per rank, e.g. worker speeds)")
    w = [float(x) for x in weights]
    if len(w) != n:
        raise ValueError(f"weights must have one entry per rank: got {len(w)} for world_size {n}")
    for rank, x in enumerate(w):
        if not math.isfinite(x) or x <= 0.0:
            raise ValueError(f"weights must be finite and > 0, got weights[{rank}] = {x!r}")
    return m, n, w


def _largest_remainder(num_samples: int, weights: Sequence[float]) -> list[int]:
    """Hamilton apportionment of ``num_samples`` by ``weights``, in exact rational arithmetic.

    Exact fractions (a float is an exact binary rational) make the floors and the
    comparison of remainders free of rounding, so ``|size − quota| < 1`` always holds.
    """
    exact = [Fraction(x) for x in weights]
    total = sum(exact, Fraction(0))
    quotas = [num_samples * x / total for x in exact]
    sizes = [math.floor(q) for q in quotas]
    left = num_samples - sum(sizes)
    # Largest fractional part first; ties go to the lower rank (sorted() is stable).
    order = sorted(range(len(quotas)), key=lambda r: quotas[r] - sizes[r], reverse=True)
    for rank in order[:left]:
        sizes[rank] += 1
    return sizes


def _sizes(m: int, n: int, scheme: str, weights: list[float] | None, drop_last: bool, pad: bool) -> list[int]:
    if scheme == "weighted":
        assert weights is not None
        return _largest_remainder(m, weights)
    if drop_last:
        return [m // n] * n
    if pad and m > 0:
        return [-(-m // n)] * n
    return [m // n + (1 if r < m % n else 0) for r in range(n)]


def shard_sizes(
    num_samples: int,
    world_size: int,
    scheme: PartitionScheme | str = "round_robin",
    weights: Sequence[float] | None = None,
    *,
    drop_last: bool = False,
    pad: bool = True,
) -> list[int]:
    """Number of samples ``Mₙ`` each rank gets, without building the index lists.

    Equal to ``[len(s) for s in partition(...)]`` for the same arguments (shuffling does
    not change sizes), in O(N) time. The simulator uses it to scale each worker's compute
    time with its shard. Raises ``ValueError`` on bad arguments, like :func:`partition`.
    """
    m, n, w = _check_args(num_samples, world_size, scheme, weights)
    return _sizes(m, n, str(scheme), w, drop_last, pad)


def _order(m: int, seed: int | None, epoch: int) -> np.ndarray:
    if seed is None:
        return np.arange(m, dtype=np.int64)
    rng = np.random.default_rng([seed, epoch])
    return rng.permutation(m).astype(np.int64)


def partition(
    num_samples: int,
    world_size: int,
    scheme: PartitionScheme | str = "round_robin",
    weights: Sequence[float] | None = None,
    seed: int | None = None,
    epoch: int = 0,
    drop_last: bool = False,
    *,
    pad: bool = True,
) -> list[list[int]]:
    """Sample indices for each rank: ``result[rank]`` is the list that rank processes.

    See the module docstring for the schemes and the exact ``drop_last``/``pad`` rules.
    ``seed=None`` keeps the natural order; an integer seed shuffles per ``epoch``
    deterministically. Raises ``ValueError`` for ``world_size < 1``, ``num_samples < 0``,
    an unknown scheme, weights given to a non-weighted scheme, or weights that are
    missing, of the wrong length, non-positive or non-finite.
    """
    m, n, w = _check_args(num_samples, world_size, scheme, weights)
    if seed is not None:
        seed = _check_int("seed", seed, 0)
    epoch = _check_int("epoch", epoch, 0)
    sizes = _sizes(m, n, str(scheme), w, drop_last, pad)
    order = _order(m, seed, epoch)
    total = sum(sizes)
    if total < m:
        order = order[:total]
    elif total > m:
        # Cyclic repetition from the start, as DistributedSampler pads.
        order = np.resize(order, total)
    if scheme == "round_robin":
        return [order[r::n].tolist() for r in range(n)]
    bounds = np.concatenate(([0], np.cumsum(sizes)))
    return [order[bounds[r] : bounds[r + 1]].tolist() for r in range(n)]


def aggregation_weights(sizes: Sequence[int]) -> list[float]:
    """The weights ``Mₙ/M`` of the seed document's §4.2: ``∇ℓ = Σₙ (Mₙ/M)·∇ℓₙ``.

    ``sizes`` are the shard sizes (padded duplicates count as samples, since they enter
    the loss). The weights sum to one; with equal sizes they are all ``1/N`` and the
    aggregation is the plain mean. Raises ``ValueError`` for an empty list, a negative
    or non-integer size, or a total of zero.
    """
    checked = [_check_int(f"sizes[{i}]", s, 0) for i, s in enumerate(sizes)]
    if not checked:
        raise ValueError("sizes must not be empty")
    total = sum(checked)
    if total == 0:
        raise ValueError("sizes sum to zero: there are no samples to weight")
    return [s / total for s in checked]


def speed_weights(slowdowns: Sequence[float], scheme: PartitionScheme | str) -> list[float] | None:
    """Shard weights of the ``weighted`` scheme: each rank's speed ``1/slowdown``; None for the others."""
    for rank, s in enumerate(slowdowns):
        if not math.isfinite(s) or s <= 0.0:
            raise ValueError(f"slowdowns must be finite and > 0, got slowdowns[{rank}] = {s!r}")
    return [1.0 / s for s in slowdowns] if scheme == "weighted" else None


def step_shards(
    micro_batch: int,
    slowdowns: Sequence[float],
    accumulation_steps: int = 1,
    scheme: PartitionScheme | str = "round_robin",
) -> list[list[int]]:
    """Indices of one optimizer step's global batch that each data-parallel rank processes.

    The global batch of ``M = k·N·b`` samples (``k`` accumulation steps, ``N =
    len(slowdowns)`` ranks, micro-batch ``b``) is ``k`` consecutive blocks of ``N·b``
    samples, one per micro-step; block ``j`` is split with :func:`partition` (natural
    order) and shifted by ``j·N·b``. The ``weighted`` scheme weighs rank ``r`` by its
    speed ``1/slowdowns[r]`` (stragglers get fewer samples, all finish together). So rank
    ``r`` processes ``Mᵣ = k · shard_sizes(N·b, N, scheme, weights)[r]`` samples per step —
    the per-micro-step split the simulator assumes (:func:`dpsim.sim.worker.worker_samples`)
    — every index of ``0 … M−1`` exactly once over all ranks (``N·b`` is a multiple of
    ``N``, so the equal schemes never pad). The runtime takes its synthetic samples by these
    global indices and weighs the gradients with :func:`aggregation_weights` of the sizes.
    """
    b = _check_int("micro_batch", micro_batch, 1)
    k = _check_int("accumulation_steps", accumulation_steps, 1)
    n = len(slowdowns)
    if n < 1:
        raise ValueError("slowdowns must have one entry per data-parallel rank")
    block = partition(n * b, n, scheme, speed_weights(slowdowns, scheme))
    return [[j * n * b + i for j in range(k) for i in block[rank]] for rank in range(n)]
