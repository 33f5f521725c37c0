"""Flow-level network on a simpy environment: concurrent transfers share links max-min fairly.

Each transfer is a *flow* over the directed links of its route. While it is active it
moves bytes at a rate given by max-min fairness over all active flows (progressive
filling, Bertsekas & Gallager, *Data Networks*, §6.5.2): on every link the capacity is
split equally among the flows not bottlenecked elsewhere. Rates are recomputed whenever
a flow starts or ends — only for the flows connected to the changed links, once per
instant — so a transfer of m bytes takes ``m / rate(t)`` integrated over time, and is
delivered one route latency after its last byte left (α + m/B when alone: the α–β model).

Hot path: a flow whose links are all idle gets their minimum capacity without any
recomputation, which is the common case for rings and trees on switched fabrics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import simpy

__all__ = ["Flow", "FluidNetwork"]


class Flow:
    """One transfer in flight."""

    __slots__ = ("callback", "event", "latency_s", "links", "net", "rate", "remaining", "tag", "updated")

    def __init__(
        self,
        net: FluidNetwork,
        links: Sequence[int],
        nbytes: float,
        latency_s: float,
        callback: Callable[[Any], None],
        tag: Any,
    ) -> None:
        self.net = net
        self.links = links
        self.remaining = nbytes
        self.latency_s = latency_s
        self.callback = callback
        self.tag = tag
        self.rate = 0.0
        self.updated = net.env.now
        self.event: simpy.Event | None = None

    def _on_sent(self, event: simpy.Event) -> None:
        if event is self.event:
            self.net._sent(self)

    def _on_delivered(self, event: simpy.Event) -> None:
        self.net.events += 1
        self.callback(self.tag)


class FluidNetwork:
    """Active flows on a table of link capacities (bytes/s), advanced by a simpy environment."""

    def __init__(self, env: simpy.Environment, capacity: Sequence[float]) -> None:
        self.env = env
        self.capacity = [float(c) for c in capacity]
        self.active: list[dict[Flow, None]] = [{} for _ in self.capacity]  # insertion-ordered: deterministic
        self._dirty: set[int] = set()
        self._pending = False
        self.events = 0
        """Flow completions and deliveries processed (for events-per-second figures)."""
        self.bytes_carried = 0.0

    def start(
        self,
        links: Sequence[int],
        nbytes: float,
        latency_s: float,
        callback: Callable[[Any], None],
        tag: Any = None,
    ) -> Flow:
        """Send ``nbytes`` over ``links``; ``callback(tag)`` runs when the last byte is delivered."""
        flow = Flow(self, links, nbytes, latency_s, callback, tag)
        self.bytes_carried += nbytes
        if nbytes <= 0 or not links:
            self._deliver_later(flow)
            return flow
        active = self.active
        idle = True
        for link in links:
            if active[link]:
                idle = False
            active[link][flow] = None
        if idle:
            flow.rate = min(self.capacity[link] for link in links)
            self._schedule(flow)
        else:
            self._dirty.update(links)
            self._request()
        return flow

    def _schedule(self, flow: Flow) -> None:
        event = self.env.timeout(max(0.0, flow.remaining / flow.rate))
        flow.event = event
        event.callbacks.append(flow._on_sent)

    def _deliver_later(self, flow: Flow) -> None:
        event = self.env.timeout(flow.latency_s)
        event.callbacks.append(flow._on_delivered)

    def _sent(self, flow: Flow) -> None:
        self.events += 1
        flow.remaining = 0.0
        flow.event = None
        active = self.active
        for link in flow.links:
            users = active[link]
            users.pop(flow, None)
            if users:
                self._dirty.add(link)
        if self._dirty:
            self._request()
        if flow.latency_s > 0:
            self._deliver_later(flow)
        else:
            self.events += 1
            flow.callback(flow.tag)

    def _request(self) -> None:
        """Recompute rates once, after every other event of this instant."""
        if not self._pending:
            self._pending = True
            self.env.timeout(0).callbacks.append(self._recompute)

    def _recompute(self, _event: simpy.Event) -> None:
        self._pending = False
        now = self.env.now
        active = self.active
        # the connected component of flows and links around the changed links
        links: set[int] = set()
        flows: dict[Flow, None] = {}
        stack = [link for link in sorted(self._dirty) if active[link]]
        self._dirty.clear()
        while stack:
            link = stack.pop()
            if link in links:
                continue
            links.add(link)
            for flow in active[link]:
                if flow not in flows:
                    flows[flow] = None
                    stack.extend(x for x in flow.links if x not in links)
        if not flows:
            return
        for flow in flows:
            flow.remaining -= flow.rate * (now - flow.updated)
            flow.updated = now
        # progressive filling (max-min fairness)
        cap_left = {link: self.capacity[link] for link in sorted(links)}
        count = {link: len(active[link]) for link in cap_left}
        rates: dict[Flow, float] = {}
        while count:
            bottleneck = min(count, key=lambda x: cap_left[x] / count[x])
            share = cap_left[bottleneck] / count[bottleneck]
            for flow in active[bottleneck]:
                if flow in rates:
                    continue
                rates[flow] = share
                for link in flow.links:
                    cap_left[link] -= share
                    count[link] -= 1
                    if count[link] == 0:
                        del count[link]
        for flow in flows:
            rate = rates[flow]
            if rate != flow.rate or flow.event is None:
                flow.rate = rate
                self._schedule(flow)
