"""Calibrate the emulated cluster once, then predict configurations it never ran (needs root).

One ``dpsim calibrate`` with its defaults (:class:`runtime.calibrate.CalibrationPlan`):
collectives on 2, 3 and 4 ranks at 150, 450 and 1200 Mbit/s and inside one node, DDP-wrapped
2-layer MLPs on a grid of widths (256–2048) and micro-batches (4–256), 1–8 processes
computing at once, the optimizer on the same widths. No training run is calibrated.

Then 18 training configurations — none of them a calibration run: MLPs of other depths and
widths (3×1280, 4×768, 6×640), 2–8 ranks, 1 and 2 ranks per node, links at 200, 500 and
1000 Mbit/s (rates never calibrated), buckets 1–100 MiB, accumulation 1–8, 32–256 samples
per rank, every algorithm the runtime runs (ring, tree, halving-doubling, hierarchical and
``backend``: gloo's own, what plain DDP uses), overlap off, and a straggler — each measured
``--repeats`` times, round robin over the configurations (the spread, over the whole session,
is reported) and predicted by both engines from the one
profile. Each case lists the calibration points it shares (rank count, (hidden,
micro-batch) grid point, rate, bucket = benchmarked size), if any.

Writes ``summary.json``, ``validation.csv``, ``validation.png``, ``profile.yaml``,
``calibration-bench.json`` and ``records.jsonl`` to ``--out`` (default
``benchmarks/results/validation``) and prints the table, the MAPE of both engines per
repeat, the worst case and every fit's residual.

    sudo python benchmarks/validate_emulated.py [--repeats 3] [--out DIR] [--profile PROFILE] [--skip N] [--limit N]
        [--max-residual 0.05]

The calibration made here follows ``dpsim calibrate``'s rule: a link fit whose residual exceeds
``--max-residual`` (5 %) has its bandwidth points measured again (at most twice, with 2× and 4× the
repetitions, pooled), and a fit still above it ends the run (exit 2, one line saying what to do) before any
configuration runs; a larger ``--max-residual`` is the override, and ``summary.json`` records what it accepted.

About 25 minutes with 3 repeats of 1 warm-up and 5 measured steps on an idle 2-core machine
(calibration ≈ 10 min; each run's figures are medians over its measured steps).

``--reuse DIR`` predicts the cases again from a previous run's measurements (``runs.jsonl``:
every repeat; an older folder's ``records.jsonl``: the median run only) and its profile (or
``--profile``), without root and without the testbed: what a model change does to the same
measurements. It writes to ``--out`` only when given.

    python benchmarks/validate_emulated.py --reuse benchmarks/results/validation

``--breakdown`` also prints, per configuration and engine, the measured step split into the terms the
engines predict (compute, exposed communication, optimizer, and what none of them holds), for the
critical rank's terms and the median rank's (:func:`runtime.validate.breakdown`), each term's residual
and the mean and MAPE of each over the configurations.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, need_root, number, one_line_errors, one_of, whole
from dpsim.calibration import MAX_RESIDUAL, CalibrationError, load_profile
from dpsim.errors import ScenarioError
from dpsim.records import StepResult, read_jsonl
from runtime.calibrate import CalibrationPlan
from runtime.job import JobOptions
from runtime.validate import (
    ESTIMATORS,
    STEP_TERMS,
    Case,
    breakdown,
    build_cases,
    mape,
    pace_line,
    residual_lines,
    validate,
)

SCENARIO = """\
name: mlp-emulated-validation
model: {kind: mlp, layers: 4, hidden: 768}
cluster:
  nodes: 4
  workers_per_node: 1
  device: {peak_flops: 50 GFLOP/s, memory: 8 GB}
  intra_node: {bandwidth: 2 GB/s, latency: 20 us}
  inter_node: {bandwidth: 500 Mbit/s, latency: 50 us}
