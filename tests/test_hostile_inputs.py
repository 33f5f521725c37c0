"""Hostile inputs end cleanly: exit 0, or exit 2 with one ``error:`` line; no traceback, hang or escape code.

The generator and the judge are in ``tests/hostile.py`` (``python tests/hostile.py`` prints
the table of classes). Here every class runs in-process (a sample of the random
mutations unless ``slow`` tests run), a few cases in a fresh interpreter, and hypothesis
puts arbitrary values into arbitrary fields of the scenario loader.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import hostile
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dpsim.errors import ScenarioError
from dpsim.scenario import load_scenario, scenario_from_dict
from dpsim.units import UnitError, parse_flops, parse_size

CASES = hostile.all_cases()
KINDS = list(dict.fromkeys(c.kind for c in CASES))


def _run(cases: list[hostile.Case], tmp_path: Path) -> None:
    bad = [o for o in (hostile.run_case(c, tmp_path) for c in cases) if o.verdict != "clean"]
    assert not bad, [(o.verdict, o.case.argv[:4], o.stderr[-200:]) for o in bad]


@pytest.mark.parametrize("kind", KINDS)
def test_every_class_of_hostile_input_ends_cleanly(kind: str, tmp_path: Path) -> None:
    # a sample of every class in-process (every 4th case, and the first); all of them under -m slow
    _run([c for c in CASES if c.kind == kind and not c.subprocess][::4], tmp_path)


STREAMS = ("stdout: closed pipe / full / ASCII", "outputs onto a full disk")
"""Classes whose every case runs in a fresh interpreter (a real stdout, a limit on file sizes)."""


PLOTTING = "plotting under hostile environment"
"""A class whose every case runs in a fresh interpreter (matplotlib reads its variables once): every 4th here."""


def test_a_sample_ends_cleanly_in_a_fresh_interpreter(tmp_path: Path) -> None:
    fresh = [c for c in CASES if c.subprocess and c.kind not in STREAMS]  # real encodings, real signals
    assert any(c.kind == PLOTTING for c in fresh)
    _run([c for c in fresh if c.kind != PLOTTING] + [c for c in fresh if c.kind == PLOTTING][::4], tmp_path)


def test_a_closed_pipe_a_full_disk_and_an_ascii_stdout_end_cleanly(tmp_path: Path) -> None:
    """One case of each way (``| head``, ``> /dev/full``, ``PYTHONIOENCODING=ascii``, a file-size limit under and
    over a sweep's first point): click's exit 1, an ``OSError`` or ``UnicodeEncodeError`` traceback on main."""
    assert set(STREAMS) <= set(KINDS)
    one = {(c.stdout, c.file_size, tuple(c.env)): c for c in CASES if c.kind in STREAMS}
    assert len(one) == 5
    _run(list(one.values()), tmp_path)


@pytest.mark.slow
def test_every_output_stream_case_ends_cleanly(tmp_path: Path) -> None:
    _run([c for c in CASES if c.kind in STREAMS], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_every_hostile_input_ends_cleanly(kind: str, tmp_path: Path) -> None:
    _run([c for c in CASES if c.kind == kind and not c.subprocess], tmp_path)


def test_the_summary_reads_100_percent_only_when_every_case_is_clean() -> None:
    # 4,970 of 4,971 is 99.98 %: "{:.1f}" printed "100.0 %" beside a failed class (stop 42's round)
    assert hostile.clean_share(4970, 4971) == "99.9 % of 4971 hostile inputs end cleanly (1 not)"
    assert hostile.clean_share(4971, 4971) == "100.0 % of 4971 hostile inputs end cleanly"
    assert hostile.clean_share(1, 3) == "33.3 % of 3 hostile inputs end cleanly (2 not)"
    assert hostile.clean_share(0, 0) == "0.0 % of 0 hostile inputs end cleanly"
    summary = hostile.table(
        [hostile.Outcome(CASES[0], "clean", 0, "", 0.0), hostile.Outcome(CASES[1], "traceback", 1, "", 0.0)]
    )
    assert summary.endswith("50.0 % of 2 hostile inputs end cleanly (1 not)")


def test_a_parts_file_resumes_a_run_and_rebuilds_its_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop 48 (stop 47's lead): ``hostile.py --parts FILE --until HH:MM`` appends one JSON line a case as it ends,
    skips the cases the file holds, starts none past the deadline, and ``--table`` rebuilds the table from the file
    alone; a line cut short by a stop is read as not run. The valid runtime run has its own hang limit."""
    cases = [hostile.Case("a", ["--version"]), hostile.Case("a", ["check", "-"], stdin=b"name: [", expect_error=True),
             hostile.Case("b", ["--version"])]  # fmt: skip
    parts = tmp_path / "parts.jsonl"
    ran: list[list[str]] = []
    judge = hostile.run_case

    def counted(case: hostile.Case, tmp: Path) -> hostile.Outcome:
        ran.append(case.argv)
        return judge(case, tmp)

    monkeypatch.setattr(hostile, "run_case", counted)
    outcomes, left = hostile.run_cases(cases, tmp_path, parts, until=time.time() - 1)  # past: nothing starts
    assert (outcomes, left, ran) == ([], 3, [])
    outcomes, left = hostile.run_cases(cases[:2], tmp_path, parts)
    assert [o.verdict for o in outcomes] == ["clean", "clean"] and left == 0 and len(ran) == 2
    with parts.open("a", encoding="utf-8") as sink:
        sink.write('{"key": "b\\u001f0')  # a line cut short by a stop
    outcomes, left = hostile.run_cases(cases, tmp_path, parts)  # only the third runs
    assert ran[2:] == [["--version"]] and left == 0 and [o.case.kind for o in outcomes] == ["a", "a", "b"]
    assert hostile.read_parts(parts, cases).keys() == set(hostile.case_keys(cases))
    rows = [line for line in hostile.table(outcomes).splitlines() if line.startswith(("a ", "b ", "all "))]
    assert [row.split()[:3] for row in rows] == [["a", "2", "2"], ["b", "1", "1"], ["all", "3", "3"]]
    # a case whose command changed since the file was written runs again
    assert hostile.case_keys([hostile.Case("a", ["--help"])]) != hostile.case_keys(cases[:1])
    # the deadline is the next HH:MM; a malformed one is refused
    assert 0 < hostile.deadline("00:00") - time.time() <= 86_400
    for bad in ("24:00", "7:5", "07:60", "soon"):
        with pytest.raises(ValueError, match="HH:MM"):
            hostile.deadline(bad)
    runtime = [c for c in CASES if c.program == "runtime" and c.accept]
    assert all(c.timeout_s == hostile.RUNTIME_TIMEOUT_S > hostile.TIMEOUT_S for c in runtime)
    command = [sys.executable, str(Path(hostile.__file__)), "--parts", str(parts), "--table", "-k", "no class"]
    shown = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "0 of 0 cases recorded" in shown


def test_the_generator_covers_every_class_of_the_issue() -> None:
    assert len(CASES) >= 500
    for kind in ("non-UTF-8 encoding", "deep nesting", "huge integers", "huge floats", "tiny buckets", ".inf / .nan",
                 "ANSI/NUL in names", "tags", "alias bombs", "special files", "huge nodes/steps/replications/nics",
                 "plan --tp 3 / --pp 1000 / bad options", "duplicate keys", "inf/denormal quantities",
                 "YAML 1.1 surprises", "bool strictness", "virtual_stages / TP-PP on CNNs", "huge sweeps"):  # fmt: skip
        assert kind in KINDS


def test_the_newest_fields_refuse_with_their_own_name(tmp_path: Path) -> None:
    """The cases of the five newest classes that were unclean on main: a nested NCCL_ALGO list was a TypeError
    traceback, a zero-width space in it was blamed on the scenario's name (built from the --set values), and a
    host_model's comm_cpu_per_byte or unknown key was reported as "host_model" alone."""
    assert {"NCCL_ALGO / NCCL_PROTO spellings", "accumulation pass / zero1 / mlp bias", "DeepSpeed bucket fields",
            "profiles with a damaged host_model", "collective --sizes ranges"} <= set(KINDS)  # fmt: skip
    values = (("nccl_algo", "[ring, [tree]]"), ("nccl_proto", "[[LL]]"), ("nccl_algo", "'ring\u200b'"))
    nccl = [hostile._set_case("nccl", f"communication.{f}={v}", command="check", expect_error=True,
                              names=f"communication.{f}") for f, v in values]  # fmt: skip
    host = [c for c in hostile.host_models() if "comm_cpu_per_byte" in c.names or c.names == "host_model"]
    _run(nccl + host, tmp_path)
    err = _error(tmp_path, hostile.SMALL, "--set", "communication.nccl_algo='ring\u200b'")
    assert err.startswith("error: <command line>: communication.nccl_algo: ") and "ZERO WIDTH SPACE" in err


# --- what the clean errors say -------------------------------------------------------------------


def _error(tmp_path: Path, text: str, *extra: str) -> str:
    (tmp_path / "s.yaml").write_bytes(text.encode("utf-8", "surrogatepass"))
    code, out, err = hostile.run_in_process(["run", str(tmp_path / "s.yaml"), *extra])
    assert code == 2, (out, err)
    return err.strip()


def test_a_near_miss_of_an_allowed_name_is_offered_the_name(tmp_path: Path) -> None:
    """Round 22: a scenario field, an option or a plan list given a name one case or one letter away from an allowed
    one is told which (the list alone before); a name far from all gets the list alone, and a name in other case
    gets only its own spelling ('Adam' is 'adam', not also 'adamw')."""
    err = _error(tmp_path, hostile.SMALL, "--set", "training.optimizer=Adam")
    assert err.endswith("got 'Adam' (did you mean 'adam'?)"), err
    err = _error(tmp_path, hostile.SMALL, "--set", "training.pipeline_schedule=interleave")
    assert err.endswith("(did you mean 'interleaved'?)"), err
    assert "did you mean" not in _error(tmp_path, hostile.SMALL, "--set", "communication.algorithm=nccl")
    assert _error(tmp_path, hostile.SMALL, "--format", "JSON").endswith("got 'JSON' (did you mean 'json'?)")
    code, _, err = hostile.run_in_process(["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8",
                                           "--algorithm", "auto,rign", "--no-progress"])  # fmt: skip
    assert code == 2 and err.strip().endswith("got auto, rign (did you mean 'ring'?)"), err


def test_yaml_12_semantics(tmp_path: Path) -> None:
    text = hostile.SMALL.replace("nodes: 2", "nodes: 010").replace("global_batch: 8", "global_batch: auto")
    assert load_scenario(_write(tmp_path, text)).cluster.nodes == 10
    assert "expected true or false, got 'yes'" in _error(tmp_path, hostile.SMALL, "--set", "communication.overlap=yes")
    assert "duplicate key 'nodes'" in _error(tmp_path, hostile.SMALL.replace("nodes: 2", "nodes: 2\n  nodes: 4"))
    assert "tags such as '!!int'" in _error(tmp_path, hostile.SMALL.replace("nodes: 2", "nodes: !!int 2"))
    # round 35: a document declaring YAML 1.1 (where 010 is 8) was read as 1.2 (10) without a word
    assert "declares YAML 1.1; dpsim reads YAML 1.2" in _error(tmp_path, "%YAML 1.1\n---\n" + text)
    assert load_scenario(_write(tmp_path, "%YAML 1.2\n---\n" + text)).cluster.nodes == 10


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ok.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_encodings_are_named(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_bytes(hostile.SMALL.encode("utf-16"))
    code, _, err = hostile.run_in_process(["check", str(tmp_path / "s.yaml")])
    assert code == 2 and "UTF-16 (little-endian)" in err
    (tmp_path / "s.yaml").write_bytes(hostile.SMALL.replace("small", "caf\u00e9").encode("latin-1"))
    code, _, err = hostile.run_in_process(["check", str(tmp_path / "s.yaml")])
    assert code == 2 and "not UTF-8: byte 0xe9 on line 1" in err
    (tmp_path / "s.yaml").write_bytes(b"\xef\xbb\xbf" + hostile.SMALL.encode())
    assert hostile.run_in_process(["check", str(tmp_path / "s.yaml")])[0] == 0


def test_special_files_are_refused_before_opening(tmp_path: Path) -> None:
    """A FIFO opened for reading waits for a writer and /dev/zero never ends: both are refused before opening. A
    blocked open is caught by the corpus's hang deadline (``code`` None), not by the wall clock, which a loaded host
    stretches (the 10 s deadline and a 5 s wall check flaked once under heavy load)."""
    os.mkfifo(tmp_path / "fifo")
    code, _, err = hostile.run_in_process(["run", str(tmp_path / "fifo")])
    assert code == 2 and "FIFO" in err
    code, _, err = hostile.run_in_process(["run", "/dev/zero"])
    assert code == 2 and "a device" in err


def test_alias_bomb_is_bounded_and_errors_do_not_echo_it(tmp_path: Path) -> None:
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, 9):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]\n"
    err = _error(tmp_path, bomb + "name: *i\n")
    assert "aliases expand to more than 100,000 nodes" in err and len(err) < 200


def test_names_are_printable_and_messages_escape_input(tmp_path: Path) -> None:
    err = _error(tmp_path, hostile.SMALL.replace("name: small", 'name: "\\e[31mred"'))
    assert "name: must be printable text; found \\x1b ESCAPE" in err or "name: must be printable" in err
    assert "\x1b" not in err
    code, out, err = hostile.run_in_process(["run", "--set", "name='[bold]x[/bold]'"])
    assert code == 0 and "[bold]x[/bold]" in out  # printable: kept, and printed literally (no rich markup)


def test_set_errors_name_the_command_line(tmp_path: Path) -> None:
    err = _error(tmp_path, hostile.SMALL, "--set", "training.zero_stage=7")
    assert err.startswith("error: <command line>: training.zero_stage:")
    err = _error(tmp_path, hostile.SMALL.replace("{global_batch: 8", "{global_batch: 20"))
    assert err.startswith(f"error: {tmp_path / 's.yaml'}: training.global_batch: 20 is not divisible")
    assert "nearest valid: 16 or 24 (or auto)" in err


def test_quantities_have_physical_ranges(tmp_path: Path) -> None:
    for path, value, words in (
        ("cluster.inter_node.bandwidth", "1e308 TB/s", "outside the physical range of a bandwidth"),
        ("cluster.inter_node.bandwidth", "1e-320 B/s", "outside the physical range of a bandwidth"),
        ("communication.bucket", "1e-300 B", "outside the physical range of a size"),
        ("reliability.node_mtbf", "0 h", "must be greater than 0"),
        ("communication.bucket", "1.1 ZB", "(1 B to 1 ZB)"),
        ("cluster.device.peak_flops", "1.1 ZFLOP/s", "(1 FLOP/s to 1 ZFLOP/s)"),
    ):
        assert words in _error(tmp_path, hostile.SMALL, "--set", f"{path}='{value}'")
    # round 35: the ends the errors name are read (they were unknown units), as 10^21 exactly
    assert (parse_size("1 ZB"), parse_flops("1 ZFLOP/s"), parse_size("1 EiB")) == (1e21, 1e21, 2.0**60)
    # round 36: the prefixes past them are read too, so that the error says the value is too large, not the unit
    # unknown; exact: a millionth of 10^24 bytes is 10^18 (a whole number), a billionth of 2^70 is not
    for text in ("1 ZiB", "1 YB", "2 YiB", "1 QB"):
        with pytest.raises(UnitError, match="outside the physical range of a size"):
            parse_size(text)
    with pytest.raises(UnitError, match="outside the physical range of a compute rate"):
        parse_flops("1 YFLOP/s")
    assert parse_size("1e-6 YB") == 1e18 and parse_size("1e-9 RB") == 1e18
    with pytest.raises(UnitError, match="whole number of bytes"):
        parse_size("1e-9 ZiB")


def test_the_simulator_refuses_work_it_cannot_finish_unless_allowed(tmp_path: Path) -> None:
    err = _error(tmp_path, hostile.SMALL, "--set", "simulation.steps=1000000000", "--engine", "sim")
    assert "simulator would need about" in err and "GiB" in err
    err = _error(tmp_path, hostile.SMALL, "--set", "communication.bucket='100 B'", "--engine", "sim")
    assert "pass --allow-long" in err and "collectives" in err


def test_sweeps_past_100000_points_need_yes(tmp_path: Path) -> None:
    values = ",".join(str(i) for i in range(1, 400))
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    argv = ["sweep", str(tmp_path / "s.yaml"), "--vary", f"variability.seed={values}", "--vary",
            f"training.learning_rate={values}"]  # fmt: skip
    code, _, err = hostile.run_in_process(argv)
    assert code == 2 and "this sweep has 159,201 points" in err and "--yes" in err


def test_plan_says_why_nothing_is_feasible() -> None:
    base = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "64", "--no-progress"]
    code, _, err = hostile.run_in_process([*base, "--tp", "3"])
    assert code == 2 and "TP must divide the model's 25 attention heads" in err
    code, _, err = hostile.run_in_process([*base, "--pp", "1000"])
    assert code == 2 and "must divide the model's 48 layers" in err


