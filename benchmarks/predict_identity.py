"""Prove that a change moved no prediction: price seeded random cases, write every answer, compare two trees' files.

A refactor (a function split, a module moved, a cache added) claims "no answer moved". This script makes the claim
checkable: run it on the tree before and on the tree after with the same seed, then compare the two files::

    python benchmarks/predict_identity.py --cases 400 --seed 0 --out before.jsonl [--engine analytic|sim|both]
                                          [--draws mix|plain|wide|wider|widest|host|jitter|float8]
                                          [--set PATH=VALUE ...]
    python benchmarks/predict_identity.py --compare before.jsonl after.jsonl

Each case is one draw of :func:`benchmarks.agreement_fuzz.draw` (a bundled scenario and ``--set`` overrides its
validators accept; ``--draws mix``, the default, cycles plain, ``--wide``, ``--wider``, ``--widest`` and
``--host-topology`` draws from one seeded generator). Two kinds reach what those draws never set, and stay out of
``mix`` (so a file written with ``mix`` before they existed still compares):

- ``--draws jitter``: a ``--wider`` draw (stragglers, ``training.partition: weighted``, the calibration profile's
  reducer pass, accumulation: the shapes of a rank's draws) under a compute jitter, lognormal three times in four
  (its exact price, :mod:`dpsim.rank_speed`), at a CV of 0.05 to 10, sometimes a persistent per-rank speed spread
  and another seed (a case whose convolutions pass the cost guard's 30 s is refused, as ``dpsim run`` refuses it).
- ``--draws float8``: a ``--wide`` draw (sequence parallelism and its overlaps) on an FP8 device with
  ``training.precision: fp8``, tensor parallelism 2, 4 or 8 and each ``model.fp8_linear`` (Transformer Engine's two
  and torchao's tensorwise Float8 under tensor parallelism).

Their fields go before the ``--set`` extras (which win) and the draw is made beside them, so the validators accept
every case; a field drawn before them is written once, with their value.

Each line of the file holds the case and, per engine, either :meth:`dpsim.records.StepResult.to_dict` (every field
and ``extra`` entry, floats written so they read back exactly) or the one-line error the case was refused with. The
repository's own path is written as ``<repo>``, and ``scenario_hash`` hashes the scenario so written
(:func:`portable_hash`), so two checkouts of one commit write identical files.

``--compare A B`` reads two such files and prints the first case whose draw, answer or refusal differs, with the
first differing field; exit status 0 when every case is identical, 1 when one differs, 2 on a file it cannot read.
A case that ran past ``--case-timeout`` on either side is counted apart (not compared), as a timeout depends on the
machine's load.
"""

from __future__ import annotations

import functools
import json
import math
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.agreement_fuzz import Refused, _Timeout, case_alarm, draw
from benchmarks.script_cli import Parser, ScriptError, one_line_errors, whole
from dpsim import run
from dpsim.cli_common import atomic_output, check_writable
from dpsim.errors import ScenarioError, safe_text
from dpsim.scenario import Scenario, data_hash, load_scenario

ROOT = str(Path(__file__).resolve().parent.parent)
DRAWS = {  # the agreement_fuzz.draw flags of each kind: host, wide, wider, widest
    "plain": (False, False, False, False),
    "wide": (False, True, False, False),
    "wider": (False, False, True, False),
    "widest": (False, False, False, True),
    "host": (True, False, False, False),
    "jitter": (False, False, True, False),
    "float8": (False, True, False, False),
}
MIX = ["plain", "wide", "wider", "widest", "host"]
"""``--draws mix``: the kinds it cycles (those of stop 49, so its files stay comparable with older ones)."""

JITTER_CVS = [0.05, 0.3, 1.0, 3.0, 10.0]
FP8_DEVICES = ["h100-sxm", "h200", "b200"]  # the catalog's devices with an FP8 peak
FP8_LINEAR = ["te_layernorm_linear", "te_linear", "torchao_tensorwise"]


def _jitter_fields(rng: random.Random) -> list[str]:
    """``--draws jitter``'s fields: a compute jitter of CV 0.05 to 10, lognormal three times in four (else gamma, or
    normal within its floor), a per-rank speed spread one time in three, another seed one time in four."""
    cv = rng.choice(JITTER_CVS)
    distribution = rng.choice(["lognormal", "lognormal", "lognormal", "gamma" if cv > 0.4 else "normal"])
    fields = [f"variability.compute_jitter_cv={cv}", f"variability.jitter_distribution={distribution}"]
    if rng.random() < 1 / 3:
        fields.append(f"variability.rank_speed_sigma={rng.choice([0.02, 0.1, 0.2])}")
    if rng.random() < 1 / 4:
        fields.append(f"variability.seed={rng.randrange(1000)}")
    return fields


