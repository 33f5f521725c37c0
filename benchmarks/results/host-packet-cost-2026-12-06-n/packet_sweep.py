"""Where the emulated testbed's host time per byte goes, against the link rate (diagnostic; root; issue 10, stop 41).

Stop 40's grid (``../gloo-allreduce-grid-2026-12-06-m``) found gloo's all-reduce host-bound with core-time per byte
non-monotone in the rate (8 ranks, 12,595,200 B: 13.96 / 15.07 / 16.65 / 13.33 / 11.21 / 8.83 / 8.17 ns at 500 /
600 / 700 / 750 / 800 / 1000 / 1100 Mbit/s). This sweep records, per point, the kernel's packet path counters that
could explain it, on ONE emulated cluster of 4 nodes (one rank a node) whose tbf rate is changed in place
(``tc qdisc change``) between points, so every rate sees the same namespaces, sockets and processes.

Points at each (variant, rate, repeat), each rank a long-lived worker in its node's namespace:
- ``bulk1``: one TCP stream node 0 -> node 1 of 4 x 12,595,200 B (plain Python sockets: no gloo);
- ``ring4``: four TCP streams at once, node r -> node r+1 (mod 4), 4 x 12,595,200 B each (gloo's ring traffic
  pattern without gloo);
- ``gloo2`` / ``gloo4``: ``dist.all_reduce`` of 12,595,200 B (DDP's bucket 1) over ranks 0-1 / 0-3 (1 warm-up
  call outside the counters, then ``--calls`` calls, a barrier of the group before each).

Counters over exactly the measured interval (rank 0 enables / disables ``perf stat -a`` through its control FIFO and
reads the host files at the same moments): ``/proc/stat`` (user, nice, system, idle, iowait, irq, softirq, steal;
ctxt), ``/proc/softirqs`` (per type, both CPUs summed), ``/proc/net/softnet_stat`` (processed, dropped,
time_squeeze), ``/proc/interrupts`` (LOC, RES, CAL), cpuidle usage per state; perf tracepoints (napi_poll,
napi_poll with work > 1, netif_rx, netif_receive_skb, net_dev_xmit, qdisc_dequeue, softirq_entry,
hrtimer_expire_entry, sched_switch, cpu_idle, tcp_retransmit_skb); per node ``/proc/net/snmp`` OutSegs /
RetransSegs. Around it (the driver, no traffic before or after): every tbf's ``tc -s`` (bytes, packets = GSO
segments, overlimits, requeues, drops) and every veth's ``ip -s link`` (veth counts one per skb: skb sizes after
tbf's segmentation).

Variants (``--variants``): ``base``; ``gso1`` (``ip link set eth0 gso_max_segs 1`` on every node: TCP sends one MSS
per skb, tbf never segments; run last: the sockets keep it after it is undone); ``burst<N>k`` (tbf burst N KiB
instead of ``burst_bytes(rate)``); ``rps`` (RPS on every veth, mask 3); ``gro`` (GRO on every veth through the
ethtool ioctl); ``budget`` (``net.core.dev_weight`` 16 instead of 64).

    DPSIM_NETNS_PREFIX=emu- PYTHONPATH=. python benchmarks/results/host-packet-cost-2026-12-06-n/packet_sweep.py \\
        --rates 300,400,...,1300 --repeats 3 --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[3]
SIZE = 12595200
NODES = 4
BULK_PORT = 29700
PERF_EVENTS = [
    "napi:napi_poll",
    "napi:napi_poll",  # second copy carries --filter 'work > 1'
    "net:netif_rx",
    "net:netif_receive_skb",
    "net:net_dev_xmit",
    "qdisc:qdisc_dequeue",
    "irq:softirq_entry",
    "timer:hrtimer_expire_entry",
    "sched:sched_switch",
    "power:cpu_idle",
    "tcp:tcp_retransmit_skb",
]


# ---------------------------------------------------------------- host counters (read by rank 0)
def host_counters() -> dict[str, Any]:
    out: dict[str, Any] = {"t": time.perf_counter()}
    with open("/proc/stat", encoding="ascii") as fh:
        for line in fh:
            f = line.split()
            if f[0] == "cpu":
                out["cpu"] = [int(x) for x in f[1:9]]
            elif f[0] == "ctxt":
                out["ctxt"] = int(f[1])
    with open("/proc/softirqs", encoding="ascii") as fh:
        next(fh)
        out["softirqs"] = {ln.split()[0].rstrip(":"): sum(int(x) for x in ln.split()[1:]) for ln in fh}
    cols = [0, 0, 0]
    with open("/proc/net/softnet_stat", encoding="ascii") as fh:
        for ln in fh:
            v = [int(x, 16) for x in ln.split()]
            cols = [a + b for a, b in zip(cols, v[:3], strict=True)]
    out["softnet"] = cols
    irq: dict[str, int] = {}
    with open("/proc/interrupts", encoding="ascii") as fh:
        ncpu = len(next(fh).split())
        for ln in fh:
            f = ln.split()
            if f and f[0].rstrip(":") in ("LOC", "RES", "CAL", "TLB"):
                irq[f[0].rstrip(":")] = sum(int(x) for x in f[1 : 1 + ncpu])
    out["irq"] = irq
    idle: dict[str, int] = {}
    for cpu in Path("/sys/devices/system/cpu").glob("cpu[0-9]*"):
        for st in sorted(cpu.glob("cpuidle/state*")):
            name = (st / "name").read_text().strip()
            idle[name] = idle.get(name, 0) + int((st / "usage").read_text())
            idle[name + "_us"] = idle.get(name + "_us", 0) + int((st / "time").read_text())
    out["cpuidle"] = idle
    return out


TCPEXT = (
    "TCPOFOQueue",
    "TCPSACKReorder",
    "TCPTSReorder",
    "TCPRenoReorder",
    "TCPDSACKRecv",
    "TCPDSACKOldSent",
    "TCPDSACKOfoSent",
    "TCPLossProbes",
    "TCPTimeouts",
    "TCPFastRetrans",
    "TCPLostRetransmit",
    "TCPSpuriousRTOs",
    "TCPSpuriousRtxHostQueues",
    "TCPBacklogCoalesce",
    "TCPAutoCorking",
    "TCPDelivered",
    "TCPRcvCoalesce",
    "TCPSACKReneging",
    "TCPLossProbeRecovery",
    "TCPRACKReorder",
    "DelayedACKs",
    "TCPWinProbe",
)


def ns_tcp() -> dict[str, int]:
    with open("/proc/self/net/snmp", encoding="ascii") as fh:
        lines = [ln.split() for ln in fh]
    got: dict[str, int] = {}
    for head, row in zip(lines[::2], lines[1::2], strict=False):
        if head[0] == "Tcp:":
            d = dict(zip(head[1:], row[1:], strict=True))
            got.update({"out_segs": int(d["OutSegs"]), "in_segs": int(d["InSegs"]), "retrans": int(d["RetransSegs"])})
    with open("/proc/self/net/netstat", encoding="ascii") as fh:
        lines = [ln.split() for ln in fh]
    for head, row in zip(lines[::2], lines[1::2], strict=False):
        if head[0] == "TcpExt:":
            d = dict(zip(head[1:], row[1:], strict=True))
            got.update({k: int(d[k]) for k in TCPEXT if k in d})
    return got


def delta(a: Any, b: Any) -> Any:
    if isinstance(a, dict):
        return {k: delta(a[k], b[k]) for k in a if k in b}
    if isinstance(a, list):
        return [y - x for x, y in zip(a, b, strict=True)]
    return b - a


# ---------------------------------------------------------------- the rank worker
def _recv_exact(c: socket.socket, n: int, buf: memoryview) -> None:
    while n > 0:
        got = c.recv_into(buf, min(n, len(buf)))
        if got == 0:
            raise ConnectionError("closed")
        n -= got


def _bulk_server(ls: socket.socket) -> None:
    while True:
        c, _ = ls.accept()

        def serve(c: socket.socket = c) -> None:
            head = memoryview(bytearray(8))
            try:
                while True:
                    _recv_exact(c, 8, head)
                    (n,) = struct.unpack("!Q", head)
                    _recv_exact(c, n, memoryview(bytearray(1 << 20)))
                    c.sendall(b"k")
            except (ConnectionError, OSError):
                return

        threading.Thread(target=serve, daemon=True).start()


def worker(argv: list[str]) -> None:
    import torch
    import torch.distributed as dist

    ctrl = Path(argv[0])
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    me = f"198.18.0.{rank + 1}"
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((me, BULK_PORT))
    ls.listen(8)
    threading.Thread(target=_bulk_server, args=(ls,), daemon=True).start()
    dist.barrier()
    peer = socket.create_connection((f"198.18.0.{(rank + 1) % world + 1}", BULK_PORT))
    payload = bytes(4 * SIZE)
    groups = {2: dist.new_group([0, 1]), world: dist.group.WORLD}
    buf = torch.ones(SIZE // 4)
    k = 0
    while True:
        cmd_path = ctrl / f"cmd{k}.json"
        while not cmd_path.exists():
            time.sleep(0.005)
        cmd = json.loads(cmd_path.read_text())
        if cmd["kind"] == "exit":
            break
        kind = cmd["kind"]
        n = 2 if kind in ("gloo2", "bulk1") else world
        member = rank < n
        dist.barrier()
        if kind.startswith("gloo") and member:
            dist.all_reduce(buf, group=groups[n])  # warm-up, outside the counters
        dist.barrier()
        fifo_ctl = fifo_ack = None
        if rank == 0 and cmd.get("perf"):
            fifo_ctl = open(ctrl / "perf.ctl", "w")  # noqa: SIM115
            fifo_ack = open(ctrl / "perf.ack")  # noqa: SIM115
            fifo_ctl.write("enable\n")
            fifo_ctl.flush()
            fifo_ack.readline()
        h0 = host_counters() if rank == 0 else None
        s0 = ns_tcp()
        c0 = time.process_time()
        dist.barrier()
        walls: list[float] = []
        t0 = time.perf_counter()
        if kind.startswith("gloo") and member:
            for _ in range(cmd["calls"]):
                dist.barrier(group=groups[n])
                a = time.perf_counter()
                dist.all_reduce(buf, group=groups[n])
                walls.append(time.perf_counter() - a)
        elif (kind == "bulk1" and rank == 0) or kind == "ring4":
            peer.sendall(struct.pack("!Q", len(payload)))
            peer.sendall(payload)
            peer.recv(1)
            walls.append(time.perf_counter() - t0)
        t1 = time.perf_counter()
        dist.barrier()
        c1 = time.process_time()
        s1 = ns_tcp()
        h1 = host_counters() if rank == 0 else None
        if fifo_ctl is not None and fifo_ack is not None:
            fifo_ctl.write("disable\n")
            fifo_ctl.flush()
            fifo_ack.readline()
            fifo_ctl.close()
            fifo_ack.close()
        res: dict[str, Any] = {"rank": rank, "walls": walls, "work_s": t1 - t0, "cpu_s": c1 - c0,
                               "tcp": delta(s0, s1)}  # fmt: skip
        if h0 is not None and h1 is not None:
            res["host"] = delta(h0, h1)
        part = ctrl / f"res{k}_{rank}.json.partial"
        part.write_text(json.dumps(res))
        part.replace(ctrl / f"res{k}_{rank}.json")
        k += 1
    dist.destroy_process_group()


# ---------------------------------------------------------------- the driver (root, outside the namespaces)
def sh(*a: str, check: bool = True) -> str:
    out = subprocess.run(a, capture_output=True, text=True, check=False)
    if check and out.returncode != 0:
        raise RuntimeError(f"{' '.join(a)[:200]}: rc {out.returncode}: {out.stderr.strip()[-500:]}")
    return out.stdout


def ethtool_set(ns: str, dev: str, cmd: int, value: int) -> None:
    """ETHTOOL_S* ioctl (ethtool(8) is not installed) inside namespace ``ns``."""
    code = (
        "import fcntl,socket,struct,ctypes,sys\n"
        f"v=ctypes.create_string_buffer(struct.pack('II',{cmd},{value}))\n"
        f"ifr=struct.pack('16sP',{dev!r}.encode(),ctypes.addressof(v))\n"
        "fcntl.ioctl(socket.socket(),0x8946,ifr)\n"
    )
    sh("ip", "netns", "exec", ns, sys.executable, "-c", code)


def ethtool_get(ns: str, dev: str, cmd: int) -> int:
    code = (
        "import fcntl,socket,struct,ctypes\n"
        f"v=ctypes.create_string_buffer(struct.pack('II',{cmd},0))\n"
        f"ifr=struct.pack('16sP',{dev!r}.encode(),ctypes.addressof(v))\n"
        "fcntl.ioctl(socket.socket(),0x8946,ifr)\n"
        "print(struct.unpack('II',v.raw[:8])[1])\n"
    )
    return int(sh("ip", "netns", "exec", ns, sys.executable, "-c", code).strip())


ETHTOOL_GGRO, ETHTOOL_SGRO, ETHTOOL_GTSO, ETHTOOL_GGSO = 0x2B, 0x2C, 0x1E, 0x23


class Driver:
    def __init__(self, out: Path) -> None:
        sys.path.insert(0, str(ROOT))
        from runtime.testbed.emulated import EmulatedCluster, burst_bytes

        self.burst_bytes = burst_bytes
        self.out = out
        self.cluster = EmulatedCluster(nodes=NODES, per_node=1, rate=125e6, drop_root=False)
        self.bridge = self.cluster.namespaces[0]
        self.nodes = [self.cluster.node_namespace(i) for i in range(NODES)]
        self.ctrl = out / "ctrl"
        self.ctrl.mkdir(parents=True, exist_ok=True)
        for f in self.ctrl.iterdir():
            f.unlink()
        os.mkfifo(self.ctrl / "perf.ctl")
        os.mkfifo(self.ctrl / "perf.ack")
        self.k = 0
        self.rate = 0.0
        self.burst = 0
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MASTER_ADDR": "198.18.0.1", "MASTER_PORT": "29511",
               "WORLD_SIZE": str(NODES), "LOCAL_WORLD_SIZE": "1", "GLOO_SOCKET_IFNAME": "eth0",
               "OMP_NUM_THREADS": "1"}  # fmt: skip
        worker = [sys.executable, str(HERE), "--worker", str(self.ctrl)]
        self.procs = [
            subprocess.Popen([*self.cluster.prefix(r), *worker], env={**env, "RANK": str(r), "LOCAL_RANK": "0"})
            for r in range(NODES)
        ]
        self.info = {"cluster": self.cluster.info, "bridge": self.bridge, "nodes": self.nodes,
                     "gro_default": {d: ethtool_get(ns, d, ETHTOOL_GGRO) for ns, d in self.devs()},
                     "tso_default": {d: ethtool_get(ns, d, ETHTOOL_GTSO) for ns, d in self.devs()},
                     "gso_default": {d: ethtool_get(ns, d, ETHTOOL_GGSO) for ns, d in self.devs()}}  # fmt: skip

    def devs(self) -> list[tuple[str, str]]:
        return [(ns, "eth0") for ns in self.nodes] + [(self.bridge, f"v{i}") for i in range(NODES)]

    def set_rate(self, mbit: float, burst: int | None = None) -> None:
        rate = mbit * 1e6 / 8
        self.rate = rate
        self.burst = burst or self.burst_bytes(rate)
        for ns, dev in self.devs():
            sh("tc", "-n", ns, "qdisc", "change", "dev", dev, "root", "tbf", "rate", f"{round(rate * 8)}bit",
               "burst", f"{self.burst}b", "latency", "100ms")  # fmt: skip

    def link_counters(self) -> dict[str, Any]:
        got: dict[str, Any] = {}
        for ns in [*self.nodes, self.bridge]:
            for q in json.loads(sh("tc", "-n", ns, "-s", "-j", "qdisc", "show") or "[]"):
                if q.get("kind") == "tbf":
                    got[f"{ns[-3:]}:{q['dev']}:tbf"] = {k: int(q[k]) for k in ("bytes", "packets", "drops",
                                                                              "overlimits", "requeues")}  # fmt: skip
            for ln in json.loads(sh("ip", "-n", ns, "-s", "-j", "link", "show") or "[]"):
                if ln["ifname"] in ("eth0",) or ln["ifname"].startswith("v"):
                    s = ln["stats64"]
                    got[f"{ns[-3:]}:{ln['ifname']}:link"] = {
                        "tx_packets": s["tx"]["packets"], "tx_bytes": s["tx"]["bytes"],
                        "rx_packets": s["rx"]["packets"], "rx_bytes": s["rx"]["bytes"],
                        "tx_dropped": s["tx"]["dropped"], "rx_dropped": s["rx"]["dropped"]}  # fmt: skip
        return got

    def point(self, kind: str, calls: int, meta: dict[str, Any], perf_record: bool = False) -> dict[str, Any]:
        k = self.k
        perf_out = self.ctrl / f"perf{k}.txt"
        if perf_record:
            prof = self.out / "profiles" / f"{meta['variant']}-{kind}-{meta['mbit']:g}-r{meta['repeat']}.data"
            prof.parent.mkdir(exist_ok=True)
            perf_cmd = [
                "perf",
                "record",
                "-a",
                "-g",
                "-F",
                "997",
                "-o",
                str(prof),
                "-D",
                "-1",
                "--control",
                f"fifo:{self.ctrl / 'perf.ctl'},{self.ctrl / 'perf.ack'}",
            ]
        else:
            perf_cmd = [
                "perf",
                "stat",
                "-a",
                "-x",
                ",",
                "-o",
                str(perf_out),
                "-D",
                "-1",
                "--control",
                f"fifo:{self.ctrl / 'perf.ctl'},{self.ctrl / 'perf.ack'}",
            ]
            for i, ev in enumerate(PERF_EVENTS):
                perf_cmd += ["-e", ev] + (["--filter", "work > 1"] if i == 1 else [])
        perf = subprocess.Popen(perf_cmd, stdout=subprocess.DEVNULL, stderr=(self.out / "perf.err").open("a"))
        time.sleep(0.4)
        l0 = self.link_counters()
        part = self.ctrl / f"cmd{k}.json.partial"
        part.write_text(json.dumps({"kind": kind, "calls": calls, "perf": True}))
        part.replace(self.ctrl / f"cmd{k}.json")  # atomic: a rank never reads half a command
        res = []
        deadline = time.time() + 300
        for r in range(NODES):
            p = self.ctrl / f"res{k}_{r}.json"
            while not p.exists():
                if time.time() > deadline or any(pr.poll() is not None for pr in self.procs):
                    raise RuntimeError(f"point {k} {kind}: no result from rank {r}")
                time.sleep(0.01)
            res.append(json.loads(p.read_text()))
        l1 = self.link_counters()
        perf.send_signal(2)
        perf.wait(timeout=60)
        perfc: dict[str, float] = {}
        if not perf_record and perf_out.exists():
            seen: dict[str, int] = {}
            for ln in perf_out.read_text().splitlines():
                f = ln.split(",")
                if len(f) > 3 and ":" in f[2]:
                    name = f[2] + ("#work>1" if seen.get(f[2]) else "")
                    seen[f[2]] = 1
                    try:
                        perfc[name] = float(f[0])
                    except ValueError:
                        perfc[name] = -1
        self.k += 1
        return {**meta, "kind": kind, "calls": calls, "k": k, "rate_bytes_s": self.rate, "burst_bytes": self.burst,
                "ranks": res, "links": delta(l0, l1), "perf": perfc, "perf_record": perf_record,
                "time_utc": time.strftime("%H:%M:%S", time.gmtime())}  # fmt: skip

    def close(self) -> None:
        part = self.ctrl / f"cmd{self.k}.json.partial"
        part.write_text(json.dumps({"kind": "exit"}))
        part.replace(self.ctrl / f"cmd{self.k}.json")
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        self.cluster.close()


def apply_variant(d: Driver, variant: str, on: bool) -> None:
    if variant == "gso1":
        for ns in d.nodes:
            sh("ip", "-n", ns, "link", "set", "dev", "eth0", "gso_max_segs", "1" if on else "65535")
    elif variant == "gro":
        for ns, dev in d.devs():
            ethtool_set(ns, dev, ETHTOOL_SGRO, 1 if on else d.info["gro_default"][dev])
    elif variant == "rps":  # RPS on every veth: a flow's packets always go to one CPU's backlog (by flow hash)
        for ns, dev in d.devs():
            path = f"/sys/class/net/{dev}/queues/rx-0/rps_cpus"
            sh("ip", "netns", "exec", ns, "sh", "-c", f"echo {3 if on else 0} > {path}")
    elif variant == "budget":
        sh("sysctl", "-w", f"net.core.dev_weight={16 if on else 64}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    p = argparse.ArgumentParser()
    p.add_argument("--rates", default="300,400,500,600,650,700,750,800,900,1000,1100,1200,1300")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--first-repeat", type=int, default=0)
    p.add_argument("--variants", default="base")
    p.add_argument("--kinds", default="bulk1,ring4,gloo2,gloo4")
    p.add_argument("--calls", type=int, default=4)
    p.add_argument("--profile-rates", default="", help="rates at which a perf record of ring4/gloo4 is taken too")
    p.add_argument("--end", default="", help="HH:MM UTC: start no repeat that would end past it")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    rates = [float(x) for x in a.rates.split(",")]
    prof_rates = {float(x) for x in a.profile_rates.split(",") if x}
    a.out.mkdir(parents=True, exist_ok=True)
    d = Driver(a.out)
    log = (a.out / "points.jsonl").open("a")
    with (a.out / "cluster_info.jsonl").open("a") as fh:
        now = time.strftime("%H:%M:%S", time.gmtime())
        fh.write(json.dumps({**d.info, "argv": sys.argv[1:], "time_utc": now}) + "\n")
    try:
        # gso1 last: sockets keep gso_max_segs 1 after it is undone (seen at 08:23 in window A: every later
        # variant of that invocation sent one MSS per skb)
        for variant in sorted(a.variants.split(","), key=lambda v: v == "gso1"):
            apply_variant(d, variant, True)
            last = 0.0
            for rep in range(a.first_repeat, a.first_repeat + a.repeats):
                t0 = time.time()
                if a.end:
                    hh, mm = (int(x) for x in a.end.split(":"))
                    end = time.mktime((*time.gmtime()[:3], hh, mm, 0, 0, 0, 0)) - time.timezone
                    if t0 + last * 1.1 > end:
                        print(f"skip {variant} repeat {rep}: would end past {a.end}", flush=True)
                        break
                order = rates if rep % 2 == 0 else rates[::-1]
                for mbit in order:
                    d.set_rate(mbit, int(variant[5:-1]) * 1024 if variant.startswith("burst") else None)
                    for kind in a.kinds.split(","):
                        meta = {"variant": variant, "mbit": mbit, "repeat": rep}
                        row = d.point(kind, a.calls if kind.startswith("gloo") else 1, meta)
                        log.write(json.dumps(row) + "\n")
                        log.flush()
                        w = [x for r in row["ranks"] for x in r["walls"]]
                        print(f"{row['time_utc']} {variant} {mbit:g} r{rep} {kind}: {1e3 * sum(w) / max(1, len(w)):.1f}"
                              f" ms", flush=True)  # fmt: skip
                    if mbit in prof_rates and rep == a.first_repeat:
                        for kind in ("ring4", "gloo4"):
                            row = d.point(
                                kind,
                                a.calls if kind.startswith("gloo") else 1,
                                {"variant": variant, "mbit": mbit, "repeat": rep},
                                perf_record=True,
                            )
                            log.write(json.dumps(row) + "\n")
                            log.flush()
                last = time.time() - t0
            apply_variant(d, variant, False)
    finally:
        d.close()


if __name__ == "__main__":
    main()
