"""Does the wait before the optimizer's step make the next micro-batch slower? One process, one thread, the
validation's MLP 4 x 768 DDP-wrapped as the calibration times it, Adam: per round and per wait W (0, 0.05, 0.2,
0.5 s): W asleep (a rank blocked in its last all-reduce), ``step()`` + ``zero_grad`` (its CPU time printed), then a
micro-batch of 64 samples timed on the thread's CPU clock, then the same again back to back. Prints per W the median
(min, max) of the first over the second, the minor page faults of the first, and the step's CPU time.

    PYTHONPATH=. python benchmarks/results/calib-55/idle.py [ROUNDS]
"""

from __future__ import annotations

import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import benchmarks.validate_emulated as ve
from dpsim.scenario import load_scenario
from runtime.calibrate import _ddp_timer, _model_loss, scenario_optimizer
from runtime.model import build_model, synthetic_batch

WAITS = (0.0, 0.05, 0.2, 0.5)


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="idle"))
    (folder / "scenario.yaml").write_text(ve.SCENARIO)
    scenario = load_scenario(folder / "scenario.yaml")
    model = build_model(scenario)
    once = _ddp_timer(model, _model_loss(model))
    optimizer = scenario_optimizer(scenario, model)
    batch = synthetic_batch(model, scenario, 64, torch.Generator().manual_seed(0))

    def step() -> float:
        c0 = time.thread_time()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
        return time.thread_time() - c0

    for _ in range(3):
        once(batch)
        step()
    res: dict[float, list[tuple[float, int, float]]] = {w: [] for w in WAITS}
    for _ in range(rounds):
        for wait in WAITS:
            if wait:
                time.sleep(wait)
            stepped = step()
            f0, c0 = faults(), time.thread_time()
            once(batch)
            c1, f1 = time.thread_time(), faults()
            once(batch)
            c2 = time.thread_time()
            res[wait].append(((c1 - c0) - (c2 - c1), f1 - f0, stepped))
    for wait, v in res.items():
        d = [x[0] * 1e3 for x in v]
        print(f"idle {wait:.2f} s: first over back-to-back {statistics.median(d):+.2f} ms (min {min(d):+.2f}, max "
              f"{max(d):+.2f}), faults {statistics.median(x[1] for x in v)}, optimizer step "
              f"{statistics.median(x[2] for x in v) * 1e3:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
