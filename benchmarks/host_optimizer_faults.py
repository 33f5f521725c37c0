"""The host calibration's optimizer measurement with and without glibc keeping the workers' heaps, alternated.

``runtime.calibrate.measure_host`` (``optimizer``: k = 1, 2, 3, 4, 6, 8 processes stepping Adam at once) is run
``--repeats`` times each way, alternating: ``kept`` with :data:`runtime.calibrate.HEAP_KEPT_ENV` (what calibration
does since stop 46), ``lottery`` without it (what it did before: glibc trimmed some workers' heaps under Adam's
temporaries and they faulted them in again every step). For each run it prints every worker's slowdown (over
worker 0 alone), the most page faults a step of any worker per k, the other processes' cores over the run
(``runtime.hostload``), and three residuals on the same slowdowns: ``max(1, k/M)`` (held to the 5 % limit until
stop 46), what the engines price, ``max(1, k/C)`` at the host's C with no loss (``sharing_residual``, held to the
limit since stop 46; here C is the cores this process may use, the compute fit's C on the 2-core VM), and the free
``fit_host`` (its own C and ε, recorded). No root; run it on a quiet host.

    python benchmarks/host_optimizer_faults.py [--repeats 2]
    python benchmarks/host_optimizer_faults.py --stored     # the three on every stored profile (no measurement)
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, one_line_errors, refuse_beside_reuse, whole

STAGES = (1, 2, 3, 4, 6, 8)
HEADER = f"{'M':>5s} {'max(1,k/M) %':>13s} {'priced %':>9s} {'C':>3s} {'eps':>6s} {'fit_host %':>10s}"


def residuals(measured: Mapping[int, float], cores: float) -> tuple[float, float, float, float, float, float]:
    """(M, max(1, k/M)'s residual, the priced form's at ``cores``, fit_host's C, ε and residual) of ``measured``."""
    from dpsim.calibration import fit_host, fit_memory_streams, sharing_residual

    streams, old = fit_memory_streams(measured, cores)
    free = fit_host(measured, max_cores=int(cores))
    return streams, old, sharing_residual(measured, cores), free.cores, free.efficiency_loss, free.residual


def _cells(values: tuple[float, float, float, float, float, float]) -> str:
    m, old, priced, c, eps, free = values
    return f"{m:5.2f} {100 * old:13.1f} {100 * priced:9.1f} {c:3.0f} {eps:6.3f} {100 * free:10.1f}"


def _once(heap_kept: bool, work: Path) -> str:
    import runtime.calibrate as cal
    from runtime.hostload import host_load, snapshot

    saved = cal.HEAP_KEPT_ENV
    cal.HEAP_KEPT_ENV = saved if heap_kept else {}
    try:
        before = snapshot()
        cal.measure_host(STAGES, work, 600.0, "optimizer")
        other = host_load(before, snapshot())["other_cores"]
    finally:
        cal.HEAP_KEPT_ENV = saved
    folder = work / "host-optimizer"
    faults = cal.host_faults(folder)
    return "\n".join([
        f"{'kept' if heap_kept else 'lottery'}: other cores {other if other is None else round(other, 2)}",
        "  " + HEADER,
        "  " + _cells(residuals(cal.host_slowdowns(folder)[0], float(cal.host_cores()))),
        "  each worker: " + cal._per_process(folder),
        "  most faults a step: " + "; ".join(f"{k}: {v:g}" for k, v in faults.items()),
    ])  # fmt: skip


def stored_table(root: Path) -> list[str]:
    """The three residuals on every distinct stored profile's optimizer slowdowns under ``root``, the priced form at
    the profile's own (compute) C (a profile whose slowdowns another already gave, a copy of one calibration, is
    left out), and their medians."""
    import statistics

    from dpsim.calibration import load_profile

    seen: set[tuple[tuple[int, float], ...]] = set()
    lines = [f"{'calibration':45s} {HEADER}"]
    rows = []
    for path in sorted(root.glob("**/profile.yaml")):
        h = load_profile(path).host_model
        key = tuple(sorted(h.optimizer_measured.items())) if h is not None else ()
        if h is None or 1 not in h.optimizer_measured or key in seen:
            continue
        seen.add(key)
        rows.append(residuals(h.optimizer_measured, h.cores))
        lines.append(f"{path.parent.relative_to(root)!s:45s} {_cells(rows[-1])}")
    if rows:
        old, priced, free = ([r[i] for r in rows] for i in (1, 2, 5))
        lines.append(f"{len(rows)} distinct calibrations; median residual max(1,k/M) {100 * statistics.median(old):.1f}"
                     f" %, priced {100 * statistics.median(priced):.1f} %, fit_host {100 * statistics.median(free):.1f}"
                     f" %; under 5 %: {sum(r < 0.05 for r in old)}, {sum(r < 0.05 for r in priced)}, "
                     f"{sum(r < 0.05 for r in free)}")  # fmt: skip
    return lines


def _main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=whole(1, 100), default=2, help="runs each way, alternated")
    p.add_argument("--stored", action="store_true", help="only print the residuals on every stored profile")
    args = p.parse_args()
    if args.stored:  # round 28: --repeats beside it was dropped without a word
        refuse_beside_reuse(sys.argv[1:], "table", option="--stored")
        print("\n".join(stored_table(Path(__file__).resolve().parent / "results")))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for kept in (True, False):
                print(f"repeat {r + 1} " + _once(kept, Path(tmp) / f"{r}-{kept}"), flush=True)
    return 0


def main() -> int:
    return int(one_line_errors(_main)())


if __name__ == "__main__":
    raise SystemExit(main())
