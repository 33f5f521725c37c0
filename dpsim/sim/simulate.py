"""Scenario → simulated cluster → StepResult: the ``sim`` engine's entry points.

:func:`simulate` builds the :class:`~dpsim.sim.cluster.Cluster` of the data-parallel
group, picks the fidelity (:mod:`dpsim.sim.fidelity`), runs ``variability.replications``
seeded replications of ``simulation.steps`` steps each (:func:`dpsim.sim.training.run_step`)
and reports their mean with a 95 % interval on the step time. Memory comes from the
analytic memory model (the simulator does not model allocation).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dpsim.analytic import parallel
from dpsim.analytic import step as analytic_step
from dpsim.analytic.collectives import cluster_of
from dpsim.analytic.parallel import tensor_parallel_hidden_time
from dpsim.analytic.step import _model_parallel_terms, bucket_sizes, dp_fabric, predict, step_result
from dpsim.buckets import (
    ddp_last_bucket_bytes,
    ddp_trace,
    gradient_chunks,
    gradient_tensors,
    overlapped_bytes,
    stage_end_reduction,
    synced_gradient_bytes,
    traced_buckets,
)
from dpsim.calibration import profile_for  # the scenario's profile: one loader for both engines
from dpsim.errors import ScenarioError
from dpsim.records import StepResult
from dpsim.scenario import Scenario
from dpsim.sharding import collective_pieces, parameter_gather_bytes, step_traffic
from dpsim.sim import budget
from dpsim.sim.chunk import ChunkEngine
from dpsim.sim.cluster import Cluster
from dpsim.sim.engine import CollectiveEngine
from dpsim.sim.fast import FastEngine
from dpsim.sim.fidelity import FIDELITIES, choose_fidelity
from dpsim.sim.timeline import GLOO_CONCURRENT_BUCKETS, Timeline
from dpsim.sim.training import StepOutcome, StepPlan, run_step
from dpsim.sim.variability import ci95_half_width, replication_rng
from dpsim.sim.worker import ComputeModel, compute_model, dp_slowdowns, worker_samples, worker_times

if TYPE_CHECKING:
    from dpsim.execution import Executor

__all__ = ["build_cluster", "make_engine", "simulate", "simulate_timeline", "step_plan"]

MAX_DIRECT_RANKS = 4096
"""The direct algorithm has N(N−1) flows per phase; beyond this many ranks it is refused."""
TRACE_WORKERS = 16384
"""Workers whose spans a timeline records (the first ones, plus every straggler): all of them up
to this many (the Gantt chart collapses identical workers), in arrays linear in ranks."""
PER_WORKER_LIMIT = 1024
"""Per-worker lists go into ``extra`` up to this many workers (summaries always)."""


def build_cluster(scenario: Scenario, profile: Any = None) -> Cluster:
    """The simulated cluster of one data-parallel group of ``scenario``: the analytic engine's fabric.

    :func:`dpsim.analytic.fabrics.fabric_of` (achievable bandwidths, NICs, topology; the
    profile's fitted links when calibrated) and :func:`~dpsim.analytic.fabrics.dp_fabric` (with
    tensor/pipeline parallelism the group has ``min(dp, G/tp)`` ranks per node and its share
    of the NICs, its degraded NICs), so both engines run the collectives on the same links: the analytic engine's
    own cluster of that fabric (:func:`~dpsim.analytic.collectives.cluster_of`), built once for both: the
    simulator's result carries the analytic step, which prices on it.
    """
    return cluster_of(dp_fabric(scenario, analytic_step.calibrated_fabric(scenario, profile)))


def step_plan(
    scenario: Scenario, optimizer_s: float, forward_s: float, backward_s: float, nic_loads: bool = True
) -> StepPlan:
    """Bytes, buckets and hybrid-parallel terms of one step.

    Tensor-parallel communication, the pipeline bubble and pipeline sends come from the
    analytic engine's hybrid-parallel terms (:func:`dpsim.analytic.step._model_parallel_terms`:
    the pipeline from its schedule, :func:`dpsim.analytic.step.pipeline_terms`): the simulator
    resolves the data-parallel dimension event by event and adds those per step. ``nic_loads=False``: the
    pipeline's sends share their NICs with no TP phase or reduction (the shared fabric runs those as flows).
    """
    t, m = scenario.training, scenario.model
    psi = m.num_parameters / (t.tensor_parallel * t.pipeline_parallel)
    profile = profile_for(scenario)
    fabric = analytic_step.model_parallel_fabric(scenario, profile)
    tp_comm, bubble, p2p_exposed = _model_parallel_terms(scenario, fabric, forward_s, backward_s, nic_loads)
    p2p_total = analytic_step._pipeline_p2p_terms(scenario, fabric)[0]
    tensors = gradient_tensors(scenario)
    cut = collective_pieces(scenario)  # DeepSpeed ZeRO sizes its own buckets (whole tensors when known) and gathers
    gradient_bytes = cut.reduced_gradient_bytes or synced_gradient_bytes(
        scenario, tensors if scenario.reduces_with_ddp else ()
    )
    traffic = step_traffic(scenario)
    # the engine reduces the trace's buckets whenever the profile holds one (_traced_readiness)
    last_bucket = ddp_last_bucket_bytes(
        ddp_trace(profile, 0 if scenario.reduces_with_ddp else t.zero_stage),
        gradient_bytes,
        scenario.communication.bucket,
        None,
        tensors,
    )
    copies = analytic_step.ddp_bucket_copies(
        scenario, gradient_bytes, last_bucket, profile is not None and profile.has_compute_for(scenario), profile
    )
    plan = StepPlan(
        accumulation=scenario.accumulation_steps,
        gradient_bytes=gradient_bytes,
        param_bytes=parameter_gather_bytes(scenario, psi),
        bucket_bytes=cut.gradient_bucket,
        gather_bytes=cut.gather_piece,
        post_gather_bytes=cut.post_step_gather,
        zero_stage=t.zero_stage,
        gradient_allreduce=scenario.gradient_reduction_op == "allreduce",
        overlap=cut.prefetch,
        gradient_overlap=scenario.overlaps_gradient_reduction,
        optimizer_s=optimizer_s,
        tp_comm_s=tp_comm,
        tp_hidden_s=tensor_parallel_hidden_time(scenario, fabric),
        tp_forward_share=parallel.tensor_parallel_counts(scenario)[1],
        bubble_s=bubble,
        p2p_exposed_s=p2p_exposed,
        p2p_total_s=p2p_total,
        tied_embedding_s=parallel.tied_embedding_allreduce_time(scenario, fabric),
        reduce_every_micro_batch=scenario.reduces_every_micro_batch,
        overlap_param_gather=scenario.overlaps_param_gather,
        **_traced_readiness(scenario, gradient_bytes),
        gradient_tensors=tensors,
        listed_buckets=cut.gradient_buckets,
        chunks=gradient_chunks(scenario),
        chunk_end=stage_end_reduction(scenario),
        stages=t.pipeline_parallel,
        forward_gathers=traffic.forward_gathers,
        backward_gathers=traffic.backward_gathers,
        post_step_gather=traffic.post_step_gather,
        backward_param_bytes=parameter_gather_bytes(scenario, psi, traffic.backward_gather_share, layers=True),
        shard_ranks=traffic.shard_ranks if traffic.replicas > 1 else 0,
        bucket_copies=copies,
        ddp=scenario.reduces_with_ddp,
        post_step_broadcasts=cut.post_step_broadcasts,
    )
    # gloo's own all-reduce: each bucket's latency beside the previous one's bytes, as the analytic engine prices it
    latency = analytic_step.gloo_bucket_latency(scenario, profile)
    if latency is None:
        return plan
    return dataclasses.replace(plan, bucket_latency_s=tuple(latency(size) for size in plan.gradient_buckets))


def _traced_readiness(scenario: Scenario, gradient_bytes: float) -> dict[str, tuple[float, ...]]:
    """Measured bucket readiness from the calibration profile's trace curve (empty: uniform).

    With DDP (ZeRO stage 0) the buckets are the trace's tensors grouped by DDP's rule
    (:func:`dpsim.buckets.traced_buckets`), as the analytic engine prices them.
    """
    profile = profile_for(scenario)
    if profile is None or not getattr(profile, "gradient_ready", ()):
        return {}
    cut = collective_pieces(scenario)
    bucket = cut.gradient_bucket
    traced = ddp_trace(profile, 0 if scenario.reduces_with_ddp else scenario.training.zero_stage)
    if traced:
        sizes, fractions = traced_buckets(traced, gradient_bytes, bucket, None)
        return {"traced_buckets": tuple(sizes), "ready_fractions": tuple(fractions)}
    sizes = list(cut.gradient_buckets) or bucket_sizes(gradient_bytes, bucket, bucket)
    return {"ready_fractions": tuple(profile.bucket_ready_fractions(sizes))}


def _collective_count(plan: StepPlan) -> int:
    count = len(plan.gradient_buckets) * (plan.accumulation if plan.reduce_every_micro_batch else 1)
    count *= 2 if plan.shard_ranks else 1  # HYBRID_SHARD: each reduce-scatter's replica all-reduce
    forward, backward, post = plan.gathers
    if post:
        count += len(plan.parameter_buckets)
    count += len(plan.post_step_broadcasts)
    return count + forward * plan.pieces + backward * plan.backward_pieces


def make_engine(fidelity: str, cluster: Cluster, algorithm: str, protocol: str = "none") -> CollectiveEngine:
    """The collective evaluator of a (resolved) fidelity."""
    if fidelity == "chunk":
        return ChunkEngine(cluster, algorithm, protocol=protocol)
    if fidelity == "fast":
        return FastEngine(cluster, algorithm, protocol)
    raise ValueError(f"fidelity must be chunk or fast here, got {fidelity!r}")


def simulate(
    scenario: Scenario, *, fidelity: str | None = None, allow_long: bool = False, executor: Executor | None = None
) -> StepResult:
    """Simulate one training step of ``scenario`` (engine ``"sim"``).

    Refuses (:class:`ScenarioError`) a scenario whose estimated cost is past the limits of
    :mod:`dpsim.sim.budget`, unless ``allow_long``. ``executor``
    (:func:`dpsim.execution.open_executor`) runs the replications on Dask.
    """
    return _simulate(scenario, fidelity, want_timeline=False, allow_long=allow_long, executor=executor)[0]


def simulate_timeline(
    scenario: Scenario, *, fidelity: str | None = None, allow_long: bool = False
) -> tuple[StepResult, Timeline]:
    """:func:`simulate` plus the timeline of the first step of the first replication."""
    result, timeline = _simulate(scenario, fidelity, want_timeline=True, allow_long=allow_long)
    assert timeline is not None
    return result, timeline


def _simulate(
    scenario: Scenario,
    fidelity: str | None,
    want_timeline: bool,
    allow_long: bool = False,
    executor: Executor | None = None,
) -> tuple[StepResult, Timeline | None]:
    requested = fidelity if fidelity is not None else scenario.simulation.fidelity
    if requested not in FIDELITIES:
        raise ScenarioError("simulation.fidelity", f"expected one of {', '.join(FIDELITIES)}, got {requested!r}")
    budget.check(scenario, fidelity, allow_long)
    algorithm = analytic_step.algorithm_of(scenario)
    dp = scenario.data_parallel
    if algorithm == "direct" and dp > MAX_DIRECT_RANKS:
        raise ScenarioError(
            "communication.algorithm",
            f"direct all-to-all has N(N-1) flows per phase; the simulator takes it up to {MAX_DIRECT_RANKS} ranks,"
            f" not {dp}",
        )
    profile = profile_for(scenario)
    model = compute_model(scenario, profile)
    slow = dp_slowdowns(scenario)
    pace = analytic_step.expected_pace(scenario)  # the pipeline's terms at the slowest rank's expected pace
    plan = step_plan(scenario, model.optimizer_s, model.forward_s * pace, model.backward_s * pace)
    cluster = build_cluster(scenario, profile)
    variability = scenario.variability
    symmetric = variability.compute_jitter_cv == 0 and variability.rank_speed_sigma == 0
    # a HYBRID_SHARD step runs on one network at chunk level (_Replication.one_network): nothing is memoised
    memoised = symmetric and not (plan.shard_ranks > 0 and dp > 1)
    chosen = choose_fidelity(
        requested, algorithm, cluster.layout(), _collective_count(plan), memoised, cluster.protocol
    )
    replicate = _Replication(scenario, model, plan, cluster, chosen)
    timeline: Timeline | None = None
    runs: list[tuple[list[StepOutcome], int, int]] = []
    if want_timeline:
        recorded = sorted(set(range(min(dp, TRACE_WORKERS))) | {int(w) for w in np.flatnonzero(slow != 1.0)})
        timeline = Timeline(scenario.name, dp, fidelity=chosen, recorded=recorded)
        timeline.notes = {int(w): f"straggler x{float(slow[w]):g}" for w in np.flatnonzero(slow != 1.0)}
        if scenario.collective_algorithm == "backend" and scenario.reduces_with_ddp and dp > 1:
            timeline.comm_schedule = GLOO_CONCURRENT_BUCKETS  # gloo's own all-reduce: DDP's buckets two at once
        runs.append(replicate.run(0, timeline))
    rest = list(range(len(runs), variability.replications))
    if executor is None:
        runs += [replicate(r) for r in rest]
    else:  # replications on Dask (dpsim.execution): each is a pure function of its index
        from dpsim.execution import TaskError, raise_first_failure

        outcomes = executor.map(replicate, rest)
        raise_first_failure(outcomes, lambda i: f"replication {rest[i]}", scenario.name)
        runs += [r for r in outcomes if not isinstance(r, TaskError)]
    outcomes_all = [r[0] for r in runs]
    events, simulated = sum(r[1] for r in runs), sum(r[2] for r in runs)
    samples = worker_samples(scenario, slow)
    return _result(scenario, model, plan, outcomes_all, samples, chosen, (events, simulated), profile), timeline


@dataclass(frozen=True)
class _Replication:
    """What the replications of one scenario share; calling it with an index runs that replication.

    Each replication draws from its own generator (:func:`replication_rng`) on a fresh
    collective engine, so it is a pure function of (scenario, index) and can run anywhere
    (:mod:`dpsim.execution`) with the same result. Returns the steps' outcomes, network
    events and simulated (not replayed) collectives.
    """

    scenario: Scenario
    model: Any
    plan: StepPlan
    cluster: Cluster
    fidelity: str

    def __call__(self, replication: int) -> tuple[list[StepOutcome], int, int]:
        return self.run(replication, None)

    def run(self, replication: int, timeline: Timeline | None) -> tuple[list[StepOutcome], int, int]:
        engine = make_engine(
            self.fidelity, self.cluster, analytic_step.algorithm_of(self.scenario), self.cluster.protocol
        )
        steps = self.scenario.simulation.steps
        rng = replication_rng(self.scenario.variability, replication)
        fwd, bwd, _ = worker_times(self.scenario, self.model, rng, steps)
        profile, plan = self.model.profile, self.plan
        comm_rate: float | None = None
        shared_host = profile is not None and self.scenario.data_parallel > 1
        if shared_host and plan.reduces_overlapped and not plan.gathers[1] and plan.gradient_buckets:
            # the communication threads compete with the last backward for a shared host (one model, both engines):
            # the buckets ready before the backward ends (uniform: all but the last; else as the trace says).
            # Every sharding whose gradient buckets overlap a backward without gathers (DDP, ZeRO-1/2, Megatron's
            # distributed optimizer, FSDP SHARD_GRAD_OP), as the analytic engine prices it; this took DDP only
            overlapped = overlapped_bytes(plan.gradient_buckets, plan.bucket_fractions)
            alone = bwd[:, :, -1].copy()
            bwd[:, :, -1] = profile.overlap_backward(self.scenario, alone, overlapped)
            # the window beyond the backward's own share is the host finishing communication (exposed, not compute)
            hidden = bwd[:, :, -1] - profile.overlap_backward_compute(self.scenario, alone, overlapped)
            if self.scenario.reduces_with_ddp and plan.shard_ranks == 0 and not profile.gradient_ready:
                # DDP (as the analytic engine): the backward ends at its own share and the buckets share the cores
                # with it until then (HardwareProfile.comm_rate_in_backward); no window
                bwd[:, :, -1] = bwd[:, :, -1] - hidden
                hidden = np.zeros(bwd.shape[:2])
                comm_rate = profile.comm_rate_in_backward(self.scenario)
        else:
            hidden = np.zeros(bwd.shape[:2])
        runs = []
        one_network = self.one_network
        events = calls = 0
        for step in range(steps):
            tl = timeline if step == 0 else None
            if one_network:  # both streams of HYBRID_SHARD in flight at once: one network for the step
                from dpsim.sim.shared import run_on_one_network  # shared builds on this module

                assert isinstance(engine, ChunkEngine)
                outcome, step_events = run_on_one_network(self.plan, engine, fwd[step], bwd[step], tl)
                events, calls = events + step_events, calls + outcome.collectives
            else:
                outcome = run_step(self.plan, engine, fwd[step], bwd[step], tl, comm_rate=comm_rate)
            outcome = dataclasses.replace(outcome, compute_s=outcome.compute_s - hidden[step])
            if tl is not None:
                tl.step_time_s = outcome.step_time_s
            runs.append(outcome)
        if one_network:
            return runs, events, calls
        return runs, engine.events, getattr(engine, "simulated_calls", engine.calls)

    @property
    def one_network(self) -> bool:
        """Whether the step runs on one network (:func:`dpsim.sim.shared.run_on_one_network`) rather than each
        collective on its own: at chunk level, when two streams are in flight at once (FSDP HYBRID_SHARD) and
        the links do not change with the message size (a calibrated profile's regimes need a network each)."""
        return (
            self.fidelity == "chunk"
            and self.plan.shard_ranks > 0
            and self.scenario.data_parallel > 1
            and not self.cluster.regimes
        )


def _exposed(step_s: float, accounted_s: float) -> float:
    """The step's time outside compute, optimizer and bubble; a difference under 1e-12 of the step is the
    rounding of the same sum added in another order (the simulated clock vs the terms), not communication."""
    left = step_s - accounted_s
    return left if left > 1e-12 * step_s else 0.0


def _result(
    scenario: Scenario,
    model: ComputeModel,
    plan: StepPlan,
    outcomes: list[list[StepOutcome]],
    samples: np.ndarray,
    fidelity: str,
    counts: tuple[int, int],
    profile: Any,
) -> StepResult:
    flat = [o for runs in outcomes for o in runs]
    per_replication = [float(np.mean([o.step_time_s for o in runs])) for runs in outcomes]
    step_s = float(np.mean(per_replication))

    def mean(values: list[float]) -> float:
        return float(np.mean(values))

    compute_s = mean([float(o.compute_s.max()) for o in flat])
    optimizer_s = plan.optimizer_s
    bubble_s = plan.bubble_s
    exposed_s = mean([_exposed(o.step_time_s, float(o.compute_s.max()) + optimizer_s + bubble_s) for o in flat])
    barrier_s = mean([float(o.compute_s.max() - o.compute_s.min()) for o in flat])
    comm_s = mean([o.collective_s for o in flat])
    k = scenario.accumulation_steps
    early = (k - 1) * float(analytic_step.no_sync_backward_saving(scenario, model.profile, model.backward_s))
    overhead = analytic_step.step_overhead_seconds(scenario, model.profile)
    single_s = k * (model.forward_s + model.backward_s) - early + overhead + optimizer_s
    analytic = predict(scenario)
    first = flat[0]
    extra: dict[str, Any] = {
        "collectives": first.collectives,
        "buckets": len(plan.gradient_buckets) if scenario.data_parallel > 1 else 0,
        "bucket_bytes": plan.bucket_bytes,
        "gradient_bytes": plan.gradient_bytes,
        **{name: analytic.extra[name] for name in analytic_step.GRADIENT_COLLECTIVE},
        # predict's (always False since stop 49, kept so the record's keys stay)
        "pipeline_tp_phases_left_out": analytic.extra["pipeline_tp_phases_left_out"],
        "single_worker_step_s": single_s,
        "replications": len(outcomes),
        "steps_per_replication": len(outcomes[0]),
        "replication_step_times_s": per_replication,
        "sim_events": counts[0],
        "simulated_collectives": counts[1],
        "worker_compute_max_s": float(first.compute_s.max()),
        "worker_compute_min_s": float(first.compute_s.min()),
        "worker_wait_max_s": float(first.wait_s.max()),
        "worker_comm_max_s": float(first.comm_s.max()),
        "topology": scenario.cluster.topology.kind,
        "tokens_per_step": scenario.tokens_per_step,
    }
    if len(samples) <= PER_WORKER_LIMIT:
        extra["worker_samples"] = samples.tolist()
        extra["worker_compute_s"] = first.compute_s.tolist()
        extra["worker_comm_s"] = first.comm_s.tolist()
        extra["worker_wait_s"] = first.wait_s.tolist()
        extra["worker_end_s"] = first.end_s.tolist()
    return step_result(
        scenario,
        engine="sim",
        fidelity=fidelity,
        step_s=step_s,
        compute_s=compute_s,
        comm_s=comm_s,
        exposed_s=exposed_s,
        bubble_s=bubble_s,
        optimizer_s=optimizer_s,
        barrier_s=barrier_s,
        single_s=single_s,
        memory=(analytic.memory_per_device_bytes, analytic.memory_capacity_bytes, analytic.oom),
        calibrated=profile is not None,
        compute_model=model.how,
        extra=extra,
        step_time_ci95_s=ci95_half_width(per_replication),
    )
