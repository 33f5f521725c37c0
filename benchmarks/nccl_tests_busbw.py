"""Does a profile fitted from nccl-tests output reproduce that output's bus bandwidth?

Run: ``python benchmarks/nccl_tests_busbw.py [FILE ...]`` (default: the real outputs in
``tests/data/nccl_tests/`` that reach 1 MiB; sources in its ``SOURCES.md``). For each file
separately (one file = one testbed), fits the profile ``dpsim calibrate --from-nccl-tests``
writes — the fewest α–β size regimes (NCCL's (algorithm, protocol, channel count) switch
points; ``dpsim.ingest.nccl_tests``) — and prints, per size, the printed busbw (mean of
out-of-place and in-place), the busbw the profile predicts through both engines (``dpsim
collective --engine analytic`` and ``--engine sim`` on the machine the output describes,
``calibration.profile`` set to the fitted profile) and the error; then the largest |error| at
sizes ≥ 1 MiB and, as the measurement's own spread, the largest out-of-place vs in-place busbw
difference there. Also prints a leave-one-size-out error: each size ≥ 1 MiB predicted (closed
form) by a profile fitted without it — the fit's value between measured sizes.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser
from dpsim.calibration import HardwareProfile, save_profile
from dpsim.ingest.nccl_tests import (
    NcclTestsRun,
    engine_busbw,
    load_nccl_tests,
    profile_from_nccl_tests,
    reproduce_busbw,
)

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "nccl_tests"
DEFAULT = (
    "all_reduce_2x1_gh200_nccl-tests-2.18.2.txt",
    "all_reduce_2x4_gh200_nccl-tests-2.17.1.txt",
    "all_reduce_8gpu_nccl-tests-new-format.txt",
)
MIB = 2**20


def _profile(runs: list[NcclTestsRun]) -> HardwareProfile:
    return profile_from_nccl_tests(runs, link_class="intra")


def leave_one_out(runs: list[NcclTestsRun]) -> float:
    """Largest |busbw error| at sizes ≥ 1 MiB, each size predicted by a fit that never saw it."""
    worst = 0.0
    (run,) = runs
    for i, row in enumerate(run.rows):
        if row.size_bytes < MIB:
            continue
        rest = NcclTestsRun(**{**run.__dict__, "rows": run.rows[:i] + run.rows[i + 1 :]})
        profile = _profile([rest])
        single = NcclTestsRun(**{**run.__dict__, "rows": (row,)})
        (check,) = reproduce_busbw(profile, [single], link_class="intra")
        worst = max(worst, abs(check.relative_error))
    return worst


def main() -> None:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="*", type=Path)
    args = p.parse_args()
    files = args.files or [DATA / name for name in DEFAULT]
    print(f"{'file':<44}{'size':>12}{'busbw GB/s':>12}{'analytic':>10}{'error':>8}{'sim':>10}{'error':>8}")
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            runs = load_nccl_tests(f)
            profile = _profile(runs)
            path = Path(tmp) / f"{f.stem}.yaml"
            save_profile(profile, path)
            analytic = engine_busbw(path, runs, "analytic", link_class="intra")
            sim = engine_busbw(path, runs, "sim", link_class="intra")
            for a, s in zip(analytic, sim, strict=True):
                print(f"{f.name[:43]:<44}{a.size_bytes:>12}{a.measured_busbw / 1e9:>12.2f}"
                      f"{a.predicted_busbw / 1e9:>10.2f}{100 * a.relative_error:>7.1f}%"
                      f"{s.predicted_busbw / 1e9:>10.2f}{100 * s.relative_error:>7.1f}%")  # fmt: skip
            big = [c for c in (*analytic, *sim) if c.size_bytes >= MIB]
            spread = max(
                abs(r.out_of_place_busbw - r.in_place_busbw) / r.busbw
                for run in runs
                for r in run.rows
                if r.size_bytes >= MIB and r.busbw and r.out_of_place_busbw and r.in_place_busbw
            )
            regimes = len(next(iter(next(iter(profile.collectives.values())).values()))["all_reduce"])
            summary.append((f.name, regimes, max(abs(c.relative_error) for c in big), leave_one_out(runs), spread))
    print()
    print(f"{'file':<44}{'regimes':>8}{'max |err| >= 1 MiB':>20}{'leave-one-out':>15}{'out/in-place spread':>21}")
    for name, regimes, worst, loo, spread in summary:
        print(f"{name[:43]:<44}{regimes:>8}{100 * worst:>19.1f}%{100 * loo:>14.1f}%{100 * spread:>20.1f}%")


if __name__ == "__main__":
    main()
