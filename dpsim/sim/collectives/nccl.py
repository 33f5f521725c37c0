"""NCCL's collective algorithms and protocols as schedules: rails and channels, ring, tree, NVLS.

The algorithms run over a node layout (:class:`~dpsim.sim.collectives.base.Layout`) the
way NCCL lays them out (NVIDIA/nccl ``src/graph/``, ``src/device/``):

**Channels and rails.** On nodes of ``G`` GPUs with several NICs, NCCL runs several
*channels* at once, each on its share of the data, and aligns them with the rails: in
channel ``c`` the ring (or tree) enters and leaves each node through the NIC of the local
rank it starts from, so the node's NICs carry the inter-node traffic together
(``src/graph/search.cc``, ``src/graph/rings.cc``; :func:`channels` = ``min(nics, G, 32)`` channels,
channel ``c`` starting at local rank ``c·G/k``). Local rank ``l`` talks to the network
through its own NIC (:meth:`dpsim.sim.cluster.Cluster.nic_of`).

**More NICs than GPUs** (16 single-port 200G NICs for 8 GPUs; one GPU per node with several
NICs; a NIC is one of NCCL's network devices, so the two ports of a dual-port card such as OCI
BM.GPU.H100.8's count as one of their summed rate since v2.20: ``cluster.inter_node.ports_per_nic``):
NCCL's search starts channel ``c`` on NIC ``c`` (``ncclTopoSearchRecNet``; NICs listed GPU by
GPU, ``ncclTopoSelectNets``) and takes the channel's speed off the NIC and off the GPU's PCIe link in
each direction, so each GPU carries ``min(nics/G, ⌊PCIe / speed⌋)`` channels, one per NIC of its
PCIe switch (:func:`channels_per_gpu`): 16 channels of 24 GB/s over the 16 × 200G ports of an H100
node, but one 48 GB/s channel (copied to 2 on the same NIC) for an H100 alone with 4 × 400G NICs —
its PCIe x16 link is full. The channels that start at one GPU take its NICs in turn
(:func:`nic_slots`; :attr:`~dpsim.sim.collectives.base.Phase.nic` routes each transfer through its
channel's NIC). NVLS-tree keeps one head per GPU on one NIC (:func:`nvls_heads`; ``search.cc``
skips a second head on a GPU with several NICs from v2.22), so it uses the first NIC of each GPU only.

**Ring** (``src/device/all_reduce.h`` ``runRing``): per channel, a ring through every
GPU of a node (NVLink) and the nodes in order; 2(N−1) steps of S/(k·N).

**PXN exit** (:func:`pxn_exit`; ``search.cc`` ``ncclTopoCompute``, ``paths.cc``): a channel leaves each node
through the NIC it entered by. Where every GPU has a NIC alone on its PCIe switch
(``cluster.inter_node.pcie_gpus_per_nic: 1``, e.g. AWS p5.48xlarge), the channel's last GPU reaches that NIC over
NVLink through the NIC's GPU (PXN), so a multi-node ring puts every GPU's NVLink port at the ring's full bus rate
(8/8 on 8 rails, 7/8 where the last GPU shares its NIC's switch) and is bound by the node's NVLink where the NICs
are as fast. The NICs carry the same bytes either way.

**SHM edges** (PCIe nodes, ``cluster.host_topology``; ``src/transport/shm.cc``, ``src/device/all_reduce.h``):
a ring edge between GPUs that may not use peer-to-peer (past ``NCCL_P2P_LEVEL``, or GeForce) goes through host
memory: the buffer sits in host memory on the receiver's side (``NCCL_SHM_LOCALITY`` default 2), the sender's
block writes into it and the receiver's block reads it back across PCIe. A channel's block runs the steps of a
loop one after another — for all-reduce ``send``, N−2 × ``recvReduceSend``, ``recvReduceCopySend``, N−2 ×
``recvCopySend``, ``recv`` — so its last step only receives: over P2P that reads the GPU's own memory, over SHM
it reads host memory over the same links the sends use. A ring with an SHM edge therefore takes one step more a
loop, 2N−1 steps of S/(kN) for all-reduce (N for reduce-scatter and all-gather) where P2P takes 2(N−1). A large
message runs as many loops, pipelined through the ring's step slots (``NCCL_STEPS``), so the receive-only step of
one loop goes on while the next loop's steps do, on the SHM edge's links: the schedule carries it on the SHM edges'
transfers of every ring step, (2N−1)/(2N−2) of S/(kN) each (N/(N−1) for reduce-scatter and all-gather), every step
at (2N−1)/(2N−2) of the step latency (:func:`nccl_ring`). Where the SHM edges' links bind (one node) the ring takes
one step more a loop, as before (on 2 GPUs 2/3 and 1/2 of the links' bus bandwidth); where a NIC binds, the
host-memory read fits beside it. (It was one more phase of the SHM edges' transfers after the ring's: the analytic
engine added it to the ring's time, the chunk level ran it while the ranks beside the NIC finished their last step,
1.6–3.3 % apart on two nodes of 8 GPUs behind one NIC.) A pipelined chain (broadcast) has no such step. NCCL's
tuner has no transport term: it picks by the same ring without the step (:func:`dpsim.sim.collectives.estimates`),
as if the edge were P2P.

**Tree** (``src/graph/trees.cc`` ``ncclGetDtree``; ``src/device/all_reduce.h``
``runTreeSplit``): a chain through the GPUs of each node, and across nodes a *double
binary tree*: tree 0 is NCCL's binary tree on node indices (``ncclGetBtree``), tree 1 its
mirror (even node count) or shift by one (odd), each on half the data, so a node that is
interior in one is a leaf in the other. Reduce (up) and broadcast (down) are pipelined in
small chunks, so every edge streams both at once: one phase.

**NVLS** (NVLink SHARP, H100-class NVSwitch; ``src/device/all_reduce.h`` ``runNvls``):
each of H heads reduces its 1/H slice in the switch with ``multimem.ld_reduce`` — the switch
reads that slice from all G GPUs — and multicasts it back with ``multimem.st``. A head's
port carries S + S/H in each direction, any other GPU's S; the two halves are pipelined (NCCL's tuner
doubles NVLS all-reduce bandwidth for this reason, ``src/graph/tuning.cc``). On one node every
GPU is a head up to ``NCCL_MAX_NVLS_ARITY`` = 32 of them (:data:`MAX_NVLS_ARITY`: 32 of a 72-GPU NVL72).
The in-switch traffic is represented by GPU-to-GPU transfers of the same per-port load.
**NVLS-tree** (multi-node): NVLS inside each node with a head on each NIC's GPU (:func:`nvls_heads`),
and head ``h`` carries slice ``h`` across nodes on its own rail with a double binary tree, all pipelined.

**Protocols** (``src/device/prims_simple.h``, ``prims_ll.h``, ``prims_ll128.h``; the
cost model of ``src/graph/tuning.cc``): Simple, LL (8-byte lines with a 4-byte flag: half
the bandwidth, lowest latency) and LL128 (120 of every 128 bytes are data). A protocol
changes the per-step latency (``hwLatencies``) and base latency (``baseLatencies``) and
the usable bandwidth; the bandwidth fraction is carried as extra wire bytes, so every
evaluator prices it through the same link loads. NCCL's network per-step latencies (``hwLatencies[NET]``) are
an InfiniBand-class network's: the tuner picks by them, but each network hop of the chosen
schedule is timed at NCCL's figure plus what the scenario's inter-node link latency exceeds InfiniBand's LL hop,
and no less than the link's latency (every phase carries its network hops,
:meth:`~dpsim.sim.collectives.base.Phase.timed_latency`): a transport such as EFA (SRD through aws-ofi-nccl)
takes several times InfiniBand's per message, and LL128's and Simple's proxy work comes on top of it, as NCCL's
own model adds a network's latency to ``hwLat[NET]`` (``interLat = hwLat[NET] + latencyInter``). The tuner adds to
each inter-node step
of its estimate the latency the network plugin reports (aws-ofi-nccl: 75 µs on p4d and p5; :func:`net_latency_s`),
which moves its pick, not the schedule's price. The tuner constants are NCCL's defaults
(``src/graph/tuning.cc`` ``ncclTunerConstantsDefaults``): those of the release the layout names
(:attr:`~dpsim.sim.collectives.base.Layout.nccl_version`, ``communication.nccl_version``: v2.18.3 to v2.30.7,
:mod:`dpsim.sim.collectives.nccl_tuner`) in NCCL's estimate, which picks, and the default release's (v2.30.7) in the
price (:attr:`~dpsim.sim.collectives.base.Layout.estimate`). Volta's and Ampere's bandwidth caps are the same back
to v2.10.3, the version of the oldest published run.

**Per-channel throughput** (``ncclTopoTuneModel``): a channel is one thread block per GPU,
and what it moves is capped per GPU generation and node count — the tree at
``perChMaxTreeBws`` (Ampere: 24.0 / 23.6 / 17.8 GB/s on 1 / 2 / ≥3 nodes), LL128 at
``perChMaxRingLL128Bws`` / ``perChMaxTreeLL128Bws``, LL in total at ``llMaxBws`` — so
NCCL's bus bandwidth is ``min(links · fraction, nChannels · cap)``. With few NICs there are
few channels (NCCL's search, ``src/graph/search.cc``, builds one channel per NIC when a
NIC is slower than twice the 24 GB/s speed step: :func:`channels`), and in NCCL's estimate the
cap, not the links, sets the tree's speed: on two A100 nodes with 4 HDR NICs the tree's links
would carry ~170 GB/s of bus bandwidth, four channels only 4 × 23.6, so NCCL picks the ring.
:func:`channel_cap_Bps` gives the cap; the schedule carries it as ``engine_Bps``, the rate at
which one rank's sends on one channel can go, which every evaluator prices as one more resource
(:class:`~dpsim.sim.collectives.base.Schedule`) — except the Simple tree's ``perChMaxTreeBw``,
which bounds NCCL's estimate (:attr:`~dpsim.sim.collectives.base.TunerCorrection.ceiling_Bps`, or
NCCL's own model, :func:`tuner_model`) and a chunk crossing a hop alone in the pipeline's fill
(:attr:`~dpsim.sim.collectives.base.Chunking.hop_Bps`), not the streaming time. NCCL reads its
per-channel tables only in ``ncclTopoTuneModel``, whose bandwidths ``topoGetAlgoInfo``
(``src/enqueue.cc`` v2.30.7) reads only to choose: the tree then runs on all of ``comm->nChannels``
whatever the tables say; v2.28.3 cut Blackwell's ≥ 3-node tree figure from 72 to 24 GB/s with
the same tree kernel; and forced trees stream well above the tables (NVIDIA/nccl#1801: GB200 NVL8
× 3 racks at 485.7 GB/s where v2.30.7's table allows 184 and the NICs 503) while their mid sizes
(GCP A3 Mega's curve, 16 MiB–1 GiB) follow the fill at the per-channel figure. LL and LL128 keep
their caps in the time (the LL128 tree on p6-b300 at 8 MiB: +16 % with, +58 % without).
On one node NCCL's intra-node search finds ≥ 12 channels on NVSwitch (A100: 6 × 40 GB/s,
duplicated), where the per-channel caps lie above the links: only LL's total cap applies.
**Channel doubling** (``src/graph/search.cc`` ``ncclTopoCompute``/``ncclTopoDupChannels``,
v2.20–v2.30.7): the search's first pass builds one channel per NIC at the fastest step of
its speed array (``speedArrayInter``, ``sm90SpeedArrayInter``, ``sm100SpeedArrayInter``) not
above the GPU→NIC path (the NIC's port rate, Mbit/s / 8000, and the GPU's PCIe x16 link,
``topo.cc``: Gen4 24, Gen5 48 GB/s); a channel of ≥ 25 GB/s is then copied (same GPUs,
same NIC) to twice the channels, except on Hopper and later with < 50 GB/s channels and
more than 4 of them. The tree's channels are the ring's (``init.cc``: ``treeGraph``
min = max = the ring's ``nChannels``). So 4 × 400G NICs on H100 give 8 channels, 8 × NDR
give 8, HDR NICs (24 GB/s channels) are never doubled. Where the GPUs' NVLinks or a slower
step with more channels win, the search builds otherwise (:func:`ring_search`: a GB200 NVL72
rack leaves by 15 or 16 NICs; HGX B200 on v2.27.3 puts two 24 GB/s channels on each NIC). A
copied channel, or a second channel on the same NIC, runs on the same rail as its original:
schedule channel ``c`` stands for :func:`duplication` NCCL channels, and its (rank, channel)
resource carries their caps together.

**NVLS-tree** (``ncclTopoTuneModel``): per channel, ``min(intra NVLS, inter, perChMaxNVLSTreeBw)``
(Hopper 57.7 / 45.5 GB/s on 2 / ≥ 3 nodes) over the NVLS heads, one per rail
(:func:`channels`); the links give the first two, the cap is the schedule's ``engine_Bps`` (v2.28.3 on; the
releases before estimate NVLS and NVLS-tree otherwise, :func:`nvls_shares`).
**Tree channels and patterns** (v2.20.5): channel ``c`` of the tree graph becomes two
kernel channels, ``c`` on tree 0 and ``c + nChannels`` on tree 1, with the same chain and the
same NIC (``connect.cc`` ``ncclTopoPreset`` copies the channels, ``connectTrees`` sets tree 0
on the first copy and tree 1 on the second, ``ncclTopoPostset`` doubles ``nChannels``): here
each rail channel carries both trees on its head's NIC. The chain runs from the head
(``tree.up = intra[i-1]``, ``down[0] = intra[i+1]``), the reduction flowing towards it. In
NCCL's default ``BALANCED_TREE`` the parent and child 1 are on the head and child 0 on the
chain's second GPU, which the search makes return to the same NIC (``search.cc``
``ncclTopoSearchRecGpu``: half the inter bandwidth on each of the first two GPUs); the link
loads are those of the head-only layout used here. Where the balanced tree cannot be built —
one GPU per node, or (Hopper and later) one GPU on each NIC's PCIe switch
(``cluster.inter_node.pcie_gpus_per_nic: 1``) — the search falls back to the ``TREE`` pattern
(:attr:`~dpsim.sim.collectives.base.Layout.tree_pattern`): the head takes the parent and both
children, and the tuner multiplies the tree's bandwidth by :data:`TREE_PATTERN_EFFICIENCY` after
its caps (both since v2.18.3). The NIC loads are the same. What the pattern changes on the data
path is the head's reduce: with two network children it reduces one input more than any GPU of
the balanced tree (``all_reduce.h`` ``runTreeSplit``). Only double binary trees with a node of two
children have that (:func:`dtree_forks`: ``ncclGetDtree`` on 4 nodes and more; on 2 and 3 nodes
both trees are chains, the head has one network peer on each side, and the two patterns run the
same reduces): there the schedule carries the 0.85 as wire bytes and on its per-channel cap
(LL, LL128; Simple's in its estimate and fill), every protocol; elsewhere it is the estimate's alone
(:attr:`TunerCorrection.scale`).

``algorithm: auto`` is what NCCL's tuner does (``src/enqueue.cc`` ``topoGetAlgoInfo``):
every enabled (algorithm, protocol) is priced by the cost model and the fastest wins. Across nodes of NVSwitch
GPUs whose NIC rate is known, and across more than two nodes of any GPUs (where NCCL's estimate reads only the
search's speed across nodes, ``bwInter``), the cost model is NCCL's own closed form (``ncclTopoTuneModel``,
:func:`tuner_model`) on the graphs dpsim derives as NCCL's search would build them (:func:`tuner_graph`), with the
release's tables, and so on one PCIe node with a host topology, on the ring graph NCCL's intra-node search builds
there (:mod:`dpsim.sim.pcie_ring`); elsewhere (one node of NVLink GPUs, two nodes of PCIe or hybrid-cube-mesh GPUs)
it is the schedule's own link-load price (on a host topology with NCCL's tree at its ring's graph speed,
:func:`dpsim.sim.cost.host_tree_scale`). Either way NCCL's size corrections apply
(``ncclTopoGetAlgoTime``: :data:`TREE_CORRECTION`, :data:`RING_PLATEAU`), and the chosen schedule's price on the
links, without them, is the prediction.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from dpsim.sim.collectives.base import Chunking, Layout, Phase, Schedule, TunerCorrection
from dpsim.sim.collectives.nccl_tuner import DEFAULT_NCCL_VERSION, TunerTables, released, tuner_tables
from dpsim.sim.nvlink_mesh import HYBRID_CUBE_MESH, hamiltonian_path, nccl_rings

__all__ = [
    "ARCHS",
    "BANDWIDTH_FRACTION",
    "BASE_LATENCY_US",
    "BUFFSIZE",
    "HW_LATENCY_US",
    "LL_MAX_GBPS",
    "MAX_NVLS_ARITY",
    "MAX_RING_CHANNELS",
    "NCCL_ALGORITHMS",
    "NCCL_STEPS",
    "NVLINK_GPU_GBPS",
    "NVLS_EFFICIENCY",
    "NVLS_EFFICIENCY_BY_ARCH",
    "PER_CHANNEL_MAX_GBPS",
    "PROTOCOLS",
    "RING_PLATEAU",
    "THREAD_THRESHOLD",
    "TREE_CORRECTION",
    "TREE_MAX_THREADS",
    "TREE_PATTERN_EFFICIENCY",
    "btree_parent",
    "channel_cap_Bps",
    "channels",
    "channels_per_gpu",
    "comm_channels",
    "dtree_forks",
    "dtree_parents",
    "duplication",
    "graph_bw_gbps",
    "local_orders",
    "modelled",
    "nccl_broadcast",
    "nccl_ring",
    "nccl_tree",
    "net_latency_s",
    "nic_slots",
    "nics_per_gpu",
    "nvlink_gpu_gbps",
    "nvls_allreduce",
    "nvls_efficiency",
    "nvls_head_ranks",
    "nvls_heads",
    "nvls_shares",
    "nvls_tree_allreduce",
    "pxn_exit",
    "ring_orders",
    "ring_search",
    "ring_tuner",
    "step_latency_us",
    "tree_chunking",
    "tree_tuner",
    "tuner_graph",
    "tuner_model",
]

NCCL_ALGORITHMS = ("ring", "tree", "nvls", "nvls-tree")
"""NCCL's all-reduce algorithms modelled here (CollNet needs in-network SHARP switches: not modelled)."""
PROTOCOLS = ("LL", "LL128", "Simple")
"""NCCL's wire protocols, in NCCL's index order."""

