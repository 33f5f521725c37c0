"""Contention inside a step (issue 9 §6): every data-parallel group of every job on one network.

The symmetric reduction (one DP group on its share of the NICs, :func:`dpsim.sim.simulate`)
is checked against all groups run together at chunk level (:func:`dpsim.sim.shared.simulate_shared`):
equal where the groups share NICs evenly, and equal to the link shares' prediction where
they do not (two jobs on an oversubscribed fat-tree, TP and pipeline flows beside the reductions).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dpsim.analytic.parallel import activation_message_bytes
from dpsim.analytic.step import fabric_of, predict
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, load_scenario, scenario_from_dict
from dpsim.sharding import step_traffic
from dpsim.sim import simulate
from dpsim.sim.chunk import ChunkEngine
from dpsim.sim.pipeline import scenario_pipeline
from dpsim.sim.shared import dp_groups, place, simulate_shared
from dpsim.sim.simulate import build_cluster, step_plan
from dpsim.sim.worker import compute_model
from tests.test_parallel import SMALL_STAGES


def make(
    name: str = "job",
    nodes: int = 2,
    per_node: int = 8,
    nics: int = 8,
    tp: int = 2,
    inter: str = "200 Gbit/s",
    topology: dict[str, Any] | None = None,
    bucket: str = "25 MB",
    **training: Any,
) -> Scenario:
    data: dict[str, Any] = {
        "name": name,
        "model": {"preset": "gpt2-medium"},
        "cluster": {
            "nodes": nodes,
            "workers_per_node": per_node,
            "device": "a100-80gb",
            "intra_node": {"bandwidth": "300 GB/s", "latency": "1 us"},
            "inter_node": {"bandwidth": inter, "latency": "5 us", "nics_per_node": nics},
            "topology": topology or {"kind": "switch"},
            "host_link": "pcie5",  # each GPU's PCIe to its NIC, faster than the NIC: never the bottleneck here
        },
        "training": {"global_batch": 4 * nodes * per_node // tp, "micro_batch": 4, "tensor_parallel": tp, **training},
        "communication": {"algorithm": "ring", "bucket": bucket, "overlap": False},
    }
    return scenario_from_dict(data)


def _rel(a: float, b: float) -> float:
    return abs(a / b - 1.0)


def test_dp_groups_follow_megatron_order() -> None:
    """tp=2, dp=4, pp=2: tensor rank innermost, then data, then pipeline (GPU = p·dp·tp + d·tp + t)."""
    s = make(nodes=2, per_node=8, tp=2, pipeline_parallel=2)
    assert dp_groups(s).tolist() == [[0, 2, 4, 6], [1, 3, 5, 7], [8, 10, 12, 14], [9, 11, 13, 15]]


def test_placements() -> None:
    a, b = make("a", nodes=2), make("b", nodes=3)
    assert [p.tolist() for p in place([a, b], "packed")] == [[0, 1], [2, 3, 4]]
    assert [p.tolist() for p in place([a, b], "interleaved")] == [[0, 2], [1, 3, 4]]


@pytest.mark.parametrize(
    ("nics", "zero_stage", "bucket"), [(8, 0, "25 MB"), (1, 0, "25 MB"), (8, 2, "25 MB"), (8, 1, "25 MiB")]
)
def test_symmetric_groups_give_the_symmetric_reduction(nics: int, zero_stage: int, bucket: str) -> None:
    """Two DP groups (tp=2) per node: with a NIC per GPU they never meet; with one NIC per node they
    split it evenly all the time — either way all groups on one network give the reduction's step.
    With DDP's default 25 MiB cap, ZeRO-1's parameter gathers stay equal buckets (no 1 MiB first one).
    (TP as the analytic term: as flows its rings meet the groups' NVSwitch hops, which the reduction does not hold.)"""
    s = make(nics=nics, zero_stage=zero_stage, bucket=bucket)
    reduced = simulate(s, fidelity="chunk")
    (shared,) = simulate_shared([s], tp_flows=False)
    assert shared.extra["shared_fabric"]["dp_groups"] == 2
    assert _rel(shared.step_time_s, reduced.step_time_s) < 1e-9
    assert _rel(shared.comm_s, reduced.comm_s) < 1e-9


@pytest.mark.parametrize(("nics", "tp", "algorithm"), [(4, 2, "ring"), (2, 4, "ring"), (4, 4, "ring"), (2, 2, "ring")])
def test_groups_whose_gpus_sit_near_several_nics_spread_their_channels_over_them(
    nics: int, tp: int, algorithm: str
) -> None:
    """8 GPUs, tp=2 with 4 NICs (GPU l on NIC ⌊l/2⌋): group 0 holds GPUs 0, 2, 4, 6, one on each NIC. Its ring
    entered every node at its first GPU and left at its last, so both groups came in on NICs 0 and 2 and went out on
    3 and 1, the other directions idle: 1.74× the reduction's communication (tp=4 on 2 NICs 1.82×, tp=4 on 4 NICs
    1.70×, tp=2 on 2 NICs 1.85×, 3 nodes). NCCL starts its channels on every NIC near the communicator's GPUs and
    brings each back to its NIC, or pairs it with a channel entering where it leaves (``search.cc``, ``crossNic``):
    every NIC carries the same bytes each way, the reduction's share (:func:`dpsim.sim.shared.rail_copies`)."""
    s = make(nics=nics, tp=tp, nodes=3)
    s = s.model_copy(update={"communication": s.communication.model_copy(update={"algorithm": algorithm})})
    reduced = simulate(s, fidelity="chunk")
    (shared,) = simulate_shared([s], tp_flows=False)
    assert _rel(shared.comm_s, reduced.comm_s) < 1e-9
    assert _rel(shared.step_time_s, reduced.step_time_s) < 1e-9


def test_rail_copies_send_every_nic_the_same_bytes_each_way() -> None:
    """tp=4 on 8 GPUs with 2 NICs, 3 nodes: group 0 holds GPUs 0 and 4 of each node (NICs 0 and 1). The ring built
    on the group's own fabric enters each node at GPU 0 and leaves from GPU 4: NIC 0 only receives and NIC 1 only
    sends, 2(N−1)/N = 5/3 of the message each (N = 6 ranks: one edge into the node and one out, 2(N−1) steps of
    S/N). Two copies of half the bytes, the second with each node's order turned (GPU 4 first), give each NIC 5/6
    each way. With 8 NICs (GPUs 0 and 4 on NICs 0 and 4; the group's own fabric has 2 NICs and a channel entering
    at each GPU) the loads are even already and the schedule is left as it is."""
    from dpsim.sim.cluster import Cluster
    from dpsim.sim.shared import _nic_loads, rail_copies, shared_fabric

    for nics, copies in ((2, 2), (8, 1)):
        s = make(nics=nics, tp=4, nodes=3)
        cluster = Cluster.from_fabric(shared_fabric([s]), {})
        engine = ChunkEngine(build_cluster(s, None), "ring", protocol="none")
        schedule = engine.choice("allreduce", 1e6, None)[0]
        group = dp_groups(s)[0]
        assert group.tolist() == [0, 4, 8, 12, 16, 20]
        spread = rail_copies(schedule, cluster, group, engine.cluster.per_node)
        assert len(spread.phases[0].src) == copies * len(schedule.phases[0].src)
        out, into = _nic_loads(spread, cluster, group)
        near = [0, nics // 2]
        assert out[:, near] == pytest.approx(np.full((3, 2), 5 / 6))
        assert into[:, near] == pytest.approx(np.full((3, 2), 5 / 6))
        before = _nic_loads(schedule, cluster, group)
        if copies == 2:
            assert before[0][:, near].tolist() == [[0.0, pytest.approx(5 / 3)]] * 3
            assert before[1][:, near].tolist() == [[pytest.approx(5 / 3), 0.0]] * 3


def test_tree_channels_of_such_groups_use_every_nic_too() -> None:
    """tp=4 on 2 NICs, NCCL's tree: every group's tree had its head on GPU i, NIC 0, both ways (1.83× the
    reduction's communication); NCCL's tree channels start on each NIC in turn (``ncclTopoSearchRecNet``) and
    come back to it (``ncclTopoSearchCheckNet``: trees are symmetric). Spread, within 1 % of the reduction (the
    copies' heads sit on two GPUs, so a head's per-channel throughput is shared by fewer bytes: 0.3 % short)."""
    s = make(nics=2, tp=4, nodes=3)
    s = s.model_copy(update={"communication": s.communication.model_copy(update={"algorithm": "tree"})})
    reduced = simulate(s, fidelity="chunk")
    (shared,) = simulate_shared([s], tp_flows=False)
    assert _rel(shared.comm_s, reduced.comm_s) < 0.01


FAT_TREE = {"kind": "fat-tree", "nodes_per_leaf": 2, "oversubscription": 2.0}


def _job(name: str, inter: str = "200 Gbit/s") -> Scenario:
    return make(name, nodes=4, per_node=1, nics=1, tp=1, inter=inter, topology=FAT_TREE)


def test_two_jobs_on_an_oversubscribed_fat_tree_slow_each_other_by_the_uplink_share() -> None:
    """Leaves of 2 nodes with 2:1 uplinks (B per leaf). Interleaved, every leaf holds one node of each
    job and both rings cross every uplink: two flows share B, each job's inter-node transfers run at
    B/2 — its step is the step of the same job alone on NICs of half the bandwidth."""
    alone = simulate_shared([_job("a")])[0]
    a, b = simulate_shared([_job("a"), _job("b")], placement="interleaved")
    half = simulate_shared([_job("a", inter="100 Gbit/s")])[0]
    assert _rel(alone.comm_s, simulate(_job("a"), fidelity="chunk").comm_s) < 1e-9
    for job in (a, b):
        assert _rel(job.comm_s, half.comm_s) < 0.01
        assert job.comm_s > 1.8 * alone.comm_s


def test_two_jobs_packed_on_their_own_leaves_do_not_meet() -> None:
    """Packed, job a has leaves 0–1 and job b leaves 2–3: no link in common, each runs as if alone."""
    alone = simulate_shared([_job("a")])[0]
    a, b = simulate_shared([_job("a"), _job("b")], placement="packed")
    assert _rel(a.comm_s, alone.comm_s) < 1e-9 and _rel(b.comm_s, alone.comm_s) < 1e-9


def test_pipeline_sends_that_meet_no_reduction_leave_the_step_as_it_was() -> None:
    """tp=2, dp=4, pp=2 on two 8-GPU nodes with a NIC per GPU: each stage's DP groups reduce inside their
    node (NVLink), the stage-to-stage sends cross on the NICs, each GPU on its own NIC. Every send takes
    exactly the closed form α + (S/t)/B, no stage ends late, and the step is the reduction's (TP as the
    analytic term: as flows its rings share the NVSwitch ports with the groups' reductions)."""
    s = make(nodes=2, tp=2, pipeline_parallel=2)
    (shared,) = simulate_shared([s], tp_flows=False)
    flows = shared.extra["shared_fabric"]["pipeline_flows"]
    assert flows["sends"] == 2 * s.accumulation_steps
    assert _rel(flows["longest_send_s"], flows["send_s"]) < 1e-9
    assert flows["stage_delay_s"] == pytest.approx([0.0, 0.0], abs=1e-15)
    reduced = simulate(s, fidelity="chunk")
    assert _rel(shared.step_time_s, reduced.step_time_s) < 1e-9
    assert _rel(shared.comm_s, reduced.comm_s) < 1e-9
    (analytic,) = simulate_shared([s], pipeline_flows=False, tp_flows=False)
    assert _rel(analytic.step_time_s, shared.step_time_s) < 1e-9


def test_a_pipeline_send_sharing_a_nic_with_the_reduction_gets_half_of_it() -> None:
    """pp=2, dp=2, one GPU and one NIC per node (B = 25 GB/s), overlap off, one 1 GB bucket. When stage 1
    (nodes 2, 3) ends its last backward it sends that micro-batch's gradient (S bytes) to stage 0 from
    node 2 and starts its ring all-reduce, which leaves node 2 on the same NIC. The ring joins g later
    (its schedule's base latency), so the send has the NIC alone for g, then half of it:
    α + g + 2(S − B·g)/B. Stage 0 waits for that gradient: the step is S/B − g longer than the
    reduction's; stage 1's ring lost S − B·g bytes of progress on that NIC, so it ends S/B − g late too."""
    s = make(nodes=4, per_node=1, nics=1, tp=1, pipeline_parallel=2, global_batch=64, micro_batch=16, bucket="1 GB")
    (shared,) = simulate_shared([s])
    reduced = simulate(s, fidelity="chunk")
    bandwidth, alpha = 200e9 / 8, 5e-6
    size = activation_message_bytes(s)
    engine = ChunkEngine(build_cluster(s), "ring", protocol=fabric_of(s).protocol)
    # the ring starts after DDP's pass into its buckets too (c: half of DDP's copies, the other half after it)
    g = engine.choice("allreduce", s.model.num_parameters * 2.0)[0].base_latency_s
    g += predict(s).extra["ddp_bucket_copy_s"] / 2
    flows = shared.extra["shared_fabric"]["pipeline_flows"]
    assert _rel(flows["send_s"], alpha + size / bandwidth) < 1e-12
    assert _rel(flows["longest_send_s"], alpha + g + 2 * (size - bandwidth * g) / bandwidth) < 1e-9
    delay = size / bandwidth - g
    # the engines price it too (stop 46: the reduction shares the NIC with the send in the schedule's evaluation)
    assert _rel(shared.step_time_s - reduced.step_time_s + _nic_loads_s(s), delay) < 1e-6
    assert _rel(shared.step_time_s, reduced.step_time_s) < 1e-9
    assert _rel(predict(s).step_time_s, reduced.step_time_s) < 1e-9
    # stage 1's group ends its stage's lead before stage 0's: both are late by `delay`
    model = compute_model(s)
    run = scenario_pipeline(s, model.forward_s, model.backward_s)
    lead = run.makespan_s - run.stage_end_s[1]
    stage0, stage1 = shared.extra["shared_fabric"]["group_step_times_s"]
    assert _rel(stage0 - stage1, lead) < 1e-6


def test_sends_queued_behind_a_slowed_send_and_the_late_stage_s_reduction_by_hand() -> None:
    """The hand-worked timeline of the smallest case where the one-pass fabric was above both engines (issue 9
    item 6). GPipe, pp=2, dp=2, m=2, one GPU and one NIC per node at 1 Gbit/s (B), overlap off, one 1 GB bucket:
    stage 1 on nodes 2, 3, stage 0 on nodes 0, 1; a send is S/B = 67 ms against a backward b of about 20 ms.

    Stage 1 runs B0 and sends its gradient at t1 (node 2 → node 0, node 3 → node 1), runs B1 (t1 … t1 + b) and
    starts its ring g later (its base latency and DDP's copies): each node's NIC out carries the send alone for
    b + g, then the send and the ring flow, half each. Send B0: d0 = α + b + g + 2(S − B(b + g))/B. Send B1 waits
    for it (one queue a link, as the schedule and NCCL's stream run them), then shares the NIC all along (the
    ring outlasts it by seconds): d1 = α + 2S/B. Stage 0's B1 starts when B1's gradient arrives, t1 + d0 + d1
    (d1 > b), where the fixed schedule has t1 + 2(α + S/B): stage 0 ends 2S/B − b − g late. Its reduction starts
    only after its last backward and meets nothing (its NICs carry no send then): the step is the reduction's
    plus 2S/B − b − g. Before, send B1 left at the fixed schedule's time while B0 was still on the NIC (three
    flows: the two sends and the ring), the schedule run again queued those longer sends once more, and stage 0's
    reduction started before its last gradient arrived and shared node 0's NIC with it: +3.66 % over both engines on
    this step, where the timeline gives +2.29 %."""
    s = make(nodes=4, per_node=1, nics=1, tp=1, pipeline_parallel=2, pipeline_schedule="gpipe", bucket="1 GB",
             inter="1 Gbit/s")  # fmt: skip
    assert s.accumulation_steps == 2 and s.data_parallel == 2
    (shared,) = simulate_shared([s])
    reduced = simulate(s, fidelity="chunk")
    bandwidth, alpha = 1e9 / 8, 5e-6
    size = activation_message_bytes(s)
    model = compute_model(s)
    run = scenario_pipeline(s, model.forward_s, model.backward_s)
    (b,) = {round(end - start, 15) for d, kind, _, start, end in run.intervals if kind == "backward"}
    engine = ChunkEngine(build_cluster(s), "ring", protocol=fabric_of(s).protocol)
    g = engine.choice("allreduce", s.model.num_parameters * 2.0)[0].base_latency_s
    g += predict(s).extra["ddp_bucket_copy_s"] / 2
    assert size / bandwidth > b + g and b > model.forward_s  # the sends queue; the ring joins while B0 is sent
    flows = shared.extra["shared_fabric"]["pipeline_flows"]
    assert _rel(flows["send_s"], alpha + size / bandwidth) < 1e-12
    assert _rel(flows["longest_send_s"], alpha + 2 * size / bandwidth) < 1e-9
    delay = 2 * size / bandwidth - b - g
    assert flows["stage_delay_s"][0] == pytest.approx(delay, rel=1e-9)
    # both engines give the hand-worked time (stop 46): their sends' exposed time grows by exactly the delay over the
    # schedule whose sends share their NICs with nothing else, and the step is the fabric's
    assert _rel(_nic_loads_s(s), delay) < 1e-9
    assert _rel(shared.step_time_s, reduced.step_time_s) < 1e-9
    assert _rel(reduced.step_time_s, predict(s).step_time_s) < 1e-9


def _nic_loads_s(s: Scenario) -> float:
    """What the engines' exposed sends gain from the TP phases and reductions that share their NICs
    (:func:`dpsim.analytic.step.pipeline_stage_loads`): the step's exposed sends less the schedule's without them."""
    from dpsim.analytic.step import model_parallel_fabric, pipeline_terms

    result = predict(s)
    tp = result.extra["tensor_parallel_comm_s"] / s.accumulation_steps
    fabric = model_parallel_fabric(s)
    forward, backward = result.extra["forward_s"], result.extra["backward_s"]
    alone = pipeline_terms(s, fabric, forward, backward, tp, nic_loads=False)[1]
    loaded = pipeline_terms(s, fabric, forward, backward, tp)[1]
    assert _rel(loaded, result.extra["pipeline_p2p_exposed_s"]) < 1e-12
    return float(loaded - alone)


def _schedule_inputs(s: Scenario) -> tuple[float, float, Any, Any, list[Any]]:
    """What the engines hand the pipelined schedule's evaluation for ``s``, as ``predict`` builds it: the stage's
    forward and backward (TP phases in), the NIC users and the stage loads, and the sends."""
    from dpsim.analytic import parallel
    from dpsim.analytic.step import model_parallel_fabric, pipeline_stage_loads

    result = predict(s)
    fabric = model_parallel_fabric(s)
    tp = result.extra["tensor_parallel_comm_s"] / s.accumulation_steps
    forward, backward = parallel.with_tensor_parallel(s, result.extra["forward_s"], result.extra["backward_s"], tp)
    found = pipeline_stage_loads(s, fabric, forward, backward, tp)
    assert found is not None
    nics, loads = found
    return forward, backward, nics, loads, parallel.pipeline_sends(parallel.pipeline_p2p_times(s, fabric))


def _engine_record(s: Scenario) -> list[tuple[str, int, Any, float, float]]:
    """Every operation and send of the engines' schedule evaluation of ``s`` with its NIC loads, as run."""
    from dpsim.analytic.pipeline_schedule import evaluate_shared_nics

    forward, backward, nics, loads, send = _schedule_inputs(s)
    t = s.training
    p = t.pipeline_parallel
    record: list[tuple[str, int, Any, float, float]] = []
    args = (forward, backward, p, s.accumulation_steps, t.virtual_stages, t.pipeline_schedule, send, [1.0] * p)
    evaluate_shared_nics(*args, nics, record, loads)
    return record


@pytest.mark.parametrize("pp", [1, 2])
def test_a_job_without_data_parallelism_has_nothing_to_reduce(pp: int) -> None:
    """tp=8 fills each node, dp=1: no gradient reduction on the network (with pp=2 only the sends, each
    GPU on its own NIC, meeting nothing) — the step is the single-group simulation's."""
    s = make(nodes=pp, per_node=8, tp=8, pipeline_parallel=pp, global_batch=8)
    assert s.data_parallel == 1
    (shared,) = simulate_shared([s])
    assert _rel(shared.step_time_s, simulate(s, fidelity="chunk").step_time_s) < 1e-9


def _overlapped(**kw: Any) -> Scenario:
    data = make(zero_stage=1, **kw).model_dump(mode="json", exclude_none=True)
    data["communication"]["overlap"] = True
    return scenario_from_dict(data)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"nics": 1},
        {"pipeline_parallel": 2, "pipeline_schedule": "interleaved", "virtual_stages": 3, "inter": "10 Gbit/s"},
        {"pipeline_parallel": 2, "pipeline_schedule": "interleaved", "virtual_stages": 6, "inter": "2000 Gbit/s"},
    ],
)
def test_megatron_overlapped_gathers_on_a_shared_fabric_give_the_reduction(kw: dict[str, Any]) -> None:
    """Megatron's overlap_param_gather (distributed optimizer, overlap on): the post-step all-gathers wait
    only where the next forward reaches each bucket. Symmetric groups on one network give the reduction's
    step and communication (the simulator prices the same flow shop on fresh networks), and the analytic
    engine's step within 1 % with a NIC per GPU. (Waiting for every gather, as before, was 6.8 % slower on the
    first case.)"""
    s = _overlapped(optimizer_sharding="megatron", **kw)
    reduced = simulate(s, fidelity="chunk")
    (shared,) = simulate_shared([s], tp_flows=False)
    assert _rel(shared.step_time_s, reduced.step_time_s) < 1e-9
    assert _rel(shared.comm_s, reduced.comm_s) < 1e-9
    if kw.get("nics", 8) == 8:
        assert _rel(shared.step_time_s, predict(s).step_time_s) < 0.01


