"""k processes in lockstep, each: optimizer step, then a micro-batch timed, then the same micro-batch timed again back
to back (thread CPU), on the validation's scenario model (MLP 4 x 768, Adam), DDP-wrapped as the calibration times it;
the per-step cost of the first micro-batch per k (stop 55's lead 1 of stop 54: do the other ranks' optimizer steps make
a rank's first micro-batch slower?). Slots share a wall-clock start and length (2 x the slot's work alone x
max(1, k/C)).

    PYTHONPATH=. python benchmarks/results/calib-55/lockstep.py 1,2,4,8
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import benchmarks.validate_emulated as ve
from dpsim.scenario import Scenario, load_scenario
from runtime.calibrate import (
    CURVE_WARMUP,
    _ddp_timer,
    _half_width_s,
    _model_loss,
    _wait_for,
    host_cores,
    scenario_optimizer,
)
from runtime.model import build_model, synthetic_batch

STEP_SHARED_SLOTS = 12
"""Slots of :func:`measure_step_overhead_shared` per k: each slot every one of the k processes steps the optimizer
once and times one micro-batch size (the model fit's, in turn) twice."""
STEP_SHARED_SLOT_MIN_S = 0.05
"""Shortest slot of :func:`measure_step_overhead_shared` (seconds)."""


@dataclass(frozen=True)
class StepOverheadShared:
    """What :func:`measure_step_overhead_shared` measured: per k processes stepping in lockstep, the per-step cost of a
    process's first micro-batch after its optimizer step (the median over the k processes' paired CPU differences,
    at least 0), and how it was spread."""

    seconds: dict[int, float]
    measured_s: dict[int, float]
    """The medians as measured (below 0: inside the noise, priced 0)."""
    wall_s: dict[int, float]
    half_width_s: dict[int, float]
    pairs: dict[int, int]
    slot_s: dict[int, float]
    """The slot each k ran in (seconds): the lockstep's period."""

    def meta(self) -> dict[str, Any]:
        """The profile's ``meta.step_overhead_shared`` record."""
        return {name: {int(k): v for k, v in sorted(values.items())}
                for name, values in (("measured_s", self.measured_s), ("wall_s", self.wall_s),
                                     ("half_width_s", self.half_width_s), ("pairs", self.pairs),
                                     ("slot_s", self.slot_s))}  # fmt: skip


def _step_worker(folder: Path, index: int, stages: Sequence[int]) -> None:
    """One process of :func:`measure_step_overhead_shared`: the scenario's model (``scenario.json``), DDP-wrapped,
    and its optimizer; its time alone for a slot's work into ``ready-<index>``; then at each stage's slots
    (``go-<position>`` holds the first slot's wall-clock start, the slot's length and their count), if among the
    first k: the optimizer's ``step()`` + ``zero_grad``, a micro-batch timed, the same timed again back to back.
    ``step-<index>.json``: per k the paired CPU and wall differences."""
    torch.set_num_threads(1)
    scenario = Scenario.model_validate_json((folder / "scenario.json").read_text(encoding="utf-8"))
    micro_batches = json.loads((folder / "micro_batches.json").read_text(encoding="utf-8"))
    model = build_model(scenario)
    once = _ddp_timer(model, _model_loss(model))
    optimizer = scenario_optimizer(scenario, model)
    generator = torch.Generator().manual_seed(index)
    batches = [synthetic_batch(model, scenario, mb, generator) for mb in micro_batches]

    def slot(batch: Any) -> tuple[float, float]:
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        c0, t0 = time.thread_time(), time.perf_counter()
        once(batch)
        c1, t1 = time.thread_time(), time.perf_counter()
        once(batch)
        c2, t2 = time.thread_time(), time.perf_counter()
        return (c1 - c0) - (c2 - c1), (t1 - t0) - (t2 - t1)

    for batch in batches:
        for _ in range(CURVE_WARMUP):
            once(batch)
            slot(batch)
    alone = []
    for batch in batches:
        t0 = time.perf_counter()
        slot(batch)
        alone.append(time.perf_counter() - t0)
    (folder / f"ready-{index}.tmp").write_text(repr(max(alone)), encoding="utf-8")
    (folder / f"ready-{index}.tmp").replace(folder / f"ready-{index}")
    cpu: dict[int, list[float]] = {}
    wall: dict[int, list[float]] = {}
    for position, k in enumerate(stages):
        go = folder / f"go-{position}"
        _wait_for(go, 600)
        start, length, slots = (float(x) for x in go.read_text(encoding="utf-8").split())
        if index < k:
            for j in range(int(slots)):
                begin = start + j * length
                if time.time() > begin + length / 2:  # late for this slot (the host was busy): not in lockstep
                    continue
                while time.time() < begin:
                    time.sleep(0.0005)
                c, w = slot(batches[j % len(batches)])
                cpu.setdefault(k, []).append(c)
                wall.setdefault(k, []).append(w)
        (folder / f"done-{position}-{index}").touch()
    (folder / f"step-{index}.json").write_text(json.dumps({"cpu": cpu, "wall": wall}), encoding="utf-8")


def measure_step_overhead_shared(
    scenario: Scenario,
    processes: Sequence[int],
    micro_batches: Sequence[int],
    work_dir: Path,
    timeout_s: float = 600.0,
    slots: int = STEP_SHARED_SLOTS,
) -> StepOverheadShared:
    """The once-a-step cost of a rank's first micro-batch after the optimizer's step while k processes share the host
    and step together, as the ranks of a data-parallel job do (every rank leaves the gradient synchronisation at
    once, steps its optimizer, and starts its next micro-batch while the others are still stepping theirs).

    ``max(processes)`` single-thread processes each build the scenario's model, DDP-wrapped as
    :func:`measure_step_overhead` times it, with the scenario's optimizer. For each k (1 and ``processes``) the first k
    work in lockstep: ``slots`` slots of a common wall-clock start and length (the longest slot's work alone times
    ``2·max(1, k/C)`` on the host's C cores, at least :data:`STEP_SHARED_SLOT_MIN_S`), in each the optimizer's
    ``step()`` + ``zero_grad``, then a micro-batch timed on the thread's CPU clock, then the same micro-batch timed
    again back to back (beside the others' micro-batches, as the profile's compute and the host's ε are measured).
    A process late for a slot by half its length skips it. Per k the term is the median of every paired difference
    of the k processes, at least 0 (:attr:`dpsim.calibration.HardwareProfile.step_overhead_shared`); the spread,
    the wall clock's medians and the slots are kept."""
    stages = sorted(set(processes) | {1})
    folder = work_dir / "host-step"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    (folder / "scenario.json").write_text(scenario.model_dump_json(), encoding="utf-8")
    (folder / "micro_batches.json").write_text(json.dumps(list(micro_batches)), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    count = max(stages)
    command = [sys.executable, __file__, "worker", str(folder), ",".join(map(str, stages))]
    procs = [subprocess.Popen([*command, str(i)], env=env) for i in range(count)]
    cores = host_cores()
    lengths: dict[int, float] = {}
    try:
        for i in range(count):
            _wait_for(folder / f"ready-{i}", timeout_s)
        alone = max(float((folder / f"ready-{i}").read_text(encoding="utf-8")) for i in range(count))
        for position, k in enumerate(stages):
            lengths[k] = max(STEP_SHARED_SLOT_MIN_S, 2.0 * alone * max(1.0, k / cores))
            tmp = folder / f"go-{position}.tmp"
            tmp.write_text(f"{time.time() + 0.3!r} {lengths[k]!r} {slots}", encoding="utf-8")
            tmp.replace(folder / f"go-{position}")
            for i in range(count):
                _wait_for(folder / f"done-{position}-{i}", timeout_s)
        for proc in procs:
            if proc.wait(timeout=timeout_s) != 0:
                raise RuntimeError(f"step overhead worker exited with status {proc.returncode}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return step_overhead_shared(folder, lengths)


def step_overhead_shared(folder: Path, lengths: Mapping[int, float]) -> StepOverheadShared:
    """:func:`measure_step_overhead_shared`'s result from its workers' files (``step-<index>.json``)."""
    files = sorted(folder.glob("step-*.json"), key=lambda f: int(f.stem.split("-")[1]))
    per = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    cpu: dict[int, list[float]] = {}
    wall: dict[int, list[float]] = {}
    for record in per:
        for k, values in record["cpu"].items():
            cpu.setdefault(int(k), []).extend(values)
        for k, values in record["wall"].items():
            wall.setdefault(int(k), []).extend(values)
    measured = {k: float(statistics.median(v)) for k, v in sorted(cpu.items()) if v}
    return StepOverheadShared(
        {k: max(0.0, v) for k, v in measured.items()}, measured,
        {k: float(statistics.median(wall[k])) for k in measured}, {k: _half_width_s(cpu[k]) for k in measured},
        {k: len(cpu[k]) for k in measured}, {k: float(lengths.get(k, 0.0)) for k in measured},
    )  # fmt: skip


def main() -> None:
    if sys.argv[1] == "worker":
        folder, stages, index = sys.argv[2:5]
        _step_worker(Path(folder), int(index), [int(k) for k in stages.split(",")])
        return
    work = Path(tempfile.mkdtemp(prefix="lockstep"))
    (work / "scenario.yaml").write_text(ve.SCENARIO)
    scenario = load_scenario(work / "scenario.yaml")
    started = time.time()
    r = measure_step_overhead_shared(scenario, [int(x) for x in sys.argv[1].split(",")], (1, 2, 4), work)
    print(f"{time.time() - started:.1f} s, {scenario.model.num_parameters:.0f} parameters, {host_cores()} cores")
    for k in r.seconds:
        print(f"k {k}: first micro-batch after the step over back to back, CPU {r.measured_s[k] * 1e3:+.2f} ms "
              f"(+-{r.half_width_s[k] * 1e3:.2f}), wall {r.wall_s[k] * 1e3:+.2f} ms, {r.pairs[k]} pairs, slot "
              f"{r.slot_s[k] * 1e3:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
