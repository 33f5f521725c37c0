"""Tensor-parallel communication overlapped with the GEMMs (``training.tp_comm_overlap``), by hand."""

from __future__ import annotations

from typing import Any

import pytest

from dpsim.analytic.step import predict
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, scenario_from_dict
from dpsim.sim import simulate

MS = 1e-3


def two_way(**training: Any) -> Scenario:
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
            "intra_node": {"bandwidth": "1.048576 GB/s", "latency": "0 s"},
            "inter_node": {"bandwidth": "1.048576 GB/s", "latency": "0 s"},
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
