"""Chunk-level fidelity: every send and receive of every rank is a flow event on the links it crosses.

:class:`CompiledSchedule` expands a :class:`~dpsim.sim.collectives.base.Schedule` for one
cluster (routes resolved once) into per-rank lists of phases. :meth:`CompiledSchedule.run`
executes one collective of ``size`` bytes on a fresh :class:`~dpsim.sim.network.FluidNetwork`:
rank ``r`` joins at ``joins[r]`` (when its bucket is ready and its stream is free), then —
the dependency rule of message-passing collectives — enters a phase once all its sends
and receives of its earlier phases are complete. A transfer starts when its sender *and*
its receiver have entered its phase: the rendezvous protocol of large messages (MPI) and
NCCL's credit-based flow control, where data moves only into a posted buffer.
Returns each rank's completion time. Exact under heterogeneous links, late joiners and
contention between the collective's own flows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import simpy

from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import Phase, Schedule
from dpsim.sim.collectives.groups import Groups
from dpsim.sim.cost import LinearCost, engine_ids, pipeline_fill, ring_wave
from dpsim.sim.engine import CollectiveEngine
from dpsim.sim.network import FluidNetwork

__all__ = ["ChunkEngine", "ChunkResult", "CollectiveRun", "CompiledSchedule"]


@dataclass(frozen=True)
class ChunkResult:
    """Per-rank completion times (s, same clock as the joins) and the number of network events."""

    done_s: np.ndarray
    events: int


def _csr(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``keys`` grouped by key (stable) and the (size + 1) offsets of each key's run."""
    order = np.argsort(keys, kind="stable")
    ptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=size), out=ptr[1:])
    return order.astype(np.int64), ptr


