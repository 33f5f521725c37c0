"""NCCL's intra-node ring graph on a PCIe-only node (``cluster.host_topology``): channels, speed, transport per hop.

What ``ncclTopoCompute`` (NVIDIA/nccl ``src/graph/search.cc``, v2.30.7) finds for a ring on one node whose
GPUs reach each other over PCIe switches, CPU root complexes and the link between sockets, worked from
the same rules as :mod:`dpsim.sim.nvlink_mesh` does for NVLink:

- paths (``paths.cc``): a pair under one switch is ``PIX``; any other pair goes through a CPU (``PHB``; ``SYS``
  across sockets). GPU peer-to-peer is used when the path type is at most ``NCCL_P2P_LEVEL`` (default
  ``PXB``; ``SYS`` on AMD CPUs with at most 2 GPUs, ``ncclTopoCheckP2p``) and the driver allows it (GeForce:
  not); otherwise the pair's bytes go through host memory (SHM transport), routed through the CPU of the
  receiver (``addInterStep``) — over the same PCIe links and socket link as P2P through the root complex;
- the search takes each channel's speed off every directed link a ring edge crosses: the GPUs' x16 links and
  switch uplinks at NCCL's PCIe figure (Gen3 12, Gen4 24, Gen5 48 GB/s), the socket link at the CPU's
  constant (``topo.h``: ``AMD_BW`` 16, ``SKL_QPI_BW`` 10, ...); on a ``PHB`` path through an Intel CPU the
  PCIe links are charged 6/5 of the speed (``followPath``, ``INTEL_P2P_OVERHEAD``). Speeds come from
  ``speedArrayIntra`` (before Hopper), ``sm90SpeedArrayIntra`` or ``sm100SpeedArrayIntra``, starting at the
  first not above the fastest path (``maxBw``) nor the GPU's PCIe link (``totalBw``); done once ``nChannels ×
  speed`` reaches ``totalBw``, else one speed down while ``next / best > 0.49`` (pass 1), then up again while
  the channels still fit (pass 2);
- no ring at any speed (Blackwell's lowest intra step is 18 GB/s, above ``AMD_BW``): "Could not find a path
  ... falling back to simple order" — one channel in rank order at 0.1 GB/s, ``SYS``;
- ``ncclTopoDupChannels`` doubles channels of ≥ 25 GB/s (halving the speed; not on Hopper+ below 50 GB/s with
  more than 4), ``ncclTopoPostset`` (``connect.cc``) doubles them all again, and ``ncclTopoTuneModel``
  (``tuning.cc``) gives each Simple channel 256 threads instead of 512 when ``speed × channels ≤ PCI_BW`` (12).

The rings are taken in rank order (the order NCCL's search tries first, and on these trees of switches
every order crosses the same cuts). This is the graph NCCL reports with ``NCCL_DEBUG=INFO``, and the one NCCL's
estimate reads on one node (``ncclTopoTuneModel``: ``nChannels · bwIntra``), by which ``auto`` picks there
(:func:`dpsim.sim.collectives.nccl.tuner_graph`; a fallback graph's 0.1 GB/s makes every estimate tiny, and Simple,
with twice LL's bandwidth, wins from a few KiB); what each channel then moves per second over SHM or P2P is the
hardware's, not the graph's (the engines price the links, :meth:`dpsim.sim.cluster.Cluster.node_routes`). Which
edges are SHM (:func:`ring_transports`, ``communication.nccl_p2p_level``) the engines read too: a ring with one takes
one step more a loop, its receive-only step reading host memory (:mod:`dpsim.sim.collectives.nccl`, SHM edges).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dpsim.analytic.collectives import HostTopology
from dpsim.sim.nvlink_mesh import MAX_CHANNELS, SPEED_ARRAY_INTRA

if TYPE_CHECKING:
    from dpsim.scenario import Scenario

__all__ = [
    "P2P_LEVELS",
    "PCI_BW",
    "SPEED_ARRAYS_INTRA",
    "PcieRing",
    "nccl_pcie_ring",
    "ring_transports",
    "scenario_pcie_ring",
]

SPEED_ARRAYS_INTRA: dict[str, tuple[float, ...]] = {
    "": SPEED_ARRAY_INTRA,
    "hopper": (60.0, 50.0, 40.0, 30.0, 24.0, 20.0, 15.0, 12.0, 11.0, 6.0, 3.0),
    "blackwell": (90.0, 80.0, 70.0, 60.0, 50.0, 45.0, 40.0, 30.0, 24.0, 20.0, 19.0, 18.0),
}
"""Per-channel GB/s NCCL's intra-node search tries (``search.cc`` v2.30.7: ``speedArrayIntra``,
``sm90SpeedArrayIntra``, ``sm100SpeedArrayIntra``), by the tuner's architecture."""

