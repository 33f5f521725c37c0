"""A ``torch.utils.data.Sampler`` that draws one rank's shard from :func:`dpsim.partition.partition`.

A drop-in for ``DistributedSampler`` that also offers contiguous and speed-weighted
shards, and that uses exactly the split the simulator assumes. Call
:meth:`DpsimSampler.set_epoch` before each epoch to reshuffle (as with
``DistributedSampler``); the split is a pure function of ``(seed, epoch)``, so all ranks
agree without communicating.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence, Sized

import torch.distributed as dist
from torch.utils.data import Sampler

from dpsim.partition import PartitionScheme, aggregation_weights, partition, shard_sizes

__all__ = ["DpsimSampler"]


class DpsimSampler(Sampler[int]):
    """Yields the indices of ``rank``'s shard of ``data`` for the current epoch.

    ``data`` is a sized data set or its length. ``num_replicas`` and ``rank`` default to
    the default process group's. ``shuffle=False`` keeps the natural order (the seed is
    then unused). ``drop_last`` and ``pad`` follow :func:`dpsim.partition.partition`;
    with ``pad=False`` or the ``weighted`` scheme the shards may differ in size, so
    aggregate gradients with :mod:`runtime.aggregation` (``aggregation_weight``).
    """

    def __init__(
        self,
        data: Sized | int,
        num_replicas: int | None = None,
        rank: int | None = None,
        scheme: PartitionScheme | str = "round_robin",
        weights: Sequence[float] | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        pad: bool = True,
    ) -> None:
        if num_replicas is None or rank is None:
            if not (dist.is_available() and dist.is_initialized()):
                raise ValueError("num_replicas and rank are needed when no default process group is initialised")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        self.num_samples_total = data if isinstance(data, int) else len(data)
        self.num_replicas = num_replicas
        self.rank = rank
        self.scheme = scheme
        self.weights = None if weights is None else list(weights)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.pad = pad
        self.epoch = 0
        # Validates every argument once, here, and fixes the sizes (they do not change with the epoch).
        self.shard_sizes = shard_sizes(
            self.num_samples_total, num_replicas, scheme, self.weights, drop_last=drop_last, pad=pad
        )

    @property
    def aggregation_weight(self) -> float:
        """``Mₙ/M`` of this rank, for :class:`runtime.aggregation.WeightedAggregationState`."""
        return aggregation_weights(self.shard_sizes)[self.rank]

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle of ``epoch`` (call before iterating each epoch)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def indices(self) -> list[int]:
        """This rank's indices for the current epoch."""
        shards = partition(
            self.num_samples_total,
            self.num_replicas,
            self.scheme,
            self.weights,
            seed=self.seed if self.shuffle else None,
            epoch=self.epoch,
            drop_last=self.drop_last,
            pad=self.pad,
        )
        return shards[self.rank]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return self.shard_sizes[self.rank]
