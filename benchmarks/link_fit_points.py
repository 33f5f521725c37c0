"""Which calibration points the emulated cluster's link fits miss, in every stored calibration (issue 10).

``dpsim calibrate --testbed emulated`` fits each (link class, algorithm) on its large all-reduces
(:func:`runtime.calibrate.fit_link_records`) and refuses a fit whose worst relative residual
exceeds 5 %. Every stored calibration fails that on its links. This script refits each stored
calibration's links with the current code (as ``benchmarks/validate_emulated.py --reuse FOLDER
--refit``) and prints:

1. per calibration and link fit, the residual and the point it is taken at, with what
   :func:`dpsim.calibration.worst_point_note` says of it: the benchmark's scatter (the point's
   median is uncertain by at least its error's excess over 5 %: more repetitions can help) or a
   point the form does not explain;
2. per bandwidth point (link class, algorithm, ranks, size, rate), its error in every calibration,
   the mean and spread over them and the median of its measured medians' uncertainty: a mean
   beyond twice its standard error recurs across calibrations (the form's), the rest is noise.

No root, no testbed (a few seconds a calibration).

    PYTHONPATH=. python benchmarks/link_fit_points.py [--limit 0.05] [--folders FOLDER,FOLDER,...]

``--folders``: these calibrations (folders under ``benchmarks/results`` holding ``profile.yaml`` and
``calibration-bench.json``) instead of the stored sessions', first each link fit's residual side by side
(e.g. one calibration under the host's TCP congestion control against one under another).
"""

from __future__ import annotations

import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, number, one_line_errors, read_bench_records
from benchmarks.validation_patterns import RESULTS, SESSIONS
from dpsim.calibration import MAX_RESIDUAL, load_profile, residuals_above, worst_point_note
from runtime.calibrate import CalibrationPlan, link_point_errors, refit_links

CALIBRATIONS = SESSIONS
"""The stored sessions (:data:`benchmarks.validation_patterns.SESSIONS`); sessions that share a calibration
(2026-12-04-night reused 2026-12-04's) are read once."""


def calibrations(folders: list[str] | None = None) -> dict[str, tuple[Path, Path]]:
    """Calibration name → (profile, its benchmark records), one entry per distinct calibration (``folders``: these
    folders under ``benchmarks/results``, named by their path there)."""
    if folders:
        found: dict[str, tuple[Path, Path]] = {}
        named: dict[Path, str] = {}
        for folder in folders:
            profile, bench = RESULTS / folder / "profile.yaml", RESULTS / folder / "calibration-bench.json"
            if not (profile.is_file() and bench.is_file()):
                raise ScriptError(f"--folders: {folder}: expected profile.yaml and calibration-bench.json in "
                                  f"{RESULTS / folder}")  # fmt: skip
            if (first := named.setdefault(bench.resolve(), folder)) != folder or folder in found:
                # 'A,A/' or 'A,./A': one calibration refitted and printed twice, as two
                raise ScriptError(f"--folders: {folder} is the calibration {first} names (each is refitted once)")
            found[folder] = (profile, bench)
        return found
    out: dict[str, tuple[Path, Path]] = {}
    seen: set[Path] = set()
    for name, (folder, given) in CALIBRATIONS.items():
        profile = RESULTS / given if given else RESULTS / folder / "profile.yaml"
        bench = RESULTS / folder / "calibration-bench.json"
        if not bench.exists():
            bench = profile.parent / "calibration-bench.json"
        if bench.resolve() in seen:
            continue
        seen.add(bench.resolve())
        out[name] = (profile, bench)
    return out


