"""nccl-tests output (``all_reduce_perf``, ``all_gather_perf``, ``reduce_scatter_perf``) → fitted links.

**Parsing.** nccl-tests prints one table per test (``src/common.cu``: ``Reporter``): a header
naming the columns, then one row per size — ``size count type [redop] [root]`` followed by
``time algbw busbw #wrong`` twice, out-of-place then in-place. The formats differ by
version, and all are accepted:

- ``redop`` and ``root`` columns (nccl-tests ≥ 2.11: ``sum -1``, all-gather ``none -1``);
  ``redop`` only (older all-reduce); neither (older all-gather and reduce-scatter);
- the error column ``error`` (``0e+00``) or ``#wrong`` (``0``, or ``N/A`` without checks);
- ``time`` or ``cputime`` (``-C 1``); the in-place block may come first (some forks);
- banners: ``nccl-tests version X nccl-headers=… nccl-library=…``, ``Collective test
  starting: all_reduce_perf``; device lines ``Rank 0 Group 0 Pid … on HOST device 0 […] NAME``
  (``Group`` is newer); NCCL's own ``NCCL INFO NCCL version 2.x`` and
  ``NCCL_ALGO set by environment to Ring`` lines; mpirun prefixes ``[1,0]<stdout>:`` or
  ``[0]``, srun ``--label`` prefixes ``0:``; leading ``#`` lost when output was pasted into markdown.

The collective comes from the banner, the command line, the file name or the ``redop``
column (``none`` with root −1: all-gather); the rank count from the device lines, or else
from ``busbw/algbw`` (nccl-tests: all-reduce ``2(N−1)/N``, all-gather and reduce-scatter
``(N−1)/N`` — ``doc/PERFORMANCE.md``); the link class from the hosts (one host: ``intra``);
the algorithm from ``NCCL_ALGO`` (Ring → ``ring``, Tree → ``tree``), otherwise ``ring``.

**Fitting.** Each size is measured twice (out-of-place, in-place); its time is the harmonic
mean of the two (the time of the mean printed busbw). Per (link class, algorithm,
collective), :func:`fit_curve` fits the fewest contiguous α–β size regimes that reproduce
every printed busbw within the tolerance (5 %). The regimes are NCCL's: for each size its
tuner picks one (algorithm, protocol) — ring or tree × LL, LL128, Simple, six α–β lines
(``src/graph/tuning.cc``) — and then scales the channel count down for messages below
``nChannels × threads × threshold`` bytes (``src/enqueue.cc`` ``topoGetAlgoInfo``; the ring
Simple threshold grows with the rank count), so each of those sizes runs with its own
bandwidth. A regime may therefore hold as few as two sizes, and a larger regime may be
slower per byte than a smaller one (the tuner switches by its model, not by measurement;
in the 2 × 4 GH200 sample 4 MiB is slower per byte than 2 MiB). Between measured sizes
the piecewise line interpolates; ``benchmarks/nccl_tests_busbw.py`` reports how well a
size left out is predicted.
The profile keeps every regime (``collectives``), and the engines price each collective
with the regime of its size (:class:`dpsim.analytic.collectives.Fabric` ``regimes``);
its ``links`` entry is the largest-size regime.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dpsim.analytic import collectives as cf
from dpsim.calibration import (
    COLLECTIVE_OPS,
    HardwareProfile,
    LinkSegment,
    collective_coefficients,
    fit_coefficients_minimax,
)
from dpsim.errors import ScenarioError
from dpsim.inputs import brief, read_bytes

__all__ = [
    "BusbwCheck",
    "CurveFit",
    "NcclTestsRun",
    "SizeMeasurement",
    "busbw_factor",
    "engine_busbw",
    "fit_curve",
    "load_nccl_tests",
    "parse_nccl_tests",
    "profile_from_nccl_tests",
    "reproduce_busbw",
    "run_scenario",
    "runs_by_file",
]

_OP_NAMES = {"all_reduce": "all_reduce", "all_gather": "all_gather", "reduce_scatter": "reduce_scatter",
             "broadcast": "broadcast", "reduce": "reduce", "alltoall": "alltoall", "sendrecv": "sendrecv",
             "hypercube": "hypercube", "gather": "gather", "scatter": "scatter"}  # fmt: skip
_NCCL_ALGORITHMS = {"ring": "ring", "tree": "tree"}
"""NCCL_ALGO values with a closed form here; others (NVLS, CollNet, PAT) are recorded but fitted as ring."""

_PREFIX = re.compile(r"^\s*(?:\[[\d,]+\](?:<std(?:out|err)>)?:?\s*|\d+:\s+)?")
"""mpirun's ``[1,0]<stdout>:`` / ``[0]`` tags, or srun's ``--label`` ``0: `` (a rank, a colon, a space)."""
_TEST_START = re.compile(r"Collective test starting:\s*(\w+?)_perf")
_COMMAND = re.compile(r"\b(all_reduce|all_gather|reduce_scatter|broadcast|reduce|alltoall|sendrecv)_perf")
_TESTS_VERSION = re.compile(r"nccl-tests version (\S+)(?:.*?nccl-library=(\d+))?")
_NCCL_VERSION = re.compile(r"NCCL version (\d+\.\d+\.\d+)")
_ENV = re.compile(r"\bNCCL_(ALGO|PROTO)(?:=| set by environment to )\s*\"?([A-Za-z0-9_,^:;]+)")
_DEVICE = re.compile(r"Rank\s+(\d+)\s+(?:Group\s+\d+\s+)?Pid\s+\d+\s+on\s+(\S+)\s+device\s+\d+\s+\[[^\]]*\]\s*(.*)")
_NRANKS = re.compile(r"\bnranks (\d+)\b")


def busbw_factor(op: str, ranks: int) -> float:
    """:func:`dpsim.analytic.collectives.busbw_factor` under this module's collective names (``all_reduce``)."""
    return cf.busbw_factor("allreduce" if op == "all_reduce" else op, ranks)


