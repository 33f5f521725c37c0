"""Tree/LL128 over EFA, point by point: what each p5 point takes beyond dpsim's lane, and two rail hypotheses.

A diagnostic: nothing here prices a collective anywhere else, and no hypothesis below is in the model (README,
*aws-ofi-nccl's rails*). The 11 points of ``benchmarks/p5_series.py`` that ran tree/LL128 (aws-ofi-nccl
1.16.3's region pick, NCCL 2.27.7, 4-32 nodes of p5.48xlarge, 32-256 MiB) are each split, with dpsim's own price of
that schedule, into dpsim's fixed part (base latency, network latency, the pipeline's fill) and ``n`` chunk rounds
of a lane (NCCL's ``calcCollChunking``: 72 000, 144 000 or 288 000 B on 16 lanes); ``extra`` is what each round
takes beyond dpsim's steady round ``e`` (the per-channel LL128 tree figure) if the fixed part is right. The p5
2-node curve's points where dpsim runs tree/LL128 (``benchmarks/nccl_tests_curves.py``, another source, NCCL's own
pick there) are split the same way.

What aws-ofi-nccl does with such a step (``src/nccl_ofi_scheduler.cpp`` ``set_schedule_by_threshold`` and
``get_num_stripes``, v1.13.0-v1.21.1; ``MIN_STRIPE_SIZE`` 128 KiB in ``include/nccl_ofi_param.h``): a message is
cut into ``n = min(⌈size / 128 KiB⌉, rails)`` stripes, lowered to the largest divisor of the rails, each on one
EFA device (rail) from a round-robin counter of the sending domain that advances by ``n``. A p5 GPU's NCCL device is
4 EFA v2 of 100 Gbit/s (aws-ofi-nccl ``topology/p5.48xl-topo.xml``: 4 NICs behind each GPU's PCIe switch), so a
tree step of 72 000 B of data (76 800 B of LL128 lines) crosses ONE rail (6.4 µs at efa-v2's 12.0 GB/s), 144 000
and 288 000 B two, while a ring's full steps (576 000 B of LL128 data, 1 MiB of Simple) cross all four. Hypotheses:

- ``serial``: a lane's round is ``e`` plus one stripe's time on its rail (the step's network crossing not hidden
  behind the lane's GPU work). NCCL keeps ``NCCL_STEPS`` = 8 steps in flight a connection (``net.cc``), so nothing
  in NCCL's code makes the two add; and the same rule would add a four-stripe time (12.8 µs) to every full
  ring/LL128 step (about 32 µs a step at 2 GiB on 8 nodes), whose points dpsim prices at a median 2.3 % without it.
- ``rails``: each connection keeps one rail for the whole run (4 sends a round a GPU: the counter comes back to
  where it was), drawn uniformly and independently for every sender, so a head's inbound rail carries as many of
  its per-round messages (2 up from the children and 1 down from the parent in the tree it is inner in, 1 down in
  the other: ``ncclGetDtree``) as land on it; the whole tree runs at its slowest head, a round taking
  ``max(e, E[max load] · stripe time)`` with the expectation over the draws of all ``nodes · 8`` heads (exact:
  every draw of a head's messages enumerated).

    PYTHONPATH=. python benchmarks/efa_tree_rails.py
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import statistics
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.nccl_tests_heldout import _p5_series
from benchmarks.nccl_tests_table import scenario_for
from benchmarks.p5_series import SERIES
from benchmarks.script_cli import Parser
from dpsim.catalog import LINKS
from dpsim.sim.collectives.tuner_plugin import AWS_OFI_NCCL, plugin_pick

MiB = 1 << 20
KiB = 1 << 10

MIN_STRIPE_BYTES = 128 * KiB
"""aws-ofi-nccl's ``MIN_STRIPE_SIZE`` (``include/nccl_ofi_param.h``, v1.13.0-v1.21.1; 64 KiB only between PR #878
and its revert #937, 2025): messages up to it go on one rail."""
STRIPE_ALIGN = 128
"""A stripe is a multiple of 128 B ("Align stripes to LL128 requirement", ``nccl_ofi_scheduler.cpp``)."""
P5_RAILS = 4
"""EFA v2 devices behind one p5 GPU, one NCCL device through aws-ofi-nccl (32 a node, 8 GPUs)."""
RAIL_BPS = LINKS["efa-v2"].bandwidth * LINKS["efa-v2"].efficiency
"""One EFA v2 device's achievable rate (the catalog's ``efa-v2``: 100 Gbit/s at NCCL's ``NET_BW`` share)."""
LL128_WIRE = 128 / 120
"""LL128 lines: 120 data bytes in 128."""


