"""Calibration profiles: the α–β fit inverts the closed forms, and YAML round-trips exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpsim.analytic import collectives as cf
from dpsim.analytic.collectives import Link
from dpsim.calibration import (
    CollectiveSample,
    HardwareProfile,
    LinearTime,
    bus_bandwidth,
    fit_linear_time,
    fit_link,
    load_profile,
    profile_for,
    save_profile,
)
from dpsim.errors import ScenarioError
from dpsim.scenario import load_scenario

SIZES = (4e3, 64e3, 1e6, 16e6, 64e6)


@pytest.mark.parametrize("algorithm", ["ring", "tree", "halving-doubling", "direct"])
@pytest.mark.parametrize("truth", [Link(85e-6, 117.5e6), Link(2e-3, 1.25e9), Link(0.0, 3e9)])
def test_fit_recovers_alpha_beta_from_closed_form_times(algorithm: str, truth: Link) -> None:
    fabric = {n: cf.Fabric(nodes=n, per_node=1, intra=truth, inter=truth) for n in (2, 3, 4, 8)}
    samples = [
        CollectiveSample(algorithm, n, s, cf.allreduce_time(algorithm, s, fabric[n])) for n in fabric for s in SIZES
    ]
    fit = fit_link(samples)
    assert fit.link.latency_s == pytest.approx(truth.latency_s, rel=1e-9, abs=1e-15)
    assert fit.link.bandwidth == pytest.approx(truth.bandwidth, rel=1e-9)
    assert fit.max_relative_error == pytest.approx(0.0, abs=1e-9)


def test_fit_rejects_mixed_algorithms_and_too_few_samples() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        fit_link([CollectiveSample("ring", 2, 1e6, 1e-2)])
    with pytest.raises(ValueError, match="mix"):
        fit_link([CollectiveSample("ring", 2, 1e6, 1e-2), CollectiveSample("tree", 2, 2e6, 2e-2)])


def test_negative_latency_is_clamped_to_zero() -> None:
    # times exactly proportional to size minus a tiny constant would give α < 0
    samples = [CollectiveSample("ring", 2, s, s / 1e8 - 1e-7) for s in (1e6, 2e6, 4e6)]
    fit = fit_link(samples)
    assert fit.link.latency_s == 0.0
    assert fit.link.bandwidth == pytest.approx(1e8, rel=1e-3)


def test_linear_time_fit() -> None:
    fit = fit_linear_time([1, 2, 4, 8], [0.003 + 0.002 * x for x in (1, 2, 4, 8)])
    assert fit.fixed_s == pytest.approx(0.003)
    assert fit.per_unit_s == pytest.approx(0.002)
    assert fit_linear_time([4], [0.02]) == LinearTime(0.0, 0.005)


def test_bus_bandwidth_matches_nccl_tests_definition() -> None:
    # 8 ranks, 1 GB in 0.1 s: algbw 10 GB/s, busbw = 10 · 2·7/8 = 17.5 GB/s
    assert bus_bandwidth(1e9, 0.1, 8) == pytest.approx(17.5e9)


def _profile() -> HardwareProfile:
    return HardwareProfile(
        name="test",
        backend="gloo",
        host="box",
        links={"inter": {"ring": Link(8.5123e-5, 117.123456e6)}, "intra": {"ring": Link(1e-5, 2.5e9)}},
        reduction_bandwidth=3.3e9,
        forward=LinearTime(1.2e-3, 4.56789e-3),
        backward=LinearTime(2.2e-3, 9.1e-3),
        optimizer=LinearTime(1e-4, 3.3e-9),
        calibrated_on=("ranks=2", "ranks=4"),
        meta={"torch": "2.13.0"},
    )


def test_profile_round_trips_and_answers_engine_queries(tmp_path: Path) -> None:
    path = tmp_path / "hw.yaml"
    save_profile(_profile(), path)
    loaded = load_profile(path)
    assert loaded == HardwareProfile(**{**_profile().__dict__, "source": str(path)})
    assert loaded.compute_time(4) == (1.2e-3 + 4 * 4.56789e-3, 2.2e-3 + 4 * 9.1e-3)
    assert loaded.link("inter", "ring") == Link(8.5123e-5, 117.123456e6)
    assert loaded.link("inter", "hierarchical") == Link(8.5123e-5, 117.123456e6)
    assert loaded.link("inter", "tree") is None
    assert loaded.optimizer_time(1e6) == pytest.approx(1e-4 + 3.3e-3)
    assert "MB/s" in path.read_text() and "us" in path.read_text()


def test_bad_profile_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("links: {inter: {ring: {latency: 5, bandwidth: 1 GB/s}}}\n")
    with pytest.raises(ScenarioError, match=r"links\.inter\.ring"):
        load_profile(path)
    path.write_text("linkz: {}\n")
    with pytest.raises(ScenarioError, match="linkz"):
        load_profile(path)


def test_profile_for_reads_the_scenarios_profile(tmp_path: Path) -> None:
    save_profile(_profile(), tmp_path / "hw.yaml")
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(
        "model: {kind: mlp, parameters: 1e6, flops_per_sample: 6e6}\n"
        "cluster: {nodes: 2, device: {peak_flops: 1 TFLOP/s, memory: 1 GB}}\n"
        "training: {global_batch: 8}\n"
        "calibration: {profile: hw.yaml}\n"
    )
    profile = profile_for(load_scenario(scenario_file))
    assert profile is not None and profile.name == "test"
    assert profile_for(load_scenario(scenario_file, ["calibration=null"])) is None