@dataclass(frozen=True)
class SizeMeasurement:
    """One row of an nccl-tests table (times in s, bandwidths in bytes/s; None where not printed)."""

    size_bytes: int
    out_of_place_s: float | None
    in_place_s: float | None
    out_of_place_busbw: float | None = None
    in_place_busbw: float | None = None
    out_of_place_algbw: float | None = None
    in_place_algbw: float | None = None

    @property
    def time_s(self) -> float:
        """Harmonic mean of the out-of-place and in-place times (both measure the same collective).

        Bus bandwidth is ∝ 1/t, so this is the time whose busbw is the mean of the two printed ones.
        """
        times = [t for t in (self.out_of_place_s, self.in_place_s) if t is not None and t > 0]
        return statistics.harmonic_mean(times) if times else math.nan

    @property
    def busbw(self) -> float | None:
        """Mean of the printed out-of-place and in-place bus bandwidths."""
        values = [b for b in (self.out_of_place_busbw, self.in_place_busbw) if b is not None]
        return statistics.fmean(values) if values else None


@dataclass(frozen=True)
class NcclTestsRun:
    """One nccl-tests table and what the surrounding output says about it."""

    op: str
    ranks: int
    rows: tuple[SizeMeasurement, ...]
    hosts: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    nccl_algo: str | None = None
    nccl_proto: str | None = None
    nccl_version: str | None = None
    tests_version: str | None = None
    dtype: str = ""
    source: str = ""
    notes: tuple[str, ...] = ()

    @property
    def link_class(self) -> str | None:
        """``intra`` when every rank is on one host, ``inter`` when on several, None when the output does not say."""
        if not self.hosts:
            return None
        return "intra" if len(set(self.hosts)) == 1 else "inter"

    @property
    def algorithm(self) -> str:
        """The dpsim algorithm NCCL ran: NCCL_ALGO when pinned to Ring or Tree, else ring."""
        return _NCCL_ALGORITHMS.get((self.nccl_algo or "ring").lower(), "ring")


@dataclass
class _Table:
    columns: list[str]
    in_place_first: bool
    rows: list[SizeMeasurement] = field(default_factory=list)
    dtypes: set[str] = field(default_factory=set)
    redops: set[str] = field(default_factory=set)
    roots: set[str] = field(default_factory=set)
    op_hint: str | None = None


