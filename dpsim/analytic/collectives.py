"""Closed-form (α–β) costs of collective operations: the oracle the simulator is tested against.

The α–β model (Hockney 1994): sending m bytes over a link costs α + m/B. Formulas follow
Thakur, Rabenseifner & Gropp 2005, "Optimization of Collective Communication Operations
in MPICH" (IJHPCA 19(1)), and NCCL's documented algorithms. ``size`` is the full vector
in bytes on every rank; ``bandwidth`` is per-direction link bandwidth in bytes/s; links
are full duplex (a rank can send and receive at B at once).

On a multi-node cluster a *flat* algorithm (ring, tree, halving–doubling, direct) runs
over one logical group of all ranks; its per-step cost is set by the slowest link it
crosses, so :func:`flat_link` takes the bottleneck (min bandwidth, max latency) of the
intra- and inter-node links — one communication channel, as in a single NCCL ring. The
*hierarchical* algorithm uses the node structure explicitly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "BUSBW_OPS",
    "Fabric",
    "Link",
    "all_gather_time",
    "allreduce_time",
    "broadcast_time",
    "busbw_factor",
    "direct_allreduce_time",
    "flat_link",
    "halving_doubling_allreduce_time",
    "hierarchical_allreduce_time",
    "parameter_server_time",
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
class Fabric:
    """The cluster's communication structure, as the closed forms see it.

    ``nic_bandwidth`` is the inter-node bandwidth available to *one rank* when every rank
    of a node talks off-node at once: NIC bandwidth × nics_per_node / workers_per_node,
    capped at one NIC per rank, divided by the fat-tree oversubscription.
    """

    nodes: int
    per_node: int
    intra: Link
    inter: Link
    nics_per_node: int = 1

    @property
    def world_size(self) -> int:
        return self.nodes * self.per_node

    def inter_per_rank(self, ranks_using_network: int) -> float:
        """Inter-node bandwidth for each of ``ranks_using_network`` ranks of a node sending at once."""
        share = min(self.nics_per_node, ranks_using_network) / ranks_using_network
        return self.inter.bandwidth * share


BUSBW_OPS = ("allreduce", "reduce_scatter", "all_gather", "broadcast")
"""Collectives nccl-tests reports a bus bandwidth for (as :func:`busbw_factor` names them)."""


def busbw_factor(op: str, n: int) -> float:
    """nccl-tests' bus-bandwidth factor: ``busbw = algbw · busbw_factor(op, n)`` for ``n`` ranks.

    All-reduce 2(n−1)/n, reduce-scatter and all-gather (n−1)/n, broadcast 1 — the traffic
    of the bandwidth-optimal algorithm relative to S, so busbw is comparable with the link
    rate whatever n (nccl-tests ``doc/PERFORMANCE.md``; ``src/all_reduce.cu``
    ``AllReduceGetBw``, ``src/reduce_scatter.cu``, ``src/all_gather.cu``, ``src/broadcast.cu``).
    ``algbw = S / t`` with S the full vector (all-gather: the gathered output).
    """
    if n < 1:
        raise ValueError(f"busbw_factor: n must be >= 1, got {n}")
    if op == "allreduce":
        return 2.0 * (n - 1) / n
    if op in ("reduce_scatter", "all_gather"):
        return (n - 1) / n
    if op == "broadcast":
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
    """Broadcast as scatter + ring all-gather (van de Geijn): (log2 N + N − 1)·α + 2(N−1)/N · S/B."""
    if n <= 1 or size <= 0:
        return 0.0
    return (math.ceil(math.log2(n)) + n - 1) * link.latency_s + 2 * (n - 1) / n * size / link.bandwidth


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


def allreduce_time(algorithm: str, size: float, fabric: Fabric) -> float:
    """All-reduce of ``size`` bytes over every rank of ``fabric`` with the named algorithm."""
    n = fabric.world_size
    if algorithm == "hierarchical":
        return hierarchical_allreduce_time(size, fabric)
    link = flat_link(fabric)
    if algorithm in ("ring", "backend"):  # backend: gloo's own all-reduce is a ring (gloo/allreduce.cc)
        return ring_allreduce_time(size, n, link)
    if algorithm == "tree":
        return tree_allreduce_time(size, n, link)
    if algorithm == "halving-doubling":
        return halving_doubling_allreduce_time(size, n, link)
    if algorithm == "direct":
        return direct_allreduce_time(size, n, link)
    if algorithm == "parameter-server":
        return parameter_server_time(size, n, link) if n > 1 else 0.0
    raise ValueError(f"unknown all-reduce algorithm {algorithm!r}")
