"""What a sequence-parallel linear keeps for its weight gradient under each implementation
(``training.sequence_parallel_kind``), against torch's own DTensor tensor parallelism and by hand."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import published_runs as RUNS
from dpsim.analytic.memory import activation_bytes_per_layer, memory_breakdown
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, scenario_from_dict

GIB = 2**30


def _torchtitan_block_saved_inputs(t: int, b: int, s: int, h: int, f: int) -> tuple[int, list[int]]:
    """Run one block with torchtitan's TP plan (parallelize_llama.py ``apply_tp`` at 9dec370) on a fake ``t``-rank
    group and return the block input's bytes on this rank and the bytes of each distinct tensor that the
    column-parallel linears (wq, wk, wv, w1, w3) read, asserting autograd saved every one of them."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Replicate, Shard
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        PrepareModuleInput,
        RowwiseParallel,
        SequenceParallel,
        parallelize_module,
    )
    from torch.testing._internal.distributed.fake_pg import FakeStore

    from runtime.torchrun import destroy_group

    class Attention(torch.nn.Module):  # the projections of torchtitan's Attention; the core is not what is counted
        def __init__(self) -> None:
            super().__init__()
            self.wq, self.wk, self.wv, self.wo = (torch.nn.Linear(h, h, bias=False) for _ in range(4))

        def forward(self, x: Any, _freqs: Any) -> Any:
            return self.wo(self.wq(x) * self.wk(x) + self.wv(x))

    class FeedForward(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w1, self.w3 = torch.nn.Linear(h, f, bias=False), torch.nn.Linear(h, f, bias=False)
            self.w2 = torch.nn.Linear(f, h, bias=False)

        def forward(self, x: Any) -> Any:
            return self.w2(torch.nn.functional.silu(self.w1(x)) * self.w3(x))

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention_norm, self.ffn_norm = torch.nn.RMSNorm(h), torch.nn.RMSNorm(h)
            self.attention, self.feed_forward = Attention(), FeedForward()

        def forward(self, x: Any) -> Any:
            x = x + self.attention(self.attention_norm(x), None)
            return x + self.feed_forward(self.ffn_norm(x))

    def local(x: Any) -> Any:
        return x._local_tensor if isinstance(x, DTensor) else x

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=t)
    try:
        mesh = init_device_mesh("cpu", (t,))
        block = Block().to(torch.bfloat16)
        parallelize_module(
            block,
            mesh,
            {
                "attention_norm": SequenceParallel(),
                "attention": PrepareModuleInput(
                    input_layouts=(Shard(1), None), desired_input_layouts=(Replicate(), None)
                ),
                "attention.wq": ColwiseParallel(),
                "attention.wk": ColwiseParallel(),
                "attention.wv": ColwiseParallel(),
                "attention.wo": RowwiseParallel(output_layouts=Shard(1)),
                "ffn_norm": SequenceParallel(),
                "feed_forward": PrepareModuleInput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),)),
                "feed_forward.w1": ColwiseParallel(),
                "feed_forward.w2": RowwiseParallel(output_layouts=Shard(1)),
                "feed_forward.w3": ColwiseParallel(),
            },
        )
        read: dict[int, int] = {}  # storage -> bytes of what the column-parallel linears read

        def record(_module: Any, args: Any) -> None:
            x = local(args[0])
            read[x.untyped_storage().data_ptr()] = x.numel() * x.element_size()

        for name in ("attention.wq", "attention.wk", "attention.wv", "feed_forward.w1", "feed_forward.w3"):
            block.get_submodule(name).register_forward_pre_hook(record)
        saved: set[int] = set()

        def pack(x: Any) -> Any:
            saved.add(local(x).untyped_storage().data_ptr())
            return x

        # the block's input as torchtitan's blocks get it: the sequence-sharded local tensor (RowwiseParallel's
        # embedding output, output_layouts=Shard(1))
        x = torch.randn(b, s // t, h, dtype=torch.bfloat16, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
            block(x)
        assert set(read) <= saved  # autograd keeps what the linears read for their weight gradients
        return x.numel() * x.element_size(), sorted(read.values())
    finally:
        destroy_group()


def test_dtensor_keeps_the_gathered_inputs_that_sequence_parallel_kind_counts() -> None:
    """torch's DTensor (torchtitan's plan) keeps two tensors a block for the column-parallel weight gradients, the
    attention's and the MLP's all-gathered inputs, each b·s·h at 2 bytes: t times the block's input shard, which is
    what Megatron keeps (and gathers again in the backward). ``sequence_parallel_kind: dtensor`` counts exactly the
    difference a layer: 2 · 2·b·s·h · (1 − 1/t)."""
    t, b, s, h, f = 4, 2, 32, 16, 48
    shard, inputs = _torchtitan_block_saved_inputs(t, b, s, h, f)
    assert shard == b * (s // t) * h * 2
    assert inputs == [t * shard, t * shard]  # one tensor serves wq/wk/wv, one w1/w3: whole, not the shard
    kept = {
        mode: activation_bytes_per_layer(
            s,
            b,
            h,
            4,
            tensor_parallel=t,
            sequence_parallel=True,
            ffn_hidden=f,
            gated_mlp=True,
            dropout=False,
            attention="flash",
            gathered_linear_inputs=mode == "dtensor",
        )
        for mode in ("megatron", "dtensor")
    }
    assert kept["dtensor"] - kept["megatron"] == pytest.approx(sum(inputs) - sum(inputs) / t, rel=1e-12)


def _llama(**training: Any) -> Scenario:
    """A small Llama on 2 x 4 GPUs: 4 layers, h 1,024, s 2,048, vocabulary 32,000, micro-batch 2, TP 4 with
    sequence parallelism, full recomputation, bf16."""
    return scenario_from_dict(
        {
            "model": {
                "layers": 4,
                "hidden": 1024,
                "heads": 8,
                "seq_len": 2048,
                "vocab": 32000,
                "ffn_hidden": 2816,
                "gated_mlp": True,
                "dropout": False,
                "attention": "flash",
                "tied_embeddings": False,
                "learned_positions": False,
            },
            "cluster": {"nodes": 1, "workers_per_node": 8, "device": "h100-sxm", "intra_node": "nvlink4"},
            "training": {
                "global_batch": 4,
                "micro_batch": 2,
                "tensor_parallel": 4,
                "sequence_parallel": True,
                "activation_recomputation": "full",
                **training,
            },
        }
    )


@pytest.mark.parametrize(("precision", "linear_in"), [("bf16", 2.0), ("fp8", 1.0)])
def test_gathered_inputs_by_hand(precision: str, linear_in: float) -> None:
    """Full recomputation keeps each layer's 2·s·b·h/t input either way; the layer rebuilt in the backward holds its
    QKV and MLP inputs whole (linear_in bytes each: 2, or 1 in FP8, where torchao's PrepareFloat8ModuleInput
    gathers in float8), and the output layer its 2-byte input whole: with s·b·h = 2,048 · 2 · 1,024 = 4 Mi elements
    and t = 4, (2·linear_in + 2) · 4 Mi · 3/4 bytes more (bf16 18 MiB, FP8 12 MiB); nothing else moves."""
    sbh = 2048 * 2 * 1024
    shard, gathered = (_llama(precision=precision, sequence_parallel_kind=k) for k in ("megatron", "dtensor"))
    before, after = memory_breakdown(shard), memory_breakdown(gathered)
    assert after.activations - before.activations == (2 * linear_in + 2) * sbh * 3 / 4
    assert (after.weights, after.gradients, after.optimizer_states, after.buffers) == (
        before.weights,
        before.gradients,
        before.optimizer_states,
        before.buffers,
    )


def test_torchtitan_70b_float8_rows_by_hand() -> None:
    """The Dec 2024 70B Float8 rows (TP 8, local batch 16, s 8,192, h 8,192: s·b·h = 2^30 elements a rank after the
    gather): the rebuilt layer's two float8 inputs 2 · 1 B · 2^30 · 7/8 and the output layer's bf16 input
    2 B · 2^30 · 7/8, 3.5 GiB more than the shards; 60.78 -> 64.28 GiB against the logged 71.9 / 67.6."""
    for name in ("torchtitan 70B TP8 FP8 on 256 H100", "torchtitan 70B TP8 FP8 AsyncTP on 256 H100"):
        run = next(r for r in RUNS.TORCHTITAN_RUNS if r.name == name)
        assert run.scenario["training"]["sequence_parallel_kind"] == "dtensor"
        data = {**run.scenario, "training": {**run.scenario["training"], "sequence_parallel_kind": "megatron"}}
        gathered = memory_breakdown(scenario_from_dict(dict(run.scenario)))
        shard = memory_breakdown(scenario_from_dict(data))
        assert gathered.total - shard.total == 3.5 * GIB
        assert gathered.total / GIB == pytest.approx(64.28, abs=0.01)


def test_sequence_parallel_kind_needs_sequence_parallelism() -> None:
    with pytest.raises(ScenarioError) as info:
        _llama(sequence_parallel=False, sequence_parallel_kind="dtensor")
    assert info.value.field == "training.sequence_parallel_kind"
    at_one = _llama(tensor_parallel=1, global_batch=16, sequence_parallel_kind="dtensor")
    assert at_one.ignored_fields()["training.sequence_parallel_kind"] == ("read only with tensor_parallel > 1")