P2P_LEVELS = ("LOC", "NVL", "PIX", "PXB", "PHB", "SYS")
"""``NCCL_P2P_LEVEL`` values in path-type order (``topo.h`` ``PATH_LOC`` … ``PATH_SYS``; ``NVL``: NVLink only,
no P2P over PCIe)."""

PCI_BW = 12.0
"""``topo.h`` ``PCI_BW`` (Gen3 x16), GB/s: the threshold of ``tuning.cc``'s 256-thread Simple channels."""

FALLBACK_GBPS = 0.1
"""The speed of the rank-order graph NCCL falls back to when its search finds no ring (``search.cc``)."""


@dataclass(frozen=True)
class PcieRing:
    """NCCL's ring graph on one PCIe node and what its channels run with."""

    search_channels: int
    """Rings the search found (after ``ncclTopoDupChannels``), as ``NCCL_DEBUG=INFO`` prints ``nChannels``."""
    speed_gbps: float
    """The graph's ``bwIntra`` per channel (0.1 for the fallback)."""
    type_intra: str
    """The widest path type a ring edge takes (``PIX``, ``PHB``, ``SYS``)."""
    fallback: bool
    """True when no speed of the array held a ring ("falling back to simple order")."""
    channels: int
    """Channels the collectives run on (``ncclTopoPostset`` doubles the search's)."""
    simple_threads: int
    """Threads of one Simple channel (``tuning.cc``: 256 when ``speed × search channels ≤ PCI_BW``, else 512)."""
    transports: tuple[str, ...]
    """``P2P`` or ``SHM`` for ring edge ``l → l+1`` (mod G), local rank order."""


def _switch(host: HostTopology, local: int) -> int:
    return local // host.gpus_per_switch


def _path_type(host: HostTopology, a: int, b: int, g: int) -> str:
    """``nvidia-smi topo -m``'s distance as NCCL types it: ``PIX`` (one switch), ``PHB`` (a CPU), ``SYS``."""
    if host.socket_of(a, g) != host.socket_of(b, g):
        return "SYS"
    return "PIX" if host.gpus_per_switch > 1 and _switch(host, a) == _switch(host, b) else "PHB"


def _edge_links(host: HostTopology, a: int, b: int, g: int, level: str) -> list[tuple[object, ...]]:
    """The directed links NCCL's path from GPU ``a`` to GPU ``b`` crosses: within their switch with P2P,
    else through the CPU (P2P through the root complex and SHM alike)."""
    links: list[tuple[object, ...]] = [("gpu", a, "up"), ("gpu", b, "down")]
    if _path_type(host, a, b, g) == "PIX" and _p2p(host, "PIX", level):
        return links
    if host.gpus_per_switch > 1:
        links += [("switch", _switch(host, a), "up"), ("switch", _switch(host, b), "down")]
    sa, sb = host.socket_of(a, g), host.socket_of(b, g)
    if sa != sb:
        links.append(("cpu", sa, sb))
    return links


def _p2p(host: HostTopology, path_type: str, level: str) -> bool:
    return host.p2p and P2P_LEVELS.index(path_type) <= P2P_LEVELS.index(level)


def _level(g: int, cpu: str | None, p2p_level: str | None) -> str:
    """``NCCL_P2P_LEVEL`` in force: the one set, else ``PXB`` (``SYS`` on AMD CPUs with at most 2 GPUs)."""
    level = p2p_level if p2p_level is not None else ("SYS" if cpu == "amd" and g <= 2 else "PXB")
    if level not in P2P_LEVELS:
        raise ValueError(f"NCCL_P2P_LEVEL is one of {', '.join(P2P_LEVELS)}, got {level!r}")
    return level


def ring_transports(
    g: int, host: HostTopology, cpu: str | None = None, p2p_level: str | None = None
) -> tuple[str, ...]:
    """``P2P`` or ``SHM`` for each ring edge ``l → l+1`` (mod ``g``) of a PCIe node, local rank order
    (``ncclTopoCheckP2p``: P2P when the pair's path type is at most ``NCCL_P2P_LEVEL`` and the driver allows it)."""
    level = _level(g, cpu, p2p_level)
    return tuple("P2P" if _p2p(host, _path_type(host, a, (a + 1) % g, g), level) else "SHM" for a in range(g))


