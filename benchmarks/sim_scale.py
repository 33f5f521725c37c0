"""Wall time of simulating one training step with dpsim.sim, by cluster size and fidelity.

GPT-2 XL (1.56 B parameters, bf16 gradients: 125 buckets of 25 MB), A100 nodes of 8
workers (NVLink 300 GB/s inside, 8 × 200 Gbit/s NICs), micro-batch 4, no accumulation.
For every size: the fast level; the chunk level where it is affordable — on a homogeneous
cluster (identical collectives, same join offsets, are memoised: the "simulated" column
counts the ones really run), with 5 % compute jitter, and "chunk-raw" with memoisation
off (every one of the 125 bucket all-reduces simulated flow by flow: the O(N²) worst case).

Usage: python benchmarks/sim_scale.py [--quick] [--sizes 8,64,...]
Targets (issue 3): fast level 1024 ranks < 2 s and 16384 ranks < 30 s; chunk level 256 ranks < 30 s.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from dpsim.analytic.step import predict
from dpsim.scenario import Scenario, scenario_from_dict
from dpsim.sim import simulate
from dpsim.sim.chunk import ChunkEngine
from dpsim.sim.simulate import build_cluster, step_plan
from dpsim.sim.training import run_step
from dpsim.sim.variability import replication_rng
from dpsim.sim.worker import compute_model, worker_times

SIZES = (8, 64, 256, 512, 1024, 4096, 16384)
CHUNK_LIMIT = {"hierarchical": 512, "ring": 64}
"""Largest world size at which the chunk level is run with jitter (every bucket simulated)."""
CHUNK_HOMOGENEOUS_LIMIT = {"hierarchical": 1024, "ring": 256}
RAW_LIMIT = {"hierarchical": 256, "ring": 64}
"""Largest world size at which every collective is simulated without memoisation."""


def scenario(world: int, algorithm: str, jitter: float) -> Scenario:
    per_node = min(8, world)
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
        }
    )


def measure(world: int, algorithm: str, fidelity: str, jitter: float) -> dict[str, Any]:
    s = scenario(world, algorithm, jitter)
    start = time.perf_counter()
    result = simulate(s, fidelity=fidelity)
    wall = time.perf_counter() - start
    events = int(result.extra["sim_events"])
    return {
        "ranks": world,
        "algorithm": algorithm,
        "fidelity": fidelity,
        "jitter": jitter,
        "wall_s": wall,
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
    start = time.perf_counter()
    model = compute_model(s)
    plan = step_plan(s, model.optimizer_s, model.forward_s, model.backward_s)
    cluster = build_cluster(s)
    engine = ChunkEngine(cluster, algorithm, memoize=False, protocol=cluster.protocol)
    forward, backward, _ = worker_times(s, model, replication_rng(s.variability, 0))
    outcome = run_step(plan, engine, forward[0], backward[0])
    wall = time.perf_counter() - start
    return {
        "ranks": world,
        "algorithm": algorithm,
        "fidelity": "chunk-raw",
        "jitter": 0.0,
        "wall_s": wall,
        "collectives": outcome.collectives,
        "simulated": engine.simulated_calls,
        "events": engine.events,
        "events_per_s": engine.events / wall,
        "step_s": outcome.step_time_s,
        "analytic_step_s": predict(s).step_time_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes up to 1024 only")
    parser.add_argument("--sizes", default="", help="comma-separated world sizes")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",") if x] or [n for n in SIZES if not args.quick or n <= 1024]
    header = (
        f"{'ranks':>6} {'algorithm':>12} {'fidelity':>9} {'jitter':>6} {'wall s':>8} {'calls':>6} "
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
                row = measure_raw(world, algorithm)
            else:
                row = measure(world, algorithm, fidelity, jitter)
            rate = "" if fidelity == "fast" else f"{row['events_per_s']:10.3g}"
            print(
                f"{row['ranks']:>6} {algorithm:>12} {fidelity:>9} {jitter:>6.2f} {row['wall_s']:>8.3f} "
                f"{row['collectives']:>6} {row['simulated']:>9} {row['events']:>11} {rate:>10} "
                f"{row['step_s']:>9.4f} {row['step_s'] / row['analytic_step_s'] - 1:>+11.2e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
