"""NCCL's size corrections of its tuner estimate (``ncclTopoGetAlgoTime``, src/graph/tuning.cc v2.18.3–v2.30.7).

Hand-worked from NCCL's formulas: ``logSize = log2i(nBytes >> 6)``; a tree all-reduce's bandwidth
× ``treeCorrectionFactor[proto][logSize]`` for 0 ≤ logSize < 23; a ring Simple all-reduce on
several nodes: latency × 1.4 (compute capability ≥ 8.0) once ``nBytes / (nChannels·nRanks) ≥ 64``.
The tuner picks by that estimate; the chosen schedule's own price is the time.
"""

from __future__ import annotations

import math

import pytest

from dpsim.analytic import collectives as cf
from dpsim.sim import collectives
from dpsim.sim.chunk import ChunkEngine
from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import Layout, TunerCorrection
from dpsim.sim.collectives.nccl import TREE_CORRECTION, ring_tuner, tree_tuner
from dpsim.sim.cost import phase_cost
from dpsim.sim.fast import FastEngine

MiB = 1 << 20

# NCCL v2.30.7 src/graph/tuning.cc treeCorrectionFactor, Simple row, typed in again here
SIMPLE = (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9)  # fmt: skip


def test_tree_correction_indexes_log2_of_size_over_64_as_nccl() -> None:
    t = tree_tuner("Simple")
    assert t.factors(63) == (1.0, 1.0)  # nBytes >> 6 == 0: log2i < 0, no correction (v2.26+ guard)
    assert t.factors(64) == (1.0, SIMPLE[0])
    assert t.factors(127) == (1.0, SIMPLE[0])
    assert t.factors(1 * MiB) == (1.0, 0.5)  # 2^20 >> 6 = 2^14: entry 14
    assert t.factors(3 * MiB) == (1.0, SIMPLE[15])  # log2i(49152) = 15
    assert t.factors(256 * MiB) == (1.0, SIMPLE[22])  # 2^22
    assert t.factors(512 * MiB) == (1.0, 1.0)  # 2^23: past the table
    assert tree_tuner("LL128").factors(1 * MiB) == (1.0, 0.6)
    assert tree_tuner("LL").factors(1 * MiB) == (1.0, 0.5)
    assert tree_tuner("LL").factors(256 * 1024) == (1.0, 0.4)  # 2^18 >> 6 = 2^12: entry 12
    assert TREE_CORRECTION["Simple"] == SIMPLE
    assert tree_tuner("none") == TunerCorrection()


def test_tuned_estimate_is_latency_plus_size_over_corrected_bandwidth() -> None:
    t = TunerCorrection(bandwidth=SIMPLE, plateau_from=1000.0, plateau=1.4)
    # 1 MiB: latency 20 us x 1.4, bandwidth part 1 MiB x 1e-11 s/B / 0.5
    assert t.time(20e-6, 1e-11, MiB) == pytest.approx(28e-6 + MiB * 1e-11 / 0.5, rel=1e-12)
    assert t.time(20e-6, 1e-11, 512) == pytest.approx(20e-6 + 512 * 1e-11 / SIMPLE[3], rel=1e-12)


def test_nccl_s_own_model_is_corrected_by_size_alone() -> None:
    """Where dpsim has NCCL's own estimate (``model_Bps``), ``ncclTopoGetAlgoTime`` is ``lat · latCount + nBytes /
    (bw · treeCorrection)`` of it: the ``TREE`` pattern's ×0.85 that ``scale`` carries for the price's estimate is
    in the model's ``busBw`` already, so ``scale`` is not read (it was multiplied and divided again: the same
    figure but for the last bit at 12,345,678 and 3,145,733 bytes)."""
    for size, entry in ((12_345_678, 17), (3 * MiB + 5, 15), (777_777, 13)):  # log2i(nBytes >> 6)
        hand = 10e-6 + size / (47e9 * SIMPLE[entry])
        for scale in (1.0, 0.85):
            t = TunerCorrection(bandwidth=SIMPLE, scale=scale, model_latency_s=10e-6, model_Bps=47e9)
            assert t.time(1.0, 1.0, size) == hand, (size, scale)  # nor the price (latency 1 s, 1 s a byte)
    # on the price, scale multiplies the corrected bandwidth
    assert TunerCorrection(bandwidth=SIMPLE, scale=0.85).time(0.0, 1e-11, MiB) == MiB * 1e-11 / (0.85 * 0.5)


def _layout(nodes: int, per_node: int, nics: int, arch: str = "hopper", nic_gbps: float = 50.0) -> Layout:
    return Layout(nodes=nodes, per_node=per_node, nics=nics, arch=arch, nic_gbps=nic_gbps)


