"""Published nccl-tests curves (``benchmarks/nccl_tests_curves.py``): sizes that hold, and the misses.

Strict checks (within 10 % of the printed time) where dpsim holds; strict xfails, each with the
measured miss and its reason, where it does not — nothing here is fitted to the curves.
"""

from __future__ import annotations

import pytest
from _bench import load_benchmark

from dpsim.ingest.nccl_tests import parse_nccl_tests

curves = load_benchmark("nccl_tests_curves")

MiB = 1 << 20
GiB = 1 << 30


def _curve(text: str) -> object:
    return next(c for c in curves.CURVES if text in c.name)


_ROWS: dict[str, list[dict]] = {}


def _row(curve_text: str, size: int) -> dict:
    if curve_text not in _ROWS:
        _ROWS[curve_text] = curves.compare(_curve(curve_text))
    return next(r for r in _ROWS[curve_text] if r["size_bytes"] == size)


def test_every_curve_parses_with_its_rank_count_and_sources_exist() -> None:
    for c in curves.CURVES:
        run = curves.measured(c)
        assert run.ranks == c.nodes * c.gpus_per_node
        assert len(run.rows) >= 5
        assert c.source.startswith("https://")
    assert len(curves.measured(_curve("p5.48xlarge")).rows) == 32  # 8 B .. 16 GiB


def test_reduce_scatter_curve_keeps_its_cut_row_and_nccl_tests_busbw() -> None:
    """nvidia/nccl#1047 as stored: 7 rows, the 8 GiB one cut after out-of-place; busbw = S/t · (n−1)/n."""
    run = curves.measured(_curve("reduce_scatter"))
    assert run.op == "reduce_scatter" and len(run.rows) == 7
    assert run.rows[-1].in_place_s is None and run.rows[-1].time_s == pytest.approx(20754e-6)
    assert run.rows[-1].busbw == pytest.approx(8 * GiB / 20754e-6 * 7 / 8, rel=1e-3)  # 362.16 printed
    row = _row("reduce_scatter", 8 * GiB)
    assert row["analytic"]["busbw_gbps"] == pytest.approx(8 * GiB / row["analytic"]["time_s"] * 7 / 8 / 1e9)


def test_srun_label_prefix_is_stripped() -> None:
    header = "size count type redop root time algbw busbw #wrong time algbw busbw #wrong"
    row = "1024 256 float sum -1 69.24 0.01 0.03 0 69.04 0.01 0.03 0"
    text = f"0: #   {header}\n0:     {row}\n"
    (run,) = parse_nccl_tests(text, "all_reduce_perf.txt", ranks=16)
    assert [r.size_bytes for r in run.rows] == [1024]
    assert run.rows[0].out_of_place_s == pytest.approx(69.24e-6)


def test_regimes_split_at_64kib_and_16mib() -> None:
    assert curves.regime_of(64 * 1024 - 1) == "latency"
    assert curves.regime_of(64 * 1024) == "mid"
    assert curves.regime_of(16 * MiB - 1) == "mid"
    assert curves.regime_of(16 * MiB) == "large"


HOLDS = [
    ("A100 3x8", 75497480),  # 72 MiB, ring/Simple: +2 %
    ("A100 3x8", 133169160),  # 127 MiB: +8 % (at 96 GB/s, the 4 HDR NICs' peak; dpsim 89)
    ("p5.48xlarge", 1 * GiB),  # NVLS-tree: -0 % (-3 % before NVLS-tree's chunked fill)
    ("p5.48xlarge", 16 * GiB),  # +6 %
    # 1 GPU per node, tree/LL128 on RoCE (roce-400g: NCCL's IB verbs transport, each network hop NCCL's 8.5 us):
    # -6 % (+1 % while RoCE was priced with 400gbe's TCP 10 us, 8.5 + 5 a hop)
    ("Tree", 4 * MiB),
    ("reduce_scatter", 128 * MiB),  # one H100 node, ring reduce_scatter: -7 % (nvidia/nccl#1047)
    ("reduce_scatter", 1 * GiB),  # -5 %
    ("reduce_scatter", 8 * GiB),  # -2 % (its stored row has the out-of-place time only)
    # OCI BM.GPU.H100.8: 8 dual-port 2 x 200G cards, each fused into one 400G device by NCCL 2.21.5 (net_ib.cc
    # NCCL_IB_MERGE_NICS): NVLS-tree on 8 heads at 8 x 57.7 GB/s (perChMaxNVLSTreeBw): +0 % (-2 % before
    # NVLS-tree's chunked fill; +21 % as 16 ring NICs)
    ("OCI", 1 * GiB),
    ("OCI", 16 * GiB),  # +1 %
    ("NCCL_ALGO=RING", 512 * MiB),  # 2 x 4 H100, 4 HDR, ring: +0 % (nccl-tests#252)
    ("NCCL_ALGO=RING", 8 * GiB),  # -1 %
    # tree/Simple under the run's TCPXO profile (NCCL_ALGO=Ring,Tree, NCCL_PROTO=Simple, NCCL_BUFFSIZE=8 MiB):
    # 16 MiB is one 1 MiB chunk per channel, forwarded whole over 14 chain and 2 network hops (-7 %; -80 % as a fluid)
    ("A3 Mega", 16 * MiB),
    ("A3 Mega", 32 * MiB),  # two chunks: -6 % (-72 % as a fluid)
    ("A3 Mega", 128 * MiB),  # -3 % (-45 %)
    ("A3 Mega", 1 * GiB),  # +8 % (-3 %): the fill of 16 hops of 1 MiB stays
    ("A3 Mega", 2 * GiB),  # +9 %
]


