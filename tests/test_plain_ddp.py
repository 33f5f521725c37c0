"""The independent plain-DDP harness (``benchmarks/plain_ddp.py``): its estimator and a 2-rank run.

The estimator test needs no root: the harness's summary of per-rank step records must be what
:func:`runtime.measure.aggregate` reports for the same steps (the A/B compares the two). The run
test needs root (the emulated cluster) and is marked like ``tests/test_emulated.py``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.testbed.emulated import RootRequired, dpsim_namespaces, netns_prefix, require_root

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import plain_ddp

ROOT = Path(__file__).resolve().parents[1]

try:
    require_root()
    _why = ""
except RootRequired as exc:
    _why = str(exc)


def _ranks() -> list[dict[str, object]]:
    # 2 ranks, 4 steps (1 warm-up); rank 1 is the slower one in step 2
    times = {0: [0.50, 0.30, 0.36, 0.28], 1: [0.52, 0.32, 0.44, 0.30]}
    return [
        {"rank": r, "torch_version": "x", "foreign_modules": [],
         "steps": [{"step": s, "rank": r, "step_s": t, "forward_s": 0.01 * (r + 1), "backward_s": t - 0.05 - r * 0.01,
                    "optimizer_s": 0.04 + 0.01 * s} for s, t in enumerate(ts)]}
        for r, ts in times.items()
    ]  # fmt: skip


def test_summary_is_the_runtimes_estimator_on_the_same_steps() -> None:
    from dpsim.scenario import scenario_from_dict
    from runtime.measure import StepTiming, aggregate

    ranks = _ranks()
    got = plain_ddp.summarise(ranks, warmup_steps=1)
    # hand-computed: mean over ranks per measured step = 0.31, 0.40, 0.29 → median 0.31, min 0.29, max 0.40
    assert got["step_time_s"] == pytest.approx(0.31)
    assert (got["step_time_min_s"], got["step_time_max_s"]) == (pytest.approx(0.29), pytest.approx(0.40))
    scenario = scenario_from_dict(
        {"name": "t", "model": {"kind": "mlp", "layers": 2, "hidden": 8},
         "cluster": {"nodes": 2, "device": {"peak_flops": "1 TFLOP/s", "memory": "1 GB"}},
         "training": {"global_batch": 2, "micro_batch": 1}},
        "<test>",
    )  # fmt: skip
    timings = {
        int(r["rank"]): [StepTiming(s["step"], s["rank"], s["step_s"], s["forward_s"], s["backward_s"], 0.0,
                                    s["optimizer_s"]) for s in r["steps"]]  # type: ignore[index, attr-defined]
        for r in ranks
    }  # fmt: skip
    theirs = aggregate(scenario, timings, warmup_steps=1, meta={})
    assert got["step_time_s"] == pytest.approx(theirs.step_time_s)
    assert got["step_time_ci95_s"] == pytest.approx(theirs.step_time_ci95_s)
    assert got["step_time_min_s"] == pytest.approx(theirs.extra["step_time_min_s"])
    assert got["step_time_max_s"] == pytest.approx(theirs.extra["step_time_max_s"])
    assert got["optimizer_s"] == pytest.approx(theirs.optimizer_s)
    assert got["per_rank_step_time_s"] == pytest.approx(theirs.extra["per_rank_step_time_s"])


def test_plain_argv_keeps_ddps_default_bucket_and_passes_any_other() -> None:
    cases = plain_ddp._cases()
    default = plain_ddp.plain_argv(cases[0].scenario, warmup_steps=1, steps=5)
    assert "--bucket-cap-mb" not in default  # 25 MiB: DDP's own default (and its 1 MiB first bucket)
    one = plain_ddp.plain_argv(cases[1].scenario, warmup_steps=1, steps=5)
    assert one[one.index("--bucket-cap-mb") + 1] == "1"
    assert one[one.index("--hidden") + 1] == "1024" and one[one.index("--layers") + 1] == "4"


def test_heldout_cases_pass_accumulation_and_buckets_to_plain_ddp() -> None:
    cases = plain_ddp._cases((), "heldout")
    assert len(cases) >= 12 and {c.scenario.cluster.workers_per_node for c in cases} == {1, 2}
    assert {c.scenario.cluster.inter_node.bandwidth * 8 for c in cases} == {1e9, 5e8}
    argv = {c.label: plain_ddp.plain_argv(c.scenario, warmup_steps=1, steps=5) for c in cases}
    acc = argv["nodes=4, workers_per_node=2, micro_batch=32, accumulation=4, bucket=100 MiB"]
    assert acc[acc.index("--accumulation") + 1] == "4" and acc[acc.index("--bucket-cap-mb") + 1] == "100"
    assert acc[acc.index("--micro-batch") + 1] == "32"


def test_fresh_cases_share_no_configuration_with_the_other_sets() -> None:
    """``--case-set fresh`` is held out from everything stored: none of its configurations is ``heldout``'s or ``ab``'s
    (ranks a node, nodes, samples a rank, accumulation, bucket, rate)."""

    def key(s: Any) -> tuple[object, ...]:
        c = s.cluster
        return (c.nodes, c.workers_per_node, s.training.micro_batch, s.accumulation_steps, s.communication.bucket,
                c.inter_node.bandwidth)  # fmt: skip

    seen = {key(c.scenario) for name in ("ab", "heldout") for c in plain_ddp._cases((), name)}
    fresh = plain_ddp._cases((), "fresh")
    assert len(seen) == 19 and len({key(c.scenario) for c in fresh}) == 12
    assert not {key(c.scenario) for c in fresh} & seen
    assert {c.scenario.cluster.workers_per_node for c in fresh} == {1, 2}
    assert {c.scenario.cluster.inter_node.bandwidth * 8 for c in fresh} == {1e9, 7e8, 5e8}
    assert {c.scenario.world_size for c in fresh} == {2, 3, 4, 5, 6, 7, 8}
    for c in fresh:  # every case runs as plain DDP (an fp32 MLP, the backend's all-reduce)
        plain_ddp.plain_argv(c.scenario, warmup_steps=1, steps=5)


def test_fresh2_cases_share_no_configuration_batch_or_bucket_with_the_other_sets() -> None:
    """``--case-set fresh2`` (stop 43): none of its configurations is another set's, and its samples a rank and its
    buckets (besides 1 MiB and DDP's default) are ones no other set ran."""

    def key(s: Any) -> tuple[object, ...]:
        c = s.cluster
        return (c.nodes, c.workers_per_node, s.training.micro_batch, s.accumulation_steps, s.communication.bucket,
                c.inter_node.bandwidth)  # fmt: skip

    others = [c.scenario for name in ("ab", "heldout", "fresh") for c in plain_ddp._cases((), name)]
    fresh2 = [c.scenario for c in plain_ddp._cases((), "fresh2")]
    assert len({key(s) for s in fresh2}) == 12 and not {key(s) for s in fresh2} & {key(s) for s in others}
    assert not {s.training.micro_batch for s in fresh2} & {s.training.micro_batch for s in others}
    new_buckets = {s.communication.bucket for s in fresh2} - {s.communication.bucket for s in others}
    assert {b / 2**20 for b in new_buckets} == {3, 6, 12, 16, 50}
    assert {s.cluster.workers_per_node for s in fresh2} == {1, 2}
    assert {s.cluster.inter_node.bandwidth * 8 for s in fresh2} == {1e9, 7e8, 5e8}
    assert {s.world_size for s in fresh2} == {3, 4, 5, 6, 7, 8}
    assert {s.accumulation_steps for s in fresh2} == {1, 2, 3, 4}
    for s in fresh2:
        plain_ddp.plain_argv(s, warmup_steps=1, steps=5)


def test_plain_only_table_scores_each_engine_against_plain_ddp_per_repeat() -> None:
    """``--sides plain``: no runtime column; the error is the prediction against plain DDP's median run, and the
    per-repeat MAPE is each repeat's run alone (runs made 10 % / 25 % slower than predicted: -9.09 / -20 %)."""
    from dpsim import api
    from dpsim.scenario import CalibrationRef

    profile = ROOT / "benchmarks/results/validation-2026-12-05-i/bbr/CAL/profile.yaml"
    cases = plain_ddp._cases((), "heldout")[:2]
    runs = []
    for index, case in enumerate(cases):
        s = case.scenario.model_copy(deep=True)
        s.calibration = CalibrationRef(profile=str(profile))
        predicted = api.run(s).step_time_s
        for repeat, slower in enumerate((1.1, 1.1, 1.25)):
            runs.append({"index": index, "side": "plain", "repeat": repeat, "step_time_s": predicted * slower,
                         "forward_s": 0.0, "backward_s": 0.0, "optimizer_s": 0.0})  # fmt: skip
    rows, text = plain_ddp.table(runs, profile, (), "heldout")
    assert [r["case"] for r in rows] == [c.label for c in cases] and "runtime" not in text
    for r in rows:
        assert r["error_analytic_vs_plain_pct"] == pytest.approx(100 * (1 / 1.1 - 1))
        assert r["plain_spread_pct"] == pytest.approx(100 * 0.15 / 1.1)
    assert "analytic MAPE vs plain, per repeat: 9.09 / 9.09 / 20.00 %" in text
    assert "sim MAPE vs plain: 9.09 %" in text


@pytest.mark.root
@pytest.mark.multiprocess
@pytest.mark.skipif(bool(_why), reason=_why)
def test_two_rank_run_records_what_the_comparison_uses(tmp_path: Path) -> None:
    from tests._proc import run

    out = tmp_path / "run.json"
    proc = run(
        [sys.executable, "benchmarks/plain_ddp.py", "--nodes", "2", "--rate", "100 Mbit/s", "--layers", "2",
         "--hidden", "64", "--micro-batch", "4", "--optimizer", "adam", "--warmup-steps", "1", "--steps", "2",
         "--out", str(out)],
        timeout=240, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["world_size"] == 2 and record["steps_measured"] == 2 and record["warmup_steps"] == 1
    assert record["foreign_modules"] == []  # the training loop imported neither dpsim nor runtime
    for key in ("step_time_s", "forward_s", "backward_s", "optimizer_s"):
        assert record[key] > 0
    assert record["step_time_min_s"] <= record["step_time_s"] <= record["step_time_max_s"]
    assert record["step_time_ci95_s"] >= 0 and set(record["per_rank_step_time_s"]) == {"0", "1"}
    assert record["link_rate_bytes_per_s"] == pytest.approx(12.5e6) and record["measured_latency_s"] > 0
    assert _orphaned_namespaces() == []  # the harness's launcher (now exited) removed its cluster


def _orphaned_namespaces() -> list[str]:
    out = []
    for name in dpsim_namespaces():
        try:
            os.kill(int(name[len(netns_prefix()) :].split("-")[0]), 0)
        except ProcessLookupError:
            out.append(name)
    return out


class _LocalCluster:
    """The part of an emulated cluster :func:`plain_ddp.run_workers` uses, every rank on this host."""

    master_addr = "127.0.0.1"

    def grant(self, path: Path) -> None:
        pass

    def env(self, rank: int) -> dict[str, str]:
        return {}

    def prefix(self, rank: int) -> list[str]:
        return []


_FAKE_RANK = """
import os, sys
run_dir = sys.argv[sys.argv.index("--run-dir") + 1]
rank = int(os.environ["RANK"])
mode = sys.argv[-1]
if not (mode == "abort-before" and rank == 0):
    with open(os.path.join(run_dir, f"rank{rank}.json"), "w") as f:
        f.write('{"rank": %d}' % rank)
if rank == 0 and mode != "clean":
    print("terminate called without an active exception", flush=True)
    os.abort()
"""


@pytest.mark.multiprocess
def test_a_rank_that_aborts_after_its_results_is_reported_not_fatal(tmp_path: Path) -> None:
    """gloo's teardown aborted rank 0 after it had written its results (seen once under load in CI): the
    measurement stands, the abort is kept as the rank's ``teardown``; an abort before the results still fails."""
    script = tmp_path / "fake_rank.py"
    script.write_text(_FAKE_RANK, encoding="utf-8")
    ranks = plain_ddp.run_workers(_LocalCluster(), 2, 2, tmp_path / "a", script, ["abort-after"], timeout_s=60)
    assert [r["rank"] for r in ranks] == [0, 1] and "teardown" not in ranks[1]
    assert ranks[0]["teardown"].startswith("exited with -6 after writing its results: terminate called")
    clean = plain_ddp.run_workers(_LocalCluster(), 2, 2, tmp_path / "c", script, ["clean"], timeout_s=60)
    assert all("teardown" not in r for r in clean)
    with pytest.raises(RuntimeError, match="rank 0 exited with -6: terminate called"):
        plain_ddp.run_workers(_LocalCluster(), 2, 2, tmp_path / "b", script, ["abort-before"], timeout_s=60)


@pytest.mark.parametrize("option", ["--case-set=heldout", "--sides", "--cases", "--repeats", "--set"])
def test_an_ab_only_option_without_ab_is_refused_before_any_cluster_starts(
    option: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``--ab`` the script makes one run on an emulated cluster and never reads ``--case-set``, ``--sides``,
    ``--cases``, ``--repeats`` or ``--set``: given one, it used to start that cluster (root) as if it were not there."""
    import runtime.testbed.emulated as emulated

    def no_cluster(*args: object, **kwargs: object) -> None:
        raise AssertionError("an emulated cluster was started")

    monkeypatch.setattr(emulated, "EmulatedCluster", no_cluster)
    argv = [option] if "=" in option else [option, "1"]
    assert plain_ddp.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {option.split('=')[0]}: only with --ab"), err


J = ROOT / "benchmarks" / "results" / "plain-ddp-2026-12-05-j"
"""A stored A/B (``--case-set heldout --sides plain``, 13 cases x 3 repeats): the ``--reuse`` cases damage a copy."""


def _reuse_folder(tmp_path: Path, runs: str | bytes, summary: str | None = None) -> Path:
    folder = tmp_path / "ab"
    folder.mkdir()
    (folder / "summary.json").write_text(summary if summary is not None else (J / "summary.json").read_text())
    if isinstance(runs, bytes):
        (folder / "runs.jsonl").write_bytes(runs)
    else:
        (folder / "runs.jsonl").write_text(runs)
    return folder


_LINES = (J / "runs.jsonl").read_text().splitlines(keepends=True)
_FIRST = json.loads(_LINES[0])


@pytest.mark.parametrize(
    ("runs", "summary", "names"),
    [
        ("".join(_LINES[:4]) + _LINES[4][:40], None, "line 5: cut short"),  # an A/B stopped mid-write
        ("".join(_LINES[:2]) + "{oops\n" + _LINES[3], None, "line 3: not a JSON record"),
        ("", None, "no plain DDP run"),  # stopped before its first run ended
        (json.dumps({**_FIRST, "side": "runtime"}) + "\n", None, "no plain DDP run"),
        (json.dumps({k: v for k, v in _FIRST.items() if k != "index"}) + "\n", None, "line 1: index"),  # KeyError
        (json.dumps({**_FIRST, "index": 13}) + "\n", None, "line 1: index"),  # past the 13 held-out cases
        (json.dumps({**_FIRST, "index": True}) + "\n", None, "line 1: index"),
        (json.dumps({**_FIRST, "side": "Plain"}) + "\n", None, "line 1: side"),
        (json.dumps({**_FIRST, "repeat": "0"}) + "\n", None, "line 1: repeat"),
        (json.dumps({**_FIRST, "step_time_s": 0}) + "\n", None, "line 1: step_time_s"),  # ZeroDivisionError
        (json.dumps({**_FIRST, "forward_s": None}) + "\n", None, "line 1: forward_s"),
        (json.dumps({**_FIRST, "other_cores": "x"}) + "\n", None, "line 1: other_cores"),
        ("[1, 2]\n", None, "line 1: expected a run record"),
        (_LINES[0], "[]", "summary.json: expected"),  # AttributeError: 'list' has no 'get'
        (_LINES[0], '{"case_set": "bogus"}', "summary.json: expected"),  # KeyError in CASE_SETS
        (_LINES[0], '{"sets": [1]}', "summary.json: expected"),
        (_LINES[0], '{"sets": [', "summary.json: "),
        (b"\xff\xfe\x00", None, "runs.jsonl: "),
    ],
)
def test_reuse_of_a_half_written_or_foreign_folder_is_one_line(
    runs: str | bytes, summary: str | None, names: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Round 20: ``--reuse`` reads what ``--ab`` wrote, which appends each run to ``runs.jsonl`` as it ends: a
    stopped A/B leaves a last line cut short (a JSON error that named no file), and a foreign or damaged record was a
    ``KeyError`` / ``ZeroDivisionError`` / ``AttributeError`` traceback. Each is one line naming the file and line,
    status 2 (:func:`plain_ddp.read_reuse`)."""
    folder = _reuse_folder(tmp_path, runs, summary)
    assert plain_ddp.main(["--reuse", str(folder), "--profile", str(J / "profile.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --reuse: ") and names in err and err.count("\n") == 1, err
    missing = tmp_path / "none"
    assert plain_ddp.main(["--reuse", str(missing), "--profile", str(J / "profile.yaml")]) == 2
    assert f"{missing / 'summary.json'}: No such file" in capsys.readouterr().err


def test_reuse_of_whole_runs_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The first three runs as stored (three cases, one repeat each; a last line without its newline reads too)."""
    folder = _reuse_folder(tmp_path, "".join(_LINES[:3]).rstrip("\n"))
    assert plain_ddp.main(["--reuse", str(folder), "--profile", str(J / "profile.yaml")]) == 0
    out = capsys.readouterr().out
    assert "| nodes=2, micro_batch=32 | 2 |" in out and "analytic MAPE vs plain" in out


def test_reuse_prices_with_the_profile_the_ab_recorded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without ``--profile``, ``--reuse DIR`` prices the runs with the profile the A/B recorded in ``summary.json``
    (else ``DIR/profile.yaml``): the table ``--ab`` printed. It took an older session's default profile, so
    ``--reuse plain-ddp-2026-12-05-j`` printed 37.72 % where the A/B printed 9.10 %."""
    summary = {**json.loads((J / "summary.json").read_text()), "profile": str(J / "profile.yaml")}
    recorded = _reuse_folder(tmp_path, "".join(_LINES), json.dumps(summary))
    assert plain_ddp.main(["--reuse", str(recorded), "--profile", str(J / "profile.yaml")]) == 0
    named = capsys.readouterr().out
    # 9.10 % before the buckets shared the cores with the backward (stop 39), 6.64 % before max-min fair sharing
    # (stop 42), 6.85 % before gloo's second thread ran each bucket's latency beside the previous one's bytes (stop 43)
    assert "MAPE vs plain: 6.50 %" in named
    assert plain_ddp.main(["--reuse", str(recorded)]) == 0
    assert capsys.readouterr().out == named
    del summary["profile"]  # no record: the folder's own profile.yaml
    (recorded / "summary.json").write_text(json.dumps(summary))
    (recorded / "profile.yaml").write_bytes((J / "profile.yaml").read_bytes())
    assert plain_ddp.main(["--reuse", str(recorded)]) == 0
    assert capsys.readouterr().out == named


def test_reuse_finds_a_relative_recorded_profile_under_the_folders_own_checkout_or_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--ab`` records the profile relative to its checkout (``benchmarks/results/X/profile.yaml``). Read from
    another working directory, or from a sub-folder without its own ``profile.yaml`` (``-o/fresh``), ``--reuse``
    fell back to the default profile without a word: -o's fresh runs read 118.89 % where their profile gives
    7.14 %. Now the path is looked up under the folder's own checkout, and with no profile anywhere it is refused."""
    checkout = tmp_path / "other-checkout"
    session = checkout / "benchmarks" / "results" / "plain-ddp-x"
    session.mkdir(parents=True)
    (session / "profile.yaml").write_bytes((J / "profile.yaml").read_bytes())
    summary = {**json.loads((J / "summary.json").read_text()), "profile": "benchmarks/results/plain-ddp-x/profile.yaml"}
    fresh = _reuse_folder(session, "".join(_LINES[:3]), json.dumps(summary))  # no profile.yaml of its own
    assert plain_ddp.main(["--reuse", str(fresh), "--profile", str(J / "profile.yaml")]) == 0
    named = capsys.readouterr().out
    monkeypatch.chdir(tmp_path)  # not the checkout the A/B ran in
    assert plain_ddp.main(["--reuse", str(fresh)]) == 0
    assert capsys.readouterr().out == named
    (session / "profile.yaml").unlink()
    assert plain_ddp.main(["--reuse", str(fresh)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "benchmarks/results/plain-ddp-x/profile.yaml) is not found" in err, err
    assert err.rstrip().endswith("name one with --profile"), err


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--sides", "bogus"], "--sides"),
        (["--sides", ","], "--sides"),  # ran nothing on every cluster it started
        (["--cases", "x"], "--cases"),  # "invalid literal for int() with base 10: 'x'"
        (["--cases", "6"], "--cases"),  # the A/B's six cases are 0..5: ran nothing
        (["--case-set", "heldout", "--cases", "13"], "--cases"),
        (["--cases", "-1"], "--cases"),
        (["--repeats", "0"], "--repeats"),
        (["--case-set", "bogus"], "--case-set"),
        (["--set", "training.micro_bach=2"], "training.micro_bach"),
    ],
)
def test_a_bad_ab_option_is_refused_before_the_folder_is_touched(
    argv: list[str], names: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Round 20: ``--ab`` deleted the folder's ``runs.jsonl`` and rewrote ``summary.json`` before it refused
    ``--sides bogus`` (the old code's refusal came after both): a stored A/B lost to a typo. Every ``--ab`` option
    is checked first (:func:`plain_ddp.ab_options`); nothing is measured (``ab`` would fail the test)."""
    monkeypatch.setattr(plain_ddp, "ab", lambda *a, **k: pytest.fail("the A/B started"))
    out = tmp_path / "ab"
    out.mkdir()
    (out / "runs.jsonl").write_text("kept\n")
    assert plain_ddp.main(["--ab", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and names in err and err.count("\n") == 1, err
    assert (out / "runs.jsonl").read_text() == "kept\n" and not (out / "summary.json").exists()


def test_without_root_the_ab_leaves_the_folder_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plain_ddp, "ab", lambda *a, **k: pytest.fail("the A/B started"))
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    out = tmp_path / "ab"
    out.mkdir()
    (out / "runs.jsonl").write_text("kept\n")
    assert plain_ddp.main(["--ab", "--out", str(out)]) == 2
    assert "the emulated testbed is unavailable" in capsys.readouterr().err
    assert (out / "runs.jsonl").read_text() == "kept\n" and not (out / "summary.json").exists()


def test_reuse_link_bound_testbed_both_engines(capsys: pytest.CaptureFixture[str]) -> None:
    """The first plain DDP runs on the link-bound testbed (-n, stop 41), priced with their own profile: 7.57 % both
    engines while the buckets shared the cores with the backward in proportion to demand (stop 39), 5.44 % with
    max-min fair sharing (stop 42: a sender that sleeps on its socket keeps its pace), 4.94 % with each bucket's
    latency beside the previous one's bytes (stop 43: gloo's two worker threads). The fresh configurations no
    session had run (-o, stop 42's window B) 7.14 -> 4.71 %, -n's re-run 6.32 -> 4.87 %."""
    folder = ROOT / "benchmarks" / "results" / "plain-ddp-2026-12-06-n"
    assert plain_ddp.main(["--reuse", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "analytic MAPE vs plain: 4.94 %" in out and "sim MAPE vs plain: 4.94 %" in out
    for name, mape in (("fresh", "4.71"), ("heldout", "4.87")):
        assert plain_ddp.main(["--reuse", str(folder.parent / "plain-ddp-2026-12-06-o" / name)]) == 0
        out = capsys.readouterr().out
        assert f"analytic MAPE vs plain: {mape} %" in out and f"sim MAPE vs plain: {mape} %" in out


def test_a_worker_started_by_hand_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``plain_ddp.py --worker`` without its launcher's variables: one line, not ``init_process_group``'s traceback."""
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert plain_ddp.main(["--worker", "--run-dir", "x"]) == 2
    assert "RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set" in capsys.readouterr().err
