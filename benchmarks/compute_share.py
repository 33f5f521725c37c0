"""Where the compute term's error comes from on the emulated cluster: the work, the share, the calibration.

Issue 10's per-term table prices each validation run's compute (forward + backward of the critical rank) as the
profile's compute curve (one process alone) × ``max(1, k/C)·(1 + ε(k − 1))``. On stop 48's fresh draw its mean
error moved +5.9 / −7.4 / +0.4 % with three calibrations of one quiet host 40 minutes apart. This script splits the
measured compute of every run (``--runs DIR``: a ``benchmarks/validate_emulated.py`` folder, its runs' per-rank
records) against each profile (``--profile``, default the folder's ``profile.yaml``):

1. ``work``: the ranks' compute CPU time (``per_rank_compute_cpu_s``, the thread's CPU from the first forward to
   the last bucket handed over, median rank) over the curve's time alone for the run's micro-batches; and a fit of
   it over the runs of each repeat as ``a·(1 + ε_t(k − 1))`` (the ranks' own ε, beside the profile's);
2. ``share``: the critical rank's compute wall time over its CPU time over ``max(1, k/C)`` (1 where all k ranks
   compute at once, time-sliced; below where they compute partly apart, e.g. a tree's ranks leaving the last
   collective at different times);
3. ``release``: what the ranks leaving the last collective apart would make of the time-sliced window
   (:func:`release_of`: :func:`dpsim.compute_overlap.overlap_share` of the ranks released at their ends of the run's
   last bucket's all-reduce, :func:`dpsim.compute_overlap.collective_releases`: its schedule's
   :func:`~dpsim.compute_overlap.completion_fractions` times the analytic engine's price of it, gloo's own ring across
   nodes of two ranks or more by :func:`~dpsim.compute_overlap.gloo_ring_ends`; 1 where they leave together: the
   rings of one rank a node, NCCL's trees), beside ``share``; not priced;
4. the runs' compute spread (:func:`compute_spread`): the critical rank's compute over the median rank's, and
   beside it the measured barrier, which follows it;
5. where the runs record them (``extra.per_rank_release_lag_s``, since 695192c), each rank's lag leaving the
   last collective behind the first to leave, sorted, beside the lags the engines' release times give
   (:func:`release_lags`: :func:`dpsim.compute_overlap.collective_releases` of the run's last bucket);
6. with ``--swap OTHER`` (another calibration's profile of the same testbed): the first profile with one
   measurement at a time taken from OTHER (the compute curve, the host's ε, the whole host model, the links, the
   optimizer fit, then all of it), priced by the analytic engine on the runs' median run: the step MAPE and the
   compute term's mean and MAPE, so which measurement moves the prediction between calibrations shows.

Run (no root, no testbed; a few seconds a profile, ~15 s a swap):

    PYTHONPATH=. python benchmarks/compute_share.py --runs benchmarks/results/validation-2026-12-07-c/all \\
        --swap benchmarks/results/validation-2026-12-07-c/all-cal2/profile.yaml
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, one_line_errors

SWAPS = ("curve", "epsilon", "host", "links", "optimizer", "all")
"""What ``--swap`` takes from the other profile, one at a time (``all``: the other profile whole)."""


def fit_work(points: list[tuple[int, float]]) -> tuple[float, float]:
    """(a, ε_t) of ``work ≈ a·(1 + ε_t(k − 1))`` by least squares in relative error over (k, work) points: for a
    fixed ε_t the best a is closed-form, ε_t by golden-section search on [0, 0.5]."""

    def best_a(eps: float) -> tuple[float, float]:
        x = [(1.0 + eps * (k - 1)) / w for k, w in points]
        a = sum(x) / sum(v * v for v in x)  # minimises Σ (a·x − 1)²
        return a, sum((a * v - 1.0) ** 2 for v in x)

    lo, hi = 0.0, 0.5
    ratio = (5**0.5 - 1) / 2
    for _ in range(80):
        m1, m2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if best_a(m1)[1] <= best_a(m2)[1]:
            hi = m2
        else:
            lo = m1
    eps = (lo + hi) / 2
    return best_a(eps)[0], eps


def swapped(profile: Any, other: Any, what: str) -> Any:
    """``profile`` with ``what`` (:data:`SWAPS`) taken from ``other``."""
    if what == "all":
        return other
    if what == "curve":
        return dataclasses.replace(profile, compute_curve=other.compute_curve)
    if what == "epsilon":
        host = dataclasses.replace(profile.host_model, efficiency_loss=other.host_model.efficiency_loss,
                                   cores=other.host_model.cores)  # fmt: skip
        return dataclasses.replace(profile, host_model=host)
    if what == "host":
        return dataclasses.replace(profile, host_model=other.host_model)
    if what == "links":
        return dataclasses.replace(profile, links=other.links)
    return dataclasses.replace(profile, optimizer=other.optimizer)


def _load(folder: Path) -> tuple[list[Any], list[list[Any]]]:
    """The folder's cases (its recorded case set) and their measured runs, per case (errors name ``--runs``)."""
    from benchmarks.validate_emulated import CASE_SETS, SCENARIO, _recorded_case_set, _saved_runs
    from dpsim.errors import ScenarioError
    from runtime.validate import build_cases

    try:
        case_set = _recorded_case_set(folder) or "default"
        with tempfile.TemporaryDirectory() as tmp:
            scenario = Path(tmp) / "scenario.yaml"
            scenario.write_text(SCENARIO, encoding="utf-8")
            cases = build_cases(scenario, [], CASE_SETS[case_set])
        return cases, _saved_runs(folder, len(cases))
    except ScenarioError as exc:
        raise ScriptError(f"--runs: {exc.one_line()}") from None
    except ScriptError as exc:
        raise ScriptError(f"--runs: {str(exc).removeprefix('--reuse: ')}") from None


