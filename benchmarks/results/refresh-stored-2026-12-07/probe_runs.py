"""The drift each repeat's window shows in the runs themselves, beside the optimizer probe and the calibrations.

For a validation folder whose ``runs.jsonl`` holds each case's repeats one after another (``post.sh``: repeat 1, then
2, 3), per repeat: the median over cases of the median rank's optimizer CPU a parameter (``per_rank_optimizer_cpu_s``
over the bucketed fp32 parameters) and of its compute CPU a step (``per_rank_compute_cpu_s``), each as the median over
cases of the ratio to the same case's repeat 1 (paired: the case's configuration cancels). Beside them, where given,
the compute curves of two calibrations (median over grid points of later / first, forward + backward) and their
optimizer fits at the runs' model size: what a refresh between them would move.

    PYTHONPATH=. python benchmarks/results/refresh-stored-2026-12-07/probe_runs.py FOLDER [CAL1.yaml CALN.yaml]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from dpsim.calibration import load_profile
from dpsim.records import read_jsonl


def per_repeat(folder: Path) -> None:
    runs = [r for r in read_jsonl(folder / "runs.jsonl") if r.engine == "runtime"]
    repeats = int(json.loads((folder / "summary.json").read_text(encoding="utf-8")).get("repeats", 3))
    assert len(runs) % repeats == 0, (len(runs), repeats)
    opt: list[list[float]] = [[] for _ in range(repeats)]
    comp: list[list[float]] = [[] for _ in range(repeats)]
    step: list[list[float]] = [[] for _ in range(repeats)]
    for i, r in enumerate(runs):
        params = sum(r.extra.get("bucket_bytes") or []) // 4
        cpu = r.extra.get("per_rank_optimizer_cpu_s") or {}
        ccpu = r.extra.get("per_rank_compute_cpu_s") or {}
        opt[i % repeats].append(statistics.median(cpu.values()) / params * 1e9 if cpu and params else float("nan"))
        comp[i % repeats].append(statistics.median(ccpu.values()) if ccpu else float("nan"))
        step[i % repeats].append(r.step_time_s)
    print(f"{folder}: {len(runs) // repeats} cases x {repeats} repeats")
    for k in range(repeats):
        ro = statistics.median(a / b for a, b in zip(opt[k], opt[0], strict=True))
        rc = statistics.median(a / b for a, b in zip(comp[k], comp[0], strict=True))
        rs = statistics.median(a / b for a, b in zip(step[k], step[0], strict=True))
        print(f"  repeat {k + 1}: optimizer CPU median {statistics.median(opt[k]):.2f} ns/param "
              f"(x{ro:.3f} of repeat 1, paired), compute CPU x{rc:.3f}, step x{rs:.3f}")  # fmt: skip


def calibrations(first: Path, later: Path, parameters: float = 2362368) -> None:
    a, b = load_profile(first), load_profile(later)
    assert a.compute_curve is not None and b.compute_curve is not None
    pa = {(q.hidden, q.micro_batch, q.layers): q for q in a.compute_curve.points}
    ratios = [(q.forward_s + q.backward_s) / (pa[k].forward_s + pa[k].backward_s)
              for q in b.compute_curve.points if (k := (q.hidden, q.micro_batch, q.layers)) in pa]  # fmt: skip
    assert a.optimizer is not None and b.optimizer is not None
    oa, ob = a.optimizer(parameters) / parameters * 1e9, b.optimizer(parameters) / parameters * 1e9
    print(f"  calibrations: compute curve later/first median x{statistics.median(ratios):.3f} "
          f"({min(ratios):.3f}-{max(ratios):.3f}); optimizer fit at {parameters:.0f}: {oa:.2f} -> {ob:.2f} ns/param "
          f"(x{ob / oa:.3f})")  # fmt: skip


if __name__ == "__main__":
    per_repeat(Path(sys.argv[1]))
    if len(sys.argv) == 4:
        calibrations(Path(sys.argv[2]), Path(sys.argv[3]))
