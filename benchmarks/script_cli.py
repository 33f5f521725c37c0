"""Command-line plumbing the emulated-cluster benchmark scripts share.

Bad input and a machine that cannot host the emulated cluster end a script the way the dpsim commands
end: one line ``error: <what>`` on stderr and exit status 2. A script's ``main`` raises
:class:`ScriptError` (or calls :func:`need_root`, :func:`read_json`, :func:`one_of`) and is wrapped in
:func:`one_line_errors`.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, NoReturn

__all__ = [
    "Parser",
    "ScriptError",
    "add_grid",
    "bandwidth",
    "grid",
    "need_root",
    "number",
    "numbers",
    "one_line_errors",
    "one_of",
    "read_bench_records",
    "read_json",
    "refuse_beside_reuse",
    "reuse_lines",
    "size",
    "unlaunched_worker",
    "whole",
    "wholes",
]


# The independent harness (benchmarks/plain_ddp.py, whose ranks record that they imported neither dpsim nor
# runtime: ``foreign_modules``) imports this module, so it may not import ``runtime.cli_args`` at module level (that
# loads the ``runtime`` and ``dpsim`` packages). WHOLE, NUMBER, whole_within, finite and the one-line error are
# therefore kept here as the same text as runtime.cli_args's; tests/test_script_cli.py pins that they stay equal
# and that importing this module loads neither package.
WHOLE: Final = re.compile(r"[+-]?[0-9]{1,20}")
"""As :data:`runtime.cli_args.WHOLE`."""
NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
"""As :data:`runtime.cli_args.NUMBER`."""


def whole_within(text: str, low: float = -math.inf, high: float = math.inf) -> bool:
    """As :func:`runtime.cli_args.whole_within`."""
    return WHOLE.fullmatch(text) is not None and low <= int(text) <= high


def finite(text: str) -> float | None:
    """As :func:`runtime.cli_args.finite`."""
    value = float(text) if NUMBER.fullmatch(text) else math.nan
    return value if math.isfinite(value) else None


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line ``error: <what>`` on stderr and status 2 (as
    :class:`runtime.cli_args.Parser`), taking options spelled in full, as the dpsim commands do (round 27:
    argparse's own took a prefix, ``--rep 5`` for ``--repeats 5``, where the scripts' checks of what ``--reuse``
    drops read full names: ``validate_emulated --reuse DIR --rep 5`` dropped it without a word)."""

    def __init__(self, *args: Any, prefix: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.prefix = prefix

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prefix}{' '.join(message.split())}", file=sys.stderr)
        raise SystemExit(2)


class ScriptError(Exception):
    """What a user can act on: printed as ``error: <message>``, exit status 2."""


def one_line_errors(main: Callable[[], int]) -> Callable[[], int]:
    """``main`` with a :class:`ScriptError`, or the :class:`dpsim.errors.ScenarioError` of a damaged scenario or
    profile it reads (``load_profile``), turned into one line on stderr and status 2."""
    from dpsim.errors import ScenarioError

    @functools.wraps(main)
    def run() -> int:
        try:
            return main()
        except ScriptError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except ScenarioError as exc:
            print(f"error: {exc.one_line()}", file=sys.stderr)
            return 2

    return run


def whole(low: int = 1, high: int = 1 << 20) -> Callable[[str], int]:
    """An option's type: a whole number in ASCII digits from ``low`` to ``high`` (``int`` alone takes '１２' and
    '1_000', and a count of 0 or -1 left a median of nothing or a range of no work: a traceback or silence)."""

    def parse(text: str) -> int:
        if not whole_within(text, low, high):
            raise argparse.ArgumentTypeError(f"expected a whole number from {low:,} to {high:,}, got {text!r}")
        return int(text)

    return parse


def wholes(low: int = 1, high: int = 1 << 20, none: bool = False) -> Callable[[str], list[int]]:
    """An option's type: comma-separated whole numbers, each as :func:`whole` takes it; '' is none where ``none``
    (else refused: an empty list of work)."""
    one = whole(low, high)

    def parse(text: str) -> list[int]:
        if not text and none:
            return []
        try:
            return [one(v) for v in text.split(",")]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated whole numbers from {low:,} to {high:,}, got {text!r}"
            ) from None

    return parse


