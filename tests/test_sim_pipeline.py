"""The event-level pipeline (dpsim.sim.pipeline) against the closed forms (dpsim.analytic.parallel)."""

from __future__ import annotations

import pytest

from dpsim.analytic.parallel import pipeline_bubble_fraction, pipeline_step
from dpsim.sim.pipeline import schedule_order, simulate_pipeline

CASES = [
    (4, 8, 1, "gpipe"),
    (4, 8, 1, "1f1b"),
    (8, 64, 1, "1f1b"),
    (8, 16, 1, "1f1b"),
    (4, 8, 2, "interleaved"),
    (8, 32, 4, "interleaved"),
    (16, 32, 2, "interleaved"),
]


@pytest.mark.parametrize(("p", "m", "v", "schedule"), CASES)
def test_bubble_matches_closed_form(p: int, m: int, v: int, schedule: str) -> None:
    tf, tb = 0.010, 0.020
    run = simulate_pipeline(tf, tb, p, m, v, schedule)
    closed = pipeline_step(tf, tb, p, m, v, schedule)
    assert run.makespan_s == pytest.approx(closed.step_s, rel=0.02)
    assert run.bubble_s / run.makespan_s == pytest.approx(pipeline_bubble_fraction(p, m, v, schedule), rel=0.02)
    assert run.sends == 0


@pytest.mark.parametrize(("p", "m", "v", "schedule"), CASES)
def test_p2p_sends_match_closed_form(p: int, m: int, v: int, schedule: str) -> None:
    tf, tb, c = 0.010, 0.020, 0.0004
    run = simulate_pipeline(tf, tb, p, m, v, schedule, p2p_s=c)
    closed = pipeline_step(tf, tb, p, m, v, schedule, p2p_s=c)
    assert run.makespan_s == pytest.approx(closed.step_s, rel=0.02)
    chunks = v if schedule == "interleaved" else 1
    assert run.sends == 2 * m * (p * chunks - 1)  # every chunk boundary, both directions


def test_orders_contain_every_operation_once() -> None:
    p, m, v = 4, 8, 2
    orders = schedule_order(p, m, v, "interleaved")
    ops = [op for order in orders for op in order]
    assert len(ops) == len(set(ops)) == 2 * m * p * v
    assert all(c % p == d for d, order in enumerate(orders) for _, _, c in order)
    with pytest.raises(ValueError):
        schedule_order(4, 6, 2, "interleaved")


def test_straggling_stage_sets_the_pace() -> None:
    tf, tb, p, m = 0.01, 0.02, 4, 32
    base = simulate_pipeline(tf, tb, p, m)
    slow = simulate_pipeline(tf, tb, p, m, slowdowns=[1.0, 1.5, 1.0, 1.0])
    assert slow.makespan_s > base.makespan_s
    # the slow stage is busy m·1.5·(tf + tb) and everyone waits for it
    assert slow.makespan_s >= m * 1.5 * (tf + tb)
    assert slow.makespan_s == pytest.approx(m * 1.5 * (tf + tb) + (p - 1) * (tf + tb), rel=0.05)


@pytest.mark.parametrize(
    "overrides",
    [
        ["training.pipeline_parallel=8", "training.tensor_parallel=8"],
        ["training.pipeline_parallel=8", "training.tensor_parallel=8", "training.pipeline_schedule=interleaved",
         "training.virtual_stages=2"],
        ["training.pipeline_parallel=4", "training.tensor_parallel=2", "training.pipeline_schedule=gpipe"],
    ],
)  # fmt: skip
def test_scenario_overhead_matches_analytic(overrides: list[str]) -> None:
    from dpsim.analytic.parallel import with_tensor_parallel
    from dpsim.analytic.step import model_parallel_fabric, pipeline_terms, predict
    from dpsim.scenario import load_scenario
    from dpsim.sim.pipeline import scenario_pipeline

    s = load_scenario(
        None,
        ["model.preset=gpt3-175b", "cluster.nodes=16", "training.micro_batch=1", "training.global_batch=256",
         "training.activation_recomputation=full", *overrides],
    )  # fmt: skip
    r = predict(s)
    k = s.accumulation_steps
    tp_mb = r.extra["tensor_parallel_comm_s"] / k
    fwd, bwd = r.extra["forward_s"], r.extra["backward_s"]
    passes = with_tensor_parallel(s, fwd, bwd, tp_mb)
    simulated = scenario_pipeline(s, fwd, bwd, tp_mb).makespan_s - k * sum(passes)
    # the analytic engine evaluates the same schedule; the shared fabric's (scenario_pipeline) leaves out what else
    # crosses the sends' NICs (it runs the reductions and TP phases as flows beside it): the engines' own terms then
    bubble, sends = pipeline_terms(s, model_parallel_fabric(s), fwd, bwd, tp_mb, nic_loads=False)
    assert simulated == pytest.approx(bubble + sends, rel=1e-9)
    assert r.bubble_s == pytest.approx(bubble, rel=1e-12)
    assert r.extra["pipeline_p2p_exposed_s"] >= sends


@pytest.mark.parametrize(
    "overrides",
    [
        ["training.tensor_parallel=8", "training.pipeline_parallel=8", "training.activation_recomputation=full"],
        ["training.tensor_parallel=4", "training.pipeline_parallel=4", "training.pipeline_schedule=interleaved",
         "training.virtual_stages=3", "training.sequence_parallel=true", "training.activation_recomputation=selective"],
        ["training.tensor_parallel=8", "training.pipeline_parallel=2", "training.zero_stage=1",
         "training.pipeline_schedule=gpipe"],
    ],
)  # fmt: skip
def test_simulator_matches_analytic_for_hybrid_runs(overrides: list[str]) -> None:
    from dpsim.api import run

    base = ["model.preset=gpt3-175b", "cluster.nodes=16", "training.micro_batch=1", "training.global_batch=192"]
    analytic = run(None, overrides=[*base, *overrides])
    simulated = run(None, engine="sim", overrides=[*base, *overrides])
    assert simulated.step_time_s == pytest.approx(analytic.step_time_s, rel=0.02)
    assert simulated.bubble_s + simulated.exposed_comm_s == pytest.approx(
        analytic.bubble_s + analytic.exposed_comm_s, rel=0.02
    )
