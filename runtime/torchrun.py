"""``dpsim calibrate`` under torchrun: every rank benchmarks, rank 0 fits and writes the profile.

``torchrun --nnodes M --nproc-per-node G ... -m dpsim.cli calibrate scenario.yaml --device cuda --out
profile.yaml`` (any number of nodes): torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
``LOCAL_WORLD_SIZE``; each rank joins one process group (NCCL on GPUs, gloo on CPUs), runs the
collective microbenchmarks of :mod:`runtime.bench` on tensors on its device (GPU tensors:
each repetition waits for the collective's kernels), and rank 0 fits α–β per algorithm
(:func:`runtime.calibrate.fit_link_records`), times the model's forward/backward on its own
device for the compute fit, and writes the profile. The link class is ``intra`` when every
rank is on one node (``WORLD_SIZE == LOCAL_WORLD_SIZE``), ``inter`` otherwise; on NCCL only
the backend's own collectives run (the point-to-point algorithms are gloo/CPU).
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["calibrate_distributed", "torchrun_ranks"]


def torchrun_ranks(environ: Mapping[str, str] | None = None) -> tuple[int, int, int, int] | None:
    """(rank, world size, local rank, local world size) when started by torchrun, else None."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    world = int(env["WORLD_SIZE"])
    return int(env["RANK"]), world, int(env.get("LOCAL_RANK", "0")), int(env.get("LOCAL_WORLD_SIZE", str(world)))


def calibrate_distributed(
    scenario: Any, plan: Any, out: Path, device: str, *, log: Callable[[str], None] = print
) -> Any:
    """Benchmark on every rank; rank 0 returns the fitted profile (others return None). Writes nothing."""
    import dataclasses

    import torch
    import torch.distributed as dist

    from dpsim.calibration import HardwareProfile, bus_bandwidth
    from runtime.bench import run as run_bench
    from runtime.calibrate import fit_link_records, measure_compute, measure_optimizer
    from runtime.nccl import nccl_environment, nccl_version

    ranks = torchrun_ranks()
    if ranks is None:
        raise ValueError("not started by torchrun (RANK and WORLD_SIZE are not set)")
    rank, world, local_rank, local_world = ranks
    cuda = device == "cuda"
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        dev = f"cuda:{local_rank}" if cuda else "cpu"
        algorithms = ["backend"] if cuda else list(plan.algorithms)
        run_dir = out.parent / f".{out.name}.bench"
        if rank == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "bench.jsonl").unlink(missing_ok=True)
        dist.barrier()
        if rank == 0:
            log(f"calibrate: {world} ranks ({local_world} per node) under torchrun, {'NCCL' if cuda else 'gloo'}")
        run_bench(run_dir, plan.collectives, algorithms, plan.sizes, plan.reps, plan.warmup, local_world, dev)
        dist.barrier()
        if rank != 0:
            return None
        link_class = "intra" if world == local_world else "inter"
        records = [json.loads(line) for line in (run_dir / "bench.jsonl").read_text().splitlines() if line.strip()]
        for rec in records:
            rec["link_class"] = link_class
            rec["busbw_bytes_per_s"] = bus_bandwidth(rec["size_bytes"], rec["time_s"], world)
        links, errors = fit_link_records(records)
        forward, backward = measure_compute(scenario, plan.micro_batches, device=dev)
        meta: dict[str, Any] = {
            "torch_version": str(torch.__version__),
            "testbed": "torchrun",
            "device": torch.cuda.get_device_name(local_rank) if cuda else platform.processor() or "cpu",
            "world_size": world,
            "local_world_size": local_world,
            "fit_max_relative_error": errors,
            "bench": records,
        }
        if cuda:
            meta["nccl"] = {"version": nccl_version(), "environment": nccl_environment()}
        profile = HardwareProfile(
            name=scenario.name,
            backend="nccl" if cuda else "gloo",
            host=platform.node(),
            links=links,
            forward=forward,
            backward=backward,
            calibrated_on=(
                f"{link_class}: {world} ranks under torchrun, {min(plan.sizes)}-{max(plan.sizes)} B",
                f"compute: one {'GPU' if cuda else 'CPU thread'}, micro-batches "
                f"{','.join(map(str, plan.micro_batches))}",
            ),
            meta=meta,
        )
        if not cuda:  # the optimizer microbenchmark is CPU-only
            profile = dataclasses.replace(profile, optimizer=measure_optimizer(scenario))
        return profile
    finally:
        dist.destroy_process_group()