def number(low: float = 0.0, high: float = math.inf) -> Callable[[str], float]:
    """An option's type: a finite number in ASCII digits from ``low`` to ``high`` (``float`` alone takes 'nan',
    'inf' and '-1', which a limit or a time slice then compares or divides by silently)."""

    def parse(text: str) -> float:
        value = finite(text)
        if value is None or not low <= value <= high:
            bound = "" if math.isinf(high) else f" and at most {high:g}"
            raise argparse.ArgumentTypeError(f"expected a finite number at least {low:g}{bound}, got {text!r}")
        return value

    return parse


def bandwidth(text: str) -> float:
    """An option's type: a link rate with its unit (``'1 Gbit/s'``), in bytes/s, finite and > 0 (``parse_bandwidth``'s
    own error was a ``UnitError`` traceback in the scripts that read it after parsing)."""
    from dpsim.units import UnitError, parse_bandwidth

    try:
        value = parse_bandwidth(text)
    except (UnitError, ValueError) as exc:
        raise argparse.ArgumentTypeError(" ".join(str(exc).split())) from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a rate > 0, got {text!r}")
    return value


def size(text: str) -> int:
    """An option's type: a message size with its unit (``'64 MB'``), whole bytes from 1 B to 1 TiB."""
    from dpsim.units import UnitError, parse_size

    try:
        value = parse_size(text)
    except (UnitError, ValueError) as exc:
        raise argparse.ArgumentTypeError(" ".join(str(exc).split())) from None
    if not (math.isfinite(value) and value == int(value) and 1 <= value <= 1 << 40):
        raise argparse.ArgumentTypeError(f"expected whole bytes from 1 B to 1 TiB, got {text!r}")
    return int(value)


def numbers(low: float = 0.0, high: float = math.inf) -> Callable[[str], list[float]]:
    """An option's type: comma-separated numbers, each as :func:`number` takes it, none twice."""
    one = number(low, high)

    def parse(text: str) -> list[float]:
        try:
            values = [one(v.strip()) for v in text.split(",")]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers from {low:g} to {high:g}, "
                                             f"got {text!r}") from None  # fmt: skip
        if len(set(values)) < len(values):
            raise argparse.ArgumentTypeError(f"lists a value more than once, got {text!r}")
        return values

    return parse


def need_root() -> None:
    """The emulated cluster needs root and iproute2, and the variables it reads (``DPSIM_TCP_CC``, ...) values it can
    use; raise :class:`ScriptError` saying which is missing or wrong."""
    from runtime.testbed.emulated import BadEnvironment, RootRequired, check_environment, require_root

    try:
        require_root()
        check_environment()  # DPSIM_TCP_CC, DPSIM_NETNS_PREFIX, DPSIM_RANK_USER: named in one line
    except (RootRequired, BadEnvironment) as exc:
        raise ScriptError(str(exc)) from exc


def read_json(path: Path) -> Any:
    """The JSON a previous run wrote to ``path`` (``--reuse``); an unreadable or damaged file is a :class:`ScriptError`
    naming it. A key twice in one object or a ``NaN`` / ``Infinity`` is damage too (round 27: ``json.loads`` kept the
    last of two keys and read ``NaN`` as a number, which ``tcp_cc.py --reuse`` and the other tables printed as
    ``nan``, status 0); a measurement writes neither."""

    from dpsim.inputs import first_repeat

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if (repeat := first_repeat(keys)) is not None:  # linear (review 21:08: a count per key was quadratic)
            raise ValueError(f"the key {keys[repeat]!r} twice in one record")
        return dict(pairs)

    def constant(name: str) -> Any:
        raise ValueError(f"{name} where a measurement writes a number")

    try:
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=unique, parse_constant=constant)
    except (OSError, ValueError) as exc:
        raise ScriptError(f"{path}: {' '.join(str(exc).split())[:300]}") from exc


def refuse_beside_reuse(
    argv: Iterable[str], stored: str = "run", allowed: Iterable[str] = (), option: str = "--reuse"
) -> None:
    """``--reuse`` prints what an earlier run stored and measures nothing: an option beside it other than ``allowed``
    would be dropped without a word (``--reuse DIR --ab`` printed the stored table, ``--reuse DIR --case-set fresh``
    or ``--steps 3`` changed nothing), so it is a :class:`ScriptError` naming it. ``option``: the script's option
    that reads stored records (``link_overlap --calibration`` too)."""
    keep = {option, *allowed}
    if given := [a.split("=", 1)[0] for a in argv if a.startswith("--") and a.split("=", 1)[0] not in keep]:
        takes = f"it takes {' and '.join(sorted(keep - {option}))} only" if allowed else "it takes no other option"
        raise ScriptError(f"{given[0]}: {option} prints a stored {stored} again and runs nothing: {takes}")


