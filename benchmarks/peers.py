"""dpsim's chunk level against a peer simulator: one chunked ring all-reduce of 1 GiB, side by side.

The same work in both: N ranks, one per node, every node on one non-blocking switch by its
own full-duplex link (25 GB/s, 5 µs end to end); a ring all-reduce of 1 GiB in 2(N−1)
steps of S/N bytes, each rank sending to its right-hand neighbour while it receives from
its left, a step starting when the previous one is done. Both simulators are flow-level
(max-min sharing of link bandwidth), so both must give the closed form
``2(N−1)·(α + S/(N·B))`` (:func:`dpsim.analytic.collectives.ring_allreduce_time`).

The peer is SimGrid (Casanova et al., JPDC 2014) through its Python S4U bindings (Debian's
``python3-simgrid``, built for the system interpreter, so it runs as a subprocess of
``/usr/bin/python3``): one actor per rank, ``put_async`` to the right-hand mailbox, ``get``
from its own, on a ``<cluster>`` platform with split-duplex private links and a fat-pipe
backbone, network model CM02 (plain max-min, no TCP correction factors) and cross-traffic
off. Where it is absent the SimGrid column says why.

Wall time is measured around the whole simulation (platform and schedule set-up included)
and so is CPU time (the subprocess's user + system time for SimGrid); on a shared machine
CPU time is the steadier figure. Usage: ``python benchmarks/peers.py [--sizes 64,128,256,512]``.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dpsim.analytic import collectives as cf
from dpsim.sim import collectives
from dpsim.sim.chunk import CompiledSchedule
from dpsim.sim.cluster import Cluster

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, wholes

SIZE = 1 << 30
LINK = cf.Link(5e-6, 25e9)
SYSTEM_PYTHON = "/usr/bin/python3"

SIMGRID_RING = """
import sys, time
from simgrid import Actor, Engine, Host, Mailbox
n, size, bw, lat, platform = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
start = time.perf_counter()
with open(platform, "w") as f:
    f.write(f'''<?xml version='1.0'?>
<!DOCTYPE platform SYSTEM "https://simgrid.org/simgrid.dtd">
<platform version="4.1">
<cluster id="c" prefix="h" suffix="" radical="0-{n - 1}" speed="1Gf" bw="{bw}Bps" lat="{lat / 2}s"
 sharing_policy="SPLITDUPLEX" bb_bw="{bw * n * 4}Bps" bb_lat="0s" bb_sharing_policy="FATPIPE"/>
</platform>''')
def rank(i):
    right, mine = Mailbox.by_name(f"m{(i + 1) % n}"), Mailbox.by_name(f"m{i}")
    for step in range(2 * (n - 1)):
        sent = right.put_async(step, size // n)
        mine.get()
        sent.wait()
engine = Engine(["ring", "--cfg=network/model:CM02", "--cfg=network/crosstraffic:0", "--log=root.thresh:critical"])
engine.load_platform(platform)
for i in range(n):
    Actor.create(f"r{i}", Host.by_name(f"h{i}"), rank, i)
engine.run()
print(repr(engine.clock), time.perf_counter() - start)
"""


def simgrid_available() -> str:
    """Empty if SimGrid's Python bindings can be imported, else the reason they cannot."""
    if shutil.which(SYSTEM_PYTHON) is None:
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import simgrid"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return "python3-simgrid is not installed (apt-get install python3-simgrid)"
    return ""


def run_dpsim(n: int) -> tuple[float, float, float]:
    """(simulated time, wall s, CPU s) of dpsim's chunk level."""
    wall, cpu = time.perf_counter(), time.process_time()
    cluster = Cluster(n, 1, LINK, LINK)
    done = CompiledSchedule(collectives.allreduce("ring", n, 1), cluster).run(SIZE, np.zeros(n)).done_s
    return float(done.max()), time.perf_counter() - wall, time.process_time() - cpu


def run_simgrid(n: int) -> tuple[float, float, float]:
    """(simulated time, wall s, CPU s) of SimGrid S4U in a subprocess of the system python."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [SYSTEM_PYTHON, "-c", SIMGRID_RING, str(n), str(SIZE), repr(LINK.bandwidth), repr(LINK.latency_s),
             str(Path(tmp) / "platform.xml")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return float(out.stdout.split()[0]), wall, cpu


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=wholes(2, 1 << 16), default="64,128,256,512", help="comma-separated rank counts"
    )
    args = parser.parse_args()  # round 26: 'x' was a ValueError traceback, '' printed a header and ran nothing
    sizes = args.sizes
    missing = simgrid_available()
    if missing:
        print(f"SimGrid skipped: {missing}")
    header = (
        f"{'ranks':>5} {'closed form s':>14} {'dpsim s':>14} {'simgrid s':>14} {'dpsim wall':>10} {'dpsim cpu':>9} "
        f"{'sg wall':>8} {'sg cpu':>7} {'wall ratio':>10} {'cpu ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    for n in sizes:
        closed = cf.ring_allreduce_time(SIZE, n, LINK)
        t_dp, wall_dp, cpu_dp = run_dpsim(n)
        if missing:
            print(f"{n:>5} {closed:>14.9f} {t_dp:>14.9f} {'skipped':>14} {wall_dp:>10.3f} {cpu_dp:>9.3f}", flush=True)
            continue
        t_sg, wall_sg, cpu_sg = run_simgrid(n)
        print(
            f"{n:>5} {closed:>14.9f} {t_dp:>14.9f} {t_sg:>14.9f} {wall_dp:>10.3f} {cpu_dp:>9.3f} {wall_sg:>8.2f} "
            f"{cpu_sg:>7.2f} {wall_sg / wall_dp:>9.1f}x {cpu_sg / cpu_dp:>8.1f}x",
            flush=True,
        )
        for name, value in (("dpsim", t_dp), ("simgrid", t_sg)):
            if abs(value / closed - 1) > 1e-6:
                print(f"  {name} differs from the closed form by {value / closed - 1:+.2e}")


if __name__ == "__main__":
    main()
