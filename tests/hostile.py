"""A generator of hostile inputs for every ``dpsim`` command, and a runner that judges how each ends.

Each :class:`Case` is a command line (plus files or stdin it needs) in one class of abuse
(non-UTF-8 files, deep nesting, alias bombs, huge numbers, YAML 1.1 surprises, special
files, work bombs, ...). :func:`run_case` runs it in-process through ``dpsim.cli.main``
under a SIGALRM timeout (or, for a sample, in a subprocess) and classifies the end:

- ``clean``: exit 0 with nothing on stderr (else ``noisy``: a stray warning), or exit 2 with exactly one
  ``error:`` line on stderr; no traceback;
  every byte written is printable UTF-8 (no ANSI escape or NUL reaches the terminal);
- otherwise ``traceback``, ``hang``, ``bad-exit`` (another status or more lines), or
  ``unprintable``.

``python tests/hostile.py`` prints the table of classes (the issue's closing note); ``-k TEXT`` runs the classes
whose name contains TEXT, ``--list`` counts the cases of each class without running them. ``--parts FILE`` makes a
run resumable (stop 48): the cases FILE records are not run again, each new outcome is appended to it as one JSON
line as it ends, and ``--until HH:MM`` starts no case past that time (a quiet window's start): run the same command
again to go on; ``--parts FILE --table`` prints the table from the file alone. ``python -m runtime``
cases run ``runtime.train.main`` in-process (``Case.program``): those refused before a rank starts, and one valid
run (a scenario named '1e3', whose ranks read the scenario the launcher wrote).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"
TIMEOUT_S = 60
"""A case running longer than this is a hang (the slowest clean case takes about a second)."""
RUNTIME_TIMEOUT_S = 300
"""The limit of a valid ``python -m runtime`` run, which starts its ranks and trains a step: 13-26 s on a quiet host,
36.6 s at load 11 (stop 48's first run), past the 60 s hang limit once at load 12 (stop 47)."""

SMALL = """\
name: small
model: {preset: gpt2-small}
cluster:
  nodes: 2
  workers_per_node: 2
  device: a100-80gb
training: {global_batch: 8, micro_batch: 2}
"""
"""A small, valid scenario the cases mutate (cheap for the simulator too)."""


@dataclass
class Case:
    """One hostile command: its class, arguments (``{tmp}`` = the scratch folder), files and stdin."""

    kind: str
    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    stdin: bytes | None = None
    subprocess: bool = False
    expect_error: bool = False
    """The input is wrong: only exit 2 with one error line is clean (exit 0 would be wrongly accepted)."""
    names: str = ""
    """Text the error line must hold (the field or option at fault); without it the case is ``vague``."""
    links: dict[str, str] = field(default_factory=dict)
    """Symbolic links to make in the scratch folder: name → target (``{tmp}`` = the folder)."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment variables set while the case runs."""
    outputs: tuple[str, ...] = ()
    """Paths (``{tmp}`` = the folder) that must not exist after an error: nothing is written half-way."""
    finite: bool = False
    """A result is printed: no ``inf`` or ``nan`` in it (else the case is ``non-finite``)."""
    strict_json: bool = False
    """A valid input: exit 0 and one strict JSON document printed, no ``NaN``/``Infinity`` (else ``invalid JSON``)."""
    unsigned: bool = False
    """A valid input: exit 0 and no negative zero printed (``-0``, ``-0.0 s``: the value 0 written apart from itself;
    else ``negative zero``)."""
    accept: bool = False
    """The input is valid: only exit 0 is clean (else ``refused``)."""
    program: str = "dpsim"
    """``dpsim`` (``dpsim.cli.main``), ``runtime`` (``python -m runtime``: ``runtime.train.main``) or
    ``benchmarks/NAME`` (``python benchmarks/NAME.py``: the script's ``main`` with ``sys.argv`` set) or
    ``runtime.bench`` (``python -m runtime.bench``, a calibration's rank)."""
    stdout: str = ""
    """Where a subprocess case's standard output goes: a pipe (``""``), ``closed-pipe`` (a reader that has
    gone, as ``| head`` does once it has its lines) or ``full`` (``/dev/full``: every write fails ENOSPC)."""
    file_size: int = 0
    """A subprocess case's limit on the size of any file it writes (``RLIMIT_FSIZE``, bytes): a full disk."""
    signal: int = 0
    """A subprocess case: the signal sent to its whole process group (as Ctrl-C or a closed terminal reach every
    process the command started) once ``signal_when`` holds a line after its first; clean is then exit status
    128 + the signal with one ``error:`` line, and none of ``outputs`` written."""
    signal_when: str = ""
    """The file (``{tmp}`` = the folder) whose second line says the command is at work (a sweep's partial results)."""
    rectangular: bool = False
    """A valid input printing CSV: exit 0 and every row with as many cells as its header (else ``ragged CSV``)."""
    says: str = ""
    """A valid input: exit 0 and this text in its standard output (else ``unexplained``: a figure printed without the
    note that says why, round 29)."""
    timeout_s: int = TIMEOUT_S
    """Seconds before the case is a hang: :data:`TIMEOUT_S`, or :data:`RUNTIME_TIMEOUT_S` for a valid run of the
    runtime's ranks (stop 48)."""
    listed: str = ""
    """A valid input that sets a field read by nothing: exit 0 with ``--format json`` output whose every record names
    it in ``extra.ignored_fields`` (a sweep row: its ``ignored_fields`` text); else ``unlisted`` (accepted and
    silently ignored: a value accepted must be honoured or listed)."""


@dataclass
class Outcome:
    case: Case
    verdict: str
    code: int | None
    stderr: str
    seconds: float


def _yaml(text: str) -> bytes:
    return text.encode()


def _with(section_line: str) -> bytes:
    """SMALL with one more top-level line (or replaced section)."""
    return (SMALL + section_line + "\n").encode()


def _replace(old: str, new: str) -> bytes:
    assert old in SMALL, old
    return SMALL.replace(old, new, 1).encode()


def _file_case(
    kind: str, data: bytes, *extra: str, command: str = "run", expect_error: bool = True, names: str = ""
) -> Case:
    return Case(kind, [command, "{tmp}/s.yaml", *extra], {"s.yaml": data}, expect_error=expect_error, names=names)


def _set_case(
    kind: str,
    *sets: str,
    command: str = "run",
    extra: tuple[str, ...] = (),
    expect_error: bool = True,
    names: str = "",
    finite: bool = False,
) -> Case:
    argv = [command, "{tmp}/s.yaml"]
    for s in sets:
        argv += ["--set", s]
    return Case(
        kind, [*argv, *extra], {"s.yaml": SMALL.encode()}, expect_error=expect_error, names=names, finite=finite
    )


# --- the classes ---------------------------------------------------------------------------------


def encodings() -> Iterator[Case]:
    text = SMALL + "# caf\u00e9 \u2014 \u00b5s\n"
    for codec in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "latin-1", "cp1252", "shift_jis"):
        try:
            data = text.encode(codec)
        except UnicodeEncodeError:
            continue
        yield _file_case("non-UTF-8 encoding", data, expect_error=codec not in ("shift_jis",))
    yield _file_case("non-UTF-8 encoding", b"\xef\xbb\xbf" + SMALL.encode(), expect_error=False)  # BOM is fine
    yield _file_case("non-UTF-8 encoding", SMALL.encode().replace(b"small", b"sm\xed\xa0\x80ll"))  # CESU surrogate
    yield _file_case("non-UTF-8 encoding", SMALL.encode().replace(b"small", b"sm\xffall"))
    rng = random.Random(1)
    for size in (16, 256, 4096):
        yield _file_case("binary file", bytes(rng.randrange(256) for _ in range(size)))
    import gzip

    yield _file_case("binary file", gzip.compress(SMALL.encode()))
    yield _file_case("binary file", b"\x89PNG\r\n\x1a\n" + bytes(64))
    yield _file_case("binary file", b"PK\x03\x04" + bytes(64))
    yield _file_case("binary file", b"\x7fELF" + bytes(64))
    yield _file_case("binary file", SMALL.encode() + b"\x00\x00garbage")
    for command in ("check", "sweep"):
        extra = ("--vary", "training.zero_stage=0,1") if command == "sweep" else ()
        yield _file_case("non-UTF-8 encoding", text.encode("utf-16"), *extra, command=command)


def nesting() -> Iterator[Case]:
    for depth in (33, 100, 1000, 100_000):
        yield _file_case("deep nesting", _with("extra: " + "[" * depth + "]" * depth))
        yield _file_case("deep nesting", _with("x: " + "{a: " * depth + "1" + "}" * depth))
    yield _set_case("deep nesting", "name=" + "[" * 5000 + "]" * 5000)
    block = "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v: 1\n"
    yield _file_case("deep nesting", _with(block))


def huge_numbers() -> Iterator[Case]:
    for digits in (20, 40, 400, 5000):
        big = "1" + "0" * digits
        yield _set_case("huge integers", f"cluster.nodes={big}")
        yield _set_case("huge integers", f"training.global_batch={big}")
        yield _set_case("huge integers", f"variability.seed={big}")
        yield _set_case("huge integers", f"model.layers={big}")
    yield _set_case("huge integers", "cluster.workers_per_node=1000000")
    yield _set_case("huge integers", "training.zero_stage=-99999999999999999999")
    for value in ("1e308", "1e400", "-1e308", "1.7976931348623157e308", "1e-320", "5e-324"):
        yield _set_case("huge floats", f"model.parameters={value}")
        yield _set_case("huge floats", f"model.flops_per_sample={value}")
        yield _set_case("huge floats", f"cluster.price_per_device_hour={value}")
        yield _set_case("huge floats", f"variability.compute_jitter_cv={value}")
        yield _set_case("huge floats", f"training.learning_rate={value}")


def infinities() -> Iterator[Case]:
    for value in (".inf", "-.inf", ".nan", ".NaN", "-.INF"):
        for path in (
            "cluster.topology.oversubscription",
            "variability.compute_jitter_cv",
            "cluster.price_per_device_hour",
            "cluster.device.efficiency",
            "training.learning_rate",
            "model.parameters",
        ):
            yield _set_case(".inf / .nan", f"{path}={value}")
    yield _set_case(".inf / .nan", "cluster.topology={kind: fat-tree, oversubscription: .inf}")
    yield _set_case(".inf / .nan", "variability.stragglers=[{worker: 1, slowdown: .inf}]")
    yield _set_case(".inf / .nan", "variability.degraded_links=[{node: 0, factor: .nan}]")


def quantities() -> Iterator[Case]:
    bad = {
        "cluster.inter_node.bandwidth": ("1e308 TB/s", "1e-320 B/s", "inf Gbit/s", "0 Gbit/s", "-1 Gbit/s", "nan GB/s"),
        "cluster.intra_node.latency": ("1e308 s", "-5 us", "1e-320 s", "5 parsecs"),
        "communication.bucket": ("1e-300 B", "0 B", "1e300 GB", "0.5 B", "25 MiB/s"),
        "cluster.device.memory": ("1e30 GB", "1e-30 B"),
        "cluster.device.peak_flops": ("1e30 TFLOP/s", "1e-320 FLOP/s"),
        "reliability.node_mtbf": ("0 h", "-1 h", "1e-320 s", "1e300 days"),
        "reliability.restart": ("1e308 h",),
        "model.parameters": ("1e30B", "-7B", "7 apples"),
    }
    for path, values in bad.items():
        for value in values:
            yield _set_case("inf/denormal quantities", f"{path}='{value}'")
    yield _set_case("inf/denormal quantities", "cluster.inter_node.bandwidth='" + "9" * 5000 + " Gbit/s'")
    yield _set_case("inf/denormal quantities", "cluster.inter_node.bandwidth='1" + " " * 100_000 + "x'")
    yield _set_case(
        "inf/denormal quantities",
        "reliability={node_mtbf: 1 s, restart: 1 h, checkpoint_write: 1 h}",
        expect_error=False,
    )


def tiny_buckets() -> Iterator[Case]:
    for bucket in ("1 B", "1 MB", "1e-300 B", "100 B"):
        yield _set_case("tiny buckets", f"communication.bucket='{bucket}'", expect_error="e-300" in bucket)
        yield _set_case(
            "tiny buckets", f"communication.bucket='{bucket}'", extra=("--engine", "sim"), expect_error=bucket != "1 MB"
        )


def names() -> Iterator[Case]:
    hostile = {
        "ANSI escape": '"\\e[31mred\\e[0m"',
        "NUL": '"a\\0b"',
        "lone surrogate": '"\\ud800x"',
        "bell and backspace": '"\\a\\b"',
        "newline": '"two\\nlines"',
        "rich markup": '"[bold red]x[/]"',
        "right-to-left override": '"\\u202eevil"',
        "very long": "x" * 100_000,
        "zero-width": '"a\\u200bb"',
    }
    for label, value in hostile.items():
        markup = label == "rich markup"  # printable: accepted, and printed literally
        yield _file_case("ANSI/NUL in names", _replace("name: small", f"name: {value}"), expect_error=not markup)
        if label != "very long":
            yield _set_case("ANSI/NUL in names", f"name={value}", expect_error=not markup)
    yield _set_case("ANSI/NUL in names", "cluster.device=\x1b[31ma100\x1b[0m")
    yield _set_case("ANSI/NUL in names", "model=gpt2\x00xl")
    yield _set_case("ANSI/NUL in names", "name=sm\udcedll")  # an undecodable byte in argv (surrogateescape)
    yield Case("ANSI/NUL in names", ["run", "{tmp}/\x1b[31mx.yaml"], expect_error=True)
    yield Case("ANSI/NUL in names", ["sweep", "{tmp}/s.yaml", "--vary", "name=\x1b[2J,b"], {"s.yaml": SMALL.encode()})


def tags() -> Iterator[Case]:
    for value in (
        "!!int 3",
        "!!str 3",
        "!!float 1",
        "!!binary aGVsbG8=",
        "!!timestamp 2001-12-14",
        "!!python/object:os.system x",
        "!!python/name:os.system",
        "!foo bar",
        "! x",
        "!<tag:yaml.org,2002:int> 7",
        "!!set {a, b}",
        "!!omap [a: 1]",
    ):
        yield _file_case("tags", _replace("nodes: 2", f"nodes: {value}"))
        yield _set_case("tags", f"cluster.nodes={value}")
    yield _file_case(
        "tags", b"%TAG !e! tag:example.com,2000:\n---\n" + SMALL.encode().replace(b"nodes: 2", b"nodes: !e!x 2")
    )


def aliases() -> Iterator[Case]:
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        bomb += f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    yield _file_case("alias bombs", (bomb + "name: *i\n" + SMALL.replace("name: small\n", "")).encode())
    yield _file_case("alias bombs", (SMALL.replace("name: small", "name: &n [*n]")).encode())
    yield _file_case(
        "alias bombs", (bomb + SMALL.replace("training:", "variability: {stragglers: *i}\ntraining:")).encode()
    )
    yield _file_case("alias bombs", (bomb + SMALL).encode())  # unknown top-level keys that expand
    yield _set_case("alias bombs", "name=" + bomb.replace("\n", ", ").join("{}"))
    yield _file_case("alias bombs", b"name: *undefined\n" + SMALL.encode())
    yield _file_case("alias bombs", SMALL.encode() + b"<<: {name: merged}\n")
    ok = SMALL.replace("cluster:", "x-link: &fast {bandwidth: 100 GB/s}\ncluster:").replace(
        "device: a100-80gb", "device: a100-80gb\n  intra_node: *fast"
    )
    yield _file_case("alias bombs", ok.encode())  # an unknown top-level key: an error, but an alias is fine


def special_files() -> Iterator[Case]:
    yield Case("special files", ["run", "{tmp}/fifo"], {"fifo": b"<fifo>"}, expect_error=True)
    yield Case("special files", ["run", "/dev/zero"], expect_error=True)
    yield Case("special files", ["run", "/dev/null"], expect_error=True)
    yield Case("special files", ["run", "/dev/urandom"], expect_error=True)
    yield Case("special files", ["run", "{tmp}"], expect_error=True)
    yield Case("special files", ["run", "{tmp}/missing.yaml"], expect_error=True)
    yield Case("special files", ["run", "{tmp}/big.yaml"], {"big.yaml": b"<50MB>"}, expect_error=True)
    yield Case("special files", ["run", "{tmp}/2mb.yaml"], {"2mb.yaml": b"# " + b"x" * (2 << 20)}, expect_error=True)
    yield Case("special files", ["run", "{tmp}/empty.yaml"], {"empty.yaml": b""}, expect_error=True)
    yield Case("special files", ["check", "{tmp}/s.yaml"], {"s.yaml": b"<unreadable>"}, expect_error=os.getuid() != 0)
    yield Case("special files", ["run", "-"], stdin=SMALL.encode())
    yield Case("special files", ["run", "-"], stdin=b"", expect_error=True)
    yield Case("special files", ["run", "-"], stdin=b"\xff\xfe" + SMALL.encode("utf-16-le"), expect_error=True)
    yield Case("special files", ["check", "-", "--format", "json"], stdin=SMALL.encode())
    yield Case(
        "special files", ["run", "{tmp}/s.yaml", "--trace", "/dev/full"], {"s.yaml": SMALL.encode()}, expect_error=True
    )
    yield Case(
        "special files",
        ["run", "{tmp}/s.yaml", "--gantt", "{tmp}/no/such/dir/g.png"],
        {"s.yaml": SMALL.encode()},
        expect_error=True,
    )
    yield Case("special files", ["run", "--set", "calibration.profile=/dev/zero"], expect_error=True)


def work_bombs() -> Iterator[Case]:
    yield _set_case("huge nodes/steps/replications/nics", "cluster.nodes=1000000000")
    yield _set_case("huge nodes/steps/replications/nics", "cluster.nodes=1048577")
    yield _set_case("huge nodes/steps/replications/nics", "cluster.nodes=65536", expect_error=False)
    for path, value in (
        ("simulation.steps", "1000000000"),
        ("variability.replications", "1000000000"),
        ("cluster.inter_node.nics_per_node", "1000000000"),
        ("simulation.steps", "100000"),
        ("variability.replications", "10000000"),
    ):
        yield _set_case("huge nodes/steps/replications/nics", f"{path}={value}", extra=("--engine", "sim"))
        # the analytic engine ignores steps and replications: only the NIC count is out of range
        yield _set_case("huge nodes/steps/replications/nics", f"{path}={value}", expect_error="nics" in path)
    yield _set_case(
        "huge nodes/steps/replications/nics",
        "cluster.nodes=4096",
        "cluster.workers_per_node=8",
        "training.global_batch=auto",
        extra=("--engine", "sim"),
        expect_error=False,  # 32,768 ranks: the fast level runs it in seconds
    )
    yield _set_case(
        "huge nodes/steps/replications/nics", "cluster.nodes=2048", "cluster.workers_per_node=8",
        "training.zero_stage=3", "training.optimizer_sharding=fsdp", "training.fsdp_shard_group=8",
        "training.global_batch=auto", extra=("--format", "json"), expect_error=False, finite=True,
    )  # fmt: skip  # 16,384 ranks of HYBRID_SHARD, analytic: 0.3 s of CPU. It ran 131,072 ranks (2.2 s of CPU, 5.4 s
    # wall at load 7: 80 % of the class), and the slow test of the class failed once past TIMEOUT_S under load; the one
    # cluster build it guarded is counted (test_hybrid_shard.test_an_analytic_hybrid_step_builds_its_cluster_once)
    yield _set_case(
        "huge nodes/steps/replications/nics", "communication.algorithm=direct", "cluster.nodes=1024",
        "cluster.workers_per_node=8", "training.global_batch=auto", extra=("--engine", "sim")
    )  # fmt: skip
    values = ",".join(str(i) for i in range(1, 101))
    yield Case(
        "huge sweeps",
        ["sweep", "{tmp}/s.yaml", "--vary", f"training.learning_rate={values}", "--vary", f"variability.seed={values}",
         "--vary", f"simulation.steps={values}"],
        {"s.yaml": SMALL.encode()}, expect_error=True,
    )  # fmt: skip
    yield Case(
        "huge sweeps",
        ["sweep", "{tmp}/s.yaml", "--vary", "training.zero_stage=0,1,2,3,4"],
        {"s.yaml": SMALL.encode()},
        expect_error=True,
    )
    yield Case(
        "huge sweeps",
        ["sweep", "{tmp}/s.yaml", "--vary", "training.zero_stage="],
        {"s.yaml": SMALL.encode()},
        expect_error=True,
    )
    yield Case(
        "huge sweeps", ["sweep", "{tmp}/s.yaml", "--vary", "x=[[[[" * 3], {"s.yaml": SMALL.encode()}, expect_error=True
    )


def plans() -> Iterator[Case]:
    base = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "64", "--no-progress", "--simulate", "0"]
    for extra in (
        ("--tp", "3"),
        ("--pp", "1000"),
        ("--tp", "0"),
        ("--tp", "1e400"),
        ("--pp", "-1"),
        ("--micro-batch", "1000000000000000"),
        ("--min-devices", "100000", "--max-devices", "64"),
        ("--workers-per-node", "0"),
        ("--top", "-5"),
        ("--tokens", "1e400"),
        ("--tokens", "inf"),
        ("--tokens", "-2T"),
        ("--deadline", "-1 s"),
        ("--deadline", "1e-320 s"),
        ("--price", "nan"),
        ("--price", "inf"),
        ("--price", "1e308"),
        ("--node-mtbf", "0 h"),
        ("--global-batch", "0"),
        ("--price", "2", "--currency", "\x1b[31mEUR"),
        ("--zero", "7"),
        ("--recompute", "sometimes"),
        ("--algorithm", "magic"),
        ("--objective", "cost"),
    ):
        yield Case("plan --tp 3 / --pp 1000 / bad options", [*base, *extra], expect_error=True)
    yield Case("plan --tp 3 / --pp 1000 / bad options", [*base, "--max-devices", "1000000000000"])
    yield Case(
        "plan --tp 3 / --pp 1000 / bad options",
        [
            "plan",
            "--model",
            "llama3-405b",
            "--tokens",
            "1T",
            "--max-devices",
            "8",
            "--min-devices",
            "8",
            "--no-progress",
        ],
        expect_error=True,
    )
    yield Case(
        "plan --tp 3 / --pp 1000 / bad options",
        ["plan", "--model", "resnet50", "--tokens", "1T", "--max-devices", "8"],
        expect_error=True,
    )


def duplicates() -> Iterator[Case]:
    yield _file_case("duplicate keys", _with("training: {global_batch: 16}"))
    yield _file_case("duplicate keys", _replace("nodes: 2", "nodes: 2\n  nodes: 4"))
    yield _file_case(
        "duplicate keys", _replace("{global_batch: 8, micro_batch: 2}", "{global_batch: 8, global_batch: 16}")
    )
    yield _file_case("duplicate keys", _with("name: again"))
    yield _file_case("duplicate keys", _with('"name": quoted'))
    yield _set_case("duplicate keys", "variability={seed: 1, seed: 2}")
    yield _file_case("duplicate keys", _with("? [a, b]\n: 1"))
    yield _file_case("duplicate keys", _with("1: one"))
    yield _file_case("duplicate keys", _with("null: nothing"))


def yaml11() -> Iterator[Case]:
    for value in ("yes", "no", "on", "off", "y", "n", "Yes", "NO", '"yes"', "1", "0", "'true'"):
        yield _set_case("YAML 1.1 surprises", f"communication.overlap={value}")
        yield _file_case("YAML 1.1 surprises", _with(f"communication: {{overlap: {value}}}"))
    for value in ("010", "0o10", "0x10", "0b10", "1_000", "1:20", "2001-01-01", "+2", "0010"):
        yield _file_case(
            "YAML 1.1 surprises",
            _replace("nodes: 2", f"nodes: {value}"),
            expect_error=value not in ("010", "+2", "0010", "0o10"),
        )
        yield _set_case(
            "YAML 1.1 surprises",
            f"training.global_batch={value}",
            expect_error=value not in ("010", "0o10", "0x10", "+2", "0010"),
        )


def bools() -> Iterator[Case]:
    for path in (
        "variability.compute_jitter_cv",
        "training.learning_rate",
        "cluster.nodes",
        "training.zero_stage",
        "cluster.topology.oversubscription",
    ):
        for value in ("true", "false"):
            yield _set_case("bool strictness", f"{path}={value}")
    for path in ("communication.overlap", "training.sequence_parallel", "model.dropout", "model.gated_mlp"):
        for value in ("1", "0", "'true'", "'false'", "[true]", "null", "2.0"):
            yield _set_case(
                "bool strictness", f"{path}={value}", expect_error=value != "null" or not path.startswith("model.")
            )


def semantics() -> Iterator[Case]:
    yield _set_case("virtual_stages / TP-PP on CNNs", "training.virtual_stages=4")
    yield _set_case(
        "virtual_stages / TP-PP on CNNs",
        "training.virtual_stages=4",
        "training.pipeline_schedule=gpipe",
        "training.pipeline_parallel=2",
    )
    yield _set_case("virtual_stages / TP-PP on CNNs", "model=resnet50", "training.tensor_parallel=2")
    yield _set_case("virtual_stages / TP-PP on CNNs", "model=resnet50", "training.pipeline_parallel=2")
    yield _set_case("virtual_stages / TP-PP on CNNs", "model=resnet50", expect_error=False)
    yield _set_case("virtual_stages / TP-PP on CNNs", "training.global_batch=7")
    yield _set_case("virtual_stages / TP-PP on CNNs", "training.global_batch=auto", expect_error=False)
    yield _set_case("virtual_stages / TP-PP on CNNs", "training.global_batch=Auto")
    yield _set_case("virtual_stages / TP-PP on CNNs", "training.global_batch=0")
    yield _set_case("virtual_stages / TP-PP on CNNs", "variability.stragglers=[{worker: 99, slowdown: 2}]")
    yield _set_case("virtual_stages / TP-PP on CNNs", "variability.degraded_links=[{node: 5, factor: 0.5}]")
    yield _set_case("virtual_stages / TP-PP on CNNs", "training.tensor_parallel=3")


def set_syntax() -> Iterator[Case]:
    for item in (
        "nodes",
        "=3",
        "cluster..nodes=2",
        "cluster.nodes=[",
        "cluster.nodes={",
        "cluster.nodes='unterminated",
        "name.sub=1",
        "variability.stragglers.99.worker=1",
        "variability.stragglers.x.worker=1",
        "variability.stragglers.99999999999999999999999.worker=1",
        "cluster.nodes=1\n---\n2",
        "a" * 10_000 + "=1",
        "\x1b[31m=1",
        "model=gpt5",
        "model=" + "g" * 100_000,
        "cluster.device=" + "a" * 5000,
    ):
        yield _set_case("--set syntax", item)
    yield _set_case("--set syntax", "model=llama2-7b", extra=("--format", "json"), expect_error=False)
    yield _set_case("--set syntax", "model=gpt2-xl", "cluster.device=a100-80gb", expect_error=False)
    yield _set_case("--set syntax", "model=llama2-7b", extra=("--fail-on-oom",), expect_error=False)


def usage() -> Iterator[Case]:
    for argv in (
        ["run", "--format", "xml"],
        ["run", "--engine", "quantum"],
        ["run", "--no-such-option"],
        ["frobnicate"],
        ["run", "a", "b"],
        ["sweep"],
        ["catalog", "gpus"],
        ["report"],
        ["report", "{tmp}/missing.json", "-o", "{tmp}/r.html"],
        ["report", "/dev/zero", "-o", "{tmp}/r.html"],
        ["run", "--trace", "{tmp}/t.json"],
        ["check", "{tmp}/s.yaml", "--format", "yaml"],
        ["schema", "extra"],
    ):
        yield Case("usage errors", argv, {"s.yaml": SMALL.encode()}, expect_error=True)
    for argv in (["schema"], ["catalog"], ["check", "{tmp}/s.yaml", "--format", "json"], ["run", "{tmp}/s.yaml"],
                 ["report", "{tmp}/s.yaml", "-o", "{tmp}/r.html"]):  # fmt: skip
        yield Case("usage errors", argv, {"s.yaml": SMALL.encode()})


PROFILE = ROOT / "benchmarks" / "results" / "validation" / "profile.yaml"
CPU_SCENARIO = ROOT / "dpsim" / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml"


def damaged_profile(pattern: str, replacement: str) -> str:
    """The committed profile with the first line matching ``pattern`` (a regex) replaced (values may change)."""
    import re

    text = PROFILE.read_text(encoding="utf-8")
    damaged, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, pattern
    return damaged


PROFILE_DAMAGE = (
    (r"^(      )latency: .*$", r"\1latency: -1 s"),
    (r"^(      )bandwidth: .*$", r"\1bandwidth: 0 B/s"),
    (r"^(      )residual: .*$", r"\1residual: .nan"),
    (r"^(      )samples: .*$", r"\1samples: 1e400"),
    (r"^(      )sharpness: .*$", r"\1sharpness: 1e300"),  # accepted: the p-norm is computed without underflow
    (r"^(      )efficiency: .*$", r"\1efficiency: .nan"),
    (r"^(      - - )56.25 MB/s$", r"\g<1>1 MB/s"),  # rates out of order
    (r"^(    )backward: .*$", r"\1backward: 0 s"),
    (r"^(  - hidden: )256$", r"\g<1>256.5"),
    (r"^name: .*$", "name: [1, 2]"),
    (r"^(  )efficiency_loss: .*$", r"\1efficiency_loss: 1e300"),
    (r"^(  )per_parameter: .*$", r"\1per_parameter: -1 s"),
    (r"^(    )2: .*$", r"\g<1>2: .nan"),  # a measured host slowdown
)
"""(regex, replacement) pairs that damage one field of the committed profile (all but sharpness are errors)."""


def profiles() -> Iterator[Case]:
    """A calibration profile a scenario names (calibration.profile), damaged one field at a time."""
    for pattern, replacement in PROFILE_DAMAGE:
        yield Case(
            "calibration profiles",
            ["run", str(CPU_SCENARIO), "--set", "calibration.profile={tmp}/p.yaml", "--engine", "analytic"],
            {"p.yaml": damaged_profile(pattern, replacement).encode()},
            expect_error="sharpness" not in pattern,
        )
    for data in (b"", b"[1]\n", b"{{{\n", PROFILE.read_text(encoding="utf-8").encode("utf-16")):
        yield Case(
            "calibration profiles",
            ["run", str(CPU_SCENARIO), "--set", "calibration.profile={tmp}/p.yaml"],
            {"p.yaml": data},
            expect_error=True,
        )


PIPELINED = SMALL.replace("training: {global_batch: 8, micro_batch: 2}", "training: {global_batch: 64, micro_batch: 2, "
                          "pipeline_parallel: 2}").replace("nodes: 2", "nodes: 4")  # fmt: skip


def shared_fabric() -> Iterator[Case]:
    """``run A B --shared-fabric``: options that do not apply, stdin twice, work bombs on one network."""
    two = ["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric"]
    files = {"s.yaml": SMALL.encode(), "p.yaml": PIPELINED.encode()}
    for extra in (
        ("--engine", "analytic"),
        ("--engine", "quantum"),
        ("--workers", "2"),
        ("--scheduler", "tcp://127.0.0.1:8786"),
        ("--trace", "{tmp}/t.json"),
        ("--gantt", "{tmp}/g.png"),
        ("--placement", "diagonal"),
        ("--set", "cluster.nodes=64", "--set", "cluster.workers_per_node=8", "--set", "training.global_batch=auto",
         "--set", "communication.bucket='100 KB'", "--set", "communication.algorithm=ring"),
        ("--set", "training.tensor_parallel=2", "--set", "training.global_batch=400000", "--set",
         "training.micro_batch=1"),
    ):  # fmt: skip
        yield Case("shared fabric", [*two, *extra], files, expect_error=True)
    yield Case("shared fabric", [*two, "--engine", "sim", "--placement", "interleaved"], files)
    yield Case(
        "shared fabric", [*two, "--set", "training.zero_stage=3", "--set", "training.optimizer_sharding=fsdp"], files
    )
    yield Case(
        "shared fabric",
        [*two, "--set", "training.zero_stage=3", "--set", "training.optimizer_sharding=fsdp", "--set",
         "training.global_batch=800000", "--set", "communication.algorithm=ring"],
        files, expect_error=True,
    )  # fmt: skip  # 100,000 micro-batches of gathers, each rank a program: priced before it runs
    yield Case("shared fabric", ["run", "{tmp}/s.yaml", "{tmp}/p.yaml", "--shared-fabric", "--format", "csv"], files)
    yield Case("shared fabric", ["run", "-", "-", "--shared-fabric"], stdin=SMALL.encode(), expect_error=True)
    yield Case(
        "shared fabric",
        ["run", "{tmp}/p.yaml", "{tmp}/p.yaml", "--shared-fabric", "--set", "training.global_batch=6400000",
         "--set", "training.micro_batch=1"],
        files, expect_error=True,
    )  # fmt: skip
    yield Case("shared fabric", ["run", "{tmp}/s.yaml", "--placement", "interleaved"], files, expect_error=True)
    yield Case(
        "shared fabric",
        ["run", "{tmp}/p.yaml", "--engine", "sim", "--set", "training.global_batch=6400000", "--set",
         "training.micro_batch=1"],
        files, expect_error=True,
    )  # fmt: skip  # the event-level pipeline of one job: priced by the simulator's budget


def sweep_options() -> Iterator[Case]:
    """``sweep`` (and ``run``) executor options and damaged ``--resume`` files."""
    base = ["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2"]
    files = {"s.yaml": SMALL.encode()}
    for extra in (
        ("--workers", "100000"),
        ("--scheduler", "notanaddress"),
        ("--scheduler", "tcp://host:port"),
        ("--scheduler", "\x1b[31mtcp://x:1"),
    ):
        yield Case("sweep --resume / --workers", [*base, *extra], files, expect_error=True)
    yield Case("sweep --resume / --workers", ["run", "{tmp}/s.yaml", "--workers", "100000"], files, expect_error=True)
    for name, data in (
        ("utf16", "x".encode("utf-16")),
        ("other", b'{"fingerprint": "not this run"}\n'),
        ("binary", b"\x00\x01\x02"),
        ("empty", b""),
    ):
        yield Case(
            "sweep --resume / --workers",
            [*base, "--out", f"{{tmp}}/{name}.csv", "--resume"],
            {**files, f"{name}.csv.partial.jsonl": data},
            expect_error=True,
        )
    yield Case(
        "sweep --resume / --workers",
        [*base, "--out", "{tmp}/d.csv"],
        {**files, "d.csv.partial.jsonl/x": b"<dir>"},
        expect_error=True,
    )


def collectives() -> Iterator[Case]:
    """``dpsim collective``: rank counts and algorithms whose pricing would take minutes or gigabytes, bad options."""
    kind = "collective work bombs / options"
    million = ("--set", "cluster.nodes=131072")  # 1,048,576 ranks (8 a node): 47 s CPU and 5.8 GB unguarded
    for extra in (
        million,
        (*million, "--engine", "sim"),
        (*million, "--engine", "sim", "--sizes", "8B..16GiB"),
        ("--set", "cluster.nodes=1024", "--set", "communication.algorithm=direct", "--allow-long"),  # 14 GiB
        ("--set", "cluster.nodes=131073"),
        ("--sizes", "1B..1ZB"), ("--sizes", "1e400B"), ("--size", "-1 B"), ("--sizes", ","), ("--op", "\x1b[31m"),
        ("--plot", "{tmp}/no/such/dir/p.png"), ("--plot", "/dev/full"), ("--allow-long", "--engine", "quantum"),
        ("--op", "alltoall", *million), ("--op", "alltoall", "--set", "cluster.nodes=512", "--allow-long"),  # n(n-1)
        ("--op", "hypercube"),
    ):  # fmt: skip
        yield Case(kind, ["collective", *extra], expect_error=True)
    for extra in (
        ("--set", "cluster.nodes=64", "--set", "communication.algorithm=direct", "--engine", "sim"),
        (
            "--set",
            "cluster.nodes=1024",
            "--set",
            "communication.algorithm=direct",
            "--op",
            "broadcast",
            "--engine",
            "sim",
            "--sizes",
            "8B..16GiB",
        ),  # a broadcast over 8,192 ranks is a binomial tree: cheap
        ("--set", "cluster.nodes=2048", "--sizes", "8B..16GiB", "--format", "csv"),  # 16,384 ranks: seconds
        ("--set", "cluster.nodes=1", "--set", "cluster.workers_per_node=1", "--format", "json"),
        ("--op", "alltoall", "--engine", "sim", "--sizes", "8B..16GiB"),  # 64 ranks: 4,032 pairs and PXN legs
        ("--op", "sendrecv", "--set", "cluster.nodes=1", "--set", "cluster.workers_per_node=1"),
        ("--op", "gather", "--set", "communication.protocol=none", "--engine", "sim"),
    ):
        yield Case(kind, ["collective", *extra])


def dumps_and_varies() -> Iterator[Case]:
    """``check --dump --format json`` and ``--vary`` values: repeated, YAML 1.1, tags, aliases, control characters."""
    kind = "check --dump / --vary values"
    files = {"s.yaml": SMALL.encode()}
    yield Case(kind, ["check", "{tmp}/s.yaml", "--dump", "--format", "json"], files)
    yield Case(kind, ["check", "{tmp}/s.yaml", "--dump", "--format", "csv"], files, expect_error=True)
    yield Case(kind, ["check", "{tmp}/s.yaml", "--dump", "--format", "json", "--set", "cluster.nodes=0"], files,
               expect_error=True)  # fmt: skip
    bomb = (
        "[&a [x, x, x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a], "
        + ", ".join(f"&{chr(99 + i)} [" + ", ".join([f"*{chr(98 + i)}"] * 10) + "]" for i in range(6))
        + "]"
    )
    for vary, error in (
        ("training.zero_stage=1,1", True),
        ("training.micro_batch=1,2,1", True),
        ("variability.stragglers=[{worker: 1, slowdown: 2}],[{slowdown: 2, worker: 1}]", True),
        ("training.zero_stage=!!int 1,2", True),
        ("communication.overlap=yes,no", True),  # YAML 1.2: text, not booleans
        ("training.global_batch=08,016", False),  # YAML 1.2: 8 and 16 (YAML 1.1 read 016 as 14)
        ("name=&a [*a],b", True),
        ("name=" + bomb, True),
        ("\x1b[31m=1,2", True),
    ):
        yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", vary, "--format", "csv"], files, expect_error=error)


NCCL_TESTS = ROOT / "tests" / "data" / "nccl_tests" / "all_reduce_8gpu_nccl-tests-new-format.txt"


def _nccl_row(size: str, time_us: str) -> bytes:
    """The committed 8-GPU all-reduce output with its first row's size and out-of-place time replaced."""
    lines = NCCL_TESTS.read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    tokens = lines[first].split()
    tokens[0], tokens[5] = size, time_us
    lines[first] = "  ".join(tokens)
    return ("\n".join(lines) + "\n").encode()


def nccl_tests_outputs() -> Iterator[Case]:
    """``calibrate --from-nccl-tests``: damaged outputs and special files (a profile is written only on success)."""
    kind = "damaged nccl-tests outputs"
    base = ["calibrate", "--out", "{tmp}/p.yaml", "--from-nccl-tests"]
    text = NCCL_TESTS.read_text(encoding="utf-8")
    for name, data in (
        ("size_10e400", _nccl_row("1" + "0" * 400, "18.66")),
        ("size_10e5000", _nccl_row("1" + "0" * 5000, "18.66")),
        ("time_1e308", _nccl_row("32768", "1e308")),
        ("empty", b""),
        ("binary", bytes(range(256)) * 8),
        ("utf16", text.encode("utf-16")),
        ("header_only", "\n".join(line for line in text.splitlines() if line.startswith("#")).encode()),
        ("one_row", "\n".join(text.splitlines()[:4]).encode()),
    ):
        yield Case(kind, [*base, f"{{tmp}}/all_reduce_{name}.txt"], {f"all_reduce_{name}.txt": data}, expect_error=True)
    truncated = text.encode()[: len(text) // 2]  # the whole rows before the cut are a valid (shorter) output
    yield Case(kind, [*base, "{tmp}/all_reduce_cut.txt"], {"all_reduce_cut.txt": truncated})
    yield Case(kind, [*base, "{tmp}/all_reduce_fifo.txt"], {"all_reduce_fifo.txt": b"<fifo>"}, expect_error=True)
    yield Case(kind, [*base, "/dev/zero"], expect_error=True)
    yield Case(kind, [*base, "{tmp}"], expect_error=True)
    for data, error in ((_nccl_row("32768", "nan"), True), (_nccl_row("1e308", "18.66"), False)):  # nan: refused
        yield Case(kind, [*base, "{tmp}/all_reduce_perf.txt"], {"all_reduce_perf.txt": data}, expect_error=error)
    plan = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "8", "--no-progress", "--simulate", "0"]
    for extra in (("--price", "a100-80gb=2", "--price", "a100-80gb=3"), ("--price", "2", "--price", "3"),
                  ("--out", "{tmp}/p.csv", "--all", "{tmp}/p.csv")):  # fmt: skip
        yield Case("plan --tp 3 / --pp 1000 / bad options", [*plan, *extra], expect_error=True)


def output_collisions() -> Iterator[Case]:
    """An output that is an input of the same command, or that cannot be written (``/proc``, under a file)."""
    kind = "outputs: input collisions / unwritable"
    nccl = NCCL_TESTS.read_bytes()
    files = {"s.yaml": SMALL.encode(), "s.json": SMALL.encode(), "s.csv": SMALL.encode(), "all_reduce_perf.txt": nccl}
    vary = ("--vary", "training.micro_batch=1,2")
    for argv in (
        ["run", "{tmp}/s.json", "--engine", "sim", "--trace", "{tmp}/s.json"],  # a JSON scenario is YAML
        ["sweep", "{tmp}/s.csv", *vary, "--out", "{tmp}/s.csv"],
        ["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/s.yaml", "--from-nccl-tests", "{tmp}/all_reduce_perf.txt"],
        ["calibrate", "--out", "{tmp}/all_reduce_perf.yaml", "--from-nccl-tests", "{tmp}/all_reduce_perf.yaml"],
        ["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--records", "{tmp}/s.yaml"],
        ["calibrate", "--out", "{tmp}/p.yaml", "--records", "{tmp}/r.json", "--from-nccl-tests",
         "{tmp}/all_reduce_perf.txt"],  # records come from measuring only
        ["report", "{tmp}/r.html", "-o", "{tmp}/r.html"],
        ["sweep", "{tmp}/s.yaml", *vary, "--out", "/proc/x.csv"],
        ["sweep", "{tmp}/s.yaml", *vary, "--out", "{tmp}/s.yaml/x.csv"],
        ["sweep", "{tmp}/s.yaml", *vary, "--plot", "/proc/x.png"],
        ["run", "{tmp}/s.yaml", "--engine", "sim", "--trace", "/proc/t.json"],
        ["run", "{tmp}/s.yaml", "--engine", "sim", "--gantt", "/sys/g.png"],
        ["report", "{tmp}/s.yaml", "-o", "/proc/r.html"],
        ["calibrate", "--out", "/proc/p.yaml", "--from-nccl-tests", "{tmp}/all_reduce_perf.txt"],
        ["calibrate", "--out", "{tmp}/d.yaml", "--from-nccl-tests", "{tmp}/all_reduce_perf.txt"],
        ["collective", "--plot", "/proc/b.png"],
        ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "8", "--no-progress", "--simulate", "0",
         "--all", "/proc/all.csv"],
        ["calibrate", "{tmp}/s.yaml", "--out", "/proc/p.yaml"],
    ):  # fmt: skip
        extra = {"r.html": b"<html></html>", "d.yaml/x": b"<dir>", "all_reduce_perf.yaml": nccl}
        yield Case(kind, argv, {**files, **extra}, expect_error=True)
    yield Case(kind, ["sweep", "{tmp}/s.yaml", *vary, "--out", "{tmp}/ro/x.csv"], {**files, "ro/x": b"<read-only>"},
               expect_error=os.getuid() != 0)  # fmt: skip  # root writes into a 0500 folder
    yield Case(kind, ["calibrate", "--out", "{tmp}/p.yaml", "--base", "{tmp}/p.yaml", "--from-nccl-tests",
                      "{tmp}/all_reduce_perf.txt"], {**files, "p.yaml": _FITTED_PROFILE})  # fmt: skip  # updated


def runtime_options() -> Iterator[Case]:
    """``calibrate`` (measuring) and ``validate``: every option out of range is refused before a rank starts."""
    kind = "calibrate / validate options"
    files = {"s.yaml": SMALL.encode()}
    calibrate = ["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml"]
    for extra in (
        ("--ranks", "0"), ("--ranks", "100000"), ("--ranks", "9" * 30), ("--ranks", "2,x"), ("--sizes", "0B"),
        ("--sizes", "-1B"), ("--sizes", "1EB"), ("--sizes", "nan B"), ("--reps", "1000000000000"), ("--reps", "0"),
        ("--max-residual", "nan"), ("--max-residual", "-1"), ("--max-residual", "inf"),
        ("--testbed", "emulated", "--rates", "0 Mbit/s"), ("--testbed", "emulated", "--rates", "inf Gbit/s"),
        ("--testbed", "moon"), ("--link-class", "x"), ("--algorithms", "magic"),
        ("--algorithms", ","), ("--compute", "--gemm-sizes", "1000000,2000000"), ("--compute", "--gemm-sizes", "0,1"),
        ("--compute", "--gemm-sizes", "256"), ("--compute", "--dtype", "fp8"), ("--device", "tpu"),
        ("--device", "cuda"), ("--out", "{tmp}/p.txt"),
    ):  # fmt: skip
        yield Case(kind, [*calibrate, *extra], files, expect_error=True)
    ring = ("--set", "communication.algorithm=ring")
    validate = ["validate", "{tmp}/s.yaml", *ring, "--case", "training.micro_batch=2"]
    for extra in (
        ("--timeout", "nan"), ("--timeout", "-1"), ("--timeout", "inf"), ("--timeout", "0"),
        ("--steps", "1000000000000"), ("--repeats", "1000000000000"), ("--warmup-steps", "1000000000000"),
        ("--steps", "0"), ("--calibrate-ranks", "100000"), ("--engine", "x"), ("--case", ";;"),
        ("--out-dir", "{tmp}/s.yaml"), ("--out-dir", "/proc/v"), ("--profile", "{tmp}/missing.yaml"),
        ("--device", "cuda"), ("--nccl-pin",), ("--testbed", "moon"),
    ):  # fmt: skip
        yield Case(kind, [*validate, *extra], files, expect_error=True)
    # the default algorithm (auto) is one the runtime cannot run: one line, before anything is measured
    yield Case(kind, ["validate", "{tmp}/s.yaml", "--case", "training.micro_batch=2"], files, expect_error=True)


def _gzip_bomb(size: int) -> bytes:
    import gzip
    import io

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as out:
        chunk = b"[" + b" " * (1 << 20)
        for _ in range(size >> 20):
            out.write(chunk)
    return buffer.getvalue()


def json_inputs() -> Iterator[Case]:
    """Profiler traces (``calibrate --from-trace``) and ``report`` inputs: JSON nested, damaged, gzip bombs."""
    kind = "damaged traces / report JSON"
    trace = ["calibrate", "--out", "{tmp}/p.yaml", "--from-trace"]
    for name, data in (
        ("deep.json", b"[" * 100_000),
        ("deep_obj.json", b'{"a":' * 100_000),
        ("nan.json", b'{"traceEvents": [{"ph": "X", "name": "aten::mm", "ts": NaN, "dur": Infinity}]}'),
        ("list.json", b'{"traceEvents": {"a": 1}}'),
        (
            "ts_text.json",
            b'{"traceEvents": [{"ph": "X", "name": "nn.Module: A", "cat": "python_function", "ts": "x", '
            b'"dur": 1, "tid": 1}]}',
        ),
        (
            "no_tid.json",
            b'{"traceEvents": [{"ph": "X", "name": "nn.Module: A", "cat": "python_function", "ts": 1, "dur": 1}]}',
        ),
        (
            "dur_neg.json",
            b'{"traceEvents": [{"ph": "X", "name": "nn.Module: A", "cat": "python_function", "ts": 1, '
            b'"dur": -5, "tid": 1}]}',
        ),
        ("cut.json", b'{"traceEvents": [{"ph": "X", "name": "nn.Module: Linear", "ts": 1, "du'),
        ("empty.json", b""),
        ("utf16.json", '{"traceEvents": []}'.encode("utf-16")),
        ("binary.json", bytes(range(256))),
        ("bomb.json.gz", _gzip_bomb(600 << 20)),  # 600 MiB of JSON in about 600 KB
        ("notgz.json.gz", b"not gzip at all"),
        ("cutgz.json.gz", _gzip_bomb(4 << 20)[:200]),
    ):
        yield Case(kind, [*trace, f"{{tmp}}/{name}"], {name: data}, expect_error=True)
    yield Case(kind, [*trace, "/dev/zero"], expect_error=True)
    yield Case(kind, [*trace, "{tmp}/fifo.json"], {"fifo.json": b"<fifo>"}, expect_error=True)
    for name, data in (
        ("deep.json", b"[" * 100_000 + b"]" * 100_000),
        ("dup.json", b'{"step_time_s": 1, "step_time_s": 2, "engine": "analytic"}'),
        ("cut.json", b'{"step_time_s": 1, "eng'),
        ("nan.json", b'{"step_time_s": NaN, "engine": "analytic"}'),
        ("records.jsonl", b'{"a": 1}\n' + b"[" * 100_000 + b"\n"),
    ):
        yield Case(kind, ["report", f"{{tmp}}/{name}", "-o", "{tmp}/r.html"], {name: data},
                   expect_error=name != "nan.json")  # fmt: skip


def size_lists() -> Iterator[Case]:
    """``collective --sizes``/``--size``: reversed, zero, huge, fractional, repeated, empty and endless lists."""
    kind = "collective --sizes lists / ranges"
    for sizes in ("16GiB..8B", "0B..1GiB", "1B..1EB", "1MiB,1MiB", "1MiB,,2MiB", "8B..16GiB..32GiB", "nan", "inf B",
                  "0", "1.5B", "-1B..1B", ",".join(["1MiB"] * 10_000), ",".join(f"{i}B" for i in range(1, 20_001)),
                  "1e400B..2e400B", "8B..", "..8B", "NaN B..1GiB", "\uff15 GB", "1 GiB/s", "1 h",
                  "25 MIB"):  # fmt: skip
        yield Case(kind, ["collective", "--sizes", sizes], expect_error=True)
    for size in ("0 B", "-1 MiB", "1e30 B", "0.5 B", "2 ZB", "\x1b[31m1 GiB"):  # 1 ZB, the range's end, runs
        yield Case(kind, ["collective", "--size", size], expect_error=True)
    for sizes in ("8B..8B", "8 B .. 1 GiB", "1MiB,2MiB,4MiB"):
        yield Case(kind, ["collective", "--sizes", sizes])


def _nccl_lines(edit: Callable[[list[str]], list[str]]) -> bytes:
    return ("\n".join(edit(NCCL_TESTS.read_text(encoding="utf-8").splitlines())) + "\n").encode()


def nccl_rows() -> Iterator[Case]:
    """nccl-tests rows nccl-tests would not print (nan/inf/negative/zero times), cut rows, a file past 16 MiB."""
    kind = "nccl-tests rows: nan / negative / huge"
    base = ["calibrate", "--out", "{tmp}/p.yaml", "--from-nccl-tests", "{tmp}/all_reduce_perf.txt"]
    for time_us in ("nan", "-nan", "inf", "-inf", "-3.5", "0.00", "NaN"):
        yield Case(kind, base, {"all_reduce_perf.txt": _nccl_row("32768", time_us)}, expect_error=True)
    yield Case(kind, base, {"all_reduce_perf.txt": _nccl_row("-8", "18.66")})  # not a result row: skipped
    row = next(line for line in NCCL_TESTS.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
    yield Case(kind, base, {"all_reduce_perf.txt": _nccl_lines(lambda lines: [*lines, row[: len(row) // 2]])})
    yield Case(kind, base, {"all_reduce_perf.txt": _nccl_lines(lambda lines: lines * 11_000)}, expect_error=True)
    yield Case(kind, base, {"all_reduce_perf.txt": _nccl_lines(lambda lines: lines * 4000)}, expect_error=True)
    headers_only = _nccl_lines(lambda lines: [line for line in lines if line.startswith("#")] * 3)
    yield Case(kind, base, {"all_reduce_perf.txt": headers_only}, expect_error=True)


_QUANTITY_FIELDS = (
    "cluster.device.peak_flops", "cluster.device.memory", "cluster.device.memory_bandwidth",
    "cluster.device.kernel_overhead", "cluster.intra_node.bandwidth", "cluster.intra_node.latency",
    "cluster.inter_node.bandwidth", "cluster.inter_node.latency", "communication.bucket",
    "reliability.checkpoint_write", "reliability.restart", "reliability.node_mtbf",
)  # fmt: skip
_UNIT_TYPOS = ("'100 gbit/s'", "'25 MIB'", "'1 hr'", "'5 usec'", "'100 GB/sec'", "'10 %'", "'1,000 MB'",
               "'\uff15 GB'", "'5 s s'", "'0x10 GB'", "'1_000 MB'", "'nan s'", "'-inf GB'", "'1e999 B'")  # fmt: skip


def unit_typos() -> Iterator[Case]:
    """Every unit-bearing field with a unit typo, a unit of another kind, thousands separators, non-ASCII digits."""
    kind = "unit typos in every unit-bearing field"
    for i, path in enumerate(_QUANTITY_FIELDS):
        for j, value in enumerate(_UNIT_TYPOS):
            if (i + j) % 3 == 0:  # a third of the grid, every field and every typo
                yield _set_case(kind, f"{path}={value}", command="check")


def keys_and_documents() -> Iterator[Case]:
    """Non-text keys inside sections, merge keys, several documents, directives, a scalar or list at the top."""
    kind = "non-text keys / YAML documents"
    section = "cluster:\n  nodes: 2\n  workers_per_node: 2\n  device: a100-80gb\n"
    for raw in ("{1: x}", "{true: x}", "{? [a, b]: 1}", "{1.5: x}", "{~: x}", "{<<: {nodes: 4}}", "{2001-01-01: x}"):
        yield _file_case(kind, SMALL.replace(section, f"cluster: {raw}\n").encode(), command="check")
    for data in (
        b"---\n" + SMALL.encode() + b"---\n" + SMALL.encode(), b"%YAML 2.0\n---\n" + SMALL.encode(), b"- 1\n- 2\n",
        b"just a string\n", b"~\n", ("k" * 100_000 + ": 1\n").encode(),
        b"%TAG ! tag:evil,2000:\n---\n" + SMALL.encode().replace(b"nodes: 2", b"nodes: !x 2"),
    ):  # fmt: skip
        yield _file_case(kind, data, command="check")
    for data in (SMALL.encode() + b"...\n", b"%YAML 1.2\n---\n" + SMALL.encode(),
                 b"%TAG ! tag:evil,2000:\n---\n" + SMALL.encode()):  # fmt: skip  # valid YAML 1.2 (no tag used)
        yield _file_case(kind, data, command="check", expect_error=False)


def priced_in_all() -> Iterator[Case]:
    """Sweeps and plans whose points are each under the cost guard's limits, but not together."""
    kind = "sweep / plan priced in all"
    files = {"s.yaml": SMALL.encode()}
    # nine points of 0.72-1.05 M ranks: ~55 s priced (the guard counts the rails a one-NIC node routes)
    nodes = ",".join(str(n) for n in range(131072, 84999, -5120))
    for engine in ("analytic", "sim"):
        argv = ["sweep", "{tmp}/s.yaml", "--vary", f"cluster.nodes={nodes}", "--set", "cluster.workers_per_node=8",
                "--set", "training.global_batch=auto", "--engine", engine]  # fmt: skip
        yield Case(kind, argv, files, expect_error=True)
    plan = ["plan", "--model", "gpt2-small", "--tokens", "20B", "--no-progress", "--simulate", "0", "--tp", "1",
            "--pp", "1", "--zero", "0", "--micro-batch", "1"]  # fmt: skip
    yield Case(kind, [*plan, "--max-devices", "1048576", "--min-devices", "262144", "--global-batch", "1048576"],
               expect_error=True)  # fmt: skip
    yield Case(kind, [*plan, "--max-devices", "1048576", "--global-batch", "1048576", "--algorithm",
                      "ring,hierarchical"], expect_error=True)  # fmt: skip
    yield Case(kind, [*plan, "--max-devices", "64"])
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "variability.seed=" + ",".join(map(str, range(1, 41))),
                      "--set", "cluster.nodes=2048", "--set", "cluster.workers_per_node=8",
                      "--set", "training.global_batch=auto", "--format", "csv"], files)  # fmt: skip  # one group


_POOL = (
    "1" + "0" * 400, "1e308", ".inf", "-.inf", ".nan", "-1", "0", "true", "yes", "'yes'", "1e-320", "~", "[]", "{}",
    "[1, 2]", "{a: 1}", "'\x1b[2J'", "x" * 5000, "010", "0x10", "'1e308 TB/s'", "'1e-320 B/s'", "'1e-300 B'",
    "'0 s'", "'-5 us'", "2.5", "4294967296", "9007199254740993", "'25 MiB'", "'200 Gbit/s'", "'7B'", "a100-80gb",
    "gpt2-xl", "ring", "auto", "!!int 1", "*x", "&a 1", "'\u202e'", "'\ud800'",
)  # fmt: skip


def _leaf_paths() -> list[str]:
    import yaml

    from dpsim.scenario import dump_scenario, load_scenario

    paths: list[str] = []

    def walk(node: object, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        else:
            paths.append(prefix)

    walk(yaml.safe_load(dump_scenario(load_scenario(None))), "")
    return [*paths, "reliability.node_mtbf", "calibration.profile", "variability.stragglers", "model", "cluster.device"]


def mutations(count: int = 300, seed: int = 0) -> Iterator[Case]:
    """Random (seeded) hostile values in random fields, through --set and through the file."""
    rng = random.Random(seed)
    paths = _leaf_paths()
    for i in range(count):
        path, value = rng.choice(paths), rng.choice(_POOL)
        if i % 2:
            yield Case("random field mutations", ["run", "--set", f"{path}={value}"])
        else:  # the value written into the file itself, in place of the field
            data = _mutated_file(path, value).encode("utf-8", "surrogatepass")
            yield Case("random field mutations", ["check", "{tmp}/s.yaml"], {"s.yaml": data})


def _mutated_file(path: str, raw: str) -> str:
    """SMALL (as a full mapping) with the field at ``path`` written as the raw YAML text ``raw``."""
    import yaml

    data = yaml.safe_load(SMALL)
    node = data
    parts = path.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {"preset": child} if isinstance(child, str) else {}
            node[part] = child
        node = child
    node[parts[-1]] = "HOSTILE_VALUE_HERE"
    return yaml.safe_dump(data, sort_keys=False).replace("HOSTILE_VALUE_HERE", raw.replace("\n", " "))


_SMALL_PATHS = ("{tmp}/s.yaml",)


def symlinked_paths() -> Iterator[Case]:
    """Inputs and outputs given as symbolic links: to a device, a FIFO, a folder, nowhere, each other, an input."""
    kind = "symlinked paths"
    files = {"s.yaml": SMALL.encode(), "fifo": b"<fifo>", "d/x": b"<dir>"}
    yield Case(kind, ["run", "{tmp}/l.yaml"], files, links={"l.yaml": "{tmp}/s.yaml"})  # a link to a scenario: fine
    for target in ("/dev/zero", "/dev/urandom", "{tmp}/fifo", "{tmp}/d", "{tmp}/nowhere.yaml", "{tmp}/l.yaml",
                   "/proc/self/mem"):  # fmt: skip
        yield Case(kind, ["run", "{tmp}/l.yaml"], files, links={"l.yaml": target}, expect_error=True, names="l.yaml")
        yield Case(kind, ["run", "{tmp}/s.yaml", "--set", "calibration.profile={tmp}/l.yaml"], files,
                   links={"l.yaml": target}, expect_error=True, names="l.yaml")  # fmt: skip
    yield Case(kind, ["run", "{tmp}/l.yaml"], files, links={"l.yaml": "{tmp}/m.yaml", "m.yaml": "{tmp}/l.yaml"},
               expect_error=True, names="symbolic links")  # fmt: skip  # a loop of two
    vary = ("--vary", "training.micro_batch=1,2")
    for argv, option in (
        (["run", "{tmp}/s.yaml", "--engine", "sim", "--trace", "{tmp}/o.json"], "--trace"),
        (["sweep", "{tmp}/s.yaml", *vary, "--out", "{tmp}/o.csv"], "--out"),
        (["sweep", "{tmp}/s.yaml", *vary, "--plot", "{tmp}/o.png"], "--plot"),
        (["report", "{tmp}/s.yaml", "-o", "{tmp}/o.html"], "-o"),
    ):  # an output that is a link to the command's own input
        name = argv[-1].rsplit("/", 1)[1]
        yield Case(kind, argv, files, links={name: "{tmp}/s.yaml"}, expect_error=True, names=option)
    for argv, option in (
        (["calibrate", "--out", "{tmp}/p.yaml", "--from-nccl-tests", "{tmp}/l.txt"], "--from-nccl-tests"),
        (["calibrate", "--out", "{tmp}/p.yaml", "--from-trace", "{tmp}/l.txt"], "l.txt"),
        (["report", "{tmp}/l.txt", "-o", "{tmp}/r.html"], "l.txt"),
        (["collective", "--set", "calibration.profile={tmp}/l.txt"], "l.txt"),
    ):
        for target in ("/dev/zero", "{tmp}/fifo", "{tmp}/l.txt"):
            yield Case(kind, argv, files, links={"l.txt": target}, expect_error=True, names=option,
                       outputs=("{tmp}/p.yaml", "{tmp}/r.html"))  # fmt: skip


def line_breaks_and_marks() -> Iterator[Case]:
    """CRLF and CR line ends, byte-order marks where they do not belong, NUL and other control bytes."""
    kind = "CRLF / BOM / NUL / line breaks"
    text = SMALL.encode()
    for data, error in (
        (text.replace(b"\n", b"\r\n"), False), (text.replace(b"\n", b"\r"), False),
        (text.replace(b"\n", b"\r\n", 3), False), (b"\xef\xbb\xbf" + text.replace(b"\n", b"\r\n"), False),
        (b"\xef\xbb\xbf\xef\xbb\xbf" + text, False),  # a second BOM is one more at the stream's start: YAML drops it
        (text.replace(b"cluster:", b"\xef\xbb\xbfcluster:"), True),
        (text.replace(b"name: small", b"name: sm\x00all"), True),
        (text.replace(b"  nodes", b"\tnodes"), True), (text.replace(b"name: small", "name: a\u2028b".encode()), True),
        (text.replace(b"name: small", b"name: a\xc2\x85b"), True), (text + b"\x1a", True),
        (text.replace(b"name: small", b'name: "a\\x00b"'), True), (text.replace(b"name: small", b"name: a\x7fb"), True),
    ):  # fmt: skip
        yield _file_case(kind, data, expect_error=error)
        yield _file_case(kind, data, "--format", "json", command="check", expect_error=error)
    yield _set_case(kind, "\ufeffcluster.nodes=2", expect_error=True, names="--set")
    yield _set_case(kind, "cluster.nodes=\ufeff2", expect_error=False)  # the value's own stream starts with a BOM
    yield _set_case(kind, "cluster.nodes=2\r", expect_error=False)  # a line break ends the plain scalar
    yield _set_case(kind, "name=\x85x", expect_error=False)  # NEL is a YAML line break before the name
    yield _set_case(kind, "cluster.nodes=2\x00", expect_error=True, names="cluster.nodes")
    profile = PROFILE.read_text(encoding="utf-8")
    yield Case(kind, ["run", str(CPU_SCENARIO), "--set", "calibration.profile={tmp}/p.yaml"],
               {"p.yaml": profile.replace("\n", "\r\n").encode()})  # fmt: skip
    yield Case(kind, ["run", str(CPU_SCENARIO), "--set", "calibration.profile={tmp}/p.yaml"],
               {"p.yaml": profile.replace("name:", "na\x00me:", 1).encode()}, expect_error=True)  # fmt: skip
    nccl = NCCL_TESTS.read_text(encoding="utf-8")
    yield Case(kind, ["calibrate", "--out", "{tmp}/p.yaml", "--from-nccl-tests", "{tmp}/all_reduce_perf.txt"],
               {"all_reduce_perf.txt": nccl.replace("\n", "\r\n").encode()})  # fmt: skip


def merge_keys() -> Iterator[Case]:
    """YAML 1.1 merge keys (``<<``: an ordinary key in YAML 1.2) and anchors reused across sections."""
    kind = "merge keys / anchors"
    for data, names in (
        (SMALL.replace("training: {", "x-base: &b {nodes: 4}\ntraining: {"), "x-base"),
        (SMALL.replace("cluster:\n", "cluster:\n  <<: {nodes: 4}\n"), "cluster.<<"),
        (SMALL + "variability: {<<: [{seed: 1}, {seed: 2}]}\n", "variability.<<"),
        (SMALL.replace("training: {", "training: &t {") + "communication: *t\n", "communication"),
        (SMALL.replace("nodes: 2", "nodes: &n 2").replace("workers_per_node: 2", "workers_per_node: {<<: *n}"),
         "cluster.workers_per_node"),
        (SMALL.replace("device: a100-80gb", "device: &d a100-80gb\n  intra_node: *d"), "cluster.intra_node"),
    ):  # fmt: skip
        yield _file_case(kind, data.encode(), command="check", expect_error=True, names=names)
    shared = SMALL.replace("nodes: 2", "nodes: &n 2").replace("workers_per_node: 2", "workers_per_node: *n")
    yield _file_case(kind, shared.encode(), command="check", expect_error=False)  # an alias of a scalar: fine
    yield _set_case(kind, "cluster={<<: {nodes: 4}, workers_per_node: 2, device: a100-80gb}", command="check",
                    expect_error=True, names="cluster.<<")  # fmt: skip
    yield _set_case(kind, "variability=&a {seed: 1, x: *a}", command="check", expect_error=True, names="variability")


_NUMERIC_FIELDS = (
    "model.layers", "model.hidden", "model.heads", "model.kv_heads", "model.ffn_hidden", "model.seq_len",
    "model.vocab", "model.token_types", "model.parameters", "model.flops_per_sample", "cluster.nodes",
    "cluster.workers_per_node", "cluster.device.efficiency", "cluster.device.matmul_efficiency",
    "cluster.device.memory_efficiency", "cluster.device.sustained_fraction", "cluster.intra_node.efficiency",
    "cluster.inter_node.efficiency", "cluster.inter_node.nics_per_node", "cluster.inter_node.pcie_gpus_per_nic",
    "cluster.inter_node.ports_per_nic", "cluster.host_topology.sockets", "cluster.host_topology.gpus_per_switch",
    "cluster.topology.oversubscription", "cluster.topology.nodes_per_leaf", "cluster.price_per_device_hour",
    "training.global_batch", "training.micro_batch", "training.accumulation", "training.fsdp_shard_group",
    "training.deepspeed_reduce_bucket_size", "training.deepspeed_prefetch_bucket_size",
    "training.deepspeed_max_live_parameters", "training.deepspeed_max_reuse_distance", "training.memory_reserve",
    "training.zero_stage", "training.tensor_parallel", "training.pipeline_parallel", "training.virtual_stages",
    "training.learning_rate", "variability.seed", "variability.compute_jitter_cv", "variability.replications",
    "simulation.steps",
)  # fmt: skip
"""Every number-valued scenario field (``dpsim schema``: integer or number)."""
_NUMERIC_VALUES = ("1" + "0" * 400, "-1e400", "1e-400", "-2.5e-400", "true", "false", ".nan", "-.inf", "[1]", "{}")


def every_numeric_field() -> Iterator[Case]:
    """Huge and underflowing literals, booleans, NaN/inf, lists and maps in every number-valued field."""
    kind = "every numeric field: 10^400/1e-400/bool"
    for i, path in enumerate(_NUMERIC_FIELDS):
        for j, value in enumerate(_NUMERIC_VALUES):
            if (i + j) % 2 == 0:  # half of the grid: every field and every value
                yield _set_case(kind, f"{path}={value}", command="check", expect_error=True, names=path)
        yield _set_case(kind, f"{path}=null", command="check", expect_error=False)  # unset: its default, or named
    for i, path in enumerate(_QUANTITY_FIELDS):
        for value in ("'1e-400 s'", "'1e-400 GB'", "'1e-330 ns'", "'1e+400 GB/s'", "true", "'0x10 GB'")[i % 2 :: 2]:
            yield _set_case(kind, f"{path}={value}", command="check", expect_error=True, names=path)
    underflow = "variability: {compute_jitter_cv: 1e-400}\n"
    yield _file_case(kind, _with(underflow), command="check", expect_error=True, names="line")


def torchrun_environment() -> Iterator[Case]:
    """``calibrate`` and ``validate`` under the variables torchrun sets: NaN, negative, huge, inconsistent."""
    kind = "torchrun environment (RANK, WORLD_SIZE)"
    files = {"s.yaml": SMALL.encode()}
    commands = (
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml"], ("{tmp}/p.yaml",)),
        (["validate", "{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--case", "training.micro_batch=2",
          "--out-dir", "{tmp}/v"], ("{tmp}/v",)),
    )  # fmt: skip
    for env, names in (
        ({"RANK": "nan", "WORLD_SIZE": "inf"}, "RANK"), ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE"),
        ({"RANK": "5", "WORLD_SIZE": "2"}, "RANK"), ({"RANK": "0"}, "WORLD_SIZE"), ({"WORLD_SIZE": "2"}, "RANK"),
        ({"RANK": "-1", "WORLD_SIZE": "2"}, "RANK"), ({"RANK": "0", "WORLD_SIZE": "1" + "0" * 400}, "WORLD_SIZE"),
        ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "1e400"}, "LOCAL_RANK"),
        ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "4"}, "LOCAL_WORLD_SIZE"),
        ({"RANK": "\uff11", "WORLD_SIZE": "2"}, "RANK"), ({"RANK": " 0", "WORLD_SIZE": "2"}, "RANK"),
    ):  # fmt: skip
        for argv, outputs in commands:
            yield Case(kind, argv, files, env=env, expect_error=True, names=names, outputs=outputs)


def _profile_with(extra: str) -> bytes:
    return (PROFILE.read_text(encoding="utf-8") + extra).encode()


_HOSTILE_PROFILES = {
    "alias bomb": (
        (
            "a: &a [1,1,1,1,1,1,1,1,1,1]\n"
            + "".join(f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcde", "bcdef", strict=True))
            + PROFILE.read_text(encoding="utf-8")
        ).encode(),
        "aliases",
    ),
    "python tag": (
        PROFILE.read_text(encoding="utf-8")
        .replace("name:", "x: !!python/object/apply:os.system ['true']\nname:", 1)
        .encode(),
        "tags",
    ),
    "duplicate key": (_profile_with("name: again\n"), "duplicate key"),
    "readiness NaN": (_profile_with("gradient_ready: [[0.5, .nan], [1.0, 1.0]]\n"), "gradient_ready"),
    "readiness bool": (_profile_with("gradient_ready: [[0.5, true], [1.0, 1.0]]\n"), "gradient_ready"),
    "readiness 10^400": (_profile_with("gradient_ready: [[1" + "0" * 400 + ", 0.5]]\n"), "digits"),
    "readiness short": (_profile_with("gradient_ready: [[0.5], [1.0, 1.0, 3]]\n"), "gradient_ready"),
    "unknown key": (_profile_with("foo: {bar: 1}\n"), "foo"),
    "unknown link key": (
        damaged_profile(r"^(      )latency: .*$", r"\1latency: 1 us\n      colour: 1").encode(),
        "colour",
    ),
    "nested latency": (damaged_profile(r"^(      )latency: .*$", r"\1latency: {a: {b: 1}}").encode(), "links."),
    "latency 1e-400": (damaged_profile(r"^(      )latency: .*$", r"\1latency: 1e-400 s").encode(), "latency"),
    "UTF-16": (PROFILE.read_text(encoding="utf-8").encode("utf-16"), "UTF-16"),
}
"""A calibration profile damaged in one way each, and what the error must name."""


def profiles_everywhere() -> Iterator[Case]:
    """Damaged profiles given to every command that reads one; nothing is written when one is refused."""
    kind = "hostile profiles in every command"
    for data, names in _HOSTILE_PROFILES.values():
        files = {"p.yaml": data}
        at = ("--set", "calibration.profile={tmp}/p.yaml")
        for argv, outputs in (
            (["run", str(CPU_SCENARIO), *at], ()),
            (["collective", str(CPU_SCENARIO), *at, "--sizes", "1MiB,2MiB"], ()),
            (["sweep", str(CPU_SCENARIO), *at, "--vary", "training.micro_batch=1,2", "--out", "{tmp}/o.csv"],
             ("{tmp}/o.csv", "{tmp}/o.csv.partial.jsonl")),
            (["validate", str(CPU_SCENARIO), "--profile", "{tmp}/p.yaml", "--set", "communication.algorithm=ring",
              "--case", "training.micro_batch=2", "--out-dir", "{tmp}/v"], ("{tmp}/v",)),
            (["calibrate", "--base", "{tmp}/p.yaml", "--out", "{tmp}/o.yaml", "--from-nccl-tests", str(NCCL_TESTS)],
             ("{tmp}/o.yaml",)),
        ):  # fmt: skip  # (plan reads no profile: it builds its configurations from the catalog)
            yield Case(kind, argv, files, expect_error=True, names=names, outputs=outputs)


def collective_edges() -> Iterator[Case]:
    """``collective --size/--sizes`` at the edges: 48 and 49 sizes, 1 B and past 1 ZB, signs, underflow."""
    kind = "collective sizes at the edges"
    for sizes, error, names in (
        (",".join(f"{2**i}B" for i in range(48)), False, ""), (",".join(f"{2**i}B" for i in range(49)), True, "49"),
        ("1B..1B", False, ""), ("1B..2B", False, ""), ("+8B", False, ""), (" 8B ", False, ""), ("-0B", True, "-0B"),
        ("1e-400B", True, "1e-400B"), ("1e400B", True, "1e400B"), ("0.999B", True, "0.999B"), ("8B....16GiB", True, ""),
        ("GiB", True, "GiB"), ("1 ZiB", True, "ZiB"), ("8B..16GiB,32GiB", True, ""), ("1e21B", False, ""),
        ("1.000001e21B", True, "1 ZB"),
    ):  # fmt: skip
        yield Case(kind, ["collective", "--sizes", sizes, "--format", "csv"], expect_error=error,
                   names=names or "--sizes" if error else "")  # fmt: skip
    for size, error in (("1 B", False), ("1e-400 B", True), ("1e21 B", False), ("0.5 B", True), ("1 EB", False),
                        ("1.1e21 B", True)):  # fmt: skip  # sizes reach 1 ZB
        yield Case(kind, ["collective", "--size", size, "--format", "csv"], expect_error=error,
                   names="--size" if error else "")  # fmt: skip


def set_paths() -> Iterator[Case]:
    """``--set`` paths that are long, deep, dunder, non-ASCII, through scalars, lists and presets."""
    kind = "long / odd --set paths"
    for item, names in (
        ("a." * 99 + "a=1", "a: unknown key"), ("cluster." + "x" * 191 + "=1", "unknown key"),
        ("cluster." + "x" * 193 + "=1", "--set"), ("cluster.nodes.x=1", "cluster.nodes"),
        ("variability.stragglers.-1.worker=1", "variability.stragglers"), ("__class__=1", "__class__"),
        ("model.__dict__.x=1", "model.__dict__"), ("0=1", "0: unknown key"), ("clüster.nodes=2", "clüster"),
        ("calibration.profile.x=1", "calibration.profile"), ("calibration.foo=1", "calibration.foo"),
        ("cluster.rank_order.5=1", "cluster.rank_order"), ("cluster.device.gemm_tile.5=1", "cluster.device.gemm_tile"),
        ("cluster.inter_node.bandwidth.value=1", "cluster.inter_node.bandwidth"),
        ("training.global_batch.auto=1", "training.global_batch"), ("cluster.intra_node={latency: 3 us}",
         "cluster.intra_node"), ("cluster.host_link={}", "cluster.host_link"),
    ):  # fmt: skip
        yield _set_case(kind, item, command="check", expect_error=True, names=names)
    yield _set_case(kind, "cluster.intra_node=pcie4", "cluster.host_link.latency=1 us", command="check",
                    expect_error=True, names="cluster.host_link")  # fmt: skip
    for item in ("cluster.nodes =2", "cluster.inter_node.nics_per_node=2", "cluster.intra_node.latency=3 us",
                 "cluster.host_link.efficiency=0.5"):  # fmt: skip  # a link left to its preset: one field changed
        yield _set_case(kind, item, command="check", expect_error=False)


def unknown_nested() -> Iterator[Case]:
    """Unknown keys at every depth, through ``--set`` and in the file: each named, with what is known."""
    kind = "unknown nested fields"
    for item, names in (
        ("cluster.topology.foo=1", "cluster.topology.foo"), ("cluster.device.foo=1", "cluster.device.foo"),
        ("cluster.inter_node.foo=1", "cluster.inter_node.foo"), ("cluster.host_link.foo=1", "cluster.host_link.foo"),
        ("variability.stragglers=[{worker: 1, slowdown: 2, foo: 3}]", "variability.stragglers.0.foo"),
        ("variability.degraded_links=[{node: 0, factor: 0.5, foo: 1}]", "variability.degraded_links.0.foo"),
        ("reliability.foo=1", "reliability.foo"), ("simulation.foo=1", "simulation.foo"),
        ("calibration={profile: p.yaml, foo: 1}", "calibration.foo"), ("model.lauers=1", "did you mean 'layers'"),
        ("training.zero_stgae=1", "did you mean 'zero_stage'"), ("communication.foo=1", "communication.foo"),
        ("cluster.intra_node={preset: nvlink3, foo: 1}", "cluster.intra_node.foo"),
        ("cluster.device={peak_flops: 1 TFLOP/s, memory: 1 GB, foo: 1}", "cluster.device.foo"),
        ("cluster.topology={kind: fat-tree, leafs: 2}", "cluster.topology.leafs"),
    ):  # fmt: skip
        yield _set_case(kind, item, command="check", expect_error=True, names=names)
    for line, names in (
        ("variability: {stragglers: [{worker: 1, slowdown: 2, foo: 3}]}", "variability.stragglers.0.foo"),
        ("reliability: {node_mtbf: 1 h, foo: {bar: {baz: 1}}}", "reliability.foo"),
        ("simulation: {steps: 1, fidelty: fast}", "did you mean 'fidelity'"),
    ):
        yield _file_case(kind, _with(line), command="check", expect_error=True, names=names)


def nccl_lists() -> Iterator[Case]:
    """``communication.nccl_algo`` / ``nccl_proto`` as NCCL spells them (any case, comma lists) and as it does not."""
    kind = "NCCL_ALGO / NCCL_PROTO spellings"
    for field_, good, bad in (
        ("nccl_algo", ("Ring,Tree", "RING", "' ring , tree '", "[ring, tree]", "ring,ring", "NVLSTree", "null"),
         ("''", "','", "'^ring'", "'ring;tree'", "'Ring Tree'", "collnet", "rin", "'ring\u200b'", "'\u0130ring'",
          "[ring, [tree]]", "'{a: 1}'", "1", "true", "[]", "[null]", "[1]", "'" + "ring," * 5000 + "x'")),
        ("nccl_proto", ("Simple", "LL128,Simple", "ll", "'simple ,LL'", "[LL, LL]", "'LL,'", "null"),
         ("''", "'^LL'", "LL129", "'simple;ll'", "[[LL]]", "0", "false", "[]", "'s\u0131mple'")),
    ):  # fmt: skip
        path = f"communication.{field_}"
        for value in good:
            yield _set_case(kind, f"{path}={value}", command="check", expect_error=False)
        for value in bad:
            yield _set_case(kind, f"{path}={value}", command="check", expect_error=True, names=path)
    # the tuner confined to what the cluster cannot run: NVLS on A100 nodes (no NVLink SHARP), CollNet-free lists
    for sets, error, names in (
        (("communication.nccl_algo=nvls",), True, "nccl_algo"),
        (("communication.nccl_algo=nvls-tree",), True, "nccl_algo"),
        (("communication.nccl_algo=tree", "communication.nccl_proto=LL"), False, ""),
        (("communication.nccl_proto=LL", "communication.protocol=LL128"), False, ""),  # a named protocol runs as named
        (("communication.nccl_algo=ring", "cluster.device=cpu"), False, ""),  # gloo: NCCL's lists do not apply
    ):
        for command, extra in (("run", ()), ("run", ("--engine", "sim")), ("collective", ("--size", "1MiB"))):
            yield _set_case(kind, *sets, command=command, extra=extra, expect_error=error, names=names)


def framework_switches() -> Iterator[Case]:
    """Fields that pick a framework's mechanism: the gradient accumulation pass, ZeRO-1's all-reduce, MLP biases."""
    kind = "accumulation pass / zero1 / mlp bias"
    ga, z1, mlp = "training.gradient_accumulation_pass", "training.zero1_gradient_allreduce", "model.mlp_fused_bias"
    for value, error in (("none", False), ("autograd", False), ("FP32_copy", True), ("fp32-copy", True),
                         ("''", True), ("1", True), ("true", True), ("[none]", True), ("null", True),
                         ("'{a: 1}'", True)):  # fmt: skip
        yield _set_case(kind, f"{ga}={value}", command="check", expect_error=error, names=ga)
    for sets, error in (
        ((f"{ga}=fp32_copy",), True), ((f"{ga}=fp32_copy", "training.precision=fp16"), True),
        ((f"{ga}=fp32_copy", "training.precision=fp32"), True),
        ((f"{ga}=fp32_copy", "training.zero_stage=1"), False),
        ((f"{ga}=fsdp_flat",), True), ((f"{ga}=fsdp_flat", "training.zero_stage=3"), True),
        ((f"{ga}=fsdp_flat", "training.zero_stage=3", "training.optimizer_sharding=fsdp"), False),
        ((f"{ga}=fsdp_flat", "training.zero_stage=2", "training.optimizer_sharding=fsdp"), False),
        ((f"{ga}=fsdp_flat", "training.zero_stage=3", "training.optimizer_sharding=fsdp",
          "training.fsdp_no_sync=true"), True),
        ((f"{ga}=fsdp2",), True), ((f"{ga}=fsdp2", "training.zero_stage=3"), True),
        ((f"{ga}=fsdp2", "training.zero_stage=2"), True),
        ((f"{ga}=fsdp2", "training.zero_stage=3", "training.optimizer_sharding=fsdp"), False),
        ((f"{ga}=fsdp2", "training.zero_stage=2", "training.optimizer_sharding=fsdp",
          "training.fsdp_no_sync=true"), False),
    ):  # fmt: skip
        yield _set_case(kind, *sets, expect_error=error, names=ga)
    for value in ("yes", "'true'", "1", "2", "null", "[true]", "'on'"):
        yield _set_case(kind, f"{z1}={value}", command="check", expect_error=True, names=z1)
    for sets, error in (
        ((f"{z1}=true",), True), ((f"{z1}=true", "training.zero_stage=1"), False),
        ((f"{z1}=true", "training.zero_stage=2"), True),
        ((f"{z1}=true", "training.zero_stage=1", "training.optimizer_sharding=megatron"), True),
        ((f"{z1}=true", "training.zero_stage=3", "training.optimizer_sharding=fsdp"), True),
        ((f"{z1}=false", "training.zero_stage=3"), False),
    ):  # fmt: skip
        yield _set_case(kind, *sets, expect_error=error, names=z1)
    for value in ("no", "'false'", "0", "1", "[]"):
        yield _set_case(kind, f"{mlp}={value}", command="check", expect_error=True, names=mlp)
    yield _set_case(kind, f"{mlp}=null", command="check", expect_error=False)  # unset: its default
    yield _set_case(kind, f"{mlp}=false", expect_error=False)
    # a CNN has no transformer MLP: ignored like the other transformer fields (heads, seq_len) are
    yield _set_case(kind, "model=resnet-50", f"{mlp}=false", expect_error=False)
    # gpt-neox's kernels: bias_dropout_fusion, norm_kernel, rotary_fraction (with rope_kernels)
    bdf, norm, rot = "model.bias_dropout_fusion", "model.norm_kernel", "model.rotary_fraction"
    for value in ("no", "'false'", "0", "[]"):
        yield _set_case(kind, f"{bdf}={value}", command="check", expect_error=True, names=bdf)
    yield _set_case(kind, f"{bdf}=false", expect_error=False)
    for value in ("apex", "TORCH_TWO_PASS", "''", "1", "[fused]", "null"):
        yield _set_case(kind, f"{norm}={value}", command="check", expect_error=value != "null", names=norm)
    yield _set_case(kind, f"{norm}=torch_two_pass", expect_error=False)
    yield _set_case(kind, f"{norm}=torch_two_pass", "model.elementwise=eager", expect_error=True, names=norm)
    for value in ("0", "-0.25", "1.5", ".nan", ".inf", "'a quarter'", "[0.25]"):
        sets = (f"{rot}={value}", "model.rope_kernels=rotate_half")
        yield _set_case(kind, *sets, command="check", expect_error=True, names=rot)
    yield _set_case(kind, f"{rot}=0.25", expect_error=True, names=rot)  # no rope kernels to price on a share
    yield _set_case(kind, f"{rot}=0.25", "model.rope_kernels=rotate_half", expect_error=False)
    # the newest: how TP's collectives are overlapped, metaseq's q/k/v copies
    kind_, qkv, tp = (
        "training.tp_overlap_kind",
        "model.attention_qkv_copies",
        ("training.tensor_parallel=2", "training.sequence_parallel=true"),
    )
    for value in ("torch-async-tp", "TORCH_ASYNC_TP", "''", "1", "true", "[userbuffers]", "null"):
        yield _set_case(kind, f"{kind_}={value}", *tp, "training.tp_comm_overlap=true", command="check",
                        expect_error=value != "null", names=kind_)  # fmt: skip
    yield _set_case(kind, f"{kind_}=torch_async_tp", *tp, "training.tp_comm_overlap=true", expect_error=False)
    yield _set_case(kind, f"{kind_}=torch_async_tp", *tp, expect_error=True, names=kind_)
    sp_kind = "training.sequence_parallel_kind"  # which implementation runs it: needs sequence parallelism
    for value in ("DTensor", "'dtensor '", "1", "true", "[dtensor]", "null"):
        yield _set_case(kind, f"{sp_kind}={value}", *tp, command="check", expect_error=value != "null", names=sp_kind)
    yield _set_case(kind, f"{sp_kind}=dtensor", *tp, expect_error=False)
    yield _set_case(kind, f"{sp_kind}=dtensor", "training.tensor_parallel=2", expect_error=True, names=sp_kind)
    pp_runtime = "training.pipeline_runtime"  # which code runs the pipeline stages (its buffers' memory)
    for value in ("Torch", "'torch '", "1", "true", "[torch]", "null"):
        yield _set_case(kind, f"{pp_runtime}={value}", command="check", expect_error=True, names=pp_runtime)
    yield _set_case(kind, f"{pp_runtime}=torch", expect_error=False)
    for value in ("yes", "'true'", "1", "[]", "{}"):
        yield _set_case(kind, f"{qkv}={value}", "model.attention=standard", command="check", expect_error=True,
                        names=qkv)  # fmt: skip
    yield _set_case(kind, f"{qkv}=true", "model.attention=standard", expect_error=False, finite=True)
    yield _set_case(kind, f"{qkv}=true", "model.attention=flash", expect_error=True, names=qkv)
    # Transformer Engine's plain te.Linear (llm-foundry's fc_type: te): FP8 only
    fp8l, fp8 = "model.fp8_linear", ("cluster.device=h100-sxm", "training.precision=fp8")
    for value in ("te-linear", "TE_LINEAR", "''", "1", "true", "[te_linear]"):
        yield _set_case(kind, f"{fp8l}={value}", *fp8, command="check", expect_error=True, names=fp8l)
    yield _set_case(kind, f"{fp8l}=te_linear", *fp8, expect_error=False)
    yield _set_case(kind, f"{fp8l}=te_linear", expect_error=True, names=fp8l)  # the default bf16


def deepspeed_buckets() -> Iterator[Case]:
    """DeepSpeed ZeRO's bucket and prefetch fields: element counts, not sizes; only where DeepSpeed runs."""
    kind = "DeepSpeed bucket fields"
    counts = ("deepspeed_reduce_bucket_size", "deepspeed_prefetch_bucket_size", "deepspeed_max_live_parameters",
              "deepspeed_max_reuse_distance")  # fmt: skip
    for name in counts:
        path = f"training.{name}"
        for value in ("-1", "1.5", "5e8", "'500 MB'", "500M", "true", ".nan", "10000000000001", "'1' ", "[1]"):
            yield _set_case(kind, "training.zero_stage=3", f"{path}={value}", command="check", expect_error=True,
                            names=path)  # fmt: skip
        yield _set_case(kind, "training.zero_stage=3", f"{path}=null", command="check", expect_error=False)
        yield _set_case(kind, "training.zero_stage=3", f"{path}=1000000", expect_error=False)
        for where in (("training.zero_stage=0",), ("training.zero_stage=3", "training.optimizer_sharding=fsdp")):
            yield _set_case(kind, *where, f"{path}=1000000", command="check", expect_error=True, names=path)
    path = "training.deepspeed_overlap_comm"
    for value in ("yes", "1", "'false'", "[]"):
        yield _set_case(kind, "training.zero_stage=2", f"{path}={value}", command="check", expect_error=True,
                        names=path)  # fmt: skip
    yield _set_case(kind, "training.zero_stage=0", f"{path}=true", command="check", expect_error=True, names=path)
    yield _set_case(kind, "training.zero_stage=3", "training.deepspeed_reduce_bucket_size=1", expect_error=False)
    yield _set_case(kind, "training.zero_stage=2", "training.deepspeed_reduce_bucket_size=1", command="sweep",
                    extra=("--vary", "training.micro_batch=1,2"), expect_error=False)  # fmt: skip


_HOST_DAMAGE = (
    (r"^(  )cores: .*$", r"\1cores: 0", "host_model.cores"),
    (r"^(  )cores: .*$", r"\1cores: .nan", "host_model.cores"),
    (r"^(  )cores: .*$", r"\1cores: '2'", "host_model.cores"),
    (r"^(  )cores: .*$", r"\1cores: [2]", "host_model.cores"),
    (r"^(  )cores: .*$", r"\1colour: 2", "host_model"),  # cores missing, an unknown key instead
    (r"^(  )efficiency_loss: .*$", r"\1efficiency_loss: -0.1", "host_model.efficiency_loss"),
    (r"^(  )efficiency_loss: .*$", r"\1efficiency_loss: true", "host_model.efficiency_loss"),
    (r"^(  )shared_by: .*$", r"\1shared_by: rack", "host_model.shared_by"),
    (r"^(  )shared_by: .*$", r"\1shared_by: [job]", "host_model.shared_by"),
    (r"^(  )comm_cpu_per_byte: .*$", r"\1comm_cpu_per_byte: 16", "host_model.comm_cpu_per_byte"),
    (r"^(  )comm_cpu_per_byte: .*$", r"\1comm_cpu_per_byte: -1 ns", "host_model.comm_cpu_per_byte"),
    (r"^(  )comm_cpu_per_byte: .*$", r"\1comm_cpu_per_byte: 1e-400 s", "host_model.comm_cpu_per_byte"),
    (r"^(  )residual: 0.25.*$", r"\1residual: -1", "host_model.residual"),
    (r"^(  )memory_streams: .*$", r"\1memory_streams: 0.5", "host_model.memory_streams"),
    (r"^(  )memory_streams: .*$", r"\1memory_streams: .inf", "host_model.memory_streams"),
    (r"^(    )1: 1.0$", r"\g<1>0: 1.0", "host_model.measured_slowdown"),
    (r"^(    )1: 1.0$", r"\g<1>1: -1.0", "host_model.measured_slowdown"),
    (r"^(    )1: 1.0$", r"\g<1>one: 1.0", "host_model.measured_slowdown"),
    (r"^(    )2: 0.80.*$", r"\g<1>2: [1]", "host_model.measured_slowdown"),
    (r"^(  )measured_slowdown:$", r"\1measured_slowdown: 5\n  ignored:", "host_model"),
    (r"^(  )optimizer_slowdown:$", r"\1optimizer_slowdown: [1, 2]\n  ignored:", "host_model"),
    (r"^(  )optimizer_residual: .*$", r"\1optimizer_residual: .nan", "host_model.optimizer_residual"),
    (r"^host_model:$", "host_model: 2.0\nignored:", "host_model"),
    (r"^(  )memory_streams: .*$", r"\1page_fault: 1 kB", "host_model.page_fault"),
    (r"^(  )memory_streams: .*$", r"\1comm_cpu_per_byte_by_rate: [[1 Gbit/s, 1 ns], [1 Mbit/s, 2 ns]]",
     "host_model.comm_cpu_per_byte_by_rate"),
    (r"^(  )memory_streams: .*$", r"\1comm_cpu_per_byte_by_rate: [[1 Gbit/s]]", "host_model.comm_cpu_per_byte_by_rate"),
    (r"^(  )memory_streams: .*$", r"\1comm_cpu_per_byte_by_rate: 5", "host_model.comm_cpu_per_byte_by_rate"),
    *((r"^(  )memory_streams: .*$", rf"\g<0>\n\1comm_efficiency_loss: {value}",
       "too small for a float" if value == "1e-400" else "host_model.comm_efficiency_loss")
      for value in ("-0.1", ".nan", "-.inf", "true", "'0.01'", "[0.01]", "{a: 1}", "1e400", "1e-400", "101", "0.01 s")),
)  # fmt: skip
"""(regex, replacement, what the error must name): the committed profile's host_model damaged one way each."""


def host_models() -> Iterator[Case]:
    """Profiles whose ``host_model`` (how co-located ranks share the host) is damaged, given to run and validate."""
    kind = "profiles with a damaged host_model"
    for pattern, replacement, names in _HOST_DAMAGE:
        files = {"p.yaml": damaged_profile(pattern, replacement).encode()}
        at = ("--set", "calibration.profile={tmp}/p.yaml")
        for argv, outputs in (
            (["run", str(CPU_SCENARIO), *at, "--engine", "sim"], ()),
            (["validate", str(CPU_SCENARIO), "--profile", "{tmp}/p.yaml", "--set", "communication.algorithm=ring",
              "--case", "training.micro_batch=2", "--out-dir", "{tmp}/v"], ("{tmp}/v",)),
        ):  # fmt: skip
            yield Case(kind, argv, files, expect_error=True, names=names, outputs=outputs)


def collective_ranges() -> Iterator[Case]:
    """``collective --sizes A..B`` ranges: reversed, empty, zero, open-ended, chained, signed, NaN."""
    kind = "collective --sizes ranges"
    for sizes, error in (
        ("8B..8B", False), ("1MiB..1.5MiB", False), ("3B..17B", False), ("1 MiB .. 4 MiB", False),
        ("16GiB..8B", True), ("4MiB..1MiB", True), ("0B..1MiB", True), ("1MiB..0B", True), ("0B..0B", True),
        ("..1MiB", True), ("1MiB..", True), ("..", True), ("1MiB..2MiB..4MiB", True), ("-1B..4B", True),
        ("1B..-4B", True), ("nanB..1MiB", True), ("1MiB..infB", True), ("1e-400B..1MiB", True),
        ("1MiB..1e400B", True), ("1B..1e21B", True), ("1MiB...2MiB", True), ("1MiB..2", True), ("1..2MiB", True),
        ("1MiB..2MiB,1MiB..2MiB", True), ("1MiB..2MiB,", True),
    ):  # fmt: skip
        for extra in ((), ("--engine", "sim"), ("--op", "all_gather")):
            yield Case(kind, ["collective", "--sizes", sizes, "--format", "csv", *extra], expect_error=error,
                       names="--sizes" if error else "")  # fmt: skip


_PLAN = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "64", "--no-progress", "--simulate", "0"]


def plan_lists() -> Iterator[Case]:
    """``plan``'s lists and bounds: empty or repeated entries, non-ASCII digits, int64 overflow, ``--top`` bombs."""
    kind = "plan lists: empty / repeated / int64"
    for extra, names in (
        (("--tp", "1,,2"), "--tp"), (("--tp", "1,1"), "--tp"), (("--tp", "01,1"), "--tp"), (("--tp", "\u0661"), "--tp"),
        (("--pp", "2,"), "--pp"), (("--zero", "0,0"), "--zero"), (("--micro-batch", "1" + "0" * 29), "--micro-batch"),
        (("--recompute", "none,none"), "--recompute"), (("--recompute", "none,"), "--recompute"),
        (("--algorithm", "ring,,hierarchical"), "--algorithm"), (("--device", "a100-80gb", "--device", "A100-80GB"),
        "--device"), (("--price", "\u0661"), "--price"), (("--price", "1e-400"), "--price"), (("--price", "0x10"),
        "--price"), (("--currency", ""), "--currency"), (("--currency", " "), "--currency"),
        (("--global-batch", "1" + "0" * 29), "--global-batch"), (("--global-batch", str(2**53)), "--global-batch"),
        (("--workers-per-node", "1000000"), "--workers-per-node"), (("--top", "1000000000000"), "--top"),
        (("--top", "501"), "--top"), (("--max-devices", str(2**62), "--micro-batch", str(2**40)), "--micro-batch"),
    ):  # fmt: skip
        yield Case(kind, _plan_with(extra), expect_error=True, names=names)
    for extra in (("--top", "500"), ("--price", "0"), ("--max-devices", str(2**62)), ("--tp", "1,2", "--pp", "1,2")):
        yield Case(kind, _plan_with(extra), finite=True)


def _plan_with(extra: tuple[str, ...]) -> list[str]:
    """:data:`_PLAN` and ``extra``; an option of ``_PLAN`` that ``extra`` gives is left out (not given twice)."""
    base = list(_PLAN)
    for option in set(extra) & set(base):
        i = base.index(option)
        del base[i : i + 2]
    return [*base, *extra]


def report_shapes() -> Iterator[Case]:
    """``dpsim report`` inputs that are valid JSON or CSV but not a result the page can be drawn from."""
    kind = "report: valid JSON / CSV, not a result"
    sweep_header = b"step_time_s,world_size,samples_per_s,scaling_efficiency\n"
    for name, data, names in (
        ("text.json", b'{"step_time_s": "x", "engine": "analytic"}', "step_time_s"),
        ("negative.json", b'{"step_time_s": -1, "engine": "analytic"}', "step_time_s"),
        ("inf.json", b'{"step_time_s": 1e999, "engine": "analytic"}', "step_time_s"),
        ("bool.json", b'{"step_time_s": 1, "world_size": true, "engine": "analytic"}', "world_size"),
        ("events.json", b'{"traceEvents": 5}', "traceEvents"),
        ("no_spans.json", b'{"traceEvents": [1, 2]}', "traceEvents"),
        ("no_pid.json", b'{"traceEvents": [{"ph": "X", "ts": 1, "dur": 1e300}]}', "traceEvents"),
        ("list_pid.json", b'{"traceEvents": [{"ph": "X", "pid": [1], "ts": 1, "dur": 1}]}', "traceEvents"),
        ("ranked.json", b'{"ranked": 5}', "ranked"), ("ranked_int.json", b'{"ranked": [1]}', "ranked.0"),
        ("ranked_text.json", b'{"ranked": [{"step_time_s": "fast"}]}', "ranked.0.step_time_s"),
        ("searched.json", b'{"ranked": [], "searched": "lots"}', "searched"),
        ("notes.json", b'{"ranked": [], "notes": [1]}', "notes"),
        ("columns.json", b'[{"scenario": "x", "engine": "analytic", "step_time_s": 1, "world_size": "a"}]', "column"),
        ("columns.csv", b"step_time_s\nabc\n", "column"), ("rows.csv", sweep_header, "rows"),
        ("bool.csv", sweep_header + b"1,2,3,True\n", "scaling_efficiency"),
        ("inf.csv", sweep_header + b"1,2,3,inf\n", "scaling_efficiency"),
        ("zero.csv", b"measured_step_time_s,predicted_step_time_s\n0,0\n", "measured_step_time_s"),
        ("text.csv", b"measured_step_time_s,predicted_step_time_s\n1,x\n", "predicted_step_time_s"),
        ("numbers.jsonl", b"1\n2\n", ":1"), ("empty.jsonl", b"", "no records"),
    ):  # fmt: skip
        yield Case(kind, ["report", f"{{tmp}}/{name}", "-o", "{tmp}/r.html"], {name: data}, expect_error=True,
                   names=names, outputs=("{tmp}/r.html",))  # fmt: skip
    for name, data in (
        ("minimal.json", b'{"scenario": "x", "engine": "sim", "step_time_s": 0}'),  # no bar: no legend, no warning
        ("zeros.csv", sweep_header + b"0,1,0,0\n"),
        ("meta.json", b'{"traceEvents": [{"ph": "M", "name": "process_name", "pid": 1, "args": 5}, '
                      b'{"ph": "X", "pid": 1, "ts": 1, "dur": 1}], "otherData": [1]}'),
        ("many.csv", sweep_header.rstrip(b"\n") + b",variability.seed\n"
         + b"".join(b"0.1,4,100,0.9,%d\n" % i for i in range(100_000))),  # 100,000 series: minutes to draw
    ):  # fmt: skip
        yield Case(kind, ["report", f"{{tmp}}/{name}", "-o", "{tmp}/r.html"], {name: data})
    run = b'{"scenario": "x", "engine": "analytic", "step_time_s": 1, "compute_s": 0.5}'
    yield Case(kind, ["report", *["{tmp}/run.json"] * 101, "-o", "{tmp}/r.html"], {"run.json": run},
               expect_error=True, names="at most 100", outputs=("{tmp}/r.html",))  # fmt: skip  # 0.1 s each


def loader_work() -> Iterator[Case]:
    """Inputs whose checking itself was the work bomb: layers walked one by one, buckets listed, values parsed."""
    kind = "loader work: layers / buckets / --vary"
    for sets, names in (
        (("model.layers=100001",), "model.layers"),
        (("model.layers=100000000", "training.zero_stage=3"), "model.layers"),
        (("model={kind: mlp, layers: 1000000, parameters: 1e6, flops_per_sample: 1e6}",), "model.layers"),
    ):  # fmt: skip
        yield _set_case(kind, *sets, command="check", expect_error=True, names=names)
    # a 1-byte bucket of GPT-2 small is 248,879,616 buckets: the guard listed them (2 GB, 33 s) before refusing
    yield _set_case(kind, "communication.bucket='1 B'", extra=("--engine", "sim"), expect_error=True, names="bucket")
    # DeepSpeed ZeRO-3's trace walk copied the trace's tail per unit: 100,000 layers took hours
    for engine in ("analytic", "sim"):
        yield _set_case(kind, "model.layers=100000", "training.zero_stage=3", extra=("--engine", engine, "--format",
                        "json"), expect_error=False, finite=True)  # fmt: skip
    many = ",".join(str(i) for i in range(1, 1_000_001))
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", f"variability.seed={many}"], {"s.yaml": SMALL.encode()},
               expect_error=True, names="--yes")  # fmt: skip  # counted before a million values are read as YAML
    thousand = ",".join(str(i) for i in range(1, 1001))
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", f"variability.seed={thousand}", "--vary",
                      f"training.learning_rate={thousand}", "--vary", "training.micro_batch=1,2", "--yes"],
               {"s.yaml": SMALL.encode()}, expect_error=True, names="split")  # fmt: skip


def empty_and_repeated_options() -> Iterator[Case]:
    """Options given as empty text (read as their default) or with an entry twice; a collective over one rank."""
    kind = "empty / repeated option values"
    files = {"s.yaml": SMALL.encode()}
    for argv, names in (
        (["run", "{tmp}/s.yaml", "--engine", ""], "--engine"), (["collective", "--size", ""], "--size"),
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--ranks", "2,2"], "--ranks"),
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--ranks", "\u0662,3"], "--ranks"),
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--ranks", "2,3,"], "--ranks"),
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--sizes", "8KiB,8192B"], "--sizes"),
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--algorithms", "ring,ring"], "--algorithms"),
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--testbed", "emulated", "--rates",
          "1 Gbit/s,1 Gbit/s"], "--rates"),
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--link-class", "inter,inter"], "--link-class"),
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--compute", "--gemm-sizes", "256,256"],
         "--gemm-sizes"),
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--compute", "--dtype", ""], "--dtype"),
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--nccl-algo", "ring"], "--nccl-algo"),
        (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--base", "{tmp}/s.yaml"], "--base"),
        (["validate", "{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--out-dir", "{tmp}/v",
          "--case", "training.micro_batch=2", "--case", "training.micro_batch=2"], "--case"),
        (["validate", "{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--out-dir", "{tmp}/v",
          "--calibrate-ranks", "2,2"], "--calibrate-ranks"),
        (["validate", "{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--out-dir", "{tmp}/v",
          "--engine", "analytic,analytic"], "--engine"),
    ):  # fmt: skip  # each accepted one measured for minutes on the local testbed
        yield Case(kind, argv, files, expect_error=True, names=names, outputs=("{tmp}/p.yaml", "{tmp}/v"))
    one = ("--set", "cluster.nodes=1", "--set", "cluster.workers_per_node=1")
    for extra in ((), ("--format", "csv"), ("--format", "json"), ("--engine", "sim")):  # algbw printed "inf"
        yield Case(kind, ["collective", *one, "--size", "1 TB", *extra], finite=True)


_PLAN_BASE = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--no-progress"]
_CALIBRATE = ["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml"]
_VALIDATE = ["validate", "{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--case", "training.micro_batch=2",
             "--out-dir", "{tmp}/v"]  # fmt: skip
_NUMBER_OPTIONS = (
    (["run", "{tmp}/s.yaml"], "--workers", "int"),
    (["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2", "--out", "{tmp}/o.csv"], "--workers", "int"),
    ([*_PLAN_BASE, "--simulate", "0"], "--max-devices", "int"),
    ([*_PLAN_BASE, "--simulate", "0", "--max-devices", "64"], "--min-devices", "int"),
    ([*_PLAN_BASE, "--simulate", "0", "--max-devices", "64"], "--workers-per-node", "int"),
    ([*_PLAN_BASE, "--simulate", "0", "--max-devices", "64"], "--global-batch", "int"),
    ([*_PLAN_BASE, "--simulate", "0", "--max-devices", "64"], "--top", "int"),
    ([*_PLAN_BASE, "--max-devices", "64"], "--simulate", "int"),
    (_CALIBRATE, "--reps", "int"), (_VALIDATE, "--repeats", "int"), (_VALIDATE, "--steps", "int"),
    (_VALIDATE, "--warmup-steps", "int"), (_CALIBRATE, "--max-residual", "float"), (_VALIDATE, "--timeout", "float"),
)  # fmt: skip
"""Every option typer reads as a number: (command line, option, int or float)."""
_ODD_WHOLE = ("\uff18", "\u0668", "1_0", " 8", "8 ", "8.0", "0x10", "0o10", "1e1", "8\u200b", "", "8,", "--")
_ODD_NUMBER = ("\uff12.5", "\u0662", "1_0.5", " 2", "0x1p3", "2,5", "", "1e", "2.5.1", ".")


def option_numbers() -> Iterator[Case]:
    """Numbers in options as Python's ``int``/``float`` read them and the scenario's YAML does not: full-width and
    Arabic-Indic digits, ``1_0``, spaces, ``8.0`` for a whole number, hex; each refused before any work."""
    kind = "option numbers: digits / 1_0 / 8.0"
    for argv, option, number in _NUMBER_OPTIONS:
        for value in _ODD_WHOLE if number == "int" else _ODD_NUMBER:
            yield Case(kind, [*argv, option, value], {"s.yaml": SMALL.encode()}, expect_error=True, names=option,
                       outputs=("{tmp}/p.yaml", "{tmp}/v", "{tmp}/o.csv"))  # fmt: skip
    for value in ("8", "+8", "08"):
        yield Case(kind, [*_PLAN_BASE, "--simulate", "0", "--max-devices", value])
    yield Case(kind, ["run", "{tmp}/s.yaml", "--workers", "1", "--format", "csv"], {"s.yaml": SMALL.encode()})


_TWICE = (
    (["run", "{tmp}/s.yaml"], "--format", "json", "csv"), (["run", "{tmp}/s.yaml"], "--engine", "analytic", "sim"),
    (["run", "{tmp}/s.yaml", "--engine", "sim"], "--trace", "{tmp}/a.json", "{tmp}/b.json"),
    (["run", "{tmp}/s.yaml", "--engine", "sim"], "--gantt", "{tmp}/a.png", "{tmp}/b.png"),
    (["run", "{tmp}/s.yaml"], "--workers", "1", "2"),
    (["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric"], "--placement", "packed", "interleaved"),
    (["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2"], "--out", "{tmp}/a.csv", "{tmp}/b.csv"),
    (["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2"], "--plot", "{tmp}/a.png", "{tmp}/b.png"),
    (["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2"], "--format", "csv", "json"),
    (["check", "{tmp}/s.yaml"], "--format", "json", "table"), (["catalog"], "--format", "csv", "json"),
    (["report", "{tmp}/s.yaml"], "-o", "{tmp}/a.html", "{tmp}/b.html"),
    (["report", "{tmp}/s.yaml", "-o", "{tmp}/a.html"], "--title", "a", "b"),
    (_CALIBRATE, "--ranks", "2", "3"), (_CALIBRATE, "--sizes", "1MiB", "2MiB"), (_CALIBRATE, "--reps", "3", "5"),
    (_CALIBRATE, "--testbed", "local", "emulated"), (_CALIBRATE, "--dtype", "fp32", "bf16"),
    (["calibrate", "--from-nccl-tests", str(NCCL_TESTS)], "--out", "{tmp}/a.yaml", "{tmp}/b.yaml"),
    (_VALIDATE, "--steps", "2", "3"), (_VALIDATE, "--timeout", "30", "60"), (_VALIDATE, "--engine", "analytic", "sim"),
    (_VALIDATE[:-2], "--out-dir", "{tmp}/v", "{tmp}/w"), (_VALIDATE, "--testbed", "local", "emulated"),
    ([*_PLAN_BASE, "--max-devices", "8"], "--model", "gpt2-xl", "gpt2-small"),
    ([*_PLAN_BASE, "--simulate", "0"], "--max-devices", "8", "16"), (_PLAN_BASE, "--simulate", "0", "1"),
    ([*_PLAN_BASE, "--simulate", "0", "--max-devices", "8"], "--tp", "1", "2"),
    ([*_PLAN_BASE, "--simulate", "0", "--max-devices", "8"], "--objective", "time", "cost"),
    ([*_PLAN_BASE, "--simulate", "0", "--max-devices", "8"], "--out", "{tmp}/a.csv", "{tmp}/b.csv"),
    ([*_PLAN_BASE, "--simulate", "0", "--max-devices", "8"], "--currency", "EUR", "USD"),
    (["collective"], "--op", "allreduce", "broadcast"), (["collective"], "--size", "1MiB", "2MiB"),
    (["collective"], "--engine", "analytic", "sim"), (["collective"], "--plot", "{tmp}/a.png", "{tmp}/b.png"),
)  # fmt: skip
"""(command line, option, first value, second value): a single-valued option given twice, differently."""


def options_twice() -> Iterator[Case]:
    """A single-valued option given twice with different values (the last one won unseen: ``--out a.csv --out
    b.csv`` wrote only b.csv), a flag and its negation; the same value twice is harmless."""
    kind = "options twice / conflicting"
    files = {"s.yaml": SMALL.encode()}
    outputs = (*(f"{{tmp}}/{n}.{x}" for n in "ab" for x in ("csv", "png", "json", "html", "yaml")), "{tmp}/p.yaml",
               "{tmp}/v", "{tmp}/w")  # fmt: skip
    for argv, option, first, second in _TWICE:
        yield Case(kind, [*argv, option, first, option, second], files, expect_error=True, names=option,
                   outputs=outputs)  # fmt: skip
    yield Case(kind, ["report", "{tmp}/s.yaml", "-o", "{tmp}/a.html", "--output", "{tmp}/b.html"], files,
               expect_error=True, names="-o", outputs=outputs)  # fmt: skip  # one option, two spellings
    yield Case(kind, ["run", "{tmp}/s.yaml", "--format=json", "--format", "csv"], files, expect_error=True,
               names="--format")  # fmt: skip
    yield Case(kind, [*_PLAN_BASE, "--simulate", "0", "--max-devices", "8", "--progress", "--no-progress"],
               expect_error=True, names="--progress")  # fmt: skip
    for argv in (["run", "{tmp}/s.yaml", "--format", "json", "--format", "json"], ["catalog", "--format", "csv",
                 "--format=csv"], [*_PLAN_BASE, "--simulate", "0", "--max-devices", "8", "--no-progress"],
                 ["run", "{tmp}/s.yaml", "--set", "cluster.nodes=2", "--set", "cluster.nodes=4",
                  "--set", "training.global_batch=auto"]):  # fmt: skip  # --set is a list: the last one wins
        yield Case(kind, argv, files)


_RUNTIME_SCENARIO = str(CPU_SCENARIO)


def runtime_refusals() -> Iterator[Case]:
    """``python -m runtime``: options out of range, numbers Python reads and YAML does not, outputs that cannot be
    written, a backend or failing rank that does not exist: one line before a rank starts, nothing written."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # the runtime is an extra (dpsim[runtime])
        return
    kind = "python -m runtime: refused before a rank"
    files = {"s.yaml": SMALL.encode(), "f/x": b"<dir>", "file": b"x"}
    outputs = ("{tmp}/out.jsonl", "{tmp}/run", "{tmp}/t.json")
    at = _RUNTIME_SCENARIO
    for extra, names in (
        (("--steps", "0"), "--steps"), (("--steps", "1000000000000"), "--steps"), (("--steps", "-1"), "--steps"),
        (("--steps", "\uff11"), "--steps"), (("--steps", "1_0"), "--steps"), (("--steps", "2.0"), "--steps"),
        (("--warmup-steps", "-1"), "--warmup-steps"), (("--warmup-steps", "1000000000000"), "--warmup-steps"),
        (("--timeout", "nan"), "--timeout"), (("--timeout", "inf"), "--timeout"), (("--timeout", "0"), "--timeout"),
        (("--timeout", "-1"), "--timeout"), (("--timeout", "1e400"), "--timeout"), (("--seed", "-1"), "--seed"),
        (("--seed", "1" + "0" * 30), "--seed"), (("--seed", "\u0661"), "--seed"),
        (("--out", "/proc/out.jsonl"), "--out"), (("--out", "{tmp}/nodir/out.jsonl"), "--out"), (("--out", "{tmp}"),
        "--out"), (("--out", at), "--out"), (("--run-dir", "{tmp}/file"), "--run-dir"),
        (("--run-dir", "{tmp}/file/run"), "--run-dir"), (("--run-dir", "/proc/run"), "--run-dir"),
        (("--trace", "{tmp}/nodir/t.json"), "--trace"), (("--backend", "x"), "--backend"),
        (("--backend", "nccl"), "--backend"), (("--fail-rank", "99"), "--fail-rank"), (("--nosuch",), "--nosuch"),
        (("--testbed", "moon"), "--testbed"), (("--device", "cuda"), "cuda"), (("--fail-mode", "x"), "fail_mode"),
        (("--set", "cluster.nodes=100000", "--set", "training.global_batch=auto"), "cluster"),
    ):  # fmt: skip
        yield Case(kind, [at, "--run-dir", "{tmp}/run", *extra] if "--run-dir" not in extra else [at, *extra],
                   files, expect_error=True, names=names, outputs=outputs, program="runtime")  # fmt: skip
    for env, names in (({"RANK": "nan", "WORLD_SIZE": "2"}, "RANK"), ({"RANK": "0"}, "WORLD_SIZE"),
                       ({"RANK": "3", "WORLD_SIZE": "2"}, "RANK")):  # fmt: skip
        yield Case(kind, [at, "--out", "{tmp}/out.jsonl"], files, env=env, expect_error=True, names=names,
                   outputs=outputs, program="runtime")  # fmt: skip
    yield Case(kind, ["/dev/zero"], expect_error=True, program="runtime")
    yield Case(kind, ["{tmp}/s.yaml", "--set", "x=1"], files, expect_error=True, names="x", program="runtime")


def _report_number(digits: int) -> bytes:
    return b"1" + b"0" * (digits - 1)


def report_numbers() -> Iterator[Case]:
    """``dpsim report`` inputs whose numbers no float holds: integers of 31, 400 and 5,000 digits in JSON, JSON Lines
    and CSV (a 400-digit step time was an ``OverflowError`` traceback); 30 digits is a number like any other, in
    CSV as in JSON (pandas keeps it as a Python int: the CSV was refused as no column of numbers)."""
    kind = "report: integers past a float"
    header = b"step_time_s,world_size,samples_per_s,scaling_efficiency\n"
    for digits in (30, 31, 400, 5000):
        big = _report_number(digits)
        for name, data, names in (
            ("run.json", b'{"scenario": "x", "engine": "analytic", "step_time_s": ' + big + b"}", "digits"),
            ("plan.json", b'{"ranked": [{"step_time_s": ' + big + b', "world_size": 8}]}', "digits"),
            ("records.jsonl", b'{"scenario": "x", "step_time_s": ' + big + b"}\n", "digits"),
            ("trace.json", b'{"traceEvents": [{"ph": "X", "pid": 1, "tid": 1, "ts": 1, "dur": ' + big + b"}]}",
             "digits"),
            ("sweep.csv", header + big + b",2,3,0.5\n", "step_time_s"),
            ("validation.csv", b"measured_step_time_s,predicted_step_time_s\n1," + big + b"\n",
             "predicted_step_time_s"),
        ):  # fmt: skip
            error = digits > 30  # one rule for JSON and CSV: a 30-digit CSV cell was refused, the same in JSON read
            yield Case(kind, ["report", f"{{tmp}}/{name}", "-o", "{tmp}/r.html"], {name: data}, expect_error=error,
                       names=names if error else "", outputs=("{tmp}/r.html",) if error else (),
                       accept=not error and name != "trace.json")  # fmt: skip  # (a trace's times end at 1e15 µs)
    yield Case(kind, ["report", "{tmp}/run.json", "-o", "{tmp}/r.html"],
               {"run.json": b'{"scenario": "x", "engine": "analytic", "step_time_s": -' + _report_number(400) + b"}"},
               expect_error=True, names="digits", outputs=("{tmp}/r.html",))  # fmt: skip


def profile_paths() -> Iterator[Case]:
    """``calibration.profile`` naming no file: empty, blank, a folder, a device, a FIFO, the scenario itself, a file
    that is not there; refused by every command that reads a scenario (``check`` too), the field named."""
    kind = "calibration.profile paths"
    files = {"s.yaml": SMALL.encode(), "fifo": b"<fifo>", "d/x": b"<dir>"}
    for value, names in (("''", "calibration.profile"), ("' '", "calibration.profile"), ("", "calibration.profile"),
                         ("{tmp}/d", "calibration.profile"), ("/dev/stdin", "calibration.profile"),
                         ("{tmp}/fifo", "calibration.profile"), ("{tmp}/s.yaml", "s.yaml"),
                         ("{tmp}/missing.yaml", "calibration.profile"), ("~/missing.yaml", "calibration.profile"),
                         ("/dev/null", "calibration.profile")):  # fmt: skip
        for argv in (["check", "{tmp}/s.yaml"], ["run", "{tmp}/s.yaml"], ["collective", "{tmp}/s.yaml"],
                     ["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2", "--out", "{tmp}/o.csv"],
                     ["check", "{tmp}/s.yaml", "--format", "json"]):  # fmt: skip
            yield Case(kind, [*argv, "--set", f"calibration.profile={value}"], files, expect_error=True, names=names,
                       outputs=("{tmp}/o.csv", "{tmp}/o.csv.partial.jsonl"))  # fmt: skip
    yield Case(kind, ["check", str(CPU_SCENARIO), "--set", f"calibration.profile={PROFILE}"])


_JSON_EXTREMES = (
    ("cluster.inter_node.bandwidth='1 bit/s'", "cluster.intra_node.bandwidth='1 bit/s'"),
    ("cluster.inter_node.bandwidth='1 EB/s'", "cluster.intra_node.bandwidth='1 EB/s'"),
    ("cluster.nodes=1", "cluster.workers_per_node=1", "training.global_batch=2"),
    ("cluster.device.peak_flops='1 FLOP/s'",), ("cluster.device.peak_flops='1000000 PFLOP/s'",),
    ("cluster.inter_node.latency='9e9 s'",), ("cluster.inter_node.latency='1e-15 s'",),
    ("reliability={node_mtbf: 1e-15 s, restart: 9e9 s, checkpoint_write: 9e9 s}",),
    ("cluster.price_per_device_hour=1000000",), ("cluster.device.memory='1 B'",),
)  # fmt: skip
"""Valid scenarios at the ends of the physical ranges (a link of 1 bit/s, a node failing every femtosecond)."""


def json_extremes() -> Iterator[Case]:
    """``--format json`` of valid inputs at the ends of every range: one strict JSON document (no ``NaN`` or
    ``Infinity``, which Python's ``json`` writes and JSON parsers refuse), no ``inf``/``nan`` anywhere."""
    kind = "--format json at the ranges' ends"
    files = {"s.yaml": SMALL.encode()}
    for i, sets in enumerate(_JSON_EXTREMES):
        argv = ["run", "{tmp}/s.yaml", "--format", "json", "--engine", ("analytic", "sim")[i % 2]]
        for item in sets:
            argv += ["--set", item]
        yield Case(kind, argv, files, finite=True, strict_json=True)
    for argv in (
        ["collective", "--set", "cluster.nodes=1", "--set", "cluster.workers_per_node=1", "--format", "json"],
        ["collective", "--set", "cluster.inter_node.bandwidth='1 bit/s'", "--size", "1e21 B", "--format", "json"],
        ["check", "{tmp}/s.yaml", "--format", "json", "--set", "cluster.inter_node.bandwidth='1 bit/s'"],
        ["sweep", "{tmp}/s.yaml", "--format", "json", "--vary", "cluster.inter_node.bandwidth='1 bit/s','1 EB/s'"],
        ["plan", "--model", "gpt2-xl", "--tokens", "1", "--simulate", "0", "--max-devices", "8", "--format", "json"],
        [*_PLAN_BASE, "--simulate", "0", "--max-devices", "8", "--price", "1000000", "--node-mtbf", "10 s",
         "--format", "json"],  # 1e-15 s never trains: 'failures faster than a step'
        ["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric", "--format", "json", "--set",
         "cluster.inter_node.bandwidth='1 bit/s'"],
        ["catalog", "--format", "json"],
    ):  # fmt: skip
        yield Case(kind, argv, files, strict_json=True)


def set_list_indices() -> Iterator[Case]:
    """``--set`` paths through a list: past its end, negative, huge, non-ASCII, onto an item that is a mapping; each
    named with its index (past the end was "list index out of range", 10^20 "cannot fit 'int' into an index")."""
    kind = "--set into lists: indices"
    two = "variability.stragglers=[{worker: 1, slowdown: 2}, {worker: 2, slowdown: 3}]"
    links = "variability.degraded_links=[{node: 0, factor: 0.5}]"
    for sets, names in (
        ((two, "variability.stragglers.2.slowdown=3"), "variability.stragglers.2"),
        ((two, "variability.stragglers.-1.slowdown=3"), "variability.stragglers.-1"),
        ((two, "variability.stragglers.99999999999999999999.slowdown=3"), "variability.stragglers.9999"),
        ((two, "variability.stragglers.\u0661.slowdown=3"), "variability.stragglers"),
        ((two, "variability.stragglers.01x.slowdown=3"), "variability.stragglers.01x"),
        ((two, "variability.stragglers.0=5"), "variability.stragglers.0"),
        ((two, "variability.stragglers.0.foo=1"), "variability.stragglers.0.foo"),
        ((two, "variability.stragglers.1.slowdown=.nan"), "variability.stragglers.1.slowdown"),
        ((two, "variability.stragglers.5=[]"), "variability.stragglers.5"),
        ((links, "variability.degraded_links.1.factor=0.5"), "variability.degraded_links.1"),
        ((links, "variability.degraded_links.0.factor.x=1"), "variability.degraded_links.0.factor"),
        (("variability.stragglers=[]", "variability.stragglers.0.worker=1"), "variability.stragglers.0"),
    ):  # fmt: skip
        yield _set_case(kind, *sets, command="check", expect_error=True, names=names)
    for sets in ((two, "variability.stragglers.1.slowdown=4"), (links, "variability.degraded_links.0.factor=0.25"),
                 (two, "variability.stragglers.0={worker: 3, slowdown: 1.5}")):  # fmt: skip
        yield _set_case(kind, *sets, command="check", expect_error=False)
    one = _with("variability: {stragglers: [{worker: 1, slowdown: 2}]}")  # the list given in the file
    yield _file_case(kind, one, "--set", "variability.stragglers.1.slowdown=2", command="check",
                     names="variability.stragglers.1")  # fmt: skip


def outputs_onto_inputs() -> Iterator[Case]:
    """Files a command writes that are its own inputs, where the earlier checks did not look: a ``validate``
    scenario or profile inside ``--out-dir`` under a name validate writes (it measured for minutes, then replaced
    it), ``python -m runtime --out`` and ``--trace`` one file."""
    kind = "outputs onto inputs: validate / runtime"
    ring = ("--set", "communication.algorithm=ring", "--case", "training.micro_batch=2")
    for name in ("summary.json", "runs.jsonl", "records.jsonl", "calibration-bench.json"):
        files = {f"v/{name}": SMALL.encode()}
        yield Case(kind, ["validate", f"{{tmp}}/v/{name}", *ring, "--out-dir", "{tmp}/v"], files, expect_error=True,
                   names="--out-dir", outputs=("{tmp}/v/validation.csv",))  # fmt: skip
    for name in ("summary.json", "records.jsonl"):  # a profile there (calibration-bench.json: written only when
        files = {f"v/{name}": PROFILE.read_bytes()}  # validate calibrates, not with --profile)
        yield Case(kind, ["validate", str(CPU_SCENARIO), *ring, "--profile", f"{{tmp}}/v/{name}", "--out-dir",
                          "{tmp}/v"], files, expect_error=True, names="--out-dir",
                   outputs=("{tmp}/v/validation.csv",))  # fmt: skip
    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        for out, trace in (("{tmp}/x.jsonl", "{tmp}/x.jsonl"), ("{tmp}/x.jsonl", "{tmp}/./x.jsonl")):
            yield Case(kind, [str(CPU_SCENARIO), "--out", out, "--trace", trace, "--run-dir", "{tmp}/run"],
                       expect_error=True, names="--trace", outputs=("{tmp}/x.jsonl", "{tmp}/run"),
                       program="runtime")  # fmt: skip


def empty_profiles_and_tables_twice() -> Iterator[Case]:
    """A profile that measures nothing (``{}``, a name alone, empty sections: a run "calibrated" by it silently used
    the catalog) in every command that reads one, and one nccl-tests file fitted twice (its rows counted twice)."""
    kind = "empty profiles / one table twice"
    nccl = NCCL_TESTS.read_bytes()
    for data in (b"{}\n", b"name: x\n", b"name: x\nlinks: {}\ncompute: {}\nmeta: {a: 1}\n"):
        files = {"p.yaml": data, "all_reduce_perf.txt": nccl}
        for argv, outputs in (
            (["run", str(CPU_SCENARIO), "--set", "calibration.profile={tmp}/p.yaml"], ()),
            (["check", str(CPU_SCENARIO), "--set", "calibration.profile={tmp}/p.yaml"], ()),
            (["validate", str(CPU_SCENARIO), "--profile", "{tmp}/p.yaml", "--set", "communication.algorithm=ring",
              "--case", "training.micro_batch=2", "--out-dir", "{tmp}/v"], ("{tmp}/v",)),
            (["calibrate", "--base", "{tmp}/p.yaml", "--out", "{tmp}/o.yaml", "--from-nccl-tests",
              "{tmp}/all_reduce_perf.txt"], ("{tmp}/o.yaml",)),
        ):  # fmt: skip
            yield Case(kind, argv, files, expect_error=True, names="nothing measured", outputs=outputs)
    files = {"all_reduce_perf.txt": nccl}
    fit = ["calibrate", "--out", "{tmp}/o.yaml", "--from-nccl-tests", "{tmp}/all_reduce_perf.txt", "--from-nccl-tests"]
    for second, links in (("{tmp}/all_reduce_perf.txt", {}), ("{tmp}/./all_reduce_perf.txt", {}),
                          ("{tmp}/l.txt", {"l.txt": "{tmp}/all_reduce_perf.txt"})):  # fmt: skip
        yield Case(kind, [*fit, second], files, links=links, expect_error=True, names="--from-nccl-tests",
                   outputs=("{tmp}/o.yaml",))  # fmt: skip
    yield Case(kind, ["calibrate", "--out", "{tmp}/o.yaml", "--from-nccl-tests", "{tmp}/all_reduce_perf.txt"], files)


def whole_bytes() -> Iterator[Case]:
    """One rule for byte sizes everywhere: a whole number of bytes ('1.5 KiB' = 1536 B is one, '1.5B' is not)."""
    kind = "sizes in whole bytes"
    for path in ("communication.bucket", "communication.nccl_buffsize", "cluster.device.memory"):
        for value in ("1.5B", "0.3 KiB", "12 bit", "1.0000001 MB"):
            yield _set_case(kind, f"{path}={value}", names=path)
        # NCCL_BUFFSIZE from 4 KiB (its 512 B grain a step), below 2 GiB (an int)
        accepted = {"cluster.device.memory": ("79.5 GiB",), "communication.nccl_buffsize": ("4.5 KiB", "8 Gbit")}
        for value in accepted.get(path, ("1.5 KiB", "8 Gbit", "1.1 GB")):
            yield Case(
                kind, ["run", "{tmp}/s.yaml", "--set", f"{path}={value}"], {"s.yaml": SMALL.encode()}, accept=True
            )
    for value in ("1.5B", "0.3 KiB", "1MiB,1.5B", "1.5B..1KiB"):
        yield Case(kind, ["collective", "--sizes", value], expect_error=True, names="--sizes")
    yield Case(kind, ["collective", "--size", "1.5 KiB"], accept=True)
    yield Case(kind, ["calibrate", str(CPU_SCENARIO), "--out", "{tmp}/o.yaml", "--sizes", "1MiB,1.5B"],
               expect_error=True, names="--sizes", outputs=("{tmp}/o.yaml",))  # fmt: skip


_PLAN = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8", "--no-progress", "--simulate", "0"]


def _file_options() -> tuple[tuple[list[str], str, str], ...]:
    """Every option of a ``dpsim`` command that names a file it writes: (command line before it, option, suffix)."""
    sweep = ["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2"]
    return (
        (["run", "{tmp}/s.yaml", "--engine", "sim"], "--trace", "json"),
        (["run", "{tmp}/s.yaml", "--engine", "sim"], "--gantt", "png"),
        (sweep, "--out", "csv"), (sweep, "--plot", "png"), (_PLAN, "--out", "csv"), (_PLAN, "--all", "csv"),
        (_PLAN, "--plot", "png"), (["collective", "--sizes", "1MiB,2MiB"], "--plot", "png"),
        (["report", "{tmp}/s.yaml"], "-o", "html"), (["report", "{tmp}/s.yaml"], "--output", "html"),
        (["calibrate", "--from-nccl-tests", str(NCCL_TESTS)], "--out", "yaml"),
        (["calibrate", "--from-nccl-tests", str(NCCL_TESTS), "--out", "{tmp}/p.yaml"], "--records", "json"),
    )  # fmt: skip


def outputs_named_as_folders() -> Iterator[Case]:
    """Every file option written as a folder (``o.csv/``, ``o.csv/.``), naming an existing folder or under a missing
    one: one line before any work, nothing written (``pathlib`` drops the trailing separator: ``o.csv`` was written)."""
    kind = "outputs named as folders"
    files = {"s.yaml": SMALL.encode(), "d.csv/x": b"<dir>", "d.png/x": b"<dir>", "d.json/x": b"<dir>",
             "d.yaml/x": b"<dir>", "d.html/x": b"<dir>", "d.jsonl/x": b"<dir>"}  # fmt: skip
    for argv, option, suffix in _file_options():
        written = f"{{tmp}}/o.{suffix}"
        for value in (f"{written}/", f"{written}/.", f"{written}//", f"{{tmp}}/d.{suffix}", f"{{tmp}}/no/o.{suffix}"):
            yield Case(kind, [*argv, option, value], files, expect_error=True, names=option.lstrip("-")[:3],
                       outputs=(written, "{tmp}/p.yaml"))  # fmt: skip
        yield Case(kind, [*argv, f"{option}={written}/"] if option.startswith("--") else [*argv, f"{option}{written}/"],
                   files, expect_error=True, names=option.lstrip("-")[:3], outputs=(written,))  # fmt: skip
    import importlib.util

    if importlib.util.find_spec("torch") is not None:  # the runtime is an extra (dpsim[runtime])
        for option, suffix in (("--out", "jsonl"), ("--trace", "json")):
            for value in (f"{{tmp}}/o.{suffix}/", f"{{tmp}}/o.{suffix}/.", f"{{tmp}}/d.{suffix}"):
                yield Case(kind, [_RUNTIME_SCENARIO, option, value], files, expect_error=True, names=option,
                           outputs=(f"{{tmp}}/o.{suffix}",), program="runtime")  # fmt: skip


def report_extremes_and_repeats() -> Iterator[Case]:
    """``dpsim report``: numbers past 1e30 (1e308 overflowed the plots into RuntimeWarnings on a clean exit), a
    denormal, a device count of 0 (divided by), named by file, line and field; the same input twice, under another
    name or through a link (drawn twice); numbers at the ends of the range drawn with nothing on stderr."""
    kind = "report: extremes and one file twice"
    header = "step_time_s,world_size,samples_per_s,scaling_efficiency\n"
    for value in ("1e308", "1.0000001e30", "5e-324"):
        for column in header.strip().split(","):
            row = {"step_time_s": "1", "world_size": "2", "samples_per_s": "3", "scaling_efficiency": "0.5"}
            row[column] = value
            data = (header + "1,1,1.5,1\n" + ",".join(row.values()) + "\n").encode()
            yield Case(kind, ["report", "{tmp}/sweep.csv", "-o", "{tmp}/r.html"], {"sweep.csv": data},
                       expect_error=True, names=":3: " + column, outputs=("{tmp}/r.html",))  # fmt: skip
        run = f'{{"scenario": "x", "engine": "analytic", "step_time_s": 1, "comm_s": {value}, "world_size": 8}}'
        records = f'{{"scenario": "x", "step_time_s": 1}}\n{{"scenario": "x", "step_time_s": {value}}}\n'
        plan = f'{{"ranked": [{{"step_time_s": 1, "world_size": 8, "cost": {value}}}]}}'
        validation = f"measured_step_time_s,predicted_step_time_s\n1,{value}\n"
        for name, text, at in (
            ("run.json", run, "comm_s"),
            ("r.jsonl", records, "r.jsonl:2: step_time_s"),
            ("plan.json", plan, "ranked.0.cost"),
            ("v.csv", validation, ":2: predicted"),
        ):
            yield Case(kind, ["report", f"{{tmp}}/{name}", "-o", "{tmp}/r.html"], {name: text.encode()},
                       expect_error=True, names=at, outputs=("{tmp}/r.html",))  # fmt: skip
    for count in ("0", "0.5"):
        for name, text, at in (
            ("sweep.csv", header + f"1,{count},3,0.5\n", "sweep.csv:2: world_size"),
            ("run.json", f'{{"scenario": "x", "engine": "analytic", "step_time_s": 1, "world_size": {count}}}',
             "world_size"),
            ("plan.json", f'{{"ranked": [{{"step_time_s": 1, "devices": {count}}}]}}', "ranked.0.devices"),
            ("list.json", f'[{{"step_time_s": 1, "world_size": {count}, "samples_per_s": 1, '
             f'"scaling_efficiency": 1}}]', "0.world_size"),
        ):  # fmt: skip
            yield Case(kind, ["report", f"{{tmp}}/{name}", "-o", "{tmp}/r.html"], {name: text.encode()},
                       expect_error=True, names=at, outputs=("{tmp}/r.html",))  # fmt: skip
    extreme = {
        "e.csv": (header + "1e30,1e30,1e30,1e30\n1e-300,1,1e-300,0\n").encode(),
        "v.csv": b"measured_step_time_s,predicted_step_time_s\n1e30,1e-300\n1e-300,1e30\n",
        "run.json": b'{"scenario": "x", "engine": "analytic", "step_time_s": 1e30, "compute_s": 1e30, "comm_s": 1e30, '
        b'"exposed_comm_s": 1e30, "samples_per_s": 1e30, "world_size": 100000000000000000000000000000}',
        "tiny.json": b'{"scenario": "x", "engine": "analytic", "step_time_s": 1e-300, "compute_s": 0, "comm_s": 1e-300,'
        b' "samples_per_s": 1e-300, "world_size": 1}',
        "plan.json": b'{"ranked": [{"step_time_s": 1e30, "world_size": 1e30, "time_to_train_s": 1e30, "cost": 1e30, '
        b'"devices": 1e30}, {"step_time_s": 1e-300, "world_size": 1, "time_to_train_s": 1e-300, "devices": 1}]}',
    }
    for name, data in extreme.items():
        yield Case(kind, ["report", f"{{tmp}}/{name}", "-o", "{tmp}/r.html"], {name: data}, accept=True)
    twice = ["report", "{tmp}/run.json", "-o", "{tmp}/r.html"]
    for second, links in (("{tmp}/run.json", {}), ("{tmp}/./run.json", {}), ("{tmp}/d/../run.json", {}),
                          ("{tmp}/l.json", {"l.json": "{tmp}/run.json"}), ("-", {})):  # fmt: skip
        argv, again = [*twice[:2], second, *twice[2:]], second != "-"  # stdin (empty here) is another input
        yield Case(kind, argv, {**extreme, "d/x": b"<dir>"}, links=links, expect_error=again,
                   names="results" if again else "", outputs=("{tmp}/r.html",) if again else (), stdin=b"")  # fmt: skip
    yield Case(kind, ["report", "{tmp}/run.json", "{tmp}/tiny.json", "-o", "{tmp}/r.html"], extreme, accept=True)


def preset_names() -> Iterator[Case]:
    """Catalog names (models, devices, links, CPU classes) in any case and with surrounding spaces: one rule
    everywhere (matched as the catalog spells them); a CPU class was exact while a device's name was not."""
    kind = "preset names in any case"
    for sets in (
        ("cluster.device=' A100-80GB '",), ("cluster.device=A100-80GB",), ("model=' GPT2-Small '",),
        ("model={preset: GPT2-SMALL, layers: 4}",), ("cluster.intra_node=' NVLink3 '",),
        ("cluster.inter_node={preset: IB-HDR, nics_per_node: 1}",),
        ("cluster.intra_node=PCIe4", "cluster.host_topology={cpu: ' Intel-SKL ', sockets: 2}"),
    ):  # fmt: skip
        argv = ["check", "{tmp}/s.yaml"]
        for one in sets:
            argv += ["--set", one]
        yield Case(kind, argv, {"s.yaml": SMALL.encode()}, accept=True)
    for sets, names in (
        (("cluster.device=a100 80gb",), "cluster.device"), (("model=gpt2_small",), "model"),
        (("cluster.intra_node=PCIe4", "cluster.host_topology={cpu: intel, sockets: 2}"), "cluster.host_topology.cpu"),
    ):  # fmt: skip
        argv = ["check", "{tmp}/s.yaml"]
        for one in sets:
            argv += ["--set", one]
        yield Case(kind, argv, {"s.yaml": SMALL.encode()}, expect_error=True, names=names)
    plan = ["plan", "--tokens", "1B", "--max-devices", "8", "--no-progress", "--simulate", "0"]
    yield Case(kind, [*plan, "--model", " GPT2-Small ", "--device", " A100-80GB "], accept=True)
    yield Case(kind, [*plan, "--model", "gpt2", "--device", "a100"], expect_error=True, names="--model")


def long_names() -> Iterator[Case]:
    """Paths the file system cannot hold (a part past 255 bytes, a path past 4,096) in every option that names a file
    or folder, read or written, in every command: one line naming the option, nothing written (``pathlib``'s
    ``is_file``/``is_symlink`` raise ``ENAMETOOLONG`` instead of answering: a traceback in most commands). Names
    the file system does hold are written, 240 bytes too (the temporary file beside them was 8 letters longer)."""
    kind = "file names too long"
    files = {"s.yaml": SMALL.encode(), "t.json": b'{"traceEvents": []}', "r.html": b"<p>an earlier page</p>"}
    part, path, accent = "a" * 300, "/".join(["d" * 200] * 25), "\u00e9"  # é: 2 bytes in UTF-8
    for argv, option, suffix in _file_options():
        for name in (f"{{tmp}}/{part}.{suffix}", f"{{tmp}}/{path}/o.{suffix}", f"{{tmp}}/{accent * 130}.{suffix}"):
            yield Case(kind, [*argv, option, name], files, expect_error=True, names=option.lstrip("-")[:3],
                       outputs=("{tmp}/p.yaml",))  # fmt: skip
    cpu = str(CPU_SCENARIO)
    for argv, names in (
        (["run", f"{{tmp}}/{part}.yaml"], part[:20]),
        (["report", f"{{tmp}}/{part}.json", "-o", "{tmp}/r.html"], part[:20]),
        (["run", "{tmp}/s.yaml", "--set", f"calibration.profile={{tmp}}/{part}.yaml"], "calibration.profile"),
        (["calibrate", "--from-nccl-tests", f"{{tmp}}/{part}.txt", "--out", "{tmp}/p.yaml"], "--from-nccl-tests"),
        (["calibrate", "--from-trace", f"{{tmp}}/{part}.json", "--out", "{tmp}/p.yaml"], "--from-trace"),
        (["calibrate", "--from-trace", "{tmp}/t.json", "--base", f"{{tmp}}/{part}.yaml", "--out", "{tmp}/p.yaml"],
         "--base"),
        (["validate", cpu, "--out-dir", f"{{tmp}}/{part}", "--case", "training.micro_batch=2"], "--out-dir"),
        (["validate", cpu, "--out-dir", "{tmp}/v", "--profile", f"{{tmp}}/{part}.yaml"], "--profile"),
        (["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2", "--out", f"{{tmp}}/{'b' * 242}.csv"],
         "partial results"),  # the name fits; the partial results beside it (+ .partial.jsonl) would not
    ):  # fmt: skip
        yield Case(kind, argv, files, expect_error=True, names=names, outputs=("{tmp}/p.yaml", "{tmp}/v"))
    for argv in (
        ["report", "{tmp}/s.yaml", "-o", f"{{tmp}}/{'b' * 240}.html"],
        ["report", "{tmp}/s.yaml", "-o", f"{{tmp}}/{accent * 120}.html"],
        ["run", "{tmp}/s.yaml", "--engine", "sim", "--trace", f"{{tmp}}/{'b' * 245}.json"],
        ["calibrate", "--from-nccl-tests", str(NCCL_TESTS), "--out", f"{{tmp}}/{'b' * 250}.yaml"],
        [*_PLAN, "--out", f"{{tmp}}/{'b' * 251}.csv"],
    ):
        yield Case(kind, argv, files, accept=True)
    import importlib.util

    if importlib.util.find_spec("torch") is not None:  # the runtime is an extra (dpsim[runtime])
        for option in ("--out", "--trace", "--run-dir"):
            for name in (f"{{tmp}}/{part}", f"{{tmp}}/{path}/o"):
                yield Case(kind, [_RUNTIME_SCENARIO, option, name], files, expect_error=True, names=option,
                           program="runtime")  # fmt: skip


def output_streams() -> Iterator[Case]:
    """The standard output as it is at a shell: a reader that has gone (``dpsim ... | head``: exit 0, quietly; click
    made it exit 1 without a word), ``/dev/full`` (one line naming ``stdout``, status 2: it was an ``OSError``
    traceback) and an encoding without ``µ`` or ``—`` (``PYTHONIOENCODING=ascii``: written as escapes; it was a
    ``UnicodeEncodeError`` traceback). Each case runs in a fresh interpreter (in-process output is a ``StringIO``)."""
    kind = "stdout: closed pipe / full / ASCII"
    files = {"s.yaml": SMALL.encode()}
    sweep = ["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2"]
    for argv in (["catalog"], ["schema"], [*sweep, "--format", "json"], ["run", "{tmp}/s.yaml"]):
        yield Case(kind, argv, files, subprocess=True, stdout="closed-pipe", accept=True)
    for argv in (["catalog"], ["run", "{tmp}/s.yaml", "--format", "json"], ["check", "{tmp}/s.yaml"]):
        yield Case(kind, argv, files, subprocess=True, stdout="full", expect_error=True, names="stdout")
    for argv in (["run", "{tmp}/s.yaml", "--set", "name=caf\u00e9\u2014x"], ["collective", "--sizes", "1MiB,2MiB"],
                 ["check", "{tmp}/s.yaml"]):  # fmt: skip
        yield Case(kind, argv, files, subprocess=True, env={"PYTHONIOENCODING": "ascii"}, accept=True)


def full_disk() -> Iterator[Case]:
    """Outputs written onto a full disk (a 2,000-byte limit on the size of a file: ``RLIMIT_FSIZE``, ``EFBIG`` as
    ``ENOSPC`` would be): one line naming the option, nothing written, no temporary file left. A sweep's partial
    results were an ``OSError`` traceback, torn mid-line; now cut back to their whole lines, or removed when
    none finished."""
    kind = "outputs onto a full disk"
    files = {"s.yaml": SMALL.encode()}
    sweep = ["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2"]
    for argv, option, suffix in (
        (["run", "{tmp}/s.yaml", "--engine", "sim"], "--trace", "json"), (sweep, "--out", "csv"),
        (["report", "{tmp}/s.yaml"], "-o", "html"), (_PLAN, "--all", "csv"),
        (["run", "{tmp}/s.yaml", "--engine", "sim"], "--gantt", "png"),
        (["collective", "--sizes", "1MiB,2MiB"], "--plot", "png"),
        (["calibrate", "--from-nccl-tests", str(NCCL_TESTS), "--out", "{tmp}/p.yaml"], "--records", "json"),
    ):  # fmt: skip
        written = f"{{tmp}}/o.{suffix}"
        yield Case(kind, [*argv, option, written], files, subprocess=True, file_size=2000, expect_error=True,
                   names=option, outputs=(written, f"{{tmp}}/.o.{suffix}.*", "{tmp}/p.yaml"))  # fmt: skip
    # the partial results' first line fits, its first point does not: none finished, so none is left behind
    yield Case(
        kind,
        [*sweep, "--out", "{tmp}/o.csv"],
        files,
        subprocess=True,
        file_size=300,
        expect_error=True,
        names="partial results",
        outputs=("{tmp}/o.csv", "{tmp}/o.csv.partial.jsonl", "{tmp}/.o.csv.*"),
    )


def nccl_rows_cut_short() -> Iterator[Case]:
    """nccl-tests result rows (a size and an element count) cut short, as a killed job or a damaged copy leaves them,
    or whose times are not numbers: refused with their line (they were dropped without a word, and the fit lost the
    size). nccl-tests' own variants are read: CRLF, a BOM, tabs, ``N/A`` in ``#wrong`` (``-c 0``), NCCL's log lines
    between rows, a trailing token."""
    kind = "nccl-tests rows cut short / times as text"
    base = ["calibrate", "--out", "{tmp}/p.yaml", "--from-nccl-tests", "{tmp}/all_reduce_perf.txt"]
    text = NCCL_TESTS.read_text(encoding="utf-8")
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    last = max(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))

    def edited(at: int, edit: Callable[[str], str]) -> bytes:
        return ("\n".join([*lines[:at], edit(lines[at]), *lines[at + 1 :]]) + "\n").encode()

    for cut in (20, 40, 60):
        yield Case(kind, base, {"all_reduce_perf.txt": edited(first + 2, lambda row, c=cut: row[:c])},
                   expect_error=True, names=f"line {first + 3}", outputs=("{tmp}/p.yaml",))  # fmt: skip
    yield Case(kind, base, {"all_reduce_perf.txt": ("\n".join(lines[: last + 1]) + "\n").encode()[:-60]},
               expect_error=True, names=f"line {last + 1}", outputs=("{tmp}/p.yaml",))  # fmt: skip
    for bad in ("19.2x", "-", "abc", "1,5"):

        def times(row: str, bad: str = bad) -> str:
            tokens = row.split()
            tokens[5] = tokens[9] = bad
            return "  ".join(tokens)

        yield Case(kind, base, {"all_reduce_perf.txt": edited(first + 1, times)}, expect_error=True,
                   names=f"line {first + 2}", outputs=("{tmp}/p.yaml",))  # fmt: skip
    info = "node01:4242:4242 [0] NCCL INFO Channel 00/02 :    0   1   2   3   4   5   6   7"
    for valid in (
        text.replace("\n", "\r\n").encode(), b"\xef\xbb\xbf" + text.encode(),
        re.sub(r"[ ]+", "\t", text).encode(), edited(first, lambda row: row[: row.rindex("0")] + "N/A"),
        edited(first + 1, lambda row: row + "\n" + info), edited(first, lambda row: row + "  extra"),
    ):  # fmt: skip
        yield Case(kind, base, {"all_reduce_perf.txt": valid}, accept=True)


def one_device() -> Iterator[Case]:
    """Valid inputs at world size 1 and data parallelism 1 in every command: each must run. ``plan`` kept, for a
    layout without data parallelism, only the catalog's first algorithm ('auto'), which its default request
    ('ring', 'hierarchical') lacks: a plan whose layouts all had DP = 1 (one device, or TP x PP = every device)
    found no configuration."""
    kind = "world size 1 / no data parallelism"
    files = {"s.yaml": SMALL.encode()}
    one = ["--set", "cluster.nodes=1", "--set", "cluster.workers_per_node=1", "--set", "training.global_batch=auto"]
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--no-progress", "--simulate", "0"]
    for argv in (
        [*plan, "--max-devices", "1"], [*plan, "--max-devices", "1", "--algorithm", "tree"],
        [*plan, "--max-devices", "4", "--min-devices", "4", "--tp", "4"],
        [*plan, "--max-devices", "2", "--min-devices", "2", "--pp", "2", "--algorithm", "hierarchical,ring"],
        ["run", "{tmp}/s.yaml", *one], ["run", "{tmp}/s.yaml", "--engine", "sim", *one],
        ["check", "{tmp}/s.yaml", "--dump", *one], ["collective", "{tmp}/s.yaml", "--size", "1MiB", *one],
        ["sweep", "{tmp}/s.yaml", "--vary", "cluster.nodes=1,2", "--set", "cluster.workers_per_node=1",
         "--set", "training.global_batch=auto"],
    ):  # fmt: skip
        yield Case(kind, argv, files, accept=True)


def _kineto_trace(edit: Callable[[list[dict[str, Any]]], None] = lambda events: None) -> bytes:
    """A small valid profiler trace of one CPU step (two Linear layers, their backward nodes, two gradients, one
    bucket, a communication interval on another thread), changed by ``edit``."""
    import json

    events: list[dict[str, Any]] = []
    for name, cat, ts, dur, tid, args in (
        ("ProfilerStep#1", "user_annotation", 0, 1000, 1, {}),
        ("nn.Module: Net_0", "python_function", 10, 200, 1, {}),
        ("nn.Module: Linear_0", "python_function", 20, 80, 1, {}),
        ("aten::linear", "cpu_op", 25, 50, 1, {"Sequence number": 1}),
        ("nn.Module: Linear_1", "python_function", 110, 80, 1, {}),
        ("aten::linear", "cpu_op", 115, 50, 1, {"Sequence number": 2}),
        ("autograd::engine::evaluate_function: AddmmBackward0", "cpu_op", 300, 50, 1, {"Sequence number": 2}),
        ("autograd::engine::evaluate_function: torch::autograd::AccumulateGrad", "cpu_op", 360, 10, 1, {}),
        ("torch::autograd::AccumulateGrad", "cpu_op", 361, 5, 1, {"Input Dims": [[16, 16]], "Input type": ["float"]}),
        ("autograd::engine::evaluate_function: AddmmBackward0", "cpu_op", 400, 50, 1, {"Sequence number": 1}),
        ("autograd::engine::evaluate_function: torch::autograd::AccumulateGrad", "cpu_op", 460, 10, 1, {}),
        ("torch::autograd::AccumulateGrad", "cpu_op", 461, 5, 1, {"Input Dims": [[16, 16]], "Input type": ["float"]}),
        ("c10d::allreduce_", "cpu_op", 470, 5, 1, {"Input Dims": [[[256]]]}),
        ("nccl:all_reduce", "cpu_op", 470, 100, 2, {}),
        ("Optimizer.step#SGD.step", "cpu_op", 600, 30, 1, {}),
    ):  # fmt: skip
        events.append({"ph": "X", "name": name, "cat": cat, "ts": ts, "dur": dur, "tid": tid, "pid": 1, "args": args})
    edit(events)
    return json.dumps({"traceEvents": events}).encode()


def _set_arg(name: str, key: str, value: object, nth: int = 0) -> Callable[[list[dict[str, Any]]], None]:
    def edit(events: list[dict[str, Any]]) -> None:
        [e for e in events if e["name"] == name][nth]["args"][key] = value

    return edit


def _modules(count: int, nested: bool) -> Callable[[list[dict[str, Any]]], None]:
    """``count`` more modules: nested containers around the model, or layers side by side inside it."""

    def edit(events: list[dict[str, Any]]) -> None:
        for i in range(count):
            if nested:  # Sequential_i inside Sequential_(i-1), the first with Net_0's very interval
                events.append({"ph": "X", "name": f"nn.Module: Sequential_{i}", "cat": "python_function",
                               "ts": 10 + i * 1e-3, "dur": 200 - 2 * i * 1e-3, "tid": 1, "args": {}})  # fmt: skip
            else:
                events.append({"ph": "X", "name": f"nn.Module: Linear_{i + 2}", "cat": "python_function",
                               "ts": 101 + i * 8e-4, "dur": 5e-4, "tid": 1, "args": {}})  # fmt: skip

    return edit


def _gradients(count: int) -> Callable[[list[dict[str, Any]]], None]:
    """``count`` more parameters' gradients at the end of the backward (an AccumulateGrad node and its op each)."""

    def edit(events: list[dict[str, Any]]) -> None:
        node = "autograd::engine::evaluate_function: torch::autograd::AccumulateGrad"
        for i in range(count):
            ts = 480 + i * 4e-3
            events.append({"ph": "X", "name": node, "cat": "cpu_op", "ts": ts, "dur": 2e-3, "tid": 1, "args": {}})
            events.append({"ph": "X", "name": "torch::autograd::AccumulateGrad", "cat": "cpu_op", "ts": ts + 5e-4,
                           "dur": 1e-3, "tid": 1, "args": {"Input Dims": [[4]], "Input type": ["float"]}})  # fmt: skip

    return edit


def trace_fields() -> Iterator[Case]:
    """``calibrate --from-trace``: a profiler trace whose JSON is valid but whose event fields are not what PyTorch
    writes (``Sequence number``, ``Input Dims``, ``Input type``, ``correlation`` of another type; a negative or
    int64-overflowing shape), and traces of many modules, side by side or nested, some with one interval. They were
    ValueError/TypeError/KeyError/IndexError tracebacks; 20,000 modules side by side took 2 minutes (a quadratic
    search for each module's parent) and wrote a profile that then failed its own reload, 10,000 nested ones a
    ``max()`` of nothing (two modules with the same interval were each inside the other, so neither was the root);
    25,000 gradients searched every AccumulateGrad op for each node's (quadratic: 8,000 took 4.4 s, 25,000 past a
    minute on the loaded machine)."""
    kind = "profiler traces: fields of the wrong type"
    files = {"s.yaml": SMALL.encode()}
    argv = ["calibrate", "{tmp}/s.yaml", "--from-trace", "{tmp}/t.json", "--out", "{tmp}/p.yaml"]
    seq, grad, bucket = "aten::linear", "torch::autograd::AccumulateGrad", "c10d::allreduce_"
    node = "autograd::engine::evaluate_function: AddmmBackward0"
    wrong: list[tuple[Callable[[list[dict[str, Any]]], None], str]] = [
        *((_set_arg(at, "Sequence number", v), "Sequence number") for at in (seq, node)
          for v in ("x", [1], {"a": 1}, 1.5, True)),
        *((_set_arg(grad, "Input Dims", v), "Input Dims") for v in (5, "abc", {"a": 1}, [[-16, 16]],
                                                                   [[1 << 40, 1 << 40]], [[1 << 62] * 3])),
        *((_set_arg(grad, "Input type", v), "Input type") for v in (5, "float", {"a": 1})),
        *((_set_arg(bucket, "Input Dims", v), "Input Dims") for v in (5, "x", [[[-1]]])),
    ]  # fmt: skip

    def launch(correlation: object) -> Callable[[list[dict[str, Any]]], None]:
        def edit(events: list[dict[str, Any]]) -> None:
            args = {"correlation": correlation}
            events.append({"ph": "X", "name": "cudaLaunchKernel", "cat": "cuda_runtime", "ts": 30, "dur": 2,
                           "tid": 1, "args": args})  # fmt: skip
            events.append({"ph": "X", "name": "sgemm", "cat": "kernel", "ts": 40, "dur": 20, "tid": 7, "args": args})

        return edit

    wrong += [(launch([1]), "correlation"), (launch({"a": 1}), "correlation")]
    for edit, names in wrong:
        yield Case(kind, argv, {**files, "t.json": _kineto_trace(edit)}, expect_error=True, names=names,
                   outputs=("{tmp}/p.yaml",))  # fmt: skip
    valid = [_set_arg(grad, "Input Dims", v) for v in ([[16, 16], []], [["x"]], [], [[]])]
    valid += [_set_arg(grad, "Input type", v) for v in ([], [[]], [5])]
    valid += [_set_arg(bucket, "Input Dims", v) for v in ([[]], [], [[5]], [["x"]])]
    valid += [launch(1), launch("1"), launch(None), _modules(5_000, nested=False), _modules(10_000, nested=True)]
    valid += [_modules(1, nested=True), _set_arg(seq, "Sequence number", None), _gradients(25_000)]
    for edit in valid:
        yield Case(kind, argv, {**files, "t.json": _kineto_trace(edit)}, accept=True)
    # 20,002 layers are more than a profile file holds (100,000 nodes): refused before --out is written (the
    # profile was written, then failed its own reload)
    yield Case(kind, argv, {**files, "t.json": _kineto_trace(_modules(20_000, nested=False))}, expect_error=True,
               names="--out", outputs=("{tmp}/p.yaml",))  # fmt: skip


def plotting_environment() -> Iterator[Case]:
    """Every command that draws, under environment variables meant for matplotlib's screen or settings: a backend
    that does not exist (``MPLBACKEND=bogus``: a ``ValueError`` traceback on import, in every command that draws),
    a settings folder that cannot be written (``MPLCONFIGDIR``: two warnings on stderr of a run that succeeded),
    and a temporary folder that does not exist. Each is a valid run: exit 0, nothing on stderr. In a fresh
    interpreter (matplotlib reads them once, on import)."""
    kind = "plotting under hostile environment"
    files = {"s.yaml": SMALL.encode()}
    draws = (
        ["sweep", "{tmp}/s.yaml", "--vary", "training.zero_stage=0,1", "--plot", "{tmp}/p.png"],
        ["run", "{tmp}/s.yaml", "--engine", "sim", "--gantt", "{tmp}/g.svg"],
        ["collective", "{tmp}/s.yaml", "--sizes", "1MiB,2MiB", "--plot", "{tmp}/c.pdf"],
        ["report", "{tmp}/s.yaml", "-o", "{tmp}/r.html"],
        ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8", "--simulate", "0", "--no-progress",
         "--plot", "{tmp}/pareto.png"],
    )  # fmt: skip
    for argv in draws:
        yield Case(kind, argv, files, subprocess=True, accept=True, env={"MPLBACKEND": "bogus"})
    for env in ({"MPLCONFIGDIR": "/proc/no-such-folder"}, {"MPLCONFIGDIR": "/dev/null"}, {"MPLBACKEND": ""},
                {"MPLBACKEND": "TkAgg", "DISPLAY": ":99"}, {"TMPDIR": "{tmp}/no-such-folder"}):  # fmt: skip
        for argv in (draws[0], draws[3]):
            yield Case(kind, argv, files, subprocess=True, accept=True, env=env)


def values_read_as_others() -> Iterator[Case]:
    """Values a command took for something else without a word: ``plan --price`` for a device the catalog does not
    know (``nope=2``, ``=3``, ``a100-80gb=1=2``) was dropped when a price for every device was given too, and said
    'no price given for a100-80gb' otherwise; ``python -m runtime --backend ''`` ran on the default backend and
    ``--run-dir ''`` wrote every rank's records into the current folder. A price for a device the plan does not
    search, and a device in capitals, stay valid."""
    kind = "values read as something else"
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8", "--simulate", "0",
            "--no-progress", "--out", "{tmp}/plan.csv"]  # fmt: skip
    for prices in (["nope=2", "1.5"], ["nope=2", "a100-80gb=1"], ["=3"], ["a100-80gb=1=2"], ["a100=2"],
                   ["a100-80gb=1", "h100=3", "2"]):  # fmt: skip
        argv = [*plan, *(a for price in prices for a in ("--price", price))]
        yield Case(kind, argv, expect_error=True, names="--price", outputs=("{tmp}/plan.csv",))
    for prices in (["A100-80GB=2"], ["h100-sxm=3", "a100-80gb=1"], ["h100-sxm=3", "1.5"]):
        yield Case(kind, [*plan, *(a for price in prices for a in ("--price", price))], accept=True)
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # the runtime is an extra (dpsim[runtime])
        return
    at = _RUNTIME_SCENARIO
    for option in ("--backend", "--run-dir", "--out", "--trace"):
        for value in ("", " "):
            yield Case(kind, [at, option, value], expect_error=True, names=option, program="runtime")


def texts_read_back_as_numbers() -> Iterator[Case]:
    """Text that YAML 1.2 (what dpsim reads) takes for a number, a bool or null but YAML 1.1 (what PyYAML writes
    by) does not: ``'1e3'`` (1.2: 1000.0), ``'0o10'`` (8), ``'.NaN'``. Written unquoted, the file no longer read back:
    ``python -m runtime`` of a scenario named '1e3' failed in every rank after the launch (the ranks read the
    scenario the launcher wrote), and a profile with such a name, host or backend was refused by the reload that
    ``calibrate`` makes of what it wrote. Each is valid and must run."""
    kind = "text read back as a number (1e3, 0o10)"
    trace = ["calibrate", "--from-trace", "{tmp}/t.json", "--base", "{tmp}/base.yaml", "--out", "{tmp}/p.yaml"]
    profile = PROFILE.read_text(encoding="utf-8")
    for key, text in (("name", "1e3"), ("host", "0o10"), ("backend", ".NaN"), ("name", "+12E3"), ("host", "TRUE")):
        base = re.sub(rf"^{key}: .*$", f"{key}: '{text}'", profile, count=1, flags=re.M)
        yield Case(kind, trace, {"t.json": _kineto_trace(), "base.yaml": base.encode()}, accept=True)
    import importlib.util

    if importlib.util.find_spec("torch") is not None:  # the runtime is an extra (dpsim[runtime])
        argv = [_RUNTIME_SCENARIO, "--set", "name='1e3'", "--steps", "1", "--warmup-steps", "0", "--run-dir",
                "{tmp}/run"]  # fmt: skip
        yield Case(kind, argv, accept=True, program="runtime", timeout_s=RUNTIME_TIMEOUT_S)


def blank_names_and_composed_variability() -> Iterator[Case]:
    """A name that is empty or blank (it labels every result, table and record: leaving the field out names the
    scenario 'scenario'), and straggler or degraded-link entries that name one worker or node several times: they
    multiply, and 60 x slowdown 1e6 was inf, 1e-200 x 1e-200 was 0 (tracebacks in the simulator's partition), 60 x
    factor 1e-6 divided the simulator's rates by zero. Compositions inside one entry's range stay valid."""
    kind = "blank names / composed stragglers"
    for value in ('""', "' '", "'   '"):
        yield _file_case(kind, _replace("name: small", f"name: {value}"), command="check", names="name")
    for item in ("name=", "name=''", "name=' '"):
        yield _set_case(kind, item, command="check", names="name")
    yield _file_case(kind, SMALL.replace("name: small\n", "").encode(), command="check", expect_error=False)
    yield _set_case(kind, "name=' padded '", expect_error=False)
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "name=a,' '", "--out", "{tmp}/o.csv"],
               {"s.yaml": SMALL.encode()}, expect_error=True, names="name", outputs=("{tmp}/o.csv",))  # fmt: skip
    stragglers = (
        ("{worker: 0, slowdown: 1e6}, {worker: 0, slowdown: 2}", True),
        ("{worker: 0, slowdown: 1e-200}, {worker: 0, slowdown: 1e-200}", True),
        (", ".join(["{worker: 1, slowdown: 1e6}"] * 60), True),
        ("{worker: 3, slowdown: 2}, {worker: 3, slowdown: 1.5}", False),
    )
    for entries, bad in stragglers:
        for engine in ("analytic", "sim"):
            yield _set_case(kind, f"variability.stragglers=[{entries}]", extra=("--engine", engine, "--format", "json"),
                            expect_error=bad, names="slowdown" if bad else "", finite=True)  # fmt: skip
    for entries, bad in ((", ".join(["{node: 0, factor: 0.000001}"] * 60), True),
                         ("{node: 1, factor: 1e-3}, {node: 1, factor: 1e-4}", True),
                         ("{node: 1, factor: 0.5}, {node: 1, factor: 0.5}", False)):  # fmt: skip
        yield _set_case(kind, f"variability.degraded_links=[{entries}]", extra=("--engine", "sim"),
                        expect_error=bad, names="factor" if bad else "", finite=True)  # fmt: skip


def joint_inconsistencies() -> Iterator[Case]:
    """Fields each valid alone that contradict one another (TP x PP not dividing the workers, a micro-batch past
    the batch, heads not divisible by TP, layers by PP x virtual stages, kv_heads, an interleaved schedule's
    micro-batches, hybrid shard groups, rank orders, FP8 on an A100, ...), each named; and combinations that look
    odd but are valid (more NICs than GPUs, ZeRO-3 with TP, one node on a ring, a faster 'straggler')."""
    kind = "jointly inconsistent fields"
    wide = ("cluster.workers_per_node=8",)
    for sets, names in (
        (("training.tensor_parallel=4", "training.pipeline_parallel=3"), "training.tensor_parallel"),
        (("training.micro_batch=16",), "training.global_batch"),
        (("training.micro_batch=3",), "training.global_batch"),
        ((*wide, "training.tensor_parallel=8"), "training.tensor_parallel"),
        (("cluster.nodes=8", "training.pipeline_parallel=16", "training.global_batch=16", "training.micro_batch=1"),
         "training.pipeline_parallel"),
        (("model.kv_heads=5",), "model.kv_heads"),
        (("model.hidden=770",), "model.heads"),
        (("model.layers=1", "training.pipeline_parallel=2"), "training.pipeline_parallel"),
        (("training.pipeline_parallel=2", "training.pipeline_schedule=interleaved", "training.virtual_stages=5",
          "training.global_batch=auto"), "training.pipeline_parallel"),
        (("training.pipeline_parallel=2", "training.pipeline_schedule=interleaved", "training.virtual_stages=2",
          "training.global_batch=6", "training.micro_batch=1"), "training.accumulation"),
        (("training.recompute_layer_interval=100", "training.activation_recomputation=full"),
         "training.recompute_layer_interval"),
        (("training.zero_stage=3", "training.optimizer_sharding=fsdp", "training.fsdp_shard_group=3"),
         "training.fsdp_shard_group"),
        (("training.tensor_parallel=2", "cluster.rank_order=round_robin"), "cluster.rank_order"),
        (("training.precision=fp8",), "training.precision"),
        (("training.optimizer_sharding=megatron", "training.zero_stage=2"), "training.zero_stage"),
        (("training.tp_comm_overlap=true",), "training.tp_comm_overlap"),
        (("training.tp_overlap_kind=torch_async_tp",), "training.tp_overlap_kind"),
        (("training.accumulation=3",), "training.accumulation"),
    ):  # fmt: skip
        yield _set_case(kind, *sets, names=names)
    for sets in (("cluster.inter_node.nics_per_node=64",), ("training.zero_stage=3", "training.tensor_parallel=2"),
                 ("cluster.nodes=1", "cluster.topology={kind: ring}"),
                 ("variability.stragglers=[{worker: 0, slowdown: 0.5}]",),
                 ("model.seq_len=1", "model.vocab=1")):  # fmt: skip
        yield _set_case(kind, *sets, extra=("--format", "json"), expect_error=False, finite=True)


def ring_of_nodes() -> Iterator[Case]:
    """``cluster.topology.kind: ring`` at scale: a phase's routes are padded to its longest (up to nodes/2 links),
    which the cost guard did not count: 4,096 nodes x 8 of ``auto`` were priced 0.23 s and took 48 s and 3.8 GB,
    8,192 nodes ran out of memory at 15 GB (a hang, then the machine's OOM killer). Refused up front now, in every
    command that prices them; a ring algorithm's neighbours (one link) still run."""
    kind = "ring of nodes: far routes priced"
    ring = ("cluster.workers_per_node=8", "training.global_batch=auto", "cluster.topology={kind: ring}")
    for nodes in (4096, 8192, 131072):
        yield _set_case(kind, f"cluster.nodes={nodes}", *ring, names="links of a ring")
    yield _set_case(kind, "cluster.nodes=4096", *ring, extra=("--engine", "sim"), names="links of a ring")
    yield _set_case(kind, "cluster.nodes=4096", *ring, command="collective", names="links of a ring")
    yield _set_case(kind, "cluster.nodes=2048", *ring, "communication.algorithm=direct", command="collective",
                    names="links of a ring")  # fmt: skip
    sets = [a for item in ring for a in ("--set", item)]
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "cluster.nodes=64,4096", "--out", "{tmp}/o.csv", *sets],
               {"s.yaml": SMALL.encode()}, expect_error=True, names="links of a ring",
               outputs=("{tmp}/o.csv",))  # fmt: skip
    yield _set_case(kind, "cluster.nodes=16384", *ring, "communication.algorithm=ring", expect_error=False)
    yield _set_case(kind, "cluster.nodes=256", *ring, expect_error=False, finite=True)


_ENVIRONMENTS: tuple[dict[str, str], ...] = (
    {"COLUMNS": "0"}, {"COLUMNS": "-5"}, {"COLUMNS": "abc"}, {"COLUMNS": "100000000", "LINES": "0"},
    {"NO_COLOR": "1", "TERM": "dumb"}, {"FORCE_COLOR": "1"}, {"LC_ALL": "tr_TR.UTF-8"}, {"LC_ALL": "C", "LANG": "C"},
    {"LC_ALL": "xx_YY.bogus"}, {"HOME": "/nonexistent", "XDG_CACHE_HOME": "/dev/null"}, {"TZ": "Not/AZone"},
    {"PYTHONWARNINGS": "error"},
)  # fmt: skip


def terminal_environment() -> Iterator[Case]:
    """The terminal and locale a command runs under: ``COLUMNS`` of 0, negative, text or huge, ``NO_COLOR`` /
    ``FORCE_COLOR`` / ``TERM=dumb``, a Turkish, C or unknown locale, a ``HOME`` that does not exist, a bogus
    ``TZ``, ``PYTHONWARNINGS=error`` (a stray warning becomes an exception). Valid runs exit 0 with nothing on
    stderr, bad input one line; in a fresh interpreter (rich and click read them at start)."""
    kind = "terminal / locale environment"
    files = {"s.yaml": SMALL.encode()}
    for i, env in enumerate(_ENVIRONMENTS):
        yield Case(kind, ["run", "{tmp}/s.yaml"], files, subprocess=True, accept=True, env=env)
        bad = (["run", "{tmp}/s.yaml", "--set", "cluster.nodes=x"], ["run", "--frobnicate"])[i % 2]
        yield Case(kind, bad, files, subprocess=True, expect_error=True, env=env)
    for env in (_ENVIRONMENTS[0], _ENVIRONMENTS[5]):
        yield Case(kind, ["run", "--help"], files, subprocess=True, accept=True, env=env)
        yield Case(kind, ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "16", "--simulate", "0"],
                   files, subprocess=True, accept=True, env=env)  # fmt: skip


def files_of_another_kind() -> Iterator[Case]:
    """Every file option given a valid file of another kind: a hardware profile, an nccl-tests table, a run's JSON
    or a CSV as the scenario; a scenario or profile as a profiler trace or nccl-tests output; a scenario, table or
    run JSON as the profile to add to (``--base``, ``calibration.profile``, ``validate --profile``); a profile as a
    report input. Each is one line naming the file and what it lacks."""
    kind = "files of another kind"
    files = {"s.yaml": SMALL.encode(), "p.yaml": PROFILE.read_bytes(), "n.txt": NCCL_TESTS.read_bytes(),
             "r.json": b'{"scenario": "x", "engine": "analytic", "step_time_s": 1.0}',
             "c.csv": b"a,b\n1,2\n"}  # fmt: skip
    out = ("--out", "{tmp}/o.yaml")
    for argv in (
        ["run", "{tmp}/p.yaml"], ["run", "{tmp}/n.txt"], ["run", "{tmp}/r.json"], ["run", "{tmp}/c.csv"],
        ["check", "{tmp}/p.yaml"], ["collective", "{tmp}/p.yaml"], ["sweep", "{tmp}/p.yaml", "--vary", "name=a,b"],
        ["calibrate", "--from-trace", "{tmp}/s.yaml", *out], ["calibrate", "--from-trace", "{tmp}/r.json", *out],
        ["calibrate", "--from-trace", "{tmp}/n.txt", *out], ["calibrate", "--from-nccl-tests", "{tmp}/s.yaml", *out],
        ["calibrate", "--from-nccl-tests", "{tmp}/p.yaml", *out],
        ["calibrate", "--from-nccl-tests", "{tmp}/r.json", *out],
        ["calibrate", "--from-nccl-tests", "{tmp}/n.txt", "--base", "{tmp}/s.yaml", *out],
        ["calibrate", "--from-nccl-tests", "{tmp}/n.txt", "--base", "{tmp}/n.txt", *out],
        ["calibrate", "--from-nccl-tests", "{tmp}/n.txt", "--base", "{tmp}/r.json", *out],
        ["run", "{tmp}/s.yaml", "--set", "calibration.profile={tmp}/s.yaml"],
        ["run", "{tmp}/s.yaml", "--set", "calibration.profile={tmp}/n.txt"],
        ["run", "{tmp}/s.yaml", "--set", "calibration.profile={tmp}/c.csv"],
        ["validate", "{tmp}/s.yaml", "--profile", "{tmp}/s.yaml", "--out-dir", "{tmp}/v", "--case",
         "training.micro_batch=1"],
        ["report", "{tmp}/p.yaml", "-o", "{tmp}/o.html"], ["report", "{tmp}/n.txt", "-o", "{tmp}/o.html"],
    ):  # fmt: skip
        yield Case(kind, argv, files, expect_error=True, outputs=("{tmp}/o.yaml", "{tmp}/o.html", "{tmp}/v"))


def stdin_everywhere() -> Iterator[Case]:
    """``-`` for standard input in every command and position: the scenario of ``run``/``check``/``sweep``/
    ``collective``, one job of a shared fabric, after ``--``, ``report``'s inputs, and where a command reads no
    stdin (``calibrate``'s files) or writes a file (``--out -``, ``--trace -``: a file ending as its kind, never
    stdout)."""
    kind = "stdin '-' in every command"
    files = {"s.yaml": SMALL.encode(), "n.txt": NCCL_TESTS.read_bytes()}
    small = SMALL.encode()
    for argv in (["sweep", "-", "--vary", "training.micro_batch=1,2"], ["collective", "-"], ["check", "-", "--dump"],
                 ["run", "-", "{tmp}/s.yaml", "--shared-fabric"], ["run", "{tmp}/s.yaml", "-", "--shared-fabric"],
                 ["run", "--", "-"], ["report", "-", "-o", "{tmp}/o.html"]):  # fmt: skip
        yield Case(kind, argv, files, stdin=small, accept=True)
    out = ("--out", "{tmp}/o.yaml")
    for argv in (
        ["calibrate", "-", "--from-nccl-tests", "{tmp}/n.txt", *out], ["calibrate", "--from-nccl-tests", "-", *out],
        ["calibrate", "--from-trace", "-", *out],
        ["run", "-", "--engine", "sim", "--trace", "-"], ["run", "{tmp}/s.yaml", "--engine", "sim", "--gantt", "-"],
        ["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2", "--out", "-"],
        ["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2", "--plot", "-"],
        ["report", "{tmp}/s.yaml", "-o", "-"], ["calibrate", "--from-nccl-tests", "{tmp}/n.txt", "--out", "-"],
        ["run", "-", "-", "-", "--shared-fabric"],
    ):  # fmt: skip
        yield Case(kind, argv, files, stdin=small, expect_error=True, outputs=("{tmp}/o.yaml", "{tmp}/o.html", "-"))


def sweep_reruns() -> Iterator[Case]:
    """A sweep whose ``--out`` has an earlier run's partial results beside it, and a grid point that cannot run: the
    note that they were replaced came before the run, then the point's error (two lines on stderr); a sweep of
    1,000 points printed 'sweep: 1,000 points' before its error. One line now; a sweep refused before it starts
    (the simulator builds every point first) leaves the earlier file untouched and does not mention it."""
    kind = "sweep over an earlier run's partial results"
    files = {"s.yaml": SMALL.encode(), "o.csv.partial.jsonl": b'{"fingerprint": "an earlier run"}\n'}
    base = ["sweep", "{tmp}/s.yaml", "--out", "{tmp}/o.csv"]
    for vary in ("training.micro_batch=2,3", "training.micro_batch=3,2", "cluster.nodes=2,0", "model=gpt2-small,gpt5"):
        for engine in ("analytic", "sim"):
            yield Case(kind, [*base, "--vary", vary, "--engine", engine], files, expect_error=True,
                       outputs=("{tmp}/o.csv",))  # fmt: skip
    seeds = ",".join(str(seed) for seed in range(500))
    yield Case(kind, [*base, "--vary", f"variability.seed={seeds}", "--vary", "training.micro_batch=2,3"], files,
               expect_error=True, names="micro_batch=3", outputs=("{tmp}/o.csv",))  # fmt: skip
    yield Case(kind, [*base, "--vary", "variability.seed=0,1"], files, accept=True)


def failures_faster_than_a_step() -> Iterator[Case]:
    """A node MTBF shorter than a step: a free checkpoint's Daly interval is 0 s of work, so a job failing every
    500 ns lost nothing — ``run`` printed 96.9 % goodput for a 30 ms step, ``plan --node-mtbf '1 us'`` trained in
    the 7.3 h of a cluster that never fails. Checkpoints are at least one step apart now: ``run`` reports no
    progress (goodput 0), ``plan`` finds no configuration that trains (exit 2, naming --node-mtbf)."""
    kind = "failures faster than a step"
    for mtbf in ("1 us", "1 ms", "100 ms"):
        yield _set_case(kind, f"reliability.node_mtbf='{mtbf}'", extra=("--format", "json"), expect_error=False)
    yield _set_case(kind, "reliability={node_mtbf: 1 us, restart: 1000 h}", expect_error=False)
    plan = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "64", "--no-progress", "--simulate", "0",
            "--out", "{tmp}/plan.csv"]  # fmt: skip
    for extra in (("--node-mtbf", "1 us"), ("--node-mtbf", "1 ms", "--restart", "1000 h"),
                  ("--node-mtbf", "1e-15 s", "--price", "1000000", "--format", "json")):  # fmt: skip
        yield Case(kind, [*plan, *extra], expect_error=True, names="--node-mtbf", outputs=("{tmp}/plan.csv",))
    yield Case(kind, [*plan, "--node-mtbf", "10 s"], accept=True)


def signals_mid_command() -> Iterator[Case]:
    """Ctrl-C (SIGINT), ``kill`` (SIGTERM) and a closed terminal (SIGHUP) sent to a sweep's whole process group
    while it works, in one process and on a local Dask cluster (``--workers 2``): typer turned Ctrl-C into a
    silent exit 130, SIGTERM ended with 143 and no word, and on a Dask cluster every worker process printed
    its own KeyboardInterrupt traceback, then the scheduler logged the tasks it lost (78 lines). Now exit
    128 + the signal with one line ('error: stopped by SIGINT'), no table or plot written, and the finished
    points kept in ``F.partial.jsonl`` for ``--resume``."""
    kind = "signals: SIGINT / SIGTERM / SIGHUP mid-sweep"
    files = {"s.yaml": SMALL.encode()}
    seeds = "variability.seed=" + ",".join(str(seed) for seed in range(3000))
    sweep = ["sweep", "{tmp}/s.yaml", "--engine", "sim", "--vary", seeds, "--out", "{tmp}/o.csv"]
    outputs = ("{tmp}/o.csv", "{tmp}/o.png", "{tmp}/.o.csv.*", "{tmp}/.o.png.*")
    when = "{tmp}/o.csv.partial.jsonl"
    for number, extra in ((signal.SIGINT, ()), (signal.SIGTERM, ()), (signal.SIGHUP, ("--plot", "{tmp}/o.png")),
                          (signal.SIGINT, ("--workers", "2"))):  # fmt: skip
        yield Case(kind, [*sweep, *extra], files, subprocess=True, expect_error=True, names=number.name,
                   outputs=outputs, signal=number, signal_when=when)  # fmt: skip


_RENDEZVOUS = {"RANK": "0", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": "29500"}  # fmt: skip
"""What torchrun sets in the first of SMALL's four ranks (two nodes of two)."""


def torchrun_rendezvous() -> Iterator[Case]:
    """Under torchrun's variables: a rendezvous address missing or not a port (torch's ``env://`` raised a
    ``ValueError`` traceback at the join, in every command that joins), ``python -m runtime`` with a scenario that
    is not the ranks torchrun started or that the runtime cannot execute (a traceback in every rank once joined,
    or a wait at the rendezvous for ranks that never come), ``DPSIM_RUN_DIR`` on a file or in /proc (a
    ``mkdir`` traceback), and ``calibrate`` on one rank or one size (a fit of one sample: a traceback in rank 0
    after the benchmarks). Each is refused before a group is joined, naming the variable or field."""
    kind = "torchrun: rendezvous, shape and run folder"
    files = {"s.yaml": SMALL.encode()}
    calibrate = (["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml"], ("{tmp}/p.yaml",))
    validate = (["validate", "{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--case",
                 "training.micro_batch=1", "--out-dir", "{tmp}/v"], ("{tmp}/v",))  # fmt: skip
    run = (["{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--out", "{tmp}/r.jsonl"], ("{tmp}/r.jsonl",))
    for change, names in (({"MASTER_ADDR": None}, "MASTER_ADDR"), ({"MASTER_ADDR": " "}, "MASTER_ADDR"),
                          ({"MASTER_PORT": None}, "MASTER_PORT"), ({"MASTER_PORT": "http"}, "MASTER_PORT"),
                          ({"MASTER_PORT": "0"}, "MASTER_PORT"), ({"MASTER_PORT": "65536"}, "MASTER_PORT"),
                          ({"MASTER_PORT": "0001000000"}, "MASTER_PORT"), ({"MASTER_PORT": "2" * 5000}, "MASTER_PORT"),
                          ({"MASTER_PORT": "\uff12\uff19\uff15\uff10\uff10"}, "MASTER_PORT")):  # fmt: skip
        env = {k: v for k, v in {**_RENDEZVOUS, **change}.items() if v is not None}
        for (argv, outputs), program in ((calibrate, "dpsim"), (validate, "dpsim"), (run, "runtime")):
            yield Case(kind, argv, files, env=env, expect_error=True, names=names, outputs=outputs, program=program)
    argv, outputs = run
    for change, sets, names in (
        ({"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}, (), "cluster.nodes"),
        ({"LOCAL_WORLD_SIZE": "4"}, (), "cluster.workers_per_node"),
        ({"WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1"}, (), "cluster.workers_per_node"),
        ({}, ("training.tensor_parallel=2",), "parallel"),
        ({}, ("training.zero_stage=3",), "training.optimizer_sharding"),
        ({"DPSIM_RUN_DIR": "{tmp}/s.yaml"}, (), "DPSIM_RUN_DIR"),
        ({"DPSIM_RUN_DIR": "{tmp}/s.yaml/x"}, (), "DPSIM_RUN_DIR"),
        ({"DPSIM_RUN_DIR": "/proc/dpsim-run"}, (), "DPSIM_RUN_DIR"),
    ):
        more = [a for item in sets for a in ("--set", item)]
        yield Case(kind, [*argv, *more], files, env={**_RENDEZVOUS, **change}, expect_error=True, names=names,
                   outputs=outputs, program="runtime")  # fmt: skip
    argv, outputs = calibrate
    for change, extra, names in (
        ({"WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1"}, (), "WORLD_SIZE"),
        ({}, ("--sizes", "8KiB"), "--sizes"),
        ({}, ("--sizes", "1MiB,1MiB"), "--sizes"),
    ):
        yield Case(kind, [*argv, *extra], files, env={**_RENDEZVOUS, **change}, expect_error=True, names=names,
                   outputs=outputs)  # fmt: skip


_TRACE_EVENTS = b'{"traceEvents": [{"ph": "X", "pid": 0, "tid": 0, "ts": 0, "dur": 5, "name": "step"}]}'
_RUN_JSON = b'{"scenario": "x", "engine": "analytic", "step_time_s": 1.0, "world_size": 4}'


def report_stdin() -> Iterator[Case]:
    """``dpsim report -`` reads what ``report FILE`` reads, its kind found from the content (stdin has no suffix):
    a run's JSON, a sweep as JSON or CSV, records as JSON Lines, a trace, a scenario's YAML; it read JSON alone,
    so a piped sweep CSV or scenario was 'not JSON'. What is none of them is still one line naming ``<stdin>``."""
    kind = "report -: every kind of result on stdin"
    files = {"s.yaml": SMALL.encode()}
    sweep_csv = b"world_size,step_time_s,samples_per_s,scaling_efficiency\n4,1.0,10,0.9\n8,0.6,16,0.8\n"
    sweep_json = b'[{"world_size": 4, "step_time_s": 1.0, "samples_per_s": 10, "scaling_efficiency": 0.9}]'
    for data in (_RUN_JSON, b"\n  " + _RUN_JSON + b"\n", sweep_csv, sweep_csv.replace(b"\n", b"\r\n"), sweep_json,
                 _RUN_JSON + b"\n" + _RUN_JSON + b"\n", _TRACE_EVENTS, SMALL.encode(), b"\xef\xbb\xbf" + SMALL.encode(),
                 b"# a comment first\n" + SMALL.encode()):  # fmt: skip
        yield Case(kind, ["report", "-", "-o", "{tmp}/o.html"], files, stdin=data, accept=True)
    for data in (b"", b"\n\n", b"hello\n", b"a,b\n1,2\n", b"\xff\xfe", b"[1, 2]", b"{not json\n", b"- a\n- b\n",
                 _RUN_JSON + b"\n{broken\n", b"name: x\n", PROFILE.read_bytes(),
                 b"step_time_s,world_size\n-1,4\n"):  # fmt: skip
        yield Case(kind, ["report", "-", "-o", "{tmp}/o.html"], files, stdin=data, expect_error=True,
                   names="<stdin>", outputs=("{tmp}/o.html",))  # fmt: skip
    yield Case(kind, ["report", "-", "{tmp}/s.yaml", "-o", "{tmp}/o.html"], files, stdin=sweep_csv, accept=True)


def option_ranges() -> Iterator[Case]:
    """A command-line option whose value the command copies into a scenario field is refused under the option's
    name: ``plan --price 1e308`` was blamed on ``<plan>: cluster.price_per_device_hour``, a field the user never
    wrote."""
    kind = "option past the field it sets: named as the option"
    plan = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "64", "--no-progress", "--simulate",
            "0", "--out", "{tmp}/plan.csv"]  # fmt: skip
    for price in ("1e308", "1000001", "a100-80gb=2e6", "1e6.5", "9" * 400):
        yield Case(kind, [*plan, "--price", price], expect_error=True, names="--price", outputs=("{tmp}/plan.csv",))
    yield Case(kind, [*plan, "--price", "1000000"], accept=True)
    yield Case(kind, [*plan, "--price", "a100-80gb=1000000", "--objective", "cost"], accept=True)


def dask_settings() -> Iterator[Case]:
    """Dask's settings from the environment, which it reads when imported: ``DASK_CONFIG`` naming a device (read
    whole: ``/dev/zero`` ran until memory was gone), a folder with a malformed YAML file or a FIFO among its files
    (a ``ValueError`` traceback, a wait), and ``DASK_*`` variables no worker starts with (each worker's traceback
    and ``RuntimeError: Nanny failed to start``). Each is one line naming the variable; in a fresh interpreter."""
    kind = "Dask settings from the environment (DASK_*)"
    files = {"s.yaml": SMALL.encode(), "dc/bad.yaml": b"distributed: [\n", "df/x.yaml": b"<fifo>"}
    sweep = ["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2", "--out", "{tmp}/o.csv"]
    plan = [*_PLAN, "--workers", "2", "--out", "{tmp}/o.csv"]
    for argv, env, names in (
        ([*sweep, "--workers", "2"], {"DASK_CONFIG": "/dev/zero"}, "DASK_CONFIG"),
        (plan, {"DASK_ROOT_CONFIG": "/dev/urandom"}, "DASK_ROOT_CONFIG"),
        ([*sweep, "--workers", "2"], {"DASK_CONFIG": "{tmp}/dc"}, "DASK_CONFIG"),
        ([*sweep, "--workers", "2"], {"DASK_CONFIG": "{tmp}/df"}, "DASK_CONFIG"),
        ([*sweep, "--workers", "2"], {"DASK_DISTRIBUTED__WORKER__MEMORY__TARGET": "bogus"},
         "DASK_DISTRIBUTED__WORKER__MEMORY__TARGET"),
        ([*sweep, "--workers", "2"], {"DASK_TEMPORARY_DIRECTORY": "/proc/dpsim"}, "DASK_TEMPORARY_DIRECTORY"),
        ([*sweep, "--workers", "1"], {"DASK_TEMPORARY_DIRECTORY": "/proc/dpsim", "DASK_X": "1"}, "DASK_*"),
    ):  # fmt: skip
        yield Case(kind, argv, files, subprocess=True, env=env, expect_error=True, names=names,
                   outputs=("{tmp}/o.csv", "{tmp}/o.csv.partial.jsonl"))  # fmt: skip
    yield Case(kind, [*sweep, "--workers", "1"], files, subprocess=True, env={"DASK_CONFIG": "{tmp}/none"}, accept=True)


def catalog_zeros() -> Iterator[Case]:
    """A 0 the scenario gives for a device field whose catalog entry is "none" (0 in the catalog): read as that
    none, without a word. ``matmul_efficiency: 0`` on a catalog A100 ran its GEMMs on the flat default (a step
    25 % shorter), ``peak_flops_fp8: 0`` took the device's FP8 away. Each is that field's own error now; null (and
    leaving it out) is still the catalog's value."""
    kind = "0 over a catalog device's 'none'"
    fields = ("matmul_efficiency", "matmul_efficiency_fp8", "sm_count", "peak_flops_fp8", "peak_flops_fp32",
              "peak_flops_fp32_ieee")  # fmt: skip
    for name in fields:
        for value in ("0", "0.0"):
            yield _set_case(kind, f"cluster.device.{name}={value}", command="check", names=f"cluster.device.{name}")
        yield _set_case(kind, f"cluster.device.{name}=null", command="check", expect_error=False)
        data = SMALL.replace("device: a100-80gb", f"device: {{preset: a100-80gb, {name}: 0}}").encode()
        yield _file_case(kind, data, names=f"cluster.device.{name}")


_PCIE_NODE = ("cluster.intra_node=pcie5", "cluster.host_topology={gpus_per_switch: 2}")
"""SMALL's two GPUs a node on one PCIe switch (``cluster.host_topology``), where NCCL_P2P_LEVEL applies."""


def fields_without_effect() -> Iterator[Case]:
    """``communication.nccl_p2p_level`` on a node without ``cluster.host_topology`` (NVLink, or PCIe without its
    switches): accepted and read nowhere, ``LOC`` (no peer-to-peer at all) included, for the same step to the bit.
    Refused there, naming the field; on a PCIe node it is read."""
    kind = "fields without effect: NCCL_P2P_LEVEL off PCIe"
    field = "communication.nccl_p2p_level"
    for level in ("LOC", "NVL", "PIX", "PXB", "PHB", "SYS"):
        yield _set_case(kind, f"{field}={level}", command="run", names=field)
        yield _set_case(kind, f"{field}={level}", *_PCIE_NODE, command="run", expect_error=False, finite=True)
    yield _set_case(kind, f"{field}=LOC", "cluster.intra_node=pcie4", command="check", names=field)
    yield _set_case(kind, f"{field}=LOC", command="collective", names=field)
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", f"{field}=LOC,SYS"], {"s.yaml": SMALL.encode()},
               expect_error=True, names=field)  # fmt: skip
    yield _file_case(kind, _with("communication: {nccl_p2p_level: PXB}"), command="check", names=field)


_CPU_SMALL = ("cluster.device=cpu", "model.preset=mlp-tiny")
"""SMALL on CPU devices (gloo): ``protocol_of`` is none there, so NCCL's algorithm, protocol and buffer settings
change nothing."""


def nccl_settings_without_nccl() -> Iterator[Case]:
    """``communication.nccl_algo`` / ``nccl_proto`` / ``nccl_buffsize`` on CPU devices (gloo's ring: the same step
    to the bit), ``nccl_pxn_disable`` where NCCL has no PXN relay to turn off (PCIe inside the node, or no
    GPU-to-NIC link), and a ``validate --case`` that sets one path twice (the last value won without a word).
    Refused, naming the field (or ``--case``); where they are read they are accepted."""
    kind = "fields without effect: NCCL settings on gloo / without PXN, a --case path twice"
    for name, value in (("nccl_algo", "tree"), ("nccl_algo", "ring"), ("nccl_proto", "Simple"), ("nccl_proto", "LL"),
                        ("nccl_buffsize", "8MiB"), ("nccl_buffsize", "64KiB")):  # fmt: skip
        field = f"communication.{name}"
        yield _set_case(kind, *_CPU_SMALL, f"{field}={value}", command="run", names=field)
        yield _set_case(kind, *_CPU_SMALL, "communication.algorithm=auto", f"{field}={value}", command="check",
                        names=field)  # fmt: skip
        yield _set_case(kind, f"{field}={value}", command="run", expect_error=False, finite=True)  # an A100: read
        sweep = ["sweep", "{tmp}/s.yaml", "--vary", "cluster.device=a100-80gb,cpu", "--set", f"{field}={value}"]
        yield Case(kind, sweep, {"s.yaml": SMALL.encode()}, expect_error=True, names=field)
    field = "communication.nccl_pxn_disable"
    yield _set_case(kind, *_CPU_SMALL, f"{field}=true", command="run", names=field)
    yield _set_case(kind, f"{field}=true", "cluster.intra_node=pcie4", command="check", names=field)
    yield _set_case(kind, f"{field}=true", *_PCIE_NODE, command="run", names=field)
    yield _set_case(kind, f"{field}=true", command="run", expect_error=False, finite=True)  # NVLink + PCIe to NICs
    yield _set_case(kind, *_CPU_SMALL, f"{field}=false", command="run", expect_error=False, finite=True)
    yield _file_case(kind, _with("communication: {nccl_buffsize: 8 MiB}").replace(b"a100-80gb", b"cpu"),
                     command="check", names="communication.nccl_buffsize")  # fmt: skip
    ring = ("--set", "communication.algorithm=ring")
    for text in ("training.micro_batch=2;training.micro_batch=4", "training.micro_batch=2; training.micro_batch =2",
                 "cluster.nodes=1;training.micro_batch=2;cluster.nodes=2"):  # fmt: skip
        yield Case(kind, ["validate", "{tmp}/s.yaml", *ring, "--case", text, "--out-dir", "{tmp}/v"],
                   {"s.yaml": SMALL.encode()}, expect_error=True, names="--case")  # fmt: skip


def nccl_settings_shadowed() -> Iterator[Case]:
    """NCCL's environment beside a setting that decides it on GPUs: ``communication.nccl_algo`` with a named
    ``algorithm`` (dpsim runs it as ``NCCL_ALGO=<name>`` does; the list was never read, even one that leaves the
    named algorithm out), ``nccl_proto`` with a named ``protocol`` (likewise ``NCCL_PROTO``), and any of the three
    with ``protocol: none`` (the links' alpha-beta, no NCCL). Refused, naming the field; ``auto`` reads them, and
    ``nccl_buffsize`` beside LL/LL128 is kept (NCCL's send/receive still run Simple from that buffer)."""
    kind = "fields without effect: NCCL_ALGO/NCCL_PROTO beside a named algorithm/protocol"
    algo, proto, buff = "communication.nccl_algo", "communication.nccl_proto", "communication.nccl_buffsize"
    for named, listed in (("ring", "ring,tree"), ("tree", "ring"), ("ring", "ring"), ("nvls", "nvls"),
                          ("hierarchical", "ring,tree"), ("direct", "tree")):  # fmt: skip
        yield _set_case(kind, f"communication.algorithm={named}", f"{algo}={listed}", command="check", names=algo)
    yield _set_case(kind, "communication.algorithm=tree", f"{algo}=[ring]", command="collective", names=algo)
    for named, listed in (("Simple", "Simple,LL"), ("LL", "Simple"), ("LL128", "LL128")):
        yield _set_case(kind, f"communication.protocol={named}", f"{proto}={listed}", command="run", names=proto)
    for name, value in ((algo, "ring,tree"), (proto, "Simple"), (buff, "8MiB")):
        yield _set_case(kind, "communication.protocol=none", f"{name}={value}", command="check", names=name)
    sweep = ["sweep", "{tmp}/s.yaml", "--set", f"{algo}=ring,tree", "--vary", "communication.algorithm=auto,tree"]
    yield Case(kind, sweep, {"s.yaml": SMALL.encode()}, expect_error=True, names=algo)
    yield _file_case(kind, _with("communication: {algorithm: ring, nccl_algo: [tree]}"), command="check", names=algo)
    # read: auto picks among them; the buffer beside LL/LL128 sizes NCCL's send/receive
    yield _set_case(kind, f"{algo}=ring,tree", f"{proto}=Simple", command="run", expect_error=False, finite=True)
    yield _set_case(kind, "communication.algorithm=tree", f"{proto}=Simple", command="run", expect_error=False,
                    finite=True)  # fmt: skip
    yield _set_case(kind, "communication.protocol=LL", f"{algo}=ring,tree", command="run", expect_error=False,
                    finite=True)  # fmt: skip
    yield _set_case(kind, "communication.protocol=LL", f"{buff}=8MiB", command="run", expect_error=False, finite=True)


def overlapping_paths() -> Iterator[Case]:
    """A sweep's ``--vary`` or a ``validate --case`` that sets a path and a path inside it, where one decides the
    field both set: ``training.micro_batch=1,2`` before ``training={...}`` (the map replaced it at every grid
    point: the rows said micro-batch 1 and 2 and ran the same), ``training={micro_batch: 2}`` before
    ``training.micro_batch`` (the map's value overwritten), ``cluster.device.matmul_efficiency`` before
    ``cluster.device`` (dropped: 0.5 and 0.6 printed the same step). Refused, naming the option; a path set inside a
    value that does not hold it (a device preset, then its efficiency) runs."""
    kind = "a --vary / --case path and a path inside it"
    files = {"s.yaml": SMALL.encode()}
    sweep = ["sweep", "{tmp}/s.yaml", "--out", "{tmp}/o.csv"]
    for varies in (
        ("training.micro_batch=1,2", "training={global_batch: 8, micro_batch: 2}"),
        ("training={global_batch: 8, micro_batch: 2},{global_batch: 16, micro_batch: 2}", "training.micro_batch=1,2"),
        ("cluster.device.matmul_efficiency=0.5,0.6", "cluster.device=a100-80gb,h100-sxm"),
        ("cluster.device=a100-80gb,h100-sxm", "cluster.device.preset=v100"),
        ("cluster.nodes=1,2", "cluster={nodes: 2, workers_per_node: 2, device: a100-80gb}"),
    ):
        argv = [*sweep, *(x for v in varies for x in ("--vary", v))]
        yield Case(kind, argv, files, expect_error=True, names="--vary", outputs=("{tmp}/o.csv",))
    for varies in (
        ("cluster.device=a100-80gb,h100-sxm", "cluster.device.matmul_efficiency=0.5,0.6"),
        ("training={global_batch: 16}", "training.micro_batch=1,2"),
        ("cluster.device.matmul_efficiency=0.5,0.6", "cluster.nodes=1,2"),
    ):
        yield Case(kind, ["sweep", "{tmp}/s.yaml", *(x for v in varies for x in ("--vary", v))], files, accept=True)
    validate = ["validate", "{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--out-dir", "{tmp}/v"]
    for text in ("training={global_batch: 8, micro_batch: 2};training.micro_batch=1",
                 "training.micro_batch=1;training={global_batch: 8}",
                 "cluster={nodes: 2, workers_per_node: 2, device: cpu};cluster.nodes=1"):  # fmt: skip
        yield Case(kind, [*validate, "--case", text], files, expect_error=True, names="--case", outputs=("{tmp}/v",))
    yield Case(kind, [*validate, "--vary", "training.micro_batch=1,2", "--vary", "training={global_batch: 8}"], files,
               expect_error=True, names="--vary", outputs=("{tmp}/v",))  # fmt: skip


def plan_devices_without_curves() -> Iterator[Case]:
    """``plan --device v100`` and ``--device cpu``: the catalog writes their ``memory_efficiency`` as 0 ("none",
    the scenario's default), and the plan's screen divided by it: a ``RuntimeWarning`` on stderr, every step inf,
    then "no feasible configuration: with a node failing every 0 ns (--node-mtbf)", an option never given; beside
    another device their rows fell silently to the bottom. Each plans now, as ``predict`` prices them."""
    kind = "plan on a device whose catalog leaves a field out"
    plan = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "64", "--no-progress", "--simulate", "0"]
    for devices in (("v100",), ("cpu",), ("v100", "a100-80gb"), ("cpu", "v100")):
        argv = [*plan, *(x for d in devices for x in ("--device", d))]
        yield Case(kind, argv, accept=True)
        yield Case(kind, [*argv, "--format", "json"], accept=True, strict_json=True)
    yield Case(kind, [*plan, "--device", "v100", "--objective", "cost", "--price", "2"], accept=True)
    yield Case(kind, [*plan, "--device", "v100", "--node-mtbf", "50000 h", "--checkpoint-write", "60 s"], accept=True)


_H100 = ("cluster.device=h100-sxm", "cluster.intra_node=nvlink4")
"""SMALL on H100s joined by NVLink 4 (an NVSwitch that reduces: NVLS can run)."""


def nvls_where_it_cannot_run() -> Iterator[Case]:
    """``communication.algorithm: nvls`` / ``nvls-tree`` where the data-parallel all-reduce cannot run it (no
    NVSwitch that reduces, one GPU a node, a DP group with TP or PP, the LL protocols): ``check`` said valid, and
    ``run`` failed once the step was priced, blamed on ``<scenario>``; ``plan --algorithm nvls`` stopped on the same
    error. Refused by the scenario check where the gradients are all-reduced, naming the field; a plan leaves such
    layouts out. Without data parallelism it runs; with ZeRO's reduce-scatter (a ring whatever the algorithm) it is
    refused as every all-reduce algorithm there is (:func:`named_algorithm_under_zero`)."""
    kind = "a named NVLS all-reduce where it cannot run"
    alg = "communication.algorithm"
    for sets in (("communication.algorithm=nvls",), ("communication.algorithm=nvls-tree",),
                 (*_H100, "communication.algorithm=nvls", "cluster.workers_per_node=1", "training.global_batch=4"),
                 (*_H100, "communication.algorithm=nvls-tree", "training.tensor_parallel=2", "training.global_batch=4"),
                 (*_H100, "communication.algorithm=nvls", "training.pipeline_parallel=2", "training.global_batch=4"),
                 (*_H100, "communication.algorithm=nvls", "cluster.intra_topology=hybrid-cube-mesh")):  # fmt: skip
        yield _set_case(kind, *sets, command="check", names=alg)
    yield _set_case(kind, "communication.algorithm=nvls", command="run", names=alg)
    yield _set_case(kind, "communication.algorithm=nvls", command="collective", names=alg)
    yield _set_case(kind, *_H100, "communication.algorithm=nvls", "communication.protocol=LL", command="check",
                    names="communication.protocol")  # fmt: skip
    yield _set_case(kind, *_H100, "communication.algorithm=nvls-tree", "communication.nccl_proto=LL,LL128",
                    command="check", names="communication.nccl_proto")  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "communication.algorithm=ring,nvls"],
               {"s.yaml": SMALL.encode()}, expect_error=True, names=alg)  # fmt: skip
    plan = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "64", "--no-progress", "--simulate", "0"]
    yield Case(kind, [*plan, "--algorithm", "nvls", "--tp", "1", "--pp", "1", "--min-devices", "2", "--zero", "0"],
               expect_error=True, names="NVLS")  # fmt: skip
    yield Case(kind, [*plan, "--algorithm", "nvls"], accept=True)  # layouts without an all-reduce of the gradients
    yield Case(kind, [*plan, "--algorithm", "ring,nvls", "--device", "h100-sxm"], accept=True)
    yield Case(kind, [*plan, "--algorithm", "nvls-tree", "--device", "h100-sxm", "--min-devices", "16"], accept=True)
    # where it runs: NVSwitch, the whole node in the group; or no data parallelism (no all-reduce)
    yield _set_case(kind, *_H100, "communication.algorithm=nvls", command="run", expect_error=False, finite=True)
    yield _set_case(kind, *_H100, "communication.algorithm=nvls-tree", "communication.protocol=Simple",
                    command="run", expect_error=False, finite=True)  # fmt: skip
    yield _set_case(kind, "communication.algorithm=nvls", "cluster.nodes=1", "cluster.workers_per_node=1",
                    "training.global_batch=2", command="run", expect_error=False, finite=True)  # fmt: skip
    # ZeRO-3 reduce-scatters with the ring whatever the algorithm: refused since round 13 (named_algorithm_under_zero)
    yield _set_case(kind, "communication.algorithm=nvls", "training.zero_stage=3", command="run", names=alg)


def options_needing_another() -> Iterator[Case]:
    """An option that changes nothing unless another is given: ``calibrate --dtype fp16`` / ``--gemm-sizes``
    without ``--compute`` (the links were measured, the dtype never used), ``--rates`` on the local testbed,
    measuring options beside ``--compute`` or ``--from-nccl-tests`` / ``--from-trace``, ``validate
    --max-residual`` / ``--calibrate-ranks`` beside ``--profile``, ``plan --currency`` without ``--price`` and
    ``--restart`` / ``--checkpoint-write`` without ``--node-mtbf`` (the same plan to the byte). Each ran without a
    word; refused now, naming the option, before anything is measured or written."""
    kind = "options that change nothing without another"
    files = {"s.yaml": SMALL.encode()}
    out = ("{tmp}/p.yaml",)
    calibrate = ["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml"]
    for extra, names in (
        (("--dtype", "fp16"), "--dtype"), (("--gemm-sizes", "256,512"), "--gemm-sizes"),
        (("--compute", "--ranks", "2,3"), "--ranks"), (("--compute", "--testbed", "local"), "--testbed"),
        (("--compute", "--max-residual", "0.1"), "--max-residual"), (("--rates", "1 Gbit/s"), "--rates"),
        (("--testbed", "local", "--rates", "1 Gbit/s"), "--rates"),
    ):  # fmt: skip
        yield Case(kind, [*calibrate, *extra], files, expect_error=True, names=names, outputs=out)
    files_in = ["calibrate", "--out", "{tmp}/p.yaml", "--from-nccl-tests", str(NCCL_TESTS)]
    for extra, names in ((("--sizes", "8KiB,1MiB"), "--sizes"), (("--compute",), "--compute"),
                         (("--device", "cpu"), "--device"), (("--reps", "3"), "--reps")):  # fmt: skip
        yield Case(kind, [*files_in, *extra], files, expect_error=True, names=names, outputs=out)
    yield Case(kind, [*files_in, "--link-class", "intra"], files, accept=True)  # the class the file measured
    validate = ["validate", "{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--case", "training.micro_batch=1",
                "--out-dir", "{tmp}/v", "--profile", "{tmp}/s.yaml"]  # fmt: skip
    for extra, names in ((("--max-residual", "0.1"), "--max-residual"), (("--calibrate-ranks", "2,3"),
                                                                          "--calibrate-ranks")):  # fmt: skip
        yield Case(kind, [*validate, *extra], files, expect_error=True, names=names, outputs=("{tmp}/v",))
    plan = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "64", "--no-progress", "--simulate", "0",
            "--out", "{tmp}/plan.csv"]  # fmt: skip
    for extra, names in ((("--currency", "EUR"), "--currency"), (("--restart", "1 h"), "--restart"),
                         (("--checkpoint-write", "60 s"), "--checkpoint-write")):  # fmt: skip
        yield Case(kind, [*plan, *extra], expect_error=True, names=names, outputs=("{tmp}/plan.csv",))
    yield Case(kind, [*plan, "--price", "2", "--currency", "EUR"], accept=True)
    yield Case(kind, [*plan, "--node-mtbf", "50000 h", "--restart", "1 h", "--checkpoint-write", "60 s"], accept=True)


def misspelled_required_keys() -> Iterator[Case]:
    """A required key misspelled (``global_bach``, ``modle``) or supplied through a YAML 1.1 merge key: the error
    said the right name was missing ("training.global_batch: required field is missing") and never named the key
    written; now the unknown key, with its did-you-mean, comes first."""
    kind = "misspelled required keys"
    for old, new, names in (
        ("global_batch: 8", "global_bach: 8", "did you mean 'global_batch'"),
        ("global_batch: 8", "globalbatch: 8", "did you mean 'global_batch'"),
        ("model: {", "modle: {", "did you mean 'model'"),
        ("cluster:\n", "clustre:\n", "did you mean 'cluster'"),
        ("training: {", "trainig: {", "did you mean 'training'"),
        ("device: a100-80gb", "devise: a100-80gb", "did you mean 'device'"),
        ("training: {global_batch: 8, micro_batch: 2}", "training:\n  <<: {global_batch: 8}\n  micro_batch: 2",
         "training.<<"),
        ("training: {global_batch: 8, micro_batch: 2}",
         "training:\n  <<: [{global_batch: 8}, {micro_batch: 2}]", "training.<<"),
    ):  # fmt: skip
        yield _file_case(kind, _replace(old, new), command="check", names=names)
        yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "training.zero_stage=0,1"], {"s.yaml": _replace(old, new)},
                   expect_error=True, names=names)  # fmt: skip


def top_level_fields() -> Iterator[Case]:
    """An error in the scenario's one top-level scalar, ``name``: named "(top level): name", and blamed on the file
    when ``--set`` gave it; and any value a sweep's ``--vary`` gave, blamed on the file. Now ``name``, and the
    command line for what it gave."""
    kind = "top-level name / --vary values: named and placed"
    long = "n" * 201
    for value in (long, "'a\u2028b'", '"a\\x00b"', '"\\ufeffsmall"', '"\\e[31m"'):
        yield _set_case(kind, f"name={value}", command="check", names="<command line>: name: ")
        yield _file_case(kind, _replace("name: small", f"name: {value}"), command="check", names="s.yaml: name: ")
    for vary, names in (
        (f"name=a,{long}", "name"),
        ("cluster.nodes=1,x", "cluster.nodes"),
        ("training.micro_batch=2,-1", "training.micro_batch"),
        ("variability.stragglers=[],[{worker: 9, slowdown: 2}]", "variability.stragglers.0.worker"),
    ):
        yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", vary], {"s.yaml": SMALL.encode()}, expect_error=True,
                   names=f"<command line>: {names}: ")  # fmt: skip


def large_documents() -> Iterator[Case]:
    """Documents past the loader's 100,000 keys and values without a single alias (a long list of stragglers): the
    error said "aliases expand to more than 100,000 nodes". Now it says what is too large; an alias bomb still
    names its aliases. And a list just under the limit runs."""
    kind = "large documents without aliases"
    for section, entry in (
        ("stragglers", "{{worker: {}, slowdown: 1.0}}"),
        ("degraded_links", "{{node: {}, factor: 1}}"),
    ):
        entries = ", ".join(entry.format(i % 2) for i in range(25_000))  # 5 nodes each
        yield _file_case(kind, _with(f"variability: {{{section}: [{entries}]}}"), command="check",
                         names="100,000 keys and values")  # fmt: skip
    big = "[" + ", ".join(["1"] * 100_500) + "]"
    yield _file_case(kind, _with(f"extra: {big}"), command="check", names="100,000 keys and values")
    entries = ", ".join(f"{{worker: {i % 4}, slowdown: 1.0}}" for i in range(2_000))
    yield _file_case(kind, _with(f"variability: {{stragglers: [{entries}]}}"), command="check", expect_error=False)
    yield _file_case(kind, _with("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(6))), command="check", names="aliases expand")  # fmt: skip


def plan_cost_guard() -> Iterator[Case]:
    """``plan`` whose screen is past the cost guard (a device count near the million ranks ``--max-devices``
    allows, a batch that lets every count train): the refusal said "use fewer ranks (cluster.nodes,
    cluster.workers_per_node)", fields no plan user writes. It names ``--max-devices`` now."""
    kind = "plan past the cost guard: named as --max-devices"
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1T", "--global-batch", "8589934592", "--no-progress",
            "--simulate", "0", "--top", "2", "--out", "{tmp}/p.csv"]  # fmt: skip
    # past the memory limit even with --allow-long: direct over 8,192 ranks (a million ranks were, while the guard
    # charged ZeRO-1 an all-reduce and an all-gather its step does not price: 8.05 GiB; 2.73 GiB now, runs)
    direct = ("--algorithm", "direct", "--allow-long")
    for devices, extra in (("1048576", ()), ("16384", direct), ("524288", ()), ("9" * 30, ())):
        yield Case(kind, [*plan, "--max-devices", devices, *extra], expect_error=True, names="--max-devices",
                   outputs=("{tmp}/p.csv",))  # fmt: skip


def runtime_variables() -> Iterator[Case]:
    """The runtime's own variables: ``DPSIM_LAUNCHER_PID`` (set by the launcher for its ranks) that is not a process
    id (an ``int()`` traceback in the rank), and ``DPSIM_SAVE_PARAMETERS`` (where rank 0 saves the trained
    parameters) in a folder that does not exist, on a folder or in /proc (written only once every step had run:
    under torchrun, after joining). Refused before a rank starts, naming the variable."""
    kind = "runtime variables: DPSIM_LAUNCHER_PID / DPSIM_SAVE_PARAMETERS"
    files = {"s.yaml": SMALL.encode()}
    run = ["{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--out", "{tmp}/r.jsonl"]
    for pid in ("abc", "-5", "0", "9" * 30, "\u0661\u0662", " 12", "1e3"):
        yield Case(kind, [*run, "--worker"], files, env={**_RENDEZVOUS, "DPSIM_LAUNCHER_PID": pid}, expect_error=True,
                   names="DPSIM_LAUNCHER_PID", outputs=("{tmp}/r.jsonl",), program="runtime")  # fmt: skip
    for path in ("{tmp}/nodir/p.pt", "{tmp}", "{tmp}/", "/proc/p.pt", "{tmp}/s.yaml/p.pt", "{tmp}/" + "x" * 300):
        for env in (_RENDEZVOUS, {}):  # a rank under torchrun, and the launcher
            yield Case(kind, run, files, env={**env, "DPSIM_SAVE_PARAMETERS": path}, expect_error=True,
                       names="DPSIM_SAVE_PARAMETERS", outputs=("{tmp}/r.jsonl",), program="runtime")  # fmt: skip


_STAGES = ("training.pipeline_parallel=2", "training.global_batch=4")
"""SMALL with two pipeline stages (two data-parallel ranks)."""


def zero_with_pipeline_stages() -> Iterator[Case]:
    """DeepSpeed ZeRO-2/3 with pipeline parallelism: DeepSpeed's ``PipelineEngine`` asserts "ZeRO-2 and ZeRO-3 are
    incompatible with pipeline parallelism" (``deepspeed/runtime/pipe/engine.py``, #980), yet the scenario loaded and
    ``plan --zero 2,3 --pp 2,4`` proposed such layouts. Refused, naming ``training.zero_stage``; the plan leaves them
    out. ZeRO-1 and FSDP (torchtitan runs FSDP with pipeline stages) run."""
    kind = "DeepSpeed ZeRO-2/3 with pipeline stages"
    field = "training.zero_stage"
    for zero, command in ((2, "check"), (3, "run"), (2, "collective"), (3, "check")):
        yield _set_case(kind, *_STAGES, f"{field}={zero}", command=command, names=field)
    yield _set_case(kind, *_STAGES, f"{field}=3", "training.pipeline_schedule=gpipe", command="run", names=field)
    sets = [x for s in _STAGES for x in ("--set", s)]
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", f"{field}=1,2", *sets], {"s.yaml": SMALL.encode()},
               expect_error=True, names=field)  # fmt: skip
    yield _file_case(kind, _replace("training: {global_batch: 8, micro_batch: 2}",
                                    "training: {global_batch: 4, micro_batch: 2, pipeline_parallel: 2, zero_stage: 3}"),
                     command="check", names=field)  # fmt: skip
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "64", "--no-progress", "--simulate",
            "0"]  # fmt: skip
    yield Case(kind, [*plan, "--zero", "2,3", "--pp", "2,4"], expect_error=True, names="DeepSpeed refuses ZeRO-2/3")
    yield Case(kind, [*plan, "--zero", "3", "--pp", "1,2", "--format", "json"], accept=True, strict_json=True)
    yield _set_case(kind, *_STAGES, f"{field}=1", command="run", expect_error=False, finite=True)
    yield _set_case(kind, *_STAGES, f"{field}=3", "training.optimizer_sharding=fsdp", command="run",
                    expect_error=False, finite=True)  # fmt: skip


def named_algorithm_under_zero() -> Iterator[Case]:
    """A named all-reduce algorithm (NCCL's tree, NVLS, the textbook ones) where the data-parallel group all-reduces
    nothing: ZeRO-1/2/3 (DeepSpeed), FSDP and Megatron's distributed optimizer reduce-scatter the gradients and
    all-gather the parameters, which run the ring whatever the algorithm (tree and NVLS priced the ring's step to the
    bit). Refused, naming the field; ``plan --algorithm tree --zero 1,2,3`` names the rule. Read where gradients are
    all-reduced: DeepSpeed's all-reducing ZeRO-1, torch's ZeroRedundancyOptimizer, HYBRID_SHARD's replicas."""
    kind = "a named all-reduce algorithm under ZeRO"
    alg = "communication.algorithm"
    for sets, command in (
        (("training.zero_stage=1", f"{alg}=tree"), "check"),
        (("training.zero_stage=2", f"{alg}=nvls"), "run"),
        (("training.zero_stage=3", f"{alg}=nvls-tree"), "collective"),
        (("training.zero_stage=2", f"{alg}=halving-doubling"), "run"),
        (("training.zero_stage=1", "training.optimizer_sharding=megatron", f"{alg}=direct"), "check"),
        (("training.zero_stage=3", "training.optimizer_sharding=fsdp", f"{alg}=parameter-server"), "check"),
        (("training.zero_stage=2", "training.optimizer_sharding=fsdp", f"{alg}=tree"), "check"),
    ):
        yield _set_case(kind, *sets, command=command, names=alg)
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "training.zero_stage=0,1", "--set", f"{alg}=tree"],
               {"s.yaml": SMALL.encode()}, expect_error=True, names=alg)  # fmt: skip
    yield _file_case(kind, _with("communication: {algorithm: tree}").replace(b"micro_batch: 2}", b"micro_batch: 2, "
                                                                             b"zero_stage: 3}"),
                     command="check", names=alg)  # fmt: skip
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "64", "--no-progress", "--simulate",
            "0"]  # fmt: skip
    yield Case(kind, [*plan, "--algorithm", "tree", "--zero", "1,2,3"], expect_error=True,
               names="ZeRO reduce-scatters")  # fmt: skip
    yield Case(kind, [*plan, "--algorithm", "tree,ring", "--zero", "0,3"], accept=True)
    for sets in (("training.zero_stage=1", "training.zero1_gradient_allreduce=true", f"{alg}=tree"),
                 ("training.zero_stage=1", "training.optimizer_sharding=torch", f"{alg}=halving-doubling"),
                 ("training.zero_stage=3", "training.optimizer_sharding=fsdp", "training.fsdp_shard_group=2",
                  f"{alg}=tree"),
                 ("training.zero_stage=2", f"{alg}=hierarchical"), ("training.zero_stage=3", f"{alg}=backend"),
                 ("training.zero_stage=3", f"{alg}=tree", "cluster.nodes=1", "cluster.workers_per_node=1",
                  "training.global_batch=2")):  # fmt: skip
        yield _set_case(kind, *sets, command="run", expect_error=False, finite=True)


def nccl_release_without_nccl() -> Iterator[Case]:
    """``communication.nccl_version`` with ``protocol: none`` (``collective`` printed no release: the links' alpha-beta)
    or with algorithm and protocol both named (a release's tuner tables pick; every release prices a schedule alike),
    and NCCL's release, protocol, ``NCCL_PROTO`` or buffer beside a textbook algorithm (hierarchical, halving-doubling,
    direct, parameter-server) whose step has no NCCL collective: the same step to the bit. Refused, naming the field
    (``backend`` on a catalog GPU is NCCL's own pick: read). Where auto picks the release is read, a TP group across
    nodes runs NCCL's ring; and ``auto`` with ``protocol: LL`` on an NVSwitch node, which failed once priced (NVLS,
    Simple only, among auto's candidates), runs."""
    kind = "NCCL release/protocol where NCCL does not run"
    version = "communication.nccl_version"
    none = "communication.protocol=none"
    for command in ("check", "run", "collective"):
        yield _set_case(kind, none, f"{version}=2.25.1", command=command, names=version)
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--set", none, "--vary", f"{version}=2.25.1,2.30.7"],
               {"s.yaml": SMALL.encode()}, expect_error=True, names=version)  # fmt: skip
    for algorithm, name, value in (("hierarchical", "nccl_version", "2.27.7"), ("halving-doubling", "protocol", "LL"),
                                   ("direct", "nccl_proto", "LL,Simple"), ("hierarchical", "nccl_buffsize", "8MiB"),
                                   ("parameter-server", "protocol", "Simple")):  # fmt: skip
        yield _set_case(kind, f"communication.algorithm={algorithm}", f"communication.{name}={value}",
                        command="check", names=f"communication.{name}")  # fmt: skip
    # backend on a catalog GPU is NCCL's own pick: it reads NCCL's buffer, protocol list and release as auto does
    for name, value in (("nccl_buffsize", "8MiB"), ("nccl_proto", "LL,Simple"), ("nccl_version", "2.25.1")):
        yield _set_case(kind, "communication.algorithm=backend", f"communication.{name}={value}", command="run",
                        expect_error=False, finite=True)  # fmt: skip
    yield _set_case(kind, *_H100, "communication.algorithm=hierarchical", "training.pipeline_parallel=2",
                    "training.global_batch=4", f"{version}=2.25.1", command="run", names=version)  # fmt: skip
    yield _set_case(kind, *_H100, "communication.algorithm=nvls-tree", none, f"{version}=2.25.1", command="run",
                    names=version)  # fmt: skip
    for algorithm, protocol in (("tree", "LL"), ("ring", "Simple"), ("nvls", "Simple")):
        yield _set_case(kind, *_H100, f"communication.algorithm={algorithm}", f"communication.protocol={protocol}",
                        f"{version}=2.25.1", command="check", names=version)  # fmt: skip
    yield _set_case(kind, *_H100, f"{version}=2.25.1", command="run", expect_error=False, finite=True)  # auto picks
    yield _set_case(kind, *_H100, "communication.algorithm=tree", f"{version}=2.25.1", command="run",
                    expect_error=False, finite=True)  # fmt: skip  # the protocol is picked
    yield _set_case(kind, "communication.algorithm=hierarchical", "training.tensor_parallel=4", f"{version}=2.25.1",
                    command="run", expect_error=False, finite=True)  # fmt: skip
    for protocol in ("LL", "LL128"):
        sets = (*_H100, f"communication.protocol={protocol}")
        yield Case(kind, ["run", "{tmp}/s.yaml", *(x for s in sets for x in ("--set", s)), "--format", "json"],
                   {"s.yaml": SMALL.encode()}, accept=True, strict_json=True)  # fmt: skip
        yield Case(kind, ["run", "{tmp}/s.yaml", *(x for s in sets for x in ("--set", s)), "--engine", "sim"],
                   {"s.yaml": SMALL.encode()}, accept=True)  # fmt: skip
        yield Case(kind, ["collective", "{tmp}/s.yaml", *(x for s in sets for x in ("--set", s)), "--sizes",
                          "1KiB..1GiB"], {"s.yaml": SMALL.encode()}, accept=True)  # fmt: skip


def release_spellings() -> Iterator[Case]:
    """``communication.nccl_version`` spelled otherwise than a release dpsim carries: a float (YAML's 2.30), a
    leading ``v``, a build suffix, full-width digits, an invisible character, a list, an escape, 5,000 characters,
    ``.nan``, releases before v2.18.3 or after v2.30.7. One line naming the field each."""
    kind = "nccl_version spellings"
    field = "communication.nccl_version"
    for value in ("2.30", "2.3", "'2.30.7 '", "v2.30.7", "'2.30.7\u200b'", "'\uff12.30.7'", "[2.30.7]", "{}", "true",
                  "2.30.7-1", "'2.30.7+cuda12.2'", "2.17.1", "2.31.0", "''", r'"\e[31m"', "7" * 5000, "2.30.7.0",
                  "02.30.7", "1e308", ".nan", "-2.30.7"):  # fmt: skip
        yield _set_case(kind, f"{field}={value}", command="check", names=field)
    yield _file_case(kind, _with("communication: {nccl_version: 2.30}"), command="check", names=field)


def plan_extremes() -> Iterator[Case]:
    """``plan`` at the ends of its ranges: a millionth of a token or 10^24 tokens, a node failing every second with
    10^24 tokens (goodput near 1e-17), a zero or near-zero price, a deadline of a nanosecond, one sample a step;
    and past them (10^25 tokens, 0, -1, inf, nan, 1e308, a price above a million). A result has no inf or nan
    (strict JSON) and the rest is one line naming the option."""
    kind = "plan time to train at extremes"
    plan = ["plan", "--model", "gpt2-xl", "--max-devices", "64", "--no-progress", "--simulate", "0", "--top", "2"]
    most = ("--tokens", "1e24")
    for extra in (("--tokens", "1e-6"), most, ("--tokens", "0.5"), (*most, "--node-mtbf", "1 s"),
                  (*most, "--price", "0"), (*most, "--price", "1e-300"), (*most, "--price", "1e6"),
                  (*most, "--price", "2", "--deadline", "1 ns"), (*most, "--global-batch", "1")):  # fmt: skip
        yield Case(kind, [*plan, *extra, "--format", "json"], accept=True, strict_json=True)
    yield Case(kind, [*plan, *most, "--node-mtbf", "1 h", "--checkpoint-write", "9e9 s"], expect_error=True,
               names="--node-mtbf")  # fmt: skip  # a checkpoint of 285 years: never trains
    for tokens in ("1e25", "0", "-1", "inf", "nan", "1e308", "1e-7", "1e24 tokens", "\u0661"):
        yield Case(kind, [*plan, "--tokens", tokens], expect_error=True, names="--tokens")
    yield Case(kind, [*plan, "--tokens", "1B", "--price", "1e7"], expect_error=True, names="--price")
    yield Case(kind, [*plan, "--tokens", "1B", "--node-mtbf", "1 ns"], expect_error=True, names="--node-mtbf")


def runtime_outputs_at_one_path() -> Iterator[Case]:
    """``python -m runtime`` writing two outputs at one path: ``DPSIM_SAVE_PARAMETERS`` naming the ``--out`` records
    (the parameters saved there, then the record appended to them: neither readable) or the ``--trace``, under its
    own name, through a linked folder or ``..``; and ``--out`` / ``--trace`` through a linked folder (their check
    compared the paths as written). Refused before a rank starts, naming the later one; on the old main each trained
    (a CPU MLP, one step). Distinct paths run."""
    kind = "runtime outputs at one path"
    files = {"s.yaml": CPU_SCENARIO.read_bytes(), "sub/x": b"x"}
    links = {"dirlink": "{tmp}"}
    run = ["{tmp}/s.yaml", "--out", "{tmp}/r.jsonl", "--steps", "1", "--warmup-steps", "0"]
    save = "DPSIM_SAVE_PARAMETERS"
    for path in ("{tmp}/r.jsonl", "{tmp}/dirlink/r.jsonl", "{tmp}/sub/../r.jsonl"):
        yield Case(kind, run, files, links=links, env={save: path}, expect_error=True, names=f"{save}: ",
                   outputs=("{tmp}/r.jsonl",), program="runtime")  # fmt: skip
    for path in ("{tmp}/t.json", "{tmp}/dirlink/t.json"):
        yield Case(kind, [*run, "--trace", "{tmp}/t.json"], files, links=links, env={save: path}, expect_error=True,
                   names=f"{save}: ", outputs=("{tmp}/r.jsonl", "{tmp}/t.json"), program="runtime")  # fmt: skip
    for trace in ("{tmp}/dirlink/r.jsonl", "{tmp}/sub/../r.jsonl"):
        yield Case(kind, [*run, "--trace", trace], files, links=links, expect_error=True, names="--trace: ",
                   outputs=("{tmp}/r.jsonl",), program="runtime")  # fmt: skip


def transformer_fields_on_other_models() -> Iterator[Case]:
    """A transformer's fields on an ``mlp`` or ``cnn`` model (``model.fp8_linear: te_linear`` under FP8, heads,
    ``seq_len``, attention and kernel choices, ...): accepted and read by nothing, the same step to the bit.
    Refused, naming the field; on the transformer they shape they run."""
    kind = "transformer fields on other models"
    for name, value in (("fp8_linear", "te_linear"), ("heads", "8"), ("seq_len", "2048"), ("vocab", "50257"),
                        ("attention", "flash"), ("gated_mlp", "true"), ("dropout", "false"), ("causal", "false"),
                        ("norm_kernel", "torch_two_pass"), ("rope_kernels", "rotate_half"), ("rotary_fraction", "0.5"),
                        ("loss_kernel", "torch"), ("kv_heads", "2"), ("ffn_hidden", "4096"),
                        ("logit_metrics", "1"), ("elementwise", "eager")):  # fmt: skip
        for preset, command in (("mlp-tiny", "check"), ("resnet-50", "run")):
            sets = (f"model.preset={preset}", f"model.{name}={value}")
            if name == "fp8_linear":
                sets = ("cluster.device=h100-sxm", "training.precision=fp8", *sets)
            yield _set_case(kind, *sets, command=command, names=f"model.{name}")
    yield _file_case(kind, _replace("model: {preset: gpt2-small}", "model: {kind: mlp, layers: 4, hidden: 512, "
                                    "seq_len: 1024}"), command="check", names="model.seq_len")  # fmt: skip
    yield _set_case(kind, "cluster.device=h100-sxm", "training.precision=fp8", "model.fp8_linear=te_linear",
                    command="run", expect_error=False, finite=True)  # fmt: skip
    yield _set_case(kind, "model.preset=mlp-tiny", "model.layers=6", "model.hidden=256", command="run",
                    expect_error=False, finite=True)  # fmt: skip


def plan_simulate_past_top() -> Iterator[Case]:
    """``plan --simulate N`` above ``--top``: the simulator re-checks the best of the rows shown, so ``--simulate 20``
    beside the default ``--top 10`` was cut to 10 without a word. Refused, naming ``--simulate``; left out it is 3, or
    ``--top`` when that is fewer (``--top 1`` alone runs)."""
    kind = "plan --simulate past --top"
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8", "--no-progress"]
    for extra in (("--simulate", "20"), ("--simulate", "11"), ("--simulate", "5", "--top", "3"),
                  ("--top", "1", "--simulate", "2"), ("--simulate", "501", "--top", "500"),
                  ("--simulate", "9" * 30)):  # fmt: skip
        yield Case(kind, [*plan, *extra, "--out", "{tmp}/p.csv"], expect_error=True, names="--simulate",
                   outputs=("{tmp}/p.csv",))  # fmt: skip
    for extra in (("--top", "1"), ("--top", "2", "--simulate", "2"), ("--top", "3", "--simulate", "0")):
        yield Case(kind, [*plan, *extra, "--format", "json"], accept=True, strict_json=True)


_FITTED_PROFILE = b"""\
name: nccl-tests
backend: nccl
links:
  inter:
    ring: {latency: 3.314 us, bandwidth: 394.1 GB/s}
"""
"""A profile with a fitted inter-node ring link (as ``calibrate --from-nccl-tests`` writes from 8 GPUs' output)."""


def nccl_settings_beside_a_fitted_profile() -> Iterator[Case]:
    """NCCL's settings (``nccl_version``, a named protocol, ``nccl_proto``, ``nccl_algo``, ``nccl_buffsize``) beside a
    calibration profile whose fitted links replace the scenario's for its algorithm: every collective of the step is
    priced on the measured alpha-beta with ``protocol: none``, the same step to the bit, accepted without a word.
    Refused by every command that reads the profile, naming the field; read where the profile has no link for the
    algorithm (the tree), and the profile alone runs."""
    kind = "NCCL settings beside a profile's fitted links"
    files = {"s.yaml": SMALL.encode() + b"calibration: {profile: p.yaml}\n", "p.yaml": _FITTED_PROFILE}
    settings = (("nccl_version", "2.18.3"), ("protocol", "LL"), ("nccl_proto", "LL,Simple"), ("nccl_algo", "tree"),
                ("nccl_buffsize", "1MiB"), ("protocol", "Simple"))  # fmt: skip
    for i, (name, value) in enumerate(settings):
        command = ("check", "run", "collective")[i % 3]
        field = f"communication.{name}"
        yield Case(kind, [command, "{tmp}/s.yaml", "--set", f"{field}={value}"], files, expect_error=True,
                   names=field)  # fmt: skip
    yield Case(kind, ["run", "{tmp}/s.yaml", "--set", "communication.nccl_version=2.25.1", "--engine", "sim"], files,
               expect_error=True, names="communication.nccl_version")  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "communication.nccl_version=2.25.1,2.30.7", "--out",
                      "{tmp}/o.csv"], files, expect_error=True, names="communication.nccl_version",
               outputs=("{tmp}/o.csv",))  # fmt: skip
    yield Case(kind, ["run", "{tmp}/s.yaml", "--set", "communication.algorithm=tree", "--set",
                      "communication.nccl_version=2.18.3", "--format", "json"], files, accept=True,
               strict_json=True)  # fmt: skip
    for argv in (["run", "{tmp}/s.yaml", "--format", "json"], ["run", "{tmp}/s.yaml", "--engine", "sim"],
                 ["collective", "{tmp}/s.yaml", "--sizes", "1KiB..1GiB"],
                 ["run", "{tmp}/s.yaml", "--set", "communication.protocol=none"]):  # fmt: skip
        yield Case(kind, argv, files, accept=True)


def nvls_chunk_variables() -> Iterator[Case]:
    """``communication.nccl_nvls_chunksize`` (``NCCL_NVLS_CHUNKSIZE``) and ``nccl_nvlstree_max_chunksize``
    (``NCCL_NVLSTREE_MAX_CHUNKSIZE``) where NCCL does not read them: an ``nccl_version`` before the release that
    added the variable (v2.21.5, v2.20.3), a node without an NVSwitch that reduces or with one GPU (no NVLS runs),
    CPU devices (gloo), ``protocol: none``, a textbook algorithm, a calibration profile's fitted links, and sizes
    NCCL's ``int`` cannot hold (2 GiB and more), none, below a byte, a fraction of one or below the Simple grain
    (512 B from v2.22.3). Refused, naming the field (one line, exit 2); on H100s joined by NVLink 4 from those
    releases on they are read and run."""
    kind = "NVLS chunk variables where NCCL does not read them"
    chunk, cap = "communication.nccl_nvls_chunksize", "communication.nccl_nvlstree_max_chunksize"
    for version, name in (("2.20.5", chunk), ("2.18.3", chunk), ("2.19.3", cap), ("2.18.3", cap)):
        yield _set_case(kind, *_H100, f"communication.nccl_version={version}", f"{name}=512KiB", command="check",
                        names=name)  # fmt: skip
    h100 = [x for s in _H100 for x in ("--set", s)]
    for i, path in enumerate((chunk, cap)):
        command = ("run", "collective")[i]
        yield _set_case(kind, f"{path}=512KiB", command=command, names=path)  # A100: NVLink 3, no NVLS
        yield _set_case(kind, *_H100, "cluster.intra_topology=hybrid-cube-mesh", f"{path}=512KiB", command="check",
                        names=path)  # fmt: skip
        yield _set_case(kind, *_H100, "cluster.workers_per_node=1", "training.global_batch=4", f"{path}=512KiB",
                        command="check", names=path)  # fmt: skip
        yield _set_case(kind, *_CPU_SMALL, f"{path}=512KiB", command="run", names=path)
        yield _set_case(kind, *_H100, "communication.protocol=none", f"{path}=512KiB", command="check", names=path)
        yield _set_case(kind, *_H100, "communication.algorithm=hierarchical", f"{path}=512KiB", command="run",
                        names=path)  # fmt: skip
        for value in ("2GiB", "4GiB", "2147483648B", "1e12B", "0B", "-64KiB", "0.5B", "1000.5B", "null KiB", "511B"):
            yield _set_case(kind, *_H100, f"{path}={value}", command="check", names=path)
        yield _file_case(kind, _with(f"communication: {{{path.split('.')[1]}: 512 KiB}}"), command="check",
                         names=path)  # fmt: skip
        yield Case(kind, ["sweep", "{tmp}/s.yaml", "--set", f"{path}=512KiB", *h100,
                          "--vary", "communication.nccl_version=2.27.7,2.18.3", "--out", "{tmp}/o.csv"],
                   {"s.yaml": SMALL.encode()}, expect_error=True, names=path, outputs=("{tmp}/o.csv",))  # fmt: skip
        files = {"s.yaml": SMALL.encode() + b"calibration: {profile: p.yaml}\n", "p.yaml": _FITTED_PROFILE}
        yield Case(kind, ["run", "{tmp}/s.yaml", *h100, "--set",
                          f"{path}=512KiB"], files, expect_error=True, names=path)  # fmt: skip
    # read: H100s on NVLink 4 across two nodes (NVLS-tree), from the release that reads each
    for sets in ((f"{chunk}=512KiB",), (f"{cap}=512KiB",), (f"{chunk}=512KiB", f"{cap}=128KiB"),
                 ("communication.nccl_version=2.21.5", f"{chunk}=2147483647B"),
                 ("communication.nccl_version=2.20.3", f"{cap}=1MiB"), (f"{chunk}=512B",),
                 (f"{cap}=100000B",)):  # fmt: skip
        yield _set_case(kind, *_H100, *sets, command="run", expect_error=False, finite=True)
    yield Case(kind, ["collective", "{tmp}/s.yaml", *h100, "--set",
                      f"{chunk}=512KiB", "--sizes", "1KiB..1GiB", "--format", "json"], {"s.yaml": SMALL.encode()},
               accept=True, strict_json=True)  # fmt: skip


def null_under_presets() -> Iterator[Case]:
    """``null`` in every field a catalog preset fills (the model's, the device's, the links'): the preset's value,
    as if left out. 12 of them were refused with what the preset filled in ("cluster.device.memory: expected a size
    with a unit like '25 MiB', got the bare number 85899345920.0", ``model.parameters``: "got 0"); the other 43 ran.
    All run now, through ``--set`` and in the file; a field no preset fills stays refused, named."""
    kind = "null under a preset"
    paths = [p for p in _leaf_paths()
             if p.startswith(("model.", "cluster.device.", "cluster.intra_node.", "cluster.inter_node."))
             and not p.endswith(".preset")]  # fmt: skip
    for i, path in enumerate(paths):
        yield Case(kind, ["check" if i % 4 else "run", "{tmp}/s.yaml", "--set", f"{path}=null"],
                   {"s.yaml": SMALL.encode()}, accept=True)  # fmt: skip
        if path.startswith(("model.", "cluster.device.")):
            yield Case(kind, ["check", "{tmp}/s.yaml"], {"s.yaml": _mutated_file(path, "null").encode()}, accept=True)
    for path in ("training.micro_batch", "cluster.nodes", "communication.bucket", "variability.seed"):
        yield _set_case(kind, f"{path}=null", command="check", names=path)


def blank_paths() -> Iterator[Case]:
    """A path that is blanks only (an unset shell variable, quoted): ``DPSIM_SAVE_PARAMETERS=" "`` was checked as the
    file ' ' of the working folder and written there after the last step, ``DPSIM_RUN_DIR=" "`` a folder ' '.
    Refused before a rank starts, naming the variable; every dpsim option that writes a file refuses it too."""
    kind = "blank paths"
    files = {"s.yaml": SMALL.encode()}
    run = ["{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--out", "{tmp}/r.jsonl"]
    for blank in (" ", "\t", "   "):
        for env in (_RENDEZVOUS, {}):
            yield Case(kind, run, files, env={**env, "DPSIM_SAVE_PARAMETERS": blank}, expect_error=True,
                       names="DPSIM_SAVE_PARAMETERS", outputs=("{tmp}/r.jsonl",), program="runtime")  # fmt: skip
        yield Case(
            kind,
            run,
            files,
            env={**_RENDEZVOUS, "DPSIM_RUN_DIR": blank},
            expect_error=True,
            names="DPSIM_RUN_DIR",
            outputs=("{tmp}/r.jsonl",),
            program="runtime",
        )  # a rank's folder
    for argv, option, _ in _file_options():
        yield Case(kind, [*argv, option, " "], files, expect_error=True, names=option.lstrip("-")[:3],
                   outputs=("{tmp}/p.yaml",))  # fmt: skip


def gloo_ring_under_zero() -> Iterator[Case]:
    """``algorithm: backend`` under ZeRO-1/2/3 and FSDP: the reduce-scatter and all-gather ran NCCL's rail rings
    without NCCL's protocol, a schedule neither gloo nor NCCL runs; now gloo's one ring over the ranks, as its
    all-reduce, on CPUs, and NCCL's own pick (as ``auto``) on catalog GPUs. Valid inputs that run, on GPUs and CPUs,
    both engines, and one collective alone."""
    kind = "gloo's ring under ZeRO (backend)"
    alg = "communication.algorithm=backend"
    for sets in (("training.zero_stage=3",), ("training.zero_stage=2", "training.optimizer_sharding=fsdp"),
                 ("training.zero_stage=1", "training.optimizer_sharding=megatron"), ("training.zero_stage=1",),
                 (*_H100, "training.zero_stage=3", "cluster.inter_node={preset: ib-ndr, nics_per_node: 8}"),
                 ("cluster.device=cpu", "model.preset=mlp-tiny", "training.zero_stage=3",
                  "training.optimizer_sharding=fsdp")):  # fmt: skip
        for engine in ("analytic", "sim"):
            yield _set_case(kind, alg, *sets, extra=("--engine", engine, "--format", "json"), expect_error=False,
                            finite=True)  # fmt: skip
    for op in ("reduce_scatter", "all_gather"):
        yield Case(kind, ["collective", "{tmp}/s.yaml", "--set", alg, "--op", op, "--sizes", "1KiB..1GiB", "--format",
                          "json"], {"s.yaml": SMALL.encode()}, accept=True, strict_json=True)  # fmt: skip
    yield _set_case(kind, alg, *_CPU_SMALL, "training.zero_stage=3", "communication.nccl_version=2.25.1",
                    command="check", names="communication.nccl_version")  # fmt: skip  # gloo runs no NCCL release
    yield _set_case(kind, alg, "training.zero_stage=3", "communication.nccl_version=2.25.1", command="run",
                    expect_error=False, finite=True)  # fmt: skip  # on a catalog GPU backend is NCCL's own pick


_ZERO_NUMBERS = ("cluster.price_per_device_hour", "training.memory_reserve", "variability.compute_jitter_cv")
"""The number-valued fields that take 0."""
_ZERO_DURATIONS = ("cluster.device.kernel_overhead", "cluster.intra_node.latency", "cluster.inter_node.latency",
                   "reliability.checkpoint_write", "reliability.restart")  # fmt: skip
"""The durations that take 0 s."""


def negative_zero() -> Iterator[Case]:
    """IEEE negative zero in every field and option that takes 0: ``-0.0``, ``-0e0``, ``'-0 s'``. It is the value 0,
    and was kept apart from it: ``training.memory_reserve: -0.0`` gave another scenario hash than ``0.0`` and printed
    ``memory_reserve_bytes: -0.0``, ``check --dump`` wrote ``latency: -0.0 s``, ``plan --price -0`` a cost of ``-0``,
    and ``--vary training.memory_reserve=0.0,-0.0`` ran one point twice. Read as 0 now wherever a number is read
    (YAML, JSON, quantities, ``--price``); where 0 is refused, -0 is refused as 0 is, naming the field."""
    kind = "negative zero (-0.0, '-0 s')"
    commands = (["check", "{tmp}/s.yaml", "--format", "json"], ["check", "{tmp}/s.yaml", "--dump"],
                ["run", "{tmp}/s.yaml", "--format", "json"], ["run", "{tmp}/s.yaml", "--format", "csv"])  # fmt: skip
    for i, path in enumerate(_ZERO_NUMBERS + _ZERO_DURATIONS):
        spellings = ("-0.0", "-0e0", "-.0") if path in _ZERO_NUMBERS else ("'-0 s'", "'-0.0 us'", "'-0e3 ms'")
        for j, value in enumerate(spellings):
            argv = commands[(i + j) % len(commands)]
            link = {"cluster.intra_node.latency": "nvlink3", "cluster.inter_node.latency": "ib-hdr"}.get(path)
            text = _mutated_file(path.rsplit(".", 1)[0], f"{{preset: {link}, latency: {value}}}") if link else (
                _mutated_file(path, value))  # fmt: skip
            yield Case(kind, argv, {"s.yaml": text.encode()}, accept=True, unsigned=True)
            yield Case(kind, [*argv, "--set", "name=z", "--set", f"{path}={value}"], {"s.yaml": SMALL.encode()},
                       accept=True, unsigned=True)  # fmt: skip  # (a name of its own: the default repeats --set)
    for path, value in (("model.rotary_fraction", "-0.0"), ("cluster.device.efficiency", "-0.0"),
                        ("training.learning_rate", "-0.0"), ("cluster.topology.oversubscription", "-0.0"),
                        ("communication.bucket", "'-0 MB'"), ("reliability.node_mtbf", "'-0 h'"),
                        ("cluster.inter_node.bandwidth", "'-0 Gbit/s'"), ("cluster.device.peak_flops", "'-0 TFLOP/s'"),
                        ("model.parameters", "'-0B'")):  # fmt: skip  # 0 is refused here: so is -0
        yield _set_case(kind, f"{path}={value}", command="check", names=path)
    files = {"s.yaml": SMALL.encode()}
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "training.memory_reserve=-0.0,0.1", "--format", "csv"], files,
               accept=True, unsigned=True)  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "training.memory_reserve=0.0,-0.0"], files,
               expect_error=True, names="--vary")  # fmt: skip  # one grid point twice
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8", "--no-progress", "--simulate",
            "0", "--top", "2"]  # fmt: skip
    for extra in (
        ("--price", "-0"),
        ("--price", "-0.0", "--format", "csv"),
        ("--price", "a100-80gb=-0.0"),
        ("--price", "-0e5", "--format", "json"),
        ("--node-mtbf", "50000 h", "--checkpoint-write", "-0 s", "--restart", "-0 h"),
    ):
        yield Case(kind, [*plan, *extra], accept=True, unsigned=True)
    profile = PROFILE.read_text(encoding="utf-8")
    for pattern, replacement in ((r"^(      )residual: .*$", r"\1residual: -0.0"),
                                 (r"^(      )latency: .*$", r"\1latency: -0 s"),
                                 (r"^(  )efficiency_loss: .*$", r"\1efficiency_loss: -0.0")):  # fmt: skip
        data = re.sub(pattern, replacement, profile, count=1, flags=re.MULTILINE).encode()
        yield Case(kind, ["run", str(CPU_SCENARIO), "--set", "name=z", "--set", "calibration.profile={tmp}/p.yaml",
                          "--format", "json"], {"p.yaml": data}, accept=True, unsigned=True)  # fmt: skip


def _profile_edit(edit: Callable[[dict[str, Any]], None]) -> bytes:
    """The committed profile, read, changed by ``edit`` and written back as YAML."""
    import yaml

    data = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    edit(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


def _at(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit setting the profile's ``path`` (dotted; an integer part indexes a list) to ``value``."""

    def key(node: Any, part: str) -> Any:  # a list's index, or a mapping's integer key (processes: slowdown)
        return int(part) if part.isdigit() and (isinstance(node, list) or int(part) in node) else part

    def edit(data: dict[str, Any]) -> None:
        node: Any = data
        *parts, last = path.split(".")
        for part in parts:
            node = node[key(node, part)]
        node[key(node, last)] = value

    return edit


def profile_shapes() -> Iterator[Case]:
    """A calibration profile's lists and mappings given as something else: ``''``, ``{}``, ``0``, ``false``. Each
    was read as empty (no measured slowdowns, no per-rate host cost, no optimizer curve, no compute): the profile ran
    as another one. ``calibrated_on`` took any value (``true``, an ANSI escape) as a label. The two entries of
    ``meta`` dpsim reads back are checked at load: ``plan: [1]`` gave ``validate --profile`` a traceback once every
    case was measured (its runs written), ``fit_residuals: {x: abc}`` one in ``HardwareProfile.residuals``."""
    kind = "profile fields of another shape"
    run = ["run", str(CPU_SCENARIO), "--set", "calibration.profile={tmp}/p.yaml"]
    edits: list[tuple[str, Any, str]] = []
    for value in ("", {}, 0, False, -0.0):
        edits.append(("links.inter.ring.host_per_byte_by_rate", value, "host_per_byte_by_rate"))
    for value in ("", {}, 0):
        edits.append(("optimizer_curve", value, "optimizer_curve"))
        edits.append(("compute", value if value != {} else [], "compute"))
    for value in ("", 0, [], False):
        edits.append(("host_model.measured_slowdown", value, "measured_slowdown"))
    edits.append(("host_model.optimizer_slowdown", [], "optimizer_slowdown"))
    edits.append(("host_model.comm_cpu_per_byte_by_rate", "", "comm_cpu_per_byte_by_rate"))
    for value in ([1], [True], [{}], ["\x1b[31mred"], ["a\x00b"], [None], [float("nan")]):
        edits.append(("calibrated_on", value, "calibrated_on"))
    for value in ([1], "x", {"ranks": 4}, {"sizes": [float("nan")]}, {"rates_bytes_per_s": [True]},
                  {"curve_hiddens": ["256"]}, {"ranks": [-2]}):  # fmt: skip
        edits.append(("meta.plan", value, "meta.plan"))
    for value in (5, {"x": "abc"}, {"x": -1}, {"x": float("nan")}, [0.1]):
        edits.append(("meta.fit_residuals", value, "meta.fit_residuals"))
    for path, value, names in edits:
        yield Case(kind, run, {"p.yaml": _profile_edit(_at(path, value))}, expect_error=True, names=names)
    plan = {"p.yaml": _profile_edit(_at("meta.plan", [1]))}
    yield Case(kind, ["validate", str(CPU_SCENARIO), "--profile", "{tmp}/p.yaml", "--case", "training.micro_batch=2",
                      "--steps", "1", "--warmup-steps", "0", "--out-dir", "{tmp}/v"], plan, expect_error=True,
               names="meta.plan", outputs=("{tmp}/v",))  # fmt: skip  # refused before a case is measured
    yield Case(kind, ["calibrate", "--base", "{tmp}/p.yaml", "--out", "{tmp}/o.yaml", "--from-nccl-tests",
                      str(NCCL_TESTS)], {"p.yaml": _profile_edit(_at("optimizer_curve", ""))}, expect_error=True,
               names="optimizer_curve", outputs=("{tmp}/o.yaml",))  # fmt: skip
    for path, value in (("calibrated_on", []), ("meta.plan", {}), ("meta.fit_residuals", {}), ("meta.x", [1, "a"]),
                        ("meta.fit_residuals", {"links.inter.tree": float("inf")}),  # a failed fit, as calibrate writes
                        ("links.inter.ring.host_per_byte_by_rate", None), ("host_model.measured_slowdown", None),
                        ("optimizer_curve", None)):  # fmt: skip  # empty or absent: fine
        yield Case(kind, run, {"p.yaml": _profile_edit(_at(path, value))}, accept=True)


def profile_terms_past_range() -> Iterator[Case]:
    """Denormal and sub-physical terms in a profile: ``efficiency: 1e-320`` or ``host_model.cores: 1e-320`` gave a
    port of rate 0 and a traceback (``bandwidth must be > 0``); ``1e-7`` ran. A profile's efficiencies, core count
    and slowdowns now have the scenario's bound (an efficiency of at least one in a million,
    ``dpsim.inputs.MIN_FRACTION``) and its rule for denormals (``dpsim.inputs.float_problem``)."""
    kind = "profile terms past range (1e-320)"
    run = ["run", str(CPU_SCENARIO), "--set", "calibration.profile={tmp}/p.yaml"]
    for path, values in (("links.inter.ring.efficiency", (1e-320, 5e-324, 1e-7)),
                         ("links.intra.tree.efficiency", (1e-310,)), ("host_model.cores", (1e-320, 1e-7, 5e-324)),
                         ("host_model.measured_slowdown.2", (1e-320, 1e-7, 2e6)),
                         ("host_model.optimizer_slowdown.4", (1e-315,)),
                         ("links.inter.ring.residual", (1e-320,)), ("links.inter.tree.latency_residual", (5e-324,)),
                         ("host_model.residual", (1e-310,)), ("host_model.efficiency_loss", (1e-320,))):  # fmt: skip
        for value in values:
            yield Case(kind, run, {"p.yaml": _profile_edit(_at(path, value))}, expect_error=True,
                       names=path.rsplit(".", 1)[0] if path[-1].isdigit() else path)  # fmt: skip
    for path, value in (("links.inter.ring.efficiency", 1e-6), ("host_model.cores", 1e-6),
                        ("host_model.measured_slowdown.2", 1e-6)):  # fmt: skip  # the bound itself: runs, finite
        for engine in ("analytic", "sim"):
            data = {"p.yaml": _profile_edit(_at(path, value))}
            yield Case(kind, [*run, "--engine", engine, "--format", "json"], data, accept=True, finite=True)


def profiles_as_json() -> Iterator[Case]:
    """A profile written as JSON (YAML 1.2 reads it, as ``check --dump --format json`` promises for scenarios):
    JSON's keys are text, so every profile with a host model was refused, ``measured_slowdown: expected {processes:
    slowdown} with processes >= 1, got '1'``; ``samples: 36.0`` (a JSON writer's 36) was refused where ``hidden:
    256.0`` passes. Both read now; a count written twice (``"2"`` and ``2``), signed, fractional or in other digits
    is refused, naming the field."""
    import json

    import yaml

    kind = "profiles as JSON"
    data = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    at = ("--set", "calibration.profile={tmp}/p.json")
    for text in (json.dumps(data), json.dumps(data, indent=1)):
        for argv in (["run", str(CPU_SCENARIO), *at], ["collective", str(CPU_SCENARIO), *at, "--sizes", "1MiB,2MiB"],
                     ["run", str(CPU_SCENARIO), *at, "--engine", "sim"]):  # fmt: skip
            yield Case(kind, argv, {"p.json": text.encode()}, accept=True)
    text = json.dumps(data, indent=1)
    for old, new, error, names in (
        ('"samples": 36', '"samples": 36.0', False, ""), ('"samples": 36', '"samples": 3.6e1', False, ""),
        ('"samples": 36', '"samples": 36.5', True, "samples"),
        ('"1": 1.0', '"1": 1.0, "01": 1.0', True, "measured_slowdown"),
        ('"2": ', '"-2": ', True, "measured_slowdown"), ('"2": ', '"2.5": ', True, "measured_slowdown"),
        ('"2": ', '"\\uff12": ', True, "measured_slowdown"), ('"2": ', '"2 ": ', True, "measured_slowdown"),
        ('"efficiency": 0.9099999999999999', '"efficiency": NaN', True, "efficiency"),
        ('"efficiency": 0.9099999999999999', '"efficiency": -Infinity', True, "efficiency"),
    ):  # fmt: skip
        assert old in text, old
        yield Case(kind, ["run", str(CPU_SCENARIO), *at], {"p.json": text.replace(old, new, 1).encode()},
                   expect_error=error, accept=not error, names=names)  # fmt: skip


def nccl_buffsize_edges() -> Iterator[Case]:
    """``communication.nccl_buffsize`` (``NCCL_BUFFSIZE``) where NCCL cannot run it: below 4 KiB, whose Simple step
    (an eighth) NCCL aligns down to its 512 B grain from v2.22.3 (``calcCollChunking``: 0, which it divides by; dpsim
    took 1 B and priced the tree as if the buffer cost nothing), on every release (before v2.22.3 the steps of a few
    bytes are handshakes dpsim does not price), and from 2 GiB (NCCL keeps it in an ``int``): refused naming the
    field by every command, in a file, beside LL (NCCL's send/receive still run Simple from it), on one NVLS node
    and in a sweep's ``--vary`` (its ``--out`` not written); 4 KiB, 4.5 KiB and 2 GiB - 1 B are read."""
    kind = "NCCL_BUFFSIZE below the Simple grain or past an int"
    path = "communication.nccl_buffsize"
    for value in ("1B", "7B", "8B", "511B", "512B", "1KiB", "4095B", "2GiB", "2147483648B", "1PiB", "1e15B"):
        yield _set_case(kind, f"{path}={value}", command="check", names=path)
    for version in ("2.18.3", "2.21.5", "2.22.3", "2.30.7"):
        yield _set_case(kind, f"communication.nccl_version={version}", f"{path}=1KiB", command="run", names=path)
    yield _set_case(kind, f"{path}=1B", command="collective", names=path)
    yield _set_case(kind, "communication.protocol=LL", f"{path}=64B", command="run", names=path)
    yield _set_case(kind, *_H100, "cluster.nodes=1", "training.global_batch=4", f"{path}=2KiB", command="run",
                    names=path)  # fmt: skip
    yield _file_case(kind, _with("communication: {nccl_buffsize: 1 B}"), command="check", names=path)
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", f"{path}=4MiB,1KiB", "--out", "{tmp}/o.csv"],
               {"s.yaml": SMALL.encode()}, expect_error=True, names=path, outputs=("{tmp}/o.csv",))  # fmt: skip
    for value in ("4KiB", "4.5KiB", "2147483647B"):
        yield _set_case(kind, f"{path}={value}", command="run", expect_error=False, finite=True)
    yield Case(kind, ["collective", "{tmp}/s.yaml", "--set", f"{path}=4KiB", "--sizes", "1KiB..1GiB", "--format",
                      "json"], {"s.yaml": SMALL.encode()}, accept=True, strict_json=True)  # fmt: skip


def loss_kernel_values() -> Iterator[Case]:
    """``model.loss_kernel`` spelled as it is not (another case, a hyphen, blank, a list, a number, a boolean, NaN, a
    comma list), ``loss_parallel`` without tensor parallelism and the field on a CNN or MLP, which has no logits:
    refused naming the field; each of its values runs on GPT-2 (``loss_parallel`` at TP 2)."""
    kind = "model.loss_kernel: spellings, shapes, models without logits"
    path = "model.loss_kernel"
    for value in ("TORCH_FLOAT", "torch-float", "''", "[megatron]", "1", "true", "{}", ".nan", "megatron,torch"):
        yield _set_case(kind, f"{path}={value}", command="check", names=path)
    yield _set_case(kind, f"{path}=loss_parallel", command="run", names=path)  # TP 1
    for model in ("resnet-50", "mlp-tiny"):
        yield _set_case(kind, f"model.preset={model}", f"{path}=torch_float", command="check", names=path)
    for value in ("megatron", "torch_fp32", "torch_float", "torch", "xentropy", "inductor"):
        yield _set_case(kind, f"{path}={value}", command="run", expect_error=False, finite=True)
    yield _set_case(kind, "training.tensor_parallel=2", f"{path}=loss_parallel", command="run", expect_error=False,
                    finite=True)  # fmt: skip


def sweep_nested_values() -> Iterator[Case]:
    """``--vary`` values that are lists (``communication.nccl_proto=[Simple],[LL128,Simple]``, a device's
    ``gemm_tile``) in every output of a sweep (CSV on stdout and ``--out``, where they are now JSON, the table, JSON,
    parquet): each runs; an empty list, a nested one, a tile of one number and a list where a number goes are refused
    naming the path, with nothing written."""
    kind = "sweep: list --vary values in every output"
    proto, tile = "communication.nccl_proto=[Simple],[LL128,Simple]", "cluster.device.gemm_tile=[64,64],[128,256]"
    for vary in (proto, tile):
        for extra in (["--format", "csv"], ["--format", "json"], [], ["--out", "{tmp}/o.csv"],
                      ["--format", "csv", "--out", "{tmp}/o.parquet"]):  # fmt: skip
            yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", vary, *extra], {"s.yaml": SMALL.encode()},
                       accept=True)  # fmt: skip
    for vary, names in (("communication.nccl_proto=[],[Simple]", "communication.nccl_proto"),
                        ("communication.nccl_proto=[Simple,[LL]]", "communication.nccl_proto"),
                        ("cluster.device.gemm_tile=[64],[64,64]", "cluster.device.gemm_tile"),
                        ("training.micro_batch=[2],[4]", "training.micro_batch")):  # fmt: skip
        yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", vary, "--out", "{tmp}/o.csv"], {"s.yaml": SMALL.encode()},
                   expect_error=True, names=names, outputs=("{tmp}/o.csv",))  # fmt: skip


def profile_json_fields() -> Iterator[Case]:
    """A fitted profile written as JSON with a field missing (a link's bandwidth, its latency, ``links``), one more
    at every depth (a misspelt key), a value of another type (a link as a list, a bandwidth without its unit,
    ``null``), 1e999 (JSON's overflow to infinity) and a ``//`` comment: refused naming the file or the field; the
    profile as written runs, and so does one with a trailing comma (not JSON, but YAML 1.2, which reads it)."""
    import json

    import yaml

    kind = "profiles as JSON: missing, extra and odd fields"
    data = yaml.safe_load(_FITTED_PROFILE)
    text = json.dumps(data)
    files = {"s.yaml": SMALL.encode() + b"calibration: {profile: p.json}\n"}
    yield Case(kind, ["run", "{tmp}/s.yaml"], {**files, "p.json": text.encode()}, accept=True)
    link = '{"latency": "3.314 us", "bandwidth": "394.1 GB/s"}'
    assert link in text, text
    for new in ('{"latency": "3.314 us"}', '{"bandwidth": "394.1 GB/s"}', '{"latency": "3.314 us", "bandwidth": '
                '"394.1 GB/s", "bandwith": "1 GB/s"}', '["3.314 us", "394.1 GB/s"]', '{"latency": "3.314 us", '
                '"bandwidth": 394.1}', '{"latency": null, "bandwidth": "394.1 GB/s"}', '{"latency": "3.314 us", '
                '"bandwidth": 1e999}'):  # fmt: skip
        yield Case(kind, ["run", "{tmp}/s.yaml"], {**files, "p.json": text.replace(link, new, 1).encode()},
                   expect_error=True, names="p.json")  # fmt: skip
    for old, new in (('"links": ', '"link": '), ('"name": ', '"nmae": '), ('{"name"', '// fitted\n{"name"')):
        assert old in text, old
        yield Case(kind, ["run", "{tmp}/s.yaml"], {**files, "p.json": text.replace(old, new, 1).encode()},
                   expect_error=True, names="p.json")  # fmt: skip
    # a trailing comma is not JSON, but YAML 1.2 flow mappings take it (the profile is read as YAML): the same profile
    yield Case(kind, ["run", "{tmp}/s.yaml"], {**files, "p.json": text.replace('GB/s"}', 'GB/s",}', 1).encode()},
               accept=True)  # fmt: skip


def _schema_fields() -> tuple[list[str], list[str], list[str]]:
    """The scenario's number-valued fields, unit-bearing fields and fixed-length lists of numbers, read from ``dpsim
    schema`` (a list's item fields, as ``variability.stragglers``'s, left out: other classes set them)."""
    from dpsim.scenario import scenario_schema

    schema = scenario_schema()
    numbers: list[str] = []
    quantities: list[str] = []
    lists: list[str] = []

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        return node

    def walk(node: dict[str, Any], path: str) -> None:
        node = resolve(node)
        choices = [resolve(n) for n in node.get("anyOf", [node])]
        for choice in choices:
            for key, child in choice.get("properties", {}).items():
                walk(child, f"{path}.{key}" if path else key)
        if any("properties" in c for c in choices) or not path:
            return
        if any(c.get("type") in ("integer", "number") for c in choices):
            numbers.append(path)
        elif any("with its unit" in c.get("description", "") for c in choices):
            quantities.append(path)
        elif any(all(i.get("type") in ("integer", "number") for i in c.get("prefixItems") or [{}]) for c in choices
                 if c.get("type") == "array" and c.get("prefixItems")):  # fmt: skip
            lists.append(path)

    walk(schema, "")
    return numbers, quantities, lists


def schema_fields_beyond_the_lists() -> Iterator[Case]:
    """The number-valued and unit-bearing fields that ``every_numeric_field`` and ``unit_typos`` name by hand miss
    the fields added since (FP8 and FP32 peaks, ``sm_count``, ``rotary_fraction``, ``logit_metrics``, the attention
    curves, ``gemm_tile``, ...): here every such field of ``dpsim schema`` beyond those lists gets NaN, infinities,
    10^400, denormals, booleans, lists and maps (a fixed-length list of numbers, each in its first item), refused
    naming the field; a field added later is covered the day it is added."""
    kind = "schema fields beyond the hand lists"
    numbers, quantities, lists = _schema_fields()
    for path in (p for p in numbers if p not in _NUMERIC_FIELDS):
        for value in _NUMERIC_VALUES:
            yield _set_case(kind, f"{path}={value}", command="check", names=path)
    for path in (p for p in quantities if p not in _QUANTITY_FIELDS):
        for value in ("'1e-400 FLOP/s'", "'1e+400 FLOP/s'", "'nan FLOP/s'", "'-inf FLOP/s'", "true", "'0x10 FLOP/s'",
                      "'1e-400 B'", "'1e+400 B'", "'nan B'", "[1]", "{}", "1"):  # fmt: skip
            yield _set_case(kind, f"{path}={value}", command="check", names=path)
    for path in lists:
        for value in ("[.nan, 1]", "[1e400, 1]", "[-.inf, 1]", "[true, 1]", "['1', 1]", "[[1], 1]", "[1e-400, 1]",
                      "[]", "[1]", "[1, 1, 1]", ".nan", "{}"):  # fmt: skip
            yield _set_case(kind, f"{path}={value}", command="check", names=path)


def nccl_protocol_on_gloo() -> Iterator[Case]:
    """A named NCCL protocol (``Simple``, ``LL``, ``LL128``) on CPU devices, where gloo reduces: the links' alpha-beta
    whatever the protocol (``protocol_of`` is none), the same step to the bit for every algorithm, accepted without a
    word while ``nccl_algo``, ``nccl_proto``, ``nccl_buffsize``, ``nccl_version`` and ``nccl_tuner`` were refused
    there. Refused as they are, naming ``communication.protocol``, in a file, through ``--set``, a sweep over the
    device or the protocol and ``collective``; ``none`` and ``auto`` pass, and a named protocol on GPUs is read."""
    kind = "NCCL protocol on gloo (CPU devices)"
    field = "communication.protocol"
    files = {"s.yaml": SMALL.encode()}
    for i, protocol in enumerate(("Simple", "LL", "LL128")):
        algorithm = f"communication.algorithm={('auto', 'ring', 'tree')[i]}"
        yield _set_case(kind, *_CPU_SMALL, f"{field}={protocol}", command="run", names=field)
        yield _set_case(kind, *_CPU_SMALL, algorithm, f"{field}={protocol}", command="check", names=field)
        yield _set_case(kind, *_CPU_SMALL, "communication.algorithm=backend", f"{field}={protocol}", names=field)
        data = SMALL.replace("a100-80gb", "cpu") + f"communication: {{protocol: {protocol}}}\n"
        yield _file_case(kind, data.encode(), command="check", names=field)
        yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "cluster.device=a100-80gb,cpu", "--set",
                          f"{field}={protocol}"], files, expect_error=True, names=field)  # fmt: skip
        yield Case(kind, ["sweep", "{tmp}/s.yaml", "--set", "cluster.device=cpu", "--vary", f"{field}=none,{protocol}"],
                   files, expect_error=True, names=field)  # fmt: skip
        yield Case(kind, ["collective", "{tmp}/s.yaml", "--set", "cluster.device=cpu", "--set", f"{field}={protocol}",
                          "--size", "1MiB"], files, expect_error=True, names=field)  # fmt: skip
        yield _set_case(kind, f"{field}={protocol}", command="run", expect_error=False, finite=True)  # an A100: read
    for protocol in ("none", "auto"):
        yield _set_case(kind, *_CPU_SMALL, f"{field}={protocol}", command="run", expect_error=False, finite=True)
    yield _set_case(kind, *_CPU_SMALL, "cluster.inter_node.nics_per_node=2", "cluster.inter_node.ports_per_nic=2",
                    "communication.nccl_nic_fusion=false", command="run", expect_error=False, finite=True)  # fmt: skip


# --- round 18 ----------------------------------------------------------------------------------------


def sweep_columns_of_two_types() -> Iterator[Case]:
    """A sweep whose varied column holds values of two types (``training.global_batch=auto,8``; a list beside a name,
    ``communication.nccl_proto=[LL128,Simple],LL``; a preset's name beside its map; a straggler list beside an empty
    one) in every output: ``--out F.parquet`` was a pyarrow traceback (parquet types a column once: ``Expected bytes,
    got a 'int' object``, ``cannot mix list and non-list``), now the CSV's text; the CSV, JSON, table, plot and a
    report of the sweep run as before."""
    kind = "sweep: values of two types in one column"
    files = {"s.yaml": SMALL.encode()}
    varies = ("training.global_batch=auto,8", "communication.nccl_proto=[LL128,Simple],LL",
              "cluster.device=a100-80gb,{preset: h100-sxm}", "variability.stragglers=[],[{worker: 1, slowdown: 1.5}]",
              "communication.nccl_proto=[LL128,Simple],[LL]",
              "model=gpt2-small,{preset: gpt2-small, layers: 6}")  # fmt: skip
    for vary in varies:
        for extra in (["--out", "{tmp}/o.parquet"], ["--format", "csv", "--out", "{tmp}/o.csv"],
                      ["--format", "json", "--plot", "{tmp}/o.png"], []):  # fmt: skip
            yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", vary, *extra], files, accept=True)
    rows = b'[{"training.global_batch": "auto", "step_time_s": 0.5, "world_size": 4, "samples_per_s": 16, ' \
           b'"scaling_efficiency": 0.9}, {"training.global_batch": 8, "step_time_s": 0.6, "world_size": 4, ' \
           b'"samples_per_s": 13, "scaling_efficiency": 0.8}]'  # fmt: skip
    yield Case(kind, ["report", "{tmp}/r.json", "-o", "{tmp}/r.html"], {"r.json": rows}, accept=True)
    csv = b"communication.nccl_proto,step_time_s,world_size,samples_per_s,scaling_efficiency\n" \
          b'"[""LL128"", ""Simple""]",0.5,4,16,0.9\nLL,0.6,4,13,0.8\n'  # fmt: skip
    yield Case(kind, ["report", "{tmp}/r.csv", "-o", "{tmp}/r.html"], {"r.csv": csv}, accept=True)


def profile_algorithm_keys() -> Iterator[Case]:
    """A profile's fitted link or size-regime curve under a name no scenario runs (``rinng``, ``Ring``, ``auto``, which
    reads the ring's, ``1``, ``''``, ``nccl``): the engines look a link up by the scenario's algorithm, so it was
    accepted and never read, the step priced on the catalog's links under the profile's name. Refused by every
    command that reads the profile, naming ``links.inter.NAME`` (or ``collectives...``); every name a scenario runs
    is read."""
    kind = "profile links under an algorithm no scenario runs"
    link = "{latency: 3.314 us, bandwidth: 394.1 GB/s}"
    curve = "{all_reduce: [{from: 0 B, latency: 3 us, bandwidth: 300 GB/s}]}"
    for i, name in enumerate(("rinng", "Ring", "auto", "1", "''", "nccl", "'ring '", "halving_doubling", "RING")):
        key = name.strip("'") or ""
        profile = f"name: p\nlinks:\n  inter:\n    {name}: {link}\n"
        if i % 3 == 2:
            profile = f"name: p\ncollectives:\n  inter:\n    {name}: {curve}\n"
        command = ("run", "check", "collective", "sweep")[i % 4]
        extra = ["--vary", "training.micro_batch=1,2"] if command == "sweep" else []
        where = "links.inter." if i % 3 != 2 else "collectives.inter."
        files = {"s.yaml": SMALL.encode() + b"calibration: {profile: p.yaml}\n", "p.yaml": profile.encode()}
        yield Case(kind, [command, "{tmp}/s.yaml", *extra], files, expect_error=True, names=where + key.strip())
    for name in ("ring", "tree", "backend", "halving-doubling", "direct", "parameter-server", "hierarchical"):
        profile = f"name: p\nlinks:\n  inter:\n    {name}: {link}\n"
        files = {"s.yaml": SMALL.encode() + b"calibration: {profile: p.yaml}\n", "p.yaml": profile.encode()}
        yield Case(kind, ["run", "{tmp}/s.yaml", "--set", f"communication.algorithm={name}"], files, accept=True)


def settings_read_by_nothing_listed() -> Iterator[Case]:
    """Settings accepted where nothing reads them must be listed in ``extra.ignored_fields`` (checked by the new
    ``unlisted`` verdict): the simulator's own fields under ``--engine analytic`` (``simulation.steps`` / ``fidelity``,
    ``variability.replications``, the jitter's distribution at CV 0; stop 46: the CV is read by both engines),
    ``communication.bucket`` and ``overlap`` under DeepSpeed ZeRO (its own ``reduce_bucket_size``; overlap read only
    with ``deepspeed_overlap_comm`` or ZeRO-3's prefetch), and a fat-tree's ``oversubscription`` when every node hangs
    under one leaf (alone, on a shared fabric, in a sweep's rows), a degraded NIC on one node (no traffic crosses it).
    Each was accepted without a word; where the field is read (the simulator, a parameter server above the leaf,
    ``deepspeed_overlap_comm: true``, two nodes) the run is plain."""
    kind = "settings read by nothing, listed"
    files = {"s.yaml": SMALL.encode()}
    run = ["run", "{tmp}/s.yaml", "--format", "json"]
    for setting in ("simulation.steps=3", "simulation.fidelity=fast", "variability.replications=4",
                    "variability.jitter_distribution=gamma"):  # fmt: skip
        yield Case(kind, [*run, "--engine", "analytic", "--set", setting], files, listed=setting.split("=")[0])
        yield Case(kind, [*run, "--engine", "sim", "--set", setting], files, accept=True)  # the simulator reads it
    # stop 46: both engines read the jitter (the analytic engine prices the expected slowest rank's jittered compute)
    for engine in ("analytic", "sim"):
        yield Case(kind, [*run, "--engine", engine, "--set", "variability.compute_jitter_cv=0.1"], files, accept=True)
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "simulation.steps=2,3", "--format", "json"], files,
               listed="simulation.steps")  # fmt: skip
    zero = ["--set", "training.zero_stage=1"]
    for stage in ("1", "2", "3"):
        yield Case(kind, [*run, "--set", f"training.zero_stage={stage}", "--set", "communication.bucket=100MB"], files,
                   listed="communication.bucket")  # fmt: skip
    for stage in ("1", "2"):
        yield Case(kind, [*run, "--set", f"training.zero_stage={stage}", "--set", "communication.overlap=false"],
                   files, listed="communication.overlap")  # fmt: skip
    yield Case(kind, [*run, *zero, "--set", "communication.overlap=false", "--set",
                      "training.deepspeed_overlap_comm=true"], files, accept=True)  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", *zero, "--vary", "communication.bucket=50MB,100MB", "--format", "json"],
               files, listed="communication.bucket")  # fmt: skip
    degraded = ["--set", "variability.degraded_links=[{node: 0, factor: 0.5}]"]
    yield Case(kind, [*run, "--set", "cluster.nodes=1", *degraded], files, listed="variability.degraded_links")
    yield Case(kind, [*run, *degraded], files, accept=True)  # two nodes: the NIC is crossed
    tree = ["--set", "cluster.topology.kind=fat-tree", "--set", "cluster.topology.oversubscription=4"]
    yield Case(kind, [*run, *tree], files, listed="cluster.topology.oversubscription")
    yield Case(kind, [*run, *tree, "--set", "cluster.topology.nodes_per_leaf=1"], files, accept=True)  # 2 leaves
    yield Case(kind, [*run, *tree, "--set", "communication.algorithm=parameter-server"], files, accept=True)
    yield Case(kind, ["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric", *tree, "--format", "json"], files,
               listed="cluster.topology.oversubscription")  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", *tree[:2], "--vary", "cluster.topology.oversubscription=2,4",
                      "--format", "json"], files, listed="cluster.topology.oversubscription")  # fmt: skip


def sets_replacing_sets() -> Iterator[Case]:
    """``--set`` a path, then one that holds it: ``cluster.device.matmul_efficiency=0.3`` then
    ``cluster.device=h100-sxm`` (the preset replaced the device whole: 0.3 and 0.9 priced the same step, and the
    result's name claimed the efficiency), ``training.micro_batch`` then ``training={...}``. Refused by every command
    that takes ``--set`` (``run``, ``check``, ``sweep``, ``collective``, ``validate``, ``python -m runtime``), naming
    ``--set``, as a ``--vary`` or ``--case`` that does so (round 12); a field set inside a preset that does not hold
    it, a preset then its own field, a map then a field inside it and one path set twice (each the later value)
    run."""
    kind = "--set a path, then one that holds it"
    files = {"s.yaml": SMALL.encode()}
    pairs = (("cluster.device.matmul_efficiency=0.3", "cluster.device=h100-sxm"),
             ("training.micro_batch=1", "training={global_batch: 8, micro_batch: 2}"),
             ("cluster.inter_node.bandwidth=100 Gbit/s", "cluster.inter_node=ib-ndr"),
             ("variability.stragglers.0.slowdown=2", "variability.stragglers=[{worker: 1, slowdown: 1.5}]"),
             ("cluster.nodes=1", "cluster={nodes: 2, workers_per_node: 2, device: a100-80gb}"))  # fmt: skip
    commands = (["run"], ["check"], ["sweep", "--vary", "training.zero_stage=0,1"], ["collective", "--size", "1MiB"])
    for i, (first, then) in enumerate(pairs):
        command = commands[i % len(commands)]
        if first.startswith("variability.stragglers.0"):  # a list item needs the list first: set it in the file
            files_i = {"s.yaml": SMALL.encode() + b"variability: {stragglers: [{worker: 0, slowdown: 1.2}]}\n"}
        else:
            files_i = files
        argv = [command[0], "{tmp}/s.yaml", *command[1:], "--set", first, "--set", then]
        yield Case(kind, argv, files_i, expect_error=True, names="--set")
    validate = ["validate", "{tmp}/s.yaml", "--set", "communication.algorithm=ring", "--out-dir", "{tmp}/v"]
    yield Case(kind, [*validate, "--set", pairs[1][0], "--set", pairs[1][1]], files, expect_error=True, names="--set",
               outputs=("{tmp}/v",))  # fmt: skip
    yield Case(kind, [_RUNTIME_SCENARIO, "--run-dir", "{tmp}/run", "--set", pairs[0][0], "--set", pairs[0][1]],
               files, expect_error=True, names="--set", outputs=("{tmp}/run",), program="runtime")  # fmt: skip
    for first, then in (("cluster.device=h100-sxm", "cluster.device.matmul_efficiency=0.5"),
                        ("model=gpt2-medium", "model.layers=4"), ("training.zero_stage=1", "training.zero_stage=2"),
                        ("training={global_batch: 8, micro_batch: 2}", "training.micro_batch=1"),  # the later wins
                        ("cluster.device.matmul_efficiency=0.5", "cluster.nodes=1")):  # fmt: skip
        yield Case(kind, ["run", "{tmp}/s.yaml", "--set", first, "--set", then], files, accept=True)


def unread_where_no_group_holds_a_node() -> Iterator[Case]:
    """Round 19. Settings accepted where nothing reads them, not listed before (the ``unlisted`` verdict):
    ``cluster.host_topology`` as a whole at one GPU a node, or where tensor (or pipeline) parallelism leaves each
    data-parallel group part of a PCIe node (tensor-parallel groups and the pipeline's sends never see one);
    a fat-tree's ``nodes_per_leaf`` at ``oversubscription`` 1 (a leaf's uplink carries all its NICs: no route is
    slower for crossing the spine); under DeepSpeed's ``BF16_Optimizer`` (``gradient_accumulation_pass: fp32_copy``)
    ``deepspeed_reduce_bucket_size`` (no reduce buckets) and, at stage 1, ``communication.overlap`` and
    ``deepspeed_overlap_comm`` (it all-reduces after the backward; ``overlap_comm`` priced an overlap there, one ulp
    apart in the simulator). Each listed in ``run``, ``sweep`` and a shared fabric's records; where the field is read
    (a data-parallel group of whole nodes, a shared fabric, whose one cluster routes every job's groups over the
    host's links, an oversubscribed leaf, ZeRO-2's per-micro-batch reductions) the run is plain."""
    kind = "unread where no group holds a node, listed"
    files = {"s.yaml": SMALL.encode()}
    run = ["run", "{tmp}/s.yaml", "--format", "json"]
    pcie = ["--set", "cluster.intra_node=pcie4", "--set", "cluster.host_topology={gpus_per_switch: 1}"]
    for engine in ("analytic", "sim"):
        yield Case(kind, [*run, *pcie, "--engine", engine, "--set", "training.tensor_parallel=2"], files,
                   listed="cluster.host_topology")  # fmt: skip
        yield Case(kind, [*run, *pcie, "--engine", engine, "--set", "cluster.workers_per_node=1"], files,
                   listed="cluster.host_topology")  # fmt: skip
    yield Case(kind, [*run, *pcie, "--set", "training.tensor_parallel=2", "--set", "cluster.host_topology.p2p=false"],
               files, listed="cluster.host_topology")  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", *pcie, "--set", "training.tensor_parallel=2", "--vary",
                      "cluster.host_topology.gpus_per_switch=1,2", "--format", "json"], files,
               listed="cluster.host_topology")  # fmt: skip
    yield Case(kind, [*run, *pcie], files, accept=True)  # data parallel over whole nodes: read
    yield Case(kind, ["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric", *pcie, "--set",
                      "training.tensor_parallel=2", "--format", "json"], files, accept=True)  # fmt: skip
    yield Case(kind, [*run, *pcie, "--set", "training.pipeline_parallel=2"], files, accept=True)  # a node a group
    bf16 = ["--set", "training.precision=bf16", "--set", "training.gradient_accumulation_pass=fp32_copy"]
    for stage, listed in (("1", True), ("2", False), ("3", False)):  # round 20: BF16_Optimizer only at stage 1
        argv = [*run, *bf16, "--set", f"training.zero_stage={stage}", "--set",
                "training.deepspeed_reduce_bucket_size=1000"]  # fmt: skip
        yield (Case(kind, argv, files, listed="training.deepspeed_reduce_bucket_size") if listed else
               Case(kind, argv, files, expect_error=True, names="training.gradient_accumulation_pass"))  # fmt: skip
    stage1 = [*bf16, "--set", "training.zero_stage=1", "--set", "training.deepspeed_overlap_comm=true"]
    for engine in ("analytic", "sim"):
        yield Case(kind, [*run, *stage1, "--engine", engine, "--set", "communication.overlap=false"], files,
                   listed="communication.overlap")  # fmt: skip
        yield Case(kind, [*run, *stage1, "--engine", engine], files, listed="training.deepspeed_overlap_comm")
    yield Case(kind, [*run, *bf16, "--set", "training.zero_stage=2", "--set", "training.deepspeed_overlap_comm=true"],
               files, expect_error=True, names="training.gradient_accumulation_pass")  # fmt: skip  # round 20
    tree = ["--set", "cluster.topology.kind=fat-tree", "--set", "cluster.topology.nodes_per_leaf=1"]
    yield Case(kind, [*run, *tree], files, listed="cluster.topology.nodes_per_leaf")
    yield Case(kind, [*run, *tree, "--set", "communication.algorithm=parameter-server"], files,
               listed="cluster.topology.nodes_per_leaf")  # fmt: skip
    yield Case(kind, ["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric", *tree, "--format", "json"], files,
               listed="cluster.topology.nodes_per_leaf")  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", *tree[:2], "--vary", "cluster.topology.nodes_per_leaf=1,2", "--format",
                      "json"], files, listed="cluster.topology.nodes_per_leaf")  # fmt: skip
    yield Case(kind, [*run, *tree, "--set", "cluster.topology.oversubscription=2"], files, accept=True)  # read


def report_rows_cut_short() -> Iterator[Case]:
    """Round 19. ``dpsim report`` of a CSV table whose last row is cut short (a sweep's ``--out`` copied while it was
    written, a transfer interrupted): dpsim writes an empty cell as one (``1,,4``), so a row with fewer fields than
    the header is a torn file, yet pandas filled the missing cells with NaN and the page drew part of a row
    (``2,0.`` a step of 0 s): each of the 12 such cases wrote a page. Refused with the row's line; a header naming a
    column twice (pandas drew the first and renamed the other ``step_time_s.1``) is refused as a key given twice;
    empty cells, blank lines, quoted cells holding a comma or a line break, CRLF and a last line without its newline
    are read as before."""
    kind = "report: CSV rows cut short"
    sweep = b"training.micro_batch,step_time_s,world_size,samples_per_s,scaling_efficiency\n1,0.5,4,16,0.9\n"
    validation = b"label,measured_step_time_s,predicted_step_time_s,error_pct\nbase,0.5,0.52,4.0\n"
    plan = b"rank,devices,tp,pp,dp,micro_batch,step_time_s,time_to_train_s\n1,8,1,1,8,4,0.5,100\n"
    run = b"scenario,engine,world_size,step_time_s,samples_per_s,scaling_efficiency\nx,analytic,4,0.5,16,0.9\n"
    for name, head, cut in (
        ("sweep.csv", sweep, b"2,0."), ("sweep.csv", sweep, b"2"), ("sweep.csv", sweep, b"2,0.6,4,13"),
        ("sweep.csv", sweep, b'"2",0.6,'), ("validation.csv", validation, b"x,0.5"), ("validation.csv", validation,
        b"x"), ("plan.csv", plan, b"2,16,2,1,8,4,0.6"), ("plan.csv", plan, b"2,16"), ("run.csv", run, b"y,sim,4"),
        ("run.csv", run, b"y"), ("crlf.csv", sweep.replace(b"\n", b"\r\n"), b"2,0.6\r\n"),
        ("blank.csv", sweep + b"\n", b"2,0.6,4\n"),
    ):  # fmt: skip
        line = "line 4" if name == "blank.csv" else "line 3"  # the blank line is line 3
        yield Case(kind, ["report", f"{{tmp}}/{name}", "-o", "{tmp}/r.html"], {name: head + cut}, expect_error=True,
                   names=line, outputs=("{tmp}/r.html",))  # fmt: skip
    twice = b"step_time_s,world_size,samples_per_s,scaling_efficiency,step_time_s\n1,2,3,0.5,9\n"
    for name, data in (("twice.csv", twice), ("twice_validation.csv", validation.replace(b"error_pct", b"label"))):
        yield Case(kind, ["report", f"{{tmp}}/{name}", "-o", "{tmp}/r.html"], {name: data}, expect_error=True,
                   names="twice", outputs=("{tmp}/r.html",))  # fmt: skip
    for name, data in (
        ("empty_cells.csv", sweep + b"2,0.6,4,,\n"), ("no_newline.csv", sweep + b"2,0.6,4,13,0.8"),
        ("blank_lines.csv", sweep + b"\n\n2,0.6,4,13,0.8\n"), ("crlf.csv", sweep.replace(b"\n", b"\r\n")),
        ("quoted.csv", b'name,step_time_s,world_size,samples_per_s,scaling_efficiency\n"a, b\nc",0.5,4,16,0.9\n'),
        ("validation.csv", validation + b"x,0.6,,\n"),
    ):  # fmt: skip
        yield Case(kind, ["report", f"{{tmp}}/{name}", "-o", "{tmp}/r.html"], {name: data}, accept=True)


def bare_numbers_at_the_physical_ends() -> Iterator[Case]:
    """Round 19. The two bare numbers whose unit is in their name, ``cluster.host_topology.p2p_latency_us`` (µs) and
    ``socket_link_gbps`` (GB/s), took any value > 0: 1e-12 µs (1e-18 s, below the shortest duration any other field
    takes, 1e-15 s) and 1e-300 GB/s (far below 1 bit/s) priced a step. Refused below the ranges every quantity keeps
    (:data:`dpsim.units.RANGES`), naming the field; the ends themselves price a finite step."""
    kind = "unit-named bare numbers at the physical ends"
    files = {"s.yaml": SMALL.encode()}
    host = "cluster.host_topology={{gpus_per_switch: 1, sockets: 2, cpu: amd, {}}}"
    for name, value in (("p2p_latency_us", "1e-12"), ("p2p_latency_us", "9.99e-10"), ("p2p_latency_us", "1e-300"),
                         ("socket_link_gbps", "1e-12"), ("socket_link_gbps", "1e-300"),
                         ("socket_link_gbps", "1.2e-10")):  # fmt: skip
        for command in ("run", "check"):
            yield _set_case(kind, "cluster.intra_node=pcie4", host.format(f"{name}: {value}"), command=command,
                            names=f"cluster.host_topology.{name}")  # fmt: skip
    for name, value in (("p2p_latency_us", "1e-9"), ("socket_link_gbps", "1.25e-10"), ("p2p_latency_us", "1000")):
        for engine in ("analytic", "sim"):
            argv = ["run", "{tmp}/s.yaml", "--format", "json", "--engine", engine, "--set", "cluster.intra_node=pcie4",
                    "--set", host.format(f"{name}: {value}"), "--set", "communication.nccl_p2p_level=SYS"]  # fmt: skip
            yield Case(kind, argv, files, finite=True, strict_json=True)


def runtime_only_and_priced_fields() -> Iterator[Case]:
    """Round 20. Fields accepted and read by no engine, not listed before: ``training.learning_rate`` (only the
    runtime's optimizer trains with it), ``cluster.inter_node.pcie_gpus_per_nic: 1`` where none of NCCL's readers
    runs (an A100 PCIe node, one node, gloo, a ring on an H100 PCIe node) and ``cluster.price_per_device_hour`` (read
    by nothing: ``dpsim plan`` prices with ``--price``). The first two are listed in ``run``, ``sweep`` and a shared
    fabric's records; the price is honoured (the record's ``extra.cost_per_step``), so it is a valid input that
    prints strict JSON; where the NIC switch is read (Hopper's tree on PCIe, NVLink's tree) the run is plain."""
    kind = "runtime-only and priced fields (round 20)"
    files = {"s.yaml": SMALL.encode()}
    run = ["run", "{tmp}/s.yaml", "--format", "json"]
    rate = ["--set", "training.learning_rate=0.5"]
    for engine in ("analytic", "sim"):
        yield Case(kind, [*run, *rate, "--engine", engine], files, listed="training.learning_rate")
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "training.learning_rate=0.1,0.2", "--format", "json"], files,
               listed="training.learning_rate")  # fmt: skip
    yield Case(kind, ["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric", *rate, "--format", "json"], files,
               listed="training.learning_rate")  # fmt: skip
    nic = ["--set", "cluster.inter_node.pcie_gpus_per_nic=1"]
    h100 = ["--set", "cluster.device=h100-sxm", "--set", "communication.overlap=false"]
    for where in (["--set", "cluster.intra_node=pcie4"], ["--set", "cluster.nodes=1"],
                  [*h100, "--set", "cluster.intra_node=pcie5", "--set", "communication.algorithm=ring"]):  # fmt: skip
        for engine in ("analytic", "sim"):
            yield Case(kind, [*run, *where, *nic, "--engine", engine], files,
                       listed="cluster.inter_node.pcie_gpus_per_nic")  # fmt: skip
    cpu = str(ROOT / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml")
    yield Case(kind, ["run", cpu, *nic, "--format", "json"], listed="cluster.inter_node.pcie_gpus_per_nic")
    yield Case(kind, ["sweep", "{tmp}/s.yaml", *nic, "--vary", "cluster.intra_node=pcie4,pcie3", "--format", "json"],
               files, listed="cluster.inter_node.pcie_gpus_per_nic")  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--set", "cluster.intra_node=pcie4", "--vary",
                      "cluster.inter_node.pcie_gpus_per_nic=1,2", "--format", "json"], files,
               accept=True)  # fmt: skip  # 2 is the unset meaning: read as such; failed before round 20 (no preset)
    for where in (["--set", "cluster.intra_node=pcie5"], ["--set", "cluster.intra_node=nvlink4", "--set",
                                                          "communication.algorithm=tree"]):  # fmt: skip
        yield Case(kind, [*run, *h100, *where, *nic], files, accept=True, strict_json=True)  # Hopper's tree reads it
    for engine in ("analytic", "sim"):  # a GPU's link to its NIC on one node: nothing crosses a NIC
        yield Case(kind, [*run, "--set", "cluster.nodes=1", "--set", "cluster.host_link.latency=50us", "--engine",
                          engine], files, listed="cluster.host_link")  # fmt: skip
    yield Case(kind, [*run, "--set", "cluster.host_link.latency=50us"], files, accept=True)  # two nodes: read
    price = ["--set", "cluster.price_per_device_hour=2.5"]
    for engine in ("analytic", "sim"):
        yield Case(kind, [*run, *price, "--engine", engine], files, accept=True, strict_json=True, finite=True)
    for value in ("0", "1000000", "1e-300"):
        yield Case(kind, [*run, "--set", f"cluster.price_per_device_hour={value}"], files, accept=True,
                   strict_json=True, finite=True, unsigned=True)  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", *price, "--vary", "training.zero_stage=0,1", "--format", "csv"], files,
               accept=True)  # fmt: skip
    yield Case(kind, ["run", "{tmp}/s.yaml", *price], files, accept=True)  # the table's cost_per_step row


def bf16_optimizer_where_deepspeed_does_not_run_it() -> Iterator[Case]:
    """Round 20. ``gradient_accumulation_pass: fp32_copy`` is DeepSpeed's ``BF16_Optimizer``, which DeepSpeed runs
    only with ZeRO off or at stage 1, sharded either way (``runtime/engine.py`` ``_do_optimizer_sanity_check``):
    dpsim's ``zero_stage`` 1. At stage 0 memory counted its fp32 gradient and bf16 reduction copy beside DDP's bucket
    copy while the reduction was DDP's; at stages 2/3 its one flat all-reduce was priced where DeepSpeed runs its ZeRO
    optimizer; under Megatron's, FSDP's or torch's sharding only the tied embedding's all-reduce read it. Refused in
    every command that loads a scenario, naming the field; at stage 1 it runs."""
    kind = "BF16_Optimizer where DeepSpeed does not run it (round 20)"
    bf16 = ("training.precision=bf16", "training.gradient_accumulation_pass=fp32_copy")
    field_name = "training.gradient_accumulation_pass"
    for other in (("training.zero_stage=0",), ("training.zero_stage=2",), ("training.zero_stage=3",),
                  ("training.optimizer_sharding=megatron", "training.zero_stage=1"),
                  ("training.optimizer_sharding=fsdp", "training.zero_stage=3"),
                  ("training.optimizer_sharding=torch", "training.zero_stage=1")):  # fmt: skip
        for command in ("run", "check"):
            yield _set_case(kind, *bf16, *other, command=command, names=field_name)
    yield _set_case(kind, *bf16, "training.zero_stage=1", command="sweep", names=field_name,
                    extra=("--vary", "training.zero_stage=1,2"))  # fmt: skip
    yield _set_case(kind, *bf16, "training.zero_stage=2", command="collective", names=field_name,
                    extra=("--size", "1MiB"))  # fmt: skip
    for engine in ("analytic", "sim"):
        yield _set_case(kind, *bf16, "training.zero_stage=1", extra=("--engine", engine), expect_error=False)


def plan_sequence_parallel_kind() -> Iterator[Case]:
    """Round 20 (stop 37 added ``dpsim plan --sequence-parallel-kind``): a kind that no configuration reads (``dtensor``
    with ``--tp 1`` only, where nothing runs sequence parallelism: the same plan to the byte, as ``--currency``
    without ``--price``) is refused naming the option, before anything is written; kinds other than ``megatron`` or
    ``dtensor`` (empty, blank, a list, another case of a wrong name, non-ASCII) are refused; the kind in any case and
    with spaces, and ``megatron`` at ``--tp 1``, run."""
    kind = "plan --sequence-parallel-kind (round 20)"
    plan = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "16", "--no-progress", "--simulate", "0",
            "--out", "{tmp}/plan.csv"]  # fmt: skip
    option = "--sequence-parallel-kind"
    for tp, value in (("1", "dtensor"), ("1", " DTensor ")):
        yield Case(kind, [*plan, "--tp", tp, option, value], expect_error=True, names=option,
                   outputs=("{tmp}/plan.csv",))  # fmt: skip
    for value in ("", " ", "bogus", "megatron,dtensor", "dtensör", "DTensor!", "torch", "none"):
        yield Case(kind, [*plan, option, value], expect_error=True, names=option, outputs=("{tmp}/plan.csv",))
    yield Case(kind, [*plan, option, "dtensor", option, "megatron"], expect_error=True, names=option,
               outputs=("{tmp}/plan.csv",))  # fmt: skip  # given twice with two values
    for value in ("dtensor", " DTENSOR ", "Megatron"):
        yield Case(kind, [*plan, "--tp", "1,2", option, value], accept=True)
    yield Case(kind, [*plan, "--tp", "1", option, "megatron"], accept=True)  # the default, stated


def default_links_in_sweeps_and_slowdown_ends() -> Iterator[Case]:
    """Round 20. ``dpsim sweep``'s points set a field of a link the scenario leaves to its default
    (``cluster.inter_node.nics_per_node`` without ``inter_node``) by a copy-on-write path that skipped the default's
    preset: ``sweep --set`` or ``--vary`` of it failed ('a link needs a bandwidth ... got only nics_per_node') where
    ``run --set`` ran; they run now, each point as ``run`` prices it. A straggler's ``slowdown`` went down to the
    smallest normal float (1e-300 priced a micro-batch at 1e-302 s): refused below one in a million, naming it."""
    kind = "default links in sweeps, slowdown ends (round 20)"
    files = {"s.yaml": SMALL.encode()}
    sweep = ["sweep", "{tmp}/s.yaml", "--format", "json"]
    for argv in (["--set", "cluster.inter_node.nics_per_node=2", "--vary", "training.zero_stage=0,1"],
                 ["--vary", "cluster.inter_node.nics_per_node=1,2"], ["--vary", "cluster.inter_node.latency=1us,2us"],
                 ["--vary", "cluster.intra_node.bandwidth=100GB/s,200GB/s"],
                 ["--vary", "cluster.host_link.bandwidth=10GB/s,20GB/s"]):  # fmt: skip
        yield Case(kind, [*sweep, *argv], files, accept=True, strict_json=True, finite=True)
    for value in ("1e-300", "2.3e-308", "9.99e-7", "1e-7"):
        for command in ("run", "check"):
            yield _set_case(kind, f"variability.stragglers=[{{worker: 1, slowdown: {value}}}]", command=command,
                            names="variability.stragglers.0.slowdown")  # fmt: skip
    for engine in ("analytic", "sim"):
        yield _set_case(kind, "variability.stragglers=[{worker: 1, slowdown: 1e-6}]", expect_error=False,
                        extra=("--engine", engine), finite=True)  # fmt: skip


def one_step_on_a_shared_fabric() -> Iterator[Case]:
    """Round 21. ``run A B --shared-fabric`` simulates one step of every job together, each job's jitter drawn once
    and every data-parallel group at chunk level (:func:`dpsim.sim.shared.simulate_shared`): a job's
    ``variability.replications`` or ``simulation.steps`` above 1 ran as 1 (the record said ``replications: 1``) and
    ``simulation.fidelity: fast`` ran at chunk level, none of them listed. Listed now in every job's record; the
    values a shared fabric does run (one replication, one step, chunk level) are plain. ``dpsim collective`` now
    prices a degraded NIC (``variability.degraded_links``) as a step's collectives do: before, the same time at any
    factor (``tests/test_collective_cli.py`` checks the time; here each ends cleanly with a finite result)."""
    kind = "one step on a shared fabric (round 21)"
    files = {"s.yaml": SMALL.encode(), "p.yaml": PIPELINED.encode()}
    two = ["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric", "--format", "json"]
    jitter = ("--set", "variability.compute_jitter_cv=0.2")
    for field_name, value in (("variability.replications", "3"), ("simulation.steps", "4"),
                              ("simulation.fidelity", "fast")):  # fmt: skip
        item = ("--set", f"{field_name}={value}")
        yield Case(kind, [*two, *item], files, listed=field_name)
        yield Case(kind, [*two, *jitter, *item, "--placement", "interleaved"], files, listed=field_name)
        yield Case(kind, ["run", "{tmp}/s.yaml", "{tmp}/p.yaml", "{tmp}/s.yaml", "--shared-fabric", "--format",
                          "json", *item], files, listed=field_name)  # fmt: skip
    for item in ("variability.replications=1", "simulation.steps=1", "simulation.fidelity=chunk"):
        yield Case(kind, [*two, *jitter, "--set", item], files, accept=True, strict_json=True)
    one_node = ("--set", "cluster.nodes=1", "--set", "training.global_batch=4", "--set",
                "cluster.host_link.latency=50us")  # fmt: skip
    yield Case(kind, [*two, *one_node], files, listed="cluster.host_link")  # a one-node job's NIC path: never crossed
    col = ["collective", "{tmp}/s.yaml", "--sizes", "1MiB,1GiB", "--format", "json"]
    for degraded in ("[{node: 1, factor: 0.5}]", "[{node: 0, factor: 1e-3}, {node: 1, factor: 0.9}]",
                     "[{node: 1, factor: 1e-3}, {node: 1, factor: 1e-3}]"):  # fmt: skip
        for engine in ("analytic", "sim"):
            yield Case(kind, [*col, "--engine", engine, "--set", f"variability.degraded_links={degraded}"], files,
                       accept=True, strict_json=True, finite=True)  # fmt: skip
    yield _set_case(kind, "variability.degraded_links=[{node: 2, factor: 0.5}]", command="collective",
                    names="variability.degraded_links")  # fmt: skip


def bf16_optimizer_state_beside_sgd() -> Iterator[Case]:
    """Round 21. ``training.optimizer_state_dtype: bf16`` is apex's ``DistributedFusedAdam`` under NeMo, which
    implements Adam (its docstring; NeMo's ``distributed_fused_adam``): with ``optimizer: sgd`` or ``momentum`` the
    master copy and state were priced away (0 bytes of state) for an optimizer it does not run. Refused in every
    command that loads a scenario, naming the field; Adam and AdamW run."""
    kind = "bf16 optimizer state beside SGD (round 21)"
    state = ("training.optimizer_sharding=megatron", "training.precision=bf16", "training.zero_stage=1",
             "training.optimizer_state_dtype=bf16")  # fmt: skip
    field_name = "training.optimizer_state_dtype"
    for optimizer in ("sgd", "momentum"):
        for command, extra in (("run", ()), ("check", ()), ("collective", ("--size", "1MiB")),
                               ("sweep", ("--vary", "training.zero_stage=1")),
                               ("run", ("--engine", "sim"))):  # fmt: skip
            yield _set_case(kind, *state, f"training.optimizer={optimizer}", command=command, extra=extra,
                            names=field_name)  # fmt: skip
        yield _set_case(kind, *state, command="sweep", extra=("--vary", f"training.optimizer=adam,{optimizer}"),
                        names=field_name)  # fmt: skip
        yield Case(kind, ["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric",
                          *(a for item in (*state, f"training.optimizer={optimizer}") for a in ("--set", item))],
                   {"s.yaml": SMALL.encode()}, expect_error=True, names=field_name)  # fmt: skip
    for optimizer in ("adam", "adamw"):
        yield _set_case(kind, *state, f"training.optimizer={optimizer}", expect_error=False, finite=True)


def degraded_nics_the_runtime_cannot_run() -> Iterator[Case]:
    """Round 21. ``variability.degraded_links`` is read by both engines and by nothing in the runtime, which runs every
    node's NICs at the testbed's rate: ``python -m runtime`` ran without it and ``dpsim validate`` compared that run
    with a prediction through the slowed NIC, blaming the difference on the model. Refused before a rank starts
    (:func:`runtime.job.check_supported`), naming the field, nothing written; without it the same command runs."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # the runtime is an extra (dpsim[runtime])
        return
    kind = "degraded NICs the runtime cannot run (round 21)"
    field_name = "variability.degraded_links"
    outputs = ("{tmp}/out.jsonl", "{tmp}/run", "{tmp}/v")
    for degraded in ("[{node: 1, factor: 0.5}]", "[{node: 0, factor: 1e-3}, {node: 1, factor: 0.99}]",
                     "[{node: 0, factor: 1}]"):  # fmt: skip
        item = f"{field_name}={degraded}"
        yield Case(kind, [_RUNTIME_SCENARIO, "--run-dir", "{tmp}/run", "--out", "{tmp}/out.jsonl", "--set", item],
                   expect_error=True, names=field_name, outputs=outputs, program="runtime")  # fmt: skip
        yield Case(kind, ["validate", _RUNTIME_SCENARIO, "--case", item, "--out-dir", "{tmp}/v"], expect_error=True,
                   names=field_name, outputs=outputs)  # fmt: skip
    yield Case(kind, ["validate", _RUNTIME_SCENARIO, "--case", "training.micro_batch=8", "--case",
                      f"{field_name}=[{{node: 1, factor: 0.5}}]", "--out-dir", "{tmp}/v"], expect_error=True,
               names=field_name, outputs=outputs)  # fmt: skip


def _enum_fields() -> list[tuple[str, list[str]]]:
    """The scenario's fields that take one of a fixed set of names (a ``Literal``), with those names, read from
    ``dpsim schema`` (a list's item fields left out, as :func:`_schema_fields` leaves them)."""
    found = [(path, [v for c in choices for v in c.get("enum", ()) if isinstance(v, str)]) for path, choices in
             _schema_choices()]  # fmt: skip
    return [(path, names) for path, names in found if names]


def _misspelled(names: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(a near miss, the name it misses) for a set of allowed names: the first in other case, the longest one
    character short (where that is not itself allowed)."""
    first = names[0]
    yield (first.upper() if first.upper() != first else first.lower()), first
    longest = max(names, key=len)
    if len(longest) >= 5 and longest[:-1] not in names:
        yield longest[:-1], longest


def enum_values_with_a_suggestion() -> Iterator[Case]:
    """Round 22. A value one letter or one case away from a field's allowed names (``training.optimizer=Adam``,
    ``training.pipeline_schedule=interleave``, ``--format JSON``, ``plan --algorithm rign``) was refused with the list
    alone, while an unknown key, device or model was answered with a did-you-mean. Every such scenario field
    (each ``Literal`` of ``dpsim schema``, in ``check``, ``run`` and a sweep's point), every option with a fixed set
    of values, and plan's lists now offer the name meant, which the error line must hold."""
    kind = "enum values with a suggestion (round 22)"
    for path, names in _enum_fields():
        for wrong, meant in _misspelled(names):
            yield _set_case(kind, f"{path}={wrong!r}", command="check", names=f"did you mean {meant!r}")
    yield _set_case(kind, "training.pipeline_schedule=1F1B", names="did you mean '1f1b'")
    yield _set_case(kind, "cluster.rank_order=nodemajor", names="did you mean 'node_major'")
    yield _set_case(kind, command="sweep", extra=("--vary", "training.optimizer=adam,Sgd"), names="did you mean 'sgd'")
    files = {"s.yaml": SMALL.encode()}
    for command, option, wrong, meant in (("run", "--engine", "Sim", "sim"), ("run", "--format", "jsn", "json"),
                                          ("sweep", "--engine", "analytical", "analytic"),
                                          ("check", "--format", "JSON", "json"),
                                          ("collective", "--op", "all_reduce", "allreduce"),
                                          ("collective", "--op", "allgather", "all_gather"),
                                          ("collective", "--op", "reducescatter", "reduce_scatter")):  # fmt: skip
        extra = {"sweep": ("--vary", "training.zero_stage=0,1"), "collective": ("--size", "1MiB")}.get(command, ())
        yield Case(kind, [command, "{tmp}/s.yaml", *extra, option, wrong], files, expect_error=True,
                   names=f"did you mean {meant!r}")  # fmt: skip
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8", "--simulate", "0", "--no-progress"]
    for option, wrong, meant in (("--algorithm", "rign", "ring"), ("--algorithm", "auto,Tree", "tree"),
                                 ("--recompute", "Full", "full"), ("--objective", "Time", "time")):  # fmt: skip
        yield Case(kind, [*plan, option, wrong], expect_error=True, names=f"did you mean {meant!r}")


DEEP = """\
name: deep
model: {kind: transformer, layers: 1024, hidden: 256, heads: 4, seq_len: 128, vocab: 1000}
cluster: {nodes: 256, workers_per_node: 2, device: a100-80gb}
training: {global_batch: 4096, micro_batch: 1, pipeline_parallel: 512}
"""
"""512 pipeline stages of 2 layers: the schedule's 3.1 M operations took 26 s to price (1,024 stages 164 s, 5 GB)."""


def pipeline_schedules_at_their_ends() -> Iterator[Case]:
    """Round 22. Both engines price a pipelined step's bubble and sends from its schedule evaluated operation by
    operation (:mod:`dpsim.analytic.pipeline_schedule`), extended past 8,192 operations from two shorter steps of at
    least 4·p micro-batches each: 8·p² operations however many micro-batches, with no cost guard. 512 stages priced
    for 26 s, 1,024 for 164 s in 5 GB (a hang here, or the memory limit's traceback). Refused now past the pricing
    limit unless ``--allow-long`` (past the memory limit always), naming ``training.pipeline_parallel``, in ``run``
    (both engines) and a sweep's point, nothing written. And the extension at its ends, each with a finite result
    in strict JSON: 2^37 micro-batches through every schedule, odd model chunks, a slow stage, sends that outlast a
    pass, blocking and synchronous exchanges, torch's pipelining over FSDP (its stage-end reduction), the
    accumulation pass."""
    kind = "huge pipeline schedules (round 22)"
    names = "training.pipeline_parallel"
    files = {"deep.yaml": DEEP.encode(), "p.yaml": PIPELINED.encode()}
    outputs = ("{tmp}/o.csv", "{tmp}/o.csv.partial.jsonl")
    for extra in ((), ("--engine", "sim"), ("--set", "training.global_batch=1024", "--set",
                  "training.pipeline_schedule=interleaved", "--set", "training.virtual_stages=2"),
                  ("--set", "model.layers=2048", "--set", "cluster.nodes=512", "--set",
                   "training.pipeline_parallel=1024", "--set", "training.global_batch=8192"),
                  ("--set", "training.global_batch=1099511627776"),
                  ("--set", "training.pipeline_schedule=gpipe", "--format", "json")):  # fmt: skip
        yield Case(kind, ["run", "{tmp}/deep.yaml", *extra], files, expect_error=True, names=names)
    yield Case(kind, ["sweep", "{tmp}/deep.yaml", "--vary", "training.global_batch=4096,8192", "--out", "{tmp}/o.csv"],
               files, expect_error=True, names=names, outputs=outputs)  # fmt: skip
    huge = ("--set", "training.global_batch=1099511627776")  # 2^37 micro-batches a step
    for extra in (("--set", "training.pipeline_schedule=gpipe"), ("--set", "training.pipeline_schedule=interleaved",
                  "--set", "training.virtual_stages=3"), ("--set", "training.pipeline_schedule=interleaved", "--set",
                  "training.virtual_stages=6", "--set", "cluster.inter_node.bandwidth='1 Mbit/s'"),
                  ("--set", "variability.stragglers=[{worker: 0, slowdown: 3.5}]"),
                  ("--set", "variability.stragglers=[{worker: 7, slowdown: 1.000001}]", "--set",
                   "cluster.inter_node.bandwidth='10 Mbit/s'"),
                  ("--set", "training.pipeline_p2p=blocking"), ("--set", "training.pipeline_p2p=synchronous"),
                  ("--set", "training.pipeline_runtime=torch", "--set", "training.optimizer_sharding=fsdp", "--set",
                   "training.zero_stage=3", "--set", "training.fsdp_no_sync=true"),
                  ("--set", "training.gradient_accumulation_pass=autograd"),
                  ("--set", "training.global_batch=9007199254740992", "--set", "training.pipeline_schedule=gpipe"),
                  ("--allow-long",)):  # fmt: skip
        yield Case(kind, ["run", "{tmp}/p.yaml", *huge, *extra, "--format", "json"], files, accept=True,
                   strict_json=True, finite=True)  # fmt: skip
    for extra in (("--set", "training.pipeline_runtime=torch", "--set", "training.optimizer_sharding=fsdp", "--set",
                   "training.zero_stage=3", "--set", "training.fsdp_no_sync=true"),
                  ("--set", "training.pipeline_schedule=interleaved", "--set", "training.virtual_stages=3"),
                  ("--set", "variability.stragglers=[{worker: 0, slowdown: 3.5}]")):  # fmt: skip
        yield Case(kind, ["run", "{tmp}/p.yaml", "--set", "training.global_batch=65536", *extra, "--engine", "sim",
                          "--format", "json"], files, accept=True, strict_json=True, finite=True)  # fmt: skip


def device_fields_and_partitions_read_by_nothing() -> Iterator[Case]:
    """Round 22. ``dpsim collective`` reads of the device only which it is (NCCL's architecture and platform): a
    ``--set`` of its peak, memory, GEMM curve, kernel overhead or SM count moved no row and was not listed, where the
    training fields it does not read are. ``training.partition``: a step's micro-batch (``micro_batch`` x the
    data-parallel ranks) splits into equal shards under ``round_robin`` and ``contiguous`` alike, and under
    ``weighted`` while no straggler slows one data-parallel rank more than another: accepted, the step the same to
    the bit, not listed. Each is listed now (every record, a sweep's rows, each job of a shared fabric)."""
    kind = "fields read by nothing (round 22)"
    files = {"s.yaml": SMALL.encode(), "p.yaml": PIPELINED.encode()}
    collective = ["collective", "{tmp}/s.yaml", "--sizes", "1KiB,1GiB", "--format", "json"]
    for path, value in (("peak_flops", "'1 PFLOP/s'"), ("memory", "'1 TB'"), ("memory_bandwidth", "'10 TB/s'"),
                        ("kernel_overhead", "'1 ms'"), ("efficiency", "0.1"), ("matmul_efficiency", "0.2"),
                        ("flat_efficiency", "0.9"), ("sm_count", "2"), ("gemm_waves", "true"),
                        ("gemm_epilogue_exposed", "true"), ("sustained_fraction", "0.5"),
                        ("memory_efficiency", "0.5"), ("gemm_tile", "[64, 64]")):  # fmt: skip
        field_name = f"cluster.device.{path}"
        yield Case(kind, [*collective, "--set", f"{field_name}={value}"], files, listed=field_name)
    yield Case(kind, [*collective, "--engine", "sim", "--set", "cluster.device.peak_flops='1 EFLOP/s'"], files,
               listed="cluster.device.peak_flops")  # fmt: skip
    field_name = "training.partition"
    for scheme in ("contiguous", "weighted"):
        for extra in ((), ("--engine", "sim")):
            yield Case(kind, ["run", "{tmp}/s.yaml", "--set", f"{field_name}={scheme}", *extra, "--format", "json"],
                       files, listed=field_name)  # fmt: skip
        straggler = ("--set", "variability.stragglers=[{worker: 1, slowdown: 2}]")
        for argv in (["run", "{tmp}/p.yaml", "--set", f"{field_name}={scheme}", "--format", "json"],
                     ["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric", "--set", f"{field_name}={scheme}",
                      "--format", "json"]):  # fmt: skip
            yield Case(kind, argv, files, listed=field_name)
        if scheme == "contiguous":  # equal shards whatever the paces
            yield Case(kind, ["run", "{tmp}/s.yaml", *straggler, "--set", f"{field_name}={scheme}", "--format",
                              "json"], files, listed=field_name)  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", f"{field_name}=contiguous,weighted", "--format", "json"],
               files, listed=field_name)  # fmt: skip


# --- round 22 (helper hostile2): the surfaces that run or read measurements ----------------------------------------

_UNRUN_SETTINGS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("communication.dtype=bf16",), "communication.dtype"),
    (("training.precision=bf16", "communication.dtype=bf16"), "communication.dtype"),
    (("training.precision=bf16", "training.zero_stage=2", "training.optimizer_sharding=fsdp",
      "communication.dtype=fp32"), "communication.dtype"),
    (("training.gradient_dtype=bf16",), "training.gradient_dtype"),
    (("training.activation_recomputation=full",), "training.activation_recomputation"),
    (("training.gradient_clipping=true",), "training.gradient_clipping"),
    (("training.precision=bf16", "training.zero_stage=3", "training.optimizer_sharding=fsdp",
      "communication.overlap=false"), "communication.overlap"),
)  # fmt: skip
"""Settings the engines price and the runtime does not run, each with the field the refusal must name."""


def settings_the_runtime_does_not_run() -> Iterator[Case]:
    """Round 22. Fields both engines price that nothing in the runtime runs: a gradient dtype other than the
    framework's own (``communication.dtype: bf16`` halved the CPU scenario's predicted step, 0.2054 -> 0.1039 s,
    while its DDP reduced fp32), activation recomputation (the runtime's model keeps its activations), gradient
    clipping (no norm pass) and ``overlap: false`` under FSDP (FSDP2 prefetches). ``python -m runtime`` ran them
    and recorded a run the scenario does not describe; ``dpsim validate`` compared it with the priced setting and
    blamed the model. Refused before a rank starts (:func:`runtime.job.check_supported`), under torchrun too,
    naming the field, nothing written."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # the runtime is an extra (dpsim[runtime])
        return
    yield from _refused_before_any_rank("what the runtime cannot run (round 22)", _UNRUN_SETTINGS,
                                        "communication.dtype=bf16")  # fmt: skip


def _refused_before_any_rank(
    kind: str, table: Sequence[tuple[tuple[str, ...], str]], under_torchrun: str
) -> Iterator[Case]:
    """Each of ``table``'s settings given to ``python -m runtime`` and to ``dpsim validate``, and ``under_torchrun`` to
    torchrun's rank 0 (refused before the group is joined): exit 2 naming the field, nothing written."""
    outputs = ("{tmp}/out.jsonl", "{tmp}/run", "{tmp}/v")
    for items, names in table:
        sets = [part for item in items for part in ("--set", item)]
        yield Case(kind, [_RUNTIME_SCENARIO, "--run-dir", "{tmp}/run", "--out", "{tmp}/out.jsonl", *sets],
                   expect_error=True, names=names, outputs=outputs, program="runtime")  # fmt: skip
        yield Case(kind, ["validate", _RUNTIME_SCENARIO, "--case", ";".join(items), "--out-dir", "{tmp}/v"],
                   expect_error=True, names=names, outputs=outputs)  # fmt: skip
    yield Case(kind, [_RUNTIME_SCENARIO, "--out", "{tmp}/out.jsonl", "--set", under_torchrun], env=_RENDEZVOUS,
               expect_error=True, names=under_torchrun.split("=")[0], outputs=outputs, program="runtime")  # fmt: skip


def _other_backend_profile() -> bytes:
    """The validation profile (gloo, CPU ranks) relabelled as measured with NCCL."""
    return PROFILE.read_bytes().replace(b"\nbackend: gloo\n", b"\nbackend: nccl\n", 1)


def validate_options_before_its_folder() -> Iterator[Case]:
    """Round 22. ``dpsim validate`` made ``--out-dir`` before it judged ``--device``, ``--nccl-pin`` and
    ``--nccl-debug``: each refusal left an empty folder behind; ``--out-dir ''`` (typer reads it as '.') calibrated
    into the current folder; a ``--profile`` measured with NCCL predicted cases that run gloo (and the reverse).
    Now every option is judged before the folder is made, an empty path option is refused by every command, and
    a profile of the other backend is refused, naming the option."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # the runtime is an extra (dpsim[runtime])
        return
    kind = "validate options first (round 22)"
    files = {"s.yaml": SMALL.encode(), "nccl.yaml": _other_backend_profile()}
    validate = ["validate", _RUNTIME_SCENARIO, "--case", "training.micro_batch=8", "--out-dir", "{tmp}/v"]
    outputs = ("{tmp}/v",)
    for extra, names in ((("--device", "tpu"), "--device"), (("--device", "cuda"), "--device"),
                         (("--nccl-pin",), "--nccl-pin"), (("--nccl-debug",), "--nccl-debug"),
                         (("--nccl-pin", "--device", "cuda"), "--device"),
                         (("--profile", "{tmp}/nccl.yaml"), "--profile"),
                         (("--profile", ""), "--profile")):  # fmt: skip
        yield Case(kind, [*validate, *extra], files, expect_error=True, names=names, outputs=outputs)
    yield Case(kind, ["validate", _RUNTIME_SCENARIO, "--case", "training.micro_batch=8", "--out-dir", ""], files,
               expect_error=True, names="--out-dir")  # fmt: skip  # calibrated into the working folder
    for argv, option, _ in _file_options():
        yield Case(kind, [*argv, option, ""], files, expect_error=True, names=option.lstrip("-")[:3],
                   outputs=("{tmp}/p.yaml",))  # fmt: skip
    yield Case(kind, ["calibrate", _RUNTIME_SCENARIO, "--out", ""], files, expect_error=True, names="--out")


def runtime_outputs_in_its_run_folder() -> Iterator[Case]:
    """Round 22. ``python -m runtime --out RUN/rank0.jsonl --run-dir RUN`` appended the record to rank 0's step
    timings (and ``--out RUN``, a folder not made yet, failed once every rank had run); ``--nccl-debug`` on CPU ranks
    or with ``--backend gloo`` was ignored without a word (``--nccl-pin`` was refused). Refused before a rank
    starts, naming the option, nothing written."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # the runtime is an extra (dpsim[runtime])
        return
    kind = "runtime outputs in run folder (round 22)"
    at = [_RUNTIME_SCENARIO, "--run-dir", "{tmp}/run"]
    outputs = ("{tmp}/run", "{tmp}/o.jsonl")
    for extra, names in ((("--out", "{tmp}/run"), "--out"), (("--out", "{tmp}/run/rank0.jsonl"), "--out"),
                         (("--trace", "{tmp}/run/rank3.log"), "--trace"),
                         (("--out", "{tmp}/run/scenario.yaml"), "--out"),
                         (("--trace", "{tmp}/run/../run"), "--trace"), (("--nccl-debug",), "--nccl-debug"),
                         (("--nccl-debug", "--backend", "gloo"), "--nccl-debug"),
                         (("--nccl-pin", "--backend", "gloo"), "--nccl-pin")):  # fmt: skip
        yield Case(kind, [*at, *extra], expect_error=True, names=names, outputs=outputs, program="runtime")
    for extra, names in ((("--nccl-debug",), "--nccl-debug"), (("--out", "{tmp}/run/rank0.jsonl"), "--out")):
        yield Case(kind, [*at, *extra], env=_RENDEZVOUS, expect_error=True, names=names, outputs=outputs,
                   program="runtime")  # fmt: skip  # torchrun's rank 0, before the group is joined


def signals_mid_runtime_run() -> Iterator[Case]:
    """Round 22. Ctrl-C (SIGINT) or ``kill`` (SIGTERM) sent to a local runtime run's whole process group (the
    launcher and its four ranks) while it steps: ``python -m runtime`` ended with a ``KeyboardInterrupt`` traceback
    (SIGINT) or with status 143 and no word (SIGTERM), as ``dpsim validate`` did on SIGTERM (its launcher's handler,
    ``runtime.launch.signals_as_exceptions``: a unit test covers it); its temporary run folder stayed in ``$TMPDIR``.
    Now exit 128 + the signal with one line ('error: stopped by SIGTERM'), no process left in the group, no record,
    trace or temporary folder written. (Two cases: each starts five interpreters, 6-30 s on a loaded machine.)"""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # the runtime is an extra (dpsim[runtime])
        return
    kind = "signals mid runtime run (round 22)"
    files = {"tmpd/.keep": b""}
    run = [_RUNTIME_SCENARIO, "--steps", "100000", "--out", "{tmp}/out.jsonl", "--trace", "{tmp}/t.json"]
    outputs = ("{tmp}/out.jsonl", "{tmp}/t.json", "{tmp}/tmpd/dpsim-run-*")
    yield Case(kind, [*run, "--run-dir", "{tmp}/run"], files, subprocess=True, expect_error=True, names="SIGINT",
               outputs=outputs, signal=signal.SIGINT, signal_when="{tmp}/run/rank0.jsonl",
               program="runtime")  # fmt: skip
    yield Case(kind, run, files, env={"TMPDIR": "{tmp}/tmpd"}, subprocess=True, expect_error=True, names="SIGTERM",
               outputs=outputs, signal=signal.SIGTERM, signal_when="{tmp}/tmpd/dpsim-run-*/rank0.jsonl",
               program="runtime")  # fmt: skip


PLAIN_DDP = ROOT / "benchmarks" / "results" / "plain-ddp-2026-12-06-l"
"""A plain-DDP gloo testbed's profile with a host model whose senders share the cores with the backward
(``comm_cpu_per_byte``, its ``comm_cpu_per_byte_by_rate``), and the scenario it was measured for."""


def _host_field(pattern: str, replacement: str) -> bytes:
    text = (PLAIN_DDP / "profile.yaml").read_text(encoding="utf-8")
    damaged, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, pattern
    return damaged.encode()


def host_sharing_fields() -> Iterator[Case]:
    """Round 22. The host fields the backward's share of the cores is priced from
    (:meth:`dpsim.calibration.HardwareProfile.comm_rate_in_backward`: ``min(1, L/u)``, ``u`` from
    ``comm_cpu_per_byte`` or its per-rate curve), at 4 ranks a host in both engines: cores and CPU time per byte
    written as YAML 1.1 numbers (``0x2`` is YAML 1.2's 2; ``1_000``, ``yes``, ``.inf`` are not numbers), at the ends of
    their ranges, missing, or beside a key no profile has (``comm_rate_in_backward``, derived, never stored). Each is
    refused naming the field, or runs with a finite result."""
    kind = "host sharing in profiles (round 22)"
    at = ("--set", "calibration.profile={tmp}/p.yaml", "--set", "cluster.workers_per_node=4", "--set",
          "training.global_batch=384", "--format", "json")  # fmt: skip
    cores, kappa, curve = r"^(  )cores: .*$", r"^(  )comm_cpu_per_byte: .*$", r"^(    - )18\.05476915030828 ns$"
    for pattern, replacement, names in (
        (cores, r"\1cores: 1_000", "host_model.cores"), (cores, r"\1cores: yes", "host_model.cores"),
        (cores, r"\1cores: .inf", "host_model.cores"), (cores, r"\1cores: -2", "host_model.cores"),
        (kappa, r"\1comm_cpu_per_byte: .inf s", "host_model.comm_cpu_per_byte"),
        (kappa, r"\1comm_cpu_per_byte: 0x10 ns", "host_model.comm_cpu_per_byte"),
        (kappa, r"\1comm_cpu_per_byte: 1_0 ns", "host_model.comm_cpu_per_byte"),
        (kappa, r"\g<0>\n\1comm_rate_in_backward: 0.5", "host_model.comm_rate_in_backward"),
        (curve, r"\1.nan ns", "host_model.comm_cpu_per_byte_by_rate"),
        (curve, r"\1off", "host_model.comm_cpu_per_byte_by_rate"),
    ):  # fmt: skip
        for engine in ("analytic", "sim"):
            yield Case(kind, ["run", str(PLAIN_DDP / "scenario.yaml"), *at, "--engine", engine],
                       {"p.yaml": _host_field(pattern, replacement)}, expect_error=True, names=names)  # fmt: skip
    for pattern, replacement in ((cores, r"\1cores: 0x2"), (cores, r"\1cores: 1e-6"), (cores, r"\1cores: 1e9"),
                                 (kappa, r"\1comm_cpu_per_byte: 1e6 s"), (kappa, ""),
                                 (curve, r"\g<1>1e9 s")):  # fmt: skip
        for engine in ("analytic", "sim"):
            yield Case(kind, ["run", str(PLAIN_DDP / "scenario.yaml"), *at, "--engine", engine],
                       {"p.yaml": _host_field(pattern, replacement)}, accept=True, strict_json=True,
                       finite=True)  # fmt: skip


def _schema_choices() -> list[tuple[str, list[dict[str, Any]]]]:
    """Every scenario field that holds a value (not a section), with the schemas ``dpsim schema`` allows for it (one,
    or each of its ``anyOf``), a list's item fields left out."""
    from dpsim.scenario import scenario_schema

    schema = scenario_schema()
    found: list[tuple[str, list[dict[str, Any]]]] = []

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        return node

    def walk(node: dict[str, Any], path: str) -> None:
        choices = [resolve(n) for n in resolve(node).get("anyOf", [resolve(node)])]
        sections = [c for c in choices if "properties" in c]
        for choice in sections:
            for key, child in choice["properties"].items():
                walk(child, f"{path}.{key}" if path else key)
        if path and not sections:
            found.append((path, choices))

    walk(schema, "")
    return found


def _schema_leaves() -> list[tuple[str, set[str]]]:
    """Every value field of :func:`_schema_choices` with the JSON types it takes (``"any"`` where the schema gives
    none: ``model.parameters``, ``cluster.host_link``)."""
    return [(path, {str(c.get("type", "any")) for c in choices}) for path, choices in _schema_choices()]


def every_field_in_another_shape() -> Iterator[Case]:
    """Round 23. Every field of ``dpsim schema`` that is not a number (names, presets, enums, booleans, lists, the
    free-form ``model.parameters`` and ``cluster.host_link``; the number fields have their class) given a shape it
    does not take: a list where one value goes, a map, and a scalar or an empty text where a list goes. Each is
    refused naming the field (a preset by the section it names: ``model``, ``cluster.device``)."""
    kind = "every field in another shape (round 23)"
    for path, types in _schema_leaves():
        if types & {"integer", "number"}:
            continue
        names = path.removesuffix(".preset")
        values = ["{a: 1}"]
        if "array" in types:
            values += ["''", "true"] if "string" not in types else []
        else:
            values += ["[true]" if types == {"boolean"} else "[x]"]
        for value in values:
            yield _set_case(kind, f"{path}={value}", command="check", names=names)


_EXTREME_DOUBLES = ("5e-324", "2.2250738585072014e-308", "1.7976931348623157e308")
"""The smallest subnormal, the smallest normal and the largest finite double: each parses, and each is refused by
a range or priced; none may reach a result as inf or NaN (1e-320 / 5e-324 divided into a time, 1.8e308 times 2)."""


def extreme_doubles_priced() -> Iterator[Case]:
    """Round 23. Every number field of ``dpsim schema`` at the ends of the double (the smallest subnormal 5e-324,
    the smallest normal, the largest finite), run through both engines: refused naming the field, or a finite
    result (an underflow past 1e-400 and an overflow past 1e308 have their classes; these values are numbers a
    range check lets through unless it says where the range ends)."""
    kind = "extreme doubles, priced (round 23)"
    for path, types in _schema_leaves():
        if not types & {"integer", "number"}:
            continue
        for value in _EXTREME_DOUBLES:
            yield _set_case(kind, f"{path}={value}", extra=("--format", "json"), expect_error=False, names=path,
                            finite=True)  # fmt: skip
        yield _set_case(kind, f"{path}={_EXTREME_DOUBLES[0]}", extra=("--engine", "sim", "--format", "json"),
                        expect_error=False, names=path, finite=True)  # fmt: skip


def joint_refusals_name_the_field_set() -> Iterator[Case]:
    """Round 23. A constraint between two fields named the one the user did not set: ``training.pipeline_parallel=3``
    on 4 workers was refused as ``training.tensor_parallel: ... TP=1 x PP=3 does not divide 4``; 12 layers over 2
    stages of 5 interleaved chunks, or 2 embedding slots beside 4 stages, as ``training.pipeline_parallel``. The
    error names the degree that does not divide (both fields in its text), in ``check``, ``run`` and a sweep's point.
    And a plan's Pareto plot at a price of 0: every cost 0, which a log axis cannot draw (matplotlib's warning
    on stderr, the points dropped): drawn on a linear axis."""
    kind = "joint refusals name the field set (round 23)"
    wide = ("cluster.workers_per_node=4", "training.global_batch=auto")
    for sets, names in (
        (("training.pipeline_parallel=3",), "training.pipeline_parallel"),
        (("training.pipeline_parallel=8",), "training.pipeline_parallel"),
        (("training.tensor_parallel=3",), "training.tensor_parallel"),
        (("training.tensor_parallel=4", "training.pipeline_parallel=3"), "training.pipeline_parallel"),
        ((*wide, "training.tensor_parallel=4", "training.pipeline_parallel=4"), "training.tensor_parallel"),
        ((*wide, "training.pipeline_parallel=4", "training.embedding_pipeline_slots=true"),
         "training.embedding_pipeline_slots"),
        (("training.pipeline_parallel=2", "training.pipeline_schedule=interleaved", "training.virtual_stages=5",
          "training.global_batch=auto"), "training.virtual_stages"),
        ((*wide, "training.pipeline_parallel=4", "training.pipeline_schedule=interleaved",
          "training.virtual_stages=2"), "training.virtual_stages"),
        ((*wide, "model.layers=10", "training.pipeline_parallel=4"), "training.pipeline_parallel"),
    ):  # fmt: skip
        yield _set_case(kind, *sets, command="check", names=f"error: <command line>: {names}: ")
        yield _set_case(kind, *sets, names=names)
        yield _set_case(kind, *sets[:-1], command="sweep", extra=("--vary", sets[-1]), names=names)
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1e9", "--max-devices", "8", "--simulate", "0",
            "--no-progress", "--plot", "{tmp}/pareto.png"]  # fmt: skip
    yield Case(kind, [*plan, "--price", "0"], accept=True)
    yield Case(kind, [*plan, "--device", "a100-80gb", "--device", "h100-sxm", "--price", "a100-80gb=0", "--price",
                      "h100-sxm=2"], accept=True)  # fmt: skip


_SMALL_GPT = "model={kind: transformer, layers: 2, hidden: 64, heads: 4, seq_len: 32, vocab: 256}"
"""A transformer the runtime builds as the engines price it (GPT-2 blocks), which the cases below change."""

_UNBUILT: tuple[tuple[tuple[str, ...], str], ...] = (
    (("variability.compute_jitter_cv=0.1",), "variability.compute_jitter_cv"),
    (("variability.compute_jitter_cv=2", "variability.jitter_distribution=gamma"), "variability.compute_jitter_cv"),
    # round 27 (stop 45): variability.rank_speed_sigma, new this stop, reached the ranks (the prediction alone waited
    # for the slowest of its draws)
    (("variability.rank_speed_sigma=0.05",), "variability.rank_speed_sigma"),
    (("variability.rank_speed_sigma=0.2", "variability.seed=3"), "variability.rank_speed_sigma"),
    (("model.kind=cnn",), "model.kind"),
    ((_SMALL_GPT, "model.gated_mlp=true"), "model.gated_mlp"),
    ((_SMALL_GPT, "model.kv_heads=1"), "model.kv_heads"),
    ((_SMALL_GPT, "model.tied_embeddings=false"), "model.tied_embeddings"),
    ((_SMALL_GPT, "model.learned_positions=false"), "model.learned_positions"),
    ((_SMALL_GPT, "model.token_types=2"), "model.token_types"),
    ((_SMALL_GPT, "model.pooler=true"), "model.pooler"),
    ((_SMALL_GPT, "model.causal=false"), "model.causal"),
    ((_SMALL_GPT, "model.parameters=1000"), "model.parameters"),
    (("model=llama3-8b", "training.precision=bf16"), "model.kv_heads"),
    (("training.precision=bf16", "training.optimizer_copies=separate"), "training.optimizer_copies"),
    (("training.precision=bf16", "training.zero_stage=3", "training.optimizer_sharding=fsdp",
      "training.optimizer_copies=separate"), "training.optimizer_copies"),
    (("cluster.rank_order=round_robin",), "cluster.rank_order"), (("cluster.rank_order=[0, 2, 1, 3]",),
                                                                  "cluster.rank_order"),
)  # fmt: skip
"""Round 23. Scenario fields the engines price and the runtime neither draws nor builds, with the field named."""


def what_the_runtime_neither_draws_nor_builds() -> Iterator[Case]:
    """Round 23 (hostile2). A walk of every scenario field on the CPU scenario (each value the schema takes; the
    analytic and sim steps against the default's) found what moves a prediction and reached the ranks unrefused:
    ``variability.compute_jitter_cv`` (the simulator draws each micro-batch's compute; nothing in the runtime did:
    sim 0.205404 -> 0.205545 s at 0.5), ``model.kind: cnn`` (built as an MLP of as many parameters), and a
    transformer's layout (``llama3-8b`` ran as GPT-2 blocks of its shape: 6.47e9 parameters for the priced 8.03e9;
    a gated MLP, GQA, an untied head, no position table, token types, a pooler, bidirectional attention, a
    ``parameters`` beside the shape). Refused before a rank starts (:func:`runtime.job.check_supported`), under
    torchrun too, naming the field, nothing written."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # the runtime is an extra (dpsim[runtime])
        return
    yield from _refused_before_any_rank("what the runtime neither draws nor builds (round 23)", _UNBUILT,
                                        "model.kind=cnn")  # fmt: skip


def profile_links_without_a_time_per_byte() -> Iterator[Case]:
    """Round 23 (hostile2). A walk of every leaf of the two committed profiles (validation, plain-DDP -l) at
    ``.nan``, ``.inf``, -1, 0, 1e300, a word and a list, through ``dpsim run`` on both engines (2,786 runs): one
    traceback. An unshaped link of the p-norm form (``sharpness`` set, no ``efficiency``: no wire term) with
    ``host_per_byte: 0 s`` cost nothing a byte, and ``LinkModel.at_rate`` divided by zero (``ZeroDivisionError``)
    in every command that prices it. Refused at load naming the field; a shaped link's κ of 0 (its wire still
    costs) runs."""
    kind = "profile links without a time per byte (round 23)"
    run = ["run", str(CPU_SCENARIO), "--set", "calibration.profile={tmp}/p.yaml"]
    zero = "links.intra.ring.host_per_byte"
    for edits, names in (
        ((_at(zero, "0 s"),), zero), ((_at(zero, "0 ns"), _at("links.intra.ring.cpu_per_byte", "0 s")), zero),
        ((_at(zero, "-0.0 s"),), zero), ((_at(zero, "0 s"), _at("links.intra.ring.host_per_byte_by_rate",
                                                                 [["1 GB/s", "0 s"]])), zero),
        ((_at(zero, "1 ns"), _at("links.intra.ring.host_per_byte_by_rate", [["1 GB/s", "0 s"]])), zero),
    ):  # fmt: skip
        data = _profile_edit(lambda d, edits=edits: [edit(d) for edit in edits])
        for argv in ([*run, "--engine", "analytic"], [*run, "--engine", "sim"],
                     ["collective", str(CPU_SCENARIO), "--set", "calibration.profile={tmp}/p.yaml", "--sizes",
                      "1MiB,2MiB"]):  # fmt: skip
            yield Case(kind, argv, {"p.yaml": data}, expect_error=True, names=names)
    for path, value in (("links.inter.ring.host_per_byte", "0 s"), ("links.intra.ring.cpu_per_byte", "1 ns")):
        data = _profile_edit(lambda d, path=path, value=value: (_at(zero, "0 s")(d), _at(path, value)(d))
                             if path.startswith("links.intra") else _at(path, value)(d))  # fmt: skip
        for engine in ("analytic", "sim"):
            yield Case(kind, [*run, "--engine", engine, "--format", "json"], {"p.yaml": data}, accept=True,
                       strict_json=True, finite=True)  # fmt: skip


def compute_calibration_refusals() -> Iterator[Case]:
    """Round 23 (hostile2). ``dpsim calibrate --compute``'s refusals (stop 40: a GPU's scenario timed on a CPU, a
    fit faster than the device's peak, ``--dtype``, ``--device`` where there is no CUDA) had unit tests and no
    class. One wrong word found: a fit above the peak told an fp32 scenario of the catalog ``cpu`` to set
    ``cluster.device.peak_flops``, a field its fp32 GEMMs are not priced at (``peak_flops_fp32``): set as told, the
    same refusal came back. Each is one line naming the option or field, nothing written; two time a small sweep
    (64 and 256)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # the runtime is an extra (dpsim[runtime])
        return
    kind = "calibrate --compute refusals (round 23)"
    outputs = ("{tmp}/g.yaml", "{tmp}/r.json")
    cpu = str(CPU_SCENARIO)
    base = ["calibrate", "--compute", "--out", "{tmp}/g.yaml", "--gemm-sizes", "32,64"]
    # the two refused after the sweep is fitted time GEMMs of 64 and 256: at 32 and 64 (19-21 us, mostly launch) a
    # busy machine's noise gave a slope <= 0 once in a run of the corpus (stop 44), the fit's own refusal first
    timed = [*base[:-1], "64,256"]
    for argv, names in (
        ([*base, "--device", "tpu", cpu], "--device"), ([*base, "--device", "", cpu], "--device"),
        ([*base, "--dtype", "fp8", cpu], "--dtype"), ([*base, "--dtype", "BF16", cpu], "--dtype"),
        ([*base, "--reps", "0", cpu], "--reps"), ([*base, "--records", "{tmp}/g.yaml", cpu], "--records"),
        ([*base, "--gemm-sizes", "64", cpu], "--gemm-sizes"), ([*base, "--gemm-sizes", "0,32", cpu], "--gemm-sizes"),
        ([*timed, "--records", "{tmp}/r.json", "--set", "cluster.device.peak_flops_fp32=1 GFLOP/s", cpu],
         "peak_flops_fp32"),
        ([*timed, "--set", "training.precision=bf16", "--set", "cluster.device.peak_flops=1 GFLOP/s", cpu],
         "peak_flops"),
    ):  # fmt: skip
        yield Case(kind, argv, expect_error=True, names=names, outputs=outputs)
    if not _has_cuda():  # a GPU's scenario timed on this CPU, and a CUDA sweep asked for where there is none
        for argv, names in (([*base, str(DEFAULT)], "cluster.device"), ([*base, "--device", "cuda", cpu], "--device"),
                            ([*base, "--device", "cuda", str(DEFAULT)], "--device")):  # fmt: skip
            yield Case(kind, argv, expect_error=True, names=names, outputs=outputs)


def cuda_ranks_without_a_gpu() -> Iterator[Case]:
    """Round 23 (hostile2). Under torchrun's variables with ``--device cuda`` on a machine without CUDA, ``python -m
    runtime``, ``dpsim calibrate`` and ``dpsim validate`` went on to ``torch.cuda.set_device`` or NCCL's setup in
    every rank; now one line naming ``--device`` before the group is joined or a folder made (a ``LOCAL_RANK`` at or
    beyond the GPUs a node has is refused the same way, naming it: a unit test, as this machine has none)."""
    import importlib.util

    if importlib.util.find_spec("torch") is None or _has_cuda():  # the runtime is an extra; a GPU box runs them
        return
    kind = "cuda ranks without a GPU (round 23)"
    outputs = ("{tmp}/out.jsonl", "{tmp}/p.yaml", "{tmp}/v")
    for argv, program in (
        ([_RUNTIME_SCENARIO, "--device", "cuda", "--out", "{tmp}/out.jsonl"], "runtime"),
        ([_RUNTIME_SCENARIO, "--device", "cuda", "--backend", "nccl", "--out", "{tmp}/out.jsonl"], "runtime"),
        (["calibrate", _RUNTIME_SCENARIO, "--device", "cuda", "--out", "{tmp}/p.yaml"], "dpsim"),
        (["validate", _RUNTIME_SCENARIO, "--device", "cuda", "--case", "training.micro_batch=8", "--out-dir",
          "{tmp}/v"], "dpsim"),
    ):  # fmt: skip
        for env in (_RENDEZVOUS, {**_RENDEZVOUS, "LOCAL_RANK": "1"}):
            yield Case(kind, argv, env=env, expect_error=True, names="--device", outputs=outputs, program=program)


def overrides_blamed_on_a_valid_file() -> Iterator[Case]:
    """Round 24. A constraint between two fields named the one the command line left alone, with the file as its
    source: ``--set training.optimizer_sharding=fsdp`` was ``s.yaml: training.zero_stage: ...`` (a file that is
    valid alone), ``--set model.kind=cnn`` on a transformer preset ``s.yaml: model.heads: ... leave it out`` (a
    field the file never wrote: the preset's), ``kind: transformer`` on ``resnet-50`` ``model.layers: a transformer
    needs layers > 0 (or a preset)`` beside a preset. Now the error's source is the command line, saying beside
    which override it was refused (``dpsim.scenario._blame_overrides``), and a kind against its preset is named as
    ``model.kind``; in ``check``, ``run`` and a sweep's point. A file wrong by itself keeps its own error."""
    kind = "overrides blamed on the file (round 24)"
    beside = "error: <command line>: training.zero_stage: refused beside training.optimizer_sharding"
    for sharding in ("fsdp", "megatron", "torch"):
        yield _set_case(kind, f"training.optimizer_sharding={sharding}", command="check", names=beside)
        yield _set_case(kind, f"training.optimizer_sharding={sharding}", names=beside)
        yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", f"training.optimizer_sharding=zero,{sharding}"],
                   {"s.yaml": SMALL.encode()}, expect_error=True, names=beside)  # fmt: skip
    for model in ("cnn", "mlp"):
        yield _set_case(kind, f"model.kind={model}", command="check",
                        names=f"error: <command line>: model.kind: {model} beside preset gpt2-small")  # fmt: skip
        yield _file_case(kind, _replace("{preset: gpt2-small}", f"{{preset: gpt2-small, kind: {model}}}"),
                         names="s.yaml: model.kind: ")  # fmt: skip
    for preset in ("resnet-50", "mlp-tiny"):
        yield _set_case(kind, f"model={{preset: {preset}, kind: transformer}}", command="check",
                        names="error: <command line>: model.kind: transformer beside preset")  # fmt: skip
    yield Case(kind, ["check", "{tmp}/s.yaml", "--set", "model={preset: resnet-50, kind: mlp}"],
               {"s.yaml": SMALL.encode()}, accept=True)  # fmt: skip  # a kind of the preset's family: runs
    torch = ("cluster.workers_per_node=4", "training.global_batch=auto", "training.pipeline_parallel=2",
             "training.pipeline_runtime=torch", "training.pipeline_schedule=interleaved")  # fmt: skip
    yield _set_case(kind, *torch, command="check",
                    names="<command line>: training.virtual_stages: refused beside training.pipeline_runtime, "
                          "training.pipeline_schedule (valid without them)")  # fmt: skip
    wrong = _replace("micro_batch: 2}", "micro_batch: 2, optimizer_sharding: fsdp}")
    yield _file_case(kind, wrong, "--set", "training.precision=bf16", names="s.yaml: training.zero_stage: ")


def settings_left_nothing_to_act_on() -> Iterator[Case]:
    """Round 24. Settings the rest of the scenario leaves nothing to act on, which stop 41's probe found accepted and
    unlisted (the same step to the bit) and main now lists (``Scenario._unread_at_one_rank_or_step``, the flat-priced
    kernel fields): each must be named in every record's ``extra.ignored_fields`` on both engines, and where it is
    read (full recomputation of an MLP, two accumulation steps, DDP at one rank, momentum, a curve-priced step) the
    run is plain."""
    kind = "nothing to act on, listed (round 24)"
    cpu, small = DEFAULT.parent / "cpu-cluster-4-ranks-1gbit.yaml", {"s.yaml": SMALL.encode()}
    one = ("cluster.nodes=1", "cluster.workers_per_node=1", "training.global_batch=auto")
    fsdp = ("training.zero_stage=3", "training.optimizer_sharding=fsdp", "training.fsdp_no_sync=true")
    flat = ("cluster.device.efficiency=0.5",)
    for sets, name, read in (
        (("training.activation_recomputation=selective",), "training.activation_recomputation",
         ("training.activation_recomputation=full",)),
        ((*one, "training.gradient_as_bucket_view=true"), "training.gradient_as_bucket_view",
         (*one, "training.gradient_as_bucket_view=true", "training.ddp_at_one_rank=true")),
        ((*one, "communication.overlap=false"), "communication.overlap", ("communication.overlap=false",)),
        (("training.optimizer=sgd", "training.optimizer_kernels=foreach"), "training.optimizer_kernels",
         ("training.optimizer=momentum", "training.optimizer_kernels=foreach")),
    ):  # fmt: skip
        base = ["run", str(cpu), "--format", "json"]
        for engine in ("analytic", "sim"):
            argv = [*base, "--engine", engine, *[a for s_ in sets for a in ("--set", s_)]]
            yield Case(kind, argv, listed=name)
        yield Case(kind, [*base, *[a for s_ in read for a in ("--set", s_)]], accept=True)
    run = ["run", "{tmp}/s.yaml", "--format", "json"]
    for engine in ("analytic", "sim"):
        yield Case(kind, [*run, "--engine", engine, *[a for s_ in fsdp for a in ("--set", s_)]], small,
                   listed="training.fsdp_no_sync")  # fmt: skip
        yield Case(kind, [*run, "--engine", engine, "--set", flat[0], "--set", "model.norm_kernel=torch_two_pass"],
                   small, listed="model.norm_kernel")  # fmt: skip
    yield Case(kind, [*run, *[a for s_ in fsdp for a in ("--set", s_)], "--set", "training.global_batch=16"], small,
               accept=True)  # fmt: skip  # two accumulation steps: no_sync runs the first
    yield Case(kind, [*run, "--set", "model.norm_kernel=torch_two_pass"], small, accept=True)  # on the curves


def benchmark_script_options() -> Iterator[Case]:
    """Round 25. The offline benchmark scripts' options (no root, no GPU): a count of 0 or -1 was a median of
    nothing (``budget_check --max-ranks 0``, ``analytic_sweep --repeats 0``, ``sim_scale --repeat 0``,
    ``pricing_cpu --repeat 0``: ``StatisticsError`` tracebacks), a world of 0 a ``ZeroDivisionError``
    (``sim_scale --sizes 0``), a word in a list a ``ValueError``, a missing ``slowest_rank --runs`` folder a
    ``FileNotFoundError``, a scenario error from ``pricing_cpu --nodes -1`` a traceback; ``planner --only`` and
    ``pricing_cpu --cases`` naming nothing they know ran nothing and said nothing, ``slowest_rank --slice nan``
    was taken; and argparse's own errors were two lines (its usage first). Each is now one line naming the option
    (``benchmarks/script_cli.py``: ``Parser``, ``whole``, ``wholes``, ``number``), before any work."""
    kind = "benchmark script options (round 25)"
    for script, option, values in (
        ("budget_check", "--max-ranks", ("0", "-1", "15", "x", "1e300", "\uff11\uff16")),
        ("sim_scale", "--sizes", ("0", "-1", "nan", "8,x", "8,,16", "99999999999999999999999")),
        ("sim_scale", "--repeat", ("0", "-1", "nan", "1001")),
        ("sim_scale", "--ring", ("0", "x")),
        ("analytic_sweep", "--repeats", ("0", "-1", "", "1_000")),
        ("pricing_cpu", "--repeat", ("0", "-3")),
        ("pricing_cpu", "--nodes", ("-1", "0", "1e6", "18446744073709551616")),
        ("pricing_cpu", "--direct-nodes", ("0", "128,x", "")),
        ("pricing_cpu", "--cases", ("x", "", "hybrid,", "HYBRID")),
        ("planner", "--repeats", ("0", "nan")),
        ("planner", "--only", ("zzz", "", "\x1b[31m")),
        ("slowest_rank", "--slice", ("nan", "inf", "-1", "0", "1e300", "x")),
        ("slowest_rank", "--rounds", ("0", "-1")),
        ("slowest_rank", "--ranks", ("0", "2,x", "65")),
        ("slowest_rank", "--runs", ("{tmp}/missing", "{tmp}")),
        ("link_fit_points", "--limit", ("x", "", "nan", "-1", "0")),
        ("validation_patterns", "--engines", ("x", "")),
        ("agreement_fuzz", "--cases", ("0", "x")),
    ):  # fmt: skip
        for value in values:
            argv = [option, value]
            if script == "slowest_rank" and option != "--runs":
                argv += ["--runs", "{tmp}/missing"]  # refused at the option, never measured
            if script == "planner" and option == "--repeats":
                argv += ["--only", "zzz"]
            yield Case(kind, argv, expect_error=True, names=option, program=f"benchmarks/{script}")
    for script in ("budget_check", "sim_scale", "analytic_sweep", "pricing_cpu", "planner", "slowest_rank",
                   "link_fit_points", "validation_patterns", "agreement_fuzz"):  # fmt: skip
        yield Case(kind, ["--no-such-option"], expect_error=True, names="--no-such-option",
                   program=f"benchmarks/{script}")  # fmt: skip
    bench = ["--run-dir", "{tmp}/rb"]
    for argv, names in (([], "RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set"), (["--reps", "0"], "--reps"),
                        (["--sizes", "1,x"], "--sizes"), (["--sizes", "0"], "--sizes"),
                        (["--warmup", "-1"], "--warmup"),
                        (["--reps", "5", "--max-reps", "2"], "--max-reps"), (["--budget-s", "nan"], "--budget-s"),
                        (["--budget-s", "-1"], "--budget-s"), (["--per-node", "0"], "--per-node"),
                        (["--backend", "mpi"], "--backend"), (["--reps", "\uff15"], "--reps")):  # fmt: skip
        yield Case(
            kind, [*bench, *argv], expect_error=True, names=names, outputs=("{tmp}/rb",), program="runtime.bench"
        )
    runs = {"v/runs.jsonl": b'{"extra": {"per_rank_compute_s": 1}}\n'}
    yield Case(kind, ["--runs", "{tmp}/v"], runs, expect_error=True, names="--runs", program="benchmarks/slowest_rank")


_NO_TESTBED = {"DPSIM_NETNS_PREFIX": "0bad"}
"""A namespace prefix the testbed refuses (it starts with a digit): a case that reached the emulated cluster ends in
that one line (``vague``: it names no option) instead of starting namespaces on a machine where dpsim runs as root."""


def root_scripts_before_the_testbed() -> Iterator[Case]:
    """Round 26. The root scripts with ``--case-set`` (``plain_ddp.py``, ``ddp_timeline.py``; only their ``--reuse``
    needs no root) and ``thread_share.py``, which runs plain DDP's worker, checked little before the emulated
    cluster: a word was argparse's two-line usage (``--repeats x``,
    ``--case-set bogus``, a worker option ``--layers x``), ``ddp_timeline --repeats 0`` or ``--cases ''`` ran
    nothing and said nothing, ``--steps 0`` measured a case and ended in a traceback, ``--warmup-steps -1``,
    ``--timeout nan``, ``--lr nan`` or ``--out run.json/`` started a cluster, ``--per-node 0`` was a
    ``ZeroDivisionError`` once it was up, ``ddp_timeline --reuse`` of a missing or damaged folder a traceback, and
    ``--reuse`` or ``--ab`` dropped options they do not read; ``thread_share --rates x`` or ``--buckets bogus`` was a
    traceback after the table's header, its ``--reuse`` of a missing folder one too; a ``--worker`` run by hand was
    ``init_process_group``'s traceback. The other scripts that build the cluster read their rates, sizes and rank
    counts as they went: ``emulated_busbw`` / ``tree_links --rate x`` a ``UnitError``, ``--ranks x`` a ``ValueError``
    after the table's header, ``overlap_window --rates x`` a ``CalledProcessError``, ``comm_contention --rates x`` one
    after its folder was made, ``comm_share`` / ``link_overlap --rates nan`` or ``--ranks 0`` reached the testbed
    (``script_cli.grid``), ``--reps 0`` failed every rank once the cluster was up. Each is one line naming the option,
    before the testbed is asked for (``script_cli.bandwidth``, ``size``, ``numbers``). So are the local measuring
    scripts' (``optimizer_share --processes x`` a ``ValueError`` after its page-fault probe, ``ddp_hook_pass --steps 0``
    a ``StatisticsError`` after six steps, ``peers --sizes x`` a ``ValueError``, ``host_load --interval 0`` a sampler
    without pause, ``--summary`` of a missing file a ``FileNotFoundError``), and ``validate_emulated --reuse`` took
    ``--repeats``, ``--steps`` and ``--quick`` and dropped them (``--refit`` without ``--reuse`` too)."""
    kind = "root scripts' options before the testbed (round 26)"
    files = {"f.txt": b"", "bad/timeline.jsonl": b"{not json\n", "keys/timeline.jsonl": b'{"index": 0}\n',
             "shape/timeline.jsonl": b'{"index": 0, "repeat": 0, "case": "c", "ranks": 2, "summary": []}\n',
             "none/timeline.jsonl": b"\n", "wbad/windows.jsonl": b"{x\n",
             "wkeys/windows.jsonl": b'{"nodes": 2}\n'}  # fmt: skip
    for script, argv, names in (
        *(("plain_ddp", a, a[0]) for a in (
            ["--repeats", "x"], ["--repeats", "0"], ["--steps", "0"], ["--steps", "x"], ["--warmup-steps", "-1"],
            ["--timeout", "nan"], ["--timeout", "0"], ["--nodes", "0"], ["--per-node", "0"], ["--rate", "x"],
            ["--out", "{tmp}/run.json/"], ["--layers", "0"], ["--layers", "x"], ["--hidden", "\uff11"],
            ["--micro-batch", "1_0"], ["--accumulation", "0"], ["--lr", "nan"], ["--bucket-cap-mb", "-1"],
            ["--bucket-cap-mb", "inf"], ["--seed", "-1"], ["--optimizer", "bogus"], ["--run-dir", "x"],
            ["--bogus"])),
        ("plain_ddp", ["--ab", "--nodes", "4"], "--nodes"), ("plain_ddp", ["--ab", "--layers", "8"], "--layers"),
        ("plain_ddp", ["--ab", "--out", "{tmp}/f.txt"], "--out"),
        *(("ddp_timeline", a, a[0]) for a in (
            ["--repeats", "0"], ["--repeats", "x"], ["--cases", ""], ["--cases", "5,5"], ["--cases", "x"],
            ["--cases", "13"], ["--steps", "0"], ["--warmup-steps", "-1"], ["--case-set", "bogus"],
            ["--case-set", ""], ["--out", "{tmp}/f.txt"], ["--bogus"], ["--timeout", "1"])),
        *(("ddp_timeline", ["--reuse", f"{{tmp}}/{folder}"], "--reuse")
          for folder in ("missing", "bad", "keys", "shape", "none")),
        ("ddp_timeline", ["--reuse", "{tmp}/bad", "--case-set", "fresh"], "--case-set"),
        ("ddp_timeline", ["--reuse", "{tmp}/bad", "--steps", "3"], "--steps"),
        *(("thread_share", a, a[0]) for a in (
            ["--rates", "x"], ["--rates", "200,200"], ["--rates", "nan"], ["--buckets", "bogus"], ["--buckets", ""],
            ["--steps", "0"], ["--nodes", "0"], ["--out", "{tmp}/f.txt"])),
        *(("thread_share", ["--reuse", f"{{tmp}}/{folder}"], "--reuse") for folder in ("missing", "wbad", "wkeys")),
        ("thread_share", ["--reuse", "{tmp}/wbad", "--steps", "3"], "--steps"),
        *((script, a, a[0]) for script in ("emulated_busbw", "tree_links") for a in (
            ["--rate", "x"], ["--rate", "0 Gbit/s"], ["--size", "0 B"], ["--size", "1.5 B"], ["--ranks", "1"],
            ["--ranks", "x"])),
        *(("emulated_busbw", a, a[0]) for a in (
            ["--reps", "0"], ["--algorithms", "bogus"], ["--algorithms", "ring,ring"])),
        *(("overlap_window", a, a[0]) for a in (
            ["--rates", "x"], ["--rates", "nan"], ["--steps", "0"], ["--nodes", "0"])),
        *(("comm_contention", ["--out", "{tmp}/o", *a], a[0]) for a in (
            ["--rates", "x"], ["--ranks", "1"], ["--size", "0"], ["--reps", "0"])),
        ("comm_contention", ["--out", "{tmp}/f.txt"], "--out"),
        *((script, a, a[0]) for script in ("comm_share", "link_overlap") for a in (
            ["--rates", "nan"], ["--rates", "-1"], ["--ranks", "0"], ["--ranks", "x"], ["--sizes", "0"],
            ["--sizes", "1_0"])),
        ("comm_share", ["--reps", "0"], "--reps"),
        *(("optimizer_share", a, a[0]) for a in (
            ["--processes", "x"], ["--processes", "0"], ["--window", "nan"], ["--layers", "0"], ["--cores", "0"],
            ["--runs", "{tmp}/missing"], ["--modes", "bogus"])),
        ("ddp_hook_pass", ["--steps", "0"], "--steps"), ("ddp_hook_pass", ["--hidden", "0"], "--hidden"),
        *(("peers", ["--sizes", v], "--sizes") for v in ("x", "", "1")),
        ("host_load", ["--interval", "0", "--seconds", "1", "--out", "{tmp}/o"], "--interval"),
        ("host_load", ["--seconds", "nan", "--out", "{tmp}/o"], "--seconds"),
        ("host_load", ["--summary", "{tmp}/missing"], "--summary"),
        ("host_load", ["--watch", "-5", "--out", "{tmp}/o"], "--watch"),
        *(("validate_emulated", ["--reuse", str(ROOT / "benchmarks" / "results" / "validation-2026-12-06-o" / "all"),
                                 *a], a[0]) for a in (["--repeats", "5"], ["--steps", "3"], ["--quick"])),
        ("validate_emulated", ["--refit", "--out", "{tmp}/o"], "--refit"),
    ):  # fmt: skip
        yield Case(kind, argv, files, expect_error=True, names=names, program=f"benchmarks/{script}",
                   env=_NO_TESTBED, outputs=("{tmp}/run.json", "{tmp}/benchmarks", "{tmp}/o"))  # fmt: skip
    unset = {name: "" for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    for script in ("plain_ddp", "ddp_timeline", "thread_share"):
        yield Case(kind, ["--worker", "--run-dir", "{tmp}/w"], expect_error=True, names="not set",
                   program=f"benchmarks/{script}", env={**_NO_TESTBED, **unset}, outputs=("{tmp}/w",))  # fmt: skip
    for script, stored in (("ddp_timeline", "ddp-timeline-2026-12-06-p"), ("thread_share", "thread-share-2026-12-04")):
        yield Case(kind, ["--reuse", str(ROOT / "benchmarks" / "results" / stored)], program=f"benchmarks/{script}",
                   accept=True, env=_NO_TESTBED)  # fmt: skip


def shared_fabric_csv_of_jobs_with_other_columns() -> Iterator[Case]:
    """Round 26. ``dpsim run A B --shared-fabric --format csv`` printed the first job's header over every job's row,
    and a job's columns depend on its scenario (a ``reliability`` section adds goodput's four): a later job with
    more columns wrote cells no header named, one with fewer left the header's last columns to nothing, silently
    (read back, a value sat under another column). The header is now every column of any job
    (:func:`dpsim.report.format_results_csv`), a row's missing ones empty; each must end with a rectangular CSV."""
    kind = "shared-fabric CSV of jobs with other columns (round 26)"
    failing = SMALL + "reliability: {node_mtbf: 1000 h}\n"
    files = {"s.yaml": SMALL.encode(), "r.yaml": failing.encode(), "p.yaml": PIPELINED.encode(),
             "q.yaml": (PIPELINED + "reliability: {node_mtbf: 10 h, restart: 10 min}\n").encode()}  # fmt: skip
    for jobs in (("s", "r"), ("r", "s"), ("s", "p", "r"), ("r", "p", "s", "q"), ("q", "q"), ("s", "s")):
        paths = [f"{{tmp}}/{job}.yaml" for job in jobs]
        yield Case(kind, ["run", *paths, "--shared-fabric", "--format", "csv"], files, rectangular=True, accept=True)
        yield Case(kind, ["run", *paths, "--shared-fabric", "--format", "csv", "--placement", "interleaved"], files,
                   rectangular=True, accept=True)  # fmt: skip
    for path in ("s", "r"):  # one scenario, either engine: the same writer
        for engine in ("analytic", "sim"):
            yield Case(kind, ["run", f"{{tmp}}/{path}.yaml", "--engine", engine, "--format", "csv"], files,
                       rectangular=True, accept=True)  # fmt: skip


def flops_per_sample_beside_operations() -> Iterator[Case]:
    """Round 26. ``model.flops_per_sample`` given for a transformer whose step is priced from its layers' operations
    (the default: GEMM curves, attention, memory-bound kernels) reads nothing but MFU: the step was the same to the
    bit, unlisted, and MFU divided the count given by it (``1e15`` on GPT-2 small: MFU 211.9, past the devices'
    peak). Listed now (``extra.ignored_fields``, with the shape's own count); priced at one fraction of peak
    (``cluster.device.efficiency``, an MLP) it sets the step and stays unlisted."""
    kind = "flops_per_sample beside a step priced by operations (round 26)"
    files = {"s.yaml": SMALL.encode(), "p.yaml": PIPELINED.encode()}
    for value in ("1", "1e12", "8.757e11"):  # round 27: 1e15 (MFU 211.9) is refused: mfu_past_the_peak
        for extra in ([], ["--engine", "sim"], ["--set", "training.tensor_parallel=2"]):
            yield Case(kind, ["run", "{tmp}/s.yaml", "--format", "json", "--set", f"model.flops_per_sample={value}",
                              *extra], files, listed="model.flops_per_sample")  # fmt: skip
    yield Case(kind, ["run", "{tmp}/p.yaml", "{tmp}/s.yaml", "--shared-fabric", "--format", "json", "--set",
                      "model.flops_per_sample=1e12"], files, listed="model.flops_per_sample")  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "model.flops_per_sample=1,1e12", "--format", "json"], files,
               listed="model.flops_per_sample")  # fmt: skip
    for sets in (["cluster.device.efficiency=0.5"], ["model={kind: mlp, layers: 2, hidden: 64}"],
                 ["model={kind: mlp, parameters: 1e6}"]):  # fmt: skip  # priced from the count: read
        given = [a for x in [*sets, "model.flops_per_sample=1e12"] for a in ("--set", x)]
        yield Case(kind, ["run", "{tmp}/s.yaml", "--format", "json", *given], files, accept=True, finite=True)


def nic_counts_that_do_not_divide_the_node() -> Iterator[Case]:
    """Round 26. Fewer NICs than a node's workers that do not divide them (3 NICs for 8 GPUs, 2 for 3) were taken, and
    the engines' rails and NIC shares, which give each NIC the same number of GPUs, priced them inconsistently: 3
    NICs for 8 A100 ran slower than 2 (data parallel, 2.59 against 1.95 s), 6 slower than 5 under TP 2 (1.31 against
    0.98 s), and the shared fabric, which places each GPU on NIC ⌊local·nics/G⌋, gave twice the engines' step
    (TP 2: 3.91 against 1.96 s; PP 4 x TP 4 interleaved: 2.19 against 0.74 s). Refused now, as more NICs than workers
    that are not a multiple of them were, by every command; counts that divide are taken."""
    kind = "NIC counts that do not divide the node (round 26)"
    field_name = "cluster.inter_node.nics_per_node"
    files = {"s.yaml": SMALL.encode()}
    for workers, nics in ((8, 3), (8, 5), (8, 6), (8, 7), (4, 3), (3, 2), (6, 4), (16, 6)):
        sets = [f"cluster.workers_per_node={workers}", f"{field_name}={nics}", "training.global_batch=auto"]
        for command in ("run", "check", "collective"):
            yield _set_case(kind, *sets, command=command, names=field_name)
    eight = ["--set", "cluster.workers_per_node=8", "--set", "training.global_batch=auto"]
    yield Case(kind, ["sweep", "{tmp}/s.yaml", *eight, "--vary", f"{field_name}=2,3", "--out", "{tmp}/o.csv"], files,
               expect_error=True, names=field_name, outputs=("{tmp}/o.csv",))  # fmt: skip
    yield Case(kind, ["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric", *eight, "--set", f"{field_name}=3"],
               files, expect_error=True, names=field_name)  # fmt: skip
    yield Case(kind, ["run", "{tmp}/s.yaml", "--engine", "sim", *eight, "--set", f"{field_name}=3"], files,
               expect_error=True, names=field_name)  # fmt: skip
    for nics in (1, 2, 4, 8, 16):
        yield Case(kind, ["run", "{tmp}/s.yaml", "--format", "json", *eight, "--set", f"{field_name}={nics}"], files,
                   accept=True, finite=True)  # fmt: skip


def nccl_tests_into_a_profile_of_another_backend() -> Iterator[Case]:
    """Round 26. ``calibrate --from-nccl-tests T --base P`` kept ``P``'s backend: a gloo testbed's profile (the
    emulated cluster's, CPU ranks) took NCCL's GPU link fits (400 GB/s rings) under ``backend: gloo`` and priced a CPU
    scenario with them, silently. Refused naming ``--base`` before anything is fitted or written; a base measured
    with NCCL (or with no backend) takes them."""
    kind = "nccl-tests into a profile of another backend (round 26)"
    fit = ["calibrate", "--from-nccl-tests", str(NCCL_TESTS), "--out", "{tmp}/o.yaml", "--base", "{tmp}/p.yaml"]
    for data in (PROFILE.read_bytes(), PROFILE.read_bytes().replace(b"backend: gloo", b"backend: mpi")):
        yield Case(kind, fit, {"p.yaml": data}, expect_error=True, names="--base", outputs=("{tmp}/o.yaml",))
        yield Case(kind, [*fit[:-2], "--base", "{tmp}/o.yaml"], {"o.yaml": data}, expect_error=True, names="--base")
    for data in (_FITTED_PROFILE, PROFILE.read_bytes().replace(b"backend: gloo\n", b"")):
        yield Case(kind, fit, {"p.yaml": data}, accept=True)


_VALIDATION_O = ROOT / "benchmarks" / "results" / "validation-2026-12-06-o" / "all"
_VALIDATION_R = ROOT / "benchmarks" / "results" / "validation-2026-12-06-r" / "all"
_KERNELS = ROOT / "benchmarks" / "results" / "gpu-h200-2026-12-04" / "kernels.json"


def measuring_scripts_numbers_and_prefixes() -> Iterator[Case]:
    """Round 27. The measuring scripts' numbers were still plain ``int()`` / ``float()`` (``validate_emulated --repeats
    1_0`` ran 10, full-width digits were read, ``wire_pace --rate-mbit nan`` or a rate no calibration measured printed
    a table of no row, ``quiet_runs --max-other-cores nan`` kept no run, ``link_overlap --max-other nan`` no record,
    ``tcp_cc --cc ''`` a table of no column, all status 0); ``sweep_dask --repeat 0`` was a ``KeyError`` once its two
    Dask clusters had started and ``--workers 0`` a ``ScenarioError`` traceback; ``gpu_device_check`` an
    ``AssertionError`` without a GPU, a missing or damaged file a traceback, an unknown ``--device`` a
    ``ScenarioError`` one, one without an FP8 peak a ``ValueError`` after a page of rows, ``--reps`` / ``--trials``
    without ``--measure`` dropped; ``gpu_step_check`` of a folder without its files a ``FileNotFoundError``;
    ``agreement_fuzz --case-timeout 1e14`` an ``OverflowError`` at the first case's alarm, ``--shared-fabric -1`` a
    crash listed for every case (status 0); ``ddp_reducer_passes --hidden 16384 --layers 1000`` asked for 1 TB;
    ``nccl_search/topology.py 0`` wrote a system of no GPU, ``--gbps 0`` NICs of speed 0, ``--hgx`` dropped the
    trays; ``gantt_scale.py x`` a ``ValueError``, 16 workers an ``AssertionError`` after a chart. And argparse took a
    prefix of an option (``--rep`` for ``--repeats``) where the checks of what ``--reuse`` drops read full names:
    ``validate_emulated --reuse DIR --rep 5`` dropped it silently; ``link_overlap`` / ``comm_share`` / ``tcp_cc`` /
    ``trace_replay --reuse`` dropped their measuring options. Each is one line naming the option now, before any
    work: the scripts' ``Parser`` takes options spelled in full (as the dpsim commands do)."""
    kind = "measuring scripts' numbers and option prefixes (round 27)"
    stored, kernels = str(_VALIDATION_O), str(_KERNELS)
    link = str(ROOT / "benchmarks" / "results" / "link-capacity-2026-12-04" / "grid")
    share = str(ROOT / "benchmarks" / "results" / "allreduce-gap-2026-12-04" / "paired" / "alone1")
    cc = str(ROOT / "benchmarks" / "results" / "validation-2026-12-05-i" / "tcp_cc.json")
    quiet = str(ROOT / "benchmarks" / "results" / "validation-2026-12-05-c" / "all" / "reuse")
    files = {"bad.json": b"{x", "items.json": b'{"items": [{"kind": "gemm_bf16"}]}', "list.json": b"[]",
             "d/steps.jsonl": b"{x\n", "d/trace.json.gz": b"x", "d/gemm-bf16.yaml": b"",
             "d/scenario.yaml": b"",
             "nan.json": b'[{"pass": 0, "ranks": 4, "mbit_s": 50.0, "algorithm": "ring", "size_bytes": 8388608, '
                         b'"cc": "bbr", "time_s": NaN, "spread": 0.1}]',
             "twice.json": b'[{"pass": 0, "ranks": 4, "mbit_s": 50.0, "algorithm": "ring", "size_bytes": 8388608, '
                           b'"cc": "bbr", "time_s": 1.0, "spread": 0.1, "cc": "reno"}]',
             "g/link-overlap.json": b'[{"ranks": 2, "time_s": Infinity}]',
             # 100,000 keys, the last one twice: a count per key made it quadratic (review 21:08: ~50 s a MB)
             "wide.json": ("[{" + "".join(f'"k{i}": 0, ' for i in range(100_000))
                           + '"k99999": 1}]').encode()}  # fmt: skip
    runs, records = (Path(quiet) / "runs.jsonl").read_bytes(), (Path(quiet) / "records.jsonl").read_bytes()
    for folder, old, new in (("q1", b'"host_load": {', b'"host_load": 5, "x": {'),
                             ("q2", b'"other_cores": 0.0', b'"other_cores": -1.0'),
                             ("q3", b'"other_cores": 0.0', b'"other_cores": 0.0, "other_cores": 9.0')):  # fmt: skip
        files[f"{folder}/runs.jsonl"] = runs.replace(old, new, 3)  # a run's sampler record damaged
        files[f"{folder}/records.jsonl"] = records
    for script, argv, names in (
        *(("validate_emulated", [o, v], o) for o, vs in (
            ("--repeats", ("1_0", "\uff13", "0", "1e3", "99999")), ("--steps", ("\uff15", "0", "-1")),
            ("--limit", ("0", "1_0")), ("--skip", ("-1", "x")), ("--max-residual", ("nan", "inf", "-1", "0", "x")),
        ) for v in vs),
        *(("validate_emulated", ["--reuse", stored, *a], a[0].split("=")[0]) for a in (
            ["--rep", "5"], ["--ste", "3"], ["--qui"], ["--repeats=5"])),
        *(("wire_pace", ["--rate-mbit", v], "--rate-mbit")
          for v in ("nan", "-1", "0", "inf", "151", "\uff11\uff15\uff10", "1_50", "")),
        ("wire_pace", ["--rate", "150"], "--rate"),
        *(("quiet_runs", [quiet, "--max-other-cores", v], "--max-other-cores") for v in ("nan", "-1", "inf", "x")),
        *(("sweep_dask", a, a[0]) for a in (
            ["--repeat", "0"], ["--repeat", "1_0"], ["--workers", "0"], ["--workers", "-2"], ["--workers", "99999"],
            ["--rep", "1"])),
        *(("gpu_device_check", a, n) for a, n in (
            (["--measure", "{tmp}/m.json"], "--measure"), (["--compare", "{tmp}/missing.json"], "--compare"),
            (["--compare", "{tmp}/bad.json"], "--compare"), (["--fit", "{tmp}/list.json"], "--fit"),
            (["--compare", "{tmp}/items.json"], "--compare"), (["--fit", "{tmp}/items.json"], "--fit"),
            (["--compare", kernels, "--device", "bogus"], "--device"),
            (["--compare", kernels, "--device", "a100-80gb"], "--device"),
            (["--compare", kernels, "--device", "{peak_flops: 1}"], "--device"),
            (["--compare", kernels, "--reps", "5"], "--reps"), (["--fit", kernels, "--trials", "2"], "--trials"),
            (["--measure", "{tmp}/m.json", "--reps", "0"], "--reps"), (["--device", "h200"], "--measure"),
            (["--comp", kernels], "--comp"))),
        *(("gpu_step_check", [d], "DIR") for d in ("{tmp}/missing", "{tmp}/bad.json", "{tmp}/d", "{tmp}")),
        *(("ddp_reducer_passes", a, a[0]) for a in (
            ["--hidden", "16384", "--layers", "1000"], ["--layers", "\uff11"], ["--steps", "1_0"],
            ["--micro-batch", "0"], ["--hidden", "99999"])),
        *(("tcp_cc", a, a[0]) for a in (
            ["--reps", "1_0"], ["--passes", "0"], ["--cc", ""], ["--cc", "bbr,bbr"],
            ["--reuse", cc, "--passes", "3"], ["--reuse", cc, "--out", "{tmp}/o"], ["--cc", "bogus", "--reuse", cc])),
        *(("link_overlap", a, a[0]) for a in (
            ["--max-other", "nan"], ["--max-other", "-1"], ["--reps", "1_0"], ["--passes", "\uff12"],
            ["--reps", "5", "--reuse", link], ["--ranks", "2", "--reuse", link], ["--max-other", "1"],
            ["--calibration", "{tmp}/bad.json", "--reps", "5"],
            ["--calibration", "{tmp}/bad.json", "--reuse", link])),
        *(("comm_share", ["--reuse", share, *a], a[0])
          for a in (["--reps", "3"], ["--ranks", "4"], ["--out", "{tmp}/o"])),
        *(("trace_replay", ["--reuse", "{tmp}/missing", *a], a[0]) for a in (["--steps", "2"], ["--out", "{tmp}/o"])),
        *(("agreement_fuzz", a, a[0]) for a in (
            ["--case-timeout", "99999999999999"], ["--shared-fabric", "-1"], ["--shared-fabric", "100000"],
            ["--seed", "1_0"], ["--seed", "-1"], ["--cases", "\uff11"], ["--tolerance", "\uff10.1"],
            ["--cases", "99999999"])),
        ("link_fit_points", ["--limit", "\uff10.05"], "--limit"),
        # stored records with NaN, Infinity or a key twice: json.loads took them (nan printed, the last key kept)
        ("tcp_cc", ["--reuse", "{tmp}/nan.json"], "nan.json"), ("tcp_cc", ["--reuse", "{tmp}/twice.json"], "twice"),
        ("tcp_cc", ["--reuse", "{tmp}/wide.json"], "'k99999' twice"),
        ("link_overlap", ["--reuse", "{tmp}/g"], "link-overlap.json"),
        ("quiet_runs", ["{tmp}/q1"], "extra.host_load"), ("quiet_runs", ["{tmp}/q2"], "extra.host_load"),
        ("quiet_runs", ["{tmp}/q3"], "duplicate key"),
        ("gpu_device_check", ["--compare", "{tmp}/nan.json"], "nan.json"),
        *(("nccl_search/topology", a, n) for a, n in (
            (["0"], "trays"), (["-1"], "trays"), (["19"], "trays"), (["1_8"], "trays"), (["4", "--hgx"], "trays"),
            (["--gbps", "0"], "--gbps"), (["--gbps", "nan"], "--gbps"), (["1", "--gbp", "200"], "--gbp"))),
        *(("gantt_scale", [v], "N") for v in ("x", "0", "16", "60", "1_024", "-8")),
        # one table printed, the other options dropped without a word
        ("p5_series", ["--message-fit", "--classify"], "--classify"),
        ("p5_series", ["--ll128", "--message-fit"], "--ll128"),
        ("nccl_tests_heldout", ["--families", "--format", "json"], "--format"),
        ("published_runs", ["--straggler-what-if", "--small-collectives-what-if"], "--straggler-what-if"),
        ("published_runs", ["--foundry-tables", "--foundry-torch"], "--foundry-"),
        ("published_runs", ["--gemm-waves", "--attention-what-if"], "--gemm-waves"),
        ("published_runs", ["--sm-share-what-if", "--engine", "sim"], "--engine"),
        ("published_runs", ["--sm-share-what-if", "--engine", "analytic"], "--engine"),
    ):  # fmt: skip
        yield Case(kind, argv, files, expect_error=True, names=names, program=f"benchmarks/{script}",
                   env=_NO_TESTBED, outputs=("{tmp}/m.json", "{tmp}/o"))  # fmt: skip
    for script, argv in (("wire_pace", ["--rate-mbit", "150"]), ("wire_pace", ["--rate-mbit", "1.2e3"]),
                         ("quiet_runs", [quiet, "--max-other-cores", "0.5"]), ("tcp_cc", ["--reuse", cc]),
                         ("tcp_cc", ["--reuse", cc, "--cc", "reno"]), ("link_overlap", ["--reuse", link]),
                         ("link_overlap", ["--reuse", link, "--max-other", "0.25"]), ("comm_share", ["--reuse", share]),
                         ("gpu_device_check", ["--compare", kernels, "--device", "h100-sxm"]),
                         ("nccl_search/topology", ["2"]),
                         ("nccl_search/topology", ["--hgx", "--gbps", "200"])):  # fmt: skip
        yield Case(kind, argv, files, program=f"benchmarks/{script}", accept=True, env=_NO_TESTBED)


def stored_record_fields() -> Iterator[Case]:
    """Round 28. ``dpsim.records.read_jsonl`` read NaN / Infinity as no value and let it, a string, a negative time
    or an ``extra`` that is no object into the record: ``validate_emulated --reuse`` ended in a ``TypeError``
    traceback (a step NaN, ``null`` or ``"x"``; a link rate ``"x"``), printed its table with status 0 from a negative
    step or a NaN link rate, and a NaN per-rank time passed unseen. Every field of a stored record is checked where
    it is read (:func:`dpsim.records.record_problem`): one line naming the file, the line and the field, for every
    reader (``validate_emulated --reuse``, ``optimizer_share --runs``, ``quiet_runs``)."""
    kind = "stored records' fields (round 28)"
    runs = (_VALIDATION_O / "runs.jsonl").read_bytes()
    line = runs.split(b"\n", 1)[0]
    profile = (_VALIDATION_O / "profile.yaml").read_bytes()
    edits = (("step_time_s", b'"step_time_s": 0.', (b"NaN", b"null", b'"x"', b"-1", b"true")),
             ("compute_s", b'"compute_s": 0.', (b"Infinity", b"-0.5")),
             ("world_size", b'"world_size": ', (b"null", b"2.5", b'"8"')),
             ("oom", b'"oom": false', (b"null", b"0")), ("algorithm", b'"algorithm": "', (b"null", b"[]")),
             ("extra", b'"extra": {', (b"null", b"[]", b'"x"')),
             ("extra.link_rate_bytes_per_s", b'"link_rate_bytes_per_s": ', (b"NaN", b'"x"', b"-1")),
             ("extra.per_rank_step_time_s", b'"per_rank_step_time_s": {"0": ', (b"NaN", b"null", b'"x"', b"-1")),
             ("extra.bucket_bytes", b'"bucket_bytes": [', (b"NaN", b"-1")),
             ("extra.host_load", b'"host_load": {"busy_cores": ', (b"NaN",)))  # fmt: skip
    number = 0
    for field_name, prefix, values in edits:
        assert prefix in line, prefix  # the stored record still has the field
        start = line.index(prefix) + len(prefix)
        if prefix.endswith(b'"'):  # a text: replace it whole
            start -= 1
            end = line.index(b'"', start + 1) + 1
        elif prefix.endswith((b"{", b"[")):  # an object or list: replace it whole
            start -= 1
            end = _closing(line, start)
        elif prefix.endswith(b"false"):
            start -= len(b"false")
            end = start + len(b"false")
        else:  # a number (prefix ends inside it or before it)
            start = line.rindex(b" ", 0, start) + 1
            end = start
            while line[end : end + 1] not in (b",", b"}"):
                end += 1
        for value in values:
            folder = f"r{number}"
            number += 1
            damaged = line[:start] + value + line[end:]
            files = {f"{folder}/runs.jsonl": runs.replace(line, damaged, 1), f"{folder}/profile.yaml": profile}
            for script, argv in (("validate_emulated", ["--reuse", f"{{tmp}}/{folder}", "--out", "{tmp}/o"]),
                                 ("optimizer_share", ["--runs", f"{{tmp}}/{folder}"]),
                                 ("quiet_runs", [f"{{tmp}}/{folder}"])):  # fmt: skip
                if script != "validate_emulated" and field_name not in ("step_time_s", "extra", "extra.host_load"):
                    continue  # one reader per field is enough; these three go through all
                yield Case(kind, argv, files, expect_error=True, names=f"line 1: field {field_name}",
                           program=f"benchmarks/{script}", env=_NO_TESTBED, outputs=("{tmp}/o",))  # fmt: skip
    bench = (_VALIDATION_O / "calibration-bench.json").read_bytes()
    for number, value in enumerate((b'"x"', b"NaN", b"-1")):  # --refit read the shaper's burst with float()
        folder = f"b{number}"
        damaged_bench = bench.replace(b'"tbf_burst_bytes": 73728', b'"tbf_burst_bytes": ' + value, 1)
        files = {f"{folder}/runs.jsonl": runs, f"{folder}/profile.yaml": profile,
                 f"{folder}/calibration-bench.json": damaged_bench}  # fmt: skip
        yield Case(kind, ["--reuse", f"{{tmp}}/{folder}", "--refit", "--out", "{tmp}/o"], files, expect_error=True,
                   names="tbf_burst_bytes", program="benchmarks/validate_emulated", env=_NO_TESTBED,
                   outputs=("{tmp}/o",))  # fmt: skip
    files = {"ok/runs.jsonl": runs, "ok/profile.yaml": profile}
    yield Case(kind, ["--reuse", "{tmp}/ok", "--out", "{tmp}/o2"], files, program="benchmarks/validate_emulated",
               accept=True, env=_NO_TESTBED)  # fmt: skip


def _closing(text: bytes, start: int) -> int:
    """The index after the bracket that closes the one at ``start`` (no string in between holds a bracket)."""
    depth = 0
    for index in range(start, len(text)):
        depth += {ord("{"): 1, ord("["): 1, ord("}"): -1, ord("]"): -1}.get(text[index], 0)
        if depth == 0:
            return index + 1
    raise ValueError("unbalanced")


def options_read_only_with_another() -> Iterator[Case]:
    """Round 28. ``benchmarks/ring_step_graph.py`` (new this stop) reads ``--draws`` and ``--seed`` only with
    ``--jitter`` > 0: without it they were dropped and the table printed as if used, status 0; and
    ``host_optimizer_faults.py --stored`` (new this stop) dropped ``--repeats``. Refused naming the option before
    the table."""
    kind = "options read only with another (round 28)"
    for argv in (["--draws", "5"], ["--seed", "7"], ["--seed", "0"], ["--jitter", "0", "--draws", "2"],
                 ["--jitter", "0.0", "--seed", "1"], ["--ctrl-us", "10", "--draws", "1"]):  # fmt: skip
        option = "--draws" if "--draws" in argv else "--seed"
        yield Case(kind, argv, expect_error=True, names=f"{option}: read only with --jitter",
                   program="benchmarks/ring_step_graph", env=_NO_TESTBED)  # fmt: skip
    for option in ("--layers", "--window", "--processes", "--modes"):  # measuring options beside --runs: dropped
        value = {"--modes": "cold", "--window": "5", "--processes": "2"}.get(option, "8")
        yield Case(kind, ["--runs", str(_VALIDATION_O), option, value], expect_error=True,
                   names=f"{option}: --runs prints a stored validation again", program="benchmarks/optimizer_share",
                   env=_NO_TESTBED)  # fmt: skip
    for argv in (["--stored", "--repeats", "3"], ["--repeats=1", "--stored"]):  # new this stop: --repeats dropped
        yield Case(kind, argv, expect_error=True, names="--repeats: --stored prints a stored table",
                   program="benchmarks/host_optimizer_faults", env=_NO_TESTBED)  # fmt: skip


def pooled_calibrations() -> Iterator[Case]:
    """Round 28. ``validate_emulated --reuse DIR --refit --pool DIR2`` (new this stop) averaged a folder given twice,
    or the calibration ``--refit`` fits given again, twice into every fit, and pooled another model's or testbed's
    calibration without a word (status 0). Refused naming ``--pool`` or the profile's ``meta`` key."""
    kind = "pooled calibrations (round 28)"
    stored = _VALIDATION_R
    cal2 = stored.parent / "all-cal2"
    profile = (cal2 / "profile.yaml").read_text(encoding="utf-8")
    bench = (cal2 / "calibration-bench.json").read_bytes()
    files: dict[str, bytes] = {}
    for name, old, new in (("model", "model: mlp 2362368 parameters", "model: mlp 9 parameters"),
                           ("testbed", "testbed: emulated", "testbed: local"),
                           ("cc", "tcp_congestion_control: bbr", "tcp_congestion_control: cubic")):  # fmt: skip
        assert old in profile, old
        files[f"{name}/profile.yaml"] = profile.replace(old, new).encode()
        files[f"{name}/calibration-bench.json"] = bench
    files["twice/profile.yaml"], files["twice/calibration-bench.json"] = profile.encode(), bench
    base = ["--reuse", str(stored), "--refit", "--out", "{tmp}/o"]
    for argv, names in (
        (["--pool", str(stored)], "--pool"), (["--pool", f"{stored}/."], "--pool"),
        (["--pool", "{tmp}/twice", "--pool", "{tmp}/twice"], "--pool"),
        (["--pool", "{tmp}/twice", "--pool", "{tmp}/./twice"], "--pool"),
        (["--pool", "{tmp}/model"], "meta.model"), (["--pool", "{tmp}/testbed"], "meta.testbed"),
        (["--pool", "{tmp}/cc"], "meta.tcp_congestion_control"),
        (["--pool", "{tmp}/twice", "--pool", "{tmp}/model"], "meta.model"),
    ):  # fmt: skip
        yield Case(kind, [*base, *argv], files, expect_error=True, names=names, program="benchmarks/validate_emulated",
                   env=_NO_TESTBED, outputs=("{tmp}/o",))  # fmt: skip


def sweep_time_limits() -> Iterator[Case]:
    """Round 28. ``dpsim sweep --max-time`` (new this stop; review probed it at 23:02): every value that is no
    duration above zero is one line naming the option, nothing written; a limit the sweep stays under runs it, and
    one it would pass refuses it before any point, nothing written."""
    kind = "sweep --max-time (round 28)"
    files = {"s.yaml": SMALL.encode()}
    base = ["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2", "--out", "{tmp}/o.csv"]
    for value in ("0", "-1", "nan", "inf", "1e400", "1e-400", "", "\uff11\uff10 s", "10 parsecs", "1e300 days",
                  "0 s", "-5 min", "1_0 s", "s", "10 s 5"):  # fmt: skip
        yield Case(kind, [*base, "--max-time", value], files, expect_error=True, names="--max-time",
                   outputs=("{tmp}/o.csv",))  # fmt: skip
    yield Case(kind, [*base, "--max-time", "1e-12 s"], files, expect_error=True, names="--max-time",
               outputs=("{tmp}/o.csv",))  # fmt: skip
    yield Case(kind, [*base, "--max-time", "1 h"], files, accept=True)


def mfu_past_the_peak() -> Iterator[Case]:
    """Round 27. A transformer priced from its layers' operations reads ``model.flops_per_sample`` only in MFU (round
    26 listed it): a count larger than the priced step can do printed MFU past 1 (``1e15`` on GPT-2 small: 211.9, the
    table's "21192.5 %"), a figure no device reaches, on every command and both engines. Refused naming the field
    and the largest count the step allows (:func:`dpsim.analytic.step.step_result`); counts below it, the shape's own
    and every flat-priced model (MFU = the efficiency given) run."""
    kind = "MFU past the devices' peak (round 27)"
    field_name = "model.flops_per_sample"
    files = {"s.yaml": SMALL.encode(), "p.yaml": PIPELINED.encode(),
             "f.yaml": SMALL.replace("gpt2-small}", "gpt2-small, flops_per_sample: 1e15}").encode()}  # fmt: skip
    yield Case(kind, ["run", "{tmp}/s.yaml", "--set", f"{field_name}=4.8e12"], files, expect_error=True,
               names=field_name)  # fmt: skip  # the largest count this step allows: 4.719e12
    for value in ("1e15", "1e300", "1.7976931348623157e308"):
        for extra in ([], ["--engine", "sim"], ["--format", "json"], ["--format", "csv"],
                      ["--set", "training.tensor_parallel=2"], ["--set", "training.precision=fp32"],
                      ["--set", "cluster.device=h100-sxm", "--set", "training.precision=fp8"]):  # fmt: skip
            yield Case(kind, ["run", "{tmp}/s.yaml", "--set", f"{field_name}={value}", *extra], files,
                       expect_error=True, names=field_name)  # fmt: skip
    yield Case(kind, ["run", "{tmp}/p.yaml", "--set", f"{field_name}=1e16"], files, expect_error=True, names=field_name)
    yield Case(kind, ["run", "{tmp}/p.yaml", "{tmp}/s.yaml", "--shared-fabric", "--set", f"{field_name}=1e15"], files,
               expect_error=True, names=field_name)  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", f"{field_name}=1e11,1e15", "--out", "{tmp}/o.csv"], files,
               expect_error=True, names=field_name, outputs=("{tmp}/o.csv",))  # fmt: skip
    yield Case(kind, ["report", "{tmp}/f.yaml", "-o", "{tmp}/r.html"], files, accept=True)  # a scenario's page: no MFU
    yield Case(kind, ["run", "{tmp}/f.yaml", "--format", "json"], files, expect_error=True, names=field_name)
    for value in ("1", "8.757e11", "4.7e12"):
        yield Case(kind, ["run", "{tmp}/s.yaml", "--format", "json", "--set", f"{field_name}={value}"], files,
                   accept=True, finite=True)  # fmt: skip
    for sets in (["cluster.device.efficiency=1"], ["model={kind: mlp, parameters: 1e6, flops_per_sample: 1e18}"]):
        given = [a for x in sets for a in ("--set", x)]
        yield Case(kind, ["run", "{tmp}/s.yaml", "--format", "json", *given], files, accept=True, finite=True)


def normal_jitter_past_its_floor() -> Iterator[Case]:
    """Round 29. ``variability.compute_jitter_cv`` took up to 10 under every ``jitter_distribution``, but the simulator
    floors a normal draw at 0.01 (``dpsim.rank_speed.JITTER_FLOOR``), so past 0.4 both engines priced another
    distribution than the field names (cv 10: drawn mean 4.51, CV 1.37; the default step 0.69 -> 10.7 s, status 0).
    A normal past ``MAX_NORMAL_JITTER_CV`` is refused naming the field; lognormal and gamma (mean 1 and CV cv at any
    cv) keep 10."""
    kind = "normal jitter past its floor (round 29)"
    field_name = "variability.compute_jitter_cv"
    normal = "variability.jitter_distribution=normal"
    for value in ("0.41", "0.5", "1", "3", "10", "0.40000001"):
        for extra in ((), ("--engine", "sim"), ("--format", "json")):
            yield _set_case(kind, normal, f"{field_name}={value}", extra=extra, names=field_name)
        yield _set_case(kind, normal, f"{field_name}={value}", command="check", names=field_name)
    yield _set_case(kind, f"{field_name}=2", normal, names=field_name)  # the distribution given last
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--set", f"{field_name}=1", "--vary",
                      "variability.jitter_distribution=lognormal,normal", "--out", "{tmp}/o.csv"],
               {"s.yaml": SMALL.encode()}, expect_error=True, names=field_name, outputs=("{tmp}/o.csv",))  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--set", normal, "--vary", f"{field_name}=0.1,0.9", "--out",
                      "{tmp}/o.csv"], {"s.yaml": SMALL.encode()}, expect_error=True, names=field_name,
               outputs=("{tmp}/o.csv",))  # fmt: skip
    for distribution, value in (("normal", "0.4"), ("normal", "0.2"), ("lognormal", "10"), ("gamma", "10"),
                                ("lognormal", "0.5"), ("gamma", "1e-200"), ("gamma", "1e-155"),
                                ("lognormal", "1e-300")):  # fmt: skip  # below 1e-12 none in both engines
        # (a gamma's 1/cv² was a ZeroDivisionError in the simulator at 1e-200)
        for extra in ((), ("--engine", "sim")):
            yield _set_case(kind, f"variability.jitter_distribution={distribution}", f"{field_name}={value}",
                            extra=("--format", "json", *extra), expect_error=False, finite=True)  # fmt: skip


def _fast_profile() -> bytes:
    """A profile of compute only timing a forward at 1 µs and a backward at 2 µs: on one GPU an MFU far past 1."""
    import tempfile

    from dpsim.calibration import HardwareProfile, LinearTime, save_profile

    profile = HardwareProfile(name="fast", links={}, forward=LinearTime(1e-6, 0.0), backward=LinearTime(2e-6, 0.0),
                              optimizer=LinearTime(0.0, 1e-12))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.yaml"
        save_profile(profile, path)
        return path.read_bytes()


def mfu_past_the_peak_in_the_table() -> Iterator[Case]:
    """Round 29. A step timed by a profile on a machine faster than the catalog device's peak has an MFU past 1, kept
    (the step is measured) and said in ``extra.mfu_past_peak`` (round 28), which JSON and CSV carry; the table printed
    ``mfu 1947.0 %`` with no word. It now says why under the table (``mfu: MFU 19.47 > 1: ...``), not as a warning."""
    kind = "MFU past the peak, noted in the table (round 29)"
    files = {"s.yaml": SMALL.encode(), "p.yaml": _fast_profile()}
    profile = ["--set", "calibration.profile={tmp}/p.yaml", "--set", "cluster.nodes=1", "--set",
               "cluster.workers_per_node=1"]  # fmt: skip  # one GPU: no communication, the step the profile's compute
    for extra in ([], ["--engine", "sim"], ["--set", "training.global_batch=2"]):
        yield Case(kind, ["run", "{tmp}/s.yaml", *profile, *extra], files, accept=True, says="mfu: MFU ")
    yield Case(kind, ["run", "{tmp}/s.yaml", "{tmp}/s.yaml", "--shared-fabric", *profile], files, accept=True,
               says="mfu: MFU ")  # fmt: skip
    for fmt in ("json", "csv"):  # the entry as it was: JSON's extra, CSV's column
        yield Case(kind, ["run", "{tmp}/s.yaml", *profile, "--format", fmt], files, accept=True, says="mfu_past_peak")
    yield Case(kind, ["run", "{tmp}/s.yaml"], files, accept=True)  # no profile: no note


def _profile_without(text: str, key: str, k: int) -> str:
    """A stored profile's ``host_model.KEY`` map without its entry at ``k``."""
    start = text.index(f"  {key}:\n")
    line = text.index(f"    {k}: ", start)
    return text[:line] + text[text.index("\n", line) + 1 :]


def pooled_calibrations_of_other_k() -> Iterator[Case]:
    """Round 29. ``validate_emulated --refit --pool`` averaged each k over the calibrations that measured it: a k one
    lacked was left out without a word, and without k = 1 ``refit_links`` kept the host's old fit of the cores
    (status 0). Refused naming the pooled folder, the map and the k (``runtime.calibrate.pool_problem``)."""
    kind = "pooled calibrations of other k (round 29)"
    cal2 = _VALIDATION_R.parent / "all-cal2"
    profile = (cal2 / "profile.yaml").read_text(encoding="utf-8")
    bench = (cal2 / "calibration-bench.json").read_bytes()
    files: dict[str, bytes] = {}
    cases = (("measured_slowdown", 1), ("measured_slowdown", 8), ("optimizer_slowdown", 1),
             ("slowest_slowdown", 4), ("optimizer_slowest_slowdown", 1))  # fmt: skip
    for number, (key, k) in enumerate(cases):
        files[f"k{number}/profile.yaml"] = _profile_without(profile, key, k).encode()
        files[f"k{number}/calibration-bench.json"] = bench
    files["ok/profile.yaml"], files["ok/calibration-bench.json"] = profile.encode(), bench
    base = ["--reuse", str(_VALIDATION_R), "--refit", "--out", "{tmp}/o"]
    for number, (key, _) in enumerate(cases):
        for pool in (["--pool", f"{{tmp}}/k{number}"], ["--pool", "{tmp}/ok", "--pool", f"{{tmp}}/k{number}"]):
            yield Case(kind, [*base, *pool], files, expect_error=True, names=f"host_model.{key}",
                       program="benchmarks/validate_emulated", env=_NO_TESTBED, outputs=("{tmp}/o",))  # fmt: skip


def stored_record_texts() -> Iterator[Case]:
    """Round 29. ``dpsim.records.record_problem`` (round 28) checked a stored record's amounts, not its texts: an
    ``extra.tcp_congestion_control`` that was a list, a number or an escape code was compared as its ``str`` and printed
    (``validate_emulated --reuse`` warned ``the runs used ['x'], bbr``, or wrote the escape code to the terminal,
    status 0), and a flag (``extra.autocast``) that was no boolean was read from another field. The texts the readers
    compare or print are printable texts, the flags true or false, ``namespaces`` a list of texts; one line naming the
    file, the line and the field."""
    kind = "stored records' texts and flags (round 29)"
    runs = (_VALIDATION_O / "runs.jsonl").read_text(encoding="utf-8").splitlines()
    profile = (_VALIDATION_O / "profile.yaml").read_bytes()
    edits = (("extra", "tcp_congestion_control", ("\x1b[31mbbr", "a\nb", ["bbr"], 5, None)),
             ("extra", "host", ("\x1b[2J", {"a": 1})), ("extra", "algorithm", (["ring"], "ri\x00ng")),
             ("extra", "precision", (7, "bf16\u202e")), ("extra", "backend", (None,)), ("extra", "testbed", (True,)),
             ("extra", "comm_hook", ("\t",)), ("extra", "autocast", ("yes", 1, None)),
             ("extra", "ddp_at_one_rank", (0,)),
             ("extra", "namespaces", ("emu-1-br", ["\x1b[0m"], [1])),
             ("top", "scenario", ("\x1b[31mx", "two\nlines")), ("top", "algorithm", ("\x07",)))  # fmt: skip
    number = 0
    for where, key, values in edits:
        for value in values:
            data = json.loads(runs[0])
            (data if where == "top" else data["extra"])[key] = value
            folder = f"r{number}"
            number += 1
            files = {f"{folder}/runs.jsonl": "\n".join([json.dumps(data), *runs[1:]]).encode() + b"\n",
                     f"{folder}/profile.yaml": profile}  # fmt: skip
            field_name = key if where == "top" else f"extra.{key}"
            yield Case(kind, ["--reuse", f"{{tmp}}/{folder}", "--out", "{tmp}/o"], files, expect_error=True,
                       names=f"line 1: field {field_name}", program="benchmarks/validate_emulated", env=_NO_TESTBED,
                       outputs=("{tmp}/o",))  # fmt: skip
            if key in ("tcp_congestion_control", "scenario"):
                yield Case(kind, ["--runs", f"{{tmp}}/{folder}"], files, expect_error=True,
                           names=f"line 1: field {field_name}", program="benchmarks/optimizer_share",
                           env=_NO_TESTBED)  # fmt: skip


def profile_meta_read_back() -> Iterator[Case]:
    """Round 29. A profile's ``meta`` is free-form notes, checked at load only where dpsim read it back
    (``fit_residuals``, ``fit_worst_points``, ``plan``): ``validate_emulated --reuse`` also prints
    ``meta.benchmark_uncertainty`` (``100 * value``: a text a ``ValueError`` traceback, a list an ``AttributeError``),
    ``--refit`` took ``int(meta.cores)`` (``"x"`` a traceback, 2.5 read as 2, -1 and 0 fitted), and the TCP
    control, testbed and model are compared and printed (a list compared as its ``str``, an escape code printed). Each
    is checked at load now, one line naming ``meta.KEY``, for every reader (``dpsim run`` with the profile too)."""
    kind = "profile meta read back (round 29)"
    runs = (_VALIDATION_R / "runs.jsonl").read_bytes()
    profile = (_VALIDATION_R / "profile.yaml").read_text(encoding="utf-8")
    bench = (_VALIDATION_R.parent / "all-cal2" / "calibration-bench.json").read_bytes()
    summary = (_VALIDATION_R / "summary.json").read_bytes()  # the case set the runs are (fresh45)
    edits = (("cores", "  cores: 2\n", ("x", "2.5", "-1", "0", "true", ".nan", "1e300", "[2]")),
             ("benchmark_uncertainty", "  benchmark_uncertainty:\n", ("x", "[0.1]", "{a: x}", "{a: -1}", "{a: .inf}")),
             ("tcp_congestion_control", "  tcp_congestion_control: bbr\n", ("[bbr]", '"\\e[31mbbr"', "5", '"a\\nb"')),
             ("testbed", "  testbed: emulated\n", ("{a: 1}", '"\\a"')),
             ("model", "  model: mlp 2362368 parameters\n", ("7", "[mlp]")))  # fmt: skip
    number = 0
    for key, line, values in edits:
        start = profile.index(line, profile.index("\nmeta:\n"))
        end = start + len(line)
        if line.endswith(":\n"):  # a mapping: replace it and its indented lines
            while profile[end : end + 4] == "    ":
                end = profile.index("\n", end) + 1
        for value in values:
            folder = f"m{number}"
            number += 1
            damaged = profile[:start] + f"  {key}: {value}\n" + profile[end:]
            files = {f"{folder}/runs.jsonl": runs, f"{folder}/profile.yaml": damaged.encode(),
                     f"{folder}/calibration-bench.json": bench, f"{folder}/summary.json": summary,
                     "s.yaml": SMALL.encode()}  # fmt: skip
            refit = ["--refit"] if key == "cores" else []
            yield Case(kind, ["--reuse", f"{{tmp}}/{folder}", *refit, "--out", "{tmp}/o"], files, expect_error=True,
                       names=f"meta.{key}", program="benchmarks/validate_emulated", env=_NO_TESTBED,
                       outputs=("{tmp}/o",))  # fmt: skip
            if value == values[0]:
                yield Case(kind, ["run", "{tmp}/s.yaml", "--set", f"calibration.profile={{tmp}}/{folder}/profile.yaml"],
                           files, expect_error=True, names=f"meta.{key}")  # fmt: skip


def validation_summary_read_back() -> Iterator[Case]:
    """Round 30. ``validate_emulated --reuse DIR`` reads the case set the runs are from ``DIR/summary.json``: one that
    could not be read, was not a JSON object or recorded another script's set (plain_ddp's ``heldout``) was read as
    none recorded, and the runs' check then blamed ``--case-set``; a list recorded was a ``TypeError`` traceback
    (unhashable). Each is one line naming ``summary.json`` now; none recorded (``{}``, ``null``) is still the default
    set, and a recorded set still prices."""
    kind = "validate_emulated's summary.json read back (round 30)"
    runs = (_VALIDATION_R / "runs.jsonl").read_bytes()
    profile = (_VALIDATION_R / "profile.yaml").read_bytes()
    damaged = (b"\xff\xfe", b"[]", b"null", b'"fresh45"', b"{", b'{"case_set": []}', b'{"case_set": {"a": 1}}',
               b'{"case_set": 45}', b'{"case_set": "heldout"}', b'{"case_set": "\\u001b[31m"}', b"<dir>")  # fmt: skip
    for number, summary in enumerate((*damaged, b'{"case_set": "fresh45"}', b'{"case_set": null}')):
        folder = f"v{number}"
        name = f"{folder}/summary.json" + ("/x" if summary == b"<dir>" else "")
        files = {f"{folder}/runs.jsonl": runs, f"{folder}/profile.yaml": profile, name: summary}
        valid = summary == b'{"case_set": "fresh45"}'  # the set these runs are; null: the default, not theirs
        names = "" if valid else "summary.json" if summary in damaged else "--case-set"
        yield Case(kind, ["--reuse", f"{{tmp}}/{folder}", "--out", "{tmp}/o"], files, expect_error=not valid,
                   names=names, accept=valid, program="benchmarks/validate_emulated", env=_NO_TESTBED,
                   outputs=() if valid else ("{tmp}/o",))  # fmt: skip


def stored_optimizer_times() -> Iterator[Case]:
    """Round 30. ``optimizer_share --runs DIR`` divides each run's median optimizer time
    (``extra.per_rank_optimizer_s``) by its parameters, and the CPU time by it: a folder whose runs do not record it
    (the repository's own ``benchmarks/results/validation-27f6025``) was a ``KeyError`` traceback, an empty mapping a
    ``StatisticsError``, all zeros a ``ZeroDivisionError``, a list or a number an ``AttributeError`` (the record check
    takes any amount, list or mapping of amounts in ``extra``). One line naming the run and the field now."""
    kind = "stored runs' optimizer times (round 30)"
    stored = str(ROOT / "benchmarks" / "results" / "validation-27f6025")
    yield Case(kind, ["--runs", stored], expect_error=True, names="extra.per_rank_optimizer_s",
               program="benchmarks/optimizer_share")  # fmt: skip
    runs = (_VALIDATION_O / "runs.jsonl").read_bytes()
    line = runs.split(b"\n", 1)[0]
    start = line.index(b'"per_rank_optimizer_s": ') + len(b'"per_rank_optimizer_s": ')
    end = _closing(line, start)
    for number, value in enumerate((b"{}", b'{"0": 0.0, "1": 0.0}', b"[0.01]", b"0.01", b"null")):
        damaged = runs.replace(line, line[:start] + value + line[end:], 1)
        yield Case(kind, ["--runs", f"{{tmp}}/t{number}"], {f"t{number}/runs.jsonl": damaged}, expect_error=True,
                   names="extra.per_rank_optimizer_s", program="benchmarks/optimizer_share")  # fmt: skip
    yield Case(kind, ["--runs", "{tmp}/ok"], {"ok/runs.jsonl": runs}, accept=True,
               program="benchmarks/optimizer_share")  # fmt: skip


def cpu_vendor_read_by_nothing() -> Iterator[Case]:
    """Round 30. ``cluster.cpu_vendor`` (new this stop, 7d9875f): NCCL's tuner reads the host CPU's constants across
    nodes only (``net_overhead_us`` floors a multi-node ring's intra step; ``ll_max_row`` reads the GPU's own row on
    one node), and gloo none, yet on one node or CPU devices the field was accepted without a word (the step the same
    to the bit). Listed in ``extra.ignored_fields`` there now, on both engines and in a sweep's rows; across nodes it
    is read (not listed). Its values are ``intel`` and ``amd``, each other text refused naming the field."""
    kind = "cluster.cpu_vendor read by nothing (round 30)"
    files = {"s.yaml": SMALL.replace("nodes: 2", "nodes: 1").encode(), "m.yaml": SMALL.encode()}
    cpu = str(ROOT / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml")
    amd = ["--format", "json", "--set", "cluster.cpu_vendor=amd"]
    for engine in ("analytic", "sim"):
        for scenario in ("{tmp}/s.yaml", cpu):
            yield Case(kind, ["run", scenario, "--engine", engine, *amd], files, listed="cluster.cpu_vendor")
    yield Case(kind, ["sweep", "{tmp}/s.yaml", "--vary", "cluster.cpu_vendor=intel,amd", "--format", "json"], files,
               listed="cluster.cpu_vendor")  # fmt: skip
    for scenario in ("{tmp}/s.yaml", cpu):  # round 31: the collective's rows build their own list (unlisted on 03b5f63)
        for engine in ("analytic", "sim"):
            yield Case(kind, ["collective", scenario, "--op", "allreduce", "--size", "1MiB", "--engine", engine, *amd],
                       files, listed="cluster.cpu_vendor")  # fmt: skip
    for value in ("amd", "intel"):  # across nodes NCCL's tuner reads it
        yield Case(kind, ["run", "{tmp}/m.yaml", "--format", "json", "--set", f"cluster.cpu_vendor={value}"], files,
                   accept=True, strict_json=True)  # fmt: skip
    for value in ("AMD", "arm", "''", "1", "[amd]", "null"):
        yield Case(kind, ["check", "{tmp}/m.yaml", "--set", f"cluster.cpu_vendor={value}"], files,
                   expect_error=value != "null", names="cluster.cpu_vendor")  # fmt: skip


FITTED_LINKS_PROFILE = """\
name: fitted
links:
  intra: {ring: {latency: 10 us, bandwidth: 50 GB/s}}
  inter: {ring: {latency: 20 us, bandwidth: 10 GB/s}}
compute:
  forward: {fixed: 100 us, per_sample: 0 s}
  backward: {fixed: 200 us, per_sample: 0 s}
"""
"""A profile with fitted ring links for both link classes: every collective priced on their alpha-beta."""


def cpu_vendor_beside_fitted_links() -> Iterator[Case]:
    """Round 31. ``cluster.cpu_vendor`` is read by NCCL's tuner alone; a profile's fitted links price every collective
    on their measured alpha-beta (``protocol: none``), so across nodes of GPUs, where round 30 left it read, it was
    accepted beside them and read by nothing: the same step and rows to the bit, unlisted (``run`` on both engines,
    ``sweep``, ``collective``). Listed now (:func:`dpsim.calibration.unread_beside_fitted_links`); beside a profile of
    compute only NCCL's model prices the collectives and reads it (accepted, not listed). Nor ``communication.protocol:
    none`` on GPUs (every collective on the links' alpha-beta, no NCCL constant), which read it as unlisted."""
    kind = "cluster.cpu_vendor beside a profile's fitted links or protocol none (round 31)"
    links = ("links:", "  intra:", "  inter:")
    compute = "".join(line for line in FITTED_LINKS_PROFILE.splitlines(keepends=True) if not line.startswith(links))
    files = {"m.yaml": SMALL.encode(), "p.yaml": FITTED_LINKS_PROFILE.encode(), "c.yaml": compute.encode()}
    fitted = ["--set", "calibration.profile={tmp}/p.yaml"]
    amd = ["--format", "json", "--set", "cluster.cpu_vendor=amd"]
    for engine in ("analytic", "sim"):
        yield Case(kind, ["run", "{tmp}/m.yaml", "--engine", engine, *fitted, *amd], files, listed="cluster.cpu_vendor")
        yield Case(kind, ["collective", "{tmp}/m.yaml", "--size", "1MiB", "--engine", engine, *fitted, *amd], files,
                   listed="cluster.cpu_vendor")  # fmt: skip
    yield Case(kind, ["sweep", "{tmp}/m.yaml", *fitted, "--vary", "cluster.cpu_vendor=intel,amd", "--format", "json"],
               files, listed="cluster.cpu_vendor")  # fmt: skip
    yield Case(kind, ["run", "{tmp}/m.yaml", "--set", "calibration.profile={tmp}/c.yaml", *amd], files, accept=True,
               strict_json=True)  # fmt: skip
    none = ["--set", "communication.protocol=none"]  # the links' alpha-beta without a profile: no NCCL constant
    for engine in ("analytic", "sim"):
        yield Case(kind, ["run", "{tmp}/m.yaml", "--engine", engine, *none, *amd], files, listed="cluster.cpu_vendor")
    yield Case(kind, ["collective", "{tmp}/m.yaml", "--size", "1MiB", *none, *amd], files, listed="cluster.cpu_vendor")


def lognormal_jitter_of_many_shapes() -> Iterator[Case]:
    """Round 31 (leads48). The lognormal jitter's exact price (stop 48's branch, landed this stop) builds one
    numerical convolution (1,501² cells, ~0.45 s of CPU) a distinct shape of a rank's draws; under a profile's
    reducer pass a rank's last micro-batch weighs apart, so under ``training.partition: weighted`` each distinct
    straggler's micro-batch share is a shape: 100 stragglers on 128 ranks priced for 44 s of CPU (574 s at load 8,
    past the corpus's hang limit), 1,000 for minutes. The cost guard counts them first
    (:func:`dpsim.analytic.step.jitter_convolutions`) and refuses past 30 s unless ``--allow-long``, naming
    ``variability.jitter_distribution``; a gamma jitter (closed form) and a few stragglers run. Round 32 (stop 50):
    the shapes of two weights differ only in ρ and are read off a grid of ρ (:func:`dpsim.rank_speed._rho_grid_table`,
    4 nodes for these), so both probes are priced in seconds and run clean."""
    kind = "lognormal jitter of many shapes (round 31)"
    profile = "name: host\nreduction_bandwidth: 1 GB/s\ncompute:\n  forward: {fixed: 0 s, per_sample: 100 us}\n" + (
        "  backward: {fixed: 0 s, per_sample: 200 us}\n"
    )
    files = {"p.yaml": profile.encode()}

    def sets(stragglers: int, nodes: int) -> list[str]:
        named = ",".join(f"{{worker: {i}, slowdown: {1 + 0.001 * (i + 1)}}}" for i in range(stragglers))
        return [a for s in (f"cluster.nodes={nodes}", "training.micro_batch=10000",
                            f"training.global_batch={160000 * nodes}", "training.partition=weighted",
                            "variability.compute_jitter_cv=0.05", "calibration.profile={tmp}/p.yaml",
                            f"variability.stragglers=[{named}]", "model=gpt2-small") for a in ("--set", s)]  # fmt: skip

    field = "variability.jitter_distribution"
    for stragglers, nodes in ((100, 16), (1000, 128)):
        yield Case(kind, ["run", *sets(stragglers, nodes)], files, accept=True)
        yield Case(kind, ["run", *sets(stragglers, nodes), "--format", "json"], files, accept=True, strict_json=True)
    yield Case(kind, ["sweep", str(DEFAULT), *sets(100, 16), "--vary", "variability.seed=1,2", "--out", "{tmp}/o.csv"],
               files, accept=True)  # fmt: skip
    yield Case(kind, ["run", *sets(100, 16), "--set", f"{field}=gamma", "--format", "json"], files, accept=True,
               strict_json=True)  # fmt: skip
    yield Case(kind, ["run", *sets(3, 1), "--format", "json"], files, accept=True, strict_json=True)


_VALIDATION_C = ROOT / "benchmarks" / "results" / "validation-2026-12-07-c" / "all"


def stored_compute_times() -> Iterator[Case]:
    """Round 31. ``benchmarks/compute_share.py --runs DIR`` (new this stop, 0973ae9) splits each run's compute by its
    ranks' wall and CPU seconds (``extra.per_rank_compute_s``, ``per_rank_compute_cpu_s``) at its ``critical_rank``;
    the record check takes any amount, list or mapping of amounts in ``extra``, so a mapping of zeros was a
    ``ZeroDivisionError``, a list an ``AttributeError``, an unknown rank or a missing field a ``KeyError`` traceback,
    after the first lines; ``--swap`` of a profile without a host model was refused after the first profile's table.
    One line naming the configuration and the fields now, before anything is printed (terms' b318c21, the same stop;
    the zero times' line names its fields since this class)."""
    kind = "stored runs' compute times (round 31)"
    runs = (_VALIDATION_C / "runs.jsonl").read_bytes()
    line = runs.split(b"\n", 1)[0]
    folder = {"summary.json": (_VALIDATION_C / "summary.json").read_bytes(),
              "profile.yaml": (_VALIDATION_C / "profile.yaml").read_bytes()}  # fmt: skip
    program = "benchmarks/compute_share"
    damages = [(b'"per_rank_compute_cpu_s": ', value) for value in (b"{}", b'{"0": 0.0, "1": 0.0}', b"[0.01]", b"null")]
    damages += [(b'"per_rank_compute_s": ', b"[1]"), (b'"critical_rank": ', b"99")]
    for number, (key, value) in enumerate(damages):
        start = line.index(key) + len(key)
        end = _closing(line, start) if line[start : start + 1] in b"{[" else line.index(b",", start)
        damaged = runs.replace(line, line[:start] + value + line[end:], 1)
        files = {f"t{number}/{name}": data for name, data in folder.items()} | {f"t{number}/runs.jsonl": damaged}
        field = "critical_rank" if b"critical" in key else key.decode().strip('": ')
        yield Case(kind, ["--runs", f"{{tmp}}/t{number}"], files, expect_error=True, names=field, program=program)
    no_host = b"name: bare\ncompute:\n  forward: {fixed: 1 ms, per_sample: 0 s}\n"
    files = {f"ok/{name}": data for name, data in folder.items()} | {"ok/runs.jsonl": runs, "bare.yaml": no_host}
    yield Case(kind, ["--runs", "{tmp}/ok", "--swap", "{tmp}/bare.yaml"], files, expect_error=True, names="--swap",
               program=program)  # fmt: skip
    yield Case(kind, ["--runs", "{tmp}/ok"], files, accept=True, program=program)


def identity_files_read_back() -> Iterator[Case]:
    """Round 31. ``benchmarks/predict_identity.py`` (new this stop, 71b7201) compares two files it wrote
    (``--compare A B``): a file not UTF-8 was a ``UnicodeDecodeError`` traceback, a line whose answer was a number a
    ``TypeError``, a line nested 100,000 deep a ``RecursionError``, a FIFO waited forever; ``--out /dev/full`` priced
    every case, then an ``OSError`` traceback. One line naming the option now (the output checked before pricing,
    written whole or not at all); two files it wrote compare clean."""
    kind = "predict_identity files read back (round 31)"
    program = "benchmarks/predict_identity"
    row = {"case": 0, "draws": "plain", "file": "default.yaml", "sets": [], "analytic": {"refused": "x"}}
    good = (json.dumps(row) + "\n").encode()
    bad = {
        "utf16": good.decode().encode("utf-16"),
        "number": good.replace(b'{"refused": "x"}', b"5"),
        "text": good.replace(b'"sets": []', b'"sets": "a=1"'),
        "deep": b"[" * 100_000 + b"]" * 100_000 + b"\n",
        "nested": (json.dumps(row | {"sim": {"x": [0]}}).replace("[0]", "[" * 40 + "0" + "]" * 40) + "\n").encode(),
        "fifo": b"<fifo>",
    }
    for name, data in bad.items():
        yield Case(kind, ["--compare", f"{{tmp}}/{name}.jsonl", "{tmp}/good.jsonl"],
                   {f"{name}.jsonl": data, "good.jsonl": good}, expect_error=True, names="--compare",
                   program=program)  # fmt: skip
    yield Case(kind, ["--cases", "1", "--out", "/dev/full"], expect_error=True, names="--out", program=program)
    yield Case(kind, ["--compare", "{tmp}/good.jsonl", "{tmp}/again.jsonl"], {"good.jsonl": good, "again.jsonl": good},
               accept=True, program=program)  # fmt: skip


def quiet_steps_of_zero() -> Iterator[Case]:
    """Round 30. ``quiet_runs.py DIR`` scores each configuration against the median of its quiet runs' steps, and a
    measured step of 0 (which the record check takes: an amount >= 0) made that median 0: a ``ZeroDivisionError``
    traceback after the first configurations' lines. One line naming the run and ``step_time_s`` now, before any
    line is printed."""
    kind = "quiet runs' steps of zero (round 30)"
    folder = ROOT / "benchmarks" / "results" / "validation-2026-12-05-c" / "all" / "reuse"
    runs, records = (folder / "runs.jsonl").read_bytes(), (folder / "records.jsonl").read_bytes()

    def zeroed(text: bytes) -> bytes:
        return re.sub(rb'"step_time_s": [0-9.eE+-]+', b'"step_time_s": 0.0', text)

    lines = runs.split(b"\n")  # every run, or only the second configuration's three (after a line is printed)
    second = b"\n".join([*lines[:3], zeroed(b"\n".join(lines[3:6])), *lines[6:]])
    for number, damaged in enumerate((zeroed(runs), second)):
        files = {f"q{number}/runs.jsonl": damaged, f"q{number}/records.jsonl": records}
        yield Case(kind, [f"{{tmp}}/q{number}"], files, expect_error=True, names="field step_time_s",
                   program="benchmarks/quiet_runs")  # fmt: skip
    yield Case(kind, ["{tmp}/ok"], {"ok/runs.jsonl": runs, "ok/records.jsonl": records}, accept=True,
               program="benchmarks/quiet_runs")  # fmt: skip


def jitter_of_many_counts() -> Iterator[Case]:
    """Round 32 (stop 50). A gamma jitter's table is the gamma of shape k/cv² at each rank's effective count
    k = (Σw)²/Σw², one table a distinct k (its series runs ~9·√shape terms on 8,001 points: 0.1-1 s); under a profile's
    reducer pass each distinct straggler's micro-batch share under ``training.partition: weighted`` is a k of its own,
    and no cost guard counted them (the lognormal's counts convolutions only): 100 stragglers priced for 8 s of CPU,
    1,000 past the corpus's hang limit on main e758d8b (the guard's own message offered ``gamma`` as the cheap way
    out). The gamma's counts are read off a grid of log k now (:func:`dpsim.rank_speed._grid_table`, as the
    lognormal's shapes off ρ), so both run in seconds; the normal (closed form a table) and the lognormal too."""
    kind = "jitter of many effective counts (round 32)"
    profile = "name: host\nreduction_bandwidth: 1 GB/s\ncompute:\n  forward: {fixed: 0 s, per_sample: 100 us}\n" + (
        "  backward: {fixed: 0 s, per_sample: 200 us}\n"
    )
    named = ",".join(f"{{worker: {i}, slowdown: {1 + 0.001 * (i + 1)}}}" for i in range(1000))
    sets = [a for s in ("cluster.nodes=128", "training.micro_batch=10000", "training.global_batch=20480000",
                        "training.partition=weighted", "calibration.profile={tmp}/p.yaml",
                        f"variability.stragglers=[{named}]", "model=gpt2-small") for a in ("--set", s)]  # fmt: skip
    for distribution, cv in (("gamma", 0.05), ("gamma", 0.01), ("gamma", 3), ("normal", 0.05), ("lognormal", 10)):
        jitter = ["--set", f"variability.jitter_distribution={distribution}", "--set",
                  f"variability.compute_jitter_cv={cv}"]  # fmt: skip
        yield Case(kind, ["run", *sets, *jitter, "--format", "json"], {"p.yaml": profile.encode()}, accept=True,
                   strict_json=True)  # fmt: skip


def jitter_over_many_micro_batches() -> Iterator[Case]:
    """Round 32 (stop 50). Under a compute jitter the analytic price takes the slowest rank over each stretch between
    synchronisations, a rank's draws one a micro-batch: ZeRO-3 and FSDP synchronise at every pass, so k micro-batches
    were 2k stretches each priced on its own (a million: killed after 400 s, 76 s of CPU, on main e758d8b), and a DDP
    rank's k draws were a list of k weights, summed and counted again for each rank (1,024 ranks at 100,000
    micro-batches under a profile's reducer pass: 26.3 s of CPU, past the hang limit at load; 1.0 s now). A
    repeated
    stretch is one object priced once, and a rank's draws are runs of equal weights (``dpsim.rank_speed.Runs``), the
    same step to the bit; each runs in seconds now."""
    kind = "jitter over many micro-batches (round 32)"
    named = ",".join(f"{{worker: {i}, slowdown: {1 + 0.001 * (i + 1)}}}" for i in range(1000))
    million = ["cluster.nodes=2", "training.micro_batch=4", "training.global_batch=64000000"]  # 16 ranks, k 10^6
    for sharding, distribution in ((["training.zero_stage=3"], "lognormal"),
                                   (["training.zero_stage=3", "training.optimizer_sharding=fsdp"], "gamma"),
                                   ([], "normal")):  # fmt: skip
        sets = [*million, *sharding, f"variability.jitter_distribution={distribution}",
                "variability.compute_jitter_cv=0.05"]  # fmt: skip
        yield Case(kind, ["run", *(a for s in sets for a in ("--set", s)), "--format", "json"], accept=True,
                   strict_json=True)  # fmt: skip
    profile = "name: host\nreduction_bandwidth: 1 GB/s\ncompute:\n  forward: {fixed: 0 s, per_sample: 100 us}\n" + (
        "  backward: {fixed: 0 s, per_sample: 200 us}\n"
    )  # (its reducer pass: a rank's last micro-batch weighs apart)
    sets = ["cluster.nodes=128", "training.micro_batch=4", f"training.global_batch={1024 * 4 * 100_000}",
            "training.partition=weighted", f"variability.stragglers=[{named}]", "variability.compute_jitter_cv=0.05",
            "variability.jitter_distribution=gamma", "calibration.profile={tmp}/p.yaml"]  # fmt: skip
    yield Case(kind, ["run", *(a for s in sets for a in ("--set", s)), "--format", "json"],
               {"p.yaml": profile.encode()}, accept=True, strict_json=True)  # fmt: skip


def plan_identity_files_read_back() -> Iterator[Case]:
    """Round 32 (stop 50). ``benchmarks/plan_identity.py`` (new this stop, review's 44ab16a) compares two files it
    wrote with predict_identity's reader (round 31's class); the reader refused a line nested deeper than 32 only in
    predict_identity's own check of a line, so plan_identity's items, json-readable at 900 deep, reached the recursive
    comparison: a ``RecursionError`` traceback, exit 1, on main 44ab16a. The depth is checked by the shared reader now
    for both scripts; the round-31 damages, the other shapes and two files it wrote compare as before."""
    kind = "plan_identity files read back (round 32)"
    program = "benchmarks/plan_identity"
    item = {"part": "frames", "name": "cpu", "rows": 1}
    good = (json.dumps(item) + "\n").encode()
    bad = {
        "utf16": good.decode().encode("utf-16"),
        "deep-a": good.replace(b"1}", b"[" * 900 + b"1" + b"]" * 900 + b"}"),
        "deep-b": good.replace(b"1}", b"[" * 900 + b"2" + b"]" * 900 + b"}"),
        "bottom": b"[" * 100_000 + b"]" * 100_000 + b"\n",
        "other": good.replace(b'"frames"', b'"plans"'),
        "fifo": b"<fifo>",
    }
    for name, data in bad.items():
        other = "deep-b" if name == "deep-a" else "good"
        yield Case(kind, ["--compare", f"{{tmp}}/{name}.jsonl", f"{{tmp}}/{other}.jsonl"],
                   {f"{name}.jsonl": data, f"{other}.jsonl": bad.get(other, good)}, expect_error=True,
                   names="--compare", program=program)  # fmt: skip
    yield Case(kind, ["--compare", "{tmp}/good.jsonl", "{tmp}/again.jsonl"], {"good.jsonl": good, "again.jsonl": good},
               accept=True, program=program)  # fmt: skip


REFRESH_SCENARIO = """\
name: refresh
model: {kind: mlp, layers: 2, hidden: 64}
cluster:
  nodes: 2
  workers_per_node: 1
  device: {peak_flops: 50 GFLOP/s, memory: 8 GB}
  inter_node: {bandwidth: 500 Mbit/s, latency: 50 us}
training: {global_batch: 8, micro_batch: 4, optimizer: adam, precision: fp32}
communication: {algorithm: backend, bucket: 1 MiB}
"""


def refresh_base_profile(plan: dict[str, Any] | None = None, model_label: str | None = None) -> Any:
    """A profile (``HardwareProfile``) as ``dpsim calibrate`` writes one on this host (its torch, cores and cache;
    links, host and compute parts made up) for :data:`REFRESH_SCENARIO` with a small plan, ``plan`` entries replaced
    (None: removed) and its ``model:`` label's micro-batches text ``model_label`` where given. Also the base of
    ``tests/test_calibrate_refresh.py``."""
    import torch
    import yaml

    import runtime.calibrate as rc
    from dpsim.calibration import ComputeCurve, ComputePoint, HardwareProfile, HostModel, LinearTime
    from dpsim.scenario import scenario_from_dict

    scenario = scenario_from_dict(yaml.safe_load(REFRESH_SCENARIO))
    small = rc.CalibrationPlan(curve_hiddens=(64,), curve_micro_batches=(4,), curve_layers=1, host_processes=(1, 2),
                               micro_batches=(1, 2))  # fmt: skip
    recorded = {"curve_hiddens": [64], "curve_micro_batches": [4], "curve_layers": 1, "host_processes": [1, 2],
                "micro_batches": [1, 2], "reps": 5, "warmup": 1}  # fmt: skip
    recorded = {k: v for k, v in {**recorded, **(plan or {})}.items() if v is not None}
    model = rc._model_label(scenario, small)
    if model_label is not None:
        model = model.partition("micro-batches ")[0] + model_label
    cache = rc.last_level_cache_bytes()
    return HardwareProfile(
        name="base", links={"inter": {"ring": rc.Link(latency_s=1e-4, bandwidth=5e7)}},
        forward=LinearTime(1e-4, 1e-5), backward=LinearTime(2e-4, 2e-5), optimizer=LinearTime(1e-4, 5e-9),
        optimizer_curve=((64, 9e-9),), compute_curve=ComputeCurve((ComputePoint(64, 4, 1, 1e-5, 2e-5),)),
        host_model=HostModel(2.0, 0.03, measured={1: 1.0, 2: 1.1}, optimizer_measured={1: 1.0, 2: 1.2},
                             measured_slowest={1: 1.0, 2: 1.2}, optimizer_measured_slowest={1: 1.0, 2: 1.3},
                             comm_cpu_per_byte_s=1e-9, page_fault_s=2e-6),
        calibrated_on=(rc._curve_label(small), "host: 1,2 processes computing, and stepping Adam, at once", model),
        meta={"torch_version": str(torch.__version__), "testbed": "emulated",
              "model": f"mlp {scenario.model.num_parameters:.0f} parameters", "optimizer_name": "adam",
              "cores": rc.host_cores(), "last_level_cache_bytes": cache,
              "optimizer_cold_bytes": rc.cold_cache_bytes(cache),
              "optimizer_idle_s": rc.OPTIMIZER_IDLE_S, "curve_rounds": rc.CURVE_ROUNDS, "host_rounds": rc.HOST_ROUNDS,
              "fit_residuals": {"optimizer": 0.01}, "plan": recorded},
    )  # fmt: skip


def _refresh_base(plan: dict[str, Any], model_label: str | None = None) -> bytes:
    """:func:`refresh_base_profile`'s file, as ``dpsim calibrate`` saves it."""
    import tempfile

    from dpsim.calibration import save_profile

    with tempfile.TemporaryDirectory() as folder:
        save_profile(refresh_base_profile(plan, model_label), Path(folder) / "p.yaml")
        return (Path(folder) / "p.yaml").read_bytes()


def float8_all_gather_settings() -> Iterator[Case]:
    """Round 34. ``training.fsdp_float8_all_gather`` (new in stop 52): a boolean in no other shape, and refused with
    its own name wherever there is no FSDP gather of torchao's Float8 weights (another sharding, ZeRO's stages,
    Transformer Engine's linears, bf16 training); run where FSDP2 gathers them, on both engines."""
    kind = "FSDP float8 all-gather (round 34)"
    name = "training.fsdp_float8_all_gather"
    for value in ("yes", "'true'", "1", "2", "null", "[true]", "'on'", "{a: 1}"):
        yield _set_case(kind, f"{name}={value}", command="check", expect_error=True, names=name)
    fp8 = ("cluster.device=h100-sxm", "training.precision=fp8", "model.fp8_linear=torchao_tensorwise")
    fsdp = ("training.optimizer_sharding=fsdp", "training.zero_stage=3")
    on = f"{name}=true"
    for sets, error in (
        ((on,), True),
        ((*fsdp, on), True),
        ((*fp8, on), True),
        ((*fp8, "training.zero_stage=3", on), True),
        ((*fp8, "training.optimizer_sharding=fsdp", "training.zero_stage=2", on), False),
        ((*fp8, *fsdp, on), False),
        ((*fp8[:2], *fsdp, on), True),
        ((*fp8[:2], "model.fp8_linear=te_linear", *fsdp, on), True),
        ((*fp8, *fsdp, f"{name}=false"), False),
    ):
        for engine in ("analytic", "sim") if not error else ("analytic",):
            yield _set_case(kind, *sets, extra=("--engine", engine), expect_error=error, names=name if error else "")


def refresh_plans_doctored() -> Iterator[Case]:
    """Round 33 (stop 51). ``dpsim calibrate --refresh PROFILE`` (pool's 3b70b6c, new this stop) times again with the
    settings the base recorded in ``meta.plan``, read with ``int()``: a label's ``²`` (a stop-50 profile's model
    micro-batches) passed ``str.isdigit`` and failed ``int``, a ``ValueError`` traceback; 0 repetitions timed the
    curve, then took the median of nothing (a ``StatisticsError`` traceback); 10^9 timed for ever; 2.5 ran as 2 and
    ``true`` as 1, silently. Each is one line naming the setting now, before anything is timed."""
    kind = "refresh plans doctored (round 33)"
    scenario = {"s.yaml": REFRESH_SCENARIO.encode()}
    argv = ["calibrate", "{tmp}/s.yaml", "--refresh", "{tmp}/p.yaml", "--out", "{tmp}/new.yaml"]
    for plan, names in (({"reps": 0}, "meta.plan.reps"), ({"reps": 10**9}, "meta.plan.reps"),
                        ({"warmup": -1}, "meta.plan.warmup"), ({"micro_batches": [1, 2.5]}, "meta.plan.micro_batches"),
                        ({"curve_hiddens": [True]}, "meta.plan.curve_hiddens"),
                        ({"host_processes": [0, 2]}, "meta.plan.host_processes"),
                        ({"curve_layers": 1.5}, "meta.plan.curve_layers")):  # fmt: skip
        yield Case(kind, argv, {**scenario, "p.yaml": _refresh_base(plan)}, expect_error=True, names=names,
                   outputs=("{tmp}/new.yaml",))  # fmt: skip
    for label in ("1,\u00b2", "9" * 5000, "\u0661,2"):
        yield Case(kind, argv, {**scenario, "p.yaml": _refresh_base({"micro_batches": None}, label)},
                   expect_error=True, names="calibrated_on", outputs=("{tmp}/new.yaml",))  # fmt: skip


def jitter_over_a_hundred_million_micro_batches() -> Iterator[Case]:
    """Round 34 (stop 52; found at stop 51 on a branch that was lost). Round 32 held a rank's draws as runs of equal
    weights (``dpsim.rank_speed.Runs``) and summed them one addition at a time, in the draws' order: 128 ranks of
    10⁸ micro-batches were 2.6·10¹⁰ additions, 67 s of CPU (73 s of wall) under a gamma jitter and 101 s of wall
    under a lognormal on main ebe793a (past the hang limit), 1,024 ranks of 10⁷ the same. The additions are replayed
    a binade at a time now (``dpsim.rank_speed.repeated_sum``: the same sums to the bit, so the same steps): 2 s and
    12 s. The gamma's tables (0.05-0.2 s each, one a distinct effective count or a node of their grid) were in no cost
    guard: ranks whose reducer pass leaves their earlier micro-batches slivers of the last spread their counts over 16
    of log k (the last case: 1,000 stragglers at slowdowns 2/(1 + 10⁻ˣ), x from 1 to 12, and one at 2, whose pass the
    profile's rate makes the whole of its backward) and build one a node; the guard counts them now
    (``GAMMA_TABLE_S``)."""
    kind = "jitter over a hundred million micro-batches (round 34)"
    hundred_million = ["cluster.nodes=16", "training.micro_batch=1", f"training.global_batch={128 * 10**8}",
                       "variability.compute_jitter_cv=0.05"]  # fmt: skip
    for distribution in ("lognormal", "gamma", "normal"):
        sets = [*hundred_million, f"variability.jitter_distribution={distribution}"]
        yield Case(kind, ["run", *(a for s in sets for a in ("--set", s)), "--format", "json"], accept=True,
                   strict_json=True)  # fmt: skip
    sets = ["cluster.nodes=128", "training.micro_batch=1", f"training.global_batch={1024 * 10**7}",
            "variability.compute_jitter_cv=3", "variability.jitter_distribution=gamma"]  # fmt: skip
    yield Case(kind, ["run", *(a for s in sets for a in ("--set", s)), "--format", "json"], accept=True,
               strict_json=True)  # fmt: skip
    slivers = ",".join(f"{{worker: {i}, slowdown: {2 / (1 + 10 ** -(1 + 11 * i / 999))!r}}}" for i in range(1000))
    profile = "name: host\nreduction_bandwidth: 85148180.23196141 B/s\ncompute:\n" + (
        "  forward: {fixed: 0 s, per_sample: 1e-12 s}\n  backward: {fixed: 0 s, per_sample: 200 us}\n"
    )
    sets = ["cluster.nodes=128", "training.micro_batch=10000", f"training.global_batch={1024 * 10000 * 10**7}",
            "training.partition=weighted", "calibration.profile={tmp}/p.yaml", "model=gpt2-small",
            f"variability.stragglers=[{slivers},{{worker: 1000, slowdown: 2.0}}]", "variability.compute_jitter_cv=10",
            "variability.jitter_distribution=gamma"]  # fmt: skip
    yield Case(kind, ["run", *(a for s in sets for a in ("--set", s)), "--format", "json"],
               {"p.yaml": profile.encode()}, accept=True, strict_json=True)  # fmt: skip


def _refresh_base_meta(edit: Callable[[dict[str, Any]], None]) -> bytes:
    """:func:`refresh_base_profile`'s file with its ``meta`` edited."""
    import yaml

    data = yaml.safe_load(_refresh_base({}))
    edit(data["meta"])
    return yaml.safe_dump(data, sort_keys=False).encode()


def profile_meta_nulls_and_refreshes() -> Iterator[Case]:
    """Round 34 (stop 52). ``dpsim calibrate --refresh`` appends its record to the base's ``meta.refreshes``
    (``[*(meta.get("refreshes") or []), record]``), which no loader checked: ``refreshes: 5`` timed the base's parts
    for 42 s, then was a ``TypeError`` traceback on main ebe793a; a text or a mapping was spread into the new profile
    (``'abc'`` became three records ``a``, ``b``, ``c``), silently. It is a list of mappings now, checked at load
    before anything is timed. And a mapping dpsim reads back written with no value (``fit_residuals:``) loaded as
    None, which its readers took for a mapping (``meta.get("fit_residuals", {}).items()``): ``validate_emulated.py
    --reuse`` of a folder whose profile has it was an ``AttributeError`` traceback on main ebe793a, with and without
    ``--refit`` (and the refresh's optimizer part a ``TypeError`` after timing); a null one is absent now, so both
    run."""
    kind = "profile meta: null mappings, refreshes (round 34)"
    scenario = {"s.yaml": REFRESH_SCENARIO.encode()}
    argv = ["calibrate", "{tmp}/s.yaml", "--refresh", "{tmp}/p.yaml", "--out", "{tmp}/new.yaml"]
    for value in (5, "abc", [1], {"a": 1}, [{"parts": ["compute"]}, "x"], 1e400):
        edited = _refresh_base_meta(lambda meta, value=value: meta.update(refreshes=value))
        yield Case(kind, argv, {**scenario, "p.yaml": edited}, expect_error=True, names="meta.refreshes",
                   outputs=("{tmp}/new.yaml",))  # fmt: skip
    runs = (_VALIDATION_R / "runs.jsonl").read_bytes()
    bench = (_VALIDATION_R / "calibration-bench.json").read_bytes()
    profile = (_VALIDATION_R / "profile.yaml").read_bytes()
    start = profile.index(b"  fit_residuals:\n")
    end = profile.index(b"\n", start + len(b"  fit_residuals:\n")) + 1  # its one entry
    nulled = profile[:start] + b"  fit_residuals:\n" + profile[end:]
    files = {"n/runs.jsonl": runs, "n/profile.yaml": nulled, "n/calibration-bench.json": bench}
    for extra in ([], ["--refit"]):
        yield Case(kind, ["--reuse", "{tmp}/n", "--case-set", "fresh45", *extra], files, accept=True,
                   program="benchmarks/validate_emulated", env=_NO_TESTBED)  # fmt: skip


def refresh_bases_not_files() -> Iterator[Case]:
    """Round 34 (stop 52). ``dpsim calibrate --refresh -`` read the base profile from standard input (the input
    boundary's ``-``), checked it, then hashed a file named ``-`` for ``meta.refreshes``: a ``FileNotFoundError``
    traceback on main ebe793a. ``calibrate`` reads no stdin for its files (``--from-trace -``, ``--from-nccl-tests
    -``: "no such file"); ``--refresh`` is held to a regular file now, as they are, before anything is read."""
    kind = "calibrate --refresh base: stdin / not a file (round 34)"
    files = {"s.yaml": REFRESH_SCENARIO.encode(), "p.yaml": _refresh_base({}), "fifo": b"<fifo>"}
    for base in ("-", "{tmp}/fifo", "/dev/null", "{tmp}/missing.yaml"):
        yield Case(kind, ["calibrate", "{tmp}/s.yaml", "--refresh", base, "--out", "{tmp}/new.yaml"], files,
                   stdin=files["p.yaml"], expect_error=True, names="--refresh",
                   outputs=("{tmp}/new.yaml",))  # fmt: skip


def sweeps_of_many_jitter_prices() -> Iterator[Case]:
    """Round 34 (stop 52). A closed-form sweep's guards price each distinct data-parallel group once and a point at
    milliseconds, so a compute jitter's price at each point went uncounted: 40 values of ``compute_jitter_cv`` over
    1,024 ranks of 1,000 distinct stragglers (a profile's reducer pass: 1,001 classes of ranks and 4 gamma tables a
    point) ran 239 s of wall, 167 s of CPU on this branch before the guard, and 100 values were unguarded on main
    ebe793a too. Each distinct point is charged its jitter's tables and classes now
    (``dpsim.sim.budget.jitter_pricing_s``); 100 values are refused in one line naming the field, before any point
    runs, nothing written."""
    kind = "sweeps of many jitter prices (round 34)"
    profile = "name: host\nreduction_bandwidth: 1 GB/s\ncompute:\n  forward: {fixed: 0 s, per_sample: 100 us}\n" + (
        "  backward: {fixed: 0 s, per_sample: 200 us}\n"
    )
    named = ",".join(f"{{worker: {i}, slowdown: {1 + 0.001 * (i + 1)}}}" for i in range(1000))
    sets = ["cluster.nodes=128", "cluster.workers_per_node=8", "training.micro_batch=10000",
            "training.global_batch=20480000", "training.partition=weighted", "calibration.profile={tmp}/p.yaml",
            f"variability.stragglers=[{named}]", "model=gpt2-small"]  # fmt: skip
    cvs = ",".join(f"{0.01 * i:.2f}" for i in range(1, 101))
    for distribution in ("gamma", "lognormal"):
        argv = ["sweep", "{tmp}/s.yaml", *(a for s in sets for a in ("--set", s)), "--set",
                f"variability.jitter_distribution={distribution}", "--vary", f"variability.compute_jitter_cv={cvs}",
                "--out", "{tmp}/o.csv"]  # fmt: skip
        yield Case(kind, argv, {"s.yaml": SMALL.encode(), "p.yaml": profile.encode()}, expect_error=True,
                   names="variability.jitter_distribution", outputs=("{tmp}/o.csv",))  # fmt: skip


def distinct_stragglers_under_a_speed_spread() -> Iterator[Case]:
    """Round 34 (stop 52). Under a compute jitter and ``variability.rank_speed_sigma`` > 0 the analytic price convolves
    each class of ranks (a distinct straggler) with its paces over 8,001 points, 3.5 ms each: 8,192 distinct
    stragglers priced for 29 s of CPU (40 s of wall at load 3) before this class, and a run's guard counted the jitter's
    tables alone, so 65,536 would run four minutes. The classes are charged now
    (``dpsim.sim.budget.jitter_classes_s``): refused past 30 s in one line naming ``variability.stragglers``; without
    the spread the same stragglers price in 2 s, accepted."""
    kind = "distinct stragglers under a speed spread (round 34)"
    lines = ["name: many-stragglers", "model: {preset: gpt2-small}", "cluster:", "  nodes: 1024",
             "  workers_per_node: 8", "  device: a100-80gb", "training: {global_batch: 16384, micro_batch: 1}",
             "variability:", "  compute_jitter_cv: 0.05", "  jitter_distribution: gamma", "  stragglers:"]  # fmt: skip
    lines += [f"    - {{worker: {i}, slowdown: {1 + 1e-4 * (i + 1)!r}}}" for i in range(8192)]
    files = {"s.yaml": ("\n".join(lines) + "\n").encode()}
    yield Case(kind, ["run", "{tmp}/s.yaml", "--set", "variability.rank_speed_sigma=0.05"], files, expect_error=True,
               names="variability.stragglers")  # fmt: skip
    yield Case(kind, ["run", "{tmp}/s.yaml", "--format", "json"], files, accept=True, strict_json=True)


def stored_bucket_lists() -> Iterator[Case]:
    """Round 34 (stop 52). ``benchmarks/compute_share.py --runs DIR`` prints each configuration's predicted and
    measured release lags (``extra.per_rank_release_lag_s``, recorded since stop 50) at its last bucket,
    ``extra.bucket_bytes[-1]``, which the record check takes as any amount, list or mapping of amounts: a number
    there was a ``TypeError`` traceback, a mapping a ``KeyError`` one, on main ebe793a, after the first profile's
    table, where the algorithm's ranks leave together (a ring one a node: the split's check of the same list never
    read it). One reader of the last bucket now (``last_bucket``), refusing in one line naming the configuration and
    ``extra.bucket_bytes`` before the table; an empty list still reads as no bucket."""
    kind = "stored runs' bucket lists (round 34)"
    folder = ROOT / "benchmarks" / "results" / "validation-2026-12-07-e" / "all"  # fresh50: lags recorded
    runs = (folder / "runs.jsonl").read_bytes().splitlines(keepends=True)
    base = {
        "summary.json": (folder / "summary.json").read_bytes(),
        "profile.yaml": (folder / "profile.yaml").read_bytes(),
    }
    ring = b'"bucket_bytes": [2362368, 2362368, 2362368, 2362368]'  # configuration 6 (lines 18-20): 8 ranks of ring
    for number, value in enumerate((b"5", b'{"0": 5}', b"[-0.0]", b"[]")):
        damaged = b"".join(line.replace(ring, b'"bucket_bytes": ' + value, 1) if 18 <= i < 21 else line
                           for i, line in enumerate(runs))  # fmt: skip
        files = {f"b{number}/{name}": data for name, data in base.items()} | {f"b{number}/runs.jsonl": damaged}
        valid = value == b"[]"
        yield Case(kind, ["--runs", f"{{tmp}}/b{number}"], files, expect_error=not valid, accept=valid,
                   names="" if valid else "extra.bucket_bytes", program="benchmarks/compute_share")  # fmt: skip


def _refresh_base_labelled(plan: dict[str, Any]) -> bytes:
    """:func:`_refresh_base` with ``plan`` recorded and its ``calibrated_on`` curve and model labels rewritten to match
    it, as one who doctors ``meta.plan`` would edit the labels too (:func:`runtime.calibrate.refresh_problem` asks
    that the labels name the recorded settings)."""
    import dataclasses
    import tempfile

    import yaml

    import runtime.calibrate as rc
    from dpsim.calibration import save_profile
    from dpsim.scenario import scenario_from_dict

    base = refresh_base_profile(plan)
    recorded = {k: tuple(v) if isinstance(v, list) else v for k, v in base.meta["plan"].items()}
    settings = rc.CalibrationPlan(**{k: v for k, v in recorded.items() if k in ("curve_hiddens", "curve_micro_batches",
                                     "curve_layers", "micro_batches")})  # fmt: skip
    scenario = scenario_from_dict(yaml.safe_load(REFRESH_SCENARIO))
    labels = (rc._curve_label(settings), base.calibrated_on[1], rc._model_label(scenario, settings))
    with tempfile.TemporaryDirectory() as folder:
        save_profile(dataclasses.replace(base, calibrated_on=labels), Path(folder) / "p.yaml")
        return (Path(folder) / "p.yaml").read_bytes()


def refresh_plans_past_their_work() -> Iterator[Case]:
    """Round 35 (stop 53). ``dpsim calibrate --refresh`` runs the plan the base recorded in ``meta.plan``, whose
    settings round 33 held to whole numbers of at least 1, with no upper bound but the repetitions': ``warmup:
    1000000000`` timed for ever and ``host_processes: [1, 2, 5000]`` started 5,000 processes (neither is in a
    ``calibrated_on`` label), and a curve of hidden 10^6, 10^6 layers, 10^9 samples or model micro-batches of 10^9, the
    labels edited to match, allocated terabytes. Each part's work is held to 16 times calibrate's default plan's now
    (``runtime.calibrate.REFRESH_WORK_LIMIT``), warm-up rounds to the repetitions' 15, and the host sweep to distinct
    counts of at most the machine's local processes: one line naming the setting, before anything is timed, nothing
    written."""
    kind = "calibrate --refresh: recorded plans past their work (round 35)"
    scenario = {"s.yaml": REFRESH_SCENARIO.encode()}
    argv = ["calibrate", "{tmp}/s.yaml", "--refresh", "{tmp}/p.yaml", "--out", "{tmp}/new.yaml"]
    for plan, names in (({"warmup": 10**9}, "meta.plan.warmup"), ({"warmup": 16}, "meta.plan.warmup"),
                        ({"host_processes": [1, 2, 5000]}, "meta.plan.host_processes"),
                        ({"host_processes": [1, 1, 2]}, "meta.plan.host_processes"),
                        ({"curve_hiddens": [10**6]}, "meta.plan.curve_hiddens"),
                        ({"curve_layers": 10**6}, "meta.plan.curve_hiddens"),
                        ({"curve_micro_batches": [10**9]}, "meta.plan.curve_hiddens"),
                        ({"micro_batches": [10**9]}, "meta.plan.micro_batches")):  # fmt: skip
        parts = ["--refresh-parts", "compute,optimizer,host"] if "host_processes" in plan else []
        yield Case(kind, [*argv, *parts], {**scenario, "p.yaml": _refresh_base_labelled(plan)}, expect_error=True,
                   names=names, outputs=("{tmp}/new.yaml",))  # fmt: skip


def plan_search_spaces_past_memory() -> Iterator[Case]:
    """Round 35 (stop 53). ``plan``'s screen builds the whole Cartesian product of its search space before its cost
    guard (which counts the data-parallel groups priced) runs: 11 ``--tp`` degrees, 64 ``--pp``, 12 micro-batches,
    every recomputation and six algorithms over the six catalog GPUs were 306 million configurations, about 46 GiB of
    arrays (the process swapped until killed; past the 60 s limit here), and 1,999 micro-batches over a million devices
    85 million (13 GiB). The grid is counted first now (``dpsim.plan.GRID_ROW_BYTES``, ``GRID_ROW_S``): past 8 GiB
    refused even with ``--allow-long``, past 5 minutes without it, naming the option with the most values, nothing
    written. And ``--workers-per-node`` 257-1,024 was refused as ``cluster.inter_node.nics_per_node`` (the plan gives
    each device its own NIC, at most 256 a node), a field no plan user writes: named as the option now. Left open
    by round 35 and closed at stop 53: the screen's pipeline loads (about 6 us a rank of each pipelined layout) were
    not charged, and ``--global-batch 65536`` over a million devices (600 layouts, 67.6 million ranks) screened for
    minutes; refused in a second now, naming ``--max-devices``."""
    kind = "plan: search spaces past the memory limit (round 35)"
    plan = ["plan", "--model", "llama2-7b", "--tokens", "1T", "--no-progress", "--simulate", "0", "--top", "3",
            "--out", "{tmp}/p.csv"]  # fmt: skip
    gpus = [a for d in ("v100", "a100-40gb", "a100-80gb", "h100-sxm", "h200", "b200") for a in ("--device", d)]
    wide = [*gpus, "--tp", ",".join(str(2**i) for i in range(11)), "--pp", ",".join(str(i) for i in range(1, 65)),
            "--zero", "0,1,2,3", "--micro-batch", ",".join(str(2**i) for i in range(12)), "--recompute",
            "none,selective,full"]  # fmt: skip
    for extra, names in (
        (
            ["--max-devices", "4096", *wide, "--algorithm", "auto,ring,tree,hierarchical,halving-doubling,direct"],
            "--pp",
        ),
        (["--max-devices", "65536", *wide, "--allow-long"], "--pp"),
        (["--max-devices", "1048576", "--micro-batch", ",".join(str(i) for i in range(1, 2000))], "--micro-batch"),
        (["--max-devices", "1048576", "--global-batch", "65536"], "--max-devices"),  # the pipeline loads (stop 53)
        (["--max-devices", "4096", "--workers-per-node", "257"], "--workers-per-node"),
        (["--max-devices", "1048576", "--workers-per-node", "1024"], "--workers-per-node"),
    ):
        yield Case(kind, [*plan, *extra], expect_error=True, names=names, outputs=("{tmp}/p.csv",))
    yield Case(kind, [*plan, "--max-devices", "4096", "--workers-per-node", "256", "--format", "json"], accept=True,
               strict_json=True)  # fmt: skip


def yaml_version_directives() -> Iterator[Case]:
    """Round 35 (stop 53). A document that declares ``%YAML 1.1`` asks for YAML 1.1's schema (``010`` is 8, ``yes``
    is true), and dpsim read it as 1.2's without a word (``global_batch: 010`` ran as 10): refused now in one line
    naming the version, in a scenario and in a profile; ``%YAML 1.2`` runs. And the ends of the physical ranges the
    errors name, ``1 ZB`` and ``1 ZFLOP/s``, were unknown units: read now (zetta, and ``EiB``), past them refused."""
    kind = "YAML 1.1 directives, units at the range's ends (round 35)"
    old = b"%YAML 1.1\n---\n"
    yield Case(kind, ["run", "{tmp}/s.yaml"], {"s.yaml": old + SMALL.encode().replace(b"8,", b"010,")},
               expect_error=True, names="YAML 1.1")  # fmt: skip
    yield Case(kind, ["run", str(CPU_SCENARIO), "--set", "calibration.profile={tmp}/p.yaml"],
               {"p.yaml": old + PROFILE.read_bytes()}, expect_error=True, names="YAML 1.1")  # fmt: skip
    yield Case(kind, ["check", "{tmp}/s.yaml"], {"s.yaml": b"%YAML 1.2\n---\n" + SMALL.encode()}, accept=True)
    for extra in (["--size", "1 ZB"], ["--sizes", "1 EiB,1 ZB"], ["--set", "cluster.device.peak_flops=1 ZFLOP/s"]):
        yield Case(kind, ["collective", *extra, "--format", "json"], accept=True, strict_json=True)
    for extra, names in ((["--size", "2 ZB"], "--size"), (["--size", "1 ZiB"], "--size"),
                         (["--set", "cluster.device.peak_flops=1.5 ZFLOP/s"], "peak_flops")):  # fmt: skip
        yield Case(kind, ["collective", *extra], expect_error=True, names=names)


def profile_sections_unknown_keys() -> Iterator[Case]:
    """Round 35 (stop 53). A profile's ``compute`` section and the points of its two curves took any key: ``curv:``,
    a misspelled ``curve``, was dropped and the profile ran without its compute curve (the g profile's step 76.9 ms
    became 83.6 ms, compute 4.1 -> 10.9 ms), and a point's extra key was dropped too; a point written as a list said
    "list indices must be integers or slices, not str", and a ``comm_cpu_per_byte_by_rate`` pair of three named its
    file and field twice. Each is one line naming the key (with a did-you-mean), as the links and host model were."""
    kind = "profile sections: unknown keys, points of another shape (round 35)"
    run = ["run", "{tmp}/s.yaml", "--set", "calibration.profile={tmp}/p.yaml", "--format", "json"]
    scenario = _FRESH_SCENARIO.encode()

    def renamed(data: dict[str, Any]) -> None:
        data["compute"]["curv"] = data["compute"].pop("curve")

    for edit, names in (
        (renamed, "compute.curv"),
        (_at("compute.forwards", {"fixed": "1 ms", "per_sample": "1 us"}), "compute.forwards"),
        (_at("compute.curve.0.residual", 0.1), "compute.curve.0.residual"),
        (_at("optimizer_curve.1.per_paramter", "4 ns"), "optimizer_curve.1.per_paramter"),
        (_at("optimizer_curve.0", [256, "7 ns"]), "optimizer_curve.0"),
        (_at("compute.curve.0", "256"), "compute.curve.0"),
        (_at("host_model.comm_cpu_per_byte_by_rate.0", ["18.75 MB/s", "1 ns", "2 ns"]),
         "host_model.comm_cpu_per_byte_by_rate"),
    ):  # fmt: skip
        yield Case(kind, run, {"s.yaml": scenario, "p.yaml": _fresh_profile_edit(edit)}, expect_error=True, names=names)
    yield Case(kind, run, {"s.yaml": scenario, "p.yaml": _fresh_profile_edit(lambda data: None)}, accept=True,
               strict_json=True)  # fmt: skip


def profile_step_overhead_values() -> Iterator[Case]:
    """Stop 54 (calib): a new profile field, ``compute.step_overhead`` (the per-step cost of the micro-batch after the
    optimizer's step, priced once a step). NaN, infinity, a negative time, a bare number, text, a list, a mapping, a
    boolean or more than a minute: one line naming the field; a time with its unit, or none, runs."""
    kind = "profile: compute.step_overhead values (stop 54)"
    run = ["run", "{tmp}/s.yaml", "--set", "calibration.profile={tmp}/p.yaml", "--format", "json"]
    scenario = _FRESH_SCENARIO.encode()
    for value in ("nan s", "inf s", "-1 ms", 0.002, "fast", [], {"fixed": "1 ms"}, True, "2 min"):
        edit = _at("compute.step_overhead", value)
        yield Case(kind, run, {"s.yaml": scenario, "p.yaml": _fresh_profile_edit(edit)}, expect_error=True,
                   names="compute.step_overhead")  # fmt: skip
    for value in ("2.5 ms", "0 s", None):
        edit = _at("compute.step_overhead", value)
        yield Case(kind, run, {"s.yaml": scenario, "p.yaml": _fresh_profile_edit(edit)}, accept=True,
                   strict_json=True)  # fmt: skip


def profile_reference_pace_values() -> Iterator[Case]:
    """Stop 54 (drift): a new profile field, ``meta.reference_pace`` (the host's pace before and after each calibration
    part: the gate divides by its kernel times, validate compares runs with their median). Not a mapping, no kernel
    text, probes not a list, a probe without its keys, and each probe key mistyped, NaN, infinite, negative, zero
    where it divides, a denormal or an unknown ``at``: one line naming the field; a whole series, or none, runs."""
    kind = "profile: meta.reference_pace values (stop 54)"
    run = ["run", "{tmp}/s.yaml", "--set", "calibration.profile={tmp}/p.yaml", "--format", "json"]
    scenario = _FRESH_SCENARIO.encode()
    probe = {"part": "links", "attempt": 1, "at": "before", "t_s": 0.0, "kernel_s": 9.1e-4}
    good = {"kernel": "k", "started_utc": "2026-12-08T00:30:00Z",
            "probes": [probe, {**probe, "at": "after", "t_s": 300.0, "kernel_s": 9.3e-4}]}  # fmt: skip
    whole = [(5, "meta.reference_pace"), ([good], "meta.reference_pace"),
             ({"probes": []}, "meta.reference_pace.kernel"), ({**good, "kernel": 7}, "meta.reference_pace.kernel"),
             ({**good, "started_utc": "\x1b[31m"}, "meta.reference_pace.started_utc"),
             ({**good, "probes": "links"}, "meta.reference_pace.probes"),
             ({**good, "probes": [probe, {"part": "links"}]}, "meta.reference_pace.probes[1]")]  # fmt: skip
    bad = [("part", ""), ("part", "\x1b[31mlinks"), ("part", 3), ("attempt", True), ("attempt", 0), ("attempt", 2.5),
           ("attempt", "1"), ("at", "during"), ("t_s", float("nan")), ("t_s", float("inf")), ("t_s", -1.0),
           ("kernel_s", float("nan")), ("kernel_s", 0.0), ("kernel_s", -1e-3), ("kernel_s", "1 ms"),
           ("kernel_s", 1e-320)]  # fmt: skip
    for key, value in bad:
        whole.append(({**good, "probes": [probe, {**probe, key: value}]}, f"meta.reference_pace.probes[1].{key}"))
    for value, named in whole:
        yield Case(kind, run, {"s.yaml": scenario, "p.yaml": _fresh_profile_edit(_at("meta.reference_pace", value))},
                   expect_error=True, names=named)  # fmt: skip
    for value in (good, None):
        yield Case(kind, run, {"s.yaml": scenario, "p.yaml": _fresh_profile_edit(_at("meta.reference_pace", value))},
                   accept=True, strict_json=True)  # fmt: skip


_FRESH_PROFILE = ROOT / "benchmarks" / "results" / "validation-2026-12-07-g" / "all" / "profile.yaml"
"""Stop 52's calibration (fresh52's CAL1): compute curve, optimizer curve, host model with the optimizer's slowdowns."""
_FRESH_SCENARIO = """\
name: fresh
model: {kind: mlp, layers: 2, hidden: 512}
cluster:
  nodes: 2
  workers_per_node: 2
  device: cpu
  intra_node: {bandwidth: 5 GB/s, latency: 20 us}
  inter_node: {bandwidth: 450 Mbit/s, latency: 50 us}
training: {global_batch: 64, micro_batch: 16, optimizer: adam, precision: fp32}
communication: {algorithm: backend, bucket: 4 MiB}
"""


def _fresh_profile_edit(edit: Callable[[dict[str, Any]], None]) -> bytes:
    """:data:`_FRESH_PROFILE`, read, changed by ``edit`` and written back as YAML."""
    import yaml

    data = yaml.safe_load(_FRESH_PROFILE.read_text(encoding="utf-8"))
    edit(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


def runtime_fp8_without_its_option() -> Iterator[Case]:
    """Round 35 (stop 53). ``training.precision: fp8`` run by ``python -m runtime`` without ``--fp8`` fell through to
    fp16's branch of ``runtime.precision.check_precision``: on a CPU the refusal said "fp16 (autocast with a GradScaler)
    runs on GPUs only", and on a GPU the ranks would have trained fp16 with a GradScaler, recorded as such, against
    an fp8 prediction. Refused now before a rank starts, naming the option that runs FP8."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # the runtime is an extra (dpsim[runtime])
        return
    kind = "runtime: training.precision fp8 without --fp8 (round 35)"
    files = {"s.yaml": SMALL.encode()}
    sets = ("cluster.device=h100-sxm", "training.precision=fp8", "communication.algorithm=ring")
    run = ["{tmp}/s.yaml", *(a for s in sets for a in ("--set", s)), "--steps", "1", "--warmup-steps", "0", "--out",
           "{tmp}/r.jsonl"]  # fmt: skip
    for extra in ([], ["--set", "model.fp8_linear=te_linear"]):
        yield Case(kind, [*run, *extra], files, expect_error=True, names="--fp8", outputs=("{tmp}/r.jsonl",),
                   program="runtime")  # fmt: skip


def units_past_the_range_ends() -> Iterator[Case]:
    """Round 36 (stop 54). Round 35 read ``1 ZB`` and ``1 ZFLOP/s``, the ends the range errors name, but a prefix past
    them (``1 ZiB``, ``1 YB``, ``2 YiB``, ``1 QB``, ``1 YFLOP/s``, ``1 ZiB/s``) was still an "unknown unit", telling the
    user to look for a unit when the value was too large: every SI prefix to quetta and ``Zi``/``Yi`` are read now,
    and refused as outside the physical range. A size is still checked in exact arithmetic (``1e-6 YB`` is 10^18 B,
    a whole number, not the double nearest 10^24 times a millionth)."""
    kind = "units past the range's ends (round 36)"
    too_large = "outside the physical range"
    for extra, names in ((["--size", "1 ZiB"], "--size"), (["--size", "1 YB"], "--size"),
                         (["--sizes", "1 KiB,2 YiB"], "--sizes"), (["--size", "1 QB"], "--size"),
                         (["--set", "cluster.device.peak_flops=1 YFLOP/s"], "peak_flops"),
                         (["--set", "cluster.inter_node.bandwidth=1 ZiB/s"], "inter_node.bandwidth")):  # fmt: skip
        yield Case(kind, ["collective", *extra], expect_error=True, names=f"{names}: '{extra[1].split(',')[-1]}' is "
                   f"{too_large}" if "=" not in extra[1] else too_large)  # fmt: skip
    for size in ("1e-6 YB", "1e-3 ZB"):
        yield Case(kind, ["collective", "--size", size, "--format", "json"], accept=True, strict_json=True)


def sweep_sets_the_grid_replaces() -> Iterator[Case]:
    """Round 36 (stop 54). ``sweep --vary P=... --set P=...``: the ``--set`` value shapes only the base scenario (which
    must validate on its own: scripts use it so) and every grid point runs the ``--vary`` value, yet no row said so
    (round 35's lead: accepted and read by nothing, unlisted). Every row lists it in ``ignored_fields`` now, as does a
    ``--set`` inside a varied section; a ``--set`` above a varied field still shapes the rest and is not listed. A
    sweep's table listed no ignored field at all (only JSON and CSV rows held them): it prints them under the table."""
    kind = "sweep: a --set the grid replaces, listed (round 36)"
    files = {"s.yaml": SMALL.encode()}
    sweep = ["sweep", "{tmp}/s.yaml", "--format", "json"]
    yield Case(kind, [*sweep, "--set", "training.global_batch=16", "--vary", "training.global_batch=8,32"], files,
               listed="training.global_batch")  # fmt: skip
    section = "training={global_batch: 8, micro_batch: 2}"
    yield Case(kind, [*sweep, "--set", "training.micro_batch=1", "--vary", section], files,
               listed="training.micro_batch")  # fmt: skip
    yield Case(kind, [*sweep, "--engine", "sim", "--set", "cluster.nodes=2", "--vary", "cluster.nodes=1,2"], files,
               listed="cluster.nodes")  # fmt: skip
    table = ["sweep", "{tmp}/s.yaml", "--set", "training.global_batch=16", "--vary", "training.global_batch=8,32"]
    yield Case(kind, table, files, accept=True, says="ignored: training.global_batch: set by --set")
    yield Case(kind, [*sweep, "--set", "model=gpt2-small", "--vary", "model.layers=2,4"], files, accept=True,
               strict_json=True)  # fmt: skip


def outputs_read_only_and_validate_cases_past_the_host() -> Iterator[Case]:
    """Round 36 (stop 54). An output path that is a read-only file (mode 444) was replaced whole, its mode with it:
    the atomic rename needs only the folder's permission (``sweep --out``, ``collective --plot``, ``plan --out``,
    ``run --trace``; ``python -m runtime --out`` appended to it): refused now, naming the option, the file left as it
    was. And ``dpsim validate --case cluster.nodes=100`` on the local testbed started 200 rank processes (``python -m
    runtime`` refused past 4 a CPU core; validate checked only ``--calibrate-ranks``): refused before anything is
    calibrated or measured."""
    kind = "read-only outputs, validate cases past the host (round 36)"
    files = {"s.yaml": SMALL.encode(), "ro.csv": b"<read-only file>", "ro.png": b"<read-only file>",
             "ro.json": b"<read-only file>"}  # fmt: skip
    for argv, names in (
        (["sweep", "{tmp}/s.yaml", "--vary", "training.micro_batch=1,2", "--out", "{tmp}/ro.csv"], "--out"),
        (["collective", "--sizes", "8B..1KiB", "--plot", "{tmp}/ro.png"], "--plot"),
        (["run", "{tmp}/s.yaml", "--engine", "sim", "--trace", "{tmp}/ro.json"], "--trace"),
        (["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8", "--no-progress", "--out",
          "{tmp}/ro.csv"], "--out"),
    ):  # fmt: skip
        yield Case(kind, argv, files, expect_error=True, names=f"{names}: cannot write")
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # validate needs the runtime (dpsim[runtime])
        return
    # python -m runtime appends its record to --out: a read-only file was appended to (as root) after the run
    yield Case(kind, [str(CPU_SCENARIO), "--steps", "1", "--warmup-steps", "0", "--out", "{tmp}/ro.json"], files,
               expect_error=True, names="--out: cannot write", program="runtime")  # fmt: skip
    validate = ["validate", str(CPU_SCENARIO), "--out-dir", "{tmp}/v"]
    for extra in (["--case", "cluster.nodes=100", "--profile", str(_FRESH_PROFILE)], ["--vary", "cluster.nodes=1,64"]):
        yield Case(kind, [*validate, *extra], expect_error=True, names="cluster: nodes=", outputs=("{tmp}/v",))


def options_read_by_nothing_and_work_summed() -> Iterator[Case]:
    """Round 36 (stop 54). ``calibrate --testbed emulated --link-class intra --rates R``: the rates shape the links
    between the emulated nodes, and the intra class runs on one node (its ranks over loopback), so they were read by
    nothing but the profile's ``meta`` (as ``--rates`` on the local testbed was, refused since round 28): refused now
    before anything is measured, naming ``--rates``."""
    kind = "options read by nothing, work summed (round 36)"
    files = {"s.yaml": SMALL.encode()}
    for classes in (["--link-class", "intra"], ["--link-class=intra"]):
        yield Case(kind, ["calibrate", "{tmp}/s.yaml", "--out", "{tmp}/p.yaml", "--testbed", "emulated", *classes,
                          "--rates", "1 Gbit/s"], files, expect_error=True, names="--rates",
                   outputs=("{tmp}/p.yaml",))  # fmt: skip


def profile_parts_read_by_nothing_and_work_in_all() -> Iterator[Case]:
    """Round 37 (stop 55). A profile's ``compute.step_overhead`` is priced only where it was measured, DDP's
    synchronising micro-batch without model parallelism: under ZeRO/FSDP or at one rank the step was the same to the
    bit and nothing said so (stop 54's lead): listed now in both engines' ``extra.ignored_fields`` as
    ``calibration.profile.compute.step_overhead``, as a scenario field read by nothing is, and not listed where priced.
    ``plan --simulate`` (round 36: its simulations summed, covered by test_plan only) refused past the guard naming the
    option, in 2 s: three pipelines of 250,000 micro-batches each. And ``validate --repeats 1000 --steps 100000``
    (10^8 steps) and 1,000 repeats of two cases were accepted, each option bounded alone: refused before anything is
    made, naming the option."""
    kind = "profile parts read by nothing, work in all (round 37)"
    files = {"s.yaml": _FRESH_SCENARIO.encode(), "p.yaml": _fresh_profile_edit(_at("compute.step_overhead", "1 ms"))}
    run = ["run", "{tmp}/s.yaml", "--set", "calibration.profile={tmp}/p.yaml", "--format", "json"]
    one_rank = ["--set", "cluster.nodes=1", "--set", "cluster.workers_per_node=1", "--set", "training.global_batch=16"]
    for engine in ("analytic", "sim"):
        for extra in (["--set", "training.zero_stage=3"], ["--set", "training.zero_stage=2"], one_rank):
            yield Case(kind, [*run, "--engine", engine, *extra], files,
                       listed="calibration.profile.compute.step_overhead")  # fmt: skip
        yield Case(kind, [*run, "--engine", engine], files, accept=True, strict_json=True)  # priced: not listed
    yield Case(kind, ["plan", "--model", "gpt2-small", "--tokens", "1T", "--min-devices", "64", "--max-devices", "64",
                      "--tp", "1", "--pp", "4", "--zero", "0", "--micro-batch", "1", "--global-batch", "4000000",
                      "--simulate", "3", "--top", "3", "--no-progress", "--out", "{tmp}/plan.csv"],
               expect_error=True, names="--simulate", outputs=("{tmp}/plan.csv",))  # fmt: skip
    import importlib.util

    if importlib.util.find_spec("torch") is None:  # validate needs the runtime (dpsim[runtime])
        return
    validate = ["validate", str(CPU_SCENARIO), "--out-dir", "{tmp}/v"]
    grid = "training.micro_batch=" + ",".join(map(str, range(1, 1002)))  # 1,001 cases run once each
    for extra, names in ((["--repeats", "1000", "--steps", "100000"], "--steps"),
                         (["--steps", "100000", "--warmup-steps", "100000", "--repeats", "2"], "--steps"),
                         (["--repeats", "1000", "--vary", "cluster.nodes=1,2"], "--repeats"),
                         (["--repeats", "501", "--case", "cluster.nodes=1", "--case", "cluster.nodes=2"],
                          "--repeats"),
                         (["--vary", grid], "--vary")):  # fmt: skip
        yield Case(kind, [*validate, *extra], expect_error=True, names=names, outputs=("{tmp}/v",))


def _has_cuda() -> bool:
    """Whether torch sees a CUDA device (some refusals are a CPU machine's)."""
    import torch

    return bool(torch.cuda.is_available())


GENERATORS: tuple[Callable[[], Iterator[Case]], ...] = (
    encodings, nesting, huge_numbers, infinities, quantities, tiny_buckets, names, tags, aliases, special_files,
    work_bombs, plans, duplicates, yaml11, bools, semantics, set_syntax, usage, mutations, profiles, shared_fabric,
    sweep_options, collectives, dumps_and_varies, nccl_tests_outputs, output_collisions, runtime_options, json_inputs,
    size_lists, nccl_rows, unit_typos, keys_and_documents, priced_in_all, symlinked_paths, line_breaks_and_marks,
    merge_keys, every_numeric_field, torchrun_environment, profiles_everywhere, collective_edges, set_paths,
    unknown_nested, nccl_lists, framework_switches, deepspeed_buckets, host_models, collective_ranges,
    plan_lists, report_shapes, loader_work, empty_and_repeated_options, option_numbers, options_twice,
    runtime_refusals, report_numbers, profile_paths, json_extremes, set_list_indices, outputs_onto_inputs,
    empty_profiles_and_tables_twice, whole_bytes, outputs_named_as_folders,
    report_extremes_and_repeats, preset_names, long_names, output_streams, full_disk, nccl_rows_cut_short,
    one_device, trace_fields, plotting_environment, values_read_as_others, texts_read_back_as_numbers,
    blank_names_and_composed_variability, joint_inconsistencies, ring_of_nodes, terminal_environment,
    files_of_another_kind, stdin_everywhere, sweep_reruns, failures_faster_than_a_step, signals_mid_command,
    torchrun_rendezvous, report_stdin, option_ranges, dask_settings, catalog_zeros, fields_without_effect,
    nccl_settings_without_nccl, nccl_settings_shadowed, misspelled_required_keys, top_level_fields, large_documents,
    plan_cost_guard, runtime_variables, overlapping_paths, plan_devices_without_curves,
    nvls_where_it_cannot_run, options_needing_another, zero_with_pipeline_stages, named_algorithm_under_zero,
    nccl_release_without_nccl, release_spellings, plan_extremes, runtime_outputs_at_one_path,
    transformer_fields_on_other_models, plan_simulate_past_top, nccl_settings_beside_a_fitted_profile,
    nvls_chunk_variables,
    null_under_presets, blank_paths, gloo_ring_under_zero, negative_zero, profile_shapes, profile_terms_past_range,
    profiles_as_json, schema_fields_beyond_the_lists, nccl_protocol_on_gloo, nccl_buffsize_edges, loss_kernel_values,
    sweep_nested_values, profile_json_fields, sweep_columns_of_two_types, profile_algorithm_keys,
    settings_read_by_nothing_listed, sets_replacing_sets, unread_where_no_group_holds_a_node, report_rows_cut_short,
    bare_numbers_at_the_physical_ends, runtime_only_and_priced_fields, bf16_optimizer_where_deepspeed_does_not_run_it,
    plan_sequence_parallel_kind, default_links_in_sweeps_and_slowdown_ends, one_step_on_a_shared_fabric,
    bf16_optimizer_state_beside_sgd, degraded_nics_the_runtime_cannot_run, enum_values_with_a_suggestion,
    pipeline_schedules_at_their_ends, device_fields_and_partitions_read_by_nothing,
    # round 22 (hostile2): what runs or reads measurements
    settings_the_runtime_does_not_run, validate_options_before_its_folder, runtime_outputs_in_its_run_folder,
    signals_mid_runtime_run, host_sharing_fields,
    # round 23 (hostile): shapes, ends of the double, joint refusals
    every_field_in_another_shape, extreme_doubles_priced, joint_refusals_name_the_field_set,
    # round 23 (hostile2): what the runtime builds, profiles' links, the GEMM sweep
    what_the_runtime_neither_draws_nor_builds, profile_links_without_a_time_per_byte, compute_calibration_refusals,
    cuda_ranks_without_a_gpu,
    # round 24 (hostile): the command line's overrides, named
    overrides_blamed_on_a_valid_file, settings_left_nothing_to_act_on,
    # round 25 (hostile): the benchmark scripts
    benchmark_script_options,
    # round 26 (hostile): the root scripts' options, before the testbed
    root_scripts_before_the_testbed, shared_fabric_csv_of_jobs_with_other_columns, flops_per_sample_beside_operations,
    nic_counts_that_do_not_divide_the_node, nccl_tests_into_a_profile_of_another_backend,
    # round 27 (hostile): the measuring scripts' numbers, option prefixes; round 28: stored records, pooled calibrations
    measuring_scripts_numbers_and_prefixes, mfu_past_the_peak, stored_record_fields, options_read_only_with_another,
    pooled_calibrations, sweep_time_limits,
    # round 29 (hostile): a normal jitter past its floor, MFU noted in the table, pools of other k, records' texts
    normal_jitter_past_its_floor, mfu_past_the_peak_in_the_table, pooled_calibrations_of_other_k, stored_record_texts,
    profile_meta_read_back,
    # round 30 (hostile): validate_emulated's summary.json, optimizer_share's stored optimizer times
    validation_summary_read_back, stored_optimizer_times, quiet_steps_of_zero, cpu_vendor_read_by_nothing,
    # round 31 (hostile): fields read by nothing beside a profile's fitted links
    cpu_vendor_beside_fitted_links, lognormal_jitter_of_many_shapes,
    # round 31 (hostile): the scripts new this stop, reading stored runs and their own files back
    stored_compute_times, identity_files_read_back,
    # round 32 (hostile): plan_identity's files read back; the jitter's tables off a grid of their one parameter
    plan_identity_files_read_back, jitter_of_many_counts, jitter_over_many_micro_batches,
    # round 33 (hostile): calibrate --refresh's recorded plan (new this stop)
    refresh_plans_doctored,
    # round 34 (stop 52)
    jitter_over_a_hundred_million_micro_batches, profile_meta_nulls_and_refreshes, stored_bucket_lists,
    refresh_bases_not_files, sweeps_of_many_jitter_prices, distinct_stragglers_under_a_speed_spread,
    # round 34 (stop 52): FSDP's float8 all-gather, a new field
    float8_all_gather_settings,
    # round 35 (stop 53): a refresh's recorded plan bounded, the plan's grid counted, YAML directives and units
    refresh_plans_past_their_work, plan_search_spaces_past_memory, yaml_version_directives,
    profile_sections_unknown_keys, runtime_fp8_without_its_option,
    # stop 54 (calib): a new profile field
    profile_step_overhead_values,
    # stop 54 (drift): a new profile field
    profile_reference_pace_values,
    # round 36 (stop 54): units past the range's ends, a sweep's replaced --set listed, read-only outputs, validate's
    # cases past the host's processes
    units_past_the_range_ends, sweep_sets_the_grid_replaces, outputs_read_only_and_validate_cases_past_the_host,
    options_read_by_nothing_and_work_summed,
    # round 37 (stop 55): a profile's parts read by nothing listed, plan --simulate and validate's work in all
    profile_parts_read_by_nothing_and_work_in_all,
)  # fmt: skip

SUBPROCESS_SAMPLE = ("special files", "ANSI/NUL in names", "non-UTF-8 encoding", "alias bombs")
"""Classes of which one case also runs in a fresh interpreter (real stdin/stdout encodings)."""


def all_cases() -> list[Case]:
    cases = [case for generate in GENERATORS for case in generate()]
    seen: set[str] = set()
    for case in cases:
        if case.kind in SUBPROCESS_SAMPLE and case.kind not in seen and case.stdin is None:
            seen.add(case.kind)
            cases.append(
                Case(case.kind, case.argv, case.files, case.stdin, subprocess=True, expect_error=case.expect_error)
            )
    cases.append(Case("special files", ["run", "-"], stdin=SMALL.encode(), subprocess=True))
    cases.append(
        Case("ANSI/NUL in names", ["run", "--set", 'name="\\ud800\\e[31m"'], subprocess=True, expect_error=True)
    )
    return cases


# --- running -------------------------------------------------------------------------------------


def _materialise(case: Case, tmp: Path) -> list[str]:
    for name in [*case.links, *case.outputs]:
        path = Path(name.replace("{tmp}", str(tmp))) if "{tmp}" in name else tmp / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
    for name, target in case.links.items():
        os.symlink(target.replace("{tmp}", str(tmp)), tmp / name)
    for name, data in case.files.items():
        path = tmp / name
        if data == b"<dir>":  # a folder where a file is expected: name/x marks it
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        if path.exists() or path.is_symlink():
            if path.is_dir():
                continue
            if not path.is_symlink():  # a link left by an earlier case (a loop: l.yaml <-> m.yaml) is unlinked as is
                path.chmod(0o600)
            path.unlink()
        if data == b"<fifo>":
            path.parent.mkdir(parents=True, exist_ok=True)  # a FIFO inside a folder (df/x.yaml)
            os.mkfifo(path)
        elif data == b"<50MB>":
            with open(path, "wb") as out:
                line = b"# padding padding padding padding padding padding padding padding padding\n"
                out.write(SMALL.encode() + line * (50_000_000 // len(line)))
        elif data == b"<unreadable>":
            path.write_bytes(SMALL.encode())
            path.chmod(0)
        elif data == b"<read-only file>":  # a file without write permission (round 36)
            path.write_bytes(b"kept\n")
            path.chmod(0o444)
        elif data == b"<read-only>":  # a folder without write permission: name/x marks it
            path.parent.mkdir(parents=True, exist_ok=True)
            path.parent.chmod(0o500)
            continue
        else:
            path.parent.mkdir(parents=True, exist_ok=True)  # a file inside a folder (v/summary.json)
            path.write_bytes(data)
    return [a.replace("{tmp}", str(tmp)) for a in case.argv]


class _Hang(BaseException):
    """A case past its time (round 28: an ``Exception``, which a script's own ``except Exception`` took as a crash
    and went on)."""


def _judge(code: int | None, out: str, err: str, expect_error: bool) -> str:
    if "Traceback" in err or "Traceback" in out:
        return "traceback"
    text = out + err
    if any(not (ch.isprintable() or ch in "\n\t") for ch in text):
        return "unprintable"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "unprintable"
    if code == 0:
        return "wrongly accepted" if expect_error else "clean"
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) <= 500:
        return "clean"
    if code == 3 and "--fail-on-oom" in "".join(out) + err:  # pragma: no cover - judged by the caller's argv
        return "clean"
    return "bad-exit"


_BENCHMARKS: dict[str, Any] = {}


def _benchmark(stem: str) -> Any:
    """``benchmarks/<stem>.py`` loaded once as a module (as ``tests/_bench.py`` loads it)."""
    if stem not in _BENCHMARKS:
        import importlib.util

        spec = importlib.util.spec_from_file_location(stem, ROOT / "benchmarks" / f"{stem}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[stem] = module
        spec.loader.exec_module(module)
        _BENCHMARKS[stem] = module
    return _BENCHMARKS[stem]


def run_in_process(
    argv: list[str], stdin: bytes | None = None, timeout_s: int = TIMEOUT_S, program: str = "dpsim"
) -> tuple[int | None, str, str]:
    """``dpsim ARGV`` through ``dpsim.cli.main`` (or ``python -m runtime ARGV`` through ``runtime.train.main``)
    with captured output and a SIGALRM deadline."""
    entry: Callable[[list[str]], object]
    if program == "runtime":
        from runtime.train import main as runtime_main

        def entry(args: list[str]) -> object:
            raise SystemExit(runtime_main(args))
    elif program == "runtime.bench":
        from runtime.bench import main as bench_main

        def entry(args: list[str]) -> object:
            raise SystemExit(bench_main(args))
    elif program.startswith("benchmarks/"):
        script = _benchmark(program.removeprefix("benchmarks/"))

        def entry(args: list[str]) -> object:
            saved, sys.argv = sys.argv, [f"{script.__name__}.py", *args]
            try:
                raise SystemExit(script.main())
            finally:
                sys.argv = saved
    else:
        from dpsim.cli import main as entry

    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")

    def alarm(signum: int, frame: object) -> None:
        raise _Hang

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(timeout_s)
    code: int | None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("always")  # every warning shown in every case (else once a process): 'noisy'
            try:
                entry(argv)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except _Hang:
        code = None
        err.write("\n<hang>")
    except BaseException:
        import traceback

        code = 1
        err.write("Traceback (in-process)\n" + traceback.format_exc())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        sys.stdin = saved_stdin
    return code, out.getvalue(), err.getvalue()


def _in_session(session: int) -> list[int]:
    """The processes still in ``session`` (a signalled command's launcher and the ranks it started)."""
    left = []
    for name in os.listdir("/proc"):
        with contextlib.suppress(OSError, ValueError):
            if name.isdigit() and os.getsid(int(name)) == session:
                left.append(int(name))
    return left


def _signalled(
    argv: list[str], env: dict[str, str], number: int, when: Path, timeout_s: int, program: str = "dpsim"
) -> tuple[int | None, str, str]:
    """``python -m dpsim.cli ARGV`` (or ``python -m runtime ARGV``) in a session of its own, sent signal ``number``
    (to its process group) once ``when`` (a glob pattern may name a temporary folder) has a second line, or after
    ``timeout_s`` / 2 if it never does (an earlier case's ``when`` removed). The child starts with the signal at its
    default disposition, as from a terminal: run under ``nohup``, the corpus would otherwise hand it SIGHUP ignored,
    which dpsim rightly keeps ignoring. A process of the session still there once the command has ended (a rank its
    launcher left running) is killed and reported (``<left N processes>``: a bad exit)."""
    import glob

    if "*" not in str(when):
        when.unlink(missing_ok=True)
    module = "runtime" if program == "runtime" else "dpsim.cli"
    proc = subprocess.Popen([sys.executable, "-m", module, *argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(number, signal.SIG_DFL))  # fmt: skip
    deadline = time.monotonic() + timeout_s / 2
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            if any(Path(p).read_bytes().count(b"\n") >= 2 for p in glob.glob(str(when))):
                break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, number)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, "", "<hang>"
    left = _in_session(proc.pid)
    for _ in range(40):  # a rank may take a moment to die with its launcher (PR_SET_PDEATHSIG)
        if not left:
            break
        time.sleep(0.05)
        left = _in_session(proc.pid)
    for pid in left:  # started by this case (its session): never any other process
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    text = err.decode("utf-8", "replace") + (f"\n<left {len(left)} processes>" if left else "")
    return proc.returncode, out.decode("utf-8", "replace"), text


def run_subprocess(
    argv: list[str],
    stdin: bytes | None,
    timeout_s: int = TIMEOUT_S,
    stdout: str = "",
    file_size: int = 0,
    signal_number: int = 0,
    signal_when: Path | None = None,
    program: str = "dpsim",
) -> tuple[int | None, str, str]:
    """``python -m dpsim.cli ARGV``; ``stdout``, ``file_size`` and the signal as :class:`Case` describes them
    (with a signal, ``program`` ``runtime`` runs ``python -m runtime ARGV``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if signal_number:
        assert signal_when is not None
        return _signalled(argv, env, signal_number, signal_when, timeout_s, program)
    assert program == "dpsim", "a runtime case runs in a fresh interpreter only with a signal"
    target: int | None = subprocess.PIPE
    if stdout == "closed-pipe":
        reader, target = os.pipe()
        os.close(reader)
    elif stdout == "full":
        target = os.open("/dev/full", os.O_WRONLY)

    def limit() -> None:
        if file_size:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    try:
        proc = subprocess.run(
            [sys.executable, "-m", "dpsim.cli", *argv],
            input=stdin if stdin is not None else b"",
            stdout=target,
            stderr=subprocess.PIPE,
            timeout=timeout_s,
            env=env,
            cwd=ROOT,
            check=False,
            preexec_fn=limit if file_size else None,  # only sets a limit
        )
    except subprocess.TimeoutExpired:
        return None, "", "<hang>"
    finally:
        if isinstance(target, int) and target != subprocess.PIPE:
            os.close(target)
    if proc.stdout is None:
        proc.stdout = b""
    try:
        return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    except UnicodeDecodeError:
        return proc.returncode, "", "\x00 not UTF-8 output"


PROGRESS = re.compile(
    r"(analytic|sim) sweep: [0-9,]+/[0-9,]+ points \([0-9]+ %\), [0-9]+ s(, ~[0-9,]+ s left)?$"
    r"|validate: [^:]+ \([0-9]+ ranks\), run [0-9]+ of [0-9]+$"
)
"""A line of a long sweep's progress on stderr (every 10 s, :class:`dpsim.execution.ProgressReporter`; its last line,
at 100 %, without the time left), or of validate's (each run as it starts): a status, not an error. The corpus's
judge and ``tests/test_cli.py`` both drop such lines before counting error lines."""

_NON_FINITE = re.compile(r"(?<![A-Za-z_])(-?inf|nan|NaN|Infinity)(?![A-Za-z_])")
_NEGATIVE_ZERO = re.compile(r"(?<![\w.])-0(?:\.0*)?(?:[eE][-+]?[0-9]+)?(?![\w.])")
"""A printed zero with a minus sign (``-0``, ``-0.0``, ``-0.00e+00``), not ``-0.5`` or ``x-0`` (IEEE's -0.0)."""


def _lists(text: str, field: str) -> bool:
    """Whether every record of the JSON ``text`` (one, or a list: a sweep's rows, a shared fabric's jobs, a
    collective's sizes) names ``field`` among the fields it ignored (``extra.ignored_fields``, a sweep row's ``field:
    why; ...`` text, a collective row's ``ignored_fields`` mapping)."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return False
    records = data if isinstance(data, list) else [data]
    for record in records:
        ignored = record.get("extra", {}).get("ignored_fields") if isinstance(record, dict) else None
        row = record.get("ignored_fields") if isinstance(record, dict) else None
        if (
            not (isinstance(ignored, dict) and field in ignored)
            and not (isinstance(row, str) and any(part.split(": ")[0] == field for part in row.split("; ")))
            and not (isinstance(row, dict) and field in row)
        ):  # dpsim collective's JSON rows
            return False
    return bool(records)


def _rectangular_csv(text: str) -> bool:
    """Whether ``text`` is a CSV header and at least one row, every row with as many cells as the header."""
    import csv

    header, *rows = list(csv.reader(io.StringIO(text))) or [[]]
    return bool(header and rows) and all(len(row) == len(header) for row in rows)


def _strict_json(text: str) -> bool:
    """Whether ``text`` is one JSON document without ``NaN``/``Infinity`` (Python's json writes them; JSON has none)."""
    import json

    def refuse(name: str) -> None:
        raise ValueError(name)

    try:
        json.loads(text, parse_constant=refuse)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def case_environment(case: Case, tmp: Path) -> Iterator[None]:
    """The case's environment variables set (``{tmp}`` = the scratch folder) while it runs, restored after."""
    saved = {name: os.environ.get(name) for name in case.env}
    os.environ.update({name: value.replace("{tmp}", str(tmp)) for name, value in case.env.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_case(case: Case, tmp: Path) -> Outcome:
    argv = _materialise(case, tmp)
    start = time.perf_counter()
    with case_environment(case, tmp):
        if case.subprocess:
            when = Path(case.signal_when.replace("{tmp}", str(tmp))) if case.signal else None
            code, out, err = run_subprocess(argv, case.stdin, stdout=case.stdout, file_size=case.file_size,
                                            signal_number=case.signal, signal_when=when,
                                            program=case.program, timeout_s=case.timeout_s)  # fmt: skip
        else:
            code, out, err = run_in_process(argv, case.stdin, timeout_s=case.timeout_s, program=case.program)
    if code is not None and not case.signal:
        # a sweep's progress lines (one every interval on a non-terminal stderr) come with a slow host, not the input:
        # judged without them, so that a sweep that takes past the interval under load is judged as when fast
        err = "\n".join(line for line in err.splitlines() if not PROGRESS.match(line))
    verdict = "hang" if code is None else _judge(code, out, err, case.expect_error)
    if case.signal and verdict == "bad-exit" and code == 128 + case.signal:
        # stopped by the signal: one error line, as a refused input (after the lines of progress a sweep prints)
        verdict = _judge(2, out, "\n".join(line for line in err.splitlines() if not PROGRESS.match(line)), True)
    elif case.signal and verdict == "clean":
        verdict = "bad-exit"  # finished or refused before the signal: the case did not test it
    if code == 3 and "--fail-on-oom" in argv and err.startswith("oom: "):
        verdict = "clean"
    if verdict == "clean" and code == 2 and case.names and case.names not in err:
        verdict = "vague"
    if verdict == "clean" and case.accept and code != 0:
        verdict = "refused"  # a valid input refused (a 30-digit CSV cell the same JSON number passes)
    if verdict == "clean" and code == 0 and err.strip():
        verdict = "noisy"  # a clean run prints its result and nothing on stderr (no stray warning)
    if verdict == "clean" and code == 0 and case.finite and _NON_FINITE.search(out):
        verdict = "non-finite"
    if verdict == "clean" and case.strict_json and (code != 0 or not _strict_json(out)):
        verdict = "invalid JSON"  # a valid input whose JSON is expected: exit 0 and one strict JSON document
    if verdict == "clean" and case.unsigned and (code != 0 or _NEGATIVE_ZERO.search(out)):
        verdict = "negative zero" if code == 0 else "refused"
    if verdict == "clean" and case.rectangular and (code != 0 or not _rectangular_csv(out)):
        verdict = "ragged CSV" if code == 0 else "refused"
    if verdict == "clean" and case.says and (code != 0 or case.says not in out):
        verdict = "unexplained" if code == 0 else "refused"
    if verdict == "clean" and case.listed and (code != 0 or not _lists(out, case.listed)):
        verdict = "unlisted" if code == 0 else "refused"
    outputs = [Path(o.replace("{tmp}", str(tmp))) for o in case.outputs if "*" not in o]
    outputs += [p for o in case.outputs if "*" in o for p in tmp.glob(o.replace("{tmp}/", ""))]  # temporary files
    if verdict == "clean" and code != 0 and any(o.exists() or o.is_symlink() for o in outputs):
        verdict = "written"
    return Outcome(case, verdict, code, err.strip()[-300:], time.perf_counter() - start)


def table(outcomes: list[Outcome]) -> str:
    """One row per class: cases, clean, and each kind of failure."""
    kinds = list(dict.fromkeys(o.case.kind for o in outcomes))
    verdicts = ["traceback", "hang", "bad-exit", "unprintable", "wrongly accepted", "vague", "written", "non-finite",
                "invalid JSON", "noisy", "refused", "negative zero", "unlisted", "ragged CSV",
                "unexplained"]  # fmt: skip
    shown = ("traceback", "hang", "bad-exit", "unprint.", "accepted", "vague", "written", "inf/nan", "bad JSON",
             "noisy", "refused", "-0", "unlisted", "ragged", "unexpl.")  # fmt: skip
    header = f"{'class':<40} {'cases':>5} {'clean':>5} {'exit 0':>6} {'exit 2':>6} "
    header += " ".join(f"{v:>9}" for v in shown)
    rows = [header, "-" * len(header)]
    for kind in [*kinds, "all"]:
        part = [o for o in outcomes if kind in ("all", o.case.kind)]
        counts = Counter(o.verdict for o in part)
        exits = Counter(o.code for o in part)
        rows.append(
            f"{kind:<40} {len(part):>5} {counts['clean']:>5} {exits[0]:>6} {exits[2]:>6} "
            + " ".join(f"{counts[v]:>9}" for v in verdicts)
        )
    rows.append(f"\n{clean_share(sum(o.verdict == 'clean' for o in outcomes), len(outcomes))}")
    return "\n".join(rows)


def clean_share(clean: int, total: int) -> str:
    """The summary line: the share rounded DOWN to 0.1 %, so one failure in 4,971 reads 99.9 %, never 100.0 %."""
    share = f"{(1000 * clean // max(1, total)) / 10:.1f} %"  # integer floor: 100.0 only when every case is clean
    failed = f" ({total - clean} not)" if clean < total else ""
    return f"{share} of {total} hostile inputs end cleanly{failed}"


def case_keys(cases: Sequence[Case]) -> list[str]:
    """Each case's key in a parts file: its class, its place among the cases of its class and a digest of what it
    runs (a class whose cases changed since the file was written runs them again)."""
    import hashlib

    seen: Counter[str] = Counter()
    keys = []
    for case in cases:
        what = json.dumps([case.argv, case.program, case.subprocess, sorted(case.files), case.stdin is not None])
        keys.append(f"{case.kind}\x1f{seen[case.kind]}\x1f{hashlib.sha1(what.encode()).hexdigest()[:12]}")
        seen[case.kind] += 1
    return keys


def read_parts(path: Path, cases: Sequence[Case]) -> dict[str, Outcome]:
    """The outcomes recorded in the parts file ``path`` (one JSON line a case: ``key``, ``verdict``, ``code``,
    ``stderr``, ``seconds``) of the cases among ``cases``; a line cut short by a stop (the last) is skipped."""
    by_key = dict(zip(case_keys(cases), cases, strict=True))
    done: dict[str, Outcome] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            case = by_key.get(row["key"])
            if case is not None:
                done[row["key"]] = Outcome(case, str(row["verdict"]), row["code"], str(row["stderr"]),
                                           float(row["seconds"]))  # fmt: skip
        except (ValueError, KeyError, TypeError):
            continue
    return done


def deadline(text: str, now: float | None = None) -> float:
    """The epoch second of the next ``HH:MM`` on this machine's clock (later today, else tomorrow)."""
    import datetime

    match = re.fullmatch(r"([01][0-9]|2[0-3]):([0-5][0-9])", text)
    if match is None:
        raise ValueError(f"--until {text!r}: expected HH:MM (00:00-23:59)")
    start = datetime.datetime.fromtimestamp(time.time() if now is None else now)
    when = start.replace(hour=int(match[1]), minute=int(match[2]), second=0, microsecond=0)
    if when <= start:
        when += datetime.timedelta(days=1)
    return when.timestamp()


def run_cases(
    cases: Sequence[Case], tmp: Path, parts: Path | None = None, until: float | None = None, verbose: bool = False
) -> tuple[list[Outcome], int]:
    """Run ``cases`` in order, each judged by :func:`run_case`. With ``parts``, the cases whose outcome the file holds
    are not run again and each new outcome is appended to it as it ends (one JSON line, flushed); with ``until``
    (epoch seconds) no case starts past it. Returns every outcome known, in the cases' order, and how many cases
    are left."""
    keys = case_keys(cases)
    known = read_parts(parts, cases) if parts is not None else {}
    sink = parts.open("a", encoding="utf-8") if parts is not None else None
    if parts is not None and sink is not None and parts.stat().st_size and not parts.read_bytes().endswith(b"\n"):
        sink.write("\n")  # a line cut short by a stop ends here: the next outcome starts a line of its own
    try:
        for key, case in zip(keys, cases, strict=True):
            if key in known:
                continue
            if until is not None and time.time() >= until:
                break
            if verbose:
                print(f"... {case.kind}: {[a[:60] for a in case.argv]}", file=sys.stderr, flush=True)
            outcome = run_case(case, tmp)
            known[key] = outcome
            if sink is not None:
                row = {"key": key, "kind": case.kind, "verdict": outcome.verdict, "code": outcome.code,
                       "stderr": outcome.stderr, "seconds": round(outcome.seconds, 3)}  # fmt: skip
                sink.write(json.dumps(row) + "\n")
                sink.flush()
            if outcome.verdict != "clean":
                shown = [a[:80] for a in case.argv]
                print(f"{outcome.verdict}: {case.kind}: {shown}: {outcome.stderr[-200:]!r}", file=sys.stderr)
    finally:
        if sink is not None:
            sink.close()
    outcomes = [known[key] for key in keys if key in known]
    return outcomes, len(cases) - len(outcomes)


def main() -> None:
    import argparse
    import resource
    import tempfile

    parser = argparse.ArgumentParser(description="Run the hostile inputs and print the table of classes.")
    parser.add_argument("-v", action="store_true", help="print each case before it runs")
    parser.add_argument("-k", metavar="TEXT", help="only the classes whose name contains TEXT")
    parser.add_argument("--list", action="store_true", help="list the classes and their case counts; run nothing")
    parser.add_argument(
        "--parts",
        metavar="FILE",
        type=Path,
        help="resumable: skip the cases FILE records, append each new outcome to it (JSON lines)",
    )
    parser.add_argument("--until", metavar="HH:MM", help="start no case past HH:MM on this machine's clock")
    parser.add_argument("--table", action="store_true", help="print the table from --parts FILE; run nothing")
    args = parser.parse_args()  # fmt: skip
    try:
        until = deadline(args.until) if args.until is not None else None
    except ValueError as exc:
        parser.exit(2, f"error: {exc}\n")
    if args.table and args.parts is None:
        parser.exit(2, "error: --table: expected --parts FILE (the outcomes to tabulate)\n")
    cases = [case for case in all_cases() if args.k is None or args.k in case.kind]
    if args.list:
        for kind, count in Counter(case.kind for case in cases).items():
            print(f"{count:>5}  {kind}")
        print(f"{len(cases):>5}  cases in {len({case.kind for case in cases})} classes")
        return
    if args.table:
        known = read_parts(args.parts, cases)
        outcomes = [known[key] for key in case_keys(cases) if key in known]
        print(table(outcomes))
        print(f"{len(outcomes)} of {len(cases)} cases recorded in {args.parts}; {len(cases) - len(outcomes)} left")
        return
    limit = 4 << 30  # a case that allocates without bound fails here instead of exhausting the machine
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    with tempfile.TemporaryDirectory(prefix="dpsim-hostile-") as folder:
        start = time.perf_counter()
        outcomes, left = run_cases(cases, Path(folder), args.parts, until, args.v)
        print(table(outcomes))
        if outcomes:
            slowest = max(outcomes, key=lambda o: o.seconds)
            print(
                f"total {time.perf_counter() - start:.1f} s; slowest case {slowest.seconds:.2f} s ({slowest.case.kind})"
            )
        if left:
            print(f"{left} of {len(cases)} cases left (past --until): run the same command again to go on")


if __name__ == "__main__":
    main()
