"""Intra-node NVLink meshes: DGX-1V's hybrid cube mesh and the rings NCCL's search builds on it.

A node is a ``switch`` (every GPU one port into NVSwitch, or PCIe: dpsim's default) or a
``hybrid-cube-mesh`` (``cluster.intra_topology``): DGX-1 with V100 (DGX-1V), whose 8 GPUs
each have 6 NVLink 2 links of 25 GB/s per direction wired point to point, not to a switch.
NVIDIA's DGX-1 V100 white paper: "a cube with GPUs at its corners and with all twelve edges
connected through NVLink (some edges have two NVLink connections), and with two of the six
faces having their diagonals connected as well ... three interwoven rings of single NVLink
connections". GPU numbering is ``nvidia-smi topo -m``'s on a DGX-1V (NV1/NV2: one or two
bonded links; SYS: no NVLink, PCIe and QPI between the sockets)::

            GPU0 GPU1 GPU2 GPU3 GPU4 GPU5 GPU6 GPU7
    GPU0     X   NV1  NV1  NV2  NV2  SYS  SYS  SYS
    GPU1    NV1   X   NV2  NV1  SYS  NV2  SYS  SYS
    GPU2    NV1  NV2   X   NV2  SYS  SYS  NV1  SYS
    GPU3    NV2  NV1  NV2   X   SYS  SYS  SYS  NV1
    GPU4    NV2  SYS  SYS  SYS   X   NV1  NV1  NV2
    GPU5    SYS  NV2  SYS  SYS  NV1   X   NV2  NV1
    GPU6    SYS  SYS  NV1  SYS  NV1  NV2   X   NV2
    GPU7    SYS  SYS  SYS  NV1  NV2  NV1  NV2   X

The doubled links form one Hamiltonian cycle (0 3 2 1 5 6 7 4), the single ones another
(0 1 3 7 5 4 6 2): the white paper's three rings. ``cluster.intra_node`` is one GPU's rate over
its 6 links, so a link carries ``intra_node / 6`` (nvlink2: 25 GB/s nominal, NCCL's 20.0 achievable).

**NCCL's rings** (``src/graph/search.cc`` ``ncclTopoCompute``, v2.30.7): the search tries per-channel
speeds from ``speedArrayIntra`` (40, 30, 20, 18, … GB/s before Hopper), the first not above the
fastest GPU-to-GPU path (``maxBw``: two bonded links, 2 × ``SM70_NVLINK_BW`` = 40) and, at each,
builds as many rings through every GPU as the links carry — each ring takes its speed off every
link it crosses (``followPath``: ``link->bw -= bw``), so rings share a link only while its
bandwidth lasts — and keeps the graph of most ``nChannels × speed`` (``ncclTopoCompareGraphs``).
It stops once that reaches the busiest GPU's total NVLink bandwidth (``totalBw``, 6 × 20 = 120)
and steps down to the next speed only while ``next / best > 0.49``. On DGX-1V: at 40 the doubled
cycle in each direction, 2 × 40 = 80; at 30, 2 × 30; at 20 the doubled cycle twice in each
direction and the single one once, 6 × 20 = 120 = ``totalBw``: six rings of 20 GB/s, every link
carrying rings at its full rate. NCCL's ``ncclTopoDupChannels`` copies channels of ≥ 25 GB/s only
(Volta), and ``ncclTopoPostset`` doubles every channel: 12 channels of those four ring orders,
as NCCL 2.19 and 2.27 print them on DGX-1-class V100 servers (``NCCL_DEBUG=INFO``: 0 3 2 1 5 6 7 4
and 0 4 7 6 5 1 2 3 on four channels each, 0 1 3 7 5 4 6 2 and 0 2 6 4 5 7 3 1 on two each).
A copy runs the same ring on the same links, so dpsim keeps the search's channels: the link loads
are the same. :func:`nccl_rings` does this search on the links among the node's GPUs ``0 … G−1``
(a communicator of fewer GPUs sees only their links): on GPUs 0–3, 4 rings of 20 (80 GB/s, not
120); GPUs 0–4 have no ring over NVLink (GPU 4's only link among them is to GPU 0), so NCCL's
would cross PCIe and QPI, which is not modelled (:func:`ring_gpu_counts`).

**Other traffic** (textbook algorithms, NCCL's p2p between GPUs without a link): NCCL's path
between GPUs with no NVLink goes through a GPU linked to both (``PATH_NVB``, ``src/graph/paths.cc``),
here the one whose two links carry the most (ties: the lowest number) (:func:`mesh_path`).
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = [
    "HYBRID_CUBE_MESH",
    "INTRA_TOPOLOGIES",
    "LINKS_PER_GPU",
    "SPEED_ARRAY_INTRA",
    "hamiltonian_path",
    "mesh_links",
    "mesh_path",
    "nccl_rings",
    "ring_gpu_counts",
]

HYBRID_CUBE_MESH = "hybrid-cube-mesh"
INTRA_TOPOLOGIES = ("switch", HYBRID_CUBE_MESH)
"""``cluster.intra_topology``: a switch (NVSwitch, or PCIe) or DGX-1V's hybrid cube mesh."""

