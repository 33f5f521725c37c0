"""Quantities with units written in text: ``"200 Gbit/s"``, ``"25 GB/s"``, ``"5 us"``, ``"25 MiB"``.

Everything is converted to SI base units inside dpsim: seconds, bytes, bytes/s, FLOP/s.
Bits and bytes are never confused: ``b``/``bit`` is a bit, ``B`` is a byte, so
``"100 Gbit/s"`` and ``"100 Gb/s"`` are 12.5e9 bytes/s while ``"100 GB/s"`` is 1e11 bytes/s.
A bare number where a unit is needed is an error (:class:`UnitError`).

Every parsed quantity is finite and, unless zero, inside a documented physical range
(:data:`RANGES`): ``"1e308 TB/s"`` (infinite once scaled), ``"1e-300 B"`` (a bucket smaller
than a byte) or ``"1e-320 B/s"`` (a denormal) are errors, not silent infinities downstream.
"""

from __future__ import annotations

import fractions
import math
import re
from typing import Final

__all__ = [
    "DTYPE_BYTES",
    "RANGES",
    "UnitError",
    "dtype_bytes",
    "format_bandwidth",
    "format_binary_size",
    "format_size",
    "format_time",
    "parse_bandwidth",
    "parse_count",
    "parse_flops",
    "parse_size",
    "parse_time",
    "underflows",
    "unsigned_zero",
    "working_bytes",
    "working_dtype",
]


class UnitError(ValueError):
    """A quantity could not be parsed; the message says what was expected."""


RANGES: Final = {
    "a size": (1.0, 1e21, "1 B", "1 ZB"),
    "a bandwidth": (0.125, 1e18, "1 bit/s", "1 EB/s"),
    "a duration": (1e-15, 1e10, "1e-15 s", "about 300 years"),
    "a compute rate": (1.0, 1e21, "1 FLOP/s", "1 ZFLOP/s"),
    "a count": (1e-6, 1e24, "1e-6", "1e24"),
}
"""Physical range of each kind of quantity: (smallest non-zero, largest, both as text), SI units."""

DTYPE_BYTES: Final = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}
"""Bytes per element of each floating-point dtype a scenario names (IEEE binary32, bfloat16, binary16,
FP8 E4M3/E5M2): the one table every width in the engines comes from."""


def dtype_bytes(dtype: str) -> int:
    """Bytes per element of ``dtype`` (:data:`DTYPE_BYTES`)."""
    return DTYPE_BYTES[dtype]


def working_dtype(precision: str) -> str:
    """The dtype of the weights, activations and non-GEMM kernels under ``training.precision``: itself, but
    bf16 under fp8 training (Transformer Engine runs only the linear layers' GEMMs in FP8 and keeps bf16
    weights, activations, attention and logits)."""
    return "bf16" if precision == "fp8" else precision


def working_bytes(precision: str) -> int:
    """Bytes per element of :func:`working_dtype`: 4 in fp32 training, 2 in 16-bit and fp8 training."""
    return dtype_bytes(working_dtype(precision))


def unsigned_zero(value: float) -> float:
    """``value``, with IEEE negative zero read as zero: every number dpsim reads (YAML, JSON, quantities, options)
    passes through here, so ``-0.0`` (or ``'-0 s'``) is the same field value, scenario hash and printed figure as
    ``0`` (before, ``training.memory_reserve: -0.0`` hashed apart from ``0.0`` and printed ``memory_reserve_bytes:
    -0.0``, and ``plan --price -0`` a cost of ``-0``)."""
    return value + 0.0  # IEEE 754: -0.0 + 0.0 is +0.0; every other value, NaN and inf included, is unchanged


def _bounded(value: float, what: str, text: object) -> float:
    """``value`` if it is zero or inside the physical range of ``what``, else a :class:`UnitError`."""
    low, high, low_text, high_text = RANGES[what]
    shown = repr(text) if isinstance(text, str) and len(text) <= 40 else "the value"
    if not math.isfinite(value) or (value != 0 and not low <= abs(value) <= high):
        raise UnitError(f"{shown} is outside the physical range of {what} ({low_text} to {high_text})")
    if value == 0 and underflows(text):
        raise UnitError(f"{shown} is too small for a float and would be read as 0: write 0, or {what} from {low_text}")
    return unsigned_zero(value)


def underflows(text: object) -> bool:
    """Whether ``text`` writes a number with a non-zero digit (``1e-400``, ``1e-330 ns``) whose value is 0.

    Such a number is below the smallest float (about 5e-324) and reads as exactly 0, which every
    range check passes; ``1e-320`` itself, a denormal, is refused as outside the range.
    """
    if not isinstance(text, str):
        return False
    match = _QUANTITY.match(text)
    mantissa = re.split("[eE]", match.group("num"))[0] if match is not None else ""
    return any(digit in "123456789" for digit in mantissa)