def _profile(option: str, path: Path) -> Any:
    """The testbed profile at ``path`` (a host model and a compute curve), or one line naming ``option``."""
    from dpsim.calibration import load_profile
    from dpsim.errors import ScenarioError

    try:
        profile = load_profile(path)
    except ScenarioError as exc:
        raise ScriptError(f"{option}: {exc.one_line()}") from None
    if profile.host_model is None or profile.compute_curve is None:
        raise ScriptError(f"{option} {path}: expected a testbed profile with a host model and a compute curve")
    return profile


def _rank_times(index: int, extra: Any) -> tuple[float, float, list[float]]:
    """The critical rank's compute wall and CPU seconds and every rank's CPU, from a run's ``extra`` (one line naming
    the configuration where a field is missing or a time is not > 0)."""
    try:
        critical = str(extra["critical_rank"])
        wall = float(extra["per_rank_compute_s"][critical])
        cpus = [float(v) for v in extra["per_rank_compute_cpu_s"].values()]
        cpu = float(extra["per_rank_compute_cpu_s"][critical])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ScriptError(f"--runs: configuration {index}: a run without extra.critical_rank, per_rank_compute_s or "
                          "per_rank_compute_cpu_s for it") from None  # fmt: skip
    if not cpus or min(cpus) <= 0 or wall <= 0:
        raise ScriptError(f"--runs: configuration {index}: a run whose compute time is not > 0 "
                          "(extra.per_rank_compute_s or per_rank_compute_cpu_s)")  # fmt: skip  # named: round 31
    return wall, cpu, cpus


def release_of(scenario: Any, profile: Any, run: Any, window_s: float, index: int = 0) -> float:
    """:func:`dpsim.compute_overlap.overlap_share` of the ranks released at their ends of the run's last bucket's
    all-reduce (``extra.bucket_bytes[-1]``, the bucket DDP hands over last), priced by the analytic engine on the
    profile's links; ``window_s`` the time-sliced window (every rank computing at once). 1 without the job's ranks
    on fewer cores than ranks, or where the algorithm's ranks end together; a bucket list that is not one of byte
    counts is refused in one line naming configuration ``index``."""
    from dpsim.compute_overlap import collective_releases, may_release_apart, overlap_share

    host, k = profile.host_model, scenario.world_size
    if host.shared_by != "job" or k <= host.cores or not may_release_apart(scenario, profile):
        return 1.0
    releases = collective_releases(scenario, profile, last_bucket(scenario, run, index))
    if releases is None:
        return 1.0
    return overlap_share(list(releases), window_s / max(1.0, k / host.cores), host.cores)


def last_bucket(scenario: Any, run: Any, index: int) -> float:
    """The bytes of the bucket DDP hands over last (``extra.bucket_bytes[-1]``), or one line naming configuration
    ``index`` where the run's buckets are not a list of byte counts > 0 (a stored record may hold any amount there: a
    number was a ``TypeError`` traceback in :func:`release_lags`, round 34)."""
    from dpsim.analytic.collectives import algorithm_of

    buckets = run.extra.get("bucket_bytes")
    try:
        size = float(buckets[-1]) if isinstance(buckets, list) else math.nan
    except (TypeError, ValueError, IndexError):
        size = math.nan
    if not 0 < size < math.inf:
        raise ScriptError(f"--runs: configuration {index}: a {algorithm_of(scenario)} run whose extra.bucket_bytes "
                          "is not a list of byte counts > 0")  # fmt: skip
    return size


