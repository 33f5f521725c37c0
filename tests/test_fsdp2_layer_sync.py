"""benchmarks/fsdp2_layer_sync.py: FSDP2's stream waits against timelines worked by hand, the per-layer barrier
against the closed form of the expected largest of N normals, and the priced layer of a torchtitan row."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.fsdp2_layer_sync import fsdp2_layers_s, layer_times, per_layer_barrier_s
from benchmarks.published_runs import TORCHTITAN_RUNS
from dpsim.rank_speed import expected_max_standard_normal


def _flat(layers: int, ranks: int, seconds: float) -> np.ndarray:
    return np.full((1, layers, ranks), seconds)


def test_one_rank_without_jitter_is_the_first_gather_the_compute_and_the_last_reduce_scatter() -> None:
    # gathers and reduce-scatters shorter than a layer hide behind it: g + L·(f + b) + rho
    got = fsdp2_layers_s(_flat(4, 1, 1.0), _flat(4, 1, 2.0), 0.1, 0.2)
    assert got == pytest.approx([0.1 + 4 * 3.0 + 0.2], rel=1e-12)


def test_gathers_longer_than_a_layer_are_exposed_by_hand() -> None:
    # L = 3, f = b = 1 s, gather 2 s, reduce-scatter 0 s, one rank. Forward: gathers end at 2, 4 (waits for gather 1,
    # on one stream), 6 (waits for layer 0's copy-out at 2 and gather 2 at 4); layers run 2-3, 4-5, 6-7. Backward:
    # layer 2 was not resharded: 7-8; its prefetch of layer 1 ends at 7 + 2 = 9: 9-10; layer 0's prefetch ends at
    # max(9, 9) + 2 = 11: 11-12.
    got = fsdp2_layers_s(_flat(3, 1, 1.0), _flat(3, 1, 1.0), 2.0, 0.0)
    assert got == pytest.approx([12.0], rel=1e-12)


def test_a_layer_late_on_each_of_two_ranks_costs_once_under_fsdp2_and_twice_at_a_barrier() -> None:
    # two ranks, four layers (f = 1 s, b = 2 s); rank 0 is 0.5 s late in forward layer 0, rank 1 in forward layer 2.
    # The gathers wait for copy-outs one or two layers old, so neither lateness holds the other rank: each rank ends
    # 0.5 s late and the last reduce-scatter waits once. A barrier at every layer waits for both.
    forward = _flat(4, 2, 1.0).copy()
    forward[0, 0, 0] += 0.5
    forward[0, 2, 1] += 0.5
    backward = _flat(4, 2, 2.0)
    assert fsdp2_layers_s(forward, backward, 0.1, 0.1) == pytest.approx([0.1 + 12.0 + 0.5 + 0.1], rel=1e-12)
    assert per_layer_barrier_s(forward, backward) == pytest.approx([12.0 + 1.0], rel=1e-12)


def test_a_lateness_beyond_the_slack_holds_the_other_rank_by_hand() -> None:
    # two ranks, four layers (f = 1 s, b = 2 s, gather and reduce-scatter 0.1 s). Rank 0 is 3 s late in forward layer
    # 0, rank 1 3 s late in its last backward layer (layer 0): each rank's own sum is 0.1 + 12 + 3 = 15.1 s. Forward
    # layer 3's gather waits for rank 0's layer-1 copy-out at 4.1, so rank 1 starts layer 3 at 4.2, not 3.1; from
    # there each of its backward layers waits for a gather issued when rank 0 began the layer before (7.2, 9.2,
    # 11.2), so rank 1 begins layer 0 at 11.2 and ends it at 16.2: the last reduce-scatter ends at 16.3, 1.1 s after
    # the slower rank's own sum, and 1.9 s before a barrier at every layer (12 + 3 + 3 of compute, plus 0.2).
    forward = _flat(4, 2, 1.0).copy()
    forward[0, 0, 0] += 3.0
    backward = _flat(4, 2, 2.0).copy()
    backward[0, 0, 1] += 3.0
    assert fsdp2_layers_s(forward, backward, 0.1, 0.1) == pytest.approx([16.3], rel=1e-12)
    assert per_layer_barrier_s(forward, backward) == pytest.approx([18.0], rel=1e-12)


@pytest.mark.parametrize("ranks", [8, 128])
def test_the_barrier_reading_is_the_closed_form(ranks: int) -> None:
    rng = np.random.default_rng(3)
    cv, layers, draws = 0.04, 8, 4000
    forward = 1.0 + cv * rng.standard_normal((draws, layers, ranks))
    backward = 2.0 * (1.0 + cv * rng.standard_normal((draws, layers, ranks)))
    got = per_layer_barrier_s(forward, backward)
    want = layers * 3.0 * (1.0 + cv * expected_max_standard_normal(ranks))
    assert abs(got.mean() - want) < 4 * got.std() / np.sqrt(draws)


def test_fsdp2_waits_keep_little_of_a_per_layer_jitter() -> None:
    # at a 4 % per-layer CV a barrier at every layer grows the 8-layer step by 4 % x (E[max of 128] - E[max of 8]);
    # FSDP2's waits, with two (forward) and one (backward) layers of slack, keep less than a quarter of it
    rng = np.random.default_rng(5)
    growth = {}
    for name, reading in (("fsdp2", lambda f, b: fsdp2_layers_s(f, b, 0.02, 0.04)), ("barrier", per_layer_barrier_s)):
        means = []
        for ranks in (8, 128):
            forward = 1.0 + 0.04 * rng.standard_normal((2000, 32, ranks))
            backward = 2.0 * (1.0 + 0.04 * rng.standard_normal((2000, 32, ranks)))
            means.append(reading(forward, backward).mean())
        growth[name] = means[1] - means[0]
    closed = 32 * 3.0 * 0.04 * (expected_max_standard_normal(128) - expected_max_standard_normal(8))
    assert growth["barrier"] == pytest.approx(closed, rel=0.05)
    assert growth["fsdp2"] < 0.25 * growth["barrier"]


def test_layer_times_of_a_torchtitan_row_share_the_priced_step() -> None:
    run = next(r for r in TORCHTITAN_RUNS if r.name == "torchtitan 8B FSDP compiled on 8 H100")
    t = layer_times(run)
    assert t.layers == 32
    assert t.forward_s < t.backward_s < 4 * t.forward_s
    assert 0 < t.gather_s < t.forward_s and 0 < t.reduce_scatter_s < t.backward_s
    with pytest.raises(ValueError, match="no tensor or pipeline parallelism"):
        layer_times(next(r for r in TORCHTITAN_RUNS if "TP8" in r.name))
