"""``dpsim report RESULT… -o report.html``: one self-contained HTML page for runs, sweeps, plans, validations.

Every input is read through :mod:`dpsim.inputs` and recognised by its content:

- a **run** (``dpsim run --format json``): the step breakdown as a table and a stacked bar;
- a **sweep** (``dpsim sweep --format json`` / ``--out FILE.csv``): the table and the scaling
  plots (log–log throughput with the ideal line, efficiency, breakdown);
- a **plan** (``dpsim plan --format json`` / ``--out``): the ranked configurations;
- a **validation** (``validation.csv`` of ``dpsim validate``): measured vs predicted, with errors;
- **result records** (``.jsonl``, :func:`dpsim.records.write_jsonl`): one run each;
- a **trace** (``dpsim run --trace``): the Gantt chart, drawn from its events;
- a **scenario** (``.yaml``): the resolved scenario and its derived values.

The page has no scripts, stylesheets, fonts or images from anywhere else: CSS is inline and
plots are inline SVG (matplotlib, text as paths), so it opens offline and can be mailed.
Provenance (inputs with their SHA-256, engines, scenario hashes, dpsim version) closes the page.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpsim import inputs
from dpsim.errors import ScenarioError, safe_text
from dpsim.records import cell_text, nested_value

__all__ = ["MAX_INPUTS", "MAX_RESULT_BYTES", "Section", "build_report", "read_result"]

MAX_RESULT_BYTES = 64 << 20
"""Largest result file read (64 MiB: a sweep of ~100,000 rows)."""
MAX_INPUTS = 100
"""Most input files of one page (each drawn: a run's figure takes about 0.1 s; 1,000 took minutes)."""
MAX_TABLE_ROWS = 200
"""Rows shown per table (the page says how many were left out)."""

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}th,td{padding:.25em .6em;border-bottom:1px solid #eee;
text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}
tr.oom td{background:#fde2e2;color:#900;font-weight:bold}
.note{color:#555;font-size:.85em}.bad{color:#900;font-weight:bold}pre{background:#f7f7f7;padding:.8em;overflow:auto;
font-size:.8em}figure{margin:1em 0}svg{max-width:100%;height:auto}
"""


@dataclass
class Section:
    """One input, recognised: its kind, a title, and what the page shows for it."""

    kind: str
    source: str
    title: str
    html: str
    provenance: dict[str, Any] = field(default_factory=dict)


# --- reading ------------------------------------------------------------------------------------


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_result(path: str | Path) -> tuple[str, Any, str]:
    """(kind, parsed content, sha256) of one input file; a :class:`ScenarioError` if it is none of the kinds."""
    source = safe_text(str(path)) if str(path) != inputs.STDIN else "<stdin>"
    data = inputs.read_bytes(path, source, limit=MAX_RESULT_BYTES)
    text = inputs.decode(data, source)
    suffix = Path(str(path)).suffix.lower() if str(path) != inputs.STDIN else _suffix_of(text)
    digest = _digest(data)
    if suffix in (".yaml", ".yml"):
        from dpsim.scenario import load_scenario, scenario_from_dict, scenario_mapping

        if str(path) != inputs.STDIN:
            return "scenario", load_scenario(path), digest
        return "scenario", scenario_from_dict(scenario_mapping(text, source), source), digest
    if suffix == ".csv":
        import pandas as pd

        _whole_rows(text, source)
        try:
            frame = pd.read_csv(io.StringIO(text))
        except (ValueError, pd.errors.ParserError) as exc:
            raise ScenarioError("", f"not a CSV table: {inputs.brief(str(exc))}", source) from None
        frame = _csv_numbers(frame, source)
        if "measured_step_time_s" in frame.columns:
            return "validation", _checked("validation", frame, source), digest
        if "rank" in frame.columns and "time_to_train_s" in frame.columns:
            return "plan", _checked("plan", {"ranked": frame.to_dict("records"), "notes": []}, source), digest
        if "step_time_s" in frame.columns:
            return "sweep", _checked("sweep", frame, source), digest
        raise ScenarioError("", "a CSV with none of the columns of a sweep, plan or validation", source)
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                rows.append(_json(line, f"{source}:{number}"))
        return "records", _checked("records", rows, source), digest
    content = _json(text, source)
    if isinstance(content, dict) and "traceEvents" in content:
        return "trace", _checked("trace", content, source), digest
    if isinstance(content, dict) and "ranked" in content:
        return "plan", _checked("plan", content, source), digest
    if isinstance(content, dict) and "step_time_s" in content and "engine" in content:
        return "run", _checked("run", content, source), digest
    if isinstance(content, list) and content and all(isinstance(r, dict) and "step_time_s" in r for r in content):
        import pandas as pd

        frame = pd.DataFrame(content)
        _check_frame(frame, source, _SWEEP_COLUMNS, csv=False)
        return "sweep", _checked("sweep", frame, source), digest
    raise ScenarioError("", "not a dpsim result (run, sweep, plan, validation, records, trace or scenario)", source)


def _whole_rows(text: str, source: str) -> None:
    """Every row of a CSV table holds the header's fields: dpsim writes an empty cell as one (``a,,b``), so a row
    with fewer is a file cut short (a sweep's ``--out`` copied while written, a transfer interrupted), whose
    missing cells pandas fills with NaN: the page drew part of a row (``2,0.`` as a step of 0 s). One line naming
    the row; a row with more fields is pandas' own error. A column named twice in the header is refused as a key
    given twice in YAML or JSON is (pandas renamed the second ``step_time_s.1`` and drew the first alone)."""
    import csv

    reader = csv.reader(io.StringIO(text))
    header = 0
    try:
        for row in reader:
            if not row:  # a blank line, which pandas skips
                continue
            if not header:
                header = len(row)
                twice = next((name for i, name in enumerate(row) if name in row[:i]), None)
                if twice is not None:
                    raise ScenarioError("", f"the header names the column {inputs.brief(twice)} twice", source)
            elif len(row) < header:
                raise ScenarioError(
                    "",
                    f"line {reader.line_num}: a row of {len(row)} of the header's {header} fields: the file was cut "
                    "short (write it again, or delete the row)",
                    source,
                )
    except csv.Error:  # NUL, a quote left open: pandas names it
        return


def _suffix_of(text: str) -> str:
    """The suffix a file holding ``text`` (read from stdin, which has no name) would have: every kind ``report
    FILE`` reads. JSON (an object or a list), JSON Lines (one object a line), a CSV whose header names a result
    column (or commas without a colon), else a scenario's YAML; what is none of them is refused by that kind's
    reader. (``report -`` read JSON alone: a sweep's CSV or a scenario piped in was 'not JSON'.)"""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0].startswith(("{", "[")):
        if len(lines) > 1 and all(line.startswith("{") and line.endswith("}") for line in lines):
            try:
                json.loads(lines[0])
                return ".jsonl"
            except ValueError:
                pass
        return ".json"
    header = lines[0]
    named = {c.strip() for c in header.split(",")} & {*_NUMBERS, *_VALIDATION_COLUMNS}
    if named or ("," in header and ":" not in header):  # a CSV's header, not a YAML key
        return ".csv"
    return ".yaml"


def _json(text: str, source: str) -> Any:
    return inputs.load_json(text, source)  # NaN/Infinity: no value


_NUMBERS = (
    "step_time_s", "compute_s", "comm_s", "exposed_comm_s", "bubble_s", "optimizer_s", "barrier_s", "samples_per_s",
    "tokens_per_s", "scaling_efficiency", "mfu", "memory_per_device_bytes", "memory_capacity_bytes", "world_size",
    "data_parallel", "tensor_parallel", "pipeline_parallel", "accumulation_steps", "zero_stage", "goodput",
    "goodput_samples_per_s", "devices", "tp", "pp", "dp", "micro_batch", "accumulation", "memory_bytes",
    "time_to_train_s", "cost", "measured_step_time_s", "predicted_step_time_s", "searched", "valid", "feasible",
)  # fmt: skip
"""Fields of a result the page computes with: a number >= 0 (or no value: JSON's null, an empty CSV cell)."""
_SWEEP_COLUMNS = ("step_time_s", "world_size", "samples_per_s", "scaling_efficiency")
_VALIDATION_COLUMNS = ("measured_step_time_s", "predicted_step_time_s")


_COUNTS = ("world_size", "data_parallel", "tensor_parallel", "pipeline_parallel", "devices", "tp", "pp", "dp")
"""Fields that count devices: at least 1 (a world of 0 ranks divides by zero where the page scales per device)."""
_INTEGER_CELL = re.compile(r"\s*[+-]?\d+\s*")


def _number_problem(name: str, value: Any) -> str | None:
    """Why ``value`` of field ``name`` cannot be drawn, else None: not a number (text, a boolean, a list), negative,
    past :data:`dpsim.inputs.MAX_FLOAT` (1e308 overflowed the plots' sums and log scales into warnings),
    denormal, or a device count below 1. No value (None, NaN) is fine."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a finite number >= 0, got {inputs.brief(value)}"
    try:
        number = float(value)  # an integer of 400 digits no float holds
    except OverflowError:
        return f"expected a finite number >= 0, got {inputs.brief(value)}"
    if math.isnan(number):
        return None
    if not number >= 0:
        return f"expected a finite number >= 0, got {inputs.brief(value)}"
    if (problem := inputs.float_problem(number)) is not None:
        return problem
    if name in _COUNTS and number < 1:
        return f"expected a device count >= 1, got {inputs.brief(value)}"
    return None


def _check_record(record: Any, source: str, what: str = "a result") -> None:
    """A run result, a plan or a plan's row: a JSON object whose numbers (:data:`_NUMBERS`) can be drawn."""
    if not isinstance(record, dict):
        raise ScenarioError("", f"expected {what} (a JSON object), got {inputs.brief(record)}", source)
    for name in _NUMBERS:
        if name in record and (problem := _number_problem(name, record[name])) is not None:
            raise ScenarioError(name, problem, source)


def _csv_numbers(frame: Any, source: str) -> Any:
    """``frame`` with its numeric columns (:data:`_NUMBERS`) that pandas left as objects read as floats where every
    cell is a number: pandas keeps an integer past 64 bits as a Python int (or, past 4,300 digits, as text), which
    JSON reads as a number; the same rule for both (:func:`dpsim.inputs.digits_problem`: at most 30 digits)."""
    for name in _NUMBERS:
        if name not in frame.columns or frame[name].dtype.kind != "O":
            continue
        cells: list[float] = []
        for row, value in enumerate(frame[name]):
            if isinstance(value, str) and _INTEGER_CELL.fullmatch(value):
                digits = value.strip()
            elif isinstance(value, int) and not isinstance(value, bool):
                digits = str(value)  # pandas makes Python ints of at most 4,300 digits (str() takes them)
            elif isinstance(value, float):
                cells.append(value)
                continue
            else:
                break  # text: named by _check_frame
            if (problem := inputs.digits_problem(digits)) is not None:
                raise ScenarioError(name, problem, f"{source}:{row + 2}")  # line 1 is the header
            cells.append(float(int(digits)))
        else:
            frame[name] = cells
    return frame


def _check_frame(frame: Any, source: str, required: Sequence[str], csv: bool = True) -> None:
    """A sweep's or validation's table: at least one row, the ``required`` columns, numeric columns whose cells can
    be drawn (:func:`_number_problem`); an error names the CSV line (or, from JSON, the row)."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ScenarioError("", f"a table without the column(s) {', '.join(missing)}", source)
    if not len(frame):
        raise ScenarioError("", "a table without rows", source)
    for name in _NUMBERS:
        if name not in frame.columns:
            continue
        for row, value in enumerate(frame[name].tolist()):
            if (problem := _number_problem(name, value)) is not None:
                if frame[name].dtype.kind not in "iuf":
                    problem = f"expected a column of numbers, got {inputs.brief(value)}"
                if csv:
                    raise ScenarioError(name, problem, f"{source}:{row + 2}")  # line 1 is the header
                raise ScenarioError(f"{row}.{name}", problem, source)
        if frame[name].dtype.kind not in "iuf":  # no value at all (JSON nulls)
            raise ScenarioError(name, f"expected a column of numbers, got {inputs.brief(frame[name].iloc[0])}", source)


def _checked(kind: str, content: Any, source: str) -> Any:
    """``content`` of ``kind`` if the page can be drawn from it; else a one-line :class:`ScenarioError`."""
    if kind == "run":
        _check_record(content, source)
    elif kind == "records":
        if not content:
            raise ScenarioError("", "no records (an empty JSON Lines file)", source)
        for number, record in enumerate(content, 1):
            _check_record(record, f"{source}:{number}", "a record")
    elif kind == "plan":
        _check_record(content, source, "a plan")
        ranked, notes = content.get("ranked"), content.get("notes")
        if not isinstance(ranked, list):
            raise ScenarioError("ranked", f"expected a list of configurations, got {inputs.brief(ranked)}", source)
        for i, row in enumerate(ranked):
            try:
                _check_record(row, source, "a configuration")
            except ScenarioError as exc:
                raise ScenarioError(f"ranked.{i}.{exc.field}".rstrip("."), exc.message, source) from None
        if notes is not None and not (isinstance(notes, list) and all(isinstance(n, str) for n in notes)):
            raise ScenarioError("notes", f"expected a list of texts, got {inputs.brief(notes)}", source)
    elif kind == "sweep":
        _check_frame(content, source, _SWEEP_COLUMNS)
    elif kind == "validation":
        _check_frame(content, source, _VALIDATION_COLUMNS)
        for name in _VALIDATION_COLUMNS:  # drawn on log axes: a step takes time
            if (content[name] <= 0).any():
                raise ScenarioError(name, "expected step times > 0 (drawn on log axes), got 0", source)
        if not (content[list(_VALIDATION_COLUMNS)].notna().all(axis=1)).any():
            raise ScenarioError("", "no configuration with both a measured and a predicted step time", source)
    elif kind == "trace":
        events = content.get("traceEvents")
        if not isinstance(events, list):
            raise ScenarioError("traceEvents", f"expected a list of events, got {inputs.brief(events)}", source)
        if not any(_span(e) is not None for e in events):
            raise ScenarioError("traceEvents", "no complete event ('ph': 'X' with a pid, ts and dur) to draw", source)
    return content


_MAX_TRACE_US = 1e15
"""Latest time and longest duration of a drawn trace event (µs; 30 years)."""


def _span(event: Any) -> tuple[Any, float, float] | None:
    """(pid, start ms, duration ms) of a complete event that can be drawn, else None (skipped)."""
    if not isinstance(event, dict) or event.get("ph") != "X":
        return None
    pid = event.get("pid")
    ts, dur = event.get("ts", 0), event.get("dur", 0)
    if isinstance(pid, bool) or not isinstance(pid, (int, str)):
        return None
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (ts, dur)):
        return None
    if not (math.isfinite(ts) and abs(ts) <= _MAX_TRACE_US and math.isfinite(dur) and 0 <= dur <= _MAX_TRACE_US):
        return None
    return pid, float(ts) / 1e3, float(dur) / 1e3


# --- pieces of the page ---------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(safe_text(str(value)), quote=True)


def _pre(text: str) -> str:
    """Preformatted user text: lines kept, each made printable and escaped."""
    return "\n".join(html.escape(safe_text(line)) for line in text.splitlines())


def _cell(name: str, value: Any) -> str:
    from dpsim.report import _human

    if isinstance(value, float) and math.isnan(value):
        return "-"
    if nested_value(value):  # a list --vary value: JSON, as the sweep's CSV and table write it (not Python's repr)
        return _e(cell_text(value))
    return _e(_human(name, value) if isinstance(value, (int, float, bool)) else value)


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str], left: Sequence[str] = ()) -> str:
    head = "".join(f'<th class="{"l" if c in left else ""}">{_e(c)}</th>' for c in columns)
    body = []
    for row in rows[:MAX_TABLE_ROWS]:
        oom = ' class="oom"' if bool(row.get("oom")) else ""
        cells = "".join(f'<td class="{"l" if c in left else ""}">{_cell(c, row.get(c, ""))}</td>' for c in columns)
        body.append(f"<tr{oom}>{cells}</tr>")
    more = (
        f'<p class="note">{len(rows) - MAX_TABLE_ROWS:,} more rows not shown.</p>' if len(rows) > MAX_TABLE_ROWS else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _svg(fig: Any) -> str:
    """A matplotlib figure as inline SVG (text drawn as paths: no font is fetched)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "dpsim"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _plain(text: str) -> str:
    return safe_text(text).replace("$", r"\$")


_BREAKDOWN_ROWS = ("compute_s", "barrier_s", "exposed_comm_s", "bubble_s", "optimizer_s")


def _run_section(result: dict[str, Any], source: str) -> Section:
    from matplotlib.figure import Figure

    from dpsim.plots import BREAKDOWN

    step = float(result.get("step_time_s") or 0.0)
    names = [
        "step_time_s", "compute_s", "comm_s", "exposed_comm_s", "bubble_s", "optimizer_s", "barrier_s",
        "samples_per_s", "tokens_per_s", "scaling_efficiency", "mfu", "memory_per_device_bytes",
        "memory_capacity_bytes", "oom", "world_size", "data_parallel", "tensor_parallel", "pipeline_parallel",
        "accumulation_steps", "algorithm", "zero_stage", "goodput", "goodput_samples_per_s",
    ]  # fmt: skip
    rows = []
    for name in names:
        if name not in result:
            continue
        value = result[name]
        share = f"{100 * float(value) / step:.1f} %" if name in _BREAKDOWN_ROWS and step > 0 and value else ""
        rows.append({"quantity": name, "value": value, "share of step": share, "oom": name == "oom" and value})
    cells = [{"quantity": r["quantity"], "value": _cell(r["quantity"], r["value"]),
              "share of step": r["share of step"], "oom": r["oom"]} for r in rows]  # fmt: skip
    extra = result.get("extra")
    update = extra.get("optimizer_update") if isinstance(extra, dict) else None
    if isinstance(update, str) and update:  # a runtime record: the update torch.optim ran (runtime.optim)
        cells.append({"quantity": "optimizer update", "value": update, "share of step": ""})
    ignored = extra.get("ignored_fields") if isinstance(extra, dict) else None
    for name, why in ignored.items() if isinstance(ignored, dict) else ():  # set, and read by nothing: as the table
        cells.append({"quantity": f"ignored: {name}", "value": why, "share of step": ""})
    table = _table(cells, ["quantity", "value", "share of step"], left=("quantity",))
    fig = Figure(figsize=(9, 2.2), layout="constrained")
    ax = fig.add_subplot()
    left = 0.0
    for column, label in BREAKDOWN:
        value = float(result.get(column) or 0.0)
        if column == "compute_s":
            value -= float(result.get("barrier_s") or 0.0)
        if value > 0:
            ax.barh([0], [value * 1e3], left=left, label=label)
            left += value * 1e3
    ax.set_yticks([])
    ax.set_xlabel("milliseconds of one step")
    if ax.get_legend_handles_labels()[0]:  # a result of zero times draws no bar: no empty legend (a warning)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.6), ncol=5, fontsize="small", frameon=False)
    banner = ""
    if result.get("oom"):
        needed = _cell("memory_per_device_bytes", result.get("memory_per_device_bytes"))
        capacity = _cell("memory_capacity_bytes", result.get("memory_capacity_bytes"))
        banner = f'<p class="bad">OUT OF MEMORY: needs {needed} per device, has {capacity}.</p>'
    title = f"Run: {result.get('scenario', '?')} ({result.get('engine', '?')} engine)"
    provenance: dict[str, Any] = {
        k: result.get(k) for k in ("engine", "fidelity", "scenario_hash", "hardware_source") if k in result
    }
    return Section("run", source, title, banner + table + f"<figure>{_svg(fig)}</figure>", provenance)


def _sweep_section(frame: Any, source: str) -> Section:
    from matplotlib.figure import Figure

    from dpsim import plots
    from dpsim.records import StepResult

    known = set(StepResult.__dataclass_fields__) | {"tokens_per_s", "mfu"}
    varied = [c for c in frame.columns if c not in known and "." in str(c)]
    fig = Figure(figsize=(14, 4.4), layout="constrained")
    axes = fig.subplots(1, 3)
    plots.scaling_axes(frame, varied, axes[0], axes[1])
    plots.breakdown_axes(frame, varied, axes[2])
    columns = [*varied, *[c for c in ("world_size", "step_time_s", "exposed_comm_s", "samples_per_s",
                                      "scaling_efficiency", "mfu", "memory_per_device_bytes", "oom")
                          if c in frame.columns]]  # fmt: skip
    rows = frame.to_dict("records")
    scenario = str(frame["scenario"].iloc[0]) if "scenario" in frame.columns and len(frame) else "?"
    provenance: dict[str, Any] = {"points": len(frame)}
    if "engine" in frame.columns and len(frame):
        provenance["engine"] = str(frame["engine"].iloc[0])
    return Section(
        "sweep", source, f"Sweep: {scenario} ({len(frame):,} points)",
        f"<figure>{_svg(fig)}</figure>" + _table(rows, columns, left=varied), provenance,
    )  # fmt: skip


def _plan_section(plan: dict[str, Any], source: str) -> Section:
    rows = list(plan.get("ranked") or [])
    columns = [c for c in ("rank", "device", "devices", "tp", "pp", "dp", "zero_stage", "micro_batch",
                           "accumulation", "recomputation", "schedule", "algorithm", "step_time_s", "mfu",
                           "memory_bytes", "time_to_train_s", "cost") if rows and c in rows[0]]  # fmt: skip
    currency = plan.get("currency") or ""
    notes = "".join(f'<p class="note">note: {_e(n)}</p>' for n in plan.get("notes") or [])
    summary = ""
    if "searched" in plan:
        summary = (
            f"<p>{_e(plan.get('model'))}: {int(plan['searched']):,} configurations searched, "
            f"{int(plan.get('valid', 0)):,} valid, {int(plan.get('feasible', 0)):,} fit in memory"
            f"{'; cost in ' + _e(currency) if currency else ''}.</p>"
        )
    body = summary + (
        _table(rows, columns, left=("device",)) if rows else '<p class="bad">No feasible configuration.</p>'
    )
    return Section(
        "plan", source, f"Plan: {plan.get('model', '')}".strip(), body + notes, {"configurations": len(rows)}
    )


def _validation_section(frame: Any, source: str) -> Section:
    from matplotlib.figure import Figure

    measured, predicted = frame["measured_step_time_s"], frame["predicted_step_time_s"]
    fig = Figure(figsize=(5.5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.loglog(measured * 1e3, predicted * 1e3, "o")
    lo = float(min(measured.min(), predicted.min())) * 1e3 * 0.8
    hi = float(max(measured.max(), predicted.max())) * 1e3 * 1.25
    ax.plot([lo, hi], [lo, hi], "k:", label="prediction = measurement")
    ax.set_xlabel("measured step time (ms)")
    ax.set_ylabel("predicted step time (ms)")
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    errors = frame["error_step_time_s_pct"].abs() if "error_step_time_s_pct" in frame.columns else None
    summary = ""
    if errors is not None and len(errors):
        summary = (
            f"<p>{len(frame)} configurations: median |error| of the step time {errors.median():.1f} %, "
            f"largest {errors.max():.1f} %.</p>"
        )
    columns = [c for c in frame.columns if c in ("case", "ranks", "algorithm") or "step_time" in c or "error" in c]
    return Section(
        "validation", source, f"Validation ({len(frame)} configurations)",
        summary + f"<figure>{_svg(fig)}</figure>" + _table(frame.to_dict("records"), columns, left=("case",)),
        {"configurations": len(frame)},
    )  # fmt: skip


def _name(event: dict[str, Any]) -> Any:
    """A process_name metadata event's name (its pid when it has none)."""
    args = event.get("args")
    return args.get("name", event.get("pid")) if isinstance(args, dict) else event.get("pid")


def _trace_section(trace: dict[str, Any], source: str) -> Section:
    """The Gantt chart of a Chrome trace written by ``dpsim run --trace``, from its events."""
    from matplotlib.figure import Figure

    from dpsim.sim.trace import COLORS

    events = [e for e in trace.get("traceEvents", []) if isinstance(e, dict)]
    names = {
        e.get("pid"): str(_name(e))
        for e in events
        if e.get("ph") == "M" and e.get("name") == "process_name" and isinstance(e.get("pid"), (int, str))
    }
    spans = [e for e in events if _span(e) is not None]
    pids = sorted({e.get("pid") for e in spans}, key=lambda p: (str(type(p)), p))[:64]
    row = {pid: i for i, pid in enumerate(pids)}
    fig = Figure(figsize=(12, 1.8 + 0.45 * len(pids)), layout="constrained")
    ax = fig.add_subplot()
    by_category: dict[str, list[tuple[float, float, float]]] = {}
    for e in spans:
        pid, start, duration = _span(e) or (None, 0.0, 0.0)
        if pid not in row:
            continue
        y = row[pid] + (0.42 if e.get("tid") == 1 else 0.0)
        by_category.setdefault(str(e.get("cat", "")), []).append((start, duration, y))
    for category, boxes in by_category.items():
        for y in sorted({b[2] for b in boxes}):
            ax.broken_barh([(s, d) for s, d, yy in boxes if yy == y], (y, 0.4),
                           facecolors=COLORS.get(category, "#999999"), linewidth=0)  # fmt: skip
    ax.set_yticks([i + 0.41 for i in range(len(pids))])
    ax.set_yticklabels([_plain(names.get(p, str(p))) for p in pids], fontsize="small")
    ax.set_ylim(len(pids), -0.1)
    ax.set_xlabel("time (ms)")
    other = trace.get("otherData")
    meta: dict[str, Any] = other if isinstance(other, dict) else {}
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=c, label=k) for k, c in COLORS.items()], loc="upper center",
              bbox_to_anchor=(0.5, -0.5 / (1 + len(pids) / 4)), ncol=7, fontsize="small", frameon=False)  # fmt: skip
    title = f"Gantt: {meta.get('scenario', '')} ({meta.get('workers', '?')} workers, {meta.get('fidelity', '')} level)"
    note = ""
    if isinstance(meta.get("workers"), int) and len(pids) < meta["workers"]:
        note = f'<p class="note">{len(pids)} rows for {meta["workers"]:,} workers: identical workers share a row.</p>'
    drawn = meta.get("communication_drawn")
    if isinstance(drawn, str) and drawn:  # the collectives' spans are the engines' one stream (dpsim.sim.trace)
        note += f'<p class="note">communication drawn as {_e(drawn[:400])}.</p>'
    rows = "; ".join(_e(names.get(p, p)) for p in pids)
    caption = f'<figcaption class="note">rows, top to bottom: {rows}</figcaption>'
    return Section("trace", source, title, note + f"<figure>{_svg(fig)}{caption}</figure>", {"events": len(spans)})


def _scenario_section(scenario: Any, source: str) -> Section:
    from dpsim.report import derived_values
    from dpsim.scenario import dump_scenario

    derived = derived_values(scenario)
    table = _table([{"quantity": k, "value": v} for k, v in derived.items()], ["quantity", "value"], left=("quantity",))
    return Section(
        "scenario", source, f"Scenario: {scenario.name}",
        table + f"<pre>{_pre(dump_scenario(scenario))}</pre>", {"scenario_hash": scenario.scenario_hash()},
    )  # fmt: skip


def _records_section(rows: list[dict[str, Any]], source: str) -> list[Section]:
    return [_run_section(r, f"{source} (record {i + 1})") for i, r in enumerate(rows[:20]) if isinstance(r, dict)]


def _sections(kind: str, content: Any, source: str) -> list[Section]:
    if kind == "records":
        return _records_section(content, source)
    make = {
        "run": _run_section,
        "sweep": _sweep_section,
        "plan": _plan_section,
        "validation": _validation_section,
        "trace": _trace_section,
        "scenario": _scenario_section,
    }[kind]
    return [make(content, source)]


def build_report(paths: Sequence[str | Path], title: str | None = None) -> str:
    """The HTML page for ``paths`` (see the module docstring)."""
    from dpsim import __version__
    from dpsim.plots import load_matplotlib

    load_matplotlib()  # every section draws

    sections: list[Section] = []
    provenance_rows: list[dict[str, Any]] = []
    for path in paths:
        kind, content, digest = read_result(path)
        source = safe_text(str(path))
        made = _sections(kind, content, source)
        sections.extend(made)
        details = json.dumps(made[0].provenance if made else {}, default=str)
        provenance_rows.append({"input": source, "kind": kind, "sha256": digest[:16], "details": details})
    heading = title or (sections[0].title if len(sections) == 1 else "dpsim report")
    toc = "".join(f'<li><a href="#s{i}">{_e(s.title)}</a></li>' for i, s in enumerate(sections))
    body = "".join(
        f'<section id="s{i}"><h2>{_e(s.title)}</h2><p class="note">from {_e(s.source)}</p>{s.html}</section>'
        for i, s in enumerate(sections)
    )
    provenance = _table(provenance_rows, ["input", "kind", "sha256", "details"], left=("input", "kind", "details"))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(heading)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(heading)}</h1><ul>{toc}</ul>{body}"
        f'<section id="provenance"><h2>Provenance</h2>{provenance}'
        f'<p class="note">dpsim {_e(__version__)}; inputs identified by SHA-256 (first 16 hex digits); '
        "this page loads nothing from the network.</p></section></body></html>\n"
    )
