"""The analytic engine against hand-computed closed forms (Thakur et al. 2005; ZeRO; DDP overlap).

Every expected value below is written out from the formula by hand, not computed by the
code under test. Tolerances are floating-point rounding only (rel 1e-12).
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpsim.analytic import collectives as cf
from dpsim.analytic.step import (
    _uniform_overlap_end,
    bucket_sizes,
    fabric_of,
    flow_shop_makespan,
    overlap_end,
    predict,
)
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, scenario_from_dict
from dpsim.sim import simulate

EXACT = 1e-12
GiB = 2.0**30


def exact(value: float) -> Any:
    return pytest.approx(value, rel=EXACT, abs=1e-15)


def toy(deepspeed_defaults: bool = False, **changes: Any) -> Scenario:
    """2 ranks on one node, 100 MB/s and 0 latency between them; 3 s of compute per sample.

    Device: 1 TFLOP/s at efficiency 1, so a micro-batch of one 3e12-FLOP sample takes 1 s
    forward + 2 s backward. Model: 62.5 M parameters in fp32 = 250 MB of gradient, cut into
    buckets of 100 MB → 100, 100, 50 MB.
    """
    data: dict[str, Any] = {
        "name": "toy",
        "model": {"kind": "mlp", "parameters": "62.5M", "flops_per_sample": 3e12},
        "cluster": {
            "nodes": 1,
            "workers_per_node": 2,
            "device": {
                "peak_flops": "1 TFLOP/s",
                "memory": "80 GB",
                "memory_bandwidth": "1.75 TB/s",
                "memory_efficiency": 1.0,  # the optimizer at the full 1.75 TB/s: 28 B x 62.5M = 1 ms
                "efficiency": 1.0,
            },
            "intra_node": {"bandwidth": "100 MB/s", "latency": "0 s"},
            "inter_node": {"bandwidth": "100 MB/s", "latency": "0 s"},
        },
        "training": {"global_batch": 2, "micro_batch": 1, "precision": "fp32", "optimizer": "adam"},
        "communication": {"algorithm": "ring", "protocol": "none", "bucket": "100 MB", "overlap": True},
    }
    for path, value in changes.items():
        node = data
        parts = path.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    t = data["training"]
    if t.get("zero_stage", 0) and t.get("optimizer_sharding", "zero") == "zero":
        # DeepSpeed cuts its reductions and ZeRO-3 gathers by its own element counts
        # (dpsim.sharding.collective_pieces): 25M fp32 elements, the toy's 100 MB bucket
        t.setdefault("deepspeed_reduce_bucket_size", 25_000_000)
        if t["zero_stage"] == 3:
            t.setdefault("deepspeed_prefetch_bucket_size", 25_000_000)
    if t.get("zero_stage", 0) and t.get("optimizer_sharding", "zero") == "zero" and not deepspeed_defaults:
        # the toy's DeepSpeed overlaps its reductions and keeps nothing gathered for reuse, the schedule these
        # tests write out; DeepSpeed's own defaults (overlap_comm false at stages 1/2, a 1e9-element reuse
        # distance) are tested on their own (test_deepspeed_*)
        t.setdefault("deepspeed_overlap_comm", True)
        if t["zero_stage"] == 3:
            t.setdefault("deepspeed_max_reuse_distance", 0)
    return scenario_from_dict(data)


OPTIMIZER_S = 28 * 62.5e6 / 1.75e12  # Adam fp32: 28 B per parameter / memory bandwidth = 1 ms
COPY_S = 2 * 250e6 / 1.75e12
"""PyTorch DDP's pass over the toy's 250 MB fp32 gradient, read and written at 1.75 TB/s (2/7 ms): into its
buckets in the synchronising backward (``mul_out``), and back after the all-reduces (``copy_``)."""
LAST_COPY_S = COPY_S / 5
"""The copy back of the last 50 MB bucket, after its all-reduce: the earlier buckets' copies run beside it."""


# --- collectives: each algorithm's formula ---------------------------------------------------


def test_ring_allreduce_1gib_64_ranks_100gbit_10us() -> None:
    link = cf.Link(10e-6, 100e9 / 8)
    expected = 2 * 63 * 10e-6 + 2 * 63 / 64 * 2**30 / 12.5e9
    assert cf.ring_allreduce_time(GiB, 64, link) == exact(expected)
    fabric = cf.Fabric(64, 1, cf.Link(1e-6, 300e9), link)
    assert cf.allreduce_time("ring", GiB, fabric) == exact(expected)


def test_ring_allreduce_through_predict() -> None:
    """The same all-reduce as the exposed communication of a step without overlap."""
    s = scenario_from_dict(
        {
            "model": {"kind": "mlp", "parameters": 2**29, "flops_per_sample": 1e9},
            "cluster": {
                "nodes": 64,
                "workers_per_node": 1,
                "device": "a100-80gb",
                "inter_node": {"bandwidth": "100 Gbit/s", "latency": "10 us"},
            },
            "training": {"global_batch": 64, "precision": "bf16"},
            "communication": {"algorithm": "ring", "protocol": "none", "bucket": "1 GiB", "overlap": False},
        }
    )
    r = predict(s)
    assert r.extra["gradient_bytes"] == GiB
    assert r.extra["buckets"] == 1
    expected = 2 * 63 * 10e-6 + 2 * 63 / 64 * 2**30 / 12.5e9
    assert r.exposed_comm_s == exact(expected)
    assert r.comm_s == exact(expected)


LINK = cf.Link(5e-6, 25e9)
S = 100e6


@pytest.mark.parametrize(
    ("algorithm", "n", "expected"),
    [
        ("ring", 8, 2 * 7 * 5e-6 + 2 * 7 / 8 * S / 25e9),
        ("tree", 8, 2 * 3 * 5e-6 + 2 * S / 25e9),
        ("tree", 12, 2 * 4 * 5e-6 + 2 * S / 25e9),  # ⌈log2 12⌉ = 4
        ("halving-doubling", 16, 2 * 4 * 5e-6 + 2 * 15 / 16 * S / 25e9),
        # 12 ranks: p' = 8 (3 halving steps), 4 extra ranks add a send-in and a send-back of S
        ("halving-doubling", 12, 2 * 3 * 5e-6 + 2 * 7 / 8 * S / 25e9 + 2 * (5e-6 + S / 25e9)),
        ("direct", 8, 2 * 5e-6 + 2 * 7 / 8 * S / 25e9),
        ("parameter-server", 8, 2 * (5e-6 + 8 * S / 25e9)),
    ],
)
def test_flat_algorithms(algorithm: str, n: int, expected: float) -> None:
    fabric = cf.Fabric(n, 1, cf.Link(1e-6, 300e9), LINK)
    assert cf.allreduce_time(algorithm, S, fabric) == exact(expected)


def test_flat_link_is_the_bottleneck_of_intra_and_inter() -> None:
    fabric = cf.Fabric(4, 8, cf.Link(1e-6, 300e9), cf.Link(5e-6, 25e9))
    assert cf.flat_link(fabric) == cf.Link(5e-6, 25e9)
    expected = 2 * 31 * 5e-6 + 2 * 31 / 32 * S / 25e9
    assert cf.allreduce_time("ring", S, fabric) == exact(expected)


@pytest.mark.parametrize(("nics", "per_rank_bw"), [(8, 25e9), (1, 25e9 / 8), (2, 25e9 / 4)])
def test_hierarchical(nics: int, per_rank_bw: float) -> None:
    """8 nodes × 8 ranks: intra reduce-scatter + inter ring all-reduce on S/8 sharing the NICs + intra all-gather."""
    fabric = cf.Fabric(8, 8, cf.Link(1e-6, 300e9), cf.Link(5e-6, 25e9), nics)
    intra = 2 * (7 * 1e-6 + 7 / 8 * S / 300e9)
    inter = 2 * 7 * 5e-6 + 2 * 7 / 8 * (S / 8) / per_rank_bw
    assert cf.allreduce_time("hierarchical", S, fabric) == exact(intra + inter)


def test_single_rank_costs_nothing() -> None:
    fabric = cf.Fabric(1, 1, cf.Link(1e-6, 300e9), LINK)
    for algorithm in ("ring", "tree", "halving-doubling", "hierarchical", "direct", "parameter-server"):
        assert cf.allreduce_time(algorithm, S, fabric) == 0.0


# --- the overlap model ----------------------------------------------------------------------


def test_bucket_sizes_ddp_order() -> None:
    assert bucket_sizes(250e6, 100e6) == [100e6, 100e6, 50e6]
    assert bucket_sizes(200e6, 100e6) == [100e6, 100e6]
    assert bucket_sizes(50e6, 100e6) == [50e6]


def test_three_bucket_overlap_by_hand() -> None:
    """Backward 2 s; buckets 100/100/50 MB ready at 0.8, 1.6, 2.0 s; 2-rank ring at 100 MB/s: 1, 1, 0.5 s.

    Comm stream: bucket 0 runs 0.8–1.8, bucket 1 waits for it: 1.8–2.8, bucket 2: 2.8–3.3.
    Exposed = 3.3 − 2.0 = 1.3 s. With DDP's copies (c = :data:`COPY_S`): the backward lasts T = 2 + c, the
    buckets are ready at 0.4T, 0.8T, T and the stream ends at 0.4T + 2.5 = 3.3 + 0.4c, exposing 1.3 − 0.6c;
    the copies back then add the last bucket's c/5 (the others ran beside its all-reduce).
    """
    assert overlap_end([0.8, 1.6, 2.0], [1.0, 1.0, 0.5]) == exact(3.3)
    r = predict(toy())
    assert r.extra["forward_s"] == exact(1.0)
    assert r.extra["backward_s"] == exact(2.0)
    assert r.extra["buckets"] == 3
    assert r.comm_s == exact(2.5)
    assert r.exposed_comm_s == exact(1.3 - 0.6 * COPY_S)
    assert r.compute_s == exact(3.0 + COPY_S + LAST_COPY_S)
    assert r.extra["ddp_bucket_copy_s"] == exact(2 * COPY_S)
    assert r.optimizer_s == exact(1e-3) == exact(OPTIMIZER_S)
    assert r.step_time_s == exact(3.0 + 1.3 + 0.4 * COPY_S + LAST_COPY_S + 1e-3)


