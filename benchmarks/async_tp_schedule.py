"""torch's AsyncTP fused ops as their two-stream schedule, against dpsim's closed form (diagnostic, nothing priced).

dpsim prices a fused TP collective of ``C`` seconds beside a GEMM of ``g`` (run as ``t`` GEMMs of 1/t of the rows) as
hiding ``min(C, g·(t−1)/t)`` (:func:`dpsim.analytic.parallel.tensor_parallel_hidden_time`). This script replays the
schedule torch/distributed/_symmetric_memory/__init__.py issues for each fused op, with ``m = g/t`` a chunk's GEMM and
``c = C/(t−1)`` a chunk's copy:

- ``fused_all_gather_matmul`` (``_pipelined_multi_all_gather_and_consume``): the local shard's GEMM on the current
  stream, then steps 1..t−1 alternate between the backend stream (odd) and the current stream (even), each a
  copy-engine pull of one peer's shard followed by its GEMM;
- ``fused_matmul_reduce_scatter`` (``_pipelined_produce_and_all2all``): steps 1..t−1 on the same alternation, each a
  chunk's GEMM, a barrier, the peer's pull of it and a second barrier, the local chunk's GEMM last on the current
  stream (a 100-cycle sleep on the current stream at step 2 lets the backend stream's first GEMM start first).

The source's own constraint "p2p copies from different streams cannot overlap": one copy at a time (FIFO). GEMMs of the
two streams either run one after another (``fifo``: a persistent cuBLAS kernel holds every SM until it ends) or share
the SMs equally (``shared``). Barriers, the local shard's copy into the symmetric buffer and the partials' sum are left
out (dpsim prices those as local steps, :func:`dpsim.analytic.parallel.tensor_parallel_local_time`).

What it shows: the schedule hides what the closed form hides, exactly with FIFO GEMMs and within one chunk
(``min(c, m)``) a fused reduce-scatter with shared SMs, so AsyncTP's priced gain on the torchtitan rows (1.6-1.8 × the
published one on 8B and 70B alike) is not the schedule's: the remaining suspects are contention (SMs, HBM, power) of the
copies with the GEMMs, which no source at hand quantifies.

    PYTHONPATH=. python benchmarks/async_tp_schedule.py

prints, for each torchtitan AsyncTP row, the TP communication a micro-batch hides on one rank as dpsim prices it and as
the schedule gives it (both GEMM models), and for the rows with a vanilla-TP pair the step's published and predicted
gain in seconds.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.published_runs import TORCHTITAN_RUNS, PublishedRun, predict_run, step_seconds
from benchmarks.script_cli import Parser
from dpsim.analytic import parallel
from dpsim.analytic.step import model_parallel_fabric
from dpsim.scenario import scenario_from_dict

Op = tuple[str, float]
"""One operation on a stream: ("mm", seconds) on the SMs or ("cp", seconds) on the copy engine."""


def makespan(streams: Sequence[Sequence[Op]], fifo: bool) -> float:
    """Seconds until every stream's operations are done: each stream runs its operations in order; copies take the copy
    engine one at a time in the order they became ready; GEMMs run one at a time likewise (``fifo``) or share the SMs
    equally while several are ready."""
    pos = [0] * len(streams)
    left = [ops[0][1] if ops else 0.0 for ops in streams]
    copies = [(0.0, s) for s, ops in enumerate(streams) if ops and ops[0][0] == "cp"]
    gemms = [(0.0, s) for s, ops in enumerate(streams) if ops and ops[0][0] == "mm"]
    now, engine, sms = 0.0, -1, -1
    while any(pos[s] < len(ops) for s, ops in enumerate(streams)):
        if engine < 0 and copies:
            copies.sort()
            engine = copies.pop(0)[1]
        if fifo and sms < 0 and gemms:
            gemms.sort()
            sms = gemms.pop(0)[1]
        rate = ({sms: 1.0} if sms >= 0 else {}) if fifo else {s: 1.0 / len(gemms) for _, s in gemms}
        if engine >= 0:
            rate[engine] = 1.0
        step = min(left[s] / r for s, r in rate.items())
        now += step
        for s, r in rate.items():
            left[s] -= step * r
        for s in [s for s in rate if left[s] <= 1e-12 * max(1.0, now)]:
            if s == engine:
                engine = -1
            elif s == sms:
                sms = -1
            else:
                gemms = [(t, g) for t, g in gemms if g != s]
            pos[s] += 1
            if pos[s] < len(streams[s]):
                kind, seconds = streams[s][pos[s]]
                left[s] = seconds
                (copies if kind == "cp" else gemms).append((now, s))
    return now


def all_gather_matmul(m: float, c: float, t: int, fifo: bool) -> float:
    """Seconds of ``fused_all_gather_matmul`` over ``t`` ranks: chunk GEMMs of ``m``, chunk copies of ``c``."""
    current: list[Op] = [("mm", m)]
    backend: list[Op] = []
    for step in range(1, t):
        (current if step % 2 == 0 else backend).extend([("cp", c), ("mm", m)])
    return makespan([current, backend], fifo)


def matmul_reduce_scatter(m: float, c: float, t: int, fifo: bool) -> float:
    """Seconds of ``fused_matmul_reduce_scatter`` over ``t`` ranks (the backend stream listed first: its first GEMM
    starts first)."""
    current: list[Op] = []
    backend: list[Op] = []
    for step in range(1, t):
        (current if step % 2 == 0 else backend).extend([("mm", m), ("cp", c)])
    current.append(("mm", m))
    return makespan([backend, current], fifo)


def schedule_hidden(op: str, gemm_s: float, comm_s: float, t: int, fifo: bool) -> float:
    """Seconds of a fused op's collective the schedule hides: the GEMM plus the collective, less the fused op."""
    m, c = gemm_s / t, comm_s / (t - 1)
    fused = all_gather_matmul if op == "all_gather" else matmul_reduce_scatter
    return gemm_s + comm_s - fused(m, c, t, fifo)


