"""Bounded work: the simulator prices a scenario before running it, and refuses what would not finish.

:func:`estimate` counts the work of :func:`dpsim.sim.simulate` from the scenario alone
(nothing is allocated): collectives per step (gradient buckets, ZeRO gathers), the
point-to-point transfers of one collective at the chosen fidelity
(:func:`collective_transfers`), micro-batches, steps and
replications, and the per-step arrays (steps × ranks × micro-batches). It converts the
count to seconds with per-operation costs measured on this code (a chunk-level transfer
is a few simpy events, about :data:`CHUNK_TRANSFER_S`; a fast-level collective is one
numpy pass over the ranks). :func:`check` refuses past :data:`LIMIT_S` unless
``allow_long`` (``dpsim run --allow-long``), and always past :data:`MEMORY_LIMIT_BYTES`,
with the estimate in the message.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dpsim.analytic.step import HYBRID_COLLECTIVES
from dpsim.buckets import bucket_count, piece_count
from dpsim.errors import ScenarioError
from dpsim.rank_speed import NEGLIGIBLE_JITTER_CV
from dpsim.sharding import collective_pieces, parameter_gather_bytes, step_traffic
from dpsim.sim.collectives import candidate_pairs, estimated_apart
from dpsim.sim.collectives.base import Layout
from dpsim.sim.collectives.nccl import channels as rail_channels
from dpsim.sim.collectives.nccl import nvls_heads, pxn_exit, tuner_graph
from dpsim.sim.collectives.p2p import P2P_OPS, p2p_transfers
from dpsim.sim.fidelity import choose_fidelity

if TYPE_CHECKING:
    from dpsim.scenario import Scenario

__all__ = [
    "LIMIT_S",
    "MEMORY_LIMIT_BYTES",
    "PRICING_LIMIT_S",
    "PRICING_ROUTES",
    "Budget",
    "CollectiveBudget",
    "SharedPart",
    "SharedWork",
    "StepWork",
    "check",
    "check_collective",
    "check_jitter_total",
    "check_pricing",
    "check_schedule",
    "check_shared",
    "check_total",
    "dp_collectives",
    "estimate",
    "estimate_collective",
    "hybrid_collectives",
    "hybrid_pricing",
    "jitter_classes_s",
    "jitter_pricing_s",
    "layout_of",
    "pipeline_evaluated_operations",
    "pipeline_operations",
    "priced_transfers",
    "scenario_pricing",
    "shared_work_parts",
    "shared_work_s",
    "sweep_point_s",
]

LIMIT_S = 300.0
"""Estimated run time past which the simulator refuses without ``allow_long`` (5 minutes)."""
MEMORY_LIMIT_BYTES = 8 * 2**30
"""Largest working set the simulator accepts (the per-step arrays; 8 GiB)."""
CHUNK_TRANSFER_S = 2e-6
CHUNK_TRANSFER_PER_RANK_S = 0.25e-6
"""A chunk-level transfer costs about ``CHUNK_TRANSFER_S`` when the ranks move in lock-step (the
network advances whole flow groups: one flat ring all-reduce over 1,024 ranks, 2.1 M
transfers, takes 1.4 s of CPU), and ``CHUNK_TRANSFER_S + span × CHUNK_TRANSFER_PER_RANK_S``
under compute jitter, where flow groups break apart and max-min is recomputed over the
flows of the widest ring (``span``: all ranks for flat algorithms, the nodes for
hierarchical ones). Upper bounds of runs of this code measured with
``benchmarks/budget_check.py`` (GPT-2 XL, flat ring, 5 % jitter: 10.5 µs per transfer at
64 ranks, 20 µs at 128)."""
CALL_S = 400e-6
"""Python overhead of one collective call or micro-batch (measured: 25k 10 KB buckets in 3.7 s
on an idle machine; the bound allows for a loaded one)."""
STEP_S = 2e-3
"""Fixed cost of one simulated step (measured: 200 steps of GPT-2 small on 4 ranks in 0.8 s)."""
ELEMENT_S = 3e-8
"""Seconds per rank per numpy pass (fast level; vectorised over ranks)."""
PIPELINE_OP_S = 80e-6
PIPELINE_OP_BYTES = 1024.0
"""One operation of the event-level pipeline (:func:`dpsim.sim.pipeline.simulate_pipeline`, which only the shared
fabric runs: a forward or backward of one micro-batch's chunk on one stage, and the send it releases): about
40-50 µs and a few hundred bytes of intervals and send log measured (12 stages x 2,000 micro-batches,
48,000 operations in 1.9 s, 127 MB peak); the bound allows for a loaded machine."""


@dataclass(frozen=True)
class Budget:
    """What one :func:`dpsim.sim.simulate` call would do."""

    ranks: int
    fidelity: str
    collectives_per_step: int
    transfers_per_collective: int
    micro_batches: int
    steps: int
    replications: int
    seconds: float
    memory_bytes: float
    pipeline_operations: int = 0
    """Operations of the pipeline schedule (:func:`pipeline_operations`)."""
    pipeline_evaluated: int = 0
    """Those evaluated one by one (:func:`dpsim.analytic.pipeline_schedule.evaluated_operations`)."""

    def describe(self) -> str:
        evaluated = self.pipeline_evaluated
        pipeline = (
            f" + a pipeline schedule of {self.pipeline_operations:,} stage operations"
            + (f" ({evaluated:,} evaluated)" if evaluated < self.pipeline_operations else "")
            if self.pipeline_operations
            else ""
        )
        return (
            f"{self.replications:,} replications x {self.steps:,} steps x ({self.collectives_per_step:,} collectives"
            f" of {self.transfers_per_collective:,} transfers + {self.micro_batches:,} micro-batches){pipeline} on "
            f"{self.ranks:,} ranks at the {self.fidelity} level: about {_duration(self.seconds)}"
        )


def _duration(seconds: float) -> str:
    if seconds >= 86400 * 365:
        return f"{seconds / (86400 * 365):.3g} years"
    if seconds >= 86400:
        return f"{seconds / 86400:.3g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} hours"
    if seconds >= 60:
        return f"{seconds / 60:.3g} minutes"
    return f"{seconds:.3g} s"


def estimate(scenario: Scenario, fidelity: str | None = None) -> Budget:
    """Price one simulation of ``scenario`` without building anything (see the module docstring)."""
    from dpsim.analytic.step import dp_fabric

    t = scenario.training
    dp = scenario.data_parallel
    k = scenario.accumulation_steps
    per_node = max(1, min(dp, scenario.cluster.workers_per_node // max(1, t.tensor_parallel)))
    collectives = round(sum(w.count for w in dp_collectives(scenario)))
    traffic = step_traffic(scenario)
    algorithm = scenario.collective_algorithm  # backend on GPUs: NCCL's own pick
    group = dp_fabric(scenario)  # one data-parallel group's
    layout, protocol = layout_of(group), group.protocol
    transfers = collective_transfers("allreduce", algorithm, protocol, layout)
    requested = fidelity if fidelity is not None else scenario.simulation.fidelity
    symmetric = scenario.variability.compute_jitter_cv == 0 and scenario.variability.rank_speed_sigma == 0
    # HYBRID_SHARD runs its step on one network at chunk level (dpsim.sim.shared.run_on_one_network): every
    # collective simulated (nothing memoised), each rank's program resumed at each of its collectives
    one_network = traffic.replicas > 1 and dp > 1
    try:
        chosen = choose_fidelity(requested, algorithm, layout, collectives, symmetric and not one_network, protocol)
    except ValueError:
        chosen = "fast"
    steps, replications = scenario.simulation.steps, scenario.variability.replications
    compute_s = k * (CALL_S + dp * ELEMENT_S)
    if chosen == "chunk":
        simulated = min(3, collectives) if symmetric and not one_network else collectives
        span = dp if algorithm != "hierarchical" else max(1, dp // per_node)
        per_transfer = CHUNK_TRANSFER_S + (0 if symmetric else span * CHUNK_TRANSFER_PER_RANK_S)
        comm_s = simulated * transfers * per_transfer + collectives * (CALL_S + dp * ELEMENT_S)
        comm_s += collectives * dp * SHARED_POST_S if one_network else 0.0
        setup_s = 0.0
    else:
        comm_s = collectives * (CALL_S + dp * ELEMENT_S)
        setup_s = 3 * 64 * dp * ELEMENT_S  # each distinct schedule is built and priced once, phase by phase
    # the pipeline's schedule is evaluated arithmetically, once per simulation (and by its record)
    ops, evaluated = pipeline_operations(scenario), pipeline_evaluated_operations(scenario)
    seconds = setup_s + evaluated * SCHEDULE_OP_S
    seconds += float(replications) * steps * (STEP_S + compute_s + comm_s)
    memory = 2.0 * 8 * steps * dp * k + 16.0 * (transfers if chosen == "chunk" else dp)
    memory += evaluated * SCHEDULE_OP_BYTES
    return Budget(dp, chosen, collectives, transfers, k, steps, replications, seconds, memory, ops, evaluated)


def layout_of(fabric: Any) -> Layout:
    """The layout a fabric's collectives are built on, as the guard counts them: nodes, GPUs, NICs, NVLS and
    what sets NCCL's channel count (generation, port rate); the rank order is left out (it moves no count)."""
    return Layout.of(fabric, order=False)


def pipeline_operations(scenario: Scenario) -> int:
    """Operations of one step of the event-level pipeline: 2 passes x stages x micro-batches x model chunks."""
    t = scenario.training
    if t.pipeline_parallel <= 1:
        return 0
    chunks = t.virtual_stages if t.pipeline_schedule == "interleaved" else 1
    return 2 * t.pipeline_parallel * scenario.accumulation_steps * chunks


def pipeline_evaluated_operations(scenario: Scenario) -> int:
    """Operations of :func:`pipeline_operations` that one arithmetic evaluation of the schedule runs one by one
    (:func:`dpsim.analytic.pipeline_schedule.evaluated_operations`)."""
    from dpsim.analytic.pipeline_schedule import evaluated_operations

    t = scenario.training
    if t.pipeline_parallel <= 1:
        return 0
    return evaluated_operations(t.pipeline_parallel, scenario.accumulation_steps, t.virtual_stages, t.pipeline_schedule)


FEWER_RANKS = "use fewer ranks"
"""What a refusal asks the user to lower by default: the scenario's ranks (a command names its own option)."""
FEWER_MICRO_BATCHES = "fewer micro-batches (training.micro_batch, global_batch)"


@dataclass(frozen=True)
class StepWork:
    """One kind of work a step repeats, counted from the scenario, with what sets its count."""

    what: str
    count: float
    """How many per step (data-parallel collectives: on one data-parallel group)."""
    fewer: str
    """What lowers the count: the fields that set it (an error's advice)."""


def dp_collectives(scenario: Scenario) -> list[StepWork]:
    """The data-parallel collectives of one step by kind, as :func:`dpsim.sim.simulate` runs them.

    Each kind is cut by its own piece (:func:`dpsim.sharding.collective_pieces`) and repeated as
    :func:`dpsim.sharding.step_traffic` says: gradient reductions of ``communication.bucket`` (DeepSpeed:
    ``reduce_bucket_size``; FSDP: one a wrapped unit), once a step or every micro-batch; ZeRO-3/FSDP gathers
    before each pass (DeepSpeed: ``stage3_prefetch_bucket_size``, or one a layer without prefetch; FSDP: one a
    wrapped unit);
    the post-step gather (DeepSpeed: one over the partition); torch's ZeroRedundancyOptimizer's post-step
    broadcasts; HYBRID_SHARD's replica all-reduce of each reduced piece. Kinds the step does not run are left out.
    """
    t, m, dp = scenario.training, scenario.model, scenario.data_parallel
    if dp <= 1:
        return []
    psi = m.num_parameters / (t.tensor_parallel * t.pipeline_parallel)
    cut = collective_pieces(scenario)
    traffic = step_traffic(scenario)
    gradient_bytes = psi * scenario.gradient_bytes_per_param
    param_bytes = parameter_gather_bytes(scenario, psi)
    ds = scenario.deepspeed
    fsdp = t.optimizer_sharding == "fsdp" and t.zero_stage >= 2  # a gather and a reduce-scatter a wrapped unit
    bucket = "communication.bucket" if ds is None else "training.deepspeed_reduce_bucket_size"
    per_micro_batch = f", {FEWER_MICRO_BATCHES}" if traffic.gradient_reductions > 1 else ""
    # DeepSpeed's IPG buckets of whole tensors where the tensors are known, else equal pieces of the stream
    buckets = (
        len(cut.gradient_buckets) or bucket_count(gradient_bytes, cut.gradient_bucket, cut.gradient_bucket)
    ) * traffic.gradient_reductions
    op = "all-reduces" if scenario.gradient_reduction_op == "allreduce" else "reduce-scatters"
    fewer_buckets = (
        f"fewer layers (one a wrapped unit){per_micro_batch}" if fsdp else f"a larger {bucket}{per_micro_batch}"
    )
    work = [StepWork(f"gradient {op}", buckets, fewer_buckets)]
    if traffic.replicas > 1:
        work.append(StepWork("replica all-reduces", buckets, fewer_buckets))
    if traffic.post_step_gather:
        pieces = math.ceil(param_bytes / cut.post_step_gather)
        fewer = "a larger communication.bucket" if ds is None else "none: DeepSpeed gathers the partition at once"
        work.append(StepWork("post-step parameter all-gathers", pieces, fewer))
    if cut.post_step_broadcasts:  # torch's ZeroRedundancyOptimizer: one a parameter tensor, or one a rank
        fewer = "training.parameters_as_bucket_view: true (one broadcast a rank)"
        work.append(StepWork("post-step parameter broadcasts", len(cut.post_step_broadcasts), fewer))
    gathers = traffic.forward_gathers * piece_count(param_bytes, cut.gather_piece)
    backward = parameter_gather_bytes(scenario, psi, traffic.backward_gather_share, layers=True)
    gathers += traffic.backward_gathers * piece_count(backward, cut.gather_piece)
    if gathers:
        if fsdp:
            piece = "fewer layers (FSDP gathers a wrapped unit at a time)"
        elif ds is None:
            piece = "a larger communication.bucket (each gather's piece)"
        elif ds.prefetch_bucket_size > 0:
            piece = "a larger training.deepspeed_prefetch_bucket_size"
        else:
            piece = "a nonzero training.deepspeed_prefetch_bucket_size (0: a gather a layer)"
        work.append(StepWork("parameter all-gathers before the passes", gathers, f"{FEWER_MICRO_BATCHES}, {piece}"))
    return work


def check(scenario: Scenario, fidelity: str | None = None, allow_long: bool = False) -> Budget:
    """:func:`estimate`, then refuse (:class:`ScenarioError`) what would take too long or too much memory.

    Pricing the step's collectives comes first (:func:`check_pricing`): at a million ranks, or with the
    all-to-all ``direct`` on thousands, it alone takes minutes or gigabytes.
    """
    check_pricing(scenario, allow_long, "sim")
    budget = estimate(scenario, fidelity)
    if budget.memory_bytes > MEMORY_LIMIT_BYTES:
        raise ScenarioError(
            "simulation",
            f"the simulator would need about {budget.memory_bytes / 2**30:,.3g} GiB "
            f"(limit {MEMORY_LIMIT_BYTES / 2**30:g} GiB): {budget.describe()}; reduce simulation.steps, "
            "the number of ranks or micro-batches, or use --engine analytic",
            "<simulator>",
        )
    if budget.seconds > LIMIT_S and not allow_long:
        # every collective call and every micro-batch costs the simulator one call's overhead (CALL_S and a
        # numpy pass): the largest count is what to cut
        calls = [StepWork("micro-batches", budget.micro_batches, FEWER_MICRO_BATCHES), *dp_collectives(scenario)]
        largest = max(calls, key=lambda w: w.count)
        raise ScenarioError(
            "simulation",
            f"this would run for about {_duration(budget.seconds)} (limit {_duration(LIMIT_S)}), most of it "
            f"{largest.count:,.0f} {largest.what} a step ({largest.fewer}); pass --allow-long to run it anyway, or "
            f"reduce simulation.steps / variability.replications, or use --engine analytic: {budget.describe()}",
            "<simulator>",
        )
    return budget


SHARED_STEP_S = 100e-6
SHARED_FLOW_S = 0.3e-6
"""A shared-fabric simulation (:func:`dpsim.sim.shared.simulate_shared`) costs about ``SHARED_STEP_S`` per
simpy event (a group of flows finishing or delivered together: max-min rates recomputed over the flows in
flight; 98 µs for a flat ring over 2 x 64 ranks, 104 µs for TP pairs) plus ``SHARED_FLOW_S`` per flow event
(2,048 nodes x 2 ranks per job: 181 events of 8,192 flows each in 0.34 s)."""
SHARED_RATE_S = 0.06e-6
"""Each route entry (a flow in flight x a column of its route) a max-min recompute of the shared fabric goes over
(:attr:`dpsim.sim.network.FluidNetwork.rate_work`). Where flows share links (8 GPUs a node, ``auto`` or ``tree``)
the recomputes, not the flows ending, are most of the run: ``dpsim run default.yaml default.yaml --shared-fabric
--set cluster.nodes=128 --set training.global_batch=auto`` priced 2.1 s by the two terms above and took 4.5 s of CPU,
and 4,096 nodes ran past minutes unrefused (round 36). Measured 0.047-0.049 us of CPU an entry (32-128 nodes, ``auto``
and ``tree``, 15-62 M entries, the recompute timed alone, load ~4.5); 0.06 is a margin above that, not a fit."""
SHARED_LINK_S = 5e-9
"""Each entry of the fabric's per-link tables (and of the flow pool) that a start, an end of sending, a recompute or a
max-min filling round passes over whole (:attr:`dpsim.sim.network.FluidNetwork.link_work`). The fabric's links grow
with its jobs, and so do the starts and ends, so this part grows as the square of the jobs: 10 / 20 / 40 / 80 copies of
``scenarios/default.yaml`` took 1.80 / 4.09 / 9.21 / 25.15 s of CPU in the event loop, which the three terms above
counted as 3.06 / 5.90 / 11.59 / 22.96 s, so 1,000 copies were counted as under 5 minutes and would have run for
about half an hour (round 37). A least-squares fit of those four runs over the terms above (scaled by 0.46: they
over-count the rest) and these entries (0.12 / 0.36 / 1.22 / 4.44 G) gives 3.3 ns an entry (the load ~4); 5 ns is a
margin above that, not a fit."""


SHARED_POST_S = 20e-6
"""Each collective a rank posts from its step program on a shared fabric (:class:`dpsim.sim.shared._Programs`:
the program resumed, the join recorded; 0.46 s for 5,568 posts of a 16-rank FSDP step under cProfile on a
2-core machine at load 9, about 83 us each, so some 20 us alone)."""


def runs_as_programs(scenario: Scenario) -> bool:
    """Whether a job's DP groups run per-rank step programs on a shared fabric (its collectives feed its
    compute: ZeRO-3/FSDP gathers, reductions every micro-batch, HYBRID_SHARD's two streams) rather than a
    stream of collectives released at known times."""
    traffic = step_traffic(scenario)
    return bool(
        traffic.forward_gathers or traffic.backward_gathers or traffic.replicas > 1 or traffic.gradient_reductions > 1
    )


@dataclass(frozen=True)
class SharedPart:
    """One job's share of a shared-fabric step's work: a kind of work, on how many groups, at what cost."""

    job: str
    work: StepWork
    groups: int
    """Groups running it (data-parallel groups for DP collectives, TP groups for TP all-reduces)."""
    events: float
    """Simpy events of each (a schedule step each; 0: the tuner's schedule, counted as the run goes)."""
    seconds: float
    """Priced before the run (:func:`shared_work_s`)."""

    @property
    def least_events(self) -> float:
        """Simpy events it runs at least: one per collective whatever its schedule."""
        return self.groups * self.work.count * max(1.0, self.events)

    def describe(self) -> str:
        each = [f"{self.groups:,} groups"] if self.groups > 1 else []
        each += [f"{self.events:,.0f} events each"] if self.events > 1 else []
        detail = f" ({', '.join(each)})" if each else ""
        return f"{self.job}'s {self.work.count:,.0f} {self.work.what} a step{detail}; {self.work.fewer}"


def shared_work_parts(scenarios: Sequence[Scenario]) -> list[SharedPart]:
    """What a shared-fabric step is known to cost before it runs, part by part (:func:`shared_work_s`)."""
    from dpsim.analytic import parallel

    parts = []
    for i, s in enumerate(scenarios, 1):
        t, job = s.training, f"job {i}"
        ops = 2 * pipeline_operations(s)
        if ops:
            fewer = f"{FEWER_MICRO_BATCHES} or stages (training.pipeline_parallel, virtual_stages)"
            parts.append(
                SharedPart(job, StepWork("pipeline operations (twice)", ops, fewer), 1, 1, ops * PIPELINE_OP_S)
            )
        steps = _ring_steps(s.collective_algorithm, s.data_parallel, s.cluster.workers_per_node // t.tensor_parallel)
        programs = runs_as_programs(s)
        groups = t.pipeline_parallel * t.tensor_parallel
        for work in dp_collectives(s):
            work = dataclasses.replace(work, fewer=f"{work.fewer}, or fewer ranks")
            seconds = 0.0
            if steps or programs:  # every DP group's collectives, one simpy event per step of its schedule
                seconds = groups * work.count * max(1, steps) * SHARED_STEP_S
                if programs:
                    seconds += groups * work.count * s.data_parallel * SHARED_POST_S
            parts.append(SharedPart(job, work, groups, steps, seconds))
        if t.tensor_parallel > 1 and not parallel.tensor_parallel_overlapped(s):
            per_pass = parallel.layers_per_stage(s) * parallel.tensor_parallel_counts(s)[0]
            count = s.accumulation_steps * max(2.0, per_pass)
            fewer = f"{FEWER_MICRO_BATCHES}, layers a stage (model.layers, training.pipeline_parallel) or TP ranks"
            work = StepWork("tensor-parallel all-reduces", count, fewer)
            ring = 2 * (t.tensor_parallel - 1)
            tp_groups = t.pipeline_parallel * s.data_parallel
            parts.append(SharedPart(job, work, tp_groups, ring, tp_groups * count * ring * SHARED_STEP_S))
    return parts


def shared_work_s(scenarios: Sequence[Scenario]) -> float:
    """What a shared-fabric step is known to cost before it runs: collectives and pipeline schedules.

    Each pipelined job's schedule runs twice (once as released, once with the sends as they took);
    each tensor-parallel collective is one simpy event per ring step (``2 (tp - 1)``), and so is each
    DP collective whose schedule is fixed before NCCL's tuner runs (ring, direct, hierarchical: ``auto``
    and trees are left to :class:`SharedWork`'s count as the run goes). A job run as per-rank programs
    (:func:`runs_as_programs`) is priced at one event at least per collective whatever its schedule, plus
    :data:`SHARED_POST_S` per rank and collective.
    """
    return sum(p.seconds for p in shared_work_parts(scenarios))


def _ring_steps(algorithm: str, world: int, per_node: int) -> int:
    """Steps of one all-reduce whose count is known before the tuner runs (``auto`` and trees: 0, not priced)."""
    n, g = world, max(1, min(world, per_node))
    if n <= 1:
        return 0
    if algorithm in ("ring", "direct", "backend") or (algorithm == "hierarchical" and g in (1, n)):
        return 2 * (n - 1)
    if algorithm == "hierarchical":
        return 2 * (g - 1) + 2 * (n // g - 1)
    return 0


def check_shared(scenarios: Sequence[Scenario], allow_long: bool = False) -> SharedWork:
    """Refuse (:class:`ScenarioError`) a shared-fabric step whose known cost is past :data:`LIMIT_S`.

    The message names the part that costs most and the fields that set its count (a larger bucket cuts
    gradient buckets, not ZeRO-3's per-layer gathers nor tensor-parallel all-reduces). Returns the
    :class:`SharedWork` that keeps counting as the step runs.
    """
    parts = shared_work_parts(scenarios)
    seconds = sum(p.seconds for p in parts)
    memory = sum(2 * pipeline_operations(s) * PIPELINE_OP_BYTES for s in scenarios)
    if memory > MEMORY_LIMIT_BYTES:
        raise ScenarioError(
            "simulation",
            f"the shared fabric's pipeline schedules would need about {memory / 2**30:,.3g} GiB (limit "
            f"{MEMORY_LIMIT_BYTES / 2**30:g} GiB); {FEWER_MICRO_BATCHES} or stages, or run the jobs alone",
            "<simulator>",
        )
    if seconds > LIMIT_S and not allow_long:
        largest = max(parts, key=lambda p: p.seconds)
        raise ScenarioError(
            "simulation",
            f"the shared fabric's step would run for about {_duration(seconds)} (limit {_duration(LIMIT_S)}); pass "
            f"--allow-long to run it anyway. Most of it, {_duration(largest.seconds)}: {largest.describe()}",
            "<simulator>",
        )
    return SharedWork(allow_long, seconds, parts)


class SharedWork:
    """Counts a shared-fabric run's work as it goes and stops it past :data:`LIMIT_S` (unless ``allow_long``).

    Deterministic: the count is simpy events and flow events, not wall time, so the same input
    stops at the same point on any machine. ``parts`` (:func:`shared_work_parts`) name the work in the error.
    """

    def __init__(self, allow_long: bool = False, spent_s: float = 0.0, parts: Sequence[SharedPart] = ()) -> None:
        self.allow_long = allow_long
        self.spent_s = spent_s
        self.parts = tuple(parts)

    def over(self, steps: int, flow_events: int, rate_work: int = 0, link_work: int = 0) -> bool:
        return not self.allow_long and self.spent(steps, flow_events, rate_work, link_work) > LIMIT_S

    def spent(self, steps: int, flow_events: int, rate_work: int = 0, link_work: int = 0) -> float:
        """Seconds of CPU the run has cost by the model: priced before it plus its events, max-min recomputes and
        passes over the link tables."""
        return (
            self.spent_s
            + steps * SHARED_STEP_S
            + flow_events * SHARED_FLOW_S
            + rate_work * SHARED_RATE_S
            + link_work * SHARED_LINK_S
        )

    def error(
        self, steps: int, flow_events: int, simulated_s: float, rate_work: int = 0, link_work: int = 0
    ) -> ScenarioError:
        # the run's events: every collective's, including those whose schedule NCCL's tuner picks as it goes
        largest = (
            ". Most events: " + max(self.parts, key=lambda p: p.least_events).describe()
            if self.parts
            else ", or use fewer ranks or micro-batches"
        )
        return ScenarioError(
            "simulation",
            f"the shared fabric passed its work limit ({_duration(LIMIT_S)} by its cost model: {steps:,} simpy events"
            f", {flow_events:,} flow events, {rate_work:,} flow rates recomputed and {link_work:,} link-table entries "
            f"passed over, {simulated_s * 1e3:.4g} ms into "
            f"the step); pass --allow-long to run it anyway{largest}",
            "<simulator>",
        )


PRICE_TRANSFER_S = 0.55e-6
PRICE_HELD_BYTES = 10.0
PRICE_PHASE_BYTES = 330.0
"""Pricing one collective (:func:`dpsim.analytic.collectives.collective`, and again the fast level's
:class:`~dpsim.sim.fast.FastEngine`) builds the schedule of every candidate algorithm and routes each
distinct phase of every (algorithm, protocol) over the cluster's links (:func:`dpsim.sim.cost.phase_cost`):
about ``PRICE_TRANSFER_S`` of CPU per transfer routed (:func:`priced_transfers` counts them as
``phase_cost`` routes them); the schedules are held at once (``PRICE_HELD_BYTES`` a transfer) and the
largest phase is routed as a whole (``PRICE_PHASE_BYTES`` a transfer). Measured with ``dpsim collective``
(CPU time per transfer routed, counted by wrapping ``cost._transfer_times``): ``auto`` 0.35 us on 8,192
ranks, 0.43 on 65,536, 0.50 on 262,144 (13.3 s), 0.43 on 1,048,576 (46.5 s, peak 5.8 GB with a tree
phase of 18.9 M); ``direct`` 0.31 us on 1,024 ranks, 0.35 on 2,048 (and 3.5 GB on 4,096, phases of
16.8 M). The bound used to be 1.5 us a transfer over a count that put ``auto`` 1.4x high (its tree phase
counted as 4(n-1) a channel): about 5x the CPU time measured; ``direct`` and halving-doubling were counted
at half (their phases are routed twice, :func:`dpsim.sim.cost.lock_step`). Those times include a tree's phase
routed a second time for its fill, which the count left out; each phase is routed once now (``Cluster.routes``
counts what this charges): ``dpsim collective --set cluster.nodes=32768 --size 1MiB`` (262,144 ranks, ``auto``)
took 16.5-18.9 s of CPU (user + sys, the whole command, loaded machine) before, 13.5-14.8 s after. A phase an
all-reduce runs in both halves (``direct``'s all-to-all, a ring's step, hierarchical's rings) is routed once and
charged at each run, as this was fitted (:func:`priced_transfers`)."""
PRICE_HOP_S = 0.2e-6
PRICE_HOP_BYTES = 32.0
"""On a ring of nodes (``cluster.topology.kind: ring``, :class:`dpsim.sim.topology.RingTopology`) a phase's routes
are one column per link, padded to the phase's longest route: up to ⌊nodes/2⌋ links when its pairs sit far apart
(NCCL's tree, ``direct``, halving-doubling, a parameter server, point-to-point; not a node-major ring's
neighbours). Each far transfer costs ``PRICE_HOP_S`` of CPU and the largest phase ``PRICE_HOP_BYTES`` per link
of that width on top of :data:`PRICE_TRANSFER_S`. Measured with ``dpsim run`` (``auto``, 8 GPUs a node, one
NIC) on the loaded shared machine: 2,048 / 4,096 / 8,192 nodes took 6.9 / 48 / 358 s and 1.0 / 3.8 / 14.9 GB
(peak RSS), 25 B and 0.06-0.2 us per (tree transfer x link); the guard priced them as 0.1-0.5 s and 0.02-0.05
GiB before, and 8,192 nodes ran out of memory."""
PRICING_ROUTES = 1
"""HYBRID_SHARD's groups' collectives are priced (:func:`dpsim.sim.cost.phase_cost`) once each, on their groups'
layouts (:func:`hybrid_pricing`), with the links each phase loads taken from the routes that price it
(:attr:`dpsim.sim.cost.LinearCost.uses`: the two streams share links, :func:`dpsim.analytic.collectives.
collective_job`, :meth:`dpsim.sim.engine.CollectiveEngine.job`): a replica group holds one rank a node (or a few), a
shard group sits inside a node, where NCCL's tree is one pipelined phase, routed once for its price and its fill.
(Its fill routed it a second time, :func:`dpsim.sim.cost.pipeline_fill`, and this was 2: ``auto`` on Llama 2 7B over
4 nodes x 8 H100, replica groups of 4 ranks, routed 96 transfers a group where :func:`priced_transfers` counts 60.
The link loads were a pass of their own, every candidate built, tiled and routed once more, charged as one more
route a transfer: Llama 2 7B over 4,096 nodes x 8 H100, ``auto``, shard groups of 8, when that pass and the tree's
fill routed each phase again, 1.38 M transfers routed in 0.33 s, 0.24 us each.) Not counted: the two floats a link
each phase keeps (``LinkUse``)."""
PRICING_LIMIT_S = 30.0
"""Estimated pricing (CPU) past which ``dpsim collective``, ``run``, ``sweep`` and ``plan`` refuse without
``--allow-long`` (30 s: the closed forms answer in seconds; on a loaded machine the wall time ran 2x the
CPU time, 95 s for 46.5 s, and ``tests/hostile.py`` calls a command still running after 60 s a hang).
By the estimate, ``auto`` on 262,144 ranks prices in 13 s, on 1,048,576 in 54 s."""


def priced_transfers(op: str, algorithm: str, protocol: str, layout: Layout, far: bool = False) -> tuple[int, int, int]:
    """(transfers routed, transfers held, transfers of the largest phase) when one ``op`` is priced on ``layout``.

    Counts what :func:`dpsim.sim.collectives.candidates` builds (:func:`~dpsim.sim.collectives.candidate_pairs`:
    ``auto``: ring and tree, NVLS when the node switch reduces; ``protocol: auto``: LL, LL128 and Simple, less
    what ``NCCL_ALGO`` / ``NCCL_PROTO`` or PCIe leave out, which share a schedule's transfers but are routed each)
    and the phases :func:`dpsim.sim.cost.phase_cost` routes, each distinct phase once, charged at each run of it
    (:func:`schedule_phases`): a ring all-reduce's 2(n-1) steps repeat one pattern of n transfers a channel in each
    half, a tree is one phase of :func:`_tree_phase` a channel (its fill routed with it), NVLS one of
    :func:`_nvls_phase`, ``direct`` its all-to-all phase of n(n-1) in each half. A phase an all-reduce runs again
    (its all-gather half over its reduce-scatter half's pairs) is routed once and held once
    (:func:`_distinct_phases`), but charged again: :data:`PRICE_TRANSFER_S` was fitted on ``auto`` with the ring's
    phase routed at both runs, and the guard keeps that charge (the CPU that routing it once saves is less than the
    routes: ``dpsim plan --model gpt2-small --tokens 20B --max-devices 1048576 --min-devices 262144 --global-batch
    1048576 --simulate 0 --tp 1 --pp 1 --zero 0 --micro-batch 1``, a ring on up to 1,048,576 ranks, charged 52.5 s,
    took 71.8 s of CPU routed twice, 52.8 s routed once; ``direct``: :func:`_charged_twice`).
    The channels are the ones the schedules
    are built with (:func:`dpsim.sim.collectives.nccl.channels`: ``min(nics, G, 32)`` rails, or the NICs of
    NCCL's ring search on NVSwitch nodes (15 on a GB200 NVL72); on nodes with more NICs than GPUs
    ``min(nics/G, ⌊PCIe/speed⌋)`` a GPU, up to 32). Nothing is built. ``far``: only the
    transfers of schedules whose pairs may sit far apart on a ring of nodes (:data:`PRICE_HOP_S`): not a ring's
    or a hierarchical ring's, whose node-major neighbours are one link apart.
    """
    if layout.world <= 1:
        return 0, 0, 0
    pairs = candidate_pairs(op, algorithm, layout, protocol)
    estimated = 2 if estimated_apart(layout, pairs) else 1  # NCCL's estimates of another release's, priced apart
    if op in P2P_OPS:  # one phase of every pair's transfers (relay legs, NIC splits), once per protocol (all far)
        phase = p2p_transfers(op, layout)
        # NCCL's all-to-all (p2p.nccl_alltoall) is direct's phase of n(n-1) pairs, routed once: charged twice as
        # direct's is (_charged_twice: the kernel's page faults on the phase's fresh arrays). Charged once, 3,000 ranks
        # of gloo (the CPU scenario on 1,500 nodes: 9.0 M transfers) were priced as 4.95 s and took 5.9-6.0 s of
        # CPU, 4.0 of it system time (21 s wall at load 7.8; 26-43 s wall in stop 41's hostile probe)
        again = 2 if op == "alltoall" else 1
        return again * estimated * len(pairs) * phase, phase, phase
    runs: dict[str, list[str]] = {}  # the protocols of each algorithm: each routes its phases, one is held at once
    for name, proto in pairs:
        runs.setdefault(_runs_as(op, name, layout), []).append(proto)
    routed = held = largest = 0
    for name, protocols in runs.items():
        binomial = op in ("broadcast", "reduce") and protocols == ["none"]
        if far and name in ("ring", "hierarchical", "backend") and not layout.slots and not binomial:
            continue  # node-major neighbours: one link of the ring apart
        phases = [transfers for transfers, _ in schedule_phases(op, name, protocols[0], layout)]
        again = 2 if _charged_twice(op, name, binomial, phases) else 1
        routed += estimated * len(protocols) * again * sum(phases)  # every phase at each run
        held += estimated * _distinct_phases(op, name, protocols[0], layout)  # the estimates are held beside
        largest = max(largest, max(phases))
    host_tree = layout.host_topology and tuner_graph("tree", layout) is None  # cost.host_tree_scale prices them
    if op == "allreduce" and host_tree and not far and any(a == "tree" and p != "none" for a, p in pairs):
        # NCCL's tree estimate on a host topology: the textbook ring and tree priced once (cost.host_tree_scale)
        routed += sum(t for name in ("ring", "tree") for t, _ in schedule_phases("allreduce", name, "none", layout))
    return routed, held, largest


def _runs_as(op: str, name: str, layout: Layout) -> str:
    """The schedule ``name`` builds for ``op`` (:func:`dpsim.sim.collectives.build`): another collective than the
    all-reduce runs a ring (``hierarchical`` across nodes: its two-level half; ``backend``: gloo's one ring)."""
    if op == "allreduce" or name == "backend":  # gloo's reduce-scatter / all-gather: the one ring of its all-reduce
        return name
    return "hierarchical" if name == "hierarchical" and 1 < layout.per_node < layout.world else "ring"


def schedule_phases(op: str, name: str, protocol: str, layout: Layout) -> list[tuple[int, int]]:
    """(transfers, repeat) of each phase of the schedule of ``op`` with the concrete algorithm ``name`` and
    ``protocol`` on ``layout`` (:func:`dpsim.sim.collectives.build`), as it lays them out, without building it: the
    pricing routes each phase once (:func:`dpsim.sim.cost.phase_cost`, :func:`priced_transfers`), the chunk level
    runs each ``repeat`` times (:func:`collective_transfers`).

    A ring's 2(n-1) steps repeat one pattern of n transfers a channel (and its PXN legs; on PCIe nodes the
    receive-only SHM step rides on its host-memory edges' transfers), a tree is one pipelined phase of
    :func:`_tree_phase` a channel, NVLS one of :func:`_nvls_phase`, ``direct`` the all-to-all phase of n(n-1) twice;
    ``hierarchical`` rings inside the nodes (G-1 steps) and across them (M-1 steps), each way; halving-doubling
    ``2 log2 p`` exchange steps of ``p = 2^⌊log2 n⌋`` ranks, and the ``n - p`` extra ranks' send and return; a parameter
    server the push and the pull of n transfers; gloo's binomial tree (a broadcast or reduce without protocol) ⌈log2
    n⌉ doubling rounds of n-1 sends in all. Point-to-point operations are one phase
    (:func:`~dpsim.sim.collectives.p2p.p2p_transfers`).
    """
    n, g = layout.world, layout.per_node
    if n <= 1:
        return []
    if op in P2P_OPS:
        return [(p2p_transfers(op, layout), 1)]
    name = _runs_as(op, name, layout)
    channels = rail_channels(layout)
    relays = channels * layout.nodes if pxn_exit(layout) else 0  # a ring's PXN legs, one a channel and node exit
    ring = n * channels + relays
    if op in ("broadcast", "reduce") and protocol == "none":  # gloo's binomial tree: round i, min(2^i, n - 2^i) sends
        rounds = [(min(1 << i, n - (1 << i)), 1) for i in range(math.ceil(math.log2(n)))]
        return rounds if op == "broadcast" else rounds[::-1]  # a reduce runs it backwards
    if op in ("broadcast", "reduce") and name == "ring":  # NCCL's chain from the root (reversed): n - 1 a channel
        return [((n - 1) * channels + (channels * (layout.nodes - 1) if relays else 0), 1)]
    if op != "allreduce":
        if name == "backend":  # gloo's reduce-scatter / all-gather: one channel through the ranks in order
            return [(n, n - 1)]
        if name == "hierarchical":
            m = n // g
            inner, outer = (n, g - 1), (n, m - 1)
            return [inner, outer] if op == "reduce_scatter" else [outer, inner]
        return [(ring, n - 1)]
    if name == "backend":  # gloo's ring: one channel through the ranks in order
        return [(n, n - 1)] * 2
    if name == "ring" or (name == "hierarchical" and g in (1, n)):
        return [(ring, n - 1)] * 2
    if name == "hierarchical":  # ring steps inside the nodes, across them, across them, inside them
        m = n // g
        return [(n, g - 1), (n, m - 1), (n, m - 1), (n, g - 1)]
    if name == "direct":
        return [(n * (n - 1), 1)] * 2
    if name == "tree":
        return [(channels * _tree_phase(n, g), 1)]
    if name in ("nvls", "nvls-tree"):
        return [(_nvls_phase(layout), 1)]
    if name == "halving-doubling":
        p = 1 << (n.bit_length() - 1)
        steps = [(p, 1)] * (2 * (p.bit_length() - 1))
        return [(n - p, 1), *steps, (n - p, 1)] if n > p else steps
    return [(n, 1)] * 2  # parameter server: push, then pull


def collective_transfers(op: str, algorithm: str, protocol: str, layout: Layout) -> int:
    """Point-to-point transfers the chunk level runs for one ``op`` on ``layout`` (:attr:`dpsim.sim.collectives.base.
    Schedule.transfers`: every phase's transfers times its repeats, :func:`schedule_phases`), of the candidate of
    ``algorithm`` and ``protocol`` that has the most (``auto`` runs one, the tuner's pick at each size:
    :func:`~dpsim.sim.collectives.candidate_pairs`). Nothing is built; what ``simulation.fidelity: auto`` chooses by
    (:func:`dpsim.sim.fidelity.choose_fidelity`) and the cost guard charges the chunk level."""
    return max(
        (sum(t * r for t, r in schedule_phases(op, name, proto, layout))
         for name, proto in candidate_pairs(op, algorithm, layout, protocol)),
        default=0,
    )  # fmt: skip


def _distinct_phases(op: str, name: str, protocol: str, layout: Layout) -> int:
    """Transfers of the distinct phases of :func:`schedule_phases`, which pricing routes once each and a schedule
    holds once (:func:`dpsim.sim.cost.phase_cost`): an all-reduce's all-gather half runs its reduce-scatter half's
    phases again over the same pairs, one phase object in both halves, for a ring (and gloo's ring), ``direct``'s
    all-to-all and hierarchical's inner and outer rings (:func:`dpsim.sim.collectives.hierarchical.
    hierarchical_allreduce`; one ring on one GPU a node or one node)."""
    phases = [transfers for transfers, _ in schedule_phases(op, name, protocol, layout)]
    if op != "allreduce" or name not in ("ring", "backend", "direct", "hierarchical"):
        return sum(phases)
    two_level = name == "hierarchical" and 1 < layout.per_node < layout.world
    return sum(phases) - phases[0] - (phases[1] if two_level else 0)


def _charged_twice(op: str, name: str, binomial: bool, phases: Sequence[int]) -> bool:
    """Whether the guard charges a schedule's phases twice: where pricing routes them a second time, the fluid run
    (:func:`dpsim.sim.cost.fluid_seconds_per_byte`) where the ranks leave lock step (:func:`dpsim.sim.cost.lock_step`:
    some rank idle before a phase ends).

    gloo's binomial tree (a broadcast, or a reduce without protocol) over more than two ranks leaves lock step: in
    each round but the last, ranks that hold nothing yet wait (on two ranks it is one round). Halving-doubling on
    ranks not a power of two leaves it (the extra ranks wait through the exchanges), and on a power of two where the
    placement makes some pairs' exchanges lighter than others' (a rank order, a host topology's PCIe switches, a fat
    tree's leaves of a size not a power of two), which the layout does not show: charged as if it did. A parameter
    server keeps it (every transfer goes through the server's port): charged once (it was charged twice). ``direct``
    keeps it too: its schedule runs its one all-to-all phase twice, routed once and charged at both runs
    (:func:`priced_transfers`), which covers its cost: the phase of n(n-1) costs more than :data:`PRICE_TRANSFER_S`
    a transfer routed, the more the larger it is, and the excess is the kernel's, not numpy's: page faults on the
    phase's fresh arrays (its routes, transfers x hops, and their temporaries; numpy asks for huge pages, which the
    kernel compacts memory to give).
    ``dpsim collective --set communication.algorithm=direct --size 1MiB`` (``benchmarks/pricing_cpu.py --cases
    direct``, median of 3, CPU user + system of the whole command, start-up 0.5 s included, loaded 2-core machine)
    on 1,024 / 2,048 / 4,096 ranks: 0.78 / 2.65 / 9.8 s, 0.08 / 1.38 / 6.0 s of it system time (14.6 and 18.2 s at
    4,096 in two other runs, 10.6 and 14.5 s system: it varies with the machine's memory), peak 0.28 / 0.95 / 3.4 GB
    (0.27, 0.51, 0.55 us a transfer routed, start-up left out). Charged twice: 1.2 / 4.6 / 18.5 s. When the phase was
    routed twice, its lock-step check sorted every endpoint and its envelope every transfer, and a route matrix was
    copied whole, it took 1.09 / 5.44 / 29.5 s (system 0.10 / 2.70 / 20.7 s; 37.9 s in an earlier run), peak 4.3 GB
    at 4,096."""
    if binomial:
        return len(phases) > 1
    return op == "allreduce" and name == "halving-doubling"


def _nvls_phase(layout: Layout) -> int:
    """Transfers of NCCL's NVLS all-reduce (:func:`dpsim.sim.collectives.nccl.nvls_allreduce`), its one phase: every
    ordered GPU pair of each node through the switch, G(G-1) a node; across nodes (NVLS-tree) the double binary tree
    of each head's rail, each up and down its nodes-1 edges: 4(nodes-1) a head (:func:`~dpsim.sim.collectives.nccl.
    nvls_heads`). (Counting 4 a GPU for the tree put ``auto`` on 4 nodes x 8 H100 0.8 % above what it routes.)"""
    nodes, g = layout.nodes, layout.per_node
    tree = 4 * nvls_heads(layout) * (nodes - 1) if nodes > 1 else 0
    return nodes * g * (g - 1) + tree


def _tree_phase(world: int, per_node: int) -> int:
    """Transfers of one channel of NCCL's tree all-reduce (:mod:`dpsim.sim.collectives.nccl`), its one phase.

    Inside each node a chain of ``g`` GPUs, reduced up and broadcast down: 2(g-1) transfers a node;
    across the nodes the double binary tree (two trees, each up and down its nodes-1 edges): 4(nodes-1).
    (Counting 4(n-1) a channel, as if every GPU were a tree node, put ``auto`` about 1.4x and ``tree``
    1.6-2x above the transfers actually routed.)
    """
    g = max(1, min(world, per_node))
    nodes = max(1, world // g)
    return 2 * nodes * (g - 1) + 4 * (nodes - 1)


@dataclass(frozen=True)
class CollectiveBudget:
    """What ``dpsim collective`` would do: price the collective, and with the simulator evaluate each size."""

    op: str
    algorithm: str
    ranks: int
    transfers: int
    points: int
    engine: str
    fidelity: str
    pricing_s: float
    seconds: float
    memory_bytes: float
    hops: int = 0
    """Links of the longest route on a ring of nodes the pricing pads its far transfers' routes to (0: none)."""

    def describe(self) -> str:
        sim = ""
        if self.engine == "sim":
            sizes = f"{self.points:,} size{'s' if self.points != 1 else ''}"
            sim = f", then {sizes} at the {self.fidelity} level" if self.points else " (twice: the simulator's too)"
        ring = f" over up to {self.hops:,} links of a ring" if self.hops else ""
        return (
            f"pricing {self.op} ({self.algorithm}) on {self.ranks:,} ranks routes about {self.transfers:,} "
            f"transfers{ring}{sim}: about {_duration(self.seconds)} and {self.memory_bytes / 2**30:,.3g} GiB"
        )


def estimate_collective(
    op: str,
    algorithm: str,
    protocol: str,
    layout: Layout,
    engine: str,
    points: int,
    chunk_max_ranks: int,
    hops: int = 0,
) -> CollectiveBudget:
    """Price ``dpsim collective`` from its cluster's layout alone (see :data:`PRICE_TRANSFER_S`); ``hops``: the
    longest route of a ring of nodes (:func:`ring_hops`), which the far transfers' routes are padded to."""
    world = layout.world
    transfers, held, largest = priced_transfers(op, algorithm, protocol, layout)
    pricing_s = transfers * PRICE_TRANSFER_S
    memory = held * PRICE_HELD_BYTES + largest * PRICE_PHASE_BYTES
    if hops > 1:
        far_routed, _, far_largest = priced_transfers(op, algorithm, protocol, layout, far=True)
        pricing_s += far_routed * hops * PRICE_HOP_S
        memory += far_largest * hops * PRICE_HOP_BYTES
    seconds, fidelity = pricing_s, "analytic"
    if engine == "sim" and world > 1:
        if world <= chunk_max_ranks:  # the chunk level runs every transfer of every size
            fidelity = "chunk"
            chunk = collective_transfers(op, algorithm, protocol, layout)
            seconds += points * chunk * CHUNK_TRANSFER_S
            memory = max(memory, 16.0 * chunk)
        else:  # the fast level prices the schedules again, then one numpy pass a phase for each size
            fidelity = "fast"
            seconds += pricing_s + points * 64 * world * ELEMENT_S
    return CollectiveBudget(
        op, algorithm, world, transfers, points, engine, fidelity, pricing_s, seconds, memory, hops if hops > 1 else 0
    )


def ring_hops(fabric: Any) -> int:
    """Links of the longest shortest-direction route on the fabric's ring of nodes (``cluster.topology.kind:
    ring``: ⌊nodes/2⌋), else 0: a switch or fat tree routes through a few links, which :data:`PRICE_TRANSFER_S`
    covers."""
    return int(fabric.nodes) // 2 if fabric.topology == "ring" else 0


def scenario_pricing(scenario: Scenario, engine: str = "analytic") -> CollectiveBudget:
    """What pricing a training step's data-parallel collectives costs, as the engines price them.

    The analytic engine prices each operation the step runs on one data-parallel group once: the gradients'
    collective (all-reduce, or reduce-scatter into the shard), with ZeRO or FSDP the parameter gathers (priced as
    the reduce-scatter, which costs the same: :func:`dpsim.analytic.step.gather_time`), torch's post-step
    broadcasts. HYBRID_SHARD prices the gradients' collective on the whole group once (the bucket's choice), then
    its groups' (:func:`hybrid_pricing`): the shard groups' reduce-scatter (their gathers cost the same) and the
    replica groups' all-reduce, each on its own group, with their link loads. The simulator (``engine="sim"``)
    prices the analytic step, then its fast level the schedules again, a gather as an all-gather of its own;
    HYBRID_SHARD's fast level prices nothing on the whole group, only what its step program posts in the groups
    (:func:`hybrid_collectives`: the shard groups' reduce-scatter and all-gather, the replica groups' all-reduce),
    each with the links every candidate loads.
    (Charging an all-reduce, a reduce-scatter and an all-gather to every ZeRO or FSDP FULL_SHARD step put
    ``auto`` at 6.6x the transfers it routes, ``direct`` at 17.5x.)
    """

    group, ops, algorithm, shard, fast_ops, fast_groups = _pricing_key(scenario)
    layout, hops = layout_of(group), ring_hops(group)

    def priced(names: Sequence[str]) -> list[CollectiveBudget]:
        return [estimate_collective(op, algorithm, group.protocol, layout, "analytic", 1, 0, hops) for op in names]

    parts = priced(ops)
    if shard:
        parts.append(hybrid_pricing(algorithm, group.protocol, layout, shard, hops))
    pricing_s = sum(p.pricing_s for p in parts)
    seconds = pricing_s
    if engine == "sim":  # the fast level: HYBRID_SHARD's collectives in their groups only (hybrid_collectives)
        seconds += sum(p.pricing_s for p in priced(fast_ops))
        if shard:
            seconds += hybrid_pricing(algorithm, group.protocol, layout, shard, hops, fast_groups).pricing_s
    return CollectiveBudget(
        " + ".join(p.op for p in parts), algorithm, group.world_size, sum(p.transfers for p in parts), 0,
        engine, "analytic" if engine == "analytic" else "fast", pricing_s, seconds,
        sum(p.memory_bytes for p in parts), parts[0].hops,
    )  # fmt: skip


def hybrid_collectives(scenario: Scenario) -> tuple[tuple[str, bool], ...]:
    """HYBRID_SHARD's collectives as the simulator's step program posts them (:func:`dpsim.sim.training.step_program`),
    each (op, in the replica groups): the gradients' reduction (:attr:`~dpsim.sim.training.StepPlan.gradient_op`) and
    the parameter all-gathers (:attr:`~dpsim.sim.training.StepPlan.gathers`) in the shard groups, each reduced shard's
    all-reduce in the replica groups. Nothing on the whole data-parallel group: the fast level prices each in its
    groups (:meth:`dpsim.sim.engine.CollectiveEngine.job`), every candidate and the links every candidate loads."""
    traffic = step_traffic(scenario)
    gathers = traffic.forward_gathers + traffic.backward_gathers > 0 or traffic.post_step_gather
    shard = [scenario.gradient_reduction_op, *(["all_gather"] if gathers else [])]
    return (*((op, False) for op in shard), ("allreduce", True))


def hybrid_pricing(
    algorithm: str,
    protocol: str,
    layout: Layout,
    shard: int,
    hops: int = 0,
    collectives: Sequence[tuple[str, bool]] = HYBRID_COLLECTIVES,
) -> CollectiveBudget:
    """What HYBRID_SHARD's groups cost to price over groups of ``shard`` ranks on ``layout``: each of ``collectives``
    ((op, in the replica groups): the analytic engine's :data:`~dpsim.analytic.step.HYBRID_COLLECTIVES`, the list its
    step reads; the fast level's :func:`hybrid_collectives`) in every group of its kind, counted on its group's layout
    (:meth:`dpsim.sim.collectives.groups.Groups.layout`) times the groups, as the engines tile them: priced with the
    links each phase loads (:data:`PRICING_ROUTES`).
    (Counting the reduce-scatter, all-gather and all-reduce on the whole data-parallel group instead charged Llama 2
    7B on 32,768 ranks, ``auto``, 6.65 M transfers where the step routes 3.24 M; now 3.54 M. The fast level was
    charged the analytic engine's list plus a reduce-scatter on the whole group, which it never routes, and not the
    shard groups' all-gather it routes, and it loaded the links of the chosen candidates only: shard groups of 16 on
    4 x 8 H100, ``Simple``, 1,024 charged for 1,216 routed; now 1,280 both.)"""
    from dpsim.sim.collectives.groups import Groups

    routes = PRICING_ROUTES
    transfers, held, largest, far = 0, 0, 0, 0
    kinds = Groups.hybrid(layout.world, shard)
    for op, replicas in collectives:
        groups = kinds[1] if replicas else kinds[0]
        part = groups.layout(layout)
        count = layout.world // groups.size
        routed, kept, widest = priced_transfers(op, algorithm, protocol, part)
        transfers += routes * count * routed
        held, largest = held + count * kept, max(largest, count * widest)
        if hops > 1:
            far += routes * count * priced_transfers(op, algorithm, protocol, part, far=True)[0]
    seconds = transfers * PRICE_TRANSFER_S + far * hops * PRICE_HOP_S
    where = [
        f"{op} in the {'replica groups' if replicas else f'shard groups of {shard:,}'}" for op, replicas in collectives
    ]
    return CollectiveBudget(
        f"{' + '.join(where)}, with their link loads",
        algorithm, layout.world, transfers, 0, "analytic", "analytic", seconds, seconds,
        held * PRICE_HELD_BYTES + largest * PRICE_PHASE_BYTES, hops if hops > 1 else 0,
    )  # fmt: skip


def _pricing_key(scenario: Scenario) -> tuple[Any, list[str], str, int, list[str], tuple[tuple[str, bool], ...]]:
    """What pricing a step's collectives depends on: the data-parallel group, the operations the analytic engine
    prices on the whole group, the algorithm, HYBRID_SHARD's shard group (0: none; its groups' collectives,
    :func:`hybrid_pricing`), the operations the simulator's fast level prices on the whole group (HYBRID_SHARD: none)
    and those it prices in HYBRID_SHARD's groups (:func:`hybrid_collectives`)."""
    from dpsim.analytic.step import algorithm_of, dp_fabric

    traffic = step_traffic(scenario)
    gathers = not traffic.replicas > 1 and (
        traffic.post_step_gather or traffic.forward_gathers + traffic.backward_gathers > 0
    )  # HYBRID_SHARD gathers in its shard groups
    reduction = scenario.gradient_reduction_op
    broadcast = ["broadcast"] if traffic.post_step_broadcast else []
    ops = list(dict.fromkeys([reduction, *(["reduce_scatter"] if gathers else []), *broadcast]))
    hybrid = traffic.replicas > 1
    fast_ops = [] if hybrid else [reduction, *(["all_gather"] if gathers else []), *broadcast]
    return (
        dp_fabric(scenario),
        ops,
        algorithm_of(scenario),
        traffic.shard_ranks if hybrid else 0,
        fast_ops,
        hybrid_collectives(scenario) if hybrid else (),
    )


def check_total(
    scenarios: Iterable[tuple[str, Scenario]],
    what: str,
    allow_long: bool = False,
    engine: str = "analytic",
    checked_when_run: bool = False,
    fewer: str | None = None,
) -> float:
    """Refuse a command that runs many scenarios (``sweep``'s points, ``plan``'s screen) past the limits in all.

    Each distinct data-parallel group is priced once (the analytic engine keeps its prices:
    ``analytic.collectives._priced``); with the simulator (``engine="sim"``) every scenario's simulation
    (:func:`estimate`) adds to the sum. Past :data:`PRICING_LIMIT_S` of pricing or :data:`LIMIT_S` in all,
    refused unless ``allow_long``; returns the estimated seconds. ``scenarios``: (where, scenario) pairs. A
    scenario past the limits alone is refused here, named by its where, unless ``checked_when_run`` (a
    sweep's point is checked again when it runs, and its failure is reported with the finished points):
    then it is left out of the sum. Five sweep points of 104,000-131,072 ranks price for 33 s in all, though
    each alone is under the limit. ``fewer``: what the user can lower, as the command takes it (``plan``:
    ``--max-devices``, not the scenario fields it sets).
    """
    priced: dict[Any, CollectiveBudget] = {}
    simulated = 0.0
    count = 0
    for where, scenario in scenarios:
        count += 1
        group, ops, algorithm, shard, fast_ops, fast_groups = _pricing_key(scenario)
        key = (group, tuple(ops), algorithm, shard, tuple(fast_ops), fast_groups)
        try:
            pricing = priced.get(key) or check_pricing(scenario, allow_long, engine, fewer or FEWER_RANKS)
            simulation = check(scenario, allow_long=allow_long).seconds if engine == "sim" else 0.0
        except ScenarioError as exc:
            if checked_when_run:
                continue
            raise ScenarioError(exc.field, f"{exc.message} ({where})", exc.source) from None
        priced[key] = pricing
        simulated += simulation
    pricing_s = sum(b.pricing_s for b in priced.values())
    total_s = sum(b.seconds for b in priced.values()) + simulated
    over = pricing_s > PRICING_LIMIT_S or total_s > LIMIT_S
    if over and not allow_long:
        largest = max(priced.values(), key=lambda b: b.seconds)
        raise ScenarioError(
            "",
            f"{what} of {count:,} configurations prices {len(priced):,} distinct data-parallel groups: about "
            f"{_duration(total_s)} in all (limit {PRICING_LIMIT_S:g} s to price, {_duration(LIMIT_S)} in all; the "
            f"largest: {largest.describe()}); pass --allow-long to run it anyway, or "
            f"{fewer or FEWER_RANKS + ' or points'}",
            "<cost guard>",
        )
    return total_s


def check_points_time(each_s: float, points: int, sampled: int, what: str, allow_long: bool = False) -> float:
    """Refuse ``points`` evaluations of ``each_s`` CPU seconds each (the mean of ``sampled`` of them, timed) past
    :data:`LIMIT_S` in all unless ``allow_long``; returns the estimated seconds. ``dpsim sweep --yes`` (more than
    100,000 points of the closed forms, :func:`dpsim.api.sweep`) ran for hours unbounded: a million points at the
    1–16 ms a point takes here is 17 minutes to 4.4 hours, where the simulator's points are priced by :func:`check`."""
    total_s = each_s * points
    if total_s > LIMIT_S and not allow_long:
        raise ScenarioError(
            "",
            f"{what} of {points:,} points would run for about {_duration(total_s)} ({each_s * 1e3:.3g} ms a point, "
            f"the mean of {sampled} points spread over the grid; limit {_duration(LIMIT_S)}); pass --allow-long to "
            "run it anyway, or split it into several",
            "<cost guard>",
        )
    return total_s


SWEEP_POINT_S = 6e-3
SWEEP_COLLECTIVE_S = 2e-6
"""What one point of a closed-form sweep is priced at for ``dpsim sweep --max-time`` (:func:`sweep_point_s`), beside
:data:`SCHEDULE_OP_S` an evaluated pipeline operation: a point builds its scenario, lays out its buckets and
composes its step once its data-parallel group is priced (the group's pricing is :func:`check_total`'s). Measured
(``benchmarks/sweep_point_cost.py``, CPU time a warm point of ``api.sweep``, load 1-2 on 2 cores): 1.4 ms a point
(ResNet-50, the CPU cluster) to 2.7-3.1 ms (the transformers), 0.6 µs more a gradient collective (the default at
1 MiB buckets, 2,971 a step: 4.9 ms) and 8-9 µs an evaluated pipeline operation (PP 8 at a global batch of 4,096,
2,048 operations: 19 ms); stop 45 measured 1.7-18.6 ms at load ~7. The price is an upper bound within about 1.3-4x
of every measured point (``tests/test_sweep_max_time.py`` holds the table)."""


def sweep_point_s(scenario: Scenario) -> float:
    """CPU seconds one point of a closed-form sweep is priced at (``dpsim sweep --max-time``): :data:`SWEEP_POINT_S`,
    :data:`SWEEP_COLLECTIVE_S` a data-parallel collective of its step (:func:`dp_collectives`) and
    :data:`SCHEDULE_OP_S` an operation of its pipeline schedule evaluated one by one
    (:func:`pipeline_evaluated_operations`). From the scenario alone, nothing run: the same grid is priced the same
    on every machine."""
    collectives = sum(work.count for work in dp_collectives(scenario))
    return SWEEP_POINT_S + SWEEP_COLLECTIVE_S * collectives + SCHEDULE_OP_S * pipeline_evaluated_operations(scenario)


def check_max_time(total_s: float, points: int, max_time_s: float, how: str) -> float:
    """Refuse (:class:`ScenarioError` naming ``--max-time``) a sweep of ``points`` priced at ``total_s`` CPU seconds
    past the user's own ``max_time_s`` (``dpsim sweep --max-time``, an opt-in: without it nothing changes); ``how``
    says what the price is made of. Returns ``total_s``."""
    if total_s > max_time_s:
        raise ScenarioError(
            "--max-time",
            f"this sweep of {points:,} points is priced at about {_duration(total_s)} of CPU ({how}), more than "
            f"--max-time {_duration(max_time_s)}: split it into several, or raise --max-time",
            "<cost guard>",
        )
    return total_s


def check_pricing(
    scenario: Scenario, allow_long: bool = False, engine: str = "analytic", fewer: str = FEWER_RANKS
) -> CollectiveBudget:
    """:func:`scenario_pricing`, refused as :func:`check_collective` refuses (``run``, ``sweep``: both engines),
    the step's pipeline schedule (:func:`check_schedule`) and, on the analytic engine, its lognormal jitter's
    convolutions (:func:`check_jitter`; the simulator draws the jitter)."""
    check_schedule(scenario, allow_long)
    if engine == "analytic":
        check_jitter(scenario, allow_long)
    return check_collective(scenario_pricing(scenario, engine), allow_long, fewer)


JITTER_CONVOLUTION_S = 0.45
"""CPU seconds of one numerical convolution of two tables in the lognormal jitter's price
(:func:`dpsim.rank_speed._add`, 1,501² cells each half): 100 distinct rank shapes (100 stragglers of 1.001-1.1 on
128 ranks, ``training.partition: weighted``, micro-batch 10,000, accumulation 2, a profile's reducer pass) built 101
tables in 44 s of CPU (stop 49, at load ~8; 0.3-0.6 s at stop 48). A table added to itself (a doubling) computes one
half: charged half."""


GAMMA_TABLE_S = 0.2
"""CPU seconds of one gamma table by the incomplete gamma's series (:func:`dpsim.rank_speed._sum_cdf_table`: up to
~9·√shape terms on 8,001-9,000 points, shape k/cv² up to 10⁵): 0.05-0.18 s over shapes 0.01-10⁵ at load ~2 (stop
52); 1,024 ranks whose counts spread over 13.8 of log k (1,000 stragglers whose reducer pass leaves the earlier
micro-batches slivers of the last, cv 10) built 126 in 14.4 s of CPU, the whole step. At cv ≤ 10 one grid holds at
most ~165 such tables (k ≤ 10⁷)."""


def check_jitter(scenario: Scenario, allow_long: bool = False) -> None:
    """Refuse (:class:`ScenarioError`, naming ``variability.jitter_distribution``) a step whose jitter's exact price
    would build tables past :data:`PRICING_LIMIT_S` of CPU unless ``allow_long``: a lognormal's convolutions
    (:func:`dpsim.analytic.step.jitter_convolutions`): one a distinct shape of a rank's draws, and a rank's last
    micro-batch weighs apart from the others under a profile's reducer pass, so each distinct micro-batch share
    (``training.partition: weighted`` under distinct stragglers) is one; 1,000 of them ran for minutes; a gamma's
    tables by its series (:func:`dpsim.analytic.step.jitter_gamma_tables`), one a distinct effective count or a node
    of their grid; and (naming ``variability.stragglers``) its classes of ranks (:func:`jitter_classes_s`): under a
    speed spread one FFT convolution each, 8,192 distinct stragglers 29 s of CPU (round 34)."""
    from dpsim.analytic.step import jitter_convolutions, jitter_gamma_tables

    sums, doublings = jitter_convolutions(scenario)
    count, seconds = sums + doublings, (sums + doublings / 2) * JITTER_CONVOLUTION_S
    if seconds > PRICING_LIMIT_S and not allow_long:
        raise ScenarioError(
            "variability.jitter_distribution",
            f"lognormal: its exact price builds {count:,} numerical convolutions, one a distinct shape of a rank's "
            f"draws: about {_duration(seconds)} (limit {PRICING_LIMIT_S:g} s to price); pass --allow-long to run it "
            "anyway, or gamma (priced in closed form), or fewer distinct stragglers (variability.stragglers) under "
            "training.partition: weighted",
            "<cost guard>",
        )
    tables = jitter_gamma_tables(scenario)
    seconds = tables * GAMMA_TABLE_S
    if seconds > PRICING_LIMIT_S and not allow_long:
        raise ScenarioError(
            "variability.jitter_distribution",
            f"gamma: its price builds {tables:,} tables of the incomplete gamma, one a distinct effective count of a "
            f"rank's draws: about {_duration(seconds)} (limit {PRICING_LIMIT_S:g} s to price); pass --allow-long to "
            "run it anyway, or normal (closed form), or fewer distinct stragglers (variability.stragglers) under "
            "training.partition: weighted",
            "<cost guard>",
        )
    classes, seconds = jitter_classes_s(scenario)
    if seconds > PRICING_LIMIT_S and not allow_long:
        raise ScenarioError(
            "variability.stragglers",
            f"its compute jitter's price integrates {classes:,} classes of ranks, one a distinct straggler (with "
            f"rank_speed_sigma, one FFT convolution each): about {_duration(seconds)} (limit {PRICING_LIMIT_S:g} s "
            "to price); pass --allow-long to run it anyway, or fewer distinct stragglers, or rank_speed_sigma 0",
            "<cost guard>",
        )


JITTER_CLASS_S = 4e-3
"""CPU seconds pricing a jitter spends on one class of ranks (:func:`dpsim.analytic.step.jitter_classes`) for each
of: its FFT convolution with a speed spread's paces over 8,001 points (``rank_speed_sigma`` > 0), and its table read
off the grid (the cubic through 4 nodes' tables on their points' union, made at each read). 8,192 distinct stragglers
at ``rank_speed_sigma`` 0.05 priced in 29.1 s of CPU, 3.5 ms a class (0.9 s without the jitter, 2.0 s without the
spread); a sweep of 40 values of ``compute_jitter_cv`` over 1,000 distinct stragglers whose gamma tables are read off
the grid (1,001 classes and 4 tables a point) ran 167 s of CPU, 3.6 ms a class after its tables (stop 52, load 3-6)."""
JITTER_PLAIN_CLASS_S = 2e-4
"""CPU seconds a class of ranks costs otherwise (its cached table read twice): 8,192 classes without a spread, 1.1 s."""


def jitter_pricing_s(scenario: Scenario) -> float:
    """CPU seconds the analytic engine's price of the step's compute jitter is charged: its lognormal convolutions
    (:data:`JITTER_CONVOLUTION_S`, a doubling half), its gamma tables (:data:`GAMMA_TABLE_S`) and its classes of
    ranks (:func:`jitter_classes_s`); 0 without a jitter. What a sweep's points are charged for it
    (:func:`check_jitter_total`)."""
    from dpsim.analytic.step import jitter_convolutions, jitter_gamma_tables

    if scenario.variability.compute_jitter_cv < NEGLIGIBLE_JITTER_CV:
        return 0.0
    sums, doublings = jitter_convolutions(scenario)
    tables_s = (sums + doublings / 2) * JITTER_CONVOLUTION_S + jitter_gamma_tables(scenario) * GAMMA_TABLE_S
    return tables_s + jitter_classes_s(scenario)[1]


def jitter_classes_s(scenario: Scenario) -> tuple[int, float]:
    """The classes of ranks pricing the step's jitter integrates (:func:`dpsim.analytic.step.jitter_classes`) and
    their CPU seconds: :data:`JITTER_PLAIN_CLASS_S` each, and :data:`JITTER_CLASS_S` for each convolution with a speed
    spread and each table read off the grid."""
    from dpsim.analytic.step import jitter_classes

    classes, gridded = jitter_classes(scenario)
    spread = classes if scenario.variability.rank_speed_sigma > 0 else 0
    return classes, classes * JITTER_PLAIN_CLASS_S + (spread + gridded) * JITTER_CLASS_S


def check_jitter_total(each_s: float, points: int, sampled: int, other_s: float, allow_long: bool = False) -> float:
    """Refuse (:class:`ScenarioError`, naming ``variability.jitter_distribution``) a sweep whose ``points`` points of
    distinct jitter prices at ``each_s`` CPU seconds each (the highest of ``sampled`` spread over them,
    :func:`jitter_pricing_s`), beside ``other_s`` of pricing its groups, come past :data:`LIMIT_S` in all unless
    ``allow_long``; returns the jitter's seconds. The sweep's other guards price each distinct data-parallel group
    once and a point at milliseconds: 40 values of ``compute_jitter_cv`` over 1,000 distinct stragglers ran 167 s of
    CPU, 100 would run 7 minutes, unrefused (round 34)."""
    total_s = each_s * points
    if other_s + total_s > LIMIT_S and not allow_long:
        raise ScenarioError(
            "variability.jitter_distribution",
            f"this sweep prices the compute jitter of {points:,} distinct points: about {_duration(total_s)} "
            f"({_duration(each_s)} a point, the highest of {sampled} sampled across them; limit {_duration(LIMIT_S)} "
            "in all); pass --allow-long to run it anyway, or split it into several",
            "<cost guard>",
        )
    return total_s


SCHEDULE_OP_S = 15e-6
SCHEDULE_OP_BYTES = 512.0
"""One operation of the pipeline schedule both engines' step evaluates (:func:`dpsim.analytic.step.pipeline_terms`,
:func:`dpsim.analytic.pipeline_schedule.evaluated_operations` of them): its program built once, then run without and
with the sends. Measured 5-10 µs an operation (the program 3.4-6.7 µs, the two runs 0.7-3.5 µs; 16-256 stages,
16,384-524,288 operations, load average 5) and about 400 bytes at the peak (tracemalloc); the bound allows for a
loaded machine. 512 stages ran 3.1 M operations in 26 s, 1,024 stages 12.6 M in 164 s and 5 GB. The simulator's
estimate (:func:`estimate`) charges the same (``benchmarks/budget_check.py --pipeline``, 2-64 stages, 8,192-49,152
operations, load ~4: 1.9-2.8 µs CPU and 300-370 bytes an operation, the step and its record each without and with
sends); until stop 40 it charged every one of the 2·p·m·v operations :data:`PIPELINE_OP_S`, the simpy pipeline's
80 µs, which only the shared fabric runs: 8 stages x 250,000 micro-batches were refused as 7 minutes and ran in
1.7 s CPU (now 100 s, nearly all :data:`CALL_S` a micro-batch, not re-fitted)."""


def check_schedule(scenario: Scenario, allow_long: bool = False) -> None:
    """Refuse (:class:`ScenarioError`, naming ``training.pipeline_parallel``) a step whose pipeline schedule would take
    past :data:`PRICING_LIMIT_S` to evaluate unless ``allow_long``, or past :data:`MEMORY_LIMIT_BYTES` at all.

    The schedule's cost grows with its operations, which the extension past ``MAX_OPERATIONS`` bounds only to those
    of 4·p micro-batches or more (:func:`~dpsim.analytic.pipeline_schedule.evaluated_operations`: 8·p²·v): 1,024
    stages ran for 164 s in 5 GB, with no cost guard on the analytic engine, where the collectives had one."""
    t = scenario.training
    p, m = t.pipeline_parallel, scenario.accumulation_steps
    if p <= 1:
        return
    chunks = t.virtual_stages if t.pipeline_schedule == "interleaved" else 1
    ops = pipeline_evaluated_operations(scenario)
    seconds, memory = ops * SCHEDULE_OP_S, ops * SCHEDULE_OP_BYTES
    shape = f"{p:,} stages x {m:,} micro-batches" + (f" x {chunks:,} chunks" if chunks > 1 else "")
    what = (
        f"pricing the {t.pipeline_schedule} pipeline schedule ({shape}) evaluates {ops:,} stage operations: about "
        f"{_duration(seconds)} and {memory / 2**30:,.3g} GiB"
    )
    fewer = f"fewer stages (training.pipeline_parallel){', chunks (training.virtual_stages)' if chunks > 1 else ''}"
    fewer += f" or {FEWER_MICRO_BATCHES}"
    if memory > MEMORY_LIMIT_BYTES:
        raise ScenarioError(
            "training.pipeline_parallel",
            f"{what} (limit {MEMORY_LIMIT_BYTES / 2**30:g} GiB); {fewer}",
            "<cost guard>",
        )
    if seconds > PRICING_LIMIT_S and not allow_long:
        raise ScenarioError(
            "training.pipeline_parallel",
            f"{what} (limit {PRICING_LIMIT_S:g} s to price); pass --allow-long to run it anyway, or {fewer}",
            "<cost guard>",
        )


def check_collective(budget: CollectiveBudget, allow_long: bool = False, fewer: str = FEWER_RANKS) -> CollectiveBudget:
    """Refuse (:class:`ScenarioError`) a ``dpsim collective`` past the memory limit, or past its time limits.

    Pricing is refused past :data:`PRICING_LIMIT_S` and the simulator's evaluation past :data:`LIMIT_S`
    unless ``allow_long``; past :data:`MEMORY_LIMIT_BYTES` always.
    """
    hint = f"{fewer} (cluster.nodes, cluster.workers_per_node)" if fewer == FEWER_RANKS else fewer
    if budget.algorithm == "direct":
        hint += " or another communication.algorithm (direct sends n(n-1) messages)"
    elif budget.hops:
        hint += " or communication.algorithm: ring (a ring of nodes routes a ring's neighbours over one link)"
    if budget.memory_bytes > MEMORY_LIMIT_BYTES:
        raise ScenarioError(
            "",
            f"{budget.describe()} (limit {MEMORY_LIMIT_BYTES / 2**30:g} GiB); {hint}",
            "<cost guard>",
        )
    over = budget.pricing_s > PRICING_LIMIT_S or budget.seconds > LIMIT_S
    if over and not allow_long:
        limits = f"limit {PRICING_LIMIT_S:g} s to price" + (
            f", {_duration(LIMIT_S)} in all" if budget.engine == "sim" else ""
        )
        raise ScenarioError(
            "",
            f"{budget.describe()} ({limits}); pass --allow-long to run it anyway, or {hint}",
            "<cost guard>",
        )
    return budget