def test_ring_plateau_threshold_from_the_communicators_channels() -> None:
    # 2 x 8 H100, 8 NDR NICs: 8 channels of 48 GB/s (not copied: Hopper, < 50 GB/s, > 4 channels),
    # doubled by ncclTopoPostset -> nChannels 16; nRanks 16 -> 64 * 16 * 16 = 16 KiB
    lay = _layout(2, 8, 8)
    t = ring_tuner("allreduce", "Simple", lay)
    assert (t.plateau_from, t.plateau) == (64.0 * 16 * 16, 1.4)
    assert t.factors(16 * 1024 - 1) == (1.0, 1.0)
    assert t.factors(16 * 1024) == (1.4, 1.0)
    assert ring_tuner("allreduce", "Simple", _layout(2, 8, 8, arch="volta")).plateau == 1.9
    assert ring_tuner("allreduce", "LL128", lay) == TunerCorrection()
    assert ring_tuner("reduce_scatter", "Simple", lay) == TunerCorrection()
    assert ring_tuner("allreduce", "Simple", _layout(1, 8, 8)) == TunerCorrection()


def _fabric(**kw: object) -> cf.Fabric:
    base = dict(
        nodes=2, per_node=8, intra=cf.Link(1e-6, 240e9), inter=cf.Link(5e-6, 24e9), nics_per_node=4,
        protocol="auto", arch="ampere", nic_gbps=25.0,
    )  # fmt: skip
    base.update(kw)
    return cf.Fabric(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [4 * 1024, 256 * 1024, 4 * MiB, 64 * MiB, 1 << 30])
def test_pick_minimises_nccls_corrected_estimate_and_time_is_the_schedules_price(size: int) -> None:
    """Two A100 nodes, 4 HDR NICs: the choice is argmin of NCCL's estimate (hand formula, NCCL's
    table typed in above for Simple), the reported time is that schedule's uncorrected price. The links are NCCL's
    graph (4 channels of 24 GB/s), so each candidate's price is NCCL's estimate but for the Simple tree's
    per-channel figure, which bounds the estimate and not the stream: algBw at most 4 · 23.6 / 2 GB/s
    (``tuning.cc`` ``perChMaxTreeBws``, Ampere, 2 nodes)."""
    fabric = _fabric()
    layout = fabric.layout()
    cluster = Cluster.from_fabric(fabric)
    priced = []
    for s in collectives.candidates("allreduce", "auto", layout, "auto"):
        c = phase_cost(s, cluster)
        lat_mult, bw_mult = 1.0, 1.0
        blocks = size >> 6
        if s.name == "tree" and blocks >= 1 and math.floor(math.log2(blocks)) < 23:
            bw_mult = TREE_CORRECTION[s.protocol][int(math.log2(blocks))]
        if s.name == "ring" and s.protocol == "Simple" and size >= 64 * 2 * 4 * 16:  # nChannels 2*4, nRanks 16
            lat_mult = 1.4
        per_byte = c.seconds_per_byte
        if (s.name, s.protocol) == ("tree", "Simple"):
            per_byte = max(per_byte, 2 / (4 * 23.6e9))
        priced.append((c.latency_s * lat_mult + size * per_byte / bw_mult, s, c))
    _, best, cost = min(priced, key=lambda p: p[0])
    choice = cf.collective("allreduce", "auto", size, fabric)
    assert (choice.algorithm, choice.protocol) == (best.name, best.protocol)
    assert choice.time_s == pytest.approx(cost(size), rel=1e-12)
    for engine in (FastEngine(cluster, "auto", "auto"), ChunkEngine(cluster, "auto", protocol="auto")):
        schedule, _ = engine.choice("allreduce", size)
        assert (schedule.name, schedule.protocol) == (best.name, best.protocol)


def test_the_correction_moves_nccls_pick_somewhere_on_the_curve() -> None:
    """The corrections matter: somewhere between 64 B and 512 MiB the corrected pick differs from the
    uncorrected one (tree estimates × 0.4–0.9), on the same two A100 nodes."""
    fabric = _fabric()
    cluster = Cluster.from_fabric(fabric)
    cands = [(s, phase_cost(s, cluster)) for s in collectives.candidates("allreduce", "auto", fabric.layout(), "auto")]
    moved = []
    for k in range(6, 29):
        size = float(1 << k)
        plain = min(cands, key=lambda p: p[1](size))[0]
        tuned = min(cands, key=lambda p: p[1].tuned(size))[0]
        if (plain.name, plain.protocol) != (tuned.name, tuned.protocol):
            moved.append(k)
    assert moved
