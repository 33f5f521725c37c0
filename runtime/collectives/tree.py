"""Pipelined double-binary-tree all-reduce over point-to-point sends (NCCL's tree algorithm).

The vector is split in two halves; each half is reduced to the root of a binary tree and
broadcast back down it, in pipelined chunks. The two trees are NCCL's own
(``src/graph/trees.cc`` ``ncclGetDtree`` over the ranks' positions:
:func:`dpsim.sim.collectives.nccl.dtree_parents`, the schedule the engines and the link fit
price): tree 0 is ``ncclGetBtree``, tree 1 its mirror (N even) or its shift by one (N odd).
A rank sends S/2 per tree edge it has, each way: at most 2·S (S at 2 ranks, 1.5·S at 3, 2·S
on the busiest ranks from 4 on), ≈ 2·⌈log2 N⌉·α + 2·S/B (Sanders, Speck & Träff 2009;
NCCL ≥ 2.4).

Progress is event-driven on both trees at once: every receive — the children's partial
sums of the reduce phase and the parent's results of the broadcast phase, for every chunk
— is posted before anything is sent; then each tree runs two threads, one reducing (wait
for a chunk's children, add, pass it up) and one broadcasting (wait for the parent's chunk,
or at the root for its reduction, pass it down). Each thread blocks only on the receive it
needs next (gloo completes a receive only when it is waited on, so polling cannot replace
waiting), so neither tree waits for the other and the broadcast streams behind the reduce
chunk by chunk instead of starting after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist

from dpsim.sim.collectives.nccl import dtree_parents
from runtime.collectives._p2p import split_sizes, wait_all

__all__ = ["tree_allreduce", "tree_roles"]

CHUNK_BYTES = 128 * 1024
"""Pipelining granularity: smaller chunks shorten the pipeline fill, larger ones pay less α."""
MAX_CHUNKS = 256
"""Cap on chunks per tree (tags per tree: 2 × this); 64 MB all-reduces still use ≈ 128 KiB chunks."""


@dataclass
class _Tree:
    """One tree's half of the vector and this rank's place in it."""

    pieces: list[torch.Tensor]
    parent: int | None
    children: list[int]
    base: int
    reduce_bufs: list[list[torch.Tensor]] = field(default_factory=list)
    reduce_recvs: list[list[dist.Work | None]] = field(default_factory=list)
    bcast_recvs: list[dist.Work | None] = field(default_factory=list)
    reduced: list[threading.Event] = field(default_factory=list)
    sends: list[dist.Work | None] = field(default_factory=list)

    @property
    def chunks(self) -> int:
        return len(self.pieces)

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
            self.reduced.append(threading.Event())

    def reduce(self) -> None:
        """Chunk by chunk: wait for the children's partial sums, add, pass the sum up (a copy: the broadcast
        overwrites the piece)."""
        up: list[dist.Work | None] = []
        for i, piece in enumerate(self.pieces):
            wait_all(self.reduce_recvs[i])
            for b in self.reduce_bufs[i]:
                piece.add_(b)
            if self.parent is not None:
                up.append(dist.isend(piece.clone(), dst=self.parent, tag=self.base + i))
            self.reduced[i].set()
        wait_all(up)

    def broadcast(self) -> None:
        """Chunk by chunk: wait for the result (from the parent, or the root's own reduction), pass it down."""
        down: list[dist.Work | None] = []
        for i, piece in enumerate(self.pieces):
            recv = self.bcast_recvs[i]
            if recv is None:
                self.reduced[i].wait()
            else:
                recv.wait()
            down.extend(dist.isend(piece, dst=c, tag=self.base + self.chunks + i) for c in self.children)
        wait_all(down)


def tree_roles(ranks: Sequence[int], me: int) -> list[tuple[int | None, list[int]]]:
    """``me``'s (parent, children) in each of the two trees: NCCL's double binary tree over the positions of ``ranks``.

    ``ncclGetDtree`` (:func:`dpsim.sim.collectives.nccl.dtree_parents`, the one description of the schedule):
    children in ascending position. A rank sends (and receives) S/2 per tree edge it has.
    """
    n = len(ranks)
    pos = list(ranks).index(me)
    roles: list[tuple[int | None, list[int]]] = []
    for parents in dtree_parents(n):
        parent = int(parents[pos])
        roles.append((ranks[parent] if parent >= 0 else None, [ranks[int(c)] for c in np.flatnonzero(parents == pos)]))
    return roles


def tree_allreduce(tensor: torch.Tensor, ranks: Sequence[int], me: int, tag: int = 0) -> None:
    """In-place sum of a 1-D ``tensor`` over ``ranks``."""
    n = len(ranks)
    if n == 1:
        return
    element = tensor.element_size()
    halves = torch.split(tensor, split_sizes(tensor.numel(), 2))
    trees = []
    for t, (half, (parent, children)) in enumerate(zip(halves, tree_roles(ranks, me), strict=True)):
        chunks = max(1, min(MAX_CHUNKS, half.numel() * element // CHUNK_BYTES))
        pieces = list(torch.split(half, split_sizes(half.numel(), chunks)))
        trees.append(_Tree(pieces, parent, children, tag + t * 2 * MAX_CHUNKS))
    for tree in trees:
        tree.post_receives()
    errors: list[BaseException] = []

    def run(step: Callable[[], None]) -> None:
        try:
            step()
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(step,), daemon=True) for tree in trees
               for step in (tree.reduce, tree.broadcast)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
