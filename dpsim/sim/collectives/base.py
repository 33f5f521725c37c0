"""A collective algorithm as a schedule: phases of concurrent point-to-point transfers.

An algorithm is described once, independent of message size, as a list of
:class:`Phase` objects: arrays of (source, destination, bytes as a fraction of the message
``S``), repeated ``repeat`` times (the N−1 identical steps of a ring). Both fidelity levels
read the same schedule:

* chunk level (:mod:`dpsim.sim.chunk`) runs every transfer as a flow on the links of its
  route, with the *per-rank* dependency rule of message-passing collectives: a rank starts
  its sends of a phase once all its sends and receives of earlier phases are complete;
* fast level (:mod:`dpsim.sim.fast`) prices a whole phase at once from the load it puts on
  each link.

``hops`` multiplies the route latency of a phase's transfers: a pipelined tree streams the
data through its depth, so its first byte crosses ``depth`` hops (Sanders et al. 2009).
``latency_s``, when set, replaces the route latency of every transfer of the phase: NCCL's
algorithms pay NCCL's per-step latency of their protocol (``src/graph/tuning.cc``
``hwLatencies``), not the wire's. That is NCCL's own estimate, and its tuner picks by it; but
NCCL's network constants (``hwLat[NET]``) are an InfiniBand-class network's. ``net_hops`` of
each step's latency are network hops NCCL prices at ``net_step_s`` each, and the schedule is
timed with each of them at that plus what the network's own per-message latency (the route's, from
the scenario's inter-node link: EFA's or a TCP offload's is several times InfiniBand's) exceeds
InfiniBand's, and no less than the network's latency: :meth:`Phase.timed_latency`. ``channel`` says
which of NCCL's channels (parallel rings or trees, each on its own share of the data) a transfer
belongs to. A schedule's
``base_latency_s`` is paid once per call before any transfer (NCCL's ``baseLatencies``:
kernel launch and set-up), and ``protocol`` names NCCL's wire protocol (Simple, LL,
LL128; empty for the textbook algorithms).

``engine_Bps`` is the throughput of one NCCL channel on one rank: each channel is run by
one thread block per GPU, and NCCL's tuner caps what a channel moves per algorithm,
protocol and GPU generation (``src/graph/tuning.cc``: ``perChMaxTreeBws``,
``perChMaxRingLL128Bws``, ``perChMaxTreeLL128Bws``, ``llMaxBws``). Every evaluator prices it
as one more resource per (rank, channel) that the rank's sends on that channel cross, of
``engine_Bps`` bytes/s: the fast level as one more load in each phase, the chunk level as
one more link on each flow's route (:mod:`dpsim.sim.cost`, :mod:`dpsim.sim.chunk`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dpsim.sim.collectives.nccl_tuner import DEFAULT_NCCL_VERSION, P2C_SINCE, TunerTables, released, tuner_tables
from dpsim.sim.nvlink_mesh import ring_gpu_counts

__all__ = ["NCCL_NET_LL_HOP_S", "Chunking", "Layout", "Phase", "Schedule", "TunerCorrection"]

NCCL_NET_LL_HOP_S = 5.0e-6
"""NCCL's per-step latency of an LL tree hop across the network (``src/graph/tuning.cc`` ``hwLatencies[NET][TREE][LL]``,
v2.10.3-v2.30.7): the InfiniBand network its constants are for, whose one-way latency the catalog's ``ib-*`` links
also carry (5 µs). What LL128 and Simple add to it is the protocols' own work (:meth:`Phase.timed_latency`)."""


