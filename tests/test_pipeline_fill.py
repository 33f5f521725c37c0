"""A chunked pipeline's fill (issue 9): NCCL's tree forwards whole steps hop by hop.

Independent truths: NCCL's ``calcCollChunking`` (``src/enqueue.cc``) worked by hand for the chunk
sizes, and the store-and-forward pipeline worked by hand on a small two-node fabric — the first
chunk crosses the pipeline's depth before the last leaves, so a channel whose data is one chunk
takes the sum of its hops, not the bottleneck alone. The published A3 Mega curve is checked in
``tests/test_nccl_curves.py``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dpsim.analytic import collectives as cf
from dpsim.cli import main
from dpsim.sim import collectives
from dpsim.sim.chunk import ChunkEngine
from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import Chunking, Layout
from dpsim.sim.collectives.nccl import tree_chunking
from dpsim.sim.cost import phase_cost
from dpsim.sim.fast import FastEngine

KiB, MiB = 1024, 1 << 20
A3 = Layout(2, 8, nics=8, nvls=True, arch="hopper", nic_gbps=25.0)  # 8 x 200G: 8 rail channels of 24 GB/s, not copied


def test_the_tree_chunk_is_one_step_of_nccls_buffer() -> None:
    """``chunkSize = buffSize / NCCL_STEPS`` (chunkSteps 1); LL half of it, LL128 120/128; 2 x 8 channels."""
    simple = tree_chunking(A3, "Simple")
    # 2 x (8 - 1) chain hops, 2 x 1 network hops; a channel per 512 threads x 64 B (topoGetAlgoInfo)
    assert simple == Chunking(4 * MiB / 8, 16, 14, 2, channel_bytes=32 * KiB)
    assert tree_chunking(dataclasses.replace(A3, nccl_buffsize=8 * MiB), "Simple").chunk_bytes == 1 * MiB
    ll = tree_chunking(A3, "LL")
    assert ll is not None and (ll.chunk_bytes, ll.intra_hops, ll.net_hops) == (32 * KiB, 0, 2)  # 524288 / 8 / 2
    assert tree_chunking(Layout(1, 8, arch="hopper"), "Simple") is None  # one node: NCCL's channels not laid out
    assert tree_chunking(A3, "none") is None


def test_ll128_shrinks_its_chunk_like_calc_coll_chunking() -> None:
    """nstepsLL128 = 1 + log2i(2) + 0.1 x 8 = 2.8: halve while nBytes/(16 chunk) < 22.4 above 128 KiB, then
    while < 5.6 above 32 KiB."""
    ll128 = tree_chunking(A3, "LL128")
    assert ll128 is not None and ll128.chunk_bytes == 576000  # 614400 / 16 x 15
    assert ll128.step_at(1 * MiB) == 18000  # 576000 -> 288000 -> 144000 -> 72000, then -> 36000 -> 18000
    assert ll128.step_at(1 << 30) == 576000  # 1 GiB // (16 x 576000) = 116 >= 22.4
    assert ll128.step_at(128 * MiB) == 288000  # 134217728 // 9216000 = 14 < 22.4 once; // 4608000 = 29


def test_small_messages_run_on_fewer_channels_like_topo_get_algo_info() -> None:
    """``while (nBytes < nc * nt * threadThreshold) nc--``: tree Simple nt = 512, threshold 64 B -> 32 KiB a
    channel; LL 512 x 8 = 4 KiB; LL128 640 x 8 = 5 KiB. A channel's chunk is S / nc, not S / 16."""
    simple = tree_chunking(A3, "Simple")
    assert simple is not None
    sizes = (8, 32 * KiB, 64 * KiB, 96 * KiB, 512 * KiB, 1 * MiB)
    assert [simple.channels_at(s) for s in sizes] == [1, 1, 2, 3, 16, 16]
    assert simple.chunk_at(8) == 8 and simple.chunk_at(32 * KiB) == 32 * KiB  # was 2 KiB: S / 16
    assert simple.chunk_at(256 * KiB) == 32 * KiB and simple.chunk_at(1 * MiB) == 64 * KiB  # 1 MiB / 16, as before
    ll, ll128 = tree_chunking(A3, "LL"), tree_chunking(A3, "LL128")
    assert ll is not None and ll128 is not None
    assert (ll.channel_bytes, ll128.channel_bytes) == (4 * KiB, 5 * KiB)
    assert ll.channels_at(16 * KiB) == 4 and ll128.channels_at(16 * KiB) == 3


# two nodes of two GPUs, two NICs, no per-channel cap: every number below by hand
NVLINK, NIC = cf.Link(1e-6, 100e9), cf.Link(5e-6, 10e9)
WIRE = 1 / 0.92  # tree Simple's bandwidth share (tuning.cc busBw x .92) as wire bytes


