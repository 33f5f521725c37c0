"""Wall time of simulating one training step with dpsim.sim, by cluster size and fidelity.

GPT-2 XL (1.56 B parameters, bf16 gradients: 125 buckets of 25 MB), A100 nodes of 8
workers (NVLink 300 GB/s inside, 8 × 200 Gbit/s NICs), micro-batch 4, no accumulation.
For every size: the fast level; the chunk level where it is affordable — on a homogeneous
cluster (identical collectives, same join offsets, are memoised: the "simulated" column
counts the ones really run), with 5 % compute jitter, and "chunk-raw" with memoisation
off (every one of the 125 bucket all-reduces simulated flow by flow: the O(N²) worst case).

A second table times one flat ring all-reduce of 1 GiB at chunk level, one rank per node
(2N(N−1) flows), and with ``--memory`` the peak of traced allocations while it runs.

Every figure is the median of ``--repeat`` runs; wall time and the process's CPU time are
both given (on a shared machine the CPU time is the steadier of the two).

Usage: python benchmarks/sim_scale.py [--quick] [--sizes 8,64,...] [--ring 256,1024,4096] [--repeat 3] [--memory]
Targets (issue 3): fast level 1024 ranks < 2 s and 16384 ranks < 30 s; chunk level 256 ranks < 30 s.
Targets (issue 13): flat ring all-reduce over 1024 ranks < 2 s, 4096 ranks < 15 s; a 1024-rank
step with 5 % jitter at chunk level < 1.5 s; memory linear in ranks.
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, one_line_errors, whole, wholes
from dpsim.analytic import collectives as cf
from dpsim.analytic.step import predict
from dpsim.scenario import Scenario, scenario_from_dict
from dpsim.sim import collectives, simulate
from dpsim.sim.chunk import ChunkEngine, CompiledSchedule
from dpsim.sim.cluster import Cluster
from dpsim.sim.simulate import build_cluster, step_plan
from dpsim.sim.training import run_step
from dpsim.sim.variability import replication_rng
from dpsim.sim.worker import compute_model, worker_times

SIZES = (8, 64, 256, 512, 1024, 4096, 16384)
CHUNK_LIMIT = {"hierarchical": 1024, "ring": 64}
"""Largest world size at which the chunk level is run with jitter (every bucket simulated)."""
CHUNK_HOMOGENEOUS_LIMIT = {"hierarchical": 4096, "ring": 1024}
RAW_LIMIT = {"hierarchical": 256, "ring": 64}
"""Largest world size at which every collective is simulated without memoisation."""


def scenario(world: int, algorithm: str, jitter: float, steps: int | None = None) -> Scenario:
    per_node = min(8, world)
    simulation = {} if steps is None else {"simulation": {"steps": steps}}
    return scenario_from_dict(
        {
            "name": f"gpt2-xl-{world}",
            "model": {"preset": "gpt2-xl"},
            "cluster": {
                "nodes": world // per_node,
                "workers_per_node": per_node,
                "device": "a100-80gb",
                "intra_node": {"bandwidth": "300 GB/s", "latency": "1 us"},
                "inter_node": {"bandwidth": "200 Gbit/s", "latency": "5 us", "nics_per_node": 8},
            },
            "training": {"global_batch": 4 * world, "micro_batch": 4},
            "communication": {"algorithm": algorithm, "bucket": "25 MB", "overlap": True},
            "variability": {"compute_jitter_cv": jitter, "seed": 0},
            **simulation,
        }
    )


def median_of(repeat: int, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()`` ``repeat`` times; the last row with the median wall and CPU times."""
    rows = [run() for _ in range(max(1, repeat))]
    row = dict(rows[-1])
    for key in ("wall_s", "cpu_s"):
        row[key] = statistics.median(r[key] for r in rows)
    row["events_per_s"] = row["events"] / row["cpu_s"] if row["fidelity"] != "fast" else float("nan")
    return row


def measure(world: int, algorithm: str, fidelity: str, jitter: float) -> dict[str, Any]:
    s = scenario(world, algorithm, jitter)
    start, cpu = time.perf_counter(), time.process_time()
    result = simulate(s, fidelity=fidelity, allow_long=True)  # the cost guard is for users, not for timing
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    events = int(result.extra["sim_events"])
    return {
        "ranks": world,
        "algorithm": algorithm,
        "fidelity": fidelity,
        "jitter": jitter,
        "wall_s": wall,
        "cpu_s": cpu,
        "collectives": int(result.extra["collectives"]),
        "simulated": int(result.extra["simulated_collectives"]),
        "events": events,
        "events_per_s": events / wall if fidelity == "chunk" else float("nan"),
        "step_s": result.step_time_s,
        "analytic_step_s": predict(s).step_time_s,
    }


