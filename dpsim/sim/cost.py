"""The price of a schedule on a cluster: phase by phase, from the load it puts on each link.

For every phase of a :class:`~dpsim.sim.collectives.base.Schedule` the flows active at
once are routed on the cluster and their bytes summed per directed link; the phase lasts
its latency (``repeat`` × the phase's per-step latency, or route latency × ``hops``) plus
``max over links (bytes on the link / its bandwidth)`` — the time for the most loaded link
to carry its share, which is exactly the max-min fair completion time when the phase's
flows are symmetric. Repeated steps of the same pattern are priced once, so the cost of
an N-rank collective is ``latency_s + size · seconds_per_byte`` after O(N) numpy work.
The schedule's base latency (NCCL's launch cost) is added once. A schedule with a
per-channel throughput (``engine_Bps``: NCCL's per-channel caps) adds one resource per
(rank, channel): the bytes a rank sends on a channel in the phase over ``engine_Bps`` —
the same resource the chunk level puts on each flow's route.

This is the single price of a collective: the analytic engine
(:func:`dpsim.analytic.collectives.collective`), the fast level
(:class:`dpsim.sim.fast.FastEngine`) and the tuner that picks NCCL's algorithm and
protocol (:class:`dpsim.sim.engine.CollectiveEngine`) all call :func:`phase_cost`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import Phase, Schedule

__all__ = ["LinearCost", "engine_ids", "engine_load", "phase_cost"]


def engine_ids(phase: Phase, channels: int) -> np.ndarray:
    """The (rank, channel) resource each transfer of ``phase`` crosses: ``src · channels + channel``."""
    chan = phase.channel if phase.channel is not None else np.zeros(len(phase.src), dtype=np.int64)
    return phase.src * channels + chan


def engine_load(phase: Phase) -> np.ndarray:
    """Bytes (as a fraction of the message) each (rank, channel) of ``phase`` sends."""
    channels = int(phase.channel.max()) + 1 if phase.channel is not None and len(phase.channel) else 1
    return np.bincount(engine_ids(phase, channels), weights=phase.fraction)


@dataclass(frozen=True)
class LinearCost:
    """Time of a collective as ``latency_s + size · seconds_per_byte``."""

    latency_s: float
    seconds_per_byte: float

    def __call__(self, size: float) -> float:
        return self.latency_s + size * self.seconds_per_byte if size > 0 else 0.0


def phase_cost(schedule: Schedule, cluster: Cluster) -> LinearCost:
    """Price ``schedule`` on ``cluster`` phase by phase (see the module docstring)."""
    capacity = cluster.links.capacity
    latency_total = schedule.base_latency_s
    per_byte_total = 0.0
    for phase in schedule.phases:
        if len(phase.src) == 0:
            continue
        links, latency = cluster.routes(phase.src, phase.dst)
        mask = links >= 0
        weights = np.broadcast_to(phase.fraction[:, None], links.shape)[mask]
        load = np.bincount(links[mask], weights=weights, minlength=len(capacity))
        per_byte = float(np.max(load / capacity))
        if schedule.engine_Bps > 0:
            per_byte = max(per_byte, float(engine_load(phase).max()) / schedule.engine_Bps)
        latency_total += phase.repeat * float(phase.transfer_latency(latency).max())
        per_byte_total += phase.repeat * per_byte
    return LinearCost(latency_total, per_byte_total)
