"""The one result record all engines produce: :class:`StepResult`.

Flat and immutable, so a validation report is a join of measured and predicted records
plus an error column. JSON lines in and out (:func:`write_jsonl`, :func:`read_jsonl`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CORE_FIELDS", "StepResult", "read_jsonl", "record_problem", "records_to_frame", "write_jsonl"]

CORE_FIELDS = (
    "scenario",
    "engine",
    "world_size",
    "step_time_s",
    "compute_s",
    "comm_s",
    "exposed_comm_s",
    "bubble_s",
    "optimizer_s",
    "samples_per_s",
    "scaling_efficiency",
    "memory_per_device_bytes",
)
"""Fields every ``--format json`` output carries (the public CLI contract)."""


@dataclass(frozen=True)
class StepResult:
    """One training step (or the median of several), predicted or measured."""

    scenario: str
    """Scenario name."""
    engine: str
    """analytic | sim | runtime."""
    world_size: int
    step_time_s: float
    """Wall time of one optimizer step."""
    compute_s: float
    """Forward + backward compute of all micro-batches on the critical path."""
    comm_s: float
    """Total gradient/parameter communication time (hidden or not)."""
    exposed_comm_s: float
    """Communication not hidden behind compute."""
    bubble_s: float
    """Pipeline bubble (idle stages)."""
    optimizer_s: float
    """Optimizer update."""
    samples_per_s: float
    scaling_efficiency: float
    """Throughput per worker relative to one worker running the same per-worker job alone."""
    memory_per_device_bytes: float
    barrier_s: float = 0.0
    """Waiting for the slowest worker at the gradient synchronisation."""
    tokens_per_s: float = 0.0
    mfu: float = 0.0
    """Model FLOPs utilisation: model FLOPs per second / (workers × the peak of the training precision's GEMMs,
    :func:`dpsim.compute.mfu_peak_flops`)."""
    memory_capacity_bytes: float = 0.0
    oom: bool = False
    data_parallel: int = 1
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    accumulation_steps: int = 1
    global_batch: int = 0
    algorithm: str = ""
    zero_stage: int = 0
    fidelity: str = ""
    step_time_ci95_s: float = 0.0
    """Half width of the 95 % interval over replications / measured steps (0 if one)."""
    scenario_hash: str = ""
    hardware_source: str = "catalog"
    """Where hardware numbers came from: 'catalog' or the calibration profile's path."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Engine-specific details (breakdowns, host, backend, torch version, per-rank data)."""

    def to_dict(self) -> dict[str, Any]:
        # shallow (fields are scalars; ``extra`` is copied one level): dataclasses.asdict deep-copies
        # and would dominate the cost of an analytic sweep point
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["extra"] = dict(self.extra)
        return data

    def flat(self) -> dict[str, Any]:
        """Scalar fields only, plus ``extra`` entries that are scalars (for CSV/DataFrames), and the fields set but
        read by nothing (``ignored_fields``, ``{field: why}``) as one text, ``field: why; field: why``."""
        data = {k: v for k, v in self.to_dict().items() if k != "extra"}
        for key, value in self.extra.items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                data[key] = value
            elif key == "ignored_fields" and isinstance(value, Mapping):
                data[key] = "; ".join(f"{field}: {why}" for field, why in value.items())
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepResult:
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in data.items() if k in names}
        extra = dict(known.pop("extra", {}) or {})
        extra.update({k: v for k, v in data.items() if k not in names})
        return cls(**known, extra=extra)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(StepResult))


def write_jsonl(path: str | Path, records: Iterable[StepResult], append: bool = False, field: str = "records") -> None:
    """Write ``records`` one JSON object a line: a new file whole (:func:`dpsim.outputs.replaced`), or appended.

    Neither writes through a symbolic link (:func:`dpsim.outputs.refuse_link`).
    """
    from dpsim.outputs import refuse_link, replaced

    lines = "".join(json.dumps(record.to_dict(), sort_keys=True) + "\n" for record in records)
    if append:
        refuse_link(path, field)
        with Path(path).open("a", encoding="utf-8") as fh:
            fh.write(lines)
        return
    with replaced(path, field) as tmp:
        tmp.write_text(lines, encoding="utf-8")


RECORDS_MAX_BYTES = 64 << 20
"""Largest records file :func:`read_jsonl` reads (64 MiB, as ``dpsim report`` inputs)."""


def read_jsonl(path: str | Path) -> list[StepResult]:
    """The records of a JSON-lines file; a missing, non-UTF-8 or damaged file is a one-line :class:`ScenarioError`."""
    from dpsim import inputs
    from dpsim.errors import ScenarioError

    records = []
    for number, line in enumerate(inputs.read_text(path, limit=RECORDS_MAX_BYTES).splitlines(), 1):
        if not line.strip():
            continue
        try:
            # round 27: json.loads kept the last of a key given twice and read NaN / Infinity as numbers
            data = inputs.load_json(line, str(path))
            if not isinstance(data, dict):
                raise TypeError(f"a record is a JSON object, got {type(data).__name__}")
            if (problem := record_problem(data)) is not None:
                raise ScenarioError("", f"line {number}: {problem}", str(path))
            records.append(StepResult.from_dict(data))
        except ScenarioError as exc:  # not JSON: load_json's one line, with the line it is on
            if exc.source == str(path) and exc.message.startswith(f"line {number}: "):
                raise  # record_problem's, whole
            raise ScenarioError("", f"line {number}: not a record: {exc.message}", str(path)) from None
        except (ValueError, TypeError, RecursionError) as exc:
            raise ScenarioError("", f"line {number}: not a record: {inputs.brief(str(exc))}", str(path)) from None
    return records


_FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(StepResult)}
NUMBER_EXTRA_SUFFIXES = ("_s", "_bytes", "_bytes_per_s")
"""``extra`` entries that are amounts (a time, a size, a rate): named so, or ``per_rank_*``, ``host_load`` and
``bucket_bytes``. Each is a finite number ≥ 0, or a list or mapping of them (per rank, per bucket)."""


TEXT_EXTRA = ("tcp_congestion_control", "host", "algorithm", "backend", "precision", "comm_hook", "testbed")
"""``extra`` entries that are texts: the readers compare and print them (``runtime.validate``'s TCP control check,
``runtime.measure.ran_autocast``'s precision label). Each is a printable text (round 29: a list, a number or an
escape code was taken, compared as its ``str`` and printed, status 0)."""
FLAG_EXTRA = ("autocast", "ddp_at_one_rank", "gradient_as_bucket_view")
"""``extra`` entries that are true or false (``runtime.measure.ran_autocast``, ``ran_ddp``, ``ran_bucket_views``)."""
TEXTS_EXTRA = ("namespaces",)
"""``extra`` entries that are lists of printable texts."""


def _text_problem(value: Any) -> str | None:
    """Why ``value`` is no printable text (no escape code, line break or other control character), or None."""
    if not isinstance(value, str):
        return f"expected a text, got {type(value).__name__}"
    return None if value.isprintable() else f"expected a printable text, got {_brief(value)}"


def _flag_problem(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"expected true or false, got {_brief(value)}"


def _amount_problem(value: Any) -> str | None:
    """Why ``value`` is no amount (a finite number ≥ 0), or None. JSON's NaN / Infinity are read as no value."""
    if value is None:
        return f"expected a finite number ≥ 0, got {_brief(value)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a finite number ≥ 0, got {type(value).__name__}"
    if value < 0:
        return f"expected a finite number ≥ 0, got {value!r}"
    return None


def _amount_extra(key: str) -> bool:
    return key.endswith(NUMBER_EXTRA_SUFFIXES) or key.startswith("per_rank_") or key in ("host_load", "bucket_bytes")


def record_problem(data: Mapping[str, Any]) -> str | None:
    """Why the JSON object ``data`` is no stored record, naming the field, or None.

    Every field of :class:`StepResult` given has its type (a count an integer ≥ 0, an amount a finite number ≥ 0,
    a text a string, ``oom`` a boolean, ``extra`` an object), and every amount in ``extra``
    (:data:`NUMBER_EXTRA_SUFFIXES`) is one (round 28: a NaN, read as no value, or a string reached the readers'
    arithmetic as a TypeError, and a negative time was averaged in silently).
    """
    for name, kind in _FIELD_TYPES.items():
        if name not in data:
            continue
        value = data[name]
        if kind == "float":
            problem = _amount_problem(value)
        elif kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            problem = None if ok else f"expected a whole number ≥ 0, got {_brief(value)}"
        elif kind == "str":
            problem = _text_problem(value)
        elif kind == "bool":
            problem = _flag_problem(value)
        else:  # extra
            problem = None if isinstance(value, dict) else f"expected an object, got {type(value).__name__}"
        if problem is not None:
            return f"field {name}: {problem}"
    for key, value in (data.get("extra") or {}).items():
        if key in TEXT_EXTRA or key in FLAG_EXTRA or key in TEXTS_EXTRA:  # round 29: read and printed as texts
            problem = (_text_problem(value) if key in TEXT_EXTRA else _flag_problem(value) if key in FLAG_EXTRA
                       else next(filter(None, map(_text_problem, value)), None) if isinstance(value, list)
                       else f"expected a list of texts, got {type(value).__name__}")  # fmt: skip
            if problem is not None:
                return f"field extra.{key}: {problem}"
            continue
        if not _amount_extra(key):
            continue
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
        for part, item in [(None, value)] if items is None else items:
            if (problem := _amount_problem(item)) is not None:
                where = f"extra.{key}" if part is None else f"extra.{key}[{part!r}]"
                return f"field {where}: {problem}"
    return None


def _brief(value: Any) -> str:
    """``value`` as an error names it (:func:`dpsim.inputs.brief`); JSON's null, NaN and Infinity are read as None."""
    from dpsim.inputs import brief

    return "no value (null, NaN or Infinity)" if value is None else brief(value)


def records_to_frame(records: Iterable[StepResult]) -> Any:
    """A pandas DataFrame with one row per record (pandas imported lazily)."""
    import pandas as pd

    return pd.DataFrame([r.flat() for r in records])


def nested_value(value: Any) -> bool:
    """Whether a sweep cell is a list or mapping (a ``--vary`` value: ``communication.nccl_proto=[LL128,Simple]``)."""
    return isinstance(value, (list, tuple, dict))


def cell_text(value: Any) -> Any:
    """A sweep cell as a CSV, table or plot writes it: a list or mapping as JSON, ``["LL128", "Simple"]``, as
    ``--format json`` has it (pandas and ``str`` wrote Python's ``['LL128', 'Simple']``, which no CSV reader parses
    back); anything else as it is."""
    return json.dumps(value) if nested_value(value) else value
