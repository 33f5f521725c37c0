"""What torch's selective-checkpoint policy sees of a matmul that a tensor subclass lowers to another op (torchao's
float8 linears: ``torch.mm`` on float8 tensors, which the subclass runs as ``_scaled_mm``), on this machine's torch.

The checkpoint's caching mode is a dispatch mode, and modes run before subclasses, so torchtitan's op SAC policy (its mm
counter and ``_save_list``) sees ``aten.mm`` and its decision holds for the op the subclass runs: what
``activation_recomputation: op`` assumes for the Float8 rows (:func:`dpsim.compute.op_sac_saved`). Here the subclass
runs ``aten.mm`` as ``aten.addmm`` (``_scaled_mm`` needs a GPU), compiled with AOTAutograd's min-cut partitioner."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")


def _block_and_policy(save_mm: bool, seen: list[str]) -> tuple[Any, Any]:
    from torch.utils._pytree import tree_map
    from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

    class Lowered(torch.Tensor):  # type: ignore[misc, name-defined]
        @staticmethod
        def __new__(cls, elem: Any) -> Any:
            return torch.Tensor._make_wrapper_subclass(cls, elem.shape, dtype=elem.dtype, device=elem.device)

        def __init__(self, elem: Any) -> None:
            self.elem = elem

        def __tensor_flatten__(self) -> tuple[list[str], None]:
            return ["elem"], None

        @staticmethod
        def __tensor_unflatten__(inner: Any, meta: Any, size: Any, stride: Any) -> Any:
            return Lowered(inner["elem"])

        @classmethod
        def __torch_dispatch__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            plain = tree_map(lambda x: x.elem if isinstance(x, Lowered) else x, (args, kwargs or {}))
            if func is torch.ops.aten.mm.default:
                a, b = plain[0]
                return torch.ops.aten.addmm.default(torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype), a, b)
            return func(*plain[0], **plain[1])

    class MatMul(torch.autograd.Function):  # type: ignore[misc, name-defined]
        @staticmethod
        def forward(ctx: Any, x: Any, w: Any) -> Any:
            ctx.save_for_backward(x, w)
            return torch.mm(Lowered(x), Lowered(w))

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            x, w = ctx.saved_tensors
            return grad @ w.t(), x.t() @ grad

    def policy(ctx: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(func))
        if func is torch.ops.aten.mm.default and save_mm:
            return CheckpointPolicy.MUST_SAVE
        return CheckpointPolicy.PREFER_RECOMPUTE

    def block(x: Any, w1: Any, w2: Any) -> Any:
        return MatMul.apply(torch.relu(MatMul.apply(x, w1)), w2)

    return block, lambda: create_selective_checkpoint_contexts(policy)


@pytest.mark.parametrize("save_mm", [True, False])
def test_the_policy_sees_the_matmul_a_subclass_lowers_and_its_decision_holds(save_mm: bool) -> None:
    from torch._functorch.aot_autograd import aot_module_simplified
    from torch._functorch.partitioners import min_cut_rematerialization_partition
    from torch.utils.checkpoint import checkpoint

    seen: list[str] = []
    block, context = _block_and_policy(save_mm, seen)
    backward: list[str] = []

    def backend(gm: Any, inputs: Any) -> Any:
        def keep(graph: Any, _: Any) -> Any:
            return graph

        def bw(graph: Any, _: Any) -> Any:
            backward.append(graph.code)
            return graph

        return aot_module_simplified(
            gm, inputs, fw_compiler=keep, bw_compiler=bw, partition_fn=min_cut_rematerialization_partition
        )

    torch._dynamo.reset()
    x, w1, w2 = (torch.randn(8, 16, requires_grad=True) if i == 0 else torch.randn(16, 16, requires_grad=True)
                 for i in range(3))  # fmt: skip
    run = torch.compile(
        lambda x, w1, w2: checkpoint(block, x, w1, w2, use_reentrant=False, context_fn=context),
        backend=backend,
        fullgraph=True,
    )
    run(x, w1, w2).sum().backward()
    assert "aten.mm.default" in seen and "aten.addmm.default" not in seen
    # saved: nothing reruns in the backward; left to recompute: the first matmul, whose output relu's backward reads
    assert backward[0].count("aten.addmm") == (0 if save_mm else 1)
