"""Pipeline-parallel schedules executed event by event: stages, their op order, point-to-point sends.

The schedules and their rules of execution are :mod:`dpsim.analytic.pipeline_schedule`'s
(:func:`schedule_order`: GPipe, Huang et al. 2019; 1F1B, Narayanan et al. 2021 §2.2.1; interleaved
1F1B, §2.2.2). Here each of the p stages is a simpy process that runs its operations in that order;
an operation starts when its input has arrived, and every chunk boundary is a point-to-point send
over the directed link between the two stages (one simpy resource per direction: full duplex; sends
in one direction queue). :func:`simulate_pipeline` keeps every operation's interval and every send's
departure: the shared fabric (:mod:`dpsim.sim.shared`) releases its flows from them.

Both engines' step takes its bubble and exposed sends from the same schedule evaluated
arithmetically (:func:`dpsim.analytic.step.pipeline_terms`,
:func:`dpsim.analytic.pipeline_schedule.evaluate_schedule`: one pass with no event queue), which
equals this simulation bit for bit (``tests/test_pipeline_schedule.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import simpy

from dpsim.analytic.parallel import with_tensor_parallel
from dpsim.analytic.pipeline_schedule import NicFlows, Op, boundary_of, evaluate_shared_nics, schedule_order
from dpsim.scenario import Scenario

__all__ = [
    "Op",
    "PipelineRun",
    "Send",
    "scenario_pipeline",
    "schedule_order",
    "simulate_pipeline",
    "start_pipeline",
    "start_scenario_pipeline",
    "with_tensor_parallel",
]


@dataclass(frozen=True)
class Send:
    """One stage-to-stage send of a pipelined step: the operation it feeds, its stages, when it left."""

    op: Op
    src: int
    dst: int
    start_s: float


@dataclass(frozen=True)
class PipelineRun:
    """Result of one simulated pipelined step (seconds)."""

    makespan_s: float
    busy_s: tuple[float, ...]
    """Compute time of each stage."""
    sends: int
    intervals: list[tuple[int, str, str, float, float]] = field(default_factory=list)
    """(stage, "forward" | "backward" | "p2p", name, start, end) of every operation and send."""
    send_log: list[Send] = field(default_factory=list)
    """Every stage-to-stage send: what it carries, from and to which stage, when it left."""
    stage_end_s: tuple[float, ...] = ()
    """When each stage finished its last operation."""

    @property
    def bubble_s(self) -> float:
        """Idle time of the busiest stage: makespan minus its compute."""
        return self.makespan_s - max(self.busy_s)


def simulate_pipeline(
    forward_s: float,
    backward_s: float,
    p: int,
    m: int,
    v: int = 1,
    schedule: str = "1f1b",
    p2p_s: float | tuple[float, ...] = 0.0,
    slowdowns: Sequence[float] | None = None,
    env: simpy.Environment | None = None,
    send_s: Mapping[Op, float] | None = None,
) -> PipelineRun:
    """Run one step of ``m`` micro-batches through ``p`` stages; return its makespan.

    ``forward_s``/``backward_s``: one micro-batch through one stage (all its chunks), at
    nominal speed; ``slowdowns[i]`` multiplies stage i's compute. ``p2p_s``: one send, or a tuple of p, the
    send across each stage boundary (:func:`~dpsim.analytic.pipeline_schedule.boundary_of`; none where it is
    ≤ 0); ``send_s[op]``, where given, the duration of the send that delivers ``op`` instead.
    """
    env = env or simpy.Environment()
    live = start_pipeline(env, forward_s, backward_s, p, m, v, schedule, p2p_s, slowdowns, send_s)
    env.run(live.done)
    return live.result()


Transfer = Callable[[int, int, Op], simpy.Event]
"""A send on a network (the shared fabric, :class:`dpsim.sim.shared._PipelineFlows`): (from stage, to stage, the
operation it feeds) → an event that succeeds when its last byte is delivered."""


class LivePipeline:
    """A pipelined step's stages running as processes of an environment (:func:`start_pipeline`): ``done`` succeeds
    when every stage has run its last operation; :meth:`result` then gives what :func:`simulate_pipeline` returns."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.begin = env.now
        self.busy: list[float] = []
        self.ends: list[float] = []
        self.log: list[Send] = []
        self.intervals: list[tuple[int, str, str, float, float]] = []
        self.sends = 0
        self.done: simpy.Event = env.event()

    def result(self) -> PipelineRun:
        return PipelineRun(
            float(self.env.now - self.begin), tuple(self.busy), self.sends, self.intervals, self.log, tuple(self.ends)
        )


