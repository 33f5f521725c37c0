"""NCCL tuner plugins: what a plugin that replaces NCCL's own pick runs (``communication.nccl_tuner``).

NCCL loads a tuner plugin (``NCCL_TUNER_PLUGIN``; aws-ofi-nccl ships one in its network plugin) and asks it,
collective by collective, which algorithm and protocol to run (``getCollInfo``); where the plugin says nothing,
NCCL's own tuner picks (``topoGetAlgoInfo``). ``aws-ofi-nccl-1.16.3`` is aws-ofi-nccl v1.16.3's region tuner, which
loads one platform's regions by the instance's product name (``src/tuner/nccl_ofi_tuner.cpp``, ``nccl_ofi_tuner_init``;
:func:`platform_of`): p5 / p5e (``src/tuner/nccl_ofi_regions.cpp``, ``region_init_internal_p5_p5e``, ported here
whole) and p5en (``region_init_internal_p5en``: its regions for 8 ranks a node and its 1-rank all-reduce; its 1-rank
all-gather and reduce-scatter start with PAT, which dpsim does not model, and are left out, so NCCL's own tuner
picks there). The regions are polygons over (message bytes, communicator ranks), one set for each of all-reduce,
all-gather and reduce-scatter, laid out for communicators with 8, 2 or 1 rank(s) a node (``nRanks == 8 * nNodes``
and so on; other shapes have none). NCCL
(tuner API v3, ``region_get_coll_info_internal_v3``) passes its cost table, where ``NCCL_ALGO_PROTO_IGNORE`` marks
the pairs NCCL does not run (``NCCL_ALGO`` / ``NCCL_PROTO``, NVLS without NVLink SHARP); the plugin walks the
regions in order, skips those pairs, and sets the first region the point lies in or on to cost 0, which NCCL then
runs. On two nodes or fewer, for a point in no region and for every other collective it leaves NCCL's own pick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

TUNERS = ("nccl", "aws-ofi-nccl-1.16.3")
"""The values of ``communication.nccl_tuner``: NCCL's own tuner, or the plugin that picks instead."""

AWS_OFI_NCCL = "aws-ofi-nccl-1.16.3"

PLATFORMS = ("p5", "p5en")
"""The instance families whose regions aws-ofi-nccl 1.16.3 has and dpsim ports (``nccl_ofi_tuner_init``:
``p5.48xlarge`` and ``p5e.48xlarge`` share the p5 / p5e regions; ``p5en.48xlarge``). Its p6-b200 regions and their
tree/LL128 channel rule (``calculateBestNChannel``) are not ported."""


def platform_of(device: str | None, workers_per_node: int, inter_node: str | None) -> str | None:
    """Which of :data:`PLATFORMS` a cluster is, as aws-ofi-nccl's tuner tells it by the product name: 8 H100 or H200
    over EFA v2 (``efa-v2``) a p5 / p5e, 8 H200 over EFA v3 (``efa-v3``) a p5en; None for anything else (the plugin
    loads no regions there)."""
    if workers_per_node != 8:
        return None
    if device in ("h100-sxm", "h200") and inter_node == "efa-v2":
        return "p5"
    if device == "h200" and inter_node == "efa-v3":
        return "p5en"
    return None


# --- aws-ofi-nccl 1.16.3's region lookup (src/tuner/nccl_ofi_regions.cpp, include/tuner/nccl_ofi_tuner_region.h) ---

TUNER_MAX_SIZE = 100.0 * 1024 * 1024 * 1024
TUNER_MAX_RANKS = 1024.0 * 1024
_EPS = 1e-10

Point = tuple[float, float]
Region = tuple[str, str, tuple[Point, ...]]


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

