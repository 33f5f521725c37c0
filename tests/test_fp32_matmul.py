"""training.fp32_matmul: fp32 GEMMs on the TF32 tensor cores or, PyTorch's default, on the FP32 units (by hand)."""

from __future__ import annotations

import pytest

from dpsim.compute import compute_device, compute_times, gemm_time
from dpsim.scenario import Scenario, scenario_from_dict


def _scenario(device: str, fp32_matmul: str) -> Scenario:
    return scenario_from_dict(
        {
            "model": {"layers": 8, "hidden": 1024, "heads": 8, "seq_len": 1024, "vocab": 50304, "attention": "flash"},
            "cluster": {"device": device},
            "training": {"global_batch": 4, "micro_batch": 4, "precision": "fp32", "fp32_matmul": fp32_matmul},
        }
    )


@pytest.mark.parametrize(("device", "ieee", "tf32"), [("h200", 67e12, 494.5e12), ("a100-80gb", 19.5e12, 156e12)])
def test_datasheet_fp32_peaks(device: str, ieee: float, tf32: float) -> None:
    # NVIDIA datasheets: H100/H200 SXM FP32 67 TFLOP/s, TF32 tensor 494.5 (dense); A100 FP32 19.5, TF32 156
    assert compute_device(_scenario(device, "ieee")).peak_for("fp32") == ieee
    assert compute_device(_scenario(device, "tf32")).peak_for("fp32") == tf32


def test_ieee_gemm_by_hand() -> None:
    # an 8192 x 8192 x 8192 fp32 GEMM on an H200 at the FP32 units: 2·8192^3 / (67e12 · 0.801) + 4 us, / 0.71
    device = compute_device(_scenario("h200", "ieee"))
    expected = (2.0 * 8192**3 / (67e12 * 792.1 / 989) + 4e-6) / 0.71
    assert gemm_time(8192, 8192, 8192, 1, device.peak_for("fp32"), device, 4.0) == pytest.approx(expected, rel=1e-12)
    # the whole step's compute: GEMM-bound, so about the peak ratio slower (memory-bound kernels unchanged)
    slow, fast = compute_times(_scenario("h200", "ieee")), compute_times(_scenario("h200", "tf32"))
    ratio = (slow.forward_s + slow.backward_s) / (fast.forward_s + fast.backward_s)
    assert 3.0 < ratio < 494.5 / 67
