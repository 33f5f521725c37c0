"""The ``dpsim`` command line: ``run``, ``sweep``, ``check``, ``catalog`` (+ commands other modules register).

Bad input of any kind (scenario fields, ``--set``/``--vary`` syntax, unknown ``--format``,
unwritable ``--out``, missing files, usage errors) prints one line
``error: <file>: <field.path>: <what is wrong>`` on stderr and exits with status 2 — never a
traceback. Output files are written to a temporary name and renamed, so nothing is left
half-written.

``dpsim/cli_runtime.py`` (``calibrate``, ``validate``) and ``dpsim/cli_plan.py`` (``plan``)
add their commands with ``register(app)``; the shared error handling lives in
:mod:`dpsim.cli_common`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from dpsim import cli_collective, cli_plan, cli_runtime
from dpsim.api import SWEEP_CONFIRM_POINTS  # sweeps larger than this need --yes (and are timed)
from dpsim.cli_common import (
    CLI_SOURCE,
    ENGINES,
    FORMATS,
    OutputLost,
    SchedulerOpt,
    Stopped,
    WorkersOpt,
    atomic_output,
    check_choice,
    check_options,
    check_writable,
    fail,
    guard_stdout,
    handle_errors,
    install_signal_cleanup,
    output_lost,
    parse_vary,
    print_output,
    refuse_same_files,
    refuse_unnameable,
    vary_points,
    warn,
)
from dpsim.errors import ScenarioError, interrupt_within, safe_text
from dpsim.units import UnitError, format_binary_size, parse_time

# typer >= 0.26 vendors click as typer._click; older versions depend on click itself
_click_exceptions: Any = importlib.import_module(
    "typer._click.exceptions" if importlib.util.find_spec("typer._click") is not None else "click.exceptions"
)

__all__ = ["CLI_SOURCE", "app", "atomic_output", "check_choice", "fail", "handle_errors", "main", "parse_vary"]

app = typer.Typer(
    name="dpsim",
    help="Predict data-parallel training step time on a cluster (closed forms, simulator), and validate it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# --- commands ---------------------------------------------------------------------------------

ScenarioArg = Annotated[
    Path | None,
    typer.Argument(
        help="Scenario YAML file, or - for stdin (default: the bundled default scenario).", show_default=False
    ),
]
AllowLongOpt = Annotated[
    bool, typer.Option("--allow-long", help="Run past the cost limit (see the estimate it prints).")
]
OOM_EXIT = 3
"""Exit status of ``dpsim run --fail-on-oom`` when the step does not fit in device memory."""
SWEEP_MAX_POINTS = 1_000_000
"""Most points one sweep runs, ``--yes`` or not: every point is a scenario held in memory until the table is
written (10^12 points were a list of a trillion dicts)."""
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a field: PATH=VALUE (VALUE is YAML). Repeatable.")
]
EngineOpt = Annotated[str, typer.Option("--engine", help="analytic (closed forms) or sim (discrete-event).")]
FormatOpt = Annotated[str, typer.Option("--format", help="table, json or csv.")]


def _run_shared(
    paths: list[Path | None],
    overrides: list[str],
    format_: str,
    placement: str,
    engine: str | None,
    allow_long: bool,
    unused: dict[str, bool],
) -> list[Any]:
    """``dpsim run A B … --shared-fabric``: one result per job (json: a list of objects; csv: one row per job).

    ``unused``: options that do not apply to a shared fabric, by name, and whether they were given.
    """
    from dpsim import report
    from dpsim.scenario import load_scenario

    if engine is not None:
        check_choice("--engine", engine, ENGINES)
        if engine != "sim":
            raise fail("--engine", "a shared fabric is simulated: leave --engine out or pass --engine sim")
    check_choice("--format", format_, FORMATS)
    check_choice("--placement", placement, ("packed", "interleaved"))
    for option, given in unused.items():
        if given:
            raise fail(option, "does not apply to --shared-fabric (one simulation of every job together)")
    if sum(str(path) == "-" for path in paths) > 1:
        raise fail("SCENARIO", "standard input (-) can be read once; give the other jobs as files")
    scenarios = [load_scenario(path, overrides=overrides) for path in paths]
    results: list[Any] = _import_engine("dpsim.sim.shared").simulate_shared(
        scenarios, placement=placement, allow_long=allow_long
    )
    if format_ == "json":
        print_output(
            "["
            + ",\n".join(report.format_result(r, "json", scenario=s) for r, s in zip(results, scenarios, strict=True))
            + "]"
        )
    elif format_ == "csv":
        print_output(report.format_results_csv(results, scenarios))
    else:
        for result, loaded in zip(results, scenarios, strict=True):
            print_output(report.format_result(result, format_, scenario=loaded))
    for warning in dict.fromkeys(r.extra.get("warning") for r in results):  # a profile's, once (as run and sweep)
        warn(warning)
    return results


@app.command()
@handle_errors
def run(
    scenario: ScenarioArg = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help="analytic (closed forms, the default) or sim (discrete-event).")
    ] = None,
    set_: SetOpt = None,
    format_: FormatOpt = "table",
    trace: Annotated[Path | None, typer.Option("--trace", help="Write a Chrome trace (sim engine).")] = None,
    gantt: Annotated[Path | None, typer.Option("--gantt", help="Write a Gantt chart PNG/SVG (sim engine).")] = None,
    allow_long: AllowLongOpt = False,
    fail_on_oom: Annotated[
        bool, typer.Option("--fail-on-oom", help=f"Exit with status {OOM_EXIT} when the step does not fit in memory.")
    ] = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    others: Annotated[
        list[Path] | None,
        typer.Argument(
            help="More scenarios: jobs sharing one fabric with the first (needs --shared-fabric).", show_default=False
        ),
    ] = None,
    shared_fabric: Annotated[
        bool,
        typer.Option(
            "--shared-fabric", help="Run the jobs on one fabric, every DP group at chunk level on one network."
        ),
    ] = False,
    placement: Annotated[
        str, typer.Option("--placement", help="Nodes of the jobs on the shared fabric: packed or interleaved.")
    ] = "packed",
) -> None:
    """Predict one training step of a scenario (or of several jobs sharing one fabric)."""
    from dpsim import api, execution, report
    from dpsim.scenario import load_scenario

    if others and not shared_fabric:
        raise fail("SCENARIO", "several scenarios run together only with --shared-fabric")
    if shared_fabric:
        unused = {"--trace": trace is not None, "--gantt": gantt is not None, "--workers": workers is not None,
                  "--scheduler": scheduler is not None}  # fmt: skip
        results = _run_shared([scenario, *(others or [])], set_ or [], format_, placement, engine, allow_long, unused)
        _fail_on_oom(fail_on_oom, results)
        return
    if placement != "packed":
        raise fail("--placement", "places the jobs of --shared-fabric; a single run has no placement")
    engine = "analytic" if engine is None else engine
    execution.check_options(workers, scheduler)
    check_choice("--engine", engine, ENGINES)
    check_choice("--format", format_, FORMATS)
    if (trace or gantt) and engine != "sim":
        raise fail("--trace" if trace else "--gantt", "traces and Gantt charts need --engine sim")
    if trace:
        check_writable(trace, "--trace", (".json",), [scenario])
    if gantt:
        check_writable(gantt, "--gantt", (".png", ".svg", ".pdf"), [scenario])
    loaded = load_scenario(scenario, overrides=set_ or ())
    if trace or gantt:
        sim = _import_engine("dpsim.sim")
        result, timeline = sim.simulate_timeline(loaded, allow_long=allow_long)
        trace_mod = _import_engine("dpsim.sim.trace")
        if trace:
            with atomic_output(trace, "--trace") as tmp:
                trace_mod.write_chrome_trace(timeline, tmp)
        if gantt:
            with atomic_output(gantt, "--gantt") as tmp:
                trace_mod.write_gantt(timeline, tmp)
    else:
        result = api.run(loaded, engine=engine, allow_long=allow_long, workers=workers, scheduler=scheduler)
    print_output(report.format_result(result, format_, scenario=loaded))
    warn(result.extra.get("warning"))
    _fail_on_oom(fail_on_oom, [result])


def _fail_on_oom(enabled: bool, results: Sequence[Any]) -> None:
    """``--fail-on-oom``: an ``oom:`` line for the first result that does not fit, and exit status 3."""
    for result in results:
        if enabled and result.oom:
            typer.echo(
                f"oom: {safe_text(result.scenario)}: needs {format_binary_size(result.memory_per_device_bytes)}"
                f" per device, has {format_binary_size(result.memory_capacity_bytes)}",
                err=True,
            )
            raise typer.Exit(OOM_EXIT)


def _max_time(text: str | None) -> float | None:
    """``dpsim sweep --max-time``'s duration in seconds (``"10 min"``, ``"300 s"``), more than zero; None without it."""
    if text is None:
        return None
    try:
        seconds = parse_time(text)
    except UnitError as exc:
        raise fail("--max-time", str(exc)) from None
    if not seconds > 0:
        raise fail("--max-time", f"expected a duration above zero like '10 min', got {safe_text(repr(text))}")
    return seconds


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
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            help=f"Run sweeps of more than {SWEEP_CONFIRM_POINTS:,} points (timed on a sample first: past the cost "
            "limit they need --allow-long too).",
        ),
    ] = False,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Keep the points finished by an interrupted run of this sweep (--out).")
    ] = False,
    allow_long: AllowLongOpt = False,
    max_time: Annotated[
        str | None,
        typer.Option(
            "--max-time",
            help="Refuse, before any point runs, a sweep priced past this much CPU time (e.g. '10 min'), priced "
            "from its scenarios alone.",
        ),
    ] = None,
) -> None:
    """Run a grid of scenario variants and tabulate (or plot) the results.

    With --out F, finished points are appended to F.partial.jsonl as they arrive
    (deleted when the sweep completes); --resume skips the points already there.
    """
    from dpsim import api, execution, report

    execution.check_options(workers, scheduler)
    check_choice("--engine", engine, ENGINES)
    check_choice("--format", format_, FORMATS)
    points = vary_points(vary or [])  # counted before the values are read: a million of them take minutes
    if points > SWEEP_MAX_POINTS:
        raise fail(
            "--vary",
            f"this sweep has {points:,} points, more than the {SWEEP_MAX_POINTS:,} one sweep runs "
            "(even with --yes): split it into several",
        )
    if points > SWEEP_CONFIRM_POINTS and not yes:
        raise fail(
            "--vary",
            f"this sweep has {points:,} points (more than {SWEEP_CONFIRM_POINTS:,}); pass --yes to run it",
        )
    grid = parse_vary(vary or [])
    if not grid:
        raise fail("--vary", "give at least one --vary PATH=V1,V2,...")
    if out:
        check_writable(out, "--out", (".csv", ".parquet"), [scenario])
    if plot:
        check_writable(plot, "--plot", (".png", ".svg", ".pdf"), [scenario])
    points = math.prod(len(v) for v in grid.values())
    show_progress = points >= 200 or (engine == "sim" and points > 1)
    if resume and not out:
        raise fail("--resume", "needs --out FILE: the partial results are kept next to it")
    max_time_s = _max_time(max_time)
    partial = out.with_name(out.name + ".partial.jsonl") if out else None
    if partial is not None:
        refuse_unnameable("--out", str(partial), f"its partial results {safe_text(repr(partial.name[:60]))}...")
        check_writable(partial, "--out", (".jsonl",), [scenario])  # the partial results beside it (not a directory)
    # an earlier run's partial results are replaced once the sweep starts (after its up-front checks): said in the
    # one error line of a sweep that then fails (a sweep that finishes leaves none; one refused up front leaves them)
    replacing = partial is not None and partial.exists() and not resume
    earlier = "from an earlier run was replaced (--resume keeps its finished points)"
    try:
        frame = api.sweep(
            scenario,
            grid,
            engine=engine,
            overrides=set_ or (),
            progress=show_progress,
            workers=workers,
            scheduler=scheduler,
            partial_file=partial,
            resume=resume,
            allow_long=allow_long,
            max_time_s=max_time_s,
        )
    except api.SweepError as exc:
        if replacing and partial is not None:
            raise ScenarioError(exc.field, f"{exc.message}; {partial.name} {earlier}", exc.source) from None
        raise
    if out:
        with atomic_output(out, "--out") as tmp:
            if out.suffix.lower() == ".parquet":
                try:
                    report.parquet_frame(frame).to_parquet(tmp, index=False)
                except ImportError:
                    raise fail("--out", "writing parquet needs pyarrow (pip install pyarrow)") from None
            else:
                report.csv_frame(frame).to_csv(tmp, index=False)
    if plot:
        from dpsim import plots

        with atomic_output(plot, "--plot") as tmp:
            plots.scaling_plot(frame, list(grid), tmp)
    print_output(report.format_frame(frame, format_, columns=list(grid)))
    for warning in dict.fromkeys(frame["warning"].dropna() if "warning" in frame else ()):  # each profile's once
        warn(warning)


