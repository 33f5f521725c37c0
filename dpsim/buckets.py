"""Gradient buckets as PyTorch DDP builds them: one source of truth for both engines.

PyTorch (``torch/nn/parallel/distributed.py``, ``torch/csrc/distributed/c10d/reducer.cpp``):
after the first iteration the reducer rebuilds its buckets from the order in which gradients
became ready (the reverse of the order parameters are used, for a sequential model the reverse
of registration order, so the input embedding is ready last) with
``compute_bucket_assignment_by_size(params, [first_bucket_bytes_cap, bucket_bytes_cap])``:
tensors are appended to the open bucket one by one, never split, and the bucket closes as soon
as it holds at least the current limit; the first bucket's limit is
``dist._DEFAULT_FIRST_BUCKET_BYTES`` (1 MiB) when ``bucket_cap_mb`` is left at its default
(25 MiB), else the bucket cap itself, and every later bucket's is the cap.

:func:`ddp_bucket_layout` is that assignment for a list of tensors (tested against
``DistributedDataParallel``'s own buckets in ``tests/test_buckets.py``). The engines see the
model's gradient tensors (:func:`gradient_tensors`, registration order, per
data-parallel rank; with pipeline parallelism those of the first stage, :func:`stage_gradient_tensors`
gives every stage's) and :func:`bucket_sizes` applies that assignment to them; for a model whose
tensor list dpsim cannot derive it falls back to a byte stream produced uniformly during backward,
for which the same rule gives the first bucket, full buckets, the remainder. With a profiler
trace, :func:`traced_buckets` groups the trace's own tensors the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np

from dpsim.compute import chunk_layers

__all__ = [
    "DEFAULT_BUCKET_BYTES",
    "DEFAULT_FIRST_BUCKET_BYTES",
    "bucket_count",
    "bucket_sizes",
    "chunk_bucket_sizes",
    "chunk_gradient_readiness",
    "ddp_bucket_layout",
    "ddp_gradient_buckets",
    "ddp_trace",
    "deepspeed_bucket_layout",
    "drive",
    "first_bucket_bytes",
    "gloo_bucket_start",
    "gradient_chunks",
    "gradient_tensors",
    "last_bucket_bytes",
    "megatron_chunks",
    "overlapped_bytes",
    "overlapped_gather_end",
    "overlapped_gathers",
    "slowed_end",
    "stage_end_reduction",
    "stage_gradient_tensors",
    "synced_gradient_bytes",
    "traced_buckets",
]

DEFAULT_BUCKET_BYTES = 25 * 2**20
"""DDP's default ``bucket_cap_mb`` = 25 (MiB)."""

DEFAULT_FIRST_BUCKET_BYTES = 2**20
"""``torch.distributed._DEFAULT_FIRST_BUCKET_BYTES``: 1 MiB."""


def first_bucket_bytes(bucket_bytes: float, first: float | None = None) -> float:
    """DDP's first-bucket limit: ``first`` if given, 1 MiB with the default cap, else the cap."""
    if first is not None:
        return first
    return float(DEFAULT_FIRST_BUCKET_BYTES) if bucket_bytes == DEFAULT_BUCKET_BYTES else bucket_bytes


def ddp_bucket_layout(
    tensor_bytes: Sequence[float],
    bucket_bytes: float = DEFAULT_BUCKET_BYTES,
    first_bucket: float | None = None,
    *,
    ready_order: Sequence[int] | None = None,
) -> list[list[int]]:
    """Buckets of tensor indices, in the order they are reduced (first ready first).

    ``tensor_bytes`` are the gradients' sizes in registration order (``model.parameters()``);
    ``ready_order`` the order their gradients become ready (default: reverse registration order).
    A tensor is never split; a bucket closes once it holds at least its limit.
    """
    order = list(ready_order) if ready_order is not None else list(range(len(tensor_bytes)))[::-1]
    limits = [first_bucket_bytes(bucket_bytes, first_bucket), bucket_bytes]
    buckets: list[list[int]] = []
    current: list[int] = []
    size = 0.0
    for index in order:
        current.append(index)
        size += tensor_bytes[index]
        if size >= limits[min(len(buckets), 1)]:
            buckets.append(current)
            current, size = [], 0.0
    if current:
        buckets.append(current)
    return buckets


