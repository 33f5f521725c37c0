"""Which fidelity to run: chunk level while it is affordable, fast level beyond.

``simulation.fidelity: auto`` estimates the chunk level's work — point-to-point transfers
per collective × collectives that must really be simulated (a step without jitter repeats
the same bucket, which the chunk engine memoises; with jitter every call is new) — and
picks ``chunk`` below :data:`CHUNK_BUDGET` transfers, ``fast`` above. ``chunk`` or
``fast`` (in the scenario or the ``fidelity`` argument) override the choice.
"""

from __future__ import annotations

import math

from dpsim.sim.collectives.base import Layout
from dpsim.sim.collectives.nccl import channels as rail_channels

__all__ = ["CHUNK_BUDGET", "FIDELITIES", "choose_fidelity", "transfers_per_allreduce"]

FIDELITIES = ("auto", "chunk", "fast")
CHUNK_BUDGET = 500_000
"""Transfers the chunk level may simulate per step under ``auto`` (a few seconds of Python)."""


def transfers_per_allreduce(algorithm: str, layout: Layout) -> int:
    """Point-to-point transfers of one all-reduce over ``layout`` (without building its schedule).

    NCCL's rings and trees run :func:`dpsim.sim.collectives.nccl.channels` channels — the count the
    schedules are built with: ``min(nics, G, 32)`` rails, or ``min(nics/G, ⌊PCIe/speed⌋)`` a GPU on nodes
    with more NICs than GPUs (one GPU per node included), one on a single node.
    """
    n, g = layout.world, layout.per_node
    if n <= 1:
        return 0
    channels = rail_channels(layout)
    if algorithm in ("ring", "auto"):
        return 2 * n * (n - 1) * channels
    if algorithm in ("nvls", "nvls-tree"):
        return n * (g - 1) + 4 * n
    if algorithm in ("direct", "backend") or (algorithm == "hierarchical" and (g == 1 or g == n)):
        return 2 * n * (n - 1)
    if algorithm == "hierarchical":
        m = n // g
        return 2 * n * (g - 1) + 2 * n * (m - 1)
    if algorithm == "tree":
        return 4 * (n - 1) * channels
    if algorithm == "halving-doubling":
        p = 1 << (n.bit_length() - 1)
        return 2 * p * int(math.log2(p)) + 2 * (n - p)
    return 2 * n  # parameter server


def choose_fidelity(requested: str, algorithm: str, layout: Layout, collectives: int, symmetric: bool) -> str:
    """``requested`` unless ``auto``; then chunk if its estimated work fits the budget. ``symmetric``: the
    step's identical collectives are simulated once (no jitter, and not a HYBRID_SHARD step, which runs on
    one network with nothing memoised)."""
    if requested not in FIDELITIES:
        raise ValueError(f"unknown fidelity {requested!r}; expected one of {', '.join(FIDELITIES)}")
    if requested != "auto":
        return requested
    simulated = 3 if symmetric else max(1, collectives)
    work = transfers_per_allreduce(algorithm, layout) * simulated
    return "chunk" if work <= CHUNK_BUDGET else "fast"
