"""Bus bandwidth of a large all-reduce on the emulated cluster, against the shaped link rate.

nccl-tests definition: busbw = (S/t) · 2(N−1)/N; for a bandwidth-optimal all-reduce it
approaches the per-direction link rate. Needs root (network namespaces, tc). Example:

    python benchmarks/emulated_busbw.py --rate "1 Gbit/s" --size "64 MB" --ranks 2,4

Prints one line per (algorithm, ranks): median time, busbw, and busbw as % of the link rate.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from dpsim.calibration import bus_bandwidth
from dpsim.units import parse_bandwidth, parse_size
from runtime.launch import spawn_ranks
from runtime.testbed.emulated import EmulatedCluster, RootRequired

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser


def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", default="1 Gbit/s", help="per-direction link rate of every node")
    p.add_argument("--size", default="64 MB", help="all-reduce message size")
    p.add_argument("--ranks", default="2,4", help="rank counts (one node each)")
    p.add_argument("--algorithms", default="backend,ring", help="backend (gloo's own) and/or p2p algorithms")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    rate, size = parse_bandwidth(args.rate), int(parse_size(args.size))
    print(f"link rate {rate * 8 / 1e9:g} Gbit/s = {rate / 1e6:.1f} MB/s per direction; all-reduce of {size} B")
    print(f"{'algorithm':<18}{'ranks':>6}{'time s':>10}{'busbw MB/s':>12}{'% of link':>11}")
    for n in (int(v) for v in args.ranks.split(",")):
        try:
            testbed = EmulatedCluster(nodes=n, rate=rate)
        except RootRequired as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        with testbed, tempfile.TemporaryDirectory(prefix="dpsim-busbw-") as tmp:
            run_dir = Path(tmp)
            command = [
                sys.executable, "-m", "runtime.bench", "--worker", "--run-dir", str(run_dir),
                "--algorithms", args.algorithms, "--sizes", str(size), "--reps", str(args.reps), "--warmup", "1",
            ]  # fmt: skip
            spawn_ranks(n, command, testbed, run_dir, timeout_s=600)
            for line in (run_dir / "bench.jsonl").read_text().splitlines():
                r = json.loads(line)
                busbw = bus_bandwidth(r["size_bytes"], r["time_s"], n)
                print(f"{r['algorithm']:<18}{n:>6}{r['time_s']:>10.3f}{busbw / 1e6:>12.1f}{100 * busbw / rate:>10.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
