"""The price of a schedule on a cluster: phase by phase, from the load it puts on each link.

For every phase of a :class:`~dpsim.sim.collectives.base.Schedule` the flows active at
once are routed on the cluster and their bytes summed per directed link; the phase lasts
its latency (``repeat`` × the phase's per-step latency, or route latency × ``hops``; NCCL's network hops
with what the network's own latency exceeds InfiniBand's, :meth:`~dpsim.sim.collectives.base.Phase.timed_latency`)
plus
``max over links (bytes on the link / its bandwidth)`` — the time for the most loaded link
to carry its share, which is exactly the max-min fair completion time when the phase's
flows are symmetric. Where a phase's slowest-to-start transfers are not its most loaded (a ring
over more NICs than GPUs without a protocol: the network hop has the largest latency, NVLink the
most bytes), a step lasts the longest of its transfers' latency + bytes / bandwidth, as the chunk
level's rendezvous does, not the two maxima added (:attr:`LinearCost.steps`; NCCL's protocols give
every transfer of a step one latency, where the two coincide). Repeated steps of the same
pattern are priced once, so the cost of an N-rank collective is ``latency_s + size ·
seconds_per_byte`` after O(N) numpy work.
The schedule's base latency (NCCL's launch cost) is added once. A schedule with a
per-channel throughput (``engine_Bps``: NCCL's per-channel caps) adds one resource per
(rank, channel): the bytes a rank sends on a channel in the phase over ``engine_Bps`` —
the same resource the chunk level puts on each flow's route.

The phase-by-phase price assumes the ranks move in lock step, which holds when every
rank is busy until its phase's end. When some are not — a placement that sends several
ranks of a node through one NIC in some steps of a rank-ordered halving–doubling, idle
ranks of a step — the ranks that finish early enter the next phase on other links (the
per-rank dependency rule of :mod:`dpsim.sim.chunk`), and the lock-step sum overprices
(or, when late flows meet early ones on a link, underprices) the schedule by several
percent. There the bandwidth term is the schedule run once by the chunk level's fluid
model on the same cluster without latencies, where times scale with the size:
``seconds_per_byte = T(S₀) / S₀`` (:func:`fluid_seconds_per_byte`). Repeated steps (the
ring's) keep the lock-step price: neighbours are coupled by the rendezvous every step, and
the chunk level is within 1 % of it. On a hybrid cube mesh (:mod:`dpsim.sim.nvlink_mesh`) a pipelined
schedule (a tree, a ring broadcast) whose transfers are not all equally loaded is priced by that fluid
run too: its chains cross links of one and two NVLinks, the flows are not symmetric, and max-min
sharing ends the phase after the most loaded link's time (7 % after it on two DGX-1V's Simple tree).
Where transfers of unequal bytes share a link (a ring whose host-memory edges carry SHM's receive-only step beside
another channel's transfer, :mod:`dpsim.sim.collectives.nccl`; a tree across PCIe nodes, whose head GPU's one port
carries its chain and both trees' network flows), max-min sharing gives the lighter flow its equal share while the
heavier is still sending, and a step ends after its most loaded resource's time (the heavier flow's tail runs at
its (rank, channel) throughput, or its other links' share): there one step of the phase is run by the chunk
level's fluid without latencies, and that is its bandwidth term (:func:`_fluid_step`; 9/8 of the busiest port on
two PCIe nodes' tree, by hand in ``tests/test_nccl_host.py``). Whether a pipeline's flows, coupled by its chunks,
share a link max-min or in proportion to their bytes (which would end at the busiest link's time) is the chunk
level's assumption, not measured here.
Past :data:`~dpsim.sim.fidelity.CHUNK_BUDGET` transfers (where ``fidelity: auto`` runs the fast level,
which is this price) it keeps the phase price.

This is the single price of a collective: the analytic engine
(:func:`dpsim.analytic.collectives.collective`), the fast level
(:class:`dpsim.sim.fast.FastEngine`) and the tuner that picks NCCL's algorithm and
protocol (:class:`dpsim.sim.engine.CollectiveEngine`) all call :func:`phase_cost`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dpsim.sim import collectives
from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import NO_CORRECTION, Chunking, Phase, Schedule, TunerCorrection
from dpsim.sim.fidelity import CHUNK_BUDGET
from dpsim.streams import Job, LinkUse

if TYPE_CHECKING:
    from dpsim.sim.collectives.base import Layout
    from dpsim.sim.collectives.groups import Groups

Routes = tuple[np.ndarray, np.ndarray]
"""A phase's routes on a cluster (:meth:`~dpsim.sim.cluster.Cluster.routes`): link ids (padded, -1 = none), latency."""

__all__ = [
    "LinearCost",
    "PipelineFill",
    "engine_ids",
    "engine_load",
    "fluid_seconds_per_byte",
    "host_tree_scale",
    "lock_step",
    "phase_cost",
    "phased_job",
    "pick",
    "pipeline_fill",
    "priced_candidates",
    "ring_wave",
]


