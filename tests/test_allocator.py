"""The optimizer's first touch of memory glibc maps afresh (dpsim.allocator), priced by the host model's page fault."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from dpsim import api
from dpsim.allocator import first_touch_seconds, optimizer_fresh_bytes
from dpsim.calibration import HardwareProfile, HostModel, LinearTime, load_profile, profile_for, save_profile
from dpsim.errors import ScenarioError
from dpsim.scenario import load_scenario

MiB = 2**20


def _scenario(tmp_path: Path, model: str, optimizer: str = "adam", extra: str = "") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(
        f"model: {model}\n"
        "cluster: {nodes: 2, device: {peak_flops: 1 TFLOP/s, memory: 64 GB}, inter_node: {bandwidth: 1 Gbit/s}}\n"
        f"training: {{global_batch: 8, micro_batch: 4, optimizer: {optimizer}, precision: fp32{extra}}}\n"
        "communication: {algorithm: backend, bucket: 25 MiB}\n"
        "calibration: {profile: hw.yaml}\n"
    )
    return path


@pytest.mark.parametrize(
    ("model", "optimizer", "fresh"),
    [
        # one 3072² weight: 36 MiB > 32 MiB, Adam's sqrt and division temporaries each that size; the 12 KiB bias not
        ("{kind: mlp, layers: 1, hidden: 3072}", "adam", 2 * 3072**2 * 4),
        ("{kind: mlp, layers: 2, hidden: 4096}", "adamw", 2 * 2 * 4096**2 * 4),
        # 2048² weights are 16 MiB: at or below glibc's largest mmap threshold, served from the heap
        ("{kind: mlp, layers: 2, hidden: 2048}", "adam", 0),
        # SGD (with or without momentum) updates in place
        ("{kind: mlp, layers: 1, hidden: 3072}", "sgd", 0),
        ("{kind: mlp, layers: 1, hidden: 3072}", "momentum", 0),
    ],
)
def test_fresh_bytes_are_the_adam_temporaries_of_tensors_glibc_must_map(
    tmp_path: Path, model: str, optimizer: str, fresh: int
) -> None:
    scenario = load_scenario(_scenario(tmp_path, model, optimizer))
    assert optimizer_fresh_bytes(scenario) == fresh


def test_fresh_bytes_of_gpt2_are_its_word_embedding() -> None:
    """GPT-2 small: of its tensors only the 50257 × 768 word embedding (147 MiB fp32) exceeds 32 MiB."""
    scenario = load_scenario(None, ["model.preset=gpt2-small", "training.precision=fp32", "training.optimizer=adam",
                                    "training.zero_stage=0", "training.tensor_parallel=1",
                                    "training.pipeline_parallel=1"])  # fmt: skip
    assert optimizer_fresh_bytes(scenario) == 2 * 50257 * 768 * 4


def test_first_touch_is_one_fault_per_page() -> None:
    assert first_touch_seconds(2 * 3072**2 * 4, 2e-6) == pytest.approx(18432 * 2e-6, rel=1e-12)  # 72 MiB / 4 KiB
    assert first_touch_seconds(4097, 1e-6) == pytest.approx(2e-6, rel=1e-12)  # a partial page faults too
    assert first_touch_seconds(0, 1e-6) == 0.0


def _profile(page_fault_s: float) -> HardwareProfile:
    host = HostModel(2.0, 0.0, "job", 0.0, {1: 1.0, 2: 1.0}, 0.0, page_fault_s=page_fault_s)
    return HardwareProfile(name="t", optimizer=LinearTime(0.0, 5e-9), host_model=host)


def test_both_engines_add_the_first_touch_to_the_optimizer(tmp_path: Path) -> None:
    """1 × 3072 MLP with Adam on 2 ranks, 2 cores: 5 ns per parameter plus 18432 faults at 2 µs; analytic = sim."""
    scenario_file = _scenario(tmp_path, "{kind: mlp, layers: 1, hidden: 3072}")
    parameters = 3072**2 + 3072
    for page_fault_s, want in ((0.0, 5e-9 * parameters), (2e-6, 5e-9 * parameters + 18432 * 2e-6)):
        save_profile(_profile(page_fault_s), tmp_path / "hw.yaml")
        scenario = load_scenario(scenario_file)
        profile = profile_for(scenario)
        assert profile is not None
        assert profile.optimizer_first_touch(scenario) == pytest.approx(want - 5e-9 * parameters)
        for engine in ("analytic", "sim"):
            assert api.run(scenario, engine=engine).optimizer_s == pytest.approx(want, rel=1e-9)


def test_the_optimizer_is_priced_cold_on_its_linear_fit_time_sliced_over_the_cores(tmp_path: Path) -> None:
    """4 × 768 MLP (2,362,368 parameters), Adam, on a host of 2 cores whose memory-streams fit says M = 1.6.

    The linear fit (1 ms + 5 ns per parameter): 1 ms + 11.81184 ms = 12.81184 ms on 2 ranks (max(1, 2/2)),
    × 2.5 = 32.0296 ms on 5 (max(1, 5/2); M would say × 1.25 and × 3.125), with or without the curve's
    3 ns per parameter (the step right after a backward, warm: 7.087104 ms). Both engines.
    """
    scenario_file = _scenario(tmp_path, "{kind: mlp, layers: 4, hidden: 768}")
    host = HostModel(2.0, 0.1, "job", 0.0, {1: 1.0, 2: 1.1}, 0.0, memory_streams=1.6)
    for curve in (((512, 3e-9), (1024, 3e-9)), ()):
        profile = HardwareProfile(name="t", optimizer=LinearTime(1e-3, 5e-9), optimizer_curve=curve, host_model=host)
        save_profile(profile, tmp_path / "hw.yaml")
        for nodes, want in ((2, 12.81184e-3), (5, 32.0296e-3)):
            scenario = load_scenario(scenario_file, [f"cluster.nodes={nodes}", f"training.global_batch={4 * nodes}"])
            for engine in ("analytic", "sim"):
                assert api.run(scenario, engine=engine).optimizer_s == pytest.approx(want, rel=1e-9)


def test_page_fault_round_trips_with_its_unit_and_a_bad_one_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "hw.yaml"
    save_profile(_profile(2.25e-6), path)
    assert "page_fault: 2.25 us" in path.read_text()
    assert load_profile(path).host_model == _profile(2.25e-6).host_model
    save_profile(_profile(0.0), path)
    assert "page_fault" not in path.read_text()  # not measured: not written
    text = path.read_text().replace("  cores: 2.0\n", "  cores: 2.0\n  page_fault: -1 us\n")
    path.write_text(text)
    with pytest.raises(ScenarioError, match=r"host_model\.page_fault"):
        load_profile(path)
    scenario = _scenario(tmp_path, "{kind: mlp, layers: 1, hidden: 3072}")
    run = subprocess.run([sys.executable, "-m", "dpsim.cli", "run", str(scenario)], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "host_model.page_fault" in run.stderr


def test_calibration_takes_the_faults_out_of_the_optimizer_step() -> None:
    pytest.importorskip("torch")
    from runtime.calibrate import fault_free_time, measure_page_fault

    assert fault_free_time(0.010, 1000, 2e-6) == pytest.approx(0.008, rel=1e-12)
    assert fault_free_time(0.001, 1000, 2e-6) == 0.0
    # a fresh anonymous mapping faults on every page it first touches: a positive cost per fault
    assert measure_page_fault(4 * MiB, reps=3) > 0.0


def test_a_profile_without_page_fault_prices_the_optimizer_as_before(tmp_path: Path) -> None:
    scenario_file = _scenario(tmp_path, "{kind: mlp, layers: 1, hidden: 3072}")
    profile = dataclasses.replace(_profile(2e-6), host_model=None)
    save_profile(profile, tmp_path / "hw.yaml")
    scenario = load_scenario(scenario_file)
    assert api.run(scenario, engine="analytic").optimizer_s == pytest.approx(5e-9 * (3072**2 + 3072), rel=1e-9)