def deepspeed_bucket_layout(
    tensor_bytes: Sequence[float], bucket_bytes: float, *, ready_order: Sequence[int] | None = None
) -> list[list[int]]:
    """DeepSpeed ZeRO's reduce (IPG) buckets: tensor indices per bucket, in the order they are reduced.

    DeepSpeed 0.16.5, ``deepspeed/runtime/zero/stage_1_and_2.py`` and ``stage3.py``,
    ``reduce_independent_p_g_buckets_and_remove_grads``: each gradient, as it becomes ready, first
    reduces the open bucket if ``elements_in_ipg_bucket + param.numel() > reduce_bucket_size`` (and, at
    stage 3 explicitly, at stage 1/2 through ``average_tensor`` of an empty bucket launching nothing,
    only when the bucket holds something), then joins it whole; the backward's epilogue
    (``independent_gradient_partition_epilogue`` / ``__reduce_and_partition_ipg_grads``) reduces what is
    left. So a bucket closes *before* the tensor that would overflow it (PyTorch DDP closes *after*
    reaching its cap, :func:`ddp_bucket_layout`), never splits a tensor, and a tensor larger than the
    bucket is reduced alone (stage 1/2: ``extra_large_param_to_reduce``). ``tensor_bytes`` are in
    registration order and all of one width, so bytes compare as elements (``bucket_bytes`` =
    ``reduce_bucket_size`` x that width); ``ready_order`` the order the hooks see them (default: reverse
    registration order, as the backward produces them).
    """
    order = list(ready_order) if ready_order is not None else list(range(len(tensor_bytes)))[::-1]
    buckets: list[list[int]] = []
    current: list[int] = []
    size = 0.0
    for index in order:
        if current and size + tensor_bytes[index] > bucket_bytes:
            buckets.append(current)
            current, size = [], 0.0
        current.append(index)
        size += tensor_bytes[index]
    if current:
        buckets.append(current)
    return buckets


def traced_buckets(
    curve: Sequence[tuple[float, float]], total_bytes: float, bucket_bytes: float, first_bucket: float | None = None
) -> tuple[list[float], list[float]]:
    """DDP's buckets of the tensors a profiler trace saw, and when each is ready (fraction of the backward).

    ``curve`` is :func:`dpsim.ingest.kineto.ready_curve`'s: one point per parameter, in the
    order the gradients became ready, (cumulative fraction of the gradient bytes, fraction of
    the backward elapsed). Each parameter is a tensor of its share of ``total_bytes``;
    :func:`ddp_bucket_layout` groups them as DDP does — a tensor is never split, so a
    parameter larger than the bucket cap (a large vocabulary's embedding) is one bucket and
    one collective, not ``size / cap`` of them. A bucket is ready with its last tensor.
    """
    if total_bytes <= 0 or not curve:
        return [], []
    shares = [x - prev for prev, x in zip([0.0, *(x for x, _ in curve[:-1])], (x for x, _ in curve), strict=True)]
    tensors = [max(0.0, share) * total_bytes for share in shares]
    shrink = 1.0 - 1e-9  # sizes rebuilt from fractions: a tensor of exactly the cap must close its bucket
    first = first_bucket_bytes(bucket_bytes, first_bucket)
    layout = ddp_bucket_layout(tensors, bucket_bytes * shrink, first * shrink, ready_order=range(len(tensors)))
    sizes = [sum(tensors[i] for i in bucket) for bucket in layout]
    fractions = [float(curve[max(bucket)][1]) for bucket in layout]
    keep = [i for i, size in enumerate(sizes) if size > 0]
    return [sizes[i] for i in keep], [fractions[i] for i in keep]