def _ceil_div(a: int, b: int) -> int:
    return (a + b - 1) // b


def stripes(size: int, rails: int, min_stripe: int = MIN_STRIPE_BYTES) -> int:
    """aws-ofi-nccl's ``get_num_stripes``: ``min(⌈size / min_stripe⌉, rails)`` (at least 1), lowered to the largest
    divisor of ``rails`` not above it."""
    n = max(1, min(_ceil_div(size, min_stripe), rails))
    for i in range(n, 1, -1):
        if rails % i == 0:
            return i
    return n


def stripe_bytes(size: int, n: int) -> int:
    """The largest stripe of a ``size``-byte message cut in ``n``: ``⌈⌈size / n⌉ / 128⌉ · 128``."""
    return _ceil_div(_ceil_div(size, n), STRIPE_ALIGN) * STRIPE_ALIGN


@cache
def max_load(messages: int, width: int, rails: int) -> tuple[tuple[int, float], ...]:
    """P(the busiest rail carries k stripes) when ``messages`` messages of ``width`` stripes each start on a rail
    drawn uniformly (their stripes on the following rails, as the scheduler lays them), every draw enumerated."""
    counts: Counter[int] = Counter()
    for starts in itertools.product(range(rails), repeat=messages):
        load = [0] * rails
        for r in starts:
            for s in range(width):
                load[(r + s) % rails] += 1
        counts[max(load)] += 1
    total = rails**messages
    return tuple((k, counts[k] / total) for k in sorted(counts))


def expected_max_load(inbound: list[int], heads: int, width: int, rails: int) -> float:
    """E[the busiest rail over every head]: ``heads`` independent heads on each node, node i's receiving
    ``inbound[i]`` messages a round (``Σ_v P(max > v)``)."""
    top = max(inbound) * width
    expected = 0.0
    for v in range(top):
        below = 1.0
        for m in inbound:
            if m:
                below *= sum(p for k, p in max_load(m, width, rails) if k <= v) ** heads
        expected += 1.0 - below
    return expected


def inbound_messages(nodes: int) -> list[int]:
    """Network messages each node's head receives a round over both trees of ``ncclGetDtree`` (up from each child,
    down from its parent)."""
    from dpsim.sim.collectives.nccl import dtree_parents

    counts = [0] * nodes
    for parents in dtree_parents(nodes):
        for child, parent in enumerate(parents.tolist()):
            if parent >= 0:
                counts[parent] += 1
                counts[child] += 1
    return counts


def split(scenario: Any, size: int, nodes: int, measured_s: float) -> dict[str, Any]:
    """One tree/LL128 all-reduce of ``size`` bytes on ``scenario`` (``nodes`` p5 nodes) measured at ``measured_s``:
    dpsim's price of that schedule, its split into a fixed part and ``n`` rounds, and both hypotheses' prices."""
    from dpsim.analytic.collectives import cluster_of
    from dpsim.analytic.step import algorithm_of, calibrated_fabric
    from dpsim.calibration import profile_for
    from dpsim.sim.collectives import nccl
    from dpsim.sim.cost import priced_candidates

    fabric = calibrated_fabric(scenario, profile_for(scenario)).at_size(size)
    layout = fabric.layout()
    priced = priced_candidates("allreduce", algorithm_of(scenario), layout, "LL128", cluster_of(fabric))
    cost = next(c for s, c in priced if (s.name, s.protocol) == ("tree", "LL128"))
    chunking = nccl.tree_chunking(layout, "LL128")
    assert chunking is not None
    n, chunk = chunking.chunks_at(size), chunking.chunk_at(size)
    fill = cost.fill(size) if cost.fill is not None else 0.0
    fixed = cost.latency_s + cost.network_s + fill
    steady = size * cost.seconds_per_byte / n
    wire = round(chunk * LL128_WIRE)
    width = stripes(wire, P5_RAILS)
    stripe_s = stripe_bytes(wire, width) / RAIL_BPS
    load = expected_max_load(inbound_messages(nodes), nccl.channels(layout), width, P5_RAILS)
    serial = cost(size) + n * stripe_s
    rails = fixed + n * max(steady, load * stripe_s)
    return {
        "nodes": nodes,
        "size_bytes": size,
        "measured_s": measured_s,
        "dpsim_s": cost(size),
        "fixed_s": fixed,
        "chunks": n,
        "chunk_bytes": chunk,
        "stripes": width,
        "stripe_s": stripe_s,
        "round_s": steady,
        "extra_s": (measured_s - fixed) / n - steady,
        "expected_max_load": load,
        "serial_s": serial,
        "rails_s": rails,
        "error": measured_s / cost(size) - 1.0,
        "serial_error": measured_s / serial - 1.0,
        "rails_error": measured_s / rails - 1.0,
    }


