"""Plain PyTorch DDP over gloo on the emulated cluster: an independent check of what the runtime measures.

dpsim's runtime (``python -m runtime``) trains through its own job, hooks and timing points, and
``dpsim validate`` only shows that the model predicts *that*. This harness trains the way a plain
PyTorch user would, with nothing but torch, and is timed with the estimator the runtime reports, so
the two can be compared on the same emulated cluster.

The training loop (``--worker``, one process per rank; it imports no ``dpsim`` or ``runtime`` module
and records that it did not: ``foreign_modules``):

- ``nn.Sequential`` of ``layers`` square ``nn.Linear(hidden, hidden)`` with ReLU between them,
  MSE loss on synthetic vectors drawn once before the first step (not timed);
- ``torch.nn.parallel.DistributedDataParallel`` with its defaults: ``bucket_cap_mb`` not passed
  (25 MiB, first bucket 1 MiB) unless ``--bucket-cap-mb`` is given, ``gradient_as_bucket_view``
  False, no communication hook — gloo's own all-reduce, gradients divided by the world size by
  DDP's reducer; ``no_sync()`` on all but the last of ``--accumulation`` micro-batches;
- ``torch.optim`` ``sgd``/``momentum`` (SGD, momentum 0.9)/``adam``/``adamw`` with their defaults,
  and ``optimizer.zero_grad()`` (``set_to_none=True``) at the start of each step;
- each step starts at a ``dist.barrier()``; ``step_s`` runs from the barrier's return to the end
  of ``optimizer.step()`` on that rank (``forward_s``; ``backward_s``, which includes DDP's wait for
  its all-reduces, since plain DDP has no hook to tell compute from communication; ``optimizer_s``).

The launcher puts rank r in node ``r // per_node``'s namespace of an
:class:`~runtime.testbed.emulated.EmulatedCluster` (the runtime's network set-up: namespaces, veth,
tbf both ways; only that is reused) with ``OMP_NUM_THREADS=1``, as torchrun sets it with more than
one process per node, and the environment torchrun gives (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``, ``GLOO_SOCKET_IFNAME``).

The record (:func:`summarise`) uses the runtime's estimator (:func:`runtime.measure.aggregate`):
per measured step the mean over ranks of ``step_s``, then the median over steps
(``step_time_s``), with ``step_time_min_s``/``step_time_max_s`` and the half width of a normal
95 % interval (``step_time_ci95_s``); ``forward_s``/``backward_s`` are the medians of the per-step
mean over ranks and ``optimizer_s`` of the per-step median over ranks, as there.

One run (root)::

    python benchmarks/plain_ddp.py --nodes 4 --per-node 1 --rate "1 Gbit/s" --layers 4 --hidden 1024 \\
        --micro-batch 48 --optimizer adam [--bucket-cap-mb 1] [--out run.json]

The A/B (root, in a quiet window, nothing else running on the host: the README's protocol): for each of the
``CASES`` — plain DDP and the runtime (``algorithm: backend``) interleaved, on the same cluster,
``--repeats`` times round robin — and ``dpsim run`` of the same scenario with a saved profile (by
default ``benchmarks/results/validation/profile.yaml``; its calibration ran 2-layer MLPs on
micro-batches 4–256 and links at 150/450/1200 Mbit/s, none of these cases)::

    python benchmarks/plain_ddp.py --ab [--repeats 3] [--out benchmarks/results/plain_ddp]
    python benchmarks/plain_ddp.py --reuse benchmarks/results/plain_ddp   # table again, no root
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, need_root, refuse_beside_reuse, unlaunched_worker, whole
from benchmarks.script_cli import number as finite_number

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw")


def _worker_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = Parser(prog="plain_ddp.py --worker")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--layers", type=whole(1, 1 << 20), default=4)
    p.add_argument("--hidden", type=whole(1, 1 << 20), default=1024)
    p.add_argument("--micro-batch", type=whole(1, 1 << 20), default=48)
    p.add_argument("--accumulation", type=whole(1, 1 << 20), default=1)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--lr", type=finite_number(0, 1e6), default=1e-3)
    p.add_argument("--bucket-cap-mb", type=finite_number(1e-6, 1e6), default=None)
    p.add_argument("--warmup-steps", type=whole(0, 100_000), default=1)
    p.add_argument("--steps", type=whole(1, 100_000), default=5)
    p.add_argument("--seed", type=whole(0, (1 << 32) - 1), default=0)
    p.add_argument("--no-barrier", action="store_true", help="no barrier before a step (a diagnostic variant)")
    p.add_argument("--keep-grads", action="store_true",
                   help="zero_grad(set_to_none=False), as the runtime did (a diagnostic variant)")  # fmt: skip
    p.add_argument("--python-hook", action="store_true",
                   help="torch's Python all-reduce hook, default_hooks.allreduce_hook (diagnostic)")  # fmt: skip
    return p.parse_args(argv)


def worker(argv: Sequence[str] | None = None) -> None:
    """One rank: plain DDP, nothing of dpsim. Writes ``rank<r>.json`` (its steps) into ``--run-dir``."""
    import contextlib

    import torch
    import torch.distributed as dist
    from torch import nn

    args = _worker_args(argv)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    _, model, optimizer, batches = build_job(args, rank)
    if args.python_hook:
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        model.register_comm_hook(None, default_hooks.allreduce_hook)
    steps = []
    clock = time.perf_counter
    for index in range(args.warmup_steps + args.steps):
        if not args.no_barrier:
            dist.barrier()
        t0 = clock()
        optimizer.zero_grad(set_to_none=not args.keep_grads)
        forward = backward = 0.0
        for i, (x, y) in enumerate(batches):
            with model.no_sync() if i < len(batches) - 1 else contextlib.nullcontext():
                a = clock()
                loss = nn.functional.mse_loss(model(x), y)
                b = clock()
                loss.backward()
                forward, backward = forward + b - a, backward + clock() - b
        t3 = clock()
        optimizer.step()
        end = clock()
        steps.append({"step": index, "rank": rank, "step_s": end - t0, "forward_s": forward,
                      "backward_s": backward, "optimizer_s": end - t3, "start": t0})  # fmt: skip
    foreign = sorted(m for m in sys.modules if m.split(".")[0] in ("dpsim", "runtime"))
    out = {"rank": rank, "world_size": dist.get_world_size(), "torch_version": str(torch.__version__),
           "foreign_modules": foreign, "steps": steps}  # fmt: skip
    partial = args.run_dir / f"rank{rank}.json.partial"
    partial.write_text(json.dumps(out), encoding="utf-8")
    partial.replace(args.run_dir / f"rank{rank}.json")  # whole: the launcher takes its existence as "measured"
    del model, optimizer  # the DDP before the group (see runtime.torchrun.destroy_group)
    dist.destroy_process_group()


def build_job(args: argparse.Namespace, rank: int) -> tuple[Any, Any, Any, list[tuple[Any, Any]]]:
    """The worker's job: (the ``nn.Sequential``, its DDP wrapper, the optimizer, the micro-batches ``(x, y)``)."""
    import torch
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    torch.manual_seed(args.seed)
    mods: list[nn.Module] = []
    for i in range(args.layers):
        mods.append(nn.Linear(args.hidden, args.hidden))
        if i < args.layers - 1:
            mods.append(nn.ReLU())
    net = nn.Sequential(*mods)
    model = DistributedDataParallel(
        net, **({} if args.bucket_cap_mb is None else {"bucket_cap_mb": args.bucket_cap_mb})
    )
    params = model.parameters()
    optimizer = {
        "sgd": lambda: torch.optim.SGD(params, lr=args.lr),
        "momentum": lambda: torch.optim.SGD(params, lr=args.lr, momentum=0.9),
        "adam": lambda: torch.optim.Adam(params, lr=args.lr),
        "adamw": lambda: torch.optim.AdamW(params, lr=args.lr),
    }[args.optimizer]()
    generator = torch.Generator().manual_seed(args.seed * 1_000_003 + rank)
    batches = [
        (torch.randn(args.micro_batch, args.hidden, generator=generator),
         torch.randn(args.micro_batch, args.hidden, generator=generator))
        for _ in range(args.accumulation)
    ]  # fmt: skip
    return net, model, optimizer, batches


