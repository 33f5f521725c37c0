"""The network plugin's reported latency in NCCL's tuner (``latencyInter``; src/graph/tuning.cc v2.18.3-v2.30.7).

``ncclTopoTuneModel``: ``interLat = hwLat[NET][a][p] + latencyInter``, plus ``latencyInter`` once more for
Simple ("flush extra latency"), on each inter-node step of the estimate: 2(M-1) for a ring all-reduce, M-1
for a ring reduce-scatter or all-gather, 2·log2i(M) for the tree and NVLS-tree all-reduce.
``ncclTopoGetAlgoTime`` then multiplies the whole latency by the ring plateau (1.4). aws-ofi-nccl reports
75 µs on p4d and p5 (aws/aws-ofi-nccl src/platform-aws.cpp); NCCL's IB transport reports 0. The values below
are worked by hand from those formulas; the schedule's own price does not change, only what NCCL picks (but an LL128
ring's wave across nodes, which crosses the network on the plugin's latency: ``tests/test_ring_graph_price.py``).
"""

from __future__ import annotations

import dataclasses

import pytest

from dpsim import catalog
from dpsim.analytic import collectives as cf
from dpsim.analytic.step import fabric_of
from dpsim.cli_collective import collective_rows, machine_scenario
from dpsim.sim import collectives
from dpsim.sim.chunk import ChunkEngine
from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import NCCL_NET_LL_HOP_S, Layout, Phase, TunerCorrection
from dpsim.sim.collectives.nccl import HW_LATENCY_US, net_latency_s, ring_tuner, tree_tuner
from dpsim.sim.cost import phase_cost
from dpsim.sim.fast import FastEngine

MiB = 1 << 20
US = 1e-6
P5_NIC = {"preset": "efa-v2", "bandwidth": "400 Gbit/s", "nics_per_node": 8}


def _layout(nodes: int, latency_s: float = 75 * US) -> Layout:
    return Layout(nodes, 8, nics=8, nvls=True, arch="hopper", nic_gbps=50.0, nccl_net_latency_s=latency_s)


@pytest.mark.parametrize(
    ("protocol", "steps", "nodes", "expected_us"),
    [
        ("LL", 2, 2, 150.0),  # 2-node tree or ring all-reduce: 2 inter-node steps x 75
        ("LL128", 2, 2, 150.0),
        ("Simple", 2, 2, 300.0),  # Simple: latencyInter twice per step
        ("LL", 6, 4, 450.0),  # 4-node ring all-reduce: 2(M-1) = 6 steps
        ("Simple", 3, 4, 450.0),  # 4-node ring reduce-scatter: M-1 = 3 steps, x2 for Simple
        ("LL", 2, 1, 0.0),  # one node: no network
        ("none", 2, 2, 0.0),  # the textbook algorithms have no NCCL estimate
    ],
)
def test_plugin_latency_per_inter_node_step(protocol: str, steps: int, nodes: int, expected_us: float) -> None:
    assert net_latency_s(protocol, steps, _layout(nodes)) == pytest.approx(expected_us * US)
    assert net_latency_s(protocol, steps, _layout(nodes, 0.0)) == 0.0  # InfiniBand: "Not set"


def test_each_algorithm_counts_its_inter_node_steps() -> None:
    four = _layout(4)
    assert ring_tuner("allreduce", "LL", four).net_latency_s == pytest.approx(6 * 75 * US)  # 2(M-1)
    assert ring_tuner("reduce_scatter", "LL128", four).net_latency_s == pytest.approx(3 * 75 * US)  # M-1
    assert tree_tuner("LL", four).net_latency_s == pytest.approx(4 * 75 * US)  # 2 log2i(4)
    assert tree_tuner("Simple", _layout(5)).net_latency_s == pytest.approx(4 * 150 * US)  # 2 log2i(5) = 4, x2
    assert tree_tuner("LL") == TunerCorrection(bandwidth=tree_tuner("LL", _layout(1)).bandwidth)
    (nvls_tree,) = collectives.candidates("allreduce", "nvls-tree", four, "Simple")
    assert nvls_tree.tuner.net_latency_s == pytest.approx(4 * 150 * US)


def test_estimate_adds_the_plugin_latency_before_the_ring_plateau() -> None:
    t = TunerCorrection(plateau_from=1000.0, plateau=1.4, net_latency_s=300 * US)
    assert t.time(50 * US, 0.0, 100.0) == pytest.approx(350 * US)  # below the plateau
    assert t.time(50 * US, 0.0, 2000.0) == pytest.approx(1.4 * 350 * US)  # NCCL: lat *= 1.4 on the whole latency


