"""Optimizer and learning-rate schedule for a data-parallel run.

The learning rate is scaled from ``base_lr`` (tuned at ``reference_batch``) to the
effective global batch with :mod:`dpsim.lr` (linear rule with gradual warm-up after
Goyal et al. 2017, or the square-root rule after Krizhevsky 2014 / Hoffer et al. 2017),
so that the runtime and the simulator agree on what a scenario's batch means.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from dpsim.lr import LRSchedule, make_schedule

__all__ = ["OPTIMIZERS", "build_optimizer", "kernel_options", "resolved_update"]

_log = logging.getLogger(__name__)

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}
"""Optimizer names a scenario may use (``training.optimizer``)."""


def kernel_options(kernels: str, cuda: bool) -> dict[str, bool]:
    """The ``torch.optim`` keyword that runs the update ``training.optimizer_kernels`` names, on the ranks' device.

    On CUDA the scenario's: ``fused=True`` (one kernel over parameter, gradient and state, what the engines price
    by default) or ``foreach=True`` (the multi-tensor update, torch's own default there): the runtime ran torch's
    default (foreach) whatever the scenario said, while the engines priced the fused update. On CPU none: torch's
    default there is the single-tensor loop (``torch/optim/optimizer.py`` ``_default_to_fused_or_foreach``: no
    foreach on CPU), which every stored calibration's optimizer fit measured and prices (Adam on 4.2 M parameters,
    one thread: the loop 36.8 ms, foreach 20.0, fused 2.78; stop 41): run fused there, the fits would price
    another update than the runs."""
    return {kernels: True} if cuda else {}


def resolved_update(optimizer: torch.optim.Optimizer) -> str:
    """Which update ``optimizer.step()`` runs: ``fused``, ``foreach`` or ``for-loop`` (``torch.optim``'s
    single-tensor loop), several joined by ``/`` where the parameter groups differ.

    A group's own ``fused`` / ``foreach`` where it names one; where it names neither, what ``torch.optim``'s
    functional ``adam`` / ``sgd`` resolve at each step: ``_default_to_fused_or_foreach(params, differentiable,
    use_fused=False)`` (``torch/optim/optimizer.py``: foreach only where every parameter is on a foreach device,
    CUDA among them, not CPU; never fused by default). ``ZeroRedundancyOptimizer`` steps its local optimizer
    (``optim``)."""
    from torch.optim.optimizer import _default_to_fused_or_foreach

    local = getattr(optimizer, "optim", optimizer)
    kinds = []
    for group in local.param_groups:
        fused, foreach = group.get("fused"), group.get("foreach")
        if fused is None and foreach is None:
            fused, foreach = _default_to_fused_or_foreach(
                list(group["params"]), bool(group.get("differentiable", False)), use_fused=False
            )
        kinds.append("fused" if fused else "foreach" if foreach else "for-loop")
    return "/".join(dict.fromkeys(kinds))


def build_optimizer(
    model: torch.nn.Module,
    name: str,
    base_lr: float,
    global_batch: int,
    reference_batch: int,
    scaling: str = "linear",
    warmup_steps: int = 0,
    *,
    zero_redundancy: bool = False,
    parameters_as_bucket_view: bool = False,
    **optimizer_kwargs: Any,
) -> tuple[torch.optim.Optimizer, LambdaLR]:
    """Optimizer ``name`` over ``model``'s parameters and a per-step warm-up scheduler.

    The optimizer's learning rate is ``dpsim.lr.scaled_lr(base_lr, global_batch,
    reference_batch, scaling)``; the returned ``LambdaLR`` ramps it linearly from
    ``base_lr`` over ``warmup_steps`` optimizer steps (call ``scheduler.step()`` after
    each ``optimizer.step()``). ``zero_redundancy=True`` wraps the optimizer in
    ``torch.distributed.optim.ZeroRedundancyOptimizer`` (ZeRO stage 1: optimizer state
    sharded over the default process group; ``parameters_as_bucket_view`` is passed on, and
    ``overlap_with_ddp`` left at its default, off). Extra keyword arguments (``momentum``,
    ``weight_decay``, ``betas``, …) go to the optimizer. Logs the effective global batch
    and the learning rates at INFO level.
    """
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    schedule: LRSchedule = make_schedule(base_lr, global_batch, reference_batch, scaling, warmup_steps)
    # The concrete classes take lr=…; the base class signature (params, defaults) does not.
    cls: Any = OPTIMIZERS[key]
    optimizer: torch.optim.Optimizer
    if zero_redundancy:
        from torch.distributed.optim import ZeroRedundancyOptimizer

        optimizer = ZeroRedundancyOptimizer(
            model.parameters(),
            optimizer_class=cls,
            parameters_as_bucket_view=parameters_as_bucket_view,
            lr=schedule.target_lr,
            **optimizer_kwargs,
        )
    else:
        optimizer = cls(model.parameters(), lr=schedule.target_lr, **optimizer_kwargs)
    scheduler = LambdaLR(optimizer, lr_lambda=schedule.factor_at)
    _log.info(
        "optimizer %s%s: effective global batch %d (reference %d), %s scaling: lr %.6g -> %.6g over %d warm-up steps",
        key,
        " (ZeRO-1)" if zero_redundancy else "",
        schedule.global_batch,
        schedule.reference_batch,
        schedule.scaling,
        schedule.base_lr,
        schedule.target_lr,
        schedule.warmup_steps,
    )
    return optimizer, scheduler
