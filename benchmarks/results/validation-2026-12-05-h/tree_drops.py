"""Where the p2p tree loses time on the emulated cluster: tbf drops and TCP retransmissions (diagnostic; root).

N ranks one a node at 50 Mbit/s, 8 MiB: the tree and the ring all-reduce (runtime.bench, 1 warm-up and 2 timed
calls, the slowest rank's median), each on a fresh cluster; after each, every node's tbf counters (both
directions: eth0 node -> switch, v<i> switch -> node) and the namespace's TCP retransmitted segments.

    DPSIM_NETNS_PREFIX=emu- PYTHONPATH=. python benchmarks/results/validation-2026-12-05-h/tree_drops.py 4 [Q [CC]]

(Q: tbf's ``latency``, the testbed's 0.1 s by default; CC: the nodes' TCP congestion control, the host's
by default.)
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from dpsim.calibration import closed_form_coefficients
from runtime.calibrate import CalibrationPlan, run_bench
from runtime.testbed.emulated import EmulatedCluster

RATE, SIZE = float(sys.argv[4]) / 8 if len(sys.argv) > 4 else 50e6 / 8, 8 * 2**20


def _tbf(ns: str, dev: str) -> tuple[int, int, int]:
    out = subprocess.run(["tc", "-n", ns, "-s", "qdisc", "show", "dev", dev], capture_output=True, text=True).stdout
    m = re.search(r"Sent (\d+) bytes (\d+) pkt \(dropped (\d+)", out)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)


def _retrans(ns: str) -> int:
    out = subprocess.run(["ip", "netns", "exec", ns, "nstat", "-az", "TcpRetransSegs"], capture_output=True,
                         text=True).stdout  # fmt: skip
    m = re.search(r"TcpRetransSegs\s+(\d+)", out)
    return int(m.group(1)) if m else -1


QUEUE_S = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
CC = sys.argv[3] if len(sys.argv) > 3 else ""
for ranks in [int(x) for x in sys.argv[1].split(",")]:
    for algorithm in ("tree", "ring"):
        plan = CalibrationPlan(sizes=(SIZE,), algorithms=(algorithm,), collectives=("all_reduce",), reps=2,
                               warmup=1, timeout_s=300)  # fmt: skip
        with (
            tempfile.TemporaryDirectory() as tmp,
            EmulatedCluster(nodes=ranks, per_node=1, rate=RATE) as cluster,
        ):
            for node in range(ranks) if QUEUE_S != 0.1 else ():  # the testbed's tbf, its queue changed
                for where, dev in ((cluster.node_namespace(node), "eth0"), (cluster.namespaces[0], f"v{node}")):
                    subprocess.run(["tc", "-n", where, "qdisc", "change", "dev", dev, "root", "tbf", "rate",
                                    f"{round(RATE * 8)}bit", "burst", f"{cluster.burst_bytes}b", "latency",
                                    f"{QUEUE_S * 1e3:g}ms"], check=True)  # fmt: skip
            for node in range(ranks) if CC else ():
                ns = cluster.node_namespace(node)
                subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv4.tcp_congestion_control={CC}"],
                               check=True)  # fmt: skip
            (record,) = run_bench(ranks, 1, cluster, plan, Path(tmp) / "bench")
            bridge = cluster.namespaces[0]
            rows = []
            for node in range(ranks):
                ns = cluster.node_namespace(node)
                up, down = _tbf(ns, "eth0"), _tbf(bridge, f"v{node}")
                rows.append(f"n{node}: up {up[0] / 1e6:.1f} MB {up[2]} dropped, down {down[0] / 1e6:.1f} MB "
                            f"{down[2]} dropped, retrans {_retrans(ns)}")  # fmt: skip
        busiest = 2 * SIZE if algorithm == "tree" else closed_form_coefficients("ring", ranks, SIZE)[1]
        ratio = record["time_s"] * RATE / busiest
        print(f"{ranks} ranks {algorithm}, tbf queue {1e3 * QUEUE_S:g} ms {CC}: "
              f"{record['time_s']:.3f} s = {ratio:.3f} x "
              f"busiest link's bytes / B; times {[round(t, 3) for t in record['times_s']]}", flush=True)  # fmt: skip
        for row in rows:
            print("   ", row, flush=True)
