"""Pipelined double-binary-tree all-reduce over point-to-point sends (NCCL's tree algorithm).

The vector is split in two halves; each half is reduced to the root of a binary tree and
broadcast back down it, in pipelined chunks. The second tree uses the mirrored rank order,
so a rank that is an inner node of one tree is a leaf of the other and every rank sends
and receives about S per phase: ≈ 2·⌈log2 N⌉·α + 2·S/B (Sanders, Speck & Träff 2009;
NCCL ≥ 2.4). Heap-ordered trees (children of position i are 2i+1 and 2i+2). With 2 ranks
each tree is a single edge and the cost is S/B.

Progress is event-driven on both trees at once: every receive — the children's partial
sums of the reduce phase and the parent's results of the broadcast phase, for every chunk
— is posted before anything is sent, and a progress loop then advances whichever tree has
a completed receive: a chunk whose children have all arrived is added and passed up at
once, and a chunk the parent has broadcast is passed down at once (the root starts
broadcasting a chunk as soon as its reduction completes). Neither tree waits for the
other, and the broadcast streams behind the reduce instead of starting after it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from runtime.collectives._p2p import split_sizes, wait_all

__all__ = ["tree_allreduce"]

CHUNK_BYTES = 128 * 1024
"""Pipelining granularity: smaller chunks shorten the pipeline fill, larger ones pay less α."""
MAX_CHUNKS = 256
"""Cap on chunks per tree (tags per tree: 2 × this); 64 MB all-reduces still use ≈ 128 KiB chunks."""
POLL_S = 50e-6
"""Sleep between polls when no receive has completed (yields the core to computing ranks)."""


@dataclass
class _Tree:
    """One tree's half of the vector, this rank's place in it and its progress."""

    pieces: list[torch.Tensor]
    parent: int | None
    children: list[int]
    base: int
    reduce_bufs: list[list[torch.Tensor]] = field(default_factory=list)
    reduce_recvs: list[list[dist.Work | None]] = field(default_factory=list)
    bcast_recvs: list[dist.Work | None] = field(default_factory=list)
    reduced: int = 0
    """Chunks reduced (and passed up) so far."""
    broadcast: int = 0
    """Chunks passed down so far."""

    @property
    def chunks(self) -> int:
        return len(self.pieces)

    @property
    def done(self) -> bool:
        return self.reduced == self.chunks and self.broadcast == self.chunks

    def post_receives(self) -> None:
        for i, piece in enumerate(self.pieces):
            bufs = [torch.empty_like(piece) for _ in self.children]
            self.reduce_bufs.append(bufs)
            self.reduce_recvs.append(
                [dist.irecv(b, src=c, tag=self.base + i) for b, c in zip(bufs, self.children, strict=True)]
            )
            parent = self.parent
            self.bcast_recvs.append(
                dist.irecv(piece, src=parent, tag=self.base + self.chunks + i) if parent is not None else None
            )

    def advance(self, sends: list[dist.Work | None]) -> bool:
        """Do every step whose receives have completed; True if anything happened."""
        moved = False
        while self.reduced < self.chunks and all(
            w is None or w.is_completed() for w in self.reduce_recvs[self.reduced]
        ):
            i = self.reduced
            wait_all(self.reduce_recvs[i])  # surfaces errors; returns at once
            for b in self.reduce_bufs[i]:
                self.pieces[i].add_(b)
            if self.parent is not None:  # a copy: the broadcast will overwrite the piece
                sends.append(dist.isend(self.pieces[i].clone(), dst=self.parent, tag=self.base + i))
            self.reduced += 1
            moved = True
        limit = self.reduced if self.parent is None else self.chunks
        while self.broadcast < limit:
            i = self.broadcast
            recv = self.bcast_recvs[i]
            if recv is not None:
                if not recv.is_completed():
                    break
                recv.wait()
            sends.extend(dist.isend(self.pieces[i], dst=c, tag=self.base + self.chunks + i) for c in self.children)
            self.broadcast += 1
            moved = True
        return moved


def tree_allreduce(tensor: torch.Tensor, ranks: Sequence[int], me: int, tag: int = 0) -> None:
    """In-place sum of a 1-D ``tensor`` over ``ranks``."""
    n = len(ranks)
    if n == 1:
        return
    element = tensor.element_size()
    halves = torch.split(tensor, split_sizes(tensor.numel(), 2))
    orders = (list(ranks), list(reversed(ranks)))
    trees = []
    for t, (half, order) in enumerate(zip(halves, orders, strict=True)):
        chunks = max(1, min(MAX_CHUNKS, half.numel() * element // CHUNK_BYTES))
        pos = order.index(me)
        parent = order[(pos - 1) // 2] if pos else None
        children = [order[c] for c in (2 * pos + 1, 2 * pos + 2) if c < n]
        pieces = list(torch.split(half, split_sizes(half.numel(), chunks)))
        trees.append(_Tree(pieces, parent, children, tag + t * 2 * MAX_CHUNKS))
    for tree in trees:
        tree.post_receives()
    sends: list[dist.Work | None] = []
    while not all(tree.done for tree in trees):
        moved = False
        for tree in trees:
            moved = tree.advance(sends) or moved
        if not moved:
            time.sleep(POLL_S)
    wait_all(sends)
