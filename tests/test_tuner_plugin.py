"""``communication.nccl_tuner``: aws-ofi-nccl 1.16.3's region tuner (``src/tuner/nccl_ofi_regions.cpp``), against
points worked by hand from its polygons, the field's refusals, and both engines running the plugin's pick."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dpsim.cli_collective import collective_rows, machine_scenario
from dpsim.errors import ScenarioError
from dpsim.scenario import load_scenario
from dpsim.sim.collectives.tuner_plugin import AWS_OFI_NCCL, extend_region, is_inside_region, plugin_pick

MiB = 1 << 20
GiB = 1 << 30
P5_LINK = {"preset": "efa-v2", "nics_per_node": 8, "bandwidth": "400 Gbit/s", "pcie_gpus_per_nic": 1}


def _p5(nodes: int, tuner: str = AWS_OFI_NCCL, device: str = "h100-sxm", **communication: Any) -> Any:
    """``nodes`` p5 nodes as the held-out p5 rows price them (benchmarks/nccl_tests_heldout.py ``_P5_LINK``)."""
    fields = {"nccl_tuner": tuner, **communication}
    algorithm = fields.pop("algorithm", "auto")
    return machine_scenario("p5", nodes, 8, device, "nvlink4", P5_LINK, algorithm, communication=fields)


def test_extend_region_follows_the_line_to_the_bound() -> None:
    # (8053063680, 160) -> (9663676416, 192): 50331648 bytes a rank; at the tuner's 100 GiB the line is at
    # 160 + (100 GiB - 8053063680) / 50331648 = 160 + 1973.3 ranks, below its 1 Mi ranks, so x is the bound
    x, y = extend_region((8053063680, 160), (9663676416, 192), (100.0 * GiB, 1024.0 * 1024))
    assert x == 100.0 * GiB
    assert y == pytest.approx(160 + (100 * GiB - 8053063680) / 50331648)
    # a vertical pair runs to the bound's ranks
    assert extend_region((402653184, 2048), (402653184, 4096), (100.0 * GiB, 1024.0 * 1024)) == (402653184, 1048576)


def test_inside_edge_outside_of_a_square() -> None:
    square = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
    assert is_inside_region((5.0, 5.0), square) == 1
    assert is_inside_region((10.0, 5.0), square) == 0
    assert is_inside_region((11.0, 5.0), square) == -1


@pytest.mark.parametrize(
    ("op", "size", "nodes", "per_node", "expected"),
    [
        # 8 ranks a node, 32 ranks: the tree/LL128 polygon's right edge runs (31457280, 16) -> (37748736, 32), so
        # 32 MiB (33554432) lies inside; 64 MiB is right of it, inside ring/LL128, whose right edge at 32 ranks is
        # 1073741824 + 15/47 x 1073741824 = 1.42e9 bytes, so 1 GiB is ring/LL128 and 2 GiB is past it, in
        # ring/Simple (left edge (1073741824, 17) -> (1610612736, 32): 1.5 GiB at 32 ranks)
        ("allreduce", 32 * MiB, 4, 8, ("tree", "LL128")),
        ("allreduce", 64 * MiB, 4, 8, ("ring", "LL128")),
        ("allreduce", 1 * GiB, 4, 8, ("ring", "LL128")),
        ("allreduce", 2 * GiB, 4, 8, ("ring", "Simple")),
        # 128 ranks: the NVLS-tree polygon's edge (2147483648, 128) -> (6442450944, 128) holds 2-6 GiB (on an
        # edge counts as in); the ring/Simple region's left edge (2684354560, 64) -> (8053063680, 160) is at
        # 6.26e9 bytes there, so 8 GiB runs the ring
        ("allreduce", 4 * GiB, 16, 8, ("nvls-tree", "Simple")),
        ("allreduce", 8 * GiB, 16, 8, ("ring", "Simple")),
        # 256 ranks: NVLS-tree from its edge (1074790400, 256) -> (2684354560, 256) up to the line through
        # (8053063680, 160) and (9663676416, 192), at 12 GiB there
        ("allreduce", 8 * GiB, 32, 8, ("nvls-tree", "Simple")),
        # two nodes: the tuner leaves NCCL's own to pick; no regions for other collectives at 8 a node
        ("allreduce", 8 * GiB, 2, 8, None),
        ("all_gather", 1 * GiB, 4, 8, None),
        ("reduce_scatter", 1 * GiB, 4, 8, None),
        # 4 ranks a node: no regions (region_init_internal_p5_p5e has 8, 2 and 1)
        ("allreduce", 1 * GiB, 4, 4, None),
        # 1 rank a node, 4 ranks: ring/LL128 from (0, 2)-(0, 16) to its edge (4736000, 2) -> (269484032, 128), at
        # 4736000 + 2 x 264748032 / 126 = 8.94e6 bytes; ring/Simple from there (the tree/LL128 polygon starts at 16)
        ("allreduce", 1 * MiB, 4, 1, ("ring", "LL128")),
        ("allreduce", 16 * MiB, 4, 1, ("ring", "Simple")),
        # all-gather's ring/Simple left edge (4194304, 2) -> (8589934592, 2048): 4194304 + 2 x 8585740288 / 2046 =
        # 12.59e6 at 4 ranks; reduce-scatter's (8388608, 2) -> (4294967296, 1024): 16.78e6; left of them NCCL picks
        ("all_gather", 8 * MiB, 4, 1, None),
        ("all_gather", 16 * MiB, 4, 1, ("ring", "Simple")),
        ("reduce_scatter", 8 * MiB, 4, 1, None),
        ("reduce_scatter", 32 * MiB, 4, 1, ("ring", "Simple")),
        # 2 ranks a node, 6 ranks: tree/LL128 up to its edge (1314816, 4) -> (1051648, 8), 1183232 bytes there;
        # ring/LL128 on to (19736576, 4) -> (41842688, 8), 30789632; NVLS-tree on to (81844224, 4) -> (275775488,
        # 8), 178809856; ring/Simple from its edge (275775488, 8) -> (81844224, 5), 146487979, which NVLS-tree
        # (earlier in the list) overlaps
        ("allreduce", 1 * MiB, 3, 2, ("tree", "LL128")),
        ("allreduce", 16 * MiB, 3, 2, ("ring", "LL128")),
        ("allreduce", 64 * MiB, 3, 2, ("nvls-tree", "Simple")),
        ("allreduce", 160 * MiB, 3, 2, ("nvls-tree", "Simple")),
        ("allreduce", 2 * GiB, 3, 2, ("ring", "Simple")),
    ],
)
def test_plugin_pick(op: str, size: int, nodes: int, per_node: int, expected: tuple[str, str] | None) -> None:
    assert plugin_pick(AWS_OFI_NCCL, op, size, nodes, per_node) == expected
    assert plugin_pick("nccl", op, size, nodes, per_node) is None


def test_a_region_nccl_does_not_run_is_skipped() -> None:
    """``NCCL_ALGO_PROTO_IGNORE`` pairs are passed over (``region_get_coll_info_internal_v3``): without NVLS-tree,
    2 ranks a node at 160 MiB fall to the next region holding the point, ring/Simple (from 146487979 bytes), and
    256 ranks at 8 GiB to none (ring/Simple starts at 12 GiB there): NCCL's own pick."""
    runnable = [(a, p) for a in ("ring", "tree") for p in ("LL", "LL128", "Simple")]
    assert plugin_pick(AWS_OFI_NCCL, "allreduce", 160 * MiB, 3, 2, runnable) == ("ring", "Simple")
    assert plugin_pick(AWS_OFI_NCCL, "allreduce", 64 * MiB, 3, 2, runnable) is None
    assert plugin_pick(AWS_OFI_NCCL, "allreduce", 8 * GiB, 32, 8, runnable) is None


