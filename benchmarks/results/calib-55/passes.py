"""DDP's reducer passes over the validation MLP's gradients (4 x (768 x 768 + 768) floats), one thread, the thread's CPU
clock, median of 15, warm and after evicting 64 MiB: the in-place division with the gradients as bucket views
(``bucket_view.div_``), the copy into the bucket without views (``mul_out``), the copy back (``grad.copy_``); beside
``a.add_(b)``'s operand rate on 16 MiB (what the profile's ``reduction_bandwidth`` measures).

    PYTHONPATH=. python benchmarks/results/calib-55/passes.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

SHAPES = [(768, 768), (768,)] * 4


def main() -> None:
    torch.set_num_threads(1)
    sizes = [torch.Size(s).numel() for s in SHAPES]
    grads = [torch.randn(s) for s in SHAPES]
    bucket = torch.randn(sum(sizes))
    views = list(torch.split(bucket, sizes))
    a, b = torch.randn(4 << 20), torch.randn(4 << 20)
    evict = torch.empty(64 << 20, dtype=torch.uint8)

    def timed(fn: Callable[[], object], cold: bool) -> float:
        xs = []
        for _ in range(15):
            if cold:
                evict.fill_(1)
            c = time.thread_time()
            fn()
            xs.append(time.thread_time() - c)
        return statistics.median(xs) * 1e3

    def div() -> None:
        for v in views:
            v.div_(2.0)

    def mul_out() -> None:
        for g, v in zip(grads, views, strict=True):
            torch.mul(g, 0.5, out=v.view_as(g))

    def copy_back() -> None:
        for g, v in zip(grads, views, strict=True):
            g.copy_(v.view_as(g))

    for cold in (False, True):
        add_ms = timed(lambda: a.add_(b), cold)
        print(f"{'cold' if cold else 'warm'}: {sum(sizes)} floats, div_ {timed(div, cold):.3f} ms, mul_out "
              f"{timed(mul_out, cold):.3f} ms, copy back {timed(copy_back, cold):.3f} ms | add_ on 16 MiB "
              f"{3 * 16 * 2**20 / (add_ms / 1e3) / 1e9:.2f} GB/s of operands")  # fmt: skip


if __name__ == "__main__":
    main()
