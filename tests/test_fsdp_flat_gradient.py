"""PyTorch FSDP1's flat-parameter gradient path (``training.gradient_accumulation_pass: fsdp_flat``), priced by hand.

torch 2.x ``torch/distributed/fsdp/_runtime_utils.py``: every micro-batch's backward assembles each unit's unsharded
flat gradient from its views' gradients (autograd's ``SplitBackward``: ``torch.cat``), ``_post_backward_hook`` casts
it to ``MixedPrecision.reduce_dtype`` where that differs, ``_reduce_grad`` pre-divides it, reduce-scatters it,
post-divides the shard, and ``_accumulate_sharded_grad`` casts the shard to the fp32 sharded parameter's dtype and
adds it into ``_saved_grad_shard``.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

# GPT-2 XL's 1,557,611,200 parameters (every one's gradient unsharded on each rank) and the catalog A100 80GB's
# memory-bound rate, as test_deepspeed_engine derives them
from test_deepspeed_engine import PSI, RATE  # pytest puts tests/ on the path

from dpsim import api
from dpsim.compute import fsdp_flat_gradient_bytes_per_param, fsdp_gradient_divide_factors
from dpsim.errors import ScenarioError
from dpsim.scenario import load_scenario, scenario_from_dict

K = 3  # global batch 48 = 8 ranks x micro-batch 2 x 3 micro-batches

_BASE = [
    "model.preset=gpt2-xl",
    "cluster.nodes=1",
    "cluster.workers_per_node=8",
    "cluster.device=a100-80gb",
    "training.global_batch=48",
    "training.micro_batch=2",
    "training.precision=bf16",
    "training.zero_stage=3",
    "training.optimizer_sharding=fsdp",
]
_FLAT = "training.gradient_accumulation_pass=fsdp_flat"


@pytest.mark.parametrize(
    ("world", "factors"),
    # DefaultState._get_gradient_predivide_factor: factor = 1; while N % factor == 0 and N / factor > factor:
    # factor *= 2; post = N / factor
    # 124 (OPT's data parallelism): 124 % 4 == 0 and 31 > 4 gives 8; 124 % 8 != 0 stops there; post 124 / 8
    [
        (1, (1, 1)),
        (2, (2, 1)),
        (3, (2, 1.5)),
        (8, (4, 2)),
        (16, (4, 4)),
        (32, (8, 4)),
        (64, (8, 8)),
        (124, (8, 15.5)),
        (128, (16, 8)),
    ],
)
def test_divide_factors_are_torchs(world: int, factors: tuple[float, float]) -> None:
    assert fsdp_gradient_divide_factors(world) == factors


@pytest.mark.parametrize(
    ("dtype", "per_param"),
    [
        # Composer's DEFAULT: bf16 gradients (w 2) reduced in fp32 (r 4), 8 ranks (pre 4, post 2), k = 3.
        # Unsharded: cat 2 + 2, cast 2 + 4, pre-division 4 + 4 = 18. Shard (1/8): post-division 4 + 4, no cast
        # (already fp32), accumulation (4 + 4 + 4) on 2 of 3 micro-batches = 8 + 8 = 16, /8 = 2. Total 20.
        ("fp32", 20.0),
        # PURE: reduced in bf16. Unsharded: cat 4, no cast, pre-division 2 + 2 = 8. Shard: post-division 4, cast
        # to fp32 2 + 4, accumulation 12 · 2/3 = 8: 18 / 8 = 2.25. Total 10.25.
        ("bf16", 10.25),
    ],
)
def test_bytes_and_step_by_hand(dtype: str, per_param: float) -> None:
    one = (f"communication.dtype={dtype}",)
    flat = load_scenario(None, [*_BASE, *one, _FLAT])
    assert fsdp_flat_gradient_bytes_per_param(flat) == pytest.approx(per_param, rel=1e-12)
    before = api.run(load_scenario(None, [*_BASE, *one]))
    after = api.run(flat)
    # every micro-batch's backward grows by the pass over all PSI unsharded parameters
    grown = PSI * per_param / RATE
    assert after.extra["backward_s"] - before.extra["backward_s"] == pytest.approx(grown, rel=1e-9)
    assert after.compute_s - before.compute_s == pytest.approx(K * grown, rel=1e-9)
    assert after.extra["forward_s"] == before.extra["forward_s"]
    assert api.run(flat, engine="sim").step_time_s == pytest.approx(after.step_time_s, rel=1e-9)


def test_one_rank_one_micro_batch() -> None:
    # 1 rank, k = 1, DEFAULT: no division (factors 1), no accumulation; cat 4 + cast 6 = 10 unsharded, and the
    # (whole) shard already fp32
    one = load_scenario(
        None,
        [*_BASE, "cluster.workers_per_node=1", "training.global_batch=2", "communication.dtype=fp32", _FLAT],
    )
    assert fsdp_flat_gradient_bytes_per_param(one) == 10.0


def test_hybrid_shard_divides_over_all_ranks_and_keeps_a_group_shard() -> None:
    # HYBRID_SHARD over groups of 4 of the 8 ranks, PURE, k = 3: unsharded 8 as above (factors over all 8 ranks);
    # the shard is 1/4: (post-division 4 + cast 6 + accumulation 8) / 4 = 4.5
    hybrid = load_scenario(None, [*_BASE, "communication.dtype=bf16", "training.fsdp_shard_group=4", _FLAT])
    assert fsdp_flat_gradient_bytes_per_param(hybrid) == 8.0 + 18.0 / 4


@pytest.mark.parametrize(
    "overrides",
    [
        ("training.optimizer_sharding=zero",),  # DeepSpeed ZeRO-3 has no FlatParameter
        ("training.zero_stage=0", "training.optimizer_sharding=zero"),
        ("training.fsdp_no_sync=true",),  # no_sync keeps unsharded gradients: another path, not modelled
    ],
)
@pytest.mark.parametrize("flat", [_FLAT, "training.gradient_accumulation_pass=fairscale_flat"])
def test_only_fsdp_without_no_sync(overrides: tuple[str, ...], flat: str) -> None:
    with pytest.raises(ScenarioError, match=r"training\.gradient_accumulation_pass"):
        load_scenario(None, [*_BASE, *overrides, flat])


def test_fairscale_as_opt_ran_it_by_hand() -> None:
    """metaseq's OPT-175B on fairscale FSDP (88200493): fp16 gradients reduced in fp16 (w = r = 2), 124 ranks (pre 8,
    post 15.5), one micro-batch. Unsharded: SplitBackward's cat 2 + 2, no cast, the pre-division 2 + 2, the
    bucketer's torch.cat before _reduce_scatter_base 2 + 2 = 12 (FSDP1's path: 8). Shard (1/124): the zeros_like
    output 2, the post-division 2 + 2, the cast to the fp32 shard 2 + 4 = 12 (FSDP1: 10). Every parameter's gradient
    is unsharded on a rank once a step: (96·(12·h² + 13·h) + 50,272·h + 2,048·h + 2·h) / 8 with h = 12,288."""
    from benchmarks import published_runs as runs

    run = next(r for r in runs.HELD_OUT_RUNS if r.name.startswith("OPT"))
    h = 12288
    psi = (96 * (12 * h * h + 13 * h) + 50272 * h + 2048 * h + 2 * h) / 8
    assert psi == 21_825_555_456

    def with_pass(kind: str) -> runs.PublishedRun:
        return replace(
            run, scenario={**run.scenario, "training": {**run.scenario["training"], "gradient_accumulation_pass": kind}}
        )

    fairscale = scenario_from_dict(dict(run.scenario))
    assert fairscale.training.gradient_accumulation_pass == "fairscale_flat"
    assert fsdp_flat_gradient_bytes_per_param(fairscale) == pytest.approx(12.0 + 12.0 / 124, rel=1e-12)
    torch_fsdp1 = scenario_from_dict(dict(with_pass("fsdp_flat").scenario))
    assert fsdp_flat_gradient_bytes_per_param(torch_fsdp1) == pytest.approx(8.0 + 10.0 / 124, rel=1e-12)
    plain = runs.predict_run(with_pass("none"))[1]
    priced = runs.predict_run(run)[1]
    assert priced.compute_s - plain.compute_s == pytest.approx(psi * (12.0 + 12.0 / 124) / RATE, rel=1e-9)
    assert priced.extra["forward_s"] == plain.extra["forward_s"]
    assert runs.predict_run(run, "sim")[1].step_time_s == pytest.approx(priced.step_time_s, rel=1e-9)
