"""``model.projections: separate``: torchtitan's wq, wk and wv as three linears and w1, w3 as two
(dpsim.compute.layer_kernels), each GEMM on its own roofline, their input gradients summed, and op SAC's rerun wk and w3
as their own GEMMs."""

from __future__ import annotations

import pytest

from dpsim.compute import layer_kernels, op_sac_rerun_seconds, op_sac_saved
from dpsim.scenario import load_scenario


def _llama3_8b(projections: str) -> tuple[object, object]:
    s = load_scenario(
        None,
        overrides=["model.preset=llama3-8b", "cluster.device=h100-sxm", f"model.projections={projections}"],
    )
    return s.model, s.cluster.device


def _roofline(m: float, n: float, k: float) -> float:
    """An H100 SXM bf16 GEMM by hand: the larger of its FLOPs at 792.1 TFLOP/s and its bytes at 0.83 of 3.35 TB/s,
    plus 4 µs, at the sustained fraction 0.71 (the catalog's curve)."""
    flops = 2.0 * m * n * k / 792.1e12
    moved = 2.0 * (m * k + k * n + m * n) / (3.35e12 * 0.83)
    return (max(flops, moved) + 4e-6) / 0.71


def test_llama3_8b_at_tp8_by_hand() -> None:
    """Llama 3 8B at TP 8, 12 sequences of 8192 (98,304 rows): wq 512 columns a rank (compute bound), wk and wv 128
    each (memory bound: each reads the whole 98,304 x 4,096 input for 128 columns). The fused GEMM (768 columns) is
    compute bound, so the three take 1.44 x as long on the catalog's 3.35 TB/s; the input gradients' sum reads two
    more b·s·h tensors."""
    m, k = 12 * 8192.0, 4096.0
    fused = {x.name: x for x in layer_kernels(*_llama3_8b("fused"), "bf16", 12, 8, True)}
    separate = {x.name: x for x in layer_kernels(*_llama3_8b("separate"), "bf16", 12, 8, True)}
    assert fused["qkv"].seconds == pytest.approx(_roofline(m, 768, k), rel=1e-12)
    by_hand = _roofline(m, 512, k) + 2 * _roofline(m, 128, k)
    assert separate["qkv"].seconds == pytest.approx(by_hand, rel=1e-12)
    assert separate["qkv"].seconds / fused["qkv"].seconds == pytest.approx(1.44, abs=0.01)
    assert separate["qkv"].flops == pytest.approx(fused["qkv"].flops)  # the same FLOPs, in three GEMMs
    # data gradients (m x 4096 out of 512 / 128 / 128) and weight gradients (4096 x n, reduced over m)
    assert separate["qkv.dgrad"].seconds == pytest.approx(_roofline(m, k, 512) + 2 * _roofline(m, k, 128))
    assert separate["qkv.wgrad"].seconds == pytest.approx(_roofline(k, 512, m) + 2 * _roofline(k, 128, m))
    assert separate["qkv.dgrad_sum"].bytes == 2 * 2.0 * m * k
    assert "qkv.dgrad_sum" not in fused
    # the gated MLP's w1 and w3 (1,792 columns a rank each, compute bound) and their input gradients' sum
    assert separate["mlp_up"].seconds == pytest.approx(2 * _roofline(m, 1792, k), rel=1e-12)
    assert separate["mlp_up.dgrad_sum"].bytes == 2.0 * m * k
    # every other kernel is the same
    others = set(fused) - {"qkv", "qkv.dgrad", "qkv.wgrad", "mlp_up", "mlp_up.dgrad", "mlp_up.wgrad"}
    assert all(separate[name] == fused[name] for name in others)


def test_op_sac_reruns_wk_as_its_own_gemm() -> None:
    """torchtitan's op SAC reruns wk (and w3): with separate linears the rerun is wk's own memory-bound GEMM, not
    its 128 / 768 share of the three GEMMs' time (which would be 0.62 of it here); one fused QKV GEMM keeps the
    share."""
    model, device = _llama3_8b("separate")
    m, k = 12 * 8192.0, 4096.0
    kernels = {x.name: x for x in layer_kernels(model, device, "bf16", 12, 8, True)}
    saved = op_sac_saved(model, 8)
    assert op_sac_rerun_seconds(kernels["qkv"], saved) == pytest.approx(_roofline(m, 128, k), rel=1e-12)
    share = kernels["qkv"].seconds * (1.0 - saved["qkv"])
    assert share == pytest.approx(0.62 * _roofline(m, 128, k), rel=0.01)
    assert op_sac_rerun_seconds(kernels["mlp_up"], saved) == pytest.approx(_roofline(m, 1792, k), rel=1e-12)
    fused = {x.name: x for x in layer_kernels(*_llama3_8b("fused"), "bf16", 12, 8, True)}
    assert fused["qkv"].parts == ()
    assert op_sac_rerun_seconds(fused["qkv"], saved) == pytest.approx(fused["qkv"].seconds * (1.0 - saved["qkv"]))


def test_without_tensor_parallelism_the_three_gemms_stay_compute_bound() -> None:
    """At TP 1 (1,024 key and value columns, 16,384 rows) each GEMM is compute bound: the three cost the fused one's
    FLOPs and two more launches, under 1 % more."""
    fused = {x.name: x.seconds for x in layer_kernels(*_llama3_8b("fused"), "bf16", 2)}
    separate = {x.name: x.seconds for x in layer_kernels(*_llama3_8b("separate"), "bf16", 2)}
    assert 1.0 < separate["qkv"] / fused["qkv"] < 1.01
