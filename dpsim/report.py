"""Text output of results, sweeps, scenarios and the catalog: rich tables, JSON, CSV.

Every function returns a string (the CLI prints it), so output is easy to test and never
half-written. Numbers are shown with units in tables and as SI floats in JSON/CSV.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dpsim import catalog
from dpsim.buckets import bucket_count, bucket_sizes, gradient_tensors, synced_gradient_bytes
from dpsim.errors import safe_text
from dpsim.records import CORE_FIELDS, StepResult, cell_text, nested_value
from dpsim.sharding import collective_pieces, step_traffic
from dpsim.units import format_bandwidth, format_binary_size, format_size, format_time

if TYPE_CHECKING:
    import pandas as pd

    from dpsim.scenario import Scenario

__all__ = [
    "derived_values",
    "format_catalog",
    "format_frame",
    "format_result",
    "reliability_fields",
    "render",
    "scenario_json",
    "scenario_summary",
    "to_json",
    "user_text",
]

_TIME_FIELDS = ("step_time_s", "compute_s", "comm_s", "exposed_comm_s", "bubble_s", "optimizer_s", "barrier_s")
_SWEEP_COLUMNS = (
    "world_size",
    "step_time_s",
    "exposed_comm_s",
    "samples_per_s",
    "scaling_efficiency",
    "mfu",
    "memory_per_device_bytes",
    "oom",
)


def render(table: Table) -> str:
    """A rich table as plain text (no colour codes; wide enough not to wrap)."""
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None, force_terminal=False, soft_wrap=True).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def _clean(value: Any) -> Any:
    """JSON-safe scalar: NaN/inf become null (JSON has no spelling for them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _clean(value.item())
    return value


def to_json(data: Any) -> str:
    return json.dumps(_clean(data), sort_keys=False)


def _human(name: str, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if name.endswith("_s") and not name.endswith("per_s") and isinstance(value, (int, float)):
        return format_time(float(value))
    if name.startswith("memory_") and name.endswith("_bytes") and isinstance(value, (int, float)):
        return format_binary_size(float(value))  # device memory is sold in binary units: "80 GB" is 80 GiB
    if name.endswith("_bytes") and isinstance(value, (int, float)):
        return format_size(float(value))
    if name in ("scaling_efficiency", "mfu", "goodput") and isinstance(value, (int, float)):
        return f"{100 * value:.1f} %"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def user_text(text: str) -> str:
    """User-supplied text (a scenario name) made safe for a rich table: printable, no markup."""
    return escape(safe_text(text))


def reliability_fields(result: StepResult, scenario: Scenario | None) -> dict[str, float]:
    """Goodput of the scenario's ``reliability`` section at this step time (empty without failures).

    Daly's expected wall time is proportional to the work (Daly 2006, eq. 20), so the
    useful fraction of wall time does not depend on how long the job runs.
    """
    if scenario is None or scenario.reliability.node_mtbf is None or result.step_time_s <= 0:
        return {}
    from dpsim.reliability import goodput_for

    try:
        estimate = goodput_for(scenario, result.step_time_s * 1e6, result.step_time_s)
        goodput = estimate.goodput
        checkpoint_interval = estimate.interval_s
        job_mtbf = estimate.job_mtbf_s
    except (OverflowError, ZeroDivisionError):  # failures far more frequent than restarts: no progress
        goodput, checkpoint_interval = 0.0, math.nan
        job_mtbf = scenario.reliability.node_mtbf / scenario.cluster.nodes
    return {
        "goodput": goodput,
        "goodput_samples_per_s": result.samples_per_s * goodput,
        "job_mtbf_s": job_mtbf,
        "checkpoint_interval_s": checkpoint_interval,
    }


def format_results_csv(results: Sequence[StepResult], scenarios: Sequence[Scenario | None]) -> str:
    """Step results as one CSV: a header, then a row per result (``run A B --shared-fabric``: a row per job).

    The header holds every column any row has, in the order they first appear, and a row leaves the columns it
    lacks empty: round 26 (hostile). Jobs' columns differ (a ``reliability`` section adds goodput's four), and the
    first job's header was printed over every row, so a job with more columns than the first wrote cells no header
    named and one with fewer shifted nothing into place (the CSV read back with values under other columns).
    """
    rows = [{**r.flat(), **reliability_fields(r, s)} for r, s in zip(results, scenarios, strict=True)]
    buffer = io.StringIO()
    fields = list(dict.fromkeys(name for row in rows for name in row))
    writer = csv.DictWriter(buffer, fieldnames=fields, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def format_result(result: StepResult, fmt: str, scenario: Scenario | None = None) -> str:
    """One step result as a table, one JSON object, or a CSV header + row.

    With the ``scenario`` (``dpsim run``), a ``reliability`` section adds goodput; an
    out-of-memory result gets a highlighted first line in the table.
    """
    reliability = reliability_fields(result, scenario)
    if fmt == "json":
        return to_json({**result.to_dict(), **reliability})
    if fmt == "csv":
        return format_results_csv([result], [scenario])
    table = Table(title=f"{user_text(result.scenario)} ({result.engine})", box=box.SIMPLE_HEAD, show_header=True)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("share of step", justify="right")
    flat = {**result.flat(), **reliability}
    if result.oom:
        needed, capacity = result.memory_per_device_bytes, result.memory_capacity_bytes
        table.add_row(
            Text("OUT OF MEMORY", style="bold red"),
            Text(f"{format_binary_size(needed)} > {format_binary_size(capacity)}", style="bold red"),
            Text("does not fit", style="bold red"),
        )
    shown = [*CORE_FIELDS[2:], "barrier_s", "tokens_per_s", "mfu", "memory_capacity_bytes", "oom"]
    shown += ["data_parallel", "tensor_parallel", "pipeline_parallel", "accumulation_steps", "algorithm"]
    shown += ["zero_stage", "hardware_source", *reliability, *(["cost_per_step"] if "cost_per_step" in flat else [])]
    for name in shown:
        share = ""
        if name in _TIME_FIELDS and name not in ("step_time_s", "comm_s") and result.step_time_s > 0:
            share = f"{100 * flat[name] / result.step_time_s:.1f} %"
        table.add_row(name, _human(name, flat[name]), share)
    ignored = dict(result.extra.get("ignored_fields") or {})  # set, and read by nothing
    notes = [f"ignored: {user_text(field)}: {user_text(why)}" for field, why in ignored.items()]
    if past_peak := result.extra.get("mfu_past_peak"):  # round 29 (hostile): "mfu 219.6 %" was printed without why
        notes.append(f"mfu: {user_text(str(past_peak))}")
    if notes:  # under the table, wrapped to its width: as a row, one long reason pushed every value far right
        table.caption = "\n".join(notes)
        table.caption_justify = "left"
    return render(table)


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its list and mapping cells as JSON (:func:`cell_text`), for ``to_csv``; the frame itself
    where it holds none (a copy otherwise)."""
    nested = [c for c in frame.columns if frame[c].dtype == object and frame[c].map(nested_value).any()]
    if not nested:
        return frame
    out = frame.copy()
    for column in nested:
        out[column] = out[column].map(cell_text)
    return out


def parquet_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a parquet file holds it: list and mapping cells as JSON (:func:`csv_frame`), and a column whose
    cells are of more than one type as the CSV's text (``--vary training.global_batch=auto,512``: parquet types a
    column once, and pyarrow refused ``'auto'`` beside ``512``, or a list beside a name, with a traceback)."""
    out = csv_frame(frame)
    mixed = [c for c in out.columns if out[c].dtype == object and len({_cell_kind(v) for v in out[c]} - {None}) > 1]
    if not mixed:
        return out
    out = out.copy() if out is frame else out
    for column in mixed:
        out[column] = out[column].map(lambda value: None if _cell_kind(value) is None else str(value))
    return out


def _cell_kind(value: Any) -> str | None:
    """What parquet would type a cell as: ``None`` for a missing one (``None``, NaN), numbers as one kind."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"
    return type(value).__name__


def format_frame(frame: pd.DataFrame, fmt: str, columns: Sequence[str] = ()) -> str:
    """A sweep: table (varied columns + key results), JSON array of row objects, or CSV (lists and mappings as
    JSON: :func:`csv_frame`)."""
    if fmt == "json":
        return to_json(frame.to_dict(orient="records"))
    if fmt == "csv":
        return str(csv_frame(frame).to_csv(index=False))
    table = Table(box=box.SIMPLE_HEAD)
    names = [c for c in columns if c in frame.columns] + [c for c in _SWEEP_COLUMNS if c in frame.columns]
    for name in names:
        table.add_column(name, justify="right")
    for row in frame.to_dict(orient="records"):
        table.add_row(*(user_text(str(cell_text(row[n]))) if n in columns else _human(n, row[n]) for n in names))
    ignored: dict[str, int] = {}  # each field set and read by nothing: how many points ignore it
    for text in frame["ignored_fields"] if "ignored_fields" in frame.columns else ():
        for item in dict.fromkeys(text.split("; ") if isinstance(text, str) and text else ()):
            ignored[item] = ignored.get(item, 0) + 1
    if ignored:  # under the table as a run's are (round 36: a sweep's table listed none of them)
        points = len(frame)
        table.caption = "\n".join(
            f"ignored: {user_text(item)}" + ("" if count == points else f" (at {count} of {points} points)")
            for item, count in ignored.items()
        )
        table.caption_justify = "left"
    return render(table)


def _gradient_bucket_count(scenario: Scenario, grad_bytes: float) -> int:
    """Gradient buckets a step reduces, as the engines cut them: DeepSpeed's IPG buckets when listed, DDP's
    buckets of whole tensors where the model's tensors are known (:func:`dpsim.buckets.bucket_sizes`, DDP's
    small first bucket), else the stream's equal buckets."""
    cut = collective_pieces(scenario)
    if cut.gradient_buckets:
        return len(cut.gradient_buckets)
    ddp = scenario.reduces_with_ddp
    tensors = gradient_tensors(scenario) if ddp else ()
    first = None if ddp else cut.gradient_bucket
    total = synced_gradient_bytes(scenario, tensors) or grad_bytes
    if not tensors:
        return bucket_count(total, cut.gradient_bucket, first)  # a stream: counted, not listed (a 1-B bucket)
    return len(bucket_sizes(total, cut.gradient_bucket, first, tensors))


def _bucket_text(scenario: Scenario, buckets: int) -> str:
    """How many pieces a step reduces the gradient in, and of what size, as the engines cut it: DDP's
    ``communication.bucket`` as written ("25 MiB"), FSDP's wrapped units, DeepSpeed's ``reduce_bucket_size``
    (both of which leave ``communication.bucket`` unread)."""
    t, cut = scenario.training, collective_pieces(scenario)
    if t.optimizer_sharding == "fsdp" and t.zero_stage >= 2 and scenario.data_parallel > 1:
        return f"{buckets} reduce-scatters of a wrapped unit, {format_size(cut.gradient_bucket)}"
    if scenario.deepspeed is not None and scenario.deepspeed_bf16_optimizer:
        return f"{buckets} all-reduce of the flat fp32 gradient (DeepSpeed's BF16_Optimizer)"
    if scenario.deepspeed is not None:
        return f"{buckets} buckets of up to {format_size(cut.gradient_bucket)} (DeepSpeed's reduce_bucket_size)"
    return f"{buckets} buckets of {scenario.communication.model_dump(mode='json')['bucket']}"  # as written


def _collectives_text(scenario: Scenario) -> str:
    """The data-parallel collectives of a step as both engines run them: the gradients' reduction
    (:attr:`Scenario.gradient_reduction_op`), HYBRID_SHARD's all-reduce across replicas and the parameters' gathers
    and broadcasts (:func:`dpsim.sharding.step_traffic`), then the algorithm and overlap. The row said "all-reduce"
    under FSDP and ZeRO-3 too, which reduce-scatter the gradients and all-gather the parameters."""
    comm = scenario.communication
    how = f"{comm.algorithm}, overlap {'on' if comm.overlap else 'off'}"
    if scenario.data_parallel <= 1:
        return f"none (one data-parallel rank); {how}"
    traffic = step_traffic(scenario)
    op = "all-reduce" if scenario.gradient_reduction_op == "allreduce" else "reduce-scatter"
    parts = [f"{op} of the gradients"]
    if traffic.replicas > 1:
        parts.append(f"all-reduce of each shard across {traffic.replicas} replicas")
    if traffic.forward_gathers or traffic.backward_gathers:
        parts.append(
            "all-gather of the parameters before the forward" + (" and the backward" * bool(traffic.backward_gathers))
        )
    if traffic.post_step_gather:
        parts.append("all-gather of the updated parameters")
    if traffic.post_step_broadcast:
        parts.append("broadcast of the updated parameters from their owners")
    return f"{', '.join(parts)}; {how}"


def derived_values(scenario: Scenario) -> dict[str, Any]:
    """What a scenario implies: world and parallel sizes, batch split, gradient bytes and buckets."""
    m, t = scenario.model, scenario.training
    grad_bytes = m.num_parameters / (t.tensor_parallel * t.pipeline_parallel) * scenario.gradient_bytes_per_param
    return {
        "world_size": scenario.world_size,
        "data_parallel": scenario.data_parallel,
        "tensor_parallel": t.tensor_parallel,
        "pipeline_parallel": t.pipeline_parallel,
        "global_batch": t.global_batch,
        "accumulation_steps": scenario.accumulation_steps,
        "tokens_per_step": scenario.tokens_per_step,
        "parameters": m.num_parameters,
        "training_flops_per_sample": m.training_flops_per_sample,
        "gradient_bytes_per_device": grad_bytes,
        "buckets": _gradient_bucket_count(scenario, grad_bytes),
        "scenario_hash": scenario.scenario_hash(),
    }


def scenario_json(scenario: Scenario, source: str = "") -> str:
    """What ``dpsim check --format json`` prints: validity, the resolved scenario, derived values."""
    return to_json(
        {
            "valid": True,
            "source": source,
            "scenario": scenario.model_dump(mode="json", exclude_none=True),
            "derived": derived_values(scenario),
        }
    )


def scenario_summary(scenario: Scenario, source: str = "") -> str:
    """What ``dpsim check`` prints: the scenario with its derived values."""
    m, c, t = scenario.model, scenario.cluster, scenario.training
    derived = derived_values(scenario)
    grad_bytes, buckets = derived["gradient_bytes_per_device"], derived["buckets"]
    bucket_text = _bucket_text(scenario, buckets)
    rows: list[tuple[str, str]] = [
        ("file", source or "-"),
        ("name", scenario.name),
        ("model", f"{m.preset or m.kind}: {m.num_parameters:,.0f} parameters"),
        ("training FLOPs / sample", f"{m.training_flops_per_sample:.4g}"),
        ("tokens / sample", str(m.tokens_per_sample)),
        (
            "device",
            f"{c.device.preset or 'custom'}: {c.device.peak_flops / 1e12:.4g} TFLOP/s peak, "
            f"{format_binary_size(c.device.memory)}, " + _compute_description(scenario),
        ),
        ("cluster", f"{c.nodes} nodes x {c.workers_per_node} workers = {scenario.world_size}"),
        ("intra-node link", f"{format_bandwidth(c.intra_node.bandwidth)}, {format_time(c.intra_node.latency)}"),
        (
            "inter-node link",
            f"{format_bandwidth(c.inter_node.bandwidth)} x {c.inter_node.nics_per_node} NICs, "
            f"{format_time(c.inter_node.latency)}",
        ),
        (
            "topology",
            c.topology.kind
            + (f" (oversubscription {c.topology.oversubscription:g})" if c.topology.kind == "fat-tree" else ""),
        ),
        ("parallelism", f"DP {scenario.data_parallel} x TP {t.tensor_parallel} x PP {t.pipeline_parallel}"),
        (
            "batch",
            f"global {t.global_batch} = DP {scenario.data_parallel} x micro {t.micro_batch} "
            f"x accumulation {scenario.accumulation_steps}",
        ),
        ("tokens / step", f"{scenario.tokens_per_step:,}"),
        ("optimizer", f"{t.optimizer}, {t.precision}, ZeRO stage {t.zero_stage}"),
        ("gradient / device", f"{format_size(grad_bytes)} in {bucket_text}"),
        ("DP collectives", _collectives_text(scenario)),
        ("calibration", scenario.calibration.profile if scenario.calibration else "catalog numbers"),
        ("scenario hash", scenario.scenario_hash()),
    ]
    table = Table(title=f"{user_text(scenario.name)}: valid", box=box.SIMPLE_HEAD, show_header=False)
    table.add_column("field")
    table.add_column("value")
    for name, value in rows:
        table.add_row(name, user_text(value))
    return render(table)


def _compute_description(scenario: Scenario) -> str:
    """How compute is priced: flat efficiency, or the operation-level GEMM curve."""
    from dpsim.compute import flat_fraction, prices_flat

    d = scenario.cluster.device
    if prices_flat(scenario.model, d) or d.matmul_efficiency is None:
        return f"flat efficiency {flat_fraction(d):g}"
    return (
        f"operations: GEMMs at {d.matmul_efficiency:.3g} of peak + {d.kernel_overhead * 1e6:g} us, "
        f"{scenario.model.attention} attention, {scenario.training.precision}"
    )


def _catalog_rows(kind: str) -> list[dict[str, Any]]:
    if kind == "devices":
        return [
            {
                "name": d.name,
                "peak_flops": d.peak_flops,
                "memory_bytes": d.memory_bytes,
                "memory_bandwidth": d.memory_bandwidth,
                "peak_flops_fp8": d.peak_flops_fp8,
                "matmul_efficiency": d.matmul_efficiency,
                "efficiency": d.efficiency,
                "source": d.source,
            }
            for d in catalog.DEVICES.values()
        ]
    if kind == "links":
        return [
            {
                "name": k.name,
                "bandwidth": k.bandwidth,
                "efficiency": k.efficiency,
                "achievable": k.achievable,
                "intra_achievable": k.intra_achievable,
                "latency_s": k.latency_s,
                "source": "; ".join(
                    [k.source]
                    + ([f"efficiency: {k.efficiency_source}"] if k.efficiency_source else [])
                    + ([f"intra-node: {k.intra_efficiency_source}"] if k.intra_efficiency_source else [])
                ),
            }
            for k in catalog.LINKS.values()
        ]
    return [
        {
            "name": spec.name,
            "kind": spec.kind,
            "parameters": catalog.model_parameters(spec),
            "flops_per_sample": catalog.model_flops_per_sample(spec),
            "layers": spec.layers,
            "hidden": spec.hidden,
            "seq_len": spec.seq_len,
            "source": spec.source,
        }
        for spec in catalog.MODELS.values()
    ]


def _catalog_cell(name: str, value: Any) -> str:
    if name in ("peak_flops", "peak_flops_fp8"):
        return f"{value / 1e12:.4g} TFLOP/s" if value else "-"
    if name in ("memory_bandwidth", "bandwidth", "achievable", "intra_achievable"):
        return format_bandwidth(value)
    if name == "parameters":
        return f"{value / 1e9:.4g} B" if value >= 1e9 else f"{value / 1e6:.4g} M"
    if name == "flops_per_sample":
        return f"{value:.3g}"
    return _human(name, value)


def format_catalog(kinds: Sequence[str], fmt: str) -> str:
    """The catalog (devices, links, models) as tables, one JSON object, or CSV (one kind per block)."""
    data = {kind: _catalog_rows(kind) for kind in kinds}
    if fmt == "json":
        return to_json(data if len(kinds) > 1 else data[kinds[0]])
    blocks: list[str] = []
    for kind, rows in data.items():
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            blocks.append(buffer.getvalue().rstrip("\n"))
            continue
        table = Table(title=kind, box=box.SIMPLE_HEAD)
        columns = [c for c in rows[0] if c != "source"] + ["source"]
        for column in columns:
            table.add_column(column, overflow="fold", max_width=60 if column == "source" else None)
        for row in rows:
            table.add_row(*(_catalog_cell(c, row[c]) for c in columns))
        blocks.append(render(table))
    return "\n\n".join(blocks)
