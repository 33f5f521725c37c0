"""``benchmarks/efa_tree_rails.py``: aws-ofi-nccl's striping rule by hand, the rail-load expectation by hand, and the
diagnostic reading the same price as the p5 series."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks.efa_tree_rails import (
    expected_max_load,
    inbound_messages,
    max_load,
    split,
    stripe_bytes,
    stripes,
)


@pytest.mark.parametrize(
    ("size", "rails", "expected"),
    [
        (0, 4, 1),  # "at least 1 for zero-sized messages"
        (76_800, 4, 1),  # a 72 000-B LL128 tree step: one rail
        (131_072, 4, 1),  # MIN_STRIPE_SIZE itself: not above it
        (131_073, 4, 2),
        (153_600, 4, 2),  # 144 000 B of LL128 data
        (307_200, 4, 2),  # ceil(307200 / 131072) = 3, and 3 does not divide 4
        (614_400, 4, 4),  # a ring's LL128 step: every rail
        (1 << 20, 4, 4),
        (200_000, 3, 2),  # get_num_stripes' loop finds no divisor of 3 at or below 2: keeps 2
        (300_000, 3, 3),
    ],
)
def test_stripes_as_get_num_stripes(size: int, rails: int, expected: int) -> None:
    # aws-ofi-nccl src/nccl_ofi_scheduler.cpp (v1.13.0-v1.21.1), worked by hand for each size
    assert stripes(size, rails) == expected


def test_stripe_bytes_rounds_to_ll128_lines() -> None:
    assert stripe_bytes(153_600, 2) == 76_800
    assert stripe_bytes(307_200, 2) == 153_600
    assert stripe_bytes(100, 1) == 128
    assert stripe_bytes(1_000, 3) == 384  # ceil(1000 / 3) = 334 -> 3 lines of 128


def test_max_load_of_four_messages_on_four_rails() -> None:
    # 4^4 = 256 draws: all rails distinct 4! = 24; all on one rail 4; three on one rail 4 * 4 * 3 = 48; the rest 180
    assert dict(max_load(4, 1, 4)) == {1: 24 / 256, 2: 180 / 256, 3: 48 / 256, 4: 4 / 256}
    # two-stripe messages cover two neighbouring rails: two such messages load some rail twice unless they start
    # two apart (4 of 16 draws)
    assert dict(max_load(2, 2, 4)) == {1: 4 / 16, 2: 12 / 16}


def test_expected_max_load_by_hand() -> None:
    assert expected_max_load([1], 1, 1, 4) == pytest.approx(1.0)
    assert expected_max_load([2], 1, 1, 4) == pytest.approx(1.25)  # the two share a rail in 1 draw of 4
    # two independent heads of two messages: max 1 only if both are apart, (3/4)^2
    assert expected_max_load([2], 2, 1, 4) == pytest.approx(2.0 - 9 / 16)


@pytest.mark.parametrize("nodes", [2, 3, 4, 5, 8, 13, 16, 32])
def test_inbound_messages_of_the_double_binary_tree(nodes: int) -> None:
    counts = inbound_messages(nodes)
    # each tree has nodes - 1 edges, each an up message to the parent and a down message to the child
    assert sum(counts) == 4 * (nodes - 1)
    # a node is inner in at most one of the two trees: 2 children + parent there, a parent in the other
    assert max(counts) <= 4


def test_split_prices_what_the_p5_series_prices() -> None:
    from benchmarks.nccl_tests_heldout import _p5_series
    from benchmarks.nccl_tests_table import predict, scenario_for

    size = 32 << 20
    run = dataclasses.replace(_p5_series(16, 74.85), size_bytes=float(size))
    priced = predict(run)
    assert (priced["algorithm_used"], priced["protocol_used"]) == ("tree", "LL128")
    ranks = 16 * 8
    time_s = 2 * (ranks - 1) / ranks * size / (priced["predicted_gbps"] * 1e9)
    row = split(scenario_for(run), size, 16, 1e-3)
    assert row["dpsim_s"] == pytest.approx(time_s, rel=1e-9)
    # the split adds back up: the fixed part and n rounds of e
    assert row["fixed_s"] + row["chunks"] * row["round_s"] == pytest.approx(row["dpsim_s"], rel=1e-9)
    assert (row["chunk_bytes"], row["stripes"]) == (72_000, 1)
