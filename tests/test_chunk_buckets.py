"""Megatron's distributed optimizer with interleaved pipelining: buckets per model chunk.

Exact timelines written out by hand (Megatron-LM ``schedules.py``,
``forward_backward_pipelining_with_interleaving``: each chunk's gradient sync starts in its own last
backward; chunk c's parameter gathers, c >= 2, are launched when chunk c - 1's first forward starts).
"""

from __future__ import annotations

from typing import Any

import pytest

from dpsim.analytic.step import predict
from dpsim.buckets import chunk_gradient_readiness, overlapped_gather_end
from dpsim.scenario import Scenario, scenario_from_dict
from dpsim.sim import simulate_timeline
from dpsim.sim.pipeline import simulate_pipeline

EXACT = 1e-12


def megatron(chunks: int) -> Scenario:
    """The scenario of :func:`megatron_data`."""
    return scenario_from_dict(megatron_data(chunks))


def megatron_data(chunks: int) -> dict[str, Any]:
    """2 data-parallel x 2 pipeline ranks on one node, 50 MB/s, no latency; fp32; 100M parameters.

    Flat compute: 3e12 FLOPs per sample at 1 TFLOP/s over 2 stages, 1.5 s per micro-batch and stage:
    0.5 s forward, 1 s backward. Two micro-batches. A stage's 50M parameters are 200 MB of fp32
    gradient and of parameters; with two chunks 100 MB each, in 50 MB buckets: a reduce-scatter or
    all-gather of 50 MB over 2 ranks at 50 MB/s takes 1/2 x 50/50 = 0.5 s.
    """
    interleaved = {"pipeline_schedule": "interleaved", "virtual_stages": chunks} if chunks > 1 else {}
    data: dict[str, Any] = {
        "model": {
            "layers": 4,
            "hidden": 64,
            "heads": 4,
            "seq_len": 16,
            "vocab": 100,
            "parameters": "100M",
            "flops_per_sample": 3e12,
        },
        "cluster": {
            "nodes": 1,
            "workers_per_node": 4,
            "device": {"peak_flops": "1 TFLOP/s", "memory": "80 GB", "memory_bandwidth": "1 TB/s", "efficiency": 1.0},
            "intra_node": {"bandwidth": "50 MB/s", "latency": "0 s"},
            "inter_node": {"bandwidth": "50 MB/s", "latency": "0 s"},
        },
        "training": {
            "global_batch": 4,
            "micro_batch": 1,
            "precision": "fp32",
            "pipeline_parallel": 2,
            "zero_stage": 1,
            "optimizer_sharding": "megatron",
            **interleaved,
        },
        "communication": {"algorithm": "ring", "protocol": "none", "bucket": "50 MB"},
    }
    return data


def _gather_exposed(result: Any) -> float:
    extra = result.extra
    others = extra["gradient_exposed_s"] + extra["pipeline_p2p_exposed_s"] + extra["tied_embedding_allreduce_s"]
    return float(result.exposed_comm_s - others)


def test_first_stage_ends_chunk_c_p_times_c_backwards_early() -> None:
    # The event-level interleaved pipeline (p 4, v 3, 8 micro-batches; per chunk 1 s forward, 2 s
    # backward): on stage 0 chunk c's last backward ends c·p chunk-backwards (c·8 s) before the stage's
    # last, which chunk_gradient_readiness assumes.
    p, v = 4, 3
    run = simulate_pipeline(1.0 * v, 2.0 * v, p, 8, v, "interleaved")
    last: dict[int, float] = {}
    for stage, kind, name, _, end in run.intervals:
        if stage == 0 and kind == "backward":
            chunk = int(name.split(".")[1]) // p
            last[chunk] = max(last.get(chunk, 0.0), end)
    assert [run.stage_end_s[0] - last[c] for c in range(v)] == [0.0, 8.0, 16.0]
    _, fractions = chunk_gradient_readiness(3.0, 1.0, v, p)  # one bucket per chunk, ready at its end
    assert fractions == pytest.approx([1 - 16 / 6, 1 - 8 / 6, 1.0])  # in units of the 6 s backward


