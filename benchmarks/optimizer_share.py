"""Where the optimizer's time goes on a shared host: its work (CPU time) vs the share of the cores it gets.

Issue 10's validation measured the Adam step of every configuration 1.25–1.75× above the
prediction (``per-parameter time × max(1, N/M)``). Two explanations were on the table: the
ranks share the host's memory bandwidth (M processes at one process's speed), and the step in
training starts with cold caches (the backward and the all-reduce evicted its state), while
the calibration times it alone, back to back, warm. Both would make the step's *work* larger
in training; this script separates work from share:

1. ``k`` processes (``--processes``, default 1, 2, 4) step Adam over the validated model
   (a ``--layers`` × ``--hidden`` MLP, default 4 × 768) at once from a common start, each
   reporting its median wall time and its thread's CPU time (``time.thread_time``) per
   parameter and its minor page faults per step; ``warm`` steps back to back, ``cold`` writes
   a 256 MiB buffer (beyond the last-level cache) before each step, ``fit`` steps the
   model's parameter count in tensors of 1 M after the same write, as the calibration's optimizer fit times it
   (``runtime.calibrate.measure_optimizer_fit``: ``optimizer_fit_module``, the heap kept; ``cold`` over ``fit``: what
   the model's own tensors cost beyond it), ``after-backward`` runs a forward and backward of a
   micro-batch of ``--micro-batch`` samples first, as a training step does, ``ddp-step`` the same
   through DDP on a one-rank gloo group (gradients into DDP's buckets, as a rank trains);
   ``ddp-flush`` then writes the 256 MiB buffer, and ``ddp-wait`` then idles until the next
   common 0.2 s boundary, so that all k step at the same moment after a wait, as ranks do after the
   gradient synchronisation. Each step is prepared as the calibration prepares its own
   (``runtime.calibrate.optimizer_training_step``): the gradients written afresh (the backward, or filled with
   1: stepped on the zeros ``zero_grad`` leaves, Adam's first moment goes subnormal at step 809), then the
   write or the wait. ``cpu-faults`` is the CPU time without the step's minor faults at the measured
   cost of one (``runtime.calibrate.measure_page_fault``).
   Memory-bandwidth sharing shows as CPU time per parameter growing with k; time-slicing as
   wall time growing while CPU time does not.
2. ``--runs DIR`` reads a validation's measured runs (``runs.jsonl`` of
   ``benchmarks/validate_emulated.py``): for every configuration, each rank's optimizer wall
   time per parameter times ``C/N`` (constant over N if the step is time-sliced over C cores),
   and, in records that carry it (``per_rank_optimizer_cpu_s``), the CPU time per parameter
   and the share of a core the rank got (CPU / wall); with the folder's ``profile.yaml``, the split of the step
   (:func:`split`): its CPU over the profile's optimizer fit (``cpu/fit``: the step's own work against the one the
   engines price alone) and its wall over its CPU over ``max(1, N/C)`` (``together``: 1 where all ranks step at
   once, time-sliced, as priced; below where they step apart), summarised for one-bucket and multi-bucket runs.

    python benchmarks/optimizer_share.py [--processes 1,2,4] [--runs benchmarks/results/validation]
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, number, one_line_errors, refuse_beside_reuse, whole, wholes

MODES = ("warm", "cold", "fit", "after-backward", "ddp-step", "ddp-flush", "ddp-wait")
WAIT_PERIOD_S = 0.2
"""``ddp-wait``: every process steps at the next multiple of this from the common start (idle until then)."""


def _worker(layers: int, hidden: int, micro_batch: int, mode: str, go: Path, window_s: float) -> None:
    """One process: step Adam for ``window_s`` from the common start in ``go``; print medians as JSON."""
    import torch

    from runtime.model import MLP

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = MLP(layers, hidden)
    parameters = sum(p.numel() for p in model.parameters())
    # fit: the optimizer fit's own step (runtime.calibrate.measure_optimizer_fit): as many parameters in its tensors
    from runtime.calibrate import keep_heap, optimizer_fit_module

    if mode == "fit":
        keep_heap()
    stepped = optimizer_fit_module(parameters) if mode == "fit" else model
    for p in stepped.parameters():
        p.grad = torch.ones_like(p)
    opt = torch.optim.Adam(stepped.parameters(), lr=1e-3)
    flush = torch.zeros(64 * 2**20)  # 256 MiB: more than the last-level cache
    x, y = torch.randn(micro_batch, hidden), torch.randn(micro_batch, hidden)

    wrapped: torch.nn.Module = model
    if mode.startswith("ddp-"):  # as a training rank: DDP over a one-rank gloo group, fresh buckets every backward
        from torch.nn.parallel import DistributedDataParallel

        from runtime.calibrate import _single_rank_group

        _single_rank_group()
        wrapped = DistributedDataParallel(model)

    def after() -> None:  # untimed, once the gradients are written
        if mode in ("cold", "fit", "ddp-flush"):
            flush.add_(1.0)
        elif mode == "ddp-wait" and started:
            now = time.time()
            time.sleep(WAIT_PERIOD_S - (now - started[0]) % WAIT_PERIOD_S)

    def backward() -> None:
        torch.nn.functional.mse_loss(wrapped(x), y).backward()

    # as the calibration prepares its steps: gradients written afresh (the backward, or 1), then the rest
    from runtime.calibrate import optimizer_training_step

    backs = mode in ("after-backward", "ddp-step", "ddp-flush", "ddp-wait")
    before, step = optimizer_training_step(stepped, opt, after, backward if backs else None)
    started: list[float] = []
    for _ in range(3):
        before()
        step()
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    start = float(go.read_text(encoding="utf-8"))
    started.append(start)
    while time.time() < start:
        time.sleep(0.0005)
    wall, cpu, faults = [], [], []
    while time.time() < start + window_s:
        before()
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        w0, c0 = time.perf_counter(), time.thread_time()
        step()
        w1, c1 = time.perf_counter(), time.thread_time()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
        if time.time() < start + window_s - 0.2:  # every process still busy
            wall.append(w1 - w0)
            cpu.append(c1 - c0)
    print(json.dumps({
        "wall_ns": 1e9 * statistics.median(wall) / parameters if wall else None,
        "cpu_ns": 1e9 * statistics.median(cpu) / parameters if cpu else None,
        "faults": statistics.median(faults) if faults else None,
    }), flush=True)  # fmt: skip


def concurrent(layers: int, hidden: int, micro_batch: int, mode: str, k: int, window_s: float, tmp: Path) -> dict:
    """Median over ``k`` processes stepping at once of each one's wall and CPU ns per parameter."""
    go = tmp / f"go-{mode}-{k}"
    go.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--worker", str(layers), str(hidden), str(micro_batch), mode, str(go),
               str(window_s)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) for _ in range(k)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a worker did not start")
        tmp_go = go.with_suffix(".tmp")
        tmp_go.write_text(repr(time.time() + 0.3), encoding="utf-8")
        tmp_go.replace(go)  # atomic: a worker never reads a half-written start time
        out = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return {key: statistics.median(o[key] for o in out) for key in ("wall_ns", "cpu_ns", "faults")}