def test_region_pick_agrees_with_the_held_out_rows() -> None:
    """The held-out p5 rows state the 8 GiB picks read from the same polygons by hand, set the field above two
    nodes only, and run what it picks."""
    from benchmarks.nccl_tests_heldout import _P5_REGION_PICK, _p5_series
    from benchmarks.p5_series import SERIES

    for nodes, pick in _P5_REGION_PICK.items():
        assert plugin_pick(AWS_OFI_NCCL, "allreduce", 8 * GiB, nodes, 8) == tuple(pick.split("/"))
    assert sorted(SERIES) == sorted([2, *_P5_REGION_PICK])
    for nodes in SERIES:
        assert (("nccl_tuner", AWS_OFI_NCCL) in _p5_series(nodes, 1.0).communication) == (nodes > 2)


@pytest.mark.parametrize(("size", "nodes"), [(8 * GiB, 16), (1 * GiB, 4), (256 * MiB, 16)])
def test_both_engines_run_the_plugins_pick(size: int, nodes: int) -> None:
    """16 p5 nodes at 8 GiB (ring/Simple, right of the NVLS-tree region's edge at 128 ranks), 4 nodes at 1 GiB
    (ring/LL128) and 16 nodes at 256 MiB (tree/LL128, left of its edge (301989888, 128)): the analytic collective and
    the simulator's engine run the plugin's pair and agree on its time; NCCL's own tuner picks NVLS-tree there."""
    expected = _both_engines_run(_p5(nodes), size, plugin_pick(AWS_OFI_NCCL, "allreduce", size, nodes, 8))
    own = collective_rows(_p5(nodes, "nccl"), "allreduce", [size])[0]
    assert (own["algorithm"], own["protocol"]) != expected