def hidden_per_micro_batch(run: PublishedRun) -> dict[str, float]:
    """A micro-batch's hidden TP communication on one stage: dpsim's closed form and the schedule's (both GEMM models),
    over the fused pairs dpsim prices (:func:`dpsim.analytic.parallel._fused_pairs`)."""
    scenario = scenario_from_dict(dict(run.scenario), run.name)
    t = scenario.training.tensor_parallel
    comm = dict(parallel.tensor_parallel_collectives(scenario, model_parallel_fabric(scenario)))
    gemms = parallel._layer_gemm_seconds(scenario, t)
    layers = parallel.layers_per_stage(scenario)
    pairs = parallel._fused_pairs(scenario)
    out = {"dpsim": parallel.tensor_parallel_hidden_time(scenario, model_parallel_fabric(scenario))}
    for label, fifo in (("fifo", True), ("shared", False)):
        out[label] = layers * sum(schedule_hidden(op, gemms[name], comm[op], t, fifo) for op, name in pairs)
    return out


def _vanilla(run: PublishedRun) -> PublishedRun | None:
    name = run.name.replace(" AsyncTP", "")
    return next((r for r in TORCHTITAN_RUNS if r.name == name), None)


def main(argv: Sequence[str] | None = None) -> int:
    Parser(description=__doc__.splitlines()[0]).parse_args(argv)
    print("torchtitan AsyncTP rows: TP communication hidden a micro-batch on one rank (s), dpsim's closed form and")
    print("torch's schedule (GEMMs one at a time / sharing the SMs); the step's gain over the vanilla-TP row (s)")
    print(f"{'row':64} {'dpsim':>8} {'fifo':>8} {'shared':>8} {'gain pub':>9} {'gain dpsim':>10}")
    for run in TORCHTITAN_RUNS:
        if "AsyncTP" not in run.name:
            continue
        hidden = hidden_per_micro_batch(run)
        gains = ""
        vanilla = _vanilla(run)
        if vanilla is not None:
            pub = step_seconds(vanilla, vanilla.published_tflops_per_gpu) - step_seconds(
                run, run.published_tflops_per_gpu
            )
            pred = step_seconds(vanilla, predict_run(vanilla)[0]) - step_seconds(run, predict_run(run)[0])
            gains = f"{pub:9.3f} {pred:10.3f}"
        print(f"{run.name:64} {hidden['dpsim']:8.3f} {hidden['fifo']:8.3f} {hidden['shared']:8.3f} {gains}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