training: {global_batch: 256, micro_batch: 64, optimizer: adam, precision: fp32}
communication: {algorithm: backend, bucket: 25 MiB, overlap: true}
"""

NODES, PER_NODE, RATE = "cluster.nodes", "cluster.workers_per_node", "cluster.inter_node.bandwidth"
ALG, BUCKET, MB, ACC = (
    "communication.algorithm",
    "communication.bucket",
    "training.micro_batch",
    "training.accumulation",
)
CASES: list[list[tuple[str, object]]] = [
    [(NODES, 2)],
    [(NODES, 5), (RATE, "1000 Mbit/s")],
    [(NODES, 8), (MB, 32), (RATE, "1000 Mbit/s")],
    [(NODES, 3), (ALG, "ring"), (RATE, "200 Mbit/s")],
    [(NODES, 6), (ALG, "ring"), (BUCKET, "1 MiB")],
    [(NODES, 7), (ALG, "tree"), (MB, 48), (RATE, "1000 Mbit/s")],
    [(NODES, 3), (ALG, "tree"), (BUCKET, "4 MiB"), (RATE, "200 Mbit/s")],
    [(NODES, 4), (ALG, "halving-doubling"), (MB, 32), (ACC, 8)],
    [(NODES, 8), (ALG, "halving-doubling"), (MB, 32), (BUCKET, "100 MiB"), (RATE, "1000 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 128), (ACC, 2)],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 32), (RATE, "1000 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (MB, 96), (BUCKET, "2 MiB")],
    [(NODES, 4), (PER_NODE, 2), (MB, 32), (RATE, "1000 Mbit/s")],
    [(NODES, 5), (MB, 32), (ACC, 4), (BUCKET, "100 MiB")],
    [(NODES, 3), ("model.layers", 3), ("model.hidden", 1280), (MB, 40), (RATE, "200 Mbit/s")],
    [(NODES, 6), ("model.layers", 6), ("model.hidden", 640), (MB, 80), (ACC, 2), (RATE, "1000 Mbit/s")],
    [(NODES, 4), ("communication.overlap", False), (ALG, "ring"), (BUCKET, "8 MiB")],
    [(NODES, 4), (MB, 32), (ACC, 2), ("variability.stragglers", [{"worker": 2, "slowdown": 1.5}])],
]  # fmt: skip


FRESH44: list[list[tuple[str, object]]] = [
    [(NODES, 4), (PER_NODE, 2), (MB, 184), (BUCKET, "100 MiB"), (RATE, "800 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (MB, 128), (ACC, 2), (BUCKET, "7 MiB"), (RATE, "800 Mbit/s")],
    [(NODES, 6), ("model.layers", 3), ("model.hidden", 1152), (MB, 40), (ACC, 4), (BUCKET, "100 MiB"),
     (RATE, "300 Mbit/s")],
    [(NODES, 7), (MB, 120), (BUCKET, "7 MiB"), (RATE, "800 Mbit/s")],
    [(NODES, 3), (MB, 40), (ACC, 8), (BUCKET, "1 MiB"), (RATE, "800 Mbit/s"),
     ("variability.stragglers", [{"worker": 1, "slowdown": 1.25}])],
    [(NODES, 8), ("model.layers", 3), ("model.hidden", 1152), (MB, 80), (BUCKET, "1 MiB"), (RATE, "800 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "ring"), (MB, 256), (BUCKET, "1 MiB"), (RATE, "600 Mbit/s")],
    [(NODES, 5), (ALG, "ring"), (MB, 48), (ACC, 6), (BUCKET, "3 MiB"), (RATE, "600 Mbit/s")],
    [(NODES, 4), (ALG, "ring"), (MB, 184), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "600 Mbit/s")],
    [(NODES, 2), (ALG, "tree"), (MB, 56), (ACC, 4), (BUCKET, "1 MiB"), (RATE, "300 Mbit/s"),
     ("communication.overlap", False)],
    [(NODES, 4), (ALG, "tree"), (MB, 240), (BUCKET, "16 MiB"), (RATE, "300 Mbit/s")],
    [(NODES, 6), (ALG, "tree"), (MB, 32), (ACC, 2), (BUCKET, "3 MiB"), (RATE, "600 Mbit/s")],
    [(NODES, 8), (ALG, "halving-doubling"), (MB, 192), (BUCKET, "1 MiB"), (RATE, "300 Mbit/s")],
    [(NODES, 6), (ALG, "halving-doubling"), (MB, 64), (BUCKET, "16 MiB"), (RATE, "300 Mbit/s")],
    [(NODES, 8), (ALG, "halving-doubling"), (MB, 88), (BUCKET, "7 MiB"), (RATE, "800 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 88), (ACC, 3), (BUCKET, "1 MiB"), (RATE, "300 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 72), (ACC, 2), (BUCKET, "25 MiB"), (RATE, "600 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 80), (ACC, 3), (BUCKET, "10 MiB"), (RATE, "600 Mbit/s")],
]  # fmt: skip
"""A second set (``--case-set fresh44``, stop 44): 18 configurations no stored session ran, drawn before any of them
was measured by a seeded rule (``benchmarks/results/validation-2026-12-06-q/draw_cases.py``, ``random.Random(44)``)
within issue 10's ranges with every coverage item forced: 2–8 ranks (each count at one a node), 1 and 2 ranks a node,
links at 300, 600 and 800 Mbit/s (no stored training run and no calibration used them), buckets 1–100 MiB (none a
calibrated size), accumulation 1–8, 32–256 samples a rank, every algorithm (backend 6, ring, tree, halving-doubling and
hierarchical 3 each), two other MLP shapes (3×1152, off the compute grid), ``overlap: false`` once and a straggler.
The check of the model against configurations that neither made nor gated it; ``CASES`` stays the default."""

FRESH45: list[list[tuple[str, object]]] = [
    [(NODES, 4), (PER_NODE, 2), (MB, 32), (ACC, 8), (BUCKET, "100 MiB"), (RATE, "350 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (MB, 32), (ACC, 2), (BUCKET, "25 MiB"), (RATE, "350 Mbit/s")],
    [(NODES, 6), ("model.layers", 3), ("model.hidden", 640), (MB, 256), (BUCKET, "7 MiB"), (RATE, "350 Mbit/s")],
    [(NODES, 5), (MB, 120), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "1050 Mbit/s"),
     ("variability.stragglers", [{"worker": 3, "slowdown": 1.75}])],
    [(NODES, 3), (MB, 56), (ACC, 6), (BUCKET, "3 MiB"), (RATE, "350 Mbit/s")],
    [(NODES, 2), ("model.layers", 5), ("model.hidden", 896), (MB, 80), (BUCKET, "3 MiB"), (RATE, "1050 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "ring"), (MB, 120), (BUCKET, "1 MiB"), (RATE, "1050 Mbit/s")],
    [(NODES, 8), (ALG, "ring"), (MB, 40), (ACC, 4), (BUCKET, "7 MiB"), (RATE, "650 Mbit/s")],
    [(NODES, 7), (ALG, "ring"), (MB, 32), (ACC, 2), (BUCKET, "3 MiB"), (RATE, "650 Mbit/s")],
    [(NODES, 4), (ALG, "tree"), (MB, 240), (BUCKET, "5 MiB"), (RATE, "650 Mbit/s")],
    [(NODES, 8), (ALG, "tree"), (MB, 88), (BUCKET, "7 MiB"), (RATE, "350 Mbit/s")],
    [(NODES, 3), (ALG, "tree"), (MB, 112), (BUCKET, "100 MiB"), (RATE, "1050 Mbit/s"),
     ("communication.overlap", False)],
    [(NODES, 8), (ALG, "halving-doubling"), (MB, 32), (ACC, 8), (BUCKET, "1 MiB"), (RATE, "1050 Mbit/s")],
    [(NODES, 4), (ALG, "halving-doubling"), (MB, 112), (ACC, 3), (BUCKET, "5 MiB"), (RATE, "650 Mbit/s")],
    [(NODES, 8), (ALG, "halving-doubling"), (MB, 72), (ACC, 3), (BUCKET, "5 MiB"), (RATE, "650 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 72), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "350 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 200), (BUCKET, "7 MiB"), (RATE, "650 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 32), (BUCKET, "10 MiB"), (RATE, "1050 Mbit/s")],
]  # fmt: skip
"""A third set (``--case-set fresh45``, stop 45): stop 44's rule drawn again (``random.Random(45)``) at links of 350,
650 and 1050 Mbit/s (no stored result of any kind names them; the calibration uses 150 / 450 / 1200), written down
(``benchmarks/results/validation-2026-12-06-r/draw_cases.py``) before any of them was measured. fresh44 has been seen
(models were judged on it); this is the next check no model change was made or gated on."""

FRESH46: list[list[tuple[str, object]]] = [
    [(NODES, 4), (PER_NODE, 2), (MB, 32), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "400 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (MB, 72), (BUCKET, "16 MiB"), (RATE, "550 Mbit/s")],
    [(NODES, 3), (MB, 40), (ACC, 4), (BUCKET, "5 MiB"), (RATE, "550 Mbit/s"),
     ("variability.stragglers", [{"worker": 2, "slowdown": 1.5}])],
    [(NODES, 7), (MB, 32), (ACC, 8), (BUCKET, "7 MiB"), (RATE, "1150 Mbit/s")],
    [(NODES, 2), ("model.layers", 3), ("model.hidden", 896), (MB, 32), (ACC, 4), (BUCKET, "5 MiB"),
     (RATE, "550 Mbit/s")],
    [(NODES, 8), ("model.layers", 5), ("model.hidden", 896), (MB, 32), (BUCKET, "3 MiB"), (RATE, "400 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "ring"), (MB, 112), (BUCKET, "1 MiB"), (RATE, "550 Mbit/s")],
    [(NODES, 5), (ALG, "ring"), (MB, 64), (ACC, 6), (BUCKET, "7 MiB"), (RATE, "400 Mbit/s")],
    [(NODES, 6), (ALG, "ring"), (MB, 72), (BUCKET, "5 MiB"), (RATE, "1150 Mbit/s")],
    [(NODES, 4), (ALG, "tree"), (MB, 56), (BUCKET, "1 MiB"), (RATE, "1150 Mbit/s")],
    [(NODES, 5), (ALG, "tree"), (MB, 256), (BUCKET, "3 MiB"), (RATE, "1150 Mbit/s")],
    [(NODES, 4), (ALG, "tree"), (MB, 56), (BUCKET, "50 MiB"), (RATE, "550 Mbit/s"), ("communication.overlap", False)],
    [(NODES, 2), (ALG, "halving-doubling"), (MB, 56), (BUCKET, "16 MiB"), (RATE, "400 Mbit/s")],
    [(NODES, 6), (ALG, "halving-doubling"), (MB, 64), (ACC, 3), (BUCKET, "100 MiB"), (RATE, "1150 Mbit/s")],
    [(NODES, 8), (ALG, "halving-doubling"), (MB, 56), (ACC, 3), (BUCKET, "3 MiB"), (RATE, "400 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 112), (ACC, 2), (BUCKET, "10 MiB"), (RATE, "550 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 88), (ACC, 2), (BUCKET, "100 MiB"), (RATE, "400 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 32), (ACC, 8), (BUCKET, "3 MiB"), (RATE, "1150 Mbit/s")],
]  # fmt: skip
"""A fourth set (``--case-set fresh46``, stop 46): stop 44's rule drawn again (``random.Random(46)``) at links of 400,
550 and 1150 Mbit/s (no stored result of any kind names them; the calibration uses 150 / 450 / 1200), written down
(``benchmarks/results/validation-2026-12-07-a/draw_cases.py``) before any of them was measured. fresh44 and fresh45
have been seen (models were judged on them); this is the next check no model change was made or gated on."""

FRESH47: list[list[tuple[str, object]]] = [
    [(NODES, 4), (PER_NODE, 2), (MB, 248), (BUCKET, "3 MiB"), (RATE, "725 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (MB, 120), (ACC, 2), (BUCKET, "100 MiB"), (RATE, "725 Mbit/s")],
    [(NODES, 5), (MB, 152), (ACC, 2), (BUCKET, "100 MiB"), (RATE, "325 Mbit/s"),
     ("variability.stragglers", [{"worker": 1, "slowdown": 1.5}])],
    [(NODES, 7), (MB, 96), (BUCKET, "1 MiB"), (RATE, "1250 Mbit/s")],
    [(NODES, 2), ("model.layers", 3), ("model.hidden", 1152), (MB, 32), (ACC, 8), (BUCKET, "1 MiB"),
     (RATE, "325 Mbit/s")],
    [(NODES, 3), ("model.layers", 3), ("model.hidden", 640), (MB, 40), (BUCKET, "16 MiB"), (RATE, "325 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "ring"), (MB, 64), (ACC, 8), (BUCKET, "3 MiB"), (RATE, "725 Mbit/s")],
    [(NODES, 8), (ALG, "ring"), (MB, 64), (ACC, 3), (BUCKET, "7 MiB"), (RATE, "325 Mbit/s")],
    [(NODES, 4), (ALG, "ring"), (MB, 112), (ACC, 3), (BUCKET, "5 MiB"), (RATE, "325 Mbit/s")],
    [(NODES, 6), (ALG, "tree"), (MB, 144), (BUCKET, "1 MiB"), (RATE, "1250 Mbit/s")],
    [(NODES, 3), (ALG, "tree"), (MB, 104), (BUCKET, "3 MiB"), (RATE, "725 Mbit/s"), ("communication.overlap", False)],
    [(NODES, 8), (ALG, "tree"), (MB, 56), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "1250 Mbit/s")],
    [(NODES, 8), (ALG, "halving-doubling"), (MB, 32), (BUCKET, "3 MiB"), (RATE, "325 Mbit/s")],
    [(NODES, 6), (ALG, "halving-doubling"), (MB, 40), (ACC, 4), (BUCKET, "1 MiB"), (RATE, "725 Mbit/s")],
    [(NODES, 5), (ALG, "halving-doubling"), (MB, 64), (ACC, 4), (BUCKET, "1 MiB"), (RATE, "1250 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 232), (BUCKET, "10 MiB"), (RATE, "725 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 256), (BUCKET, "5 MiB"), (RATE, "1250 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 64), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "1250 Mbit/s")],
]  # fmt: skip
"""A fifth set (``--case-set fresh47``, stop 47): stop 44's rule drawn again (``random.Random(47)``) at links of 325,
725 and 1250 Mbit/s (no stored result of any kind names them: 750 is on gloo's all-reduce grid; the calibration uses
150 / 450 / 1200), written down (``benchmarks/results/validation-2026-12-07-b/draw_cases.py``) before any of them was
measured. fresh44, fresh45 and fresh46 have been seen (models were judged on them); this is the next check no model
change was made or gated on."""

FRESH48: list[list[tuple[str, object]]] = [
    [(NODES, 2), (PER_NODE, 2), (MB, 32), (ACC, 4), (BUCKET, "3 MiB"), (RATE, "625 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (MB, 48), (ACC, 6), (BUCKET, "1 MiB"), (RATE, "625 Mbit/s")],
    [(NODES, 6), (MB, 48), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "625 Mbit/s")],
    [(NODES, 3), ("model.layers", 5), ("model.hidden", 1152), (MB, 56), (ACC, 3), (BUCKET, "5 MiB"),
     (RATE, "275 Mbit/s")],
    [(NODES, 5), (MB, 96), (ACC, 2), (BUCKET, "16 MiB"), (RATE, "275 Mbit/s"),
     ("variability.stragglers", [{"worker": 4, "slowdown": 1.75}])],
    [(NODES, 2), ("model.layers", 3), ("model.hidden", 896), (MB, 80), (ACC, 2), (BUCKET, "1 MiB"),
     (RATE, "875 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "ring"), (MB, 96), (BUCKET, "3 MiB"), (RATE, "625 Mbit/s")],
    [(NODES, 8), (ALG, "ring"), (MB, 32), (ACC, 4), (BUCKET, "1 MiB"), (RATE, "875 Mbit/s")],
    [(NODES, 7), (ALG, "ring"), (MB, 40), (BUCKET, "16 MiB"), (RATE, "275 Mbit/s"), ("communication.overlap", False)],
    [(NODES, 4), (ALG, "tree"), (MB, 32), (ACC, 3), (BUCKET, "10 MiB"), (RATE, "275 Mbit/s")],
    [(NODES, 2), (ALG, "tree"), (MB, 64), (ACC, 8), (BUCKET, "7 MiB"), (RATE, "275 Mbit/s")],
    [(NODES, 2), (ALG, "tree"), (MB, 120), (BUCKET, "25 MiB"), (RATE, "275 Mbit/s")],
    [(NODES, 8), (ALG, "halving-doubling"), (MB, 112), (BUCKET, "1 MiB"), (RATE, "875 Mbit/s")],
    [(NODES, 6), (ALG, "halving-doubling"), (MB, 256), (BUCKET, "100 MiB"), (RATE, "875 Mbit/s")],
    [(NODES, 8), (ALG, "halving-doubling"), (MB, 40), (ACC, 2), (BUCKET, "5 MiB"), (RATE, "875 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 216), (BUCKET, "1 MiB"), (RATE, "625 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 48), (ACC, 8), (BUCKET, "100 MiB"), (RATE, "625 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 192), (BUCKET, "1 MiB"), (RATE, "875 Mbit/s")],
]  # fmt: skip
"""A sixth set (``--case-set fresh48``, stop 48): stop 44's rule drawn again (``random.Random(48)``) at links of 275,
625 and 875 Mbit/s (no stored result of any kind names them; the calibration uses 150 / 450 / 1200), written down
(``benchmarks/results/validation-2026-12-07-c/draw_cases.py``) before any of them was measured. fresh44 to fresh47
have been seen (models were judged on them); this is the next check no model change was made or gated on."""

FRESH49: list[list[tuple[str, object]]] = [
    [(NODES, 4), (PER_NODE, 2), (MB, 40), (BUCKET, "3 MiB"), (RATE, "575 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (MB, 80), (ACC, 4), (BUCKET, "50 MiB"), (RATE, "225 Mbit/s")],
    [(NODES, 5), (MB, 40), (ACC, 2), (BUCKET, "3 MiB"), (RATE, "925 Mbit/s")],
    [(NODES, 2), ("model.layers", 3), ("model.hidden", 640), (MB, 40), (ACC, 6), (BUCKET, "10 MiB"),
     (RATE, "225 Mbit/s")],
    [(NODES, 4), (MB, 72), (ACC, 4), (BUCKET, "25 MiB"), (RATE, "575 Mbit/s"),
     ("variability.stragglers", [{"worker": 3, "slowdown": 1.75}])],
    [(NODES, 3), ("model.layers", 5), ("model.hidden", 896), (MB, 128), (ACC, 2), (BUCKET, "100 MiB"),
     (RATE, "225 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "ring"), (MB, 48), (ACC, 8), (BUCKET, "1 MiB"), (RATE, "225 Mbit/s")],
    [(NODES, 8), (ALG, "ring"), (MB, 56), (ACC, 2), (BUCKET, "5 MiB"), (RATE, "575 Mbit/s")],
    [(NODES, 6), (ALG, "ring"), (MB, 112), (BUCKET, "5 MiB"), (RATE, "225 Mbit/s")],
    [(NODES, 7), (ALG, "tree"), (MB, 32), (ACC, 2), (BUCKET, "5 MiB"), (RATE, "225 Mbit/s"),
     ("communication.overlap", False)],
    [(NODES, 5), (ALG, "tree"), (MB, 40), (BUCKET, "1 MiB"), (RATE, "575 Mbit/s")],
    [(NODES, 8), (ALG, "tree"), (MB, 216), (BUCKET, "7 MiB"), (RATE, "925 Mbit/s")],
    [(NODES, 7), (ALG, "halving-doubling"), (MB, 128), (BUCKET, "25 MiB"), (RATE, "925 Mbit/s")],
    [(NODES, 6), (ALG, "halving-doubling"), (MB, 40), (ACC, 8), (BUCKET, "1 MiB"), (RATE, "575 Mbit/s")],
    [(NODES, 6), (ALG, "halving-doubling"), (MB, 80), (BUCKET, "100 MiB"), (RATE, "925 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 40), (BUCKET, "7 MiB"), (RATE, "575 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 256), (BUCKET, "5 MiB"), (RATE, "925 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 112), (ACC, 3), (BUCKET, "1 MiB"), (RATE, "925 Mbit/s")],
]  # fmt: skip
"""A seventh set (``--case-set fresh49``, stop 49): stop 44's rule drawn again (``random.Random(49)``) at links of 225,
575 and 925 Mbit/s (no stored result of any kind names them; the calibration uses 150 / 450 / 1200), written down
(``benchmarks/results/validation-2026-12-07-d/draw_cases.py``) before any of them was measured. fresh44 to fresh48
have been seen (models were judged on them); this is the next check no model change was made or gated on."""

FRESH50: list[list[tuple[str, object]]] = [
    [(NODES, 4), (PER_NODE, 2), (MB, 32), (ACC, 2), (BUCKET, "3 MiB"), (RATE, "975 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (MB, 184), (ACC, 2), (BUCKET, "100 MiB"), (RATE, "175 Mbit/s")],
    [(NODES, 5), (MB, 56), (ACC, 4), (BUCKET, "25 MiB"), (RATE, "675 Mbit/s"),
     ("variability.stragglers", [{"worker": 2, "slowdown": 1.5}])],
    [(NODES, 8), (MB, 32), (BUCKET, "1 MiB"), (RATE, "175 Mbit/s")],
    [(NODES, 7), ("model.layers", 3), ("model.hidden", 1152), (MB, 96), (BUCKET, "5 MiB"), (RATE, "675 Mbit/s")],
    [(NODES, 6), ("model.layers", 5), ("model.hidden", 1152), (MB, 32), (ACC, 8), (BUCKET, "1 MiB"),
     (RATE, "175 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "ring"), (MB, 104), (BUCKET, "1 MiB"), (RATE, "175 Mbit/s")],
    [(NODES, 4), (ALG, "ring"), (MB, 64), (ACC, 3), (BUCKET, "1 MiB"), (RATE, "975 Mbit/s")],
    [(NODES, 3), (ALG, "ring"), (MB, 192), (BUCKET, "7 MiB"), (RATE, "675 Mbit/s"), ("communication.overlap", False)],
    [(NODES, 2), (ALG, "tree"), (MB, 40), (ACC, 6), (BUCKET, "5 MiB"), (RATE, "675 Mbit/s")],
    [(NODES, 3), (ALG, "tree"), (MB, 80), (ACC, 2), (BUCKET, "100 MiB"), (RATE, "975 Mbit/s")],
    [(NODES, 2), (ALG, "tree"), (MB, 128), (BUCKET, "5 MiB"), (RATE, "675 Mbit/s")],
    [(NODES, 2), (ALG, "halving-doubling"), (MB, 48), (BUCKET, "50 MiB"), (RATE, "975 Mbit/s")],
    [(NODES, 2), (ALG, "halving-doubling"), (MB, 32), (ACC, 4), (BUCKET, "1 MiB"), (RATE, "175 Mbit/s")],
    [(NODES, 7), (ALG, "halving-doubling"), (MB, 256), (BUCKET, "50 MiB"), (RATE, "675 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 64), (ACC, 2), (BUCKET, "25 MiB"), (RATE, "975 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 88), (ACC, 3), (BUCKET, "1 MiB"), (RATE, "975 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 56), (BUCKET, "10 MiB"), (RATE, "175 Mbit/s")],
]  # fmt: skip
"""An eighth set (``--case-set fresh50``, stop 50): stop 44's rule drawn again (``random.Random(50)``) at links of 175,
675 and 975 Mbit/s (no stored result of any kind names them; the calibration uses 150 / 450 / 1200), written down
(``benchmarks/results/validation-2026-12-07-e/draw_cases.py``) before any of them was measured. fresh44 to fresh49
have been seen (models were judged on them); this is the next check no model change was made or gated on."""

FRESH51: list[list[tuple[str, object]]] = [
    [(NODES, 4), (PER_NODE, 2), (MB, 32), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "125 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (MB, 96), (BUCKET, "5 MiB"), (RATE, "525 Mbit/s")],
    [(NODES, 4), ("model.layers", 5), ("model.hidden", 1152), (MB, 200), (BUCKET, "1 MiB"), (RATE, "125 Mbit/s")],
    [(NODES, 5), (MB, 56), (ACC, 2), (BUCKET, "50 MiB"), (RATE, "1025 Mbit/s")],
    [(NODES, 6), ("model.layers", 5), ("model.hidden", 1152), (MB, 208), (BUCKET, "3 MiB"), (RATE, "525 Mbit/s")],
    [(NODES, 6), (MB, 48), (ACC, 6), (BUCKET, "3 MiB"), (RATE, "125 Mbit/s"),
     ("variability.stragglers", [{"worker": 5, "slowdown": 1.25}])],
    [(NODES, 3), (PER_NODE, 2), (ALG, "ring"), (MB, 88), (BUCKET, "1 MiB"), (RATE, "125 Mbit/s")],
    [(NODES, 3), (ALG, "ring"), (MB, 96), (ACC, 2), (BUCKET, "3 MiB"), (RATE, "1025 Mbit/s")],
    [(NODES, 7), (ALG, "ring"), (MB, 56), (ACC, 4), (BUCKET, "16 MiB"), (RATE, "1025 Mbit/s")],
    [(NODES, 8), (ALG, "tree"), (MB, 88), (BUCKET, "25 MiB"), (RATE, "125 Mbit/s")],
    [(NODES, 2), (ALG, "tree"), (MB, 48), (ACC, 8), (BUCKET, "16 MiB"), (RATE, "525 Mbit/s")],
    [(NODES, 4), (ALG, "tree"), (MB, 88), (ACC, 4), (BUCKET, "100 MiB"), (RATE, "1025 Mbit/s"),
     ("communication.overlap", False)],
    [(NODES, 7), (ALG, "halving-doubling"), (MB, 32), (BUCKET, "50 MiB"), (RATE, "1025 Mbit/s")],
    [(NODES, 7), (ALG, "halving-doubling"), (MB, 48), (BUCKET, "16 MiB"), (RATE, "525 Mbit/s")],
    [(NODES, 5), (ALG, "halving-doubling"), (MB, 104), (ACC, 3), (BUCKET, "1 MiB"), (RATE, "125 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 32), (ACC, 8), (BUCKET, "3 MiB"), (RATE, "1025 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 104), (ACC, 2), (BUCKET, "100 MiB"), (RATE, "525 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 256), (BUCKET, "1 MiB"), (RATE, "525 Mbit/s")],
]  # fmt: skip
"""A ninth set (``--case-set fresh51``, stop 51): stop 44's rule drawn again (``random.Random(51)``) at links of 125,
525 and 1025 Mbit/s (no stored result of any kind names them; the calibration uses 150 / 450 / 1200), written down
(``benchmarks/results/validation-2026-12-07-f/draw_cases.py``, with its one repair: seed 51 left out 2 ranks one a
node, given to the first later one-a-node case) before any of them was measured. fresh44 to fresh50
have been seen (models were judged on them); this is the next check no model change was made or gated on."""

FRESH52: list[list[tuple[str, object]]] = [
    [(NODES, 2), (PER_NODE, 2), (MB, 40), (ACC, 3), (BUCKET, "1 MiB"), (RATE, "1175 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (MB, 32), (ACC, 8), (BUCKET, "1 MiB"), (RATE, "825 Mbit/s")],
    [(NODES, 8), (MB, 120), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "1175 Mbit/s")],
    [(NODES, 5), ("model.layers", 5), ("model.hidden", 640), (MB, 32), (BUCKET, "7 MiB"), (RATE, "825 Mbit/s")],
    [(NODES, 2), ("model.layers", 5), ("model.hidden", 640), (MB, 256), (BUCKET, "1 MiB"), (RATE, "1175 Mbit/s")],
    [(NODES, 3), (MB, 40), (ACC, 8), (BUCKET, "7 MiB"), (RATE, "375 Mbit/s"),
     ("variability.stragglers", [{"worker": 1, "slowdown": 1.25}])],
    [(NODES, 4), (PER_NODE, 2), (ALG, "ring"), (MB, 72), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "825 Mbit/s")],
    [(NODES, 6), (ALG, "ring"), (MB, 32), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "375 Mbit/s")],
    [(NODES, 4), (ALG, "ring"), (MB, 56), (ACC, 3), (BUCKET, "3 MiB"), (RATE, "375 Mbit/s")],
    [(NODES, 7), (ALG, "tree"), (MB, 248), (BUCKET, "5 MiB"), (RATE, "825 Mbit/s")],
    [(NODES, 3), (ALG, "tree"), (MB, 96), (BUCKET, "5 MiB"), (RATE, "1175 Mbit/s")],
    [(NODES, 8), (ALG, "tree"), (MB, 40), (ACC, 6), (BUCKET, "7 MiB"), (RATE, "375 Mbit/s"),
     ("communication.overlap", False)],
    [(NODES, 2), (ALG, "halving-doubling"), (MB, 64), (ACC, 4), (BUCKET, "10 MiB"), (RATE, "375 Mbit/s")],
    [(NODES, 3), (ALG, "halving-doubling"), (MB, 72), (BUCKET, "100 MiB"), (RATE, "1175 Mbit/s")],
    [(NODES, 3), (ALG, "halving-doubling"), (MB, 32), (BUCKET, "1 MiB"), (RATE, "825 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 40), (ACC, 2), (BUCKET, "3 MiB"), (RATE, "375 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 40), (BUCKET, "100 MiB"), (RATE, "825 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 40), (ACC, 4), (BUCKET, "5 MiB"), (RATE, "1175 Mbit/s")],
]  # fmt: skip
"""A tenth set (``--case-set fresh52``, stop 52): stop 44's rule with stop 51's repair drawn again
(``random.Random(52)``; the repair changes nothing in it) at links of 375, 825 and 1175 Mbit/s (no stored result of any
kind names them; the calibration uses 150 / 450 / 1200), written down (``benchmarks/results/validation-2026-12-07-g/
draw_cases.py``) before any of them was measured. fresh44 to fresh51 have been seen (models were judged on them); this
is the next check no model change was made or gated on."""

FRESH53: list[list[tuple[str, object]]] = [
    [(NODES, 3), (PER_NODE, 2), (MB, 40), (BUCKET, "25 MiB"), (RATE, "690 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (MB, 80), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "290 Mbit/s")],
    [(NODES, 7), ("model.layers", 5), ("model.hidden", 896), (MB, 32), (ACC, 8), (BUCKET, "1 MiB"),
     (RATE, "290 Mbit/s")],
    [(NODES, 4), (MB, 104), (BUCKET, "1 MiB"), (RATE, "1090 Mbit/s")],
    [(NODES, 8), ("model.layers", 5), ("model.hidden", 640), (MB, 32), (ACC, 6), (BUCKET, "7 MiB"),
     (RATE, "690 Mbit/s")],
    [(NODES, 5), (MB, 64), (ACC, 4), (BUCKET, "7 MiB"), (RATE, "690 Mbit/s"),
     ("variability.stragglers", [{"worker": 1, "slowdown": 1.5}])],
    [(NODES, 4), (PER_NODE, 2), (ALG, "ring"), (MB, 104), (BUCKET, "1 MiB"), (RATE, "690 Mbit/s")],
    [(NODES, 6), (ALG, "ring"), (MB, 32), (ACC, 2), (BUCKET, "25 MiB"), (RATE, "1090 Mbit/s")],
    [(NODES, 2), (ALG, "ring"), (MB, 40), (ACC, 8), (BUCKET, "3 MiB"), (RATE, "290 Mbit/s"),
     ("communication.overlap", False)],
    [(NODES, 3), (ALG, "tree"), (MB, 160), (ACC, 2), (BUCKET, "100 MiB"), (RATE, "290 Mbit/s")],
    [(NODES, 7), (ALG, "tree"), (MB, 168), (BUCKET, "5 MiB"), (RATE, "690 Mbit/s")],
    [(NODES, 8), (ALG, "tree"), (MB, 32), (ACC, 3), (BUCKET, "1 MiB"), (RATE, "1090 Mbit/s")],
    [(NODES, 6), (ALG, "halving-doubling"), (MB, 48), (ACC, 4), (BUCKET, "1 MiB"), (RATE, "1090 Mbit/s")],
    [(NODES, 7), (ALG, "halving-doubling"), (MB, 96), (ACC, 2), (BUCKET, "100 MiB"), (RATE, "1090 Mbit/s")],
    [(NODES, 2), (ALG, "halving-doubling"), (MB, 72), (BUCKET, "50 MiB"), (RATE, "690 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 256), (BUCKET, "25 MiB"), (RATE, "290 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 32), (BUCKET, "16 MiB"), (RATE, "1090 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 40), (BUCKET, "10 MiB"), (RATE, "290 Mbit/s")],
]  # fmt: skip
"""An eleventh set (``--case-set fresh53``, stop 53): stop 44's rule with stop 51's repair drawn again
(``random.Random(53)``; the repair changes nothing in it) at links of 290, 690 and 1090 Mbit/s (no stored result of any
kind names them; the calibration uses 150 / 450 / 1200), written down (``benchmarks/results/validation-2026-12-07-h/
draw_cases.py``) before any of them was measured. fresh44 to fresh52 have been seen (models were judged on them); this
is the next check no model change was made or gated on."""

FRESH54: list[list[tuple[str, object]]] = [
    [(NODES, 4), (PER_NODE, 2), (MB, 40), (ACC, 6), (BUCKET, "5 MiB"), (RATE, "1130 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (MB, 64), (BUCKET, "3 MiB"), (RATE, "1130 Mbit/s")],
    [(NODES, 5), (MB, 40), (ACC, 8), (BUCKET, "5 MiB"), (RATE, "1130 Mbit/s")],
    [(NODES, 6), ("model.layers", 3), ("model.hidden", 896), (MB, 56), (ACC, 4), (BUCKET, "7 MiB"),
     (RATE, "610 Mbit/s")],
    [(NODES, 7), ("model.layers", 3), ("model.hidden", 1152), (MB, 64), (BUCKET, "100 MiB"), (RATE, "260 Mbit/s")],
    [(NODES, 3), (MB, 104), (ACC, 2), (BUCKET, "100 MiB"), (RATE, "610 Mbit/s"),
     ("variability.stragglers", [{"worker": 2, "slowdown": 1.75}])],
    [(NODES, 3), (PER_NODE, 2), (ALG, "ring"), (MB, 40), (BUCKET, "1 MiB"), (RATE, "260 Mbit/s")],
    [(NODES, 2), (ALG, "ring"), (MB, 40), (ACC, 3), (BUCKET, "1 MiB"), (RATE, "1130 Mbit/s")],
    [(NODES, 8), (ALG, "ring"), (MB, 48), (ACC, 3), (BUCKET, "1 MiB"), (RATE, "260 Mbit/s"),
     ("communication.overlap", False)],
    [(NODES, 4), (ALG, "tree"), (MB, 40), (BUCKET, "3 MiB"), (RATE, "1130 Mbit/s")],
    [(NODES, 3), (ALG, "tree"), (MB, 56), (ACC, 8), (BUCKET, "1 MiB"), (RATE, "610 Mbit/s")],
    [(NODES, 4), (ALG, "tree"), (MB, 40), (ACC, 2), (BUCKET, "25 MiB"), (RATE, "260 Mbit/s")],
    [(NODES, 3), (ALG, "halving-doubling"), (MB, 120), (BUCKET, "25 MiB"), (RATE, "260 Mbit/s")],
    [(NODES, 4), (ALG, "halving-doubling"), (MB, 64), (BUCKET, "1 MiB"), (RATE, "610 Mbit/s")],
    [(NODES, 3), (ALG, "halving-doubling"), (MB, 256), (ACC, 2), (BUCKET, "16 MiB"), (RATE, "610 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 48), (ACC, 2), (BUCKET, "3 MiB"), (RATE, "260 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 32), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "1130 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 104), (BUCKET, "1 MiB"), (RATE, "610 Mbit/s")],
]  # fmt: skip
"""A twelfth set (``--case-set fresh54``, stop 54): stop 44's rule with stop 51's repair drawn again
(``random.Random(54)``; the repair changes nothing in it) at links of 260, 610 and 1130 Mbit/s (no stored result of any
kind names them; the calibration uses 150 / 450 / 1200), written down (``benchmarks/results/validation-2026-12-08-a/
draw_cases.py``) before any of them was measured. fresh44 to fresh53 have been seen (models were judged on them); this
is the next check no model change was made or gated on."""

FRESH55: list[list[tuple[str, object]]] = [
    [(NODES, 3), (PER_NODE, 2), (MB, 40), (BUCKET, "7 MiB"), (RATE, "360 Mbit/s")],
    [(NODES, 2), (PER_NODE, 2), (MB, 40), (ACC, 8), (BUCKET, "3 MiB"), (RATE, "740 Mbit/s")],
    [(NODES, 4), ("model.layers", 5), ("model.hidden", 896), (MB, 56), (BUCKET, "1 MiB"), (RATE, "1060 Mbit/s")],
    [(NODES, 6), (MB, 64), (BUCKET, "5 MiB"), (RATE, "360 Mbit/s")],
    [(NODES, 5), (MB, 32), (ACC, 6), (BUCKET, "1 MiB"), (RATE, "360 Mbit/s"),
     ("variability.stragglers", [{"worker": 2, "slowdown": 1.5}])],
    [(NODES, 5), ("model.layers", 5), ("model.hidden", 1152), (MB, 64), (ACC, 4), (BUCKET, "1 MiB"),
     (RATE, "740 Mbit/s")],
    [(NODES, 3), (PER_NODE, 2), (ALG, "ring"), (MB, 56), (ACC, 2), (BUCKET, "100 MiB"), (RATE, "740 Mbit/s")],
    [(NODES, 7), (ALG, "ring"), (MB, 88), (ACC, 3), (BUCKET, "3 MiB"), (RATE, "1060 Mbit/s")],
    [(NODES, 8), (ALG, "ring"), (MB, 128), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "360 Mbit/s")],
    [(NODES, 3), (ALG, "tree"), (MB, 48), (ACC, 3), (BUCKET, "1 MiB"), (RATE, "740 Mbit/s"),
     ("communication.overlap", False)],
    [(NODES, 3), (ALG, "tree"), (MB, 128), (ACC, 2), (BUCKET, "3 MiB"), (RATE, "1060 Mbit/s")],
    [(NODES, 7), (ALG, "tree"), (MB, 64), (BUCKET, "1 MiB"), (RATE, "1060 Mbit/s")],
    [(NODES, 6), (ALG, "halving-doubling"), (MB, 120), (BUCKET, "1 MiB"), (RATE, "740 Mbit/s")],
    [(NODES, 2), (ALG, "halving-doubling"), (MB, 136), (BUCKET, "16 MiB"), (RATE, "360 Mbit/s")],
    [(NODES, 2), (ALG, "halving-doubling"), (MB, 32), (ACC, 8), (BUCKET, "16 MiB"), (RATE, "1060 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 40), (BUCKET, "100 MiB"), (RATE, "740 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 256), (BUCKET, "1 MiB"), (RATE, "360 Mbit/s")],
    [(NODES, 4), (PER_NODE, 2), (ALG, "hierarchical"), (MB, 56), (ACC, 2), (BUCKET, "1 MiB"), (RATE, "1060 Mbit/s")],
]  # fmt: skip
"""A thirteenth set (``--case-set fresh55``, stop 55): stop 44's rule with stop 51's repair drawn again
(``random.Random(55)``; the repair changes nothing in it) at links of 360, 740 and 1060 Mbit/s (no stored result of any
kind names them; the calibration uses 150 / 450 / 1200), written down (``benchmarks/results/validation-2026-12-08-b/
draw_cases.py``) before any of them was measured. fresh44 to fresh54 have been seen (models were judged on them); this
is the next check no model change was made or gated on."""

CASE_SETS = {
    "default": CASES, "fresh44": FRESH44, "fresh45": FRESH45, "fresh46": FRESH46, "fresh47": FRESH47,
    "fresh48": FRESH48, "fresh49": FRESH49, "fresh50": FRESH50, "fresh51": FRESH51,
    "fresh52": FRESH52, "fresh53": FRESH53, "fresh54": FRESH54, "fresh55": FRESH55,
}  # fmt: skip


QUICK = CalibrationPlan(
    ranks=(2, 3, 4), sizes=(8 * 1024, 2 << 20, 8 << 20), algorithms=("ring", "backend"), collectives=("all_reduce",),
    link_classes=("inter", "intra"), reps=3, curve_hiddens=(512, 1024), curve_micro_batches=(16, 64),
    host_processes=(1, 2, 4),
)  # fmt: skip
"""A reduced calibration for checking the pipeline end to end (``--quick``), not for the measurement."""


def _saved_runs(folder: Path, cases: int, profile: Path | None = None) -> list[list[StepResult]]:
    """The measured runs of a previous validation in ``folder``, per case (every repeat, or the median run);
    ``profile`` the one they are predicted with (default: the folder's ``profile.yaml``)."""
    runs = folder / "runs.jsonl"
    measured = read_jsonl(runs if runs.exists() else folder / "records.jsonl")
    measured = [r for r in measured if r.engine == "runtime"]
    if not measured or len(measured) % cases:
        raise ScenarioError("", f"{len(measured)} measured runs do not split over {cases} configurations", str(folder))
    load_profile(profile or folder / "profile.yaml")  # damaged or missing, named here
    repeats = len(measured) // cases
    return [measured[i * repeats : (i + 1) * repeats] for i in range(cases)]


def _recorded_case_set(folder: Path) -> str | None:
    """The case set ``folder``'s ``summary.json`` records (None: no ``summary.json``, or one that records none: an
    older folder, the default set). A ``summary.json`` that cannot be read, is not a JSON object, or records a set
    this script does not have (another script's folder: plain_ddp's ``heldout``) is refused in one line naming it
    (stop 48: it was read as none recorded, and the runs' check then blamed ``--case-set``; a list recorded was a
    ``TypeError`` traceback)."""
    path = folder / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ScriptError(f"--reuse: {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # not UTF-8, or not JSON
        raise ScriptError(f"--reuse: {path}: {exc}") from None
    expected = f"one of {', '.join(CASE_SETS)} (as this script writes it; another script's folder? pass --case-set)"
    if not isinstance(summary, dict):
        raise ScriptError(f"--reuse: {path}: expected a JSON object whose case_set is {expected}")
    recorded = summary.get("case_set")
    if recorded is not None and not (isinstance(recorded, str) and recorded in CASE_SETS):
        raise ScriptError(f"--reuse: {path}: case_set {json.dumps(recorded)[:60]}: expected {expected}")
    return recorded


def _check_runs_are_the_cases(saved: list[list[StepResult]], cases: list[Case], case_set: str, folder: Path) -> None:
    """Refuse to price ``folder``'s runs as ``cases`` when a run's ranks, algorithm, batch, accumulation or link rate
    is not its case's: two case sets of the same length would otherwise be priced as each other silently."""
    for index, (runs, case) in enumerate(zip(saved, cases, strict=True)):
        s = case.scenario
        want = (s.world_size, s.communication.algorithm, s.training.global_batch, s.accumulation_steps)
        for run in runs:
            rate = run.extra.get("link_rate_bytes_per_s")
            got = (run.world_size, run.algorithm, run.global_batch, run.accumulation_steps)
            if got != want or (rate is not None and not math.isclose(rate, s.cluster.inter_node.bandwidth)):
                raise ScenarioError(
                    "--case-set", f"run of configuration {index} ({case.label}) has ranks, algorithm, batch, "
                    f"accumulation {got} at {rate} B/s: not --case-set {case_set}'s; pass the set it ran",
                    str(folder),
                )  # fmt: skip


def _portable(path: Path) -> str:
    """``path`` relative to the working directory, or its last two parts where it lies outside it."""
    resolved, cwd = path.resolve(), Path.cwd().resolve()
    return str(resolved.relative_to(cwd)) if resolved.is_relative_to(cwd) else str(Path(*resolved.parts[-2:]))


def _portable_paths(out: Path, profile: Path | None = None) -> None:
    """Record the output folder and the profile (each record's ``hardware_source``) as paths relative to the working
    directory, not this machine's absolute paths."""
    paths = [out] + ([profile] if profile is not None else [])
    for records in (out / "records.jsonl", out / "runs.jsonl"):
        if not records.exists():
            continue
        text = records.read_text(encoding="utf-8")
        for path in sorted(paths, key=lambda p: -len(str(p.resolve()))):  # the longer first: one may hold the other
            text = text.replace(str(path.resolve()), _portable(path))
        records.write_text(re.sub(r"/tmp/dpsim-(validate|reuse)-\w+/", "<tmp>/", text), encoding="utf-8")


def print_breakdown(out: Path, engines: list[str]) -> None:
    """The step's terms, measured against predicted, per configuration (``--breakdown``): from ``out``'s records."""
    records = read_jsonl(out / "records.jsonl")
    measured = [r for r in records if r.engine == "runtime"]
    terms = (*STEP_TERMS, "unattributed_s", "step_time_s")
    names = {"compute_s": "compute", "exposed_comm_s": "exposed", "optimizer_s": "optimizer",
             "unattributed_s": "rest", "step_time_s": "step"}  # fmt: skip
    for name in engines:
        predicted = [r for r in records if r.engine == name]
        for estimator in ESTIMATORS:
            rows, summary = breakdown(list(zip(measured, predicted, strict=True)), estimator)
            print(f"\n{name}, {estimator} rank: measured / predicted ms per term (rest = step − the terms)")
            print("case  " + "".join(f"{names[t]:>18s}" for t in terms))
            for index, row in enumerate(rows):
                cells = "".join(f"{1e3 * row[f'measured_{t}']:8.1f} /{1e3 * row[f'predicted_{t}']:8.1f}" for t in terms)
                print(f"{index:4d}  {cells}")
            lines = (("mean residual ms", "mean_residual_s", 1e3), ("… % of step", "share_of_step_pct", 1),
                     ("mean error %", "bias_pct", 1), ("MAPE %", "mape_pct", 1))  # fmt: skip
            for label, key, scale in lines:
                values = [summary[t][key] * scale for t in terms]
                print(
                    f"{label:16s}" + "".join("            -     " if math.isnan(v) else f"{v:+18.1f}" for v in values)
                )
    runs = read_jsonl(out / "runs.jsonl")
    repeats = len(runs) // len(measured)
    steps = [
        statistics.median(r.step_time_s for r in runs[i * repeats : (i + 1) * repeats]) for i in range(len(measured))
    ]
    for name in engines:
        predicted = [r for r in records if r.engine == name]
        print(f"{name}: step MAPE against each configuration's median step over its {repeats} runs "
              f"(not the median run's): {mape(steps, [r.step_time_s for r in predicted]):.2f} %")  # fmt: skip
        for estimator in ESTIMATORS:
            for repeat in range(repeats):
                pairs = [(runs[i * repeats + repeat], p) for i, p in enumerate(predicted)]
                summary = breakdown(pairs, estimator)[1]
                cells = ", ".join(f"{names[t]} {1e3 * summary[t]['mean_residual_s']:+.1f} ms "
                                  f"({summary[t]['share_of_step_pct']:+.1f} %)" for t in terms)  # fmt: skip
                print(f"  {estimator} rank, run {repeat + 1} of each: mean residual {cells}")


def _bench_records(bench: Path) -> list[dict[str, Any]]:
    """A calibration's benchmark records (``calibration-bench.json``), checked."""
    from runtime.calibrate import bench_records_problem

    try:
        records = json.loads(bench.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScenarioError("", f"expected the calibration's benchmark records (JSON): {exc}", str(bench)) from None
    if (problem := bench_records_problem(records)) is not None:
        raise ScenarioError("", problem, str(bench))
    return list(records)


POOLED_ALIKE = ("testbed", "model", "tcp_congestion_control", "cores", "torch_version", "optimizer_name",
                "last_level_cache_bytes", "optimizer_cold_bytes")  # fmt: skip
"""What the calibrations ``--pool`` pools must share (their profiles' ``meta``): one testbed, model, TCP congestion
control and core count, so the averages are of one host's repeated measurements; and (stop 50, pooling across
sessions) one torch build (its kernels time the compute curve), one optimizer (its fit is averaged) and one
last-level cache with the bytes the optimizer fit wrote to evict it (what makes the fit cold), so that no pool
averages two different steps or two hosts."""


def _refit(profile: Path, bench: Path, tmp: Path, out: Path | None, pool: Sequence[Path] = ()) -> Path:
    """``profile`` with its links fitted again from ``bench`` (the calibration's records) by the current code; with
    ``pool`` (other calibrations' folders of the same testbed), over every calibration's records, on the host's
    slowdowns, compute and optimizer averaged over them (:func:`runtime.calibrate.pool_profiles`)."""
    from dpsim.calibration import save_profile
    from runtime.calibrate import pool_problem, pool_profiles, refit_links

    loaded = load_profile(profile)
    if loaded.host_model is None:
        raise ScenarioError("host_model", "--refit needs a testbed profile with a host_model", str(profile))
    records = _bench_records(bench)
    others = []
    seen = [bench.parent.resolve()]
    for folder in pool:
        if folder.resolve() in seen:  # round 28: pooled again, its calibration counted twice in every average and fit
            what = "the calibration --refit fits" if folder.resolve() == seen[0] else "given twice"
            raise ScenarioError("--pool", f"{what}: each calibration is pooled once", str(folder))
        seen.append(folder.resolve())
        other = load_profile(folder / "profile.yaml")
        if other.host_model is None:
            raise ScenarioError("host_model", "--pool needs testbed profiles with a host_model", str(folder))
        for key in POOLED_ALIKE:  # round 28: another testbed's, model's or host's calibration averaged in silently
            if (theirs := other.meta.get(key)) != (ours := loaded.meta.get(key)):
                raise ScenarioError(f"meta.{key}", f"{theirs!r}, where the calibration --refit fits has {ours!r}: "
                                    "--pool pools calibrations of one testbed", str(folder))  # fmt: skip
        if (problem := pool_problem(loaded, other)) is not None:  # round 29: a k one lacks, left out silently
            raise ScenarioError("", problem, str(folder))
        others.append(other)
        records += _bench_records(folder / "calibration-bench.json")
    refitted = refit_links(pool_profiles(loaded, others), records, CalibrationPlan(), "emulated")
    target = (out or tmp) / "profile-refit.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    save_profile(refitted, target)
    return target


@one_line_errors
def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="results folder (default benchmarks/results/validation; "
                   "with --reuse none: printed only)")  # fmt: skip
    p.add_argument("--reuse", type=Path, help="predict again from this previous run's measurements (no testbed)")
    p.add_argument("--profile", type=Path, help="use this profile instead of calibrating (the default calibrates)")
    p.add_argument("--repeats", type=whole(1, 1000), default=3, help="runs of every configuration")
    p.add_argument("--steps", type=whole(1, 100_000), default=5, help="measured steps per run (after 1 warm-up step)")
    p.add_argument("--case-set", choices=sorted(CASE_SETS), default=None, help="default: the 18 configurations "
                   "stop 42 ran (CASES); fresh44: 18 no session ran before stop 44 (FRESH44); fresh45: 18 more at "
                   "other rates, drawn for stop 45 (FRESH45); fresh46: 18 more at other rates again, drawn for stop 46 "
                   "(FRESH46); fresh47: the same rule with seed 47 at 325 / 725 / 1250 Mbit/s (FRESH47); "
                   "fresh48: seed 48 at 275 / 625 / 875 Mbit/s (FRESH48); fresh49: seed 49 at 225 / 575 / 925 Mbit/s "
                   "(FRESH49); fresh50: seed 50 at 175 / 675 / 975 Mbit/s (FRESH50); fresh51: seed 51 at 125 / 525 / "
                   "1025 Mbit/s (FRESH51); fresh52: seed 52 at 375 / 825 / 1175 Mbit/s (FRESH52); "
                   "fresh53: seed 53 at 290 / 690 / 1090 Mbit/s (FRESH53); fresh54: seed 54 at 260 / 610 / 1130 Mbit/s "
                   "(FRESH54); fresh55: seed 55 at 360 / 740 / 1060 Mbit/s (FRESH55). With --reuse: the folder's own "
                   "(summary.json), else default")  # fmt: skip
    p.add_argument("--limit", type=whole(1), default=None, help="run only the first N configurations")
    p.add_argument("--skip", type=whole(0), default=0, help="leave out the first N configurations (a session's second "
                   "part; concatenate the parts' runs.jsonl and --reuse them for one table)")  # fmt: skip
    p.add_argument("--refit", action="store_true", help="with --reuse: fit the profile's links (κ, ε_c, η, p, α) "
                   "again from the folder's calibration-bench.json (else the one beside --profile) with the "
                   "current code first (written to --out as profile-refit.yaml)")  # fmt: skip
    p.add_argument("--pool", type=Path, action="append", default=[], metavar="DIR", help="with --refit: another "
                   "calibration of the same testbed (a folder with its profile.yaml and calibration-bench.json) whose "
                   "points the refit pools with the reused one's: the links fitted over both, the host's slowdowns, "
                   "compute and optimizer averaged (repeatable)")  # fmt: skip
    p.add_argument("--breakdown", action="store_true", help="also print the step's terms, measured vs predicted")
    p.add_argument(
        "--tcp-cc",
        help="the emulated nodes' TCP congestion control for the calibration and the runs "
        "(default: DPSIM_TCP_CC, else the host's; recorded in the profile's meta and every run's extra)",
    )
    p.add_argument("--quick", action="store_true", help="smoke test: a reduced calibration (not the measurement)")
    p.add_argument("--max-residual", type=number(0.0, 1e6), default=MAX_RESIDUAL, help="largest accepted relative fit "
                   "residual of the calibration made here (0.05 = 5 %%, dpsim calibrate's rule; the link fits above it "
                   "are measured again first): above it, exit 2; a larger limit records what it accepted "
                   "in summary.json")  # fmt: skip
    args = p.parse_args()
    given = [a.split("=", 1)[0] for a in sys.argv[1:] if a.startswith("--")]
    if args.reuse is not None and (dropped := [o for o in ("--repeats", "--steps", "--quick") if o in given]):
        # round 26: each was taken and dropped without a word (the stored runs' repeats and steps decide, and
        # nothing is calibrated)
        raise ScriptError(f"{dropped[0]}: --reuse re-predicts the stored runs as they were measured: it measures "
                          "and calibrates nothing")  # fmt: skip
    if args.reuse is None and args.refit:
        raise ScriptError("--refit: only with --reuse (it fits a stored calibration's links again)")
    if args.pool and not args.refit:
        raise ScriptError("--pool: only with --refit (it pools other calibrations' points into the refit)")
    for folder in args.pool:
        if not (folder / "profile.yaml").is_file() or not (folder / "calibration-bench.json").is_file():
            raise ScriptError(f"--pool: {folder} holds no profile.yaml and calibration-bench.json (a calibration's "
                              "folder)")  # fmt: skip
    case_set = args.case_set or (_recorded_case_set(args.reuse) if args.reuse is not None else None) or "default"
    chosen = CASE_SETS[case_set]
    limit = len(chosen) if args.limit is None else args.limit
    if not chosen[args.skip : limit]:
        raise ScriptError(f"--skip {args.skip}: no configuration left of the first {limit} ({len(chosen)} in all)")
    if not (math.isfinite(args.max_residual) and args.max_residual > 0):
        raise ScriptError(f"--max-residual: expected a finite relative residual > 0 (0.05 = 5 %), "
                          f"got {args.max_residual!r}")  # fmt: skip
    if args.reuse is None:
        need_root()
        if args.tcp_cc is not None:
            from runtime.testbed.emulated import congestion_controls

            one_of("--tcp-cc", args.tcp_cc, congestion_controls())
    elif args.tcp_cc is not None:
        raise ScriptError("--tcp-cc: sets the testbed's measurements; --reuse measures nothing")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dpsim-validate-" if args.reuse is None else "dpsim-reuse-") as tmp:
        out = args.out or (Path(tmp) / "out" if args.reuse else Path(__file__).parent / "results" / "validation")
        scenario = Path(tmp) / "scenario.yaml"
        scenario.write_text(SCENARIO)
        cases = build_cases(scenario, [], chosen[args.skip : limit])
        plan = dataclasses.replace(QUICK if args.quick else CalibrationPlan(), tcp_cc=args.tcp_cc or "")
        measure, repeats, profile = None, args.repeats, args.profile
        if args.reuse is not None:
            saved = _saved_runs(args.reuse, len(cases), args.profile)
            _check_runs_are_the_cases(saved, cases, case_set, args.reuse)
            measure, repeats = (lambda index, case, r: saved[index][r]), len(saved[0])
            if profile is None:
                profile = Path(tmp) / "profile.yaml"  # a copy: the reused folder stays as it was
                shutil.copyfile(args.reuse / "profile.yaml", profile)
            if args.refit:
                bench = args.reuse / "calibration-bench.json"
                if not bench.exists() and args.profile is not None:  # the calibration's folder holds it
                    bench = args.profile.parent / "calibration-bench.json"
                profile = _refit(profile, bench, Path(tmp), args.out, args.pool)
        table, summary = validate(
            cases, out, testbed="emulated", engines=["analytic", "sim"], plan=plan, profile=profile,
            options=JobOptions(warmup_steps=1, steps=args.steps), repeats=repeats, work_dir=Path(tmp) / "work",
            measure=measure, log=print if args.reuse is None else (lambda line: None), max_residual=args.max_residual,
        )  # fmt: skip
        summary["wall_s"] = time.monotonic() - started
        summary["case_set"] = case_set
        uncertainty = load_profile(profile or out / "profile.yaml").meta.get("benchmark_uncertainty") or {}
        if args.reuse is None or args.out is not None:
            _portable_paths(out, args.profile)
            (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        if args.breakdown:
            print_breakdown(out, ["analytic", "sim"])
    from dpsim.cli_runtime import validation_table

    print(validation_table(table, ["analytic", "sim"]))
    print()
    for name in ("analytic", "sim"):
        by_repeat = ", ".join(f"{v:.2f}" for v in summary[f"mape_{name}_by_repeat_pct"])
        print(
            f"MAPE step time ({name}): {summary[f'mape_{name}_step_time_pct']:.2f} % over {summary['cases']} "
            f"configurations (per repeat: {by_repeat} %), worst case {summary[f'worst_{name}_step_time_pct']:.1f} %"
        )
    spread = (table["measured_step_max_s"] - table["measured_step_min_s"]) / table["measured_step_time_s"]
    print(
        f"run-to-run spread of the measured step time (max − min)/median: median {100 * spread.median():.1f} %, "
        f"largest {100 * spread.max():.1f} %"
    )
    load = summary.get("host_load") or {}
    if load.get("runs_recorded"):
        print(
            f"other processes on the host during the runs (extra.host_load): median {load['other_cores_median']:.2f} "
            f"cores, largest {load['other_cores_max']:.2f}; {load['runs_other_above_0_25_cores']} of "
            f"{load['runs_recorded']} runs above 0.25 cores; steal at most {load['steal_cores_max']:.2f} cores"
        )
    cc = summary.get("tcp_congestion_control") or {}
    if cc:
        print(f"nodes' TCP congestion control: profile {cc.get('profile')}, runs {', '.join(cc.get('runs') or [])}")
    if pace := pace_line(summary):
        print(pace)
    for warning in summary.get("warnings") or []:
        print(f"warning: {warning}")
    print(f"held-out configurations (no calibration point shared): {summary['held_out_cases']} of {summary['cases']}")
    if uncertainty:
        print("calibration points, 95 % half width of each median: " + ", ".join(
            f"{k.replace('_', ' ')} {100 * v:.1f} %" for k, v in uncertainty.items()))  # fmt: skip
    print("fit residuals: " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in sorted(summary["fit_residuals"].items())))
    for line in residual_lines(summary):
        print(line)
    print(
        f"wrote {args.out or 'nothing (--reuse without --out)' if args.reuse else out} in "
        f"{summary['wall_s'] / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except ScenarioError as exc:  # a damaged --reuse folder or profile: one line, as the dpsim commands
        print(f"error: {exc.one_line()}", file=sys.stderr)
        code = 2
    except CalibrationError as exc:  # the calibration made here, above --max-residual after measuring again
        print(f"error: calibration: {exc} (the profile is in --out for inspection; no configuration was run)",
              file=sys.stderr)  # fmt: skip
        code = 2
    raise SystemExit(code)