def _spread(values: Sequence[float]) -> dict[str, float]:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "ci95": 1.96 * sd / len(values) ** 0.5}  # fmt: skip


def summarise(ranks: Sequence[dict[str, Any]], warmup_steps: int) -> dict[str, Any]:
    """The runtime's estimator over the ranks' step records (module docstring)."""
    by_rank = {r["rank"]: {s["step"]: s for s in r["steps"]} for r in ranks}
    common = set.intersection(*(set(s) for s in by_rank.values()))
    measured = sorted(s for s in common if s >= warmup_steps)
    if not measured:
        raise RuntimeError(f"no measured step completed on all ranks (warm-up {warmup_steps})")
    mean, med = statistics.mean, statistics.median
    per_step = [[by_rank[r][s] for r in sorted(by_rank)] for s in measured]
    step = _spread([mean(t["step_s"] for t in rows) for rows in per_step])
    return {
        "step_time_s": step["median"],
        "step_time_min_s": step["min"],
        "step_time_max_s": step["max"],
        "step_time_ci95_s": step["ci95"],
        "forward_s": med(mean(t["forward_s"] for t in rows) for rows in per_step),
        "backward_s": med(mean(t["backward_s"] for t in rows) for rows in per_step),
        "optimizer_s": med(med(t["optimizer_s"] for t in rows) for rows in per_step),
        "per_rank_step_time_s": {str(r): med(by_rank[r][s]["step_s"] for s in measured) for r in sorted(by_rank)},
        "steps_measured": len(measured),
        "warmup_steps": warmup_steps,
        "world_size": len(by_rank),
        "torch_version": ranks[0]["torch_version"],
        "foreign_modules": sorted({m for r in ranks for m in r["foreign_modules"]}),
    }


def launch_plain(cluster: Any, world: int, per_node: int, run_dir: Path, worker_argv: Sequence[str],
                 *, warmup_steps: int, timeout_s: float = 300.0) -> dict[str, Any]:  # fmt: skip
    """Run the worker on ``world`` ranks of ``cluster`` (a runtime testbed: placement and network only)."""
    ranks = run_workers(cluster, world, per_node, run_dir, Path(__file__), worker_argv, timeout_s=timeout_s)
    return summarise(ranks, warmup_steps)


