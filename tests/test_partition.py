"""Partitioning: coverage, padding/dropping, determinism, shuffling, weighted sizes, errors."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpsim.partition import SCHEMES, aggregation_weights, partition, shard_sizes

sizes_m = st.integers(min_value=0, max_value=300)
sizes_n = st.integers(min_value=1, max_value=17)
seeds = st.one_of(st.none(), st.integers(min_value=0, max_value=2**32 - 1))
equal_schemes = st.sampled_from(["round_robin", "contiguous"])


@st.composite
def weighted_args(draw: st.DrawFn) -> tuple[int, list[float]]:
    n = draw(sizes_n)
    w = draw(st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=n, max_size=n))
    return n, w


# --- coverage: every sample exactly once, modulo the documented drop/pad rule ---------------


@given(m=sizes_m, n=sizes_n, scheme=equal_schemes, seed=seeds, epoch=st.integers(0, 5))
def test_unpadded_equal_schemes_cover_each_sample_once(
    m: int, n: int, scheme: str, seed: int | None, epoch: int
) -> None:
    shards = partition(m, n, scheme, seed=seed, epoch=epoch, pad=False)
    assert len(shards) == n
    assert sorted(i for s in shards for i in s) == list(range(m))
    lengths = [len(s) for s in shards]
    assert max(lengths) - min(lengths) <= 1
    # The first M mod N ranks carry the extra sample.
    assert lengths == [m // n + (r < m % n) for r in range(n)]


@given(m=sizes_m, n=sizes_n, scheme=equal_schemes, seed=seeds, epoch=st.integers(0, 5))
def test_padding_repeats_from_the_start_of_the_order(m: int, n: int, scheme: str, seed: int | None, epoch: int) -> None:
    shards = partition(m, n, scheme, seed=seed, epoch=epoch)
    if m == 0:
        assert shards == [[]] * n
        return
    per_rank = math.ceil(m / n)
    assert all(len(s) == per_rank for s in shards)
    counts = Counter(i for s in shards for i in s)
    assert set(counts) == set(range(m))  # every sample at least once
    total = per_rank * n
    assert set(counts.values()) <= {total // m, -(-total // m)}
    # The repeated samples are the first T − M of this epoch's order.
    order = [i for s in partition(m, 1, seed=seed, epoch=epoch, pad=False) for i in s]
    extra = Counter({i: c - 1 for i, c in counts.items() if c > 1})
    if m >= n:
        assert sorted(extra.elements()) == sorted(order[: total - m])


@given(m=sizes_m, n=sizes_n, scheme=equal_schemes, seed=seeds, epoch=st.integers(0, 5))
def test_drop_last_truncates_to_a_multiple_of_world_size(
    m: int, n: int, scheme: str, seed: int | None, epoch: int
) -> None:
    shards = partition(m, n, scheme, seed=seed, epoch=epoch, drop_last=True)
    assert all(len(s) == m // n for s in shards)
    flat = [i for s in shards for i in s]
    assert len(flat) == len(set(flat)) == (m // n) * n
    order = [i for s in partition(m, 1, seed=seed, epoch=epoch, pad=False) for i in s]
    assert sorted(flat) == sorted(order[: (m // n) * n])  # the tail of the order is what is dropped


@given(m=sizes_m, args=weighted_args(), seed=seeds, drop_last=st.booleans())
def test_weighted_covers_each_sample_once_and_is_proportional(
    m: int, args: tuple[int, list[float]], seed: int | None, drop_last: bool
) -> None:
    n, w = args
    shards = partition(m, n, "weighted", weights=w, seed=seed, drop_last=drop_last)
    assert sorted(i for s in shards for i in s) == list(range(m))
    total_w = math.fsum(w)
    for size, weight in zip((len(s) for s in shards), w, strict=True):
        assert abs(size - m * weight / total_w) < 1 + 1e-9


def test_weighted_largest_remainder_by_hand() -> None:
    # quotas 10·(1, 2, 1.5)/4.5 = 2.22, 4.44, 3.33 → floors 2, 4, 3; the one left goes to 0.44.
    assert shard_sizes(10, 3, "weighted", [1.0, 2.0, 1.5]) == [2, 5, 3]
    # ties go to the lower rank
    assert shard_sizes(5, 3, "weighted", [1.0, 1.0, 1.0]) == [2, 2, 1]
    assert shard_sizes(7, 2, "weighted", [3.0, 1.0]) == [5, 2]  # 5.25, 1.75 → 5, 2 (largest remainder 0.75)


# --- the seed document's schemes by hand -----------------------------------------------------


def test_round_robin_is_the_documents_step_1() -> None:
    assert partition(7, 3, "round_robin", pad=False) == [[0, 3, 6], [1, 4], [2, 5]]
    assert partition(7, 3, "round_robin") == [[0, 3, 6], [1, 4, 0], [2, 5, 1]]  # DistributedSampler's padding
    assert partition(7, 3, "round_robin", drop_last=True) == [[0, 3], [1, 4], [2, 5]]


def test_contiguous_matches_the_worked_example() -> None:
    assert partition(4, 2, "contiguous") == [[0, 1], [2, 3]]
    assert partition(7, 3, "contiguous", pad=False) == [[0, 1, 2], [3, 4], [5, 6]]
    assert partition(7, 3, "contiguous") == [[0, 1, 2], [3, 4, 5], [6, 0, 1]]
    assert partition(2, 4, "contiguous") == [[0], [1], [0], [1]]


# --- determinism and shuffling ---------------------------------------------------------------


@given(
    m=sizes_m,
    n=sizes_n,
    scheme=st.sampled_from(SCHEMES),
    seed=seeds,
    epoch=st.integers(0, 100),
    drop_last=st.booleans(),
    pad=st.booleans(),
)
def test_deterministic_and_sizes_agree(
    m: int, n: int, scheme: str, seed: int | None, epoch: int, drop_last: bool, pad: bool
) -> None:
    weights = [1.0 + r for r in range(n)] if scheme == "weighted" else None
    a = partition(m, n, scheme, weights, seed, epoch, drop_last, pad=pad)
    b = partition(m, n, scheme, weights, seed, epoch, drop_last, pad=pad)
    assert a == b
    assert [len(s) for s in a] == shard_sizes(m, n, scheme, weights, drop_last=drop_last, pad=pad)


@settings(max_examples=50)
@given(m=st.integers(20, 300), n=sizes_n, scheme=st.sampled_from(SCHEMES), seed=st.integers(0, 2**32 - 1))
def test_shuffle_differs_across_epochs(m: int, n: int, scheme: str, seed: int) -> None:
    weights = [1.0] * n if scheme == "weighted" else None
    e0 = partition(m, n, scheme, weights, seed=seed, epoch=0)
    e1 = partition(m, n, scheme, weights, seed=seed, epoch=1)
    # Two permutations of ≥ 20 items coincide with probability ≤ 1/20!; a failure is a bug.
    assert e0 != e1
    assert partition(m, n, scheme, weights, seed=None, epoch=0) == partition(m, n, scheme, weights, seed=None, epoch=3)


def test_shuffle_is_numpy_default_rng_of_seed_and_epoch() -> None:
    import numpy as np

    expected = np.random.default_rng([5, 2]).permutation(10).tolist()
    assert partition(10, 1, seed=5, epoch=2) == [expected]
    assert partition(10, 2, seed=5, epoch=2) == [expected[0::2], expected[1::2]]


# --- aggregation weights ---------------------------------------------------------------------


def test_aggregation_weights() -> None:
    assert aggregation_weights([3, 3]) == [0.5, 0.5]
    assert aggregation_weights([2, 5, 3]) == [0.2, 0.5, 0.3]
    assert aggregation_weights([0, 4]) == [0.0, 1.0]
    for bad in ([], [0, 0], [-1, 2], [1.5, 2]):
        with pytest.raises(ValueError):
            aggregation_weights(bad)  # type: ignore[arg-type]


@given(m=st.integers(1, 300), args=weighted_args())
def test_aggregation_weights_sum_to_one(m: int, args: tuple[int, list[float]]) -> None:
    n, w = args
    assert math.isclose(math.fsum(aggregation_weights(shard_sizes(m, n, "weighted", w))), 1.0)


# --- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 10, "world_size": 0}, "world_size must be >= 1"),
        ({"num_samples": -1, "world_size": 2}, "num_samples must be >= 0"),
        ({"num_samples": 2.0, "world_size": 2}, "num_samples must be an integer"),
        ({"num_samples": 10, "world_size": True}, "world_size must be an integer"),
        ({"num_samples": 10, "world_size": 2, "scheme": "random"}, "unknown partition scheme 'random'"),
        ({"num_samples": 10, "world_size": 2, "weights": [1, 1]}, "only used by the 'weighted' scheme"),
        ({"num_samples": 10, "world_size": 2, "scheme": "weighted"}, "needs weights"),
        ({"num_samples": 10, "world_size": 2, "scheme": "weighted", "weights": [1.0]}, "one entry per rank"),
        ({"num_samples": 10, "world_size": 2, "scheme": "weighted", "weights": [1.0, 0.0]}, r"weights\[1\] = 0.0"),
        ({"num_samples": 10, "world_size": 2, "scheme": "weighted", "weights": [-1.0, 1.0]}, "finite and > 0"),
        ({"num_samples": 10, "world_size": 2, "scheme": "weighted", "weights": [math.nan, 1.0]}, "finite and > 0"),
        ({"num_samples": 10, "world_size": 2, "scheme": "weighted", "weights": [math.inf, 1.0]}, "finite and > 0"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        partition(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        shard_sizes(**kwargs)  # type: ignore[arg-type]


def test_bad_seed_and_epoch() -> None:
    with pytest.raises(ValueError, match="seed must be >= 0"):
        partition(10, 2, seed=-1)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        partition(10, 2, seed=0, epoch=-1)


def test_dpsim_partition_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, dpsim.partition, dpsim.lr; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_the_engines_and_the_cli_do_not_import_torch_or_runtime() -> None:
    """README *Layout*: only ``dpsim calibrate`` / ``validate`` import ``runtime`` (and so torch), inside the command;
    the CLI module and both engines' step run without either."""
    import subprocess
    import sys

    code = (
        "import sys, dpsim, dpsim.cli; s = dpsim.load_scenario('scenarios/default.yaml'); "
        "[dpsim.run(s, engine=e) for e in ('analytic', 'sim')]; "
        "assert not {'torch', 'runtime'} & set(sys.modules), sorted({'torch', 'runtime'} & set(sys.modules))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


# --- the torch Sampler wrapper ---------------------------------------------------------------


def test_sampler_matches_torch_distributed_sampler_without_shuffle() -> None:
    torch_data = pytest.importorskip("torch.utils.data")
    from runtime.sampler import DpsimSampler

    for m, n, drop_last in [(10, 3, False), (10, 3, True), (12, 4, False), (2, 4, False)]:
        for rank in range(n):
            ours = DpsimSampler(m, n, rank, shuffle=False, drop_last=drop_last)
            theirs = torch_data.DistributedSampler(range(m), n, rank, shuffle=False, drop_last=drop_last)
            assert list(ours) == list(theirs)
            assert len(ours) == len(theirs)


def test_sampler_epochs_and_weights() -> None:
    pytest.importorskip("torch")
    from runtime.sampler import DpsimSampler

    samplers = [DpsimSampler(list(range(10)), 3, r, "weighted", [1.0, 2.0, 1.5], seed=3) for r in range(3)]
    for epoch in range(3):
        for s in samplers:
            s.set_epoch(epoch)
        shards = [list(s) for s in samplers]
        assert shards == partition(10, 3, "weighted", [1.0, 2.0, 1.5], seed=3, epoch=epoch)
    assert [len(s) for s in samplers] == [2, 5, 3]
    assert [s.aggregation_weight for s in samplers] == [0.2, 0.5, 0.3]
    with pytest.raises(ValueError, match="rank must be in"):
        DpsimSampler(10, 3, 3)
    with pytest.raises(ValueError, match="unknown partition scheme"):
        DpsimSampler(10, 3, 0, "striped")
