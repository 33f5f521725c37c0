"""The host calibration's optimizer measurement with and without glibc keeping the workers' heaps, alternated.

``runtime.calibrate.measure_host`` (``optimizer``: k = 1, 2, 3, 4, 6, 8 processes stepping Adam at once) is run
``--repeats`` times each way, alternating: ``kept`` with :data:`runtime.calibrate.HEAP_KEPT_ENV` (what calibration
does since stop 46), ``lottery`` without it (what it did before: glibc trimmed some workers' heaps under Adam's
temporaries and they faulted them in again every step). For each run it prints every worker's slowdown (over
worker 0 alone), the most page faults a step of any worker per k, the other processes' cores over the run
(``runtime.hostload``), and the residual of ``max(1, k/M)`` (the fit until stop 46) and of ``fit_host`` (the
compute's form, held to the 5 % limit since stop 46). No root; run it on a quiet host.

    python benchmarks/host_optimizer_faults.py [--repeats 2]
    python benchmarks/host_optimizer_faults.py --stored     # both fits on every stored profile (no measurement)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, one_line_errors, refuse_beside_reuse, whole

STAGES = (1, 2, 3, 4, 6, 8)


def _once(heap_kept: bool, work: Path) -> str:
    import runtime.calibrate as cal
    from dpsim.calibration import fit_host, fit_memory_streams
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
    median = cal.host_slowdowns(folder)[0]
    faults = cal.host_faults(folder)
    streams, old = fit_memory_streams(median, 2.0)
    sharing = fit_host(median, max_cores=cal.host_cores())
    return "\n".join([
        f"{'kept' if heap_kept else 'lottery'}: other cores {other if other is None else round(other, 2)}; "
        f"max(1, k/M) M {streams:.2f} residual {100 * old:.1f} %; fit_host C {sharing.cores:g} "
        f"eps {sharing.efficiency_loss:.3f} residual {100 * sharing.residual:.1f} %",
        "  each worker: " + cal._per_process(folder),
        "  most faults a step: " + "; ".join(f"{k}: {v:g}" for k, v in faults.items()),
    ])  # fmt: skip


def stored_table(root: Path) -> list[str]:
    """Both fits' residuals on every distinct stored profile's optimizer slowdowns under ``root`` (a profile whose
    slowdowns another already gave, a copy of one calibration, is left out)."""
    import statistics

    from dpsim.calibration import fit_host, fit_memory_streams, load_profile

    seen: set[tuple[tuple[int, float], ...]] = set()
    lines = [f"{'calibration':45s} {'M':>5s} {'max(1,k/M) %':>13s} {'C':>3s} {'eps':>6s} {'fit_host %':>10s}"]
    old, new = [], []
    for path in sorted(root.glob("**/profile.yaml")):
        h = load_profile(path).host_model
        key = tuple(sorted(h.optimizer_measured.items())) if h is not None else ()
        if h is None or 1 not in h.optimizer_measured or key in seen:
            continue
        seen.add(key)
        streams, residual = fit_memory_streams(h.optimizer_measured, h.cores)
        sharing = fit_host(h.optimizer_measured, max_cores=int(h.cores))
        old.append(residual)
        new.append(sharing.residual)
        name = str(path.parent.relative_to(root))
        lines.append(f"{name:45s} {streams:5.2f} {100 * residual:13.1f} {sharing.cores:3.0f} "
                     f"{sharing.efficiency_loss:6.3f} {100 * sharing.residual:10.1f}")  # fmt: skip
    if old:
        lines.append(f"{len(old)} distinct calibrations; median residual {100 * statistics.median(old):.1f} -> "
                     f"{100 * statistics.median(new):.1f} %; under 5 %: {sum(r < 0.05 for r in old)} -> "
                     f"{sum(r < 0.05 for r in new)}")  # fmt: skip
    return lines


def _main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=whole(1, 100), default=2, help="runs each way, alternated")
    p.add_argument("--stored", action="store_true", help="only print both fits on every stored profile")
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