def test_oom_is_highlighted_and_can_fail_the_command() -> None:
    code, out, err = hostile.run_in_process(["run", "--set", "model=llama2-7b"])
    assert code == 0 and "OUT OF MEMORY" in out.splitlines()[4]
    code, out, err = hostile.run_in_process(["run", "--set", "model=llama2-7b", "--fail-on-oom"])
    assert code == 3 and err.startswith("oom: ") and "GiB" in err


def test_a_killed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from dpsim.cli_common import atomic_output, install_signal_cleanup\n"
        "install_signal_cleanup()\n"
        "with atomic_output(Path(sys.argv[1]), '--out') as tmp:\n"
        "    tmp.write_text('partial')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(hostile.ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out.csv")], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"writing"
    assert len(list(tmp_path.iterdir())) == 1  # the temporary file exists while writing
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) != 0
    assert list(tmp_path.iterdir()) == []


# --- hypothesis: any value in any field ---------------------------------------------------------

_PATHS = hostile._leaf_paths()
_VALUES = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-300, max_value=1e-300),
    st.booleans(),
    st.none(),
    st.text(max_size=50),
    st.sampled_from(
        ["25 MiB", "1e308 TB/s", "1e-320 B/s", "0 s", "-1 h", "7B", "auto", "ring", "gpt2-xl", "a100-80gb"]
    ),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(_PATHS), value=_VALUES)
@example(path="cluster.device.matmul_efficiency", value=2.8e-301)  # once an infinite step time
@example(path="model.layers", value=1_316_134_912)  # once a list of 10^10 gradient tensors (MemoryError)
def test_any_value_in_any_field_is_accepted_sanely_or_named(path: str, value: Any) -> None:
    from dpsim.analytic.step import predict
    from dpsim.scenario import apply_overrides, read_scenario_data

    data = apply_overrides(read_scenario_data(None), [(path, value)])
    try:
        scenario = scenario_from_dict(data, "s.yaml", overridden=[path])
    except ScenarioError as exc:
        line = exc.one_line()
        assert line.isprintable() and len(line) <= 400
        return
    try:
        result = predict(scenario)
    except ScenarioError as exc:  # e.g. a calibration profile that cannot be read
        assert exc.one_line().isprintable()
        return
    for name in ("step_time_s", "samples_per_s", "memory_per_device_bytes", "comm_s"):
        assert math.isfinite(getattr(result, name)), (path, value, name)


# --- schema and check --format json ---------------------------------------------------------------


def test_schema_accepts_the_bundled_scenarios_and_rejects_bad_types() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
    import json

    from dpsim import inputs

    code, out, err = hostile.run_in_process(["schema"])
    assert code == 0, err
    schema = json.loads(out)
    for path in sorted((hostile.ROOT / "dpsim" / "scenarios").glob("*.yaml")):
        jsonschema.validate(inputs.load_yaml(path.read_text(), str(path)), schema)
    short = {"model": "gpt2-xl", "cluster": {"device": "a100-80gb"}, "training": {"global_batch": "auto"}}
    jsonschema.validate(short, schema)  # presets by name and an automatic batch
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**short, "cluster": {"device": "a100-80gb", "nodes": "two"}}, schema)


def test_check_json_reports_validity_both_ways(tmp_path: Path) -> None:
    import json

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    code, out, _ = hostile.run_in_process(["check", str(tmp_path / "s.yaml"), "--format", "json"])
    data = json.loads(out)
    assert code == 0 and data["valid"] and data["derived"]["world_size"] == 4
    code, out, err = hostile.run_in_process(
        ["check", "-", "--format", "json", "--set", "training.zero_stage=9"], stdin=hostile.SMALL.encode()
    )
    data = json.loads(out)
    assert code == 2 and not data["valid"] and data["error"]["field"] == "training.zero_stage"
    assert data["error"]["source"] == "<command line>" and err.startswith("error: <command line>:")


# --- profiles, shared fabric, executor options, --resume files ---------------------------------------


def test_a_profile_is_checked_like_a_scenario(tmp_path: Path) -> None:
    from dpsim.calibration import LinkModel

    for pattern, replacement, words in (
        (
            r"^(      )latency: .*$",
            r"\1latency: -1 s",
            "links.inter.ring.latency: '-1 s': a measured time must be >= 0",
        ),
        (r"^(      )residual: .*$", r"\1residual: .nan", "links.inter.ring.residual: expected a finite"),
        (r"^(    )2: .*$", r"\g<1>2: -1", "host_model.measured_slowdown.2: expected a finite slowdown > 0"),
        (r"^(      )efficiency: .*$", r"\1efficiency: .nan", f"error: {tmp_path / 'p.yaml'}: links.inter.ring.eff"),
    ):
        (tmp_path / "p.yaml").write_text(hostile.damaged_profile(pattern, replacement))
        argv = ["run", str(hostile.CPU_SCENARIO), "--set", f"calibration.profile={tmp_path / 'p.yaml'}"]
        code, _, err = hostile.run_in_process(argv)
        assert code == 2 and words in err, err
        assert err.count(str(tmp_path)) == 1  # the source is named once, not nested in its own message
    # p = 1e300 underflowed (1e-8)**p to 0 and divided by it: the p-norm of (a, b) is max(a, b) in the limit
    link = LinkModel(1e-4, 1e8, 0.9, 0.0, 0.0, 0, 7e-9, 1e300)
    assert link.per_byte_s(1e8) == pytest.approx(1 / (0.9 * 1e8))
    assert LinkModel(1e-4, 1e8, 0.9, 0.0, 0.0, 0, 7e-9, 2.0).per_byte_s(1e8) == pytest.approx(
        math.hypot(1 / (0.9 * 1e8), 7e-9)
    )


def test_shared_fabric_refuses_options_it_ignored_and_prices_its_work(tmp_path: Path) -> None:
    from dpsim.sim import budget

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    two = ["run", str(tmp_path / "s.yaml"), str(tmp_path / "s.yaml"), "--shared-fabric"]
    code, _, err = hostile.run_in_process([*two, "--engine", "analytic"])
    assert code == 2 and "--engine: a shared fabric is simulated" in err
    code, _, err = hostile.run_in_process([*two, "--set", "model=llama2-7b", "--fail-on-oom"])
    assert code == 3 and err.startswith("oom: ")  # was exit 0: the flag was ignored
    # a flat ring of 512 ranks, 2,490 buckets of 100 KB, 2 jobs: 2 x 2,490 x 2 x 511 steps x 100 us
    sets = ["cluster.nodes=64", "cluster.workers_per_node=8", "training.global_batch=auto",
            "communication.bucket='100 KB'", "communication.algorithm=ring"]  # fmt: skip
    scenario = load_scenario(tmp_path / "s.yaml", overrides=sets)
    buckets = budget.estimate(scenario, "chunk").collectives_per_step
    assert budget.shared_work_s([scenario, scenario]) == pytest.approx(2 * buckets * 2 * 511 * budget.SHARED_STEP_S)
    code, _, err = hostile.run_in_process([*two, *(a for s in sets for a in ("--set", s))])
    assert code == 2 and "(limit 5 minutes); pass --allow-long" in err
    work = budget.SharedWork()
    assert not work.over(1000, 10**6) and work.over(int(budget.LIMIT_S / budget.SHARED_STEP_S) + 1, 0)
    # round 36: the max-min recomputes are charged too (4,096 nodes of 8 GPUs, two jobs, ran for minutes unrefused)
    assert work.over(0, 0, int(budget.LIMIT_S / budget.SHARED_RATE_S) + 1) and not work.over(0, 0, 10**6)
    assert work.spent(10, 20, 30) == pytest.approx(
        10 * budget.SHARED_STEP_S + 20 * budget.SHARED_FLOW_S + 30 * budget.SHARED_RATE_S
    )
    assert not budget.SharedWork(allow_long=True).over(10**12, 10**12)


def test_the_pipeline_schedule_is_priced(tmp_path: Path) -> None:
    from dpsim.sim import budget

    (tmp_path / "p.yaml").write_text(hostile.PIPELINED)
    scenario = load_scenario(tmp_path / "p.yaml", overrides=["training.global_batch=64000", "training.micro_batch=1"])
    # forward and backward x 2 stages x 16,000 micro-batches (64,000 samples over dp 4, one at a time)
    assert budget.pipeline_operations(scenario) == 2 * 2 * 16_000
    interleaved = load_scenario(
        tmp_path / "p.yaml", overrides=["training.pipeline_schedule=interleaved", "training.virtual_stages=3"]
    )
    assert budget.pipeline_operations(interleaved) == 2 * 2 * 8 * 3  # 3 model chunks per stage
    estimate = budget.estimate(scenario)
    # the simulator evaluates the schedule arithmetically: past 8,192 operations only those of two shorter runs
    # (m1 = 2,048 and m0 = 1,024 micro-batches: 4 x 3,072), each charged what they cost (benchmarks/budget_check.py
    # --pipeline), not the simpy pipeline's 80 us
    assert estimate.pipeline_operations == 64_000 and estimate.pipeline_evaluated == 12_288
    assert estimate.seconds >= 12_288 * budget.SCHEDULE_OP_S
    assert "a pipeline schedule of 64,000 stage operations (12,288 evaluated)" in estimate.describe()
    # 8 stages, 250,000 micro-batches: ran in 1.7 s CPU, refused before as 7 minutes (4,000,000 x 80 us)
    long = load_scenario(None, ["training.pipeline_parallel=8", "cluster.nodes=8", "training.global_batch=2000000",
                                "training.micro_batch=1"])  # fmt: skip
    assert budget.check(long).seconds < budget.LIMIT_S


def test_executor_options_are_bounded_and_resume_skips_damaged_lines(tmp_path: Path) -> None:
    import json

    from dpsim.execution import Journal, check_options, max_local_workers

    with pytest.raises(ScenarioError, match=r"at most .* local worker processes"):
        check_options(max_local_workers() + 1, None)
    for address in ("tcp://10.0.0.1:8786", "scheduler.local:8786", "tls://[::1]:8786"):
        check_options(None, address)
    with pytest.raises(ScenarioError, match=r"expected an address like tcp://HOST:8786"):
        check_options(None, "notanaddress")
    path = tmp_path / "j.jsonl"
    lines = [{"fingerprint": "f"}, {"index": 0, "record": {"a": 1}}, [1, 2], {"index": "1", "record": {}},
             {"index": 7, "record": {"a": 2}}, {"index": 1, "record": 5}, {"index": 2, "record": {"a": 3}}]  # fmt: skip
    path.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"index": 3, "rec')
    assert Journal(path, "f").load(count=5) == {0: {"a": 1}, 2: {"a": 3}}


def _one_line(argv: list[str]) -> str:
    code, out, err = hostile.run_in_process(argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), (code, out, err)
    return err.strip()


def test_an_output_never_replaces_an_input_and_unwritable_folders_are_one_line(tmp_path: Path) -> None:
    """``--trace``/``--out`` onto the scenario or the nccl-tests file used to overwrite it (exit 0); ``/proc``
    passed ``os.access`` for root and ended in a traceback from ``mkstemp``."""
    scenario = tmp_path / "s.json"
    scenario.write_text(hostile.SMALL)
    err = _one_line(["run", str(scenario), "--engine", "sim", "--trace", str(scenario)])
    assert "--trace" in err and "is also an input of this command" in err and scenario.read_text() == hostile.SMALL
    nccl = tmp_path / "all_reduce_perf.yaml"
    nccl.write_bytes(hostile.NCCL_TESTS.read_bytes())
    err = _one_line(["calibrate", "--out", str(nccl), "--from-nccl-tests", str(nccl)])
    assert "--out" in err and nccl.read_bytes() == hostile.NCCL_TESTS.read_bytes()
    for argv in (["sweep", str(scenario), "--vary", "training.micro_batch=1,2", "--out", "/proc/x.csv"],
                 ["report", str(scenario), "-o", "/proc/r.html"]):  # fmt: skip
        assert "cannot write '/proc/" in _one_line(argv)
    profile = tmp_path / "p.yaml"  # --base may be --out: the profile is updated in place (an NCCL one: round 26)
    profile.write_bytes(hostile._FITTED_PROFILE)
    code, _, err = hostile.run_in_process(
        ["calibrate", "--out", str(profile), "--base", str(profile), "--from-nccl-tests", str(hostile.NCCL_TESTS)]
    )
    assert code == 0, err


def test_json_inputs_are_bounded_and_strict(tmp_path: Path) -> None:
    """Traces and report inputs: nesting past the parser's stack, duplicate keys and gzip bombs are one line."""
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000)
    assert "nested too deeply" in _one_line(["calibrate", "--out", str(tmp_path / "p.yaml"), "--from-trace", str(deep)])
    dup = tmp_path / "dup.json"
    dup.write_bytes(b'{"step_time_s": 1, "step_time_s": 2, "engine": "analytic"}')
    assert "duplicate key 'step_time_s'" in _one_line(["report", str(dup), "-o", str(tmp_path / "r.html")])
    bomb = tmp_path / "t.json.gz"
    bomb.write_bytes(hostile._gzip_bomb(600 << 20))
    assert len(bomb.read_bytes()) < 2 << 20
    err = _one_line(["calibrate", "--out", str(tmp_path / "p.yaml"), "--from-trace", str(bomb)])
    assert "larger than the 512 MiB limit" in err
    assert not (tmp_path / "p.yaml").exists() and not (tmp_path / "r.html").exists()


def test_sizes_are_whole_distinct_ascii_and_bounded(tmp_path: Path) -> None:
    for sizes, expected in (("1MiB,1MiB", "given twice"), ("1MiB,,2MiB", "empty size"), ("1.5B", "whole number"),
                            (",".join(["1MiB"] * 10_000), "10,000 sizes; at most 48")):  # fmt: skip
        start = time.process_time()
        assert expected in _one_line(["collective", "--sizes", sizes])
        assert time.process_time() - start < 5  # 20,000 sizes used to price for minutes
    assert "expected a size like" in _one_line(["run", "--set", "communication.bucket='\uff15 GB'"])  # '５' was 5


def test_runtime_options_are_checked_before_a_rank_starts(tmp_path: Path) -> None:
    """calibrate/validate options that started 10^23 processes, allocated 1 EB, ran 10^12 reps or tracebacked."""
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    calibrate = ["calibrate", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "p.yaml")]
    for extra, expected in ((("--ranks", "100000"), "--ranks: expected at most"),
                            (("--sizes", "0B"), "--sizes: expected sizes > 0 B"),
                            (("--sizes", "1EB"), "more than half of this machine's"),
                            (("--max-residual", "nan"), "--max-residual"), (("--rates", "0 Mbit/s"), "--rates"),
                            (("--reps", "1000000000000"), "--reps")):  # fmt: skip
        assert expected in _one_line([*calibrate, *extra])
    validate = ["validate", str(tmp_path / "s.yaml"), "--case", "training.micro_batch=2"]
    assert "the runtime has no 'auto' all-reduce" in _one_line(validate)  # it was a ValueError traceback
    ring = [*validate, "--set", "communication.algorithm=ring"]
    for extra, expected in ((("--timeout", "nan"), "--timeout"), (("--out-dir", str(tmp_path / "s.yaml")), "a file"),
                            (("--steps", "1000000000000"), "--steps")):  # fmt: skip
        assert expected in _one_line([*ring, *extra])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]  # nothing written


def test_a_refused_deepspeed_simulation_names_the_buckets_that_size_it() -> None:
    """DeepSpeed ZeRO reduces in reduce_bucket_size buckets and ZeRO-3 gathers in prefetch_bucket_size pieces
    (dpsim.sharding.collective_pieces), so a simulation refused for its collective count names the field of
    the collectives there are most of: enlarging communication.bucket would change nothing. (Buckets of one
    element hold one whole tensor each, 580 of GPT-2 XL's: 2,000 micro-batches make them too many.)"""
    from dpsim.errors import ScenarioError
    from dpsim.sim import budget

    sets = ["training.zero_stage=2", "training.deepspeed_reduce_bucket_size=1", "training.global_batch=512000"]
    with pytest.raises(ScenarioError, match=r"1,160,000 gradient reduce-scatters a step \(a larger "
                       r"training\.deepspeed_reduce_bucket_size, fewer micro-batches"):  # fmt: skip
        budget.check(load_scenario(None, overrides=sets))
    three = ["training.zero_stage=3", "training.deepspeed_prefetch_bucket_size=1"]
    gathers = r"parameter all-gathers before the passes a step \(fewer micro-batches \(training\.micro_batch, "
    with pytest.raises(
        ScenarioError, match=gathers + r"global_batch\), a larger training\.deepspeed_prefetch_bucket_size\)"
    ):
        budget.check(load_scenario(None, overrides=three))
    with pytest.raises(ScenarioError, match=r"gradient all-reduces a step \(a larger communication\.bucket\)"):
        budget.check(load_scenario(None, overrides=["communication.bucket='1 KB'"]))