@dataclass(frozen=True)
class TunerCorrection:
    """NCCL's size-dependent corrections of its cost model (``src/graph/tuning.cc`` ``ncclTopoGetAlgoTime``).

    ``bandwidth`` is the row of ``treeCorrectionFactor`` for the schedule's protocol: NCCL's
    estimate of a tree all-reduce of S bytes takes ``bandwidth[log2(S/64)]`` of its modelled bandwidth for
    64 B ≤ S < 64·2^len ("Trees are not perfectly sticking to the model for medium sizes").
    From ``plateau_from`` bytes on, the estimate's latency is ``plateau`` times the modelled one (the ring
    all-reduce's "plateau effect" on several nodes). ``scale`` multiplies the estimate's bandwidth at
    every size: a refinement of ``ncclTopoTuneModel`` that the schedule's data path does not carry (the
    ``TREE`` pattern's ×0.85 where no head reduces more inputs than the balanced tree's GPUs,
    :func:`dpsim.sim.collectives.nccl.nccl_tree`). They are part of the estimate NCCL's tuner
    picks the (algorithm, protocol) by, not of the schedule's price: every evaluator picks with
    :meth:`time` (:meth:`dpsim.sim.cost.LinearCost.tuned`) and runs the chosen schedule as it is.
    """

    bandwidth: tuple[float, ...] = ()
    plateau_from: float = math.inf
    plateau: float = 1.0
    net_latency_s: float = 0.0
    """What the network plugin's reported latency adds to the estimate's latency (before the plateau factor, which
    NCCL applies to its whole latency): ``latencyInter`` on each inter-node step, twice for Simple."""
    scale: float = 1.0
    ceiling_Bps: float = math.inf
    """The most algorithm bandwidth NCCL's estimate grants the schedule where the price does not carry that ceiling:
    the Simple tree's ``nChannels · perChMaxTreeBw / 2`` (``ncclTopoTuneModel``, :func:`dpsim.sim.collectives.nccl.
    nccl_tree`), which bounds what NCCL estimates, not what its kernel moves; ``inf``: the price. Read with the price
    only (NCCL's own model, :attr:`model_Bps`, holds the same ceiling)."""
    model_latency_s: float = 0.0
    model_Bps: float = 0.0
    """NCCL's own closed-form estimate of the schedule where dpsim derives it (``ncclTopoTuneModel``,
    ``src/graph/tuning.cc``: ``comm->latencies`` and ``comm->bandwidths``, the latter as algorithm bandwidth, B/s;
    :func:`dpsim.sim.collectives.nccl.tuner_model`); 0: none, the estimate is the schedule's price with the other
    corrections. Where set, :meth:`time` is ``ncclTopoGetAlgoTime`` of it (``lat·plateau + nBytes / (bw·tree
    correction)``) and reads neither the price nor ``scale`` and ``net_latency_s``, which the
    model holds."""
    runs_from: float = 0.0
    runs_to: float = math.inf
    """NCCL runs the schedule only for sizes in (``runs_from``, ``runs_to``]; elsewhere its estimate is infinite, so
    the tuner never picks it there (p2p: LL up to ``NCCL_P2P_LL_THRESHOLD`` a peer, Simple above,
    :mod:`dpsim.sim.collectives.p2p`)."""

    def factors(self, size: float) -> tuple[float, float]:
        """(latency multiplier, bandwidth multiplier) at ``size`` bytes: the plateau and the tree correction
        (``log2i(nBytes >> 6)``, as NCCL), ``ncclTopoGetAlgoTime``'s size corrections; :attr:`scale` is not one."""
        bandwidth = 1.0
        blocks = int(size) >> 6
        if self.bandwidth and blocks >= 1:
            k = blocks.bit_length() - 1
            if k < len(self.bandwidth):
                bandwidth = self.bandwidth[k]
        return (self.plateau if size >= self.plateau_from else 1.0), bandwidth

    def time(self, latency_s: float, seconds_per_byte: float, size: float) -> float:
        """NCCL's corrected estimate: ``(latency + net_latency)·lat_mult + size·max(seconds_per_byte, 1/ceiling) /
        (scale·bw_mult)`` on the price, ``model_latency·lat_mult + size / (model_Bps·bw_mult)`` on NCCL's own model
        (:meth:`factors`)."""
        if not self.runs_from < size <= self.runs_to:
            return math.inf
        lat, bw = self.factors(size)
        if self.model_Bps > 0:  # ncclTopoGetAlgoTime (src/graph/tuning.cc): lat * latCount + nBytes / (1000 * bw)
            return self.model_latency_s * lat + size / (self.model_Bps * bw)
        seconds_per_byte = max(seconds_per_byte, 1.0 / self.ceiling_Bps)
        return (latency_s + self.net_latency_s) * lat + size * seconds_per_byte / (self.scale * bw)


NO_CORRECTION = TunerCorrection()