def engine_ids(phase: Phase, channels: int) -> np.ndarray:
    """The (rank, channel) resource each transfer of ``phase`` crosses: ``src · channels + channel``."""
    chan = phase.channel if phase.channel is not None else np.zeros(len(phase.src), dtype=np.int64)
    return phase.src * channels + chan


def engine_load(phase: Phase) -> np.ndarray:
    """Bytes (as a fraction of the message) each (rank, channel) of ``phase`` sends."""
    channels = int(phase.channel.max()) + 1 if phase.channel is not None and len(phase.channel) else 1
    return np.bincount(engine_ids(phase, channels), weights=phase.fraction)


@dataclass(frozen=True)
class PipelineFill:
    """The time a chunked pipeline takes beyond its steady state: the first chunk crossing the pipeline's depth.

    A channel's S/lanes bytes go in ``n`` chunks of ``c`` (:class:`~dpsim.sim.collectives.base.Chunking`);
    hop h forwards a whole chunk in ``c · path_h`` and, pipelined, the schedule's bottleneck passes one chunk
    every ``S · steady / n``. The last chunk leaves ``Σ_h c · path_h`` after the first started, and the
    steady state accounts for ``n`` bottleneck passes of which the first is part of that sum:
    ``fill(S) = max(0, c · path − S · steady / n)`` — the whole pipeline depth when a channel's data is
    one chunk (mid sizes: every hop store-and-forward), a constant ``≈ chunk · path`` once ``n`` is large.
    """

    chunking: Chunking
    path_s_per_byte: float
    """Σ over the pipeline's chunked hops of the seconds one chunk byte takes there, each hop alone
    (:func:`pipeline_fill`)."""
    steady_s_per_byte: float
    """The schedule's bandwidth term per message byte (its bottleneck in steady state)."""

    def __call__(self, size: float) -> float:
        if size <= 0:
            return 0.0
        c, n = self.chunking.chunk_at(size), self.chunking.chunks_at(size)
        return max(0.0, c * self.path_s_per_byte - size * self.steady_s_per_byte / n)

    def with_steady(self, size: float, steady_s: float) -> float:
        """``steady_s`` (the bandwidth term at ``size``) plus the fill; one chunk a channel and ``steady_s`` the
        fill's own steady state: exactly the larger of ``steady_s`` and ``c · path`` (the same sum without its
        rounding, so sizes whose channels hold the same chunk take the same time)."""
        if size <= 0:
            return steady_s
        if self.chunking.chunks_at(size) == 1 and steady_s == size * self.steady_s_per_byte:
            return max(steady_s, self.chunking.chunk_at(size) * self.path_s_per_byte)
        return steady_s + self(size)


def pipeline_fill(
    schedule: Schedule,
    cluster: Cluster,
    endpoints: np.ndarray | None = None,
    steady_s_per_byte: float | None = None,
    routes: Routes | None = None,
) -> PipelineFill | None:
    """The fill of a chunked pipelined schedule on ``cluster`` (None: the schedule is priced as a fluid).

    Every transfer of the (one) pipelined phase carries ``fraction · lanes · c`` bytes of each chunk stage
    (its share of every channel's chunk); alone — during the fill the other stages of its channel are
    empty — it moves them at the slower of its (rank, channel) throughput (NCCL's per-channel figure:
    ``engine_Bps``, which in steady state the up and down streams of a tree share, or the chunking's
    ``hop_Bps`` where the steady state does not carry it) and each link of its route at full capacity. A hop
    inside a node costs what the slowest such transfer inside a node costs (with
    :attr:`~dpsim.sim.collectives.base.Chunking.intra_together`, what all of them cost together: NVLS), a network
    hop the slowest transfer between nodes; the path is ``intra_hops`` of the first and
    ``net_hops`` of the second (:class:`~dpsim.sim.collectives.base.Chunking`). Where the phase says at which step
    of the first chunk's path each network transfer forwards it (:attr:`~dpsim.sim.collectives.base.Phase.stage`:
    NCCL's tree, reduce pass then broadcast pass), the network part is instead the sum over those steps of the
    step's slowest transfer, the step's transfers sharing every link they cross (their first chunks go at once: a
    parent's NIC into which two children reduce, or out of which it broadcasts to both; rails through one
    oversubscribed leaf uplink) and each (rank, channel)'s figure. The steady state is the
    phase's price per byte (its most loaded resource, as :func:`phase_cost` has it). Both fidelity levels
    add this one fill: the fast level in :class:`LinearCost`, the chunk level to the phase's transfers
    (:class:`dpsim.sim.chunk.CollectiveRun`). ``endpoints`` maps the schedule's ranks onto the cluster's;
    ``steady_s_per_byte`` and ``routes`` (the phase's :meth:`~dpsim.sim.cluster.Cluster.routes`), where the caller
    has priced the phase already: it is routed once.
    """
    chunking = schedule.chunking
    phases = [p for p in schedule.phases if len(p.src)]
    if chunking is None or len(phases) != 1 or not schedule.pipelined:
        return None
    phase = phases[0]
    if endpoints is not None:
        ends = np.asarray(endpoints, dtype=np.int64)
        phase = dataclasses.replace(phase, src=ends[phase.src], dst=ends[phase.dst])
    if routes is None:
        routes = cluster.routes(phase.src, phase.dst, phase.nic)
    links = routes[0]
    inverse = np.where(links >= 0, 1.0 / cluster.links.capacity[np.where(links >= 0, links, 0)], 0.0)
    alone = inverse.max(axis=1, initial=0.0)
    hop_Bps = max(schedule.engine_Bps, chunking.hop_Bps)
    if hop_Bps > 0:
        alone = np.maximum(alone, 1.0 / hop_Bps)
    per_chunk_byte = phase.fraction * chunking.lanes * alone
    node = cluster.slot[np.minimum(phase.src, cluster.world_size)] // cluster.per_node
    crosses = node != cluster.slot[np.minimum(phase.dst, cluster.world_size)] // cluster.per_node
    intra = float(per_chunk_byte[~crosses].max(initial=0.0))
    if chunking.intra_together and bool((~crosses).any()):  # every lane's chunk through the node's links at once
        inside = ~crosses
        intra = chunking.lanes * float(
            _transfer_times(schedule, phase.select(inside), cluster, (links[inside], routes[1][inside]))[0].max()
        )
    if phase.stage is None:
        net = chunking.net_hops * float(per_chunk_byte[crosses].max(initial=0.0))
    else:
        # each step's transfers priced together, as a phase of their own (their first chunks go at once)
        stepped = dataclasses.replace(schedule, engine_Bps=hop_Bps)
        steps = (phase.stage == s for s in np.unique(phase.stage[crosses & (phase.stage >= 0)]))
        net = chunking.lanes * sum(
            float(_transfer_times(stepped, phase.select(m), cluster, (links[m], routes[1][m]))[0].max()) for m in steps
        )
    path = chunking.intra_hops * intra + net
    if path <= 0:
        return None
    if steady_s_per_byte is None:
        steady_s_per_byte = float(_transfer_times(schedule, phase, cluster, routes)[0].max(initial=0.0))
    return PipelineFill(chunking, path, steady_s_per_byte)