def test_overlapped_gathers_release_a_later_chunk_when_the_previous_chunks_forward_starts() -> None:
    """Megatron launches chunk c's gathers (c >= 2) when chunk c-1's first forward starts. By hand, 2 stages,
    3 chunks of one bucket, each gather g after the last, forward piece f per chunk and micro-batch, from
    t = 0: chunk 0 starts at g and runs p = 2 pieces, so chunk 1 starts at max(g + 2f, 2g): chunk 2's
    release. With f = g = 1 that is 3 (the forward is later than the stream, free at 2); chunk 2 done at
    4, the forward waits only for the first gather: exposed 1. With g = 3 it is 6 (the gathers are later)."""
    from types import SimpleNamespace

    from dpsim.sim.shared import _OverlappedGathers

    plan = SimpleNamespace(param_bytes=3.0, bucket_bytes=1.0, post_gather_piece=1.0, chunks=3, stages=2)
    for g, release, done2 in [(1.0, 3.0, 4.0), (3.0, 6.0, 9.0)]:
        gathers = _OverlappedGathers(plan, np.array([3.0]), first=1)  # type: ignore[arg-type]
        items = gathers.items(np.zeros(1), 0.0)
        stream = SimpleNamespace(items=[None, *items], ranks=1, joins=np.zeros((4, 1)), done=np.zeros((4, 1)))
        gathers.stream = stream  # type: ignore[assignment]
        stream.done[1:3, 0] = [g, 2 * g]
        assert [item.release is not None for item in items] == [False, False, True]
        assert items[2].release(np.array([0])).tolist() == [release]  # type: ignore[misc]
        stream.done[3, 0] = done2
        if g == 1.0:
            assert gathers.exposed().tolist() == [1.0]


