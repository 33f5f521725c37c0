"""How the emulated link's wire time and the host's work combine, alone, over rates, ranks and sizes (issue 10; root).

The calibration's own benchmark (:func:`runtime.calibrate.run_bench`: barrier-started, slowest rank, median
over repetitions, the host's busy time) of one all-reduce algorithm, one rank per node, over a grid of shaped
rates × rank counts × sizes, the whole grid ``--passes`` times round robin (each pass a fresh cluster per
point: the spread over the window, not only over one launch). ``--cc`` sets the TCP congestion control of every
node's flows (``EmulatedCluster(tcp_cc=...)``, the routes' ``congctl``: cubic too, which this VM does not allow as a
namespace's default; the host's default, ``bbr`` on the 2-core VM, is what every run so far used), so the shaper ×
TCP interaction can be tested by changing only that.

    sudo PYTHONPATH=. python benchmarks/link_overlap.py --rates 250,500,1000,2000 --ranks 2,3,4,6 \
        --sizes 1048576,4194304,16777216,67108864 --passes 2 --out DIR
    sudo PYTHONPATH=. python benchmarks/link_overlap.py --rates 500,1000 --ranks 4 --cc cubic --out DIR
    python benchmarks/link_overlap.py --reuse DIR [--profile PROFILE] [--max-other 0.25]   # print again, no root
    python benchmarks/link_overlap.py --calibration CAL/calibration-bench.json --profile CAL/profile.yaml

``--calibration`` prints a calibration's own inter-node all-reduce points (``calibration-bench.json``, as
``dpsim calibrate`` and ``validate_emulated.py`` write it) the same way: how the profile prices the points it
was fitted on, one by one (no root).

Writes ``DIR/link-overlap.json`` (records: the benchmark's, with ``pass``, ``cc`` and ``host_load``).
The table gives per point the median over passes, the spread (max − min over passes, relative), the wire
time ``b/(η·R)`` at tbf's frame share η = 1448/1514 and the host time ``b·κ·s(n)`` with a profile's κ and
share, and the profile's price.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import (
    Parser,
    ScriptError,
    add_grid,
    grid,
    need_root,
    number,
    one_line_errors,
    one_of,
    read_json,
    refuse_beside_reuse,
    whole,
)
from dpsim.calibration import FIT_ALGORITHMS, closed_form_coefficients, load_profile

FRAME_SHARE = 1448 / 1514
"""TCP payload per byte tbf counts (a full 1514 B frame carries 1448 B of payload with timestamps)."""


def measure(ranks: list[int], rates: list[float], sizes: list[int], reps: int, algorithm: str, passes: int,
            cc: str | None, out: Path | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """The benchmark's records over the grid, ``passes`` times; written to ``out`` after every point (a window
    that ends early keeps what it measured)."""
    from runtime.calibrate import CalibrationPlan, run_bench
    from runtime.hostload import host_load, snapshot
    from runtime.testbed.emulated import EmulatedCluster

    records: list[dict[str, Any]] = []
    plan = CalibrationPlan(sizes=sizes, algorithms=(algorithm,), collectives=("all_reduce",), reps=reps)
    with tempfile.TemporaryDirectory(prefix="dpsim-link-overlap-") as tmp:
        for k in range(passes):
            for rate in rates:
                for n in ranks:
                    print(f"link_overlap: pass {k}, {n} ranks at {rate * 8e-6:g} Mbit/s", flush=True)
                    with EmulatedCluster(nodes=n, per_node=1, rate=rate, tcp_cc=cc or "") as testbed:
                        used = testbed.info["tcp_congestion_control"]
                        before = snapshot()
                        point = run_bench(n, 1, testbed, plan, Path(tmp) / f"{k}-{n}-{rate:g}")
                        load = host_load(before, snapshot())
                        for rec in point:
                            rec.update(link_class="inter", rate_bytes_per_s=rate, host_load=load, cc=used)
                            rec["pass"] = k
                            records.append(rec)
                        if out is not None:
                            out.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return records


def table(records: list[dict[str, Any]], profile_path: Path | None) -> None:
    profile = load_profile(profile_path) if profile_path else None
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    errors: dict[float, list[float]] = {}
    for r in records:
        key = (r.get("cc"), r["algorithm"], r["rate_bytes_per_s"], r["ranks"], r["size_bytes"])
        groups.setdefault(key, []).append(r)
    print(f"{'cc':>5} {'algorithm':>16} {'Mbit/s':>6} {'n':>2} {'MiB':>4} {'ms':>8} {'spread':>6} {'wire':>7} "
          f"{'host':>7} {'t/(w+h)':>7} {'t/max':>6} {'other':>5} {'priced':>7} {'busy ns/B':>9}")  # fmt: skip
    for (cc, algorithm, rate, n, size), group in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        times = [r["time_s"] for r in group]
        t = statistics.median(times)
        a, b = closed_form_coefficients(algorithm, n, size)
        wire = b / (FRAME_SHARE * rate)
        cells = [f"{cc or '-':>5}", f"{algorithm:>16}", f"{rate * 8e-6:6.0f}", f"{n:2d}", f"{size / 2**20:4.0f}",
                 f"{1e3 * t:8.1f}", f"{100 * (max(times) - min(times)) / t:5.1f}%", f"{1e3 * wire:7.1f}"]  # fmt: skip
        other = max((r.get("host_load") or {}).get("other_cores") or 0.0 for r in group)
        if profile is not None and profile.host_model is not None:
            link = profile.links["inter"][algorithm]
            host = b * getattr(link, "host_per_byte_s", 0.0) * profile.host_model.comm_share(n)
            priced_link = profile.link("inter", algorithm, rate, n)
            priced = a * priced_link.latency_s + b / priced_link.bandwidth
            cells += [f"{1e3 * host:7.1f}", f"{t / (wire + host):7.3f}", f"{t / max(wire, host):6.3f}",
                      f"{other:5.2f}", f"{100 * (priced - t) / t:+6.1f}%"]  # fmt: skip
            errors.setdefault(rate, []).append((priced - t) / t)
        else:
            cells += [f"{'-':>7}", f"{'-':>7}", f"{'-':>6}", f"{other:5.2f}", f"{'-':>7}"]
        busy = [r["host_busy_s"] for r in group if r.get("host_busy_s") is not None]
        cells.append(f"{1e9 * statistics.median(busy) / (n * b):9.2f}" if busy else f"{'-':>9}")
        print(" ".join(cells))
    every = [e for values in errors.values() for e in values]
    if every:
        worst = max(every, key=abs)
        per_rate = ", ".join(f"{r * 8e-6:g} Mbit/s {100 * statistics.mean(map(abs, v)):.1f} %"
                             for r, v in sorted(errors.items()))  # fmt: skip
        print(f"priced: mean |error| {100 * statistics.mean(map(abs, every)):.1f} % over {len(every)} points, "
              f"worst {100 * worst:+.1f} % ({per_rate})")  # fmt: skip


@one_line_errors
def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    add_grid(p, "2,3,4,6", "250,500,1000,2000", "1048576,4194304,16777216,67108864", "link-overlap.json")
    p.add_argument("--algorithm", default="backend", help="all-reduce algorithm (backend: gloo's own)")
    p.add_argument("--reps", type=whole(1, 1000), default=3, help="repetitions per point in one launch (median)")
    p.add_argument("--passes", type=whole(1, 1000), default=1, help="times the whole grid is run, round robin")
    p.add_argument("--cc", help="TCP congestion control inside the node namespaces (default: the host's)")
    p.add_argument("--max-other", type=number(0.0, 1e6),
                   help="with --reuse: leave out records with more other work (cores)")  # fmt: skip
    p.add_argument("--calibration", type=Path, help="print a calibration's inter-node all-reduce points "
                   "(calibration-bench.json) instead (no root)")  # fmt: skip
    args = p.parse_args()
    # round 27: the grid's and the measurement's options beside --reuse or --calibration were dropped without a word
    if args.reuse and args.calibration:
        raise ScriptError("--calibration: prints a calibration's points; --reuse a stored grid: give one")
    if args.reuse or args.calibration:
        option, stored = ("--reuse", "grid") if args.reuse else ("--calibration", "calibration's points")
        refuse_beside_reuse(sys.argv[1:], stored, ("--profile", "--max-other"), option)
    elif args.max_other is not None:
        raise ScriptError("--max-other: only with --reuse or --calibration (it filters stored records)")
    if args.calibration:
        saved = read_json(args.calibration)
        if not isinstance(saved, list) or not all(isinstance(r, dict) for r in saved):
            raise ScriptError(f"--calibration: {args.calibration}: expected a calibration's benchmark records (a list)")
        records = [r for r in saved if r.get("collective") == "all_reduce" and r.get("link_class") == "inter"]
    elif args.reuse:
        records = read_json(args.reuse / "link-overlap.json")
    else:
        one_of("--algorithm", args.algorithm, FIT_ALGORITHMS)
        points = grid(args)
        need_root()
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
        records = measure(*points, args.reps, args.algorithm, args.passes, args.cc,
                          args.out / "link-overlap.json" if args.out else None)  # fmt: skip
    if args.max_other is not None:
        records = [r for r in records if ((r.get("host_load") or {}).get("other_cores") or 0.0) <= args.max_other]
    table(records, args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
