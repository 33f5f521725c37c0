"""The cost of a collective: the analytic evaluation of the schedules the simulator runs.

**One model.** Every collective is described once, as a schedule of concurrent
point-to-point transfers (:mod:`dpsim.sim.collectives`: NCCL's rail-aligned ring and tree,
NVLS, and the textbook algorithms). :func:`collective` prices that schedule on the
cluster's links phase by phase — the bytes each phase puts on every directed link over
its bandwidth, plus the phase's latency (:func:`dpsim.sim.fast.phase_cost`) — which is
exactly what the simulator's fast level does and what its chunk level reproduces flow
by flow. So the analytic engine, the fast level and the chunk level agree wherever the
links are homogeneous, on any topology and algorithm (``tests/test_nccl.py``). Each
(collective, algorithm, protocol, fabric) is priced once as ``latency + size ·
seconds_per_byte`` and cached, so a point still costs microseconds.

``algorithm: auto`` and ``protocol: auto`` take the fastest candidate at each size, as
NCCL's tuner does (:func:`dpsim.sim.collectives.candidates`); the result says which
(:class:`CollectiveChoice`).

**Reference formulas.** The α–β closed forms below (Hockney 1994; Thakur, Rabenseifner &
Gropp 2005, "Optimization of Collective Communication Operations in MPICH", IJHPCA 19(1))
are not used by the engines: they are the independent oracle the tests hold the
schedules to where they apply (flat ring: 2(N−1)α + 2(N−1)/N·S/B exactly), and the
coefficients the calibration fits α and β with. ``size`` is the full vector in bytes on
every rank; ``bandwidth`` is per-direction link bandwidth in bytes/s; links are full duplex.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the schedules live in dpsim.sim, imported lazily (dpsim.sim imports this module)
    from dpsim.scenario import Scenario
    from dpsim.sim.cluster import Cluster
    from dpsim.sim.collectives.base import Layout
    from dpsim.sim.collectives.groups import Groups
    from dpsim.sim.cost import LinearCost
    from dpsim.streams import Job

__all__ = [
    "BUSBW_OPS",
    "CollectiveChoice",
    "Fabric",
    "HostTopology",
    "Link",
    "LinkSegment",
    "algorithm_of",
    "all_gather_time",
    "allreduce_time",
    "broadcast_time",
    "busbw_factor",
    "cluster_of",
    "collective",
    "collective_job",
    "collective_latency",
    "communicator_relays",
    "direct_allreduce_time",
    "flat_link",
    "group_relays",
    "halving_doubling_allreduce_time",
    "hierarchical_allreduce_time",
    "parameter_server_time",
    "protocol_of",
    "pxn_relays",
    "reduce_scatter_time",
    "ring_allreduce_time",
    "send_time",
    "tree_allreduce_time",
]


@dataclass(frozen=True)
class Link:
    """α–β parameters of one link class: latency (s) and per-direction bandwidth (bytes/s)."""

    latency_s: float
    bandwidth: float


@dataclass(frozen=True)
class HostTopology:
    """How a PCIe node's GPUs reach each other through its host (:class:`dpsim.scenario.HostTopologyConfig`).

    ``sockets`` CPU sockets joined pairwise by a link NCCL's search sees at ``inter_cpu_bandwidth`` bytes/s each
    way (its inter-CPU constant, :data:`dpsim.catalog.INTER_CPU_GBPS`) and the engines price at
    :attr:`socket_link_rate`; ``gpus_per_switch`` GPUs under each PCIe
    switch, whose uplink to the CPU runs at the intra-node link's rate; ``p2p``: GPUs of one switch reach each
    other directly (NCCL's P2P transport, ``PIX`` ≤ ``NCCL_P2P_LEVEL``'s default ``PXB``), else through the CPU.
    """

    sockets: int = 1
    gpus_per_switch: int = 1
    inter_cpu_bandwidth: float = 0.0
    p2p: bool = True
    socket_link_bandwidth: float = 0.0
    """Bytes/s each way the engines price the socket link at: its measured rate
    (``cluster.host_topology.socket_link_gbps``); 0: ``inter_cpu_bandwidth``, NCCL's constant, which NCCL's ring
    search uses either way (:mod:`dpsim.sim.pcie_ring`)."""
    shm_edges: tuple[bool, ...] = ()
    """Per local rank ``l``: NCCL's ring edge ``l → l+1`` (mod G) goes through host memory (SHM transport), not
    GPU peer-to-peer (:func:`dpsim.sim.pcie_ring.ring_transports`); empty: none does."""
    p2p_latency_s: float = 0.0
    """Measured one-way latency of the node's slowest P2P hop, seconds (``cluster.host_topology.p2p_latency_us``),
    the time of a ring step whose every edge is P2P (:attr:`dpsim.sim.collectives.base.Layout.p2p_step_s`); 0: NCCL's
    per-step figure."""
    nccl_graph: tuple[int, float] | tuple[()] = ()
    """NCCL's intra-node ring graph on the node: (``nChannels``, ``bwIntra`` GB/s) as its search builds it
    (:func:`dpsim.sim.pcie_ring.nccl_pcie_ring`; the tree graph has the ring's channels), which NCCL's estimate on one
    node reads (:func:`dpsim.sim.collectives.nccl.tuner_graph`); empty: not derived."""

    @property
    def socket_link_rate(self) -> float:
        """Bytes/s each way of the socket link as the engines price it."""
        return self.socket_link_bandwidth or self.inter_cpu_bandwidth

    def socket_of(self, local: int, per_node: int) -> int:
        """The socket of local rank ``local`` of ``per_node``: the same number of GPUs on each, in order."""
        return local * self.sockets // per_node


@dataclass(frozen=True)
class LinkSegment:
    """One size regime of a fitted link: the α–β that explains collectives from ``from_bytes`` upwards.

    NCCL prices every (algorithm, protocol) pair with its own latency and bandwidth and runs
    the cheapest by its model for each size, with fewer channels for small messages
    (``src/graph/tuning.cc``: ``ncclTopoTuneModel``; ``src/enqueue.cc``: ``topoGetAlgoInfo``),
    so a measured curve is a sequence of α–β lines, each holding over a contiguous range of
    sizes. A single α–β line cannot follow it across the switch points.
    """

    from_bytes: float
    link: Link


def regime_link(segments: tuple[LinkSegment, ...], size: float) -> Link:
    """The link of the regime whose range holds ``size`` (the first regime below its start)."""
    link = segments[0].link
    for segment in segments:
        if size >= segment.from_bytes:
            link = segment.link
    return link


def _scaled(segments: tuple[LinkSegment, ...], factor: float) -> tuple[LinkSegment, ...]:
    return tuple(LinkSegment(s.from_bytes, Link(s.link.latency_s, s.link.bandwidth * factor)) for s in segments)


@dataclass(frozen=True)
class Fabric:
    """The cluster's communication structure: node layout, link classes, NICs and topology.

    ``intra``/``inter`` carry the *achievable* per-direction bandwidth (catalog nominal ×
    measured efficiency) and latency; ``inter`` is per NIC. ``topology`` names the
    inter-node network (``switch``, ``fat-tree`` with ``nodes_per_leaf`` and
    ``oversubscription``, ``ring``); ``nvls`` says the node switch reduces in-network
    (NVLink SHARP); ``intra_hw`` is NCCL's hardware class of the intra-node links;
    ``protocol`` is the protocol setting its collectives run with by default.
    """

    nodes: int
    per_node: int
    intra: Link
    inter: Link
    nics_per_node: int = 1
    topology: str = "switch"
    nodes_per_leaf: int = 16
    oversubscription: float = 1.0
    nvls: bool = False
    intra_hw: str = "nvlink"
    protocol: str = "none"
    """NCCL protocol setting of this cluster's collectives (``auto``, ``Simple``, ``LL``, ``LL128``) or ``none``."""
    intra_regimes: tuple[LinkSegment, ...] = ()
    """Size regimes of the intra-node link (ascending ``from_bytes``, e.g. fitted from nccl-tests):
    a collective of S bytes runs on the regime that holds S (:meth:`at_size`). Empty: ``intra`` at every size."""
    inter_regimes: tuple[LinkSegment, ...] = ()
    """Size regimes of the inter-node link, as ``intra_regimes``."""
    arch: str = ""
    """GPU generation for NCCL's per-channel caps (``volta`` … ``blackwell``; '' = none)."""
    rank_order: tuple[int, ...] = ()
    """GPU slot (node·per_node + local) of each rank; empty = node-major (rank r on slot r)."""
    nic_gbps: float = 0.0
    """One NIC's nominal port rate in GB/s, as NCCL's topology reads it (0 = unknown): NCCL's channel count."""
    host: Link | None = None
    """Each GPU's own link to its NIC (PCIe through a PCIe switch, GPUDirect RDMA), which inter-node
    traffic crosses instead of the intra-node port; None: it leaves through the intra-node port."""
    pcie_gpus_per_nic: int = 0
    """GPUs on each NIC's PCIe switch (0: two or more): with 1, NCCL's tree pattern (:attr:`Layout.tree_pattern`)."""
    nic_c2c: bool = False
    """Whether each GPU reaches its NICs through its CPU over NVLink-C2C (``cluster.inter_node.nic_path: c2c``)."""
    host_topology: HostTopology | None = None
    """PCIe switches and CPU sockets the node's GPUs reach each other through; None: every pair at ``intra``."""
    nccl_algo: tuple[str, ...] = ()
    """All-reduce algorithms NCCL may pick (``communication.nccl_algo``, ``NCCL_ALGO``); empty: all."""
    nccl_proto: tuple[str, ...] = ()
    """Protocols NCCL may pick (``communication.nccl_proto``, ``NCCL_PROTO``); empty: all."""
    nccl_buffsize: float = 0.0
    """NCCL's Simple buffer per connection in bytes (``communication.nccl_buffsize``); 0: NCCL's 4 MiB."""
    nccl_nvls_chunksize: float = 0.0
    """``NCCL_NVLS_CHUNKSIZE`` in bytes (``communication.nccl_nvls_chunksize``); 0: unset."""
    nccl_nvlstree_max_chunksize: float = 0.0
    """``NCCL_NVLSTREE_MAX_CHUNKSIZE`` in bytes (``communication.nccl_nvlstree_max_chunksize``); 0: unset."""
    nccl_version: str = ""
    """The NCCL release whose tuner constants the collectives use (``communication.nccl_version``); empty:
    dpsim's default (:data:`dpsim.sim.collectives.nccl_tuner.DEFAULT_NCCL_VERSION`), resolved in one place,
    :meth:`dpsim.sim.collectives.base.Layout.of` (this module does not import the tuner tables at load)."""
    nccl_tuner: str = "nccl"
    """The tuner that picks ``auto``'s algorithm and protocol (``communication.nccl_tuner``): NCCL's own, or a
    plugin that replaces its pick (:mod:`dpsim.sim.collectives.tuner_plugin`)."""
    nccl_tuner_platform: str = "p5"
    """The instance family whose regions a tuner plugin reads (:func:`dpsim.sim.collectives.tuner_plugin.
    platform_of`); read only with a plugin."""
    nccl_net_latency_s: float = 0.0
    """The latency the inter-node link's NCCL network plugin reports (``LinkSpec.nccl_net_latency_s``): NCCL's
    tuner adds it to every inter-node step of its estimate; 0: none (NCCL's IB and socket transports)."""
    relays: tuple[int, ...] | None = None
    """Local rank (0 … per_node − 1) each local rank's inter-node sends leave through, where the fabric's
    collectives run in communicators holding part of each node (a DP group of a TP job, the jobs of a shared
    fabric: :func:`communicator_relays`, :func:`group_relays`); None: one communicator holds every GPU of
    its nodes and NCCL's rule gives them (:func:`pxn_relays`)."""
    nccl_pxn_disable: bool = False
    """``NCCL_PXN_DISABLE=1`` (``communication.nccl_pxn_disable``): no relay, every GPU on its own NIC."""
    amd_host: bool = False
    """Whether NCCL sees AMD host CPUs (``cluster.cpu_vendor``): its tuner's network post overhead and LL ceiling
    across nodes (:attr:`dpsim.sim.collectives.base.Layout.amd_host`)."""
    intra_topology: str = "switch"
    """How a node's GPUs are wired (``cluster.intra_topology``): ``switch`` or ``hybrid-cube-mesh`` (DGX-1V)."""
    degraded_nics: tuple[tuple[int, float], ...] = ()
    """(node, fraction of its NICs' bandwidth left) of this fabric's degraded nodes (``variability.degraded_links``,
    :func:`dpsim.sim.simulate.group_degraded_nodes`): only those nodes' NIC links are slowed
    (:meth:`dpsim.sim.topology.Topology.degrade`), not a fat-tree's leaf uplinks, a ring's other node-to-node links
    or the parameter server's port; both engines price the collectives on that cluster (:func:`cluster_of`)."""

    def at_size(self, size: float) -> Fabric:
        """The fabric a collective of ``size`` bytes runs on: each link class at its regime for that size."""
        if not (self.intra_regimes or self.inter_regimes):
            return self
        return dataclasses.replace(
            self,
            intra=regime_link(self.intra_regimes, size) if self.intra_regimes else self.intra,
            inter=regime_link(self.inter_regimes, size) if self.inter_regimes else self.inter,
            intra_regimes=(),
            inter_regimes=(),
        )

    @property
    def regime_starts(self) -> tuple[float, ...]:
        """Sizes where some link class changes regime (ascending; ``(0,)`` without regimes)."""
        return tuple(sorted({0.0, *(s.from_bytes for s in (*self.intra_regimes, *self.inter_regimes))}))

    def with_inter_scaled(self, factor: float) -> Fabric:
        """The inter-node bandwidth (every regime's) times ``factor`` (a NIC shared or degraded)."""
        if factor == 1.0:
            return self
        inter = Link(self.inter.latency_s, self.inter.bandwidth * factor)
        return dataclasses.replace(self, inter=inter, inter_regimes=_scaled(self.inter_regimes, factor))

    @property
    def world_size(self) -> int:
        return self.nodes * self.per_node

    def inter_per_rank(self, ranks_using_network: int) -> float:
        """Inter-node bandwidth for each of ``ranks_using_network`` ranks of a node sending at once."""
        share = min(self.nics_per_node, ranks_using_network) / ranks_using_network
        return self.inter.bandwidth * share

    @property
    def crossing_bandwidth(self) -> float:
        """Per-NIC bandwidth when every NIC sends across the spine at once (fat-tree oversubscription)."""
        if self.topology == "fat-tree" and self.nodes > self.nodes_per_leaf:
            return self.inter.bandwidth / self.oversubscription
        return self.inter.bandwidth

    def layout(self) -> Layout:
        """The node layout the schedules are built on."""
        from dpsim.sim.collectives.base import Layout

        return Layout.of(self)


def pxn_relays(where: Fabric | Any) -> tuple[int, ...]:
    """The local rank each local rank's inter-node sends leave through: itself, or its NIC's GPU (PXN).

    NCCL ≥ 2.12 (``NCCL_PXN_DISABLE=0``; ``src/graph/paths.cc`` ``ncclTopoComputePaths``)
    relays a GPU's sends through the GPU on its NIC's PCIe switch when that GPU is reached over
    NVLink and the sender's own path to the NIC is worse than a PCIe switch
    (``peer->paths[NET][n].type <= PATH_PXB``, ``paths[GPU][g].type <= PATH_NVL``,
    ``gpu->paths[NET][n].type > PATH_PXB``), in the GPU → NIC direction only. For ``where`` (a
    fabric or cluster) that is ``pcie_gpus_per_nic == 1`` with fewer NICs than GPUs, NVLink
    inside the node, a host link and several nodes; NIC ``n``'s GPU is the first local rank of
    its affinity group ⌊l·nics/G⌋ = n, i.e. ⌈n·G/nics⌉. The relay must belong to the
    communicator (``ncclTopoGetLocalGpu`` searches the communicator's GPUs of the node, the
    only ones ``topo.cc`` keeps): where communicators hold part of each node, ``where.relays``
    gives the relays they keep (:func:`communicator_relays`).
    """
    g, nics = where.per_node, where.nics_per_node
    if getattr(where, "nccl_pxn_disable", False):  # NCCL_PXN_DISABLE=1: paths.cc adds no PXN step
        return tuple(range(g))
    if where.relays is not None:
        if len(where.relays) != g:
            raise ValueError(f"relays name {len(where.relays)} local ranks, not per_node = {g}")
        return tuple(where.relays) if where.host is not None and where.nodes > 1 else tuple(range(g))
    relay = (
        where.host is not None
        and where.nodes > 1
        and g > 1
        and where.pcie_gpus_per_nic == 1
        and nics < g
        and where.intra_hw == "nvlink"
    )
    if not relay:
        return tuple(range(g))
    nic = [local * nics // g for local in range(g)]
    return tuple(-(-n * g // nics) for n in nic)  # ⌈n·G/nics⌉


def communicator_relays(node: Fabric, stride: int) -> tuple[int, ...]:
    """PXN relays of each local rank when every communicator holds the local ranks of one residue mod ``stride``.

    The data-parallel groups of a job with ``stride``-way tensor parallelism (Megatron order, TP
    innermost: group ``t`` holds local ranks t, t + stride, …). NCCL builds each communicator's
    topology from its own GPUs (``topo.cc`` ``ncclTopoGetSystem``: each rank fills its GPU, the node's
    are fused), so ``ncclTopoGetLocalGpu`` finds NIC ``n``'s GPU only in the communicator that holds it;
    in any other, the NIC's nearest member reaches it through the CPU, not within a PCIe switch, and
    ``ncclTopoComputePaths`` sets no PXN path (condition 1: ``peerNode->paths[NET][n].type <= PATH_PXB``).
    So local rank ``l`` keeps its whole-node relay (:func:`pxn_relays`) when that GPU is in its own
    communicator (≡ l mod ``stride``), and sends through its own link otherwise. ``node``: the whole node.
    """
    whole = pxn_relays(dataclasses.replace(node, relays=None))
    return tuple(r if (r - local) % stride == 0 else local for local, r in enumerate(whole))


def group_relays(node: Fabric, stride: int) -> tuple[int, ...]:
    """The PXN relays of one data-parallel group holding local ranks t, t + stride, … of ``node``, renumbered.

    The groups differ (2 NICs, TP 2: GPUs 0, 2, 4, 6 hold NIC 0's and NIC 1's GPUs, and 2 and 6 send
    through them; 1, 3, 5, 7 hold neither). The group priced is the one whose relays carry the most
    senders (ties: the most relayed, then the lowest ``t``): a relay adds its senders' bytes to its own
    PCIe link and saves nothing, so that group is the slowest, which the step waits for.
    """
    table, g = communicator_relays(node, stride), node.per_node
    best: tuple[tuple[int, int], tuple[int, ...]] | None = None
    for t in range(min(stride, g)):
        members = list(range(t, g, stride))
        index = {local: j for j, local in enumerate(members)}
        relays = tuple(index.get(table[local], j) for j, local in enumerate(members))
        key = (max(relays.count(r) for r in relays), sum(r != j for j, r in enumerate(relays)))
        if best is None or key > best[0]:
            best = (key, relays)
    assert best is not None
    return best[1]


@dataclass(frozen=True)
class CollectiveChoice:
    """One collective's predicted time and the (algorithm, protocol) that gives it."""

    time_s: float
    algorithm: str
    protocol: str


_CLUSTER: list[tuple[Fabric, Cluster]] = []
"""The cluster :func:`cluster_of` keeps: (fabric, its cluster), at most one."""


def cluster_of(fabric: Fabric) -> Cluster:
    """The links of ``fabric`` (:meth:`dpsim.sim.cluster.Cluster.from_fabric`), built once for every collective
    priced on it. A step prices several on one fabric (HYBRID_SHARD: the shard groups' reduce-scatter and
    all-gather, the replica groups' all-reduce, and the links each loads) and each built the same cluster again,
    O(ranks) with a large constant (5 builds of 131,072 ranks, 3.5-5 us a rank each). Pricing only reads it,
    and so does the simulator, which runs on it too (:func:`dpsim.sim.simulate.build_cluster`).
    One is kept, dropped before the next fabric's is built: never two large clusters at once (a sweep)."""
    from dpsim.sim.cluster import Cluster

    if _CLUSTER and _CLUSTER[0][0] == fabric:
        return _CLUSTER[0][1]
    _CLUSTER.clear()
    cluster = Cluster.from_fabric(fabric)
    _CLUSTER.append((fabric, cluster))
    return cluster


class _Candidates(tuple[tuple[str, str, "LinearCost"], ...]):
    """:func:`_priced`'s (algorithm, protocol, cost) of each candidate, with each one's schedule's base latency
    (``base_latencies``, in the same order: :func:`collective_base_latency`)."""

    base_latencies: tuple[float, ...] = ()


@functools.lru_cache(maxsize=4096)
def _priced(op: str, algorithm: str, protocol: str, fabric: Fabric, groups: Groups | None) -> _Candidates:
    """(algorithm, protocol, cost) of every candidate schedule on ``fabric`` (run by every group of
    ``groups`` at once: :meth:`dpsim.sim.collectives.groups.Groups.tile`; None: one communicator of every rank, passed
    positionally by every caller: ``lru_cache`` keys ``f(a, b, c, d)`` and ``f(a, b, c, d, None)`` apart, which built
    and priced one fabric's schedules twice, leads48 ## fabric); the cost carries NCCL's
    size-dependent tuner corrections (:class:`dpsim.sim.collectives.base.TunerCorrection`). In groups (FSDP
    HYBRID_SHARD's two streams, :func:`collective_job`) each cost carries the links its phases load too
    (:attr:`dpsim.sim.cost.LinearCost.uses`), from the routes that price it: the schedules built and routed once."""
    from dpsim.sim.cost import priced_candidates

    loads = groups is not None
    priced = priced_candidates(op, algorithm, fabric.layout(), protocol, cluster_of(fabric), groups, loads)
    out = _Candidates((schedule.name, schedule.protocol, cost) for schedule, cost in priced)
    out.base_latencies = tuple(float(schedule.base_latency_s) for schedule, _ in priced)
    return out


def collective(
    op: str, algorithm: str, size: float, fabric: Fabric, protocol: str | None = None, groups: Groups | None = None
) -> CollectiveChoice:
    """Time of one ``op`` of ``size`` bytes over every rank of ``fabric``, and what ran.

    ``groups``: every group runs its own ``op`` over its ranks at once, sharing the fabric's links as
    they are placed (FSDP HYBRID_SHARD's shard and replica groups; the simulator runs the same tiled
    schedule).

    ``op``: ``allreduce``, ``reduce_scatter``, ``all_gather`` or ``broadcast``. With ``auto``
    algorithm or protocol, the fastest candidate at this size (ties: the first in NCCL's
    order). ``protocol="none"`` prices the links' α–β without NCCL's protocol latencies;
    ``None`` takes the fabric's setting. Links with size regimes are taken at ``size``
    (:meth:`Fabric.at_size`).
    """
    protocol = fabric.protocol if protocol is None else protocol
    fabric = fabric.at_size(size)
    if fabric.world_size <= 1 or size <= 0 or (groups is not None and groups.size <= 1):
        alone = fabric.world_size <= 1 or (groups is not None and groups.size <= 1)
        first = None if alone else _priced(op, algorithm, protocol, fabric, groups)[0]
        return CollectiveChoice(0.0, first[0] if first else algorithm, first[1] if first else protocol)
    name, proto, cost = _priced(op, algorithm, protocol, fabric, groups)[
        _chosen(op, algorithm, protocol, fabric, groups, size)
    ]
    return CollectiveChoice(cost(size), name, proto)


def collective_base_latency(op: str, algorithm: str, size: float, fabric: Fabric, protocol: str | None = None) -> float:
    """The base latency of the schedule :func:`collective` runs (NCCL's ``baseLatencies``, paid once a call before
    any byte moves: :attr:`dpsim.sim.collectives.base.Schedule.base_latency_s`), read from the schedules
    :func:`collective` prices (:func:`_priced`), not built again."""
    protocol = fabric.protocol if protocol is None else protocol
    fabric = fabric.at_size(size)
    if fabric.world_size <= 1 or size <= 0:
        return 0.0
    index = _chosen(op, algorithm, protocol, fabric, None, size)
    return _priced(op, algorithm, protocol, fabric, None).base_latencies[index]  # what collective() prices


def collective_latency(op: str, algorithm: str, size: float, fabric: Fabric, protocol: str | None = None) -> float:
    """The latency term of :func:`collective` (its steps' latencies and a pipeline's fill, no link's load:
    :meth:`dpsim.sim.cost.LinearCost.split`): what another collective's bytes can cover on the links."""
    protocol = fabric.protocol if protocol is None else protocol
    fabric = fabric.at_size(size)
    if fabric.world_size <= 1 or size <= 0:
        return 0.0
    cost = _priced(op, algorithm, protocol, fabric, None)[_chosen(op, algorithm, protocol, fabric, None, size)][2]
    return cost.split(size)[0]


def _chosen(op: str, algorithm: str, protocol: str, fabric: Fabric, groups: Groups | None, size: float) -> int:
    """Which candidate of :func:`_priced` runs at ``size`` (:func:`dpsim.sim.cost.pick`: a tuner plugin's region,
    else NCCL's tuner by its corrected estimate; the schedule's price is the time)."""
    from dpsim.sim.cost import pick

    priced = _priced(op, algorithm, protocol, fabric, groups)
    return pick(op, priced, size, fabric.nccl_tuner, fabric.layout, groups, fabric.nccl_tuner_platform)


def collective_job(
    op: str, algorithm: str, size: float, fabric: Fabric, groups: Groups | None, protocol: str | None = None
) -> Job:
    """:func:`collective` in every group of ``groups`` as a job of :mod:`dpsim.streams`: its latency and bandwidth
    terms and the links it loads, for pricing it while another collective is in flight (FSDP HYBRID_SHARD's two
    streams; their collectives run in groups, whose prices carry their link loads: :func:`_priced`)."""
    from dpsim.sim.cost import phased_job
    from dpsim.streams import Job

    if groups is None:
        raise ValueError("collective_job prices a collective in groups (FSDP HYBRID_SHARD's streams): groups is None")
    protocol = fabric.protocol if protocol is None else protocol
    fabric = fabric.at_size(size)
    if fabric.world_size <= 1 or size <= 0 or groups.size <= 1:
        return Job.of(0.0)
    index = _chosen(op, algorithm, protocol, fabric, groups, size)
    return phased_job(_priced(op, algorithm, protocol, fabric, groups)[index][2], size)


BUSBW_OPS = (
    "allreduce", "reduce_scatter", "all_gather", "broadcast", "reduce", "alltoall", "sendrecv", "gather", "scatter",
)  # fmt: skip
"""Collectives nccl-tests reports a bus bandwidth for (as :func:`busbw_factor` names them)."""


def busbw_factor(op: str, n: int) -> float:
    """nccl-tests' bus-bandwidth factor: ``busbw = algbw · busbw_factor(op, n)`` for ``n`` ranks.

    All-reduce 2(n−1)/n, reduce-scatter and all-gather (n−1)/n, broadcast and reduce 1 — the traffic
    of the bandwidth-optimal algorithm relative to S, so busbw is comparable with the link
    rate whatever n (nccl-tests ``doc/PERFORMANCE.md``; ``src/all_reduce.cu``
    ``AllReduceGetBw``, ``src/reduce_scatter.cu``, ``src/all_gather.cu``, ``src/broadcast.cu``,
    ``src/reduce.cu``); all-to-all (n−1)/n (``src/alltoall.cu`` ``AlltoAllGetBw``: a rank keeps 1/n of
    its buffer), send/receive 1 (``src/sendrecv.cu``), gather and scatter (n−1)/n (``src/gather.cu``,
    ``src/scatter.cu``; S the root's buffer). ``algbw = S / t`` with S the full vector
    (all-gather: the gathered output; all-to-all: one rank's send buffer, S/n to each rank).
    """
    if n < 1:
        raise ValueError(f"busbw_factor: n must be >= 1, got {n}")
    if op == "allreduce":
        return 2.0 * (n - 1) / n
    if op in ("reduce_scatter", "all_gather", "alltoall", "gather", "scatter"):
        return (n - 1) / n
    if op in ("broadcast", "reduce", "sendrecv"):
        return 1.0
    raise ValueError(f"busbw_factor: unknown collective {op!r}; expected one of {', '.join(BUSBW_OPS)}")


def flat_link(fabric: Fabric) -> Link:
    """Bottleneck link of a flat algorithm over all ranks (one channel crossing nodes)."""
    if fabric.nodes == 1:
        return fabric.intra
    if fabric.per_node == 1:
        return fabric.inter
    return Link(
        max(fabric.intra.latency_s, fabric.inter.latency_s), min(fabric.intra.bandwidth, fabric.inter.bandwidth)
    )


def send_time(size: float, link: Link) -> float:
    """Point-to-point: α + S/B."""
    return link.latency_s + size / link.bandwidth if size > 0 else 0.0


def ring_allreduce_time(size: float, n: int, link: Link) -> float:
    """Ring all-reduce: 2(N−1)·α + 2(N−1)/N · S/B (reduce-scatter then all-gather; Thakur et al. 2005 §4)."""
    if n <= 1 or size <= 0:
        return 0.0
    return 2 * (n - 1) * link.latency_s + 2 * (n - 1) / n * size / link.bandwidth


def reduce_scatter_time(size: float, n: int, link: Link) -> float:
    """Ring reduce-scatter: (N−1)·α + (N−1)/N · S/B."""
    if n <= 1 or size <= 0:
        return 0.0
    return (n - 1) * link.latency_s + (n - 1) / n * size / link.bandwidth


def all_gather_time(size: float, n: int, link: Link) -> float:
    """Ring all-gather of a total of S bytes: (N−1)·α + (N−1)/N · S/B."""
    return reduce_scatter_time(size, n, link)


def broadcast_time(size: float, n: int, link: Link) -> float:
    """gloo's binomial-tree broadcast (``gloo/broadcast.cc``): ⌈log2 N⌉ rounds, each a whole-buffer send,
    ⌈log2 N⌉·(α + S/B) (:func:`dpsim.sim.collectives.broadcast.broadcast`)."""
    if n <= 1 or size <= 0:
        return 0.0
    return math.ceil(math.log2(n)) * (link.latency_s + size / link.bandwidth)


def halving_doubling_allreduce_time(size: float, n: int, link: Link) -> float:
    """Recursive halving–doubling (Rabenseifner): 2·log2(N)·α + 2(N−1)/N · S/B for N a power of two.

    Otherwise (Thakur et al. 2005 §4.4) the r = N − 2^⌊log2 N⌋ extra ranks first send their
    whole vector to a partner and receive the result at the end: two more steps of α + S/B
    around the power-of-two algorithm on p' = 2^⌊log2 N⌋ ranks.
    """
    if n <= 1 or size <= 0:
        return 0.0
    p = 1 << (n.bit_length() - 1)
    core = 2 * math.log2(p) * link.latency_s + 2 * (p - 1) / p * size / link.bandwidth if p > 1 else 0.0
    if p == n:
        return core
    return core + 2 * (link.latency_s + size / link.bandwidth)


def tree_allreduce_time(size: float, n: int, link: Link) -> float:
    """Pipelined double binary tree (NCCL ≥ 2.4; Sanders, Speck & Träff 2009): 2·⌈log2 N⌉·α + 2·S/B.

    Two complementary binary trees each reduce then broadcast half the data; every rank
    sends and receives about S in each direction, and pipelining hides the depth except
    for its latency.
    """
    if n <= 1 or size <= 0:
        return 0.0
    return 2 * math.ceil(math.log2(n)) * link.latency_s + 2 * size / link.bandwidth


def direct_allreduce_time(size: float, n: int, link: Link) -> float:
    """Direct (all-to-all) reduce-scatter then all-gather: every rank exchanges S/N with each peer at once.

    Each phase moves (N−1)/N · S through the rank's port concurrently with one latency:
    2·α + 2(N−1)/N · S/B (bandwidth-optimal, latency-optimal, but N−1 concurrent flows).
    """
    if n <= 1 or size <= 0:
        return 0.0
    return 2 * link.latency_s + 2 * (n - 1) / n * size / link.bandwidth


def parameter_server_time(size: float, n: int, link: Link) -> float:
    """One parameter server on its own port: N workers push S then pull S through it.

    The server's port is the bottleneck: 2·(α + N·S/B) (Li et al. 2014 baseline without sharding).
    """
    if size <= 0:
        return 0.0
    return 2 * (link.latency_s + n * size / link.bandwidth)


def hierarchical_allreduce_time(size: float, fabric: Fabric) -> float:
    """Hierarchical: intra-node reduce-scatter, inter-node ring all-reduce on S/G, intra all-gather.

    G ranks per node, M nodes. Each of the G local ranks runs its own inter-node ring on
    its S/G shard at once, sharing the node's NICs (:meth:`Fabric.inter_per_rank`):
    2·[(G−1)α_i + (G−1)/G·S/B_i] + 2(M−1)α_e + 2(M−1)/M·(S/G)/B_e,rank
    (Jia et al. 2018, "Highly Scalable Deep Learning Training System with Mixed-Precision", §4;
    NCCL's CollNet/hierarchical rings).
    """
    g, m = fabric.per_node, fabric.nodes
    if g * m <= 1 or size <= 0:
        return 0.0
    intra = 2 * reduce_scatter_time(size, g, fabric.intra)
    inter_link = Link(fabric.inter.latency_s, fabric.inter_per_rank(g))
    inter = ring_allreduce_time(size / g, m, inter_link)
    return intra + inter


def allreduce_time(algorithm: str, size: float, fabric: Fabric, protocol: str | None = None) -> float:
    """All-reduce of ``size`` bytes over every rank of ``fabric``: :func:`collective` of its schedule."""
    return collective("allreduce", algorithm, size, fabric, protocol).time_s


def protocol_of(scenario: Scenario) -> str:
    """The NCCL protocol setting: ``none`` (the links' α–β) on CPUs; links fitted by a profile also drop it."""
    if scenario.cluster.gloo:
        return "none"
    return scenario.communication.protocol


def algorithm_of(scenario: Scenario) -> str:
    """``communication.algorithm`` as the collectives run it (:attr:`Scenario.collective_algorithm`: ``backend``
    is gloo's ring on CPUs, NCCL's own pick on GPUs), with ``auto`` resolved to the ring where NCCL does not run
    (CPUs, gloo)."""
    algorithm = scenario.collective_algorithm
    if algorithm == "auto" and protocol_of(scenario) == "none":
        return "ring"
    return algorithm
