"""What each simulated worker computes: per-micro-batch forward/backward times and the optimizer.

Nominal times are the analytic engine's (:func:`dpsim.analytic.step.microbatch_times`): one
micro-batch priced operation by operation (:mod:`dpsim.compute`), or flat at
``peak · efficiency``, or the calibration profile's fitted ``t0 + t1·b`` when
``scenario.calibration`` is set; the optimizer is memory bound,
``parameters updated × bytes per parameter / memory bandwidth`` (or the profile's fit).

Per worker, four things change the nominal time: its micro-batch share under
``training.partition`` (:func:`dpsim.partition.shard_sizes` over the ``dp · micro_batch``
samples of one micro-step; ``weighted`` gives each worker a share ∝ 1/slowdown, so
stragglers get fewer samples), its straggler slowdown, its persistent pace under a per-GPU speed
spread (:mod:`dpsim.rank_speed`), and the seeded jitter draw of each micro-batch
(:mod:`dpsim.sim.variability`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dpsim.analytic.step import (
    dp_slowdowns,
    host_critical,
    microbatch_times,
    no_sync_backward_saving,
    optimizer_step_seconds,
    step_overhead_seconds,
    worker_microbatches,
    worker_samples,
)
from dpsim.rank_speed import draw_rank_paces
from dpsim.scenario import Scenario
from dpsim.sharding import optimizer_partition
from dpsim.sim.variability import jitter

__all__ = ["ComputeModel", "compute_model", "dp_slowdowns", "worker_samples", "worker_times"]


@dataclass(frozen=True)
class ComputeModel:
    """Nominal per-worker costs of one step (seconds)."""

    forward_s: float
    """Forward of one nominal micro-batch (``training.micro_batch`` samples)."""
    backward_s: float
    optimizer_s: float
    how: str
    """How the forward and backward were priced (:func:`~dpsim.analytic.step.microbatch_times`):
    ``operations``, ``flat`` or ``profile``; the result's ``extra["compute_model"]``."""
    profile: Any = None
    """The calibration profile, or None (catalog numbers)."""


def compute_model(scenario: Scenario, profile: Any = None) -> ComputeModel:
    """Nominal forward, backward and optimizer times, as the analytic engine computes them."""
    fwd, bwd, how = microbatch_times(scenario, profile)  # the analytic engine's, operation by operation
    updated = optimizer_partition(scenario)  # ZeRO's shard (torch's: the most loaded rank's whole tensors)
    optimizer_s = optimizer_step_seconds(scenario, profile, updated)
    return ComputeModel(fwd, bwd, optimizer_s, how, profile)


def worker_times(
    scenario: Scenario, model: ComputeModel, rng: np.random.Generator, steps: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward and backward time of every (step, worker, micro-batch) and each worker's samples.

    Shapes ``(steps, dp, k)``. Jitter is drawn once per (step, worker, micro-batch) and
    applies to that micro-batch's forward and backward alike. Under ``variability.rank_speed_sigma`` every rank's
    persistent pace is drawn next, once (:func:`dpsim.rank_speed.draw_rank_paces`), and a data-parallel rank runs
    at its slowest model-parallel rank's pace, as under a named straggler.
    """
    k = scenario.accumulation_steps
    fwd_w, bwd_w, slow, samples = worker_microbatches(scenario, model.forward_s, model.backward_s, model.profile)
    factor = jitter(scenario.variability, rng, (steps, len(samples), k))
    if scenario.variability.rank_speed_sigma > 0:  # each rank's persistent pace, drawn after the jitter
        t = scenario.training
        paces = draw_rank_paces(scenario.worker_slowdowns(), scenario.variability.rank_speed_sigma, rng)
        slow = paces.reshape(t.pipeline_parallel, len(samples), t.tensor_parallel).max(axis=(0, 2))
        slow = host_critical(scenario, model.profile, slow, fwd_w + bwd_w)  # the host's other ranks faster, as drawn
    factor = factor * slow[None, :, None]
    bwd = np.broadcast_to(bwd_w[None, :, None], factor.shape).copy()
    # the micro-batches before the synchronising one skip the reducer's pass the profile's backward holds
    bwd[:, :, :-1] -= np.asarray(no_sync_backward_saving(scenario, model.profile, bwd_w))[None, :, None]
    fwd = fwd_w[None, :, None] * factor
    # the first micro-batch after the optimizer's step, once a step at the rank's pace (undrawn: the analytic's)
    fwd[:, :, 0] += step_overhead_seconds(scenario, model.profile) * slow[None, :]
    return fwd, bwd * factor, samples
