"""benchmarks/zero3_account.py: the collectives DeepSpeed 0.3.13's stage 3 issues a step, hand-worked from its source
(``stage3.py``, ``partition_parameters.py``) for Narayanan et al.'s GPT-3 175B (96 layers, hidden 12,288, vocabulary
51,200, sequence 2,048)."""

from __future__ import annotations

from typing import Any

import pytest
from _bench import load_benchmark

MODULE = load_benchmark("zero3_account")
H, LAYERS = 12288, 96


def _row(gpus: int) -> Any:
    return next(r for r in MODULE.ZERO3_RUNS if r.name == f"Narayanan T2 ZeRO-3 174.6B on {gpus}")


def test_only_the_weight_matrices_and_embeddings_are_gathered() -> None:
    """``param_persistence_threshold`` 1e5: the biases (3h = 36,864, h, 4h = 49,152) and the LayerNorms (h) stay
    gathered; one all_gather each for the word embedding (V·h), the positions (s·h) and a layer's four matrices."""
    scenario = MODULE.pr.scenario_from_dict(dict(_row(1536).scenario))
    outside, layer = MODULE.gathered_tensors(scenario)
    assert outside == [51200 * H, 2048 * H]
    assert layer == [3 * H * H, H * H, 4 * H * H, 4 * H * H]
    assert max(4 * H, 3 * H) < MODULE.PERSISTENCE_THRESHOLD == 100_000


def test_a_step_gathers_each_forward_weight_and_the_backwards_share() -> None:
    """Forward: 2 + 4·96 = 386 gathers; the backward (recomputed forward and what the coordinator released before
    the backward) the step traffic's share of the 384 layer matrices; bytes at fp16, an all-reduce counted twice."""
    from dpsim.sharding import step_traffic

    run = _row(1536)
    scenario = MODULE.pr.scenario_from_dict(dict(run.scenario))
    share = step_traffic(scenario).backward_gather_share
    a = MODULE.account(run)
    assert a.ranks == 1536
    assert a.gathers == 2 + round(4 * LAYERS * (1 + share))
    psi = scenario.model.num_parameters
    gathered = 2 * ((51200 + 2048) * H + 12 * H * H * LAYERS * (1 + share))
    assert abs(a.bytes_per_rank - (gathered + 2 * 2 * psi)) < 1e-9 * a.bytes_per_rank
    assert a.serial_s == a.compute_s + a.gather_s + a.reduction_s


def _unit_price(elements: float) -> float:
    """A collective's price in these hand-worked schedules: one second an element."""
    return elements


def test_one_ahead_pairs_each_compute_with_the_next_modules_gather() -> None:
    """DeepSpeed 0.3.13's forward (``fetch_sub_module`` waits, ``prefetch_next_sub_modules`` starts the next
    module's gather, the release waits for the compute): the first gather alone, then each module's compute beside
    the next module's gather, by hand x + max(c_A, y) + max(c_B, z) + c_C = 5 + max(1, 1) + max(2, 4) + 3 = 13."""
    mods = [
        MODULE.Module(1.0, (5.0,), releases=True),
        MODULE.Module(2.0, (1.0,), releases=True),
        MODULE.Module(3.0, (4.0,), releases=True),
    ]
    assert MODULE.one_ahead_step_s(mods, _unit_price, _unit_price) == 13.0


def test_an_all_reduce_queues_behind_the_prefetch_and_the_next_fetch_waits_for_it() -> None:
    """One NCCL stream for the group: A's gradient all-reduce (3) starts after its compute (2) and after B's
    prefetched gather (5), and B's fetch synchronises the device (``_synchronize_communication``), so B's compute
    (1) starts at max(5, 2) + 3 = 8: the step is 9."""
    mods = [MODULE.Module(2.0, (), (3.0,)), MODULE.Module(1.0, (5.0,))]
    assert MODULE.one_ahead_step_s(mods, _unit_price, _unit_price) == 9.0


