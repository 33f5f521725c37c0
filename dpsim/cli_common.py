"""Shared pieces of the command line: one-line errors (exit 2), choices, atomic outputs, ``--vary``.

Every command module (:mod:`dpsim.cli`, :mod:`dpsim.cli_runtime`, :mod:`dpsim.cli_plan`)
imports these from here, so none of them imports another command module.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import sys
import tempfile
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from dpsim.errors import ScenarioError, did_you_mean, safe_text
from dpsim.inputs import brief
from dpsim.outputs import refuse_link, replaced

__all__ = [
    "CLI_SOURCE",
    "ENGINES",
    "FORMATS",
    "SchedulerOpt",
    "Stopped",
    "TcpCcOpt",
    "WorkersOpt",
    "atomic_output",
    "check_choice",
    "check_options",
    "check_writable",
    "fail",
    "handle_errors",
    "install_signal_cleanup",
    "parse_vary",
    "print_output",
    "refuse_repeats",
    "vary_points",
    "warn",
]

CLI_SOURCE = "<command line>"
"""``source`` of errors in command-line arguments (as opposed to a scenario file)."""

FORMATS = ("table", "json", "csv")
ENGINES = ("analytic", "sim")

_F = TypeVar("_F", bound=Callable[..., Any])

WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", help="Run on an embedded Dask LocalCluster of N worker processes (dpsim[cluster])."),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option("--scheduler", help="Run on an existing Dask cluster, e.g. tcp://HOST:8786 (dpsim[cluster])."),
]
TcpCcOpt = Annotated[
    str | None,
    typer.Option(help="emulated testbed: the nodes' TCP congestion control (cubic, reno, ...; default: the host's)"),
]
"""``--tcp-cc`` of ``calibrate`` and ``validate`` (``runtime.testbed.emulated``: ``DPSIM_TCP_CC``)."""


def fail(field: str, message: str, source: str = CLI_SOURCE) -> ScenarioError:
    """A :class:`ScenarioError` for a bad command-line argument (raise it)."""
    return ScenarioError(field, message, source)


def warn(text: Any) -> None:
    """``warning: <text>`` on stderr, where there is one (a record's ``extra.warning``); stdout stays the result."""
    if text:
        typer.echo(f"warning: {safe_text(str(text))}", err=True)


def handle_errors(fn: _F) -> _F:
    """Decorate a command: :class:`ScenarioError` → ``error: <one line>`` on stderr, exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ScenarioError as exc:
            typer.echo(f"error: {exc.one_line()}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


class Stopped(SystemExit):
    """SIGINT, SIGTERM or SIGHUP arrived: the command ends with status 128 + the signal's number (as the shell reports a
    process the signal killed), after its ``finally`` blocks ran; :func:`dpsim.cli.main` says so in one line."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        import signal

        self.name = signal.Signals(signum).name


