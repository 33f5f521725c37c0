"""Tensor/pipeline closed forms against hand counts and an independent schedule executor."""

from __future__ import annotations

import pytest

from dpsim.analytic.collectives import Fabric, Link
from dpsim.analytic.parallel import (
    activation_message_bytes,
    layers_per_stage,
    pipeline_bubble_fraction,
    pipeline_bubble_over_ideal,
    pipeline_p2p_time,
    pipeline_step,
    rank_of,
    stage_boundary_crosses_nodes,
    tensor_parallel_comm_time,
    tensor_parallel_counts,
    tensor_parallel_crosses_nodes,
    tensor_parallel_fabric,
    tensor_parallel_forward_share,
)
from dpsim.scenario import load_scenario
from dpsim.sim.pipeline import Op, schedule_order


def _orders(p: int, m: int, v: int, schedule: str) -> list[list[Op]]:
    """Per-device op order (Megatron-LM's schedules.py), as the simulator runs it; the executor below
    times it independently of the closed forms it is checked against."""
    return schedule_order(p, m, v if schedule == "interleaved" else 1, schedule)


def _execute(p: int, m: int, v: int, schedule: str, tf: float, tb: float, comm: float) -> float:
    """Run each device's ops in order as soon as their inputs arrive; return the makespan."""
    orders = _orders(p, m, v, schedule)
    last = p * v - 1
    done: dict[Op, float] = {}
    free = [0.0] * p
    pos = [0] * p
    remaining = sum(len(o) for o in orders)
    while remaining:
        progressed = False
        for d in range(p):
            while pos[d] < len(orders[d]):
                kind, mb, c = orders[d][pos[d]]
                if kind == "F":
                    dep = ("F", mb, c - 1) if c > 0 else None
                    extra = comm
                else:
                    dep = ("B", mb, c + 1) if c < last else ("F", mb, c)
                    extra = comm if c < last else 0.0
                if dep is not None and dep not in done:
                    break
                ready = done[dep] + extra if dep is not None else 0.0
                start = max(free[d], ready)
                free[d] = start + (tf if kind == "F" else tb) / v
                done[(kind, mb, c)] = free[d]
                pos[d] += 1
                remaining -= 1
                progressed = True
        assert progressed, "schedule deadlocked"
    return max(free)


@pytest.mark.parametrize(
    ("p", "m", "v", "schedule"),
    [(4, 8, 1, "gpipe"), (4, 8, 1, "1f1b"), (8, 16, 1, "1f1b"), (4, 3, 1, "1f1b"), (4, 8, 2, "interleaved"),
     (4, 16, 4, "interleaved"), (2, 4, 3, "interleaved")],
)  # fmt: skip
def test_bubble_matches_executed_schedule(p: int, m: int, v: int, schedule: str) -> None:
    tf, tb = 1.0, 2.0
    makespan = _execute(p, m, v, schedule, tf, tb, comm=0.0)
    ideal = m * (tf + tb)
    # Independent truth (the executed schedule) vs the closed forms (Narayanan et al. 2021 §2.2).
    assert (makespan - ideal) / ideal == pytest.approx(pipeline_bubble_over_ideal(p, m, v, schedule))
    assert (makespan - ideal) / makespan == pytest.approx(pipeline_bubble_fraction(p, m, v, schedule))
    assert pipeline_step(tf, tb, p, m, v, schedule).step_s == pytest.approx(makespan)


def test_bubble_formulas_by_hand() -> None:
    assert pipeline_bubble_fraction(4, 8) == pytest.approx(3 / 11)  # (p−1)/(m+p−1)
    assert pipeline_bubble_fraction(8, 64, schedule="gpipe") == pytest.approx(7 / 71)
    assert pipeline_bubble_over_ideal(8, 64, 4, "interleaved") == pytest.approx(7 / 256)  # (p−1)/(v·m)
    assert pipeline_bubble_fraction(1, 10) == 0.0
    with pytest.raises(ValueError):
        pipeline_bubble_fraction(4, 8, schedule="zigzag")


@pytest.mark.parametrize(
    ("p", "m", "v", "schedule"),
    [(4, 8, 1, "1f1b"), (8, 64, 1, "1f1b"), (2, 2, 1, "1f1b"), (4, 2, 1, "1f1b"), (4, 8, 1, "gpipe"),
     (4, 8, 2, "interleaved"), (8, 16, 4, "interleaved")],
)  # fmt: skip
def test_p2p_on_critical_path(p: int, m: int, v: int, schedule: str) -> None:
    # Sends shorter than a chunk's compute: the executed schedule's extra time over the
    # zero-communication makespan is what pipeline_step calls exposed p2p.
    for tf, tb in ((1.0, 2.0), (1.0, 1.0)):
        comm = 0.05
        makespan = _execute(p, m, v, schedule, tf, tb, comm)
        assert pipeline_step(tf, tb, p, m, v, schedule, p2p_s=comm).step_s == pytest.approx(makespan)


def test_p2p_1f1b_uneven_micro_batches_within_one_send() -> None:
    for p, m in ((4, 9), (4, 3), (8, 17), (3, 7)):
        makespan = _execute(p, m, 1, "1f1b", 1.0, 2.0, 0.05)
        assert abs(pipeline_step(1.0, 2.0, p, m, p2p_s=0.05).step_s - makespan) <= 0.05 + 1e-9


# --- tensor parallelism -----------------------------------------------------------------


def _gpt3(*overrides: str):  # type: ignore[no-untyped-def]
    base = [
        "model.preset=gpt3-175b",
        "cluster.nodes=16",
        "cluster.workers_per_node=8",
        "training.tensor_parallel=8",
        "training.pipeline_parallel=8",
        "training.micro_batch=1",
        "training.global_batch=64",
    ]
    return load_scenario(None, [*base, *overrides])


def _fabric(nodes: int = 16, per_node: int = 8) -> Fabric:
    return Fabric(nodes, per_node, Link(1e-6, 300e9), Link(5e-6, 25e9), nics_per_node=8)


def test_tp_comm_volume_by_hand() -> None:
    s = _gpt3()
    # One b·s·h bf16 tensor: 1·2048·12288·2 = 50,331,648 bytes; 12 layers per stage, 4 all-reduces each.
    assert activation_message_bytes(s) == 50_331_648
    assert (layers_per_stage(s), tensor_parallel_counts(s)[0]) == (12, 4)
    full = _gpt3("training.activation_recomputation=full")
    assert (layers_per_stage(full), tensor_parallel_counts(full)[0]) == (12, 6)