def _both_engines_run(scenario: Any, size: int, expected: tuple[str, str] | None) -> tuple[str, str]:
    """Assert the analytic collective and the simulator's engine both run ``expected`` on ``scenario``'s all-reduce
    of ``size`` bytes and agree on its time within 1 %."""
    from dpsim.analytic.step import algorithm_of, fabric_of
    from dpsim.sim.cluster import Cluster
    from dpsim.sim.fast import FastEngine

    assert expected is not None
    analytic = collective_rows(scenario, "allreduce", [size])[0]
    assert (analytic["algorithm"], analytic["protocol"]) == expected
    fabric = fabric_of(scenario)
    engine = FastEngine(Cluster.from_fabric(fabric), algorithm_of(scenario), fabric.protocol)
    schedule = engine.choice("allreduce", size)[0]
    assert (schedule.name, schedule.protocol) == expected
    sim = float(engine.evaluate("allreduce", size, np.zeros(fabric.world_size)).max())
    assert sim == pytest.approx(analytic["time_s"], rel=0.01)
    return expected


def test_the_chunk_level_runs_the_plugins_pick() -> None:
    """4 p5 nodes at 1 GiB through ``dpsim collective --engine sim`` (chunk level, 32 ranks): ring/LL128, within
    1 % of the analytic price."""
    rows = {e: collective_rows(_p5(4), "allreduce", [1 * GiB], engine=e)[0] for e in ("analytic", "sim")}
    assert rows["sim"]["fidelity"] == "chunk"
    assert rows["sim"]["time_s"] == pytest.approx(rows["analytic"]["time_s"], rel=0.01)
    assert (rows["analytic"]["algorithm"], rows["analytic"]["protocol"]) == ("ring", "LL128")


@pytest.mark.parametrize(
    ("nodes", "device", "fields", "words"),
    [
        (2, "h100-sxm", {}, "two nodes or fewer"),
        (4, "a100-80gb", {}, "p5 / p5e"),
        (4, "h100-sxm", {"protocol": "none"}, "protocol: none"),
        (4, "h100-sxm", {"algorithm": "hierarchical"}, "algorithm: hierarchical"),
        (4, "h100-sxm", {"algorithm": "ring", "protocol": "Simple"}, "both named"),
    ],
)
def test_refused_where_it_picks_nothing(nodes: int, device: str, fields: dict[str, Any], words: str) -> None:
    with pytest.raises(ScenarioError, match=r"communication\.nccl_tuner") as caught:
        _p5(nodes, device=device, **fields)
    assert words in str(caught.value)
    _p5(nodes, "nccl", device=device, **fields)  # NCCL's own tuner: accepted as before


def test_refused_on_cpu_devices_and_off_the_p5_network() -> None:
    with pytest.raises(ScenarioError, match=r"communication\.nccl_tuner.*gloo"):
        machine_scenario("cpu", 4, 1, "cpu", "pcie4", {"preset": "100gbe"}, communication={"nccl_tuner": AWS_OFI_NCCL})
    with pytest.raises(ScenarioError, match=r"communication\.nccl_tuner.*efa-v2"):
        machine_scenario("ib", 4, 8, "h100-sxm", "nvlink4", {"preset": "ib-ndr", "nics_per_node": 8},
                         communication={"nccl_tuner": AWS_OFI_NCCL})  # fmt: skip
    _p5(4, device="h200")  # p5e


def test_an_unknown_tuner_is_refused_naming_the_field() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dpsim.cli", "collective", "--set", "communication.nccl_tuner=aws-ofi-nccl-1.21.1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "communication.nccl_tuner" in proc.stderr and "aws-ofi-nccl-1.16.3" in proc.stderr


