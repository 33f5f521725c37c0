"""PyTorch profiler trace → per-layer compute, gradient readiness and overlap; engines replay the measured readiness."""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dpsim.analytic.step import bucket_sizes, predict
from dpsim.buckets import gradient_tensors, traced_buckets
from dpsim.calibration import HardwareProfile, bucket_ready_fractions, load_profile, save_profile
from dpsim.errors import ScenarioError
from dpsim.ingest.kineto import load_trace, parse_trace, ready_curve
from dpsim.scenario import scenario_from_dict
from dpsim.sim import simulate

torch = pytest.importorskip("torch")

LAYERS, HIDDEN = 4, 64


def _profile_one_step(path: Path, *, ddp: bool) -> Any:
    """A real CPU trace of one training step of a 4-layer MLP (DDP on one gloo rank when ``ddp``)."""
    from torch import nn
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = nn.Sequential(*(m for _ in range(LAYERS) for m in (nn.Linear(HIDDEN, HIDDEN), nn.ReLU())))
    wrapped: nn.Module = model
    if ddp:
        import torch.distributed as dist

        store = dist.FileStore(str(path.with_suffix(".store")), 1)
        dist.init_process_group("gloo", store=store, rank=0, world_size=1)
        # one parameter per bucket: each weight is 16 KiB
        wrapped = nn.parallel.DistributedDataParallel(model, bucket_cap_mb=0.01)
    x = torch.randn(8, HIDDEN)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def step() -> None:
        wrapped(x).square().mean().backward()
        opt.step()
        opt.zero_grad()

    try:
        for _ in range(2):  # DDP rebuilds its buckets in gradient-ready order after the first step
            step()
        with profile(activities=[ProfilerActivity.CPU], with_stack=True, record_shapes=True) as prof:
            step()
        prof.export_chrome_trace(str(path))
    finally:
        if ddp:
            from runtime.torchrun import destroy_group

            # the DDP wrapper holds the group and sits in a reference cycle (the step closure): collected in
            # destroy_group, before the group goes, not at some later test's allocation
            del wrapped, step
            destroy_group()
    return model


def test_trace_gives_layers_gradient_bytes_and_ready_order(tmp_path: Path) -> None:
    model = _profile_one_step(tmp_path / "t.json", ddp=False)
    step = load_trace(tmp_path / "t.json")
    assert [layer.name for layer in step.layers] == [
        f"{kind}_{i}" for i in range(LAYERS) for kind in ("Linear", "ReLU")
    ]
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    assert sum(g for g, _ in step.gradients) == param_bytes
    assert [layer.gradient_bytes for layer in step.layers] == [4.0 * (HIDDEN * HIDDEN + HIDDEN), 0.0] * LAYERS
    # backward runs last layer first: its two gradients (bias, weight) are ready first
    sizes = [g for g, _ in step.gradients]
    assert sizes == [4.0 * HIDDEN, 4.0 * HIDDEN * HIDDEN] * LAYERS
    times = [t for _, t in step.gradients]
    assert times == sorted(times) and times[0] > 0 and times[-1] == pytest.approx(step.backward_s)
    assert all(layer.forward_s > 0 and layer.backward_s > 0 for layer in step.layers if layer.name.startswith("Linear"))
    assert sum(layer.forward_s for layer in step.layers) <= step.forward_s + 1e-9
    assert step.comm_s == 0.0 and step.overlap == 1.0 and not step.gpu
    curve = ready_curve(step.gradients, step.backward_s)
    assert curve[-1] == (1.0, pytest.approx(1.0))
    assert all(b[0] >= a[0] and b[1] >= a[1] for a, b in itertools.pairwise(curve))


def test_ddp_trace_gives_one_bucket_per_hook_call(tmp_path: Path) -> None:
    _profile_one_step(tmp_path / "t.json", ddp=True)
    step = load_trace(tmp_path / "t.json")
    assert len(step.gradients) == 2 * LAYERS
    # every bucket is handed to communication after (or as) its gradients became ready
    assert step.buckets and sum(b.size_bytes for b in step.buckets) == sum(g for g, _ in step.gradients)
    ready = sorted(t for _, t in step.gradients)
    for bucket in step.buckets:
        assert any(t <= bucket.ready_s + 1e-9 for t in ready)
    assert 0.0 <= step.overlap <= 1.0


