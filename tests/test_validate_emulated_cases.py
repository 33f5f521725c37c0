"""``validate_emulated.py --case-set fresh44`` (stop 44), ``fresh45`` (stop 45), ``fresh46`` (stop 46), ``fresh47``
(stop 47), ``fresh48`` (stop 48), ``fresh49`` (stop 49), ``fresh50`` (stop 50), ``fresh51`` (stop 51), ``fresh52``
(stop 52), ``fresh53`` (stop 53), ``fresh54`` (stop 54) and ``fresh55`` (stop 55): issue 10's coverage, disjoint from
every stored set (each from the fresh sets before it) and from the calibration, drawn by the rule recorded beside their
results; ``--reuse`` refuses runs of another set."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")

from dpsim.calibration import load_profile
from runtime.job import check_supported
from runtime.validate import build_cases, calibration_overlap
from tests._bench import load_benchmark

ROOT = Path(__file__).resolve().parent.parent
ve = load_benchmark("validate_emulated")
plain_ddp = load_benchmark("plain_ddp")
STORED = ROOT / "benchmarks/results/validation-2026-12-06-o/all"
NEWEST = ROOT / "benchmarks/results/validation-2026-12-06-q/all"  # fresh44's window-1 calibration
FRESH45_CAL = ROOT / "benchmarks/results/validation-2026-12-06-r/all"  # fresh45's window-1 calibration
FRESH46_CAL = ROOT / "benchmarks/results/validation-2026-12-07-a/all"  # fresh46's window-1 calibration
FRESH47_CAL = ROOT / "benchmarks/results/validation-2026-12-07-b/all"  # fresh47's window-1 calibration
FRESH48_CAL = ROOT / "benchmarks/results/validation-2026-12-07-c/all"  # fresh48's window-1 calibration
FRESH49_CAL = ROOT / "benchmarks/results/validation-2026-12-07-d/all"  # fresh49's window-1 calibration
FRESH50_CAL = ROOT / "benchmarks/results/validation-2026-12-07-e/all"  # fresh50's window-1 calibration
FRESH51_CAL = ROOT / "benchmarks/results/validation-2026-12-07-f/all"  # fresh51's window-1 calibration
FRESH52_CAL = ROOT / "benchmarks/results/validation-2026-12-07-g/all"  # fresh52's CAL1
FRESH53_CAL = ROOT / "benchmarks/results/validation-2026-12-07-h/all"  # fresh53's CAL1
FRESH54_CAL = ROOT / "benchmarks/results/validation-2026-12-08-a/all"  # fresh54's CAL1
STORED_CALS = (STORED, NEWEST, FRESH45_CAL, FRESH46_CAL, FRESH47_CAL, FRESH48_CAL, FRESH49_CAL, FRESH50_CAL,
               FRESH51_CAL, FRESH52_CAL, FRESH53_CAL, FRESH54_CAL)  # fmt: skip
# cases sharing no calibration point; the rest share only a rank count 2–4
NO_SHARED_POINT = {"fresh44": 14, "fresh45": 11, "fresh46": 11, "fresh47": 12, "fresh48": 10, "fresh49": 14,
                   "fresh50": 9, "fresh51": 14, "fresh52": 9, "fresh53": 13, "fresh54": 10, "fresh55": 12}  # fmt: skip
DRAW = {"fresh44": ROOT / "benchmarks/results/validation-2026-12-06-q/draw_cases.py",
        "fresh45": ROOT / "benchmarks/results/validation-2026-12-06-r/draw_cases.py",
        "fresh46": ROOT / "benchmarks/results/validation-2026-12-07-a/draw_cases.py",
        "fresh47": ROOT / "benchmarks/results/validation-2026-12-07-b/draw_cases.py",
        "fresh48": ROOT / "benchmarks/results/validation-2026-12-07-c/draw_cases.py",
        "fresh49": ROOT / "benchmarks/results/validation-2026-12-07-d/draw_cases.py",
        "fresh50": ROOT / "benchmarks/results/validation-2026-12-07-e/draw_cases.py",
        "fresh51": ROOT / "benchmarks/results/validation-2026-12-07-f/draw_cases.py",
        "fresh52": ROOT / "benchmarks/results/validation-2026-12-07-g/draw_cases.py",
        "fresh53": ROOT / "benchmarks/results/validation-2026-12-07-h/draw_cases.py",
        "fresh54": ROOT / "benchmarks/results/validation-2026-12-08-a/draw_cases.py",
        "fresh55": ROOT / "benchmarks/results/validation-2026-12-08-b/draw_cases.py"}  # fmt: skip
RATES = {"fresh44": {3e8, 6e8, 8e8}, "fresh45": {3.5e8, 6.5e8, 10.5e8}, "fresh46": {4e8, 5.5e8, 11.5e8},
         "fresh47": {3.25e8, 7.25e8, 12.5e8}, "fresh48": {2.75e8, 6.25e8, 8.75e8},
         "fresh49": {2.25e8, 5.75e8, 9.25e8}, "fresh50": {1.75e8, 6.75e8, 9.75e8},
         "fresh51": {1.25e8, 5.25e8, 10.25e8}, "fresh52": {3.75e8, 8.25e8, 11.75e8},
         "fresh53": {2.9e8, 6.9e8, 10.9e8}, "fresh54": {2.6e8, 6.1e8, 11.3e8},
         "fresh55": {3.6e8, 7.4e8, 10.6e8}}  # fmt: skip
EARLIER_FRESH = {"fresh44": [], "fresh45": ["fresh44"], "fresh46": ["fresh44", "fresh45"],
                 "fresh47": ["fresh44", "fresh45", "fresh46"],
                 "fresh48": ["fresh44", "fresh45", "fresh46", "fresh47"],
                 "fresh49": ["fresh44", "fresh45", "fresh46", "fresh47", "fresh48"],
                 "fresh50": ["fresh44", "fresh45", "fresh46", "fresh47", "fresh48", "fresh49"],
                 "fresh51": ["fresh44", "fresh45", "fresh46", "fresh47", "fresh48", "fresh49", "fresh50"],
                 "fresh52": ["fresh44", "fresh45", "fresh46", "fresh47", "fresh48", "fresh49", "fresh50",
                             "fresh51"],
                 "fresh53": ["fresh44", "fresh45", "fresh46", "fresh47", "fresh48", "fresh49", "fresh50",
                             "fresh51", "fresh52"],
                 "fresh54": ["fresh44", "fresh45", "fresh46", "fresh47", "fresh48", "fresh49", "fresh50",
                             "fresh51", "fresh52", "fresh53"],
                 "fresh55": ["fresh44", "fresh45", "fresh46", "fresh47", "fresh48", "fresh49", "fresh50",
                             "fresh51", "fresh52", "fresh53", "fresh54"]}  # fmt: skip
FRESH = pytest.mark.parametrize("case_set", sorted(DRAW))


def _scenarios(cases: Any, tmp_path: Path) -> list[Any]:
    (tmp_path / "s.yaml").write_text(ve.SCENARIO)
    return [c.scenario for c in build_cases(tmp_path / "s.yaml", [], cases)]


def _key(s: Any) -> tuple[object, ...]:
    c, m = s.cluster, s.model
    return (m.layers, m.hidden, c.nodes, c.workers_per_node, s.training.micro_batch, s.accumulation_steps,
            s.communication.bucket, s.communication.algorithm, c.inter_node.bandwidth)  # fmt: skip


@FRESH
def test_a_fresh_set_covers_every_item_of_issue_10s_list(case_set: str, tmp_path: Path) -> None:
    fresh = _scenarios(ve.CASE_SETS[case_set], tmp_path)
    assert len(fresh) >= 16 and len({_key(s) for s in fresh}) == len(fresh)
    assert {s.world_size for s in fresh if s.cluster.workers_per_node == 1} == set(range(2, 9))
    assert {s.cluster.workers_per_node for s in fresh} == {1, 2}
    assert {s.cluster.inter_node.bandwidth * 8 for s in fresh} == RATES[case_set]
    buckets = {s.communication.bucket / 2**20 for s in fresh}
    assert min(buckets) == 1 and max(buckets) == 100 and len(buckets) >= 5
    assert {1, 8} <= {s.accumulation_steps for s in fresh} <= set(range(1, 9))
    batches = {s.training.micro_batch for s in fresh}
    assert min(batches) == 32 and max(batches) == 256
    algorithms = {s.communication.algorithm for s in fresh}
    assert algorithms == {"backend", "ring", "tree", "halving-doubling", "hierarchical"}
    assert sum(bool(s.variability.stragglers) for s in fresh) == 1
    assert sum(not s.communication.overlap for s in fresh) == 1
    for s in fresh:
        check_supported(s)  # the runtime runs every one (no refusal at launch inside a window)


@FRESH
def test_a_fresh_set_shares_no_configuration_rate_or_calibration_point(case_set: str, tmp_path: Path) -> None:
    """No case is a configuration of an earlier set (the default and every fresh set before it) or of plain_ddp's sets;
    no stored training run used its link rates; the stored calibrations share no rate, bucket or compute-grid point with
    any case (only rank counts 2–4, which issue 10's range 2–8 cannot avoid)."""
    fresh = _scenarios(ve.CASE_SETS[case_set], tmp_path)
    earlier = [ve.CASES] + [ve.CASE_SETS[name] for name in EARLIER_FRESH[case_set]]
    others = []
    for i, cases in enumerate(earlier):
        (tmp_path / f"earlier{i}").mkdir()  # its own folder: not pytest's shared parent of every tmp_path
        others += _scenarios(cases, tmp_path / f"earlier{i}")
    others += [c.scenario for name in plain_ddp.CASE_SETS for c in plain_ddp._cases((), name)]
    assert not {_key(s) for s in fresh} & {_key(s) for s in others}
    assert not {s.cluster.inter_node.bandwidth for s in fresh} & {s.cluster.inter_node.bandwidth for s in others}
    for stored in STORED_CALS:
        profile = load_profile(stored / "profile.yaml")
        for s in fresh:
            assert all("ranks benchmarked" in point for point in calibration_overlap(s, profile))
        assert sum(not calibration_overlap(s, profile) for s in fresh) >= NO_SHARED_POINT[case_set]


@FRESH
def test_a_fresh_set_is_what_the_recorded_rule_draws(case_set: str) -> None:
    """The list in the script is the output of the seeded draw recorded with the results (the rule, not a hand pick)."""
    assert runpy.run_path(str(DRAW[case_set]))["draw"]() == ve.CASE_SETS[case_set]


def test_fresh45_to_fresh55_are_fresh44s_rule_with_another_seed_and_rates() -> None:
    """One rule: the stop-45 draw is stop 44's function with seed 45 and 350 / 650 / 1050 Mbit/s, the stop-46 draw with
    seed 46 and 400 / 550 / 1150 Mbit/s, the stop-47 draw with seed 47 and 325 / 725 / 1250 Mbit/s, the stop-48 draw
    with seed 48 and 275 / 625 / 875 Mbit/s, the stop-49 draw with seed 49 and 225 / 575 / 925 Mbit/s, the stop-50
    draw with seed 50 and 175 / 675 / 975 Mbit/s, the stop-51 draw with seed 51 and 125 / 525 / 1025 Mbit/s (with its
    rule's one repair, which changes no earlier draw), the stop-52 draw with seed 52 and 375 / 825 / 1175 Mbit/s, the
    stop-53 draw with seed 53 and 290 / 690 / 1090 Mbit/s, the stop-54 draw with seed 54 and 260 / 610 / 1130 Mbit/s
    and the stop-55 draw with seed 55 and 360 / 740 / 1060 Mbit/s (the repair changes nothing in any of the four), and
    they differ."""
    rule = runpy.run_path(str(DRAW["fresh44"]))["draw"]
    assert rule(45, (350, 650, 1050)) == ve.FRESH45 != rule()
    assert rule(46, (400, 550, 1150)) == ve.FRESH46 not in (ve.FRESH45, ve.FRESH44)
    assert rule(47, (325, 725, 1250)) == ve.FRESH47 not in (ve.FRESH46, ve.FRESH45, ve.FRESH44)
    assert rule(48, (275, 625, 875)) == ve.FRESH48 not in (ve.FRESH47, ve.FRESH46, ve.FRESH45, ve.FRESH44)
    assert rule(49, (225, 575, 925)) == ve.FRESH49 not in (ve.FRESH48, ve.FRESH47, ve.FRESH46, ve.FRESH45, ve.FRESH44)
    earlier = (ve.FRESH49, ve.FRESH48, ve.FRESH47, ve.FRESH46, ve.FRESH45, ve.FRESH44)
    assert rule(50, (175, 675, 975)) == ve.FRESH50 not in earlier
    repair = runpy.run_path(str(DRAW["fresh51"]))["repair"]
    assert repair(rule(51, (125, 525, 1025))) == ve.FRESH51 not in (ve.FRESH50, *earlier)
    assert rule(51, (125, 525, 1025)) != ve.FRESH51  # the repair: seed 51 alone leaves out 2 ranks one a node
    assert all(repair(cases) == cases for cases in (ve.FRESH50, *earlier))  # and changes no earlier draw
    assert rule(52, (375, 825, 1175)) == repair(rule(52, (375, 825, 1175))) == ve.FRESH52
    assert ve.FRESH52 not in (ve.FRESH51, ve.FRESH50, *earlier)
    assert rule(53, (290, 690, 1090)) == repair(rule(53, (290, 690, 1090))) == ve.FRESH53
    assert ve.FRESH53 not in (ve.FRESH52, ve.FRESH51, ve.FRESH50, *earlier)
    assert rule(54, (260, 610, 1130)) == repair(rule(54, (260, 610, 1130))) == ve.FRESH54
    assert ve.FRESH54 not in (ve.FRESH53, ve.FRESH52, ve.FRESH51, ve.FRESH50, *earlier)
    assert rule(55, (360, 740, 1060)) == repair(rule(55, (360, 740, 1060))) == ve.FRESH55
    assert ve.FRESH55 not in (ve.FRESH54, ve.FRESH53, ve.FRESH52, ve.FRESH51, ve.FRESH50, *earlier)


def _reuse(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "benchmarks/validate_emulated.py"), "--reuse", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)}, timeout=600)


