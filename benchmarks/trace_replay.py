"""Trace-driven gradient readiness vs the uniform-rate model: step-time error on held-out configurations.

Run: ``python benchmarks/trace_replay.py [--engine analytic|sim] [--out DIR]`` (CPU; local
loopback testbed, no root). The model is a small GPT with a large tied vocabulary, so most
gradient bytes belong to one parameter (the token embedding) whose gradient is ready only at
the very end of the backward, while its logits matmul is the first and largest piece of the
backward: the uniform model (gradients ready at a constant rate) lets those buckets start
early; the trace says they cannot.

1. ``runtime.validate.validate`` calibrates a profile from microbenchmarks only (collectives
   on 2 and 4 ranks, compute timed by as many single-thread processes as ranks) and measures
   every configuration with the runtime — none of them is used for calibration — and
   predicts it with that profile: the *uniform* prediction.
2. One training step of the model (DDP on one gloo rank) is profiled with
   ``torch.profiler`` and fed through ``dpsim calibrate --from-trace`` logic
   (:mod:`dpsim.ingest.kineto`): the measured gradient-ready curve is added to each
   configuration's profile, and the same configurations are predicted again: *trace*.

Prints per configuration the measured step time, both predictions and their errors, and
the MAPE before and after. The machine is shared and noisy: rerun to see the spread.
``--reuse DIR`` predicts again from a previous run's measurements, profile and trace (in
``DIR``) without measuring: the same measurements before and after a model change.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, one_line_errors, refuse_beside_reuse, whole
from dpsim import api
from dpsim.calibration import load_profile, save_profile
from dpsim.ingest.kineto import load_trace, ready_curve
from dpsim.scenario import CalibrationRef, load_scenario

SCENARIO = """\
name: trace-replay-gpt
model: {layers: 2, hidden: 256, heads: 4, seq_len: 16, vocab: 32768}
cluster:
  nodes: 2
  workers_per_node: 1
  device: {peak_flops: 20 GFLOP/s, memory: 8 GB}
  inter_node: {bandwidth: 1 Gbit/s, latency: 50 us}
training: {global_batch: 2, micro_batch: 1, optimizer: sgd, precision: fp32}
communication: {algorithm: ring, bucket: 4 MiB, overlap: true}
"""

CASES: list[list[tuple[str, object]]] = [
    [("cluster.nodes", 2), ("communication.bucket", "2 MiB")],
    [("cluster.nodes", 3), ("communication.bucket", "4 MiB")],
    [("cluster.nodes", 3), ("communication.bucket", "16 MiB")],
]
STEP_TIMEOUT_S = 900.0
"""Patience for a rank's next phase: on a loaded shared 2-core machine starting torch in every rank is slow."""


def record_trace(scenario_path: Path, out: Path) -> None:
    """Profile one DDP step of the scenario's model on one gloo rank (after two warm-up steps)."""
    import torch
    import torch.distributed as dist

    from runtime.torchrun import destroy_group

    scenario = load_scenario(scenario_path)
    torch.set_num_threads(1)
    store = dist.FileStore(str(out.with_suffix(".store")), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        _profile_step(scenario, out)  # its DDP is freed on return, before the group (runtime.torchrun.destroy_group)
    finally:
        destroy_group()


def _profile_step(scenario: Any, out: Path) -> None:
    import torch
    from torch.nn.parallel import DistributedDataParallel
    from torch.profiler import ProfilerActivity, profile

    from runtime.model import build_model, synthetic_batch

    model = build_model(scenario)
    ddp = DistributedDataParallel(model, bucket_cap_mb=scenario.communication.bucket / 2**20)
    batch = synthetic_batch(model, scenario, scenario.training.micro_batch, torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(ddp.parameters(), lr=0.01)

    def step() -> None:
        logits = ddp(batch[0])
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[1].flatten()).backward()
        opt.step()
        opt.zero_grad()

    for _ in range(2):
        step()
    with profile(activities=[ProfilerActivity.CPU], with_stack=True, record_shapes=True) as prof:
        step()
    prof.export_chrome_trace(str(out))


@one_line_errors
def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", choices=["analytic", "sim"], default="analytic")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--steps", type=whole(1, 1000), default=3)
    p.add_argument("--reuse", type=Path, default=None, help="predict from this previous run's folder, no measuring")
    args = p.parse_args()
    if args.reuse is not None:
        refuse_beside_reuse(sys.argv[1:], "run", ("--engine",))  # round 27: --steps and --out were dropped
        import pandas as pd

        from runtime.validate import build_cases

        scenario_path = args.reuse / "scenario.yaml"
        missing = [n for n in ("scenario.yaml", "validation.csv", "profile.yaml") if not (args.reuse / n).is_file()]
        if missing:
            raise ScriptError(
                f"--reuse: {args.reuse} holds no {', '.join(missing)}: expected a trace_replay.py --out folder"
            )
        table = pd.read_csv(args.reuse / "validation.csv")
        _report(args, build_cases(scenario_path, [], CASES), table, args.reuse / "profile.yaml",
                args.reuse / "step-trace.json")  # fmt: skip
        return 0

    import runtime.launch
    from runtime.calibrate import CalibrationPlan
    from runtime.job import JobOptions
    from runtime.validate import build_cases, validate

    for fn in (runtime.launch.launch, runtime.launch.spawn_ranks):  # validate() does not pass the watchdog through
        if fn.__kwdefaults__ and "step_timeout_s" in fn.__kwdefaults__:
            fn.__kwdefaults__["step_timeout_s"] = STEP_TIMEOUT_S

    out = args.out or Path(tempfile.mkdtemp(prefix="dpsim-trace-replay-"))
    out.mkdir(parents=True, exist_ok=True)
    scenario_path = out / "scenario.yaml"
    scenario_path.write_text(SCENARIO, encoding="utf-8")
    trace_path = out / "step-trace.json"
    record_trace(scenario_path, trace_path)
    cases = build_cases(scenario_path, [], CASES)
    plan = CalibrationPlan(ranks=(2, 4), timeout_s=3600)
    options = JobOptions(warmup_steps=1, steps=args.steps)
    table, summary = validate(cases, out, testbed="local", engine=args.engine, plan=plan, options=options,
                              timeout_s=3600, log=lambda m: None)  # fmt: skip
    _report(args, cases, table, out / summary["profile"], trace_path)
    return 0


