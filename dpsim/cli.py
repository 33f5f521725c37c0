"""The ``dpsim`` command line: ``run``, ``sweep``, ``check``, ``catalog`` (+ commands other modules register).

Bad input of any kind (scenario fields, ``--set``/``--vary`` syntax, unknown ``--format``,
unwritable ``--out``, missing files, usage errors) prints one line
``error: <file>: <field.path>: <what is wrong>`` on stderr and exits with status 2 — never a
traceback. Output files are written to a temporary name and renamed, so nothing is left
half-written.

Extra command modules register themselves at the bottom of this file:
``dpsim/cli_runtime.py`` (``calibrate``, ``validate``) and ``dpsim/cli_plan.py`` (``plan``),
each with ``def register(app: typer.Typer) -> None``; they should wrap their commands in
:func:`handle_errors`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from dpsim.errors import ScenarioError

# typer >= 0.26 vendors click as typer._click; older versions depend on click itself
_click_exceptions: Any = importlib.import_module(
    "typer._click.exceptions" if importlib.util.find_spec("typer._click") is not None else "click.exceptions"
)

__all__ = ["CLI_SOURCE", "app", "atomic_output", "check_choice", "fail", "handle_errors", "main", "parse_vary"]

CLI_SOURCE = "<command line>"
"""``source`` of errors in command-line arguments (as opposed to a scenario file)."""

FORMATS = ("table", "json", "csv")
ENGINES = ("analytic", "sim")

app = typer.Typer(
    name="dpsim",
    help="Predict data-parallel training step time on a cluster (closed forms, simulator), and validate it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_F = TypeVar("_F", bound=Callable[..., Any])


def fail(field: str, message: str, source: str = CLI_SOURCE) -> ScenarioError:
    """A :class:`ScenarioError` for a bad command-line argument (raise it)."""
    return ScenarioError(field, message, source)


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


def check_choice(option: str, value: str, choices: Sequence[str]) -> str:
    """Validate an option against its allowed values (one-line error naming the option)."""
    if value not in choices:
        raise fail(option, f"expected one of {', '.join(choices)}, got {value!r}")
    return value


@contextmanager
def atomic_output(path: Path, option: str) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (same suffix); rename it onto ``path`` on success.

    Raises a one-line error for an unwritable destination, and removes the temporary file
    on failure so nothing is left half-written.
    """
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise fail(option, f"cannot write {str(path)!r}: directory {str(directory)!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise fail(option, f"cannot write {str(path)!r}: directory {str(directory)!r} is not writable")
    if path.is_dir():
        raise fail(option, f"cannot write {str(path)!r}: it is a directory")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        raise fail(option, f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_writable(path: Path, option: str, suffixes: Sequence[str]) -> None:
    """Fail before any work is done when ``path`` has a wrong suffix or cannot be written."""
    if path.suffix.lower() not in suffixes:
        raise fail(option, f"{str(path)!r}: expected a file ending in {', '.join(suffixes)}")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise fail(option, f"cannot write {str(path)!r}: directory {str(directory)!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise fail(option, f"cannot write {str(path)!r}: directory {str(directory)!r} is not writable")
    if path.is_dir():
        raise fail(option, f"cannot write {str(path)!r}: it is a directory")


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


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``--vary PATH=V1,V2,...`` options into ``{path: [values]}`` (values parsed as YAML)."""
    import yaml

    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise fail("--vary", f"expected PATH=V1,V2,..., got {item!r}")
        path, raw = item.split("=", 1)
        path = path.strip()
        if not path or any(not p for p in path.split(".")):
            raise fail("--vary", f"expected a dotted field path before '=', got {item!r}")
        if path in grid:
            raise fail("--vary", f"{path!r} is varied twice")
        values: list[Any] = []
        for text in _split_top_level(raw):
            if not text.strip():
                raise fail("--vary", f"empty value in {item!r}")
            try:
                values.append(yaml.safe_load(text))
            except yaml.YAMLError:
                raise fail("--vary", f"value {text.strip()!r} of {path} is not valid YAML") from None
        grid[path] = values
    return grid


def _print_output(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


# --- commands ---------------------------------------------------------------------------------

ScenarioArg = Annotated[
    Path | None, typer.Argument(help="Scenario YAML file (default: the bundled default scenario).", show_default=False)
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a field: PATH=VALUE (VALUE is YAML). Repeatable.")
]
EngineOpt = Annotated[str, typer.Option("--engine", help="analytic (closed forms) or sim (discrete-event).")]
FormatOpt = Annotated[str, typer.Option("--format", help="table, json or csv.")]


@app.command()
@handle_errors
def run(
    scenario: ScenarioArg = None,
    engine: EngineOpt = "analytic",
    set_: SetOpt = None,
    format_: FormatOpt = "table",
    trace: Annotated[Path | None, typer.Option("--trace", help="Write a Chrome trace (sim engine).")] = None,
    gantt: Annotated[Path | None, typer.Option("--gantt", help="Write a Gantt chart PNG/SVG (sim engine).")] = None,
) -> None:
    """Predict one training step of a scenario."""
    from dpsim import api, report
    from dpsim.scenario import load_scenario

    check_choice("--engine", engine, ENGINES)
    check_choice("--format", format_, FORMATS)
    if (trace or gantt) and engine != "sim":
        raise fail("--trace" if trace else "--gantt", "traces and Gantt charts need --engine sim")
    if trace:
        _check_writable(trace, "--trace", (".json",))
    if gantt:
        _check_writable(gantt, "--gantt", (".png", ".svg", ".pdf"))
    loaded = load_scenario(scenario, overrides=set_ or ())
    if trace or gantt:
        sim = _import_engine("dpsim.sim")
        result, timeline = sim.simulate_timeline(loaded)
        trace_mod = _import_engine("dpsim.sim.trace")
        if trace:
            with atomic_output(trace, "--trace") as tmp:
                trace_mod.write_chrome_trace(timeline, tmp)
        if gantt:
            with atomic_output(gantt, "--gantt") as tmp:
                trace_mod.write_gantt(timeline, tmp)
    else:
        result = api.run(loaded, engine=engine)
    _print_output(report.format_result(result, format_))


@app.command()
@handle_errors
def sweep(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    vary: Annotated[
        list[str] | None, typer.Option("--vary", help="PATH=V1,V2,... (repeatable: the grid is the product).")
    ] = None,
    engine: EngineOpt = "analytic",
    set_: SetOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the table to FILE.csv or FILE.parquet.")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a scaling plot to FILE.png or FILE.svg.")] = None,
    format_: FormatOpt = "table",
) -> None:
    """Run a grid of scenario variants and tabulate (or plot) the results."""
    from dpsim import api, report

    check_choice("--engine", engine, ENGINES)
    check_choice("--format", format_, FORMATS)
    grid = parse_vary(vary or [])
    if not grid:
        raise fail("--vary", "give at least one --vary PATH=V1,V2,...")
    if out:
        _check_writable(out, "--out", (".csv", ".parquet"))
    if plot:
        _check_writable(plot, "--plot", (".png", ".svg", ".pdf"))
    points = math.prod(len(v) for v in grid.values())
    show_progress = points >= 200 or (engine == "sim" and points > 1)
    frame = api.sweep(
        scenario, grid, engine=engine, overrides=set_ or (), progress=show_progress and sys.stderr.isatty()
    )
    if out:
        with atomic_output(out, "--out") as tmp:
            if out.suffix.lower() == ".parquet":
                try:
                    frame.to_parquet(tmp, index=False)
                except ImportError:
                    raise fail("--out", "writing parquet needs pyarrow (pip install pyarrow)") from None
            else:
                frame.to_csv(tmp, index=False)
    if plot:
        from dpsim import plots

        with atomic_output(plot, "--plot") as tmp:
            plots.scaling_plot(frame, list(grid), tmp)
    _print_output(report.format_frame(frame, format_, columns=list(grid)))


@app.command()
@handle_errors
def check(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    set_: SetOpt = None,
    dump: Annotated[bool, typer.Option("--dump", help="Print the resolved scenario as YAML.")] = False,
) -> None:
    """Validate a scenario and print a summary with derived values."""
    from dpsim import report
    from dpsim.scenario import dump_scenario, load_scenario

    loaded = load_scenario(scenario, overrides=set_ or ())
    if dump:
        _print_output(dump_scenario(loaded))
        return
    _print_output(report.scenario_summary(loaded, source=str(scenario)))


@app.command()
@handle_errors
def catalog(
    kind: Annotated[str | None, typer.Argument(help="devices, links or models (default: all).")] = None,
    format_: FormatOpt = "table",
) -> None:
    """List the devices, links and models known by name."""
    from dpsim import report

    check_choice("--format", format_, FORMATS)
    kinds = ("devices", "links", "models")
    if kind is not None:
        check_choice("kind", kind, kinds)
    _print_output(report.format_catalog([kind] if kind else list(kinds), format_))


def _import_engine(name: str) -> Any:
    """Import an optional engine module, with a one-line error if it is not installed."""
    if importlib.util.find_spec(name) is None:
        raise fail("--engine", f"{name} is not available in this installation")
    return importlib.import_module(name)


# --- entry point --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: exit 2 with one ``error:`` line on any usage error, never a traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = app(args=args, prog_name="dpsim", standalone_mode=False)
    except _click_exceptions.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `dpsim`: show the help
            typer.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
            sys.exit(0)
        message = " ".join(str(exc.format_message()).split())
        ctx_name = exc.ctx.command_path if exc.ctx is not None else "dpsim"
        typer.echo(f"error: {CLI_SOURCE}: {ctx_name}: {message}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except ScenarioError as exc:
        typer.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(code if isinstance(code, int) else 0)


# --- extra command modules (registered last, so they can reuse everything above) ----------------
for _module_name in ("dpsim.cli_runtime", "dpsim.cli_plan"):
    if importlib.util.find_spec(_module_name) is not None:
        importlib.import_module(_module_name).register(app)

if __name__ == "__main__":  # pragma: no cover
    main()
