"""All-reduce algorithms executed for real with torch.distributed point-to-point operations.

One module per algorithm (``ring``, ``halving_doubling``, ``tree``, ``hierarchical``), each
an in-place sum of a 1-D tensor over a list of global ranks. ``backend`` is the process
group's own ``dist.all_reduce`` (gloo's or NCCL's choice of algorithm). :func:`all_reduce`
dispatches by the scenario's ``communication.algorithm`` name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.distributed as dist

from runtime.collectives.halving_doubling import halving_doubling_allreduce
from runtime.collectives.hierarchical import hierarchical_allreduce
from runtime.collectives.ring import ring_allreduce
from runtime.collectives.tree import tree_allreduce

__all__ = ["P2P_ALGORITHMS", "all_reduce", "supports"]

P2P_ALGORITHMS: dict[str, Callable[..., None]] = {
    "ring": ring_allreduce,
    "halving-doubling": halving_doubling_allreduce,
    "tree": tree_allreduce,
    "hierarchical": hierarchical_allreduce,
}
"""Scenario algorithm names with a point-to-point implementation here."""


def supports(algorithm: str) -> bool:
    return algorithm == "backend" or algorithm in P2P_ALGORITHMS


def all_reduce(
    tensor: torch.Tensor, algorithm: str, *, ranks: Sequence[int] | None = None, per_node: int = 1, tag: int = 0
) -> None:
    """Sum ``tensor`` in place over ``ranks`` (default: the whole world) with ``algorithm``.

    ``algorithm`` is a scenario name (ring, halving-doubling, tree, hierarchical) or
    ``backend`` for ``dist.all_reduce``. Tensors of any shape are flattened (a contiguous
    tensor is reduced in place; otherwise the result is copied back).
    """
    if algorithm == "backend":
        dist.all_reduce(tensor)
        return
    if algorithm not in P2P_ALGORITHMS:
        raise ValueError(f"no point-to-point implementation of {algorithm!r}; use one of {sorted(P2P_ALGORITHMS)}")
    group = list(ranks) if ranks is not None else list(range(dist.get_world_size()))
    me = dist.get_rank()
    flat = tensor.view(-1) if tensor.is_contiguous() else tensor.reshape(-1).clone()
    if algorithm == "hierarchical":
        hierarchical_allreduce(flat, group, me, tag, per_node=per_node)
    else:
        P2P_ALGORITHMS[algorithm](flat, group, me, tag)
    if flat.data_ptr() != tensor.data_ptr():
        tensor.copy_(flat.view_as(tensor))
