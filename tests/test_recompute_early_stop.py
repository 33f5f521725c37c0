"""``training.recompute_early_stop``: torch's non-reentrant checkpoint (2.1 on) does not rerun a block's last GEMM.

The truth is torch itself: the GEMMs an MPT block and a Llama block rerun in the backward, counted with a dispatch
mode under ``torch.utils.checkpoint(use_reentrant=False)``, with early stop (the default) and without
(``set_checkpoint_early_stop(False)``, the whole forward as torch 1.13 and the reentrant checkpoint rerun it).
"""

from __future__ import annotations

import pytest

from dpsim.compute import compute_device, compute_times, early_stop_skipped, layer_kernels
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, scenario_from_dict

torch = pytest.importorskip("torch")


def _gemms_in_backward(block: object, x: object, early_stop: bool) -> int:
    """mm / addmm calls during the backward of a checkpointed block: the rerun's forward GEMMs plus every Linear's
    data- and weight-gradient GEMMs."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.checkpoint import checkpoint, set_checkpoint_early_stop

    class Count(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.gemms = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            if func.overloadpacket in (torch.ops.aten.mm, torch.ops.aten.addmm):
                self.gemms += 1
            return func(*args, **(kwargs or {}))

    with set_checkpoint_early_stop(early_stop):
        out = checkpoint(block, x, use_reentrant=False)
    counter = Count()
    with counter:
        out.sum().backward()
    return counter.gemms


def _mpt_block(dropout: float) -> object:
    """llm-foundry v0.3.0's MPTBlock, its ops in order: LayerNorm, Wqkv (bias), attention, out_proj, residual,
    LayerNorm, up_proj, GELU, down_proj, (resid_ffn_dropout), residual."""
    nn = torch.nn
    h, heads = 32, 4

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm_1, self.norm_2 = nn.LayerNorm(h), nn.LayerNorm(h)
            self.wqkv, self.out_proj = nn.Linear(h, 3 * h), nn.Linear(h, h)
            self.up_proj, self.down_proj = nn.Linear(h, 4 * h), nn.Linear(4 * h, h)
            self.resid_ffn_dropout = nn.Dropout(dropout)

        def forward(self, x):  # type: ignore[no-untyped-def]
            b, s, _ = x.shape
            q, k, v = self.wqkv(self.norm_1(x)).split(h, dim=-1)
            q, k, v = (t.view(b, s, heads, h // heads).transpose(1, 2) for t in (q, k, v))
            a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.out_proj(a.transpose(1, 2).reshape(b, s, h))
            n = self.down_proj(torch.nn.functional.gelu(self.up_proj(self.norm_2(x))))
            return x + self.resid_ffn_dropout(n)

    return Block().train()


def _llama_block() -> object:
    """torchtitan's / ibm-fms's Llama block: RMSNorm, wq/wk/wv, attention, wo, residual, RMSNorm, SwiGLU (w1, w3),
    w2, residual; no biases."""
    nn = torch.nn
    h, heads = 32, 4

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wq, self.wk, self.wv, self.wo = (nn.Linear(h, h, bias=False) for _ in range(4))
            self.w1, self.w3 = nn.Linear(h, 88, bias=False), nn.Linear(h, 88, bias=False)
            self.w2 = nn.Linear(88, h, bias=False)

        def forward(self, x):  # type: ignore[no-untyped-def]
            b, s, _ = x.shape
            y = torch.nn.functional.rms_norm(x, (h,))
            q, k, v = (w(y).view(b, s, heads, h // heads).transpose(1, 2) for w in (self.wq, self.wk, self.wv))
            a = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.wo(a.transpose(1, 2).reshape(b, s, h))
            y = torch.nn.functional.rms_norm(x, (h,))
            return x + self.w2(torch.nn.functional.silu(self.w1(y)) * self.w3(y))

    return Block().train()


@pytest.mark.parametrize(("name", "linears"), [("mpt", 4), ("llama", 7)])
def test_torch_early_stop_skips_the_last_gemm(name: str, linears: int) -> None:
    """With early stop the backward runs one GEMM fewer than the whole rerun: the rerun stops when the last saved
    tensors, the down-projection's inputs (saved before it computes), are packed. Without it: every Linear's forward
    again plus its two gradient GEMMs."""
    torch.manual_seed(0)
    block = _mpt_block(0.0) if name == "mpt" else _llama_block()
    x = torch.randn(2, 16, 32, requires_grad=True)
    whole = _gemms_in_backward(block, x, early_stop=False)
    early = _gemms_in_backward(block, x, early_stop=True)
    assert whole == 3 * linears
    assert whole - early == 1
    model = _scenario().model
    assert early_stop_skipped(model, "bf16").get("mlp_down") == 1.0


def test_torch_early_stop_reruns_the_gemm_before_a_dropout() -> None:
    """Dropout after the down-projection saves its mask after computing, so the rerun goes through the GEMM: no GEMM
    skipped, as :func:`dpsim.compute.early_stop_skipped` says for a model with dropout."""
    torch.manual_seed(0)
    block = _mpt_block(0.1)
    x = torch.randn(2, 16, 32, requires_grad=True)
    assert _gemms_in_backward(block, x, early_stop=False) == _gemms_in_backward(block, x, early_stop=True)
    model = _scenario(dropout=True).model
    assert "mlp_down" not in early_stop_skipped(model, "bf16")


def _scenario(dropout: bool = False, **training: object) -> Scenario:
    return scenario_from_dict(
        {
            "model": {
                "layers": 8,
                "hidden": 2048,
                "heads": 16,
                "seq_len": 2048,
                "vocab": 50368,
                "attention": "flash",
                "dropout": dropout,
            },
            "cluster": {"nodes": 1, "workers_per_node": 8, "device": "h100-sxm", "intra_node": "nvlink4"},
            "training": {
                "global_batch": 32,
                "micro_batch": 4,
                "activation_recomputation": "full",
                "zero_stage": 3,
                "optimizer_sharding": "fsdp",
                **training,
            },
        }
    )


def _forward_kernels(scenario: Scenario, precision: str) -> dict[str, float]:
    kernels = layer_kernels(scenario.model, compute_device(scenario), precision, 4)
    return {k.name: k.seconds for k in kernels if k.phase == "forward"}


def test_early_stop_prices_the_rerun_without_the_down_projection() -> None:
    """The recompute time falls by each layer's down-projection GEMM (tokens x h x 4h, priced by the same kernel
    list) and the final residual add's 3 of the layer's residual kernels' 6 elements; the recomputed FLOPs by
    2 · h · 4h a token a layer: 8 layers x 2 x 2048 x 8192 x 2048 tokens x 4 sequences."""
    from dpsim.analytic.parallel import recomputation_flops_per_sample

    whole, early = _scenario(), _scenario(recompute_early_stop=True)
    kernels = _forward_kernels(whole, "bf16")
    saved = kernels["mlp_down"] + kernels["residual_adds"] / 2.0
    before, after = compute_times(whole), compute_times(early)
    assert before.recompute_s - after.recompute_s == pytest.approx(8 * saved, rel=1e-9)
    assert before.backward_s - after.backward_s == pytest.approx(8 * saved, rel=1e-9)
    assert before.forward_s == after.forward_s
    skipped = recomputation_flops_per_sample(whole) - recomputation_flops_per_sample(early)
    assert skipped == pytest.approx(8 * 2 * 2048 * 8192 * 2048, rel=1e-12)


def test_early_stop_under_fp8_skips_only_the_residual_add() -> None:
    """An FP8 linear is an autograd function that saves after computing: its GEMM is rerun."""
    whole = _scenario(precision="fp8")
    early = _scenario(precision="fp8", recompute_early_stop=True)
    kernels = _forward_kernels(whole, "fp8")
    before, after = compute_times(whole), compute_times(early)
    assert before.recompute_s - after.recompute_s == pytest.approx(8 * kernels["residual_adds"] / 2.0, rel=1e-9)


@pytest.mark.parametrize(
    "training",
    [
        {"activation_recomputation": "none"},
        {"activation_recomputation": "selective"},
        {"tensor_parallel": 2},
    ],
)
def test_early_stop_refused_where_not_modelled(training: dict[str, object]) -> None:
    with pytest.raises(ScenarioError, match=r"training\.recompute_early_stop"):
        _scenario(recompute_early_stop=True, **training)