def test_parallel_block_all_reduces_once_in_the_forward() -> None:
    """gpt-neox's parallel attention + MLP block (model.parallel_block): one all-reduce of the two outputs' sum
    in the forward, the backward's two (the column-parallel inputs) unchanged: 3 a layer, 4 with full
    recomputation (its re-forward one more), against Megatron's 4 and 6. 12 layers a stage, each all-reduce
    of S = 50,331,648 bytes over 8 NVLink ranks 2(t-1)·1 us + 2(t-1)/t·S/300e9; forward share 1/3 and 1/4."""
    size, t = 50_331_648, 8
    allreduce = 2 * (t - 1) * 1e-6 + 2 * (t - 1) / t * size / 300e9
    block = _gpt3("model.parallel_block=true")
    full = _gpt3("model.parallel_block=true", "training.activation_recomputation=full")
    assert tensor_parallel_comm_time(block, _fabric()) == pytest.approx(12 * 3 * allreduce)
    assert tensor_parallel_comm_time(full, _fabric()) == pytest.approx(12 * 4 * allreduce)
    assert tensor_parallel_counts(block) == (3.0, pytest.approx(1 / 3))
    assert tensor_parallel_counts(full) == (4.0, pytest.approx(1 / 4))
    assert tensor_parallel_counts(_gpt3()) == (4.0, 0.5)  # the sequential block, as before


def test_parallel_block_in_both_engines() -> None:
    # a DeepSpeed-style pipeline with full recomputation: the step's TP time is 4/6 of the sequential block's,
    # its forward pass carries 1 of the 4 all-reduces, and both engines give the same step
    from dpsim import api
    from dpsim.errors import ScenarioError

    base = ("training.activation_recomputation=full", "training.pipeline_p2p=blocking")
    sequential, block = _gpt3(*base), _gpt3(*base, "model.parallel_block=true")
    before, after = api.run(sequential, engine="analytic"), api.run(block, engine="analytic")
    tp_before, tp_after = before.extra["tensor_parallel_comm_s"], after.extra["tensor_parallel_comm_s"]
    assert tp_after == pytest.approx(tp_before * 4 / 6, rel=1e-12)
    assert after.step_time_s < before.step_time_s
    assert api.run(block, engine="sim").step_time_s == pytest.approx(after.step_time_s, rel=1e-9)
    with pytest.raises(ScenarioError, match=r"model\.parallel_block"):
        _gpt3("model.parallel_block=true", "training.sequence_parallel=true")


def test_distributed_checkpoints_add_one_gather_per_layer() -> None:
    # Each layer's backward first all-gathers its checkpoint from 8 shards: ring (t-1)·α + (t-1)/t·S/B on
    # NVLink, half an all-reduce; 12 layers per stage of 6 all-reduces and this gather.
    base = ("training.activation_recomputation=full",)
    split = _gpt3(*base, "training.distribute_checkpointed_activations=true")
    size, t = 50_331_648, 8
    allreduce = 2 * (t - 1) * 1e-6 + 2 * (t - 1) / t * size / 300e9
    gather = (t - 1) * 1e-6 + (t - 1) / t * size / 300e9
    assert tensor_parallel_comm_time(split, _fabric()) == pytest.approx(12 * (6 * allreduce + gather))
    assert tensor_parallel_counts(split)[0] == 6.5
    # the gather runs in the backward pass: the forward keeps its 2 all-reduces of the 6.5
    assert tensor_parallel_forward_share("full", True) == pytest.approx(2 / 6.5)
    # both engines price it through the same count: on 8 nodes (no data parallelism) 1F1B's step of
    # m + p - 1 = 64 + 7 = 71 pass pairs grows by 71 backward passes' gathers on the scenario's own fabric
    from dpsim import api
    from dpsim.analytic.step import fabric_of

    split = _gpt3(*base, "training.distribute_checkpointed_activations=true", "cluster.nodes=8")
    whole = _gpt3(*base, "cluster.nodes=8")
    assert (split.data_parallel, split.accumulation_steps) == (1, 64)
    per_micro_batch = tensor_parallel_comm_time(split, fabric_of(split)) - tensor_parallel_comm_time(
        whole, fabric_of(whole)
    )
    for engine in ("analytic", "sim"):
        grown = api.run(split, engine=engine).step_time_s - api.run(whole, engine=engine).step_time_s
        assert grown == pytest.approx(71 * per_micro_batch, rel=1e-6)


def test_tp_comm_time_ring_inside_node() -> None:
    s = _gpt3()
    size, t = 50_331_648, 8
    one = 2 * (t - 1) * 1e-6 + 2 * (t - 1) / t * size / 300e9  # ring on NVLink
    assert tensor_parallel_comm_time(s, _fabric()) == pytest.approx(12 * 4 * one)
    # Sequence parallel: reduce-scatter + all-gather, same time as the ring all-reduce.
    sp = _gpt3("training.sequence_parallel=true")
    assert tensor_parallel_comm_time(sp, _fabric()) == pytest.approx(12 * 4 * one)
    assert tensor_parallel_comm_time(_gpt3("training.tensor_parallel=1"), _fabric()) == 0.0


def test_tp_across_nodes_is_flagged_and_slower() -> None:
    assert not tensor_parallel_crosses_nodes(8, 8)
    assert tensor_parallel_crosses_nodes(16, 8)
    assert tensor_parallel_crosses_nodes(3, 8)
    group = tensor_parallel_fabric(16, _fabric())
    assert (group.nodes, group.per_node) == (2, 8)
    s_in = _gpt3("cluster.workers_per_node=16", "cluster.nodes=8", "training.tensor_parallel=16",
                 "training.pipeline_parallel=4")  # fmt: skip
    t_in = tensor_parallel_comm_time(s_in, _fabric(8, 16))
    t_cross = tensor_parallel_comm_time(s_in, _fabric(16, 8))
    # across nodes the ring's channels run over the 8 rails (8 x 25 GB/s) instead of NVLink (300 GB/s)
    assert t_cross > 1.5 * t_in


@pytest.mark.parametrize(
    ("preset", "nodes", "tp", "pp"),
    [("gpt3-175b", 6, 3, 2), ("gpt3-175b", 6, 12, 4), ("gpt2-large", 5, 10, 4)],
)
def test_a_tensor_parallel_group_straddling_nodes_unevenly_is_refused(
    preset: str, nodes: int, tp: int, pp: int
) -> None:
    """TP 3 on nodes of 8: groups 6-8 and 15-17 straddle two nodes and the DP groups at stride 3 hold 3 + 3 + 2 ranks
    a node; TP 10: groups of 8 + 2 and 6 + 4; TP 12: 8 + 4 and 4 + 8. The single-job engines priced TP 3 as one node
    over NVLink (18.37 s, where the fabric that routes each group gave 21.91 s) and TP 10 as 2 nodes x 8 ranks, and
    the shared fabric's TP flows raised an IndexError: refused, as stages straddling nodes unevenly are."""
    from dpsim.errors import ScenarioError

    sets = [f"model.preset={preset}", f"cluster.nodes={nodes}", "cluster.workers_per_node=8", "training.micro_batch=1",
            "training.global_batch=64", f"training.tensor_parallel={tp}",
            f"training.pipeline_parallel={pp}"]  # fmt: skip
    with pytest.raises(ScenarioError, match=r"training\.tensor_parallel: .* straddle nodes of 8 unevenly"):
        load_scenario(None, sets)
    # a divisor of a node (TP 4 on 8 GPUs) and a multiple of one (TP 8 on 4) stay accepted
    for per_node, degree in ((8, 4), (4, 8)):
        load_scenario(None, ["model.preset=gpt3-175b", "cluster.nodes=4", f"cluster.workers_per_node={per_node}",
                             "training.global_batch=auto", f"training.tensor_parallel={degree}",
                             "training.pipeline_parallel=2"])  # fmt: skip


