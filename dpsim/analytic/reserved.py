"""The memory the caching allocator reserves over training steps: dpsim's own tensors, in the order a step makes and
frees them, replayed through :mod:`dpsim.analytic.caching_allocator`.

torchtitan logs ``max_reserved`` (the allocator's segments), while :func:`dpsim.analytic.memory.memory_breakdown`
prices the tensors. This module lays the same priced tensors out in time for FSDP2 (``optimizer_sharding: fsdp``)
on a transformer, with or without ``torch.distributed.pipelining`` (``pipeline_runtime: torch``), as
``fully_shard`` and torchtitan run them, and lets the allocator's rules say what stays reserved. The tensors and
their sizes are the memory model's; only their order is added:

- held for the run: the fp32 sharded parameters (one tensor a parameter), the pipeline's receive buffers
  (:func:`dpsim.analytic.memory.pipeline_stage_buffers`, made at the first step and kept; a chunk's first layer saves
  its received input there, not in a tensor of its own), and from the first optimizer step AdamW's two states a
  parameter;
- each step: ``zero_grad`` frees the sharded gradients; each forward gathers a layer (FSDP2's
  ``all_gather_copy_in`` makes the flat all-gather output on its own copy-in stream, the copy-out makes each
  parameter's unsharded tensor on the compute stream; the flat output is kept until the next unit's copy-in has made
  its own, and the root's post-forward drops the last one after the logits: ``_fsdp_param_group.py``'s
  "Overlapping all-gather copy-in and all-gather" note), keeps the layer's saved activations for the micro-batch,
  makes and frees the layer's working set, and reshards unless FSDP keeps the layer gathered (the last layer, the
  root, SHARD_GRAD_OP, a pipeline's non-last micro-batches);
- each backward walks the layers back: gathers again if resharded (the copy-out frees the flat output the layer
  before prefetched; ``_backward_prefetch`` then makes the next layer's, live through this layer's backward), makes
  and frees the recomputed working set,
  makes each parameter's gradient at the working width, then either keeps it (accumulated in the reduce dtype
  under no-sync: a new tensor at the first backward of the step) or reduce-scatters it (``foreach_reduce``: the
  flat reduce-scatter input in the reduce dtype on the compute stream, kept until the next layer's reduce; the
  sharded output on the reduce-scatter stream, which becomes the sharded gradient), and frees the micro-batch's
  saved activations;
- the optimizer's foreach step makes one fp32 temporary a parameter (``_multi_tensor_adamw``) and frees them;
- under torch's pipelining the last stage's logits (each micro-batch's output) live from the forward to the next
  step's start, and the step ends with their concatenation (:func:`pipeline_kept_logits`; the memory model's walk
  counts them too, :func:`dpsim.analytic.memory.pipeline_walk_adjustment`).

The granularity is the memory model's: a layer's saved activations are the tensors it itemises
(:func:`saved_layer_tensors`), the loss its kernel's tensors in order (:func:`output_layer_tensors`), a layer's
working set one tensor.
Three steps are replayed, and the peaks over them reported (the allocator's reserved memory only grows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dpsim.analytic.caching_allocator import Alloc, AllocatorPeaks, Free, replay
from dpsim.analytic.memory import (
    _output_layer_activations,
    _per_layer_activations,
    recompute_working_set,
    sequence_parallel_gathered_gradient,
    sequence_parallel_staging_copy,
    stage_root_parameters,
    torch_schedule_operations,
)
from dpsim.analytic.parallel import stage_boundary_bytes
from dpsim.buckets import transformer_layer_tensors
from dpsim.compute import chunk_layers, loss_peak_bytes
from dpsim.scenario import Scenario
from dpsim.sharding import float8_weight_copy_bytes, gathered_layer_width
from dpsim.units import dtype_bytes, working_bytes

__all__ = [
    "STEPS",
    "LossScript",
    "ReservedMemory",
    "output_layer_tensors",
    "pipeline_kept_logits",
    "replays",
    "reserved_memory",
    "saved_layer_tensors",
    "stage_events",
]

STEPS = 3
"""Training steps replayed (the first makes the optimizer states; later steps reuse the cache)."""

_COMPUTE, _COPY_IN, _REDUCE = "compute", "all_gather_copy_in", "reduce_scatter"


@dataclass(frozen=True)
class ReservedMemory:
    """The replayed allocator's peaks on each pipeline stage (bytes), and the stage whose reserved peak is largest."""

    stages: tuple[AllocatorPeaks, ...]
    expandable_segments: bool

    @property
    def worst_stage(self) -> int:
        return max(range(len(self.stages)), key=lambda s: self.stages[s].reserved_peak)

    @property
    def reserved_peak(self) -> int:
        return self.stages[self.worst_stage].reserved_peak

    @property
    def allocated_peak(self) -> int:
        return max(s.allocated_peak for s in self.stages)


