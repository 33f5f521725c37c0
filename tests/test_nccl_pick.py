"""``algorithm: auto`` picks by NCCL's own closed-form estimate (``ncclTopoTuneModel``, ``src/graph/tuning.cc``).

Every expected figure is NCCL's formula worked by hand on the graphs NCCL's search builds for the layout
(``src/graph/search.cc`` v2.30.7): H100 (``sm90SpeedArrayInter`` 48, 45, 42, 40, …; 18 NVLinks × 20.6 = 370.8 GB/s
a GPU, ``topo.h`` ``SM90_NVLINK_BW``) with 8 NDR NICs (50 GB/s, the GPU's PCIe Gen5 48), and A100 (``speedArrayInter``
48, 30, 28, 24, …; 12 × 20.0 = 240) with 4 HDR NICs (25 GB/s). v2.30.7's tables: ring base (LL, LL128, Simple)
6.6 / 14 / 8.4 µs, tree 6.8 / 14 / 8.4, NVLS-tree 0; NVLink steps ring 0.6 / 1.9 / 3.4, tree 0.6 / 1.25 / 4.0,
NVLS-tree Simple 25; network steps ring 2.7 / 4.0 / 14, tree 5.0 / 8.5 / 14, NVLS-tree Simple 20.9; Hopper
``perChMaxTreeBws`` 38.7 / 41.4 / 36.0, ``perChMaxNVLSTreeBws`` 57.7 / 45.5 on 2 / ≥ 3 nodes, ``nvlsEfficiency``
0.85; Ampere ``perChMaxTreeBws`` 24.0 / 23.6 / 17.8.
"""

from __future__ import annotations

import dataclasses

import pytest

from dpsim.cli_collective import collective_rows, machine_scenario
from dpsim.sim.collectives.base import Layout
from dpsim.sim.collectives.nccl import tuner_graph, tuner_model

US = 1e-6
GB = 1e9
GiB = float(1 << 30)


def _h100(nodes: int) -> Layout:
    return Layout(nodes, 8, nics=8, nvls=True, arch="hopper", nic_gbps=50.0)


def _a100(nodes: int) -> Layout:
    return Layout(nodes, 8, nics=4, arch="ampere", nic_gbps=25.0)


def test_graphs_as_nccl_s_search_builds_them() -> None:
    # ring: each of the 8 channels crosses the NVLink port of the 7 GPUs it does not leave the node at, 7 x 48 = 336
    # of a GPU's 370.8 GB/s: 8 x 48 (NCCL's own search, benchmarks/nccl_search on an HGX H100, v2.26.2 to v2.28.3);
    # 48 < 50 on Hopper with > 4 channels: not copied. No step of sm90SpeedArrayInter above 48: the tree stays at 48.
    assert tuner_graph("ring", _h100(2)) == (8, 48.0, 48.0)
    assert tuner_graph("tree", _h100(2)) == (8, 48.0, 48.0)
    # NVLS: (8 heads + 1) x 40 = 360 <= 370.8 < 9 x 42; pass 2 raises bwInter 40 -> 42 -> 45 -> 48 (the NIC path)
    assert tuner_graph("nvls-tree", _h100(2)) == (8, 40.0, 48.0)
    # A100, 4 HDR: 4 channels at 24; the tree's bwIntra 24 -> 28 -> 30 -> 48 (= 2 x bwInter; 4 x 48 <= 240)
    assert tuner_graph("ring", _a100(2)) == (4, 24.0, 24.0)
    assert tuner_graph("tree", _a100(2)) == (4, 48.0, 24.0)
    assert tuner_graph("tree", _a100(3)) == (4, 24.0, 24.0)  # beyond two nodes the tree reads bwInter: no raise


