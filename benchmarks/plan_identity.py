"""Prove that a change moved no plan: hash the planner's screen per request, run the hostile ``plan`` cases, compare.

A planner change (a screen split, a cache, a vectorised term) claims "no plan moved". This script makes the claim
checkable, as ``benchmarks/predict_identity.py`` does for single predictions: run it on the tree before and on the
tree after, then compare the two files::

    python benchmarks/plan_identity.py --out before.jsonl [--only TEXT] [--parts frames|hostile|both]
    python benchmarks/plan_identity.py --compare before.jsonl after.jsonl

Two parts, one JSON line per item:

- ``frames``: :func:`dpsim.plan.enumerate_configurations` (the vectorised screen every ``dpsim plan`` ranks) on
  :data:`REQUESTS`: ``benchmarks/planner.py``'s three searches and the README's ``dpsim plan``, then requests that
  reach what those leave out (every all-reduce algorithm, DTensor's sequence parallelism, 2 and 4 GPUs a node, a
  given global batch, V100 + B200, the CPU device, llama3-405b). Each line holds the frame's rows, columns, dtypes,
  ``attrs`` and one hash of every cell per column (``pandas.util.hash_pandas_object``: floats by their bits, so a
  moved last digit is a difference).
- ``hostile``: every in-process ``plan`` case of ``tests/hostile.py`` (the option abuse, lists, extremes, outputs,
  ``--simulate``, cost guards), run as the corpus runs it (its files and environment, a fresh scratch folder each):
  exit status, standard output and error, and every file left in the folder, each by its SHA-256. The scratch
  folder's and the repository's paths are written ``<tmp>`` and ``<repo>``, and ``"configs_per_s"`` (a speed) is
  left out, so two runs of one tree write identical files.

``--compare A B`` prints the first item whose answer differs, with the first differing field; exit status 0 when
every item is identical, 1 when one differs, 2 on a file it cannot read or two files of different items.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.planner import cases as planner_cases
from benchmarks.predict_identity import first_difference, output_file, read_lines
from benchmarks.script_cli import Parser, ScriptError, one_line_errors
from dpsim.cli_common import atomic_output
from dpsim.errors import safe_text
from dpsim.plan import ALGORITHMS, PlanRequest, enumerate_configurations

ROOT = str(Path(__file__).resolve().parent.parent)
PARTS = ("frames", "hostile")


def _requests() -> list[tuple[str, PlanRequest]]:
    """(label, request) of each screened search: planner.py's four, then the options those leave out."""
    dtensor = {"sequence_parallel_kind": "dtensor"}
    more: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("gpt2-xl every algorithm, dtensor", ("gpt2-xl", 20e9, ("a100-80gb", "h100-sxm"), 256),
         {"algorithms": ALGORITHMS, **dtensor}),
        ("llama2-7b auto, dtensor", ("llama2-7b", 2e12, ("h100-sxm",), 512), dtensor),
        ("gpt2-small 2 a node", ("gpt2-small", 10e9, ("a100-40gb",), 64), {"workers_per_node": 2}),
        ("llama3-8b gb 64, 4 a node", ("llama3-8b", 1e12, ("h200",), 256), {"workers_per_node": 4, "global_batch": 64}),
        ("v100 + b200", ("llama2-7b", 1e12, ("v100", "b200"), 512), {"algorithms": ("auto", "ring", "tree")}),
        ("cpu", ("gpt2-small", 1e9, ("cpu",), 32), {"workers_per_node": 4, "algorithms": ("ring", "backend")}),
        ("llama3-405b dtensor", ("llama3-405b", 15e12, ("h100-sxm",), 4096), {"min_devices": 1024, **dtensor}),
    ]  # fmt: skip
    return [*planner_cases(), *((label, PlanRequest(*args, **options)) for label, args, options in more)]


def _hash(series: Any) -> str:
    """One hex digest of a column's cells in order (their bits, by ``hash_pandas_object``)."""
    import pandas as pd

    return hashlib.sha256(pd.util.hash_pandas_object(series, index=True).to_numpy().tobytes()).hexdigest()[:32]


