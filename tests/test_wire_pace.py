"""``benchmarks/wire_pace.py``: the wire's pace per flow count on the busiest link."""

from __future__ import annotations

import pytest

from tests._bench import load_benchmark

MiB = 1 << 20


def test_busiest_link_flows_of_ncclgetdtree_by_hand() -> None:
    """2 ranks: one edge in each tree, one peer. 3: both trees are chains (0 <- 2 <- 1 and 1 <- 0 <- 2), rank 0
    sends 1.5 S to peers 1 and 2. 4: tree 0 is 0 <- 2 <- {1, 3}, tree 1 its mirror 3 <- 1 <- {2, 0}: rank 1 sends
    2 S to peers 2 (two edges), 3 and 0. The ring's kinds: one peer."""
    script = load_benchmark("wire_pace")
    assert [script.busiest_flows("tree", n) for n in (2, 3, 4)] == [1, 2, 3]
    assert {script.busiest_flows(a, 4) for a in ("ring", "backend", "halving-doubling")} == {1}
    with pytest.raises(ValueError, match="hierarchical"):
        script.busiest_flows("hierarchical", 4)


def test_pace_is_the_time_over_the_busiest_links_bytes_at_the_rate() -> None:
    script = load_benchmark("wire_pace")
    rate = 150e6 / 8

    def rec(alg: str, ranks: int, size: int, time_s: float, link: str = "inter", r: float | None = rate) -> dict:
        return {"collective": "all_reduce", "link_class": link, "algorithm": alg, "ranks": ranks,
                "size_bytes": size, "time_s": time_s, "rate_bytes_per_s": r}  # fmt: skip

    kept = [rec("ring", 4, 8 * MiB, 1.1 * 1.5 * 8 * MiB / rate), rec("tree", 3, 2 * MiB, 1.4 * 1.5 * 2 * MiB / rate)]
    dropped = [rec("ring", 4, MiB, 1.0), rec("ring", 4, 8 * MiB, 1.0, link="intra", r=None),
               rec("ring", 4, 8 * MiB, 1.0, r=3 * rate), rec("hierarchical", 4, 8 * MiB, 1.0)]  # fmt: skip
    assert script.paces(kept + dropped, rate) == pytest.approx({("ring", 4, 8 * MiB): 1.1, ("tree", 3, 2 * MiB): 1.4})