# --- ZeRO-3 and FSDP: parameter gathers that gate compute, per-rank programs on the shared network ---------


def _sharded(nics: int = 8, overlap: bool = True, inter: str = "200 Gbit/s", **training: Any) -> Scenario:
    """Two 8-GPU nodes, dp = 16, 100 MB pieces (8 of GPT-2 medium's 710 MB), 2 micro-batches."""
    data = make(nics=nics, tp=1, inter=inter, bucket="100 MB", global_batch=128, **training).model_dump(
        mode="json", exclude_none=True
    )
    data["communication"]["overlap"] = overlap
    return scenario_from_dict(data)


SHARDED = {
    "deepspeed-zero3": {"zero_stage": 3},
    "deepspeed-zero3-no-prefetch": {"zero_stage": 3, "overlap": False},
    "deepspeed-zero2-every-micro-batch": {"zero_stage": 2},
    "fsdp-full-shard": {"zero_stage": 3, "optimizer_sharding": "fsdp"},
    "fsdp-full-shard-no-prefetch": {"zero_stage": 3, "optimizer_sharding": "fsdp", "overlap": False},
    "fsdp-shard-grad-op": {"zero_stage": 2, "optimizer_sharding": "fsdp"},
    "fsdp-shard-grad-op-no-sync": {"zero_stage": 2, "optimizer_sharding": "fsdp", "fsdp_no_sync": True},
    "fsdp-keep-after-backward": {"zero_stage": 2, "optimizer_sharding": "fsdp", "fsdp_reshard_after_backward": False},
    "fsdp-hybrid-shard": {"zero_stage": 3, "optimizer_sharding": "fsdp", "fsdp_shard_group": 8},
}


@pytest.mark.parametrize("nics", [8, 1])
@pytest.mark.parametrize("flavour", list(SHARDED))
def test_a_sharded_job_alone_on_a_shared_fabric_is_the_simulator(flavour: str, nics: int) -> None:
    """ZeRO-3/FSDP alone on one network equals the simulator at chunk level (each collective on a fresh
    network) to 1e-9: every piece's all-gather gates its compute, prefetched or not, reduce-scatters per
    micro-batch, HYBRID_SHARD's replica all-reduces on their own stream; and it holds the collectives
    :func:`dpsim.sharding.step_traffic` counts (2 micro-batches; DeepSpeed's 8 pieces, FSDP's units). With one
    NIC per node all 16 ranks' inter-node flows share it, on both."""
    s = _sharded(nics=nics, **SHARDED[flavour])
    single = simulate(s, fidelity="chunk")
    (shared,) = simulate_shared([s])
    assert _rel(shared.step_time_s, single.step_time_s) < 1e-9
    assert _rel(shared.comm_s, single.comm_s) < 1e-9
    assert _rel(shared.exposed_comm_s, single.exposed_comm_s) < 1e-9 or single.exposed_comm_s < 1e-12
    traffic, plan = step_traffic(s), step_plan(s, 0.0, 1.0, 1.0)
    root_kept = flavour in ("fsdp-full-shard", "fsdp-full-shard-no-prefetch", "fsdp-hybrid-shard")
    if flavour.startswith("fsdp"):
        # a gather and a reduce-scatter a wrapped unit: GPT-2 medium's 24 layers of 12h^2 + 13h = 12,596,224
        # (+ the final norm's 2h spread over them: 12,596,309.3), the root (tied embedding and positions,
        # (50,257 + 1,024) x 1,024 = 52,511,744 = 4.17 layers) cut into 5 layer-sized pieces: 29 a forward;
        # FULL_SHARD's backward leaves out the root (StepTraffic.backward_gather_share): its 24 layers
        assert (plan.pieces, plan.backward_pieces) == (29, 24 if root_kept else 29)
        assert len(plan.gradient_buckets) == 29
    else:  # DeepSpeed: 8 pieces of 100 MB (deepspeed_prefetch_bucket_size 5e7 x 2 B) of the 710 MB a pass
        assert (plan.pieces, plan.backward_pieces) == (8, 8)
    gathers = traffic.forward_gathers * plan.pieces + traffic.backward_gathers * plan.backward_pieces
    gathers += len(plan.parameter_buckets) if traffic.post_step_gather else 0  # DeepSpeed ZeRO-2's, after the step
    reductions = traffic.gradient_reductions * len(plan.gradient_buckets)
    replicas = reductions if traffic.replicas > 1 else 0
    assert shared.extra["collectives"] == single.extra["collectives"] == gathers + reductions + replicas


def test_a_sharded_job_with_tensor_and_pipeline_parallelism_alone_is_the_simulator() -> None:
    """ZeRO-3 with tp = 2 (two DP groups sharing each node's NICs, evenly: 8 NICs or 1), and with pp = 2 (the sends
    as flows, each group starting at its stage's place in the schedule) as the frameworks run it: DeepSpeed's ZeRO-1
    (its pipeline engine refuses ZeRO-2/3) and FSDP's FULL_SHARD: the simulator's step to 1e-9.
    (TP as the analytic term: with pp = 2 the TP flows follow the pipeline schedule, which holds no gathers.)"""
    for s in (
        make(zero_stage=3, tp=2),
        make(zero_stage=3, tp=2, nics=1),
        make(zero_stage=1, tp=2, pipeline_parallel=2),
        make(zero_stage=3, optimizer_sharding="fsdp", tp=2, pipeline_parallel=2),
    ):
        (shared,) = simulate_shared([s], tp_flows=False)
        assert _rel(shared.step_time_s, simulate(s, fidelity="chunk").step_time_s) < 1e-9


