"""benchmarks/predict_identity.py: a refactor's "no answer moved", written per case and compared between two trees."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests._bench import assert_one_line_and_status_2, load_benchmark

identity = load_benchmark("predict_identity")


def _write(tmp_path: Path, name: str, *options: str) -> Path:
    out = tmp_path / name
    assert identity.main(["--cases", "6", "--seed", "3", *options, "--out", str(out)]) == 0
    return out


def test_one_seed_writes_the_same_file_twice_and_the_comparison_says_so(tmp_path, capsys):
    a, b = _write(tmp_path, "a.jsonl", "--engine", "both"), _write(tmp_path, "b.jsonl", "--engine", "both")
    assert a.read_bytes() == b.read_bytes()
    rows = [json.loads(line) for line in a.read_text().splitlines()]
    assert [r["draws"] for r in rows] == ["plain", "wide", "wider", "widest", "host", "plain"]
    assert all("result" in r[e] or "refused" in r[e] for r in rows for e in ("analytic", "sim"))
    assert identity.main(["--compare", str(a), str(b)]) == 0
    assert "6 cases identical" in capsys.readouterr().out


def test_a_moved_last_digit_is_the_first_difference_named(tmp_path, capsys):
    a = _write(tmp_path, "a.jsonl")
    rows = [json.loads(line) for line in a.read_text().splitlines()]
    priced = next(r for r in rows if "result" in r["analytic"])
    result = priced["analytic"]["result"]
    result["step_time_s"] = math.nextafter(result["step_time_s"], math.inf)  # one ulp: a different decimal
    moved = tmp_path / "moved.jsonl"
    moved.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    assert identity.main(["--compare", str(a), str(moved)]) == 1
    assert f"case {priced['case']} differs at analytic.result.step_time_s" in capsys.readouterr().out


def test_an_extra_key_and_a_different_draw_are_differences():
    assert identity.first_difference({"x": {"a": 1}}, {"x": {"a": 1, "b": 2}}) == ".x.b (only in B)"
    assert identity.first_difference({"sets": ["a=1"]}, {"sets": ["a=2"]}) == ".sets[0]: 'a=1' vs 'a=2'"
    assert identity.first_difference({"v": 1}, {"v": 1.0}) == ".v: 1 vs 1.0"
    assert identity.first_difference({"v": float("nan")}, {"v": float("nan")}) is None


def test_the_repository_path_is_written_portably():
    root = identity.ROOT
    assert identity._portable({"p": f"{root}/benchmarks/x.yaml", "t": (1, 2)}) == {"p": "<repo>/benchmarks/x.yaml",
                                                                                  "t": [1, 2]}  # fmt: skip


def test_two_checkouts_write_one_line_for_a_case_with_a_profile(tmp_path, monkeypatch):
    """Stop 51: a profile's path is resolved to an absolute one, so ``scenario_hash`` (a hash of the scenario) differed
    between two checkouts of one commit and ``--compare`` stopped at the first case with ``calibration.profile``. The
    same case under a second root (the profile copied to the same place in it) writes the same line now, its hash
    included, while the scenarios' own hashes differ; a case without a path of the checkout keeps its own hash."""
    import shutil

    from benchmarks.agreement_fuzz import PROFILE

    relative = PROFILE.relative_to(identity.ROOT)
    other = tmp_path / "checkout"
    (other / relative).parent.mkdir(parents=True)
    shutil.copy(PROFILE, other / relative)
    scenario = Path(identity.ROOT) / "scenarios" / "default.yaml"
    lines, own = [], []
    for root in (identity.ROOT, str(other)):
        monkeypatch.setattr(identity, "ROOT", root)
        sets = [f"calibration.profile={root}/{relative}"]
        row = {engine: identity._answer(scenario, sets, engine, 60) for engine in ("analytic", "sim")}
        assert all("result" in answer for answer in row.values()), row
        lines.append(json.dumps(identity._portable(row), sort_keys=True))
        own.append(identity.load_scenario(scenario, sets).scenario_hash())
    assert lines[0] == lines[1] and own[0] != own[1]
    plain = identity.load_scenario(scenario, [])
    assert identity._answer(scenario, [], "analytic", 60)["result"]["scenario_hash"] == plain.scenario_hash()


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "--out: expected a file"),
        (["--out", "missing-folder/x.jsonl"], "--out: missing-folder/x.jsonl: expected a file in an existing folder"),
        (["--out", "x.jsonl", "--set", "cluster.nodez=2"], "--set:"),
        (["--compare", "missing-a.jsonl", "missing-b.jsonl"], "--compare: cannot read missing-a.jsonl"),
        (["--compare", "a", "b", "--out", "x.jsonl"], "give one of them"),
        (["--cases", "0", "--out", "x.jsonl"], "--cases"),
    ],
)
def test_bad_options_are_one_line_and_status_2(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert_one_line_and_status_2(identity.main, argv, message, capsys)
    assert not (tmp_path / "x.jsonl").exists()


def test_a_file_the_script_did_not_write_is_refused(tmp_path, capsys):
    other = tmp_path / "other.jsonl"
    other.write_text('{"not": "a case"}\n')
    assert identity.main(["--compare", str(other), str(other)]) == 2
    assert "line 1 is not a case this script wrote" in capsys.readouterr().err
    a, short = _write(tmp_path, "a.jsonl"), tmp_path / "short.jsonl"
    short.write_text(a.read_text().splitlines(keepends=True)[0])
    assert identity.main(["--compare", str(a), str(short)]) == 2
    assert "holds 6 cases" in capsys.readouterr().err


def test_a_damaged_file_or_output_is_one_line_and_status_2(tmp_path, capsys):
    """Round 31 (hostile): a file not UTF-8 was a UnicodeDecodeError traceback, an answer that was a number a
    TypeError, a line nested 100,000 deep a RecursionError, a FIFO waited forever; ``--out /dev/full`` priced every
    case, then an OSError traceback. Each is one line naming the option now, the output refused before pricing."""
    import os

    row = {"case": 0, "draws": "plain", "file": "default.yaml", "sets": [], "analytic": {"refused": "x"}}
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(row) + "\n")
    damaged = {
        "utf16.jsonl": good.read_text().encode("utf-16"),
        "number.jsonl": good.read_bytes().replace(b'{"refused": "x"}', b"5"),
        "deep.jsonl": b"[" * 100_000 + b"]" * 100_000 + b"\n",
        "nested.jsonl": (
            json.dumps(row | {"sim": {"x": [0]}}).replace("[0]", "[" * 40 + "0" + "]" * 40) + "\n"
        ).encode(),
    }
    for name, data in damaged.items():
        (tmp_path / name).write_bytes(data)
    os.mkfifo(tmp_path / "fifo.jsonl")
    for name in [*damaged, "fifo.jsonl"]:
        assert identity.main(["--compare", str(tmp_path / name), str(good)]) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: --compare") and "Traceback" not in err, (name, err)
    assert identity.main(["--cases", "1", "--out", "/dev/full"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err
    assert identity.main(["--compare", str(good), str(good)]) == 0
    assert "1 cases identical" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kind, needed",
    [
        ("jitter", ["variability.compute_jitter_cv", "variability.jitter_distribution"]),
        ("float8", ["cluster.device", "training.precision", "model.fp8_linear", "training.tensor_parallel"]),
    ],
)
def test_the_jitter_and_float8_kinds_set_their_fields_once_and_are_priced(kind, needed, tmp_path):
    """Stop 50: the mix's draws set no jitter and no FP8 linear layers, so rank_speed's exact lognormal and torchao's
    Float8 casts under tensor parallelism were never in a file. Each kind's cases carry its fields, each path once
    (the value the case is priced with), and at least one case of the seed is priced, not refused."""
    out = tmp_path / f"{kind}.jsonl"
    assert identity.main(["--cases", "4", "--seed", "3", "--draws", kind, "--engine", "both", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["draws"] for r in rows] == [kind] * 4
    for row in rows:
        paths = [item.partition("=")[0] for item in row["sets"]]
        assert len(paths) == len(set(paths)), row["sets"]
        assert set(needed) <= set(paths), row["sets"]
        fields = dict(item.partition("=")[::2] for item in row["sets"])
        if kind == "float8":
            assert fields["training.precision"] == "fp8" and int(fields["training.tensor_parallel"]) > 1
            assert fields["cluster.device"] in identity.FP8_DEVICES
        else:
            assert float(fields["variability.compute_jitter_cv"]) in identity.JITTER_CVS
    assert any("result" in r["analytic"] and "result" in r["sim"] for r in rows)
    if kind == "jitter":
        assert any("variability.jitter_distribution=lognormal" in r["sets"] and "result" in r["analytic"] for r in rows)


def test_a_later_value_of_a_path_replaces_the_earlier_one():
    drawn = ["training.tensor_parallel=1", "cluster.nodes=2", "training.tensor_parallel=4", "a.b=x=y"]
    assert identity._last_wins(drawn) == ["cluster.nodes=2", "training.tensor_parallel=4", "a.b=x=y"]
