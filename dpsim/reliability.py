"""Failures, checkpoints and goodput: expected time to train on an unreliable cluster.

A job on ``n`` nodes that each fail independently (exponential, mean ``node_mtbf``) fails
with mean time between failures M = node_mtbf / n. It writes a checkpoint (δ seconds) every
τ seconds of work; a failure loses the work since the last checkpoint and costs a restart
(R seconds). The optimal interval is, to first order, τ = √(2·δ·M) (Young 1974, "A first
order approximation to the optimum checkpoint interval", CACM 17(9)); Daly 2006 ("A higher
order estimate of the optimum checkpoint interval for restart dumps", FGCS 22(3)) gives the
higher-order τ = √(2δM)·[1 + ⅓·√(δ/(2M)) + (1/9)·(δ/(2M))] − δ for δ < 2M (τ = M
otherwise), and the expected wall time of T_s seconds of work under exponential failures
(failures may strike during work, checkpoints and restarts alike):

    T_w(τ) = M · e^{R/M} · (e^{(τ+δ)/M} − 1) · T_s / τ.

:func:`simulate_failures` replays one job against given failure times (what-if: "a node
dies at hour 30"), and :func:`sample_failure_times` draws them from a seeded generator, so
the Monte Carlo mean can be checked against Daly's formula.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dpsim.scenario import Scenario

__all__ = [
    "FailureTrace",
    "GoodputEstimate",
    "checkpoint_interval",
    "daly_interval",
    "daly_wall_time",
    "expected_time_to_train",
    "goodput_for",
    "job_mtbf",
    "replay_failures",
    "sample_failure_times",
    "simulate_failures",
    "young_interval",
]


def job_mtbf(node_mtbf_s: float, nodes: int) -> float:
    """Mean time between failures of a job on ``nodes`` independent nodes: node MTBF / nodes."""
    if node_mtbf_s <= 0 or nodes < 1:
        raise ValueError(f"node MTBF must be > 0 and nodes >= 1, got {node_mtbf_s}, {nodes}")
    return node_mtbf_s / nodes


def young_interval(checkpoint_s: float, mtbf_s: float) -> float:
    """Young 1974: τ_opt ≈ √(2·δ·M) seconds of work between checkpoints."""
    return math.sqrt(2.0 * checkpoint_s * mtbf_s)


def daly_interval(checkpoint_s: float, mtbf_s: float) -> float:
    """Daly 2006, higher order: √(2δM)·[1 + ⅓√(δ/2M) + (1/9)(δ/2M)] − δ for δ < 2M, else M."""
    if checkpoint_s <= 0:
        return math.inf
    if checkpoint_s >= 2.0 * mtbf_s:
        return mtbf_s
    x = checkpoint_s / (2.0 * mtbf_s)
    return math.sqrt(2.0 * checkpoint_s * mtbf_s) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - checkpoint_s


def checkpoint_interval(checkpoint_s: float, mtbf_s: float, step_s: float = 0.0) -> float:
    """Work between checkpoints: Daly's optimum (Young's with δ = 1 ns where checkpoints are free, whose Daly
    optimum is 0 s), and at least one step, since a training loop checkpoints between steps (else a node failing
    every microsecond lost nothing and trained as fast as one that never fails)."""
    tau = daly_interval(checkpoint_s, mtbf_s)
    if not math.isfinite(tau):
        tau = young_interval(max(checkpoint_s, 1e-9), mtbf_s)
    return max(tau, step_s)


def daly_wall_time(work_s: float, interval_s: float, checkpoint_s: float, restart_s: float, mtbf_s: float) -> float:
    """Expected wall time of ``work_s`` seconds of work: M·e^{R/M}·(e^{(τ+δ)/M} − 1)·T_s/τ (Daly 2006)."""
    if work_s <= 0:
        return 0.0
    if not math.isfinite(mtbf_s):
        segments = work_s / interval_s if math.isfinite(interval_s) else 0.0
        return work_s + segments * checkpoint_s
    m = mtbf_s
    return m * math.exp(restart_s / m) * math.expm1((interval_s + checkpoint_s) / m) * work_s / interval_s


@dataclass(frozen=True)
class GoodputEstimate:
    """Expected time to train with failures, and where the extra time goes (seconds)."""

    work_s: float
    """Failure-free training time (steps × step time)."""
    wall_s: float
    """Expected wall time including checkpoints, lost work and restarts."""
    interval_s: float
    """Work between checkpoints (Daly's optimum unless given)."""
    job_mtbf_s: float
    expected_failures: float
    checkpoint_s: float
    """Total time spent writing checkpoints."""
    restart_s: float
    """Total time spent restarting."""
    lost_work_s: float
    """Work redone after failures (the rest of wall − work − checkpoints − restarts)."""

    @property
    def goodput(self) -> float:
        """Useful fraction of wall time: work / wall."""
        return self.work_s / self.wall_s if self.wall_s > 0 else 1.0


def expected_time_to_train(
    work_s: float,
    node_mtbf_s: float | None,
    nodes: int,
    checkpoint_s: float = 0.0,
    restart_s: float = 0.0,
    interval_s: float | None = None,
    step_s: float = 0.0,
) -> GoodputEstimate:
    """Expected wall time of a job of ``work_s`` seconds on ``nodes`` nodes (Daly 2006 model).

    ``node_mtbf_s=None`` means no failures: wall = work (+ checkpoints if an interval is
    given). The interval defaults to Daly's optimum. The breakdown attributes
    wall/M expected failures, each costing a restart; checkpoints cost δ per interval of
    work; the remainder of the extra time is lost (re-done) work. ``step_s``: the interval is at least one step
    (:func:`checkpoint_interval`).
    """
    if node_mtbf_s is None:
        tau = interval_s if interval_s is not None else math.inf
        wall = daly_wall_time(work_s, tau, checkpoint_s, restart_s, math.inf)
        return GoodputEstimate(work_s, wall, tau, math.inf, 0.0, wall - work_s, 0.0, 0.0)
    mtbf = job_mtbf(node_mtbf_s, nodes)
    if interval_s is not None and math.isfinite(interval_s):
        tau = max(interval_s, step_s)
    else:  # an infinite interval given with failures: Daly's optimum (was Young's with δ ≥ 1 ns)
        tau = checkpoint_interval(checkpoint_s, mtbf, step_s)
    wall = daly_wall_time(work_s, tau, checkpoint_s, restart_s, mtbf)
    failures = wall / mtbf
    ckpt = work_s / tau * checkpoint_s
    restarts = failures * restart_s
    lost = max(0.0, wall - work_s - ckpt - restarts)
    return GoodputEstimate(work_s, wall, tau, mtbf, failures, ckpt, restarts, lost)


def goodput_for(scenario: Scenario, work_s: float, step_s: float = 0.0) -> GoodputEstimate:
    """:func:`expected_time_to_train` with the scenario's ``reliability`` section and node count."""
    r = scenario.reliability
    return expected_time_to_train(
        work_s, r.node_mtbf, scenario.cluster.nodes, r.checkpoint_write, r.restart, step_s=step_s
    )


@dataclass(frozen=True)
class FailureTrace:
    """One replayed job: wall time, failures that hit it, and what they cost (seconds)."""

    work_s: float
    wall_s: float
    failures: int
    lost_work_s: float
    restart_s: float
    checkpoint_s: float
    failure_times_s: tuple[float, ...]
    """Wall-clock times of the failures that struck the job (before it finished)."""


def simulate_failures(
    work_s: float,
    interval_s: float,
    checkpoint_s: float,
    restart_s: float,
    failure_times_s: Sequence[float],
    step_s: float | None = None,
) -> FailureTrace:
    """Replay a job against failures at the given wall-clock times.

    The job alternates τ of work and a δ checkpoint (the last segment may be shorter and
    needs no checkpoint). A failure during work or a checkpoint loses the segment's
    progress; a failure during a restart starts the restart again (Daly's assumptions).
    With ``step_s`` the checkpoint interval is rounded down to whole steps (at least one),
    as a training loop checkpoints between steps.
    """
    if work_s <= 0:
        return FailureTrace(work_s, 0.0, 0, 0.0, 0.0, 0.0, ())
    tau = interval_s
    if step_s is not None and step_s > 0:
        tau = max(1, math.floor(interval_s / step_s)) * step_s
    fails = sorted(f for f in failure_times_s if f >= 0)
    now = done = lost = restarting = ckpt_total = 0.0
    hit: list[float] = []
    i = 0
    while done < work_s - 1e-12 * work_s:
        segment = min(tau, work_s - done)
        final = done + segment >= work_s - 1e-12 * work_s
        span = segment + (0.0 if final else checkpoint_s)
        nxt = fails[i] if i < len(fails) else math.inf
        if nxt >= now + span:
            now += span
            done += segment
            ckpt_total += span - segment
            continue
        # failure inside this segment: lose the progress, then restart (possibly repeatedly)
        hit.append(nxt)
        lost += min(nxt - now, segment)
        ckpt_total += max(0.0, nxt - now - segment)
        now = nxt
        i += 1
        while True:
            nxt = fails[i] if i < len(fails) else math.inf
            if nxt >= now + restart_s:
                now += restart_s
                restarting += restart_s
                break
            hit.append(nxt)
            restarting += nxt - now
            now = nxt
            i += 1
    return FailureTrace(work_s, now, len(hit), lost, restarting, ckpt_total, tuple(hit))


def replay_failures(scenario: Scenario, step_s: float, steps: int, failure_times_s: Sequence[float]) -> FailureTrace:
    """What-if for a scenario: ``steps`` steps of ``step_s`` seconds, failures at the given times.

    Checkpoints every Daly-optimal interval for the scenario's job MTBF (rounded down to
    whole steps), or never when ``reliability.node_mtbf`` is unset; δ and R from the
    scenario's ``reliability`` section. Returns the replayed trace (wall time, lost work).
    """
    r = scenario.reliability
    work = steps * step_s
    if r.node_mtbf is not None and r.checkpoint_write > 0:
        interval = daly_interval(r.checkpoint_write, job_mtbf(r.node_mtbf, scenario.cluster.nodes))
    else:
        interval = work
    return simulate_failures(work, interval, r.checkpoint_write, r.restart, failure_times_s, step_s=step_s)


def sample_failure_times(rng: np.random.Generator, mtbf_s: float, horizon_s: float) -> list[float]:
    """Failure times of a Poisson process with mean gap ``mtbf_s`` up to ``horizon_s``."""
    times: list[float] = []
    now = 0.0
    while True:
        now += float(rng.exponential(mtbf_s))
        if now > horizon_s:
            return times
        times.append(now)
