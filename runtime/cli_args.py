"""Option parsing shared by the scripts beside dpsim's own commands: ``python -m runtime``, its benchmark rank
(``python -m runtime.bench``), its examples and the scripts in ``benchmarks/`` (``benchmarks.script_cli``).

Their usage errors end as the dpsim commands' do: one ``error:`` line on stderr naming the option, exit status 2
(argparse's own prints the usage first: two lines). Numbers are read in ASCII digits only: ``int`` alone reads
'１２' as 12 and '1_000' as 1000, and ``float`` reads 'nan', 'inf' and '١'. No torch here: offline scripts import
it.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from typing import Any, Final, NoReturn

from dpsim.inputs import brief

__all__ = [
    "CLI_SOURCE",
    "NUMBER",
    "WHOLE",
    "Parser",
    "finite",
    "number_option",
    "runtime_parser",
    "whole_option",
    "whole_within",
]

CLI_SOURCE: Final = "<command line>"
"""Where ``python -m runtime``'s options come from, as its errors name it (``error: <command line>: ...``)."""

WHOLE: Final = re.compile(r"[+-]?[0-9]{1,20}")
"""A whole number as an option takes it: an optional sign and at most 20 ASCII digits."""
NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
"""A number as an option takes it: ASCII digits, an optional point and a decimal exponent of at most 4 digits (no
'nan', 'inf' or '1_0')."""


def whole_within(text: str, low: float = -math.inf, high: float = math.inf) -> bool:
    """Whether ``text`` is a :data:`WHOLE` number from ``low`` to ``high``."""
    return WHOLE.fullmatch(text) is not None and low <= int(text) <= high


def finite(text: str) -> float | None:
    """``text`` as a :data:`NUMBER` that is finite, else None."""
    value = float(text) if NUMBER.fullmatch(text) else math.nan
    return value if math.isfinite(value) else None


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line ``error: <prefix><what>`` on stderr and status 2; ``prefix`` names
    where the input came from (``python -m runtime``'s ``'<command line>: '``, as its scenario errors do)."""

    def __init__(self, *args: Any, prefix: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prefix = prefix

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prefix}{' '.join(message.split())}", file=sys.stderr)
        raise SystemExit(2)


def runtime_parser(prog: str, **kwargs: Any) -> Parser:
    """The :class:`Parser` of ``python -m runtime``, its benchmark rank and its examples: usage errors say
    ``error: <command line>: ...``, as their option checks after parsing do."""
    return Parser(prog=prog, prefix=f"{CLI_SOURCE}: ", **kwargs)


def whole_option(text: str) -> int:
    """A :func:`runtime_parser` option's type: a whole number (:data:`WHOLE`)."""
    if not whole_within(text):
        raise argparse.ArgumentTypeError(f"expected a whole number in ASCII digits, got {brief(text)}")
    return int(text)


def number_option(text: str) -> float:
    """A :func:`runtime_parser` option's type: a finite number (:func:`finite`)."""
    if (value := finite(text)) is None:
        raise argparse.ArgumentTypeError(f"expected a finite number in ASCII digits, got {brief(text)}")
    return value