def test_rank_layout_and_groups() -> None:
    assert rank_of(0, 0, 0, 8, 4) == 0
    assert rank_of(1, 0, 0, 8, 4) == 1  # TP fastest
    assert rank_of(0, 1, 0, 8, 4) == 8
    assert rank_of(0, 0, 1, 8, 4) == 32
    assert stage_boundary_crosses_nodes(8, 2, 8)
    assert not stage_boundary_crosses_nodes(2, 2, 8)
    # one DP group's fabric (dp_fabric, the engines' and the planner's): TP 2 x DP 16 on 4 nodes of 8, 4 DP peers a
    # node on 4 nodes, the node's 8 NICs split between its 2 groups (one NIC a rank, each at its full rate)
    from dpsim.analytic.step import dp_fabric

    one = _gpt3("cluster.nodes=4", "training.tensor_parallel=2", "training.pipeline_parallel=1")
    dpf = dp_fabric(one, _fabric(4, 8))
    assert (dpf.nodes, dpf.per_node, dpf.nics_per_node) == (4, 4, 4)
    assert dpf.inter.bandwidth == pytest.approx(25e9)
    wide = _gpt3("cluster.nodes=4", "training.tensor_parallel=8", "training.pipeline_parallel=1")
    assert (dp_fabric(wide, _fabric(4, 8)).nodes, dp_fabric(wide, _fabric(4, 8)).per_node) == (4, 1)


def test_pipeline_p2p_time() -> None:
    """Megatron-core sends the stage's tensor as it holds it (``get_tensor_shapes``: s/t only under sequence
    parallelism): each of the 8 TP ranks the whole 1 x 2048 x 12288 x 2 B = 50,331,648 B, or its 1/8 sequence shard.
    Before, 1/8 either way (Megatron-LM 2020-2022's scatter/gather, dropped in core in Jan 2023): SP off 0.2567 ms."""
    s = _gpt3()  # TP 8 x DP 2: stages 16 ranks apart, on different nodes, one send a NIC at 25 GB/s
    assert pipeline_p2p_time(s, _fabric()) == pytest.approx(5e-6 + 50_331_648 / 25e9)
    sharded = _gpt3("training.sequence_parallel=true")
    assert pipeline_p2p_time(sharded, _fabric()) == pytest.approx(5e-6 + 50_331_648 / 8 / 25e9)
    assert pipeline_p2p_time(_gpt3("training.pipeline_parallel=1", "training.global_batch=16"), _fabric()) == 0.0


# --- integration into the analytic engine -----------------------------------------------------


def test_predict_uses_parallel_closed_forms() -> None:
    from dpsim.analytic.step import fabric_of, predict

    s = _gpt3("training.global_batch=128", "training.activation_recomputation=full")
    result = predict(s)
    fabric = fabric_of(s)
    k = s.accumulation_steps
    tp_mb = tensor_parallel_comm_time(s, fabric)
    assert result.extra["tensor_parallel_comm_s"] == pytest.approx(k * tp_mb)
    fwd, bwd = result.extra["forward_s"], result.extra["backward_s"]
    # bubble: (p−1)/v stage-times of one micro-batch, TP communication included (1F1B, v = 1); with overlapped
    # sends every stage keeps the slowest one's pace (tests/test_megatron_2021.py: blocking exchanges)
    assert result.bubble_s == pytest.approx((8 - 1) * (fwd + bwd + tp_mb))
    timing = pipeline_step(fwd, bwd, 8, k, p2p_s=pipeline_p2p_time(s, fabric))
    # the closed form's sends each have their NIC alone: the schedule without what else crosses those NICs
    from dpsim.analytic.step import model_parallel_fabric, pipeline_terms

    alone = pipeline_terms(s, model_parallel_fabric(s), fwd, bwd, tp_mb, nic_loads=False)[1]
    assert alone == pytest.approx(timing.p2p_s)
    # DP 2 across nodes: each stage's reduction starts in its last backward and shares its NICs with the gradient
    # sends still to go (pipeline_stage_loads, stop 46): the step's exposed sends are longer
    assert result.extra["pipeline_p2p_exposed_s"] > alone * 1.01
    assert result.extra["tensor_parallel_crosses_nodes"] is False
    crossing = predict(_gpt3("training.tensor_parallel=16", "training.pipeline_parallel=4", "training.global_batch=32"))
    assert crossing.extra["tensor_parallel_crosses_nodes"] is True


def test_recomputation_costs_compute() -> None:
    from dpsim.analytic.step import predict

    plain = predict(_gpt3())
    full = predict(_gpt3("training.activation_recomputation=full"))
    selective = predict(_gpt3("training.activation_recomputation=selective"))
    # full recomputation repeats the layers' forward: backward grows by ~1/3 of the step's FLOPs
    assert full.extra["forward_s"] == pytest.approx(plain.extra["forward_s"])
    ratio = (full.extra["forward_s"] + full.extra["backward_s"]) / (
        plain.extra["forward_s"] + plain.extra["backward_s"]
    )
    assert 1.30 < ratio < 1.34
    assert plain.compute_s < selective.compute_s < full.compute_s
    assert full.mfu < plain.mfu  # recomputed FLOPs are not model FLOPs


# --- DeepSpeed's pipeline engine: blocking stage-boundary transfers (training.pipeline_p2p) -------------


def _deepspeed(*overrides: str):  # type: ignore[no-untyped-def]
    return _gpt3("training.pipeline_p2p=blocking", *overrides)


def test_blocking_p2p_by_hand() -> None:
    """A middle stage's micro-batch under DeepSpeed's TrainSchedule: receive activation, send gradient, send
    activation, receive gradient, each blocking. S = 1·2048·12288·2 = 50,331,648 bytes; the p2p link is the
    rank's own NIC (8 per node, 5 us, 25 GB/s), the TP group NVLink (1 us, 300 GB/s). An activation is a
    PartitionedTensor: its (8 + 7)·8-byte metadata, then S/8; the receiver all-gathers it (7 us + 7/8·S/300e9)
    and the sender rebuilds its own output the same way before the backward."""
    from dpsim.analytic.parallel import pipeline_blocking_p2p_time

    size, t = 50_331_648, 8
    act = (5e-6 + 120 / 25e9) + (5e-6 + size / t / 25e9)
    gather = (t - 1) * 1e-6 + (t - 1) / t * size / 300e9
    whole = 5e-6 + size / 25e9  # DeepSpeed <= 0.5.3 / DeeperSpeed: each TP rank sends the whole gradient
    fabric = _fabric()
    unpartitioned = _deepspeed("training.pipeline_grad_partitioned=false")
    assert pipeline_blocking_p2p_time(unpartitioned, fabric) == pytest.approx(2 * (act + whole) + 2 * gather)
    # DeepSpeed >= 0.5.4: the gradient partitioned too, and all-gathered before the backward
    assert pipeline_blocking_p2p_time(_deepspeed(), fabric) == pytest.approx(2 * (act + act) + 3 * gather)
    # two stages: each is an end, one transfer each way per micro-batch
    two = _deepspeed("training.pipeline_grad_partitioned=false", "training.pipeline_parallel=2")
    assert pipeline_blocking_p2p_time(two, fabric) == pytest.approx(act + whole + gather)
    # without TP nothing is partitioned: whole tensors, no gathers
    plain = _deepspeed("training.tensor_parallel=1")
    assert pipeline_blocking_p2p_time(plain, fabric) == pytest.approx(4 * whole)
    # Megatron's overlapped sends: no blocking term; the blocking mode has no overlapped sends
    assert pipeline_blocking_p2p_time(_gpt3(), fabric) == 0.0
    assert pipeline_p2p_time(_deepspeed(), fabric) == 0.0 < pipeline_p2p_time(_gpt3(), fabric)