def test_not_a_trace_is_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="traceEvents"):
        parse_trace({"foo": 1}, "x.json")
    with pytest.raises(ScenarioError, match="with_stack=True"):
        parse_trace({"traceEvents": [{"ph": "X", "name": "aten::mm", "ts": 0, "dur": 1, "cat": "cpu_op"}]}, "x.json")


def test_bucket_ready_fractions_follow_the_measured_curve() -> None:
    buckets = [25.0, 25.0, 50.0]
    assert bucket_ready_fractions((), buckets) == [0.25, 0.5, 1.0]  # uniform
    # a gradient of 60 % of the bytes (an embedding) ready only at the very end
    curve = ((0.2, 0.5), (0.4, 0.7), (1.0, 1.0))
    assert bucket_ready_fractions(curve, buckets) == [0.7, 1.0, 1.0]


BASE: dict[str, Any] = {
    "name": "trace-replay",
    "model": {"preset": "gpt2-small"},
    "cluster": {
        "nodes": 4,
        "workers_per_node": 1,
        "device": "a100-80gb",
        "inter_node": {"bandwidth": "25 Gbit/s", "latency": "5 us"},
    },
    "training": {"global_batch": 32, "micro_batch": 8, "precision": "fp32"},
    "communication": {"algorithm": "ring", "bucket": "25 MB", "overlap": True},
}


def _scenario(tmp_path: Path, curve: tuple[tuple[float, float], ...] | None, **changes: Any) -> Any:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        section, field = key.split(".")
        data[section][field] = value
    if curve is not None:
        path = tmp_path / f"p{abs(hash(curve))}.yaml"
        save_profile(HardwareProfile(name="t", gradient_ready=curve), path)
        data["calibration"] = {"profile": str(path)}
    return scenario_from_dict(data)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_all_gradients_ready_at_the_end_equals_no_overlap(tmp_path: Path, engine: str) -> None:
    run = predict if engine == "analytic" else simulate
    # one curve point is one tensor holding every gradient byte: DDP never splits a tensor, so
    # it is one bucket, reduced after the backward — overlap off with a bucket that holds it all
    late = run(_scenario(tmp_path, ((1.0, 1.0),)))
    serial = run(_scenario(tmp_path, None, **{"communication.overlap": False, "communication.bucket": "10 GB"}))
    assert late.step_time_s == pytest.approx(serial.step_time_s, rel=1e-12)
    assert late.exposed_comm_s == pytest.approx(serial.exposed_comm_s, rel=1e-12)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_without_overlap_the_trace_still_gives_the_buckets(tmp_path: Path, engine: str) -> None:
    """DDP's reducer builds its buckets from the tensors it sees, whether it launches them as they fill or
    after the backward: one tensor of every byte is one bucket after the backward either way."""
    run = predict if engine == "analytic" else simulate
    late = run(_scenario(tmp_path, ((1.0, 1.0),)))
    blocking = run(_scenario(tmp_path, ((1.0, 1.0),), **{"communication.overlap": False}))
    assert blocking.extra["buckets"] == late.extra["buckets"] == 1
    assert blocking.step_time_s == pytest.approx(late.step_time_s, rel=1e-12)
    assert blocking.comm_s == pytest.approx(late.comm_s, rel=1e-12)