def test_no_overlap_exposes_everything() -> None:
    r = predict(toy(communication__overlap=False))
    assert r.exposed_comm_s == exact(2.5)
    assert r.step_time_s == exact(3.0 + COPY_S + 2.5 + LAST_COPY_S + 1e-3)


def test_small_buckets_pay_latency_each() -> None:
    """With latency α per step, n buckets pay n·2(N−1)·α: more buckets, more communication."""
    big = predict(toy(cluster__intra_node={"bandwidth": "100 MB/s", "latency": "1 ms"}))
    small = predict(
        toy(cluster__intra_node={"bandwidth": "100 MB/s", "latency": "1 ms"}, communication__bucket="10 MB")
    )
    assert big.comm_s == exact(2.5 + 3 * 2 * 1e-3)
    assert small.extra["buckets"] == 25
    assert small.comm_s == exact(2.5 + 25 * 2 * 1e-3)


def test_bucket_larger_than_gradient_cannot_overlap() -> None:
    r = predict(toy(communication__bucket="1 GB"))
    assert r.extra["buckets"] == 1
    assert r.exposed_comm_s == exact(2.5)


@settings(max_examples=200, deadline=None)
@given(
    total=st.floats(1e3, 1e10),
    bucket=st.floats(1e2, 1e9),
    span=st.floats(0.0, 10.0),
    alpha=st.floats(0.0, 1e-2),
    beta=st.floats(1e-12, 1e-6),
    free=st.floats(0.0, 10.0),
)
def test_closed_form_overlap_equals_the_recurrence(
    total: float, bucket: float, span: float, alpha: float, beta: float, free: float
) -> None:
    """The O(1) closed form of the bucket recurrence is the recurrence itself."""
    sizes = bucket_sizes(total, bucket)
    if len(sizes) > 5000:
        return
    cost = lambda size: alpha + beta * size  # noqa: E731
    ready = []
    done = 0.0
    for size in sizes:
        done += size
        ready.append(span * done / total)
    expected = overlap_end(ready, [cost(size) for size in sizes], start_s=free)
    end, comm, count = _uniform_overlap_end(total, bucket, span, cost, free)
    assert count == len(sizes)
    assert end == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert comm == pytest.approx(sum(cost(size) for size in sizes), rel=1e-9, abs=1e-12)


def test_flow_shop() -> None:
    assert flow_shop_makespan(3, 0.5, 1.0) == exact(0.5 + 2 * 1.0 + 1.0)
    assert flow_shop_makespan(3, 2.0, 1.0) == exact(2.0 + 2 * 2.0 + 1.0)
    assert flow_shop_makespan(0, 2.0, 1.0) == 0.0


# --- accumulation, ZeRO, derived quantities -------------------------------------------------


def test_accumulation_communicates_once() -> None:
    """global batch 8 on 2 ranks with micro-batch 1: 4 micro-batches, one gradient all-reduce."""
    r = predict(toy(training__global_batch=8))
    assert r.accumulation_steps == 4
    assert r.compute_s == exact(4 * 3.0 + COPY_S + LAST_COPY_S)  # DDP copies only in the synchronising pass
    assert r.exposed_comm_s == exact(1.3 - 0.6 * COPY_S)
    assert r.comm_s == exact(2.5)
    assert r.step_time_s == exact(12.0 + 1.3 + 0.4 * COPY_S + LAST_COPY_S + 1e-3)


@pytest.mark.parametrize("stage", [1, 2])
def test_zero_1_2_traffic(stage: int) -> None:
    """Reduce-scatter per bucket (2 ranks: ½·S/B = 0.5, 0.5, 0.25 s) + parameter all-gather after the step.

    RS stream: 0.8–1.3, 1.6–2.1, 2.1–2.35 → exposed 0.35 s. All-gather of 250 MB in the same
    buckets: 0.5 + 0.5 + 0.25 = 1.25 s, exposed. Total traffic time 2.5 s = the all-reduce's (2Ψ).
    Optimizer state sharded over 2 ranks: 0.5 ms.
    """
    r = predict(toy(training__zero_stage=stage))
    assert r.comm_s == exact(2.5)
    assert r.exposed_comm_s == exact(0.35 + 1.25)
    assert r.optimizer_s == exact(0.5e-3)
    assert r.step_time_s == exact(3.0 + 1.6 + 0.5e-3)


def test_zero_3_traffic() -> None:
    """Stage 3: parameters gathered in 3 pieces of 250/3 MB (½·S/B = 5/12 s each) before forward and backward.

    Forward: flow shop a + 2·max(a, f) + f with a = 5/12, f = 1/3 → 19/12 s (exposed 7/12).
    Backward: f = 2/3 → 5/12 + 4/3 + 2/3 = 29/12 s (exposed 5/12); the three gathers run back
    to back and end at 3 × 5/12 = 5/4 s. Computing is the bottleneck, so it runs without gaps
    from 5/12 s and the gradient reduce-scatters (0.5, 0.5, 0.25 s) are ready at 5/12 + 2 ×
    (0.4, 0.8, 1.0) = 73/60, 121/60, 29/12 s: 5/4–7/4, 121/60–151/60, 151/60–166/60 → exposed
    166/60 − 29/12 = 7/20 s (the simulator's event timeline gives the same, test_sim_step).
    Traffic: 2 × 3 × 5/12 + 1.25 = 3.75 s = 1.5 × the all-reduce's (3Ψ vs 2Ψ).
    """
    r = predict(toy(training__zero_stage=3))
    assert r.comm_s == exact(3.75)
    assert r.exposed_comm_s == exact(7 / 12 + 5 / 12 + 7 / 20)
    assert r.step_time_s == exact(3.0 + 7 / 12 + 5 / 12 + 7 / 20 + 0.5e-3)


def test_zero_3_accumulation_gathers_and_reduces_every_micro_batch() -> None:
    """Two micro-batches: both gather their parameters in forward and backward and both reduce-scatter
    their gradients (DeepSpeed ZeRO-3 and FSDP FULL_SHARD keep 1/N gradients, so they cannot wait for
    the last micro-batch). The first micro-batch's reduce-scatters spill 7/20 s past its backward (as in
    the one-micro-batch timeline above) and delay the second forward's gathers by as much."""
    r = predict(toy(training__zero_stage=3, training__global_batch=4))
    assert r.comm_s == exact(2 * 2 * 3 * 5 / 12 + 2 * 1.25)
    assert r.exposed_comm_s == exact(2 * (7 / 12 + 5 / 12) + 2 * 7 / 20)


def test_mfu_and_throughput() -> None:
    r = predict(toy())
    step = 3.0 + 1.3 + 0.4 * COPY_S + LAST_COPY_S + 1e-3
    assert r.samples_per_s == exact(2 / step)
    assert r.mfu == exact(3e12 * 2 / step / (2 * 1e12))
    assert r.scaling_efficiency == exact((3.0 + 1e-3) / step)


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
@pytest.mark.parametrize("overlap", [True, False])
def test_one_worker_scales_perfectly(stage: int, overlap: bool) -> None:
    s = toy(
        cluster__workers_per_node=1,
        training__global_batch=3,
        training__zero_stage=stage,
        communication__overlap=overlap,
    )
    r = predict(s)
    assert r.world_size == 1
    assert r.comm_s == 0.0
    assert r.exposed_comm_s == 0.0
    assert r.scaling_efficiency == 1.0
    assert r.step_time_s == exact(3 * 3.0 + OPTIMIZER_S)


def test_straggler_sets_the_pace() -> None:
    r = predict(toy(variability={"stragglers": [{"worker": 1, "slowdown": 1.5}]}))
    # DDP's copies (c) are memory bound: not slowed with the straggler's compute
    assert r.compute_s == exact(4.5 + COPY_S + LAST_COPY_S)
    assert r.barrier_s == exact(1.5)
    # backward 3 s (+ c): buckets ready at 1.2, 2.4, 3.0 → 1.2–2.2, 2.4–3.4, 3.4–3.9 → exposed 0.9 (- 0.2c)
    assert r.exposed_comm_s == exact(0.9 - 0.2 * COPY_S)
    assert r.scaling_efficiency == exact((3.0 + 1e-3) / (4.5 + 0.9 + COPY_S + 1e-3))


