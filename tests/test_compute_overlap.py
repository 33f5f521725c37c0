"""Ranks leaving the last collective apart, and the share of a time-sliced host their next compute gets
(:mod:`dpsim.compute_overlap`; ``benchmarks/compute_share.py``'s ``release`` column)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from dpsim.compute_overlap import (
    completion_fractions,
    gloo_ring_ends,
    gloo_ring_segments,
    overlap_share,
    shared_finish,
)
from dpsim.sim.collectives import allreduce

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "benchmarks" / "results" / "plain-ddp-2026-12-05-j" / "profile.yaml"
BUNDLED = ROOT / "dpsim" / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml"


def test_three_ranks_on_two_cores_one_released_late_by_hand() -> None:
    """3 ranks of 100 ms CPU on 2 cores, rank 2 released at 20 ms. 0–20: ranks 0 and 1 alone, a core each (20 done
    each). From 20 all three at 2/3 of a core: ranks 0 and 1 need 80 more, 120 ms: end at 140, when rank 2 has done
    80; it then runs alone, a whole core, 20 ms: ends at 160. The step's compute from the last release (20) to the
    last end (160) is 140 ms, where all three at once would take 150: 14/15."""
    finish = shared_finish([0.0, 0.0, 0.020], 0.100, 2)
    assert finish == pytest.approx([0.140, 0.140, 0.160], abs=1e-12)
    assert overlap_share([0.0, 0.0, 0.020], 0.100, 2) == pytest.approx(140 / 150, abs=1e-12)


def test_released_together_or_on_enough_cores_is_the_time_sliced_window() -> None:
    assert overlap_share([0.3] * 6, 0.05, 2) == pytest.approx(1.0, abs=1e-12)
    assert overlap_share([0.0, 0.1], 0.05, 2) == 1.0  # k <= C: each rank a core, wherever it starts
    assert overlap_share([0.0], 0.05, 2) == 1.0


def test_two_early_ranks_done_before_the_others_leave_compute_four_at_a_time() -> None:
    """Six ranks on 2 cores, two released more than their work ahead: they finish alone, and the other four share
    the cores two to one: 2·w of the 3·w priced."""
    w = 0.030
    assert overlap_share([0.1, 0.1, 0.1, 0.1, 0.0, 0.0], w, 2) == pytest.approx(2 / 3, abs=1e-12)
    # ahead by less than their work: the cores stay busy from the first release, so 3·w − D from the last
    assert overlap_share([0.01] * 4 + [0.0, 0.0], w, 2) == pytest.approx((3 * w - 0.01) / (3 * w), abs=1e-12)


@pytest.mark.parametrize(
    ("algorithm", "world", "expected"),
    [
        # Thakur et al. 2005 §4.4 on 6 = 4 + 2 ranks: the extras (1, 3) send their vector to 0 and 2, the four
        # run halving (1/2, 1/4) and doubling (1/4, 1/2), then 0 and 2 send the result back (1): 4 and 5 end at
        # 2.5 of 3.5 units
        ("halving-doubling", 6, [1, 1, 1, 1, 5 / 7, 5 / 7]),
        ("halving-doubling", 7, [1, 1, 1, 1, 1, 1, 5 / 7]),
        ("halving-doubling", 8, [1] * 8),  # a power of two: every rank in every step
        ("ring", 6, [1] * 6),
        ("backend", 5, [1] * 5),
        ("tree", 6, [1] * 6),  # pipelined: the last chunk reaches every rank as the pipeline drains
    ],
)
def test_each_ranks_end_of_the_schedule(algorithm: str, world: int, expected: list[float]) -> None:
    assert completion_fractions(allreduce(algorithm, world), world) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("world", "nbytes", "expected"),
    [
        # gloo/allreduce.cc ring(): max(ceil(S / 1 MiB), 2·world) segments, rounded up to a multiple of world, each
        # ceil(S / segments) rounded up to whole 4-byte elements
        (4, 9_449_472, (12, 787_456)),  # 9.01 MiB: 10 -> 12
        (8, 2_362_368, (16, 147_648)),  # 2.25 MiB: 3 -> the minimum 16
        (5, 7_087_104, (10, 708_712)),  # 6.76 MiB: 7 -> 10; 708,710.4 -> 708,712
        (2, 12 << 20, (12, 1 << 20)),
    ],
)
def test_gloo_ring_cuts_the_vector_as_allreduce_cc(world: int, nbytes: int, expected: tuple[int, int]) -> None:
    assert gloo_ring_segments(world, nbytes) == expected


SLOW = SimpleNamespace(latency_s=0.0, bandwidth=float(10 << 20))  # a 1 MiB segment in 0.1 s
FAST = SimpleNamespace(latency_s=0.0, bandwidth=1e18)


@pytest.mark.parametrize(
    ("socket", "expected"),
    [
        (0.0, [1.8, 1.8, 1.8, 1.8]),  # a send completes only when its receiver has it: every rank at the end
        (1 << 20, [1.7, 1.8, 1.7, 1.8]),  # one segment fits the socket
        (2 << 20, [1.6, 1.8, 1.6, 1.8]),  # both in-flight segments do
        (8 << 20, [1.6, 1.8, 1.6, 1.8]),  # two in flight: never more than two
    ],
)
def test_gloo_ring_two_a_node_by_hand(socket: float, expected: list[float]) -> None:
    """4 ranks, 2 a node (0, 1 | 2, 3), 12 MiB: 12 segments of 1 MiB, 9 iterations a phase. Rank r sends to r − 1,
    so the hops 1→0 and 3→2 stay in a node (instant) and 2→1, 0→3 cross (0.1 s a segment). Each slow link carries
    its 9 + 9 segments back to back: ranks 1 and 3, whose segments come over it, end at 1.8 s. Ranks 0 and 2 have
    their last segment from their own node as soon as it is sent, and their last two sends still drain over the
    slow link: they leave once those are in the socket: 0.2 s early when it holds two segments, 0.1 s with one,
    at the end with none (a send then completes with its receive)."""
    ends = gloo_ring_ends(4, 2, 12 << 20, SLOW, FAST, socket)
    assert ends == pytest.approx(expected, abs=1e-9)


def test_gloo_ring_one_a_node_ends_together_whatever_the_socket() -> None:
    """Every hop at one rate: each rank's last segment arrives as its own last sends drain; 12 segments of 1 MiB,
    2·(12 − 12/world) of them over each link back to back."""
    for world in (3, 4, 6):
        assert gloo_ring_segments(world, 12 << 20) == (12, 1 << 20)
        ends = gloo_ring_ends(world, 1, 12 << 20, SLOW, FAST, 8 << 20)
        assert ends == pytest.approx([2 * (12 - 12 // world) * 0.1] * world, rel=1e-9)
    assert list(gloo_ring_ends(1, 1, 12 << 20, SLOW, FAST)) == [0.0]  # alone: nothing to exchange


def test_a_sender_leaves_while_the_socket_holds_its_last_send() -> None:
    """Halving–doubling on 7 ranks: the partners (0, 2, 4) end with their whole-vector send to the extras; with a
    socket holding q of S they leave q earlier (in S units, of 3.5), never before that send starts (2.5)."""
    hd = allreduce("halving-doubling", 7)
    assert completion_fractions(hd, 7, 0.28) == pytest.approx([3.22 / 3.5, 1, 3.22 / 3.5, 1, 3.22 / 3.5, 1, 2.5 / 3.5])
    assert completion_fractions(hd, 7, 5.0) == pytest.approx([2.5 / 3.5, 1, 2.5 / 3.5, 1, 2.5 / 3.5, 1, 2.5 / 3.5])
    assert completion_fractions(allreduce("ring", 5), 5, 0.5) == pytest.approx([1] * 5)  # every rank also receives