def unlaunched_worker(program: str) -> str:
    """Why ``program --worker`` cannot run here ('' if it can): a rank its launcher starts, with torchrun's variables
    set (round 26: by hand it was ``init_process_group``'s ``ValueError`` traceback, or argparse's two-line usage)."""
    import os

    missing = [v for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
    if missing:
        return (f"{', '.join(missing)} not set: {program} --worker is a rank its launcher starts; run {program} "
                "without it")  # fmt: skip
    return ""


def reuse_lines(folder: Path, name: str, render: Callable[[Any], str], writer: str) -> list[str]:
    """``--reuse``: ``render`` of every JSON line of ``folder/name``, all checked before any is printed (round 26:
    ``ddp_timeline.py`` and ``thread_share.py`` read theirs line by line, so a missing folder, a damaged line or a
    record without its fields was a traceback after the lines before it had been printed). A problem is a
    :class:`ScriptError` naming the file and the line; ``writer``: the script that writes the file."""
    path = folder / name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"--reuse: {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # bytes that are not UTF-8
        raise ScriptError(f"--reuse: {path}: {exc}") from None
    shown = []
    for index, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            shown.append(render(json.loads(line)))
        except json.JSONDecodeError:
            raise ScriptError(f"--reuse: {path}: line {index}: not a JSON record") from None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, ZeroDivisionError) as exc:
            what = f"no field {exc}" if isinstance(exc, KeyError) else f"a field of another shape ({exc})"
            raise ScriptError(f"--reuse: {path}: line {index}: {' '.join(what.split())}, as {writer} writes "
                              "one") from None  # fmt: skip
    if not shown:
        raise ScriptError(f"--reuse: {path}: no record (the measurement stopped before its first)")
    return shown


def read_bench_records(path: Path) -> list[dict[str, Any]]:
    """A calibration's benchmark records (``calibration-bench.json``) to refit: damaged JSON, or records the fit cannot
    read (:func:`runtime.calibrate.bench_records_problem`), is a :class:`ScriptError` naming the file."""
    from runtime.calibrate import bench_records_problem

    records = read_json(path)
    if (problem := bench_records_problem(records)) is not None:
        raise ScriptError(f"{path}: {problem}")
    return list(records)


def one_of(option: str, value: str, choices: Iterable[str]) -> None:
    """Refuse ``value`` for ``option`` unless it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ScriptError(f"{option}: {value!r} is not one of {', '.join(choices)}")


def add_grid(p: argparse.ArgumentParser, ranks: str, rates: str, sizes: str, out: str) -> None:
    """The options of a benchmark over a grid of rank counts x shaped rates x all-reduce sizes on the emulated
    cluster (one rank a node), priced with a profile, written to ``--out`` as ``out``, printed again by ``--reuse``."""
    p.add_argument("--ranks", default=ranks, help="rank counts, one node each")
    p.add_argument("--rates", default=rates, help="shaped link rates in Mbit/s")
    p.add_argument("--sizes", default=sizes, help="all-reduce sizes in bytes")
    p.add_argument("--profile", type=Path, help="a testbed profile to price the points with")
    p.add_argument("--out", type=Path, help=f"folder for {out}")
    p.add_argument("--reuse", type=Path, help="print a previous run's folder again (no root)")


def grid(args: argparse.Namespace) -> tuple[list[int], list[float], list[int]]:
    """:func:`add_grid`'s rank counts, rates (bytes/s) and sizes (bytes); a value that is not a number is a
    :class:`ScriptError` naming its option, and so is one out of range (round 26: a rate of ``nan`` or ``-1``, a rank
    count of 0 and a size of 0 B reached the testbed, ``1_000`` and '１' were read as numbers)."""

    def values(option: str, text: str, kind: Callable[[str], Any]) -> list[Any]:
        try:
            return list(kind(text))
        except argparse.ArgumentTypeError as exc:
            raise ScriptError(f"--{option}: {exc}") from None

    return (
        values("ranks", args.ranks, wholes(1, 250)),
        [r * 1e6 / 8 for r in values("rates", args.rates, numbers(1e-3, 1e6))],
        values("sizes", args.sizes, wholes(1, 1 << 40)),
    )