def slowed_end(start: Any, cost: Any, until: Any, rate: float) -> Any:
    """When a collective of ``cost`` (at its own pace) started at ``start`` ends if it runs at ``rate`` of its pace
    until ``until`` and at its own pace after: the buckets' communication while the last backward still runs on a
    shared host (:meth:`dpsim.calibration.HardwareProfile.comm_rate_in_backward`). Floats and numpy arrays alike."""
    done_by_until = rate * np.maximum(0.0, until - start)
    return np.where(done_by_until >= cost, start + cost / rate, np.maximum(until, start) + cost - done_by_until)


GLOO_WORKER_THREADS = 2
"""``ProcessGroupGloo``'s worker threads in torch 2.13.0 (``torch/csrc/distributed/c10d/ProcessGroupGloo.cpp``: the
default options set ``options->threads = options->devices.size() * 2``, one device; each ``runLoop`` thread pops the
next work off one FIFO ``workQueue_``; every run records ``options._threads`` = 2)."""


def gloo_bucket_start(ready: Any, previous_start: Any, previous_end: Any, earlier_end: Any, latency: Any) -> Any:
    """When DDP's next bucket all-reduce starts under gloo's own all-reduce, as one stream priced one bucket at a time.

    ``ProcessGroupGloo`` runs :data:`GLOO_WORKER_THREADS` (2) collectives at once, in the order DDP's reducer hands
    its buckets over (``reducer.cpp``: each ready bucket to ``allreduce``, waited for only in ``finalize_backward``),
    all over the one gloo context's TCP pairs. So bucket i is taken by a free thread as soon as it is ready and the
    bucket two before it is done (``earlier_end``; never before the previous one started, FIFO), and the latency
    term of its ring (``latency``: its 2(N − 1) steps' hand-offs, no link's load, :func:`dpsim.analytic.collectives.
    collective_latency`) runs while bucket i − 1's bytes still hold the links: its own bytes follow bucket i − 1's
    (``previous_end``), so the links are idle only for the first bucket's latency. Priced one after the other, bucket
    i starts at ``max(ready, previous_end − latency, earlier_end, previous_start)`` and lasts its own time; with
    ``latency`` 0 that is the serial stream's ``max(ready, previous_end)``. Floats and numpy arrays alike.

    Measured (stop 43, window A, ``host-latency-2026-12-06-p``): DDP's last completion is the slowest rank's hand-over
    of bucket 0 + the wire time of all bytes (−3 … +13 ms), which this prices for several buckets; but a 4 MiB
    all-reduce one at a time pays only 3–5 ms of its latency term at 8 ranks (gloo's ring hides each hop behind its
    other segment in flight) and four issued at once save 0–12 ms, so the latency is hidden mostly inside each ring,
    not beside the other thread's bytes (README, issue 10, stop 43: the inside-the-ring form tried, not landed)."""
    return np.maximum(np.maximum(ready, previous_start), np.maximum(earlier_end, previous_end - latency))


def overlapped_bytes(bucket_bytes: Sequence[float], ready_fractions: Sequence[float]) -> float:
    """Bytes of the buckets ready before the backward ends: the communication that overlaps it.

    With the uniform rate (``ready_fractions`` cumulative) all buckets but the last; with a
    measured curve, those the trace shows ready before the end.
    """
    return float(sum(b for b, f in zip(bucket_bytes, ready_fractions, strict=True) if f < 1.0 - 1e-12))


def _mlp_tensors(m: Any) -> list[float]:
    # runtime.model.MLP: ``layers`` × nn.Linear(h, h) (weight, bias)
    return [float(m.hidden * m.hidden), float(m.hidden)] * m.layers