def _small(buffsize: float = 0.0) -> tuple[Cluster, collectives.Schedule]:
    fabric = cf.Fabric(2, 2, NVLINK, NIC, nics_per_node=2, protocol="Simple", nccl_buffsize=buffsize)
    cluster = Cluster.from_fabric(fabric)
    return cluster, collectives.build("allreduce", "tree", cluster.layout(), "Simple")


def test_one_chunk_per_channel_crosses_every_hop_in_turn() -> None:
    """2 rail channels x 2 trees = 4 lanes; path = 2 chain hops + 2 network hops, each alone.

    Chain edge (both trees, wire/2 of S per rail): 4 lanes x c x wire/2 at 100 GB/s; tree edge (wire/4): 4 x c
    x wire/4 at 10 GB/s. At 1 MiB a channel holds 256 KiB, one chunk: the time past the latency is the path,
    2 x (2 c wire / 100e9) + 2 x (c wire / 10e9) = c wire x 2.4e-10, not the NICs' S x wire/2 / 10e9.
    """
    cluster, tree = _small()
    cost = phase_cost(tree, cluster)
    c = 256 * KiB
    assert cost.seconds_per_byte == pytest.approx(WIRE / 2 / 10e9)  # the NIC carries two tree edges a direction
    assert cost(1 * MiB) - cost.latency_s == pytest.approx(c * WIRE * 2.4e-10)  # 68.4 us, not 57.0
    assert cost.fill is not None and cost.fill(1 * MiB) == pytest.approx(c * WIRE * 2.4e-10 - MiB * WIRE * 5e-11)


def test_a_trimmed_channel_forwards_its_whole_share() -> None:
    """64 KiB on 4 lanes: NCCL runs 2 channels of 32 KiB (not 4 of 16 KiB); one chunk each crosses the path:
    time past the latency = 32 KiB x wire x 2.4e-10 (8.5 us; 4.3 us on 4 channels)."""
    cluster, tree = _small()
    cost = phase_cost(tree, cluster)
    assert cost(64 * KiB) - cost.latency_s == pytest.approx(32 * KiB * WIRE * 2.4e-10)
    assert cost(8 * KiB) - cost.latency_s == pytest.approx(8 * KiB * WIRE * 2.4e-10)  # one channel: all of it


def test_many_chunks_pay_the_fill_once() -> None:
    """64 MiB: 32 chunks of 512 KiB a channel; the fill is the path of one chunk less one bottleneck pass."""
    cluster, tree = _small()
    cost = phase_cost(tree, cluster)
    fill = 512 * KiB * WIRE * 2.4e-10 - 64 * MiB * WIRE * 5e-11 / 32
    assert cost(64 * MiB) - cost.latency_s - 64 * MiB * cost.seconds_per_byte == pytest.approx(fill)
    big = phase_cost(_small(8 * MiB)[1], cluster)  # NCCL_BUFFSIZE=8 MiB: chunks of 1 MiB, 16 of them
    path, steady = WIRE * 2.4e-10, 64 * MiB * WIRE * 5e-11
    assert big(64 * MiB) - cost(64 * MiB) == pytest.approx(
        (1 * MiB * path - steady / 16) - (512 * KiB * path - steady / 32)
    )


def test_the_tuner_still_picks_by_nccls_estimate() -> None:
    """The fill is part of the time, not of ``ncclTopoGetAlgoTime``'s estimate."""
    cluster, tree = _small()
    cost = phase_cost(tree, cluster)
    # Simple's treeCorrectionFactor at log2(1 MiB / 64) = 14 is .5; no fill in it
    assert cost.tuned(1 * MiB) == pytest.approx(cost.latency_s + MiB * cost.seconds_per_byte / 0.5)


@pytest.mark.parametrize("size", [16 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 256 * MiB])
def test_the_engines_agree_on_the_filled_tree(size: int) -> None:
    fabric = cf.Fabric(2, 8, cf.Link(1e-6, 370e9), cf.Link(10e-6, 25e9), nics_per_node=8, protocol="Simple",
                       arch="hopper", nic_gbps=25.0, nccl_buffsize=8 * MiB)  # fmt: skip
    analytic = cf.collective("allreduce", "tree", size, fabric).time_s
    cluster = Cluster.from_fabric(fabric)
    joins = np.zeros(16)
    fast = float(FastEngine(cluster, "tree", "Simple").evaluate("allreduce", size, joins).max())
    chunk = float(ChunkEngine(cluster, "tree", protocol="Simple").evaluate("allreduce", size, joins).max())
    assert fast == pytest.approx(analytic, rel=1e-9)
    assert chunk == pytest.approx(analytic, rel=0.01)


