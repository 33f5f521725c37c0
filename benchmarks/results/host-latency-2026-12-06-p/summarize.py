"""The window's latency points as tables (no root).

    python benchmarks/results/host-latency-2026-12-06-p/summarize.py

Per cluster (n4, n8), per variant and mode: for each (ranks, bytes) the median call in ms (``deadline``: the last
rank's entry to the last rank's exit; ``barrier``: the slowest rank's own time after a barrier, the calibration's
estimator), and for ``deadline`` the process CPU per rank per call (ms) and the voluntary context switches per rank
per call; then the loops' ``perf stat`` rates and the 4 x 4 MiB serial / issued-at-once times.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    for sub in ("n4", "n8", "n8conc"):
        path = HERE / sub / "points.jsonl"
        if not path.exists():
            continue
        rows = [json.loads(ln) for ln in path.read_text().splitlines()]
        points = [r for r in rows if "summary" in r]
        keys = list(points[0]["summary"])

        def label(key: str) -> str:
            ranks, size = key.split(":")
            return f"{ranks}r {int(size) // 1024}KiB" if int(size) >= 1024 else f"{ranks}r {size}B"

        print(f"## {sub}: ms a call (deadline: last entry -> last exit; barrier: slowest rank's own), "
              "[process CPU ms / voluntary switches per rank per call]")  # fmt: skip
        print("| variant | mode | tcp rtt us | " + " | ".join(label(k) for k in keys) + " |")
        print("|---|---|---|" + "---|" * len(keys))
        for p in points:
            cells = []
            for k in keys:
                v = p["summary"][k]
                if p["mode"] == "deadline":
                    cells.append(f"{v['last_in_to_last_out_ms']:.2f} [{v['proc_cpu_ms']:.2f} / {v['vol_csw']:.0f}]")
                else:
                    cells.append(f"{v['slowest_own_ms']:.2f}")
            print(f"| {p['variant']} | {p['mode']} | {p['tcp_rtt_us']:.0f} | " + " | ".join(cells) + " |")
        for r in rows:
            if r.get("kind") == "loop":
                stat = "; ".join(
                    f"{x.split(',')[2]} {float(x.split(',')[0]):,.0f}/s" for x in r["perf_stat_1s"].strip().splitlines()
                )
                print(f"- loop {r['size']} B x {r['count']} (barrier each): {1e3 * r['loop_s'][0] / r['count']:.2f} "
                      f"ms a call; perf stat 1 s: {stat}")  # fmt: skip
            if r.get("kind") == "conc":
                t = r["times_s"]
                print(f"- {r['nodes']} ranks, {r['count']} x {r['bytes'] >> 20} MiB: one at a time "
                      f"{1e3 * statistics.median(t['serial']):.1f} ms {[round(1e3 * x, 1) for x in t['serial']]}, "
                      f"issued at once {1e3 * statistics.median(t['async']):.1f} ms "
                      f"{[round(1e3 * x, 1) for x in t['async']]}; wire {1e3 * r['wire_s']:.1f} ms")  # fmt: skip
        print()


if __name__ == "__main__":
    sys.exit(main())
