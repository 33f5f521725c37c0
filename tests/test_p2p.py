"""NCCL's point-to-point operations (all-to-all, send/receive) and its ring reduce: hand-computed times,
nccl-tests' bus-bandwidth factors, PXN, the protocol NCCL picks, and both engines on one schedule."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from _bench import load_benchmark
from test_cli import cli  # the in-process runner of the CLI tests (pytest puts tests/ on the path)

from dpsim.analytic.collectives import Fabric, Link, busbw_factor, collective
from dpsim.sim.chunk import ChunkEngine
from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives import build, candidates
from dpsim.sim.collectives.base import Layout
from dpsim.sim.collectives.p2p import P2P_LL_THRESHOLD, p2p_transfers, pxn_relay
from dpsim.sim.cost import phase_cost
from dpsim.sim.fast import FastEngine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"
GiB = float(1 << 30)

# 2 nodes x 2 GPUs: 100 GB/s ports (1 us), one 10 GB/s NIC per GPU (5 us), no host link (no PXN)
SMALL = Fabric(2, 2, Link(1e-6, 100e9), Link(5e-6, 10e9), nics_per_node=2)


def test_nccl_tests_busbw_factors() -> None:
    """nccl-tests ``src/alltoall.cu`` (n-1)/n, ``src/sendrecv.cu`` 1, ``src/reduce.cu`` 1."""
    assert busbw_factor("alltoall", 16) == pytest.approx(15 / 16)
    assert busbw_factor("sendrecv", 16) == 1.0
    assert busbw_factor("reduce", 16) == 1.0


def test_alltoall_by_hand() -> None:
    """Each rank sends S/4 to 3 peers; its 2 inter-node ones leave through its own NIC: S/2 at 10 GB/s."""
    t = collective("alltoall", "ring", GiB, SMALL).time_s
    assert t == pytest.approx(5e-6 + (GiB / 2) / 10e9, rel=1e-9)
    # NCCL's Simple: ring base latency 8.4 us + one network step of 14 us (hwLatencies[NET][RING][Simple])
    simple = dataclasses.replace(SMALL, protocol="auto")
    choice = collective("alltoall", "auto", GiB, simple)
    assert (choice.algorithm, choice.protocol) == ("p2p", "Simple")
    assert choice.time_s == pytest.approx(8.4e-6 + 14e-6 + (GiB / 2) / 10e9, rel=1e-9)


def test_sendrecv_by_hand() -> None:
    """Ring of user ranks 0->1->2->3->0: two of the four sends cross nodes, S each through one NIC."""
    t = collective("sendrecv", "ring", GiB, SMALL).time_s
    assert t == pytest.approx(5e-6 + GiB / 10e9, rel=1e-9)


def test_reduce_by_hand_and_like_the_ring_broadcast() -> None:
    """Without a protocol: the binomial tree reversed, 2->0 and 3->1 across nodes, then 1->0 inside."""
    t = collective("reduce", "ring", GiB, SMALL).time_s
    assert t == pytest.approx(5e-6 + GiB / 10e9 + 1e-6 + GiB / 100e9, rel=1e-9)
    # NCCL's ring reduce is its ring broadcast run backwards: the same time on full-duplex links
    nccl = dataclasses.replace(SMALL, protocol="auto", arch="ampere")
    for size in (8.0, 1e6, GiB):
        reduce, bcast = collective("reduce", "auto", size, nccl), collective("broadcast", "auto", size, nccl)
        assert reduce.time_s == pytest.approx(bcast.time_s, rel=1e-12)
        assert (reduce.algorithm, reduce.protocol) == (bcast.algorithm, bcast.protocol) and reduce.algorithm == "ring"


def test_pxn_relays_through_the_nic_of_the_peers_rail() -> None:
    """One NIC for two GPUs, host links slower than the NIC: with PXN (NCCL_P2P_PXN_LEVEL=2) every send to the
    other node leaves through GPU 0's PCIe link, S at 5 GB/s; without it each GPU's own link carries S/2."""
    host = dataclasses.replace(SMALL, nics_per_node=1, inter=Link(5e-6, 40e9), host=Link(1e-6, 5e9))
    layout = host.layout()
    assert layout.pxn and list(pxn_relay(layout, np.arange(2))) == [0, 0]
    cluster = Cluster.from_fabric(host)
    with_pxn = phase_cost(build("alltoall", "p2p", layout, "none"), cluster)
    without = phase_cost(build("alltoall", "p2p", dataclasses.replace(layout, pxn=False), "none"), cluster)
    assert with_pxn.seconds_per_byte == pytest.approx(1 / 5e9, rel=1e-9)
    assert without.seconds_per_byte == pytest.approx(0.5 / 5e9, rel=1e-9)
    # a relay leg is two transfers: n(G-1) inside + n(n-G) across + the (G-1)/G of those relayed
    assert build("alltoall", "p2p", layout, "none").transfers == p2p_transfers("alltoall", layout) == 4 + 8 + 4


def test_p2p_protocol_is_nccls_rule() -> None:
    """LL up to NCCL_P2P_LL_THRESHOLD (16 KiB) a peer on one node; across nodes Simple (no LL net buffers)."""
    one = Fabric(1, 8, Link(1e-6, 100e9), Link(5e-6, 10e9), nics_per_node=8, protocol="auto")
    limit = P2P_LL_THRESHOLD * 8  # alltoall sends S/8 to each peer
    assert collective("alltoall", "auto", limit, one).protocol == "LL"
    assert collective("alltoall", "auto", 2 * limit, one).protocol == "Simple"
    assert collective("sendrecv", "auto", P2P_LL_THRESHOLD, one).protocol == "LL"
    assert collective("sendrecv", "auto", 2 * P2P_LL_THRESHOLD, one).protocol == "Simple"
    two = dataclasses.replace(SMALL, protocol="auto")
    assert [s.protocol for s in candidates("alltoall", "auto", two.layout(), "auto")] == ["Simple"]
    assert collective("sendrecv", "auto", 8.0, two).protocol == "Simple"


@pytest.mark.parametrize("op", ["alltoall", "sendrecv", "reduce"])
def test_engines_agree(op: str) -> None:
    """The analytic price, the fast level and the chunk level run one schedule (2 x 4 GPUs with a host link)."""
    fabric = Fabric(
        2, 4, Link(1e-6, 150e9), Link(5e-6, 24e9), nics_per_node=4, protocol="auto", arch="ampere", nic_gbps=25.0,
        host=Link(1e-6, 24e9),
    )  # fmt: skip
    cluster = Cluster.from_fabric(fabric)
    chunk, fast = ChunkEngine(cluster, "auto", protocol="auto"), FastEngine(cluster, "auto", "auto")
    for size in (8.0, 64e3, 4e6, GiB):
        expected = collective(op, "auto", size, fabric).time_s
        for engine in (chunk, fast):
            got = float(engine.evaluate(op, size, np.zeros(8)).max())
            assert got == pytest.approx(expected, rel=0.01), (op, size, engine.fidelity)


def test_rank_order_moves_sendrecv_pairs_not_alltoall() -> None:
    """Send/receive follows user ranks: round-robin ranks put every pair across nodes; all-to-all is the same."""
    base = Layout(2, 2, nics=2)
    shuffled = dataclasses.replace(base, slots=(0, 2, 1, 3))
    cluster = Cluster.from_fabric(SMALL)
    rr = Cluster.from_fabric(dataclasses.replace(SMALL, rank_order=(0, 2, 1, 3)))
    plain = phase_cost(build("sendrecv", "p2p", base, "none"), cluster).seconds_per_byte
    crossed = phase_cost(build("sendrecv", "p2p", shuffled, "none"), rr).seconds_per_byte
    assert plain == pytest.approx(1 / 10e9) and crossed == pytest.approx(1 / 10e9)
    a2a = phase_cost(build("alltoall", "p2p", base, "none"), cluster).seconds_per_byte
    assert phase_cost(build("alltoall", "p2p", shuffled, "none"), rr).seconds_per_byte == pytest.approx(a2a)


@pytest.mark.parametrize(("op", "factor"), [("alltoall", 63 / 64), ("sendrecv", 1.0), ("reduce", 1.0)])
def test_cli_json_fields(capsys: pytest.CaptureFixture[str], op: str, factor: float) -> None:
    code, out, err = cli(capsys, "collective", DEFAULT, "--op", op, "--sizes", "1KiB,1GiB", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    fields = {"op", "size_bytes", "time_s", "algbw_Bps", "busbw_Bps", "algorithm", "protocol", "world_size"}
    for r in rows:
        assert set(r) >= fields and r["op"] == op and r["world_size"] == 64
        assert r["busbw_Bps"] == pytest.approx(r["algbw_Bps"] * factor, rel=1e-12)
        assert r["algorithm"] == ("ring" if op == "reduce" else "p2p")
    assert rows[1]["protocol"] == "Simple"


def test_cli_bad_op_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "collective", "--op", "hypercube")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--op" in err


def _published() -> list[object]:
    module = load_benchmark("nccl_tests_table", "nccl_tests_table_p2p")
    return [module.predict(run) for run in module.P2P_ROWS]


def test_published_alltoall_runs_within_15_percent() -> None:
    """benchmarks/nccl_tests_table.py P2P_ROWS (nothing fitted to them): dpsim above both, by 9.5 and 13.5 %."""
    rows = _published()
    assert len(rows) >= 2
    for row in rows:
        assert isinstance(row, dict) and row["algorithm_used"] == "p2p", row
        assert abs(row["error"]) < 0.15, (row["name"], row["predicted_gbps"], row["busbw_gbps"])


def test_nccl_pxn_disable() -> None:
    """``communication.nccl_pxn_disable`` (NCCL_PXN_DISABLE=1): no p2p relay and no collective relay."""
    from dpsim.analytic.collectives import pxn_relays
    from dpsim.analytic.step import calibrated_fabric
    from dpsim.scenario import load_scenario

    on = calibrated_fabric(load_scenario(DEFAULT, batch_free=True))
    off = calibrated_fabric(load_scenario(DEFAULT, overrides=["communication.nccl_pxn_disable=true"], batch_free=True))
    assert on.layout().pxn and not off.layout().pxn
    assert Cluster.from_fabric(off).nccl_pxn_disable
    # one GPU on each of 4 NICs' PCIe switches: NCCL relays collectives' sends through the NIC's GPU, unless disabled
    quad = dataclasses.replace(on, nics_per_node=4, pcie_gpus_per_nic=1)
    assert pxn_relays(quad) == (0, 0, 2, 2, 4, 4, 6, 6)
    assert pxn_relays(dataclasses.replace(quad, nccl_pxn_disable=True)) == tuple(range(8))
    # on the default's rail-aligned NICs PXN moves no NIC load: all-to-all takes the same time either way
    a, b = collective("alltoall", "auto", GiB, on), collective("alltoall", "auto", GiB, off)
    assert a.time_s == pytest.approx(b.time_s, rel=1e-9)


def test_cli_bad_pxn_disable_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "collective", "--op", "alltoall", "--set", "communication.nccl_pxn_disable=maybe")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "nccl_pxn_disable" in err


def test_gather_and_scatter_by_hand() -> None:
    """Gather to rank 0 (nccl-tests gather_perf): ranks 2 and 3 send S/4 each into node 0's NIC 0 (S/2 at 10 GB/s),
    rank 1 over NVLink; scatter is its reverse. busbw (n-1)/n (src/gather.cu, src/scatter.cu)."""
    for op in ("gather", "scatter"):
        assert collective(op, "ring", GiB, SMALL).time_s == pytest.approx(5e-6 + (GiB / 2) / 10e9, rel=1e-9)
        assert busbw_factor(op, 8) == pytest.approx(7 / 8)
    layout = Layout(2, 4, nics=4)
    assert build("gather", "p2p", layout, "Simple").transfers == p2p_transfers("gather", layout) == 3 + 4
