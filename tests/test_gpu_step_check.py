"""The 2026-12-04 single-H200 measurements against dpsim, term by term (benchmarks/gpu_step_check.py, stored data).

Independent truth: the profiler trace's kernel durations and the runtime's step records, never used to set a dpsim
number. The bounds are what the model reaches today for the scenario that says what the runtime ran; a change that
moves a term further from the measurement fails here."""

from __future__ import annotations

import pytest

from benchmarks.gpu_step_check import check

PARAMS = 711_520_256


@pytest.fixture(scope="module")
def result() -> dict:  # type: ignore[type-arg]
    return check()


def test_trace_terms_by_hand(result: dict) -> None:  # type: ignore[type-arg]
    k = result["kernels"]
    # the traced step: 101.2 ms of kernels, of which 42.1 ms GEMMs and 13.6 ms torch.optim.Adam's foreach update
    assert sum(k.values()) == pytest.approx(0.10122, abs=2e-5)
    assert k["gemm"] == pytest.approx(0.04213, abs=2e-5)
    assert k["optimizer"] == pytest.approx(0.01360, abs=2e-5)
    # the foreach Adam moves 76 bytes a parameter (dpsim.analytic.step.FOREACH_OPTIMIZER_BYTES_PER_PARAM): at the
    # measured 13.6 ms that is 3.98 TB/s, the catalog's achievable 0.83 x 4.8 TB/s within 1 %
    assert PARAMS * 76.0 / k["optimizer"] == pytest.approx(0.83 * 4.8e12, rel=0.01)
    # the loss (autocast's fp32 cross-entropy, model.loss_kernel torch_fp32, 36 bytes a logit) at idle rates
    assert result["predicted_kernels_idle"]["loss"] == pytest.approx(k["loss"], rel=0.02)
    # autocast's weight casts: 12 bytes a parameter a micro-batch, within 40 % (the backward cast is a transposing
    # copy that runs below the copy rate)
    assert result["predicted_kernels_idle"]["weight_cast"] == pytest.approx(k["weight_cast"], rel=0.4)
    # DDP at one rank (training.ddp_at_one_rank): its reducer's passes, 16 bytes a parameter of fp32 gradient (into
    # the buckets and back, each a read and a write) at the idle 0.83 x 4.8 TB/s; the trace holds 24, the third pass
    # the runtime's own communication hook scaling the bucket (runtime/hooks.py, buffer.mul_), not DDP's
    idle = result["predicted_kernels_idle"]["ddp_buckets"]
    assert idle == pytest.approx(PARAMS * 16.0 / (0.83 * 4.8e12), rel=1e-9)
    assert k["ddp_buckets"] / idle == pytest.approx(24.0 / 16.0, rel=0.03)


def test_described_runtime_within_bounds(result: dict) -> None:  # type: ignore[type-arg]
    for mb, pred in result["predicted"]["runtime fields, catalog"].items():
        meas = result["measured"][mb]
        # +5.5 / +7.1 % and +6.7 / +7.6 %: the catalog's sustained fraction (0.71, multi-GPU NeMo runs) makes this
        # idle GPU's priced kernels slow, so each unpriced kernel that gets priced (DDP's one-rank passes) moves the
        # step up (+1.0 / +4.7 and +2.9 / +5.4 % before them)
        assert pred["compute_s"] / meas["compute_s"] - 1 == pytest.approx(0.0, abs=0.08)
        assert pred["step_s"] / meas["step_s"] - 1 == pytest.approx(0.0, abs=0.08)
        # -0.3 / -0.2 % with DDP's one-rank bucket copy (2.85 GB of fp32 gradients); -10.8 / -7.6 % without it
        assert pred["memory_bytes"] / meas["memory_bytes"] - 1 == pytest.approx(0.0, abs=0.01)
    # as launched (FA2, eager norms, fused Adam, no autocast): the errors issue 11 reported (+6.7 % at micro-batch 4
    # with the flat FA2 figures; +9.7 % on the FA2 curve measured on the same H200, slower at s 2048)
    launched = result["predicted"]["as launched, catalog"]
    assert launched[4]["step_s"] / result["measured"][4]["step_s"] - 1 == pytest.approx(0.097, abs=0.002)


def test_heldout_configurations(result: dict) -> None:  # type: ignore[type-arg]
    # run after the mechanisms above were found (24 x 1024 at s 1024 mb 16; 6 x 2560 at s 4096 mb 2; AdamW with two
    # micro-batches): the step within 11 % with the runtime's fields, where the launched scenarios missed by up to 20 %
    held = result["heldout"]
    assert set(held) == {"a", "b", "c", "d"}
    for tag in ("a", "b", "c"):
        meas, pred = held[tag]["measured"], held[tag]["predicted"]["runtime fields"]
        # -8.6 / +12.2 / +1.2 % (-10.2 / +8.2 / -2.2 % before DDP's one-rank passes: the sustained fraction above)
        assert pred["step_s"] / meas["step_s"] - 1 == pytest.approx(0.0, abs=0.13)
    for tag in ("a", "b", "c", "d"):  # -0.3 / -0.7 / -0.4 / -2.8 % (-4.9 / -11.6 / -13.7 / -10.6 % before)
        meas, pred = held[tag]["measured"], held[tag]["predicted"]["runtime fields"]
        assert pred["memory_bytes"] / meas["memory_bytes"] - 1 == pytest.approx(0.0, abs=0.03)
    # fp32 (d): PyTorch's GEMMs on the FP32 units, not TF32 (training.fp32_matmul: ieee, the default since): -77.5 %
    # when priced at TF32's peak, +16.8 % as launched with the default
    d = held["d"]
    assert d["predicted"]["TF32 assumed"]["step_s"] / d["measured"]["step_s"] - 1 < -0.7
    assert d["predicted"]["as launched"]["step_s"] / d["measured"]["step_s"] - 1 == pytest.approx(0.0, abs=0.2)
    assert d["predicted"]["runtime fields"]["step_s"] / d["measured"]["step_s"] - 1 == pytest.approx(0.0, abs=0.2)


def test_kernel_rates_are_the_idle_curves_on_one_gpu(result: dict) -> None:  # type: ignore[type-arg]
    # on one GPU alone, in both traces (the held-out one of another shape too), the GEMMs took 0.95-0.97 of the idle
    # curve's time and the foreach optimizer 1.00-1.01: not the 0.71 sustained fraction of multi-GPU training
    for measured, idle in (
        (result["kernels"], result["predicted_kernels_idle"]),
        (result["heldout_kernels"]["measured"], result["heldout_kernels"]["idle"]),
    ):
        assert 0.92 < measured["gemm"] / idle["gemm"] < 1.0
        assert measured["optimizer"] / idle["optimizer"] == pytest.approx(1.0, abs=0.015)
