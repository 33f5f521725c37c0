"""torch.distributed.pipelining's schedules as torchtitan's Dec 2024 pipeline rows ran them, beside the engines'.

torchtitan's 405B TP 8 × PP 8 rows (``benchmarks/published_runs.py``, torch ``1963fc8`` of 2024-12-23) ran
``Schedule1F1B`` and ``ScheduleInterleaved1F1B``; the nearest release, torch 2.6.0 (git ``2236df1``), is what is
transcribed here from its ``torch/distributed/pipelining/schedules.py``:

- ``Schedule1F1B._step_microbatches``: ``min(m, p − s)`` warm-up forwards, each after its receive is waited, its send
  fired and waited after the next forward (the last one kept back); then "1B1F": the kept forward send and the next
  gradient's receive posted as one batch and waited, the backward, the gradient send and the next activation's
  receive as one batch and waited, the forward; then the cool-down backwards. A point-to-point op completes once
  both ends have posted it. :func:`schedule_1f1b_makespan` executes that, transfers taking no time.
- ``ScheduleInterleaved1F1B``: a static table of one action (or ``None``) a rank and time step
  (``_calculate_single_rank_operations``, ``_get_1f1b_rank_ops``: ``rank`` leading ``None``s, ``(v − 1)·m/r +
  2·(p − 1 − rank)`` warm-up forwards capped at ``v·m`` with ``r = max(1, m // p)`` rounds, ``None``s until the first
  backward can arrive, forward/backward pairs, a ``None`` before every cool-down backward), executed by
  ``PipelineScheduleMulti._step_microbatches`` step by step: the rank's action, then one ``_batch_p2p(ops).wait()``
  of the sends of its action and the receives of what its neighbours do at that step (:func:`torch_interleaved_order`,
  :func:`lockstep_makespan`).

The engines run every schedule as a data-dependency program (:mod:`dpsim.analytic.pipeline_schedule`). For
``m`` a multiple of ``p`` torch's interleaved per-rank order is the engines' (Megatron-LM's) order
(:func:`orders_match`), and its 1F1B executes in the engines' makespan; what differs is that the interleaved table
is run in lock step, each time step waiting for the neighbours' actions of that step; the engines price it
priced since (:func:`dpsim.analytic.step.torch_lockstep_s`: one chunk forward, exactly what the transcribed table
adds with stages at one pace and no transfer time); printed for the 405B interleaved row both ways.

Usage: ``PYTHONPATH=. python benchmarks/torch_pipeline_schedules.py`` (seconds; a diagnostic).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dpsim.scenario import Scenario

Action = tuple[str, int, int]
"""("F" | "B", stage index (global chunk: stage c runs on rank c mod p), micro-batch)."""


def torch_interleaved_order(p: int, m: int, v: int) -> list[list[Action | None]]:
    """Each rank's ``pipeline_order`` of torch 2.6.0's ``ScheduleInterleaved1F1B`` (no zero bubble)."""
    rounds = max(1, m // p)
    per_round = m // rounds
    orders: list[list[Action | None]] = []
    for rank in range(p):
        warm = min((v - 1) * per_round + 2 * (p - 1 - rank), m * v)
        steady = v * m - warm

        def forward_stage(step: int, rank: int = rank) -> int:
            return ((step // per_round) % v) * p + rank

        def backward_stage(step: int, rank: int = rank, warm: int = warm) -> int:
            return (v - 1 - ((step - warm) // per_round) % v) * p + rank

        done_f: dict[int, int] = defaultdict(int)
        done_b: dict[int, int] = defaultdict(int)
        ops: list[Action | None] = [None] * rank
        post_warm = (v * p + 2 * (p - 1 - rank)) - (warm + rank)
        for op in range(2 * v * m - steady):
            if op < warm or op < warm + steady:
                s = forward_stage(op)
                ops.append(("F", s, done_f[s]))
                done_f[s] += 1
                if op == warm - 1:
                    ops.extend([None] * post_warm)
                if op < warm:
                    continue
            else:
                ops.append(None)  # "steps to align with 1f1b happening in other ranks"
            s = backward_stage(op)
            ops.append(("B", s, done_b[s]))
            done_b[s] += 1
        orders.append(ops)
    return orders


def _needs(action: Action, stages: int) -> Action | None:
    kind, s, i = action
    if kind == "F":
        return ("F", s - 1, i) if s > 0 else None
    return ("B", s + 1, i) if s < stages - 1 else ("F", s, i)


def lockstep_makespan(
    p: int, m: int, v: int, forward: float, backward: float, sends: float | tuple[float, ...] = 0.0
) -> float:
    """``PipelineScheduleMulti._step_microbatches`` over :func:`torch_interleaved_order`, one chunk's forward and
    backward taking ``forward`` and ``backward`` seconds: a rank ends a time step when its action has ended and every
    exchange it waits for at that step has: one that starts when both ends have posted (their actions ended) and
    takes its boundary's send time (``sends``: one for every boundary, or one a boundary k, stages k and k + 1 mod p,
    as :func:`dpsim.analytic.pipeline_schedule.evaluate_schedule` reads them; none by default)."""
    from dpsim.analytic.pipeline_schedule import boundary_of

    orders = torch_interleaved_order(p, m, v)
    stages = p * v
    end = [0.0] * p
    for step in range(max(map(len, orders))):
        acts = [o[step] if step < len(o) else None for o in orders]
        done = [end[r] + (0.0 if a is None else forward if a[0] == "F" else backward) for r, a in enumerate(acts)]
        new = done[:]
        for q, a in enumerate(acts):
            dst = -1 if a is None else a[1] + 1 if a[0] == "F" else a[1] - 1
            if not 0 <= dst < stages or dst % p == q:
                continue
            r = dst % p
            send = sends if isinstance(sends, float) else sends[boundary_of(q, r, p)]
            arrive = max(done[q], done[r]) + send
            new[q], new[r] = max(new[q], arrive), max(new[r], arrive)
        end = new
    return max(end)


def orders_match(p: int, m: int, v: int) -> bool:
    """Whether torch's interleaved per-rank order (``None``s dropped) is the engines' ``schedule_order``."""
    from dpsim.analytic.pipeline_schedule import schedule_order

    engines = schedule_order(p, m, v, "interleaved")
    for rank, ops in enumerate(torch_interleaved_order(p, m, v)):
        if [(k, i, s) for k, s, i in (a for a in ops if a is not None)] != engines[rank]:
            return False
    return True


def table_is_causal(p: int, m: int, v: int) -> bool:
    """Whether every action of torch's table comes after the action whose output it needs."""
    when = {a: t for o in torch_interleaved_order(p, m, v) for t, a in enumerate(o) if a is not None}
    return all((need := _needs(a, p * v)) is None or when[need] < t for a, t in when.items())


