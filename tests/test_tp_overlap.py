"""Tensor-parallel communication overlapped with the GEMMs (``training.tp_comm_overlap``), by hand."""

from __future__ import annotations

from typing import Any

import pytest

from dpsim.analytic.step import predict
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, scenario_from_dict
from dpsim.sim import simulate

MS = 1e-3


def two_way(link: str = "1.048576 GB/s", **training: Any) -> Scenario:
    """One layer pair of a GPT (h 1024, 16 heads, s 1024, micro-batch 1, bf16) on 2 tensor-parallel ranks.

    Flat compute at 2^30 FLOP per ms. The layer's GEMMs on one rank (m = 1024 tokens): QKV
    2·1024·1536·1024 FLOP = 3 ms, attention-out 2·1024·1024·512 = 1 ms, MLP up and down 4 ms each,
    their data-gradient GEMMs the same. Sequence parallelism's all-gather / reduce-scatter of the
    2 MiB b·s·h activation over 2 ranks at 1.048576 GB/s: 1/2 · 2 MiB / (1.048576 GB/s) = 1 ms each,
    8 per layer (4 forward, 4 backward).
    """
    data: dict[str, Any] = {
        "model": {"layers": 2, "hidden": 1024, "heads": 16, "seq_len": 1024, "vocab": 1000},
        "cluster": {
            "nodes": 1,
            "workers_per_node": 2,
            "device": {
                "peak_flops": "1.073741824 TFLOP/s",
                "memory": "80 GB",
                "memory_bandwidth": "1 TB/s",
                "efficiency": 1.0,
            },
            "intra_node": {"bandwidth": link, "latency": "0 s"},
            "inter_node": {"bandwidth": link, "latency": "0 s"},
        },
        "training": {"global_batch": 1, "micro_batch": 1, "tensor_parallel": 2, "sequence_parallel": True, **training},
        "communication": {"algorithm": "ring", "protocol": "none"},
    }
    return scenario_from_dict(data)


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_userbuffers_hide_what_the_gemm_beside_each_collective_covers(engine: str) -> None:
    """Each collective (1 ms) is split into t = 2 chunks beside its GEMM; the chunk computed first (or
    last) has no transfer beside it, so it hides min(1, g/2) ms: forward all-gather/QKV 1, reduce-scatter/
    attention-out 0.5, all-gather/MLP-up 1, reduce-scatter/MLP-down 1; backward all-gather/MLP-down dgrad
    1, reduce-scatter/MLP-up dgrad 1, all-gather/attention-out dgrad 0.5, reduce-scatter/QKV dgrad 1.
    Per layer 7 of 8 ms hidden; two layers: 2 ms exposed of 16, the step 14 ms shorter, the traffic
    the same."""
    run = predict if engine == "analytic" else (lambda s: simulate(s, fidelity="fast"))
    plain, overlapped = run(two_way()), run(two_way(tp_comm_overlap=True))
    assert predict(two_way()).extra["tensor_parallel_comm_s"] == pytest.approx(16 * MS, rel=1e-12)
    assert predict(two_way(tp_comm_overlap=True)).extra["tensor_parallel_comm_s"] == pytest.approx(2 * MS, rel=1e-12)
    assert plain.step_time_s - overlapped.step_time_s == pytest.approx(14 * MS, rel=1e-9)
    assert plain.exposed_comm_s - overlapped.exposed_comm_s == pytest.approx(14 * MS, rel=1e-9)
    assert overlapped.comm_s == pytest.approx(plain.comm_s, rel=1e-12)


def test_full_recomputation_overlaps_the_re_forward_too() -> None:
    # the re-forward's four collectives hide 1 + 0.5 + 1 + 1 ms more per layer: 24 ms of traffic, 3 exposed
    r = predict(two_way(tp_comm_overlap=True, activation_recomputation="full"))
    assert r.extra["tensor_parallel_comm_s"] == pytest.approx(3 * MS, rel=1e-12)
    assert r.extra["tensor_parallel_hidden_s"] == pytest.approx(21 * MS, rel=1e-12)


