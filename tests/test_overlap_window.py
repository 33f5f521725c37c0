"""``benchmarks/overlap_window.py``: the split of a runtime record's compute into work and share of a core."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import overlap_window


def test_split_is_the_median_over_ranks_and_the_median_of_each_ranks_share() -> None:
    # three ranks (hand-computed): wall 30, 40, 60 ms; CPU 15, 36, 30 ms -> shares 0.5, 0.9, 0.5
    record = {"extra": {"per_rank_compute_s": {"0": 0.030, "1": 0.040, "2": 0.060},
                        "per_rank_compute_cpu_s": {"0": 0.015, "1": 0.036, "2": 0.030}}}  # fmt: skip
    wall, cpu, share = overlap_window.compute_split(record)
    assert wall == pytest.approx(0.040) and cpu == pytest.approx(0.030)
    assert share == pytest.approx(0.5)  # not median CPU / median wall (0.75)


def test_a_record_without_the_cpu_split_is_refused() -> None:
    record = {"extra": {"per_rank_compute_s": {"0": 0.03}, "per_rank_compute_cpu_s": {}}}
    with pytest.raises(ValueError, match="per_rank_compute_cpu_s"):
        overlap_window.compute_split(record)