def _number(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _library_version(code: str) -> str:
    """NCCL_VERSION_CODE → 'X.Y.Z' (``X·10000 + Y·100 + Z`` since NCCL 2.9, ``X·1000 + Y·100 + Z`` before)."""
    n = int(code)
    if n >= 20900:
        return f"{n // 10000}.{n // 100 % 100}.{n % 100}"
    return f"{n // 1000}.{n // 100 % 10}.{n % 100}"


MAX_OUTPUT_BYTES = 16 << 20
"""Largest nccl-tests output read (16 MiB; a full 8 B..16 GiB sweep of every test is a few tens of kB)."""
MAX_TABLES = 256
"""Most result tables one output may hold (one per test and data type: a run of every test has about a dozen;
4,000 repeated tables took 22 s to fit)."""
MAX_ROW_BYTES = 1e21
"""Largest message size a row may give (1 ZB, the largest size a scenario takes: :data:`dpsim.units.RANGES`)."""
MAX_ROW_SECONDS = 300 * 365.25 * 86400
"""Longest time a row may give (300 years, the longest duration a scenario takes)."""


class _BadRow(ValueError):
    """A result row whose numbers are out of range (its message says which)."""


def _check_time(token: str, size: str) -> None:
    """A row's time is what nccl-tests measured (``util.cu`` ``getFloatStr``: a number of µs); nan/inf/≤ 0 is not one.

    Such a row (a failed or corrupted run) used to be dropped without a word, so a fit could
    silently lose the sizes it was meant to cover.
    """
    try:
        value = float(token)
    except ValueError:
        return  # not a number at all: not a result row (an interleaved log line)
    if int(size) > 0 and not (math.isfinite(value) and value > 0):
        raise _BadRow(f"the row of {size} bytes gives a time of {value:g} us (nccl-tests prints a measured "
                      "time > 0: rerun that size, or delete the row)")  # fmt: skip


def _parse_row(tokens: list[str], table: _Table) -> SizeMeasurement | None:
    lead = table.columns.index("time") if "time" in table.columns else 3
    if not tokens[0].isdigit():
        return None
    counted = len(tokens) == 1 or tokens[1].isdigit()  # a size (and an element count): a result row, not a log line
    if len(tokens) < lead + 3:
        if counted:  # the output was cut inside the row (a killed job), or the row was damaged
            raise _BadRow(f"the row of {brief(tokens[0], 30)} bytes is cut short ({len(tokens)} of "
                          f"{len(table.columns)} fields): rerun that size, or delete the row")  # fmt: skip
        return None
    if len(tokens[0]) > 22 or int(tokens[0]) > MAX_ROW_BYTES:
        raise _BadRow(f"a row's size {brief(tokens[0], 30)} is past {MAX_ROW_BYTES:g} bytes")
    blocks = []
    for start in (lead, lead + 4):
        if len(tokens) >= start + 3:
            _check_time(tokens[start], tokens[0])
            t, alg, bus = (_number(x) for x in tokens[start : start + 3])
            blocks.append((t * 1e-6 if t is not None else None, alg, bus))
        else:
            blocks.append((None, None, None))
    if blocks[0][0] is None and blocks[1][0] is None:
        if counted:  # a row whose times are text ('19.2x', '-'): it was dropped without a word
            raise _BadRow(f"the row of {brief(tokens[0], 30)} bytes gives no time in us (got "
                          f"{brief(tokens[lead], 30)}): rerun that size, or delete the row")  # fmt: skip
        return None
    for t, _, _ in blocks:
        if t is not None and t > MAX_ROW_SECONDS:
            raise _BadRow(f"the row of {tokens[0]} bytes gives a time of {t:.3g} s (more than 300 years)")
    if table.in_place_first:
        blocks.reverse()
    (t_out, a_out, b_out), (t_in, a_in, b_in) = blocks
    header = table.columns[:lead]
    if "type" in header:
        table.dtypes.add(tokens[header.index("type")])
    if "redop" in header:
        table.redops.add(tokens[header.index("redop")])
    if "root" in header:
        table.roots.add(tokens[header.index("root")])
    scale = 1e9  # nccl-tests prints GB/s (1e9 bytes/s)
    return SizeMeasurement(
        int(tokens[0]), t_out, t_in,
        b_out * scale if b_out is not None else None, b_in * scale if b_in is not None else None,
        a_out * scale if a_out is not None else None, a_in * scale if a_in is not None else None,
    )  # fmt: skip


def _header(tokens: list[str]) -> list[str] | None:
    if len(tokens) < 5 or tokens[0] != "size" or "algbw" not in tokens or "busbw" not in tokens:
        return None
    names = ["time" if t in ("time", "cputime") else t for t in tokens]
    if "time" not in names:
        return None
    return names


def _infer_ranks(op: str, rows: Sequence[SizeMeasurement]) -> int | None:
    """N from busbw/algbw = factor(op, N) on the row with the largest bandwidth (printed to 0.01 GB/s)."""
    best = max(
        ((r.out_of_place_algbw, r.out_of_place_busbw) for r in rows if r.out_of_place_algbw and r.out_of_place_busbw),
        default=None,
        key=lambda ab: ab[0],
    )
    if best is None or best[0] < 1e9:
        return None
    ratio = best[1] / best[0]
    if op == "all_reduce":
        n_float = 2 / (2 - ratio) if ratio < 2 else math.inf
    elif op in ("all_gather", "reduce_scatter"):
        n_float = 1 / (1 - ratio) if ratio < 1 else math.inf
    else:
        return None
    if not math.isfinite(n_float) or n_float > 4096:
        return None
    n = max(2, round(n_float))
    return n if abs(busbw_factor(op, n) - ratio) <= 0.02 * ratio else None


def parse_nccl_tests(
    text: str, source: str = "<nccl-tests>", *, op: str | None = None, ranks: int | None = None
) -> list[NcclTestsRun]:
    """Every table in ``text`` (one nccl-tests output, possibly several tests), as runs.

    ``op`` and ``ranks`` override what the output says (for bare tables). Raises
    :class:`ScenarioError` naming ``source`` when a table's collective or rank count cannot be told.
    """
    tables: list[_Table] = []
    table: _Table | None = None
    op_hint = _op_from_name(Path(source).name)
    meta: dict[str, str] = {}
    ranks_seen: dict[int, tuple[str, str]] = {}
    nranks_info: int | None = None
    previous = ""
    for number, raw in enumerate(text.splitlines(), 1):
        line = _PREFIX.sub("", raw, count=1)
        body = line.lstrip("#").strip()
        if m := _TEST_START.search(body):
            op_hint = _OP_NAMES.get(m.group(1), m.group(1))
            table = None
        elif (m := _COMMAND.search(body)) and "Collective test concluded" not in body:
            op_hint = m.group(1)
        if m := _TESTS_VERSION.search(body):
            meta["tests_version"] = m.group(1)
            if m.group(2):
                meta["nccl_version"] = _library_version(m.group(2))
        if m := _NCCL_VERSION.search(body):
            meta["nccl_version"] = m.group(1)
        for m in _ENV.finditer(body):
            meta[f"nccl_{m.group(1).lower()}"] = m.group(2)
        if m := _DEVICE.search(body):
            ranks_seen[int(m.group(1)) + 1000 * len([r for r in ranks_seen if r == int(m.group(1))])] = (
                m.group(2),
                m.group(3).strip(),
            )
        if m := _NRANKS.search(body):
            nranks_info = int(m.group(1))
        tokens = body.split()
        if (columns := _header(tokens)) is not None:
            in_place_first = (
                previous.find("in-place") < previous.find("out-of-place") if "in-place" in previous else False
            )
            table = _Table(columns, in_place_first, op_hint=op_hint)
            tables.append(table)
            if len(tables) > MAX_TABLES:
                raise ScenarioError("", f"line {number}: more than {MAX_TABLES} result tables in one output", source)
        elif table is not None and tokens:
            try:
                row = _parse_row(tokens, table)
            except _BadRow as exc:
                raise ScenarioError("", f"line {number}: {exc}", source) from None
            if row is not None:
                table.rows.append(row)
            elif body.startswith(("Out of bounds", "Avg bus bandwidth", "Collective test concluded")):
                table = None
        previous = body
    runs = []
    hosts = tuple(h for _, (h, _) in sorted(ranks_seen.items()))
    devices = tuple(d for _, (_, d) in sorted(ranks_seen.items()))
    for t in tables:
        rows = tuple(r for r in t.rows if r.size_bytes > 0 and not math.isnan(r.time_s))
        if not rows:
            continue
        notes: list[str] = []
        the_op = op or t.op_hint
        if the_op is None and t.redops == {"none"} and t.roots <= {"-1"}:
            the_op = "all_gather"
            notes.append("collective taken from redop 'none' and root -1 (all-gather)")
        if the_op is None:
            raise ScenarioError(
                "", "cannot tell which collective this nccl-tests table measured: keep the 'Collective test starting' "
                "banner or the command line, or name the file after the test (all_reduce_perf.txt)", source,
            )  # fmt: skip
        n = ranks or (len(ranks_seen) or None) or nranks_info or _infer_ranks(the_op, rows)
        if n is None:
            raise ScenarioError("", f"cannot tell the rank count of this {the_op} table (no device lines, and "
                                "busbw/algbw does not determine it)", source)  # fmt: skip
        if not (ranks or ranks_seen or nranks_info):
            notes.append(f"rank count {n} inferred from busbw/algbw")
        runs.append(
            NcclTestsRun(
                op=the_op, ranks=int(n), rows=rows, hosts=hosts, devices=devices,
                nccl_algo=meta.get("nccl_algo"), nccl_proto=meta.get("nccl_proto"),
                nccl_version=meta.get("nccl_version"), tests_version=meta.get("tests_version"),
                dtype=",".join(sorted(t.dtypes)), source=source, notes=tuple(notes),
            )
        )  # fmt: skip
    if not runs:
        raise ScenarioError("", "no nccl-tests result table found (expected a 'size count type ... busbw' header "
                            "followed by rows)", source)  # fmt: skip
    return runs


def _op_from_name(name: str) -> str | None:
    m = _COMMAND.search(name) or re.search(r"\b(all_reduce|all_gather|reduce_scatter)", name.replace("-", "_"))
    return m.group(1) if m else None


def load_nccl_tests(path: str | Path, *, op: str | None = None, ranks: int | None = None) -> list[NcclTestsRun]:
    """:func:`parse_nccl_tests` of a file; unreadable files are a :class:`ScenarioError`."""
    data = read_bytes(path, str(path), limit=MAX_OUTPUT_BYTES)  # a regular file, bounded (not a FIFO, /dev/zero)
    return parse_nccl_tests(data.decode("utf-8", errors="replace"), str(path), op=op, ranks=ranks)


# --- fitting ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurveFit:
    """Size regimes fitted to one (link class, algorithm, collective) and the largest relative error."""

    segments: tuple[LinkSegment, ...]
    max_relative_error: float
    points: int


def _points(runs: Iterable[NcclTestsRun], min_bytes: float) -> list[tuple[int, int, float, str]]:
    """(size, ranks, time, op) per measured size, ordered by size."""
    pts = [(r.size_bytes, run.ranks, r.time_s, run.op) for run in runs for r in run.rows if r.size_bytes >= min_bytes]
    return sorted(pts)


def fit_curve(
    runs: Sequence[NcclTestsRun], algorithm: str, *, max_segments: int = 6, tolerance: float = 0.05,
    min_bytes: float = 0.0, min_sizes: int = 2,
) -> CurveFit:  # fmt: skip
    """Fewest contiguous α–β size regimes (≤ ``max_segments``) whose largest busbw error ≤ ``tolerance``.

    All runs must measure one collective. Each regime is the minimax (Chebyshev) fit of
    :func:`dpsim.calibration.fit_coefficients_minimax` over at least ``min_sizes`` measured
    sizes (α ≥ 0, B > 0). The error of a size is that of its bus bandwidth, ``t/t̂ − 1``
    (busbw ∝ 1/t). When no count meets the tolerance, the best split of ``max_segments`` is
    returned (its error says so). See the module docstring for why the regimes exist.
    """
    ops = {run.op for run in runs}
    if len(ops) != 1:
        raise ValueError(f"fit one collective at a time, got {sorted(ops)}")
    pts = _points(runs, min_bytes)
    sizes = sorted({p[0] for p in pts})
    if len(sizes) < 2:
        raise ValueError("need at least two message sizes to fit latency and bandwidth")
    op = next(iter(ops))
    rows = np.array([collective_coefficients(op, algorithm, n, s) for s, n, _, _ in pts], dtype=float)
    times = np.array([t for _, _, t, _ in pts], dtype=float)
    size_of = np.array([p[0] for p in pts], dtype=float)
    span = min(min_sizes, len(sizes))
    fits: dict[tuple[int, int], tuple[LinkSegment, float] | None] = {}

    def fit_range(a: int, b: int) -> tuple[LinkSegment, float] | None:
        if (a, b) not in fits:
            mask = (size_of >= sizes[a]) & (size_of <= sizes[b - 1])
            try:
                link, _ = fit_coefficients_minimax(rows[mask], times[mask])
            except ValueError:
                fits[a, b] = None
            else:
                predicted = rows[mask] @ np.array([link.latency_s, 1.0 / link.bandwidth])
                busbw_error = float(np.max(np.abs(times[mask] / predicted - 1.0)))
                fits[a, b] = (LinkSegment(float(sizes[a]) if a > 0 else 0.0, link), busbw_error)
        return fits[a, b]

    best: tuple[float, tuple[LinkSegment, ...]] | None = None
    for k in range(1, max_segments + 1):
        for cuts in itertools.combinations(range(span, len(sizes) - span + 1), k - 1):
            bounds = [0, *cuts, len(sizes)]
            if any(b - a < span for a, b in itertools.pairwise(bounds)):
                continue
            parts = [fit_range(a, b) for a, b in itertools.pairwise(bounds)]
            if any(p is None for p in parts):
                continue
            worst = max(p[1] for p in parts if p is not None)
            if best is None or worst < best[0]:
                best = (worst, tuple(p[0] for p in parts if p is not None))
        if best is not None and best[0] <= tolerance:
            break
    if best is None:
        raise ValueError("the measured times do not grow with message size: no positive bandwidth fits")
    return CurveFit(best[1], best[0], len(pts))


def profile_from_nccl_tests(
    runs: Sequence[NcclTestsRun], *, name: str = "nccl-tests", link_class: str | None = None,
    algorithm: str | None = None, max_segments: int = 6, tolerance: float = 0.05,
) -> HardwareProfile:  # fmt: skip
    """A profile with fitted curves per (link class, algorithm, collective) and ``links`` from them.

    ``link_class`` is used for runs whose output does not name hosts (and overrides nothing
    else); ``algorithm`` overrides the one NCCL_ALGO gives. ``links[class][alg]`` is the
    all-reduce curve's largest-size regime, or the ring all-gather/reduce-scatter one
    (a ring all-reduce is a reduce-scatter plus an all-gather on the same links).
    """
    groups: dict[tuple[str, str, str], list[NcclTestsRun]] = {}
    notes: dict[str, Any] = {}
    for run in runs:
        if run.op not in COLLECTIVE_OPS:
            notes.setdefault("skipped", []).append(f"{run.source}: {run.op} (no closed form here)")
            continue
        cls = run.link_class or link_class
        if cls is None:
            raise ScenarioError("--link-class", "the nccl-tests output names no hosts; say whether it ran inside one "
                                "node (intra) or across nodes (inter)", run.source)  # fmt: skip
        alg = algorithm or run.algorithm
        groups.setdefault((cls, alg, run.op), []).append(run)
    collectives: dict[str, dict[str, dict[str, tuple[LinkSegment, ...]]]] = {}
    errors: dict[str, float] = {}
    for (cls, alg, op), group in sorted(groups.items()):
        try:
            fit = fit_curve(group, alg, max_segments=max_segments, tolerance=tolerance)
        except ValueError as exc:
            raise ScenarioError("", f"{op} ({cls}/{alg}): {exc}", group[0].source) from None
        collectives.setdefault(cls, {}).setdefault(alg, {})[op] = fit.segments
        errors[f"{cls}/{alg}/{op}"] = fit.max_relative_error
    links = {
        cls: {alg: (ops.get("all_reduce") or ops.get("reduce_scatter") or ops["all_gather"])[-1].link
              for alg, ops in algs.items()}
        for cls, algs in collectives.items()
    }  # fmt: skip
    versions = sorted({r.nccl_version for r in runs if r.nccl_version})
    meta = {
        "source": "nccl-tests",
        "files": sorted({r.source for r in runs}),
        "nccl_version": versions,
        "nccl_tests_version": sorted({r.tests_version for r in runs if r.tests_version}),
        "nccl_algo": sorted({r.nccl_algo for r in runs if r.nccl_algo}),
        "devices": sorted({d for r in runs for d in r.devices}),
        "fit_max_relative_error": errors,
        "notes": sorted({n for r in runs for n in r.notes}),
        **notes,
    }
    labels = tuple(f"nccl-tests {r.op}: {r.ranks} ranks, {r.rows[0].size_bytes}-{r.rows[-1].size_bytes} B "
                   f"({r.source})" for r in runs)  # fmt: skip
    return HardwareProfile(name=name, backend="nccl", links=links, collectives=collectives, calibrated_on=labels,
                           meta=meta)  # fmt: skip


@dataclass(frozen=True)
class BusbwCheck:
    """Measured and reproduced bus bandwidth of one size."""

    source: str
    op: str
    ranks: int
    size_bytes: int
    measured_busbw: float
    predicted_busbw: float

    @property
    def relative_error(self) -> float:
        return (self.predicted_busbw - self.measured_busbw) / self.measured_busbw


def reproduce_busbw(
    profile: HardwareProfile, runs: Sequence[NcclTestsRun], *, link_class: str | None = None,
    algorithm: str | None = None, min_bytes: float = 0.0,
) -> list[BusbwCheck]:  # fmt: skip
    """Predicted busbw (``busbw_factor · S / t``, t from the profile) against the printed busbw, per size."""
    out = []
    for run in runs:
        if run.op not in COLLECTIVE_OPS:
            continue
        cls = run.link_class or link_class or "inter"
        alg = algorithm or run.algorithm
        for row in run.rows:
            measured = row.busbw
            if row.size_bytes < min_bytes or not measured:
                continue
            t = profile.collective_time(run.op, cls, alg, run.ranks, row.size_bytes)
            predicted = busbw_factor(run.op, run.ranks) * row.size_bytes / t
            out.append(BusbwCheck(run.source, run.op, run.ranks, row.size_bytes, measured, predicted))
    return out


_ENGINE_OPS = {"all_reduce": "allreduce", "all_gather": "all_gather", "reduce_scatter": "reduce_scatter"}


def run_scenario(
    run: NcclTestsRun, profile_path: str | Path, *, link_class: str | None = None, nics_per_node: int | None = None
) -> Any:
    """The scenario of the machine ``run`` measured, calibrated with ``profile_path``.

    Nodes from the hosts (or, without device lines, one node for ``intra`` and one rank per
    node for ``inter``); one NIC per GPU unless ``nics_per_node`` says otherwise; the
    intra-node link where the profile has none is NVLink 4 (the catalog's ``nvlink4``). The
    model and batch do not matter to a collective.
    """
    from dpsim.scenario import scenario_from_dict

    cls = run.link_class or link_class or "inter"
    nodes = len(set(run.hosts)) if run.hosts else (1 if cls == "intra" else run.ranks)
    per_node = run.ranks // nodes
    return scenario_from_dict(
        {
            "name": f"nccl-tests {Path(run.source).name}",
            "model": {"preset": "gpt2-small"},
            "cluster": {
                "nodes": nodes,
                "workers_per_node": per_node,
                "device": "h100-sxm",
                "intra_node": {"preset": "nvlink4"},
                "inter_node": {"preset": "ib-ndr", "nics_per_node": nics_per_node or per_node},
            },
            "training": {"global_batch": run.ranks},
            "communication": {"algorithm": run.algorithm, "protocol": "auto"},
            "calibration": {"profile": str(profile_path)},
        }
    )


def engine_busbw(
    profile_path: str | Path, runs: Sequence[NcclTestsRun], engine: str, *, link_class: str | None = None,
    min_bytes: float = 0.0, nics_per_node: int | None = None,
) -> list[BusbwCheck]:  # fmt: skip
    """As :func:`reproduce_busbw`, each size through ``engine`` (``dpsim collective``) on :func:`run_scenario`."""
    from dpsim.cli_collective import collective_rows

    out = []
    for run in runs:
        if run.op not in _ENGINE_OPS:
            continue
        scenario = run_scenario(run, profile_path, link_class=link_class, nics_per_node=nics_per_node)
        rows = [r for r in run.rows if r.size_bytes >= min_bytes and r.busbw]
        predicted = collective_rows(scenario, _ENGINE_OPS[run.op], [r.size_bytes for r in rows], engine)
        for row, p in zip(rows, predicted, strict=True):
            assert row.busbw is not None
            out.append(BusbwCheck(run.source, run.op, run.ranks, row.size_bytes, row.busbw, p["busbw_Bps"]))
    return out


def runs_by_file(paths: Sequence[str | Path], **kwargs: Any) -> Mapping[str, list[NcclTestsRun]]:
    """:func:`load_nccl_tests` of several files, keyed by path."""
    return {str(p): load_nccl_tests(p, **kwargs) for p in paths}
