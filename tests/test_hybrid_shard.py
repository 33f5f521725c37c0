"""FSDP HYBRID_SHARD on both engines: shard and replica groups on one network, the replica all-reduce on its own stream.

Hand-computed timelines on the toy of ``test_analytic`` (2 nodes x 2 ranks, 100 MB/s links, one NIC
per node, 0 latency), the groups' layouts and tiled schedules written out, and the two engines held to
each other on symmetric NCCL clusters (1 %).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_analytic import exact, toy  # pytest puts tests/ on the path

from dpsim.analytic.step import predict
from dpsim.scenario import SHARDED_ALGORITHMS, Scenario, load_scenario
from dpsim.sim import simulate, simulate_timeline
from dpsim.sim.collectives import TEXTBOOK, build
from dpsim.sim.collectives.base import Layout
from dpsim.sim.collectives.groups import Groups
from dpsim.sim.shared import simulate_shared
from dpsim.streams import Job, LinkUse, TwoStreams, shared_rates, two_stream_end

LLAMA = Path(__file__).resolve().parents[1] / "scenarios" / "llama2-7b-128-h100-zero1.yaml"

HYBRID: dict[str, Any] = {
    "cluster__nodes": 2,
    "training__zero_stage": 3,
    "training__optimizer_sharding": "fsdp",
    "training__fsdp_shard_group": 2,
}


def test_groups_members_and_layouts() -> None:
    """2 nodes x 4 GPUs, 4 NICs: shard groups of 2 sit on one node on 2 NICs; their replica groups
    (ranks i, i+2, i+4, i+6) hold 2 ranks on each of the 2 nodes, on 2 NICs."""
    shard, replica = Groups.hybrid(8, 2)
    assert shard.members.tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert replica.members.tolist() == [[0, 2, 4, 6], [1, 3, 5, 7]]
    whole = Layout(2, 4, nics=4)
    assert shard.layout(whole) == Layout(1, 2, nics=2)
    assert replica.layout(whole) == Layout(2, 2, nics=2)
    # one NIC per node: every group's ranks of a node use it
    assert replica.layout(Layout(2, 4, nics=1)).nics == 1
    # shard groups of 4 = a node each; their replica groups hold one rank per node
    shard4, replica4 = Groups.hybrid(8, 4)
    assert shard4.layout(whole) == Layout(1, 4, nics=4)
    assert replica4.layout(whole) == Layout(2, 1, nics=1)
    with pytest.raises(ValueError, match="do not tile"):
        Groups(8, 3)


def test_tiled_schedule_runs_every_group_on_its_own_ranks() -> None:
    """A ring all-reduce of 2 ranks (each sends 2 x 1/2 of S) tiled over replica groups {0, 2}, {1, 3}:
    every rank sends S to its group's other rank and nothing to the other group."""
    replica = Groups.hybrid(4, 2)[1]
    tiled = replica.tile(build("allreduce", "ring", replica.layout(Layout(2, 2))))
    assert tiled.ranks == 4
    assert tiled.bytes_sent(1.0).tolist() == [1.0, 1.0, 1.0, 1.0]
    pairs = {(int(s), int(d)) for p in tiled.phases for s, d in zip(p.src, p.dst, strict=True)}
    assert pairs == {(0, 2), (2, 0), (1, 3), (3, 1)}


def test_two_streams_by_hand() -> None:
    """Reduce-scatters 0.5, 0.5, 0.25 s ready at 1, 2, 3 s; all-reduces 1, 1, 0.5 s after each, in order:
    RS 1-1.5, 2-2.5, 3-3.25; AR 1.5-2.5, 2.5-3.5 (waits for the first), 3.5-4."""
    assert two_stream_end([1.0, 2.0, 3.0], [0.5, 0.5, 0.25], [1.0, 1.0, 0.5]) == (3.25, 4.0)


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
@pytest.mark.parametrize("k", [1, 2])
def test_hybrid_full_shard_by_hand(engine: str, k: int) -> None:
    """HYBRID_SHARD on 2 nodes x 2 ranks, shard groups of 2 (one node each), FULL_SHARD, fp32.

    FSDP gathers and reduces a wrapped unit at a time: the toy MLP's 4 linear layers, 62.5 MB each
    (dpsim.sharding.fsdp_units). Forward: 4 gathers inside the node (31.25 MB sent, 5/16 s each at 100 MB/s) a
    unit ahead of 1/4 s of compute: 4 x 5/16 + 1/4 = 3/2 s, 1/2 exposed. Backward (from 3/2 s): gathers done at
    5/16, 10/16, 15/16, 20/16 s, pieces of 1/2 s from 5/16: 37/16 s, 5/16 exposed; each unit's gradient ready
    as its piece ends, 13/16, 21/16, 29/16, 37/16 s. Reduce-scatter (b/2 = 31.25 MB / 100 MB/s = 5/16 s alone)
    on the stream behind the gathers (free at 1.25): RS 0 1.25-1.5625. Each 31.25 MB shard all-reduced by the 2
    nodes (ring of 2: 31.25 MB each way) on the node's one NIC, which both replica groups share (50 MB/s):
    0.625 s, on its own stream. The device is given by numbers (no host link), so a GPU's inter-node traffic
    leaves through its 100 MB/s NVSwitch port, which its reduce-scatter to the node's other GPU also takes:
    while an all-reduce (50 MB/s a flow, held by the NIC) is in flight, a reduce-scatter gets the port's other
    50 MB/s (max-min), and the all-reduce is not slowed. AR 0 1.5625-2.1875; RS 1 (ready at 1.3125, the stream
    free at 1.5625) beside it at 50 MB/s: 1.5625-2.1875; AR 1 and RS 2 2.1875-2.8125; AR 2 and RS 3
    2.8125-3.4375; AR 3 3.4375-4.0625. Past the backward: 4.0625 - 37/16 = 7/4 s. The next micro-batch waits
    for both streams, so each exposes 1/2 + 5/16 + 7/4 = 41/16 s. Traffic per micro-batch: gathers 8 x 5/16,
    reduce-scatters 5/16 + 3 x 0.625, all-reduces 4 x 0.625 = 115/16 s. The three engines alike: the chunk
    level on one network, the others by the links each collective loads (dpsim.streams).
    """
    scenario = toy(training__global_batch=4 * k, **HYBRID)
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    assert result.comm_s == exact(k * 115 / 16)
    assert result.exposed_comm_s == exact(k * 41 / 16)


