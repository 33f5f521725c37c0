"""NCCL's algorithms as dpsim runs them: one collective model for every engine, rails, trees, NVLS, protocols.

The engine-agreement grid is the issue's: 8-GPU nodes with 1, 4 and 8 NICs on a switch,
a fat-tree at 2:1 and 4:1, every algorithm a scenario can name, with and without NCCL's
protocols — analytic, fast and chunk level within 1 %, nothing skipped. The independent
truths are NCCL's own source (tuning.cc latencies, trees.cc trees) worked by hand and the
α–β formulas.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from _bench import load_benchmark

from dpsim.analytic import collectives as cf
from dpsim.scenario import ALGORITHMS
from dpsim.sim import collectives
from dpsim.sim.chunk import ChunkEngine
from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import Layout
from dpsim.sim.collectives.nccl import (
    NVLS_EFFICIENCY,
    TREE_PATTERN_EFFICIENCY,
    btree_parent,
    dtree_forks,
    dtree_parents,
)
from dpsim.sim.fast import FastEngine

NVLINK = cf.Link(1e-6, 240e9)
NIC = cf.Link(5e-6, 24e9)
SIZE = 64e6

TOPOLOGIES = {
    "8gpu-1nic": {"nics_per_node": 1},
    "8gpu-4nic": {"nics_per_node": 4},
    "8gpu-8nic": {"nics_per_node": 8},
    "fat-tree-2to1": {"nics_per_node": 8, "topology": "fat-tree", "nodes_per_leaf": 1, "oversubscription": 2.0},
    "fat-tree-4to1": {"nics_per_node": 8, "topology": "fat-tree", "nodes_per_leaf": 1, "oversubscription": 4.0},
    # inter-node traffic over each GPU's PCIe link to its NIC (DGX: GPU -> PCIe switch -> NIC), not NVLink
    "8gpu-8nic-pcie": {"nics_per_node": 8, "host": cf.Link(2e-6, 24.0058e9)},
    "8gpu-1nic-pcie": {"nics_per_node": 1, "host": cf.Link(2e-6, 24.0058e9)},
    # one GPU on each NIC's PCIe switch: the other GPUs send through it (PXN, paths.cc)
    "8gpu-4nic-pxn": {"nics_per_node": 4, "host": cf.Link(2e-6, 24.0058e9), "pcie_gpus_per_nic": 1},
    # a NIC for every GPU, alone on its PCIe switch (AWS p5.48xlarge): a ring leaves a node through PXN
    "8gpu-8nic-pxn": {"nics_per_node": 8, "host": cf.Link(2e-6, 48.0e9), "pcie_gpus_per_nic": 1},
    # more NICs than GPUs (OCI BM.GPU.H100.8: 16 ports for 8 GPUs): NCCL's channels take each GPU's NICs in turn
    "8gpu-16nic-pcie": {"nics_per_node": 16, "host": cf.Link(2e-6, 48.0e9)},
    "8gpu-16nic-h100": {"nics_per_node": 16, "host": cf.Link(2e-6, 48.0e9), "arch": "hopper", "nic_gbps": 25.0},
    "fat-tree-16nic-2to1": {"nics_per_node": 16, "topology": "fat-tree", "nodes_per_leaf": 1, "oversubscription": 2},
}
NCCL = ("auto", "ring", "tree", "nvls", "nvls-tree")


def _fabric(topology: str, protocol: str, nodes: int = 2, nvls: bool = True) -> cf.Fabric:
    return cf.Fabric(nodes, 8, NVLINK, NIC, nvls=nvls, protocol=protocol, **TOPOLOGIES[topology])  # type: ignore[arg-type]


def _three_engines(op: str, algorithm: str, fabric: cf.Fabric, size: float = SIZE) -> tuple[float, float, float]:
    analytic = cf.collective(op, algorithm, size, fabric).time_s
    cluster = Cluster.from_fabric(fabric)
    joins = np.zeros(fabric.world_size)
    fast = float(FastEngine(cluster, algorithm, fabric.protocol).evaluate(op, size, joins).max())
    chunk = float(ChunkEngine(cluster, algorithm, protocol=fabric.protocol).evaluate(op, size, joins).max())
    return analytic, fast, chunk


GRID = [
    (topology, algorithm, protocol)
    for topology in TOPOLOGIES
    for algorithm in ALGORITHMS
    for protocol in (("none", "auto") if algorithm in NCCL else ("none",))
]


@pytest.mark.parametrize(("topology", "algorithm", "protocol"), GRID)
def test_engines_agree_on_every_topology_and_algorithm(topology: str, algorithm: str, protocol: str) -> None:
    """Analytic = fast (the same price) and chunk within 1 % — all-reduce, 2 nodes × 8 GPUs."""
    analytic, fast, chunk = _three_engines("allreduce", algorithm, _fabric(topology, protocol))
    assert analytic == pytest.approx(fast, rel=1e-12)
    assert abs(chunk / fast - 1) < 0.01


@pytest.mark.parametrize("topology", list(TOPOLOGIES))
@pytest.mark.parametrize("op", ["reduce_scatter", "all_gather", "broadcast"])
@pytest.mark.parametrize("protocol", ["none", "auto"])
def test_engines_agree_on_the_other_collectives(topology: str, op: str, protocol: str) -> None:
    analytic, fast, chunk = _three_engines(op, "auto", _fabric(topology, protocol))
    assert analytic == pytest.approx(fast, rel=1e-12)
    assert abs(chunk / fast - 1) < 0.01


RING_OF_NODES = [
    (layout, algorithm, protocol)
    for layout in [(8, 1, 1), (5, 8, 4), (6, 8, 8)]
    for algorithm in ALGORITHMS
    for protocol in (("none", "auto") if algorithm in NCCL else ("none",))
    if not (algorithm.startswith("nvls") and layout[1] == 1)  # NVLS needs GPUs on a node switch
]


@pytest.mark.parametrize(
    ("nodes", "per_node", "nics", "algorithm", "protocol"), [(*lay, a, p) for lay, a, p in RING_OF_NODES]
)
def test_engines_agree_on_a_ring_of_nodes(nodes: int, per_node: int, nics: int, algorithm: str, protocol: str) -> None:
    """Nodes wired in a ring (no switch; non-neighbour transfers take several hops): the three engines agree too."""
    fabric = cf.Fabric(nodes, per_node, NVLINK, NIC, nics_per_node=nics, topology="ring", nvls=True, protocol=protocol)
    for size in (1e6, SIZE):
        analytic, fast, chunk = _three_engines("allreduce", algorithm, fabric, size)
        assert analytic == pytest.approx(fast, rel=1e-12)
        assert abs(chunk / fast - 1) < 0.01


# --- rails and channels --------------------------------------------------------------------------


@pytest.mark.parametrize("nics", [1, 2, 4, 8, 16])
def test_rail_aligned_rings_use_every_nic(nics: int) -> None:
    """k = nics rings, each crossing a node through its own NIC: 2(N−1)α + 2(N−1)/N·S/min(B_nvlink, k·B_nic)."""
    nodes = 4
    fabric = cf.Fabric(nodes, 8, NVLINK, NIC, nics)
    expected = cf.ring_allreduce_time(
        SIZE, nodes * 8, cf.Link(NIC.latency_s, min(NVLINK.bandwidth, nics * NIC.bandwidth))
    )
    assert cf.allreduce_time("ring", SIZE, fabric) == pytest.approx(expected, rel=1e-9)


def test_rings_enter_and_leave_each_node_on_distinct_nics() -> None:
    """Channel c starts every node at local rank c·G/k: the k rings' node crossings use k different NICs."""
    layout = Layout(3, 8, 4)
    orders = collectives.nccl.ring_orders(layout)
    cluster = Cluster(3, 8, NVLINK, NIC, 4)
    exits = {int(cluster.nic_of(np.array([row[7] % 8]))[0]) for row in orders}
    entries = {int(cluster.nic_of(np.array([row[0] % 8]))[0]) for row in orders}
    assert len(orders) == 4 and exits == entries == {0, 1, 2, 3}


# --- NCCL's trees and latencies, worked by hand from the source -------------------------------


def test_btree_is_nccls_illustrated_tree() -> None:
    """src/graph/trees.cc draws the 14-rank tree: 0–8, 8–{4,12}, 4–{2,6}, 12–{10,13}, 2–{1,3}, ..."""
    parents = [btree_parent(14, r) for r in range(14)]
    assert parents == [-1, 2, 4, 2, 8, 6, 4, 6, 0, 10, 12, 10, 8, 12]


def test_double_tree_mirrors_even_and_shifts_odd() -> None:
    """trees.cc: tree 1 is tree 0 mirrored (n even) or shifted by one (n odd); each rank is interior in at most one."""
    first, second = dtree_parents(12)
    assert all(second[r] == (-1 if first[11 - r] < 0 else 11 - first[11 - r]) for r in range(12))
    first, second = dtree_parents(13)
    assert all(second[r] == (-1 if first[(r - 1) % 13] < 0 else (first[(r - 1) % 13] + 1) % 13) for r in range(13))
    for n in (6, 12, 64):  # mirrored: a rank interior in one tree is a leaf in the other
        a, b = dtree_parents(n)
        interior = [np.isin(np.arange(n), p[p >= 0]) for p in (a, b)]
        assert not np.any(interior[0] & interior[1])


@pytest.mark.parametrize(
    ("algorithm", "protocol", "expected_us"),
    [
        # ring, 2 nodes x 8: base 8.4 + (2·15 − 2)·max(3.4 NVLink, 3·1.0 net overhead) + 2·14 (NET)
        ("ring", "Simple", 8.4 + 28 * 3.4 + 2 * 14.0),
        # LL: base 6.6 + 28·max(0.6, 1.0) + 2·max(2.7, 5.0): the 5 µs link is slower than NCCL's net step
        ("ring", "LL", 6.6 + 28 * 1.0 + 2 * 5.0),
        # tree LL: base 6.8 + 2·((8 − 1)·0.6 + log2(2)·5.0)
        ("tree", "LL", 6.8 + 2 * (7 * 0.6 + 1 * 5.0)),
        # tree LL128: base 14 + 2·(7·1.25 + 8.5)
        ("tree", "LL128", 14.0 + 2 * (7 * 1.25 + 8.5)),
        # NVLS-tree: 25 (NVLink) + 2·log2(2)·20.9 (NET), no base latency
        ("nvls-tree", "Simple", 25.0 + 2 * 20.9),
    ],
)
def test_latency_is_nccls_tuning_model(algorithm: str, protocol: str, expected_us: float) -> None:
    """src/graph/tuning.cc ncclTopoTuneModel: baseLat + per-step hwLat; a 1-byte all-reduce is all latency."""
    fabric = _fabric("8gpu-8nic", protocol)
    assert cf.collective("allreduce", algorithm, 1e-9, fabric).time_s == pytest.approx(expected_us * 1e-6, rel=1e-6)


def _slow_network(latency_s: float, protocol: str = "auto") -> cf.Fabric:
    """Two nodes of 8 GPUs, 8 NICs, whose network takes ``latency_s`` per message (EFA-like when large)."""
    return cf.Fabric(2, 8, NVLINK, cf.Link(latency_s, NIC.bandwidth), nics_per_node=8, nvls=False, protocol=protocol)


@pytest.mark.parametrize(
    ("algorithm", "protocol", "expected_us", "nccl_us"),
    [
        # ring LL: base 6.6 + 28 NVLink steps at max(0.6, 1.0 net overhead) + 2 network steps at
        # max(30, 2.7 + 30 - 5) = 30 (NCCL: 2.7)
        ("ring", "LL", 6.6 + 28 * 1.0 + 2 * 30.0, 6.6 + 28 * 1.0 + 2 * 2.7),
        # ring Simple: base 8.4 + 28·max(3.4, 3·1.0) + 2·(14 + 30 - 5) (NCCL: 14)
        ("ring", "Simple", 8.4 + 28 * 3.4 + 2 * 39.0, 8.4 + 28 * 3.4 + 2 * 14.0),
        # tree LL: base 6.8 + 2·(7 chain steps · 0.6) + 2·log2(2) network hops · (5.0 + 30 - 5) (NCCL: 5.0)
        ("tree", "LL", 6.8 + 2 * 7 * 0.6 + 2 * 30.0, 6.8 + 2 * 7 * 0.6 + 2 * 5.0),
        # tree LL128: base 14 + 2·7·1.25 + 2·(8.5 + 30 - 5) (NCCL: 8.5)
        ("tree", "LL128", 14.0 + 2 * 7 * 1.25 + 2 * 33.5, 14.0 + 2 * 7 * 1.25 + 2 * 8.5),
    ],
)
def test_each_network_hop_takes_the_links_latency(
    algorithm: str, protocol: str, expected_us: float, nccl_us: float
) -> None:
    """A 30 µs network (EFA-class): each network hop of NCCL's schedule costs NCCL's figure plus what the link's
    latency exceeds InfiniBand's LL hop (5 µs), and at least the link's latency, in every engine; on a 0.5 µs
    network NCCL's own per-hop figures are the floor."""
    fabric = _slow_network(30e-6, protocol)
    for t in _three_engines("allreduce", algorithm, fabric, size=8.0):
        # rel 1e-4: a tree runs 8 B on one channel (topoGetAlgoInfo), which forwards them whole over its two
        # network hops (the pipeline's fill, a few ns; tests/test_pipeline_fill.py)
        assert t == pytest.approx(
            expected_us * 1e-6 + 8.0 * _per_byte("allreduce", algorithm, fabric, protocol), rel=1e-4
        )
    assert cf.collective("allreduce", algorithm, 1e-9, _slow_network(0.5e-6, protocol)).time_s == pytest.approx(
        nccl_us * 1e-6, rel=1e-9
    )