PhaseUses = tuple[tuple[float, float, LinkUse, int], ...]
"""Per phase of a schedule: its share of the latency, its share of the bandwidth term, the links it loads, and its
steps (:attr:`~dpsim.sim.collectives.base.Phase.repeat`), over which the two shares are spread."""


@dataclass(frozen=True)
class LinearCost:
    """Time of a collective as ``latency_s + size · seconds_per_byte``."""

    latency_s: float
    seconds_per_byte: float
    tuner: TunerCorrection = NO_CORRECTION
    """NCCL's size-dependent corrections of its estimate (:class:`~dpsim.sim.collectives.base.TunerCorrection`)."""
    network_s: float = 0.0
    """What the network's own per-message latency adds to NCCL's per-step figures (:meth:`Phase.timed_latency`):
    part of the time, not of NCCL's estimate."""
    steps: tuple[tuple[int, np.ndarray, np.ndarray], ...] = ()
    """Where a phase's slowest-to-start transfers are not its most loaded ones: every phase as (repeat, latencies,
    seconds per byte) of the transfers on its upper envelope, each step lasting the longest of them at the size
    (the rendezvous of the chunk level), not the two maxima added. Empty: every phase's maxima meet."""
    base_s: float = 0.0
    """The schedule's base latency, paid once (with :attr:`steps`)."""
    fill: PipelineFill | None = None
    """A chunked pipeline's fill (:class:`PipelineFill`): part of the time, not of NCCL's estimate."""
    estimate: LinearCost | None = None
    """NCCL's estimate of the same schedule where it is not this cost (a release whose tuner constants are not the
    default's: :attr:`~dpsim.sim.collectives.base.Layout.estimate`), which :meth:`tuned` reads; None: this one."""
    uses: PhaseUses = ()
    """How each phase loads the links (:func:`_phase_use`), where the pricing was asked for them (``loads``:
    :func:`phased_job` prices a collective while another shares its links); empty otherwise."""

    def __call__(self, size: float) -> float:
        return self._priced(size)[0]

    def _priced(self, size: float) -> tuple[float, float]:
        """(the time at ``size``, the chunked pipeline's fill in it): with :attr:`steps` the fill added to the steps'
        sum, else the steady term with its fill (:meth:`PipelineFill.with_steady`), the fill what that adds."""
        if size <= 0:
            return 0.0, 0.0
        if self.steps:
            fill = self.fill(size) if self.fill is not None else 0.0
            steps = sum(r * float((lat + size * per_byte).max()) for r, lat, per_byte in self.steps)
            return fill + self.base_s + steps, fill
        steady = size * self.seconds_per_byte
        if self.fill is None:
            return self.latency_s + self.network_s + steady, 0.0
        filled = self.fill.with_steady(size, steady)
        return self.latency_s + self.network_s + filled, filled - steady

    def split(self, size: float) -> tuple[float, float]:
        """``self(size)`` as (latency, bandwidth term): the latencies of the steps and a chunked pipeline's fill,
        and the rest, which moves bytes over links (:mod:`dpsim.streams` stretches only the latter while another
        collective shares them). The fill is no link's load: the links carry the schedule's bytes in its steady
        term, and the fill is the time the pipeline's first chunk takes to cross its depth, each link waiting for it
        in turn; the chunk level adds it to the transfers' latency (:class:`dpsim.sim.chunk.CollectiveRun`), during
        which another collective's flows have the links to themselves."""
        if size <= 0:
            return 0.0, 0.0
        total, fill = self._priced(size)
        latency = self.latency_s + self.network_s + fill
        return min(total, latency), max(0.0, total - latency)

    def tuned(self, size: float) -> float:
        """NCCL's tuner estimate (``ncclTopoGetAlgoTime``): the time with its size corrections, used to pick."""
        if self.estimate is not None:
            return self.estimate.tuned(size)
        if size <= 0:
            return 0.0
        return self.tuner.time(self.latency_s, self.seconds_per_byte, size)