def test_overlap_needs_sequence_parallelism() -> None:
    with pytest.raises(ScenarioError) as info:
        two_way(tp_comm_overlap=True, sequence_parallel=False)
    assert info.value.field == "training.tp_comm_overlap"


@pytest.mark.parametrize(("ieee_tflops", "hidden_ms"), [(1.073741824, 24.0), (0.536870912, 28.0)])
def test_fp32_gemms_hide_at_the_rate_fp32_matmul_says(ieee_tflops: float, hidden_ms: float) -> None:
    """fp32 (``fp32_matmul: ieee``, the default): the GEMMs beside the collectives run at ``peak_flops_fp32_ieee``,
    as the compute model prices them (:func:`dpsim.compute.compute_device`), not at TF32's ``peak_flops_fp32``.
    fp32 activations: each collective 4 MiB, 2 ms. At half the TF32 rate the GEMMs double (QKV 6, attention-out 2,
    MLP 8 ms, their dgrads the same) and hide min(2, g/2): 2 + 1 + 2 + 2 = 7 ms each way, 28 ms over two layers;
    at the TF32 rate 1.5 + 0.5 + 2 + 2 = 6, 24 ms (the previous code's figure whatever the ieee peak)."""
    from dpsim.analytic import parallel, step

    s = two_way(precision="fp32", tp_comm_overlap=True)
    device = s.cluster.device.model_copy(
        update={"peak_flops_fp32": 1.073741824e12, "peak_flops_fp32_ieee": ieee_tflops * 1e12}
    )
    s = s.model_copy(update={"cluster": s.cluster.model_copy(update={"device": device})})
    assert parallel.tensor_parallel_hidden_time(s, step.fabric_of(s)) == pytest.approx(hidden_ms * MS, rel=1e-12)


def torch_async(**training: Any) -> Scenario:
    """:func:`two_way` under torch's micro-pipelined TP, its memory at 10.48576 GB/s at full efficiency (1 MiB moved
    in 0.1 ms), so the fused ops' local steps are round numbers."""
    s = two_way(tp_comm_overlap=True, tp_overlap_kind="torch_async_tp", **training)
    device = s.cluster.device.model_copy(update={"memory_bandwidth": 10.48576e9, "memory_efficiency": 1.0})
    return s.model_copy(update={"cluster": s.cluster.model_copy(update={"device": device})})


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_torch_async_tp_leaves_the_summed_input_gradient_reduce_scatter_and_pays_its_local_steps(engine: str) -> None:
    """torch's pass fuses the forward's four collectives (hiding 1 + 0.5 + 1 + 1 ms as userbuffers do), the
    backward's two all-gathers (MLP-down dgrad 1, attention-out dgrad 0.5) and, the MLP having one up projection,
    the MLP-up dgrad reduce-scatter (1); the QKV input gradient is the sum of the q, k and v data gradients, so its
    reduce-scatter (1 ms) stays exposed: 6 of 8 ms a layer hidden. Local steps (S = 2 MiB, t = 2): a copy of the
    local shard before each fused all-gather, 2·S/t = 2 MiB read and written (two forward, two backward), the sum of
    the stacked partials after each fused reduce-scatter, S·(1 + 1/t) = 3 MiB (two forward, one backward): 17 MiB,
    1.7 ms a layer. Two layers: 12 ms hidden, 16 − 12 + 3.4 = 7.4 ms on the critical path, the step 8.6 ms
    shorter than without overlap (userbuffers: 14)."""
    from dpsim.analytic import parallel, step

    run = predict if engine == "analytic" else (lambda s: simulate(s, fidelity="fast"))
    s = torch_async()
    assert parallel.tensor_parallel_hidden_time(s, step.fabric_of(s)) == pytest.approx(12 * MS, rel=1e-12)
    assert parallel.tensor_parallel_local_time(s) == pytest.approx(3.4 * MS, rel=1e-12)
    assert predict(s).extra["tensor_parallel_comm_s"] == pytest.approx(7.4 * MS, rel=1e-12)
    plain = s.model_copy(
        update={"training": s.training.model_copy(update={"tp_comm_overlap": False, "tp_overlap_kind": "userbuffers"})}
    )
    assert run(plain).step_time_s - run(s).step_time_s == pytest.approx(8.6 * MS, rel=1e-9)


