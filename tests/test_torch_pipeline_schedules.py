"""torch.distributed.pipelining's schedules (torch 2.6.0, transcribed in benchmarks/torch_pipeline_schedules.py)
against the engines' schedule, and the one chunk forward its interleaved lock step adds
(dpsim.analytic.step.torch_lockstep_s)."""

from __future__ import annotations

import pytest

from benchmarks import torch_pipeline_schedules as tps
from dpsim import api, compute
from dpsim.scenario import scenario_from_dict

GRID = [(p, v, k) for p in (2, 3, 4, 8) for v in (2, 3, 4) for k in (1, 2, 3)]


@pytest.mark.parametrize(("p", "v", "k"), GRID)
def test_torch_interleaved_table_is_the_engines_order_and_causal(p: int, v: int, k: int) -> None:
    assert tps.orders_match(p, k * p, v)
    assert tps.table_is_causal(p, k * p, v)


@pytest.mark.parametrize(("p", "v", "k"), GRID)
@pytest.mark.parametrize(("forward", "backward"), [(1.0, 3.0), (1.0, 2.0), (0.25, 0.25), (2.0, 3.0)])
def test_lock_step_ends_one_chunk_forward_after_the_engines_schedule(
    p: int, v: int, k: int, forward: float, backward: float
) -> None:
    m = k * p
    ours = tps.engines_makespan(p, m, v, forward, backward, "interleaved")
    assert ours == pytest.approx((v * m + p - 1) * (forward + backward))  # Narayanan et al. 2021 §2.2.2
    assert tps.lockstep_makespan(p, m, v, forward, backward) == pytest.approx(ours + forward)


@pytest.mark.parametrize(("p", "m"), [(2, 2), (4, 4), (4, 8), (8, 8), (8, 16), (3, 7)])
def test_torch_1f1b_runs_in_the_engines_makespan(p: int, m: int) -> None:
    assert tps.schedule_1f1b_makespan(p, m, 1.0, 3.0) == pytest.approx((m + p - 1) * 4.0)
    assert tps.engines_makespan(p, m, 1, 1.0, 3.0, "1f1b") == pytest.approx((m + p - 1) * 4.0)


def _gpt2_pipeline(runtime: str, schedule: str) -> dict:
    return {
        "name": f"pp4-{runtime}-{schedule}",
        "model": {"preset": "gpt2-xl"},
        "cluster": {"nodes": 1, "workers_per_node": 4, "device": "a100-80gb", "intra_node": "nvlink3"},
        "training": {
            "global_batch": 8,
            "micro_batch": 1,
            "pipeline_parallel": 4,
            "pipeline_schedule": schedule,
            **({"virtual_stages": 2} if schedule == "interleaved" else {}),
            "pipeline_runtime": runtime,
        },
    }


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_torch_interleaved_pipeline_adds_one_chunk_forward_to_the_step(engine: str) -> None:
    # GPT-2 XL, PP 4 x 2 chunks of 6 layers, 8 micro-batches, no TP: the slowest stage's forward over 2 chunks
    torch = scenario_from_dict(_gpt2_pipeline("torch", "interleaved"))
    megatron = scenario_from_dict(_gpt2_pipeline("megatron", "interleaved"))
    chunk = compute.compute_times(torch).forward_s / 2
    assert chunk > 0.0
    a, b = api.run(torch, engine=engine), api.run(megatron, engine=engine)
    assert a.bubble_s - b.bubble_s == pytest.approx(chunk, rel=1e-12)
    assert a.step_time_s - b.step_time_s == pytest.approx(chunk, rel=1e-9)
    plain = [api.run(scenario_from_dict(_gpt2_pipeline(r, "1f1b")), engine=engine) for r in ("torch", "megatron")]
    assert plain[0].step_time_s == plain[1].step_time_s


@pytest.mark.parametrize(("p", "v", "k"), [(2, 2, 1), (2, 3, 3), (3, 2, 2), (4, 2, 2), (4, 3, 3), (8, 2, 1), (8, 3, 2)])
def test_lock_step_waits_for_every_steady_state_send(p: int, v: int, k: int) -> None:
    # one send time on every boundary: beyond the one chunk forward, the lock step exposes 2(p - 1) + 2v(m - p) sends
    # that the engines' overlapped sends hide (not priced: the README's lock-step paragraph)
    m, send = k * p, 0.05
    ours = tps.engines_makespan(p, m, v, 1.0, 3.0, "interleaved", send)
    waits = (2 * (p - 1) + 2 * v * (m - p)) * send
    assert tps.lockstep_makespan(p, m, v, 1.0, 3.0, send) == pytest.approx(ours + 1.0 + waits)