def nccl_pcie_ring(
    g: int, host: HostTopology, pcie_gbps: float, arch: str = "", cpu: str | None = None, p2p_level: str | None = None
) -> PcieRing:
    """NCCL's ring graph on ``g`` GPUs of a PCIe node (module docstring).

    ``pcie_gbps``: NCCL's figure for one x16 link (12 / 24 / 48 GB/s for Gen3 / 4 / 5); ``arch``: the
    tuner's architecture (``""`` before Hopper, ``hopper``, ``blackwell``); ``cpu``: the CPU class
    (``cluster.host_topology.cpu``: ``amd`` allows P2P at any distance with at most 2 GPUs, ``intel-*`` charges
    a ``PHB`` path's PCIe links 6/5 of the speed, ``INTEL_P2P_OVERHEAD`` in ``followPath``); ``p2p_level``:
    ``NCCL_P2P_LEVEL`` (None: NCCL's default).
    """
    if g < 2:
        raise ValueError(f"a ring needs 2 GPUs or more, got {g}")
    level = _level(g, cpu, p2p_level)
    edges = [(lr, (lr + 1) % g) for lr in range(g)]
    distance = [_path_type(host, a, b, g) for a, b in edges]
    transports = ring_transports(g, host, cpu, p2p_level)
    # a pair of one switch without P2P goes through the CPU: PHB (addInterStep)
    types = [t if t != "PIX" or tr == "P2P" else "PHB" for t, tr in zip(distance, transports, strict=True)]
    intel = cpu is not None and cpu.startswith("intel")
    load: dict[tuple[object, ...], float] = {}
    for (a, b), t in zip(edges, types, strict=True):
        for link in _edge_links(host, a, b, g, level):
            load[link] = load.get(link, 0.0) + (1.2 if intel and t == "PHB" and link[0] != "cpu" else 1.0)
    socket_gbps = host.inter_cpu_bandwidth / 1e9

    def rings(speed: float) -> int:
        """Rings of ``speed`` the links carry (each takes it off every link it crosses)."""
        fit = MAX_CHANNELS
        for link, n in load.items():
            cap = socket_gbps if link[0] == "cpu" else pcie_gbps
            fit = min(fit, math.floor(cap / (n * speed) + 1e-9))
        return fit

    speeds = SPEED_ARRAYS_INTRA.get(arch, SPEED_ARRAY_INTRA)
    max_bw = max(  # maxBw: the widest path between two GPUs
        min(pcie_gbps if link[0] != "cpu" else socket_gbps for link in _edge_links(host, a, b, g, level))
        for a in range(g)
        for b in range(g)
        if a != b
    )
    total_bw = pcie_gbps  # totalBw: the GPU's PCIe link
    i = next((j for j, s in enumerate(speeds) if s <= max_bw and s <= total_bw), len(speeds) - 1)
    best, best_speed = 0, 0.0
    while True:  # pass 1: down the speeds until a graph reaches the GPU's link or the next step halves it
        n = rings(speeds[i])
        if n * speeds[i] > best * best_speed:
            best, best_speed = n, speeds[i]
        if best and best * best_speed >= total_bw:
            break
        if i + 1 < len(speeds) and (not best or speeds[i + 1] / best_speed > 0.49):
            i += 1
            continue
        break
    shape = "SYS" if "SYS" in types else "PHB" if "PHB" in types else "PIX"
    if not best:
        return PcieRing(1, FALLBACK_GBPS, "SYS", True, 2, 256 if FALLBACK_GBPS <= PCI_BW else 512, transports)
    if best_speed >= 25.0 and not (arch in ("hopper", "blackwell") and best_speed < 50.0 and best > 4):
        dup = min(2 * best, MAX_CHANNELS)
        best_speed /= math.ceil(dup / best)
        best = dup
    i = next(j for j, s in enumerate(speeds) if s <= best_speed)
    while i > 0 and rings(speeds[i - 1]) >= best:  # pass 2: a faster speed for as many channels
        i -= 1
        best, best_speed = min(rings(speeds[i]), MAX_CHANNELS), speeds[i]
    threads = 256 if best * best_speed <= PCI_BW else 512
    return PcieRing(best, best_speed, shape, False, min(2 * best, 2 * MAX_CHANNELS), threads, transports)


def scenario_pcie_ring(
    scenario: Scenario, p2p_level: str | None = None, host: HostTopology | None = None
) -> PcieRing | None:
    """NCCL's ring graph on one node of a scenario with ``cluster.host_topology`` (None without one, or one GPU):
    the GPUs' links at NCCL's PCIe figure, the catalog link's DMA rate (``pcie3`` 12, ``pcie4`` 24, ``pcie5``
    48 GB/s: ``topo.cc`` reads the link's generation and width), not what NCCL's kernels reach GPU to GPU over it
    (:attr:`dpsim.catalog.LinkSpec.intra_efficiency`, the engines' price); a link given by its rate, that rate.
    ``host``: the node's host topology where the caller has built it
    (:func:`dpsim.analytic.fabrics.host_topology_of`)."""
    from dpsim.analytic.fabrics import host_topology_of, nccl_arch
    from dpsim.catalog import LINKS

    host, g = host if host is not None else host_topology_of(scenario), scenario.cluster.workers_per_node
    config = scenario.cluster.host_topology
    if host is None or config is None or g < 2:
        return None
    intra = scenario.cluster.intra_node
    pcie_gbps = round((LINKS[intra.preset].achievable if intra.preset in LINKS else intra.achievable) / 1e9, 6)
    level = p2p_level if p2p_level is not None else scenario.communication.nccl_p2p_level
    return nccl_pcie_ring(g, host, pcie_gbps, nccl_arch(scenario), config.cpu, level)
