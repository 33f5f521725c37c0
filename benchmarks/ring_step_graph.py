"""A ring/LL128 loop as the dependency graph of its steps, timed by its longest path (diagnostic; the engines price
its wave as a step's floor, :func:`dpsim.sim.cost.ring_wave`).

NCCL 2.27.7's ring kernels (``src/device/all_gather.h`` ``runRing``) run a loop of ``N − 1`` steps on every rank one
after another (``directSend``, ``N − 2`` × ``directRecvCopyDirectSend``, ``directRecv``); step ``s`` of rank ``r``
forwards what rank ``r − 1`` received at step ``s − 1``. Over NVLink LL128 is cut through: the receiver polls a flag
in every 128-B line (``prims_ll128.h``), so it starts a step ``L_nvlink`` after its predecessor started it and ends no
earlier than ``L_nvlink`` after the predecessor ended it. Across nodes it is stored and forwarded: with GPUDirect the
proxy sends a step once the GPU has posted its tail for all of it (``src/transport/net.cc`` ``sendProxyProgress``:
``ready = resources->useGdr`` for LL128, then ``isend`` of the whole step), so the receiver starts ``L_net`` after its
predecessor ended and ends ``c / B_net`` later at the soonest. Each rank's own work on a step is ``c / B_cta``. So::

    start(r, s) = max(end(r, s−1), start(r−1, s−1) + L_nvlink)        NVLink edge
                  max(end(r, s−1), end(r−1, s−1) + L_net)             network edge
    end(r, s)   = max(start(r, s) + c / B_cta, end(r−1, s−1) + L_nvlink)               NVLink edge
                  max(start(r, s) + c / B_cta, end(r−1, s−1) + L_net + c / B_net)      network edge

A step's time is the loop's longest path over its ``N − 1`` steps. Constants, all from sources, none fitted:
``L_nvlink`` NCCL's ``hwLatencies[NVLINK][RING][LL128]`` (1.9 µs, ``tuning.cc``), ``L_net`` the latency aws-ofi-nccl
reports for p5 (75 µs, ``platform-aws.cpp``; efa-v2's ``nccl_net_latency_s``), ``B_cta`` NCCL's LL128 cap shared by
the 16 kernel channels (8 × 36.7 / 16 GB/s, :func:`benchmarks.p5_series.ll128_cap_per_kernel_channel_Bps`) and
``B_net`` a 48 GB/s NIC shared by its two channels, 120 of every 128 bytes data. Left out: NCCL_STEPS' flow
control (8 steps in flight a connection, ``net.cc``), which could only lengthen the path, and any loop after the
first (every point here is one loop but three 8-node all-reduce points of 2 and 4 loops, which restart the wave).

    PYTHONPATH=. python benchmarks/ring_step_graph.py [--ctrl-us 10] [--jitter 0.1 --draws 3 --seed 0]

prints each development-half ring/LL128 point of the p5 series as a step (:func:`benchmarks.p5_series.
ring_ll128_steps`), measured, dpsim's and the graph's.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.nccl_tests_table import size_label
from benchmarks.p5_series import KERNEL_CHANNELS, ll128_cap_per_kernel_channel_Bps, ring_ll128_steps
from benchmarks.script_cli import Parser, number, whole
from dpsim.catalog import LINKS
from dpsim.sim.collectives.nccl import NCCL_STEPS
from dpsim.sim.collectives.nccl_tuner import tuner_tables

NIC_BPS = 48e9
"""A p5 GPU's NCCL network device (aws-ofi-nccl joins its 4 EFA v2 of 100 Gbit/s: 50 GB/s at efa-v2's 0.96)."""


def step_time(
    nodes: int,
    gpus: int,
    chunk: float,
    l_nvlink: float,
    l_net: float,
    b_cta: float,
    b_net: float,
    ctrl_s: float | None = None,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> float:
    """The longest path of one ring loop of ``nodes × gpus`` ranks over its ``N − 1`` steps, over the steps (s).

    What-ifs, off by default. ``ctrl_s``: NCCL_STEPS' flow control on the network edges, read as aws-ofi-nccl's
    receiver-driven RDMA write (the receiving proxy posts step ``s`` once its GPU has freed slot ``s mod 8``, ending
    step ``s − 8``, and its control message takes ``ctrl_s`` to the sender) and on NVLink as the sender waiting for
    the receiver's step ``s − 8`` plus ``L_nvlink``: it can only lengthen the path. ``jitter``: each step's work and
    each hop's latency times ``max(0, 1 + jitter · z)``, ``z`` standard normal from ``rng``."""
    n = nodes * gpus
    rng = rng or random.Random(0)

    def draw(x: float) -> float:
        return x * max(0.0, 1.0 + jitter * rng.gauss(0.0, 1.0)) if jitter > 0 else x

    starts = [[0.0] * n]
    ends = [[draw(chunk / b_cta) for _ in range(n)]]
    for s in range(1, n - 1):
        start, end = starts[-1], ends[-1]
        new_start, new_end = [0.0] * n, [0.0] * n
        for r in range(n):
            p = (r - 1) % n
            work = draw(chunk / b_cta)
            freed = ends[s - NCCL_STEPS][r] if ctrl_s is not None and s >= NCCL_STEPS else -math.inf
            if p // gpus != r // gpus:
                ready = max(end[p], freed + (ctrl_s or 0.0)) + draw(l_net)
                new_start[r] = max(end[r], ready)
                new_end[r] = max(new_start[r] + work, ready + chunk / b_net)
            else:
                hop = draw(l_nvlink)
                new_start[r] = max(end[r], start[p] + hop, freed + hop)
                new_end[r] = max(new_start[r] + work, end[p] + hop)
        starts.append(new_start)
        ends.append(new_end)
    return max(ends[-1]) / (n - 1)