def priced_candidates(
    op: str,
    algorithm: str,
    layout: Layout,
    protocol: str,
    cluster: Cluster,
    groups: Groups | None = None,
    loads: bool = False,
) -> tuple[tuple[Schedule, LinearCost], ...]:
    """Every candidate schedule of ``op`` on ``layout`` (:func:`dpsim.sim.collectives.candidates`; run by every group
    of ``groups`` at once, :meth:`~dpsim.sim.collectives.groups.Groups.tile`), each with its cost on ``cluster``.
    Where NCCL's estimate stands apart (:func:`dpsim.sim.collectives.estimates`: a release whose tuner constants are
    not the default's), each cost carries it, by which :meth:`LinearCost.tuned` picks. ``loads``: each cost carries
    the links its phases load too (:attr:`LinearCost.uses`, from the same routes), for :func:`phased_job`. Both
    engines price their candidates here (:func:`dpsim.analytic.collectives.collective`,
    :class:`dpsim.sim.engine.CollectiveEngine`)."""
    if groups is not None:
        layout = groups.layout(layout)
    built = collectives.candidates(op, algorithm, layout, protocol)
    estimated = collectives.estimates(op, algorithm, layout, protocol)
    if groups is not None:
        built = tuple(groups.tile(s) for s in built)
        estimated = None if estimated is None else tuple(groups.tile(s) for s in estimated)
    scale = host_tree_scale(built, cluster)
    costs = [_host_scaled(phase_cost(s, cluster, loads), s, cluster, scale) for s in built]
    if estimated is not None:
        costs = [
            dataclasses.replace(c, estimate=_host_scaled(phase_cost(e, cluster), e, cluster, scale))
            for c, e in zip(costs, estimated, strict=True)
        ]
    return tuple(zip(built, costs, strict=True))


def pick(
    op: str,
    options: Sequence[tuple[str, str, LinearCost]],
    size: float,
    tuner: str = "nccl",
    whole: Callable[[], Layout] | None = None,
    groups: Groups | None = None,
    platform: str = "p5",
) -> int:
    """Which of ``options`` ((algorithm, protocol, cost) of :func:`priced_candidates`, in its order) runs ``op`` of
    ``size`` bytes: what the tuner plugin ``tuner`` (``communication.nccl_tuner``) sets for the communicator (the
    layout ``whole()``, or one group of ``groups`` on it, as :func:`priced_candidates` lays them out: its nodes and
    ranks a node, read only with a plugin), among the pairs NCCL runs there, from the regions of the instance family
    ``platform`` (:func:`dpsim.sim.collectives.tuner_plugin.plugin_pick`); where it sets none, NCCL's own tuner: the
    cheapest by its corrected estimate (:meth:`LinearCost.tuned`; ties: the first). Both engines pick here
    (:func:`dpsim.analytic.collectives.collective`, :meth:`dpsim.sim.engine.CollectiveEngine.choice`)."""
    if tuner != "nccl" and whole is not None and len(options) > 1:
        from dpsim.sim.collectives.tuner_plugin import plugin_pick

        layout = whole() if groups is None else groups.layout(whole())
        pairs = [(name, proto) for name, proto, _ in options]
        ran = plugin_pick(tuner, op, size, layout.nodes, layout.per_node, pairs, platform)
        if ran is not None:
            return pairs.index(ran)
    best: tuple[float, int] | None = None
    for i, (_, _, cost) in enumerate(options):
        estimate = cost.tuned(size)
        if best is None or estimate < best[0]:
            best = (estimate, i)
    assert best is not None
    return best[1]