def test_channels_cross_the_nvlink_of_the_gpus_they_pass_and_each_release_searches_its_own_speeds() -> None:
    """``ncclTopoCompute`` (``src/graph/search.cc``) as ``benchmarks/nccl_search`` runs it on one HGX node with a 400G
    (or 200G) NIC a GPU on PCIe Gen5 (maxBw 48 / 25): ring, tree and their speeds per release."""
    # 200G NICs: 8 x 24; the tree's second pass raises bwIntra 24 -> 30 -> 40 -> 42 -> 45 -> 48 (= 2 x bwInter), 7 x 48
    # = 336 <= 370.8 (v2.26.2 and v2.28.3 both print tree bwIntra 48 bwInter 24)
    h100_200g = Layout(2, 8, nics=8, nvls=True, arch="hopper", nic_gbps=25.0)
    assert tuner_graph("ring", h100_200g) == (8, 24.0, 24.0)
    assert tuner_graph("tree", h100_200g) == (8, 48.0, 24.0)

    def b200(version: str) -> Layout:  # 18 NVLinks x 40.1 = 721.8 GB/s a GPU
        return Layout(2, 8, nics=8, nvls=True, arch="blackwell", nic_gbps=50.0, nccl_version=version)

    # v2.26.2: sm100SpeedArrayInter is sm90's (48 first): nothing above 48 to raise the tree to (the harness: 8 x 48/48)
    assert tuner_graph("tree", b200("2.26.2")) == (8, 48.0, 48.0)
    # v2.28.3: 96, 48, 45.1, ...: the tree's bwIntra 48 -> 96 (= 2 x 48; 7 x 96 = 672 <= 721.8; the harness: 96 / 48)
    assert tuner_graph("tree", b200("2.28.3")) == (8, 96.0, 48.0)
    # v2.30.7: 96, 86, 80, 48, ...: 48 -> 80 -> 86 -> 96, each within 721.8 / 7
    assert tuner_graph("tree", b200("2.30.7")) == (8, 96.0, 48.0)


def test_no_graph_where_dpsim_does_not_derive_it() -> None:
    assert tuner_graph("ring", _h100(1)) is None  # one node: NCCL's intra-node search is not modelled
    assert tuner_graph("ring", Layout(2, 8, nics=8, arch="hopper")) is None  # NIC rate unknown
    assert tuner_model("reduce_scatter", "tree", "Simple", _h100(2)) is None  # NCCL runs its halves on rings
    assert tuner_model("broadcast", "ring", "Simple", _h100(2)) is None  # the chain's price is its estimate
    assert tuner_model("allreduce", "ring", "none", _h100(2)) is None  # the textbook α-β ring


@pytest.mark.parametrize(
    ("layout", "algorithm", "protocol", "latency_us", "algbw_gbps"),
    [
        # 2 x 8 H100: ring 8.4 + 28 x max(3.4, 3 x 1.0) + 2 x 14; 8 x 48 x 16/30
        (_h100(2), "ring", "Simple", 8.4 + 28 * 3.4 + 2 * 14, 8 * 48 * 16 / 30),
        # ring LL: 6.6 + 28 x max(0.6, 1.0) + 2 x 2.7; min(llMaxBw 2 nodes Intel row 39.0, 384 x .5) x 16/30
        (_h100(2), "ring", "LL", 6.6 + 28 * 1.0 + 2 * 2.7, 39.0 * 16 / 30),
        # tree: 8.4 + 2 (7 x 4.0 + 1 x 14); min(8 x 48 x .92, 8 x 41.4) x .5
        (_h100(2), "tree", "Simple", 8.4 + 2 * (7 * 4.0 + 14), min(8 * 48 * 0.92, 8 * 41.4) * 0.5),
        # NVLS-tree: 25 + 2 x 1 x 20.9; 8 x min(40 x .85 x 7/8 x 2, 48 x 2, 57.7) x 16/30
        (_h100(2), "nvls-tree", "Simple", 25 + 2 * 20.9, 8 * min(40 * 0.85 * 7 / 8 * 2, 96, 57.7) * 16 / 30),
        # 4 x 8 H100: ring 8.4 + 56 x 3.4 + 6 x 14; 8 x 48 x 32/62
        (_h100(4), "ring", "Simple", 8.4 + 56 * 3.4 + 6 * 14, 384 * 32 / 62),
        # NVLS-tree: 25 + 2 x 2 x 20.9; 8 x min(59.5, 48, 45.5) x 32/62
        (_h100(4), "nvls-tree", "Simple", 25 + 4 * 20.9, 8 * 45.5 * 32 / 62),
        # 2 x 8 A100, 4 HDR: ring 4 x 24 x 16/30; tree min(4 x 48 x .92, 4 x 23.6) x .5
        (_a100(2), "ring", "Simple", 8.4 + 28 * 3.4 + 2 * 14, 4 * 24 * 16 / 30),
        (_a100(2), "tree", "Simple", 8.4 + 2 * (7 * 4.0 + 14), min(4 * 48 * 0.92, 4 * 23.6) * 0.5),
    ],
)
def test_nccl_s_estimate_by_hand(
    layout: Layout, algorithm: str, protocol: str, latency_us: float, algbw_gbps: float
) -> None:
    model = tuner_model("allreduce", algorithm, protocol, layout)
    assert model is not None
    assert model[0] == pytest.approx(latency_us * US)
    assert model[1] == pytest.approx(algbw_gbps * GB)


