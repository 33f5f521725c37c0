"""Measure a hardware profile: collective microbenchmarks, compute per micro-batch, optimizer, reduction.

- **links**: all-reduce of several message sizes on several rank counts, per algorithm, on
  the chosen testbed (``inter``: one rank per node; ``intra``: all ranks in one node); α and
  B fitted per (link class, algorithm) by :func:`dpsim.calibration.fit_link` on the closed
  forms the engines use. The backend's own all-reduce is fitted on the ring form and stored
  as ``backend``. Other collectives (all-gather, reduce-scatter, broadcast) are measured and
  reported as bus bandwidth in ``meta``.
- **compute**: forward and backward of the scenario's model for a few micro-batch sizes in
  one process with one thread (as each rank runs), fitted ``t = t0 + t1·micro_batch``.
- **optimizer**: ``optimizer.step()`` on the model, and on single tensors of ¼, ½ and all of
  its parameters, fitted ``t = o0 + o1·parameters``.
- **reduction**: bytes/s of an in-place fp32 add (the γ of Thakur et al.'s α–β–γ model).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dpsim.analytic.collectives import Link
from dpsim.calibration import (
    CollectiveSample,
    HardwareProfile,
    LinearTime,
    bus_bandwidth,
    fit_linear_time,
    fit_link,
    samples_by_link,
)
from dpsim.scenario import Scenario
from runtime.launch import spawn_ranks
from runtime.model import build_model, synthetic_batch
from runtime.optim import build_optimizer
from runtime.testbed import LocalTestbed, Testbed

__all__ = [
    "CalibrationPlan",
    "calibrate",
    "calibrate_compute",
    "calibrate_links",
    "fit_link_records",
    "measure_compute",
    "measure_compute_concurrent",
    "measure_optimizer",
    "measure_reduction",
    "run_bench",
]


@dataclass(frozen=True)
class CalibrationPlan:
    """What to measure. Rank counts listed here are the calibration configurations."""

    ranks: Sequence[int] = (2, 4)
    sizes: Sequence[int] = (256 * 1024, 1024 * 1024, 4 * 1024 * 1024)
    algorithms: Sequence[str] = ("ring", "tree", "halving-doubling", "backend")
    collectives: Sequence[str] = ("all_reduce", "all_gather", "reduce_scatter", "broadcast")
    link_classes: Sequence[str] = ("inter",)
    micro_batches: Sequence[int] = (1, 2, 4)
    compute_workers: int = 1
    """Processes timing compute at once on this host (as many as the ranks that will share its cores)."""
    reps: int = 7
    warmup: int = 2
    timeout_s: float = 300.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.ranks or min(self.ranks) < 2:
            raise ValueError(f"rank counts must be at least 2, got {list(self.ranks)}")
        if not self.sizes or min(self.sizes) <= 0:
            raise ValueError("message sizes must be positive")


def _median_time(fn: Callable[[], object], reps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_compute(
    scenario: Scenario, micro_batches: Sequence[int], reps: int = 7, warmup: int = 2, device: str = "cpu"
) -> tuple[LinearTime, LinearTime]:
    """Forward and backward time of one micro-batch (one CPU thread, or one GPU), fitted linear in micro-batch size."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    cuda = device.startswith("cuda")

    def now() -> float:
        if cuda:  # kernels are asynchronous: a microbenchmark waits for them
            torch.cuda.synchronize()
        return time.perf_counter()

    try:
        model = build_model(scenario).to(device)
        generator = torch.Generator().manual_seed(0)
        fwd, bwd = [], []
        for mb in micro_batches:
            batch = tuple(t.to(device) for t in synthetic_batch(model, scenario, mb, generator))
            f_times, b_times = [], []
            for i in range(warmup + reps):
                t0 = now()
                loss = model.loss(batch)  # type: ignore[arg-type]
                t1 = now()
                loss.backward()
                t2 = now()
                if i >= warmup:
                    f_times.append(t1 - t0)
                    b_times.append(t2 - t1)
            fwd.append(statistics.median(f_times))
            bwd.append(statistics.median(b_times))
        return fit_linear_time(micro_batches, fwd), fit_linear_time(micro_batches, bwd)
    finally:
        torch.set_num_threads(threads)


