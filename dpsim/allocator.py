"""Memory a CPU training step's optimizer gets afresh from the OS, and what touching it costs.

On a CPU testbed tensors come from glibc's ``malloc`` (torch's ``c10::alloc_cpu``:
``posix_memalign``). glibc serves a request of at least its mmap threshold with a private
``mmap`` and returns it to the OS with ``munmap`` on free; the threshold starts at 128 KiB and
rises to the size of each mmapped chunk freed, but never beyond ``DEFAULT_MMAP_THRESHOLD_MAX``
(32 MiB on 64-bit; glibc ``malloc/malloc.c``, ``mallopt(3)``). A request above 32 MiB is
therefore mapped afresh every time, and its first write takes one minor page fault per page
(the kernel maps and zeroes it): the ``page_fault`` of the host model, measured by
``runtime.calibrate.measure_page_fault`` (2.0–2.4 µs per 4 KiB page on the 2-core VM).

What the optimizer allocates per parameter tensor (torch 2.13, ``torch/optim/adam.py``,
``_single_tensor_adam``: CPU tensors take the single-tensor path): Adam and AdamW build
``denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)`` — two temporaries the size of
the parameter (``sqrt`` and the division) — and update the moments and the parameter in
place; SGD with or without momentum updates in place and allocates nothing. The gradients
and DDP's buckets persist across steps (``zero_grad`` zeroes or frees them before the next
backward, which is where a freed gradient is allocated again), so they are not the
optimizer's. Temporaries at or below 32 MiB come from the heap once the threshold has risen;
whether the heap's top is trimmed between steps depends on what else the process freed (in a
DDP training loop on the VM: no faults for 512–1280-wide layers, one temporary's worth for
2048-wide ones), so only the temporaries glibc must map are counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpsim.buckets import gradient_tensors

if TYPE_CHECKING:
    from dpsim.scenario import Scenario

__all__ = [
    "MMAP_THRESHOLD_MAX_BYTES",
    "OPTIMIZER_TEMPORARIES",
    "PAGE_BYTES",
    "PARAMETER_BYTES",
    "first_touch_seconds",
    "optimizer_fresh_bytes",
]

PAGE_BYTES = 4096
"""Bytes per page the kernel maps at a minor fault (x86-64 and arm64 base pages; no huge pages)."""

MMAP_THRESHOLD_MAX_BYTES = 32 * 2**20
"""glibc's ``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit (``4·1024·1024·sizeof(long)``): the dynamic mmap
threshold never rises above it, so every larger request is an ``mmap`` of fresh pages."""

PARAMETER_BYTES = 4
"""Bytes per element of the parameters the CPU optimizer updates (fp32; bf16 autocast keeps fp32 weights)."""

OPTIMIZER_TEMPORARIES = {"adam": 2, "adamw": 2, "sgd": 0, "momentum": 0}
"""Parameter-sized temporaries one ``optimizer.step()`` allocates per parameter tensor (torch's single-tensor path)."""


def optimizer_fresh_bytes(scenario: Scenario) -> float:
    """Bytes one rank's ``optimizer.step()`` gets afresh from the OS (mapped, first touched, unmapped) each step.

    Σ over the parameter tensors the rank updates whose temporaries exceed
    :data:`MMAP_THRESHOLD_MAX_BYTES` of ``temporaries × bytes``. Known for the tensor lists of
    :func:`dpsim.buckets.gradient_tensors` without ZeRO (ZeRO's and FSDP's flat shards are laid
    out differently: 0, not modelled); 0 for a model given only by its parameter count.
    """
    t = scenario.training
    temporaries = OPTIMIZER_TEMPORARIES[t.optimizer]
    if temporaries == 0 or t.zero_stage != 0:
        return 0.0
    # gradient_tensors: the rank's share of each tensor at the gradient dtype; the optimizer updates fp32
    sizes = (g / scenario.gradient_bytes_per_param * PARAMETER_BYTES for g in gradient_tensors(scenario))
    return float(sum(temporaries * s for s in sizes if s > MMAP_THRESHOLD_MAX_BYTES))


def first_touch_seconds(fresh_bytes: float, page_fault_s: float) -> float:
    """CPU time of first touching ``fresh_bytes`` of freshly mapped memory: one fault per (partial) page."""
    pages = -(-fresh_bytes // PAGE_BYTES) if fresh_bytes > 0 else 0.0
    return float(pages * page_fault_s)
