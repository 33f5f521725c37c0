"""Gloo's all-reduce price on a grid of rank counts and link rates, with what explains each point (diagnostic; root).

Independent truth for the all-reduce's price beyond the calibrated rank counts and rates (issue 10, stop 40). One
emulated cluster per (rate, repeat): ``max(ranks) / per_node`` nodes, ``per_node`` ranks a node, shaped at the rate.
One launch of this file's worker runs every rank count ``n`` as a gloo group of ranks ``0..n-1`` (``new_group``: its
own gloo context, its own TCP pairs, a ring over nodes ``0..n/per_node-1``, as a cluster of that size would), the
other ranks waiting in the next barrier. Sizes: DDP's two buckets of the plain-DDP harness's model (MLP 4×1024, 25 MiB
cap: 4,198,400 and 12,595,200 B, as ``../gloo-concurrency-2026-12-06-l`` logged them), each all-reduced ALONE
(``dist.all_reduce``, waited), after a barrier of every rank. Step by step (1 warm-up + ``--steps`` measured), the
order of the (n, bucket) points rotates.

Per call and rank: wall time from the barrier's exit to the call's return; the rank's process CPU time over the call
(``time.process_time``: every thread, gloo's included) ÷ wall = cores the rank used; the host's busy cores over the
call (``/proc/stat``, read by the group's rank 0: every process on the 2-core host); the rank's node's TCP counters
(``/proc/self/net/snmp``: RetransSegs, OutSegs; per network namespace, so read by a node's first rank only) and its
eth0 tbf qdisc's counters (``tc -s -j qdisc show dev eth0``: drops, overlimits, requeues), both as deltas between
the reads before consecutive calls (the call and its barrier). Estimator as the harness's: per step the mean over
ranks, median over steps; then over the repeats the median [min–max].

    DPSIM_NETNS_PREFIX=emu- PYTHONPATH=. python benchmarks/results/gloo-allreduce-grid-2026-12-06-m/gloo_grid.py \\
        [--ranks 2,3,4,5,6,8] [--rates 1000,750,500] [--per-node 1] [--repeats 3] [--steps 5] --out DIR

Writes ``DIR/runs.jsonl`` (one line per cluster). ``--table DIR`` prints the table from ``runs.jsonl`` (no root);
``--price PROFILE`` prints what dpsim prices for each point (``dpsim collective``'s all-reduce, both engines).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[3]
BUCKETS = (4198400, 12595200, 1048576)  # DDP's buckets for the harness's model (25 MiB cap; bucket 0 = the last
# layer), then a 1 MiB call (the held-out cases' smallest bucket cap), for the size dependence


def _host_jiffies() -> list[int]:
    """The whole host's /proc/stat ``cpu`` line: user, nice, system, idle, iowait, irq, softirq, steal (jiffies)."""
    with open("/proc/stat", encoding="ascii") as fh:
        return [int(x) for x in fh.readline().split()[1:9]]


def _host_split(h0: list[int], h1: list[int]) -> dict[str, float]:
    """Cores busy over an interval: in all, and user (+nice) / system / softirq (+irq) apart."""
    import os

    d = [b - a for a, b in zip(h0, h1, strict=True)]
    total = sum(d)
    if total <= 0:
        return {}
    cores = float(os.cpu_count() or 1) / total
    user, system, soft = d[0] + d[1], d[2], d[5] + d[6]
    busy = total - d[3] - d[4]
    return {"host_busy_cores": busy * cores, "host_user_cores": user * cores, "host_sys_cores": system * cores,
            "host_softirq_cores": soft * cores}  # fmt: skip


def _tcp_counters() -> dict[str, int]:
    """This network namespace's TCP and IP counters: RetransSegs, OutSegs; TCPAutoCorking; InOctets, OutOctets."""
    got: dict[str, int] = {}
    wanted_in = {"snmp": {"Tcp:": ("RetransSegs", "OutSegs")},
                 "netstat": {"TcpExt:": ("TCPAutoCorking",), "IpExt:": ("InOctets", "OutOctets")}}  # fmt: skip
    for name, wanted in wanted_in.items():
        with open(f"/proc/self/net/{name}", encoding="ascii") as fh:
            lines = [ln.split() for ln in fh]
        for head, row in zip(lines[::2], lines[1::2], strict=False):
            for key in wanted.get(head[0], ()):
                got[key] = int(dict(zip(head[1:], row[1:], strict=True))[key])
    return {"retrans": got["RetransSegs"], "out_segs": got["OutSegs"], "autocork": got.get("TCPAutoCorking", 0),
            "in_octets": got.get("InOctets", 0), "out_octets": got.get("OutOctets", 0)}  # fmt: skip