def test_the_tuner_still_chooses_by_nccls_own_latencies() -> None:
    """NCCL's tuner knows nothing of the network's latency: the choice at every size is the same on a 0.5 µs
    and a 30 µs network; only the time of the chosen schedule moves, by its network hops × (30 − NCCL's hop)."""
    fast, slow = _slow_network(0.5e-6), _slow_network(30e-6)
    for size in (8.0, 4096.0, float(1 << 20), float(1 << 26)):
        a, b = cf.collective("allreduce", "auto", size, fast), cf.collective("allreduce", "auto", size, slow)
        assert (a.algorithm, a.protocol) == (b.algorithm, b.protocol)
    small_fast = cf.collective("allreduce", "auto", 8.0, fast)
    small_slow = cf.collective("allreduce", "auto", 8.0, slow)
    assert (small_slow.algorithm, small_slow.protocol) == ("tree", "LL")  # NCCL: 25.2 µs against the ring's 40
    assert small_slow.time_s - small_fast.time_s == pytest.approx(2 * (30.0 - 5.0) * 1e-6, rel=1e-9)


@pytest.mark.parametrize(("protocol", "fraction"), [("Simple", 1.0), ("LL128", 0.92), ("LL", 0.5)])
def test_protocol_bandwidth_fraction(protocol: str, fraction: float) -> None:
    """One node: ring busbw = the NVLink rate × the protocol's share (tuning.cc: LL ×.5, LL128 ×.92)."""
    fabric = cf.Fabric(1, 8, NVLINK, NIC, protocol=protocol)
    big = 1e12  # latency negligible
    t = cf.collective("allreduce", "ring", big, fabric).time_s
    busbw = big / t * cf.busbw_factor("allreduce", 8)
    assert busbw == pytest.approx(NVLINK.bandwidth * fraction, rel=1e-4)


def one_node_nvls_fill_bytes(size: float, lanes: int) -> float:
    """``runNvls``'s fill by hand, in message bytes at the stream's rate: ``calcCollChunking``'s one-node chunk (a
    512 KiB Simple step capped at 128 KiB, set to 64 / 32 / 16 KiB while ``size`` < 64 / 8 / 2 x lanes x chunk), a
    loop of lanes x chunk; the first loop crosses scatter, switch and gather (3 loops) where the stream counts one of
    its n = ceil(S / loop) (S / n); one loop or less: 3 S against S."""
    chunk = 128 * 1024
    for ratio, floor in ((64, 65536), (8, 32768), (2, 16384)):
        if size < ratio * lanes * chunk and chunk > floor:
            chunk = floor
    loop = lanes * chunk
    n = math.ceil(size / loop)
    return 2 * size if n == 1 else 3 * loop - size / n


def test_nvls_moves_s_plus_s_over_g_through_each_port() -> None:
    """multimem.ld_reduce reads every GPU's slice, multimem.st multicasts it: (1 + 1/G)·S / (0.85·B), + 25 µs."""
    fabric = cf.Fabric(1, 8, NVLINK, NIC, nvls=True, protocol="Simple")
    expected = 25e-6 + (1 + 1 / 8) * SIZE / (NVLS_EFFICIENCY * NVLINK.bandwidth)
    assert cf.collective("allreduce", "nvls", SIZE, fabric).time_s == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="NVLink-SHARP"):
        cf.collective("allreduce", "nvls", SIZE, cf.Fabric(1, 8, NVLINK, NIC, nvls=False, protocol="Simple"))


@pytest.mark.parametrize(("arch", "efficiency"), [("hopper", 0.85), ("blackwell", 0.74), ("", 0.85)])
def test_nvls_efficiency_is_nccls_per_generation(arch: str, efficiency: float) -> None:
    """tuning.cc (v2.28.3 on) ``nvlsEfficiency``: Hopper 0.85, Blackwell 0.74 (dpsim had 0.85 for every GPU). Plus
    ``runNvls``'s fill on a GPU generation (Hopper 16 channels x 8 heads, Blackwell on one node 24 x 8 on v2.30.7)."""
    fabric = cf.Fabric(1, 8, NVLINK, NIC, nvls=True, protocol="Simple", arch=arch)
    fill = one_node_nvls_fill_bytes(SIZE, {"hopper": 128, "blackwell": 192}[arch]) if arch else 0.0
    expected = 25e-6 + (1 + 1 / 8) * (SIZE + fill) / (efficiency * NVLINK.bandwidth)
    assert cf.collective("allreduce", "nvls", SIZE, fabric).time_s == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_b300_nvls_row_by_hand(engine: str) -> None:
    """8 Blackwell GPUs on NVLink 5 (721.8 GB/s achievable), 8 GiB: t = 25 µs + (9/8)·(S + fill) / (0.74 · 721.8
    GB/s), the fill ``runNvls``'s (one node on v2.30.7: 24 channels x 8 heads x 128 KiB = a 24 MiB loop, 342 of them:
    3 x 24 MiB - S/342), busbw = 2·7/8 · S/t = 824.9 GB/s (829.6 without the fill; NVIDIA/nccl#2140 measured 845 on
    B300; 0.85 gave 952.9)."""
    from dpsim.cli_collective import collective_rows, machine_scenario

    scenario = machine_scenario("b300", 1, 8, "b200", "nvlink5", {"preset": "ib-ndr", "nics_per_node": 8})
    size = float(8 << 30)
    t = 25e-6 + 1.125 * (size + one_node_nvls_fill_bytes(size, 192)) / (0.74 * 721.8e9)
    (row,) = collective_rows(scenario, "allreduce", [size], engine=engine)
    assert row["algorithm"] == "nvls"
    assert row["busbw_Bps"] == pytest.approx(1.75 * size / t, rel=2e-3)
    assert row["busbw_Bps"] / 1e9 == pytest.approx(824.9, abs=0.5)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_nvls_on_72_gpus_has_nccls_32_heads(engine: str) -> None:
    """NCCL_MAX_NVLS_ARITY = 32 (device.h): a 72-GPU NVLink domain (GB200 NVL72) runs NVLS with 32 heads, each
    reducing S/32, so a head's port carries (1 + 1/32)·S each way and every other port S; the heads' ports set
    the time: t = 25 µs + (33/32)·S / (0.74 · 721.8 GB/s), busbw 2·71/72 · S/t = 1020 GB/s (72 heads: 1037), with
    ``runNvls``'s fill (24 channels x 32 heads on v2.30.7: a 96 MiB loop) on S.
    coreweave/nccl-tests#43 measured 834.6 on a full rack (a held-out row this does not explain)."""
    from dpsim.cli_collective import collective_rows, machine_scenario
    from dpsim.sim.collectives.nccl import nvls_allreduce

    schedule = nvls_allreduce(Layout(1, 72, 72, arch="blackwell"))
    (phase,) = schedule.phases
    out = np.bincount(phase.src, weights=phase.fraction, minlength=72) * 0.74
    into = np.bincount(phase.dst, weights=phase.fraction, minlength=72) * 0.74
    heads = (np.arange(32) * 72) // 32
    others = np.setdiff1d(np.arange(72), heads)
    assert out[heads] == pytest.approx(np.full(32, 1 + 1 / 32), rel=1e-12)
    assert into[heads] == pytest.approx(np.full(32, 1 + 1 / 32), rel=1e-12)
    assert out[others] == pytest.approx(np.ones(40), rel=1e-12)
    assert into[others] == pytest.approx(np.ones(40), rel=1e-12)
    # up to 32 GPUs every GPU is a head: (1 + 1/G)·S on every port, as before
    (eight,) = nvls_allreduce(Layout(1, 8, 8, arch="hopper")).phases
    assert np.bincount(eight.src, weights=eight.fraction) * 0.85 == pytest.approx(np.full(8, 9 / 8), rel=1e-12)
    scenario = machine_scenario("nvl72", 1, 72, "b200", "nvlink5", {"preset": "ib-ndr", "nics_per_node": 72})
    size = float(8 << 30)
    t = 25e-6 + (33 / 32) * (size + one_node_nvls_fill_bytes(size, 24 * 32)) / (0.74 * 721.8e9)  # v2.30.7: 24 x 32
    (row,) = collective_rows(scenario, "allreduce", [size], engine=engine)
    assert row["algorithm"] == "nvls"
    assert row["busbw_Bps"] == pytest.approx(2 * 71 / 72 * size / t, rel=2e-3)


def test_nvls_tree_heads_carry_the_network_and_the_reduced_chunks() -> None:
    """NVLS-tree with 4 NICs for 8 GPUs: the 4 NIC GPUs are the heads (nvls_heads). Each reduces S/4 and sends it
    across nodes on its own rail, so a head's port carries (1 + 1/4)·S inside the node and the other four S, and
    only the heads' NICs carry the trees: on 2 nodes each tree is one edge, and a head sends S/(2·4) on each."""
    from dpsim.sim.collectives.nccl import nvls_tree_allreduce

    (phase,) = nvls_tree_allreduce(Layout(2, 8, 4, arch="hopper")).phases
    node0 = phase.src < 8
    inside = node0 & (phase.dst < 8)
    out = np.bincount(phase.src[inside], weights=phase.fraction[inside], minlength=8) * 0.85
    assert out[[0, 2, 4, 6]] == pytest.approx(np.full(4, 1.25), rel=1e-12)
    assert out[[1, 3, 5, 7]] == pytest.approx(np.ones(4), rel=1e-12)
    cross = phase.src // 8 != phase.dst // 8
    assert sorted(set((phase.src[cross] % 8).tolist())) == [0, 2, 4, 6]
    sent = np.bincount(phase.src[cross & node0], weights=phase.fraction[cross & node0], minlength=8)
    assert sent[[0, 2, 4, 6]] == pytest.approx(np.full(4, 0.25), rel=1e-12)  # S/4 a head, both trees together


def test_auto_picks_like_the_tuner() -> None:
    """Small messages: a low-latency protocol; large on an NVLS node: NVLS; the record says which."""
    h100 = cf.Fabric(1, 8, cf.Link(1e-6, 370.8e9), NIC, nvls=True, protocol="auto")
    small = cf.collective("allreduce", "auto", 1024, h100)
    large = cf.collective("allreduce", "auto", 1 << 30, h100)
    assert small.protocol == "LL" and small.algorithm in ("ring", "tree")
    assert (large.algorithm, large.protocol) == ("nvls", "Simple")
    a100 = cf.Fabric(1, 8, NVLINK, NIC, nvls=False, protocol="auto")
    assert cf.collective("allreduce", "auto", 1 << 30, a100).algorithm in ("ring", "tree")
    # the choice is the cheapest candidate: no candidate is faster at that size
    for size in (8, 1 << 16, 1 << 24, 1 << 32):
        best = cf.collective("allreduce", "auto", size, h100)
        for algorithm in ("ring", "tree", "nvls"):
            assert best.time_s <= cf.collective("allreduce", algorithm, size, h100).time_s * (1 + 1e-12)


def test_the_engine_records_what_ran() -> None:
    fabric = cf.Fabric(2, 8, NVLINK, NIC, 8, protocol="auto")
    engine = FastEngine(Cluster.from_fabric(fabric), "auto", "auto")
    engine.evaluate("allreduce", 8, np.zeros(16))
    engine.evaluate("allreduce", 1 << 30, np.zeros(16))
    ran = {(op, name, proto) for (op, name, proto) in engine.used}
    small = cf.collective("allreduce", "auto", 8, fabric)
    large = cf.collective("allreduce", "auto", 1 << 30, fabric)
    assert ran == {("allreduce", small.algorithm, small.protocol), ("allreduce", large.algorithm, large.protocol)}


def test_fat_tree_oversubscription_only_slows_what_crosses_the_spine() -> None:
    """Rings cross each leaf once per channel: 2:1 leaves them alone with 8 rails (uplink 8·B/2 ≥ 4 chunks/step)."""
    flat = _fabric("8gpu-8nic", "none", nodes=4)
    two = cf.Fabric(4, 8, NVLINK, NIC, 8, topology="fat-tree", nodes_per_leaf=2, oversubscription=2.0)
    four = cf.Fabric(4, 8, NVLINK, NIC, 8, topology="fat-tree", nodes_per_leaf=2, oversubscription=4.0)
    ring = [cf.allreduce_time("ring", SIZE, f) for f in (flat, two, four)]
    assert ring[1] == pytest.approx(ring[0], rel=1e-9)  # 16·B uplink / 2 = 8·B carries 8 channels' crossings
    assert ring[2] > 1.5 * ring[0]
    direct = [cf.allreduce_time("direct", SIZE, f) for f in (flat, two)]
    assert direct[1] > 1.2 * direct[0]


def test_tree_depth_and_hops_without_protocol() -> None:
    """Without a protocol a tree's first byte crosses 2·((G−1) + ⌈log2 M⌉) hops of the route latency."""
    fabric = cf.Fabric(4, 8, cf.Link(1e-3, 1e15), cf.Link(1e-3, 1e15), 8)
    assert cf.allreduce_time("tree", 1.0, fabric) == pytest.approx(2 * (7 + math.ceil(math.log2(4))) * 1e-3, rel=1e-9)


# --- NCCL's per-channel throughput (tuning.cc perChMax*Bws, llMaxBws) ---------------------------


def _a100(nodes: int, nics: int = 4, protocol: str = "auto") -> cf.Fabric:
    return cf.Fabric(nodes, 8, NVLINK, NIC, nics, protocol=protocol, arch="ampere")


@pytest.mark.parametrize("nodes", [1, 2, 3])
@pytest.mark.parametrize("algorithm", ["ring", "tree"])
@pytest.mark.parametrize("protocol", ["Simple", "LL", "LL128"])
def test_engines_agree_under_nccls_per_channel_caps(nodes: int, algorithm: str, protocol: str) -> None:
    """The cap is one more resource per (rank, channel): analytic = fast, chunk within 1 %."""
    analytic, fast, chunk = _three_engines("allreduce", algorithm, _a100(nodes, protocol=protocol))
    assert analytic == pytest.approx(fast, rel=1e-12)
    assert abs(chunk / fast - 1) < 0.01


