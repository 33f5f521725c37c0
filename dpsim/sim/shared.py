"""One network for a whole step: every data-parallel group of every job on one fabric, at chunk level.

:func:`simulate` runs one data-parallel group on its share of the NICs (the *symmetric
reduction*: :func:`dpsim.analytic.fabrics.dp_fabric` gives a group ``min(1, nics/s)`` of the
NIC bandwidth when ``s`` groups share a node) and each collective on a fresh network.
:func:`simulate_shared` instead builds the whole fabric once (:class:`~dpsim.sim.cluster.Cluster`
of every node of every job) and runs, in ONE simpy environment on ONE
:class:`~dpsim.sim.network.FluidNetwork`, the collectives of every data-parallel group of
every job, each on the GPUs it really occupies:

* GPUs of a job are numbered in Megatron order (tensor-parallel innermost, then data, then
  pipeline: Narayanan et al. 2021 §3), so DP group (pipeline stage p, tensor rank t) holds
  GPUs ``p·dp·tp + d·tp + t`` for d = 0 … dp−1, and a GPU's NIC follows its local rank
  (:meth:`~dpsim.sim.cluster.Cluster.nic_of`): groups that share a NIC share it flow by flow; a group whose GPUs
  of a node sit near several NICs runs its ring and tree channels over all of them, as NCCL's search lays them out
  (:func:`rail_copies`);
* each group walks its stream in order, per rank (PyTorch DDP's one communication stream):
  bucket ``i`` joins at ``max(ready_i, done of bucket i−1)`` with the ready times of
  :func:`dpsim.sim.training.bucket_ready`; then the optimizer; with ZeRO-1/2 the parameter
  all-gathers (ZeRO's gathers share the fabric with everybody else's traffic). With Megatron's
  distributed optimizer and overlap (``overlap_param_gather``) the step waits for them only where
  the next step's first forward reaches each bucket's parameters, the flow shop of
  :func:`dpsim.buckets.overlapped_gather_end` run over the gathers' times on the network (chunks
  from the third on are released when the previous chunk's first forward starts, as Megatron
  does: :class:`_OverlappedGathers`), as the other engines price it;
* several jobs share the fabric's links — NICs never, leaf uplinks of a fat-tree often:
  ``placement`` ``packed`` gives each job consecutive nodes, ``interleaved`` deals the nodes
  out in turn (what a fragmented cluster does);
* everything in flight at once shares links max-min fairly; the schedule of each
  collective is the one the job's engine picks for its group (:meth:`CollectiveEngine.choice`).

* pipeline-parallel jobs (``pipeline_flows``, default): the step's pipeline schedule is the
  event-level one of :func:`dpsim.sim.pipeline.scenario_pipeline` (the schedule behind the
  engines' bubble, :func:`dpsim.analytic.step.pipeline_terms`), run live on the same network
  (:class:`_LiveStages`): every stage-to-stage send is flows there, one after another on each
  directed stage link, and the operation it feeds starts when it is delivered. Each DP group's
  work ends where that schedule ends its stage's last backward (the last stage first): its
  stream starts when the live schedule starts that backward, as much later than the fixed
  schedule as it started, so a stage whose last gradient arrives late reduces late.
  (Before, sends left at the fixed schedule's times, a slowed one overlapping the next of its
  link, the schedule was run once more with those durations, queued a second time, and every
  reduction started at the fixed time with the lateness added after it: +3.66 % where the
  hand-worked timeline gives +2.29 %, tests/test_contention.py.) TP collectives and
  ZeRO-3/FSDP programs are still released from the fixed schedule, their stage's lateness
  added to their end (one pass).

* tensor-parallel jobs (``tp_flows``, default): every TP group's blocking collectives of each
  pass are a stream on the same network (:class:`_TensorFlows`), released layer by layer where the
  compute schedule puts them (the pipeline schedule's operations when the sends are flows too, else
  each rank's step as its DP stream lays it out); each TP group's lateness is added to its ranks' work
  (one pass: a late rank does not release its buckets later). Inside a node
  they cross NVSwitch ports only (a GPU's inter-node traffic takes its PCIe host link to the NIC,
  :class:`~dpsim.sim.cluster.Cluster`), so they meet the reductions' and sends' NVSwitch hops, and
  NICs only when a TP group spans nodes. With ``training.tp_comm_overlap`` (TP pipelined with
  its GEMMs) or ``training.tp_async_grad_allreduce`` (backward all-reduces beside the weight-gradient GEMMs)
  TP stays the analytic per-micro-batch term.

* ZeRO-3 and FSDP (every strategy of :mod:`dpsim.sharding`), and anything else whose collectives feed
  its compute (DeepSpeed's reduce-scatters every micro-batch, HYBRID_SHARD's replica stream:
  :func:`dpsim.sim.budget.runs_as_programs`): every rank of the group runs the simulator's own step
  program, :func:`dpsim.sim.training.step_program` (each piece's all-gather before its forward and
  backward, prefetched: issued at the pass's start, in order on the stream; or, with ``overlap:
  false``, issued when the previous piece's compute ends; reduce-scatters as the backward frees each
  bucket), and is resumed when each of its collectives is done on this network (:class:`_Programs`):
  a gather slowed by another job's traffic delays that rank's compute and everything after it.
  Tensor-parallel flows of such a job are released, layer by layer, where its step program runs each
  layer uncontended (:func:`_program_passes`; the pipeline schedule's operations when its sends are
  flows), one pass as above.

Where the groups are symmetric (same compute, NICs shared evenly, each group's channels spread over the NICs
near its GPUs) and TP is the analytic term this gives the symmetric reduction's step; where jobs meet on an
oversubscribed uplink, or a pipeline send or a TP collective meets a reduction on a link, it gives what the
shares predict instead (tests/test_contention.py).
Not covered: jitter replications (the first step of the first replication is run).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import simpy

from dpsim.analytic import parallel
from dpsim.analytic import step as analytic_step
from dpsim.analytic.collectives import Fabric, communicator_relays
from dpsim.analytic.step import fabric_of, unread_under_profile
from dpsim.buckets import chunk_bucket_sizes, overlapped_gather_end
from dpsim.calibration import profile_for
from dpsim.errors import ScenarioError
from dpsim.records import StepResult
from dpsim.scenario import Scenario
from dpsim.sim import budget
from dpsim.sim.chunk import ChunkEngine, CollectiveRun, CompiledSchedule
from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import Phase, Schedule
from dpsim.sim.collectives.groups import Groups
from dpsim.sim.network import FluidNetwork
from dpsim.sim.pipeline import LivePipeline, PipelineRun, scenario_pipeline, start_scenario_pipeline
from dpsim.sim.simulate import _result, build_cluster, step_plan
from dpsim.sim.timeline import Timeline
from dpsim.sim.training import (
    Drain,
    Ledger,
    Post,
    ProgramEnd,
    StepOutcome,
    StepPlan,
    bucket_ready,
    run_step,
    step_program,
)
from dpsim.sim.variability import degraded_nodes, replication_rng
from dpsim.sim.worker import compute_model, dp_slowdowns, worker_samples, worker_times

__all__ = [
    "PLACEMENTS",
    "dp_groups",
    "place",
    "run_on_one_network",
    "shared_fabric",
    "simulate_shared",
    "unread_on_one_fabric",
]

PLACEMENTS = ("packed", "interleaved")


def dp_groups(scenario: Scenario) -> np.ndarray:
    """GPU ids (job-local) of each data-parallel group, Megatron order: ``(pp·tp) × dp``."""
    t = scenario.training
    tp, pp, dp = t.tensor_parallel, t.pipeline_parallel, scenario.data_parallel
    return np.arange(pp * dp * tp).reshape(pp, dp, tp).transpose(0, 2, 1).reshape(pp * tp, dp)


def shared_fabric(scenarios: Sequence[Scenario]) -> Fabric:
    """The fabric holding every job's nodes: the first job's node type, all the nodes.

    NCCL's PXN relays (:func:`~dpsim.analytic.collectives.pxn_relays`) must belong to the sender's
    communicator. Where every job's collectives hold whole nodes (no tensor or pipeline parallelism),
    a node's relays are NCCL's whole-node ones; where every job has the same tensor parallelism inside a
    node and no pipeline, the only inter-node traffic is the DP groups', and each GPU keeps the relay its
    own DP group holds (:func:`~dpsim.analytic.collectives.communicator_relays`); otherwise (stage pairs
    hold one GPU a node: no relay in their communicators; mixed groupings on one node table) none.
    """
    base = fabric_of(scenarios[0])
    for i, other in enumerate(scenarios[1:], start=1):
        fabric = fabric_of(other)
        if dataclasses.replace(fabric, nodes=base.nodes) != base:
            raise ScenarioError(
                "cluster",
                f"jobs on one fabric need the same node type, links and topology; job {i} ({other.name}) differs "
                f"from job 0 ({scenarios[0].name})",
            )
    tps = {s.training.tensor_parallel for s in scenarios}
    plain = all(s.training.pipeline_parallel == 1 for s in scenarios) and len(tps) == 1
    (tp,) = tps if plain else (0,)
    if plain and tp == 1:
        relays = base.relays
    elif plain and tp < base.per_node and base.per_node % tp == 0:
        relays = communicator_relays(base, tp)
    else:
        relays = tuple(range(base.per_node))
    return dataclasses.replace(base, nodes=sum(s.cluster.nodes for s in scenarios), relays=relays)


def place(scenarios: Sequence[Scenario], placement: str = "packed") -> list[np.ndarray]:
    """Fabric node of each node of each job: consecutive (``packed``) or dealt out in turn (``interleaved``)."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {', '.join(PLACEMENTS)}, got {placement!r}")
    sizes = [s.cluster.nodes for s in scenarios]
    if placement == "packed":
        starts = np.concatenate([[0], np.cumsum(sizes)])
        return [np.arange(starts[j], starts[j] + n) for j, n in enumerate(sizes)]
    owners: list[int] = []
    left = list(sizes)
    while any(left):
        for j in range(len(sizes)):
            if left[j]:
                owners.append(j)
                left[j] -= 1
    owner = np.asarray(owners)
    return [np.flatnonzero(owner == j) for j in range(len(sizes))]