def split(cases: list[Any], saved: list[list[Any]], profile: Any) -> tuple[list[dict[str, float]], dict[int, Any]]:
    """Per run: k, work (median rank's CPU over the curve alone), share (critical rank's wall / CPU / max(1, k/C)),
    release (:func:`release_of`),
    the priced slowdown and the priced compute's error against the critical rank's; and (a, ε_t) per repeat."""
    cores = profile.host_model.cores
    rows: list[dict[str, float]] = []
    by_repeat: dict[int, list[tuple[int, float]]] = {}
    for index, (case, runs) in enumerate(zip(cases, saved, strict=True)):
        s = case.scenario
        k, accumulation = s.world_size, s.accumulation_steps
        forward, backward = profile.compute_for(s, s.training.micro_batch)
        slow = profile.host_slowdown(s)
        alone = (forward + backward) / slow * accumulation
        release = release_of(s, profile, runs[0], (forward + backward) * accumulation, index)
        for repeat, run in enumerate(runs):
            if not run.extra.get("per_rank_compute_cpu_s"):
                raise ScriptError(f"--runs: configuration {index}: a run without extra.per_rank_compute_cpu_s")
            wall, cpu, cpus = _rank_times(index, run.extra)
            work = statistics.median(cpus) / alone
            straggler = max(s.worker_slowdowns()) > 1.0  # its busy-wait is CPU time: left out of the fit
            share = wall / cpu / max(1.0, k / cores)
            rows.append({"case": index, "repeat": repeat, "k": k, "work": work, "share": share, "slowdown": slow,
                         "release": release, "error_pct": 100.0 * (alone * slow / wall - 1.0),
                         "straggler": float(straggler)})  # fmt: skip
            if not straggler:
                by_repeat.setdefault(repeat, []).append((k, work))
    return rows, {r: fit_work(points) for r, points in sorted(by_repeat.items())}


def release_lags(cases: list[Any], saved: list[list[Any]], profile: Any) -> list[str]:
    """Per configuration whose runs record ``extra.per_rank_release_lag_s``: the predicted lags (ms, each rank's
    release from :func:`dpsim.compute_overlap.collective_releases` of the last bucket less the first's, sorted: the
    engines' rank numbers and the runtime's need not match) and each run's measured ones, sorted."""
    from dpsim.compute_overlap import collective_releases

    lines = []
    for index, (case, runs) in enumerate(zip(cases, saved, strict=True)):
        measured = [run.extra.get("per_rank_release_lag_s") for run in runs]
        measured = [m for m in measured if isinstance(m, dict) and m]
        if not measured:
            continue
        s = case.scenario
        size = last_bucket(s, runs[0], index) if runs[0].extra.get("bucket_bytes") else 0.0
        releases = collective_releases(s, profile, size) if size > 0 else None
        lags = sorted(1e3 * (releases - releases.min())) if releases is not None else [0.0] * s.world_size
        shown = " / ".join(" ".join(f"{1e3 * float(v):.0f}" for v in sorted(m.values())) for m in measured)
        predicted = " ".join(f"{v:.0f}" for v in lags)
        lines.append(f" {index:4d} {s.world_size} ranks, {s.cluster.workers_per_node} a node, "
                     f"{s.communication.algorithm}, {size / 1e6:.2f} MB: predicted {predicted}; "
                     f"measured {shown}")  # fmt: skip
    return lines


def compute_spread(cases: list[Any], saved: list[list[Any]]) -> tuple[float, float, float, int]:
    """Over the runs without a straggler: the median of the critical rank's compute over the ranks' median compute,
    the mean of the critical rank's compute less the ranks' mean (seconds), the mean measured barrier (seconds) and
    the number of runs: the time-sliced ranks' spread the barrier follows (leads49), which the engines price only
    for stragglers."""
    ratio, ahead, barrier = [], [], []
    for index, (case, runs) in enumerate(zip(cases, saved, strict=True)):
        if max(case.scenario.worker_slowdowns()) > 1.0:
            continue
        for run in runs:
            wall, _, _ = _rank_times(index, run.extra)
            walls = [float(v) for v in run.extra["per_rank_compute_s"].values()]
            ratio.append(wall / statistics.median(walls))
            ahead.append(wall - statistics.mean(walls))
            barrier.append(run.barrier_s)
    if not ratio:
        return math.nan, math.nan, math.nan, 0
    return statistics.median(ratio), statistics.mean(ahead), statistics.mean(barrier), len(ratio)


