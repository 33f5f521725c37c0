"""The cluster as the collectives see it (:func:`fabric_of`), one data-parallel group's share of it
(:func:`dp_fabric`, :func:`with_group_degraded_nics`) and what NCCL reads of a node (:func:`nccl_arch`,
:func:`host_topology_of`, :func:`host_link_of`, :func:`nccl_net_latency_of`).

Below both :mod:`dpsim.scenario` and :mod:`dpsim.analytic.step`: the scenario's checks of fields nothing reads
(``_host_topology_unread``, ``_p2p_latency_unread``, ``_nic_path_unread``, ``_pcie_gpus_per_nic_unread``) ask these
without importing the engine (stop 48; moved verbatim from :mod:`dpsim.analytic.step`, which re-exports them). This
module imports no engine: :mod:`dpsim.analytic.collectives` (data types, no engine at import), the catalog, and the
simulator's helpers lazily, inside the functions, as before.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from dpsim import catalog
from dpsim.analytic.collectives import Fabric, HostTopology, Link, group_relays, protocol_of

if TYPE_CHECKING:
    from dpsim.scenario import Scenario

__all__ = [
    "NCCL_ARCH",
    "dp_fabric",
    "fabric_of",
    "host_link_of",
    "host_topology_of",
    "nccl_arch",
    "nccl_net_latency_of",
    "with_group_degraded_nics",
]


NCCL_ARCH = {
    "v100": "volta",
    "a100-40gb": "ampere",
    "a100-80gb": "ampere",
    "h100-sxm": "hopper",
    "h200": "hopper",
    "b200": "blackwell",
    "nvlink2": "volta",
    "nvlink3": "ampere",
    "nvlink4": "hopper",
    "nvlink5": "blackwell",
}
"""GPU generation (NCCL's ``compCapIndex``, for its per-channel caps) of a catalog device, else of its NVLink."""


def nccl_arch(scenario: Scenario) -> str:
    """The GPU generation NCCL's tuner constants apply to: the device's, else its NVLink's ('' if neither says)."""
    c = scenario.cluster
    return NCCL_ARCH.get(c.device.preset or "", NCCL_ARCH.get(c.intra_node.preset or "", ""))


def fabric_of(scenario: Scenario) -> Fabric:
    """The cluster as the collectives see it: nodes × per_node ranks, achievable link bandwidths, NICs, topology.

    Bandwidths are the links' achievable rates (nominal × efficiency, :attr:`LinkConfig.achievable`);
    the topology (switch, fat-tree with its oversubscription, ring) is priced link by link
    by the schedules, not folded into the NIC rate. The NICs are NCCL's network devices: with
    ``communication.nccl_nic_fusion`` (NCCL's default since v2.20) the ``ports_per_nic`` ports of a
    card are one device of their summed rate, its connections striped over them
    (:attr:`dpsim.scenario.InterNodeLink.ports_per_nic`).
    """
    from dpsim.sim.collectives.tuner_plugin import platform_of

    c = scenario.cluster
    fused = c.inter_node.ports_per_nic if scenario.communication.nccl_nic_fusion else 1
    intra = Link(c.intra_node.latency, c.intra_node.achievable)
    inter = Link(c.inter_node.latency, c.inter_node.achievable * fused)
    topo = c.topology
    return Fabric(
        c.nodes,
        c.workers_per_node,
        intra,
        inter,
        c.inter_node.nics_per_node // fused,
        topology=topo.kind,
        nodes_per_leaf=topo.nodes_per_leaf,
        oversubscription=topo.oversubscription,
        nvls=c.nvls_node,
        intra_hw="pci" if c.intra_pcie else "nvlink",
        protocol=protocol_of(scenario),
        arch=nccl_arch(scenario),
        rank_order=c.slots,
        nic_gbps=c.inter_node.bandwidth * fused / 1e9,
        host=host_link_of(scenario),
        pcie_gpus_per_nic=c.inter_node.pcie_gpus_per_nic or 0,
        nic_c2c=c.inter_node.nic_path == "c2c",
        host_topology=host_topology_of(scenario),
        nccl_algo=tuple(scenario.communication.nccl_algo or ()),
        nccl_proto=tuple(scenario.communication.nccl_proto or ()),
        nccl_buffsize=scenario.communication.nccl_buffsize or 0.0,
        nccl_nvls_chunksize=scenario.communication.nccl_nvls_chunksize or 0.0,
        nccl_nvlstree_max_chunksize=scenario.communication.nccl_nvlstree_max_chunksize or 0.0,
        nccl_net_latency_s=nccl_net_latency_of(scenario),
        amd_host=c.amd_host,
        nccl_version=scenario.communication.nccl_version or "",
        nccl_tuner=scenario.communication.nccl_tuner,
        nccl_tuner_platform=platform_of(c.device.preset, c.workers_per_node, c.inter_node.preset) or "p5",
        nccl_pxn_disable=scenario.communication.nccl_pxn_disable,
        intra_topology=c.intra_topology,
    )


def host_topology_of(scenario: Scenario) -> HostTopology | None:
    """The node's PCIe switches and CPU sockets (``cluster.host_topology``), with NCCL's inter-CPU bandwidth."""
    host = scenario.cluster.host_topology
    if host is None:
        return None
    from dpsim.sim.pcie_ring import ring_transports, scenario_pcie_ring

    measured = host.socket_link_bandwidth if host.socket_link_gbps is not None else 0.0
    topology = HostTopology(
        host.sockets, host.gpus_per_switch, host.inter_cpu_bandwidth, host.p2p, measured,
        p2p_latency_s=(host.p2p_latency_us or 0.0) * 1e-6,
    )  # fmt: skip
    g = scenario.cluster.workers_per_node
    if g < 2:
        return topology
    shm = ring_transports(g, topology, host.cpu, scenario.communication.nccl_p2p_level)
    ring = scenario_pcie_ring(scenario, host=topology)
    graph = (ring.search_channels, ring.speed_gbps) if ring is not None else ()
    return dataclasses.replace(topology, shm_edges=tuple(t == "SHM" for t in shm), nccl_graph=graph)


def nccl_net_latency_of(scenario: Scenario) -> float:
    """What the inter-node link's NCCL network plugin reports as its latency (its catalog preset's; 0 without one)."""
    spec = catalog.LINKS.get(scenario.cluster.inter_node.preset or "")
    return spec.nccl_net_latency_s if spec is not None else 0.0


def host_link_of(scenario: Scenario) -> Link | None:
    """A GPU's link to its NIC (``cluster.host_link``, else the catalog device's PCIe when NVLink joins the node)."""
    c = scenario.cluster
    if c.host_link is not None:
        return Link(c.host_link.latency, c.host_link.achievable)
    name = c.default_host_link
    if name is None:
        return None
    spec = catalog.LINKS[name]
    return Link(spec.latency_s, spec.achievable)


def dp_fabric(scenario: Scenario, fabric: Fabric | None = None) -> Fabric:
    """The fabric of one data-parallel group (ranks holding the same model shard).

    Megatron rank order (tensor-parallel innermost, then data, then pipeline): a DP group
    has ``min(dp, per_node // tp)`` ranks per node (at least 1). When ``s`` DP groups share a
    node they run at once and split its NICs: the group sees ``min(1, nics/s)`` of the NIC
    bandwidth and ``max(1, nics // s)`` NICs. A group with part of each node relays through the NICs'
    GPUs it holds (NCCL's PXN within its own communicator, :func:`~dpsim.analytic.collectives.group_relays`:
    with two GPUs a NIC a group holds every NIC's GPU or none and relays nothing; with more, 2 NICs and
    TP 2, GPUs 2 and 6 of the group 0, 2, 4, 6 send through 0 and 4).
    """
    fabric = fabric or fabric_of(scenario)
    tp, dp = scenario.training.tensor_parallel, scenario.data_parallel
    if tp * scenario.training.pipeline_parallel == 1:
        return with_group_degraded_nics(scenario, fabric)
    per_node = max(1, min(dp, fabric.per_node // tp))
    nodes = max(1, dp // per_node)
    sharing = max(1, fabric.per_node // per_node) if nodes > 1 else 1
    nics = fabric.nics_per_node
    # a group with some of a node's GPUs, two or more, rings over GPUs the node's host topology does not describe
    # as a ring (its SHM edges are the whole node's): like a tensor-parallel group, it sees none
    partial = 1 < per_node < fabric.per_node
    group_nics = max(1, nics // sharing)
    share = min(1.0, nics / sharing)
    if fabric.topology == "ring":
        # a ring of nodes cables each node to its neighbours at max(1, n // 2) NICs' rate (RingTopology._build), so
        # the group's cable is the node's over the groups sharing it; min(1, n/s) gave a group of one NIC of two a
        # whole cable, twice its share (TP 2 on 2-GPU nodes with 2 NICs: the step 13.4 % short of every group on
        # one network, dpsim.sim.shared)
        share = max(1, nics // 2) / (sharing * max(1, group_nics // 2))
    group = dataclasses.replace(
        fabric.with_inter_scaled(share),
        nodes=nodes,
        per_node=per_node,
        nics_per_node=group_nics,
        nvls=False,
        relays=group_relays(fabric, tp) if per_node * tp == fabric.per_node else tuple(range(per_node)),
        host_topology=None if partial else fabric.host_topology,
    )
    return with_group_degraded_nics(scenario, group)


def with_group_degraded_nics(scenario: Scenario, group: Fabric) -> Fabric:
    """``group`` (one data-parallel group's fabric) with the degraded NICs of its nodes
    (:attr:`~dpsim.analytic.collectives.Fabric.degraded_nics`): the group through the worst degraded node, whose
    collectives the step waits for. Megatron's rank order (tensor-parallel innermost, then data, then pipeline) puts
    each pipeline stage's data-parallel groups on a block of ``group.nodes`` consecutive nodes, so node ``d`` is the
    group's node ``d mod nodes`` in block ``d // nodes``; the group keeps the degraded nodes of that block.

    Both engines price the group's collectives on the cluster of this fabric, where only those nodes' NIC links are
    slowed (:func:`~dpsim.analytic.collectives.cluster_of`). Before, the analytic engine scaled every inter-node link
    of the group (:func:`with_degraded_nics`) and the simulator only the NICs: a fat-tree's oversubscribed uplinks, a
    ring of nodes' links and the parameter server's port were slowed by the analytic engine alone (a degraded NIC at
    0.5 behind 2:1 uplinks: 0.25 of the rate against the simulator's 0.5; ``agreement_fuzz.py --wide``)."""
    from dpsim.sim.variability import degraded_nodes

    degraded = degraded_nodes(scenario)
    if not degraded or group.nodes <= 1:
        return group
    block = min(degraded, key=lambda d: (degraded[d], d)) // group.nodes
    mine = tuple(sorted((d % group.nodes, f) for d, f in degraded.items() if d // group.nodes == block))
    return dataclasses.replace(group, degraded_nics=mine)
