"""Heterogeneity and randomness of a simulated step: jitter, stragglers, degraded links, replications.

* Compute jitter: every worker's every micro-batch is multiplied by an independent draw of
  mean 1 and coefficient of variation ``compute_jitter_cv`` from a lognormal
  (σ² = ln(1 + cv²), μ = −σ²/2), a normal (1 + cv·z, floored at 1 %) or a gamma
  (shape 1/cv², scale cv²) distribution. Draws come from a ``numpy.random.Generator``
  seeded by ``[variability.seed, replication]`` — bit-for-bit reproducible, no global state.
* Stragglers: named workers' compute times × slowdown (``Scenario.worker_slowdowns``).
* Degraded links: a node's NICs at ``factor`` × nominal bandwidth (:class:`~dpsim.sim.cluster.Cluster`).
* Replications: independent seeded runs summarised by their mean and the half width of a
  95 % Student-t interval, ``t₀.₉₇₅,R−1 · s/√R``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from dpsim.rank_speed import JITTER_FLOOR, NEGLIGIBLE_JITTER_CV, lognormal_jitter_parameters
from dpsim.scenario import Scenario, VariabilityConfig

__all__ = ["ci95_half_width", "degraded_nodes", "jitter", "replication_rng"]

# two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (then the normal 1.96)
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def replication_rng(config: VariabilityConfig, replication: int) -> np.random.Generator:
    """The generator of one replication: ``default_rng([seed, replication])``."""
    return np.random.default_rng([config.seed, replication])


def jitter(config: VariabilityConfig, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Multipliers of mean 1 and CV ``compute_jitter_cv`` (all ones when the CV is 0)."""
    cv = config.compute_jitter_cv
    if cv < NEGLIGIBLE_JITTER_CV:  # as the analytic price (round 29: a gamma's 1/cv² overflowed at cv 1e-200)
        return np.ones(shape)
    if config.jitter_distribution == "lognormal":
        mu, sigma = lognormal_jitter_parameters(cv)  # the analytic price tabulates the same draw
        return rng.lognormal(mu, sigma, size=shape)
    if config.jitter_distribution == "normal":
        return np.maximum(JITTER_FLOOR, 1.0 + cv * rng.standard_normal(shape))
    return rng.gamma(1.0 / (cv * cv), cv * cv, size=shape)


def degraded_nodes(scenario: Scenario) -> dict[int, float]:
    """node → remaining fraction of NIC bandwidth (several entries for one node multiply)."""
    out: dict[int, float] = {}
    for d in scenario.variability.degraded_links:
        out[d.node] = out.get(d.node, 1.0) * d.factor
    return out


def ci95_half_width(samples: Sequence[float]) -> float:
    """Half width of the 95 % t-interval of the mean (0 for fewer than two samples)."""
    r = len(samples)
    if r < 2:
        return 0.0
    sd = float(np.std(np.asarray(samples, dtype=np.float64), ddof=1))
    t = _T975[r - 2] if r - 1 <= len(_T975) else 1.96
    return t * sd / math.sqrt(r)