def _dgx1(nodes: int) -> Layout:
    """DGX-1V: 8 V100 on a hybrid cube mesh of NVLinks, 4 EDR NICs (12.5 GB/s; the GPU's PCIe Gen3 link 12)."""
    return Layout(nodes, 8, nics=4, arch="volta", nic_gbps=12.5, intra_topology="hybrid-cube-mesh")


def _pcie(nodes: int) -> Layout:
    """4 A100 PCIe a node, every ring edge through host memory (SHM), one HDR NIC (25 GB/s; PCIe Gen4 24)."""
    return Layout(nodes, 4, nics=1, intra_hw="pci", arch="ampere", nic_gbps=25.0, shm_edges=(True,) * 4,
                  host_topology=True)  # fmt: skip


def test_beyond_two_nodes_nccl_s_estimate_reads_the_search_s_speed_across_nodes_alone() -> None:
    """``ncclTopoTuneModel`` takes ``bw = nNodes <= 2 ? bwIntra : bwInter``: beyond two nodes its estimate needs only
    the inter-node search's channels and speed, whatever joins a node's GPUs; on one or two nodes of a hybrid cube
    mesh or PCIe GPUs it needs the intra-node search, which dpsim does not derive for the pick."""
    # DGX-1V: speedArrayInter's first step within min(12.5, 12) is 12; min(4 NICs, 8 GPUs) channels; 12 < 25: not
    # copied
    assert tuner_graph("ring", _dgx1(4)) == tuner_graph("tree", _dgx1(4)) == (4, 12.0, 12.0)
    assert tuner_graph("ring", _pcie(3)) == tuner_graph("tree", _pcie(3)) == (1, 24.0, 24.0)
    assert tuner_graph("ring", _dgx1(2)) is None and tuner_graph("tree", _pcie(2)) is None


@pytest.mark.parametrize(
    ("layout", "algorithm", "protocol", "latency_us", "algbw_gbps"),
    [
        # 4 DGX-1V: ring 8.4 + 56 x max(NVLink 3.4, 3 x 1.0) + 6 x 14; 4 x 12 x 32/62
        (_dgx1(4), "ring", "Simple", 8.4 + 56 * 3.4 + 6 * 14, 4 * 12 * 32 / 62),
        # tree 8.4 + 2 (7 x 4.0 + 2 x 14); Volta perChMaxTreeBws on > 2 nodes 10.0: min(4 x 12 x .92, 4 x 10) x .5
        (_dgx1(4), "tree", "Simple", 8.4 + 2 * (7 * 4.0 + 2 * 14), 40 * 0.5),
        # tree LL: 6.8 + 2 (7 x 0.6 + 2 x 5.0); min(40 / 3.8, llMaxBw Intel > 2 nodes 20.4) x .5
        (_dgx1(4), "tree", "LL", 6.8 + 2 * (7 * 0.6 + 2 * 5.0), 40 / 3.8 * 0.5),
        # 3 x 4 A100 PCIe: ring 8.4 + 18 x max(PCI 5.7, 3 x 1.0) + 4 x 14; 24 x 12/22 (SHM is outside the estimate)
        (_pcie(3), "ring", "Simple", 8.4 + 18 * 5.7 + 4 * 14, 24 * 12 / 22),
        # tree 8.4 + 2 (3 x PCI 4.0 + log2i(3) = 1 x 14); Ampere perChMaxTreeBws 17.8: min(24 x .92, 17.8) x .5
        (_pcie(3), "tree", "Simple", 8.4 + 2 * (3 * 4.0 + 14), 17.8 * 0.5),
    ],
)
def test_nccl_s_estimate_by_hand_beyond_two_nodes_off_nvswitch(
    layout: Layout, algorithm: str, protocol: str, latency_us: float, algbw_gbps: float
) -> None:
    """NCCL's own estimate where dpsim bounded the tree's price by a ceiling alone (``nccl.tree_estimate_Bps``) and
    estimated the ring by its price: now one form, :func:`~dpsim.sim.collectives.nccl.tuner_model`."""
    model = tuner_model("allreduce", algorithm, protocol, layout)
    assert model is not None
    assert model[0] == pytest.approx(latency_us * US)
    assert model[1] == pytest.approx(algbw_gbps * GB)


