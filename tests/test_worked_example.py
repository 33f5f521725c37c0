"""The seed document's worked example (§4.3) with two real gloo workers, checked by hand.

x = 1, 2, 3, 4; y = 2x; f = w·x; L = (z − y)²; w = 1; η = 0.1; worker 1 has x = 1, 2 and
worker 2 has x = 3, 4. Closed forms: with the per-worker *mean* loss the aggregated
gradient is 15(w − 2), so e = w − 2 obeys e ← −0.5e; with the document's *sum* loss it is
30(w − 2) and e ← −2e (divergence).
"""

from __future__ import annotations

import pytest
import torch.distributed as dist

from runtime.examples.worked_example import run

pytestmark = [
    pytest.mark.multiprocess,
    pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo"),
]


def test_mean_loss_first_iteration_and_convergence() -> None:
    history = run("mean", max_iters=100, tol=0.0)
    first = history[0]
    assert first.w == 1.0
    assert first.losses == (2.5, 12.5)  # (1 + 4)/2, (9 + 16)/2
    assert first.grads == (-5.0, -25.0)  # 2(1−2)·1 + 2(2−4)·2 = −10, /2; 2(3−6)·3 + 2(4−8)·4 = −50, /2
    assert first.grad == -15.0
    assert first.w_next == 2.5
    for k, it in enumerate(history[:30]):
        assert it.w_next - 2.0 == pytest.approx(-((-0.5) ** (k + 1)), abs=1e-15)  # e_k = −(−½)^k
    assert abs(history[-1].w_next - 2.0) <= 1e-9
    assert len(history) < 100


def test_sum_loss_first_iteration_and_divergence() -> None:
    history = run("sum", max_iters=6, tol=0.0)
    first = history[0]
    assert first.losses == (5.0, 25.0)  # the document says 13 for worker 2: wrong
    assert first.grads == (-10.0, -50.0)  # the document says −14: wrong
    assert first.grad == -30.0  # the document says −12
    assert first.w_next == 4.0  # the document says 2.2
    errors = [it.w_next - 2.0 for it in history]
    assert errors == [2.0 * (-2.0) ** k for k in range(6)]  # e ← −2e: diverges


def test_module_runs_from_the_command_line() -> None:
    import sys
    from pathlib import Path

    from _proc import run

    done = run([sys.executable, "-m", "runtime.examples.worked_example"], cwd=Path(__file__).resolve().parents[1],
               timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        "iter   1  w 1  worker 1: loss 2.5 grad -5, worker 2: loss 12.5 grad -25  all-reduced grad -15  -> w 2.5"
        in (done.stdout)
    )
    assert "converged after" in done.stdout
