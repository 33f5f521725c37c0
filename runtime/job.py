"""One rank's training job: build the model and its parallel wrapper from a scenario, run and time steps.

- ZeRO-0: ``DistributedDataParallel`` with the scenario's bucket size (``bucket_cap_mb``)
  and, where plain DDP cannot run the scenario (:func:`runtime.hooks.comm_hook_reason`: a point-to-point
  algorithm, ``communication.overlap: false``), a communication hook that runs its all-reduce
  (:mod:`runtime.hooks`); otherwise no hook, as plain PyTorch DDP;
- ZeRO-1 (``optimizer_sharding: torch`` only): the same DDP with ``ZeroRedundancyOptimizer``
  (``parameters_as_bucket_view`` as the scenario says, ``overlap_with_ddp`` off): DDP's all-reduce during
  the backward, then each rank steps the parameters it owns and broadcasts them
  (:func:`dpsim.sharding.torch_zero_broadcasts`, what the engines price for that flavour);
- ZeRO-2/3 (``optimizer_sharding: fsdp`` only): FSDP2 ``fully_shard`` per transformer block / linear
  layer, with ``reshard_after_forward`` False (ZeRO-2, SHARD_GRAD_OP: gradients and optimizer state
  sharded, parameters kept after forward) or True (ZeRO-3, FULL_SHARD), under bf16 with FSDP's mixed
  precision (16-bit gathers and reduce-scatters, fp32 shards: :func:`shard_units`). FSDP reduce-scatters and
  all-gathers with the backend's collectives, so the all-reduce algorithm and bucket size do not apply
  there. Other flavours are refused (:func:`check_supported`): the engines would price another framework's
  mechanism.
- data split (``training.partition``): rank n processes ``Mₙ`` samples of each step's
  global batch, the indices :func:`dpsim.partition.step_shards` gives it (the simulator's
  per-micro-step split, repeated over the accumulation steps; ``weighted`` gives each rank
  a share ∝ 1/slowdown). Sample i of step s is drawn from (seed, s, i)
  (:func:`runtime.model.synthetic_samples`), so the ranks' shards make one global batch;
- weighted aggregation (seed document §4.2): each micro-batch's mean loss is scaled by
  (its samples)/``Mₙ``, so a rank accumulates the mean gradient ``∇ℓₙ`` over its ``Mₙ``
  samples, and the communication hook scales by ``Mₙ/M`` before summing:
  ``Σₙ (Mₙ/M)·∇ℓₙ``, the full-batch mean gradient (with equal shards: the plain mean, 1/N).
  FSDP, and DDP without the hook, divide the sum by N themselves, so there the loss carries the factor
  ``N·Mₙ/M`` too (1 with equal shards: the same divisor, bit for bit).
  A rank with ``Mₙ = 0`` runs one dummy sample with its loss multiplied by 0 (DDP needs a
  backward on every rank) and contributes zeros;
- gradient accumulation: ``⌈Mₙ/micro_batch⌉`` micro-batches of at most ``micro_batch``
  samples (the last may be smaller) with ``no_sync()`` on all but the last (DDP); under
  FSDP2, whose forward and backward are collective, every rank runs the same number
  ``maxₘ ⌈Mₘ/micro_batch⌉`` of micro-batches (its shard split evenly over them), with
  ``set_requires_gradient_sync(False)`` on all but the last;
- stragglers (``variability.stragglers``): every layer of the named rank is slowed by
  ``slowdown`` in forward and in backward (:class:`LayerSlowdown`): after a layer's forward
  the rank busy-waits (slowdown − 1) × that forward's time, and after the layer's backward
  (from the gradient reaching its output to its last parameter gradient accumulated) it
  busy-waits (slowdown − 1) × that time. Busy-waiting — not sleeping — keeps the core
  occupied as a slower device would, which matters when ranks share cores; per layer, so
  the gradient buckets become ready at the slowed rate, as the simulator assumes;
- ``communication.overlap: false``: the hook holds every bucket until DDP hands over the
  last one (``GradBucket.is_last``), then reduces them in order — no communication overlaps
  the backward pass;
- algorithms without a runtime implementation (``direct``, ``parameter-server``) are refused
  before any rank starts (:func:`check_supported`), and so is ``variability.degraded_links``: every node's
  NICs run at the testbed's rate (it was run without it, while ``dpsim validate`` priced the slowed NIC);
  so are activation recomputation, gradient clipping, ``overlap: false`` under FSDP and a gradient dtype other
  than the framework's own (``communication.dtype``, ``training.gradient_dtype``), which nothing here runs,
  ``variability.compute_jitter_cv`` and ``variability.rank_speed_sigma`` above 0 (the engines' draws of a
  micro-batch's time and of a rank's persistent pace; a draw below 1 needs a faster device), and a
  model :func:`runtime.model.build_model` does not build as the engines price it (a ``cnn``; a transformer of
  another layout or parameter count), ``optimizer_copies: separate`` under 16-bit training (Megatron-LM's fp16
  optimizer copies) and a ``cluster.rank_order`` other than node-major.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dpsim.buckets import DEFAULT_BUCKET_BYTES
from dpsim.partition import aggregation_weights, step_shards
from dpsim.scenario import ModelConfig, Scenario
from runtime.aggregation import NO_BUFFER_SYNC
from runtime.hooks import Clock, CommHookState, LastGradient, comm_hook_reason, timed_allreduce_hook
from runtime.measure import PhaseFile, StepTiming, append_timing
from runtime.model import GPT, MLP, build_model, synthetic_samples
from runtime.optim import build_optimizer, kernel_options, resolved_update
from runtime.precision import check_precision, to_transformer_engine

__all__ = ["BACKEND_CHOOSES", "JobOptions", "TrainingJob", "shard_units"]

BACKEND_CHOOSES = ("auto", "nvls", "nvls-tree")
"""Scenario algorithms the backend itself runs (NCCL's tuner, NVLS; gloo's own choice): ``dist.all_reduce``."""


@dataclass(frozen=True)
class JobOptions:
    """How the runtime executes a scenario (not part of the scenario: the same file runs anywhere)."""

    algorithm: str = "scenario"
    """All-reduce implementation: 'scenario' (the scenario's algorithm, point-to-point) or 'backend'."""
    warmup_steps: int = 2
    steps: int = 5
    seed: int = 0
    fail_rank: int = -1
    """Fault injection for tests: this rank fails at ``fail_step`` ('kill': SIGKILL itself; 'hang': sleeps)."""
    fail_step: int = 0
    fail_mode: str = "kill"
    device: str = "cpu"
    """'cpu', or 'cuda' (each rank uses GPU LOCAL_RANK; needs the nccl backend and algorithm 'backend')."""
    fp8: bool = False
    """FP8 matmuls with Transformer Engine (:mod:`runtime.precision`)."""
    trace: str = ""
    """Rank 0 records a PyTorch profiler trace of one extra step after the measured ones to this file."""

    def __post_init__(self) -> None:
        if self.warmup_steps < 0 or self.steps < 1:
            raise ValueError(f"need warmup_steps >= 0 and steps >= 1, got {self.warmup_steps}, {self.steps}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be cpu or cuda, got {self.device!r}")
        if self.fail_mode not in ("kill", "hang"):
            raise ValueError(f"fail_mode must be kill or hang, got {self.fail_mode!r}")


def _busy_wait(seconds: float) -> None:
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


class _MarkBackward(torch.autograd.Function):
    """Identity whose backward records when the gradient reaches a layer's output (its backward starts)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slow: LayerSlowdown, key: int) -> torch.Tensor:
        ctx.slow, ctx.key = slow, key
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        ctx.slow.backward_started[ctx.key] = time.perf_counter()
        return grads[0], None, None


class LayerSlowdown:
    """Make every layer of ``units`` ``slowdown`` times slower, in forward and backward, by busy-waiting.

    Forward: a pre-hook notes the start, a hook busy-waits (slowdown − 1) × the elapsed time.
    Backward: the layer's output passes through :class:`_MarkBackward`, whose backward notes
    when the layer's backward starts; when the last of the layer's parameters has its
    gradient accumulated (``register_post_accumulate_grad_hook``) the layer's backward is over
    and the rank busy-waits (slowdown − 1) × its duration.
    """

    def __init__(self, units: list[nn.Module], slowdown: float) -> None:
        self.extra = slowdown - 1.0
        self.backward_started: dict[int, float] = {}
        self._forward_started: dict[int, float] = {}
        self._pending: dict[int, int] = {}
        self.handles: list[Any] = []
        for key, unit in enumerate(units):
            params = [p for p in unit.parameters() if p.requires_grad]
            if not params:
                continue
            self.handles.append(unit.register_forward_pre_hook(self._pre_forward(key)))
            self.handles.append(unit.register_forward_hook(self._post_forward(key)))
            for p in params:
                self.handles.append(p.register_post_accumulate_grad_hook(self._accumulated(key, len(params))))

    def _pre_forward(self, key: int) -> Any:
        def hook(module: nn.Module, args: Any) -> None:
            self._forward_started[key] = time.perf_counter()

        return hook

    def _post_forward(self, key: int) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            _busy_wait(self.extra * (time.perf_counter() - self._forward_started[key]))
            if isinstance(output, torch.Tensor) and output.requires_grad:
                return _MarkBackward.apply(output, self, key)
            return output

        return hook

    def _accumulated(self, key: int, count: int) -> Any:
        def hook(param: torch.Tensor) -> None:
            left = self._pending.get(key, count) - 1
            self._pending[key] = left
            if left == 0:
                del self._pending[key]
                start = self.backward_started.pop(key, None)
                if start is not None:
                    _busy_wait(self.extra * (time.perf_counter() - start))

        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def slowed_units(model: nn.Module) -> list[nn.Module]:
    """The layers a straggler slows: an MLP's linear layers; a GPT's embedding, blocks and final norm."""
    if isinstance(model, GPT):
        return [model.tokens, *model.blocks, model.norm]
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


DEEPSPEED_BUCKET_FIELDS = ("deepspeed_reduce_bucket_size", "deepspeed_prefetch_bucket_size")
"""DeepSpeed ZeRO's bucket sizes, which set what the engines reduce and gather at once
(:func:`dpsim.sharding.collective_pieces`); the runtime has no DeepSpeed to honour them."""


def check_supported(scenario: Scenario) -> None:
    """Refuse, before any rank starts, what the runtime cannot execute as the scenario says.

    Each ZeRO stage runs one framework's mechanism, so the scenario must name the flavour the engines price
    for it (``training.optimizer_sharding``, else :class:`ScenarioError` naming that field): ZeRO-1 is torch's
    ``ZeroRedundancyOptimizer`` over DDP (``torch``: DDP's all-reduce, then one broadcast a parameter from its
    owner; torch 2.13 ``zero_redundancy_optimizer.py``), not DeepSpeed's stage 1 (``zero``: reduce-scatter in
    ``reduce_bucket_size`` pieces after the backward, one all-gather) nor Megatron's; ZeRO-2/3 are FSDP2
    (``fsdp``: per-unit all-gathers and reduce-scatters), not DeepSpeed's ZeRO-2/3 (``zero``, the default:
    bucketed reduce-scatters, a post-step all-gather at stage 2, the coordinator's prefetch at stage 3).
    DeepSpeed's bucket sizes (:data:`DEEPSPEED_BUCKET_FIELDS`) follow from that.
    """
    from dpsim.errors import ScenarioError
    from dpsim.inputs import brief
    from runtime.collectives import supports

    t = scenario.training
    for name in ("tensor_parallel", "pipeline_parallel"):
        if getattr(t, name) > 1:  # under torchrun this was found by every rank after the join (or never: a hang)
            raise ScenarioError(f"training.{name}", "the runtime executes data parallelism only (tensor_parallel "
                                "and pipeline_parallel must be 1); predict it with dpsim run")  # fmt: skip
    for name in DEEPSPEED_BUCKET_FIELDS:
        if getattr(t, name) is not None:
            raise ScenarioError(
                f"training.{name}",
                "the runtime runs ZeRO-1 as torch's ZeroRedundancyOptimizer and ZeRO-2/3 as FSDP, not DeepSpeed: it "
                "cannot reduce or gather in DeepSpeed's buckets; leave the field out to measure, or predict with "
                "dpsim run",
            )
    runs = {1: "torch", 2: "fsdp", 3: "fsdp"}.get(t.zero_stage)
    if runs is not None and t.optimizer_sharding != runs:
        what = {
            "torch": "torch's ZeroRedundancyOptimizer over DDP (all-reduce, then a broadcast a parameter)",
            "fsdp": "FSDP2 (per-unit all-gathers and reduce-scatters)",
        }[runs]
        raise ScenarioError(
            "training.optimizer_sharding",
            f"the runtime runs ZeRO-{t.zero_stage} as {what}, not {t.optimizer_sharding}'s, which the engines "
            f"would price instead: set optimizer_sharding: {runs} to measure, or predict {t.optimizer_sharding} "
            "with dpsim run",
        )
    if scenario.training.gradient_accumulation_pass in ("fp32_copy", "fsdp_flat", "fairscale_flat"):
        what = {
            "fp32_copy": "DeepSpeed's BF16_Optimizer",
            "fsdp_flat": "FSDP1's flat-parameter gradient path (the runtime runs FSDP2's fully_shard)",
            "fairscale_flat": "fairscale FSDP's flat-parameter gradient path (the runtime runs FSDP2's fully_shard)",
        }[scenario.training.gradient_accumulation_pass]
        raise ScenarioError(
            "training.gradient_accumulation_pass",
            f"{scenario.training.gradient_accumulation_pass} is {what}; the runtime accumulates gradients with "
            "PyTorch's autograd (DDP's no_sync, FSDP): predict it with dpsim run, or use autograd",
        )
    _refuse_unrun_settings(scenario)
    if scenario.variability.degraded_links:  # nothing in the runtime reads it: the prediction alone was slowed
        raise ScenarioError(
            "variability.degraded_links",
            "the runtime runs every node's NICs at the testbed's rate: it cannot slow one node's (a validation "
            "would blame the prediction's degraded NIC on the model); predict it with dpsim run, or leave it out",
        )
    if scenario.variability.compute_jitter_cv > 0:  # the simulator draws it; nothing in the runtime did
        raise ScenarioError(
            "variability.compute_jitter_cv",
            f"{scenario.variability.compute_jitter_cv:g}: the runtime cannot draw each micro-batch's compute time "
            "around its mean (a draw below 1 needs a faster device than the one running; the run's own variation "
            "is what it measures); set it to 0 to measure, or predict it with dpsim run",
        )
    if scenario.variability.rank_speed_sigma > 0:  # round 27: the prediction alone waited for the slowest draw
        raise ScenarioError(
            "variability.rank_speed_sigma",
            f"{scenario.variability.rank_speed_sigma:g}: the runtime's ranks run at the pace of the devices running "
            "them: it cannot draw each rank a persistent speed (a faster one needs a faster device; the spread of the "
            "devices at hand is what it measures); set it to 0 to measure, or predict it with dpsim run",
        )
    order = scenario.cluster.rank_order
    if order != "node_major" and order != list(range(scenario.world_size)):  # launch.py and torchrun: node-major
        raise ScenarioError(
            "cluster.rank_order",
            f"{brief(order)}: the runtime places rank r on node r // workers_per_node (node-major, as torchrun and "
            "the local and emulated testbeds start them); leave it out to measure, or predict it with dpsim run",
        )
    _refuse_another_model(scenario)
    algorithm = scenario.communication.algorithm
    if not supports(algorithm):
        raise ValueError(
            f"communication.algorithm: the runtime has no {algorithm!r} all-reduce (it runs ring, tree, "
            "halving-doubling, hierarchical and backend); predict it with dpsim run, or pick one of those"
        )


_MODEL_LAYOUT: tuple[tuple[str, Callable[[ModelConfig], bool], str], ...] = (
    ("kv_heads", lambda m: m.kv_heads not in (0, m.heads), "grouped-query attention"),
    ("gated_mlp", lambda m: m.gated_mlp, "a gated MLP"),
    ("tied_embeddings", lambda m: not m.tied_embeddings, "an untied output head"),
    ("learned_positions", lambda m: not m.learned_positions, "no learned position table"),
    ("token_types", lambda m: m.token_types > 0, "token-type embeddings"),
    ("pooler", lambda m: m.pooler, "a pooler"),
    ("causal", lambda m: not m.causal, "bidirectional attention"),
)
"""Transformer fields whose non-default value is another layout than the runtime's GPT-2 blocks build
(:class:`runtime.model.GPT`), with what the scenario asks for."""


def _refuse_another_model(scenario: Scenario) -> None:
    """Refuse a model the runtime would not build as the engines price it: a ``cnn`` (it built an MLP of as many
    parameters), or a transformer of another layout or parameter count than :func:`runtime.model.build_model`'s
    (built on the meta device: no memory). ``llama3-8b`` ran as GPT-2 blocks of its shape, 6.47e9 parameters for the
    priced 8.03e9 (gated MLP, untied head, no position table, grouped-query attention), and every gradient bucket
    the run measured was another than the prediction's."""
    from dpsim.errors import ScenarioError

    m = scenario.model
    measure = "predict it with dpsim run"
    if m.kind == "cnn":
        raise ScenarioError("model.kind", "cnn: the runtime builds a transformer (GPT-2 blocks) or an MLP of square "
                            f"linear layers, no convolutions: it would time another model; {measure}")  # fmt: skip
    if m.kind == "transformer":
        for name, differs, what in _MODEL_LAYOUT:
            if differs(m):
                layout = "learned positions, tied head, GELU MLP, causal attention, one K and V per head"
                raise ScenarioError(f"model.{name}", f"{what}: the runtime builds GPT-2 blocks ({layout}); {measure}")
    with torch.random.fork_rng(devices=[]), torch.device("meta"):  # build_model seeds torch: not the caller's RNG
        built = sum(p.numel() for p in build_model(scenario).parameters())
    if built != m.num_parameters:
        raise ScenarioError("model.parameters", f"{m.num_parameters:,.0f}, but the model the runtime builds from the "
                            f"scenario's shape has {built:,}: it would time another model; give the shape alone, or "
                            f"{measure}")  # fmt: skip