def _transformer_parts(m: Any) -> tuple[list[float], list[float], list[float], list[float]]:
    """(input embeddings, one layer, what follows the layers, output head) in registration order."""
    h, ffn = m.hidden, m.ffn_hidden or 4 * m.hidden
    kv = h * (m.kv_heads or m.heads) // m.heads
    head = [float(m.vocab * h)] if not m.tied_embeddings else []
    positions = [float(m.seq_len * h)] if m.learned_positions else []
    if m.gated_mlp:  # Llama (Hugging Face order): q, k, v, o; gate, up, down; two RMSNorms; final norm
        layer = [h * h, kv * h, kv * h, h * h, ffn * h, ffn * h, h * ffn, h, h]
        return [float(m.vocab * h), *positions], [float(x) for x in layer], [float(h)], head
    if m.token_types or m.pooler:  # BERT (Hugging Face BertModel): embeddings + their LayerNorm first
        embed = [float(m.vocab * h), *positions, float(m.token_types * h), float(h), float(h)]
        attn = [h * h, h, kv * h, kv, kv * h, kv, h * h, h, h, h]
        layer = [*attn, ffn * h, ffn, h * ffn, h, h, h]
        pooler = [float(h * h), float(h)] if m.pooler else []
        return [x for x in embed if x], [float(x) for x in layer], pooler, head
    # GPT-2 as runtime.model.GPT registers it (runtime.model.Block): fused QKV weight and
    # bias, out projection, fc, proj, then the two LayerNorms; final LayerNorm; tied head
    layer = [(h + 2 * kv) * h, h + 2 * kv, h * h, h, ffn * h, ffn, h * ffn, h, h, h, h, h]
    return [float(m.vocab * h), *positions], [float(x) for x in layer], [float(h), float(h)], head


def transformer_layer_tensors(m: Any) -> list[float]:
    """One transformer layer's parameter tensors (elements, before tensor parallelism), in registration order."""
    return _transformer_parts(m)[1]


def _transformer_tensors(m: Any) -> list[float]:
    embed, layer, after, head = _transformer_parts(m)
    return [*embed, *layer * m.layers, *after, *head]


def stage_gradient_tensors(scenario: Any, stage: int) -> tuple[float, ...]:
    """Gradient tensor sizes (bytes) of one data-parallel rank of pipeline stage ``stage``; ``()`` if unknown.

    Megatron-LM's split (Shoeybi et al. 2019; Narayanan et al. 2021 §2): the stage's model chunks in
    order (:func:`dpsim.compute.chunk_layers`: chunks ``stage``, ``stage + p``, … under interleaving),
    each its layers; the first stage's first chunk starts with the input embeddings, the last stage's
    last chunk ends with what follows the layers (final norm, BERT's pooler) and the output head — with
    tied embeddings a copy of the word embedding there, whose gradient Megatron all-reduces with the
    first stage's (the copy :func:`dpsim.analytic.memory.stage_parameters` counts too). Every tensor
    divided by ``tp``. With one stage this is :func:`gradient_tensors`.
    """
    m, t = scenario.model, scenario.training
    p = t.pipeline_parallel
    if p == 1:
        return gradient_tensors(scenario)
    if m.kind != "transformer" or not _full_list_matches(m, _transformer_tensors):
        return ()
    layers = chunk_layers(scenario)[stage]
    if any(n != int(n) for n in layers):
        return ()
    embed, layer, after, head = _transformer_parts(m)
    counts: list[float] = [*embed] if stage == 0 else []
    for n in layers:
        counts.extend(layer * int(n))
    if stage == p - 1:
        counts.extend([*after, *(head or [float(m.vocab * m.hidden)])])
    width = scenario.gradient_bytes_per_param / t.tensor_parallel
    return tuple(c * width for c in counts)


MAX_TENSORS = 1_000_000
"""Longest gradient-tensor list followed tensor by tensor (Llama 3 405B has ~1,100 tensors); a model
whose layers would exceed it (layers × its tensors a layer, :func:`_layer_tensor_count`) is taken as
a stream (:func:`bucket_sizes` without tensors)."""


def _layer_tensor_count(m: Any) -> int:
    """Tensors one layer registers: the MLP's weight and bias, or the transformer layer's list."""
    return 2 if m.kind == "mlp" else len(_transformer_parts(m)[1])