def test_only_the_pick_moves_not_the_schedules_price() -> None:
    """Every candidate's estimate grows by exactly its hand-worked plugin term; its price stays the same but the
    LL128 ring's, whose wave crosses the network on the plugin's latency (stop 47, :func:`dpsim.sim.cost.ring_wave`;
    at 4 KiB the wave is the longer either way): 2 nodes of 8, an all-reduce's T = 30 steps, f = 2/15 network hops a
    step, each 75 µs instead of the route's 22.75."""
    with_plugin, without = _layout(2), _layout(2, 0.0)
    cluster = Cluster.from_fabric(fabric_of(machine_scenario("p5", 2, 8, "h100-sxm", "nvlink4", P5_NIC)))
    extra = {("ring", "LL"): 150, ("ring", "LL128"): 150, ("ring", "Simple"): 300, ("tree", "LL"): 150,
             ("tree", "LL128"): 150, ("tree", "Simple"): 300, ("nvls-tree", "Simple"): 300}  # fmt: skip
    pairs = zip(
        collectives.candidates("allreduce", "auto", with_plugin, "auto"),
        collectives.candidates("allreduce", "auto", without, "auto"),
        strict=True,
    )
    size = 4096.0  # below the ring plateau (64 B x 16 channels x 16 ranks = 16 KiB)
    for a, b in pairs:
        ca, cb = phase_cost(a, cluster), phase_cost(b, cluster)
        wave = 30 * 2 / 15 * (75 - 22.75) * US if (a.name, a.protocol) == ("ring", "LL128") else 0.0
        assert ca(size) - cb(size) == pytest.approx(wave, rel=1e-9, abs=1e-15)
        assert ca.tuned(size) - cb.tuned(size) == pytest.approx(extra[(a.name, a.protocol)] * US, rel=1e-9)


def test_p5_mid_sizes_leave_nvls_tree_for_tree_ll128() -> None:
    """On two p5 nodes (8 x 400G EFA per node) NCCL's estimate of NVLS-tree/Simple carries 2 x 2 x 75 = 300 µs
    of the plugin's latency, tree/LL128's 2 x 75 = 150: at 16 MiB NCCL takes tree/LL128 (without the plugin's
    latency, NVLS-tree); both engines pick and price alike."""
    scenario = machine_scenario("p5", 2, 8, "h100-sxm", "nvlink4", P5_NIC)
    fabric = fabric_of(scenario)
    assert fabric.nccl_net_latency_s == pytest.approx(75 * US)
    ib_like = dataclasses.replace(fabric, nccl_net_latency_s=0.0)
    size = 16.0 * MiB
    assert (cf.collective("allreduce", "auto", size, ib_like).algorithm) == "nvls-tree"
    choice = cf.collective("allreduce", "auto", size, fabric)
    assert (choice.algorithm, choice.protocol) == ("tree", "LL128")
    cluster = Cluster.from_fabric(fabric)
    for engine in (FastEngine(cluster, "auto", "auto"), ChunkEngine(cluster, "auto", protocol="auto")):
        schedule, _ = engine.choice("allreduce", size)
        assert (schedule.name, schedule.protocol) == ("tree", "LL128")
    # large sizes keep NVLS-tree: 300 µs of estimate is nothing next to 1 GiB's transfer
    assert cf.collective("allreduce", "auto", float(1 << 30), fabric).algorithm == "nvls-tree"


def test_catalog_carries_the_plugins_latency() -> None:
    assert catalog.LINKS["efa"].nccl_net_latency_s == pytest.approx(75 * US)
    assert catalog.LINKS["efa-v2"].nccl_net_latency_s == pytest.approx(75 * US)
    assert all(spec.nccl_net_latency_s == 0.0 for name, spec in catalog.LINKS.items() if not name.startswith("efa"))
    with pytest.raises(ValueError, match="needs its source"):
        catalog.LinkSpec("x", 1e9, 1e-6, "s", nccl_net_latency_s=1e-6)
    with pytest.raises(ValueError, match="nccl_net_latency_s must be >= 0"):
        catalog.LinkSpec("x", 1e9, 1e-6, "s", nccl_net_latency_s=-1.0, nccl_net_latency_source="s")


