"""Where a small gloo all-reduce's milliseconds go on the emulated cluster (diagnostic; root; issue 10, stop 43).

Stop 42 measured 8 and 64 KiB all-reduces at 4 ranks taking 5-9 ms under tbf and htb alike, 3-7x their wire time,
and the calibration's own records show the same at 4 ranks inside ONE namespace (loopback, no shaper: 6-8 ms), with
1.6-2.5 ms of CPU per rank per call. Candidates: (1) the shaper (ruled out by the intra points and by htb); (2) a
halted vCPU's wake-up (this VM is Firecracker: a vCPU idles in HLT and needs the host to reschedule it when a
packet or a futex wakes a thread on it); (3) CPU: 4 ranks x their threads on 2 cores, each call costing milliseconds
of CPU per rank; (4) the measurement (a barrier's exit skew lands in the slowest rank's time).

One cluster of ``--nodes`` nodes (one rank a node, long-lived gloo workers, 1000 Mbit/s). Per point, for groups of
2, 4 and ``--nodes`` ranks and 4 B / 8 KiB / 64 KiB, ``--calls`` calls of ``dist.all_reduce`` (gloo's own ring):
- ``deadline``: every rank starts call i at a common monotonic deadline (the host's CLOCK_MONOTONIC, one clock for
  every namespace) ``--gap`` apart; per call the time from the LAST rank's entry to the last rank's exit (no barrier
  skew can enter), the first entry to the last exit, each rank's main-thread and process CPU and its context
  switches (getrusage: voluntary, involuntary);
- ``barrier``: the calibration's estimator (a barrier, then the slowest rank's own wall time).
Variants, applied in place between points: ``base`` (the testbed as landed: tbf 72 KiB), ``spin`` (one SCHED_IDLE
busy loop per core: the vCPUs never halt, and a woken thread preempts the loop at once), ``noqdisc`` (every qdisc
removed: bare veth + bridge), ``pin`` (rank r's every thread on CPU r mod 2), ``spinpin``. Each point also takes the
testbed's own 1-byte TCP round trip between node 0 and node 1 (``measure_latency``, 200 rounds) under the variant.
``--conc-reps K``: K interleaved pairs of four 4 MiB all-reduces over every rank, one at a time (each waited) against
all four issued at once (``async_op``, then every wait: ProcessGroupGloo's two worker threads), last entry to last
exit. ``--perf``: 500 calls each of 4 B, 8 KiB and 64 KiB over every rank (a barrier before each), ``perf stat -a``
over 1 s of each (epoll_wait and futex calls, context switches, wake-ups) and ``perf record -a -g`` over 1.5 s of
the 8 KiB stream (``perf.data``).

    DPSIM_NETNS_PREFIX=emu- PYTHONPATH=. python benchmarks/results/host-latency-2026-12-06-p/latency_probe.py \\
        --nodes 4 --variants base,spin,noqdisc,pin,spinpin,base --perf --out DIR
    ... latency_probe.py --nodes 8 --variants base,spin --gap 0.07 --conc-reps 5 --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[3]
SIZES = (4, 8 * 1024, 64 * 1024)
CONC_BYTES, CONC_COUNT = 4 << 20, 4


def worker(argv: list[str]) -> None:
    import torch
    import torch.distributed as dist

    ctrl = Path(argv[0])
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    groups = {n: dist.new_group(list(range(n))) for n in (2, 4) if n < world}
    groups[world] = dist.group.WORLD
    bufs = {s: torch.ones(max(1, s // 4)) for s in SIZES}
    conc = [torch.ones(CONC_BYTES // 4) for _ in range(CONC_COUNT)]
    clock = time.perf_counter
    k = 0
    while True:
        cmd_path = ctrl / f"cmd{k}.json"
        while not cmd_path.exists():
            time.sleep(0.005)
        cmd = json.loads(cmd_path.read_text())
        if cmd["kind"] == "exit":
            break
        res: dict[str, Any] = {"rank": rank, "calls": {}}
        if cmd["kind"] == "conc":  # CONC_COUNT all-reduces one at a time vs all issued at once (gloo's threads)
            res["conc"] = []
            for i in range(2 * cmd["reps"]):
                serial = i % 2 == 0
                dist.barrier()
                a = clock()
                if serial:
                    for t in conc:
                        dist.all_reduce(t)
                else:
                    works = [dist.all_reduce(t, async_op=True) for t in conc]
                    for w in works:
                        w.wait()
                res["conc"].append(["serial" if serial else "async", a, clock()])
        if cmd["kind"] == "loop":  # a stream of one size, a barrier before each call, for a profiler to watch
            dist.barrier()
            n, size = cmd["group"], cmd["size"]
            if rank < n:
                a = clock()
                for _ in range(cmd["count"]):
                    dist.barrier(group=groups[n])
                    dist.all_reduce(bufs[size], group=groups[n])
                res["loop_s"] = clock() - a
            dist.barrier()
        for n in cmd.get("groups", []):
            for size in SIZES:
                dist.barrier()
                if rank < n:
                    dist.all_reduce(bufs[size], group=groups[n])  # warm-up
                rows = []
                if cmd["mode"] == "deadline":
                    t = torch.tensor([clock() + 0.05], dtype=torch.float64)
                    dist.all_reduce(t, op=dist.ReduceOp.MAX)
                    t0 = float(t[0])
                    for i in range(cmd["calls"]):
                        wait = t0 + i * cmd["gap"] - clock()
                        if wait > 0:
                            time.sleep(wait)
                        if rank >= n:
                            continue
                        ru0, c0, p0 = resource.getrusage(resource.RUSAGE_SELF), time.thread_time(), time.process_time()
                        a = clock()
                        dist.all_reduce(bufs[size], group=groups[n])
                        b = clock()
                        ru1, c1, p1 = resource.getrusage(resource.RUSAGE_SELF), time.thread_time(), time.process_time()
                        csw = [ru1.ru_nvcsw - ru0.ru_nvcsw, ru1.ru_nivcsw - ru0.ru_nivcsw]
                        rows.append([a, b, c1 - c0, p1 - p0, *csw])
                    rest = t0 + cmd["calls"] * cmd["gap"] - clock()
                    if rest > 0:
                        time.sleep(rest)
                else:
                    for _ in range(cmd["calls"]):
                        if rank < n:
                            dist.barrier(group=groups[n])
                            c0, p0 = time.thread_time(), time.process_time()
                            a = clock()
                            dist.all_reduce(bufs[size], group=groups[n])
                            b = clock()
                            rows.append([a, b, time.thread_time() - c0, time.process_time() - p0, 0, 0])
                res["calls"][f"{n}:{size}"] = rows
        dist.barrier()
        part = ctrl / f"res{k}_{rank}.json.partial"
        part.write_text(json.dumps(res))
        part.replace(ctrl / f"res{k}_{rank}.json")
        k += 1
    dist.destroy_process_group()


def sh(*a: str, check: bool = True) -> str:
    out = subprocess.run(a, capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(a)[:200]}: rc {out.returncode}: {out.stderr.strip()[-500:]}")
    return out.stdout


def host_busy() -> float:
    with open("/proc/stat", encoding="ascii") as fh:
        f = [int(x) for x in fh.readline().split()[1:]]
    return (sum(f) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


class Driver:
    def __init__(self, out: Path, nodes: int) -> None:
        sys.path.insert(0, str(ROOT))
        from runtime.testbed.emulated import EmulatedCluster

        self.n = nodes
        self.cluster = EmulatedCluster(nodes=nodes, per_node=1, rate=125e6, drop_root=False)
        self.bridge = self.cluster.namespaces[0]
        self.nodes = [self.cluster.node_namespace(i) for i in range(self.n)]
        self.burst = self.cluster.burst_bytes
        self.ctrl = out / "ctrl"
        self.ctrl.mkdir(parents=True, exist_ok=True)
        for f in self.ctrl.iterdir():
            f.unlink()
        self.k = 0
        self.spinners: list[subprocess.Popen[bytes]] = []
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MASTER_ADDR": "198.18.0.1", "MASTER_PORT": "29531",
               "WORLD_SIZE": str(nodes), "LOCAL_WORLD_SIZE": "1", "GLOO_SOCKET_IFNAME": "eth0",
               "OMP_NUM_THREADS": "1"}  # fmt: skip
        cmd = [sys.executable, str(HERE), "--worker", str(self.ctrl)]
        self.procs = [
            subprocess.Popen([*self.cluster.prefix(r), *cmd], env={**env, "RANK": str(r), "LOCAL_RANK": "0"})
            for r in range(nodes)
        ]

    def devs(self) -> list[tuple[str, str]]:
        return [(ns, "eth0") for ns in self.nodes] + [(self.bridge, f"v{i}") for i in range(self.n)]

    def qdiscs(self, on: bool) -> None:
        for ns, dev in self.devs():
            sh("tc", "-n", ns, "qdisc", "del", "dev", dev, "root", check=False)
            if on:
                sh("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", "1000000000bit", "burst",
                   f"{self.burst}b", "latency", "100ms")  # fmt: skip

    def spin(self, on: bool) -> None:
        for p in self.spinners:
            p.kill()
            p.wait()
        self.spinners = []
        if on:
            self.spinners = [subprocess.Popen(["chrt", "--idle", "0", "sh", "-c", "while :; do :; done"])
                             for _ in range(os.cpu_count() or 2)]  # fmt: skip

    def pin(self, on: bool) -> None:
        for r, p in enumerate(self.procs):
            sh("taskset", "-a", "-p", "-c", str(r % 2) if on else f"0-{(os.cpu_count() or 2) - 1}", str(p.pid))

    def variant(self, name: str) -> None:
        self.qdiscs(name != "noqdisc")
        self.spin("spin" in name)
        self.pin("pin" in name.replace("spin", ""))

    def send(self, cmd: dict[str, Any]) -> list[dict[str, Any]]:
        k = self.k
        part = self.ctrl / f"cmd{k}.json.partial"
        part.write_text(json.dumps(cmd))
        part.replace(self.ctrl / f"cmd{k}.json")
        res = []
        deadline = time.time() + 300
        for r in range(self.n):
            p = self.ctrl / f"res{k}_{r}.json"
            while not p.exists():
                if time.time() > deadline or any(pr.poll() is not None for pr in self.procs):
                    raise RuntimeError(f"command {k}: no result from rank {r}")
                time.sleep(0.01)
            res.append(json.loads(p.read_text()))
        self.k += 1
        return res

    def point(self, meta: dict[str, Any], mode: str, calls: int, gap: float) -> dict[str, Any]:
        rtt = self.cluster.measure_latency(rounds=200) * 2
        b0, w0 = host_busy(), time.perf_counter()
        groups = sorted({n for n in (2, 4) if n < self.n} | {self.n})
        res = self.send({"kind": "run", "groups": groups, "mode": mode, "calls": calls, "gap": gap})
        busy = (host_busy() - b0) / (time.perf_counter() - w0)
        summary = {}
        for key in res[0]["calls"]:
            n = int(key.split(":")[0])
            per = [r["calls"][key] for r in res[:n]]
            last_in = [max(p[i][0] for p in per) for i in range(calls)]
            first_in = [min(p[i][0] for p in per) for i in range(calls)]
            last_out = [max(p[i][1] for p in per) for i in range(calls)]
            own = [max(p[i][1] - p[i][0] for p in per) for i in range(calls)]
            med = statistics.median
            summary[key] = {
                "last_in_to_last_out_ms": 1e3 * med(o - i for o, i in zip(last_out, last_in, strict=True)),
                "first_in_to_last_out_ms": 1e3 * med(o - i for o, i in zip(last_out, first_in, strict=True)),
                "slowest_own_ms": 1e3 * med(own),
                "entry_spread_ms": 1e3 * med(a - b for a, b in zip(last_in, first_in, strict=True)),
                "thread_cpu_ms": 1e3 * statistics.mean(med(c[2] for c in p) for p in per),
                "proc_cpu_ms": 1e3 * statistics.mean(med(c[3] for c in p) for p in per),
                "vol_csw": statistics.mean(med(c[4] for c in p) for p in per),
                "invol_csw": statistics.mean(med(c[5] for c in p) for p in per),
            }
        return {**meta, "mode": mode, "k": self.k - 1, "tcp_rtt_us": 1e6 * rtt, "host_busy_cores": busy,
                "summary": summary, "ranks": res, "time_utc": time.strftime("%H:%M:%S", time.gmtime())}  # fmt: skip

    def close(self) -> None:
        self.spin(False)
        part = self.ctrl / f"cmd{self.k}.json.partial"
        part.write_text(json.dumps({"kind": "exit"}))
        part.replace(self.ctrl / f"cmd{self.k}.json")
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.cluster.close()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    p = argparse.ArgumentParser()
    p.add_argument("--variants", default="base,spin,noqdisc,pin,spinpin,base")
    p.add_argument("--modes", default="deadline,barrier")
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--gap", type=float, default=0.03)
    p.add_argument("--perf", action="store_true", help="perf record -a -g over 4 s of 8 KiB calls at 4 ranks")
    p.add_argument("--nodes", type=int, default=4)
    p.add_argument(
        "--conc-reps",
        type=int,
        default=0,
        help="(d): this many interleaved pairs of 4 x 4 MiB all-reduces, serial vs issued at once",
    )
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    d = Driver(a.out, a.nodes)
    try:
        with (a.out / "points.jsonl").open("a") as log:
            for rep, variant in enumerate(a.variants.split(",")):
                d.variant(variant)
                for mode in a.modes.split(","):
                    row = d.point({"variant": variant, "order": rep, "nodes": a.nodes}, mode, a.calls, a.gap)
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    cells = " ".join(
                        f"{key}: {v['last_in_to_last_out_ms']:.2f}/{v['slowest_own_ms']:.2f}ms "
                        f"cpu {v['thread_cpu_ms']:.2f}/{v['proc_cpu_ms']:.2f} csw {v['vol_csw']:g}/{v['invol_csw']:g}"
                        for key, v in row["summary"].items()
                    )
                    print(f"{row['time_utc']} {variant} {mode} rtt {row['tcp_rtt_us']:.0f}us busy "
                          f"{row['host_busy_cores']:.2f} | {cells}", flush=True)  # fmt: skip
            if a.conc_reps:
                d.variant("base")
                res = d.send({"kind": "conc", "reps": a.conc_reps})
                per = {"serial": [], "async": []}
                for i in range(2 * a.conc_reps):
                    kind = res[0]["conc"][i][0]
                    per[kind].append(max(r["conc"][i][2] for r in res) - max(r["conc"][i][1] for r in res))
                wire = 2 * (a.nodes - 1) / a.nodes * CONC_BYTES * CONC_COUNT / (125e6 * 1448 / 1514)
                row = {"kind": "conc", "nodes": a.nodes, "bytes": CONC_BYTES, "count": CONC_COUNT, "times_s": per,
                       "wire_s": wire, "ranks": res}  # fmt: skip
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(f"conc {a.nodes} ranks {CONC_COUNT} x {CONC_BYTES >> 20} MiB (last entry -> last exit, ms): "
                      + "; ".join(f"{k} median {1e3 * statistics.median(v):.1f} {[round(1e3 * x, 1) for x in v]}"
                                  for k, v in per.items()) + f"; wire {1e3 * wire:.1f}", flush=True)  # fmt: skip
            if a.perf:
                d.variant("base")
                nodes = d.n
                for size, count, record in ((8192, 500, True), (65536, 500, False), (4, 500, False)):
                    k = d.k
                    part = d.ctrl / f"cmd{k}.json.partial"
                    part.write_text(json.dumps({"kind": "loop", "group": nodes, "size": size, "count": count}))
                    part.replace(d.ctrl / f"cmd{k}.json")
                    time.sleep(0.5)
                    stat = subprocess.run(
                        ["perf", "stat", "-a", "-x,", "-e", "syscalls:sys_enter_epoll_wait,sched:sched_switch,"
                         "sched:sched_wakeup,syscalls:sys_enter_futex", "--", "sleep", "1"],
                        capture_output=True, text=True, check=False).stderr  # fmt: skip
                    if record:
                        data = str(a.out / "perf.data")
                        sh("perf", "record", "-a", "-g", "-F", "999", "-o", data, "--", "sleep", "1.5")
                    deadline = time.time() + 120
                    for r in range(nodes):
                        while not (d.ctrl / f"res{k}_{r}.json").exists() and time.time() < deadline:
                            time.sleep(0.05)
                    loops = [json.loads((d.ctrl / f"res{k}_{r}.json").read_text()).get("loop_s") for r in range(nodes)]
                    d.k += 1
                    row = {"kind": "loop", "size": size, "count": count, "loop_s": loops, "perf_stat_1s": stat}
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                    print(
                        f"loop {size} B x {count} at {nodes} ranks (barrier each): {loops[0]:.2f} s "
                        f"({1e3 * loops[0] / count:.2f} ms a call); perf stat over 1 s: "
                        + "; ".join(",".join(x.split(",")[:3:2]) for x in stat.strip().splitlines()),
                        flush=True,
                    )
    finally:
        d.close()


if __name__ == "__main__":
    main()