@pytest.mark.parametrize(("curve", "size"), HOLDS)
def test_published_size_within_10_percent_both_engines(curve: str, size: int) -> None:
    row = _row(curve, size)
    for engine in ("analytic", "sim"):
        assert abs(row[engine]["time_error"]) <= 0.10, (curve, size, engine, row[engine])


MISSES = [
    pytest.param(
        "p5.48xlarge", 8,
        marks=pytest.mark.xfail(strict=True, reason="-14 %: 60.7 us (tree/LL: 6.8 + 2*7*0.6 + 2 network hops at "
                                "efa-v2's 22.75 us, a hop read from an EFA v1 run on p3dn without GPUDirect RDMA) vs "
                                "71 us printed"),
    ),
    pytest.param(
        "p5.48xlarge", 16 * MiB,
        marks=pytest.mark.xfail(strict=True, reason="+27 % (ring/LL128, busbw 83 vs 105 GB/s: its wave crosses 4 "
                                "network hops at aws-ofi-nccl's 75 us in 30 steps, stop 47; -26 % before, busbw 143, "
                                "every step its mean latency and its bytes; -36 % as tree/LL128 "
                                "before the p5's one GPU a NIC switch put NCCL's TREE-pattern x0.85 in the estimate, "
                                "-54 % as NVLS-tree before aws-ofi-nccl's 75 us entered it): 16 KiB to 128 MiB run "
                                "up to 2x fast, 49-128 us short from 2 MiB (50-230 before NVLS-tree's chunked fill, "
                                "60-260 then with each network hop at max(NCCL's, efa-v2's 22.75 us), not NCCL's + "
                                "22.75 - 5) even with efa-v2's latency on each "
                                "network hop: not per-message latency; not the "
                                "channel count: NCCL's topoGetAlgoInfo trims channels only below "
                                "nChannels*threads*threshold (512 KiB for 16 Simple channels); not NCCL's step "
                                "pipeline (calcCollChunking): the ring runs one loop of 30 chunk transfers below "
                                "512 MiB, and NVLS-tree's chunked fill (the first chunk's "
                                "two NVLS crossings and network steps, priced since af0c1bf) leaves the NVLS-tree "
                                "sizes 126-174 us short at 64-512 MiB (226-274 before it) "
                                "(README, fidelity notes)"),
    ),
    pytest.param(
        "A3 Mega", 8,
        marks=pytest.mark.xfail(strict=True, reason="-21 % (-17 % at 16 B - 256 B; -29 % with each network hop at "
                                "max(NCCL's 14, 10 us)): under the run's profile (Simple only) NCCL's tree/Simple "
                                "estimate is 8.4 + 2*(7*4.0 + 14) = 92.4 us, its time 8.4 + 2*(7*4.0 + 14 + 10 - 5) = "
                                "102.4 us, the printed 123 us; the TCPXO plugin reports no latency to NCCL "
                                "(nccl_shim.cc GetProperties: 0) "
                                "and no public per-message figure of it was found, and Google's tuner plugin, which "
                                "the profile loads (a3plus_tuner_config.textproto), is not public: its ring/tree "
                                "pick is not modelled (ring/Simple: 131.6 us)"),
    ),
    pytest.param(
        "A3 Mega", 4 * MiB,
        marks=pytest.mark.xfail(strict=True, reason="-16 % (-11 % at 8 MiB, -26 % at 1 MiB; -19 % with each network "
                                "hop at max(NCCL's 14, 10 us), -67 % before the tree's chunked fill): what is left, "
                                "45-65 us from 512 KiB to 64 MiB, is about twice the 20-23 us the latency-bound sizes "
                                "miss (see 8 B; 32-256 KiB miss 27-38 us since NCCL's channel trimming is modelled): "
                                "TCPXO's per-message time is not public"),
    ),
    pytest.param(
        "Tree", 2 * MiB,
        marks=pytest.mark.xfail(strict=True, reason="-15 % (87.1 vs 102.3 us, tree/Simple; each of the 2 network "
                                "hops at NCCL's Simple 14 us on RoCE, roce-400g). It read -5 % while RoCE was "
                                "priced with 400gbe's TCP 10 us (14 + 5 = 19 us a hop): that was the wrong "
                                "latency, not a model of this run; what the run spends above 14 us a hop has no "
                                "source disjoint from this curve"),
    ),
    pytest.param(
        "Tree", 32 * MiB,
        marks=pytest.mark.xfail(strict=True, reason="+17 % on RoCE at NCCL's 8.5 us a hop (busbw 35.5 vs 41.4 GB/s; "
                                "+18 % with 400gbe's TCP 10 us, 8.5 + 10 - 5; +37 % while the TREE "
                                "pattern's x0.85 was timed, which on 2 nodes only NCCL's estimate carries: both "
                                "trees are one edge, so no head reduces more than the balanced tree's GPUs). "
                                "Not the channel count: NCCL's search builds one 48 GB/s channel (min(400G, PCIe "
                                "Gen5 48)), copied to 2 on the same NIC, as dpsim does. NCCL's corrected estimate "
                                "(tree LL128 x0.9 vs Simple x0.7 at 8-32 MiB) picks LL128, whose per-channel cap "
                                "(perChMaxTreeLL128Bws, 2 x 36.7 tuner busBw = 36.7 GB/s algbw) dpsim times; the run "
                                "reaches 41 GB/s at 32 MiB and, per the poster, ~50 at large sizes, above that cap "
                                "and below the one NIC; dropping the caps from the time would put the A100 2 x HDR "
                                "tree at 82 GB/s against 57 printed, so they stay (README, fidelity notes)"),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("curve", "size"), MISSES)
def test_published_size_known_miss(curve: str, size: int) -> None:
    assert abs(_row(curve, size)["analytic"]["time_error"]) <= 0.10


def test_oci_dual_port_nics_run_nvls_tree_on_eight_fused_devices() -> None:
    """465 GB/s printed is more than a ring through 16 x 200G carries (16 x 24 = 384): NVLS-tree over 8 fused
    400G devices, capped at 8 heads x 57.7 GB/s = 461.6 GB/s bus bandwidth; unfused, the ring's 16 NICs."""
    row = _row("OCI", 16 * GiB)
    assert (row["analytic"]["algorithm"], row["sim"]["algorithm"]) == ("nvls-tree", "nvls-tree")
    assert 440.0 < row["analytic"]["busbw_gbps"] <= 8 * 57.7
    c = _curve("OCI")
    unfused = curves.Curve(**{**c.__dict__, "communication": {"nccl_nic_fusion": False}})
    rows = curves.compare(unfused, engines=("analytic",))
    assert rows[-1]["analytic"]["algorithm"] == "ring"
    assert rows[-1]["analytic"]["busbw_gbps"] <= 16 * 24.0


def test_a3_mega_small_sizes_hold_one_channel_share_each() -> None:
    """NCCL runs a tree/Simple message on ``S / (512 threads x 64 B)`` channels (``topoGetAlgoInfo``), so from
    32 to 256 KiB each of 1-8 channels holds 32 KiB and forwards it whole over 14 chain hops (both trees' chunks
    of a rail at the 41.4 GB/s Hopper 2-node tree cap) and 2 network hops (200G at tree Simple's 0.92):
    102.4 + 32768 x (14 x 2 / 41.4e9 + 2 / (0.92 x 25e9)) s = 127.4 us at each size (94-105 us before, S / 16 a
    channel; 102.4 us of latency: 8 B's, each network hop 14 + 10 - 5 us). The printed curve is flat there too
    (154-166 us), 28 us above its 4 KiB point."""
    expected = 102.4e-6 + 32768 * (14 * 2 / 41.4e9 + 2 / (0.92 * 25e9))
    for size in (32 * 1024, 64 * 1024, 128 * 1024, 256 * 1024):
        row = _row("A3 Mega", size)
        for engine in ("analytic", "sim"):
            assert row[engine]["time_s"] == pytest.approx(expected, rel=2e-3), (size, engine)
    assert _row("A3 Mega", 8)["analytic"]["time_s"] == pytest.approx(102.4e-6, rel=1e-3)


def test_summary_groups_each_regime() -> None:
    rows = curves.compare(_curve("p5.48xlarge"), engines=("analytic",))
    s = curves.summary(rows)
    assert {k: v["sizes"] for k, v in s.items()} == {"latency": 13, "mid": 8, "large": 11}
    assert s["large"]["median"] <= s["large"]["max"]
