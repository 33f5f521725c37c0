"""What the runtime's old communication hook cost beside plain DDP: one rank, gloo, the same job both ways.

The runtime used to register :func:`runtime.hooks.timed_allreduce_hook` for every DDP run; with it DDP's reducer copies
each gradient into its bucket and the hook scales the bucket in a pass of its own (``buffer.mul_``), where DDP without a
hook divides while copying (``at::mul_out``). This runs one-rank :class:`runtime.job.TrainingJob` steps of an MLP
with the hook forced on and without it (the runtime's choice for ``algorithm: backend``), alternating, on one
thread, and prints the median backward (to the last bucket handed over), the backward's end (with the exposed
communication) and the step, with min-max over the steps, and the per-bucket passes the profiler sees.

    PYTHONPATH=. python benchmarks/ddp_hook_pass.py [--hidden 1024 --layers 4 --micro-batch 32 --steps 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

import runtime.job as job_module
from dpsim.scenario import scenario_from_dict
from runtime.job import JobOptions, TrainingJob
from runtime.torchrun import destroy_group

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, whole


def build(args: argparse.Namespace, hook: bool, run_dir: Path) -> TrainingJob:
    params = args.layers * (args.hidden * args.hidden + args.hidden)
    scenario = scenario_from_dict(
        {
            "name": "hook-pass",
            "model": {
                "kind": "mlp",
                "layers": args.layers,
                "hidden": args.hidden,
                "parameters": params,
                "flops_per_sample": 6 * params,
            },
            "cluster": {"nodes": 1, "device": {"peak_flops": "1 TFLOP/s", "memory": "64 GB"}},
            "training": {
                "global_batch": args.micro_batch,
                "micro_batch": args.micro_batch,
                "optimizer": "sgd",
                "precision": "fp32",
            },
            "communication": {"algorithm": "backend"},
        },
        "<benchmark>",
    )
    original = job_module.comm_hook_reason
    if hook:
        job_module.comm_hook_reason = lambda s, a: "forced (the runtime's old default)"  # type: ignore[assignment]
    try:
        return TrainingJob(scenario, JobOptions(warmup_steps=0, steps=1), run_dir)
    finally:
        job_module.comm_hook_reason = original


def main() -> None:
    parser = Parser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=whole(1, 1 << 16), default=1024)  # round 26: 0 built no model, and
    parser.add_argument("--layers", type=whole(1, 1 << 12), default=4)  # --steps 0 was a median of nothing
    parser.add_argument("--micro-batch", type=whole(1, 1 << 16), default=32)  # (StatisticsError) after 6 steps
    parser.add_argument("--steps", type=whole(1, 100_000), default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    rows: dict[bool, list[Any]] = {True: [], False: []}
    passes: dict[bool, int] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            jobs = {hook: build(args, hook, Path(tmp) / str(hook)) for hook in (True, False)}
            for hook, job in jobs.items():
                (Path(tmp) / str(hook)).mkdir(exist_ok=True)
                for i in range(3):  # warm-up, and DDP's rebuilt buckets
                    job.step(i)
                from torch.profiler import ProfilerActivity, profile

                (batch, divisor), *_ = job.micro_batches(0)
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    (job._ddp_loss(batch) / divisor).backward()
                passes[hook] = [e.name for e in prof.events()].count("aten::mul_")
            for i in range(args.steps):
                for hook in (True, False) if i % 2 == 0 else (False, True):
                    rows[hook].append(jobs[hook].step(3 + i))
            for job in jobs.values():
                job.close()
            del jobs, job
    finally:
        destroy_group()
    params = args.layers * (args.hidden * args.hidden + args.hidden)
    print(f"MLP {args.layers} x {args.hidden} ({params:,} fp32 parameters), micro-batch {args.micro_batch}, one rank, "
          f"gloo, {args.steps} steps each, alternating; ms: median (min-max)")  # fmt: skip

    def cell(values: list[float]) -> str:
        ms = [v * 1e3 for v in values]
        return f"{statistics.median(ms):7.2f} ({min(ms):.2f}-{max(ms):.2f})"

    print(f"{'DDP':<28}{'aten::mul_':>10}  {'backward':>22}{'backward + exposed':>24}{'step':>24}")
    for hook in (True, False):
        r = rows[hook]
        name = "runtime hook (old default)" if hook else "no hook (plain DDP)"
        print(f"{name:<28}{passes[hook]:>10}  {cell([s.backward_s for s in r]):>22}"
              f"{cell([s.backward_s + s.exposed_comm_s for s in r]):>24}{cell([s.step_s for s in r]):>24}")  # fmt: skip
    gain = statistics.median(s.step_s for s in rows[True]) - statistics.median(s.step_s for s in rows[False])
    print(
        f"hook - plain, median step: {gain * 1e3:+.2f} ms; one pass over the gradients reads and writes "
        f"{8 * params / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
