"""PCIe nodes' host topology: NCCL's rings through PCIe switches, CPU sockets and the link between them.

The truths are worked by hand from NCCL's topology (``src/graph/paths.cc``: P2P only within a PCIe
switch by default, other pairs through the CPU; ``topo.cc``: the inter-socket link at ``SKL_QPI_BW``
= 10 GB/s on Intel Skylake) and the α–β ring, ``2(N−1)α + 2(N−1)/N · S / B`` with B the most loaded
link's share; the three engines must agree.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_nccl import _three_engines  # pytest puts tests/ on the path

from dpsim.analytic import collectives as cf
from dpsim.errors import ScenarioError
from dpsim.scenario import scenario_from_dict
from dpsim.sim.cluster import Cluster

PCIE4 = cf.Link(2e-6, 24e9)
NIC = cf.Link(5e-6, 24e9)
SIZE = 256e6
SKL = 10e9  # NCCL's SKL_QPI_BW, GB/s each way


def _node(host: cf.HostTopology | None, protocol: str = "none", nodes: int = 1) -> cf.Fabric:
    return cf.Fabric(nodes, 8, PCIE4, NIC, intra_hw="pci", protocol=protocol, host_topology=host)


def _engines(fabric: cf.Fabric, algorithm: str = "ring") -> tuple[float, float, float]:
    return _three_engines("allreduce", algorithm, fabric, SIZE)


def _ring(bandwidth: float) -> float:
    return cf.ring_allreduce_time(SIZE, 8, cf.Link(PCIE4.latency_s, bandwidth))


@pytest.mark.parametrize(
    ("host", "bandwidth"),
    [
        # two Skylake sockets, two GPUs a switch: the ring crosses the 10 GB/s link once each way
        (cf.HostTopology(2, 2, SKL, True), SKL),
        (cf.HostTopology(2, 1, SKL, True), SKL),
        # AMD's 16 GB/s between sockets, four GPUs a switch
        (cf.HostTopology(2, 4, 16e9, True), 16e9),
        # one socket, four GPUs a switch with P2P: one ring edge leaves each switch, at the GPU's rate
        (cf.HostTopology(1, 4, 0.0, True), 24e9),
        # without P2P (GeForce) every edge of a switch's GPUs goes up its uplink: 4 on 24 GB/s
        (cf.HostTopology(1, 4, 0.0, False), 6e9),
        (cf.HostTopology(1, 2, 0.0, False), 12e9),
        # no switch to share (root ports) on one socket: every pair at the GPU's rate, as without a host topology
        (cf.HostTopology(1, 1, 0.0, False), 24e9),
        # two sockets without P2P, two a switch: each uplink carries two edges (12 GB/s), above the 10 GB/s link
        (cf.HostTopology(2, 2, SKL, False), SKL),
        (cf.HostTopology(2, 4, 16e9, False), 6e9),
    ],
)
def test_ring_takes_the_most_loaded_host_link(host: cf.HostTopology, bandwidth: float) -> None:
    """Ring all-reduce over 8 GPUs = the α–β ring at the busiest host link's share, on all three engines."""
    expected = _ring(bandwidth)
    for got in _engines(_node(host)):
        assert got == pytest.approx(expected, rel=1e-9)


def test_no_host_topology_and_root_ports_on_one_socket_are_the_same_links() -> None:
    """A default scenario's links do not move: one socket of root ports adds no link to a route."""
    plain = Cluster.from_fabric(_node(None))
    ports = Cluster.from_fabric(_node(cf.HostTopology(1, 1, 0.0, True)))
    src, dst = np.repeat(np.arange(8), 8), np.tile(np.arange(8), 8)
    keep = src != dst
    assert len(plain.links) == len(ports.links)
    assert np.array_equal(plain.routes(src[keep], dst[keep])[0], ports.routes(src[keep], dst[keep])[0])


def test_routes_cross_the_socket_link_and_uplinks() -> None:
    """GPU 1 → 2 (switches 0 → 1, socket 0) and 3 → 4 (socket 0 → 1): the links NCCL's paths take."""
    cluster = Cluster.from_fabric(_node(cf.HostTopology(2, 2, SKL, True)))
    links, _ = cluster.routes(np.array([0, 1, 3]), np.array([1, 2, 4]))
    names = [[cluster.links.names[i] for i in row if i >= 0] for row in links]
    assert names[0] == ["worker0.port:up", "worker1.port:down"]  # one switch, P2P
    assert names[1] == ["worker1.port:up", "node0.switch0:up", "node0.switch1:down", "worker2.port:down"]
    assert names[2] == [
        "worker3.port:up", "node0.switch1:up", "node0.cpu0-cpu1", "node0.switch2:down", "worker4.port:down",
    ]  # fmt: skip


def test_nccl_protocols_agree_across_engines_on_a_two_socket_node() -> None:
    """With NCCL's protocols and ``auto`` the three engines agree within 1 % on a two-socket node, two nodes too."""
    for nodes in (1, 2):
        fabric = _node(cf.HostTopology(2, 2, SKL, True), protocol="auto", nodes=nodes)
        for algorithm in ("auto", "ring", "tree"):
            analytic, fast, chunk = _engines(fabric, algorithm)
            assert fast == pytest.approx(analytic, rel=1e-9)
            assert chunk == pytest.approx(analytic, rel=0.01)


def _scenario(host: dict[str, object] | None, intra: str = "pcie4", workers: int = 8) -> dict[str, object]:
    return {
        "model": {"preset": "gpt2-xl"},
        "cluster": {
            "nodes": 1, "workers_per_node": workers, "device": "a100-80gb", "intra_node": intra, "host_topology": host,
        },
        "training": {"global_batch": 8 * workers, "micro_batch": 1},
    }  # fmt: skip