LINKS_PER_GPU = 6
"""NVLinks of one V100 (``cluster.intra_node`` is their sum)."""

DGX1_LINKS: tuple[tuple[int, int, int], ...] = (
    (0, 1, 1), (0, 2, 1), (0, 3, 2), (0, 4, 2), (1, 2, 2), (1, 3, 1), (1, 5, 2), (2, 3, 2),
    (2, 6, 1), (3, 7, 1), (4, 5, 1), (4, 6, 1), (4, 7, 2), (5, 6, 2), (5, 7, 1), (6, 7, 2),
)  # fmt: skip
"""(GPU, GPU, NVLinks) of DGX-1V (``nvidia-smi topo -m``, module docstring)."""

SPEED_ARRAY_INTRA = (40.0, 30.0, 20.0, 18.0, 15.0, 12.0, 10.0, 9.0, 7.0, 6.0, 5.0, 4.0, 3.0)
"""``speedArrayIntra`` of ``src/graph/search.cc`` (v2.30.7; GPUs before Hopper): per-channel GB/s tried."""

SM70_NVLINK_BW = 20.0
"""NCCL's bandwidth of one V100 NVLink (``src/graph/topo.h``), GB/s: what its search takes off a link per ring."""

MAX_CHANNELS = 32
"""``ringGraph->maxChannels`` (``MAXCHANNELS / 2``, v2.30.7)."""


@functools.lru_cache(maxsize=16)
def mesh_links(g: int) -> np.ndarray:
    """(g × g) NVLinks between GPUs 0 … g−1 of a DGX-1V (0: none), symmetric."""
    if not 1 <= g <= 8:
        raise ValueError(f"a hybrid cube mesh joins 8 GPUs, got {g}")
    out = np.zeros((g, g), dtype=np.int64)
    for a, b, n in DGX1_LINKS:
        if a < g and b < g:
            out[a, b] = out[b, a] = n
    out.setflags(write=False)
    return out


def mesh_path(links: np.ndarray, a: int, b: int) -> tuple[int, ...]:
    """GPUs a transfer from ``a`` to ``b`` crosses: ``(a, b)`` over their NVLink, else ``(a, m, b)`` through the
    GPU ``m`` linked to both whose narrower link has the most NVLinks (ties: the lowest ``m``)."""
    if links[a, b]:
        return (a, b)
    best = max((min(int(links[a, m]), int(links[m, b])), -m) for m in range(len(links)) if links[a, m] and links[m, b])
    return (a, -best[1], b)


def _next_gpus(links: np.ndarray, gpu: int) -> list[int]:
    """The GPUs linked to ``gpu`` in the order NCCL's search tries them (``ncclTopoSearchNextGpuSort``,
    ``cmpScore``): the widest path first (more bonded NVLinks), then the nearest after ``gpu`` in index order."""
    g = len(links)
    return sorted((n for n in range(g) if links[gpu, n]), key=lambda n: (-int(links[gpu, n]), (n - gpu) % g))


def _cycles(links: np.ndarray) -> tuple[tuple[int, ...], ...]:
    """Every directed Hamiltonian cycle over NVLinks from GPU 0, depth first in NCCL's order (:func:`_next_gpus`)."""
    g = len(links)
    if g < 2:
        return ()
    out: list[tuple[int, ...]] = []

    def extend(path: list[int]) -> None:
        if len(path) == g:
            if links[path[-1], path[0]]:
                out.append(tuple(path))
            return
        for nxt in _next_gpus(links, path[-1]):
            if nxt not in path:
                extend([*path, nxt])

    extend([0])
    return tuple(dict.fromkeys(out))  # a 2-GPU ring is found once