def measure_raw(world: int, algorithm: str) -> dict[str, Any]:
    """Chunk level with memoisation off: every one of the step's collectives simulated flow by flow."""
    s = scenario(world, algorithm, 0.0)
    start, cpu = time.perf_counter(), time.process_time()
    model = compute_model(s)
    plan = step_plan(s, model.optimizer_s, model.forward_s, model.backward_s)
    cluster = build_cluster(s)
    engine = ChunkEngine(cluster, algorithm, memoize=False, protocol=cluster.protocol)
    forward, backward, _ = worker_times(s, model, replication_rng(s.variability, 0))
    outcome = run_step(plan, engine, forward[0], backward[0])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "ranks": world,
        "algorithm": algorithm,
        "fidelity": "chunk-raw",
        "jitter": 0.0,
        "wall_s": wall,
        "cpu_s": cpu,
        "collectives": outcome.collectives,
        "simulated": engine.simulated_calls,
        "events": engine.events,
        "events_per_s": engine.events / wall,
        "step_s": outcome.step_time_s,
        "analytic_step_s": predict(s).step_time_s,
    }


RING_SIZE = 1 << 30
RING_LINK = cf.Link(5e-6, 25e9)


def measure_ring(world: int, memory: bool = False) -> dict[str, Any]:
    """One flat ring all-reduce of 1 GiB over ``world`` ranks, one per node, at chunk level."""
    if memory:
        tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    cluster = Cluster(world, 1, RING_LINK, RING_LINK)
    result = CompiledSchedule(collectives.allreduce("ring", world, 1), cluster).run(RING_SIZE, np.zeros(world))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = 0
    if memory:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return {
        "ranks": world,
        "fidelity": "chunk",
        "wall_s": wall,
        "cpu_s": cpu,
        "events": result.events,
        "time_s": float(result.done_s.max()),
        "closed_s": cf.ring_allreduce_time(RING_SIZE, world, RING_LINK),
        "peak_bytes": peak,
    }


def ring_table(sizes: list[int], repeat: int, memory: bool) -> None:
    header = (
        f"{'ranks':>6} {'flows':>10} {'wall s':>8} {'cpu s':>8} {'net events':>11} {'events/s':>10} "
        f"{'simulated s':>12} {'vs closed form':>14}" + (f" {'peak MiB':>9} {'B/rank':>8}" if memory else "")
    )
    print("\nOne flat ring all-reduce of 1 GiB, one rank per node (25 GB/s, 5 us), chunk level")
    print(header)
    print("-" * len(header))
    for world in sizes:
        row = median_of(repeat, lambda world=world: measure_ring(world))
        line = (
            f"{world:>6} {2 * world * (world - 1):>10} {row['wall_s']:>8.3f} {row['cpu_s']:>8.3f} {row['events']:>11} "
            f"{row['events_per_s']:>10.3g} {row['time_s']:>12.9f} {row['time_s'] / row['closed_s'] - 1:>+14.1e}"
        )
        if memory:
            peak = measure_ring(world, memory=True)["peak_bytes"]
            line += f" {peak / 2**20:>9.1f} {peak / world:>8.0f}"
        print(line, flush=True)


@one_line_errors
def main() -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 1024 only")
    parser.add_argument(
        "--sizes", type=wholes(none=True), default="", help="comma-separated world sizes of the step table"
    )
    parser.add_argument("--ring", type=wholes(none=True), default="256,1024,4096",
                        help="world sizes of the ring all-reduce table ('' = none)")  # fmt: skip
    parser.add_argument("--repeat", type=whole(1, 1000), default=3, help="runs per row (medians are printed)")
    parser.add_argument("--memory", action="store_true", help="also trace peak memory of the ring all-reduce")
    args = parser.parse_args()
    sizes = args.sizes or [n for n in SIZES if not args.quick or n <= 1024]
    header = (
        f"{'ranks':>6} {'algorithm':>12} {'fidelity':>9} {'jitter':>6} {'wall s':>8} {'cpu s':>8} {'calls':>6} "
        f"{'simulated':>9} {'net events':>11} {'events/s':>10} {'step s':>9} {'vs analytic':>11}"
    )
    print(header)
    print("-" * len(header))
    for world in sizes:
        runs = []
        for algorithm in ("hierarchical", "ring"):
            runs.append((algorithm, "fast", 0.0))
            if world <= CHUNK_HOMOGENEOUS_LIMIT[algorithm]:
                runs.append((algorithm, "chunk", 0.0))
            if world <= CHUNK_LIMIT[algorithm]:
                runs.append((algorithm, "chunk", 0.05))
            if world <= RAW_LIMIT[algorithm]:
                runs.append((algorithm, "chunk-raw", 0.0))
        for algorithm, fidelity, jitter in runs:
            if fidelity == "chunk-raw":
                row = median_of(args.repeat, lambda w=world, a=algorithm: measure_raw(w, a))
            else:
                row = median_of(args.repeat, lambda w=world, a=algorithm, f=fidelity, j=jitter: measure(w, a, f, j))
            rate = "" if fidelity == "fast" else f"{row['events_per_s']:10.3g}"
            print(
                f"{row['ranks']:>6} {algorithm:>12} {fidelity:>9} {jitter:>6.2f} {row['wall_s']:>8.3f} "
                f"{row['cpu_s']:>8.3f} {row['collectives']:>6} {row['simulated']:>9} {row['events']:>11} {rate:>10} "
                f"{row['step_s']:>9.4f} {row['step_s'] / row['analytic_step_s'] - 1:>+11.2e}",
                flush=True,
            )
    if args.ring:
        ring_table(args.ring, args.repeat, args.memory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