def test_hybrid_shard_streams_meet_on_the_nic_when_the_shard_group_spans_nodes() -> None:
    """HYBRID_SHARD on 4 nodes x 4 GPUs, one NIC each, overlap off, 2 micro-batches: with a shard group of one
    node only the replica all-reduces cross the NIC; with a shard group of two nodes the reduce-scatters cross
    it too, while the previous unit's replica all-reduce runs on its own stream, so that step is the longer.
    The simulator at chunk level runs a HYBRID_SHARD step on one network (dpsim.sim.shared.run_on_one_network),
    so it equals the shared fabric (1e-9) in both cases. The fast level and the analytic engine price the two
    streams by the links each phase of each collective loads while both are in flight (dpsim.streams), within
    0.5 % of the chunk level (225.73 against 226.00 ms with a shard group of 8; 226.75, +0.33 %, when each
    collective's load was averaged over its phases): the NIC carries the same bytes without a pause either way
    (work-conserving); what remains is the chunk level's ranks finishing each ring at their own times (a rank
    joins its next collective early), which the other levels fold to the last rank. (The chunk level's 148.80
    and 225.70 ms were pinned when FSDP reduced in communication.bucket pieces; a gather and a reduce-scatter a
    unit moved them.)"""
    base = _sharded(nics=1, overlap=False, zero_stage=3, optimizer_sharding="fsdp").model_dump(
        mode="json", exclude_none=True
    )
    base["model"]["preset"] = "gpt2-small"
    base["cluster"].update(nodes=4, workers_per_node=4)
    base["communication"]["bucket"] = "25 MB"
    base["training"].update(global_batch=32, micro_batch=1)
    steps = []
    for group in (4, 8):
        base["training"]["fsdp_shard_group"] = group
        s = scenario_from_dict(base)
        single = simulate(s, fidelity="chunk")
        (shared,) = simulate_shared([s])
        assert _rel(shared.step_time_s, single.step_time_s) < 1e-9
        assert _rel(shared.comm_s, single.comm_s) < 1e-9
        fast, analytic = simulate(s, fidelity="fast"), predict(s)
        assert _rel(fast.step_time_s, analytic.step_time_s) < 1e-9
        assert abs(fast.step_time_s / single.step_time_s - 1.0) < 0.005
        steps.append(single.step_time_s)
    assert steps[1] > 1.2 * steps[0]  # the reduce-scatters on the NIC too


@pytest.mark.parametrize(
    "kw",
    [{}, {"nics": 1}, {"optimizer_sharding": "fsdp", "global_batch": 64}],
    ids=["zero3", "zero3-1-nic", "fsdp-2-micro-batches"],
)
def test_tp_flows_of_a_sharded_job_run_inside_its_gathered_pieces(kw: dict[str, Any]) -> None:
    """ZeRO-3/FSDP with tp = 2 and no prefetch: each piece's gather runs between pieces of compute, the
    reductions after the pass. The TP flows are released where the step program runs each layer (inside
    its piece, after the wait for the gather: :func:`dpsim.sim.shared._program_passes`), so they meet
    neither: no TP group is late, every TP all-reduce takes the engines' ring, and the step is the
    simulator's to 1e-9. (Laid out as if there were no gathers, the TP flows of the first case ran into
    them: 62.20 instead of 62.11 ms.)"""
    s = make(zero_stage=3, tp=2, bucket="30 MB", **kw)
    (shared,) = simulate_shared([s])
    flows = _tp_flows(shared)
    assert max(flows["group_delay_s"]) == pytest.approx(0.0, abs=1e-12)
    assert _rel(flows["longest_collective_s"], flows["collective_s"]) < 1e-9
    assert _rel(shared.step_time_s, simulate(s, fidelity="chunk").step_time_s) < 1e-9


def _sharded_job(name: str, inter: str = "200 Gbit/s", **training: Any) -> Scenario:
    data = _job(name, inter).model_dump(mode="json", exclude_none=True)
    training = dict(training)
    data["communication"]["overlap"] = training.pop("overlap", True)
    data["training"].update(global_batch=32, **training)  # dp = 4, 2 micro-batches
    return scenario_from_dict(data)


@pytest.mark.parametrize(
    "training",
    # DeepSpeed with nothing kept for reuse (stage3_max_reuse_distance 0): it gathers in every backward too
    [
        {"zero_stage": 3, "deepspeed_max_reuse_distance": 0},
        {"zero_stage": 3, "optimizer_sharding": "fsdp", "overlap": False},
    ],
    ids=["zero3", "fsdp-no-prefetch"],
)
def test_two_sharded_jobs_on_an_oversubscribed_fat_tree_slow_each_other_by_the_uplink_share(
    training: dict[str, Any],
) -> None:
    """As for DDP: two 4-node ZeRO-3/FSDP jobs interleaved on leaves of 2 nodes with 2:1 uplinks put two
    flows on every uplink, so every gather and reduce-scatter runs at B/2 — each job's step and
    communication are those of the job alone on NICs of half the bandwidth (its gathers gate compute, so
    the step grows with them). Packed on their own leaves, they do not meet."""
    alone = simulate_shared([_sharded_job("a", **training)])[0]
    half = simulate_shared([_sharded_job("a", inter="100 Gbit/s", **training)])[0]
    a, b = simulate_shared([_sharded_job("a", **training), _sharded_job("b", **training)], placement="interleaved")
    assert _rel(alone.step_time_s, simulate(_sharded_job("a", **training), fidelity="chunk").step_time_s) < 1e-9
    for job in (a, b):
        assert _rel(job.comm_s, half.comm_s) < 0.01
        assert _rel(job.step_time_s, half.step_time_s) < 0.01
        assert job.comm_s > 1.8 * alone.comm_s
        assert job.step_time_s > alone.step_time_s + 0.4 * alone.comm_s
    a, b = simulate_shared([_sharded_job("a", **training), _sharded_job("b", **training)], placement="packed")
    for job in (a, b):
        assert _rel(job.step_time_s, alone.step_time_s) < 1e-9 and _rel(job.comm_s, alone.comm_s) < 1e-9


def test_jobs_on_one_fabric_need_the_same_node_type() -> None:
    with pytest.raises(ScenarioError, match="same node type"):
        simulate_shared([make("a"), make("b", nics=4)])
    with pytest.raises(ScenarioError, match="node-major"):
        b = make("b")
        simulate_shared(
            [make("a"), b.model_copy(update={"cluster": b.cluster.model_copy(update={"rank_order": "round_robin"})})]
        )


def test_shared_fabric_is_deterministic() -> None:
    first = simulate_shared([_job("a"), _job("b")], placement="interleaved")
    again = simulate_shared([_job("a"), _job("b")], placement="interleaved")
    assert [r.step_time_s for r in first] == [r.step_time_s for r in again]
    assert np.isfinite(first[0].step_time_s)


