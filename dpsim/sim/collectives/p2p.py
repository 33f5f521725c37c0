"""NCCL's point-to-point operations as schedules: all-to-all, send/receive, gather, scatter; NCCL's ring reduce.

**All-to-all, send/receive, gather and scatter are grouped ncclSend/ncclRecv.** nccl-tests' ``alltoall_perf``
(``src/alltoall.cu``) posts, inside one ``ncclGroupStart/End``, an ``ncclSend`` of ``S/n`` bytes to every
rank and an ``ncclRecv`` from every rank (``S`` the send buffer, the size nccl-tests prints); NCCL's own
``ncclAlltoAll``, ``ncclGather`` and ``ncclScatter`` (v2.28 and later) append the same tasks
(``src/enqueue.cc`` ``ncclEnqueueCheck``: ``p2pTaskAppend`` per peer). ``sendrecv_perf``
(``src/sendrecv.cu``) sends ``S`` to user rank ``r+1`` and receives from ``r−1``; ``gather_perf`` sends
``S/n`` from every rank to the root, ``scatter_perf`` from the root to every rank (root 0, nccl-tests'
default; ``S`` the root's buffer). NCCL runs the group as one kernel (``src/enqueue.cc``
``scheduleP2pTasksToPlan``: every peer's send and receive striped over its p2p channels, up to
``NCCL_MAX_DEV_WORK_P2P_PER_BATCH`` operations a channel at once), so every pair moves at once: one
phase of the ``n(n−1)`` (resp. ``n``) transfers, each on the links of its own route. The send to self is
a copy inside the GPU's memory and is not timed.

**Transports.** Inside a node a pair talks over NVLink (the ``P2P`` transport, the GPUs' ports);
between nodes over the network (``src/transport/net.cc``). **PXN** (``src/graph/search.cc``
``ncclTopoGetNetDev`` at the default ``NCCL_P2P_PXN_LEVEL=2``, ``NCCL_PXN_DISABLE=0``): a sender uses the
NIC of the local GPU with the *peer's* device index — the peer's rail — and hands its data over NVLink to
that NIC's GPU (``ncclTopoGetLocalGpu``), whose proxy posts it from there (GPUDirect RDMA); the receiver
receives on its own NIC. So a transfer from local rank ``l`` to ``l'`` of another node runs
``l → relay`` over NVLink and ``relay → l'`` NIC to NIC on rail ``l'``, where the relay is the first
GPU of NIC ``⌊l'·nics/G⌋`` (the one :func:`dpsim.analytic.collectives.pxn_relays` names). It applies
with NVLink inside the node and GPUDirect over a host link (the relay's PCIe path to the NIC,
``PATH_PXB``), several GPUs and several nodes (:attr:`~dpsim.sim.collectives.base.Layout.pxn`);
otherwise a sender leaves through its own NIC. Each relayed transfer is two concurrent transfers of
the phase (the two legs stream at once through the relay's buffer): the NVLink port of the sender and
the relay, and the relay's PCIe link, NIC and the peer's, carry what they carry in NCCL. On a
non-blocking switch PXN moves no NIC load (each NIC still carries ``G(M−1)·S/n`` a direction); it
moves traffic onto NVLink and keeps the network rail-aligned. With more NICs than GPUs a pair's p2p
channels (at least one per local NIC, ``paths.cc`` ``ncclTopoGetNchannels``) take the GPU's NICs in
turn (``ncclTopoGetLocalNet`` by channel): each inter-node transfer is split evenly over them.

**Protocol** (``addP2pToPlan``): an operation runs LL when its bytes are at most ``nChannels ·
NCCL_P2P_LL_THRESHOLD`` (16 KiB; an operation that small has one channel) and its connection has LL
buffers, else Simple. Network connections of p2p get none (``NCCL_ALLOC_P2P_NET_LL_BUFFERS=0``,
``net.cc``): across nodes p2p is Simple at every size; on one node LL up to 16 KiB a peer.
``communication.protocol`` (``NCCL_PROTO``) does not reach p2p; ``none`` prices the links' α–β (gloo).

**Latency.** NCCL's tuner has no p2p model (``ncclTopoTuneModel`` prices collectives only). dpsim charges
a p2p kernel what NCCL charges a ring for one step of the same protocol: ``baseLatencies[RING][p]`` once,
and one ``hwLatencies[hw][RING][p]`` step of the slowest hardware class the phase crosses (the network's
when it crosses nodes, at no less than the network's own per-message latency,
:meth:`~dpsim.sim.collectives.base.Phase.timed_latency`). Not modelled: the p2p chunk pipeline
(``NCCL_P2P_NET_CHUNKSIZE``, 128 KiB by default; network p2p connections use the shared buffers, 16
slots a channel, so a batch's 8 receives from one node have 2 posted at a time each: ``net.cc``
``recvProxyProgress`` ``maxDepth``), node rounds that share a channel and run one after another
(``ncclP2pChannelBaseForRound``: beyond ``p2pnChannels`` nodes), the copy rate of the one sending and
one receiving warp a batch gives each operation (``sendrecv.h``), and the network's incast congestion
under all-to-all traffic. ``benchmarks/p5_series.py`` prints NCCL 2.27.7's plan beside each measured point.

**Reduce** (``src/device/reduce.h`` ``runRing``): NCCL runs ncclReduce on its rings only (``tuning.cc``:
Reduce and Broadcast skip every algorithm but ring), pipelined in chunks from the rank after the root
around to the root, each rank receiving, reducing and forwarding: NCCL's ring broadcast
(:func:`~dpsim.sim.collectives.nccl.nccl_broadcast`) with the data flowing the other way, and the same
latency (``ncclTopoTuneModel`` prices Reduce and Broadcast alike). Without a protocol, the binomial tree
of the textbook broadcast, reversed.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dpsim.sim.collectives.base import Layout, Phase, Schedule, TunerCorrection
from dpsim.sim.collectives.broadcast import broadcast
from dpsim.sim.collectives.nccl import (
    BANDWIDTH_FRACTION,
    PROTOCOLS,
    base_latency_s,
    nccl_broadcast,
    nics_per_gpu,
    step_latency_us,
)

__all__ = [
    "P2P",
    "P2P_LL_THRESHOLD",
    "P2P_OPS",
    "nccl_alltoall",
    "nccl_gather",
    "nccl_reduce",
    "nccl_sendrecv",
    "p2p_protocols",
    "p2p_transfers",
    "pxn_relay",
]

P2P = "p2p"
"""The algorithm name p2p operations report (NCCL runs them outside its collective algorithms)."""
P2P_OPS = ("alltoall", "sendrecv", "gather", "scatter")
"""Operations NCCL runs as grouped ncclSend/ncclRecv."""
P2P_LL_THRESHOLD = 16384.0
"""``NCCL_P2P_LL_THRESHOLD`` (``src/enqueue.cc``): bytes per channel up to which a p2p operation runs LL."""


def per_peer_fraction(op: str, world: int) -> float:
    """What one p2p operation of ``op`` moves, as a fraction of the size nccl-tests prints: S/n, or S (sendrecv)."""
    return 1.0 if op == "sendrecv" else 1.0 / world


def p2p_protocols(op: str, layout: Layout, protocol: str) -> tuple[str, ...]:
    """The protocols NCCL may run ``op``'s operations with on ``layout``: ``none`` without NCCL; across
    nodes Simple (no LL buffers on p2p network connections); on one node LL and Simple by size."""
    if protocol == "none":
        return ("none",)
    if layout.nodes > 1:
        return ("Simple",)
    return ("LL", "Simple")


def pxn_relay(layout: Layout, local: np.ndarray) -> np.ndarray:
    """The local rank whose NIC carries an inter-node send to a peer of local rank ``local``: NIC
    ``⌊l'·nics/G⌋``'s first GPU ``⌈nic·G/nics⌉`` (``ncclTopoGetNetDev``, PXN level 2)."""
    g = layout.per_node
    nic = np.asarray(local, dtype=np.int64) * layout.nics // g
    return -(-nic * g // layout.nics)


def _step_s(layout: Layout, protocol: str) -> tuple[float, float]:
    """(NCCL's ring step latency on the phase's slowest class, its network step or 0) in seconds."""
    net = step_latency_us("net", "ring", protocol, layout) * 1e-6 if layout.nodes > 1 else 0.0
    intra = step_latency_us(layout.intra_hw, "ring", protocol, layout) * 1e-6
    return max(intra, net), net


def _p2p_schedule(op: str, layout: Layout, protocol: str, src: np.ndarray, dst: np.ndarray) -> Schedule:
    """One phase of the transfers ``src[i] → dst[i]`` (GPU slots) of one operation's bytes each."""
    n, g = layout.world, layout.per_node
    wire = 1.0 if protocol in ("none", "Simple") else 1.0 / BANDWIDTH_FRACTION[("ring", protocol)]
    fraction = per_peer_fraction(op, n) * wire
    cross = src // g != dst // g
    inside = int((~cross).sum())
    legs_src, legs_dst = [src[~cross]], [dst[~cross]]
    legs_frac, legs_nic = [np.full(inside, fraction)], [np.zeros(inside, dtype=np.int64)]
    s, d = src[cross], dst[cross]
    if layout.pxn and len(s):
        relay = (s // g) * g + pxn_relay(layout, d % g)
        hop = relay != s
        legs_src.append(s[hop])  # NVLink into the NIC's GPU
        legs_dst.append(relay[hop])
        legs_frac.append(np.full(int(hop.sum()), fraction))
        legs_nic.append(np.zeros(int(hop.sum()), dtype=np.int64))
        s = relay
    per_gpu = nics_per_gpu(layout)
    legs_src.append(np.repeat(s, per_gpu))
    legs_dst.append(np.repeat(d, per_gpu))
    legs_frac.append(np.full(len(s) * per_gpu, fraction / per_gpu))
    legs_nic.append(np.tile(np.arange(per_gpu, dtype=np.int64), len(s)))
    latency = None
    net_step = 0.0
    base = 0.0
    if protocol != "none":
        latency, net_step = _step_s(layout, protocol)
        base = base_latency_s("ring", protocol, layout)
    phase = Phase.of(
        np.concatenate(legs_src),
        np.concatenate(legs_dst),
        np.concatenate(legs_frac),
        latency_s=latency,
        net_hops=1.0 if layout.nodes > 1 and protocol != "none" else 0.0,
        net_step_s=net_step,
        nic=np.concatenate(legs_nic),
    )
    tuner = TunerCorrection()
    if protocol in PROTOCOLS and layout.nodes == 1:  # LL up to the threshold a peer, Simple above
        limit = P2P_LL_THRESHOLD / per_peer_fraction(op, n)
        tuner = TunerCorrection(runs_to=limit) if protocol == "LL" else TunerCorrection(runs_from=limit)
    return Schedule(P2P, n, (phase,), base, "" if protocol == "none" else protocol, tuner=tuner)


def _slots(layout: Layout) -> np.ndarray:
    return np.asarray(layout.slots, dtype=np.int64) if layout.slots else np.arange(layout.world, dtype=np.int64)


def nccl_alltoall(layout: Layout, protocol: str = "Simple") -> Schedule:
    """All-to-all: every GPU sends S/n to every other at once (PXN-relayed across nodes), on GPU slots."""
    n = layout.world
    if n <= 1:
        return Schedule(P2P, n, protocol=protocol)
    a, b = np.divmod(np.arange(n * n, dtype=np.int64), n)
    keep = a != b
    return _p2p_schedule("alltoall", layout, protocol, a[keep], b[keep])


def nccl_sendrecv(layout: Layout, protocol: str = "Simple") -> Schedule:
    """Send/receive on the ring of user ranks: rank r sends S to rank r+1 (nccl-tests ``sendrecv_perf``), on slots."""
    n = layout.world
    if n <= 1:
        return Schedule(P2P, n, protocol=protocol)
    slot = _slots(layout)
    return _p2p_schedule("sendrecv", layout, protocol, slot, np.roll(slot, -1))


def nccl_gather(layout: Layout, protocol: str = "Simple", scatter: bool = False) -> Schedule:
    """Gather to rank 0 (every other rank sends it S/n), or with ``scatter`` its reverse, on GPU slots."""
    n = layout.world
    if n <= 1:
        return Schedule(P2P, n, protocol=protocol)
    slot = _slots(layout)
    others, root = slot[1:], np.full(n - 1, slot[0])
    op = "scatter" if scatter else "gather"
    return _p2p_schedule(op, layout, protocol, root if scatter else others, others if scatter else root)


def nccl_reduce(layout: Layout, protocol: str = "Simple") -> Schedule:
    """Reduce to rank 0: NCCL's pipelined ring broadcast run backwards (without a protocol, the binomial tree)."""
    if protocol == "none":
        tree = broadcast(layout.world)
        phases = tuple(dataclasses.replace(p, src=p.dst, dst=p.src) for p in reversed(tree.phases))
        return dataclasses.replace(tree, name="reduce", phases=phases)
    ring = nccl_broadcast(layout, protocol)
    return dataclasses.replace(ring, phases=tuple(dataclasses.replace(p, src=p.dst, dst=p.src) for p in ring.phases))


def p2p_transfers(op: str, layout: Layout) -> int:
    """The transfers of ``op``'s one phase on ``layout`` (relay legs and NIC splits), for the cost guard.

    All-to-all: ``n(G−1)`` pairs inside nodes, ``n(n−G)`` across split over the GPU's NICs, and a relay leg for
    the ``(G−1)/G`` of those whose peer's rail is another GPU's. Send/receive: ``n`` pairs of which ``M`` cross
    nodes in node-major order (a rank order may put up to every pair across: still ``O(n)``). Gather and
    scatter: ``n − 1`` pairs with the root, the ``n − G`` across nodes split and relayed as PXN has them.
    """
    n, g = layout.world, layout.per_node
    if n <= 1:
        return 0
    per_gpu = nics_per_gpu(layout)
    if op in ("gather", "scatter"):  # n - 1 pairs with the root (local 0), n - G of them across nodes
        relayed = 0
        if layout.pxn:  # gather: through NIC 0's GPU, local 0; scatter: through the receiver's NIC's GPU
            locals_ = np.arange(g)
            hops = locals_ != 0 if op == "gather" else pxn_relay(layout, locals_) != 0
            relayed = (layout.nodes - 1) * int(hops.sum())
        return g - 1 + (n - g) * per_gpu + relayed
    if op != "alltoall":
        m = layout.nodes if layout.nodes > 1 else 0
        return n - m + m * (per_gpu + (1 if layout.pxn and g > 1 else 0))
    inter = n * (n - g)
    relayed = inter * (g - 1) // g if layout.pxn else 0
    return n * (g - 1) + inter * per_gpu + relayed
