"""benchmarks/script_cli.py: the emulated-cluster scripts' one-line errors, root check and ``--reuse`` reading."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pytest
from _bench import load_benchmark

from benchmarks.script_cli import ScriptError, add_grid, grid, need_root, one_line_errors, one_of, read_json


def test_a_script_error_is_one_line_on_stderr_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    @one_line_errors
    def main() -> int:
        one_of("--algorithm", "rign", ("ring", "tree"))
        return 0

    assert main() == 2
    assert capsys.readouterr().err == "error: --algorithm: 'rign' is not one of ring, tree\n"
    assert one_line_errors(lambda: 7)() == 7  # a status main returns is kept


def test_a_damaged_or_missing_reuse_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "runs.json").write_text('[{"time_s": 1.5}]', encoding="utf-8")
    assert read_json(tmp_path / "runs.json") == [{"time_s": 1.5}]
    (tmp_path / "bad.json").write_text("[{", encoding="utf-8")
    # round 27: json.loads kept the last of two keys and read NaN / Infinity as numbers (printed as nan, status 0)
    (tmp_path / "twice.json").write_text('[{"cc": "bbr", "time_s": 1.0, "cc": "reno"}]', encoding="utf-8")
    (tmp_path / "nan.json").write_text('[{"time_s": NaN}]', encoding="utf-8")
    (tmp_path / "inf.json").write_text('[{"time_s": -Infinity}]', encoding="utf-8")
    # 100,000 keys, the last twice: linear (review 21:08: a count per key took ~50 s a MB)
    (tmp_path / "wide.json").write_text("[{" + "".join(f'"k{i}": 0, ' for i in range(100_000)) + '"k99999": 1}]',
                                        encoding="utf-8")  # fmt: skip
    started = time.perf_counter()
    with pytest.raises(ScriptError, match="'k99999' twice in one record"):
        read_json(tmp_path / "wide.json")
    assert time.perf_counter() - started < 10.0
    for name in ("bad.json", "missing.json", "twice.json", "nan.json", "inf.json"):
        with pytest.raises(ScriptError, match=rf"^{tmp_path / name}: "):
            read_json(tmp_path / name)


@pytest.mark.parametrize("stem", ["comm_contention", "comm_share", "link_overlap", "tcp_cc", "validate_emulated"])
def test_without_root_each_emulated_script_says_so_in_one_line(
    stem: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(ScriptError, match="the emulated testbed is unavailable"):
        need_root()
    monkeypatch.setattr(sys, "argv", [f"{stem}.py", "--out", str(tmp_path)])
    assert load_benchmark(stem).main() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the emulated testbed is unavailable: ") and err.count("\n") == 1, err
    assert not any(tmp_path.iterdir())  # refused before anything was measured or written


def test_a_grid_is_ranks_rates_in_bytes_per_second_and_sizes() -> None:
    p = argparse.ArgumentParser()
    add_grid(p, "2,4", "250,1000", "1048576", "x.json")
    assert grid(p.parse_args([])) == ([2, 4], [31.25e6, 125e6], [1048576])  # 250 Mbit/s = 31.25 MB/s
    assert grid(p.parse_args(["--rates", "2000", "--sizes", "8,16"])) == ([2, 4], [250e6], [8, 16])
    with pytest.raises(ScriptError, match=r"^--ranks: expected comma-separated whole numbers from 1 to 250, got '2,x'"):
        grid(p.parse_args(["--ranks", "2,x"]))


@pytest.mark.parametrize("stem", ["comm_share", "link_overlap"])
def test_a_grid_script_refuses_a_value_that_is_not_a_number_in_one_line(
    stem: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", [f"{stem}.py", "--sizes", "8MiB"])
    assert load_benchmark(stem).main() == 2
    expected = "error: --sizes: expected comma-separated whole numbers from 1 to 1,099,511,627,776, got '8MiB'\n"
    assert capsys.readouterr().err == expected


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("DPSIM_TCP_CC", "no-such-cc", "expected a TCP congestion control this kernel has"),
        ("DPSIM_NETNS_PREFIX", "no prefix", "expected letters/digits ending in '-'"),
        ("DPSIM_RANK_USER", "12:staff", "expected a user name, 'uid:gid' in digits or 'root'"),
        ("DPSIM_RANK_USER", "no-such-user-dpsim", "no user 'no-such-user-dpsim' on this host"),
    ],
)
def test_a_testbed_variable_it_cannot_use_is_one_line_before_any_work(
    variable: str, value: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulated testbed reads ``DPSIM_TCP_CC``, ``DPSIM_NETNS_PREFIX`` and ``DPSIM_RANK_USER`` when it builds its
    first cluster; a value it cannot use was a traceback from there (``EmulatedCluster``'s ValueError, pwd's KeyError,
    int()'s ValueError) after the checks of the command line had passed. ``dpsim calibrate | validate --testbed
    emulated`` and the emulated scripts now name the variable in one line before anything runs."""
    import shutil

    from dpsim.cli_runtime import _testbed_check
    from dpsim.errors import ScenarioError

    monkeypatch.setattr("runtime.testbed.emulated.require_root", lambda: None)  # as root with ip and tc
    monkeypatch.setattr("os.geteuid", lambda: 0)
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/setpriv" if name == "setpriv" else real_which(name))
    for name in ("DPSIM_TCP_CC", "DPSIM_NETNS_PREFIX", "DPSIM_RANK_USER"):
        monkeypatch.delenv(name, raising=False)
    _testbed_check("emulated")  # nothing set: the host's control, dpsim-, the sudo caller or nobody
    monkeypatch.setenv(variable, value)
    with pytest.raises(ScenarioError) as raised:
        _testbed_check("emulated")
    assert str(raised.value).startswith(f"<environment>: {variable}: {says}")
    assert "\n" not in str(raised.value)
    with pytest.raises(ScriptError, match=f"^{variable}: "):
        need_root()


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--cases", "0"], "--cases"),
        (["--cases", "-5"], "--cases"),
        (["--case-timeout", "0"], "--case-timeout"),  # alarm(0) turned the timeout off
        (["--case-timeout", "-1"], "--case-timeout"),  # OverflowError from signal.alarm after the first draw
        (["--tolerance", "nan"], "--tolerance"),
        (["--tolerance", "inf"], "--tolerance"),
        (["--tolerance", "-0.1"], "--tolerance"),
        (["--set", "foo"], "--set"),  # every draw invalid: 50 x --cases draws, then "0 cases", status 0
        (["--set", "cluster.nodez=2"], "--set"),
        (["--out", "{tmp}"], "--out"),  # IsADirectoryError after every case had run
        (["--out", "{tmp}/missing/cases.jsonl"], "--out"),
    ],
)
def test_agreement_fuzz_refuses_an_option_it_cannot_use_before_any_case(
    argv: list[str], names: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Round 20: ``benchmarks/agreement_fuzz.py``'s options are checked before the first draw, one line, status 2
    (:func:`options_problem`); before, each ran (or crashed after minutes) as the comments say."""
    fuzz = load_benchmark("agreement_fuzz")
    with pytest.raises(SystemExit) as stopped:  # round 27: a number out of range is the option's type's refusal
        raise SystemExit(fuzz.main(["--cases", "3", *(a.replace("{tmp}", str(tmp_path)) for a in argv)]))
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith((f"error: {names}: ", f"error: argument {names}: ")), captured.err
    assert captured.err.count("\n") == 1, captured.err
    assert captured.out == "" and not list(tmp_path.rglob("*.jsonl"))


def test_agreement_fuzz_runs_with_good_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fuzz = load_benchmark("agreement_fuzz")
    out = tmp_path / "cases.jsonl"
    assert fuzz.main(["--cases", "1", "--seed", "3", "--set", "cluster.nodes=2", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("1 cases") and len(out.read_text().splitlines()) == 1


class _Outer(BaseException):
    pass


def test_agreement_fuzz_keeps_the_callers_alarm(capsys: pytest.CaptureFixture[str]) -> None:
    """Round 28: the script set its own SIGALRM handler for good and cancelled the timer after each case, so an
    in-process caller's timeout (tests/hostile.py's) never fired again. Now the caller's handler and deadline
    survive a run, and a deadline that falls inside a case is the caller's, not one slow case."""
    import signal

    fuzz = load_benchmark("agreement_fuzz")

    def outer(signum: int, frame: object) -> None:
        raise _Outer

    previous = signal.signal(signal.SIGALRM, outer)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        assert fuzz.main(["--cases", "1", "--seed", "3", "--set", "cluster.nodes=2"]) == 0
        assert signal.getsignal(signal.SIGALRM) is outer
        assert 20.0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 30.0  # still armed, its deadline kept
        signal.setitimer(signal.ITIMER_REAL, 0.05)  # the caller's deadline inside a case of 10 s
        with pytest.raises(_Outer), fuzz.case_alarm(10):
            time.sleep(1.0)
        signal.setitimer(signal.ITIMER_REAL, 5.0)  # the case's own timeout first: one slow case, caller kept
        with pytest.raises(fuzz._Timeout), fuzz.case_alarm(0.05):
            time.sleep(1.0)
        assert signal.getsignal(signal.SIGALRM) is outer and 3.0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 5.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    capsys.readouterr()