def _gather(index: np.ndarray, ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated runs ``index[ptr[r]:ptr[r+1]]`` for every r in ``rows``, and which row each came from."""
    start, stop = ptr[rows], ptr[rows + 1]
    lengths = stop - start
    if len(rows) and lengths.min() == 1 and lengths.max() == 1:
        return index[start], np.arange(len(rows))
    total = int(lengths.sum())
    if total == 0:
        return index[:0], rows[:0]
    which = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.cumsum(lengths) - lengths
    return index[start[which] + np.arange(total) - offsets[which]], which


class CompiledSchedule:
    """A schedule with routes resolved on a cluster, ready to run many times.

    Stored per distinct :class:`~dpsim.sim.collectives.base.Phase` (a ring's N−1 repeated
    steps share one entry), so memory grows with one step's transfers, not with all of
    them. Rank ``r`` walks *positions* ``0 … steps−1`` (each repeat of each phase is one
    position) and skips those where it neither sends nor receives. ``endpoints`` maps the
    schedule's ranks onto the cluster's (default: the same numbers), so collectives of
    several groups can share one cluster's network.
    """

    def __init__(
        self,
        schedule: Schedule,
        cluster: Cluster,
        endpoints: np.ndarray | None = None,
        routes: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        self.schedule = schedule
        self.capacity = cluster.links.bandwidths
        ranks = schedule.ranks
        self.ranks = ranks
        where = np.arange(ranks, dtype=np.int64) if endpoints is None else np.asarray(endpoints, dtype=np.int64)
        distinct: dict[int, int] = {}
        phases: list[Phase] = []
        step_phase: list[int] = []
        for phase in schedule.phases:
            if len(phase.src) == 0 or phase.repeat <= 0:
                continue
            key = distinct.setdefault(id(phase), len(phases))
            if key == len(phases):
                phases.append(phase)
            step_phase.extend([key] * phase.repeat)
        self.steps = len(step_phase)
        self.step_phase = np.asarray(step_phase, dtype=np.int64)
        # the first position after the run of repeats a position belongs to
        boundary = np.flatnonzero(np.diff(np.append(self.step_phase, -1)) != 0 if self.steps else [])
        self.next_phase = np.repeat(boundary + 1, np.diff(np.concatenate([[0], boundary + 1]))).astype(np.int64)
        # one row per transfer of every distinct phase
        count = [len(p.src) for p in phases]
        self.base = np.concatenate([[0], np.cumsum(count)]).astype(np.int64)
        total = int(self.base[-1])
        self.t_src = np.concatenate([p.src for p in phases]) if phases else np.zeros(0, np.int64)
        self.t_dst = np.concatenate([p.dst for p in phases]) if phases else np.zeros(0, np.int64)
        fraction = np.concatenate([p.fraction for p in phases]) if phases else np.zeros(0)
        self.t_share = fraction
        routes_list, latency_list = [], []
        self.pace_latency = np.zeros(len(phases))
        self.pace_per_byte = np.zeros(len(phases))
        """Per distinct phase, a ring's wave (:func:`dpsim.sim.cost.ring_wave`): each rank's step lasts at least
        ``pace_latency + size · pace_per_byte`` from its entry (0: no wave)."""
        for k, p in enumerate(phases):  # ``routes``: each distinct phase's, where the caller has routed them
            links, latency = routes[k] if routes is not None else cluster.routes(where[p.src], where[p.dst], p.nic)
            routes_list.append(links)
            latency_list.append(p.timed_latency(latency))
            if p.ring_graph is not None:
                placed = dataclasses.replace(p, src=where[p.src], dst=where[p.dst])
                self.pace_latency[k], self.pace_per_byte[k] = ring_wave(schedule, placed, cluster, (links, latency))
        width = max((r.shape[1] for r in routes_list), default=1)
        self.t_routes = np.full((total, width), -1, dtype=np.int64)
        for k, links in enumerate(routes_list):
            self.t_routes[self.base[k] : self.base[k + 1], : links.shape[1]] = links
        self.t_latency = np.concatenate(latency_list) if phases else np.zeros(0)
        self.need = np.zeros((max(1, len(phases)), ranks), dtype=np.int64)
        sends, recvs = [], []
        send_ptr = np.zeros((len(phases), ranks + 1), dtype=np.int64)
        recv_ptr = np.zeros((len(phases), ranks + 1), dtype=np.int64)
        for k, p in enumerate(phases):
            self.need[k] = np.bincount(p.src, minlength=ranks) + np.bincount(p.dst, minlength=ranks)
            order, ptr = _csr(p.src, ranks)
            sends.append(order + self.base[k])
            send_ptr[k] = ptr + self.base[k]
            order, ptr = _csr(p.dst, ranks)
            recvs.append(order + self.base[k])
            recv_ptr[k] = ptr + self.base[k]
        self.send_index = np.concatenate(sends) if sends else np.zeros(0, np.int64)
        self.recv_index = np.concatenate(recvs) if recvs else np.zeros(0, np.int64)
        # flattened (phase, rank) → run offsets: row k·(ranks+1) + r
        self.send_ptr = send_ptr.ravel()
        self.recv_ptr = recv_ptr.ravel()
        self.repeats = np.asarray([p.repeat for p in phases], dtype=np.int64)
        # NCCL's per-(rank, channel) throughput: one more link on every flow's route (dpsim.sim.cost)
        self.engine_capacity = np.zeros(0)
        self.t_engine = np.zeros(0, dtype=np.int64)
        if schedule.engine_Bps > 0 and phases:
            k = max(int(p.channel.max()) + 1 if p.channel is not None else 1 for p in phases)
            self.t_engine = np.concatenate([engine_ids(p, k) for p in phases])
            self.engine_capacity = np.full(ranks * k, schedule.engine_Bps)
        self._routes_on: tuple[FluidNetwork, np.ndarray] | None = None
        self.fill = pipeline_fill(schedule, cluster, where)
        """A chunked pipeline's fill (:func:`dpsim.sim.cost.pipeline_fill`), added to its transfers' latency."""

    def routes_on(self, net: FluidNetwork) -> np.ndarray:
        """Every transfer's links on ``net``, with its (rank, channel) throughput link when the schedule has one."""
        if not len(self.engine_capacity):
            return self.t_routes
        if self._routes_on is None or self._routes_on[0] is not net:
            first = net.add_links(self.engine_capacity, key=self)
            self._routes_on = (net, np.concatenate([self.t_routes, (first + self.t_engine)[:, None]], axis=1))
        return self._routes_on[1]

    @property
    def transfers(self) -> int:
        """Point-to-point transfers in one run."""
        return int(np.sum(np.diff(self.base) * np.bincount(self.step_phase, minlength=len(self.base) - 1)))

    @property
    def t_fraction(self) -> np.ndarray:
        """Bytes of every transfer of one run, as a fraction of the message (all repeats)."""
        per_phase = np.bincount(self.step_phase, minlength=len(self.base) - 1)
        return (
            np.concatenate(
                [np.tile(self.t_share[self.base[k] : self.base[k + 1]], n) for k, n in enumerate(per_phase.tolist())]
            )
            if len(per_phase)
            else np.zeros(0)
        )

    def run(self, size: float, joins: Sequence[float] | np.ndarray) -> ChunkResult:
        """Run one collective of ``size`` bytes on a fresh network; ``joins[r]`` is when rank r posts it (s)."""
        ranks = self.ranks
        joins_arr = np.asarray(joins, dtype=np.float64) + self.schedule.base_latency_s  # NCCL's launch/set-up
        if len(joins_arr) == ranks - 1:  # the parameter server is always there
            joins_arr = np.append(joins_arr, joins_arr.min() if len(joins_arr) else 0.0)
        origin = float(joins_arr.min()) if ranks else 0.0
        env = simpy.Environment()
        net = FluidNetwork(env, self.capacity)
        run = CollectiveRun(self, net, size)
        run.join_at(joins_arr - origin)
        env.run()
        return ChunkResult(origin + run.done_s, net.events)


class CollectiveRun:
    """One collective of ``size`` bytes in progress on a (possibly shared) :class:`FluidNetwork`.

    The dependency rule of message-passing collectives: a rank enters a position once all
    its sends and receives of earlier positions are complete; a transfer starts when its
    sender *and* its receiver have entered its position (the rendezvous protocol of large
    messages, and NCCL's credit-based flow control: data moves only into a posted buffer).
    Ranks that join, finish a position or enter one at the same instant are handled as one
    vectorised batch. ``on_done(ranks)`` is called at the instant those ranks finish.
    """

    def __init__(
        self,
        compiled: CompiledSchedule,
        net: FluidNetwork,
        size: float,
        on_done: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self.compiled = compiled
        self.net = net
        self.size = float(size)
        self.on_done = on_done
        ranks = compiled.ranks
        self.pos = np.full(ranks, -1, dtype=np.int64)
        """Position each rank is in (−1: not joined; ``steps``: done)."""
        self.left = np.zeros(ranks, dtype=np.int64)
        """Sends and receives each rank still waits for in its position."""
        self.done_s = np.full(ranks, np.nan)
        self._fresh = np.zeros(ranks, dtype=bool)
        self._owner = net.owner(self._delivered)
        self._stride = max(1, len(compiled.t_src))
        self._routes = compiled.routes_on(net)
        self._fill = compiled.fill(self.size) if compiled.fill is not None else 0.0

    def join_at(self, offsets: np.ndarray, ranks: np.ndarray | None = None) -> None:
        """Rank ``ranks[i]`` (default: rank i) joins ``offsets[i]`` seconds from now (one event per distinct offset)."""
        env = self.net.env
        order = np.argsort(offsets, kind="stable")
        values = offsets[order]
        if ranks is not None:
            order = np.asarray(ranks, dtype=np.int64)[order]
        cuts = np.flatnonzero(np.diff(values)) + 1
        for group, offset in zip(np.split(order, cuts), values[np.concatenate([[0], cuts])].tolist(), strict=True):
            if len(group) == 0:
                continue
            if offset <= 0:
                self.join(group)
            else:
                env.timeout(offset, group).callbacks.append(self._on_join)

    def _on_join(self, event: simpy.Event) -> None:
        self.join(event.value)  # type: ignore[arg-type]

    def join(self, ranks: np.ndarray) -> None:
        """``ranks`` post the collective now."""
        self._enter(np.asarray(ranks, dtype=np.int64), np.zeros(len(ranks), dtype=np.int64))

    def _enter(self, ranks: np.ndarray, position: np.ndarray) -> None:
        c = self.compiled
        now = self.net.env.now
        while len(ranks):
            finished = position >= c.steps
            if finished.any():
                out = ranks[finished]
                self.pos[out] = c.steps
                self.done_s[out] = now
                if self.on_done is not None:
                    self.on_done(out)
                keep = ~finished
                ranks, position = ranks[keep], position[keep]
                if not len(ranks):
                    return
            phase = c.step_phase[position]
            need = c.need[phase, ranks]
            idle = need == 0
            if not idle.any():
                break
            position = np.where(idle, c.next_phase[position], position)
        self.pos[ranks] = position
        self.left[ranks] = need
        self._pace(ranks, phase)
        self._launch(ranks, position, phase)

    def _pace(self, ranks: np.ndarray, phase: np.ndarray) -> None:
        """``ranks`` entering a step of ``phase`` (each its own) wait for its ring's wave too: one more thing to
        complete, after ``pace_latency + size · pace_per_byte`` (:attr:`CompiledSchedule.pace_latency`)."""
        c = self.compiled
        wait = c.pace_latency[phase] + self.size * c.pace_per_byte[phase]
        paced = wait > 0
        if not paced.any():
            return
        self.left[ranks[paced]] += 1
        for delay in np.unique(wait[paced]).tolist():
            self.net.env.timeout(delay, ranks[paced & (wait == delay)]).callbacks.append(self._paced)

    def _paced(self, event: simpy.Event) -> None:
        ranks = np.asarray(event.value, dtype=np.int64)
        self.left[ranks] -= 1
        ready = ranks[self.left[ranks] == 0]
        if len(ready):
            self._enter(ready, self.pos[ready] + 1)

    def _start(self, transfers: np.ndarray, position: np.ndarray) -> None:
        c = self.compiled
        self.net.start_many(
            self._routes[transfers],
            c.t_share[transfers] * self.size,
            c.t_latency[transfers] + self._fill,
            self._owner,
            position * self._stride + transfers,
        )

    def _launch(self, ranks: np.ndarray, position: np.ndarray, phase: np.ndarray) -> None:
        c = self.compiled
        pos = self.pos
        row = phase * (c.ranks + 1) + ranks
        sent, which = _gather(c.send_index, c.send_ptr, row)
        at = position[which]
        go = pos[c.t_dst[sent]] == at
        starts, starts_at = sent[go], at[go]
        received, which = _gather(c.recv_index, c.recv_ptr, row)
        if len(received):
            self._fresh[ranks] = True
            at = position[which]
            src = c.t_src[received]
            go = (pos[src] == at) & ~self._fresh[src]
            self._fresh[ranks] = False
            if go.any():
                starts = np.concatenate([starts, received[go]])
                starts_at = np.concatenate([starts_at, at[go]])
        if len(starts):
            self._start(starts, starts_at)

    def _delivered(self, tags: np.ndarray) -> None:
        c = self.compiled
        transfer = tags % self._stride
        hits = np.bincount(c.t_src[transfer], minlength=c.ranks) + np.bincount(c.t_dst[transfer], minlength=c.ranks)
        self.left -= hits
        ranks = np.flatnonzero((hits > 0) & (self.left == 0))
        if len(ranks):
            self._enter(ranks, self.pos[ranks] + 1)


class ChunkEngine(CollectiveEngine):
    """Chunk-level evaluator: each call is run flow by flow (:meth:`CompiledSchedule.run`).

    Runs are memoised on (schedule, size, join offsets relative to the first joiner): the
    simulation is deterministic, so a homogeneous step's identical buckets are simulated
    once. ``events`` counts only simulated (not memoised) network events.
    """

    fidelity = "chunk"

    def __init__(self, cluster: Cluster, algorithm: str, memoize: bool = True, protocol: str = "none") -> None:
        super().__init__(cluster, algorithm, protocol)
        self.memoize = memoize
        self._compiled: dict[int, CompiledSchedule] = {}
        self._memo: dict[tuple[int, float, bytes], np.ndarray] = {}
        self.simulated_calls = 0

    def compiled(self, op: str, size: float = 1 << 30) -> CompiledSchedule:
        return self._compile(self.schedule(op, size))

    def _compile(self, schedule: Schedule) -> CompiledSchedule:
        key = id(schedule)  # candidates are cached for the engine's life, so ids are stable
        if key not in self._compiled:
            self._compiled[key] = CompiledSchedule(schedule, self.cluster_of(schedule))
        return self._compiled[key]

    def _evaluate(
        self, schedule: Schedule, cost: LinearCost, size: float, joins: np.ndarray, groups: Groups | None = None
    ) -> np.ndarray:
        origin = float(joins.min())
        offsets = joins - origin
        key = (id(schedule), float(size), offsets.tobytes())
        relative = self._memo.get(key) if self.memoize else None
        if relative is None:
            result = self._compile(schedule).run(size, offsets)
            relative = result.done_s[: len(joins)]
            self.events += result.events
            self.simulated_calls += 1
            if len(self._memo) < 4096:
                self._memo[key] = relative
        return origin + relative
