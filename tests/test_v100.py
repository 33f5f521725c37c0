"""V100 machines (issue 9): NVLink 2 (``nvlink2``), DGX-2's NVSwitch and DGX-1V's hybrid cube mesh.

Expectations are computed by hand from NVIDIA's link rates and NCCL's own constants
(``src/graph/topo.h`` ``SM70_NVLINK_BW``, ``src/graph/search.cc``), never from dpsim.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from dpsim.catalog import LINKS
from dpsim.cli_collective import collective_rows, machine_scenario

GiB = float(1 << 30)


def _busbw(nodes: int, g: int, algorithm: str = "ring", size: float = 8 * GiB, **cluster: object) -> float:
    scenario = machine_scenario(
        "v100",
        nodes,
        g,
        "v100",
        "nvlink2",
        {"preset": "ib-edr", "nics_per_node": 4},
        algorithm,
        {"nccl_proto": ["Simple"]},
        **cluster,
    )
    return collective_rows(scenario, "allreduce", [size])[0]["busbw_Bps"] / 1e9


def test_nvlink2_is_six_links_of_25_gbps_at_ncclss_20_per_link() -> None:
    """V100 datasheet: 6 NVLinks, 300 GB/s bidirectional = 150 GB/s a direction; NCCL: 20.0 GB/s a link (SM70)."""
    link = LINKS["nvlink2"]
    assert link.bandwidth == 6 * 25e9
    assert link.achievable == pytest.approx(6 * 20.0e9, rel=1e-12)
    assert "SM70_NVLINK_BW" in link.efficiency_source


def test_dgx2_ring_runs_at_each_gpus_six_links_into_nvswitch() -> None:
    """DGX-2: 16 V100, each GPU's 6 links to the NVSwitch planes. A ring's busbw is one port's rate, 6 × 20 GB/s.

    At 8 GiB the ring's 2·15 per-step latencies (Simple: 3.4 µs on NVLink, plus 8.4 µs base) add
    ~110 µs to 8 GiB · 2·15/16 / 120 GB/s = 134 ms: busbw within 0.1 % of 120 GB/s.
    """
    assert _busbw(1, 16) == pytest.approx(120.0, rel=1e-3)


# --- DGX-1V: the hybrid cube mesh ------------------------------------------------------------

MESH = "hybrid-cube-mesh"


def _mesh_busbw(
    g: int, algorithm: str = "ring", engine: str = "analytic", protocol: str = "Simple", device: Any = "v100"
) -> float:
    scenario = machine_scenario(
        "dgx1v", 1, g, device, "nvlink2", {"preset": "ib-edr", "nics_per_node": 1}, algorithm,
        {"nccl_proto": [protocol]} if protocol != "none" else {"protocol": "none"}, intra_topology=MESH,
    )  # fmt: skip
    return collective_rows(scenario, "allreduce", [8 * GiB], engine=engine)[0]["busbw_Bps"] / 1e9


def test_dgx1v_links_are_six_per_gpu_and_two_rings_of_pairs() -> None:
    """nvidia-smi topo -m of DGX-1V: every GPU has 6 NVLinks; the doubled pairs form the cycle 0 3 2 1 5 6 7 4,
    the single ones 0 1 3 7 5 4 6 2 (the white paper's 'three interwoven rings of single NVLink connections')."""
    from dpsim.sim.nvlink_mesh import mesh_links

    links = mesh_links(8)
    assert links.sum(axis=1).tolist() == [6] * 8 and (links == links.T).all()
    for cycle, count in (((0, 3, 2, 1, 5, 6, 7, 4), 2), ((0, 1, 3, 7, 5, 4, 6, 2), 1)):
        assert all(links[a, b] == count for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True))
    assert links[0, 5] == links[3, 4] == links[0, 7] == 0  # SYS pairs


