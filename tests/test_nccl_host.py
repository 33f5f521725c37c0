"""PCIe nodes' host topology: NCCL's rings through PCIe switches, CPU sockets and the link between them.

The truths are worked by hand from NCCL's topology (``src/graph/paths.cc``: P2P only within a PCIe
switch by default, other pairs through the CPU; ``topo.cc``: the inter-socket link at ``SKL_QPI_BW``
= 10 GB/s on Intel Skylake) and the α–β ring, ``2(N−1)α + 2(N−1)/N · S / B`` with B the most loaded
link's share; the three engines must agree.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from test_nccl import _published, _three_engines  # pytest puts tests/ on the path

from dpsim.analytic import collectives as cf
from dpsim.errors import ScenarioError
from dpsim.scenario import scenario_from_dict
from dpsim.sim.cluster import Cluster
from dpsim.sim.pcie_ring import PcieRing, nccl_pcie_ring, scenario_pcie_ring

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
    # P2P under each switch (PIX), host memory between switches (PHB, SYS: above NCCL's default PXB)
    shm = (False, True) * 4
    # NCCL's ring graph: the ring crosses the sockets' 10 GB/s once each way, so speedArrayIntra's 20, 18, 15, 12 hold
    # no ring and 10 holds one (5 holds two, 10 GB/s again: not better); 10 < 25: not copied
    expected = cf.HostTopology(2, 2, 10e9, True, shm_edges=shm, nccl_graph=(1, 10.0))
    assert fabric_of(scenario).host_topology == expected
    plain = scenario_from_dict(_scenario(None))
    assert fabric_of(plain).host_topology is None


@pytest.mark.parametrize(("measured", "busbw"), [(None, 16.0), (10.0, 10.0), (20.0, 20.0), (49.71, 24.0)])
def test_the_socket_link_is_priced_at_its_measured_rate_and_the_graph_at_nccls(
    measured: float | None, busbw: float
) -> None:
    """``host_topology.socket_link_gbps``: 8 GPUs on root ports of two AMD sockets, Gen4 x16 (24 GB/s). NCCL's ring
    crosses the socket link once each way, so the ring's bus bandwidth at 8 GiB is min(socket link, 24): 16 at
    NCCL's AMD_BW when unset, 10 or 20 when measured so, 24 (the GPUs' links) at dual Turin's measured 49.71 —
    by both engines; NCCL's graph is the same in all four (its search reads AMD_BW, not the measurement)."""
    from dpsim.cli_collective import collective_rows

    host: dict[str, object] = {"sockets": 2, "gpus_per_switch": 1, "cpu": "amd"}
    if measured is not None:
        host["socket_link_gbps"] = measured
    # P2P through both root complexes (NCCL_P2P_LEVEL=SYS): the same links as SHM, without its extra step
    communication = {"algorithm": "ring", "nccl_proto": ["Simple"], "nccl_p2p_level": "SYS"}
    scenario = scenario_from_dict({**_scenario(host), "communication": communication})
    for engine in ("analytic", "sim"):
        row = collective_rows(scenario, "allreduce", [8 * 2**30], engine=engine)[0]
        assert row["busbw_Bps"] / 1e9 == pytest.approx(busbw, rel=0.01)
    ring = scenario_pcie_ring(scenario)
    assert ring is not None
    assert (ring.search_channels, ring.speed_gbps, ring.type_intra) == (1, 15.0, "SYS")


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
        ({"socket_link_gbps": 50.0}, "pcie4", 8, "host_topology.socket_link_gbps"),  # one socket: no such link
        ({"sockets": 2, "cpu": "amd", "socket_link_gbps": 0}, "pcie4", 8, "host_topology.socket_link_gbps"),
        ({"sockets": 2, "cpu": "amd", "socket_link_gbps": "fast"}, "pcie4", 8, "host_topology.socket_link_gbps"),
        ({"p2p": False, "p2p_latency_us": 1.0}, "pcie4", 8, "host_topology.p2p_latency_us"),  # no P2P hop to time
        ({"p2p_latency_us": 0}, "pcie4", 8, "host_topology.p2p_latency_us"),
        ({"p2p_latency_us": float("nan")}, "pcie4", 8, "host_topology.p2p_latency_us"),
        ({"p2p_latency_us": 5000.0}, "pcie4", 8, "host_topology.p2p_latency_us"),
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


# --- NCCL's ring graph on a PCIe node (dpsim.sim.pcie_ring) ------------------------------------------------


