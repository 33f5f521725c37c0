"""The pipeline schedule evaluated arithmetically (dpsim.analytic.pipeline_schedule): hand-worked timelines, the
simpy execution of the same rules bit for bit, one configuration an array element."""

from __future__ import annotations

import random

import numpy as np
import pytest

from dpsim.analytic.pipeline_schedule import evaluate_schedule, schedule_order, schedule_program
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
    with pytest.raises(ValueError, match="every configuration or for none"):
        evaluate_schedule(f, f, 2, 4, 1, "1f1b", c - 0.05)


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
