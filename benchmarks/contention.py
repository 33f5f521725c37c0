"""Contention inside a step: every DP group of every job on one network vs the symmetric reduction.

Prints, for hybrid TP×DP jobs on 8-GPU nodes and for two jobs on an oversubscribed
fat-tree, the step and communication time of :func:`dpsim.sim.simulate` (one DP group on its
share of the NICs, chunk level) and of :func:`dpsim.sim.shared.simulate_shared` (all groups,
all jobs, one network), and what the link shares predict. GPT-2 medium, micro-batch 4,
25 MB buckets, flat ring, overlap off (communication fully exposed, so the shares show);
each GPU reaches its NIC over a PCIe link faster than the NIC (``host_link: pcie5``), so the
NIC is the network's bottleneck, as in tests/test_contention.py. The first table keeps
tensor parallelism as the analytic term (it is about the DP groups); the second puts the
hybrid TP×PP×DP step's pipeline sends and then also its TP collectives on the network.

The last table is FSDP HYBRID_SHARD with a shard group spanning nodes: its two streams on one NIC, in
every engine.

The two-job rows are repeated for DeepSpeed ZeRO-3 with prefetch (overlap on): every layer piece's
all-gather gates its forward and backward, each rank a program on the shared network.

Usage: ``python benchmarks/contention.py``
"""

from __future__ import annotations

from typing import Any

from dpsim.analytic.step import predict
from dpsim.scenario import Scenario, scenario_from_dict
from dpsim.sim import simulate
from dpsim.sim.shared import simulate_shared

FAT_TREE = {"kind": "fat-tree", "nodes_per_leaf": 2, "oversubscription": 2.0}


def job(
    name: str = "job",
    nodes: int = 2,
    per_node: int = 8,
    nics: int = 8,
    tp: int = 2,
    inter: str = "200 Gbit/s",
    topology: dict[str, Any] | None = None,
    pp: int = 1,
    zero_stage: int = 0,
    overlap: bool = False,
) -> Scenario:
    return scenario_from_dict(
        {
            "name": name,
            "model": {"preset": "gpt2-medium"},
            "cluster": {
                "nodes": nodes,
                "workers_per_node": per_node,
                "device": "a100-80gb",
                "intra_node": {"bandwidth": "300 GB/s", "latency": "1 us"},
                "inter_node": {"bandwidth": inter, "latency": "5 us", "nics_per_node": nics},
                "topology": topology or {"kind": "switch"},
                "host_link": "pcie5",
            },
            "training": {
                "global_batch": 4 * nodes * per_node // tp,
                "micro_batch": 4,
                "tensor_parallel": tp,
                "pipeline_parallel": pp,
                "zero_stage": zero_stage,
            },
            "communication": {"algorithm": "ring", "bucket": "25 MB", "overlap": overlap},
        }
    )


def row(label: str, reduced: Any, shared: Any, predicted: Any) -> None:
    print(
        f"{label:<44} {reduced.step_time_s * 1e3:>9.2f} {shared.step_time_s * 1e3:>9.2f} "
        f"{predicted.step_time_s * 1e3:>9.2f} {reduced.comm_s * 1e3:>8.2f} {shared.comm_s * 1e3:>8.2f} "
        f"{predicted.comm_s * 1e3:>8.2f} {shared.comm_s / reduced.comm_s:>7.3f}"
    )