def test_nccl_pcie_ring_reproduces_the_graph_nccl_printed_for_eight_rtx_4090() -> None:
    """NVIDIA/nccl-tests#307 (8 × GeForce RTX 4090, no P2P, two Skylake-class sockets, 4 GPUs under each Gen4
    switch) printed ``System : maxBw 24.0 totalBw 24.0``, ``SYS`` GPU pairs at 10.0 and ``Pattern 4, crossNic 0,
    nChannels 1, bw 5.000000/5.000000, type SYS/PIX``. By hand: every edge goes through a CPU; switch 0's uplink
    carries edges 0→1, 1→2, 2→3 (``PHB`` through an Intel CPU: 6/5 of the speed each) and 3→4 (``SYS``: 1×),
    4.6 × speed ≤ 24, so ≤ 5.2; the socket link holds 10. From speedArrayIntra's 20 (≤ maxBw 24) down to 6 no
    ring fits (6 × 4.6 = 27.6); 5 fits one (23.0); 4 and 3 one each, not better. Without the 6/5 charge the
    search would stop at 6 (4 × 6 = 24)."""
    host = cf.HostTopology(2, 4, SKL, False)
    ring = nccl_pcie_ring(8, host, 24.0, "ada", "intel-skl")
    assert (ring.search_channels, ring.speed_gbps, ring.type_intra, ring.fallback) == (1, 5.0, "SYS", False)
    assert (ring.channels, ring.simple_threads, set(ring.transports)) == (2, 256, {"SHM"})
    assert nccl_pcie_ring(8, host, 24.0, "ada", "amd").speed_gbps == 6.0


def _row_ring(name: str) -> PcieRing | None:
    (module, run) = next(entry for entry in _published() if entry[1].name == name)
    return scenario_pcie_ring(module.scenario_for(run), run.p2p_level)


@pytest.mark.parametrize(
    ("name", "graph"),
    [
        # 8 GPUs on root ports of two AMD sockets, Gen5 48: every ring crosses the socket link (AMD_BW 16) once each
        # way, under sm100SpeedArrayIntra's lowest step (18): no ring at any speed, the rank-order fallback of one
        # channel at 0.1 GB/s, doubled to 2 (connect.cc); 0.1 ≤ PCI_BW: 256 threads; all pairs NODE/SYS > PXB: SHM.
        # The source's own NCCL readout agrees: "Bandwidth estimate 0.1 GB/s", "SYS/SYS", "Channels 2 (minimum)"
        # (and its XML graph of 2 channels at 24 runs "Channels 4": the doubling)
        ("RTX PRO 6000 x8, PCIe, 2x Turin", (1, 0.1, "SYS", True, 2, 256, ("SHM",) * 8)),
        # 4 GPUs, 2 a Gen5 switch, one socket: every link carries one ring edge a way. 45 (first ≤ 48): 1 ring;
        # 40, 30: 1; 24: 2 rings = 48 = totalBw, done. 24 < 25: not duplicated; pass 2: 30 holds 1 < 2. Doubled: 4
        # channels, 48 > 12: 512 threads. Hops 0→1, 2→3 in a switch (PIX, P2P); 1→2, 3→0 through the CPU (SHM), as
        # the source's NCCL log prints ("1[1] -> 2[2] via SHM/direct/direct"; with the SYS level "via P2P/direct
        # pointer" on all four)
        ("RTX PRO 6000 x4, PCIe switches", (2, 24.0, "PHB", False, 4, 512, ("P2P", "SHM", "P2P", "SHM"))),
        # the same graph (the same links), every hop P2P with NCCL_P2P_LEVEL=SYS
        ("RTX PRO 6000 x4, PCIe, P2P_LEVEL=SYS", (2, 24.0, "PHB", False, 4, 512, ("P2P",) * 4)),
        # 2 GeForce cards, one Gen3 switch, no P2P: both edges through the CPU, the uplink carries 2 a way, 12 GB/s.
        # speedArrayIntra from 12: 12, 10, 9, 7 hold none; 6: 1 ring; 5, 4: 1; 3: 2 (6, not better). 1 × 6 is
        # dpsim's link price too (6.0); doubled to 2 channels of 256 threads
        ("RTX 2080 Ti x2, Gen3 switch, no P2P", (1, 6.0, "PHB", False, 2, 256, ("SHM", "SHM"))),
        ("RTX 2080 Ti x2, Gen3 switch, no P2P, broadcast", (1, 6.0, "PHB", False, 2, 256, ("SHM", "SHM"))),
    ],
)
def test_nccl_pcie_ring_on_the_published_pcie_rows(name: str, graph: tuple[object, ...]) -> None:
    """What NCCL's ring search (search.cc, connect.cc, tuning.cc) gives on each published PCIe machine, by hand."""
    ring = _row_ring(name)
    assert ring is not None
    got = (
        ring.search_channels, ring.speed_gbps, ring.type_intra, ring.fallback, ring.channels, ring.simple_threads,
        ring.transports,
    )  # fmt: skip
    assert got == graph


