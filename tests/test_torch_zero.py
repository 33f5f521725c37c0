"""torch's ZeroRedundancyOptimizer over DDP (``optimizer_sharding: torch``): partition, memory, traffic, step.

The partition is checked against torch's own ``ZeroRedundancyOptimizer._partition_parameters`` on the models
the runtime builds; memory and the post-step broadcasts against bytes and times written out by hand for a
two-layer MLP (tensors h², h, h², h) on CPU nodes joined by one α–β link, in both engines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dpsim.analytic.memory import memory_breakdown
from dpsim.analytic.step import optimizer_seconds, predict
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, load_scenario, scenario_from_dict
from dpsim.sharding import (
    collective_pieces,
    optimizer_partition,
    step_traffic,
    torch_zero_broadcasts,
    torch_zero_partition,
    zero_partition,
)
from dpsim.sim.simulate import simulate

H = 256
"""The toy MLP's width: tensors h² = 65,536 and h = 256 elements, registration order weight, bias, weight, bias."""
RATE = 1e8  # bytes/s of the link between nodes
ALPHA = 1e-4  # its latency, s


def toy(nodes: int = 2, **training: Any) -> Scenario:
    data: dict[str, Any] = {
        "model": {"kind": "mlp", "layers": 2, "hidden": H},
        "cluster": {
            "nodes": nodes,
            "workers_per_node": 1,
            "device": "cpu",
            "inter_node": {"bandwidth": f"{RATE} B/s", "latency": f"{ALPHA} s", "efficiency": 1.0},
        },
        "training": {
            "global_batch": 4 * nodes,
            "micro_batch": 4,
            "precision": "fp32",
            "optimizer": "adam",
            "zero_stage": 1,
            "optimizer_sharding": "torch",
            **training,
        },
        "communication": {"algorithm": "ring", "bucket": "25 MiB"},
    }
    return scenario_from_dict(data)


# --- the partition, against torch's own -----------------------------------------------------------------------


def _torch_partition(params: list[Any], ranks: int, store: Any) -> list[list[int]]:
    """ZeroRedundancyOptimizer's own deal of ``params`` over ``ranks`` (as ids), from a 1-process gloo group."""
    import torch
    import torch.distributed as dist
    from torch.distributed.optim import ZeroRedundancyOptimizer

    from runtime.torchrun import destroy_group

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=1)
    try:
        zero = ZeroRedundancyOptimizer(params, optimizer_class=torch.optim.SGD, lr=0.1)
        zero.world_size = ranks  # the group has one process; the deal itself reads only world_size
        zero._partition_parameters_cache = []
        dealt = [[id(p) for g in groups for p in g["params"]] for groups in zero._partition_parameters()]
        del zero  # it holds the group: freed before the group is destroyed
    finally:
        destroy_group()
    return dealt


@pytest.mark.parametrize(
    "model",
    [
        {"kind": "mlp", "layers": 3, "hidden": 48},
        {"preset": "mlp-tiny"},
        {"kind": "transformer", "layers": 2, "hidden": 64, "heads": 4, "vocab": 500, "seq_len": 32},
    ],
)
@pytest.mark.parametrize("ranks", [2, 3, 4, 7])
def test_partition_is_torchs(tmp_path: Path, model: dict[str, Any], ranks: int) -> None:
    """dpsim's deal of the runtime's model tensors equals ZeroRedundancyOptimizer's own, rank by rank, in order."""
    pytest.importorskip("torch")
    from runtime.model import build_model

    data = {
        "model": model,
        "cluster": {"nodes": ranks, "device": "cpu"},
        "training": {"global_batch": ranks, "precision": "fp32", "zero_stage": 1, "optimizer_sharding": "torch"},
    }
    scenario = scenario_from_dict(data)
    net = build_model(scenario, seed=0)
    params = list(net.parameters())
    theirs = _torch_partition(params, ranks, tmp_path / "store")
    ours = zero_partition([float(p.numel()) for p in params], ranks)
    assert [[id(params[i]) for i in owned] for owned in ours] == theirs
    # and on the tensors dpsim derives from the scenario alone
    assert torch_zero_partition(scenario) == [float(sum(params[i].numel() for i in owned)) for owned in ours]
    assert torch_zero_broadcasts(scenario) == tuple(4.0 * params[i].numel() for owned in ours for i in owned)


def test_the_deal_by_hand() -> None:
    # largest first, each to the emptiest rank, the lowest on a tie; equal sizes keep their order
    assert zero_partition([10, 1, 10, 1], 2) == [[0, 1], [2, 3]]
    assert zero_partition([10, 1, 10, 1], 3) == [[0], [2], [1, 3]]
    assert zero_partition([3, 5, 4], 2) == [[1], [2, 0]]
    assert zero_partition([1, 1], 4) == [[0], [1], [], []]