def p5_step_time(nodes: int, chunk: float, **what_if: Any) -> float:
    """:func:`step_time` with the module's sourced constants for the p5 job (8 GPUs a node); ``what_if``: its
    ``ctrl_s``, ``jitter`` and ``rng``."""
    l_nvlink = tuner_tables("2.27.7").hw_latency_us["nvlink"]["ring"][1] * 1e-6
    l_net = LINKS["efa-v2"].nccl_net_latency_s
    b_net = NIC_BPS / (KERNEL_CHANNELS // 8) * 120 / 128
    return step_time(nodes, 8, chunk, l_nvlink, l_net, ll128_cap_per_kernel_channel_Bps(nodes), b_net, **what_if)


def main(argv: list[str] | None = None) -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--ctrl-us", type=number(0.0, 1e6), help="what-if: flow control, control message (us)")
    parser.add_argument("--jitter", type=number(0.0, 1.0), default=0.0, help="what-if: a step's and a hop's CV")
    parser.add_argument("--draws", type=whole(1, 100), help="loops averaged with --jitter (default 3)")
    parser.add_argument("--seed", type=whole(0, 1 << 31), help="the draws' seed with --jitter (default 0)")
    args = parser.parse_args(argv)
    for option, value in (("--draws", args.draws), ("--seed", args.seed)):
        if value is not None and args.jitter == 0:  # round 28: dropped without a word, the table as if used
            parser.error(f"{option}: read only with --jitter > 0 (nothing is drawn without a jitter)")
    rng = random.Random(args.seed or 0)
    ctrl = None if args.ctrl_us is None else args.ctrl_us * 1e-6
    draws = (args.draws or 3) if args.jitter > 0 else 1
    print(f"{'op':<10} {'nodes':>5} {'size':>6} {'chunk':>6} {'meas us':>8} {'dpsim':>7} {'err':>7} {'graph':>7} "
          f"{'err':>7}   (err: measured step over the other, - 1)")  # fmt: skip
    table = ring_ll128_steps("dev")
    within = {"dpsim": 0, "graph": 0}
    for r in table:
        graph = sum(
            p5_step_time(r["nodes"], r["chunk"], ctrl_s=ctrl, jitter=args.jitter, rng=rng) for _ in range(draws)
        )
        graph /= draws
        meas, priced = r["measured_step_s"], r["priced_step_s"]
        print(
            f"{r['op']:<10} {r['nodes']:>5} {size_label(r['size_bytes']):>6} {size_label(r['chunk']):>6} "
            f"{meas * 1e6:>8.2f} {priced * 1e6:>7.2f} {meas / priced - 1:>+7.1%} {graph * 1e6:>7.2f} "
            f"{meas / graph - 1:>+7.1%}"
        )
        within["dpsim"] += abs(meas / priced - 1) <= 0.10
        within["graph"] += abs(meas / graph - 1) <= 0.10
    print(f"within 10 % of the measured step: dpsim {within['dpsim']}, graph {within['graph']} of {len(table)}")


if __name__ == "__main__":
    main()