def test_chunk_buckets_reduce_after_each_chunks_last_backward() -> None:
    """Two chunks: the last micro-batch's backward ends at E; chunk 1's last backward (0.5 s) ended
    p = 2 chunk-backwards earlier, at E - 1, chunk 0's at E. Buckets (0.5 s each) ready at E - 1.25,
    E - 1, E - 0.25, E run E-1.25..E-0.75, ..-0.25, ..+0.25, ..+0.75: 0.75 s exposed. One set of buckets
    for the stage, ready uniformly over the last backward (E - 0.75, -0.5, -0.25, E), exposes 1.25 s."""
    chunked, whole = predict(megatron(2)), predict(megatron(1))
    assert chunked.extra["forward_s"] == pytest.approx(0.5, rel=EXACT)
    assert chunked.extra["backward_s"] == pytest.approx(1.0, rel=EXACT)
    assert chunked.extra["buckets"] == 4
    assert chunked.extra["gradient_exposed_s"] == pytest.approx(0.75, rel=EXACT)
    assert whole.extra["gradient_exposed_s"] == pytest.approx(1.25, rel=EXACT)


def test_chunk_parameter_gathers_overlap_their_own_forward() -> None:
    """After the optimizer (time 0) the gathers run 0-0.5, -1 (chunk 0), -1.5, -2 (chunk 1). The first
    stage's forward: chunk 0's first micro-batch, 0.125 s per bucket, waits for each: 0.5-0.625,
    1-1.125; then chunk 0's second micro-batch, to 1.375; chunk 1's first: 1.5-1.625, 2-2.125. Of 2.125 s,
    0.75 s compute: 1.375 s exposed. Without chunks the four buckets feed one 0.5 s forward (0.125 s
    each) and it ends at 2.125 s with 0.5 s of compute: 1.625 s exposed."""
    assert _gather_exposed(predict(megatron(2))) == pytest.approx(1.375, rel=EXACT)
    assert _gather_exposed(predict(megatron(1))) == pytest.approx(1.625, rel=EXACT)


def test_simulated_timeline_of_the_chunk_buckets() -> None:
    """The simulator's event timeline: forward 0-0.5, backward 0.5-1.5, forward 1.5-2, backward 2-3
    (E = 3): the gradient reduce-scatters at 1.75-2.25, 2.25-2.75, 2.75-3.25, 3.25-3.75; the step
    equals the analytic engine's."""
    s = megatron(2)
    result, timeline = simulate_timeline(s, fidelity="fast")
    comm = [i for i in timeline.of(0) if i.category == "comm"]
    buckets = [x for i in comm if i.name.startswith("bucket") for x in (i.start_s, i.end_s)]
    assert buckets == pytest.approx([1.75, 2.25, 2.25, 2.75, 2.75, 3.25, 3.25, 3.75], rel=EXACT)
    gathers = [x for i in comm if i.name.startswith("parameter gather") for x in (i.start_s, i.end_s)]
    optimizer_end = 3.75 + result.optimizer_s
    assert gathers == pytest.approx([optimizer_end + 0.5 * (i // 2 + i % 2) for i in range(8)], rel=EXACT)
    assert result.step_time_s == pytest.approx(predict(s).step_time_s, rel=1e-9)


def test_gathers_of_later_chunks_wait_for_the_previous_chunks_forward() -> None:
    """Three chunks of one 1-unit bucket, gathers of 0.1 s, forward 3 (1 a chunk), p = 2: chunks 0 and
    1 gather from the start (done at 0.1, 0.2); chunk 0 computes 0.1-1.1, its second micro-batch to
    2.1, chunk 1 starts at 2.1, which releases chunk 2's gather (2.1-2.2); chunk 1 to 3.1, + 1, chunk 2
    4.1-5.1. Compute 3 + 2 (the other micro-batches) of 5.1: 0.1 exposed."""
    posted: list[float] = []
    stream = 0.0

    def gather(size: float, ready: float) -> float:
        nonlocal stream
        posted.append(ready)
        stream = max(stream, ready) + 0.1 * size
        return stream

    exposed = overlapped_gather_end([[1.0], [1.0], [1.0]], 2, 3.0, 0.0, gather)
    assert posted == pytest.approx([0.0, 0.0, 2.1])
    assert exposed == pytest.approx(0.1)
