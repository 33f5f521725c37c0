"""Bounded work: the simulator prices a scenario before running it, and refuses what would not finish.

:func:`estimate` counts the work of :func:`dpsim.sim.simulate` from the scenario alone
(nothing is allocated): collectives per step (gradient buckets, ZeRO gathers), the
point-to-point transfers of one collective at the chosen fidelity
(:func:`dpsim.sim.fidelity.transfers_per_allreduce`), micro-batches, steps and
replications, and the per-step arrays (steps × ranks × micro-batches). It converts the
count to seconds with per-operation costs measured on this code (a chunk-level transfer
is a few simpy events, about :data:`CHUNK_TRANSFER_S`; a fast-level collective is one
numpy pass over the ranks). :func:`check` refuses past :data:`LIMIT_S` unless
``allow_long`` (``dpsim run --allow-long``), and always past :data:`MEMORY_LIMIT_BYTES`,
with the estimate in the message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dpsim.errors import ScenarioError
from dpsim.sharding import step_traffic
from dpsim.sim.fidelity import choose_fidelity, transfers_per_allreduce

if TYPE_CHECKING:
    from dpsim.scenario import Scenario

__all__ = ["LIMIT_S", "MEMORY_LIMIT_BYTES", "Budget", "check", "estimate"]

LIMIT_S = 300.0
"""Estimated run time past which the simulator refuses without ``allow_long`` (5 minutes)."""
MEMORY_LIMIT_BYTES = 8 * 2**30
"""Largest working set the simulator accepts (the per-step arrays; 8 GiB)."""
CHUNK_TRANSFER_S = 2e-6
CHUNK_TRANSFER_PER_RANK_S = 0.25e-6
"""A chunk-level transfer costs about ``CHUNK_TRANSFER_S`` when the ranks move in lock-step (the
network advances whole flow groups: one flat ring all-reduce over 1,024 ranks, 2.1 M
transfers, takes 1.4 s of CPU), and ``CHUNK_TRANSFER_S + span × CHUNK_TRANSFER_PER_RANK_S``
under compute jitter, where flow groups break apart and max-min is recomputed over the
flows of the widest ring (``span``: all ranks for flat algorithms, the nodes for
hierarchical ones). Upper bounds of runs of this code measured with
``benchmarks/budget_check.py`` (GPT-2 XL, flat ring, 5 % jitter: 10.5 µs per transfer at
64 ranks, 20 µs at 128)."""
CALL_S = 400e-6
"""Python overhead of one collective call or micro-batch (measured: 25k 10 KB buckets in 3.7 s
on an idle machine; the bound allows for a loaded one)."""
STEP_S = 2e-3
"""Fixed cost of one simulated step (measured: 200 steps of GPT-2 small on 4 ranks in 0.8 s)."""
ELEMENT_S = 3e-8
"""Seconds per rank per numpy pass (fast level; vectorised over ranks)."""


@dataclass(frozen=True)
class Budget:
    """What one :func:`dpsim.sim.simulate` call would do."""

    ranks: int
    fidelity: str
    collectives_per_step: int
    transfers_per_collective: int
    micro_batches: int
    steps: int
    replications: int
    seconds: float
    memory_bytes: float

    def describe(self) -> str:
        return (
            f"{self.replications:,} replications x {self.steps:,} steps x ({self.collectives_per_step:,} collectives"
            f" of {self.transfers_per_collective:,} transfers + {self.micro_batches:,} micro-batches) on "
            f"{self.ranks:,} ranks at the {self.fidelity} level: about {_duration(self.seconds)}"
        )


def _duration(seconds: float) -> str:
    if seconds >= 86400 * 365:
        return f"{seconds / (86400 * 365):.3g} years"
    if seconds >= 86400:
        return f"{seconds / 86400:.3g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} hours"
    if seconds >= 60:
        return f"{seconds / 60:.3g} minutes"
    return f"{seconds:.3g} s"


def estimate(scenario: Scenario, fidelity: str | None = None) -> Budget:
    """Price one simulation of ``scenario`` without building anything (see the module docstring)."""
    t, m = scenario.training, scenario.model
    dp = scenario.data_parallel
    k = scenario.accumulation_steps
    per_node = max(1, min(dp, scenario.cluster.workers_per_node // max(1, t.tensor_parallel)))
    psi = m.num_parameters / (t.tensor_parallel * t.pipeline_parallel)
    bucket = scenario.communication.bucket
    gradient_bytes = psi * scenario.gradient_bytes_per_param
    param_bytes = psi * (4 if t.precision == "fp32" else 2)
    collectives = math.ceil(gradient_bytes / bucket) if dp > 1 else 0
    traffic = step_traffic(scenario)  # parameter gathers as the step runs them (dpsim.sharding)
    if traffic.post_step_gather:
        collectives += math.ceil(param_bytes / bucket)
    collectives += (traffic.forward_gathers + traffic.backward_gathers) * max(1, math.ceil(param_bytes / bucket))
    if traffic.replicas > 1:  # HYBRID_SHARD: each gradient bucket's replica all-reduce
        collectives += math.ceil(gradient_bytes / bucket) * traffic.gradient_reductions
    algorithm = scenario.communication.algorithm
    transfers = transfers_per_allreduce(algorithm, dp, per_node)
    requested = fidelity if fidelity is not None else scenario.simulation.fidelity
    symmetric = scenario.variability.compute_jitter_cv == 0
    try:
        chosen = choose_fidelity(requested, algorithm, dp, per_node, collectives, symmetric)
    except ValueError:
        chosen = "fast"
    steps, replications = scenario.simulation.steps, scenario.variability.replications
    compute_s = k * (CALL_S + dp * ELEMENT_S)
    if chosen == "chunk":
        simulated = min(3, collectives) if symmetric else collectives
        span = dp if algorithm != "hierarchical" else max(1, dp // per_node)
        per_transfer = CHUNK_TRANSFER_S + (0 if symmetric else span * CHUNK_TRANSFER_PER_RANK_S)
        comm_s = simulated * transfers * per_transfer + collectives * (CALL_S + dp * ELEMENT_S)
        setup_s = 0.0
    else:
        comm_s = collectives * (CALL_S + dp * ELEMENT_S)
        setup_s = 3 * 64 * dp * ELEMENT_S  # each distinct schedule is built and priced once, phase by phase
    seconds = setup_s + float(replications) * steps * (STEP_S + compute_s + comm_s)
    memory = 2.0 * 8 * steps * dp * k + 16.0 * (transfers if chosen == "chunk" else dp)
    return Budget(dp, chosen, collectives, transfers, k, steps, replications, seconds, memory)


def check(scenario: Scenario, fidelity: str | None = None, allow_long: bool = False) -> Budget:
    """:func:`estimate`, then refuse (:class:`ScenarioError`) what would take too long or too much memory."""
    budget = estimate(scenario, fidelity)
    if budget.memory_bytes > MEMORY_LIMIT_BYTES:
        raise ScenarioError(
            "simulation",
            f"the simulator would need about {budget.memory_bytes / 2**30:,.3g} GiB "
            f"(limit {MEMORY_LIMIT_BYTES / 2**30:g} GiB): {budget.describe()}; reduce simulation.steps, "
            "the number of ranks or micro-batches, or use --engine analytic",
            "<simulator>",
        )
    if budget.seconds > LIMIT_S and not allow_long:
        raise ScenarioError(
            "simulation",
            f"this would run for {budget.describe()} (limit {_duration(LIMIT_S)}); pass --allow-long to run it "
            "anyway, or reduce simulation.steps / variability.replications, enlarge communication.bucket, "
            "or use --engine analytic",
            "<simulator>",
        )
    return budget
