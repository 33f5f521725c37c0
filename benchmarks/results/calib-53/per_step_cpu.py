"""The ranks' compute CPU split into a per-step, a per-micro-batch and a per-sample cost, from the runs alone.

Per validation group (a folder with ``runs.jsonl``), the runs of the 2,362,368-parameter MLP (the buckets' bytes / 4)
without a straggler: each run's median rank compute CPU (``per_rank_compute_cpu_s``) fitted, least squares, as
``s + s_k(k − 1) + acc·f + acc·f_k(k − 1) + acc·mb·c + acc·mb·c_k(k − 1)`` (k ranks, acc micro-batches of mb samples).
``s`` is what each rank's thread does once a step beyond its micro-batches; the ``_k`` terms take the host's sharing
(ε) where it grows with the ranks. No model, no profile; a second.

    python benchmarks/results/calib-53/per_step_cpu.py benchmarks/results/validation-2026-12-07-g/all ...
"""

from __future__ import annotations

import json
import statistics as st
import sys
from pathlib import Path

import numpy as np

PARAMETERS = 2362368


def fit(group: Path) -> tuple[int, np.ndarray, float]:
    design, cpu = [], []
    for line in (group / "runs.jsonl").read_text().splitlines():
        r = json.loads(line)
        e = r["extra"]
        per_rank = e.get("per_rank_compute_cpu_s")
        if r["engine"] != "runtime" or not per_rank or sum(e.get("bucket_bytes") or [0]) != 4 * PARAMETERS:
            continue
        k, acc = r["world_size"], r["accumulation_steps"]
        mb = r["global_batch"] / (k * acc)
        values = sorted(per_rank.values())
        if k > 2 and values[-1] / st.median(values) > 1.15:  # a straggler's busy-wait
            continue
        design.append([1.0, k - 1, acc, acc * (k - 1), acc * mb, acc * mb * (k - 1)])
        cpu.append(st.median(values))
    x, y = np.array(design), np.array(cpu)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return len(y), coef, float(np.sqrt(np.mean((y - x @ coef) ** 2)))


def main() -> None:
    steps = []
    for arg in sys.argv[1:]:
        n, c, rms = fit(Path(arg))
        steps.append(c[0])
        print(f"{arg}: n {n}  per step {1e3 * c[0]:+.2f} ms ({1e3 * c[1]:+.2f} a further rank)  per micro-batch "
              f"{1e3 * c[2]:+.2f} ms  per sample {1e6 * c[4]:.1f} us  rms {1e3 * rms:.2f} ms")  # fmt: skip
    print(f"median per-step constant {1e3 * st.median(steps):.2f} ms")


if __name__ == "__main__":
    main()