def start_pipeline(
    env: simpy.Environment,
    forward_s: float,
    backward_s: float,
    p: int,
    m: int,
    v: int = 1,
    schedule: str = "1f1b",
    p2p_s: float | tuple[float, ...] = 0.0,
    slowdowns: Sequence[float] | None = None,
    send_s: Mapping[Op, float] | None = None,
    transfer: Transfer | None = None,
    begun: Callable[[int, int], None] | None = None,
    work: Callable[[int, int, float], simpy.Event | None] | None = None,
) -> LivePipeline:
    """Start :func:`simulate_pipeline`'s stages in ``env`` without running it (the shared fabric runs them beside
    everything else on its network).

    ``transfer``: where given, a send that crosses (its boundary's ``p2p_s`` > 0) lasts until that event, not
    ``p2p_s`` or ``send_s``; sends on one directed link still go one after another (one queue a direction).
    ``begun(stage, index)``: called when a stage starts the ``index``-th operation of its order, at that time.
    ``work(stage, index, duration)``: where it gives an event, the operation lasts until it (its compute and blocking
    TP collectives run on a network), not ``duration``.
    """
    chunks = v if schedule == "interleaved" else 1
    slow = list(slowdowns) if slowdowns is not None else [1.0] * p
    if len(slow) != p:
        raise ValueError(f"need {p} stage slowdowns, got {len(slow)}")
    orders = schedule_order(p, m, v, schedule)
    last = p * chunks - 1
    if isinstance(p2p_s, tuple) and len(p2p_s) != p:
        raise ValueError(f"need a send for each of {p} stage boundaries, got {len(p2p_s)}")
    link_s = {
        (a, b): p2p_s[boundary_of(a, b, p)] if isinstance(p2p_s, tuple) else p2p_s
        for a in range(p)
        for b in range(p)
        if a != b
    }
    arrived: dict[Op, simpy.Event] = {}
    links = {(a, b): simpy.Resource(env, capacity=1) for a in range(p) for b in range(p) if a != b}
    live = LivePipeline(env)
    busy = live.busy = [0.0] * p
    ends = live.ends = [0.0] * p
    log, intervals = live.log, live.intervals

    def inbox(op: Op) -> simpy.Event:
        if op not in arrived:
            arrived[op] = env.event()
        return arrived[op]

    def send(src: int, dst: int, op: Op) -> simpy.events.ProcessGenerator:
        with links[(src, dst)].request() as req:
            yield req
            start = env.now
            log.append(Send(op, src, dst, start))
            if transfer is not None:
                yield transfer(src, dst, op)
            else:
                yield env.timeout(link_s[(src, dst)] if send_s is None else send_s.get(op, link_s[(src, dst)]))
            intervals.append((src, "p2p", f"send {op[0]}{op[1]}.{op[2]} to {dst}", start, env.now))
        inbox(op).succeed()

    def deliver(op: Op, src: int, dst: int) -> None:
        if src == dst or link_s[(src, dst)] <= 0:
            inbox(op).succeed()
            return
        live.sends += 1
        env.process(send(src, dst, op))

    def stage(d: int) -> simpy.events.ProcessGenerator:
        for index, (kind, mb, c) in enumerate(orders[d]):
            if kind == "F" and c > 0:
                yield inbox(("F", mb, c))
            if kind == "B":
                yield inbox(("B", mb, c))
            start = env.now
            if begun is not None:
                begun(d, index)
            duration = (forward_s if kind == "F" else backward_s) / chunks * slow[d]
            done = None if work is None else work(d, index, duration)
            yield env.timeout(duration) if done is None else done
            busy[d] += duration
            intervals.append((d, "forward" if kind == "F" else "backward", f"{kind}{mb}.{c}", start, env.now))
            ends[d] = env.now - live.begin
            if kind == "F" and c < last:
                deliver(("F", mb, c + 1), d, (c + 1) % p)
            elif kind == "F":
                inbox(("B", mb, c)).succeed()  # the last chunk's backward follows its forward
            elif c > 0:
                deliver(("B", mb, c - 1), d, (c - 1) % p)

    live.done = simpy.AllOf(env, [env.process(stage(d)) for d in range(p)])
    return live


