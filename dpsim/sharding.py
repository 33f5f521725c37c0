"""What a sharded data-parallel step communicates, per micro-batch and per step, as each framework runs it.

One description (:func:`step_traffic`) read by both engines, so that traffic and memory agree
under gradient accumulation (``k`` micro-batches):

- DDP, DeepSpeed ZeRO-1 and Megatron's distributed optimizer accumulate full local gradients and
  reduce once per step; ZeRO-1/2 (DeepSpeed) and Megatron all-gather the updated parameters after
  the optimizer step.
- DeepSpeed ZeRO-2/3 reduce-scatter every micro-batch into the rank's gradient shard (``no_sync``
  is refused); ZeRO-3 all-gathers the parameters before each forward and each backward, except those its
  coordinator keeps gathered for reuse (``stage3_max_reuse_distance``: the forward's last layers and the
  output head, :func:`dpsim.analytic.memory.zero3_kept_parameters`), which the backward does not gather.
  Under full recomputation the recomputed forward gathers each checkpointed layer (the backward's gather)
  and the backward gathers again what the coordinator released in between
  (:func:`dpsim.analytic.memory.zero3_recompute_regathered_parameters`): the backward's share exceeds 1.
- PyTorch FSDP (``torch.distributed.fsdp``, ``ShardingStrategy``; Zhao et al. 2023, "PyTorch
  FSDP", §3.2-3.4), ``optimizer_sharding: fsdp``:

  - FULL_SHARD (``zero_stage: 3``, ``reshard_after_forward``): all-gather in every forward, free
    after it, all-gather again in the backward, reduce-scatter after it: per micro-batch two
    gathers and one reduce-scatter. Under ``no_sync`` the gathers stay (FSDP still frees
    parameters that are resharded after forward, ``_should_free_in_backward``) and only the last
    micro-batch reduce-scatters.
  - SHARD_GRAD_OP (``zero_stage: 2``): the forward's gather is kept through the backward and freed
    after it: one gather and one reduce-scatter per micro-batch, no post-step gather (the next
    forward gathers the updated shards). Under ``no_sync`` FSDP does not free the parameters after
    backward while it skips gradient synchronisation (the same ``_should_free_in_backward``: a
    heuristic trading memory for throughput), so the first forward's gather serves every
    micro-batch of the step: one gather and one reduce-scatter per step. FSDP2's
    ``set_reshard_after_backward(False)`` (``training.fsdp_reshard_after_backward: false``; what
    ``torch.distributed.pipelining`` sets on FSDP stages for all but the last micro-batch) keeps them
    the same way while still reduce-scattering every micro-batch.
  - HYBRID_SHARD (``training.fsdp_shard_group``: G ranks): FULL_SHARD (or SHARD_GRAD_OP:
    ``_HYBRID_SHARD_ZERO2``) inside each shard group, so gathers and reduce-scatters run over G
    ranks; each reduce-scatter's 1/G shard is then all-reduced across the dp/G replicas, on a
    stream of its own that overlaps the next reduce-scatter (``_all_reduce_stream``; the engines:
    :func:`dpsim.streams.two_stream_end`, :mod:`dpsim.sim.training`), every group of a kind at
    once on the cluster's links (:mod:`dpsim.sim.collectives.groups`).

  The root unit: wrapped per transformer layer (``transformer_auto_wrap_policy``; FSDP2
  ``fully_shard`` on each block, then on the model), FSDP leaves the parameters outside the layers
  (embeddings, output head) to the root, which is never resharded after forward (FSDP1
  ``_runtime_utils._post_forward_reshard``: ``free_unsharded_flat_param = not state._is_root and
  ...``; FSDP2 ``FSDPState._lazy_init``: the root's ``post_forward_mesh_info = None``, "the parameters
  would be freed and all-gathered immediately"). Each backward therefore gathers only the layers
  (:attr:`StepTraffic.backward_gather_share`), and the root stays gathered through forward and
  backward (:func:`dpsim.analytic.memory.stage_root_parameters`). For Llama 3 8B (a 128K vocabulary,
  untied) the root is 13 % of the parameters.

  Prefetching (``backward_prefetch=BACKWARD_PRE``, the default, and the forward issued ahead by
  the CPU or ``forward_prefetch``) gathers one unit ahead of its compute, as the engines' flow shop
  does; ``communication.overlap: false`` is no prefetch at all.
- PyTorch's ``ZeroRedundancyOptimizer`` over DDP (``optimizer_sharding: torch``, ``zero_stage: 1``;
  torch 2.13 ``torch/distributed/optim/zero_redundancy_optimizer.py``, ``overlap_with_ddp=False``, its
  default): DDP all-reduces its ``communication.bucket`` buckets during the last backward as without
  sharding; each rank then steps only the parameters it owns, whole tensors dealt out by
  ``_partition_parameters`` (per parameter group, largest first, each to the rank with the fewest
  elements so far: :func:`zero_partition`, so the shards are unequal), and ``step`` ends in
  ``_sync_params``: for every rank in turn ``_broadcast_params_from_rank`` broadcasts each parameter that
  rank owns (``dist.broadcast(param.data, src=owner)``, one collective a tensor), or with
  ``parameters_as_bucket_view`` the rank's one flat bucket (:func:`torch_zero_broadcasts`). The
  broadcasts are issued asynchronously and all waited for before ``step`` returns: after the optimizer,
  nothing to overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dpsim.scenario import Scenario

__all__ = [
    "CollectivePieces",
    "StepTraffic",
    "collective_pieces",
    "float8_weight_copy_bytes",
    "gathered_layer_width",
    "optimizer_partition",
    "parameter_gather_bytes",
    "step_traffic",
    "torch_zero_broadcasts",
    "torch_zero_partition",
    "zero_partition",
]


@dataclass(frozen=True)
class StepTraffic:
    """Collectives of one optimizer step on one data-parallel rank, by count."""

    forward_gathers: int
    """Forward passes per step that all-gather the parameters first (ZeRO-3, FSDP)."""
    backward_gathers: int
    """Backward passes per step that all-gather the parameters first (ZeRO-3, FSDP FULL_SHARD)."""
    gradient_reductions: int
    """Gradient collectives per step: one, or one per micro-batch (DeepSpeed ZeRO-2/3, FSDP)."""
    post_step_gather: bool
    """All-gather of the updated parameters after the optimizer step (ZeRO-1/2, Megatron)."""
    shard_ranks: int
    """Ranks the parameters, gradients and optimizer states are sharded over (HYBRID_SHARD: G)."""
    replicas: int
    """Shard groups holding the same shard (dp / G); > 1: each reduced shard is all-reduced across them."""
    backward_gather_share: float = 1.0
    """Share of the parameters each backward all-gathers: FSDP keeps its root unit gathered from
    forward to backward, so the backward gathers only the wrapped layers; DeepSpeed ZeRO-3 keeps what
    comes back within ``stage3_max_reuse_distance`` elements (the last layers and the output head)."""
    post_step_broadcast: bool = False
    """Broadcasts of the updated parameters from their owners after the optimizer step (torch's
    ``ZeroRedundancyOptimizer``: :func:`torch_zero_broadcasts`)."""

    def bytes_per_step(
        self, parameter_bytes: float, gradient_bytes: float, backward_parameter_bytes: float | None = None
    ) -> dict[str, float]:
        """Payload of each kind of collective per step (a collective of S bytes counts S).

        ``parameter_bytes``: what a forward's gather moves, the rank's parameters (Ψ/(tp·pp)) at their gathered
        width (:func:`parameter_gather_bytes`); ``backward_parameter_bytes``: what a backward's gather moves, where
        that is not ``parameter_bytes`` × :attr:`backward_gather_share` (FSDP's float8 all-gather: the layers'
        own width); ``gradient_bytes``: the gradient in the communication dtype. ``gradient`` is all-reduced
        (DDP) or reduce-scattered; ``replica_allreduce`` is the HYBRID_SHARD all-reduce of each 1/G shard.
        """
        post = 1 if self.post_step_gather else 0
        if backward_parameter_bytes is None:
            backward = self.backward_gathers * self.backward_gather_share
            gathered = (self.forward_gathers + backward + post) * parameter_bytes
        else:
            backward_bytes = self.backward_gathers * backward_parameter_bytes
            gathered = (self.forward_gathers + post) * parameter_bytes + backward_bytes
        replica = self.gradient_reductions * gradient_bytes / self.shard_ranks if self.replicas > 1 else 0.0
        out = {
            "parameter_gather": gathered,
            "gradient": self.gradient_reductions * gradient_bytes,
            "replica_allreduce": replica,
        }
        if self.post_step_broadcast:  # every parameter once, from its owner
            out["parameter_broadcast"] = parameter_bytes
        return out


def step_traffic(scenario: Scenario) -> StepTraffic:
    """The collectives of one step of ``scenario`` (see the module docstring for each framework)."""
    t, dp, k = scenario.training, scenario.data_parallel, scenario.accumulation_steps
    if dp <= 1:
        return StepTraffic(0, 0, 0, False, 1, 1)
    zero, reductions = t.zero_stage, (k if scenario.reduces_every_micro_batch else 1)
    group = t.fsdp_shard_group or dp
    if t.optimizer_sharding == "torch":  # DDP's all-reduce once a step, then the owners' broadcasts
        return StepTraffic(0, 0, 1, False, dp, 1, post_step_broadcast=True)
    if t.optimizer_sharding == "fsdp":
        kept_across_micro_batches = zero == 2 and (
            scenario.keeps_unsharded_gradients or not t.fsdp_reshard_after_backward
        )
        forward = 1 if kept_across_micro_batches else k
        share = 1.0
        if zero == 3:  # the root unit is not resharded after forward, so not gathered again
            from dpsim.analytic.memory import stage_parameters, stage_root_parameters

            share = 1.0 - sum(stage_root_parameters(scenario)) / sum(stage_parameters(scenario))
        return StepTraffic(forward, k if zero == 3 else 0, reductions, False, group, dp // group, share)
    gathered = k if zero == 3 else 0
    share = 1.0
    if zero == 3:  # what the coordinator keeps for reuse is not gathered again (the first stage's, as for FSDP);
        # under full recomputation what it releases between a layer's recomputed forward and its backward is
        from dpsim.analytic.memory import (
            stage_parameters,
            zero3_kept_parameters,
            zero3_recompute_regathered_parameters,
        )

        kept = zero3_kept_parameters(scenario, 0) - zero3_recompute_regathered_parameters(scenario, 0)
        share = 1.0 - kept / stage_parameters(scenario)[0]
    if share <= 1e-12:  # everything kept: the backward gathers nothing
        return StepTraffic(gathered, 0, reductions, False, dp, 1)
    return StepTraffic(gathered, gathered, reductions, zero in (1, 2), dp, 1, share)


@dataclass(frozen=True)
class CollectivePieces:
    """What one data-parallel collective of a step moves, in bytes: the pieces both engines cut a step into."""

    gradient_bucket: float
    """Each gradient reduction (all-reduce or reduce-scatter) but the remainder; with :attr:`gradient_buckets`
    listed, their cap (DeepSpeed's ``reduce_bucket_size`` at the communication width)."""
    gather_piece: float
    """Each all-gather of the parameters before a forward or backward (ZeRO-3, FSDP)."""
    post_step_gather: float
    """Each all-gather of the updated parameters after the optimizer step (ZeRO-1/2, Megatron)."""
    prefetch: bool
    """Whether the pre-pass gathers run ahead of the compute that uses them (else on demand, in series)."""
    gradient_buckets: tuple[float, ...] = ()
    """DeepSpeed ZeRO's reduce (IPG) buckets of the rank's gradient tensors, in the order it reduces them
    (bytes; :func:`dpsim.buckets.deepspeed_bucket_layout`); they add up to the gradient the engines reduce.
    Empty: the tensors are unknown (or not DeepSpeed's IPG path) and the gradient is a stream of
    :attr:`gradient_bucket` pieces, then the remainder."""

    @property
    def reduced_gradient_bytes(self) -> float | None:
        """The gradient bytes the listed buckets reduce (None: no list, the engines' Ψ/(tp·pp) stream)."""
        return float(sum(self.gradient_buckets)) if self.gradient_buckets else None

    post_step_broadcasts: tuple[float, ...] = ()
    """Each broadcast of the updated parameters after the optimizer step, in the order they are issued
    (torch's ``ZeroRedundancyOptimizer``: :func:`torch_zero_broadcasts`)."""


def collective_pieces(scenario: Scenario) -> CollectivePieces:
    """How ``scenario``'s step cuts its data-parallel collectives (both engines read this, never the fields).

    ``communication.bucket`` for DDP and Megatron's distributed optimizer. FSDP (SHARD_GRAD_OP, FULL_SHARD,
    HYBRID_SHARD) issues one all-gather and one reduce-scatter a wrapped unit (torch 2.13: FSDP2
    ``_fully_shard/_fsdp_param_group.py``, ``FSDPParamGroup.unshard``'s one ``foreach_all_gather`` and
    ``post_backward``'s one ``foreach_reduce``; FSDP1 one ``FlatParameter`` a wrapped module, gathered by
    ``FlatParamHandle.unshard`` and reduced by ``_runtime_utils._reduce_grad``): pieces of one unit
    (:func:`fsdp_unit_parameters`) at the parameters' and the gradients' communication width. The engines cut
    a pass into equal pieces, so the root unit (embeddings, head) is a remainder of unit-sized pieces: its
    bytes exact, ceil(R/u) collectives where FSDP issues one. DeepSpeed ZeRO
    (:attr:`dpsim.scenario.Scenario.deepspeed`) sizes its own, in elements (DeepSpeed 0.16.5,
    ``deepspeed/runtime/zero/``):

    - gradients: ``reduce_bucket_size`` elements at the communication width. Stages 1/2
      (``stage_1_and_2.py``, ``reduce_independent_p_g_buckets_and_remove_grads``) and stage 3
      (``stage3.py``, the same function) append each ready gradient to the reduce (IPG) bucket and
      reduce the bucket first when the gradient would overflow it (``average_tensor`` /
      ``__reduce_and_partition_ipg_grads``); a gradient is never split and one larger than the bucket is
      reduced alone. When dpsim knows the model's tensors (:func:`dpsim.buckets.gradient_tensors`; with
      pipeline parallelism the first stage's, whose reduction ends the step) the buckets are cut at
      their boundaries (:attr:`CollectivePieces.gradient_buckets`), in the order DeepSpeed meets them:
      as the backward makes them ready (reverse registration order: the gradient hooks of stages 2/3,
      and of stage 1 with ``overlap_comm``), or in registration order at stage 1 without
      ``overlap_comm`` (``reduce_gradients`` walks the parameter groups after the backward; one group
      assumed). Otherwise full buckets then the remainder. Not for DeepSpeed's ``BF16_Optimizer``
      (:attr:`dpsim.scenario.Scenario.deepspeed_bf16_optimizer`), which has no IPG buckets: its pipeline
      engine (0.6.5 ``pipe/engine.py`` ``_bf16_reduce_grads``) passes the optimizer's flat fp32 gradient
      groups to ``buffered_allreduce_fallback``, whose ``allreduce_no_retain`` closes a bucket only once it
      holds more than ``MEMORY_OPT_ALLREDUCE_SIZE`` (5e8) elements, so each group is one all-reduce; the
      weight-decay group holds every matrix (Megatron-DeepSpeed's two groups), so one collective of the
      whole gradient (the no-decay group's biases and norms, a few MB, ride along or go alone).
    - the post-step all-gather (stages 1/2): one collective over the whole parameter partition
      (``runtime/utils.py`` ``all_gather_dp_groups`` -> ``all_gather_into_tensor_dp_groups``: one
      ``all_gather_into_tensor`` per parameter group whenever torch has it, >= 1.13; only older torch
      cuts it into ``partition x dp // allgather_bucket_size`` shards, so ``allgather_bucket_size``
      does not matter).
    - ZeRO-3's gathers (``partitioned_param_coordinator.py``, ``fetch_sub_module``): after fetching
      the module it runs, the coordinator all-gathers the next ``stage3_prefetch_bucket_size``
      elements of the traced parameter order in one coalesced call, ahead of their use: pieces of
      that many elements at the parameters' width, prefetched. 0 turns prefetching off: each module
      is gathered when it runs and waited for; the engines gather a layer at a time then (the
      bandwidth term exact, one collective's latency a layer instead of one a module).
    """
    c = scenario.communication
    ds = scenario.deepspeed
    if scenario.training.optimizer_sharding == "torch" and scenario.data_parallel > 1:
        return CollectivePieces(
            c.bucket, c.bucket, c.bucket, c.overlap, post_step_broadcasts=torch_zero_broadcasts(scenario)
        )
    if scenario.training.optimizer_sharding == "fsdp" and scenario.training.zero_stage >= 2:
        unit = fsdp_unit_parameters(scenario)  # FSDP: one all-gather and one reduce-scatter a wrapped unit
        return CollectivePieces(
            unit * scenario.gradient_bytes_per_param,
            parameter_gather_bytes(scenario, unit, layers=True),
            c.bucket,
            c.overlap,
        )
    if ds is None:
        return CollectivePieces(c.bucket, c.bucket, c.bucket, c.overlap)
    t, m = scenario.training, scenario.model
    width = scenario.param_bytes_per_param
    params = m.num_parameters / (t.tensor_parallel * t.pipeline_parallel) * width
    gradient = float(ds.reduce_bucket_size * scenario.gradient_bytes_per_param)
    if scenario.deepspeed_bf16_optimizer:  # one all-reduce of its flat fp32 gradient group
        gradient = m.num_parameters / (t.tensor_parallel * t.pipeline_parallel) * scenario.gradient_bytes_per_param
    listed = _deepspeed_gradient_buckets(scenario, gradient, ds.overlap_comm)
    if t.zero_stage < 3:
        return CollectivePieces(gradient, c.bucket, params, c.overlap, listed)
    if ds.prefetch_bucket_size > 0:
        return CollectivePieces(gradient, ds.prefetch_bucket_size * width, params, c.overlap, listed)
    layers = max(1.0, m.layers / t.pipeline_parallel)
    return CollectivePieces(gradient, params / layers, params, False, listed)


FLOAT8_BYTES = 1.0
"""Bytes of a float8 element (torch.float8_e4m3fn), as FSDP's float8 all-gather moves each linear weight."""


def linear_weight_share(scenario: Scenario) -> float:
    """Share of a transformer layer's parameters (elements) that are its linear layers' weights: q, k, v, o and the
    MLP's up (gate and up when gated) and down projections, of :func:`dpsim.buckets.transformer_layer_tensors` (the
    rest are norms and biases). The same share on every tensor-parallel rank (each weight is split t ways)."""
    from dpsim.buckets import transformer_layer_tensors

    m = scenario.model
    h = float(m.hidden)
    kv = h * (m.kv_heads or m.heads) / m.heads
    ffn = float(m.ffn_hidden or 4 * m.hidden)
    linear = h * (2.0 * h + 2.0 * kv) + (3.0 if m.gated_mlp else 2.0) * ffn * h
    return linear / sum(transformer_layer_tensors(m))


def gathered_layer_width(scenario: Scenario) -> float:
    """Bytes an element of a wrapped transformer layer moves in an all-gather, on average over the layer: the
    parameter dtype (:attr:`dpsim.scenario.Scenario.param_bytes_per_param`), except under FSDP's float8
    all-gather (``training.fsdp_float8_all_gather``), where the linear weights (:func:`linear_weight_share`) move
    at :data:`FLOAT8_BYTES` (torchao ``WeightWithDynamicFloat8CastTensor.fsdp_pre_all_gather`` casts the shard
    and hands FSDP its float8 data; ``fsdp_post_all_gather`` wraps the gathered bytes as the linear's float8
    weight) and the norms at the parameter dtype."""
    p = float(scenario.param_bytes_per_param)
    if not scenario.training.fsdp_float8_all_gather:
        return p
    share = linear_weight_share(scenario)
    return share * FLOAT8_BYTES + (1.0 - share) * p


def float8_weight_copy_bytes(scenario: Scenario) -> float:
    """Bytes of the column-major copy torchao makes of a gathered float8 weight for its input-gradient GEMM
    (``float8_ops.py`` ``preprocess_addmm``, ``b_data.t().contiguous().t()``; FSDP gathers the weight row-major), alive
    for that GEMM: the layer's largest linear weight on this rank (``max(h, ffn) x h / t``) at :data:`FLOAT8_BYTES`;
    0 without ``training.fsdp_float8_all_gather`` (the forward's cast then writes both layouts and saves them)."""
    if not scenario.training.fsdp_float8_all_gather:
        return 0.0
    m = scenario.model
    return FLOAT8_BYTES * max(m.hidden, m.ffn_hidden or 4 * m.hidden) * m.hidden / scenario.training.tensor_parallel


def parameter_gather_bytes(scenario: Scenario, parameters: float, share: float = 1.0, *, layers: bool = False) -> float:
    """Bytes an all-gather of ``parameters`` elements of one device moves (times ``share``, the part of them a pass
    gathers): the one pricing of gathered parameter bytes, read by both engines' gathers
    (:func:`collective_pieces`' unit, the pass's total), FSDP2's copy-out (:func:`dpsim.compute.fsdp2_bytes_per_param`)
    and the unsharded parameters' memory (:mod:`dpsim.analytic.memory`).

    At the parameter dtype unless ``training.fsdp_float8_all_gather``; then ``layers`` (the elements are wrapped
    layers': a unit, a backward's gather, which leaves the root out) prices every element at
    :func:`gathered_layer_width`, and otherwise the elements are the device's whole model, whose root unit
    (embeddings and output head, :func:`dpsim.analytic.memory.stage_root_parameters`, never Float8Linear: torchtitan
    filters the output out) stays at the parameter dtype."""
    p = scenario.param_bytes_per_param
    if not scenario.training.fsdp_float8_all_gather:
        return parameters * p * share
    layer = gathered_layer_width(scenario)
    if layers:
        return parameters * share * layer
    from dpsim.analytic.memory import stage_parameters, stage_root_parameters

    root = sum(stage_root_parameters(scenario)) / sum(stage_parameters(scenario))
    return parameters * share * (root * p + (1.0 - root) * layer)


def fsdp_units(scenario: Scenario) -> int:
    """Wrapped units besides the root that FSDP gathers and reduces one by one on a pipeline stage's device.

    A transformer's layers (the stage's L/p): ``transformer_auto_wrap_policy`` (FSDP1, ``torch/distributed/fsdp/
    wrap.py``) wraps each block class, FSDP2 users (and the runtime's ``shard_units``) call ``fully_shard`` on
    each block; embeddings, final norm and output head stay in the root unit. Other models: the runtime's MLP
    (``runtime.model.build_model``: ``model.layers`` linear layers, 4 when unset), whose ``shard_units``
    wraps each ``nn.Linear``, leaving the root no parameters of its own.
    """
    m, t = scenario.model, scenario.training
    if m.kind == "transformer":
        return max(1, m.layers // t.pipeline_parallel)
    return m.layers or 4


def fsdp_unit_parameters(scenario: Scenario) -> float:
    """Parameters (elements) in one wrapped unit on one device: a transformer layer, after tensor parallelism
    (the non-embedding parameters spread evenly over the layers, :func:`dpsim.analytic.memory.stage_parameters`),
    or one of :func:`fsdp_units` equal parts of a model without layers."""
    m, t = scenario.model, scenario.training
    if m.kind == "transformer":
        return (m.num_parameters - m.embedding_parameters) / m.layers / t.tensor_parallel
    return m.num_parameters / (t.tensor_parallel * t.pipeline_parallel) / fsdp_units(scenario)


def _deepspeed_gradient_buckets(scenario: Scenario, bucket_bytes: float, overlap_comm: bool) -> tuple[float, ...]:
    """DeepSpeed's IPG buckets of the rank's known tensors (see :func:`collective_pieces`); () when unknown."""
    from dpsim.buckets import deepspeed_bucket_layout, gradient_tensors

    t = scenario.training
    if scenario.deepspeed_bf16_optimizer:  # no IPG buckets
        return ()
    tensors = gradient_tensors(scenario)
    if not tensors:
        return ()
    hooked = t.zero_stage >= 2 or overlap_comm  # else stage 1's reduce_gradients, in registration order
    order = None if hooked else range(len(tensors))
    layout = deepspeed_bucket_layout(tensors, bucket_bytes, ready_order=order)
    return tuple(float(sum(tensors[i] for i in bucket)) for bucket in layout)


# --- torch's ZeroRedundancyOptimizer -----------------------------------------------------------------


def zero_partition(sizes: Sequence[float], ranks: int) -> list[list[int]]:
    """Which tensors each rank owns, as ``ZeroRedundancyOptimizer._partition_parameters`` deals them out.

    ``sizes``: the elements of each parameter of one parameter group, in the group's order. Sorted by
    size, largest first (Python's stable ``sorted(..., reverse=True)``: equal sizes keep their order),
    each goes to the rank with the fewest elements so far, the lowest rank on a tie (``_get_min_index``).
    Returns each rank's tensor indices in the order it was dealt them (the order its broadcasts go out).
    """
    owned: list[list[int]] = [[] for _ in range(ranks)]
    load = [0.0] * ranks
    for index in sorted(range(len(sizes)), key=lambda i: sizes[i], reverse=True):
        rank = min(range(ranks), key=lambda r: (load[r], r))
        owned[rank].append(index)
        load[rank] += sizes[index]
    return owned


def _stage_elements(scenario: Scenario, stage: int) -> tuple[float, ...]:
    """The parameters of one data-parallel rank of pipeline stage ``stage``, tensor by tensor (elements); ``()``
    when dpsim cannot list the model's tensors."""
    from dpsim.buckets import stage_gradient_tensors

    width = scenario.gradient_bytes_per_param
    return tuple(size / width for size in stage_gradient_tensors(scenario, stage))


def torch_zero_partition(scenario: Scenario, stage: int = 0) -> list[float]:
    """Elements of the optimizer state each data-parallel rank of ``stage`` owns under torch's
    ``ZeroRedundancyOptimizer`` (:func:`zero_partition` of the model's one parameter group). A model whose
    tensors dpsim cannot list is a stream of small tensors: an equal split."""
    from dpsim.analytic.memory import stage_parameters

    dp = scenario.data_parallel
    sizes = _stage_elements(scenario, stage)
    if not sizes:
        return [stage_parameters(scenario)[stage] / dp] * dp
    return [sum(sizes[i] for i in owned) for owned in zero_partition(sizes, dp)]


def torch_zero_broadcasts(scenario: Scenario) -> tuple[float, ...]:
    """Bytes of each broadcast ``_sync_params`` issues, in order: rank 0's parameters (in the order it was
    dealt them), then rank 1's, ...; with ``training.parameters_as_bucket_view`` one flat bucket a rank
    (``_build_param_buckets``: a rank's parameters on one device, contiguous). Parameters move at their
    own width (:attr:`dpsim.scenario.Scenario.param_bytes_per_param`: fp32 under autocast)."""
    width = scenario.param_bytes_per_param
    sizes = _stage_elements(scenario, 0)
    if not sizes:
        return tuple(elements * width for elements in torch_zero_partition(scenario))
    owned = zero_partition(sizes, scenario.data_parallel)
    if scenario.training.parameters_as_bucket_view:
        return tuple(sum(sizes[i] for i in mine) * width for mine in owned if mine)
    return tuple(sizes[i] * width for mine in owned for i in mine)


def optimizer_partition(scenario: Scenario) -> float:
    """Parameters the most loaded rank updates in the optimizer step (Ψ/(tp·pp) a rank before ZeRO): all of
    them without sharding, 1/N under DeepSpeed ZeRO, Megatron and FSDP (equal flat shards; 1/G under HYBRID_SHARD's
    shard groups of G, ``training.fsdp_shard_group``), the largest of
    :func:`torch_zero_partition` under torch's ``ZeroRedundancyOptimizer`` (whole tensors: unequal). Both
    engines' optimizer step reads this."""
    t = scenario.training
    if t.optimizer_sharding == "torch" and scenario.data_parallel > 1:
        return max(torch_zero_partition(scenario))
    psi = scenario.model.num_parameters / (t.tensor_parallel * t.pipeline_parallel)
    if t.zero_stage < 1:
        return psi
    # FSDP HYBRID_SHARD keeps a shard group's flat shards, replicated across groups: each rank updates 1/G
    return psi / (t.fsdp_shard_group or scenario.data_parallel)