def _full_list_matches(m: Any, tensors: Any) -> bool:
    """Whether the model's tensor list adds up to its parameter count (else it was given explicitly)."""
    if not (m.layers > 0 and m.hidden > 0) or m.layers * _layer_tensor_count(m) > MAX_TENSORS:
        return False
    return math.isclose(sum(tensors(m)), m.num_parameters, rel_tol=1e-12)


def gradient_tensors(scenario: Any) -> tuple[float, ...]:
    """Gradient tensor sizes (bytes) of the data-parallel rank the engines follow, in registration order.

    Known: the MLP (``layers`` square linear layers with biases, as ``runtime.model.MLP`` builds
    it) and transformers (GPT-2 as ``runtime.model.GPT`` registers it, Llama, BERT), provided the
    list adds up to the model's parameter count; ``()`` otherwise. Tensor parallelism shards every
    tensor by ``tp`` (the engines' per-rank count, Ψ/tp). With pipeline parallelism, the first
    stage's tensors (:func:`stage_gradient_tensors`): its last backward is the step's last, so its
    gradient synchronisation is the one the step waits for (every other stage ends its backward at
    least one chunk earlier).
    """
    m, t = scenario.model, scenario.training
    if t.pipeline_parallel > 1:
        return stage_gradient_tensors(scenario, 0)
    if m.kind == "mlp":
        parts = _mlp_tensors
    elif m.kind == "transformer":
        parts = _transformer_tensors
    else:
        return ()
    if not _full_list_matches(m, parts):
        return ()  # parameters given explicitly, not those of this shape
    width = scenario.gradient_bytes_per_param / t.tensor_parallel
    return tuple(c * width for c in parts(m))


def synced_gradient_bytes(scenario: Any, tensors: Sequence[float]) -> float:
    """Gradient bytes one data-parallel rank reduces: Ψ/(tp·pp) at the communication dtype, or with
    pipeline parallelism and known tensors (:func:`gradient_tensors`), those of the first stage."""
    t = scenario.training
    if tensors and t.pipeline_parallel > 1:
        return float(sum(tensors))
    return scenario.model.num_parameters / (t.tensor_parallel * t.pipeline_parallel) * scenario.gradient_bytes_per_param


def bucket_sizes(
    total_bytes: float,
    bucket_bytes: float,
    first_bucket: float | None = None,
    tensors: Sequence[float] = (),
) -> list[float]:
    """Bucket sizes (bytes) in reduction order: DDP's buckets of ``tensors`` when known.

    ``tensors``: the gradient tensors' sizes in registration order (:func:`gradient_tensors`,
    adding up to ``total_bytes``); the buckets are :func:`ddp_bucket_layout`'s. Without them the
    gradient is a stream too fine to show tensor boundaries, and the same rule in the limit of
    small tensors gives the first bucket (:func:`first_bucket_bytes`), full buckets, the remainder.
    """
    if total_bytes <= 0:
        return []
    if tensors:
        return [sum(tensors[i] for i in b) for b in ddp_bucket_layout(tensors, bucket_bytes, first_bucket)]
    first = min(first_bucket_bytes(bucket_bytes, first_bucket), total_bytes)
    rest_total = total_bytes - first
    full, rest = full_pieces(rest_total, bucket_bytes)
    sizes = [first]
    sizes.extend([bucket_bytes] * full)
    if rest > 0:
        sizes.append(rest)
    return sizes


def bucket_count(total_bytes: float, bucket_bytes: float, first_bucket: float | None = None) -> int:
    """``len(bucket_sizes(total_bytes, bucket_bytes, first_bucket))`` of a stream without its list: a 1-byte
    bucket of a 1-GB gradient is a billion buckets (the cost guard refuses them before any list is built)."""
    if total_bytes <= 0:
        return 0
    first = min(first_bucket_bytes(bucket_bytes, first_bucket), total_bytes)
    full, rest = full_pieces(total_bytes - first, bucket_bytes)
    return 1 + full + (1 if rest > 0 else 0)