def test_fat_tree_oversubscription_applies_beyond_one_leaf() -> None:
    base = {"bandwidth": "200 Gbit/s", "latency": "5 us"}
    inside = toy(
        cluster__nodes=4,
        training__global_batch=8,
        cluster__inter_node=base,
        cluster__topology={"kind": "fat-tree", "oversubscription": 4},
    )
    across = toy(
        cluster__nodes=32,
        cluster__workers_per_node=1,
        training__global_batch=32,
        cluster__inter_node=base,
        cluster__topology={"kind": "fat-tree", "oversubscription": 4, "nodes_per_leaf": 16},
    )
    # the NIC keeps its rate; traffic across the spine sees a quarter of it when every NIC sends
    assert fabric_of(inside).inter.bandwidth == exact(25e9)
    assert fabric_of(across).inter.bandwidth == exact(25e9)
    assert fabric_of(inside).crossing_bandwidth == exact(25e9)
    assert fabric_of(across).crossing_bandwidth == exact(25e9 / 4)
    assert fabric_of(across).inter.latency_s == exact(5e-6)
    # the collectives price the uplinks: a ring crosses each leaf boundary once and is not slowed;
    # direct all-to-all sends most of its bytes across the spine and is
    for algorithm, slower in (("ring", False), ("direct", True)):
        flat = {**fabric_of(across).__dict__, "oversubscription": 1.0}
        t_flat = cf.allreduce_time(algorithm, 1e8, cf.Fabric(**flat))
        t_over = cf.allreduce_time(algorithm, 1e8, fabric_of(across))
        assert (t_over > 1.5 * t_flat) == slower
        assert t_over >= t_flat * (1 - 1e-12)


def test_more_bandwidth_never_slows_a_step() -> None:
    slow = predict(toy(cluster__intra_node={"bandwidth": "50 MB/s", "latency": "0 s"}))
    fast = predict(toy(cluster__intra_node={"bandwidth": "1 GB/s", "latency": "0 s"}))
    assert fast.step_time_s < slow.step_time_s


def test_determinism_and_provenance() -> None:
    a, b = predict(toy()), predict(toy())
    assert a == b
    assert a.engine == "analytic"
    assert a.hardware_source == "catalog"
    assert a.scenario_hash == toy().scenario_hash()


def test_calibration_profile_replaces_catalog_numbers(tmp_path: Any) -> None:
    from dpsim.calibration import HardwareProfile, LinearTime, save_profile

    profile = HardwareProfile(
        name="toy",
        links={"intra": {"ring": cf.Link(0.0, 50e6)}},
        forward=LinearTime(0.5, 0.0),
        backward=LinearTime(1.0, 0.0),
        optimizer=LinearTime(0.0, 1e-9),
    )
    path = tmp_path / "profile.yaml"
    save_profile(profile, path)
    r = predict(toy(calibration={"profile": str(path)}))
    assert r.hardware_source == str(path)
    # the measured backward ran through DDP (its pass into the buckets); the copies back come after it
    assert r.compute_s == exact(1.5 + LAST_COPY_S)
    # 250 MB over 50 MB/s: buckets 2, 2, 1 s ready at 0.4, 0.8, 1.0 → 0.4–2.4, 2.4–4.4, 4.4–5.4
    assert r.comm_s == exact(5.0)
    assert r.exposed_comm_s == exact(5.4 - 1.0)
    assert r.optimizer_s == exact(62.5e6 * 1e-9)
    assert r.mfu < 1 and "mfu_past_peak" not in r.extra


def test_an_mfu_past_1_from_a_profile_says_why(tmp_path: Any) -> None:
    """Round 28: a profile timed on a machine faster than the catalog device's peak gives an MFU past 1 (kept: the
    step is measured); it was silent, it says why in its own entry now."""
    from dpsim.calibration import HardwareProfile, LinearTime, save_profile

    profile = HardwareProfile(name="fast", links={"intra": {"ring": cf.Link(0.0, 50e9)}},
                              forward=LinearTime(0.01, 0.0), backward=LinearTime(0.02, 0.0),
                              optimizer=LinearTime(0.0, 1e-12))  # fmt: skip
    path = tmp_path / "profile.yaml"
    save_profile(profile, path)
    for engine in ("analytic", "sim"):
        scenario = toy(calibration={"profile": str(path)})
        r = predict(scenario) if engine == "analytic" else simulate(scenario)
        assert r.mfu > 1 and r.extra["mfu_past_peak"].startswith(
            f"MFU {r.mfu:.4g} > 1: the step is timed by the profile"
        )
    assert "mfu_past_peak" not in predict(toy()).extra


def _host_profile(tmp_path: Any, rate: float | None, cores: float) -> Any:
    """A host profile for the toy (written to ``tmp_path``): forward 0.5 s and backward 1 s a sample, timed through
    one-rank DDP with bucket views; 50 MB/s between the 2 ranks; the element-wise rate ``rate`` (``a.add_(b)``'s
    operand bytes a second); ``cores`` cores for both ranks."""
    from dpsim.calibration import HardwareProfile, HostModel, LinearTime, save_profile

    profile = HardwareProfile(
        name="toy",
        links={"intra": {"ring": cf.Link(0.0, 50e6)}},
        reduction_bandwidth=rate,
        forward=LinearTime(0.5, 0.0),
        backward=LinearTime(1.0, 0.0),
        optimizer=LinearTime(0.0, 1e-9),
        host_model=HostModel(cores),
    )
    path = tmp_path / "profile.yaml"
    save_profile(profile, path)
    return path


@pytest.mark.parametrize("engine", ["analytic", "chunk"])
@pytest.mark.parametrize(("cores", "rate"), [(2.0, 1e9), (1.0, 1e9), (2.0, None)])
def test_no_sync_micro_batches_skip_the_reducer_pass_the_profile_holds(
    tmp_path: Any, engine: str, cores: float, rate: float | None
) -> None:
    """The profile's backward (1 s, forward 0.5 s) was timed through one-rank DDP, so it holds the reducer's
    in-place ``bucket_view.div_`` over the toy's 250 MB fp32 gradient; under ``no_sync``
    ``Reducer::autograd_hook`` returns at once. At the profile's element-wise rate (``a.add_(b)``: 1 GB of
    operand a second, three streams) reading and writing 250 MB takes 2 × 250 MB / 3 GB/s = 1/6 s. Accumulation 4
    (global batch 8 over 2 ranks of 1): three micro-batches skip it, the synchronising one does not. On 2 cores
    the 2 ranks run alone: compute 4 × 1.5 − 3/6 = 5.5 s plus the last bucket's copy back. On 1 core each pass
    takes twice as long (time-sliced, slowdown max(1, 2/1)): 4 × 3 − 3 × 2/6 = 11 s. A profile without the
    rate (made before it was measured) prices every micro-batch as the calibrated one, as before: 6 s. The step
    moves by as much, both engines alike; one micro-batch (no accumulation) is unchanged. The gradients are bucket
    views, as the calibration timed them: the synchronising backward holds the calibrated pass and nothing more
    (the copies without views: test_ddp_copies_on_a_host_are_priced_at_its_element_wise_rate)."""
    path = _host_profile(tmp_path, rate, cores)

    def run(k: int) -> Any:
        scenario = toy(calibration={"profile": str(path)}, training__global_batch=2 * k,
                       training__gradient_as_bucket_view=True)  # fmt: skip
        assert scenario.accumulation_steps == k
        return predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)

    slow = max(1.0, 2 / cores)
    skipped = 3 * (2 * 250e6 / (3 * 1e9)) * slow if rate else 0.0
    four, one = run(4), run(1)
    assert four.compute_s == exact(4 * 1.5 * slow - skipped)
    assert one.compute_s == exact(1.5 * slow)
    # the last micro-batch's buckets are reduced as before, only earlier: the step shorter by the passes skipped
    assert four.step_time_s - one.step_time_s == exact(3 * 1.5 * slow - skipped)


@pytest.mark.parametrize("engine", ["analytic", "chunk"])
def test_the_skipped_reducer_pass_is_at_most_the_backward_that_holds_it(tmp_path: Any, engine: str) -> None:
    """The skipped pass is part of the calibrated backward, so it can take away at most that backward. A profile
    whose element-wise rate (10 MB/s) prices the toy's 250 MB pass at 2 x 250 MB / 30 MB/s = 16.7 s, longer than its
    1 s backward, made each early micro-batch's backward -15.7 s: compute -44 s and a negative step. Capped, the three
    early micro-batches keep their forward (0.5 s) and skip their whole backward: 4 x 0.5 + 1 = 3 s of compute (the
    gradients are bucket views, as calibrated: no copies; failed on the old code: -44.0 s)."""
    path = _host_profile(tmp_path, 1e7, 2.0)
    scenario = toy(calibration={"profile": str(path)}, training__global_batch=8, training__gradient_as_bucket_view=True)
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    assert result.compute_s == exact(4 * 0.5 + 1.0)
    assert result.step_time_s > result.compute_s


@pytest.mark.parametrize("engine", ["analytic", "chunk"])
def test_ddp_copies_on_a_host_are_priced_at_its_element_wise_rate(tmp_path: Any, engine: str) -> None:
    """The profile's backward (1 s, forward 0.5 s) was timed through one-rank DDP with the gradients as bucket views:
    it holds ``bucket_view.div_`` (read and write the 250 MB gradient). Without views (torch's default) the reducer
    instead writes each gradient into its bucket (``at::mul_out``: read it, write the bucket after reading it in,
    one 250 MB stream more) and copies every bucket back after its all-reduce (``grad.copy_``: three streams).
    At the profile's element-wise rate (1 GB of operand a second over three streams) and on 1 core for the 2 ranks
    (time-sliced twice): the copy in 250 MB / 3 GB/s x 2 = 1/6 s, the copies back 3 x 250 MB / 3 GB/s x 2 = 0.5 s,
    the last (50 MB) bucket's 0.1 s; before, both were priced at the toy device's 1.75 TB/s (0.29 ms in all).
    Backward T = 2 + 1/6 s (views: 2); the 100, 100, 50 MB buckets reduce in 2, 2, 1 s from 0.4 T, one after the
    other: they end at 0.4 T + 5 s, the last copy back 0.1 s later (the others run beside later all-reduces). So
    compute grows by 1/6 + 0.1 s and the step by 0.4/6 + 0.1 s over the views; both engines alike."""
    path = _host_profile(tmp_path, 1e9, 1.0)

    def run(view: bool) -> Any:
        scenario = toy(calibration={"profile": str(path)}, training__gradient_as_bucket_view=view)
        return predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)

    copies, views = run(False), run(True)
    assert views.compute_s == exact(3.0)
    assert copies.compute_s == exact(3.0 + 1 / 6 + 0.1)
    assert copies.step_time_s - views.step_time_s == exact(0.4 / 6 + 0.1)
    assert predict(toy(calibration={"profile": str(path)})).extra["ddp_bucket_copy_s"] == exact(1 / 6 + 0.5)


