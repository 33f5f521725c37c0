"""Closed forms for tensor and pipeline parallelism, and where the ranks of each group sit.

Rank layout (Megatron-LM's order, Narayanan et al. 2021 §3.3): tensor-parallel rank
fastest, then data-parallel, then pipeline stage, so a TP group is ``tp`` consecutive
ranks (inside one node when ``tp`` divides ``workers_per_node``), a DP group is ranks at
stride ``tp``, and adjacent pipeline stages are ``tp·dp`` ranks apart.

Tensor parallelism (Shoeybi et al. 2019, "Megatron-LM", §3, Fig. 4): per transformer layer
two all-reduces of the b·s·h activations in the forward pass (after attention and after
the MLP) and two in the backward pass, on the critical path; with sequence parallelism
(Korthikanti et al. 2022 §4.2.2) each all-reduce becomes a reduce-scatter plus an
all-gather, which moves the same bytes (ring: the same time). Full activation
recomputation repeats the forward all-reduces.

Pipeline parallelism: the bubble is (p−1)/(m+p−1) of the step for GPipe (Huang et al.
2019) and 1F1B (PipeDream-Flush, Narayanan et al. 2021 §2.2.1), i.e. (p−1)/m relative to
the ideal time; the interleaved 1F1B schedule with v model chunks per device divides it by
v: (p−1)/(v·m) relative to ideal (Narayanan et al. 2021 §2.2.2). Stages exchange the b·s·h
activation (and its gradient) point to point at every boundary.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from dpsim.analytic.collectives import (
    Fabric,
    Link,
    all_gather_time,
    allreduce_time,
    reduce_scatter_time,
    ring_allreduce_time,
    send_time,
)
from dpsim.scenario import Scenario
from dpsim.units import dtype_bytes, working_bytes

__all__ = [
    "BACKWARD_ALLREDUCES_PER_LAYER",
    "CHECKPOINT_GATHER_ALLREDUCES",
    "FORWARD_ALLREDUCES_PER_LAYER",
    "OP_SAC_REFORWARD_GATHERS",
    "PipelineTiming",
    "activation_message_bytes",
    "float8_sequence_gathers",
    "forward_allreduces_per_layer",
    "layers_per_stage",
    "op_sac_reforward_gathers",
    "pipeline_blocking_p2p_time",
    "pipeline_bubble_fraction",
    "pipeline_bubble_over_ideal",
    "pipeline_nic_flows",
    "pipeline_p2p_link",
    "pipeline_p2p_links",
    "pipeline_p2p_time",
    "pipeline_p2p_times",
    "pipeline_sends",
    "pipeline_step",
    "rank_of",
    "recomputation_flops_per_sample",
    "sequence_gather_allreduces",
    "sequence_gather_bytes",
    "stage_boundary_bytes",
    "stage_boundary_crosses_nodes",
    "stage_boundary_ranks_per_nic",
    "stage_link_nic_flows",
    "tensor_parallel_allreduces_per_layer",
    "tensor_parallel_collectives",
    "tensor_parallel_comm_time",
    "tensor_parallel_counts",
    "tensor_parallel_crosses_nodes",
    "tensor_parallel_exposed_time",
    "tensor_parallel_fabric",
    "tensor_parallel_forward_share",
    "tensor_parallel_hidden_time",
    "tensor_parallel_local_time",
    "tensor_parallel_overlapped",
    "tensor_parallel_staging_bytes",
    "tensor_parallel_staging_copies",
    "tied_embedding_allreduce_time",
    "with_tensor_parallel",
]

_SCHEDULES = ("gpipe", "1f1b", "interleaved")


def rank_of(tp_rank: int, dp_rank: int, pp_rank: int, tp: int, dp: int) -> int:
    """Global rank of a (TP, DP, PP) coordinate: TP fastest, then DP, then PP (Megatron order)."""
    return tp_rank + tp * (dp_rank + dp * pp_rank)


def tensor_parallel_crosses_nodes(tp: int, workers_per_node: int) -> bool:
    """True when a TP group (``tp`` consecutive ranks) does not fit inside one node."""
    return tp > 1 and (tp > workers_per_node or workers_per_node % tp != 0)


def stage_boundary_crosses_nodes(tp: int, dp: int, workers_per_node: int) -> bool:
    """True when every pair of adjacent pipeline stages (``tp·dp`` ranks apart) sits on different nodes; a stage
    smaller than a node crosses only at a node's edge (:func:`stage_boundary_ranks_per_nic`)."""
    return tp * dp >= workers_per_node