# --- memory -----------------------------------------------------------------------------------------------------


def test_memory_keeps_the_largest_whole_tensor_shard() -> None:
    psi = 2 * H * H + 2 * H
    # 3 ranks: h² to rank 0, h² to rank 1, both biases to rank 2: the largest shard is h², not Ψ/3
    s = toy(nodes=3)
    assert torch_zero_partition(s) == [H * H, H * H, 2 * H]
    m = memory_breakdown(s)
    assert m.weights == 4 * psi  # fp32 parameters on every rank
    assert m.gradients == 4 * psi
    assert m.optimizer_states == 8 * H * H  # Adam's fp32 moments of the 65,536 parameters it owns
    assert m.buffers == 4 * psi  # DDP's bucket copy of the gradients
    assert memory_breakdown(toy(nodes=3, gradient_as_bucket_view=True)).buffers == 0
    # bf16 under autocast: the fp32 parameters are the master, the gradients fp32, the moments 8 bytes
    bf16 = memory_breakdown(toy(nodes=3, precision="bf16"))
    assert (bf16.weights, bf16.gradients, bf16.optimizer_states) == (4 * psi, 4 * psi, 8 * H * H)
    assert optimizer_partition(s) == H * H


# --- traffic and the step ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("nodes", "rounds"), [(2, 1), (3, 2), (4, 2)])
@pytest.mark.parametrize("bucket_view", [False, True])
def test_broadcasts_after_the_step_by_hand(nodes: int, rounds: int, bucket_view: bool) -> None:
    s = toy(nodes=nodes, parameters_as_bucket_view=bucket_view)
    owned = zero_partition([H * H, H, H * H, H], nodes)
    if bucket_view:  # one flat bucket a rank that owns something
        sizes = [4.0 * sum([H * H, H, H * H, H][i] for i in mine) for mine in owned if mine]
    else:
        sizes = [4.0 * [H * H, H, H * H, H][i] for mine in owned for i in mine]
    assert collective_pieces(s).post_step_broadcasts == tuple(sizes)
    traffic = step_traffic(s)
    assert (traffic.gradient_reductions, traffic.post_step_gather, traffic.post_step_broadcast) == (1, False, True)
    psi_bytes = 4.0 * (2 * H * H + 2 * H)
    assert traffic.bytes_per_step(psi_bytes, psi_bytes)["parameter_broadcast"] == psi_bytes
    # gloo's binomial tree: ceil(log2 N) rounds of a whole-buffer send each, one broadcast after another
    broadcast_s = sum(rounds * (ALPHA + size / RATE) for size in sizes)
    result = predict(s)
    assert result.extra["zero_param_gather_s"] == pytest.approx(broadcast_s, rel=1e-9)
    assert result.extra["collective_op"] == "allreduce"  # DDP's all-reduce under the optimizer
    # the slowest rank steps its whole tensors: Adam over the largest shard
    assert result.optimizer_s == pytest.approx(optimizer_seconds(s, max(torch_zero_partition(s))), rel=1e-12)
    # the same step without the sharding (plain DDP) differs by the broadcasts and the smaller update
    ddp = predict(toy(nodes=nodes, zero_stage=0, optimizer_sharding="zero"))
    want = ddp.step_time_s + broadcast_s + result.optimizer_s - ddp.optimizer_s
    assert result.step_time_s == pytest.approx(want, rel=1e-9)
    # the simulator posts the same broadcasts on the same links
    simulated = simulate(s)
    assert simulated.step_time_s == pytest.approx(result.step_time_s, rel=1e-9)


def test_refusals_name_the_field() -> None:
    with pytest.raises(ScenarioError) as bad:
        toy(zero_stage=2)
    assert bad.value.field == "training.zero_stage"
    with pytest.raises(ScenarioError) as bad:
        toy(optimizer_sharding="zero", parameters_as_bucket_view=True)
    assert bad.value.field == "training.parameters_as_bucket_view"
    # DDP's gradient buckets as views: DDP runs under ZeroRedundancyOptimizer, so the flag applies
    assert toy(gradient_as_bucket_view=True).training.gradient_as_bucket_view


def test_bundled_cpu_scenario_takes_the_flavour() -> None:
    s = load_scenario(
        "scenarios/cpu-cluster-4-ranks-1gbit.yaml", ["training.zero_stage=1", "training.optimizer_sharding=torch"]
    )
    assert s.gradient_reduction_op == "allreduce" and s.communication_dtype == "fp32"
    assert len(collective_pieces(s).post_step_broadcasts) == 2 * s.model.layers  # a weight and a bias each
