"""Hierarchical all-reduce: intra-node reduce-scatter, inter-node all-reduce of one shard, intra all-gather.

With G ranks per node and M nodes, local rank i ends the intra-node reduce-scatter owning
shard i of its node's sum, all-reduces it with the ranks of local index i on the other
nodes (a ring of M), and the node all-gathers the result:
2[(G−1)α_i + (G−1)/G·S/B_i] + 2(M−1)α_e + 2(M−1)/M·(S/G)/B_e (Jia et al. 2018 §4).
Ranks are numbered node by node (global rank = node·G + local).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from runtime.collectives._p2p import split_sizes
from runtime.collectives.ring import ring_all_gather, ring_allreduce, ring_reduce_scatter

__all__ = ["hierarchical_allreduce"]


def hierarchical_allreduce(
    tensor: torch.Tensor, ranks: Sequence[int], me: int, tag: int = 0, *, per_node: int = 1
) -> None:
    """In-place sum of a 1-D ``tensor`` over ``ranks`` (``per_node`` consecutive ranks share a node)."""
    n = len(ranks)
    if n % per_node:
        raise ValueError(f"{n} ranks are not whole nodes of {per_node}")
    pos = ranks.index(me)
    node, local = divmod(pos, per_node)
    nodes = n // per_node
    node_ranks = list(ranks[node * per_node : (node + 1) * per_node])
    owned = ring_reduce_scatter(tensor, node_ranks, me, tag)
    shard = torch.split(tensor, split_sizes(tensor.numel(), per_node))[owned]
    # the ranks owning the same shard index on every node: same local position in each node
    peers = [ranks[m * per_node + local] for m in range(nodes)]
    ring_allreduce(shard, peers, me, tag + 1)
    ring_all_gather(tensor, node_ranks, me, tag)