def saved_runs(folder: Path, cores: int) -> None:
    """Per configuration of a saved validation: optimizer wall ns per parameter x C/N, CPU ns and share; with the
    folder's ``profile.yaml``, the step's CPU over the one the engines price alone and whether the ranks stepped
    together (:func:`split`)."""
    from dpsim.records import read_jsonl

    runs = [r for r in read_jsonl(folder / "runs.jsonl") if r.engine == "runtime"]
    for index, r in enumerate(runs, 1):  # round 30: a KeyError, StatisticsError or ZeroDivisionError traceback
        times = r.extra.get("per_rank_optimizer_s")
        if sum(r.extra.get("bucket_bytes") or []) // 4 and not (
            isinstance(times, dict) and times and statistics.median(times.values()) > 0
        ):
            got = "none" if times is None else json.dumps(times)[:40]
            raise ScriptError(
                f"--runs: {folder / 'runs.jsonl'}: runtime run {index}: extra.per_rank_optimizer_s: expected each "
                f"rank's optimizer seconds, their median > 0 (a validation's runs record them), got {got}"
            )
    alone = _profile_alone(folder / "profile.yaml")
    scaled: list[float] = []
    rows: list[tuple[int, float, float]] = []  # (buckets, cpu / fit, together) of the runs split
    print(
        f"{'ranks':>5} {'parameters':>10} {'wall ns/param (median rank)':>28} {'x C/N':>7} {'cpu ns':>7} {'share':>6}"
        + (f" {'cpu/fit':>7} {'together':>8}" if alone is not None else "")
    )
    for r in runs:
        parameters = sum(r.extra.get("bucket_bytes") or []) // 4  # fp32 gradients, every one through a bucket
        if not parameters:
            continue
        wall = statistics.median(r.extra["per_rank_optimizer_s"].values()) / parameters * 1e9
        n = r.world_size
        scaled.append(wall * cores / max(n, cores))
        cpu_by_rank = r.extra.get("per_rank_optimizer_cpu_s") or {}
        cpu = statistics.median(cpu_by_rank.values()) / parameters * 1e9 if cpu_by_rank else float("nan")
        line = f"{n:>5} {parameters:>10} {wall:>28.1f} {scaled[-1]:>7.1f} {cpu:>7.1f} {cpu / wall:>6.2f}"
        if alone is not None:
            of_fit, together = split(wall, cpu, 1e9 * alone(parameters) / parameters, n, cores)
            line += f" {of_fit:>7.2f} {together:>8.2f}"
            if math.isfinite(of_fit):
                rows.append((len(r.extra.get("bucket_bytes") or []), of_fit, together))
        print(line)
    if scaled:
        cv = statistics.pstdev(scaled) / statistics.mean(scaled)
        print(f"wall ns per parameter x C/max(N, C) over {len(scaled)} runs: median {statistics.median(scaled):.1f}, "
              f"coefficient of variation {100 * cv:.0f} %")  # fmt: skip
    for label, chosen in (
        ("one bucket", [x for x in rows if x[0] == 1]),
        ("more buckets", [x for x in rows if x[0] > 1]),
    ):
        if chosen:
            print(f"{label}: {len(chosen)} runs, CPU a step over the profile's optimizer fit median "
                  f"{statistics.median(x[1] for x in chosen):.2f} ({min(x[1] for x in chosen):.2f}-"
                  f"{max(x[1] for x in chosen):.2f}), together median {statistics.median(x[2] for x in chosen):.2f} "
                  f"({min(x[2] for x in chosen):.2f}-{max(x[2] for x in chosen):.2f})")  # fmt: skip


