"""Point-to-point building blocks shared by the all-reduce algorithms (torch.distributed isend/irecv)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist

__all__ = ["exchange", "split_sizes", "wait_all"]


def exchange(send: torch.Tensor | None, dst: int | None, recv: torch.Tensor | None, src: int | None, tag: int) -> None:
    """Send ``send`` to ``dst`` while receiving ``recv`` from ``src`` (both posted before waiting)."""
    works = []
    if recv is not None and src is not None and recv.numel():
        works.append(dist.irecv(recv, src=src, tag=tag))
    if send is not None and dst is not None and send.numel():
        works.append(dist.isend(send.contiguous(), dst=dst, tag=tag))
    wait_all(works)


def wait_all(works: Sequence[dist.Work | None]) -> None:
    for work in works:
        if work is not None:
            work.wait()


def split_sizes(numel: int, parts: int) -> list[int]:
    """Near-equal split of ``numel`` elements into ``parts`` (the first ones one larger)."""
    base, extra = divmod(numel, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
