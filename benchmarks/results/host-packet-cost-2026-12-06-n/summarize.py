"""Tables from packet_sweep.py's ``points.jsonl`` (no root): per (variant, kind, rate) the medians over repeats.

    PYTHONPATH=. python benchmarks/results/host-packet-cost-2026-12-06-n/summarize.py \\
        benchmarks/results/host-packet-cost-2026-12-06-n/raw/points.jsonl.xz [--compact] [--json OUT]

Columns (per point, then the median over its repeats; ``[min-max]`` of the time over repeats):
- ``ms``: bulk: the stream's time (ring4: mean of the four); gloo: per call the mean over the group's ranks, median
  over calls.
- ``MB/s``: payload bytes a sending node put on its link ÷ that time (gloo: ring all-reduce 2(n-1)/n x 12,595,200 B).
- ``busy`` / ``usr`` / ``sys`` / ``sirq``: host cores over the interval (/proc/stat; 2 cores; sirq = softirq + irq).
- ``pkts``: packets out of the node links (every node eth0 tbf's packets: data and ACKs, each counted once) in k.
- ``B/skb``: bytes per skb leaving the sending nodes' eth0 (veth counts one per skb): ~1514 = tbf segmented every
  GSO skb to MTU frames; larger = skbs passed whole.
- ``us/pkt``: busy core-us per packet; ``ns/B``: busy core-ns per payload byte.
- ``rx/poll``: packets received per NAPI poll (netif_rx ÷ napi_poll; veth without NAPI goes through the CPU backlog,
  process_backlog, whose quota is dev_weight); ``poll>1``: share of polls with more than one packet.
- ``txsirq/pkt``, ``hrt/pkt``, ``deq/pkt``, ``ctx/pkt``, ``loc/pkt``: NET_TX softirqs, HRTIMER softirqs (tbf's
  watchdog is a soft hrtimer), qdisc dequeue calls, context switches, local timer interrupts, per packet.
- ``idle``: share of the interval both cores spent idle (cpuidle time); ``rtx``: TCP retransmits.
"""

from __future__ import annotations

import argparse
import json
import lzma
import statistics
from pathlib import Path
from typing import Any

SIZE = 12595200


def point_metrics(r: dict[str, Any]) -> dict[str, float]:
    kind = r["kind"]
    ranks = r["ranks"]
    if kind.startswith("gloo"):
        n = 2 if kind == "gloo2" else 4
        calls = [statistics.mean(x["walls"][i] for x in ranks[:n]) for i in range(len(ranks[0]["walls"]))]
        t = statistics.median(calls)
        per_node_bytes = 2 * (n - 1) / n * SIZE
    else:
        senders = [x for x in ranks if x["walls"]]
        t = statistics.mean(x["walls"][0] for x in senders)
        per_node_bytes = 4 * SIZE
    h = ranks[0]["host"]
    cpu = h["cpu"]
    total = sum(cpu)
    ncpu = 2
    interval = h["t"]
    busy_j = total - cpu[3] - cpu[4]
    cores = ncpu / total if total else 0.0
    L = r["links"]
    node_tbf = [v for k, v in L.items() if k.endswith(":eth0:tbf")]
    node_link = [v for k, v in L.items() if k.endswith(":eth0:link")]
    pkts = sum(q["packets"] for q in node_tbf)
    payload = sum(q["bytes"] for q in node_tbf)
    tx_skb = sum(q["tx_packets"] for q in node_link if q["tx_bytes"] > 1e6)
    tx_b = sum(q["tx_bytes"] for q in node_link if q["tx_bytes"] > 1e6)
    busy_us = busy_j * 1e6 / 100  # USER_HZ 100
    p = r["perf"]
    si = h["softirqs"]
    idle_us = sum(v for k, v in h["cpuidle"].items() if k.endswith("_us"))
    polls = p.get("napi:napi_poll", 0) or 1
    return {
        "ms": 1e3 * t,
        "MBps": per_node_bytes / t / 1e6,
        "busy": busy_j * cores,
        "usr": (cpu[0] + cpu[1]) * cores,
        "sys": cpu[2] * cores,
        "sirq": (cpu[5] + cpu[6]) * cores,
        "kpkts": pkts / 1e3,
        "B_skb": tx_b / tx_skb if tx_skb else 0.0,
        "us_pkt": busy_us / pkts if pkts else 0.0,
        "ns_B": busy_us * 1e3 / payload if payload else 0.0,
        "rx_poll": p.get("net:netif_rx", 0) / polls,
        "poll_gt1": p.get("napi:napi_poll#work>1", 0) / polls,
        "txsirq_pkt": si["NET_TX"] / pkts if pkts else 0.0,
        "rxsirq_pkt": si["NET_RX"] / pkts if pkts else 0.0,
        "hrt_pkt": si["HRTIMER"] / pkts if pkts else 0.0,
        "deq_pkt": p.get("qdisc:qdisc_dequeue", 0) / pkts if pkts else 0.0,
        "ctx_pkt": h["ctxt"] / pkts if pkts else 0.0,
        "loc_pkt": h["irq"].get("LOC", 0) / pkts if pkts else 0.0,
        "ovl_pkt": sum(q["overlimits"] for q in node_tbf) / pkts if pkts else 0.0,
        "idle": idle_us / (ncpu * interval * 1e6) if interval else 0.0,
        "rtx": float(sum(x["tcp"]["retrans"] for x in ranks)),
        "drops": float(sum(q["drops"] for k, q in L.items() if k.endswith(":tbf"))),
        "squeeze": float(h["softnet"][2]),
    }