def replays(scenario: Scenario) -> bool:
    """Whether :func:`reserved_memory` lays this scenario out: FSDP on a transformer, one stage or torch's
    pipelining, data parallel."""
    t = scenario.training
    return (
        scenario.model.kind == "transformer"
        and t.optimizer_sharding == "fsdp"
        and t.zero_stage >= 2
        and (t.pipeline_parallel == 1 or t.pipeline_runtime == "torch")
        and scenario.data_parallel > 1
    )


def reserved_memory(scenario: Scenario, *, expandable_segments: bool = False) -> ReservedMemory | None:
    """Every stage's allocator peaks over :data:`STEPS` steps (:func:`stage_events`); ``None`` where
    :func:`replays` is false."""
    if not replays(scenario):
        return None
    stages = tuple(
        replay(stage_events(scenario, s), expandable_segments=expandable_segments)
        for s in range(scenario.training.pipeline_parallel)
    )
    return ReservedMemory(stages, expandable_segments)


def saved_layer_tensors(scenario: Scenario) -> list[float]:
    """The tensors a transformer layer saves for one micro-batch's backward (bytes), as the memory model counts them
    (:func:`dpsim.analytic.memory.activation_bytes_per_layer`, their sum): under torchtitan's op-level checkpointing
    (``activation_recomputation: op``, every layer) the layer input, wq's and wv's outputs, the attention output, its
    fp32 log-sum-exp, w1's and w2's outputs; otherwise one tensor (full recomputation's saved input)."""
    m, t = scenario.model, scenario.training
    total = _per_layer_activations(scenario)
    if t.activation_recomputation != "op" or scenario.recomputed_layer_share < 1.0:
        return [total]
    s, b, h, a = float(m.seq_len), float(t.micro_batch), float(m.hidden), float(m.heads)
    sbh, tp = s * b * h, float(t.tensor_parallel)
    kv = (m.kv_heads or m.heads) / m.heads
    f = float(m.ffn_hidden or 4 * m.hidden)
    parts = [2.0 * sbh, 2.0 * sbh, 2.0 * sbh * kv, 2.0 * sbh, 4.0 * a * s * b, 2.0 * s * b * f, 2.0 * sbh]
    parts = [x / tp for x in parts]
    scale = total / sum(parts)  # the model's autocast / fp32 adjustments (none on the op-SAC rows) kept in the sum
    return [x * scale for x in parts]


LossScript = list[tuple[str, float | None]]
"""A loss's tensors in the order they are made (name, bytes) and freed (name, None)."""


