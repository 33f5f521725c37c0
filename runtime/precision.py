"""Mixed precision as the scenario asks: checked up front, then applied to each step.

``training.precision`` (bf16 | fp16 | fp32) means mixed precision with fp32 master weights
(the engines' byte counts assume that), which is what ``torch.autocast`` does: parameters
and gradients stay fp32, matmuls run in the low precision.

- ``bf16``: ``torch.autocast(device, torch.bfloat16)`` around the forward, on CPU and GPU
  (on GPU only where ``torch.cuda.is_bf16_supported()``). No loss scaling: bf16 has fp32's
  exponent range.
- ``fp16``: ``torch.autocast("cuda", torch.float16)`` and a ``torch.amp.GradScaler`` (loss
  scaling against fp16 gradient underflow; Micikevicius et al. 2018). GPU only, and not
  with ZeRO-2/3 (FSDP needs a sharded scaler the runtime does not use).
- FP8 (``--fp8``): NVIDIA Transformer Engine — ``nn.Linear`` layers become
  ``transformer_engine.pytorch.Linear`` (same weights) and the forward runs in
  ``te.fp8_autocast`` with the default delayed-scaling recipe. Needs Transformer Engine
  and a GPU with FP8 (compute capability ≥ 8.9).

What cannot run is refused before any process starts (:func:`check_precision`).
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dpsim.scenario import Scenario

__all__ = ["Precision", "check_precision", "to_transformer_engine"]


@dataclass(frozen=True)
class Precision:
    """How a rank runs its steps."""

    dtype: torch.dtype | None
    """Autocast dtype, or None (fp32)."""
    device_type: str
    grad_scaler: bool = False
    fp8: bool = False

    @property
    def autocast(self) -> bool:
        """``torch.autocast`` over fp32 parameters at the scenario's own 16-bit precision: what dpsim prices as
        ``training.autocast: true`` (FP8 runs Transformer Engine's recipe besides; :func:`runtime.measure.as_run`)."""
        return self.dtype is not None and not self.fp8

    @property
    def label(self) -> str:
        if self.fp8:
            return "fp8 (Transformer Engine) + bf16 autocast"
        if self.dtype is None:
            return "fp32"
        name = {torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]
        return f"{name} autocast" + (" + GradScaler" if self.grad_scaler else "")

    @contextlib.contextmanager
    def forward(self) -> Iterator[None]:
        """The context the forward pass (and the loss) runs in."""
        with contextlib.ExitStack() as stack:
            if self.dtype is not None:
                stack.enter_context(torch.autocast(self.device_type, dtype=self.dtype))
            if self.fp8:
                import transformer_engine.pytorch as te

                stack.enter_context(te.fp8_autocast(enabled=True))
            yield

    def scaler(self) -> Any:
        """A GradScaler for fp16, else None."""
        return torch.amp.GradScaler(self.device_type) if self.grad_scaler else None


def check_precision(scenario: Scenario, device: str, *, fp8: bool = False) -> Precision:
    """The precision plan for ``scenario`` on ``device`` ('cpu' | 'cuda'); ValueError for what cannot run here."""
    precision = scenario.training.precision
    where = "training.precision"
    if fp8:
        if device != "cuda":
            raise ValueError("--fp8: FP8 training needs a GPU (--device cuda under torchrun)")
        if importlib.util.find_spec("transformer_engine") is None:
            raise ValueError("--fp8: FP8 training needs NVIDIA Transformer Engine (pip install "
                             "'transformer-engine[pytorch]'), which is not installed")  # fmt: skip
        if torch.cuda.is_available() and torch.cuda.get_device_capability() < (8, 9):
            raise ValueError("--fp8: this GPU has no FP8 (needs compute capability 8.9 or newer: Ada, Hopper)")
        return Precision(torch.bfloat16, "cuda", fp8=True)
    if precision == "fp8":  # round 35: it fell through to fp16's branch (a GradScaler on a GPU; on a CPU "fp16 ...")
        raise ValueError(f"{where}: fp8 runs the linear layers under NVIDIA Transformer Engine: pass --fp8 (a GPU with "
                         "FP8 and Transformer Engine), or set bf16")  # fmt: skip
    if precision == "fp32":
        if device == "cuda":  # what training.fp32_matmul says the GEMMs run on (TF32 tensor cores or FP32 units)
            torch.backends.cuda.matmul.allow_tf32 = scenario.training.fp32_matmul == "tf32"
        return Precision(None, device)
    if precision == "bf16":
        if device == "cuda" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
            raise ValueError(f"{where}: bf16 is not supported by this GPU; use fp16 or fp32")
        return Precision(torch.bfloat16, device)
    if device != "cuda":
        raise ValueError(f"{where}: fp16 (autocast with a GradScaler) runs on GPUs only (--device cuda under "
                         "torchrun); on CPUs use bf16 or fp32")  # fmt: skip
    if scenario.training.zero_stage >= 2:
        raise ValueError(f"{where}: fp16 with ZeRO-2/3 (FSDP) needs a sharded gradient scaler, which the runtime "
                         "does not use; use bf16")  # fmt: skip
    return Precision(torch.float16, "cuda", grad_scaler=True)


def to_transformer_engine(module: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` in ``module`` with a Transformer Engine ``Linear`` holding the same weights."""
    import transformer_engine.pytorch as te

    for name, child in list(module.named_children()):
        if type(child) is nn.Linear:
            replacement = te.Linear(child.in_features, child.out_features, bias=child.bias is not None,
                                    params_dtype=child.weight.dtype, device=child.weight.device)  # fmt: skip
            with torch.no_grad():
                replacement.weight.copy_(child.weight)
                if child.bias is not None:
                    replacement.bias.copy_(child.bias)
            setattr(module, name, replacement)
        else:
            to_transformer_engine(child)
    return module