def test_refused_beside_a_profile_whose_links_replace_nccls(tmp_path: Path) -> None:
    """A calibration profile with fitted links for the algorithm prices every collective on them with ``protocol:
    none``: no NCCL tuner runs, so the plugin picks nothing there either (``calibration.profile_for``)."""
    import yaml

    from dpsim.calibration import profile_for, save_profile
    from dpsim.ingest.nccl_tests import load_nccl_tests, profile_from_nccl_tests
    from dpsim.scenario import scenario_data

    data = Path(__file__).parent / "data" / "nccl_tests" / "all_reduce_8gpu_nccl-tests-new-format.txt"
    save_profile(profile_from_nccl_tests(load_nccl_tests(data), link_class="inter"), tmp_path / "gpu.yaml")
    body = scenario_data(_p5(4, "nccl"))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**body, "calibration": {"profile": "gpu.yaml"}}))
    scenario = load_scenario(tmp_path / "s.yaml", [f"communication.nccl_tuner={AWS_OFI_NCCL}"])
    with pytest.raises(ScenarioError) as caught:
        profile_for(scenario)
    assert caught.value.field == "communication.nccl_tuner" and "is an NCCL setting" in caught.value.message
    profile_for(load_scenario(tmp_path / "s.yaml"))  # NCCL's own tuner: accepted as before


P5EN_LINK = {"preset": "efa-v3", "nics_per_node": 8, "bandwidth": "400 Gbit/s", "pcie_gpus_per_nic": 1}


def _p5en(nodes: int, tuner: str = AWS_OFI_NCCL, device: str = "h200") -> Any:
    """``nodes`` p5en nodes: 8 H200, two 200G EFA v3 a GPU joined into one 400G NCCL device by aws-ofi-nccl."""
    return machine_scenario("p5en", nodes, 8, device, "nvlink4", P5EN_LINK, "auto", communication={"nccl_tuner": tuner})


@pytest.mark.parametrize(
    ("op", "size", "nodes", "per_node", "expected"),
    [
        # region_init_internal_p5en, 8 ranks a node, all-reduce. tree/LL is the triangle (0, 16), (262144, 16),
        # (262144, 1 Mi ranks): 128 KiB lies under its long side at 32 and 256 ranks
        ("allreduce", 128 * 1024, 4, 8, ("tree", "LL")),
        ("allreduce", 128 * 1024, 32, 8, ("tree", "LL")),
        # 32 ranks: tree/LL128's right edge (14680064, 16) -> (150994944, 128) is at 14680064 + 16/112 x 136314880 =
        # 34153618 bytes, so 32 MiB (33554432) is in it; ring/LL128 runs on to its edge (33554432, 16) ->
        # (536870912, 32), 512 MiB there; 1 GiB is below the NVLS-tree polygon's edge (536870912, 32) ->
        # (6442450944, 256) (52.4 ranks at 1 GiB) and above ring/Simple's floor of 16 ranks: ring/Simple
        ("allreduce", 32 * MiB, 4, 8, ("tree", "LL128")),
        ("allreduce", 64 * MiB, 4, 8, ("ring", "LL128")),
        ("allreduce", 1 * GiB, 4, 8, ("ring", "Simple")),
        # 256 ranks: tree/LL128 to its edge (150994944, 128) -> (251658240, 1024), 150994944 + 128/896 x 100663296 =
        # 165375415 bytes; NVLS-tree from there to (6442450944, 256); ring/Simple past it
        ("allreduce", 64 * MiB, 32, 8, ("tree", "LL128")),
        ("allreduce", 256 * MiB, 32, 8, ("nvls-tree", "Simple")),
        ("allreduce", 8 * GiB, 32, 8, ("ring", "Simple")),
        # all-gather and reduce-scatter share one set: 32 ranks, ring/LL to (262144, 32); ring/LL128 to the line
        # (268435456, 16) -> (2147483648, 128), 536870912 bytes at 32 ranks; ring/Simple from there
        ("all_gather", 128 * 1024, 4, 8, ("ring", "LL")),
        ("all_gather", 64 * MiB, 4, 8, ("ring", "LL128")),
        ("reduce_scatter", 1 * GiB, 4, 8, ("ring", "Simple")),
        # 1 rank a node, all-reduce. 4 ranks: tree/LL128 to its edge (262144, 2) -> (524288, 8), 349525 bytes;
        # tree/Simple to (262144, 2) -> (8388608, 32), 803908; ring/LL128 to (6291456, 2) -> (50331648, 16),
        # 12582912; ring/Simple past it. 64 ranks: tree/Simple from (524288, 8) -> (1048576, 96), 857925 bytes
        ("allreduce", 128 * 1024, 4, 1, ("tree", "LL128")),
        ("allreduce", 1 * MiB, 4, 1, ("ring", "LL128")),
        ("allreduce", 16 * MiB, 4, 1, ("ring", "Simple")),
        ("allreduce", 1 * MiB, 64, 1, ("tree", "Simple")),
        # its 1-rank all-gather starts with PAT (not modelled): not ported, NCCL's own pick; no 2-a-node regions;
        # two nodes: NCCL's own
        ("all_gather", 1 * GiB, 4, 1, None),
        ("allreduce", 1 * GiB, 4, 2, None),
        ("allreduce", 8 * GiB, 2, 8, None),
    ],
)
def test_p5en_plugin_pick(op: str, size: int, nodes: int, per_node: int, expected: tuple[str, str] | None) -> None:
    assert plugin_pick(AWS_OFI_NCCL, op, size, nodes, per_node, platform="p5en") == expected


