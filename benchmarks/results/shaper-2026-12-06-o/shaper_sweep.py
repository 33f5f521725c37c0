"""Which shaper lets the emulated link price small messages too: tbf (72 KiB bucket) against htb (tiny bucket)
(diagnostic; root; issue 10, stop 42).

Stop 41 set tbf's bucket to max(72 KiB, 0.25 ms x rate) (``runtime.testbed.emulated.burst_bytes``) because tbf
segments in software every GSO skb longer than its bucket (``tbf_enqueue`` -> ``tbf_segment``,
net/sched/sch_tbf.c). The calibration's latency sizes (8 and 64 KiB) then ride inside one bucket and leave at veth
speed. htb (net/sched/sch_htb.c) never segments: ``htb_dequeue_tree`` sends the head skb whole whenever the class's
tokens are >= 0 and charges its full length (``htb_charge_class``: tokens may go negative down to -skb); its bucket
(``burst``/``cburst``) only caps what idle time banks. So with a bucket of one MTU an idle link still lets ONE skb
out at once (up to TCP's 64 KB GSO skb), and every later skb waits for the debt of the one before: a k-skb message
is paced like the wire except its last skb. This kernel has neither netem nor fq (CONFIG_NET_SCH_NETEM/FQ unset),
so no per-skb serialisation delay is available.

On ONE emulated cluster of 4 nodes (one rank a node, long-lived gloo workers), each node's two qdiscs (its eth0 and
its bridge port) are replaced in place per point with the variant's shaper at the point's rate:
- ``tbf72k``: ``tbf rate R burst burst_bytes(R) latency 100ms`` (the testbed as landed);
- ``htb<B>``: ``htb default 1`` + class ``1:1 htb rate R burst B cburst B quantum 65536``, B in bytes.

Per (variant, rate, repeat): ``dist.all_reduce`` (gloo's own algorithm, as ``algorithm: backend``) of 8 KiB and
64 KiB (``--small-calls`` calls each) and 12,595,200 B (DDP's bucket 1, ``--calls`` calls) over ranks 0-1 and
0-3, a barrier of the group before each call, one warm-up call of each size first. Each call's time is the slowest
rank's (the calibration's estimator); the point is their median. Every qdisc's ``tc -s`` counters (bytes, packets,
drops, overlimits) are taken around the point.

    DPSIM_NETNS_PREFIX=emu- PYTHONPATH=. python benchmarks/results/shaper-2026-12-06-o/shaper_sweep.py \\
        --variants tbf72k,htb1514 --rates 500,700,1000 --repeats 2 --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[3]
NODES = 4
SIZES = (8 * 1024, 64 * 1024, 12595200)


def worker(argv: list[str]) -> None:
    import torch
    import torch.distributed as dist

    ctrl = Path(argv[0])
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    groups = {2: dist.new_group([0, 1]), world: dist.group.WORLD}
    bufs = {s: torch.ones(s // 4) for s in SIZES}
    k = 0
    while True:
        cmd_path = ctrl / f"cmd{k}.json"
        while not cmd_path.exists():
            time.sleep(0.005)
        cmd = json.loads(cmd_path.read_text())
        if cmd["kind"] == "exit":
            break
        res: dict[str, Any] = {"rank": rank, "walls": {}}
        for n in cmd["groups"]:
            for size in SIZES:
                calls = cmd["calls"] if size >= 1 << 20 else cmd["small_calls"]
                dist.barrier()
                walls = []
                if rank < n:
                    dist.all_reduce(bufs[size], group=groups[n])  # warm-up
                    for _ in range(calls):
                        dist.barrier(group=groups[n])
                        a = time.perf_counter()
                        dist.all_reduce(bufs[size], group=groups[n])
                        walls.append(time.perf_counter() - a)
                res["walls"][f"{n}:{size}"] = walls
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


class Driver:
    def __init__(self, out: Path) -> None:
        sys.path.insert(0, str(ROOT))
        from runtime.testbed.emulated import EmulatedCluster, burst_bytes

        self.burst_bytes = burst_bytes
        self.cluster = EmulatedCluster(nodes=NODES, per_node=1, rate=125e6, drop_root=False)
        self.bridge = self.cluster.namespaces[0]
        self.nodes = [self.cluster.node_namespace(i) for i in range(NODES)]
        self.ctrl = out / "ctrl"
        self.ctrl.mkdir(parents=True, exist_ok=True)
        for f in self.ctrl.iterdir():
            f.unlink()
        self.k = 0
        env = {**os.environ, "PYTHONPATH": str(ROOT), "MASTER_ADDR": "198.18.0.1", "MASTER_PORT": "29521",
               "WORLD_SIZE": str(NODES), "LOCAL_WORLD_SIZE": "1", "GLOO_SOCKET_IFNAME": "eth0",
               "OMP_NUM_THREADS": "1"}  # fmt: skip
        cmd = [sys.executable, str(HERE), "--worker", str(self.ctrl)]
        self.procs = [
            subprocess.Popen([*self.cluster.prefix(r), *cmd], env={**env, "RANK": str(r), "LOCAL_RANK": "0"})
            for r in range(NODES)
        ]

    def devs(self) -> list[tuple[str, str]]:
        return [(ns, "eth0") for ns in self.nodes] + [(self.bridge, f"v{i}") for i in range(NODES)]

    def set_shaper(self, variant: str, mbit: float) -> dict[str, Any]:
        bits = f"{round(mbit * 1e6)}bit"
        for ns, dev in self.devs():
            sh("tc", "-n", ns, "qdisc", "del", "dev", dev, "root", check=False)
            if variant == "tbf72k":
                burst = self.burst_bytes(mbit * 1e6 / 8)
                sh("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", bits, "burst", f"{burst}b",
                   "latency", "100ms")  # fmt: skip
            elif variant.startswith("htb"):
                burst = int(variant[3:])
                sh("tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "1")
                sh("tc", "-n", ns, "class", "add", "dev", dev, "parent", "1:", "classid", "1:1", "htb", "rate", bits,
                   "burst", f"{burst}b", "cburst", f"{burst}b", "quantum", "65536")  # fmt: skip
            else:
                raise ValueError(f"unknown variant {variant}")
        return {"variant": variant, "mbit": mbit, "burst_bytes": burst}

    def counters(self) -> dict[str, Any]:
        got: dict[str, Any] = {}
        for ns in [*self.nodes, self.bridge]:
            for q in json.loads(sh("tc", "-n", ns, "-s", "-j", "qdisc", "show") or "[]"):
                if q.get("kind") in ("tbf", "htb"):
                    got[f"{ns[-3:]}:{q['dev']}"] = {k: int(q.get(k, 0)) for k in ("bytes", "packets", "drops",
                                                                                 "overlimits", "requeues")}  # fmt: skip
        return got

    def point(self, meta: dict[str, Any], calls: int, small_calls: int) -> dict[str, Any]:
        k = self.k
        c0 = self.counters()
        part = self.ctrl / f"cmd{k}.json.partial"
        part.write_text(json.dumps({"kind": "run", "groups": [2, NODES], "calls": calls, "small_calls": small_calls}))
        part.replace(self.ctrl / f"cmd{k}.json")
        res = []
        deadline = time.time() + 300
        for r in range(NODES):
            p = self.ctrl / f"res{k}_{r}.json"
            while not p.exists():
                if time.time() > deadline or any(pr.poll() is not None for pr in self.procs):
                    raise RuntimeError(f"point {k}: no result from rank {r}")
                time.sleep(0.01)
            res.append(json.loads(p.read_text()))
        c1 = self.counters()
        self.k += 1
        slowest = {}
        for key in res[0]["walls"]:
            n = int(key.split(":")[0])
            per_call = [max(r["walls"][key][i] for r in res[:n]) for i in range(len(res[0]["walls"][key]))]
            slowest[key] = statistics.median(per_call)
        qd = {d: {x: c1[d][x] - c0.get(d, {}).get(x, 0) for x in c1[d]} for d in c1}
        return {**meta, "k": k, "median_slowest_s": slowest, "ranks": res, "qdisc": qd,
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


def link_time(n: int, size: int, mbit: float) -> float:
    """gloo's ring all-reduce on the wire alone: 2(n-1)/n x size / (rate x 1448/1514)."""
    return 2 * (n - 1) / n * size / (mbit * 1e6 / 8 * 1448 / 1514)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2:])
        return
    p = argparse.ArgumentParser()
    p.add_argument("--variants", default="tbf72k,htb1514")
    p.add_argument("--rates", default="500,700,1000")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--calls", type=int, default=4)
    p.add_argument("--small-calls", type=int, default=30)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    rates = [float(x) for x in a.rates.split(",")]
    variants = a.variants.split(",")
    a.out.mkdir(parents=True, exist_ok=True)
    d = Driver(a.out)
    try:
        with (a.out / "points.jsonl").open("a") as log:
            for rep in range(a.repeats):
                for mbit in rates if rep % 2 == 0 else rates[::-1]:
                    for variant in variants if rep % 2 == 0 else variants[::-1]:
                        meta = {**d.set_shaper(variant, mbit), "repeat": rep}
                        row = d.point(meta, a.calls, a.small_calls)
                        log.write(json.dumps(row) + "\n")
                        log.flush()
                        drops = sum(v["drops"] for v in row["qdisc"].values())
                        cells = " ".join(
                            f"{key}={1e3 * v:.3f}ms"
                            + (f"(link {1e3 * link_time(int(key[0]), int(key[2:]), mbit):.3f})")
                            for key, v in row["median_slowest_s"].items()
                        )
                        print(f"{row['time_utc']} {variant} {mbit:g} r{rep} drops={drops} {cells}", flush=True)
    finally:
        d.close()


if __name__ == "__main__":
    main()
