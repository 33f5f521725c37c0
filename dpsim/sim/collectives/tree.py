"""Pipelined double binary tree all-reduce (Sanders, Speck & Träff 2009; NCCL ≥ 2.4).

Two complementary binary trees each carry half of the vector: tree A is the heap-ordered
tree on ranks 0..N−1 (parent of i is ⌊(i−1)/2⌋), tree B the same tree on the mirrored
numbering N−1−i, so a rank that is interior in one tree is a leaf in the other. The data
are pipelined in small chunks, so the reduce (leaves → roots) and the broadcast (roots →
leaves) each keep every tree edge busy at once: a phase in which all edges stream their
S/2, plus the pipeline depth ⌈log2 N⌉ in latency. An interior rank receives S/2 from
each of its two children and sends S/2 up in each tree, so each phase takes about S/B:
2·⌈log2 N⌉·α + 2·S/B in all (:func:`dpsim.analytic.collectives.tree_allreduce_time`).
With two ranks the trees coincide in one edge that carries all of S.
"""

from __future__ import annotations

import math

import numpy as np

from dpsim.sim.collectives.base import Phase, Schedule

__all__ = ["tree_allreduce"]


def tree_allreduce(world: int, per_node: int = 1) -> Schedule:
    """Double binary tree all-reduce over ranks 0..world−1."""
    n = world
    if n <= 1:
        return Schedule("tree", n)
    if n == 2:
        return Schedule("tree", n, (Phase.of([1], [0], 1.0), Phase.of([0], [1], 1.0)))
    child = np.arange(1, n)
    parent = (child - 1) // 2
    up_src = np.concatenate([child, n - 1 - child])
    up_dst = np.concatenate([parent, n - 1 - parent])
    depth = math.ceil(math.log2(n))
    reduce = Phase.of(up_src, up_dst, 0.5, hops=depth)
    broadcast = Phase.of(up_dst, up_src, 0.5, hops=depth)
    return Schedule("tree", n, (reduce, broadcast))