def measure_optimizer(scenario: Scenario, reps: int = 7, warmup: int = 2) -> LinearTime:
    """``optimizer.step()`` time, linear in the parameters it updates."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t = scenario.training
        name = {"momentum": "sgd"}.get(t.optimizer, t.optimizer)
        kwargs: dict[str, Any] = {"momentum": 0.9} if t.optimizer == "momentum" else {}
        model = build_model(scenario)
        total = sum(p.numel() for p in model.parameters())
        xs, ys = [], []

        def stepper(opt: torch.optim.Optimizer) -> Callable[[], None]:
            def step() -> None:  # as in a training step: update, then reset the gradients in place
                opt.step()
                opt.zero_grad(set_to_none=False)

            return step

        for fraction in (0.25, 0.5, 1.0):
            holder = torch.nn.Linear(1, max(1, round(total * fraction)), bias=False)
            for p in holder.parameters():
                p.grad = torch.ones_like(p)
            opt, _ = build_optimizer(holder, name, t.learning_rate, t.global_batch, t.global_batch, **kwargs)
            xs.append(float(holder.weight.numel()))
            ys.append(_median_time(stepper(opt), reps, warmup))
        slope = fit_linear_time(xs, ys).per_unit_s
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        opt, _ = build_optimizer(model, name, t.learning_rate, t.global_batch, t.global_batch, **kwargs)
        whole = _median_time(stepper(opt), reps, warmup)
        return LinearTime(max(0.0, whole - slope * total), slope)
    finally:
        torch.set_num_threads(threads)


def measure_reduction(size_bytes: int = 16 * 2**20, reps: int = 7) -> float:
    """Bytes/s of the element-wise fp32 sum a reducing collective performs (one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = torch.ones(size_bytes // 4)
        b = torch.ones(size_bytes // 4)
        return size_bytes / _median_time(lambda: a.add_(b), reps, 2)
    finally:
        torch.set_num_threads(threads)


def measure_compute_concurrent(
    scenario: Scenario, micro_batches: Sequence[int], workers: int, work_dir: Path, timeout_s: float = 300.0
) -> tuple[LinearTime, LinearTime, LinearTime]:
    """Forward, backward and optimizer fits measured by ``workers`` processes at once on this host.

    Ranks of an emulated (or oversubscribed) cluster share the host's cores; timing compute
    with as many processes computing at the same time gives the per-rank compute they see.
    No communication is involved. The median over workers of each fitted term is returned.
    """
    if workers <= 1:
        fwd, bwd = measure_compute(scenario, micro_batches)
        return fwd, bwd, measure_optimizer(scenario)
    from dpsim.scenario import dump_scenario

    work_dir.mkdir(parents=True, exist_ok=True)
    scenario_file = work_dir / "compute-scenario.yaml"
    scenario_file.write_text(dump_scenario(scenario), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    outs = [work_dir / f"compute-{i}.json" for i in range(workers)]
    micro = ",".join(str(m) for m in micro_batches)
    command = [sys.executable, "-m", "runtime.calibrate", str(scenario_file)]
    procs = [subprocess.Popen([*command, str(out), micro], env=env) for out in outs]
    try:
        for proc in procs:
            if proc.wait(timeout=timeout_s) != 0:
                raise RuntimeError(f"compute calibration worker exited with status {proc.returncode}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = [json.loads(out.read_text(encoding="utf-8")) for out in outs]

    def median_fit(key: str) -> LinearTime:
        return LinearTime(statistics.median(r[key][0] for r in results), statistics.median(r[key][1] for r in results))

    return median_fit("forward"), median_fit("backward"), median_fit("optimizer")


def _compute_worker(argv: Sequence[str]) -> None:
    """``python -m runtime.calibrate SCENARIO OUT MICRO_BATCHES``: one compute-timing process."""
    from dpsim.scenario import load_scenario

    scenario_file, out, micro = argv
    scenario = load_scenario(scenario_file)
    fwd, bwd = measure_compute(scenario, [int(m) for m in micro.split(",")])
    opt = measure_optimizer(scenario)
    data = {k: [v.fixed_s, v.per_unit_s] for k, v in (("forward", fwd), ("backward", bwd), ("optimizer", opt))}
    Path(out).write_text(json.dumps(data), encoding="utf-8")


def run_bench(
    ranks: int, per_node: int, testbed: Testbed, plan: CalibrationPlan, run_dir: Path
) -> list[dict[str, Any]]:
    """Run the collective microbenchmarks with ``ranks`` ranks; return rank 0's records."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "bench.jsonl").unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "runtime.bench", "--worker", "--run-dir", str(run_dir),
        "--collectives", ",".join(plan.collectives), "--algorithms", ",".join(plan.algorithms),
        "--sizes", ",".join(str(s) for s in plan.sizes), "--reps", str(plan.reps), "--warmup", str(plan.warmup),
        "--per-node", str(per_node),
    ]  # fmt: skip
    spawn_ranks(ranks, command, testbed, run_dir, workers_per_node=per_node, timeout_s=plan.timeout_s)
    lines = (run_dir / "bench.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _testbed(kind: str, nodes: int, per_node: int, rate: float) -> Testbed:
    if kind == "emulated":
        from runtime.testbed.emulated import EmulatedCluster

        return EmulatedCluster(nodes=nodes, per_node=per_node, rate=rate)
    return LocalTestbed()


def fit_link_records(records: Sequence[dict[str, Any]]) -> tuple[dict[str, dict[str, Link]], dict[str, float]]:
    """α–β per (link class, algorithm) from benchmark records (all-reduce ones), and each fit's worst error."""
    samples = [
        CollectiveSample(r["algorithm"], r["ranks"], r["size_bytes"], r["time_s"], r["link_class"])
        for r in records
        if r["collective"] == "all_reduce"
    ]
    links: dict[str, dict[str, Link]] = {}
    fit_errors: dict[str, float] = {}
    for (link_class, algorithm), group in samples_by_link(samples).items():
        if algorithm in ("backend", "hierarchical"):  # fitted on the ring form (gloo's large-message algorithm)
            group = [CollectiveSample("ring", s.ranks, s.size_bytes, s.time_s, s.link_class) for s in group]
        if algorithm == "tree" and any(s.ranks > 2 for s in group):
            # with 2 ranks each of the two trees is a single edge and moves S/B, not the 2·S/B of
            # the double-binary-tree form, which holds from 3 ranks on: fit on those only
            group = [s for s in group if s.ranks > 2]
        fit = fit_link(group)
        links.setdefault(link_class, {})[algorithm] = fit.link
        fit_errors[f"{link_class}/{algorithm}"] = fit.max_relative_error
    return links, fit_errors


def calibrate_links(
    scenario: Scenario, plan: CalibrationPlan, testbed: str = "local", *, work_dir: Path, log: Callable[[str], None]
) -> tuple[HardwareProfile, list[dict[str, Any]]]:
    """Collective microbenchmarks and α–β fits at ``scenario``'s inter-node rate (a profile without compute)."""
    rate = scenario.cluster.inter_node.bandwidth
    records: list[dict[str, Any]] = []
    latencies: list[float] = []
    for link_class in plan.link_classes:
        for n in plan.ranks:
            nodes, per_node = (n, 1) if link_class == "inter" else (1, n)
            log(f"calibrate: {link_class} link, {n} ranks on the {testbed} testbed")
            with _testbed(testbed, nodes, per_node, rate) as tb:
                if tb.measured_latency_s is not None:
                    latencies.append(tb.measured_latency_s)
                for rec in run_bench(n, per_node, tb, plan, work_dir / f"{link_class}-{n}"):
                    rec["link_class"] = link_class
                    rec["busbw_bytes_per_s"] = bus_bandwidth(rec["size_bytes"], rec["time_s"], n)
                    records.append(rec)
    links, fit_errors = fit_link_records(records)
    labels = tuple(f"{c}: {n} ranks, all-reduce {min(plan.sizes)}-{max(plan.sizes)} B" for c in plan.link_classes
                   for n in plan.ranks)  # fmt: skip
    profile = HardwareProfile(
        name=scenario.name,
        backend="gloo",
        host=platform.node(),
        links=links,
        reduction_bandwidth=measure_reduction(),
        calibrated_on=labels,
        meta={
            "torch_version": str(torch.__version__),
            "testbed": testbed,
            "link_rate_bytes_per_s": rate if testbed == "emulated" else None,
            "measured_latency_s": statistics.median(latencies) if latencies else None,
            "fit_max_relative_error": fit_errors,
            **plan.extra,
        },
    )
    return profile, records


def calibrate_compute(
    profile: HardwareProfile, scenario: Scenario, plan: CalibrationPlan, *, work_dir: Path, log: Callable[[str], None]
) -> HardwareProfile:
    """``profile`` plus forward/backward/optimizer fits for ``scenario``'s model."""
    log(f"calibrate: compute and optimizer, {plan.compute_workers} process(es) at once, one thread each")
    forward, backward, optimizer = measure_compute_concurrent(
        scenario, plan.micro_batches, plan.compute_workers, work_dir / "compute", plan.timeout_s
    )
    label = (f"compute: {plan.compute_workers} concurrent single-process worker(s), micro-batches "
             f"{','.join(map(str, plan.micro_batches))}")  # fmt: skip
    meta = {
        **profile.meta,
        "model": f"{scenario.model.kind} {scenario.model.num_parameters:.0f} parameters",
        "compute_workers": plan.compute_workers,
        "scenario_hash": scenario.scenario_hash(),
    }
    return dataclasses.replace(
        profile,
        forward=forward,
        backward=backward,
        optimizer=optimizer,
        calibrated_on=(*profile.calibrated_on, label),
        meta=meta,
    )


def calibrate(
    scenario: Scenario,
    plan: CalibrationPlan,
    testbed: str = "local",
    *,
    work_dir: Path | None = None,
    name: str = "profile",
    log: Callable[[str], None] = print,
) -> tuple[HardwareProfile, list[dict[str, Any]]]:
    """Measure and fit a profile for ``scenario``'s model and inter-node rate; also return the raw records."""
    work = work_dir or Path(tempfile.mkdtemp(prefix="dpsim-calibrate-"))
    links, records = calibrate_links(scenario, plan, testbed, work_dir=work, log=log)
    profile = calibrate_compute(links, scenario, plan, work_dir=work, log=log)
    return dataclasses.replace(profile, name=name), records


if __name__ == "__main__":
    _compute_worker(sys.argv[1:])
