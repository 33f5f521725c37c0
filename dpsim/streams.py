"""Two communication streams in flight at once, priced from the load each puts on the links.

FSDP HYBRID_SHARD reduce-scatters bucket i+1 in the shard groups while bucket i's shard is
all-reduced in the replica groups on a second stream (PyTorch FSDP ``_all_reduce_stream``). When a
shard group spans nodes both cross the NICs. The chunk level runs both on one network
(:func:`dpsim.sim.shared.run_on_one_network`); the fast level and the analytic engine price each
collective by its phases' link loads (:func:`dpsim.sim.cost.phase_cost`), and here by the same
loads over the interval in which both are in flight:

* a collective runs phase by phase (:func:`dpsim.sim.cost.phased_job`), each phase its bandwidth term then its
  latency (with a chunked pipeline's fill, which loads no link: :meth:`dpsim.sim.cost.LinearCost.split`), as the
  chunk level runs a transfer: its flow takes its share of the links from its start and is delivered its latency
  after its last byte (:meth:`dpsim.sim.network.FluidNetwork.start_many`), so another collective's bytes meet it at
  once and have the links to themselves during its latency. (Until stop 41 the latency came first, during which the
  other collective ran alone: a collective that met another on a link ended up to its whole latency early, the
  chunk level's HYBRID_SHARD steps +1.31 % on one CPU node of 8 with 20 µs hops and tree replicas, linear in the
  latency, ``tests/test_hybrid_shard.py::test_a_collectives_latency_follows_its_bytes_beside_the_other_stream``); a
  phase's use of a link (:func:`dpsim.sim.cost.link_uses`) is the fraction of the link it
  keeps busy while it runs at its own pace (its bytes on the link over its bandwidth term: 1 on its
  bottleneck) and the number of its transfers that cross the link at once. Per phase, not averaged over
  the collective: a hierarchical all-reduce's node phase takes the node's links whole for its short time,
  which a reduce-scatter inside the node then shares as the chunk level has it, though over the whole
  all-reduce (its NIC phase the longest) it keeps them busy a tenth of the time;
* while both are in their bandwidth term, each link is shared as the chunk level's max-min fair
  network shares it between their flows: a collective that needs less than its flows' share of a
  link keeps what it needs and the other gets the rest, else each gets its flows' share
  (:func:`shared_rates`); each collective then advances at the rate its most constrained link allows
  (1 = its own pace). One pass, per link, not iterated to a fixed point across links;
* latency terms take no link and are not stretched; a collective alone runs at its own pace, so
  two streams that meet on no link cost exactly what each costs alone (:func:`two_stream_end`'s
  series rule).

On one shared bottleneck (the NIC) the pair is work-conserving: the later one ends when the link
has carried both, whichever order they end in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Job", "LinkUse", "TwoStreams", "busy_s", "shared_rates", "two_stream_end", "two_streams"]


@dataclass(frozen=True, eq=False)
class LinkUse:
    """Per link of a cluster: the fraction of it a collective keeps busy at its own pace, and its flows there."""

    busy: np.ndarray
    flows: np.ndarray


def shared_rates(a: LinkUse, b: LinkUse) -> tuple[float, float]:
    """Rates (1 = own pace) of two collectives in their bandwidth terms at once (see the module docstring)."""
    both = (a.busy > 0) & (b.busy > 0) & (a.busy + b.busy > 1.0 + 1e-12)
    if not both.any():
        return 1.0, 1.0
    need_a, need_b = a.busy[both], b.busy[both]
    share_a = a.flows[both] / (a.flows[both] + b.flows[both])
    share_b = 1.0 - share_a
    got_a = np.where(need_a <= share_a, need_a, np.where(need_b <= share_b, 1.0 - need_b, share_a))
    got_b = 1.0 - got_a
    got_b = np.minimum(got_b, need_b)
    return float(min(1.0, (got_a / need_a).min())), float(min(1.0, (got_b / need_b).min()))


@dataclass(frozen=True)
class Job:
    """One collective: ``work_s`` of bandwidth term at its own pace, then a latency term (no link taken); with
    ``steps`` > 1 that bandwidth term then that latency ``steps`` times in a row (a ring phase's n − 1 steps)."""

    latency_s: float
    work_s: float
    use: LinkUse | None = None
    """Its links (None: it meets nothing)."""
    steps: int = 1
    """How many times in a row its bandwidth term and latency run (:func:`dpsim.sim.cost.phased_job`): each step's
    latency after its bytes, as the chunk level delivers a ring step before the next starts."""
    then: tuple[Job, ...] = ()
    """The collective's later phases, each its own latency, bandwidth term and links, in order
    (:func:`dpsim.sim.cost.phased_job`); empty: one phase. A schedule's phases load different links (a
    hierarchical all-reduce: the node's links, then the NICs, then the node's again), so what another
    collective meets depends on which phase is running, not on the whole collective's average load."""

    @classmethod
    def of(cls, seconds: float) -> Job:
        """A collective of ``seconds`` that meets nothing."""
        return cls(0.0, seconds)

    @property
    def phases(self) -> tuple[Job, ...]:
        """Its phases in order, each a one-phase job."""
        return (dataclasses.replace(self, then=()), *self.then) if self.then else (self,)

    @property
    def step_s(self) -> float:
        """One step alone: its bandwidth term and its latency."""
        return self.latency_s + self.work_s


@dataclass
class _Running:
    job: Job
    """The phase running now."""
    start_s: float
    latency_left: float
    work_left: float
    later: list[Job] = field(default_factory=list)
    """The phases after it, the next last (popped from the end)."""
    steps_left: int = 1
    """Steps of the running phase still to start after the current one."""

    @classmethod
    def of(cls, job: Job, start_s: float) -> _Running:
        head, *later = job.phases
        return cls(head, start_s, head.latency_s, head.work_s, later[::-1], head.steps - 1)

    def advance(self) -> bool:
        """Move on to the next step of the phase, or the next phase; False when this was the last."""
        if self.steps_left <= 0:
            if not self.later:
                return False
            self.job = self.later.pop()
            self.steps_left = self.job.steps
        self.steps_left -= 1
        self.latency_left, self.work_left = self.job.latency_s, self.job.work_s
        return True

    def skip(self, span_s: float) -> float:
        """Run whole steps of the running phase alone that end within ``span_s`` after the current one (which has
        just ended); returns the time they take (a ring's n − 1 steps alone in one go, not step by step)."""
        step = self.job.step_s
        k = min(self.steps_left, int(span_s // step)) if step > 0 else self.steps_left
        self.steps_left -= k
        return k * step

    def left_s(self) -> float:
        """What it still takes alone."""
        rest = sum(p.steps * p.step_s for p in self.later)
        return self.latency_left + self.work_left + self.steps_left * self.job.step_s + rest


@dataclass
class TwoStreams:
    """A first stream whose jobs are posted one by one (each returns its end) and a second stream whose job
    i starts when the first stream's job before it and the second's previous job are done.

    The second stream is advanced only up to the first stream's last end: what runs after that may still
    meet a job the first stream has not posted yet.
    """

    start_s: float = 0.0
    first_free: float = field(init=False)
    now: float = field(init=False)
    queue: list[tuple[float, Job]] = field(default_factory=list)
    running: _Running | None = None
    second_free: float = field(init=False)
    second_spans: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) of every second-stream job that has ended, in order."""
    first_spans: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) of every first-stream job, in order."""

    shares: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict)
    """:func:`shared_rates` of the pairs met so far, by the two uses' ids (an engine keeps one per schedule)."""

    def __post_init__(self) -> None:
        self.first_free = self.now = self.second_free = self.start_s

    def _rates(self, a: LinkUse | None, b: LinkUse | None) -> tuple[float, float]:
        if a is None or b is None:
            return 1.0, 1.0
        key = (id(a), id(b))
        if key not in self.shares:
            self.shares[key] = shared_rates(a, b)
        return self.shares[key]

    def _begin(self, until: float) -> bool:
        """Start the next queued second-stream job if it can start before ``until``."""
        if self.running is not None or not self.queue:
            return self.running is not None
        after, job = self.queue[0]
        start = max(after, self.second_free, self.now)
        if start >= until:
            return False
        self.queue.pop(0)
        self.now = start
        self.running = _Running.of(job, start)
        return True

    def _finish(self) -> None:
        assert self.running is not None
        self.second_spans.append((self.running.start_s, self.now))
        self.second_free = self.now
        self.running = None

    def _alone(self, until: float) -> None:
        """Advance the second stream alone up to ``until``."""
        while self.now < until and self._begin(until):
            run = self.running
            assert run is not None
            step = min(until - self.now, run.work_left + run.latency_left)
            spent_work = min(step, run.work_left)
            run.work_left -= spent_work
            run.latency_left -= step - spent_work
            self.now += step
            if run.work_left <= 1e-15 and run.latency_left <= 1e-15:
                self.now += run.skip(until - self.now)
                if not run.advance():
                    self._finish()
        self.now = max(self.now, until)

    def first(self, ready_s: float, job: Job) -> float:
        """Post ``job`` on the first stream at ``ready_s``; returns when it ends."""
        start = max(ready_s, self.first_free)
        self._alone(start)
        for phase in (p for p in job.phases for _ in range(p.steps)):  # each step's bytes, then its latency
            if self.running is None and not self.queue:  # the second stream idle to this job's end: no one to meet
                self.now += phase.step_s
                continue
            work = phase.work_s
            while work > 1e-15:
                if not self._begin(np.inf) or self.running is None:  # the second stream is idle
                    self.now += work
                    break
                run = self.running
                if run.work_left <= 1e-15 * max(1.0, run.job.work_s):  # the other one's latency: this one at its pace
                    step = min(work, run.latency_left)
                    run.latency_left -= step
                    work -= step
                    self.now += step
                    if run.latency_left <= 1e-15 and not run.advance():
                        self._finish()
                    continue
                rates = self._rates(phase.use, run.job.use)
                step = min(work / rates[0], run.work_left / rates[1])
                work -= step * rates[0]
                run.work_left -= step * rates[1]
                self.now += step
                done = run.work_left <= 1e-15 * max(1.0, run.job.work_s) and run.latency_left <= 1e-15
                if done and not run.advance():
                    self._finish()
            self._alone(self.now + phase.latency_s)
        self.first_free = self.now
        self.first_spans.append((start, self.now))
        return self.now

    def second(self, job: Job) -> None:
        """Queue ``job`` on the second stream, after the first stream's last job."""
        self.queue.append((self.first_free, job))

    def drain(self) -> float:
        """Run the second stream to its end; returns when both streams are done."""
        while self.queue or self.running is not None:
            self._begin(np.inf)
            run = self.running
            assert run is not None
            self.now += run.left_s()
            self._finish()
        return max(self.first_free, self.second_free)


def two_streams(
    ready_s: Sequence[float],
    first: Sequence[float | Job],
    second: Sequence[float | Job],
    start_s: float = 0.0,
) -> TwoStreams:
    """Both streams run to their end: job i on the first stream from ``max(ready_i, end of job i−1)``, then
    on the second from ``max(its first-stream end, end of second-stream job i−1)``; jobs given with their
    links (:class:`Job`) share them while both are in flight (see the module docstring), plain durations
    meet nothing. FSDP HYBRID_SHARD: bucket i's reduce-scatter on the shard group's stream, then its
    all-reduce on the replica stream, which overlaps bucket i+1's reduce-scatter (PyTorch's
    ``_all_reduce_stream``)."""
    streams = TwoStreams(start_s)
    for ready, a, b in zip(ready_s, first, second, strict=True):
        streams.first(ready, a if isinstance(a, Job) else Job.of(a))
        streams.second(b if isinstance(b, Job) else Job.of(b))
    streams.drain()
    return streams


def two_stream_end(
    ready_s: Sequence[float],
    first: Sequence[float | Job],
    second: Sequence[float | Job],
    start_s: float = 0.0,
) -> tuple[float, float]:
    """(end of the first stream, end of the second) of :func:`two_streams`."""
    streams = two_streams(ready_s, first, second, start_s)
    return streams.first_free, streams.second_free


def busy_s(streams: TwoStreams) -> float:
    """Time the two streams' collectives took, each from its start to its end (stretched where they met)."""
    return sum(end - start for start, end in (*streams.first_spans, *streams.second_spans))