JOB_YAML = """
name: {name}
model: {{preset: gpt2-medium}}
cluster:
  nodes: 4
  workers_per_node: 1
  device: a100-80gb
  intra_node: {{bandwidth: 300 GB/s, latency: 1 us}}
  inter_node: {{bandwidth: 200 Gbit/s, latency: 5 us, nics_per_node: 1}}
  topology: {{kind: fat-tree, nodes_per_leaf: 2, oversubscription: 2}}
training: {{global_batch: 16, micro_batch: 4}}
communication: {{algorithm: ring, bucket: 25 MB, overlap: false}}
"""


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from dpsim.cli import main

    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_cli_runs_jobs_on_a_shared_fabric(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """``dpsim run a.yaml b.yaml --shared-fabric --format json`` prints a list: one object per job, in order."""
    import json

    paths = []
    for name in ("job-a", "job-b"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(JOB_YAML.format(name=name))
        paths.append(str(path))
    code, out, _ = _cli(capsys, "run", *paths, "--shared-fabric", "--placement", "interleaved", "--format", "json")
    assert code == 0
    jobs = json.loads(out)
    assert [j["scenario"] for j in jobs] == ["job-a", "job-b"]
    assert [j["extra"]["shared_fabric"]["nodes"] for j in jobs] == [[0, 2, 4, 6], [1, 3, 5, 7]]
    assert jobs[0]["step_time_s"] == pytest.approx(
        simulate_shared([_job("a"), _job("b")], placement="interleaved")[0].step_time_s
    )
    code, out, err = _cli(capsys, "run", *paths)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: ") and "--shared-fabric" in err


def test_jobs_of_one_name_on_a_shared_fabric_are_told_apart_in_every_format(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """``dpsim run a.yaml a.yaml a.yaml --shared-fabric``: the later jobs are ``job-a #2`` and ``#3`` in the
    JSON objects, in ``extra.shared_fabric.jobs``, in the CSV rows and the tables' titles (every job printed
    ``job-a`` before); a job already named ``job-a #2`` keeps its name and the repeat moves on to ``#3``."""
    import csv
    import io
    import json

    path = tmp_path / "a.yaml"
    path.write_text(JOB_YAML.format(name="job-a"))
    three = ["run", str(path), str(path), str(path), "--shared-fabric"]
    code, out, _ = _cli(capsys, *three, "--format", "json")
    names = ["job-a", "job-a #2", "job-a #3"]
    assert code == 0 and [j["scenario"] for j in json.loads(out)] == names
    assert all(j["extra"]["shared_fabric"]["jobs"] == names for j in json.loads(out))
    code, out, _ = _cli(capsys, *three, "--format", "csv")
    assert code == 0 and [row["scenario"] for row in csv.DictReader(io.StringIO(out))] == names
    code, out, _ = _cli(capsys, *three, "--format", "table")
    assert code == 0 and all(f"{n} (sim)" in out for n in names) and "job-a #4" not in out
    other = tmp_path / "b.yaml"
    other.write_text(JOB_YAML.format(name='"job-a #2"'))  # quoted: YAML reads an unquoted " #2" as a comment
    code, out, _ = _cli(capsys, "run", str(path), str(other), str(path), "--shared-fabric", "--format", "json")
    assert code == 0 and [j["scenario"] for j in json.loads(out)] == names
    # the job named "job-a #2" last: the repeat before it skips its name (was "job-a #2" twice, then "job-a #2 #2")
    code, out, _ = _cli(capsys, "run", str(path), str(path), str(other), "--shared-fabric", "--format", "json")
    assert code == 0 and [j["scenario"] for j in json.loads(out)] == ["job-a", "job-a #3", "job-a #2"]


# --- tensor-parallel collectives as flows ------------------------------------------------------


def _tp_flows(result: Any) -> dict[str, Any]:
    flows: dict[str, Any] = result.extra["shared_fabric"]["tensor_parallel_flows"]
    return flows


def test_tp_collectives_that_meet_nothing_cost_the_engines_ring() -> None:
    """tp=8 on one 8-GPU node, dp=1: each TP all-reduce is a ring over the NVSwitch ports alone,
    2(t−1)α + 2(t−1)/t·S/B exactly (B = 300 GB/s, α = 1 us, S = b·s·h·2); 4 per layer per micro-batch,
    nothing late, and the step is the one with TP as the analytic per-micro-batch term."""
    s = make(nodes=1, per_node=8, tp=8, global_batch=8)
    (shared,) = simulate_shared([s])
    flows = _tp_flows(shared)
    size = activation_message_bytes(s)
    ring = 2 * 7 * 1e-6 + 2 * 7 / 8 * size / 300e9
    assert _rel(flows["collective_s"], ring) < 1e-12
    assert _rel(flows["longest_collective_s"], ring) < 1e-9
    assert flows["collectives"] == 4 * s.model.layers * s.accumulation_steps
    assert flows["group_delay_s"] == pytest.approx([0.0], abs=1e-12)
    (terms,) = simulate_shared([s], tp_flows=False)
    assert _rel(shared.step_time_s, terms.step_time_s) < 1e-9


def test_float8_tensor_parallel_gathers_run_as_float8_flows() -> None:
    """Under torchao's Float8 tensor parallelism (dpsim.analytic.parallel.float8_sequence_gathers) each TP all-gather
    is a flow of the float8 tensor, half the reduce-scatter's bytes, as the engines price it: tp=8 on one H100 node,
    dp=1, nothing to meet, so the step is the one with TP as the analytic per-micro-batch term."""
    from dpsim.analytic.parallel import float8_sequence_gathers

    data: dict[str, Any] = {
        "name": "float8-tp",
        "model": {"preset": "gpt2-medium", "fp8_linear": "torchao_tensorwise"},
        "cluster": {"nodes": 1, "workers_per_node": 8, "device": "h100-sxm", "intra_node": "nvlink4"},
        "training": {
            "global_batch": 8,
            "micro_batch": 4,
            "tensor_parallel": 8,
            "precision": "fp8",
            "sequence_parallel": True,
            "sequence_parallel_kind": "dtensor",
        },
        "communication": {"algorithm": "ring", "overlap": False},
    }
    s = scenario_from_dict(data)
    assert float8_sequence_gathers(s)
    (shared,) = simulate_shared([s])
    (terms,) = simulate_shared([s], tp_flows=False)
    assert _rel(shared.step_time_s, terms.step_time_s) < 1e-9


def test_tp_collectives_are_released_layer_by_layer() -> None:
    """Megatron blocks each layer on its TP all-reduces: a pass of compute c over L layers with N collectives
    (each taking a alone) releases layer i's share after i + 1 layers of compute and the i shares before
    it — by hand, 3 layers, c = 3, N = 6 (2 a layer), a = 0.5, from t = 10: releases at 11, 13, 15, each
    after 1 s of its layer's compute, and the pass ends at 10 + 3 + 6·0.5 = 16, where the engines end it.
    An uneven count is shared out as evenly as it goes (7 over 3 layers: 3, 2, 2; ends at 16.5). On a whole run (tp=8
    on one node, dp=1, nothing to meet) every layer of every pass is one release: 2 · 24 layers · k."""
    from dpsim.sim.shared import _by_layer, _Pass

    passes = _by_layer([(10.0, 16.0)], 6, 3, 0.5)
    assert passes == [_Pass(11.0, 1.0, 2), _Pass(13.0, 1.0, 2), _Pass(15.0, 1.0, 2)]
    uneven = _by_layer([(10.0, 16.5)], 7, 3, 0.5)
    assert uneven == [_Pass(11.0, 1.0, 3), _Pass(13.5, 1.0, 2), _Pass(15.5, 1.0, 2)]
    # a gathered pass: two pieces, 10-12 and 13-15 (a gather between), 2 layers of 4 collectives: layer 0's
    # pair after 1 s of compute (11), ending with the first piece at 12; layer 1's 1 s into the second (14)
    assert _by_layer([(10.0, 12.0), (13.0, 15.0)], 4, 2, 0.5) == [_Pass(11.0, 1.0, 2), _Pass(14.0, 1.0, 2)]
    assert _by_layer([(0.0, 3.0)], 1, 24, 1.0) == [_Pass(2.0, 2.0, 1)]  # fewer collectives than layers: one each
    s = make(nodes=1, per_node=8, tp=8, global_batch=16)
    flows = _tp_flows(simulate_shared([s])[0])
    assert flows["releases"] == 2 * s.model.layers * s.accumulation_steps
    assert flows["collectives"] == 4 * s.model.layers * s.accumulation_steps


def test_tp_on_nvswitch_and_pipeline_sends_on_pcie_do_not_meet() -> None:
    """tp=8 fills each node, pp=2 over 2 nodes, dp=1: the stage-to-stage sends leave each GPU over its
    PCIe link to its NIC, the TP rings stay on NVSwitch — no TP collective is slowed. Routed through the
    GPU's NVSwitch port instead (a device given by numbers has no host link), the sends meet the TP rings
    there and some TP collectives take longer."""
    s = make(nodes=2, per_node=8, tp=8, pipeline_parallel=2, global_batch=8)
    flows = _tp_flows(simulate_shared([s])[0])
    assert _rel(flows["longest_collective_s"], flows["collective_s"]) < 1e-9
    assert max(flows["group_delay_s"]) == pytest.approx(0.0, abs=1e-12)
    bare = s.model_copy(deep=True)
    bare.cluster.device.preset = None
    bare.cluster.host_link = None
    assert fabric_of(bare).host is None
    flows = _tp_flows(simulate_shared([bare])[0])
    assert flows["longest_collective_s"] > 1.01 * flows["collective_s"]


def test_tp_across_nodes_sharing_a_nic_with_the_reduction_gets_half_of_it() -> None:
    """One GPU and one NIC per node (B = 25 GB/s, α = 5 us), tp=2 over nodes 0–1 and 2–3, dp=2 over
    0–2 and 1–3, overlap on (25 MB buckets), protocol none. The backward's TP all-reduces are part of the
    pass, over which the gradient buckets become ready, so the DP ring's buckets run while they do; every
    NIC direction then carries one TP flow and one DP flow, so a TP all-reduce inside the reduction takes
    2α + 2·S/B instead of 2α + S/B (the bandwidth term doubles, the latency term does not), and the TP
    groups end late. (Without overlap the reduction starts after the whole backward, TP included, and
    meets no TP all-reduce.)"""
    s = make(nodes=4, per_node=1, nics=1, tp=2, global_batch=4, micro_batch=1)
    communication = s.communication.model_copy(update={"protocol": "none", "overlap": True})
    s = s.model_copy(update={"communication": communication})
    assert s.data_parallel == 2
    (shared,) = simulate_shared([s])
    flows = _tp_flows(shared)
    size, bandwidth, alpha = activation_message_bytes(s), 25e9, 5e-6
    assert _rel(flows["collective_s"], 2 * alpha + size / bandwidth) < 1e-12
    assert _rel(flows["longest_collective_s"], 2 * alpha + 2 * size / bandwidth) < 1e-9
    assert min(flows["group_delay_s"]) > size / bandwidth
    (terms,) = simulate_shared([s], tp_flows=False)
    assert shared.step_time_s >= terms.step_time_s


def test_a_stage_s_buckets_ready_before_its_last_operation_starts_start_from_the_operation_they_fall_in() -> None:
    """The fuzz's case (``agreement_fuzz.py --widest --shared-fabric 1 --only pipeline_parallel``, seed 0): torch's
    pipelining runtime with blocking sends, whose step lays a stage's last backward out earlier than the schedule's
    last operation starts, so the first buckets are ready before it. The stream starts from the live operation its
    first bucket falls in, as late as that one started: the engines' step (1e-9; started with the last operation,
    the buckets waited for it: +1.89 %)."""
    s = load_scenario(
        None,
        [
            "cluster.nodes=4", "cluster.workers_per_node=1", "cluster.inter_node.nics_per_node=2",
            "training.zero_stage=1", "training.optimizer_sharding=megatron", "communication.overlap=true",
            "communication.bucket=100MiB", "training.precision=fp16", "training.pipeline_parallel=2",
            "training.micro_batch=1", "training.global_batch=2", "communication.algorithm=hierarchical",
            "training.optimizer_copies=fused", "training.gradient_accumulation_pass=none",
            "training.gradient_as_bucket_view=false", "training.pipeline_runtime=torch",
            "training.embedding_pipeline_slots=false", "training.pipeline_p2p=blocking",
        ],
    )  # fmt: skip
    (shared,) = simulate_shared([s])
    assert _rel(shared.step_time_s, predict(s).step_time_s) < 1e-9


def test_tp_all_reduces_inside_a_live_operation_share_the_nic_with_the_send_before_it_by_hand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TP collectives run inside the live pipeline's operations (stop 45): one GPU and one NIC per node at 1 Gbit/s
    (B, α = 5 us), tp=2 over nodes 0–1 (stage 0) and 2–3 (stage 1), dp=1, GPipe, m=2, one layer a stage, protocol
    none (a TP all-reduce alone: A = 2α + S/B, two ring phases of α + (S/2)/B). Stage 0's F0 meets nothing and ends
    at T1; its send (S a GPU, α + S/B alone) leaves then, and F1 starts: its compute c, then its first all-reduce,
    whose phase-1 flow shares each node's NIC out with the send (B/2 each). Worked by hand (c + α < S/2B): phase 1
    leaves at T1 + c + S/B, the send alone for its α, phase 2 shares again; the send's last byte leaves at
    T1 + 2S/B − c − α, so it is delivered 2S/B − c after it left; phase 2 then has the NIC alone and the all-reduce
    ends at T1 + 2S/B + α, the second alone A later: F1 lasts 3S/B + 3α where the engines' schedule has
    c + 2A = c + 2S/B + 4α. (Released from the fixed schedule, the all-reduces ran beside the operations and the
    operations kept their fixed lengths: nothing delayed the send that F1's end starts.)"""
    import dpsim.sim.shared as shared_module

    data = make(nodes=4, per_node=1, nics=1, tp=2, pipeline_parallel=2, inter="1 Gbit/s").model_dump(mode="json")
    data["model"] = {"preset": "gpt2-medium", "layers": 2}
    data["training"].update(pipeline_schedule="gpipe", global_batch=8)
    data["communication"]["protocol"] = "none"
    s = scenario_from_dict(data)
    assert s.accumulation_steps == 2 and s.data_parallel == 1
    live: list[Any] = []
    start = shared_module._LiveStages.start
    monkeypatch.setattr(shared_module._LiveStages, "start", lambda self, *a: (live.append(self), start(self, *a))[1])
    (result,) = simulate_shared([s])
    size, bandwidth, alpha = activation_message_bytes(s), 1e9 / 8, 5e-6
    flows = _tp_flows(result)
    one = 2 * alpha + size / bandwidth
    assert _rel(flows["collective_s"], one) < 1e-12
    (stages,) = live
    assert stages.live is not None
    ops = {name: end - begin for d, kind, name, begin, end in stages.live.intervals if d == 0 and kind != "p2p"}
    nominal = {name: end - begin for d, kind, name, begin, end in stages.nominal.intervals if d == 0 and kind != "p2p"}
    assert _rel(ops["F0.0"], nominal["F0.0"]) < 1e-9  # F0 meets nothing
    compute = nominal["F0.0"] - 2 * one
    assert 0 < compute + alpha < size / (2 * bandwidth)
    assert _rel(stages.flows.durations()[("F", 0, 1)], 2 * size / bandwidth - compute) < 1e-9
    assert _rel(ops["F1.0"], 3 * size / bandwidth + 3 * alpha) < 1e-9
    assert _rel(nominal["F1.0"], compute + 2 * size / bandwidth + 4 * alpha) < 1e-9
    # both engines run the same timeline (stop 46: the TP phases share the NIC with the send in the schedule's
    # evaluation), so F1, the send before it and the step are the hand-worked ones
    record = _engine_record(s)
    engine_ops = {
        f"{f}{mb}.{c}": end - start for kind, d, (f, mb, c), start, end in record if d == 0 and kind != "send"
    }
    engine_sends = {op: end - start for kind, _, op, start, end in record if kind == "send"}
    assert _rel(engine_ops["F0.0"], nominal["F0.0"]) < 1e-12
    assert _rel(engine_ops["F1.0"], 3 * size / bandwidth + 3 * alpha) < 1e-9
    assert _rel(engine_sends[("F", 0, 1)], 2 * size / bandwidth - compute) < 1e-9
    for engine in ("analytic", "sim"):
        step = predict(s).step_time_s if engine == "analytic" else simulate(s, fidelity="chunk").step_time_s
        assert _rel(step, result.step_time_s) < 1e-9, engine


def test_tp_phases_of_a_long_step_run_beside_the_sends_as_one_event_while_nothing_shares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every TP ring phase was two events of the schedule's evaluation: GPT-3 175B at TP 16 (two 8-GPU nodes a group)
    x PP 8 with 256 micro-batches would run about 6*10^6 of them, so past TP_SEGMENTS_BOUND (2^18) the phases were left
    out. An operation now runs as one event while nothing else is on its NIC directions and is stepped only while a
    send or bucket is beside it: the phases stay in, nothing is left out. Since stop 50 the phases beside one send
    run in a local loop while nothing else is due (``fast_forward``: the same arithmetic, no event a phase), so the
    evaluation pushes about 3.7*10^4 events, not 2.5*10^5 (counted, so a busy machine cannot fail it; about 0.2 s of
    CPU at load 10, held under 2 s)."""
    import heapq
    import time

    from dpsim.analytic.step import model_parallel_fabric, pipeline_stage_loads

    s = load_scenario(
        None,
        ["model.preset=gpt3-175b", "cluster.nodes=32", "training.micro_batch=1", "training.global_batch=512",
         "training.pipeline_parallel=8", "training.tensor_parallel=16", "cluster.inter_node.nics_per_node=8"],
    )  # fmt: skip
    assert s.accumulation_steps == 256
    found = pipeline_stage_loads(s, model_parallel_fabric(s), 1.0, 2.0, 0.5)
    assert found is not None and any(found[1].tp_flows)
    pushed = [0]
    push = heapq.heappush

    def counted(heap: list[Any], item: Any) -> None:
        pushed[0] += 1
        push(heap, item)

    monkeypatch.setattr(heapq, "heappush", counted)
    start = time.process_time()
    result = predict(s)
    assert time.process_time() - start < 2.0
    assert 0 < pushed[0] < 60_000
    assert result.extra["pipeline_tp_phases_left_out"] is False


def test_the_simulator_prices_a_long_tp_pipeline_in_bounded_time() -> None:
    """``--engine sim`` on GPT-3 175B at TP 16 x PP 8 with 256 micro-batches runs predict's terms and its own
    recorded evaluation of the same schedule (about 0.4 s of CPU at load 10 on a 2-core machine, predict's 0.2 s;
    1.2 s before stop 50's fast_forward): held under 5 s so a busy CI runner passes it, while stepping every TP
    phase as its own events (31 s, ``every_segment``) fails it. Its step is predict's makespan plus the same
    terms."""
    import time

    s = load_scenario(
        None,
        ["model.preset=gpt3-175b", "cluster.nodes=32", "training.micro_batch=1", "training.global_batch=512",
         "training.pipeline_parallel=8", "training.tensor_parallel=16", "cluster.inter_node.nics_per_node=8"],
    )  # fmt: skip
    start = time.process_time()
    result = simulate(s, fidelity="chunk")
    assert time.process_time() - start < 5.0
    assert _rel(result.step_time_s, predict(s).step_time_s) < 1e-12


def test_tp_phases_run_as_one_event_give_the_segment_by_segment_times_bit_for_bit() -> None:
    """Past the old bound (2^18 TP segments of an evaluation; here 278,784: GPT-3 175B at TP 16 x PP 8, 12
    micro-batches), the evaluation that runs an operation as one event while nothing shares its NIC directions
    gives every operation's and send's start and end, and the schedule's times, exactly as the one that steps every
    segment (``every_segment``): a stretch run as one event ends where the segments' seconds summed one after
    another end, and one split where a send joins resumes from the segment in progress at its own start. Sends
    overlap operations here (some shared, some not), so both paths run."""
    from dpsim.analytic.pipeline_schedule import evaluate_shared_nics

    s = load_scenario(
        None,
        ["model.preset=gpt3-175b", "cluster.nodes=32", "training.micro_batch=1", "training.global_batch=24",
         "training.pipeline_parallel=8", "training.tensor_parallel=16", "cluster.inter_node.nics_per_node=8"],
    )  # fmt: skip
    forward, backward, nics, loads, send = _schedule_inputs(s)
    p, m = s.training.pipeline_parallel, s.accumulation_steps
    segments = sum(len(loads.op_segments(d, f, forward if f else backward) or ()) for d in range(p) for f in (1, 0))
    assert segments * m > 1 << 18
    args = (forward, backward, p, m, 1, s.training.pipeline_schedule, send, [1.0] * p, nics)
    lazy: list[tuple[str, int, Any, float, float]] = []
    every: list[tuple[str, int, Any, float, float]] = []
    times = evaluate_shared_nics(*args, lazy, loads)
    assert times == evaluate_shared_nics(*args, every, loads, every_segment=True)
    assert sorted(lazy) == sorted(every)
    span = {"F": forward, "B": backward}
    ops = [(kind, start, end) for kind, _, _, start, end in every if kind != "send"]
    assert 0 < sum(end != start + span[kind] for kind, start, end in ops) < len(ops)  # shared and not


def test_the_left_out_flag_stays_in_both_records_always_false_and_nothing_reads_it() -> None:
    """``extra["pipeline_tp_phases_left_out"]`` named where stops 46-48 left TP ring phases out past 2^18; since stop
    49 (1ab8bdf) nothing is left out, so it is False in every record. It stays (``--format json``'s keys are a
    contract) in both engines' records, written once (predict's; the simulator's record copies it) and read by
    nothing: no price can branch on it."""
    s = make("a", nodes=4, per_node=4, nics=4, tp=8, pipeline_parallel=2)
    analytic_record, sim_record = predict(s), simulate(s, fidelity="chunk")
    assert analytic_record.extra["tensor_parallel_crosses_nodes"] is True
    assert analytic_record.extra["pipeline_tp_phases_left_out"] is False
    assert sim_record.extra["pipeline_tp_phases_left_out"] is False
    uses = [
        (path.name, line.strip())
        for path in sorted((Path(__file__).resolve().parents[1] / "dpsim").rglob("*.py"))
        for line in path.read_text().splitlines()
        if "pipeline_tp_phases_left_out" in line
    ]
    assert uses == [
        ("step.py", '"pipeline_tp_phases_left_out": False,'),
        ("simulate.py", '"pipeline_tp_phases_left_out": analytic.extra["pipeline_tp_phases_left_out"],'),
    ], uses


def _gpt3_tp16_below_the_bound() -> list[str]:
    """GPT-3 175B at TP 16 × PP 8 with 8 micro-batches and 8 layers: below the bound."""
    return ["model.preset=gpt3-175b", "model.layers=8", "cluster.nodes=32", "training.micro_batch=1",
            "training.global_batch=16", "training.pipeline_parallel=8", "training.tensor_parallel=16",
            "cluster.inter_node.nics_per_node=8"]  # fmt: skip


def test_a_jobs_degraded_nic_slows_it_on_a_shared_fabric() -> None:
    """Two jobs packed on a switch share no link, so each runs as it does alone (:func:`simulate`), a degraded NIC
    (``variability.degraded_links``, the second job's node 1 at half speed) included: the shared fabric slows the
    NIC of the fabric node that job's node 1 was placed on (node 3), and the other job is untouched. Before, the
    shared fabric built its cluster without any job's degraded NICs: the second job ran at full speed."""
    plain = make("a", tp=1)
    data = plain.model_dump(mode="json")
    slow = scenario_from_dict({**data, "name": "b", "variability": {"degraded_links": [{"node": 1, "factor": 0.5}]}})
    a, b = simulate_shared([plain, slow])
    alone_a, alone_b = simulate(plain, fidelity="chunk"), simulate(slow, fidelity="chunk")
    assert alone_b.step_time_s > 1.05 * alone_a.step_time_s
    assert _rel(a.step_time_s, alone_a.step_time_s) < 1e-9 and _rel(b.step_time_s, alone_b.step_time_s) < 1e-9


def test_parameter_server_jobs_are_refused_on_a_shared_fabric() -> None:
    """A shared fabric attaches one parameter-server port (:meth:`dpsim.sim.topology.Topology.attach_server`), so two
    parameter-server jobs met on it (each 2x as slow as alone on 2 nodes, 11x on one node, whose server moved from
    inside the node to across the network: ``agreement_fuzz.py --shared-fabric 2``). Each job has its own server:
    refused with the field named, never priced on a server they would not share. One job alone is unchanged."""
    ps = make("ps", tp=1)
    data = ps.model_dump(mode="json")
    ps = scenario_from_dict({**data, "communication": {**data["communication"], "algorithm": "parameter-server"}})
    with pytest.raises(ScenarioError, match="parameter-server jobs run alone") as info:
        simulate_shared([ps, ps])
    assert info.value.field == "communication.algorithm"
    (alone,) = simulate_shared([ps])
    assert _rel(alone.step_time_s, simulate(ps, fidelity="chunk").step_time_s) < 1e-9


COMPUTE_PROFILE = """\
name: measured-compute
backend: nccl
compute:
  forward: {fixed: 5 ms, per_sample: 30 ms}
  backward: {fixed: 9 ms, per_sample: 60 ms}
optimizer: {fixed: 1 ms, per_parameter: 0.02 ns}
"""


@pytest.mark.parametrize("ready", ["", "gradient_ready: [[0.3, 0.6], [1.0, 1.0]]\n"])
def test_a_profile_of_compute_only_runs_on_a_shared_fabric_as_the_job_alone(tmp_path: Any, ready: str) -> None:
    """A profile with neither links nor a host model (compute fits, optimizer, the traced bucket readiness of
    ``calibrate --from-trace``) describes the job's own devices: applied per job, one job alone on the fabric is the
    simulator's step with the same profile (both engines apply it so), and its compute moves the step. The old code
    refused every profile; the fabric also priced the job's compute from the catalog (compute_model without it)."""
    (tmp_path / "p.yaml").write_text(COMPUTE_PROFILE + ready)
    job = make("p", tp=1)
    data = job.model_dump(mode="json")
    calibrated = scenario_from_dict({**data, "calibration": {"profile": str(tmp_path / "p.yaml")}})
    (alone,) = simulate_shared([calibrated])
    single = simulate(calibrated, fidelity="chunk")
    assert _rel(alone.step_time_s, single.step_time_s) < 1e-9 and _rel(alone.compute_s, single.compute_s) < 1e-9
    assert _rel(alone.step_time_s, simulate_shared([job])[0].step_time_s) > 0.01
    assert alone.hardware_source == str(tmp_path / "p.yaml")
    mixed = simulate_shared([calibrated, make("q", tp=1)])
    assert _rel(mixed[0].compute_s, single.compute_s) < 1e-9 and mixed[1].hardware_source == "catalog"
    if not ready:  # a profile measured with gloo under these GPUs: the record's warning, once on stderr
        from pathlib import Path

        from typer.testing import CliRunner

        from dpsim.cli import app

        (tmp_path / "p.yaml").write_text(COMPUTE_PROFILE.replace("backend: nccl", "backend: gloo"))
        default = str(Path(__file__).parents[1] / "scenarios" / "default.yaml")
        argv = ["run", default, default, "--shared-fabric", "--set", f"calibration.profile={tmp_path / 'p.yaml'}"]
        argv += ["--set", "cluster.nodes=1", "--format", "json"]
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, result.output
        assert result.stderr.startswith("warning: calibration.profile 'measured-compute' was measured with gloo")
        assert result.stderr.count("\n") == 1


def test_a_profile_on_a_shared_fabric_is_refused_saying_why(tmp_path: Any) -> None:
    """A profile's links are whole-collective α–β fits per algorithm (the host's sharing folded in), not capacities the
    fabric's max-min sharing could split between jobs, and a host model prices ranks sharing one host's cores, which
    only the single-job step reads: refused naming the field and saying why and what to do (it said only 'simulated
    from catalog links, not a calibration profile'). One job alone with the profile runs (`dpsim run`)."""
    from pathlib import Path

    from typer.testing import CliRunner

    from dpsim.cli import app

    profile = Path(__file__).parents[1] / "benchmarks/results/plain-ddp-2026-12-06-l/profile.yaml"
    job = make("p", tp=1)
    data = job.model_dump(mode="json")
    calibrated = scenario_from_dict({**data, "calibration": {"profile": str(profile)}})
    with pytest.raises(ScenarioError, match="splits each link's bandwidth between every job's flows") as info:
        simulate_shared([calibrated, job])
    assert info.value.field == "calibration" and "run the job alone with the profile" in info.value.message
    default = str(Path(__file__).parents[1] / "scenarios" / "default.yaml")
    argv = ["run", default, default, "--shared-fabric", "--set", f"calibration.profile={profile}"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert "calibration: a shared fabric splits each link's bandwidth" in result.stderr
    assert simulate(calibrated, fidelity="chunk").step_time_s > 0  # alone, the profile prices the job
    (tmp_path / "host.yaml").write_text(COMPUTE_PROFILE + "host_model: {cores: 2.0}\n")
    hosted = scenario_from_dict({**data, "calibration": {"profile": str(tmp_path / "host.yaml")}})
    with pytest.raises(ScenarioError, match="host model prices ranks sharing one host's cores"):
        simulate_shared([hosted])


def test_a_tensor_parallel_group_across_a_degraded_nic_is_slowed_once_on_a_shared_fabric() -> None:
    """Llama 2 7B with TP 4 over 4 nodes of one GPU (DP 1: no reduction at all), node 1's NIC at a quarter: the
    engines price the TP all-reduces at the degraded rate (``with_degraded_nics``, 0.83 -> 3.30 s a step), and the
    shared fabric's TP flows, on the network with that NIC slowed, take as long; one job alone there gives the
    engines' step. Before, the flows' nominal schedule was priced at the full rate, so the degradation the passes
    already held came back as the groups' lateness: +58.1 % (``agreement_fuzz.py --wider --shared-fabric 2``,
    seed 1). Without the degraded NIC all three agreed before and do now."""
    from pathlib import Path

    from dpsim.scenario import load_scenario

    path = Path(__file__).resolve().parents[1] / "scenarios" / "llama2-7b-128-h100-zero1.yaml"
    sets = [
        "cluster.nodes=4", "cluster.workers_per_node=1", "training.tensor_parallel=4", "training.global_batch=6",
        "training.micro_batch=2", "communication.algorithm=ring", "communication.protocol=Simple",
    ]  # fmt: skip
    for degraded in ([], ["variability.degraded_links=[{node: 1, factor: 0.25}]"]):
        scenario = load_scenario(path, sets + degraded)
        (alone,) = simulate_shared([scenario])
        analytic = predict(scenario).step_time_s
        assert _rel(alone.step_time_s, analytic) < 1e-9
        assert _rel(simulate(scenario, fidelity="chunk").step_time_s, analytic) < 1e-9
    assert predict(scenario).extra["tensor_parallel_comm_s"] == pytest.approx(3.30, rel=0.01)


def test_data_parallel_groups_on_a_ring_of_nodes_share_its_cables() -> None:
    """A ring of nodes cables each node to its neighbours at max(1, n // 2) NICs' rate. Llama 2 7B with TP 2 on 3 nodes
    of 2 GPUs: two DP groups cross each cable at once, so with 2 NICs each group has half a cable, as with 1 NIC. The
    symmetric reduction (``dp_fabric``) gave a group of one NIC of two a whole cable: the step 13.4 % shorter than all
    groups on one network (``agreement_fuzz.py --widest --shared-fabric 2``, seed 3: +16.56 % with a degraded NIC).
    Now the engines, the symmetric simulator and the shared fabric give one step, the same with 1 NIC or 2."""
    from pathlib import Path

    from dpsim.scenario import load_scenario

    path = Path(__file__).resolve().parents[1] / "scenarios" / "llama2-7b-128-h100-zero1.yaml"
    sets = [
        "cluster.nodes=3", "cluster.workers_per_node=2", "training.tensor_parallel=2", "training.micro_batch=2",
        "training.global_batch=12", "communication.overlap=false", "communication.algorithm=ring",
        "cluster.topology.kind=ring",
    ]  # fmt: skip
    steps = []
    for nics in (1, 2):
        scenario = load_scenario(path, [*sets, f"cluster.inter_node.nics_per_node={nics}"])
        analytic = predict(scenario).step_time_s
        (alone,) = simulate_shared([scenario])
        assert _rel(alone.step_time_s, analytic) < 1e-9
        assert _rel(simulate(scenario, fidelity="chunk").step_time_s, analytic) < 1e-9
        steps.append(analytic)
    assert _rel(steps[0], steps[1]) < 1e-9


@pytest.mark.parametrize(
    ("overrides", "rel"),
    [
        ([], 1e-12),  # PP 4 over 2 nodes of 4, DP 2: before 5.43 s on both engines, 7.90 s on the fabric
        (["training.pipeline_parallel=8", "training.global_batch=8"], 1e-12),  # one rank a stage: 5.37 vs 6.77 s
        # TP 2 x PP 4 on 8-GPU nodes, one NIC (4 sends through it) or one each: 1.63 s vs 34.5 s and 3.02 s; the
        # TP flows on the fabric add 1e-5 of the step
        (["cluster.workers_per_node=8", "training.tensor_parallel=2", "model={preset: llama2-7b}"], 1e-4),
        (
            [
                "cluster.workers_per_node=8",
                "training.tensor_parallel=2",
                "model={preset: llama2-7b}",
                "cluster.inter_node={bandwidth: 1 Gbit/s, latency: 10 us, nics_per_node: 8}",
            ],
            1e-4,
        ),
    ],
    ids=["pp4-dp2", "pp8-dp1", "tp2-pp4-1nic", "tp2-pp4-8nics"],
)
def test_a_stage_smaller_than_a_node_sends_as_the_fabric_routes_it(overrides: list[str], rel: float) -> None:
    # 1F1B, a stage smaller than a node: the boundaries at a node's edge cross its NICs (parallel.pipeline_p2p_times),
    # and both engines' step is the shared fabric's, which routes every rank's send flow by flow. Before, the
    # engines priced every boundary on NVLink.
    from dpsim.api import run
    from dpsim.scenario import load_scenario

    o = [*SMALL_STAGES, *overrides]
    analytic = run(None, overrides=o).step_time_s
    assert run(None, engine="sim", overrides=o).step_time_s == pytest.approx(analytic, rel=1e-12)
    (shared,) = simulate_shared([load_scenario(None, o)])
    assert shared.step_time_s == pytest.approx(analytic, rel=rel)


# a ring of 4 nodes of 4 A100s at 1 Gbit/s, 16 micro-batches of 1: the stage-to-stage sends routed round the ring
RING_PIPELINE = [
    "cluster.nodes=4",
    "cluster.workers_per_node=4",
    "cluster.device=a100-80gb",
    "cluster.topology.kind=ring",
    "training.micro_batch=1",
    "training.global_batch=16",
]


def _ring_net(nics: int) -> str:
    return f"cluster.inter_node={{bandwidth: 1 Gbit/s, latency: 10 us, nics_per_node: {nics}}}"


def test_pipeline_sends_on_a_ring_of_nodes_share_the_cables_of_their_routes() -> None:
    """A ring of nodes cables each node to each neighbour at max(1, n // 2) NICs' rate and routes the shorter way
    round, a tie clockwise (RingTopology). PP 2: stage 0 holds nodes 0, 1 and stage 1 nodes 2, 3, so nodes 0 -> 2 and
    1 -> 3 both cross the cable 1 -> 2: 8 sends on one cable, two hops of latency. PP 4 with 2 NICs: one hop, but the
    cable to the neighbour is one NIC's, 4 sends on it. The engines priced each send at its share of the node's NICs
    (B/4 and B/2), as if the sends left through a switch."""
    from dpsim.analytic.parallel import pipeline_p2p_times
    from dpsim.analytic.step import model_parallel_fabric
    from dpsim.scenario import load_scenario

    s = load_scenario(None, [*RING_PIPELINE, _ring_net(1), "training.pipeline_parallel=2"])
    fabric = model_parallel_fabric(s)
    size, b, alpha = activation_message_bytes(s), fabric.inter.bandwidth, fabric.inter.latency_s
    assert pipeline_p2p_times(s, fabric) == pytest.approx((2 * alpha + size / (b / 8),) * 2, rel=1e-12)
    s = load_scenario(None, [*RING_PIPELINE, _ring_net(2), "training.pipeline_parallel=4"])
    fabric = model_parallel_fabric(s)
    assert pipeline_p2p_times(s, fabric) == pytest.approx((alpha + size / (b / 4),) * 4, rel=1e-12)


@pytest.mark.parametrize(
    "overrides",
    [
        [_ring_net(2), "training.pipeline_parallel=2"],  # two hops: the fabric +7.95 % over both engines before
        [_ring_net(2), "training.pipeline_parallel=4"],  # one hop on half the NICs: +40.28 % before
        # two nodes a stage, no tie: +6.34 % before
        [
            "cluster.nodes=6",
            "cluster.workers_per_node=2",
            "training.global_batch=12",
            _ring_net(1),
            "training.pipeline_parallel=3",
        ],
    ],
)
def test_pipeline_sends_on_a_ring_of_nodes_agree_with_the_fabric_that_routes_them(overrides: list[str]) -> None:
    from dpsim.scenario import load_scenario

    s = load_scenario(None, [*RING_PIPELINE, *overrides])
    analytic = predict(s).step_time_s
    assert simulate(s).step_time_s == pytest.approx(analytic, rel=1e-12)
    (alone,) = simulate_shared([s])
    assert alone.step_time_s == pytest.approx(analytic, rel=1e-9)


@pytest.mark.parametrize(
    "overrides",
    [
        [],  # PP 4 over 2 nodes of 4, DP 2: 2 groups through each NIC
        ["training.pipeline_parallel=8", "training.global_batch=8"],  # one rank a stage: 1
        [
            "cluster.workers_per_node=8",
            "training.tensor_parallel=2",
            "model={preset: llama2-7b}",
            "model.tied_embeddings=true",
        ],
        [  # the same with a NIC for each GPU: 1
            "cluster.workers_per_node=8",
            "training.tensor_parallel=2",
            "model={preset: llama2-7b}",
            "model.tied_embeddings=true",
            "cluster.inter_node={bandwidth: 1 Gbit/s, latency: 10 us, nics_per_node: 8}",
        ],
        ["training.pipeline_parallel=2"],  # a stage of a node: every rank of the node, 4
        # a ring of 4 nodes, PP 2: nodes 0 -> 2 and 1 -> 3 both pass the cable 1 -> 2 (parallel.ring_boundary_links)
        ["cluster.nodes=4", "cluster.topology.kind=ring", "training.pipeline_parallel=2", "training.global_batch=32"],
    ],
    ids=["pp4-dp2", "pp8-dp1", "tp2-pp4-1nic", "tp2-pp4-8nics", "pp2-dp4", "ring-pp2"],
)
def test_the_embedding_groups_all_reduce_as_the_fabric_routes_it(overrides: list[str]) -> None:
    # Every embedding group (stage 0's and stage p - 1's rank of one TP and DP coordinate: Megatron's parallel_state,
    # DeepSpeed's PipelineModule._index_tied_modules) all-reduces at once after the data-parallel reduction: a
    # two-rank ring, a reduce-scatter and an all-gather of S/2 each way. Routed flow by flow on the job's whole
    # fabric it takes what parallel.tied_embedding_allreduce_time prices (which the shared fabric adds after the
    # drain); before, that priced every rank of the node on the NIC (2x, 4x, 2x too long in the first three).
    import simpy

    from dpsim.analytic.collectives import cluster_of
    from dpsim.analytic.parallel import tied_embedding_allreduce_time
    from dpsim.analytic.step import model_parallel_fabric
    from dpsim.scenario import load_scenario
    from dpsim.sim.network import FluidNetwork
    from dpsim.sim.shared import shared_fabric

    s = load_scenario(None, [*SMALL_STAGES, *overrides])
    t = s.training
    g = t.tensor_parallel * s.data_parallel
    first = np.arange(g)
    last = first + (t.pipeline_parallel - 1) * g
    width = s.gradient_buffer_bytes_per_param
    size = -(-s.model.vocab // t.tensor_parallel) * s.model.hidden * width
    cluster = cluster_of(shared_fabric([s]))
    env = simpy.Environment()
    net = FluidNetwork(env, cluster.links.bandwidths)
    owner = net.owner(lambda tags: None)
    src, dst = np.concatenate([first, last]), np.concatenate([last, first])
    routes, latency = cluster.routes(src, dst)
    for _half in range(2):  # reduce-scatter, then all-gather: S/2 each way
        net.start_many(routes, np.full(len(src), size / 2), latency, owner, np.arange(len(src)))
        env.run()
    assert env.now == pytest.approx(tied_embedding_allreduce_time(s, model_parallel_fabric(s)), rel=1e-9)


def test_jobs_of_other_columns_on_a_shared_fabric_share_one_csv_header(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round 26 (hostile): a job with a ``reliability`` section has goodput's four columns more than one without; the
    first job's header was printed over every row, so a later job wrote cells no header named (or lacked some),
    in either order. The header is now every column of any job, a row's missing ones empty."""
    import csv
    import io
    import json

    plain, failing = tmp_path / "a.yaml", tmp_path / "b.yaml"
    plain.write_text(JOB_YAML.format(name="plain"))
    failing.write_text(JOB_YAML.format(name="failing") + "reliability: {node_mtbf: 1000 h}\n")
    code, out, _ = _cli(capsys, "run", str(plain), str(failing), "--shared-fabric", "--format", "json")
    jobs = {j["scenario"]: j for j in json.loads(out)}
    for order in ((plain, failing), (failing, plain)):
        code, out, _ = _cli(capsys, "run", *map(str, order), "--shared-fabric", "--format", "csv")
        header, *rows = list(csv.reader(io.StringIO(out)))
        assert code == 0 and len(rows) == 2 and all(len(row) == len(header) for row in rows), out
        read = {row["scenario"]: row for row in csv.DictReader(io.StringIO(out))}
        assert read["plain"]["goodput"] == "" and float(read["failing"]["goodput"]) == jobs["failing"]["goodput"]
        for name, job in jobs.items():
            assert float(read[name]["step_time_s"]) == job["step_time_s"]


@pytest.mark.parametrize(
    "per_node,nics,p,tp,schedule,m,before",
    [
        # TP 4 over two nodes of 2 GPUs and 1 NIC: NCCL's ring runs 2 channels (a NIC a GPU on the group's
        # fabric), both leaving each node through its one NIC, 2 flows each way a phase beside the sends' 2; stops
        # 46-49 counted 1 (the engines 1.2 % and 1.1 % below the fabric)
        (2, 1, 2, 4, "1f1b", 4, 0.0122),
        (2, 1, 2, 4, "gpipe", 2, 0.0107),
        # benchmarks/pipeline_fabric_draws.py --seed 0's 48th draw: a TP phase held below its equal share on one
        # NIC direction leaves the rest of another to the send beside it (max-min, fair_paces); the equal share
        # was 0.04 % slower
        (2, 6, 5, 4, "interleaved", 10, 0.0004),
    ],
)
def test_tp_and_sends_on_shared_nics_give_the_fabric_in_both_engines(
    per_node: int, nics: int, p: int, tp: int, schedule: str, m: int, before: float
) -> None:
    """Pipelines whose only NIC loads are the sends and the TP ring phases (dp = 1): the engines' evaluation runs
    the fabric's flows (a TP load's flows per NIC direction from the fabric's own schedule, dpsim.sim.shared
    .tp_ring_nic_flows; max-min shares), so both give the shared fabric's step to rounding."""
    from benchmarks.pipeline_fabric_draws import SMALL, overrides
    from dpsim.scenario import apply_overrides

    s = scenario_from_dict(apply_overrides(copy.deepcopy(SMALL), overrides(p, tp, per_node, nics, schedule, 1, m)))
    assert s.data_parallel == 1 and s.accumulation_steps == m
    (fabric,) = simulate_shared([s])
    for engine in ("analytic", "sim"):
        step = predict(s).step_time_s if engine == "analytic" else simulate(s, fidelity="chunk").step_time_s
        assert _rel(step, fabric.step_time_s) < 1e-9, (engine, step, fabric.step_time_s, before)