def _per_byte(op: str, algorithm: str, fabric: cf.Fabric, protocol: str) -> float:
    from dpsim.sim.cost import phase_cost

    schedule = collectives.build(op, algorithm, fabric.layout(), protocol)
    return phase_cost(schedule, Cluster.from_fabric(fabric)).seconds_per_byte


def test_two_node_a100_tree_streams_on_its_links_under_nccls_capped_estimate() -> None:
    """tuning.cc: tree busBw = min(links · 0.92, nChannels · 23.6 GB/s) on 2 Ampere nodes, algBw = busBw / 2 — NCCL's
    estimate, which ``topoGetAlgoInfo`` (enqueue.cc) reads only to choose; the kernel runs on every channel whatever
    the table, so the Simple tree's time is its links'.

    By hand, 2 nodes x 8 GPUs, 4 NICs of 24 GB/s, NVLink 240 GB/s. ncclGetDtree(2): tree 0 is node 1 → node 0, tree 1
    node 0 → node 1, S/2 each, reduced up and broadcast down, so each node sends S/2 + S/2 = S through its 4 NICs
    and receives S; Simple's wire share is 0.92 (busBw · .92): algBw = 4 · 24 · 0.92 = 88.32 GB/s. NVLink would
    allow 240 · 0.92 / 2 = 110.4 (each GPU sends every channel's S/4 up its chain and S/4 down: 2S). NCCL's estimate
    at 1 GiB (tree correction 1 there): latency + S / (4 · 23.6 / 2 GB/s). Without the GPU generation there is no
    cap: the same time, and the estimate is the links'.
    """
    from dpsim.sim.cost import phase_cost

    size = float(1 << 30)
    for fabric in (_a100(2), dataclasses.replace(_a100(2), arch="")):
        assert _per_byte("allreduce", "tree", fabric, "Simple") == pytest.approx(1 / (4 * 24e9 * 0.92), rel=1e-12)
    nvlink_bound = dataclasses.replace(_a100(2), inter=cf.Link(5e-6, 24e12))
    assert _per_byte("allreduce", "tree", nvlink_bound, "Simple") == pytest.approx(2 / (240e9 * 0.92), rel=1e-12)
    capped, free = (
        phase_cost(collectives.build("allreduce", "tree", f.layout(), "Simple"), Cluster.from_fabric(f))
        for f in (_a100(2), dataclasses.replace(_a100(2), arch=""))
    )
    assert capped.tuned(size) == pytest.approx(capped.latency_s + size * 2 / (4 * 23.6e9), rel=1e-12)
    assert free.tuned(size) == pytest.approx(free.latency_s + size / (4 * 24e9 * 0.92), rel=1e-12)


def test_ring_ll128_and_ll_are_capped_like_the_tuner() -> None:
    """Ring LL128: busBw = min(0.92 · 4 · 24, 4 · 20) GB/s (perChMaxRingLL128Bws, Ampere); ring LL on 3 Intel
    hosts: min(0.5 · 4 · 24, llMaxBw 20.4) GB/s. busBw = 2(N−1)/N · S / t."""
    n = 24
    factor = 2 * (n - 1) / n
    assert _per_byte("allreduce", "ring", _a100(3), "LL128") == pytest.approx(factor / 80e9, rel=1e-12)
    assert _per_byte("allreduce", "ring", _a100(3), "LL") == pytest.approx(factor / 20.4e9, rel=1e-12)
    one_node = _a100(1)  # one node: llMaxBw of the GPU (Ampere 87.7 GB/s); no per-channel cap on the ring
    assert _per_byte("allreduce", "ring", one_node, "LL") == pytest.approx(14 / 8 / 87.7e9, rel=1e-12)
    assert _per_byte("allreduce", "ring", one_node, "LL128") == pytest.approx(
        _per_byte("allreduce", "ring", dataclasses.replace(one_node, arch=""), "LL128"), rel=1e-12
    )


def test_auto_runs_the_ring_where_the_capped_tree_is_slower() -> None:
    """2 A100 nodes, 4 NICs: ring 4 · 24 GB/s beats the tree's 4 · 23.6 · 15/16; with 8 channels (8 NICs) of
    100 Gbit/s NICs (12 GB/s) the tree's halved network traffic wins again (NVIDIA/nccl#812)."""
    assert cf.collective("allreduce", "auto", 1 << 30, _a100(2)).algorithm == "ring"
    slow_nics = cf.Fabric(2, 8, NVLINK, cf.Link(5e-6, 12e9), 8, protocol="auto", arch="ampere")
    assert cf.collective("allreduce", "auto", 1 << 30, slow_nics).algorithm == "tree"


def test_the_chunk_level_takes_the_capped_time() -> None:
    """The chunk level runs the capped tree in the fast level's time, well above the uncapped tree's at 64 MB: the
    Simple tree's cap is the rate of a chunk crossing a hop alone (the pipeline's fill, ``Chunking.hop_Bps``)."""
    fabric = _a100(2, protocol="Simple")
    cluster = Cluster.from_fabric(fabric)
    joins = np.zeros(fabric.world_size)
    chunk = float(ChunkEngine(cluster, "tree", protocol="Simple").evaluate("allreduce", SIZE, joins).max())
    fast = float(FastEngine(cluster, "tree", "Simple").evaluate("allreduce", SIZE, joins).max())
    uncapped = Cluster.from_fabric(dataclasses.replace(fabric, arch=""))
    free = float(ChunkEngine(uncapped, "tree", protocol="Simple").evaluate("allreduce", SIZE, joins).max())
    assert chunk == pytest.approx(fast, rel=0.01) and chunk > 1.5 * free


def test_each_groups_channels_are_its_own_on_a_shared_fabric() -> None:
    """Two DP groups (tp=2) on 8 NICs run NCCL's capped tree on one network: each communicator has its own
    (rank, channel) engines, so all groups together give the one-group reduction's step (chunk level both;
    TP as the analytic term, since as flows its rings meet the tree's NVSwitch hops, which the reduction lacks)."""
    from dpsim.scenario import scenario_from_dict
    from dpsim.sim import simulate
    from dpsim.sim.shared import simulate_shared

    s = scenario_from_dict(
        {
            "name": "capped-tree",
            "model": {"preset": "gpt2-medium"},
            "cluster": {
                "nodes": 2,
                "workers_per_node": 8,
                "device": "a100-80gb",
                "inter_node": {"preset": "ib-hdr", "nics_per_node": 8},
            },
            "training": {"global_batch": 32, "micro_batch": 4, "tensor_parallel": 2},
            "communication": {"algorithm": "tree", "protocol": "Simple", "bucket": "25 MB", "overlap": False},
        }
    )
    reduced = simulate(s, fidelity="chunk")
    (shared,) = simulate_shared([s], tp_flows=False)
    assert shared.extra["shared_fabric"]["dp_groups"] == 2
    assert shared.comm_s == pytest.approx(reduced.comm_s, rel=1e-9)
    assert shared.step_time_s == pytest.approx(reduced.step_time_s, rel=1e-9)


# --- NCCL's channel count (search.cc ncclTopoCompute / ncclTopoDupChannels) ----------------------


@pytest.mark.parametrize(
    ("arch", "nic_gbps", "nics", "bw", "dup"),
    [
        ("ampere", 25.0, 4, 24.0, 1),  # HDR: min(25, PCIe Gen4 24) = 24 < 25, never copied
        ("ampere", 50.0, 8, 24.0, 1),  # NDR NIC behind the A100's Gen4 link: still 24
        ("volta", 12.5, 4, 12.0, 1),  # EDR, Gen3 12
        ("hopper", 25.0, 4, 24.0, 1),  # HDR on H100: sm90 array's 24
        ("hopper", 50.0, 8, 48.0, 1),  # DGX H100: 48 < 50 and 8 > 4 channels: not copied
        ("hopper", 50.0, 4, 48.0, 2),  # 4 x 400G: 4 channels of 48 are copied to 8
        ("hopper", 50.0, 2, 48.0, 2),
        ("blackwell", 100.0, 8, 48.0, 1),  # XDR NIC behind Gen5: sm100 array's 48, 8 > 4
    ],
)
def test_channel_duplication_follows_nccls_search(arch: str, nic_gbps: float, nics: int, bw: float, dup: int) -> None:
    """First pass: one channel per NIC at the fastest speed-array step within min(NIC, PCIe); copied when
    ≥ 25 GB/s unless compute capability > 8.0 with < 50 GB/s and > 4 channels (search.cc v2.30.7)."""
    from dpsim.sim.collectives.nccl import duplication, graph_bw_gbps

    layout = Layout(2, 8, nics, arch=arch, nic_gbps=nic_gbps)
    assert graph_bw_gbps(layout) == bw
    assert duplication(layout) == dup
    assert duplication(Layout(1, 8, nics, arch=arch, nic_gbps=nic_gbps)) == 1  # one node: no network search
    assert duplication(Layout(2, 8, nics, arch=arch)) == 1  # NIC rate unknown: as before


def _h100(nodes: int, nics: int, nic_gbps: float, nic_rate: float = 400e9, **kw: Any) -> cf.Fabric:
    nvlink = cf.Link(1e-6, 2000e9)  # links far above the caps, so the caps set the time
    nic = cf.Link(5e-6, nic_rate)
    return cf.Fabric(nodes, 8, nvlink, nic, nics, arch="hopper", nic_gbps=nic_gbps, **kw)


def test_the_tree_cap_counts_the_copied_channels() -> None:
    """2 H100 nodes, 4 NICs: NCCL's tree estimate is min(0.92 · nChannels · bwIntra, nChannels · perChMaxTreeBw (41.4))
    / 2 with nChannels 8 for 400G NICs (copied, 8 x 24 GB/s, bwIntra raised in pass 2 to 45: the next step, 48,
    would not fit 8 channels in an H100's 370.8 GB/s of NVLink) and 4 for HDR NICs (not copied, 4 x 24, bwIntra 48):
    min(331.2, 331.2) / 2 = 165.6 and min(176.64, 165.6) / 2 = 82.8 GB/s (4 channels' cap would halve the first).
    The time is the links' either way: each GPU sends 2S over its 2000 GB/s of NVLink (its chains up and down),
    2000 · 0.92 / 2 = 920 GB/s, under the NICs' 4 · 400 · 0.92; the engines agree with the copies too."""
    fast = _h100(2, 4, 50.0, protocol="Simple")
    hdr = _h100(2, 4, 25.0, protocol="Simple")
    for fabric, estimate in ((fast, 8 * 41.4e9 / 2), (hdr, 4 * 41.4e9 / 2)):
        schedule = collectives.build("allreduce", "tree", fabric.layout(), "Simple")
        assert schedule.tuner.model_Bps == pytest.approx(estimate, rel=1e-12)
        assert _per_byte("allreduce", "tree", fabric, "Simple") == pytest.approx(2 / (2000e9 * 0.92), rel=1e-12)
    analytic, fast_level, chunk = _three_engines("allreduce", "tree", fast)
    assert analytic == pytest.approx(fast_level, rel=1e-12)
    assert abs(chunk / fast_level - 1) < 0.01


@pytest.mark.parametrize(
    ("nodes", "per_node", "pcie", "arch", "pattern"),
    [
        (3, 8, 0, "hopper", "balanced"),  # a second GPU on each NIC's switch: NCCL's balanced tree
        (3, 8, 2, "hopper", "balanced"),
        (3, 8, 1, "hopper", "tree"),  # Hopper's "simpler tree" fallback (search.cc, ccMin >= 90)
        (3, 8, 1, "blackwell", "tree"),
        (3, 8, 1, "ampere", "balanced"),  # Ampere widens the path type instead: still balanced
        (1, 8, 1, "hopper", "balanced"),  # one node: no NIC in the tree
        (4, 1, 0, "ampere", "tree"),  # one GPU per node: ncclTopoCompute sets TREE (ngpus == 1)
    ],
)
def test_nccl_tree_pattern_follows_the_search(nodes: int, per_node: int, pcie: int, arch: str, pattern: str) -> None:
    assert Layout(nodes, per_node, 4, arch=arch, pcie_gpus_per_nic=pcie).tree_pattern == pattern


@pytest.mark.parametrize(
    ("nics", "nic_gbps", "nic_rate", "bound"),
    [(4, 50.0, 47e9, "links"), (8, 50.0, 47e9, "cap")],
)
def test_tree_pattern_costs_nccls_085_on_links_and_on_caps(
    nics: int, nic_gbps: float, nic_rate: float, bound: str
) -> None:
    """tuning.cc: tree busBw = min(links · 0.92, nChannels · perChMaxTreeBw) · 0.85 for a TREE-pattern graph.

    4 H100 nodes (ncclGetDtree(4) gives node 2 the children 1 and 3, so a TREE-pattern head reduces
    both with its chain: the 0.85 is timed). 4 x 400G NICs: 8 copied channels, 8 · 36 = 288 GB/s above
    the links, so the links bind; 8 NICs: 8 channels of 48 (not copied: Hopper, < 50, more than 4; 45 each to fit
    the NVLinks), the cap 8 · 36 binds NCCL's estimate: algBw = 8 · 36 · 0.85 / 2 = 122.4 GB/s by hand. The
    Simple tree streams on its links: node 2 of tree 0 receives S/2 from each child and S/2 from its parent and
    sends as much, and is a leaf of tree 1 (S/2 each way), so 2S cross its 8 NICs of 47 GB/s each way: algBw = 8 ·
    47 · 0.92 / 2 = 172.96 GB/s balanced, × 0.85 with the TREE pattern. Either way the TREE pattern
    (``pcie_gpus_per_nic: 1``) takes 1/0.85 the time per byte; the three engines agree.
    """
    balanced = _h100(4, nics, nic_gbps, nic_rate, protocol="Simple")
    pattern = dataclasses.replace(balanced, pcie_gpus_per_nic=1)
    assert pattern.layout().tree_pattern == "tree" and balanced.layout().tree_pattern == "balanced"
    slow, fast = _per_byte("allreduce", "tree", pattern, "Simple"), _per_byte("allreduce", "tree", balanced, "Simple")
    assert slow == pytest.approx(fast / TREE_PATTERN_EFFICIENCY, rel=1e-12)
    if bound == "cap":
        schedule = collectives.build("allreduce", "tree", pattern.layout(), "Simple")
        assert schedule.tuner.model_Bps == pytest.approx(8 * 36.0e9 * 0.85 / 2, rel=1e-12)
        assert slow == pytest.approx(2 / (8 * 47e9 * 0.92 * 0.85), rel=1e-12)
    else:
        assert fast > 2 / (8 * 36.0e9) * 1.05  # the links, not the cap
    analytic, fast_level, chunk = _three_engines("allreduce", "tree", pattern)
    assert analytic == pytest.approx(fast_level, rel=1e-12)
    assert abs(chunk / fast_level - 1) < 0.01