def test_the_175b_step_modules_by_hand() -> None:
    """GPT-3 175B under full recomputation: the embeddings (V·h, s·h) once; 96 layers x 4 weights forward, again
    in the recomputation, and in the backward the three DeepSpeed releases after it (qkv, proj, fc1: 8h² of
    12h²); every weight's gradient all-reduced once, the embeddings' at the end; the compute split into the
    forward, the recomputation and a backward of twice the forward."""
    scenario = MODULE.pr.scenario_from_dict(dict(_row(768).scenario))
    mods = MODULE.step_modules(scenario, 40.0)
    gathers = [e for m in mods for e in m.gathers]
    reductions = [e for m in mods for e in m.reductions]
    outside = 51200 * H + 2048 * H
    assert len(gathers) == 2 + LAYERS * (4 + 4 + 3)
    assert abs(sum(gathers) - (outside + LAYERS * (12 + 12 + 8) * H * H)) < 1e-12 * sum(gathers)
    assert len(reductions) == 2 + LAYERS * 4
    assert abs(sum(reductions) - (outside + LAYERS * 12 * H * H)) < 1e-12 * sum(reductions)
    assert abs(sum(m.compute_s for m in mods) - 40.0) < 1e-9
    # free collectives: the step is the compute; no compute: every collective in series (one second each)
    assert abs(MODULE.one_ahead_step_s(mods, lambda e: 0.0, lambda e: 0.0) - 40.0) < 1e-9
    zero = MODULE.step_modules(scenario, 0.0)
    assert MODULE.one_ahead_step_s(zero, lambda e: 1.0, lambda e: 1.0) == len(gathers) + len(reductions)


def _three_modules() -> list[Any]:
    return [
        MODULE.Module(1.0, (5.0,), releases=True),
        MODULE.Module(2.0, (1.0,), releases=True),
        MODULE.Module(3.0, (4.0,), releases=True),
    ]


def test_no_prefetch_while_the_live_limit_is_reached() -> None:
    """0.3.13's ``prefetch_next_sub_modules`` prefetches only while ``total_available_parameter_numel`` (what is
    fetched or prefetched and not yet released) is below ``stage3_max_live_parameters``. With a limit of 5 the
    first module's 5 gathered elements stop B's prefetch, so B's gather (1) waits for A's compute; B (live 1)
    prefetches C: by hand x_A + c_A + y_B + max(c_B, z_C) + c_C = 5 + 1 + 1 + max(2, 4) + 3 = 14 (13 without the
    limit, 5.5 gives the same 13: A's 5 are under it, and A's release leaves B's 1 beside C's 4)."""
    assert MODULE.one_ahead_step_s(_three_modules(), _unit_price, _unit_price, max_live=5.0) == 14.0
    assert MODULE.one_ahead_step_s(_three_modules(), _unit_price, _unit_price, max_live=5.5) == 13.0


def test_without_prefetch_every_gather_waits_for_the_compute_before_it() -> None:
    """v0.3.14 to v0.5.x (the traced step reset after the top module's pre-hook counted it, #867; every lookup then
    misses the trace, DeepSpeed #1069): each module gathers at its own pre-hook, so the step is every gather and
    every compute in series, 5 + 1 + 1 + 2 + 4 + 3 = 16."""
    assert MODULE.one_ahead_step_s(_three_modules(), _unit_price, _unit_price, prefetch=False) == 16.0


def test_without_reuse_the_backward_gathers_every_weight_again() -> None:
    """``reuse`` False (``get_reuse_distance_in_numel`` cannot find the module in the trace and returns 1e12): the
    recomputation releases all four weights of a layer and the backward gathers each again, three passes of the
    layers (2 + 96 x 12 gathers of 36h² a layer) where 0.3.13's coordinator keeps fc2 (2 + 96 x 11, 32h²)."""
    scenario = MODULE.pr.scenario_from_dict(dict(_row(768).scenario))
    gathers = [e for m in MODULE.step_modules(scenario, 40.0, reuse=False) for e in m.gathers]
    assert len(gathers) == 2 + LAYERS * 12
    outside = 51200 * H + 2048 * H
    assert abs(sum(gathers) - (outside + LAYERS * 36 * H * H)) < 1e-12 * sum(gathers)


def test_the_live_limit_binds_on_the_530b_weights_not_the_175b() -> None:
    """``stage3_max_live_parameters`` 1e9: the 530B's qkv (3h² = 1.26e9 at h = 20,480) and MLP weights (4h² =
    1.68e9) each reach it once fetched, so the prefetch after them is skipped and the step lengthens; the 175B's
    largest weight (4h² = 6.0e8 at h = 12,288) is under it, and so is what is gathered whenever a prefetch is
    decided (the count is read before the prefetch adds to it), so its step is the same with and without the
    limit (each collective priced one second per 1e9 elements)."""
    assert 3 * 20480**2 > 1e9 and 4 * 12288**2 < 1e9
    for name, binds in (("174.6B on 768", False), ("529.6B on 1120", True)):
        run = next(r for r in MODULE.ZERO3_RUNS if r.name == f"Narayanan T2 ZeRO-3 {name}")
        scenario = MODULE.pr.scenario_from_dict(dict(run.scenario))
        assert scenario.deepspeed.max_live_parameters == 1_000_000_000
        mods = MODULE.step_modules(scenario, 40.0)
        free = MODULE.one_ahead_step_s(mods, lambda e: e / 1e9, lambda e: e / 1e9)
        gated = MODULE.one_ahead_step_s(mods, lambda e: e / 1e9, lambda e: e / 1e9, max_live=1e9)
        assert (gated > free * 1.01) if binds else (gated == free)