def test_the_budget_counts_the_collectives_the_simulator_runs(tmp_path: Path) -> None:
    """ZeRO-2/3 and FSDP reduce-scatter every micro-batch (dpsim.sharding.step_traffic): the budget's count is
    the simulator's own (simulate._collective_count of its step plan); it used to count one reduction a step."""
    from dpsim.sim import budget
    from dpsim.sim.simulate import _collective_count, step_plan
    from dpsim.sim.worker import compute_model

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    fsdp, z2, z3 = "training.optimizer_sharding=fsdp", "training.zero_stage=2", "training.zero_stage=3"
    cases = [["training.zero_stage=1"], [z2], [z3], [z3, "training.deepspeed_prefetch_bucket_size=0"], [z2, fsdp],
             [z3, fsdp, "training.fsdp_shard_group=2"]]  # fmt: skip
    for sets in cases:
        s = load_scenario(tmp_path / "s.yaml", overrides=["training.global_batch=32", *sets])
        model = compute_model(s)
        plan = step_plan(s, model.optimizer_s, model.forward_s, model.backward_s)
        assert budget.estimate(s).collectives_per_step == _collective_count(plan), sets
    # ZeRO-2 by hand: 124.4 M bf16 gradients in 500 M-element buckets, one a micro-batch, 4 micro-batches
    zero2 = load_scenario(tmp_path / "s.yaml", overrides=["training.global_batch=32", "training.zero_stage=2"])
    assert budget.estimate(zero2).collectives_per_step == 4 + 1  # + the post-step all-gather


def test_a_refused_shared_fabric_names_what_bounds_its_cost(tmp_path: Path) -> None:
    """The refusal names the part that costs most and the fields that set its count: a larger bucket cuts
    gradient buckets, not tensor-parallel all-reduces nor ZeRO-3's per-layer gathers (it used to advise
    "enlarge communication.bucket" for all three)."""
    from dpsim.sim import budget

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    two = ["run", str(tmp_path / "s.yaml"), str(tmp_path / "s.yaml"), "--shared-fabric"]

    def refusal(*sets: str) -> str:
        code, out, err = hostile.run_in_process([*two, *(a for s in sets for a in ("--set", s))])
        assert code == 2 and not out and err.count("\n") == 1 and "(limit 5 minutes); pass --allow-long" in err
        return err

    # GPT-2 small, TP 2 on 2 x 2 ranks: dp 2, 200,000 micro-batches of 1, 12 layers x 4 TP all-reduces each
    # = 9.6 M a step in each of pp x dp = 2 TP groups, 2 (tp - 1) = 2 events each: 3,840 s a job at 100 us
    err = refusal("training.tensor_parallel=2", "training.global_batch=400000", "training.micro_batch=1")
    assert "1.07 hours: job 1's 9,600,000 tensor-parallel all-reduces a step (2 groups, 2 events each)" in err
    assert "fewer micro-batches (training.micro_batch, global_batch)" in err and "bucket" not in err
    # DeepSpeed ZeRO-3 without prefetch on 128 ranks: a gather a layer (12) a forward, 4,000 micro-batches (the
    # backward gathers nothing: GPT-2 small is within stage3_max_reuse_distance), 2 x 127 ring steps each
    err = refusal("cluster.nodes=16", "cluster.workers_per_node=8", "training.zero_stage=3",
                  "training.deepspeed_prefetch_bucket_size=0", "training.global_batch=512000",
                  "training.micro_batch=1", "communication.algorithm=ring")  # fmt: skip
    assert "job 1's 48,000 parameter all-gathers before the passes a step (254 events each)" in err
    assert "a nonzero training.deepspeed_prefetch_bucket_size" in err and "communication.bucket" not in err
    # DDP with 100 KB buckets on 512 ranks: the gradient buckets, cut by communication.bucket
    err = refusal("cluster.nodes=64", "cluster.workers_per_node=8", "training.global_batch=auto",
                  "communication.bucket='100 KB'", "communication.algorithm=ring")  # fmt: skip
    assert "gradient all-reduces a step (1,022 events each); a larger communication.bucket, or fewer ranks" in err
    # the run-time count names the part with the most events, an auto schedule's at one event at least each:
    # 2 micro-batches x 12 layers x 4 = 96 TP all-reduces x 2 groups x 2 events, against 5 gradient buckets x 2
    scenario = load_scenario(tmp_path / "s.yaml", overrides=["training.tensor_parallel=2"])
    work = budget.check_shared([scenario, scenario])
    message = work.error(10**7, 0, 1.0).message
    assert "Most events: job 1's 96 tensor-parallel all-reduces a step (2 groups, 2 events each)" in message


def test_numbers_too_small_for_a_float_are_named_not_read_as_zero(tmp_path: Path) -> None:
    """1e-400 was read as exactly 0 (every range check passes 0) while 1e-320, a larger number, was refused."""
    for item, field in (("training.memory_reserve=1e-400", "training.memory_reserve"),
                        ("variability.compute_jitter_cv=-2.5e-400", "variability.compute_jitter_cv"),
                        ("cluster.intra_node.latency='1e-400 s'", "cluster.intra_node.latency"),
                        ("reliability.restart='1e-330 ns'", "reliability.restart")):  # fmt: skip
        line = _one_line(["check", str(hostile.DEFAULT), "--set", item])
        assert f"<command line>: {field}: " in line and "too small for a float" in line
    for item in ("training.memory_reserve=0", "training.memory_reserve=0.0e-500", "variability.compute_jitter_cv=0e9"):
        assert load_scenario(None, [item]) is not None  # zero written as zero stays fine
    with pytest.raises(ScenarioError, match="line 1: '1e-400' is too small"):
        hostile_yaml("x: 1e-400\n")


def hostile_yaml(text: str) -> Any:
    from dpsim.inputs import load_yaml

    return load_yaml(text, "t.yaml")


def test_a_bool_is_not_the_catalog_none_and_quotes_stay_short() -> None:
    # matmul_efficiency: false equalled the catalog's 0 ("no GEMM curve") and was dropped without a word
    line = _one_line(["check", str(hostile.DEFAULT), "--set", "cluster.device.matmul_efficiency=false"])
    assert line.endswith("cluster.device.matmul_efficiency: expected a number, got False")
    line = _one_line(["check", str(hostile.DEFAULT), "--set", "cluster.device.memory='1" + "0" * 400 + " GB'"])
    assert len(line) < 200 and line.endswith("...")  # the value quoted at most 60 characters, not 404


def test_the_error_names_the_field_the_command_line_set(tmp_path: Path) -> None:
    # `calibration.foo` made a calibration section without its profile: the error was about the profile
    assert _one_line(["check", str(hostile.DEFAULT), "--set", "calibration.foo=1"]) == (
        "error: <command line>: calibration.foo: unknown key (expected one of: profile)"
    )


def test_a_preset_the_command_line_clears_is_blamed_not_the_file(tmp_path: Path) -> None:
    # `--set model.preset=null` left the default's model without layers: the error blamed default.yaml's model.layers
    assert _one_line(["run", "--set", "model.preset=null"]) == (
        "error: <command line>: model.preset: without a preset, model.layers: a transformer needs layers > 0 "
        "(or a preset)"
    )
    assert _one_line(["check", str(hostile.DEFAULT), "--set", "cluster.device.preset=null"]) == (
        "error: <command line>: cluster.device.preset: without a preset, cluster.device.peak_flops: required field "
        "is missing"
    )
    # the file's own fault stays the file's: a preset the command line changes, or one the file never had
    bad = hostile.SMALL.replace("{preset: gpt2-small}", "{preset: gpt2-small, layers: 0}")
    assert _error(tmp_path, bad, "--set", "model.preset=gpt2-medium").startswith(f"error: {tmp_path / 's.yaml'}: ")
    bare = hostile.SMALL.replace("{preset: gpt2-small}", "{hidden: 768, heads: 12, layers: 0}")
    assert _error(tmp_path, bare, "--set", "model.hidden=1024").startswith(f"error: {tmp_path / 's.yaml'}: ")


def test_damaged_profiles_name_the_key_and_write_nothing(tmp_path: Path) -> None:
    text = hostile.PROFILE.read_text(encoding="utf-8")
    scenario = str(hostile.CPU_SCENARIO)
    colour = hostile.damaged_profile(r"^(      )latency: .*$", r"\1latency: 1 us\n      colour: 1")
    for damaged, expected in (
        (text + "gradient_ready: [[0.5, true], [1.0, 1.0]]\n", "gradient_ready: fractions must be numbers, got True"),
        (colour, "links.inter.ring.colour: unknown key (expected one of: bandwidth, "),
    ):
        (tmp_path / "p.yaml").write_text(damaged)
        profile = str(tmp_path / "p.yaml")
        assert expected in _one_line(["run", scenario, "--set", f"calibration.profile={profile}"])
        sweep = ["sweep", scenario, "--set", f"calibration.profile={profile}", "--vary", "training.micro_batch=1,2"]
        assert expected in _one_line([*sweep, "--out", str(tmp_path / "o.csv")])
        validate = ["validate", scenario, "--profile", profile, "--set", "communication.algorithm=ring", "--case",
                    "training.micro_batch=2", "--out-dir", str(tmp_path / "v")]  # fmt: skip
        assert expected in _one_line(validate)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["p.yaml"]  # no o.csv.partial.jsonl, no v/
    latency = hostile.damaged_profile(r"^(      )latency: .*$", r"\1latency: 1e-400 s")
    (tmp_path / "p.yaml").write_text(latency)
    assert "links.inter.ring.latency: '1e-400 s' is too small" in _one_line(
        ["run", scenario, "--set", f"calibration.profile={tmp_path / 'p.yaml'}"]
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RANK": "nan", "WORLD_SIZE": "inf"}, "RANK: expected a whole number >= 0 as torchrun sets it, got 'nan'"),
        ({"RANK": "5", "WORLD_SIZE": "2"}, "RANK: expected a rank below WORLD_SIZE=2, got 5"),
        ({"RANK": "0"}, "WORLD_SIZE: not set, but RANK is"),
        ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE: expected 1 .. 1,048,576 ranks, got 0"),
        ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "4"}, "LOCAL_WORLD_SIZE: expected 1 .. WORLD_SIZE=2"),
    ],
)
def test_torchrun_variables_are_checked_before_anything_runs(
    env: dict[str, str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RANK=nan was an int() traceback in the runtime; RANK alone started the local testbed (minutes)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    for argv in (["calibrate", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "p.yaml")],
                 ["validate", str(tmp_path / "s.yaml"), "--set", "communication.algorithm=ring", "--case",
                  "training.micro_batch=2", "--out-dir", str(tmp_path / "v")]):  # fmt: skip
        assert _one_line(argv).startswith(f"error: <environment>: {expected}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


# --- the hostile helper's findings (plan lists, report shapes, loader work, repeated options) ------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([*hostile._PLAN, "--tp", "1,1"], "--tp: lists '1' more than once"),
        ([*hostile._PLAN, "--recompute", "none,"], "--recompute: empty entry in 'none,'"),
        ([*hostile._PLAN, "--tp", "\u0661"], "--tp: expected comma-separated integers"),
        ([*hostile._PLAN, "--global-batch", "1" + "0" * 29], "--global-batch: must be between 1 and 8,589,934,592"),
        ([*hostile._PLAN, "--top", "1000000000000"], "--top: must be between 1 and 500"),
        ([*hostile._PLAN, "--price", "1e-400"], "--price: '1e-400' is too small for a float"),
        (["collective", "--size", ""], "--size: expected a size"),
        (["run", "--engine", ""], "--engine: expected one of analytic, sim, got ''"),
    ],
)
def test_options_once_accepted_or_a_traceback_are_named(argv: list[str], expected: str) -> None:
    """--tp 1,1 searched every layout twice, --tp ١ read as 1, --global-batch 10^29 was an OverflowError
    traceback, --top 10^12 re-checked every configuration (minutes), --size '' and --engine '' were the default."""
    assert expected in _one_line(argv)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        (
            "f.json",
            b'{"step_time_s": "x", "engine": "analytic"}',
            "step_time_s: expected a finite number >= 0, got 'x'",
        ),
        ("k.json", b'{"traceEvents": 5}', "traceEvents: expected a list of events, got 5"),
        ("m.json", b'{"ranked": [{"step_time_s": "fast"}]}', "ranked.0.step_time_s: expected a finite number >= 0"),
        ("t.csv", b"step_time_s\nabc\n", "without the column(s) world_size, samples_per_s, scaling_efficiency"),
        ("v.jsonl", b"1\n", "v.jsonl:1: expected a record (a JSON object), got 1"),
    ],
)
def test_report_refuses_json_that_is_not_a_result(name: str, data: bytes, expected: str, tmp_path: Path) -> None:
    """Each was a TypeError/KeyError/ValueError traceback (or a page of nothing) in dpsim.html_report."""
    (tmp_path / name).write_bytes(data)
    assert expected in _one_line(["report", str(tmp_path / name), "-o", str(tmp_path / "r.html")])
    assert not (tmp_path / "r.html").exists()


def test_a_million_vary_values_are_counted_before_they_are_read(tmp_path: Path) -> None:
    """Each --vary value is read as YAML: a million of them took minutes before the 100,000-point refusal."""
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    values = ",".join(str(i) for i in range(1, 1_000_001))
    start = time.process_time()  # this process's CPU: the work, which other processes on the host do not stretch
    err = _one_line(["sweep", str(tmp_path / "s.yaml"), "--vary", f"variability.seed={values}"])
    assert "1,000,000 points (more than 100,000); pass --yes" in err and time.process_time() - start < 10
    err = _one_line(["sweep", str(tmp_path / "s.yaml"), "--vary", f"variability.seed={values}", "--vary",
                     "training.micro_batch=1,2", "--yes"])  # fmt: skip
    assert "2,000,000 points, more than the 1,000,000 one sweep runs (even with --yes)" in err


def test_a_one_rank_collective_prints_no_infinite_bandwidth() -> None:
    """On one rank a collective moves nothing in 0 s: algbw was printed as 'inf' (table and CSV)."""
    one = ["collective", "--set", "cluster.nodes=1", "--set", "cluster.workers_per_node=1", "--size", "1 TB"]
    code, out, _ = hostile.run_in_process([*one, "--format", "csv"])
    assert code == 0 and out.splitlines()[1].split(",")[2:5] == ["0.0", "", "0.0"]  # time, algbw (none), busbw
    code, out, _ = hostile.run_in_process(one)
    assert code == 0 and "inf" not in out


@pytest.mark.parametrize("argv", [["run", "-"], ["check", "-"], ["report", "-", "-o", "r.html"]])
def test_a_closed_stdin_or_stdout_is_one_line(argv: list[str], tmp_path: Path) -> None:
    """`dpsim run - <&-`: sys.stdin is None, and reading it was an AttributeError traceback; `dpsim run >&-`
    (sys.stdout None) was one too, at the first print."""
    env = {**os.environ, "PYTHONPATH": str(hostile.ROOT)}
    command = " ".join([f'"{sys.executable}"', "-m", "dpsim.cli", *argv])
    proc = subprocess.run(f"{command} <&-", shell=True, capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: <stdin>: standard input is closed: give a file, or pipe the input into -"  # report named it "-"
    ]
    assert not (tmp_path / "r.html").exists()
    if argv[0] == "run":
        closed = subprocess.run(f'"{sys.executable}" -m dpsim.cli run >&-', shell=True, capture_output=True,
                                text=True, cwd=tmp_path, env=env, timeout=120, check=False)  # fmt: skip
        assert closed.returncode == 0 and "Traceback" not in closed.stderr


def test_a_sweep_of_many_series_is_drawn_in_seconds(tmp_path: Path) -> None:
    """A 20,000-point sweep of one seed a point: 40,000 named lines and a legend of 20,000 took 170 s in
    `dpsim report` (and `sweep --plot`); past 20 series they are one set of points, at most 5,000 drawn."""
    rows = [b"step_time_s,world_size,samples_per_s,scaling_efficiency,compute_s,variability.seed"]
    rows += [b"0.1,%d,100,0.9,0.05,%d" % (4 + i, i) for i in range(20_000)]
    (tmp_path / "s.csv").write_bytes(b"\n".join(rows) + b"\n")
    start = time.process_time()  # this process's CPU (the drawing), not the loaded host's wall clock
    code, _, err = hostile.run_in_process(["report", str(tmp_path / "s.csv"), "-o", str(tmp_path / "r.html")])
    assert code == 0 and "Warning" not in err and time.process_time() - start < 60
    assert (tmp_path / "r.html").stat().st_size < 3_000_000  # 20,000 markers were 4.5 MB of SVG


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [("aten::linear", "Sequence number", "x"), ("aten::linear", "Sequence number", [1]),
     ("torch::autograd::AccumulateGrad", "Input Dims", 5), ("torch::autograd::AccumulateGrad", "Input type", 5),
     ("torch::autograd::AccumulateGrad", "Input Dims", [[-16, 16]]),
     ("torch::autograd::AccumulateGrad", "Input Dims", [[1 << 62, 1 << 62]]), ("c10d::allreduce_", "Input Dims", 5)],
)  # fmt: skip
def test_a_trace_field_of_the_wrong_type_is_named(name: str, key: str, value: object) -> None:
    import json

    from dpsim.ingest.kineto import parse_trace

    data = json.loads(hostile._kineto_trace(hostile._set_arg(name, key, value)))
    with pytest.raises(ScenarioError, match=f"event '{name}': '{key}'") as caught:
        parse_trace(data, "t.json")  # was int()'s ValueError/TypeError, 'int' object is not subscriptable, ...
    assert caught.value.source == "t.json" and caught.value.field == "traceEvents"


