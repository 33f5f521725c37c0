"""Collective microbenchmarks (one process per rank): time all-reduce and friends over message sizes.

Each measurement: a barrier, then the collective, timed on every rank; the slowest rank's
time counts (a collective ends when its last rank ends), and the median over repetitions
after warm-up is reported, with the median CPU time a rank spent (``cpu_s``). Rank 0
writes one JSON line per (collective, algorithm, size)
to ``bench.jsonl`` in the run directory. Started by :func:`runtime.calibrate.run_bench` via
``python -m runtime.bench --worker ...`` under a testbed, or by torchrun.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from runtime.cli_args import number_option, runtime_parser, whole_option, whole_within
from runtime.collectives import all_reduce

__all__ = ["COLLECTIVES", "main", "median_uncertainty", "time_collective"]

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "broadcast")
"""Collectives benchmarked; only all-reduce has point-to-point algorithms, the others use the backend."""


def host_busy_s() -> float | None:
    """CPU seconds the whole host has been busy since boot (``/proc/stat``: all but idle and iowait), or None.

    Host-wide on purpose: on the emulated testbed the kernel's network work (TCP, veth, bridge,
    shaper — much of it in softirq, charged to no rank) runs on the cores the ranks share.
    """
    from runtime.hostload import cpu_ticks

    try:
        ticks = cpu_ticks()
        return (sum(ticks.values()) - ticks["idle"] - ticks["iowait"]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, KeyError):
        return None


def median_uncertainty(times: Sequence[float]) -> float:
    """Half width of a 95 % interval of the median of ``times``, relative to it (inf below 3 samples).

    The median's standard error is ``1.253·σ/√n`` for normal samples; σ is estimated robustly
    from the interquartile range (``IQR/1.349``), so one outlier does not inflate it:
    ``1.96 · 1.253 · IQR / (1.349 · √n)`` over the median.
    """
    if len(times) < 3:
        return math.inf
    q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
    median = statistics.median(times)
    return 1.96 * 1.253 * (q3 - q1) / 1.349 / math.sqrt(len(times)) / median if median > 0 else math.inf


def time_collective(
    op: Callable[[], None], reps: int, warmup: int, device: str = "cpu", *, max_reps: int | None = None,
    target: float = 0.03, budget_s: float = 0.0,
) -> tuple[list[float], list[float], list[float]]:  # fmt: skip
    """Per repetition: the time of ``op`` on the slowest rank, the CPU time per rank (mean over ranks), and
    the host's busy CPU seconds (rank 0's reading of :func:`host_busy_s`; empty when unavailable).

    Every repetition starts at a barrier; a collective ends when its last rank ends (on GPUs
    when its kernels have finished). The CPU time (``time.process_time``: all threads of the
    process, gloo's included) is what a rank's communication costs its own process; the host's
    busy time also counts the kernel's network work.

    After ``reps`` repetitions more follow, up to ``max_reps``, while the median is uncertain
    by more than ``target`` (:func:`median_uncertainty`) and the repetitions after the first
    ``reps`` have taken less than ``budget_s``. Every rank sees the same slowest-rank times, so
    all decide alike without communicating.
    """
    if device != "cpu":
        op = _synchronised(op)
    for _ in range(warmup):
        op()
    times: list[float] = []
    cpus: list[float] = []
    busy: list[float] = []
    stats = torch.zeros(2, dtype=torch.float64, device=device)  # NCCL reduces device tensors only
    while len(times) < reps or (
        len(times) < (max_reps or reps) and sum(times[reps:]) < budget_s and median_uncertainty(times) > target
    ):
        dist.barrier()
        busy0 = host_busy_s()
        start, cpu = time.perf_counter(), time.process_time()
        op()
        stats[0] = time.perf_counter() - start
        stats[1] = time.process_time() - cpu
        slowest = stats[:1].clone()
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        busy1 = host_busy_s()  # after the slowest rank ended (the MAX all-reduce waits for it)
        cpu_sum = stats[1:].clone()
        dist.all_reduce(cpu_sum)
        times.append(float(slowest[0]))
        cpus.append(float(cpu_sum[0]) / dist.get_world_size())
        if busy0 is not None and busy1 is not None:
            busy.append(busy1 - busy0)
    return times, cpus, busy


BUSY_SIDE = 256
"""Side of the square fp32 matrices the busy loop multiplies (about a millisecond per product on one core)."""


def time_busy_all_reduce(x: torch.Tensor, reps: int, warmup: int) -> dict[str, Any]:
    """gloo's own all-reduce of ``x`` while this rank computes, as DDP's overlap: per repetition the slowest
    rank's time (``busy_times_s``) and the compute done meanwhile (``busy_compute_s``: the mean over ranks of
    the products finished, in seconds of products run with every rank computing and nothing communicated, that
    wall time a mean over ranks too).

    Every repetition starts at a barrier; the all-reduce is posted asynchronously (gloo's threads run it)
    and the main thread multiplies ``BUSY_SIDE``² matrices (one thread, as a training rank's backward)
    until it has completed — the communication never runs without the compute.

    The same account in CPU time, which other work on the host hardly stretches: per repetition the
    products finished (``busy_products``) and the main thread's CPU seconds (``busy_cpu_s``), both means
    over ranks, and one product's CPU seconds alone (``busy_product_cpu_s``: the least of 5 blocks of 10).
    """
    a = torch.randn(BUSY_SIDE, BUSY_SIDE)
    b = torch.randn(BUSY_SIDE, BUSY_SIDE)
    out = torch.empty(BUSY_SIDE, BUSY_SIDE)
    times: list[float] = []
    products: list[float] = []
    cpus: list[float] = []
    stats = torch.zeros(3, dtype=torch.float64)
    world = dist.get_world_size()
    for _ in range(10):  # warm-up: the first products pay the math library's set-up
        torch.mm(a, b, out=out)
    dist.barrier()
    start, blocks = time.perf_counter(), []
    for _ in range(5):  # the product alone, every rank at once, no communication: 5 blocks of 10
        cpu = time.thread_time()
        for _ in range(10):
            torch.mm(a, b, out=out)
        blocks.append((time.thread_time() - cpu) / 10)
    # a product's time alone (wall) and its CPU time (the block least disturbed: other work on the host costs CPU
    # time too, in caches), both means over the ranks as the products counted below are: one rank's wall time
    # against another's CPU time compared ranks that shared the cores unequally (a rank's thread time never
    # exceeds its own wall time)
    price = torch.tensor([(time.perf_counter() - start) / 50, min(blocks)], dtype=torch.float64)
    dist.all_reduce(price)
    alone = float(price[0]) / world
    for i in range(warmup + reps):
        dist.barrier()
        start, cpu = time.perf_counter(), time.thread_time()
        work = dist.all_reduce(x, async_op=True)
        done = 0
        while not work.is_completed():
            torch.mm(a, b, out=out)
            done += 1
        work.wait()
        stats[0] = time.perf_counter() - start
        stats[1] = done
        stats[2] = time.thread_time() - cpu
        slowest = stats[:1].clone()
        dist.all_reduce(slowest, op=dist.ReduceOp.MAX)
        count = stats[1:].clone()
        dist.all_reduce(count)
        if i >= warmup:
            times.append(float(slowest[0]))
            products.append(float(count[0]) / world)
            cpus.append(float(count[1]) / world)
    return {"busy_times_s": times, "busy_compute_s": [p * alone for p in products], "busy_products": products,
            "busy_cpu_s": cpus, "busy_product_cpu_s": float(price[1]) / world}  # fmt: skip


def _synchronised(op: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        op()
        torch.cuda.synchronize()

    return run


def _op(
    collective: str, algorithm: str, size_bytes: int, per_node: int, device: str = "cpu"
) -> Callable[[], None] | None:
    world = dist.get_world_size()
    numel = max(world, size_bytes // 4)
    x = torch.ones(numel, dtype=torch.float32, device=device)
    if collective == "all_reduce":
        return lambda: all_reduce(x, algorithm, per_node=per_node)
    if algorithm != "backend":
        return None
    if collective == "broadcast":
        return lambda: dist.broadcast(x, src=0)
    shard = numel // world
    if collective == "all_gather":
        out = torch.empty(shard * world, device=device)
        part = torch.ones(shard, device=device)
        return lambda: dist.all_gather_into_tensor(out, part)
    if collective == "reduce_scatter":
        full = torch.ones(shard * world, device=device)
        part = torch.empty(shard, device=device)
        return lambda: dist.reduce_scatter_tensor(part, full)
    return None


def run(
    run_dir: Path, collectives: Sequence[str], algorithms: Sequence[str], sizes: Sequence[int], reps: int, warmup: int,
    per_node: int, device: str = "cpu", max_reps: int | None = None, budget_s: float = 0.0, busy: bool = False,
) -> None:  # fmt: skip
    rank, world = dist.get_rank(), dist.get_world_size()
    out = run_dir / "bench.jsonl"
    for collective in collectives:
        for algorithm in algorithms:
            for size in sizes:
                op = _op(collective, algorithm, size, per_node, device)
                if op is None:
                    continue
                # progress for the launcher's watchdog (and its message if this one hangs)
                (run_dir / f"rank{rank}.phase").write_text(f"bench {collective} {algorithm} {size} B", encoding="utf-8")
                try:
                    times, cpus, busy_s = time_collective(op, reps, warmup, device, max_reps=max_reps,
                                                          budget_s=budget_s)  # fmt: skip
                    loaded: dict[str, Any] | None = None
                    if busy and collective == "all_reduce" and algorithm == "backend" and device == "cpu":
                        numel = max(world, size // 4)
                        loaded = time_busy_all_reduce(torch.ones(numel), reps, warmup)
                except (RuntimeError, NotImplementedError) as exc:  # e.g. a collective gloo lacks
                    if rank == 0:
                        print(f"skipped {collective}/{algorithm}: {exc}".splitlines()[0], flush=True)
                    dist.barrier()
                    continue
                if rank == 0:
                    record = {
                        "collective": collective, "algorithm": algorithm, "ranks": world, "per_node": per_node,
                        "size_bytes": max(world, size // 4) * 4, "time_s": statistics.median(times), "times_s": times,
                        "cpu_s": statistics.median(cpus), "median_uncertainty": median_uncertainty(times),
                    }  # fmt: skip
                    if busy_s:
                        record["host_busy_s"] = statistics.median(busy_s)
                    if loaded is not None:  # the same all-reduce while every rank computes (``--busy``)
                        record.update(loaded)
                        record["busy_time_s"] = statistics.median(loaded["busy_times_s"])
                    with out.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(record) + "\n")


RENDEZVOUS_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
"""What ``runtime.launch.spawn_ranks`` sets for each rank it starts, and torch's ``env://`` rendezvous reads."""
MAX_SIZE_BYTES = 10**15 - 1
"""Largest ``--sizes`` entry (15 digits): a rank allocates the message before it times it."""


def options_problem(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """What a rank of the benchmark cannot run with, in words naming the option or variable (None: nothing). Run by
    hand outside its launcher, ``python -m runtime.bench`` was torch's ``ValueError`` traceback from the rendezvous
    (``RANK expected``); ``--reps 0`` a median of nothing after the group had formed; ``--sizes x`` a ``ValueError``."""
    if not all(whole_within(s, 1, MAX_SIZE_BYTES) for s in args.sizes.split(",")):
        return f"--sizes: expected comma-separated sizes in bytes >= 1, got {args.sizes!r}"
    for option, value, low in (
        ("--reps", args.reps, 1),
        ("--warmup", args.warmup, 0),
        ("--per-node", args.per_node, 1),
    ):
        if value < low:
            return f"{option}: expected a whole number >= {low}, got {value}"
    if args.max_reps is not None and args.max_reps < args.reps:
        return f"--max-reps: expected at least --reps ({args.reps}), got {args.max_reps}"
    if args.budget_s < 0:
        return f"--budget-s: expected seconds >= 0, got {args.budget_s}"
    if args.backend not in ("gloo", "nccl"):
        return f"--backend: expected gloo or nccl, got {args.backend!r}"
    missing = [name for name in RENDEZVOUS_VARIABLES if not environ.get(name)]
    if missing:
        return (f"{', '.join(missing)} not set: python -m runtime.bench is a rank its launcher starts "
                "(dpsim calibrate, runtime.calibrate.run_bench)")  # fmt: skip
    return None


def main(argv: Sequence[str] | None = None) -> int:
    p = runtime_parser("python -m runtime.bench")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--collectives", default="all_reduce")
    p.add_argument("--algorithms", default="ring")
    p.add_argument("--sizes", default="1048576")
    p.add_argument("--reps", type=whole_option, default=5)
    p.add_argument("--warmup", type=whole_option, default=2)
    p.add_argument("--max-reps", type=whole_option, default=None, help="repetitions while the median is uncertain")
    p.add_argument("--budget-s", type=number_option, default=0.0, help="seconds of extra repetitions per point")
    p.add_argument("--per-node", type=whole_option, default=1)
    p.add_argument("--backend", default="gloo")
    p.add_argument("--busy", action="store_true", help="also time gloo's all-reduce while every rank computes")
    args = p.parse_args(argv)
    if (problem := options_problem(args, os.environ)) is not None:
        print(f"error: <command line>: {problem}", file=sys.stderr)
        return 2
    from runtime.launch import die_with_launcher

    die_with_launcher()
    torch.set_num_threads(1)
    dist.init_process_group(args.backend)
    try:
        run(
            args.run_dir, args.collectives.split(","), args.algorithms.split(","),
            [int(s) for s in args.sizes.split(",")], args.reps, args.warmup, args.per_node,
            max_reps=args.max_reps, budget_s=args.budget_s, busy=args.busy,
        )  # fmt: skip
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
