"""``dpsim plan``: capacity planning from the command line (see :mod:`dpsim.plan`).

Example::

    dpsim plan --model llama2-7b --tokens 2T --device a100-80gb --device h100-sxm \\
        --max-devices 1024 --price a100-80gb=1.8 --price h100-sxm=3.0 --deadline "30 days" \\
        --out plan.csv --plot pareto.png

Bad arguments print one ``error: ...`` line and exit with status 2.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dpsim.cli_common import SchedulerOpt, WorkersOpt

if TYPE_CHECKING:
    from dpsim.plan import PlanResult

__all__ = ["format_plan", "register"]

TABLE_WIDTH = 100
"""The table fits this many columns; every field is in ``--format json`` / ``csv`` / ``--out``."""

_TABLE_COLUMNS = (
    ("rank", "#"),
    ("device", "device"),
    ("devices", "n"),
    ("layout", "TPxPPxDP"),
    ("zero_stage", "ZeRO"),
    ("batching", "mb x k"),
    ("options", "options"),
    ("step_time_s", "step"),
    ("mfu", "MFU"),
    ("memory_bytes", "memory"),
    ("time_to_train_s", "time"),
    ("cost", "cost"),
)


def _days(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-"
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} d"
    return f"{seconds / 3600:.1f} h"


_SHORT = {"hierarchical": "hier", "halving-doubling": "hd", "interleaved": "interl", "parameter-server": "ps",
          "selective": "sel"}  # fmt: skip


def _options(row: Mapping[Any, Any]) -> str:
    """Schedule (only with a pipeline), recomputation, sequence parallelism and algorithm, tersely."""
    parts = []
    if int(row.get("pp", 1)) > 1 and row.get("schedule"):
        parts.append(_SHORT.get(str(row["schedule"]), str(row["schedule"])))
    if row.get("recomputation", "none") not in ("none", None):
        parts.append(f"rc-{_SHORT.get(str(row['recomputation']), row['recomputation'])}")
    if bool(row.get("sequence_parallel", False)):
        parts.append("SP")
    if int(row.get("dp", 1)) > 1 and row.get("algorithm"):
        parts.append(_SHORT.get(str(row["algorithm"]), str(row["algorithm"])))
    return " ".join(parts) or "-"


def _cell(column: str, row: Mapping[Any, Any], currency: str) -> str:
    value: Any = row.get(column)
    if column == "layout":
        return f"{row['tp']}x{row['pp']}x{row['dp']}"
    if column == "batching":
        return f"{row['micro_batch']}x{row['accumulation']}"
    if column == "options":
        return _options(row)
    if column == "memory_bytes":
        return f"{float(value) / 2**30:.1f} GiB"  # device memory: binary units (80 GiB, not 85.9 GB)
    if column == "step_time_s":
        return f"{float(value):.3g} s"
    if column == "mfu":
        return f"{100 * float(value):.1f} %"
    if column == "time_to_train_s":
        return _days(float(value))
    if column == "cost":
        return "-" if value is None or math.isnan(float(value)) else f"{float(value):,.0f}"
    return str(value)


def format_plan(result: PlanResult, format_: str, currency: str = "") -> str:
    """The ranked table as text (at most :data:`TABLE_WIDTH` columns), CSV, or one JSON object."""
    ranked = result.ranked
    if format_ == "csv":
        return str(ranked.to_csv(index=False))
    if format_ == "json":
        summary = {
            "model": result.request.model,
            "tokens": result.request.tokens,
            "searched": result.searched,
            "valid": len(result.candidates),
            "feasible": int((~result.candidates["oom"]).sum()) if len(result.candidates) else 0,
            "configs_per_s": result.configs_per_s,
            "currency": currency,
            "notes": result.notes,
            "ranked": json.loads(ranked.to_json(orient="records")),
        }
        return json.dumps(summary)
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    feasible = int((~result.candidates["oom"]).sum()) if len(result.candidates) else 0
    title = (
        f"{result.request.model}, {result.request.tokens:.3g} tokens: {result.searched:,} searched, "
        f"{len(result.candidates):,} valid, {feasible:,} fit in memory"
    )
    from dpsim.report import user_text

    table = Table(title=user_text(title), title_justify="left", box=None, padding=(0, 1, 0, 0), pad_edge=False)
    columns = [(c, h) for c, h in _TABLE_COLUMNS if c in ranked.columns or c in ("layout", "batching", "options")]
    if "sim_step_time_s" in ranked.columns:
        columns.insert(columns.index(("mfu", "MFU")), ("sim_step_time_s", "sim"))
    rows = []
    for row in ranked.to_dict("records"):
        cells = []
        for column, _ in columns:
            if column == "sim_step_time_s":
                value = float(row[column])
                cells.append("-" if math.isnan(value) else f"{value:.3g} s")
            else:
                cells.append(_cell(column, row, currency))
        rows.append(cells)
    headers = [f"cost ({currency})" if column == "cost" and currency else header for column, header in columns]
    widths = [max(len(text) for text in [header, *(cells[i] for cells in rows)]) for i, header in enumerate(headers)]
    # only the options may be cut short (they are in full in --format json / csv); every other column keeps its
    # widest cell: rich shrank them all alike, so 1024 and 2048 devices both read "10…" / "20…" beside "h100-s…"
    spare = TABLE_WIDTH - sum(w + 1 for (column, _), w in zip(columns, widths, strict=True) if column != "options")
    for (column, _), header, width in zip(columns, headers, widths, strict=True):
        cut = column == "options"
        table.add_column(header, justify="left" if column == "device" else "right", no_wrap=True,
                         min_width=None if cut else width, max_width=max(spare, 7) if cut else None)  # fmt: skip
    for cells in rows:
        table.add_row(*cells)
    buffer = StringIO()
    Console(file=buffer, width=TABLE_WIDTH, color_system=None).print(table)
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    heading = next((i for i, line in enumerate(lines) if line.lstrip().startswith("#")), None)
    if heading is not None:  # a rule under the header (no box: column separators would not fit)
        lines.insert(heading + 1, "-" * len(lines[heading]))
    text = "\n".join(lines) + "\n"
    text += "(every column, and schedules/algorithms in full: --format json or csv)\n"
    for note in result.notes:
        text += f"note: {note}\n"
    return text


def _list(option: str, text: str) -> list[str]:
    """The comma-separated entries of ``text``: none empty, none repeated (each would be searched twice)."""
    from dpsim.cli_common import fail, refuse_repeats
    from dpsim.inputs import brief

    entries = [v.strip() for v in text.split(",")]
    if not any(entries):
        raise fail(option, f"expected a comma-separated list, got {brief(text)}")
    if not all(entries):
        raise fail(option, f"empty entry in {brief(text)}")
    refuse_repeats(option, entries, why="each option is searched once")
    return entries


def _ints(option: str, text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    from dpsim.cli_common import fail, refuse_repeats
    from dpsim.inputs import MAX_INT_DIGITS

    if text is None:
        return default
    entries = _list(option, text)
    if not all(re.fullmatch(rf"[+-]?[0-9]{{1,{MAX_INT_DIGITS}}}", v) for v in entries):  # ASCII digits only
        raise fail(option, f"expected comma-separated integers, got {text!r}")
    values = tuple(int(v) for v in entries)
    refuse_repeats(option, values, entries, "each option is searched once")  # 01 is 1
    if any(v < 1 and option != "--zero" for v in values):
        raise fail(option, f"expected comma-separated positive integers, got {text!r}")
    return values


def _words(option: str, text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    if text is None:
        return default
    return tuple(_list(option, text))


_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


def _prices(items: list[str] | None, devices: tuple[str, ...]) -> dict[str, float] | float | None:
    from dpsim import catalog
    from dpsim.cli_common import fail
    from dpsim.scenario import MAX_PRICE
    from dpsim.units import underflows, unsigned_zero

    if not items:
        return None
    per_device: dict[str, float] = {}
    single: float | None = None
    for item in items:
        name, sep, value = item.rpartition("=")
        if not _NUMBER.fullmatch(value.strip()):  # ASCII: float() reads "\u0661" as 1 and "nan" as NaN
            raise fail("--price", f"expected PRICE or DEVICE=PRICE (per device-hour), got {item!r}")
        price = unsigned_zero(float(value))
        if not math.isfinite(price) or price < 0:
            raise fail("--price", f"must be a non-negative number, got {item!r}")
        if price > MAX_PRICE:  # else refused later as the scenario field the planner sets from it
            raise fail("--price", f"expected at most {MAX_PRICE:,.0f} per device-hour, got {item!r}")
        if price == 0 and underflows(value.strip()):
            raise fail("--price", f"{item!r} is too small for a float and would be read as 0: write 0")
        key = name.strip().lower() if sep else None
        if key is not None:  # a typo was dropped without a word when a price for every device was given too
            try:
                catalog.lookup(catalog.DEVICES, key, "device")
            except KeyError as exc:
                raise fail("--price", f"{item!r}: {exc.args[0]}") from None
        if (key in per_device) if key is not None else (single is not None):
            raise fail("--price", f"{'a price for ' + repr(key) if key else 'a price for every device'} is given twice")
        if key is not None:
            per_device[key] = price
        else:
            single = price
    if single is not None:
        return {d: per_device.get(d, single) for d in devices} if per_device else single
    return per_device


def register(app: typer.Typer) -> None:
    """Add ``dpsim plan`` to the CLI."""
    from dpsim.cli_common import (
        CLI_SOURCE,
        FORMATS,
        atomic_output,
        check_choice,
        check_writable,
        fail,
        handle_errors,
        refuse_repeats,
    )
    from dpsim.errors import ScenarioError

    @app.command("plan")
    @handle_errors
    def plan_command(
        model: Annotated[str, typer.Option("--model", help="Catalog model (dpsim catalog models).")],
        tokens: Annotated[str, typer.Option("--tokens", help="Token budget, e.g. 2T or 1.4e12.")],
        max_devices: Annotated[int, typer.Option("--max-devices", help="Largest device count to consider.")],
        device: Annotated[
            list[str] | None, typer.Option("--device", help="Catalog device type (repeatable). Default a100-80gb.")
        ] = None,
        min_devices: Annotated[int, typer.Option("--min-devices", help="Smallest device count.")] = 1,
        workers_per_node: Annotated[int, typer.Option("--workers-per-node", help="Devices per node.")] = 8,
        global_batch: Annotated[
            int | None, typer.Option("--global-batch", help="Samples per step (default: ~4M tokens).")
        ] = None,
        deadline: Annotated[
            str | None, typer.Option("--deadline", help="Latest time to train, e.g. '30 days'.")
        ] = None,
        price: Annotated[
            list[str] | None, typer.Option("--price", help="Price per device-hour: PRICE or DEVICE=PRICE (repeatable).")
        ] = None,
        node_mtbf: Annotated[str | None, typer.Option("--node-mtbf", help="Node MTBF, e.g. '50000 h'.")] = None,
        checkpoint_write: Annotated[str, typer.Option("--checkpoint-write", help="Checkpoint write time.")] = "0 s",
        restart: Annotated[str, typer.Option("--restart", help="Restart time after a failure.")] = "0 s",
        tp: Annotated[str | None, typer.Option("--tp", help="Tensor-parallel degrees, e.g. 1,2,4,8.")] = None,
        pp: Annotated[str | None, typer.Option("--pp", help="Pipeline-parallel degrees, e.g. 1,2,4,8,16,32.")] = None,
        zero: Annotated[str | None, typer.Option("--zero", help="ZeRO stages, e.g. 0,1,2,3.")] = None,
        micro_batch: Annotated[
            str | None, typer.Option("--micro-batch", help="Micro-batch sizes, e.g. 1,2,4,8.")
        ] = None,
        recompute: Annotated[
            str | None, typer.Option("--recompute", help="Activation recomputation: none,selective,full.")
        ] = None,
        algorithm: Annotated[
            str | None,
            typer.Option(
                "--algorithm", help="All-reduce algorithms (default auto, as run), e.g. auto,ring,hierarchical."
            ),
        ] = None,
        sequence_parallel_kind: Annotated[
            str,
            typer.Option(
                "--sequence-parallel-kind",
                help="How sequence parallelism runs where a configuration has it: megatron or dtensor (torchtitan's).",
            ),
        ] = "megatron",
        objective: Annotated[str, typer.Option("--objective", help="auto, time or cost.")] = "auto",
        top: Annotated[int, typer.Option("--top", help="Configurations to re-check exactly and show.")] = 10,
        simulate: Annotated[
            int | None,
            typer.Option("--simulate", help="Re-check the best N of --top with the simulator (default 3; 0: none)."),
        ] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Write the ranked table to FILE.csv.")] = None,
        all_out: Annotated[
            Path | None, typer.Option("--all", help="Write every screened configuration to FILE.csv.")
        ] = None,
        plot: Annotated[Path | None, typer.Option("--plot", help="Write the Pareto plot (time vs cost) PNG.")] = None,
        format_: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
        currency: Annotated[
            str, typer.Option("--currency", help="Currency of --price, shown with costs (e.g. USD, EUR).")
        ] = "USD",
        progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
        workers: WorkersOpt = None,
        scheduler: SchedulerOpt = None,
        allow_long: Annotated[
            bool, typer.Option("--allow-long", help="Run past the cost limit (see the estimate it prints).")
        ] = False,
    ) -> None:
        """Plan a training run: devices, counts and parallel layouts ranked by time to train and cost."""
        from dpsim import execution
        from dpsim import plan as planner
        from dpsim.units import UnitError, parse_count, parse_time

        execution.check_options(workers, scheduler)
        check_choice("--format", format_, FORMATS)
        check_choice("--objective", objective, ("auto", "time", "cost"))
        if not currency.strip() or len(currency) > 8 or not currency.isprintable():
            raise fail("--currency", "expected a short currency name such as USD or EUR")

        def quantity(option: str, text: str | None, parse: Any) -> float | None:
            if text is None:
                return None
            try:
                return float(parse(text))
            except UnitError as exc:
                raise fail(option, str(exc)) from None

        devices = tuple(d.strip().lower() for d in (device or ["a100-80gb"]))
        refuse_repeats("--device", devices, why="each device type is searched once")
        for path, option, suffixes in ((out, "--out", (".csv",)), (all_out, "--all", (".csv",))):
            if path is not None:
                check_writable(path, option, suffixes)
        if plot is not None:
            check_writable(plot, "--plot", (".png", ".svg", ".pdf"))
        if out is not None and all_out is not None and out.resolve() == all_out.resolve():
            raise fail("--all", f"{str(all_out)!r} is also --out: give the two tables different files")
        base = planner.PlanRequest(model="gpt2-small", tokens=1.0, devices=("a100-80gb",), max_devices=1)
        options: dict[str, Any] = {
            "model": model.strip().lower(),
            "tokens": quantity("--tokens", tokens, parse_count) or 0.0,
            "devices": devices,
            "max_devices": max_devices,
            "min_devices": min_devices,
            "workers_per_node": workers_per_node,
            "global_batch": global_batch,
            "deadline_s": quantity("--deadline", deadline, parse_time),
            "price_per_device_hour": _prices(price, devices),
            "node_mtbf_s": quantity("--node-mtbf", node_mtbf, parse_time),
            "checkpoint_s": quantity("--checkpoint-write", checkpoint_write, parse_time) or 0.0,
            "restart_s": quantity("--restart", restart, parse_time) or 0.0,
            "tensor_parallel": _ints("--tp", tp, base.tensor_parallel),
            "pipeline_parallel": _ints("--pp", pp, base.pipeline_parallel),
            "zero_stages": _ints("--zero", zero, base.zero_stages),
            "micro_batches": _ints("--micro-batch", micro_batch, base.micro_batches),
            "recomputation": _words("--recompute", recompute, base.recomputation),
            "algorithms": _words("--algorithm", algorithm, base.algorithms),
            "sequence_parallel_kind": sequence_parallel_kind.strip().lower(),
            "top": top,
            "simulate": min(3, top) if simulate is None else simulate,  # the default never exceeds --top
            "objective": objective,
            "allow_long": allow_long,
        }
        try:
            request = planner.PlanRequest(**options)
        except ScenarioError as exc:
            raise exc.with_source(CLI_SOURCE) from None
        with execution.open_executor(workers, scheduler) as executor:
            result = _run_with_progress(planner, request, progress, executor)
        if not len(result.ranked):  # an error: nothing written (--format json still prints why, with the counts)
            if format_ == "json":
                sys.stdout.write(format_plan(result, format_, currency) + "\n")
            raise fail("plan", result.notes[-1] if result.notes else "no feasible configuration")
        if out is not None:
            with atomic_output(out, "--out") as tmp:
                result.ranked.to_csv(tmp, index=False)
        if all_out is not None:
            with atomic_output(all_out, "--all") as tmp:
                result.candidates.to_csv(tmp, index=False)
        if plot is not None:
            with atomic_output(plot, "--plot") as tmp:
                planner.write_pareto_plot(result, tmp)
        sys.stdout.write(format_plan(result, format_, currency).rstrip("\n") + "\n")


def _run_with_progress(planner: Any, request: Any, show: bool, executor: Any = None) -> PlanResult:
    """Run the planner under a rich progress bar on stderr (one task per stage).

    Without a terminal (logs, CI) progress is a line on stderr every 10 s per stage
    (:class:`dpsim.execution.ProgressReporter`); short plans print nothing.
    """
    if not show:
        result: PlanResult = planner.plan(request, executor=executor)
        return result
    if not sys.stderr.isatty():
        from dpsim.execution import ProgressReporter

        reporters: dict[str, ProgressReporter] = {}

        def report(stage: str, done: int, total: int) -> None:
            reporter = reporters.get(stage)
            if reporter is None:
                reporter = reporters[stage] = ProgressReporter(f"plan {stage}", total, unit="steps").__enter__()
            reporter.total = total
            reporter.advance(done - reporter.done)

        try:
            result = planner.plan(request, progress=report, executor=executor)
        finally:
            for reporter in reporters.values():
                reporter.__exit__(None, None, None)
        return result
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = planner.plan(request, progress=update, executor=executor)
    return result
