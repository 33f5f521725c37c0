"""Collective algorithms as schedules, one module per algorithm, and a registry by scenario name.

:func:`build` gives the schedule of one collective (``op``: all-reduce, reduce-scatter,
all-gather, broadcast) with one algorithm and protocol over a node :class:`Layout`;
:func:`candidates` lists what ``algorithm: auto`` / ``protocol: auto`` choose between
(NCCL's tuner: :mod:`dpsim.sim.collectives.nccl`). Every evaluator — the analytic engine,
the fast level and the chunk level — prices these same schedules.

NCCL's algorithms (``ring``, ``tree``, ``nvls``, ``nvls-tree``) run rail-aligned on
several channels; with ``protocol: none`` they pay the links' α instead of NCCL's
per-protocol latencies (the textbook α–β setting, gloo on CPUs). The textbook
algorithms (``halving-doubling``, ``direct``, ``parameter-server``, ``hierarchical``)
have no NCCL protocol; ``backend`` is gloo's own all-reduce, one ring over the ranks.
Reduce-scatter and all-gather run as NCCL's ring (two-level for
``hierarchical``); broadcast as NCCL's pipelined ring, or without a protocol as gloo's
binomial tree (``dist.broadcast`` on CPUs, whole-buffer sends in doubling rounds); reduce as NCCL's ring
broadcast run backwards (the binomial tree reversed without a protocol). All-to-all, send/receive, gather and
scatter are NCCL's grouped ncclSend/ncclRecv (``p2p``, whatever the algorithm: :mod:`dpsim.sim.collectives.p2p`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from dpsim.errors import ScenarioError
from dpsim.sim.collectives.base import Layout, Phase, Schedule
from dpsim.sim.collectives.broadcast import broadcast, send
from dpsim.sim.collectives.direct import direct_allreduce
from dpsim.sim.collectives.halving_doubling import halving_doubling_allreduce
from dpsim.sim.collectives.hierarchical import (
    hierarchical_all_gather,
    hierarchical_allreduce,
    hierarchical_reduce_scatter,
)
from dpsim.sim.collectives.nccl import (
    NCCL_ALGORITHMS,
    PROTOCOLS,
    local_orders,
    nccl_broadcast,
    nccl_ring,
    nccl_tree,
    nvls_allreduce,
    nvls_tree_allreduce,
)
from dpsim.sim.collectives.p2p import (
    P2P,
    P2P_OPS,
    nccl_alltoall,
    nccl_gather,
    nccl_reduce,
    nccl_sendrecv,
    p2p_protocols,
)
from dpsim.sim.collectives.parameter_server import parameter_server_allreduce

__all__ = [
    "ALGORITHMS",
    "ALLREDUCE",
    "OPS",
    "PROTOCOL_CHOICES",
    "RANK_ORDERED",
    "Layout",
    "Phase",
    "Schedule",
    "all_gather",
    "allreduce",
    "broadcast",
    "build",
    "candidate_pairs",
    "candidates",
    "estimated_apart",
    "estimates",
    "gloo_ring_layout",
    "reduce_scatter",
    "send",
]

OPS = ("allreduce", "reduce_scatter", "all_gather", "broadcast", "reduce", "alltoall", "sendrecv", "gather", "scatter")
"""Collectives by the names the engines and ``dpsim collective --op`` use (all-to-all and send/receive: NCCL's
grouped point-to-point operations, :mod:`dpsim.sim.collectives.p2p`)."""

TEXTBOOK = ("halving-doubling", "hierarchical", "direct", "parameter-server", "backend")
ALGORITHMS = ("auto", *NCCL_ALGORITHMS, *TEXTBOOK)
"""All-reduce algorithms a scenario can name (``communication.algorithm``)."""
PROTOCOL_CHOICES = ("auto", *PROTOCOLS, "none")
"""``communication.protocol``: NCCL's protocols, ``auto`` (the tuner's pick) or ``none`` (links' α–β)."""

Builder = Callable[[int, int], Schedule]


def _layout(world: int, per_node: int) -> Layout:
    per_node = max(1, min(per_node, world)) if world > 0 else 1
    if world % per_node:
        raise ValueError(f"{world} ranks do not fill nodes of {per_node}")
    return Layout(max(1, world // per_node), per_node)


def _legacy(name: str) -> Builder:
    def builder(world: int, per_node: int = 1) -> Schedule:
        return build("allreduce", name, _layout(world, per_node))

    return builder


ALLREDUCE: dict[str, Builder] = {name: _legacy(name) for name in ALGORITHMS if name != "auto"}
"""All-reduce builders ``(world, per_node)`` by name, without a protocol (α–β on the links)."""


def _nvls_variant(algorithm: str, layout: Layout) -> str:
    if not layout.nvls:
        raise ScenarioError(
            "communication.algorithm",
            f"{algorithm} needs an NVLink-SHARP node switch (H100-class NVSwitch: nvlink4/nvlink5) and 2+ GPUs a node",
        )
    return "nvls" if layout.nodes == 1 else "nvls-tree"


RANK_ORDERED = ("backend", "halving-doubling", "direct", "parameter-server")
"""All-reduce algorithms whose pattern follows the rank numbers (gloo's ring, MPI's textbook
algorithms), so the rank order decides which pairs cross nodes. NCCL builds its rings and
trees from the topology — GPUs by node, rails by NIC (``src/graph/search.cc``,
``connect.cc``), whatever the ranks' numbers — as does the two-level ``hierarchical``."""


def build(op: str, algorithm: str, layout: Layout, protocol: str = "none") -> Schedule:
    """The schedule of ``op`` with one concrete ``algorithm`` and ``protocol`` over ``layout``.

    Endpoints are ranks. Topology-aware schedules are laid out on GPU slots and renamed to
    the ranks that run there (``layout.slots``, the scenario's ``cluster.rank_order``);
    rank-ordered ones (:data:`RANK_ORDERED`, the textbook broadcast) keep their rank pattern,
    and the cluster routes each rank from its slot.
    """
    schedule = _build(op, algorithm, layout, protocol)
    if not layout.slots:
        return schedule
    textbook = algorithm in TEXTBOOK or protocol == "none"
    gloo = algorithm == "backend" and op in ("reduce_scatter", "all_gather")  # gloo's ring, as its all-reduce
    if (op == "allreduce" and algorithm in RANK_ORDERED) or (op in ("broadcast", "reduce") and textbook) or gloo:
        return schedule
    rank_of_slot = np.empty(layout.world + 1, dtype=np.int64)
    rank_of_slot[np.asarray(layout.slots, dtype=np.int64)] = np.arange(layout.world)
    rank_of_slot[layout.world] = layout.world  # a parameter server's endpoint
    renamed: dict[int, Phase] = {}  # a phase the schedule runs again (a ring all-reduce's two passes) stays one
    for p in schedule.phases:
        if id(p) not in renamed:
            renamed[id(p)] = dataclasses.replace(p, src=rank_of_slot[p.src], dst=rank_of_slot[p.dst])
    return dataclasses.replace(schedule, phases=tuple(renamed[id(p)] for p in schedule.phases))


def _build(op: str, algorithm: str, layout: Layout, protocol: str = "none") -> Schedule:
    if op not in OPS:
        raise ValueError(f"unknown collective {op!r}; expected one of {', '.join(OPS)}")
    if op in P2P_OPS:  # NCCL's grouped ncclSend/ncclRecv whatever the collectives' algorithm
        proto = "none" if algorithm in TEXTBOOK else protocol
        if op in ("gather", "scatter"):
            return nccl_gather(layout, proto, scatter=op == "scatter")
        return (nccl_alltoall if op == "alltoall" else nccl_sendrecv)(layout, proto)
    if algorithm not in ALGORITHMS or algorithm == "auto":
        raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {', '.join(ALGORITHMS[1:])}")
    if protocol not in PROTOCOLS and protocol != "none":
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOL_CHOICES[1:])}")
    world, g = layout.world, layout.per_node
    two_level = g > 1 and layout.nodes > 1
    # a mesh node's intra-node rings are NCCL's (on a switch: local-rank order, every pair one port apart)
    local = local_orders(dataclasses.replace(layout, nodes=1)) if layout.intra_topology != "switch" else None
    if algorithm in TEXTBOOK:
        protocol = "none"
    if op == "broadcast":
        return nccl_broadcast(layout, protocol) if protocol != "none" else broadcast(world)
    if op == "reduce":
        return nccl_reduce(layout, protocol)
    if op != "allreduce":
        if algorithm == "backend":  # gloo's own reduce-scatter / all-gather: the one ring of its all-reduce
            return dataclasses.replace(nccl_ring(op, gloo_ring_layout(layout), "none"), name="backend")
        if algorithm == "hierarchical" and two_level:
            half = hierarchical_reduce_scatter if op == "reduce_scatter" else hierarchical_all_gather
            return half(world, g, local)
        return nccl_ring(op, layout, protocol)
    if algorithm in ("nvls", "nvls-tree"):
        if protocol not in ("Simple", "none"):
            raise ScenarioError("communication.protocol", f"{algorithm} runs the Simple protocol only, not {protocol}")
        variant = _nvls_variant(algorithm, layout)
        return nvls_allreduce(layout, protocol) if variant == "nvls" else nvls_tree_allreduce(layout, protocol)
    if algorithm == "ring":
        return nccl_ring(op, layout, protocol)
    if algorithm == "tree":
        return nccl_tree(layout, protocol)
    if algorithm == "hierarchical":
        return hierarchical_allreduce(world, g, local) if two_level else nccl_ring(op, layout, "none")
    if algorithm == "backend":  # gloo's own all-reduce: one ring over the ranks in their order (gloo/allreduce.cc)
        return dataclasses.replace(nccl_ring(op, gloo_ring_layout(layout), "none"), name="backend")
    if algorithm == "halving-doubling":
        return halving_doubling_allreduce(world, g)
    if algorithm == "direct":
        return direct_allreduce(world, g)
    return parameter_server_allreduce(world, g)


def gloo_ring_layout(layout: Layout) -> Layout:
    """The layout of gloo's ring (``algorithm: backend``): one ring over the ranks in their order, one channel
    (gloo's all-reduce, ``gloo/allreduce.cc``, and the reduce-scatter and all-gather ZeRO and FSDP run with it)."""
    return dataclasses.replace(layout, nics=1, intra_topology="switch")


def candidates(op: str, algorithm: str, layout: Layout, protocol: str = "none") -> tuple[Schedule, ...]:
    """Every (algorithm, protocol) schedule ``auto`` chooses between, in NCCL's order (ties keep the first):
    :func:`candidate_pairs`, built. Nothing left to pick is an error."""
    pairs = candidate_pairs(op, algorithm, layout, protocol)
    if not pairs:
        raise ScenarioError(
            "communication.nccl_algo",
            f"{','.join(layout.nccl_algo) or 'all'} with nccl_proto {','.join(layout.nccl_proto) or 'all'} "
            f"leaves NCCL no {op} algorithm to run on {layout.nodes} x {layout.per_node} GPUs",
        )
    return tuple(build(op, name, layout, p) for name, p in pairs)


def candidate_pairs(op: str, algorithm: str, layout: Layout, protocol: str = "none") -> tuple[tuple[str, str], ...]:
    """The (algorithm, protocol) pairs of :func:`candidates`, in its order, without building a schedule (the cost
    guard counts their transfers: :func:`dpsim.sim.budget.priced_transfers`); empty: nothing left to pick.

    ``algorithm: auto`` = NCCL's all-reduce algorithms that exist on ``layout`` (ring,
    tree; NVLS on one NVLS node, NVLS-tree across them), ring for the other collectives;
    with ``protocol: none`` it is the ring. ``protocol: auto`` = LL, LL128, Simple
    (Simple only for NVLS). A concrete algorithm and protocol give one schedule.

    ``layout.nccl_algo`` / ``layout.nccl_proto`` (``NCCL_ALGO`` / ``NCCL_PROTO``; empty: all)
    narrow what ``auto`` chooses among, as NCCL's ``ncclTopoTuneModel`` disables the
    (algorithm, protocol) pairs they leave out (``algoEnable``/``protoEnable``, whose
    bandwidth it sets to 0 so ``topoGetAlgoInfo`` never picks them). The other collectives
    run their ring under ``NCCL_ALGO`` as before. Unless
    ``NCCL_PROTO`` names it, LL128 is left out where GPUs of a node talk over PCIe: NCCL enables
    it by default only on a graph whose intra-node paths are NVLink (``ncclTopoTuneModel``:
    ``typeIntra <= PATH_NVB``, ``<= PATH_NVL`` before v2.18.3), and across nodes where a GPU reaches its
    NIC through its CPU over NVLink-C2C before v2.27.3 (:attr:`~dpsim.sim.collectives.base.Layout.ll128_across_nodes`).
    """
    if op in P2P_OPS:
        none = protocol == "none" or algorithm in TEXTBOOK
        return tuple((P2P, p) for p in p2p_protocols(op, layout, "none" if none else protocol))
    if algorithm == "auto":
        if op != "allreduce" or protocol == "none":
            names: tuple[str, ...] = ("ring",)
        else:
            names = ("ring", "tree")
            # NVLS runs Simple only: a named LL / LL128 protocol (NCCL_PROTO=LL) leaves it nothing to run
            if layout.nvls and layout.per_node > 1 and protocol in ("auto", "Simple"):
                names += ("nvls" if layout.nodes == 1 else "nvls-tree",)
            if layout.nccl_algo:
                names = tuple(n for n in names if n in layout.nccl_algo)
    else:
        names = (algorithm,)
    out: list[tuple[str, str]] = []
    for name in names:
        nvls = op == "allreduce" and name in ("nvls", "nvls-tree")
        if name in TEXTBOOK or protocol == "none":
            protos: tuple[str, ...] = ("none",)
        elif protocol == "auto":
            protos = ("Simple",) if nvls else PROTOCOLS
            if layout.nccl_proto:
                protos = tuple(p for p in protos if p in layout.nccl_proto)
            elif (layout.intra_hw == "pci" and layout.per_node > 1) or not layout.ll128_across_nodes:
                protos = tuple(p for p in protos if p != "LL128")
        else:
            protos = (protocol,)
        out += [(name, p) for p in protos]
    return tuple(out)


def estimates(op: str, algorithm: str, layout: Layout, protocol: str = "none") -> tuple[Schedule, ...] | None:
    """NCCL's estimates of :func:`candidates`, one for one, where they are not the candidates themselves: the same
    schedules on the :attr:`~dpsim.sim.collectives.base.Layout.estimate` layout, carrying the tuner constants of
    ``layout.nccl_version``, which pick (``topoGetAlgoInfo``); the candidates carry the default release's, which
    price. None where nothing reads them (:func:`estimated_apart`)."""
    if not estimated_apart(layout, candidate_pairs(op, algorithm, layout, protocol)):
        return None
    return candidates(op, algorithm, dataclasses.replace(layout, estimate=True), protocol)


def estimated_apart(layout: Layout, pairs: tuple[tuple[str, str], ...]) -> bool:
    """Whether :func:`estimates` builds NCCL's estimates of the candidates ``pairs`` (:func:`candidate_pairs`) apart
    from them on ``layout``: its release's tuner constants are not the default's, or a measured P2P step times the
    candidates apart from NCCL's figures (:attr:`~dpsim.sim.collectives.base.Layout.p2p_step_s`), and there is a
    pick. The tuner
    reads its estimates only to choose among the candidates (:meth:`dpsim.sim.cost.LinearCost.tuned`): one
    candidate — a textbook algorithm, which has no NCCL protocol, or a named algorithm and protocol — runs
    whatever its estimate. The cost guard charges the estimates' routes where they are built
    (:func:`dpsim.sim.budget.priced_transfers`)."""
    if len(pairs) <= 1 or layout.estimate:
        return False
    return (
        layout.p2p_step_timed
        or any(layout.shm_edges)
        or layout.tables is not dataclasses.replace(layout, estimate=True).tables
    )


def allreduce(algorithm: str, world: int, per_node: int = 1) -> Schedule:
    """The all-reduce schedule of ``algorithm`` without a protocol (hierarchical falls back to a ring on one level)."""
    return build("allreduce", algorithm, _layout(world, per_node))


def reduce_scatter(algorithm: str, world: int, per_node: int = 1) -> Schedule:
    """ZeRO's gradient reduce-scatter: two-level for ``hierarchical``, else a ring."""
    return build("reduce_scatter", "ring" if algorithm == "auto" else algorithm, _layout(world, per_node))


def all_gather(algorithm: str, world: int, per_node: int = 1) -> Schedule:
    """ZeRO's parameter all-gather: two-level for ``hierarchical``, else a ring."""
    return build("all_gather", "ring" if algorithm == "auto" else algorithm, _layout(world, per_node))