def test_trace_layers_nest_by_interval_in_linear_time() -> None:
    import json

    from dpsim.ingest.kineto import parse_trace

    # a wrapper with the model's very interval (the first listed is the outer one): the layers are the model's
    step = parse_trace(json.loads(hostile._kineto_trace(hostile._modules(1, nested=True))), "t.json")
    assert [layer.name for layer in step.layers] == ["Linear_0", "Linear_1"]  # was max() of no root
    # 5,000 more layers side by side inside Linear_0's end and Linear_1's start (0.5 us each, 0.8 us apart)
    start = time.process_time()
    step = parse_trace(json.loads(hostile._kineto_trace(hostile._modules(5_000, nested=False))), "t.json")
    assert [layer.name for layer in step.layers[:3]] == ["Linear_0", "Linear_2", "Linear_3"]
    assert len(step.layers) == 5_002 and step.layers[-1].name == "Linear_1"
    assert time.process_time() - start < 5  # about 0.1 s; each module searched for its parent took 10 s
    start = time.process_time()
    step = parse_trace(json.loads(hostile._kineto_trace(hostile._gradients(20_000))), "t.json")
    assert len(step.gradients) == 20_002 and step.gradients[-1][0] == 16  # 4 floats each: their ops were found
    assert time.process_time() - start < 5  # about 0.4 s; each node searched every op: 28 s