def test_hybrid_timeline_overlaps_the_all_reduce_with_the_next_reduce_scatter() -> None:
    """The spans of the case above (k = 1) at chunk level, from the step's start (backward at 3/2 s)."""
    _, timeline = simulate_timeline(toy(training__global_batch=4, **HYBRID), fidelity="chunk")
    comm = {i.name: (i.start_s, i.end_s) for i in timeline.of(0) if i.category == "comm"}
    b = 3 / 2
    assert comm["bucket 0"] == (exact(b + 1.25), exact(b + 1.5625))
    for unit in range(1, 4):  # each unit's reduce-scatter runs beside the previous unit's all-reduce
        start = b + 1.5625 + 0.625 * (unit - 1)
        assert comm[f"bucket {unit}"] == (exact(start), exact(start + 0.625))
        assert comm[f"bucket {unit - 1} replica all-reduce"] == (exact(start), exact(start + 0.625))
    assert comm["bucket 3 replica all-reduce"] == (exact(b + 3.4375), exact(b + 4.0625))
    assert len([name for name in comm if name.startswith("bucket ")]) == 8  # a reduce-scatter a unit
    for interval in timeline.of(0):
        if interval.name.endswith("replica all-reduce"):
            assert interval.args["op"] == "allreduce"
            assert interval.args["bytes"] == exact(31.25e6)


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk", "shared"])
@pytest.mark.parametrize("k", [1, 2])
def test_hybrid_streams_share_one_nic_by_hand(engine: str, k: int) -> None:
    """The toy on 4 nodes x 1 GPU, one 100 MB/s NIC each, shard groups of 2 nodes ({0, 1}, {2, 3}), replica
    groups {0, 2}, {1, 3}: every collective is a ring of 2 across nodes, one flow a direction on the NIC.

    Gathers and compute as above (5/16 s a unit; backward from 3/2 s, the 4 units' 62.5 MB gradients ready at
    13/16, 21/16, 29/16, 37/16 s into it). Alone, a reduce-scatter sends b/2 (5/16 s) and the all-reduce of its
    b/2 shard sends b/2 too (5/16 s). While both are in flight the NIC gives each flow 50 MB/s: RS 0 1.25-1.5625
    alone (the stream free after the gathers at 1.25); AR 0 and RS 1 (ready at 1.3125) from 1.5625, both 31.25 MB
    at 50 MB/s: 2.1875; AR 1 and RS 2 2.1875-2.8125; AR 2 and RS 3 2.8125-3.4375; AR 3 alone 3.4375-3.75. The NIC
    carries 250 MB from 1.25 s without a pause: 3.75 s. Past the backward: 3.75 - 37/16 = 23/16 s; exposed per
    micro-batch 1/2 + 5/16 + 23/16 = 9/4 s. Traffic: gathers 2.5, reduce-scatters 5/16 + 3 x 0.625, all-reduces
    3 x 0.625 + 5/16 = 55/8 s. Every engine: the chunk level on one network (and so the shared fabric, one job),
    the others by the links each collective loads (dpsim.streams: one flow each on the NIC, half of it each)."""
    scenario = toy(training__global_batch=4 * k, cluster__workers_per_node=1, **{**HYBRID, "cluster__nodes": 4})
    if engine == "shared":
        (result,) = simulate_shared([scenario])
    else:
        result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    assert result.comm_s == exact(k * 55 / 8)
    assert result.exposed_comm_s == exact(k * 9 / 4)


