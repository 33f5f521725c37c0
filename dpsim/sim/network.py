"""Flow-level network on a simpy environment: concurrent transfers share links max-min fairly.

Each transfer is a *flow* over the directed links of its route. While it is active it
moves bytes at a rate given by max-min fairness over all active flows (progressive
filling, Bertsekas & Gallager, *Data Networks*, §6.5.2): on every link the capacity is
split equally among the flows not bottlenecked elsewhere. Rates are recomputed whenever
a flow starts or ends — once per instant, after every other event of that instant — so a
transfer of m bytes takes ``m / rate(t)`` integrated over time, and is delivered one
route latency after its last byte left (α + m/B when alone: the α–β model).

Flows are kept in numpy arrays and handled in *groups*: the flows started at one
instant are admitted together (:meth:`FluidNetwork.start_many`), and flows whose last
byte leaves at the same instant share one simpy event, as do flows delivered at the same
instant. Grouping is exact, not an approximation: flows in one event have provably the
same completion time (the same float), and a group is split again as soon as their
rates differ. Two paths keep the cost per flow low:

* a flow whose links carry no other flow gets the smallest capacity of its route without
  any max-min computation — the common case for rings and trees on switched fabrics;
* otherwise max-min is recomputed, vectorised, over the flows that share a link with
  another flow (or sit on a link another flow just left): the union of every component
  whose rates can have changed. Components are independent under max-min, so this gives
  the same rates as recomputing each component alone.

Flow slots are recycled when a flow is delivered, so memory follows the flows in flight,
not the flows of the whole run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import simpy

__all__ = ["FluidNetwork"]

Callback = Callable[[np.ndarray], None]
"""Called with the tags (int64 array) of the flows of one owner delivered at one instant."""


class FluidNetwork:
    """Active flows on a table of link capacities (bytes/s), advanced by a simpy environment."""

    def __init__(self, env: simpy.Environment, capacity: Sequence[float] | np.ndarray) -> None:
        self.env = env
        cap = np.asarray(capacity, dtype=np.float64)
        self.links = len(cap)
        # one extra link (index ``links``) of infinite capacity stands for the -1 padding of routes
        self.capacity = np.append(cap, np.inf)
        self.count = np.zeros(self.links + 1, dtype=np.int64)
        """Flows sending on each link."""
        self.events = 0
        """Flow completions and deliveries processed (two per flow; for events-per-second figures)."""
        self.simpy_events = 0
        """simpy events the network scheduled (one per group of flows finishing or delivered together)."""
        self.rate_work = 0
        """Route entries (flows x route columns) the max-min recomputes went over: their cost grows with the flows
        in flight, not with the flows ending (a shared fabric's bound, :data:`dpsim.sim.budget.SHARED_RATE_S`)."""
        self.link_work = 0
        """Entries of the per-link tables (:attr:`count`, the dirty marks, the max-min shares of each filling round)
        and of the flow pool that each start, end of sending and recompute passes over whole: their cost grows with
        the fabric's links, whatever the flows (round 37: a shared fabric of many jobs, whose links grow with the jobs,
        went uncharged, so 1,000 copies of the default scenario were counted as under 5 minutes and ran for about
        half an hour; :data:`dpsim.sim.budget.SHARED_LINK_S`)."""
        self.bytes_carried = 0.0
        self._owners: list[Callback] = []
        self._pending = False
        self._dirty = np.zeros(self.links + 1, dtype=bool)
        # the flow pool: one slot per flow in flight, recycled on delivery
        self._size = 0
        self._route = np.zeros((0, 2), dtype=np.int64)
        self._remaining = np.zeros(0)
        self._rate = np.zeros(0)
        self._updated = np.zeros(0)
        self._latency = np.zeros(0)
        self._version = np.zeros(0, dtype=np.int64)
        self._owner = np.zeros(0, dtype=np.int64)
        self._tag = np.zeros(0, dtype=np.int64)
        self._sending = np.zeros(0, dtype=bool)
        self._free = np.zeros(0, dtype=np.int64)
        """Stack of free flow slots: ``_free[:_top]``."""
        self._top = 0
        self._added: dict[object, int] = {}
        self._grow(64, 2)

    def add_links(self, capacity: Sequence[float] | np.ndarray, key: object = None) -> int:
        """Append links of ``capacity`` (bytes/s) and return the id of the first; once per ``key``.

        For resources that exist only while collectives run on this network, such as NCCL's
        per-(rank, channel) throughput (:attr:`dpsim.sim.collectives.base.Schedule.engine_Bps`).
        """
        if key is not None and key in self._added:
            return self._added[key]
        extra = np.asarray(capacity, dtype=np.float64)
        first, pad = self.links, self.links
        self.links += len(extra)
        self.capacity = np.concatenate([self.capacity[:pad], extra, [np.inf]])
        self.count = np.concatenate([self.count[:pad], np.zeros(len(extra), dtype=np.int64), [0]])
        self._dirty = np.concatenate([self._dirty[:pad], np.zeros(len(extra), dtype=bool), [False]])
        self._route[self._route == pad] = self.links
        if key is not None:
            self._added[key] = first
        return first

    # --- flow pool -----------------------------------------------------------------------------

    def _grow(self, size: int, width: int) -> None:
        """Make room for ``size`` flows with routes of up to ``width`` links (at least doubling)."""
        old = self._size
        size = max(size, 2 * old)
        width = max(width, self._route.shape[1])
        route = np.full((size, width), self.links, dtype=np.int64)
        route[:old, : self._route.shape[1]] = self._route
        self._route = route
        for name in ("_remaining", "_rate", "_updated", "_latency", "_version", "_owner", "_tag", "_sending"):
            array = getattr(self, name)
            grown = np.zeros(size, dtype=array.dtype)
            grown[:old] = array
            setattr(self, name, grown)
        free = np.empty(size, dtype=np.int64)
        fresh = size - old
        free[:fresh] = np.arange(size - 1, old - 1, -1)
        free[fresh : fresh + self._top] = self._free[: self._top]
        self._free, self._top = free, fresh + self._top
        self._size = size

    def _allocate(self, k: int, width: int) -> np.ndarray:
        if k > self._top or width > self._route.shape[1]:
            self._grow(self._size + k, width)
        self._top -= k
        return self._free[self._top : self._top + k].copy()

    def owner(self, callback: Callback) -> int:
        """Register a delivery callback; returns the owner id to pass to :meth:`start_many`."""
        self._owners.append(callback)
        return len(self._owners) - 1

    # --- starting flows ------------------------------------------------------------------------

    def start(
        self, links: Sequence[int], nbytes: float, latency_s: float, callback: Callable[[Any], None], tag: Any = None
    ) -> None:
        """Send ``nbytes`` over ``links``; ``callback(tag)`` runs when the last byte is delivered."""
        owner = self.owner(lambda _tags: callback(tag))
        route = np.asarray([list(links) or [-1]], dtype=np.int64)
        self.start_many(
            route, np.asarray([nbytes], dtype=np.float64), np.asarray([latency_s]), owner, np.zeros(1, np.int64)
        )

    def start_many(
        self, routes: np.ndarray, nbytes: np.ndarray, latency_s: np.ndarray, owner: int, tags: np.ndarray
    ) -> None:
        """Start one flow per row of ``routes`` (link ids, -1 = none) at this instant.

        Flow ``i`` carries ``nbytes[i]`` and is delivered ``latency_s[i]`` after its last
        byte leaves; then the owner's callback receives ``tags[i]`` (with every other flow
        of that owner delivered at the same instant).
        """
        k = len(nbytes)
        if k == 0:
            return
        pad, capacity = self.links, self.capacity
        routes = np.where(routes < 0, pad, routes)
        rates = capacity[routes[:, 0]]
        for column in routes.T[1:]:
            rates = np.minimum(rates, capacity[column])
        ids = self._allocate(k, routes.shape[1])
        width = routes.shape[1]
        if width < self._route.shape[1]:
            self._route[ids] = pad
            self._route[ids, :width] = routes
        else:
            self._route[ids] = routes
        self._remaining[ids] = nbytes
        self._latency[ids] = latency_s
        self._owner[ids] = owner
        self._tag[ids] = tags
        self._updated[ids] = self.env.now
        self.bytes_carried += float(nbytes.sum())
        empty = (nbytes <= 0) | (rates == np.inf)
        if empty.any():
            self._deliver_later(ids[empty])
            keep = ~empty
            ids, routes, rates = ids[keep], routes[keep], rates[keep]
            if len(ids) == 0:
                return
        self.link_work += pad + 1
        count = self.count
        added = np.bincount(routes.ravel(), minlength=pad + 1)
        added[pad] = 0
        # alone: no flow on any of its links before, and no other new flow beside it
        busy = count + added - 1
        busy[pad] = 0
        alone = busy[routes[:, 0]] == 0
        for column in routes.T[1:]:
            alone &= busy[column] == 0
        count += added
        self._sending[ids] = True
        self._rate[ids] = np.where(alone, rates, 0.0)
        if alone.all():
            self._schedule(ids)
            return
        if alone.any():
            self._schedule(ids[alone])
        self._dirty[routes[~alone].ravel()] = True
        self._request()

    # --- events --------------------------------------------------------------------------------

    def _schedule(self, ids: np.ndarray) -> None:
        """(Re)schedule the end of sending of ``ids`` at their current rate, one event per end time."""
        self._version[ids] += 1
        delays = self._remaining[ids] / self._rate[ids]
        if len(ids) == 1 or delays.min() == delays.max():
            self._timeout(float(delays[0]), self._on_sent, (ids, self._version[ids]))
            return
        order = np.argsort(delays, kind="stable")
        delays, ids = delays[order], ids[order]
        cuts = np.flatnonzero(np.diff(delays)) + 1
        for group, delay in zip(np.split(ids, cuts), delays[np.concatenate([[0], cuts])].tolist(), strict=True):
            self._timeout(delay, self._on_sent, (group, self._version[group]))

    def _timeout(self, delay: float, handler: Callable[[Any], None], value: Any) -> None:
        self.simpy_events += 1
        self.env.timeout(max(0.0, delay), value).callbacks.append(handler)

    def _deliver_later(self, ids: np.ndarray) -> None:
        latency = self._latency[ids]
        if len(ids) == 1 or latency.min() == latency.max():
            lat = float(latency[0])
            if lat > 0:
                self._timeout(lat, self._on_delivered, ids)
            else:
                self._deliver(ids)
            return
        order = np.argsort(latency, kind="stable")
        latency, ids = latency[order], ids[order]
        cuts = np.flatnonzero(np.diff(latency)) + 1
        for group, lat in zip(np.split(ids, cuts), latency[np.concatenate([[0], cuts])].tolist(), strict=True):
            if lat > 0:
                self._timeout(lat, self._on_delivered, group)
            else:
                self._deliver(group)

    def _on_sent(self, event: simpy.Event) -> None:
        ids, versions = event.value  # type: ignore[misc]
        live = self._version[ids] == versions
        if not live.all():
            ids = ids[live]
            if len(ids) == 0:
                return
        self.events += len(ids)
        self.link_work += self.links + 1
        self._remaining[ids] = 0.0
        self._sending[ids] = False
        routes = self._route[ids]
        count = self.count
        count -= np.bincount(routes.ravel(), minlength=self.links + 1)
        count[self.links] = 0
        left = count[routes] > 0
        if left.any():
            self._dirty[routes[left]] = True
            self._request()
        self._deliver_later(ids)

    def _on_delivered(self, event: simpy.Event) -> None:
        self._deliver(event.value)  # type: ignore[arg-type]

    def _deliver(self, ids: np.ndarray) -> None:
        self.events += len(ids)
        self._free[self._top : self._top + len(ids)] = ids
        self._top += len(ids)
        if len(ids) == 1:
            flow = int(ids[0])
            self._owners[int(self._owner[flow])](self._tag[flow : flow + 1])
            return
        owners, tags = self._owner[ids], self._tag[ids]
        if owners.min() == owners.max():
            self._owners[int(owners[0])](tags)
            return
        order = np.argsort(owners, kind="stable")
        owners, tags = owners[order], tags[order]
        cuts = np.flatnonzero(np.diff(owners)) + 1
        for owner, group in zip(owners[np.concatenate([[0], cuts])].tolist(), np.split(tags, cuts), strict=True):
            self._owners[owner](group)

    # --- max-min -------------------------------------------------------------------------------

    def _request(self) -> None:
        """Recompute rates once, after every other event of this instant."""
        if not self._pending:
            self._pending = True
            self.simpy_events += 1
            self.env.timeout(0).callbacks.append(self._recompute)

    def _recompute(self, _event: simpy.Event) -> None:
        self._pending = False
        self.link_work += self.links + 1 + self._size
        dirty = self._dirty
        dirty[self.links] = False
        shared = (self.count >= 2) | dirty
        dirty[:] = False
        sending = np.flatnonzero(self._sending[: self._size])
        if len(sending) == 0:
            return
        routes = self._route[sending]
        involved = shared[routes].any(axis=1)
        if not involved.any():
            return
        flows, routes = sending[involved], routes[involved]
        self.rate_work += routes.size
        now = self.env.now
        self._remaining[flows] -= self._rate[flows] * (now - self._updated[flows])
        self._updated[flows] = now
        rates, rounds = _max_min(routes, self.capacity, self.links)
        self.link_work += rounds * (self.links + 1)
        changed = rates != self._rate[flows]
        if changed.any():
            moved = flows[changed]
            self._rate[moved] = rates[changed]
            self._schedule(moved)


def max_min_rates(routes: np.ndarray, capacity: np.ndarray, pad: int) -> np.ndarray:
    """Max-min fair rates of flows on ``routes`` (rows of link ids; ``pad`` = no link) by progressive filling.

    Every round finds the smallest fair share ``capacity left / flows left`` over the
    links, fixes the rate of every flow crossing a link at that share, and takes it off
    the links those flows cross (Bertsekas & Gallager §6.5.2).
    """
    return _max_min(routes, capacity, pad)[0]


def _max_min(routes: np.ndarray, capacity: np.ndarray, pad: int) -> tuple[np.ndarray, int]:
    """:func:`max_min_rates` and its filling rounds (each passes over every link)."""
    k = len(routes)
    rounds = 0
    flat = routes.ravel()
    size = len(capacity)
    left = capacity.copy()
    count = np.bincount(flat, minlength=size).astype(np.float64)
    count[pad] = 0.0
    rates = np.zeros(k)
    open_ = np.ones(k, dtype=bool)
    while open_.any():
        rounds += 1
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(count > 0, left / count, np.inf)
        level = share.min()
        bottleneck = share == level
        fixed = open_ & bottleneck[routes].any(axis=1)
        rates[fixed] = level
        open_ &= ~fixed
        used = routes[fixed].ravel()
        np.subtract.at(left, used, level)
        np.subtract.at(count, used, 1.0)
        count[pad] = 0.0
    return rates, rounds
