"""FSDP's collectives as FSDP issues them: one all-gather and one reduce-scatter a wrapped unit.

torch 2.13: FSDP2 ``torch/distributed/fsdp/_fully_shard/_fsdp_param_group.py``, ``FSDPParamGroup.unshard``
(one ``foreach_all_gather`` of the group's parameters) and ``post_backward`` (one ``foreach_reduce``); FSDP1
one ``FlatParameter`` a wrapped module (``_flat_param.py``), gathered by ``FlatParamHandle.unshard`` and
reduce-scattered by ``_runtime_utils._reduce_grad``. The units are what ``runtime.job.shard_units`` wraps
(a GPT's blocks, an MLP's linear layers), the root holding the rest.
"""

from __future__ import annotations

import pytest
import torch.nn as nn

from dpsim.buckets import bucket_sizes, piece_count
from dpsim.scenario import scenario_from_dict
from dpsim.sharding import collective_pieces, fsdp_unit_parameters, fsdp_units
from dpsim.sim.budget import dp_collectives
from runtime.model import GPT, build_model


def _scenario(model: dict, bucket: str = "25 MB", **training: object) -> object:
    return scenario_from_dict(
        {
            "name": "fsdp-units",
            "model": model,
            "cluster": {"nodes": 1, "workers_per_node": 2, "device": "a100-80gb", "intra_node": "nvlink3"},
            "communication": {"bucket": bucket},
            "training": {"global_batch": 2, "micro_batch": 1, "zero_stage": 3, "optimizer_sharding": "fsdp",
                         "precision": "bf16", **training},
        }
    )  # fmt: skip


GPT_TINY = {"kind": "transformer", "layers": 3, "hidden": 64, "heads": 4, "seq_len": 16, "vocab": 100}


@pytest.mark.parametrize(
    "model",
    [
        GPT_TINY,
        {"kind": "mlp", "layers": 3, "hidden": 32},
        {"kind": "mlp", "parameters": 4096, "flops_per_sample": 1e6},
    ],
    ids=["gpt", "mlp", "mlp-without-layers"],
)
def test_units_are_what_the_runtime_wraps(model: dict) -> None:
    """As many units as shard_units calls fully_shard on (before the root), each holding one block or linear
    layer; a model given only by its parameter count is the runtime's 4-layer MLP."""
    s = _scenario(model)
    built = build_model(s)  # type: ignore[arg-type]
    units = list(built.blocks) if isinstance(built, GPT) else [m for m in built.net if isinstance(m, nn.Linear)]
    assert fsdp_units(s) == len(units)  # type: ignore[arg-type]
    block = sum(p.numel() for p in units[0].parameters())
    if isinstance(built, GPT):  # 12h^2 + 13h a block; the final norm's 2h is spread over the layers as memory does
        assert block == 12 * 64**2 + 13 * 64
        assert fsdp_unit_parameters(s) == pytest.approx(block + 2 * 64 / 3, rel=1e-12)  # type: ignore[arg-type]
    elif "hidden" in model:
        assert fsdp_unit_parameters(s) == pytest.approx(block, rel=1e-12)  # type: ignore[arg-type]


def test_a_gather_and_a_reduce_scatter_a_unit() -> None:
    """GPT-2 medium FULL_SHARD, bf16, one micro-batch: units of 12,596,224 + 2,048/24 parameters (2 B each);
    the root (tied embedding and positions, 52,511,744 = 4.17 units) is the remainder, 5 unit-sized pieces in
    the engines' equal pieces. Forward 29 gathers, backward 24 (the root stays gathered), 29 reduce-scatters,
    whatever communication.bucket says (DDP's)."""
    s = _scenario({"preset": "gpt2-medium"})
    unit = 12_596_224 + 2_048 / 24
    cut = collective_pieces(s)  # type: ignore[arg-type]
    assert cut.gather_piece == pytest.approx(2 * unit, rel=1e-12)
    assert cut.gradient_bucket == pytest.approx(2 * unit, rel=1e-12)
    counts = {work.what: work.count for work in dp_collectives(s)}  # type: ignore[arg-type]
    assert counts == {"gradient reduce-scatters": 29, "parameter all-gathers before the passes": 29 + 24}
    other_bucket = collective_pieces(_scenario({"preset": "gpt2-medium"}, bucket="100 MB"))  # type: ignore[arg-type]
    assert (other_bucket.gather_piece, other_bucket.gradient_bucket) == (cut.gather_piece, cut.gradient_bucket)


def test_whole_pieces_are_not_cut_by_rounding() -> None:
    """0.1 + 0.1 + 0.1 is 0.30000000000000004 in binary floating point: three pieces of 0.1, not three and a
    remainder of 4e-17 (a collective of its own, with its latency)."""
    total = 0.1 + 0.1 + 0.1
    assert total / 0.1 > 3
    assert piece_count(total, 0.1) == 3
    assert bucket_sizes(total, 0.1, 0.1) == [0.1, 0.1, 0.1]
    assert piece_count(0.35, 0.1) == 4 and bucket_sizes(0.35, 0.1, 0.1)[-1] == pytest.approx(0.05)