def test_the_platform_follows_the_device_and_the_efa_generation() -> None:
    """``nccl_ofi_tuner_init`` loads regions by product name: p5 / p5e (8 H100 or H200 over EFA v2), p5en (8 H200 over
    EFA v3); nothing else, and the p5en's regions differ from the p5's (32 MiB on 256 ranks: p5en tree/LL128, p5
    tree/LL128 too; 1 GiB on 32 ranks: p5en ring/Simple, p5 ring/LL128)."""
    from dpsim.sim.collectives.tuner_plugin import platform_of

    assert platform_of("h100-sxm", 8, "efa-v2") == platform_of("h200", 8, "efa-v2") == "p5"
    assert platform_of("h200", 8, "efa-v3") == "p5en"
    assert platform_of("h100-sxm", 8, "efa-v3") is None
    assert platform_of("h200", 4, "efa-v3") is None
    assert platform_of("b200", 8, "efa-v2") is None
    assert plugin_pick(AWS_OFI_NCCL, "allreduce", 1 * GiB, 4, 8, platform="p5") == ("ring", "LL128")
    assert plugin_pick(AWS_OFI_NCCL, "allreduce", 1 * GiB, 4, 8, platform="p5en") == ("ring", "Simple")
    with pytest.raises(ValueError, match="platform"):
        plugin_pick(AWS_OFI_NCCL, "allreduce", 1 * GiB, 4, 8, platform="p6")


@pytest.mark.parametrize(("size", "nodes"), [(64 * MiB, 4), (1 * GiB, 4), (256 * MiB, 32)])
def test_both_engines_run_the_p5en_pick(size: int, nodes: int) -> None:
    """A p5en scenario (h200 over efa-v3) runs the p5en's region in both engines: 4 nodes at 64 MiB ring/LL128 and at
    1 GiB ring/Simple (NCCL's own tuner picks NVLS-tree at both), 32 nodes at 256 MiB NVLS-tree/Simple."""
    from dpsim.analytic.step import fabric_of

    assert fabric_of(_p5en(nodes)).nccl_tuner_platform == "p5en"
    _both_engines_run(_p5en(nodes), size, plugin_pick(AWS_OFI_NCCL, "allreduce", size, nodes, 8, platform="p5en"))
    if nodes == 4:
        own = collective_rows(_p5en(nodes, "nccl"), "allreduce", [size])[0]
        assert (own["algorithm"], own["protocol"]) == ("nvls-tree", "Simple")


def test_p5en_refusals_and_efa_v3() -> None:
    """The p5en's regions need its H200: an H100 over EFA v3 is no instance the plugin knows, refused naming the field.
    EFA v3 as aws-ofi-nccl 1.16.3 states it: 200 Gbit/s a link (``nccl_ofi_net.cpp``'s P5en override) and a 35 us
    latency reported to NCCL (``platform-aws.cpp``, the "p-series" entry for p5en and later)."""
    from dpsim.catalog import LINKS

    with pytest.raises(ScenarioError, match=r"communication\.nccl_tuner.*p5en") as caught:
        _p5en(4, device="h100-sxm")
    assert "efa-v3" in str(caught.value)
    _p5en(4, "nccl", device="h100-sxm")  # NCCL's own tuner: accepted
    with pytest.raises(ScenarioError, match="two nodes or fewer"):
        _p5en(2)
    assert LINKS["efa-v3"].bandwidth == pytest.approx(200e9 / 8)
    assert LINKS["efa-v3"].nccl_net_latency_s == pytest.approx(35e-6)
