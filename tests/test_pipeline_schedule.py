"""The pipeline schedule evaluated arithmetically (dpsim.analytic.pipeline_schedule): hand-worked timelines, the
simpy execution of the same rules bit for bit, one configuration an array element."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from dpsim.analytic.pipeline_schedule import (
    batch_bubble_and_sends,
    bubble_and_sends,
    evaluate_schedule,
    schedule_order,
    schedule_program,
)
from dpsim.sim.pipeline import simulate_pipeline

# 2 stages, 4 micro-batches, a micro-batch's forward 1 s and backward 2 s on a stage, each send 4 s: longer than
# any pass, so each link carries its sends one after another. Worked by hand from the rules (the module
# docstring): an operation starts at max(its stage free, its input arrived); a send leaves at max(its operation
# ends, its link free) and arrives 4 s later. Stage 0 -> 1 carries activations, 1 -> 0 gradients.
HAND = {
    # 1F1B. S0: F0 [0,1] (a0 1->5), F1 [1,2] (a1 waits the link: 5->9). S1: F0 [5,6] B0 [6,8] (g0 8->12),
    # F1 [9,10] B1 [10,12] (g1 12->16). S0: B0 [12,14], F2 [14,15] (a2 15->19), B1 [16,18], F3 [18,19]
    # (a3 19->23). S1: F2 [19,20] B2 [20,22] (g2 22->26), F3 [23,24] B3 [24,26] (g3 26->30).
    # S0: B2 [26,28], B3 [30,32].
    "1f1b": (1, 32.0, (32.0, 26.0)),
    # GPipe. S0: F0..F3 [0,4], activations arrive at 5, 9, 13, 17 (one link). S1: F0 [5,6] F1 [9,10] F2 [13,14]
    # F3 [17,18], B0..B3 [18,26], gradients leave at 20, 24, 28, 32 and arrive at 24, 28, 32, 36.
    # S0: B0 [24,26] B1 [28,30] B2 [32,34] B3 [36,38].
    "gpipe": (1, 38.0, (38.0, 26.0)),
    # Interleaved, v = 2 (chunks 0, 2 on S0, 1, 3 on S1; a chunk's forward 0.5 s, backward 1 s; the link
    # 0 -> 1 carries chunk 0's and chunk 2's activations and chunk 2's gradients). The last sends:
    # S1 B3.3 [42,43] -> S0 B3.2 at 47 [47,48] -> S1 B3.1 at 52 [52,53] -> S0 B3.0 at 57 [57,58].
    "interleaved": (2, 58.0, (58.0, 53.0)),
}


@pytest.mark.parametrize("schedule", sorted(HAND))
def test_sends_longer_than_a_pass_queue_on_their_link(schedule: str) -> None:
    v, makespan, ends = HAND[schedule]
    run = evaluate_schedule(1.0, 2.0, 2, 4, v, schedule, 4.0)
    assert run.makespan_s == makespan
    assert run.stage_end_s == ends
    assert run.busy_s == (12.0, 12.0)
    assert run.sends == 2 * 4 * (2 * v - 1)
    # the closed form (sends shorter than a pass) undercounts each of them: 31, 23, 37.5
    from dpsim.analytic.parallel import pipeline_step

    assert pipeline_step(1.0, 2.0, 2, 4, v, schedule, 4.0).step_s < makespan


def test_the_1f1b_timeline_by_hand() -> None:
    # every operation's start on stage 0, from the worked 1F1B case above, through the simpy execution's intervals
    run = simulate_pipeline(1.0, 2.0, 2, 4, 1, "1f1b", 4.0)
    starts = [(name, start) for stage, kind, name, start, _ in run.intervals if stage == 0 and kind != "p2p"]
    assert starts == [
        ("F0.0", 0.0), ("F1.0", 1.0), ("B0.0", 12.0), ("F2.0", 14.0), ("B1.0", 16.0), ("F3.0", 18.0),
        ("B2.0", 26.0), ("B3.0", 30.0),
    ]  # fmt: skip
    assert evaluate_schedule(1.0, 2.0, 2, 4, 1, "1f1b", 4.0).makespan_s == run.makespan_s


GRID = [
    (2, 4, 1, "1f1b"),
    (2, 4, 1, "gpipe"),
    (2, 4, 2, "interleaved"),
    (4, 8, 1, "1f1b"),
    (4, 6, 1, "1f1b"),
    (5, 3, 1, "1f1b"),
    (3, 5, 1, "gpipe"),
    (4, 8, 2, "interleaved"),
    (4, 12, 3, "interleaved"),
    (8, 16, 2, "interleaved"),
    (1, 4, 2, "interleaved"),
]


@pytest.mark.parametrize(("p", "m", "v", "schedule"), GRID)
def test_equals_the_event_level_simulation_bit_for_bit(p: int, m: int, v: int, schedule: str) -> None:
    rng = random.Random(f"{p}-{m}-{v}-{schedule}")
    for ratio in (0.0, 0.01, 0.3, 1.0, 3.0, 30.0):  # a send over a micro-batch's forward
        f, b = rng.uniform(0.1, 2.0), rng.uniform(0.1, 4.0)
        slow = [rng.uniform(0.5, 1.5) for _ in range(p)] if rng.random() < 0.5 else None
        sim = simulate_pipeline(f, b, p, m, v, schedule, ratio * f, slowdowns=slow)
        run = evaluate_schedule(f, b, p, m, v, schedule, ratio * f, slow)
        assert (run.makespan_s, run.busy_s, run.stage_end_s, run.sends) == (
            sim.makespan_s, sim.busy_s, sim.stage_end_s, sim.sends
        )  # fmt: skip
    # a duration of its own for some sends (the shared fabric's second pass)
    f, b = 1.0, 2.5
    ops = [op for order in schedule_order(p, m, v, schedule) for op in order]
    took = {op: rng.uniform(0.1, 5.0) for op in ops[::3]}
    sim = simulate_pipeline(f, b, p, m, v, schedule, 0.7, send_s=took)
    assert evaluate_schedule(f, b, p, m, v, schedule, 0.7, send_s=took).makespan_s == sim.makespan_s


def test_arrays_equal_the_scalar_evaluation_element_by_element() -> None:
    f = np.linspace(0.5, 2.0, 7)
    c = np.array([0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 40.0])
    for p, m, v, schedule in GRID:
        run = evaluate_schedule(f, 2.0 * f, p, m, v, schedule, c)
        one = [
            evaluate_schedule(float(a), float(2.0 * a), p, m, v, schedule, float(x)).makespan_s
            for a, x in zip(f, c, strict=True)
        ]
        assert run.makespan_s.tolist() == one
    # a send of 0 s in an array leaves when its operation ends and arrives then: the scalar run without sends
    mixed = np.where(c > 1.0, c, 0.0)
    for p, m, v, schedule in GRID:
        run = evaluate_schedule(f, 2.0 * f, p, m, v, schedule, mixed)
        one = [
            evaluate_schedule(float(a), float(2.0 * a), p, m, v, schedule, float(x))
            for a, x in zip(f, mixed, strict=True)
        ]
        assert run.makespan_s.tolist() == [r.makespan_s for r in one]
        assert np.array(run.stage_end_s).T.tolist() == [list(r.stage_end_s) for r in one]


LONG = [(2, 300, 1, "1f1b"), (32, 40, 1, "1f1b"), (8, 72, 2, "interleaved"), (16, 40, 1, "gpipe"), (3, 2800, 1, "1f1b")]


@pytest.mark.parametrize(("p", "m", "v", "schedule"), GRID + LONG)
def test_arrays_level_by_level_equal_the_scalar_evaluation_bit_for_bit(p: int, m: int, v: int, schedule: str) -> None:
    # the arrays run the program level by level (all stages' independent operations at once); every element is still
    # its own scalar run's makespan, stage ends and compute bit for bit, with stage slowdowns, sends from none to 30
    # passes, and past MAX_OPERATIONS (the last case: 16,800 operations, extended along the period)
    rng = random.Random(f"levels-{p}-{m}-{v}-{schedule}")
    n = 24
    f = np.array([rng.uniform(0.1, 2.0) for _ in range(n)])
    b = np.array([rng.uniform(0.1, 4.0) for _ in range(n)])
    c = f * np.array([rng.choice([0.0, 0.01, 0.3, 1.0, 3.0, 30.0]) for _ in range(n)])
    for slow in (None, [rng.uniform(0.5, 1.5) for _ in range(p)]):
        run = evaluate_schedule(f, b, p, m, v, schedule, c, slow)
        for i in range(n):
            one = evaluate_schedule(float(f[i]), float(b[i]), p, m, v, schedule, float(c[i]), slow)
            busy, ends = [float(x[i]) for x in run.busy_s], [float(x[i]) for x in run.stage_end_s]
            assert (float(run.makespan_s[i]), busy, ends) == (one.makespan_s, list(one.busy_s), list(one.stage_end_s))
        assert run.sends == evaluate_schedule(1.0, 2.0, p, m, v, schedule, 0.5, slow).sends


@pytest.mark.parametrize(("p", "m", "v", "schedule"), GRID + LONG)
def test_repeated_configurations_are_evaluated_once_with_the_same_bits(p: int, m: int, v: int, schedule: str) -> None:
    # the planner's groups repeat (forward, backward, send) many times over (ZeRO stages, algorithms): bubble_and_sends
    # evaluates each distinct one once; every element still equals its own scalar bubble and exposed sends
    from dpsim.analytic.pipeline_schedule import bubble_and_sends

    rng = random.Random(f"repeat-{p}-{m}-{v}-{schedule}")
    f = np.array([rng.choice([0.3, 0.7, 1.1]) for _ in range(40)])
    b = f * np.array([rng.choice([2.0, 2.5]) for _ in range(40)])
    c = f * np.array([rng.choice([0.0, 0.0, 0.2, 4.0]) for _ in range(40)])
    slow = [rng.uniform(0.5, 1.5) for _ in range(p)] if p % 2 else None
    bubble, sends = bubble_and_sends(f, b, p, m, v, schedule, c, slow)
    for i in range(f.size):
        one = bubble_and_sends(float(f[i]), float(b[i]), p, m, v, schedule, float(c[i]), slow)
        assert (float(bubble[i]), float(sends[i])) == one


def test_the_program_respects_every_dependency() -> None:
    for p, m, v, schedule in GRID:
        program = schedule_program(p, m, v, schedule)
        assert len(program) == 2 * p * m * (v if schedule == "interleaved" else 1)
        known: set[int] = set()
        for _stage, _forward, wait, out, _link, _feeds in program:
            assert wait < 0 or wait in known
            if out >= 0:
                known.add(out)
    with pytest.raises(ValueError, match="unknown pipeline schedule"):
        schedule_program(2, 4, 1, "zb")


SLOW_LINK = [
    "model.preset=llama2-7b",
    "cluster.nodes=2",
    "cluster.workers_per_node=1",
    "training.pipeline_parallel=2",
    "training.micro_batch=1",
    "training.global_batch=8",
]
SCHEDULES = [[], ["training.pipeline_schedule=interleaved", "training.virtual_stages=2"],
             ["training.pipeline_schedule=gpipe"]]  # fmt: skip


@pytest.mark.parametrize("schedule", SCHEDULES, ids=["1f1b", "interleaved", "gpipe"])
def test_the_analytic_engine_prices_sends_that_outlast_a_pass_from_the_schedule(schedule: list[str]) -> None:
    # Llama 2 7B, PP 2 on 2 nodes at 100 Mbit/s, 8 micro-batches: each 32 MiB activation takes 2.7 s on the
    # link, a stage's micro-batch (forward and backward) 0.53 s. The analytic step's bubble + exposed sends is
    # the event-level run of its own passes and sends (simpy) to 1e-9; the closed form it priced before was 8 %
    # (1F1B), 70 % (interleaved) and 77 % (GPipe) short of it (analytic 26.33 / 20.70 / 10.23 s against the
    # simulator's 28.49 / 68.24 / 44.08 s).
    from dpsim.analytic.parallel import pipeline_p2p_time, with_tensor_parallel
    from dpsim.analytic.step import model_parallel_fabric, predict
    from dpsim.scenario import load_scenario

    s = load_scenario(None, [*SLOW_LINK, "cluster.inter_node.bandwidth=100Mbit/s", *schedule])
    r = predict(s)
    t = s.training
    fwd, bwd = with_tensor_parallel(s, r.extra["forward_s"], r.extra["backward_s"], 0.0)
    send = pipeline_p2p_time(s, model_parallel_fabric(s, None))
    assert send > 4 * (fwd + bwd)
    run = simulate_pipeline(fwd, bwd, 2, 8, t.virtual_stages, t.pipeline_schedule, send)
    assert r.bubble_s + r.extra["pipeline_p2p_exposed_s"] == pytest.approx(run.makespan_s - 8 * (fwd + bwd), rel=1e-9)
    # what the sends add: the makespan with them less the one without
    idle = simulate_pipeline(fwd, bwd, 2, 8, t.virtual_stages, t.pipeline_schedule).makespan_s
    assert r.extra["pipeline_p2p_exposed_s"] == pytest.approx(run.makespan_s - idle, rel=1e-9)


@pytest.mark.parametrize("bandwidth", ["400Gbit/s", "10Gbit/s", "1Gbit/s", "100Mbit/s", "10Mbit/s"])
@pytest.mark.parametrize("schedule", SCHEDULES, ids=["1f1b", "interleaved", "gpipe"])
def test_engines_agree_on_pipelines_whatever_the_send_over_compute(schedule: list[str], bandwidth: str) -> None:
    # send / pass from ~1e-4 (400 Gbit/s) to ~300 (10 Mbit/s); before, the engines parted from 1 Gbit/s up
    # (interleaved +80.8 %, GPipe +56.8 %; 100 Mbit/s 1F1B +8.2 %, interleaved +230 %, GPipe +331 %)
    from dpsim.api import run

    overrides = [*SLOW_LINK, f"cluster.inter_node.bandwidth={bandwidth}", *schedule]
    analytic = run(None, overrides=overrides)
    simulated = run(None, engine="sim", overrides=overrides)
    assert simulated.step_time_s == pytest.approx(analytic.step_time_s, rel=1e-9)
    assert simulated.bubble_s == pytest.approx(analytic.bubble_s, rel=1e-9)


@pytest.mark.parametrize(("p", "schedule", "v"), [(2, "1f1b", 1), (4, "1f1b", 1), (8, "1f1b", 1), (4, "gpipe", 1),
                                                  (4, "interleaved", 2), (8, "interleaved", 2)])  # fmt: skip
def test_a_long_step_is_extended_along_its_period(
    monkeypatch: pytest.MonkeyPatch, p: int, schedule: str, v: int
) -> None:
    # past MAX_OPERATIONS the makespan is extended from two shorter runs (the max-plus system's period); here the
    # limit is lowered so that the full run stays cheap, and the extension is checked against it
    import dpsim.analytic.pipeline_schedule as ps

    rng = random.Random(f"{p}{schedule}")
    for ratio in (0.0, 0.05, 0.5, 2.0, 20.0):
        f, b = rng.uniform(0.5, 1.5), rng.uniform(1.0, 3.0)
        m = 40 * p + (0 if schedule == "interleaved" else rng.randrange(p))
        full = ps.evaluate_schedule(f, b, p, m, v, schedule, ratio * f)
        monkeypatch.setattr(ps, "MAX_OPERATIONS", 2 * p * (v if schedule == "interleaved" else 1) * 12 * p)
        short = ps.evaluate_schedule(f, b, p, m, v, schedule, ratio * f)
        monkeypatch.undo()
        assert short.makespan_s == pytest.approx(full.makespan_s, rel=1e-12)
        assert short.stage_end_s == pytest.approx(full.stage_end_s, rel=1e-12)
        assert short.sends == full.sends


def test_a_huge_step_stays_bounded() -> None:
    # 10^9 micro-batches: no 10^10 operations (a plan's screen with a global batch of 2^33 hung)
    run = evaluate_schedule(1.0, 2.0, 8, 10**9, 1, "1f1b", 0.0)
    assert run.makespan_s == pytest.approx((10**9 + 7) * 3.0, rel=1e-12)
    run = evaluate_schedule(1.0, 2.0, 8, 10**9, 1, "gpipe", 4.0)
    # GPipe's sends are a flow shop: the link (4 s a send) sets the pace of both phases
    assert run.makespan_s == pytest.approx(2 * 4.0 * 10**9, rel=1e-6)


@pytest.mark.parametrize(("p", "m", "v", "schedule"), [(4, 8, 1, "1f1b"), (8, 10**9, 1, "1f1b"),
                                                       (8, 10**6, 3, "interleaved"), (64, 10**4, 1, "gpipe"),
                                                       (64, 200, 1, "1f1b")])  # fmt: skip
def test_the_operations_counted_are_those_evaluated(
    monkeypatch: pytest.MonkeyPatch, p: int, m: int, v: int, schedule: str
) -> None:
    # what the cost guard charges (dpsim.sim.budget.check_schedule) is what _run executes: every operation of every
    # program it runs, counted here as they are fetched
    import dpsim.analytic.pipeline_schedule as ps

    ran: list[int] = []
    real = ps._run

    def counting(*args: object) -> ps.ScheduleTimes:
        ran.append(len(ps.schedule_program(*args[2:6])))  # type: ignore[arg-type]
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(ps, "_run", counting)
    ps.evaluate_schedule(1.0, 2.0, p, m, v, schedule, 0.5)
    assert sum(ran) == ps.evaluated_operations(p, m, v, schedule)
    every = 2 * p * m * (v if schedule == "interleaved" else 1)
    if every <= ps.MAX_OPERATIONS or m <= 4 * p:
        assert ran == [every]
    else:  # extended from two shorter steps, the longer of at least 4·p micro-batches however few MAX_OPERATIONS allows
        assert len(ran) == 2 and max(ran) >= every // m * 4 * p and sum(ran) < every


def test_the_programs_kept_are_bounded_in_operations(monkeypatch: pytest.MonkeyPatch) -> None:
    # a count of programs alone (lru_cache of 64) let a sweep over hundreds of stages keep 64 programs of half a
    # million operations each; the least recently used go once the operations held pass the bound
    import dpsim.analytic.pipeline_schedule as ps

    monkeypatch.setattr(ps, "CACHED_OPERATIONS", 1000)
    monkeypatch.setattr(ps, "_programs", type(ps._programs)())
    for m in range(4, 40):
        ps.schedule_program(4, m, 1, "1f1b")
        assert sum(map(len, ps._programs.values())) <= 1000
    assert list(ps._programs)[-1] == (4, 39, 1, "1f1b")
    kept = ps.schedule_program(4, 39, 1, "1f1b")
    assert kept is ps.schedule_program(4, 39, 1, "1f1b")  # kept: built once
    assert kept == ps._build_program(4, 39, 1, "1f1b")


def test_a_schedule_past_the_pricing_limit_is_refused_before_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # 512 stages ran 3.1 M operations in 26 s and 1,024 stages 12.6 M in 164 s and 5 GB, in either engine, with no
    # cost guard: refused up front naming the field (unless --allow-long), and nothing evaluated
    import dpsim.analytic.pipeline_schedule as ps
    from dpsim.api import engine_function
    from dpsim.errors import ScenarioError
    from dpsim.scenario import scenario_from_dict
    from dpsim.sim.budget import check_schedule

    def never(*args: object) -> None:
        raise AssertionError("the schedule was evaluated")

    monkeypatch.setattr(ps, "_run", never)
    data = {
        "name": "deep",
        "model": {"kind": "transformer", "layers": 1024, "hidden": 256, "heads": 4, "seq_len": 128, "vocab": 1000},
        "cluster": {"nodes": 256, "workers_per_node": 2, "device": "a100-80gb"},
        "training": {"global_batch": 4096, "micro_batch": 1, "pipeline_parallel": 512},
    }
    deep = scenario_from_dict(data)
    for engine in ("analytic", "sim"):
        with pytest.raises(ScenarioError, match="512 stages x 4,096 micro-batches") as info:
            engine_function(engine)(deep)
        assert info.value.field == "training.pipeline_parallel" and "--allow-long" in info.value.message
    check_schedule(deep, allow_long=True)  # allowed past the time limit, and under the memory limit
    data["model"]["layers"] = 32768  # type: ignore[index]
    data["cluster"] = {"nodes": 8192, "workers_per_node": 2, "device": "a100-80gb"}
    data["training"] = {"global_batch": 65536, "micro_batch": 1, "pipeline_parallel": 16384}
    with pytest.raises(ScenarioError, match="limit 8 GiB"):
        check_schedule(scenario_from_dict(data), allow_long=True)  # never past the memory limit
    data["model"]["layers"] = 1024  # type: ignore[index]
    data["training"] = {"global_batch": 2**40, "micro_batch": 1, "pipeline_parallel": 32}
    shallow = scenario_from_dict(data)
    check_schedule(shallow)  # 2^40 micro-batches through 32 stages: extended from 8,192 operations


def test_the_bubble_and_the_sends_are_never_negative() -> None:
    # both are differences of makespans; past about 2^50 micro-batches (the step extended from two short ones) the
    # rounding of a 1.5e13 s makespan outweighed the bubble: GPipe at 2^51 micro-batches printed a bubble of -1.84 s
    from dpsim.analytic.pipeline_schedule import bubble_and_sends
    from dpsim.api import engine_function
    from dpsim.scenario import scenario_from_dict

    data = {
        "name": "huge",
        "model": {"preset": "gpt2-small"},
        "cluster": {"nodes": 4, "workers_per_node": 2, "device": "a100-80gb"},
        "training": {"global_batch": 2**53, "micro_batch": 2, "pipeline_parallel": 2, "pipeline_schedule": "gpipe"},
    }
    result = engine_function("analytic")(scenario_from_dict(data))  # (the simulator refuses 2^50 micro-batches)
    assert result.bubble_s >= 0.0 and result.extra["pipeline_p2p_exposed_s"] >= 0.0
    assert math.isfinite(result.step_time_s)
    bubble, sends = bubble_and_sends(0.3, 0.6, 2, 10, 1, "1f1b", 0.05)
    assert type(bubble) is float and type(sends) is float and bubble == pytest.approx(0.9) and sends > 0
    bubble, sends = bubble_and_sends(
        np.array([0.3, 0.3]), np.array([0.6, 0.6]), 2, 10, 1, "1f1b", np.array([0.0, 0.05])
    )
    assert bubble.tolist() == pytest.approx([0.9, 0.9]) and sends[0] == 0.0 and sends[1] > 0


# --- a send time per stage boundary: a stage smaller than a node sends over NVLink inside it, the NIC at its edge ---


def test_a_slow_stage_boundary_by_hand() -> None:
    # 4 stages, 4 micro-batches, 1F1B, forward 1 s, backward 2 s, sends of 10 s across boundary 1 (stages 1 and 2 on
    # two nodes) and none across 0 and 2 (inside a node). Worked by hand from the rules: S1 sends a0 2 -> 12, a1 12 ->
    # 22, a2 22 -> 32; S2: F0 [12,13] F1 [22,23] B0 [23,25] (g0 25 -> 35) F2 [32,33] B1 [33,35] (g1 35 -> 45); S1: B0
    # [35,37] F3 [37,38] (a3 38 -> 48) B1 [45,47]; S2: F3 [48,49] B2 [49,51] (g2 51 -> 61) B3 [52,54] (g3 61 -> 71);
    # S1: B2 [61,63] B3 [71,73]; S0: B0 [37,39] B1 [47,49] B2 [63,65] B3 [73,75]. Without sends 7 x 3 = 21 s.
    sends = (0.0, 10.0, 0.0, 0.0)
    run = evaluate_schedule(1.0, 2.0, 4, 4, 1, "1f1b", sends)
    assert (run.makespan_s, run.stage_end_s, run.sends) == (75.0, (75.0, 73.0, 54.0, 52.0), 8)
    sim = simulate_pipeline(1.0, 2.0, 4, 4, 1, "1f1b", sends)
    assert (sim.makespan_s, sim.stage_end_s, sim.sends) == (75.0, (75.0, 73.0, 54.0, 52.0), 8)
    assert bubble_and_sends(1.0, 2.0, 4, 4, 1, "1f1b", sends) == (9.0, 54.0)
    # every boundary at 10 s (what one send time for all gives) is another step
    assert evaluate_schedule(1.0, 2.0, 4, 4, 1, "1f1b", 10.0).makespan_s > 75.0


def _boundary_sends(rng: random.Random, p: int, scale: float) -> tuple[float, ...]:
    """A send for each stage boundary: some inside a node (short, or none), some across (long)."""
    return tuple(rng.choice([0.0, 0.001 * scale, scale, 3.0 * scale]) for _ in range(p))


@pytest.mark.parametrize(("p", "m", "v", "schedule"), GRID)
def test_mixed_boundaries_equal_the_event_level_simulation_bit_for_bit(p: int, m: int, v: int, schedule: str) -> None:
    rng = random.Random(f"boundaries-{p}-{m}-{v}-{schedule}")
    for ratio in (0.01, 0.3, 1.0, 3.0, 30.0):
        f, b = rng.uniform(0.1, 2.0), rng.uniform(0.1, 4.0)
        slow = [rng.uniform(0.5, 1.5) for _ in range(p)] if rng.random() < 0.5 else None
        sends = _boundary_sends(rng, p, ratio * f)
        sim = simulate_pipeline(f, b, p, m, v, schedule, sends, slowdowns=slow)
        run = evaluate_schedule(f, b, p, m, v, schedule, sends, slow)
        assert (run.makespan_s, run.busy_s, run.stage_end_s, run.sends) == (
            sim.makespan_s, sim.busy_s, sim.stage_end_s, sim.sends
        )  # fmt: skip
        # one send time for every boundary, as a tuple: the float's evaluation bit for bit
        assert evaluate_schedule(f, b, p, m, v, schedule, (ratio * f,) * p, slow) == evaluate_schedule(
            f, b, p, m, v, schedule, ratio * f, slow
        )
    ops = [op for order in schedule_order(p, m, v, schedule) for op in order]
    took = {op: rng.uniform(0.1, 5.0) for op in ops[::3]}
    sends = _boundary_sends(rng, p, 0.7)
    sim = simulate_pipeline(1.0, 2.5, p, m, v, schedule, sends, send_s=took)
    assert evaluate_schedule(1.0, 2.5, p, m, v, schedule, sends, send_s=took).makespan_s == sim.makespan_s


@pytest.mark.parametrize(("p", "m", "v", "schedule"), [g for g in GRID + LONG if g[0] > 1])
def test_mixed_boundaries_in_arrays_equal_the_scalar_evaluation(p: int, m: int, v: int, schedule: str) -> None:
    # operation by operation below 4 stages, level by level from 4, extended past MAX_OPERATIONS
    rng = random.Random(f"arrays-{p}-{m}-{v}-{schedule}")
    f = np.linspace(0.5, 2.0, 5)
    columns = [_boundary_sends(rng, p, x) for x in (0.01, 0.5, 1.0, 5.0, 40.0)]
    sends = tuple(np.array([c[k] for c in columns]) for k in range(p))
    bubble, exposed = bubble_and_sends(f, 2.0 * f, p, m, v, schedule, sends)
    one = [bubble_and_sends(float(a), float(2.0 * a), p, m, v, schedule, c) for a, c in zip(f, columns, strict=True)]
    assert (bubble.tolist(), exposed.tolist()) == ([x for x, _ in one], [y for _, y in one])
    # the planner's screen: one column a boundary, more columns than stages (those past p not read)
    wide = np.array([[*c, 9.0, 9.0] for c in columns])
    shape_of = np.zeros(f.size, dtype=np.int64)
    assert [x.tolist() for x in batch_bubble_and_sends(f, 2.0 * f, wide, shape_of, [(p, m, v, schedule)])] == [
        bubble.tolist(),
        exposed.tolist(),
    ]


def test_sends_of_two_links_through_one_nic_share_it_while_both_are_in_flight() -> None:
    # 1F1B, 3 stages, 3 micro-batches, forward = backward = 1 s, every send 2 s alone; stage 1's sends back (1 -> 0)
    # and on (1 -> 2) leave through one NIC direction (0), one flow each. By hand, every time as the unshared
    # schedule has it up to 11 s: stage 1 runs B0 [10, 11] and sends it back from 11 (alone until 12: 1 s of it
    # left), F2 [11, 12] and sends it on from 12; from 12 both run at half pace: B0's send ends at 14; B1 [12, 13]
    # was queued behind it on 1 -> 0 and leaves at 14, so F2's send keeps half pace until 16 (1 s of it left at 14)
    # and B1's ends at 17 (half pace to 16, then its last 1 s alone). Stage 0 runs B0 [14, 15], B1 [17, 18], and
    # waits for B2 (stage 2: F2 [16, 17], B2 [17, 18]; sent 18 -> 20; stage 1 B2 [20, 21]; sent 21 -> 23): [23, 24].
    # Unshared (each link its own): 22 s.
    from dpsim.analytic.pipeline_schedule import evaluate_shared_nics

    nics = ((0, 1, ((1, 1),)), (1, 0, ((0, 1),)), (1, 2, ((0, 1),)), (2, 1, ((2, 1),)))
    record: list = []
    times = evaluate_shared_nics(1.0, 1.0, 3, 3, 1, "1f1b", (2.0, 2.0, 2.0), [1.0] * 3, nics, record)
    sent = {op: (start, end) for kind, _, op, start, end in record if kind == "send"}
    assert sent[("B", 0, 0)] == (11.0, 14.0)
    assert sent[("F", 2, 2)] == (12.0, 16.0)
    assert sent[("B", 1, 0)] == (14.0, 17.0)
    assert times.makespan_s == 24.0
    assert evaluate_schedule(1.0, 1.0, 3, 3, 1, "1f1b", (2.0, 2.0, 2.0)).makespan_s == 22.0
    assert evaluate_schedule(1.0, 1.0, 3, 3, 1, "1f1b", (2.0, 2.0, 2.0), nics=nics).makespan_s == 24.0


def test_a_reduction_on_the_nic_of_a_send_shares_it_by_hand() -> None:
    # GPipe, 2 stages, 1 micro-batch, forward = backward = 1 s, every send 10 s alone; stage 1's send back (1 -> 0)
    # leaves through NIC direction 0, which stage 1's reduction (one bucket, 100 s of bytes alone) crosses too, one
    # flow each. By hand: F0 [0, 1] on stage 0, sent 1 -> 11; stage 1 F0 [11, 12], B0 [12, 13], its last operation,
    # so its reduction joins 0.5 s into it (12.5); B0's send leaves at 13 and runs at half pace beside it: 13 -> 33;
    # stage 0 B0 [33, 34]. Without the reduction 24 s; a bucket done before the send leaves (0.25 s) changes nothing,
    # nor does a send latency paid after the last byte, off the NIC, where the send shares nothing (each send then
    # ends at its departure plus its duration, bit for bit).
    from dpsim.analytic.pipeline_schedule import StageLoads, evaluate_shared_nics

    nics = ((0, 1, ((1, 1),)), (1, 0, ((0, 1),)))
    args = (1.0, 1.0, 2, 1, 1, "gpipe", 10.0, [1.0, 1.0], nics)
    loads = StageLoads(dp_flows=((), ((0, 1),)), dp_buckets=((0.5, 100.0),))
    record: list = []
    assert evaluate_shared_nics(*args, record, loads).makespan_s == 34.0
    assert ("send", 1, ("B", 0, 0), 13.0, 33.0) in record
    assert evaluate_shared_nics(*args).makespan_s == 24.0
    short = StageLoads(dp_flows=((), ((0, 1),)), dp_buckets=((0.5, 0.25),))
    assert evaluate_shared_nics(*args, None, short).makespan_s == 24.0
    tails = StageLoads(send_latency_s=(1e-3, 1e-3))
    assert evaluate_shared_nics(*args, None, tails).makespan_s == 24.0
    # two buckets, the second ready 0.7 s into B0 and joining 0.1 s (its base latency) after the first is done: the
    # first (1 s alone) joins at 12.6, runs alone to 13 (0.6 s left), then beside the send until 14.2; the second
    # joins at 14.3 and runs beside it for its 2 s alone: 14.3 -> 18.3. The send: 0.6 s of bytes by 14.2 (half pace),
    # 0.1 s alone, 2 s more at half pace to 18.3, then its last 7.3 s alone: delivered at 25.6; stage 0 B0 [25.6, 26.6]
    two = StageLoads(dp_flows=((), ((0, 1),)), dp_buckets=((0.5, 1.0), (0.7, 2.0)), dp_latency_s=0.1)
    assert evaluate_shared_nics(*args, None, two).makespan_s == pytest.approx(26.6, abs=1e-12)


@pytest.mark.parametrize("schedule,v", [("1f1b", 1), ("gpipe", 1), ("interleaved", 2)])
@pytest.mark.parametrize("m", [4, 8, 12])
def test_sends_that_never_meet_on_a_nic_run_as_the_unshared_schedule_bit_for_bit(schedule: str, v: int, m: int) -> None:
    # sends shorter than any pass never overlap on stage 1's NIC direction: every time is the max-plus pass's
    from dpsim.analytic.pipeline_schedule import evaluate_shared_nics

    nics = ((1, 0, ((0, 1),)), (1, 2, ((0, 1),)), (3, 2, ((1, 1),)), (3, 0, ((1, 1),)))
    sends = (0.3, 0.2, 0.1, 0.25)
    plain = evaluate_schedule(1.0, 2.0, 4, m, v, schedule, sends)
    shared = evaluate_shared_nics(1.0, 2.0, 4, m, v, schedule, sends, [1.0] * 4, nics)
    assert shared.makespan_s == plain.makespan_s
    assert shared.stage_end_s == plain.stage_end_s
    assert shared.busy_s == plain.busy_s
    assert shared.sends == plain.sends


@pytest.mark.parametrize(
    ("p", "m", "v", "schedule"),
    [(2, 4, 1, "1f1b"), (4, 8, 1, "1f1b"), (4, 8, 2, "interleaved"), (3, 5, 1, "gpipe"), (8, 16, 2, "interleaved"),
     (3, 2800, 1, "1f1b")],
)  # fmt: skip
def test_the_screen_prices_each_stage_s_reduction_beside_its_sends_as_the_event_by_event_evaluation(
    p: int, m: int, v: int, schedule: str
) -> None:
    # the planner's screen (batch_bubble_and_sends with ScreenLoads): each stage's reduction (2 flows out of its NIC,
    # 1 into it) shares its stage's NIC directions with the sends out of and into it; its 4 buckets are released as
    # the stage's last backward runs. Every row equals its own event-by-event evaluation (evaluate_shared_nics):
    # sends shorter than a pass (only the last send of each stage meets a bucket: the last operations run again
    # beside the buckets), and sends longer than a pass (an earlier send still on the wire when a reduction starts:
    # event by event); the last row has no loads (its evaluation without them, bit for bit). Operation by operation
    # below 4 stages, level by level from 4, extended past MAX_OPERATIONS.
    import dataclasses

    from dpsim.analytic.pipeline_schedule import ReductionStream, ScreenLoads, StageLoads

    pairs = sorted({(k, (k + 1) % p) for k in range(p)} | {((k + 1) % p, k) for k in range(p)})
    # each link its own two NIC directions (out of its sender, into its receiver): sends of two links never share
    nics = tuple((a, b, ((2 * i, 1), (2 * i + 1, 1))) for i, (a, b) in enumerate(pairs))
    out = [[(2 * i, 2) for i, (a, _) in enumerate(pairs) if a == s] for s in range(p)]
    into = [[(2 * i + 1, 1) for i, (_, b) in enumerate(pairs) if b == s] for s in range(p)]
    dp_flows = tuple(tuple(sorted(out[s] + into[s])) for s in range(p))
    stream = ReductionStream((1.0, 2.0, 3.0, 4.0), 4.0, (0.2, 0.3, 0.3, 0.5))
    loads = StageLoads(send_latency_s=(0.001,) * p, dp_flows=dp_flows, dp_latency_s=0.01)
    f = np.linspace(0.5, 2.0, 6)
    b = 2.0 * f
    sends = np.array([0.05, 0.3, 0.8, 1.5, 6.0, 0.6])
    shape_of = np.zeros(f.size, dtype=np.int64)
    rows = np.arange(f.size - 1)
    shapes = [(p, m, v, schedule)]
    screen = [ScreenLoads(rows, nics, loads, stream)]
    bubble, exposed = batch_bubble_and_sends(f, b, sends, shape_of, shapes, loads=screen)
    plain = batch_bubble_and_sends(f, b, sends, shape_of, shapes)
    chunks = v if schedule == "interleaved" else 1
    for i in range(f.size):
        loaded = dataclasses.replace(loads, dp_buckets=stream.buckets(float(b[i]) / chunks))
        one = bubble_and_sends(
            float(f[i]), float(b[i]), p, m, v, schedule, float(sends[i]),
            nics=nics if i in rows else (), loads=loaded if i in rows else None,
        )  # fmt: skip
        assert bubble[i] == one[0]
        assert exposed[i] == pytest.approx(one[1], rel=1e-9, abs=1e-9)
    assert exposed[-1] == plain[1][-1]
    assert np.all(exposed[:4] > plain[1][:4] + 1e-3)  # the last sends of the short ones shared their NICs
    assert np.all(exposed[:-1] >= plain[1][:-1])


def test_fair_paces_give_the_max_min_shares_of_three_loads_by_hand() -> None:
    """Three loads on two NIC directions x and y: A one flow on each, B one on x, C two on y. Equal shares at each
    load's busiest direction (stops 44-49): A 1/3 (y carries 3 flows), B 1/2 (x carries 2), C 2/3. Max-min
    (progressive filling): y fills first at 1/3 a flow, freezing A and C; x then gives B the 2/3 A leaves it, not
    1/2 -- what :class:`dpsim.sim.network.FluidNetwork` gives the same flows on links of one capacity. Where both
    rules agree the pace is the equal share's own / n bit for bit; a load alone runs at 1."""
    import simpy

    from dpsim.analytic.pipeline_schedule import fair_paces
    from dpsim.sim.network import FluidNetwork

    x, y = 0, 1
    paces = fair_paces({"A": ((x, 1), (y, 1)), "B": ((x, 1),), "C": ((y, 2),)})
    assert paces["A"] == 1 / 3 and paces["C"] == 2 / 3
    assert paces["B"] == pytest.approx(2 / 3, rel=1e-15)
    env = simpy.Environment()
    net = FluidNetwork(env, [1.0, 1.0])
    for route in ([x, y], [x], [y], [y]):
        net.start(route, 1e9, 0.0, lambda _tag: None)
    env.run(until=1.0)
    assert net._rate[:4].tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 3, 1 / 3], rel=1e-12)
    # the rules agree: the equal share, bit for bit (3 * (1 / 5) is not 3 / 5)
    assert 3 * (1 / 5) != 3 / 5
    assert fair_paces({"A": ((x, 3),), "B": ((x, 2), (y, 1))}) == {"A": 3 / 5, "B": 2 / 5}
    assert fair_paces({"A": ((x, 2), (y, 1))}) == {"A": 1.0}
    assert fair_paces({"A": ((x, 1),), "B": ((y, 1),)}) == {"A": 1.0, "B": 1.0}