def frame_line(label: str, request: PlanRequest) -> dict[str, Any]:
    """The screen of ``request`` as one line: shape, columns, dtypes, attrs and a hash per column."""
    df = enumerate_configurations(request)
    return {
        "part": "frames",
        "name": label,
        "rows": len(df),
        "columns": [str(c) for c in df.columns],
        "dtypes": [str(t) for t in df.dtypes],
        "attrs": {str(k): v for k, v in sorted(df.attrs.items())},
        "cells": {str(c): _hash(df[c]) for c in df.columns},
        "index": _hash(df.index.to_series()),
    }


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


_SPEED = re.compile(r'"configs_per_s": [^,}]+')


def _portable(text: str, tmp: str) -> str:
    return _SPEED.sub('"configs_per_s": <speed>', text.replace(tmp, "<tmp>").replace(ROOT, "<repo>"))


def hostile_lines(only: str = "") -> Iterator[dict[str, Any]]:
    """Each in-process ``plan`` case of the hostile corpus, run as the corpus runs it, as one line."""
    from tests import hostile

    plan_cases = [c for c in hostile.all_cases() if c.argv[:1] == ["plan"] and not c.subprocess]
    for index, case in enumerate(plan_cases):
        name = f"{index} {case.kind}"
        if only not in name:
            continue
        with tempfile.TemporaryDirectory() as folder:
            tmp = str(Path(folder).resolve())
            argv = hostile._materialise(case, Path(tmp))
            with hostile.case_environment(case, Path(tmp)):
                code, out, err = hostile.run_in_process(argv, case.stdin, case.timeout_s, case.program)
            files = {
                str(p.relative_to(tmp)): _digest(p.read_bytes())
                for p in sorted(Path(tmp).rglob("*"))
                if p.is_file() and not p.is_symlink()
            }
        yield {
            "part": "hostile",
            "name": name,
            "argv": case.argv,
            "code": code,
            "stdout": _digest(_portable(out, tmp).encode("utf-8", "surrogateescape")),
            "stderr": _portable(err, tmp),
            "files": files,
        }


def write(args: Any) -> int:
    parts = PARTS if args.parts == "both" else (args.parts,)
    lines = []
    if "frames" in parts:
        for label, request in _requests():
            if args.only in label:
                lines.append(frame_line(label, request))
    if "hostile" in parts:
        lines.extend(hostile_lines(args.only))
    if not lines:
        raise ScriptError(f"--only: {safe_text(args.only)!r} names no request or hostile case")
    with atomic_output(args.out, "--out") as tmp:
        tmp.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
    frames = sum(line["part"] == "frames" for line in lines)
    print(f"{frames} frames, {len(lines) - frames} hostile cases: written to {args.out.name}")
    return 0


def _is_item(row: Any) -> bool:
    return isinstance(row, dict) and row.get("part") in PARTS and isinstance(row.get("name"), str)


def compare(first: Path, second: Path) -> int:
    a, b = (read_lines(path, _is_item, "an item") for path in (first, second))
    names = [(r["part"], r["name"]) for r in a]
    if names != [(r["part"], r["name"]) for r in b]:
        raise ScriptError(
            f"--compare: {safe_text(first.name)} and {safe_text(second.name)} hold other items (run both with one "
            "--only and --parts)"
        )
    for x, y in zip(a, b, strict=True):
        found = first_difference(x, y)
        if found:
            print(safe_text(f"{x['part']} {x['name']!r} differs at {found.lstrip('.')}"))
            return 1
    frames = sum(r["part"] == "frames" for r in a)
    print(f"{frames} frames and {len(a) - frames} hostile cases identical")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The harness, with bad options one line on stderr and status 2."""
    return one_line_errors(functools.partial(_main, argv))()


def _main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", choices=[*PARTS, "both"], default="both")
    parser.add_argument("--only", default="", help="only the requests and hostile cases whose name holds this text")
    parser.add_argument("--out", type=Path, help="the file to write the items to (one JSON line each)")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("A", "B"), help="compare two files written so")
    args = parser.parse_args(argv)
    return write(args) if output_file(args, "items") else compare(*args.compare)


if __name__ == "__main__":
    sys.exit(main())
