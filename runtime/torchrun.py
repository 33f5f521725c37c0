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

Bounded waits: torchrun notices a rank that dies (and stops the others), not one that hangs,
and no dpsim launcher watches these ranks. The group is created with a timeout
(:data:`GROUP_TIMEOUT_S`, or the command's ``--timeout``): a collective or barrier that waits
longer fails, and :func:`waiting` turns that failure into one line naming the rank and the
phase it was in — for a training run, the phase the job last reported (the same record the
launcher's watchdog reads).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "GROUP_TIMEOUT_S",
    "calibrate_distributed",
    "check_torchrun_shape",
    "destroy_group",
    "init_group",
    "torchrun_ranks",
    "validate_distributed",
    "waiting",
]

GROUP_TIMEOUT_S = 300.0
"""Longest wait of one collective or barrier under torchrun (the launcher's default run timeout)."""


def torchrun_ranks(environ: Mapping[str, str] | None = None) -> tuple[int, int, int, int] | None:
    """(rank, world size, local rank, local world size) when started by torchrun, else None."""
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    world = int(env["WORLD_SIZE"])
    return int(env["RANK"]), world, int(env.get("LOCAL_RANK", "0")), int(env.get("LOCAL_WORLD_SIZE", str(world)))


def init_group(backend: str, timeout_s: float = GROUP_TIMEOUT_S) -> None:
    """``init_process_group(backend)`` whose every collective and barrier waits at most ``timeout_s``."""
    import datetime

    import torch.distributed as dist

    with waiting(f"joining the {backend} group", timeout_s):
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))


def destroy_group() -> None:
    """``destroy_process_group()``, with the group's last reference dropped there.

    DDP's reducer, FSDP's state and ZeRO's optimizer hold the process group. When one of them is
    its last holder, the group's destructor — which waits for gloo's worker threads — runs where
    that object is freed, holding the GIL; a worker still returning from a Python callback (the
    comm hook's ``then``, :mod:`runtime.hooks`) needs the GIL: both wait for ever, the process idle
    (a pytest run of the test suite sat so at the call that freed a finished test's DDP). Freed
    here instead — the callers let go of their wrappers first (:meth:`runtime.job.TrainingJob.close`),
    ``gc.collect()`` frees those kept by reference cycles — the last reference goes inside
    ``destroy_process_group``, which releases the GIL while the group is destroyed.
    """
    import gc

    import torch.distributed as dist

    gc.collect()
    dist.destroy_process_group()


@contextlib.contextmanager
def waiting(phase: str | Callable[[], str], timeout_s: float = GROUP_TIMEOUT_S) -> Iterator[None]:
    """Name this rank and ``phase`` (text, or a function giving it at failure) when a collective fails inside.

    Gloo reports a timeout or a lost peer as a bare ``RuntimeError`` ("[…gloo/transport/tcp/…]
    Timed out waiting 300000ms for recv operation", "Connection closed by peer"), a store wait as
    ``DistStoreError``; these become a :class:`~runtime.launch.RankFailure` whose message says
    which rank, where, and why. Other errors (a bug) pass unchanged, traceback and all. (On NCCL
    a timed-out collective is ended by NCCL's watchdog, which aborts the process; torchrun then
    stops the job.)
    """
    from runtime.launch import RankFailure

    try:
        yield
    except RankFailure:
        raise
    except RuntimeError as exc:
        if not _distributed_failure(exc):
            raise
        ranks = torchrun_ranks()
        rank = ranks[0] if ranks is not None else None
        where = phase() if callable(phase) else phase
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RankFailure(f"rank {rank} failed while {where} ({first}); a collective waits at most "
                          f"{timeout_s:g} s for a peer that hung or died", rank, 0) from exc  # fmt: skip


_GLOO_FAILURES = ("gloo/", "Timed out", "timed out", "Connection closed", "pair closure", "Connection reset")
"""How gloo's transport errors read (it raises them as bare ``RuntimeError``)."""


def _distributed_failure(exc: RuntimeError) -> bool:
    import torch.distributed as dist

    dist_error = getattr(dist, "DistError", None)  # torch >= 2.2: store, network and backend errors
    if dist_error is not None and isinstance(exc, dist_error):
        return True
    return any(text in str(exc) for text in _GLOO_FAILURES)


def _job_phase(label: str, run_dir: Path, rank: int) -> str:
    from runtime.launch import rank_phase

    return f"{label}: {rank_phase(run_dir, rank)}"


