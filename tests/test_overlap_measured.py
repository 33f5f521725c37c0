"""The backward's overlap window measured on the testbed (issue 10): its fit, the profile field, both engines."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from dpsim.calibration import HostModel, fit_overlap_window, load_profile, profile_for, save_profile
from dpsim.errors import ScenarioError
from tests.test_calibration import _testbed_profile, window_scenario


def test_fit_takes_the_median_demand_and_inflation_and_reports_the_worst_point() -> None:
    """C = 2. Shares 0.5 / 0.5 / 0.4 on 2 / 3 / 4 ranks: d = (C/s − N)/N = 1, 1/3, 1/4 → 1/3; CPU ratios
    1.4, 1.3, 1.2 → 1.3. Stretch measured ratio·min(1, C/N)/s: 2.8, 1.7333, 1.5; the fit gives
    1.3·max(1, (N + N/3)/2)/max(1, N/2) = 1.7333 at every N: worst |1.7333 − 2.8|/2.8 = 0.381."""
    d, inflation, residual = fit_overlap_window([(2, 0.5, 1.4), (3, 0.5, 1.3), (4, 0.4, 1.2)], cores=2.0)
    assert d == pytest.approx(1 / 3, rel=1e-12)
    assert inflation == pytest.approx(1.3, rel=1e-12)
    assert residual == pytest.approx(abs(1.3 * 4 / 3 - 2.8) / 2.8, rel=1e-9)
    # a backward that keeps its whole core (or the share time-slicing alone leaves it) needs no demand
    assert fit_overlap_window([(2, 1.0, 1.0), (4, 0.5, 1.0)], cores=2.0)[:2] == (0.0, 1.0)
    with pytest.raises(ValueError, match="out of range"):
        fit_overlap_window([(2, 0.0, 1.0)], cores=2.0)


def test_stretch_is_processor_sharing_with_the_measured_demand() -> None:
    host = HostModel(2.0, overlap_comm_cores=1.0, overlap_cpu_inflation=1.25)
    assert host.overlap_stretch(2, 2) == pytest.approx(1.25 * (2 + 2) / 2, rel=1e-12)  # 2.5
    assert host.overlap_stretch(4, 4) == pytest.approx(1.25 * (4 + 4) / 2 / 2, rel=1e-12)  # 2.5
    assert host.overlap_stretch(4, 2) == pytest.approx(1.25 * (4 + 2) / 2 / 2, rel=1e-12)  # 1.875
    assert host.overlap_stretch(1, 0) == pytest.approx(1.25, rel=1e-12)  # a core each: only the extra work
    assert HostModel(2.0).overlap_stretch(2, 2) is None  # not measured: the κ window


def test_both_engines_stretch_the_backward_by_the_measured_window(tmp_path: Path) -> None:
    """2 ranks, one per node, on 2 cores (ε = 0), d = 1 core, CPU ×1.25: the backward of the last micro-batch
    takes 1.25·(2 + 2·1)/2 = 2.5 times its time alone, window and compute alike (κ = 20 ns/B is not used)."""
    from dpsim import api

    host = HostModel(2.0, 0.0, "job", 20e-9, {1: 1.0}, 0.0, overlap_comm_cores=1.0, overlap_cpu_inflation=1.25)
    scenario = window_scenario(tmp_path, host)
    profile = profile_for(scenario)
    assert profile is not None
    fwd, bwd = profile.compute_for(scenario, 64)
    hidden = 4 * scenario.model.num_parameters - 4 * (1024 * 1024 + 1024)
    assert profile.overlap_backward(scenario, bwd, hidden) == pytest.approx(2.5 * bwd, rel=1e-12)
    assert profile.overlap_backward_compute(scenario, bwd, hidden) == pytest.approx(2.5 * bwd, rel=1e-12)
    assert profile.overlap_backward(scenario, bwd, 0.0) == pytest.approx(bwd)
    copy_back = 2 * 4 * (1024 * 1024 + 1024) / (1e12 * 0.83)  # DDP's copy of the last bucket, after its all-reduce
    analytic, sim = api.run(scenario, engine="analytic"), api.run(scenario, engine="sim")
    for result in (analytic, sim):
        assert result.compute_s == pytest.approx(fwd + 2.5 * bwd + copy_back, rel=1e-9)
    assert sim.step_time_s == pytest.approx(analytic.step_time_s, rel=1e-6)


def test_the_measured_window_round_trips_and_is_checked(tmp_path: Path) -> None:
    host = HostModel(2.0, 0.0, "job", 0.0, {1: 1.0}, 0.0, overlap_comm_cores=1.13, overlap_cpu_inflation=1.4,
                     overlap_measured=((2, 0.47, 1.4), (3, 0.4, 1.3)), overlap_residual=0.12)  # fmt: skip
    path = tmp_path / "tb.yaml"
    save_profile(dataclasses.replace(_testbed_profile(), host_model=host), path)
    assert load_profile(path).host_model == host
    text = path.read_text(encoding="utf-8")
    for bad, field in (("overlap_comm_cores: 1.13", "overlap_comm_cores: -1"),
                       ("overlap_cpu_inflation: 1.4", "overlap_cpu_inflation: .nan")):  # fmt: skip
        path.write_text(text.replace(bad, field), encoding="utf-8")
        with pytest.raises(ScenarioError, match=re.escape(f"host_model.{field.split(':')[0]}")):
            load_profile(path)
    path.write_text(text.replace("overlap_comm_cores: 1.13", ""), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"host_model\.overlap_cpu_inflation"):
        load_profile(path)


def test_overlap_point_is_the_backward_less_the_forward_per_rank() -> None:
    """Rank 0: backward wall 40 − 10 = 30 ms, CPU 25 − 10 = 15 ms (share 0.5); rank 1: 40 ms, 20 ms (0.5).
    Median backward CPU 17.5 ms over 12.5 ms alone: 1.4."""
    pytest.importorskip("torch")
    from runtime.calibrate import overlap_point

    record = {"extra": {"per_rank_compute_s": {"0": 0.040, "1": 0.050}, "per_rank_forward_s": {"0": 0.010, "1": 0.010},
                        "per_rank_compute_cpu_s": {"0": 0.025, "1": 0.030},
                        "per_rank_forward_cpu_s": {"0": 0.010, "1": 0.010}}}  # fmt: skip
    share, ratio = overlap_point(record, 0.0125)
    assert share == pytest.approx(0.5, rel=1e-12) and ratio == pytest.approx(1.4, rel=1e-12)
    with pytest.raises(ValueError, match="per-rank"):
        overlap_point({"extra": {"per_rank_compute_s": {"0": 0.04}}}, 0.0125)
