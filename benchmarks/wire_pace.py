"""How fast each algorithm moves its busiest link's bytes where the wire alone paces, per TCP flow count (issue 10).

On the emulated cluster every gloo pair is one TCP connection, so a node's shaped link carries as many flows
as its rank has peers at once: one under the ring, gloo's own ring and halving–doubling, 2–3 on the busiest
links of the point-to-point tree from 3 ranks on (a node sends to its parent and children in both of NCCL's
trees, :func:`dpsim.sim.collectives.nccl.dtree_parents`). At the lowest calibrated rate (150 Mbit/s) the
host does not bind, so the time over the busiest link's bytes at the shaped rate (the closed form's bandwidth
coefficient, :func:`dpsim.calibration.closed_form_coefficients`, over the rate) is the wire's own pace:
1/η of a link carrying that many flows. This script prints it per calibration, algorithm, rank count and
size (the all-reduces from 2 MiB on), with the busiest link's flow count.

No root, no testbed (a second).

    PYTHONPATH=. python benchmarks/wire_pace.py [--rate-mbit 150]
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, number, one_line_errors
from benchmarks.validation_patterns import RESULTS
from dpsim.calibration import closed_form_coefficients
from dpsim.sim.collectives.nccl import dtree_parents

MIN_BYTES = 2 * 2**20
"""All-reduces from this size on (the links' bandwidth points)."""

CALIBRATIONS = {
    "2026-12-05-f": "validation-2026-12-05-f/all",
    "2026-12-05-g": "validation-2026-12-05-g/all",
    "2026-12-05-h": "validation-2026-12-05-h/all",
    "2026-12-05-i bbr": "validation-2026-12-05-i/bbr/all",
    "2026-12-05-i cubic": "validation-2026-12-05-i/all",
}
"""The calibrations whose tree is the runtime's ``ncclGetDtree`` (both trees at once; from 2026-12-05-f on), with
the nodes' congestion control of 2026-12-05-i's two (bbr, the VM's default, before; cubic)."""

ONE_FLOW = ("ring", "backend", "halving-doubling")


def busiest_flows(algorithm: str, ranks: int) -> int:
    """TCP flows (distinct peers a rank sends to at once) on the link of the rank that sends the most bytes."""
    if algorithm in ONE_FLOW or ranks < 2:
        return 1
    if algorithm != "tree":
        raise ValueError(f"no flow count for {algorithm!r}")
    sends: list[tuple[int, int]] = []
    for rank in range(ranks):
        peers: defaultdict[int, int] = defaultdict(int)  # peer -> tree edges (S/2 each way per edge)
        for parents in dtree_parents(ranks):
            if parents[rank] >= 0:
                peers[int(parents[rank])] += 1
            for child in range(ranks):
                if parents[child] == rank:
                    peers[child] += 1
        sends.append((sum(peers.values()), len(peers)))
    return max(sends)[1]


def pace(record: dict[str, Any]) -> float:
    """The all-reduce's time over its busiest link's bytes at the shaped rate."""
    _, per_bandwidth = closed_form_coefficients(record["algorithm"], record["ranks"], record["size_bytes"])
    return float(record["time_s"]) / (per_bandwidth / float(record["rate_bytes_per_s"]))


def paces(records: list[dict[str, Any]], rate: float) -> dict[tuple[str, int, int], float]:
    """(algorithm, ranks, size) -> pace of the inter-node all-reduces at ``rate`` from :data:`MIN_BYTES` on."""
    out: dict[tuple[str, int, int], float] = {}
    for r in records:
        if (r.get("collective") != "all_reduce" or r.get("link_class") != "inter" or r["size_bytes"] < MIN_BYTES
                or r.get("rate_bytes_per_s") is None or abs(r["rate_bytes_per_s"] - rate) > 1e-6 * rate
                or r["algorithm"] not in (*ONE_FLOW, "tree")):  # fmt: skip
            continue
        out[(r["algorithm"], int(r["ranks"]), int(r["size_bytes"]))] = pace(r)
    return out


@one_line_errors
def main() -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate-mbit", type=number(1e-3, 1e6), default=150.0,
                        help="the shaped rate, Mbit/s (150: wire-bound)")  # fmt: skip
    args = parser.parse_args()
    rate = args.rate_mbit * 1e6 / 8
    table: dict[str, dict[tuple[str, int, int], float]] = {}
    measured: set[float] = set()
    for name, folder in CALIBRATIONS.items():
        path = RESULTS / folder / "calibration-bench.json"
        try:
            records = json.loads(path.read_text())
            table[name] = paces(records, rate)
        except (OSError, ValueError) as exc:
            raise ScriptError(f"{path}: {exc}") from exc
        measured |= {round(r["rate_bytes_per_s"] * 8e-6, 6) for r in records if r.get("rate_bytes_per_s")}
    keys = sorted({k for t in table.values() for k in t})
    if not keys:  # round 27: a rate no calibration measured (or nan, -1) printed a table of no row, status 0
        raise ScriptError(f"--rate-mbit: no calibration measured inter-node all-reduces at {args.rate_mbit:g} Mbit/s "
                          f"(measured: {', '.join(f'{r:g}' for r in sorted(measured))})")  # fmt: skip
    print(f"# PYTHONPATH=. python benchmarks/wire_pace.py --rate-mbit {args.rate_mbit:g}   (no root, no testbed)")
    print("time over the busiest link's bytes at the shaped rate (1/η of the wire), inter-node all-reduces")
    print(f"  {'algorithm':17s} ranks flows  MiB  " + " ".join(f"{n:>18s}" for n in table))
    for alg, ranks, size in keys:
        cells = [table[n].get((alg, ranks, size)) for n in table]
        row = " ".join(f"{c:18.3f}" if c is not None else f"{'-':>18s}" for c in cells)
        print(f"  {alg:17s} {ranks:5d} {busiest_flows(alg, ranks):5d} {size / 2**20:4.0f}  {row}")
    for flows in sorted({busiest_flows(a, n) for a, n, _ in keys}):
        values = [v for t in table.values() for (a, n, _), v in t.items() if busiest_flows(a, n) == flows]
        print(f"  {flows} flow(s) on the busiest link: median {statistics.median(values):.3f} "
              f"({min(values):.3f}–{max(values):.3f}, {len(values)} points)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