def test_nccl_pcie_ring_finds_a_ring_on_two_amd_sockets_below_blackwell() -> None:
    """The Turin node's links with Hopper's or Ampere's speed array: 15 ≤ AMD_BW 16 is a step, so the search finds
    one ring at 15 (the socket link holds one; 12, 11 hold one, 6/15 < 0.49 stops Hopper's; 9 and then 7/15 < 0.49
    stop Ampere's), doubled to 2 channels of 512 threads (15 > PCI_BW) — only Blackwell's array falls back."""
    host = cf.HostTopology(2, 1, 16e9, True)
    for arch in ("hopper", "ampere"):
        ring = nccl_pcie_ring(8, host, 48.0, arch, "amd")
        assert (ring.search_channels, ring.speed_gbps, ring.fallback, ring.channels, ring.simple_threads) == (
            1, 15.0, False, 2, 512,
        )  # fmt: skip
    assert nccl_pcie_ring(8, host, 48.0, "blackwell", "amd").fallback


def test_nccl_p2p_level_and_amds_two_gpu_rule() -> None:
    """``ncclTopoCheckP2p``: P2P up to PXB by default, at any distance on an AMD host with at most 2 GPUs; a
    GeForce node (``p2p: false``) never; an unknown level is refused."""
    roots = cf.HostTopology(1, 1, 0.0, True)
    assert nccl_pcie_ring(2, roots, 24.0).transports == ("SHM", "SHM")
    assert nccl_pcie_ring(2, roots, 24.0, cpu="amd").transports == ("P2P", "P2P")
    assert nccl_pcie_ring(4, roots, 24.0, cpu="amd").transports == ("SHM",) * 4
    assert nccl_pcie_ring(4, roots, 24.0, p2p_level="PHB").transports == ("P2P",) * 4
    assert nccl_pcie_ring(2, cf.HostTopology(1, 2, 0.0, False), 24.0, p2p_level="SYS").transports == ("SHM", "SHM")
    with pytest.raises(ValueError, match="NCCL_P2P_LEVEL"):
        nccl_pcie_ring(2, roots, 24.0, p2p_level="NODE")


@pytest.mark.parametrize(
    "name",
    ["RTX PRO 6000 x4, PCIe switches", "RTX PRO 6000 x4, PCIe, P2P_LEVEL=SYS", "RTX 2080 Ti x2, Gen3 switch, no P2P"],
)
def test_where_nccl_finds_a_ring_its_graph_is_the_price_on_the_links(name: str) -> None:
    """Two derivations, one answer: NCCL's graph (channels × speed, its search over NCCL's link figures) is the
    bus bandwidth both engines price on the links at a size where latency is gone (8 GiB, ring/Simple) — 2 × 24
    = 48 GB/s on the switch node, 1 × 6 on the 2080 Ti pair — where the GPUs' links carry NCCL's figure, times
    2(N−1)/(2N−1) where a ring edge goes through host memory (SHM: the receive-only step of each loop, 6/7 on the
    4 GPUs of the default row, 2/3 on the pair). On Gen5 the GPUs' threads move 41.5 of the link's 48 GB/s GPU
    to GPU (the catalog's ``intra_efficiency``: a dual-Turin ring's measured 41.3-41.7 at 4 GiB), so the price
    is the graph scaled by 41.5/48 while the graph (the search, its channels and threads) stays NCCL's.
    (The Turin row's fallback graph is not: NCCL's 0.1 GB/s is a placeholder; the links give the socket link's
    measured rate or the GPUs' links, the lower.)"""
    from dpsim.catalog import LINKS
    from dpsim.cli_collective import collective_rows

    (module, run) = next(entry for entry in _published() if entry[1].name == name)
    ring = _row_ring(name)
    assert ring is not None and not ring.fallback
    scenario = module.scenario_for(dataclasses.replace(run, algorithm="ring"))
    link = LINKS[run.intra]
    kernels = link.intra_achievable / link.achievable  # 41.5/48.01 on pcie5, 1 on pcie3
    assert kernels == pytest.approx(41.5 / 48.0117, rel=1e-4) if run.intra == "pcie5" else kernels == 1.0
    for engine in ("analytic", "sim"):
        row = collective_rows(scenario, "allreduce", [8 * 2**30], engine=engine)[0]
        n = run.gpus_per_node
        shm = (2 * n - 2) / (2 * n - 1) if "SHM" in ring.transports else 1.0
        graph = ring.search_channels * ring.speed_gbps
        assert row["busbw_Bps"] / 1e9 == pytest.approx(graph * kernels * shm, rel=0.01)


