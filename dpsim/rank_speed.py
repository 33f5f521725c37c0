"""A persistent per-GPU speed spread and the slowest of the GPUs a synchronous step couples.

Identical GPUs of one SKU do not run a kernel at one speed: manufacturing variability and power management give
each its own pace, the same GPU slow every run (Sinha et al., SC'22, "Not All GPUs Are Created Equal", arXiv
2208.11035). A synchronous step waits for the slowest rank each collective couples, and the tensor-parallel
collectives, the pipeline's sends and the gradient reduction together couple every rank of the job, so the
step's compute runs at the pace of the slowest of ``world_size`` draws.

``variability.rank_speed_sigma`` (σ, a fraction) gives rank ``r`` the compute-time multiplier
``m_r · max(0.01, 1 + σ·z_r)`` with ``z_r`` standard normal and ``m_r`` its named straggler slowdown (1 unless
named). The simulator draws ``z`` once per rank and replication (:func:`draw_rank_paces`, persistent over the
replication's steps); the closed forms take the expectation of the slowest, :func:`expected_slowest`, exact by
numerical integration of the maximum's distribution ``Π_r Φ((x/m_r − 1)/σ)``. With no straggler that is
``1 + σ·E[max of N standard normals]`` (:func:`expected_max_standard_normal`). Both engines read these two
functions and nothing else, so the simulator's mean over seeds meets the analytic expectation
(``tests/test_rank_speed.py``).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

__all__ = [
    "MAX_RANK_SPEED_SIGMA",
    "draw_rank_paces",
    "expected_max_standard_normal",
    "expected_slowest",
]

MAX_RANK_SPEED_SIGMA = 0.2
"""The largest σ accepted: at 0.2 a multiplier reaches the 0.01 floor only below z = −4.95 (one rank in 2.7
million), so the floor never moves the slowest and the expectation stays exact."""

_FLOOR = 0.01
_POINTS = 20_001
_SPAN = 12.0  # standard deviations either side: Φ(−12)^N and 1 − Φ(12)^N are below 1e-26 for N up to 1e6

_phi_array = np.vectorize(lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0)), otypes=[np.float64])


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return np.asarray(_phi_array(x), dtype=np.float64)


@functools.cache
def expected_max_standard_normal(n: int) -> float:
    """E[max of ``n`` independent standard normals], the exact order statistic: ∫ n·x·φ(x)·Φ(x)^(n−1) dx by the
    trapezoid rule over [−12, 12] in 20,000 steps. 0 for one draw, 1/√π for two, 3/(2√π) for three, about
    √(2 ln n) less a slow correction for large ``n``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n {n!r}: expected a whole number >= 1")
    if n == 1:
        return 0.0
    x = np.linspace(-_SPAN, _SPAN, _POINTS)
    with np.errstate(divide="ignore"):
        log_cdf = np.log(_normal_cdf(x))
    density = n * x * np.exp(-0.5 * x * x + (n - 1) * log_cdf) / math.sqrt(2.0 * math.pi)
    return float(np.trapezoid(density, x))


_TABLE_LO, _TABLE_HI, _TABLE_STEP = -40.0, 9.0, 1e-4  # above 9, log Φ > −1.2e-19: 0 for a million ranks


@functools.cache
def _log_cdf_table() -> tuple[np.ndarray, np.ndarray]:
    """log Φ on [−40, 9] in steps of 1e-4, floored at −800 (exp gives 0 there): tabulated once, so a scenario naming
    many distinct slowdowns costs one interpolation each, not 20,001 Python-level erfc calls (review 20:25); linear
    interpolation is within 1e-9 of the direct evaluation."""
    z = np.linspace(_TABLE_LO, _TABLE_HI, round((_TABLE_HI - _TABLE_LO) / _TABLE_STEP) + 1)
    with np.errstate(divide="ignore"):
        return z, np.maximum(np.log(_normal_cdf(z)), -800.0)


@functools.cache
def _expected_slowest(paces: tuple[tuple[float, int], ...], sigma: float) -> float:
    top = max(m for m, _ in paces)
    lo, hi = max(0.0, top * (1.0 - _SPAN * sigma)), top * (1.0 + _SPAN * sigma)
    x = np.linspace(lo, hi, _POINTS)
    log_cdf = np.zeros_like(x)
    z_table, log_table = _log_cdf_table()
    for m, count in paces:  # below the table log Φ is under −800 (the floor), above it 0
        log_cdf += count * np.interp((x / m - 1.0) / sigma, z_table, log_table, left=-800.0, right=0.0)
    # E[M] = lo + ∫_lo^hi (1 − F(x)) dx for M ≥ lo almost surely (F(lo) < 1e-26: every rank's draw is above lo)
    return float(lo + np.trapezoid(1.0 - np.exp(log_cdf), x))


def expected_slowest(multipliers: Sequence[float], sigma: float) -> float:
    """E[max_r m_r·(1 + σ·z_r)]: the expected compute-time multiplier of the slowest of the ranks whose named
    multipliers are ``multipliers`` (1 = nominal) under a persistent speed spread σ. ``max(multipliers)`` at σ 0;
    ``1 + σ·E[max of N]`` (:func:`expected_max_standard_normal`) with no straggler."""
    if not multipliers:
        raise ValueError("expected at least one rank")
    if not 0.0 <= sigma <= MAX_RANK_SPEED_SIGMA:
        raise ValueError(f"sigma {sigma!r}: expected a fraction in [0, {MAX_RANK_SPEED_SIGMA}]")
    top = max(multipliers)
    if sigma == 0.0:
        return float(top)
    counts = Counter(float(m) for m in multipliers)
    if len(counts) == 1:
        return top * (1.0 + sigma * expected_max_standard_normal(len(multipliers)))
    return _expected_slowest(tuple(sorted(counts.items())), sigma)


def draw_rank_paces(multipliers: Sequence[float], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Each rank's compute-time multiplier, ``m_r · max(0.01, 1 + σ·z_r)``, one standard normal drawn per rank from
    ``rng`` (the multipliers themselves and no draw at σ 0, so the generator's stream is untouched)."""
    base = np.asarray(multipliers, dtype=np.float64)
    if sigma == 0.0:
        return base
    return base * np.maximum(_FLOOR, 1.0 + sigma * rng.standard_normal(base.shape))