def test_engines_agree_without_overlap_on_a_trace(tmp_path: Path) -> None:
    """Overlap off, the buckets a trace gives: both engines reduce the same ones (dpsim.buckets.ddp_trace);
    the analytic engine used the model's own layout (50 buckets of 1 MB-capped tensors, not the trace's 4:
    1.1 % apart at 5 us, 3.7 % at 50 us)."""
    curve = ((0.05, 0.3), (0.5, 0.55), (0.62, 0.9), (1.0, 1.0))
    link = {"bandwidth": "25 Gbit/s", "latency": "50 us"}
    scenario = _scenario(
        tmp_path, curve, **{"communication.overlap": False, "communication.bucket": "1 MB", "cluster.inter_node": link}
    )
    grad = scenario.model.num_parameters * 4
    expected = len(traced_buckets(curve, grad, scenario.communication.bucket)[0])
    analytic, simulated = predict(scenario), simulate(scenario)
    assert analytic.extra["buckets"] == simulated.extra["buckets"] == expected == 4
    assert simulated.step_time_s == pytest.approx(analytic.step_time_s, rel=1e-2)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_a_uniform_curve_changes_nothing(tmp_path: Path, engine: str) -> None:
    run = predict if engine == "analytic" else simulate
    scenario = _scenario(tmp_path, None)
    # the buckets the engines cut: DDP's, of the model's gradient tensors
    tensors = gradient_tensors(scenario)
    sizes = bucket_sizes(scenario.model.num_parameters * 4, scenario.communication.bucket, None, tensors)
    total = sum(sizes)
    cumulative = [sum(sizes[: i + 1]) / total for i in range(len(sizes))]
    curve = tuple((c, c) for c in cumulative)
    assert run(_scenario(tmp_path, curve)).step_time_s == pytest.approx(run(scenario).step_time_s, rel=1e-12)


def test_a_tensor_larger_than_the_bucket_cap_is_one_bucket(tmp_path: Path) -> None:
    """A large embedding (most bytes, ready last) is one collective in DDP, not bytes / cap of them."""
    curve = ((0.3, 0.5), (1.0, 1.0))  # two parameters; the last holds 70 % of the bytes
    sizes, fractions = traced_buckets(curve, 100e6, 25e6)
    assert sizes == pytest.approx([30e6, 70e6]) and fractions == [0.5, 1.0]  # not 4 slices of 25 MB
    # a bucket closes once it holds its cap (DDP's rule), so small tensors ahead of a large one join it
    assert traced_buckets(((0.1, 0.5), (0.2, 0.8), (1.0, 1.0)), 100e6, 25e6)[0] == pytest.approx([100e6])
    scenario = _scenario(tmp_path, curve)
    grad = scenario.model.num_parameters * 4
    expected = len(traced_buckets(curve, grad, scenario.communication.bucket)[0])
    assert expected < len(bucket_sizes(grad, scenario.communication.bucket))
    for run in (predict, simulate):
        assert run(scenario).extra["buckets"] == expected
    assert simulate(scenario).step_time_s == pytest.approx(predict(scenario).step_time_s, rel=1e-6)


def test_engines_agree_on_a_measured_curve(tmp_path: Path) -> None:
    curve = ((0.05, 0.3), (0.5, 0.55), (0.62, 0.9), (1.0, 1.0))
    scenario = _scenario(tmp_path, curve)
    assert simulate(scenario).step_time_s == pytest.approx(predict(scenario).step_time_s, rel=1e-3)


def test_profile_curve_round_trips_and_is_validated(tmp_path: Path) -> None:
    profile = HardwareProfile(name="t", gradient_ready=((0.25, 0.1), (1.0, 1.0)))
    save_profile(profile, tmp_path / "p.yaml")
    assert load_profile(tmp_path / "p.yaml").gradient_ready == profile.gradient_ready
    (tmp_path / "bad.yaml").write_text("name: x\ngradient_ready: [[0.5, 0.9], [0.4, 1.0]]\n")
    with pytest.raises(ScenarioError, match="non-decreasing"):
        load_profile(tmp_path / "bad.yaml")


def test_cli_from_trace_adds_curve_and_compute(tmp_path: Path) -> None:
    _profile_one_step(tmp_path / "t.json", ddp=False)
    scenario = tmp_path / "s.yaml"
    scenario.write_text(json.dumps({**BASE, "training": {**BASE["training"], "micro_batch": 8}}))
    out = tmp_path / "p.yaml"
    command = [sys.executable, "-m", "dpsim.cli", "calibrate", str(scenario), "--from-trace", str(tmp_path / "t.json")]
    proc = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    profile = load_profile(out)
    step = load_trace(tmp_path / "t.json")
    assert profile.gradient_ready == ready_curve(step.gradients, step.backward_s)
    assert profile.backward is not None and profile.backward(8) == pytest.approx(step.backward_s)
    assert [layer["name"] for layer in profile.meta["trace"]["layers"]][:2] == ["Linear_0", "ReLU_0"]
    proc = subprocess.run([*command[:-1], str(tmp_path / "missing.json"), "--out", str(out)], capture_output=True,
                          text=True)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")
