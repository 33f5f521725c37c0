"""model.fp8_linear: Transformer Engine v0.10's plain te.Linear (llm-foundry's fc_type: te under Composer), by hand."""

from __future__ import annotations

import math

import pytest

from dpsim.compute import layer_kernels, te_linear_cast_bytes
from dpsim.scenario import Scenario, scenario_from_dict


def _mpt_1b(fp8_linear: str = "te_linear", precision: str = "fp8", **training: object) -> Scenario:
    """MPT-1b at s 8,192 (d 2,048, 16 heads of 128, GELU MLP at 4·d), as llm-foundry's H100 FP8 row."""
    model = {"layers": 24, "hidden": 2048, "heads": 16, "seq_len": 8192, "vocab": 50368, "fp8_linear": fp8_linear}
    return scenario_from_dict(
        {
            "model": model,
            "cluster": {"device": "h100-sxm"},
            "training": {"global_batch": 2, "micro_batch": 2, "precision": precision, **training},
        }
    )


def test_te_linear_bytes_mpt_1b_by_hand() -> None:
    # tokens 2 x 8192 = 16,384. QKV's and MLP-up's inputs, 16,384 x 2,048 each, cast and transposed by TE:
    # 4 bytes an element -> 4 x 16,384 x 2,048 x 2 = 268,435,456. The weights, cast and transposed each forward
    # (4 bytes an element): QKV 2,048 x 6,144 = 12,582,912, out 2,048 x 2,048 = 4,194,304, up and down
    # 2,048 x 8,192 = 16,777,216 each: 50,331,648 elements, 201,326,592 bytes. Sum 469,762,048.
    s = _mpt_1b()
    assert te_linear_cast_bytes(s.model, 2, 1, False) == 469_762_048.0


def test_te_linear_bytes_gqa_tensor_sequence_parallel_by_hand() -> None:
    # h 4,096, 32 heads of 128, 8 KV heads, SwiGLU at 14,336, s 4,096, micro-batch 1, TP 2 with sequence
    # parallelism: TE casts the 2,048 local tokens before its gather: 4 x 2,048 x 4,096 x 2 = 67,108,864.
    # Weights on one device: QKV 4,096 x (16 + 2 x 4) x 128 = 12,582,912, out 16 x 128 x 4,096 = 8,388,608, gate and
    # up 4,096 x 2 x 7,168 = 58,720,256, down 7,168 x 4,096 = 29,360,128: 109,051,904 elements, x 4 = 436,207,616.
    model = {
        "layers": 2,
        "hidden": 4096,
        "heads": 32,
        "kv_heads": 8,
        "ffn_hidden": 14336,
        "gated_mlp": True,
        "seq_len": 4096,
        "vocab": 32000,
        "fp8_linear": "te_linear",
    }
    s = scenario_from_dict(
        {
            "model": model,
            "cluster": {"device": "h100-sxm", "workers_per_node": 2},
            "training": {"global_batch": 1, "micro_batch": 1, "precision": "fp8", "tensor_parallel": 2},
        }
    )
    assert te_linear_cast_bytes(s.model, 1, 2, True) == 67_108_864.0 + 436_207_616.0


def test_te_linear_is_one_forward_kernel_at_memory_speed() -> None:
    # one more forward kernel, at the H100's memory-bound rate 3.35 TB/s x 0.83 x 0.71; nothing else moves
    te = _mpt_1b()
    plain = _mpt_1b("te_layernorm_linear")
    with_te = {(k.name, k.phase): k for k in layer_kernels(te.model, te.cluster.device, "fp8", 2)}
    without = {(k.name, k.phase): k for k in layer_kernels(plain.model, plain.cluster.device, "fp8", 2)}
    assert set(with_te) - set(without) == {("fp8_cast.te_linear", "forward")}
    kernel = with_te[("fp8_cast.te_linear", "forward")]
    assert kernel.bytes == 469_762_048.0
    assert kernel.seconds == pytest.approx(469_762_048.0 / (3.35e12 * 0.83 * 0.71), rel=1e-12)
    assert kernel.seconds == pytest.approx(2.3796e-4, rel=1e-4)  # 0.238 ms a layer and micro-batch
    for key, k in without.items():
        assert with_te[key].seconds == k.seconds


def test_te_linear_priced_in_the_step_and_its_recompute() -> None:
    # 24 layers x 0.2380 ms = 5.711 ms a micro-batch more in the forward; full recomputation runs it again
    from dpsim.compute import compute_times

    extra = 24 * 469_762_048.0 / (3.35e12 * 0.83 * 0.71)
    te, plain = compute_times(_mpt_1b()), compute_times(_mpt_1b("te_layernorm_linear"))
    assert te.forward_s - plain.forward_s == pytest.approx(extra, rel=1e-9)
    assert te.backward_s == pytest.approx(plain.backward_s, rel=1e-12)
    full = compute_times(_mpt_1b(activation_recomputation="full"))
    full_plain = compute_times(_mpt_1b("te_layernorm_linear", activation_recomputation="full"))
    moved = (full.forward_s + full.backward_s) - (full_plain.forward_s + full_plain.backward_s)
    assert math.isclose(moved, 2.0 * extra, rel_tol=1e-9)


def test_te_linear_needs_fp8() -> None:
    from dpsim.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"model\.fp8_linear.*needs training\.precision: fp8 \(got bf16\)"):
        _mpt_1b(precision="bf16")