def test_default_scenario_is_consistent() -> None:
    from dpsim.scenario import load_scenario

    r = predict(load_scenario())
    parts = r.compute_s + r.exposed_comm_s + r.bubble_s + r.optimizer_s
    assert r.step_time_s == exact(parts)
    assert 0 < r.scaling_efficiency <= 1
    assert 0 < r.mfu < 1
    assert math.isfinite(r.memory_per_device_bytes)


@pytest.mark.parametrize(
    ("op", "n", "factor"),
    [
        ("allreduce", 8, 1.75),
        ("allreduce", 1, 0.0),
        ("reduce_scatter", 4, 0.75),
        ("all_gather", 16, 15 / 16),
        ("broadcast", 8, 1.0),
    ],
)
def test_busbw_factor_is_nccl_tests(op: str, n: int, factor: float) -> None:
    """nccl-tests doc/PERFORMANCE.md: allreduce 2(n−1)/n, reduce-scatter/all-gather (n−1)/n, broadcast 1."""
    assert cf.busbw_factor(op, n) == exact(factor)


def test_busbw_factor_rejects_unknown_ops() -> None:
    with pytest.raises(ValueError):
        cf.busbw_factor("hypercube", 8)


@pytest.mark.parametrize("bandwidth", ["100 MB/s", "20 MB/s"])  # backward compute-bound, then gather-bound
@pytest.mark.parametrize("batch", [2, 4])
def test_zero_3_matches_the_simulated_timeline(bandwidth: str, batch: int) -> None:
    """The ZeRO-3 overlap model equals the simulator's event timeline whichever stage is the bottleneck."""
    from dpsim.sim import simulate

    link = {"bandwidth": bandwidth, "latency": "0 s"}
    s = toy(training__zero_stage=3, training__global_batch=batch, cluster__intra_node=link)
    assert predict(s).step_time_s == pytest.approx(simulate(s, fidelity="fast").step_time_s, rel=1e-9)


def test_zero_2_reduces_every_micro_batch_zero_1_once() -> None:
    """Two micro-batches of the toy (1 s forward, 2 s backward; gradient 250 MB in buckets of 100, 100
    and 50 MB reduce-scattered over 2 ranks at 100 MB/s: 0.5, 0.5, 0.25 s).

    ZeRO-2 (DeepSpeed) keeps 1/N gradients, so each micro-batch reduce-scatters its own: buckets ready at
    0.4, 0.8, 1.0 of the backward (0.8, 1.6, 2.0 s) run 0.8-1.3, 1.6-2.1, 2.1-2.35 s, spilling 0.35 s,
    which the next forward hides; the last micro-batch exposes its 0.35 s. Traffic 2 x 1.25 s plus the
    1.25 s post-step parameter gather. ZeRO-1 accumulates full gradients and reduce-scatters once:
    1.25 + 1.25 s, same exposure. Memory: 125 MB of fp32 gradient shard vs the full 250 MB."""
    two = {"training__global_batch": 4}
    z2, z1 = predict(toy(training__zero_stage=2, **two)), predict(toy(training__zero_stage=1, **two))
    assert z2.comm_s == exact(2 * 1.25 + 1.25)
    assert z1.comm_s == exact(1.25 + 1.25)
    assert z2.exposed_comm_s == exact(0.35 + 1.25) == z1.exposed_comm_s
    assert z2.extra["memory_gradients_bytes"] == exact(125e6)
    assert z1.extra["memory_gradients_bytes"] == exact(250e6)
    # FSDP SHARD_GRAD_OP shards gradients too: the same per-micro-batch reduce-scatters, but instead of
    # the post-step gather each forward gathers (test_fsdp_shard_grad_op_gathers_in_every_forward)
    fsdp = predict(toy(training__zero_stage=2, training__optimizer_sharding="fsdp", **two))
    assert fsdp.comm_s == exact(2 * 1.25 + 2 * 1.25)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_fsdp_no_sync_reduces_once_and_keeps_full_gradients(engine: str) -> None:
    """FSDP's no_sync under accumulation (two micro-batches of the toy, fp32).

    SHARD_GRAD_OP: the first micro-batch keeps its gradient unsharded and only the last one reduce-scatters
    (1.25 s); the parameters gathered by the first forward (1.25 s, 1/2 s of it exposed: see
    test_fsdp_shard_grad_op_gathers_in_every_forward) stay unsharded until that last backward, so the
    second forward gathers nothing: 1.25 + 1.25 s instead of 2 x 1.25 + 2 x 1.25 s, exposing 1/2 s and
    the last micro-batch's 5/16 s. Memory: the 125 MB fp32 gradient shard plus the full unsharded fp32
    gradient, 250 MB (62.5M x 4 B). FULL_SHARD still gathers the 4 units in every forward and backward
    (2 x 2 x 4 x 5/16 s), but reduce-scatters once: 5 + 1.25 s. Each backward is a flow shop of 4 gathers
    (5/16 s) and 4 pieces of 1/2 s: 5/16 + 2 s, 5/16 exposed. In the last one the stream is free after the
    gathers at 1.25 s, the units' gradients are ready as their pieces end (13/16, 21/16, 29/16, 37/16 s):
    reduce-scatters 1.25-1.5625, 1.5625-1.875, 1.875-2.1875, 2.3125-2.625, a 5/16 s spill, only the last
    backward's (vs one in each micro-batch when every micro-batch reduces).
    """
    run = predict if engine == "analytic" else (lambda s: simulate(s, fidelity="fast"))
    fsdp = {"training__global_batch": 4, "training__optimizer_sharding": "fsdp"}
    shard_grad_op = run(toy(training__zero_stage=2, training__fsdp_no_sync=True, **fsdp))
    assert shard_grad_op.comm_s == exact(1.25 + 1.25)
    assert shard_grad_op.exposed_comm_s == exact(1 / 2 + 5 / 16)
    memory = predict(toy(training__zero_stage=2, training__fsdp_no_sync=True, **fsdp)).extra
    assert memory["memory_gradients_bytes"] == exact(125e6 + 250e6)
    assert predict(toy(training__zero_stage=2, **fsdp)).extra["memory_gradients_bytes"] == exact(125e6)
    full_shard = run(toy(training__zero_stage=3, training__fsdp_no_sync=True, **fsdp))
    assert full_shard.comm_s == exact(2 * 2 * 4 * 5 / 16 + 1.25)
    assert full_shard.exposed_comm_s == exact(2 * (1 / 2 + 5 / 16) + 5 / 16)
    # one micro-batch: nothing to accumulate, no_sync changes nothing
    one = {"training__optimizer_sharding": "fsdp", "training__zero_stage": 3}
    assert predict(toy(training__fsdp_no_sync=True, **one)).step_time_s == predict(toy(**one)).step_time_s


@pytest.mark.parametrize("engine", ["analytic", "sim"])
@pytest.mark.parametrize("k", [1, 2])
def test_fsdp_shard_grad_op_gathers_in_every_forward(engine: str, k: int) -> None:
    """FSDP SHARD_GRAD_OP (reshard_after_forward=False) on the toy, fp32, 2 ranks: FSDP wraps each of the
    MLP's 4 linear layers (the runtime's model: dpsim.sharding.fsdp_units), so each forward all-gathers the
    250 MB of parameters in 4 units of 62.5 MB (5/16 s each at 100 MB/s over 2 ranks), a unit ahead of its
    1/4 s of compute: flow shop 4 x 5/16 + 1/4 = 3/2 s for a 1 s forward, 1/2 s exposed. The parameters
    stay gathered through the backward (no gather there, none after the step), whose reduce-scatters (one a
    unit, 5/16 s each, ready at 0.5, 1, 1.5, 2 s) spill 5/16 s; that spill delays the next forward's
    gathers on the same stream, so each micro-batch exposes 1/2 + 5/16 s. Traffic: k x (1.25 + 1.25) s.
    """
    run = predict if engine == "analytic" else (lambda s: simulate(s, fidelity="fast"))
    result = run(toy(training__zero_stage=2, training__optimizer_sharding="fsdp", training__global_batch=2 * k))
    assert result.comm_s == exact(k * (1.25 + 1.25))
    assert result.exposed_comm_s == exact(k * (1 / 2 + 5 / 16))
    # kept gathered through the step (fsdp_reshard_after_backward: false): only the first forward gathers;
    # a spill then runs under the next (gather-free) 1 s forward, so only the last one is exposed
    kept = run(
        toy(
            training__zero_stage=2,
            training__optimizer_sharding="fsdp",
            training__fsdp_reshard_after_backward=False,
            training__global_batch=2 * k,
        )
    )
    assert kept.comm_s == exact(1.25 + k * 1.25)
    assert kept.exposed_comm_s == exact(1 / 2 + 5 / 16)


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize(("flavour", "passes"), [("deepspeed", 2), ("fsdp", 2), ("shard_grad_op", 1)])
def test_sharded_gathers_without_overlap_are_in_series(engine: str, k: int, flavour: str, passes: int) -> None:
    """``communication.overlap: false`` on the toy (fp32, 2 ranks): no prefetch, so each of the 3 pieces
    of 250/3 MB is all-gathered (5/12 s at 100 MB/s over 2 ranks) only when the previous piece's compute is
    done, and its compute waits for it (DeepSpeed ZeRO-3 without prefetch fetches a sub-module's parameters
    in its pre-forward/pre-backward hook and waits; FSDP with neither ``forward_prefetch`` nor
    ``backward_prefetch``): every gathering pass costs its compute + 3 x 5/12 = 1.25 s. The 250 MB
    reduce-scatter (1.25 s) blocks after each backward. ZeRO-3 / FULL_SHARD gather in the 1 s forward and
    the 2 s backward: 2.25 + 3.25 + 1.25 = 6.75 s per micro-batch; SHARD_GRAD_OP only in the forward:
    2.25 + 2 + 1.25 = 5.5 s. Plus the sharded optimizer (1/2 of 1 ms). (The simulator used to issue all of
    a pass's gathers at its start, prefetching them even without overlap: 5.25 s for ZeRO-3.)
    """
    changes: dict[str, Any] = {
        "deepspeed": {"training__zero_stage": 3},
        "fsdp": FULL_SHARD,
        "shard_grad_op": SHARD_GRAD_OP,
    }[flavour]
    scenario = toy(communication__overlap=False, training__global_batch=2 * k, **changes)
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    per_micro_batch = 1 + 2 + passes * 1.25 + 1.25
    assert result.step_time_s == exact(k * per_micro_batch + OPTIMIZER_S / 2)
    assert result.exposed_comm_s == exact(k * (passes * 1.25 + 1.25))
    assert result.comm_s == exact(k * (passes * 1.25 + 1.25))