@app.command()
@handle_errors
def check(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file, or - for stdin.")],
    set_: SetOpt = None,
    dump: Annotated[
        bool, typer.Option("--dump", help="Print the resolved scenario (YAML; with --format json, one JSON object).")
    ] = False,
    format_: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Validate a scenario and print a summary with derived values.

    --format json prints one object: {"valid": true, "scenario": {...}, "derived": {...}},
    or {"valid": false, "error": {"source", "field", "message"}} (exit status 2). --dump
    prints the resolved scenario alone: YAML, or with --format json the same mapping as one
    JSON object (JSON is YAML 1.2, so either loads back to an equal scenario).
    """
    from dpsim import report
    from dpsim.calibration import profile_for, profile_mismatch
    from dpsim.scenario import dump_scenario, load_scenario, scenario_data, scenario_source

    check_choice("--format", format_, ("table", "json"))
    try:
        loaded = load_scenario(scenario, overrides=set_ or ())
        profile = profile_for(loaded)  # the profile it names is read and checked too: `run` would refuse it
    except ScenarioError as exc:
        if format_ == "json":
            error = {"source": exc.source, "field": exc.field, "message": exc.message}
            print_output(report.to_json({"valid": False, "error": error}))
        raise
    warn(profile_mismatch(loaded, profile))  # valid, and priced on another machine's measurements
    if dump:
        print_output(report.to_json(scenario_data(loaded)) if format_ == "json" else dump_scenario(loaded))
        return
    if format_ == "json":
        print_output(report.scenario_json(loaded, source=scenario_source(scenario)))
        return
    print_output(report.scenario_summary(loaded, source=scenario_source(scenario)))


@app.command()
@handle_errors
def schema() -> None:
    """Print the JSON schema of a scenario file (for editors and validators)."""
    import json

    from dpsim.scenario import scenario_schema

    print_output(json.dumps(scenario_schema(), indent=2))


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
    print_output(report.format_catalog([kind] if kind else list(kinds), format_))


@app.command("report")
@handle_errors
def report_command(
    results: Annotated[
        list[Path],
        typer.Argument(
            help="Result files: run/sweep/plan JSON, sweep/plan/validation CSV, records JSONL, a --trace JSON, "
            "scenario YAML."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML page to write.")],
    title: Annotated[str | None, typer.Option("--title", help="Page title (default: from the inputs).")] = None,
) -> None:
    """Write one self-contained HTML page (no network) for runs, sweeps, plans and validations."""
    from dpsim import html_report
    from dpsim.inputs import printable_name

    check_writable(output, "--output", (".html", ".htm"), results)
    if len(results) > html_report.MAX_INPUTS:  # each is read, checked and drawn: 0.1 s a run result
        raise fail("results", f"{len(results):,} files; one page takes at most {html_report.MAX_INPUTS} (make several)")
    refuse_same_files("results", results, "each is drawn once")
    if title is not None:
        try:
            printable_name(title, 200)
        except ValueError as exc:
            raise fail("--title", str(exc)) from None
    page = html_report.build_report(results, title)
    with atomic_output(output, "--output") as tmp:
        tmp.write_text(page, encoding="utf-8")
    typer.echo(f"wrote {safe_text(str(output))} ({len(page.encode()) / 1e3:,.0f} kB)")


def _import_engine(name: str) -> Any:
    """Import an optional engine module, with a one-line error if it is not installed."""
    if importlib.util.find_spec(name) is None:
        raise fail("--engine", f"{name} is not available in this installation")
    return importlib.import_module(name)


# --- entry point --------------------------------------------------------------------------------


@functools.cache
def _command() -> Any:
    """The click command of :data:`app`, built once (typer builds it on every call: 30 ms)."""
    return typer.main.get_command(app)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: exit 2 with one ``error:`` line on any usage error, never a traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    console = argv is None  # the console script, not an in-process call (tests, notebooks)
    if console:
        install_signal_cleanup()
        guard_stdout()  # an encoding without 'µ', a closed pipe, a full disk (cli_common.OutputLost)
    if sys.stdout is None:  # started with stdout closed (`>&-`): what it prints is dropped, as click's echo does
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - open for the process's life
    try:
        try:
            _dispatch(args)
        finally:
            if console:
                sys.stdout.flush()  # a failed write is reported while it still can be, not at the interpreter's exit
    except OutputLost as exc:
        sys.exit(output_lost(exc))


def _dispatch(args: list[str]) -> None:
    """Run the command ``args`` and exit with its status (2 and one ``error:`` line on bad input)."""
    try:
        command = _command()
        check_options(command, args)
        code = command(args=args, prog_name="dpsim", standalone_mode=False)
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
    except Stopped as exc:
        typer.echo(f"error: stopped by {exc.name}", err=True)
        raise
    except ScenarioError as exc:
        typer.echo(f"error: {exc.one_line()}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        stop = interrupt_within(exc)
        if not isinstance(stop, Stopped):
            raise
        typer.echo(f"error: stopped by {stop.name}", err=True)  # a library wrapped the signal's Stopped
        raise stop from None
    sys.exit(code if isinstance(code, int) else 0)


# --- commands of the runtime (calibrate, validate) and the planner (plan) -------------------------
cli_runtime.register(app)
cli_plan.register(app)
cli_collective.register(app)

if __name__ == "__main__":  # pragma: no cover
    main()
