"""Failures and checkpoints: Young/Daly intervals, Daly's wall time, replayed failures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dpsim.reliability import (
    daly_interval,
    daly_wall_time,
    expected_time_to_train,
    goodput_for,
    job_mtbf,
    replay_failures,
    sample_failure_times,
    simulate_failures,
    young_interval,
)
from dpsim.scenario import load_scenario


def test_job_mtbf() -> None:
    assert job_mtbf(1000 * 3600.0, 100) == pytest.approx(10 * 3600.0)
    with pytest.raises(ValueError):
        job_mtbf(0.0, 4)


def test_young_and_daly_by_hand() -> None:
    delta, m = 600.0, 86400.0
    # Young: √(2·600·86400) = √103,680,000 = 10,182.3 s.
    assert young_interval(delta, m) == pytest.approx(10182.33, abs=0.01)
    # Daly: x = 600/172800 = 0.0034722; 1 + √x/3 + x/9 = 1.0200281; ·10182.33 − 600 = 9786.27 s.
    assert daly_interval(delta, m) == pytest.approx(9786.27, abs=0.05)
    assert daly_interval(2 * m + 1, m) == m  # δ ≥ 2M: checkpoint every MTBF


@pytest.mark.parametrize(("delta", "m", "r"), [(600.0, 86400.0, 900.0), (60.0, 3600.0, 120.0), (300.0, 7200.0, 0.0)])
def test_daly_interval_minimises_daly_wall_time(delta: float, m: float, r: float) -> None:
    taus = np.linspace(0.2, 5.0, 20001) * young_interval(delta, m)
    walls = [daly_wall_time(1e6, float(tau), delta, r, m) for tau in taus]
    best = float(taus[int(np.argmin(walls))])
    assert daly_interval(delta, m) == pytest.approx(best, rel=0.01)
    # and the wall time at Daly's interval is within 0.01 % of the numeric minimum
    assert daly_wall_time(1e6, daly_interval(delta, m), delta, r, m) <= min(walls) * (1 + 1e-4)


def test_no_failures_is_pure_work() -> None:
    est = expected_time_to_train(1e5, None, 16)
    assert est.wall_s == 1e5 and est.goodput == 1.0 and est.expected_failures == 0.0
    # nearly infinite MTBF approaches work plus the checkpoints
    est = expected_time_to_train(1e5, 1e15, 1, checkpoint_s=10.0, interval_s=1000.0)
    assert est.wall_s == pytest.approx(1e5 + 100 * 10.0, rel=1e-6)


def test_replayed_timeline_by_hand() -> None:
    # work 10, τ = 4, δ = 1, R = 2, failure at t = 6: work 0–4, checkpoint 4–5, work 5–6 (lost 1),
    # restart 6–8, work 8–12, checkpoint 12–13, last 2 s of work 13–15.
    trace = simulate_failures(10.0, 4.0, 1.0, 2.0, [6.0])
    assert trace.wall_s == pytest.approx(15.0)
    assert (trace.failures, trace.lost_work_s, trace.restart_s, trace.checkpoint_s) == (1, 1.0, 2.0, 2.0)
    # a second failure during the restart restarts it: fail at 6 and 7 → restart 7–9, done at 16
    assert simulate_failures(10.0, 4.0, 1.0, 2.0, [6.0, 7.0]).wall_s == pytest.approx(16.0)
    # failures after the end do not count
    assert simulate_failures(10.0, 4.0, 1.0, 2.0, [100.0]).failures == 0
    # with a step time, the interval rounds down to whole steps: τ = 3 with 1.5 s steps
    assert simulate_failures(9.0, 4.0, 1.0, 2.0, [], step_s=1.5).wall_s == pytest.approx(9.0 + 2 * 1.0)


def test_monte_carlo_mean_matches_daly() -> None:
    # Exponential failures replayed many times: the mean wall time converges to Daly's formula.
    work, m, delta, r = 100.0, 10.0, 0.1, 0.2
    tau = daly_interval(delta, m)
    rng = np.random.default_rng(12345)
    walls = []
    for _ in range(2000):
        fails = sample_failure_times(rng, m, horizon_s=10 * work)
        walls.append(simulate_failures(work, tau, delta, r, fails).wall_s)
    mean, sem = float(np.mean(walls)), float(np.std(walls) / math.sqrt(len(walls)))
    expected = daly_wall_time(work, tau, delta, r, m)
    assert abs(mean - expected) < 4 * sem
    assert abs(mean - expected) / expected < 0.02


def test_goodput_breakdown_adds_up() -> None:
    est = expected_time_to_train(30 * 86400.0, 50_000 * 3600.0, 1000, checkpoint_s=120.0, restart_s=600.0)
    assert est.job_mtbf_s == pytest.approx(180_000.0)
    assert est.work_s + est.checkpoint_s + est.restart_s + est.lost_work_s == pytest.approx(est.wall_s)
    assert 0.9 < est.goodput < 1.0
    # more nodes → lower job MTBF → lower goodput
    worse = expected_time_to_train(30 * 86400.0, 50_000 * 3600.0, 4000, checkpoint_s=120.0, restart_s=600.0)
    assert worse.goodput < est.goodput


def test_goodput_for_scenario() -> None:
    s = load_scenario(
        None, ["reliability.node_mtbf=1000 h", "reliability.checkpoint_write=60 s", "reliability.restart=300 s"]
    )
    est = goodput_for(s, 86400.0)
    assert est.job_mtbf_s == pytest.approx(1000 * 3600.0 / s.cluster.nodes)
    assert est.wall_s > 86400.0


def test_replay_failure_for_scenario() -> None:
    # 1000 steps of 2 s; checkpoint 10 s; restart 60 s; node MTBF 100 h on 8 nodes → job MTBF 12.5 h,
    # Daly interval ≈ √(2·10·45000) − ... ≈ 950 s → 474 whole steps = 948 s.
    s = load_scenario(
        None, ["reliability.node_mtbf=100 h", "reliability.checkpoint_write=10 s", "reliability.restart=60 s"]
    )
    tau = daly_interval(10.0, 100 * 3600.0 / s.cluster.nodes)
    steps_per_ckpt = math.floor(tau / 2.0)
    fail_at = 1500.0
    trace = replay_failures(s, 2.0, 1000, [fail_at])
    # the failure strikes in the second segment: lost work = time since that segment began
    segment_start = steps_per_ckpt * 2.0 + 10.0
    assert trace.failures == 1
    assert trace.lost_work_s == pytest.approx(fail_at - segment_start)
    checkpoints = math.ceil(1000 / steps_per_ckpt) - 1
    assert trace.wall_s == pytest.approx(2000.0 + checkpoints * 10.0 + trace.lost_work_s + 60.0)


def test_checkpoints_are_at_least_one_step_apart() -> None:
    """A training loop checkpoints between steps: with a free checkpoint (0 s) Daly's optimum is 0 s of work,
    and a node failing every microsecond lost nothing — ``dpsim run`` printed 96.9 % goodput for a 30 ms step
    on a job failing every 500 ns, ``dpsim plan --node-mtbf '1 us'`` trained as fast as without failures.
    With the interval at least one step, a failure loses half a step on average: to first order
    wall = T (1 + step / 2M), by hand; and a job failing far more often than a step never finishes."""
    step, mtbf = 1.0, 1000.0
    estimate = expected_time_to_train(3600.0, mtbf, 1, checkpoint_s=0.0, step_s=step)
    assert estimate.interval_s == step
    assert estimate.wall_s == pytest.approx(3600.0 * mtbf * math.expm1(step / mtbf) / step)
    assert estimate.wall_s == pytest.approx(3600.0 * (1 + step / (2 * mtbf)), rel=1e-6)
    assert expected_time_to_train(3600.0, mtbf, 1, checkpoint_s=60.0, step_s=step).interval_s > step  # Daly's
    with pytest.raises(OverflowError):  # e^(30 ms / 500 ns): the caller reports no progress
        expected_time_to_train(3600.0, 1e-6, 2, step_s=0.03)


def test_run_and_plan_report_no_progress_when_a_step_outlasts_the_failures() -> None:
    from dpsim import api
    from dpsim.plan import PlanRequest, plan
    from dpsim.report import reliability_fields

    scenario = load_scenario(None, overrides=["reliability.node_mtbf='1 us'"])
    fields = reliability_fields(api.run(scenario), scenario)
    assert fields["goodput"] == 0.0 and fields["goodput_samples_per_s"] == 0.0
    request = PlanRequest(model="gpt2-xl", tokens=2e10, devices=("a100-80gb",), max_devices=64, node_mtbf_s=1e-6)
    result = plan(request)
    assert not len(result.ranked) and "never trains" in result.notes[-1]