def split(wall_ns: float, cpu_ns: float, fit_ns: float, ranks: int, cores: int) -> tuple[float, float]:
    """The measured optimizer step split in two (ns per parameter, the median rank's): (its CPU over the profile's
    optimizer fit: the step's own work against the one the engines price alone; its wall over its CPU, over
    ``max(1, N/C)``: 1 where all N ranks step at once time-sliced on the C cores, as the engines price it
    (:meth:`dpsim.calibration.HostModel.optimizer_slowdown`), below 1 where they step apart)."""
    of_fit = cpu_ns / fit_ns if fit_ns > 0 else float("nan")
    together = wall_ns / cpu_ns / max(1.0, ranks / cores) if cpu_ns > 0 else float("nan")
    return of_fit, together


def _profile_alone(path: Path) -> Callable[[float], float] | None:
    """The optimizer step alone the profile at ``path`` prices (its fit, seconds for a parameter count), or None."""
    if not path.is_file():
        return None
    from dpsim.calibration import load_profile

    profile = load_profile(path)
    return profile.optimizer_time if profile.optimizer is not None else None


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        layers, hidden, micro_batch, mode, go, window = sys.argv[2:8]
        _worker(int(layers), int(hidden), int(micro_batch), mode, Path(go), float(window))
        return 0
    return int(one_line_errors(_main)())


def _main() -> int:
    """Every option checked before any process starts (round 26: ``--processes x`` was a ``ValueError`` traceback
    after the page-fault probe, ``--processes 0`` or ``--window nan`` stepped nothing, ``--layers 0`` an empty model,
    ``--runs`` of a missing folder a ``FileNotFoundError``)."""
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=whole(1, 1 << 12), default=4)
    p.add_argument("--hidden", type=whole(1, 1 << 16), default=768)
    p.add_argument("--micro-batch", type=whole(1, 1 << 16), default=64)
    p.add_argument("--processes", type=wholes(1, 1024), default="1,2,4", help="process counts stepping at once")
    p.add_argument("--modes", default=",".join(MODES), help=f"what precedes each step: some of {','.join(MODES)}")
    p.add_argument("--window", type=number(1e-3, 3600), default=2.0, help="seconds each process steps")
    p.add_argument("--runs", type=Path, help="a validation results folder: analyse its measured runs instead")
    p.add_argument("--cores", type=whole(1, 1 << 16), default=os.cpu_count() or 1)
    args = p.parse_args()
    if args.runs is not None:
        refuse_beside_reuse(sys.argv[1:], "validation", ("--cores",), "--runs")  # round 28: the rest were dropped
        if not (args.runs / "runs.jsonl").is_file():
            raise ScriptError(f"--runs: {args.runs / 'runs.jsonl'}: no such file (a validation results folder)")
        saved_runs(args.runs, args.cores)
        return 0
    import tempfile

    counts = args.processes
    if not set(args.modes.split(",")) <= set(MODES):
        p.error(f"--modes: expected some of {','.join(MODES)}, got {args.modes!r}")
    print(f"Adam step, {args.layers} x {args.hidden} MLP, {args.cores} cores; ns per parameter (median over processes)")
    from runtime.calibrate import measure_page_fault

    page_fault = measure_page_fault()
    parameters = args.layers * (args.hidden**2 + args.hidden)
    print(f"one minor page fault: {page_fault * 1e6:.2f} us of CPU (cpu - faults: the CPU without them)")
    print(
        f"{'mode':>15} {'processes':>9} {'wall':>7} {'cpu':>7} {'wall/cpu':>8} {'faults/step':>11} {'cpu-faults':>10}"
    )
    with tempfile.TemporaryDirectory(prefix="dpsim-optimizer-") as tmp:
        for mode in args.modes.split(","):
            for k in counts:
                m = concurrent(args.layers, args.hidden, args.micro_batch, mode, k, args.window, Path(tmp))
                free = m["cpu_ns"] - 1e9 * m["faults"] * page_fault / parameters
                print(f"{mode:>15} {k:>9} {m['wall_ns']:>7.1f} {m['cpu_ns']:>7.1f} {m['wall_ns'] / m['cpu_ns']:>8.2f} "
                      f"{m['faults']:>11.0f} {free:>10.1f}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
