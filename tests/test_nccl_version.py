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
from dpsim.sim.collectives.nccl import channel_cap_Bps, duplication, nvls_heads, nvls_shares, nvls_tree_allreduce
from dpsim.sim.collectives.nccl_tuner import DEFAULT_NCCL_VERSION, NCCL_VERSIONS

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
    expected = 25e-6 + (1 + 1 / 8) * 64e6 / (0.85 * 240e9)
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
        [sys.executable, "-m", "dpsim.cli", "collective", "--set", "communication.nccl_version=2.19.3"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "communication.nccl_version" in proc.stderr and "2.27.3" in proc.stderr


def test_refused_on_cpu_devices() -> None:
    with pytest.raises(ScenarioError, match=r"communication\.nccl_version"):
        machine_scenario("cpu", 2, 1, "cpu", "pcie4", {"preset": "100gbe"}, communication={"nccl_version": "2.27.3"})