P_TOY = 250e6
"""The toy's parameters (62.5M in fp32) as gathered, and its fp32 gradient, in bytes."""
FULL_SHARD: dict[str, Any] = {"training__zero_stage": 3, "training__optimizer_sharding": "fsdp"}
SHARD_GRAD_OP: dict[str, Any] = {"training__zero_stage": 2, "training__optimizer_sharding": "fsdp"}
HYBRID: dict[str, Any] = {
    "cluster__nodes": 2,
    "training__zero_stage": 3,
    "training__optimizer_sharding": "fsdp",
    "training__fsdp_shard_group": 2,
}
"""The toy on 2 nodes x 2 ranks under FSDP HYBRID_SHARD with one shard group per node."""


@pytest.mark.parametrize(
    ("changes", "k", "gathers", "reductions", "replica"),
    [
        # DDP: one all-reduce per step
        ({}, 1, 0, 1, 0),
        ({}, 4, 0, 1, 0),
        # DeepSpeed ZeRO-1: one reduce-scatter, one post-step gather; ZeRO-2 reduce-scatters every micro-batch
        ({"training__zero_stage": 1}, 4, 1, 1, 0),
        ({"training__zero_stage": 2}, 1, 1, 1, 0),
        ({"training__zero_stage": 2}, 4, 1, 4, 0),
        # DeepSpeed ZeRO-3: a gather in every forward and every backward
        ({"training__zero_stage": 3}, 4, 8, 4, 0),
        # Megatron's distributed optimizer accumulates full gradients: as ZeRO-1
        ({"training__zero_stage": 1, "training__optimizer_sharding": "megatron"}, 4, 1, 1, 0),
        # FSDP FULL_SHARD: 2 gathers and a reduce-scatter per micro-batch; no_sync keeps the gathers
        (FULL_SHARD, 1, 2, 1, 0),
        (FULL_SHARD, 4, 8, 4, 0),
        ({**FULL_SHARD, "training__fsdp_no_sync": True}, 4, 8, 1, 0),
        # FSDP SHARD_GRAD_OP: 1 gather and a reduce-scatter per micro-batch; no_sync: the first gather serves all
        (SHARD_GRAD_OP, 1, 1, 1, 0),
        (SHARD_GRAD_OP, 4, 4, 4, 0),
        ({**SHARD_GRAD_OP, "training__fsdp_no_sync": True}, 4, 1, 1, 0),
        # ... and FSDP2's set_reshard_after_backward(False): one gather, still a reduce-scatter per micro-batch
        ({**SHARD_GRAD_OP, "training__fsdp_reshard_after_backward": False}, 4, 1, 4, 0),
        # HYBRID_SHARD (4 ranks on 2 nodes, shard groups of 2): FULL_SHARD inside, each 1/2 shard all-reduced
        (HYBRID, 1, 2, 1, 1 / 2),
        (HYBRID, 4, 8, 4, 4 / 2),
        ({**HYBRID, "training__fsdp_no_sync": True}, 4, 8, 1, 1 / 2),
    ],
)  # fmt: skip
def test_traffic_bytes_per_step_by_flavour(
    changes: dict[str, Any], k: int, gathers: int, reductions: int, replica: float
) -> None:
    """Bytes each kind of collective carries per step (a collective of S bytes counts S), written out
    from each framework's rule (dpsim.sharding): P = G = 250 MB on the toy."""
    ranks = 2 * changes.get("cluster__nodes", 1)
    traffic = predict(toy(training__global_batch=ranks * k, **changes)).extra["traffic_bytes_per_step"]
    assert traffic == {
        "parameter_gather": exact(gathers * P_TOY),
        "gradient": exact(reductions * P_TOY),
        "replica_allreduce": exact(replica * P_TOY),
    }


@pytest.mark.parametrize(
    ("changes", "weights", "gradients", "states"),
    [
        # 2 ranks, Ψ = 62.5M, fp32 Adam (no separate master; 8 B of moments). DeepSpeed ZeRO-1/2/3:
        ({"training__zero_stage": 1}, 4, 4, 8 / 2),
        ({"training__zero_stage": 2}, 4, 4 / 2, 8 / 2),
        ({"training__zero_stage": 3}, 4 / 2, 4 / 2, 8 / 2),
        # FSDP FULL_SHARD: everything sharded; SHARD_GRAD_OP also holds the full parameters forward to backward
        (FULL_SHARD, 4 / 2, 4 / 2, 8 / 2),
        (SHARD_GRAD_OP, 4 / 2 + 4, 4 / 2, 8 / 2),
        ({**SHARD_GRAD_OP, "training__fsdp_reshard_after_backward": False}, 4 / 2 + 4, 4 / 2, 8 / 2),
        # HYBRID_SHARD over groups of 2 of 4 ranks: sharded by 2, not 4
        (HYBRID, 4 / 2, 4 / 2, 8 / 2),
        ({"cluster__nodes": 2, "training__zero_stage": 3, "training__optimizer_sharding": "fsdp"}, 4 / 4, 4 / 4, 8 / 4),
    ],
)  # fmt: skip
@pytest.mark.parametrize("k", [1, 4])
def test_model_state_memory_by_flavour_at_k_1_and_4(
    changes: dict[str, Any], weights: float, gradients: float, states: float, k: int
) -> None:
    """Bytes per parameter by hand; accumulation changes none of them except FSDP's no_sync (below):
    the frameworks that reduce every micro-batch keep only their gradient shard."""
    ranks = 2 * changes.get("cluster__nodes", 1)
    extra = predict(toy(training__global_batch=ranks * k, **changes)).extra
    psi = 62.5e6
    assert extra["memory_weights_bytes"] == exact(weights * psi)
    assert extra["memory_gradients_bytes"] == exact(gradients * psi)
    assert extra["memory_optimizer_states_bytes"] == exact(states * psi)
    if changes.get("training__optimizer_sharding") == "fsdp":
        # no_sync: the full unsharded fp32 gradient (4 B) on top from the first micro-batch on (k > 1 only)
        synced = predict(toy(training__global_batch=ranks * k, training__fsdp_no_sync=True, **changes)).extra
        assert synced["memory_gradients_bytes"] == exact((gradients + (4 if k > 1 else 0)) * psi)
        assert synced["memory_weights_bytes"] == exact(weights * psi)


@pytest.mark.parametrize(
    ("communication", "gradient_dtype", "unsharded"),
    [("fp32", "auto", 4), ("bf16", "auto", 2), ("fp32", "bf16", 2), ("fp32", "fp32", 4)],
)
def test_fsdp_no_sync_accumulates_in_the_reduce_dtype(communication: str, gradient_dtype: str, unsharded: int) -> None:
    """bf16 training, FSDP SHARD_GRAD_OP on 2 ranks, 4 micro-batches under no_sync: the sharded fp32 gradient
    (4 B / 2) and the unsharded gradient accumulated across the micro-batches, which FSDP2 keeps in the reduce dtype
    (``FSDPParam.to_accumulated_grad_if_needed``: 4 B under an fp32 reduction, 2 under a bf16 one; the test below runs
    it); ``gradient_dtype: bf16`` says FSDP1's no_sync (the compute dtype). Without no_sync nothing unsharded."""
    fsdp = {"training__zero_stage": 2, "training__optimizer_sharding": "fsdp", "training__precision": "bf16"}
    changes = {**fsdp, "communication__dtype": communication, "training__gradient_dtype": gradient_dtype}
    psi = 62.5e6
    kept = predict(toy(training__global_batch=8, training__fsdp_no_sync=True, **changes)).extra
    assert kept["memory_gradients_bytes"] == exact((4 / 2 + unsharded) * psi)
    synced = predict(toy(training__global_batch=8, **changes)).extra
    assert synced["memory_gradients_bytes"] == exact(4 / 2 * psi)


