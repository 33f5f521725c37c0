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
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal, get_args

import numpy as np

__all__ = [
    "JITTER_DISTRIBUTIONS",
    "JITTER_FLOOR",
    "MAX_NORMAL_JITTER_CV",
    "MAX_RANK_SPEED_SIGMA",
    "NEGLIGIBLE_JITTER_CV",
    "JitterDistribution",
    "Runs",
    "draw_rank_paces",
    "expected_max_standard_normal",
    "expected_slowest",
    "expected_slowest_sum",
    "gamma_tables",
    "lognormal_convolutions",
    "lognormal_jitter_parameters",
    "read_off_grid",
    "repeated_sum",
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


# ---------------------------------------------------------------------------------------------------------------------
# Compute jitter: the slowest of N coupled ranks' sums of k draws (variability.compute_jitter_cv)
# ---------------------------------------------------------------------------------------------------------------------

JitterDistribution = Literal["lognormal", "normal", "gamma"]
"""The compute jitter's distributions (``variability.jitter_distribution``, read by the scenario's field)."""
JITTER_DISTRIBUTIONS: tuple[JitterDistribution, ...] = get_args(JitterDistribution)
JITTER_FLOOR = 0.01
"""The least a normal jitter draw can be: the simulator draws max(0.01, 1 + cv·z) (:func:`dpsim.sim.variability.jitter`)
and :func:`expected_slowest_sum` prices that draw."""
MAX_NORMAL_JITTER_CV = 0.4
"""The largest ``compute_jitter_cv`` a ``normal`` jitter takes (round 29). The draw max(0.01, 1 + cv·z) is the
normal of mean 1 and CV cv the field names only while the floor holds no mass: at 0.4 the floor holds Φ(−0.99/0.4)
= 0.67 % of the draws, the drawn mean is 1.0009 and the drawn CV 0.397 (−0.7 %); past it the draw is another
distribution (cv 0.5: CV 0.487, −2.5 %; cv 1: mean 1.085, CV 0.80; cv 10: mean 4.51, CV 1.37, half the draws at
the floor), from :func:`_floored_normal_moments`. ``lognormal`` and ``gamma`` have mean 1 and CV cv at any cv."""
_Z_TAIL = 9.0  # Φ(−9) = 1.1e-19: a sum's range is taken from its quantiles at z = ±9
_T_POINTS = 8_001  # log-spaced points of the maximum's range
_SERIES_ITERATIONS = 4_000  # the incomplete gamma's series / continued fraction: enough for shape up to 1e5
NEGLIGIBLE_JITTER_CV = 1e-12
"""Below it a jitter is none, in both engines (round 29: the simulator drew a gamma of shape 1/cv², which
underflowed to a ZeroDivisionError at cv 1e-200): the slowest of a million draws is 5.3 sd above 1."""
_GAMMA_FINE_SPAN = 50.0  # log units of a gamma's table tabulated at _T_POINTS: e^−50 of its top (see _sum_cdf_table)
_WILSON_HILFERTY_SHAPE = 1e5  # above it the gamma's CDF by the Wilson–Hilferty cube root (error O(shape^-3/2))


def _phi(x: np.ndarray) -> np.ndarray:
    z_table, log_table = _log_cdf_table()
    return np.exp(np.interp(x, z_table, log_table, left=-800.0, right=0.0))


def _gamma_cdf(shape: float, x: np.ndarray) -> np.ndarray:
    """The regularised lower incomplete gamma P(shape, x) (Numerical Recipes §6.2: the series below shape + 1, the
    continued fraction by Lentz's method above), element-wise; the Wilson–Hilferty cube root above shape 1e5."""
    x = np.asarray(x, dtype=np.float64)
    if shape > _WILSON_HILFERTY_SHAPE:
        return _phi(((np.maximum(x, 0.0) / shape) ** (1 / 3) - 1 + 1 / (9 * shape)) * 3 * math.sqrt(shape))
    out = np.zeros_like(x)
    positive = x > 0
    xs = x[positive]
    log_front = -xs + shape * np.log(xs) - math.lgamma(shape)
    series = xs < shape + 1
    # the series: P = e^−x x^a / Γ(a+1) · Σ x^n / ((a+1)…(a+n))
    xa = xs[series]
    term = np.full(xa.shape, 1.0 / shape)
    total = term.copy()
    for n in range(1, _SERIES_ITERATIONS):
        term = term * xa / (shape + n)
        total += term
        if np.all(term < total * 1e-17):
            break
    p = np.empty(xs.shape)
    p[series] = np.exp(log_front[series]) * total
    # the continued fraction for Q = 1 − P
    xb = xs[~series]
    tiny = 1e-300
    b = xb + 1.0 - shape
    c = np.full(xb.shape, 1.0 / tiny)
    d = 1.0 / b
    h = d.copy()
    for i in range(1, _SERIES_ITERATIONS):
        an = -i * (i - shape)
        b = b + 2.0
        d = an * d + b
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = b + an / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        delta = d * c
        h = h * delta
        if np.all(np.abs(delta - 1.0) < 1e-16):
            break
    p[~series] = 1.0 - np.exp(log_front[~series]) * h
    out[positive] = np.clip(p, 0.0, 1.0)
    return out


def _floored_normal_moments(cv: float) -> tuple[float, float]:
    """Mean and variance of one draw max(0.01, 1 + cv·z) (1 and cv² while the floor holds no mass), from the
    moments of X − 1 (no cancellation at a small cv)."""
    a = (JITTER_FLOOR - 1.0) / cv
    cdf, pdf = float(_phi(np.array([a]))[0]), math.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
    shift = (JITTER_FLOOR - 1.0) * cdf + cv * pdf  # E[X − 1]
    square = (JITTER_FLOOR - 1.0) ** 2 * cdf + cv * cv * (1.0 - cdf + a * pdf)  # E[(X − 1)²]
    return 1.0 + shift, max(0.0, square - shift * shift)


class Runs(tuple[tuple[float, int], ...]):
    """A rank's draw weights in their order as runs (w, n), n draws of weight w in a row: what
    :func:`expected_slowest_sum` takes for a stretch of many micro-batches (a DDP step of k micro-batches is k − 1
    draws of one weight and one of another; round 32: a list of a million weights a rank, a thousand ranks of
    distinct stragglers, was 8 GB and minutes). Its sums are those of the draws added one by one in their order, as
    CPython 3.11's ``sum`` adds a list of floats (:meth:`total`, :meth:`squares`), so the two forms price the same to
    the bit; a run's n additions are replayed in O(log n) (:func:`repeated_sum`: 10⁸ micro-batches on 128 ranks
    were 2.6·10¹⁰ additions, minutes of CPU)."""

    def total(self) -> float:
        """Σ w over the draws in order (:func:`sum` over the list of weights, bit for bit)."""
        total = 0.0
        for w, n in self:
            total = repeated_sum(total, w, n)
        return total

    def squares(self) -> float:
        """Σ w² over the draws in order."""
        total = 0.0
        for w, n in self:
            total = repeated_sum(total, w * w, n)
        return total


_SIGNIFICAND = 1 << 53  # a double's significand: 53 bits


def _integer_parts(x: float) -> tuple[int, int]:
    """(m, e) with x = m·2^e exactly, m a whole number below 2^53 (x finite)."""
    fraction, exponent = math.frexp(x)
    return int(fraction * _SIGNIFICAND), exponent - 53


def repeated_sum(start: float, w: float, n: int) -> float:
    """``start`` + w + w + … (n additions of ``w``, each rounded to the nearest double, ties to even), exactly as
    ``sum(itertools.repeat(w, n), start)`` adds them one by one, in O(log n) additions.

    Between two powers of two a double is a whole number m of the binade's unit u (its ulp), so while the exact
    s + w stays below the binade's top 2^53·u, s + w rounds to (m + d)·u with d = w/u rounded: the same d at every
    addition, except that a tie (w/u ending in exactly one half) rounds m + ⌊w/u⌋ + ½ to the even neighbour, which
    depends on m's parity only until the first such addition has made m even (then d = ⌊w/u⌋ rounded up to even).
    So the additions inside a binade are one multiplication; the one that crosses into the next binade is taken as it
    is. A run from 0 crosses about log₂ n binades. Where s or w is negative or not finite, the additions are taken one
    by one (every caller's weights are > 0; :func:`_draws` refuses others)."""
    s = float(start)
    if n <= 0:
        return start
    if not (w > 0 and math.isfinite(w) and s >= 0):
        return sum(itertools.repeat(w, n), start)
    w_int, w_exp = _integer_parts(w)
    while n > 0:
        if not math.isfinite(s):  # inf + w = inf
            return s
        if s == 0.0:
            s, n = s + w, n - 1
            continue
        unit = math.ulp(s)
        u_exp = math.frexp(unit)[1] - 1  # unit = 2^u_exp
        m_int, m_exp = _integer_parts(s)
        m = m_int << (m_exp - u_exp) if m_exp >= u_exp else m_int >> (u_exp - m_exp)  # s = m·u (a subnormal's m_int
        # carries zeros below its unit)
        shift = w_exp - u_exp  # w/u = w_int·2^shift
        if shift >= 0:
            whole, tie, up = w_int << shift, False, False
        else:
            whole, rest, half = w_int >> -shift, w_int & ((1 << -shift) - 1), 1 << (-shift - 1)
            tie, up = rest == half, rest > half
        if whole >= _SIGNIFICAND - m or (tie and m % 2):
            # the exact sum reaches the binade's top (rounded at the next binade's unit), or a tie's first addition
            # from an odd m: one addition as it is
            s, n = s + w, n - 1
            continue
        step = whole + (whole % 2 if tie else up)
        if step == 0:  # w is under half a unit: s + w rounds back to s, every time
            return s
        # the additions that start below the top: m + i·step + whole ≤ 2^53 − 1 for i = 0 … count − 1
        count = min(n, (_SIGNIFICAND - 1 - whole - m) // step + 1)
        s, n = float(m + count * step) * unit, n - count
    return s


Weights = float | Sequence[float] | Runs
"""A rank's draws as :func:`expected_slowest_sum` takes them: a count k (k draws of one weight), the weights of its
draws, or their :class:`Runs`."""

Draws = float | tuple[tuple[float, int], ...]
"""A rank's draws over a stretch: ``k``, the effective count (Σw)²/Σw² (the gamma and the normal), or the distinct
weights w_j and how many draws carry each (the lognormal, priced exactly from them)."""


def _draws_table(
    distribution: str, cv: float, draws: Draws, gridded: tuple[Family, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """(log x, CDF) of J, the weighted mean of a rank's draws over a stretch (:data:`Draws`); off the grid
    (:func:`_grid_table`) where they are of a family in ``gridded``."""
    family = _family(distribution, draws)
    if family is not None and family[0] in gridded:
        return _grid_table(distribution, cv, *family)
    if isinstance(draws, tuple):
        return _lognormal_sum_table(cv, draws)
    return _sum_cdf_table(distribution, cv, draws)


@functools.cache
def _sum_cdf_table(distribution: str, cv: float, k: float) -> tuple[np.ndarray, np.ndarray]:
    """(log x, CDF) of J, the mean of ``k`` independent jitter draws (``k`` the effective count of a weighted sum,
    (Σw)²/Σw²), tabulated between its quantiles at z = ±9:

    * ``gamma``: J ~ Gamma(k/cv², cv²/k), exact (a sum of gammas of one scale is a gamma);
    * ``normal``: for one draw the floored normal itself, max(0.01, 1 + cv·z), exact; for more, a normal of the floored
      draw's mean and variance / k, exact while the floor holds no mass (Φ(−0.99/cv): 3e-5 at cv 0.25);
    (the lognormal: :func:`_lognormal_sum_table`, from the draws' weights)."""
    if distribution == "gamma":
        shape = k / (cv * cv)
        # the range from the Wilson–Hilferty quantiles, widened until the tails beyond hold under 1e-19
        wilson_hilferty = 1 - 1 / (9 * shape) - _Z_TAIL / (3 * math.sqrt(shape))
        lo = wilson_hilferty**3 if wilson_hilferty > 0 else 1e-3  # (its cube root negative: halved from 1e-3 below)
        hi = (1 - 1 / (9 * shape) + _Z_TAIL / (3 * math.sqrt(shape))) ** 3
        while shape <= _WILSON_HILFERTY_SHAPE and lo > 1e-300 and _gamma_cdf(shape, np.array([lo * shape]))[0] > 1e-19:
            lo *= 0.5
        # (1 − P in doubles resolves 1e-16 at best; the widening is for a small shape's long right tail)
        while shape <= _WILSON_HILFERTY_SHAPE and 1.0 - _gamma_cdf(shape, np.array([hi * shape]))[0] > 1e-15:
            hi *= 1.5
        log_x = np.linspace(math.log(lo), math.log(hi), _T_POINTS)
        if log_x[-1] - log_x[0] > _GAMMA_FINE_SPAN:
            # a small shape's CDF ~ x^shape reaches 1e-19 hundreds of log units down (1e-300 at cv 10, 4 draws: 0.09
            # log steps put the slowest of 512 0.18 % high): the table's points on the top 50 log units, where the
            # slowest lies, and a coarse grid below, where the power law is linear in log x
            fine = log_x[-1] - _GAMMA_FINE_SPAN
            log_x = np.concatenate(
                [np.linspace(log_x[0], fine, _T_POINTS // 8)[:-1], np.linspace(fine, log_x[-1], _T_POINTS)]
            )
        x = np.exp(log_x)
        return np.log(x), _gamma_cdf(shape, x * shape)
    if distribution != "normal":
        raise ValueError(f"distribution {distribution!r}: expected gamma or normal (a lognormal reads its weights)")
    if k == 1:
        mean, sd = 1.0, cv
    else:
        mean, variance = _floored_normal_moments(cv)
        sd = math.sqrt(variance / k)
    lo, hi = max(JITTER_FLOOR, mean - _Z_TAIL * sd), mean + _Z_TAIL * sd
    x = np.exp(np.linspace(math.log(lo), math.log(hi), _T_POINTS))
    return np.log(x), _phi((x - mean) / sd)  # below the floor: 0 (interpolation's left)


def lognormal_jitter_parameters(cv: float) -> tuple[float, float]:
    """(μ, σ) of the lognormal jitter draw of mean 1 and CV ``cv``: σ² = ln(1 + cv²), μ = −σ²/2. The simulator
    draws with them (:func:`dpsim.sim.variability.jitter`), the analytic price tabulates them
    (:func:`_lognormal_mean_table`)."""
    sigma2 = math.log1p(cv * cv)
    return -sigma2 / 2, math.sqrt(sigma2)


_LN2 = math.log(2.0)
_CONVOLUTION_POINTS = 1_501
"""Log-spaced points of each table a lognormal sum is convolved on: the slowest of N sums moves by under 1e-4 of
itself between 1,501 and 3,001 points (the rule is second order: cv 10, k 4, N 64 gives 17.5937 at 1,001, 17.5854
at 2,001)."""


def _half_sum_cdf(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], log_z: np.ndarray) -> np.ndarray:
    """∫_{x ≤ z/2} F_B(z − x) dF_A(x) at each z of ``log_z``, A and B positive and independent, each a (log x, CDF)
    table: A's mass in the cells between its points (cut at z/2, its CDF linear in log x inside a cell), F_B at the
    cell's two ends averaged (trapezoid). z − x ≥ z/2 keeps F_B's argument away from 0, where z − x loses its digits."""
    log_a, cdf_a = a
    e0, e1, f0, f1 = log_a[None, :-1], log_a[None, 1:], cdf_a[None, :-1], cdf_a[None, 1:]
    cut = (log_z - _LN2)[:, None]
    top = np.minimum(e1, cut)
    live = top > e0
    mass = np.where(live, (f1 - f0) * (top - e0) / (e1 - e0), 0.0)

    def f_b(log_x: np.ndarray) -> np.ndarray:  # F_B(z − x), log(z − x) = log z + log(1 − x/z), x ≤ z/2
        return _jitter_cdf(b, log_z[:, None] + np.log1p(-np.exp(np.minimum(log_x - log_z[:, None], -_LN2))))

    return np.sum(mass * 0.5 * (f_b(e0) + f_b(np.where(live, top, e0))), axis=1)


def _add(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The (log x, CDF) table of A + B, A and B positive and independent, by numerical convolution:
    P(A + B ≤ z) = ∫_{x ≤ z/2} F_B(z − x) dF_A + ∫_{y ≤ z/2} F_A(z − y) dF_B − F_A(z/2)·F_B(z/2) (the two halves of
    the region below the line x + y = z, their common square counted once), on the range where it moves."""

    def on(log_z: np.ndarray) -> np.ndarray:
        half_a = _jitter_cdf(a, log_z - _LN2)
        if a is b:
            return np.clip(2 * _half_sum_cdf(a, a, log_z) - half_a * half_a, 0.0, 1.0)
        twice = _half_sum_cdf(a, b, log_z) + _half_sum_cdf(b, a, log_z)
        return np.clip(twice - half_a * _jitter_cdf(b, log_z - _LN2), 0.0, 1.0)

    log_z = np.linspace(np.logaddexp(a[0][0], b[0][0]), np.logaddexp(a[0][-1], b[0][-1]), _CONVOLUTION_POINTS)
    cdf = on(log_z)
    # again on the range between the sum's own quantiles 1e-19 and 1 − 1e-16 (a sum is narrower than its parts)
    first = max(0, int(np.searchsorted(cdf, 1e-19)) - 1)
    last = min(len(cdf) - 1, int(np.searchsorted(cdf, 1.0 - 1e-16)) + 1)
    log_z = np.linspace(log_z[first], log_z[last], _CONVOLUTION_POINTS)
    return log_z, on(log_z)


@functools.cache
def _lognormal_mean_table(cv: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(log x, CDF) of the mean of ``count`` (a power of two) independent lognormal draws of mean 1 and CV ``cv``:
    one draw exactly, between its quantiles at z = ±9; 2m draws as the sum of two means of m, halved."""
    if count == 1:
        mu, sigma = lognormal_jitter_parameters(cv)
        log_x = np.linspace(mu - _Z_TAIL * sigma, mu + _Z_TAIL * sigma, _CONVOLUTION_POINTS)
        return log_x, _phi((log_x - mu) / sigma)
    half = _lognormal_mean_table(cv, count // 2)
    log_x, cdf = _add(half, half)
    return log_x - _LN2, cdf


@functools.cache
def _lognormal_sum_table(cv: float, weights: tuple[tuple[float, int], ...]) -> tuple[np.ndarray, np.ndarray]:
    """(log x, CDF) of J = Σ_j w_j·x_j / Σ_j w_j, the x_j independent lognormal draws of mean 1 and CV ``cv``,
    ``weights`` the distinct w_j and their counts: exact up to the convolution's grid. The n draws of one weight are
    their mean (:func:`_lognormal_count_table`, shared by every rank of that count), scaled by its share of Σw; the
    distinct weights' parts are summed (:func:`_add`: one convolution a rank whose last micro-batch weighs apart)."""
    total = sum(w * n for w, n in weights)
    return _scaled_sum([(_lognormal_count_table(cv, n), w * n / total) for w, n in weights])


@functools.cache
def _lognormal_count_table(cv: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(log x, CDF) of the mean of ``count`` independent lognormal draws: the means of the powers of two of its binary
    digits (:func:`_lognormal_mean_table`), each weighted by its share of ``count``, summed."""
    bits = [1 << bit for bit in range(count.bit_length()) if count >> bit & 1]
    return _scaled_sum([(_lognormal_mean_table(cv, bit), bit / count) for bit in bits])


def _scaled_sum(parts: Sequence[tuple[tuple[np.ndarray, np.ndarray], float]]) -> tuple[np.ndarray, np.ndarray]:
    """(log x, CDF) of Σ share·X over ``parts`` ((log x, CDF) table of X, share), the X independent: each table
    scaled by its share, then added in order (:func:`_add`: one convolution a part past the first)."""
    (log_x, cdf), share = parts[0]
    table = (log_x + math.log(share), cdf)
    for (log_x, cdf), share in parts[1:]:
        table = _add(table, (log_x + math.log(share), cdf))
    return table


_GRID_STEP = 0.1
"""The grid's step in the log of a family's parameter (:func:`_family`; nodes e^(0.1·i), 10.5 % apart). For the
lognormal's ρ, the cubic through the 4 nearest nodes errs at a
midpoint by (3/128)·h⁴·|∂⁴F/∂(log ρ)⁴| ≈ (3/128)·|Δ⁴F| (the nodes' fourth difference): at 0.1, 1e-6 of the CDF at
cv 0.05-10 (measured 7e-7 to 1.1e-6), below the tables' own linear interpolation in log x (~4e-6 of the CDF at
1,501 points); the slowest of 1,000 such sums moved by 3e-7 to 3e-6 of itself (0.2: 4e-5; 0.4: 6e-4), where the
convolution's grid moves it by up to 1e-4 (:data:`_CONVOLUTION_POINTS`)."""


Family = tuple[int, ...]
"""A one-parameter family of jitter tables off the grid (:func:`_family`): a lognormal's two-weight shapes of counts
(n_a, n_b), or ``()``, a gamma's effective counts."""


def _family(distribution: str, draws: Draws) -> tuple[Family, float] | None:
    """A rank's draws as a one-parameter family and its place on the grid (log of the parameter); None where they
    are no such family (a lognormal shape of one or of three or more weights, a normal: its table is closed form):

    * a lognormal shape of two distinct weights (share s_a of n_a draws, s_b of n_b):
      J = n_a·s_a·Ā + n_b·s_b·B̄ = (Ā + ρ·B̄)/(1 + ρ), Ā and B̄ the means of n_a and n_b draws, so two shapes of the
      same counts differ only in ρ = n_b·s_b/(n_a·s_a): ((n_a, n_b), log ρ);
    * a gamma's effective count k (J ~ Gamma(k/cv², cv²/k), one table a k: its series runs ~9·√shape terms on
      8,001 points, 0.1-1 s): ((), log k).

    None past |log| 600 too (a share of 1e-300 beside 1: the nodes' e^(i·h) would overflow), priced exactly."""
    family: Family
    if isinstance(draws, tuple):
        if len(draws) != 2:
            return None
        (share_a, count_a), (share_b, count_b) = draws
        family, log_p = (count_a, count_b), math.log(share_b * count_b) - math.log(share_a * count_a)
    elif distribution == "gamma":
        family, log_p = (), math.log(draws)
    else:
        return None
    return (family, log_p) if abs(log_p) <= 600 else None


def _grid_nodes(log_p: float) -> range:
    """The 4 nodes of the grid nearest to ``log_p`` (two either side), as indices i of log p_i = i·h."""
    below = math.floor(log_p / _GRID_STEP)
    return range(below - 1, below + 3)


def _gridded_families(distribution: str, draws: Iterable[Draws]) -> tuple[Family, ...]:
    """The families (:func:`_family`) priced off the grid: those whose distinct members outnumber the grid's nodes
    they need (4 around each), so the tables are bounded by the parameter's range, not by the ranks; a family of
    fewer members is priced exactly (one table a member, as before the grid)."""
    members: dict[Family, int] = Counter()
    nodes: dict[Family, set[int]] = {}
    for each in set(draws):
        family = _family(distribution, each)
        if family is not None:
            members[family[0]] += 1
            nodes.setdefault(family[0], set()).update(_grid_nodes(family[1]))
    return tuple(sorted(f for f, count in members.items() if len(nodes[f]) < count))


@functools.cache
def _node_table(distribution: str, cv: float, family: Family, node: int) -> tuple[np.ndarray, np.ndarray]:
    """(log x, CDF) of a family's member at the grid's node ``node`` (p_i = e^(i·h)), exactly as a member is
    tabulated: a lognormal's (Ā + ρ_i·B̄)/(1 + ρ_i) as :func:`_lognormal_sum_table` (one convolution), a gamma's mean
    of k_i draws as :func:`_sum_cdf_table`."""
    p = math.exp(node * _GRID_STEP)
    if not family:
        return _sum_cdf_table(distribution, cv, p)
    a, b = _lognormal_count_table(cv, family[0]), _lognormal_count_table(cv, family[1])
    return _scaled_sum([(a, 1.0 / (1.0 + p)), (b, p / (1.0 + p))])


def _grid_table(distribution: str, cv: float, family: Family, log_p: float) -> tuple[np.ndarray, np.ndarray]:
    """(log x, CDF) of a family's member off the grid (leads48/49): the cubic in log p through the 4 nearest nodes'
    CDFs (Lagrange weights at u = log p/h − ⌊log p/h⌋), on the union of their points (each node's CDF is linear in
    log x between its points, so the sum is represented there exactly), clipped to [0, 1] and made non-decreasing
    (the outer weights are negative; what that moves is within the cubic's error, :data:`_GRID_STEP`)."""
    nodes = _grid_nodes(log_p)
    u = log_p / _GRID_STEP - nodes[1]
    weights = (-u * (u - 1) * (u - 2) / 6, (u + 1) * (u - 1) * (u - 2) / 2, -(u + 1) * u * (u - 2) / 2,
               (u + 1) * u * (u - 1) / 6)  # fmt: skip
    tables = [_node_table(distribution, cv, family, node) for node in nodes]
    log_x = np.unique(np.concatenate([log_grid for log_grid, _ in tables]))
    cdf = sum(weight * _jitter_cdf(table, log_x) for weight, table in zip(weights, tables, strict=True))
    return log_x, np.maximum.accumulate(np.clip(cdf, 0.0, 1.0))


def lognormal_convolutions(stretches: Iterable[Iterable[Weights]]) -> tuple[int, int]:
    """How many numerical convolutions (:func:`_add`, 1,501² cells each) pricing ranks of these draws (one iterable
    a stretch, one :func:`expected_slowest_sum` call: each entry a count k or its weights, as it takes them) under a
    lognormal jitter builds from empty caches, as (sums of two tables, doublings): one sum a distinct weight past the
    first of each distinct shape priced exactly (:func:`_lognormal_sum_table`) and a node of the ρ grid a gridded
    family's shapes need (:func:`_node_table`), one a binary digit past the first of each distinct count
    (:func:`_lognormal_count_table`), one doubling a power of two up to the largest count
    (:func:`_lognormal_mean_table`: a table added to itself, half the cells). What the cost guard charges
    (:func:`dpsim.sim.budget.check_jitter`): 1,000 distinct stragglers under ``training.partition: weighted`` with a
    profile's reducer pass are 1,000 shapes of one family, which the grid prices from a few nodes."""
    drawn, nodes = _tables("lognormal", stretches)
    exact = [shape for shape in drawn if isinstance(shape, tuple)]  # (a lognormal's draws are all shapes)
    counts = {n for shape in exact for _, n in shape} | {n for family, _ in nodes for n in family}
    sums = sum(len(shape) - 1 for shape in exact) + len(nodes) + sum(n.bit_count() - 1 for n in counts)
    return sums, max((n.bit_length() - 1 for n in counts), default=0)


def gamma_tables(stretches: Iterable[Iterable[Weights]], cv: float) -> int:
    """How many gamma tables by the incomplete gamma's series (:func:`_sum_cdf_table` at a shape k/cv² up to
    :data:`_WILSON_HILFERTY_SHAPE`; past it a cube root, milliseconds) pricing ranks of these draws (as
    :func:`lognormal_convolutions` takes them) under a gamma jitter of CV ``cv`` builds from empty caches: one a
    distinct effective count priced exactly, one a node of the log-k grid where a stretch's counts are read off it
    (:func:`_gridded_families`). What the cost guard charges (:func:`dpsim.sim.budget.check_jitter`): each is 0.05-0.2 s
    of CPU, and a stretch's counts spread over the grid's whole range (ranks whose reducer pass leaves their earlier
    micro-batches a sliver of the last) need a node every 0.1 of log k."""
    exact, nodes = _tables("gamma", stretches)
    ks = {k for k in exact if isinstance(k, float)} | {math.exp(node * _GRID_STEP) for _, node in nodes}
    return sum(1 for k in ks if k / (cv * cv) <= _WILSON_HILFERTY_SHAPE)


def read_off_grid(distribution: str, stretch: Sequence[Weights]) -> list[bool]:
    """Whether each rank's table, in a stretch of these draws (as :func:`expected_slowest_sum` takes them), is read off
    the grid (:func:`_grid_table`: the cubic through 4 nodes' tables on their points' union, made again at each read)
    rather than cached whole."""
    draws = [_draws(k, distribution) for k in stretch]
    gridded = _gridded_families(distribution, (d for d in draws if d is not None))
    return [d is not None and (f := _family(distribution, d)) is not None and f[0] in gridded for d in draws]


def _tables(distribution: str, stretches: Iterable[Iterable[Weights]]) -> tuple[set[Draws], set[tuple[Family, int]]]:
    """The tables pricing ranks of these draws builds (as :func:`expected_slowest_sum` takes them, one iterable a
    stretch): the draws priced exactly (a lognormal's shapes, a gamma's counts) and the grid's nodes a gridded family
    needs (:func:`_gridded_families`), each once."""
    exact: set[Draws] = set()
    nodes: set[tuple[Family, int]] = set()
    for stretch in stretches:
        members = {d for d in (_draws(k, distribution) for k in stretch) if d is not None}
        gridded = _gridded_families(distribution, members)
        for each in members:
            family = _family(distribution, each)
            if family is not None and family[0] in gridded:
                nodes.update((family[0], node) for node in _grid_nodes(family[1]))
            else:
                exact.add(each)
    return exact, nodes


def _jitter_cdf(table: tuple[np.ndarray, np.ndarray], log_x: np.ndarray) -> np.ndarray:
    log_grid, cdf = table
    return np.interp(log_x, log_grid, cdf, left=0.0, right=1.0)


def _pace_log_cdf(paces: tuple[tuple[float, int], ...], sigma: float, log_p: np.ndarray) -> np.ndarray:
    """log P(P ≤ p) = Σ n·log Φ((p/m − 1)/σ) for the slowest of model-parallel ranks of paces ``paces``."""
    z_table, log_table = _log_cdf_table()
    p = np.exp(log_p)
    out = np.zeros_like(p)
    for m, n in paces:
        out += n * np.interp((p / m - 1.0) / sigma, z_table, log_table, left=-800.0, right=0.0)
    return out


def _pace_range(paces: tuple[tuple[float, int], ...], sigma: float) -> tuple[float, float]:
    """The slowest model-parallel pace's range between its quantiles at z = ±9 (the top multiplier at σ 0), floored as
    :func:`draw_rank_paces` floors a pace."""
    top = max(m for m, _ in paces)
    if sigma == 0.0:
        return top, top
    return top * max(_FLOOR, 1.0 - _Z_TAIL * sigma), top * (1.0 + _Z_TAIL * sigma)


def _convolve(signal: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The full linear convolution, by FFT (the pace's cells can number thousands)."""
    size = len(signal) + len(kernel) - 1
    n = 1 << (size - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(signal, n) * np.fft.rfft(kernel, n), n)[:size]


@functools.cache
def _expected_slowest_sum(
    classes: tuple[tuple[tuple[float, Draws, tuple[tuple[float, int], ...]], int], ...],
    sigma: float,
    distribution: str,
    cv: float,
    gridded: tuple[Family, ...] = (),
) -> float:
    lo = hi = 0.0
    for (scale, k, paces), _ in classes:
        log_j = _draws_table(distribution, cv, k, gridded)[0]
        p_lo, p_hi = _pace_range(paces, sigma)
        lo = max(lo, scale * p_lo * math.exp(log_j[0]))  # the maximum is above every rank's low quantile
        hi = max(hi, scale * p_hi * math.exp(log_j[-1]))
    log_t = np.linspace(math.log(lo), math.log(hi), _T_POINTS)
    log_max_cdf = _log_max_cdf(classes, sigma, distribution, cv, log_t, gridded)
    # the maximum lies far above each rank's own low quantile: start the range where P(max ≤ t) passes 1e-19, so
    # that the points go where it moves (a gamma of small shape put 690 of 720 log units below it: 9 % steps)
    start = max(0, int(np.searchsorted(log_max_cdf, math.log(1e-19))) - 1)
    if start > 0:
        log_t = np.linspace(log_t[start], log_t[-1], _T_POINTS)
        log_max_cdf = _log_max_cdf(classes, sigma, distribution, cv, log_t, gridded)
    # E[M] = lo + ∫_lo^hi (1 − F_M(t)) dt, over log t (dt = t·d log t): a heavy tail spans decades
    return float(math.exp(log_t[0]) + np.trapezoid((1.0 - np.exp(log_max_cdf)) * np.exp(log_t), log_t))


def _log_max_cdf(
    classes: tuple[tuple[tuple[float, Draws, tuple[tuple[float, int], ...]], int], ...],
    sigma: float,
    distribution: str,
    cv: float,
    log_t: np.ndarray,
    gridded: tuple[Family, ...] = (),
) -> np.ndarray:
    """log P(max_r c_r·P_r·J_r ≤ t) on the log-spaced points ``log_t``."""
    step = log_t[1] - log_t[0]
    log_max_cdf = np.zeros_like(log_t)
    for (scale, k, paces), count in classes:
        table = _draws_table(distribution, cv, k, gridded)
        top = max(m for m, _ in paces)
        if sigma == 0.0:
            cdf = _jitter_cdf(table, log_t - math.log(scale * top))
        else:
            # P(c·P·J ≤ t) = Σ_i P(X in cell i)·F_Y(log t − log c − i·step), X the narrower (in log) of the pace and
            # the jitter's mean, Y the other: X in log cells of the grid's own step, so the sum over cells is one
            # convolution along the grid; F_Y averaged over each cell (the mean of its two edges: X uniform inside a
            # cell), exact to second order in the step however narrow X is
            def pace(log_x: np.ndarray, paces: tuple[tuple[float, int], ...] = paces) -> np.ndarray:
                return np.exp(_pace_log_cdf(paces, sigma, log_x))

            def jitter(log_x: np.ndarray, table: tuple[np.ndarray, np.ndarray] = table) -> np.ndarray:
                return _jitter_cdf(table, log_x)

            p_low, p_high = _pace_range(paces, sigma)
            p_span = (math.log(p_low), math.log(p_high))
            j_span = (float(table[0][0]), float(table[0][-1]))
            narrow, wide, span = (
                (jitter, pace, j_span) if j_span[1] - j_span[0] < p_span[1] - p_span[0] else (pace, jitter, p_span)
            )
            first, last = math.floor(span[0] / step), math.ceil(span[1] / step)
            edges = narrow((np.arange(first, last + 2) - 0.5) * step)
            # whatever lies beyond the span goes to its end cells: below, the pace's 0.01 floor (the simulator's
            # draw_rank_paces; at σ 0.2 Φ(−4.95) = 3.7e-7 of the paces, which left out kept every rank's CDF under 1
            # and the maximum's tail unbounded: cv 10 priced 548 for 24)
            edges[0], edges[-1] = 0.0, 1.0
            shifts = np.arange(-last, _T_POINTS - first)  # F_Y at log t_0 − log c + q·step, q = m − i
            at = log_t[0] - math.log(scale) + shifts * step
            cdf = _convolve(0.5 * (wide(at - step / 2) + wide(at + step / 2)), np.diff(edges))
            cdf = cdf[last - first : last - first + _T_POINTS]
        with np.errstate(divide="ignore"):
            log_max_cdf += count * np.log(np.clip(cdf, 0.0, 1.0))
    return log_max_cdf


def expected_slowest_sum(
    ranks: Sequence[tuple[float, Weights, Sequence[float]]], sigma: float, distribution: str, cv: float
) -> float:
    """E[max_r c_r·P_r·J_r]: the expected compute of the slowest of the coupled ranks between two synchronising
    collectives under compute jitter (``variability.compute_jitter_cv`` = ``cv``, ``jitter_distribution`` =
    ``distribution``) and a persistent speed spread σ.

    Each entry of ``ranks`` is one coupled rank (a data-parallel rank: the simulator draws one jitter a data-parallel
    rank and micro-batch): ``(c, draws, multipliers)``, ``c`` its nominal compute over the stretch (Σ_j w_j, the
    micro-batches' nominal times), ``draws`` the weights w_j of its independent draws (or ``k``: k draws of one
    weight; or the weights' :class:`Runs`), and the named slowdowns of the model-parallel ranks it waits for.
    J_r = Σ_j w_j·x_j / Σ_j w_j, the x_j independent draws of mean 1 and CV ``cv``: a gamma's and a normal's from the
    effective count (Σ_j w_j)²/Σ_j w_j² (:func:`_sum_cdf_table`: exact for one weight, a gamma or an unfloored
    normal), a lognormal's from the weights themselves by numerical convolution (:func:`_lognormal_sum_table`: exact
    up to its grid; Fenton–Wilkinson's lognormal of the sum's two moments, used to stop 47, was +6 % at cv 3 and
    +11-13 % at cv 10 against draws), the shapes of two weights (and a gamma's effective counts) off a grid of their
    one parameter where they outnumber its nodes (:func:`_gridded_families`, :func:`_grid_table`: within 1e-6 of the
    CDF); P_r the slowest of its model-parallel ranks' paces, max m·(1 + σ·z) (exactly ``max(multipliers)`` at σ 0). The
    maximum's distribution, Π_r P(c_r·P_r·J_r ≤ t) with P_r integrated out in log cells of the grid's step (one FFT
    convolution a class of ranks), is integrated over a log-spaced range (8,001 points) between the ranks' quantiles
    at z = ±9. ``c·expected_slowest`` at ``cv`` 0 (no draw: exact) and below 1e-12 (where it moves the slowest of a
    million ranks by under 6e-12 of its compute; a subnormal CV's tables would divide by zero)."""
    if not ranks:
        raise ValueError("expected at least one rank")
    if not 0.0 <= sigma <= MAX_RANK_SPEED_SIGMA:
        raise ValueError(f"sigma {sigma!r}: expected a fraction in [0, {MAX_RANK_SPEED_SIGMA}]")
    if distribution not in JITTER_DISTRIBUTIONS:
        raise ValueError(f"distribution {distribution!r}: expected one of {', '.join(JITTER_DISTRIBUTIONS)}")
    draws = [_draws(k, distribution) for _, k, _ in ranks]
    if not cv >= 0.0 or any(not (c > 0 and k is not None) for (c, _, _), k in zip(ranks, draws, strict=True)):
        raise ValueError(
            "expected cv >= 0, and each rank's compute > 0 and draws >= 1 (a lognormal's: whole, or weights > 0)"
        )
    if cv < NEGLIGIBLE_JITTER_CV:  # none (0), or one that moves the slowest by under 1e-11 of its compute
        return max(c * expected_slowest(m, sigma) for c, _, m in ranks) if sigma == 0.0 else _no_jitter(ranks, sigma)
    classes = Counter(
        (float(c), k, tuple(sorted(Counter(float(m) for m in multipliers).items())))
        for (c, _, multipliers), k in zip(ranks, draws, strict=True)
    )
    gridded = _gridded_families(distribution, (k for k in draws if k is not None))
    return _expected_slowest_sum(tuple(sorted(classes.items())), sigma, distribution, float(cv), gridded)


def _draws(k: Weights, distribution: str) -> Draws | None:
    """A rank's draws as :data:`Draws` (None where they are not draws: fewer than one, a weight not > 0, a lognormal's
    count not whole). Weights (or their :class:`Runs`), for the gamma and the normal: the effective count (Σw)²/Σw²;
    for the lognormal: each distinct weight (as a share of Σw) and its count. A count k, for the lognormal: k weights
    of 1."""
    if isinstance(k, (int, float)):
        if not k >= 1:
            return None
        if distribution != "lognormal":
            return float(k)
        return ((1.0, int(k)),) if float(k).is_integer() and k <= 1 << 40 else None
    runs = Runs((float(w), int(n)) for w, n in k) if isinstance(k, Runs) else Runs((float(w), 1) for w in k)
    if not runs or not all(w > 0 and math.isfinite(w) and n >= 1 for w, n in runs):
        return None
    total = runs.total()
    if distribution != "lognormal":
        return total * total / runs.squares()
    shares: Counter[float] = Counter()
    for w, n in runs:
        shares[w / total] += n
    return tuple(sorted(shares.items()))


def _no_jitter(ranks: Sequence[tuple[float, Weights, Sequence[float]]], sigma: float) -> float:
    """E[max_r c_r·P_r] without jitter: the slowest of every rank's own pace scaled by its compute."""
    scales = {float(c) for c, _, _ in ranks}
    if len(scales) == 1:  # one compute: the slowest pace of all the ranks together
        return scales.pop() * expected_slowest([m for _, _, multipliers in ranks for m in multipliers], sigma)
    paces = Counter(float(c) * float(m) for c, _, multipliers in ranks for m in multipliers)
    # c·m·(1 + σz) = (c·m)·(1 + σz): a rank of compute c and slowdown m is one of slowdown c·m
    return _expected_slowest(tuple(sorted(paces.items())), sigma)
