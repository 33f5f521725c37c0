"""benchmarks/slowest_rank.py: the out-of-phase reading's lag it tests, and the saved runs' split (hand-computed)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from benchmarks.slowest_rank import out_of_phase_lag, saved_runs

Q = 4e-3


def _exact_excess(ranks: int, slots: int) -> Fraction:
    """E[max] − E[mean] of ``ranks`` places drawn independently and uniformly from slots 1..``slots``, in slots,
    by the maximum's distribution P(max ≤ j) = (j/m)^R."""
    m = slots
    e_max = sum(Fraction(j) * (Fraction(j, m) ** ranks - Fraction(j - 1, m) ** ranks) for j in range(1, m + 1))
    return e_max - Fraction(m + 1, 2)


@pytest.mark.parametrize(
    ("ranks", "want_ms"),
    [(1, 0.0), (2, 0.0), (3, 1.5), (4, 2.4), (8, 16 * 7 / 18)],  # rounds 6, 8, 16 ms on 2 cores
)
def test_lag_by_hand(ranks: int, want_ms: float) -> None:
    assert out_of_phase_lag(ranks, 2, Q) == pytest.approx(want_ms * 1e-3, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("ranks", [3, 5, 8])
def test_lag_is_the_largest_of_uniform_places_in_a_round(ranks: int) -> None:
    round_s = ranks * Q / 2
    discrete = float(_exact_excess(ranks, 400)) * round_s / 400
    assert out_of_phase_lag(ranks, 2, Q) == pytest.approx(discrete, rel=3e-3)


def test_saved_runs_split_by_hand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """4 ranks: optimizer + compute 30+50, 30+60, 40+40, 20+100 ms: mean 92.5, slowest 120, excess 27.5."""
    extra = {"per_rank_compute_s": {"0": 0.05, "1": 0.06, "2": 0.04, "3": 0.10},
             "per_rank_optimizer_s": {"0": 0.03, "1": 0.03, "2": 0.04, "3": 0.02}}  # fmt: skip
    (tmp_path / "runs.jsonl").write_text(json.dumps({"extra": extra}) + "\n", encoding="utf-8")
    saved_runs(tmp_path, Q, 2)
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row == ["4", "92.5", "120.0", "27.5", "2.4"]
