"""Validate the predictions against the runtime on the emulated cluster (needs root).

A tiny GPT (2 layers, hidden 128, 657 k parameters: 2.6 MB of fp32 gradients per step) runs
on 2–8 ranks at 100, 200 and 400 Mbit/s links, with several bucket sizes, accumulation
steps, all four point-to-point all-reduce algorithms and a straggler. The hardware profile
of each link rate is calibrated on *other* configurations: all-reduce microbenchmarks on 2
and 4 ranks (256 KiB – 4 MiB) and compute timings with as many concurrent processes as ranks — no training run.
Prints the table and the MAPE; writes validation.csv, validation.png, summary.json and the
profiles to --out (default benchmarks/results/validation). About 6 minutes on 2 cores.

The straggler configuration uses 2 ranks: with more ranks than cores, the straggler's
emulated slowdown (a sleep) frees CPU for the other ranks, so its own compute speeds up
and the testbed no longer behaves like a slower device.

    sudo python benchmarks/validate_emulated.py [--engine analytic|sim] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from runtime.calibrate import CalibrationPlan
from runtime.job import JobOptions
from runtime.testbed.emulated import RootRequired, require_root
from runtime.validate import build_cases, validate

SCENARIO = """\
name: tiny-gpt-validation
model: {layers: 2, hidden: 128, heads: 4, seq_len: 32, vocab: 2000}
cluster:
  nodes: 4
  workers_per_node: 1
  device: {peak_flops: 20 GFLOP/s, memory: 8 GB}
  intra_node: {bandwidth: 2 GB/s, latency: 20 us}
  inter_node: {bandwidth: 200 Mbit/s, latency: 50 us}
training: {global_batch: 8, micro_batch: 2, optimizer: adam, precision: fp32}
communication: {algorithm: ring, bucket: 1 MiB, overlap: true}
"""

RATE = "cluster.inter_node.bandwidth"
CASES: list[list[tuple[str, object]]] = [
    [("cluster.nodes", 3)],
    [("cluster.nodes", 5)],
    [("cluster.nodes", 6), (RATE, "100 Mbit/s")],
    [("cluster.nodes", 8), (RATE, "100 Mbit/s")],
    [("cluster.nodes", 5), (RATE, "400 Mbit/s")],
    [("cluster.nodes", 3), ("communication.algorithm", "halving-doubling")],
    [("cluster.nodes", 8), ("communication.algorithm", "halving-doubling")],
    [("cluster.nodes", 3), ("communication.algorithm", "tree")],
    [("cluster.nodes", 6), ("communication.algorithm", "tree"), (RATE, "400 Mbit/s")],
    [("cluster.nodes", 2), ("cluster.workers_per_node", 2), ("communication.algorithm", "hierarchical")],
    [("cluster.nodes", 3), ("cluster.workers_per_node", 2), ("communication.algorithm", "hierarchical"),
     (RATE, "100 Mbit/s")],
    [("cluster.nodes", 4), ("communication.bucket", "256 KiB")],
    [("cluster.nodes", 4), ("communication.bucket", "4 MiB"), (RATE, "400 Mbit/s")],
    [("cluster.nodes", 2), ("training.accumulation", 4), (RATE, "100 Mbit/s")],
    [("cluster.nodes", 4), ("training.accumulation", 2), ("training.micro_batch", 4), (RATE, "400 Mbit/s")],
    [("cluster.nodes", 2), ("training.accumulation", 4), ("training.micro_batch", 4), (RATE, "400 Mbit/s"),
     ("variability.stragglers", [{"worker": 1, "slowdown": 3.0}])],
]  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--engine", default="analytic", choices=["analytic", "sim"])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "validation")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--limit", type=int, default=len(CASES), help="run only the first N configurations")
    args = p.parse_args()
    try:
        require_root()
    except RootRequired as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dpsim-validate-") as tmp:
        scenario = Path(tmp) / "scenario.yaml"
        scenario.write_text(SCENARIO)
        cases = build_cases(scenario, [], CASES[: args.limit])
        algorithms = ("ring", "tree", "halving-doubling")
        plan = CalibrationPlan(ranks=(2, 4), collectives=("all_reduce",), algorithms=algorithms)
        table, summary = validate(
            cases, args.out, testbed="emulated", engine=args.engine, plan=plan,
            options=JobOptions(warmup_steps=2, steps=args.steps), work_dir=Path(tmp) / "work",
        )  # fmt: skip
    columns = ["case", "ranks", "link_rate_mbit_s", "measured_step_time_s", "predicted_step_time_s",
               "error_step_time_s_pct", "error_comm_s_pct"]  # fmt: skip
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    held_out = summary["mape_step_time_held_out_ranks_pct"]
    print(f"MAPE step time ({summary['engine']}): {summary['mape_step_time_pct']:.2f} % over {summary['cases']} "
          f"configurations; rank counts not in calibration: {held_out:.2f} %")  # fmt: skip
    print("calibrated on: " + "; ".join(summary["calibration_configurations"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