def test_a_profile_that_would_not_reload_is_not_written(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    (tmp_path / "t.json").write_bytes(hostile._kineto_trace(hostile._modules(20_000, nested=False)))
    argv = ["calibrate", str(tmp_path / "s.yaml"), "--from-trace", str(tmp_path / "t.json")]
    code, _, err = hostile.run_in_process([*argv, "--out", str(tmp_path / "p.yaml")])
    assert code == 2 and err.startswith("error: <command line>: --out: the profile would not load back"), err
    assert not (tmp_path / "p.yaml").exists()  # was written, then refused by its own reload


@pytest.mark.parametrize(
    ("prices", "expected"),
    [(["nope=2", "1.5"], "'nope=2': unknown device 'nope'"), (["=3"], "'=3': unknown device ''"),
     (["a100-80gb=1=2"], "unknown device 'a100-80gb=1'")],
)  # fmt: skip
def test_a_price_for_a_device_the_catalog_lacks_is_named(prices: list[str], expected: str) -> None:
    argv = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8", "--simulate", "0"]
    code, _, err = hostile.run_in_process([*argv, *(a for p in prices for a in ("--price", p))])
    assert code == 2 and err.startswith("error: <command line>: --price: ") and expected in err, err
    # a price for a known device the plan does not search stays valid
    code, _, err = hostile.run_in_process([*argv, "--no-progress", "--price", "h100-sxm=3", "--price", "1.5"])
    assert code == 0, err


@pytest.mark.parametrize("option", ["--backend", "--run-dir", "--out", "--trace"])
def test_an_empty_runtime_option_is_not_the_default(option: str) -> None:
    pytest.importorskip("torch")
    code, _, err = hostile.run_in_process([hostile._RUNTIME_SCENARIO, option, ""], program="runtime")
    assert code == 2 and err.strip() == f"error: <command line>: argument {option}: expected a value, got ''", err


def test_plots_are_drawn_whatever_mplbackend_says(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    argv = ["sweep", str(tmp_path / "s.yaml"), "--vary", "training.zero_stage=0,1", "--plot", str(tmp_path / "p.png")]
    env = {**os.environ, "MPLBACKEND": "bogus", "MPLCONFIGDIR": "/proc/no-such-folder"}
    env["PYTHONPATH"] = str(hostile.ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "dpsim.cli", *argv], capture_output=True, text=True, env=env)
    # was a ValueError traceback from matplotlib's import; the settings folder two warnings on stderr
    assert proc.returncode == 0 and proc.stderr == "" and (tmp_path / "p.png").stat().st_size > 0, proc.stderr


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")), max_size=12))
@example("1e3")
@example("0o10")
@example(".NaN")
@example("-.Inf")
@example("+12E3")
@example("TRUE")
@example("Null")
@example("")
def test_dumped_text_reads_back_as_the_same_text(text: str) -> None:
    from dpsim.inputs import dump_yaml, load_yaml

    data = {"name": text, "list": [text], text: 1} if text else {"name": text}
    assert load_yaml(dump_yaml(data), "<dump>") == data  # '1e3' was written bare and read back as 1000.0


def test_check_dump_of_a_name_yaml_reads_as_a_number_runs(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(hostile.SMALL.replace("name: small", "name: '1e3'"))
    code, dumped, err = hostile.run_in_process(["check", str(tmp_path / "s.yaml"), "--dump"])
    assert code == 0 and "name: '1e3'" in dumped, err
    (tmp_path / "d.yaml").write_text(dumped)
    code, _, err = hostile.run_in_process(["run", str(tmp_path / "d.yaml")])
    assert code == 0, err  # was "name: Input should be a valid string (got 1000.0)"


# --- round 9: signals, torchrun's rendezvous, report -, option ranges ---------------------------------------------


def test_ctrl_c_mid_sweep_is_one_line_keeps_the_finished_points_and_writes_no_table(tmp_path: Path) -> None:
    (case,) = [c for c in hostile.signals_mid_command() if c.signal == signal.SIGINT and "--workers" not in c.argv]
    outcome = hostile.run_case(case, tmp_path)
    # typer turned Ctrl-C into a silent exit 130: nothing said why the sweep stopped
    assert outcome.code == 130 and outcome.stderr == "error: stopped by SIGINT", outcome.stderr
    assert not (tmp_path / "o.csv").exists() and not list(tmp_path.glob(".o.csv.*"))
    lines = (tmp_path / "o.csv.partial.jsonl").read_text().splitlines()
    assert len(lines) >= 2  # the header and the points finished before the signal, for --resume


def test_a_signal_a_process_was_started_ignoring_stays_ignored() -> None:
    script = (
        "import signal\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "from dpsim.cli_common import install_signal_cleanup\n"
        "install_signal_cleanup()\n"
        "print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(hostile.ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert proc.stdout.split() == ["True", "False"]  # under nohup a closed terminal stopped the sweep all the same


def test_dask_workers_print_nothing_when_the_dashboard_port_is_taken() -> None:
    import socket
    import warnings

    from dpsim.execution import open_executor

    with socket.socket() as held:
        with contextlib.suppress(OSError):  # Dask's default port; another cluster may hold it already
            held.bind(("0.0.0.0", 8787))
        with warnings.catch_warnings(record=True) as caught, open_executor(1, processes=False) as executor:
            warnings.simplefilter("always")
            assert executor.map(abs, [-1, -2]) == [1, 2]
    # was "UserWarning: Port 8787 is already in use ... Hosting the HTTP server on port N instead" on stderr
    assert not [w for w in caught if "already in use" in str(w.message)]


_RENDEZVOUS = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1"}


@pytest.mark.parametrize(
    ("program", "argv", "env", "expected"),
    [
        ("dpsim", ["calibrate", "{s}", "--out", "{tmp}/p.yaml"], {"MASTER_PORT": "29500", "MASTER_ADDR": ""},
         "<environment>: MASTER_ADDR: not set"),
        ("dpsim", ["calibrate", "{s}", "--out", "{tmp}/p.yaml"], {"MASTER_PORT": "99999"},
         "<environment>: MASTER_PORT: expected a TCP port"),
        ("dpsim", ["calibrate", "{s}", "--out", "{tmp}/p.yaml"], {"MASTER_PORT": "29500"},
         "<environment>: WORLD_SIZE: expected at least 2 ranks"),
        ("runtime", ["{s}", "--set", "communication.algorithm=ring"], {"MASTER_PORT": "29500"},
         "cluster.workers_per_node: is 2, but torchrun started 1"),
        ("runtime", ["{s}", "--set", "communication.algorithm=ring", "--set", "cluster.nodes=1", "--set",
                     "cluster.workers_per_node=1", "--set", "training.global_batch=2"],
         {"MASTER_PORT": "29500", "DPSIM_RUN_DIR": "{s}"}, "<environment>: DPSIM_RUN_DIR: "),
    ],
)  # fmt: skip
def test_torchrun_variables_and_shape_are_refused_before_the_group_is_joined(
    program: str, argv: list[str], env: dict[str, str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    for name, value in {**_RENDEZVOUS, **env}.items():
        if value:
            monkeypatch.setenv(name, value.replace("{s}", str(tmp_path / "s.yaml")))
        else:
            monkeypatch.delenv(name, raising=False)
    args = [a.replace("{s}", str(tmp_path / "s.yaml")).replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = hostile.run_in_process(args, program=program)  # the corpus deadline (a rendezvous waits 300 s)
    # each was a traceback from torch's env:// rendezvous, from a rank once it had joined, or from mkdir
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


def test_the_runtime_refuses_model_parallelism_before_any_rank_starts(tmp_path: Path) -> None:
    from runtime.job import check_supported

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    for field in ("tensor_parallel", "pipeline_parallel"):
        scenario = load_scenario(tmp_path / "s.yaml", ["communication.algorithm=ring", f"training.{field}=2"])
        with pytest.raises(ScenarioError) as caught:
            check_supported(scenario)  # was found by each rank once joined (under torchrun: a wait for the others)
        assert caught.value.field == f"training.{field}"


def test_the_runtime_refuses_a_degraded_nic_it_cannot_run(tmp_path: Path) -> None:
    """Nothing in the runtime reads ``variability.degraded_links`` (every node's NICs run at the testbed's rate): it
    ran without it, and ``dpsim validate`` compared that run with a prediction through the slowed NIC. Refused before
    any rank starts, naming the field, nothing written (on the old code validate began calibrating)."""
    pytest.importorskip("torch")
    from runtime.job import check_supported

    cpu = hostile.CPU_SCENARIO
    degraded = "variability.degraded_links=[{node: 1, factor: 0.5}]"
    with pytest.raises(ScenarioError) as caught:
        check_supported(load_scenario(cpu, [degraded]))
    assert caught.value.field == "variability.degraded_links"
    check_supported(load_scenario(cpu))  # the same scenario without it runs
    code, _, err = hostile.run_in_process(["validate", str(cpu), "--case", degraded, "--out-dir", str(tmp_path / "v")])
    assert code == 2 and err.startswith("error: ") and "variability.degraded_links" in err, err
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize(("items", "field"), hostile._UNRUN_SETTINGS)
def test_settings_the_runtime_does_not_run_are_refused_before_any_rank_starts(
    items: tuple[str, ...], field: str, tmp_path: Path
) -> None:
    """Round 22. Each was priced by both engines and run by nothing in the runtime (``communication.dtype: bf16``
    halved the CPU scenario's predicted step while its DDP reduced fp32): on the old code ``check_supported`` let
    every one through and ``dpsim validate`` began calibrating. Refused naming the field, nothing written."""
    _refused_before_any_rank(items, field, tmp_path)


def test_the_dtype_the_runtime_reduces_in_is_accepted_when_named() -> None:
    """The refusal is of a dtype the runtime does not run, not of the field: DDP reduces autocast's fp32 gradients
    and FSDP2 its ``MixedPrecisionPolicy``'s bf16 (``runtime.job.shard_units``: ``reduce_dtype=param_dtype``), so
    naming those runs; ``overlap: false`` under DDP is the communication hook's (held to the last bucket)."""
    pytest.importorskip("torch")
    from runtime.job import check_supported

    fsdp = ["training.precision=bf16", "training.zero_stage=2", "training.optimizer_sharding=fsdp"]
    for items in (["communication.dtype=fp32"], ["training.precision=bf16", "communication.dtype=fp32"],
                  ["training.gradient_dtype=fp32"], [*fsdp, "communication.dtype=bf16"], fsdp,
                  ["communication.overlap=false"]):  # fmt: skip
        check_supported(load_scenario(hostile.CPU_SCENARIO, items))


_VALIDATE_FLAGS = [(["--device", "tpu"], "--device"), (["--nccl-pin"], "--nccl-pin"),
                   (["--nccl-debug"], "--nccl-debug"), (["--device", "cuda"], "--device")]  # fmt: skip


@pytest.mark.parametrize(("extra", "option"), _VALIDATE_FLAGS)
def test_validate_judges_its_options_before_making_its_folder(extra: list[str], option: str, tmp_path: Path) -> None:
    """Round 22: ``--out-dir`` was made before ``--device`` and the NCCL flags were judged, and left empty."""
    pytest.importorskip("torch")
    argv = ["validate", str(hostile.CPU_SCENARIO), "--out-dir", str(tmp_path / "v"), *extra]
    code, _, err = hostile.run_in_process(argv)
    assert code == 2 and f"{option}: " in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize("extra", [["--nccl-pin"], ["--nccl-debug"], ["--device", "cuda"]])
def test_validate_and_the_runtime_refuse_a_device_option_in_one_line(extra: list[str], tmp_path: Path) -> None:
    """Stop 42: ``dpsim validate`` and ``python -m runtime`` refuse the NCCL flags on CPU ranks and ``--device cuda``
    outside torchrun with the same line (``dpsim.cli_runtime.check_nccl_options`` / ``refuse_cuda_outside_torchrun``;
    they were twins in other words: "NCCL runs on GPUs: add --device cuda" / "(--device cuda under torchrun)", and
    the runtime's --device line named no source); an algorithm NCCL lacks, pinned, names its field in both."""
    pytest.importorskip("torch")
    code, _, validate = hostile.run_in_process(
        ["validate", str(hostile.CPU_SCENARIO), "--out-dir", str(tmp_path / "v"), *extra]
    )
    assert code == 2
    code, _, runtime = hostile.run_in_process([str(hostile.CPU_SCENARIO), *extra], program="runtime")
    assert code == 2 and runtime == validate and len(runtime.strip().splitlines()) == 1, (runtime, validate)
    from runtime.nccl import nccl_settings

    with pytest.raises(ScenarioError) as caught:
        nccl_settings(load_scenario(hostile.CPU_SCENARIO, ["communication.algorithm=halving-doubling"]))
    assert caught.value.field == "communication.algorithm" and "no NCCL equivalent" in caught.value.message


def test_an_empty_path_option_is_refused_not_read_as_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round 22: typer reads ``--out-dir ''`` as ``Path('.')``: validate calibrated (a ``calibration/`` folder of rank
    logs) and would have written its table into the working folder. Every path option refuses empty text."""
    pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)
    for argv, option in ((["validate", str(hostile.CPU_SCENARIO), "--out-dir", ""], "--out-dir"),
                         (["validate", str(hostile.CPU_SCENARIO), "--profile", ""], "--profile"),
                         (["run", str(hostile.CPU_SCENARIO), "--trace", ""], "--trace")):  # fmt: skip
        code, _, err = hostile.run_in_process(argv)
        assert code == 2 and err.startswith(f"error: <command line>: {option}: '' is empty"), err
    assert list(tmp_path.iterdir()) == []


def test_validate_refuses_a_profile_measured_on_the_other_backend(tmp_path: Path) -> None:
    """Round 22: validate's cases run gloo on CPU ranks; an NCCL profile priced them on GPUs' links and compute (it
    began measuring). Refused naming ``--profile``; the same profile as gloo's is read as before."""
    pytest.importorskip("torch")
    (tmp_path / "nccl.yaml").write_bytes(hostile._other_backend_profile())
    argv = ["validate", str(hostile.CPU_SCENARIO), "--profile", str(tmp_path / "nccl.yaml"), "--out-dir",
            str(tmp_path / "v")]  # fmt: skip
    code, _, err = hostile.run_in_process(argv)
    assert code == 2 and "--profile: " in err and "measured with nccl" in err and "run gloo" in err, err
    assert not (tmp_path / "v").exists()


def test_a_signal_in_the_launcher_is_stopped_and_an_ignored_one_stays_ignored() -> None:
    """Round 22: ``signals_as_exceptions`` raised a plain ``SystemExit(143)`` on SIGTERM (``dpsim validate`` ended
    without a word) and left SIGINT to ``KeyboardInterrupt`` (a traceback from ``python -m runtime``). Now each is
    :class:`dpsim.cli_common.Stopped` (status 128 + the signal, its name for the one line); a signal the process
    was started ignoring (``nohup``'s SIGHUP) stays ignored; the handlers are restored on leaving."""
    pytest.importorskip("torch")
    from dpsim.cli_common import Stopped
    from runtime.launch import signals_as_exceptions

    before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        # Python's own dispositions first: a test run started as a background job of a non-interactive shell
        # (`nohup ... &`, as CI may be) begins with SIGINT ignored, which the context keeps ignored by design
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for number in (signal.SIGINT, signal.SIGTERM):
            with pytest.raises(Stopped) as caught, signals_as_exceptions():
                os.kill(os.getpid(), number)
                time.sleep(1)  # the handler runs at the next bytecode, well before this ends
            assert caught.value.code == 128 + number and caught.value.name == signal.Signals(number).name
        for number in (signal.SIGHUP, signal.SIGINT):  # started ignored: stays ignored
            signal.signal(number, signal.SIG_IGN)
            with signals_as_exceptions():
                os.kill(os.getpid(), number)
                time.sleep(0.05)
            assert signal.getsignal(number) is signal.SIG_IGN
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)
    assert {number: signal.getsignal(number) for number in before} == before


def test_a_stopped_runtime_run_says_so_and_removes_its_temporary_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round 22: the launcher stopped by a signal (here raised where the ranks run) ends with 128 + the signal and
    one line, writes no record, and removes the temporary run folder no message names (a failed run keeps it)."""
    pytest.importorskip("torch")
    import tempfile

    import runtime.launch
    from dpsim.cli_common import Stopped
    from runtime.train import main

    def stopped(*args: object, **kwargs: object) -> None:
        raise Stopped(signal.SIGTERM)

    monkeypatch.setattr(runtime.launch, "launch", stopped)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = tmp_path / "out.jsonl"
    assert main([str(hostile.CPU_SCENARIO), "--out", str(out)]) == 128 + signal.SIGTERM
    assert capsys.readouterr().err == "error: stopped by SIGTERM\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("data", "title"),
    [
        (b"world_size,step_time_s,samples_per_s,scaling_efficiency\n4,1.0,10,0.9\n8,0.6,16,0.8\n", "Sweep"),
        (hostile.SMALL.encode(), "Scenario: small"),
        (b'{"scenario": "x", "engine": "analytic", "step_time_s": 1.0}\n' * 2, "(record 2)"),
    ],
)
def test_report_reads_every_kind_of_result_from_stdin(data: bytes, title: str, tmp_path: Path) -> None:
    code, _, err = hostile.run_in_process(["report", "-", "-o", str(tmp_path / "o.html")], stdin=data)
    assert code == 0, err  # was "error: -: not JSON" for all but a JSON document
    assert title in (tmp_path / "o.html").read_text(encoding="utf-8")


def test_report_of_stdin_that_is_no_result_names_stdin(tmp_path: Path) -> None:
    code, _, err = hostile.run_in_process(["report", "-", "-o", str(tmp_path / "o.html")], stdin=b"a,b\n1,2\n")
    assert code == 2 and err.startswith("error: <stdin>: a CSV with none of the columns"), err


def test_a_price_past_the_range_is_named_as_the_option(tmp_path: Path) -> None:
    argv = ["plan", "--model", "gpt2-xl", "--tokens", "20B", "--max-devices", "8", "--simulate", "0", "--no-progress"]
    code, _, err = hostile.run_in_process([*argv, "--price", "1e308"])
    # was "error: <plan>: cluster.price_per_device_hour: Input should be less than or equal to 1000000"
    assert code == 2 and err.startswith("error: <command line>: --price: expected at most 1,000,000"), err


# --- round 10: Dask's settings, catalog zeros, fields without effect, misspelled keys, runtime variables ---------


def test_the_tenth_rounds_classes_are_in_the_corpus() -> None:
    assert {"Dask settings from the environment (DASK_*)", "0 over a catalog device's 'none'",
            "fields without effect: NCCL_P2P_LEVEL off PCIe", "misspelled required keys",
            "top-level name / --vary values: named and placed", "large documents without aliases",
            "plan past the cost guard: named as --max-devices",
            "runtime variables: DPSIM_LAUNCHER_PID / DPSIM_SAVE_PARAMETERS"} <= set(KINDS)  # fmt: skip


@pytest.mark.parametrize("variable", ["DASK_CONFIG", "DASK_ROOT_CONFIG"])
def test_dask_settings_on_a_device_or_a_fifo_are_refused_before_dask_reads_them(
    variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dpsim.execution import check_options

    os.mkfifo(tmp_path / "x.yaml")
    for path in ("/dev/zero", str(tmp_path)):  # read whole until memory ran out; a FIFO waited for a writer
        monkeypatch.setenv(variable, path)
        with pytest.raises(ScenarioError) as caught:
            check_options(2, None)
        assert caught.value.field == variable and caught.value.source == "<environment>", caught.value
    monkeypatch.setenv(variable, str(tmp_path / "missing"))  # Dask skips what is not there
    check_options(2, None)


def test_a_dask_that_does_not_start_is_one_line_naming_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from dpsim.execution import dask_failure

    for name in [n for n in os.environ if n.startswith("DASK_")]:
        monkeypatch.delenv(name)
    try:
        try:
            raise MemoryError
        except MemoryError as inner:
            raise RuntimeError("Nanny failed to start.") from inner
    except RuntimeError as exc:
        plain = dask_failure("--workers", exc)
        monkeypatch.setenv("DASK_DISTRIBUTED__WORKER__MEMORY__TARGET", "bogus")
        named = dask_failure("--workers", exc)
    assert (plain.field, plain.source) == ("--workers", "<command line>") and "MemoryError" in plain.message
    assert (named.field, named.source) == ("DASK_DISTRIBUTED__WORKER__MEMORY__TARGET", "<environment>")


def test_dask_settings_no_worker_starts_with_end_in_one_line(tmp_path: Path) -> None:
    """In a fresh interpreter (Dask reads its settings once, on import): each worker's traceback and
    ``RuntimeError: Nanny failed to start`` on main."""
    (case,) = [c for c in hostile.dask_settings() if "DASK_DISTRIBUTED__WORKER__MEMORY__TARGET" in c.env]
    outcome = hostile.run_case(case, tmp_path)
    assert outcome.code == 2 and outcome.stderr == (
        "error: <environment>: DASK_DISTRIBUTED__WORKER__MEMORY__TARGET: Dask did not start with this setting: "
        "MemoryError"
    ), outcome.stderr


@pytest.mark.parametrize("field", ["matmul_efficiency", "sm_count", "peak_flops_fp8"])
def test_a_zero_over_a_catalog_device_is_its_own_error_not_the_catalogs_none(field: str, tmp_path: Path) -> None:
    from dpsim import catalog

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(tmp_path / "s.yaml", [f"cluster.device.{field}=0"])  # was read as "none": a 25 % faster step
    assert caught.value.field == f"cluster.device.{field}"
    kept = load_scenario(tmp_path / "s.yaml", [f"cluster.device.{field}=null"]).cluster.device
    spec = catalog.DEVICES["a100-80gb"]
    expected = {"matmul_efficiency": spec.matmul_efficiency, "sm_count": spec.sm_count, "peak_flops_fp8": 0}[field]
    assert (getattr(kept, field) or 0) == expected  # null: the catalog's value (the A100 has no FP8)


def test_nccl_p2p_level_is_read_on_pcie_nodes_and_refused_elsewhere(tmp_path: Path) -> None:
    from dpsim.analytic.step import predict

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    with pytest.raises(ScenarioError) as caught:  # an NVLink A100: LOC changed nothing, to the bit
        load_scenario(tmp_path / "s.yaml", ["communication.nccl_p2p_level=LOC"])
    assert caught.value.field == "communication.nccl_p2p_level"
    pcie = list(hostile._PCIE_NODE)
    steps = {
        level: predict(load_scenario(tmp_path / "s.yaml", [*pcie, f"communication.nccl_p2p_level={level}"])).step_time_s
        for level in ("LOC", "SYS")
    }
    assert steps["LOC"] > steps["SYS"]  # two GPUs of one switch: P2P at SYS, through host memory at LOC


def test_a_misspelled_required_key_is_named_with_its_suggestion(tmp_path: Path) -> None:
    err = _error(tmp_path, hostile.SMALL.replace("global_batch: 8", "global_bach: 8"))
    # was "training.global_batch: required field is missing"
    assert err.endswith("training.global_bach: unknown key (did you mean 'global_batch'?)"), err


def test_name_and_varied_values_are_named_from_where_they_came(tmp_path: Path) -> None:
    err = _error(tmp_path, hostile.SMALL, "--set", "name=" + "n" * 201)
    assert err == "error: <command line>: name: at most 200 characters, got 201", err  # was "s.yaml: (top level)"
    code, _, err = hostile.run_in_process(["sweep", str(tmp_path / "s.yaml"), "--vary", "cluster.nodes=1,x"])
    assert code == 2 and err.startswith("error: <command line>: cluster.nodes: "), err  # was the file's


def test_a_large_document_without_aliases_is_not_blamed_on_aliases(tmp_path: Path) -> None:
    err = _error(tmp_path, hostile.SMALL + "extra: [" + ", ".join(["1"] * 100_500) + "]\n")
    assert err.endswith("malformed YAML: more than 100,000 keys and values in one document"), err


def test_plan_past_the_cost_guard_names_max_devices() -> None:
    argv = ["plan", "--model", "gpt2-small", "--tokens", "1T", "--global-batch", "8589934592", "--no-progress",
            "--simulate", "0", "--max-devices", "16384", "--algorithm", "direct", "--allow-long"]  # fmt: skip
    # past the memory limit with --allow-long (a million ranks were only while ZeRO-1 was charged collectives
    # its step does not price: dpsim.sim.budget._pricing_key)
    code, _, err = hostile.run_in_process(argv)
    # was "... (limit 8 GiB); use fewer ranks (cluster.nodes, cluster.workers_per_node) ..."
    assert code == 2 and "give a smaller --max-devices" in err and "cluster.nodes" not in err, err


@pytest.mark.parametrize(
    ("env", "extra", "expected"),
    [
        ({"DPSIM_LAUNCHER_PID": "abc"}, ["--worker"], "<environment>: DPSIM_LAUNCHER_PID: expected the launcher's"),
    ],
)
def test_the_runtimes_own_variables_are_refused_before_a_rank_starts(
    env: dict[str, str], extra: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    for name, value in {**hostile._RENDEZVOUS, **env}.items():
        monkeypatch.setenv(name, value.replace("{tmp}", str(tmp_path)))
    argv = [str(tmp_path / "s.yaml"), "--set", "communication.algorithm=ring", *extra]
    code, _, err = hostile.run_in_process(argv, program="runtime")
    # an int() traceback in the rank
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("torchrun", [True, False], ids=["rank", "launcher"])
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("{tmp}/nodir/p.pt", "cannot write '{tmp}/nodir/p.pt': directory '{tmp}/nodir' does not exist"),
        ("{tmp}", "cannot write '{tmp}': it is a directory"),
        ("{tmp}/s.yaml/p.pt", "cannot write '{tmp}/s.yaml/p.pt': directory '{tmp}/s.yaml' is not a directory"),
        (
            "{tmp}/link.pt",
            "'{tmp}/link.pt' is a symbolic link (to '{tmp}/kept.pt'): "
            "name the file to write itself, or remove the link",
        ),
        ("{tmp}/s.yaml", "'{tmp}/s.yaml' is also an input of this command: write the output elsewhere"),
    ],
)
def test_save_parameters_is_checked_as_every_output(
    path: str, expected: str, torchrun: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``DPSIM_SAVE_PARAMETERS`` gets the checks and messages of every dpsim output (``check_writable``). Before
    they were one: its own wording ('... is in '{tmp}/nodir', which does not exist: expected a file to write the
    trained parameters to'); a link was written through and the scenario file overwritten, after every step."""
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    (tmp_path / "kept.pt").write_text("keep me\n")
    (tmp_path / "link.pt").symlink_to(tmp_path / "kept.pt")
    for name, value in {**(hostile._RENDEZVOUS if torchrun else {}), "DPSIM_SAVE_PARAMETERS": path}.items():
        monkeypatch.setenv(name, value.replace("{tmp}", str(tmp_path)))
    argv = [str(tmp_path / "s.yaml"), "--set", "communication.algorithm=ring"]
    code, _, err = hostile.run_in_process(argv, program="runtime")
    want = "error: <environment>: DPSIM_SAVE_PARAMETERS: " + expected.replace("{tmp}", str(tmp_path))
    assert (code, err.strip()) == (2, want)
    assert (tmp_path / "kept.pt").read_text() == "keep me\n" and (tmp_path / "s.yaml").read_text() == hostile.SMALL


def test_nccl_settings_are_refused_where_gloo_reduces_and_read_on_gpus(tmp_path: Path) -> None:
    from dpsim.analytic.step import predict

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    cpu = list(hostile._CPU_SMALL)
    for name, value in (("nccl_algo", "tree"), ("nccl_proto", "LL"), ("nccl_buffsize", "64KiB")):
        with pytest.raises(ScenarioError) as caught:  # gloo's ring: the same step to the bit on the old main
            load_scenario(tmp_path / "s.yaml", [*cpu, "communication.algorithm=auto", f"communication.{name}={value}"])
        assert caught.value.field == f"communication.{name}"
    # on the A100s NCCL reads them: a tree-only NCCL_ALGO moves the step
    base = predict(load_scenario(tmp_path / "s.yaml")).step_time_s
    tree = predict(load_scenario(tmp_path / "s.yaml", ["communication.nccl_algo=tree"])).step_time_s
    assert tree != base


def test_nccl_pxn_disable_is_refused_where_nothing_is_relayed(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    for extra in (list(hostile._CPU_SMALL), ["cluster.intra_node=pcie4"], list(hostile._PCIE_NODE)):
        with pytest.raises(ScenarioError) as caught:
            load_scenario(tmp_path / "s.yaml", [*extra, "communication.nccl_pxn_disable=true"])
        assert caught.value.field == "communication.nccl_pxn_disable"
    on = load_scenario(tmp_path / "s.yaml", ["communication.nccl_pxn_disable=true"])  # NVLink, PCIe to the NICs
    assert on.communication.nccl_pxn_disable and on.cluster.pxn_possible


def test_validate_refuses_a_case_that_sets_one_path_twice(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    argv = ["validate", str(tmp_path / "s.yaml"), "--set", "communication.algorithm=ring", "--out-dir",
            str(tmp_path / "v"), "--case", "training.micro_batch=2; training.micro_batch=4"]  # fmt: skip
    code, out, err = hostile.run_in_process(argv)  # the old main ran micro-batch 4 only, without a word
    assert (code, out) == (2, "") and err.strip() == (
        "error: <command line>: --case: 'training.micro_batch=2; training.micro_batch=4' sets "
        "training.micro_batch more than once (one value a path in a case)"
    ), err
    assert not (tmp_path / "v").exists()


def test_nccl_lists_beside_a_named_algorithm_or_protocol_are_refused_and_were_never_read(tmp_path: Path) -> None:
    import dataclasses

    from dpsim.analytic import collectives as cf
    from dpsim.analytic.step import fabric_of

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    fabric = fabric_of(load_scenario(tmp_path / "s.yaml"))
    size = 64.0 * 2**20
    cases: tuple[tuple[str, str, dict[str, Any]], ...] = (
        ("tree", "auto", {"nccl_algo": ("ring",)}),
        ("ring", "LL", {"nccl_proto": ("Simple",)}),
        ("tree", "none", {"nccl_algo": ("ring",), "nccl_buffsize": 8.0 * 2**20}),
    )
    for algorithm, protocol, env in cases:
        # the truth the refusal rests on: a named algorithm / protocol (or none) prices the same with or without it
        bare = cf.collective("allreduce", algorithm, size, dataclasses.replace(fabric, protocol=protocol))
        listed = cf.collective("allreduce", algorithm, size, dataclasses.replace(fabric, protocol=protocol, **env))
        assert bare == listed
        name = next(iter(env))
        sets = [f"communication.algorithm={algorithm}", f"communication.protocol={protocol}"]
        value = ",".join(env[name]) if isinstance(env[name], tuple) else "8MiB"
        with pytest.raises(ScenarioError) as caught:  # accepted on the old main
            load_scenario(tmp_path / "s.yaml", [*sets, f"communication.{name}={value}"])
        assert caught.value.field == f"communication.{name}"
    # auto reads them, and NCCL's send/receive take the Simple buffer whatever the collectives' protocol
    load_scenario(tmp_path / "s.yaml", ["communication.nccl_algo=ring,tree", "communication.nccl_proto=Simple"])
    load_scenario(tmp_path / "s.yaml", ["communication.protocol=LL", "communication.nccl_buffsize=8MiB"])


def test_a_varied_path_and_a_path_inside_it_are_refused_where_one_decides_the_other(tmp_path: Path) -> None:
    import json

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    sweep = ["sweep", str(tmp_path / "s.yaml"), "--format", "json"]
    efficiency, device = "cluster.device.matmul_efficiency=0.5,0.6", "cluster.device=a100-80gb,h100-sxm"
    # the device first, then its efficiency: four different steps (what the rows say they ran)
    code, out, err = hostile.run_in_process([*sweep, "--vary", device, "--vary", efficiency])
    assert code == 0, err
    steps = [row["step_time_s"] for row in json.loads(out)]
    assert len(set(steps)) == 4
    # the efficiency first: the device replaced it at every point, and 0.5 and 0.6 gave one step (the old main)
    code, out, err = hostile.run_in_process([*sweep, "--vary", efficiency, "--vary", device])
    assert (code, out) == (2, "") and err.strip() == (
        "error: <command line>: --vary: cluster.device.matmul_efficiency is set before cluster.device, which "
        "replaces it whole: set cluster.device first, or one of them"
    ), err
    code, _, err = hostile.run_in_process([*sweep, "--vary", "training={global_batch: 8, micro_batch: 2}",
                                           "--vary", "training.micro_batch=1,2"])  # fmt: skip
    assert code == 2 and "--vary: training already gives training.micro_batch" in err, err
    argv = ["validate", str(tmp_path / "s.yaml"), "--set", "communication.algorithm=ring", "--out-dir",
            str(tmp_path / "v"), "--case", "training.micro_batch=1;training={global_batch: 8}"]  # fmt: skip
    code, out, err = hostile.run_in_process(argv)  # the old main dropped micro_batch=1 without a word
    assert (code, out) == (2, "") and "--case: " in err and "set training first" in err, err
    assert not (tmp_path / "v").exists()


def test_a_named_nvls_is_refused_by_the_scenario_where_the_all_reduce_cannot_run_it(tmp_path: Path) -> None:
    from dpsim.analytic.step import predict

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    h100 = ["cluster.device=h100-sxm", "cluster.intra_node=nvlink4"]
    half = ["training.global_batch=4"]  # half the ranks
    for sets in (
        ["communication.algorithm=nvls"],
        [*h100, *half, "communication.algorithm=nvls", "training.tensor_parallel=2"],
        [*h100, *half, "communication.algorithm=nvls-tree", "cluster.workers_per_node=1"],
    ):
        with pytest.raises(ScenarioError) as caught:  # the old main loaded it; predict() then failed
            load_scenario(tmp_path / "s.yaml", sets)
        assert caught.value.field == "communication.algorithm"
        assert str(caught.value).startswith("<command line>: communication.algorithm: ")
    # where the whole node is the data-parallel group it runs, and the step moves off the ring's
    nvls = predict(load_scenario(tmp_path / "s.yaml", [*h100, "communication.algorithm=nvls-tree"]))
    ring = predict(load_scenario(tmp_path / "s.yaml", [*h100, "communication.algorithm=ring"]))
    assert nvls.step_time_s != ring.step_time_s
    # ZeRO-3 reduce-scatters (a ring whatever the algorithm): refused since round 13, as every all-reduce algorithm
    # there (test_a_named_all_reduce_algorithm_is_refused_where_the_step_all_reduces_nothing); without data
    # parallelism nothing is reduced: as before
    with pytest.raises(ScenarioError, match="all-reduces nothing over its 4 data-parallel ranks"):
        load_scenario(tmp_path / "s.yaml", ["communication.algorithm=nvls", "training.zero_stage=3"])
    load_scenario(tmp_path / "s.yaml", ["communication.algorithm=nvls", "cluster.nodes=1", "cluster.workers_per_node=1",
                                        "training.global_batch=2"])  # fmt: skip


def test_options_that_change_nothing_without_another_are_refused(tmp_path: Path) -> None:
    from dpsim.plan import PlanRequest, enumerate_configurations

    # the truth: without a node MTBF the restart and checkpoint times are read nowhere (the same plan)
    bare = enumerate_configurations(PlanRequest("gpt2-small", 1e9, ("a100-80gb",), 8))
    restart = enumerate_configurations(PlanRequest("gpt2-small", 1e9, ("a100-80gb",), 8, restart_s=3600.0,
                                                   checkpoint_s=60.0))  # fmt: skip
    assert bare["time_to_train_s"].tolist() == restart["time_to_train_s"].tolist()
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8", "--no-progress", "--simulate",
            "0", "--out", str(tmp_path / "plan.csv")]  # fmt: skip
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    for argv, expected in (
        ([*plan, "--restart", "1 h"], "--restart: prices the time lost to node failures: only with --node-mtbf"),
        ([*plan, "--currency", "EUR"], "--currency: names the currency of --price: give --price"),
        (["calibrate", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "p.yaml"), "--dtype", "fp16"],
         "--dtype: only with --compute (the GEMM sweep it sets up)"),
    ):  # fmt: skip
        code, out, err = hostile.run_in_process(argv)  # the old main planned (or measured the links) without a word
        assert (code, out, err.strip()) == (2, "", f"error: <command line>: {expected}"), err
    assert not (tmp_path / "plan.csv").exists() and not (tmp_path / "p.yaml").exists()


def test_deepspeed_zero_2_and_3_with_pipeline_stages_are_refused_and_never_planned(tmp_path: Path) -> None:
    """DeepSpeed's PipelineEngine asserts ZeRO stage < 2 ("ZeRO-2 and ZeRO-3 are incompatible with pipeline
    parallelism", deepspeed/runtime/pipe/engine.py since #980): the old main loaded such a scenario and its plan
    proposed such layouts. FSDP's stages and ZeRO-1 run with pipeline parallelism."""
    from dpsim.plan import PlanRequest, enumerate_configurations

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    stages = ["training.pipeline_parallel=2", "training.global_batch=4"]
    for zero in (2, 3):
        with pytest.raises(ScenarioError) as caught:
            load_scenario(tmp_path / "s.yaml", [*stages, f"training.zero_stage={zero}"])
        assert caught.value.field == "training.zero_stage"
        assert "'ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism'" in str(caught.value)
    load_scenario(tmp_path / "s.yaml", [*stages, "training.zero_stage=1"])
    load_scenario(tmp_path / "s.yaml", [*stages, "training.zero_stage=3", "training.optimizer_sharding=fsdp"])
    df = enumerate_configurations(PlanRequest("gpt2-small", 1e9, ("a100-80gb",), 64))
    assert ((df["zero_stage"] <= 1) & (df["pp"] > 1)).any()
    assert not ((df["zero_stage"] >= 2) & (df["pp"] > 1)).any()  # 2,496 of 7,536 rows on the old main
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "64", "--no-progress", "--simulate",
            "0", "--zero", "2,3", "--pp", "2,4"]  # fmt: skip
    code, out, err = hostile.run_in_process(plan)
    assert (code, out) == (2, "") and "DeepSpeed refuses ZeRO-2/3 with pipeline parallelism" in err, err


def _with_communication(scenario: Any, **fields: Any) -> Any:
    """``scenario`` with communication fields replaced without the scenario check: what the step prices them as."""
    return scenario.model_copy(update={"communication": scenario.communication.model_copy(update=fields)})


def _priced(scenario: Any) -> tuple[float, ...]:
    from dpsim.analytic.step import predict

    r = predict(scenario)
    return r.step_time_s, r.comm_s, r.exposed_comm_s, r.memory_per_device_bytes


@pytest.mark.parametrize(
    "field", ["attention_efficiency", "attention_efficiency_fa2", "attention_half_seq", "attention_half_seq_fa2"]
)
def test_the_items_of_a_list_of_numbers_are_checked_as_a_number_field(field: str) -> None:
    """A number field refuses ``true`` and ``'0.5'`` (YAML's booleans and quoted text are not numbers); the items of
    the device's attention curves (two numbers each) were read by pydantic's lax mode: ``[true, 1]`` as 1.0 and
    ``['0.5', 1]`` as 0.5, the same step as the numbers. Each item is refused now as the field would be, naming
    the item; numbers pass."""
    path = f"cluster.device.{field}"
    for value, shown in (("[true, 1]", "got True"), ("['0.5', 1]", "without quotes or units, got '0.5'"),
                         ("[1, false]", "got False")):  # fmt: skip
        with pytest.raises(ScenarioError) as caught:
            load_scenario(None, [f"{path}={value}"])
        item = "1" if value.startswith("[1") else "0"
        assert caught.value.field == f"{path}.{item}" and shown in caught.value.message, caught.value
    numbers = load_scenario(None, [f"{path}=[1, 0.5]"]).cluster.device
    assert getattr(numbers, field) == (1.0, 0.5)


def test_a_named_nccl_protocol_is_refused_on_gloo(tmp_path: Path) -> None:
    """On CPU devices gloo reduces (``protocol_of`` is none: the links' alpha-beta, no NCCL protocol): a named
    ``communication.protocol`` was accepted and read by nothing, the same step to the bit for every algorithm
    (checked here, two ports a NIC included), while the other NCCL settings were refused there. Refused now as they
    are, naming the field; on GPUs it is read. ``nccl_nic_fusion`` stays: the NICs it fuses price gloo's ring too
    (``backend`` on two ports a NIC)."""
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    cpu = ["cluster.device=cpu", "model.preset=mlp-tiny"]
    ports = ["cluster.inter_node.nics_per_node=2", "cluster.inter_node.ports_per_nic=2"]
    for algorithm in ("auto", "ring", "tree", "hierarchical", "backend"):
        for sets in (
            [*cpu, f"communication.algorithm={algorithm}"],
            [*cpu, *ports, f"communication.algorithm={algorithm}"],
        ):
            base = load_scenario(tmp_path / "s.yaml", sets)
            for field, value, shown in (("protocol", "Simple", "Simple"), ("protocol", "LL", "LL"),
                                        ("protocol", "LL128", "LL128")):  # fmt: skip
                assert _priced(_with_communication(base, **{field: value})) == _priced(base), (sets, field, value)
                with pytest.raises(ScenarioError) as caught:
                    load_scenario(tmp_path / "s.yaml", [*sets, f"communication.{field}={shown}"])
                assert caught.value.field == f"communication.{field}" and "is an NCCL setting" in caught.value.message
            load_scenario(tmp_path / "s.yaml", [*sets, "communication.protocol=none"])  # gloo's own: accepted
    code, _, err = hostile.run_in_process(["run", str(tmp_path / "s.yaml"), "--set", "cluster.device=cpu", "--set",
                                           "communication.protocol=LL"], timeout_s=60)  # fmt: skip
    assert code == 2 and "communication.protocol: is an NCCL setting" in err, err
    a100 = load_scenario(tmp_path / "s.yaml", ports)  # read on GPUs: LL's latency and bandwidth
    assert _priced(_with_communication(a100, protocol="LL")) != _priced(a100)
    backend = load_scenario(tmp_path / "s.yaml", [*cpu, *ports, "communication.algorithm=backend"])
    assert _priced(_with_communication(backend, nccl_nic_fusion=False)) != _priced(backend)  # read: accepted
    load_scenario(tmp_path / "s.yaml", [*cpu, *ports, "communication.nccl_nic_fusion=false"])


def test_a_named_all_reduce_algorithm_is_refused_where_the_step_all_reduces_nothing(tmp_path: Path) -> None:
    """ZeRO's reduce-scatter and gathers run the ring whatever all-reduce algorithm is named: the step of tree and
    NVLS is the ring's to the bit (the textbook ones priced the ring without NCCL's protocol). Refused now, naming
    the field; where the gradients are all-reduced (ZeRO-1's all-reduce, HYBRID_SHARD's replicas) it is read."""
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    for sets in (["training.zero_stage=1"], ["training.zero_stage=3", "training.optimizer_sharding=fsdp"]):
        ring = load_scenario(tmp_path / "s.yaml", [*sets, "communication.algorithm=ring"])
        for algorithm in ("tree", "nvls", "nvls-tree"):  # the truth the refusal rests on
            assert _priced(_with_communication(ring, algorithm=algorithm)) == _priced(ring)
        for algorithm in ("tree", "nvls", "halving-doubling", "direct", "parameter-server"):
            with pytest.raises(ScenarioError) as caught:  # the old main loaded and priced them
                load_scenario(tmp_path / "s.yaml", [*sets, f"communication.algorithm={algorithm}"])
            assert caught.value.field == "communication.algorithm"
            assert "all-reduces nothing over its 4 data-parallel ranks" in str(caught.value)
    for sets in (["training.zero_stage=1", "training.zero1_gradient_allreduce=true"],
                 ["training.zero_stage=3", "training.optimizer_sharding=fsdp", "training.fsdp_shard_group=2"],
                 ["training.zero_stage=1", "training.optimizer_sharding=torch"]):  # fmt: skip
        tree = load_scenario(tmp_path / "s.yaml", [*sets, "communication.algorithm=tree"])
        assert _priced(tree) != _priced(_with_communication(tree, algorithm="ring"))  # read
    load_scenario(tmp_path / "s.yaml", ["training.zero_stage=2", "communication.algorithm=hierarchical"])


def test_nccl_settings_are_refused_where_no_collective_runs_nccl(tmp_path: Path) -> None:
    """``communication.nccl_version`` with ``protocol: none`` or with algorithm and protocol both named (a release's
    tables only pick), and NCCL's protocol, buffer and release beside a textbook algorithm (every collective of the
    step on the links' alpha-beta): the same step to the bit, accepted without a word on the old main. Refused,
    naming the field; where auto picks it is read, and a TP group across nodes runs NCCL's ring."""
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    h100 = ["cluster.device=h100-sxm", "cluster.intra_node=nvlink4"]
    for sets, field, value, shown in (
        (["communication.protocol=none"], "nccl_version", "2.25.1", "2.25.1"),
        (["communication.algorithm=hierarchical"], "nccl_version", "2.25.1", "2.25.1"),
        ([*h100, "communication.algorithm=nvls-tree", "communication.protocol=none"], "nccl_version", "2.25.1",
         "2.25.1"),
        ([*h100, "communication.algorithm=tree", "communication.protocol=LL"], "nccl_version", "2.25.1", "2.25.1"),
        ([*h100, "communication.algorithm=halving-doubling"], "protocol", "LL", "LL"),
        ([*h100, "communication.algorithm=halving-doubling", "training.pipeline_parallel=2",
          "training.global_batch=4"], "nccl_proto", ["LL"], "LL"),
        ([*h100, "communication.algorithm=direct", "training.tensor_parallel=2", "training.global_batch=4"],
         "nccl_buffsize", 1 << 20, "1MiB"),
    ):  # fmt: skip
        base = load_scenario(tmp_path / "s.yaml", sets)
        assert _priced(_with_communication(base, **{field: value})) == _priced(base)
        with pytest.raises(ScenarioError) as caught:
            load_scenario(tmp_path / "s.yaml", [*sets, f"communication.{field}={shown}"])
        assert caught.value.field == f"communication.{field}"
        assert "is an NCCL setting" in str(caught.value) or "nothing is picked" in str(caught.value)
    # read where NCCL's tuner picks: auto on H100s (v2.25.1's tables pick otherwise than v2.30.7's)
    picked = load_scenario(tmp_path / "s.yaml", [*h100, "communication.nccl_version=2.25.1"])
    assert _priced(picked) != _priced(_with_communication(picked, nccl_version=None))
    load_scenario(tmp_path / "s.yaml", ["communication.algorithm=hierarchical", "training.tensor_parallel=4",
                                        "cluster.workers_per_node=2", "training.global_batch=2",
                                        "communication.nccl_version=2.25.1"])  # fmt: skip


def test_auto_beside_a_named_ll_protocol_runs_on_an_nvswitch_node(tmp_path: Path) -> None:
    """``algorithm: auto`` with ``protocol: LL`` / ``LL128`` on H100s behind an NVSwitch: NVLS, which runs Simple
    only, was among auto's candidates, so every step failed once priced ("nvls-tree runs the Simple protocol only,
    not LL", blamed on <scenario>). NCCL_PROTO=LL leaves NVLS out; auto picks between the ring and the tree."""
    from dpsim.analytic.collectives import collective
    from dpsim.analytic.step import fabric_of

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    for protocol in ("LL", "LL128"):
        scenario = load_scenario(tmp_path / "s.yaml", ["cluster.device=h100-sxm", "cluster.intra_node=nvlink4",
                                                       f"communication.protocol={protocol}"])  # fmt: skip
        fabric = fabric_of(scenario)
        for size in (1 << 10, 1 << 20, 1 << 30):
            picked = collective("allreduce", "auto", size, fabric)
            assert (picked.algorithm, picked.protocol) in (("ring", protocol), ("tree", protocol))
            assert picked.time_s == collective("allreduce", picked.algorithm, size, fabric).time_s
        assert math.isfinite(_priced(scenario)[0])


def test_runtime_outputs_at_one_path_are_refused_before_a_rank_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``DPSIM_SAVE_PARAMETERS`` naming ``--out`` (the parameters saved, then the record appended to the same file)
    or ``--trace``, and ``--out`` / ``--trace`` through a linked folder or ``..``: the old main checked none of them
    (``--trace`` against ``--out`` only as written) and trained. Refused by ``check_options``, naming the later."""
    from runtime.train import SAVE_PARAMETERS_ENV, check_options, parse_args

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    (tmp_path / "sub").mkdir()
    (tmp_path / "dirlink").symlink_to(tmp_path)
    out, trace = str(tmp_path / "r.jsonl"), str(tmp_path / "t.json")
    for save, traced, field, other in (
        (out, None, SAVE_PARAMETERS_ENV, "--out"),
        (str(tmp_path / "dirlink" / "r.jsonl"), None, SAVE_PARAMETERS_ENV, "--out"),
        (str(tmp_path / "sub" / ".." / "t.json"), trace, SAVE_PARAMETERS_ENV, "--trace"),
        (None, str(tmp_path / "dirlink" / "r.jsonl"), "--trace", "--out"),
    ):
        if save is None:
            monkeypatch.delenv(SAVE_PARAMETERS_ENV, raising=False)
        else:
            monkeypatch.setenv(SAVE_PARAMETERS_ENV, save)
        args = parse_args([str(tmp_path / "s.yaml"), "--out", out, *(["--trace", traced] if traced else [])])
        with pytest.raises(ScenarioError) as caught:
            check_options(args)
        assert caught.value.field == field
        assert str(caught.value).endswith(f"is also {other}: give the two files different names"), caught.value
    monkeypatch.setenv(SAVE_PARAMETERS_ENV, str(tmp_path / "p.pt"))
    check_options(parse_args([str(tmp_path / "s.yaml"), "--out", out, "--trace", trace]))


def _other_value(name: str) -> Any:
    """A value of ``model.<name>`` other than its default (for :data:`dpsim.scenario.TRANSFORMER_ONLY`)."""
    import typing

    from dpsim.scenario import ModelConfig

    info = ModelConfig.model_fields[name]
    if isinstance(info.default, bool):
        return not info.default
    if isinstance(info.default, str):
        return next(v for v in typing.get_args(info.annotation) if v != info.default)
    return 0.5 if isinstance(info.default, float) else 8


@pytest.mark.parametrize("preset", ["mlp-tiny", "resnet-50"])
def test_transformer_fields_on_other_models_are_refused(preset: str, tmp_path: Path) -> None:
    """A transformer's fields (heads, seq_len, attention, fp8_linear, the kernels, ...) on an ``mlp`` or ``cnn`` model
    were accepted and read by nothing: the same step, memory and communication to the bit (checked here on both
    engines' shared prediction), and the runtime's stand-in MLP is built from ``layers`` and ``hidden`` alone.
    Refused now, naming the field; on a transformer each is read as before."""
    from dpsim.analytic.step import predict
    from dpsim.scenario import TRANSFORMER_ONLY

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    base = load_scenario(tmp_path / "s.yaml", [f"model.preset={preset}"])
    reference = predict(base)
    for name in TRANSFORMER_ONLY:
        value = _other_value(name)
        unread = base.model_copy(update={"model": base.model.model_copy(update={name: value})})
        got = predict(unread)
        assert (got.step_time_s, got.memory_per_device_bytes, got.comm_s) == (
            reference.step_time_s,
            reference.memory_per_device_bytes,
            reference.comm_s,
        ), name
        shown = str(value).lower() if isinstance(value, bool) else value
        with pytest.raises(ScenarioError) as caught:  # the old main loaded it
            load_scenario(tmp_path / "s.yaml", [f"model.preset={preset}", f"model.{name}={shown}"])
        assert caught.value.field == f"model.{name}", caught.value
    fp8 = ["cluster.device=h100-sxm", "training.precision=fp8", "model.fp8_linear=te_linear"]
    load_scenario(tmp_path / "s.yaml", fp8)  # gpt2-small: read


# --- round 14 -------------------------------------------------------------------------------------


def test_plan_simulates_at_most_the_top_it_shows(tmp_path: Path) -> None:
    """``--simulate`` re-checks the best of the ``--top`` rows shown (README: the best ten with ``predict``, the
    best three of them with the simulator). ``--simulate 20`` beside the default ``--top 10`` was cut to 10 without a
    word (``_simulate`` took ``min(simulate, len(ranked))``); refused now, naming ``--simulate``. Left out, it is 3
    or ``--top`` when fewer (``--top 1`` alone runs, as before)."""
    from dpsim.plan import PlanRequest

    plan = ["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8", "--no-progress"]
    for extra in (["--simulate", "20"], ["--simulate", "5", "--top", "3"], ["--simulate", "501", "--top", "500"]):
        code, out, err = hostile.run_in_process([*plan, *extra, "--out", str(tmp_path / "p.csv")], timeout_s=60)
        assert code == 2 and err.startswith("error: <command line>: --simulate: ") and "more than --top" in err, err
        assert len(err.strip().splitlines()) == 1 and not (tmp_path / "p.csv").exists()
    with pytest.raises(ScenarioError) as caught:
        PlanRequest("gpt2-small", 1e9, ("a100-80gb",), 8, top=3, simulate=4)
    assert caught.value.field == "--simulate"
    PlanRequest("gpt2-small", 1e9, ("a100-80gb",), 8, top=3, simulate=3)
    code, out, err = hostile.run_in_process([*plan, "--top", "1", "--format", "json"], timeout_s=60)
    assert code == 0, err
    import json

    ranked = json.loads(out)["ranked"]
    assert len(ranked) == 1 and ranked[0]["sim_step_time_s"] > 0  # the default: min(3, --top)


def _nccl_tests_profile(tmp_path: Path) -> Path:
    """A profile fitted from committed nccl-tests output (8 GPUs, ring all-reduce: inter/ring links and regimes)."""
    from dpsim.calibration import save_profile
    from dpsim.ingest.nccl_tests import load_nccl_tests, profile_from_nccl_tests

    runs = load_nccl_tests(Path(__file__).parent / "data" / "nccl_tests" / "all_reduce_8gpu_nccl-tests-new-format.txt")
    path = tmp_path / "gpu.yaml"
    save_profile(profile_from_nccl_tests(runs, link_class="inter"), path)
    return path


def test_nccl_settings_beside_a_profile_whose_links_replace_nccls_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A calibration profile with fitted links for the scenario's algorithm prices every collective of the step on
    them with ``protocol: none`` (``_calibrated_fabric``): ``nccl_version``, a named protocol, ``nccl_proto``,
    ``nccl_algo`` and ``nccl_buffsize`` were accepted and read by nothing, the same step to the bit (checked here,
    DDP, pipeline stages, tensor parallelism across nodes, ZeRO-3). Refused now, naming the field, by every command
    that reads the profile; where the profile has no link for the algorithm (the tree) they are read."""
    from dpsim.calibration import profile_for

    profile = _nccl_tests_profile(tmp_path)
    (tmp_path / "s.yaml").write_text(hostile.SMALL + f"calibration: {{profile: {profile.name}}}\n")
    unread = {"nccl_version": "2.18.3", "protocol": "LL", "nccl_proto": ["LL"], "nccl_buffsize": 65536,
              "nccl_algo": ["tree"]}  # fmt: skip
    with monkeypatch.context() as old_main:  # priced as the old main did, without the refusal
        old_main.setattr("dpsim.calibration._refuse_nccl_settings_unread", lambda *args: None, raising=False)
        for sets in ([], ["training.pipeline_parallel=2", "training.global_batch=4"], ["training.tensor_parallel=4"],
                     ["training.zero_stage=3"]):  # fmt: skip
            base = load_scenario(tmp_path / "s.yaml", sets)
            for field, value in unread.items():
                assert _priced(_with_communication(base, **{field: value})) == _priced(base), (sets, field)
    shown = {"nccl_version": "2.18.3", "protocol": "LL", "nccl_proto": "LL", "nccl_buffsize": "64KiB",
             "nccl_algo": "tree"}  # fmt: skip
    for field, value in shown.items():
        scenario = load_scenario(tmp_path / "s.yaml", [f"communication.{field}={value}"])
        with pytest.raises(ScenarioError) as caught:
            profile_for(scenario)
        assert caught.value.field == f"communication.{field}" and "is an NCCL setting" in caught.value.message
        for command in (["check"], ["run"], ["collective", "--size", "1MiB"]):
            argv = [command[0], str(tmp_path / "s.yaml"), "--set", f"communication.{field}={value}", *command[1:]]
            code, _, err = hostile.run_in_process(argv, timeout_s=60)
            assert code == 2 and f"communication.{field}: is an NCCL setting" in err, err
    read = (["communication.algorithm=tree", "communication.nccl_version=2.18.3"], ["communication.protocol=none"])
    for sets in read:  # the tree has no fitted link: NCCL's model, and its release, read
        profile_for(load_scenario(tmp_path / "s.yaml", sets))


def _preset_fields() -> list[str]:
    """Every field a catalog preset fills: the model's, the device's and the two links'."""
    return [path for path in hostile._leaf_paths()
            if path.startswith(("model.", "cluster.device.", "cluster.intra_node.", "cluster.inter_node."))
            and not path.endswith(".preset")]  # fmt: skip


def test_null_under_a_preset_is_the_presets_value(tmp_path: Path) -> None:
    """A field written null under a ``preset`` is the preset's value, as if left out. 43 of these 55 fields took it;
    the other 12 were refused with what the preset filled in: ``cluster.device.memory: null`` as "the bare number
    85899345920.0", ``model.parameters: null`` as "0", a link's bandwidth and latency likewise. Each now loads to the
    scenario without it, through ``--set`` and in the file."""
    from dpsim.scenario import scenario_data

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    reference = scenario_data(load_scenario(tmp_path / "s.yaml"))
    fields = _preset_fields()
    assert len(fields) >= 50
    for path in fields:
        loaded = load_scenario(tmp_path / "s.yaml", [f"{path}=null"])
        assert {**scenario_data(loaded), "name": reference["name"]} == reference, path
        if path.startswith(("model.", "cluster.device.")):  # SMALL names these presets in the file (not the links)
            (tmp_path / "n.yaml").write_text(hostile._mutated_file(path, "null"))
            assert scenario_data(load_scenario(tmp_path / "n.yaml")) == reference, path
    with pytest.raises(ScenarioError) as caught:  # a field no preset fills: null is refused, naming it
        load_scenario(tmp_path / "s.yaml", ["training.micro_batch=null"])
    assert caught.value.field == "training.micro_batch"


@pytest.mark.parametrize("blank", [" ", "\t", "  "])
def test_a_blank_path_is_refused_where_a_file_or_folder_is_named(
    blank: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``DPSIM_SAVE_PARAMETERS=" "`` (an unset shell variable quoted) was checked as the file ' ' in the working
    folder and written there after the last step; ``DPSIM_RUN_DIR=" "`` made a folder ' '. Refused before a rank
    starts, naming the variable; so is a blank name in every dpsim option that names a path."""
    from runtime.train import SAVE_PARAMETERS_ENV, check_options, parse_args

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(SAVE_PARAMETERS_ENV, blank)
    with pytest.raises(ScenarioError) as caught:
        check_options(parse_args([str(tmp_path / "s.yaml")]))
    assert (caught.value.field, caught.value.source) == (SAVE_PARAMETERS_ENV, "<environment>")
    assert "is blank: expected a path" in caught.value.message
    monkeypatch.delenv(SAVE_PARAMETERS_ENV)
    for name, value in {**hostile._RENDEZVOUS, "DPSIM_RUN_DIR": blank}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ScenarioError) as caught:
        check_options(parse_args([str(tmp_path / "s.yaml")]))
    assert (caught.value.field, caught.value.source) == ("DPSIM_RUN_DIR", "<environment>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_backend_under_zero_is_gloos_ring_for_every_collective(tmp_path: Path) -> None:
    """The ``backend`` schedule is gloo's own ring (one ring over the ranks in their order, one channel; what
    ``algorithm: backend`` runs on CPUs, :mod:`test_backend_algorithm`): its all-reduce was, but ZeRO's and FSDP's
    reduce-scatter and all-gather under it ran NCCL's rail rings without NCCL's protocol (eight channels on 8-NIC
    nodes), a schedule neither gloo nor NCCL runs. A ring all-reduce is a reduce-scatter and an all-gather on the same
    ring (Patarasuk and Yuan 2009; DESIGN's reference formulas), so each takes half the all-reduce's time: 15.3x less on
    the old main at 1 GiB on 4 x 8 H100. The cost guard charges the one ring it routes."""
    from dpsim.analytic import collectives as cf
    from dpsim.analytic.step import fabric_of
    from dpsim.sim import budget

    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    sets = ["cluster.device=h100-sxm", "cluster.intra_node=nvlink4", "cluster.nodes=4", "cluster.workers_per_node=8",
            "cluster.inter_node={preset: ib-ndr, nics_per_node: 8}", "training.global_batch=64"]  # fmt: skip
    fabric = fabric_of(load_scenario(tmp_path / "s.yaml", sets))
    for size in (float(1 << 20), float(1 << 30)):
        allreduce = cf.collective("allreduce", "backend", size, fabric).time_s
        for op in ("reduce_scatter", "all_gather"):
            assert cf.collective(op, "backend", size, fabric).time_s == pytest.approx(allreduce / 2, rel=1e-12)
    layout = budget.layout_of(fabric)
    assert budget.priced_transfers("reduce_scatter", "backend", "auto", layout)[0] == fabric.world_size


def _positive_zeros(node: Any) -> list[Any]:
    """Every float of ``node`` (nested) that is zero with its sign bit set (IEEE negative zero)."""
    if isinstance(node, dict):
        return [z for v in node.values() for z in _positive_zeros(v)]
    if isinstance(node, (list, tuple)):
        return [z for v in node for z in _positive_zeros(v)]
    return [node] if isinstance(node, float) and node == 0 and math.copysign(1.0, node) < 0 else []


def test_negative_zero_is_read_as_zero_everywhere_a_number_is_read(tmp_path: Path) -> None:
    """IEEE 754 has two zeros; ``-0.0 == 0.0`` but their sign bits differ, and Python prints the sign. A scenario with
    ``memory_reserve: -0.0`` hashed apart from the same scenario with ``0.0`` and printed ``memory_reserve_bytes:
    -0.0``; ``'-0 s'`` was dumped as ``latency: -0.0 s``. Every reader (YAML, JSON, quantities, ``--price``) gives 0,
    and so does a scenario built from Python values (``scenario_from_dict``)."""
    import yaml

    from dpsim.inputs import load_json, load_yaml
    from dpsim.scenario import scenario_data
    from dpsim.units import parse_bandwidth, parse_count, parse_time

    assert _positive_zeros(load_yaml("[-0.0, -0e0, -.0, -0.000e5, {a: -0.0}]", "<test>")) == []
    assert load_yaml("[-0.0, -.0]", "<test>") == [0.0, 0.0]
    assert _positive_zeros(load_json('[-0.0, -0e0, -0.0E-5, {"a": -0.0}]', "<test>")) == []
    for value in (parse_time("-0 s"), parse_time("-0.0 us"), parse_bandwidth("-0 Gbit/s"), parse_count("-0"),
                  parse_count(-0.0)):  # fmt: skip
        assert value == 0 and math.copysign(1.0, value) == 1.0
    zero, negative = tmp_path / "z.yaml", tmp_path / "n.yaml"
    zero.write_text(hostile._mutated_file("training.memory_reserve", "0.0"))
    negative.write_text(hostile._mutated_file("training.memory_reserve", "-0.0"))
    assert load_scenario(negative).scenario_hash() == load_scenario(zero).scenario_hash()
    sets = ["cluster.intra_node.latency='-0 us'", "reliability.restart='-0e3 ms'", "variability.compute_jitter_cv=-.0",
            "cluster.price_per_device_hour=-0.0"]  # fmt: skip
    assert _positive_zeros(scenario_data(load_scenario(zero, sets))) == []
    raw = {**yaml.safe_load(hostile.SMALL), "variability": {"compute_jitter_cv": -0.0}}  # through the API
    assert scenario_from_dict(raw).scenario_hash() == scenario_from_dict({**raw, "variability": {}}).scenario_hash()
    code, out, _ = hostile.run_in_process(["plan", "--model", "gpt2-small", "--tokens", "1B", "--max-devices", "8",
                                           "--no-progress", "--simulate", "0", "--top", "2", "--price", "-0",
                                           "--format", "json"])  # fmt: skip
    assert code == 0 and '"cost": 0.0' in out and "-0.0" not in out


def _profile_data() -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load(hostile.PROFILE.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("links.inter.ring.host_per_byte_by_rate", "", "links.inter.ring.host_per_byte_by_rate"),
        ("links.inter.ring.host_per_byte_by_rate", {}, "links.inter.ring.host_per_byte_by_rate"),
        ("optimizer_curve", "", "optimizer_curve"),
        ("optimizer_curve", {}, "optimizer_curve"),
        ("compute", [], "compute"),
        ("host_model.measured_slowdown", 0, "host_model.measured_slowdown"),
        ("host_model.optimizer_slowdown", [], "host_model.optimizer_slowdown"),
        ("calibrated_on", [True], "calibrated_on[0]"),
        ("calibrated_on", ["ok", "\x1b[31m"], "calibrated_on[1]"),
        ("meta.plan", [1], "meta.plan"),
        ("meta.plan", {"ranks": 4}, "meta.plan.ranks"),
        ("meta.plan", {"sizes": [1.0, float("nan")]}, "meta.plan.sizes[1]"),
        ("meta.fit_residuals", {"x": "abc"}, "meta.fit_residuals.x"),
        ("meta.fit_worst_points", [1], "meta.fit_worst_points"),
        ("meta.fit_worst_points", {"x": {"ranks": 2}}, "meta.fit_worst_points.x"),
        (
            "meta.fit_worst_points",
            {"x": {"ranks": 2, "size_bytes": 1, "error": "abc", "median_uncertainty": 0}},
            "meta.fit_worst_points.x.error",
        ),
        (
            "meta.fit_worst_points",
            {"x": {"ranks": 0, "size_bytes": 1, "error": 0, "median_uncertainty": 0}},
            "meta.fit_worst_points.x.ranks",
        ),
        ("links.inter.ring.efficiency", 1e-320, "links.inter.ring.efficiency"),
        ("links.inter.ring.efficiency", 1e-7, "links.inter.ring.efficiency"),
        ("host_model.cores", 1e-320, "host_model.cores"),
        ("host_model.measured_slowdown.2", 1e-320, "host_model.measured_slowdown.2"),
        ("links.inter.ring.residual", 1e-320, "links.inter.ring.residual"),
    ],
)
def test_a_profile_field_of_another_shape_or_past_range_is_refused_naming_it(path: str, value: Any, field: str) -> None:
    """Each of these was read as something else on the old main: a falsy list or mapping as empty (the profile ran
    without its measured slowdowns, per-rate host cost, optimizer curve or compute), any value as a
    ``calibrated_on`` label, and a denormal efficiency or core count as a link of rate 0 (a traceback in the engines'
    ``links.add``); ``meta.plan: [1]`` reached ``validate`` (a traceback after every case was measured)."""
    from dpsim.calibration import profile_from_dict

    data = _profile_data()
    hostile._at(path, value)(data)
    with pytest.raises(ScenarioError) as caught:
        profile_from_dict(data, "p.yaml")
    assert caught.value.field == field, caught.value


def test_a_profile_written_as_json_is_the_same_profile(tmp_path: Path) -> None:
    """JSON is YAML 1.2, but JSON's mapping keys are text: ``measured_slowdown: {"2": 1.3}`` was refused (``processes
    >= 1, got '2'``), so no profile with a host model could be written as JSON; nor a link with ``samples: 36.0``.
    Read now to the same profile as its YAML; a process count given twice (``"2"`` beside ``2``) is refused."""
    import json

    from dpsim.calibration import load_profile, profile_from_dict, profile_to_dict

    data = _profile_data()
    (tmp_path / "p.json").write_text(json.dumps(data, indent=1).replace('"samples": 36', '"samples": 36.0'))
    assert profile_to_dict(load_profile(tmp_path / "p.json")) == profile_to_dict(load_profile(hostile.PROFILE))
    slowdowns = data["host_model"]["measured_slowdown"]
    slowdowns["2"] = slowdowns[2]
    with pytest.raises(ScenarioError) as caught:
        profile_from_dict(data, "p.yaml")
    assert caught.value.field == "host_model.measured_slowdown" and "given twice" in caught.value.message


def test_an_index_into_a_list_the_scenario_does_not_write_says_to_set_the_whole_list() -> None:
    """``--set cluster.device.gemm_tile.2=64`` indexes a list a preset fills: the override made ``{'2': 64}`` of it
    and the error read ``Input should be a valid tuple (got a mapping)``; it names the field and says to set the whole
    list. An index into a list the file writes is checked as before (``the list has 0 item(s)``)."""
    for path in ("cluster.device.gemm_tile.2", "cluster.device.attention_efficiency.1", "communication.nccl_proto.0"):
        field = path.rsplit(".", 1)[0]
        with pytest.raises(ScenarioError) as caught:
            load_scenario(None, [f"{path}=64"])
        assert caught.value.field == field and f"set the whole list, {field}=[...]" in caught.value.message
    with pytest.raises(ScenarioError) as caught:
        load_scenario(None, ["variability.stragglers.0=1"])
    assert caught.value.field == "variability.stragglers.0" and "the list has 0 item(s)" in caught.value.message


def test_a_degree_that_does_not_divide_is_named_with_its_origin(tmp_path: Path) -> None:
    """Round 23: ``--set training.pipeline_parallel=3`` on 4 workers was refused as the file's
    ``training.tensor_parallel`` (``TP=1 x PP=3``); 12 layers over 2 stages of 5 interleaved chunks, and 2
    embedding slots beside 4 stages, as ``training.pipeline_parallel``. The degree that does not divide is named
    (the command line's, so the command line is blamed), the other field in the text."""
    assert _one_line(["check", str(hostile.DEFAULT), "--set", "training.pipeline_parallel=3"]).startswith(
        "error: <command line>: training.pipeline_parallel: DP x TP x PP must equal the 64 workers: "
        "training.tensor_parallel 1 x training.pipeline_parallel 3 = 3 does not divide 64"
    )
    (tmp_path / "s.yaml").write_text(hostile.SMALL)
    wide = ["--set", "cluster.workers_per_node=4", "--set", "training.global_batch=auto"]
    for sets, named in (
        (["training.pipeline_parallel=4", "training.embedding_pipeline_slots=true"], "embedding_pipeline_slots"),
        (["training.pipeline_parallel=4", "training.pipeline_schedule=interleaved", "training.virtual_stages=2"],
         "virtual_stages"),
        (["model.layers=10", "training.pipeline_parallel=4"], "pipeline_parallel"),
    ):  # fmt: skip
        line = _one_line(["check", str(tmp_path / "s.yaml"), *wide, *(a for s in sets for a in ("--set", s))])
        assert line.startswith(f"error: <command line>: training.{named}: "), line
        assert "training.pipeline_parallel x training.virtual_stages = 4 x " in line, line


def test_a_pareto_plot_of_zero_costs_is_drawn_without_a_warning(tmp_path: Path) -> None:
    """Round 23: ``plan --plot --price 0`` costs every configuration 0, which a log axis cannot show: matplotlib
    warned on stderr ('Data has no positive values') and dropped the points (a free device beside a priced one lost
    its own points silently). Costs of 0 are drawn on a linear axis."""
    plan = ["plan", "--model", "gpt2-small", "--tokens", "1e9", "--max-devices", "8", "--simulate", "0",
            "--no-progress", "--plot", str(tmp_path / "p.png"), "--price", "0"]  # fmt: skip
    import warnings

    with warnings.catch_warnings(record=True) as caught:  # under pytest a warning is recorded, not printed
        warnings.simplefilter("always")
        code, _out, err = hostile.run_in_process(plan)
    assert (code, err) == (0, "") and (tmp_path / "p.png").stat().st_size > 0, err
    assert not [str(w.message) for w in caught if "log-scaled" in str(w.message)]


@pytest.mark.parametrize(("items", "field"), hostile._UNBUILT)
def test_what_the_runtime_neither_draws_nor_builds_is_refused_before_any_rank_starts(
    items: tuple[str, ...], field: str, tmp_path: Path
) -> None:
    """Round 23. Each moved a prediction and reached the ranks: the simulator draws ``compute_jitter_cv`` and
    nothing in the runtime did; a ``cnn`` was built as an MLP; ``llama3-8b`` ran as GPT-2 blocks of its shape
    (6.47e9 parameters for the priced 8.03e9). On the old code ``check_supported`` let every one through and
    ``dpsim validate`` began calibrating. Refused naming the field, nothing written."""
    _refused_before_any_rank(items, field, tmp_path)


def test_the_models_the_runtime_builds_as_priced_are_accepted() -> None:
    """The refusal is of another model, not of transformers: GPT-2 presets and a small GPT built from its shape have
    the parameters the engines price (counted on the meta device), and so does an MLP from layers x hidden; a
    ``kv_heads`` equal to ``heads`` is multi-head attention, which the runtime runs."""
    pytest.importorskip("torch")
    import torch

    from runtime.job import check_supported
    from runtime.model import build_model

    cpu = hostile.CPU_SCENARIO
    for items in ([], ["model=gpt2-small"], ["model=gpt3-175b"], [hostile._SMALL_GPT],
                  [hostile._SMALL_GPT, "model.kv_heads=4"], ["model={kind: mlp, layers: 3, hidden: 48}"],
                  ["cluster.rank_order=[0, 1, 2, 3]"]):  # fmt: skip  # node-major, as a list
        scenario = load_scenario(cpu, items)
        check_supported(scenario)
        with torch.device("meta"):
            assert sum(p.numel() for p in build_model(scenario).parameters()) == scenario.model.num_parameters


def test_an_unshaped_link_without_a_time_per_byte_is_refused_at_load(tmp_path: Path) -> None:
    """Round 23. A p-norm link with no ``efficiency`` (no wire term) and ``host_per_byte: 0 s`` priced a byte at no
    time: ``LinkModel.at_rate`` raised ``ZeroDivisionError`` in ``dpsim run`` on both engines (a traceback). Refused
    at load, naming the field; a shaped link's κ of 0 keeps its wire's 1/(η·R) and prices finite."""
    import yaml

    from dpsim.calibration import load_profile

    data = _profile_data()
    data["links"]["intra"]["ring"]["host_per_byte"] = "0 s"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ScenarioError) as caught:
        load_profile(tmp_path / "p.yaml")
    assert caught.value.field == "links.intra.ring.host_per_byte"
    code, _, err = hostile.run_in_process(["run", str(hostile.CPU_SCENARIO), "--set",
                                           f"calibration.profile={tmp_path / 'p.yaml'}"])  # fmt: skip
    assert code == 2 and "links.intra.ring.host_per_byte: expected a time > 0" in err, err
    data = _profile_data()
    data["links"]["inter"]["ring"]["host_per_byte"] = "0 s"  # shaped (efficiency 0.91): the wire still costs
    data["links"]["inter"]["ring"].pop("host_per_byte_by_rate")
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    link = load_profile(tmp_path / "p.yaml").links["inter"]["ring"]
    rate = 1e9 / 8
    assert link.at_rate(rate).bandwidth == pytest.approx(link.efficiency * rate)  # type: ignore[attr-defined]


def test_a_cuda_rank_needs_its_gpu_before_the_group_is_joined(monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 23. Under torchrun with ``--device cuda`` each rank uses GPU ``LOCAL_RANK``: a machine without CUDA, or a
    ``LOCAL_RANK`` at or beyond its device count (more ranks a node than GPUs), failed in ``torch.cuda.set_device`` or
    NCCL's setup inside every rank. Refused first, naming ``--device`` or ``LOCAL_RANK``."""
    torch = pytest.importorskip("torch")
    from dpsim.cli_runtime import _check_cuda_rank

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ScenarioError) as caught:
        _check_cuda_rank()
    assert caught.value.field == "--device"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for local, refused in (("0", False), ("1", False), ("2", True), ("7", True)):
        monkeypatch.setenv("LOCAL_RANK", local)
        if refused:
            with pytest.raises(ScenarioError) as caught:
                _check_cuda_rank()
            assert caught.value.field == "LOCAL_RANK" and "2 CUDA device(s)" in caught.value.message
        else:
            _check_cuda_rank()


def _refused_before_any_rank(items: tuple[str, ...], field: str, tmp_path: Path) -> None:
    """``check_supported`` refuses ``items`` naming ``field``, and ``dpsim validate`` in one line, its folder unmade."""
    pytest.importorskip("torch")
    from runtime.job import check_supported

    cpu = hostile.CPU_SCENARIO
    with pytest.raises(ScenarioError) as caught:
        check_supported(load_scenario(cpu, list(items)))
    assert caught.value.field == field
    code, _, err = hostile.run_in_process(["validate", str(cpu), "--case", ";".join(items), "--out-dir",
                                           str(tmp_path / "v")])  # fmt: skip
    assert code == 2 and err.startswith("error: ") and field in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "v").exists()


def test_an_override_that_breaks_a_valid_file_is_the_command_lines_error(tmp_path: Path) -> None:
    """Round 24: ``--set training.optimizer_sharding=fsdp`` on a file valid alone was ``s.yaml: training.zero_stage:
    ...`` (the file blamed), ``--set model.kind=cnn`` on a transformer preset ``s.yaml: model.heads: ... leave it
    out`` (a field the preset wrote, not the file). Now the command line is the source, with the override named;
    a file wrong by itself keeps its own error, and a kind of the preset's family still runs."""
    err = _error(tmp_path, hostile.SMALL, "--set", "training.optimizer_sharding=fsdp")
    assert err.startswith("error: <command line>: training.zero_stage: refused beside training.optimizer_sharding "
                          "(valid without it): optimizer_sharding fsdp shards like ZeRO stage 2 or 3"), err  # fmt: skip
    err = _error(tmp_path, hostile.SMALL, "--set", "model.kind=cnn")
    assert err.startswith("error: <command line>: model.kind: cnn beside preset gpt2-small, a transformer whose heads")
    err = _error(tmp_path, hostile.SMALL, "--set", "model={preset: resnet-50, kind: transformer}")
    assert err.startswith("error: <command line>: model.kind: transformer beside preset resnet-50, a cnn model"), err
    wrong = hostile.SMALL.replace("micro_batch: 2}", "micro_batch: 2, optimizer_sharding: fsdp}")
    err = _error(tmp_path, wrong, "--set", "training.precision=bf16")
    assert "s.yaml: training.zero_stage: optimizer_sharding fsdp" in err and "command line" not in err, err
    assert load_scenario(_write(tmp_path, hostile.SMALL), ["model={preset: resnet-50, kind: mlp}"]).model.kind == "mlp"


def test_a_benchmark_rank_run_by_hand_is_refused_in_one_line_before_any_group(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Round 25 (stop 43): ``python -m runtime.bench`` outside its launcher was torch's ``ValueError`` traceback
    from the ``env://`` rendezvous (``RANK expected``), ``--reps 0`` a median of nothing once the group had formed,
    ``--sizes x`` a ``ValueError``. Each is one line naming the option or the variables, status 2, nothing made."""
    from runtime.bench import RENDEZVOUS_VARIABLES, main

    for name in RENDEZVOUS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    run_dir = str(tmp_path / "rb")
    refusals = (([], "RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set: python -m runtime.bench is a rank"),
                (["--reps", "0"], "--reps: expected a whole number >= 1, got 0"),
                (["--sizes", "1,x"], "--sizes: expected comma-separated sizes in bytes >= 1, got '1,x'"),
                (["--reps", "4", "--max-reps", "3"], "--max-reps: expected at least --reps (4), got 3"))  # fmt: skip
    for argv, says in refusals:
        assert main(["--run-dir", run_dir, *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: <command line>: {says}") and err.count("\n") == 1, err
    monkeypatch.setenv("RANK", "0")
    assert main(["--run-dir", run_dir]) == 2
    assert capsys.readouterr().err.startswith("error: <command line>: WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set")
    assert not (tmp_path / "rb").exists()


def test_nccl_tests_are_not_filed_into_a_profile_of_another_backend(tmp_path: Path) -> None:
    """Round 26: ``--base`` a gloo testbed's profile took NCCL's link fits under ``backend: gloo`` (a CPU scenario
    then priced with 400 GB/s rings); refused naming ``--base``, nothing written. An NCCL base takes them."""
    base, out = tmp_path / "p.yaml", tmp_path / "o.yaml"
    base.write_bytes(hostile.PROFILE.read_bytes())
    fit = ["calibrate", "--from-nccl-tests", str(hostile.NCCL_TESTS), "--out", str(out), "--base", str(base)]
    assert "--base" in _one_line(fit) and not out.exists()
    base.write_bytes(hostile._FITTED_PROFILE)
    code, _, err = hostile.run_in_process(fit)
    assert code == 0 and out.exists(), err


def test_an_mfu_past_the_peak_is_noted_under_the_table(tmp_path: Path) -> None:
    """Round 29: a profile-timed step faster than the catalog device's peak printed ``mfu 16456.8 %`` in the table
    with no word (JSON and CSV carry ``extra.mfu_past_peak``). The table says why under it, on both engines, and not
    on stderr (a ``warning:`` would make every such run noisy)."""
    (tmp_path / "p.yaml").write_bytes(hostile._fast_profile())
    (tmp_path / "s.yaml").write_text(hostile.SMALL, encoding="utf-8")
    base = ["run", str(tmp_path / "s.yaml"), "--set", f"calibration.profile={tmp_path / 'p.yaml'}", "--set",
            "cluster.nodes=1", "--set", "cluster.workers_per_node=1"]  # fmt: skip
    for engine in ("analytic", "sim"):
        code, out, err = hostile.run_in_process([*base, "--engine", engine])
        assert code == 0 and not err and "mfu: MFU 164.6 > 1: the step is timed by the profile" in out, (out, err)
    code, out, err = hostile.run_in_process(["run", str(tmp_path / "s.yaml")])
    assert code == 0 and "mfu:" not in out