def test_blocking_p2p_lengthens_every_pipeline_slot_in_both_engines() -> None:
    # 8 nodes: TP 8 x PP 8, no data parallelism, m = 64 micro-batches. The blocking transfers lengthen each of
    # 1F1B's m + p - 1 = 71 slots; the overlapped sends they replace were exposed only at fill, drain and the
    # 1F1B round trips.
    blocking = _deepspeed("training.pipeline_grad_partitioned=false", "cluster.nodes=8")
    # and, the sends off the passes' critical path no longer, fill and drain run through the first seven stages
    # at their own pace rather than the last stage's (its logits: dpsim.analytic.step.pipeline_stage_slowdowns)
    _inner_exchanges_lengthen_every_slot(blocking, _gpt3("cluster.nodes=8"), slots=71)


def _inner_exchanges_lengthen_every_slot(inner, overlapped, slots: float) -> None:  # type: ignore[no-untyped-def]
    """``inner`` exchanges inside the passes (blocking or synchronous), ``overlapped`` the same pipeline with
    overlapped sends, no data parallelism, m = 64, the last of its stages the slowest: the step grows by
    ``slots`` times one micro-batch's exchanges, less the overlapped sends it had exposed and what fill and
    drain gain by passing the other stages at their own pace (1/v of each one's shortfall); both engines."""
    from dpsim import api
    from dpsim.analytic.parallel import pipeline_blocking_p2p_time
    from dpsim.analytic.step import fabric_of
    from dpsim.compute import compute_times

    assert (inner.data_parallel, inner.accumulation_steps) == (1, 64)
    per_slot = pipeline_blocking_p2p_time(inner, fabric_of(inner))
    before = api.run(overlapped, engine="analytic")
    after = api.run(inner, engine="analytic")
    grown = after.step_time_s - before.step_time_s + before.extra["pipeline_p2p_exposed_s"]
    stages = compute_times(inner).stage_s
    faster = sum(max(stages) - x for x in stages[:-1]) / inner.training.virtual_stages
    assert grown == pytest.approx(slots * per_slot - faster, rel=1e-9)
    assert after.extra["pipeline_p2p_blocking_s"] == pytest.approx(64 * per_slot)
    assert after.extra["tensor_parallel_comm_s"] == pytest.approx(before.extra["tensor_parallel_comm_s"])
    assert api.run(inner, engine="sim").step_time_s == pytest.approx(after.step_time_s, rel=1e-9)


def _deepspeed_train_schedule(stage: int, stages: int, m: int) -> list[tuple[str, int]]:
    """DeepSpeed 0.5's TrainSchedule.steps() (deepspeed/runtime/pipe/schedule.py), transcribed: per step the
    exchange commands, then the pass; a forward step receives the activation and sends the previous
    micro-batch's gradient, a backward step sends the previous activation and receives the gradient."""

    def valid(mb: int) -> bool:
        return 0 <= mb < m

    cmds: list[tuple[str, int]] = []
    prev = -1
    for step in range(2 * (m + stages - 1)):
        if step % 2 == stage % 2:  # even step on an even stage, odd on odd: forward
            mb, forward = (step - stage % 2) // 2 - stage // 2, True
        elif step % 2 == 0:
            mb, forward = step // 2 - stages + (stage + 1) // 2, False
        else:
            mb, forward = (step - 1) // 2 - stages + 1 + stage // 2, False
        if forward and stage > 0:
            cmds += [("recv_act", stage - 1)] if valid(mb) else []
            cmds += [("send_grad", stage - 1)] if valid(prev) else []
        if not forward and stage < stages - 1:
            cmds += [("send_act", stage + 1)] if valid(prev) else []
            cmds += [("recv_grad", stage + 1)] if valid(mb) else []
        if valid(mb):
            cmds.append(("F" if forward else "B", mb))
        prev = mb
    return cmds


def _execute_deepspeed(p: int, m: int, tf: float, tb: float, act: float, grad: float) -> float:
    """DeepSpeed's step order (:func:`_deepspeed_train_schedule`) on :func:`_execute_rendezvous`: each blocking
    send or receive an exchange of its own, an activation taking ``act`` and a gradient ``grad``."""
    programs = []
    for s in range(p):
        program: list[tuple[str, tuple[tuple[str, int, float], ...]]] = []
        for kind, other in _deepspeed_train_schedule(s, p, m):
            if kind in ("F", "B"):
                program.append((kind, ()))
            else:
                op, tensor = kind.split("_")
                program.append(("X", ((op, other, act if tensor == "act" else grad),)))
        programs.append(program)
    return _execute_rendezvous(programs, tf, tb)


@pytest.mark.parametrize(
    ("p", "m", "tf", "tb", "act", "grad"),
    [
        (35, 240, 0.048, 0.124, 0.00045, 0.0035),  # MT-NLG's shape (PP 35, 240 micro-batches)
        (4, 32, 0.30, 0.75, 0.0049, 0.0084),  # GPT-NeoX-20B's (PP 4, 32 micro-batches)
        (8, 64, 1.0, 3.0, 0.02, 0.05),
    ],
)
def test_blocking_p2p_matches_the_executed_deepspeed_schedule(
    p: int, m: int, tf: float, tb: float, act: float, grad: float
) -> None:
    """The engines' form, (m + p - 1)·(t_f + t_b + X) with X = 2·(act + grad), against DeepSpeed's own
    step order executed with rendezvous sends: the lock-step exchanges never stretch a forward to a
    backward's length (steady state t_f + t_b + X per slot), and the form only over-counts the transfers
    the end stages skip during fill and drain (at most (p - 1)·X)."""
    executed = _execute_deepspeed(p, m, tf, tb, act, grad)
    x = 2 * (act + grad)
    closed = (m + p - 1) * (tf + tb + x)
    assert executed == pytest.approx((m + p - 1) * (tf + tb) + m * x, abs=(p - 1) * x)
    assert 0.0 <= closed - executed <= (p - 1) * x
    # without transfers the lock-step schedule is 1F1B's (m + p - 1)·(t_f + t_b) exactly
    assert _execute_deepspeed(p, m, tf, tb, 0.0, 0.0) == pytest.approx((m + p - 1) * (tf + tb))


