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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import simpy

from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import Schedule
from dpsim.sim.cost import LinearCost
from dpsim.sim.engine import CollectiveEngine
from dpsim.sim.network import FluidNetwork

__all__ = ["ChunkEngine", "ChunkResult", "CompiledSchedule"]


@dataclass(frozen=True)
class ChunkResult:
    """Per-rank completion times (s, same clock as the joins) and the number of network events."""

    done_s: np.ndarray
    events: int


class CompiledSchedule:
    """A schedule with routes resolved on a cluster, ready to run many times."""

    def __init__(self, schedule: Schedule, cluster: Cluster) -> None:
        self.schedule = schedule
        self.capacity = cluster.links.bandwidths
        ranks = schedule.ranks
        self.ranks = ranks
        t_links: list[tuple[int, ...]] = []
        t_latency: list[float] = []
        t_fraction: list[float] = []
        t_src: list[int] = []
        t_dst: list[int] = []
        t_si: list[int] = []
        t_di: list[int] = []
        # per rank: expanded phase id -> index in that rank's own phase list
        slots: list[dict[int, int]] = [{} for _ in range(ranks)]
        sends: list[list[list[int]]] = [[] for _ in range(ranks)]
        need: list[list[int]] = [[] for _ in range(ranks)]

        def slot(rank: int, phase: int) -> int:
            own = slots[rank]
            index = own.get(phase)
            if index is None:
                index = own[phase] = len(sends[rank])
                sends[rank].append([])
                need[rank].append(0)
            return index

        expanded = 0
        for phase in self.schedule.phases:
            links, latency = cluster.routes(phase.src, phase.dst)
            routes = [tuple(x for x in row if x >= 0) for row in links.tolist()]
            lat = phase.transfer_latency(latency).tolist()
            src, dst, frac = phase.src.tolist(), phase.dst.tolist(), phase.fraction.tolist()
            for _ in range(phase.repeat):
                for i, (s, d) in enumerate(zip(src, dst, strict=True)):
                    t = len(t_src)
                    si, di = slot(s, expanded), slot(d, expanded)
                    sends[s][si].append(t)
                    need[s][si] += 1
                    need[d][di] += 1
                    t_links.append(routes[i])
                    t_latency.append(lat[i])
                    t_fraction.append(frac[i])
                    t_src.append(s)
                    t_dst.append(d)
                    t_si.append(si)
                    t_di.append(di)
                expanded += 1
        self.t_links, self.t_latency, self.t_fraction = t_links, t_latency, t_fraction
        self.t_src, self.t_dst, self.t_si, self.t_di = t_src, t_dst, t_si, t_di
        self.sends, self.need = sends, need

    @property
    def transfers(self) -> int:
        return len(self.t_src)

    def run(self, size: float, joins: Sequence[float] | np.ndarray) -> ChunkResult:
        """Run one collective of ``size`` bytes; ``joins[r]`` is when rank r posts it (s)."""
        ranks = self.ranks
        joins_arr = np.asarray(joins, dtype=np.float64) + self.schedule.base_latency_s  # NCCL's launch/set-up
        if len(joins_arr) == ranks - 1:  # the parameter server is always there
            joins_arr = np.append(joins_arr, joins_arr.min() if len(joins_arr) else 0.0)
        origin = float(joins_arr.min()) if ranks else 0.0
        env = simpy.Environment()
        net = FluidNetwork(env, self.capacity)
        done = [origin] * ranks
        pos = [0] * ranks
        need = [list(n) for n in self.need]
        joined = [False] * ranks
        waiting: list[dict[int, list[int]]] = [{} for _ in range(ranks)]
        sends, t_links, t_latency, t_fraction = self.sends, self.t_links, self.t_latency, self.t_fraction
        t_src, t_dst, t_si, t_di = self.t_src, self.t_dst, self.t_si, self.t_di

        def launch(t: int) -> None:
            d = t_dst[t]
            if joined[d] and pos[d] >= t_di[t]:
                net.start(t_links[t], t_fraction[t] * size, t_latency[t], delivered, t)
            else:
                waiting[d].setdefault(t_di[t], []).append(t)

        def enter(r: int) -> None:
            """Start rank r's current phase; move on while phases are already complete."""
            own_sends, own_need = sends[r], need[r]
            while True:
                i = pos[r]
                if i == len(own_need):
                    done[r] = origin + env.now
                    return
                posted = waiting[r].pop(i, None)
                if posted:
                    for t in posted:
                        net.start(t_links[t], t_fraction[t] * size, t_latency[t], delivered, t)
                for t in own_sends[i]:
                    launch(t)
                if own_need[i] > 0:
                    return
                pos[r] = i + 1

        def delivered(t: int) -> None:
            s, d = t_src[t], t_dst[t]
            i = t_si[t]
            need[s][i] -= 1
            if need[s][i] == 0 and pos[s] == i and joined[s]:
                pos[s] = i + 1
                enter(s)
            i = t_di[t]
            need[d][i] -= 1
            if need[d][i] == 0 and pos[d] == i and joined[d]:
                pos[d] = i + 1
                enter(d)

        def join(r: int) -> None:
            joined[r] = True
            enter(r)

        def on_join(event: simpy.Event) -> None:
            join(int(event.value))  # type: ignore[arg-type]  # the rank passed to timeout()

        order = np.argsort(joins_arr - origin, kind="stable")
        for r in order.tolist():
            offset = float(joins_arr[r] - origin)
            if offset <= 0:
                join(r)
            else:
                env.timeout(offset, r).callbacks.append(on_join)
        env.run()
        return ChunkResult(np.asarray(done), net.events)


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
            self._compiled[key] = CompiledSchedule(schedule, self.cluster)
        return self._compiled[key]

    def _evaluate(self, schedule: Schedule, cost: LinearCost, size: float, joins: np.ndarray) -> np.ndarray:
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
