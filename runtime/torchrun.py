"""``dpsim calibrate`` and ``dpsim validate`` under torchrun: every rank works, rank 0 writes.

``torchrun --nnodes M --nproc-per-node G ... -m dpsim.cli calibrate scenario.yaml --device cuda --out
profile.yaml`` (any number of nodes): torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
``LOCAL_WORLD_SIZE``; each rank joins one process group (NCCL on GPUs, gloo on CPUs), runs the
collective microbenchmarks of :mod:`runtime.bench` on tensors on its device (GPU tensors:
each repetition waits for the collective's kernels), and rank 0 fits α–β per algorithm
(:func:`runtime.calibrate.fit_link_records`), times the model's forward/backward on its own
device for the compute fit, and writes the profile. The link class is ``intra`` when every
rank is on one node (``WORLD_SIZE == LOCAL_WORLD_SIZE``), ``inter`` otherwise; on NCCL only
the backend's own collectives run (the point-to-point algorithms are gloo/CPU).

``torchrun ... -m dpsim.cli validate scenario.yaml [--profile P] [--device cuda] ...``: the
ranks torchrun started are the cluster, so every case must have that shape (``cluster.nodes``
× ``workers_per_node`` = ``WORLD_SIZE``, ``workers_per_node`` = ``LOCAL_WORLD_SIZE``). Without
``--profile`` the ranks calibrate first (as above). All of it runs in one process group (the
default group cannot be created twice under one torchrun rendezvous: its store keys would
collide), so NCCL pinning (``--nccl-pin``) must be the same for every case — NCCL reads
``NCCL_ALGO``/``NCCL_PROTO`` once, when the communicator is created. Each case runs
``repeats`` times on all ranks; rank 0 gathers every rank's step timings, predicts every case
from the one profile and writes the table (:func:`runtime.validate.validate`) while the
other ranks wait at a barrier, so the job ends together.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["calibrate_distributed", "check_torchrun_shape", "torchrun_ranks", "validate_distributed"]


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
    owns_group = not dist.is_initialized()  # validate calibrates inside its own group
    if owns_group:
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
        run_bench(
            run_dir,
            plan.collectives,
            algorithms,
            plan.sizes,
            plan.reps,
            plan.warmup,
            local_world,
            dev,
            max_reps=plan.max_reps,
            budget_s=plan.point_budget_s,
        )
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
        if owns_group:
            dist.destroy_process_group()


def check_torchrun_shape(scenario: Any, world: int, local_world: int) -> None:
    """Refuse (ScenarioError naming the field) a scenario whose cluster is not the ranks torchrun started."""
    from dpsim.errors import ScenarioError

    c = scenario.cluster
    if c.workers_per_node != local_world:
        raise ScenarioError("cluster.workers_per_node", f"is {c.workers_per_node}, but torchrun started "
                            f"{local_world} processes per node (--nproc-per-node)", scenario.name)  # fmt: skip
    if c.nodes * c.workers_per_node != world:
        raise ScenarioError("cluster.nodes", f"is {c.nodes}, but torchrun started {world // local_world} "
                            f"node(s) of {local_world} ({world} ranks)", scenario.name)  # fmt: skip


def validate_distributed(
    cases: Any, out_dir: Path, *, engines: Any, profile: Path | None, plan: Any, options: Any, repeats: int,
    device: str, nccl_pin: bool = False, nccl_debug: bool = False, log: Callable[[str], None] = print,
) -> Any:  # fmt: skip
    """Run every case on every rank; rank 0 predicts and writes the validation table (others return None)."""
    import torch
    import torch.distributed as dist

    from dpsim.calibration import save_profile
    from dpsim.errors import ScenarioError
    from dpsim.records import StepResult
    from runtime.job import TrainingJob, check_supported
    from runtime.measure import aggregate
    from runtime.nccl import nccl_settings
    from runtime.train import nccl_meta, nccl_setup
    from runtime.validate import validate

    ranks = torchrun_ranks()
    if ranks is None:
        raise ValueError("not started by torchrun (RANK and WORLD_SIZE are not set)")
    rank, world, local_rank, local_world = ranks
    for case in cases:  # refuse before anything runs, on every rank alike
        check_torchrun_shape(case.scenario, world, local_world)
        check_supported(case.scenario)
    cuda = device == "cuda"
    backend = "nccl" if cuda else "gloo"
    if cuda and nccl_pin:
        pins = {tuple(sorted(nccl_settings(case.scenario).items())) for case in cases}
        if len(pins) > 1:
            raise ScenarioError("communication.algorithm", "--nccl-pin: the cases pin different NCCL settings "
                                f"({[dict(p) for p in sorted(pins)]}); NCCL reads them once per communicator: "
                                "validate them in separate runs", cases[0].scenario.name)  # fmt: skip
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    if cuda:
        torch.cuda.set_device(local_rank)
        nccl_setup(cases[0].scenario, out_dir, pin=nccl_pin, debug=nccl_debug)
    dist.init_process_group(backend)
    try:
        if profile is None:
            made = calibrate_distributed(cases[0].scenario, plan, out_dir / "profile.yaml", device, log=log)
            if made is not None:
                save_profile(made, out_dir / "profile.yaml")
            profile = out_dir / "profile.yaml"
        measured: dict[tuple[int, int], StepResult] = {}
        for index, case in enumerate(cases):
            for repeat in range(repeats):
                run_dir = out_dir / "runs" / f"case{index}-run{repeat}"
                run_dir.mkdir(parents=True, exist_ok=True)
                if rank == 0:
                    log(f"validate: {case.label} run {repeat + 1}/{repeats} on {world} ranks ({backend}, torchrun)")
                job = TrainingJob(case.scenario, options, run_dir)
                try:
                    timings = job.run()
                finally:
                    job.close()
                gathered: list[Any] = [None] * world
                dist.all_gather_object(gathered, timings)
                if rank == 0:
                    meta: dict[str, Any] = {"backend": backend, "torch_version": str(torch.__version__),
                                            "testbed": "torchrun", "algorithm": job.algorithm,
                                            "scenario_hash": case.scenario.scenario_hash(), "device": device,
                                            "precision": job.precision.label}  # fmt: skip
                    if cuda:
                        meta["nccl"] = nccl_meta(case.scenario, out_dir, pin=nccl_pin, debug=nccl_debug)
                    measured[index, repeat] = aggregate(case.scenario, dict(enumerate(gathered)),
                                                        warmup_steps=options.warmup_steps, meta=meta)  # fmt: skip
        result = None
        if rank == 0:
            result = validate(cases, out_dir, testbed="torchrun", engines=engines, profile=profile, options=options,
                              repeats=repeats, log=log, measure=lambda i, _case, r: measured[i, r])  # fmt: skip
        dist.barrier()  # the other ranks stay until rank 0 has written the table
        return result
    finally:
        dist.destroy_process_group()