def _float8_fields(rng: random.Random) -> list[str]:
    """``--draws float8``'s fields: an FP8 device, FP8 training, tensor parallelism 2, 4 or 8, each linear kind."""
    return [
        f"cluster.device={rng.choice(FP8_DEVICES)}",
        "training.precision=fp8",
        f"model.fp8_linear={rng.choice(FP8_LINEAR)}",
        f"training.tensor_parallel={rng.choice([2, 4, 8])}",
    ]


FIELDS = {"jitter": _jitter_fields, "float8": _float8_fields}
"""The kinds whose own fields are drawn before the case (the others draw none)."""


def _last_wins(overrides: list[str]) -> list[str]:
    """``overrides`` with each path written once, at its last value (the one :func:`load_scenario` applies)."""
    last = {item.partition("=")[0]: index for index, item in enumerate(overrides)}
    return [item for index, item in enumerate(overrides) if last[item.partition("=")[0]] == index]


def _portable(value: Any) -> Any:
    """``value`` with the repository's path written ``<repo>`` (a profile path in a draw or a record), tuples as
    lists, so the line is JSON and the same from any checkout."""
    if isinstance(value, str):
        return value.replace(ROOT, "<repo>")
    if isinstance(value, dict):
        return {str(k): _portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_portable(v) for v in value]
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    return _portable(repr(value))


def portable_hash(scenario: Scenario) -> str:
    """:meth:`Scenario.scenario_hash` of ``scenario`` with the repository's path written ``<repo>``: the hash of a
    scenario whose ``calibration.profile`` lies in the checkout (resolved to an absolute path) is the same from any
    checkout, and equals ``scenario_hash()`` wherever the scenario names no path of it (so older files compare)."""
    return data_hash(_portable(scenario.model_dump(mode="json")))


def _answer(path: Path, sets: list[str], engine: str, timeout: int) -> dict[str, Any]:
    """One engine's answer to a case: ``{"result": to_dict()}``, ``{"refused": one line}``, ``{"crash": text}`` or
    ``{"timeout": s}``. The record's ``scenario_hash`` is :func:`portable_hash`'s."""
    try:
        with case_alarm(timeout):
            scenario = load_scenario(path, sets)
            result = run(scenario, engine=engine).to_dict()
        if result["scenario_hash"] == scenario.scenario_hash():  # an engine's own hash, if it wrote one, stays seen
            result["scenario_hash"] = portable_hash(scenario)
        return {"result": result}
    except ScenarioError as exc:
        return {"refused": exc.one_line()}
    except _Timeout:
        return {"timeout": timeout}
    except Exception as exc:  # a crash is an answer too: the same crash on both trees is no change
        return {"crash": f"{type(exc).__name__}: {exc}"}


def cases(seed: int, count: int, kinds: list[str], extra: list[str]) -> Iterator[tuple[str, Path, list[str]]]:
    """``count`` draws from one generator seeded ``seed``: (kind, scenario file, overrides); the kinds cycle. A
    kind with its own fields (:data:`FIELDS`) draws them first, then the case beside them."""
    rng = random.Random(seed)
    made = tries = 0
    while made < count and tries < 50 * count:
        kind = kinds[made % len(kinds)]
        tries += 1
        own = FIELDS[kind](rng) if kind in FIELDS else []
        try:
            path, sets = draw(rng, [*own, *extra], *DRAWS[kind])
        except Refused:
            continue
        made += 1
        yield kind, path, _last_wins(sets) if own else sets


def price(args: Any) -> int:
    kinds = MIX if args.draws == "mix" else [args.draws]
    engines = ["analytic", "sim"] if args.engine == "both" else [args.engine]
    lines = []
    for index, (kind, path, sets) in enumerate(cases(args.seed, args.cases, kinds, args.set)):
        row = {"case": index, "draws": kind, "file": path.name, "sets": sets}
        row |= {engine: _answer(path, sets, engine, args.case_timeout) for engine in engines}
        lines.append(json.dumps(_portable(row), sort_keys=True) + "\n")
    with atomic_output(args.out, "--out") as tmp:  # round 31: /dev/full was an OSError traceback after the pricing
        tmp.write_text("".join(lines))
    timeouts = sum(line.count('"timeout"') for line in lines)
    print(f"{len(lines)} cases, {', '.join(engines)}: written to {args.out.name} ({timeouts} past the timeout)")
    return 0


MAX_DEPTH = 32
"""The deepest nesting of a line this script writes is 5 (a record's ``extra`` mapping of lists; plan_identity's
items 3): deeper is not its file (round 31: a line nested 100,000 deep was a ``RecursionError`` traceback)."""


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and mappings (iteratively: no recursion to run out of)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _is_case(row: Any) -> bool:
    """Whether ``row`` has the shape of a line :func:`price` writes: a whole ``case``, a text ``draws`` and ``file``,
    ``sets`` a list of texts, and each engine's answer a mapping (round 31: an answer that was a number or text was a
    ``TypeError`` traceback)."""
    return (
        isinstance(row, dict)
        and isinstance(row.get("case"), int)
        and not isinstance(row.get("case"), bool)
        and all(isinstance(row.get(key), str) for key in ("draws", "file"))
        and isinstance(row.get("sets"), list)
        and all(isinstance(s, str) for s in row["sets"])
        and all(isinstance(row.get(engine, {}), dict) for engine in ("analytic", "sim"))
    )