def _ndr(nodes: int, algorithm: str) -> object:
    return machine_scenario(
        "h100", nodes, 8, "h100-sxm", "nvlink4", {"preset": "ib-ndr", "nics_per_node": 8}, algorithm
    )


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_four_h100_nodes_pick_the_ring_by_nccl_s_estimate(engine: str) -> None:
    """4 x 8 H100, 8 NDR, 8 GiB (the core table's nccl-tests#309 row): NCCL's estimate of the ring on its 8 x 48 GB/s
    graph is 1.4 x 282.8 µs + 8 GiB / 198.2 GB/s = 43.74 ms, of NVLS-tree 108.6 µs + 8 GiB / 187.9 GB/s = 45.83 ms:
    the ring, which then runs at its own price (the named algorithm's seconds). On an 8 x 45 graph (every channel
    taken off every GPU's NVLink) the ring's estimate was 46.63 ms and NVLS-tree won."""
    ring = 1.4 * (8.4 + 56 * 3.4 + 6 * 14) * US + 8 * GiB / (8 * 48 * 32 / 62 * GB)
    nvls_tree = (25 + 4 * 20.9) * US + 8 * GiB / (8 * 45.5 * 32 / 62 * GB)
    assert ring < nvls_tree
    (auto,) = collective_rows(_ndr(4, "auto"), "allreduce", [8 * GiB], engine=engine)
    (named,) = collective_rows(_ndr(4, "ring"), "allreduce", [8 * GiB], engine=engine)
    assert auto["algorithm"] == "ring" and auto["protocol"] == "Simple"
    assert auto["time_s"] == named["time_s"]


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_two_a100_nodes_with_four_hdr_nics_pick_the_ring(engine: str) -> None:
    """2 x 8 A100, 4 HDR, 8 GiB (nccl-tests#100 ran the ring): ring 1.4 x 131.6 µs + 8 GiB / 51.2 GB/s = 167.96 ms,
    tree (correction 1 beyond 512 MiB) 92.4 µs + 8 GiB / 47.2 GB/s = 182.08 ms."""
    ring = 1.4 * 131.6 * US + 8 * GiB / (51.2 * GB)
    tree = 92.4 * US + 8 * GiB / (47.2 * GB)
    assert ring < tree
    scenario = machine_scenario("a100", 2, 8, "a100-80gb", "nvlink3", {"preset": "ib-hdr", "nics_per_node": 4}, "auto")
    (auto,) = collective_rows(scenario, "allreduce", [8 * GiB], engine=engine)
    assert (auto["algorithm"], auto["protocol"]) == ("ring", "Simple")


def _amd(layout: Layout) -> Layout:
    return dataclasses.replace(layout, amd_host=True)


@pytest.mark.parametrize(
    ("op", "layout", "protocol", "latency_us", "algbw_gbps"),
    [
        # all-gather, 2 x 8 H100: nsteps N - 1 = 15, nInterSteps M - 1 = 1; 8.4 + 14 x max(3.4, 3 x 1.0) + 14;
        # busBw 8 x 48 x nRanks / nsteps = 16/15 (tuning.cc: no plateau, no other refinement for Simple)
        ("all_gather", _h100(2), "Simple", 8.4 + 14 * 3.4 + 14, 8 * 48 * 16 / 15),
        ("reduce_scatter", _h100(2), "Simple", 8.4 + 14 * 3.4 + 14, 8 * 48 * 16 / 15),
        # LL128: 14 + 14 x max(1.9, 1.0) + 4.0; min(384 x .92, 8 x perChMaxRingLL128Bw 36.7) x 16/15
        ("all_gather", _h100(2), "LL128", 14 + 14 * 1.9 + 4.0, min(384 * 0.92, 8 * 36.7) * 16 / 15),
        # AMD hosts (getNetOverhead 2 us): Simple's NVLink step max(3.4, 6); 4 nodes: 31 - 3 = 28 of them
        ("all_gather", _amd(_h100(4)), "Simple", 8.4 + 28 * 6.0 + 3 * 14, 8 * 48 * 32 / 31),
        # AMD: LL's step max(0.6, 2.0), llMaxBws' AMD row on 2 nodes 22.5 (Intel 39.0)
        ("all_gather", _amd(_h100(2)), "LL", 6.6 + 14 * 2.0 + 2.7, 22.5 * 16 / 15),
        ("allreduce", _amd(_h100(2)), "LL", 6.6 + 28 * 2.0 + 2 * 2.7, 22.5 * 16 / 30),
        ("allreduce", _amd(_h100(2)), "Simple", 8.4 + 28 * 6.0 + 2 * 14, 8 * 48 * 16 / 30),
        # LL128's step max(1.9, 2.0)
        ("allreduce", _amd(_h100(4)), "LL128", 14 + 56 * 2.0 + 6 * 4.0, min(384 * 0.92, 8 * 36.7) * 32 / 62),
    ],
)
def test_nccl_s_estimate_of_the_ring_halves_and_on_amd_hosts_by_hand(
    op: str, layout: Layout, protocol: str, latency_us: float, algbw_gbps: float
) -> None:
    """``ncclTopoTuneModel`` (``src/graph/tuning.cc`` v2.27.7): every collective's ring estimate, with nsteps and
    nInterSteps of the op; ``getNetOverhead`` 1 µs on Intel, 2 on AMD, ×3 for Simple, the floor of a ring's intra
    step; ``llMaxBws`` row 0 (Intel) or 1 (AMD) across nodes."""
    model = tuner_model(op, "ring", protocol, layout)
    assert model is not None
    assert model[0] == pytest.approx(latency_us * US)
    assert model[1] == pytest.approx(algbw_gbps * GB)