COLS = ["ms", "MBps", "busy", "usr", "sys", "sirq", "kpkts", "B_skb", "us_pkt", "ns_B", "rx_poll", "poll_gt1",
        "txsirq_pkt", "rxsirq_pkt", "hrt_pkt", "deq_pkt", "ctx_pkt", "loc_pkt", "ovl_pkt", "idle", "rtx"]  # fmt: skip
FMT = {"ms": "{:.1f}", "MBps": "{:.1f}", "kpkts": "{:.1f}", "B_skb": "{:.0f}", "rtx": "{:.0f}"}


# Rows measured while the sockets still carried gso1's one-MSS skbs (window A, 08:23:40-08:25:08: the variants
# burst256k / gro / budget of the invocation that ran gso1 first); and gso1 of the invocation that ran it last, when
# it did not reach the sockets (every counter as base). Kept in points.jsonl, left out of every table.
def contaminated(r: dict[str, Any]) -> bool:
    t = r["time_utc"]
    if r["variant"] in ("burst256k", "gro", "budget") and "08:23:40" <= t <= "08:25:08":
        return True
    return r["variant"] == "gso1" and t >= "08:27:52"


RATES = (300, 400, 500, 600, 650, 700, 750, 800, 900, 1000, 1100, 1200, 1300)


def line_rate_ms(kind: str, mbit: float) -> float:
    """The link's time for a sending node's payload at the TCP goodput of a 1,514 B frame (1,448 B payload)."""
    n = 2 if kind == "gloo2" else 4
    payload = 2 * (n - 1) / n * SIZE if kind.startswith("gloo") else 4 * SIZE
    return 1e3 * payload / (mbit * 1e6 / 8 * 1448 / 1514)


def compact(groups: dict[tuple[str, str, float], list[dict[str, float]]]) -> None:
    """Per kind: the time (median over repeats) of each variant at each rate, and the link's time."""
    variants = sorted({v for v, _, _ in groups}, key=lambda v: (v != "base", v))
    for kind in ("gloo4", "gloo2", "ring4", "bulk1"):
        print(f"\n{kind} (ms; median over repeats, [n])\n")
        print("| variant | " + " | ".join(f"{m}" for m in RATES) + " |")
        print("|---|" + "---|" * len(RATES))
        for v in variants:
            cells = []
            for m in RATES:
                rows = groups.get((v, kind, float(m)))
                cells.append(f"{statistics.median(x['ms'] for x in rows):.0f} [{len(rows)}]" if rows else "–")
            if any(c != "–" for c in cells):
                print(f"| {v} | " + " | ".join(cells) + " |")
        print("| link (bytes ÷ rate·1448/1514) | " + " | ".join(f"{line_rate_ms(kind, m):.0f}" for m in RATES) + " |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("points", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--compact", action="store_true", help="only the time tables, variant x rate")
    a = ap.parse_args()
    groups: dict[tuple[str, str, float], list[dict[str, float]]] = {}
    if a.points.suffix == ".xz":
        with lzma.open(a.points, "rt") as fh:
            text = fh.read()
    else:
        text = a.points.read_text()
    for ln in text.splitlines():
        r = json.loads(ln)
        if r.get("perf_record") or contaminated(r):
            continue
        groups.setdefault((r["variant"], r["kind"], r["mbit"]), []).append(point_metrics(r))
    if a.compact:
        compact(groups)
        return
    out = {}
    last = None
    for (variant, kind, mbit), rows in sorted(groups.items(), key=lambda kv: (kv[0][0] != "base", kv[0])):
        if (variant, kind) != last:
            print(f"\n## {variant} {kind}\n")
            print("| Mbit/s | n | " + " | ".join(COLS) + " | ms range |")
            print("|" + "---|" * (len(COLS) + 3))
            last = (variant, kind)
        med = {c: statistics.median(x[c] for x in rows) for c in COLS}
        ms = [x["ms"] for x in rows]
        cells = [FMT.get(c, "{:.2f}").format(med[c]) for c in COLS]
        print(f"| {mbit:g} | {len(rows)} | " + " | ".join(cells) + f" | {min(ms):.1f}-{max(ms):.1f} |")
        out[f"{variant}/{kind}/{mbit:g}"] = {"n": len(rows), **med, "ms_min": min(ms), "ms_max": max(ms)}
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
