"""A validation's step error over its runs on a quiet host only (issue 10): runs whose recorded
``extra.host_load.other_cores`` (other processes' cores during the run, :mod:`runtime.hostload`) is at most
``--max-other-cores``; per configuration the median step of those runs against the engines' prediction.

    python benchmarks/quiet_runs.py benchmarks/results/validation-2026-12-04-night [--max-other-cores 0.25]

Reads the folder's ``runs.jsonl`` (every run) and ``records.jsonl`` (per configuration the median run and each
engine's prediction), as ``benchmarks/validate_emulated.py --reuse`` writes them. Runs without a recorded
host load count as quiet.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from dpsim.errors import ScenarioError
from dpsim.records import read_jsonl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, number


def _other_cores(extra: dict[str, object], folder: Path, line: int) -> float | str:
    """A run's ``extra.host_load.other_cores`` (0 where the run has no sampler's record), or why it cannot be read
    (round 27: a ``host_load`` that is not a record was an ``AttributeError`` traceback, a NaN kept no run)."""
    load = extra.get("host_load") or {}
    value = load.get("other_cores") if isinstance(load, dict) else None
    if not isinstance(load, dict) or not (value is None or (isinstance(value, int | float) and 0 <= value < 1e6)):
        return f"{folder / 'runs.jsonl'}: run {line}: extra.host_load: expected the sampler's record, other_cores >= 0"
    return float(value or 0.0)


def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--max-other-cores", type=number(0.0, 1e6), default=0.25,
                   help="keep the runs with at most this many cores of other processes (round 27: 'nan' kept none, "
                   "silently)")  # fmt: skip
    args = p.parse_args()
    try:
        runs = read_jsonl(args.folder / "runs.jsonl")
        records = read_jsonl(args.folder / "records.jsonl")
    except ScenarioError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    measured = [r for r in records if r.engine == "runtime"]
    engines = sorted({r.engine for r in records} - {"runtime"})
    if not measured or len(runs) % len(measured):
        print(f"error: {args.folder}: {len(runs)} runs do not split over {len(measured)} configurations",
              file=sys.stderr)  # fmt: skip
        return 2
    repeats = len(runs) // len(measured)
    for line, run in enumerate(runs, 1):  # round 30: a quiet median of 0 was a ZeroDivisionError mid-table
        if not run.step_time_s > 0:
            print(f"error: {args.folder / 'runs.jsonl'}: line {line}: field step_time_s: expected a measured step "
                  f"> 0, got {run.step_time_s!r}", file=sys.stderr)  # fmt: skip
            return 2
    errors: dict[str, list[float]] = {name: [] for name in engines}
    for i, median_run in enumerate(measured):
        group = runs[i * repeats : (i + 1) * repeats]
        other = [_other_cores(r.extra, args.folder, i * repeats + j + 1) for j, r in enumerate(group)]
        if (bad := next((o for o in other if isinstance(o, str)), None)) is not None:
            print(f"error: {bad}", file=sys.stderr)
            return 2
        quiet = [r.step_time_s for r, o in zip(group, other, strict=True) if float(o) <= args.max_other_cores]
        steps = ", ".join(f"{1e3 * r.step_time_s:.0f}" for r in group)
        cells = [f"{i:3d} {median_run.world_size} ranks: runs {steps} ms"
                 f" (other processes {', '.join(f'{o:.2f}' for o in other)} cores)"]  # fmt: skip
        for name in engines:
            predicted = [r for r in records if r.engine == name][i].step_time_s
            if quiet:
                m = statistics.median(quiet)
                errors[name].append(100 * (predicted - m) / m)
                cells.append(f"{name} {1e3 * predicted:.0f} ms, {errors[name][-1]:+.1f} % of the quiet runs' median")
        print("; ".join(cells))
    for name in engines:
        e = errors[name]
        if not e:
            print(f"{name}: no configuration has a run with other processes at most {args.max_other_cores} cores")
            continue
        print(f"{name}: step MAPE {statistics.mean(abs(x) for x in e):.2f} % over the runs with other processes at "
              f"most {args.max_other_cores} cores ({len(e)} of {len(measured)} configurations), worst "
              f"{max(e, key=abs):+.1f} %, mean {statistics.mean(e):+.1f} %")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