def test_blocking_p2p_fields_are_validated() -> None:
    from dpsim.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"training\.pipeline_p2p"):
        _deepspeed("training.pipeline_schedule=interleaved", "training.virtual_stages=2")
    with pytest.raises(ScenarioError, match=r"training\.pipeline_grad_partitioned"):
        _gpt3("training.pipeline_grad_partitioned=false")
    with pytest.raises(ScenarioError, match=r"training\.pipeline_p2p"):
        _gpt3("training.pipeline_p2p=eager")


# --- the tied word embedding's gradient, all-reduced between the first and last stage --------------------


def test_tied_embedding_allreduce_by_hand() -> None:
    """GPT-3 175B at TP 8 / PP 8 over 16 nodes: each rank of the first stage holds ⌈50,257/8⌉ = 6,283 rows of
    12,288, its bf16 gradient S = 6,283·12,288·2 bytes, all-reduced with its twin on the last stage, 112 ranks
    and so nodes away: a two-rank ring, 2·α + S/B over the rank's NIC (5 us, 25 GB/s)."""
    from dpsim.analytic.parallel import tied_embedding_allreduce_time

    size = 6283 * 12288 * 2
    assert tied_embedding_allreduce_time(_gpt3(), _fabric()) == pytest.approx(2 * 5e-6 + size / 25e9)
    # DeepSpeed's BF16_Optimizer reduces the tied weight's fp32 _hp_grad: twice the bytes
    fp32 = _gpt3("training.gradient_accumulation_pass=fp32_copy", "training.zero_stage=1")
    assert tied_embedding_allreduce_time(fp32, _fabric()) == pytest.approx(2 * 5e-6 + 2 * size / 25e9)
    # the whole job in one node (TP 2 x PP 4): over NVLink (1 us, 300 GB/s), ⌈50,257/2⌉ = 25,129 rows a rank
    one_node = _gpt3("cluster.nodes=1", "training.tensor_parallel=2", "training.pipeline_parallel=4")
    expected = 2 * 1e-6 + 25129 * 12288 * 2 / 300e9
    assert tied_embedding_allreduce_time(one_node, _fabric(nodes=1)) == pytest.approx(expected)
    # nothing to sum without a pipeline or with an untied head
    assert tied_embedding_allreduce_time(_gpt3("training.pipeline_parallel=1", "cluster.nodes=2"), _fabric(2)) == 0.0
    assert tied_embedding_allreduce_time(_gpt3("model.tied_embeddings=false"), _fabric()) == 0.0


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_tied_embedding_allreduce_is_exposed_once_a_step(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The all-reduce comes after the last backward and before the optimizer step (DeepSpeed's ReduceTiedGrads,
    Megatron's allreduce_word_embedding_grads): the step grows by exactly its time, in both engines, and it
    counts as exposed communication."""
    from dpsim import api
    from dpsim.analytic import parallel
    from dpsim.analytic.step import fabric_of

    s = _gpt3("cluster.nodes=8", "training.global_batch=16")
    tied = parallel.tied_embedding_allreduce_time(s, fabric_of(s))
    assert tied == pytest.approx(2 * 5e-6 + 6283 * 12288 * 2 / 24e9)  # the catalog's HDR NIC: 24 GB/s effective
    with_it = api.run(s, engine=engine)
    monkeypatch.setattr(parallel, "tied_embedding_allreduce_time", lambda scenario, fabric: 0.0)
    without = api.run(s, engine=engine)
    assert with_it.step_time_s - without.step_time_s == pytest.approx(tied, rel=1e-9)
    assert with_it.exposed_comm_s - without.exposed_comm_s == pytest.approx(tied, rel=1e-9)
    assert with_it.comm_s - without.comm_s == pytest.approx(tied, rel=1e-9)


def _megatron_interleaved_program(
    rank: int, p: int, m: int, v: int, x: float
) -> list[tuple[str, tuple[tuple[str, int, float], ...]]]:
    """Megatron-LM de7dc40's ``forward_backward_pipelining_with_interleaving`` (megatron/schedules.py, the SC21
    artifact), transcribed for one pipeline rank: its chunk passes ("F" / "B") and, after each, the exchange
    ``p2p_communication._communicate`` makes of it, one ``batch_isend_irecv`` group of sends and receives
    (("send", peer, x) / ("recv", peer, x), each transfer x) waited for as a whole; the next rank wraps to the
    first (the last chunk of a rank feeds the next chunk of rank 0)."""
    total = m * v
    first, last = rank == 0, rank == p - 1
    nxt, prv = (rank + 1) % p, (rank - 1) % p

    def chunk(k: int, forward: bool) -> int:
        c = k % (p * v) // p
        return c if forward else v - c - 1

    all_warmup = m == p
    warmup = total if all_warmup else min((p - rank - 1) * 2 + (v - 1) * p, total)
    program: list[tuple[str, tuple[tuple[str, int, float], ...]]] = []

    def exchange(send_next: bool, send_prev: bool, recv_prev: bool, recv_next: bool) -> None:
        ops = [("send", prv, x)] * send_prev + [("recv", prv, x)] * recv_prev + [("send", nxt, x)] * send_next
        program.append(("X", tuple(ops + [("recv", nxt, x)] * recv_next)))

    exchange(False, False, not first, False)  # recv_forward before the warm-up
    for k in range(warmup):
        c = chunk(k, True)
        program.append(("F", ()))
        recv_prev = not (first and chunk(k + 1, True) == 0) and k != total - 1
        send_next = not (last and c == v - 1)
        exchange(send_next, False, recv_prev, k == warmup - 1 and not all_warmup and not last)
    for k in range(total - warmup):
        fk = k + warmup
        program += [("F", ()), ("B", ())]
        recv_prev = not (first and chunk(fk - (p - 1), True) == v - 1) and k != total - warmup - 1
        recv_next = not (last and chunk(k - (p - 1), False) == 0)
        exchange(not (last and chunk(fk, True) == v - 1), not (first and chunk(k, False) == 0), recv_prev, recv_next)
    if all_warmup:
        exchange(False, False, False, not last)
    for k in range(total - warmup, total):
        program.append(("B", ()))
        recv_next = not (last and chunk(k + 1, False) == v - 1) and k != total - 1
        exchange(False, not (first and chunk(k, False) == 0), False, recv_next)
    return program


def _execute_rendezvous(
    programs: list[list[tuple[str, tuple[tuple[str, int, float], ...]]]], tf: float, tb: float
) -> float:
    """Each rank runs its program in order: passes ("F" / "B") take tf / tb; an exchange ("X") is a group of sends
    and receives (op, peer, seconds) posted when its rank reaches it, each completing its seconds after both it and
    the peer's matching op are posted (the n-th send from a rank to a peer matches that peer's n-th receive from it:
    NCCL's rendezvous), the group ending with its last op (waited for as a whole). Returns the makespan."""
    Keyed = tuple[str, tuple[int, int], int, float]
    numbered: list[list[tuple[str, tuple[Keyed, ...]]]] = []
    count: dict[tuple[str, tuple[int, int]], int] = {}
    for r, program in enumerate(programs):
        steps: list[tuple[str, tuple[Keyed, ...]]] = []
        for kind, ops in program:
            keyed: list[Keyed] = []
            for op, peer, seconds in ops:
                key = (r, peer) if op == "send" else (peer, r)
                n = count.get((op, key), 0)
                count[(op, key)] = n + 1
                keyed.append((op, key, n, seconds))
            steps.append((kind, tuple(keyed)))
        numbered.append(steps)
    assert all(count[("send", key)] == count.get(("recv", key)) for op, key in count if op == "send")
    posted: dict[tuple[str, tuple[int, int], int], float] = {}
    pos, clock = [0] * len(programs), [0.0] * len(programs)
    progressed = True
    while progressed:
        progressed = False
        for r, steps in enumerate(numbered):
            while pos[r] < len(steps):
                kind, ops = steps[pos[r]]
                if kind != "X":
                    clock[r] += tf if kind == "F" else tb
                else:
                    for op, key, n, _ in ops:
                        posted.setdefault((op, key, n), clock[r])
                    partners = [("recv" if op == "send" else "send", key, n) for op, key, n, _ in ops]
                    if any(partner not in posted for partner in partners):
                        break
                    ends = [max(clock[r], posted[q]) + op[3] for q, op in zip(partners, ops, strict=True)]
                    clock[r] = max([clock[r], *ends])
                pos[r] += 1
                progressed = True
    assert pos == [len(steps) for steps in numbered]  # no deadlock
    return max(clock)


def _execute_megatron_interleaved(p: int, m: int, v: int, cf: float, cb: float, x: float) -> float:
    """:func:`_megatron_interleaved_program` of every rank on :func:`_execute_rendezvous`."""
    return _execute_rendezvous([_megatron_interleaved_program(r, p, m, v, x) for r in range(p)], cf, cb)


@pytest.mark.parametrize(
    ("p", "m", "v", "cf", "cb"),
    [
        (12, 96, 4, 0.0127, 0.0381),  # Narayanan Table 2's 175B on 1,536 GPUs (TP 8, PP 12, 2 layers a chunk)
        (35, 280, 3, 0.0164, 0.0492),  # its 530B on 2,240 (PP 35, 1 layer a chunk), full recomputation
        (8, 48, 6, 0.0127, 0.0254),  # MegaScale's 175B baseline on 1,024 (PP 8, 6 chunks), selective recomputation
        (4, 4, 2, 1.0, 2.0),  # m = p: every pass in the warm-up
    ],
)
def test_megatron_lockstep_exchanges_add_no_fixed_time(p: int, m: int, v: int, cf: float, cb: float) -> None:
    """Megatron-LM 2021's interleaved schedule with synchronous exchanges (each a rendezvous with both neighbours,
    then a device synchronisation), executed: with instant exchanges exactly the interleaved makespan
    (m·v + p − 1)·(c_f + c_b) that :func:`pipeline_step` prices; with exchanges of x it costs at least one x per
    chunk pass pair and no more than the engines' synchronous form, which adds 2·x to each chunk pass pair and its
    (p − 1)/v share of the bubble (``_megatron_synchronous_p2p_time``: 2·v exchanges a micro-batch). The lock-step
    adds no time a step beyond these: the fixed seconds Table 2 and MegaScale's runs spend at small data parallelism
    are not in the schedule."""
    ideal = (m * v + p - 1) * (cf + cb)
    assert _execute_megatron_interleaved(p, m, v, cf, cb, 0.0) == pytest.approx(ideal)
    assert pipeline_step(v * cf, v * cb, p, m, v, "interleaved").step_s == pytest.approx(ideal)
    x = 0.0005
    executed = _execute_megatron_interleaved(p, m, v, cf, cb, x)
    engines = pipeline_step(v * (cf + x), v * (cb + x), p, m, v, "interleaved").step_s
    assert engines == pytest.approx((m * v + p - 1) * (cf + cb + 2 * x))
    assert ideal + m * v * x <= executed <= engines


# --- a stage smaller than a node: a send time per stage boundary ---------------------------------------------------

# PP 4 over 2 nodes of 4 A100s, DP 2, one 1 Gbit/s NIC a node: stage s holds ranks 2s and 2s + 1 (Megatron's order),
# so stages 0, 1 sit on node 0 and 2, 3 on node 1; boundary 1 (stage 1 -> 2) and boundary 3 (stage 3 -> 0, the
# interleaved chunks' wrap) cross the NICs, 2 sends at once through each, the others stay on NVLink.
SMALL_STAGES = [
    "cluster.nodes=2",
    "cluster.workers_per_node=4",
    "cluster.device=a100-80gb",
    "cluster.intra_node={preset: nvlink3}",
    "cluster.inter_node={bandwidth: 1 Gbit/s, latency: 10 us, nics_per_node: 1}",
    "training.global_batch=16",
    "training.micro_batch=1",
    "training.pipeline_parallel=4",
    "communication.algorithm=ring",
]


def test_which_stage_boundaries_cross_nodes_and_how_many_sends_share_a_nic() -> None:
    from dpsim.analytic.parallel import stage_boundary_ranks_per_nic

    # (p, tp, dp, GPUs a node, NICs a node): the most sends across each boundary k (stages k, k + 1 mod p) on one NIC
    assert stage_boundary_ranks_per_nic(4, 1, 2, 4, 1) == (0, 2, 0, 2)
    # TP 2 x DP 2 on 8-GPU nodes: stage 1 (local ranks 4-7) sends from 4 GPUs, through one NIC or one NIC each
    assert stage_boundary_ranks_per_nic(4, 2, 2, 8, 1) == (0, 4, 0, 4)
    assert stage_boundary_ranks_per_nic(4, 2, 2, 8, 8) == (0, 1, 0, 1)
    assert stage_boundary_ranks_per_nic(4, 2, 2, 8, 2) == (0, 4, 0, 4)  # local ranks 4-7 all on NIC 1
    # one rank a stage: the node's last stage alone crosses
    assert stage_boundary_ranks_per_nic(8, 1, 1, 4, 1) == (0, 0, 0, 1, 0, 0, 0, 1)
    # a pipeline inside one node: none
    assert stage_boundary_ranks_per_nic(4, 1, 2, 8, 1) == (0, 0, 0, 0)
    # a stage of a node or more: every rank of the node sends at once (GPT-NeoX 20B: 8 GPUs on 4 HCAs, 2 each)
    assert stage_boundary_ranks_per_nic(4, 2, 12, 8, 4) == (2, 2, 2, 2)
    assert stage_boundary_ranks_per_nic(4, 8, 2, 8, 8) == (1, 1, 1, 1)


def test_a_stage_smaller_than_a_node_sends_through_the_nic_at_the_nodes_edge() -> None:
    # 3,276,800 B (GPT-2 XL: 1 x 1024 x 1600 x 2) over NVLink 3 (240 GB/s achievable, 1 us) inside a node, and
    # through the NIC at 1 Gbit/s (125 MB/s, 10 us) shared by the boundary's 2 sends across it. Before: every
    # boundary on NVLink (14.7 us), the engines' step 5.43 s where the fabric that routes each send gives 7.90 s.
    from dpsim.analytic.parallel import pipeline_p2p_times
    from dpsim.analytic.step import model_parallel_fabric

    s = load_scenario(None, SMALL_STAGES)
    nvlink, nic = 1e-6 + 3_276_800 / 240e9, 10e-6 + 3_276_800 / (125e6 / 2)
    assert pipeline_p2p_times(s, model_parallel_fabric(s)) == pytest.approx((nvlink, nic, nvlink, nic), rel=1e-12)
    assert pipeline_p2p_time(s, model_parallel_fabric(s)) == pytest.approx(nic, rel=1e-12)


def test_blocking_transfers_price_the_busiest_stage_with_its_own_boundaries() -> None:
    # DeepSpeed's blocking transfers (act + grad across each of a middle stage's two boundaries): stages 1 and 2
    # touch boundary 0 or 2 (NVLink) and boundary 1 (the NIC): 2 x NVLink + 2 x NIC, not 4 of either
    from dpsim.analytic.parallel import pipeline_blocking_p2p_time
    from dpsim.analytic.step import model_parallel_fabric

    s = load_scenario(None, [*SMALL_STAGES, "training.pipeline_p2p=blocking"])
    nvlink, nic = 1e-6 + 3_276_800 / 240e9, 10e-6 + 3_276_800 / (125e6 / 2)
    assert pipeline_blocking_p2p_time(s, model_parallel_fabric(s)) == pytest.approx(2 * nvlink + 2 * nic, rel=1e-12)


@pytest.mark.parametrize(
    "extra",
    [
        ["training.pipeline_parallel=2"],  # a stage a node: every send through the NIC, m a device (was 2·m)
        ["training.pipeline_parallel=2", "training.pipeline_schedule=gpipe"],
        ["training.pipeline_parallel=2", "training.pipeline_schedule=interleaved", "training.virtual_stages=2"],
        [],  # PP 4: boundaries 1 and 3 (the wrap) through the NIC
        ["training.pipeline_schedule=interleaved", "training.virtual_stages=2"],
    ],
)
def test_a_devices_pipeline_sends_are_those_its_schedule_runs(extra: list[str]) -> None:
    # Count each device's sends from the executed order (schedule_order): chunk c (on device c mod p) sends its
    # activation across boundary c mod p unless it is the model's last chunk, its gradient across boundary
    # (c − 1) mod p unless it is the first (torch's pipelining: no act_send_info on is_last, no backward send
    # on is_first). Under 1F1B and GPipe the wrap (stage p − 1 -> 0) carries nothing; the old count sent every
    # micro-batch across it both ways (PP 2: 2·m sends a device where each runs m).
    from dpsim.analytic.parallel import pipeline_p2p_times
    from dpsim.analytic.step import _pipeline_p2p_terms, model_parallel_fabric, predict
    from dpsim.sim.simulate import simulate

    s = load_scenario(None, [*SMALL_STAGES, *extra])
    fabric = model_parallel_fabric(s)
    times = pipeline_p2p_times(s, fabric)
    t = s.training
    p, v = t.pipeline_parallel, t.virtual_stages if t.pipeline_schedule == "interleaved" else 1
    last = p * v - 1
    per_device = [
        sum(
            times[c % p] if kind == "F" else times[(c - 1) % p]
            for kind, _, c in order
            if (kind == "F" and c < last) or (kind == "B" and c > 0)
        )
        for order in _orders(p, s.accumulation_steps, v, t.pipeline_schedule)
    ]
    assert _pipeline_p2p_terms(s, fabric)[0] == pytest.approx(max(per_device), rel=1e-12)
    # both engines report it in the step's communication, from the one function
    assert simulate(s).comm_s == pytest.approx(predict(s).comm_s, rel=1e-9)


@pytest.mark.parametrize(
    ("overrides", "pairs_per_nic", "size"),
    [
        # PP 4 over 2 nodes of 4, DP 2, one NIC a node: stage 0 = ranks 0, 1 (node 0), stage 3 = ranks 6, 7 (node 1),
        # so 2 embedding groups cross each NIC (the old price: 4, every rank of the node); 50,257 x 1600 bf16 rows
        ([], 2, 50257 * 1600 * 2),
        (["training.pipeline_schedule=interleaved", "training.virtual_stages=2"], 2, 50257 * 1600 * 2),
        # one rank a stage: rank 7 (node 1) and rank 0 (node 0), alone on their NICs (old: 4)
        (["training.pipeline_parallel=8", "training.global_batch=8"], 1, 50257 * 1600 * 2),
        # TP 2 x DP 2 on 8-GPU nodes: local ranks 0-3 of node 0 with 4-7 of node 1, 4 on the one NIC (old: 8);
        # ⌈32,000/2⌉ x 4096 bf16 rows a rank
        (
            [
                "cluster.workers_per_node=8",
                "training.tensor_parallel=2",
                "model={preset: llama2-7b}",
                "model.tied_embeddings=true",
            ],
            4,
            16000 * 4096 * 2,
        ),
        # a stage of a node (PP 2, DP 4): every rank of the node is in a group, 4 on the NIC, as before
        (["training.pipeline_parallel=2"], 4, 50257 * 1600 * 2),
    ],
    ids=["pp4-dp2", "pp4-dp2-interleaved", "pp8-dp1", "tp2-pp4-dp2-8gpus", "pp2-dp4"],
)
def test_only_the_embedding_groups_ranks_share_the_nic(overrides: list[str], pairs_per_nic: int, size: int) -> None:
    """Megatron's embedding group is the first and last rank of each pipeline group (parallel_state), and
    finalize_model_grads all-reduces every group at once after the data-parallel reduction: only stage 0's and
    stage p − 1's ranks send, so a NIC is shared by the groups whose ranks sit behind it, not by every rank of the
    node. 1 Gbit/s NICs (125 MB/s, 10 us): 2·α + S/(125 MB/s / pairs). Before: 5.146 s in the first three cases
    (4 a NIC), 8.389 s in the fourth (8 a NIC)."""
    from dpsim.analytic.parallel import tied_embedding_allreduce_time
    from dpsim.analytic.step import model_parallel_fabric

    s = load_scenario(None, [*SMALL_STAGES, *overrides])
    expected = 2 * 10e-6 + size / (125e6 / pairs_per_nic)
    assert tied_embedding_allreduce_time(s, model_parallel_fabric(s)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_the_embedding_groups_pairs_price_the_step_in_both_engines(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PP 8 over 2 nodes of 4 (one rank a stage): one pair crosses, the NIC's whole 125 MB/s; the step grows by that
    # in both engines (old: 4 ranks a NIC, 5.146 of a 5.596 s step)
    from dpsim import api
    from dpsim.analytic import parallel

    o = [*SMALL_STAGES, "training.pipeline_parallel=8", "training.global_batch=8"]
    with_it = api.run(None, engine=engine, overrides=o).step_time_s
    monkeypatch.setattr(parallel, "tied_embedding_allreduce_time", lambda scenario, fabric: 0.0)
    without = api.run(None, engine=engine, overrides=o).step_time_s
    assert with_it - without == pytest.approx(2 * 10e-6 + 50257 * 1600 * 2 / 125e6, rel=1e-9)


def test_which_nic_directions_the_stage_links_share() -> None:
    # PP 6 over 3 nodes of 4 GPUs, DP 2 (stages of 2 ranks, 2 stages a node, one NIC a node; rank r on node r // 4):
    # the middle node (stages 2, 3) sends boundary 1's gradients (2 -> 1: ranks 4, 5 -> 2, 3) and boundary 3's
    # activations (3 -> 4: ranks 6, 7 -> 8, 9) out through its one NIC, 2 flows each; it receives boundary 1's
    # activations and boundary 3's gradients through it, 2 flows each
    from dpsim.analytic.parallel import stage_link_nic_flows

    links = {(a, b): dict(flows) for a, b, flows in stage_link_nic_flows(6, 1, 2, 4, 1)}
    assert set(links) == {(k, (k + 1) % 6) for k in range(6)} | {((k + 1) % 6, k) for k in range(6)}
    assert links[(0, 1)] == links[(1, 0)] == links[(2, 3)] == links[(3, 2)] == {}  # inside a node: NVLink
    assert all(n == 2 for flows in links.values() for n in flows.values())
    # the middle node's NIC out carries 2 -> 1 and 3 -> 4; its NIC in carries 1 -> 2 and 4 -> 3
    assert set(links[(2, 1)]) & set(links[(3, 4)])
    assert set(links[(1, 2)]) & set(links[(4, 3)])
    assert not set(links[(2, 1)]) & set(links[(1, 2)])  # full duplex: out and in are two directions
    # a stage a node (PP 3 over 3 nodes of 4, DP 4): the middle stage's activations and gradients leave one NIC
    # per 4 ranks (nics 1: 4 flows), into different nodes
    wide = {(a, b): dict(flows) for a, b, flows in stage_link_nic_flows(3, 1, 4, 4, 1)}
    assert set(wide[(1, 2)]) & set(wide[(1, 0)]) and set(wide[(1, 2)].values()) == {4}
    # PP 2 under 1F1B: stage 0's NIC sends activations, stage 1's gradients; no direction serves two links
    assert stage_link_nic_flows(2, 1, 4, 4, 1) == ()
    assert stage_link_nic_flows(4, 1, 2, 4, 1) != ()  # PP 4 on 2 nodes: the wrap 3 -> 0 beside 2 -> 1


@pytest.mark.parametrize(
    ("extra", "step_s"),
    [
        (["cluster.nodes=3", "training.pipeline_parallel=6", "training.global_batch=24"], 4.1798),
        # a stage a node (DP 4): each middle stage's activations and gradients leave through its node's NIC
        (["cluster.nodes=4", "training.pipeline_parallel=4", "training.global_batch=32"], 7.9950),
        # the README's other cases of the stage a node (stop 43; the fabric 29.9540 / 13.5818 / 2.2166 s before)
        (
            [
                "cluster.nodes=4",
                "training.pipeline_parallel=4",
                "training.global_batch=32",
                "training.pipeline_schedule=interleaved",
                "training.virtual_stages=2",
            ],
            9.0376,
        ),
        (["cluster.nodes=4", "training.pipeline_parallel=8", "training.global_batch=32"], 4.7696),  # 16 micro-batches
        (
            [
                "cluster.nodes=4",
                "training.pipeline_parallel=4",
                "training.global_batch=32",
                "cluster.inter_node.nics_per_node=4",
            ],
            2.0617,
        ),
    ],
)
def test_sends_sharing_a_nic_price_alike_in_both_engines_and_on_the_fabric(extra: list[str], step_s: float) -> None:
    # PP 6 over 3 nodes (the middle node's NIC carries two boundaries' sends, benchmarks/pipeline_edge_sharing.py):
    # before, both engines priced each directed link alone (3.6893 s) while the job alone on the shared fabric,
    # which released its sends at those unshared times and then queued them on their links again, gave 8.2062 s,
    # above even every send at the NIC's full count (4.53 s); the engines now share the NIC while sends overlap,
    # and the fabric releases its flows when they do leave: both 4.18 s, the fabric's max-min network taking each
    # send as long as the engines' equal share does. PP 4 over 4 nodes: 7.1081 against the fabric's 10.0308 s before
    from dpsim.api import run
    from dpsim.sim.shared import simulate_shared

    overrides = [*SMALL_STAGES, *extra]
    analytic = run(None, overrides=overrides).step_time_s
    assert run(None, engine="sim", overrides=overrides).step_time_s == pytest.approx(analytic, rel=1e-12)
    (alone,) = simulate_shared([load_scenario(None, overrides)])
    # each send pays its latency after its last byte, off the NIC, as the fabric's flows do (stop 46; before, the
    # engines shared it with the bytes: 1.2e-5 to 4.9e-5 above the fabric)
    assert alone.step_time_s == pytest.approx(analytic, rel=1e-9)
    assert analytic == pytest.approx(step_s, abs=1e-4)


@pytest.mark.parametrize("sequence_parallel", [False, True])
def test_megatron_core_sends_the_whole_stage_tensor_without_sequence_parallelism(sequence_parallel: bool) -> None:
    """Llama 2 7B, TP 4 x PP 4 x DP 2 on 4 DGX H100 (a stage a node, one send a NDR NIC at 47 GB/s, 5 us): each TP
    rank sends 1 x 4096 x 4096 x 2 B = 33,554,432 B a micro-batch without sequence parallelism (before: 1/4 of it,
    the step 1.4555 s on both engines, 1.4570 s on the shared fabric, now 1.4833 / 1.4835 s), 1/4 with it (1.3484 s,
    unchanged). The schedule's exposed sends are the send times over the same count, the engines agree, and the
    shared fabric, whose pipeline sends are flows of the same size, stays within 0.1 %."""
    from dpsim.analytic.step import fabric_of, predict
    from dpsim.sim.shared import simulate_shared
    from dpsim.sim.simulate import simulate

    sets = ["model.preset=llama2-7b", "cluster.nodes=4", "cluster.workers_per_node=8", "cluster.device=h100-sxm",
            "cluster.intra_node={preset: nvlink4}", "cluster.inter_node={preset: ib-ndr, nics_per_node: 8}",
            "training.global_batch=64", "training.micro_batch=1", "training.tensor_parallel=4",
            "training.pipeline_parallel=4", "communication.algorithm=ring"]  # fmt: skip
    s = load_scenario(None, [*sets, f"training.sequence_parallel={str(sequence_parallel).lower()}"])
    sharded = load_scenario(None, [*sets, "training.sequence_parallel=true"])
    size = 33_554_432 / (4 if sequence_parallel else 1)
    assert pipeline_p2p_time(s, fabric_of(s)) == pytest.approx(5e-6 + size / 47e9)
    exposed = predict(s).extra["pipeline_p2p_exposed_s"]
    assert exposed / predict(sharded).extra["pipeline_p2p_exposed_s"] == pytest.approx(
        (5e-6 + size / 47e9) / (5e-6 + 33_554_432 / 4 / 47e9)
    )
    step = predict(s).step_time_s
    assert simulate(s).step_time_s == pytest.approx(step, rel=1e-12)
    (shared,) = simulate_shared([s])
    assert shared.step_time_s == pytest.approx(step, rel=1e-3)
