"""Where the point-to-point tree all-reduce loses time to 2·S/B: every node link's bytes, sampled every 5 ms.

Runs one timed tree all-reduce per rank count on the emulated cluster while a sampler in the
switch namespace reads each switch-side veth's counters (``v<i>`` rx = what node i sends,
tx = what it receives, Ethernet frames and ACKs included) and the host's busy CPU time. Per
call it prints the time over 2·S/B, the bytes each node sent (in S), the busiest link's floor
(its bytes at the shaped rate, over 2·S/B), how busy that link was on average and per tenth
of the call, and how busy the host's cores were. Needs root. Example (the README's numbers):

    python benchmarks/tree_links.py --rate "50 Mbit/s" --size "8 MiB" --ranks 4,5,8

Knobs of the tree itself are module constants of ``runtime/collectives/tree.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from runtime.launch import spawn_ranks
from runtime.testbed.emulated import EmulatedCluster

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, bandwidth, need_root, one_line_errors, size, wholes

SAMPLER = """
import sys, time
n, period = int(sys.argv[1]), float(sys.argv[2])
files = [open(f"/sys/class/net/v{i}/statistics/{d}") for i in range(n) for d in ("rx_bytes", "tx_bytes")]
stat = open("/proc/stat")
while True:
    row = [time.monotonic()]
    for f in files:
        f.seek(0)
        row.append(int(f.read()))
    stat.seek(0)
    cpu = [int(v) for v in stat.readline().split()[1:9]]
    row.append(sum(cpu) - cpu[3] - cpu[4])
    print(*row, flush=True)
    time.sleep(period)
"""


def analyse(rows: list[list[float]], n: int, size: int, rate: float, time_s: float) -> list[str]:
    """What each link did in the call's window: the ``time_s`` before the last sample with traffic."""
    sent = [[r[1 + 2 * i] for r in rows] for i in range(n)]
    received = [[r[2 + 2 * i] for r in rows] for i in range(n)]
    t, busy = [r[0] for r in rows], [r[-1] for r in rows]
    moving = [k for k in range(1, len(t)) if sum(s[k] - s[k - 1] for s in sent) > 0.02 * rate * (t[k] - t[k - 1])]
    b = moving[-1]  # the call ends with its last traffic and lasted time_s (the slowest rank's time)
    a = max(0, min(range(b + 1), key=lambda k: abs(t[k] - (t[b] - time_s))))
    ideal = 2 * size / rate
    out = [s[b] - s[a] for s in sent]
    top = max(range(n), key=lambda i: out[i])
    tenths = []
    for q in range(10):
        ka, kb = a + (b - a) * q // 10, a + (b - a) * (q + 1) // 10
        if kb > ka:
            tenths.append(f"{(sent[top][kb] - sent[top][ka]) / (rate * (t[kb] - t[ka])):.2f}")
    window = t[b] - t[a]
    return [
        f"{n} ranks: {time_s:.3f} s = {time_s / ideal:.3f}× 2·S/B; cores busy "
        f"{(busy[b] - busy[a]) / os.sysconf('SC_CLK_TCK') / window:.2f}",
        "  sent/S     " + " ".join(f"{v / size:.2f}" for v in out),
        "  received/S " + " ".join(f"{(r[b] - r[a]) / size:.2f}" for r in received),
        f"  busiest link (node {top}): floor {out[top] / rate / ideal:.3f}× 2·S/B, busy {out[top] / rate / window:.2f}"
        f" of the window; by tenth {' '.join(tenths)}",
    ]


@one_line_errors
def main() -> int:
    """Every option checked, then root, before any cluster (round 26: ``--rate x`` was a ``UnitError`` traceback,
    ``--ranks x`` a ``ValueError``, ``--ranks 1`` a tree of one node)."""
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=bandwidth, default="50 Mbit/s", help="per-direction link rate of every node")
    p.add_argument("--size", type=size, default="8 MiB", help="all-reduce message size")
    p.add_argument("--ranks", type=wholes(2, 250), default="4,5,8", help="rank counts (one node each)")
    args = p.parse_args()
    rate, size_bytes = args.rate, args.size
    need_root()
    for n in args.ranks:
        testbed = EmulatedCluster(nodes=n, rate=rate)
        with testbed, tempfile.TemporaryDirectory(prefix="dpsim-tree-links-") as tmp:
            run_dir = Path(tmp)
            switch = testbed.namespaces[0]
            samples = run_dir / "links.txt"
            with samples.open("w") as sink:  # a file, not a pipe: nobody reads until the call is over
                sampler = subprocess.Popen(
                    ["ip", "netns", "exec", switch, sys.executable, "-c", SAMPLER, str(n), "0.005"], stdout=sink
                )
            command = [
                sys.executable, "-m", "runtime.bench", "--worker", "--run-dir", str(run_dir),
                "--algorithms", "tree", "--sizes", str(size_bytes), "--reps", "1", "--warmup", "0",
            ]  # fmt: skip
            try:
                spawn_ranks(n, command, testbed, run_dir, timeout_s=600)
            finally:
                sampler.terminate()
                sampler.wait()
            (record,) = [json.loads(line) for line in (run_dir / "bench.jsonl").read_text().splitlines()]
            rows = [[float(v) for v in line.split()] for line in samples.read_text().splitlines()]
            rows = [r for r in rows if len(r) == 2 * n + 2]  # the last line may be cut short
            print("\n".join(analyse(rows, n, record["size_bytes"], rate, record["time_s"])), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