def read_lines(path: Path, accepts: Callable[[Any], bool] = _is_case, what: str = "a case") -> list[dict[str, Any]]:
    """The lines of a file this script (or ``benchmarks/plan_identity.py``) wrote, each one ``accepts`` takes and
    nested at most :data:`MAX_DEPTH` deep (:func:`first_difference` recurses: round 32, plan_identity's items were
    not depth-checked and a line nested 900 deep was a ``RecursionError`` traceback), or a one-line
    :class:`ScriptError` naming ``--compare`` (a FIFO, a folder, not UTF-8, a line of another shape)."""
    if path.exists() and not path.is_file():  # a FIFO waited for a writer forever, a folder was a bare OSError
        raise ScriptError(f"--compare: {safe_text(str(path))}: expected a file this script wrote")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"--compare: cannot read {safe_text(str(path))}: {exc.strerror or exc}") from None
    except ValueError:  # not UTF-8 (round 31: a UnicodeDecodeError traceback)
        raise ScriptError(f"--compare: {safe_text(str(path))}: not UTF-8 text, not a file this script wrote") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            row = None
        if not (accepts(row) and _depth(row) <= MAX_DEPTH):
            raise ScriptError(f"--compare: {safe_text(str(path))}: line {number} is not {what} this script wrote")
        rows.append(row)
    return rows


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """The first key path at which ``a`` and ``b`` differ (NaN equals NaN: the same answer), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}.{key} (only in {'B' if key not in a else 'A'})"
            found = first_difference(a[key], b[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        found = (first_difference(x, y, f"{where}[{i}]") for i, (x, y) in enumerate(zip(a, b, strict=True)))
        return next((f for f in found if f), None)
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return None
    return None if type(a) is type(b) and a == b else f"{where}: {a!r} vs {b!r}"


def compare(first: Path, second: Path) -> int:
    a, b = read_lines(first), read_lines(second)
    if len(a) != len(b):
        raise ScriptError(
            f"--compare: {safe_text(first.name)} holds {len(a)} cases, {safe_text(second.name)} {len(b)}: not one draw"
        )
    timed_out = 0
    for x, y in zip(a, b, strict=True):
        if any("timeout" in side.get(e, {}) for side in (x, y) for e in ("analytic", "sim")):
            timed_out += 1
            continue
        found = first_difference(x, y)
        if found:
            line = f"case {x['case']} differs at {found.lstrip('.')}: {x['file']} {' '.join(x['sets'])}"
            print(safe_text(line))  # the keys and texts of a file given to it: no escape code reaches the terminal
            return 1
    print(f"{len(a) - timed_out} cases identical ({timed_out} past the timeout on a side, not compared)")
    return 0


def output_file(args: Any, what: str) -> Path | None:
    """``--out`` checked before any work (a file in an existing folder, writable: not a special file, a link or an
    unwritable folder), or None under ``--compare``, which takes no ``--out`` (this script's and
    ``benchmarks/plan_identity.py``'s)."""
    if args.compare:
        if args.out is not None:
            raise ScriptError("--compare reads two files; --out writes one: give one of them")
        return None
    if args.out is None:
        raise ScriptError(f"--out: expected a file to write the {what} to (or --compare A B)")
    if args.out.is_dir() or not args.out.parent.is_dir():
        raise ScriptError(f"--out: {safe_text(str(args.out))}: expected a file in an existing folder")
    check_writable(args.out, "--out", ())
    return Path(args.out)


def main(argv: list[str] | None = None) -> int:
    """The harness, with bad options one line on stderr and status 2."""
    return one_line_errors(functools.partial(_main, argv))()


def _main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=whole(1, 1_000_000), default=400)
    parser.add_argument("--seed", type=whole(0, (1 << 63) - 1), default=0)
    parser.add_argument("--engine", choices=["analytic", "sim", "both"], default="analytic")
    parser.add_argument("--draws", choices=["mix", *DRAWS], default="mix")
    parser.add_argument("--set", action="append", default=[], help="PATH=VALUE added to every case (repeatable)")
    parser.add_argument("--case-timeout", type=whole(1, 86_400), default=60, help="seconds per engine and case")
    parser.add_argument("--out", type=Path, help="the file to write the cases to (one JSON line each)")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("A", "B"), help="compare two files written so")
    args = parser.parse_args(argv)
    if output_file(args, "cases") is None:
        return compare(*args.compare)
    if args.set:
        try:
            load_scenario(None, args.set)
        except ScenarioError as exc:
            raise ScriptError(f"--set: {exc.one_line()}") from None
    return price(args)


if __name__ == "__main__":
    sys.exit(main())