def _transfer_times(
    schedule: Schedule, phase: Phase, cluster: Cluster, routes: Routes | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per message byte of each transfer of ``phase`` at its most loaded resource, and its route latency;
    ``routes``: the phase's, where the caller has them."""
    links, latency = routes if routes is not None else cluster.routes(phase.src, phase.dst, phase.nic)
    per_byte = _link_times(phase, cluster, links)
    if schedule.engine_Bps > 0:
        channels = int(phase.channel.max()) + 1 if phase.channel is not None and len(phase.channel) else 1
        ids = engine_ids(phase, channels)
        per_byte = np.maximum(per_byte, engine_load(phase)[ids] / schedule.engine_Bps)
    return per_byte, latency


def _link_times(phase: Phase, cluster: Cluster, links: np.ndarray) -> np.ndarray:
    """Seconds per message byte of each transfer of ``phase`` at the most loaded link of its route ``links``
    (padded, -1 = none), every transfer of the phase on the links at once."""
    capacity = cluster.links.capacity
    mask = links >= 0
    weights = np.broadcast_to(phase.fraction[:, None], links.shape)[mask]
    load = np.bincount(links[mask], weights=weights, minlength=len(capacity)) / capacity
    # a route's padding (-1) reads the appended 0: no masked copies of the phase's (transfers x hops) matrix
    return np.append(load, 0.0)[links].max(axis=1, initial=0.0)


def lock_step(schedule: Schedule, cluster: Cluster, per_bytes: Sequence[np.ndarray] | None = None) -> bool:
    """Whether the ranks move phase by phase together: every rank busy until the end of every phase.

    True for a single step and for repeated steps (see the module docstring); otherwise
    every rank that takes part in the schedule must, in every phase, have a transfer at
    the phase's most loaded resource. ``per_bytes``: every phase's transfer times (:func:`_transfer_times`), where
    the caller has priced them: the phases are not routed again.
    """
    phases = [p for p in schedule.phases if len(p.src)]
    if sum(p.repeat for p in phases) <= 1 or any(p.repeat > 1 for p in phases):
        return True
    taking_part = np.zeros(schedule.ranks + 1, dtype=bool)  # every rank that sends or receives in some phase
    for phase in phases:
        taking_part[phase.src] = taking_part[phase.dst] = True
    checked: set[int] = set()  # a phase the schedule runs again is checked once (direct's all-to-all)
    for k, phase in enumerate(phases):
        if id(phase) in checked:
            continue
        checked.add(id(phase))
        per_byte = per_bytes[k] if per_bytes is not None else _transfer_times(schedule, phase, cluster)[0]
        busy = np.zeros(schedule.ranks + 1)
        np.maximum.at(busy, phase.src, per_byte)
        np.maximum.at(busy, phase.dst, per_byte)
        if float(busy[taking_part].min()) < float(per_byte.max()) * (1 - 1e-9):
            return False
    return True


FLUID_SIZE = float(1 << 30)
"""Message size of the latency-free fluid run (bytes); its time scales with the size."""


def fluid_seconds_per_byte(schedule: Schedule, cluster: Cluster, routes: Sequence[Routes] | None = None) -> float:
    """Seconds per byte of ``schedule`` run by the chunk level's per-rank rule and fluid links, without latencies
    (nor a chunked pipeline's fill, which :func:`pipeline_fill` prices apart); ``routes``: each distinct phase's,
    where the caller has routed them."""
    from dpsim.sim.chunk import CompiledSchedule  # the chunk level prices its flows with this module

    fluid = dataclasses.replace(schedule, base_latency_s=0.0, chunking=None)  # no fill (nor its routes)
    compiled = CompiledSchedule(fluid, cluster, routes=routes)
    compiled.t_latency = np.zeros_like(compiled.t_latency)
    compiled.pace_latency = np.zeros_like(compiled.pace_latency)
    done = compiled.run(FLUID_SIZE, np.zeros(schedule.ranks)).done_s
    return float(np.nanmax(done)) / FLUID_SIZE


@dataclass(frozen=True)
class _PhasePrice:
    """One phase's transfer times on its routes and what :func:`phase_cost` sums of them."""

    per_byte: np.ndarray
    """Seconds per message byte of each transfer (:func:`_transfer_times`)."""
    slowest: float
    """The largest of :attr:`per_byte`: the phase's bandwidth term per byte."""
    uneven: bool
    """Whether some transfer is lighter than the slowest."""
    step: float
    """The phase's bandwidth term per byte of one step: :attr:`slowest`, or where transfers of unequal bytes share a
    link (:func:`_shared_unequally`) one step run by the chunk level's max-min fluid (:func:`_fluid_step`)."""
    nccl: float
    """The phase's latency as NCCL counts it (:meth:`~dpsim.sim.collectives.base.Phase.transfer_latency`)."""
    timed: float
    """Its latency with the network's own (:meth:`~dpsim.sim.collectives.base.Phase.timed_latency`)."""
    envelope: tuple[np.ndarray, np.ndarray]
    """(latency, seconds per byte) of the transfers longest at some size (:func:`_envelope`)."""
    use: tuple[float, float, LinkUse, int] | None
    """The links it loads (:func:`_phase_use`), where asked."""

    @staticmethod
    def of(schedule: Schedule, phase: Phase, cluster: Cluster, routes: Routes, loads: bool) -> _PhasePrice:
        per_byte, latency = _transfer_times(schedule, phase, cluster, routes)
        slowest = float(per_byte.max())
        timed = phase.timed_latency(latency)
        step, envelope = slowest, _envelope(timed, per_byte)
        if (
            cluster.mesh_routes is None  # a hybrid cube mesh's pipelines: the whole schedule's fluid run (phase_cost)
            and schedule.transfers <= CHUNK_BUDGET
            and _shared_unequally(phase, routes[0], len(cluster.links.capacity))
        ):
            step = max(slowest, _fluid_step(schedule, phase, cluster, routes))
            envelope = (np.array([float(timed.max())]), np.array([step]))
        elif phase.ring_graph is not None:  # its own step, as NCCL prices it, or the wave
            wave = ring_wave(schedule, phase, cluster, routes, slowest)
            envelope = (np.array([float(timed.max()), wave[0]]), np.array([slowest, wave[1]]))
        return _PhasePrice(
            per_byte,
            slowest,
            float(per_byte.min()) < slowest * (1 - 1e-9),
            step,
            float(phase.transfer_latency(latency).max()),
            float(timed.max()),
            envelope,
            _phase_use(phase, cluster, routes[0], step, latency) if loads else None,
        )


def ring_wave(
    schedule: Schedule, phase: Phase, cluster: Cluster, routes: Routes, work: float | None = None
) -> tuple[float, float]:
    """(latency, seconds per message byte) a step of the wave of a ring whose phase carries
    :attr:`~dpsim.sim.collectives.base.Phase.ring_graph`: each of its steps lasts the longer of its own step as NCCL
    prices it (its latency, then its bytes: the phase's transfers) and this, the step graph's hop path
    (:attr:`LinearCost.steps`; ``benchmarks/ring_step_graph.py``).

    NCCL's ring kernels (``src/device/all_gather.h`` / ``all_reduce.h`` ``runRing``) run a loop's steps on every
    rank one after another, step ``s`` of rank ``r`` forwarding what rank ``r − 1`` received at step ``s − 1``.
    LL128 over NVLink is cut through: the receiver polls a flag in every 128-B line (``prims_ll128.h``), so it
    starts a step ``L_intra`` after its predecessor started it. Across nodes it is stored and forwarded: the proxy
    sends a step once the GPU has posted all of it (``src/transport/net.cc`` ``sendProxyProgress``), and the
    receiver has it ``L_net + c / B_net`` after its predecessor ended it. The wave starts on the rank before a network
    edge and crosses ``f = M / (N − 1)`` network edges a step (``⌈(N − 1)/G⌉ = M`` of them in a loop's ``N − 1``
    steps), an NVLink hop ``L_intra`` and a network hop ``L_net`` plus the chunk's work or wire time, whichever is
    longer: ``((1 − f) · L_intra + f · L_net, f · max(work, net))``. ``L_net`` is NCCL's network step timed on the
    larger of the network's latency and the one its plugin reports (:meth:`~dpsim.sim.collectives.base.Phase.
    net_hop_s`: aws-ofi-nccl's 75 µs on EFA, 7 NVLink hops and one network hop a node (7 · 1.9 + 75) / 8 = 11.0 µs a
    step, where the p5 series' smallest ring/LL128 steps take 10.5–11.4); on InfiniBand the route's 5 µs, where the
    wave is NCCL's own step latency within one network hop a loop. ``work`` is the phase's slowest transfer per byte
    (links and (rank, channel) throughput; None: priced here), ``net`` the slowest transfer's across nodes on its
    links alone. The chunk level runs the wave as a wait of each rank's from its entry into a step
    (:class:`dpsim.sim.chunk.CompiledSchedule`)."""
    assert phase.ring_graph is not None
    intra, _, f = phase.ring_graph
    links, latency = routes
    if work is None:
        work = float(_transfer_times(schedule, phase, cluster, routes)[0].max())
    on_links = _link_times(phase, cluster, links)
    node = cluster.slot[np.minimum(phase.src, cluster.world_size)] // cluster.per_node
    crosses = node != cluster.slot[np.minimum(phase.dst, cluster.world_size)] // cluster.per_node
    net = float(on_links[crosses].max(initial=0.0))
    return (1 - f) * intra + f * phase.net_hop_s(latency), f * max(work, net)


def _fluid_step(schedule: Schedule, phase: Phase, cluster: Cluster, routes: Routes) -> float:
    """Seconds per byte of one step of ``phase`` run alone by the chunk level's max-min fluid, without latencies
    (:func:`fluid_seconds_per_byte`), on the phase's ``routes`` (it is not routed again: the cost guard counts the
    phases the pricing routes, :func:`dpsim.sim.budget.priced_transfers`)."""
    one = dataclasses.replace(phase, repeat=1)
    return fluid_seconds_per_byte(dataclasses.replace(schedule, phases=(one,)), cluster, [routes])


def phase_cost(schedule: Schedule, cluster: Cluster, loads: bool = False) -> LinearCost:
    """Price ``schedule`` on ``cluster`` phase by phase (see the module docstring); ``loads``: with the links each
    phase loads (:attr:`LinearCost.uses`), from the routes that price it."""
    latency_total = schedule.base_latency_s
    network_total = 0.0
    per_byte_total = 0.0
    steps: list[tuple[int, np.ndarray, np.ndarray]] = []
    link_total = 0.0  # the phases' most loaded resources, which a chunked pipeline's fill takes as its steady state
    apart = uneven = False
    # every phase is routed once: the last one's routes (a pipelined schedule's one phase) for its fill, every
    # phase's transfer times for lock_step, and with ``loads`` the links each phase loads. A phase the schedule
    # runs again is routed and priced once: an all-reduce's all-gather half over its reduce-scatter half's pairs
    # (direct's all-to-all, a ring's and gloo's ring step, hierarchical's inner and outer rings); the cost guard
    # counts the distinct phases (budget.priced_transfers).
    routes: Routes | None = None
    per_bytes: list[np.ndarray] = []
    uses: list[tuple[float, float, LinkUse, int]] = []
    priced: dict[int, _PhasePrice] = {}  # id(phase) → its price
    for phase in schedule.phases:
        if len(phase.src) == 0:
            continue
        if id(phase) not in priced:
            routes = cluster.routes(phase.src, phase.dst, phase.nic)
            priced[id(phase)] = _PhasePrice.of(schedule, phase, cluster, routes, loads)
        price = priced[id(phase)]
        per_bytes.append(price.per_byte)
        if price.use is not None:
            uses.append(price.use)
        uneven = uneven or price.uneven
        latency_total += phase.repeat * price.nccl
        network_total += phase.repeat * (price.timed - price.nccl)
        per_byte_total += phase.repeat * price.step
        link_total += phase.repeat * price.slowest
        apart = apart or len(price.envelope[0]) > 1
        steps.append((phase.repeat, *price.envelope))
    seconds_per_byte, envelope, base_s = per_byte_total, tuple(steps) if apart else (), schedule.base_latency_s
    fill: PipelineFill | None = None
    if schedule.pipelined and uneven and cluster.mesh_routes is not None and schedule.transfers <= CHUNK_BUDGET:
        # the chunk level's fill
        fill = pipeline_fill(schedule, cluster, steady_s_per_byte=link_total, routes=routes)
        seconds_per_byte, envelope = fluid_seconds_per_byte(schedule, cluster), ()
    elif not lock_step(schedule, cluster, per_bytes):  # the ranks do not move phase by phase: the fluid run's rate
        seconds_per_byte, envelope, base_s = fluid_seconds_per_byte(schedule, cluster), (), 0.0
    else:
        fill = pipeline_fill(schedule, cluster, steady_s_per_byte=link_total, routes=routes)
    return LinearCost(
        latency_total,
        seconds_per_byte,
        schedule.tuner,
        network_total,
        envelope,
        base_s,
        fill,
        uses=tuple(uses),
    )


def _host_tree(schedule: Schedule, cluster: Cluster) -> bool:
    """Whether NCCL's estimate of ``schedule`` is a tree all-reduce's on a PCIe node with a host topology
    (:func:`host_tree_scale`)."""
    return (
        schedule.name == "tree"
        and schedule.protocol not in ("", "none")
        and cluster.host_topology is not None
        and schedule.ranks == cluster.world_size
        and schedule.ranks > 1
    )


def host_tree_scale(schedules: Sequence[Schedule], cluster: Cluster) -> float:
    """What NCCL's estimate of a tree all-reduce on PCIe nodes with a host topology multiplies the tree's price's
    bandwidth by: its ring's graph speed (1 where no schedule of ``schedules`` is such a tree).

    ``ncclTopoTuneModel`` (``src/graph/tuning.cc``) estimates the tree's bus bandwidth as ``nChannels ·
    bw · .92`` and its algorithm bandwidth as half that, and the ring's as ``nChannels · bw`` (``bw`` the
    graph's ``bwIntra`` on one or two nodes, ``bwInter`` beyond; the tree graph has the ring's channels). Both
    graphs reach the speed of the narrowest cut a channel crosses in its forward direction (``src/graph/
    search.cc`` ``followPath``, each direction of each link its own budget): the ring's bus bandwidth on the
    links. The tree's link price differs where a cut is one-way links (the inter-socket
    link: the chain crosses it with S each way, the ring with 2(N−1)/N·S), so its estimate takes the ring's:
    the estimate's bandwidth is the price's times ``(N−1)/N · t_tree / t_ring`` (per-byte times without
    protocol), 1 on a node whose GPU ports bind both (NVSwitch, a flat PCIe node; left as it is there). The
    textbook ring and tree are priced once for all the candidates (:func:`priced_candidates`): the cost guard
    counts their routes once (:func:`dpsim.sim.budget.priced_transfers`). Where dpsim derives NCCL's graphs
    (:func:`dpsim.sim.collectives.nccl.tuner_graph`: one PCIe node, more than two nodes) NCCL's own estimate picks,
    and nothing is scaled or priced here.
    """
    if not any(_host_tree(s, cluster) for s in schedules):
        return 1.0
    from dpsim.sim import collectives  # the schedules import this module's package

    layout = cluster.layout()
    if collectives.nccl.tuner_graph("tree", layout) is not None:  # NCCL's own estimate stands: nothing to scale
        return 1.0
    ring = phase_cost(collectives.build("allreduce", "ring", layout, "none"), cluster).seconds_per_byte
    tree = phase_cost(collectives.build("allreduce", "tree", layout, "none"), cluster).seconds_per_byte
    n = cluster.world_size
    return (n - 1) / n * tree / ring


def _host_scaled(cost: LinearCost, schedule: Schedule, cluster: Cluster, scale: float) -> LinearCost:
    """``cost`` with NCCL's estimate of a host topology's tree scaled by ``scale`` (:func:`host_tree_scale`)."""
    if not _host_tree(schedule, cluster):
        return cost
    return dataclasses.replace(cost, tuner=dataclasses.replace(cost.tuner, scale=cost.tuner.scale * scale))


def _shared_unequally(phase: Phase, links: np.ndarray, count: int) -> bool:
    """Whether some link of ``phase``'s routes ``links`` (padded, -1 = none; ``count`` links in all) carries transfers
    of unequal bytes, where max-min sharing gives the lighter one its equal share of the link while the heavier is
    still sending, and the phase ends after the most loaded link's time (:func:`phase_cost`)."""
    mask = links >= 0
    on = links[mask]
    share = np.broadcast_to(phase.fraction[:, None], links.shape)[mask]
    most, least = np.full(count, -np.inf), np.full(count, np.inf)
    np.maximum.at(most, on, share)
    np.minimum.at(least, on, share)
    return bool(np.any(most[on] > least[on] * (1 + 1e-9)))


def _envelope(latency: np.ndarray, per_byte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (latency, seconds per byte) pairs of a phase's transfers that are the longest at some size.

    A pair is kept when no other has both a latency and a per-byte time at least as large: one pair
    (the phase's two maxima on one transfer) in a phase whose most latent transfers are its most loaded.
    """
    latest = latency == latency.max()
    first = float(per_byte[latest].max())  # the pair the sort below puts first
    if not float(per_byte.max()) > first * (1 + 1e-12):  # it is the only one kept: no sort (O(n log n))
        return np.array([float(latency.max())]), np.array([first])
    order = np.lexsort((-per_byte, -latency))  # latency descending, per byte descending among equals
    lat, pb = latency[order], per_byte[order]
    best = np.maximum.accumulate(pb)
    keep = np.ones(len(pb), dtype=bool)
    keep[1:] = pb[1:] > best[:-1] * (1 + 1e-12)
    return lat[keep], pb[keep]


def _phase_use(
    phase: Phase, cluster: Cluster, links: np.ndarray, step: float, latency: np.ndarray
) -> tuple[float, float, LinkUse, int]:
    """How ``phase`` loads the links of ``cluster``, for :func:`phased_job`, from its routes' ``links``, its bandwidth
    term per byte of one step (``step``: :attr:`_PhasePrice.step`) and its transfers' route latencies (``latency``).

    As :func:`phase_cost` prices it: its latency (``repeat`` × its slowest transfer's) and its bandwidth term per
    message byte (``repeat`` × ``step``: its most loaded resource, or one step's max-min fluid run), and the links it
    loads: busy, the bytes on each link over its capacity during the phase's bandwidth term (1 on its bottleneck, less
    where max-min sharing leaves it idle part of the step); flows, the transfers crossing the link at once.
    """
    capacity = cluster.links.capacity
    mask = links >= 0
    weights = np.broadcast_to(phase.fraction[:, None], links.shape)[mask]
    load = np.bincount(links[mask], weights=weights, minlength=len(capacity)) / capacity
    busy = load / step if step > 0 else load * 0.0
    flows = np.bincount(links[mask], minlength=len(capacity)).astype(float)
    lat = phase.repeat * float(phase.timed_latency(latency).max(initial=0.0))
    return lat, phase.repeat * step, LinkUse(busy, flows), phase.repeat


def phased_job(cost: LinearCost, size: float) -> Job:
    """One collective of ``size`` bytes as a job of :mod:`dpsim.streams`, phase by phase: its latency and
    bandwidth terms at its own pace (:meth:`LinearCost.split`, so alone it lasts ``cost(size)``) shared out
    over its phases as :attr:`LinearCost.uses` weighs them (priced with ``loads``), each phase with the links it
    loads. The one place the analytic engine (:func:`dpsim.analytic.collectives.collective_job`) and the fast level
    (:meth:`dpsim.sim.engine.CollectiveEngine.job`) turn a schedule into a job.

    A phase of r steps (a ring's n − 1) is r jobs, each step's bytes then its latency, as the chunk level runs them
    (each step's transfers delivered their latency after their last byte, the next step started then): another
    stream's bytes have the links alone during every step's latency, not during one block of all r after the
    phase's bytes (HYBRID_SHARD with ring replicas on one CPU node of 8 at 5 µs hops: the chunk level 0.124 %
    shorter)."""
    latency, work = cost.split(size)
    uses = cost.uses
    if not uses:
        return Job(latency, work)
    lat_total, work_total = sum(u[0] for u in uses), sum(u[1] for u in uses)

    def share(part: float, total: float, first: bool) -> float:
        return part / total if total > 0 else float(first)

    phases = [
        Job(latency * share(lat, lat_total, i == 0) / steps, work * share(w, work_total, i == 0) / steps, use, steps)
        for i, (lat, w, use, steps) in enumerate(uses)
    ]
    return dataclasses.replace(phases[0], then=tuple(phases[1:]))