@pytest.mark.parametrize(("nranks", "forks"), [(1, False), (2, False), (3, False), (4, True), (5, True), (8, True)])
def test_dtree_forks_where_a_node_has_two_children(nranks: int, forks: bool) -> None:
    """ncclGetDtree by hand: 2 nodes, one edge a tree (1 → 0, 0 → 1); 3 nodes, chains 1 → 2 → 0 and
    2 → 0 → 1; 4 nodes, tree 0 = 1 → 2, 3 → 2, 2 → 0: node 2 has two children."""
    assert dtree_forks(nranks) is forks


@pytest.mark.parametrize(("nodes", "busiest", "estimate"), [(2, 1.0, 0.92 * 8 * 45 / 2), (3, 1.5, 8 * 36.0 / 2)])
def test_tree_pattern_is_the_estimates_alone_without_a_fork(nodes: int, busiest: float, estimate: float) -> None:
    """On 2 and 3 nodes both of NCCL's trees are chains: the TREE-pattern head (``pcie_gpus_per_nic: 1``)
    has one network peer on each side, as the balanced tree's GPUs do, so the two patterns run the same
    reduces: the time per byte is the balanced tree's, and NCCL's estimate keeps ×0.85 after its caps,
    ``tuned`` = latency + S / (algBw · 0.85) at 1 GiB (treeCorrectionFactor 1 there).

    By hand, 8 NICs of 47 GB/s a node: on 2 nodes each node sends S (S/2 a tree, up or down), on 3 the middle of
    chain 1 → 2 → 0 (node 2, a leaf of 2 → 0 → 1) sends S/2 up, S/2 down and S/2 as tree 1's leaf: 1.5S. Time per
    byte = busiest / (8 · 47e9 · 0.92). NCCL's estimate: 8 channels of 45 GB/s (48 would not fit the NVLinks), busBw
    min(0.92 · 8 · 45, 8 · perChMaxTreeBw) = 331.2 on 2 nodes (41.4 a channel: 331.2 too) and 288 on 3 (36), algBw
    half of it, × 0.85 for the TREE pattern.
    """
    from dpsim.sim.cost import phase_cost

    balanced = _h100(nodes, 8, 50.0, 47e9, protocol="Simple")
    pattern = dataclasses.replace(balanced, pcie_gpus_per_nic=1)
    assert pattern.layout().tree_pattern == "tree"
    per_byte = _per_byte("allreduce", "tree", balanced, "Simple")
    assert per_byte == pytest.approx(busiest / (8 * 47e9 * 0.92), rel=1e-12)
    assert _per_byte("allreduce", "tree", pattern, "Simple") == pytest.approx(per_byte, rel=1e-12)
    schedule = collectives.build("allreduce", "tree", pattern.layout(), "Simple")
    assert schedule.tuner.model_Bps == pytest.approx(estimate * 1e9 * TREE_PATTERN_EFFICIENCY, rel=1e-12)
    flat = collectives.build("allreduce", "tree", balanced.layout(), "Simple")
    assert flat.tuner.model_Bps == pytest.approx(estimate * 1e9, rel=1e-12)
    cost = phase_cost(schedule, Cluster.from_fabric(pattern))
    size = float(1 << 30)  # log2(2^30 >> 6) = 24: past treeCorrectionFactor's 23 entries, factor 1
    latency = schedule.tuner.model_latency_s
    assert cost.tuned(size) == pytest.approx(latency + size / (estimate * 1e9 * TREE_PATTERN_EFFICIENCY), rel=1e-12)
    analytic, fast_level, chunk = _three_engines("allreduce", "tree", pattern)
    assert analytic == pytest.approx(fast_level, rel=1e-12)
    assert abs(chunk / fast_level - 1) < 0.01


def test_one_gpu_two_node_tree_runs_at_its_ll128_cap_not_085_below() -> None:
    """nccl-tests#232's machine: 2 nodes of 1 H100, 4 x 400G. One search channel of 48 GB/s copied to 2
    (duplication), TREE pattern (one GPU). LL128: NCCL's busBw = min(0.92 · 120/128 · links, 2 · 36.7) · 0.85;
    dpsim times the cap without the 0.85 (2 nodes: no fork), algBw = 2 · 36.7 / 2 = 36.7 GB/s below the
    one NIC's 47 · 0.92 · 120/128 = 40.5, so the time per byte is 1 / 36.7e9 by hand."""
    nic = cf.Link(5e-6, 47e9)
    fabric = cf.Fabric(2, 1, cf.Link(1e-6, 2000e9), nic, 4, arch="hopper", nic_gbps=50.0, protocol="LL128")
    assert fabric.layout().tree_pattern == "tree"
    assert _per_byte("allreduce", "tree", fabric, "LL128") == pytest.approx(1 / 36.7e9, rel=1e-12)


def test_the_tree_pattern_is_a_scenario_fact() -> None:
    """``cluster.inter_node.pcie_gpus_per_nic`` reaches the collectives; more GPUs than the node has is an error."""
    from dpsim.analytic.step import fabric_of
    from dpsim.errors import ScenarioError
    from dpsim.scenario import scenario_from_dict

    base = {
        "model": {"preset": "gpt2-small"},
        "cluster": {
            "nodes": 5,
            "workers_per_node": 8,
            "device": "h100-sxm",
            "intra_node": "nvlink4",
            "inter_node": {"preset": "400gbe", "nics_per_node": 4, "pcie_gpus_per_nic": 1},
        },
        "training": {"global_batch": 40},
    }
    assert fabric_of(scenario_from_dict(base)).layout().tree_pattern == "tree"
    base["cluster"]["inter_node"]["pcie_gpus_per_nic"] = 9  # type: ignore[index]
    with pytest.raises(ScenarioError, match="pcie_gpus_per_nic"):
        scenario_from_dict(base)


@pytest.mark.parametrize(("nics", "per_node", "pcie", "ok"), [
    (2, 8, 5, False),  # hostile round 26's lead: two switches of 5 GPUs on an 8-GPU node
    (4, 8, 3, False),
    (4, 6, 4, False),
    (8, 8, 2, True),  # DGX A100: 2 GPUs and 2 NICs on each switch (more GPUs x NICs than workers)
    (16, 8, 1, True),  # OCI BM.GPU.H100.8's ports: 2 on each GPU's switch
    (2, 8, 4, True),
    (3, 6, 3, True),
])  # fmt: skip
def test_gpus_on_a_nic_switch_must_divide_the_node(nics: int, per_node: int, pcie: int, ok: bool) -> None:
    """``pcie_gpus_per_nic`` not dividing the node's workers is refused in one line naming it; the CLI exits 2."""
    import subprocess
    import sys

    link = f"{{preset: ib-hdr, nics_per_node: {nics}, pcie_gpus_per_nic: {pcie}}}"
    sets = [f"cluster.workers_per_node={per_node}", "cluster.nodes=2", f"cluster.inter_node={link}"]
    args = [sys.executable, "-m", "dpsim", "collective", "--size", "1MiB", *(a for s in sets for a in ("--set", s))]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if ok:
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 2 and not done.stdout
    line = done.stderr.strip()
    assert "\n" not in line and "pcie_gpus_per_nic" in line and "expected a divisor" in line, line


def _oci_scenario(**changes: Any) -> Any:
    """Two OCI BM.GPU.H100.8 nodes: 16 x 200G ports per node, on 8 dual-port cards (one a GPU)."""
    from dpsim.scenario import scenario_from_dict

    inter = {"preset": "ib-hdr", "nics_per_node": 16, "ports_per_nic": 2, **changes.pop("inter", {})}
    return scenario_from_dict(
        {
            "model": {"preset": "gpt2-small"},
            "cluster": {"nodes": 2, "workers_per_node": 8, "device": "h100-sxm", "intra_node": "nvlink4",
                        "inter_node": inter},
            "training": {"global_batch": 16},
            "communication": changes.pop("communication", {}),
        }
    )  # fmt: skip


def test_nic_fusion_makes_a_dual_port_card_one_nccl_device() -> None:
    """NCCL v2.20+ fuses a card's ports (net_ib.cc NCCL_IB_MERGE_NICS, topo.cc NCCL_NET_MERGE_LEVEL=PORT).

    Hand-computed: ib-hdr is 25 GB/s nominal at 24/25 achievable, so a fused 2-port device is 48 GB/s achieved,
    50 GB/s as NCCL reads its rate; 16 ports / 2 = 8 devices, one per GPU: 8 rail channels at
    min(50, PCIe 48) = 48 GB/s (not copied: Hopper, < 50 GB/s, > 4 channels) and 8 NVLS heads. Unfused (NCCL
    before v2.20): 16 devices of 24 GB/s, two channels a GPU, NVLS heads still one a GPU.
    """
    from dpsim.analytic.step import fabric_of
    from dpsim.sim.collectives.nccl import channels, duplication, graph_bw_gbps, nvls_heads

    fused = fabric_of(_oci_scenario())
    assert (fused.nics_per_node, fused.nic_gbps) == (8, 50.0)
    assert fused.inter.bandwidth == pytest.approx(48e9)
    layout = fused.layout()
    assert (channels(layout), duplication(layout), graph_bw_gbps(layout), nvls_heads(layout)) == (8, 1, 48.0, 8)
    apart = fabric_of(_oci_scenario(communication={"nccl_nic_fusion": False}))
    assert (apart.nics_per_node, apart.nic_gbps) == (16, 25.0)
    assert apart.inter.bandwidth == pytest.approx(24e9)
    assert (channels(apart.layout()), nvls_heads(apart.layout())) == (16, 8)
    single = fabric_of(_oci_scenario(inter={"ports_per_nic": 1}))  # 16 single-port cards: nothing to fuse
    assert (single.nics_per_node, single.nic_gbps) == (16, 25.0)


def test_nvls_tree_on_fused_devices_runs_at_its_per_head_cap() -> None:
    """NVLS-tree on 2 x 8 H100 with 8 fused 400G devices: the network carries 8 x 48 GB/s a node, S each way
    (bus bandwidth up to 2·15/16 · 384 = 720 GB/s), NVLS 370.8 · 0.85 / (1 + 1/8) = 280 GB/s algbw (525 bus),
    so perChMaxNVLSTreeBw binds: 8 heads x 57.7 = 461.6 GB/s bus bandwidth at 16 GiB in steady state, 69.79 ms.

    Past it the 66.8 us latency and NVLS-tree's chunked fill (calcCollChunking: 16 channels x 8 heads = 128 lanes of
    128 KiB on 2 nodes, a 16 MiB loop, 1024 loops): the first loop crosses the node's NVLS twice with every lane's
    chunk, each GPU's (1 + 1/8)/0.85 of it at the per-head cap's rate (1.3235 + 1/8 of S a GPU at 8 · 57.7 · 16/30
    GB/s of bus bandwidth: 356.6 GB/s): 16 MiB x 1.3235 / 356.6 GB/s = 62.27 us each, and the 2-node tree's two network
    steps, each head's 8 channels x 128 KiB = 1 MiB through its device at 48 GB/s: 21.85 us each; path 168.2 us, less
    the one loop the stream already counts (16 MiB x 30/16 / 461.6 GB/s = 68.15 us): 100.1 us."""
    from dpsim.analytic.step import fabric_of

    S = 16.0 * (1 << 30)
    choice = cf.collective("allreduce", "auto", S, fabric_of(_oci_scenario()), "auto")
    assert choice.algorithm == "nvls-tree"
    steady = S * 2 * 15 / 16 / (8 * 57.7e9)
    loop = 16.0 * (1 << 20)
    engine = (1.125 / 0.85 + 0.125) * 8 * 57.7e9 * 16 / 30
    fill = 2 * loop * 1.125 / 0.85 / engine + 2 * (1 << 20) / 48e9 - loop * 30 / 16 / (8 * 57.7e9)
    assert fill == pytest.approx(100.1e-6, rel=1e-3)
    assert choice.time_s == pytest.approx(steady + 66.8e-6 + fill, rel=2e-4)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_nvls_chunksize_sets_nvls_trees_fill(engine: str) -> None:
    """The same 16 GiB NVLS-tree all-reduce with ``NCCL_NVLS_CHUNKSIZE=524288`` (aws-ofi-nccl's p5 environment): NCCL
    2.30.7 starts from 512 KiB (``comm->nvlsChunkSize``), 2 nodes set no cap (``treeMaxChunkSize`` = the chunk) and
    16 GiB >= 32 · 128 lanes · 512 KiB = 2 GiB keeps it (``calcCollChunking``). So every term of the fill above is 4x:
    a 64 MiB loop through NVLS twice (249.1 us), two network steps of 8 channels x 512 KiB = 4 MiB at 48 GB/s
    (87.4 us), less the 64 MiB loop the stream counts (272.6 us): 400.4 us (was 100.1 us at 128 KiB). The steady
    stream and the 66.8 us latency are unchanged."""
    from dpsim.cli_collective import collective_rows

    S = 16.0 * (1 << 30)
    steady = S * 2 * 15 / 16 / (8 * 57.7e9)
    loop = 64.0 * (1 << 20)
    engine_Bps = (1.125 / 0.85 + 0.125) * 8 * 57.7e9 * 16 / 30
    fill = 2 * loop * 1.125 / 0.85 / engine_Bps + 2 * (4 << 20) / 48e9 - loop * 30 / 16 / (8 * 57.7e9)
    assert fill == pytest.approx(400.4e-6, rel=1e-3)
    scenario = _oci_scenario(communication={"nccl_nvls_chunksize": "512 KiB"})
    (row,) = collective_rows(scenario, "allreduce", [S], engine=engine)
    assert (row["algorithm"], row["protocol"]) == ("nvls-tree", "Simple")
    assert row["time_s"] == pytest.approx(steady + 66.8e-6 + fill, rel=2e-4)
    capped = _oci_scenario(communication={"nccl_nvls_chunksize": "512 KiB", "nccl_nvlstree_max_chunksize": "128 KiB"})
    (default,) = collective_rows(_oci_scenario(), "allreduce", [S], engine=engine)
    (back,) = collective_rows(capped, "allreduce", [S], engine=engine)
    assert back["time_s"] == default["time_s"]  # capped at NCCL's own 128 KiB: the same schedule to the bit


