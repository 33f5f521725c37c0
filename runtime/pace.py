"""The host's pace: a short fixed reference kernel, timed around each calibration part and each validation run.

A profile timed while the host ran slower than it runs the cases it predicts over-prices every one of them, and
nothing inside the guest need show why: at stop 53 an optimizer probe took 11.50 ns a parameter when the block began
and 5.37 at its end (steal 0, other load 0), the first calibration's compute curve came out 1.22-1.53 times the
second's and priced the held-out cases 14.80 % high (all of them over), the second 4.99 %. A calibration part is
therefore bracketed by :func:`reference_kernel_s` (:class:`PaceWatch`): a part whose pace moved more than the limit
is timed again, and one that still moved is refused by the gate (:func:`dpsim.calibration.pace_problem`); the series
is the profile's ``meta.reference_pace`` (:data:`dpsim.calibration.REFERENCE_PACE`). ``dpsim validate`` times the same
kernel before and after each run and reports the host's pace during the cases against the calibration's
(:func:`run_pace_ratio`): a diagnostic, never a change to a prediction.
"""

from __future__ import annotations

import calendar
import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from dpsim.calibration import PACE_PROBE_KEYS, REFERENCE_PACE, calibration_pace_s, pace_drift
from dpsim.records import StepResult

__all__ = [
    "DRIFT_ATTEMPTS",
    "REFERENCE_KERNEL",
    "PaceWatch",
    "reference_kernel_s",
    "run_pace_ratio",
    "with_pace",
]

T = TypeVar("T")

KERNEL_SIDE = 256
"""The reference kernel's square fp32 matrix product: 256 x 256 by 256 x 256 (34 MFLOP)."""
KERNEL_ADD = 1 << 21
"""The reference kernel's in-place fp32 add: 2 Mi elements (two 8 MiB arrays read, one written back: past a core's
2 MiB L2)."""
REFERENCE_REPS = 101
"""Timed repetitions of the kernel a probe takes (after :data:`REFERENCE_WARMUP`): about 0.1 s in all."""
REFERENCE_WARMUP = 3
REFERENCE_KERNEL = (f"fp32 {KERNEL_SIDE}x{KERNEL_SIDE} matmul + in-place add of {KERNEL_ADD} fp32, one thread; "
                    f"lower quartile of {REFERENCE_REPS} timed after {REFERENCE_WARMUP}")  # fmt: skip
"""What :func:`reference_kernel_s` times, recorded with its series: runs compare their pace only with a profile's
that timed the same kernel.

Short on purpose (under a millisecond a repetition) and estimated by its lower quartile: preemption by other work only
adds to a repetition, so the quartile reads how fast the host runs the work, not how busy it is (that is
``runtime.hostload``'s). On the 2-core VM at load average 4.3 (other sessions' tests), 40 probes 0.5 s apart spread
0.98-1.03 x their median, and consecutive probes were 0.9 % apart (median), 3.0 % at most: inside the 5 % limit. With
41 repetitions the same check gave 1.5 % and 6.6 % (2 of 39 pairs above 5 %); the median of the repetitions instead of
the quartile, and a 384-wide product with 32 MiB adds, spread 0.97-1.14 x."""
DRIFT_ATTEMPTS = 2
"""Times :class:`PaceWatch` runs a part at most: a part during which the pace moved beyond the limit is timed once
more; the second attempt is kept whatever its pace did (the gate refuses it if it moved too)."""