def scenario_pipeline(
    scenario: Scenario,
    forward_s: float,
    backward_s: float,
    tp_comm_s: float = 0.0,
    send_s: Mapping[Op, float] | None = None,
    slowdowns: Sequence[float] | None = None,
) -> PipelineRun:
    """One step of ``scenario``'s pipeline, simulated: ``forward_s``/``backward_s`` one micro-batch on one stage,
    ``tp_comm_s`` its blocking TP communication (in each pass: :func:`~dpsim.analytic.parallel.with_tensor_parallel`),
    ``slowdowns`` each stage's pace (:func:`dpsim.analytic.step.pipeline_stage_slowdowns`).

    Each send takes its stage boundary's :func:`dpsim.analytic.parallel.pipeline_p2p_times` on the fabric the
    analytic engine prices it on (:func:`dpsim.analytic.step.model_parallel_fabric`: a profile's fitted links, a
    degraded NIC's rate across nodes), or ``send_s[op]``. Where sends of different stage links share a NIC
    direction (:func:`dpsim.analytic.parallel.pipeline_nic_flows`) and no ``send_s`` is given, the step is the
    engines' own event-by-event evaluation (:func:`_shared_nics_pipeline`), so the shared fabric releases its flows
    when sends sharing a NIC really leave, not at an unshared schedule's times (which sent them early, and then
    queued them on their links a second time: PP 6 over 3 nodes, 8.21 s against a bound of 4.53 s).
    """
    from dpsim.analytic.parallel import pipeline_nic_flows

    fwd, bwd, send, fabric = _scenario_terms(scenario, forward_s, backward_s, tp_comm_s)
    nics = pipeline_nic_flows(scenario, fabric)
    if nics and send_s is None:
        return _shared_nics_pipeline(scenario, fwd, bwd, send, nics, slowdowns)
    t = scenario.training
    return simulate_pipeline(
        fwd,
        bwd,
        t.pipeline_parallel,
        scenario.accumulation_steps,
        t.virtual_stages,
        t.pipeline_schedule,
        send,
        slowdowns=slowdowns,
        send_s=send_s,
    )


def _scenario_terms(
    scenario: Scenario, forward_s: float, backward_s: float, tp_comm_s: float
) -> tuple[float, float, float | tuple[float, ...], Any]:
    """A stage's forward and backward with their blocking TP, each boundary's send, and the fabric they are priced on
    (:func:`scenario_pipeline`)."""
    from dpsim.analytic.parallel import pipeline_p2p_times, pipeline_sends
    from dpsim.analytic.step import model_parallel_fabric
    from dpsim.calibration import profile_for

    fwd, bwd = with_tensor_parallel(scenario, forward_s, backward_s, tp_comm_s)
    fabric = model_parallel_fabric(scenario, profile_for(scenario))
    return fwd, bwd, pipeline_sends(pipeline_p2p_times(scenario, fabric)), fabric


def start_scenario_pipeline(
    scenario: Scenario,
    forward_s: float,
    backward_s: float,
    tp_comm_s: float,
    env: simpy.Environment,
    transfer: Transfer,
    begun: Callable[[int, int], None] | None = None,
    work: Callable[[int, int, float], simpy.Event | None] | None = None,
) -> LivePipeline:
    """:func:`scenario_pipeline`'s step started in ``env`` with every crossing send a ``transfer`` on a network (the
    shared fabric, whose links share what meets on them: no separate NIC evaluation), and each operation as long as
    its ``work`` where given, not run (:func:`start_pipeline`)."""
    fwd, bwd, send, _ = _scenario_terms(scenario, forward_s, backward_s, tp_comm_s)
    t = scenario.training
    p, m = t.pipeline_parallel, scenario.accumulation_steps
    return start_pipeline(
        env, fwd, bwd, p, m, t.virtual_stages, t.pipeline_schedule, send, transfer=transfer, begun=begun, work=work
    )


def _shared_nics_pipeline(
    scenario: Scenario,
    forward_s: float,
    backward_s: float,
    send: float | tuple[float, ...],
    nics: NicFlows,
    slowdowns: Sequence[float] | None,
) -> PipelineRun:
    """:func:`scenario_pipeline` where sends of different links share NIC directions: the engines' evaluation
    (:func:`dpsim.analytic.pipeline_schedule.evaluate_shared_nics`) with every operation and send recorded as
    :func:`simulate_pipeline` records them."""
    t = scenario.training
    p = t.pipeline_parallel
    slow = list(slowdowns) if slowdowns is not None else [1.0] * p
    record: list[tuple[str, int, Op, float, float]] = []
    times = evaluate_shared_nics(
        forward_s,
        backward_s,
        p,
        scenario.accumulation_steps,
        t.virtual_stages,
        t.pipeline_schedule,
        send,
        slow,
        nics,
        record,
    )
    intervals: list[tuple[int, str, str, float, float]] = []
    log: list[Send] = []
    for kind, d, (f, mb, c), start, end in sorted(record, key=lambda r: (r[3], r[4])):
        if kind == "send":
            dst = c % p
            log.append(Send((f, mb, c), d, dst, start))
            intervals.append((d, "p2p", f"send {f}{mb}.{c} to {dst}", start, end))
        else:
            intervals.append((d, "forward" if kind == "F" else "backward", f"{kind}{mb}.{c}", start, end))
    return PipelineRun(
        float(times.makespan_s), tuple(times.busy_s), times.sends, intervals, log, tuple(times.stage_end_s)
    )
