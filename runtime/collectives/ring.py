"""Ring all-reduce over point-to-point sends: reduce-scatter then all-gather.

N−1 steps of each phase, every rank sending S/N to its right neighbour and receiving S/N
from its left one: 2(N−1)·α + 2(N−1)/N·S/B (Patarasuk & Yuan 2009; Thakur et al. 2005 §4).
``ranks`` are global ranks of the ring (a sub-ring for the hierarchical algorithm).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from runtime.collectives._p2p import exchange, split_sizes

__all__ = ["ring_all_gather", "ring_allreduce", "ring_reduce_scatter"]


def _chunks(tensor: torch.Tensor, parts: int) -> list[torch.Tensor]:
    return list(torch.split(tensor, split_sizes(tensor.numel(), parts)))


def ring_reduce_scatter(tensor: torch.Tensor, ranks: Sequence[int], me: int, tag: int = 0) -> int:
    """Sum ``tensor`` over ``ranks`` so that chunk ``i`` of the returned index is complete on this rank.

    ``me`` is this rank's global rank. Returns the position of the chunk this rank owns
    (its position in ``ranks`` plus one, modulo N: standard ring bookkeeping).
    """
    n = len(ranks)
    pos = ranks.index(me)
    if n == 1:
        return pos
    chunks = _chunks(tensor, n)
    right, left = ranks[(pos + 1) % n], ranks[(pos - 1) % n]
    buffer = torch.empty(max(c.numel() for c in chunks), dtype=tensor.dtype, device=tensor.device)
    for step in range(n - 1):
        send_idx = (pos - step) % n
        recv_idx = (pos - step - 1) % n
        incoming = buffer[: chunks[recv_idx].numel()]
        exchange(chunks[send_idx], right, incoming, left, tag)
        chunks[recv_idx].add_(incoming)
    return (pos + 1) % n


def ring_all_gather(tensor: torch.Tensor, ranks: Sequence[int], me: int, tag: int = 0) -> None:
    """Complete every chunk of ``tensor`` from the rank owning it after :func:`ring_reduce_scatter`."""
    n = len(ranks)
    pos = ranks.index(me)
    if n == 1:
        return
    chunks = _chunks(tensor, n)
    right, left = ranks[(pos + 1) % n], ranks[(pos - 1) % n]
    for step in range(n - 1):
        send_idx = (pos + 1 - step) % n
        recv_idx = (pos - step) % n
        exchange(chunks[send_idx], right, chunks[recv_idx], left, tag)


def ring_allreduce(tensor: torch.Tensor, ranks: Sequence[int], me: int, tag: int = 0) -> None:
    """In-place sum of a 1-D ``tensor`` over ``ranks`` with the ring algorithm."""
    ring_reduce_scatter(tensor, ranks, me, tag)
    ring_all_gather(tensor, ranks, me, tag)