def output_layer_tensors(scenario: Scenario) -> tuple[LossScript, LossScript]:
    """The last stage's output layer and loss for one micro-batch: the forward's and the backward's allocations and
    frees, whose largest live sum is what the memory model counts
    (:func:`dpsim.analytic.memory._output_layer_activations`; the loss's share from
    :func:`dpsim.compute.loss_peak_bytes`, whose docstring lists the tensors). The final norm's and projection's
    inputs are one tensor (``norm``), kept from the forward to the loss's backward. Per logit, at the working width w:

    - ``torch_float`` (eager ``F.cross_entropy(pred.float())``): the forward makes the w-byte logits, their fp32 copy
      and ``log_softmax``'s fp32 output (saved), then frees the copy and the logits (``del pred``); the backward makes
      ``nll_loss_backward``'s and ``log_softmax_backward``'s fp32 gradients (the peak, 12 bytes), frees the first and
      the saved output, and casts the second back to w bytes;
    - ``loss_parallel`` (DTensor's handlers): the forward holds the logits, their fp32 copy, ``x - max`` and its
      ``exp`` (14 at w = 2), frees the ``exp``, makes the saved log-probabilities, frees the rest; the backward makes
      the zero-filled fp32 gradient, ``exp`` of the log-probabilities and their product (the peak, 16), then casts back;
    - ``inductor``: the saved w-byte logits and the gradient its backward kernel writes beside them (2w);
    - any other kernel: the saved 4 bytes (at most the peak) in the forward and the rest of the peak in the
      backward, in fp32 pieces.
    """
    m, t = scenario.model, scenario.training
    total = _output_layer_activations(scenario)
    logits = _logit_elements(scenario)
    w = float(working_bytes(t.precision))
    per_logit = loss_peak_bytes(m.loss_kernel, w)
    norm = total - per_logit * logits
    forward: LossScript = [("norm", norm)]
    backward: LossScript = []
    if m.loss_kernel == "torch_float":
        forward += [("logits", w * logits), ("copy", 4 * logits), ("logp", 4 * logits), ("copy", None)]
        forward += [("logits", None)]
        backward += [("g1", 4 * logits), ("g2", 4 * logits), ("g1", None), ("logp", None), ("cast", w * logits)]
        backward += [("g2", None), ("cast", None)]
    elif m.loss_kernel == "loss_parallel":
        forward += [("logits", w * logits), ("copy", 4 * logits), ("xm", 4 * logits), ("e", 4 * logits)]
        forward += [("e", None), ("logp", 4 * logits), ("xm", None), ("copy", None), ("logits", None)]
        backward += [("g", 4 * logits), ("ex", 4 * logits), ("prod", 4 * logits), ("g", None), ("ex", None)]
        backward += [("logp", None), ("cast", w * logits), ("prod", None), ("cast", None)]
    elif m.loss_kernel == "inductor":
        forward += [("logits", w * logits)]
        backward += [("g", w * logits), ("logits", None), ("g", None)]
    else:
        saved = min(4.0, per_logit) * logits
        forward += [("logp", saved)]
        rest = per_logit * logits - saved
        pieces = [4.0 * logits] * int(rest // (4.0 * logits))
        if rest - sum(pieces) > 0:
            pieces.append(rest - sum(pieces))
        backward += [(f"g{k}", x) for k, x in enumerate(pieces)]
        backward += [(f"g{k}", None) for k in range(len(pieces))] + [("logp", None)]
    backward.append(("norm", None))
    return forward, backward


def _logit_elements(scenario: Scenario) -> float:
    """Logits of one micro-batch on a TP rank of the last stage: seq_len · micro_batch · vocab / t (the output
    layer's columns are sharded over the TP group)."""
    m, t = scenario.model, scenario.training
    return float(m.seq_len) * t.micro_batch / t.tensor_parallel * m.vocab


def pipeline_kept_logits(scenario: Scenario, stage: int) -> float:
    """Bytes of one micro-batch's logits that ``torch.distributed.pipelining`` keeps on the model's last stage to
    the next step's start (``training.pipeline_runtime: torch``; 0 on every other stage, under ``megatron`` and
    without pipeline parallelism): at the working width (the output layer is a 16-bit GEMM, torchao leaving it out
    under FP8).

    ``_PipelineStageBase.forward_one_chunk`` (``torch/distributed/pipelining/stage.py``) appends each micro-batch's
    output to ``output_chunks`` (every stage until pytorch#153383, May 2025; the last stage since), the
    schedule's ``step`` ends by merging the last stage's chunks (``_merge_outputs`` → ``merge_chunks``: one
    ``torch.cat`` of them, returned and dropped by torchtitan's ``train.py``), and only ``clear_runtime_states`` at
    the next ``step``'s start empties the list: "the forward output of each micro batch size keeps alive during the
    step period" (pytorch#159251, Jul 2025; ``step(return_outputs=False)``, which keeps none, came after it and is
    not expressible). On the last stage that output is the logits."""
    t = scenario.training
    if t.pipeline_runtime != "torch" or t.pipeline_parallel <= 1 or stage != t.pipeline_parallel - 1:
        return 0.0
    return float(working_bytes(t.precision)) * _logit_elements(scenario)


def stage_events(scenario: Scenario, stage: int) -> Iterator[Alloc | Free]:
    """The allocations and frees of :data:`STEPS` steps on one device of ``stage`` (module docstring)."""
    m, t = scenario.model, scenario.training
    p, micro = t.pipeline_parallel, scenario.accumulation_steps
    n = scenario.data_parallel
    tensors = [x / t.tensor_parallel for x in transformer_layer_tensors(m)]
    chunks = [round(x) for x in chunk_layers(scenario)[stage]]
    v = len(chunks)
    root = stage_root_parameters(scenario)[stage]
    width = float(working_bytes(t.precision))
    gathered = gathered_layer_width(scenario)
    reduce_width = float(scenario.gradient_bytes_per_param)
    master = float(dtype_bytes("fp32"))
    acts = saved_layer_tensors(scenario)
    work = recompute_working_set(scenario)
    # what the backward of a layer adds beside its rebuilt working set (the memory model counts them at the first
    # backward layer): the sequence-parallel staging copy and gathered gradient, the float8 weight's transposed copy
    backward_work = (
        work
        + sequence_parallel_staging_copy(scenario)
        + sequence_parallel_gathered_gradient(scenario)
        + float8_weight_copy_bytes(scenario)
    )
    head = output_layer_tensors(scenario) if stage == p - 1 else None
    boundary = stage_boundary_bytes(scenario) if p > 1 and t.pipeline_runtime == "torch" else 0.0
    kept_logits = pipeline_kept_logits(scenario, stage)  # torch's output_chunks: the loss's logits are not freed
    no_sync = scenario.keeps_unsharded_gradients
    reshard_forward = t.zero_stage >= 3
    # units: every layer of every chunk, then the root (embedding, final norm, head) where this stage has one
    units = [(c, i) for c in range(v) for i in range(chunks[c])]
    sizes: dict[object, list[float]] = {u: tensors for u in units}
    if root > 0:
        sizes["root"] = [root]
    last_layer = units[-1] if units else None

    # the run's tensors: fp32 shards, the pipeline's receive buffers
    for u, elements in sizes.items():
        for k, x in enumerate(elements):
            yield Alloc(("shard", u, k), master * x / n)
    if boundary > 0:
        for c in range(v):
            g = c * p + stage
            for mb in range(micro):
                if g > 0:
                    yield Alloc(("recv", c, mb), boundary)
                if g < p * v - 1:
                    yield Alloc(("grad_recv", c, mb), boundary)

    def received(c: int) -> bool:
        """Whether chunk ``c``'s first layer saves its input on the receive buffer it was read from (torch's
        pipelining, every chunk but the model's first; the saved input is the first itemised tensor under full and
        op-level recomputation): that tensor is the buffer, held for the run, not a new one."""
        first = t.activation_recomputation in ("full", "op") and scenario.recomputed_layer_share >= 1.0
        return boundary > 0 and c * p + stage > 0 and first

    def loss(script: LossScript, mb: int, step: int) -> Iterator[Alloc | Free]:
        for name, size in script:
            if kept_logits and name == "logits":  # the pipeline's output chunk: made here, freed at the next step
                if size is not None:
                    yield Alloc(("output_chunk", mb, step), size)
                continue
            yield Free(("loss", name, mb)) if size is None else Alloc(("loss", name, mb), size)

    gathered_now: set[object] = set()
    accumulated: set[object] = set()
    sharded_grads: set[object] = set()
    pending_reduce: list[object] = []  # FSDP2's reduce_scatter_state: freed at the next unit's reduce
    prefetched: set[object] = set()  # backward: a flat all-gather output issued before its copy-out
    held: list[object] = []  # forward: FSDP2's all_gather_state, the last copied-out flat output

    def unit_bytes(u: object) -> list[float]:
        return [x * (gathered if u != "root" else width) for x in sizes[u]]

    def gather(u: object, forward: bool) -> Iterator[Alloc | Free]:
        """FSDP2's unshard and wait_for_unshard: the flat output on the copy-in stream (made here unless prefetched),
        each parameter's unsharded tensor on the compute stream (the copy-out). In forward the flat output is kept
        until the next unit's copy-in, and the one kept before is freed after this one's is made
        (``[Note: Overlapping all-gather copy-in and all-gather]``, ``_fsdp_param_group.py``); in backward it is freed
        after its copy-out."""
        if u in gathered_now:
            return
        if u in prefetched:
            prefetched.discard(u)
        else:
            yield Alloc(("ag_out", u), sum(unit_bytes(u)), _COPY_IN)
        while held:
            yield Free(("ag_out", held.pop()))
        for k, b in enumerate(unit_bytes(u)):
            yield Alloc(("unsharded", u, k), b)
        if forward:
            held.append(u)
        else:
            yield Free(("ag_out", u))
        gathered_now.add(u)

    def flush() -> Iterator[Alloc | Free]:
        """The root's post-forward drops the kept flat output (the last FSDP state flushes ``all_gather_state``)."""
        while held:
            yield Free(("ag_out", held.pop()))

    def prefetch(u: object) -> Iterator[Alloc | Free]:
        """``_backward_prefetch``: the next unit's all-gather issued after this unit's copy-out, its flat output live
        through this unit's backward."""
        if u not in gathered_now and u not in prefetched:
            yield Alloc(("ag_out", u), sum(unit_bytes(u)), _COPY_IN)
            prefetched.add(u)

    def reshard(u: object) -> Iterator[Alloc | Free]:
        if u in gathered_now:
            for k in range(len(sizes[u])):
                yield Free(("unsharded", u, k))
            gathered_now.discard(u)

    def reduce(u: object) -> Iterator[Alloc | Free]:
        total = sum(sizes[u])
        while pending_reduce:
            yield Free(pending_reduce.pop())
        yield Alloc(("rs_in", u), reduce_width * total)
        for k in range(len(sizes[u])):
            key = ("acc", u, k) if u in accumulated else ("grad", u, k)
            yield Free(key)
        accumulated.discard(u)
        if u not in sharded_grads:
            yield Alloc(("sharded_grad", u), reduce_width * total / n, _REDUCE)
            sharded_grads.add(u)
        pending_reduce.append(("rs_in", u))

    def gradients(u: object, last: bool) -> Iterator[Alloc | Free]:
        for k, x in enumerate(sizes[u]):
            yield Alloc(("grad", u, k), width * x)
        if no_sync and not last:
            for k, x in enumerate(sizes[u]):
                if u not in accumulated:
                    yield Alloc(("acc", u, k), reduce_width * x)
                yield Free(("grad", u, k))
            accumulated.add(u)
            return
        if no_sync and u in accumulated:  # the last micro-batch adds into the accumulated gradient
            for k in range(len(sizes[u])):
                yield Free(("grad", u, k))
        yield from reduce(u)

    ops = torch_schedule_operations(stage, p, micro, v) if p > 1 else [(False, 0), (True, 0)] * micro
    itemised = head is not None and any(name == "logits" for name, _ in head[0])
    for step in range(STEPS):
        for u in list(sharded_grads):  # optimizer.zero_grad(set_to_none=True)
            yield Free(("sharded_grad", u))
        sharded_grads.clear()
        if step > 0 and kept_logits:  # the schedule's clear_runtime_states at this step's start
            for mb in range(micro):
                yield Free(("output_chunk", mb, step - 1))
        forwards, backwards = [0] * v, [0] * v
        if p == 1:  # one stage: each micro-batch's forward then its backward
            ops = [op for mb in range(micro) for op in ((False, 0), (True, 0))]
        for backward, c in ops:
            if not backward:
                mb = forwards[c]
                forwards[c] += 1
                if root > 0 and c == 0 and stage == 0:
                    yield from gather("root", True)
                for i in range(chunks[c]):
                    u = (c, i)
                    yield from gather(u, True)
                    for k, size in enumerate(acts):
                        if not (k == 0 and i == 0 and received(c)):
                            yield Alloc(("act", c, i, mb, k), size)
                    yield Alloc(("work", u), work)
                    yield Free(("work", u))
                    if reshard_forward and u != last_layer:
                        yield from reshard(u)
                if boundary > 0 and c * p + stage < p * v - 1:
                    yield Alloc(("out", c, mb), boundary)
                if head is not None and c == v - 1:
                    if root > 0:
                        yield from gather("root", True)
                    # the model's forward ends with the logits; the loss runs after the root's post-forward
                    script = head[0]
                    split = next((k + 1 for k, (name, _) in enumerate(script) if name == "logits"), 0)
                    if kept_logits and not itemised:  # a loss whose script does not list the logits
                        yield Alloc(("output_chunk", mb, step), kept_logits)
                    yield from loss(script[:split], mb, step)
                    yield from flush()
                    yield from loss(script[split:], mb, step)
                yield from flush()
                continue
            mb = backwards[c]
            backwards[c] += 1
            last = mb == micro - 1
            if head is not None and c == v - 1:  # the loss's backward, beside what its forward saved
                yield from loss(head[1], mb, step)
            if boundary > 0 and c * p + stage < p * v - 1:
                yield Free(("out", c, mb))
            for i in reversed(range(chunks[c])):
                u = (c, i)
                yield from gather(u, False)
                if i > 0:
                    yield from prefetch((c, i - 1))
                yield Alloc(("work", u), backward_work)
                yield from gradients(u, last)
                yield Free(("work", u))
                for k in range(len(acts)):
                    if not (k == 0 and i == 0 and received(c)):
                        yield Free(("act", c, i, mb, k))
                if t.fsdp_reshard_after_backward or last:
                    yield from reshard(u)
            if boundary > 0 and c * p + stage > 0 and not t.pipeline_releases_input_grads:
                yield Alloc(("input_grad", c, mb, step), boundary)
            if root > 0 and c == (0 if stage == 0 else v - 1):  # the root's post-backward ends the backward
                yield from gradients("root", last)
                if t.fsdp_reshard_after_backward or last:
                    yield from reshard("root")
        while pending_reduce:
            yield Free(pending_reduce.pop())
        if kept_logits:  # step() returns merge_chunks(output_chunks): one torch.cat of the step's logits, dropped
            yield Alloc(("merged_output", step), micro * kept_logits)
            yield Free(("merged_output", step))
        if boundary > 0 and not t.pipeline_releases_input_grads:  # clear_runtime_states at the next step
            for c in range(v):
                if c * p + stage > 0:
                    for mb in range(micro):
                        yield Free(("input_grad", c, mb, step))
        # the optimizer step: AdamW's states from the first step on, one fp32 temporary a parameter
        for u, elements in sizes.items():
            for k, x in enumerate(elements):
                if step == 0:
                    yield Alloc(("exp_avg", u, k), master * x / n)
                    yield Alloc(("exp_avg_sq", u, k), master * x / n)
        for u, elements in sizes.items():
            for k, x in enumerate(elements):
                yield Alloc(("adam_tmp", u, k), master * x / n)
        for u, elements in sizes.items():
            for k in range(len(elements)):
                yield Free(("adam_tmp", u, k))
