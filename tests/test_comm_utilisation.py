"""``benchmarks/comm_utilisation.py``: how many cores the calibration's all-reduces kept busy."""

from __future__ import annotations

import pytest

from tests._bench import load_benchmark

MiB = 1 << 20


def record(link_class: str, algorithm: str, ranks: int, size: int, time_s: float, busy_s: float,
           rate: float | None = None, uncertainty: float = 0.02) -> dict:  # fmt: skip
    return {"collective": "all_reduce", "link_class": link_class, "algorithm": algorithm, "ranks": ranks,
            "size_bytes": size, "time_s": time_s, "host_busy_s": busy_s, "rate_bytes_per_s": rate,
            "median_uncertainty": uncertainty}  # fmt: skip


def test_host_bound_points_are_loopback_and_the_top_rate_only() -> None:
    script = load_benchmark("comm_utilisation")
    kept = [
        record("intra", "ring", 2, 8 * MiB, 0.010, 0.016),
        record("inter", "ring", 2, 8 * MiB, 0.100, 0.160, rate=150e6),
    ]
    dropped = [
        record("inter", "ring", 2, 8 * MiB, 0.300, 0.450, rate=56.25e6),  # a lower rate: the wire paces
        record("intra", "ring", 2, MiB, 0.002, 0.003),  # below the bandwidth points' sizes
        record("intra", "halving-doubling", 3, 8 * MiB, 0.030, 0.050),  # the folded rank idles the others
        record("intra", "ring", 4, 8 * MiB, 0.030, 0.050, uncertainty=0.3),  # its median not settled
        record("intra", "ring", 3, 8 * MiB, 0.030, 0.0),  # no busy time measured
    ]
    assert script.host_bound(kept + dropped) == kept


def test_share_is_ranks_over_busy_cores_and_growth_is_per_byte_of_the_closed_form() -> None:
    """n / U by hand: 2 ranks in 10 ms keeping 1.6 cores busy (16 ms of CPU) got 1.25 of one pair's share, 4 ranks in
    30 ms with 56 ms of CPU 4 / (56 / 30) = 2.143; per byte of the ring's 2(n−1)/n·S, 4 ranks over 2: (30 / 1.5) /
    (10 / 1) = 2."""
    script = load_benchmark("comm_utilisation")
    share, growth = script.utilisation([
        record("intra", "ring", 2, 8 * MiB, 0.010, 0.016),
        record("intra", "ring", 4, 8 * MiB, 0.030, 0.056),
    ])  # fmt: skip
    assert share[("intra", "ring", 2)] == pytest.approx([1.25])
    assert share[("intra", "ring", 4)] == pytest.approx([4 * 0.030 / 0.056])
    assert growth[("intra", "ring", 4)] == pytest.approx([2.0])
    assert growth[("intra", "ring", 2)] == pytest.approx([1.0])
