"""What torchtitan's op-level selective checkpointing keeps from a block's forward to its backward, eager and compiled.

torchtitan (``parallelize_llama.py`` at 9dec370, ``_apply_ac_to_transformer_block``, ``selective_ac_option "op"``)
marks the outputs of ``aten.mm`` (all but every second one), SDPA and a few others ``MUST_SAVE`` and everything else
``PREFER_RECOMPUTE``. Eager, ``torch.utils.checkpoint``'s caching mode keeps every ``MUST_SAVE`` output, read in the
backward or not; compiled, AOTAutograd's min-cut partitioner (the one Inductor uses; ``aot_eager_decomp_partition``
runs it without Inductor's C++ toolchain) saves only what the backward graph reads, so the block's last matmul
(w2's output, which only the residual add reads) is not kept. This runs one Llama block (torchtitan's RMSNorm,
complex RoPE, SwiGLU, GQA) in bf16 on CPU both ways and prints the bytes the C library's allocator still holds after
the forward (``mallinfo2``: in-use heap plus mmapped blocks), less the output's, in units of b·s·h·2 bytes, beside
dpsim's ``activation_recomputation: op`` count (:func:`dpsim.analytic.memory.activation_bytes_per_layer`: the
layer input, which the caller holds here, plus wq, wv, attention output and log-sum-exp, w1 and w2 outputs).

    python benchmarks/sac_kept.py [--backend aot_eager_decomp_partition]
"""

from __future__ import annotations

import ctypes
import gc
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser

B, S, H, HEADS, KV_HEADS, FFN = 2, 512, 1024, 8, 2, 2816


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            *("arena", "ordblks", "smblks", "hblks", "hblkhd"),
            *("usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"),
        )
    ]


def _heap_in_use() -> int:
    """Bytes the C allocator has handed out: in-use heap blocks plus mmapped ones (torch's CPU tensors)."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def _block(torch: Any) -> Any:
    """torchtitan's Llama block at 9dec370 (its RMSNorm op by op, apply_rotary_emb's complex multiply, SwiGLU)."""
    F = torch.nn.functional
    head_dim = H // HEADS

    class RMSNorm(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(H))

        def forward(self, x: Any) -> Any:
            xf = x.float()
            return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).type_as(x) * self.weight

    def rotate(x: Any, freqs: Any) -> Any:
        z = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
        return torch.view_as_real(z * freqs.view(1, S, 1, -1)).flatten(3).type_as(x)

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wq, self.wo = torch.nn.Linear(H, H, bias=False), torch.nn.Linear(H, H, bias=False)
            self.wk = torch.nn.Linear(H, KV_HEADS * head_dim, bias=False)
            self.wv = torch.nn.Linear(H, KV_HEADS * head_dim, bias=False)
            self.w1, self.w3 = torch.nn.Linear(H, FFN, bias=False), torch.nn.Linear(H, FFN, bias=False)
            self.w2 = torch.nn.Linear(FFN, H, bias=False)
            self.attention_norm, self.ffn_norm = RMSNorm(), RMSNorm()

        def forward(self, x: Any, freqs: Any) -> Any:
            y = self.attention_norm(x)
            q = rotate(self.wq(y).view(B, S, HEADS, head_dim), freqs)
            k = rotate(self.wk(y).view(B, S, KV_HEADS, head_dim), freqs)
            v = self.wv(y).view(B, S, KV_HEADS, head_dim)
            k, v = (t.repeat_interleave(HEADS // KV_HEADS, dim=2) for t in (k, v))
            o = F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)), is_causal=True)
            h = x + self.wo(o.transpose(1, 2).reshape(B, S, H))
            z = self.ffn_norm(h)
            return h + self.w2(F.silu(self.w1(z)) * self.w3(z))

    return Block().to(torch.bfloat16)


def _op_sac(torch: Any) -> Any:
    """torchtitan's op-level policy: save the listed ops' outputs, all but every second mm (9dec370)."""
    from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

    aten = torch.ops.aten
    save = {
        aten.mm.default,
        aten._scaled_dot_product_efficient_attention.default,
        aten._scaled_dot_product_flash_attention.default,
        aten._scaled_dot_product_flash_attention_for_cpu.default,  # what SDPA's flash backend runs on CPU
        torch.ops._c10d_functional.reduce_scatter_tensor.default,
        aten.abs.default,
        aten.max.default,
    }

    def context() -> Any:
        meta: dict[str, int] = defaultdict(int)

        def policy(ctx: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
            key = f"{'recompute' if ctx.is_recompute else 'forward'}_mm_count"
            if func == aten.mm.default:
                meta[key] += 1
            keep = func in save and not (func == aten.mm.default and meta[key] % 2 == 0)
            return CheckpointPolicy.MUST_SAVE if keep else CheckpointPolicy.PREFER_RECOMPUTE

        return create_selective_checkpoint_contexts(policy)

    return context


def kept_units(backend: str | None, steps: int = 3) -> float:
    """b·s·h·2-byte units the forward leaves allocated (its output aside), at the last of ``steps`` steps."""
    import torch
    from torch.utils.checkpoint import checkpoint

    torch.manual_seed(0)
    block, context = _block(torch), _op_sac(torch)
    freqs = torch.polar(torch.ones(S, H // HEADS // 2), torch.randn(S, H // HEADS // 2))
    x = torch.randn(B, S, H, dtype=torch.bfloat16, requires_grad=True)

    def step(x: Any, freqs: Any) -> Any:
        return checkpoint(block, x, freqs, use_reentrant=False, context_fn=context, preserve_rng_state=False)

    run = step if backend is None else torch.compile(step, backend=backend, fullgraph=True)
    kept = 0
    for _ in range(steps):
        gc.collect()
        before = _heap_in_use()
        out = run(x, freqs)
        gc.collect()
        kept = _heap_in_use() - before - out.numel() * out.element_size()
        out.float().sum().backward()
        del out
    return kept / (B * S * H * 2)


def dpsim_units() -> float:
    """dpsim's op-SAC count for the same block, less the layer input (held by the caller here)."""
    from dpsim.analytic.memory import activation_bytes_per_layer

    per_layer = activation_bytes_per_layer(
        S, B, H, HEADS, recomputation="op", kv_heads=KV_HEADS, ffn_hidden=FFN, gated_mlp=True, attention="flash"
    )
    return per_layer / (B * S * H * 2) - 1.0


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="aot_eager_decomp_partition", help="torch.compile backend")
    args = parser.parse_args()
    eager, compiled = kept_units(None), kept_units(args.backend)
    print(f"one block, b {B}, s {S}, h {H}, {HEADS} heads ({KV_HEADS} KV), ffn {FFN}, bf16; units of b*s*h*2 bytes")
    print(f"  eager                {eager:7.3f}")
    print(f"  compiled ({args.backend}) {compiled:7.3f}")
    print(f"  dpsim op SAC         {dpsim_units():7.3f}")
    print(f"  eager - compiled     {eager - compiled:7.3f}  (w2's output: 1.000)")


if __name__ == "__main__":
    main()