def install_signal_cleanup() -> None:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Stopped` (a ``SystemExit``), so ``finally`` blocks remove
    temporary files and the command ends with one line saying why.

    A killed ``dpsim`` (``kill``, a CI timeout, a closed terminal, Ctrl-C) then leaves no ``.name.XXXX``
    file beside an output it was writing; SIGKILL cannot be caught. (typer turned Ctrl-C in a command into a
    silent exit.) A signal this process was started ignoring stays ignored: ``nohup`` ignores SIGHUP, a
    shell script's background job SIGINT.
    """
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise Stopped(signum)

    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            number = getattr(signal, name)
            if signal.getsignal(number) is signal.SIG_IGN:
                continue
            with contextlib.suppress(ValueError):  # not the main thread: leave the default
                signal.signal(number, stop)


class OutputLost(Exception):
    """Writing the standard output failed (a reader that closed the pipe, a full disk). Not an ``OSError``, so
    click's own handling of a closed pipe (exit status 1, without a word) does not take it; :func:`output_lost`
    ends the command."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


class _GuardedFile(io.RawIOBase):
    """The standard output's file descriptor, raising :class:`OutputLost` where a write fails."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: Any) -> int:
        try:
            return os.write(self._fd, data)
        except OSError as exc:
            raise OutputLost(exc) from None


def guard_stdout() -> None:
    """Make the console's standard output safe to print to, whatever it is.

    - characters its encoding lacks are written as escapes (``PYTHONIOENCODING=ascii`` or a Latin-1 locale:
      the table's ``µs`` was a ``UnicodeEncodeError`` traceback); JSON is ASCII already;
    - a write that fails raises :class:`OutputLost` (``dpsim ... > /dev/full`` was an ``OSError`` traceback,
      ``dpsim sweep ... | head`` exit status 1 from click).
    """
    stream = sys.stdout
    if not isinstance(stream, io.TextIOWrapper):
        return
    try:
        fd = stream.fileno()
        stream.flush()
    except (OSError, ValueError):
        return
    guarded = io.BufferedWriter(_GuardedFile(fd))
    sys.stdout = io.TextIOWrapper(
        guarded, encoding=stream.encoding, errors="backslashreplace", line_buffering=stream.line_buffering
    )


def output_lost(exc: OutputLost) -> int:
    """End a command whose output could not be written: quietly with status 0 when the reader closed the pipe (it
    read what it wanted: ``| head``), else one line and status 2 (``No space left on device``). What is still
    buffered goes to ``/dev/null``, so the interpreter's last flush adds no second message."""
    import errno

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    if exc.error.errno == errno.EPIPE:
        return 0
    typer.echo(f"error: {fail('stdout', f'cannot write the output: {exc.error.strerror or exc.error}').one_line()}",
               err=True)  # fmt: skip
    return 2


_WHOLE = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def _option_kind(param: Any) -> str:
    """``int`` or ``float`` for a numeric option (typer's annotation), else ``""``."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    args = [a for a in (typing.get_args(annotation) or (annotation,)) if a is not type(None)]
    kinds = {a.__name__ for a in args if a in (int, float)}
    return kinds.pop() if len(kinds) == 1 and len(args) == 1 else ""


def _path_option(param: Any, folders: bool = False) -> bool:
    """Whether ``param`` is an option naming a file (typer's ``Path`` annotation), not a folder (``--out-dir``;
    with ``folders``, either)."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    named = [a for a in (typing.get_args(annotation) or (annotation,)) if a is not type(None)]
    files = any(a is Path or Path in typing.get_args(a) for a in named)
    return files and (folders or not any(opt.endswith("-dir") for opt in getattr(param, "opts", ())))


def refuse_folder_name(option: str, text: str) -> None:
    """A file option written as a folder (``--out o.csv/``, ``o.csv/.``): ``pathlib`` drops the trailing
    separator and ``.``, so ``o.csv/`` would be written as the file ``o.csv``; refuse it by the text as typed.
    A name the file system cannot hold is refused too (:func:`refuse_unnameable`)."""
    last = text.replace(os.sep, "/").rsplit("/", 1)[-1]
    if text and last in ("", ".", ".."):
        raise fail(option, f"{brief(text)} names a folder: expected a file name (no trailing {os.sep!r}, '.' or '..')")
    refuse_unnameable(option, text)


def refuse_unnameable(option: str, text: str, what: str = "") -> None:
    """A path the file system cannot name, or that names nothing meant: a part longer than its ``NAME_MAX`` (255
    bytes on Linux), a whole path past ``PATH_MAX`` (4,096 bytes), or blanks only (``' '``).
    Asked of the system itself (``lstat``): ``pathlib``'s ``exists``,
    ``is_file`` and ``is_symlink`` raise ``ENAMETOOLONG`` rather than answer, which was a traceback in every
    command that wrote or read such a path (``--out``, ``--trace``, ``--plot``, ``-o``, ``--from-nccl-tests``)."""
    import errno

    if text and not text.strip():  # a file named ' ' is legal, and never what was meant (an unset shell variable)
        raise fail(option, f"{brief(text)} is blank: expected a path")
    try:
        os.lstat(text)
    except ValueError:  # an embedded NUL (only from in-process callers: argv cannot hold one)
        raise fail(option, f"{brief(text)}: a path cannot hold a NUL character") from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            longest = max((len(os.fsencode(part)) for part in text.split(os.sep)), default=0)
            why = f"a part of {longest:,} bytes" if longest > 255 else f"{len(os.fsencode(text)):,} bytes in all"
            named = what or brief(text)
            raise fail(option, f"{named}: file name too long for the file system ({why})") from None


_MEASURING = ("--ranks", "--sizes", "--algorithms", "--rates", "--testbed", "--max-residual", "--tcp-cc")
"""``calibrate``'s options of measuring the links (all-reduces over ranks); ``--link-class`` also names the class
fitted files measured."""
_FROM_FILES = ("--from-nccl-tests", "--from-trace")

_TCP_CC_NEEDS_EMULATED: tuple[tuple[str, ...], Callable[[dict[str, str]], bool], str] = (
    ("--tcp-cc",), lambda given: given.get("--testbed") == "emulated",
    "sets the emulated nodes' TCP congestion control: only with --testbed emulated",
)  # fmt: skip
"""``calibrate``'s and ``validate``'s rule for ``--tcp-cc`` (:data:`TcpCcOpt`)."""

_NEEDS: dict[str, tuple[tuple[tuple[str, ...], Callable[[dict[str, str]], bool], str], ...]] = {
    "calibrate": (
        (("--gemm-sizes", "--dtype"), lambda given: "--compute" in given,
         "only with --compute (the GEMM sweep it sets up)"),
        ((*_MEASURING, "--link-class"), lambda given: "--compute" not in given,
         "sets how the links are measured: --compute runs the GEMM sweep alone"),
        ((*_MEASURING, "--reps", "--compute", "--device"), lambda given: not any(f in given for f in _FROM_FILES),
         "sets what is measured: --from-nccl-tests / --from-trace fit files and measure nothing"),
        (("--rates",), lambda given: given.get("--testbed") == "emulated",
         "shapes the emulated testbed's links: only with --testbed emulated (local ranks talk over loopback)"),
        (("--rates",), lambda given: "inter" in [c.strip() for c in given.get("--link-class", "inter").split(",")],
         "shapes the links between the emulated nodes: only with the inter class (--link-class intra runs on one "
         "node, whose ranks talk over loopback)"),  # round 36: recorded in the profile's meta, read by nothing
        _TCP_CC_NEEDS_EMULATED,
    ),
    "validate": (
        _TCP_CC_NEEDS_EMULATED,
        (("--calibrate-ranks", "--max-residual"), lambda given: "--profile" not in given,
         "sets the calibration validate makes without --profile: with --profile none is made"),
    ),
    "plan": (
        (("--currency",), lambda given: "--price" in given, "names the currency of --price: give --price"),
        (("--checkpoint-write", "--restart"), lambda given: "--node-mtbf" in given,
         "prices the time lost to node failures: only with --node-mtbf"),
    ),
}  # fmt: skip
"""Per command: options that change nothing unless another is given too (the predicate on the options given,
by their first name → value, holds), and what the option is for. Each was taken without a word."""


def check_options(group: Any, args: Sequence[str]) -> None:
    """Refuse, before a command runs, what its parser would take silently (one line naming the option).

    - a number not written in ASCII digits: typer reads ``--max-devices 1_000`` as 1000, ``' 8 '`` as 8 and
      ``8.0`` as a whole number 8 (Python's ``int``/``float`` and pydantic's lax mode), as the scenario's YAML
      does not;
    - a single-valued option given twice with different values (``--format json --format csv``: the last
      one won unseen), or a flag and its negation (``--progress --no-progress``);
    - a file option written as a folder (:func:`refuse_folder_name`: ``--out o.csv/``), or a path option given as
      empty text, which typer reads as ``.`` (``validate --out-dir ''`` calibrated and wrote into the current folder);
    - an option that changes nothing without another (:data:`_NEEDS`: ``calibrate --dtype`` without ``--compute``,
      ``plan --restart`` without ``--node-mtbf``).
    """
    if not args or args[0] not in getattr(group, "commands", {}):
        return
    command = group.commands[args[0]]
    options: dict[str, Any] = {}
    for param in command.params:
        for name in [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]:
            if name.startswith("-"):
                options[name] = param
    seen: dict[str, tuple[str, str]] = {}
    given: dict[str, str] = {}
    """Every option given (by its first name) → its first value."""
    tokens = list(args[1:])
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--":
            break
        if not token.startswith("-") or token == "-":
            continue
        if token.startswith("--"):
            name, equals, value = token.partition("=")
            has_value = bool(equals)
        else:  # -oVALUE or -o VALUE
            name, has_value, value = token[:2], bool(token[2:]), token[2:]
        param = options.get(name)
        if param is None:
            continue  # an unknown option: the parser names it
        option = param.opts[0]
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            value = "off" if name in getattr(param, "secondary_opts", ()) else "on"
        elif not has_value:
            if i >= len(tokens):
                continue  # the parser says the value is missing
            value = tokens[i]
            i += 1
        kind = _option_kind(param)
        if value == "" and _path_option(param, folders=True):  # typer reads '' as Path('.'): the current folder
            raise fail(option, "'' is empty: expected a path (read as '.', the current folder)")
        if _path_option(param):
            refuse_folder_name(option, value)
        elif _path_option(param, folders=True):
            refuse_unnameable(option, value)
        if kind == "int" and not _WHOLE.fullmatch(value):
            raise fail(option, f"expected a whole number in ASCII digits (like 8), got {brief(value)}")
        if kind == "float" and not _NUMBER.fullmatch(value):
            raise fail(option, f"expected a number in ASCII digits (like 2.5 or 1e-3), got {brief(value)}")
        given.setdefault(option, value)
        if getattr(param, "multiple", False):
            continue
        if option in seen and seen[option][1] != value:
            first = seen[option][0]
            if getattr(param, "is_flag", False):
                raise fail(option, f"{first} and {name} are both given: give one")
            shown = f"{first} {brief(seen[option][1])}, then {name} {brief(value)}"
            raise fail(option, f"given twice ({shown}): give it once")
        seen[option] = (name, value)
    for options_, needed, why in _NEEDS.get(args[0], ()):
        for option in (o for o in options_ if o in given):
            if not needed(given):
                raise fail(option, why)


def check_choice(option: str, value: str, choices: Sequence[str]) -> str:
    """Validate an option against its allowed values (one-line error naming the option)."""
    if value not in choices:
        hint = did_you_mean(value, choices)
        raise fail(option, f"expected one of {', '.join(choices)}, got {brief(value)}" + (f" ({hint})" if hint else ""))
    return value


def _same_file(output: Path, given: Path) -> bool:
    """Whether the input ``given`` is the file ``output`` (an input the system cannot find, or name, is not)."""
    try:
        return given.is_file() and os.path.samefile(output, given)
    except OSError:  # ENAMETOOLONG: pathlib's is_file raises it rather than answer
        return False


def _writable_directory(path: Path, option: str, inputs: Sequence[Path | None] = ()) -> Path:
    """The directory ``path`` would be written to; a one-line error if that cannot work.

    Writability is tried (a temporary file made and removed there): ``os.access`` says yes to root on
    ``/proc`` or a read-only mount. An output that is one of the command's ``inputs`` (the scenario, an
    nccl-tests file) is refused: the input would be replaced by the output.
    """
    refuse_unnameable(option, str(path))
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        missing = "is not a directory" if directory.exists() else "does not exist"
        raise fail(option, f"cannot write {str(path)!r}: directory {str(directory)!r} {missing}")
    refuse_link(path, option)  # a link is neither replaced nor written through (dpsim.outputs)
    if path.is_dir():
        raise fail(option, f"cannot write {str(path)!r}: it is a directory")
    if path.exists() and any(p is not None and _same_file(path, p) for p in inputs):
        raise fail(option, f"{str(path)!r} is also an input of this command: write the output elsewhere")
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise fail(option, f"cannot write {str(path)!r}: directory {str(directory)!r}: {exc.strerror or exc}") from None
    return directory


@contextmanager
def atomic_output(path: Path, option: str, inputs: Sequence[Path | None] = ()) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix); rename it onto ``path`` on success.

    Raises a one-line error for an unwritable destination, a symbolic link or one of ``inputs``, and
    removes the temporary file on failure so nothing is left half-written (:func:`dpsim.outputs.replaced`).
    """
    _writable_directory(path, option, inputs)
    try:
        with replaced(path, option) as tmp:
            yield tmp
    except OSError as exc:
        raise fail(option, f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def check_writable(path: Path, option: str, suffixes: Sequence[str], inputs: Sequence[Path | None] = ()) -> None:
    """Fail before any work is done when ``path`` has a wrong suffix (any, without ``suffixes``), cannot be written,
    or is one of ``inputs``."""
    if suffixes and path.suffix.lower() not in suffixes:
        raise fail(option, f"{str(path)!r}: expected a file ending in {', '.join(suffixes)}")
    _writable_directory(path, option, inputs)


def refuse_repeats(option: str, values: Sequence[Any], shown: Sequence[str] | None = None, why: str = "") -> None:
    """A one-line error for a value listed twice in one option (``--tp 1,1``, ``--ranks 2,2``): it would be
    searched or measured twice. ``values`` are compared (parsed); ``shown``, the entries as typed, are quoted."""
    from dpsim.inputs import brief, first_repeat

    repeat = first_repeat(list(values))
    if repeat is not None:
        quoted = brief(shown[repeat] if shown is not None else values[repeat])
        raise fail(option, f"lists {quoted} more than once{f' ({why})' if why else ''}")


def refuse_same_files(option: str, paths: Sequence[Path], why: str) -> None:
    """A one-line error for one file given twice, under two names or through a link (compared by device and
    inode; a path that does not exist, or ``-``, by its text): it would be read, fitted or drawn twice."""

    def identity(path: Path) -> object:
        try:
            info = path.stat() if str(path) != "-" else None
        except OSError:
            info = None
        return (info.st_dev, info.st_ino) if info is not None else str(path)

    refuse_repeats(option, [identity(p) for p in paths], [str(p) for p in paths], why)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets, braces or quotes."""
    parts: list[str] = []
    depth, quote, current = 0, "", []
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def vary_points(items: Sequence[str]) -> int:
    """Points of the grid ``--vary`` items make, counted before any value is parsed (a million values of
    one path take minutes to read as YAML; the count decides first whether the sweep runs at all)."""
    import math

    return math.prod(len(_split_top_level(item.split("=", 1)[1])) for item in items if "=" in item)


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``--vary PATH=V1,V2,...`` options into ``{path: [values]}``.

    Each value is YAML read as ``--set`` reads it (:func:`dpsim.inputs.load_yaml`: YAML 1.2 core,
    no tags, bounded aliases), and a value listed twice for one path is an error (it would run and
    print the same grid point twice).
    """
    from dpsim import inputs
    from dpsim.scenario import overlapping_overrides

    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise fail("--vary", f"expected PATH=V1,V2,..., got {inputs.brief(item)}")
        path, raw = item.split("=", 1)
        path = path.strip()
        if not path or any(not p for p in path.split(".")):
            raise fail("--vary", f"expected a dotted field path before '=', got {inputs.brief(item)}")
        if len(path) > 200 or not path.isprintable():
            raise fail("--vary", f"expected a dotted field path, got {inputs.brief(path)}")
        if path in grid:
            raise fail("--vary", f"{path!r} is varied twice")
        values: list[Any] = []
        texts = _split_top_level(raw)
        for text in texts:
            if not text.strip():
                raise fail("--vary", f"empty value in {inputs.brief(item)}")
            try:
                values.append(inputs.load_yaml(text, CLI_SOURCE))
            except ScenarioError as exc:
                message = f"value {inputs.brief(text.strip())} of {path} is not valid YAML: {exc.message}"
                raise fail("--vary", message) from None
        repeated = inputs.first_repeat(values)
        if repeated is not None:
            shown = inputs.brief(texts[repeated].strip())
            raise fail("--vary", f"{path} lists the value {shown} more than once (each grid point runs once)")
        grid[path] = values
        if (overlap := overlapping_overrides(list(grid.items()))) is not None:  # rows would claim values not run
            raise fail("--vary", overlap)
    return grid


def print_output(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