# 8 ranks a node (nRanks == 8 * nNodes): all-reduce only
_TREE_LL128_EXT = extend_region((402653184, 2048), (402653184, 4096), _MAX)
_NVLSTREE_1_EXT = extend_region((8053063680, 160), (9663676416, 192), _MAX)
_NVLSTREE_2_EXT = extend_region((402653184, 2048), (402653184, 4096), _MAX)
_RING_SIMPLE_EXT = extend_region((8053063680, 160), (9663676416, 192), _MAX)

P5_ALLREDUCE_REGIONS: tuple[Region, ...] = (
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

# 2 ranks a node (nRanks == 2 * nNodes): all-reduce only
_TWO_TREE_LL128_EXT = extend_region((88160256, 128), (178163712, 256), _MAX)
_TWO_TREE_SIMPLE_1_EXT = extend_region((787480576, 128), (1073741824, 256), _MAX)
_TWO_TREE_SIMPLE_2_EXT = extend_region((257114112, 128), (269484032, 256), _MAX)
_TWO_NVLSTREE_EXT = extend_region((787480576, 128), (1073741824, 256), _MAX)

P5_TWO_A_NODE_ALLREDUCE_REGIONS: tuple[Region, ...] = (
    ("tree", "LL128", (
        (0, 4), (1314816, 4), (1051648, 8), (1051648, 12), (2367488, 16), (5525504, 32), (9473024, 64),
        (88160256, 128), (178163712, 256), _TWO_TREE_LL128_EXT, (0, _TWO_TREE_LL128_EXT[1]),
    )),
    ("ring", "LL128", (
        (1314816, 4), (19736576, 4), (41842688, 8), (296747008, 64), (257114112, 128), (269484032, 256),
        (178163712, 256), (88160256, 128), (9473024, 64), (5525504, 32), (2367488, 16), (1051648, 12), (1051648, 8),
        (1314816, 4),
    )),
    ("nvls-tree", "Simple", (
        (19736576, 4), (81844224, 4), (275775488, 8), (275775488, 48), (296747008, 64), (41842688, 8),
    )),
    ("tree", "LL128", ((81844224, 4), (269484032, 4), (81844224, 4))),
    ("tree", "Simple", ((269484032, 4), (TUNER_MAX_SIZE, 4), (269484032, 4))),
    ("ring", "Simple", (
        (81844224, 5), (TUNER_MAX_SIZE, 5), (TUNER_MAX_SIZE, 32), (1073741824, 40), (1073741824, 128),
        (787480576, 128), (296747008, 64), (275775488, 48), (275775488, 8), (81844224, 5),
    )),
    ("tree", "Simple", (
        (296747008, 64), (787480576, 128), (1073741824, 256), _TWO_TREE_SIMPLE_1_EXT, _TWO_TREE_SIMPLE_2_EXT,
        (269484032, 256), (257114112, 128),
    )),
    ("nvls-tree", "Simple", (
        _TWO_NVLSTREE_EXT, (1073741824, 256), (787480576, 128), (1073741824, 128), (1073741824, 40),
        (TUNER_MAX_SIZE, 32),
    )),
)  # fmt: skip
"""The same function's all-reduce regions for 2 ranks a node."""

# 1 rank a node (nRanks == nNodes): all-reduce, all-gather, reduce-scatter
_ONE_TREE_LL128_EXT = extend_region((9999360, 64), (119477248, 128), _MAX)
_ONE_RING_LL128_EXT = extend_region((4736000, 2), (269484032, 128), _MAX)
_ONE_AG_EXT = extend_region((4194304, 2), (8589934592, 2048), _MAX)
_ONE_RS_EXT = extend_region((8388608, 2), (4294967296, 1024), _MAX)

P5_ONE_A_NODE_REGIONS: dict[str, tuple[Region, ...]] = {
    "allreduce": (
        ("tree", "LL128", ((0, 16), (2367488, 16), (9999360, 64), (119477248, 128), _ONE_TREE_LL128_EXT)),
        ("ring", "LL128", (
            (0, 2), (4736000, 2), (269484032, 128), _ONE_RING_LL128_EXT, _ONE_TREE_LL128_EXT, (119477248, 128),
            (9999360, 64), (2367488, 16), (0, 16),
        )),
        ("ring", "Simple", ((4736000, 2), (TUNER_MAX_SIZE, 2), _ONE_RING_LL128_EXT, (269484032, 128))),
    ),
    "all_gather": (("ring", "Simple", ((4194304, 2), (TUNER_MAX_SIZE, 2), _ONE_AG_EXT, (8589934592, 2048))),),
    "reduce_scatter": (("ring", "Simple", ((8388608, 2), (TUNER_MAX_SIZE, 2), _ONE_RS_EXT, (4294967296, 1024))),),
}  # fmt: skip
"""The same function's regions for 1 rank a node, by collective."""


# --- p5en (region_init_internal_p5en) ---

# 8 ranks a node: all-reduce
_EN_TREE_LL_EXT = extend_region((262144, 192), (262144, 1024), _MAX)
_EN_TREE_LL128_EXT = extend_region((150994944, 128), (251658240, 1024), _MAX)
_EN_NVLSTREE_EXT = extend_region((6442450944, 256), (17179869184, 768), _MAX)
# 8 ranks a node: all-gather and reduce-scatter (the same polygons for both)
_EN_RING_LL_EXT = extend_region((8388608, 256), (33554432, 1024), _MAX)
_EN_RING_LL128_EXT = extend_region((8589934592, 512), (17179869184, 1024), _MAX)
_EN_GATHER_REGIONS: tuple[Region, ...] = (
    ("ring", "LL", (
        (0, 16), (131072, 16), (262144, 32), (8388608, 256), (33554432, 1024), _EN_RING_LL_EXT, (0, TUNER_MAX_RANKS),
    )),
    ("ring", "LL128", (
        _EN_RING_LL_EXT, (33554432, 1024), (8388608, 256), (262144, 32), (131072, 16), (268435456, 16),
        (2147483648, 128), (8589934592, 512), (17179869184, 1024), _EN_RING_LL128_EXT,
    )),
    ("ring", "Simple", (
        _EN_RING_LL128_EXT, (17179869184, 1024), (8589934592, 512), (268435456, 16), (17179869184, 16),
        (TUNER_MAX_SIZE, 16),
    )),
)  # fmt: skip

P5EN_REGIONS: dict[str, tuple[Region, ...]] = {
    "allreduce": (
        ("tree", "LL", ((0, 16), (262144, 16), (262144, 1024), _EN_TREE_LL_EXT)),
        ("tree", "LL128", (
            _EN_TREE_LL_EXT, (262144, 1024), (262144, 16), (14680064, 16), (150994944, 128), (251658240, 1024),
            _EN_TREE_LL128_EXT,
        )),
        ("ring", "LL128", ((150994944, 128), (14680064, 16), (33554432, 16), (536870912, 32), (536870912, 128))),
        ("nvls-tree", "Simple", (
            _EN_TREE_LL128_EXT, (251658240, 1024), (150994944, 128), (536870912, 128), (536870912, 32),
            (6442450944, 256), (17179869184, 768), _EN_NVLSTREE_EXT,
        )),
        ("ring", "Simple", (
            _EN_NVLSTREE_EXT, (17179869184, 768), (6442450944, 256), (536870912, 32), (33554432, 16), (1073741824, 16),
            (TUNER_MAX_SIZE, 16),
        )),
    ),
    "all_gather": _EN_GATHER_REGIONS,
    "reduce_scatter": _EN_GATHER_REGIONS,
}  # fmt: skip
"""``region_init_internal_p5en``'s regions for 8 ranks a node, by collective, in the source's order."""

# 1 rank a node: all-reduce (its all-gather and reduce-scatter regions start with PAT: not ported)
_EN_ONE_TREE_LL128_EXT = extend_region((524288, 8), (1048576, 96), _MAX)
_EN_ONE_TREE_SIMPLE_EXT = extend_region((8388608, 32), (33554432, 128), _MAX)
_EN_ONE_RING_LL128_EXT = extend_region((50331648, 16), (301989888, 128), _MAX)

P5EN_ONE_A_NODE_ALLREDUCE_REGIONS: tuple[Region, ...] = (
    ("tree", "LL", ((0, 2), (65536, 2), (65536, 64), (65536, TUNER_MAX_RANKS))),
    ("tree", "LL128", (
        (65536, TUNER_MAX_RANKS), (65536, 64), (65536, 2), (262144, 2), (524288, 8), (1048576, 96),
        _EN_ONE_TREE_LL128_EXT,
    )),
    ("tree", "Simple", (
        _EN_ONE_TREE_LL128_EXT, (1048576, 96), (524288, 8), (262144, 2), (8388608, 32), (33554432, 128),
        _EN_ONE_TREE_SIMPLE_EXT,
    )),
    ("ring", "LL128", (
        _EN_ONE_TREE_SIMPLE_EXT, (33554432, 128), (8388608, 32), (262144, 2), (6291456, 2), (50331648, 16),
        (301989888, 128), _EN_ONE_RING_LL128_EXT,
    )),
    ("ring", "Simple", (
        _EN_ONE_RING_LL128_EXT, (301989888, 128), (50331648, 16), (6291456, 2), (TUNER_MAX_SIZE, 2),
    )),
)  # fmt: skip
"""The same function's all-reduce regions for 1 rank a node."""


def regions(tuner: str, op: str, nodes: int, per_node: int, platform: str = "p5") -> tuple[Region, ...]:
    """The regions ``tuner`` walks for ``op`` on a communicator of ``nodes`` × ``per_node`` ranks of ``platform``
    (:data:`PLATFORMS`), in order; empty where it leaves NCCL's own tuner to pick (NCCL's tuner, two nodes or fewer,
    a collective or communicator shape the plugin has no regions for)."""
    if tuner == "nccl" or nodes <= 2:
        return ()
    if tuner != AWS_OFI_NCCL:
        raise ValueError(f"unknown nccl_tuner {tuner!r}; expected one of {', '.join(TUNERS)}")
    if platform not in PLATFORMS:
        raise ValueError(f"unknown tuner platform {platform!r}; expected one of {', '.join(PLATFORMS)}")
    if platform == "p5en":
        if per_node == 8:
            return P5EN_REGIONS.get(op, ())
        return P5EN_ONE_A_NODE_ALLREDUCE_REGIONS if per_node == 1 and op == "allreduce" else ()
    if per_node == 8:
        return P5_ALLREDUCE_REGIONS if op == "allreduce" else ()
    if per_node == 2:
        return P5_TWO_A_NODE_ALLREDUCE_REGIONS if op == "allreduce" else ()
    if per_node == 1:
        return P5_ONE_A_NODE_REGIONS.get(op, ())
    return ()


def plugin_pick(
    tuner: str,
    op: str,
    size: float,
    nodes: int,
    per_node: int,
    runnable: Sequence[tuple[str, str]] | None = None,
    platform: str = "p5",
) -> tuple[str, str] | None:
    """What ``tuner`` runs for ``op`` of ``size`` bytes on ``nodes`` × ``per_node`` ranks of ``platform``: the first
    of its regions whose (algorithm, protocol) NCCL runs there (``runnable``; None: all) that the point (bytes,
    ranks) lies in or on (``region_get_coll_info_internal_v3``); None where it leaves NCCL's own tuner to pick."""
    point = (float(size), float(nodes * per_node))
    for algorithm, protocol, vertices in regions(tuner, op, nodes, per_node, platform):
        if runnable is not None and (algorithm, protocol) not in runnable:
            continue  # NCCL_ALGO_PROTO_IGNORE in NCCL's cost table
        if is_inside_region(point, vertices) >= 0:
            return algorithm, protocol
    return None
