"""Compute from operations (dpsim.compute): GEMM curve, kernels by hand, flat override, FP8, flash, fit."""

from __future__ import annotations

import pytest

from dpsim.compute import compute_times, fit_gemm_curve, gemm_time, layer_kernels
from dpsim.scenario import load_scenario, scenario_from_dict


def _scenario(**training: object) -> object:
    data = {
        "model": {"layers": 4, "hidden": 1024, "heads": 16, "seq_len": 2048, "vocab": 32000},
        "cluster": {"device": "h100-sxm"},
        "training": {"global_batch": 4, "micro_batch": 1, **training},
    }
    return scenario_from_dict(data)


def test_gemm_time_by_hand() -> None:
    # H100 curve: 0.801 of 989 TFLOP/s + 4 us. 8192^3: 2·8192^3 = 1.0995e12 FLOPs -> 1.388 ms + 4 us;
    # bytes 2·3·8192² = 402.7 MB at 0.83·3.35 TB/s = 0.145 ms: compute bound.
    device = load_scenario(None, overrides=["cluster.device=h100-sxm"]).cluster.device
    flops = 2.0 * 8192**3
    expected = flops / (989e12 * 792.1 / 989) + 4e-6
    assert gemm_time(8192, 8192, 8192, 1, 989e12, device, 2.0) == pytest.approx(expected, rel=1e-12)
    # a thin GEMM is memory bound: 8192 x 8192 x 16 moves 2·(8192·16·2 + 8192²) bytes
    moved = 2.0 * (8192 * 16 + 16 * 8192 + 8192 * 8192)
    thin = moved / (3.35e12 * 0.83) + 4e-6
    assert gemm_time(8192, 8192, 16, 1, 989e12, device, 2.0) == pytest.approx(thin, rel=1e-12)


def test_layer_gemm_flops_are_the_dense_training_flops() -> None:
    # The linear-layer GEMMs of one layer do 3 x 2 x T x (params of the layer's matrices): 6·N per token.
    s = _scenario(micro_batch=2)
    m = s.model
    kernels = layer_kernels(m, s.cluster.device, "bf16", 2)
    linear = ("qkv", "attention_out", "mlp_up", "mlp_down")
    flops = sum(k.flops for k in kernels if k.name.split(".")[0] in linear)
    tokens = 2 * 2048
    assert flops == pytest.approx(6.0 * tokens * 12 * 1024**2)
    # standard attention: QK^T and AV forward 4·s²·h per sample, backward twice that
    attention = sum(k.flops for k in kernels if k.name.split(".")[0] in ("scores", "context"))
    assert attention == pytest.approx(3 * 4.0 * 2 * 2048**2 * 1024)


def test_tensor_parallel_divides_the_layer() -> None:
    s1, s8 = _scenario(micro_batch=1), _scenario(micro_batch=1)
    k1 = layer_kernels(s1.model, s1.cluster.device, "bf16", 1, 1)
    k8 = layer_kernels(s8.model, s8.cluster.device, "bf16", 1, 8)
    gemm = lambda ks: sum(k.flops for k in ks)  # noqa: E731
    assert gemm(k8) == pytest.approx(gemm(k1) / 8)


def test_flat_override_is_peak_times_efficiency() -> None:
    s = load_scenario(None, overrides=["cluster.device.efficiency=0.5"])
    t = compute_times(s)
    total = s.model.training_flops_per_sample * s.training.micro_batch / (s.cluster.device.peak_flops * 0.5)
    assert t.model == "flat"
    assert t.forward_s + t.backward_s == pytest.approx(total)
    assert t.forward_s == pytest.approx(total / 3)


def test_fp8_runs_the_linear_layers_faster() -> None:
    bf16, fp8 = compute_times(_scenario(micro_batch=4)), compute_times(_scenario(micro_batch=4, precision="fp8"))
    assert fp8.model == bf16.model == "operations"
    assert fp8.forward_s < bf16.forward_s
    # at most the linear GEMMs halve: never faster than half
    assert fp8.forward_s + fp8.backward_s > 0.5 * (bf16.forward_s + bf16.backward_s)


def test_flash_attention_is_faster_at_long_sequences() -> None:
    standard = _scenario(micro_batch=1)
    data = {
        "model": {"layers": 4, "hidden": 1024, "heads": 16, "seq_len": 2048, "vocab": 32000, "attention": "flash"},
        "cluster": {"device": "h100-sxm"},
        "training": {"global_batch": 4},
    }
    flash = scenario_from_dict(data)
    assert compute_times(flash).forward_s < compute_times(standard).forward_s


def test_full_recomputation_adds_one_forward() -> None:
    plain = compute_times(_scenario(micro_batch=1))
    full = compute_times(_scenario(micro_batch=1, activation_recomputation="full"))
    assert full.forward_s == pytest.approx(plain.forward_s)
    # every layer's forward is rerun (not the embedding and the head)
    assert plain.forward_s > full.recompute_s > 0.8 * plain.forward_s
    assert full.backward_s == pytest.approx(plain.backward_s + full.recompute_s)


def test_fit_recovers_the_curve() -> None:
    peak, eff, overhead = 100e12, 0.8, 5e-6
    points = [(f, f / (peak * eff) + overhead) for f in (1e9, 4e9, 1.6e10, 6.4e10)]
    got_eff, got_overhead = fit_gemm_curve(points, peak)
    assert got_eff == pytest.approx(eff, rel=1e-9)
    assert got_overhead == pytest.approx(overhead, rel=1e-6)
    with pytest.raises(ValueError):
        fit_gemm_curve(points[:1], peak)


def test_gemm_sweep_on_cpu() -> None:
    pytest.importorskip("torch")
    from runtime.gemm import default_shapes, fit, sweep

    points = sweep(default_shapes([32, 64]), dtype="fp32", device="cpu", reps=3)
    assert [(p.m, p.n, p.k) for p in points] == [(32, 32, 32), (128, 32, 32), (64, 64, 64), (256, 64, 64)]
    assert all(p.seconds > 0 for p in points)
    efficiency, overhead = fit(points, 1e12)
    assert efficiency > 0 and overhead >= 0
