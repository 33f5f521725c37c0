"""Learning-rate scaling rules and warm-up (Goyal et al. 2017; Krizhevsky 2014; Hoffer et al. 2017)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dpsim.lr import accumulation_steps, effective_global_batch, make_schedule, scaled_lr, warmup_lr


def test_effective_global_batch() -> None:
    assert effective_global_batch(micro_batch=4, accumulation=8, dp=64) == 2048
    assert effective_global_batch(1, 1, 1) == 1
    for bad in ((0, 1, 1), (1, 0, 1), (1, 1, 0), (1.5, 1, 1), (True, 1, 1)):
        with pytest.raises(ValueError, match="positive integer"):
            effective_global_batch(*bad)


@given(micro=st.integers(1, 64), acc=st.integers(1, 64), dp=st.integers(1, 1024))
def test_accumulation_steps_inverts_effective_global_batch(micro: int, acc: int, dp: int) -> None:
    assert accumulation_steps(effective_global_batch(micro, acc, dp), micro, dp) == acc


def test_accumulation_steps_rejects_indivisible() -> None:
    with pytest.raises(ValueError, match="not a multiple"):
        accumulation_steps(100, 3, 4)


def test_goyal_linear_rule() -> None:
    # Goyal et al. 2017: η = 0.1·kn/256 for ResNet-50; kn = 8192 gives η = 3.2.
    assert scaled_lr(0.1, 8192, 256, "linear") == pytest.approx(3.2, rel=1e-15)
    assert scaled_lr(0.1, 128, 256, "linear") == pytest.approx(0.05, rel=1e-15)


def test_sqrt_rule_and_none() -> None:
    assert scaled_lr(0.1, 1024, 256, "sqrt") == pytest.approx(0.2, rel=1e-15)  # √4 = 2
    assert scaled_lr(0.1, 1024, 256, "none") == 0.1
    with pytest.raises(ValueError, match="unknown learning-rate scaling"):
        scaled_lr(0.1, 1024, 256, "cubic")
    with pytest.raises(ValueError, match="base_lr"):
        scaled_lr(-0.1, 1024, 256)
    with pytest.raises(ValueError, match="base_lr"):
        scaled_lr(math.nan, 1024, 256)


def test_gradual_warmup_is_linear_from_base_to_target() -> None:
    # Goyal et al. 2017 §2.2: start at η, add a constant every step, reach kη after the warm-up.
    lrs = [warmup_lr(s, 0.1, 0.5, 4) for s in range(7)]
    assert lrs == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5], rel=1e-15)
    assert warmup_lr(0, 0.1, 0.5, 0) == 0.5  # no warm-up
    with pytest.raises(ValueError, match="step"):
        warmup_lr(-1, 0.1, 0.5, 4)
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_lr(0, 0.1, 0.5, -4)


@given(
    base=st.floats(1e-6, 1.0),
    k=st.integers(1, 64),
    warmup=st.integers(0, 100),
    step=st.integers(0, 200),
)
def test_schedule_properties(base: float, k: int, warmup: int, step: int) -> None:
    sched = make_schedule(base, 256 * k, 256, "linear", warmup)
    assert sched.target_lr == pytest.approx(base * k)
    lr = sched.lr_at(step)
    assert min(base, base * k) * (1 - 1e-12) <= lr <= max(base, base * k) * (1 + 1e-12)
    assert sched.lr_at(step + 1) >= lr * (1 - 1e-12)  # non-decreasing for k ≥ 1
    assert sched.factor_at(step) == pytest.approx(lr / sched.target_lr)
    if step >= warmup:
        assert lr == sched.target_lr


def test_build_optimizer_follows_the_schedule() -> None:
    torch = pytest.importorskip("torch")
    from runtime.optim import build_optimizer

    model = torch.nn.Linear(2, 1)
    opt, sched = build_optimizer(model, "sgd", 0.1, global_batch=1024, reference_batch=256, warmup_steps=3)
    seen = []
    for _ in range(5):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4], rel=1e-12)
    opt, _ = build_optimizer(model, "adam", 0.01, 64, 256, "sqrt", 0, betas=(0.8, 0.9))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.005)
    assert opt.param_groups[0]["betas"] == (0.8, 0.9)
    with pytest.raises(ValueError, match="unknown optimizer"):
        build_optimizer(model, "lion", 0.1, 256, 256)