_ROUNDING = 1e-9
"""Relative slack for a total that is a whole number of pieces but for rounding (FSDP's units: L layers)."""


def piece_count(total_bytes: float, piece_bytes: float, whole: bool = False) -> int:
    """How many pieces of ``piece_bytes`` carry ``total_bytes``: the last one partial (at least one), or with
    ``whole`` only the full ones; a total within rounding of a whole number of pieces is that number (an
    FSDP stage of L units of one layer each is L pieces, not L + 1 with a remainder of 1e-9 bytes)."""
    ratio = total_bytes / piece_bytes
    nearest = round(ratio)
    if abs(ratio - nearest) <= _ROUNDING * max(1.0, nearest):
        return max(0 if whole else 1, nearest)
    return math.floor(ratio) if whole else max(1, math.ceil(ratio))


def full_pieces(total_bytes: float, piece_bytes: float) -> tuple[int, float]:
    """(full pieces, the remainder's bytes or 0) of ``total_bytes`` cut in ``piece_bytes`` (:func:`piece_count`)."""
    if total_bytes <= 0:
        return 0, 0.0
    full = piece_count(total_bytes, piece_bytes, whole=True)
    rest = total_bytes - full * piece_bytes
    return full, (rest if rest > _ROUNDING * piece_bytes else 0.0)


def ddp_trace(profile: Any, zero_stage: int) -> tuple[tuple[float, float], ...]:
    """The profiler trace whose tensors DDP's buckets are cut from, for both engines; empty: none.

    Under DDP (ZeRO stage 0) a calibration profile's readiness curve
    (:attr:`dpsim.calibration.HardwareProfile.gradient_ready`), with or without ``overlap``: the
    reducer builds its buckets from the gradients it sees (``compute_bucket_assignment_by_size``),
    whether it launches each as it fills or after the backward. ZeRO's buckets are equal byte slices.
    """
    if zero_stage != 0 or profile is None:
        return ()
    return tuple(getattr(profile, "gradient_ready", ()) or ())


def ddp_gradient_buckets(
    gradient_ready: Sequence[tuple[float, float]],
    total_bytes: float,
    bucket_bytes: float,
    first_bucket: float | None = None,
    tensors: Sequence[float] = (),
) -> list[float]:
    """The buckets DDP reduces: a profiler trace's tensors grouped by DDP's rule (:func:`traced_buckets`)
    when :func:`ddp_trace` gives one, else :func:`bucket_sizes` of the model's own tensors."""
    if gradient_ready and total_bytes > 0:
        return traced_buckets(gradient_ready, total_bytes, bucket_bytes, first_bucket)[0]
    return bucket_sizes(total_bytes, bucket_bytes, first_bucket, tensors)


def ddp_last_bucket_bytes(
    gradient_ready: Sequence[tuple[float, float]],
    total_bytes: float,
    bucket_bytes: float,
    first_bucket: float | None = None,
    tensors: Sequence[float] = (),
) -> float:
    """The bucket DDP reduces last: from a profiler trace's tensors when the profile holds one
    (:func:`traced_buckets`, the buckets both engines then reduce), else :func:`last_bucket_bytes`."""
    if gradient_ready and total_bytes > 0:
        return ddp_gradient_buckets(gradient_ready, total_bytes, bucket_bytes, first_bucket)[-1]
    return last_bucket_bytes(total_bytes, bucket_bytes, first_bucket, tensors)


def last_bucket_bytes(
    total_bytes: float, bucket_bytes: float, first_bucket: float | None = None, tensors: Sequence[float] = ()
) -> float:
    """The last of :func:`bucket_sizes` (the bucket reduced after the backward ends) without listing the others.

    Listing them held ``total / bucket`` floats: a billion-layer model asked for tens of GB (a MemoryError).
    """
    if total_bytes <= 0:
        return 0.0
    if tensors:  # as many buckets as tensors at most: listed
        return bucket_sizes(total_bytes, bucket_bytes, first_bucket, tensors)[-1]
    first = min(first_bucket_bytes(bucket_bytes, first_bucket), total_bytes)
    rest_total = total_bytes - first
    if rest_total <= 0:
        return first
    rest = full_pieces(rest_total, bucket_bytes)[1]
    return rest if rest > 0 else bucket_bytes