GEN3 = cf.Link(2e-6, 12e9)


@pytest.mark.parametrize(
    ("op", "steps", "share"),
    [
        # a pair under one switch without P2P: both edges go up and down the switch's uplink (12 GB/s, two flows a
        # direction), each step moves S/2. All-reduce: send, receive-reduce-send, receive = 3 steps, not 2(N−1) = 2
        ("allreduce", 3, 0.5),
        ("reduce_scatter", 2, 0.5),  # send, receive = N steps, not N−1
        ("all_gather", 2, 0.5),
        ("broadcast", 1, 1.0),  # a pipelined chain from the root: one flow, no step of its own
    ],
)
def test_a_ring_through_host_memory_takes_one_more_step_a_loop(op: str, steps: int, share: float) -> None:
    """SHM (``src/transport/shm.cc``: the buffer in host memory on the receiver's side, written by the sender's
    block and read across PCIe by the receiver's): the receive-only step that ends each loop of ``runRing`` reads
    host memory over the links, so a ring of N ranks takes 2N−1 steps of S/N for all-reduce (N for reduce-scatter
    and all-gather) where P2P takes 2(N−1) (N−1). Closed form on 2 GeForce GPUs of one Gen3 switch, 1 GiB:
    ``steps·α + steps·(S/2)/(12 GB/s · share)`` — all-reduce bus bandwidth 4.0 GB/s (12 · ½ · ⅔), all-gather 3.0,
    broadcast 12 — on all three engines; with P2P edges (shm_edges empty) one step less."""
    size = float(2**30)
    host = cf.HostTopology(1, 2, 0.0, False, shm_edges=(True, True))
    fabric = cf.Fabric(1, 2, GEN3, NIC, intra_hw="pci", protocol="none", host_topology=host)
    if op == "broadcast":
        expected = GEN3.latency_s + size / GEN3.bandwidth
    else:
        expected = steps * GEN3.latency_s + steps * (size / 2) / (GEN3.bandwidth * share)
    for got in _three_engines(op, "ring", fabric, size):
        assert got == pytest.approx(expected, rel=1e-9)
    p2p = dataclasses.replace(fabric, host_topology=dataclasses.replace(host, shm_edges=()))
    fewer = steps - 1 if op != "broadcast" else 1
    base = fewer * GEN3.latency_s + fewer * (size / 2) / (GEN3.bandwidth * share) if op != "broadcast" else expected
    for got in _three_engines(op, "ring", p2p, size):
        assert got == pytest.approx(base, rel=1e-9)


def test_one_shm_edge_costs_the_whole_ring_a_step() -> None:
    """Four GPUs, two a switch with P2P, the pairs across switches through host memory (NCCL's default PXB): the ring
    is 2 P2P + 2 SHM edges, each carrying S/4 a step on a 48 GB/s link of its own, so all-reduce takes 7 steps of
    ``α + (S/4)/B`` instead of 6 on all three engines — 6/7 of the P2P ring's bus bandwidth."""
    gen5 = cf.Link(2e-6, 48e9)
    size = float(2**33)
    host = cf.HostTopology(1, 2, 0.0, True, shm_edges=(False, True, False, True))
    fabric = cf.Fabric(1, 4, gen5, NIC, intra_hw="pci", protocol="none", host_topology=host)
    expected = 7 * (gen5.latency_s + size / 4 / gen5.bandwidth)
    for got in _three_engines("allreduce", "ring", fabric, size):
        assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("op", ["allreduce", "reduce_scatter", "all_gather"])
def test_the_host_memory_step_fits_beside_a_nic_that_binds(op: str) -> None:
    """Two nodes of eight Gen4 GPUs, two a PCIe switch (the ring's edges across switches through host memory), one
    NIC of 12.5 GB/s a node, 1 GiB: the NIC binds the ring, and the receive-only SHM step of each loop reads host
    memory over PCIe links with room beside it (module docstring of :mod:`dpsim.sim.collectives.nccl`), so the ring
    takes the all-P2P ring's time on all three engines. Before, the step was one more phase after the ring's: the
    analytic engine and the fast level added it (+1/(N−1) of the NIC's time for reduce-scatter, 3.3 % at 64 MiB
    through ``dpsim collective``), the chunk level ran it while the ranks beside the NIC finished their last step."""
    size = float(2**30)
    nic = cf.Link(5e-6, 12.5e9)
    host = cf.HostTopology(1, 2, 0.0, True, shm_edges=(False, True) * 4)
    fabric = cf.Fabric(2, 8, PCIE4, nic, intra_hw="pci", protocol="none", host_topology=host)
    times = _three_engines(op, "ring", fabric, size)
    assert times == pytest.approx([times[0]] * 3, rel=1e-9)
    p2p = dataclasses.replace(fabric, host_topology=dataclasses.replace(host, shm_edges=()))
    steps = 2 * 15 if op == "allreduce" else 15
    bound = steps * (size / 16) / nic.bandwidth  # the NIC's bytes alone
    assert _three_engines(op, "ring", p2p, size)[0] == pytest.approx(bound, rel=2e-3)
    assert times[0] == pytest.approx(bound, rel=2e-3)