def test_fsdp2_no_sync_accumulates_the_unsharded_gradient_in_fp32() -> None:
    """torch's FSDP2 (``fully_shard``, ``MixedPrecisionPolicy(param_dtype=bfloat16, reduce_dtype=float32)`` as
    torchtitan sets it) on a fake 4-rank group, two micro-batches with ``set_requires_gradient_sync(False)`` (what
    ``torch.distributed.pipelining`` sets for all but the last): each parameter's accumulated gradient is unsharded
    and fp32, and its bf16 ``.grad`` is gone: 4 bytes a parameter, what the memory model now counts."""
    torch = pytest.importorskip("torch")
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from torch.testing._internal.distributed.fake_pg import FakeStore

    from runtime.torchrun import destroy_group

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=4)
    try:
        mesh = init_device_mesh("cpu", (4,))
        model = torch.nn.Sequential(torch.nn.Linear(64, 64, bias=False), torch.nn.Linear(64, 64, bias=False))
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        for layer in model:
            fully_shard(layer, mesh=mesh, mp_policy=policy)
        fully_shard(model, mesh=mesh, mp_policy=policy)
        model.set_requires_gradient_sync(False)
        model.set_reshard_after_backward(False)
        for _ in range(2):
            model(torch.randn(8, 64)).sum().backward()
        params = [p for layer in model for p in layer._get_fsdp_state()._fsdp_param_group.fsdp_params]
    finally:
        destroy_group()
    assert len(params) == 2
    for param in params:
        assert param.unsharded_accumulated_grad is not None
        assert param.unsharded_accumulated_grad.dtype == torch.float32
        assert tuple(param.unsharded_accumulated_grad.shape) == (64, 64)  # unsharded
        assert param._unsharded_param.grad is None


TRANSFORMER_TOY: dict[str, Any] = {
    "model__kind": "transformer",
    "model__layers": 3,
    "model__hidden": 1000,
    "model__heads": 10,
    "model__seq_len": 10,
    "model__vocab": 2500,
    "model__tied_embeddings": False,
    "model__learned_positions": False,
}
"""The toy's 62.5M fp32 parameters (250 MB) as a 3-layer transformer whose untied embedding and output head
(2 x 2500 x 1000 = 5M parameters, 20 MB) sit outside the layers: what FSDP's per-layer wrapping leaves
to the root unit."""


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
@pytest.mark.parametrize("overlap", [False, True])
def test_fsdp_root_unit_is_not_gathered_again_in_the_backward(engine: str, overlap: bool) -> None:
    """FSDP does not reshard its root unit after forward, so the backward gathers only the layers.

    torch FSDP1 ``torch/distributed/fsdp/_runtime_utils.py`` (pytorch 3ade90a6),
    ``_post_forward_reshard``: ``free_unsharded_flat_param = not state._is_root and ...`` ("Do not free
    the root's parameters in the post-forward for FULL_SHARD with the intention that they are
    immediately used for backward computation"); FSDP2 ``_fully_shard/_fsdp_state.py`` (1fd469d0),
    ``FSDPState._lazy_init``: the root's ``post_forward_mesh_info = None``. With the layers wrapped
    (``transformer_auto_wrap_policy``) the root holds the embedding and the output head, 20 of the toy's
    250 MB. FULL_SHARD on the toy (2 ranks, 100 MB/s, fp32), a gather and a reduce-scatter a unit of
    230/3 MB (the root's 20 MB the remainder): the forward's 250 MB is 4 layer-sized pieces (3 layers and
    the root: 62.5 MB each, 5/16 s), the backward gathers the 3 layers (23/60 s each), the reduce-scatters
    are 3 x 230/3 MB (23/60 s each) then the root's 20 MB (0.1 s): 1.25 s. Without overlap:
    1 + 4 x 5/16 + 2 + 3 x 23/60 + 1.25 = 6.65 s (6.75 s when the root was gathered again). With prefetch:
    forward flow shop 4 x 5/16 + 1/4 = 3/2 s (1/2 exposed), backward 23/60 + 3 x 2/3 (23/60 exposed); its
    stream is free after the gathers at 1.15 s, the gradients are ready from 23/60 s over the 2 s of compute
    at 0.92/3, 1.84/3, 0.92, 1 of it (the root last): RS 0 1.15-1.5333, RS 1 1.61-1.99333, RS 2 from
    23/60 + 1.84 for 23/60 s, the root's behind it for 0.1 s, past the compute's end (23/60 + 2) by
    1.84 + 23/60 + 0.1 - 2 s.
    """
    scenario = toy(communication__overlap=overlap, **FULL_SHARD, **TRANSFORMER_TOY)
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    gathers = 4 * 5 / 16 + 3 * 23 / 60
    assert result.comm_s == exact(gathers + 1.25)
    exposed = gathers + 1.25 if not overlap else 1 / 2 + 23 / 60 + (1.84 + 23 / 60 + 0.1 - 2)
    assert result.exposed_comm_s == exact(exposed)
    assert result.step_time_s == exact(3 + exposed + OPTIMIZER_S / 2)


@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize(
    ("changes", "per_micro_batch"),
    [
        (FULL_SHARD, 250e6 + 230e6),
        (HYBRID, 250e6 + 230e6),
        (SHARD_GRAD_OP, 250e6),  # no backward gathers: nothing changes
        ({"training__zero_stage": 3}, 2 * 250e6),  # DeepSpeed ZeRO-3 has no root unit
    ],
)
def test_fsdp_root_unit_traffic_and_memory(changes: dict[str, Any], per_micro_batch: float, k: int) -> None:
    """Bytes gathered per step on the transformer toy (see test_fsdp_root_unit_is_not_gathered_again_in_the_backward),
    and FSDP's buffers in the backward (fp32: 4 B a parameter and a reduced gradient; a layer is 57.5M/3):

    - FULL_SHARD/HYBRID_SHARD parameters: the computing layer and the prefetched one, and the root unit (5M),
      held unsharded from the root's pre-forward to its post-backward: 4 x (2 x 57.5M/3 + 5M) (2 x 4 x 62.5M/3
      before, two thirds of all parameters counting the root);
    - gradients: the computing layer's unsharded gradient (param dtype) and the previous layer's reduce-scatter
      input (reduce dtype), which FSDP2 holds in ``reduce_scatter_state`` until the next unit's post-backward
      (torch ``_fully_shard/_fsdp_collectives.py`` ``foreach_reduce`` returns ``reduce_scatter_input``,
      pytorch 010ae4a8; ``_fsdp_param_group.post_backward`` frees the previous one before reducing), 8 x 57.5M/3;
      and the output head's gradient (2.5M), computed first and reduced in the root's post-backward at the
      end: 4 x 2.5M (SHARD_GRAD_OP too, whose gathered parameters are in the weights; its buffers were 2 x
      the 100 MB DDP bucket). Under no_sync only the reduce-scatter input: the unsharded gradients are the
      full gradient the model states already keep.
    """
    ranks = 2 * changes.get("cluster__nodes", 1)
    extra = predict(toy(training__global_batch=ranks * k, **changes, **TRANSFORMER_TOY)).extra
    assert extra["traffic_bytes_per_step"]["parameter_gather"] == exact(k * per_micro_batch)
    layer = 57.5e6 / 3
    gradients = 8 * layer + 4 * 2.5e6
    if changes.get("training__optimizer_sharding") != "fsdp":
        # DeepSpeed ZeRO-3 (the toy's stage3_max_reuse_distance is 0): its reduce buffer (the toy's 25M elements),
        # the first backward unit (the 2.5M head) and one prefetch bucket (25M elements), in fp32
        assert extra["memory_buffers_bytes"] == exact(4 * (25e6 + 2.5e6 + 25e6))
        return
    gathered = 4 * (2 * layer + 5e6) if changes["training__zero_stage"] == 3 else 0.0
    assert extra["memory_buffers_bytes"] == exact(gathered + gradients)
    no_sync = predict(toy(training__global_batch=ranks * k, training__fsdp_no_sync=True, **changes, **TRANSFORMER_TOY))
    assert no_sync.extra["memory_buffers_bytes"] == exact(gathered + (4 * layer if k > 1 else gradients))


def test_fsdp_reshard_after_backward_is_shard_grad_ops() -> None:
    with pytest.raises(ScenarioError, match=r"training\.fsdp_reshard_after_backward"):
        toy(training__optimizer_sharding="fsdp", training__zero_stage=3, training__fsdp_reshard_after_backward=False)
    with pytest.raises(ScenarioError, match=r"training\.fsdp_reshard_after_backward"):
        toy(training__zero_stage=2, training__fsdp_reshard_after_backward=False)


def test_fsdp_shard_group_must_tile_the_nodes() -> None:
    with pytest.raises(ScenarioError, match="straddle nodes"):
        toy(
            cluster__nodes=3,
            cluster__workers_per_node=4,
            training__global_batch=12,
            training__optimizer_sharding="fsdp",
            training__zero_stage=3,
            training__fsdp_shard_group=6,
        )


def test_per_micro_batch_reduction_backlog_when_communication_outpaces_compute() -> None:
    """At 25 MB/s the buckets take 2, 2, 1 s per micro-batch, more than its 3 s: the first micro-batch's
    reduce-scatters (0.8-2.8, 2.8-4.8, 4.8-5.8 s after its backward starts) are 2.8 s behind when the
    next backward starts 3 s later; that one's run 2.8-4.8, 4.8-6.8, 6.8-7.8 s: 5.8 s past its end."""
    slow = {"cluster__intra_node__bandwidth": "25 MB/s", "cluster__inter_node__bandwidth": "25 MB/s"}
    r = predict(toy(training__zero_stage=2, training__global_batch=4, **slow))
    assert r.extra["gradient_exposed_s"] == exact(5.8)
    sim = simulate(toy(training__zero_stage=2, training__global_batch=4, **slow), fidelity="fast")
    assert sim.step_time_s == pytest.approx(r.step_time_s, rel=1e-9)


