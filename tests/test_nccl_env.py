"""NCCL_ALGO / NCCL_PROTO (``communication.nccl_algo`` / ``nccl_proto``): what ``auto`` may pick.

NCCL's ``ncclTopoTuneModel`` (src/graph/tuning.cc) parses both lists into ``algoEnable`` /
``protoEnable`` and zeroes the bandwidth of every pair they leave out, so ``topoGetAlgoInfo``
never picks it. GCP's GPUDirect-TCPXO profile for A3 Mega (plugin installer v1.0.0 - v1.0.8,
GoogleCloudPlatform/container-engine-accelerators gpudirect-tcpxo/README.md) exports
``NCCL_ALGO=Ring,Tree``, ``NCCL_PROTO=Simple`` and ``NCCL_NVLS_ENABLE=0``. The expected times
below are NCCL's own latency formula with its constants typed in again (v2.30.7 tuning.cc).
"""

from __future__ import annotations

import pytest

from dpsim.cli_collective import collective_rows, machine_scenario
from dpsim.errors import ScenarioError
from dpsim.scenario import CommunicationConfig
from dpsim.sim import collectives
from dpsim.sim.collectives.base import Layout

A3MEGA_NIC = {"preset": "400gbe", "bandwidth": "200 Gbit/s", "nics_per_node": 8}
PROFILE = {"nccl_algo": ["ring", "tree"], "nccl_proto": ["Simple"]}


def _h100_2x8(**kw: object) -> Layout:
    return Layout(2, 8, nics=8, nvls=True, arch="hopper", nic_gbps=25.0, **kw)  # type: ignore[arg-type]


def test_auto_picks_among_the_enabled_pairs_only() -> None:
    every = {(s.name, s.protocol) for s in collectives.candidates("allreduce", "auto", _h100_2x8(), "auto")}
    assert ("nvls-tree", "Simple") in every and ("ring", "LL") in every and len(every) == 7
    narrowed = _h100_2x8(nccl_algo=("ring", "tree"), nccl_proto=("Simple",))
    got = {(s.name, s.protocol) for s in collectives.candidates("allreduce", "auto", narrowed, "auto")}
    assert got == {("ring", "Simple"), ("tree", "Simple")}
    # NCCL_PROTO holds for the other collectives too; NCCL_ALGO leaves their ring as it is
    rs = collectives.candidates("reduce_scatter", "auto", narrowed, "auto")
    assert [(s.name, s.protocol) for s in rs] == [("ring", "Simple")]
    # a named algorithm and protocol are run as named
    (named,) = collectives.candidates("allreduce", "nvls-tree", narrowed, "Simple")
    assert named.name == "nvls-tree"


def test_nothing_left_to_pick_is_an_error_naming_the_fields() -> None:
    a100 = Layout(2, 8, nics=8, arch="ampere", nic_gbps=25.0, nccl_algo=("nvls-tree",))
    with pytest.raises(ScenarioError, match=r"communication\.nccl_algo: nvls-tree with nccl_proto all leaves NCCL no"):
        collectives.candidates("allreduce", "auto", a100, "auto")


def test_nccl_spelling_is_accepted_as_nccl_parses_it() -> None:
    c = CommunicationConfig(nccl_algo="Ring,TREE", nccl_proto="simple,LL128")  # type: ignore[arg-type]
    assert c.nccl_algo == ["ring", "tree"] and c.nccl_proto == ["Simple", "LL128"]
    assert CommunicationConfig(nccl_algo=["NVLSTree"]).nccl_algo == ["nvls-tree"]  # type: ignore[list-item]
    for bad in ({"nccl_proto": "Simpel"}, {"nccl_algo": "collnet"}, {"nccl_algo": []}):
        with pytest.raises(ValueError, match="nccl_"):
            CommunicationConfig(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_a3mega_profile_small_all_reduce_is_nccls_simple_tree_latency(engine: str) -> None:
    """8 B on 2 x 8 H100 under the TCPXO profile: tree/Simple, NCCL's estimate plus the network's own latency.

    NCCL's estimate, tree Simple: baseLat 8.4 + 2·((G−1)·hwLat[NVLINK][TREE][Simple] + log2(2)·hwLat[NET][TREE][Simple])
    = 8.4 + 2·(7·4.0 + 1·14.0) = 92.4 µs; ring Simple: 8.4 + (30 − 2)·3.4 + 2·14.0 = 131.6 µs, so the
    tuner takes the tree. Its time: each network hop is NCCL's Simple figure plus what 400gbe's 10 µs exceeds
    InfiniBand's LL hop (5.0): 14 + 5 = 19 µs, so 8.4 + 2·(7·4.0 + 19) = 102.4 µs (the protocol's proxy work
    follows the wire, it does not overlap it: ``Phase.timed_latency``).
    Without the profile the pick is tree/LL, each network hop at 400gbe's 10 µs (5.0 + 5):
    6.8 + 2·(7·0.6 + 10) = 35.2 µs, 2.9x less.
    """
    scenario = machine_scenario("a3mega", 2, 8, "h100-sxm", "nvlink4", A3MEGA_NIC, communication=PROFILE)
    (row,) = collective_rows(scenario, "allreduce", [8.0], engine=engine)
    assert (row["algorithm"], row["protocol"]) == ("tree", "Simple")
    assert row["time_s"] == pytest.approx(102.4e-6, rel=1e-3)
    plain = machine_scenario("a3mega", 2, 8, "h100-sxm", "nvlink4", A3MEGA_NIC)
    (before,) = collective_rows(plain, "allreduce", [8.0], engine=engine)
    assert before["protocol"] == "LL" and before["time_s"] < 0.5 * row["time_s"]


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_a3mega_profile_never_runs_nvls_tree(engine: str) -> None:
    """dpsim's default picks NVLS-tree on A3 Mega from 8 MiB; the profile's NCCL_ALGO=Ring,Tree leaves it out."""
    sizes = [8.0 * (1 << 20), 64.0 * (1 << 20), 1.0 * (1 << 30)]
    plain = machine_scenario("a3mega", 2, 8, "h100-sxm", "nvlink4", A3MEGA_NIC)
    assert "nvls-tree" in {r["algorithm"] for r in collective_rows(plain, "allreduce", sizes, engine=engine)}
    scenario = machine_scenario("a3mega", 2, 8, "h100-sxm", "nvlink4", A3MEGA_NIC, communication=PROFILE)
    rows = collective_rows(scenario, "allreduce", sizes, engine=engine)
    assert {r["algorithm"] for r in rows} <= {"ring", "tree"} and {r["protocol"] for r in rows} == {"Simple"}


@pytest.mark.parametrize(
    ("sets", "field"),
    [
        (["communication.algorithm=nvls"], "communication.algorithm"),  # default: A100 nodes, no NVLink SHARP
        (["communication.algorithm=nvls-tree", "communication.protocol=LL", "cluster.device=h100-sxm",
          "cluster.intra_node=nvlink4"], "communication.protocol"),
        (["communication.nccl_algo=nvls", "cluster.device=h100-sxm", "cluster.intra_node=nvlink4"],
         "communication.nccl_algo"),  # 8 nodes: NVLS runs across nodes only as NVLS-tree
    ],
)  # fmt: skip
def test_an_algorithm_the_cluster_cannot_run_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], sets: list[str], field: str
) -> None:
    from dpsim.cli import main

    with pytest.raises(SystemExit) as info:
        main(["collective", "--size", "64MiB", *[a for s in sets for a in ("--set", s)]])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and f"{field}: " in err


