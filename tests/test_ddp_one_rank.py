"""``training.ddp_at_one_rank``: PyTorch DDP wrapping a model that has one data-parallel rank.

DDP's reducer builds its buckets whatever the world size, so a one-process DDP run (the runtime's) copies every
gradient into them in the backward and back after the one-rank all-reduce, and keeps their gradient-sized copy
(one H200's trace, ``benchmarks/results/gpu-h200-2026-12-04``: 4.4 ms of reducer kernels a step and 2.85 GB, the
fp32 gradients of 711.5 M parameters). Written out by hand: each pass reads and writes the gradient once.
"""

from __future__ import annotations

from typing import Any

import pytest

from dpsim import api
from dpsim.analytic.memory import memory_breakdown
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, scenario_from_dict

BANDWIDTH = 3.35e12 * 0.83 * 0.71  # h100-sxm: HBM × memory_efficiency × sustained_fraction


def _scenario(**training: Any) -> Scenario:
    data = {
        "model": {"layers": 4, "hidden": 1024, "heads": 16, "seq_len": 2048, "vocab": 32000},
        "cluster": {"device": "h100-sxm"},
        # two micro-batches: the reducer works in the synchronising (last) one only
        "training": {"global_batch": 4, "micro_batch": 2, "precision": "bf16", **training},
    }
    return scenario_from_dict(data)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_one_rank_ddp_copies_by_hand(engine: str) -> None:
    off, on = _scenario(), _scenario(ddp_at_one_rank=True)
    psi = on.model.num_parameters
    one_pass = 2 * 2 * psi / BANDWIDTH  # a bf16 gradient read and written
    a, b = api.run(off, engine=engine), api.run(on, engine=engine)
    # into the buckets in the backward, and back after the (free) one-rank all-reduce: nothing overlaps them
    assert b.step_time_s - a.step_time_s == pytest.approx(2 * one_pass, rel=1e-9)
    assert b.compute_s - a.compute_s == pytest.approx(2 * one_pass, rel=1e-9)
    assert b.exposed_comm_s == a.exposed_comm_s == 0.0
    # gradients as bucket views: the bucket divided in place only, no copy back
    views = api.run(_scenario(ddp_at_one_rank=True, gradient_as_bucket_view=True), engine=engine)
    assert views.step_time_s - a.step_time_s == pytest.approx(one_pass, rel=1e-9)


def test_one_rank_ddp_memory_by_hand() -> None:
    off, on = memory_breakdown(_scenario()), memory_breakdown(_scenario(ddp_at_one_rank=True))
    psi = _scenario().model.num_parameters
    assert on.total - off.total == pytest.approx(2 * psi, rel=1e-12)  # the buckets' bf16 copy of the gradients
    views = memory_breakdown(_scenario(ddp_at_one_rank=True, gradient_as_bucket_view=True))
    assert views.total == pytest.approx(off.total, rel=1e-12)


def test_one_rank_ddp_is_refused_outside_ddp() -> None:
    with pytest.raises(ScenarioError, match=r"training\.ddp_at_one_rank"):
        _scenario(ddp_at_one_rank=True, zero_stage=3, optimizer_sharding="fsdp")