def run_workers(cluster: Any, world: int, per_node: int, run_dir: Path, script: Path, worker_argv: Sequence[str],
                *, timeout_s: float = 300.0) -> list[dict[str, Any]]:  # fmt: skip
    """Run ``script --worker --run-dir DIR ...`` as ``world`` ranks of ``cluster``; each rank's ``rank<r>.json``.

    The environment is torchrun's (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``/``MASTER_PORT``, ...)
    with ``OMP_NUM_THREADS=1``; rank r runs in node ``r // per_node``'s namespace. A rank that fails after writing
    its results (in the process group's teardown: gloo's ``terminate called without an active exception`` was seen
    under load) does not void the measurement: it is warned about on stderr and kept as the rank's ``teardown``.
    """
    import contextlib
    import subprocess

    from runtime.launch import reserve_port

    run_dir.mkdir(parents=True, exist_ok=True)
    for old in run_dir.glob("rank*"):
        old.unlink()
    cluster.grant(run_dir)
    command = [sys.executable, str(script.resolve()), "--worker", "--run-dir", str(run_dir), *worker_argv]
    procs: list[subprocess.Popen[bytes]] = []
    teardown: dict[int, str] = {}  # ranks that failed in the process group's teardown, after their results
    with reserve_port() as port, contextlib.ExitStack() as logs:
        try:
            for rank in range(world):
                env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank % per_node),
                       "LOCAL_WORLD_SIZE": str(per_node), "MASTER_ADDR": cluster.master_addr,
                       "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1", **cluster.env(rank)}  # fmt: skip
                log = logs.enter_context((run_dir / f"rank{rank}.log").open("wb"))
                procs.append(subprocess.Popen([*cluster.prefix(rank), *command], env=env, stdout=log,
                                              stderr=subprocess.STDOUT))  # fmt: skip
            deadline = time.monotonic() + timeout_s
            measured = None  # when every rank had written its results (what follows is the group's teardown)
            while any(p.poll() is None for p in procs):
                if measured is None and all(_wrote_results(run_dir, r) for r in range(world)):
                    measured = time.monotonic()
                failed = [r for r, p in enumerate(procs) if p.returncode not in (None, 0)]
                failed = [r for r in failed if not _wrote_results(run_dir, r)]
                late = measured is not None and time.monotonic() > measured + TEARDOWN_GRACE_S
                if failed or time.monotonic() > deadline:
                    rank = failed[0] if failed else next(r for r, p in enumerate(procs) if p.poll() is None)
                    why = f"exited with {procs[rank].returncode}" if failed else f"still running after {timeout_s:g} s"
                    raise RuntimeError(f"{script.name}: rank {rank} {why}: {_log_tail(run_dir, rank)}")
                if late:
                    break  # results are complete; a rank stuck in teardown is killed below and reported
                time.sleep(0.05)
            for rank, p in enumerate(procs):
                if p.poll() is None:
                    p.kill()
                    p.wait()
                if p.returncode != 0 and not _wrote_results(run_dir, rank):
                    tail = _log_tail(run_dir, rank)
                    raise RuntimeError(f"{script.name}: rank {rank} exited with {p.returncode}: {tail}")
                if p.returncode != 0:
                    teardown[rank] = f"exited with {p.returncode} after writing its results: {_log_tail(run_dir, rank)}"
                    print(f"{script.name}: warning: rank {rank} {teardown[rank]}", file=sys.stderr)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
    ranks = [json.loads((run_dir / f"rank{r}.json").read_text(encoding="utf-8")) for r in range(world)]
    for rank, why in teardown.items():
        ranks[rank]["teardown"] = why
    return ranks


TEARDOWN_GRACE_S = 30.0
"""How long the launcher waits for the ranks to leave once all have written their results."""


def _wrote_results(run_dir: Path, rank: int) -> bool:
    """Rank ``rank`` wrote ``rank<r>.json`` (it does so before ``destroy_process_group``, atomically)."""
    return (run_dir / f"rank{rank}.json").exists()


def _log_tail(run_dir: Path, rank: int) -> str:
    return " | ".join((run_dir / f"rank{rank}.log").read_text(errors="replace").strip().splitlines()[-3:])


BASE = """\
name: plain-ddp-ab
model: {kind: mlp, layers: 4, hidden: 1024}
cluster:
  nodes: 2
  workers_per_node: 1
  device: {peak_flops: 50 GFLOP/s, memory: 8 GB}
  intra_node: {bandwidth: 2 GB/s, latency: 20 us}
  inter_node: {bandwidth: 1000 Mbit/s, latency: 50 us}
training: {global_batch: 96, micro_batch: 48, optimizer: adam, precision: fp32}
communication: {algorithm: backend, bucket: 25 MiB, overlap: true}
"""
"""The A/B's base: the testbed's MLP 4×1024 with Adam; 48 samples per rank (not a calibrated micro-batch)."""

NODES, PER_NODE = "cluster.nodes", "cluster.workers_per_node"
RATE, BUCKET = "cluster.inter_node.bandwidth", "communication.bucket"
CASES: list[list[tuple[str, object]]] = [
    [(NODES, 2)],
    [(NODES, 4), (BUCKET, "1 MiB")],
    [(NODES, 8)],
    [(NODES, 2), (PER_NODE, 2)],
    [(NODES, 3), (PER_NODE, 2), (RATE, "500 Mbit/s")],
    [(NODES, 5), (BUCKET, "1 MiB"), (RATE, "500 Mbit/s")],
]  # fmt: skip
"""2–8 ranks, 1 and 2 per node, 1000 and 500 Mbit/s, DDP's default buckets and 1 MiB ones; gloo's own all-reduce."""