def _tbf_counters() -> dict[str, int]:
    """drops, overlimits, requeues of eth0's root qdisc (tbf) in this namespace; {} if tc cannot tell."""
    try:
        out = subprocess.run(["tc", "-s", "-j", "qdisc", "show", "dev", "eth0"], capture_output=True, text=True,
                             check=True, timeout=10).stdout  # fmt: skip
        q = next(x for x in json.loads(out) if x.get("kind") == "tbf")
        return {f"tbf_{k}": int(q[k]) for k in ("bytes", "packets", "drops", "overlimits", "requeues")}
    except (OSError, subprocess.SubprocessError, StopIteration, KeyError, ValueError):
        return {}


def worker(argv: list[str]) -> None:
    import os

    import torch
    import torch.distributed as dist

    p = argparse.ArgumentParser()
    p.add_argument("--worker", action="store_true")
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--groups", required=True)
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args(argv)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    per_node = int(os.environ["LOCAL_WORLD_SIZE"])
    first_of_node = rank % per_node == 0
    counts = [int(n) for n in args.groups.split(",")]
    groups = {n: (dist.group.WORLD if n == world else dist.new_group(list(range(n)))) for n in counts}
    threads = int(dist.group.WORLD._get_backend(torch.device("cpu")).options._threads)  # type: ignore[union-attr]
    buffers = [torch.ones(s // 4) for s in BUCKETS]
    points = [(n, b) for n in counts for b in range(len(BUCKETS))]
    clock = time.perf_counter
    rows: list[dict[str, Any]] = []
    last: dict[str, int] = {}
    last_point: dict[str, Any] | None = None

    def node_counters() -> dict[str, int]:
        return {**_tcp_counters(), **_tbf_counters()} if first_of_node else {}

    for step in range(1 + args.steps):
        k = step % len(points)
        for n, b in points[k:] + points[:k]:
            member = rank < n
            if member:
                now = node_counters()
                if last_point is not None:  # deltas since the read before this rank's previous call
                    last_point.update({f"d_{key}": v - last[key] for key, v in now.items() if key in last})
                last = now
            dist.barrier()
            if not member:
                continue
            h0 = _host_jiffies() if rank == 0 else []
            c0, t0 = time.process_time(), clock()
            dist.all_reduce(buffers[b], group=groups[n])
            t1, c1 = clock(), time.process_time()
            h1 = _host_jiffies() if rank == 0 else []
            row: dict[str, Any] = {"n": n, "bucket": b, "step": step, "rank": rank, "wall_s": t1 - t0,
                                   "cpu_cores": (c1 - c0) / (t1 - t0)}  # fmt: skip
            if rank == 0:
                row.update(_host_split(h0, h1))
            rows.append(row)
            last_point = row
    if last_point is not None:
        now = node_counters()
        last_point.update({f"d_{key}": v - last[key] for key, v in now.items() if key in last})
    out = {"rank": rank, "world_size": world, "per_node": per_node, "torch_version": str(torch.__version__),
           "gloo_threads": threads, "bucket_bytes": list(BUCKETS), "rows": rows}  # fmt: skip
    partial = args.run_dir / f"rank{rank}.json.partial"
    partial.write_text(json.dumps(out), encoding="utf-8")
    partial.replace(args.run_dir / f"rank{rank}.json")
    dist.destroy_process_group()


def summarise(ranks: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per point ``n<n>-b<bucket>``: wall (per measured step the mean over ranks, median over steps; ``_max`` the
    slowest rank), the ranks' CPU (cores a rank, mean; and summed over the ranks), the host's busy cores, and per
    step the sums over nodes of retransmits / segments / tbf drops / overlimits (median over steps; ``_sum`` total)."""
    by: dict[tuple[int, int], dict[int, list[dict[str, Any]]]] = {}
    for r in ranks:
        for row in r["rows"]:
            if row["step"] >= 1:
                by.setdefault((row["n"], row["bucket"]), {}).setdefault(row["step"], []).append(row)
    med = statistics.median
    out: dict[str, dict[str, float]] = {}
    for (n, b), steps in sorted(by.items()):
        rows = list(steps.values())
        got: dict[str, float] = {
            "wall_s": med(statistics.mean(x["wall_s"] for x in s) for s in rows),
            "wall_s_max": med(max(x["wall_s"] for x in s) for s in rows),
            "cpu_cores_rank": med(statistics.mean(x["cpu_cores"] for x in s) for s in rows),
            "cpu_cores_ranks": med(sum(x["cpu_cores"] for x in s) for s in rows),
        }
        for key in ("host_busy_cores", "host_user_cores", "host_sys_cores", "host_softirq_cores"):
            host = [x[key] for s in rows for x in s if key in x]
            if host:
                got[key] = med(host)
        for key in ("d_retrans", "d_out_segs", "d_autocork", "d_in_octets", "d_out_octets", "d_tbf_bytes",
                    "d_tbf_packets", "d_tbf_drops", "d_tbf_overlimits", "d_tbf_requeues"):  # fmt: skip
            sums = [sum(x.get(key, 0) for x in s) for s in rows]
            if any(key in x for s in rows for x in s):
                got[key] = med(sums)
                got[key + "_sum"] = sum(sums)
        out[f"n{n}-b{b}"] = got
    return out


def bridge_counters(cluster: Any) -> dict[str, dict[str, int]]:
    """The bridge side's tbf counters (the shaping toward each node), per veth."""
    out = subprocess.run(["tc", "-n", cluster.namespaces[0], "-s", "-j", "qdisc", "show"], capture_output=True,
                         text=True, check=False).stdout  # fmt: skip
    got = {}
    for q in json.loads(out or "[]"):
        if q.get("kind") == "tbf":
            got[q["dev"]] = {k: int(q[k]) for k in ("bytes", "packets", "drops", "overlimits", "requeues")}
    return got


def measure(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import plain_ddp

    from runtime.hostload import host_load, snapshot
    from runtime.launch import signals_as_exceptions
    from runtime.testbed.emulated import EmulatedCluster

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    counts = sorted(int(n) for n in args.ranks.split(","))
    rates = [float(r) for r in args.rates.split(",")]
    world = counts[-1]
    if any(n % args.per_node for n in counts):
        raise SystemExit(f"error: --ranks: every rank count must be a multiple of --per-node {args.per_node}")
    with signals_as_exceptions():
        for r in range(args.first_repeat, args.first_repeat + args.repeats):
            order = rates if r % 2 == 0 else list(reversed(rates))
            for rate in order:
                with EmulatedCluster(nodes=world // args.per_node, per_node=args.per_node, rate=rate * 1e6 / 8) as tb:
                    work = out / "work" / f"r{rate:g}-p{args.per_node}-run{r}"
                    started, before, bridge0 = time.time(), snapshot(), bridge_counters(tb)
                    argv = ["--groups", ",".join(map(str, counts)), "--steps", str(args.steps)]
                    ranks = plain_ddp.run_workers(tb, world, args.per_node, work, HERE, argv, timeout_s=500)
                    bridge1 = bridge_counters(tb)
                    row: dict[str, Any] = {
                        "rate_mbit_s": rate, "per_node": args.per_node, "repeat": r, "started": started,
                        "gloo_threads": ranks[0]["gloo_threads"], "torch_version": ranks[0]["torch_version"],
                        "tcp_cc": tb.info["tcp_congestion_control"], "latency_s": tb.info["measured_latency_s"],
                        "points": summarise(ranks), "host_load": host_load(before, snapshot()),
                        "bridge_tbf": {d: {k: v - bridge0.get(d, {}).get(k, 0) for k, v in c.items()}
                                       for d, c in bridge1.items()},
                    }  # fmt: skip
                with (out / "runs.jsonl").open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(time.strftime("%H:%M:%S", time.gmtime()), brief(row), flush=True)


def brief(row: dict[str, Any]) -> str:
    pts = row["points"]
    cells = " ".join(f"{k} {v['wall_s'] * 1e3:.0f}" for k, v in pts.items())
    other = row["host_load"].get("other_cores") or 0.0
    return f"{row['rate_mbit_s']:g} Mbit/s p{row['per_node']} repeat {row['repeat']}: {cells} (other cores {other:.2f})"


def load_prices(path: Path) -> dict[tuple[float, int, int], list[float]]:
    """``--price``'s JSON lines: (rate, per_node, n) -> [bucket 0, bucket 1] seconds (analytic)."""
    got = {}
    if path.exists():
        for line in path.read_text().splitlines():
            x = json.loads(line)
            got[(float(x["rate_mbit_s"]), int(x["per_node"]), int(x["n"]))] = x["analytic_s"]
    return got


def table(out: Path, prices: Path | None = None) -> str:
    """Per rate, placement and rank count: each bucket alone, medians over the repeats (ms) [min–max], the spread
    ((max − min) ÷ median), the price and its error, and what the call did (cores, retransmits, tbf counters)."""
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines() if line.strip()]
    priced = load_prices(prices) if prices else {}
    med = statistics.median
    lines = [
        "| Mbit/s | ranks a node | ranks | bytes | measured ms, median [min–max] | spread | priced ms | priced ÷ "
        "measured − 1 | cores a rank | cores, ranks summed | host busy cores (user / sys / softirq) | retrans / "
        "segments a call | autocorked | tbf B a packet | tbf overlimits a call | tbf drops (all) | repeats |",
        "|---" * 17 + "|",
    ]
    keys = sorted({(x["rate_mbit_s"], x["per_node"]) for x in runs}, key=lambda k: (k[1], -k[0]))
    for rate, per_node in keys:
        mine = [x for x in runs if (x["rate_mbit_s"], x["per_node"]) == (rate, per_node)]
        names = sorted({k for x in mine for k in x["points"]}, key=lambda k: (int(k[1:].split("-")[0]), k))
        for name in names:
            pts = [x["points"][name] for x in mine if name in x["points"]]
            n, b = int(name[1:].split("-")[0]), int(name.split("-b")[1])
            wall = sorted(p["wall_s"] for p in pts)
            m = med(wall)
            price = priced.get((rate, per_node, n))
            pr = f"{price[b] * 1e3:.1f} | {100 * (price[b] / m - 1):+.1f} %" if price else "– | –"

            def mv(key: str, pts: list[dict[str, float]] = pts) -> float | None:
                v = [p[key] for p in pts if key in p]
                return med(v) if v else None

            def mcol(key: str, fmt: str = "{:.2f}") -> str:
                v = mv(key)
                return "–" if v is None else fmt.format(v)

            size = f"{mv('d_tbf_bytes') / mv('d_tbf_packets'):.0f}" if mv("d_tbf_packets") else "–"  # type: ignore[operator]
            lines.append(
                f"| {rate:g} | {per_node} | {n} | {BUCKETS[b]} | "
                f"{1e3 * m:.1f} [{1e3 * wall[0]:.1f}–{1e3 * wall[-1]:.1f}] | "
                f"{100 * (wall[-1] - wall[0]) / m:.1f} % | {pr} | {mcol('cpu_cores_rank')} | "
                f"{mcol('cpu_cores_ranks')} | {mcol('host_busy_cores')} ({mcol('host_user_cores')} / "
                f"{mcol('host_sys_cores')} / {mcol('host_softirq_cores')}) | "
                f"{mcol('d_retrans', '{:.0f}')} / {mcol('d_out_segs', '{:.0f}')} | {mcol('d_autocork', '{:.0f}')} | "
                f"{size} | {mcol('d_tbf_overlimits', '{:.0f}')} | "
                f"{sum(p.get('d_tbf_drops_sum', 0) for p in pts):.0f} | {len(pts)} |"
            )
    threads = sorted({x["gloo_threads"] for x in runs})
    cc = sorted({x["tcp_cc"] for x in runs})
    other = max((x["host_load"].get("other_cores") or 0.0) for x in runs)
    bridge_drops = sum(c["drops"] for x in runs for c in x["bridge_tbf"].values())
    lines.append(f"gloo threads {threads}; TCP congestion control {cc}; other processes' cores at most {other:.2f}; "
                 f"bridge-side tbf drops over all runs {bridge_drops}; runs {len(runs)}")  # fmt: skip
    return "\n".join(lines)


def matrix(out: Path, prices: Path | None = None) -> str:
    """Rate × rank count, per size: the median over repeats (ms) and, with ``prices``, the price's error."""
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines() if line.strip()]
    priced = load_prices(prices) if prices else {}
    lines = []
    for per_node in sorted({x["per_node"] for x in runs}):
        mine = [x for x in runs if x["per_node"] == per_node]
        counts = sorted({int(k[1:].split("-")[0]) for x in mine for k in x["points"]})
        for b, size in enumerate(BUCKETS):
            head = "| Mbit/s | " + " | ".join(f"{n} ranks" for n in counts) + " |"
            lines += [f"{size} B, {per_node} rank(s) a node: measured ms (priced ÷ measured − 1)", head,
                      "|---" * (1 + len(counts)) + "|"]  # fmt: skip
            for rate in sorted({x["rate_mbit_s"] for x in mine}):
                cells = []
                for n in counts:
                    v = [x["points"][f"n{n}-b{b}"]["wall_s"] for x in mine
                         if x["rate_mbit_s"] == rate and f"n{n}-b{b}" in x["points"]]  # fmt: skip
                    price = priced.get((rate, per_node, n))
                    m = statistics.median(v) if v else None
                    err = f" ({100 * (price[b] / m - 1):+.1f} %)" if m and price else ""
                    cells.append(f"{1e3 * m:.1f}{err}" if m else "–")
                lines.append(f"| {rate:g} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def price(profile: Path, counts: list[int], rates: list[float], per_node: int) -> str:
    """dpsim's all-reduce of each bucket alone from ``profile`` (``dpsim collective``'s rows, both engines): one JSON
    line per (rate, n)."""
    from dpsim.cli_collective import collective_rows
    from dpsim.scenario import CalibrationRef, load_scenario

    base = load_scenario(ROOT / "benchmarks/results/plain-ddp-2026-12-06-l/scenario.yaml")
    lines = []
    for rate in rates:
        for n in counts:
            s = base.model_copy(deep=True)
            s.cluster.nodes = n // per_node
            s.cluster.workers_per_node = per_node
            s.cluster.inter_node.bandwidth = rate * 1e6 / 8
            s.training.micro_batch = 32
            s.training.global_batch = 32 * n
            s.calibration = CalibrationRef(profile=str(profile.resolve()))
            got = {e: [row["time_s"] for row in collective_rows(s, "allreduce", list(map(float, BUCKETS)), e)]
                   for e in ("analytic", "sim")}  # fmt: skip
            lines.append(json.dumps({"rate_mbit_s": rate, "per_node": per_node, "n": n, "profile": profile.name,
                                     "analytic_s": got["analytic"], "sim_s": got["sim"]}))  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    if "--worker" in sys.argv:
        worker(sys.argv[1:])
        return
    p = argparse.ArgumentParser()
    p.add_argument("--ranks", default="2,3,4,5,6,8")
    p.add_argument("--rates", default="1000,750,500", help="Mbit/s, comma-separated")
    p.add_argument("--per-node", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--first-repeat", type=int, default=0, help="number the repeats from this one")
    p.add_argument("--out", type=Path)
    p.add_argument("--table", type=Path, help="print the table from DIR/runs.jsonl")
    p.add_argument("--prices", type=Path, help="with --table: --price's output (JSON lines)")
    p.add_argument("--price", type=Path, metavar="PROFILE", help="print what dpsim prices from PROFILE (no root)")
    args = p.parse_args()
    if args.price:
        counts = [int(n) for n in args.ranks.split(",")]
        print(price(args.price, counts, [float(r) for r in args.rates.split(",")], args.per_node))
    elif args.table:
        print(table(args.table, args.prices))
        print()
        print(matrix(args.table, args.prices))
    elif args.out:
        measure(args)
        print(table(args.out))
    else:
        p.error("--out DIR or --table DIR")


if __name__ == "__main__":
    main()