def _gb200(nodes: int, version: str, **kw: object) -> Layout:
    """``nodes`` GB200 trays of 4 GPUs, one ConnectX-7 a GPU on the Grace's PCIe (``nic_path: c2c``)."""
    return Layout(
        nodes, 4, nics=4, nvls=True, arch="blackwell", nic_gbps=50.0, nic_c2c=True, nccl_version=version, **kw
    )  # type: ignore[arg-type]


def _protocols(layout: Layout) -> set[str]:
    return {p for _, p in collectives.candidate_pairs("allreduce", "auto", layout, "auto")}


def test_no_default_ll128_across_nodes_through_a_c2c_nic_before_v2_27_3() -> None:
    """NCCL's ``ncclTopoTuneModel`` (v2.18.3-v2.26.6) enables LL128 by default only where the graph's GPU-to-NIC
    path ``typeInter <= PATH_PXB``, or ``<= PATH_PXN`` from Hopper on. A GB200's NIC hangs off its Grace, which the
    GPU reaches over NVLink-C2C: ``paths.cc`` types that path ``PHB`` (7 > ``PXN`` 6) until v2.27.3, which adds
    ``PATH_P2C`` for it and allows LL128 up to ``P2C`` (``NCCL_LL128_C2C`` default 1). ``NCCL_PROTO`` naming LL128
    sets ``protoEnable`` to 1, which that default rule (``pEnable == 2``) does not touch."""
    assert _protocols(_gb200(3, "2.26.2")) == {"LL", "Simple"}
    assert _protocols(_gb200(3, "2.25.1")) == {"LL", "Simple"}
    assert _protocols(_gb200(3, "2.27.3")) == {"LL", "LL128", "Simple"}
    assert _protocols(_gb200(3, "2.30.7")) == {"LL", "LL128", "Simple"}
    # one node: no network path in any graph
    assert _protocols(_gb200(1, "2.26.2")) == {"LL", "LL128", "Simple"}
    # a NIC on the GPU's PCIe switch (not C2C)
    pcie = Layout(3, 4, nics=4, nvls=True, arch="blackwell", nic_gbps=50.0, nccl_version="2.26.2")
    assert _protocols(pcie) == {"LL", "LL128", "Simple"}
    # NCCL_PROTO=LL128,Simple: enabled as named
    assert _protocols(_gb200(3, "2.26.2", nccl_proto=("LL128", "Simple"))) == {"LL128", "Simple"}
    # a named protocol runs as named
    (named,) = collectives.candidate_pairs("allreduce", "tree", _gb200(3, "2.26.2"), "LL128")
    assert named == ("tree", "LL128")


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_a_c2c_nic_scenario_on_nccl_2_26_picks_no_ll128(engine: str) -> None:
    """``cluster.inter_node.nic_path: c2c`` reaches the pick through both engines: 3 GB200 trays on NCCL 2.26.2 at
    1 MiB, where the same machine on 2.27.3 runs the tree on LL128 (on 2.26.2: NVLS-tree, Simple)."""
    inter = {"preset": "ib-ndr", "nics_per_node": 4, "nic_path": "c2c"}
    rows = {
        version: collective_rows(
            machine_scenario("gb200", 3, 4, "b200", "nvlink5", inter, communication={"nccl_version": version}),
            "allreduce", [2**20], engine=engine,
        )[0]
        for version in ("2.26.2", "2.27.3")
    }  # fmt: skip
    assert rows["2.27.3"]["protocol"] == "LL128"
    assert rows["2.26.2"]["protocol"] != "LL128"


def test_nic_path_refuses_other_values_naming_the_field() -> None:
    with pytest.raises(ScenarioError, match=r"cluster\.inter_node\.nic_path"):
        machine_scenario("x", 2, 4, "b200", "nvlink5", {"preset": "ib-ndr", "nics_per_node": 4, "nic_path": "cxl"})