def _pack(cycles: tuple[tuple[int, ...], ...], room: np.ndarray, limit: int) -> tuple[tuple[int, ...], ...]:
    """The most cycles (with repeats, at most ``limit``) whose uses of each directed link stay within ``room``.

    Depth-first over the cycles in order, each at least as late as the one before; stops at the bound
    ``min over GPUs of their outgoing room`` (no GPU can send on more rings than its links hold).
    """
    bound = min(limit, int(room.sum(axis=1).min()))
    edges = [(np.asarray(c), np.roll(np.asarray(c), -1)) for c in cycles]
    best: list[int] = []
    chosen: list[int] = []

    def grow(first: int) -> bool:
        nonlocal best
        if len(chosen) > len(best):
            best = list(chosen)
            if len(best) >= bound:
                return True
        for i in range(first, len(cycles)):
            src, dst = edges[i]
            if np.all(room[src, dst] >= 1):
                room[src, dst] -= 1
                chosen.append(i)
                done = grow(i)
                chosen.pop()
                room[src, dst] += 1
                if done:
                    return True
        return False

    grow(0)
    return tuple(cycles[i] for i in best)


@functools.lru_cache(maxsize=16)
def nccl_rings(g: int) -> tuple[tuple[tuple[int, ...], ...], float]:
    """The rings NCCL's intra-node search builds on GPUs 0 … g−1 of a DGX-1V, and their speed (GB/s).

    ``ncclTopoCompute`` (module docstring): speeds from the first of ``speedArrayIntra`` not above the
    fastest link (``maxBw``) nor the busiest GPU's total (``totalBw``); at each, the most rings the links
    carry (each takes the speed off every directed link it crosses); the graph of most ``nChannels ×
    speed`` wins (ties: the earlier, faster one); done once that reaches ``totalBw`` or ``maxChannels``
    rings, else down one speed while ``next / best > 0.49``. Empty: no ring over NVLink.
    """
    links = mesh_links(g)
    cycles = _cycles(links)
    if not cycles:
        return (), 0.0
    bw = links * SM70_NVLINK_BW
    max_bw, total_bw = float(bw.max()), float(bw.sum(axis=1).max())
    i = next((j for j, s in enumerate(SPEED_ARRAY_INTRA) if s <= max_bw and s <= total_bw), -1)
    best: tuple[tuple[int, ...], ...] = ()
    best_speed = 0.0
    while True:
        speed = SPEED_ARRAY_INTRA[i]
        rings = _pack(cycles, np.floor(bw / speed + 1e-9).astype(np.int64), MAX_CHANNELS)
        if len(rings) * speed > len(best) * best_speed:
            best, best_speed = rings, speed
        if best and (len(best) * best_speed >= total_bw or len(best) >= MAX_CHANNELS):
            break
        if i + 1 < len(SPEED_ARRAY_INTRA) and (not best or SPEED_ARRAY_INTRA[i + 1] / best_speed > 0.49):
            i += 1
            continue
        break
    return best, best_speed


@functools.cache
def ring_gpu_counts() -> tuple[int, ...]:
    """GPU counts of a hybrid cube mesh node that NCCL rings over NVLink (1: no intra-node ring needed)."""
    return tuple(g for g in range(1, 9) if g == 1 or nccl_rings(g)[0])


def hamiltonian_path(g: int, start: int, ends: tuple[int, ...] = ()) -> tuple[int, ...]:
    """The first path over NVLink from ``start`` through every GPU 0 … g−1 (depth first, :func:`_next_gpus`)
    that ends on the first of ``ends`` any path reaches (none reachable, or no ``ends``: the first path): the
    order a channel runs through a node when its ring enters at ``start`` from the network and leaves it
    from the GPU it ends on (NCCL's rings leave through the NIC they came in by, ``search.cc``)."""
    links = mesh_links(g)

    def extend(path: list[int], end: int | None) -> list[int] | None:
        if len(path) == g:
            return path if end is None or path[-1] == end else None
        for nxt in _next_gpus(links, path[-1]):
            if nxt not in path:
                found = extend([*path, nxt], end)
                if found:
                    return found
        return None

    for end in (*ends, None):
        found = extend([start], end)
        if found is not None:
            return tuple(found)
    raise ValueError(f"no NVLink path from GPU {start} through GPUs 0-{g - 1} of a hybrid cube mesh")