def test_the_scenario_carries_nccls_inter_cpu_bandwidth() -> None:
    from dpsim.analytic.step import fabric_of

    scenario = scenario_from_dict(_scenario({"sockets": 2, "gpus_per_switch": 2, "cpu": "intel-skl"}))
    assert fabric_of(scenario).host_topology == cf.HostTopology(2, 2, 10e9, True)
    plain = scenario_from_dict(_scenario(None))
    assert fabric_of(plain).host_topology is None


@pytest.mark.parametrize(
    ("host", "intra", "workers", "field"),
    [
        ({"sockets": 2, "cpu": "amd"}, "nvlink3", 8, "host_topology"),
        ({"sockets": 3, "cpu": "amd"}, "pcie4", 8, "host_topology.sockets"),
        ({"gpus_per_switch": 3}, "pcie4", 8, "host_topology.gpus_per_switch"),
        ({"sockets": 2, "gpus_per_switch": 2, "cpu": "amd"}, "pcie4", 6, "host_topology.gpus_per_switch"),
        ({"sockets": 2}, "pcie4", 8, "host_topology.cpu"),
        ({"cpu": "intel"}, "pcie4", 8, "host_topology.cpu"),
        ({"p2p": "yes"}, "pcie4", 8, "host_topology.p2p"),
    ],
)
def test_bad_host_topologies_name_the_field(host: dict[str, object], intra: str, workers: int, field: str) -> None:
    """One line naming the field and what it expected."""
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(_scenario(host, intra, workers), "s.yaml")
    line = info.value.one_line()
    assert "\n" not in line
    assert field in line


def test_the_fabric_is_hashable_with_a_host_topology() -> None:
    fabric = _node(cf.HostTopology(2, 2, SKL, True))
    assert hash(fabric) == hash(dataclasses.replace(fabric))


def test_auto_leaves_ll128_out_on_pcie_nodes_unless_nccl_proto_names_it() -> None:
    """NCCL enables LL128 by default only on NVLink intra-node graphs (``tuning.cc``: ``typeIntra <= PATH_NVB``)."""
    from dpsim.sim import collectives

    pcie = _node(None, "auto").layout()
    protos = {s.protocol for s in collectives.candidates("allreduce", "auto", pcie, "auto")}
    assert protos == {"LL", "Simple"}
    named = dataclasses.replace(pcie, nccl_proto=("LL128", "Simple"))
    assert {s.protocol for s in collectives.candidates("allreduce", "auto", named, "auto")} == {"LL128", "Simple"}
    nvlink = dataclasses.replace(pcie, intra_hw="nvlink")
    assert "LL128" in {s.protocol for s in collectives.candidates("allreduce", "auto", nvlink, "auto")}
    one_gpu = cf.Fabric(2, 1, PCIE4, NIC, intra_hw="pci", protocol="auto").layout()  # no intra-node graph
    assert "LL128" in {s.protocol for s in collectives.candidates("allreduce", "auto", one_gpu, "auto")}


def test_auto_runs_the_ring_where_nccls_estimate_does_and_tree_times_the_chain() -> None:
    """Two Skylake sockets: the ring at 10 GB/s; the forced tree's chain carries S a way over the 10 GB/s link.

    NCCL's estimate puts the tree at 0.92/2 of the ring graph's speed (algbw 4.6 GB/s against the ring's
    10·8/14 = 5.71), so ``auto`` runs the ring; forced, the tree takes S / (0.92 · 10 GB/s) on the links.
    """
    fabric = _node(cf.HostTopology(2, 2, SKL, True), "auto")
    auto = cf.collective("allreduce", "auto", SIZE, fabric)
    assert (auto.algorithm, auto.protocol) == ("ring", "Simple")
    ring_s = 2 * 7 / 8 * SIZE / SKL
    assert auto.time_s == pytest.approx(ring_s, rel=0.002)
    tree = cf.collective("allreduce", "tree", SIZE, dataclasses.replace(fabric, protocol="Simple"))
    latency = 8.4e-6 + 2 * 7 * 4.0e-6  # baseLat tree/Simple + 2(G−1) · hwLat[PCI][tree][Simple]
    assert tree.time_s == pytest.approx(latency + SIZE / (0.92 * SKL), rel=1e-6)


@pytest.mark.parametrize(("nics", "bandwidth"), [(1, SKL), (2, 2 * SKL)])
def test_a_nic_on_the_other_socket_is_reached_across_the_socket_link(nics: int, bandwidth: float) -> None:
    """2 nodes × 8 GPUs on two Skylake sockets, NIC n on socket ⌊n·2/nics⌋, the ring's bandwidth term by hand.

    One NIC (socket 0): the ring crosses the 10 GB/s link inside the node (GPU 3 → 4) and again from GPU 7 to
    the NIC, once each way: the ring runs at 10, under the 24 GB/s NIC. Two NICs, one a socket: GPU 7 leaves
    through NIC 1 on its own socket, and the two channels cross the socket link once each, one each way: each
    direction carries half the ring's edge, 20 GB/s, still under the GPUs' 24.
    """
    fabric = dataclasses.replace(
        _node(cf.HostTopology(2, 2, SKL, True), nodes=2), nics_per_node=nics, inter=cf.Link(5e-6, 24e9)
    )
    once, twice = _engines(fabric), _three_engines("allreduce", "ring", fabric, 2 * SIZE)
    for per_byte in [(b - a) / SIZE for a, b in zip(once, twice, strict=True)]:
        assert per_byte == pytest.approx(2 * 15 / 16 / bandwidth, rel=1e-9)