MB, ACC = "training.micro_batch", "training.accumulation"
HELDOUT: list[list[tuple[str, object]]] = [
    [(NODES, 2), (MB, 32)],
    [(NODES, 3), (MB, 64), (BUCKET, "1 MiB")],
    [(NODES, 4), (BUCKET, "100 MiB")],
    [(NODES, 5), (MB, 128), (RATE, "500 Mbit/s")],
    [(NODES, 6), (MB, 32), (ACC, 2), (BUCKET, "4 MiB")],
    [(NODES, 8), (MB, 32)],
    [(NODES, 8), (BUCKET, "1 MiB"), (RATE, "500 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (MB, 256)],
    [(NODES, 3), (PER_NODE, 2), (MB, 32), (BUCKET, "8 MiB"), (RATE, "500 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (MB, 32), (ACC, 4), (BUCKET, "100 MiB")],
    [(NODES, 2), (MB, 256), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "500 Mbit/s")],
    [(NODES, 7), (MB, 96), (BUCKET, "2 MiB")],
    [(NODES, 4), (MB, 64), (ACC, 8), (RATE, "500 Mbit/s")],
]  # fmt: skip
"""The held-out check (``--case-set heldout``), what the external harness runs: plain DDP only, on MLP 4×1024 with
Adam at 1000 and 500 Mbit/s (neither a calibrated rate), 2–8 ranks, 1 and 2 per node, buckets 1–100 MiB, 32–256
samples per rank, accumulation 1–8, predicted from one profile made by ``dpsim calibrate --testbed emulated``."""

FRESH: list[list[tuple[str, object]]] = [
    [(NODES, 2), (MB, 192), (RATE, "700 Mbit/s")],
    [(NODES, 3), (MB, 48), (RATE, "700 Mbit/s")],
    [(NODES, 4), (MB, 32), (ACC, 2), (BUCKET, "2 MiB")],
    [(NODES, 5), (MB, 24), (BUCKET, "100 MiB")],
    [(NODES, 6), (MB, 48), (RATE, "700 Mbit/s")],
    [(NODES, 6), (MB, 96), (BUCKET, "1 MiB"), (RATE, "500 Mbit/s")],
    [(NODES, 7), (MB, 32), (ACC, 4)],
    [(NODES, 8), (MB, 64), (BUCKET, "8 MiB"), (RATE, "700 Mbit/s")],
    [(NODES, 8), (MB, 24), (ACC, 2)],
    [(NODES, 2), (PER_NODE, 2), (MB, 64), (ACC, 2), (BUCKET, "4 MiB"), (RATE, "700 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (MB, 48)],
    [(NODES, 4), (PER_NODE, 2), (MB, 24), (BUCKET, "2 MiB"), (RATE, "500 Mbit/s")],
]  # fmt: skip
"""A second held-out set (``--case-set fresh``, stop 42), none of ``HELDOUT``'s or ``CASES``' configurations: after
stop 42's model change was tuned on ``HELDOUT``'s stored runs, these are what it has not seen. Same model and
optimizer; 2–8 ranks (half of them 6–8), 1 and 2 per node, 500, 700 (no stored session ran it) and 1000 Mbit/s,
24–192 samples per rank, accumulation 1–4, buckets 1–100 MiB."""

FRESH2: list[list[tuple[str, object]]] = [
    [(NODES, 3), (MB, 80), (BUCKET, "6 MiB"), (RATE, "700 Mbit/s")],
    [(NODES, 3), (MB, 20), (ACC, 4), (RATE, "500 Mbit/s")],
    [(NODES, 4), (MB, 56), (ACC, 3), (BUCKET, "3 MiB")],
    [(NODES, 5), (MB, 40), (BUCKET, "12 MiB"), (RATE, "500 Mbit/s")],
    [(NODES, 5), (MB, 112), (BUCKET, "1 MiB")],
    [(NODES, 6), (MB, 20), (ACC, 2), (BUCKET, "50 MiB")],
    [(NODES, 7), (MB, 56), (RATE, "700 Mbit/s")],
    [(NODES, 8), (MB, 40), (BUCKET, "6 MiB"), (RATE, "500 Mbit/s")],
    [(NODES, 8), (MB, 72), (ACC, 2), (BUCKET, "3 MiB")],
    [(NODES, 2), (PER_NODE, 2), (MB, 160), (BUCKET, "16 MiB"), (RATE, "500 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (MB, 40), (ACC, 3), (BUCKET, "3 MiB"), (RATE, "700 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (MB, 56), (BUCKET, "12 MiB")],
]  # fmt: skip
"""A third held-out set (``--case-set fresh2``, stop 43), none of the other sets' configurations, with samples a rank
(20–160: 20, 40, 56, 72, 80, 112, 160) and buckets (3, 6, 12, 16, 50 MiB) no other set has: the check of a model
change against configurations no session ran before. 3–8 ranks, 1 and 2 per node, 500 / 700 / 1000 Mbit/s,
accumulation 1–4, buckets 1–50 MiB."""

CASE_SETS = {"ab": CASES, "heldout": HELDOUT, "fresh": FRESH, "fresh2": FRESH2}


VARIANTS = {
    "plain": [],
    "plain-nobarrier": ["--no-barrier"],
    "plain-keepgrads": ["--keep-grads"],
    "plain-pyhook": ["--python-hook"],
}
"""``--sides`` of the A/B besides ``runtime``: plain DDP, and diagnostic variants that each differ in one point."""


def plain_argv(scenario: Any, *, warmup_steps: int, steps: int) -> list[str]:
    """The worker's arguments for what ``scenario`` says (an MLP under DDP; 25 MiB = DDP's default, not passed)."""
    from dpsim.buckets import DEFAULT_BUCKET_BYTES

    m, t, bucket = scenario.model, scenario.training, scenario.communication.bucket
    if m.kind != "mlp" or t.zero_stage or t.precision != "fp32" or scenario.communication.algorithm != "backend":
        raise ValueError("plain DDP runs an fp32 MLP under DDP with the backend's own all-reduce")
    return [
        "--layers", str(m.layers), "--hidden", str(m.hidden), "--micro-batch", str(t.micro_batch),
        "--accumulation", str(scenario.accumulation_steps), "--optimizer", t.optimizer,
        "--warmup-steps", str(warmup_steps), "--steps", str(steps),
        *([] if bucket == DEFAULT_BUCKET_BYTES else ["--bucket-cap-mb", f"{bucket / 2**20:g}"]),
    ]  # fmt: skip


def _runtime_row(result: Any) -> dict[str, Any]:
    x = result.extra
    return {
        "step_time_s": result.step_time_s, "step_time_min_s": x["step_time_min_s"],
        "step_time_max_s": x["step_time_max_s"], "step_time_ci95_s": result.step_time_ci95_s,
        "forward_s": x["forward_s"], "backward_s": x["backward_s"] + result.exposed_comm_s,
        "optimizer_s": result.optimizer_s, "exposed_comm_s": result.exposed_comm_s, "barrier_s": result.barrier_s,
        "buckets": x["buckets"], "bucket_bytes": x["bucket_bytes"],
    }  # fmt: skip


def ab(
    out: Path,
    repeats: int,
    warmup_steps: int,
    steps: int,
    sets: Sequence[str] = (),
    only: Sequence[int] = (),
    sides: Sequence[str] = ("plain", "runtime"),
    log: Any = print,
    case_set: str = "ab",
) -> list[dict[str, Any]]:
    """Plain DDP and the runtime interleaved on one cluster per (case, repeat); every run to ``runs.jsonl``."""
    from runtime.hostload import host_load, snapshot
    from runtime.job import JobOptions
    from runtime.launch import launch, signals_as_exceptions
    from runtime.testbed.emulated import EmulatedCluster

    cases = _cases(sets, case_set)
    out.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    options = JobOptions(warmup_steps=warmup_steps, steps=steps)
    with signals_as_exceptions():
        for r in range(repeats):
            for index, case in enumerate(cases):
                if only and index not in only:
                    continue
                s, c = case.scenario, case.scenario.cluster
                with EmulatedCluster(nodes=c.nodes, per_node=c.workers_per_node, rate=c.inter_node.bandwidth) as tb:
                    order = list(sides) if (r + index) % 2 == 0 else list(reversed(sides))
                    for side in order:  # alternate which goes first: neither always meets a fresh cluster
                        work = out / "work" / f"case{index}-run{r}-{side}"
                        started, before = time.time(), snapshot()
                        if side.startswith("plain"):
                            argv = plain_argv(s, warmup_steps=warmup_steps, steps=steps)
                            argv += VARIANTS[side]
                            row = launch_plain(tb, s.world_size, c.workers_per_node, work, argv,
                                               warmup_steps=warmup_steps)  # fmt: skip
                        else:
                            row = _runtime_row(launch(s, options, tb, work, extra_meta=tb.info))
                        row = {"case": case.label, "index": index, "side": side, "repeat": r, "started": started,
                               "latency_s": tb.measured_latency_s, **row}  # fmt: skip
                        # what else ran on the host meanwhile, as the runtime records it (its ranks and the
                        # kernel's softirq network work taken out; the launcher's own CPU stays in)
                        row["host_load"] = host_load(before, snapshot())
                        row["other_cores"] = row["host_load"]["other_cores"] or 0.0
                        runs.append(row)
                        log(
                            f"{case.label:<40} repeat {r} {side:<15} {row['step_time_s'] * 1e3:8.1f} ms"
                            f"  (other work: {row['other_cores']:.2f} cores)"
                        )
                        with (out / "runs.jsonl").open("a", encoding="utf-8") as fh:
                            fh.write(json.dumps(row) + "\n")
    return runs


def _cases(sets: Sequence[str] = (), case_set: str = "ab") -> list[Any]:
    """``CASE_SETS[case_set]`` on ``BASE`` (with ``--set`` overrides on every case, e.g. a small model to try the
    pipeline)."""
    import tempfile

    from runtime.validate import build_cases

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.yaml"
        base.write_text(BASE, encoding="utf-8")
        return build_cases(base, list(sets), CASE_SETS[case_set])


def table(
    runs: Sequence[dict[str, Any]], profile: Path, sets: Sequence[str] = (), case_set: str = "ab"
) -> tuple[list[dict[str, Any]], str]:
    """Per case: each side's median run and range over repeats, their difference, and dpsim's prediction.

    Plain DDP is the reference; the runtime's columns appear where it ran (``--sides plain`` runs plain DDP only).
    Below the table: each engine's MAPE against plain DDP's median run, per repeat (each repeat's run alone) and
    the worst case, and the run-to-run spread ((max − min) / median over the repeats) per case.
    """
    from dpsim import api
    from dpsim.calibration import load_profile
    from dpsim.scenario import CalibrationRef
    from runtime.validate import calibration_overlap

    fitted = load_profile(profile)
    rows = []
    for index, case in enumerate(_cases(sets, case_set)):
        mine = [x for x in runs if x["index"] == index]
        got = {side: sorted(x["step_time_s"] for x in mine if x["side"] == side) for side in ("plain", "runtime")}
        if not got["plain"]:
            continue
        s = case.scenario.model_copy(deep=True)
        s.calibration = CalibrationRef(profile=str(profile.resolve()))
        predicted = {engine: api.run(s, engine=engine).step_time_s for engine in ("analytic", "sim")}
        plain = statistics.median(got["plain"])
        sides = [side for side in ("plain", "runtime") if got[side]]
        part = {side: {k: statistics.median(x[k] for x in mine if x["side"] == side)
                       for k in ("forward_s", "backward_s", "optimizer_s")}
                for side in sides}  # fmt: skip
        row: dict[str, Any] = {
            "case": case.label, "ranks": s.world_size, "per_node": s.cluster.workers_per_node,
            "rate_mbit_s": s.cluster.inter_node.bandwidth * 8 / 1e6, "bucket_bytes": s.communication.bucket,
            "micro_batch": s.training.micro_batch, "accumulation": s.accumulation_steps,
            "plain_s": plain, "plain_min_s": got["plain"][0], "plain_max_s": got["plain"][-1],
            "plain_spread_pct": 100 * (got["plain"][-1] - got["plain"][0]) / plain,
            "plain_by_repeat_s": {str(x["repeat"]): x["step_time_s"] for x in mine if x["side"] == "plain"},
            "other_cores_max": max(x.get("other_cores", 0.0) for x in mine),
            **{f"predicted_{e}_s": p for e, p in predicted.items()},
            **{f"error_{e}_vs_plain_pct": 100 * (p - plain) / plain for e, p in predicted.items()},
            **{f"{side}_{k}": v for side, parts in part.items() for k, v in parts.items()},
            "calibration_overlap": "; ".join(calibration_overlap(case.scenario, fitted)) or "none",
        }  # fmt: skip
        if got["runtime"]:
            runtime = statistics.median(got["runtime"])
            row.update({
                "runtime_s": runtime, "runtime_min_s": got["runtime"][0], "runtime_max_s": got["runtime"][-1],
                "runtime_vs_plain_pct": 100 * (runtime - plain) / plain,
                "ranges_overlap": got["runtime"][0] <= got["plain"][-1] and got["plain"][0] <= got["runtime"][-1],
                **{f"error_{e}_vs_runtime_pct": 100 * (p - runtime) / runtime for e, p in predicted.items()},
            })  # fmt: skip
        rows.append(row)
    both = all("runtime_s" in x for x in rows)
    head = "| case | ranks | plain ms [range] | spread |" + (" runtime ms [range] | runtime−plain |" if both else "")
    lines = [head + " analytic (vs plain) | sim (vs plain) |", "|---" * (head.count("|") + 1) + "|"]
    for x in rows:
        cells = [x["case"], str(x["ranks"]),
                 f"{x['plain_s'] * 1e3:.1f} [{x['plain_min_s'] * 1e3:.1f}–{x['plain_max_s'] * 1e3:.1f}]",
                 f"{x['plain_spread_pct']:.1f} %"]  # fmt: skip
        if both:
            cells += [f"{x['runtime_s'] * 1e3:.1f} [{x['runtime_min_s'] * 1e3:.1f}–{x['runtime_max_s'] * 1e3:.1f}]",
                      f"{x['runtime_vs_plain_pct']:+.1f} %{'' if x['ranges_overlap'] else ' (outside)'}"]  # fmt: skip
        cells += [f"{x[f'predicted_{e}_s'] * 1e3:.1f} ({x[f'error_{e}_vs_plain_pct']:+.1f} %)" for e in ENGINES]
        lines.append("| " + " | ".join(cells) + " |")
    if rows:
        for e in ENGINES:
            for ref in ("plain", "runtime") if both else ("plain",):
                errs = [x[f"error_{e}_vs_{ref}_pct"] for x in rows]
                worst = max(range(len(rows)), key=lambda i: abs(errs[i]))
                lines.append(f"{e} MAPE vs {ref}: {statistics.mean(map(abs, errs)):.2f} % (worst {errs[worst]:+.1f} %, "
                             f"{rows[worst]['case']}; mean error {statistics.mean(errs):+.2f} %)")  # fmt: skip
            repeats = sorted({k for x in rows for k in x["plain_by_repeat_s"]}, key=int)
            per_repeat = []
            for r in repeats:
                errs = [abs(x[f"predicted_{e}_s"] / x["plain_by_repeat_s"][r] - 1) * 100
                        for x in rows if r in x["plain_by_repeat_s"]]  # fmt: skip
                per_repeat.append(f"{statistics.mean(errs):.2f}")
            lines.append(f"{e} MAPE vs plain, per repeat: {' / '.join(per_repeat)} %")
        spreads = [x["plain_spread_pct"] for x in rows]
        lines.append(
            f"plain DDP run-to-run spread: median {statistics.median(spreads):.1f} %, largest {max(spreads):.1f} %"
        )
        if both:
            diffs = [abs(x["runtime_vs_plain_pct"]) for x in rows]
            lines.append(f"|runtime − plain|: mean {statistics.mean(diffs):.1f} %, worst {max(diffs):.1f} %; "
                         f"ranges overlap in {sum(x['ranges_overlap'] for x in rows)} of {len(rows)}")  # fmt: skip
    return rows, "\n".join(lines)


ENGINES = ("analytic", "sim")


def sides_table(runs: Sequence[dict[str, Any]]) -> str:
    """Per case and side: median step over repeats, and the median ratio to plain DDP in the same cluster."""
    lines = []
    for index in sorted({x["index"] for x in runs}):
        here = [x for x in runs if x["index"] == index]
        plain = {x["repeat"]: x["step_time_s"] for x in here if x["side"] == "plain"}
        cells = []
        for side in ["plain", *sorted({x["side"] for x in here} - {"plain"})]:
            mine = [x for x in here if x["side"] == side]
            ratios = [x["step_time_s"] / plain[x["repeat"]] for x in mine if x["repeat"] in plain]
            ratio = f", ×{statistics.median(ratios):.3f} of plain" if ratios and side != "plain" else ""
            cells.append(f"{side} {statistics.median(x['step_time_s'] for x in mine) * 1e3:.1f} ms{ratio}")
        lines.append(f"{here[0]['case']}: " + "; ".join(cells))
    return "\n".join(lines)


def _run_problem(run: Any, cases: int) -> str:
    """What :func:`table` and :func:`sides_table` cannot read in one ``runs.jsonl`` record ('' if nothing)."""
    if not isinstance(run, dict):
        return f"expected a run record (a JSON object), got {type(run).__name__}"

    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    if not isinstance(run.get("case"), str):
        return "case: expected the case's label (text)"
    if not (whole(run.get("index")) and 0 <= run["index"] < cases):
        return f"index: expected a case index 0..{cases - 1} (the A/B's case set has {cases}), got {run.get('index')!r}"
    if run.get("side") not in ("runtime", *VARIANTS):
        return f"side: expected runtime or {', '.join(VARIANTS)}, got {run.get('side')!r}"
    if not (whole(run.get("repeat")) and run["repeat"] >= 0):
        return f"repeat: expected a whole number >= 0, got {run.get('repeat')!r}"
    for key in ("step_time_s", "forward_s", "backward_s", "optimizer_s", "other_cores"):
        value = run.get(key, 0.0 if key == "other_cores" else None)
        if not (number(value) and value >= 0 and (value > 0 or key != "step_time_s")):
            least = "seconds > 0" if key == "step_time_s" else "at least 0"
            return f"{key}: expected a finite number of {least}, got {value!r}"
    return ""


DEFAULT_PROFILE = Path("benchmarks/results/validation/profile.yaml")
"""The profile ``--ab`` prices with unless ``--profile`` names another."""


def reuse_profile(folder: Path, summary: dict[str, Any]) -> Path:
    """The profile ``--reuse`` prices a folder's runs with when ``--profile`` is not given: the one its A/B recorded
    (``summary.json``'s ``profile``), else the folder's own ``profile.yaml``; neither found is a one-line refusal.

    ``--ab`` records the path as it was given, relative to the checkout it ran in, so a relative one is looked up
    under the folder's own checkout first (each folder above ``folder``), then under the working directory. Before,
    a folder read from another checkout (or from a sub-folder such as ``plain-ddp-2026-12-06-o/fresh``, whose
    profile sits one level up) fell back to :data:`DEFAULT_PROFILE`, an older session's profile: 118.89 % where the
    recorded profile gives 7.14 %. Earlier still ``--reuse`` always took the default (``plain-ddp-2026-12-05-j``:
    37.72 % where the A/B printed 9.10 %)."""
    saved = summary.get("profile")
    candidates: list[Path] = []
    if isinstance(saved, str) and saved:
        recorded = Path(saved)
        roots = [] if recorded.is_absolute() else [*folder.resolve().parents, Path.cwd()]
        candidates += [root / recorded for root in roots] or [recorded]
    for path in [*candidates, folder / "profile.yaml"]:
        if path.is_file():
            return path
    named = f"the profile its A/B recorded ({saved}) is not found and " if isinstance(saved, str) and saved else ""
    raise ValueError(f"--reuse {folder}: {named}{folder / 'profile.yaml'} does not exist: name one with --profile")


def read_reuse(folder: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The runs and summary an earlier ``--ab`` wrote to ``folder`` (``--reuse``), checked before the table: round 20.
    ``--ab`` writes ``summary.json`` first and appends each run to ``runs.jsonl`` as it ends, so a folder of an A/B
    that was stopped holds a last line cut short, or no plain run yet; a damaged or foreign file was a ``KeyError`` /
    ``AttributeError`` / ``ZeroDivisionError`` traceback or a JSON error that named no file. Each is one line naming
    the file (and the line); a run that is whole reads as before."""
    summary_path, runs_path = folder / "summary.json", folder / "runs.jsonl"

    def read(path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"--reuse: {path}: {exc.strerror or exc}") from None
        except ValueError as exc:  # bytes that are not UTF-8
            raise ValueError(f"--reuse: {path}: {exc}") from None

    try:
        summary = json.loads(read(summary_path))
    except json.JSONDecodeError as exc:
        raise ValueError(f"--reuse: {summary_path}: {exc}") from None
    text = read(runs_path)
    sets = summary.get("sets", []) if isinstance(summary, dict) else None
    case_set = summary.get("case_set", "ab") if isinstance(summary, dict) else None
    if not (isinstance(sets, list) and all(isinstance(s, str) for s in sets) and case_set in CASE_SETS):
        raise ValueError(
            f'--reuse: {summary_path}: expected {{"sets": [PATH=VALUE, ...], "case_set": '
            f"{' or '.join(CASE_SETS)}}} as --ab writes it"
        )
    runs, lines = [], text.splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            run = json.loads(line)
        except ValueError:
            cut = number == len(lines) and not text.endswith("\n")
            what = "cut short (the A/B stopped while writing it: delete the line, or run --ab again)"
            raise ValueError(f"--reuse: {runs_path}: line {number}: {what if cut else 'not a JSON record'}") from None
        if problem := _run_problem(run, len(CASE_SETS[case_set])):
            raise ValueError(f"--reuse: {runs_path}: line {number}: {problem}")
        runs.append(run)
    if not any(run["side"] == "plain" for run in runs):
        raise ValueError(f"--reuse: {runs_path}: no plain DDP run to compare with (the A/B stopped before its first)")
    return runs, summary


def ab_options(args: argparse.Namespace) -> tuple[list[int], list[str]]:
    """``--ab``'s case indices and sides, every ``--ab`` option checked (``ValueError`` naming it) before anything
    is written or started: round 20. Before, ``--ab`` deleted the folder's ``runs.jsonl`` and rewrote its
    ``summary.json`` first, then refused ``--sides bogus`` (or, without root, the testbed): a stored A/B was lost to
    a typo. An empty ``--sides``, ``--repeats 0`` and ``--cases`` past the case set ran nothing on every cluster it
    started; ``--cases x`` said only "invalid literal for int()"; a ``--set`` no case takes failed inside the run."""
    if args.case_set not in CASE_SETS:
        raise ValueError(f"--case-set: expected {' or '.join(CASE_SETS)}, got {args.case_set!r}")
    count = len(CASE_SETS[args.case_set])
    text = [i.strip() for i in args.cases.split(",") if i.strip()]
    if not all(i.isascii() and i.isdigit() and int(i) < count for i in text):
        raise ValueError(f"--cases: expected case indices 0..{count - 1} (--case-set {args.case_set} has {count}), "
                         f"got {args.cases!r}")  # fmt: skip
    sides = [x.strip() for x in args.sides.split(",") if x.strip()]
    if not sides or not set(sides) <= {"runtime", *VARIANTS}:
        raise ValueError(f"--sides: expected one or more of runtime, {', '.join(VARIANTS)}, got {args.sides!r}")
    if args.repeats < 1:
        raise ValueError(f"--repeats: expected at least 1, got {args.repeats}")
    _cases(args.sets, args.case_set)  # a --set no case takes: the scenario's one-line error
    return [int(i) for i in text], sides


def _check_worker_options(rest: Sequence[str]) -> None:
    """The worker's options a one-run command line passes through (``--layers``, ``--micro-batch``, ...), checked
    by the worker's own parser before any cluster starts: round 26. Before, a word (``--layers x``) or an option of
    neither parser was argparse's two-line usage, and ``--layers 0``, ``--accumulation 0``, ``--lr nan`` or
    ``--bucket-cap-mb -1`` started a cluster whose ranks then failed, a traceback after minutes."""
    if given := [a for a in rest if a in ("--worker", "--run-dir") or a.startswith("--run-dir=")]:
        raise ValueError(f"{given[0].split('=', 1)[0]}: the launcher's own option (each rank's), not one to give")
    _worker_args(["--run-dir", ".", *rest])


_AB_ONLY = ("--repeats", "--set", "--sides", "--cases", "--case-set")
"""Options only ``--ab`` reads."""

_ONE_RUN_ONLY = ("--nodes", "--per-node", "--rate", "--timeout")
"""Options only one run reads (each of ``--ab``'s cases names its own cluster)."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--worker" in argv:
        if problem := unlaunched_worker("benchmarks/plain_ddp.py"):
            print(f"error: {problem}", file=sys.stderr)
            return 2
        worker(argv)
        return 0
    p = Parser(prog="benchmarks/plain_ddp.py", description=__doc__.splitlines()[0])
    p.add_argument("--ab", action="store_true", help="the A/B against the runtime and dpsim (root)")
    p.add_argument("--reuse", type=Path, help="print the A/B table again from DIR/runs.jsonl (no root)")
    p.add_argument("--repeats", type=whole(1, 1000), default=3)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="PATH=VALUE",
                   help="--ab: override on every case (as dpsim's --set)")  # fmt: skip
    p.add_argument("--sides", default="plain,runtime", help="--ab: runtime, plain, plain-nobarrier, plain-keepgrads")
    p.add_argument("--cases", default="", help="--ab: only these case indices (e.g. 0,3)")
    p.add_argument("--case-set", default="ab",
                   help="--ab: ab (the A/B's six), heldout (the external check's 13), fresh (12 others) or fresh2 "
                        "(12 more)")  # fmt: skip
    p.add_argument("--profile", type=Path, default=None,
                   help=f"the profile that prices the runs (default {DEFAULT_PROFILE}; --reuse: the one the A/B "
                        "recorded in DIR/summary.json, else DIR/profile.yaml, else refused)")  # fmt: skip
    p.add_argument("--nodes", type=whole(1, 250), default=2)
    p.add_argument("--per-node", type=whole(1, 256), default=1)
    p.add_argument("--rate", default="1 Gbit/s")
    p.add_argument("--warmup-steps", type=whole(0, 100_000), default=1)
    p.add_argument("--steps", type=whole(1, 100_000), default=5)
    p.add_argument("--timeout", type=finite_number(1e-3, 1e6), default=300.0)
    p.add_argument("--out", help="one run: write the record here (JSON); --ab: the folder")
    try:
        args, rest = p.parse_known_args(argv)
    except SystemExit as exc:  # Parser's one line printed (or --help): the status, as every refusal returns it
        return int(exc.code or 0)
    out_text, args.out = args.out, None if args.out is None else Path(args.out)
    from dpsim.errors import ScenarioError
    from dpsim.units import UnitError, parse_bandwidth
    from runtime.testbed.emulated import RootRequired

    try:
        if args.reuse is not None:  # --reuse --ab printed the stored table and measured nothing, --bogus said nothing
            refuse_beside_reuse(argv, "A/B", ("--profile",))
            runs, saved = read_reuse(args.reuse)
            profile = args.profile or reuse_profile(args.reuse, saved)
            print(table(runs, profile, saved.get("sets", []), saved.get("case_set", "ab"))[1])
            print(sides_table(runs))
            return 0
        if args.ab:
            only, sides = ab_options(args)  # every option checked before the folder is touched (round 20)
            one_run = [o for o in _ONE_RUN_ONLY if any(a == o or a.startswith(o + "=") for a in argv)] + rest
            if one_run:  # the cases set their own clusters: --ab --nodes 4 or --ab --layers 8 was dropped unsaid
                raise ValueError(f"{one_run[0]}: one run's option; --ab runs the cases of --case-set as they are")
            out = args.out or Path("benchmarks/results/plain_ddp")
            if out.exists() and not out.is_dir():
                raise ValueError(f"--out: {str(out)!r} is a file: --ab writes a folder")
            need_root()
            (out / "runs.jsonl").unlink(missing_ok=True)
            out.mkdir(parents=True, exist_ok=True)
            (out / "summary.json").write_text(json.dumps({"sets": args.sets, "case_set": args.case_set}),
                                              encoding="utf-8")  # fmt: skip
            runs = ab(out, args.repeats, args.warmup_steps, args.steps, args.sets, only, sides, case_set=args.case_set)
            profile = args.profile or DEFAULT_PROFILE
            rows, text = table(runs, profile, args.sets, args.case_set)
            summary = {"sets": args.sets, "case_set": args.case_set, "profile": str(profile),
                       "repeats": args.repeats,
                       "warmup_steps": args.warmup_steps, "steps": args.steps, "rows": rows}  # fmt: skip
            (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
            print(text)
            print(sides_table(runs))
            return 0
        ab_only = [o for o in _AB_ONLY if any(a == o or a.startswith(o + "=") for a in argv)]
        if ab_only:  # one run would ignore them (and start an emulated cluster): refuse before anything starts
            raise ValueError(f"{ab_only[0]}: only with --ab (one run takes the worker's options)")
        _check_worker_options(rest)  # refuse a bad worker option before anything starts
        try:
            rate = parse_bandwidth(args.rate)
        except UnitError as exc:
            raise ValueError(f"--rate: {exc}") from None
        if out_text is not None:  # the record of a run of minutes is written after it: its path is checked first
            from dpsim.cli_common import check_writable, refuse_folder_name

            refuse_folder_name("--out", out_text)
            check_writable(Path(out_text), "--out", ())
        need_root()
        import tempfile

        from runtime.testbed.emulated import EmulatedCluster

        with (
            EmulatedCluster(nodes=args.nodes, per_node=args.per_node, rate=rate) as cluster,
            tempfile.TemporaryDirectory(prefix="plain-ddp-") as tmp,
        ):
            record = launch_plain(cluster, args.nodes * args.per_node, args.per_node, Path(tmp),
                                  ["--warmup-steps", str(args.warmup_steps), "--steps", str(args.steps), *rest],
                                  warmup_steps=args.warmup_steps, timeout_s=args.timeout)  # fmt: skip
        record.update({"nodes": args.nodes, "per_node": args.per_node, "link_rate_bytes_per_s": rate,
                       "measured_latency_s": cluster.measured_latency_s, "harness": "plain DDP"})  # fmt: skip
    except (RootRequired, UnitError, ValueError, OSError, ScriptError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ScenarioError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # the worker's options, refused by Parser in one line
        return int(exc.code or 0)
    text = json.dumps(record, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
