"""benchmarks/p5_series.py: aws-ofi-nccl 1.16.3's region lookup, against points worked by hand from its polygons."""

from __future__ import annotations

import pytest

from benchmarks.p5_series import SERIES, extend_region, is_inside_region, region_pick

MiB = 1 << 20
GiB = 1 << 30


def test_extend_region_follows_the_line_to_the_bound() -> None:
    # (8053063680, 160) -> (9663676416, 192): 50331648 bytes a rank; at the tuner's 100 GiB the line is at
    # 160 + (100 GiB - 8053063680) / 50331648 = 160 + 1973.3 ranks, below its 1 Mi ranks, so x is the bound
    x, y = extend_region((8053063680, 160), (9663676416, 192), (100.0 * GiB, 1024.0 * 1024))
    assert x == 100.0 * GiB
    assert y == pytest.approx(160 + (100 * GiB - 8053063680) / 50331648)
    # a vertical pair runs to the bound's ranks
    assert extend_region((402653184, 2048), (402653184, 4096), (100.0 * GiB, 1024.0 * 1024)) == (402653184, 1048576)


def test_inside_edge_outside_of_a_square() -> None:
    square = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
    assert is_inside_region((5.0, 5.0), square) == 1
    assert is_inside_region((10.0, 5.0), square) == 0
    assert is_inside_region((11.0, 5.0), square) == -1


@pytest.mark.parametrize(
    ("size", "nodes", "expected"),
    [
        # 32 ranks: the tree/LL128 polygon's right edge runs (31457280, 16) -> (37748736, 32), so 32 MiB (33554432)
        # lies inside; 64 MiB is right of it, inside ring/LL128, whose right edge at 32 ranks is
        # 1073741824 + 15/47 x 1073741824 = 1.42e9 bytes, so 1 GiB is ring/LL128 and 2 GiB is past it, in
        # ring/Simple (left edge (1073741824, 17) -> (1610612736, 32): 1.5 GiB at 32 ranks)
        (32 * MiB, 4, ("tree", "LL128")),
        (64 * MiB, 4, ("ring", "LL128")),
        (1 * GiB, 4, ("ring", "LL128")),
        (2 * GiB, 4, ("ring", "Simple")),
        # 128 ranks: the NVLS-tree polygon's edge (2147483648, 128) -> (6442450944, 128) holds 2-6 GiB (on an
        # edge counts as in); the ring/Simple region's left edge (2684354560, 64) -> (8053063680, 160) is at
        # 6.26e9 bytes there, so 8 GiB runs the ring
        (4 * GiB, 16, ("nvls-tree", "Simple")),
        (8 * GiB, 16, ("ring", "Simple")),
        # 256 ranks: NVLS-tree from its edge (1074790400, 256) -> (2684354560, 256) up to the line through
        # (8053063680, 160) and (9663676416, 192), at 12 GiB there
        (8 * GiB, 32, ("nvls-tree", "Simple")),
        # two nodes: the tuner leaves NCCL's own to pick
        (8 * GiB, 2, None),
    ],
)
def test_region_pick(size: int, nodes: int, expected: tuple[str, str] | None) -> None:
    assert region_pick(size, nodes) == expected


def test_region_pick_agrees_with_the_held_out_rows() -> None:
    """The held-out p5 rows state the 8 GiB picks read from the same polygons by hand (above two nodes)."""
    from benchmarks.nccl_tests_heldout import _P5_REGION_PICK

    for nodes, pick in _P5_REGION_PICK.items():
        if nodes > 2:
            ran = region_pick(8 * GiB, nodes)
            assert ran is not None and pick == {"nvls-tree": "NVLS-tree", "ring": "ring"}[ran[0]] + "/" + ran[1]
    assert sorted(SERIES) == sorted(_P5_REGION_PICK)