def _refuse_unrun_settings(scenario: Scenario) -> None:
    """Refuse the settings the engines price and the runtime does not run (each priced a step that was not measured:
    ``dpsim validate`` blamed the difference on the model, ``python -m runtime`` recorded a run the scenario does not
    describe). The runtime's model runs every layer's forward once (no checkpointing) and its optimizer steps without
    clipping; FSDP2 prefetches its all-gathers and reduce-scatters during the passes; the gradients are reduced and
    kept in the framework's own dtype, what ``auto`` resolves to (DDP: autocast's fp32 ``param.grad``, as
    :func:`runtime.measure.as_run` reads the run; FSDP2: its ``MixedPrecisionPolicy``'s 16-bit ``reduce_dtype``,
    :func:`shard_units`). On the CPU scenario with ``mlp-tiny`` each moved the analytic step: ``communication.dtype:
    bf16`` 0.2054 -> 0.1039 s, ``activation_recomputation: full`` 0.20540 -> 0.20552 s, ``gradient_clipping``
    0.20540 -> 0.20601 s, ZeRO-3 with ``overlap: false`` 0.3061 -> 0.3074 s; under bf16 ``optimizer_copies: separate``
    0.103666 -> 0.104273 s (DDP), 0.155006 -> 0.155158 s (ZeRO-3)."""
    from dpsim.errors import ScenarioError
    from runtime.measure import as_run

    t, c = scenario.training, scenario.communication
    measure = "leave it out to measure, or predict it with dpsim run"
    if t.activation_recomputation != "none":
        raise ScenarioError(
            "training.activation_recomputation",
            f"{t.activation_recomputation}: the runtime "
            f"runs each layer's forward once, keeping its activations (no checkpointing); {measure}",
        )
    if t.gradient_clipping:
        raise ScenarioError(
            "training.gradient_clipping",
            f"the runtime's optimizer steps without clipping the gradients (no norm pass is run); {measure}",
        )
    if t.optimizer_copies == "separate" and t.precision != "fp32":  # no effect under fp32 (nothing to copy)
        raise ScenarioError(
            "training.optimizer_copies",
            "separate: Megatron-LM's fp16 optimizer (16-bit model tensors, gradients copied into an fp32 master "
            "copy and the weights copied back) is not what the runtime steps: torch.optim over fp32 parameters "
            f"(autocast's, or FSDP's fp32 shards), with no copy pass; {measure}",
        )
    if not c.overlap and t.zero_stage >= 2:
        raise ScenarioError(
            "communication.overlap",
            "false under FSDP: FSDP2 all-gathers and reduce-scatters "
            f"during the forward and backward passes, which the runtime cannot hold back; {measure}",
        )
    default = scenario.model_copy(update={"training": t.model_copy(update={"gradient_dtype": "auto"}),
                                          "communication": c.model_copy(update={"dtype": "auto"})})  # fmt: skip
    asked, ran = as_run(scenario, ran_autocast=True), as_run(default, ran_autocast=True)
    if asked.communication_dtype != ran.communication_dtype:
        raise ScenarioError("communication.dtype", f"{c.dtype}: the runtime reduces the gradients in "
                            f"{ran.communication_dtype}, the framework's default (auto); {measure}")  # fmt: skip
    if asked.gradient_buffer_bytes_per_param != ran.gradient_buffer_bytes_per_param:
        raise ScenarioError("training.gradient_dtype", f"{t.gradient_dtype}: the runtime keeps the gradients in "
                            f"{ran.gradient_buffer_bytes_per_param} bytes a parameter, the framework's default "
                            f"(auto); {measure}")  # fmt: skip