# --- Megatron-LM: buckets per model chunk -----------------------------------------------------------


def megatron_chunks(scenario: Any) -> int:
    """Model chunks whose buckets Megatron's distributed optimizer keeps apart: ``virtual_stages`` under
    the interleaved schedule (one DDP wrapper, so one set of buckets, per chunk), else 1."""
    t = scenario.training
    interleaved = t.pipeline_schedule == "interleaved" and t.pipeline_parallel > 1
    return t.virtual_stages if t.optimizer_sharding == "megatron" and interleaved else 1


def stage_end_reduction(scenario: Any) -> bool:
    """Whether each pipeline stage's gradients are reduce-scattered only once that stage's last micro-batch's
    backward has ended: ``torch.distributed.pipelining`` over FSDP (``training.pipeline_runtime: torch``, FSDP under
    ``fsdp_no_sync``, what torchtitan's pipeline rows run). Its ``PipelineStage.backward_maybe_with_nosync`` runs
    every micro-batch's backward with ``set_requires_gradient_sync(False)`` (FSDP's post-backward hooks reduce
    nothing) and, after the stage's last one, calls each FSDP parameter group's ``post_backward()`` itself: the
    stage's reduce-scatters are all issued then, not layer by layer during that backward (torch 2.6's ``stage.py``;
    pytorch#144535, Jan 2025, later added the ``_root_post_backward_final_callback`` that makes the compute stream
    wait for them, and pytorch#165106, Oct 2025, moved them to the end of the step)."""
    t = scenario.training
    return (
        t.pipeline_parallel > 1 and t.pipeline_runtime == "torch" and t.optimizer_sharding == "fsdp" and t.fsdp_no_sync
    )


def gradient_chunks(scenario: Any) -> int:
    """Model chunks a rank reduces apart, each after its own last backward (:func:`chunk_gradient_readiness`):
    :func:`megatron_chunks`, or under :func:`stage_end_reduction` the stages a rank holds (``virtual_stages``
    under the interleaved schedule, else 1)."""
    if stage_end_reduction(scenario):
        t = scenario.training
        return t.virtual_stages if t.pipeline_schedule == "interleaved" else 1
    return megatron_chunks(scenario)


def chunk_bucket_sizes(total_bytes: float, bucket_bytes: float, chunks: int) -> list[list[float]]:
    """Equal buckets of each of ``chunks`` model chunks (``total_bytes / chunks`` each), chunk 0 first."""
    return [bucket_sizes(total_bytes / chunks, bucket_bytes, bucket_bytes) for _ in range(chunks)]


def chunk_gradient_readiness(
    total_bytes: float, bucket_bytes: float, chunks: int, stages: int, at_chunk_end: bool = False
) -> tuple[list[float], list[float]]:
    """Gradient buckets of a first-stage rank in reduction order, and when each is ready.

    Readiness is a fraction of the last micro-batch's backward ``T_b`` (all ``v`` chunks, ``T_b/v``
    each) measured from its start, so that 1 is the end of the stage's last backward and a negative
    value is earlier. Megatron-LM's interleaved 1F1B (``schedules.py``,
    ``forward_backward_pipelining_with_interleaving``, ``overlap_grad_reduce``) enables a chunk's
    gradient sync for that chunk's last micro-batch, so each chunk's buckets become ready, uniformly,
    during its own last backward. On the first stage the cooldown runs the backwards of chunk ``c``
    for p micro-batches, then those of chunk ``c − 1``, …: chunk ``c``'s last backward ends ``c·p``
    chunk-backwards before the stage's last one (as the event-level pipeline,
    :func:`dpsim.sim.pipeline.simulate_pipeline`, has it: ``tests/test_chunk_buckets.py``). Bucket
    with cumulative fraction φ of chunk ``c`` is ready at
    ``1 − (c·p + 1 − φ)/v``. One chunk (``v = 1``): the uniform rate over the last backward. ``at_chunk_end``
    (:func:`stage_end_reduction`, torch's pipelining over FSDP): every bucket of chunk ``c`` is ready when that
    chunk's last backward ends, ``1 − c·p/v`` (the stage's last backward's end for ``v = 1``).
    """
    sizes: list[float] = []
    fractions: list[float] = []
    per_chunk = chunk_bucket_sizes(total_bytes, bucket_bytes, chunks)
    for c in reversed(range(chunks)):
        chunk = per_chunk[c]
        done = 0.0
        for size in chunk:
            done += size
            sizes.append(size)
            fractions.append(1.0 - (c * stages + (0.0 if at_chunk_end else 1.0 - done / sum(chunk))) / chunks)
    return sizes, fractions


