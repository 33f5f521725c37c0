"""Pipelined double-binary-tree all-reduce over point-to-point sends (NCCL's tree algorithm).

The vector is split in two halves; each half is reduced to the root of a binary tree and
broadcast back down it, in pipelined chunks. The second tree uses the mirrored rank order,
so a rank that is an inner node of one tree is a leaf of the other and every rank sends
and receives about S per phase: ≈ 2·⌈log2 N⌉·α + 2·S/B (Sanders, Speck & Träff 2009;
NCCL ≥ 2.4). Heap-ordered trees (children of position i are 2i+1 and 2i+2). With 2 ranks
each tree is a single edge and the cost is S/B. Every receive of the reduce phase is posted
up front; the broadcast phase starts after a rank's reduce phase.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist

from runtime.collectives._p2p import split_sizes, wait_all

__all__ = ["tree_allreduce"]

CHUNK_BYTES = 128 * 1024
"""Pipelining granularity: smaller chunks shorten the pipeline fill, larger ones pay less α.

Without pipelining a binary tree costs ≈ 4–5·S/B on the emulated cluster; 128 KiB chunks
bring it to the double-binary-tree bound 2·S/B."""
MAX_CHUNKS = 256
"""Cap on chunks per tree (tags per tree: 2 × this); 64 MB all-reduces still use ≈ 128 KiB chunks."""


def tree_allreduce(tensor: torch.Tensor, ranks: Sequence[int], me: int, tag: int = 0) -> None:
    """In-place sum of a 1-D ``tensor`` over ``ranks``."""
    n = len(ranks)
    if n == 1:
        return
    element = tensor.element_size()
    halves = torch.split(tensor, split_sizes(tensor.numel(), 2))
    orders = (list(ranks), list(reversed(ranks)))
    plans = []
    for t, (half, order) in enumerate(zip(halves, orders, strict=True)):
        chunks = max(1, min(MAX_CHUNKS, half.numel() * element // CHUNK_BYTES))
        pos = order.index(me)
        parent = order[(pos - 1) // 2] if pos else None
        children = [order[c] for c in (2 * pos + 1, 2 * pos + 2) if c < n]
        pieces = list(torch.split(half, split_sizes(half.numel(), chunks)))
        base = tag + t * 2 * MAX_CHUNKS  # per tree: reduce tags, then broadcast tags
        plans.append((pieces, parent, children, base, chunks))
    # post every receive of the reduce phase up front so chunks pipeline through the tree
    reduce_bufs = []
    for pieces, _parent, children, base, _chunks in plans:
        bufs = [[torch.empty_like(p) for _ in children] for p in pieces]
        works = [
            [dist.irecv(b, src=c, tag=base + i) for b, c in zip(bs, children, strict=True)] for i, bs in enumerate(bufs)
        ]
        reduce_bufs.append((bufs, works))
    sends: list[dist.Work | None] = []
    bcast_recvs: list[list[dist.Work | None]] = []
    # reduce: per chunk, wait for the children, add, pass the partial sum up (a copy, since the
    # broadcast will overwrite the piece); interleave the two trees chunk by chunk
    max_chunks = max(plan[4] for plan in plans)
    for i in range(max_chunks):
        for (pieces, parent, _children, base, chunks), (bufs, works) in zip(plans, reduce_bufs, strict=True):
            if i >= chunks:
                continue
            wait_all(works[i])
            for b in bufs[i]:
                pieces[i].add_(b)
            if parent is not None:
                sends.append(dist.isend(pieces[i].clone(), dst=parent, tag=base + i))
    for pieces, parent, _children, base, chunks in plans:
        bcast_recvs.append(
            [
                dist.irecv(p, src=parent, tag=base + chunks + i) if parent is not None else None
                for i, p in enumerate(pieces)
            ]
        )
    for i in range(max_chunks):
        for (pieces, _parent, children, base, chunks), recvs in zip(plans, bcast_recvs, strict=True):
            if i >= chunks:
                continue
            wait_all([recvs[i]])
            sends.extend(dist.isend(pieces[i], dst=c, tag=base + chunks + i) for c in children)
    wait_all(sends)