def test_ports_per_nic_must_split_the_ports_evenly() -> None:
    from dpsim.errors import ScenarioError

    with pytest.raises(ScenarioError, match="ports_per_nic: 3 ports a NIC for 16 ports"):
        _oci_scenario(inter={"ports_per_nic": 3})
    with pytest.raises(ScenarioError, match="ports_per_nic: 2 ports a NIC for 24 ports"):
        _oci_scenario(inter={"nics_per_node": 24, "ports_per_nic": 2})  # 12 fused devices on 8 GPUs
    from dpsim.analytic.step import fabric_of

    assert fabric_of(_oci_scenario(inter={"nics_per_node": 8, "ports_per_nic": 2})).nics_per_node == 4


def test_ports_per_nic_bad_input_is_one_line_exit_2(tmp_path: Any) -> None:
    import hostile

    (tmp_path / "s.yaml").write_text(
        "model: {preset: gpt2-small}\n"
        "cluster: {nodes: 2, workers_per_node: 8, device: h100-sxm, intra_node: nvlink4,\n"
        "  inter_node: {preset: ib-hdr, nics_per_node: 16, ports_per_nic: 5}}\n"
        "training: {global_batch: 16}\n"
    )
    code, _, err = hostile.run_in_process(["check", str(tmp_path / "s.yaml")])
    assert code == 2 and "ports_per_nic" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    (tmp_path / "s.yaml").write_text(
        "model: {preset: gpt2-small}\ncluster: {device: h100-sxm}\ntraining: {global_batch: 1}\n"
        "communication: {nccl_nic_fusion: maybe}\n"
    )
    code, _, err = hostile.run_in_process(["check", str(tmp_path / "s.yaml")])
    assert code == 2 and "nccl_nic_fusion" in err and len(err.strip().splitlines()) == 1, err


# --- PXN (paths.cc: a GPU's sends through the GPU on its NIC's PCIe switch) -----------------------


def _pxn_fabric(pcie: int, nics: int = 4, host_Bps: float = 24e9, nic_Bps: float = 47e9, **kw: Any) -> cf.Fabric:
    return cf.Fabric(
        2, 8, NVLINK, cf.Link(5e-6, nic_Bps), nics, host=cf.Link(2e-6, host_Bps), pcie_gpus_per_nic=pcie, **kw
    )


def _route_names(cluster: Cluster, src: int, dst: int) -> list[str]:
    links, _ = cluster.routes(np.array([src]), np.array([dst]))
    return [cluster.links.names[i] for i in links[0] if i >= 0]


def test_pxn_sends_through_the_nics_gpu_and_receives_directly() -> None:
    """paths.cc (v2.12+, NCCL_PXN_DISABLE=0): with one GPU on each NIC's PCIe switch, GPU 1 of a 4-NIC node
    reaches NIC 0 over NVLink to GPU 0 and GPU 0's PCIe link; receives keep the receiver's own link (PXN is
    set "in the GPU->NIC direction" only); GPU 0 sends directly. Two GPUs on each switch, a NIC per GPU,
    PCIe inside the node or no host link: no relay."""
    relayed = Cluster.from_fabric(_pxn_fabric(1))
    assert relayed.pxn_relay.tolist() == [0, 0, 2, 2, 4, 4, 6, 6]
    assert _route_names(relayed, 1, 8) == [
        "worker1.port:up",
        "worker0.port:down",
        "worker0.pcie:up",
        "node0.nic0:up",
        "node1.nic0:down",
        "worker8.pcie:down",
    ]
    assert _route_names(relayed, 0, 9) == ["worker0.pcie:up", "node0.nic0:up", "node1.nic0:down", "worker9.pcie:down"]
    direct = ["worker1.pcie:up", "node0.nic0:up", "node1.nic0:down", "worker8.pcie:down"]
    assert _route_names(Cluster.from_fabric(_pxn_fabric(0)), 1, 8) == direct
    for fabric in (_pxn_fabric(0), _pxn_fabric(1, nics=8), _pxn_fabric(1, intra_hw="pci")):
        assert Cluster.from_fabric(fabric).pxn_relay.tolist() == list(range(8))
    no_host = dataclasses.replace(_pxn_fabric(1), host=None)
    assert Cluster.from_fabric(no_host).pxn_relay.tolist() == list(range(8))


@pytest.mark.parametrize(("host_Bps", "relayed_per_byte"), [(24e9, 2 / 24e9), (48e9, 2 / 47e9)])
def test_pxn_shares_the_relays_pcie_link_between_the_nics_gpus(host_Bps: float, relayed_per_byte: float) -> None:
    """Every GPU of node 0 sends S to its peer on node 1 at once (8 one-GPU-per-node groups): NIC n carries
    GPUs 2n and 2n+1, 2S at 47 GB/s. Without relays each GPU's own PCIe link carries S; with PXN GPU 2n's
    PCIe link carries 2S: at 24 GB/s (an A100's Gen4 behind a 400G NIC) it binds, 2/24 vs 2/47 ns per byte
    by hand; at 48 GB/s (Gen5) the NIC still binds and PXN changes nothing."""
    from dpsim.sim.collectives.base import Phase, Schedule
    from dpsim.sim.cost import phase_cost

    local = np.arange(8)
    schedule = Schedule("pairs", 16, (Phase.of(local, local + 8, 1.0),))
    direct = phase_cost(schedule, Cluster.from_fabric(_pxn_fabric(0, host_Bps=host_Bps)))
    relayed = phase_cost(schedule, Cluster.from_fabric(_pxn_fabric(1, host_Bps=host_Bps)))
    assert direct.seconds_per_byte == pytest.approx(2 / 47e9, rel=1e-12)
    assert relayed.seconds_per_byte == pytest.approx(relayed_per_byte, rel=1e-12)


def _pxn_job(tp: int, nics: int = 4, pp: int = 1, host: dict[str, str] | None = None) -> Any:
    from dpsim.scenario import scenario_from_dict

    cluster: dict[str, Any] = {
        "nodes": 2 * pp,
        "workers_per_node": 8,
        "device": "a100-80gb",
        "intra_node": "nvlink3",
        "inter_node": {"preset": "400gbe", "nics_per_node": nics, "pcie_gpus_per_nic": 1},
    }
    if host:
        cluster["host_link"] = host
    return scenario_from_dict(
        {
            "model": {"preset": "gpt2-medium"},
            "cluster": cluster,
            "training": {"global_batch": 64, "tensor_parallel": tp, "pipeline_parallel": pp},
        }
    )


def test_pxn_needs_the_relay_in_the_communicator() -> None:
    """paths.cc looks for the NIC's GPU among the communicator's GPUs of the node (topo.cc keeps only
    those): a whole-node communicator relays; a DP group of a tensor-parallel job (Megatron order, TP
    innermost) relays only through the NICs' GPUs it holds. 4 NICs, TP 2: GPUs 0,2,4,6 are the NICs' GPUs
    themselves and 1,3,5,7 hold none: no group relays. 2 NICs (GPUs 0 and 4), TP 2: by hand, whole node
    0,0,0,0,4,4,4,4; in its own communicator GPU 2 keeps 0 and 6 keeps 4, the odd GPUs send themselves:
    0,1,0,3,4,5,4,7; the group 0,2,4,6 renumbered: 0,0,2,2 (the odd group: 0,1,2,3; the even one is priced).
    The shared fabric gives each GPU its own group's relay with TP alone; none with stage pairs."""
    from dpsim.analytic.step import dp_fabric, fabric_of
    from dpsim.sim.shared import shared_fabric

    relays = [0, 0, 2, 2, 4, 4, 6, 6]
    assert Cluster.from_fabric(fabric_of(_pxn_job(1))).pxn_relay.tolist() == relays
    assert Cluster.from_fabric(dp_fabric(_pxn_job(1))).pxn_relay.tolist() == relays
    for tp, per_node in ((2, 4), (8, 1)):
        group = dp_fabric(_pxn_job(tp))
        assert group.per_node == per_node
        assert Cluster.from_fabric(group).pxn_relay.tolist() == list(range(per_node))
    group = dp_fabric(_pxn_job(2, nics=2))
    assert (group.per_node, group.nics_per_node, group.relays) == (4, 1, (0, 0, 2, 2))
    assert Cluster.from_fabric(group).pxn_relay.tolist() == [0, 0, 2, 2]
    assert dp_fabric(_pxn_job(4, nics=1)).relays == (0, 0)  # GPUs 0 and 4, both on NIC 0 behind GPU 0
    assert Cluster.from_fabric(shared_fabric([_pxn_job(1), _pxn_job(1)])).pxn_relay.tolist() == relays
    assert shared_fabric([_pxn_job(1), _pxn_job(2)]).relays == tuple(range(8))
    assert shared_fabric([_pxn_job(2, nics=2)]).relays == (0, 1, 0, 3, 4, 5, 4, 7)
    assert shared_fabric([_pxn_job(2, nics=4)]).relays == tuple(range(8))
    assert shared_fabric([_pxn_job(2, nics=2, pp=2)]).relays == tuple(range(8))


def test_pxn_in_a_dp_group_loads_its_relays_pcie_link() -> None:
    """2 NICs, TP 2, Gen3-class host links (12 GB/s): every member of the DP group 0,2,4,6 on node 0 sends S
    to its peer on node 1 at once. The group's NIC share carries 4 S (its 2 NICs also carry the odd group's),
    GPU 0's and GPU 4's PCIe links 2 S each with PXN: by hand max(4/nic, 2/12 GB/s) per byte, where
    without relays (each GPU's own link carries S) it was max(4/nic, 1/12 GB/s) = 4/nic. The route of GPU 2
    (group rank 1): NVLink to GPU 0, its PCIe link, NIC 0; and both engines price the group's step alike."""
    from dpsim.analytic.step import dp_fabric
    from dpsim.sim.collectives.base import Phase, Schedule
    from dpsim.sim.cost import phase_cost

    group = dp_fabric(_pxn_job(2, nics=2, host={"bandwidth": "12 GB/s", "latency": "1 us"}))
    assert group.relays == (0, 0, 2, 2) and group.host is not None and group.host.bandwidth == pytest.approx(12e9)
    nic = group.inter.bandwidth
    cluster = Cluster.from_fabric(group)
    assert _route_names(cluster, 1, 5) == [
        "worker1.port:up", "worker0.port:down", "worker0.pcie:up", "node0.nic0:up", "node1.nic0:down",
        "worker5.pcie:down",
    ]  # fmt: skip
    local = np.arange(4)
    schedule = Schedule("pairs", 8, (Phase.of(local, local + 4, 1.0),))
    relayed = phase_cost(schedule, cluster).seconds_per_byte
    direct = phase_cost(schedule, Cluster.from_fabric(dataclasses.replace(group, relays=(0, 1, 2, 3))))
    assert relayed == pytest.approx(max(4 / nic, 2 / 12e9), rel=1e-12)
    assert direct.seconds_per_byte == pytest.approx(max(4 / nic, 1 / 12e9), rel=1e-12)
    assert relayed > direct.seconds_per_byte
    # NCCL's ring and tree leave each node from one member (its send lands on the relay's idle PCIe up-link);
    # a rank-ordered all-to-all sends from every member: the engines price the relays alike
    unrelayed = _three_engines("allreduce", "direct", dataclasses.replace(group, relays=(0, 1, 2, 3)))
    for algorithm in ("ring", "tree", "direct"):
        analytic, fast, chunk = _three_engines("allreduce", algorithm, group)
        assert analytic == pytest.approx(fast, rel=1e-12) and abs(chunk / fast - 1) < 0.01, algorithm
    assert analytic > 1.2 * unrelayed[0]


def test_pxn_leaves_nccls_ring_and_tree_as_they_are() -> None:
    """NCCL's channels enter each node at their NIC's GPU and leave from the GPU before it (search.cc): with
    PXN only the leaving send is relayed, onto the NIC's GPU's otherwise idle PCIe up-link, so every PCIe
    link still carries one channel a direction and the 5-node H100 ring (4 x 400G, Gen5) is unchanged; the
    tree leaves from its heads (the NICs' GPUs) and differs only by the TREE pattern's 1/0.85. The three
    engines agree on the relayed ring."""
    nvlink, nic, host = cf.Link(1e-6, 370.8e9), cf.Link(5e-6, 47e9), cf.Link(2e-6, 48.01e9)
    fabrics = {
        pcie: cf.Fabric(5, 8, nvlink, nic, 4, host=host, pcie_gpus_per_nic=pcie, arch="hopper", nic_gbps=50.0)
        for pcie in (0, 1)
    }
    assert Cluster.from_fabric(fabrics[1]).pxn_relay.tolist() == [0, 0, 2, 2, 4, 4, 6, 6]
    ring = {pcie: _per_byte("allreduce", "ring", f, "Simple") for pcie, f in fabrics.items()}
    tree = {pcie: _per_byte("allreduce", "tree", f, "Simple") for pcie, f in fabrics.items()}
    assert ring[1] == pytest.approx(ring[0], rel=1e-12)
    assert tree[1] == pytest.approx(tree[0] / TREE_PATTERN_EFFICIENCY, rel=1e-12)
    analytic, fast, chunk = _three_engines("allreduce", "ring", dataclasses.replace(fabrics[1], protocol="Simple"))
    assert analytic == pytest.approx(fast, rel=1e-12)
    assert abs(chunk / fast - 1) < 0.01


