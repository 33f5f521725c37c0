"""Each rank's phases on the host's shared clock (``StepTiming.started_unix_s``, :func:`runtime.measure.lags`): when
it began to compute and when it left the gradient synchronisation, behind the step's first rank (stop 50)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from dpsim.scenario import Scenario, scenario_from_dict
from runtime.measure import StepTiming, aggregate, lags


def _scenario() -> Scenario:
    return scenario_from_dict(
        {
            "name": "lags",
            "model": {"kind": "mlp", "layers": 2, "hidden": 32, "parameters": 2112, "flops_per_sample": 12672},
            "cluster": {"nodes": 3, "device": {"peak_flops": "1 TFLOP/s", "memory": "1 GB"}},
            "training": {"global_batch": 24, "micro_batch": 2, "optimizer": "sgd", "precision": "fp32"},
            "communication": {"algorithm": "halving-doubling"},
        },
        "<test>",
    )


def _timing(step: int, rank: int, started: float, step_s: float, optimizer_s: float) -> StepTiming:
    return StepTiming(step, rank, step_s, 0.03, 0.05, step_s - 0.08 - optimizer_s, optimizer_s, started_unix_s=started)


def test_each_rank_lags_the_first_by_hand() -> None:
    """Step 1: ranks start at 100.000 / 100.010 / 100.030 and leave the synchronisation at start + step − optimizer
    = 100.080 / 100.085 / 100.105; step 2 (one 1.0 s later) the same but rank 1 starts 0.020 late: rank 1's start lag
    is the median of 0.010 and 0.020, its release lag of 0.005 and 0.015."""
    timings = {
        0: [_timing(1, 0, 100.000, 0.100, 0.020), _timing(2, 0, 101.000, 0.100, 0.020)],
        1: [_timing(1, 1, 100.010, 0.090, 0.015), _timing(2, 1, 101.020, 0.090, 0.015)],
        2: [_timing(1, 2, 100.030, 0.100, 0.025), _timing(2, 2, 101.030, 0.100, 0.025)],
    }
    by_step = {s: {r: ts[s - 1] for r, ts in timings.items()} for s in (1, 2)}
    got = lags(by_step)
    assert got["start"] == pytest.approx({"0": 0.0, "1": 0.015, "2": 0.030}, abs=1e-9)
    assert got["release"] == pytest.approx({"0": 0.0, "1": 0.010, "2": 0.025}, abs=1e-9)
    run = aggregate(_scenario(), timings, warmup_steps=2, meta={})  # step 2 alone
    assert run.extra["per_rank_start_lag_s"] == pytest.approx({"0": 0.0, "1": 0.020, "2": 0.030}, abs=1e-9)
    assert run.extra["per_rank_release_lag_s"] == pytest.approx({"0": 0.0, "1": 0.015, "2": 0.025}, abs=1e-9)


def test_records_before_the_shared_clock_give_no_lags() -> None:
    timings = {r: [StepTiming(s, r, 0.1, 0.03, 0.05, 0.0, 0.02) for s in range(3)] for r in range(3)}
    run = aggregate(_scenario(), timings, warmup_steps=1, meta={})
    assert "per_rank_start_lag_s" not in run.extra and "per_rank_release_lag_s" not in run.extra