def test_nccl_buffsize_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["collective", "--size", "1MiB", "--set", "communication.nccl_buffsize=-4MiB"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "nccl_buffsize" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("version", ["2.30.7", "2.22.3", "2.21.5", "2.18.3"])
def test_an_nccl_buffsize_whose_step_is_below_the_simple_grain_is_refused(version: str) -> None:
    """NCCL reads ``NCCL_BUFFSIZE`` unchecked (``src/init.cc`` ``computeBuffSizes``); a tree's Simple chunk is one
    step, ``buffSize / NCCL_STEPS`` (8) in integer bytes, which ``calcCollChunking`` aligns down to the 512 B grain
    from v2.22.3: by hand, 4095 // 8 = 511 -> 0 (``DIVUP(nBytes, loopSize)`` divides by it), 4096 // 8 = 512 -> 512.
    dpsim accepted 1 B and priced it faster than the default 4 MiB (no fill). Refused below 4 KiB on every release
    (before v2.22.3 the steps of a few bytes are handshakes dpsim does not price), and at 2 GiB (``int
    buffSizes[]``); 4 KiB and 2 GiB - 1 B are read."""
    from dpsim.errors import ScenarioError
    from dpsim.scenario import load_scenario
    from dpsim.sim.collectives.nccl import NCCL_STEPS, SIMPLE_GRAIN

    assert 4095 // NCCL_STEPS // SIMPLE_GRAIN * SIMPLE_GRAIN == 0 and 4096 // NCCL_STEPS // SIMPLE_GRAIN == 1
    base = [f"communication.nccl_version={version}"]
    for value in ("1B", "8B", "511B", "1KiB", "4095B", "2GiB", "2147483648B", "1PiB"):
        with pytest.raises(ScenarioError) as caught:
            load_scenario(None, [*base, f"communication.nccl_buffsize={value}"])
        assert caught.value.field == "communication.nccl_buffsize", value
    for value in ("4KiB", "2147483647B"):
        assert load_scenario(None, [*base, f"communication.nccl_buffsize={value}"]).communication.nccl_buffsize


def test_the_first_chunk_crosses_the_double_tree_step_by_step() -> None:
    """``ncclGetDtree`` by hand, and ``runTreeSplit``'s order: a node sends its first chunk up once reduced with its
    children's (at its height), the root turns it round, a parent forwards it to all children at once (depth d:
    step H + d). 2 nodes: 0 <- 1 and its mirror 1 <- 0; 3 nodes: 0 <- 2 <- 1 and its shift 1 <- 0 <- 2; 4 nodes:
    0 <- 2 <- {1, 3} and its mirror 3 <- 1 <- {2, 0}."""
    from dpsim.sim.collectives.nccl import dtree_stages

    def edges(m: int) -> list[tuple[list[int], list[int]]]:
        return [(up.tolist(), down.tolist()) for up, down in dtree_stages(m)]

    assert edges(2) == [([-1, 0], [-1, 1]), ([0, -1], [1, -1])]
    assert edges(3) == [([-1, 0, 1], [-1, 3, 2]), ([1, -1, 0], [2, -1, 3])]
    assert edges(4) == [([-1, 0, 1, 0], [-1, 3, 2, 3]), ([0, 1, 0, -1], [3, 2, 3, -1])]


def _fabric(nodes: int, **kw: object) -> tuple[Cluster, collectives.Schedule]:
    fabric = cf.Fabric(nodes, 2, NVLINK, NIC, nics_per_node=2, protocol="Simple", **kw)  # type: ignore[arg-type]
    cluster = Cluster.from_fabric(fabric)
    return cluster, collectives.build("allreduce", "tree", cluster.layout(), "Simple")


def _engines_agree(cluster: Cluster, size: int) -> None:
    joins = np.zeros(cluster.world_size)
    fast = float(FastEngine(cluster, "tree", "Simple").evaluate("allreduce", size, joins).max())
    chunk = float(ChunkEngine(cluster, "tree", protocol="Simple").evaluate("allreduce", size, joins).max())
    assert chunk == pytest.approx(fast, rel=0.01)


def test_three_nodes_no_nic_carries_two_first_chunks_at_once() -> None:
    """3 nodes x 2 GPUs, 2 rails: the two chains' middles differ (node 2 in tree 0, node 0 in tree 1), so each step's
    tree edges leave and enter distinct NICs: steps 0-3 are 1->2 | 2->0, 2->0 | 0->1, 0->2 | 1->0, 2->1 | 0->2 (tree
    0 | tree 1), one per NIC direction. Per chunk byte: 2 chain hops at 4 lanes x wire/2 / 100 GB/s and 4 network
    steps at 4 x wire/4 / 10 GB/s: wire x 4.4e-10. At 1 MiB a channel holds one chunk of 256 KiB, and the NICs'
    steady time (node 2 sends tree 0's up and down and tree 1's up: 3 x wire/4 a rail at 10 GB/s) is shorter."""
    cluster, tree = _fabric(3)
    cost = phase_cost(tree, cluster)
    assert cost.seconds_per_byte == pytest.approx(3 * WIRE / 4 / 10e9)
    assert cost(1 * MiB) - cost.latency_s == pytest.approx(256 * KiB * WIRE * 4.4e-10)
    _engines_agree(cluster, 1 * MiB)


def test_four_nodes_a_fork_shares_its_nic_in_the_fill() -> None:
    """4 nodes x 2 GPUs, 2 rails: ``ncclGetDtree(4)`` is 0 <- 2 <- {1, 3} and 3 <- 1 <- {2, 0}. Step 0: 1->2 and
    3->2 enter node 2's NIC together, 0->1 and 2->1 node 1's (2 x wire/4 a rail: twice a lone edge); step 1: 2->0,
    1->3 alone; step 2: 0->2, 3->1 alone; step 3: node 2 sends to 1 and 3 at once, node 1 to 0 and 2 (twice again).
    The network path is 2 + 1 + 1 + 2 = 6 lone edges (old: 2 x ceil(log2 4) = 4 hops each alone): per chunk byte
    2 x 2 wire / 100 GB/s + 6 x wire / 10 GB/s = wire x 6.4e-10; at 1 MiB (one chunk of 256 KiB a channel) that is
    the time past the latency, above the NICs' steady time (node 1 or 2 sends 4 edges: wire/10 GB/s)."""
    cluster, tree = _fabric(4)
    cost = phase_cost(tree, cluster)
    assert cost.seconds_per_byte == pytest.approx(WIRE / 10e9)
    assert cost(1 * MiB) - cost.latency_s == pytest.approx(256 * KiB * WIRE * 6.4e-10)
    _engines_agree(cluster, 1 * MiB)


def test_two_nodes_rails_share_an_oversubscribed_leaf_uplink_in_the_fill() -> None:
    """2 nodes x 2 GPUs on two leaves, 2:1: each leaf's uplink is 2 x 10 / 2 = 10 GB/s. Step 0: both rails' tree-0
    edges 1->0 cross leaf 1's uplink together (2 x wire/4 a message byte: per chunk byte 4 x wire/2 / 10 GB/s, twice
    a lone edge), tree 1's 0->1 leaf 0's; step 1 the broadcast the other way, the same. Path: 2 x 2 wire / 100 GB/s
    + 2 x 2 wire / 10 GB/s = wire x 4.4e-10 (alone, the old fill: 2.4e-10, under the uplinks' steady time wire /
    10 GB/s: each uplink carries one tree's reduce and the other's broadcast on both rails)."""
    cluster, tree = _fabric(2, topology="fat-tree", nodes_per_leaf=1, oversubscription=2.0)
    cost = phase_cost(tree, cluster)
    assert cost.seconds_per_byte == pytest.approx(WIRE / 10e9)
    assert cost(1 * MiB) - cost.latency_s == pytest.approx(256 * KiB * WIRE * 4.4e-10)
    _engines_agree(cluster, 1 * MiB)


def test_groups_that_share_a_nic_share_it_in_the_fill() -> None:
    """HYBRID_SHARD's replica groups {0, 2} and {1, 3} on 2 nodes x 2 GPUs with one NIC each: every group runs a
    2-node tree (1 rail channel x 2 trees = 2 lanes, each tree edge S x wire/2) and ``Groups.tile`` keeps each
    transfer's step, so at step 0 both groups' tree-0 edges 1 -> 0 leave node 1's NIC together (tree 1's 0 -> 1
    node 0's), at step 1 the broadcast the other way: per chunk byte 2 steps x 2 lanes x 2 x wire/2 / 10 GB/s =
    4 wire / 10 GB/s, twice the lone edge's 2 wire / 10 GB/s."""
    from dpsim.sim.collectives.groups import Groups
    from dpsim.sim.cost import pipeline_fill

    cluster = Cluster.from_fabric(cf.Fabric(2, 2, NVLINK, NIC, nics_per_node=1, protocol="Simple"))
    replica = Groups.hybrid(4, 2)[1]
    tiled = replica.tile(collectives.build("allreduce", "tree", replica.layout(cluster.layout()), "Simple"))
    fill = pipeline_fill(tiled, cluster)
    assert tiled.chunking is not None and tiled.chunking.lanes == 2
    assert fill is not None and fill.path_s_per_byte == pytest.approx(4 * WIRE / 10e9)
    joins = np.zeros(4)
    fast = float(FastEngine(cluster, "tree", "Simple").evaluate("allreduce", 1 * MiB, joins, replica).max())
    chunk = float(ChunkEngine(cluster, "tree", protocol="Simple").evaluate("allreduce", 1 * MiB, joins, replica).max())
    assert chunk == pytest.approx(fast, rel=0.01)


# --- NVLS-tree (calcCollChunking's NVLS_TREE branch, runNvlsTree) -------------------------------


def _nvls_layout(nodes: int, version: str, arch: str = "hopper") -> Layout:
    return Layout(nodes, 8, nics=8, nvls=True, arch=arch, nic_gbps=50.0, nccl_version=version)


def test_nvls_tree_cuts_its_data_as_each_release_does() -> None:
    """``nvls.cc`` / ``enqueue.cc`` by release, worked by hand (``NCCL_NVLS_*`` unset, 8 GPUs and 8 heads a node).

    Hopper: 16 channels (``NVLS_NCHANNELS_SM90``) x 8 heads = 128 lanes. v2.21.5 on start from ``nvlsChunkSize``
    128 KiB, capped at 64 KiB from 4 nodes (v2.19.3 on); then ``if (nBytes < k · 128 · chunk && chunk > floor) chunk =
    floor`` for (k, floor) = (32, 256K), (16, 128K), (4, 64K), (1, 32K). 248 nodes, 512 MiB: 64 KiB (512 MiB >= 8 MiB).
    2 nodes, 16 MiB: 128 KiB -> 64 KiB (16 MiB < 64 MiB), kept (>= 8 MiB); 1 MiB: -> 32 KiB. v2.19.3 starts from a
    Simple step, 4 MiB / 8 = 512 KiB: 2 nodes at 8 GiB keep it (8 GiB >= 32 · 128 · 512 KiB = 2 GiB), at 1 GiB
    -> 256 KiB (1 GiB >= 16 · 128 · 256 KiB = 512 MiB: kept); 4 nodes: 64 KiB on v2.19.3, 512 KiB on v2.19.1 (no
    cap yet). Blackwell: 16 channels before v2.25.1 (no SM100 define), 32 from it (``NVLS_NCHANNELS_SM100``).
    """
    from dpsim.sim.collectives.nccl import nvls_tree_chunking, nvls_tree_params

    deep = nvls_tree_chunking(_nvls_layout(248, "2.30.7"), 8, 248)
    assert deep is not None and (deep.lanes, deep.intra_hops, deep.intra_together) == (128, 2, True)
    assert deep.step_at(512 * MiB) == 64 * KiB and deep.chunks_at(512 * MiB) == 64
    two = nvls_tree_chunking(_nvls_layout(2, "2.26.2"), 8, 2)
    assert two is not None and two.step_at(16 * MiB) == 64 * KiB and two.step_at(1 * MiB) == 32 * KiB
    assert two.step_at(64 * MiB) == 128 * KiB
    old = nvls_tree_chunking(_nvls_layout(2, "2.19.3"), 8, 2)
    assert old is not None and old.step_at(8 << 30) == 512 * KiB and old.step_at(1 << 30) == 256 * KiB
    assert nvls_tree_params(_nvls_layout(4, "2.19.3")) == (16, 512 * KiB, 64 * KiB)
    assert nvls_tree_params(_nvls_layout(4, "2.19.1")) == (16, 512 * KiB, 512 * KiB)
    buffered = dataclasses.replace(_nvls_layout(2, "2.19.3"), nccl_buffsize=8 * MiB)
    assert nvls_tree_params(buffered) == (16, 1 * MiB, 1 * MiB)  # NCCL_BUFFSIZE's step
    b = nvls_tree_chunking(buffered, 8, 2)
    assert b is not None and b.step_at(1 << 30) == 256 * KiB  # set to 256 KiB at once (1 GiB < 4 GiB), not halved
    assert nvls_tree_params(_nvls_layout(2, "2.24.3", "blackwell"))[0] == 16
    assert nvls_tree_params(_nvls_layout(2, "2.26.2", "blackwell")) == (32, 128 * KiB, 128 * KiB)
    assert nvls_tree_chunking(Layout(2, 8, nics=8, nvls=True), 8, 2) is None  # no GPU generation: no NVLS table


def test_nvls_chunk_variables_are_read_as_each_release_reads_them() -> None:
    """``NCCL_NVLS_CHUNKSIZE`` / ``NCCL_NVLSTREE_MAX_CHUNKSIZE`` = 512 KiB (aws-ofi-nccl's p5 environment) by release,
    worked by hand from each tag's source, 8 H100 a node, ``NCCL_BUFFSIZE`` 8 MiB (a 1 MiB Simple step).

    v2.19.3: neither exists (no ``NCCL_PARAM`` of either name): the step, 1 MiB, capped at 64 KiB from 4 nodes.
    v2.20.3 (``enqueue.cc``: ``NvlsTreeChunkSize``, "NVLSTREE_MAX_CHUNKSIZE", -2): the cap is the variable's, the chunk
    still the step: 512 KiB on 4 nodes. v2.21.5 and v2.27.7 (``nvls.cc``: ``NvlsChunkSize``, "NVLS_CHUNKSIZE"): the
    chunk is the variable's; without the cap variable 4 nodes keep NCCL's 64 KiB rule, 2 nodes the chunk. v2.30.7
    Blackwell, 4 nodes of 8 with a 100 GB/s NIC: ``ncclNvlsTreeSm100Tuning`` gives 24 channels, 256 / 256 KiB; a set
    ``NCCL_NVLS_CHUNKSIZE`` replaces its chunk and a set cap its cap (``ncclNvlsTuning``: "User overrides take
    priority over tuning"). The cut at 1 GiB on 4 Hopper nodes with both set: 512 KiB, set to 256 KiB (1 GiB <
    32 · 128 · 512 KiB = 2 GiB), kept (1 GiB >= 16 · 128 · 256 KiB = 512 MiB)."""
    from dpsim.sim.collectives.nccl import nvls_tree_chunking, nvls_tree_params

    def params(nodes: int, version: str, chunk: float = 512 * KiB, cap: float = 512 * KiB) -> tuple[int, float, float]:
        layout = dataclasses.replace(
            _nvls_layout(nodes, version), nccl_buffsize=8 * MiB, nccl_nvls_chunksize=chunk,
            nccl_nvlstree_max_chunksize=cap,
        )  # fmt: skip
        return nvls_tree_params(layout)

    assert params(4, "2.19.3") == (16, 1 * MiB, 64 * KiB)
    assert params(4, "2.20.3") == (16, 1 * MiB, 512 * KiB)
    assert params(4, "2.20.5", cap=0.0) == (16, 1 * MiB, 64 * KiB)
    assert params(4, "2.21.5") == (16, 512 * KiB, 512 * KiB)
    assert params(4, "2.27.7", cap=0.0) == (16, 512 * KiB, 64 * KiB)
    assert params(2, "2.27.7", cap=0.0) == (16, 512 * KiB, 512 * KiB)
    assert params(2, "2.27.7", chunk=0.0) == (16, 128 * KiB, 512 * KiB)
    both = dataclasses.replace(_nvls_layout(4, "2.27.7"), nccl_nvls_chunksize=512 * KiB)
    cut = nvls_tree_chunking(dataclasses.replace(both, nccl_nvlstree_max_chunksize=512 * KiB), 8, 4)
    assert cut is not None and cut.step_at(1 << 30) == 256 * KiB and cut.step_at(8 << 30) == 512 * KiB

    def b200(**env: float) -> tuple[int, float, float]:
        layout = Layout(4, 8, nics=8, nvls=True, arch="blackwell", nic_gbps=100.0, nccl_version="2.30.7", **env)
        return nvls_tree_params(layout)

    assert b200() == (24, 256 * KiB, 256 * KiB)
    assert b200(nccl_nvls_chunksize=512 * KiB) == (24, 512 * KiB, 256 * KiB)
    assert b200(nccl_nvlstree_max_chunksize=64 * KiB) == (24, 256 * KiB, 64 * KiB)


def test_nvls_tree_chunk_is_aligned_to_the_simple_grain_from_2_22_3() -> None:
    """``calcCollChunking`` aligns the chunk down to ``ncclProtoGrainSize(NCCL_PROTO_SIMPLE)`` = 512 B after the size
    rule from v2.22.3 (``chunkSize = chunkSize / grainSize * grainSize``); v2.21.5 has no such line. Worked by hand, 2
    Hopper nodes, 128 lanes, ``NCCL_NVLS_CHUNKSIZE`` = 100,000 B: 8 GiB >= 32 · 128 · 100,000 B, so no rule fires and
    the chunk is 195 · 512 = 99,840 B on v2.27.7, 100,000 B on v2.21.5; at 16 MiB (< 4 · 128 · 100,000 B) the rule
    sets it to 64 KiB, a multiple of the grain, on both. ``NCCL_NVLSTREE_MAX_CHUNKSIZE`` = 70,000 B on 4 nodes: 136 ·
    512 = 69,632 B. Chunks per lane at 8 GiB: ceil(8 GiB / (128 · 99,840)) = 673 (672.1...)."""
    from dpsim.sim.collectives.nccl import nvls_tree_chunking

    def cut(nodes: int, version: str, **env: float) -> Chunking:
        chunking = nvls_tree_chunking(dataclasses.replace(_nvls_layout(nodes, version), **env), 8, nodes)
        assert chunking is not None
        return chunking

    new, old = cut(2, "2.27.7", nccl_nvls_chunksize=100_000), cut(2, "2.21.5", nccl_nvls_chunksize=100_000)
    assert (new.step_at(8 << 30), old.step_at(8 << 30)) == (99_840, 100_000)
    assert new.step_at(16 * MiB) == old.step_at(16 * MiB) == 64 * KiB
    assert new.chunks_at(8 << 30) == 673
    assert cut(4, "2.27.7", nccl_nvlstree_max_chunksize=70_000).step_at(8 << 30) == 69_632
    assert cut(2, "2.27.7").step_at(8 << 30) == 128 * KiB  # NCCL's own 128 KiB is on the grain


HOPPER = ["cluster.device=h100-sxm", "cluster.intra_node=nvlink4"]
"""The default scenario's 8 nodes as H100s on NVSwitch (NVLS runs)."""


@pytest.mark.parametrize(
    ("sets", "field", "says"),
    [
        (["communication.nccl_version=2.20.5", "communication.nccl_nvls_chunksize=512KiB"],
         "communication.nccl_nvls_chunksize", "from v2.21.5"),
        (["communication.nccl_version=2.19.3", "communication.nccl_nvlstree_max_chunksize=512KiB"],
         "communication.nccl_nvlstree_max_chunksize", "from v2.20.3"),
        (["communication.nccl_nvls_chunksize=512KiB"], "communication.nccl_nvls_chunksize", "NVSwitch"),  # A100
        (["communication.nccl_nvls_chunksize=1000.5B", *HOPPER], "communication.nccl_nvls_chunksize", "whole number"),
        (["communication.nccl_nvlstree_max_chunksize=2GiB", *HOPPER], "communication.nccl_nvlstree_max_chunksize",
         "below 2 GiB"),
        (["communication.nccl_nvlstree_max_chunksize=0", *HOPPER], "communication.nccl_nvlstree_max_chunksize", ""),
        (["communication.nccl_nvls_chunksize=512KiB", "communication.protocol=none", *HOPPER],
         "communication.nccl_nvls_chunksize", "alpha-beta"),
        (["communication.nccl_nvls_chunksize=512KiB", "communication.algorithm=hierarchical", *HOPPER],
         "communication.nccl_nvls_chunksize", "alpha-beta"),
        (["communication.nccl_nvlstree_max_chunksize=512KiB", "cluster.device=cpu"],
         "communication.nccl_nvlstree_max_chunksize", "gloo"),
        # below the Simple grain (512 B) v2.22.3 on align the chunk to 0 and divide by it
        (["communication.nccl_nvls_chunksize=511B", *HOPPER], "communication.nccl_nvls_chunksize", "Simple grain"),
        (["communication.nccl_nvlstree_max_chunksize=1B", "communication.nccl_version=2.22.3", *HOPPER],
         "communication.nccl_nvlstree_max_chunksize", "Simple grain"),
    ],
)  # fmt: skip
def test_nvls_chunk_variables_nccl_does_not_read_are_refused(
    capsys: pytest.CaptureFixture[str], sets: list[str], field: str, says: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["collective", "--size", "64MiB", *[a for s in sets for a in ("--set", s)]])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and f"{field}: " in err and says in err, err


def test_nvls_tree_on_blackwell_from_2_30_3_takes_ncclNvlsTreeSm100Tuning() -> None:
    """``ncclNvlsTreeSm100Tuning`` (``nvls.cc`` v2.30.3-v2.30.7) by hand: (nvlsChannels, chunkSize, treeMaxChunkSize).

    2 nodes, NIC >= 48 GB/s: 32 channels, cap 128 KiB; 4 GPUs a node or fewer 256 / 256 KiB; 16 or more, or <= 8 with
    the NIC within PXB under 96 GB/s: cap 64 KiB. More nodes, NIC >= 96 GB/s: <= 8 GPUs 24 channels, 256 / 256 KiB,
    else 32 channels, cap 128 KiB (64 KiB from 32 GPUs a node); NIC 48-96 GB/s: 24 channels, cap 128 KiB, 64 KiB
    within PXB. Slower NICs keep 32 channels, 128 KiB and the 4-node rule. A GB200 tray's NIC behind its Grace
    (``P2C``) is not within PXB.
    """
    from dpsim.sim.collectives.nccl import nvls_tree_params

    def params(nodes: int, nic: float, per_node: int = 8, c2c: bool = False) -> tuple[int, float, float]:
        layout = Layout(nodes, per_node, nics=per_node, nvls=True, arch="blackwell", nic_gbps=nic, nic_c2c=c2c)
        return nvls_tree_params(layout)

    assert params(2, 50.0) == (32, 128 * KiB, 64 * KiB)
    assert params(2, 50.0, c2c=True) == (32, 128 * KiB, 128 * KiB)
    assert params(2, 100.0) == (32, 128 * KiB, 128 * KiB)
    assert params(2, 50.0, per_node=4) == (32, 256 * KiB, 256 * KiB)
    assert params(2, 100.0, per_node=72) == (32, 128 * KiB, 64 * KiB)
    assert params(4, 50.0) == (24, 128 * KiB, 64 * KiB)
    assert params(4, 50.0, c2c=True) == (24, 128 * KiB, 128 * KiB)
    assert params(4, 100.0) == (24, 256 * KiB, 256 * KiB)
    assert params(4, 100.0, per_node=16) == (32, 128 * KiB, 128 * KiB)
    assert params(4, 100.0, per_node=72) == (32, 128 * KiB, 64 * KiB)
    assert params(4, 25.0) == (32, 128 * KiB, 64 * KiB)
    assert params(3, 25.0) == (32, 128 * KiB, 128 * KiB)
    hopper = Layout(4, 8, nics=8, nvls=True, arch="hopper", nic_gbps=50.0)
    assert nvls_tree_params(hopper) == (16, 128 * KiB, 64 * KiB)  # the tuning is Blackwell's only


def test_one_node_nvls_cuts_its_data_as_each_release_does() -> None:
    """``calcCollChunking``'s NVLS branch worked by hand (``src/enqueue.cc`` v2.18.3–v2.30.7, one node of 8, a head a
    GPU). The chunk is one Simple step (4 MiB / 8 = 512 KiB) capped at 128 KiB (``maxChunkSize = 131072`` to v2.20.5,
    ``comm->nvlsChunkSize`` from v2.21.5), then set to 64 KiB below 64 · 128 · 128 KiB = 1 GiB, 32 KiB below 8 · 128 ·
    64 KiB = 64 MiB and 16 KiB below 2 · 128 · 32 KiB = 8 MiB, over 16 channels x 8 heads = 128 lanes (Hopper). The
    pipeline is ``runNvls``'s scatter, in-switch reduce and gather: 3 stages, no network hop, every lane at once.
    Blackwell (``nvls.cc``): 16 channels before v2.25.1, 32 from it, 24 on one NVLink domain from v2.27.3. A100: no
    NVLS, no cut. ``NCCL_NVLS_CHUNKSIZE`` is read from v2.21.5 and still capped by the step: 512 KiB with NCCL's
    4 MiB buffer, 1 MiB with 8 MiB; a 512 KiB buffer's 64 KiB step caps NCCL's 128 KiB. From v2.22.3 the chunk is
    aligned down to the Simple grain, 512 B (``chunkSize / grainSize * grainSize``)."""
    from dpsim.sim.collectives.nccl import nvls_chunking

    def one(version: str, arch: str = "hopper", **fields: float) -> Chunking | None:
        layout = Layout(1, 8, nics=8, nvls=True, arch=arch, nic_gbps=50.0, nccl_version=version)
        return nvls_chunking(dataclasses.replace(layout, **fields), 8)

    cut = one("2.27.7")
    shrink = ((64.0, 64.0 * KiB), (8.0, 32.0 * KiB), (2.0, 16.0 * KiB))
    assert cut == Chunking(128 * KiB, 128, 3, 0, shrink, shrink_to=True, intra_together=True, grain=512.0)
    assert cut is not None
    sizes = (8 << 30, 1 << 30, (1 << 30) - 1, 64 * MiB, 64 * MiB - 1, 16 * MiB, 8 * MiB, 8 * MiB - 1, 1 * MiB)
    steps = [cut.step_at(s) / KiB for s in sizes]
    assert steps == [128, 128, 64, 64, 32, 32, 32, 16, 16]
    assert cut.chunks_at(16 * MiB) == 4 and cut.chunks_at(8 << 30) == 512  # 4 MiB and 16 MiB loops
    # the hard-coded 131072 to v2.20.5, nvlsChunkSize's 128 KiB from v2.21.5; aligned to 512 B from v2.22.3
    assert one("2.18.3") == one("2.20.5") == one("2.21.5") == dataclasses.replace(cut, grain=0.0)
    assert one("2.20.5", nccl_nvls_chunksize=512 * KiB) == one("2.20.5")  # no NCCL_NVLS_CHUNKSIZE before v2.21.5
    big = one("2.21.5", nccl_nvls_chunksize=512 * KiB)
    assert big is not None and big.chunk_bytes == 512 * KiB and big.step_at(8 << 30) == 512 * KiB
    assert big.step_at(1 << 30) == 64 * KiB  # 1 GiB < 64 · 128 · 512 KiB = 4 GiB
    huge = one("2.27.7", nccl_nvls_chunksize=4 * MiB, nccl_buffsize=8 * MiB)
    assert huge is not None and huge.chunk_bytes == 1 * MiB  # the 8 MiB buffer's step
    small = one("2.27.7", nccl_buffsize=512 * KiB)
    assert small is not None and small.chunk_bytes == 64 * KiB
    odd = one("2.27.7", nccl_nvls_chunksize=100_000.0)
    assert odd is not None and odd.step_at(8 << 30) == 99_840  # 195 grains of 512 B
    lanes = {v: getattr(one(v, "blackwell"), "lanes", 0) for v in ("2.24.3", "2.25.1", "2.26.2", "2.27.3", "2.30.7")}
    assert lanes == {"2.24.3": 128, "2.25.1": 256, "2.26.2": 256, "2.27.3": 192, "2.30.7": 192}
    assert one("2.27.7", "ampere") is None