def test_ring_ll128_cap_counts_the_copied_channels() -> None:
    """Ring LL128 on 3 H100 nodes: busBw = min(0.92 · links, nChannels · 36.7); 4 x 400G: 8 channels."""
    n = 24
    factor = 2 * (n - 1) / n
    fabric = _h100(3, 4, 50.0, protocol="LL128")
    assert _per_byte("allreduce", "ring", fabric, "LL128") == pytest.approx(factor / (8 * 36.7e9), rel=1e-12)


@pytest.mark.parametrize(("nodes", "cap"), [(2, 57.7), (3, 45.5)])
def test_nvls_tree_runs_at_nccls_per_channel_cap(nodes: int, cap: float) -> None:
    """tuning.cc: NVLS-tree busBw = nChannels · min(intra, inter, perChMaxNVLSTreeBw), Hopper 57.7 / 45.5 GB/s
    on 2 / ≥3 nodes, over the 8 heads; busBw = 2(N−1)/N · S / t. The three engines agree."""
    fabric = _h100(nodes, 8, 50.0, nvls=True, protocol="Simple")
    n = 8 * nodes
    per_byte = _per_byte("allreduce", "nvls-tree", fabric, "Simple")
    assert per_byte == pytest.approx(2 * (n - 1) / n / (8 * cap * 1e9), rel=1e-12)
    free = _per_byte("allreduce", "nvls-tree", dataclasses.replace(fabric, arch=""), "Simple")
    assert free < 0.9 * per_byte
    analytic, fast, chunk = _three_engines("allreduce", "nvls-tree", fabric)
    assert analytic == pytest.approx(fast, rel=1e-12)
    assert abs(chunk / fast - 1) < 0.01


# --- published nccl-tests results ----------------------------------------------------------------


def _published() -> list[Any]:
    module = load_benchmark("nccl_tests_table")
    return [(module, run) for run in module.ROWS]


KNOWN_MISSES = {
    "A100 x8, 2 nodes, 2x HDR (tree)": (
        "NVIDIA/nccl#837 ran with NCCL_ALGO unset (kubeflow MPIJob, 2 x 8 A100 80GB, 2 IB cards of 200 Gb/s, "
        "-b 4M -e 1024M; 53.95 GB/s on v2.9.9, 57.06 on v2.10.3, 7.05 from v2.11.4) and posts no graph log; "
        "57 is above the 2 NICs' ring ceiling (48), so NCCL ran the tree, which dpsim, forced, streams on its links "
        "(80.4 at 1 GiB; 54.7 averaged over the run's 4 MiB-1 GiB sweep, whose 'Avg bus bandwidth' is the one figure "
        "nccl-tests prints for a sweep, against 37.7 with NCCL's per-channel cap as the time). "
        "v2.10.3's code on that machine as stated picks the ring "
        "(test_nccl_2_10_3_runs_the_ring_on_two_a100_nodes_with_two_hdr_nics: 2 channels of 24, ring algBw "
        "25.6 > tree 23.6): its tuner prefers the tree only if the ring's channels carry <= 22 GB/s, i.e. a "
        "GPU->NIC path narrower than the HDR port, which the thread does not state"
    ),
    "RTX PRO 6000 x8, PCIe, 2x Turin": (
        "+64 % (36.5 vs 22.2 GB/s at 32 MiB; +88 % with the GPUs' links at NCCL's 48, +102 % before SHM's extra "
        "step): NCCL's ring search on that node (test_nccl_host.py, by hand) finds no ring (AMD_BW 16 under "
        "sm100SpeedArrayIntra's lowest step, 18) and falls back to one rank-order channel at 0.1 GB/s, doubled to 2 "
        "channels of 256 threads, every hop SHM; the GPUs' links carry the 41.5 GB/s Gen5 rings reach (the socket "
        "link at dual Turin's measured 49.71 a way), 14/15 of it with SHM's receive-only step: what 2 channels move "
        "(11.1 GB/s each here, 37.6 on 8 channels) is a per-channel rate no cited measurement gives. A second dual "
        "Turin node with the same fallback graph moves as little (held-out p2pmark row, 8 GPUs two a Broadcom switch, "
        "half its hops P2P: 21.6 GB/s at 32 MiB, dpsim 36.5), so at that size it is the fallback's channels, not the "
        "SHM hops or socket link alone; no source gives their rate apart from these rows"
    ),
    "RTX PRO 6000 x4, PCIe switches": (
        "+13.5 % (34.4 vs 30.3 GB/s; +31 % with the links at NCCL's 48, +52 % before SHM's extra step): NCCL's graph "
        "is 2 rings x 24 GB/s (4 channels of 512 threads), hops 0->1 and 2->3 P2P in a switch, 1->2 and 3->0 SHM "
        "through the CPU; each link carries one ring edge a way at the 41.5 GB/s Gen5 rings reach (40.1 at 32 MiB), "
        "and the SHM edges' receive-only step makes 7 steps of 6 (34.4). The rest is not modelled: the page "
        "measures P2P, and host-memory writes only by copy engine: GPUs 0-3 writing NUMA 0's pinned memory move "
        "56.3 GB/s in all, 28.1 each for two GPUs on separate uplinks (rtx6kpro 7cdbda8, troubleshooting/"
        "asus-esc8000a-e13p-pex890xx-bug-report.md). That would hold busbw to at most 28.1 (a ring's busbw is the "
        "bytes each edge sends over the time), under the run's 30.3: not what NCCL's stores meet"
    ),
    "H200 x8, 248 nodes, 8x NDR": (
        "nccl-tests#283 gives a rough figure, 'typically around 350G', 'occasionally dropping below 300G' (512 MiB on "
        "1984 H200, NCCL_ALGO unset, release not stated); dpsim 295.5 (-15.6 %) since NVLS-tree's chunked fill: "
        "NCCL cuts it into 16 channels x 8 heads of 64 KiB chunks on >= 4 nodes (enqueue.cc calcCollChunking, "
        "v2.19.3-v2.30.7; 256 KiB before v2.19.3), and runNvlsTree forwards each chunk whole, so the first loop "
        "crosses the node's NVLS twice (38.7 us each) and ncclGetDtree(248)'s 16 network steps (height 8 up to the "
        "root's one child and back; 14 x 22.3 us with two children's 8 channels through one NIC, 2 x 11.2 us at the "
        "root): 0.37 ms of 3.63 ms, on 2.95 ms of NIC-bound stream (364 GB/s alone) and NCCL's 14-step latency. "
        "The same fill brings the 2- and 4-node sweeps' mid sizes within 10 % (held out 23 -> 29 of 74); no source "
        "measures a deep NVLS-tree at mid sizes to tell the fill's depth apart from this row's rough figure"
    ),
    "RTX 2080 Ti x2, Gen3 switch, no P2P, all_gather": (
        "-21 % (3.00 vs 3.79 GB/s at 1 GiB): the all_reduce row's graph and hops (1 x 6 GB/s, 2 SHM channels); "
        "each channel sends its chunk, then reads its peer's from host memory (2 steps, not 1), both GPUs at once "
        "on the uplink's 12 GB/s: 3.0 if the two channels stay in step, up to 6.0 if one sends while the other "
        "receives; the run's 3.79 lies between, and nothing cited says how the channels drift"
    ),
}


def test_nccl_2_10_3_runs_the_ring_on_two_a100_nodes_with_two_hdr_nics() -> None:
    """NVIDIA/nccl#837's machine (2 x 8 A100, 2 HDR NICs a node, NCCL 2.10.3, NCCL_ALGO unset) through v2.10.3's code.

    search.cc: maxWidth = min(HDR 25, Gen4 PCIe 24), speedArrayInter's first step within it is 24:
    one channel per NIC, 2 channels; speedIntra 24 < 25, not copied. The tree graph (init.cc:
    maxChannels = the ring's 2) raises speedIntra in pass 2, 24 → 30 → 48 (it stops at twice
    speedInter); min(2·2, 2) channels, not copied. tuning.cc reads speedIntra on ≤ 2 nodes: ring
    busBw 2·24 = 48, algBw 48·16/30 = 25.6 GB/s; tree busBw min(0.92·2·48, 2·23.6) = 47.2, algBw
    23.6 — the ring (its LL128, min(0.92·48, 2·20) = 40, is slower still). dpsim builds the same two
    channels and estimates the same, and picks the ring. The tuner prefers the tree only when the ring's
    channels carry ≤ 22 GB/s (2·s·16/30 < 23.6): with 100 Gb/s NICs (12 GB/s channels) both pick the tree.
    Forced, the tree streams on its links, not at the estimate's 23.6: each node sends S through its 2 HDR
    ports (25 GB/s at the catalog's 0.96), algBw 2 · 25 · 0.96 · 0.92 = 44.16 GB/s, nccl-tests busbw × 30/16 =
    82.8 (NVLink would allow 240 · 0.92 / 2 = 110.4); at 16 GiB the chunked fill adds 0.2 %. The ring: 2 · 24.
    """
    from dpsim.cli_collective import collective_rows
    from dpsim.sim.collectives.nccl import channels, duplication, graph_bw_gbps, tuner_model

    module = _published()[0][0]
    (run,) = [r for r in module.ROWS if r.name == "A100 x8, 2 nodes, 2x HDR (tree)"]
    layout = Layout(2, 8, 2, arch="ampere", nic_gbps=25.0)
    assert (graph_bw_gbps(layout), channels(layout), duplication(layout)) == (24.0, 2, 1)
    tree_algbw = 0.5 * min(0.92 * 2 * 48.0, 2 * 23.6)  # tuning.cc, v2.10.3
    assert tuner_model("allreduce", "tree", "Simple", layout)[1] == pytest.approx(tree_algbw * 1e9, rel=1e-12)  # type: ignore[index]
    assert tuner_model("allreduce", "ring", "Simple", layout)[1] == pytest.approx(48e9 * 16 / 30, rel=1e-12)  # type: ignore[index]

    def busbw(inter: str, algorithm: str, size: float = run.size_bytes) -> tuple[str, float]:
        scenario = module.scenario_for(dataclasses.replace(run, inter=inter, algorithm=algorithm))
        row = collective_rows(scenario, "allreduce", [size])[0]
        return row["algorithm"], row["busbw_Bps"] / 1e9

    assert busbw("ib-hdr", "tree", 16 * run.size_bytes)[1] == pytest.approx(2 * 25 * 0.96 * 0.92 * 30 / 16, rel=5e-3)
    assert busbw("ib-hdr", "ring")[1] == pytest.approx(2 * 24.0, rel=5e-3)
    assert busbw("ib-hdr", "auto")[0] == "ring"
    assert busbw("100gbe", "auto")[0] == "tree"


