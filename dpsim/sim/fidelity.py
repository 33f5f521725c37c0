"""Which fidelity to run: chunk level while it is affordable, fast level beyond.

``simulation.fidelity: auto`` estimates the chunk level's work — point-to-point transfers
per collective × collectives that must really be simulated (a step without jitter repeats
the same bucket, which the chunk engine memoises; with jitter every call is new) — and
picks ``chunk`` below :data:`CHUNK_BUDGET` transfers, ``fast`` above. ``chunk`` or
``fast`` (in the scenario or the ``fidelity`` argument) override the choice.
"""

from __future__ import annotations

from dpsim.sim.collectives.base import Layout

__all__ = ["CHUNK_BUDGET", "FIDELITIES", "choose_fidelity"]

FIDELITIES = ("auto", "chunk", "fast")
CHUNK_BUDGET = 500_000
"""Transfers the chunk level may simulate per step under ``auto`` (a few seconds of Python)."""


def choose_fidelity(
    requested: str, algorithm: str, layout: Layout, collectives: int, symmetric: bool, protocol: str
) -> str:
    """``requested`` unless ``auto``; then chunk if its estimated work fits the budget. The work is the transfers
    the chunk level runs for one all-reduce of ``algorithm`` and ``protocol`` on ``layout`` (:func:`dpsim.sim.budget.
    collective_transfers`, nothing built) times the collectives simulated: ``symmetric``, the step's identical
    collectives are simulated once (no jitter, and not a HYBRID_SHARD step, which runs on one network with nothing
    memoised)."""
    from dpsim.sim.budget import collective_transfers  # the cost guard imports this module

    if requested not in FIDELITIES:
        raise ValueError(f"unknown fidelity {requested!r}; expected one of {', '.join(FIDELITIES)}")
    if requested != "auto":
        return requested
    simulated = 3 if symmetric else max(1, collectives)
    work = collective_transfers("allreduce", algorithm, protocol, layout) * simulated
    return "chunk" if work <= CHUNK_BUDGET else "fast"
