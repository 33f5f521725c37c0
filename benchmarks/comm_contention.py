"""Communication slowed by compute on shared cores: gloo's all-reduce alone and while every rank computes.

On the emulated cluster (root), ``--ranks`` ranks one per node at each ``--rates`` rate: the bench's
all-reduce of ``--size`` (gloo's own, barrier-started, the slowest rank's time, median of ``--reps``),
then the same all-reduce posted asynchronously while each rank's main thread multiplies 256² matrices
until it completes (:func:`runtime.bench.time_busy_all_reduce`, DDP's overlap without the model). Prints
per point the two times, their ratio, and the compute done meanwhile against the same products run with
nothing communicated (the compute's share of its time). Writes ``contention.jsonl`` to ``--out``.

    sudo PYTHONPATH=. python benchmarks/comm_contention.py --ranks 2,4 --rates 150,450,1200 --out DIR
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, need_root, numbers, one_line_errors, whole, wholes
from runtime.launch import spawn_ranks
from runtime.testbed.emulated import EmulatedCluster


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


@one_line_errors
def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--ranks", type=wholes(2, 250), default="2,4")
    p.add_argument("--rates", type=numbers(1e-3, 1e6), default="150,450,1200", help="Mbit/s")
    p.add_argument("--size", type=whole(1, 1 << 40), default=8 << 20, help="bytes")
    p.add_argument("--reps", type=whole(1, 1000), default=5)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()  # round 26: --rates x / --ranks x were a ValueError after the folder was made
    if args.out.exists() and not args.out.is_dir():
        raise ScriptError(f"--out: {str(args.out)!r} is a file: expected a folder")
    need_root()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"start {time.strftime('%H:%M:%S', time.gmtime())} UTC, {uptime()}")
    for mbit in args.rates:
        for n in args.ranks:
            run_dir = args.out / f"{n}-{mbit:g}"
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "bench.jsonl").unlink(missing_ok=True)
            command = [sys.executable, "-m", "runtime.bench", "--worker", "--run-dir", str(run_dir),
                       "--algorithms", "backend", "--sizes", str(args.size), "--reps", str(args.reps),
                       "--warmup", "1", "--busy"]  # fmt: skip
            with EmulatedCluster(nodes=n, per_node=1, rate=mbit * 1e6 / 8) as tb:
                spawn_ranks(n, command, tb, run_dir, timeout_s=600)
            rec = json.loads((run_dir / "bench.jsonl").read_text().splitlines()[0])
            rec.update(rate_bytes_per_s=mbit * 1e6 / 8, link_class="inter")
            rows.append(rec)
            busy = statistics.median(rec["busy_times_s"])
            share = statistics.median(c / t for c, t in zip(rec["busy_compute_s"], rec["busy_times_s"], strict=True))
            print(f"{n} ranks, {mbit:g} Mbit/s: alone {1e3 * rec['time_s']:.1f} ms, with compute {1e3 * busy:.1f} ms "
                  f"(x{busy / rec['time_s']:.2f}); compute got {share:.2f} of its alone rate", flush=True)  # fmt: skip
    (args.out / "contention.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"end {time.strftime('%H:%M:%S', time.gmtime())} UTC, {uptime()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
