"""runtime.model.Block: the standard GPT block (fused QKV linear, causal SDPA, out projection, GELU MLP).

It replaced ``nn.TransformerEncoderLayer`` (pre-norm, GELU, causal mask), whose ``nn.MultiheadAttention`` computes
the same function through transposes and copies dpsim does not price; the truth here is that layer itself.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from runtime.model import GPT, Block  # noqa: E402


def test_block_computes_what_the_transformer_encoder_layer_did() -> None:
    torch.manual_seed(0)
    h, heads, f, b, s = 32, 4, 80, 3, 7
    block = Block(h, heads, f)
    old = nn.TransformerEncoderLayer(h, heads, f, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    with torch.no_grad():
        old.self_attn.in_proj_weight.copy_(block.qkv.weight)
        old.self_attn.in_proj_bias.copy_(block.qkv.bias)
        for a, c in ((old.self_attn.out_proj, block.out), (old.linear1, block.fc), (old.linear2, block.proj)):
            a.weight.copy_(c.weight)
            a.bias.copy_(c.bias)
        for a, c in ((old.norm1, block.norm1), (old.norm2, block.norm2)):
            a.weight.copy_(torch.randn_like(c.weight))
            a.bias.copy_(torch.randn_like(c.bias))
            c.weight.copy_(a.weight)
            c.bias.copy_(a.bias)
    x = torch.randn(b, s, h)
    mask = nn.Transformer.generate_square_subsequent_mask(s)
    torch.testing.assert_close(block(x), old(x, src_mask=mask, is_causal=True), rtol=1e-5, atol=1e-5)
    # the same tensors in the same order: what dpsim.buckets.gradient_tensors lists for DDP's buckets
    assert [p.shape for p in block.parameters()] == [p.shape for p in old.parameters()]


def test_gpt_is_causal_and_counts_the_scenarios_parameters() -> None:
    from dpsim.scenario import scenario_from_dict

    shape = {"kind": "transformer", "layers": 2, "hidden": 64, "heads": 4, "seq_len": 16, "vocab": 100}
    scenario = scenario_from_dict(
        {
            "model": shape,
            "cluster": {"nodes": 1, "device": {"peak_flops": "1 TFLOP/s", "memory": "1 GB"}},
            "training": {"global_batch": 2, "micro_batch": 2, "precision": "fp32"},
        }
    )
    torch.manual_seed(0)
    model = GPT(2, 64, 4, 16, 100)
    assert sum(p.numel() for p in model.parameters()) == scenario.model.num_parameters
    tokens = torch.randint(100, (2, 16))
    later = tokens.clone()
    later[:, 9:] = (later[:, 9:] + 1) % 100
    with torch.no_grad():
        a, c = model(tokens), model(later)
    torch.testing.assert_close(a[:, :9], c[:, :9])
    assert not torch.allclose(a[:, 9:], c[:, 9:])
