"""Models sized from a scenario, on synthetic data: a GPT-style transformer or an MLP.

The runtime measures *time*, so the data are random tokens (or vectors) drawn from a
seeded generator; the shapes and parameter counts follow ``scenario.model``. The training
job draws sample ``i`` of step ``s``'s global batch from ``(seed, s, i)`` alone
(:func:`synthetic_samples`), so the union of the ranks' shards is one well-defined global
batch, whatever the partition — which is what makes data-parallel training checkable
against single-process training on the same batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dpsim.scenario import Scenario

__all__ = ["GPT", "MLP", "Block", "build_model", "synthetic_batch", "synthetic_samples"]


class Block(nn.Module):
    """A pre-norm GPT-2 block as nanoGPT's ``model.py`` and Megatron-LM run it: one fused QKV linear,
    ``F.scaled_dot_product_attention(is_causal=True)`` on the per-head views, the output projection,
    then the GELU MLP — the block dpsim prices.

    Not ``nn.TransformerEncoderLayer``: its ``nn.MultiheadAttention`` is sequence-first inside, so with
    ``batch_first`` it transposes the input (the QKV GEMM's input then copied by ``reshape``), adds the
    QKV bias as a separate kernel (non-contiguous 3-D input to ``F.linear``), copies the packed projection
    into ``(3, s, b, h)`` (``_in_projection_packed``'s ``.contiguous()``), selects q, k, v from it (three
    ``SelectBackward`` zero-fills and adds in the backward) and permutes the attention output back with one
    more copy: 24-33 % of the kernel time of an H200 step that dpsim does not price.
    Parameters are registered in the same order and sizes (QKV weight and bias, out projection, fc, proj,
    the two LayerNorms), so :func:`dpsim.buckets.gradient_tensors` lists them as DDP buckets them.
    """

    def __init__(self, hidden: int, heads: int, ffn_hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.fc = nn.Linear(hidden, ffn_hidden)
        self.proj = nn.Linear(ffn_hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.norm2 = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        heads = (t.view(b, s, self.heads, h // self.heads).transpose(1, 2) for t in self.qkv(self.norm1(x)).split(h, 2))
        q, k, v = heads
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(y.transpose(1, 2).reshape(b, s, h))
        return x + self.proj(nn.functional.gelu(self.fc(self.norm2(x))))


class GPT(nn.Module):
    """Decoder-only transformer (GPT-2 layout: learned positions, pre-norm blocks, tied head)."""

    def __init__(self, layers: int, hidden: int, heads: int, seq_len: int, vocab: int, ffn_hidden: int = 0) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, hidden)
        self.positions = nn.Embedding(seq_len, hidden)
        self.blocks = nn.ModuleList(Block(hidden, heads, ffn_hidden or 4 * hidden) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        seq = tokens.shape[1]
        x = self.tokens(tokens) + self.positions.weight[:seq]
        for block in self.blocks:
            x = block(x)
        return self.norm(x) @ self.tokens.weight.T  # tied output head

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        tokens, targets = batch
        logits = self(tokens)
        return nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())


class MLP(nn.Module):
    """``layers`` square linear layers with ReLU (a regression on random vectors)."""

    def __init__(self, layers: int, hidden: int) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        for i in range(layers):
            mods.append(nn.Linear(hidden, hidden))
            if i < layers - 1:
                mods.append(nn.ReLU())
        self.net = nn.Sequential(*mods)
        self.hidden = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self(x), y)


def build_model(scenario: Scenario, seed: int = 0) -> GPT | MLP:
    """The scenario's model, initialised identically on every rank (seeded)."""
    m = scenario.model
    torch.manual_seed(seed)
    if m.kind == "transformer":
        return GPT(m.layers, m.hidden, m.heads, m.seq_len, m.vocab, m.ffn_hidden)
    layers = m.layers or 4
    hidden = m.hidden or max(1, round(math.sqrt(m.num_parameters / layers)))
    return MLP(layers, hidden)


def synthetic_batch(
    model: GPT | MLP, scenario: Scenario, micro_batch: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One micro-batch of random inputs and targets for ``model``."""
    if isinstance(model, GPT):
        m = scenario.model
        tokens = torch.randint(m.vocab, (micro_batch, m.seq_len + 1), generator=generator)
        return tokens[:, :-1], tokens[:, 1:]
    x = torch.randn(micro_batch, model.hidden, generator=generator)
    return x, torch.randn(micro_batch, model.hidden, generator=generator)


def _sample_seed(seed: int, step: int, index: int) -> int:
    """A 63-bit torch seed that depends on (seed, step, index) only (numpy's SeedSequence hashing)."""
    state = np.random.SeedSequence([seed, step, index]).generate_state(1, dtype=np.uint64)[0]
    return int(state) >> 1


def synthetic_samples(
    model: GPT | MLP, scenario: Scenario, indices: Sequence[int], seed: int, step: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples ``indices`` of step ``step``'s global batch, stacked (inputs, targets).

    Sample ``i`` is drawn from a generator seeded with ``(seed, step, i)`` only, so it is
    the same whichever rank draws it and with whichever others (unlike
    :func:`synthetic_batch`, which continues one generator).
    """
    inputs, targets = [], []
    generator = torch.Generator()
    for i in indices:
        generator.manual_seed(_sample_seed(seed, step, int(i)))
        x, y = synthetic_batch(model, scenario, 1, generator)
        inputs.append(x)
        targets.append(y)
    if not inputs:
        raise ValueError("indices must not be empty")
    return torch.cat(inputs), torch.cat(targets)