def test_a_tree_across_pcie_nodes_shares_the_head_gpus_port_max_min_on_every_engine() -> None:
    """Two nodes of eight Gen4 GPUs with no link of their own to the NIC (PCIe inside the node: inter-node traffic
    leaves through the GPU's one x16 port), one NIC, NCCL's tree without protocol, 1 GiB: the chain through the node
    carries S each way on every edge and each of the two trees S/2 through the head GPU 0, so every port but the
    chain ends' carries 2S. The flows share a port max-min (:mod:`dpsim.sim.network`): on GPU 0's uplink the chain flow
    gets a third while both tree flows send (3·S/2 / C, when they are done), half while GPU 1's downlink holds the
    chain flow 2 → 1 too (S/C more, when the chain's other flows are done), then all of it (S/2 / C): 9/8 of the
    busiest port's 2S/C, by hand. The chunk level runs it so; the analytic engine and the fast level priced the
    busiest port (2S/C, 12.5 % short): a pipelined phase whose transfers of unequal bytes share a link is now priced
    by the chunk level's fluid run on every engine, as on a hybrid cube mesh (:func:`dpsim.sim.cost.phase_cost`)."""
    size = float(2**30)
    fabric = cf.Fabric(2, 8, PCIE4, cf.Link(5e-6, 50e9), intra_hw="pci", protocol="none")
    times = _three_engines("allreduce", "tree", fabric, size)
    assert times == pytest.approx([times[0]] * 3, rel=1e-9)
    assert times[0] == pytest.approx(9 / 8 * 2 * size / PCIE4.bandwidth, rel=1e-3)


@pytest.mark.parametrize(
    ("level", "shm"),
    [
        (None, (False, True, False, True)),
        ("PXB", (False, True, False, True)),
        ("PHB", (False,) * 4),
        ("SYS", (False,) * 4),
    ],
)
def test_nccl_p2p_level_sets_which_ring_edges_go_through_host_memory(level: str | None, shm: tuple[bool, ...]) -> None:
    """``communication.nccl_p2p_level``: on 4 GPUs, two a PCIe switch, the pairs across switches (PHB) use P2P from
    ``PHB`` up, host memory below (NCCL's default ``PXB``); what the scenario's fabric carries, and the graph."""
    from dpsim.analytic.step import fabric_of

    communication = {"nccl_p2p_level": level} if level is not None else {}
    scenario = scenario_from_dict(
        {**_scenario({"gpus_per_switch": 2}, intra="pcie5", workers=4), "communication": communication}
    )
    host = fabric_of(scenario).host_topology
    assert host is not None and host.shm_edges == shm
    ring = scenario_pcie_ring(scenario)
    assert ring is not None and ring.transports == tuple("SHM" if s else "P2P" for s in shm)


def test_nccls_tuner_picks_as_if_the_shm_edge_were_p2p() -> None:
    """NCCL's estimate (``ncclTopoTuneModel``) has no transport term, so SHM's receive-only step is part of the time
    but not of the pick: on 2 GeForce GPUs of one Gen3 switch, at every size from 8 B to 1 GiB, ``auto`` picks the
    (algorithm, protocol) it picks with P2P edges, and a ring costs more with SHM edges than without."""
    shm = cf.HostTopology(1, 2, 0.0, False, shm_edges=(True, True))
    with_shm = cf.Fabric(1, 2, GEN3, NIC, intra_hw="pci", protocol="auto", arch="volta", host_topology=shm)
    without = dataclasses.replace(with_shm, host_topology=dataclasses.replace(shm, shm_edges=()))
    for size in (2.0**e for e in range(3, 31)):
        a, b = cf.collective("allreduce", "auto", size, with_shm), cf.collective("allreduce", "auto", size, without)
        assert (a.algorithm, a.protocol) == (b.algorithm, b.protocol)
        if a.algorithm == "ring":
            assert a.time_s > b.time_s