_DECIMAL: Final[dict[str, float]] = {
    "": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "Z": 1e21,
    "Y": 10**24, "R": 10**27, "Q": 10**30,
}  # fmt: skip
"""Every SI prefix from kilo to quetta: :data:`RANGES` names its ends in them (``1 ZB``, ``1 ZFLOP/s``), which the
parser refused as unknown units until round 35; the prefixes past them (and :data:`_BINARY`'s ``Zi``, ``Yi``) are read
so that ``1 ZiB`` or ``2 YB`` is refused as outside the range, not as an unknown unit (round 36). Whole numbers past
zetta, so that a size's exact check (:func:`parse_size`) multiplies by the power of ten, not its nearest double."""
_BINARY: Final[dict[str, float]] = {
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60, "Zi": 2.0**70,
    "Yi": 2.0**80,
}  # fmt: skip
_PREFIXES: Final = {**_DECIMAL, **_BINARY}
_TIME_UNITS: Final = {
    "s": 1.0,
    "sec": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ns": 1e-9,
    "min": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_MAX_TEXT: Final = 100
"""Longest quantity text parsed (``"200 Gbit/s"`` needs 10): bounds the regex work and every message."""
_NUMBER = r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
_QUANTITY = re.compile(rf"^\s*{_NUMBER}\s*(?P<unit>[^\s\d].*?)?\s*$", re.ASCII)
"""ASCII digits only: Python's ``float`` reads a full-width '５' as 5, which no unit table expects."""


def _split(text: object, what: str, example: str) -> tuple[float, str]:
    if isinstance(text, bool):
        raise UnitError(f"expected {what} with a unit like {example!r}, got {text!r}")
    if isinstance(text, (int, float)):
        raise UnitError(f"expected {what} with a unit like {example!r}, got the bare number {text!r}")
    if not isinstance(text, str):
        raise UnitError(f"expected {what} like {example!r}, got {type(text).__name__}")
    if len(text) > _MAX_TEXT:
        raise UnitError(f"expected {what} like {example!r}, got {len(text):,} characters of text")
    match = _QUANTITY.match(text)
    if match is None:
        raise UnitError(f"expected {what} like {example!r}, got {text!r}")
    value = float(match.group("num"))
    if not math.isfinite(value):
        raise UnitError(f"expected {what} with a finite number, got {text!r}")
    unit = (match.group("unit") or "").strip()
    if not unit:
        raise UnitError(f"missing unit in {text!r}: expected {what} like {example!r}")
    return value, unit


def _prefix_and_base(unit: str, bases: dict[str, float]) -> float | None:
    """Return the multiplier of ``unit`` = prefix + one of ``bases`` (longest base first)."""
    exact = _exact_scale(unit, bases)
    return None if exact is None else float(exact)


def _exact_scale(unit: str, bases: dict[str, float]) -> fractions.Fraction | None:
    """:func:`_prefix_and_base` as an exact fraction (``YB`` is 10^24, not the double nearest it)."""
    for base in sorted(bases, key=len, reverse=True):
        if unit.endswith(base):
            prefix = unit[: len(unit) - len(base)]
            if prefix in _PREFIXES:
                return fractions.Fraction(_PREFIXES[prefix]) * fractions.Fraction(bases[base])
    return None


_BYTE_BASES: Final = {"B": 1.0, "byte": 1.0, "bytes": 1.0, "bit": 0.125, "bits": 0.125, "b": 0.125}


def parse_size(text: object) -> float:
    """Parse a data size to bytes: ``"25 MB"`` → 25e6, ``"25 MiB"`` → 26214400, ``"8 Gbit"`` → 1e9.

    A size is a whole number of bytes: ``"1.5 KiB"`` (1536 B) is one, ``"1.5 B"``, ``"0.3 KiB"`` or ``"12 bit"``
    are errors (checked in exact decimal arithmetic, so ``"1.1 GB"`` is exactly 1_100_000_000 B).
    """
    value, unit = _split(text, "a size", "25 MiB")
    scale = _exact_scale(unit, _BYTE_BASES)
    if scale is None:
        raise UnitError(
            f"unknown size unit {unit!r} in {text!r}: expected B, KB, MB, GB, KiB, MiB, GiB, bit, Gbit, ..."
        )
    if _bounded(value * float(scale), "a size", text) == 0:
        return 0.0
    match = _QUANTITY.match(str(text))
    assert match is not None  # _split matched it
    exact = fractions.Fraction(match.group("num")) * scale  # bounded: no huge exponent
    if exact.denominator != 1:
        raise UnitError(f"{text!r} is {float(exact):.6g} B: a size is a whole number of bytes")
    return float(exact.numerator)


def parse_bandwidth(text: object) -> float:
    """Parse a bandwidth to bytes/s: ``"200 Gbit/s"`` → 25e9, ``"25 GB/s"`` → 25e9, ``"100 Gbps"`` → 12.5e9."""
    value, unit = _split(text, "a bandwidth", "200 Gbit/s")
    compact = unit.replace(" ", "")
    if compact.endswith("bps"):  # networking shorthand: Gbps == Gbit/s
        compact = compact[:-3] + "bit/s"
    if compact.endswith("Bps"):
        compact = compact[:-3] + "B/s"
    if not compact.endswith("/s"):
        raise UnitError(f"bandwidth {text!r} needs a rate unit such as Gbit/s or GB/s")
    scale = _prefix_and_base(compact[:-2], _BYTE_BASES)
    if scale is None:
        raise UnitError(f"unknown bandwidth unit {unit!r} in {text!r}: expected Gbit/s, Gb/s, GB/s, MB/s, Gbps, ...")
    return _bounded(value * scale, "a bandwidth", text)


def parse_time(text: object) -> float:
    """Parse a duration to seconds: ``"5 us"`` → 5e-6, ``"1.5 ms"`` → 1.5e-3, ``"2 h"`` → 7200."""
    value, unit = _split(text, "a duration", "5 us")
    if unit not in _TIME_UNITS:
        raise UnitError(f"unknown time unit {unit!r} in {text!r}: expected s, ms, us, ns, min, h or days")
    return _bounded(value * _TIME_UNITS[unit], "a duration", text)


def parse_flops(text: object) -> float:
    """Parse a compute rate to FLOP/s: ``"312 TFLOP/s"`` → 3.12e14 (also ``TFLOPS``)."""
    value, unit = _split(text, "a compute rate", "312 TFLOP/s")
    compact = unit.replace(" ", "")
    for suffix in ("FLOP/s", "FLOPS", "flop/s", "flops"):
        if compact.endswith(suffix):
            prefix = compact[: -len(suffix)]
            if prefix in _DECIMAL:
                return _bounded(value * _DECIMAL[prefix], "a compute rate", text)
    raise UnitError(f"unknown compute-rate unit {unit!r} in {text!r}: expected FLOP/s, TFLOP/s, PFLOP/s")


_COUNT_SUFFIX: Final = {"": 1.0, "K": 1e3, "k": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}


def parse_count(text: object) -> float:
    """Parse a count: ``1.5e9``, ``"1.5e9"``, ``"7B"`` (billion), ``"350M"``, ``"2T"`` (tokens)."""
    if isinstance(text, bool):
        raise UnitError(f"expected a count like 1.5e9 or '7B', got {text!r}")
    if isinstance(text, (int, float)):
        if not math.isfinite(text):
            raise UnitError(f"expected a finite count, got {text!r}")
        return _bounded(float(text), "a count", text)
    if not isinstance(text, str):
        raise UnitError(f"expected a count like 1.5e9 or '7B', got {type(text).__name__}")
    if len(text) > _MAX_TEXT:
        raise UnitError(f"expected a count like 1.5e9 or '7B', got {len(text):,} characters of text")
    match = _QUANTITY.match(text)
    if match is None or (match.group("unit") or "").strip() not in _COUNT_SUFFIX:
        raise UnitError(f"expected a count like 1.5e9 or '7B', got {text!r}")
    return _bounded(float(match.group("num")) * _COUNT_SUFFIX[(match.group("unit") or "").strip()], "a count", text)


def _format(value: float, unit: str, prefixes: tuple[tuple[str, float], ...]) -> str:
    for prefix, scale in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.4g} {prefix}{unit}"
    return f"{value:.4g} {unit}"


_DOWN: Final = (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3))


def format_size(num_bytes: float) -> str:
    """Human-readable decimal size that :func:`parse_size` reads back: ``"25 MB"``."""
    return _format(num_bytes, "B", _DOWN)


_BINARY_DOWN: Final = (("Ti", 2.0**40), ("Gi", 2.0**30), ("Mi", 2.0**20), ("Ki", 2.0**10))


def format_binary_size(num_bytes: float) -> str:
    """Memory capacities in binary units that :func:`parse_size` reads back: 80 GiB, not "85.9 GB"."""
    return _format(num_bytes, "B", _BINARY_DOWN)


def format_bandwidth(bytes_per_s: float) -> str:
    """Human-readable bandwidth in bytes/s that :func:`parse_bandwidth` reads back: ``"25 GB/s"``."""
    return _format(bytes_per_s, "B/s", _DOWN)


def format_time(seconds: float) -> str:
    """Human-readable duration that :func:`parse_time` reads back: ``"5 us"``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.6g} {unit}"
    return f"{seconds / 1e-9:.6g} ns"
