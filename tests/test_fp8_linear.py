"""model.fp8_linear: Transformer Engine v0.10's plain te.Linear (llm-foundry's fc_type: te under Composer), by hand."""

from __future__ import annotations

import math

import pytest

from dpsim.analytic.memory import memory_breakdown
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


def _llama3(fp8_linear: str = "torchao_tensorwise", tp: int = 1, **model: object) -> Scenario:
    """Llama 3.1 8B (h 4,096, 32 heads of 128, 8 KV heads, SwiGLU at 14,336) at s 8,192, micro-batch 2; or the 70B
    shape under TP with sequence parallelism (``model`` overrides)."""
    shape = {
        "layers": 2,
        "hidden": 4096,
        "heads": 32,
        "kv_heads": 8,
        "ffn_hidden": 14336,
        "gated_mlp": True,
        "seq_len": 8192,
        "vocab": 128256,
        "fp8_linear": fp8_linear,
        **model,
    }
    training = {"global_batch": 2, "micro_batch": 2, "precision": "fp8", "tensor_parallel": tp}
    if tp > 1:
        training["sequence_parallel"] = True
    return scenario_from_dict(
        {"model": shape, "cluster": {"device": "h100-sxm", "workers_per_node": max(tp, 1)}, "training": training}
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
    s = _llama3("te_linear", tp=2, seq_len=4096, vocab=32000)
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


@pytest.mark.parametrize("fp8_linear", ["te_linear", "torchao_tensorwise"])
def test_fp8_linear_needs_fp8(fp8_linear: str) -> None:
    from dpsim.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"model\.fp8_linear.*needs training\.precision: fp8 \(got bf16\)"):
        _mpt_1b(fp8_linear, precision="bf16")


# --- model.fp8_linear: torchao_tensorwise (torchao's Float8Linear under torch.compile, torchtitan's Float8) ----------


def test_torchao_cast_bytes_llama3_8b_by_hand() -> None:
    # torchao's roofline (roofline_utils.py at eab345c), dynamic, fused with the producer, with torch.compile's
    # limitation: 0 (max(abs)) + 2 (read bf16) + 2 x 1 (float8 row- and column-major) + 1 (Inductor's extra read) = 5
    # bytes an element. Tokens 2 x 8,192 = 16,384. Forward, the distinct inputs: attention norm's output (wq, wk, wv:
    # one cast) 16,384 x 4,096, wo's 16,384 x 4,096, the MLP norm's (w1, w3: one) 16,384 x 4,096, w2's 16,384 x
    # 14,336: 436,207,616 elements, 2,181,038,080 bytes. Backward, the seven output gradients: q 4,096, k and v
    # 1,024 each, wo 4,096, w1 and w3 14,336 each, w2 4,096 wide: 16,384 x 43,008 = 704,643,072 elements,
    # 3,523,215,360 bytes. Plus, backward, each float8 weight FSDP2's float8 all-gather returns row-major copied
    # column-major for the input-gradient GEMM (preprocess_addmm's b_data.t().contiguous().t(); read 1, write 1):
    # 4,096 x (4,096 + 2 x 1,024) + 4,096 x 4,096 + 2 x 4,096 x 14,336 + 14,336 x 4,096 = 218,103,808 parameters,
    # 436,207,616 bytes, whatever the micro-batch: 3,959,422,976 bytes.
    from dpsim.compute import torchao_cast_bytes

    s = _llama3()
    assert 3_523_215_360 + 2 * 218_103_808 == 3_959_422_976
    assert torchao_cast_bytes(s.model, 2, 1, False) == (2_181_038_080.0, 3_959_422_976.0)
    # the weights' copies do not scale with the tokens: at micro-batch 1 the casts halve, the copies stay
    assert torchao_cast_bytes(s.model, 1, 1, False) == (1_090_519_040.0, 1_761_607_680.0 + 436_207_616.0)


def test_torchao_cast_bytes_70b_tensor_sequence_parallel_by_hand() -> None:
    # Llama 3.1 70B shape (h 8,192, 64 heads, 8 KV heads, SwiGLU at 28,672) at TP 8 with sequence parallelism,
    # micro-batch 2 at s 8,192: 16,384 tokens, 2,048 a sequence shard. At 5 bytes (torchao's roofline, both layouts
    # written): wo's input 16,384 x 8 x 128 = 16,777,216 and w2's 16,384 x 3,584 = 58,720,256 elements forward;
    # backward q (8 heads) + k + v (1 KV head each) = 1,280 wide, w1 and w3 3,584 each: 16,384 x 8,448 = 138,412,032.
    # The norms' outputs (forward) and wo's and w2's gradients (backward) are cast on the shard before the float8
    # all-gather at 3 bytes (read 2, write the row-major float8): 2 x 2,048 x 8,192 = 33,554,432 elements each way;
    # each of those four tensors is copied transposed in full for its weight-gradient GEMM (torchao's
    # preprocess_addmm), 2 bytes an element of 16,384 x 8,192 = 134,217,728, in the backward; and so is each of this
    # rank's float8 weights FSDP gathers (2 bytes a parameter): 8,192 x (1,024 + 2 x 128) + 1,024 x 8,192 +
    # 2 x 8,192 x 3,584 + 3,584 x 8,192 = 8,192 x 13,056 = 106,954,752.
    from dpsim.compute import torchao_cast_bytes

    s = _llama3(tp=8, hidden=8192, heads=64, ffn_hidden=28672)
    forward = 5.0 * 75_497_472 + 3.0 * 33_554_432
    backward = 5.0 * 138_412_032 + 3.0 * 33_554_432 + 2.0 * 4 * 134_217_728 + 2.0 * 106_954_752
    assert (forward, backward) == (478_150_656.0, 2_080_374_784.0)
    assert torchao_cast_bytes(s.model, 2, 8, True) == (forward, backward)