def test_gen5_gpu_to_gpu_runs_at_the_rate_nccls_rings_reach_and_the_search_and_nic_path_keep_nccls_figure() -> None:
    """``pcie5`` as a node's intra-node link carries 41.5 GB/s a way GPU to GPU (``LinkSpec.intra_efficiency``:
    purplepow3r's dual-Turin ring, 41.3-41.7 GB/s busbw at 4 GiB with every edge P2P), not NCCL's 48. The same
    link as a GPU's path to its NIC (``host_link``, DMA by the NIC) keeps 48, and so does NCCL's ring search over
    the GPUs' links (2 rings of 24 on 4 GPUs, two a switch). A 4 GiB ring on 4 such GPUs with every edge P2P
    prices at 41.5 less its per-step latency (6 steps x 5.7 us + 8.4 us on ~155 ms), both engines."""
    from dpsim.analytic.step import fabric_of, host_link_of
    from dpsim.catalog import LINKS, LinkSpec
    from dpsim.cli_collective import collective_rows

    data = _scenario({"gpus_per_switch": 2}, intra="pcie5", workers=4)
    data["cluster"] = {**data["cluster"], "device": "b200"}  # type: ignore[dict-item]  # Blackwell's speed array
    scenario = scenario_from_dict({**data, "communication": {"nccl_p2p_level": "SYS", "algorithm": "ring"}})
    assert fabric_of(scenario).intra.bandwidth == pytest.approx(41.5e9, rel=1e-9)
    ring = scenario_pcie_ring(scenario)
    assert ring is not None and (ring.search_channels, ring.speed_gbps, ring.transports) == (2, 24.0, ("P2P",) * 4)
    for engine in ("analytic", "sim"):
        busbw = collective_rows(scenario, "allreduce", [4 * 2**30], engine=engine)[0]["busbw_Bps"]
        seconds = 1.5 * 4 * 2**30 / 41.5e9 + 6 * 5.7e-6 + 8.4e-6
        assert busbw == pytest.approx(1.5 * 4 * 2**30 / seconds, rel=0.002)
        assert 41.3e9 * 0.995 < busbw < 41.7e9
    h100 = scenario_from_dict(
        {
            "model": {"preset": "gpt2-xl"},
            "cluster": {"nodes": 2, "workers_per_node": 8, "device": "h100-sxm", "intra_node": "nvlink4"},
            "training": {"global_batch": 16},
        }
    )
    host = host_link_of(h100)
    assert host is not None and host.bandwidth == pytest.approx(LINKS["pcie5"].achievable, rel=1e-9)
    assert LINKS["pcie5"].achievable == pytest.approx(48.0117e9, rel=1e-5)
    given = {**data["cluster"], "intra_node": {"preset": "pcie5", "efficiency": 0.5}}  # type: ignore[dict-item]
    explicit = scenario_from_dict({**data, "cluster": given})
    assert fabric_of(explicit).intra.bandwidth == pytest.approx(0.5 * LINKS["pcie5"].bandwidth, rel=1e-9)
    for link in ("pcie3", "pcie4", "nvlink4"):  # no intra-node figure of their own: the link's efficiency
        assert LINKS[link].intra_achievable == LINKS[link].achievable
    with pytest.raises(ValueError, match="intra-node efficiency needs its source"):
        LinkSpec("x", 1e9, 0.0, "s", intra_efficiency=0.5)
    with pytest.raises(ValueError, match="intra_efficiency must be in"):
        LinkSpec("x", 1e9, 0.0, "s", intra_efficiency=1.5, intra_efficiency_source="s")