def overlapped_gather_end(
    chunk_buckets: Sequence[Sequence[float]], stages: int, forward_s: Any, start: Any, gather: Any
) -> Any:
    """Megatron's ``overlap_param_gather``: when the next step's forward on the first stage has used every
    chunk's gathered parameters; returns that time minus the compute it includes (the exposed gather).

    ``gather(size, ready)`` posts one bucket's all-gather on the data-parallel stream (it starts at
    ``max(ready, stream free)``) and returns when it is done; the schedule is :func:`overlapped_gathers`'.
    """
    return drive(overlapped_gathers(chunk_buckets, stages, forward_s, start), lambda request: gather(*request))


def overlapped_gathers(
    chunk_buckets: Sequence[Sequence[float]], stages: int, forward_s: Any, start: Any
) -> Generator[tuple[float, Any], Any, Any]:
    """:func:`overlapped_gather_end` as a program: yields each bucket's all-gather ``(size, ready)``, in the
    order they are posted on the stream, is sent back when it is done, and returns the exposed gather.

    ``forward_s`` is a micro-batch's forward over all chunks, ``start`` when the optimizer step ends
    (floats, or per-worker arrays). The first stage runs chunk 0's forward for p micro-batches, then
    chunk 1's, … (Megatron-LM's interleaved order); each bucket's share of its chunk's first forward
    waits for that bucket (a two-stage flow shop). Megatron launches the gathers of chunks 0 and 1 at
    the start of the step and chunk ``c``'s (c ≥ 2) when chunk ``c − 1``'s first forward starts
    (``param_sync_func`` in ``forward_backward_pipelining_with_interleaving``). One chunk: the flow
    shop of the first forward. A program (not a callback) so that an event-driven simulator can run
    it rank by rank on a shared network (:mod:`dpsim.sim.shared`).
    """
    chunks = len(chunk_buckets)
    piece = forward_s / chunks
    at = start
    compute = 0.0 * forward_s
    chunk_start: list[Any] = []
    for c, sizes in enumerate(chunk_buckets):
        total = sum(sizes)
        release = start if c < 2 else chunk_start[c - 1]
        for i, size in enumerate(sizes):
            begin = _later(at, (yield size, release))
            if i == 0:
                chunk_start.append(begin)
            at = begin + piece * size / total
        compute = compute + piece
        if c < chunks - 1:  # the chunk's other p − 1 micro-batches, before the next chunk's first
            at = at + (stages - 1) * piece
            compute = compute + (stages - 1) * piece
    return at - start - compute


def drive(program: Generator[Any, Any, Any], answer: Callable[[Any], Any]) -> Any:
    """Run a program that yields requests to completion, sending back ``answer(request)`` for each; its result."""
    try:
        request = next(program)
        while True:
            request = program.send(answer(request))
    except StopIteration as stop:
        return stop.value


def _later(a: Any, b: Any) -> Any:
    """Element-wise maximum of floats or arrays."""
    if isinstance(a, float | int) and isinstance(b, float | int):
        return max(a, b)
    return np.maximum(a, b)