def test_nccl_search_on_dgx1v_builds_six_rings_of_20_that_fill_every_link() -> None:
    """search.cc by hand: maxBw 40 (two bonded links), totalBw 6 × 20 = 120. At 40 the doubled cycle each way
    (2 × 40 = 80 < 120), at 30 likewise 60, at 20 (20/40 > 0.49) the doubled cycle twice each way and the
    single one once each way: 6 × 20 = 120 = totalBw, done. Every directed link carries as many rings as it has
    NVLinks. NCCL_DEBUG=INFO on DGX-1-class V100 servers (NCCL 2.19, 2.27) prints these orders on 12 channels
    (ncclTopoPostset doubles the 6): 0 3 2 1 5 6 7 4 and its reverse on four each, 0 1 3 7 5 4 6 2 and its
    reverse on two each."""
    import numpy as np

    from dpsim.sim.nvlink_mesh import mesh_links, nccl_rings

    rings, speed = nccl_rings(8)
    assert speed == 20.0 and len(rings) == 6
    assert sorted(rings) == sorted(
        [(0, 3, 2, 1, 5, 6, 7, 4)] * 2
        + [(0, 4, 7, 6, 5, 1, 2, 3)] * 2
        + [(0, 1, 3, 7, 5, 4, 6, 2), (0, 2, 6, 4, 5, 7, 3, 1)]
    )
    used = np.zeros((8, 8), dtype=int)
    for ring in rings:
        for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
            used[a, b] += 1
    assert (used == mesh_links(8)).all()


@pytest.mark.parametrize(
    ("g", "expected"),
    [
        (8, 120.0),  # 6 rings x 20: every link full
        (7, 80.0),  # GPU 3 has 4 links among GPUs 0-6 (to 0 x2, 1, 2 x2; its link to 7 is gone): 4 rings
        (6, 40.0),  # GPU 4's links among 0-5: 0 (x2) and 5 (x1); every ring crosses 4-5, one link a way: 2 rings
        (4, 80.0),  # GPU 0's links among 0-3: 1, 2, 3 (x2) = 4; 4 rings of 20
        (3, 40.0),  # GPU 0's links among 0-2: 1 and 2: 2 rings
        (2, 20.0),  # one NVLink between GPUs 0 and 1: 1 ring
    ],
)
def test_mesh_ring_busbw_is_rings_times_one_link_on_both_engines(g: int, expected: float) -> None:
    """Ring busbw on GPUs 0 … g−1 of a DGX-1V = NCCL's rings × 20 GB/s (one NVLink 2 at SM70_NVLINK_BW), by hand
    from the links; a DGX-2 (switch) gives 120 at every g. Both engines (the chunk level runs the flows)."""
    assert _mesh_busbw(g) == pytest.approx(expected, rel=2e-3)
    assert _mesh_busbw(g, engine="sim") == pytest.approx(_mesh_busbw(g), rel=1e-3)


def test_gloo_ring_in_rank_order_crosses_unlinked_pairs_through_a_gpu_and_runs_at_one_link() -> None:
    """A rank-ordered ring 0→1→…→7→0 (protocol none): 3→4 and 7→0 have no NVLink and go through a GPU linked
    to both (3→0→4, 7→4→0: NCCL's PATH_NVB); 0→1 and 4→5 are single NVLinks, each carrying a whole step:
    busbw = one link, 25 GB/s × 0.8 = 20 GB/s, a sixth of the switch's. gloo's ring is ``algorithm: backend`` on a
    custom device (on the catalog V100 ``backend`` is NCCL's own pick, :mod:`test_backend_algorithm`)."""
    from dpsim.sim.nvlink_mesh import mesh_links, mesh_path

    links = mesh_links(8)
    assert mesh_path(links, 3, 4) == (3, 0, 4) and mesh_path(links, 7, 0) == (7, 4, 0)
    assert mesh_path(links, 0, 5) == (0, 1, 5)  # both ways one single and one double link: the lower GPU
    for engine in ("analytic", "sim"):
        gloo = _mesh_busbw(8, "backend", engine, "none", {"peak_flops": "125 TFLOP/s", "memory": "32 GB"})
        assert gloo == pytest.approx(20.0, rel=2e-3)