def reference_kernel_s(reps: int = REFERENCE_REPS, warmup: int = REFERENCE_WARMUP) -> float:
    """Seconds the fixed reference kernel (:data:`REFERENCE_KERNEL`) takes on this host now, on one thread (the
    caller's torch thread count is restored)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(0)
        a = torch.rand(KERNEL_SIDE, KERNEL_SIDE, generator=gen)
        b = torch.rand(KERNEL_SIDE, KERNEL_SIDE, generator=gen)
        c = torch.empty(KERNEL_SIDE, KERNEL_SIDE)
        x, y = torch.full((KERNEL_ADD,), 1e-3), torch.zeros(KERNEL_ADD)
        times = []
        for i in range(warmup + reps):
            start = time.perf_counter()
            torch.mm(a, b, out=c)
            y.add_(x)
            if i >= warmup:
                times.append(time.perf_counter() - start)
        return statistics.quantiles(times, n=4)[0] if len(times) >= 2 else times[0]
    finally:
        torch.set_num_threads(threads)


@dataclass
class PaceWatch:
    """Brackets calibration parts with the reference kernel (:meth:`part`) and keeps the series.

    ``limit``: a part whose pace moved more than this (``max/min − 1`` of the kernel's times before and after it,
    :func:`dpsim.calibration.pace_drift`) is timed again, up to ``attempts`` times in all; None records only.
    ``kernel`` returns the reference kernel's time (seconds); ``clock`` the seconds the probes are stamped with.
    """

    limit: float | None
    log: Callable[[str], None]
    kernel: Callable[[], float] | None = None
    clock: Callable[[], float] = time.monotonic
    attempts: int = DRIFT_ATTEMPTS
    probes: list[dict[str, Any]] = field(default_factory=list)
    started_utc: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    def __post_init__(self) -> None:
        self._start = self.clock()

    def _probe(self, part: str, attempt: int, at: str) -> float:
        kernel = self.kernel or reference_kernel_s  # looked up when used: tests pin it on the module
        seconds = kernel()
        probe = dict(zip(PACE_PROBE_KEYS, (part, attempt, at, round(self.clock() - self._start, 3), seconds),
                         strict=True))  # fmt: skip
        self.probes.append(probe)
        return seconds

    def part(self, name: str, run: Callable[[], T]) -> T:
        """``run()``, bracketed by the reference kernel; run again while the pace moved beyond the limit."""
        result: T
        for attempt in range(1, self.attempts + 1):
            before = self._probe(name, attempt, "before")
            result = run()
            after = self._probe(name, attempt, "after")
            moved = max(before, after) / min(before, after) - 1.0
            said = (f"calibrate: host pace during the {name} part: reference kernel {before * 1e3:.3f} -> "
                    f"{after * 1e3:.3f} ms ({100 * moved:.1f} % apart)")  # fmt: skip
            if self.limit is None or moved <= self.limit or attempt == self.attempts:
                self.log(said)
                return result
            self.log(f"{said}, above {100 * self.limit:g} %: timing the part again (attempt {attempt + 1} of "
                     f"{self.attempts})")  # fmt: skip
        raise AssertionError("unreachable: the last attempt returns")

    def record(self) -> dict[str, Any]:
        """The profile's ``meta.reference_pace`` (:data:`dpsim.calibration.REFERENCE_PACE`)."""
        return {"kernel": REFERENCE_KERNEL, "started_utc": self.started_utc, "probes": [dict(p) for p in self.probes]}

    def merged(self, base: Mapping[str, Any]) -> dict[str, Any]:
        """``meta.reference_pace`` of a profile whose parts timed here replace those of ``base`` (a profile's meta: a
        refresh, ``runtime.calibrate.refresh``): the base's probes of the other parts, then these, stamped in seconds
        since the base's calibration started; this record alone where the base has none or timed another kernel."""
        old = base.get(REFERENCE_PACE) or {}
        if old.get("kernel") != REFERENCE_KERNEL or not old.get("started_utc"):
            return self.record()
        try:
            since = _epoch(self.started_utc) - _epoch(str(old["started_utc"]))
        except ValueError:
            return self.record()
        timed = {p["part"] for p in self.probes}
        kept = [dict(p) for p in old.get("probes") or [] if p["part"] not in timed]
        moved = [{**p, "t_s": round(p["t_s"] + max(0.0, since), 3)} for p in self.probes]
        return {**old, "probes": kept + moved}

    def drift(self) -> dict[str, float]:
        """Each part's drift so far (its last attempt), as the gate reads it."""
        return pace_drift({REFERENCE_PACE: self.record()})


def _epoch(utc: str) -> float:
    return float(calendar.timegm(time.strptime(utc, "%Y-%m-%dT%H:%M:%SZ")))


def with_pace(run: StepResult, before_s: float, after_s: float) -> StepResult:
    """``run`` with the reference kernel's times just before and after it in ``extra.reference_pace``."""
    pace = {"kernel": REFERENCE_KERNEL, "before_s": before_s, "after_s": after_s}
    return dataclasses.replace(run, extra={**run.extra, REFERENCE_PACE: pace})


def run_pace_ratio(run: StepResult, meta: Mapping[str, Any]) -> float:
    """The reference kernel's time around ``run`` (the mean of before and after) over its time while the profile of
    ``meta`` was calibrated (:func:`dpsim.calibration.calibration_pace_s`): above 1 the host ran slower than when
    calibrated. NaN where either is not recorded, or they timed different kernels."""
    pace = run.extra.get(REFERENCE_PACE)
    calibrated = calibration_pace_s(meta)
    if not isinstance(pace, dict) or calibrated is None:
        return math.nan
    if pace.get("kernel") != (meta.get(REFERENCE_PACE) or {}).get("kernel"):
        return math.nan
    values = [pace.get("before_s"), pace.get("after_s")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in values):
        return math.nan
    return statistics.mean(float(v) for v in values) / calibrated  # type: ignore[arg-type]
