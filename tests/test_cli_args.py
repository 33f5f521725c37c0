"""One option parser for the scripts beside dpsim's own commands (:mod:`runtime.cli_args`): ``python -m runtime``,
``python -m runtime.bench``, ``runtime.examples.worked_example`` and ``benchmarks/*`` (``benchmarks.script_cli``)
read whole numbers and numbers with the same patterns and end a usage error in one line, status 2. Until stop 45
``runtime.train`` and ``benchmarks.script_cli`` each held a copy (their number patterns differed in the exponent),
``runtime.bench`` a third pattern for ``--sizes``, and the worked example was plain argparse (two lines, and
``--max-iters 0`` an ``IndexError``)."""

from __future__ import annotations

import argparse

import pytest

from runtime.cli_args import CLI_SOURCE, Parser, finite, runtime_parser, whole_within


@pytest.mark.parametrize(
    ("text", "whole"),
    [("12", True), ("+5", True), ("-1", True), ("9" * 20, True), ("9" * 21, False), ("\uff11\uff12", False),
     ("1_000", False), ("1.0", False), (" 1", False), ("", False)],
)  # fmt: skip
def test_a_whole_number_is_ascii_digits(text: str, whole: bool) -> None:
    assert whole_within(text) is whole
    assert whole_within(text, 1, 12) is (whole and 1 <= int(text) <= 12)


@pytest.mark.parametrize(
    ("text", "value"),
    [("2.5", 2.5), (".5", 0.5), ("1e3", 1000.0), ("-1E-4", -1e-4), ("1e0001", 10.0), ("1e00001", None),
     ("1e400", None), ("nan", None), ("inf", None), ("\u0661", None), ("1_0", None), ("", None)],
)  # fmt: skip
def test_a_number_is_finite_ascii_digits(text: str, value: float | None) -> None:
    assert finite(text) == value


def test_the_scripts_and_the_runtime_share_one_parser() -> None:
    from benchmarks import script_cli
    from runtime import bench, cli_args, train

    assert train.runtime_parser is runtime_parser and bench.runtime_parser is runtime_parser
    assert bench.whole_within is whole_within and train.CLI_SOURCE == CLI_SOURCE
    # benchmarks.script_cli keeps the same patterns as text of its own (the independent harness may load neither
    # dpsim nor runtime: test below); they must not drift apart.
    assert script_cli.WHOLE.pattern == cli_args.WHOLE.pattern and script_cli.NUMBER.pattern == cli_args.NUMBER.pattern
    for text in ("12", "1_000", "9" * 21, "1e0001", "1e00001", "nan", "\u0661", "-1E-4", ""):
        assert script_cli.finite(text) == finite(text) and script_cli.whole_within(text) is whole_within(text)
    assert not script_cli.Parser(prog="p").allow_abbrev  # the scripts' takes full option names only (round 27)


def test_the_scripts_cli_loads_neither_dpsim_nor_runtime() -> None:
    """benchmarks/plain_ddp.py's ranks import benchmarks.script_cli and record that they imported neither dpsim nor
    runtime (``foreign_modules``, checked as root in tests/test_plain_ddp.py): this checks the same without root."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, benchmarks.script_cli, benchmarks.plain_ddp; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dpsim', 'runtime')))")  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(("parser", "prefix"), [(Parser(prog="p"), ""), (runtime_parser("p"), "<command line>: ")])
def test_a_usage_error_is_one_line_with_the_parser_s_prefix(
    parser: argparse.ArgumentParser, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--n", "x"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == f"error: {prefix}argument --n: invalid int value: 'x'\n"


def test_the_runtime_s_option_messages_are_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    from runtime.train import parse_args

    number = "expected a finite number in ASCII digits"
    for argv, says in ((["--steps", "\uff15"], "argument --steps: expected a whole number in ASCII digits, got '５'"),
                       (["--timeout", "nan"], f"argument --timeout: {number}, got 'nan'"),
                       (["--timeout", "1e00001"], f"argument --timeout: {number}, got '1e00001'")):  # fmt: skip
        with pytest.raises(SystemExit) as stop:
            parse_args(argv)
        assert stop.value.code == 2 and capsys.readouterr().err == f"error: <command line>: {says}\n"


def test_a_benchmark_rank_s_sizes_are_whole_bytes_up_to_15_digits() -> None:
    from runtime.bench import MAX_SIZE_BYTES, options_problem

    environ = dict.fromkeys(("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"), "1")

    def problem(sizes: str) -> str | None:
        args = argparse.Namespace(sizes=sizes, reps=5, warmup=2, per_node=1, max_reps=None, budget_s=0.0,
                                  backend="gloo")  # fmt: skip
        return options_problem(args, environ)

    assert MAX_SIZE_BYTES == 10**15 - 1
    for good in ("1", "8,1048576", "9" * 15, "+8"):
        assert problem(good) is None, good
    for bad in ("0", "1" + "0" * 15, "1,x", "8MiB", "\uff18", ""):
        assert problem(bad) == f"--sizes: expected comma-separated sizes in bytes >= 1, got {bad!r}"


@pytest.mark.parametrize(
    ("argv", "says"),
    [(["--max-iters", "0"], "argument --max-iters: expected a whole number from 1 to 10,000, got 0"),
     (["--max-iters", "10001"], "argument --max-iters: expected a whole number from 1 to 10,000, got 10001"),
     (["--max-iters", "x"], "argument --max-iters: expected a whole number in ASCII digits, got 'x'"),
     (["--max-iters", "1_0"], "argument --max-iters: expected a whole number in ASCII digits, got '1_0'"),
     (["--tol", "-1"], "argument --tol: expected a number >= 0, got -1.0"),
     (["--tol", "nan"], "argument --tol: expected a finite number in ASCII digits, got 'nan'"),
     (["--loss", "median"], "argument --loss: invalid choice: 'median' (choose from "),
     (["--no-such"], "unrecognized arguments: --no-such\n")],
)  # fmt: skip
def test_the_worked_example_refuses_a_bad_option_in_one_line_before_any_worker(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime.examples import worked_example

    monkeypatch.setattr(worked_example, "run", lambda *a: pytest.fail("a worker started"))
    with pytest.raises(SystemExit) as stop:
        worked_example.main(argv)
    assert stop.value.code == 2
    out, err = capsys.readouterr()
    assert not out and err.startswith(f"error: <command line>: {says}") and err.count("\n") == 1, err