def test_a_ring_of_several_channels_reads_host_memory_on_each_channels_own_edges() -> None:
    """Two nodes of four GPUs, two a PCIe switch, the pairs across switches through host memory, two NICs: two ring
    channels. The SHM step of each loop (:func:`test_a_ring_through_host_memory_takes_one_more_step_a_loop`) rides on
    every channel's host-memory edges, each on its own channel: those transfers carry 15/14 of S/(kN) a step (2N−1
    steps of an all-reduce's bytes in its 2N−2), the others S/(kN); the schedule once put a (k·N) list of channels
    against the (k, N) edges and failed (``dpsim run`` with ``cluster.nodes: 4``, ``intra_node: pcie5`` and a host
    topology ended in a numpy traceback). NCCL's estimate (an estimate layout) has no such step."""
    from dpsim.sim.collectives import build
    from dpsim.sim.collectives.base import Layout
    from dpsim.sim.collectives.nccl import ring_orders

    host = cf.HostTopology(1, 2, 0.0, True, shm_edges=(False, True, False, True))
    fabric = cf.Fabric(2, 4, PCIE4, NIC, intra_hw="pci", protocol="Simple", host_topology=host, nics_per_node=2)
    layout = Layout.of(fabric)
    orders = ring_orders(layout)
    assert orders.shape == (2, 8)
    ring = build("allreduce", "ring", layout, "Simple")
    assert len(ring.phases) == 2 and ring.phases[0] is ring.phases[1]
    step = ring.phases[0]
    expected = {
        (int(a), int(b), c)
        for c, order in enumerate(orders)
        for a, b in zip(order, np.roll(order, -1), strict=True)
        if a // 4 == b // 4 and b % 4 == (a + 1) % 4 and host.shm_edges[a % 4]
    }
    assert len(expected) == 4  # a channel and node: one (each ring leaves its node where the other would be)
    assert step.channel is not None
    assert {c for *_, c in expected} == {0, 1}
    heavier = step.fraction > step.fraction.min() * (1 + 1e-12)
    got = set(zip(step.src[heavier].tolist(), step.dst[heavier].tolist(), step.channel[heavier].tolist(), strict=True))
    assert got == expected
    assert step.fraction[heavier] == pytest.approx(15 / 14 * step.fraction.min(), rel=1e-12)
    estimate = build("allreduce", "ring", dataclasses.replace(layout, estimate=True), "Simple").phases[0]
    assert np.all(estimate.fraction == step.fraction.min())
    analytic, *simulated = _three_engines("allreduce", "ring", fabric, SIZE)
    assert simulated == pytest.approx([analytic, analytic], rel=0.01)  # and the engines agree on it


def _turin() -> Any:
    (module, run) = next(entry for entry in _published() if entry[1].name == "RTX PRO 6000 x8, PCIe, 2x Turin")
    return module.scenario_for(run)


def test_nccl_s_estimate_on_the_fallback_graph_picks_simple_from_a_few_kib() -> None:
    """On one PCIe node NCCL's estimate (``ncclTopoTuneModel``, v2.30.7) reads its ring graph: on the dual-Turin node
    the search finds no ring and falls back to 1 channel of 0.1 GB/s, the tree graph the same channels
    (``init.cc``). By hand (Blackwell, PCI steps; no network): ring Simple 8.4 + 14 x 5.7 = 88.2 us, 0.1 x 8/14
    GB/s; ring LL 6.6 + 14 x 1.0 = 20.6 us, min(llMaxBw 282, 0.1 x .5) x 8/14; tree Simple 8.4 + 2 x 7 x 4.0 = 64.4
    us, min(0.1 x .92, perChMaxTreeBw) x .5. Simple's twice LL's bandwidth outweighs its 67.6 us more latency from
    67.6 us / (1/0.0286 - 1/0.0571 ns/B) = 3.9 KB: LL up to 2 KiB, Simple from 4 KiB, as the page the row comes from
    says ('SIMPLE instead of LL for small messages' without its graph file). The old pick, by the links' 36 GB/s,
    ran LL up to 2 MiB."""
    from dpsim.analytic.step import calibrated_fabric
    from dpsim.cli_collective import collective_rows
    from dpsim.sim.collectives.nccl import tuner_graph, tuner_model

    scenario = _turin()
    layout = calibrated_fabric(scenario).layout()
    assert tuner_graph("ring", layout) == tuner_graph("tree", layout) == (1, 0.1, 0.1)
    expected = {
        ("ring", "Simple"): (8.4 + 14 * 5.7, 0.1 * 8 / 14),
        ("ring", "LL"): (6.6 + 14 * 1.0, 0.1 * 0.5 * 8 / 14),
        ("tree", "Simple"): (8.4 + 2 * 7 * 4.0, 0.1 * 0.92 * 0.5),
    }
    for (algorithm, protocol), (latency_us, algbw_gbps) in expected.items():
        assert tuner_model("allreduce", algorithm, protocol, layout) == pytest.approx(
            (latency_us * 1e-6, algbw_gbps * 1e9)
        )
    rows = collective_rows(scenario, "allreduce", [2048.0, 4096.0, 32768.0, float(1 << 21)])
    assert [(r["algorithm"], r["protocol"]) for r in rows] == [("ring", "LL")] + [("ring", "Simple")] * 3