def _node_out_bytes(schedule: Any, g: int) -> np.ndarray:
    """Bytes (in units of S) each node sends to other nodes over the whole schedule."""
    out = np.zeros(schedule.ranks // g)
    for phase in schedule.phases:
        cross = phase.src // g != phase.dst // g
        np.add.at(out, phase.src[cross] // g, phase.fraction[cross] * phase.repeat)
    return out


def test_a_ring_leaving_by_pxn_is_bound_by_each_gpus_nvlink_port() -> None:
    """One GPU on each NIC's PCIe switch, a NIC a GPU: NCCL's ring leaves a node through the NIC it came in by, via
    PXN (``search.cc`` widens ``typeInter`` to ``PATH_PXN`` before ``crossNic``; ``paths.cc`` routes the last GPU
    over NVLink into that NIC's GPU). By hand, 2 nodes x 8 GPUs, 8 NICs of 32 GB/s, NVLink 240 GB/s, all-reduce
    busbw = 2(N-1)/N S / t: each rail channel's node exit carries 2(N-1)/N of S/8, so the NICs allow 8 x 32 = 256;
    every GPU sends one NVLink transfer per channel and step (7 ring edges and the PXN hop of 8), so NVLink allows
    240. Without PXN (two GPUs a NIC switch, or NCCL_PXN_DISABLE=1) one edge in eight leaves by the NIC, NVLink
    would allow 240 x 8/7 = 274 and the NICs bind (256). The NICs carry the same bytes either way."""
    factor = 2 * 15 / 16
    base = cf.Fabric(2, 8, NVLINK, cf.Link(5e-6, 32e9), nics_per_node=8, host=cf.Link(2e-6, 48e9), protocol="none")
    pxn = dataclasses.replace(base, pcie_gpus_per_nic=1)
    assert _per_byte("allreduce", "ring", base, "none") == pytest.approx(factor / (8 * 32e9), rel=1e-12)
    assert _per_byte("allreduce", "ring", pxn, "none") == pytest.approx(factor / 240e9, rel=1e-12)
    off = dataclasses.replace(pxn, nccl_pxn_disable=True)
    assert _per_byte("allreduce", "ring", off, "none") == pytest.approx(factor / (8 * 32e9), rel=1e-12)
    nic_bytes = [_node_out_bytes(collectives.build("allreduce", "ring", f.layout(), "none"), 8) for f in (base, pxn)]
    assert nic_bytes[1] == pytest.approx(nic_bytes[0], rel=1e-12)
    for fabric in (pxn, dataclasses.replace(pxn, protocol="Simple")):
        for op in ("allreduce", "all_gather", "broadcast"):
            analytic, fast, chunk = _three_engines(op, "ring", fabric)
            assert analytic == pytest.approx(fast, rel=1e-12)
            assert abs(chunk / fast - 1) < 0.01


def test_channels_and_nvls_heads_stop_at_nccls_limits_on_a_72_gpu_node() -> None:
    """NCCL's ring (and tree) search builds at most ``MAXCHANNELS / 2`` = 32 channels (``init.cc``:
    ``ringGraph->maxChannels``; ``treeGraph->maxChannels = ringGraph->nChannels``), and its NVLS search at most
    ``NCCL_MAX_NVLS_ARITY`` = 32 heads (``search.cc``: ``maxChannels = min(NCCL_MAX_NVLS_ARITY, nGPUs)``). On a GB200
    NVL72 the GPUs' NVLinks bind the ring first: 16 channels of 45.1 GB/s on the default release (16 x 45.1 =
    721.6 <= 18 x 40.1; ``test_ring_search_builds_nccls_own_graphs``), while the NVLS heads stop at 32. By hand,
    2 nodes x 64 GPUs, 64 NICs of 4 GB/s, NVLink 240 GB/s (no generation: no search): a ring's busbw on 2 nodes is
    its rails' summed rate, 32 x 4 = 128 GB/s (64 rails would give 256, above what NVLink allows, 240 x 64/63), so
    the all-reduce's seconds a byte are 2(N-1)/N / 128e9."""
    from dpsim.sim.collectives.nccl import channels, nvls_heads

    nvl72 = Layout(2, 72, 72, nvls=True, arch="blackwell", nic_gbps=50.0)
    assert (channels(nvl72), nvls_heads(nvl72)) == (16, 32)
    small = Layout(2, 8, 8, nvls=True, arch="blackwell", nic_gbps=50.0)
    assert (channels(small), nvls_heads(small)) == (8, 8)
    fabric = cf.Fabric(2, 64, NVLINK, cf.Link(5e-6, 4e9), nics_per_node=64, protocol="none")
    assert _per_byte("allreduce", "ring", fabric, "none") == pytest.approx(2 * 127 / 128 / (32 * 4e9), rel=1e-12)


@pytest.mark.parametrize(
    ("per_node", "version", "graph"),
    [
        (72, "2.25.1", (15, 48.0)),  # 15 x 48 = 720: no faster step fits 72 GPUs' NVLinks
        (72, "2.26.2", (15, 48.0)),  # = totalBw 18 x 40.0: done
        (72, "2.27.3", (16, 45.0)),  # 15 x 47.9 = 718.5 < 720, then 16 x 45 = 720
        (72, "2.28.3", (16, 45.1)),  # 16 x 45.1 = 721.6, the most under 18 x 40.1
        (8, "2.26.2", (8, 48.0)),  # a NIC a channel; 16 x 24 = 384 only ties 8 x 48
        (8, "2.27.3", (16, 24.0)),  # 8 x 47.9 = 383.2 < 16 x 24 = 384: two channels a NIC
        (8, "2.28.3", (8, 48.0)),
        (4, "2.25.1", (8, 24.0)),  # 4 x 48 copied to 8 x 24 (ncclTopoDupChannels: 4 channels or fewer)
        (4, "2.27.3", (8, 24.0)),  # 8 x 24 = 192 > 4 x 47.9 found by the search itself, not copied (24 < 25)
        (4, "2.28.3", (8, 24.0)),
    ],
)
def test_ring_search_builds_nccls_own_graphs(per_node: int, version: str, graph: tuple[int, float]) -> None:
    """Blackwell nodes of ``per_node`` GPUs on one NVSwitch domain with a 400G NIC a GPU: the ring graph
    (``nChannels``, ``bwInter``) NCCL's own ``ncclTopoCompute`` builds, compiled from each release's ``src/graph``
    without a GPU (``benchmarks/nccl_search``, ``topology.py 18 / 2 / 1`` trays: GB200 NVL72, NVL8, NVL4; the HGX
    B200 topology gives the 8-GPU graphs too). The search starts at the release's first speed within the NIC path
    (48), stops once ``nChannels x bw`` reaches a GPU's NVLinks, else steps down while the next speed is above .49
    of the best, keeping only a larger ``nChannels x bw``."""
    from dpsim.sim.collectives.nccl import channels, duplication, tuner_graph

    layout = Layout(3, per_node, per_node, arch="blackwell", nic_gbps=50.0, nccl_version=version)
    built = tuner_graph("ring", layout)
    assert built is not None and built[:2] == graph
    assert channels(layout) * duplication(layout) == graph[0]
    assert channels(layout) == min(graph[0], per_node)  # the NICs the channels leave by


_HARNESS_GRAPHS = {  # benchmarks/nccl_search's harness: ring, tree, NVLS (nChannels, bwIntra, bwInter)
    ("hopper", 8, 50.0, "2.26.2"): ((8, 48.0, 48.0), (8, 48.0, 48.0), (8, 40.0, 48.0)),  # topology.py --hgx
    ("hopper", 8, 25.0, "2.27.3"): ((8, 24.0, 24.0), (8, 48.0, 24.0), (8, 24.0, 24.0)),  # --hgx --gbps 200
    ("blackwell", 8, 50.0, "2.26.2"): ((8, 48.0, 48.0), (8, 48.0, 48.0), (8, 48.0, 48.0)),  # HGX B200, NVL8
    ("blackwell", 8, 50.0, "2.28.3"): ((8, 48.0, 48.0), (8, 96.0, 48.0), (8, 48.0, 48.0)),
    ("blackwell", 8, 25.0, "2.27.3"): ((8, 24.0, 24.0), (8, 47.9, 24.0), (8, 24.0, 24.0)),  # HGX B200, 200G
    ("blackwell", 4, 50.0, "2.27.3"): ((8, 24.0, 24.0), (8, 47.9, 24.0), (4, 47.9, 47.9)),  # NVL4
    ("blackwell", 72, 50.0, "2.26.2"): ((15, 48.0, 48.0), (15, 48.0, 48.0), (32, 20.0, 40.0)),  # NVL72
    ("blackwell", 72, 50.0, "2.27.3"): ((16, 45.0, 45.0), (16, 45.0, 45.0), (32, 20.0, 40.0)),
    ("blackwell", 72, 50.0, "2.28.3"): ((16, 45.1, 45.1), (16, 45.1, 45.1), (32, 20.0, 40.0)),
}


@pytest.mark.parametrize(("machine", "graphs"), list(_HARNESS_GRAPHS.items()), ids=str)
def test_two_node_graphs_are_nccls_own_search(
    machine: tuple[str, int, float, str], graphs: tuple[tuple[int, float, float], ...]
) -> None:
    """NCCL's estimate on 2 nodes reads the ring, tree and NVLS graphs (``bwIntra`` on 2 nodes): dpsim's equal what
    each release's own ``ncclTopoCompute`` builds on that node (the harness, ``OUT/harness FILE HOSTS``), the tree's
    second pass raising ``bwIntra`` (HGX B200 on v2.28.3: 96) and the NVLS heads' speeds included. One case differs
    and is left out: the GB200 NVL8 tree on v2.27.3, whose second pass the harness stops at 45 (dpsim 47.9, as on
    the HGX B200 file), a tray detail dpsim does not lay out; its rings and NVLS match."""
    from dpsim.sim.collectives.nccl import tuner_graph

    arch, per_node, gbps, version = machine
    layout = Layout(2, per_node, per_node, nvls=True, arch=arch, nic_gbps=gbps, nccl_version=version)
    assert tuple(tuner_graph(a, layout) for a in ("ring", "tree", "nvls-tree")) == graphs


@pytest.mark.parametrize(("version", "rails"), [("2.26.2", 15), ("2.27.3", 16)])
def test_an_nvl72_rack_leaves_by_the_nics_its_channels_fill(version: str, rails: int) -> None:
    """Two NVL72 racks, a ring all-reduce: only the NICs of NCCL's 15 (v2.26.2) or 16 (v2.27.3: "Increase to 16
    the number of NICs used to communicate between MNNVL domains on GB200 systems") channels carry it, each
    2(N-1)/N / k of the message each way (one channel a NIC, two node crossings a ring: 2(N-1) steps of S/(kN))."""
    load = _nic_bytes("ring", 72, Layout(2, 72, 72, arch="blackwell", nic_gbps=50.0, nccl_version=version))
    used = load[load > 0]
    assert len(used) == rails
    assert used == pytest.approx(np.full(rails, 2 * 143 / 144 / rails), rel=1e-12)


def test_five_node_tree_moves_the_rings_bytes_through_each_nic() -> None:
    """The 5-node H100 tree row (NVIDIA/nccl#1368): links cannot tell the forced tree from the ring.

    By hand from ``ncclGetDtree(5)``: tree 0 is 0<-4<-2<-{1,3}, tree 1 its shift 1<-0<-3<-{2,4};
    each tree carries S/2 up and down every edge. Node 2 is interior in tree 0 (parent + 2
    children) and a leaf in tree 1, so it sends 3 x S/2 + S/2 = 2S, node 3 likewise; node 1
    (leaf of tree 0, root of tree 1 with one child) sends S; nodes 0 and 4 1.5S. The 40-rank
    ring sends 2(N-1)/N S = 1.95S from every node. Every rail
    channel's head carries both trees, on its own NIC (connect.cc: channels c and c+nChannels).
    """
    from dpsim.sim.collectives.nccl import nccl_ring, nccl_tree

    layout = Layout(5, 8, 4, nvls=True, arch="hopper", nic_gbps=50.0)
    first, second = dtree_parents(5)
    assert first.tolist() == [-1, 2, 4, 2, 0] and second.tolist() == [1, -1, 3, 0, 3]
    tree = _node_out_bytes(nccl_tree(layout, "none"), 8)
    ring = _node_out_bytes(nccl_ring("allreduce", layout, "none"), 8)
    assert tree.tolist() == pytest.approx([1.5, 1.0, 2.0, 2.0, 1.5])
    assert ring == pytest.approx(np.full(5, 2 * 39 / 40))
    phase = nccl_tree(layout, "none").phases[0]
    cross = phase.src // 8 != phase.dst // 8
    assert sorted(set((phase.src[cross] % 8).tolist())) == [0, 2, 4, 6]  # the heads: one per NIC
    assert np.all(phase.channel[cross] == phase.src[cross] % 8 // 2)  # rail channel c leaves on NIC c


@pytest.mark.parametrize(
    ("module", "run"),
    [
        pytest.param(
            *entry, id=entry[1].name, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[entry[1].name])]
        )
        if entry[1].name in KNOWN_MISSES
        else pytest.param(*entry, id=entry[1].name)
        for entry in _published()
    ],
)
def test_published_nccl_tests_busbw_within_10_percent(module: Any, run: Any) -> None:
    """benchmarks/nccl_tests_table.py: dpsim's busbw within 10 % of each published all_reduce_perf figure."""
    assert abs(module.predict(run)["error"]) < 0.10


# --- achievable link rates --------------------------------------------------------------------


def test_every_catalog_link_has_a_sourced_efficiency_and_the_engines_use_the_achievable_rate() -> None:
    from dpsim.analytic.step import fabric_of
    from dpsim.catalog import LINKS
    from dpsim.scenario import scenario_from_dict

    for link in LINKS.values():
        assert 0 < link.efficiency <= 1 and link.efficiency_source
        assert link.achievable == pytest.approx(link.bandwidth * link.efficiency, rel=1e-12)
    base = {
        "model": {"preset": "gpt2-small"},
        "cluster": {"nodes": 2, "workers_per_node": 8, "device": "a100-80gb", "intra_node": "nvlink3"},
        "training": {"global_batch": 16},
    }
    preset = scenario_from_dict({**base, "cluster": {**base["cluster"], "inter_node": {"preset": "ib-ndr"}}})
    assert fabric_of(preset).inter.bandwidth == pytest.approx(47e9, rel=1e-12)  # 400 Gbit/s x 0.94
    assert fabric_of(preset).intra.bandwidth == pytest.approx(240e9, rel=1e-12)  # 12 x 20.0 GB/s (NCCL topo.h)
    assert preset.cluster.inter_node.bandwidth == pytest.approx(50e9)  # the nominal rate stays visible
    explicit = scenario_from_dict(
        {**base, "cluster": {**base["cluster"], "inter_node": {"preset": "ib-ndr", "bandwidth": "100 Gbit/s"}}}
    )
    assert fabric_of(explicit).inter.bandwidth == pytest.approx(12.5e9)  # a rate given explicitly is taken as achieved


def test_efa_v1_achieves_what_awss_own_p4d_ring_moved_per_device() -> None:
    """aws-samples/aws-efa-eks (README at 9933d7f3): 2 x p4d.24xlarge, 4 EFA a node, NCCL_ALGO=RING, all_reduce
    4 GiB busbw 43.81 GB/s. A ring over 2 nodes sends 2(N-1)/N of S/4 through each of a node's 4 rails each
    way, so its busbw is 4 x the per-device rate: the catalog's EFA v1 rate is 43.81 / 4 = 10.95 GB/s. Both
    engines price the ring over the p4d scenario at that closed form (within the 16 latency-bound steps'
    share, < 0.5 % at 4 GiB), and the 1 GiB figure of the same run (42.48, not the one the rate came from)
    within 3 %."""
    from dpsim.catalog import LINKS
    from dpsim.cli_collective import collective_rows, machine_scenario

    assert LINKS["efa"].achievable == pytest.approx(43.81e9 / 4, rel=1e-12)
    assert LINKS["efa"].bandwidth == pytest.approx(12.5e9)  # the nominal 100 Gbit/s stays visible
    scenario = machine_scenario("p4d", 2, 8, "a100-40gb", "nvlink3", {"preset": "efa", "nics_per_node": 4}, "ring")
    for engine in ("analytic", "sim"):
        big, small = collective_rows(scenario, "allreduce", [4.0 * (1 << 30), float(1 << 30)], engine=engine)
        assert big["busbw_Bps"] == pytest.approx(4 * LINKS["efa"].achievable, rel=5e-3)
        assert big["busbw_Bps"] < 4 * LINKS["efa"].achievable
        assert abs(small["busbw_Bps"] / 42.48e9 - 1) < 0.03


@pytest.mark.parametrize("op", ["allreduce", "reduce_scatter", "all_gather", "broadcast"])
@pytest.mark.parametrize("algorithm", NCCL)
@pytest.mark.parametrize(
    ("nodes", "per_node", "nics"), [(1, 8, 1), (3, 8, 4), (5, 4, 4), (4, 1, 1), (3, 4, 8), (2, 1, 4)]
)
def test_nccl_schedules_conserve_bytes(op: str, algorithm: str, nodes: int, per_node: int, nics: int) -> None:
    """Every byte sent is received, every transfer is between distinct ranks, for every candidate."""
    layout = Layout(nodes, per_node, nics, nvls=per_node > 1)
    if op == "allreduce" and algorithm.startswith("nvls") and per_node == 1:
        with pytest.raises(ValueError, match="NVLink-SHARP"):  # no node switch to reduce in
            collectives.candidates(op, algorithm, layout, "auto")
        return
    for schedule in collectives.candidates(op, algorithm, layout, "auto"):
        assert schedule.bytes_sent(SIZE).sum() == pytest.approx(schedule.bytes_received(SIZE).sum(), rel=1e-12)
        for phase in schedule.phases:
            assert np.all(phase.src != phase.dst) and phase.src.max() < layout.world


# --- more NICs than GPUs: NCCL's search worked by hand (search.cc, topo.cc, v2.21.5 and v2.30.7) -------------


def test_oci_h100_16_ports_give_16_channels_two_per_gpu() -> None:
    """8 H100, 16 x 200G: speed = sm90SpeedArrayInter's first step within min(25, PCIe Gen5 48) = 24; each
    channel takes 24 off its NIC (25) and off its GPU's PCIe link (48) each way, so a GPU carries 48 // 24 = 2
    channels, one per NIC of its switch: 16 channels; 24 < 25, not copied (ncclTopoDupChannels). Channel c starts
    at local rank c // 2 and uses that GPU's NIC c mod 2."""
    from dpsim.sim.collectives.nccl import channels, channels_per_gpu, duplication, graph_bw_gbps, nic_slots

    layout = Layout(2, 8, 16, arch="hopper", nic_gbps=25.0)
    assert (graph_bw_gbps(layout), channels_per_gpu(layout), channels(layout), duplication(layout)) == (24.0, 2, 16, 1)
    assert nic_slots(layout, 16).tolist() == [0, 1] * 8
    assert collectives.nccl.ring_orders(layout)[:, 0].tolist() == [c // 2 for c in range(16)]


def test_one_h100_per_node_with_four_400g_nics_has_one_channel_on_one_nic() -> None:
    """nccl-tests#232's machine (1 H100 a node, 4 x 400G): speed min(50, 48) -> 48, one channel fills the GPU's
    PCIe link both ways; at 24 two channels give the same 48, which ncclTopoCompareGraphs does not prefer. The one
    channel is copied to 2 (48 >= 25), on the same NIC: NCCL uses one of the four NICs, as dpsim did."""
    from dpsim.sim.collectives.nccl import channels, channels_per_gpu, duplication, graph_bw_gbps

    layout = Layout(2, 1, 4, arch="hopper", nic_gbps=50.0)
    assert (graph_bw_gbps(layout), channels_per_gpu(layout), channels(layout), duplication(layout)) == (48.0, 1, 1, 2)


def test_one_a100_per_node_with_four_100g_nics_uses_two() -> None:
    """Pre-Hopper speedArrayInter within min(12.5, Gen4 24) is 12: 24 // 12 = 2 channels, on NICs 0 and 1; 4 x 100G
    unknown-generation NICs: one channel per NIC."""
    from dpsim.sim.collectives.nccl import channels, nic_slots

    layout = Layout(2, 1, 4, arch="ampere", nic_gbps=12.5)
    assert channels(layout) == 2 and nic_slots(layout, 2).tolist() == [0, 1]
    assert channels(Layout(2, 1, 4)) == 4
    assert channels(Layout(2, 8, 64)) == collectives.nccl.MAX_RING_CHANNELS == 32  # ringGraph->maxChannels


def _nic_bytes(algorithm: str, nics: int, layout: Layout | None = None) -> np.ndarray:
    """Bytes (per message byte) each NIC of node 0 sends in one all-reduce on ``layout`` (2 nodes x 8 GPUs)."""
    layout = layout or Layout(2, 8, nics, nvls=True)
    cluster = Cluster(2, layout.per_node, NVLINK, NIC, nics, nvls=layout.nvls)
    out = np.zeros(nics)
    for phase in collectives.build("allreduce", algorithm, layout, "Simple").phases:
        links, _ = cluster.routes(phase.src, phase.dst, phase.nic)
        for n in range(nics):
            hit = (links == cluster.topology.nic_up[0, n]).any(axis=1)
            out[n] += phase.repeat * phase.fraction[hit].sum()
    return out


def test_ring_and_tree_load_all_16_nics_evenly_nvls_tree_the_first_of_each_gpu() -> None:
    """Ring and tree: one channel per NIC, so every NIC of a node carries 1/16 of what crosses it. NVLS-tree: one
    head per GPU on one NIC (search.cc skips a second head on a GPU), so NICs 0, 2, ..., 14 carry it all."""
    for algorithm in ("ring", "tree"):
        load = _nic_bytes(algorithm, 16)
        assert load.min() > 0 and load.max() == pytest.approx(load.min(), rel=1e-12), algorithm
    nvls = _nic_bytes("nvls-tree", 16)
    assert (nvls[1::2] == 0).all() and nvls[0::2].min() > 0
    assert nvls[0::2].min() == pytest.approx(nvls[0::2].max(), rel=1e-12)


def test_a_step_lasts_its_longest_transfer_not_the_two_maxima_added() -> None:
    """Ring, no protocol, 2 x 8 GPUs, 16 NICs of 24 GB/s (5 us), PCIe 48 GB/s to them, NVLink 240 GB/s (1 us). Per
    step (S/256 a channel): a GPU sends 14 channels on NVLink, 14·S/256 / 240e9 after 1 us; a crossing transfer
    has its NIC and (two channels on one GPU's PCIe link at twice the rate) the same S/256 / 24e9, after 5 us.
    30 steps of max(1 us + 14·S/(256·240e9), 5 us + S/(256·24e9)) — not 5 us + 14·S/(256·240e9)."""
    fabric = cf.Fabric(2, 8, NVLINK, NIC, 16, host=cf.Link(2e-6, 48e9), protocol="none")
    for size in (1e6, SIZE):
        step = max(1e-6 + 14 * size / (256 * 240e9), 5e-6 + size / (256 * 24e9))
        assert cf.allreduce_time("ring", size, fabric) == pytest.approx(30 * step, rel=1e-9)
        analytic, fast, chunk = _three_engines("allreduce", "ring", fabric, size)
        assert analytic == pytest.approx(fast, rel=1e-12) and abs(chunk / fast - 1) < 0.01


def test_tree_estimate_across_three_nodes_is_nccls_bwinter_model() -> None:
    """3 x p4d (A100, 4 x 100G EFA): NCCL's search gives 4 channels of 12 GB/s (Ampere speedArrayInter, the
    100G port under Gen4's 24); on > 2 nodes the tuner's tree busBw = min(0.92 · 4 · 12, 4 · 17.8) = 44.16 GB/s,
    algBw ×0.5 = 22.08 GB/s (tuning.cc), under the ring's 4 · 12 · 24/46 = 25.0: NCCL runs the ring. dpsim's
    links give the double binary tree 55.2 GB/s busbw there (less through a node's NICs than the ring), and it
    picked the tree; the estimate now caps it, so auto runs the ring on 3 nodes and still the tree on 2."""
    from dpsim.analytic.step import calibrated_fabric
    from dpsim.calibration import profile_for
    from dpsim.cli_collective import collective_rows, machine_scenario
    from dpsim.sim.collectives.nccl import tuner_model

    def scenario(nodes: int, algorithm: str = "auto") -> Any:
        inter = {"preset": "efa", "nics_per_node": 4}
        return machine_scenario("p4d", nodes, 8, "a100-40gb", "nvlink3", inter, algorithm)

    def layout(nodes: int) -> Layout:
        return calibrated_fabric(scenario(nodes), profile_for(scenario(nodes))).layout()

    model = tuner_model("allreduce", "tree", "Simple", layout(3))
    assert model is not None and model[1] == pytest.approx(22.08e9, rel=1e-9)
    size = float(1 << 30)
    three = collective_rows(scenario(3), "allreduce", [size])[0]
    assert (three["algorithm"], three["protocol"]) == ("ring", "Simple")
    forced = collective_rows(scenario(3, "tree"), "allreduce", [size])[0]
    assert forced["busbw_Bps"] > three["busbw_Bps"]  # the links alone would favour the tree
    assert collective_rows(scenario(2), "allreduce", [size])[0]["algorithm"] == "tree"


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_one_node_nvls_fills_its_scatter_switch_gather_pipeline(engine: str) -> None:
    """8 H100 on one NVSwitch (NVLink 4, 450 GB/s x 20.6/25 = 370.8 GB/s achievable), NVLS on NCCL 2.30.7. The stream
    is t = 25 µs + (9/8)·S / (0.85 · 370.8 GB/s) (489.9 GB/s busbw at 8 GiB before the fill). ``runNvls`` moves each
    channel's loop through scatter, in-switch reduce and gather, one whole loop a stage (``calcCollChunking``: 16
    channels x 8 heads x 128 KiB = 16 MiB at 8 GiB; 32 KiB, a 4 MiB loop, at 16 MiB), the copies at the stream's rate:
    the first loop crosses 3 stages, the stream counts 1, so the fill is 2 loops at the stream's rate: 119.8 µs at
    8 GiB (busbw 488.0; nccl-tests#347 measured 479.4), 29.94 µs at 16 MiB."""
    from dpsim.cli_collective import collective_rows, machine_scenario

    scenario = machine_scenario("h100", 1, 8, "h100-sxm", "nvlink4", {"preset": "ib-ndr", "nics_per_node": 8})
    per_byte = 1.125 / (0.85 * 450e9 * 20.6 / 25.0)
    for size, loop, fill_us in ((8.0 * (1 << 30), 16.0 * (1 << 20), 119.8), (16.0 * (1 << 20), 4.0 * (1 << 20), 29.94)):
        (row,) = collective_rows(scenario, "allreduce", [size], engine=engine)
        assert (row["algorithm"], row["protocol"]) == ("nvls", "Simple")
        assert 2 * loop * per_byte == pytest.approx(fill_us * 1e-6, rel=1e-3)
        assert row["time_s"] == pytest.approx(25e-6 + size * per_byte + 2 * loop * per_byte, rel=1e-9)
    (row,) = collective_rows(scenario, "allreduce", [8.0 * (1 << 30)], engine=engine)
    assert row["busbw_Bps"] / 1e9 == pytest.approx(488.0, abs=0.05)


def test_a_cluster_carries_every_setting_of_its_fabric() -> None:
    """``Cluster.from_fabric`` takes each field the two share by name (``cluster._FABRIC_FIELDS``), where it wrote out
    27 of them one by one (a new NCCL setting added to both could be left out and run at its default). Every shared
    field set away from its default on the fabric arrives on the cluster; the topology is built from its name, the
    degraded NICs are ``degraded``."""
    from dpsim.sim.cluster import _FABRIC_FIELDS

    fabric = cf.Fabric(2, 8, NVLINK, NIC)
    changed: dict[str, Any] = {
        "nodes": 3, "per_node": 4, "intra": cf.Link(2e-6, 100e9), "inter": cf.Link(7e-6, 12e9), "nics_per_node": 2,
        "nvls": True, "intra_hw": "pci", "protocol": "Simple", "arch": "hopper", "rank_order": tuple(range(11, -1, -1)),
        "nic_gbps": 25.0, "host": cf.Link(1e-6, 50e9), "pcie_gpus_per_nic": 1, "nic_c2c": True,
        "nccl_algo": ("ring",), "nccl_proto": ("Simple",), "nccl_buffsize": 8.0 * 2**20,
        "nccl_nvls_chunksize": 65536.0, "nccl_nvlstree_max_chunksize": 131072.0, "nccl_version": "2.19.3",
        "nccl_tuner": "aws-ofi-nccl", "nccl_tuner_platform": "p4d", "nccl_net_latency_s": 2e-5, "relays": (1, 0, 3, 2),
        "nccl_pxn_disable": True, "intra_topology": "hybrid-cube-mesh", "amd_host": True,
        "host_topology": cf.HostTopology(sockets=2, gpus_per_switch=2, inter_cpu_bandwidth=20e9),
    }  # fmt: skip
    shared = {f.name for f in dataclasses.fields(Cluster)} & {f.name for f in dataclasses.fields(cf.Fabric)}
    assert set(changed) == shared - {"topology"} == set(_FABRIC_FIELDS)  # a new shared field needs a value here
    for name, value in changed.items():
        assert getattr(fabric, name) != value, name  # each away from its default
    fabric = dataclasses.replace(fabric, **changed, topology="fat-tree", nodes_per_leaf=2, degraded_nics=((1, 0.5),))
    cluster = Cluster.from_fabric(fabric)
    for name, value in changed.items():
        assert getattr(cluster, name) == value, name
    assert type(cluster.topology).__name__ == "FatTreeTopology" and dict(cluster.degraded) == {1: 0.5}
