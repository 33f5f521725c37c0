"""The emulated testbed's TCP congestion control, measured: one all-reduce point per setting (needs root).

A namespace inherits the host's congestion control (this project's VM: bbr); ``EmulatedCluster(tcp_cc=...)`` (or
``DPSIM_TCP_CC``) gives the nodes' flows another one. For each point (ranks one a node, shaped rate, algorithm,
size) and each control, on a fresh cluster, the slowest rank's median of ``--reps`` timed calls after one warm-up
(``runtime.bench`` as the calibration runs it), its spread (max − min) / median, and the time over the busiest
link's bytes at the rate: ``b / B`` with ``b`` the closed form's bandwidth coefficient
(:func:`dpsim.calibration.closed_form_coefficients`: 2(N−1)/N·S for the ring and halving–doubling) or 2·S for the
p2p tree from 4 ranks (its busiest link carries 2·S), or the ring's for gloo's own (``backend``). The controls are
taken round robin at every point and the whole list ``--passes`` times, so drift on the host falls on all alike.

    sudo python benchmarks/tcp_cc.py [--cc bbr,reno,cubic] [--passes 2] [--reps 3] [--out FILE.json]
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
    need_root,
    one_line_errors,
    one_of,
    read_json,
    refuse_beside_reuse,
    whole,
)

MIB = 2**20
POINTS: list[tuple[int, float, str, int]] = [
    (4, 50.0, "ring", 8 * MIB),
    (4, 50.0, "tree", 8 * MIB),
    (3, 450.0, "ring", 8 * MIB),
    (4, 150.0, "backend", 8 * MIB),
    (8, 1000.0, "ring", 8 * MIB),
]
"""(ranks, Mbit/s, algorithm, bytes): the p2p tree's and the ring's 50 Mbit/s points of stop 35, two calibration
rates, gloo's own algorithm, and 8 ranks on 2 cores where the host, not the link, is the bound."""


def busiest_link_bytes(algorithm: str, ranks: int, size: float) -> float:
    """Bytes the busiest link carries in one direction (the closed form's bandwidth coefficient)."""
    from dpsim.calibration import closed_form_coefficients

    if algorithm == "tree":
        return 2.0 * size if ranks >= 4 else size
    return closed_form_coefficients("ring" if algorithm == "backend" else algorithm, ranks, size)[1]


def measure(controls: list[str], passes: int, reps: int, out: Path | None) -> list[dict[str, Any]]:
    from runtime.calibrate import CalibrationPlan, run_bench
    from runtime.hostload import host_load, snapshot
    from runtime.testbed.emulated import EmulatedCluster

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dpsim-tcp-cc-") as tmp:
        for k in range(passes):
            for ranks, mbit, algorithm, size in POINTS:
                for cc in controls:
                    rate = mbit * 1e6 / 8
                    plan = CalibrationPlan(sizes=(size,), algorithms=(algorithm,), collectives=("all_reduce",),
                                           reps=reps, warmup=1, timeout_s=300)  # fmt: skip
                    with EmulatedCluster(nodes=ranks, per_node=1, rate=rate, tcp_cc=cc) as cluster:
                        before = snapshot()
                        (record,) = run_bench(ranks, 1, cluster, plan, Path(tmp) / f"{k}-{ranks}-{mbit:g}-{cc}")
                        load = host_load(before, snapshot())
                        used = cluster.info["tcp_congestion_control"]
                    times = record["times_s"]
                    row = {
                        "pass": k, "ranks": ranks, "mbit_s": mbit, "algorithm": algorithm, "size_bytes": size,
                        "cc": used, "time_s": record["time_s"], "times_s": times,
                        "spread": (max(times) - min(times)) / statistics.median(times),
                        "over_rate": record["time_s"] * rate / busiest_link_bytes(algorithm, ranks, size),
                        "host_load": load,
                    }  # fmt: skip
                    rows.append(row)
                    print(f"pass {k}: {ranks} ranks {algorithm} {size / MIB:g} MiB at {mbit:g} Mbit/s, {used}: "
                          f"{row['time_s']:.3f} s = {row['over_rate']:.3f} x busiest bytes / B, spread "
                          f"{100 * row['spread']:.1f} %", flush=True)  # fmt: skip
                    if out is not None:
                        out.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return rows


def table(rows: list[dict[str, Any]], controls: list[str]) -> str:
    """Per point and control: the median over passes of the time / (busiest bytes / B), and of the spread."""
    lines = ["| point | " + " | ".join(f"{cc}: x bytes/B (spread %)" for cc in controls) + " |",
             "|---|" + "---|" * len(controls)]  # fmt: skip
    for ranks, mbit, algorithm, size in POINTS:
        cells = []
        for cc in controls:
            mine = [
                r for r in rows if (r["ranks"], r["mbit_s"], r["algorithm"], r["cc"]) == (ranks, mbit, algorithm, cc)
            ]
            if not mine:
                cells.append("-")
                continue
            ratio = statistics.median(r["over_rate"] for r in mine)
            spread = statistics.median(r["spread"] for r in mine)
            cells.append(f"{ratio:.3f} ({100 * spread:.1f})")
        lines.append(f"| {algorithm} {ranks} ranks {size / MIB:g} MiB {mbit:g} Mbit/s | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@one_line_errors
def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--cc", default="bbr,reno,cubic", help="comma-separated congestion controls")
    p.add_argument("--passes", type=whole(1, 1000), default=2)
    p.add_argument("--reps", type=whole(1, 1000), default=3, help="timed calls a point (after 1 warm-up)")
    p.add_argument("--out", type=Path, help="write the rows (JSON) here")
    p.add_argument("--reuse", type=Path, help="print the table of a previous --out (no root)")
    args = p.parse_args()
    controls = [c for c in args.cc.split(",") if c]
    if not controls or len(set(controls)) < len(controls):  # round 27: '' printed a table of no column
        raise ScriptError(f"--cc: expected comma-separated congestion controls, each once, got {args.cc!r}")
    if args.reuse is not None:
        refuse_beside_reuse(sys.argv[1:], "table", ("--cc",))  # round 27: --passes, --reps, --out were dropped
        rows = read_json(args.reuse)
        stored = {r.get("cc") for r in rows if isinstance(r, dict)} if isinstance(rows, list) else set()
        if missing := [c for c in controls if c not in stored]:  # a column of '-' only, silently
            raise ScriptError(f"--cc: {args.reuse} holds no {', '.join(missing)} (stored: "
                              f"{', '.join(sorted(str(c) for c in stored)) or 'none'})")  # fmt: skip
    else:
        need_root()
        from runtime.testbed.emulated import congestion_controls

        for cc in controls:
            one_of("--cc", cc, congestion_controls())
        rows = measure(controls, args.passes, args.reps, args.out)
    print(table(rows, controls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