def test_network_hop_is_nccls_figure_plus_what_the_network_exceeds_infiniband() -> None:
    """A network hop costs NCCL's per-step figure (``hwLat[NET]``, an InfiniBand hop with the protocol's work) plus
    what the network's own latency exceeds InfiniBand's LL hop (``hwLat[NET][TREE][LL]`` = 5 µs), never less than
    the network's latency. Hand-worked for efa-v2's 22.75 µs (17.75 above InfiniBand) and ib's 5 µs."""
    assert HW_LATENCY_US["net"]["tree"][0] * US == pytest.approx(NCCL_NET_LL_HOP_S)
    routes = [1 * US, 22.75 * US]  # an NVLink hop and an EFA hop in the same phase: the network is the larger

    def hop(net_step_us: float, network_us: float = 22.75) -> float:
        phase = Phase.of([0, 1], [1, 0], 0.5, latency_s=100 * US, net_hops=2, net_step_s=net_step_us * US)
        extra = float(phase.timed_latency([1 * US, network_us * US]).max()) - 100 * US
        return (net_step_us * US + extra / 2) / US

    assert hop(5.0) == pytest.approx(22.75)  # tree LL: the hop read from the p3dn run, unchanged
    assert hop(8.5) == pytest.approx(8.5 + 17.75)  # tree LL128: 26.25 (was max(8.5, 22.75))
    assert hop(14.0) == pytest.approx(14.0 + 17.75)  # tree / ring Simple: 31.75 (was 22.75)
    assert hop(2.7) == pytest.approx(22.75)  # ring LL: never below the network's own latency
    assert hop(14.0, 5.0) == pytest.approx(14.0)  # InfiniBand: NCCL's figure, as before
    assert hop(2.7, 5.0) == pytest.approx(5.0)
    assert hop(14.0, 10.0) == pytest.approx(19.0)  # 400gbe's 10 us: 5 above InfiniBand
    unset = Phase.of([0, 1], [1, 0], 0.5, hops=3.0)  # textbook algorithms: route latency x hops, untouched
    assert unset.timed_latency(routes).tolist() == pytest.approx([3 * 22.75 * US] * 2)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_p5_tree_ll128_hop_adds_the_protocols_work_to_efa_and_the_estimate_keeps_nccls(engine: str) -> None:
    """8 B as tree/LL128 on two p5 nodes: baseLat 14 + 2·7·1.25 (NVLink chain) + 2 network hops of 8.5 + 17.75 µs
    = 84.0 µs (+ 8 B at the links' rates); NCCL's estimate keeps its own 8.5 µs hop and adds aws-ofi-nccl's 75 µs
    (14 + 17.5 + 2·(8.5 + 75) = 198.5 µs), so the pick is as it was."""
    only = {"nccl_algo": ["tree"], "nccl_proto": ["LL128"]}
    scenario = machine_scenario("p5", 2, 8, "h100-sxm", "nvlink4", P5_NIC, communication=only)
    (row,) = collective_rows(scenario, "allreduce", [8.0], engine=engine)
    assert (row["algorithm"], row["protocol"]) == ("tree", "LL128")
    assert row["time_s"] == pytest.approx(84.0e-6, rel=2e-3)
    fabric = fabric_of(scenario)
    (tree,) = collectives.candidates("allreduce", "tree", Layout.of(fabric), "LL128")
    cost = phase_cost(tree, Cluster.from_fabric(fabric))
    assert cost.tuned(8.0) == pytest.approx(198.5e-6, rel=1e-3)


def test_roce_is_rdma_not_tcp() -> None:
    """RoCE runs through NCCL's IB verbs transport (net_ib, latency 0), so the catalog's ``roce-400g`` carries
    InfiniBand's 5 µs hop and ib-ndr's rate; ``400gbe`` keeps TCP's 10 µs."""
    roce, ndr, tcp = catalog.LINKS["roce-400g"], catalog.LINKS["ib-ndr"], catalog.LINKS["400gbe"]
    assert roce.bandwidth == 50e9  # 400 Gbit/s
    assert roce.latency_s == pytest.approx(5 * US)
    assert (roce.efficiency, roce.nccl_net_latency_s) == (ndr.efficiency, 0.0)
    assert tcp.latency_s == pytest.approx(10 * US)
    assert "RDMA-Tutorial#8" in roce.source and "net_ib" in roce.source


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_roce_tree_hop_is_nccls_simple_figure(engine: str) -> None:
    """2 MiB as tree/Simple on 2 x 1 H100 with 4 NICs (nccl-tests#232's machine): the two network hops (up and
    down the one-edge tree) cost NCCL's Simple figure, 14 µs each, on RoCE; on 400gbe 14 + (10 - 5) = 19 µs each.
    Everything else is the same, so the times differ by 2 x 5 µs exactly."""
    tree = {"nccl_algo": ["tree"], "nccl_proto": ["Simple"]}

    def time_on(preset: str) -> float:
        nic = {"preset": preset, "nics_per_node": 4}
        scenario = machine_scenario(preset, 2, 1, "h100-sxm", "nvlink4", nic, communication=tree)  # auto: tree
        (row,) = collective_rows(scenario, "allreduce", [2.0 * MiB], engine=engine)
        assert (row["algorithm"], row["protocol"]) == ("tree", "Simple")
        return float(row["time_s"])

    assert time_on("400gbe") - time_on("roce-400g") == pytest.approx(2 * (19.0 - 14.0) * US, rel=1e-6)
