"""The p5 all-reduce series at every size, each point priced as what ran there (EFA, NCCL 2.27.7).

``benchmarks/nccl_tests_heldout.py`` holds this series' 8 GiB figures only. The same file (crazyguitar/aws-gpu-
communication-benchmark at a77f70d, ``data/nccl_all_reduce.csv``: SageMaker HyperPod ml.p5.48xlarge, NCCL 2.27.7,
aws-ofi-nccl 1.16.3 with its tuner plugin, ``all_reduce_perf -b 32M -e 8192M``) has 45 points, 32 MiB to 8 GiB on
2, 4, 8, 16 and 32 nodes. Above two nodes the algorithm and protocol are not NCCL's own pick but the plugin's: its
region tuner (``src/tuner/nccl_ofi_regions.cpp`` at v1.16.3, ``region_init_internal_p5_p5e``, all-reduce with 8
ranks a node) lays polygons over (bytes, ranks) and runs the first region a point lies in or on
(``region_get_coll_info_internal_v2``: ``is_inside_region >= 0``, NVLS-tree regions only where NVLS is supported);
on two nodes or fewer it leaves NCCL's tuner to pick. :func:`region_pick` ports that lookup; each point is then
priced by dpsim running that algorithm and protocol (``communication.nccl_algo``/``nccl_proto``), so the error is
the price of what ran, not the pick, and dpsim's own pick is printed beside it.

    PYTHONPATH=. python benchmarks/p5_series.py
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
from typing import Any

from benchmarks.nccl_tests_heldout import _p5_series
from benchmarks.nccl_tests_table import predict, size_label

MiB = 1 << 20

SOURCE = (
    "https://github.com/crazyguitar/aws-gpu-communication-benchmark/blob/"
    "a77f70db668034b75db9a430b3cd718f59a6c232/data/nccl_all_reduce.csv"
)

SERIES: dict[int, tuple[tuple[int, float], ...]] = {
    2: ((32, 147.32), (64, 207.00), (128, 305.13), (256, 364.46), (512, 395.99), (1024, 435.14), (2048, 445.05),
        (4096, 465.81), (8192, 477.71)),
    4: ((32, 95.38), (64, 152.41), (128, 229.48), (256, 273.34), (512, 278.41), (1024, 280.30), (2048, 347.57),
        (4096, 354.45), (8192, 356.99)),
    8: ((32, 86.74), (64, 103.85), (128, 156.33), (256, 232.09), (512, 272.62), (1024, 274.47), (2048, 278.15),
        (4096, 351.32), (8192, 355.36)),
    16: ((32, 74.85), (64, 92.39), (128, 129.20), (256, 148.11), (512, 223.80), (1024, 269.23), (2048, 270.91),
         (4096, 306.15), (8192, 356.27)),
    32: ((32, 66.34), (64, 83.60), (128, 115.78), (256, 137.99), (512, 156.83), (1024, 220.08), (2048, 269.47),
         (4096, 302.81), (8192, 321.10)),
}  # fmt: skip
"""Nodes → (size in MiB, out-of-place busbw GB/s) of the source's table (its ``size(MB)`` column is MiB: 8192 is
the 8 GiB the held-out rows quote)."""

# --- aws-ofi-nccl 1.16.3's region lookup (src/tuner/nccl_ofi_regions.cpp, include/tuner/nccl_ofi_tuner_region.h) ---

TUNER_MAX_SIZE = 100.0 * 1024 * 1024 * 1024
TUNER_MAX_RANKS = 1024.0 * 1024
_EPS = 1e-10

Point = tuple[float, float]


def _cross(a: Point, b: Point) -> float:
    return a[0] * b[1] - a[1] * b[0]


def _intersect(x0: Point, x1: Point, y0: Point, y1: Point) -> tuple[int, Point]:
    """``intersect``: 1 where segment x0→x1 crosses y0→y1, -1 where not, 0 where the crossing is at y0 or y1 (or
    the two are parallel), and the crossing point on the y line."""
    dx = (x1[0] - x0[0], x1[1] - x0[1])
    dy = (y1[0] - y0[0], y1[1] - y0[1])
    d = _cross(dy, dx)
    if abs(d) < _EPS:
        return 0, (math.nan, math.nan)
    a = (_cross(x0, dx) - _cross(y0, dx)) / d
    sect = (y0[0] + a * dy[0], y0[1] + a * dy[1])
    if a < -_EPS or a > 1 + _EPS:
        return -1, sect
    if a < _EPS or a > 1 - _EPS:
        return 0, sect
    b = (_cross(x0, dy) - _cross(y0, dy)) / d
    return (-1 if b < 0 or b > 1 else 1), sect


def _distance(x: Point, y0: Point, y1: Point) -> float:
    """``distance``: from ``x`` to the nearest point of segment y0→y1 (inf where that falls outside it)."""
    dy = (y1[0] - y0[0], y1[1] - y0[1])
    r, s = _intersect(x, (x[0] + dy[1], x[1] - dy[0]), y0, y1)
    if r == -1:
        return math.inf
    return math.hypot(s[0] - x[0], s[1] - x[1])


def is_inside_region(p: Point, vertices: tuple[Point, ...]) -> int:
    """``is_inside_region``: 1 inside, 0 on an edge, -1 outside (ray cast towards twice the tuner's maxima)."""
    n = len(vertices)
    if any(_distance(p, vertices[i], vertices[(i + 1) % n]) < _EPS for i in range(n)):
        return 0
    xs = [v[0] for v in vertices]
    ys = [v[1] for v in vertices]
    # the source seeds its bounding box's y range with vertices[1], x with vertices[0]; both then span all vertices
    if not (min(xs) <= p[0] <= max(xs) and min(ys) <= p[1] <= max(ys)):
        return -1
    far = (2.0 * TUNER_MAX_SIZE, 2.0 * TUNER_MAX_RANKS)
    crosses = sum(_intersect(p, far, vertices[i], vertices[(i + 1) % n])[0] == 1 for i in range(n))
    return 1 if crosses % 2 else -1


def extend_region(a: Point, b: Point, z: Point) -> Point:
    """``extend_region``: the point of line a–b farthest towards ``z`` with z's x or z's y."""
    if a[0] == b[0]:
        return (a[0], z[1])
    if a[1] == b[1]:
        return (z[0], a[1])
    m = (a[1] - b[1]) / (a[0] - b[0])
    c = b[1] - m * b[0]
    projected = m * z[0] + c
    return (z[0], projected) if projected < z[1] else ((z[1] - c) / m, z[1])


_MAX = (TUNER_MAX_SIZE, TUNER_MAX_RANKS)
_TREE_LL128_EXT = extend_region((402653184, 2048), (402653184, 4096), _MAX)
_NVLSTREE_1_EXT = extend_region((8053063680, 160), (9663676416, 192), _MAX)
_NVLSTREE_2_EXT = extend_region((402653184, 2048), (402653184, 4096), _MAX)
_RING_SIMPLE_EXT = extend_region((8053063680, 160), (9663676416, 192), _MAX)

P5_ALLREDUCE_REGIONS: tuple[tuple[str, str, tuple[Point, ...]], ...] = (
    ("tree", "LL128", (
        (0, 16), (31457280, 16), (37748736, 32), (117440512, 64), (301989888, 128), (301989888, 256),
        (335544320, 512), (536870912, 1024), (402653184, 2048), (402653184, 4096), _TREE_LL128_EXT,
        (0, _TREE_LL128_EXT[1]),
    )),
    ("nvls-tree", "Simple", ((31457281, 16), (TUNER_MAX_SIZE, 16), (31457281, 16))),
    ("ring", "LL128", (
        (31457280, 17), (1073741824, 17), (2147483648, 64), (2147483648, 128), (1342177280, 160),
        (2147483648, 256), (1074790400, 256), (444596224, 160), (301989888, 128), (117440512, 64), (37748736, 32),
    )),
    ("nvls-tree", "Simple", (
        (2147483648, 128), (6442450944, 128), (8053063680, 160), (9663676416, 192), _NVLSTREE_1_EXT, _NVLSTREE_2_EXT,
        (402653184, 4096), (402653184, 2048), (536870912, 1024), (335544320, 512), (301989888, 256),
        (310378496, 160), (444596224, 160), (1074790400, 256), (2684354560, 256), (2147483648, 224),
        (1342177280, 160),
    )),
    ("ring", "Simple", (
        (1073741824, 17), (_RING_SIMPLE_EXT[0], 17), _RING_SIMPLE_EXT, (9663676416, 192), (8053063680, 160),
        (2684354560, 64), (1610612736, 32),
    )),
)  # fmt: skip
"""``region_init_internal_p5_p5e``'s all-reduce regions for 8 ranks a node, in the source's order: (algorithm,
protocol, polygon in (bytes, ranks))."""


def region_pick(size: float, nodes: int, per_node: int = 8) -> tuple[str, str] | None:
    """What aws-ofi-nccl 1.16.3's region tuner runs for an all-reduce of ``size`` bytes on ``nodes`` p5 nodes: the
    first region the point lies in or on; None where it leaves NCCL's tuner to pick (two nodes or fewer, or no
    region)."""
    if nodes <= 2:
        return None
    point = (float(size), float(nodes * per_node))
    for algorithm, protocol, vertices in P5_ALLREDUCE_REGIONS:
        if is_inside_region(point, vertices) >= 0:
            return algorithm, protocol
    return None


def rows() -> list[dict[str, Any]]:
    """Every point: measured busbw, what ran, dpsim's price of that, and dpsim's own pick."""
    out = []
    for nodes, points in SERIES.items():
        for mib, busbw in points:
            base = dataclasses.replace(_p5_series(nodes, busbw), size_bytes=float(mib * MiB))
            ran = region_pick(mib * MiB, nodes)
            forced = base
            if ran is not None:
                extra = (("nccl_algo", (ran[0],)), ("nccl_proto", (ran[1],)))
                forced = dataclasses.replace(base, communication=(*base.communication, *extra))
            priced, own = predict(forced), predict(base)
            out.append(
                {
                    "nodes": nodes,
                    "size_bytes": mib * MiB,
                    "measured_gbps": busbw,
                    "ran": "/".join(ran) if ran else f"NCCL's pick ({own['algorithm_used']}/{own['protocol_used']})",
                    "priced_gbps": priced["predicted_gbps"],
                    "error": priced["error"],
                    "own_pick": f"{own['algorithm_used']}/{own['protocol_used']}",
                    "own_error": own["error"],
                }
            )
    return out


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    table = rows()
    print(f"{SOURCE}\n")
    print(f"{'nodes':>5} {'size':>6} {'measured':>9}  {'ran (aws-ofi-nccl regions)':<38} {'dpsim':>7} {'err':>7}  "
          f"{'dpsim own pick':<18} {'err':>7}")  # fmt: skip
    for r in table:
        print(
            f"{r['nodes']:>5} {size_label(r['size_bytes']):>6} {r['measured_gbps']:>9.1f}  {r['ran']:<38} "
            f"{r['priced_gbps']:>7.1f} {r['error']:>+7.1%}  {r['own_pick']:<18} {r['own_error']:>+7.1%}"
        )
    print("\nby what ran: points, median / max |error| of dpsim's price")
    groups: dict[str, list[float]] = {}
    for r in table:
        key = r["ran"] if not r["ran"].startswith("NCCL") else "NCCL's pick (2 nodes)"
        groups.setdefault(key, []).append(abs(r["error"]))
    for key, errs in groups.items():
        print(f"  {key:<24} {len(errs):>3}  {statistics.median(errs):6.1%} / {max(errs):6.1%}")
    within = sum(abs(r["error"]) <= 0.10 for r in table)
    print(f"within 10 %: {within} of {len(table)}")
    apart = [r for r in table if not r["ran"].startswith("NCCL") and r["own_pick"] != r["ran"]]
    nvls = sum(r["own_pick"].startswith("nvls-tree") for r in apart)
    print(f"dpsim's own pick differs from the plugin's at {len(apart)} points ({nvls} of them NVLS-tree)")


if __name__ == "__main__":
    main()