@dataclasses.dataclass
class _Item:
    """One collective on a group's stream: joins at ``max(ready, done of the previous item + after)``."""

    name: str
    op: str
    size: float
    ready: np.ndarray
    after: float = 0.0
    release: Callable[[np.ndarray], np.ndarray] | None = None
    """When the item is released for the given ranks, decided when they reach it (else ``ready``)."""


class _Stream:
    """A data-parallel group's collectives, in order, each rank moving on when it is done with the last."""

    def __init__(
        self, net: FluidNetwork, items: list[_Item], compile_: Callable[[str, float], CompiledSchedule], ranks: int
    ) -> None:
        self.net = net
        self.items = items
        self.ranks = ranks
        self.joins = np.zeros((len(items), ranks))
        self.done = np.zeros((len(items), ranks))
        self.runs: list[CollectiveRun] = []
        self.base: list[float] = []
        self.gates: dict[int, float | None] = {}
        """Items released only when opened (:meth:`open`): item → when (None: not yet)."""
        self.parked: dict[int, np.ndarray] = {}
        """Gated items the ranks have reached before they were opened: item → those ranks."""
        self.finished: dict[int, simpy.Event] = {}
        """Items whose end someone waits for (:meth:`ended`): item → the event, succeeded when its last rank is done."""
        self.left = np.full(len(items), ranks, dtype=np.int64)
        for k, item in enumerate(items):
            compiled = compile_(item.op, item.size)
            self.base.append(compiled.schedule.base_latency_s)
            self.runs.append(CollectiveRun(compiled, net, item.size, self._finisher(k)))

    def _finisher(self, k: int) -> Callable[[np.ndarray], None]:
        return lambda ranks: self._finished(k, ranks)

    def start(self) -> None:
        if self.items:
            self._reach(0, np.arange(self.ranks), self.items[0].ready)
            self._server_joins()

    def gate(self, k: int) -> None:
        """Item ``k`` waits, however early its ranks reach it, until :meth:`open` releases it."""
        self.gates[k] = None

    def open(self, k: int, at: float) -> None:
        """Release gated item ``k`` at ``at`` (≥ now) for the ranks that reach it (they join then, or when they reach
        it if later, after its ``after``)."""
        self.gates[k] = at
        ranks = self.parked.pop(k, None)
        if ranks is not None:
            self._join(k, ranks, np.full(len(ranks), at))

    def ended(self, k: int) -> simpy.Event:
        """An event that succeeds when every rank is done with item ``k``."""
        if k not in self.finished:
            self.finished[k] = self.net.env.event()
        return self.finished[k]

    def _reach(self, k: int, ranks: np.ndarray, at: np.ndarray) -> None:
        """``ranks`` reach item ``k`` and would join it at ``at``: they do, unless it is gated and not yet open."""
        if k in self.gates:
            opened = self.gates[k]
            if opened is None:
                held = self.parked.get(k)
                self.parked[k] = ranks if held is None else np.concatenate([held, ranks])
                return
            at = np.maximum(at, opened)
        self._join(k, ranks, at)

    def start_late(self, delay_s: float) -> None:
        """Start now with every item ``delay_s`` later than planned (its stage's last backward began that much later
        than the fixed schedule says: :class:`_LiveStages`); never before now."""
        now = self.net.env.now
        for item in self.items:
            item.ready = np.maximum(item.ready + delay_s, now)
        self.start()

    def _server_joins(self) -> None:
        for run in self.runs:  # a parameter server's endpoint is there from the start
            if run.compiled.ranks > self.ranks:
                run.join(np.arange(self.ranks, run.compiled.ranks))

    def _join(self, k: int, ranks: np.ndarray, at: np.ndarray) -> None:
        now = self.net.env.now
        self.joins[k, ranks] = at
        self.runs[k].join_at(at - now + self.base[k], ranks)

    def _finished(self, k: int, ranks: np.ndarray) -> None:
        ranks = ranks[ranks < self.ranks]
        if not len(ranks):
            return
        now = self.net.env.now
        self.done[k, ranks] = now
        self.left[k] -= len(ranks)
        if self.left[k] == 0 and k in self.finished:
            self.finished[k].succeed()
        if k + 1 < len(self.items):
            nxt = self.items[k + 1]
            ready = nxt.ready[ranks] if nxt.release is None else nxt.release(ranks)
            self._reach(k + 1, ranks, np.maximum(ready, now + nxt.after))


