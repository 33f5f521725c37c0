"""The slowest of R time-sliced ranks on C cores: how much later than the mean it ends, and both engines paying it."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from dpsim import api
from dpsim.calibration import HardwareProfile, HostModel, LinearTime, load_profile, save_profile
from dpsim.errors import ScenarioError
from dpsim.scenario import load_scenario

Q = 4e-3  # the slice measured on the 2-core VM (CONFIG_HZ=250)


def _exact_excess(ranks: int, slots: int) -> Fraction:
    """E[max] − E[mean] of ``ranks`` positions drawn independently and uniformly from slots 1..``slots`` of a round,
    by enumeration of the maximum's distribution (P(max ≤ j) = (j/m)^R), in slots."""
    m = slots
    e_max = sum(Fraction(j) * (Fraction(j, m) ** ranks - Fraction(j - 1, m) ** ranks) for j in range(1, m + 1))
    return e_max - Fraction(m + 1, 2)


@pytest.mark.parametrize(
    ("ranks", "want_ms"),
    [
        (1, 0.0),
        (2, 0.0),  # a core each: nothing time-sliced
        (3, 1.5),  # round 3·4/2 = 6 ms; 6·2/(2·4)
        (4, 2.4),  # round 8 ms; 8·3/(2·5)
        (8, 16 * 7 / 18),  # round 16 ms; 16·7/(2·9) = 6.22 ms
    ],
)
def test_slowest_rank_lag_by_hand(ranks: int, want_ms: float) -> None:
    host = HostModel(2.0, time_slice_s=Q)
    assert host.slowest_rank_lag(ranks) == pytest.approx(want_ms * 1e-3, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("ranks", [3, 5, 8])
def test_slowest_rank_lag_is_the_largest_of_uniform_places_in_a_round(ranks: int) -> None:
    """Against an independent count: R places drawn from m slots of one round; m → ∞ approaches the closed form."""
    host = HostModel(2.0, time_slice_s=Q)
    round_s = ranks * Q / 2
    m = 400
    discrete = float(_exact_excess(ranks, m)) * round_s / m
    assert host.slowest_rank_lag(ranks) == pytest.approx(discrete, rel=3e-3)


def test_no_slice_measured_no_lag() -> None:
    assert HostModel(2.0).slowest_rank_lag(8) == 0.0


def _scenario(tmp_path: Path, nodes: int) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        "model: {kind: mlp, layers: 2, hidden: 512}\n"
        f"cluster: {{nodes: {nodes}, device: {{peak_flops: 1 TFLOP/s, memory: 64 GB}}, "
        "inter_node: {bandwidth: 1 Gbit/s}}\n"
        f"training: {{global_batch: {64 * nodes}, micro_batch: 64, optimizer: adam, precision: fp32}}\n"
        "communication: {algorithm: ring, bucket: 25 MiB}\n"
        "calibration: {profile: hw.yaml}\n"
    )
    return path


def _profile(time_slice_s: float) -> HardwareProfile:
    host = HostModel(2.0, 0.0, "job", 0.0, {1: 1.0, 2: 1.0}, 0.0, time_slice_s=time_slice_s)
    return HardwareProfile(name="t", forward=LinearTime(1e-3, 1e-4), backward=LinearTime(2e-3, 2e-4),
                           optimizer=LinearTime(0.0, 5e-9), host_model=host)  # fmt: skip


@pytest.mark.parametrize(("nodes", "lag_ms"), [(2, 0.0), (4, 2.4), (8, 16 * 7 / 18)])
def test_both_engines_pay_the_slowest_rank(tmp_path: Path, nodes: int, lag_ms: float) -> None:
    """Compute and step grow by the lag, nothing else moves; both engines alike."""
    scenario_file = _scenario(tmp_path, nodes)
    results = {}
    for q in (0.0, Q):
        save_profile(_profile(q), tmp_path / "hw.yaml")
        scenario = load_scenario(scenario_file)
        results[q] = {e: api.run(scenario, engine=e) for e in ("analytic", "sim")}
    for engine in ("analytic", "sim"):
        before, after = results[0.0][engine], results[Q][engine]
        assert after.compute_s - before.compute_s == pytest.approx(lag_ms * 1e-3, rel=1e-9, abs=1e-12)
        assert after.step_time_s - before.step_time_s == pytest.approx(lag_ms * 1e-3, rel=1e-9, abs=1e-12)
        assert after.exposed_comm_s == pytest.approx(before.exposed_comm_s, rel=1e-12, abs=1e-15)
        assert after.optimizer_s == pytest.approx(before.optimizer_s, rel=1e-12, abs=1e-15)
    assert results[Q]["analytic"].step_time_s == pytest.approx(results[Q]["sim"].step_time_s, rel=1e-9)


def test_time_slice_round_trips_and_a_bad_one_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "hw.yaml"
    save_profile(_profile(3.95e-3), path)
    assert "time_slice: 3.95 ms" in path.read_text()
    assert load_profile(path).host_model == _profile(3.95e-3).host_model
    save_profile(_profile(0.0), path)
    assert "time_slice" not in path.read_text()  # not measured: not written
    good = path.read_text()
    for bad in ("-4 ms", "2 s", "4", "nan ms"):
        path.write_text(good.replace("  cores: 2.0\n", f"  cores: 2.0\n  time_slice: {bad}\n"))
        with pytest.raises(ScenarioError, match=r"host_model\.time_slice"):
            load_profile(path)
    run = subprocess.run([sys.executable, "-m", "dpsim.cli", "run", str(_scenario(tmp_path, 4))],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "host_model.time_slice" in run.stderr


def test_calibration_measures_a_slice() -> None:
    """Two processes spinning on one core are each descheduled after a slice: between the EEVDF base slice
    (0.75 ms and up) and a few timer ticks."""
    pytest.importorskip("torch")
    from runtime.calibrate import measure_time_slice

    assert 0.5e-3 < measure_time_slice(0.5) < 50e-3