def test_mesh_rings_across_nodes_leave_by_the_nic_they_came_in_by() -> None:
    """Two DGX-1V with 4 EDR NICs (GPUs 2c, 2c+1 on NIC c): channel c enters at GPU 2c, runs over NVLink only and
    leaves from GPU 2c+1, so each NIC carries one channel each way: busbw 4 × 12 GB/s, as on a switch."""
    import numpy as np

    from dpsim.sim.collectives.base import Layout
    from dpsim.sim.collectives.nccl import local_orders
    from dpsim.sim.nvlink_mesh import mesh_links

    orders = local_orders(Layout(2, 8, 4, arch="volta", nic_gbps=12.5, intra_topology=MESH))
    links = mesh_links(8)
    assert [(int(o[0]), int(o[-1])) for o in orders] == [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert all(links[a, b] for o in orders for a, b in itertools.pairwise(o))
    assert sorted(np.concatenate(orders).tolist()) == sorted(list(range(8)) * 4)
    mesh = _busbw(2, 8, "ring", intra_topology=MESH)
    assert mesh == pytest.approx(_busbw(2, 8, "ring"), rel=1e-6) and mesh == pytest.approx(48.0, rel=1e-2)


def test_mesh_tree_across_nodes_agrees_on_both_engines() -> None:
    """The tree on two DGX-1V (chains over NVLink of single and doubled links: flows not symmetric) is priced by
    the chunk level's fluid run on every engine: analytic and chunk level equal at every protocol and size."""
    for proto in ("Simple", "LL128", "LL"):
        scenario = machine_scenario("x", 2, 8, "v100", "nvlink2", {"preset": "ib-edr", "nics_per_node": 4}, "tree",
                                    {"nccl_proto": [proto]}, intra_topology=MESH)  # fmt: skip
        for size in (4 * float(1 << 20), 512 * float(1 << 20)):
            a, s = (collective_rows(scenario, "allreduce", [size], engine=e)[0]["time_s"] for e in ("analytic", "sim"))
            assert s == pytest.approx(a, rel=1e-6)


@pytest.mark.parametrize(("g", "nics", "fragment"), [(5, 1, "got workers_per_node 5"), (16, 8, "G in 1, 2, 3, 4")])
def test_mesh_gpu_counts_without_an_nvlink_ring_are_one_line_errors(g: int, nics: int, fragment: str) -> None:
    from dpsim.errors import ScenarioError

    with pytest.raises(ScenarioError) as err:
        machine_scenario("x", 1, g, "v100", "nvlink2", {"preset": "ib-edr", "nics_per_node": nics}, intra_topology=MESH)
    assert "intra_topology" in str(err.value) and fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("mesh", "expected 'switch' or 'hybrid-cube-mesh'"), ("hybrid-cube-mesh", "got workers_per_node 5")],
)
def test_bad_intra_topology_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], value: str, fragment: str
) -> None:
    from dpsim.cli import main

    args = ["collective", "--set", f"cluster.intra_topology={value}", "--set", "cluster.workers_per_node=5"]
    with pytest.raises(SystemExit) as info:
        main([*args, "--set", "cluster.inter_node.nics_per_node=1", "--size", "1MiB"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(lines) == 1
    assert lines[0].startswith("error:") and "cluster.intra_topology" in lines[0] and fragment in lines[0]


def test_pxn_relay_on_a_mesh_crosses_the_nvlinks_to_the_nics_gpu() -> None:
    """With a host link and one GPU on each NIC's PCIe switch, NCCL's PXN relays a GPU's inter-node sends through
    its NIC's GPU over NVLink (``paths.cc``): on a DGX-1V that hop is the pair's NVLinks (GPU 1 → 0: one link),
    not a switch port; GPU 0 itself leaves by its own PCIe link."""
    import numpy as np

    from dpsim.analytic.step import fabric_of
    from dpsim.sim.cluster import Cluster

    scenario = machine_scenario(
        "dgx1v", 2, 8, "v100", "nvlink2", {"preset": "ib-edr", "nics_per_node": 4, "pcie_gpus_per_nic": 1},
        host_link="pcie3", intra_topology=MESH,
    )  # fmt: skip
    cluster = Cluster.from_fabric(fabric_of(scenario))
    links, _ = cluster.routes(np.array([1, 0, 3]), np.array([9, 8, 11]))
    names = [[cluster.links.names[i] for i in row if i >= 0] for row in links]
    assert names[0] == ["node0.nvlink1->0", "worker0.pcie:up", "node0.nic0:up", "node1.nic0:down", "worker9.pcie:down"]
    assert names[1] == ["worker0.pcie:up", "node0.nic0:up", "node1.nic0:down", "worker8.pcie:down"]
    assert names[2][:2] == ["node0.nvlink3->2", "worker2.pcie:up"]  # GPU 3 -> 2: two NVLinks, one directed link


def test_a_layout_of_a_mesh_without_an_nvlink_ring_is_refused() -> None:
    """Below the scenario's check: a 5-GPU mesh layout (no ring over NVLink) is an error, not 0 channels."""
    from dpsim.sim.collectives.base import Layout

    with pytest.raises(ValueError, match="rings 1-4 or 6-8 GPUs"):
        Layout(1, 5, intra_topology=MESH)