def _p5(nodes: int) -> object:
    """The p5 series' machine (benchmarks/nccl_tests_heldout.py ``_p5_series``): 400G a GPU, AMD EPYC hosts,
    aws-ofi-nccl's 75 µs, its 8 MiB buffers, NCCL 2.27.7 (all-gather: no plugin region, NCCL's own pick)."""
    return machine_scenario(
        "p5", nodes, 8, "h100-sxm", "nvlink4",
        {"preset": "efa-v2", "nics_per_node": 8, "bandwidth": "400 Gbit/s", "pcie_gpus_per_nic": 1}, "auto",
        communication={"nccl_buffsize": "8 MiB", "nccl_nvls_chunksize": "512 KiB",
                       "nccl_nvlstree_max_chunksize": "512 KiB", "nccl_version": "2.27.7"},
        cpu_vendor="amd",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("nodes", "sizes_mib", "protocols"),
    [
        (2, (128, 256), ("LL128", "Simple")),  # measured busbw 234.5 then 215.6: the dip where Simple starts
        (8, (512, 1024), ("LL128", "Simple")),  # 261.3 then 224.5
        (32, (2048,), ("LL128",)),  # 32 MiB .. 2 GiB rises without a dip
    ],
)
def test_p5_all_gather_switches_protocol_where_the_measured_series_dips(
    nodes: int, sizes_mib: tuple[int, ...], protocols: tuple[str, ...]
) -> None:
    """The p5 all-gather series (``benchmarks/p5_series.py``, crazyguitar/aws-gpu-communication-benchmark a77f70d)
    dips once on 2 and 8 nodes, where NCCL's own estimate (ring halves, AMD hosts) moves from LL128 to Simple: the
    ring estimate with Intel's 1 µs put the 2-node switch at 128 MiB, and the schedule's price put the 8-node one
    at 1 GiB only with Intel's constants. Independent of any fit: nothing in dpsim reads the series."""
    rows = collective_rows(_p5(nodes), "all_gather", [m * float(1 << 20) for m in sizes_mib])
    assert [(r["algorithm"], r["protocol"]) for r in rows] == [("ring", p) for p in protocols]


def test_cpu_vendor_reaches_the_layout_and_conflicts_are_refused() -> None:
    from dpsim.analytic.step import fabric_of
    from dpsim.errors import ScenarioError

    assert fabric_of(_p5(2)).layout().amd_host  # type: ignore[arg-type]
    intel = machine_scenario("x", 2, 8, "h100-sxm", "nvlink4", {"preset": "ib-ndr", "nics_per_node": 8})
    assert not fabric_of(intel).layout().amd_host
    with pytest.raises((ScenarioError, ValueError), match="cpu_vendor"):
        machine_scenario(
            "x", 1, 4, "a100-80gb", "pcie4", {"preset": "ib-hdr"}, cpu_vendor="intel",
            host_topology={"sockets": 2, "cpu": "amd"},
        )  # fmt: skip