def test_one_pcie_node_s_graph_is_nccl_s_search_and_leaves_the_price_alone() -> None:
    """The graph the estimate reads is :func:`~dpsim.sim.pcie_ring.nccl_pcie_ring`'s (``NCCL_DEBUG=INFO``'s
    ``nChannels x bwIntra``) on every PCIe row of the table; a layout of several nodes carries none (the network
    search sets its graphs there). The price of the run picked at 32 MiB does not move: ring/Simple, 36.47 GB/s."""
    from dpsim.analytic.step import calibrated_fabric
    from dpsim.cli_collective import collective_rows

    for module, run in _published():
        if not run.host_topology:
            continue
        scenario = module.scenario_for(run)
        ring = scenario_pcie_ring(scenario, run.p2p_level)
        assert ring is not None
        assert calibrated_fabric(scenario).layout().pcie_graph == (ring.search_channels, ring.speed_gbps)
    two = _turin().model_copy(update={"cluster": _turin().cluster.model_copy(update={"nodes": 2})})
    assert calibrated_fabric(two).layout().pcie_graph == ()
    (row,) = collective_rows(_turin(), "allreduce", [float(32 << 20)])
    assert (row["algorithm"], row["protocol"]) == ("ring", "Simple")
    assert row["busbw_Bps"] / 1e9 == pytest.approx(36.47, abs=0.005)


@pytest.mark.parametrize(
    "sets",
    [
        ["training.tensor_parallel=4"],  # two data-parallel ranks a node, on GPUs 0 and 4
        ["training.tensor_parallel=2", "cluster.nodes=2", "training.global_batch=32"],  # four a node, two nodes
        ["training.pipeline_parallel=2"],  # four a node: a stage's GPUs
    ],
)
def test_a_data_parallel_group_with_part_of_a_pcie_node_sees_no_host_topology_as_a_tensor_parallel_one(
    sets: list[str],
) -> None:
    """Tensor or pipeline parallelism on a node with ``cluster.host_topology`` leaves each data-parallel group some
    of its GPUs; the group's fabric kept the node's host topology, whose SHM edges are the whole node's ring, and
    both engines ended in ``ValueError: shm_edges needs one entry per local rank (2), got 8`` (40 of 60 such
    layouts of the default scenario on one or two 8-GPU PCIe nodes). Such a group is a sub-fabric of model
    parallelism, which sees no host topology (as a tensor-parallel group): the step is the one without it, to the
    bit, on both engines."""
    from pathlib import Path

    import dpsim

    default = Path(__file__).resolve().parent.parent / "scenarios" / "default.yaml"
    common = ["cluster.intra_node=pcie4", "model=llama2-7b", "training.micro_batch=1", "training.global_batch=16"]
    steps = {}
    for engine in ("analytic", "sim"):
        for host in ([], ["cluster.host_topology={gpus_per_switch: 2}"]):
            scenario = dpsim.load_scenario(default, overrides=["cluster.nodes=1", *common, *sets, *host])
            steps[engine, bool(host)] = dpsim.run(scenario, engine=engine).step_time_s
    assert steps["analytic", True] == steps["analytic", False]
    assert steps["sim", True] == steps["sim", False]
    assert steps["sim", True] == pytest.approx(steps["analytic", True], rel=1e-9)


@pytest.mark.parametrize(("nodes", "shard"), [(1, 2), (1, 4), (2, 4), (2, 8)])
def test_hybrid_shard_groups_with_part_of_a_pcie_node_price_on_both_engines(nodes: int, shard: int) -> None:
    """FSDP HYBRID_SHARD's shard and replica groups each hold part of a node with ``cluster.host_topology`` unless a
    shard group is the whole node; each group's layout (:meth:`dpsim.sim.collectives.groups.Groups.layout`) kept the
    node's ring transports, one a GPU of the node, and both engines ended in ``ValueError: shm_edges needs one entry
    per local rank (4), got 8`` (every such layout of the default scenario on one or two 8-GPU PCIe nodes). The
    group's layout drops the node's ring transports and measured P2P step where it holds part of a node, as it drops
    the node's ring graph; its transfers still run on the node's links. Both engines price it, within 1 %."""
    from pathlib import Path

    import dpsim

    default = Path(__file__).resolve().parent.parent / "scenarios" / "default.yaml"
    sets = ["cluster.intra_node=pcie4", "cluster.host_topology={gpus_per_switch: 2}", "model=llama2-7b",
            "training.micro_batch=1", "training.optimizer_sharding=fsdp", "training.zero_stage=3",
            f"cluster.nodes={nodes}", f"training.global_batch={16 * nodes}",
            f"training.fsdp_shard_group={shard}"]  # fmt: skip
    scenario = dpsim.load_scenario(default, overrides=sets)
    analytic, sim = (dpsim.run(scenario, engine=engine).step_time_s for engine in ("analytic", "sim"))
    assert sim == pytest.approx(analytic, rel=0.01)