def calibrate_distributed(
    scenario: Any,
    plan: Any,
    out: Path,
    device: str,
    *,
    log: Callable[[str], None] = print,
    timeout_s: float = GROUP_TIMEOUT_S,
) -> Any:
    """Benchmark on every rank; rank 0 returns the fitted profile (others return None). Writes nothing.

    ``timeout_s``: the longest wait of one collective (:func:`init_group`); a group made by the
    caller keeps its own.
    """
    import dataclasses

    import torch
    import torch.distributed as dist

    from dpsim.calibration import HardwareProfile, bus_bandwidth
    from runtime.bench import run as run_bench
    from runtime.calibrate import OPTIMIZER_IDLE_S, fit_link_records, measure_compute, measure_optimizer
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
        init_group("nccl" if cuda else "gloo", timeout_s)
    try:
        dev = f"cuda:{local_rank}" if cuda else "cpu"
        algorithms = ["backend"] if cuda else list(plan.algorithms)
        run_dir = out.parent / f".{out.name}.bench"
        if rank == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "bench.jsonl").unlink(missing_ok=True)
        with waiting("waiting for rank 0 to prepare the benchmarks", timeout_s):
            dist.barrier()
        if rank == 0:
            log(f"calibrate: {world} ranks ({local_world} per node) under torchrun, {'NCCL' if cuda else 'gloo'}")
        with waiting("running the collective benchmarks", timeout_s):
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
        with waiting("waiting for every rank's benchmarks", timeout_s):
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
            profile = dataclasses.replace(profile, optimizer=measure_optimizer(scenario),
                                          meta={**profile.meta, "optimizer_idle_s": OPTIMIZER_IDLE_S})  # fmt: skip
        return profile
    finally:
        if owns_group:
            destroy_group()


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
    timeout_s: float = GROUP_TIMEOUT_S,
) -> Any:  # fmt: skip
    """Run every case on every rank; rank 0 predicts and writes the validation table (others return None).

    ``timeout_s``: the longest wait of one collective or barrier (:func:`init_group`).
    """
    import torch
    import torch.distributed as dist

    from dpsim.calibration import save_profile
    from dpsim.errors import ScenarioError
    from dpsim.records import StepResult
    from runtime.job import TrainingJob, check_supported
    from runtime.measure import aggregate, ran_fields
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
    init_group(backend, timeout_s)
    try:
        if profile is None:
            made = calibrate_distributed(cases[0].scenario, plan, out_dir / "profile.yaml", device, log=log,
                                         timeout_s=timeout_s)  # fmt: skip
            if made is not None:
                save_profile(made, out_dir / "profile.yaml")
            profile = out_dir / "profile.yaml"
        measured: dict[tuple[int, int], StepResult] = {}
        for repeat in range(repeats):  # round robin over the cases, as runtime.validate.validate
            for index, case in enumerate(cases):
                run_dir = out_dir / "runs" / f"case{index}-run{repeat}"
                run_dir.mkdir(parents=True, exist_ok=True)
                if rank == 0:
                    log(f"validate: {case.label} run {repeat + 1}/{repeats} on {world} ranks ({backend}, torchrun)")
                job = TrainingJob(case.scenario, options, run_dir)
                label = f"{case.label} run {repeat + 1}"
                try:
                    with waiting(functools.partial(_job_phase, label, run_dir, rank), timeout_s):
                        timings = job.run()
                finally:
                    job.close()
                gathered: list[Any] = [None] * world
                with waiting(f"gathering the step timings of {label}", timeout_s):
                    dist.all_gather_object(gathered, timings)
                if rank == 0:
                    meta: dict[str, Any] = {"backend": backend, "torch_version": str(torch.__version__),
                                            "testbed": "torchrun", "algorithm": job.algorithm,
                                            "scenario_hash": case.scenario.scenario_hash(), "device": device,
                                            "precision": job.precision.label}  # fmt: skip
                    meta.update(ran_fields(case.scenario, job.precision.autocast, job.algorithm))
                    if cuda:
                        meta["nccl"] = nccl_meta(case.scenario, out_dir, pin=nccl_pin, debug=nccl_debug)
                    measured[index, repeat] = aggregate(case.scenario, dict(enumerate(gathered)),
                                                        warmup_steps=options.warmup_steps, meta=meta)  # fmt: skip
        result = None
        if rank == 0:
            result = validate(cases, out_dir, testbed="torchrun", engines=engines, profile=profile, options=options,
                              repeats=repeats, log=log, measure=lambda i, _case, r: measured[i, r])  # fmt: skip
        with waiting("waiting for rank 0 to write the table", timeout_s):
            dist.barrier()  # the other ranks stay until rank 0 has written the table
        return result
    finally:
        destroy_group()