_STORED = str(Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "validation")


@pytest.mark.parametrize(
    ("stem", "argv", "expected"),
    [
        ("validate_emulated", ["--reuse", _STORED, "--limit", "0"], "error: argument --limit: expected a whole number"),
        ("validate_emulated", ["--reuse", _STORED, "--skip", "100"], "error: --skip 100: no configuration left"),
        ("validate_emulated", ["--reuse", _STORED, "--steps", "0"], "error: argument --steps: expected a whole number"),
        ("validation_patterns", ["--sessions", ","], "error: --sessions: expected one or more of "),
        ("validation_patterns", ["--sessions", "validation,validation"], "error: --sessions: lists 'validation' "),
    ],
)
def test_a_script_refuses_a_selection_of_nothing_or_one_item_twice(
    stem: str, argv: list[str], expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round 22 (stop 40): each was a traceback (``ZeroDivisionError`` splitting the stored runs over no
    configuration, ``ValueError`` from the job options, ``StatisticsError`` of a mean over no session,
    ``FileExistsError`` re-predicting one session twice). One line, status 2, before anything is read or run."""
    monkeypatch.setattr(sys, "argv", [f"{stem}.py", *argv])
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(load_benchmark(stem).main())
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1, err


@pytest.mark.parametrize("extra", [["--ab"], ["--bogus"], ["--repeats", "3"], ["--out", "o.json"], ["--steps=3"]])
def test_plain_ddp_reuse_refuses_what_it_does_not_read(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Round 22 (stop 40): ``--reuse DIR --ab`` printed the stored table and measured nothing, ``--bogus`` and every
    option of a measurement were taken without a word. ``--reuse`` takes ``--profile`` only."""
    stored = str(Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "plain-ddp-2026-12-06-l")
    assert load_benchmark("plain_ddp").main(["--reuse", stored, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {extra[0].split('=')[0]}: --reuse prints a stored A/B again"), err
    assert err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("stem", "argv", "expected"),
    [
        ("budget_check", ["--max-ranks", "0"], "error: argument --max-ranks: expected a whole number from 16 to "),
        ("analytic_sweep", ["--repeats", "0"], "error: argument --repeats: expected a whole number from 1 to 1,000, "),
        ("sweep_point_cost", ["--points", "0"], "error: argument --points: expected a whole number from 1 to 10,000"),
        ("sim_scale", ["--sizes", "0"], "error: argument --sizes: expected comma-separated whole numbers from 1 "),
        ("sim_scale", ["--repeat", "nan"], "error: argument --repeat: expected a whole number from 1 to 1,000, "),
        ("pricing_cpu", ["--repeat", "0"], "error: argument --repeat: expected a whole number from 1 to 1,000, "),
        ("pricing_cpu", ["--nodes", "-1"], "error: argument --nodes: expected a whole number from 1 to "),
        ("pricing_cpu", ["--direct-nodes", ""], "error: argument --direct-nodes: expected comma-separated whole "),
        ("pricing_cpu", ["--cases", "x"], "error: --cases: expected some of hybrid, direct (comma-separated), got 'x'"),
        ("planner", ["--only", "zzz"], "error: --only: expected one of llama2-7b, "),
        ("slowest_rank", ["--runs", "/no/such/folder"], "error: --runs: /no/such/folder/runs.jsonl: expected the "),
        ("slowest_rank", ["--slice", "nan"], "error: argument --slice: expected a finite number at least 1e-06 "),
        ("trace_replay", ["--reuse", "/no/such/folder"], "error: --reuse: /no/such/folder holds no scenario.yaml, "),
        ("trace_replay", ["--steps", "-1"], "error: argument --steps: expected a whole number from 1 to 1,000, "),
        ("nccl_tests_curves", ["--curve", "zzz"], "error: --curve: no curve matches 'zzz'"),
        ("link_fit_points", ["--limit", "x"], "error: argument --limit: expected a finite number at least 0 "),
        ("published_runs", ["--engine", "x"], "error: argument --engine: invalid choice: 'x' (choose from "),
        ("p5_series", ["--bogus"], "error: unrecognized arguments: --bogus"),
        ("ring_step_graph", ["--bogus"], "error: unrecognized arguments: --bogus"),
        ("ring_step_graph", ["--jitter", "2"], "error: argument --jitter: expected a finite number "),
        ("p5_series", ["--steps", "--message-fit"], "error: argument --steps: --message-fit prints its own "),
        # round 27: each printed one table and dropped the other option without a word
        ("p5_series", ["--message-fit", "--classify"], "error: argument --classify: --message-fit prints its own "),
        ("nccl_tests_heldout", ["--families", "--format", "json"], "error: argument --format: --families prints a "),
        ("published_runs", ["--straggler-what-if", "--foundry-tables"], "error: argument --straggler-what-if: "),
        ("published_runs", ["--gemm-waves", "--megascale-what-if"], "error: argument --gemm-waves: "),
        ("published_runs", ["--sm-share-what-if", "--engine", "sim"], "error: argument --engine: --sm-share-what-if"),
    ],
)
def test_an_offline_script_refuses_a_bad_option_in_one_line_before_any_work(
    stem: str, argv: list[str], expected: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round 25 (stop 43): a count of 0 was a median of nothing (``StatisticsError``), a world of 0 a
    ``ZeroDivisionError``, a missing folder a ``FileNotFoundError``, a scenario error of ``pricing_cpu --nodes -1``
    a traceback; ``--cases x`` / ``--only zzz`` ran nothing silently, ``--slice nan`` and ``--steps -1`` were taken;
    argparse's own errors were two lines (its usage first). Now one ``error:`` line naming the option, status 2."""
    monkeypatch.setattr(sys, "argv", [f"{stem}.py", *argv])
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(load_benchmark(stem).main())
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(expected) and captured.err.count("\n") == 1, captured.err
    assert captured.out == ""


def test_whole_wholes_and_number_take_ascii_numbers_in_their_range() -> None:
    from benchmarks.script_cli import number, whole, wholes

    assert whole(1, 8)("8") == 8 and wholes(1, 8)("1,8") == [1, 8] and wholes(none=True)("") == []
    assert number(0.0, 1.0)("5e-1") == 0.5
    refused = ((whole(1, 8), "9"), (whole(), "\uff11"), (whole(), "1_000"), (wholes(), ""), (wholes(), "1,,2"),
               (number(), "nan"), (number(), "inf"), (number(), "-1"), (number(0.0, 1.0), "1e400"))  # fmt: skip
    for parse, text in refused:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


ROOT_AND_DEVICE_SCRIPTS = (
    "comm_contention", "comm_share", "ddp_hook_pass", "ddp_timeline", "emulated_busbw", "gpu_device_check",
    "gpu_step_check", "host_load", "host_optimizer_faults", "link_overlap", "optimizer_share", "overlap_window",
    "peers", "plain_ddp", "quiet_runs", "sac_kept", "sweep_dask", "tcp_cc", "thread_share", "tree_links",
    "validate_emulated", "wire_pace", "nccl_search/topology",
)  # fmt: skip
"""The scripts that measure (root, the emulated cluster, a GPU, simgrid, Dask) and those that read what they wrote."""


@pytest.mark.parametrize("stem", ROOT_AND_DEVICE_SCRIPTS)
def test_a_root_or_device_script_refuses_a_bad_option_in_one_line(
    stem: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stop 44: these built argparse's own parser, whose usage error is two lines (the usage, then the error) where
    the offline scripts and the dpsim commands print one; now :class:`benchmarks.script_cli.Parser`'s one line,
    status 2, before any work (``plain_ddp.py`` passes unknown options on to its ranks: a bad value instead)."""
    argv = ["--steps", "x"] if stem == "plain_ddp" else ["--bogus"]
    monkeypatch.setattr(sys, "argv", [f"{stem}.py", *argv])
    script = load_benchmark(stem, stem.replace("/", "_"))
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(script.main())
    assert stopped.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    says = ("argument --steps: expected a whole number",) if stem == "plain_ddp" else ("--bogus", "are required: ")
    assert any(s in captured.err for s in says), captured.err  # the option, or one the script cannot run without
    assert captured.out == ""


@pytest.mark.parametrize(
    ("stem", "argv", "names"),
    [
        ("emulated_busbw", ["--rate", "x"], "--rate"),  # a UnitError traceback
        ("emulated_busbw", ["--ranks", "x"], "--ranks"),  # a ValueError after the table's header
        ("emulated_busbw", ["--algorithms", "bogus"], "--algorithms"),  # every rank failed once the cluster was up
        ("tree_links", ["--size", "x"], "--size"),
        ("overlap_window", ["--rates", "x"], "--rates"),  # python -m runtime's refusal, then CalledProcessError
        ("comm_contention", ["--out", "o", "--rates", "x"], "--rates"),  # after its folder was made
        ("comm_share", ["--rates", "nan"], "--rates"),  # reached the testbed (script_cli.grid)
        ("link_overlap", ["--ranks", "0"], "--ranks"),
        ("plain_ddp", ["--repeats", "x"], "--repeats"),  # argparse's usage, then its error: two lines
        ("plain_ddp", ["--steps", "0"], "--steps"),  # a cluster started, then "no measured step completed": a traceback
        ("plain_ddp", ["--warmup-steps", "-1"], "--warmup-steps"),  # started a cluster
        ("plain_ddp", ["--timeout", "nan"], "--timeout"),  # started a cluster
        ("plain_ddp", ["--per-node", "0"], "--per-node"),  # ZeroDivisionError once the cluster was up
        ("plain_ddp", ["--nodes", "0"], "--nodes"),
        ("plain_ddp", ["--rate", "x"], "--rate"),  # the error named no option
        ("plain_ddp", ["--out", "run.json/"], "--out"),  # written as run.json after the run
        ("plain_ddp", ["--layers", "0"], "--layers"),  # a worker's option: the ranks failed after minutes
        ("plain_ddp", ["--layers", "x"], "--layers"),  # the worker parser's two lines
        ("plain_ddp", ["--hidden", "\uff11"], "--hidden"),  # int() reads a full-width digit
        ("plain_ddp", ["--lr", "nan"], "--lr"),
        ("plain_ddp", ["--bucket-cap-mb", "-1"], "--bucket-cap-mb"),
        ("plain_ddp", ["--run-dir", "x"], "--run-dir"),  # the launcher's own option
        ("plain_ddp", ["--bogus"], "--bogus"),
        ("plain_ddp", ["--ab", "--nodes", "4"], "--nodes"),  # --ab dropped it without a word
        ("plain_ddp", ["--ab", "--layers", "8"], "--layers"),
        ("ddp_timeline", ["--repeats", "0"], "--repeats"),  # ran nothing, said nothing
        ("ddp_timeline", ["--repeats", "x"], "--repeats"),  # argparse's two lines
        ("ddp_timeline", ["--cases", ""], "--cases"),  # ran nothing
        ("ddp_timeline", ["--set", "bogus"], "--set"),  # stop 46: a bad override, before root or the testbed
        ("ddp_timeline", ["--set", "cluster.nodes=x"], "cluster.nodes"),
        ("ddp_timeline", ["--cases", "5,5"], "--cases"),  # measured twice
        ("ddp_timeline", ["--cases", "x"], "--cases"),  # "invalid literal for int()", no option named
        ("ddp_timeline", ["--steps", "0"], "--steps"),  # an IndexError after the cluster ran
        ("ddp_timeline", ["--warmup-steps", "-1"], "--warmup-steps"),
        ("ddp_timeline", ["--case-set", "bogus"], "--case-set"),
        ("ddp_timeline", ["--out", "f.txt"], "--out"),  # a file: FileExistsError
        ("ddp_timeline", ["--reuse", "missing"], "--reuse"),  # FileNotFoundError
        ("ddp_timeline", ["--reuse", ".", "--case-set", "fresh"], "--case-set"),  # dropped without a word
        ("thread_share", ["--rates", "x"], "--rates"),  # a ValueError traceback after the table's header
        ("thread_share", ["--buckets", "bogus"], "--buckets"),  # a KeyError traceback after the header
        ("thread_share", ["--steps", "0"], "--steps"),
        ("thread_share", ["--reuse", "missing"], "--reuse"),  # FileNotFoundError
        ("thread_share", ["--reuse", ".", "--steps", "3"], "--steps"),  # dropped without a word
    ],
)
def test_a_cluster_script_refuses_a_bad_rate_size_or_count_before_the_testbed(
    stem: str, argv: list[str], names: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Round 26 (hostile): one line naming the option, status 2, before root is checked (a cluster, or
    ``plain_ddp.py``'s A/B, fails the test), nothing on stdout and nothing written. The option checks of
    ``plain_ddp.py``, ``ddp_timeline.py`` and ``thread_share.py`` were three same-shape tests in their own files until
    stop 45."""
    import runtime.testbed.emulated as emulated

    monkeypatch.setattr(emulated, "EmulatedCluster", lambda *a, **k: pytest.fail("a cluster started"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f.txt").write_text("")  # a file where a folder is expected
    monkeypatch.setattr(sys, "argv", [f"{stem}.py", *argv])
    script = load_benchmark(stem, stem)
    monkeypatch.setattr(script, "ab", lambda *a, **k: pytest.fail("the A/B started"), raising=False)
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(script.main())
    out, err = capsys.readouterr()
    assert stopped.value.code == 2 and err.startswith("error: ") and names in err and err.count("\n") == 1, err
    assert out == "" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


@pytest.mark.parametrize("extra", [["--repeats", "5"], ["--steps", "3"], ["--quick"]])
def test_validate_emulated_reuse_refuses_what_it_drops(
    extra: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round 26 (hostile): ``--reuse`` re-predicts the stored runs as measured; each of these was taken and dropped."""
    stored = str(Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "validation-2026-12-06-o" / "all")
    monkeypatch.setattr(sys, "argv", ["validate_emulated.py", "--reuse", stored, *extra])
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(load_benchmark("validate_emulated").main())
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.startswith(f"error: {extra[0]}: --reuse") and err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("stem", "argv", "names"),
    [
        ("validate_emulated", ["--repeats", "1_0"], "--repeats"),  # int() read 10
        ("validate_emulated", ["--steps", "\uff13"], "--steps"),  # int() read 3
        ("validate_emulated", ["--max-residual", "nan"], "--max-residual"),
        ("wire_pace", ["--rate-mbit", "nan"], "--rate-mbit"),  # a table of no row, status 0
        ("wire_pace", ["--rate-mbit", "151"], "--rate-mbit"),  # a rate no calibration measured: the same
        ("quiet_runs", [".", "--max-other-cores", "nan"], "--max-other-cores"),  # no run kept, silently
        ("sweep_dask", ["--repeat", "0"], "--repeat"),  # a KeyError once both Dask clusters had started
        ("sweep_dask", ["--workers", "0"], "--workers"),  # a ScenarioError traceback
        ("gpu_device_check", ["--measure", "m.json"], "--measure"),  # an AssertionError without a GPU
        ("gpu_device_check", ["--compare", "missing.json"], "--compare"),  # FileNotFoundError
        ("gpu_device_check", ["--fit", "missing.json", "--device", "bogus"], "--device"),  # ScenarioError
        ("gpu_device_check", ["--compare", "missing.json", "--reps", "5"], "--reps"),  # dropped
        ("gpu_step_check", ["missing"], "DIR"),  # FileNotFoundError
        ("ddp_reducer_passes", ["--hidden", "16384", "--layers", "1000"], "--hidden"),  # 1 TB of weights
        ("tcp_cc", ["--reps", "1_0"], "--reps"),
        ("tcp_cc", ["--cc", ""], "--cc"),  # a table of no column
        ("link_overlap", ["--max-other", "nan"], "--max-other"),  # every record left out
        ("agreement_fuzz", ["--case-timeout", "99999999999999"], "--case-timeout"),  # OverflowError at the alarm
        ("agreement_fuzz", ["--shared-fabric", "-1"], "--shared-fabric"),  # every case crashed, status 0
        ("agreement_fuzz", ["--seed", "1_0"], "--seed"),
        ("nccl_search/topology", ["0"], "trays"),  # a system of no GPU
        ("nccl_search/topology", ["4", "--hgx"], "trays"),  # dropped
        ("nccl_search/topology", ["--gbps", "0"], "--gbps"),  # NICs of speed 0
        ("validate_emulated", ["--rep", "5"], "--rep"),  # a prefix: see the next test
    ],
)
def test_a_measuring_script_refuses_a_bad_number_in_one_line_before_any_work(
    stem: str, argv: list[str], names: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Round 27 (stop 45): the measuring scripts' numbers were plain ``int()`` / ``float()`` (full-width digits,
    ``1_0``, ``nan`` taken), and several of their refusals were tracebacks. One line naming the option, status 2,
    nothing printed or written first."""
    import runtime.testbed.emulated as emulated

    monkeypatch.setattr(emulated, "EmulatedCluster", lambda *a, **k: pytest.fail("a cluster started"))
    monkeypatch.setenv("DPSIM_NETNS_PREFIX", "0bad")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [f"{stem}.py", *argv])
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(load_benchmark(stem, stem.replace("/", "_")).main())
    captured = capsys.readouterr()
    err = captured.err
    assert stopped.value.code == 2 and err.startswith("error: ") and names in err and err.count("\n") == 1, err
    assert captured.out == "" and not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("stem", "argv", "names"),
    [
        ("validate_emulated", ["--rep", "5"], "--rep"),
        ("link_overlap", ["--calibration", "c.json", "--reps", "5"], "--reps"),
        ("link_overlap", ["--reuse", "d", "--passes", "2"], "--passes"),
        ("comm_share", ["--reuse", "d", "--reps", "3"], "--reps"),
        ("tcp_cc", ["--reuse", "d", "--passes", "3"], "--passes"),
        ("trace_replay", ["--reuse", "d", "--steps", "2"], "--steps"),
    ],
)
def test_reuse_refuses_an_option_it_would_drop_even_as_a_prefix(
    stem: str, argv: list[str], names: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round 27: argparse took a prefix of an option (``--rep`` for ``--repeats``) where the checks of what ``--reuse``
    drops read full names, so ``validate_emulated --reuse DIR --rep 5`` dropped it silently; the scripts' Parser
    takes full names only (as the dpsim commands do), and the other scripts that print stored records refuse the
    measuring options beside them."""
    stored = str(Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "validation-2026-12-06-o" / "all")
    argv = [stored if a == "d" else a for a in argv]
    if stem == "validate_emulated":
        argv = ["--reuse", stored, *argv]
    monkeypatch.setattr(sys, "argv", [f"{stem}.py", *argv])
    with pytest.raises(SystemExit) as stopped:
        raise SystemExit(load_benchmark(stem).main())
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and names in err and err.count("\n") == 1, err


def test_quiet_runs_names_a_run_whose_host_load_it_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round 27: ``host_load: 5`` was an ``AttributeError`` traceback, ``other_cores: -1`` was taken."""
    stored = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "validation-2026-12-05-c" / "all"
    stored = stored / "reuse"
    runs = (stored / "runs.jsonl").read_text(encoding="utf-8")
    (tmp_path / "records.jsonl").write_text((stored / "records.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    negative = "line 1: field extra.host_load['other_cores']: expected a finite number ≥ 0, got -1.0"
    for damaged, expected in ((runs.replace('"host_load": {', '"host_load": 5, "x": {', 1), "run 1: extra.host_load: "),
                              (runs.replace('"other_cores": 0.0', '"other_cores": -1.0', 1), negative)):  # fmt: skip
        (tmp_path / "runs.jsonl").write_text(damaged, encoding="utf-8")  # round 28: the negative one read_jsonl's
        monkeypatch.setattr(sys, "argv", ["quiet_runs.py", str(tmp_path)])
        assert load_benchmark("quiet_runs").main() == 2
        captured = capsys.readouterr()
        assert expected in captured.err and captured.err.count("\n") == 1, captured.err


def test_a_prefix_of_an_option_is_refused_by_the_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    """The scripts' Parser takes options in full (round 27); ``python -m runtime``'s keeps argparse's prefixes, which
    it documented and which drop nothing there (review 20:37)."""
    from benchmarks.script_cli import Parser
    from runtime.cli_args import runtime_parser

    parser = Parser()
    parser.add_argument("--repeats", type=int, default=3)
    assert parser.parse_args(["--repeats", "5"]).repeats == 5
    with pytest.raises(SystemExit):
        parser.parse_args(["--rep", "5"])
    assert "unrecognized arguments: --rep 5" in capsys.readouterr().err
    runtime = runtime_parser("python -m runtime")
    runtime.add_argument("--warmup-steps", type=int, default=1)
    assert runtime.parse_args(["--warmup", "2"]).warmup_steps == 2


def test_the_archived_scripts_that_read_options_are_the_listed_frozen_ones() -> None:
    """Round 28: the scripts inside ``benchmarks/results/*/`` are frozen reproductions (README, *Robust to any input*):
    the ones that read options with plain argparse are listed there by path, and nothing else in a results folder
    reads options. A new archived script that does is a decision to write down (frozen) or to make (``Parser``)."""
    import re

    root = Path(__file__).resolve().parents[1]
    results = root / "benchmarks" / "results"
    reading = {str(p.relative_to(results)) for p in results.rglob("*.py")
               if re.search(r"\badd_argument\(", p.read_text(encoding="utf-8"))}  # fmt: skip
    readme = (root / "README.md").read_text(encoding="utf-8")
    start = readme.index("The scripts inside a results folder")
    listed = set(re.findall(r"`([\w./-]+\.py)`", readme[start : readme.index("round 28's decision", start)]))
    assert reading == listed


@pytest.mark.parametrize("option", [["--layers", "8"], ["--window", "5"], ["--processes", "2"], ["--modes", "cold"]])
def test_optimizer_share_runs_refuses_the_measuring_options(
    option: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round 28: ``--runs DIR`` analyses stored runs and measures nothing; a measuring option beside it was dropped
    without a word (status 0). ``--cores`` is read (test below: it runs)."""
    stored = str(Path(__file__).resolve().parents[1] / "benchmarks/results/validation-2026-12-06-o/all")
    monkeypatch.setattr(sys, "argv", ["optimizer_share.py", "--runs", stored, *option])
    assert load_benchmark("optimizer_share").main() == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith(f"error: {option[0]}: --runs prints a stored validation again and runs nothing")
    monkeypatch.setattr(sys, "argv", ["optimizer_share.py", "--runs", stored, "--cores", "2"])
    assert load_benchmark("optimizer_share").main() == 0


@pytest.mark.parametrize("times", [None, "{}", '{"0": 0.0, "1": 0.0}', "[0.01]", "0.01"])
def test_optimizer_share_runs_without_optimizer_times_are_one_line(
    times: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round 30: ``--runs DIR`` reads each run's ``extra.per_rank_optimizer_s``: a folder whose runs lack it (the
    repository's own ``validation-27f6025``) was a ``KeyError`` traceback, an empty mapping a ``StatisticsError``,
    zeros a ``ZeroDivisionError``, a list or a number an ``AttributeError``; one line naming the field now, nothing
    printed before it."""
    root = Path(__file__).resolve().parents[1] / "benchmarks/results"
    folder = root / "validation-27f6025"
    if times is not None:
        folder = tmp_path
        runs = (root / "validation-2026-12-06-o/all/runs.jsonl").read_text()
        line = runs.splitlines()[0]
        stored = line[line.index('"per_rank_optimizer_s": ') :].split("}", 1)[0] + "}"
        (folder / "runs.jsonl").write_text(runs.replace(line, line.replace(stored, f'"per_rank_optimizer_s": {times}')))
    monkeypatch.setattr(sys, "argv", ["optimizer_share.py", "--runs", str(folder)])
    assert load_benchmark("optimizer_share").main() == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "runtime run 1: extra.per_rank_optimizer_s: expected each rank's optimizer seconds" in captured.err