_DEFAULT_TABLES = tuner_tables(DEFAULT_NCCL_VERSION)

BASE_LATENCY_US: dict[str, tuple[float, float, float]] = _DEFAULT_TABLES.base_latency_us
"""``baseLatencies`` (µs, LL/LL128/Simple) of ``src/graph/tuning.cc``: paid once per call (the default release's;
a scenario's ``communication.nccl_version`` picks its own, :func:`dpsim.sim.collectives.nccl_tuner.tuner_tables`)."""

HW_LATENCY_US: dict[str, dict[str, tuple[float, float, float]]] = _DEFAULT_TABLES.hw_latency_us
"""``hwLatencies`` (µs per step, LL/LL128/Simple) of ``src/graph/tuning.cc`` by hardware class (the default
release's)."""

NCCL_STEPS = 8
"""Steps of a connection's buffer (``src/include/device.h``): a step is ``buffSize / NCCL_STEPS`` bytes."""

BUFFSIZE: dict[str, float] = {"LL": 8 * 512 * 8 * 16, "LL128": 120 * 640 * 8 * 8, "Simple": float(1 << 22)}
"""NCCL's default buffer per connection and protocol (``src/init.cc``): ``DEFAULT_LL_BUFFSIZE`` = 8 lines × 512
threads × NCCL_STEPS × 16 B, ``DEFAULT_LL128_BUFFSIZE`` = 120 elements × 640 threads × NCCL_STEPS × 8 B,
``DEFAULT_BUFFSIZE`` = 4 MiB (``NCCL_BUFFSIZE`` sets the Simple one: :attr:`Layout.nccl_buffsize`)."""

NET_OVERHEAD_US = 1.0
"""``getNetOverhead`` on x86 Intel hosts (µs), ×3 for Simple: the floor of an intra step in a multi-node ring."""
NET_OVERHEAD_AMD_US = 2.0
"""``getNetOverhead`` on x86 AMD hosts (µs; ``src/graph/tuning.cc`` v2.12 to v2.30.7, "Network post overhead")."""


def net_overhead_us(layout: Layout) -> float:
    """NCCL's network post overhead on ``layout``'s hosts, µs (``getNetOverhead``: 2 on AMD, else 1; Intel, ARM and
    the other CPUs NCCL names get 1)."""
    return NET_OVERHEAD_AMD_US if layout.amd_host else NET_OVERHEAD_US


def ll_max_row(layout: Layout) -> str:
    """The row of ``llMaxBws`` NCCL's tuner reads (``ncclTopoTuneModel``: ``index1``): the GPU generation's on one node;
    across nodes the host CPU's, row 0 (``volta`` here) for Intel and row 1 (``ampere``) for AMD."""
    if layout.nodes == 1:
        return layout.arch
    return "ampere" if layout.amd_host else "volta"


NVLS_EFFICIENCY_BY_ARCH: dict[str, float] = _DEFAULT_TABLES.nvls_efficiency
"""``nvlsEfficiency`` per GPU generation in ``src/graph/tuning.cc`` (v2.28.3 to v2.30.7; Volta and Ampere have no
NVLS): the share of the NVLink bandwidth NVLS reaches. NCCL's tuner multiplies the NVLS graph's ``bwIntra`` by it;
dpsim carries it as the in-switch traffic's wire bytes (:func:`nvls_shares`), so the price and the pick both
follow."""

NVLS_EFFICIENCY = NVLS_EFFICIENCY_BY_ARCH["hopper"]
"""Hopper's ``nvlsEfficiency``: the share of NVLink 4 bandwidth NVLS reaches on H100-class NVSwitch."""


def nvls_efficiency(arch: str, tables: TunerTables = _DEFAULT_TABLES) -> float:
    """``nvlsEfficiency`` of a GPU generation in a release's ``tables`` (v2.28.3 on; :data:`NVLS_EFFICIENCY_BY_ARCH` is
    the default release's); Hopper's where it has none (an unknown ``arch``: NVLS needs an NVLink SHARP switch, Hopper
    or later). The releases before v2.28.3 have none: their estimate has no such factor (:func:`nvls_shares`)."""
    return tables.nvls_efficiency.get(arch, NVLS_EFFICIENCY)


def nvls_shares(layout: Layout, heads: int) -> tuple[float, float]:
    """The shares of the link bandwidth NVLS and NVLS-tree all-reduce reach in the layout's tuner tables
    (:attr:`~dpsim.sim.collectives.base.Layout.tables`: ``layout.nccl_version``'s estimate, or the default release's
    in the price): (in-switch traffic over ``heads`` NVLS channels, the heads' network traffic); dpsim divides the
    wire bytes by them.

    From v2.28.3 (``ncclTopoTuneModel``): ``nvlsEfficiency`` in the switch (:func:`nvls_efficiency`), all of the
    network; the schedules' loads are that estimate's. Before, NCCL estimated with a 5/6 bus-to-algorithm ratio in
    place of ``nRanks/nsteps`` = N/(2(N−1)) on twice the bandwidth, without ``nvlsEfficiency`` and its
    ``(nChannels−1)/nChannels``: the old estimate over the new is (5/6)·((N−1)/N) on the network, in the switch
    that over ``nvlsEfficiency · (H−1)/H``, so the in-switch share is (5/6)·((N−1)/N)·(H/(H−1)) — 5/6 on one node
    with a head a GPU — and the network's (5/6)·((N−1)/N).
    """
    tables = layout.tables
    if tables.nvls_ratio is None:
        return nvls_efficiency(layout.arch, tables), 1.0
    ratio = tables.nvls_ratio
    n, m = layout.world, layout.nodes
    if tables.nvls_bw_by_nodes and m > 1:  # v2.18.3: NVLS-tree's .70·M/(2(M−1)) on bwIntra (≤ 2 nodes) or bwInter
        tree = 0.7 * m / (2 * (m - 1))
        if m > 2:
            return math.inf, tree * 2 * (n - 1) / n
        return tree * (n - 1) / n * heads / (heads - 1) if heads > 1 else tree * (n - 1) / n, math.inf
    inter = ratio * (n - 1) / n
    return inter * heads / (heads - 1) if heads > 1 else inter, inter


TREE_PATTERN_EFFICIENCY = 0.85
"""``ncclTopoTuneModel`` (``src/graph/tuning.cc``, v2.18.3–v2.30.7): ``busBw *= .85`` for a tree graph of
the ``TREE`` pattern, after the per-channel caps, for every protocol. Always in NCCL's estimate; in the time
only where a head has two network children (:func:`dtree_forks`, :func:`nccl_tree`)."""

TREE_CORRECTION: dict[str, tuple[float, ...]] = {
    "LL": (1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0, 1.0, 1.0),
    "LL128": (1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1.0, 1.0),
    "Simple": (.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9),
}  # fmt: skip
"""``treeCorrectionFactor`` of ``src/graph/tuning.cc`` (the same 23 entries from v2.18.3 to v2.30.7; v2.29.2
added a 24th, used only by Blackwell's NVLS tree on x86 hosts): ``ncclTopoGetAlgoTime`` multiplies the tree all-reduce's
bandwidth by entry ``log2i(nBytes >> 6)`` for 64 B ≤ nBytes < 512 MiB — "Trees are not perfectly sticking
to the model for medium sizes" — and its tuner picks by that estimate. dpsim picks the same way and times
the chosen schedule by its own price (:class:`~dpsim.sim.collectives.base.TunerCorrection`)."""

RING_PLATEAU = (1.9, 1.4)
"""``ncclTopoGetAlgoTime`` (v2.18.3–v2.30.7): NCCL estimates a ring Simple all-reduce on several nodes at its
latency ×1.9 (compute capability < 8.0) or ×1.4 (8.0 and later) once ``nBytes / (nChannels · nRanks) ≥ 64`` ("Plateau
effect of ring")."""


BANDWIDTH_FRACTION: dict[tuple[str, str], float] = {
    ("ring", "Simple"): 1.0,
    ("ring", "LL"): 0.5,  # busBw * .5: 4 data bytes per 8-byte line
    ("ring", "LL128"): 0.92,  # busBw * 0.92 (~120/128)
    ("tree", "Simple"): 0.92,  # all-reduce tree busBw * .92
    ("tree", "LL"): 0.92 / 3.8,
    ("tree", "LL128"): 0.92 * 120.0 / 128.0,  # multi-node; 7/9 on one node (see bandwidth_fraction)
    ("nvls", "Simple"): 1.0,  # nvls_efficiency applies to the in-switch traffic
    ("nvls-tree", "Simple"): 1.0,
}
"""Usable share of the link bandwidth per (algorithm, protocol): ``ncclTopoTuneModel``'s refinements."""


ARCHS = ("volta", "ampere", "hopper", "blackwell")
"""GPU generations NCCL's tuner constants are indexed by (``compCapIndex``), in NCCL's order."""

PER_CHANNEL_MAX_GBPS: dict[str, dict[str, tuple[float, float, float]]] = _DEFAULT_TABLES.per_channel_max_gbps
"""``perChMaxTreeBws``, ``perChMaxTreeLL128Bws``, ``perChMaxRingLL128Bws``, ``perChMaxNVLSTreeBws`` (GB/s of
bus bandwidth per channel, on 1 / 2 / ≥3 nodes) of ``src/graph/tuning.cc`` (the default release's; each
layout reads its own release's, :attr:`~dpsim.sim.collectives.base.Layout.nccl_version`)."""

PCIE_GBPS: dict[str, float] = {"volta": 12.0, "ampere": 24.0, "hopper": 48.0, "blackwell": 48.0}
"""NCCL's bandwidth of a GPU's PCIe x16 link (``src/graph/topo.cc``: lanes × per-lane rate / 80 — Gen3 12,
Gen4 24, Gen5 48 GB/s) for the PCIe generation of each GPU: V100 Gen3, A100 Gen4, H100 and HGX B200 Gen5."""