def test_megatron_overlaps_the_parameter_gather_with_the_next_forward() -> None:
    """Megatron's distributed optimizer (fp32 toy: fp32 reduction) gathers the 250 MB of parameters in
    buckets of 100, 100, 50 MB (0.5, 0.5, 0.25 s) while the next forward (1 s, each bucket's share:
    0.4, 0.4, 0.2 s) runs as they land: flow shop 0.5 + 0.5 + 0.4 = 1.4 s for the full buckets, then
    max(1.4, 1.25) + 0.2 = 1.6 s, so 0.6 s of the 1.25 s gather is exposed; DeepSpeed ZeRO-1 exposes
    all of it."""
    megatron = predict(toy(training__zero_stage=1, training__optimizer_sharding="megatron"))
    deepspeed = predict(toy(training__zero_stage=1))
    assert megatron.comm_s == exact(deepspeed.comm_s) == exact(2.5)
    assert deepspeed.exposed_comm_s - megatron.exposed_comm_s == exact(1.25 - 0.6)
    sim = simulate(toy(training__zero_stage=1, training__optimizer_sharding="megatron"), fidelity="fast")
    assert sim.step_time_s == pytest.approx(megatron.step_time_s, rel=1e-9)


def test_fsdp_shard_grad_op_gathers_in_the_forward_deepspeed_after_the_step() -> None:
    """One micro-batch: FSDP SHARD_GRAD_OP all-gathers each unit in its pre-forward hook while the previous
    unit computes (1/2 s of the 1.25 s exposed, test_fsdp_shard_grad_op_gathers_in_every_forward);
    DeepSpeed ZeRO-2 gathers after the optimizer step and waits for all 1.25 s. Their reduce-scatters spill
    5/16 s (FSDP: one a unit, test_fsdp_shard_grad_op_gathers_in_every_forward) and 0.35 s (DeepSpeed's
    100, 100, 50 MB buckets, 0.5, 0.5, 0.25 s, ready at 0.8, 1.6, 2 s). Without overlap FSDP waits too
    (reduce-scatters after the backward: 1.25 s, gathers before each piece: 1.25 s)."""
    fsdp = predict(toy(training__zero_stage=2, training__optimizer_sharding="fsdp"))
    deepspeed = predict(toy(training__zero_stage=2))
    assert fsdp.comm_s == exact(deepspeed.comm_s) == exact(2.5)
    assert fsdp.exposed_comm_s == exact(5 / 16 + 1 / 2)
    assert deepspeed.exposed_comm_s == exact(0.35 + 1.25)
    blocking = predict(toy(training__zero_stage=2, training__optimizer_sharding="fsdp", communication__overlap=False))
    assert blocking.exposed_comm_s == exact(1.25 + 1.25)
    sim = simulate(toy(training__zero_stage=2, training__optimizer_sharding="fsdp"), fidelity="fast")
    assert sim.step_time_s == pytest.approx(fsdp.step_time_s, rel=1e-9)


def test_optimizer_step_is_priced_like_every_memory_bound_kernel() -> None:
    """Adam on the toy's 62.5M fp32 parameters moves 28 B each (1 ms at 1.75 TB/s); at half the
    achievable bandwidth it takes twice as long; global-norm clipping adds a read of the fp32 gradient
    for the norm and a read and a write to rescale it: 12 B more, 40 B in all."""
    assert predict(toy()).optimizer_s == exact(1e-3)
    assert predict(toy(cluster__device__memory_efficiency=0.5)).optimizer_s == exact(2e-3)
    clipped = predict(toy(training__gradient_clipping=True))
    assert clipped.optimizer_s == exact(40 * 62.5e6 / 1.75e12)
    assert clipped.extra["optimizer_bytes_per_param"] == 40


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("stage", [1, 2])
def test_deepspeed_zero_1_2_reduce_after_the_backward_without_overlap_comm(engine: str, k: int, stage: int) -> None:
    """DeepSpeed's default ``overlap_comm`` is false at stages 1 and 2 (``DeepSpeedZeroConfig.overlap_comm_valid``):
    stage 1 registers no gradient hooks and reduces in ``reduce_gradients`` after the backward, stage 2 reduces
    each full bucket on the compute stream (``average_tensor``), so on the toy the 250 MB reduce-scatter (1.25 s)
    adds to the backward instead of hiding all but its 0.35 s tail. Stage 2 does so after every micro-batch,
    stage 1 once. Then the blocking post-step gather (1.25 s) and the sharded optimizer (half of 1 ms)."""
    scenario = toy(deepspeed_defaults=True, training__zero_stage=stage, training__global_batch=2 * k)
    assert not scenario.overlaps_gradient_reduction
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    reductions = k if stage == 2 else 1
    assert result.exposed_comm_s == exact(reductions * 1.25 + 1.25)
    assert result.step_time_s == exact(3 * k + reductions * 1.25 + 1.25 + OPTIMIZER_S / 2)
    # overlap_comm true: the reduce-scatter hides behind the last backward but for the last bucket's 0.35 s
    # (DeepSpeed's reduction stream, two IPG buffers)
    overlapped = toy(deepspeed_defaults=True, training__zero_stage=1, training__deepspeed_overlap_comm=True)
    assert predict(overlapped).exposed_comm_s == exact(0.35 + 1.25)


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
def test_deepspeed_zero_3_backward_does_not_gather_what_it_kept(engine: str) -> None:
    """DeepSpeed ZeRO-3's defaults on the toy (one 62.5M unit, 250 MB in fp32): its next use, its own backward,
    comes at distance 0 < stage3_max_reuse_distance (1e9), so the coordinator keeps it gathered and the backward
    gathers nothing. The forward gathers 3 pieces of 250/3 MB (5/12 s each) a piece ahead of 1/3 s of compute:
    5/12 + 2 x 5/12 + 1/3 = 19/12 s, 7/12 s exposed; the backward (2 s) reduce-scatters 100, 100, 50 MB on the
    reduction stream (overlap_comm is DeepSpeed's default at stage 3), ready at 0.8, 1.6, 2 s: the last ends at
    2.35 s, 0.35 s exposed. With the distance 0 the backward gathers the 250 MB again (1.25 s more traffic)."""
    scenario = toy(deepspeed_defaults=True, training__zero_stage=3)
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    assert predict(scenario).extra["traffic_bytes_per_step"]["parameter_gather"] == exact(250e6)
    assert result.comm_s == exact(1.25 + 1.25)
    assert result.exposed_comm_s == exact(7 / 12 + 0.35)
    assert result.step_time_s == exact(3 + 7 / 12 + 0.35 + OPTIMIZER_S / 2)
    released = toy(deepspeed_defaults=True, training__zero_stage=3, training__deepspeed_max_reuse_distance=0)
    again = predict(released) if engine == "analytic" else simulate(released, fidelity=engine)
    assert predict(released).extra["traffic_bytes_per_step"]["parameter_gather"] == exact(500e6)
    assert again.comm_s == exact(1.25 + 1.25 + 1.25)


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
@pytest.mark.parametrize("view", [False, True])
def test_ddp_bucket_copies_on_the_backward_critical_path(engine: str, view: bool) -> None:
    """torch DDP's reducer on the toy (250 MB fp32 gradient, 1.75 TB/s): ``mark_variable_ready_dense`` copies each
    gradient into its bucket, dividing by the world size (``at::mul_out``), or with
    ``gradient_as_bucket_view`` divides the bucket in place (``div_``): either is c = 2 x 250 MB / 1.75 TB/s on
    the compute stream, so the backward lasts T = 2 + c and the all-reduces end at 0.4T + 2.5. Without the
    views ``finalize_backward`` copies every bucket back (``copy_``, c again), each after its all-reduce: all
    but the last (50 MB, c/5) beside the later all-reduces. Step: 1 + 0.4T + 2.5 (+ c/5) + the optimizer."""
    scenario = toy(training__gradient_as_bucket_view=view)
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    back = 0.0 if view else LAST_COPY_S
    assert result.step_time_s == exact(1 + 0.4 * (2 + COPY_S) + 2.5 + back + OPTIMIZER_S)
    assert result.compute_s == exact(3 + COPY_S + back)
    assert predict(scenario).extra["ddp_bucket_copy_s"] == exact(COPY_S if view else 2 * COPY_S)


# --- DeepSpeed ZeRO's own buckets (dpsim.sharding.collective_pieces) ------------------------------------------


def test_deepspeed_pieces_follow_its_element_counts_not_communication_bucket() -> None:
    """DeepSpeed 0.16.5 cuts by elements: reductions of reduce_bucket_size at the communication width, one
    post-step all-gather of the whole partition (all_gather_into_tensor_dp_groups), ZeRO-3 gathers of
    stage3_prefetch_bucket_size at the parameters' width; DDP keeps communication.bucket (100 MB), FSDP its
    units (the toy MLP's 4 linear layers, 62.5 MB each in fp32)."""
    from dpsim.sharding import collective_pieces

    bf16 = {"training__precision": "bf16", "training__zero_stage": 3}
    defaults = collective_pieces(toy(deepspeed_defaults=True, **bf16, training__deepspeed_reduce_bucket_size=None,
                                     training__deepspeed_prefetch_bucket_size=None))  # fmt: skip
    assert defaults.gradient_bucket == exact(5e8 * 2)  # 500M elements of bf16
    assert defaults.gather_piece == exact(5e7 * 2)  # 50M elements
    assert defaults.post_step_gather == exact(62.5e6 * 2)  # the whole 16-bit partition at once
    assert defaults.prefetch
    fp32 = collective_pieces(toy(training__zero_stage=2, training__deepspeed_reduce_bucket_size=1000))
    assert (fp32.gradient_bucket, fp32.post_step_gather) == (exact(4000), exact(250e6))
    for other, unit in (({"training__optimizer_sharding": "fsdp", "training__zero_stage": 3}, 62.5e6),
                        ({"training__zero_stage": 0}, 100e6)):  # fmt: skip
        pieces = collective_pieces(toy(**other))
        assert (pieces.gradient_bucket, pieces.gather_piece, pieces.post_step_gather) == (
            exact(unit), exact(unit), 100e6)  # fmt: skip
    # no prefetch: on demand, a layer at a time (3 layers of the transformer toy's 250 MB)
    off = collective_pieces(toy(training__zero_stage=3, training__deepspeed_prefetch_bucket_size=0, **TRANSFORMER_TOY))
    assert (off.gather_piece, off.prefetch) == (exact(250e6 / 3), False)


