"""Hierarchical all-reduce on the emulated cluster, phase by phase (diagnostic; root).

3 nodes x 2 ranks at 1000 Mbit/s (validation configuration 10's testbed), S = 9,449,472 B (its model's
gradients in one call), 5 timed calls after 1 warm-up, each after a barrier; per phase the slowest rank's time:
- ``hier``: the whole all-reduce, and its three phases (intra reduce-scatter, inter ring on S/2, intra all-gather)
  timed on each rank without barriers between them;
- ``intra``: the intra-node reduce-scatter + all-gather alone, all three nodes at once (no inter phase);
- ``intra1``: the same on node 0 only (the others wait at the next barrier): the loopback pair alone;
- ``inter``: the two rings across nodes on S/2 alone, at once;
- ``one`` / ``two``: the runtime's hierarchical all-reduce of S in one call, and of DDP's two buckets of it
  (2,362,368 and 7,087,104 B) back to back, as after the backward.

    DPSIM_NETNS_PREFIX=emu- PYTHONPATH=. python benchmarks/results/validation-2026-12-05-h/hier_phases.py [MBIT]

(MBIT: the shaped rate in Mbit/s, 1000 by default; stop 36 ran it at 150, ``validation-2026-12-05-i/``.)
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

NODES, PER_NODE, RATE, SIZE, REPS = 3, 2, 1000e6 / 8, 9449472, 5


def worker(out: Path) -> None:
    import torch
    import torch.distributed as dist

    from runtime.collectives._p2p import split_sizes
    from runtime.collectives.ring import ring_all_gather, ring_allreduce, ring_reduce_scatter

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    me, _world = dist.get_rank(), dist.get_world_size()
    node, local = divmod(me, PER_NODE)
    node_ranks = list(range(node * PER_NODE, (node + 1) * PER_NODE))
    peers = [m * PER_NODE + local for m in range(NODES)]
    x = torch.ones(SIZE // 4)

    def slowest(values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.tolist()

    rows: dict[str, list[list[float]]] = {}
    from runtime.collectives import all_reduce

    buckets = [torch.ones(2362368 // 4), torch.ones(7087104 // 4)]
    for name in ("hier", "intra", "intra1", "inter", "one", "two"):
        for i in range(REPS + 1):
            dist.barrier()
            t0 = time.perf_counter()
            marks = [t0]
            if name == "hier":
                owned = ring_reduce_scatter(x, node_ranks, me, 0)
                marks.append(time.perf_counter())
                shard = torch.split(x, split_sizes(x.numel(), PER_NODE))[owned]
                ring_allreduce(shard, peers, me, 1)
                marks.append(time.perf_counter())
                ring_all_gather(x, node_ranks, me, 0)
                marks.append(time.perf_counter())
            elif name in ("intra", "intra1"):
                if name == "intra" or node == 0:
                    owned = ring_reduce_scatter(x, node_ranks, me, 0)
                    ring_all_gather(x, node_ranks, me, 0)
                marks.append(time.perf_counter())
            elif name == "one":
                all_reduce(x, "hierarchical", per_node=PER_NODE)
                marks.append(time.perf_counter())
            elif name == "two":
                for b in buckets:
                    all_reduce(b, "hierarchical", per_node=PER_NODE)
                    marks.append(time.perf_counter())
            else:
                shard = torch.split(x, split_sizes(x.numel(), PER_NODE))[local]
                ring_allreduce(shard, peers, me, 1)
                marks.append(time.perf_counter())
            spans = slowest([b - a for a, b in itertools.pairwise(marks)] + [marks[-1] - t0])
            if i:
                rows.setdefault(name, []).append(spans)
    if me == 0:
        out.write_text(json.dumps(rows))
    dist.destroy_process_group()


def main() -> None:
    from runtime.launch import spawn_ranks
    from runtime.testbed.emulated import EmulatedCluster

    rate = float(sys.argv[1]) * 1e6 / 8 if len(sys.argv) > 1 else RATE
    with tempfile.TemporaryDirectory() as tmp, EmulatedCluster(nodes=NODES, per_node=PER_NODE, rate=rate) as tb:
        run = Path(tmp) / "run"
        out = run / "phases.json"
        spawn_ranks(
            NODES * PER_NODE,
            [sys.executable, __file__, "--worker", str(out)],
            tb,
            run,
            workers_per_node=PER_NODE,
            timeout_s=300,
        )
        rows = json.loads(out.read_text())
    for name, spans in rows.items():
        med = [statistics.median(c) for c in zip(*spans, strict=False)]
        print(
            name,
            " ".join(f"{1e3 * m:.1f}" for m in med),
            "ms (phases..., total); totals",
            [round(1e3 * s[-1], 1) for s in spans],
            flush=True,
        )


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(Path(sys.argv[-1]))
    else:
        main()