def _algorithm(scenario: Scenario, options: JobOptions) -> str:
    if options.algorithm == "backend" or scenario.training.zero_stage >= 2:
        return "backend"
    if scenario.communication.algorithm in BACKEND_CHOOSES:
        return "backend"
    return scenario.communication.algorithm


def shard_units(model: GPT | MLP, reshard: bool, mesh: Any = None, param_dtype: torch.dtype | None = None) -> nn.Module:
    """FSDP2 ``fully_shard`` on each unit (a GPT's blocks, an MLP's linear layers), then on the root, as the engines'
    ``optimizer_sharding: fsdp`` prices it (:mod:`dpsim.sharding`): ``reshard_after_forward`` is FULL_SHARD (True,
    ZeRO-3) or SHARD_GRAD_OP (False, ZeRO-2), one all-gather and one reduce-scatter a unit.

    ``param_dtype`` (autocast's dtype, None under fp32): FSDP's mixed precision, which the engines assume for FSDP
    (``MixedPrecision`` with ``param_dtype`` 16-bit and ``reduce_dtype`` defaulting to it: the sharded fp32
    parameters are the master, the gathers and reduce-scatters move 16-bit, :attr:`Scenario.param_bytes_per_param`
    and :attr:`Scenario.communication_dtype`). Without it FSDP2 gathers and reduces the fp32 parameters and
    gradients that autocast leaves, twice the bytes the engines price.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=param_dtype) if param_dtype else None
    kwargs: dict[str, Any] = {"mesh": mesh, "reshard_after_forward": reshard}
    if policy is not None:
        kwargs["mp_policy"] = policy
    units = list(model.blocks) if isinstance(model, GPT) else [m for m in model.net if isinstance(m, nn.Linear)]
    for unit in units:
        fully_shard(unit, **kwargs)
    fully_shard(model, **kwargs)
    return model


class TrainingJob:
    """Everything one rank needs for the timed steps; call :meth:`run` then :meth:`close`."""

    def __init__(self, scenario: Scenario, options: JobOptions, run_dir: Path) -> None:
        self.scenario, self.options, self.run_dir = scenario, options, run_dir
        self._step = 0
        self._phases: PhaseFile | None = None
        """Progress reports for the launcher's watchdog: one ``pwrite`` each, cheap inside the timed step."""
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        if self.world != scenario.world_size:
            raise ValueError(f"the scenario has {scenario.world_size} workers but {self.world} ranks were started")
        check_supported(scenario)  # its entry points refuse before any rank starts; a job built directly, here
        t = scenario.training
        self.algorithm = _algorithm(scenario, options)
        self.cuda = options.device == "cuda"
        if self.cuda and self.algorithm != "backend":
            raise ValueError(
                "the point-to-point all-reduce algorithms run on gloo (CPU tensors); on GPUs use --algorithm backend "
                "(NCCL chooses ring or tree itself; NCCL_ALGO=Ring|Tree pins it)"
            )
        self.shards = step_shards(t.micro_batch, scenario.worker_slowdowns(), self.accumulation, t.partition)
        self.samples = len(self.shards[self.rank])
        """``Mₙ``: this rank's samples per optimizer step."""
        self.global_samples = sum(len(shard) for shard in self.shards)
        """``M = Σₙ Mₙ``, the effective global batch (``training.global_batch``)."""
        self.weight = aggregation_weights([len(shard) for shard in self.shards])[self.rank]
        """``Mₙ/M``: the share of the global gradient this rank's mean gradient carries."""
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if self.cuda else torch.device("cpu")
        if self.cuda:
            torch.cuda.set_device(device)
        self.precision = check_precision(scenario, options.device, fp8=options.fp8)
        self.clock = Clock(self.cuda)
        self.model: GPT | MLP = build_model(scenario, options.seed).to(device)
        if self.precision.fp8:
            to_transformer_engine(self.model)
        self.scaler = self.precision.scaler()
        self.hook_state: CommHookState | None = None
        self.last_gradient: LastGradient | None = None
        """Plain DDP (no hook): when the synchronising backward hands its last bucket over."""
        self._bucket_bytes: list[int] | None = None
        """Plain DDP's rebuilt buckets (:meth:`_plain_bucket_bytes`)."""
        self.comm_hook = comm_hook_reason(scenario, self.algorithm) if t.zero_stage < 2 else ""
        """Why DDP runs the runtime's communication hook ('' : it runs without one, as plain DDP)."""
        self.wrapped: nn.Module
        self.bucket_views: bool | None = None
        """Whether DDP's reducer holds the gradients as bucket views, as it logged itself (None: FSDP); every
        :class:`StepTiming` records it (``extra.gradient_as_bucket_view``), so a prediction prices what ran."""
        if t.zero_stage >= 2:
            self.wrapped = self._fsdp(self.model, reshard=t.zero_stage == 3, device=device.type)
        else:
            bucket = scenario.communication.bucket
            ddp = DistributedDataParallel(
                self.model,
                # DDP's default cap (None) is what gives its 1 MiB first bucket (dpsim.buckets)
                bucket_cap_mb=None if bucket == DEFAULT_BUCKET_BYTES else bucket / 2**20,
                **NO_BUFFER_SYNC,
                # the scenario's choice (torch's default False keeps a bucket copy of the gradients, which
                # dpsim.analytic.memory counts)
                gradient_as_bucket_view=t.gradient_as_bucket_view,
                device_ids=[device.index] if self.cuda else None,
            )
            if self.comm_hook:
                self.hook_state = CommHookState(self.algorithm, self.weight, scenario.cluster.workers_per_node,
                                                clock=self.clock, overlap=scenario.communication.overlap)  # fmt: skip
                self.hook_state.on_ready = lambda b: self._phase(f"step {self._step} communication (bucket {b})")
                ddp.register_comm_hook(self.hook_state, timed_allreduce_hook)
            self.wrapped = ddp
            self.bucket_views = bool(ddp._get_ddp_logging_data().get("gradient_as_bucket_view"))
        name = {"momentum": "sgd"}.get(t.optimizer, t.optimizer)
        kwargs: dict[str, Any] = {"momentum": 0.9} if t.optimizer == "momentum" else {}
        kwargs.update(kernel_options(t.optimizer_kernels, self.cuda))  # on GPUs the update the engines price
        self.optimizer, _ = build_optimizer(
            self.wrapped,
            name,
            t.learning_rate,
            self.global_samples,
            t.global_batch,
            zero_redundancy=t.zero_stage == 1,
            parameters_as_bucket_view=t.parameters_as_bucket_view,
            **kwargs,
        )
        self.optimizer_update = resolved_update(self.optimizer)  # which update torch.optim runs (the record says)
        self.device = device
        self.chunks = self._chunks()
        self.slowdown = scenario.worker_slowdowns()[self.rank]
        self.straggler = LayerSlowdown(slowed_units(self.model), self.slowdown) if self.slowdown != 1.0 else None
        if isinstance(self.wrapped, DistributedDataParallel) and self.hook_state is None:
            # plain DDP: its own division by N in the copy into the buckets, the backend's all-reduce. Marked after
            # the straggler's hooks, as DDP's own hook runs after every post-accumulate hook of a parameter
            params = [p for p in self.model.parameters() if p.requires_grad]
            self.last_gradient = LastGradient(params, self.clock,
                                              lambda: self._phase(f"step {self._step} communication"))  # fmt: skip

    @property
    def accumulation(self) -> int:
        return self.scenario.accumulation_steps

    @property
    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def micro_batches(self, step: int) -> list[tuple[tuple[torch.Tensor, torch.Tensor], float]]:
        """This rank's micro-batches of step ``step``, each with the divisor of its mean loss.

        Dividing micro-batch ``c``'s mean loss by ``Mₙ/c`` makes the accumulated gradient the
        mean over the rank's ``Mₙ`` samples (by ``M/(c·N)`` under FSDP and DDP without the hook,
        which divide the summed gradients by N). Divisor ``inf``: a dummy sample on a rank with
        no samples, whose loss counts 0.
        """
        divides = not isinstance(self.wrapped, DistributedDataParallel) or self.hook_state is None
        out = []
        for chunk in self.chunks:
            count = len(chunk)
            inputs, targets = synthetic_samples(self.model, self.scenario, chunk or [0], self.options.seed, step)
            if count == 0:
                divisor = math.inf
            else:
                divisor = self.global_samples / (count * self.world) if divides else self.samples / count
            out.append(((inputs.to(self.device), targets.to(self.device)), divisor))
        return out

    def _chunks(self) -> list[list[int]]:
        """This rank's shard cut into micro-batches of at most ``micro_batch`` samples (see :meth:`micro_batches`).

        DDP: ``⌈Mₙ/micro_batch⌉`` micro-batches, the last possibly smaller. FSDP runs collectives
        in every micro-batch's forward/backward, so every rank needs the same number:
        ``K = maxₘ ⌈Mₘ/micro_batch⌉``, the shard split as evenly as possible over them (a rank
        with fewer than K samples gets empty ones, run as dummies). An empty shard: one empty
        micro-batch (DDP) — every rank must run the synchronising backward.
        """
        mb = self.scenario.training.micro_batch
        shard = self.shards[self.rank]
        if isinstance(self.wrapped, DistributedDataParallel):
            return [shard[first : first + mb] for first in range(0, len(shard), mb)] or [[]]
        count = max(1, max(-(-len(s) // mb) for s in self.shards))
        q, r = divmod(len(shard), count)
        bounds = [i * q + min(i, r) for i in range(count + 1)]
        return [shard[bounds[i] : bounds[i + 1]] for i in range(count)]

    def full_parameters(self) -> dict[str, torch.Tensor]:
        """The model's parameters, unsharded, on the CPU (collective under FSDP: call on every rank)."""
        out = {}
        for name, p in self.model.named_parameters():
            value = p.detach()
            full = getattr(value, "full_tensor", None)  # FSDP2 DTensor shards → the full tensor
            out[name] = (full() if full is not None else value).cpu().clone()
        return out

    def _fsdp(self, model: GPT | MLP, reshard: bool, device: str) -> nn.Module:
        """FSDP2 over every rank, or HYBRID_SHARD (``training.fsdp_shard_group`` G < N): a 2-D device mesh of
        N/G replicas x G consecutive ranks, sharded inside each row and all-reduced down each column
        (FSDP2's HSDP: reduce-scatter, then ``all_reduce`` on the replicate group's own stream)."""
        mesh = None
        group = self.scenario.training.fsdp_shard_group
        if group is not None and group < self.world:
            from torch.distributed.device_mesh import init_device_mesh

            mesh = init_device_mesh(device, (self.world // group, group), mesh_dim_names=("replicate", "shard"))
        return shard_units(model, reshard, mesh, self.precision.dtype)

    @contextlib.contextmanager
    def _keep_gathered(self, keep: bool) -> Iterator[None]:
        """FSDP2 SHARD_GRAD_OP: keep this micro-batch's gathered parameters after its backward (dpsim.sharding)."""
        if not keep or isinstance(self.wrapped, DistributedDataParallel):
            yield
            return
        self.wrapped.set_reshard_after_backward(False)  # type: ignore[operator]
        try:
            yield
        finally:
            self.wrapped.set_reshard_after_backward(True)  # type: ignore[operator]

    @contextlib.contextmanager
    def _no_sync(self, sync: bool) -> Iterator[None]:
        if sync:
            yield
        elif isinstance(self.wrapped, DistributedDataParallel):
            with self.wrapped.no_sync():
                yield
        else:
            self.wrapped.set_requires_gradient_sync(False)  # type: ignore[operator]
            try:
                yield
            finally:
                self.wrapped.set_requires_gradient_sync(True)  # type: ignore[operator]

    def _phase(self, text: str) -> None:
        if self._phases is None:
            self._phases = PhaseFile(self.run_dir / f"rank{self.rank}.phase")
        self._phases.report(text)

    def step(self, index: int) -> StepTiming:
        """One optimizer step over this rank's ``Mₙ`` samples, timed (drawing the data is not)."""
        o = self.options
        self._step = index
        if index == o.fail_step and self.rank == o.fail_rank:
            if o.fail_mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            self._phase(f"step {index} compute (hung)")
            time.sleep(3600)
        forward = backward = exposed = compute_cpu = 0.0
        bucket_s: list[float] = []
        bucket_bytes: list[int] = []
        batches = self.micro_batches(index)
        clock = self.clock
        clock.start()
        started = time.time()  # the host's shared clock: every rank's phases side by side (StepTiming.started_unix_s)
        marks = []
        # DDP accumulates under no_sync; FSDP reduce-scatters every micro-batch unless the scenario
        # asks for FSDP's no_sync (training.fsdp_no_sync), as the engines model it
        t = self.scenario.training
        every = not isinstance(self.wrapped, DistributedDataParallel) and not t.fsdp_no_sync
        # SHARD_GRAD_OP under no_sync (FSDP1's rule) or fsdp_reshard_after_backward: false keeps the
        # first forward's gather through the step
        keep = t.zero_stage == 2 and (t.fsdp_no_sync or not t.fsdp_reshard_after_backward)
        for i, (batch, divisor) in enumerate(batches):
            last = i == len(batches) - 1
            sync = every or last
            self._phase(f"step {index} micro-batch {i} compute")
            if sync and self.last_gradient is not None:
                self.last_gradient.arm()
            with self._no_sync(sync), self._keep_gathered(keep and not last):
                t0, c0 = clock.mark(), time.thread_time()
                with self.precision.forward():
                    loss = self.model.loss(batch) if self.wrapped is self.model else self._ddp_loss(batch)
                loss = loss * 0.0 if math.isinf(divisor) else loss / divisor
                t1 = clock.mark()
                (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
                t2, c2 = clock.mark(), time.thread_time()
            timings = self.hook_state.take() if (sync and self.hook_state is not None) else []
            handed = self.last_gradient.take() if (sync and self.last_gradient is not None) else None
            marks.append((t0, t1, t2, timings, handed[0] if handed else None))
            # the thread's CPU while it computed: to the last bucket handed over (as compute_end below)
            compute_cpu += (max(b.ready_cpu_s for b in timings) if timings else handed[1] if handed else c2) - c0
        self._phase(f"step {index} optimizer")
        t3 = clock.mark()
        cpu0, faults0 = time.thread_time(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=False)
        end = clock.mark()
        optimizer_cpu = time.thread_time() - cpu0
        optimizer_faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
        clock.finish()  # GPUs: the one wait, after the step; then the events are read
        for t0, t1, t2, timings, handed_mark in marks:
            f0, f1, f2 = clock.seconds(t0), clock.seconds(t1), clock.seconds(t2)
            resolved = [b.resolved(clock) for b in timings]
            # the last bucket handed over: the hook's marks, or plain DDP's last gradient (its all-reduces unseen)
            last_ready = clock.seconds(handed_mark) if handed_mark is not None else f2
            compute_end = max(b.ready_s for b in resolved) if resolved else last_ready
            forward += f1 - f0
            backward += compute_end - f1
            exposed += f2 - compute_end
            if resolved:
                ordered = sorted(resolved, key=lambda b: b.index)
                bucket_s = [b.duration_s for b in ordered]
                bucket_bytes = [b.size_bytes for b in ordered]
        if self.last_gradient is not None:  # plain DDP: its buckets from its own logging, their times unseen
            bucket_bytes = self._plain_bucket_bytes()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0
        allocated = reserved = 0.0
        if self.cuda:
            allocated = float(torch.cuda.max_memory_allocated(self.device))
            reserved = float(torch.cuda.max_memory_reserved(self.device))
        return StepTiming(
            index, self.rank, clock.seconds(end), forward, backward, exposed, clock.seconds(end) - clock.seconds(t3),
            bucket_s, bucket_bytes, rss, self.samples, self.learning_rate, allocated, reserved, optimizer_cpu,
            optimizer_faults, 0.0 if self.cuda else compute_cpu, self.bucket_views, self.optimizer_update, started,
        )  # fmt: skip

    def _plain_bucket_bytes(self) -> list[int]:
        """DDP's buckets in bytes, in reduction order, from its own logging data (``rebuilt_bucket_sizes`` once it has
        rebuilt them in gradient-ready order after the first backward; kept from then on)."""
        if self._bucket_bytes is not None:
            return self._bucket_bytes
        data = self.wrapped._get_ddp_logging_data()  # type: ignore[operator]
        rebuilt = bool(data.get("has_rebuilt_buckets"))
        listed = str(data.get("rebuilt_bucket_sizes" if rebuilt else "bucket_sizes", ""))
        sizes = [int(size) for size in listed.split(",") if size.strip()]
        if rebuilt:
            self._bucket_bytes = sizes
        return sizes

    def _ddp_loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        # DDP hooks into forward() of the wrapper; compute the loss from its output
        inputs, targets = batch
        out = self.wrapped(inputs)
        if isinstance(self.model, GPT):
            return nn.functional.cross_entropy(out.flatten(0, 1), targets.flatten())
        return nn.functional.mse_loss(out, targets)

    def run(self) -> list[StepTiming]:
        """Warm-up and measured steps, each appended to ``rank<r>.jsonl`` as soon as it ends."""
        out = self.run_dir / f"rank{self.rank}.jsonl"
        timings = []
        for index in range(self.options.warmup_steps + self.options.steps):
            timings.append(self.step(index))
            append_timing(out, timings[-1])
        if self.options.trace:
            self._profiled_step(self.options.warmup_steps + self.options.steps)
        self._phase("done")
        return timings

    def _profiled_step(self, index: int) -> None:
        """One more step on every rank (its collectives need all); rank 0 records it with torch.profiler.

        ``with_stack`` and ``record_shapes`` give what ``dpsim calibrate --from-trace`` reads:
        module events, sequence numbers, gradient shapes. The step is not among the measured ones.
        """
        if self.rank != 0:
            self.step(index)
            return
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
        with profile(activities=activities, with_stack=True, record_shapes=True) as prof:
            self.step(index)
        prof.export_chrome_trace(self.options.trace)

    def close(self) -> None:
        """Remove the straggler hooks, stop the communication thread, and let go of everything that holds
        the process group — DDP's reducer, FSDP's state, ZeRO's optimizer — so that the group's last
        reference goes in :func:`runtime.torchrun.destroy_group`, not wherever the collector happens
        to free this job (see there: that can deadlock). ``algorithm``, ``precision`` stay readable."""
        if self.straggler is not None:
            self.straggler.remove()
            self.straggler = None
        if self.hook_state is not None:
            self.hook_state.close()
            self.hook_state.on_ready = None  # it refers to this job: the cycle would keep the DDP alive
        if self.last_gradient is not None:
            self.last_gradient.remove()
        for holder in ("wrapped", "optimizer", "model"):
            self.__dict__.pop(holder, None)
        if self._phases is not None:
            self._phases.close()
            self._phases = None