def _report(args: argparse.Namespace, cases: list[Any], table: Any, profile_path: Path, trace_path: Path) -> None:
    """Both predictions of every case from the one testbed profile, without and with the trace's curve."""
    step = load_trace(trace_path)
    curve = ready_curve(step.gradients, step.backward_s)
    print(f"trace: {len(step.layers)} layers, backward {step.backward_s * 1e3:.1f} ms, {len(step.gradients)} gradients")
    print("gradient bytes ready → backward elapsed: " + ", ".join(f"{x:.2f}→{y:.2f}" for x, y in curve))
    traced = profile_path.with_name(profile_path.name.replace(".yaml", "-trace.yaml"))
    save_profile(dataclasses.replace(load_profile(profile_path), gradient_ready=curve), traced)
    print(f"\n{'configuration':<26}{'measured ms':>12}{'uniform ms':>11}{'error':>8}{'trace ms':>10}{'error':>8}"
          f"{'exposed comm ms: measured':>27}{'uniform':>9}{'trace':>8}")  # fmt: skip
    errors_before, errors_after = [], []
    for case, (_, row) in zip(cases, table.iterrows(), strict=True):
        results = []
        for path in (profile_path, traced):
            scenario = case.scenario.model_copy(deep=True)
            scenario.calibration = CalibrationRef(profile=str(path))
            results.append(api.run(scenario, engine=args.engine))
        uniform, trace = results
        measured, before, after = row["measured_step_time_s"], uniform.step_time_s, trace.step_time_s
        errors_before.append(abs(before / measured - 1))
        errors_after.append(abs(after / measured - 1))
        print(f"{case.label:<26}{measured * 1e3:>12.1f}{before * 1e3:>11.1f}{100 * (before / measured - 1):>7.1f}%"
              f"{after * 1e3:>10.1f}{100 * (after / measured - 1):>7.1f}%{row['measured_exposed_comm_s'] * 1e3:>27.1f}"
              f"{uniform.exposed_comm_s * 1e3:>9.1f}{trace.exposed_comm_s * 1e3:>8.1f}")  # fmt: skip
        print(f"{'':<26}compute ms: measured {row['measured_compute_s'] * 1e3:.1f}, uniform "
              f"{uniform.compute_s * 1e3:.1f}, trace {trace.compute_s * 1e3:.1f}; optimizer measured "
              f"{row['measured_optimizer_s'] * 1e3:.1f}, predicted {uniform.optimizer_s * 1e3:.1f}")  # fmt: skip
    n = len(errors_before)
    print(
        f"\nMAPE step time ({args.engine}): uniform {100 * sum(errors_before) / n:.1f} %, "
        f"trace-driven {100 * sum(errors_after) / n:.1f} % over {n} configurations ({profile_path.parent})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
