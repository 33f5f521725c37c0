"""The persistent per-GPU speed spread (``variability.rank_speed_sigma``): the exact expected slowest of N normal
ranks, the simulator's per-rank draw, and the two engines agreeing over many seeds within the Monte-Carlo error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dpsim.analytic.step import expected_pace, predict
from dpsim.errors import ScenarioError
from dpsim.rank_speed import draw_rank_paces, expected_max_standard_normal, expected_slowest
from dpsim.scenario import load_scenario
from dpsim.sim import simulate

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def test_expected_max_is_the_exact_order_statistic() -> None:
    assert expected_max_standard_normal(1) == 0.0
    assert expected_max_standard_normal(2) == pytest.approx(1 / math.sqrt(math.pi), abs=1e-12)
    assert expected_max_standard_normal(3) == pytest.approx(3 / (2 * math.sqrt(math.pi)), abs=1e-12)
    # E[max of 4] = 3/(2√π)·(1 + 2/π·asin(1/3)) (the closed form for four normals)
    four = 3 / (2 * math.sqrt(math.pi)) * (1 + 2 / math.pi * math.asin(1 / 3))
    assert expected_max_standard_normal(4) == pytest.approx(four, abs=1e-12)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="whole number"):
            expected_max_standard_normal(bad)  # type: ignore[arg-type]


def test_expected_slowest_against_its_special_cases_and_a_large_sample() -> None:
    assert expected_slowest([1.0, 1.5, 1.0], 0.0) == 1.5
    assert expected_slowest([1.0] * 64, 0.03) == pytest.approx(1 + 0.03 * expected_max_standard_normal(64))
    # two paces 1e-13 apart take the interpolated path (log Φ tabulated once) and meet the exact order statistic
    twin = expected_slowest([1.0] * 63 + [1.0 + 1e-13], 0.03)
    assert twin == pytest.approx(1 + 0.03 * expected_max_standard_normal(64), abs=1e-9)
    # one straggler 50 % slower, far beyond the others' spread: the slowest is it, at its mean
    assert expected_slowest([1.0] * 7 + [1.5], 0.01) == pytest.approx(1.5, abs=1e-9)
    # ranks of two paces close enough that either may be the slowest: against a million draws
    multipliers = [1.0] * 24 + [1.04] * 8
    rng = np.random.default_rng(7)
    draws = (np.asarray(multipliers) * (1 + 0.05 * rng.standard_normal((100_000, 32)))).max(axis=1)
    error = 3 * draws.std() / math.sqrt(len(draws))
    assert expected_slowest(multipliers, 0.05) == pytest.approx(draws.mean(), abs=error)
    for sigma in (-0.01, 0.21):
        with pytest.raises(ValueError, match="sigma"):
            expected_slowest([1.0], sigma)


def test_the_draw_touches_no_generator_at_sigma_zero_and_is_one_normal_a_rank() -> None:
    rng = np.random.default_rng(3)
    assert draw_rank_paces([1.0, 2.0], 0.0, rng).tolist() == [1.0, 2.0]
    assert rng.standard_normal() == np.random.default_rng(3).standard_normal()
    paces = draw_rank_paces([1.0, 2.0, 1.0], 0.1, np.random.default_rng(5))
    z = np.random.default_rng(5).standard_normal(3)
    assert paces.tolist() == pytest.approx((np.array([1.0, 2.0, 1.0]) * (1 + 0.1 * z)).tolist())


@pytest.mark.parametrize(
    ("name", "sets"),
    [
        ("default.yaml", []),  # 64 data-parallel ranks
        (
            "llama2-7b-128-h100-zero1.yaml",
            ["cluster.nodes=2", "training.tensor_parallel=2", "training.global_batch=16"],
        ),
    ],
)
def test_the_simulators_draws_average_to_the_analytic_expectation(name: str, sets: list[str]) -> None:
    """Overlap off, so the step is linear in the slowest rank's pace: the mean of the simulator's seeded draws (one
    cluster a replication) meets the closed form's expectation within three standard errors, and the spread
    moves the step by far more than that."""
    common = ["communication.overlap=false", *sets]
    spread = load_scenario(SCENARIOS / name, [*common, "variability.rank_speed_sigma=0.05"])
    nominal = predict(load_scenario(SCENARIOS / name, common)).step_time_s
    analytic = predict(spread).step_time_s
    replications = 160
    simulated = simulate(
        load_scenario(
            SCENARIOS / name, [*common, "variability.rank_speed_sigma=0.05", f"variability.replications={replications}"]
        )
    )
    # step_time_ci95_s: the half width t·s/√R of the replications' mean
    assert simulated.step_time_ci95_s > 0
    assert analytic == pytest.approx(simulated.step_time_s, abs=1.5 * simulated.step_time_ci95_s)
    assert analytic - nominal > 10 * simulated.step_time_ci95_s
    assert expected_pace(spread) == pytest.approx(1 + 0.05 * expected_max_standard_normal(spread.world_size))


def test_the_default_does_not_move_and_the_field_is_bounded() -> None:
    default = load_scenario(None)
    assert default.variability.rank_speed_sigma == 0.0
    assert expected_pace(default) == 1.0
    for bad in ("-0.01", "0.3", "true"):
        with pytest.raises(ScenarioError, match=r"variability\.rank_speed_sigma"):
            load_scenario(None, [f"variability.rank_speed_sigma={bad}"])


def test_the_seed_is_read_with_the_spread_and_the_analytic_engine_reads_the_spread() -> None:
    seeded = load_scenario(None, ["variability.seed=3"])
    assert "variability.seed" in seeded.ignored_fields("sim")
    spread = load_scenario(None, ["variability.seed=3", "variability.rank_speed_sigma=0.02"])
    assert "variability.seed" not in spread.ignored_fields("sim")
    assert "variability.rank_speed_sigma" not in spread.ignored_fields("analytic")
    assert "variability.seed" in spread.ignored_fields("analytic")