_SM90_INTER = (48.0, 45.0, 42.0, 40.0, 30.0, 24.0, 22.0, 20.0, 17.5, 15.0, 12.0, 6.0, 3.0, 2.4, 1.2, 0.24, 0.12)
_SM100_TAIL = (45.1, *_SM90_INTER[2:])
_PRE_SM90_INTER = (48.0, 30.0, 28.0, 24.0, 20.0, 18.0, 15.0, 12.0, 10.0, 9.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.4, 1.2, 0.24,
                   0.12)  # fmt: skip
SPEED_ARRAYS_INTER: tuple[tuple[str, dict[str, tuple[float, ...]]], ...] = (
    (
        "2.18.3",
        {
            "": _PRE_SM90_INTER,
            "hopper": _SM90_INTER[:6] + _SM90_INTER[7:],
            "blackwell": _SM90_INTER[:6] + _SM90_INTER[7:],
        },
    ),
    ("2.19.3", {"hopper": _SM90_INTER, "blackwell": _SM90_INTER}),
    ("2.27.3", {"blackwell": (47.9, *_SM90_INTER[1:])}),
    ("2.27.5", {"blackwell": (48.0, *_SM100_TAIL)}),
    ("2.27.6", {"blackwell": (96.0, 48.0, *_SM100_TAIL)}),
    ("2.29.7", {"blackwell": (96.0, 80.0, 48.0, *_SM100_TAIL)}),
    ("2.30.3", {"blackwell": (96.0, 86.0, 80.0, 48.0, *_SM100_TAIL)}),
)
"""The per-channel bandwidths NCCL's inter-node search tries, fastest first, from the release each set first ships
(``src/graph/search.cc`` at each tag: ``speedArrayInter`` before Hopper; ``sm90SpeedArrayInter``, without 22.0 before
v2.19.3; Blackwell on ``sm90SpeedArrayInter`` before v2.25.1 (``ccMin >= 90``), then ``sm100SpeedArrayInter`` with the
same values to v2.26.6, 47.9 first in v2.27.3, 48.0 then 45.1 in v2.27.5, 96.0 added in v2.27.6, 80.0 in v2.29.7 and
86.0 in v2.30.3)."""


def speed_array_inter(arch: str, version: str = DEFAULT_NCCL_VERSION) -> tuple[float, ...]:
    """The inter-node speed array of NCCL ``version``'s search for generation ``arch`` (:data:`SPEED_ARRAYS_INTER`)."""
    arrays: dict[str, tuple[float, ...]] = {}
    for since, changed in SPEED_ARRAYS_INTER:
        if released(version, since):
            arrays.update(changed)
    return arrays.get(arch, arrays[""])


LL_MAX_GBPS: dict[str, tuple[float, float, float]] = _DEFAULT_TABLES.ll_max_gbps
"""``llMaxBws`` of ``src/graph/tuning.cc`` (GB/s, all channels together). NCCL reads the row of the
GPU generation on one node, and on several nodes the row of the host CPU: row 0 (here
``volta``) for Intel, row 1 (``ampere``) for AMD (:func:`ll_max_row`, :attr:`Layout.amd_host`)."""


def channel_cap_Bps(algorithm: str, protocol: str, layout: Layout) -> float:
    """NCCL's throughput of one rail channel of ``algorithm``/``protocol`` on ``layout``, bytes/s of data (inf: none).

    A rail channel holds :func:`duplication` NCCL channels (copies on the same GPUs and NIC),
    so its throughput is that many times NCCL's per-channel cap; totals split over all of them.

    ``ncclTopoTuneModel``: ring LL ``min(llMaxBw, …)``, ring LL128 ``nChannels ·
    perChMaxRingLL128Bw``, tree (every protocol) ``nChannels · perChMaxTreeBw`` then LL
    ``/3.8`` and ``llMaxBw``, LL128 ``·120/128`` and ``nChannels · perChMaxTreeLL128Bw``. The
    totals (``llMaxBw``) are split over :func:`channels`; the per-channel caps apply across
    nodes, where NCCL's channels are the rails (see the module docstring).
    """
    if protocol not in PROTOCOLS or layout.arch not in ARCHS or algorithm not in ("ring", "tree", "nvls-tree"):
        return math.inf
    index = min(layout.nodes, 3) - 1  # NCCL's index2: 1, 2, >2 nodes
    multi = layout.nodes > 1
    tables = layout.tables
    per_channel = tables.per_channel_max_gbps
    if algorithm == "nvls-tree":  # NVLS graphs are never duplicated; one channel per head
        nvls_tree = per_channel.get("nvls-tree")  # before v2.28.3 NCCL has no NVLS-tree cap
        cap = nvls_tree[layout.arch][index] if multi and nvls_tree else 0.0
        return cap * 1e9 if cap > 0 else math.inf
    dup = duplication(layout)
    k = channels(layout) * dup
    ll_total = tables.ll_max_gbps[ll_max_row(layout)][index] / k
    caps = [math.inf]
    if algorithm == "ring":
        if protocol == "LL":
            caps.append(ll_total)
        elif protocol == "LL128" and multi:
            caps.append(per_channel["ring-LL128"][layout.arch][index])
    else:
        tree = per_channel["tree"][layout.arch][index] if multi else math.inf
        if protocol == "Simple":
            caps.append(tree)
        elif protocol == "LL":
            caps += [tree / 3.8, ll_total]
        else:
            ll128 = per_channel["tree-LL128"][layout.arch][index] if multi else math.inf
            caps += [tree * 120.0 / 128.0, ll128]
    return min(caps) * dup * 1e9


def _engine(algorithm: str, protocol: str, layout: Layout, wire: float, busiest: float = 1.0) -> float:
    """``engine_Bps`` of a schedule: the channel cap in wire bytes, scaled by the busiest rank's share.

    ``busiest`` is the most a (rank, channel) sends over what NCCL's bus bandwidth counts per
    channel (1 for rings; for a tree, what the busiest head sends over 2·S/k, since NCCL's
    per-channel figure is of the tree as a whole).
    """
    cap = channel_cap_Bps(algorithm, protocol, layout)
    return 0.0 if math.isinf(cap) else cap * wire * busiest


def bandwidth_fraction(
    algorithm: str, protocol: str, nodes: int, layout: Layout | None = None, op: str = "allreduce"
) -> float:
    """The bandwidth share of ``protocol`` for ``algorithm`` (1 for the textbook ``none``); a ring's LL and LL128
    shares from ``layout``'s tuner tables for ``op`` (:attr:`~dpsim.sim.collectives.nccl_tuner.TunerTables.
    ring_ll_share`, :attr:`~dpsim.sim.collectives.nccl_tuner.TunerTables.ring_ll128_one_gpu_share`)."""
    if protocol == "none":
        return 1.0
    if algorithm == "tree" and protocol == "LL128" and nodes == 1:
        return 0.92 * 7.0 / 9.0
    if algorithm == "ring" and layout is not None:
        tables = layout.tables
        if protocol == "LL":
            return tables.ring_ll_share[0 if nodes > 1 or op in ("allreduce", "reduce") else 1]
        if protocol == "LL128" and layout.per_node == 1:
            return tables.ring_ll128_one_gpu_share
    return BANDWIDTH_FRACTION[(algorithm, protocol)]


def step_latency_us(hw: str, algorithm: str, protocol: str, layout: Layout) -> float:
    """``hwLatencies`` of NCCL ``layout.nccl_version``: one step of ``algorithm`` with ``protocol`` on hardware class
    ``hw`` (``nvlink``, ``pci``, ``net``), µs."""
    return layout.tables.hw_latency_us[hw][algorithm][PROTOCOLS.index(protocol)]


def _step_latencies_s(algorithm: str, protocol: str, layout: Layout, measured: bool = True) -> tuple[float, float]:
    """(intra, inter) per-step latency of ``algorithm`` with ``protocol`` (``ncclTopoTuneModel``); with ``measured``
    the intra-node step of a PCIe node whose ring edges are all P2P at its measured hop latency when timed
    (:attr:`~dpsim.sim.collectives.base.Layout.p2p_step_s`), never in NCCL's estimate (:func:`tuner_model` passes
    ``measured=False``; an estimate layout ignores it)."""
    intra = step_latency_us(layout.intra_hw, algorithm, protocol, layout)
    if measured and layout.p2p_step_timed and not layout.estimate:
        intra = layout.p2p_step_s * 1e6
    one_gpu = layout.per_node == 1 and layout.tables.one_gpu_net_latency_tree  # v2.23.4 on
    inter = step_latency_us("net", "tree" if one_gpu else algorithm, protocol, layout)
    if layout.nodes > 1 and algorithm == "ring":
        intra = max(intra, net_overhead_us(layout) * (3 if protocol == "Simple" else 1))
    return intra * 1e-6, inter * 1e-6


def base_latency_s(algorithm: str, protocol: str, layout: Layout) -> float:
    """``baseLatencies`` of (algorithm, protocol) in NCCL ``layout.nccl_version``, seconds (0 for the textbook
    ``none``)."""
    if protocol == "none":
        return 0.0
    return layout.tables.base_latency_us[algorithm][PROTOCOLS.index(protocol)] * 1e-6


MAX_RING_CHANNELS = 32
"""``ringGraph->maxChannels = MAXCHANNELS / 2`` (``src/init.cc``; ``MAXCHANNELS`` is 64 in v2.30.7, 32 before
v2.23): the most channels the ring (and so the tree) search may build."""


def nics_per_gpu(layout: Layout) -> int:
    """NICs on each GPU's PCIe switch when a node has more NICs than GPUs (``nics / G``), else 1."""
    return layout.nics // layout.per_node if layout.nics > layout.per_node else 1


