"""CPU time under tbf_dequeue's irq-restore (the re-arm of tbf's watchdog hrtimer) per throttle and per frame, from
window A's ``perf record -a -g`` profiles (base, repeat 0, 500 / 700 / 1000 Mbit/s, gloo4 and ring4; root for perf).

    python benchmarks/results/host-packet-cost-2026-12-06-n/profile_watchdog.py   # needs raw/profiles/*.data (not kept)

tbf_dequeue -> qdisc_watchdog_schedule_ns -> hrtimer_start_range_ns -> unlock_hrtimer_base are tail calls, so the
samples taken when the re-arm re-enables interrupts sit on ``_raw_spin_unlock_irqrestore`` with ``tbf_dequeue`` as
caller (a VM's perf samples on cpu-clock: irq-disabled time lands at the irq-restore). Samples ÷ 997 Hz = CPU-s.
"""

from __future__ import annotations

import json
import lzma
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    rows = {}
    with lzma.open(HERE / "raw" / "points.jsonl.xz", "rt") as fh:
        for ln in fh:
            r = json.loads(ln)
            if r["perf_record"]:
                rows[(r["kind"], r["mbit"])] = r
    for k in ("gloo4", "ring4"):
        for m in (500.0, 700.0, 1000.0):
            f = HERE / "raw" / "profiles" / f"base-{k}-{m:g}-r0.data"
            out = subprocess.run(
                [
                    "perf",
                    "report",
                    "-i",
                    str(f),
                    "-n",
                    "--no-children",
                    "--sort",
                    "sym",
                    "--stdio",
                    "-g",
                    "none",
                    "--percent-limit",
                    "0",
                ],
                capture_output=True,
                text=True,
            ).stdout
            total = sum(int(x.group(1)) for x in re.finditer(r"^\s+[\d.]+%\s+(\d+)\s+\[", out, re.M))
            out = subprocess.run(["perf", "report", "-i", str(f), "--no-children", "--sort", "sym", "-S",
                                  "_raw_spin_unlock_irqrestore", "--stdio", "-g", "callee,0.1,1"],
                                 capture_output=True, text=True).stdout  # fmt: skip
            hit = re.search(r"--([\d.]+)%--tbf_dequeue", out)
            share = float(hit.group(1)) / 100 if hit else 0.0
            links = rows[(k, m)]["links"]
            frames = sum(v["packets"] for key, v in links.items() if key.endswith(":tbf"))
            over = sum(v["overlimits"] for key, v in links.items() if key.endswith(":tbf"))
            sec = share * total / 997
            print(f"{k} {m:g} Mbit/s: {total} samples ({total / 997:.2f} CPU-s); under tbf_dequeue's irq-restore "
                  f"{100 * share:.1f} % = {1e3 * sec:.0f} ms; tbf frames (8 qdiscs) {frames}, overlimits {over} "
                  f"({over / frames:.2f} a frame); {1e6 * sec / over:.2f} us a re-arm, {1e6 * sec / frames:.2f} us a "
                  "frame")  # fmt: skip


if __name__ == "__main__":
    main()
