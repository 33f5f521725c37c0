"""``benchmarks/p5_series.py``'s all-gather and all-to-all series: what NCCL 2.27.7 runs there, checked against the
series itself and NCCL's source."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from benchmarks.nccl_tests_heldout import _p5_series
from benchmarks.nccl_tests_table import predict
from benchmarks.p5_series import ALL_GATHER, ALL_TO_ALL, MiB, rows
from dpsim.sim.collectives.tuner_plugin import AWS_OFI_NCCL, plugin_pick


def test_the_plugin_leaves_all_gather_to_nccl() -> None:
    """aws-ofi-nccl 1.16.3's p5 regions hold all-gather at one rank a node only (``nccl_ofi_regions.cpp``), so at 8
    ranks a node every point is NCCL's own pick."""
    for nodes, points in ALL_GATHER.items():
        for mib, _ in points:
            assert plugin_pick(AWS_OFI_NCCL, "all_gather", mib * MiB, nodes, 8) is None


def test_simple_where_the_measured_busbw_dips() -> None:
    """Independent truth for dpsim's pick (NCCL's tuner as ported): across nodes NCCL runs all-gather as a ring
    (``tuning.cc``: PAT needs one GPU a node, NVLS a CollNet), so the only choice is the protocol, and the measured
    curve shows where it turns LL128 → Simple: busbw grows least from one size to the next exactly there (it falls
    on 2, 4 and 8 nodes: 234.5 → 215.6, 253.4 → 220.6, 261.3 → 224.5 GB/s). dpsim turns at those sizes, and where it
    never turns (32 nodes up to 2 GiB) the measured busbw rises at every doubling."""
    table = rows("all_gather")
    assert {r["ran"].split("(")[1].split("/")[0] for r in table} == {"ring"}
    for nodes, points in ALL_GATHER.items():
        ran = [r for r in table if r["nodes"] == nodes]
        simple = [i for i, r in enumerate(ran) if r["ran"].endswith("/Simple)")]
        growth = [b / a for (_, a), (_, b) in itertools.pairwise(points)]
        if simple:
            first = simple[0]
            assert simple == list(range(first, len(ran)))  # Simple from there on
            assert growth[first - 1] == min(growth)
        else:
            assert min(growth) > 1.0
    assert {n for n in ALL_GATHER if any(r["ran"].endswith("/Simple)") for r in table if r["nodes"] == n)} == {
        2,
        4,
        8,
        16,
    }


def test_the_all_to_all_is_grouped_p2p_simple_on_both_engines() -> None:
    """The job's all-to-all (:data:`ALL_TO_ALL`) is grouped ncclSend/ncclRecv: aws-ofi-nccl's regions hold no
    all-to-all and NCCL's tuner has no p2p model, so nothing picks; across nodes p2p connections have no LL buffers
    (``net.cc``: ``NCCL_ALLOC_P2P_NET_LL_BUFFERS`` 0), so every point runs Simple. Both engines price it alike."""
    table = rows("alltoall")
    assert len(table) == sum(len(points) for points in ALL_TO_ALL.values()) == 35
    for nodes, points in ALL_TO_ALL.items():
        for mib, _ in points:
            assert plugin_pick(AWS_OFI_NCCL, "alltoall", mib * MiB, nodes, 8) is None
    assert {r["ran"] for r in table} == {"p2p/Simple"}
    for nodes, mib in ((2, 32), (32, 2048)):
        run = dataclasses.replace(_p5_series(nodes, 1.0), op="alltoall", size_bytes=float(mib * MiB))
        assert predict(run, "sim")["predicted_gbps"] == pytest.approx(predict(run)["predicted_gbps"], rel=0.01)