def test_torchao_weight_cast_without_fsdp_by_hand() -> None:
    # Without FSDP's float8 all-gather (training.fsdp_float8_all_gather false) Float8Linear casts each bf16 weight where
    # it runs, in every forward, at torchao's roofline count for an unfused dynamic cast under compile (roofline_utils
    # at eab345c): max(abs) 2 + read 2 + write both layouts 1 + 1 + Inductor's extra read 1 = 7 bytes a parameter, and
    # the column-major copy it writes serves the backward: no copy there. The 8B layer's 218,103,808 linear weights:
    # 1,526,726,656 bytes forward; the backward keeps only the output gradients' casts (3,523,215,360).
    from dpsim.compute import TORCHAO_WEIGHT_CAST_BYTES, compute_times, torchao_cast_bytes

    s = _llama3()
    assert TORCHAO_WEIGHT_CAST_BYTES * 218_103_808 == 1_526_726_656
    assert torchao_cast_bytes(s.model, 2, 1, False, float8_all_gather=False) == (
        2_181_038_080.0 + 1_526_726_656.0,
        3_523_215_360.0,
    )
    # the scenario decides: FSDP's float8 all-gather (the copy in the backward); without it, FSDP or not, each weight
    # is cast in the forward (torchtitan's enable_fsdp_float8_all_gather defaults to false)
    rate = 3.35e12 * 0.83 * 0.71
    fsdp = {"optimizer_sharding": "fsdp", "zero_stage": 3}
    bf16_gathers = s.model_copy(update={"training": s.training.model_copy(update=fsdp)})
    assert compute_times(bf16_gathers) == compute_times(s)
    float8 = s.model_copy(update={"training": s.training.model_copy(update={**fsdp, "fsdp_float8_all_gather": True})})
    sharded, plain = compute_times(float8), compute_times(s)
    layers = 2
    assert plain.forward_s - sharded.forward_s == pytest.approx(layers * 1_526_726_656 / rate, rel=1e-9)
    assert sharded.backward_s - plain.backward_s == pytest.approx(layers * 436_207_616 / rate, rel=1e-9)


def test_torchao_casts_replace_the_te_casts_at_memory_speed() -> None:
    # the same two kernels as Transformer Engine's layer, at torchao's bytes, at the memory-bound rate; nothing else
    from dpsim.compute import torchao_cast_bytes

    tao, te = _llama3(), _llama3("te_layernorm_linear")
    with_tao = {(k.name, k.phase): k for k in layer_kernels(tao.model, tao.cluster.device, "fp8", 2)}
    with_te = {(k.name, k.phase): k for k in layer_kernels(te.model, te.cluster.device, "fp8", 2)}
    assert set(with_tao) == set(with_te)
    forward, backward = torchao_cast_bytes(tao.model, 2, 1, False)
    rate = 3.35e12 * 0.83 * 0.71
    assert with_tao[("fp8_cast", "forward")].seconds == pytest.approx(forward / rate, rel=1e-12)
    assert with_tao[("fp8_cast.grad", "backward")].seconds == pytest.approx(backward / rate, rel=1e-12)
    # TE's count for the same layer: 3 bytes an element of wo's and w2's inputs, and of the four output gradients
    assert with_te[("fp8_cast", "forward")].bytes == 3.0 * 16384 * (4096 + 14336)
    for key, k in with_te.items():
        if key[0] not in ("fp8_cast", "fp8_cast.grad"):
            assert with_tao[key].seconds == k.seconds


def test_torchao_keeps_no_fp8_weight_copies_by_hand() -> None:
    # Transformer Engine caches each weight's FP8 copy and its transpose between micro-batches (1 + 1 bytes a
    # parameter, sharded like the weights); torchao's Float8Linear casts every weight in each forward
    # (float8_linear.py at eab345c, cast_weight_to_float8_t) and keeps no copy. Two layers of the 8B shape on one
    # H100, nothing sharded: 2 x (4,096 x (4,096 + 2 x 1,024) + 4,096 x 4,096 + 3 x 4,096 x 14,336 + 2 x 4,096) =
    # 436,224,000, the tied embedding 128,256 x 4,096 = 525,336,576, learned positions 8,192 x 4,096 = 33,554,432
    # and the final norm 4,096: 995,119,104 parameters, whose 16-bit weights are 1,990,238,208 bytes; TE holds
    # 2 x 995,119,104 = 1,990,238,208 bytes more; the rest is the same
    tao, te = memory_breakdown(_llama3()), memory_breakdown(_llama3("te_layernorm_linear"))
    assert tao.weights == 1_990_238_208.0
    assert te.weights - tao.weights == 1_990_238_208.0
    assert (te.gradients, te.optimizer_states, te.activations, te.buffers) == (
        tao.gradients,
        tao.optimizer_states,
        tao.activations,
        tao.buffers,
    )
