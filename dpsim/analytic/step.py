"""Closed-form step time of data-parallel training: :func:`predict` (engine ``"analytic"``).

The model, term by term (all per optimizer step, on the critical path of one device):

**Compute.** One micro-batch of ``b`` samples costs ``F·b`` training FLOPs (``F`` =
``model.flops_per_sample``, forward + backward), divided by the tensor- and pipeline-parallel
degrees, at ``peak · efficiency`` FLOP/s. Forward is 1/3 and backward 2/3 of it: the backward
pass computes gradients with respect to both activations and weights, about twice the
forward FLOPs (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", §2.1;
Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters
Using Megatron-LM", §5.1). ``k`` accumulation steps run ``k`` micro-batches; gradients are
synchronised only after the last one (DDP ``no_sync``). A straggler (``variability.stragglers``)
slows its own compute; everyone waits for it at the synchronisation. Under a persistent per-GPU speed
spread (``variability.rank_speed_sigma``) the step runs at the expected pace of the slowest of the job's
ranks (:func:`expected_pace`, :mod:`dpsim.rank_speed`). ``compute_s`` is the
critical path's (the slowest worker's) compute; ``barrier_s`` is the part of it the others
spend waiting, so step = compute + exposed communication + bubble + optimizer.

**Gradient synchronisation with bucketing and overlap** (PyTorch DDP, Li et al. 2020,
"PyTorch Distributed: Experiences on Accelerating Data Parallel Training", §3.2). The
gradient, ``G = Ψ/(tp·pp) · gradient_bytes_per_param`` bytes, is cut into buckets of
``communication.bucket`` bytes in DDP order (last layers first): when the model's gradient
tensors are known (:func:`dpsim.buckets.gradient_tensors`; with pipeline parallelism the first
stage's, whose backward ends the step, and ``G`` is their sum) DDP's own buckets of whole tensors
(:func:`dpsim.buckets.ddp_bucket_layout`), else a stream of ``n = ⌈G/bucket⌉`` buckets, all
full except the last (the first layers), which holds the remainder. Gradients are
produced at a uniform rate during the backward pass of the last micro-batch (duration
``T_b``), so bucket ``i`` is ready at ``r_i = T_b · (bytes in buckets 0..i) / G``. Buckets are
reduced one after the other on one communication stream, each paying its own latency
terms (so small buckets cost more): with ``c_i`` the all-reduce time of bucket ``i``,

    e_0 = r_0 + c_0,    e_i = max(r_i, e_{i−1}) + c_i,
    exposed communication = max(0, e_{n−1} − T_b).

Without overlap every bucket starts after the backward pass: exposed = Σ c_i. Because the
``n−1`` full buckets have equal ``c`` and equally spaced ready times ``r_i = (i+1)·Δ``, the
recurrence (for the stream) has the closed form ``e_{n−2} = max(Δ + (n−1)·c, (n−1)·Δ + c)``, which makes a
point cost O(1) however many buckets there are (:func:`overlap_end` is the literal
recurrence, used by the tests). The discrete-event simulator reproduces exactly this model
event by event.

**ZeRO** (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training Trillion
Parameter Models", §7). Stages 1 and 2 replace each bucket's all-reduce with a
reduce-scatter (same overlap model) and add an all-gather of the updated parameters
(``Ψ/(tp·pp)`` × parameter bytes, in buckets of the same size) after the optimizer step,
not overlapped: together 2Ψ of traffic per rank, as for all-reduce. Stage 3 keeps the
gradient reduce-scatter (after the last micro-batch, as above) and drops the post-step
all-gather, but all-gathers the parameters before use in the forward *and* in the backward
pass of every micro-batch (3Ψ per step with one micro-batch). Those gathers are prefetched
layer by layer: with ``n`` equal pieces of gather time ``a`` and compute ``f`` per piece they
form a two-stage flow shop whose makespan is ``a + (n−1)·max(a, f) + f`` (Johnson 1954), so
the exposed gather time per pass is that makespan minus the pass's compute (or all of it
without overlap). In the last micro-batch's backward the gradient reduce-scatters follow
the gathers on the same stream. FSDP's backward gathers only the wrapped layers, its root unit
(embeddings, output head) staying gathered from forward to backward
(:attr:`dpsim.sharding.StepTraffic.backward_gather_share`). ZeRO collectives are ring reduce-scatter / all-gather
(NCCL's algorithm for them), two-level when ``algorithm: hierarchical``.

**Optimizer step.** Memory bound (Adam's element-wise update is ~1 FLOP/byte): bytes
touched per parameter / device memory bandwidth, over the parameters this device updates
(``Ψ/(tp·pp)``, divided by the data-parallel degree with ZeRO stage ≥ 1). Bytes per
parameter (fused update, read + write):

- Adam/AdamW, mixed precision: read fp32 master, m, v (12) + bf16 gradient (2); write
  master, m, v (12) + bf16 weight copy (2) = **28 B**; fp32: read 4 × 4, write 3 × 4 = **28 B**.
- SGD: mixed read master (4) + gradient (2), write master (4) + weight (2) = **12 B**; fp32 12 B.
- momentum SGD: SGD + read/write the momentum (8) = **20 B**.

**Derived.** Throughput = global batch / step time; MFU = F · global batch / step time /
(workers · the training precision's peak, :func:`dpsim.compute.mfu_peak_flops`); scaling
efficiency = (the same per-worker job on one worker, i.e. nominal compute of the ``k``
micro-batches plus the same optimizer work, no communication, no bubble, no straggler) / step
time — 1 for one worker.

**Calibration.** When ``scenario.calibration`` names a profile measured by the runtime
(:func:`dpsim.calibration.profile_for`), its fitted forward/backward times per micro-batch,
its α/β per link class and algorithm, and its optimizer time replace the catalog numbers
wherever the profile has them; ``hardware_source`` is the profile's path.

**Fabric.** :func:`fabric_of` turns the cluster into the α–β :class:`Fabric` of the closed
forms: a fat-tree with more nodes than ``nodes_per_leaf`` divides the per-NIC bandwidth by
its oversubscription. The data-parallel group (Megatron rank order: tensor-parallel
innermost) is a sub-fabric; when several data-parallel groups share a node they share its
NICs. A degraded NIC (``variability.degraded_links``) slows that node's NIC links in the cluster both engines
price the data-parallel group's collectives on (:func:`dp_fabric`); pipeline sends and tensor-parallel
collectives across nodes take the inter-node bandwidth scaled by the worst factor (:func:`with_degraded_nics`).

Tensor-parallel communication and the pipeline bubble come from
:mod:`dpsim.analytic.parallel` when it exists (:func:`_model_parallel_terms`); with
tp = pp = 1 both are zero.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from dpsim import compute
from dpsim.analytic import memory, parallel
from dpsim.analytic.collectives import (
    CollectiveChoice,
    Fabric,
    Link,
    algorithm_of,
    allreduce_time,
    collective,
    collective_job,
    collective_latency,
    protocol_of,
)
from dpsim.analytic.fabrics import (
    NCCL_ARCH,
    dp_fabric,
    fabric_of,
    host_link_of,
    host_topology_of,
    nccl_arch,
    nccl_net_latency_of,
    with_group_degraded_nics,
)
from dpsim.buckets import (
    bucket_sizes,
    chunk_bucket_sizes,
    chunk_gradient_readiness,
    ddp_gradient_buckets,
    ddp_last_bucket_bytes,
    ddp_trace,
    first_bucket_bytes,
    full_pieces,
    gloo_bucket_start,
    gradient_chunks,
    gradient_tensors,
    megatron_chunks,
    overlapped_bytes,
    overlapped_gather_end,
    piece_count,
    slowed_end,
    stage_end_reduction,
    synced_gradient_bytes,
    traced_buckets,
)
from dpsim.calibration import (
    profile_for,
    profile_link_name,
    profile_mismatch,
    profile_replaces_links,
    unread_beside_fitted_links,
)
from dpsim.errors import ScenarioError
from dpsim.partition import shard_sizes, speed_weights
from dpsim.rank_speed import (
    NEGLIGIBLE_JITTER_CV,
    Runs,
    expected_slowest,
    expected_slowest_sum,
    gamma_tables,
    lognormal_convolutions,
    read_off_grid,
)
from dpsim.records import StepResult
from dpsim.scenario import Scenario, changed_from_default
from dpsim.sharding import (
    CollectivePieces,
    StepTraffic,
    collective_pieces,
    optimizer_partition,
    parameter_gather_bytes,
    step_traffic,
)
from dpsim.streams import Job, busy_s, two_streams
from dpsim.units import dtype_bytes

if TYPE_CHECKING:
    from dpsim.sim.collectives.groups import Groups

__all__ = [
    "COPY_BACK_STREAMS",
    "COPY_IN_EXTRA_STREAMS",
    "FOREACH_OPTIMIZER_BYTES_PER_PARAM",
    "HYBRID_COLLECTIVES",
    "NCCL_ARCH",
    "OPTIMIZER_BYTES_PER_PARAM",
    "BucketCopies",
    "algorithm_of",
    "bucket_sizes",
    "calibrated_fabric",
    "ddp_bucket_copies",
    "dp_fabric",
    "dp_slowdowns",
    "expected_pace",
    "fabric_of",
    "flow_shop_makespan",
    "gather_time",
    "host_critical",
    "host_link_of",
    "host_pass_seconds",
    "host_topology_of",
    "hybrid_groups",
    "jitter_classes",
    "jitter_convolutions",
    "jitter_gamma_tables",
    "jitter_stretches",
    "jitter_sync_passes",
    "jittered_compute_s",
    "microbatch_times",
    "model_parallel_fabric",
    "nccl_arch",
    "nccl_net_latency_of",
    "no_sync_backward_saving",
    "optimizer_bytes_per_param",
    "optimizer_seconds",
    "optimizer_step_bytes",
    "optimizer_step_seconds",
    "overlap_end",
    "predict",
    "profile_microbatch_times",
    "profile_prices_optimizer",
    "protocol_of",
    "reduce_scatter_group_time",
    "single_worker_step_time",
    "step_overhead_seconds",
    "step_result",
    "unread_profile_parts",
    "unread_under_profile",
    "with_degraded_nics",
    "with_group_degraded_nics",
    "worker_microbatches",
    "worker_samples",
]

FORWARD_FRACTION = compute.FORWARD_FRACTION
"""Forward share of training FLOPs under the flat model (backward ≈ 2× forward; Kaplan et al. 2020)."""

OPTIMIZER_BYTES_PER_PARAM: dict[tuple[str, bool], float] = {
    # (optimizer, mixed precision) -> bytes read + written per parameter in one update
    ("adam", True): 28.0,
    ("adam", False): 28.0,
    ("adamw", True): 28.0,
    ("adamw", False): 28.0,
    ("sgd", True): 12.0,
    ("sgd", False): 12.0,
    ("momentum", True): 20.0,
    ("momentum", False): 20.0,
}
"""Memory traffic of one fused optimizer update per parameter (see the module docstring)."""

FOREACH_OPTIMIZER_BYTES_PER_PARAM: dict[str, float] = {
    # torch.optim's multi-tensor update over fp32 parameters, op by op (training.optimizer_kernels: foreach):
    # AdamW: param.mul_(1 - lr·wd) 8, exp_avg.lerp_(grad) 12, exp_avg_sq.mul_ 8 and addcmul_(grad, grad) 16,
    # sqrt 8, div_ 8, add_(eps) 8, param.addcdiv_(exp_avg, denom) 16; Adam (weight_decay 0) without the first;
    # SGD param.add_(grad) 12; momentum buf.mul_ 8, buf.add_(grad) 12, param.add_(buf) 12
    "adamw": 84.0,
    "adam": 76.0,
    "sgd": 12.0,
    "momentum": 32.0,
}
"""Bytes read + written per parameter by ``torch.optim``'s default (foreach) update, as torch dispatches it
(``tests/test_analytic.py`` counts them)."""


def optimizer_bytes_per_param(optimizer: str, precision: str) -> float:
    """Bytes read + written per parameter by one optimizer update."""
    return OPTIMIZER_BYTES_PER_PARAM[(optimizer, precision != "fp32")]  # fp8 trains on bf16 weights


def optimizer_step_bytes(scenario: Scenario) -> float:
    """Bytes read + written per updated parameter by the optimizer step.

    The fused update (:data:`OPTIMIZER_BYTES_PER_PARAM`; with ``training.optimizer_kernels: foreach``
    ``torch.optim``'s op-by-op one, :data:`FOREACH_OPTIMIZER_BYTES_PER_PARAM`) plus, with
    ``training.gradient_clipping``, global-norm clipping over the gradient buffer: one pass reading it for the
    norm, one reading and writing it to scale (3 × its width; Megatron-LM's ``clip_grad_norm_fp32``, PyTorch's
    ``clip_grad_norm_``: a multi-tensor L2 norm, then a multi-tensor scale).

    With ``training.optimizer_copies: separate`` (Megatron-LM's ``Float16OptimizerWithFloat16Params``) the
    passes are Megatron's, each its own kernel over every parameter: the gradient copied into fp32 (read the
    buffer's width, write 4; none from an fp32 buffer), fp16's unscale-and-check (read 4, write 4), clipping
    on the fp32 gradients (3 × 4), the fp32 update (:data:`OPTIMIZER_BYTES_PER_PARAM` without mixed
    precision) and the fp32 master copied into the 16-bit weights (read 4, write 2).

    With ``training.optimizer_state_dtype: bf16`` (apex's ``DistributedFusedAdam``, ``store_params`` False) the
    update reads the bf16 parameter, its moments and the gradient and writes the moments and the parameter: 14
    bytes for Adam with bf16 gradients.
    """
    t = scenario.training
    grad_width = scenario.gradient_buffer_bytes_per_param
    if t.optimizer_copies == "separate" and t.precision != "fp32":
        main_grad_copy = grad_width + 4.0 if grad_width < 4 else 0.0
        unscale = 8.0 if t.precision == "fp16" else 0.0
        clipping = 3.0 * 4.0 if t.gradient_clipping else 0.0
        weight_copy = 4.0 + 2.0
        return main_grad_copy + unscale + clipping + optimizer_bytes_per_param(t.optimizer, "fp32") + weight_copy
    clipping = 3.0 * grad_width if t.gradient_clipping else 0.0
    if t.optimizer_state_dtype == "bf16":
        # apex DistributedFusedAdam._local_step with store_params False: read the bf16 parameter, each moment and
        # the gradient shard; write each moment and the parameter into the all-gather buffer
        state = float(dtype_bytes("bf16"))
        moments = memory.OPTIMIZER_MOMENTS[t.optimizer]
        return state * (1 + moments) + grad_width + state * (moments + 1) + clipping
    if t.optimizer_kernels == "foreach":
        return FOREACH_OPTIMIZER_BYTES_PER_PARAM[t.optimizer] + clipping
    return optimizer_bytes_per_param(t.optimizer, t.precision) + clipping


def optimizer_seconds(scenario: Scenario, params: float) -> float:
    """The optimizer step over ``params`` parameters: memory bound, priced like every element-wise
    kernel at the device's achievable bandwidth (memory_efficiency × sustained_fraction)."""
    return compute.memory_bound_seconds(scenario.cluster.device, params * optimizer_step_bytes(scenario))


def profile_prices_optimizer(profile: Any) -> bool:
    """Whether ``profile`` has an optimizer fit (``optimizer``: ``optimizer.step()`` timed by ``dpsim calibrate``),
    which then prices the step's optimizer in place of :func:`optimizer_seconds`."""
    return profile is not None and getattr(profile, "optimizer", None) is not None


def optimizer_step_seconds(scenario: Scenario, profile: Any, params: float) -> float:
    """The optimizer step over ``params`` parameters as both engines price it: the profile's fit where it has one
    (:meth:`dpsim.calibration.HardwareProfile.optimizer_for`), else memory bound (:func:`optimizer_seconds`)."""
    if profile_prices_optimizer(profile):
        return float(profile.optimizer_for(scenario, params))
    return optimizer_seconds(scenario, params)


def unread_under_profile(scenario: Scenario, profile: Any) -> dict[str, str]:
    """Fields :meth:`Scenario.ignored_fields` cannot see as unread because a profile makes them so (both engines'
    records list them, ``extra.ignored_fields``): under a profile's optimizer fit, ``training.optimizer_kernels``
    and ``training.gradient_clipping``, which only :func:`optimizer_step_bytes` reads. The fit is the update the
    calibration ran (``torch.optim``'s default on its device: the single-tensor loop on CPU,
    :func:`runtime.optim.kernel_options`), without clipping (the runtime refuses it); either field was the same
    step to the bit (``tests/test_ignored_fields.py``). Beside a profile's fitted links, the fields only NCCL's model
    reads (:func:`dpsim.calibration.unread_beside_fitted_links`: ``cluster.cpu_vendor``). And a part of the profile
    itself that this scenario leaves unread (:func:`unread_profile_parts`)."""
    out = unread_beside_fitted_links(scenario, profile)
    out.update(unread_profile_parts(scenario, profile))
    if not profile_prices_optimizer(profile):
        return out
    t = scenario.training
    fitted = "calibration.profile's optimizer fit (optimizer.step() as the calibration ran it) prices the optimizer"
    if changed_from_default(t, "optimizer_kernels"):
        out["training.optimizer_kernels"] = f"{fitted}: read only where the device's memory bandwidth prices it"
    if changed_from_default(t, "gradient_clipping"):
        out["training.gradient_clipping"] = f"{fitted}, measured without clipping: read only without that fit"
    return out


@dataclass(frozen=True)
class BucketCopies:
    """PyTorch DDP's gradient passes through its buckets, in seconds (memory bound)."""

    in_backward_s: float = 0.0
    """In the synchronising backward, on the compute stream: each gradient into its bucket, divided by the
    world size on the way (``Reducer::mark_variable_ready_dense``: ``at::mul_out(bucket_view, grad, 1/N)``),
    or, with the gradients as bucket views, the bucket divided in place (``bucket_view.div_(N)``): either
    reads and writes the gradient once."""
    back_s: float = 0.0
    """After the reductions, without ``gradient_as_bucket_view``: every bucket copied back into the
    gradients (``finalize_backward`` → ``finalize_bucket_dense`` → ``grad.copy_(bucket_view)``)."""
    back_last_s: float = 0.0
    """The copy back of the last bucket, which cannot start before that bucket's all-reduce has ended."""

    def back_end(self, backward_end: Any, reduced: Any) -> Any:
        """When the copies back end: ``finalize_backward`` runs as the backward's final callback and copies
        bucket by bucket, each after its own all-reduce, so the copies of earlier buckets run beside later
        all-reduces: max(backward end + all copies, the last all-reduce's end + its bucket's copy)."""
        return copies_back_end(backward_end, reduced, self.back_s, self.back_last_s)


def copies_back_end(backward_end: Any, reduced: Any, back_s: Any, back_last_s: Any) -> Any:
    """:meth:`BucketCopies.back_end` on scalars or arrays (the planner's screen prices many rows at once)."""
    return np.maximum(backward_end + back_s, reduced + back_last_s)


COPY_IN_EXTRA_STREAMS = 1.0
"""Streams of the gradient's size that DDP's copy into the buckets (``at::mul_out``: read the gradient, write the
bucket after reading it in) moves beyond the in-place division the calibrated backward holds (read, write)."""
COPY_BACK_STREAMS = 3.0
"""Streams of DDP's copy back (``grad.copy_(bucket_view)``): read the bucket, write the gradient after reading it in."""


def _host_rate(scenario: Scenario, profile: Any) -> float | None:
    """The profile's element-wise rate where it times the scenario's compute on a host, else None."""
    if profile is None or not profile.reduction_bandwidth or not profile.has_compute_for(scenario):
        return None
    return float(profile.reduction_bandwidth)


def host_pass_seconds(scenario: Scenario, profile: Any, streamed_bytes: float) -> float:
    """An element-wise pass over host memory that streams ``streamed_bytes`` (reads and writes), at the profile's
    element-wise rate (``reduction_bandwidth``: ``a.add_(b)``'s operand bytes a second, three streams, so a byte
    streamed costs 1/(3·rate)) and time-sliced as the compute (:meth:`~dpsim.calibration.HardwareProfile.
    host_slowdown`): what the ranks' host passes over their gradients cost (DDP's reducer)."""
    return streamed_bytes / (3.0 * profile.reduction_bandwidth) * profile.host_slowdown(scenario)


def ddp_bucket_copies(
    scenario: Scenario, gradient_bytes: float, last_bucket_bytes: float, measured_backward: bool, profile: Any = None
) -> BucketCopies:
    """The passes of PyTorch DDP's reducer over the gradients (``zero_stage: 0`` with data parallelism, or at one
    rank under ``training.ddp_at_one_rank``: :attr:`Scenario.runs_ddp`).

    ``gradient_bytes`` / ``last_bucket_bytes``: what is reduced, in the communication dtype; the copies move
    the gradient buffer's dtype, read once and written once (2 x its width a parameter). Only the
    synchronising micro-batch: under ``no_sync`` the reducer's hooks return at once. ``measured_backward``:
    the backward comes from a calibration profile, timed through DDP (``runtime.calibrate``), which already
    holds the in-backward pass.

    ``profile``: where the backward was measured on a host (a profile with the element-wise rate, as
    :func:`no_sync_backward_saving`), the copies are the host's passes, priced at that rate by the bytes they stream
    (:func:`host_pass_seconds`), not at the device's catalog bandwidth. The calibrated backward holds the reducer's
    pass with the gradients as bucket views (``bucket_view.div_``: the gradient read and written in place, 2 streams).
    Without views (torch's default) ``Reducer::mark_variable_ready_dense`` instead writes each gradient into its bucket
    (``at::mul_out(bucket_view, grad, 1/N)``: the gradient read, the bucket written, and read first by the write,
    3 streams: one stream more than the calibrated pass), and ``Reducer::finalize_bucket_dense`` copies each bucket
    back (``grad.copy_(bucket_view)``: 3 streams). torch 2.13's ``batched_grad_copy`` (off by default) is not priced.
    """
    t = scenario.training
    if not scenario.runs_ddp or gradient_bytes <= 0:
        return BucketCopies()
    moved = 2.0 * scenario.gradient_buffer_bytes_per_param / scenario.gradient_bytes_per_param
    device = scenario.cluster.device
    inside = 0.0 if measured_backward else compute.memory_bound_seconds(device, moved * gradient_bytes)
    if t.gradient_as_bucket_view:
        return BucketCopies(inside)
    if measured_backward and _host_rate(scenario, profile):
        width = moved / 2.0  # the gradient buffer's bytes per reduced byte
        return BucketCopies(
            host_pass_seconds(scenario, profile, COPY_IN_EXTRA_STREAMS * width * gradient_bytes),
            host_pass_seconds(scenario, profile, COPY_BACK_STREAMS * width * gradient_bytes),
            host_pass_seconds(scenario, profile, COPY_BACK_STREAMS * width * last_bucket_bytes),
        )
    back = compute.memory_bound_seconds(device, moved * gradient_bytes)
    return BucketCopies(inside, back, compute.memory_bound_seconds(device, moved * last_bucket_bytes))


def no_sync_backward_saving(
    scenario: Scenario, profile: Any = None, backward_s: float | np.ndarray = math.inf
) -> float | np.ndarray:
    """Seconds by which each micro-batch before the synchronising one runs shorter than the profile's backward,
    time-sliced as :meth:`~dpsim.calibration.HardwareProfile.compute_for` (0 where nothing is skipped), at most
    ``backward_s``, the backward that holds the pass (each rank's where an array; a profile whose element-wise rate
    is far below its backward's made the pass longer than the backward, and the step negative).

    A calibrated backward is timed through DDP (``runtime.calibrate._ddp_timer``: a one-rank gloo group,
    gradients as bucket views, no communication hook), so every timed backward holds the reducer's pass over the
    gradients: each gradient is already its bucket's view, and ``Reducer::mark_variable_ready_dense`` divides it
    in place (``bucket_view.div_(div_factor_)``, world size 1 there), reading and writing it once (the one-rank
    all-reduce moves nothing: gloo returns at once for one process). The synchronising micro-batch makes the same
    pass in training (:attr:`BucketCopies.in_backward_s`). Under ``no_sync`` it does not: DDP's forward does not
    prepare the reducer (``require_backward_grad_sync`` is false) and ``Reducer::autograd_hook`` returns at once
    (``if (!expect_autograd_hooks_) return;``), so autograd accumulates into ``.grad`` alone. The pass is priced at
    the profile's element-wise rate (``reduction_bandwidth``: ``a.add_(b)``'s operand bytes a second, three
    streams, two read and one written), so reading and writing G gradient bytes takes ``2·G / (3·rate)``.
    Only with DDP (:attr:`Scenario.runs_ddp`), no model parallelism, accumulation and a profile whose backward
    was timed that way (its compute fit and ``reduction_bandwidth``).
    """
    t = scenario.training
    passed = 0.0
    if not (
        profile is None
        or scenario.accumulation_steps <= 1
        or not scenario.runs_ddp
        or t.tensor_parallel * t.pipeline_parallel > 1
        or _host_rate(scenario, profile) is None
    ):
        gradient_bytes = scenario.model.num_parameters * scenario.gradient_buffer_bytes_per_param
        passed = host_pass_seconds(scenario, profile, 2.0 * gradient_bytes)
    return np.minimum(passed, backward_s) if isinstance(backward_s, np.ndarray) else min(passed, backward_s)


def unread_profile_parts(scenario: Scenario, profile: Any) -> dict[str, str]:
    """The profile's own parts this scenario leaves unread, each with why, keyed ``calibration.profile.<part>``
    (listed in both engines' ``extra.ignored_fields``, as a scenario field read by nothing is: round 37, they were
    listed nowhere): ``compute.step_overhead`` where the profile prices this scenario's compute but
    :func:`step_overhead_seconds` prices none of it (no DDP reducer runs: DeepSpeed's ZeRO, FSDP, one rank; or tensor
    or pipeline parallelism), the same step to the bit as without it (``tests/test_step_overhead.py``)."""
    overhead = getattr(profile, "step_overhead_s", None) if profile is not None else None
    if not overhead or not profile.has_compute_for(scenario) or step_overhead_seconds(scenario, profile):
        return {}
    t = scenario.training
    if not scenario.runs_ddp:
        where = "no DDP reducer runs here" + (
            f" (training.zero_stage {t.zero_stage})" if not scenario.reduces_with_ddp else " (one data-parallel rank)"
        )
    else:
        where = f"this scenario runs TP {t.tensor_parallel} x PP {t.pipeline_parallel}"
    return {
        "calibration.profile.compute.step_overhead": (
            f"measured on DDP's synchronising micro-batch without model parallelism and priced only there: {where}"
        )
    }


def step_overhead_seconds(scenario: Scenario, profile: Any = None) -> float:
    """Seconds a rank's first micro-batch of a step takes over the profile's micro-batch, once a step: the profile's
    ``compute.step_overhead`` (:attr:`~dpsim.calibration.HardwareProfile.step_overhead_s`: the CPU time the scenario
    model's synchronising micro-batch takes right after an optimizer step over the same micro-batch back to back,
    which the profile's forward and backward fits time), time-sliced as the compute (:meth:`~dpsim.calibration.
    HardwareProfile.host_slowdown`). Both engines add it to the step's first forward, at each rank's pace: the
    analytic engine to the nominal and the slowest rank's compute (:func:`predict`), the simulator to each rank's
    first micro-batch (:func:`dpsim.sim.worker.worker_times`).

    0 where the profile did not measure it (every profile before it was measured prices as before), or does not
    time this scenario's compute on a host, and outside what was measured: DDP (:attr:`Scenario.runs_ddp`) without
    model parallelism."""
    overhead = getattr(profile, "step_overhead_s", None) if profile is not None else None
    t = scenario.training
    if (
        not overhead
        or not scenario.runs_ddp
        or t.tensor_parallel * t.pipeline_parallel > 1
        or not profile.has_compute_for(scenario)
    ):
        return 0.0
    return float(overhead) * profile.host_slowdown(scenario)


# --- collectives used by ZeRO -----------------------------------------------------------------


def hybrid_groups(scenario: Scenario) -> tuple[Groups | None, Groups | None]:
    """FSDP HYBRID_SHARD: the shard groups and the replica groups of the data-parallel ranks (None, None without).

    Data-parallel ranks are consecutive in a shard group of G (``training.fsdp_shard_group``); a
    replica group holds ranks i, i+G, …. Every group of a kind runs its collective at once over the
    ranks it occupies (:class:`dpsim.sim.collectives.groups.Groups`), so the replica groups of a node
    share its NICs as the cluster places them, in both engines.
    """
    traffic = step_traffic(scenario)
    if traffic.replicas <= 1:
        return None, None
    from dpsim.sim.collectives.groups import Groups

    return Groups.hybrid(scenario.data_parallel, traffic.shard_ranks)


HYBRID_COLLECTIVES: tuple[tuple[str, bool], ...] = (("reduce_scatter", False), ("allreduce", True))
"""FSDP HYBRID_SHARD's collectives as this engine prices them (:func:`predict`), one a stream in stream order
(:func:`_hybrid_overlap_end`, :func:`dpsim.streams.two_streams`), each (op, in the replica groups): a bucket's
reduce-scatter in every shard group (their all-gathers cost the same: :func:`gather_time`), then its reduced 1/G
shard's all-reduce in every replica group. The cost guard charges this list
(:func:`dpsim.sim.budget.hybrid_pricing`)."""


def reduce_scatter_group_time(algorithm: str, size: float, fabric: Fabric, groups: Groups | None = None) -> float:
    """Reduce-scatter of ``size`` bytes over the fabric's ranks, or in every group of ``groups`` at once
    (all-gather costs the same).

    The schedule's price (:func:`dpsim.analytic.collectives.collective`): NCCL's ring on
    the rails, two-level for ``hierarchical``.
    """
    return collective("reduce_scatter", algorithm, size, fabric, groups=groups).time_s


gather_time = reduce_scatter_group_time
"""All-gather of ``size`` bytes in total: the mirror image of reduce-scatter, same cost."""


# --- the overlap model ------------------------------------------------------------------------


def overlap_end(ready_s: Sequence[float], durations_s: Sequence[float], start_s: float = 0.0) -> float:
    """End of a sequential stream: job ``i`` starts at ``max(ready_i, end of job i−1)``."""
    end = start_s
    for ready, duration in zip(ready_s, durations_s, strict=True):
        end = max(ready, end) + duration
    return end


def _hybrid_overlap_end(
    total_bytes: float,
    bucket_bytes: float,
    span_s: float,
    cost: Callable[[float], Job],
    replica_cost: Callable[[float], Job],
    stream_free_s: float = 0.0,
) -> tuple[float, float, int]:
    """:func:`_uniform_overlap_end` for HYBRID_SHARD's two streams (:func:`dpsim.streams.two_streams`, each
    collective with the links it loads): equal buckets ready uniformly over ``span_s``; returns (when both
    streams are done, total communication time alone, buckets)."""
    if total_bytes <= 0:
        return stream_free_s, 0.0, 0
    sizes = bucket_sizes(total_bytes, bucket_bytes, bucket_bytes)
    first, second = functools.cache(cost), functools.cache(replica_cost)
    a, b = [first(size) for size in sizes], [second(size) for size in sizes]
    ready = [span_s * done / total_bytes for done in itertools.accumulate(sizes)]
    streams = two_streams(ready, a, b, stream_free_s)
    return max(streams.first_free, streams.second_free), busy_s(streams), len(sizes)


_LISTED_BUCKETS = 100_000
"""Most gradient buckets priced one by one where no closed form applies (beyond: the uniform form)."""


def _uniform_overlap_end(
    total_bytes: float,
    bucket_bytes: float,
    span_s: float,
    cost: Callable[[float], float],
    stream_free_s: float = 0.0,
    first_bytes: float | None = None,
    tensors: Sequence[float] = (),
    buckets: Sequence[float] = (),
    slowed: tuple[float, float] | None = None,
    latency: Callable[[float], float] | None = None,
) -> tuple[float, float, int]:
    """:func:`overlap_end` for DDP buckets ready uniformly over ``span_s`` (O(1) for a stream).

    Buckets are :func:`dpsim.buckets.bucket_sizes` (``first_bytes``: the first bucket's limit,
    default DDP's rule; ``tensors``: the gradient tensors, when known, whose buckets are DDP's
    layout), or ``buckets`` when given (a profiler trace's, :func:`dpsim.buckets.ddp_gradient_buckets`),
    each ready when backward has produced its cumulative bytes.

    Returns (end of the last bucket, total communication time, number of buckets).
    ``cost(size)`` is the time of one bucket's collective. For the ``f`` full buckets with
    cost ``c`` and ready times ``(i+1)·Δ``: ``e_{f−1} = max(s + f·c, Δ + f·c, f·Δ + c)``,
    where ``s`` is when the stream becomes free (each term is the path through one
    endpoint of the chain; the intermediate ones are dominated because the chain is linear).
    With ``slowed``, ``latency(size)`` (gloo's own all-reduce: :func:`gloo_bucket_latency`) is each bucket's latency
    term that runs beside the previous bucket's bytes (:func:`dpsim.buckets.gloo_bucket_start`).
    """
    if total_bytes <= 0:
        return stream_free_s, 0.0, 0
    if tensors or buckets or slowed is not None:
        sizes = list(buckets) or bucket_sizes(total_bytes, bucket_bytes, first_bytes, tensors)
        costs = [cost(size) for size in sizes]
        ready = [span_s * done / total_bytes for done in itertools.accumulate(sizes)]
        if slowed is not None:  # ``slowed = (until, rate)``: each bucket at ``rate`` of its pace until then
            end, previous_start, earlier_end = stream_free_s, -math.inf, -math.inf
            for at, size, c in zip(ready, sizes, costs, strict=True):
                hidden = latency(size) if latency is not None else 0.0
                start = float(gloo_bucket_start(at, previous_start, end, earlier_end, hidden))
                previous_start, earlier_end = start, end
                end = float(slowed_end(start, c, *slowed))
            return end, sum(costs), len(sizes)
        return overlap_end(ready, costs, stream_free_s), sum(costs), len(sizes)
    head = min(first_bucket_bytes(bucket_bytes, first_bytes), total_bytes)
    if head < bucket_bytes and head < total_bytes:
        # DDP's small first bucket (dpsim.buckets), then the chain of full buckets from offset a:
        # ready times a + j·Δ, so e = max(s' + f·c, a + Δ + f·c, a + f·Δ + c) as below.
        c_head = cost(head)
        start = max(stream_free_s, span_s * head / total_bytes) + c_head
        rest_total = total_bytes - head
        full, rest = full_pieces(rest_total, bucket_bytes)
        offset = span_s * head / total_bytes
        end, total = start, c_head
        if full:
            c = cost(bucket_bytes)
            delta = span_s * bucket_bytes / total_bytes
            end = max(start + full * c, offset + delta + full * c, offset + full * delta + c)
            total += full * c
        if rest > 0:
            c_rest = cost(rest)
            end = max(span_s, end) + c_rest
            total += c_rest
        return end, total, 1 + full + (1 if rest > 0 else 0)
    full, rest = full_pieces(total_bytes, bucket_bytes)
    end = stream_free_s
    total = 0.0
    if full:
        c = cost(bucket_bytes)
        delta = span_s * bucket_bytes / total_bytes
        end = max(stream_free_s + full * c, delta + full * c, full * delta + c)
        total += full * c
    if rest > 0:
        c_rest = cost(rest)
        end = max(span_s, end) + c_rest
        total += c_rest
    return end, total, full + (1 if rest > 0 else 0)


def gloo_bucket_latency(
    scenario: Scenario, profile: Any, group: Fabric | None = None
) -> Callable[[float], float] | None:
    """Each DDP bucket's latency term that gloo's second worker thread runs beside the previous bucket's bytes
    (:func:`dpsim.buckets.gloo_bucket_start`): the all-reduce's latency term
    (:func:`~dpsim.analytic.collectives.collective_latency`) on the data-parallel fabric ``group`` (None: the
    profile's links, :func:`dp_fabric`), where DDP's buckets go to gloo's own all-reduce (``algorithm: backend`` on
    a profile measured with gloo); None elsewhere (NCCL runs a communicator's collectives one at a time on its
    stream; dpsim's own algorithms in the runtime run on one thread). Both engines take it from here (the
    simulator through :attr:`dpsim.sim.training.StepPlan.bucket_latency_s`)."""
    gloo = profile is not None and getattr(profile, "backend", "") == "gloo"
    if not gloo or algorithm_of(scenario) != "backend" or not scenario.reduces_with_ddp or scenario.data_parallel <= 1:
        return None
    fabric = dp_fabric(scenario, calibrated_fabric(scenario, profile)) if group is None else group
    return functools.cache(lambda size: collective_latency("allreduce", "backend", size, fabric))


def _micro_batch_backlog(count: int, gap_s: float, backward_s: float, end_of: Callable[[float], float]) -> float:
    """Communication still queued when the next backward starts, after ``count`` micro-batches.

    Each micro-batch's gradient collectives stream during its backward (``end_of(free)``: when they
    finish, measured from that backward's start, given the stream is busy until ``free``); the next
    backward starts ``backward_s + gap_s`` later (its forward and tensor-parallel time in between).
    Iterates micro-batch by micro-batch, stopping once the backlog repeats (none left, or a constant
    growth per micro-batch when communication outpaces compute).
    """
    free, step = 0.0, 0.0
    for i in range(count):
        nxt = max(0.0, end_of(free) - backward_s - gap_s)
        if nxt == free:
            return free
        if i and abs((nxt - free) - step) <= 1e-12 * max(1.0, nxt):
            return nxt + step * (count - 1 - i)
        step, free = nxt - free, nxt
    return free


def flow_shop_makespan(pieces: int, gather_s: float, compute_s: float) -> float:
    """Two-stage flow shop of ``pieces`` equal jobs: gather (a) then compute (f) per piece.

    Prefetching gathers one piece ahead: makespan = a + (n−1)·max(a, f) + f (Johnson 1954).
    """
    if pieces <= 0:
        return 0.0
    return gather_s + (pieces - 1) * max(gather_s, compute_s) + compute_s


# --- model-parallel hooks ---------------------------------------------------------------------


def _model_parallel_terms(
    scenario: Scenario, fabric: Fabric, forward_s: float, backward_s: float, nic_loads: bool = True
) -> tuple[float, float, float]:
    """(exposed model-parallel communication per micro-batch, pipeline bubble per step, exposed pipeline sends
    per step), seconds.

    Zero for tp = pp = 1; otherwise the hybrid-parallel terms of :mod:`dpsim.analytic.parallel` (Megatron TP
    all-reduces; under ``training.pipeline_p2p: blocking`` DeepSpeed's stage-boundary transfers,
    :func:`~dpsim.analytic.parallel.pipeline_blocking_p2p_time`) and the pipeline schedule's bubble and exposed
    sends (:func:`pipeline_terms`). Both engines take all three from here, and split the per-micro-batch term
    between the passes by the TP share. ``nic_loads=False``: the sends share their NICs with no TP phase or
    reduction (the shared fabric, which runs those as flows beside its live pipeline).
    """
    t = scenario.training
    if t.tensor_parallel == 1 and t.pipeline_parallel == 1:
        return 0.0, 0.0, 0.0
    tp_comm = parallel.tensor_parallel_exposed_time(scenario, fabric) if t.tensor_parallel > 1 else 0.0
    # DeepSpeed's blocking stage-boundary transfers sit on the compute stream between passes, as the TP
    # collectives do inside them: both lengthen every micro-batch (and so the bubble)
    tp_comm += parallel.pipeline_blocking_p2p_time(scenario, fabric)
    bubble, sends = pipeline_terms(scenario, fabric, forward_s, backward_s, tp_comm, nic_loads)
    return tp_comm, bubble, sends


def pipeline_terms(
    scenario: Scenario, fabric: Fabric, forward_s: float, backward_s: float, tp_comm_s: float, nic_loads: bool = True
) -> tuple[float, float]:
    """(bubble, exposed sends) of one pipelined step, seconds: what the schedule adds to one stage's work.

    The schedule (:mod:`dpsim.analytic.pipeline_schedule`: GPipe, 1F1B, interleaved 1F1B) is evaluated with each
    pass lasting its compute plus its share of the blocking TP communication (``tp_comm_s`` a micro-batch,
    :func:`~dpsim.analytic.parallel.with_tensor_parallel`), each stage at its own pace
    (:func:`pipeline_stage_slowdowns`), once without sends (the bubble: makespan − m·(t_f + t_b)) and once
    with every stage-to-stage send taking its boundary's :func:`~dpsim.analytic.parallel.pipeline_p2p_times` on
    its directed link, one after another (the exposed sends: the difference; NVLink inside a node, the NIC at a
    node's edge where a stage is smaller than a node), and sends of different links in flight through one NIC
    direction at once sharing it (:func:`~dpsim.analytic.parallel.pipeline_nic_flows`). Where a send outlasts a
    pass the link carries the sends back to back and the makespan follows them, which the closed form
    (:func:`~dpsim.analytic.parallel.pipeline_step`, sends shorter than a pass) does not.
    """
    from dpsim.analytic.pipeline_schedule import bubble_and_sends

    t = scenario.training
    p, m = t.pipeline_parallel, scenario.accumulation_steps
    if p <= 1:
        return 0.0, 0.0
    fwd, bwd = parallel.with_tensor_parallel(scenario, forward_s, backward_s, tp_comm_s)
    slow = pipeline_stage_slowdowns(scenario, forward_s + backward_s, tp_comm_s)
    send = parallel.pipeline_sends(parallel.pipeline_p2p_times(scenario, fabric))
    nics = parallel.pipeline_nic_flows(scenario, fabric)
    loads = pipeline_stage_loads(scenario, fabric, fwd, bwd, tp_comm_s) if nic_loads and _any_positive(send) else None
    if loads is not None:
        nics, loads = loads
    bubble, sends = bubble_and_sends(fwd, bwd, p, m, t.virtual_stages, t.pipeline_schedule, send, slow, nics, loads)
    return bubble + torch_lockstep_s(scenario, fwd), sends


def _any_positive(send: Any) -> bool:
    return any(x > 0 for x in send) if isinstance(send, tuple) else bool(send > 0)


def pipeline_stage_loads(
    scenario: Scenario, fabric: Fabric, forward_s: float, backward_s: float, tp_comm_s: float
) -> tuple[Any, Any] | None:
    """(the sends' NIC flows, :class:`~dpsim.analytic.pipeline_schedule.StageLoads`) of a pipelined step whose sends
    cross switched NICs (:func:`pipeline_load_shape`, its reduction's buckets ready as ``backward_s``, a micro-batch's
    backward on one stage with its TP share, produces them: :meth:`~dpsim.analytic.pipeline_schedule.ReductionStream
    .buckets`), or None where no NIC direction carries two of their users."""
    shape = pipeline_load_shape(scenario, fabric)
    if shape is None:
        return None
    links, loads, stream = shape
    if stream is not None:
        chunks = scenario.training.virtual_stages if scenario.training.pipeline_schedule == "interleaved" else 1
        loads = dataclasses.replace(loads, dp_buckets=stream.buckets(backward_s / chunks))
    return links, loads


def pipeline_load_shape(scenario: Scenario, fabric: Fabric) -> tuple[Any, Any, Any] | None:
    """(the sends' NIC flows, :class:`~dpsim.analytic.pipeline_schedule.StageLoads` without its reduction's buckets,
    :class:`~dpsim.analytic.pipeline_schedule.ReductionStream` or None) of a pipelined step whose sends
    cross switched NICs (issue 9 item 6), or None where no NIC direction carries two of their users: what does not
    change with the passes' lengths (the planner's screen prices many of those at once,
    :func:`~dpsim.analytic.pipeline_schedule.batch_bubble_and_sends`). Each send pays its boundary's latency after
    its last byte, as the shared fabric's flows do.

    TP: where a stage's TP groups span nodes and every TP collective is blocking (no GEMM hides any, no fused local
    step), each operation runs its TP collectives as :class:`dpsim.sim.shared._TensorFlows` does (layer by layer, as
    many an operation as the fabric releases: ``_tensor_flows``, ``_tp_passes_of_stage``), each a ring of
    ``2(t − 1)`` phases (``t − 1`` each for sequence parallelism's reduce-scatter and all-gather) of equal length,
    its link's latency after each phase's bytes, on the NICs :func:`~dpsim.analytic.parallel.pipeline_nic_users`
    gives them (all of them: the evaluation runs an operation as one event while nothing shares its NIC directions,
    so no bound on their count since stop 49). DP: DDP's and ZeRO-1/2's gradient reduction of
    each stage (not ZeRO-3/FSDP's step programs, nor HYBRID_SHARD) as the shared fabric runs it from the live schedule
    (:class:`dpsim.sim.shared._LiveStages`): its buckets (:func:`dpsim.buckets.bucket_sizes`) on one stream, each
    ready as the stage's last backward produces it (with overlap; without, after that backward and DDP's pass into
    its buckets), joining the chosen schedule's base latency
    (:func:`~dpsim.analytic.collectives.collective_base_latency`) after both it is ready and the bucket before it is
    done, for its collective's time alone less that latency; one flow for each edge of the DP ring that crosses
    nodes."""
    from dpsim.analytic.collectives import collective, collective_base_latency
    from dpsim.analytic.pipeline_schedule import ReductionStream, StageLoads

    t = scenario.training
    p, tp, dp = t.pipeline_parallel, t.tensor_parallel, scenario.data_parallel
    if not _sends_cross_switched_nics(scenario, fabric):
        return None
    tp_crosses, collectives, counts, layers, phases = _tp_phases(scenario, fabric)
    profile = profile_for(scenario)
    group = dp_fabric(scenario, calibrated_fabric(scenario, profile))
    dp_reduces = _stage_reduces(scenario, group)
    tp_nics: tuple[tuple[int, int, int], ...] = ()
    if tp_crosses and tp > fabric.per_node:
        from dpsim.sim.shared import tp_ring_nic_flows

        tp_nics = tp_ring_nic_flows(tp, fabric, collectives[0][0])
    links, tp_flows, dp_flows = parallel.pipeline_nic_users(
        p, tp, dp, fabric.per_node, fabric.nics_per_node, tp_nics, dp_reduces
    )
    if not links:
        return None
    latency = tuple(link.latency_s for link in parallel.pipeline_p2p_links(scenario, fabric))
    tp_fields: dict[str, Any] = {}
    if any(tp_flows):
        one = sum(seconds for _, seconds in collectives)
        group_tp = parallel.tensor_parallel_fabric(tp, fabric)
        tp_fields = {
            "tp_flows": tp_flows,
            "tp_counts": counts,
            "tp_layers": (layers,) * 2,
            "tp_phases": phases,
            "tp_phase_s": one / phases,
            "tp_latency_s": min(one / phases, max(group_tp.intra.latency_s, group_tp.inter.latency_s)),
        }
    dp_fields: dict[str, Any] = {}
    stream = None
    if any(dp_flows):
        ddp = scenario.reduces_with_ddp
        tensors = gradient_tensors(scenario) if ddp else ()
        cut = collective_pieces(scenario)
        grad_bytes = cut.reduced_gradient_bytes or synced_gradient_bytes(scenario, tensors)
        if grad_bytes > 0:
            algorithm, op = algorithm_of(scenario), scenario.gradient_reduction_op
            sizes = bucket_sizes(grad_bytes, cut.gradient_bucket, None if ddp else cut.gradient_bucket, tensors)
            after = None
            if not scenario.overlaps_gradient_reduction:
                after = ddp_bucket_copies(scenario, grad_bytes, sizes[-1], False, profile).in_backward_s
            base = collective_base_latency(op, algorithm, sizes[0], group)
            priced = functools.cache(lambda size: max(0.0, collective(op, algorithm, size, group).time_s - base))
            stream = ReductionStream(
                tuple(itertools.accumulate(sizes)), grad_bytes, tuple(priced(size) for size in sizes), after
            )
            dp_fields = {"dp_flows": dp_flows, "dp_latency_s": base}
    return links, StageLoads(send_latency_s=latency, **tp_fields, **dp_fields), stream


def _sends_cross_switched_nics(scenario: Scenario, fabric: Fabric) -> bool:
    """Whether a pipelined step's sends run beside the passes through a switched fabric's NICs
    (:func:`pipeline_load_shape` prices what else shares them)."""
    t = scenario.training
    return t.pipeline_parallel > 1 and fabric.nodes > 1 and fabric.topology != "ring" and t.pipeline_p2p == "overlapped"


def _stage_reduces(scenario: Scenario, group: Fabric) -> bool:
    """Whether each pipeline stage's data-parallel reduction (DDP, ZeRO-1/2; not ZeRO-3/FSDP, nor HYBRID_SHARD)
    crosses nodes on its group's fabric ``group`` (:func:`dp_fabric`)."""
    t = scenario.training
    return scenario.data_parallel > 1 and t.zero_stage <= 2 and hybrid_groups(scenario)[1] is None and group.nodes > 1


class _TpPhases(NamedTuple):
    """A stage's TP ring phases as :func:`pipeline_load_shape` runs them beside its sends."""

    crosses: bool
    """Its TP groups span nodes and every TP collective blocks (no GEMM hides any, no fused local step)."""
    collectives: tuple[tuple[str, float], ...]
    counts: tuple[int, int]
    """Collectives a forward and a backward operation runs."""
    layers: int
    """Layers an operation releases them over."""
    phases: int
    """Ring phases a collective."""


def _tp_phases(scenario: Scenario, fabric: Fabric) -> _TpPhases:
    """:class:`_TpPhases` of ``scenario``'s pipelined step on ``fabric``."""
    t = scenario.training
    tp = t.tensor_parallel
    crosses = (
        parallel.tensor_parallel_crosses_nodes(tp, fabric.per_node)
        and tp > fabric.per_node
        and parallel.tensor_parallel_hidden_time(scenario, fabric) <= 0
        and parallel.tensor_parallel_local_time(scenario) <= 0
    )
    chunks = t.virtual_stages if t.pipeline_schedule == "interleaved" else 1
    collectives = tuple(parallel.tensor_parallel_collectives(scenario, fabric)) if crosses else ()
    layers = parallel.layers_per_stage(scenario)
    per_stage = layers * parallel.tensor_parallel_counts(scenario)[0]
    forward = round(layers * parallel.forward_allreduces_per_layer(scenario.model.parallel_block))
    counts = (max(1, round(max(1, forward) / chunks)), max(1, round(max(1, round(per_stage) - forward) / chunks)))
    phases = sum(2 * (tp - 1) if op == "allreduce" else tp - 1 for op, _ in collectives)
    return _TpPhases(crosses, collectives, counts, max(1, round(layers / chunks)), phases)


def torch_lockstep_s(scenario: Scenario, forward_s: float) -> float:
    """Seconds torch's interleaved pipeline schedule adds to the step by running its table in lock step: one model
    chunk's forward (``forward_s``, a micro-batch's forward through a stage with its TP share, over the chunks a
    stage holds) under ``training.pipeline_runtime: torch`` with the interleaved schedule; 0 otherwise.

    torch.distributed.pipelining's ``ScheduleInterleaved1F1B`` (torch 2.6.0, the release nearest torchtitan's
    Dec 2024 rows' torch ``1963fc8``; ``_calculate_single_rank_operations``, ``_get_1f1b_rank_ops``) builds a table of
    one action or ``None`` a rank and time step (``rank`` leading ``None``s, Megatron-LM's warm-up count and chunk
    order, ``None``s until the first backward can arrive, forward/backward pairs, a ``None`` before each cool-down
    backward), and ``PipelineScheduleMulti._step_microbatches`` runs it step by step: the rank's action, then one
    ``_batch_p2p(ops).wait()`` of its action's sends and of the receives for what its neighbours do at that step. The
    per-rank order is the engines' (:func:`dpsim.analytic.pipeline_schedule.schedule_order`, for micro-batches a
    multiple of the stages, as they require); executed in lock step, with every stage at one pace and no transfer
    time, the step ends exactly one chunk forward later than the dependency-driven schedule, for every p, v and m
    (``benchmarks/torch_pipeline_schedules.py`` executes the transcribed table). torch's ``Schedule1F1B`` (plain
    1F1B) waits its fused sends and receives in data order and ends with the engines' schedule: nothing added.
    Not priced: the lock step's waits for each step's transfers and for slower neighbouring stages (the engines
    run overlapped sends at one pace, :func:`pipeline_stage_slowdowns`)."""
    t = scenario.training
    if t.pipeline_runtime != "torch" or t.pipeline_schedule != "interleaved" or t.pipeline_parallel <= 1:
        return 0.0
    return forward_s / t.virtual_stages


def pipeline_stage_slowdowns(scenario: Scenario, microbatch_s: float, tp_comm_s: float) -> list[float]:
    """Each pipeline stage's micro-batch (compute and its TP communication) over the slowest stage's: 1 for
    the slowest, less for stages with less work (the last stage adds the logits and loss, the first the
    embedding; :func:`dpsim.compute.compute_times`' ``stage_s``, scaled so its slowest is ``microbatch_s``).

    The slowest stage sets the steady state, but fill and drain pass through every other stage at that
    stage's own pace: with stage times τ_i and the last stage slowest, plain 1F1B's makespan is
    Σ_(i≠k) τ_i + m·τ_k (a flow shop of m identical jobs whose bottleneck is the last machine), the interleaved
    schedule's Σ_(i≠k) τ_i / v + m·τ_k, both checked against the executed schedule
    (:func:`dpsim.sim.pipeline.simulate_pipeline` with these slowdowns). Uniform stages: all 1.

    Only where the stage-boundary transfers sit inside the passes (``training.pipeline_p2p: blocking`` or
    ``synchronous``): with overlapped sends the faster stages' slack also hides 1F1B's round-trip waits,
    which the closed form's exposed sends do not follow, so those pipelines keep every stage at the slowest
    one's pace in both engines (all 1).
    """
    p = scenario.training.pipeline_parallel
    if scenario.training.pipeline_p2p == "overlapped":
        return [1.0] * p
    stages = compute.compute_times(scenario).stage_s
    if len(stages) != p or max(stages) <= 0.0:
        return [1.0] * p
    scale = microbatch_s / max(stages)
    full = microbatch_s + tp_comm_s
    return [(x * scale + tp_comm_s) / full if full > 0 else 1.0 for x in stages]


def _pipeline_p2p_terms(scenario: Scenario, fabric: Fabric) -> tuple[float, bool]:
    """(all stage-to-stage sends, whether a TP group crosses nodes) per step.

    Each device sends every micro-batch's activation (forward) and its gradient (backward) once for each of its
    model chunks that has a next (previous) chunk, at its boundaries' :func:`~dpsim.analytic.parallel.
    pipeline_p2p_times` (device d: forward across boundary d, backward across d − 1); the sends of the device whose
    sends take longest (what of them the compute does not hide: :func:`pipeline_terms`). The model's last chunk
    sends no activation and its first no gradient (torch ``torch/distributed/pipelining/stage.py``:
    ``act_send_info`` is empty on ``is_last``, ``get_bwd_send_ops`` returns none on ``is_first``; Megatron-LM's
    ``send_forward`` / ``send_backward`` skip the last / first pipeline stage), so under GPipe and 1F1B the last
    boundary (stage p − 1 to 0) carries nothing and the end devices send m times, a middle one 2·m; interleaved
    (chunk c on device c mod p, torch's "loop" ``generate_stage_to_rank_mapping``) device d sends v·m
    activations, v·m gradients, one chunk fewer of each on devices p − 1 and 0 (the wrap carries (v − 1)·m).
    """
    t = scenario.training
    crosses = parallel.tensor_parallel_crosses_nodes(t.tensor_parallel, fabric.per_node)
    if t.pipeline_parallel <= 1:
        return 0.0, crosses
    sends = parallel.pipeline_p2p_times(scenario, fabric)
    p = len(sends)
    v = t.virtual_stages if t.pipeline_schedule == "interleaved" else 1
    # blocking (DeepSpeed) transfers are in every micro-batch's passes and counted with them (_model_parallel_terms)
    worst = max((v - (d == p - 1)) * sends[d] + (v - (d == 0)) * sends[d - 1] for d in range(p))
    return scenario.accumulation_steps * worst, crosses


# --- memory -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Memory:
    total: float
    capacity: float
    oom: bool
    parts: dict[str, float]
    worst_device: int = 0
    """Rank of the most loaded device (first device of the worst pipeline stage)."""
    stage_totals: tuple[float, ...] = ()
    """Bytes per device of every pipeline stage."""
    status: str = ""
    """One line: fits, or out of memory on which device and by how much."""


def _memory(scenario: Scenario) -> _Memory:
    """Per-device memory from :func:`dpsim.analytic.memory.memory_breakdown`, flattened for the record."""
    mb = memory.memory_breakdown(scenario)
    parts = {
        "weights": mb.weights,
        "gradients": mb.gradients,
        "optimizer_states": mb.optimizer_states,
        "activations": mb.activations,
        "buffers": mb.buffers,
        "reserve": mb.reserve,
    }
    return _Memory(
        float(mb.total),
        float(mb.capacity),
        bool(mb.oom),
        parts,
        worst_device=int(mb.worst_device),
        status=mb.describe(),
        stage_totals=tuple(float(x) for x in mb.stage_totals),
    )


# --- the step ---------------------------------------------------------------------------------


def _profile_warning(scenario: Scenario) -> str:
    return profile_mismatch(scenario, profile_for(scenario))


def _calibrated_fabric(fabric: Fabric, profile: Any, scenario: Scenario) -> Fabric:
    """Replace link α/β with the profile's fitted values for the scenario's algorithm, where it has them.

    A link fitted on a shaped testbed follows the scenario's inter-node rate
    (:meth:`dpsim.calibration.LinkModel.at_rate`); the intra-node link is not shaped. A
    profile with size regimes (:meth:`dpsim.calibration.HardwareProfile.regimes`, e.g. from
    nccl-tests) gives the fabric those regimes, so each collective is priced on the regime
    of its size. The fits are flat-ring α–β (one ring crossing each node boundary), so the
    inter-node bandwidth is what a node boundary carries; NCCL splits that traffic over its
    rail-aligned channels, one per NIC (:func:`dpsim.sim.collectives.nccl.channels`:
    ``min(nics, G, 32)``, or with more NICs than GPUs as many as each GPU's PCIe link holds), so
    each NIC gets its share.
    A link fitted on a shared host (the emulated testbed) also follows the ranks sharing its
    cores — for the inter-node link those whose traffic crosses nodes, plus the loopback hops' host
    work in their units (:meth:`dpsim.calibration.HardwareProfile.host_senders`), each of a node's G
    ranks sharing its wire under ``hierarchical``; phase by phase where some ranks wait
    (:func:`phase_shared_inter_link`). Both engines call this.
    """
    if not profile_replaces_links(scenario, profile):
        return fabric
    algorithm = algorithm_of(scenario)
    name = profile_link_name(scenario, profile)
    intra_fit = profile.link("intra", name, None, profile.ranks_on_host(scenario))
    # hierarchical: each of a node's G ranks runs its own ring across nodes on the node's link
    streams = scenario.cluster.workers_per_node if algorithm == "hierarchical" else 1
    inter_fit = phase_shared_inter_link(profile, scenario, fabric, name, streams)
    intra_regimes = tuple(profile.regimes("intra", name))
    inter_regimes = tuple(profile.regimes("inter", name))
    from dpsim.sim.collectives.nccl import channels

    rails = channels(fabric.layout())  # the NICs NCCL's rail channels cross (1 on one node)
    inter_calibrated = inter_fit is not None or bool(inter_regimes)
    # fitted α–β links already hold the measured per-step costs: no NCCL protocol latencies on top
    calibrated = dataclasses.replace(
        fabric,
        intra=intra_fit or (intra_regimes[-1].link if intra_regimes else fabric.intra),
        inter=inter_fit or (inter_regimes[-1].link if inter_regimes else fabric.inter),
        intra_regimes=intra_regimes,
        inter_regimes=inter_regimes,
        protocol="none",
        host=None if inter_calibrated else fabric.host,  # a fitted inter-node link already holds the GPU's path
    )
    return calibrated.with_inter_scaled(1.0 / rails) if inter_calibrated else calibrated


def phase_shared_inter_link(profile: Any, scenario: Scenario, fabric: Fabric, name: str, streams: int) -> Link | None:
    """The profile's inter-node link for the scenario's all-reduce on a shared host, with the host's share taken
    phase by phase: the ranks that send in each phase, not every rank of the job.

    A link fitted on a shared host costs a byte ``(w^p + (κ·s(k))^p)^(1/p)`` and a step ``α·s(k)``, with
    ``s(k)`` the host's sharing among the ``k`` senders communicating at once
    (:meth:`dpsim.calibration.LinkModel.at_rate`, :meth:`dpsim.calibration.HostModel.comm_share`). Before, ``k``
    was every rank on the host in every phase (:meth:`dpsim.calibration.HardwareProfile.host_senders`). That holds
    for the ring, gloo's own ring, the pipelined tree and hierarchical's rings, where every rank sends in every
    step, but not where some ranks wait: halving–doubling on a rank count that is not a power of two
    (``runtime/collectives/halving_doubling.py``, Thakur, Rabenseifner & Gropp 2005 §4.4) first has its
    ``r = N − 2^⌊log2 N⌋`` extra ranks hand their whole vector to a partner (``r`` senders), then runs
    halving–doubling on ``2^⌊log2 N⌋`` ranks while the extra ones wait, then hands the result back (``r``
    senders). With two ranks a node its exchanges at distances ≥ 2 cross nodes from both ranks of a node at
    once (the ring crosses from one), those at distance 1 stay inside the node.

    Here each phase of the schedule both engines run (:func:`dpsim.sim.collectives.build`) that crosses nodes
    counts its own senders: ``k = m + l·w`` with ``m`` the ranks sending across nodes, ``l`` those sending only
    over loopback and ``w`` a loopback hop's host work in inter-node senders
    (:meth:`dpsim.calibration.HardwareProfile.loopback_weight`), its node's crossing senders sharing the node's
    wire (``streams``; hierarchical's ``G`` rings, as before). The one link the engines price on holds the
    phases' mean: ``α`` over the phases' steps, ``1/B`` over the bytes each node's wire carries in them, so
    ``Σ steps·α_ph + Σ bytes_ph/B_ph`` is the collective's time phase by phase. Where every phase has every
    rank sending this is the link as before."""
    rate = scenario.cluster.inter_node.bandwidth
    fallback = profile.link("inter", name, rate, profile.host_senders(scenario), streams)
    algorithm = algorithm_of(scenario)
    if fallback is None or profile.host_model is None or fabric.nodes <= 1 or algorithm == "auto":
        return fallback  # no shared host, or NCCL's pick per size (GPUs: no one schedule)
    from dpsim.sim import collectives

    g = fabric.per_node
    slots = np.asarray(fabric.rank_order, dtype=np.int64) if fabric.rank_order else np.arange(fabric.world_size)
    node = slots // g
    ranks_on_host = profile.ranks_on_host(scenario)
    loopback = profile.loopback_weight(scenario)
    per_host = fabric.world_size / ranks_on_host  # hosts the ranks spread over (1: the emulated cluster's one host)
    steps = latency = carried = per_byte = 0.0
    schedule = collectives.build("allreduce", algorithm, fabric.layout(), "none")
    for phase in schedule.phases:
        cross = node[phase.src] != node[phase.dst]
        if not cross.any():
            continue
        senders = np.unique(phase.src[cross])
        local = np.setdiff1d(np.unique(phase.src[~cross]), senders)
        k = (len(senders) + loopback * len(local)) / per_host
        wire = streams if algorithm == "hierarchical" else int(np.bincount(node[senders]).max())
        link = profile.link("inter", name, rate, k, wire)
        nic = float(phase.fraction[cross].max()) * phase.repeat * wire  # bytes per message byte on a node's wire
        steps += phase.repeat
        latency += phase.repeat * link.latency_s
        carried += nic
        per_byte += nic / link.bandwidth
    if steps == 0 or carried <= 0:
        return fallback
    return Link(latency / steps, carried / per_byte)


def calibrated_fabric(scenario: Scenario, profile: Any = None) -> Fabric:
    """:func:`fabric_of` with the calibration profile's fitted links and size regimes, when it has them."""
    fabric = fabric_of(scenario)
    if profile is None:
        return fabric
    return _calibrated_fabric(fabric, profile, scenario)


def model_parallel_fabric(scenario: Scenario, profile: Any = None) -> Fabric:
    """The fabric both engines price tensor-parallel collectives and pipeline sends on (:func:`predict`,
    :func:`dpsim.sim.simulate.step_plan`, :func:`dpsim.sim.pipeline.scenario_pipeline`): the calibration profile's
    fitted links where it has them (:func:`calibrated_fabric`: they describe the testbed's links, whatever crosses
    them), a degraded NIC's worst factor on the inter-node bandwidth (:func:`with_degraded_nics`). Before, the
    simulator priced both on the catalog's links under a profile, the analytic engine on the fitted ones
    (``agreement_fuzz.py --wide``: a step up to 97.6 % shorter in the simulator)."""
    return with_degraded_nics(scenario, calibrated_fabric(scenario, profile))


def with_degraded_nics(scenario: Scenario, fabric: Fabric) -> Fabric:
    """``fabric`` with its inter-node links at the worst degraded node's remaining fraction
    (``variability.degraded_links``; entries for one node multiply, :func:`dpsim.sim.variability.degraded_nodes`).

    The engines price one replica of the symmetric step, and the step waits for its slowest: the one whose traffic
    crosses that node's NIC. What crosses it: the data-parallel collectives of the node's groups where they span
    nodes (priced on the group's cluster with that node's NIC links slowed, not with this fabric: :func:`dp_fabric`),
    a pipeline's stage-to-stage sends into and out of the node where stages sit on different nodes, and
    tensor-parallel collectives of a group spanning nodes. Both engines price the last two on this fabric
    (:func:`predict`; the simulator's hybrid-parallel terms,
    :func:`dpsim.sim.simulate.step_plan`, and its event-level pipeline, :func:`dpsim.sim.pipeline.scenario_pipeline`):
    before, the simulator's pipeline sends and tensor-parallel terms ignored a degraded NIC (0.19 % of a step apart).
    With more than two stages every stage boundary's sends are priced at the degraded rate, though only the
    boundaries into and out of the node cross it: an upper bound there."""
    from dpsim.sim.variability import degraded_nodes

    factors = degraded_nodes(scenario)
    return fabric.with_inter_scaled(min(factors.values())) if factors else fabric


def microbatch_times(scenario: Scenario, profile: Any = None) -> tuple[float, float, str]:
    """(forward, backward, how) of one micro-batch on one device, before stragglers.

    From the calibration profile's fit when it has one (recomputation added as the recomputed
    share of the FLOPs), else :func:`dpsim.compute.compute_times` (operation by operation, or
    flat at ``peak · efficiency``); the backward includes the gradient accumulation pass
    (:func:`dpsim.compute.gradient_accumulation_seconds`). Both engines call this.
    """
    if profile is not None and profile.has_compute_for(scenario):
        return (*profile_microbatch_times(scenario, profile, scenario.training.micro_batch), "profile")
    times = compute.compute_times(scenario)
    return times.forward_s, times.backward_s, times.model


def dp_slowdowns(scenario: Scenario) -> np.ndarray:
    """Slowdown of each data-parallel rank: the slowest of the model-parallel ranks it spans.

    Megatron rank order (tensor-parallel innermost, then data, then pipeline).
    """
    t = scenario.training
    tp, pp, dp = t.tensor_parallel, t.pipeline_parallel, scenario.data_parallel
    slow = np.asarray(scenario.worker_slowdowns(), dtype=np.float64)
    return slow.reshape(pp, dp, tp).max(axis=(0, 2))


def expected_pace(scenario: Scenario) -> float:
    """The expected compute-time multiplier of the step's slowest rank: its named straggler's slowdown, and under a
    persistent per-GPU speed spread (``variability.rank_speed_sigma``) the expected slowest of every rank of the job
    (:func:`dpsim.rank_speed.expected_slowest`: the tensor-parallel collectives, the pipeline's sends and the
    gradient reduction together couple them all). ``max(worker_slowdowns)`` at sigma 0. Both engines price the
    pipeline's terms with it; the simulator runs its own draw of each rank's pace."""
    return expected_slowest(scenario.worker_slowdowns(), scenario.variability.rank_speed_sigma)


def jitter_sync_passes(scenario: Scenario) -> list[int]:
    """The passes (forward of micro-batch j = 2j, its backward 2j + 1) at whose start every data-parallel rank waits
    for the others, as the simulator's step (:func:`dpsim.sim.training.step_program`) couples them: the first; a
    pass that all-gathers its parameters (ZeRO-3, FSDP: the gather starts when the last rank joins); and, where each
    micro-batch's gradients are reduced and waited for (blocking, or FSDP HYBRID_SHARD's post-backward wait on both
    streams), every forward. The step's end (the last reduction) closes the last stretch."""
    k = scenario.accumulation_steps
    starts = {0}
    if scenario.data_parallel > 1:
        traffic = step_traffic(scenario)
        starts.update(2 * j for j in range(min(k, traffic.forward_gathers)))
        starts.update(2 * j + 1 for j in range(min(k, traffic.backward_gathers)))
        hybrid = traffic.replicas > 1 and traffic.shard_ranks > 0
        if scenario.reduces_every_micro_batch and (hybrid or not scenario.overlaps_gradient_reduction):
            starts.update(2 * j for j in range(1, k))
    return sorted(starts)


def jittered_compute_s(scenario: Scenario, profile: Any, forward_w: np.ndarray, backward_w: np.ndarray) -> float:
    """The expected compute of the slowest data-parallel rank over a step under compute jitter
    (``variability.compute_jitter_cv``), with the speed spread: Σ over the stretches between synchronisations
    (:func:`jitter_stretches`) of E[max over the data-parallel ranks of the stretch's jittered compute]
    (:func:`dpsim.rank_speed.expected_slowest_sum`; expectation is linear, so the stretches add though their draws are
    shared). The simulator draws one multiplier a data-parallel rank and micro-batch for its forward and backward
    alike (:func:`dpsim.sim.worker.worker_times`); a rank waits for the slowest of its model-parallel ranks' paces.
    ``forward_w`` / ``backward_w``: each rank's nominal micro-batch (:func:`worker_microbatches`). It is the step's
    compute where each stretch's compute is on the critical path (communication after the slowest rank's last pass
    is as without jitter); where a gather or a stream of reductions binds instead, part of the wait hides behind it
    and this is high by that part."""
    v = scenario.variability
    priced: dict[int, float] = {}  # a repeated stretch is one object (jitter_stretches): priced once
    total: float = 0
    for stretch in jitter_stretches(scenario, profile, forward_w, backward_w):
        if id(stretch) not in priced:
            priced[id(stretch)] = expected_slowest_sum(
                stretch, v.rank_speed_sigma, v.jitter_distribution, v.compute_jitter_cv
            )
        total += priced[id(stretch)]
    return total


Stretch = list[tuple[float, Runs, tuple[float, ...]]]
"""One stretch's coupled ranks as :func:`dpsim.rank_speed.expected_slowest_sum` takes them: (compute, the weights
of its draws as runs, the slowdowns of its model-parallel ranks), one entry a data-parallel rank."""


def jitter_stretches(scenario: Scenario, profile: Any, forward_w: np.ndarray, backward_w: np.ndarray) -> list[Stretch]:
    """The stretches between synchronisations (:func:`jitter_sync_passes`) that hold a draw, each as its coupled
    ranks: a rank's draws are its micro-batches' passes in the stretch, weighted by their nominal times (the
    micro-batches before the synchronising one without the reducer's pass, :func:`no_sync_backward_saving`)."""
    t, k = scenario.training, scenario.accumulation_steps
    dp = len(forward_w)
    saving = np.broadcast_to(np.asarray(no_sync_backward_saving(scenario, profile, backward_w), dtype=float), (dp,))
    groups = np.asarray(scenario.worker_slowdowns(), dtype=np.float64).reshape(t.pipeline_parallel, dp, -1)
    own = groups.max(axis=(0, 2))  # the host's other ranks faster (worker_microbatches), their model-parallel ones too
    groups = groups * (host_critical(scenario, profile, own, forward_w + backward_w) / own)[None, :, None]
    ranks = Counter(
        (float(forward_w[r]), float(backward_w[r]), float(saving[r]), tuple(groups[:, r, :].ravel().tolist()))
        for r in range(dp)
    )
    bounds = [*jitter_sync_passes(scenario), 2 * k]
    # a stretch's draws depend only on the pass it starts at (a forward or a backward), its length and where in it
    # the last micro-batch (its full backward) falls: one list a distinct stretch, the same object at each repeat
    # (FSDP synchronises every pass: 2k stretches, 3 distinct, each priced once by jittered_compute_s; ZeRO-3 each
    # forward; round 32, a million micro-batches were a million prices, killed past 400 s)
    built: dict[tuple[int, int, bool], Stretch] = {}
    stretches = []
    for first, end in itertools.pairwise(bounds):
        key = (first % 2, end - first, end == 2 * k)  # (the last backward, pass 2k − 1, is in the stretch that ends it)
        if key not in built:
            built[key] = _stretch(ranks, first, end, k)
        if built[key]:
            stretches.append(built[key])
    return stretches


def _stretch(ranks: Counter[tuple[float, float, float, tuple[float, ...]]], first: int, end: int, k: int) -> Stretch:
    """One stretch's coupled ranks (:data:`Stretch`) from the passes ``first`` to ``end`` (exclusive) of the ``k``
    micro-batches: each rank class (forward, backward, the reducer's pass it skips before the last micro-batch, its
    model-parallel slowdowns) and how many ranks it holds. A rank's draws are one a micro-batch, as :class:`Runs`:
    the stretch's first and last micro-batch (a pass of theirs may lie outside it) and the step's last (its full
    backward) weigh apart, those between alike (f + b − s: one run, however many; round 32, a list of a million
    weights a rank class was minutes and gigabytes)."""
    js = range(first // 2, (end + 1) // 2)
    apart = sorted(j for j in {js[0], js[-1], k - 1} if j in js)
    stretch: Stretch = []
    for (f, b, s, paces), count in ranks.items():

        def weight(j: int, f: float = f, b: float = b, s: float = s) -> float:
            return (f if first <= 2 * j < end else 0.0) + (
                b - (s if j < k - 1 else 0.0) if first <= 2 * j + 1 < end else 0.0
            )

        runs: list[tuple[float, int]] = []
        previous = js[0] - 1
        for j in apart:  # (the stretch's last micro-batch is among them: no run after)
            if j - previous > 1:
                runs.append((weight(previous + 1), j - previous - 1))
            runs.append((weight(j), 1))
            previous = j
        weights = Runs((w, n) for w, n in runs if w > 0)  # a draw that weighs nothing moves nothing
        if weights:
            stretch += [(weights.total(), weights, paces)] * count
    return stretch


def jitter_convolutions(scenario: Scenario) -> tuple[int, int]:
    """How many numerical convolutions pricing the step's lognormal jitter builds, as (sums of two tables, doublings)
    (:func:`dpsim.rank_speed.lognormal_convolutions` over every stretch's ranks), none for another distribution or none:
    what the cost guard charges (:func:`dpsim.sim.budget.check_jitter`). Each rank shape whose last micro-batch
    weighs apart (``training.partition: weighted`` under distinct stragglers, a profile's reducer pass) is one."""
    v = scenario.variability
    if v.jitter_distribution != "lognormal" or v.compute_jitter_cv < NEGLIGIBLE_JITTER_CV:
        return 0, 0
    return lognormal_convolutions(_distinct_stretch_draws(scenario))


def jitter_gamma_tables(scenario: Scenario) -> int:
    """How many gamma tables by the incomplete gamma's series pricing the step's gamma jitter builds
    (:func:`dpsim.rank_speed.gamma_tables` over every stretch's ranks), none for another distribution or none: what the
    cost guard charges (:func:`dpsim.sim.budget.check_jitter`)."""
    v = scenario.variability
    if v.jitter_distribution != "gamma" or v.compute_jitter_cv < NEGLIGIBLE_JITTER_CV:
        return 0
    return gamma_tables(_distinct_stretch_draws(scenario), v.compute_jitter_cv)


def jitter_classes(scenario: Scenario) -> tuple[int, int]:
    """How many classes of ranks pricing the step's jitter integrates, summed over its distinct stretches (one class
    a distinct (compute, draws, model-parallel paces) of a stretch, as :func:`dpsim.rank_speed.expected_slowest_sum`
    forms them), and how many of them read their table off the grid (:func:`dpsim.rank_speed.read_off_grid`); none
    without a jitter: what the cost guard charges beside the tables (:func:`dpsim.sim.budget.jitter_pricing_s`)."""
    v = scenario.variability
    if v.compute_jitter_cv < NEGLIGIBLE_JITTER_CV:
        return 0, 0
    profile = profile_for(scenario)
    fwd, bwd, _ = microbatch_times(scenario, profile)
    fwd_w, bwd_w, _, _ = worker_microbatches(scenario, fwd, bwd, profile)
    classes = gridded = 0
    for stretch in {id(s): s for s in jitter_stretches(scenario, profile, fwd_w, bwd_w)}.values():
        read = read_off_grid(v.jitter_distribution, [weights for _, weights, _ in stretch])
        distinct = {(c, weights, tuple(sorted(Counter(paces).items()))): off
                    for (c, weights, paces), off in zip(stretch, read, strict=True)}  # fmt: skip
        classes += len(distinct)
        gridded += sum(distinct.values())
    return classes, gridded


def _distinct_stretch_draws(scenario: Scenario) -> list[list[Runs]]:
    """Each distinct stretch's ranks' draws (:func:`jitter_stretches`), once."""
    profile = profile_for(scenario)
    fwd, bwd, _ = microbatch_times(scenario, profile)
    fwd_w, bwd_w, _, _ = worker_microbatches(scenario, fwd, bwd, profile)
    stretches = {id(s): s for s in jitter_stretches(scenario, profile, fwd_w, bwd_w)}.values()  # each distinct once
    return [[weights for _, weights, _ in stretch] for stretch in stretches]


def worker_samples(scenario: Scenario, slowdowns: np.ndarray) -> np.ndarray:
    """Samples in each data-parallel rank's micro-batch under ``training.partition``."""
    t = scenario.training
    dp = len(slowdowns)
    weights = speed_weights(slowdowns.tolist(), t.partition)
    return np.asarray(shard_sizes(t.micro_batch * dp, dp, t.partition, weights), dtype=np.float64)


def worker_microbatches(
    scenario: Scenario, forward_s: float, backward_s: float, profile: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each data-parallel rank's forward and backward of one micro-batch before its slowdown, its slowdown and its
    samples: the nominal micro-batch's times (``forward_s``, ``backward_s``) scaled to the rank's share of the
    micro-step under ``training.partition`` (``weighted``: ∝ 1/slowdown), or the profile's fit at that many samples.
    Both engines read it: the simulator runs every rank, the analytic engine the one that ends last. A rank of
    ``micro_batch`` samples (every rank on the equal-share path) takes ``forward_s`` / ``backward_s`` as given: both
    callers pass :func:`microbatch_times`, the profile's fit at ``micro_batch`` already (it was priced twice)."""
    t = scenario.training
    slow = dp_slowdowns(scenario)
    samples = worker_samples(scenario, slow)  # the partition weighs the scenario's stragglers, not the host's pace
    if profile is not None and profile.has_compute_for(scenario):
        fwd_w = np.empty(len(samples))
        bwd_w = np.empty(len(samples))
        for count in np.unique(samples):
            if count == t.micro_batch:
                f, b = forward_s, backward_s
            else:
                f, b = profile_microbatch_times(scenario, profile, int(count)) if count > 0 else (0.0, 0.0)
            fwd_w[samples == count] = f
            bwd_w[samples == count] = b
    else:
        fwd_w = forward_s * samples / t.micro_batch
        bwd_w = backward_s * samples / t.micro_batch
    return fwd_w, bwd_w, host_critical(scenario, profile, slow, fwd_w + bwd_w), samples


def host_critical(scenario: Scenario, profile: Any, slow: np.ndarray, work: np.ndarray) -> np.ndarray:
    """The ranks' paces on a shared host: the rank that ends last (largest ``work · slow``, the first such) as given,
    every other rank ``critical_pace`` times faster (:meth:`dpsim.calibration.Profile.critical_pace`: the slowest of
    the ranks computing at once on the host's cores over the others, from the calibration's slowest processes).

    The profile's compute slowdown is processor sharing of a rank's work, which the critical rank takes (the last
    of the time-sliced ranks ends when the cores have done the work; the stored runs' critical rank: 0.99–1.01 ×
    k/C of its own CPU time); the others end earlier and wait at the gradient synchronisation, the barrier. So the
    step is unchanged and the barrier priced. Both engines take the paces from here (:func:`worker_microbatches`;
    the simulator's persistent speed draws too, :func:`dpsim.sim.worker.worker_times`); ``slow`` unchanged
    without a host model or a recorded slowest."""
    pace = profile.critical_pace(scenario) if profile is not None and hasattr(profile, "critical_pace") else 1.0
    if pace <= 1.0 or len(slow) < 2:
        return slow
    out = np.array(slow, dtype=np.float64)
    last = int(np.argmax(np.asarray(work) * out))
    keep = out[last]
    out /= pace
    out[last] = keep
    return out


def profile_microbatch_times(scenario: Scenario, profile: Any, samples: int) -> tuple[float, float]:
    """(forward, backward) of a micro-batch of ``samples`` on one device from the profile's compute fit: its share
    of the model (TP x PP), the recomputed share of the FLOPs added to the backward, and the gradient accumulation
    pass. Both engines call it (:func:`microbatch_times`, and per data-parallel rank's samples
    :func:`worker_microbatches`, which before took the bare fit: no recomputation, no accumulation pass)."""
    t = scenario.training
    fwd, bwd = profile.compute_for(scenario, samples)
    model_parallel = t.tensor_parallel * t.pipeline_parallel
    fwd, bwd = fwd / model_parallel, bwd / model_parallel
    if t.activation_recomputation != "none":
        bwd += (
            (fwd + bwd) * parallel.recomputation_flops_per_sample(scenario) / scenario.model.training_flops_per_sample
        )
    return fwd, bwd + max(compute.gradient_accumulation_seconds(scenario))


def single_worker_step_time(scenario: Scenario) -> float:
    """The same per-worker job alone: nominal compute of all micro-batches + the same optimizer work."""
    result = predict(scenario)
    return float(result.extra["single_worker_step_s"])


GRADIENT_COLLECTIVE = ("collective_op", "collective_algorithm", "collective_protocol")
"""The record's names of what reduces the gradients: the collective, and the algorithm and protocol that run one
full bucket (NCCL's pick where ``auto`` or ``backend`` resolves to it). Priced here; the simulator's record takes
them from here (:func:`dpsim.sim.simulate.simulate`), so both records say the same."""


@dataclass(frozen=True)
class _GradientSync:
    """What :func:`_gradient_sync` found, read by the rest of :func:`predict`."""

    cut: CollectivePieces
    traffic: StepTraffic
    param_bytes: float
    bwd_param_bytes: float
    chunks: int
    grad_bytes: float
    bucket: float
    n_buckets: int
    grad_comm: float
    grad_exposed: float
    copies: BucketCopies
    grad_op: str
    bucket_choice: CollectiveChoice
    gather_fwd_exposed: float
    gather_bwd_exposed: float
    gather_total: float
    copy_back_s: float
    last_bwd_compute_s: float


@dataclass(frozen=True)
class _SyncContext:
    """What the parts of :func:`_gradient_sync` share: the gradients' reduction (its collective, buckets and groups)
    and the last micro-batch's backward it overlaps (``bwd_s`` the slowest rank's, ``bwd_alone_s`` with its TP share
    and DDP's pass into its buckets, without a profile's shared-host window)."""

    scenario: Scenario
    profile: Any
    group: Fabric
    algorithm: str
    traffic: StepTraffic
    shard_groups: Groups | None
    replica_groups: Groups | None
    grad_op: str
    grad_bytes: float
    bucket: float
    first: float | None  # DDP's 1 MiB first bucket; ZeRO buckets are all equal
    tensors: tuple[float, ...]
    traced_sizes: list[float]
    copies: BucketCopies
    bwd_s: float
    tp_bwd_mb: float
    bwd_alone_s: float

    @property
    def hybrid(self) -> bool:
        return self.replica_groups is not None

    def allreduce(self, size: float) -> float:
        return allreduce_time(self.algorithm, size, self.group)

    def rs(self, size: float) -> float:  # HYBRID_SHARD: in every shard group at once
        return reduce_scatter_group_time(self.algorithm, size, self.group, self.shard_groups)

    def grad_cost(self, size: float) -> float:
        """One bucket's reduction: DDP, DeepSpeed's all-reducing ZeRO-1 all-reduce; else reduce-scatter."""
        return self.allreduce(size) if self.grad_op == "allreduce" else self.rs(size)

    def hybrid_job(self, op: str, replicas: bool) -> Callable[[float], Job]:
        """HYBRID_SHARD: one of HYBRID_COLLECTIVES with the links it loads, in every group of its kind at once; in
        the replica groups, of a bucket's reduced 1/G shard"""
        algorithm, group = self.algorithm, self.group
        if replicas:
            shard_ranks, replica_groups = self.traffic.shard_ranks, self.replica_groups
            return lambda size: collective_job(op, algorithm, size / shard_ranks, group, groups=replica_groups)
        shard_groups = self.shard_groups
        return lambda size: collective_job(op, algorithm, size, group, groups=shard_groups)

    def hybrid_jobs(self) -> tuple[Callable[[float], Job], Callable[[float], Job]]:
        """The shard groups' reduce-scatter, then on its own stream the replica groups' all-reduce, overlapping the
        next bucket's reduce-scatter, sharing links with it while both are in flight (dpsim.streams.two_streams)."""
        rs_job, replica_job = (self.hybrid_job(op, replicas) for op, replicas in HYBRID_COLLECTIVES)
        return rs_job, replica_job

    def reduction_end(
        self, span_s: float, stream_free_s: float, slowed: tuple[float, float] | None = None
    ) -> tuple[float, float, int]:
        """(end, communication time, buckets) of one reduction of buckets ready uniformly over ``span_s``."""
        if self.hybrid:
            rs_job, replica_job = self.hybrid_jobs()
            return _hybrid_overlap_end(self.grad_bytes, self.bucket, span_s, rs_job, replica_job, stream_free_s)
        latency = gloo_bucket_latency(self.scenario, self.profile, self.group) if slowed is not None else None
        return _uniform_overlap_end(
            self.grad_bytes,
            self.bucket,
            span_s,
            self.grad_cost,
            stream_free_s,
            self.first,
            self.tensors,
            self.traced_sizes,
            slowed,
            latency,
        )

    def shared_host_backward(self, hidden_bytes: float) -> tuple[float, float]:
        """(the last backward, when its last gradient is ready) on a profile's shared host while ``hidden_bytes`` of
        gradient reduction overlap it (:meth:`dpsim.calibration.HardwareProfile.overlap_backward`, ``_compute``)."""
        profile, scenario, copies = self.profile, self.scenario, self.copies
        assert profile is not None  # called only where the profile has a shared host
        return (
            float(profile.overlap_backward(scenario, self.bwd_s, hidden_bytes)) + self.tp_bwd_mb + copies.in_backward_s,
            float(profile.overlap_backward_compute(scenario, self.bwd_s, hidden_bytes))
            + self.tp_bwd_mb
            + copies.in_backward_s,
        )

    def listed_reduction(
        self, sizes: Sequence[float], fractions: Sequence[float], costs: Sequence[float], start_s: float
    ) -> tuple[float, float, int, float, float]:
        """Buckets listed one by one (a profiler trace's; Megatron's per model chunk, torch pipelining's per stage),
        ready at ``fractions`` of the last backward, which a profile's shared host stretches by the bytes they hide:
        (end, communication time, buckets, last backward, when its last gradient is ready). HYBRID_SHARD: each
        bucket's replica all-reduce on its own stream (:func:`dpsim.streams.two_streams`)."""
        bwd_last = bwd_compute = self.bwd_alone_s
        if self.profile is not None and self.scenario.data_parallel > 1:
            bwd_last, bwd_compute = self.shared_host_backward(overlapped_bytes(sizes, fractions))
        ready = [bwd_last * f for f in fractions]
        end, comm = overlap_end(ready, costs, start_s), sum(costs)
        if self.hybrid:
            rs_job, replica_job = self.hybrid_jobs()
            streams = two_streams(ready, [rs_job(size) for size in sizes], [replica_job(size) for size in sizes])
            end, comm = max(streams.first_free, streams.second_free), busy_s(streams)
        return end, comm, len(sizes), bwd_last, bwd_compute


@dataclass(frozen=True)
class _Gathers:
    """ZeRO-3 / FSDP: the sharded parameters' gathers around the passes (:func:`_parameter_gathers`)."""

    fwd_exposed: float
    total: float
    bwd_pieces: int
    bwd_piece_gather: float


def _parameter_gathers(
    ctx: _SyncContext, cut: CollectivePieces, param_bytes: float, bwd_param_bytes: float, fwd_pass: float
) -> _Gathers:
    """The forward's gathers of ``param_bytes`` (exposed beyond ``fwd_pass``: a piece ahead where prefetched, else
    each before its piece) and every gather's time in a step; the backward's pieces of ``bwd_param_bytes`` (what it
    gathers again, :func:`dpsim.sharding.parameter_gather_bytes`) and one piece's gather, which
    :func:`_reduction_beside_gathers` overlaps with the backward."""
    algorithm, group, traffic, overlap = ctx.algorithm, ctx.group, ctx.traffic, cut.prefetch
    gather_fwd_exposed = gather_total = 0.0
    pieces = piece_count(param_bytes, cut.gather_piece)
    piece_gather = (
        reduce_scatter_group_time(algorithm, param_bytes / pieces, group, ctx.shard_groups)
        if traffic.forward_gathers
        else 0.0
    )
    bwd_pieces = piece_count(bwd_param_bytes, cut.gather_piece)
    bwd_piece_gather = (
        reduce_scatter_group_time(algorithm, bwd_param_bytes / bwd_pieces, group, ctx.shard_groups)
        if traffic.backward_gathers
        else 0.0
    )
    if traffic.forward_gathers:  # ZeRO-3 and FSDP: gathered before each forward, a piece ahead
        fwd_span = (
            flow_shop_makespan(pieces, piece_gather, fwd_pass / pieces) if overlap else fwd_pass + pieces * piece_gather
        )
        gather_fwd_exposed = fwd_span - fwd_pass
        gather_total = traffic.forward_gathers * pieces * piece_gather
        gather_total += traffic.backward_gathers * bwd_pieces * bwd_piece_gather
    return _Gathers(gather_fwd_exposed, gather_total, bwd_pieces, bwd_piece_gather)


def _reduction_beside_gathers(
    ctx: _SyncContext, cut: CollectivePieces, gathers: _Gathers, bwd_pass: float
) -> tuple[float, float, int, float]:
    """ZeRO-3 / FSDP: the last backward's parameter gathers and gradient reductions on one stream, (communication
    time, exposed reduction, buckets, exposed backward gathers), every micro-batch's where it reduces each."""
    scenario, grad_bytes, bucket, overlap = ctx.scenario, ctx.grad_bytes, ctx.bucket, cut.prefetch
    bwd_pieces, bwd_piece_gather = gathers.bwd_pieces, gathers.bwd_piece_gather
    if overlap:
        bwd_span = flow_shop_makespan(bwd_pieces, bwd_piece_gather, bwd_pass / bwd_pieces)
    else:
        bwd_span = bwd_pass + bwd_pieces * bwd_piece_gather
    gather_bwd_exposed = bwd_span - bwd_pass
    # last backward: all parameter gathers go first on the stream, back to back from the
    # start (free after pieces × gather; when gathering is the bottleneck that is one
    # compute piece before the span ends), then the gradient reduce-scatters in bucket
    # order. Gradients are produced as the compute advances: when computing is the
    # bottleneck it runs without gaps after the first gather, so uniformly over the last
    # bwd_pass of the span; when gathering is, uniformly over the whole (stretched) span.
    stream_free = bwd_pieces * bwd_piece_gather if overlap else bwd_span
    compute_bound = bwd_piece_gather <= bwd_pass / bwd_pieces
    offset = bwd_span - bwd_pass if compute_bound else 0.0
    reduces_overlapped = scenario.overlaps_gradient_reduction  # DeepSpeed's overlap_comm too
    if reduces_overlapped and not overlap and grad_bytes / bucket <= _LISTED_BUCKETS:
        # gathered on demand (DeepSpeed ZeRO-3 without prefetch) with reductions overlapped: piece p's
        # gather waits for piece p-1's compute, so its compute runs from (p+1)·g + p·c and the gradients
        # appear only inside the compute pieces; the stream is free after the last gather
        g, c = bwd_piece_gather, bwd_pass / bwd_pieces
        sizes = ctx.traced_sizes or bucket_sizes(grad_bytes, bucket, ctx.first)
        ready = []
        for done in itertools.accumulate(sizes):
            x = bwd_pieces * done / grad_bytes
            p = min(bwd_pieces - 1, max(0, math.ceil(x - 1e-12) - 1))
            ready.append((p + 1) * g + p * c + (x - p) * c)
        costs = [ctx.grad_cost(size) for size in sizes]
        end = overlap_end(ready, costs, bwd_pieces * g + (bwd_pieces - 1) * c)
        grad_comm, n_buckets = sum(costs), len(sizes)
    elif reduces_overlapped:
        end, grad_comm, n_buckets = ctx.reduction_end(bwd_span - offset, stream_free - offset)
        end += offset
    else:
        blocking, grad_comm, n_buckets = ctx.reduction_end(0.0, 0.0)
        end = bwd_span + blocking
    grad_exposed = max(0.0, end - bwd_span)
    if scenario.reduces_every_micro_batch:
        # every earlier micro-batch reduce-scatters too, on the stream behind its backward gathers;
        # what the stream has not finished when the pass ends delays the next forward's gathers
        k = scenario.accumulation_steps
        grad_exposed *= k
        grad_comm *= k
    return grad_comm, grad_exposed, n_buckets, gather_bwd_exposed


def _replicated_reduction(
    ctx: _SyncContext, last_bucket: float, fwd_pass: float, bwd_pass: float
) -> tuple[float, float, int, float, float]:
    """The replicated parameters' reduction (DDP, ZeRO-1/2, Megatron's distributed optimizer), overlapped with the
    last backward or after it: from a profiler trace's readiness, Megatron's buckets per model chunk (torch
    pipelining's per stage), or buckets ready uniformly; (communication time, exposed, buckets, DDP's copies back
    past the reductions, when the last gradient is ready)."""
    scenario, profile, grad_bytes, bucket, first = ctx.scenario, ctx.profile, ctx.grad_bytes, ctx.bucket, ctx.first
    pp, k = scenario.training.pipeline_parallel, scenario.accumulation_steps
    dp, ddp = scenario.data_parallel, scenario.reduces_with_ddp
    per_micro_batch = scenario.reduces_every_micro_batch
    reduces_overlapped = scenario.overlaps_gradient_reduction  # DeepSpeed's overlap_comm too
    # torch's pipelining over FSDP: each stage's reduce-scatters issued after its last backward
    at_chunk_end = stage_end_reduction(scenario)
    reduced_chunks = gradient_chunks(scenario)
    bwd_alone_s = ctx.bwd_alone_s
    last_bwd_s = last_bwd_compute_s = bwd_alone_s  # when its last gradient is ready: the rest is communication
    if reduces_overlapped and profile is not None and profile.gradient_ready:
        # measured readiness (a profiler trace) instead of the uniform rate; the buckets that
        # overlap the backward compete with it for a shared host, as under the uniform rate
        if ddp:  # DDP buckets whole tensors: the trace's parameters, grouped by DDP's rule
            sizes, fractions = traced_buckets(profile.gradient_ready, grad_bytes, bucket, first)
        else:
            sizes = ctx.traced_sizes or bucket_sizes(grad_bytes, bucket, first)
            fractions = profile.bucket_ready_fractions(sizes)
        costs = [ctx.grad_cost(size) for size in sizes]
        end, grad_comm, n_buckets, last_bwd_s, last_bwd_compute_s = ctx.listed_reduction(sizes, fractions, costs, 0.0)
    elif reduces_overlapped and (reduced_chunks > 1 or at_chunk_end):
        # Megatron's buckets per model chunk, torch pipelining's per stage (chunk_gradient_readiness)
        sizes, fractions = chunk_gradient_readiness(grad_bytes, bucket, reduced_chunks, pp, at_chunk_end)
        priced = functools.cache(ctx.grad_cost)  # the buckets come in a few sizes
        costs = [priced(size) for size in sizes]
        end, grad_comm, n_buckets, last_bwd_s, last_bwd_compute_s = ctx.listed_reduction(
            sizes, fractions, costs, -math.inf
        )
    elif reduces_overlapped:
        slowed = None
        if profile is not None and dp > 1:  # communication threads compete with backward for the host
            # no trace in this branch: the uniform layout's last bucket is the one not hidden
            last_bwd_s, last_bwd_compute_s = ctx.shared_host_backward(grad_bytes - last_bucket)
            if ddp and not ctx.hybrid:
                # DDP: its buckets come along the backward's own share and share the cores with it until
                # then, at the rate the backward runs (HardwareProfile.comm_rate_in_backward): no window
                slowed = (last_bwd_compute_s, profile.comm_rate_in_backward(scenario))
                last_bwd_s = last_bwd_compute_s
        backlog = 0.0
        # FSDP SHARD_GRAD_OP: what a micro-batch's reduce-scatters spill past its backward delays
        # the next forward's gathers on the same stream, so each spill is exposed (as under ZeRO-3);
        # HYBRID_SHARD: FSDP's post-backward callback makes the next forward wait for both streams
        spills_into_gathers = per_micro_batch and (ctx.traffic.forward_gathers == k or ctx.hybrid)
        if per_micro_batch and not spills_into_gathers:
            backlog = _micro_batch_backlog(
                k - 1,
                fwd_pass,
                bwd_pass,
                lambda free: _uniform_overlap_end(
                    grad_bytes, bucket, bwd_pass, ctx.grad_cost, free, first, ctx.tensors, ctx.traced_sizes
                )[0],
            )
        end, grad_comm, n_buckets = ctx.reduction_end(last_bwd_s, backlog, slowed)
        grad_comm *= k if per_micro_batch else 1
        if spills_into_gathers:
            spill = max(0.0, end - last_bwd_s)
            if last_bwd_s != bwd_alone_s:
                # a profile's shared-host window stretches the last backward only, as simulated
                # (dpsim.sim.simulate: bwd[:, :, -1]): each earlier micro-batch spills its reductions past its
                # own backward, alone. This took the last one's spill k times: +24.5 % (2 ranks, 2 micro-batches)
                early_end = ctx.reduction_end(bwd_alone_s, 0.0)[0]
                end = last_bwd_s + spill + (k - 1) * max(0.0, early_end - bwd_alone_s)
            else:
                end = last_bwd_s + k * spill
    else:
        blocking, grad_comm, n_buckets = ctx.reduction_end(0.0, 0.0)
        end = last_bwd_s + blocking
        if per_micro_batch:  # each micro-batch's reduce-scatter after its backward, blocking
            end += (k - 1) * blocking
            grad_comm *= k
    # the window beyond the backward's own share is the host finishing communication: exposed
    grad_exposed = max(0.0, end - last_bwd_s) + (last_bwd_s - last_bwd_compute_s)
    # DDP's copies back into the gradients, past the reductions (BucketCopies.back_end): compute
    reduced = max(end, last_bwd_s)
    copies = ctx.copies
    copy_back_s = float(copies.back_end(last_bwd_s, reduced)) - reduced if copies.back_s else 0.0
    return grad_comm, grad_exposed, n_buckets, copy_back_s, last_bwd_compute_s


def _gradient_sync(
    scenario: Scenario,
    profile: Any,
    group: Fabric,
    compute_model: str,
    bwd_s: float,
    tp_bwd_mb: float,
    fwd_pass: float,
    bwd_pass: float,
) -> _GradientSync:
    """:func:`predict`'s gradient synchronisation of the last micro-batch (bucketed, overlapped with its backward,
    every micro-batch's where it reduces each), the sharded parameters' gathers around the passes (ZeRO-3, FSDP) and
    DDP's bucket copies; ``bwd_s`` the slowest rank's backward, ``fwd_pass`` / ``bwd_pass`` with their TP share.
    The ZeRO-3 / FSDP gathers (:func:`_parameter_gathers`, :func:`_reduction_beside_gathers`) and the replicated
    reduction (:func:`_replicated_reduction`) share one :class:`_SyncContext`."""
    t, m = scenario.training, scenario.model
    model_parallel = t.tensor_parallel * t.pipeline_parallel
    algorithm = algorithm_of(scenario)

    # gradient synchronisation of the last micro-batch, bucketed, overlapped with its backward
    psi = m.num_parameters / model_parallel
    zero = t.zero_stage
    ddp = scenario.reduces_with_ddp  # DDP (also under torch's ZeroRedundancyOptimizer) buckets whole tensors
    tensors = gradient_tensors(scenario) if ddp else ()
    cut = collective_pieces(scenario)  # DeepSpeed ZeRO sizes its own buckets (whole tensors when known) and gathers
    # with pp > 1 and known tensors: the first stage's
    grad_bytes = cut.reduced_gradient_bytes or synced_gradient_bytes(scenario, tensors)
    param_bytes = parameter_gather_bytes(scenario, psi)
    bucket = cut.gradient_bucket

    traffic = step_traffic(scenario)
    shard_groups, replica_groups = hybrid_groups(scenario)
    grad_op = scenario.gradient_reduction_op  # DDP, DeepSpeed's all-reducing ZeRO-1: all-reduce
    chunks = megatron_chunks(scenario)
    bucket_choice = collective(grad_op, algorithm, min(bucket, grad_bytes), group)
    first = None if ddp else bucket  # DDP's 1 MiB first bucket; ZeRO buckets are all equal
    # DDP's buckets are a profiler trace's tensors when the profile holds one, overlapped or not (ddp_trace)
    traced = ddp_trace(profile, 0 if ddp else zero)
    # the buckets listed one by one: a trace's (DDP), DeepSpeed's IPG buckets of known tensors; else computed
    traced_sizes = ddp_gradient_buckets(traced, grad_bytes, bucket, first) if traced else list(cut.gradient_buckets)
    # the bucket whose copy back waits for its own all-reduce
    if cut.gradient_buckets:
        last_bucket = traced_sizes[-1]
    else:
        last_bucket = ddp_last_bucket_bytes(traced, grad_bytes, bucket, first, tensors)
    copies = ddp_bucket_copies(scenario, grad_bytes, last_bucket, compute_model == "profile", profile)
    # the last micro-batch's backward (with DDP's pass into its buckets), which gradient synchronisation overlaps
    ctx = _SyncContext(
        scenario=scenario,
        profile=profile,
        group=group,
        algorithm=algorithm,
        traffic=traffic,
        shard_groups=shard_groups,
        replica_groups=replica_groups,
        grad_op=grad_op,
        grad_bytes=grad_bytes,
        bucket=bucket,
        first=first,
        tensors=tensors,
        traced_sizes=traced_sizes,
        copies=copies,
        bwd_s=bwd_s,
        tp_bwd_mb=tp_bwd_mb,
        bwd_alone_s=bwd_pass + copies.in_backward_s,  # alone: without a profile's shared-host window
    )

    # the backward gathers what the forward did not keep (FSDP's root unit stays gathered: dpsim.sharding)
    bwd_param_bytes = parameter_gather_bytes(scenario, psi, traffic.backward_gather_share, layers=True)
    gathers = _parameter_gathers(ctx, cut, param_bytes, bwd_param_bytes, fwd_pass)
    gather_bwd_exposed = copy_back_s = 0.0
    last_bwd_compute_s = ctx.bwd_alone_s
    if traffic.backward_gathers:
        grad_comm, grad_exposed, n_buckets, gather_bwd_exposed = _reduction_beside_gathers(ctx, cut, gathers, bwd_pass)
    else:
        grad_comm, grad_exposed, n_buckets, copy_back_s, last_bwd_compute_s = _replicated_reduction(
            ctx, last_bucket, fwd_pass, bwd_pass
        )
    return _GradientSync(
        cut=cut,
        traffic=traffic,
        param_bytes=param_bytes,
        bwd_param_bytes=bwd_param_bytes,
        chunks=chunks,
        grad_bytes=grad_bytes,
        bucket=bucket,
        n_buckets=n_buckets,
        grad_comm=grad_comm,
        grad_exposed=grad_exposed,
        copies=copies,
        grad_op=grad_op,
        bucket_choice=bucket_choice,
        gather_fwd_exposed=gathers.fwd_exposed,
        gather_bwd_exposed=gather_bwd_exposed,
        gather_total=gathers.total,
        copy_back_s=copy_back_s,
        last_bwd_compute_s=last_bwd_compute_s,
    )


def _post_step_gathers(scenario: Scenario, sync: _GradientSync, group: Fabric, fwd_pass: float) -> tuple[float, float]:
    """(time, exposed time) of what runs after the optimizer step: the parameters' all-gather (ZeRO-1/2, Megatron's
    distributed optimizer; overlapped with the next forward under overlap_param_gather) and torch's
    ZeroRedundancyOptimizer's broadcasts."""
    algorithm, pp = algorithm_of(scenario), scenario.training.pipeline_parallel
    cut, traffic, param_bytes, chunks = sync.cut, sync.traffic, sync.param_bytes, sync.chunks
    post_step_gather = post_step_gather_exposed = 0.0
    if traffic.post_step_gather:
        piece = cut.post_step_gather  # DeepSpeed: the whole partition at once
        _, post_step_gather, _ = _uniform_overlap_end(
            param_bytes, piece, 0.0, lambda s: gather_time(algorithm, s, group), 0.0, piece
        )
        post_step_gather_exposed = post_step_gather
        if scenario.overlaps_param_gather:
            # Megatron's overlap_param_gather, FSDP SHARD_GRAD_OP's per-unit forward gathers: each bucket's
            # all-gather is waited for only where the next step's first forward reaches its parameters:
            # gathers and that forward's pieces (each bucket's share of it) form a two-stage flow shop,
            # chunk by chunk when interleaved (Megatron's chunks)
            stream = 0.0
            gathered = functools.cache(lambda size: gather_time(algorithm, size, group))

            def post(size: float, ready: float) -> float:
                nonlocal stream
                stream = max(stream, ready) + gathered(size)
                return stream

            post_step_gather_exposed = max(
                0.0, overlapped_gather_end(chunk_bucket_sizes(param_bytes, piece, chunks), pp, fwd_pass, 0.0, post)
            )

    # torch's ZeroRedundancyOptimizer: after the step every parameter is broadcast from its owner, one
    # collective a tensor (or a rank's bucket), issued together and all waited for: in series on the links
    # (gloo's binomial tree on CPUs, NCCL's pipelined ring on GPUs: dpsim.sim.collectives.build)
    broadcast_s = sum(collective("broadcast", algorithm, size, group).time_s for size in cut.post_step_broadcasts)
    post_step_gather += broadcast_s
    post_step_gather_exposed += broadcast_s
    return post_step_gather, post_step_gather_exposed


def predict(scenario: Scenario) -> StepResult:
    """Closed-form step time, breakdown, throughput, MFU, scaling efficiency and memory of a scenario."""
    t, k = scenario.training, scenario.accumulation_steps
    profile = profile_for(scenario)

    fwd, bwd, compute_model = microbatch_times(scenario, profile)
    fwd_w, bwd_w, slow_w, samples_w = worker_microbatches(scenario, fwd, bwd, profile)
    if np.all(samples_w == t.micro_batch):  # equal shares: the slowest rank runs the nominal micro-batch
        fwd_c, bwd_c, slowest = fwd, bwd, expected_pace(scenario)
    else:  # uneven shares (training.partition: weighted): the rank whose micro-batch ends last, as simulated
        last = int(np.argmax((fwd_w + bwd_w) * slow_w))
        spread = expected_pace(scenario) / max(scenario.worker_slowdowns())  # the speed spread's share, 1 at sigma 0
        fwd_c, bwd_c, slowest = float(fwd_w[last]), float(bwd_w[last]), float(slow_w[last]) * spread
    fwd_s, bwd_s = fwd_c * slowest, bwd_c * slowest

    fabric = model_parallel_fabric(scenario, profile)  # a degraded NIC slows the fit too
    group = dp_fabric(scenario, calibrated_fabric(scenario, profile))  # its degraded NICs on their own links

    tp_comm_mb, bubble_s, p2p_exposed_s = _model_parallel_terms(scenario, fabric, fwd_s, bwd_s)
    # tensor-parallel collectives run inside each pass, layer by layer, on the compute stream (Megatron's
    # blocking all-reduces): a pass lasts its compute plus its TP share, and the data-parallel
    # communication it overlaps (gathers a piece ahead, gradients ready as it advances) sees that span
    tp_fwd_mb = tp_comm_mb * parallel.tensor_parallel_counts(scenario)[1]
    tp_bwd_mb = tp_comm_mb - tp_fwd_mb
    fwd_pass, bwd_pass = fwd_s + tp_fwd_mb, bwd_s + tp_bwd_mb
    p2p_total_s, tp_crosses_nodes = _pipeline_p2p_terms(scenario, fabric)

    sync = _gradient_sync(scenario, profile, group, compute_model, bwd_s, tp_bwd_mb, fwd_pass, bwd_pass)
    traffic, param_bytes, grad_bytes, bucket = sync.traffic, sync.param_bytes, sync.grad_bytes, sync.bucket
    n_buckets, grad_comm, grad_exposed, copies = sync.n_buckets, sync.grad_comm, sync.grad_exposed, sync.copies
    grad_op, bucket_choice, copy_back_s = sync.grad_op, sync.bucket_choice, sync.copy_back_s
    last_bwd_compute_s, gather_total = sync.last_bwd_compute_s, sync.gather_total
    gather_fwd_exposed, gather_bwd_exposed = sync.gather_fwd_exposed, sync.gather_bwd_exposed
    post_step_gather, post_step_gather_exposed = _post_step_gathers(scenario, sync, group, fwd_pass)

    # optimizer (memory bound), sharded by ZeRO (torch's: the most loaded rank's whole tensors)
    optimizer_s = optimizer_step_seconds(scenario, profile, optimizer_partition(scenario))

    # the micro-batches before the synchronising one skip the reducer's pass the profile's backward holds
    early = (k - 1) * float(no_sync_backward_saving(scenario, profile, bwd))
    # the first micro-batch after the optimizer's step: once a step, at the rank's pace (0 where not measured)
    overhead = step_overhead_seconds(scenario, profile)
    nominal_compute = k * (fwd + bwd) - early + overhead
    early = early if bwd_c == bwd else (k - 1) * float(no_sync_backward_saving(scenario, profile, bwd_c))
    slowest_compute = k * (fwd_s + bwd_s) - early * slowest + overhead * slowest
    if scenario.variability.compute_jitter_cv > 0:  # the slowest rank's jittered compute, as the simulator draws it
        slowest_compute = jittered_compute_s(scenario, profile, fwd_w, bwd_w) + overhead * slowest
    compute_s = slowest_compute + (last_bwd_compute_s - bwd_pass) + copy_back_s
    barrier_s = slowest_compute - nominal_compute * float(slow_w.min())  # the others' wait (host_critical: faster)
    tp_comm_s = k * tp_comm_mb
    # the blocking pipeline transfers came with tp_comm_mb (_model_parallel_terms): reported as pipeline sends
    blocking_p2p_s = k * parallel.pipeline_blocking_p2p_time(scenario, fabric)
    tp_hidden_s = k * parallel.tensor_parallel_hidden_time(scenario, fabric)  # behind GEMMs: traffic, not exposed
    gather_exposed = traffic.forward_gathers * gather_fwd_exposed + traffic.backward_gathers * gather_bwd_exposed
    # the tied embedding's gradient, summed between the first and last stage before the step: exposed
    tied_s = parallel.tied_embedding_allreduce_time(scenario, fabric)
    exposed_s = grad_exposed + post_step_gather_exposed + gather_exposed + tp_comm_s + p2p_exposed_s + tied_s
    comm_s = grad_comm + post_step_gather + gather_total + tp_comm_s + tp_hidden_s + p2p_total_s + tied_s
    step_s = compute_s + bubble_s + exposed_s + optimizer_s
    single_s = nominal_compute + optimizer_s

    memory = _memory(scenario)
    extra: dict[str, Any] = {
        "forward_s": fwd_s,
        "backward_s": bwd_s,
        "gradient_bytes": grad_bytes,
        "buckets": n_buckets,
        "bucket_bytes": bucket,
        "gradient_comm_s": grad_comm,
        "gradient_exposed_s": grad_exposed,
        "ddp_bucket_copy_s": copies.in_backward_s + copies.back_s,
        "zero_param_gather_s": post_step_gather + gather_total,
        "traffic_bytes_per_step": traffic.bytes_per_step(
            param_bytes,
            grad_bytes,
            # the backward's own bytes where they are not the forward's share (FSDP's float8 all-gather)
            None if sync.bwd_param_bytes == param_bytes * traffic.backward_gather_share else sync.bwd_param_bytes,
        ),
        "tensor_parallel_comm_s": tp_comm_s - blocking_p2p_s,
        "tensor_parallel_hidden_s": tp_hidden_s,
        "pipeline_p2p_exposed_s": p2p_exposed_s + blocking_p2p_s,
        "pipeline_p2p_blocking_s": blocking_p2p_s,
        "tied_embedding_allreduce_s": tied_s,
        "tensor_parallel_crosses_nodes": tp_crosses_nodes,
        # always False since stop 49 (1ab8bdf: the pipelined step's evaluation leaves no TP ring phase out; stops 46-48
        # left them out past 2^18): kept so the record's keys (--format json) stay; nothing reads it
        "pipeline_tp_phases_left_out": False,
        "single_worker_step_s": single_s,
        # what prices the optimizer from memory traffic; a profile's fit prices it from the measured step instead
        **({} if profile_prices_optimizer(profile) else {"optimizer_bytes_per_param": optimizer_step_bytes(scenario)}),
        **dict(zip(GRADIENT_COLLECTIVE, (grad_op, bucket_choice.algorithm, bucket_choice.protocol), strict=True)),
        "dp_group_nodes": group.nodes,
        "dp_group_per_node": group.per_node,
        "tokens_per_step": scenario.tokens_per_step,
    }
    extra.update({f"memory_{name}_bytes": value for name, value in memory.parts.items()})
    extra.update(memory_worst_device=memory.worst_device, memory_status=memory.status)
    extra["memory_per_stage_bytes"] = list(memory.stage_totals)
    return step_result(
        scenario,
        engine="analytic",
        fidelity="analytic",
        step_s=step_s,
        compute_s=compute_s,
        comm_s=comm_s,
        exposed_s=exposed_s,
        bubble_s=bubble_s,
        optimizer_s=optimizer_s,
        barrier_s=barrier_s,
        single_s=single_s,
        memory=(memory.total, memory.capacity, memory.oom),
        calibrated=profile is not None,
        compute_model=compute_model,
        extra=extra,
    )


def step_result(
    scenario: Scenario,
    *,
    engine: str,
    fidelity: str,
    step_s: float,
    compute_s: float,
    comm_s: float,
    exposed_s: float,
    bubble_s: float,
    optimizer_s: float,
    barrier_s: float,
    single_s: float,
    memory: tuple[float, float, bool],
    calibrated: bool,
    compute_model: str,
    extra: dict[str, Any],
    step_time_ci95_s: float = 0.0,
) -> StepResult:
    """The record both engines return: their timings plus the metrics and provenance derived alike.

    Throughput = global batch / step; MFU = FLOPs per sample · global batch / step /
    (workers · the training precision's peak); scaling efficiency = ``single_s`` (the same per-worker job
    alone) / step.
    ``memory`` is (bytes per device, capacity, out of memory). ``compute_model`` is how the
    forward and backward were priced (:func:`microbatch_times`), recorded first in ``extra``; with
    ``cluster.price_per_device_hour`` the step's rent, ``cost_per_step`` = price · devices · step / 3600 s (in the
    price's currency; nothing read the field before: it was accepted and ignored); the fields the
    scenario sets that nothing reads (:meth:`Scenario.ignored_fields`) last, as ``ignored_fields``, where there are;
    before them ``warning``, where the profile was measured on another backend's devices
    (:func:`dpsim.calibration.profile_mismatch`).
    """
    t, m = scenario.training, scenario.model
    ignored = scenario.ignored_fields(engine)
    if calibrated:
        ignored.update(unread_under_profile(scenario, profile_for(scenario)))
    warning = _profile_warning(scenario) if calibrated else ""
    price = scenario.cluster.price_per_device_hour
    cost = {} if price is None else {"cost_per_step": price * scenario.world_size * step_s / 3600.0}
    samples_per_s = t.global_batch / step_s
    peak = scenario.world_size * compute.mfu_peak_flops(scenario)
    mfu = m.training_flops_per_sample * t.global_batch / step_s / peak
    if mfu > 1.0 and compute_model != "profile":
        # round 27 (hostile): a transformer's step is priced from its layers' operations, so a larger count given in
        # model.flops_per_sample (read only by MFU) printed an MFU past the devices' peak (1e15 on GPT-2 small: MFU
        # 211.9, "21192.5 %"): a figure no device can reach, refused naming the field. A step timed by a profile
        # was measured on the profile's machine, whose peak the catalog device need not be: its MFU is as stated
        shape = f" (the shape's count is {m.shape_flops_per_sample:.4g})" if m.kind == "transformer" else ""
        raise ScenarioError(
            "model.flops_per_sample",
            f"{m.training_flops_per_sample:.4g} FLOPs a sample in a step priced at {step_s:.4g} s is an MFU of "
            f"{mfu:.4g}, past the devices' peak ({peak:.4g} FLOP/s on {scenario.world_size:,}): expected at most "
            f"{m.training_flops_per_sample / mfu:.4g}{shape}",
        )
    # round 28 (hostile): with a profile the MFU is as stated, so above 1 it says why in its own entry (the catalog
    # device's peak is what it divides by; the step was timed on the profile's machine, faster than that peak)
    past_peak = (
        {"mfu_past_peak": f"MFU {mfu:.4g} > 1: the step is timed by the profile, the MFU divides by the catalog "
                          f"device's {t.precision} peak ({peak / scenario.world_size:.4g} FLOP/s a device); the "
                          "profile's machine ran faster than that peak"}
        if mfu > 1.0
        else {}
    )  # fmt: skip
    total, capacity, oom = memory
    return StepResult(
        scenario=scenario.name,
        engine=engine,
        world_size=scenario.world_size,
        step_time_s=step_s,
        compute_s=compute_s,
        comm_s=comm_s,
        exposed_comm_s=exposed_s,
        bubble_s=bubble_s,
        optimizer_s=optimizer_s,
        samples_per_s=samples_per_s,
        scaling_efficiency=single_s / step_s,
        memory_per_device_bytes=total,
        barrier_s=barrier_s,
        tokens_per_s=samples_per_s * m.tokens_per_sample,
        mfu=mfu,
        memory_capacity_bytes=capacity,
        oom=oom,
        data_parallel=scenario.data_parallel,
        tensor_parallel=t.tensor_parallel,
        pipeline_parallel=t.pipeline_parallel,
        accumulation_steps=scenario.accumulation_steps,
        global_batch=t.global_batch,
        algorithm=scenario.communication.algorithm,
        zero_stage=t.zero_stage,
        fidelity=fidelity,
        step_time_ci95_s=step_time_ci95_s,
        scenario_hash=scenario.scenario_hash(),
        hardware_source=str(scenario.calibration.profile) if calibrated and scenario.calibration else "catalog",
        extra={
            "compute_model": compute_model,
            **extra,
            **cost,
            **past_peak,
            **({"warning": warning} if warning else {}),
            **({"ignored_fields": ignored} if ignored else {}),
        },
    )
