"""benchmarks/compute_share.py: the compute term split into the ranks' work and their share of the cores (stop 49)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRESH48 = ROOT / "benchmarks" / "results" / "validation-2026-12-07-c"
sys.path.insert(0, str(ROOT))


def test_the_ranks_own_epsilon_is_recovered_from_exact_points_by_hand() -> None:
    """work = 1.1·(1 + 0.05(k − 1)) at k = 2, 4, 8: 1.155, 1.265, 1.485 -> a 1.1, ε_t 0.05; flat -> ε_t 0."""
    from benchmarks.compute_share import fit_work

    a, eps = fit_work([(2, 1.155), (4, 1.265), (8, 1.485)])
    assert a == pytest.approx(1.1, rel=1e-6) and eps == pytest.approx(0.05, abs=1e-6)
    a, eps = fit_work([(2, 1.2), (4, 1.2), (8, 1.2)])
    assert a == pytest.approx(1.2, rel=1e-6) and eps == pytest.approx(0.0, abs=1e-6)


def test_a_swap_takes_one_measurement_from_the_other_profile_and_keeps_the_rest() -> None:
    from benchmarks.compute_share import SWAPS, swapped
    from dpsim.calibration import load_profile

    ours, theirs = (load_profile(FRESH48 / d / "profile.yaml") for d in ("all", "all-cal2"))
    eps = swapped(ours, theirs, "epsilon")
    assert eps.host_model.efficiency_loss == theirs.host_model.efficiency_loss
    assert eps.host_model.measured == ours.host_model.measured and eps.compute_curve == ours.compute_curve
    curve = swapped(ours, theirs, "curve")
    assert curve.compute_curve == theirs.compute_curve and curve.host_model == ours.host_model
    assert swapped(ours, theirs, "optimizer").optimizer == theirs.optimizer
    assert swapped(ours, theirs, "links").links == theirs.links and swapped(ours, theirs, "all") is theirs
    assert dataclasses.replace(swapped(ours, theirs, "host"), host_model=ours.host_model) == ours
    assert SWAPS == ("curve", "epsilon", "host", "links", "optimizer", "all")


def test_fresh48_splits_into_work_above_the_curve_and_a_share_apart_where_a_tree_steps_apart() -> None:
    """Stop 48's fresh draw against its W1 profile (stop 49's figures, README): the ranks' CPU is 1.24 x the curve
    alone (median over the 51 runs without the straggler), their own ε_t 0.047-0.058 a repeat against the profile's
    0.048; the 4-rank single-bucket tree (case 9) computes at 0.60 of max(1, k/C)'s share, priced +73 %, where the
    ranks leave together (release 1); the 6-rank halving-doubling (case 13) at 0.70, release 0.667 (stop 50) and 0.377
    since its partners leave with their send in the socket (stop 51): the release times match the lags, the processor
    sharing of the compute after them does not (README)."""
    out = subprocess.run([sys.executable, "benchmarks/compute_share.py", "--runs", str(FRESH48 / "all")], cwd=ROOT,
                         capture_output=True, text=True, check=True, env={"PYTHONPATH": str(ROOT)}).stdout  # fmt: skip
    assert "ε 0.048, C 2" in out
    assert "median work 1.237, share 0.990 over 51 runs without a straggler" in out
    assert "1: a 0.928 ε_t 0.058; 2: a 1.043 ε_t 0.047; 3: a 1.026 ε_t 0.049" in out
    assert "    9  4  1.094  0.598     2.290    1.000         +73.0 %" in out
    assert "    4  5  1.221  0.644     2.983    1.000         -18.0 %  (straggler)" in out
    # the 6-rank single-bucket halving-doubling: ranks 4 and 5 leave the last all-reduce one whole-vector send
    # (96 ms at 875 Mbit/s) before the others and finish their 31 ms alone; the partners 0 and 2 leave 2.65 MB
    # (24 ms) before the extras they send the result to, and under processor sharing would do most of their 31 ms
    # before the extras start: 0.377 of the window, where the runs measured 0.70
    assert "   13  6  1.216  0.704     3.724    0.377         +56.1 %" in out
    # the critical rank computes ~9 % longer than the median one; the barrier follows that spread (stop 50)
    assert "51 runs without a straggler: critical / median rank 1.091, critical − mean 8.4 ms, barrier 11.7 ms" in out


def test_fresh50_release_lags_beside_the_predicted_ones() -> None:
    """Stop 50's fresh draw (repeats 2-3 record each rank's release lag): gloo's ring of 4 ranks, 2 a node, one
    9.45 MB bucket at 175 Mbit/s: ranks 0 and 2 get their last segment over their node's link and leave while their
    last two 787 KB segments still drain to the next node, 75 ms on the profile's link (60-76 measured);
    halving-doubling of 7 ranks: the rank without an extra leaves one whole-vector send (125 ms) before the extras,
    the partners 2.65 MB (the socket, measured on these lags) before them."""
    out = subprocess.run([sys.executable, "benchmarks/compute_share.py", "--runs",
                          str(ROOT / "benchmarks" / "results" / "validation-2026-12-07-e" / "all")], cwd=ROOT,
                         capture_output=True, text=True, check=True, env={"PYTHONPATH": str(ROOT)}).stdout  # fmt: skip
    assert "    1 4 ranks, 2 a node, backend, 9.45 MB: predicted 0 0 75 75; measured 0 2 66 76 / 0 0 60 74" in out
    assert ("   14 7 ranks, 1 a node, halving-doubling, 9.45 MB: predicted 0 90 90 90 125 125 125; "
            "measured 0 84 93 102 124 125 126 / 0 91 92 94 122 122 125") in out  # fmt: skip
    # one a node: every hop at one rate, the ranks leave together
    assert "    3 8 ranks, 1 a node, backend, 2.36 MB: predicted 0 0 0 0 0 0 0 0; measured" in out


def test_runs_without_the_ranks_compute_cpu_are_refused_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "profile.yaml").write_text((FRESH48 / "all" / "profile.yaml").read_text(encoding="utf-8"))
    (folder / "summary.json").write_text(json.dumps({"case_set": "fresh48"}), encoding="utf-8")
    lines = (FRESH48 / "all" / "runs.jsonl").read_text(encoding="utf-8").splitlines()
    runs = [json.loads(line) for line in lines]
    for run in runs:
        run["extra"].pop("per_rank_compute_cpu_s")
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs), encoding="utf-8")
    done = subprocess.run([sys.executable, "benchmarks/compute_share.py", "--runs", str(folder)], cwd=ROOT,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)})  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "error: --runs: configuration 0: a run without extra.per_rank_compute_cpu_s"


def _damaged(tmp_path: Path, change: Any) -> Path:
    folder = tmp_path / "damaged"
    folder.mkdir()
    (folder / "profile.yaml").write_text((FRESH48 / "all" / "profile.yaml").read_text(encoding="utf-8"))
    (folder / "summary.json").write_text(json.dumps({"case_set": "fresh48"}), encoding="utf-8")
    runs = [json.loads(line) for line in (FRESH48 / "all" / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    change(runs[0]["extra"])
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs), encoding="utf-8")
    return folder


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "benchmarks/compute_share.py", *argv], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT)})  # fmt: skip


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda x: x.pop("critical_rank"), "a run without extra.critical_rank, per_rank_compute_s or"),
        (lambda x: x["per_rank_compute_cpu_s"].update({"0": 0.0}), "a run whose compute time is not > 0"),
    ],
)
def test_a_damaged_run_is_refused_in_one_line_naming_its_configuration(tmp_path: Path, change: Any, says: str) -> None:
    """Review 08:33: a run without ``critical_rank`` was a KeyError, a CPU time of 0 a ZeroDivisionError."""
    done = _run("--runs", str(_damaged(tmp_path, change)))
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.startswith("error: --runs: configuration 0: ") and says in done.stderr


@pytest.mark.parametrize("buckets", [[], {"a": 1}, [0]])  # a string, NaN or null: the record check refuses it
def test_a_halving_doubling_run_without_its_buckets_is_refused_in_one_line(tmp_path: Path, buckets: Any) -> None:
    """The ``release`` column prices the run's last bucket (fresh48's configuration 13, halving-doubling at 6 ranks):
    a bucket list that is empty, a mapping, or of zero bytes is one line naming the configuration, not a traceback
    (a string, NaN or null the record check refuses before)."""
    folder = tmp_path / "hd"
    folder.mkdir()
    for name in ("profile.yaml", "summary.json"):
        (folder / name).write_bytes((FRESH48 / "all" / name).read_bytes())
    runs = [json.loads(line) for line in (FRESH48 / "all" / "runs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert runs[39]["algorithm"] == "halving-doubling" and runs[39]["data_parallel"] == 6
    runs[39]["extra"]["bucket_bytes"] = buckets
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs), encoding="utf-8")
    done = _run("--runs", str(folder))
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.strip() == ("error: --runs: configuration 13: a halving-doubling run whose extra.bucket_bytes "
                                   "is not a list of byte counts > 0")  # fmt: skip


def test_every_input_is_checked_before_any_work_and_its_error_names_the_option(tmp_path: Path) -> None:
    """Review 08:33: a bad ``--swap`` was read only after the base profile had been split and scored (~15 s, the
    table printed); a missing folder's error did not name ``--runs``. Now nothing is printed before the one line."""
    bad = _run("--runs", str(FRESH48 / "all"), "--swap", str(FRESH48 / "all" / "runs.jsonl"))
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.startswith("error: --swap: ")
    missing = _run("--runs", str(tmp_path / "absent"))
    assert (
        missing.returncode == 2 and missing.stderr.startswith("error: --runs: ") and "Traceback" not in missing.stderr
    )
    nohost = tmp_path / "nohost.yaml"
    import yaml

    data = yaml.safe_load((FRESH48 / "all" / "profile.yaml").read_text(encoding="utf-8"))
    data.pop("host_model")
    nohost.write_text(yaml.safe_dump(data), encoding="utf-8")
    done = _run("--runs", str(FRESH48 / "all"), "--profile", str(nohost))
    assert done.returncode == 2 and done.stdout == "" and "expected a testbed profile with a host model" in done.stderr