@dataclass(frozen=True)
class Chunking:
    """How NCCL cuts a pipelined schedule's data into steps that each hop forwards whole (store and forward).

    Each of ``lanes`` NCCL channels carries S/lanes bytes in chunks of ``chunk_bytes`` (``src/enqueue.cc``
    ``calcCollChunking``: one step, ``buffSize / NCCL_STEPS``, for a tree). A hop forwards a chunk only once
    it holds all of it (Simple: ``ProtoSimple<1, 1>``, one slice of one step, the sender posts the step's
    tail after writing it; every protocol across the network: the proxy sends a step once the GPU has
    written it, ``src/transport/net.cc``), so the first chunk crosses the ``intra_hops`` chunked hops
    inside nodes and the ``net_hops`` network hops of the pipeline's depth one after the other before the
    last one leaves: :func:`dpsim.sim.cost.pipeline_fill` prices that fill (the network hops step by step where
    the phase carries each transfer's :attr:`Phase.stage`).
    """

    chunk_bytes: float
    lanes: int
    intra_hops: int
    net_hops: int
    shrink: tuple[tuple[float, float], ...] = ()
    """NCCL's size rule for the chunk, as (ratio, floor) pairs in order: halve it while ``⌊S / (lanes · chunk)⌋
    < ratio`` and ``chunk > floor`` (``calcCollChunking``'s LL128 tree; with :attr:`shrink_to`, set it to ``floor``
    once); empty: ``chunk_bytes`` at every size."""
    channel_bytes: float = 0.0
    """Bytes a channel must have before NCCL runs the next one: ``nThreads · threadThreshold``
    (``src/enqueue.cc`` ``topoGetAlgoInfo``, "Ring/Tree channel tuning": ``nc`` drops by one while
    ``nBytes < nc · nt · threshold``), so a small message runs on ``⌊S / channel_bytes⌋`` channels, each
    holding about ``channel_bytes`` (:meth:`channels_at`); 0: every lane at every size."""
    intra_together: bool = False
    """Whether every lane's chunk crosses the node's hops at once (NVLS: each of a loop's ``nChannels · nHeads``
    chunks is reduced through the switch, then multicast, by warps of every channel together), so a node hop of the
    fill costs what all of the phase's transfers inside nodes cost together, not the slowest one alone."""
    hop_Bps: float = 0.0
    """Wire bytes/s at which one (rank, channel) forwards a chunk while it is alone on its hop, the pipeline's fill
    (:func:`dpsim.sim.cost.pipeline_fill`): NCCL's per-channel figure (:func:`dpsim.sim.collectives.nccl.nccl_tree`),
    where the schedule's steady state does not carry it as :attr:`Schedule.engine_Bps`; 0: none."""
    shrink_to: bool = False
    """Whether each :attr:`shrink` rule sets the chunk to its floor in one step (``calcCollChunking``'s NVLS-tree:
    ``if (nBytes < ratio · concurrentOps · chunkSize && chunkSize > floor) chunkSize = floor``) rather than halving."""
    grain: float = 0.0
    """Bytes the chunk is aligned down to after the size rule (``calcCollChunking`` from v2.22.3: ``chunkSize =
    chunkSize / grainSize * grainSize``, ``ncclProtoGrainSize``); 0: not aligned."""

    def step_at(self, size: float) -> float:
        """NCCL's chunk for an ``size``-byte collective (:attr:`shrink` applied, then :attr:`grain`)."""
        chunk = self.chunk_bytes
        for ratio, floor in self.shrink:
            while size // (self.lanes * chunk) < ratio and chunk > floor:
                chunk = floor if self.shrink_to else chunk / 2
        return chunk - chunk % self.grain if self.grain > 0 else chunk

    def channels_at(self, size: float) -> int:
        """Channels NCCL runs an ``size``-byte collective on: ``min(lanes, max(1, ⌊S / channel_bytes⌋))``."""
        if self.channel_bytes <= 0:
            return self.lanes
        return int(min(self.lanes, max(1, size // self.channel_bytes)))

    def chunk_at(self, size: float) -> float:
        """Bytes one hop forwards at once on one channel: ``min(chunk, S / channels)`` (:meth:`channels_at`)."""
        return min(self.step_at(size), size / self.channels_at(size))

    def chunks_at(self, size: float) -> int:
        """Chunks each channel moves: ``⌈S / (lanes · chunk)⌉`` (at least 1)."""
        return max(1, math.ceil(size / (self.lanes * self.step_at(size))))


@dataclass(frozen=True)
class Phase:
    """Concurrent transfers ``src[i] → dst[i]`` of ``fraction[i]·S`` bytes, ``repeat`` times in a row."""

    src: np.ndarray
    dst: np.ndarray
    fraction: np.ndarray
    repeat: int = 1
    hops: float = 1.0
    latency_s: float | None = None
    """Per-step latency of every transfer (replaces route latency × hops when set)."""
    channel: np.ndarray | None = None
    """NCCL channel of each transfer (None: one channel)."""
    net_hops: float = 0.0
    """Network hops among each step's ``latency_s`` (a mean over the steps where they differ)."""
    net_step_s: float = 0.0
    """NCCL's latency of each of those hops (its ``hwLat[NET]``), part of ``latency_s``."""
    nic: np.ndarray | None = None
    """Which of its GPU's NICs each transfer leaves its node through, and enters the other through (0 … NICs per
    GPU − 1; None: the first), where a node has more NICs than GPUs: the NIC of the transfer's NCCL channel."""
    stage: np.ndarray | None = None
    """A chunked pipeline's network transfers (:class:`Chunking`): the step of the first chunk's path at which each
    forwards it — the reduce pass's steps, then the broadcast pass's — so that the transfers of one step, which send
    their first chunks at the same time, share the links they cross (:func:`dpsim.sim.cost.pipeline_fill`); −1 for a
    transfer inside a node. None: every network hop alone, ``Chunking.net_hops`` of them."""
    ring_graph: tuple[float, float, float] | None = None
    """A ring step across nodes that lasts no less than its step graph's wave (NCCL's LL128 ring over NVLink nodes,
    :func:`dpsim.sim.cost.ring_wave`): (NCCL's intra-node step latency, the latency the network plugin reports (0:
    none), the network hops a step of the wave crosses). None: no wave, every transfer its latency then its bytes."""

    @staticmethod
    def of(
        src: object,
        dst: object,
        fraction: object,
        repeat: int = 1,
        hops: float = 1.0,
        latency_s: float | None = None,
        channel: object = None,
        net_hops: float = 0.0,
        net_step_s: float = 0.0,
        nic: object = None,
        stage: object = None,
        ring_graph: tuple[float, float, float] | None = None,
    ) -> Phase:
        s = np.asarray(src, dtype=np.int64).ravel()
        d = np.asarray(dst, dtype=np.int64).ravel()
        f = np.broadcast_to(np.asarray(fraction, dtype=np.float64), s.shape).copy()
        if s.shape != d.shape:
            raise ValueError("a phase needs as many destinations as sources")
        if np.any(s == d):
            raise ValueError("a transfer needs distinct source and destination")
        if latency_s is not None and not latency_s >= 0:
            raise ValueError(f"a phase's latency must be >= 0, got {latency_s!r}")
        c = None if channel is None else np.broadcast_to(np.asarray(channel, dtype=np.int64), s.shape).copy()
        lat = None if latency_s is None else float(latency_s)
        n = None if nic is None else np.broadcast_to(np.asarray(nic, dtype=np.int64), s.shape).copy()
        if n is not None and not n.any():
            n = None
        st = None if stage is None else np.broadcast_to(np.asarray(stage, dtype=np.int64), s.shape).copy()
        return Phase(s, d, f, int(repeat), float(hops), lat, c, float(net_hops), float(net_step_s), n, st, ring_graph)

    def select(self, mask: np.ndarray) -> Phase:
        """The phase's transfers where ``mask`` holds, each with its channel, NIC and stage."""

        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[mask]

        return replace(
            self, src=self.src[mask], dst=self.dst[mask], fraction=self.fraction[mask], channel=pick(self.channel),
            nic=pick(self.nic), stage=pick(self.stage),
        )  # fmt: skip

    def transfer_latency(self, route_latency: np.ndarray) -> np.ndarray:
        """One-way latency of each transfer given its route's: ``latency_s``, or route × ``hops``.

        A pipelined phase (``hops`` ≠ 1) completes when its first byte has crossed the whole
        pipeline, so all its transfers pay the depth on the slowest route (the α–β closed
        forms' ``depth·α``), not each its own.
        """
        if self.latency_s is not None:
            return np.full(len(route_latency), self.latency_s)
        latency = np.asarray(route_latency, dtype=np.float64)
        if self.hops != 1.0 and len(latency):
            return np.full(len(latency), float(latency.max()) * self.hops)
        return latency * self.hops

    def timed_latency(self, route_latency: np.ndarray) -> np.ndarray:
        """:meth:`transfer_latency` with each network hop of NCCL's step timed on the scenario's network.

        The network's per-message latency is the largest route latency of the phase (the
        inter-node route's, where the phase crosses nodes). NCCL's per-step figure (``net_step_s``) is an
        InfiniBand network's hop with the protocol's own work on it: the LL hop, :data:`NCCL_NET_LL_HOP_S`,
        is the network's share, and what LL128 and Simple add — the proxy's hand-off of a whole step, the
        receiving proxy posting the step's tail to the GPU (``src/transport/net.cc``) — comes after the
        message has crossed, so it adds to the wire, it does not overlap it (NCCL's own model adds a network's
        latency to the per-step figure, ``ncclTopoTuneModel``: ``interLat = hwLat[NET] + latencyInter``; the
        catalog's latency of a network is a whole LL hop across it, InfiniBand's share of which
        :data:`NCCL_NET_LL_HOP_S` already holds). A hop costs that figure plus
        what the network's own latency exceeds InfiniBand's, and no less than the network's latency:
        ``latency_s + net_hops · max(0, network − net_step_s, network − NCCL_NET_LL_HOP_S)``. On InfiniBand
        (5 µs, the catalog's ``ib-*``) that is ``max(net_step_s, network)``, as before.
        """
        out = self.transfer_latency(route_latency)
        if self.latency_s is None or self.net_hops <= 0 or not len(route_latency):
            return out
        network = float(np.max(route_latency))
        return out + self.net_hops * max(0.0, network - self.net_step_s, network - NCCL_NET_LL_HOP_S)

    def net_hop_s(self, route_latency: np.ndarray) -> float:
        """One network hop of NCCL's step as :meth:`timed_latency` times it, on a network whose latency is the larger
        of the phase's largest route latency and the plugin's reported one (:attr:`ring_graph`)."""
        plugin = self.ring_graph[1] if self.ring_graph is not None else 0.0
        network = max(float(np.max(route_latency, initial=0.0)), plugin)
        return self.net_step_s + max(0.0, network - self.net_step_s, network - NCCL_NET_LL_HOP_S)

    @property
    def transfers(self) -> int:
        return len(self.src) * self.repeat


@dataclass(frozen=True)
class Schedule:
    """A collective over ``ranks`` endpoints (rank ``ranks - 1`` may be a parameter server)."""

    name: str
    ranks: int
    phases: tuple[Phase, ...] = field(default_factory=tuple)
    base_latency_s: float = 0.0
    """Paid once per call before the first transfer (NCCL's per-algorithm base latency)."""
    protocol: str = ""
    """NCCL protocol (``Simple``, ``LL``, ``LL128``); empty for textbook algorithms."""
    pipelined: bool = False
    """Data stream through the ranks in small chunks (trees, NVLS, the ring broadcast): the last
    chunk reaches every rank as the pipeline drains, so all ranks finish together."""
    engine_Bps: float = 0.0
    """Wire bytes/s one (rank, channel) can send (NCCL's per-channel throughput); 0 = unlimited."""
    tuner: TunerCorrection = NO_CORRECTION
    """NCCL's size-dependent corrections of this schedule's time (:class:`TunerCorrection`)."""
    chunking: Chunking | None = None
    """How a pipelined NCCL schedule forwards its data hop by hop (:class:`Chunking`); None: as a fluid."""

    @property
    def transfers(self) -> int:
        """Point-to-point transfers in one run (the chunk level's event count is about twice this)."""
        return sum(p.transfers for p in self.phases)

    def bytes_sent(self, size: float) -> np.ndarray:
        """Bytes each endpoint sends in one run of an ``size``-byte collective."""
        out = np.zeros(self.ranks)
        for p in self.phases:
            np.add.at(out, p.src, p.fraction * size * p.repeat)
        return out

    def bytes_received(self, size: float) -> np.ndarray:
        """Bytes each endpoint receives in one run."""
        out = np.zeros(self.ranks)
        for p in self.phases:
            np.add.at(out, p.dst, p.fraction * size * p.repeat)
        return out

    def then(self, other: Schedule, name: str | None = None) -> Schedule:
        """This schedule followed by ``other`` (over the same endpoints)."""
        return Schedule(
            name or f"{self.name}+{other.name}",
            max(self.ranks, other.ranks),
            self.phases + other.phases,
            self.base_latency_s + other.base_latency_s,
            self.protocol or other.protocol,
            self.pipelined and other.pipelined,
            self.engine_Bps or other.engine_Bps,
            self.tuner if self.tuner != NO_CORRECTION else other.tuner,
            self.chunking or other.chunking,
        )


@dataclass(frozen=True)
class Layout:
    """Where a collective's ranks sit: ``nodes`` × ``per_node`` ranks (node-major), NICs per node, NVSwitch kind.

    ``intra_hw`` is NCCL's hardware class of the intra-node links (``nvlink`` or ``pci``,
    for its per-step latencies); ``nvls`` says the node switch reduces in-network (NVLink
    SHARP on H100-class NVSwitch), so NCCL's NVLS algorithms exist; ``arch`` is the GPU
    generation NCCL's tuner constants are indexed by (``volta``, ``ampere``, ``hopper``,
    ``blackwell``; empty: unknown, no per-channel limits). ``slots`` places the ranks
    (``cluster.rank_order``): rank r runs on GPU slot ``slots[r]`` = node·G + local; empty:
    node-major, rank r on slot r. ``nic_gbps`` is one NIC's port rate as NCCL reads it
    (``src/graph/topo.cc``: Mbit/s / 8000, GB/s; 0: unknown), which sets how many channels
    NCCL's search builds (:func:`dpsim.sim.collectives.nccl.ring_search`,
    :func:`dpsim.sim.collectives.nccl.duplication`). ``pcie_gpus_per_nic``
    is how many GPUs sit on each NIC's PCIe switch (0: two or more), which sets the pattern of
    NCCL's tree graph (:attr:`tree_pattern`). ``nccl_algo`` and ``nccl_proto`` are the algorithms
    and protocols NCCL may pick (``NCCL_ALGO``, ``NCCL_PROTO``; empty: all), which ``auto`` chooses
    among (:func:`dpsim.sim.collectives.candidates`). ``nccl_buffsize`` is the Simple protocol's buffer
    per connection (``NCCL_BUFFSIZE``; 0: NCCL's 4 MiB), ``NCCL_STEPS`` = 8 steps of which a tree forwards
    one at a time (:class:`Chunking`). ``nccl_net_latency_s`` is the latency the network plugin reports to
    NCCL (its graph's ``latencyInter``), which NCCL's tuner adds to its estimate of each inter-node step
    (:attr:`TunerCorrection.net_latency_s`); 0: none, as NCCL's own IB transport. ``intra_topology`` is how
    a node's GPUs are wired: ``switch`` (one port each into NVSwitch or PCIe) or ``hybrid-cube-mesh``
    (DGX-1V's point-to-point NVLinks, :mod:`dpsim.sim.nvlink_mesh`), which sets the orders of NCCL's rings.
    """

    nodes: int
    per_node: int
    nics: int = 1
    nvls: bool = False
    intra_hw: str = "nvlink"
    arch: str = ""
    slots: tuple[int, ...] = ()
    nic_gbps: float = 0.0
    pcie_gpus_per_nic: int = 0
    nccl_algo: tuple[str, ...] = ()
    nccl_proto: tuple[str, ...] = ()
    nccl_buffsize: float = 0.0
    nccl_net_latency_s: float = 0.0
    pxn: bool = False
    """NCCL's PXN for point-to-point (``NCCL_P2P_PXN_LEVEL=2``): an inter-node send may leave through the NIC of the
    peer's rail via that NIC's GPU over NVLink — NVLink inside the node, GPUDirect over a host link, several GPUs
    and nodes, and not ``NCCL_PXN_DISABLE=1`` (:mod:`dpsim.sim.collectives.p2p`)."""
    intra_topology: str = "switch"
    shm_edges: tuple[bool, ...] = ()
    """Per local rank ``l`` of a PCIe node: NCCL's ring edge ``l → l+1`` (mod ``per_node``) goes through host
    memory (SHM transport, :attr:`dpsim.analytic.collectives.HostTopology.shm_edges`); empty: none does."""
    nccl_version: str = DEFAULT_NCCL_VERSION
    """The NCCL release that runs (``communication.nccl_version``): its tuner constants pick the algorithm and
    protocol (:attr:`estimate`; :func:`dpsim.sim.collectives.nccl_tuner.tuner_tables`)."""
    estimate: bool = False
    """Whether schedules on this layout stand for NCCL's estimate of them (``ncclTopoTuneModel``, by which
    ``topoGetAlgoInfo`` picks) rather than their time. NCCL's tuner constants only choose (``src/enqueue.cc``
    ``topoGetAlgoInfo``: the fastest estimate wins, and nothing else reads ``comm->bandwidths``); the transfer runs
    at what the links and kernels give, which dpsim prices with the default release's constants, NVIDIA's latest
    measurement of the same kernels (:attr:`tables`). An estimate layout carries ``nccl_version``'s own."""
    host_topology: bool = False
    """Whether the node is a PCIe node laid out by ``cluster.host_topology`` (switches, sockets): there NCCL's tree
    estimate takes the ring's graph speed (:func:`dpsim.sim.cost.host_tree_scale`), which the cost guard counts."""
    pcie_graph: tuple[int, float] | tuple[()] = ()
    """NCCL's intra-node ring graph on such a node, (``nChannels``, ``bwIntra`` GB/s)
    (:attr:`dpsim.analytic.collectives.HostTopology.nccl_graph`): on one node NCCL's estimate reads it
    (:func:`dpsim.sim.collectives.nccl.tuner_graph`); empty: not derived."""
    p2p_step_s: float = 0.0
    """Measured time of a ring step on a P2P hop of a PCIe node, seconds (``cluster.host_topology.p2p_latency_us``,
    :attr:`dpsim.analytic.collectives.HostTopology.p2p_latency_s`): the intra-node step of a schedule whose every
    edge is P2P (no :attr:`shm_edges`) when it is timed, not estimated (:func:`dpsim.sim.collectives.nccl.
    _step_latencies_s`); 0: NCCL's ``hwLatencies[PCI]``."""
    nic_c2c: bool = False
    """Whether each GPU reaches its NICs through its CPU over NVLink-C2C (``cluster.inter_node.nic_path: c2c``):
    NCCL's GPU-to-NIC path type then is ``PHB`` before v2.27.3, ``P2C`` from it (:attr:`ll128_across_nodes`)."""
    nccl_nvls_chunksize: float = 0.0
    """``NCCL_NVLS_CHUNKSIZE`` in bytes (``communication.nccl_nvls_chunksize``), NVLS-tree's chunk from v2.21.5
    (:func:`dpsim.sim.collectives.nccl.nvls_tree_params`); 0: unset."""
    nccl_nvlstree_max_chunksize: float = 0.0
    """``NCCL_NVLSTREE_MAX_CHUNKSIZE`` in bytes (``communication.nccl_nvlstree_max_chunksize``), NVLS-tree's largest
    chunk from v2.20.3 (:func:`dpsim.sim.collectives.nccl.nvls_tree_params`); 0: unset."""
    amd_host: bool = False
    """Whether NCCL sees AMD host CPUs (``cluster.cpu_vendor``): across nodes its tuner then charges 2 µs a network
    post, not 1, and takes its AMD row of LL ceilings (:func:`dpsim.sim.collectives.nccl.net_overhead_us`,
    :func:`dpsim.sim.collectives.nccl.ll_max_row`)."""

    def __post_init__(self) -> None:
        if self.nodes < 1 or self.per_node < 1 or self.nics < 1:
            raise ValueError(f"a layout needs nodes, per_node, nics >= 1, got {self}")
        if self.intra_topology not in ("switch", "hybrid-cube-mesh"):
            raise ValueError(f"intra_topology must be switch or hybrid-cube-mesh, got {self.intra_topology!r}")
        if self.intra_topology == "hybrid-cube-mesh" and self.per_node not in ring_gpu_counts():
            raise ValueError(f"a hybrid cube mesh rings 1-4 or 6-8 GPUs over NVLink, got {self.per_node}")
        if self.intra_hw not in ("nvlink", "pci"):
            raise ValueError(f"intra_hw must be nvlink or pci, got {self.intra_hw!r}")
        if self.shm_edges and len(self.shm_edges) != self.per_node:
            raise ValueError(f"shm_edges needs one entry per local rank ({self.per_node}), got {len(self.shm_edges)}")
        if self.slots and sorted(self.slots) != list(range(self.world)):
            raise ValueError(f"slots must be a permutation of 0..{self.world - 1}")
        tuner_tables(self.nccl_version)  # an unknown release: ValueError naming the ones there are

    @classmethod
    def of(cls, where: Any, order: bool = True) -> Layout:
        """The layout of a fabric or cluster: its nodes, GPUs per node, NICs, NVLS, NCCL hardware class and order.

        ``order=False`` leaves the rank order out (node-major), for counts it does not move; it also skips
        checking the order, a sort of every rank.
        """
        return cls(
            where.nodes,
            where.per_node,
            where.nics_per_node,
            where.nvls,
            where.intra_hw,
            where.arch,
            where.rank_order if order else (),
            where.nic_gbps,
            where.pcie_gpus_per_nic,
            where.nccl_algo,
            where.nccl_proto,
            where.nccl_buffsize,
            where.nccl_net_latency_s,
            getattr(where, "host", None) is not None
            and not getattr(where, "nccl_pxn_disable", False)
            and where.intra_hw == "nvlink"
            and where.per_node > 1
            and where.nodes > 1,
            where.intra_topology,
            getattr(getattr(where, "host_topology", None), "shm_edges", ()) if where.per_node > 1 else (),
            getattr(where, "nccl_version", "") or DEFAULT_NCCL_VERSION,
            host_topology=getattr(where, "host_topology", None) is not None,
            pcie_graph=getattr(getattr(where, "host_topology", None), "nccl_graph", ()) if where.nodes == 1 else (),
            p2p_step_s=getattr(getattr(where, "host_topology", None), "p2p_latency_s", 0.0),
            nic_c2c=getattr(where, "nic_c2c", False),
            nccl_nvls_chunksize=getattr(where, "nccl_nvls_chunksize", 0.0),
            nccl_nvlstree_max_chunksize=getattr(where, "nccl_nvlstree_max_chunksize", 0.0),
            amd_host=getattr(where, "amd_host", False),
        )

    @property
    def world(self) -> int:
        return self.nodes * self.per_node

    @property
    def p2p_step_timed(self) -> bool:
        """Whether the measured P2P step (:attr:`p2p_step_s`) times this layout's intra-node steps: a PCIe node whose
        every ring edge is P2P (no :attr:`shm_edges`)."""
        return self.p2p_step_s > 0 and self.intra_hw == "pci" and not any(self.shm_edges)

    @property
    def tables(self) -> TunerTables:
        """The tuner constants schedules on this layout carry: ``nccl_version``'s for an :attr:`estimate`, else the
        default release's (the price)."""
        return tuner_tables(self.nccl_version if self.estimate else DEFAULT_NCCL_VERSION)

    @property
    def ll128_across_nodes(self) -> bool:
        """Whether NCCL enables LL128 by default on this layout's inter-node graphs (``ncclTopoTuneModel``, v2.18.3 to
        v2.30.7: ``typeInter <= PATH_PXB``, or ``<= PATH_PXN`` on Hopper and later; from v2.27.3 ``<= PATH_P2C``
        with ``NCCL_LL128_C2C`` at its default 1). A GPU that reaches its NIC through its CPU over NVLink-C2C
        (:attr:`nic_c2c`) has a ``PHB`` path before v2.27.3 (``paths.cc`` names it ``P2C`` from v2.27.3: "C2C +
        PHB"), above ``PXN``: no LL128 across nodes there. dpsim takes any other NIC to be within ``PXB`` of its GPU
        (on a PCIe switch with it) or reached by ``PXN``. On one node no graph has a network path."""
        if self.nodes <= 1 or not self.nic_c2c:
            return True
        return released(self.nccl_version, P2C_SINCE)

    @property
    def tree_pattern(self) -> str:
        """The pattern of NCCL's tree graph across nodes: ``balanced`` or ``tree`` (v2.18.3 and later).

        ``init.cc`` asks for ``NCCL_TOPO_PATTERN_BALANCED_TREE``: the parent and child 1 on the
        chain's head, child 0 on its second GPU, which must reach the same NIC at the same PCIe
        distance (``search.cc`` ``ncclTopoSearchCheckNet``). With one GPU per node the search
        uses ``TREE`` (all three on the head: ``ncclTopoCompute``, ``ngpus == 1``); with one GPU
        on each NIC's PCIe switch, Hopper and later fall back to it ("Try a simpler tree",
        ``ccMin >= 90``) before widening the path types.
        """
        if self.nodes < 2:
            return "balanced"
        if self.per_node == 1:
            return "tree"
        if self.pcie_gpus_per_nic == 1 and self.arch in ("hopper", "blackwell"):
            return "tree"
        return "balanced"