def channels_per_gpu(layout: Layout) -> int:
    """Search channels whose NIC sits on each GPU's PCIe switch, when a node has more NICs than GPUs.

    ``ncclTopoSearchRecNet`` starts channel ``c`` on NIC ``(c + i) mod nNets``, and every channel
    takes the graph's speed off its NIC (``net.bw -= bw``) and off the GPU's PCIe links on the
    way in and out (``followPath``: per direction). A GPU with ``m`` NICs on its switch then
    carries ``min(m, ⌊PCIe / speed⌋)`` channels: the GPU's own PCIe x16 link is what its NICs
    share (``topo.cc``: Gen4 24, Gen5 48 GB/s). On H100 with 200 Gbit/s NICs the speed is 24
    (``sm90SpeedArrayInter``'s first step within 25 GB/s), two channels per GPU; with 400 Gbit/s
    NICs it is 48, one channel, and the GPU's other NICs carry nothing (a second channel at 24
    gives the same 48 GB/s, which ``ncclTopoCompareGraphs`` does not prefer). Unknown generation
    or port rate: one channel per NIC.
    """
    m = nics_per_gpu(layout)
    speed = graph_bw_gbps(layout)
    if speed <= 0:
        return m
    return max(1, min(m, int(PCIE_GBPS[layout.arch] // speed)))


def channels(layout: Layout) -> int:
    """Rail channels across nodes (1 on one node), each on its own NIC.

    On NVSwitch nodes with no more NICs than GPUs, the NICs the channels of NCCL's ring search use
    (:func:`ring_search`): ``min(nChannels, nics)``, channel ``c`` on the NIC of local rank ``c·G/k``. A GB200 NVL72
    rack (72 GPUs, a NIC each) leaves on 15 (v2.25.1–v2.26.6) or 16 (v2.27.3 on) of its 72 NICs, as many as the
    GPUs' NVLinks carry, not 72 nor ``MAXCHANNELS / 2``. Elsewhere up to one per NIC and one per GPU while a node
    has no more NICs than GPUs: ``min(nics, G)``, at most :data:`MAX_RING_CHANNELS` (``init.cc``:
    ``ringGraph->maxChannels = MAXCHANNELS / 2``, and the tree search gets the ring's count). With more NICs than
    GPUs, :func:`channels_per_gpu` on each GPU, at most :data:`MAX_RING_CHANNELS` — on one GPU per node too, where
    NCCL's search runs every channel through the one GPU's PCIe link. On one node of a hybrid cube mesh, the rings
    NCCL's intra-node search builds (:func:`dpsim.sim.nvlink_mesh.nccl_rings`: 6 on DGX-1V).
    """
    if layout.nodes <= 1:
        return len(nccl_rings(layout.per_node)[0]) if _mesh(layout) else 1
    if layout.nics > layout.per_node:
        return max(1, min(layout.per_node * channels_per_gpu(layout), MAX_RING_CHANNELS))
    search = ring_search(layout)
    if search is not None:
        return min(search[0], layout.nics)
    return max(1, min(layout.nics, layout.per_node, MAX_RING_CHANNELS))


def nvlink_gpu_gbps(layout: Layout) -> float:
    """One GPU's NVLinks into an NVSwitch as ``layout``'s NCCL release counts them (:func:`_nvlink_gbps`)."""
    return _nvlink_gbps(layout.arch, layout.nccl_version)


def _nvlink_gbps(arch: str, version: str) -> float:
    """:data:`NVLINK_GPU_GBPS` of NCCL ``version``: Blackwell's ``SM100_NVLINK_BW`` is 40.0 before v2.27.5, 40.1
    from it (``src/graph/topo.h``)."""
    if arch == "blackwell" and not released(version, "2.27.5"):
        return 18 * 40.0
    return NVLINK_GPU_GBPS[arch]


def _ring_channels_at(speed: float, path: float, nvlink: float, per_node: int, nics: int) -> int:
    """How many ring channels of ``speed`` GB/s NCCL's search fits on an NVSwitch node of ``per_node`` GPUs and
    ``nics`` (≤ GPUs) NICs: each takes ``speed`` off its NIC's path each way (``followPath``: ``⌊path / speed⌋``
    channels a NIC, the path the smaller of the port and the GPU's PCIe link) and off the NVLink (``nvlink`` GB/s a
    GPU) of the GPUs its chain passes on through the node (:func:`_nvlink_crossings`), at most
    :data:`MAX_RING_CHANNELS`. Beyond one a NIC, whole multiples of the NICs (dpsim's rails carry equal copies)."""
    n = min(nics * int(path // speed), MAX_RING_CHANNELS)
    while n > 0 and _nvlink_crossings(n, per_node) * speed > nvlink:
        n -= 1
    return n - n % nics if n > nics else n


def ring_search(layout: Layout) -> tuple[int, float] | None:
    """(``nChannels``, GB/s a channel) of the first pass of NCCL's ring search across nodes on NVSwitch GPUs with no
    more NICs than GPUs, before ``ncclTopoDupChannels`` (:func:`duplication`); None elsewhere (one node, PCIe or
    hybrid-cube-mesh GPUs, more NICs than GPUs, an unknown generation or NIC rate).

    ``ncclTopoCompute`` (``src/graph/search.cc`` v2.25.1–v2.30.7) starts at the fastest step of the release's speed
    array (:func:`speed_array_inter`) within the GPU→NIC path (``maxBw``) and builds as many channels as fit
    (:func:`_ring_channels_at`); it stops once ``nChannels · bwInter`` reaches ``totalBw`` (a GPU's NVLinks,
    :func:`nvlink_gpu_gbps`), else steps down the array while the next step is above 0.49 of the best graph's
    speed, keeping a graph only if its ``nChannels · bw`` is larger (``ncclTopoCompareGraphs``; on a tie the fewer
    hops, so the fewer channels). GB200 NVL72 (72 GPUs, 72 NICs, 720 GB/s of NVLink a GPU): 15 × 48 = 720 on
    v2.25.1–v2.26.6, 15 × 47.9 < 720 then 16 × 45 = 720 on v2.27.3 (its notes: "Increase to 16 the number of NICs
    used to communicate between MNNVL domains on GB200 systems"), 16 × 45.1 with 721.8 GB/s from v2.27.5; HGX
    B200 with a 400G NIC a GPU: 8 × 48, but 16 × 24 = 384 > 8 × 47.9 on v2.27.3 — the graphs NCCL's own search
    builds (``benchmarks/nccl_search``). v2.25.1 also counts a GB200's C2C link in ``totalBw`` (1,170 GB/s), which
    only lets it try slower steps that do not win: the same 15 × 48.
    """
    if not (
        layout.nodes > 1
        and _nvswitch(layout)
        and layout.nics <= layout.per_node
        and layout.arch in PCIE_GBPS
        and layout.nic_gbps > 0
    ):
        return None
    return _ring_search(layout.arch, layout.per_node, layout.nics, layout.nic_gbps, layout.nccl_version)


@functools.lru_cache(maxsize=256)
def _ring_search(arch: str, per_node: int, nics: int, nic_gbps: float, version: str) -> tuple[int, float] | None:
    """:func:`ring_search` on a node of its arguments (pure: cached, as every schedule build reads it)."""
    steps = speed_array_inter(arch, version)
    path = min(nic_gbps, PCIE_GBPS[arch])
    nvlink = _nvlink_gbps(arch, version)
    i = next((j for j, step in enumerate(steps) if step <= path), len(steps) - 1)
    best, best_bw = 0, 0.0
    while True:
        n = _ring_channels_at(steps[i], path, nvlink, per_node, nics)
        if n * steps[i] > best * best_bw:
            best, best_bw = n, steps[i]
        if best * best_bw >= nvlink or i == len(steps) - 1 or (best and steps[i + 1] / best_bw <= 0.49):
            break
        i += 1
    return (best, best_bw) if best else None


def nvls_heads(layout: Layout) -> int:
    """NVLS-tree heads per node: one per NIC with a GPU of its own, ``min(nics, G)``, each on one NIC, at most
    :data:`MAX_NVLS_ARITY` (``search.cc``: the NVLS graph's ``maxChannels = min(NCCL_MAX_NVLS_ARITY, nGPUs)``).

    ``ncclTopoSearchRecNet`` (NVLS pattern) makes the GPU local to each NIC a head, skipping a GPU
    that already is one ("duplicate head when one GPU connects with multiple NICs", v2.22.3 and
    later), and ``nvlsGraph`` holds at most ``G`` of them: with more NICs than GPUs each head
    uses its first NIC only (``getNvlsNetDev``), and the other NICs carry no NVLS-tree traffic.
    v2.19–v2.21 lack that check: channel ``c`` takes the ``c``-th NIC listed GPU by GPU, so with two
    NICs a GPU the first ``G`` channels name ``G/2`` GPUs twice, ``ncclTopoPreset`` keeps each head once,
    and ``getNvlsNetDev`` turns each head over both its NICs by channel: ``G/2`` heads on the same NICs,
    not modelled. A dual-port card's two ports are one NIC here since v2.20 (NIC fusion,
    :attr:`dpsim.scenario.InterNodeLink.ports_per_nic`), so that case needs NICs of their own or fusion off.
    """
    return max(1, min(layout.nics, layout.per_node, MAX_NVLS_ARITY))


def nic_slots(layout: Layout, k: int) -> np.ndarray:
    """Which of its GPU's NICs (0 … nics/G − 1) each of the ``k`` rail channels leaves and enters a node through.

    Channel ``c`` starts at local rank ``c·G/k``; the channels starting at one GPU take its NICs
    in turn (``ncclTopoSearchRecNet``: channel ``c`` tries NIC ``c`` first, and NICs are listed
    GPU by GPU, ``ncclTopoSelectNets``). All 0 while a node has no more NICs than GPUs.
    """
    per_gpu = max(1, k // layout.per_node)
    return (np.arange(k) % per_gpu).astype(np.int64) if nics_per_gpu(layout) > 1 else np.zeros(k, dtype=np.int64)


def graph_bw_gbps(layout: Layout) -> float:
    """The per-rail-channel bandwidth of NCCL's first search pass across nodes (GB/s; 0: not known), before
    ``ncclTopoDupChannels``: a rail's channels of :func:`ring_search` together where dpsim derives it (HGX B200 on
    v2.27.3: two channels of 24 on each NIC, 48), else the fastest step of the release's speed array
    (:func:`speed_array_inter`) not above the GPU→NIC path, the smaller of the NIC's port rate and the GPU's PCIe
    link (``ncclTopoCompute``: ``maxBw``).
    """
    if layout.nodes <= 1 or layout.nic_gbps <= 0 or layout.arch not in PCIE_GBPS:
        return 0.0
    search = ring_search(layout)
    if search is not None:
        n, bw = search
        return bw * (n // channels(layout))
    path = min(layout.nic_gbps, PCIE_GBPS[layout.arch])
    steps = speed_array_inter(layout.arch, layout.nccl_version)
    return next((step for step in steps if step <= path), steps[-1])


def duplication(layout: Layout) -> int:
    """NCCL channels per rail channel: the search's channels on each rail (:func:`ring_search`: two on HGX B200
    with v2.27.3), times 2 where ``ncclTopoDupChannels`` copies them.

    Copied when a channel carries ≥ 25 GB/s, except with compute capability > 8.0 (Hopper,
    Blackwell), channels below 50 GB/s and more than 4 of them (``src/graph/search.cc``).
    """
    search = ring_search(layout)
    n, bw = search if search is not None else (channels(layout), graph_bw_gbps(layout))
    copies = n // channels(layout)
    if bw < 25.0:
        return copies
    if ARCHS.index(layout.arch) >= ARCHS.index("hopper") and bw < 50.0 and n > 4:
        return copies
    return 2 * copies


def net_latency_s(protocol: str, inter_steps: int, layout: Layout) -> float:
    """What the network plugin's reported latency adds to NCCL's estimate of ``inter_steps`` inter-node steps.

    ``ncclTopoTuneModel`` (``src/graph/tuning.cc``, v2.18.3-v2.30.7): ``interLat = hwLat[NET] + latencyInter``,
    and ``+= latencyInter`` once more for Simple ("flush extra latency"); the graph's ``latencyInter`` is the
    ``latency`` its NIC's plugin reports (``src/graph/search.cc``). aws-ofi-nccl reports 75 µs on p4d and p5
    (:attr:`dpsim.catalog.LinkSpec.nccl_net_latency_s`); NCCL's IB and socket transports report 0. A tuner
    input only: it moves which (algorithm, protocol) NCCL picks, and the chosen schedule is timed without it.
    """
    if protocol not in PROTOCOLS or layout.nodes <= 1 or inter_steps <= 0:
        return 0.0
    return inter_steps * layout.nccl_net_latency_s * (2 if protocol == "Simple" else 1)


def tree_tuner(protocol: str, layout: Layout | None = None, scale: float = 1.0) -> TunerCorrection:
    """NCCL's size correction of the tree all-reduce's bandwidth for ``protocol`` (:data:`TREE_CORRECTION`), and
    the plugin's latency on its ``2·log2i(M)`` inter-node steps on ``layout`` (:func:`net_latency_s`).

    ``scale``: the estimate's refinements the schedule's time does not carry (the ``TREE`` pattern's ×0.85
    where no head has two network children, :func:`nccl_tree`).
    """
    net = 0.0
    if layout is not None and layout.nodes > 1:
        net = net_latency_s(protocol, 2 * int(math.log2(layout.nodes)), layout)
    if protocol not in TREE_CORRECTION:
        return TunerCorrection(net_latency_s=net)
    return TunerCorrection(bandwidth=TREE_CORRECTION[protocol], net_latency_s=net, scale=scale)


def comm_channels(layout: Layout) -> int:
    """The communicator's ``nChannels`` across nodes: the search's rail channels (:func:`channels`), copied by
    ``ncclTopoDupChannels`` (:func:`duplication`) and doubled by ``ncclTopoPostset`` (``src/graph/connect.cc``). A
    collective's kernel runs one thread block (CTA) a channel, each resident on its own SM for the whole collective."""
    return 2 * channels(layout) * duplication(layout)


def ring_tuner(op: str, protocol: str, layout: Layout) -> TunerCorrection:
    """NCCL's ring plateau (:data:`RING_PLATEAU`) for a Simple all-reduce across nodes, and the plugin's latency.

    ``nChannels`` is the communicator's: the search's channels, copied by ``ncclTopoDupChannels``
    (:func:`duplication`) and doubled by ``ncclTopoPostset`` (``src/graph/connect.cc``). The plugin's
    latency (:func:`net_latency_s`) is on the ring's inter-node steps, ``2(M−1)`` for an all-reduce and
    ``M−1`` for a reduce-scatter or all-gather (``nInterSteps``).
    """
    inter_steps = (2 if op == "allreduce" else 1) * (layout.nodes - 1)
    net = net_latency_s(protocol, inter_steps, layout)
    if op != "allreduce" or protocol != "Simple" or layout.nodes <= 1 or layout.arch not in ARCHS:
        return TunerCorrection(net_latency_s=net)
    n_channels = comm_channels(layout)
    plateau = RING_PLATEAU[0] if layout.arch == "volta" else RING_PLATEAU[1]
    return TunerCorrection(plateau_from=64.0 * n_channels * layout.world, plateau=plateau, net_latency_s=net)


NVLINK_GPU_GBPS: dict[str, float] = {
    "volta": 6 * 20.0,
    "ampere": 12 * 20.0,
    "hopper": 18 * 20.6,
    "blackwell": 18 * 40.1,
}
"""What NCCL's topology gives one GPU's NVLinks into an NVSwitch (GB/s a way): links ×
``SM70/SM80/SM90/SM100_NVLINK_BW`` (``src/graph/topo.h``: 20.0, 20.0, 20.6, 40.1) — 6 links on V100 (DGX-2), 12 on
A100, 18 on H100 and B200: the budget the search's channels take their speed off on each GPU (``followPath``), which
bounds the ring's and tree's channels, the tree's second pass and the NVLS heads (:func:`tuner_graph`)."""


def _nvswitch(layout: Layout) -> bool:
    """NVSwitch GPUs: every channel takes its speed off each GPU's NVLinks (:data:`NVLINK_GPU_GBPS`)."""
    return layout.intra_hw == "nvlink" and layout.intra_topology == "switch" and not layout.shm_edges


def _tuner_modelled(layout: Layout) -> bool:
    """Whether dpsim derives NCCL's graphs on ``layout`` (:func:`tuner_graph`): several nodes of a known generation
    whose NIC rate is known (the search's speed, :func:`graph_bw_gbps`), of NVSwitch GPUs or more than two (where
    NCCL's estimate reads only ``bwInter``, the search's speed across nodes, whatever joins a node's GPUs)."""
    return (
        layout.nodes > 1
        and layout.arch in ARCHS
        and graph_bw_gbps(layout) > 0
        and (_nvswitch(layout) or layout.nodes > 2)
    )


def _step_up(start: float, below: float, fits: float, steps: tuple[float, ...]) -> float:
    """Pass 2 of ``ncclTopoCompute`` (``src/graph/search.cc`` v2.30.7 1267-1287, ``if (pass == 2)``): from
    ``start``, take the next faster step of the speed array while the value is under ``below`` and the step is at
    most ``fits``."""
    value = start
    for step in sorted(s for s in steps if s > start):
        if value >= below or step > fits:
            break
        value = step
    return value


def _nvlink_crossings(k: int, per_node: int) -> int:
    """How many of ``k`` rail channels cross the busiest GPU's NVLink port each way, on a node of ``per_node``
    NVSwitch GPUs: ``k − ⌊k/G⌋``.

    A ring or tree channel's chain enters the node from a NIC at one GPU and leaves it to a NIC at another, so it
    takes its speed (``followPath``, ``src/graph/search.cc``) off the outgoing NVLink of the ``G − 1`` GPUs that send
    to a next GPU, and off the incoming NVLink of the ``G − 1`` that receive from one; the rail channels end at the
    GPUs in turn (:func:`channels`: channel c starts at local rank c·G/k), so each GPU ends ``⌊k/G⌋`` of them and
    carries the rest. On an HGX H100 with a 400G NIC a GPU: 8 channels, 7 × 48 = 336 ≤ 370.8 GB/s, NCCL's 8 × 48
    (``benchmarks/nccl_search``).
    """
    return max(1, k - k // per_node) if per_node > 1 else k


def tuner_graph(algorithm: str, layout: Layout) -> tuple[int, float, float] | None:
    """(``nChannels``, ``bwIntra``, ``bwInter``) of NCCL's graph for ``algorithm`` across nodes, GB/s a channel, as
    dpsim derives NCCL's search (``src/graph/search.cc`` v2.30.7 ``ncclTopoCompute``, 1074) from the layout; None
    where it does not (one node of NVLink GPUs, one or two nodes of PCIe or hybrid-cube-mesh GPUs, an unknown
    generation or NIC rate: :func:`_tuner_modelled`). On one PCIe node with a host topology, the ring graph of NCCL's
    intra-node search (:attr:`~dpsim.sim.collectives.base.Layout.pcie_graph`, :func:`dpsim.sim.pcie_ring.
    nccl_pcie_ring`: channels after ``ncclTopoDupChannels``, ``bwIntra``), for the tree too (``init.cc``: the tree
    graph gets the ring's channel count; its chain crosses no cut the ring does not). Across more than two nodes of
    GPUs not on NVSwitch, the first pass's channels at its speed: NCCL's estimate reads ``bwInter`` alone there
    (v2.9.9 to v2.30.7 ``ncclTopoTuneModel``: ``bw = nNodes <= 2 ? bwIntra : bwInter``), so its tree's algorithm
    bandwidth is ``0.5 · min(0.92 · nChannels · bwInter, nChannels · perChMaxTreeBw)``, never above the ring's
    ``nRanks/(2(nRanks−1)) · nChannels · bwInter``.

    Ring and tree: the first pass's :func:`channels` at :func:`graph_bw_gbps` (``bwIntra = bwInter``), copied by
    ``ncclTopoDupChannels`` (:func:`duplication`: twice the channels at half the speed), at the fastest step of the
    release's speed array (:func:`speed_array_inter`) whose channels fit a GPU's NVLinks where they do not: a channel
    takes its speed off the NVLink of the G − 1 GPUs its chain passes on through the node (:func:`_nvlink_crossings`:
    8 channels on 8 H100 cross each GPU's port 7 times, 7 × 48 = 336 ≤ 370.8, so 8 × 48, as NCCL's own search builds
    it in ``benchmarks/nccl_search``). The tree graph has the ring's channels (``init.cc``); its second pass raises
    ``bwIntra`` step by step while it is under twice ``bwInter`` ("increase bwIntra for trees (2 nodes or collnet)")
    and the channels crossing a GPU fit its NVLinks (:data:`NVLINK_GPU_GBPS`).
    NVLS: one head per NIC's GPU (:func:`nvls_heads`); ``ncclTopoSearchTryNvls`` (410) takes the speed off every GPU's
    NVLink once a head and off the head's twice, so the first pass's speed is the fastest step with (heads + 1) ×
    speed within a GPU's NVLinks and within the head's NIC path; its second pass raises ``bwInter`` while under twice
    ``bwIntra`` and within the NIC path.
    """
    if layout.nodes == 1 and layout.pcie_graph and layout.arch in ARCHS and algorithm in ("ring", "tree"):
        k, bw = layout.pcie_graph  # one PCIe node: the tree graph has the ring's channels (init.cc)
        return k, bw, bw
    if not _tuner_modelled(layout):
        return None
    steps = speed_array_inter(layout.arch, layout.nccl_version)  # the release's search
    nvlink = nvlink_gpu_gbps(layout)
    if algorithm == "nvls-tree":
        heads = nvls_heads(layout)
        path = min(layout.nic_gbps, PCIE_GBPS[layout.arch])
        intra = next((s for s in steps if s <= path and (heads + 1) * s <= nvlink), steps[-1])
        return heads, intra, _step_up(intra, 2 * intra, path, steps)
    dup = duplication(layout)
    k = channels(layout) * dup
    bw = graph_bw_gbps(layout) / dup
    if not _nvswitch(layout):  # more than two nodes: NCCL's estimate reads bwInter alone
        return k, bw, bw
    crossing = _nvlink_crossings(k, layout.per_node)
    if crossing * bw > nvlink:  # the fastest step whose channels fit a GPU's NVLink port
        bw = next((step for step in steps if crossing * step <= nvlink), steps[-1])
    if algorithm == "tree" and layout.nodes <= 2:
        return k, _step_up(bw, 2 * bw, nvlink / crossing, steps), bw
    return k, bw, bw


def tuner_model(op: str, algorithm: str, protocol: str, layout: Layout) -> tuple[float, float] | None:
    """NCCL's own estimate of an all-reduce, or of a ring all-gather or reduce-scatter, with ``algorithm``/``protocol``
    on ``layout``: (latency s, algorithm bandwidth B/s), ``ncclTopoTuneModel`` (``src/graph/tuning.cc`` v2.30.7 lines
    243-435: ``bw`` 306-322, ``busBw`` and its refinements 324-336, bus-to-algorithm ratio 376-381, latencies 383-433)
    on the graphs of :func:`tuner_graph` with the tables of ``layout``'s release; None where dpsim does not derive the
    graphs, or for another collective (the schedule's price is the estimate there). The ring halves take ``nsteps = N
    − 1`` and ``nInterSteps = M − 1`` (every release from v2.18.3), the same refinements and ``nRanks / nsteps``, no
    plateau (stop 48; their pick read the schedule's price before). ``topoGetAlgoInfo`` (``src/enqueue.cc`` v2.30.7
    2028: ``updateCollCostTable`` 1989-2014, the least time wins) picks by ``ncclTopoGetAlgoTime`` of it
    (``tuning.cc`` 630-662; :meth:`~dpsim.sim.collectives.base.TunerCorrection.time`); nothing else reads it: the
    chosen schedule runs at its price on the links. Not carried: the tree correction of Blackwell's NVLS-tree on
    x86 hosts (``ncclTopoGetAlgoTime`` from v2.29.2: ``minCompCap >= 100``).

    Bandwidth (``busBw = nChannels · bw``, ``bw = nNodes <= 2 ? bwIntra : bwInter``): ring LL ``min(llMaxBw, busBw ·
    .5)``, LL128 ``min(busBw · .92, nChannels · perChMaxRingLL128Bw)``; tree ``min(busBw · .92, nChannels ·
    perChMaxTreeBw)``, LL ``min(· / 3.8, llMaxBw)``, LL128 ``min(· 120/128, nChannels · perChMaxTreeLL128Bw)``, the
    ``TREE`` pattern ``· .85``; NVLS-tree (v2.28.3 on) ``bw = min(bwIntra · nvlsEfficiency · (nCh−1)/nCh · 2, bwInter
    · (nNodes <= 2 ? 2 : 1), perChMaxNVLSTreeBw)``, before ``min(bwIntra, nNodes <= 2 ? bwInter : bwInter/2)`` (v2.18:
    ``bw`` as every algorithm); then ×``nRanks/nsteps`` (ring, NVLS-tree from v2.28.3), ``.5`` (tree), ``5/6``
    (NVLS-tree v2.19-v2.27), ``.70·nNodes/(2(nNodes−1))`` (NVLS-tree v2.18). Latency: ``baseLatencies`` plus, ring,
    ``(nsteps − nInterSteps)·max(intraLat, netOverhead) + nInterSteps·interLat``; tree ``2((ppn−1)·intraLat +
    log2i(nNodes)·interLat)``; NVLS-tree ``intraLat + 2·log2i(nNodes)·interLat`` (v2.18: ``2(nNodes−1)·hwLat[NET]``),
    ``interLat = hwLat[NET] + latencyInter`` (twice ``latencyInter`` for Simple).
    """
    halves = op in ("all_gather", "reduce_scatter") and algorithm == "ring"
    if not (op == "allreduce" or halves) or protocol not in PROTOCOLS or algorithm not in ("ring", "tree", "nvls-tree"):
        return None
    graph = tuner_graph(algorithm, layout)
    if graph is None:
        return None
    k, bw_intra, bw_inter = graph
    tables = layout.tables
    n, g, m = layout.world, layout.per_node, layout.nodes
    index = min(m, 3) - 1
    per_channel = tables.per_channel_max_gbps
    ll_max = tables.ll_max_gbps[ll_max_row(layout)][index]
    bw = bw_intra if m <= 2 else bw_inter
    nsteps = (n - 1) if halves else 2 * (n - 1)
    if algorithm == "ring":
        bus = k * bw
        if protocol == "LL":
            bus = min(ll_max, bus * bandwidth_fraction("ring", "LL", m, layout, op))
        elif protocol == "LL128":
            ll128 = per_channel["ring-LL128"][layout.arch][index]
            bus = min(bus * bandwidth_fraction("ring", "LL128", m, layout), k * ll128)
        algbw = bus * n / nsteps
    elif algorithm == "tree":
        bus = min(k * bw * 0.92, k * per_channel["tree"][layout.arch][index])
        if protocol == "LL":
            bus = min(bus / 3.8, ll_max)
        elif protocol == "LL128":
            bus = min(bus * (7.0 / 9.0 if m == 1 else 120.0 / 128.0), k * per_channel["tree-LL128"][layout.arch][index])
        if layout.tree_pattern == "tree":
            bus *= TREE_PATTERN_EFFICIENCY
        algbw = bus * 0.5
    else:
        if k < 2:  # "NVLS/NVLStree needs at least 2 channels"
            return None
        if tables.nvls_ratio is None:
            intra = bw_intra * nvls_efficiency(layout.arch, tables) * (k - 1) / k * 2.0
            cap = per_channel.get("nvls-tree", {}).get(layout.arch, (0.0, 0.0, 0.0))[index] or math.inf
            algbw = k * min(intra, bw_inter * (2 if m <= 2 else 1), cap) * n / nsteps
        elif tables.nvls_bw_by_nodes:
            algbw = k * bw * 0.7 * m / (2 * (m - 1))
        else:
            algbw = k * min(bw_intra, bw_inter if m <= 2 else bw_inter / 2) * tables.nvls_ratio
    intra_lat, inter_lat = _step_latencies_s(algorithm, protocol, layout, measured=False)
    net = layout.nccl_net_latency_s * (2 if protocol == "Simple" else 1)
    base = base_latency_s(algorithm, protocol, layout)
    if algorithm == "ring":
        inter_steps = 0 if m == 1 else m - 1 if halves else 2 * m if tables.ring_net_steps_per_node else 2 * (m - 1)
        latency = base + (nsteps - inter_steps) * intra_lat + inter_steps * (inter_lat + net)
    elif algorithm == "tree":
        latency = base + 2 * ((g - 1) * intra_lat + int(math.log2(m)) * (inter_lat + net))
    elif tables.nvls_bw_by_nodes:
        latency = base + 2 * (m - 1) * inter_lat
    else:
        latency = base + intra_lat + 2 * int(math.log2(m)) * (inter_lat + net)
    return latency, algbw * 1e9


def modelled(tuner: TunerCorrection, op: str, algorithm: str, protocol: str, layout: Layout) -> TunerCorrection:
    """``tuner`` with NCCL's own estimate (:func:`tuner_model`) where dpsim derives it: the pick reads that estimate,
    with the size corrections ``ncclTopoGetAlgoTime`` applies (``tuner``'s tree correction and ring plateau)."""
    model = tuner_model(op, algorithm, protocol, layout)
    if model is None:
        return tuner
    latency, algbw = model
    return dataclasses.replace(tuner, model_latency_s=latency, model_Bps=algbw)


TREE_MAX_THREADS: dict[str, int] = {"LL": 512, "LL128": 640, "Simple": 512}
"""``comm->maxThreads[NCCL_ALGO_TREE]`` (``src/graph/tuning.cc``, v2.18.3–v2.30.7, ``NCCL_NTHREADS`` unset):
``NCCL_LL_MAX_NTHREADS``, ``NCCL_LL128_MAX_NTHREADS``, ``NCCL_SIMPLE_MAX_NTHREADS`` (``src/include/device.h``)."""

THREAD_THRESHOLD: dict[str, int] = {"LL": 8, "LL128": 8, "Simple": 64}
"""``NCCL_{LL,LL128,SIMPLE}_THREAD_THRESHOLD`` (``src/include/comm.h``): bytes per thread before NCCL adds a channel
(the tree's; the ring's LL one is ×nRanks)."""


def _channel_bytes(protocol: str) -> float:
    """Bytes per tree channel below which NCCL runs fewer channels (``topoGetAlgoInfo``): ``nt · threshold``."""
    return float(TREE_MAX_THREADS[protocol] * THREAD_THRESHOLD[protocol])


def step_bytes(layout: Layout, protocol: str) -> float:
    """One step of a connection's buffer, ``buffSize / NCCL_STEPS``: ``NCCL_BUFFSIZE``
    (:attr:`Layout.nccl_buffsize`, 0 unset) for Simple, else the protocol's default (:data:`BUFFSIZE`)."""
    buff = layout.nccl_buffsize if protocol == "Simple" and layout.nccl_buffsize > 0 else BUFFSIZE[protocol]
    return buff / NCCL_STEPS


def tree_chunking(layout: Layout, protocol: str) -> Chunking | None:
    """How NCCL's tree all-reduce forwards its data (``src/enqueue.cc`` ``calcCollChunking``, v2.21.5–v2.30.7).

    A tree moves one step per chunk (``chunkSteps = 1``): ``buffSize / NCCL_STEPS`` — halved for LL (8-byte
    lines carry 4 data bytes), 120/128 of it for LL128 — on each of the communicator's channels, the
    search's rail channels copied by ``ncclTopoDupChannels`` and doubled by ``ncclTopoPostset`` (one copy per
    tree). LL128 shrinks the chunk with the size (``nstepsLL128 = 1 + log2i(nNodes) + 0.1·ppn``: halved
    while ``nBytes / (nChannels·chunk) < nstepsLL128·64/ppn`` down to 128 KiB, then ``< ·16/ppn`` down to 32
    KiB; :attr:`Chunking.shrink`). Simple runs the tree with ``ProtoSimple<1, 1>`` (``src/device/all_reduce.h``
    ``runTreeSplit``): every hop — the chain inside each node, up and down, and the network — forwards whole
    chunks. LL and LL128 poll a flag per line, so inside a node data flows line by line; only the network
    hops forward whole steps (the proxy sends a step once all its lines are written, ``net.cc``
    ``sendProxyProgress``). A small message runs on fewer channels (``topoGetAlgoInfo`` keeps ``nBytes ≥
    nc · nThreads · threadThreshold``: 32 KiB a channel for Simple, 4 KiB for LL, 5 KiB for LL128), so up to
    ``lanes · channel_bytes`` a channel's chunk stays about ``channel_bytes``, not S / lanes
    (:attr:`Chunking.channel_bytes`); each channel still moves at its own per-channel rate. None without a
    protocol (the textbook α–β tree) and on one node, where dpsim does not lay out NCCL's intra-node channels
    (one rail channel stands for them).
    """
    if protocol not in PROTOCOLS or layout.nodes <= 1:
        return None
    g, m = layout.per_node, layout.nodes
    lanes = 2 * channels(layout) * duplication(layout)
    net = 2 * math.ceil(math.log2(m))
    step = step_bytes(layout, protocol)
    if protocol == "Simple":
        return Chunking(step, lanes, 2 * (g - 1), net, channel_bytes=_channel_bytes("Simple"))
    if protocol == "LL":
        return Chunking(step / 2, lanes, 0, net, channel_bytes=_channel_bytes("LL"))
    ppn = float(g)
    steps = 1 + int(math.log2(m)) + 0.1 * ppn
    shrink = ((steps * 64 / ppn, 131072.0), (steps * 16 / ppn, 32768.0))
    return Chunking(step / 16 * 15, lanes, 0, net, shrink, _channel_bytes("LL128"))


def _mesh(layout: Layout) -> bool:
    return layout.intra_topology == HYBRID_CUBE_MESH and layout.per_node > 1


def local_orders(layout: Layout) -> np.ndarray:
    """(k × G) order in which each of the k channels runs through a node's local ranks, from its head.

    On a switch, channel c starts at local ``c·G/k`` and goes up in local rank (every pair is one
    port apart). On a hybrid cube mesh every hop is an NVLink: one node runs NCCL's rings
    (:func:`dpsim.sim.nvlink_mesh.nccl_rings`); across nodes channel c enters at local ``c·G/k`` and
    follows the first NVLink path through the node from there (:func:`~dpsim.sim.nvlink_mesh.hamiltonian_path`)
    to a GPU on the same NIC (NCCL's ring leaves by the NIC it entered by), else to local ``c·G/k − 1``
    as on a switch, so the channels leave by different NICs.
    """
    k, g = channels(layout), layout.per_node
    if _mesh(layout) and layout.nodes <= 1:
        return np.asarray(nccl_rings(g)[0], dtype=np.int64)
    if _mesh(layout):
        rows = []
        for c in range(k):
            start = c * g // k
            same_nic = tuple(x for x in range(g) if x != start and x * layout.nics // g == start * layout.nics // g)
            rows.append(hamiltonian_path(g, start, (*same_nic, (start - 1) % g)))
        return np.asarray(rows, dtype=np.int64)
    return np.asarray([(c * g // k + np.arange(g)) % g for c in range(k)], dtype=np.int64)


def ring_orders(layout: Layout) -> np.ndarray:
    """(k × N) rank orders of the k rings: channel c runs through every node in :func:`local_orders`' order c."""
    g, m = layout.per_node, layout.nodes
    return np.asarray([(np.arange(m)[:, None] * g + o[None, :]).ravel() for o in local_orders(layout)], np.int64)


def _ring_step_latency(op_steps: int, inter_steps: int, algorithm: str, protocol: str, layout: Layout) -> float:
    """Mean per-step latency so that ``op_steps`` steps cost NCCL's (steps − inter)·intra + inter·net."""
    intra, inter = _step_latencies_s(algorithm, protocol, layout)
    return ((op_steps - inter_steps) * intra + inter_steps * inter) / op_steps


def _shm_edges(layout: Layout, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Which ring transfers ``src → dst`` (ranks) cross an edge of a node through host memory (``layout.shm_edges``)."""
    if not layout.shm_edges:
        return np.zeros(src.shape, dtype=bool)
    g = layout.per_node
    slots = np.asarray(layout.slots, dtype=np.int64) if layout.slots else None
    s, d = (slots[src], slots[dst]) if slots is not None else (src, dst)
    edge = (s // g == d // g) & (d % g == (s + 1) % g)
    return edge & np.asarray(layout.shm_edges, dtype=bool)[s % g]


def pxn_exit(layout: Layout) -> bool:
    """Whether a channel leaves each node through the NIC it entered by, relayed by that NIC's GPU (PXN).

    NCCL's ring search (``search.cc`` ``ncclTopoCompute``, v2.19.3–v2.30.7) wants a channel to leave a node
    through the NIC it came in by (``crossNic`` 0) and widens the GPU→NIC path type (``typeInter``) up to
    ``PATH_PXN`` before it tries another NIC. With one GPU on each NIC's PCIe switch
    (``cluster.inter_node.pcie_gpus_per_nic: 1``) and a NIC for every GPU, the channel's last GPU reaches its
    first GPU's NIC only through that GPU: ``paths.cc`` (``ncclTopoComputePaths``) gives it a PXN path, NVLink
    into the NIC's GPU and PCIe from there (the sender's own path crosses the CPU), and ``net.cc`` runs the send
    from that GPU's memory. Not with ``NCCL_PXN_DISABLE=1``, without NVLink or a host link
    (:attr:`~dpsim.sim.collectives.base.Layout.pxn`), or with fewer NICs than GPUs (a GPU without a NIC of its
    own relays through its NIC's GPU already, :func:`dpsim.analytic.collectives.pxn_relays`)."""
    return (
        layout.pxn
        and layout.pcie_gpus_per_nic == 1
        and layout.nics >= layout.per_node
        and layout.per_node > 1
        and layout.nodes > 1
        and not _mesh(layout)
    )


def _pxn_legs(
    layout: Layout, src: np.ndarray, dst: np.ndarray, chan: np.ndarray, nic: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ring transfers ``src → dst`` (ranks, flat), every inter-node one split at its PXN relay (:func:`pxn_exit`).

    The relay is the sender's node's GPU on the receiver's rail (the channel entered the node there). The NVLink
    leg keeps the transfer's channel; the network leg from the relay goes out on the channel's NIC, as channel
    ``k + c``: NCCL's proxy, not the relay's kernel, sends it, so it adds no load to the relay's own (rank, channel)
    throughput (:class:`~dpsim.sim.collectives.base.Schedule` ``engine_Bps``). Returns src, dst, channel, nic.
    """
    if not pxn_exit(layout):
        return src, dst, chan, nic
    g = layout.per_node
    slots = np.asarray(layout.slots, dtype=np.int64) if layout.slots else np.arange(layout.world, dtype=np.int64)
    rank_of = np.empty_like(slots)
    rank_of[slots] = np.arange(len(slots), dtype=np.int64)
    s, d = slots[src], slots[dst]
    relay = rank_of[(s // g) * g + d % g]
    hop = (s // g != d // g) & (relay != src)
    keep = ~hop
    return (
        np.concatenate([src[keep], src[hop], relay[hop]]),
        np.concatenate([dst[keep], relay[hop], dst[hop]]),
        np.concatenate([chan[keep], chan[hop], chan[hop] + k]),
        np.concatenate([nic[keep], np.zeros(int(hop.sum()), dtype=np.int64), nic[hop]]),
    )


def _ring_graph(protocol: str, layout: Layout) -> tuple[float, float, float] | None:
    """:attr:`~dpsim.sim.collectives.base.Phase.ring_graph` of NCCL's ring on ``layout``: an LL128 ring over NVLink
    nodes (cut through inside a node, stored and forwarded across: :func:`dpsim.sim.cost.ring_wave`), as (intra-node
    step latency, the plugin's reported network latency, network hops a step of the wave crosses: ``M / (N − 1)``,
    the wave that starts on the rank before a network edge crossing ``⌈(N − 1)/G⌉ = M`` of them in a loop's ``N −
    1`` steps); None elsewhere and on an estimate layout (NCCL's tuner adds its steps)."""
    if (
        protocol != "LL128"
        or layout.nodes < 2
        or layout.per_node < 2
        or layout.intra_hw != "nvlink"
        or layout.estimate
        or _mesh(layout)
        or any(layout.shm_edges)
    ):
        return None
    intra = _step_latencies_s("ring", protocol, layout)[0]
    return intra, layout.nccl_net_latency_s, layout.nodes / (layout.world - 1)


def nccl_ring(op: str, layout: Layout, protocol: str = "Simple") -> Schedule:
    """Ring all-reduce, reduce-scatter or all-gather on k rail-aligned channels.

    Latency (``protocol`` ≠ ``none``): ``baseLat + (steps − interSteps)·intraLat +
    interSteps·interLat`` with 2(N−1) steps for all-reduce, N−1 otherwise, of which
    2(M−1) (resp. M−1) cross nodes (``ncclTopoTuneModel``); for a Simple all-reduce across
    nodes NCCL's tuner estimates it ×1.4 from its plateau size on (:func:`ring_tuner`). On a PCIe node whose ring
    edges go through host memory the receive-only step of each loop rides on those edges' transfers (module
    docstring, SHM edges); not on an estimate layout (:attr:`~dpsim.sim.collectives.base.Layout.estimate`): NCCL's
    tuner does not count it.
    """
    n = layout.world
    name = "ring"
    if n <= 1:
        return Schedule(name, n, protocol=protocol)
    orders = ring_orders(layout)
    k = len(orders)
    wire = 1.0 / bandwidth_fraction("ring", protocol, layout.nodes, layout, op)
    latency = None
    net_step = 0.0
    if protocol != "none":
        # before v2.23.4 NCCL's estimate counts 2·nNodes inter-node steps of an all-reduce, nNodes a half
        per_node_steps = op == "allreduce" and layout.nodes > 1 and layout.tables.ring_net_steps_per_node
        latency = _ring_step_latency(n - 1, layout.nodes - (0 if per_node_steps else 1), "ring", protocol, layout)
        net_step = _step_latencies_s("ring", protocol, layout)[1]
    src, dst = orders, np.roll(orders, -1, axis=1)
    chan = np.repeat(np.arange(k), n)
    net_hops = (layout.nodes - 1) / (n - 1)  # of every step: M−1 of the N−1 steps cross nodes
    fraction: float | np.ndarray = wire / (k * n)
    hops = 1.0
    shm = _shm_edges(layout, src, dst).ravel()
    if shm.any() and not layout.estimate:  # the receive-only step of each loop reads host memory (docstring, SHM)
        ring_steps = 2 * (n - 1) if op == "allreduce" else n - 1
        more = (ring_steps + 1) / ring_steps
        fraction = np.where(shm, more * fraction, fraction)  # PCIe nodes: no PXN relay splits the edges below
        if latency is None:
            hops = more
        else:
            latency *= more
    legs = _pxn_legs(layout, src.ravel(), dst.ravel(), chan, nic_slots(layout, k)[chan], k)
    one = Phase.of(
        legs[0], legs[1], fraction, repeat=n - 1, hops=hops, latency_s=latency, channel=legs[2], net_hops=net_hops,
        net_step_s=net_step, nic=legs[3], ring_graph=_ring_graph(protocol, layout),
    )  # fmt: skip
    phases: tuple[Phase, ...] = (one, one) if op == "allreduce" else (one,)
    engine = _engine(name, protocol, layout, wire)
    tuner = modelled(ring_tuner(op, protocol, layout), op, "ring", protocol, layout)
    return Schedule(name, n, phases, base_latency_s(name, protocol, layout), protocol, engine_Bps=engine, tuner=tuner)


def btree_parent(nranks: int, rank: int) -> int:
    """Parent of ``rank`` in NCCL's binary tree on ``nranks`` (``ncclGetBtree``; −1 for the root 0)."""
    if rank == 0:
        return -1
    bit = 1
    while bit < nranks and not bit & rank:
        bit <<= 1
    up = (rank ^ bit) | (bit << 1)
    return rank ^ bit if up >= nranks else up


def dtree_parents(nranks: int) -> tuple[np.ndarray, np.ndarray]:
    """Parents in NCCL's double binary tree (``ncclGetDtree``): the btree, and its mirror or shift."""
    first = np.array([btree_parent(nranks, r) for r in range(nranks)], dtype=np.int64)
    second = np.empty(nranks, dtype=np.int64)
    for r in range(nranks):
        if nranks % 2:
            u = btree_parent(nranks, (r - 1 + nranks) % nranks)
            second[r] = -1 if u == -1 else (u + 1) % nranks
        else:
            u = btree_parent(nranks, nranks - 1 - r)
            second[r] = -1 if u == -1 else nranks - 1 - u
    return first, second


def dtree_forks(nranks: int) -> bool:
    """Whether a node of NCCL's double binary tree on ``nranks`` has two children in one of the trees.

    ``ncclGetDtree``: on 2 nodes each tree is one edge, on 3 both are chains (0 ← 2 ← 1 and its shift);
    from 4 on, tree 0 gives node 2 the children 1 and 3. Only such a node's head, in NCCL's ``TREE`` pattern,
    reduces its own data with both network children and the chain (``runTreeSplit``).
    """
    if nranks < 3:
        return False
    return any(int(np.bincount(p[p >= 0], minlength=nranks).max()) >= 2 for p in dtree_parents(nranks))


def dtree_stages(nranks: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The step at which each node's edge to its parent carries the first chunk, per tree of ``ncclGetDtree``:
    (up, down), indexed by the child (−1: the root).

    ``runTreeSplit`` (``src/device/all_reduce.h`` v2.30.7: the Simple tree of every build but CUDA 11.2–11.3 on
    sm_80, which runs ``runTreeUpDown``, a channel's whole reduce before its broadcast; LL and LL128 always) gives
    each channel's reduce and broadcast their own warps. A node sends a chunk up once it has reduced it with every
    child's (``directRecvReduceDirectSend``), so its edge carries the first chunk at the node's height (leaves 0);
    the root turns it round (``directRecvReduceCopyDirectSend``) and a node forwards it to all its children at once
    (``directRecvCopyDirectSend``), so the edge below a parent at depth d carries it at ``H + d`` (``H`` the root's
    height). The two trees (two channels each rail) start together.
    """
    out = []
    for parents in dtree_parents(nranks):
        height = np.zeros(nranks, dtype=np.int64)
        depth = np.zeros(nranks, dtype=np.int64)
        for r in range(nranks):  # a chain to the root is at most nranks long
            up, d = r, 0
            while parents[up] >= 0:
                up, d = int(parents[up]), d + 1
                height[up] = max(height[up], d)
            depth[r] = d
        root_height = int(height[parents < 0].max())
        down = np.where(parents >= 0, root_height + depth[np.maximum(parents, 0)], -1)
        out.append((np.where(parents >= 0, height, -1), down))
    return tuple(out)


def _tree_edges(layout: Layout, fraction: float, locals_: list[int]) -> tuple[list[np.ndarray], ...]:
    """Child→parent edges of the double binary tree over nodes on each rail in ``locals_`` (S·fraction per tree)."""
    g, m = layout.per_node, layout.nodes
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    frac: list[np.ndarray] = []
    if m <= 1:
        return src, dst, frac
    for parents in dtree_parents(m):
        child = np.flatnonzero(parents >= 0)
        for local in locals_:
            src.append(child * g + local)
            dst.append(parents[child] * g + local)
            frac.append(np.full(len(child), fraction))
    return src, dst, frac


def nccl_tree(layout: Layout, protocol: str = "Simple") -> Schedule:
    """All-reduce on k channels of (chain in each node + double binary tree across nodes), pipelined.

    Channel c's chain starts at local rank ``c·G/k`` (its head, on that rank's NIC) and
    runs through the node; the heads of all nodes form the two trees, each on S/(2k).
    Reduce and broadcast stream at once, so every edge carries its share both ways in one
    phase. NCCL latency: ``baseLat + 2·((G−1)·intraLat + ⌊log2 M⌋·interLat)``; without a
    protocol the first byte crosses 2·((G−1) + ⌈log2 M⌉) hops. NCCL's tuner estimates the
    bandwidth with its size correction of the tree (:data:`TREE_CORRECTION`, :func:`tree_tuner`).

    NCCL's ``TREE``-pattern ×0.85 (:data:`TREE_PATTERN_EFFICIENCY`) is always in the estimate, and in
    the time (wire bytes and per-channel cap) only where a head has two network children
    (:func:`dtree_forks`): on 2 and 3 nodes the ``TREE`` and balanced patterns run the same reduces.

    Simple's per-channel cap (``nChannels · perChMaxTreeBw``) is NCCL's estimate's
    (:attr:`TunerCorrection.ceiling_Bps`) and the rate of a chunk crossing a hop alone in the fill
    (:attr:`Chunking.hop_Bps`), not a bound on the stream (see the module docstring); LL and LL128
    keep theirs as ``engine_Bps``.

    Each network transfer carries the step of the first chunk's path at which it forwards it
    (:attr:`Phase.stage`, :func:`dtree_stages`): the pipeline's fill shares a step's links among its transfers.
    """
    n, g, m = layout.world, layout.per_node, layout.nodes
    name = "tree"
    if n <= 1:
        return Schedule(name, n, protocol=protocol)
    orders = local_orders(layout)
    k = len(orders)
    estimate = TREE_PATTERN_EFFICIENCY if protocol != "none" and layout.tree_pattern == "tree" else 1.0
    pattern = estimate if dtree_forks(m) else 1.0
    wire = 1.0 / (bandwidth_fraction("tree", protocol, m) * pattern)
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    frac: list[np.ndarray] = []
    chan: list[np.ndarray] = []
    up_stage: list[np.ndarray] = []
    down_stage: list[np.ndarray] = []
    stages = dtree_stages(m) if m > 1 else ()
    for c, order in enumerate(orders):
        head = int(order[0])
        if g > 1:  # the chain, both trees' halves: S/k per edge
            child = (np.arange(m)[:, None] * g + order[None, 1:]).ravel()
            parent = (np.arange(m)[:, None] * g + order[None, :-1]).ravel()
            src.append(child)
            dst.append(parent)
            frac.append(np.full(len(child), 1.0 / k))
            chan.append(np.full(len(child), c))
            up_stage.append(np.full(len(child), -1))
            down_stage.append(np.full(len(child), -1))
        s, d, f = _tree_edges(layout, 0.5 / k, [head])
        src += s
        dst += d
        frac += f
        chan += [np.full(len(x), c) for x in s]
        for up, down in stages:  # _tree_edges' order: each tree's children
            up_stage.append(up[up >= 0])
            down_stage.append(down[down >= 0])
    up_src, up_dst = np.concatenate(src), np.concatenate(dst)
    up_frac, up_chan = np.concatenate(frac) * wire, np.concatenate(chan)
    depth = (g - 1) + (math.ceil(math.log2(m)) if m > 1 else 0)
    latency = None
    inter = 0.0
    net_hops = 2 * (int(math.log2(m)) if m > 1 else 0)
    if protocol != "none":
        intra, inter = _step_latencies_s("tree", protocol, layout)
        latency = 2 * (g - 1) * intra + net_hops * inter
    phase = Phase.of(
        np.concatenate([up_src, up_dst]),
        np.concatenate([up_dst, up_src]),
        np.concatenate([up_frac, up_frac]),
        hops=2 * depth,
        latency_s=latency,
        channel=np.concatenate([up_chan, up_chan]),
        net_hops=net_hops,
        net_step_s=inter,
        nic=nic_slots(layout, k)[np.concatenate([up_chan, up_chan])],
        stage=np.concatenate(up_stage + down_stage),
    )
    sent = np.bincount(phase.src * k + phase.channel, weights=phase.fraction) / wire
    engine = _engine(name, protocol, layout, wire, float(sent.max()) * k / 2.0) * pattern
    chunking = tree_chunking(layout, protocol)
    tuner = tree_tuner(protocol, layout, estimate / pattern)
    if protocol == "Simple" and engine > 0:  # the cap: NCCL's estimate and a lone chunk's hop, not the stream
        chunking = None if chunking is None else dataclasses.replace(chunking, hop_Bps=engine)
        cap = k * channel_cap_Bps(name, protocol, layout) * pattern / 2.0  # nChannels·perChMaxTreeBw, algBw = busBw/2
        tuner = dataclasses.replace(tuner, ceiling_Bps=cap)
        engine = 0.0
    return Schedule(
        name, n, (phase,), base_latency_s(name, protocol, layout), protocol, pipelined=True, engine_Bps=engine,
        tuner=modelled(tuner, "allreduce", name, protocol, layout), chunking=chunking,
    )  # fmt: skip


MAX_NVLS_ARITY = 32
"""``NCCL_MAX_NVLS_ARITY`` (``src/include/device.h``: 32 from v2.21.5, 8 before): the most NVLS heads a node's NVLS
graph holds (``search.cc`` from v2.25.1 to v2.30.7: ``maxChannels = min(NCCL_MAX_NVLS_ARITY, nGPUs)``; one node
forces ``minChannels = maxChannels``). It binds only above 32 GPUs on one NVLink domain (GB200 NVL72)."""


def nvls_head_ranks(layout: Layout, heads: int) -> np.ndarray:
    """Local ranks of a node's ``heads`` NVLS heads: one per channel, channel ``c`` on local rank ``⌊c·G/heads⌋``."""
    return (np.arange(heads) * layout.per_node) // heads


def _nvls_pairs(layout: Layout, heads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All ordered GPU pairs of every node, and per-pair fractions that put S/eff on every port, (1 + 1/H)·S/eff on
    each of the ``heads`` (H) heads' ports.

    ``runNvls``/``runNvlsTree`` (``src/device/all_reduce.h``): the input is cut into H chunks a loop, and head h
    reduces chunk h with ``multimem.ld_reduce`` — the switch reads that chunk from every GPU, S through each port
    over all chunks — and multicasts the result with ``multimem.st``, S into each port. The head's own port also
    carries its reduced chunk in and out, S/H each way. With a head on every GPU (H = G, up to
    :data:`MAX_NVLS_ARITY` GPUs) each port carries (1 + 1/G)·S, the load NCCL's NVLS search reserves
    (``ncclTopoSearchTryNvls``: twice the channel's speed on the head's links, once on every other GPU's).
    """
    g, m = layout.per_node, layout.nodes
    a, b = np.divmod(np.arange(g * g), g)
    keep = a != b
    a, b = a[keep], b[keep]
    base = (np.arange(m) * g)[:, None]
    src = (base + a[None, :]).ravel()
    dst = (base + b[None, :]).ravel()
    is_head = np.zeros(g, dtype=bool)
    is_head[nvls_head_ranks(layout, heads)] = True
    pair = np.full(len(a), 1.0 / (g - 1))
    if heads >= 2:  # the heads' reduced chunks, spread over the other heads' ports
        pair += np.where(is_head[a] & is_head[b], 1.0 / (heads * (heads - 1)), 0.0)
    else:  # one head: its chunk (all of S) to and from every other GPU
        pair += np.where(is_head[a] | is_head[b], 1.0 / (g - 1), 0.0)
    return src, dst, np.tile(pair, m) / nvls_shares(layout, heads)[0]


def nvls_allreduce(layout: Layout, protocol: str = "Simple") -> Schedule:
    """NVLS all-reduce on one node: in-switch reduce-scatter and multicast all-gather, pipelined, cut as NCCL cuts
    it (:func:`nvls_chunking`: the first loop crosses ``runNvls``'s scatter, switch and gather before the stream).

    NCCL latency: ``hwLat[NVLINK][NVLS][Simple]`` = 25 µs (``ncclTopoTuneModel`` sets, not
    adds, the NVLS latency). Simple protocol only.
    """
    n = layout.world
    if n <= 1 or layout.per_node <= 1:
        return Schedule("nvls", n, protocol=protocol)
    heads = min(layout.per_node, MAX_NVLS_ARITY)
    src, dst, f = _nvls_pairs(layout, heads)
    latency = None if protocol == "none" else _step_latencies_s("nvls", protocol, layout)[0]
    base = base_latency_s("nvls", protocol, layout)  # 23 µs in v2.18.3-v2.18.6, 0 from v2.19.1
    chunking = nvls_chunking(layout, heads) if protocol == "Simple" else None
    phase = Phase.of(src, dst, f, latency_s=latency)
    return Schedule("nvls", n, (phase,), base, protocol, pipelined=True, chunking=chunking)


def nvls_tree_allreduce(layout: Layout, protocol: str = "Simple") -> Schedule:
    """NVLS inside nodes + one double binary tree per head's rail across nodes on S/H, all pipelined in one phase.

    NCCL latency: ``intraLat + 2·⌊log2 M⌋·interLat`` with the NVLS-tree constants. NCCL's
    per-channel cap (``perChMaxNVLSTreeBws``) bounds the bus bandwidth at ``k·cap`` over the
    k = :func:`channels` heads; as one resource per rank that sends X·S in the phase, the
    rank may send at ``X · k·cap · N / (2(N−1))`` (bus bandwidth = 2(N−1)/N · S / t).
    """
    n, g, m = layout.world, layout.per_node, layout.nodes
    if n <= 1 or g <= 1 or m <= 1:
        return Schedule("nvls-tree", n, protocol=protocol)
    heads = nvls_heads(layout)
    src, dst, f = _nvls_pairs(layout, heads)
    head_ranks = nvls_head_ranks(layout, heads).tolist()
    s, d, fr = _tree_edges(layout, 0.5 / heads / nvls_shares(layout, heads)[1], head_ranks)
    up_s, up_d, up_f = np.concatenate(s), np.concatenate(d), np.concatenate(fr)
    up_stage = np.concatenate([up[up >= 0] for up, _ in dtree_stages(m) for _ in head_ranks])
    down_stage = np.concatenate([down[down >= 0] for _, down in dtree_stages(m) for _ in head_ranks])
    latency = None
    inter = 0.0
    if protocol != "none":
        intra, inter = _step_latencies_s("nvls-tree", protocol, layout)
        # v2.18.3-v2.18.6: baseLat + 2(M−1)·hwLat[NET] (intra 0), v2.19.1 on: intraLat + 2·log2i(M)·interLat
        latency = intra + (2 * (m - 1) if layout.tables.nvls_bw_by_nodes else 2 * int(math.log2(m))) * inter
    phase = Phase.of(
        np.concatenate([src, up_s, up_d]),
        np.concatenate([dst, up_d, up_s]),
        np.concatenate([f, up_f, up_f]),
        hops=1 + 2 * math.ceil(math.log2(m)),
        latency_s=latency,
        net_hops=2 * int(math.log2(m)),
        net_step_s=inter,
        stage=np.concatenate([np.full(len(src), -1), up_stage, down_stage]),
    )
    cap = channel_cap_Bps("nvls-tree", protocol, layout)
    engine = 0.0
    if not math.isinf(cap):
        busiest = float(np.bincount(phase.src, weights=phase.fraction).max())
        engine = busiest * nvls_heads(layout) * cap * n / (2 * (n - 1))
    tuner = TunerCorrection(net_latency_s=net_latency_s(protocol, 2 * int(math.log2(m)), layout))
    tuner = modelled(tuner, "allreduce", "nvls-tree", protocol, layout)
    base = base_latency_s("nvls-tree", protocol, layout)  # 23 µs in v2.18.3-v2.18.6, 0 from v2.19.1
    chunking = nvls_tree_chunking(layout, heads, m) if protocol == "Simple" else None
    return Schedule(
        "nvls-tree", n, (phase,), base, protocol, pipelined=True, engine_Bps=engine, tuner=tuner, chunking=chunking
    )


NVLS_CHUNK = 128 * 1024
"""``comm->nvlsChunkSize`` (``src/transport/nvls.cc`` v2.21.5–v2.30.7: ``NCCL_NVLS_CHUNKSIZE``, default 128 KiB)."""

SIMPLE_GRAIN = 512
"""``ncclProtoGrainSize(NCCL_PROTO_SIMPLE)`` (``src/include/device.h`` v2.22.3–v2.30.7): the bytes
``calcCollChunking`` aligns a Simple chunk down to (:attr:`dpsim.sim.collectives.base.Chunking.grain`)."""

NVLS_TREE_RELEASES = {
    "sm100_channels": "2.25.1",
    "nvls_chunk": "2.21.5",
    "four_node_cap": "2.19.3",
    "tree_max_env": "2.20.3",
    "grain": "2.22.3",
    "sm100": "2.30.3",
    "sm100_nvl": "2.27.3",
}
"""The releases that changed how NCCL cuts an NVLS-tree all-reduce (:func:`nvls_tree_params`): ``NVLS_NCHANNELS_SM100``
32 for Blackwell (``nvls.cc``, v2.25.1; every GPU took ``NCCL_NVLS_NCHANNELS``' 16 before), ``calcCollChunking``
starting from ``nvlsChunkSize`` (v2.21.5: ``NCCL_PARAM(NvlsChunkSize, "NVLS_CHUNKSIZE", 128*1024)`` in ``nvls.cc``; a
Simple step, ``buffSize / NCCL_STEPS``, before), the 64 KiB cap on 4 nodes or more (v2.19.3: ``if (nNodes >= 4)
chunkSize = 65536``; none in v2.18.3–v2.19.1), ``NCCL_NVLSTREE_MAX_CHUNKSIZE`` replacing that cap (v2.20.3:
``NCCL_PARAM(NvlsTreeChunkSize, "NVLSTREE_MAX_CHUNKSIZE", -2)`` in ``enqueue.cc``, -2 keeping the rule), the chunk
aligned down to :data:`SIMPLE_GRAIN` after the size rule (v2.22.3: ``chunkSize / grainSize * grainSize``; only a set
``NCCL_NVLS_CHUNKSIZE`` / ``NCCL_NVLSTREE_MAX_CHUNKSIZE`` can be off the grain) and ``ncclNvlsTreeSm100Tuning``
(v2.30.3: Blackwell across nodes); and the one-node channels: ``NVLS_NCHANNELS_SM100_NVL`` 24 for Blackwell inside
one NVLink domain (v2.27.3, :func:`nvls_channels`)."""

NVLS_ENV = {"nccl_nvls_chunksize": "nvls_chunk", "nccl_nvlstree_max_chunksize": "tree_max_env"}
"""Each ``communication`` field that sets an NVLS environment variable, and the :data:`NVLS_TREE_RELEASES` key of the
first release that reads it (``scenario`` refuses it on an earlier ``nccl_version``)."""


def _since(layout: Layout, key: str) -> bool:
    return released(layout.nccl_version, NVLS_TREE_RELEASES[key])


def _env_nvls_chunk(layout: Layout) -> float:
    """``NCCL_NVLS_CHUNKSIZE`` as the run's release reads it (from v2.21.5): :attr:`Layout.nccl_nvls_chunksize`, 0
    unset or not read."""
    return float(layout.nccl_nvls_chunksize) if _since(layout, "nvls_chunk") else 0.0


def _grain(layout: Layout) -> float:
    """The grain ``calcCollChunking`` aligns an NVLS chunk down to: :data:`SIMPLE_GRAIN` from v2.22.3, else 0."""
    return float(SIMPLE_GRAIN) if _since(layout, "grain") else 0.0


def nvls_channels(layout: Layout) -> int:
    """``comm->nvlsChannels`` with ``NCCL_NVLS_NCHANNELS`` unset (``src/transport/nvls.cc``): 16
    (``NVLS_NCHANNELS_SM90``, every GPU before v2.25.1), 32 on Blackwell from v2.25.1 (``NVLS_NCHANNELS_SM100``), 24 on
    Blackwell inside one NVLink domain from v2.27.3 (``NVLS_NCHANNELS_SM100_NVL``, ``nNodes == 1``). ``topoGetAlgoInfo``
    runs NVLS and NVLS-tree on all of them at every size ("NVLS should not need more than 16 channels")."""
    if layout.arch != "blackwell" or not _since(layout, "sm100_channels"):
        return 16
    return 24 if layout.nodes == 1 and _since(layout, "sm100_nvl") else 32


def _nvls_tree_sm100(layout: Layout) -> tuple[int, float, float]:
    """``ncclNvlsTreeSm100Tuning`` (``src/transport/nvls.cc`` v2.30.3–v2.30.7): (``nChannels``, ``chunkSize``,
    ``treeMaxChunkSize``; 0: not set) for Blackwell on several nodes, from the node count, GPUs a node
    (``minLocalRanks``), the slowest NIC's rate as NCCL reads it (``minNetBw``, GB/s: :attr:`Layout.nic_gbps`) and the
    NVLS graph's GPU-to-NIC path (``typeInter``: ``P2C`` through the CPU over NVLink-C2C, :attr:`Layout.nic_c2c`;
    dpsim takes any other NIC to be within ``PXB`` of its head, on a PCIe switch with it)."""
    nic, ppn, pxb = layout.nic_gbps, layout.per_node, not layout.nic_c2c
    channels, chunk, tree_max = 32, 131072.0, 0.0
    if layout.nodes == 2 and nic >= 48.0:
        tree_max = 131072.0
        if ppn <= 4:
            chunk = tree_max = 262144.0
        elif ppn >= 16 or (ppn <= 8 and pxb and nic < 96.0):
            tree_max = 65536.0
    elif nic >= 96.0:
        if ppn <= 8:
            channels, chunk, tree_max = 24, 262144.0, 262144.0
        else:
            tree_max = 131072.0 if ppn < 32 else 65536.0
    elif nic >= 48.0:
        channels, tree_max = 24, 65536.0 if pxb else 131072.0
    return channels, chunk, tree_max


def nvls_tree_params(layout: Layout) -> tuple[int, float, float]:
    """NCCL's NVLS-tree all-reduce cut on ``layout.nccl_version`` (:data:`NVLS_TREE_RELEASES`): ``nvlsChannels``, the
    chunk ``calcCollChunking`` starts from and the most it allows (``NCCL_NVLS_NCHANNELS`` unset;
    ``NCCL_NVLS_CHUNKSIZE`` and ``NCCL_NVLSTREE_MAX_CHUNKSIZE`` from :attr:`Layout.nccl_nvls_chunksize` and
    :attr:`Layout.nccl_nvlstree_max_chunksize`, 0 unset).

    Channels: 16 (``NVLS_NCHANNELS_SM90``, and every GPU before v2.25.1), 32 on Blackwell from v2.25.1
    (``NVLS_NCHANNELS_SM100``; 24 from v2.27.3 on one node, where NVLS-tree does not run). Chunk: ``nvlsChunkSize``
    (``NCCL_NVLS_CHUNKSIZE``, default 128 KiB) from v2.21.5, one Simple step (``buffSize / NCCL_STEPS``: 512 KiB at
    NCCL's 4 MiB) before. Cap: ``NCCL_NVLSTREE_MAX_CHUNKSIZE`` where set (read from v2.20.3), else 64 KiB on 4 nodes
    or more from v2.19.3, else the chunk. From v2.30.3 Blackwell on several nodes takes all three from
    ``ncclNvlsTreeSm100Tuning`` (:func:`_nvls_tree_sm100`); there ``ncclNvlsTuning`` lets a set ``NCCL_NVLS_CHUNKSIZE``
    replace the tuned chunk and a set ``NCCL_NVLSTREE_MAX_CHUNKSIZE`` the tuned cap, and the cap falls back to the
    4-node rule where neither sets one.
    """
    blackwell = layout.arch == "blackwell"
    channels = nvls_channels(layout)
    env_chunk = _env_nvls_chunk(layout)
    chunk = (env_chunk or float(NVLS_CHUNK)) if _since(layout, "nvls_chunk") else step_bytes(layout, "Simple")
    tree_max = 0.0
    if blackwell and layout.nodes > 1 and _since(layout, "sm100"):
        channels, tuned, tree_max = _nvls_tree_sm100(layout)
        chunk = env_chunk or tuned
    env_max = float(layout.nccl_nvlstree_max_chunksize) if _since(layout, "tree_max_env") else 0.0
    if env_max > 0.0:
        tree_max = env_max
    elif tree_max == 0.0:
        tree_max = 65536.0 if layout.nodes >= 4 and _since(layout, "four_node_cap") else chunk
    return channels, chunk, tree_max


def nvls_tree_chunking(layout: Layout, heads: int, nodes: int) -> Chunking | None:
    """How NCCL's NVLS-tree all-reduce cuts its data (``src/enqueue.cc`` ``calcCollChunking``, v2.18.3–v2.30.7).

    Each of ``nvlsChannels · nHeads`` lanes (``concurrentOps``) moves chunks of ``min(chunk, cap)``
    (:func:`nvls_tree_params`), set to 256 / 128 / 64 / 32 KiB where larger while ``nBytes < 32 / 16 / 4 / 1 ×
    concurrentOps · chunk``, then aligned down to :data:`SIMPLE_GRAIN` from v2.22.3. ``runNvlsTree``
    (``src/device/all_reduce.h``) hands each chunk from warps to warps through ``ProtoSimple<1, 1>`` connections,
    one whole chunk a step: the heads reduce it through the switch (``multimem.ld_reduce``), send it up the tree, the
    root sends it down, and the heads multicast it (``multimem.st``), every channel's lanes at once — so the first
    chunk crosses the node's NVLS twice, each time with every lane's chunk together (:attr:`Chunking.intra_together`),
    and the tree's network hops step by step (:attr:`Phase.stage`: channel ``c`` runs tree ``c % 2``, ``connect.cc``
    ``connectNvls``, so both trees' first chunks start together). None where NCCL has no NVLS (no GPU generation).
    """
    if layout.arch not in ("hopper", "blackwell"):
        return None
    channels, chunk, tree_max = nvls_tree_params(layout)
    shrink = ((32.0, 262144.0), (16.0, 131072.0), (4.0, 65536.0), (1.0, 32768.0))
    return Chunking(
        min(chunk, tree_max),
        channels * heads,
        2,
        2 * math.ceil(math.log2(nodes)),
        shrink,
        shrink_to=True,
        intra_together=True,
        grain=_grain(layout),
    )


NVLS_SHRINK = ((64.0, 65536.0), (8.0, 32768.0), (2.0, 16384.0))
"""``calcCollChunking``'s one-node NVLS size rule (v2.18.3–v2.30.7): ``if (nBytes < ratio · concurrentOps · chunkSize
&& chunkSize > floor) chunkSize = floor`` for each (ratio, floor) in turn."""


def nvls_chunking(layout: Layout, heads: int) -> Chunking | None:
    """How NCCL cuts a one-node NVLS all-reduce (``src/enqueue.cc`` ``calcCollChunking``, v2.18.3–v2.30.7), and the
    pipeline its chunks cross (``src/device/all_reduce.h`` ``runNvls``, ``oneNode``).

    Chunk: one Simple step (``buffSize / NCCL_STEPS``, 512 KiB at NCCL's 4 MiB), at most 128 KiB (``maxChunkSize =
    131072`` to v2.20.5; ``comm->nvlsChunkSize`` from v2.21.5: ``NCCL_NVLS_CHUNKSIZE``, default 128 KiB, capping a
    smaller step too), set to 64 / 32 / 16 KiB where larger while ``nBytes < 64 / 8 / 2 × concurrentOps · chunk``
    (:data:`NVLS_SHRINK`), over ``concurrentOps`` = :func:`nvls_channels` × ``heads`` lanes, then aligned down to
    :data:`SIMPLE_GRAIN` from v2.22.3. ``runNvls`` moves each
    channel's loop of ``heads`` chunks through three warp groups joined by ``ProtoSimple<1, 1>`` connections, one
    whole loop (scatter, gather) or chunk (reduce) a step: the scatter warps copy the loop into the NVLS buffer's
    unicast side (local memory; ``ScatterGatherOp`` posts once every head's chunk is written), the head's reduce
    warps ``multimem.ld_reduce`` its chunk from every GPU and ``multimem.st`` the sum to all of them in one pass
    (``directRecvDirectSend``), and the gather warps copy the loop out. So the first loop crosses three stages
    before the stream, each moving one loop of every lane at once (:attr:`Chunking.intra_together`). dpsim prices
    the two local copies at the in-switch stage's own rate: no source gives a CTA's copy rate, and a stage cannot
    be slower than the pipeline's steady state, so the fill is the most these stages can add (two loops at the
    stream's rate). None where NCCL has no NVLS (no GPU generation)."""
    if layout.arch not in ("hopper", "blackwell"):
        return None
    chunk = min(step_bytes(layout, "Simple"), _env_nvls_chunk(layout) or float(NVLS_CHUNK))
    return Chunking(
        chunk,
        nvls_channels(layout) * heads,
        3,
        0,
        NVLS_SHRINK,
        shrink_to=True,
        intra_together=True,
        grain=_grain(layout),
    )


def nccl_broadcast(layout: Layout, protocol: str = "Simple") -> Schedule:
    """Pipelined ring broadcast from rank 0 on k channels: every ring edge but the last carries S/k.

    NCCL latency: ``baseLat + N·lat`` (``ncclTopoTuneModel``, broadcast on rings whose
    channels differ, with the tree's per-step latency for Simple).
    """
    n = layout.world
    if n <= 1:
        return Schedule("ring", n, protocol=protocol)
    orders = ring_orders(layout)
    k = len(orders)
    root = np.argmax(orders == 0, axis=1)
    rows = np.stack([np.roll(row, -int(r)) for row, r in zip(orders, root, strict=True)])
    wire = 1.0 / bandwidth_fraction("ring", protocol, layout.nodes, layout, "broadcast")
    latency = None
    step = 0.0
    if protocol != "none":
        hw = "net" if layout.nodes > 1 else layout.intra_hw
        step = step_latency_us(hw, "tree" if protocol == "Simple" else "ring", protocol, layout) * 1e-6
        latency = n * step
    chan = np.repeat(np.arange(k), n - 1)
    legs = _pxn_legs(layout, rows[:, :-1].ravel(), rows[:, 1:].ravel(), chan, nic_slots(layout, k)[chan], k)
    phase = Phase.of(
        legs[0],
        legs[1],
        wire / k,
        hops=n - 1,
        latency_s=latency,
        channel=legs[2],
        net_hops=layout.nodes - 1,  # the chain crosses nodes M−1 times
        net_step_s=step,
        nic=legs[3],
    )
    engine = _engine("ring", protocol, layout, wire)
    return Schedule(
        "ring", n, (phase,), base_latency_s("ring", protocol, layout), protocol, pipelined=True, engine_Bps=engine
    )
