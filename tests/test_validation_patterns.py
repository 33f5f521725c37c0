"""``benchmarks/validation_patterns.py``: every stored validation re-predicted, errors by feature and by term."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from dpsim.records import read_jsonl
from tests._bench import load_benchmark

ROOT = Path(__file__).resolve().parents[1]


def test_every_listed_session_has_its_runs_profile_and_calibration_records() -> None:
    script = load_benchmark("validation_patterns")
    for name, (folder, profile) in script.SESSIONS.items():
        runs = script.RESULTS / folder
        assert (runs / "runs.jsonl").exists() or (runs / "records.jsonl").exists(), name
        given = script.RESULTS / profile if profile else runs / "profile.yaml"
        assert given.exists(), name
        assert (runs / "calibration-bench.json").exists() or (given.parent / "calibration-bench.json").exists(), name


def test_one_session_spread_from_its_runs_and_terms_adding_up_to_the_step(tmp_path: Path) -> None:
    """The run-to-run spread is (max − min)/median of the session's own saved runs (read here from runs.jsonl), and
    the terms' residuals, as shares of the measured step, add up to the step's error (breakdown's identity)."""
    script = load_benchmark("validation_patterns")
    rows = script.session_rows("2026-12-05-e", ["analytic"], tmp_path)
    assert len(rows) == 18
    lines = (script.RESULTS / "validation-2026-12-05-e/all/runs.jsonl").read_text(encoding="utf-8").splitlines()
    steps = [json.loads(line)["step_time_s"] for line in lines if json.loads(line)["engine"] == "runtime"]
    assert len(steps) == 54
    for index, row in enumerate(rows):
        mine = steps[3 * index : 3 * index + 3]
        assert row["spread_pct"] == pytest.approx(100 * (max(mine) - min(mine)) / statistics.median(mine), rel=1e-12)
        terms = sum(row[f"share_{label}"] for label in ("compute", "exposed", "optimizer", "rest"))
        assert terms == pytest.approx(row["error_analytic"], abs=1e-6)
    assert {row["algorithm"] for row in rows} == {"backend", "ring", "tree", "halving-doubling", "hierarchical"}
    assert [row["per_node"] for row in rows].count(2) == 4
    assert sorted({row["link_rate_mbit_s"] for row in rows}) == [200, 500, 1000]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--sessions", "nope"], "--sessions"),
        (["--engines", "fast"], "--engines"),
        (["--estimator", "mean"], "--estimator"),
        (["--estimator", "median", "--sessions", "27f6025"], "27f6025"),  # its runs predate each rank's terms
    ],
)
def test_bad_arguments_are_one_line_exit_2(args: list[str], field: str) -> None:
    done = subprocess.run([sys.executable, "benchmarks/validation_patterns.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0]


def test_the_median_estimator_takes_each_term_over_the_ranks_and_still_adds_up(tmp_path: Path) -> None:
    """``--estimator median``: each measured term is the median over the ranks of the rank's own, read here from the
    session's runs (the median of each configuration's three by step time); the engines' compute is the same under
    both estimators, so measured × (1 + error) agrees; the step's error does not move and the terms still add up."""
    script = load_benchmark("validation_patterns")
    rows = script.session_rows("2026-12-05-e", ["analytic"], tmp_path / "median", "median")
    slowest = script.session_rows("2026-12-05-e", ["analytic"], tmp_path / "slowest")
    lines = (script.RESULTS / "validation-2026-12-05-e/all/runs.jsonl").read_text(encoding="utf-8").splitlines()
    runs = [json.loads(line) for line in lines if json.loads(line)["engine"] == "runtime"]
    for index, (row, other) in enumerate(zip(rows, slowest, strict=True)):
        middle = sorted(runs[3 * index : 3 * index + 3], key=lambda run: run["step_time_s"])[1]
        per_rank = statistics.median(middle["extra"]["per_rank_compute_s"].values())
        predicted = middle["compute_s"] * (1 + other["error_compute"] / 100)
        assert per_rank * (1 + row["error_compute"] / 100) == pytest.approx(predicted, rel=1e-9)
        terms = sum(row[f"share_{label}"] for label in ("compute", "exposed", "optimizer", "rest"))
        assert terms == pytest.approx(row["error_analytic"], abs=1e-6)
        assert row["error_analytic"] == other["error_analytic"]  # the step is the step


def test_sessions_measured_before_the_runtime_honoured_bucket_views_say_so_in_their_runs() -> None:
    """Until 3e57ee1 the runtime built DDP with ``gradient_as_bucket_view=True`` whatever the scenario said; the
    ``validation`` and ``27f6025`` folders were measured before it (at f7d58b8 and 27f6025), and their runs say so
    (``extra.gradient_as_bucket_view``, written back into their records from the runtime's code of the day), so they
    are predicted as they ran (:func:`runtime.measure.as_run`); the later sessions' runs carry no such field and are
    predicted as the scenario says (false: torch's default), and those measured since ced91f4 record what DDP did
    (false)."""
    from runtime.measure import ran_bucket_views

    script = load_benchmark("validation_patterns")
    for name, (folder, _) in script.SESSIONS.items():
        runs = [r for r in read_jsonl(script.RESULTS / folder / "runs.jsonl") if r.engine == "runtime"]
        expected = True if name in ("validation", "27f6025") else False if name == "2026-12-05-j" else None
        assert {ran_bucket_views([run]) for run in runs} == {expected}, name