def main() -> None:
    header = (
        f"{'case':<44} {'step red':>9} {'step all':>9} {'step pred':>9} {'comm red':>8} {'comm all':>8} "
        f"{'comm pred':>8} {'all/red':>7}"
    )
    print("times in ms; red = symmetric reduction (one DP group), all = every group/job on one network,")
    print("pred = what the link shares predict")
    print(header)
    print("-" * len(header))
    for nics in (8, 1):
        s = job(nics=nics)
        reduced = simulate(s, fidelity="chunk")
        row(f"TP2xDP8, 2 nodes, {nics} NIC(s)/node (even)", reduced, simulate_shared([s], tp_flows=False)[0], reduced)
    s = job(nics=4)  # each group's GPUs sit near all 4 NICs: NCCL's channels start on each (shared.rail_copies)
    reduced = simulate(s, fidelity="chunk")
    row("TP2xDP8, 2 nodes, 4 NICs/node (rail copies)", reduced, simulate_shared([s], tp_flows=False)[0], reduced)

    for zero, label in ((0, "2 jobs x 4 nodes, fat-tree 2:1"), (3, "ZeRO-3, 2 jobs x 4 nodes, 2:1")):

        def alone(name: str = "a", inter: str = "200 Gbit/s", zero: int = zero) -> Scenario:
            return job(name, 4, 1, 1, 1, inter, FAT_TREE, zero_stage=zero, overlap=zero == 3)

        single = simulate_shared([alone()])[0]
        half = simulate_shared([alone(inter="100 Gbit/s")])[0]
        for placement in ("packed", "interleaved"):
            a, _ = simulate_shared([alone(), alone("b")], placement=placement)
            predicted = half if placement == "interleaved" else single
            row(f"{label}, {placement}", single, a, predicted)

    print()
    print("hybrid TP2xPP4xDP8 on 8 nodes (1F1B, 4 micro-batches): red = symmetric reduction (one DP group,")
    print("TP and pipeline as analytic terms); pp = stage-to-stage sends as flows; tp+pp = TP collectives too")
    head = (
        f"{'case':<30} {'step red':>9} {'step pp':>9} {'step tp+pp':>10} {'comm red':>8} {'comm tp+pp':>10} "
        f"{'stage late':>10} {'TP late':>8} {'TP coll.':>9} {'longest':>9}"
    )
    print(head)
    print("-" * len(head))
    for nics in (8, 1):
        s = job(nodes=8, nics=nics, pp=4)
        reduced = simulate(s, fidelity="chunk")
        sends = simulate_shared([s], tp_flows=False)[0]
        both = simulate_shared([s])[0]
        late = max(both.extra["shared_fabric"]["pipeline_flows"]["stage_delay_s"])
        tp = both.extra["shared_fabric"]["tensor_parallel_flows"]
        print(
            f"{f'TP2xPP4xDP8, {nics} NIC(s)/node':<30} {reduced.step_time_s * 1e3:>9.2f} "
            f"{sends.step_time_s * 1e3:>9.2f} {both.step_time_s * 1e3:>10.2f} {reduced.comm_s * 1e3:>8.2f} "
            f"{both.comm_s * 1e3:>10.2f} {late * 1e3:>10.3f} {max(tp['group_delay_s']) * 1e3:>8.3f} "
            f"{tp['collective_s'] * 1e6:>7.1f}us {tp['longest_collective_s'] * 1e6:>7.1f}us"
        )
    print("times in ms unless marked; TP late = the latest TP group's lateness; TP coll. = one TP all-reduce")
    print("alone (the engines' ring), longest = the slowest one on the network")

    print()
    print("FSDP HYBRID_SHARD, GPT-2 small on 4 nodes x 4 A100, one NIC a node, 2 micro-batches, overlap off:")
    print("the replica all-reduce of bucket i runs while bucket i+1 reduce-scatters; a shard group of 8 spans")
    print("2 nodes, so both cross the NIC (chunk: one network; fast/analytic: dpsim.streams' link shares)")
    head = f"{'shard group':<12} {'analytic':>9} {'fast':>9} {'chunk':>9} {'shared':>9} {'comm chunk':>10}"
    print(head)
    print("-" * len(head))
    for group in (4, 8):
        s = hybrid_shard(group)
        chunk = simulate(s, fidelity="chunk")
        steps = (predict(s), simulate(s, fidelity="fast"), chunk, simulate_shared([s])[0])
        print(
            f"{group:<12} " + " ".join(f"{r.step_time_s * 1e3:>9.2f}" for r in steps) + f" {chunk.comm_s * 1e3:>10.2f}"
        )
    print("step times in ms")


def hybrid_shard(group: int) -> Scenario:
    """tests/test_contention.py's HYBRID_SHARD case: shard groups of ``group`` GPUs."""
    data = job(nodes=4, per_node=4, nics=1, tp=1).model_dump(mode="json", exclude_none=True)
    data["model"]["preset"] = "gpt2-small"
    data["training"].update(
        global_batch=32, micro_batch=1, zero_stage=3, optimizer_sharding="fsdp", fsdp_shard_group=group
    )
    return scenario_from_dict(data)


if __name__ == "__main__":
    main()
