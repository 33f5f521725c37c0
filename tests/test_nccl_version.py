"""``communication.nccl_version``: NCCL's tuner tables of the release a job runs (src/graph/tuning.cc at each tag).

The expected caps are worked by hand from the tables as NVIDIA/nccl ships them (``git show vX.Y.Z-1:src/graph/
tuning.cc``) and the channel count of the layouts below: Blackwell with 400 Gbit/s NICs, one a GPU. NCCL's search
speed there is 48 GB/s (the GPU's PCIe Gen5 x16 link, below the NIC's 50; ``sm100SpeedArrayInter`` has 48), which
``ncclTopoDupChannels`` copies (≥ 25 GB/s, and not more than 4 channels of < 50 GB/s): each of the 4 rail channels
of a 4-GPU node is 2 NCCL channels, so a rail channel's cap is twice NCCL's per-channel figure. NVLS-tree graphs
are never copied: one head a rail, NCCL's figure as it is.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest

from dpsim.analytic import collectives as cf
from dpsim.cli_collective import collective_rows, machine_scenario
from dpsim.errors import ScenarioError
from dpsim.sim.collectives.base import Layout
from dpsim.sim.collectives.nccl import (
    channel_cap_Bps,
    channels,
    duplication,
    nccl_ring,
    nccl_tree,
    nvls_allreduce,
    nvls_heads,
    nvls_shares,
    nvls_tree_allreduce,
)
from dpsim.sim.collectives.nccl_tuner import DEFAULT_NCCL_VERSION, NCCL_VERSIONS, tuner_tables

GiB = float(1 << 30)


def _blackwell(nodes: int, version: str, per_node: int = 4, nvls: bool = False, estimate: bool = True) -> Layout:
    """Blackwell nodes with a 400G NIC a GPU; NCCL ``version``'s estimate (its tuner tables) unless ``estimate`` is
    False (the price: the default release's)."""
    return Layout(nodes, per_node, nics=per_node, nvls=nvls, arch="blackwell", nic_gbps=50.0, nccl_version=version,
                  estimate=estimate)  # fmt: skip


def test_the_layouts_carry_two_nccl_channels_a_rail() -> None:
    assert duplication(_blackwell(3, "2.27.3")) == 2  # the premise of the factors of 2 below


@pytest.mark.parametrize(
    ("version", "tree_gbps", "tree_ll128_gbps"),
    [
        # v2.25.1-v2.27.7: perChMaxTreeBws Blackwell {2*38.7, 2*41.4, 2*36.0}, perChMaxTreeLL128Bws {.., 2*29.0}
        ("2.25.1", 2 * 72.0, 2 * min(72.0 * 120 / 128, 58.0)),
        ("2.27.3", 2 * 72.0, 2 * min(72.0 * 120 / 128, 58.0)),
        # v2.28.3 on: {70.0, 42.8, 24.0} and {55.6, 31.67, 20.0}
        ("2.28.3", 2 * 24.0, 2 * min(24.0 * 120 / 128, 20.0)),
        ("2.30.7", 2 * 24.0, 2 * min(24.0 * 120 / 128, 20.0)),
    ],
)
def test_blackwell_tree_cap_on_three_nodes_is_the_release_s(
    version: str, tree_gbps: float, tree_ll128_gbps: float
) -> None:
    layout = _blackwell(3, version)
    assert channel_cap_Bps("tree", "Simple", layout) == pytest.approx(tree_gbps * 1e9)
    assert channel_cap_Bps("tree", "LL128", layout) == pytest.approx(tree_ll128_gbps * 1e9)


@pytest.mark.parametrize(
    ("version", "two_nodes", "three_nodes"),
    [
        ("2.27.7", 73.4, 73.4),  # 2*36.7 on every node count
        ("2.28.3", 73.4, 73.4),
        ("2.28.7", 34.6, 73.4),  # {2*36.7, 34.6, 2*36.7}
        ("2.28.9", 34.6, 73.4),
        ("2.29.2", 34.6, 34.5),  # {34.5, 34.6, 34.5}
        ("2.29.7", 40.0, 40.0),  # {40.0, 40.0, 40.0}
        ("2.30.4", 40.0, 40.0),
    ],
)
def test_blackwell_ring_ll128_cap_is_the_release_s(version: str, two_nodes: float, three_nodes: float) -> None:
    assert channel_cap_Bps("ring", "LL128", _blackwell(2, version)) == pytest.approx(2 * two_nodes * 1e9)
    assert channel_cap_Bps("ring", "LL128", _blackwell(3, version)) == pytest.approx(2 * three_nodes * 1e9)


@pytest.mark.parametrize(
    ("version", "cap_gbps"),
    [
        ("2.26.2", math.inf),  # no perChMaxNVLSTreeBws before v2.28.3: no cap
        ("2.28.3", 43.1),  # {0.0, 96.0, 43.1}
        ("2.28.9", 43.8),  # {0.0, 96.0, 43.8}
        ("2.29.7", 43.8),
        ("2.30.3", 80.0),  # {0.0, 96.0, 80.0}
    ],
)
def test_blackwell_nvls_tree_cap_on_three_nodes_is_the_release_s(version: str, cap_gbps: float) -> None:
    layout = _blackwell(3, version, per_node=8, nvls=True)
    assert channel_cap_Bps("nvls-tree", "Simple", layout) == pytest.approx(cap_gbps * 1e9)


@pytest.mark.parametrize("version", ["2.25.1", "2.27.7", "2.28.3", "2.30.7"])
def test_one_node_nvls_is_priced_at_the_default_release_s_rate(version: str) -> None:
    """One node of 8 H100, a head a GPU (H = N = 8). Whatever the release, the price is v2.30.7's
    ``2·nvlsEfficiency·bwIntra·(H−1)/H`` times N/(2(N−1)): 0.85 of the NVLS bandwidth (the NVLS kernels and channels
    are the same in v2.27.7 and v2.28.3, which rewrote only the estimate). A port carries (1 + 1/8)·S, plus NVLS's
    25 µs."""
    nvlink, nic = cf.Link(1e-6, 240e9), cf.Link(5e-6, 50e9)
    fabric = cf.Fabric(1, 8, nvlink, nic, nvls=True, protocol="Simple", arch="hopper", nccl_version=version)
    # runNvls's fill: 32 KiB chunks (64e6 < 8 x 128 x 64 KiB), a 4 MiB loop, 16 loops: 3 x 4 MiB - 64e6 / 16
    expected = 25e-6 + (1 + 1 / 8) * (64e6 + 3 * 4 * 2**20 - 64e6 / 16) / (0.85 * 240e9)
    assert cf.collective("allreduce", "nvls", 64e6, fabric).time_s == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("version", "share"), [("2.25.1", 5 / 6), ("2.27.7", 5 / 6), ("2.28.3", 0.85)])
