"""Ranks leaving the last collective apart, and the share of a time-sliced host their next compute gets
(:mod:`dpsim.compute_overlap`; ``benchmarks/compute_share.py``'s ``release`` column)."""

from __future__ import annotations

import pytest

from dpsim.compute_overlap import completion_fractions, overlap_share, shared_finish
from dpsim.sim.collectives import allreduce


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
