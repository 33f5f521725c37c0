"""torch.distributed.pipelining over FSDP reduce-scatters a stage's gradients only after the stage's last backward.

``PipelineStage.backward_maybe_with_nosync`` (torch 2.6, torchtitan's Dec 2024 pipeline rows) runs every micro-batch's
backward with ``set_requires_gradient_sync(False)`` and then calls each FSDP parameter group's ``post_backward()``
itself, so the reduce-scatters of a stage (a model chunk under the interleaved schedule) all start when its last
backward ends (:func:`dpsim.buckets.stage_end_reduction`). Timelines written out by hand on
``test_chunk_buckets``' two-stage cluster (50 MB/s, no latency; a backward of 0.5 s a chunk).
"""

from __future__ import annotations

import pytest
from test_chunk_buckets import megatron_data  # pytest puts tests/ on the path

import benchmarks.published_runs as RUNS
from dpsim.analytic.step import predict
from dpsim.buckets import chunk_gradient_readiness, stage_end_reduction
from dpsim.scenario import Scenario, scenario_from_dict
from dpsim.sim import simulate

EXACT = 1e-9


def fsdp_pipeline(chunks: int, runtime: str = "torch") -> Scenario:
    """``test_chunk_buckets.megatron`` with FSDP SHARD_GRAD_OP under no_sync instead of Megatron's optimizer: 2
    data-parallel x 2 pipeline ranks, 100M parameters (200 MB of fp32 gradient a stage), two micro-batches; FSDP
    reduce-scatters unit by unit (two 99,992,576-byte layers a stage and a remainder), at 1/2 x size / 50 MB/s."""
    data = megatron_data(chunks)
    data["training"].update(zero_stage=2, optimizer_sharding="fsdp", fsdp_no_sync=True, pipeline_runtime=runtime)
    return scenario_from_dict(data)


def test_readiness_at_each_chunks_end() -> None:
    """Chunk c's buckets all ready when its last backward ends, 1 - c·p/v of the last micro-batch's backward
    (Megatron's are ready as that backward advances: 1 - (c·p + 1 - φ)/v)."""
    assert chunk_gradient_readiness(4.0, 1.0, 1, 8, at_chunk_end=True)[1] == [1.0] * 4
    assert chunk_gradient_readiness(4.0, 1.0, 2, 8, at_chunk_end=True)[1] == [1 - 8 / 2] * 2 + [1.0] * 2
    assert chunk_gradient_readiness(4.0, 1.0, 2, 8)[1] == pytest.approx([1 - 8.5 / 2, 1 - 8 / 2, 1 - 0.5 / 2, 1.0])


def test_one_stage_a_rank_reduces_after_its_last_backward() -> None:
    """1F1B: the stage's 200 MB are reduce-scattered after its last backward ends (E): 2 s, all exposed; under
    Megatron's runtime (FSDP's own hooks) the units are ready as the last backward advances, 1.5 s exposed."""
    torch_run, hooks = fsdp_pipeline(1), fsdp_pipeline(1, "megatron")
    assert stage_end_reduction(torch_run) and not stage_end_reduction(hooks)
    result = predict(torch_run)
    assert result.extra["gradient_comm_s"] == pytest.approx(2.0, rel=EXACT)
    assert result.extra["gradient_exposed_s"] == pytest.approx(2.0, rel=EXACT)
    assert predict(hooks).extra["gradient_exposed_s"] == pytest.approx(1.5, rel=1e-4)
    assert simulate(torch_run).step_time_s == pytest.approx(result.step_time_s, rel=EXACT)


def test_interleaved_chunks_reduce_after_their_own_last_backward() -> None:
    """Two chunks: chunk 1's last backward ended p = 2 chunk-backwards (1 s) before E, and its 100 MB (1 s) run
    E - 1 .. E; chunk 0's 100 MB start at E: 1 s exposed, on both engines."""
    scenario = fsdp_pipeline(2)
    result = predict(scenario)
    assert result.extra["backward_s"] == pytest.approx(1.0, rel=EXACT)
    assert result.extra["gradient_exposed_s"] == pytest.approx(1.0, rel=EXACT)
    assert simulate(scenario).step_time_s == pytest.approx(result.step_time_s, rel=EXACT)


def test_torchtitan_1f1b_rows_expose_the_whole_reduction() -> None:
    """torchtitan's 405B PP 8 1F1B rows (one stage a rank): every reduce-scatter is after the last backward, so the
    exposed gradient time is the whole reduction (it was 0.027 of 0.474 s before: fails on the old code)."""
    for run in RUNS.TORCHTITAN_RUNS:
        if "PP8 1F1B" in run.name:
            extra = RUNS.predict_run(run)[1].extra
            assert extra["gradient_exposed_s"] == pytest.approx(extra["gradient_comm_s"], rel=EXACT)
            assert extra["gradient_comm_s"] > 0.4