def rows() -> list[dict[str, Any]]:
    """The p5 series' tree/LL128 points (what aws-ofi-nccl's regions ran), then the 2-node p5 curve's points where
    dpsim runs tree/LL128 (NCCL's own pick there), each split (:func:`split`) with its source."""
    from benchmarks.nccl_tests_curves import CURVES, measured
    from benchmarks.nccl_tests_curves import scenario_for as curve_scenario
    from dpsim.cli_collective import collective_rows

    out = []
    for nodes, points in SERIES.items():
        for mib, busbw in points:
            size = mib * MiB
            if plugin_pick(AWS_OFI_NCCL, "allreduce", size, nodes, 8) != ("tree", "LL128"):
                continue
            ranks = nodes * 8
            run = dataclasses.replace(_p5_series(nodes, busbw), size_bytes=float(size))
            time_s = 2 * (ranks - 1) / ranks * size / (busbw * 1e9)
            out.append({"source": "p5 series", **split(scenario_for(run), size, nodes, time_s)})
    curve = next(c for c in CURVES if c.file == "all_reduce_h100_2x8_p5_efa.txt")
    scenario = curve_scenario(curve)
    for row in measured(curve).rows:
        size = int(row.size_bytes)
        ran = collective_rows(scenario, "allreduce", [float(size)])[0]
        if (ran["algorithm"], ran["protocol"]) == ("tree", "LL128"):
            out.append({"source": "p5 2-node curve", **split(scenario, size, curve.nodes, row.time_s)})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args(argv)
    out = rows()
    if args.format == "json":
        print(json.dumps(out, indent=1))
        return
    print("busbw error of each price (measured / priced - 1); times in us")
    print(
        f"{'nodes':>5} {'size':>5} {'meas':>7} {'dpsim':>7} {'fixed':>6} {'n':>3} {'chunk':>7} {'str':>3} "
        f"{'e':>5} {'extra':>5} {'stripe':>6} {'E[max]':>6}  {'dpsim':>7} {'serial':>7} {'rails':>7}"
    )
    for r in out:
        size = f"{r['size_bytes'] // MiB}M" if r["size_bytes"] >= MiB else f"{r['size_bytes'] // KiB}K"
        print(
            f"{r['nodes']:>5} {size:>5} {r['measured_s'] * 1e6:>7.1f} {r['dpsim_s'] * 1e6:>7.1f} "
            f"{r['fixed_s'] * 1e6:>6.1f} {r['chunks']:>3} {r['chunk_bytes']:>7.0f} {r['stripes']:>3} "
            f"{r['round_s'] * 1e6:>5.1f} {r['extra_s'] * 1e6:>5.1f} {r['stripe_s'] * 1e6:>6.2f} "
            f"{r['expected_max_load']:>6.3f}  {100 * r['error']:>+6.1f}% {100 * r['serial_error']:>+6.1f}% "
            f"{100 * r['rails_error']:>+6.1f}%"
        )
    for source in dict.fromkeys(r["source"] for r in out):
        print(f"{source}:")
        for key, label in (("error", "dpsim"), ("serial_error", "serial"), ("rails_error", "rails")):
            errors = [abs(r[key]) for r in out if r["source"] == source]
            within = sum(e <= 0.10 for e in errors)
            print(
                f"  {label:>6}: median / max |error| {100 * statistics.median(errors):.1f} / "
                f"{100 * max(errors):.1f} %, {within} of {len(errors)} within 10 %"
            )
    print(f"(one stripe of 76 800 B: {stripe_bytes(76_800, 1) / RAIL_BPS * 1e6:.2f} us at {RAIL_BPS / 1e9:.1f} GB/s)")


if __name__ == "__main__":
    main()
