"""benchmarks/plan_identity.py: a planner change's "no plan moved", per request and hostile case, compared."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from tests._bench import assert_one_line_and_status_2, load_benchmark

identity = load_benchmark("plan_identity")


def _write(tmp_path: Path, name: str, *options: str) -> Path:
    out = tmp_path / name
    assert identity.main([*options, "--out", str(out)]) == 0
    return out


def test_one_frame_written_twice_is_identical_and_a_moved_cell_names_its_column(tmp_path, capsys):
    a = _write(tmp_path, "a.jsonl", "--parts", "frames", "--only", "cpu")
    b = _write(tmp_path, "b.jsonl", "--parts", "frames", "--only", "cpu")
    assert a.read_bytes() == b.read_bytes()
    (row,) = [json.loads(line) for line in a.read_text().splitlines()]
    assert row["name"] == "cpu" and row["rows"] > 0 and "step_time_s" in row["cells"] and row["attrs"]["searched"]
    assert identity.main(["--compare", str(a), str(b)]) == 0
    assert "1 frames and 0 hostile cases identical" in capsys.readouterr().out
    row["cells"]["step_time_s"] = "0" * 32
    moved = tmp_path / "moved.jsonl"
    moved.write_text(json.dumps(row) + "\n")
    assert identity.main(["--compare", str(a), str(moved)]) == 1
    assert "frames 'cpu' differs at cells.step_time_s" in capsys.readouterr().out


def test_a_column_hash_sees_one_ulp_and_the_order_of_rows():
    x = pd.Series([1.0, 2.0])
    assert identity._hash(x) == identity._hash(pd.Series([1.0, 2.0]))
    assert identity._hash(x) != identity._hash(pd.Series([math.nextafter(1.0, 2.0), 2.0]))
    assert identity._hash(x) != identity._hash(pd.Series([2.0, 1.0]))


def test_the_hostile_plan_cases_run_as_the_corpus_runs_them(tmp_path, monkeypatch, capsys):
    """The ``--simulate`` past ``--top`` class (the corpus's own generator; building every class takes ~16 s): refused
    in one line (exit 2) or run, the same file twice, no scratch path written."""
    from tests import hostile

    monkeypatch.setattr(hostile, "all_cases", lambda: [*hostile.plan_simulate_past_top(), *hostile.plans()])
    options = ("--parts", "hostile", "--only", "--simulate past --top")
    a, b = _write(tmp_path, "a.jsonl", *options), _write(tmp_path, "b.jsonl", *options)
    assert a.read_bytes() == b.read_bytes()
    rows = [json.loads(line) for line in a.read_text().splitlines()]
    assert len(rows) >= 5 and all(r["part"] == "hostile" and r["code"] in (0, 2) for r in rows)
    assert all("--simulate past --top" in r["name"] for r in rows)  # --only: the other class's cases left out
    assert any(r["code"] == 2 and r["stderr"].startswith("error:") for r in rows)
    assert str(tmp_path) not in a.read_text() and "/tmp" not in a.read_text()
    assert identity.main(["--compare", str(a), str(b)]) == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "--out: expected a file"),
        (["--out", "missing-folder/x.jsonl"], "expected a file in an existing folder"),
        (["--out", "x.jsonl", "--parts", "frames", "--only", "no such request"], "--only: 'no such request' names"),
        (["--compare", "missing-a.jsonl", "missing-b.jsonl"], "--compare: cannot read missing-a.jsonl"),
        (["--compare", "a", "b", "--out", "x.jsonl"], "give one of them"),
        (["--parts", "neither", "--out", "x.jsonl"], "--parts"),
    ],
)
def test_bad_options_are_one_line_and_status_2(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert_one_line_and_status_2(identity.main, argv, message, capsys)
    assert not (tmp_path / "x.jsonl").exists()


def test_files_of_other_items_or_shapes_are_refused(tmp_path, capsys):
    item = {"part": "frames", "name": "cpu", "rows": 1}
    one, other, bad = tmp_path / "one.jsonl", tmp_path / "other.jsonl", tmp_path / "bad.jsonl"
    one.write_text(json.dumps(item) + "\n")
    other.write_text(json.dumps(item | {"name": "v100 + b200"}) + "\n")
    bad.write_text('{"case": 0}\n')
    assert identity.main(["--compare", str(one), str(other)]) == 2
    assert "hold other items" in capsys.readouterr().err
    assert identity.main(["--compare", str(bad), str(one)]) == 2
    assert "line 1 is not an item this script wrote" in capsys.readouterr().err
    # round 32 (hostile): an item nested 900 deep (json reads it) was a RecursionError traceback in the comparison
    for name, value in (("deep-a.jsonl", 1), ("deep-b.jsonl", 2)):
        (tmp_path / name).write_text(json.dumps(item).replace("1}", "[" * 900 + str(value) + "]" * 900 + "}") + "\n")
    assert identity.main(["--compare", str(tmp_path / "deep-a.jsonl"), str(tmp_path / "deep-b.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 1 is not an item this script wrote" in err
