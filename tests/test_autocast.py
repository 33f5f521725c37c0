"""training.autocast (torch.autocast over an fp32 model under DDP): casts, fp32 norms, model states, by hand."""

from __future__ import annotations

import pytest

from dpsim.analytic.memory import memory_breakdown
from dpsim.analytic.step import predict
from dpsim.compute import autocast_cast_seconds, autocast_norm_bytes, compute_times, layer_kernels
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, scenario_from_dict

# the runtime's GPT of the 2026-12-04 H200 runs: 12 x 2048, 16 heads, s 2048, vocab 50304, tied, learned positions
MODEL = {"layers": 12, "hidden": 2048, "heads": 16, "seq_len": 2048, "vocab": 50304, "dropout": False}
PARAMS = 12 * (12 * 2048**2 + 13 * 2048) + 50304 * 2048 + 2048 * 2048 + 2 * 2048  # 711,520,256


def _scenario(autocast: bool, **training: object) -> Scenario:
    data = {
        "model": {**MODEL, "attention": "flash"},
        "cluster": {"device": "h200"},
        "training": {"global_batch": 4, "micro_batch": 4, "autocast": autocast, **training},
    }
    return scenario_from_dict(data)


def test_parameter_count_is_the_runtime_models() -> None:
    assert _scenario(True).model.num_parameters == PARAMS == 711_520_256


def test_norm_bytes_under_autocast_by_hand() -> None:
    # nn.LayerNorm under autocast: one fp32 kernel (read 4, write 4; backward read 4 + 4, write 4), the fp32 output
    # cast to bf16 for the GEMM (read 4, write 2) and the GEMM's bf16 input gradient back to fp32 (read 2, write 4)
    assert autocast_norm_bytes("fused") == (8.0 + 6.0, 16.0 + 6.0)


def test_weight_casts_by_hand() -> None:
    # every GEMM weight cast fp32 -> bf16 once a forward and its gradient back once a backward, 6 bytes a parameter
    # each, the position embedding (looked up, never multiplied) aside; H200 bandwidth 4.8 TB/s x 0.83 x 0.71
    cast = PARAMS - 2048 * 2048
    expected = cast * 6.0 / (4.8e12 * 0.83 * 0.71)
    assert autocast_cast_seconds(_scenario(True)) == [pytest.approx(expected, rel=1e-12)]
    assert autocast_cast_seconds(_scenario(False)) == [0.0]
    on, off = compute_times(_scenario(True)), compute_times(_scenario(False))
    m, device = _scenario(True).model, _scenario(True).cluster.device
    # the norms' difference: 12 layers x 2 norms + the final one over T x h elements, (14 - 4) and (22 - 8) bytes
    elements = (2 * 12 + 1) * 4 * 2048 * 2048
    rate = 4.8e12 * 0.83 * 0.71
    assert on.forward_s - off.forward_s == pytest.approx(expected + elements * 10.0 / rate, rel=1e-9)
    assert on.backward_s - off.backward_s == pytest.approx(expected + elements * 14.0 / rate, rel=1e-9)
    norms = [k for k in layer_kernels(m, device, "bf16", 4, autocast=True) if k.name.startswith("layernorms")]
    assert [k.bytes for k in norms] == [2 * 14.0 * 4 * 2048 * 2048, 2 * 22.0 * 4 * 2048 * 2048]


def test_model_states_and_copies_by_hand() -> None:
    # fp32 weights and gradients, Adam's two fp32 moments, and the bf16 copies autocast keeps for the backward
    mem = memory_breakdown(_scenario(True))
    assert mem.weights == pytest.approx(4.0 * PARAMS + 2.0 * (PARAMS - 2048 * 2048))
    assert mem.gradients == pytest.approx(4.0 * PARAMS)
    assert mem.optimizer_states == pytest.approx(8.0 * PARAMS)
    # the norms' fp32 inputs: 2 bytes an element more than the paper's 2-byte count, 2 a layer and the final norm
    extra = (12 * 2 + 1) * 2.0 * 2048 * 4 * 2048
    assert mem.activations - memory_breakdown(_scenario(False)).activations == pytest.approx(extra)


def test_activations_a_sample_by_hand() -> None:
    """The runtime GPT's activations at its peak, a sample of s = 2048 tokens (h 2048, a 16, v 50,304, 12 layers,
    flash attention, no dropout, autocast): a layer saves 36 bytes a token and hidden element (the two norms' fp32
    inputs 8, the QKV and MLP inputs 2 + 2, q, k, v 6, the attention output 2 — the out projection's input, a view of
    it —, the GELU's input and output 8 + 8) and the fp32 log-sum-exp, 4 a head and token; the output layer the
    final norm's fp32 input and the head's bf16 input (6 a hidden element) and, at nll_loss's backward, the bf16
    log_softmax output, nll_loss's fp32 copy of it and its fp32 gradient, 10 bytes a logit. Measured on one H200
    (torch.cuda.max_memory_allocated): 2.8696 GB a sample from micro-batch 4 to 8 with nn.TransformerEncoderLayer,
    2.8683 GB with runtime.model.Block from 1 to 2 (2.242 GB predicted before)."""
    s, h, a, v = 2048, 2048, 16, 50304

    def acts(mb: int) -> float:
        data = _scenario(True, micro_batch=mb, global_batch=mb).model_dump(mode="json")
        data["model"]["loss_kernel"] = "torch_fp32"  # F.cross_entropy under autocast, as the runtime
        return memory_breakdown(scenario_from_dict(data)).activations

    expected = 12 * (36 * s * h + 4 * a * s) + s * (6 * h + 10 * v)
    assert expected == 2_868_903_936
    assert acts(8) - acts(4) == pytest.approx(4 * expected, rel=1e-12)


def test_autocast_reduces_fp32_gradients() -> None:
    s = _scenario(True, optimizer_sharding="zero")
    assert s.communication_dtype == "fp32"
    assert s.gradient_buffer_bytes_per_param == 4
    assert _scenario(False).communication_dtype == "bf16"
    two = {"model": {**MODEL, "attention": "flash"}, "cluster": {"device": "h200", "workers_per_node": 2}}
    r = predict(scenario_from_dict({**two, "training": {"global_batch": 8, "micro_batch": 4, "autocast": True}}))
    assert float(r.extra["gradient_bytes"]) == pytest.approx(4.0 * PARAMS)  # DDP all-reduces fp32 param.grad


@pytest.mark.parametrize(
    "training",
    [{"precision": "fp32"}, {"precision": "fp8"}, {"zero_stage": 2, "optimizer_sharding": "fsdp"}],
)
def test_autocast_refused_where_it_does_not_run(training: dict[str, object]) -> None:
    data = {
        "model": {**MODEL, "attention": "flash"},
        "cluster": {"device": "h200", "workers_per_node": 2},
        "training": {"global_batch": 8, "micro_batch": 4, "autocast": True, **training},
    }
    with pytest.raises(ScenarioError, match=r"training\.autocast"):
        scenario_from_dict(data)