def schedule_1f1b_makespan(p: int, m: int, forward: float, backward: float) -> float:
    """torch 2.6.0's ``Schedule1F1B._step_microbatches`` executed with its posts and waits (transfers none)."""
    programs = [_program_1f1b(s, p, m) for s in range(p)]
    pc, clock = [0] * p, [0.0] * p
    posted: dict[tuple[str, str, int, int], float] = {}
    batches: list[dict[str, list[tuple[str, str, int, int]]]] = [{} for _ in range(p)]
    moved = True
    while moved:
        moved = False
        for s in range(p):
            while pc[s] < len(programs[s]):
                what, name, ops = programs[s][pc[s]]
                if what == "F" or what == "B":
                    clock[s] += forward if what == "F" else backward
                elif what == "post":
                    posted.update(dict.fromkeys(ops, clock[s]))
                    batches[s][name] = ops
                else:
                    pending = batches[s][name]
                    peers = [(("recv" if d == "send" else "send"), k, st, i) for d, k, st, i in pending]
                    if any(q not in posted for q in peers):
                        break
                    clock[s] = max(
                        [clock[s], *(max(posted[o], posted[q]) for o, q in zip(pending, peers, strict=True))]
                    )
                pc[s] += 1
                moved = True
    if any(pc[s] < len(programs[s]) for s in range(p)):
        raise RuntimeError("Schedule1F1B transcription deadlocked")
    return max(clock)


def _program_1f1b(s: int, p: int, m: int) -> list[tuple[str, str, list[tuple[str, str, int, int]]]]:
    """Stage ``s``'s posts, waits and passes in ``Schedule1F1B._step_microbatches``' order; an op is
    (send | recv, "F" activation | "B" gradient, the producing stage, micro-batch)."""

    def recv_f(i: int) -> list[tuple[str, str, int, int]]:
        return [("recv", "F", s - 1, i)] if s > 0 else []

    def send_f(i: int) -> list[tuple[str, str, int, int]]:
        return [("send", "F", s, i)] if s < p - 1 else []

    def recv_b(i: int) -> list[tuple[str, str, int, int]]:
        return [("recv", "B", s + 1, i)] if s < p - 1 else []

    def send_b(i: int) -> list[tuple[str, str, int, int]]:
        return [("send", "B", s, i)] if s > 0 else []

    out: list[tuple[str, str, list[tuple[str, str, int, int]]]] = []

    def exchange(name: str, ops: list[tuple[str, str, int, int]]) -> None:
        if ops:
            out.extend([("post", name, ops), ("wait", name, [])])

    warm, f, b, pending, kept = min(m, p - s), 0, 0, "", []
    for _ in range(warm):
        exchange(f"rf{f}", recv_f(f))
        out.append(("F", "", []))
        if pending:
            out.append(("wait", pending, []))
            pending = ""
        kept = send_f(f)
        if f != warm - 1 and kept:
            out.append(("post", f"sf{f}", kept))
            pending, kept = f"sf{f}", []
        f += 1
    while True:
        exchange(f"fb{b}", kept + recv_b(b))
        out.append(("B", "", []))
        back, b = send_b(b), b + 1
        if f == m:
            break
        exchange(f"bf{f}", back + recv_f(f))
        out.append(("F", "", []))
        kept, f = send_f(f), f + 1
    pending = ""
    if back:
        out.append(("post", "sb-last", back))
        pending = "sb-last"
    while b < m:
        exchange(f"rb{b}", recv_b(b))
        out.append(("B", "", []))
        if pending:
            out.append(("wait", pending, []))
            pending = ""
        back = send_b(b)
        if back:
            out.append(("post", f"sb{b}", back))
            pending = f"sb{b}"
        b += 1
    if pending:
        out.append(("wait", pending, []))
    return out


