"""``benchmarks/p5_series.py``'s all-gather series: what NCCL 2.27.7 runs there, checked against the series itself."""

from __future__ import annotations

import itertools

from benchmarks.p5_series import ALL_GATHER, MiB, rows
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