def _score(cases: list[Any], saved: list[list[Any]], profile: Any, tmp: Path, name: str) -> str:
    """Step MAPE and the compute term's mean and MAPE, analytic engine, on each configuration's median run."""
    from dpsim import api
    from dpsim.calibration import save_profile
    from runtime.validate import calibrated_as_ran, median_run

    path = tmp / f"{name}.yaml"
    save_profile(profile, path)
    step, compute = [], []
    for case, runs in zip(cases, saved, strict=True):
        calibrated = calibrated_as_ran(case.scenario, runs, path)
        predicted, measured = api.run(calibrated, engine="analytic"), median_run(runs)
        step.append(predicted.step_time_s / measured.step_time_s - 1.0)
        compute.append(predicted.compute_s / measured.compute_s - 1.0)
    mean = statistics.mean
    return (f"step MAPE {100 * mean(map(abs, step)):5.2f} %, compute mean {100 * mean(compute):+5.1f} % MAPE "
            f"{100 * mean(map(abs, compute)):4.1f} %")  # fmt: skip


@one_line_errors
def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, required=True, help="a validate_emulated.py folder (runs.jsonl)")
    p.add_argument("--profile", type=Path, action="append", default=[], help="profile(s) to split against "
                   "(default: the folder's profile.yaml)")  # fmt: skip
    p.add_argument("--swap", type=Path, action="append", default=[], help="another calibration's profile: swap its "
                   "measurements one at a time into the first profile")  # fmt: skip
    args = p.parse_args()
    cases, saved = _load(args.runs)
    paths = args.profile or [args.runs / "profile.yaml"]
    profiles = [_profile("--profile", path) for path in paths]  # every input checked before any work
    others = [(path, _profile("--swap", path)) for path in args.swap]
    for path, profile in zip(paths, profiles, strict=True):
        rows, fits = split(cases, saved, profile)
        lags = release_lags(cases, saved, profile)  # (its records checked before the table is printed)
        print(f"{path}: ε {profile.host_model.efficiency_loss:.3f}, C {profile.host_model.cores:g}")
        print(" case  k   work  share  slowdown  release  compute error (median over repeats)")
        for index in range(len(cases)):
            mine = [r for r in rows if r["case"] == index]
            med = {key: statistics.median(r[key] for r in mine) for key in ("work", "share", "error_pct")}
            flag = "  (straggler)" if mine[0]["straggler"] else ""
            first = mine[0]
            print(f" {index:4d} {int(first['k']):2d} {med['work']:6.3f} {med['share']:6.3f} "
                  f"{first['slowdown']:9.3f} {first['release']:8.3f} {med['error_pct']:+13.1f} %{flag}")  # fmt: skip
        plain = [r for r in rows if not r["straggler"]]
        kept, which = (plain, "without a straggler") if plain else (rows, "each with a straggler")
        print(f" median work {statistics.median(r['work'] for r in kept):.3f}, share "
              f"{statistics.median(r['share'] for r in kept):.3f} over {len(kept)} runs {which}")  # fmt: skip
        print(" the ranks' own work a·(1 + ε_t(k − 1)), per repeat: "
              + ("; ".join(f"{r + 1}: a {a:.3f} ε_t {e:.3f}" for r, (a, e) in fits.items())
                 or "none (every run has a straggler)"))  # fmt: skip
        if lags:
            print(" release lags, ms behind the first rank to leave the last collective (sorted):")
            print("\n".join(lags))
    ratio, ahead, barrier, count = compute_spread(cases, saved)
    if count:
        print(f"the runs' compute spread, {count} runs without a straggler: critical / median rank {ratio:.3f}, "
              f"critical − mean {1e3 * ahead:.1f} ms, barrier {1e3 * barrier:.1f} ms (means)")  # fmt: skip
    if others:
        base = profiles[0]
        with tempfile.TemporaryDirectory() as tmp:
            print(f"{paths[0]} as it is: {_score(cases, saved, base, Path(tmp), 'base')}")
            for other_path, other in others:
                for what in SWAPS:
                    score = _score(cases, saved, swapped(base, other, what), Path(tmp), what)
                    print(f"  {what:9s} from {other_path}: {score}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