def engines_makespan(
    p: int, m: int, v: int, forward: float, backward: float, schedule: str, sends: float | tuple[float, ...] = 0.0
) -> float:
    """The engines' makespan of the same step (one chunk's passes ``forward`` / ``backward``, ``sends`` as
    :func:`lockstep_makespan` reads them)."""
    from dpsim.analytic.pipeline_schedule import evaluate_schedule

    return evaluate_schedule(forward * v, backward * v, p, m, v, schedule, sends).makespan_s


def main() -> None:
    from benchmarks import published_runs as pr
    from dpsim import compute
    from dpsim.scenario import scenario_from_dict

    print("torch 2.6.0's pipelining schedules beside the engines' (chunk forward 1, backward 3: full recomputation)")
    for p, m, v in ((8, 8, 2), (8, 16, 2), (4, 8, 2)):
        ours = engines_makespan(p, m, v, 1.0, 3.0, "interleaved")
        lock = lockstep_makespan(p, m, v, 1.0, 3.0)
        print(
            f"  interleaved p {p} m {m} v {v}: order as the engines' {orders_match(p, m, v)}, causal "
            f"{table_is_causal(p, m, v)}, lock step {lock:g} against {ours:g} ({lock / ours - 1:+.2%})"
        )
    for p, m in ((8, 8), (8, 16), (4, 8)):
        ours = engines_makespan(p, m, 1, 1.0, 3.0, "1f1b")
        print(f"  1F1B p {p} m {m}: Schedule1F1B {schedule_1f1b_makespan(p, m, 1.0, 3.0):g} against {ours:g}")
    for run in pr.TORCHTITAN_RUNS:
        t = run.scenario["training"]
        if t.get("pipeline_schedule") != "interleaved":
            continue
        predicted, result = pr.predict_run(run)
        scenario = scenario_from_dict(dict(run.scenario), run.name)
        times = compute.compute_times(scenario)
        p, m, v = t["pipeline_parallel"], scenario.accumulation_steps, t["virtual_stages"]
        f, b = times.forward_s / v, times.backward_s / v
        added = lockstep_makespan(p, m, v, f, b) - engines_makespan(p, m, v, f, b, "interleaved")
        priced = lockstep_term(scenario)
        dependency = predicted * result.step_time_s / (result.step_time_s - priced)
        sends = row_sends(scenario)
        waits = lockstep_makespan(p, m, v, f, b, sends) - engines_makespan(p, m, v, f, b, "interleaved", sends) - added
        waited = predicted * result.step_time_s / (result.step_time_s + waits)
        print(
            f"{run.name}: published {run.published_tflops_per_gpu:g}; the transcribed table in lock step adds "
            f"{added:.3f} s with the stage's chunk passes (compute alone), the engines price {priced:.3f} s (the "
            f"chunk forward with its TP share): {dependency:.1f} ({pr.relative_error(run, dependency):+.1%}) "
            f"run dependency-driven, {predicted:.1f} ({pr.relative_error(run, predicted):+.1%}) in lock step; its "
            f"waits for the engines' sends ({min(sends):.4f}-{max(sends):.4f} s) add {waits:.3f} s more, not priced: "
            f"{waited:.1f} ({pr.relative_error(run, waited):+.1%})"
        )


def row_sends(scenario: Scenario) -> tuple[float, ...]:
    """The engines' send time of each stage boundary of a scenario (:func:`dpsim.analytic.step.pipeline_terms`)."""
    from dpsim.analytic import parallel, step
    from dpsim.calibration import profile_for

    fabric = step.model_parallel_fabric(scenario, profile_for(scenario))
    sends = parallel.pipeline_sends(parallel.pipeline_p2p_times(scenario, fabric))
    return sends if isinstance(sends, tuple) else (float(sends),) * scenario.training.pipeline_parallel


def lockstep_term(scenario: Scenario) -> float:
    """What the engines add to a scenario's bubble for torch's lock step (:func:`dpsim.analytic.step.pipeline_terms`
    under its own ``pipeline_runtime`` against ``megatron``), seconds."""
    from dpsim.analytic import parallel, step
    from dpsim.calibration import profile_for

    fwd, bwd, _ = step.microbatch_times(scenario, profile_for(scenario))
    fabric = step.model_parallel_fabric(scenario, profile_for(scenario))
    tp = parallel.tensor_parallel_exposed_time(scenario, fabric) + parallel.pipeline_blocking_p2p_time(scenario, fabric)
    megatron = scenario.model_copy(
        update={"training": scenario.training.model_copy(update={"pipeline_runtime": "megatron"})}
    )
    return (
        step.pipeline_terms(scenario, fabric, fwd, bwd, tp)[0] - step.pipeline_terms(megatron, fabric, fwd, bwd, tp)[0]
    )


if __name__ == "__main__":
    main()