def test_torch_async_tp_with_a_gated_mlp_and_full_recomputation() -> None:
    """Gated MLP (torchtitan's w1 / w3: MLP-up 8 ms): its input gradient sums two data gradients, so the backward
    hides only its all-gathers, 1 + 0.5 ms; forward and re-forward 3.5 ms each: 8.5 of 12 ms a layer. Local steps:
    six shard copies of 2 MiB and four partial sums of 3 MiB, 24 MiB, 2.4 ms a layer. Two layers: 17 ms hidden,
    24 − 17 + 4.8 = 11.8 ms exposed."""
    s = torch_async(activation_recomputation="full")
    s = s.model_copy(update={"model": s.model.model_copy(update={"gated_mlp": True})})
    r = predict(s)
    assert r.extra["tensor_parallel_hidden_s"] == pytest.approx(17 * MS, rel=1e-12)
    assert r.extra["tensor_parallel_comm_s"] == pytest.approx(11.8 * MS, rel=1e-12)


def test_torch_async_tp_needs_the_overlap() -> None:
    with pytest.raises(ScenarioError) as info:
        two_way(tp_overlap_kind="torch_async_tp")
    assert info.value.field == "training.tp_overlap_kind"


@pytest.mark.parametrize("engine", ["analytic", "sim"])
@pytest.mark.parametrize(
    ("bandwidth", "recomputation", "hidden_ms"),
    [
        # all-reduce 2 ms beside QKV's wgrad (3 ms) and MLP-up's (4 ms): both hidden, 4 ms a layer
        ("1.048576 GB/s", "none", 8.0),
        # full recomputation reruns the forward's all-reduces on the critical path; the backward's hide as before
        ("1.048576 GB/s", "full", 8.0),
        # all-reduce 4 ms: QKV's wgrad hides 3 of it, MLP-up's all 4: 7 ms a layer
        ("0.524288 GB/s", "none", 14.0),
    ],
)
def test_megatron_async_allreduce_hides_the_backward_allreduces_behind_the_weight_gradients(
    engine: str, bandwidth: str, recomputation: str, hidden_ms: float
) -> None:
    """``tp_async_grad_allreduce`` without sequence parallelism (Megatron-LM's asynchronous all-reduce): the ring
    all-reduce of the 2 MiB activation over 2 ranks, 2·(1/2)·2 MiB / (1.048576 GB/s) = 2 ms (4 ms at half the
    bandwidth), 4 a layer (6 with full recomputation). Each of the backward's two (the input gradients of QKV and
    MLP-up) runs beside that linear's weight-gradient GEMM, QKV 3 ms and MLP-up 4 ms as in :func:`two_way`, and
    hides min(all-reduce, GEMM); two layers. The forward's all-reduces stay exposed, the traffic stays."""
    run = predict if engine == "analytic" else (lambda s: simulate(s, fidelity="fast"))
    base: dict[str, Any] = {"sequence_parallel": False, "activation_recomputation": recomputation}
    plain, hidden = two_way(bandwidth, **base), two_way(bandwidth, **base, tp_async_grad_allreduce=True)
    per_layer = (6 if recomputation == "full" else 4) * (2.0 if bandwidth.startswith("1.") else 4.0)
    assert predict(plain).extra["tensor_parallel_comm_s"] == pytest.approx(2 * per_layer * MS, rel=1e-12)
    exposed = 2 * per_layer - hidden_ms
    assert predict(hidden).extra["tensor_parallel_comm_s"] == pytest.approx(exposed * MS, rel=1e-12)
    before, after = run(plain), run(hidden)
    assert before.step_time_s - after.step_time_s == pytest.approx(hidden_ms * MS, rel=1e-9)
    assert after.comm_s == pytest.approx(before.comm_s, rel=1e-12)


def test_megatron_async_allreduce_needs_no_sequence_parallelism() -> None:
    with pytest.raises(
        ScenarioError, match=r"^<scenario>: training\.tp_async_grad_allreduce: needs sequence_parallel: false "
    ):
        two_way(tp_async_grad_allreduce=True)
