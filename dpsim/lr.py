"""Global batch size and learning-rate scaling for data-parallel training.

With ``dp`` data-parallel ranks, each running ``accumulation`` micro-batches of
``micro_batch`` samples before one optimizer step, the step sees an *effective global
batch* ``B = micro_batch · accumulation · dp`` (:func:`effective_global_batch`). A
learning rate tuned at a reference batch ``B_ref`` is rescaled for ``B`` by one of:

* **linear** (Goyal et al. 2017, "Accurate, Large Minibatch SGD: Training ImageNet in
  1 Hour", arXiv:1706.02677, §2.1): ``η = η_ref · B/B_ref`` — "when the minibatch size is
  multiplied by k, multiply the learning rate by k" — with a *gradual warm-up* (§2.2):
  start at ``η_ref`` and raise it by a constant amount every step until ``η`` is reached
  after ``k`` steps (5 epochs in the paper), which avoids the early instability of a
  large learning rate.
* **sqrt** (Krizhevsky 2014, "One weird trick for parallelizing convolutional neural
  networks", arXiv:1404.5997, §5; Hoffer, Hubara & Soudry 2017, "Train longer,
  generalize better", NeurIPS, arXiv:1705.08741, §4): ``η = η_ref · √(B/B_ref)``, which
  keeps the variance of the weight update constant.
* **none**: ``η = η_ref``.

All functions are pure and torch-free; ``runtime.optim.build_optimizer`` turns them into
a torch optimizer and scheduler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal, get_args

__all__ = [
    "SCALING_RULES",
    "LRSchedule",
    "ScalingRule",
    "accumulation_steps",
    "effective_global_batch",
    "make_schedule",
    "scaled_lr",
    "warmup_lr",
]

ScalingRule = Literal["linear", "sqrt", "none"]
"""How the learning rate follows the global batch."""

SCALING_RULES: Final[tuple[str, ...]] = get_args(ScalingRule)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _positive_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return x


def effective_global_batch(micro_batch: int, accumulation: int, dp: int) -> int:
    """Samples per optimizer step: ``micro_batch · accumulation · dp``.

    ``micro_batch`` is the per-rank batch of one forward/backward pass, ``accumulation``
    the number of such passes whose gradients are summed before the step, ``dp`` the
    data-parallel degree (number of model replicas).
    """
    return (
        _positive_int("micro_batch", micro_batch)
        * _positive_int("accumulation", accumulation)
        * _positive_int("dp", dp)
    )


def accumulation_steps(global_batch: int, micro_batch: int, dp: int) -> int:
    """Accumulation steps that make ``micro_batch · steps · dp == global_batch``.

    Raises ``ValueError`` when ``global_batch`` is not a multiple of ``micro_batch · dp``.
    """
    g = _positive_int("global_batch", global_batch)
    per_pass = _positive_int("micro_batch", micro_batch) * _positive_int("dp", dp)
    if g % per_pass:
        raise ValueError(f"global_batch {g} is not a multiple of micro_batch × dp = {micro_batch} × {dp} = {per_pass}")
    return g // per_pass


def scaled_lr(base_lr: float, global_batch: int, reference_batch: int, scaling: ScalingRule | str = "linear") -> float:
    """The learning rate for ``global_batch``, given ``base_lr`` tuned at ``reference_batch``.

    ``linear``: ``base_lr·B/B_ref`` (Goyal et al. 2017); ``sqrt``: ``base_lr·√(B/B_ref)``
    (Krizhevsky 2014; Hoffer et al. 2017); ``none``: ``base_lr``.
    """
    lr = _positive_float("base_lr", base_lr)
    ratio = _positive_int("global_batch", global_batch) / _positive_int("reference_batch", reference_batch)
    if scaling == "linear":
        return lr * ratio
    if scaling == "sqrt":
        return lr * math.sqrt(ratio)
    if scaling == "none":
        return lr
    raise ValueError(f"unknown learning-rate scaling {scaling!r}; expected one of {', '.join(SCALING_RULES)}")


def warmup_lr(step: int, base_lr: float, target_lr: float, warmup_steps: int) -> float:
    """Gradual warm-up (Goyal et al. 2017, §2.2): linear from ``base_lr`` to ``target_lr``.

    ``step`` counts optimizer steps from 0: step 0 uses ``base_lr``, step ``k`` uses
    ``base_lr + (target_lr − base_lr)·k/warmup_steps``, and every step from
    ``warmup_steps`` on uses ``target_lr``. ``warmup_steps = 0`` means no warm-up.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative integer, got {step!r}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be a non-negative integer, got {warmup_steps!r}")
    lo = _positive_float("base_lr", base_lr)
    hi = _positive_float("target_lr", target_lr)
    if step >= warmup_steps:
        return hi
    return lo + (hi - lo) * step / warmup_steps


@dataclass(frozen=True)
class LRSchedule:
    """A scaled learning rate with gradual warm-up, as one immutable record."""

    base_lr: float
    """Learning rate tuned at ``reference_batch`` (also the warm-up's starting point)."""
    target_lr: float
    """Learning rate after warm-up: ``base_lr`` scaled to ``global_batch``."""
    global_batch: int
    """Effective global batch (samples per optimizer step)."""
    reference_batch: int
    """Batch at which ``base_lr`` was tuned."""
    scaling: str
    """Scaling rule: ``linear``, ``sqrt`` or ``none``."""
    warmup_steps: int
    """Optimizer steps of linear warm-up from ``base_lr`` to ``target_lr`` (0: none)."""

    def lr_at(self, step: int) -> float:
        """Learning rate of optimizer step ``step`` (counted from 0)."""
        return warmup_lr(step, self.base_lr, self.target_lr, self.warmup_steps)

    def factor_at(self, step: int) -> float:
        """``lr_at(step) / target_lr``: the multiplier for ``torch.optim.lr_scheduler.LambdaLR``."""
        return self.lr_at(step) / self.target_lr


def make_schedule(
    base_lr: float,
    global_batch: int,
    reference_batch: int,
    scaling: ScalingRule | str = "linear",
    warmup_steps: int = 0,
) -> LRSchedule:
    """Build the :class:`LRSchedule` for ``global_batch``; validates every argument."""
    target = scaled_lr(base_lr, global_batch, reference_batch, scaling)
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be a non-negative integer, got {warmup_steps!r}")
    return LRSchedule(float(base_lr), target, global_batch, reference_batch, str(scaling), warmup_steps)
