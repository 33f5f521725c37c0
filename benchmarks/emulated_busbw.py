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

from dpsim.calibration import FIT_ALGORITHMS, bus_bandwidth
from runtime.launch import spawn_ranks
from runtime.testbed.emulated import EmulatedCluster

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, bandwidth, need_root, one_line_errors, size, whole, wholes


@one_line_errors
def main() -> int:
    """Every option checked, then root, before the first line is printed (round 26: ``--rate x`` was a ``UnitError``
    traceback, ``--ranks x`` a ``ValueError`` after the table's header, ``--ranks 1`` a bus bandwidth of a link no
    byte crosses, ``--reps 0`` or ``--algorithms bogus`` a failure of every rank once the cluster was up)."""
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=bandwidth, default="1 Gbit/s", help="per-direction link rate of every node")
    p.add_argument("--size", type=size, default="64 MB", help="all-reduce message size")
    p.add_argument("--ranks", type=wholes(2, 250), default="2,4", help="rank counts (one node each)")
    p.add_argument("--algorithms", default="backend,ring", help="backend (gloo's own) and/or p2p algorithms")
    p.add_argument("--reps", type=whole(1, 1000), default=3)
    args = p.parse_args()
    rate, size_bytes = args.rate, args.size
    algorithms = args.algorithms.split(",")
    if not all(a in FIT_ALGORITHMS for a in algorithms) or len(set(algorithms)) < len(algorithms):
        raise ScriptError(f"--algorithms: expected one or more of {', '.join(FIT_ALGORITHMS)}, each once, "
                          f"got {args.algorithms!r}")  # fmt: skip
    need_root()
    print(f"link rate {rate * 8 / 1e9:g} Gbit/s = {rate / 1e6:.1f} MB/s per direction; all-reduce of {size_bytes} B")
    print(f"{'algorithm':<18}{'ranks':>6}{'time s':>10}{'busbw MB/s':>12}{'% of link':>11}")
    for n in args.ranks:
        testbed = EmulatedCluster(nodes=n, rate=rate)
        with testbed, tempfile.TemporaryDirectory(prefix="dpsim-busbw-") as tmp:
            run_dir = Path(tmp)
            command = [
                sys.executable, "-m", "runtime.bench", "--worker", "--run-dir", str(run_dir),
                "--algorithms", args.algorithms, "--sizes", str(size_bytes), "--reps", str(args.reps), "--warmup", "1",
            ]  # fmt: skip
            spawn_ranks(n, command, testbed, run_dir, timeout_s=600)
            for line in (run_dir / "bench.jsonl").read_text().splitlines():
                r = json.loads(line)
                busbw = bus_bandwidth(r["size_bytes"], r["time_s"], n)
                print(f"{r['algorithm']:<18}{n:>6}{r['time_s']:>10.3f}{busbw / 1e6:>12.1f}{100 * busbw / rate:>10.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