def test_one_node_nvls_estimate_is_the_release_s(version: str, share: float) -> None:
    """The same node in NCCL's estimate: v2.27.7's ``bw = min(bwIntra, bwInter)`` times the bus ratio 5/6 is 5/6 of
    the NVLS bandwidth in the switch; v2.28.3's is 0.85 (``nvlsEfficiency``)."""
    layout = Layout(1, 8, nics=8, nvls=True, arch="hopper", nic_gbps=50.0, nccl_version=version, estimate=True)
    assert nvls_shares(layout, 8)[0] == pytest.approx(share, rel=1e-12)
    assert nvls_shares(dataclasses.replace(layout, estimate=False), 8)[0] == pytest.approx(0.85, rel=1e-12)


@pytest.mark.parametrize(
    ("version", "network", "switch"),
    [
        # v2.27.7, N = 16, H = 8: network 0.5/8 / (5/6 · 15/16) = 0.08; switch (1/7 + 1/56) / (5/6 · 15/16 · 8/7)
        ("2.27.7", 0.08, 9 / 50),
        # v2.28.3 on: network 0.5/8 (all of bwInter); switch (1/7 + 1/56) / 0.85
        ("2.28.3", 0.0625, 9 / 56 / 0.85),
        ("2.30.7", 0.0625, 9 / 56 / 0.85),
    ],
)
def test_two_node_nvls_tree_estimate_loads_are_the_release_s(version: str, network: float, switch: float) -> None:
    """Two nodes of 8 H100 with 8 NICs: 8 NVLS heads, each carrying half of its 1/8 across nodes on each of the
    double binary tree's two trees. Before v2.28.3 NCCL's estimate is 5/6 · (N−1)/N of v2.28.3's on the network and
    (5/6 · (N−1)/N) / (nvlsEfficiency · (H−1)/H) of it in the switch; the estimate's loads carry that, the price's
    are v2.30.7's whatever the release."""
    layout = Layout(2, 8, nics=8, nvls=True, arch="hopper", nic_gbps=50.0, nccl_version=version, estimate=True)
    assert nvls_heads(layout) == 8
    for estimate, (net, sw) in ((True, (network, switch)), (False, (0.0625, 9 / 56 / 0.85))):
        (phase,) = nvls_tree_allreduce(dataclasses.replace(layout, estimate=estimate)).phases
        across = (phase.src // 8) != (phase.dst // 8)
        assert phase.fraction[across] == pytest.approx(np.full(int(across.sum()), net), rel=1e-12)
        assert phase.fraction[~across] == pytest.approx(np.full(int((~across).sum()), sw), rel=1e-12)


@pytest.mark.parametrize("version", NCCL_VERSIONS)
def test_the_price_s_caps_are_the_default_release_s(version: str) -> None:
    """The schedules that price (not an estimate) carry v2.30.7's caps whatever the release: Blackwell's tree 24.0
    and ring LL128 40.0 GB/s a channel on ≥3 nodes, NVLS-tree 80.0."""
    assert channel_cap_Bps("tree", "Simple", _blackwell(3, version, estimate=False)) == pytest.approx(2 * 24.0e9)
    assert channel_cap_Bps("ring", "LL128", _blackwell(3, version, estimate=False)) == pytest.approx(2 * 40.0e9)
    nvls = _blackwell(3, version, per_node=8, nvls=True, estimate=False)
    assert channel_cap_Bps("nvls-tree", "Simple", nvls) == pytest.approx(80.0e9)


def test_hopper_and_ampere_caps_do_not_move_between_releases() -> None:
    """Only Blackwell's rows (and NVLS-tree's) changed from v2.25.1 to v2.30.7; Hopper's tree cap on ≥3 nodes is
    36.0 and Ampere's 17.8 in every release carried."""
    for version in NCCL_VERSIONS:
        hopper = Layout(3, 8, nics=8, arch="hopper", nic_gbps=50.0, nccl_version=version, estimate=True)
        ampere = Layout(3, 8, nics=4, arch="ampere", nic_gbps=25.0, nccl_version=version, estimate=True)
        assert channel_cap_Bps("tree", "Simple", hopper) == pytest.approx(duplication(hopper) * 36.0e9)
        assert channel_cap_Bps("tree", "Simple", ampere) == pytest.approx(duplication(ampere) * 17.8e9)


def _nvl4_tree(version: str | None) -> object:
    extra = {"nccl_version": version} if version else {}
    return machine_scenario("nvl4", 3, 4, "b200", "nvlink5", {"preset": "ib-ndr", "nics_per_node": 4}, "tree",
                            communication=extra)  # fmt: skip


def _h100(algorithm: str, version: str | None, nodes: int = 32) -> object:
    """``nodes`` nodes of 8 H100 with 8 NDR NICs (NVLS-tree across them)."""
    extra = {"nccl_version": version} if version else {}
    inter = {"preset": "ib-ndr", "nics_per_node": 8}
    return machine_scenario("h100", nodes, 8, "h100-sxm", "nvlink4", inter, algorithm, communication=extra)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_the_release_picks_and_the_default_prices_on_both_engines(engine: str) -> None:
    """32 nodes of 8 H100, 8 GiB: v2.30.7 runs NVLS-tree; v2.27.7's estimate of NVLS-tree beyond two nodes takes
    ``bwInter/2`` times 5/6 (with no ``nvlsEfficiency``) and so picks the ring, which then runs at the ring's price:
    the same seconds as the ring named on the default release. The row says whose tuner picked."""
    (default,) = collective_rows(_h100("auto", None), "allreduce", [8 * GiB], engine=engine)
    (old,) = collective_rows(_h100("auto", "2.27.7"), "allreduce", [8 * GiB], engine=engine)
    (ring,) = collective_rows(_h100("ring", None), "allreduce", [8 * GiB], engine=engine)
    assert default["nccl_version"] == DEFAULT_NCCL_VERSION and old["nccl_version"] == "2.27.7"
    assert (default["algorithm"], old["algorithm"]) == ("nvls-tree", "ring")
    assert old["time_s"] == ring["time_s"]
    (same,) = collective_rows(_h100("auto", "2.30.7"), "allreduce", [8 * GiB], engine=engine)
    assert same["time_s"] == default["time_s"]  # naming the default changes nothing


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_an_older_estimate_that_picks_the_same_moves_nothing(engine: str) -> None:
    """2 nodes of 8 H100: v2.27.7's estimate of NVLS-tree (5/6 of ``min(bwIntra, bwInter)``, no ``nvlsEfficiency``)
    is above v2.30.7's, and both pick NVLS-tree; its kernels and its 16 NVLS channels are the same in both
    (``all_reduce.h`` ``runNvlsTree``, ``nvls.cc`` ``NVLS_NCHANNELS_SM90``), so it runs in the same seconds."""
    (default,) = collective_rows(_h100("auto", None, nodes=2), "allreduce", [8 * GiB], engine=engine)
    (old,) = collective_rows(_h100("auto", "2.27.7", nodes=2), "allreduce", [8 * GiB], engine=engine)
    assert old["algorithm"] == default["algorithm"] == "nvls-tree"
    assert old["time_s"] == default["time_s"]


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_a_named_algorithm_runs_at_the_same_price_on_every_release(engine: str) -> None:
    """nccl#1801's forced tree on three NVL4 partitions (NCCL 2.27.3): nothing is left to pick, and v2.27.3's tree
    kernels and channels with NVLS off are v2.28.3's (``all_reduce.h``, ``prims_simple.h``, ``connect.cc``), whose
    tuner replaced only the Blackwell caps' estimate: the same seconds on both releases."""
    (default,) = collective_rows(_nvl4_tree(None), "allreduce", [16 * GiB], engine=engine)
    (old,) = collective_rows(_nvl4_tree("2.27.3"), "allreduce", [16 * GiB], engine=engine)
    assert old["time_s"] == default["time_s"] and old["nccl_version"] == "2.27.3"


def test_engines_agree_on_an_older_release() -> None:
    scenario = _h100("auto", "2.27.7")
    (analytic,) = collective_rows(scenario, "allreduce", [16 * GiB], engine="analytic")
    (sim,) = collective_rows(scenario, "allreduce", [16 * GiB], engine="sim")
    assert sim["algorithm"] == analytic["algorithm"] == "ring"
    assert sim["time_s"] == pytest.approx(analytic["time_s"], rel=0.01)


def test_an_unknown_release_is_refused_naming_the_field_and_the_releases() -> None:
    with pytest.raises(ScenarioError, match=r"communication\.nccl_version.*2\.25\.1.*2\.30\.7.*got '2\.10\.3'"):
        _nvl4_tree("2.10.3")
    proc = subprocess.run(
        [sys.executable, "-m", "dpsim.cli", "collective", "--set", "communication.nccl_version=2.17.1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "communication.nccl_version" in proc.stderr and "2.27.3" in proc.stderr


def test_refused_on_cpu_devices() -> None:
    with pytest.raises(ScenarioError, match=r"communication\.nccl_version"):
        machine_scenario("cpu", 2, 1, "cpu", "pcie4", {"preset": "100gbe"}, communication={"nccl_version": "2.27.3"})


# Releases before v2.25.1 (tuning.cc at v2.18.3-1, v2.19.1-1, v2.21.5-1, v2.23.4-1, read by hand): their tables
# only pick, so every check below is on an estimate layout.


def _estimate(nodes: int, per_node: int, version: str, nvls: bool = False) -> Layout:
    """``nodes`` of ``per_node`` H100 with a 400G NIC a GPU, in NCCL ``version``'s estimate."""
    return Layout(nodes, per_node, nics=per_node, nvls=nvls, arch="hopper", nic_gbps=50.0, nccl_version=version,
                  estimate=True)  # fmt: skip


@pytest.mark.parametrize(
    ("version", "nvlink_us", "net_us", "base_us"),
    [
        ("2.18.3", 4.0, 14.0, 0.0),  # hwLat Tree Simple {4, 6, 14}, baseLat Tree Simple 0
        ("2.19.1", 28.0, 28.0, 0.0),  # {28, 28, 28}
        ("2.22.3", 28.0, 28.0, 0.0),
        ("2.23.4", 4.0, 14.0, 8.4),  # {4.0, 4.0, 14}, baseLat 8.4
        ("2.30.7", 4.0, 14.0, 8.4),
    ],
)
def test_the_tree_s_simple_latency_is_the_release_s(
    version: str, nvlink_us: float, net_us: float, base_us: float
) -> None:
    """Two nodes of 8: ``baseLat + 2·((G−1)·intraLat + log2i(M)·interLat)`` = base + 2·(7·nvlink + 1·net)."""
    schedule = nccl_tree(_estimate(2, 8, version), "Simple")
    (phase,) = schedule.phases
    assert phase.latency_s == pytest.approx(2 * (7 * nvlink_us + net_us) * 1e-6, rel=1e-12)
    assert schedule.base_latency_s == pytest.approx(base_us * 1e-6, rel=1e-12)


@pytest.mark.parametrize(
    ("version", "nvls_base", "nvls_step", "tree_net"),
    [
        ("2.18.5", 23.0, 0.0, 19.0),
        ("2.19.3", 0.0, 23.0, 14.0),
        ("2.21.5", 0.0, 25.0, 14.0),
        ("2.25.1", 0.0, 25.0, 14.0),
    ],
)
def test_nvls_latencies_are_the_release_s(version: str, nvls_base: float, nvls_step: float, tree_net: float) -> None:
    """NVLS on one node: ``baseLat`` 23 µs and ``hwLat[NVLINK]`` 0 in v2.18.3-v2.18.6, 0 and 23 from v2.19.1, 25
    from v2.21.5. NVLS-tree on 4 nodes: v2.18's ``baseLat + 2(M−1)·hwLat[NET]`` = 23 + 6·19, later
    ``intraLat + 2·log2i(M)·interLat`` = 23 or 25 + 4·14."""
    one = nvls_allreduce(_estimate(1, 8, version, nvls=True))
    assert one.base_latency_s == pytest.approx(nvls_base * 1e-6)
    assert one.phases[0].latency_s == pytest.approx(nvls_step * 1e-6)
    four = nvls_tree_allreduce(_estimate(4, 8, version, nvls=True))
    steps = 6 if version.startswith("2.18") else 4
    total = four.base_latency_s + four.phases[0].latency_s
    assert total == pytest.approx((nvls_base + nvls_step + steps * tree_net) * 1e-6, rel=1e-12)


@pytest.mark.parametrize(
    ("version", "allreduce", "one_node_gather"),
    [("2.18.6", 4.0, 3.0), ("2.20.5", 4.0, 3.0), ("2.21.5", 2.0, 2.0), ("2.30.7", 2.0, 2.0)],
)
def test_the_ring_ll_share_is_the_release_s(version: str, allreduce: float, one_node_gather: float) -> None:
    """``busBw * 1.0/4.0`` (across nodes, all-reduce, reduce) or ``1.0/3.0`` (the other collectives on one node)
    before v2.21.5, ``busBw * .5`` from it: the wire carries 1/share of the data, S/(k·N) a ring step."""
    two = _estimate(2, 8, version)
    (phase, _) = nccl_ring("allreduce", two, "LL").phases
    assert phase.fraction == pytest.approx(np.full(len(phase.fraction), allreduce / (channels(two) * 16)))
    (one,) = nccl_ring("all_gather", _estimate(1, 8, version), "LL").phases
    assert one.fraction == pytest.approx(np.full(len(one.fraction), one_node_gather / 8))


@pytest.mark.parametrize(("version", "share"), [("2.18.3", 0.7), ("2.22.3", 0.7), ("2.23.4", 0.92)])
def test_the_ring_ll128_share_with_one_gpu_a_node_is_the_release_s(version: str, share: float) -> None:
    """``busBw * (ppn < 2 ? 0.7 : 0.92)`` before v2.23.4, 0.92 from it; 8 nodes of one GPU, one NIC."""
    layout = _estimate(8, 1, version)
    (phase, _) = nccl_ring("allreduce", layout, "LL128").phases
    assert phase.fraction == pytest.approx(np.full(len(phase.fraction), 1 / share / 8))


@pytest.mark.parametrize(("version", "inter_steps"), [("2.19.3", 2), ("2.22.3", 2), ("2.23.4", 1)])
def test_the_ring_s_inter_node_steps_are_the_release_s(version: str, inter_steps: int) -> None:
    """An all-reduce over 2 nodes of 8 counts ``nInterSteps = 2·nNodes`` before v2.23.4 and ``2(nNodes−1)`` from it:
    per half, (15 − inter)·max(3.4, 3·1.0) + inter·14 µs over 15 steps (Simple, NVLink, an InfiniBand hop)."""
    (phase, _) = nccl_ring("allreduce", _estimate(2, 8, version), "Simple").phases
    assert phase.latency_s == pytest.approx(((15 - inter_steps) * 3.4 + inter_steps * 14.0) / 15 * 1e-6, rel=1e-12)


@pytest.mark.parametrize(("version", "step_us"), [("2.22.3", (4 * 2.7 - 1.0) / 3), ("2.23.4", 5.0)])
def test_one_gpu_a_node_takes_the_tree_s_network_latency_from_2_23_4(version: str, step_us: float) -> None:
    """4 nodes of one GPU, ring LL: ``interLat = ppn == 1 ? hwLat[NET][TREE][p] : hwLat[NET][a][p]`` from v2.23.4,
    so every one of the 3 steps of a half costs the tree's 5.0 µs; before, the ring's 2.7 µs on ``nNodes`` = 4
    inter-node steps of the 3, with ``3 − 4`` intra steps at the network overhead's 1.0 µs (NCCL's own count)."""
    (phase, _) = nccl_ring("allreduce", _estimate(4, 1, version), "LL").phases
    assert phase.latency_s == pytest.approx(step_us * 1e-6, rel=1e-12)


def test_v2_18_nvls_tree_estimate_takes_bw_intra_or_bw_inter_by_nodes() -> None:
    """v2.18.3: ``bw = nNodes <= 2 ? bwIntra : bwInter`` and NVLS-tree's ratio ``.70·M/(2(M−1))``. Over v2.28.3's
    estimate: on 2 nodes of 8 (N = 16, H = 8) the switch at 0.7·(15/16)·(8/7) = 0.75 and the network not at all;
    on 3 nodes (N = 24) the network at 0.525·2·23/24 and the switch not at all. One node's NVLS as v2.19's: 5/6."""
    assert nvls_shares(_estimate(2, 8, "2.18.3", nvls=True), 8) == pytest.approx((0.75, math.inf))
    assert nvls_shares(_estimate(3, 8, "2.18.3", nvls=True), 8) == pytest.approx((math.inf, 0.525 * 2 * 23 / 24))
    assert nvls_shares(_estimate(1, 8, "2.18.3", nvls=True), 8)[0] == pytest.approx(5 / 6)


def test_hopper_s_ll_total_is_ampere_s_before_2_21_5() -> None:
    """``llMaxBws`` Hopper {87.7, 22.5, 19.0} before v2.21.5, {141.0, 45.0, 35.0} from it: one node's ring LL total
    over its one rail channel."""
    assert channel_cap_Bps("ring", "LL", _estimate(1, 8, "2.20.5")) == pytest.approx(87.7e9)
    assert channel_cap_Bps("ring", "LL", _estimate(1, 8, "2.21.5")) == pytest.approx(141.0e9)


def test_v2_24_3_is_v2_25_1_without_blackwell() -> None:
    """v2.25.1's ``tuning.cc`` adds Blackwell's rows and changes nothing else dpsim reads: the tables of v2.24.3 and
    v2.25.1 differ in Blackwell's rows only (before v2.25.1 ``compCapIndex`` reads Hopper's for any cc ≥ 90)."""
    old, new = tuner_tables("2.24.3"), tuner_tables("2.25.1")
    assert _without_blackwell(old.ll_max_gbps) == _without_blackwell(new.ll_max_gbps)
    for table, rows in old.per_channel_max_gbps.items():
        assert _without_blackwell(rows) == _without_blackwell(new.per_channel_max_gbps[table]), table
    assert old.per_channel_max_gbps["tree"]["blackwell"] == old.per_channel_max_gbps["tree"]["hopper"]
    for field in dataclasses.fields(old):
        if field.name not in ("releases", "ll_max_gbps", "per_channel_max_gbps"):
            assert getattr(old, field.name) == getattr(new, field.name), field.name


def _without_blackwell(rows: dict[str, tuple[float, float, float]]) -> dict[str, tuple[float, float, float]]:
    return {arch: row for arch, row in rows.items() if arch != "blackwell"}


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_v2_21_5_s_slow_tree_latency_picks_the_ring_on_small_two_node_messages(engine: str) -> None:
    """2 nodes of 8 H100, 8 NDR NICs, 1 MiB, ring or tree, Simple (GCP's TCPXO profile sets ``NCCL_ALGO=Ring,Tree``
    and ``NCCL_PROTO=Simple``): v2.30.7 runs the tree; v2.21.5's tree estimate carries 2·(7 + 1)·28 = 448 µs of
    latency (its Simple step is 28 µs on every hardware class), its ring 2·(13·3.4 + 2·14) + 8.4 = 152.8 µs, and it
    picks the ring, which runs at the default's price."""

    def row(version: str | None, algorithm: str = "auto") -> dict[str, object]:
        extra: dict[str, object] = {"nccl_version": version} if version else {}
        extra["nccl_proto"] = ["Simple"]
        if algorithm == "auto":
            extra["nccl_algo"] = ["ring", "tree"]
        inter = {"preset": "ib-ndr", "nics_per_node": 8}
        scenario = machine_scenario("h100", 2, 8, "h100-sxm", "nvlink4", inter, algorithm, communication=extra)
        (out,) = collective_rows(scenario, "allreduce", [float(1 << 20)], engine=engine)
        return out

    assert row(None)["algorithm"] == "tree"
    old = row("2.21.5")
    assert old["algorithm"] == "ring" and old["time_s"] == row(None, "ring")["time_s"]


@pytest.mark.parametrize("algorithm", ["direct", "halving-doubling", "parameter-server", "backend", "hierarchical"])
def test_nothing_to_pick_builds_no_older_estimate(algorithm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """NCCL reads its estimates only to choose among the enabled (algorithm, protocol) pairs (``topoGetAlgoInfo``):
    a textbook algorithm, without an NCCL protocol, is the one candidate, and so is a named algorithm with a named
    protocol. There an older release's estimates are not built, and pricing routes what the default release's
    does (twice as much before); the cost guard charges the same. With ``auto`` they are built and charged."""
    from test_collective_cli import _count_routes  # pytest puts tests/ on the path

    from dpsim.analytic.step import calibrated_fabric
    from dpsim.sim import budget, collectives

    routed = _count_routes(monkeypatch)
    counts, charged = [], []
    for version in ("2.27.7", None):
        fabric = calibrated_fabric(_h100("auto", version, nodes=4))
        layout = budget.layout_of(fabric)
        cf._priced.cache_clear()
        cf._CLUSTER.clear()
        routed[0] = 0
        cf.collective("allreduce", algorithm, GiB, fabric, protocol="none")
        counts.append(routed[0])
        charged.append(budget.priced_transfers("allreduce", algorithm, "none", layout))
        assert collectives.estimates("allreduce", algorithm, layout, "none") is None
        assert collectives.estimates("allreduce", "tree", layout, "LL128") is None  # named algorithm and protocol
        estimated = collectives.estimates("allreduce", "auto", layout, "auto")
        assert (estimated is None) == (version is None)
    assert counts[0] == counts[1] > 0
    assert charged[0] == charged[1]