def test_deepspeed_ipg_buckets_close_before_the_tensor_that_overflows_them() -> None:
    """DeepSpeed 0.16.5 ``reduce_independent_p_g_buckets_and_remove_grads`` (stage_1_and_2.py, stage3.py): the
    open bucket is reduced when the next gradient would overflow it, a gradient is never split, and one larger
    than the bucket goes alone. Tensors (elements, registration order) 3, 5, 2, 12, 4, 1 with a bucket of 8,
    met in reverse (ready order): 1+4 = 5, +12 > 8 -> [1, 4]; 12 alone; 2+5 = 7, +3 > 8 -> [2, 5]; [3]. PyTorch
    DDP's rule (close once at least the cap) on the same tensors: [1, 4, 12], [2, 5, 3]."""
    from dpsim.buckets import ddp_bucket_layout, deepspeed_bucket_layout

    tensors = [3.0, 5.0, 2.0, 12.0, 4.0, 1.0]
    assert deepspeed_bucket_layout(tensors, 8.0) == [[5, 4], [3], [2, 1], [0]]
    assert deepspeed_bucket_layout(tensors, 8.0, ready_order=range(6)) == [[0, 1], [2], [3], [4, 5]]
    assert ddp_bucket_layout(tensors, 8.0, 8.0) == [[5, 4, 3], [2, 1, 0]]
    assert deepspeed_bucket_layout(tensors, 100.0) == [[5, 4, 3, 2, 1, 0]]


MLP_TOY: dict[str, Any] = {"model__layers": 15, "model__hidden": 2000, "model__parameters": None}
"""The toy as 15 square linear layers of 2000 with biases (runtime.model.MLP's tensors: a 4M-element weight
and a 2000-element bias each), 60.03M fp32 parameters, 240.12 MB of gradient."""


def test_deepspeed_ipg_buckets_of_the_toy_mlp() -> None:
    """ZeRO-2 with reduce_bucket_size 10M elements, gradients met in the backward's order (bias 15, weight 15,
    bias 14, ...; each layer 4,002,000 elements): 2 layers + bias 13 = 8,006,000, then weight 13 would overflow;
    then (weight, bias, weight, bias) of 8,004,000 six times; weight 1 (4M) alone: 8 buckets, where full
    10M-element buckets would be 7 (6 full and 30,000 elements). Stage 1 without overlap_comm walks the
    parameters in registration order after the backward: (W1 b1 W2 b2) ... 8,004,000 seven times, then W15 b15
    = 4,002,000."""
    from dpsim.sharding import collective_pieces

    stage2 = collective_pieces(
        toy(training__zero_stage=2, training__deepspeed_reduce_bucket_size=10_000_000, **MLP_TOY)
    )
    assert stage2.gradient_buckets == tuple(4.0 * x for x in [8_006_000, *[8_004_000] * 6, 4_000_000])
    assert stage2.reduced_gradient_bytes == exact(240.12e6)
    stage1 = collective_pieces(toy(training__zero_stage=1, training__deepspeed_reduce_bucket_size=10_000_000,
                                   training__deepspeed_overlap_comm=False, **MLP_TOY))  # fmt: skip
    assert stage1.gradient_buckets == tuple(4.0 * x for x in [*[8_004_000] * 7, 4_002_000])
    explicit = MLP_TOY | {"model__parameters": "62.5M"}  # not these tensors' count: a stream
    assert collective_pieces(toy(training__zero_stage=2, **explicit)).gradient_buckets == ()


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
def test_deepspeed_reduces_whole_tensors_in_both_engines(engine: str) -> None:
    """The toy MLP's 8 IPG buckets (test above) under ZeRO-2 with overlap_comm, ready at their cumulative bytes
    over the 2 s backward, each reduce-scatter over 2 ranks at 200 MB/s (S/2 at 100 MB/s): the 32 MB buckets
    (0.16 s) keep up; the 7th is ready at 2 x 224.12/240.12 = 1.866733 s and ends at 2.026813 s, past the
    backward, and weight 1 (16 MB, 0.08 s) follows: 0.106813 s exposed. Full 10M-element buckets would leave
    the 6th (ready at 1.9990 s, 0.2 s) and the 0.12 MB rest: 0.1996 s. Then the post-step all-gather of the
    240.12 MB partition, 1.2006 s."""
    scenario = toy(training__zero_stage=2, training__deepspeed_reduce_bucket_size=10_000_000, **MLP_TOY)
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    total = 240.12e6
    seventh_ready = 2.0 * (total - 16e6) / total
    assert result.exposed_comm_s == exact(seventh_ready + 8.004e6 * 4 / 200e6 + 16e6 / 200e6 - 2.0 + total / 200e6)
    assert result.comm_s == exact(2 * total / 200e6)


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
@pytest.mark.parametrize(("elements", "exposed"), [(62_500_000, 1.25), (12_500_000, 0.25), (25_000_000, 0.35)])
def test_deepspeed_reduce_bucket_size_sets_the_reduction_buckets(engine: str, elements: int, exposed: float) -> None:
    """ZeRO-1 with overlap_comm on the toy (250 MB fp32 gradient, 2 s backward, 100 MB/s: 0.5 s a 100 MB
    reduce-scatter over 2 ranks), buckets of reduce_bucket_size fp32 elements. 62.5M: one 250 MB bucket,
    ready at the end of the backward, all 1.25 s exposed. 12.5M (50 MB): five of 0.25 s ready every 0.4 s,
    each done before the next is ready: the last's 0.25 s exposed. 25M (100 MB): 0.35 s (the toy's own).
    communication.bucket (100 MB) no longer matters. Then the post-step gather, 1.25 s."""
    scenario = toy(training__zero_stage=1, training__deepspeed_reduce_bucket_size=elements)
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    assert result.exposed_comm_s == exact(exposed + 1.25)
    assert result.comm_s == exact(1.25 + 1.25)


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
def test_deepspeed_post_step_gather_is_one_collective(engine: str) -> None:
    """With 10 ms a ring step (2 ranks: one step per collective) the count shows: ZeRO-1 without overlap_comm
    reduce-scatters three 25M-element buckets after the backward (3 x 10 ms + 1.25 s) and all-gathers the
    whole 250 MB partition in one all_gather_into_tensor (10 ms + 1.25 s), not in communication.bucket's three."""
    link = {"bandwidth": "100 MB/s", "latency": "10 ms"}
    scenario = toy(deepspeed_defaults=True, training__zero_stage=1, cluster__intra_node=link)
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    assert result.exposed_comm_s == exact(3 * 0.01 + 1.25 + 0.01 + 1.25)
    if engine == "analytic":
        assert result.extra["zero_param_gather_s"] == exact(0.01 + 1.25)


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
def test_deepspeed_prefetch_bucket_size_sets_the_zero_3_gathers(engine: str) -> None:
    """ZeRO-3 on the toy, DeepSpeed's reuse distance (the backward gathers nothing). Prefetch buckets of 31.25M
    fp32 elements: two 125 MB pieces (0.625 s each) ahead of 0.5 s of compute each: 0.625 + 0.625 + 0.5 =
    1.75 s for a 1 s forward, 0.75 s exposed (7/12 s with communication.bucket's three pieces); then the
    backward's reduce-scatters (25M-element buckets) expose 0.35 s."""
    scenario = toy(deepspeed_defaults=True, training__zero_stage=3, training__deepspeed_prefetch_bucket_size=31_250_000)
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    assert result.exposed_comm_s == exact(0.75 + 0.35)
    assert result.step_time_s == exact(3 + 0.75 + 0.35 + OPTIMIZER_S / 2)


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
def test_deepspeed_zero_3_without_prefetch_gathers_on_demand(engine: str) -> None:
    """stage3_prefetch_bucket_size 0 on the 3-layer transformer toy, nothing kept for reuse: each layer's 250/3 MB
    (5/12 s) is gathered when it runs. Forward: 3 x (5/12 + 1/3) = 2.25 s, 1.25 s exposed. Backward: layer p
    computes (2/3 s) from (p+1)·5/12 + p·2/3 s, span 3.25 s; the reduce-scatters of 100, 100, 50 MB are ready
    inside the pieces at 1.2, 2.4, 3 pieces (1.633, 2.85, 3.25 s), wait for the last gather (free at 2.583 s)
    and end at 3.083, 3.583, 3.833 s: 7/12 s past the span, after its own 1.25 s of gathers."""
    scenario = toy(
        training__zero_stage=3, training__deepspeed_prefetch_bucket_size=0, cluster__device__memory="200 GB",
        **TRANSFORMER_TOY,
    )  # fmt: skip
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    assert result.comm_s == exact(3 * 1.25)
    assert result.exposed_comm_s == exact(1.25 + 1.25 + 7 / 12)
