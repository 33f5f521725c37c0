"""What a sequence-parallel linear keeps for its weight gradient under each implementation
(``training.sequence_parallel_kind``), against torch's own DTensor tensor parallelism and by hand."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import published_runs as RUNS
from dpsim.analytic.memory import (
    activation_bytes_per_layer,
    memory_breakdown,
    sequence_parallel_gathered_gradient,
    sequence_parallel_staging_copy,
)
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


def _peak_new_bytes(torch: Any, run: Any) -> int:
    """The most bytes of tensors created inside ``run()`` alive at once: every op's new outputs counted by storage
    (an output on one of its inputs' storages is a view: it shares what its base holds, or nothing if the base
    existed before) from their creation until the last Python
    reference to them goes (``_wrap_tensor_autograd`` hands back an alias without a storage of its own)."""
    import weakref

    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    live: dict[int, list[int]] = {}  # storage address -> [bytes, tensors referring to it]

    def _plain(x: Any) -> Any:
        # a DTensor (in the backward the mode sees DTensor's ops) holds its local tensor in ``_local_tensor``, an
        # AsyncCollectiveTensor (a functional collective's result until it is waited on) its storage in ``elem``
        for attribute in ("_local_tensor", "elem"):
            x = getattr(x, attribute, x)
        return x

    def _storage(x: Any) -> int | None:  # None: a tensor with no storage at all
        try:
            return int(_plain(x).untyped_storage().data_ptr())
        except RuntimeError:
            return None

    state = {"now": 0, "peak": 0}

    def release(key: int) -> None:
        live[key][1] -= 1
        if live[key][1] == 0:
            state["now"] -= live.pop(key)[0]

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            tensors = [x for x in tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)]
            inputs = {_storage(x) for x in tensors}
            wrap = torch.ops._c10d_functional._wrap_tensor_autograd.default
            for x in tree_leaves(out):
                if isinstance(x, torch.Tensor) and func is not wrap and _storage(x) is not None:
                    key = _storage(x)
                    if key not in live and key in inputs:  # a view of a tensor made before run(): nothing new
                        continue
                    if key not in live:
                        live[key] = [_plain(x).untyped_storage().nbytes(), 0]
                        state["now"] += live[key][0]
                        state["peak"] = max(state["peak"], state["now"])
                    live[key][1] += 1
                    weakref.finalize(x, release, key)
            return out

    with torch.no_grad(), Count():
        result = run()
    del result
    return state["peak"]


@pytest.mark.parametrize("layout", ["dtensor", "megatron"])
def test_sequence_collectives_copy_what_staging_copy_counts(layout: str) -> None:
    """torch DTensor's sequence-parallel collectives on a fake 4-rank group: gathering a [b, s/t, h] shard along the
    sequence (dim 1, torchtitan's layout) to ``Replicate()`` peaks at two full-length tensors, the dim-0 buffer
    and its ``torch.cat`` copy, and reducing a full-length ``Partial()`` to ``Shard(1)`` creates one full-length
    copy beside the shard; along dim 0 (Megatron's [s, b, h]) the gather creates only its result and the
    reduce-scatter only its shard. The difference, one full-length tensor at the activations' width, is what
    :func:`sequence_parallel_staging_copy` prices under ``dtensor`` and not under ``megatron``."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Partial, Replicate, Shard
    from torch.testing._internal.distributed.fake_pg import FakeStore

    from runtime.torchrun import destroy_group

    t, b, s, h = 4, 2, 32, 16
    dim = 1 if layout == "dtensor" else 0
    full = b * s * h * 2  # bf16
    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=t)
    try:
        mesh = init_device_mesh("cpu", (t,))
        shape = (b, s // t, h) if dim == 1 else (s // t, b, h)
        shard = DTensor.from_local(torch.randn(shape, dtype=torch.bfloat16), mesh, [Shard(dim)])
        gather = _peak_new_bytes(torch, lambda: shard.redistribute(mesh, [Replicate()]).to_local())
        whole = (b, s, h) if dim == 1 else (s, b, h)
        partial = DTensor.from_local(torch.randn(whole, dtype=torch.bfloat16), mesh, [Partial()])
        scatter = _peak_new_bytes(torch, lambda: partial.redistribute(mesh, [Shard(dim)]).to_local())
    finally:
        destroy_group()
    staging = full if layout == "dtensor" else 0
    assert gather == full + staging
    assert scatter == full // t + staging
    scenario = _llama(sequence_parallel_kind=layout)
    sbh = scenario.model.seq_len * scenario.training.micro_batch * scenario.model.hidden
    assert sequence_parallel_staging_copy(scenario) == 2 * sbh * staging / full
    fused = _llama(sequence_parallel_kind=layout, tp_comm_overlap=True, tp_overlap_kind="torch_async_tp")
    assert sequence_parallel_staging_copy(fused) == 0.0  # AsyncTP's fused ops gather in place, stage outside


@pytest.mark.parametrize("layout", ["dtensor", "megatron", "no_sequence_parallel"])
def test_row_parallel_backward_gathers_what_gathered_gradient_counts(layout: str) -> None:
    """The backward of a row-parallel projection whose output was reduce-scattered along the sequence (the MLP's down
    projection under sequence parallelism: torch DTensor's ``RowwiseParallel(output_layouts=Shard(d))`` on a fake
    4-rank group, [b, s, h] sharded on dim 1 as torchtitan, [s, b, h] on dim 0 as Megatron-LM's
    ``_gather_along_first_dim``) gathers the 1/t gradient shard into a full-length tensor G that the data- and
    weight-gradient GEMMs read. Counted op by op: along dim 1 the gather peaks at G and the functional collectives'
    dim-0 buffer (two full-length tensors, above G + the two GEMMs' outputs); along dim 0 at G + the input gradient
    + the weight gradient; without sequence parallelism (an all-reduced, replicated output) nothing is gathered, only
    the two GEMMs' outputs. G, one full-length tensor at the activations' width, is
    :func:`sequence_parallel_gathered_gradient` under either kind."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor.parallel import RowwiseParallel, parallelize_module
    from torch.testing._internal.distributed.fake_pg import FakeStore

    from runtime.torchrun import destroy_group

    t, b, s, h, f = 4, 2, 32, 16, 8
    full, dgrad, wgrad = b * s * h * 2, b * s * (f // t) * 2, (f // t) * h * 2  # bf16
    dim = {"dtensor": 1, "megatron": 0, "no_sequence_parallel": None}[layout]
    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=t)
    try:
        mesh = init_device_mesh("cpu", (t,))
        down = torch.nn.Linear(f, h, bias=False).to(torch.bfloat16)
        parallelize_module(down, mesh, RowwiseParallel(output_layouts=Replicate() if dim is None else Shard(dim)))
        x = torch.randn((s, b, f // t) if dim == 0 else (b, s, f // t), dtype=torch.bfloat16, requires_grad=True)
        out = down(x)
        grad = torch.randn(out.shape, dtype=torch.bfloat16)
        peak = _peak_new_bytes(torch, lambda: torch.autograd.grad(out, (x, down.weight), grad))
    finally:
        destroy_group()
    gathered = 0 if dim is None else full
    staging = full if dim == 1 else 0
    assert peak == max(gathered + staging, gathered + dgrad + wgrad)
    scenario = _llama(sequence_parallel=False) if dim is None else _llama(sequence_parallel_kind=layout)
    sbh = scenario.model.seq_len * scenario.training.micro_batch * scenario.model.hidden
    assert sequence_parallel_gathered_gradient(scenario) == 2 * sbh * gathered / full
    fused = _llama(sequence_parallel_kind="dtensor", tp_comm_overlap=True, tp_overlap_kind="torch_async_tp")
    assert sequence_parallel_gathered_gradient(fused) == 2 * sbh  # AsyncTP gathers into A_flat, a caching-allocator
    # tensor (fused_all_gather_matmul: A_shard_flat.new_empty), so G is there too


@pytest.mark.parametrize(("precision", "width"), [("bf16", 2), ("fp8", 2), ("fp32", 4)])
def test_gathered_gradient_by_hand(precision: str, width: int) -> None:
    """s·b·h = 2,048 · 2 · 1,024 = 4 Mi elements at the working width (2 bytes in bf16 and FP8, whose gradients are
    bf16; 4 in fp32): 8 / 8 / 16 MiB in the buffers of every stage, under both kinds; nothing at TP 1, without
    sequence parallelism, and nothing else moves."""
    sbh = 2048 * 2 * 1024
    for kind in ("megatron", "dtensor"):
        scenario = _llama(precision=precision, sequence_parallel_kind=kind)
        assert sequence_parallel_gathered_gradient(scenario) == width * sbh
    assert sequence_parallel_gathered_gradient(_llama(precision=precision, sequence_parallel=False)) == 0.0
    assert sequence_parallel_gathered_gradient(_llama(precision=precision, tensor_parallel=1, global_batch=16,
                                                      sequence_parallel=False)) == 0.0  # fmt: skip
    with_it, without = (memory_breakdown(_llama(precision=precision, sequence_parallel=sp)) for sp in (True, False))
    assert with_it.buffers - without.buffers == width * sbh  # DDP's bucket copy alike in both
    assert (with_it.weights, with_it.gradients, with_it.optimizer_states) == (
        without.weights,
        without.gradients,
        without.optimizer_states,
    )


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
    and t = 4, (2·linear_in + 2) · 4 Mi · 3/4 bytes more (bf16 18 MiB, FP8 12 MiB); the buffers the functional
    collectives' full-length copy, 2 · 4 Mi bytes (8 MiB, bf16 in both: the gradients' gathers); nothing else moves."""
    sbh = 2048 * 2 * 1024
    shard, gathered = (_llama(precision=precision, sequence_parallel_kind=k) for k in ("megatron", "dtensor"))
    before, after = memory_breakdown(shard), memory_breakdown(gathered)
    assert after.activations - before.activations == (2 * linear_in + 2) * sbh * 3 / 4
    assert after.buffers - before.buffers == 2 * sbh
    assert (after.weights, after.gradients, after.optimizer_states) == (
        before.weights,
        before.gradients,
        before.optimizer_states,
    )


def test_torchtitan_70b_float8_rows_by_hand() -> None:
    """The Dec 2024 70B Float8 rows (TP 8, local batch 16, s 8,192, h 8,192: s·b·h = 2^30 elements a rank after the
    gather): the rebuilt layer's two float8 inputs 2 · 1 B · 2^30 · 7/8 and the output layer's bf16 input
    2 B · 2^30 · 7/8, 3.5 GiB more than the shards; 60.78 -> 64.28 GiB against the logged 71.9 / 67.6. The vanilla
    row also holds the functional collectives' full-length bf16 copy, 2 B · 2^30 = 2 GiB (66.28 GiB); AsyncTP's
    fused ops do not. Both hold the backward's gathered output gradient, 2 B · 2^30 (68.28 / 66.28 GiB). The rows'
    float8 all-gather (training.fsdp_float8_all_gather) holds the two gathered layers' linear weights at 1 byte: a
    unit of (70,553,706,496 - 2,101,346,304) / 80 / 8 = 106,956,812.8 elements, of which the share 855,638,016 /
    855,654,400 is linear weights, 2 x 106,956,812.8 x that share = 0.1992 GiB less, and torchao's column-major copy of
    the largest gathered weight (28,672 x 8,192 / 8 at 1 byte, 0.0273 GiB) more (68.11 / 66.11 GiB)."""
    for name, copy in (("torchtitan 70B TP8 FP8 on 256 H100", 2.0), ("torchtitan 70B TP8 FP8 AsyncTP on 256 H100", 0)):
        run = next(r for r in RUNS.TORCHTITAN_RUNS if r.name == name)
        assert run.scenario["training"]["sequence_parallel_kind"] == "dtensor"
        data = {**run.scenario, "training": {**run.scenario["training"], "sequence_parallel_kind": "megatron"}}
        gathered = memory_breakdown(scenario_from_dict(dict(run.scenario)))
        shard = memory_breakdown(scenario_from_dict(data))
        assert gathered.total - shard.total == pytest.approx((3.5 + copy) * GIB, rel=1e-12)
        # and both kinds the gathered output gradient, 2 B · 2^30 (sequence_parallel_gathered_gradient)
        assert gathered.total / GIB == pytest.approx(66.11 + copy, abs=0.005)


def test_sequence_parallel_kind_needs_sequence_parallelism() -> None:
    with pytest.raises(ScenarioError) as info:
        _llama(sequence_parallel=False, sequence_parallel_kind="dtensor")
    assert info.value.field == "training.sequence_parallel_kind"
    at_one = _llama(tensor_parallel=1, global_batch=16, sequence_parallel_kind="dtensor")
    assert at_one.ignored_fields()["training.sequence_parallel_kind"] == ("read only with tensor_parallel > 1")


@pytest.mark.parametrize(
    ("overrides", "copies", "whole"),
    [
        ({}, 12, 12),  # full recomputation: 4 a forward (2 gathers, 2 scatters), 4 the re-forward, 4 the backward
        ({"activation_recomputation": "none"}, 8, 8),
        # the two unfused input-gradient RS, and 4 weight-gradient copies of the operands the fused gathers return in
        # (s, b) order (async_tp_layout_copies; b = 2), which Megatron's [s, b, h] layout does not make either
        ({"tp_comm_overlap": True, "tp_overlap_kind": "torch_async_tp"}, 2, 6),
        ({"precision": "fp8"}, 12, 10),  # the forward and re-forward's 4 input gathers in float8: half the bytes
    ],
)
def test_staging_copies_timed_by_hand(overrides: dict[str, Any], copies: int, whole: int) -> None:
    """Each sequence-dimension collective under DTensor copies one full-length b·s·h tensor on the compute stream
    (the copy ``test_sequence_collectives_copy_what_staging_copy_counts`` sees torch make), read once and written
    once: with s·b·h = 2,048 · 2 · 1,024 at 2 bytes and 4 layers, a micro-batch's exposed TP time grows by
    4 · whole · 2 · 8 MiB over the H100's achievable memory rate (whole: the copies in full-length bf16 tensors; in
    FP8 torchao gathers the linears' inputs as float8, 1 byte) against the same scenario under Megatron's
    [s, b, h] layout, which gathers and scatters along dim 0 without a copy (issue 11; failed before stop 37, when
    the copies' time was not priced)."""
    from dpsim import api
    from dpsim.analytic.parallel import tensor_parallel_exposed_time, tensor_parallel_staging_copies
    from dpsim.analytic.step import fabric_of
    from dpsim.compute import compute_device

    dtensor, megatron = (_llama(sequence_parallel_kind=k, **overrides) for k in ("dtensor", "megatron"))
    assert tensor_parallel_staging_copies(dtensor) == copies and tensor_parallel_staging_copies(megatron) == 0
    d = compute_device(dtensor)
    moved = 4 * whole * 2 * (2048 * 2 * 1024 * 2)
    expected = moved / (d.memory_bandwidth * d.memory_efficiency * d.sustained_fraction)
    fabric = fabric_of(dtensor)
    grown = tensor_parallel_exposed_time(dtensor, fabric) - tensor_parallel_exposed_time(megatron, fabric)
    assert grown == pytest.approx(expected, rel=1e-12)
    steps = {engine: api.run(dtensor, engine=engine).step_time_s for engine in ("analytic", "sim")}
    assert steps["sim"] == pytest.approx(steps["analytic"], rel=1e-9)
    assert steps["analytic"] - api.run(megatron).step_time_s == pytest.approx(expected, rel=1e-6)


def test_torchao_float8_tensor_parallel_gathers_float8_by_hand() -> None:
    """torchao's Float8 tensor parallelism (torchtitan's Float8ColwiseParallel / Float8RowwiseParallel /
    PrepareFloat8ModuleInput; torchao float8/float8_tensor_parallel.py) casts a linear's Shard(1) input to float8
    before redistributing it to Replicate(), and casts the output gradient to float8 (_NoopFwToFloat8BwDynamic) before
    the reduce-scatter's backward gathers it: every sequence-parallel all-gather moves 1 byte an element, every
    reduce-scatter the activations' 2. On the Dec 2024 70B Float8 row (vanilla TP 8 in one NVLink node, micro-batch
    16 · 8,192 · 8,192 = 2^30 elements, 80 layers, full recomputation: 6 reduce-scatter + all-gather pairs a layer)
    the gather is priced on S/2 = 1 GiB, the scatter on S = 2 GiB; the staging copies of its 12 collectives move
    2 · (6 · S + 6 · S/2) = 18 S (20 S before, when only the forward gathers were float8); its bf16 twin (June 2025)
    gathers S; a Transformer Engine FP8 row (NeMo's LLAMA2-70B) keeps its gathers at 2 bytes. Fails on the old code,
    which priced every TP gather at 2 bytes (issue 11)."""
    from dpsim import api
    from dpsim.analytic.collectives import all_gather_time, reduce_scatter_time
    from dpsim.analytic.parallel import (
        _bottleneck,
        float8_sequence_gathers,
        tensor_parallel_collectives,
        tensor_parallel_comm_time,
        tensor_parallel_fabric,
        tensor_parallel_staging_bytes,
    )
    from dpsim.analytic.step import fabric_of

    rows = {r.name: r for r in RUNS.TORCHTITAN_RUNS + RUNS.NEMO_2407_HELD_OUT}
    scenario = scenario_from_dict(dict(rows["torchtitan 70B TP8 FP8 on 256 H100"].scenario))
    fabric = fabric_of(scenario)
    link = _bottleneck(tensor_parallel_fabric(8, fabric))
    size = 2.0 * 2**30
    assert scenario.training.micro_batch * scenario.model.seq_len * scenario.model.hidden == 2**30
    comm = dict(tensor_parallel_collectives(scenario, fabric))
    assert comm["all_gather"] == pytest.approx(all_gather_time(size / 2, 8, link), rel=1e-12)
    assert comm["reduce_scatter"] == pytest.approx(reduce_scatter_time(size, 8, link), rel=1e-12)
    assert comm["all_gather"] < 0.6 * comm["reduce_scatter"]
    expected = 80 * 6 * (comm["all_gather"] + comm["reduce_scatter"])
    assert tensor_parallel_comm_time(scenario, fabric) == pytest.approx(expected, rel=1e-12)
    assert tensor_parallel_staging_bytes(scenario) == pytest.approx(18 * size, rel=1e-12)
    steps = {engine: api.run(scenario, engine=engine).step_time_s for engine in ("analytic", "sim")}
    assert steps["sim"] == pytest.approx(steps["analytic"], rel=1e-9)
    bf16 = scenario_from_dict(dict(rows["torchtitan 70B TP8 on 256 H100 (2025)"].scenario))
    assert not float8_sequence_gathers(bf16)
    assert dict(tensor_parallel_collectives(bf16, fabric_of(bf16)))["all_gather"] == pytest.approx(
        all_gather_time(size, 8, _bottleneck(tensor_parallel_fabric(8, fabric_of(bf16)))), rel=1e-12
    )
    te = scenario_from_dict(dict(rows["NeMo 24.07 LLAMA2-70B FP8 on 64 H100"].scenario))
    assert te.training.precision == "fp8" and not float8_sequence_gathers(te)


def test_async_tp_split_gemms_by_hand() -> None:
    """torch's fused ops run each fused GEMM as t GEMMs of 1/t of the rows (``_fused_all_gather_matmul_impl``'s
    consumer once per gathered shard, ``_fused_matmul_reduce_scatter_impl``'s ``chunk_producer`` once per rank).
    On the Dec 2024 70B Float8 AsyncTP row (TP 8, s·b·h = 2^30 elements a rank after the gather, 80 layers, full
    recomputation) every sub-GEMM is still compute-bound (its 16,384 rows), so each fused GEMM costs 7 more launches,
    7 · 4 µs / 0.71 (the H100's kernel overhead over its sustained fraction); a layer fuses 10 (the forward's and
    re-forward's 4, the backward's 2 output-gradient gathers). The local steps besides, by hand over S = 2 GiB
    (bf16): the 2 unfused input-gradient reduce-scatters' staging copies 2 · 2S, the 6 fused gathers' local shard
    2(S/2)/8 each (torchao's Float8 tensor parallelism gathers float8: float8_sequence_gathers), the 4 fused scatters'
    partial sums S · 9/8 each. Fails before the split was priced (issue 11)."""
    from dpsim import api
    from dpsim.analytic.parallel import tensor_parallel_local_time
    from dpsim.compute import compute_device

    run = next(r for r in RUNS.TORCHTITAN_RUNS if r.name == "torchtitan 70B TP8 FP8 AsyncTP on 256 H100")
    data = dict(run.scenario)
    # one QKV GEMM (the row itself runs torchtitan's three, model.projections: separate, tests/test_projections.py),
    # so that every fused GEMM here is one compute-bound GEMM split in 8
    data["model"] = {**data["model"], "projections": "fused"}
    scenario = scenario_from_dict(data)
    d = compute_device(scenario)
    assert (d.kernel_overhead, d.sustained_fraction) == (4e-6, 0.71)
    size = 2.0 * 2**30
    moved = 2 * 2 * size + 6 * 2 * (size / 2) / 8 + 4 * size * 9 / 8
    memory = moved / (d.memory_bandwidth * d.memory_efficiency * d.sustained_fraction)
    split = 10 * 7 * 4e-6 / 0.71
    assert tensor_parallel_local_time(scenario) == pytest.approx(80 * (memory + split), rel=1e-12)
    steps = {engine: api.run(scenario, engine=engine).step_time_s for engine in ("analytic", "sim")}
    assert steps["sim"] == pytest.approx(steps["analytic"], rel=1e-9)


def test_async_tp_fused_gather_returns_the_operand_in_its_own_row_order() -> None:
    """torch's own fused all-gather-matmul (its Meta kernel, the strides Inductor plans with) on a fake 4-rank group:
    gathering [b, s/t, h] along the sequence (dim 1, DTensor's ``Shard(1)``) it returns the gathered operand as a
    [b, s, h] view in (s, b) row order, which cannot be viewed as the [b·s, h] matrix a linear's weight gradient
    reads when b > 1 (so Inductor copies it, :func:`dpsim.analytic.parallel.async_tp_layout_copies`); with b = 1
    it can. Vanilla DTensor's gather (``all_gather_tensor``, gather_dim 1) is contiguous either way."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist

    pytest.importorskip("torch.distributed._symmetric_memory")  # registers torch.ops.symm_mem
    from torch.distributed._functional_collectives import all_gather_single, wait_tensor
    from torch.testing._internal.distributed.fake_pg import FakeStore

    from runtime.torchrun import destroy_group

    t, s, h, n = 4, 32, 16, 8
    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=t)
    try:
        group = dist.group.WORLD
        assert group is not None
        for b, viewable in ((3, False), (1, True)):
            shard = torch.empty(b, s // t, h, device="meta", dtype=torch.bfloat16)
            weight = torch.empty(h, n, device="meta", dtype=torch.bfloat16)
            gathered, (out,) = torch.ops.symm_mem.fused_all_gather_matmul(shard, [weight], 1, group.group_name)
            assert tuple(gathered.shape) == (b, s, h) and tuple(out.shape) == (b, s, n)
            assert gathered.is_contiguous() == viewable
            try:
                gathered.view(b * s, h)
                as_view = True
            except RuntimeError:
                as_view = False
            assert as_view == viewable
            plain = wait_tensor(all_gather_single(torch.zeros(b, s // t, h), 1, group))
            assert tuple(plain.shape) == (b, s, h) and plain.is_contiguous()
    finally:
        destroy_group()


def test_async_tp_layout_copies_by_hand() -> None:
    """June 2025's bf16 AsyncTP row (70B, TP 8, local batch 16, full recomputation): the weight gradients copy the
    operands the fused all-gathers return in (s, b) order, the attention's and the MLP's gathered inputs (in the
    re-forward) and the two output gradients the backward's fused gathers bring in: 4 copies of S = b·s·h·2 B =
    2 GiB a layer, read and written, beside the local steps the split test counts (the 2 unfused input-gradient
    scatters' staging copies 2 · 2S, the 6 fused gathers' local shard 2S/8, the 4 fused scatters' sums S · 9/8).
    None under Float8 (torchao's weight gradient reads transposed float8 copies, made in vanilla TP too), with
    one sequence a micro-batch, or with Megatron's sequence-first layout. Fails on the old code (issue 11)."""
    from dpsim import api
    from dpsim.analytic.parallel import _async_tp_split_seconds, async_tp_layout_copies, tensor_parallel_local_time
    from dpsim.compute import compute_device

    rows = {r.name: r for r in RUNS.TORCHTITAN_RUNS}
    scenario = scenario_from_dict(dict(rows["torchtitan 70B TP8 AsyncTP on 256 H100 (2025)"].scenario))
    assert async_tp_layout_copies(scenario) == 4
    d = compute_device(scenario)
    size = 2.0 * 2**30
    moved = 2 * 2 * size + 6 * 2 * size / 8 + 4 * size * 9 / 8 + 4 * 2 * size
    memory = moved / (d.memory_bandwidth * d.memory_efficiency * d.sustained_fraction)
    split = _async_tp_split_seconds(scenario)
    assert tensor_parallel_local_time(scenario) == pytest.approx(80 * (memory + split), rel=1e-12)
    steps = {engine: api.run(scenario, engine=engine).step_time_s for engine in ("analytic", "sim")}
    assert steps["sim"] == pytest.approx(steps["analytic"], rel=1e-9)

    fp8 = scenario_from_dict(dict(rows["torchtitan 70B TP8 FP8 AsyncTP on 256 H100 (2025)"].scenario))
    assert async_tp_layout_copies(fp8) == 0
    training = scenario.training
    one = scenario.model_copy(
        update={"training": training.model_copy(update={"micro_batch": 1, "global_batch": training.global_batch // 16})}
    )
    assert async_tp_layout_copies(one) == 0
    megatron = scenario.model_copy(
        update={"training": training.model_copy(update={"sequence_parallel_kind": "megatron"})}
    )
    assert async_tp_layout_copies(megatron) == 0
    vanilla = scenario_from_dict(dict(rows["torchtitan 70B TP8 on 256 H100 (2025)"].scenario))
    assert async_tp_layout_copies(vanilla) == 0