class _OverlappedGathers:
    """Megatron's ``overlap_param_gather`` on a group's stream: the post-step all-gathers, chunk by chunk.

    The gathers are items of the stream from ``first`` on, chunk 0's buckets first. Their times on
    the network feed the flow shop of :func:`dpsim.buckets.overlapped_gather_end` (the next step's
    first forward, ``forward_s`` per rank, uses each bucket as it lands): it gives the exposed part
    and, for chunk ``c ≥ 2``, the release, the start of chunk ``c − 1``'s first forward, which is
    known once the ranks have finished every gather before it.
    """

    def __init__(self, plan: StepPlan, forward_s: np.ndarray, first: int) -> None:
        self.chunks = chunk_bucket_sizes(plan.param_bytes, plan.post_gather_piece, plan.chunks)
        self.stages = plan.stages
        self.forward_s = forward_s
        self.first = first
        self.stream: _Stream | None = None

    def items(self, ready: np.ndarray, optimizer_s: float) -> list[_Item]:
        items: list[_Item] = []
        for c, sizes in enumerate(self.chunks):
            for i, size in enumerate(sizes):
                release = self._release(self.first + len(items)) if c >= 2 and i == 0 else None
                after = optimizer_s if not items else 0.0
                items.append(_Item(f"parameter gather {len(items)}", "all_gather", size, ready, after, release))
        return items

    def _shop(self, ranks: np.ndarray, until: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(exposed gather, release of stream item ``until``) over the gathers ``ranks`` have finished."""
        assert self.stream is not None
        stream, posted = self.stream, iter(range(self.first, len(self.stream.items)))
        released: list[np.ndarray] = []

        def gather(size: float, release: np.ndarray) -> np.ndarray:
            k = next(posted)
            if k == until:
                released.append(release)
            return stream.done[k, ranks] if until is None or k < until else release

        start = stream.joins[self.first, ranks]
        exposed = overlapped_gather_end(self.chunks, self.stages, self.forward_s[ranks], start, gather)
        return exposed, released[0] if released else None

    def _release(self, k: int) -> Callable[[np.ndarray], np.ndarray]:
        def release(ranks: np.ndarray) -> np.ndarray:
            at = self._shop(ranks, k)[1]
            assert at is not None
            return at

        return release

    def exposed(self) -> np.ndarray:
        """Per rank, how long after the optimizer step the next forward has all its parameters, less its compute."""
        assert self.stream is not None
        return np.maximum(0.0, self._shop(np.arange(self.stream.ranks))[0])


class _Programs:
    """A data-parallel group whose ranks each run the step program on the shared network.

    ZeRO-3 and FSDP gather parameters that gate compute, so a rank's next collective depends on when
    its last one ended: each rank runs :func:`dpsim.sim.training.step_program` (the schedule
    :func:`~dpsim.sim.training.run_step` drives on the group's own network) and is resumed when its
    collective is done here. The k-th collective a rank posts is the group's k-th: one
    :class:`CollectiveRun` each, ranks joining it at ``max(ready, done of their previous collective on the
    same stream)`` (two streams with HYBRID_SHARD, whose shard and replica collectives run in every
    group at once: :class:`~dpsim.sim.collectives.groups.Groups`). A pipelined schedule ends for a group's
    ranks when its last rank's part does, as the collective engine folds it.
    """

    def __init__(
        self,
        net: FluidNetwork,
        plan: StepPlan,
        forward_s: np.ndarray,
        backward_s: np.ndarray,
        compile_: _Compiler,
        start_s: float,
        communicate: bool,
        record: bool = False,
    ) -> None:
        n = forward_s.shape[0]
        self.net, self.compile, self.ranks = net, compile_, n
        self.spans = _RankSpans(n) if record else None
        self.programs = [
            step_program(
                plan,
                forward_s[r : r + 1],
                backward_s[r : r + 1],
                communicate,
                None if self.spans is None else self.spans.log(r),
                start_s,
            )
            for r in range(n)
        ]
        hybrid = plan.shard_ranks > 0 and communicate
        self.groups: tuple[Groups | None, Groups | None] = (
            Groups.hybrid(n, plan.shard_ranks) if hybrid else (None, None)
        )
        self.posts: list[Post] = []
        self.joins: list[np.ndarray] = []
        self.done: list[np.ndarray] = []
        self.runs: list[CollectiveRun | None] = []
        self.folds: list[np.ndarray | None] = []
        """Per collective: each rank's group, whose ranks end together (a pipelined schedule), or None."""
        self.arrived: dict[int, np.ndarray] = {}
        self.base: list[float] = []
        self.count = np.zeros(n, dtype=np.int64)
        self.last = np.full((2, n), -1, dtype=np.int64)
        """Per stream (main, replica) and rank: its last collective there (−1: none yet)."""
        self.queued: dict[tuple[int, int], int] = {}
        """(collective, rank) → the rank's next collective on the same stream, waiting for it."""
        self.waiting: list[int | None] = [None] * n
        """Per rank: the collective it waits for (``DRAIN``: both streams; None: running or ended)."""
        self.ends: list[ProgramEnd | None] = [None] * n
        self.batch: dict[int, list[int]] = {}
        """Joins made while handling the current event, by collective."""

    DRAIN = -1

    def start(self) -> None:
        for r in range(self.ranks):
            self._resume(r, None)
        self._flush()

    def _resume(self, r: int, value: np.ndarray | None) -> None:
        program = self.programs[r]
        while True:
            try:
                request = program.send(value)
            except StopIteration as stop:
                self.ends[r] = stop.value
                return
            if isinstance(request, Drain):
                if self._pending(r):
                    self.waiting[r] = self.DRAIN
                    return
                value = self._drained(r)
                continue
            k = int(self.count[r])
            self.count[r] += 1
            self._post(k, r, request)
            if request.replicas:  # its own stream: the program moves on
                value = None
                continue
            self.waiting[r] = k
            return

    def _pending(self, r: int) -> bool:
        return any(k >= 0 and np.isnan(self.done[k][r]) for k in self.last[:, r].tolist())

    def _drained(self, r: int) -> np.ndarray:
        return np.array([max([self.done[k][r] for k in self.last[:, r].tolist() if k >= 0], default=0.0)])

    def _post(self, k: int, r: int, post: Post) -> None:
        if k == len(self.posts):
            self._open(post)
        stream = int(post.replicas)
        previous = int(self.last[stream, r])
        self.last[stream, r] = k
        if previous >= 0 and np.isnan(self.done[previous][r]):
            self.queued[(previous, r)] = k
        else:
            self._join(k, r, max(float(post.ready[0]), self.done[previous][r] if previous >= 0 else 0.0))

    def _open(self, post: Post) -> None:
        n = self.ranks
        groups = self.groups[int(post.replicas)]
        self.posts.append(post)
        self.joins.append(np.full(n, np.nan))
        self.done.append(np.full(n, np.nan))
        if post.size <= 0 or (groups is not None and groups.size <= 1):
            self.runs.append(None)
            self.base.append(0.0)
            self.folds.append(None)
            return
        k = len(self.runs)
        compiled = self.compile(post.op, post.size, groups)
        run = CollectiveRun(compiled, self.net, post.size, lambda ranks: self._finished(k, ranks))
        self.runs.append(run)
        self.base.append(compiled.schedule.base_latency_s)
        fold = None
        if compiled.schedule.pipelined:
            fold = np.zeros(n, dtype=np.int64)
            if groups is not None:
                for g, row in enumerate(groups.members):
                    fold[row] = g
        self.folds.append(fold)

    def _join(self, k: int, r: int, at: float) -> None:
        """Rank ``r`` joins collective ``k`` at ``at`` (batched: ranks joining one collective at one instant
        join it together, as :class:`_Stream` does, once the current event is handled: :meth:`_flush`)."""
        self.joins[k][r] = at
        self.batch.setdefault(k, []).append(r)

    def _at(self, k: int, ranks: np.ndarray) -> Callable[[simpy.Event], None]:
        return lambda _event: self._finished(k, ranks)

    def _flush(self) -> None:
        now = self.net.env.now
        while self.batch:
            k, ranks = self.batch.popitem()
            members = np.asarray(ranks, dtype=np.int64)
            offsets = self.joins[k][members] - now
            run = self.runs[k]
            if run is None:  # nothing to move: done when posted (as the collective engine returns it)
                for offset in np.unique(offsets).tolist():
                    done = members[offsets == offset]
                    event = self.net.env.timeout(max(0.0, offset))
                    event.callbacks.append(self._at(k, done))
                continue
            first = np.isnan(self.joins[k]).sum() == self.ranks - len(members)
            if run.compiled.ranks > self.ranks and first:  # the parameter server, there with the first ranks
                run.join_at(np.array([offsets.min() + self.base[k]]), np.array([self.ranks]))
            run.join_at(offsets + self.base[k], members)

    def _finished(self, k: int, ranks: np.ndarray) -> None:
        ranks = ranks[ranks < self.ranks]
        if not len(ranks):
            return
        now = self.net.env.now
        fold = self.folds[k]
        if fold is not None:  # pipelined: a group's ranks end when its last one does
            seen = self.arrived.setdefault(k, np.zeros(self.ranks, dtype=bool))
            seen[ranks] = True
            complete = [g for g in np.unique(fold[ranks]).tolist() if seen[fold == g].all()]
            ranks = np.flatnonzero(np.isin(fold, complete))
            if not len(ranks):
                return
        self.done[k][ranks] = now
        for r in ranks.tolist():
            nxt = self.queued.pop((k, r), None)
            if nxt is not None:
                self._join(nxt, r, max(float(self.posts[nxt].ready[0]), now))
            if self.waiting[r] == k:
                self.waiting[r] = None
                self._resume(r, np.array([now]))
            elif self.waiting[r] == self.DRAIN and not self._pending(r):
                self.waiting[r] = None
                self._resume(r, self._drained(r))
        self._flush()

    def outcome(
        self,
        plan: StepPlan,
        pipeline_s: float | None = None,
        tp_late_s: np.ndarray | None = None,
        timeline: Timeline | None = None,
        algorithm: str = "",
    ) -> StepOutcome:
        """The group's step as :func:`dpsim.sim.training.run_step` reports it (see :func:`_outcome` for the
        pipeline's and TP's lateness, both added to each rank's end here); ``timeline`` (the group run with
        ``record``) gets every rank's spans, as run_step records them."""
        ends = [end for end in self.ends if end is not None]
        if len(ends) != self.ranks:
            raise RuntimeError("a rank's step program did not finish on the shared network")
        ledger = Ledger(self.ranks, timeline, algorithm)
        if timeline is not None and self.spans is not None:
            self.spans.into(timeline)
        for post, joins, done in zip(self.posts, self.joins, self.done, strict=True):
            ledger.add(post, joins, done)
        late = np.zeros(self.ranks) + (0.0 if pipeline_s is None else pipeline_s)
        if tp_late_s is not None:
            late = late + tp_late_s
        # with the sends as flows the programs ran without the pipeline's analytic terms (their stage's
        # place is their start); its exposed sends still count as communication, as in _outcome
        exposed = 0.0 if pipeline_s is None else plan.p2p_exposed_s
        end = ProgramEnd(
            np.concatenate([e.end_s for e in ends]) + late,
            np.concatenate([e.compute_s for e in ends]),
            np.concatenate([e.comm_s for e in ends]) + late + exposed,
            ends[0].collective_s + float(late.max()),
        )
        return ledger.outcome(plan, end)


class _RankSpans:
    """Every rank's spans from its own step program, gathered into one span per event (all ranks), as
    :func:`dpsim.sim.training.run_step` records them for the ranks at once: a rank's n-th span of a
    (category, name) is the event's n-th occurrence."""

    def __init__(self, ranks: int) -> None:
        self.ranks = ranks
        self.events: dict[tuple[str, str, int], tuple[np.ndarray, np.ndarray]] = {}
        self.seen: list[dict[tuple[str, str], int]] = [{} for _ in range(ranks)]

    def log(self, r: int) -> Callable[[str, str, np.ndarray, np.ndarray], None]:
        def record(category: str, name: str, start: np.ndarray, end: np.ndarray) -> None:
            count = self.seen[r].get((category, name), 0)
            self.seen[r][(category, name)] = count + 1
            key = (category, name, count)
            if key not in self.events:
                self.events[key] = (np.zeros(self.ranks), np.zeros(self.ranks))
            starts, ends = self.events[key]
            starts[r], ends[r] = float(np.asarray(start).ravel()[0]), float(np.asarray(end).ravel()[0])

        return record

    def into(self, timeline: Timeline) -> None:
        record = np.asarray(timeline.recorded, dtype=int)
        for (category, name, _), (starts, ends) in self.events.items():
            timeline.add_span(category, name, starts[record], ends[record])


def run_on_one_network(
    plan: StepPlan,
    engine: ChunkEngine,
    forward_s: np.ndarray,
    backward_s: np.ndarray,
    timeline: Timeline | None = None,
) -> tuple[StepOutcome, int]:
    """One step of one data-parallel group with every collective of both of its streams on ONE network.

    :func:`~dpsim.sim.training.run_step` answers each collective on a network of its own, which is exact
    while one collective is in flight at a time; FSDP HYBRID_SHARD's replica all-reduce of bucket i runs on
    its own stream while bucket i+1's reduce-scatter runs, and when a shard group spans nodes both cross
    the NICs. Here every rank runs the step program (:class:`_Programs`, as on a shared fabric) on the
    engine's cluster, so concurrent collectives share links flow by flow. Returns the outcome and the
    network's events.
    """
    env = simpy.Environment()
    cluster = engine.cluster
    net = FluidNetwork(env, cluster.links.bandwidths)
    n = forward_s.shape[0]
    compiler = _Compiler(engine, cluster, np.arange(n))
    programs = _Programs(
        net, plan, forward_s, backward_s, compiler, 0.0, cluster.world_size > 1, record=timeline is not None
    )
    programs.start()
    env.run()
    return programs.outcome(plan, timeline=timeline, algorithm=engine.algorithm), net.events


RAIL_CHANNEL_ALGORITHMS = ("ring", "tree")
"""NCCL's algorithms whose channels enter and leave a node through chosen NICs (:func:`rail_copies`)."""


def _nic_loads(schedule: Schedule, cluster: Cluster, endpoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bytes (fractions of the message) each fabric NIC sends and receives in ``schedule`` over ``endpoints``."""
    g = cluster.per_node
    out = np.zeros((cluster.nodes, cluster.nics_per_node))
    into = np.zeros_like(out)
    for phase in schedule.phases:
        src, dst = endpoints[phase.src], endpoints[phase.dst]
        cross = src // g != dst // g
        if not cross.any():
            continue
        slot = None if phase.nic is None else phase.nic[cross]
        s, d, load = src[cross], dst[cross], phase.fraction[cross] * phase.repeat
        np.add.at(out, (s // g, cluster.nic_of(s % g, slot)), load)
        np.add.at(into, (d // g, cluster.nic_of(d % g, slot)), load)
    return out, into


def _balanced(loads: np.ndarray, used: np.ndarray) -> bool:
    """Whether every node's NICs in ``used`` carry the same load (nodes carrying none: trivially)."""
    rows = loads[:, used]
    return bool(np.all(np.abs(rows - rows.mean(axis=1, keepdims=True)) <= 1e-9 * max(1e-300, float(rows.max()))))


def rail_copies(schedule: Schedule, cluster: Cluster, endpoints: np.ndarray, per_node: int) -> Schedule:
    """``schedule`` (a data-parallel group's, built on its own fabric of ``per_node`` GPUs a node, node-major) as
    NCCL runs it on the GPUs ``endpoints`` of ``cluster``: its channels spread over the NICs those GPUs sit near.

    A group's fabric (:func:`dpsim.analytic.fabrics.dp_fabric`) gives it its share of the node's NICs; on the whole
    fabric its GPUs sit near several NICs (TP 4 on 8 GPUs with 2 NICs: GPUs i and 4 + i, NICs 0 and 1). NCCL's
    ring and tree channels leave and enter a node through NICs chosen per channel, not through the first and last
    GPU's own: ``src/graph/search.cc`` (``ncclTopoSearchRecNet``, ``ncclTopoSearchCheckNet``, ``ncclTopoCompute``,
    v2.19–v2.30) starts channel ``c`` on NIC ``(c + i) mod nNets`` from that NIC's local GPU, and either brings the
    channel back to that same NIC (``crossNic`` 0, tried first, widening the GPU→NIC path type up to ``PATH_PXN`` /
    ``PATH_SYS``; a tree always) or, with ``NCCL_CROSS_NIC`` 2 (the default), pairs an odd channel with the channel
    before it, entering by its exit NIC and leaving by its entry NIC. Either way every such NIC carries the same
    bytes each way. Here the schedule's one ring order would enter every node at the group's first GPU and leave
    at its last: all of a node's groups in on one NIC and out on another (TP 4, 2 NICs: +64 % on the step, the
    other NIC direction idle). So where the schedule's NIC loads on the fabric are uneven, it runs as ``c`` copies
    of ``1/c`` of the bytes, copy ``m`` with each node's local order rotated by ``m·per_node/d`` (``d`` NICs near
    the group's GPUs; the smallest ``c`` dividing ``d`` that evens the loads): a copy enters where NCCL's next
    channel does. Each copy keeps its transfers' channels, so a rank's per-channel throughput is shared as before.
    The NIC loads are then the symmetric reduction's (every NIC each way ``1/d`` of the group's bytes); inside a node
    the copies cut the ring at different edges (NVSwitch: the same port loads). Unchanged where the loads are even
    already, for every other algorithm, with sub-groups (HYBRID_SHARD) and on a hybrid cube mesh, whose rings are
    NVLink paths, not rotations.
    """
    ranks = schedule.ranks
    if (
        schedule.name not in RAIL_CHANNEL_ALGORITHMS
        or ranks != len(endpoints)
        or per_node <= 1
        or ranks % per_node
        or cluster.mesh_routes is not None
    ):
        return schedule
    ends = np.asarray(endpoints, dtype=np.int64)
    g = cluster.per_node
    node_nics = cluster.nic_of(ends % g).reshape(-1, per_node)
    if np.any(ends.reshape(-1, per_node) // g != (ends.reshape(-1, per_node) // g)[:, :1]):
        return schedule  # a group node of the schedule is not one node of the fabric
    nics = np.unique(node_nics[0])
    d = len(nics)
    if d <= 1 or per_node % d or np.any(node_nics != node_nics[0]):
        return schedule
    used = np.unique(node_nics)
    out, into = _nic_loads(schedule, cluster, ends)
    if _balanced(out, used) and _balanced(into, used):
        return schedule
    step = per_node // d
    rank = np.arange(ranks, dtype=np.int64)
    for c in (c for c in range(2, d + 1) if d % c == 0):
        moves = [(rank // per_node) * per_node + (rank % per_node + m * step) % per_node for m in range(c)]
        copied: dict[int, Phase] = {}
        for phase in schedule.phases:
            if id(phase) not in copied:

                def tile(values: np.ndarray | None, count: int = c) -> np.ndarray | None:
                    return None if values is None else np.tile(values, count)

                copied[id(phase)] = dataclasses.replace(
                    phase,
                    src=np.concatenate([move[phase.src] for move in moves]),
                    dst=np.concatenate([move[phase.dst] for move in moves]),
                    fraction=np.tile(phase.fraction / c, c),
                    channel=tile(phase.channel),
                    nic=tile(phase.nic),
                    stage=tile(phase.stage),
                )
        spread = dataclasses.replace(schedule, phases=tuple(copied[id(p)] for p in schedule.phases))
        out, into = _nic_loads(spread, cluster, ends)
        if _balanced(out, used) and _balanced(into, used):
            return spread
    return schedule


@functools.lru_cache(maxsize=64)
def tp_ring_nic_flows(tp: int, fabric: Fabric, op: str = "allreduce") -> tuple[tuple[int, int, int], ...]:
    """(NIC, flows out, flows in) of each NIC of a node that one ring phase of a TP group across nodes crosses, as
    :class:`_TensorFlows` runs the group's collectives on ``fabric``: NCCL's ring on the group's fabric
    (:func:`dpsim.analytic.parallel.tensor_parallel_fabric`: a NIC a GPU, so ``min(nics, G)`` channels,
    :func:`dpsim.sim.collectives.nccl.channels`, each entering a node at local ``c·G/k`` and leaving by the local
    before it, ``local_orders``), its channels spread over the NICs near the group's GPUs (:func:`rail_copies`).
    Each channel's crossing transfer is one flow on its NIC direction: on a node of 2 GPUs and 1 NIC, 2 flows each
    way, not 1. Every node of a group is alike (whole nodes, node-major); the first node's."""
    group = parallel.tensor_parallel_fabric(tp, fabric)
    engine = ChunkEngine(Cluster.from_fabric(group), "ring", protocol="none")
    cluster = Cluster.from_fabric(fabric)
    ends = np.arange(tp, dtype=np.int64)
    schedule = rail_copies(engine.choice(op, float(1 << 20))[0], cluster, ends, group.per_node)
    g = cluster.per_node
    out: dict[int, list[int]] = {}
    for phase in schedule.phases[:1]:
        src, dst = ends[phase.src], ends[phase.dst]
        slot = None if phase.nic is None else np.asarray(phase.nic)
        for way, ranks in ((0, src), (1, dst)):
            nics = cluster.nic_of(ranks % g, slot)
            for nic in nics[(src // g != dst // g) & (ranks // g == 0)].tolist():
                out.setdefault(int(nic), [0, 0])[way] += 1
    return tuple((nic, n_out, n_in) for nic, (n_out, n_in) in sorted(out.items()))


class _Compiler:
    """The schedule a job's engine picks for its group, compiled onto the group's GPUs of the whole fabric,
    its NCCL channels spread over the NICs near those GPUs (:func:`rail_copies`)."""

    def __init__(self, engine: ChunkEngine, cluster: Cluster, endpoints: np.ndarray) -> None:
        self.engine, self.cluster, self.endpoints = engine, cluster, endpoints
        self._compiled: dict[int, CompiledSchedule] = {}

    def __call__(self, op: str, size: float, groups: Groups | None = None) -> CompiledSchedule:
        schedule = self.engine.choice(op, size, groups)[0]
        key = id(schedule)
        if key not in self._compiled:
            ends = self.endpoints
            if schedule.ranks > len(ends):  # the parameter server's endpoint
                ends = np.append(ends, self.cluster.server_rank)
            elif groups is None:
                schedule = rail_copies(schedule, self.cluster, ends, self.engine.cluster.per_node)
            self._compiled[key] = CompiledSchedule(schedule, self.cluster, ends)
        return self._compiled[key]


class _PipelineFlows:
    """A job's stage-to-stage sends as flows on the shared network: the transfers of its pipeline schedule run live.

    A send of the pipeline schedule (:func:`dpsim.sim.pipeline.start_scenario_pipeline`, run in the fabric's
    environment) is, on the fabric, ``dp·tp`` flows of :func:`~dpsim.analytic.parallel.stage_boundary_bytes`
    (every tensor rank sends the tensor it holds), GPU (stage a, d, t) to GPU (stage b, d, t), over the links
    :meth:`~dpsim.sim.cluster.Cluster.routes` gives them; the send is done when its last flow is delivered, and the
    operation it feeds starts then. Sends on one directed stage link go one after another (the schedule's queue
    a direction, as NCCL runs a communicator's point-to-point operations in order on its stream).
    """

    def __init__(self, net: FluidNetwork, cluster: Cluster, gpus: np.ndarray, nbytes: float) -> None:
        self.net = net
        self.gpus = gpus  # (pp, dp·tp) fabric endpoints
        self.nbytes = nbytes
        self.sends: list[tuple[Any, float, simpy.Event]] = []
        """Each send posted: the operation it feeds, when it left, its delivery."""
        self.left: list[int] = []
        self.took: dict[Any, float] = {}
        self._owner = net.owner(self._delivered)
        self._cluster = cluster

    def transfer(self, src_stage: int, dst_stage: int, op: Any) -> simpy.Event:
        """Start a send from stage ``src_stage`` to ``dst_stage`` (feeding ``op``) now: its delivery."""
        k = len(self.sends)
        delivered = self.net.env.event()
        self.sends.append((op, self.net.env.now, delivered))
        src, dst = self.gpus[src_stage], self.gpus[dst_stage]
        routes, latency = self._cluster.routes(src, dst)
        self.left.append(len(src))
        sizes = np.full(len(src), self.nbytes)
        self.net.start_many(routes, sizes, latency, self._owner, np.full(len(src), k, dtype=np.int64))
        return delivered

    def _delivered(self, tags: np.ndarray) -> None:
        for k, n in zip(*np.unique(tags, return_counts=True), strict=True):
            self.left[k] -= int(n)
            if self.left[k] == 0:
                op, left, delivered = self.sends[k]
                self.took[op] = self.net.env.now - left
                delivered.succeed()

    def durations(self) -> dict[Any, float]:
        """How long each send took on the network (from when its link was free for it), by the operation it feeds."""
        return dict(self.took)


class _LiveStages:
    """A job's pipeline run live on the shared network, and each stage's data-parallel streams started from it.

    The fixed schedule (``nominal``: :func:`dpsim.sim.pipeline.scenario_pipeline`, the engines' own) places each
    stage's work and releases its tensor-parallel flows; the live one (:func:`dpsim.sim.pipeline.
    start_scenario_pipeline` in the fabric's environment, every send a :class:`_PipelineFlows` transfer) runs the
    same operations, each starting when its input is delivered on the network. A stage's data-parallel stream starts
    when the live schedule starts that stage's last backward, its buckets as much later than planned as that
    backward began (:meth:`_Stream.start_late`): a stage whose last gradient arrives late reduces late, and its
    reduction does not meet the send that delivers that gradient, which it could not have (the one-pass version
    started every reduction at the fixed schedule's time and added the stage's lateness after it: PP 2 over 4 nodes
    of 1 GPU, GPipe, the first stage's reduction overlapped the send of its last gradient on its NIC).
    """

    def __init__(self, nominal: PipelineRun, flows: _PipelineFlows) -> None:
        self.nominal, self.flows = nominal, flows
        p = len(nominal.stage_end_s)
        self.starts = [
            [start for d_, kind, _, start, _ in nominal.intervals if d_ == d and kind != "p2p"] for d in range(p)
        ]
        self.delay_s = np.zeros(p)
        self.streams: list[list[_Stream]] = [[] for _ in range(p)]
        self.anchors: dict[tuple[int, int], list[_Stream]] = {}
        """(stage, operation) → the streams that start when it does: each at the last operation of its stage that
        the fixed schedule starts by its first item's ready time (a DDP bucket: the last backward)."""
        self.live: LivePipeline | None = None
        self.tensor: _TensorFlows | None = None
        """The job's TP collectives, run inside the live operations (:meth:`_work`) where they are flows."""
        self.dp = 1

    def start(self, scenario: Scenario, nominal: tuple[float, float], tp_comm_s: float) -> None:
        self.dp = scenario.data_parallel
        work = self._work if self.tensor is not None and self.tensor.live else None
        self.live = start_scenario_pipeline(
            scenario, *nominal, tp_comm_s, self.flows.net.env, self.flows.transfer, self._begun, work
        )

    def _work(self, stage: int, index: int, _duration: float) -> simpy.Event:
        """Operation ``index`` of ``stage``: its compute and its blocking TP collectives on the network, layer by
        layer, for every TP group of the stage (the ``dp`` replicas run the one schedule: the operation ends when
        the last of them is done)."""
        assert self.tensor is not None
        return self.tensor.run_op(range(stage * self.dp, (stage + 1) * self.dp), index)

    def add(self, stage: int, stream: _Stream) -> None:
        """Start ``stream`` (a DP group of ``stage``) from the live schedule (:meth:`_begun`)."""
        self.streams[stage].append(stream)
        first = float(stream.items[0].ready.min()) if stream.items else float("inf")
        starts = self.starts[stage]
        anchor = max([k for k, at in enumerate(starts) if at <= first], default=0)
        self.anchors.setdefault((stage, anchor), []).append(stream)

    def _begun(self, stage: int, index: int) -> None:
        streams = self.anchors.pop((stage, index), [])
        if streams:
            self.delay_s[stage] = self.flows.net.env.now - self.starts[stage][index]
            for stream in streams:
                stream.start_late(float(self.delay_s[stage]))

    def stage_delay_s(self) -> list[float]:
        """How much later each stage ended on the network than in the fixed schedule."""
        assert self.live is not None
        return [b - a for a, b in zip(self.nominal.stage_end_s, self.live.ends, strict=True)]


@dataclasses.dataclass(frozen=True)
class _Pass:
    """A pass's blocking TP collectives: ``count`` all-reduces from ``start_s`` (nominal), after ``compute_s``."""

    start_s: float
    compute_s: float
    count: int


class _TensorFlows:
    """A job's tensor-parallel collectives as flows on the shared network: one stream per TP group.

    Megatron's blocking all-reduces of a pass (or reduce-scatter + all-gather with sequence
    parallelism: :func:`dpsim.analytic.parallel.tensor_parallel_collectives`) run over the TP group's
    GPUs layer by layer inside the pass whose time the engines lengthen by them — each layer's
    compute, then its 2 all-reduces in the forward, the rest of its share in the backward
    (:func:`_by_layer`) — on the schedule the engines price them with (the ring), routed over the
    links the GPUs really take (NVSwitch inside a node; host link and NIC when the group spans
    nodes). A layer's first collective joins at max(its nominal start, the previous layer's last
    collective done + this layer's compute), so a slowed collective delays the rest of its group's
    step; the group's lateness is how much later its last one ends.
    """

    def __init__(
        self,
        net: FluidNetwork,
        cluster: Cluster,
        scenario: Scenario,
        fabric: Fabric,
        gpus: np.ndarray,
        passes: list[list[_Pass]],
        ops: list[list[int]] | None = None,
    ) -> None:
        """``ops``: where the pipeline runs live (:class:`_LiveStages`), how many of each group's ``passes`` each
        operation of its stage holds, in order: an operation's collectives wait for it to start (:meth:`run_op`)."""
        tp = scenario.training.tensor_parallel
        group = parallel.tensor_parallel_fabric(tp, fabric)
        engine = ChunkEngine(Cluster.from_fabric(group), "ring", protocol="none")
        self.slot = parallel.tensor_parallel_collectives(scenario, fabric)
        self.one_s = sum(seconds for _, seconds in self.slot)
        size, gathered = parallel.activation_message_bytes(scenario), parallel.sequence_gather_bytes(scenario)
        self.streams: list[_Stream] = []
        self.ops = []
        self.nominal_end = np.zeros(len(passes))
        self.releases = sum(len(group) for group in passes)
        """Times the groups' TP collectives are released (each layer of each pass of each TP group)."""
        for g, (where, group_passes) in enumerate(zip(gpus, passes, strict=True)):
            items = []
            for p in group_passes:
                for i in range(p.count * len(self.slot)):
                    op = self.slot[i % len(self.slot)][0]
                    first = i == 0
                    ready = np.full(tp, p.start_s if first and ops is None else 0.0)
                    moved = gathered if op == "all_gather" else size
                    items.append(_Item(f"tensor-parallel {op}", op, moved, ready, p.compute_s if first else 0.0))
            if group_passes:
                last = group_passes[-1]
                self.nominal_end[g] = last.start_s + last.count * self.one_s
            stream = _Stream(net, items, _Compiler(engine, cluster, where), tp)
            self.streams.append(stream)
            if ops is not None:
                spans, item = [], 0
                for first, count in zip(np.cumsum([0, *ops[g][:-1]]).tolist(), ops[g], strict=True):
                    n = sum(p.count * len(self.slot) for p in group_passes[first : first + count])
                    spans.append((item, item + n - 1, group_passes[first].compute_s))
                    stream.gate(item)
                    item += n
                self.ops.append(spans)
        self.live = ops is not None

    ops: list[list[tuple[int, int, float]]]

    def run_op(self, groups: Sequence[int], op: int) -> simpy.Event:
        """Start operation ``op`` of the TP ``groups`` (one stage's) now: its first layer's compute, then its
        collectives layer by layer on the network; the event succeeds when every group is done with its last."""
        now = self.streams[groups[0]].net.env.now
        ends = []
        for g in groups:
            first, last, compute = self.ops[g][op]
            self.streams[g].open(first, now + compute)
            ends.append(self.streams[g].ended(last))
        return simpy.AllOf(self.streams[groups[0]].net.env, ends)

    def start(self) -> None:
        for stream in self.streams:
            stream.start()

    def late_s(self) -> np.ndarray:
        """How much later each TP group's last collective ended than its uncontended schedule says (≥ 0)."""
        ends = np.array([float(st.done[-1].max()) if st.items else 0.0 for st in self.streams])
        return np.maximum(0.0, ends - self.nominal_end)

    def took_s(self) -> float:
        """The longest single TP collective on the network (join of its last rank to its end)."""
        longest = 0.0
        for st in self.streams:
            if st.items:
                longest = max(longest, float((st.done.max(axis=1) - st.joins.max(axis=1)).max()))
        return longest


def _by_layer(spans: Sequence[tuple[float, float]], count: int, layers: float, one_s: float) -> list[_Pass]:
    """A pass's ``count`` TP collectives (``one_s`` each alone), released layer by layer as Megatron runs them
    (each layer's compute, then that layer's blocking all-reduces), the count shared out evenly.

    ``spans``: when the pass works (its compute and TP), in order: one span, or one per gathered piece
    with the waits for the gathers between them. The engines put the TP time inside the pass (it lasts
    compute + TP); here it is placed: layer ``i``'s collectives start once the pass has done ``i + 1``
    layers of compute and the ``i`` layers' collectives before them. Collectives that would run past a
    span's end (into the gather that follows it: FSDP's pieces are its units, and the root's remainder
    pieces shift the layers off the piece boundaries) start with the next span instead.
    """
    n = max(1, min(count, round(layers)))
    lengths = [end - start for start, end in spans]
    compute = max(0.0, sum(lengths) - count * one_s) / n

    def time_at(offset: float, lasting: float) -> float:
        """When collectives lasting ``lasting`` start once the pass has done ``offset`` of its work (the end of
        a span, not the start of the next, unless they would outlast the span)."""
        for index, ((start, _), length) in enumerate(zip(spans, lengths, strict=True)):
            if offset <= length * (1 + 1e-12):
                if offset + lasting > length * (1 + 1e-12) and index + 1 < len(spans):
                    return spans[index + 1][0]
                return start + offset
            offset -= length
        return spans[-1][1] + offset

    out, done = [], 0.0
    for i in range(n):
        share = count // n + (1 if i < count % n else 0)
        done += compute
        out.append(_Pass(time_at(done, share * one_s), compute, share))
        done += share * one_s
    return out


def _tp_passes(
    per_pass: tuple[int, int],
    forward_s: np.ndarray,
    backward_s: np.ndarray,
    one_s: float,
    shift_s: float,
    layers: float,
) -> list[_Pass]:
    """A TP group's passes laid out as :func:`_items` lays out its rank's step (each pass: compute + its TP),
    layer by layer (:func:`_by_layer`)."""
    clock = shift_s
    out = []
    for f, b in zip(forward_s.tolist(), backward_s.tolist(), strict=True):
        for compute, count in ((f, per_pass[0]), (b, per_pass[1])):
            end = clock + compute + count * one_s
            out += _by_layer([(clock, end)], count, layers, one_s)
            clock = end
    return out


def _program_passes(
    plan: StepPlan,
    engine: ChunkEngine,
    forward_s: np.ndarray,
    backward_s: np.ndarray,
    per_pass: tuple[int, int],
    one_s: float,
    layers: float,
) -> list[list[_Pass]]:
    """Per DP rank, its TP passes where the simulator's step program runs its passes on the group's own network
    (:func:`dpsim.sim.training.run_step`: ZeRO-3/FSDP pieces with the waits for their gathers between
    them), layer by layer (:func:`_by_layer`): the fixed, uncontended schedule the TP flows are released on."""
    n = forward_s.shape[0]
    work: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}

    def log(category: str, name: str, start: np.ndarray, end: np.ndarray) -> None:
        if category in ("forward", "backward"):  # "forward 3" or "forward 3 piece 2": micro-batch 3's forward
            spans = work.setdefault((category, name.split()[1]), [])
            spans.append((np.broadcast_to(start, n), np.broadcast_to(end, n)))

    run_step(plan, engine, forward_s, backward_s, log=log)
    out = []
    for d in range(n):
        passes: list[_Pass] = []
        for (kind, _), spans in work.items():  # in the order the passes ran
            count = per_pass[0] if kind == "forward" else per_pass[1]
            passes += _by_layer([(float(s[d]), float(e[d])) for s, e in spans], count, layers, one_s)
        out.append(passes)
    return out


def _tp_passes_of_stage(
    run: PipelineRun, stage: int, per_pass: tuple[int, int], chunks: int, one_s: float, layers: float
) -> tuple[list[_Pass], list[int]]:
    """A TP group's passes where the pipeline schedule runs its stage's operations (each chunk: its layers'
    share), layer by layer (:func:`_by_layer`), and how many of them each operation holds, in order."""
    out: list[_Pass] = []
    ops = []
    for where, kind, _name, start, end in run.intervals:
        if where != stage or kind not in ("forward", "backward"):
            continue
        count = max(1, round((per_pass[0] if kind == "forward" else per_pass[1]) / chunks))
        layered = _by_layer([(start, end)], count, layers / chunks, one_s)
        out += layered
        ops.append(len(layered))
    return out, ops


def _items(
    plan: StepPlan, forward_s: np.ndarray, backward_s: np.ndarray, shift_s: float = 0.0
) -> tuple[list[_Item], np.ndarray, np.ndarray, _OverlappedGathers | None]:
    """A group's stream (buckets; ZeRO-1/2 parameter gathers), the end of its compute and its compute time,
    and Megatron's overlapped gathers (None: the step waits for every gather).

    ``shift_s``: when the group's micro-batches start (its pipeline stage's idle time before its last backward).
    """
    k = forward_s.shape[1]
    tp_forward, tp_backward = plan.tp_comm_s * plan.tp_forward_share, plan.tp_comm_s * (1.0 - plan.tp_forward_share)
    clock = np.full(forward_s.shape[0], shift_s)
    start = clock
    copy_in = plan.bucket_copies.in_backward_s if plan.gradient_buckets else 0.0  # DDP's pass (as run_step)
    for j in range(k):
        clock = clock + forward_s[:, j] + tp_forward
        start = clock
        clock = clock + backward_s[:, j] + tp_backward + (copy_in if j == k - 1 else 0.0)
    grad_op = plan.gradient_op
    # TP inside the pass (as run_step): the last backward's gradients are ready over its compute + TP span
    last_pass = backward_s[:, k - 1] + tp_backward + copy_in
    ready = bucket_ready(plan, start, last_pass, start + last_pass)
    buckets = zip(plan.gradient_buckets, ready, strict=True)
    items = [_Item(f"bucket {i}", grad_op, size, at) for i, (size, at) in enumerate(buckets)]
    overlapped = None
    if plan.gathers[2]:
        after = clock + plan.optimizer_s
        if plan.overlap_param_gather:
            overlapped = _OverlappedGathers(plan, forward_s[:, 0] + tp_forward, len(items))
            items += overlapped.items(after, plan.optimizer_s)
        else:
            for i, size in enumerate(plan.parameter_buckets):
                after_s = plan.optimizer_s if i == 0 else 0.0
                items.append(_Item(f"parameter gather {i}", "all_gather", size, after, after_s))
    if plan.post_step_broadcasts and items:  # torch's ZeroRedundancyOptimizer: _sync_params (as run_step)
        after = clock + plan.optimizer_s
        for i, size in enumerate(plan.post_step_broadcasts):
            items.append(
                _Item(f"parameter broadcast {i}", "broadcast", size, after, plan.optimizer_s if i == 0 else 0.0)
            )
    return items, clock, (forward_s + backward_s).sum(axis=1) + copy_in, overlapped


def _outcome(
    plan: StepPlan,
    stream: _Stream,
    clock: np.ndarray,
    compute: np.ndarray,
    pipeline_s: float | None = None,
    tp_late_s: np.ndarray | None = None,
    overlapped: _OverlappedGathers | None = None,
) -> StepOutcome:
    """The group's step as :func:`dpsim.sim.training.run_step` reports it, from the stream's joins and ends.

    ``pipeline_s``: None when the pipeline's bubble and exposed sends come after the group's work
    (the analytic terms); else the group's clock and stream already hold its place in the pipeline, and
    ``pipeline_s`` is how much later its stage's last backward began because sends were slowed on the network
    (already in ``clock``: counted as communication, not added again).
    ``tp_late_s``: per rank, how much later its tensor-parallel collectives on the network let its work end.
    ``overlapped``: Megatron's overlapped parameter gathers (the step ends at their exposed part).
    """
    n = stream.ranks
    grads = len(plan.gradient_buckets) if stream.items else 0  # data_parallel = 1: nothing to reduce
    comm, wait = np.zeros(n), np.zeros(n)
    total = 0.0
    calls = []
    for item, joins, done in zip(stream.items, stream.joins, stream.done, strict=True):
        last = float(joins.max())
        wait += last - joins
        comm += np.maximum(0.0, done - last)
        total += max(0.0, float(done.max()) - last)
        calls.append((item.name, last, float(done.max())))
    k = plan.accumulation
    comm += k * plan.tp_comm_s
    total += k * (plan.tp_comm_s + plan.tp_hidden_s)
    if tp_late_s is not None:
        clock = clock + tp_late_s
        comm += tp_late_s
        total += float(tp_late_s.max())
    end = np.maximum(clock, stream.done[grads - 1] if grads else 0.0)
    if (grads or not stream.items) and plan.bucket_copies.back_s:  # DDP's copies back (as run_step; one rank too)
        copied = plan.bucket_copies.back_end(clock, end)
        compute = compute + (copied - end)
        end = copied
    end = end + plan.optimizer_s
    if overlapped is not None and len(stream.items) > grads:
        end = end + overlapped.exposed()
    elif len(stream.items) > grads:
        end = np.maximum(end, stream.done[-1])
    late = 0.0 if pipeline_s is None else pipeline_s
    end = end + (plan.bubble_s + plan.p2p_exposed_s if pipeline_s is None else 0.0)
    comm += plan.p2p_exposed_s + late
    total += plan.p2p_total_s + late
    end = end + plan.tied_embedding_s  # after the drain, as run_step's program
    comm += plan.tied_embedding_s
    total += plan.tied_embedding_s
    wait += float(end.max()) - end
    return StepOutcome(end, compute, comm, wait, plan.optimizer_s, total, len(calls), plan.bubble_s, calls)


_Group = tuple[_Stream | _Programs, np.ndarray | None, np.ndarray | None, _OverlappedGathers | None]
"""A DP group: its stream of items, the end of its compute and its compute time, Megatron's overlapped
gathers; or its per-rank programs (the rest None)."""


@dataclasses.dataclass
class _Job:
    scenario: Scenario
    model: Any
    plan: StepPlan
    nominal: tuple[float, float]
    """Forward and backward of one micro-batch on one stage, as the step plan takes them."""
    groups: list[_Group]
    flows: _LiveStages | None
    tensor: _TensorFlows | None = None


def _tensor_flows(
    s: Scenario,
    net: FluidNetwork,
    cluster: Cluster,
    nodes: np.ndarray,
    per_node: int,
    forward_s: np.ndarray,
    backward_s: np.ndarray,
    shifts: np.ndarray,
    run: PipelineRun | None,
    program: tuple[StepPlan, ChunkEngine] | None = None,
    live: bool = False,
) -> _TensorFlows:
    """The job's TP groups, (stage, d) in order, with their passes: from the pipeline schedule when it
    runs as flows, else laid out as the DP groups' streams lay out each rank's step, or, for a job run as
    step programs (``program``: its plan and engine), as the program runs each rank's passes."""
    t = s.training
    tp, dp, pp = t.tensor_parallel, s.data_parallel, t.pipeline_parallel
    # the fabric the step plan prices TP on (a degraded NIC's worst factor: with_degraded_nics), so a group's lateness
    # is what the network adds beyond the TP time its passes already hold. On fabric_of's full rate a TP group
    # across a degraded node was late by the degradation the plan had charged: twice (+58 % on 4 nodes, NIC at 0.25)
    fabric = analytic_step.model_parallel_fabric(s)
    per_stage = parallel.layers_per_stage(s) * parallel.tensor_parallel_counts(s)[0]
    forward = round(parallel.layers_per_stage(s) * parallel.forward_allreduces_per_layer(s.model.parallel_block))
    per_pass = (max(1, forward), max(1, round(per_stage) - forward))
    one_s = sum(seconds for _, seconds in parallel.tensor_parallel_collectives(s, fabric))
    gpus = np.arange(pp * dp * tp).reshape(pp * dp, tp)
    where = nodes[gpus // per_node] * per_node + gpus % per_node
    passes = []
    layers = parallel.layers_per_stage(s)
    ranks = None
    if program is not None and run is None:
        ranks = _program_passes(*program, forward_s, backward_s, per_pass, one_s, layers)
    ops: list[list[int]] | None = [] if live and run is not None else None
    for stage in range(pp):
        chunks = t.virtual_stages if t.pipeline_schedule == "interleaved" else 1
        stage_passes, stage_ops = (
            _tp_passes_of_stage(run, stage, per_pass, chunks, one_s, layers) if run is not None else (None, [])
        )
        shift = float(shifts[stage])
        for d in range(dp):
            if ops is not None:
                ops.append(stage_ops)
            if stage_passes is not None:
                passes.append(stage_passes)
            elif ranks is not None:
                passes.append([dataclasses.replace(p, start_s=p.start_s + shift) for p in ranks[d]])
            else:
                passes.append(_tp_passes(per_pass, forward_s[d], backward_s[d], one_s, shift, layers))
    return _TensorFlows(net, cluster, s, fabric, where, passes, ops)


def _run_bounded(env: simpy.Environment, net: FluidNetwork, work: budget.SharedWork) -> None:
    """``env.run()``, stopped with a one-line error once the work passes the budget, checked after every event (round
    37: checked every 256 events, a run at 4,096 nodes, where one max-min recompute costs about 0.16 s, could pass its
    limit by tens of seconds before the check came round; now by at most one event's recomputes)."""
    steps = 0
    over = work.over
    while True:
        try:
            env.step()
        except simpy.core.EmptySchedule:
            return
        steps += 1
        if over(steps, net.events, net.rate_work, net.link_work):
            raise work.error(steps, net.events, float(env.now), net.rate_work, net.link_work)


def unread_on_one_fabric(scenario: Scenario) -> dict[str, str]:
    """The simulator's fields a shared fabric does not read, each with why (listed in every job's
    ``extra.ignored_fields``): :func:`simulate_shared` runs one step of every job together, each job's jitter drawn
    once (replication 0: ``variability.replications`` and ``simulation.steps`` above 1 were run as 1, and the record
    said so without a word), and every data-parallel group at chunk level (``simulation.fidelity: fast``)."""
    one = "a shared fabric simulates one step of every job together (run a job alone for more)"
    out = {}
    if scenario.variability.replications > 1:
        out["variability.replications"] = one
    if scenario.simulation.steps > 1:
        out["simulation.steps"] = one
    if scenario.simulation.fidelity == "fast":
        out["simulation.fidelity"] = "a shared fabric runs every job's data-parallel groups at chunk level"
    return out


def profile_on_one_fabric(scenario: Scenario) -> None:
    """Refuse a calibration profile a shared fabric cannot apply to the job, saying why; pass one it can.

    A profile's links (:func:`dpsim.analytic.step.calibrated_fabric`) are whole-collective α–β fits per algorithm, with
    the measuring host's sharing (``host_senders``) and size regimes folded in: an effective price per collective, not
    a link capacity this network's max-min sharing could split between the flows of several groups and jobs. Its host
    model (``overlap_backward``, ``comm_rate_in_backward``) is the shared host of the emulated testbed, read by the
    single-job step (:meth:`dpsim.sim.simulate._Replication.run`), which this one does not run. A profile with neither
    (compute measured by ``calibrate --from-trace``, forward / backward / optimizer fits, the traced bucket readiness)
    describes the job's own devices and is applied per job, as both single-job engines apply it: one job alone on the
    fabric is the simulator's step (``tests/test_contention.py``)."""
    if scenario.calibration is None:
        return
    profile = profile_for(scenario)
    assert profile is not None
    if profile.links or profile.collectives:
        raise ScenarioError(
            "calibration",
            "a shared fabric splits each link's bandwidth between every job's flows, and a profile's links are "
            "whole-collective α–β fits per algorithm with its host's sharing folded in, not capacities to split: "
            "run the job alone with the profile, or on the fabric with a profile of compute only (no links)",
        )
    if profile.host_model is not None:
        raise ScenarioError(
            "calibration",
            "a profile's host model prices ranks sharing one host's cores (the emulated testbed), which only a job "
            "run alone reads: run the job alone with the profile, or on the fabric without its host model",
        )


def unique_names(scenarios: Sequence[Scenario]) -> list[Scenario]:
    """The jobs, each later one whose name an earlier job already has renamed ``NAME #k`` (k = 2, 3, …).

    Two jobs of one file (``dpsim run a.yaml a.yaml --shared-fabric``) printed the same name in every
    table, CSV row and ``extra.shared_fabric.jobs``: nothing told them apart but their order. A name some job
    already carries is never given to a repeat, wherever that job comes (``a``, ``a``, ``a #2``: the repeat is
    ``a #3``; it was ``a #2`` and the third job then ``a #2 #2``).
    """
    taken = {s.name for s in scenarios}
    seen: set[str] = set()
    named = []
    for s in scenarios:
        name, k = s.name, 1
        while name in seen or (k > 1 and name in taken):
            k += 1
            name = f"{s.name} #{k}"
        seen.add(name)
        named.append(s if name == s.name else s.model_copy(update={"name": name}))
    return named


def simulate_shared(
    scenarios: Sequence[Scenario],
    *,
    placement: str = "packed",
    pipeline_flows: bool = True,
    tp_flows: bool = True,
    allow_long: bool = False,
) -> list[StepResult]:
    """One step of every job in ``scenarios`` on one fabric, every DP group at chunk level on one network.

    With ``pipeline_flows`` (default) the stage-to-stage sends of pipelined jobs are flows on
    the same network, and each DP group's work sits where the pipeline schedule puts its
    stage; without, the pipeline's bubble and sends are the per-step analytic terms. With
    ``tp_flows`` (default) the tensor-parallel collectives are flows on it too (:class:`_TensorFlows`);
    without, they are the per-micro-batch analytic term.
    Returns one :class:`~dpsim.records.StepResult` per job (in order); ``extra["shared_fabric"]``
    says where the job ran and with whom. Bounded work (:mod:`dpsim.sim.budget`): the pipeline
    schedules and TP collectives are priced before anything runs, and the run stops with a
    one-line error once its simpy and flow events pass the 5-minute cost limit, unless ``allow_long``.
    """
    if not scenarios:
        raise ValueError("simulate_shared needs at least one scenario")
    scenarios = unique_names(scenarios)
    for s in scenarios:
        if s.cluster.rank_order != "node_major":
            raise ScenarioError("cluster.rank_order", "a shared fabric places every job's ranks node-major")
        profile_on_one_fabric(s)
    if len(scenarios) > 1 and any(analytic_step.algorithm_of(s) == "parameter-server" for s in scenarios):
        # the fabric attaches ONE server port (Topology.attach_server): every job's server traffic would meet on it,
        # and a one-node job's server would move from inside its node to across the network (2 jobs of 1 node:
        # 11x the job alone; of 2 nodes: 2x). Each job has its own parameter server.
        raise ScenarioError(
            "communication.algorithm",
            "parameter-server jobs run alone: a shared fabric has one server port, each job its own server",
        )
    fabric = shared_fabric(scenarios)
    work = budget.check_shared(scenarios, allow_long)
    nodes_of = place(scenarios, placement)
    # each job's degraded NICs (variability.degraded_links) on the fabric nodes it was placed on; they were dropped
    degraded = {
        int(nodes[d]): f for s, nodes in zip(scenarios, nodes_of, strict=True) for d, f in degraded_nodes(s).items()
    }
    cluster = Cluster.from_fabric(fabric, degraded)
    env = simpy.Environment()
    net = FluidNetwork(env, cluster.links.bandwidths)
    per_node = fabric.per_node
    jobs: list[_Job] = []
    for s, nodes in zip(scenarios, nodes_of, strict=True):
        profile = profile_for(s)  # compute only (profile_on_one_fabric): the job's measured compute and readiness
        model = compute_model(s, profile)
        pace = analytic_step.expected_pace(s)
        nominal = (model.forward_s * pace, model.backward_s * pace)
        # with the sends as flows the network prices what meets them: the terms without the engines' NIC loads
        plan = step_plan(
            s, model.optimizer_s, *nominal, nic_loads=not (pipeline_flows and s.training.pipeline_parallel > 1)
        )
        fwd, bwd, _ = worker_times(s, model, replication_rng(s.variability, 0), 1)
        engine = ChunkEngine(build_cluster(s, profile), analytic_step.algorithm_of(s), protocol=fabric.protocol)
        t = s.training
        flows = None
        shifts = np.zeros(t.pipeline_parallel)
        if pipeline_flows and t.pipeline_parallel > 1:
            run = scenario_pipeline(s, *nominal, plan.tp_comm_s)
            # each stage's work ends where the schedule ends it: the pipeline's overhead, less the stage's lead
            shifts = plan.bubble_s + plan.p2p_exposed_s - (run.makespan_s - np.asarray(run.stage_end_s))
            gpus = np.arange(t.pipeline_parallel * s.data_parallel * t.tensor_parallel).reshape(t.pipeline_parallel, -1)
            size = parallel.stage_boundary_bytes(s)
            sends = _PipelineFlows(net, cluster, nodes[gpus // per_node] * per_node + gpus % per_node, size)
            flows = _LiveStages(run, sends)
        tensor = None
        # overlapped TP: the analytic terms
        if tp_flows and t.tensor_parallel > 1 and not parallel.tensor_parallel_overlapped(s):
            run_ = flows.nominal if flows is not None else None
            program = (plan, engine) if budget.runs_as_programs(s) else None
            live = flows is not None
            tensor = _tensor_flows(s, net, cluster, nodes, per_node, fwd[0], bwd[0], shifts, run_, program, live)
            if flows is not None:
                flows.tensor = tensor
        groups: list[_Group] = []
        # with the sends as flows a group starts at its stage's place in the schedule: no analytic pipeline terms
        program_plan = plan if flows is None else dataclasses.replace(plan, bubble_s=0.0, p2p_exposed_s=0.0)
        for row, gpus in enumerate(dp_groups(s)):
            where = nodes[gpus // per_node] * per_node + gpus % per_node
            shift = float(shifts[row // t.tensor_parallel])
            if budget.runs_as_programs(s):
                compiler = _Compiler(engine, cluster, where)
                programs = _Programs(net, program_plan, fwd[0], bwd[0], compiler, shift, s.data_parallel > 1)
                groups.append((programs, None, None, None))
                continue
            items, clock, compute, overlapped = _items(plan, fwd[0], bwd[0], shift)
            if s.data_parallel == 1:
                items, overlapped = [], None
            items_stream = _Stream(net, items, _Compiler(engine, cluster, where), len(where))
            if overlapped is not None:
                overlapped.stream = items_stream
            if flows is not None:  # started by the live schedule, when its stage starts its last backward
                flows.add(row // t.tensor_parallel, items_stream)
            groups.append((items_stream, clock, compute, overlapped))
        jobs.append(_Job(s, model, plan, nominal, groups, flows, tensor))
    for job in jobs:
        for group in job.groups:
            if job.flows is None or isinstance(group[0], _Programs):
                group[0].start()
        if job.flows is not None:
            job.flows.start(job.scenario, job.nominal, job.plan.tp_comm_s)
        if job.tensor is not None:
            job.tensor.start()
    _run_bounded(env, net, work)
    results = []
    for j, job in enumerate(jobs):
        s, model, plan, groups = job.scenario, job.model, job.plan, job.groups
        late: list[float | None] = [None] * s.training.pipeline_parallel
        held = np.zeros(s.training.pipeline_parallel)
        pipeline: dict[str, Any] = {}
        if job.flows is not None:
            # how much later each stage ended on the network (a stream's start already holds its stage's delay)
            late = list(job.flows.stage_delay_s())
            held = job.flows.delay_s
            took = job.flows.flows.durations()
            pipeline = {
                "sends": len(took),
                "send_s": parallel.pipeline_p2p_time(s, analytic_step.model_parallel_fabric(s)),
                "longest_send_s": max(took.values(), default=0.0),
                "stage_delay_s": late,
            }
        tp, dp = s.training.tensor_parallel, s.data_parallel
        # TP group (stage, d) holds DP rank d of each of the stage's tp DP groups
        # TP run inside the live pipeline's operations: its lateness is the stages' (not added again)
        live_tp = job.tensor is not None and job.tensor.live
        tp_late = job.tensor.late_s().reshape(-1, dp) if job.tensor is not None and not live_tp else None
        outcomes = []
        for row, (runner, ends, computed, gathers) in enumerate(groups):
            group_late = None if tp_late is None else tp_late[row // tp]
            if isinstance(runner, _Programs):
                outcomes.append(runner.outcome(plan, late[row // tp], group_late))
            else:
                assert ends is not None and computed is not None
                stage = row // tp
                # the stream started as late as its stage's last backward; the work ends as late as the stage
                delay = None if late[stage] is None else max(float(held[stage]), float(late[stage] or 0.0))
                outcomes.append(_outcome(plan, runner, ends + (delay or 0.0), computed, delay, group_late, gathers))
        worst = max(outcomes, key=lambda o: o.step_time_s)
        samples = worker_samples(s, dp_slowdowns(s))
        result = _result(s, model, plan, [[worst]], samples, "chunk", (net.events, len(groups)), model.profile)
        # where the fabric placed the job's nodes: a fat-tree's oversubscription is read once they span two leaves
        ignored = s.ignored_fields(leaves=len(set((nodes_of[j] // fabric.nodes_per_leaf).tolist())))
        ignored.update(unread_on_one_fabric(s))
        ignored.update(unread_under_profile(s, model.profile))
        extra = {k: v for k, v in result.extra.items() if k != "ignored_fields"}
        if ignored:
            extra["ignored_fields"] = ignored
        extra["shared_fabric"] = {
            "jobs": [x.name for x in scenarios],
            "job": j,
            "placement": placement,
            "nodes": nodes_of[j].tolist(),
            "fabric_nodes": fabric.nodes,
            "dp_groups": len(groups),
            "group_step_times_s": [o.step_time_s for o in outcomes],
        }
        if pipeline:
            extra["shared_fabric"]["pipeline_flows"] = pipeline
        if job.tensor is not None:
            extra["shared_fabric"]["tensor_parallel_flows"] = {
                "groups": len(job.tensor.streams),
                "collectives": sum(len(st.items) for st in job.tensor.streams),
                "collective_s": job.tensor.one_s,
                "releases": job.tensor.releases,
                "longest_collective_s": job.tensor.took_s(),
                "group_delay_s": job.tensor.late_s().tolist(),
            }
        results.append(dataclasses.replace(result, extra=extra))
    return results
