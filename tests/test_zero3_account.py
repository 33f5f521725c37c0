"""benchmarks/zero3_account.py: the collectives DeepSpeed 0.3.13's stage 3 issues a step, hand-worked from its source
(``stage3.py``, ``partition_parameters.py``) for Narayanan et al.'s GPT-3 175B (96 layers, hidden 12,288, vocabulary
51,200, sequence 2,048)."""

from __future__ import annotations

from typing import Any

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