def test_reuse_refuses_runs_of_another_case_set_and_records_the_set(tmp_path: Path) -> None:
    wrong = _reuse(str(STORED), "--case-set", "fresh44")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "not --case-set fresh44's" in wrong.stderr and wrong.stderr.count("\n") == 1
    right = _reuse(str(STORED), "--out", str(tmp_path / "out"))
    assert right.returncode == 0, right.stderr
    assert json.loads((tmp_path / "out/summary.json").read_text())["case_set"] == "default"


def test_a_damaged_or_foreign_summary_is_refused_naming_it(tmp_path: Path) -> None:
    """Round 30: ``--reuse DIR`` reads the runs' case set from ``DIR/summary.json``. A file that could not be read, was
    not a JSON object or recorded another script's set (plain_ddp's ``heldout``) was read as none recorded (the
    default set), and the runs' check then blamed ``--case-set``; a list recorded was a ``TypeError``. Each is one
    line naming the file now; none recorded is still the default."""
    summary = tmp_path / "summary.json"
    assert ve._recorded_case_set(tmp_path) is None  # an older folder, without one
    for text, recorded in (('{"case_set": "fresh45"}', "fresh45"), ("{}", None), ('{"case_set": null}', None)):
        summary.write_text(text)
        assert ve._recorded_case_set(tmp_path) == recorded
    for data in (b"\xff", b"[]", b"{", b'{"case_set": []}', b'{"case_set": "heldout"}', b'{"case_set": 45}'):
        summary.write_bytes(data)
        with pytest.raises(ve.ScriptError, match=r"summary\.json: ") as refused:
            ve._recorded_case_set(tmp_path)
        assert "\n" not in str(refused.value) and "--reuse" in str(refused.value)
    summary.unlink()
    summary.mkdir()
    with pytest.raises(ve.ScriptError, match=r"summary\.json: Is a directory"):
        ve._recorded_case_set(tmp_path)