def test_shared_rates_by_hand() -> None:
    """Two collectives on one link. Each needs all of it at its own pace, one flow each: half each. One needs
    half of it (its own bottleneck is elsewhere) and has half the flows: it keeps its half, the other gets the
    rest (the toy's NVSwitch port above). Three flows against one: 3/4 and 1/4. Apart: both at their pace."""
    whole, half = LinkUse(np.array([1.0]), np.array([1.0])), LinkUse(np.array([0.5]), np.array([1.0]))
    assert shared_rates(whole, whole) == (0.5, 0.5)
    assert shared_rates(whole, half) == (0.5, 1.0)
    assert shared_rates(LinkUse(np.array([1.0]), np.array([3.0])), whole) == (0.75, 0.25)
    apart = LinkUse(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    assert shared_rates(LinkUse(np.array([1.0, 0.0]), np.array([1.0, 0.0])), apart) == (1.0, 1.0)
    # work-conserving on the shared link: 1 s and 2 s of work from 0 s end at 2 s and 3 s
    assert two_stream_end([0.0], [Job(0.0, 1.0, whole)], [0.0]) == (1.0, 1.0)
    streams = TwoStreams()
    streams.second(Job(0.0, 2.0, whole))
    assert streams.first(0.0, Job(0.0, 1.0, whole)) == exact(2.0)
    assert streams.drain() == exact(3.0)


def test_streams_meet_phase_by_phase() -> None:
    """A collective whose first phase takes link 0 whole for 1 s and whose second takes link 1 whole for 9 s (a
    hierarchical all-reduce: the node's links, then the NIC), and a 1 s collective on link 0 posted as it starts:
    both need link 0 whole, so each runs at half speed until both have done their 1 s there, at 2 s; the
    second phase then runs alone, to 11 s. Averaged over the collective (link 0 busy 1/10 of 10 s) the other
    kept 0.9 of the link and ended at 1.11 s, the pair at 10 s: the analytic engine and the fast level were
    1.2 % short of the chunk level on HYBRID_SHARD with hierarchical replica all-reduces (agreement_fuzz seed 9)."""
    link0 = LinkUse(np.array([1.0, 0.0]), np.array([1.0, 0.0]))
    link1 = LinkUse(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    streams = TwoStreams()
    streams.first(0.0, Job.of(0.0))
    streams.second(Job(0.0, 1.0, link0, then=(Job(0.0, 9.0, link1),)))
    assert streams.first(0.0, Job(0.0, 1.0, link0)) == exact(2.0)
    assert streams.drain() == exact(11.0)
    assert streams.second_spans == [(0.0, exact(11.0))]


def _llama(**changes: Any) -> Scenario:
    """Llama 2 7B on 4 of the scenario's nodes (32 H100), FSDP FULL_SHARD, one micro-batch; ``a__b=v`` sets a.b."""
    base = {"cluster__nodes": 4, "training__zero_stage": 3, "training__optimizer_sharding": "fsdp"}
    base |= {"training__global_batch": 32} | changes
    return load_scenario(LLAMA, [(path.replace("__", "."), value) for path, value in base.items()])


@pytest.mark.parametrize(
    "changes",
    [
        {"training__fsdp_shard_group": 8},  # a node per shard group, replicas one rank per node on 8 NICs
        {"training__fsdp_shard_group": 4},  # half a node: replica groups of 2 ranks per node
        {"training__fsdp_shard_group": 16},  # 2 nodes: gathers cross NICs, replica groups of 2 nodes
        {"training__fsdp_shard_group": 8, "cluster__inter_node__nics_per_node": 1},  # 8 replica groups on one NIC
        {"training__fsdp_shard_group": 8, "training__zero_stage": 2, "training__global_batch": 64},
    ],
)  # fmt: skip
def test_engines_agree_on_symmetric_hybrid_runs(changes: dict[str, Any]) -> None:
    """Llama 2 7B on 4 nodes x 8 H100 (NCCL ring, bf16): the analytic step and the simulator's within 1 %."""
    scenario = _llama(**changes)
    analytic = predict(scenario)
    for fidelity in ("fast", "chunk"):
        simulated = simulate(scenario, fidelity=fidelity)
        assert simulated.step_time_s == pytest.approx(analytic.step_time_s, rel=0.01)
        assert simulated.comm_s == pytest.approx(analytic.comm_s, rel=0.01)


RESNET = Path(__file__).resolve().parents[1] / "scenarios" / "resnet50-32-v100-100gbe.yaml"


def test_a_tree_fill_takes_no_link_beside_the_next_reduce_scatter() -> None:
    """ResNet-50 on 4 nodes x 2 V100 with 2 NICs a node, HYBRID_SHARD in shard groups of 4 (two nodes each),
    replicas {0, 4}, {1, 5}, {2, 6}, {3, 7}: each of a node's two rails carries one replica group's NCCL Simple tree
    all-reduce (2 ranks, 2 nodes) and the shard group's ring reduce-scatter; no overlap with the backward, so the 4
    equal fp16 buckets (12,778,516 B) go after it: RS 0 alone, then each AR beside the next RS, then AR 3 alone.

    Alone, RS takes t_rs (its ring's three steps' latency, then 3/8 of the bucket on each NIC link at the link's
    C = 11.77 GB/s) and AR t_ar: its latency, the tree's fill (the first 512 KiB chunk crossing both network hops,
    up then down) and its steady term, the 1/4 shard (3,194,629 B) each way on the NIC at NCCL's Simple-tree
    busBw x .92. Beside each other the NIC carries both: the pair ends when it has carried the reduce-scatter's
    bytes and the all-reduce's steady bytes after the reduce-scatter's latency (the all-reduce's latency and fill,
    ~86 us, outlast the reduce-scatter's ~34 us, in which the reduce-scatter has the link alone):
    t_rs + S_ar / (.92 C). The fill carries no bytes of its own (the chunk level adds it to the transfers'
    latency); priced as link work at the tree's own pace the analytic engine and the fast level added it to
    every pair (736 -> 776 us), 1.7 % over the chunk level's step (agreement_fuzz seed 10).

    Since stop 42 each of the reduce-scatter's three ring steps is its bytes then its latency l (the chunk level's
    order): the all-reduce (2 flows on the NIC to the reduce-scatter's 1: 2/3 of it) carries its bytes through the
    first step's latency, ends them early in the second step, and the other two latencies fall after them:
    t_rs + S_ar / (.92 C) − l, 736.44 -> 725.04 us a pair (the step 0.308 % over the chunk level's -> 0.101 % under)."""
    from dpsim.analytic.collectives import collective
    from dpsim.analytic.step import calibrated_fabric, dp_fabric, hybrid_groups

    sets = {
        "cluster.nodes": 4, "cluster.workers_per_node": 2, "cluster.inter_node.nics_per_node": 2,
        "training.zero_stage": 3, "training.optimizer_sharding": "fsdp", "communication.overlap": False,
        "communication.bucket": "25MiB", "training.precision": "fp16", "training.micro_batch": 4,
        "training.global_batch": 32, "training.fsdp_shard_group": 4, "training.fsdp_no_sync": True,
        "communication.algorithm": "tree",
    }  # fmt: skip
    scenario = load_scenario(RESNET, list(sets.items()))
    analytic = predict(scenario)
    bucket = analytic.extra["bucket_bytes"]
    assert (analytic.extra["buckets"], bucket) == (4, 12_778_516)
    fabric = dp_fabric(scenario, calibrated_fabric(scenario))
    shards, replicas = hybrid_groups(scenario)
    rs = collective("reduce_scatter", "tree", bucket, fabric, groups=shards)
    ar = collective("allreduce", "tree", bucket / 4, fabric, groups=replicas)
    assert (rs.algorithm, ar.algorithm, ar.protocol) == ("ring", "tree", "Simple")
    nic = fabric.inter.bandwidth
    assert nic == pytest.approx(11.7685e9, rel=1e-5)
    step_latency = (rs.time_s - 3 * bucket / 8 / nic) / 3  # 11.4 us
    pair = rs.time_s + bucket / 4 / (0.92 * nic) - step_latency
    assert pair == pytest.approx(725.04e-6, rel=1e-5)
    assert analytic.extra["gradient_exposed_s"] == exact(rs.time_s + 3 * pair + ar.time_s)
    chunk = simulate(scenario, fidelity="chunk")
    assert chunk.step_time_s == pytest.approx(analytic.step_time_s, rel=0.01)
    assert simulate(scenario, fidelity="fast").step_time_s == exact(analytic.step_time_s)


def test_hybrid_shard_optimizer_updates_the_shard_groups_share() -> None:
    """HYBRID_SHARD keeps each shard group's flat shards and replicates them across groups, so each rank's optimizer
    updates 1/G of the parameters (FSDP1 ``_init_param_handle_from_module``: the FlatParameter sharded over the
    intra-node process group; FSDP2 ``fully_shard(mesh=(replicate, shard))``: DTensor shards on the shard dim),
    not 1/N: Llama 2 7B on 16 nodes of 8 in shard groups of 8 updates 6,738,415,616 / 8 parameters, 16 x the
    FULL_SHARD rank's 1/128. Priced at the step's bytes a parameter over the H100's achievable bandwidth."""
    from dpsim.analytic.step import optimizer_seconds, optimizer_step_bytes
    from dpsim.scenario import scenario_from_dict
    from dpsim.sharding import optimizer_partition

    base = load_scenario(LLAMA).model_dump(mode="json")
    training = {**base["training"], "zero_stage": 3, "optimizer_sharding": "fsdp", "fsdp_shard_group": 8}
    hybrid = scenario_from_dict({**base, "training": training})
    full = scenario_from_dict({**base, "training": {**training, "fsdp_shard_group": None}})
    assert optimizer_partition(hybrid) == 6_738_415_616 / 8
    assert optimizer_partition(full) == 6_738_415_616 / 128
    rate = 3.35e12 * 0.83 * 0.71
    seconds = optimizer_seconds(hybrid, optimizer_partition(hybrid))
    assert seconds == pytest.approx(6_738_415_616 / 8 * optimizer_step_bytes(hybrid) / rate, rel=1e-12)
    assert predict(hybrid).optimizer_s == pytest.approx(seconds, rel=1e-9)
    assert simulate(hybrid).optimizer_s == pytest.approx(seconds, rel=1e-9)


def test_an_analytic_hybrid_step_builds_its_cluster_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The analytic step prices HYBRID_SHARD's collectives on one fabric: the shard groups' reduce-scatter and
    all-gather, the replica groups' all-reduce, and the links the two streams load. Each built the same
    :class:`~dpsim.sim.cluster.Cluster` again (5 builds, O(ranks) each: a few seconds of 131,072 ranks, not
    counted by the cost guard); now one, and the step priced again on the kept cluster is the same bit for bit."""
    from dpsim.analytic import collectives as cf
    from dpsim.sim.cluster import Cluster

    builds: list[int] = []
    build = Cluster.from_fabric.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Cluster], fabric: Any, degraded: Any = None) -> Cluster:
        builds.append(fabric.world_size)
        return build(cls, fabric, degraded)  # type: ignore[no-any-return]

    monkeypatch.setattr(Cluster, "from_fabric", classmethod(counted))
    scenario = _llama(training__fsdp_shard_group=8)
    cf._priced.cache_clear()
    cf._CLUSTER.clear()
    first = predict(scenario)
    assert builds == [32]
    cf._priced.cache_clear()  # the schedules priced again on the kept cluster: pricing only reads it
    assert predict(scenario) == first
    assert builds == [32]


def test_the_analytic_step_and_the_cost_guard_read_one_hybrid_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """HYBRID_SHARD's collectives as the analytic engine prices them are one list, ``step.HYBRID_COLLECTIVES``: the
    step reads it (a replica all-gather named instead of the all-reduce moves the step's communication: a ring
    all-gather of the replica groups' 1/G shard sends half an all-reduce's bytes) and the cost guard charges it
    (:func:`budget.hybrid_pricing`'s default, one name: ``budget.ANALYTIC_HYBRID`` was an alias of it). The step
    wrote its own pair beside the guard's list."""
    import inspect

    from dpsim.analytic import step
    from dpsim.sim import budget

    assert inspect.signature(budget.hybrid_pricing).parameters["collectives"].default is step.HYBRID_COLLECTIVES
    assert step.HYBRID_COLLECTIVES == (("reduce_scatter", False), ("allreduce", True))
    scenario = _llama(training__fsdp_shard_group=8)
    listed = predict(scenario)
    monkeypatch.setattr(step, "HYBRID_COLLECTIVES", (("reduce_scatter", False), ("all_gather", True)))
    assert predict(scenario).comm_s < listed.comm_s
    monkeypatch.setattr(step, "HYBRID_COLLECTIVES", (("reduce_scatter", False), ("allreduce", True)))
    assert predict(scenario) == listed


def _count_routes(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], Callable[[], None]]:
    """Count every transfer the cluster routes (``Cluster.routes`` wrapped): the count, and a function that empties
    the analytic engine's caches of prices (with their link loads) and the cluster, and zeroes the count."""
    from test_collective_cli import _count_routes as counted  # pytest puts tests/ on the path

    from dpsim.analytic import collectives as cf

    routed = counted(monkeypatch)

    def cold() -> None:
        cf._priced.cache_clear()
        cf._CLUSTER.clear()
        routed[0] = 0

    return routed, cold


def test_hybrid_jobs_take_their_link_loads_from_the_routes_that_price_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """HYBRID_SHARD's jobs (the shard groups' reduce-scatter, the replica groups' all-reduce, with the links each
    phase loads: ``collective_job``, ``FastEngine.job``) route every candidate once, as pricing it alone does
    (``priced_candidates``, counted by wrapping ``Cluster.routes``): the link loads come from the routes that
    price it. A link-load pass of its own built, tiled and routed every candidate again (twice the transfers), in
    both engines."""
    from dpsim.analytic import collectives as cf
    from dpsim.analytic.step import algorithm_of, dp_fabric, hybrid_groups
    from dpsim.sim.cost import priced_candidates
    from dpsim.sim.fast import FastEngine

    routed, cold = _count_routes(monkeypatch)
    for algorithm in ("auto", "ring", "direct"):
        scenario = _llama(communication__algorithm=algorithm, training__fsdp_shard_group=8)
        fabric, name = dp_fabric(scenario), algorithm_of(scenario)
        shard, replica = hybrid_groups(scenario)
        assert shard is not None and replica is not None
        work = (("reduce_scatter", 1 << 26, shard), ("allreduce", 1 << 23, replica))
        cold()
        for op, _, groups in work:
            priced_candidates(op, name, fabric.layout(), fabric.protocol, cf.cluster_of(fabric), groups)
        alone = routed[0]
        assert alone > 0
        cold()
        analytic = [cf.collective_job(op, name, size, fabric, groups=groups) for op, size, groups in work]
        assert routed[0] == alone, (algorithm, routed[0], alone)
        cold()
        engine = FastEngine(cf.cluster_of(fabric), name, fabric.protocol)
        fast = [engine.job(op, size, groups) for op, size, groups in work]
        assert routed[0] == alone, (algorithm, routed[0], alone)
        assert [_flat(j) for j in fast] == [_flat(j) for j in analytic]


def _flat(job: Job) -> list[tuple[float, float, list[float], list[float]]]:
    """A job's phases as plain numbers (latency, work, each link's busy share and flows), to compare jobs."""
    return [
        (p.latency_s, p.work_s, *((p.use.busy.tolist(), p.use.flows.tolist()) if p.use else ([], [])))
        for p in job.phases
    ]


FLUID_AGAIN = ("direct", "halving-doubling")
"""All-reduces the guard charges twice (:func:`dpsim.sim.budget.priced_transfers`): halving-doubling where its ranks
may leave lock step and the fluid run routes the schedule again (these Llama layouts keep it), ``direct`` for what its
n(n-1) phase costs beyond its routes."""


def test_the_cost_guard_counts_what_a_hybrid_shard_step_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A HYBRID_SHARD step prices the gradients' reduce-scatter on the whole data-parallel group (the bucket's
    choice), then the shard groups' reduce-scatter (the gathers cost the same) and the replica groups' all-reduce,
    each tiled over its groups, every candidate of those two with the links its phases load, from the routes that
    price it (``collective_job``). The guard counted the reduce-scatter, all-gather and all-reduce on the whole
    group, about 2.2x the transfers routed here (2.05x on 32,768 ranks): now each group's collective on the group's
    layout times the groups. Every transfer the step routes from cold caches, counted by wrapping
    ``Cluster.routes``, is charged, and no more than twice that (``direct`` and halving-doubling are charged the
    pricing's second lock-step pass); the simulator, charged twice the pricing, routes no more than that.
    A sweep over HYBRID_SHARD and FULL_SHARD prices them apart."""
    from dpsim.sim import budget

    routed, cold = _count_routes(monkeypatch)
    for algorithm in ("ring", "auto", "tree", "halving-doubling", "direct", "hierarchical"):
        # FULL_SHARD all-reduces nothing: the scenario refuses an all-reduce algorithm there (a ring whatever named)
        full = _llama(communication__algorithm=algorithm if algorithm in SHARDED_ALGORITHMS else "ring")
        plain = budget.scenario_pricing(full)
        assert plain.op == "reduce_scatter"
        for shard in (4, 8, 16):
            hybrid = _llama(communication__algorithm=algorithm, training__fsdp_shard_group=shard)
            cold()
            predict(hybrid)
            priced = budget.scenario_pricing(hybrid)
            assert priced.op == (
                f"reduce_scatter + reduce_scatter in the shard groups of {shard} + allreduce in the replica groups, "
                "with their link loads"
            )
            assert 0 < routed[0] <= priced.transfers <= 2 * routed[0], (algorithm, shard, routed[0], priced.transfers)
            if algorithm not in FLUID_AGAIN:
                assert priced.transfers == routed[0], (algorithm, shard)
            assert priced.pricing_s == pytest.approx(priced.transfers * budget.PRICE_TRANSFER_S)
            if algorithm in ("auto", "ring", "direct") and shard == 8:
                cold()
                fast = {"simulation__fidelity": "fast"}
                simulate(_llama(communication__algorithm=algorithm, training__fsdp_shard_group=8, **fast))
                sim = budget.scenario_pricing(hybrid, "sim")
                assert 0 < routed[0] <= sim.seconds / budget.PRICE_TRANSFER_S, (algorithm, routed[0], sim.seconds)
            both = budget.check_total([("hybrid", hybrid), ("full", full)], "a sweep")
            assert both == pytest.approx(priced.seconds + plain.seconds)


ALL_REDUCING = {"training__zero_stage": 0, "training__optimizer_sharding": "zero"}  # DeepSpeed stage 0: DDP's


@pytest.mark.parametrize(
    ("changes", "op"),
    [
        ({}, "reduce_scatter"),  # FSDP FULL_SHARD
        ({"training__zero_stage": 2}, "reduce_scatter"),  # FSDP SHARD_GRAD_OP
        ({"training__optimizer_sharding": "zero"}, "reduce_scatter"),  # DeepSpeed ZeRO-3
        ({"training__optimizer_sharding": "zero", "training__zero_stage": 1}, "reduce_scatter"),  # post-step gather
        (ALL_REDUCING, "allreduce"),
        (ALL_REDUCING | {"cluster__nodes": 2}, "allreduce"),
        (ALL_REDUCING | {"cluster__nodes": 16, "training__global_batch": "auto"}, "allreduce"),
        (ALL_REDUCING | {"communication__nccl_version": "2.27.7"}, "allreduce"),  # its estimates priced apart
        (
            {
                "training__optimizer_sharding": "zero",
                "training__zero_stage": 1,
                "training__zero1_gradient_allreduce": True,
            },
            "allreduce + reduce_scatter",
        ),
    ],
    ids=[
        "full-shard",
        "shard-grad-op",
        "zero-3",
        "zero-1",
        "ddp",
        "ddp-2-nodes",
        "ddp-16-nodes",
        "ddp-nccl-2.27.7",
        "zero-1-allreduce",
    ],
)
def test_the_cost_guard_counts_what_a_step_routes(
    changes: dict[str, Any], op: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step not HYBRID_SHARD prices its collectives on its data-parallel group: ZeRO or FSDP the gradients'
    reduce-scatter, and the parameter gathers as the same reduce-scatter (an all-gather costs the same:
    ``gather_time``); DDP and DeepSpeed's all-reducing ZeRO-1 an all-reduce (ZeRO-1 its post-step gather too); the
    simulator's fast level prices them again (a gather as an all-gather). Every transfer a cold ``predict`` routes
    (``Cluster.routes`` counted) is charged, exactly (``direct`` and halving-doubling all-reduces: at most twice,
    :data:`FLUID_AGAIN`), and so is every transfer a cold fast-level ``simulate`` routes, against the simulator's
    charge. The guard charged ZeRO and FSDP an all-reduce, a reduce-scatter and an all-gather: 4x to 17.5x the
    transfers routed here (``auto`` 6.6x). NCCL's tree and NVLS-tree are one pipelined phase a channel, routed once
    for its price and its fill: ``pipeline_fill`` routed it again (charged 0.5x-0.73x what ``auto`` and the tree
    routed), ``lock_step`` routed a textbook schedule's phases again, and NVLS-tree was charged 4 transfers a GPU
    across nodes where it routes 4 a head (``auto`` 1.008x). An older NCCL release's estimates are schedules priced
    apart (``collectives.estimates``), charged too (0.5x before)."""
    from dpsim.sim import budget

    routed, cold = _count_routes(monkeypatch)
    for algorithm in ("ring", "auto", "tree", "halving-doubling", "direct", "hierarchical"):
        if op == "reduce_scatter" and algorithm not in SHARDED_ALGORITHMS:
            continue  # all-reduces nothing: the scenario refuses an all-reduce algorithm (a ring whatever named)
        if "communication__nccl_version" in changes and algorithm in TEXTBOOK:
            continue  # no NCCL collective: the scenario refuses the release
        scenario = _llama(communication__algorithm=algorithm, **changes)
        cold()
        predict(scenario)
        priced = budget.scenario_pricing(scenario)
        assert priced.op == op
        most = 2 if op.startswith("allreduce") and algorithm in FLUID_AGAIN else 1
        assert 0 < routed[0] <= priced.transfers <= most * routed[0], (algorithm, routed[0], priced.transfers)
        if algorithm in ("auto", "ring", "tree", "direct"):
            cold()
            simulate(_llama(communication__algorithm=algorithm, simulation__fidelity="fast", **changes))
            charged = round(budget.scenario_pricing(scenario, "sim").seconds / budget.PRICE_TRANSFER_S)
            assert 0 < routed[0] <= charged <= most * routed[0], (algorithm, routed[0], charged)


@pytest.mark.parametrize("shard", [8, 16])
@pytest.mark.parametrize("protocol", ["auto", "Simple"])
@pytest.mark.parametrize("algorithm", ["auto", "ring", "tree"])
def test_the_cost_guard_charges_what_a_fast_hybrid_shard_step_routes(
    algorithm: str, shard: int, protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fast-level HYBRID_SHARD step prices the analytic step, then each collective its step program posts in its
    groups (``budget.hybrid_collectives``): the shard groups' reduce-scatter and all-gather and the replica groups'
    all-reduce, every candidate priced and the links every candidate loads (``CollectiveEngine.job``). Every transfer
    a cold fast-level ``simulate`` routes (``Cluster.routes`` counted) is charged, exactly. The guard charged the
    analytic engine's list again plus a reduce-scatter on the whole group, not the all-gather, and the fast level
    routed the links of the chosen candidates only: shard groups of 16, ``auto``: 6,144 charged for 5,632 routed;
    ``Simple``: 2,048 for 2,240; groups of 8, ``Simple``: 1,280 for 992."""
    from dpsim.sim import budget

    routed, cold = _count_routes(monkeypatch)
    changes = {
        "communication__algorithm": algorithm,
        "communication__protocol": protocol,
        "training__fsdp_shard_group": shard,
    }
    assert budget.hybrid_collectives(_llama(**changes)) == (
        ("reduce_scatter", False),
        ("all_gather", False),
        ("allreduce", True),
    )
    cold()
    simulate(_llama(simulation__fidelity="fast", **changes))
    charged = budget.scenario_pricing(_llama(**changes), "sim").seconds / budget.PRICE_TRANSFER_S
    assert routed[0] > 0
    assert round(charged) == routed[0], (algorithm, shard, protocol, routed[0], charged)


def test_hybrid_shard_under_torchs_pipelining_prices_the_replica_all_reduces_on_both_engines() -> None:
    """HYBRID_SHARD (shard groups of 2) under torch's pipelining (``pipeline_runtime: torch``, each stage's buckets
    reduced after its last backward: ``stage_end_reduction``), PP 2 on 4 nodes of 2 GPUs: the analytic engine's
    per-chunk branch priced the shard groups' reduce-scatters alone and dropped the replica groups' all-reduces, which
    the simulator runs on their own stream; the analytic step was 16.6 % short (``agreement_fuzz.py --widest --only
    pipeline_p2p --seed 2``: +42.95 % with a straggler and degraded NICs). Both now price the two streams."""
    from pathlib import Path

    from dpsim.scenario import load_scenario

    path = Path(__file__).resolve().parents[1] / "scenarios" / "default.yaml"
    sets = [
        "cluster.nodes=4", "cluster.workers_per_node=2", "training.zero_stage=2", "training.optimizer_sharding=fsdp",
        "training.pipeline_parallel=2", "training.micro_batch=2", "training.global_batch=24",
        "training.fsdp_no_sync=true", "training.fsdp_shard_group=2", "training.pipeline_runtime=torch",
        "communication.overlap=true", "communication.bucket=50MB",
    ]  # fmt: skip
    scenario = load_scenario(path, sets)
    analytic = predict(scenario).step_time_s
    assert simulate(scenario, fidelity="fast").step_time_s == pytest.approx(analytic, rel=1e-9)
    assert simulate(scenario, fidelity="chunk").step_time_s == pytest.approx(analytic, rel=1e-6)


CPU = Path(__file__).resolve().parents[1] / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml"


def test_a_collectives_latency_follows_its_bytes_beside_the_other_stream() -> None:
    """Two collectives on one link, A (first stream) with 100 s of latency and B (second) with 20 s, each 400 s of
    work needing the link whole. The chunk level sends a transfer's bytes from its start and delivers it its latency
    after its last byte (``FluidNetwork.start_many``): both share the link from 0 s, their bytes done at 800 s, A
    ends at 900 s, B at 820 s. With the latency first (until stop 41) B ran alone through A's latency and A ended at
    820 s, its latency hidden behind B's bytes.

    The same on a step (HYBRID_SHARD on one CPU node of 8, shard groups of 2, ``tree`` replicas of 4, protocol
    none, 20 µs hops; ``agreement_fuzz --wide``'s +1.63 % case reduced): a bucket's reduce-scatter and the previous
    bucket's replica all-reduce meet on the chain's middle GPUs' ports, which carry one reduce-scatter flow and two
    all-reduce flows each way. Started together: the chunk level ends the reduce-scatter at 1,279.5 µs and the
    all-reduce at 1,379.5 µs (the port's 1,259.5 µs of bytes, then each one's latency: 20 and 6 x 20 µs); so do
    the streams now (were 1,079.5 and 1,279.5 µs). The analytic step 9.1321 -> 9.2521 ms, the chunk level's
    (+1.314 % -> 0.000 %; +0.337 % at 5 µs hops)."""
    import simpy

    from dpsim.analytic.collectives import collective_job
    from dpsim.analytic.step import dp_fabric, hybrid_groups
    from dpsim.sim.chunk import ChunkEngine, CollectiveRun, CompiledSchedule
    from dpsim.sim.network import FluidNetwork
    from dpsim.sim.simulate import build_cluster

    whole = LinkUse(np.array([1.0]), np.array([1.0]))
    streams = TwoStreams()
    streams.second(Job(20.0, 400.0, whole))
    assert streams.first(0.0, Job(100.0, 400.0, whole)) == exact(900.0)
    assert streams.drain() == exact(900.0)
    assert streams.second_spans == [(0.0, exact(820.0))]

    sets = {
        "cluster.nodes": 1, "cluster.workers_per_node": 8, "training.zero_stage": 3,
        "training.optimizer_sharding": "fsdp", "training.fsdp_shard_group": 2, "training.global_batch": 128,
        "communication.algorithm": "tree", "communication.protocol": "none", "cluster.intra_node.latency": "20 us",
    }  # fmt: skip
    scenario = load_scenario(CPU, list(sets.items()))
    shards, replicas = hybrid_groups(scenario)
    size = 4_198_400.0
    fabric = dp_fabric(scenario)
    rs = collective_job("reduce_scatter", "tree", size, fabric, groups=shards)
    ar = collective_job("allreduce", "tree", size / 2, fabric, groups=replicas)
    streams = TwoStreams()
    streams.second(ar)
    rs_end = streams.first(0.0, rs)
    streams.drain()
    cluster = build_cluster(scenario, None)
    engine = ChunkEngine(cluster, "tree", protocol="none")
    env = simpy.Environment()
    net = FluidNetwork(env, cluster.links.bandwidths)
    ends: dict[int, float] = {}

    def done(k: int) -> Callable[[np.ndarray], None]:
        return lambda _ranks: ends.update({k: env.now})

    for k, (op, nbytes, groups) in enumerate((("reduce_scatter", size, shards), ("allreduce", size / 2, replicas))):
        schedule = engine.choice(op, nbytes, groups)[0]
        run = CollectiveRun(CompiledSchedule(schedule, cluster), net, nbytes, done(k))
        run.join(np.arange(schedule.ranks))
    env.run()
    assert (ends[0], ends[1]) == (pytest.approx(1279.5e-6, rel=1e-4), pytest.approx(1379.5e-6, rel=1e-4))
    assert rs_end == pytest.approx(ends[0], rel=1e-9)
    assert streams.second_spans[0][1] == pytest.approx(ends[1], rel=1e-9)
    analytic = predict(scenario)
    assert analytic.step_time_s == pytest.approx(9.2521e-3, rel=1e-4)
    for fidelity in ("fast", "chunk"):
        assert simulate(scenario, fidelity=fidelity).step_time_s == pytest.approx(analytic.step_time_s, rel=1e-9)


def test_a_ring_phases_step_latencies_sit_between_its_steps_beside_the_other_stream() -> None:
    """B (second stream) is a ring phase of 2 steps, each 100 s of bytes needing the link whole, then 50 s of latency;
    A (first) 150 s of bytes on the same link, both from 0 s. The chunk level delivers each step its latency after
    its bytes and starts the next then: B's first step shares the link to 200 s (A at 100), A has it alone through
    B's latency and ends at 250 s, B's second step runs alone to 400 s. With both latencies in one block after the
    phase's bytes (until stop 42) A ended at 300 s, B at 450 s.

    On a step: HYBRID_SHARD on one CPU node of 8, shard groups of 2, ring replicas, protocol none: the chunk level
    was 0.059 / 0.124 / 0.025 % shorter than the analytic engine (= fast level) at 20 / 5 / 1 µs hops; now equal."""
    whole = LinkUse(np.array([1.0]), np.array([1.0]))
    streams = TwoStreams()
    streams.second(Job(50.0, 100.0, whole, steps=2))
    assert streams.first(0.0, Job(0.0, 150.0, whole)) == exact(250.0)
    assert streams.drain() == exact(400.0)
    assert streams.second_spans == [(0.0, exact(400.0))]

    for hop in ("20 us", "5 us", "1 us"):
        sets = {
            "cluster.nodes": 1, "cluster.workers_per_node": 8, "training.zero_stage": 3,
            "training.optimizer_sharding": "fsdp", "training.fsdp_shard_group": 2, "training.global_batch": 128,
            "communication.algorithm": "ring", "communication.protocol": "none", "cluster.intra_node.latency": hop,
        }  # fmt: skip
        scenario = load_scenario(CPU, list(sets.items()))
        analytic = predict(scenario).step_time_s
        assert simulate(scenario, fidelity="chunk").step_time_s == pytest.approx(analytic, rel=1e-9)
        assert simulate(scenario, fidelity="fast").step_time_s == pytest.approx(analytic, rel=1e-12)