def test_the_script_takes_no_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` prints the usage instead of running the whole account; anything else is refused with exit 2."""
    for args, code in ((["--help"], 0), (["--rows", "3"], 2)):
        with pytest.raises(SystemExit) as info:
            MODULE.main(args)
        assert info.value.code == code
    assert "GPUs" not in capsys.readouterr().out  # nothing of the account printed


def test_post_step_copies_by_hand() -> None:
    """``_allgather_params`` (v0.3.12-v0.5.4) copies ``ceil(n / ceil(n / N))`` pieces of a parameter of n elements
    over N ranks: the partition is ceil(n / N) and a piece is copied while ``i * partition < n``. The 175B's
    persistent parameters (eight a layer: the qkv bias 3h, two biases and four norm vectors of h, the fc1 bias
    4h; the final norm's two) all divide evenly at 1,536 ranks (partitions of 24, 8 and 32): 770 x 1,536 copies.
    The 530B's (h = 20,480) at 2,240 ranks: partitions of 10 (h: 2,048 pieces), 28 (3h = 61,440: 2,195) and 37
    (4h = 81,920: 2,215); five elements over eight ranks: partitions of one, five pieces."""
    assert MODULE.persistent_copies(H, 1536) == 1536
    assert MODULE.persistent_copies(3 * H, 1536) == 1536 and MODULE.persistent_copies(4 * H, 1536) == 1536
    assert MODULE.persistent_copies(20480, 2240) == 2048
    assert MODULE.persistent_copies(61440, 2240) == 2195
    assert MODULE.persistent_copies(81920, 2240) == 2215
    assert MODULE.persistent_copies(5, 8) == 5
    scenario = MODULE.pr.scenario_from_dict(dict(_row(1536).scenario))
    tensors = MODULE.persistent_tensors(scenario)
    assert len(tensors) == 8 * LAYERS + 2
    assert sorted(set(tensors)) == [H, 3 * H, 4 * H]
    assert MODULE.post_step_copies(scenario) == 770 * 1536
    big = next(r for r in MODULE.ZERO3_RUNS if r.name == "Narayanan T2 ZeRO-3 529.6B on 2240")
    scenario = MODULE.pr.scenario_from_dict(dict(big.scenario))
    assert MODULE.post_step_copies(scenario) == 105 * (6 * 2048 + 2195 + 2215) + 2 * 2048


def test_host_calls_count_both_loops_over_the_ranks() -> None:
    """Two eager calls a rank for each gathered weight (``_allgather_param``'s narrow, PyTorch 1.8's copy_ out of
    the flat temporary) and four for each post-step copy: three gathers on the 175B's 1,536 ranks, by hand
    3 x 1,536 x 2 + 770 x 1,536 x 4."""
    scenario = MODULE.pr.scenario_from_dict(dict(_row(1536).scenario))
    mods = [MODULE.Module(1.0, (5.0,), releases=True), MODULE.Module(1.0, (3.0, 2.0), releases=True)]
    assert MODULE.host_calls(scenario, mods) == 3 * 1536 * 2 + 770 * 1536 * 4


def test_host_rate_step_is_the_schedule_plus_the_loops() -> None:
    """:func:`host_rate_fit`'s step at no price and no extra rate is the second table's priced schedule; a price a
    call adds ``host_calls`` times it, and an extra rate makes the step longer."""
    import math

    run = _row(384)
    step, published = MODULE._host_rate_step(run)
    priced = MODULE.schedule(run).priced_s
    assert abs(step(0.0, math.inf) - priced) < 1e-9 * priced
    scenario = MODULE.pr.scenario_from_dict(dict(run.scenario))
    calls = MODULE.host_calls(scenario, MODULE.step_modules(scenario, MODULE.api.run(scenario).compute_s))
    assert abs(step(4e-6, math.inf) - priced - 4e-6 * calls) < 1e-9 * priced
    assert step(0.0, 100e9) > priced
    assert published == MODULE.pr.step_seconds(run, 144.0)
