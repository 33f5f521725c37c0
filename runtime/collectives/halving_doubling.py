"""Recursive halving–doubling all-reduce (Rabenseifner) over point-to-point sends.

Reduce-scatter by recursive halving (log2 p steps, partner at distance p/2, p/4, …, 1,
each exchanging half of the current segment), then all-gather by recursive doubling in
reverse: 2·log2(p)·α + 2(p−1)/p·S/B. When N is not a power of two, the r = N − p extra
ranks first hand their whole vector to a partner and get the result back at the end
(Thakur, Rabenseifner & Gropp 2005 §4.4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from runtime.collectives._p2p import exchange

__all__ = ["halving_doubling_allreduce"]


def halving_doubling_allreduce(tensor: torch.Tensor, ranks: Sequence[int], me: int, tag: int = 0) -> None:
    """In-place sum of a 1-D ``tensor`` over ``ranks``."""
    n = len(ranks)
    if n == 1:
        return
    pos = ranks.index(me)
    p = 1 << (n.bit_length() - 1)
    extra = n - p
    # fold: position p + i sends everything to position i, which adds it
    if pos >= p:
        exchange(tensor, ranks[pos - p], None, None, tag)
        exchange(None, None, tensor, ranks[pos - p], tag)
        return
    if pos < extra:
        incoming = torch.empty_like(tensor)
        exchange(None, None, incoming, ranks[pos + p], tag)
        tensor.add_(incoming)
    lo, hi = 0, tensor.numel()
    segments: list[tuple[int, int, int, int]] = []  # (lo, hi, kept_lo, kept_hi) per step
    distance = p // 2
    buffer = torch.empty(tensor.numel() // 2 + 1, dtype=tensor.dtype, device=tensor.device)
    while distance >= 1:
        partner = pos ^ distance
        mid = lo + (hi - lo) // 2
        keep_low = pos < partner
        keep = (lo, mid) if keep_low else (mid, hi)
        give = (mid, hi) if keep_low else (lo, mid)
        incoming = buffer[: keep[1] - keep[0]]
        exchange(tensor[give[0] : give[1]], ranks[partner], incoming, ranks[partner], tag)
        tensor[keep[0] : keep[1]].add_(incoming)
        segments.append((lo, hi, *keep))
        lo, hi = keep
        distance //= 2
    distance = 1
    for seg_lo, seg_hi, keep_lo, keep_hi in reversed(segments):
        partner = pos ^ distance
        other = (keep_hi, seg_hi) if keep_lo == seg_lo else (seg_lo, keep_lo)
        exchange(tensor[keep_lo:keep_hi], ranks[partner], tensor[other[0] : other[1]], ranks[partner], tag)
        distance *= 2
    if pos < extra:
        exchange(tensor, ranks[pos + p], None, None, tag)