def _ranks_per_nic(per_node: int, nics: int) -> int:
    """The most local ranks of a node that reach the network through one NIC (affinity ⌊l·nics/G⌋,
    :meth:`dpsim.sim.cluster.Cluster.nic_of`): ⌈G/nics⌉, or 1 with a NIC (or more) for each GPU."""
    return -(-per_node // nics) if nics < per_node else 1


@functools.lru_cache(maxsize=1024)
def stage_boundary_ranks_per_nic(p: int, tp: int, dp: int, per_node: int, nics: int = 1) -> tuple[int, ...]:
    """For each pipeline stage boundary k (stages k and k + 1 mod p: the last one, stage p − 1 to 0, carries the
    interleaved schedule's chunks from one round to the next): the most of its sends that cross nodes through one
    NIC at once, 0 where none crosses.

    Megatron's order (:func:`rank_of`): stage s holds the ``g = tp·dp`` ranks s·g … s·g + g − 1, and every one of
    them sends the tensor it holds (:func:`stage_boundary_bytes`) to the rank g·(s' − s) away at once (the ``dp``
    replicas run the same schedule). Rank r sits on node ⌊r/G⌋ and leaves it through NIC ⌊(r mod G)·nics/G⌋; a send
    crosses nodes where the two ranks' nodes differ, and shares its NIC (in each direction) with the boundary's other
    crossing sends through it: on each side, the count of them per
    NIC, the larger of the sender's and the receiver's. A stage of a node or more (``g ≥ G``): every send crosses,
    and the node's every rank sends at once, :func:`_ranks_per_nic` of them a NIC (as before). A smaller stage: a
    node holds G/g stages, whose boundaries inside it stay on NVLink and whose boundary at the node's edge is
    ``g`` sends on the NICs of its ``g`` ranks (PP 4 over 2 nodes of 4 GPUs, DP 2: boundary 1 → 2, and 3 → 0,
    cross one NIC, 2 sends each). This is a send's pace alone; sends of two different links through one NIC
    direction at the same moment (a node's last stage's activations and its first stage's gradients both leave it)
    share it while both are in flight, which the schedule's event-by-event evaluation prices
    (:func:`stage_link_nic_flows`, :func:`dpsim.analytic.pipeline_schedule.evaluate_shared_nics`)."""
    g = tp * dp
    if p <= 1:
        return ()
    if g >= per_node:
        return (_ranks_per_nic(per_node, nics),) * p
    counts = []
    for k in range(p):
        out: dict[tuple[int, int], int] = {}
        into: dict[tuple[int, int], int] = {}
        for at, to in _crossing_sends(k, (k + 1) % p, g, per_node, nics):
            out[at] = out.get(at, 0) + 1
            into[to] = into.get(to, 0) + 1
        counts.append(max([*out.values(), *into.values()], default=0))
    return tuple(counts)


def _crossing_sends(
    a: int, b: int, g: int, per_node: int, nics: int
) -> Iterator[tuple[tuple[int, int], tuple[int, int]]]:
    """(sender's (node, NIC), receiver's (node, NIC)) of each send from stage ``a`` to stage ``b`` that crosses nodes:
    stage s holds ranks s·g … s·g + g − 1 (Megatron's order, :func:`rank_of`), rank i of one stage sends to rank i
    of the next, and rank r sits on node ⌊r/G⌋ behind NIC ⌊(r mod G)·nics/G⌋ (``G = per_node``)."""
    for i in range(g):
        src, dst = a * g + i, b * g + i
        if src // per_node != dst // per_node:
            yield (
                (src // per_node, src % per_node * nics // per_node),
                (dst // per_node, dst % per_node * nics // per_node),
            )


@functools.lru_cache(maxsize=1024)
def stage_link_nic_flows(
    p: int, tp: int, dp: int, per_node: int, nics: int = 1
) -> tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...]:
    """Which NIC directions each directed stage link's crossing sends load, and with how many flows: (src stage,
    dst stage, ((NIC direction, flows), …)) for every pair of adjacent stages (both directions, the wrap p − 1 ↔ 0
    included), NIC directions numbered in order of first use. Empty where no NIC direction carries the sends of
    two directed links (every link is then its own, :func:`stage_boundary_ranks_per_nic`).

    The placement is :func:`stage_boundary_ranks_per_nic`'s (Megatron's order, rank r on node ⌊r/G⌋ through NIC
    ⌊(r mod G)·nics/G⌋); a send crossing nodes is a flow out of its sender's NIC and one into its receiver's.
    A NIC is full duplex, so what meets on one direction of it are the sends of different links that leave (or
    enter) through it: a stage's activations forward and its gradients back leave through its ranks' NICs (every
    pipeline across nodes), and a node holding several stages (``tp·dp`` < G) carries its first stage's gradients
    and its last stage's activations out through one NIC (PP 6 over 3 nodes of 4 GPUs, DP 2: the middle node's NIC
    carries boundary 1's gradients and boundary 3's activations)."""
    g = tp * dp
    if p <= 1:
        return ()
    pairs = sorted({(k, (k + 1) % p) for k in range(p)} | {((k + 1) % p, k) for k in range(p)})
    numbered: dict[tuple[str, int, int], int] = {}
    links = []
    users: dict[int, int] = {}
    for a, b in pairs:
        flows: dict[int, int] = {}
        for ends in _crossing_sends(a, b, g, per_node, nics):
            for way, (node, nic) in zip(("out", "in"), ends, strict=True):
                at = numbered.setdefault((way, node, nic), len(numbered))
                flows[at] = flows.get(at, 0) + 1
        for at in flows:
            users[at] = users.get(at, 0) + 1
        links.append((a, b, tuple(sorted(flows.items()))))
    return tuple(links) if any(n > 1 for n in users.values()) else ()


@functools.lru_cache(maxsize=1024)
def pipeline_nic_users(
    p: int, tp: int, dp: int, per_node: int, nics: int, tp_nics: tuple[tuple[int, int, int], ...], dp_reduces: bool
) -> tuple[
    tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...],
    tuple[tuple[tuple[int, int], ...], ...],
    tuple[tuple[tuple[int, int], ...], ...],
]:
    """:func:`stage_link_nic_flows` with, in the same numbering of NIC directions, each stage's TP ring phases
    (``tp_nics``: where its TP groups span nodes, (NIC, flows out, flows in) of each NIC of a node one ring phase
    crosses, :func:`dpsim.sim.shared.tp_ring_nic_flows`; empty otherwise) and its data-parallel ring
    (``dp_reduces``): (links, TP flows per stage, DP flows per stage). All three empty where no NIC direction carries
    two of them.

    A TP group across nodes fills each of its nodes (``tp`` > G); its ring leaves and enters every node once a phase
    on each of its channels, as NCCL spreads them over the NICs its GPUs sit near (:func:`dpsim.sim.shared
    .rail_copies`): a flow a channel on its NIC direction (stops 46-49 counted one each way a NIC, whatever the
    channels: on 2 GPUs and 1 NIC a node, the shared fabric's 2 TP flows against 2 of the sends were priced as 1,
    3.1 % on the step). A DP ring (member j to j + 1 of each TP rank's group, Megatron's order) is a flow
    out of the sender's NIC and one into the receiver's where the two sit on different nodes."""
    g = tp * dp
    if p <= 1:
        return (), (), ()
    pairs = sorted({(k, (k + 1) % p) for k in range(p)} | {((k + 1) % p, k) for k in range(p)})
    numbered: dict[tuple[str, int, int], int] = {}
    users: dict[int, int] = {}

    def load(flows: dict[int, int], way: str, node: int, nic: int, n: int = 1) -> None:
        at = numbered.setdefault((way, node, nic), len(numbered))
        flows[at] = flows.get(at, 0) + n

    def used(flows: dict[int, int]) -> tuple[tuple[int, int], ...]:
        for at in flows:
            users[at] = users.get(at, 0) + 1
        return tuple(sorted(flows.items()))

    links = []
    for a, b in pairs:
        flows: dict[int, int] = {}
        for ends in _crossing_sends(a, b, g, per_node, nics):
            for way, (node, nic) in zip(("out", "in"), ends, strict=True):
                load(flows, way, node, nic)
        links.append((a, b, used(flows)))
    tp_flows = []
    for s in range(p):
        flows = {}
        if tp > per_node:
            for node in sorted({r // per_node for r in range(s * g, s * g + g)}):
                for nic, n_out, n_in in tp_nics:
                    load(flows, "out", node, nic, n_out)
                    load(flows, "in", node, nic, n_in)
        tp_flows.append(used(flows))
    dp_flows = []
    for s in range(p):
        flows = {}
        if dp_reduces and dp > 1:
            for i in range(tp):
                for j in range(dp if dp > 2 else 2):
                    src, dst = rank_of(i, j % dp, s, tp, dp), rank_of(i, (j + 1) % dp, s, tp, dp)
                    if src // per_node != dst // per_node:
                        load(flows, "out", src // per_node, src % per_node * nics // per_node)
                        load(flows, "in", dst // per_node, dst % per_node * nics // per_node)
        dp_flows.append(used(flows))
    if not any(n > 1 for n in users.values()):
        return (), (), ()
    return tuple(links), tuple(tp_flows), tuple(dp_flows)


def pipeline_nic_flows(scenario: Scenario, fabric: Fabric) -> tuple[tuple[int, int, tuple[tuple[int, int], ...]], ...]:
    """:func:`stage_link_nic_flows` of ``scenario``'s pipeline on ``fabric``, where its sends cross a switched
    fabric's NICs and run beside the passes (``training.pipeline_p2p: overlapped``); empty otherwise (one node, a
    ring of nodes, whose cables :func:`ring_boundary_links` routes each boundary over alone, or transfers inside
    the passes)."""
    t = scenario.training
    if t.pipeline_parallel <= 1 or fabric.nodes <= 1 or fabric.topology == "ring" or t.pipeline_p2p != "overlapped":
        return ()
    return stage_link_nic_flows(
        t.pipeline_parallel, t.tensor_parallel, scenario.data_parallel, fabric.per_node, fabric.nics_per_node
    )


def _share_inter(fabric: Fabric, per_nic: int = 0) -> Link:
    """Inter-node link as seen by one rank when every rank of its node uses the network at once (across the spine),
    or, with ``per_nic``, when that many ranks send through its NIC at once (fewer than every rank of the node:
    :func:`stage_boundary_ranks_per_nic`)."""
    if 0 < per_nic < _ranks_per_nic(fabric.per_node, fabric.nics_per_node):
        rate = fabric.inter.bandwidth / per_nic
    else:
        rate = fabric.inter_per_rank(fabric.per_node)
    share = rate * fabric.crossing_bandwidth / fabric.inter.bandwidth
    if fabric.host is not None:  # the GPU reaches its NIC over its own host link (PCIe)
        share = min(share, fabric.host.bandwidth)
    return Link(fabric.inter.latency_s, share)


def tensor_parallel_fabric(tp: int, fabric: Fabric) -> Fabric:
    """The fabric one TP group runs on: ``tp`` consecutive ranks, across nodes if ``tp`` > per node."""
    per_node = min(tp, fabric.per_node)
    nodes = math.ceil(tp / per_node)
    return Fabric(nodes, per_node, fabric.intra, _share_inter(fabric), nics_per_node=per_node, host=fabric.host)


def activation_message_bytes(scenario: Scenario) -> float:
    """Bytes of one b·s·h activation tensor at the training precision (the TP/PP message)."""
    m, t = scenario.model, scenario.training
    width = float(working_bytes(t.precision))
    if m.kind == "transformer":
        return float(t.micro_batch * m.seq_len * m.hidden) * width
    return float(t.micro_batch * max(m.hidden, 1)) * width


def float8_sequence_gathers(scenario: Scenario) -> bool:
    """Whether a layer's sequence-parallel all-gathers carry float8 (1 byte an element), its reduce-scatters the
    activations' width: torchao's tensorwise Float8 tensor parallelism (``model.fp8_linear: torchao_tensorwise``,
    torchtitan's ``Float8ColwiseParallel`` / ``Float8RowwiseParallel`` / ``PrepareFloat8ModuleInput`` at ``9dec370``).
    torchao ``float8/float8_tensor_parallel.py``: ``PrepareFloat8ModuleInput._prepare_input_arg`` (and
    ``Float8ColwiseParallel._prepare_input_fn``) casts the ``Shard(1)`` input to float8
    (``_hp_tensor_to_float8_dynamic``) before ``redistribute`` to ``Replicate()``, "so that ... we perform fp8
    allgather"; ``Float8RowwiseParallel.
    _prepare_output_fn`` reduce-scatters the output in the high precision, then ``_NoopFwToFloat8BwDynamic`` ("fwd
    noop bwd cast to DTensor(Float8Tensor)"), so in the backward the output gradient is cast before the reduce-scatter's
    backward all-gathers it: every gather of the forward, the backward and full recomputation's re-forward is float8;
    the input gradients' reduce-scatters stay in the high precision."""
    t = scenario.training
    return (
        t.precision == "fp8"
        and scenario.model.fp8_linear == "torchao_tensorwise"
        and t.tensor_parallel > 1
        and t.sequence_parallel
        and scenario.model.kind == "transformer"
    )


def sequence_gather_bytes(scenario: Scenario) -> float:
    """Bytes of one sequence-parallel all-gather's full b·s·h tensor: :func:`activation_message_bytes`, at float8's
    width under :func:`float8_sequence_gathers`."""
    size = activation_message_bytes(scenario)
    if float8_sequence_gathers(scenario):
        return size * float(dtype_bytes("fp8")) / float(working_bytes(scenario.training.precision))
    return size


CHECKPOINT_GATHER_ALLREDUCES = 0.5
"""An all-gather of the full b·s·h tensor from t shards, in all-reduce units: a ring all-reduce is a
reduce-scatter plus an all-gather, (t−1)α + (t−1)/t·S/B each, so the gather is half of one."""


FORWARD_ALLREDUCES_PER_LAYER = 2
"""Megatron's forward pass all-reduces once after attention and once after the MLP (Shoeybi et al. 2019,
Fig. 4); the rest of a micro-batch's all-reduces (backward, and the re-forward of full recomputation)
run in its backward pass."""

BACKWARD_ALLREDUCES_PER_LAYER = 2
"""The backward pass all-reduces the input gradient of each column-parallel linear (QKV and MLP-up: the
backward of Megatron's ``copy_to_model_parallel_region``), sequential or parallel block alike."""


def forward_allreduces_per_layer(parallel_block: bool = False) -> int:
    """All-reduces in a layer's forward: Megatron's 2 (:data:`FORWARD_ALLREDUCES_PER_LAYER`), or 1 in the
    parallel attention + MLP block (``model.parallel_block``; gpt-neox's ``gpt_j_residual``: both
    ``RowParallelLinear``s built with ``parallel_output=True``, their outputs summed and all-reduced once by
    ``reduce_from_model_parallel_region``)."""
    return 1 if parallel_block else FORWARD_ALLREDUCES_PER_LAYER


OP_SAC_REFORWARD_GATHERS = 2
"""Sequence-parallel all-gathers a layer's backward reruns under torchtitan's op-level selective checkpointing with
tensor parallelism (``activation_recomputation: op``): the attention's and the MLP's input, gathered from the
sequence shard (``PrepareModuleInput``, ``Shard(1)`` to ``Replicate()``). torchtitan's ``_save_list`` (820504e)
saves ``_c10d_functional.reduce_scatter_tensor`` but not ``all_gather_into_tensor``, so the gathers are tagged
``PREFER_RECOMPUTE``; torch's partitioner recomputes a collective tagged so (``force_save_collectives`` forces
``MUST_SAVE`` only on collectives outside a user's checkpointed region, torch/_functorch/partitioners.py, Note
[Recomputing collectives in the partitioner] in torch/_functorch/config.py), and the backward needs both gathered
tensors (the weight gradients of wq/wk/wv and w1/w3 read them; wk and w3 are rerun from them). The two
reduce-scatters are saved: the re-forward runs none."""


def op_sac_reforward_gathers(scenario: Scenario) -> int:
    """:data:`OP_SAC_REFORWARD_GATHERS` a layer and micro-batch under op-level checkpointing with tensor and sequence
    parallelism; 0 otherwise."""
    t = scenario.training
    if t.activation_recomputation != "op" or t.tensor_parallel <= 1 or not t.sequence_parallel:
        return 0
    return OP_SAC_REFORWARD_GATHERS if scenario.model.kind == "transformer" else 0


def sequence_gather_allreduces(scenario: Scenario) -> float:
    """One sequence-parallel all-gather in the all-reduce units :func:`tensor_parallel_counts` counts (a
    reduce-scatter of b·s·h and an all-gather of :func:`sequence_gather_bytes`): its bytes over the pair's, 1/2 at
    one width, 1/3 under float8 gathers (whose (t−1)·α is then priced at 2/3 of its own, under a microsecond)."""
    size, gathered = activation_message_bytes(scenario), sequence_gather_bytes(scenario)
    return gathered / (size + gathered) if size + gathered > 0 else 0.5


def tensor_parallel_allreduces_per_layer(
    recomputation: str = "none",
    distributed_checkpoints: bool = False,
    parallel_block: bool = False,
    regathered: float = 0.0,
) -> float:
    """All-reduces per layer and micro-batch: 2 forward + 2 backward (+2 re-forward with full recomputation);
    the parallel block's forward and re-forward 1 each (3, or 4 with full recomputation); ``regathered``: the
    all-gathers op-level checkpointing reruns in the backward, in all-reduce units
    (:func:`op_sac_reforward_gathers` times :func:`sequence_gather_allreduces`).

    With the checkpoints distributed over the TP ranks (``training.distribute_checkpointed_activations``)
    the backward pass first all-gathers each layer's checkpointed input (Megatron-LM's
    ``CheckpointFunction.backward``: ``gather_split_1d_tensor``; metaseq's checkpoint wrapper, whose help
    text says it "adds extra within node all_reduce"): :data:`CHECKPOINT_GATHER_ALLREDUCES` more.
    """
    forwards = 2 if recomputation == "full" else 1
    count = float(BACKWARD_ALLREDUCES_PER_LAYER + forwards * forward_allreduces_per_layer(parallel_block))
    count += regathered
    return count + (CHECKPOINT_GATHER_ALLREDUCES if distributed_checkpoints and recomputation == "full" else 0.0)


def tensor_parallel_forward_share(
    recomputation: str = "none",
    distributed_checkpoints: bool = False,
    parallel_block: bool = False,
    regathered: float = 0.0,
) -> float:
    """Share of a micro-batch's TP communication in its forward pass: 2 of 4 all-reduces (2 of 6 with full
    recomputation, whose re-forward runs in the backward pass; 2 of 6.5 when the backward also gathers
    distributed checkpoints; 2 of 5 under op-level checkpointing's two re-gathers at one width; the parallel block
    1 of 3, or 1 of 4)."""
    total = tensor_parallel_allreduces_per_layer(recomputation, distributed_checkpoints, parallel_block, regathered)
    return forward_allreduces_per_layer(parallel_block) / total


def tensor_parallel_counts(scenario: Scenario) -> tuple[float, float]:
    """The scenario's TP all-reduces per layer and micro-batch, and the forward pass's share of them."""
    t, block = scenario.training, scenario.model.parallel_block
    regathered = op_sac_reforward_gathers(scenario) * sequence_gather_allreduces(scenario)
    mode, distributed = t.activation_recomputation, t.distribute_checkpointed_activations
    return (
        tensor_parallel_allreduces_per_layer(mode, distributed, block, regathered),
        tensor_parallel_forward_share(mode, distributed, block, regathered),
    )


def with_tensor_parallel(
    scenario: Scenario, forward_s: float, backward_s: float, tp_comm_s: float
) -> tuple[float, float]:
    """A micro-batch's forward and backward on one stage with its blocking TP communication in each pass."""
    share = tensor_parallel_counts(scenario)[1]
    return forward_s + tp_comm_s * share, backward_s + tp_comm_s * (1.0 - share)


def tensor_parallel_collectives(scenario: Scenario, fabric: Fabric) -> tuple[tuple[str, float], ...]:
    """One TP all-reduce as the engines price it: ``(op, seconds)`` of each collective it is made of.

    An all-reduce of S = b·s·h·bytes over t ranks: the ring 2(t−1)α + 2(t−1)/t·S/B on the TP
    group's fabric (NVLink when the group is inside a node); with sequence parallelism a
    reduce-scatter then an all-gather, (t−1)α + (t−1)/t·S/B each on the group's slowest link (the gather of
    :func:`sequence_gather_bytes`: float8 under torchao's Float8 tensor parallelism).
    """
    tp = scenario.training.tensor_parallel
    group = tensor_parallel_fabric(tp, fabric)
    size = activation_message_bytes(scenario)
    if scenario.training.sequence_parallel:
        link = _bottleneck(group)
        gathered = sequence_gather_bytes(scenario)
        scatter, gather = reduce_scatter_time(size, tp, link), all_gather_time(gathered, tp, link)
        return (("reduce_scatter", scatter), ("all_gather", gather))
    if group.nodes == 1:
        return (("allreduce", ring_allreduce_time(size, tp, group.intra)),)
    return (("allreduce", allreduce_time("ring", size, group)),)


def recomputation_flops_per_sample(scenario: Scenario) -> float:
    """Extra forward FLOPs per sample that activation recomputation repeats in the backward pass.

    Full recomputation reruns every layer's forward: 2·N + 4·L·s·h per token (N the
    non-embedding parameters; one third of :func:`dpsim.catalog.training_flops_per_token`
    without the logits, which Megatron does not recompute; less the down-projections under
    ``training.recompute_early_stop``). Selective recomputation reruns
    only the attention core (QKᵀ, softmax, attention over V): 4·L·s·h per token
    (Korthikanti et al. 2022 §4.3, §5). Non-transformers: full = one third of the training
    FLOPs, selective = 0. These FLOPs are not model FLOPs: MFU does not count them.
    """
    m, mode = scenario.model, scenario.training.activation_recomputation
    if mode == "none":
        return 0.0
    if m.kind != "transformer":
        return m.training_flops_per_sample / 3.0 if mode == "full" else 0.0
    attention = 4.0 * m.layers * m.seq_len * m.hidden
    if mode == "selective":
        return attention * m.seq_len
    if mode == "op":  # torchtitan's op-level SAC: wk, wo and w3 (dpsim.compute.op_recomputed_flops_per_token)
        from dpsim.compute import op_recomputed_flops_per_token

        return op_recomputed_flops_per_token(m, scenario.training.tensor_parallel) * m.seq_len
    dense = m.num_parameters - m.embedding_parameters
    per_token = 2.0 * dense + attention
    if scenario.training.recompute_early_stop:  # the down-projection GEMMs torch's early stop does not rerun
        from dpsim.compute import early_stop_flops_per_token

        per_token -= early_stop_flops_per_token(m, scenario.training.precision)
    return per_token * m.seq_len * scenario.recomputed_layer_share


def layers_per_stage(scenario: Scenario) -> float:
    m, t = scenario.model, scenario.training
    layers = m.layers if m.layers > 0 else 1
    return layers / t.pipeline_parallel


def tensor_parallel_comm_time(scenario: Scenario, fabric: Fabric) -> float:
    """Seconds of TP communication per micro-batch on one stage (forward + backward), not overlapped.

    Each all-reduce of S = b·s·h·bytes over t ranks: ring 2(t−1)α + 2(t−1)/t·S/B on the TP
    group's fabric (NVLink when the group is inside a node). With sequence parallelism the
    reduce-scatter + all-gather pair costs the same as the ring all-reduce.
    """
    t = scenario.training
    if t.tensor_parallel <= 1:
        return 0.0
    one = sum(seconds for _, seconds in tensor_parallel_collectives(scenario, fabric))
    count, _ = tensor_parallel_counts(scenario)
    return layers_per_stage(scenario) * count * one


_OVERLAPPED_GEMMS = (
    # (collective, the GEMM Transformer Engine's userbuffers pipeline it with), forward pass
    ("all_gather", "qkv"),
    ("reduce_scatter", "attention_out"),
    ("all_gather", "mlp_up"),
    ("reduce_scatter", "mlp_down"),
)
_OVERLAPPED_GEMMS_BACKWARD = (
    # the backward of a reduce-scatter is an all-gather of the output gradient, before the dgrad GEMM;
    # that of an all-gather a reduce-scatter of the input gradient, after the dgrad GEMM
    ("all_gather", "mlp_down.dgrad"),
    ("reduce_scatter", "mlp_up.dgrad"),
    ("all_gather", "attention_out.dgrad"),
    ("reduce_scatter", "qkv.dgrad"),
)


_ASYNC_ALLREDUCE_GEMMS = (
    # (collective, the GEMM it runs beside): Megatron-LM's LinearWithGradAccumulationAndAsyncCommunication.backward
    # (megatron/mpu/layers.py, d898a89) launches the input gradient's all-reduce after the data-gradient GEMM with
    # async_op=True, computes the weight gradient, then waits
    ("allreduce", "qkv.wgrad"),
    ("allreduce", "mlp_up.wgrad"),
)


def _async_grad_allreduce(scenario: Scenario) -> bool:
    """Whether a transformer's backward all-reduces run beside the weight-gradient GEMMs
    (``training.tp_async_grad_allreduce``, tensor parallelism without sequence parallelism)."""
    t = scenario.training
    return (
        t.tp_async_grad_allreduce
        and t.tensor_parallel > 1
        and not t.sequence_parallel
        and scenario.model.kind == "transformer"
    )


def tensor_parallel_overlapped(scenario: Scenario) -> bool:
    """Whether the scenario overlaps any TP collective with GEMMs (``training.tp_comm_overlap`` or
    ``training.tp_async_grad_allreduce``): its TP communication is then priced by the closed forms
    (:func:`tensor_parallel_exposed_time`), not routed as flows."""
    return scenario.training.tp_comm_overlap or scenario.training.tp_async_grad_allreduce


def _async_tp_backward_pairs(gated_mlp: bool) -> tuple[tuple[str, str], ...]:
    """The backward's collectives torch's micro-pipelined TP fuses with a GEMM.

    torch/_inductor/fx_passes/micro_pipeline_tp.py: an all-gather whose result feeds matmuls as their left operand
    becomes ``fused_all_gather_matmul``, a reduce-scatter only when its input is one matmul's output
    (``_find_producer_matmul``; otherwise the pass logs "no producer matmul found" and leaves it). The output-gradient
    all-gathers feed the data-gradient GEMMs of attention-out and MLP-down; the input-gradient reduce-scatter of the
    attention takes the sum of the q, k and v data gradients (torch's ColwiseParallel shards wq, wk and wv as
    separate Linears), that of a gated MLP the sum of the gate and up projections' (w1, w3): an add, so they stay
    plain NCCL collectives on the critical path. A single up projection's reduce-scatter fuses."""
    fused = [("all_gather", "mlp_down.dgrad"), ("all_gather", "attention_out.dgrad")]
    if not gated_mlp:
        fused.append(("reduce_scatter", "mlp_up.dgrad"))
    return tuple(fused)


def _layer_gemm_seconds(scenario: Scenario, row_split: int = 1) -> dict[str, float]:
    """Seconds of each GEMM of one layer and micro-batch, as the compute model prices it (by name), on the device its
    GEMMs see (:func:`dpsim.compute.compute_device`: fp32 at ``peak_flops_fp32_ieee`` under ``fp32_matmul: ieee``).
    ``row_split``: the linears' forward and data-gradient GEMMs as that many GEMMs of 1/row_split of the rows
    (:func:`dpsim.compute.layer_kernels`)."""
    from dpsim import compute

    m, t, d = scenario.model, scenario.training, compute.compute_device(scenario)
    kernels = compute.layer_kernels(
        m,
        d,
        t.precision,
        t.micro_batch,
        t.tensor_parallel,
        t.sequence_parallel,
        row_split=row_split,
        float8_all_gather=compute.float8_all_gathers(t),
    )
    if compute.prices_flat(m, d):  # the flat model prices every FLOP at peak · efficiency
        seconds = {k.name: k.flops / (d.peak_for(t.precision) * compute.flat_fraction(d)) for k in kernels}
    else:
        seconds = {k.name: k.seconds for k in kernels}
    if t.activation_recomputation == "op" and m.gated_mlp:
        # the GEMMs op-level checkpointing reruns: their own GEMMs where the linears are priced apart, else their share
        saved = compute.op_sac_saved(m, t.tensor_parallel)
        flat = compute.prices_flat(m, d)
        for kernel in kernels:
            if kernel.name in compute.OP_SAC_RERUN:
                rerun = f"{kernel.name}.{compute.OP_SAC_RERUN[kernel.name][1]}"
                share = seconds[kernel.name] * (1.0 - saved[kernel.name])
                seconds[rerun] = share if flat else compute.op_sac_rerun_seconds(kernel, saved)
    return seconds


def _tp_comm_overlapped(scenario: Scenario) -> bool:
    """Whether a transformer's TP collectives are overlapped with its GEMMs: ``training.tp_comm_overlap`` with
    tensor and sequence parallelism (the collectives it overlaps are sequence parallelism's)."""
    t = scenario.training
    return t.tp_comm_overlap and t.tensor_parallel > 1 and t.sequence_parallel and scenario.model.kind == "transformer"


def tensor_parallel_hidden_time(scenario: Scenario, fabric: Fabric) -> float:
    """Seconds of a micro-batch's TP communication hidden behind GEMMs (``training.tp_comm_overlap``).

    Megatron-LM's ``--tp-comm-overlap`` (Transformer Engine userbuffers, with sequence parallelism):
    each linear layer's all-gather (before QKV and MLP-up) or reduce-scatter (after attention-out and
    MLP-down) is split into t chunks exchanged ring-wise while the GEMM runs chunk by chunk; in the
    backward pass the output-gradient all-gathers and input-gradient reduce-scatters pipeline with the
    data-gradient GEMMs. The first chunk's GEMM (all-gather: the local chunk) or the last one's
    (reduce-scatter: the kept partial) has no transfer beside it, so a collective of ``c`` seconds
    beside a GEMM of ``g`` hides ``min(c, g·(t−1)/t)`` and exposes ``max(0, c − g·(t−1)/t)``. Full
    recomputation's re-forward overlaps like the forward. Under ``tp_overlap_kind: torch_async_tp`` the
    backward hides only what torch's pass fuses (:func:`_async_tp_backward_pairs`). SM sharing between the
    copies and the GEMM is not modelled. Zero without the option, tensor parallelism or sequence parallelism.

    ``training.tp_async_grad_allreduce`` (Megatron-LM's asynchronous all-reduce, without sequence parallelism):
    each column-parallel linear's backward all-reduce runs whole beside its weight-gradient GEMM
    (:data:`_ASYNC_ALLREDUCE_GEMMS`) and hides ``min(all-reduce, GEMM)``; the forward's (and full recomputation's
    re-forward's) all-reduces stay on the critical path.
    """
    t = scenario.training
    if _async_grad_allreduce(scenario):
        comm = dict(tensor_parallel_collectives(scenario, fabric))
        gemms = _layer_gemm_seconds(scenario)
        return layers_per_stage(scenario) * sum(min(comm[op], gemms[name]) for op, name in _ASYNC_ALLREDUCE_GEMMS)
    if not _tp_comm_overlapped(scenario):
        return 0.0
    comm = dict(tensor_parallel_collectives(scenario, fabric))
    share = (t.tensor_parallel - 1) / t.tensor_parallel
    torch_async = t.tp_overlap_kind == "torch_async_tp"
    # torch's fused ops run the GEMM as t sub-GEMMs of 1/t of the rows (_async_tp_split_seconds)
    gemms = _layer_gemm_seconds(scenario, t.tensor_parallel if torch_async else 1)
    hidden = sum(min(comm[op], share * gemms[name]) for op, name in _fused_pairs(scenario))
    return layers_per_stage(scenario) * hidden


def _fused_pairs(scenario: Scenario) -> list[tuple[str, str]]:
    """(collective, GEMM) pairs a layer and micro-batch overlaps under ``tp_comm_overlap``: the forward's four, the
    backward's (all four under userbuffers, :func:`_async_tp_backward_pairs` under torch's AsyncTP) and full
    recomputation's re-forward's four."""
    t = scenario.training
    torch_async = t.tp_overlap_kind == "torch_async_tp"
    backward = _async_tp_backward_pairs(scenario.model.gated_mlp) if torch_async else _OVERLAPPED_GEMMS_BACKWARD
    pairs: list[tuple[str, str]] = [*_OVERLAPPED_GEMMS, *backward]
    if t.activation_recomputation == "full":
        pairs += _OVERLAPPED_GEMMS
    if op_sac_reforward_gathers(scenario):
        pairs += _OP_SAC_REFORWARD_GEMMS
    return pairs


_OP_SAC_REFORWARD_GEMMS = (
    # op-level checkpointing's re-forward under TP (op_sac_reforward_gathers): each re-gathered input feeds the one
    # GEMM the backward reruns as its left operand, wk (of the QKV GEMM) and w3 (of the gated up-projection); the
    # weight gradients read the gathered tensor as their right operand, which torch's pass does not fuse
    ("all_gather", "qkv.wk"),
    ("all_gather", "mlp_up.w3"),
)


def _async_tp_split_seconds(scenario: Scenario) -> float:
    """Seconds a layer and micro-batch's fused GEMMs take beyond the whole GEMMs the compute model prices, under
    torch's AsyncTP: torch/distributed/_symmetric_memory ``_fused_all_gather_matmul_impl`` calls its consumer once
    per gathered shard (``mm_out_op(shard, B, out=output_shards[idx][rank])``, m/t rows each) and
    ``_fused_matmul_reduce_scatter_impl`` its ``chunk_producer`` once per destination rank
    (``mm_out_op(A_shards[rank], B, out=out)``, m/t rows each), so each fused GEMM is t GEMMs of m/t rows: each
    reads the whole weight and pays its own launch (:func:`dpsim.compute.gemm_time`, ``launches``). The
    pairs of :func:`_fused_pairs`; 0 for the flat compute model (every FLOP at one rate)."""
    t = scenario.training
    whole = _layer_gemm_seconds(scenario)
    split = _layer_gemm_seconds(scenario, t.tensor_parallel)
    return sum(split[name] - whole[name] for _, name in _fused_pairs(scenario))


def tensor_parallel_staging_copies(scenario: Scenario) -> int:
    """Full-length copies a layer and micro-batch makes around its sequence-dimension collectives under DTensor
    sequence parallelism (``training.sequence_parallel_kind: dtensor``); 0 otherwise.

    torchtitan's activations are [b, s, h] sharded on the sequence (``Shard(1)``), and NCCL gathers and scatters along
    dim 0: ``all_gather_tensor`` (``torch/distributed/_functional_collectives.py``, torch 1963fc8 as for the Dec 2024
    rows) gathers into a dim-0 buffer and copies it into the result, ``torch.cat(torch.chunk(res, group_size,
    dim=0), dim=gather_dim)``, and ``reduce_scatter_tensor`` copies its input into dim-0 order first,
    ``torch.cat(torch.chunk(self, group_size, dim=scatter_dim))`` (the copy whose memory
    :func:`dpsim.analytic.memory.sequence_parallel_staging_copy` counts; DTensor's ``Shard._to_replicate_tensor`` and
    ``_reduce_shard_tensor`` call them with dim 1). A layer's forward gathers the attention's and the MLP's input
    (``PrepareModuleInput`` / ``ColwiseParallel``, ``Shard(1)`` to ``Replicate()``) and reduce-scatters the
    attention-out and MLP-down outputs (``RowwiseParallel(output_layouts=Shard(1))``); its backward runs the
    opposite collective for each (the output gradients gathered, the input gradients reduce-scattered): 4 copies a
    forward, 4 a backward, and full recomputation's re-forward 4 more. Under torch's AsyncTP
    (``tp_overlap_kind: torch_async_tp``) the fused ops gather into the result and scatter from their stacked
    partials, so only the collectives the pass leaves plain copy (:func:`_async_tp_backward_pairs`: the backward's
    input-gradient reduce-scatters of a sum). The copies run on the compute stream (``wait_tensor`` then ``cat``) and
    Inductor keeps them (the gather feeds a matmul, the scatter takes one's output), so torch.compile does not save
    them either.
    """
    m, t = scenario.model, scenario.training
    if m.kind != "transformer" or t.tensor_parallel <= 1 or not t.sequence_parallel:
        return 0
    if t.sequence_parallel_kind != "dtensor":
        return 0
    if _tp_comm_overlapped(scenario) and t.tp_overlap_kind == "torch_async_tp":
        return 4 - len(_async_tp_backward_pairs(m.gated_mlp))
    forwards = 2 if t.activation_recomputation == "full" else 1
    return 4 * forwards + 4 + op_sac_reforward_gathers(scenario)


def tensor_parallel_staging_bytes(scenario: Scenario) -> float:
    """Bytes a layer and micro-batch's staging copies (:func:`tensor_parallel_staging_copies`) read and write: each
    copy reads and writes one b·s·h tensor, at the activations' width except the forward passes' input gathers in
    FP8, which torchao's ``PrepareFloat8ModuleInput`` casts to float8 before gathering (1 byte an element, as
    :func:`dpsim.analytic.memory.activation_bytes_per_layer` keeps them), and under torchao's Float8 tensor
    parallelism the backward's output-gradient gathers as well (:func:`float8_sequence_gathers`)."""
    copies = tensor_parallel_staging_copies(scenario)
    if not copies:
        return 0.0
    t = scenario.training
    size = activation_message_bytes(scenario)
    moved = 2.0 * copies * size
    if t.precision == "fp8" and not (_tp_comm_overlapped(scenario) and t.tp_overlap_kind == "torch_async_tp"):
        forwards = 2 if t.activation_recomputation == "full" else 1
        gathers = 2 * forwards + op_sac_reforward_gathers(scenario) + (2 if float8_sequence_gathers(scenario) else 0)
        narrow = float(dtype_bytes("fp8")) / float(working_bytes(t.precision))
        moved -= 2.0 * gathers * size * (1.0 - narrow)
    return moved


def async_tp_layout_copies(scenario: Scenario) -> int:
    """Full-length copies a layer and micro-batch makes because torch's fused all-gather hands the gathered operand
    back in its own row order, under torch's AsyncTP (``tp_overlap_kind: torch_async_tp``) with DTensor's [b, s, h]
    activations sharded on the sequence (``sequence_parallel_kind: dtensor``), more than one sequence a micro-batch
    and 16-bit linears; 0 otherwise.

    torch/distributed/_symmetric_memory ``_fused_all_gather_matmul_impl`` gathers ``A_shard.movedim(gather_dim,
    0).flatten(0, -2)`` (rows in (s, b) order: gather_dim 1 for ``Shard(1)``) and returns the gathered operand as
    ``unflatten(A_flat)``, ``view(t, s/t, b, h).flatten(0, 1).movedim(0, 1)``: a [b, s, h] view with strides
    (h, b·h, 1). Inductor's micro_pipeline_tp pass (``fuse_all_gather_matmul``, ``_Matmul.erase``) removes only
    the reshapes the fused matmuls used alone; the linear's weight gradient reads the same 2-D reshape
    (``mm(grad_2d.t(), x_2d)``), which on that view is no longer a view (b and s cannot merge when b > 1), so
    Inductor materialises it: one b·s·h tensor read and written before the weight-gradient GEMM. Under vanilla
    DTensor the gathered tensor is contiguous (``torch.cat``) and the reshape is free. A layer's weight gradients
    read the attention's and the MLP's gathered inputs (q/k/v share one, w1/w3 one; in the backward's re-forward
    under full recomputation, or saved from the forward) and the output gradients the backward's fused gathers
    bring in (:func:`_async_tp_backward_pairs`): 2 + 2. Under FP8 the weight gradient's ``_scaled_mm`` needs
    transposed float8 operands, copied from the gathered tensor in vanilla and AsyncTP alike (priced with the casts,
    :data:`dpsim.compute.TORCHAO_GATHERED_TRANSPOSE_BYTES`), so nothing is added; with one sequence a micro-batch the
    view is contiguous."""
    m, t = scenario.model, scenario.training
    if not (_tp_comm_overlapped(scenario) and t.tp_overlap_kind == "torch_async_tp"):
        return 0
    if t.sequence_parallel_kind != "dtensor" or t.micro_batch <= 1 or t.precision == "fp8":
        return 0
    backward = [op for op, _ in _async_tp_backward_pairs(m.gated_mlp)]
    return 2 + backward.count("all_gather")


def tensor_parallel_local_time(scenario: Scenario) -> float:
    """Seconds a micro-batch's TP collectives spend on local memory-bound steps of the compute stream: torch AsyncTP's
    fused ops (``training.tp_overlap_kind: torch_async_tp``) and DTensor's full-length staging copies
    (:func:`tensor_parallel_staging_copies`, each reading and writing one b·s·h tensor); 0 otherwise.

    torch/distributed/_symmetric_memory: ``_pipelined_multi_all_gather_and_consume`` copies the local shard
    (S/t bytes of the b·s·h activation S) into the symmetric-memory buffer and waits on a barrier before the first
    chunk's matmul ("giving up the chance to overlap" it): 2·S/t bytes read and written for each fused all-gather;
    ``_fused_matmul_reduce_scatter_impl`` lands the t partial products (S bytes) in ``stacked_partials`` and sums
    them with ``torch.sum`` after the last chunk: S·(1 + 1/t) bytes for each fused reduce-scatter. Per layer the
    forward fuses two of each (QKV and MLP-up after their all-gathers, attention-out and MLP-down before their
    reduce-scatters) and the backward what :func:`_async_tp_backward_pairs` lists; full recomputation's
    re-forward fuses the forward's again. Each step priced as a memory-bound kernel
    (:func:`dpsim.compute.memory_bound_seconds`). Plus what splitting each fused GEMM into t GEMMs of 1/t of the
    rows costs beyond the whole GEMM (:func:`_async_tp_split_seconds`), and the weight gradients' copies of the
    gathered operands the fused all-gathers return in their own row order (:func:`async_tp_layout_copies`).
    """
    t = scenario.training
    copies = tensor_parallel_staging_copies(scenario)
    async_tp = _tp_comm_overlapped(scenario) and t.tp_overlap_kind == "torch_async_tp"
    if not async_tp and not copies:
        return 0.0
    from dpsim import compute

    size, tp = activation_message_bytes(scenario), float(t.tensor_parallel)
    moved = tensor_parallel_staging_bytes(scenario)
    if async_tp:
        forwards = 2 if t.activation_recomputation == "full" else 1
        backward = [op for op, _ in _async_tp_backward_pairs(scenario.model.gated_mlp)]
        gathers = 2 * forwards + op_sac_reforward_gathers(scenario) + backward.count("all_gather")
        scatters = 2 * forwards + backward.count("reduce_scatter")
        moved += gathers * 2.0 * sequence_gather_bytes(scenario) / tp + scatters * size * (1.0 + 1.0 / tp)
        moved += async_tp_layout_copies(scenario) * 2.0 * size
    split = _async_tp_split_seconds(scenario) if async_tp else 0.0
    device = compute.compute_device(scenario)
    return layers_per_stage(scenario) * (compute.memory_bound_seconds(device, moved) + split)


def tensor_parallel_exposed_time(scenario: Scenario, fabric: Fabric) -> float:
    """Seconds of a micro-batch's TP communication on the critical path: all of it, less what
    :func:`tensor_parallel_hidden_time` hides behind GEMMs, plus the local steps of torch's fused ops
    (:func:`tensor_parallel_local_time`)."""
    hidden = tensor_parallel_hidden_time(scenario, fabric)
    return tensor_parallel_comm_time(scenario, fabric) - hidden + tensor_parallel_local_time(scenario)


def _bottleneck(group: Fabric) -> Link:
    if group.nodes == 1:
        return group.intra
    return Link(max(group.intra.latency_s, group.inter.latency_s), min(group.intra.bandwidth, group.inter.bandwidth))


def pipeline_bubble_over_ideal(p: int, m: int, v: int = 1, schedule: str = "1f1b") -> float:
    """Bubble time relative to the ideal (bubble-free) time: (p−1)/m, or (p−1)/(v·m) interleaved.

    Narayanan et al. 2021, §2.2.1 (1F1B, also GPipe's) and §2.2.2 (interleaved).
    """
    _check_pipeline(p, m, v, schedule)
    chunks = v if schedule == "interleaved" else 1
    return (p - 1) / (chunks * m)


def pipeline_bubble_fraction(p: int, m: int, v: int = 1, schedule: str = "1f1b") -> float:
    """Fraction of the step the average stage idles: (p−1)/(m+p−1); interleaved (p−1)/(v·m+p−1).

    The interleaved value is the over-ideal ratio (p−1)/(v·m) expressed as a share of the
    step: x/(1+x).
    """
    x = pipeline_bubble_over_ideal(p, m, v, schedule)
    return x / (1.0 + x)


def _check_pipeline(p: int, m: int, v: int, schedule: str) -> None:
    if schedule not in _SCHEDULES:
        raise ValueError(f"unknown pipeline schedule {schedule!r} (known: {', '.join(_SCHEDULES)})")
    if p < 1 or m < 1 or v < 1:
        raise ValueError(f"pipeline stages, micro-batches and chunks must be >= 1, got p={p}, m={m}, v={v}")


def pipeline_p2p_links(scenario: Scenario, fabric: Fabric) -> tuple[Link, ...]:
    """The link of each stage boundary k (stages k and k + 1 mod p, :func:`stage_boundary_ranks_per_nic`): NVLink
    where its two stages share a node, else the rank's share of its NIC among the boundary's sends through it; on a
    ring of nodes the boundary's sends routed round the ring (:func:`ring_boundary_links`)."""
    t = scenario.training
    p, tp, dp = t.pipeline_parallel, t.tensor_parallel, scenario.data_parallel
    counts = stage_boundary_ranks_per_nic(p, tp, dp, fabric.per_node, fabric.nics_per_node)
    if fabric.topology == "ring" and fabric.nodes > 1 and any(counts):
        routed = ring_boundary_links(fabric, p, tp * dp)
        return tuple(link if n else fabric.intra for n, link in zip(counts, routed, strict=True))
    return tuple(_share_inter(fabric, n) if n and fabric.nodes > 1 else fabric.intra for n in counts)


@functools.lru_cache(maxsize=256)
def ring_boundary_links(fabric: Fabric, p: int, g: int) -> tuple[Link, ...]:
    """Each stage boundary's sends on a ring of nodes, as the shared fabric routes them: every rank of stage k
    (ranks k·g … k·g + g − 1, :func:`rank_of`) sends to its peer g·(k' − k) away at once, over
    :meth:`dpsim.sim.cluster.Cluster.routes` (the ring's shorter way round, :class:`~dpsim.sim.topology.
    RingTopology`: a cable of max(1, nics // 2) NICs' rate to each neighbour, a tie clockwise), and the boundary
    lasts as long as its slowest send: the equal share of the busiest link on its route (max-min's smallest
    rate, min over links of B_l / n_l) at its route's latency; the larger of the two directions. A send two nodes
    round shares the cable between with the sends of the node it passes (PP 2 on a ring of 4 nodes: nodes 0 → 2
    and 1 → 3 both cross the cable 1 → 2, 8 sends on it where each node's NIC carries 4), which the rank's share
    of its NIC (:func:`_share_inter`) did not see. Each directed boundary alone, as elsewhere here."""
    from dpsim.sim.cluster import Cluster

    # the fabric's top-level links, as _share_inter reads them (a profile's size regimes do not reach the sends)
    plain = dataclasses.replace(fabric, rank_order=(), degraded_nics=(), intra_regimes=(), inter_regimes=())
    cluster = Cluster.from_fabric(plain)
    capacity = cluster.links.capacity
    links = []
    for k in range(p):
        a, b = k * g, (k + 1) % p * g
        worst = Link(0.0, math.inf)
        for src, dst in ((a, b), (b, a)):
            ranks = np.arange(g)
            crossing = (src + ranks) // fabric.per_node != (dst + ranks) // fabric.per_node
            if not crossing.any():
                continue
            routes, latency = cluster.routes(src + ranks[crossing], dst + ranks[crossing])
            used = routes[routes >= 0]
            load = np.bincount(used, minlength=len(capacity))
            rate = float(np.min(capacity[used] / load[used]))
            if rate < worst.bandwidth or (rate == worst.bandwidth and float(latency.max()) > worst.latency_s):
                worst = Link(float(latency.max()), rate)
        links.append(worst if math.isfinite(worst.bandwidth) else fabric.intra)
    return tuple(links)


def pipeline_p2p_link(scenario: Scenario, fabric: Fabric) -> Link:
    """The slowest stage boundary's link (:func:`pipeline_p2p_links`): NVLink if every pair of adjacent stages
    shares a node."""
    links = pipeline_p2p_links(scenario, fabric)
    return min(links, key=lambda link: (link.bandwidth, -link.latency_s), default=fabric.intra)


def pipeline_p2p_times(scenario: Scenario, fabric: Fabric) -> tuple[float, ...]:
    """One stage-to-stage send of a micro-batch's activation across each stage boundary k (stages k and k + 1
    mod p, :func:`pipeline_p2p_links`): α + S/B on that boundary's link, () without a pipeline.

    Each of a stage's t TP ranks sends the tensor it holds, :func:`stage_boundary_bytes`: 1/t of it under
    sequence parallelism, else the whole of it. Zero under ``training.pipeline_p2p: blocking`` or ``synchronous``,
    whose transfers sit inside the passes (:func:`pipeline_blocking_p2p_time`; Megatron-LM's 2020-2022
    scatter/gather, 1/t a rank, is priced there).
    """
    t = scenario.training
    if t.pipeline_parallel <= 1:
        return ()
    if t.pipeline_p2p != "overlapped":
        return (0.0,) * t.pipeline_parallel
    size = stage_boundary_bytes(scenario)
    return tuple(send_time(size, link) for link in pipeline_p2p_links(scenario, fabric))


def stage_boundary_bytes(scenario: Scenario) -> float:
    """Bytes one TP rank sends across a stage boundary for a micro-batch under ``training.pipeline_p2p:
    overlapped``, and keeps as a receive buffer (:func:`dpsim.analytic.memory.pipeline_stage_buffers`): the
    residual stream its last layer returns, b·s·h at the working width (:func:`activation_message_bytes`), 1/t of
    it under sequence parallelism (the sequence shard), else all of it on every TP rank.

    Megatron-core's schedules send the tensor as the stage holds it: ``get_tensor_shapes``
    (``megatron/core/pipeline_parallel/schedules.py``, core_r0.8.0 and core_v0.14.0) divides the sequence by t
    only ``if config.sequence_parallel``, and ``p2p_communication._communicate`` sends that shape whole. The
    scatter/gather of Megatron-LM 2020-2022 (``--scatter-gather-tensors-in-pipeline``: each rank 1/t, the
    receiver all-gathers; Narayanan et al. 2021 §4.1) was dropped when the schedules moved into core
    (NVIDIA/Megatron-LM 39b83c7, "Move p2p_communication.py and schedules.py into core", Jan 2023); it stays
    with ``pipeline_p2p: synchronous`` (:func:`_megatron_synchronous_p2p_time`). ``torch.distributed.pipelining``
    likewise sends the stage's output tensor, the sequence shard a torchtitan block returns under sequence
    parallelism."""
    t = scenario.training
    return activation_message_bytes(scenario) / (t.tensor_parallel if t.sequence_parallel else 1)


def pipeline_p2p_time(scenario: Scenario, fabric: Fabric) -> float:
    """The longest stage-to-stage send (:func:`pipeline_p2p_times`); 0 without a pipeline or with its transfers
    inside the passes (``training.pipeline_p2p: blocking`` or ``synchronous``)."""
    return max(pipeline_p2p_times(scenario, fabric), default=0.0)


def pipeline_sends(times: tuple[float, ...]) -> Any:
    """What the schedule evaluation takes as its sends (:mod:`dpsim.analytic.pipeline_schedule`): one float where
    every stage boundary's send is as long (the same arithmetic as before), else each boundary's."""
    if not times:
        return 0.0
    return times[0] if len(set(times)) == 1 else tuple(times)


def _busiest_stage(per_boundary: list[float], wrap: bool) -> float:
    """The most a stage carries when it carries ``per_boundary[k]`` for each boundary k it touches (its own, k = d,
    and the one before, k = d − 1): the last boundary, stage p − 1 to 0, only with ``wrap`` (the interleaved
    schedule's chunks); with 2 stages and no wrap each stage touches boundary 0 once."""
    p = len(per_boundary)
    if p == 2 and not wrap:
        return per_boundary[0]
    worst = 0.0
    for d in range(p):
        before = per_boundary[d - 1] if d > 0 or wrap else 0.0
        after = per_boundary[d] if d < p - 1 or wrap else 0.0
        worst = max(worst, before + after)
    return worst


def _partitioned_transfer(size: float, tp: int, link: Link) -> float:
    """DeepSpeed's ``PartitionedTensor`` sent between stages, two blocking ``p2p.send`` calls: its metadata
    (``to_meta()``: a LongTensor [ndims, 3 sizes, num_parts, rank, t + 1 offsets], (t + 7)·8 bytes for a
    b·s·h tensor) and this rank's 1/t of the data."""
    return send_time(8.0 * (tp + 7), link) + send_time(size / tp, link)


def pipeline_blocking_p2p_time(scenario: Scenario, fabric: Fabric) -> float:
    """Stage-boundary communication one micro-batch adds to a stage's compute stream under
    ``training.pipeline_p2p: blocking`` (DeepSpeed's ``PipelineEngine``); 0 otherwise.

    DeepSpeed 0.3-0.5 ``runtime/pipe/schedule.py`` ``TrainSchedule.steps``: a forward step runs
    ``RecvActivation`` then ``SendGrad`` (of the previous micro-batch), a backward step ``SendActivation``
    (of the previous one) then ``RecvGrad``, each a blocking ``p2p.send``/``p2p.recv`` before the pass. A
    middle stage's micro-batch therefore carries four transfers of S = b·s·h·bytes, the first and last
    stages' two; with p = 2 every stage is an end. With TP (``is_pipe_partitioned = is_model_parallel``)
    an activation travels as a ``PartitionedTensor``: metadata, then 1/t of S (:func:`_partitioned_transfer`);
    the receiver rebuilds it with ``PartitionedTensor.full()``, an all-gather over the TP group, before its
    forward, and the sender rebuilds its own output the same way before the backward. A gradient travels
    partitioned likewise (one more all-gather before the backward) when ``pipeline_grad_partitioned``,
    else whole from every TP rank. Seconds for the busiest (middle) stage:
    2·act + 2·grad + gathers, or act + grad + gathers with p = 2.
    """
    t = scenario.training
    if t.pipeline_parallel <= 1 or t.pipeline_p2p == "overlapped":
        return 0.0
    if t.pipeline_p2p == "synchronous":
        return _megatron_synchronous_p2p_time(scenario, fabric)
    size, tp = activation_message_bytes(scenario), t.tensor_parallel
    transfers = []  # act + grad across each stage boundary
    for link in pipeline_p2p_links(scenario, fabric):
        if tp == 1:
            act = grad = send_time(size, link)
        else:
            act = _partitioned_transfer(size, tp, link)
            grad = act if t.pipeline_grad_partitioned else send_time(size, link)
        transfers.append(act + grad)
    gathers = 0.0
    if tp > 1:
        one_gather = all_gather_time(size, tp, _bottleneck(tensor_parallel_fabric(tp, fabric)))
        # forward: the received input; backward: this stage's own output (and the received gradient)
        gathers = one_gather * ((2 if t.pipeline_parallel > 2 else 1) + (1 if t.pipeline_grad_partitioned else 0))
    return _busiest_stage(transfers, wrap=False) + gathers


def tied_embedding_allreduce_time(scenario: Scenario, fabric: Fabric) -> float:
    """All-reduce of the tied word-embedding gradient between the first and the last pipeline stage, once a
    step, after the last backward and before the optimizer step: exposed. 0 without a pipeline or with
    untied embeddings.

    With p > 1 the input embedding sits on the first stage and its tied copy, the output head, on the
    last; every framework that pipelines a tied model sums the two gradients. DeepSpeed's
    ``PipelineEngine._exec_reduce_tied_grads`` (``ReduceTiedGrads``, the schedule's last step before
    ``ReduceGrads``; 0.3-0.5: ``PipelineModule.allreduce_tied_weight_gradients``) all-reduces
    ``weight.grad``, and under bf16 (>= 0.6.2) ``weight._hp_grad``, ``BF16_Optimizer``'s fp32 gradient;
    Megatron-LM's ``allreduce_word_embedding_grads`` (``megatron/optimizer/optimizer.py``, after the
    data-parallel reduction) all-reduces ``main_grad``. Each rank holds V/t rows of h: S = ⌈V/t⌉·h·bytes
    (fp32 under ``gradient_accumulation_pass: fp32_copy``, else the gradient buffer's dtype). Two ranks,
    ``(p−1)·t·dp`` apart (:func:`rank_of`), a ring: 2α + S/B. Only the embedding group's ranks send: Megatron's
    ``parallel_state`` builds one group of the first and the last rank of each pipeline group (stage 0's and stage
    p − 1's ranks of one TP and DP coordinate), and every group reduces at once after the data-parallel reduction
    (``finalize_model_grads``: ``finish_grad_sync``, then ``_allreduce_embedding_grads``; not overlapped). Those
    pairs are the pipeline's wrap boundary, stage p − 1 to 0 (:func:`stage_boundary_ranks_per_nic`), so B is that
    boundary's link (:func:`pipeline_p2p_links`): NVLink when both ranks share a node (the whole job on one node),
    else the NIC's rate over the pairs that cross through one NIC at once, which is every rank of the node only
    when a stage holds a node or more (a smaller stage: its ``t·dp`` ranks, on the NICs of their affinity).
    """
    t, m = scenario.training, scenario.model
    if t.pipeline_parallel <= 1 or not m.tied_embeddings or m.kind != "transformer" or m.vocab <= 0:
        return 0.0
    fp32_grad = scenario.deepspeed_bf16_optimizer
    width = dtype_bytes("fp32") if fp32_grad else scenario.gradient_buffer_bytes_per_param
    size = math.ceil(m.vocab / t.tensor_parallel) * m.hidden * width
    return ring_allreduce_time(size, 2, pipeline_p2p_links(scenario, fabric)[-1])


def _megatron_synchronous_p2p_time(scenario: Scenario, fabric: Fabric) -> float:
    """Stage-boundary communication one micro-batch adds to the busiest stage's compute stream under
    ``training.pipeline_p2p: synchronous`` (Megatron-LM 2020-2022).

    ``p2p_communication._communicate`` (NVIDIA/Megatron-LM de7dc40, the SC21 artifact; unchanged in this
    respect to 2022): the exchange's sends and receives go out as one ``torch.distributed.batch_isend_irecv``,
    every request is waited and ``torch.cuda.synchronize()`` follows, so nothing overlaps compute. With TP
    (``--scatter-gather-tensors-in-pipeline``, on by default) each rank sends 1/t of the b·s·h tensor
    (``split_tensor_into_1d_equal_chunks``) and the receiver rebuilds it with an all-gather over the TP group
    (``gather_split_1d_tensor``); under sequence parallelism the tensor is already 1/t and is sent as it is.
    One exchange costs a transfer plus that gather.

    - Plain 1F1B (``forward_backward_pipelining_without_interleaving``): a middle stage runs
      ``send_forward_recv_backward`` after each forward and ``send_backward_recv_forward`` after each
      backward, two exchanges a micro-batch, each one transfer each way over a full-duplex link and one
      gather; the first and last stages skip one of the two (p = 2: one a micro-batch).
    - Interleaved (``forward_backward_pipelining_with_interleaving``): every model chunk's forward and
      backward pair is followed by ``send_forward_backward_recv_forward_backward``, which sends an
      activation to the next stage and a gradient to the previous one through the rank's NIC and receives
      both (two transfers, two gathers); the warm-up and cool-down exchange one tensor after each chunk's
      pass, the same count. v chunks: 2·v transfers and gathers a micro-batch.
    """
    t = scenario.training
    size, tp = activation_message_bytes(scenario), t.tensor_parallel
    gather = 0.0
    if tp > 1:
        size /= tp  # scattered (or, under sequence parallelism, already sharded)
        if not t.sequence_parallel:
            gather = all_gather_time(size * tp, tp, _bottleneck(tensor_parallel_fabric(tp, fabric)))
    ones = [send_time(size, link) + gather for link in pipeline_p2p_links(scenario, fabric)]
    if scenario.interleaves_chunks:  # one chunk a stage runs plain 1F1B (Scenario.interleaves_chunks)
        return t.virtual_stages * _busiest_stage(ones, wrap=True)
    return _busiest_stage(ones, wrap=False)


@dataclass(frozen=True)
class PipelineTiming:
    """Time of one pipelined step of m micro-batches, split into its parts (seconds)."""

    compute_s: float
    """m·(t_f + t_b): the work of one stage."""
    bubble_s: float
    """(p−1)/v·(t_f + t_b): idle time of fill and drain."""
    p2p_s: float
    """Exposed point-to-point time on the critical path (see :func:`pipeline_step`)."""

    @property
    def step_s(self) -> float:
        return self.compute_s + self.bubble_s + self.p2p_s

    @property
    def bubble_fraction(self) -> float:
        return self.bubble_s / self.step_s if self.step_s > 0 else 0.0


def pipeline_step(
    forward_s: float,
    backward_s: float,
    p: int,
    m: int,
    v: int = 1,
    schedule: str = "1f1b",
    p2p_s: float = 0.0,
) -> PipelineTiming:
    """Makespan of a pipelined step: (m + (p−1)/v)·(t_f + t_b) plus the exposed sends.

    ``forward_s``/``backward_s`` are one micro-batch's forward/backward time on one stage
    (all its chunks), ``p2p_s`` one activation send (assumed shorter than a chunk's
    compute). Balanced stages, no straggler. Compute and bubble: GPipe's makespan
    (m + p − 1)·(t_f + t_b) (Huang et al. 2019), the interleaved (p−1)/v bubble of
    Narayanan et al. 2021 §2.2.2.

    Exposed sends. GPipe and interleaved 1F1B: the first micro-batch's forward crosses
    p·v − 1 chunk boundaries before the last chunk can start and its backward as many on
    the way back, 2·(p·v − 1) sends; later sends overlap with compute (the warm-up leaves
    slack). Plain 1F1B (warm-up p − i − 1, no slack): in steady state the last stage's
    next forward waits for a round trip, so every p micro-batches add another 2·(p−1)
    sends: 2·(p−1)·(1 + m/p) − 2 for m ≥ p, and 2·(p−1) + 2·max(0, m−2) for m ≤ p (the two
    agree at m = p). Both are checked against an executed
    schedule in tests/test_parallel.py (exact for m a multiple of p).
    """
    _check_pipeline(p, m, v, schedule)
    chunks = v if schedule == "interleaved" else 1
    per_mb = forward_s + backward_s
    if p <= 1:
        sends = 0.0
    elif schedule == "1f1b" or (schedule == "interleaved" and v == 1):
        sends = 2.0 * (p - 1) + 2.0 * max(0, m - 2) if m <= p else 2.0 * (p - 1) * (1.0 + m / p) - 2.0
    else:
        sends = 2.0 * (p * chunks - 1)
    return PipelineTiming(
        compute_s=m * per_mb,
        bubble_s=(p - 1) / chunks * per_mb,
        p2p_s=sends * p2p_s,
    )
