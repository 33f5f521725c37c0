"""``benchmarks/ddp_timeline.py``'s account of a step (no root): hand-made rank records with known answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import ddp_timeline


@pytest.mark.parametrize(
    ("intervals", "lo", "hi", "expected"),
    [
        ([], 0.0, 1.0, 0.0),
        ([(0.2, 0.5)], 0.0, 1.0, 0.3),
        ([(0.2, 0.5), (0.4, 0.7)], 0.0, 1.0, 0.5),  # overlapping intervals count once
        ([(0.4, 0.7), (0.2, 0.5)], 0.0, 1.0, 0.5),  # in any order
        ([(0.2, 0.5), (0.6, 1.5)], 0.3, 0.8, 0.4),  # clipped to [lo, hi]
        ([(1.2, 1.5)], 0.0, 1.0, 0.0),
    ],
)
def test_union_overlap(intervals: list[tuple[float, float]], lo: float, hi: float, expected: float) -> None:
    assert ddp_timeline._union_overlap(intervals, lo, hi) == pytest.approx(expected)


def _rank(rank: int, t0: float, launch: tuple[float, float], done: tuple[float, float]) -> dict[str, object]:
    """One rank, one measured step after one warm-up: forward 10 ms, backward compute to 40 ms, return at 90."""
    step = {
        "step": 1, "t0": t0, "opt": [t0 + 0.090, t0 + 0.100], "end": t0 + 0.100, "thread_cpu": 0.050,
        "proc_cpu": 0.060, "opt_cpu": 0.004,
        "micro": [{"fwd": [t0, t0 + 0.010], "fwd_cpu": 0.010, "grad_first": t0 + 0.015, "grad_last": t0 + 0.040,
                   "compute_cpu": 0.015, "bwd_return": t0 + 0.090, "bwd_cpu": 0.020, "proc_cpu_at_return": 0.04}],
        "buckets": [
            {"index": 0, "bytes": 4 << 20, "launch": t0 + launch[0], "done": t0 + done[0]},
            {"index": 1, "bytes": 12 << 20, "launch": t0 + launch[1], "done": t0 + done[1]},
        ],
    }  # fmt: skip
    warm = {**step, "step": 0}
    return {"rank": rank, "warmup_steps": 1, "steps": [warm, step]}


def test_step_account_of_two_ranks() -> None:
    ranks = [_rank(0, 100.0, (0.020, 0.040), (0.060, 0.088)), _rank(1, 100.002, (0.024, 0.040), (0.058, 0.086))]
    s = ddp_timeline.case_summary(ranks)
    r = s["median_rank"]
    assert s["steps"] == 1
    assert r["step"] == pytest.approx(0.100)
    assert r["bwd_compute_last"] == pytest.approx(0.030)
    assert r["bwd_share"] == pytest.approx(0.5)  # 15 ms of CPU over 30 ms of compute
    assert r["exposed"] == pytest.approx(0.050)
    # rank 0: comm 20..88 ms, its compute 10..40 -> 20 ms hidden; rank 1: 24..86 -> 16 ms
    assert r["hidden"] == pytest.approx(0.018)
    assert r["other_threads_cores"] == pytest.approx(0.1)
    assert s["t0_skew"] == pytest.approx(0.002)
    b0, b1 = s["buckets"]
    assert b0["bytes"] == 4 << 20
    assert (b0["launch_first"], b0["launch_last"]) == (pytest.approx(0.020), pytest.approx(0.024))
    # on the shared clock: the last hand-over is rank 1's at 100.026; done at 100.060 and 100.060 -> 34 ms
    assert b0["after_last_launch"] == pytest.approx(0.034)
    assert b1["done"] == pytest.approx(0.087)
    assert r["opt_share"] == pytest.approx(0.4)  # 4 ms of CPU over the 10 ms optimizer step
    assert s["opt_start_spread"] == pytest.approx(0.002)  # each rank's optimizer starts 90 ms after its own t0
    assert r["inflight_max"] == 2  # bucket 1 handed over (40 ms) before bucket 0 completed (58-60 ms)


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([], 0),
        ([(0.0, 1.0)], 1),
        ([(0.0, 1.0), (1.0, 2.0)], 1),  # one completes as the next is handed over: never two at once
        ([(0.0, 1.0), (0.5, 2.0), (0.6, 0.7)], 3),
        ([(0.0, 1.0), (0.5, 2.0), (1.5, 3.0)], 2),
    ],
)
def test_max_in_flight(intervals: list[tuple[float, float]], expected: int) -> None:
    assert ddp_timeline._max_in_flight(intervals) == expected


def test_cases_outside_the_set_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert ddp_timeline.main(["--case-set", "fresh", "--cases", "12"]) == 2
    assert "--cases: expected indices 0..11 of --case-set fresh, got [12]" in capsys.readouterr().err


def test_reuse_prints_the_stored_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ranks = [_rank(0, 5.0, (0.02, 0.04), (0.06, 0.08)), _rank(1, 5.0, (0.02, 0.04), (0.06, 0.08))]
    row = {"case": "nodes=2", "index": 0, "repeat": 0, "ranks": 2, "summary": ddp_timeline.case_summary(ranks)}
    (tmp_path / "timeline.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    assert ddp_timeline.main(["--reuse", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "case 0 repeat 0: nodes=2 (2 ranks, 1 steps): step 100.0 ms" in out
    assert "bucket 1: 12.00 MiB handed over 40.0–40.0 ms (first–last rank), done 80.0" in out


@pytest.mark.parametrize(
    ("line", "names"),
    [("{not json", "line 2: not a JSON record"), ('{"index": 0}', "line 2: no field 'repeat'"),
     ('{"index": 0, "repeat": 0, "case": "c", "ranks": 2, "summary": []}', "line 2: a field of another shape")],
)  # fmt: skip
def test_reuse_refuses_a_damaged_row_before_printing_any(
    line: str, names: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ranks = [_rank(0, 5.0, (0.02, 0.04), (0.06, 0.08)), _rank(1, 5.0, (0.02, 0.04), (0.06, 0.08))]
    row = {"case": "nodes=2", "index": 0, "repeat": 0, "ranks": 2, "summary": ddp_timeline.case_summary(ranks)}
    (tmp_path / "timeline.jsonl").write_text(json.dumps(row) + "\n" + line + "\n", encoding="utf-8")
    assert ddp_timeline.main(["--reuse", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and names in err, err