@one_line_errors
def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=number(0.0, 1e6), default=MAX_RESIDUAL, help="largest accepted residual (0.05)")
    p.add_argument("--folders", help="comma-separated calibration folders under benchmarks/results (default: the "
                   "stored sessions'); also prints every link fit's residual side by side")  # fmt: skip
    args = p.parse_args()
    if not (math.isfinite(args.limit) and args.limit > 0):
        raise ScriptError(f"--limit: expected a relative residual > 0, got {args.limit!r}")
    plan = CalibrationPlan()
    points: dict[tuple[str, str, int, float, float], dict[str, float]] = defaultdict(dict)
    spread: dict[tuple[str, str, int, float, float], list[float]] = defaultdict(list)
    counts = {"scatter": 0, "form": 0}
    folders = [f.strip() for f in args.folders.split(",")] if args.folders is not None else []
    if args.folders is not None and not all(folders):
        raise ScriptError(f"--folders: expected comma-separated folders under benchmarks/results, got {args.folders!r}")
    names = calibrations(folders)
    refitted = {}
    for name, (profile_path, bench) in names.items():
        records = read_bench_records(bench)
        loaded = load_profile(profile_path)  # damaged: one line naming it (one_line_errors)
        if loaded.host_model is None:
            raise ScriptError(f"{profile_path}: a profile without a host_model: not a calibration of the emulated "
                              "testbed, whose links are fitted on the host's measured sharing")  # fmt: skip
        refitted[name] = (refit_links(loaded, records, plan, "emulated"), records)
    if folders:
        print("0. every link fit's residual, %, refitted by the current code")
        fits = sorted({k for profile, _ in refitted.values() for k in profile.residuals() if k.startswith("links.")
                       and "latency" not in k})  # fmt: skip
        print(" " * 32 + "".join(f"{n.removeprefix('validation-')[-24:]:>26s}" for n in names))
        for fit in fits:
            cells = [profile.residuals().get(fit) for profile, _ in refitted.values()]
            print(f"{fit:32s}" + "".join(f"{100 * c:26.1f}" if c is not None else " " * 26 for c in cells))
        print()
    print("1. link fits above the limit, refitted by the current code: the worst point and what it says")
    for name, (profile, records) in refitted.items():
        assert profile.host_model is not None
        worst = profile.meta.get("fit_worst_points", {})
        for fit in sorted(residuals_above(profile, args.limit)):
            if fit in worst:
                note = worst_point_note(fit, worst[fit], args.limit)
                counts["scatter" if "scatter" in note else "form"] += 1
                print(f"  {name:16s} {100 * profile.residuals()[fit]:5.1f} %  {note}")
        for r, error in link_point_errors(records, profile.links, plan, "emulated", profile.host_model.comm_share):
            rate = r.get("rate_bytes_per_s") or 0.0
            key = (r["link_class"], r["algorithm"], int(r["ranks"]), float(r["size_bytes"]), float(rate))
            points[key][name] = 100 * error
            spread[key].append(100 * r.get("median_uncertainty", 0.0))
    total = counts["scatter"] + counts["form"]
    print(f"  {total} fits above {100 * args.limit:g} % in {len(names)} calibrations: the worst point within its own "
          f"scatter of the limit in {counts['scatter']}, beyond it (the form's) in {counts['form']}")  # fmt: skip
    print(
        "\n2. error of every bandwidth point, % ((fitted - measured) / measured), per calibration; mean, sd, "
        "median uncertainty of the measured medians; * a mean beyond twice its standard error"
    )
    short = [n[-6:] for n in names]
    print(" " * 38 + "".join(f"{s:>7s}" for s in short) + "    mean     sd   unc")
    recurring = 0
    for key in sorted(points):
        cls, algorithm, ranks, size, rate = key
        values = [points[key].get(n) for n in names]
        present = [v for v in values if v is not None]
        mean = statistics.fmean(present)
        sd = statistics.stdev(present) if len(present) > 1 else 0.0
        flag = "*" if len(present) > 2 and abs(mean) > 2 * sd / math.sqrt(len(present)) else " "
        recurring += flag == "*"
        where = f"{cls} {algorithm[:10]:10s} {ranks} ranks {size / 2**20:4g} MiB " + (
            f"{8e-6 * rate:4g}" if rate else "  --"
        )
        print(f"{where:38s}" + "".join(f"{v:+7.1f}" if v is not None else "      ." for v in values)
              + f"  {mean:+6.1f} {sd:6.1f} {statistics.median(spread[key]):5.1f} {flag}")  # fmt: skip
    print(f"{recurring} of {len(points)} points recur (*)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
