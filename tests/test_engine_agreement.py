"""The two engines on the same symmetric scenarios: one model of each mechanism, so they agree.

Hand-written timelines for where the engines used to part (tensor-parallel time inside the passes),
and a handful of cases from ``benchmarks/agreement_fuzz.py`` that covered every cluster of
disagreement it found, held within the project's 1 %.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _bench import load_benchmark
from test_analytic import exact  # pytest puts tests/ on the path
from test_calibration import scenario_on_profile

from dpsim.analytic.step import predict
from dpsim.errors import ScenarioError
from dpsim.scenario import Scenario, load_scenario, scenario_from_dict
from dpsim.sim import simulate
from dpsim.sim.collectives.groups import Groups
from dpsim.sim.simulate import build_cluster, make_engine


def tp_toy(**training: Any) -> Scenario:
    """2 nodes x 2 ranks, tensor-parallel pairs inside a node (100 MB/s, 0 latency), data-parallel pairs
    across the nodes (one 100 MB/s NIC each). A 2-layer transformer, h = s = 1000, fp32, micro-batch 1: one
    TP all-reduce moves b·s·h·4 = 4 MB, a ring of 2 sends it once (0.04 s); 2 in the forward and 2 in the
    backward of each layer: 0.16 s + 0.16 s per micro-batch."""
    data: dict[str, Any] = {
        "name": "tp-toy",
        "model": {
            "kind": "transformer",
            "layers": 2,
            "hidden": 1000,
            "heads": 10,
            "seq_len": 1000,
            "vocab": 1000,
            "flops_per_sample": 3e11,
        },
        "cluster": {
            "nodes": 2,
            "workers_per_node": 2,
            "device": {
                "peak_flops": "1 TFLOP/s",
                "memory": "80 GB",
                "memory_bandwidth": "1.75 TB/s",
                "memory_efficiency": 1.0,
                "efficiency": 1.0,
            },
            "intra_node": {"bandwidth": "100 MB/s", "latency": "0 s"},
            "inter_node": {"bandwidth": "100 MB/s", "latency": "0 s", "nics_per_node": 1},
        },
        "training": {
            "global_batch": 2,
            "micro_batch": 1,
            "precision": "fp32",
            "optimizer": "adam",
            "tensor_parallel": 2,
            **training,
        },
        "communication": {"algorithm": "ring", "protocol": "none", "bucket": "10 MB", "overlap": True},
    }
    return scenario_from_dict(data)


@pytest.mark.parametrize("engine", ["analytic", "fast", "chunk"])
def test_tensor_parallel_time_lies_inside_the_passes(engine: str) -> None:
    """DeepSpeed ZeRO-2 on :func:`tp_toy`: 26.028 M parameters, 13.014 M per TP rank, fp32 gradient 52.056 MB.
    Flat compute (3e11 FLOPs at 1 TFLOP/s over tp = 2): forward 0.05 s, backward 0.1 s. Megatron's TP
    all-reduces run inside each layer's pass on the compute stream, so the forward lasts 0.05 + 0.16 s and
    the backward 0.1 + 0.16 = 0.26 s, over which the gradient's buckets become ready. DeepSpeed's IPG buckets
    of 2.5M elements (10 MB) never split a tensor and close before the one that would overflow them
    (:func:`dpsim.buckets.deepspeed_bucket_layout`): met from the last layer's LayerNorms back, each layer's
    tensors per TP rank being 2 MB (QKV 6 MB), 8 MB (fc, proj) and kB biases and norms, they hold 8.022,
    8.002, 8.016, 8.008, 8.002, 8.006 and 4.0 MB (the two embeddings), bucket i ready at 0.26 x its
    cumulative MB / 52.056 s. Both data-parallel pairs of a node share its one NIC: a reduce-scatter of S over
    2 ranks sends S/2 at 50 MB/s (S/100 MB/s: 0.08 s for 8 MB), longer than the 0.04 s between two buckets'
    readiness, so the stream runs back to back from the first: it ends at 0.26 x 8.022/52.056 + 0.52056 =
    0.560627 s, 0.300627 s past the backward. Then the optimizer over half the parameters
    (28 B x 13.014M / 2 / 1.75 TB/s) and the post-step all-gather of 52.056 MB (26.028 MB each way at
    50 MB/s: 0.52056 s), blocking. (Full 10 MB buckets, 5 x 10 MB + 2.056 MB, gave 0.310506 s.)

    Before, the analytic engine made the gradients ready over the 0.1 s of compute alone and added the TP
    time after the overrun (1.4304 s), the simulator ran the backward's TP after the pass, hiding it under
    the overrun (1.2704 s).
    """
    # reduced on DeepSpeed's reduction stream, in IPG buckets of at most 2.5M fp32 elements (collective_pieces)
    scenario = tp_toy(zero_stage=2, deepspeed_overlap_comm=True, deepspeed_reduce_bucket_size=2_500_000)
    result = predict(scenario) if engine == "analytic" else simulate(scenario, fidelity=engine)
    overrun = 0.26 * 8.022 / 52.056 + 0.52056 - 0.26
    optimizer = 28 * 13.014e6 / 2 / 1.75e12
    assert result.optimizer_s == exact(optimizer)
    assert result.step_time_s == exact(0.05 + 0.16 + 0.26 + overrun + optimizer + 0.52056)
    assert result.exposed_comm_s == exact(0.32 + overrun + 0.52056)
    assert result.compute_s == exact(0.15)


SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
FUZZED: list[tuple[str, str, float]] = [
    # (bundled scenario, overrides, sim/analytic - 1 before the fixes): benchmarks/agreement_fuzz.py --seed 0
    (
        "default.yaml",
        "cluster.nodes=2 cluster.workers_per_node=4 training.zero_stage=3 communication.overlap=false "
        "communication.bucket=400MB communication.algorithm=ring training.precision=fp32 training.micro_batch=2 "
        "training.global_batch=16",
        -0.2945,
    ),
    (
        "default.yaml",
        "cluster.nodes=2 cluster.workers_per_node=1 cluster.inter_node.nics_per_node=2 training.zero_stage=3 "
        "training.optimizer_sharding=fsdp communication.overlap=false communication.bucket=50MB "
        "communication.algorithm=ring training.precision=fp32 training.micro_batch=1 training.global_batch=8",
        -0.2819,
    ),
    (
        "llama2-7b-128-h100-zero1.yaml",
        "cluster.nodes=3 cluster.workers_per_node=4 cluster.inter_node.nics_per_node=2 training.zero_stage=3 "
        "training.optimizer_sharding=fsdp communication.overlap=false communication.bucket=100MiB "
        "communication.algorithm=hierarchical training.micro_batch=2 training.global_batch=24",
        -0.1563,
    ),
    (
        "llama2-7b-128-h100-zero1.yaml",
        "cluster.nodes=2 cluster.workers_per_node=4 cluster.inter_node.nics_per_node=4 training.zero_stage=2 "
        "training.optimizer_sharding=fsdp communication.overlap=false communication.bucket=25MiB "
        "training.precision=fp32 training.tensor_parallel=2 training.micro_batch=1 training.global_batch=4",
        -0.1492,
    ),
    (
        "resnet50-32-v100-100gbe.yaml",
        "cluster.nodes=2 cluster.workers_per_node=4 cluster.inter_node.nics_per_node=2 training.zero_stage=3 "
        "training.optimizer_sharding=fsdp communication.overlap=false communication.algorithm=tree "
        "training.precision=fp32 training.micro_batch=4 training.global_batch=96 training.fsdp_shard_group=2",
        -0.0309,
    ),
    (
        "default.yaml",
        "cluster.nodes=4 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=2 training.zero_stage=2 "
        "training.optimizer_sharding=fsdp communication.overlap=false communication.bucket=400MB "
        "communication.algorithm=hierarchical training.precision=fp32 training.pipeline_parallel=4 "
        "training.pipeline_schedule=interleaved training.micro_batch=1 training.global_batch=32 "
        "training.fsdp_no_sync=true",
        -0.0130,
    ),
    (
        "llama2-7b-128-h100-zero1.yaml",
        "cluster.nodes=4 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=1 training.zero_stage=3 "
        "training.optimizer_sharding=fsdp training.tensor_parallel=2 training.global_batch=64",
        -0.0067,
    ),
    (  # HYBRID_SHARD, hierarchical: the replica all-reduce's node phase meets the next reduce-scatter (seed 9)
        "cpu-cluster-4-ranks-1gbit.yaml",
        "cluster.nodes=2 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=16 training.zero_stage=3 "
        "training.optimizer_sharding=fsdp communication.bucket=50MB communication.algorithm=hierarchical "
        "training.precision=bf16 training.micro_batch=16 training.global_batch=256 training.fsdp_shard_group=2",
        +0.0117,
    ),
]


def _agree_within_a_tenth_of_a_percent(scenario: Scenario, before: float) -> None:
    """Both engines' steps of a fixed fuzzed case within 0.1 % (``before``: sim/analytic - 1 when it was found)."""
    analytic, sim = predict(scenario).step_time_s, simulate(scenario).step_time_s
    assert abs(sim / analytic - 1) < 1e-3, f"sim/analytic - 1 = {sim / analytic - 1:+.2%} (was {before:+.2%})"


@pytest.mark.parametrize(("name", "overrides", "before"), FUZZED, ids=[f"{i}" for i in range(len(FUZZED))])
def test_fuzzed_scenarios_agree(name: str, overrides: str, before: float) -> None:
    """Cases from ``benchmarks/agreement_fuzz.py`` covering each cluster it found (ZeRO-3 / FSDP gathers
    without overlap: DeepSpeed and FSDP, ring, hierarchical, tree, HYBRID_SHARD, SHARD_GRAD_OP with TP,
    an interleaved pipeline under no_sync; TP inside the passes with overlap): symmetric, so within 0.1 %
    (the project claims 1 %; these agree to 1e-9 or better now, and the last one was 0.67 % apart)."""
    _agree_within_a_tenth_of_a_percent(load_scenario(SCENARIOS / name, overrides.split()), before)


def test_pipeline_stages_straddling_nodes_unevenly_are_refused() -> None:
    """3 nodes of 8 in 2 stages: each stage's 12 ranks would sit 8 on one node and 4 on the next, which one
    data-parallel group's fabric (equal ranks per node) cannot express; the simulator crashed on it
    (IndexError), the closed form priced 8 ranks. Now one line naming the field."""
    with pytest.raises(ScenarioError, match=r"training\.pipeline_parallel: .*12 consecutive ranks"):
        load_scenario(
            SCENARIOS / "llama2-7b-128-h100-zero1.yaml",
            ["cluster.nodes=3", "training.pipeline_parallel=2", "training.global_batch=12"],
        )


@pytest.mark.parametrize("how", ["operations", "flat", "profile"])
def test_both_engines_say_how_compute_was_priced(how: str, tmp_path: Path) -> None:
    """``extra["compute_model"]`` names the pricing the scenario asks for, in both engines: a transformer
    on a catalog GPU with a GEMM curve is priced operation by operation, a device given a flat
    ``efficiency`` at ``peak · efficiency``, a scenario with a calibration profile from its fitted compute."""
    scenario = {
        "operations": lambda: load_scenario(Path(__file__).parents[1] / "scenarios/default.yaml"),
        "flat": tp_toy,
        "profile": lambda: load_scenario(scenario_on_profile(tmp_path)),
    }[how]()
    assert predict(scenario).extra["compute_model"] == how
    assert simulate(scenario).extra["compute_model"] == how


MESH_CASE = (  # agreement_fuzz.py --seed 1 --set cluster.device=v100 --set cluster.intra_node=nvlink2 --set ...mesh
    "cluster.nodes=4 cluster.workers_per_node=4 cluster.inter_node.nics_per_node=1 training.zero_stage=2 "
    "training.optimizer_sharding=fsdp communication.overlap=false communication.bucket=400MB "
    "communication.algorithm=halving-doubling training.precision=fp32 training.micro_batch=16 "
    "training.global_batch=256 training.fsdp_shard_group=2"
)


def _uneven(result: Any) -> bool:
    return bool(load_benchmark("agreement_fuzz").uneven(result))


def test_early_ranks_start_their_exchanges_on_a_hybrid_cube_mesh() -> None:
    """Not one collective model's disagreement, a per-rank one: DGX-1V nodes of 4 GPUs, HYBRID_SHARD with
    shard groups of 2. GPUs 0 and 1 share one NVLink, 2 and 3 two (nvlink_mesh), so shard group {2, 3}
    gathers and reduce-scatters in half the time and its ranks reach the replica all-reduce 1.6 ms early. The
    chunk level starts each rank's transfers when that rank is ready: the early ranks of both replica groups
    cross the NICs among themselves (halving-doubling's first step pairs local 2 with local 2 of another
    node) before the late ones join, and the replica all-reduce ends 5.13 ms after its last rank joined, not
    6.72. The analytic engine and the fast level start a collective when its group's last rank joins (one
    price per collective): 1.9 % longer. Equal there to 1e-9 (the collectives' prices are one); on a switch
    node (equal links) all three agree; the fuzz lists the mesh case as ``uneven``, apart from the 1 % claim."""
    mesh = ["cluster.device=v100", "cluster.intra_node=nvlink2", "cluster.intra_topology=hybrid-cube-mesh"]
    scenario = load_scenario(SCENARIOS / "resnet50-32-v100-100gbe.yaml", MESH_CASE.split() + mesh)
    analytic, fast = predict(scenario), simulate(scenario, fidelity="fast")
    chunk = simulate(scenario, fidelity="chunk")
    assert abs(fast.step_time_s / analytic.step_time_s - 1) < 1e-9
    assert chunk.step_time_s / analytic.step_time_s - 1 == pytest.approx(-0.0192, abs=5e-4)
    assert _uneven(chunk) and not _uneven(fast)
    # the replica all-reduce alone on the cluster, local ranks 2 and 3 joining 1.6 ms early
    cluster = build_cluster(scenario)
    _, replica = Groups.hybrid(16, 2)
    early = np.where(np.arange(16) % 4 >= 2, -1.6e-3, 0.0)
    for fidelity, together, staggered in (("fast", 6.7167e-3, 6.7167e-3), ("chunk", 6.7167e-3, 5.1267e-3)):
        engine = make_engine(fidelity, cluster, "halving-doubling")
        assert float(engine.evaluate("allreduce", 12778516.0, np.zeros(16), replica).max()) == pytest.approx(
            together, abs=1e-7
        )
        assert float(engine.evaluate("allreduce", 12778516.0, early, replica).max()) == pytest.approx(
            staggered, abs=1e-7
        )
    switch = load_scenario(SCENARIOS / "resnet50-32-v100-100gbe.yaml", MESH_CASE.split() + mesh[:2])
    assert abs(simulate(switch, fidelity="chunk").step_time_s / predict(switch).step_time_s - 1) < 1e-3


def test_the_agreement_fuzz_draws_only_cases_the_validators_accept() -> None:
    """``benchmarks/agreement_fuzz.py`` drew 73-120 refused cases in every 150 (an all-reduce algorithm under
    ZeRO-2/3 or FSDP, TP x PP not dividing the ranks, TP not dividing GPT-2 XL's 25 heads, DeepSpeed ZeRO-2/3 with
    stages) and skipped them: 113 of its first 263 draws for seed 0. Its draw now takes every field bound to
    others among the values the scenario's validators accept, so each draw is a case; the field choices still
    cover TP/PP, the interleaved schedule, tree and halving-doubling, HYBRID_SHARD groups and every bundled file."""
    import random

    fuzz = load_benchmark("agreement_fuzz")
    rng = random.Random(0)
    seen: set[str] = set()
    for _ in range(100):
        path, sets = fuzz.draw(rng)
        load_scenario(path, sets)  # raises ScenarioError on a refused draw
        seen.add(path.name)
        seen.update(s.split("=")[0] + ("" if s.split("=")[1] in ("1", "false") else "+") for s in sets)
    assert {"training.tensor_parallel+", "training.pipeline_parallel+", "training.fsdp_shard_group+"} <= seen
    assert {p.name for p in fuzz.SCENARIOS} <= seen


@pytest.mark.parametrize(("slowdown", "before"), [(2.0, 0.1415), (1.2, 0.0333)])
def test_megatrons_overlapped_gathers_are_exposed_past_a_fast_ranks_slack_only(slowdown: float, before: float) -> None:
    """Megatron's post-step gathers overlap the next step's first forward (``overlap_param_gather``). With a
    straggler and a degraded NIC (gathers slower than a fast rank's forward) the simulator ended the step at the
    fast ranks' exposed gathers, measured against their own forward (+14.1 %, +3.3 %), where in a steady state that
    delay is absorbed: those ranks make every gradient bucket ready earlier than the straggler by more. Now a rank's
    exposure counts past that slack only (``dpsim.sim.training._slack``), and the simulator's step is the
    straggler's end, which is the analytic step (the slowest rank's forward): independent of the fast ranks."""
    scenario = load_scenario(
        SCENARIOS / "default.yaml",
        [
            "cluster.nodes=4", "cluster.workers_per_node=1", "cluster.inter_node.nics_per_node=1",
            "training.optimizer_sharding=megatron", "training.zero_stage=1", "communication.overlap=true",
            "communication.bucket=100MiB", "training.precision=fp32", "training.micro_batch=1",
            "training.global_batch=4", "variability.degraded_links=[{node: 2, factor: 0.25}]",
            f"variability.stragglers=[{{worker: 3, slowdown: {slowdown}}}]",
        ],
    )  # fmt: skip
    _agree_within_a_tenth_of_a_percent(scenario, before)
    sim = simulate(scenario)
    assert sim.extra["worker_wait_s"][3] == pytest.approx(0.0, abs=1e-9)  # the straggler ends last


def test_the_wider_fuzz_draws_the_training_fields_no_other_draw_sets() -> None:
    """``agreement_fuzz.py --wider`` (stop 39): after the ``--wide`` fields, the training fields the other draws
    leave at their defaults (the optimizer's state dtype, the accumulation pass, torch's pipelining runtime, the
    partition beside a straggler, ...), each draw accepted by the scenario's validators."""
    import random

    fuzz = load_benchmark("agreement_fuzz")
    rng = random.Random(1)
    seen: set[str] = set()
    for _ in range(60):
        path, sets = fuzz.draw(rng, wider=True)
        load_scenario(path, sets)  # raises ScenarioError on a refused draw
        seen.update(sets)
    wanted = {
        "training.optimizer_state_dtype=bf16",
        "training.pipeline_runtime=torch",
        "training.partition=weighted",
        "training.gradient_accumulation_pass=fsdp2",
        "training.gradient_clipping=true",
    }
    assert wanted <= seen, wanted - seen


def test_the_widest_fuzz_draws_the_combinations_the_wider_draws_leave_rare() -> None:
    """``agreement_fuzz.py --widest`` (stop 40): after the ``--wider`` fields, the pipeline's transfers and slow
    inter-node links, the calibration profile under sharded optimizers, HYBRID_SHARD beside a degraded NIC and FSDP2's
    accumulation pass, each draw accepted by the scenario's validators. A seed's first ``--wider`` case is drawn as
    before: its fields open the ``--widest`` one, in order."""
    import random

    fuzz = load_benchmark("agreement_fuzz")
    rng = random.Random(0)
    seen: set[str] = set()
    profiled: set[str] = set()
    for _ in range(120):
        path, sets = fuzz.draw(rng, widest=True)
        load_scenario(path, sets)  # raises ScenarioError on a refused draw
        seen.update(s.split("=")[0] + ("=" + s.split("=")[1] if "pipeline_p2p" in s else "") for s in sets)
        if any(s.startswith("calibration.profile=") for s in sets):
            profiled.update(s for s in sets if s.startswith("training.optimizer_sharding="))
    wanted = {
        "training.pipeline_p2p=synchronous",
        "cluster.inter_node.bandwidth",
        "training.fsdp_shard_group",
        "variability.degraded_links",
        "training.gradient_accumulation_pass",
    }
    assert wanted <= seen, wanted - seen
    assert {"training.optimizer_sharding=fsdp", "training.optimizer_sharding=megatron"} <= profiled
    for seed in range(10):
        path, wider = fuzz.draw(random.Random(seed), wider=True)
        again, widest = fuzz.draw(random.Random(seed), widest=True)
        keys = [s.split("=")[0] for s in widest]
        assert again == path and [s.split("=")[0] for s in wider] == keys[: len(wider)]


@pytest.mark.parametrize(
    ("shape", "node"),
    [
        ("cluster.nodes=2 training.pipeline_parallel=2", 1),  # each stage one node: the sends cross node 1's NIC
        ("cluster.nodes=4 training.pipeline_parallel=2", 3),  # stage 1's data-parallel groups span nodes 2 and 3
        ("cluster.nodes=4 training.pipeline_parallel=2", 0),
    ],
)
def test_a_degraded_nic_slows_both_engines_alike_under_pipeline_parallelism(shape: str, node: int) -> None:
    """A NIC at half speed on one node of a pipeline-parallel job (llama2-7b, 8 GPUs a node, TP 1, PP 2) slows the
    replica whose traffic crosses it: its pipeline sends into and out of the node and its data-parallel collectives
    where they span nodes (:func:`dpsim.analytic.step.with_degraded_nics`). Both engines now slow the same terms:
    before, the simulator's pipeline sends ignored the NIC (the step on 2 nodes unmoved there, 0.19 % shorter than
    the analytic step), and its data-parallel group dropped a degraded node past the first stage's block of nodes
    (node 3 of 4)."""
    sets = [*shape.split(), "training.tensor_parallel=1", "training.global_batch=auto"]
    path = SCENARIOS / "llama2-7b-128-h100-zero1.yaml"
    base = load_scenario(path, sets)
    slow = load_scenario(path, [*sets, f"variability.degraded_links=[{{node: {node}, factor: 0.5}}]"])
    analytic = predict(slow).step_time_s - predict(base).step_time_s
    sim = simulate(slow).step_time_s - simulate(base).step_time_s
    assert analytic > 1e-4 * predict(base).step_time_s
    assert sim == pytest.approx(analytic, rel=1e-3)


HOST_FUZZED: list[tuple[str, str, float]] = [
    # (bundled scenario, overrides, sim/analytic - 1 before stop 37): agreement_fuzz.py --host-topology --cases 300,
    # seeds 1-8: every case past 1 % then but one (HYBRID_SHARD, tree replicas, uneven ranks: +1.33 %, README)
    (  # seed 1, uneven ranks
        "resnet50-32-v100-100gbe.yaml",
        "cluster.nodes=2 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=1 training.zero_stage=2 "
        "training.optimizer_sharding=fsdp communication.overlap=false communication.bucket=400MB "
        "training.precision=bf16 training.micro_batch=4 training.global_batch=192 communication.algorithm=ring "
        "cluster.intra_node=pcie5 cluster.host_topology.sockets=1 cluster.host_topology.gpus_per_switch=4 "
        "cluster.host_topology.p2p=true cluster.host_topology.p2p_latency_us=8 communication.nccl_p2p_level=PXB",
        -0.0188,
    ),
    (  # seed 1, uneven ranks
        "resnet50-32-v100-100gbe.yaml",
        "cluster.nodes=3 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=1 training.zero_stage=3 "
        "training.optimizer_sharding=fsdp communication.overlap=true communication.bucket=25MiB "
        "training.precision=bf16 training.micro_batch=16 training.global_batch=384 communication.algorithm=ring "
        "cluster.intra_node=pcie5 cluster.host_topology.sockets=1 cluster.host_topology.gpus_per_switch=2 "
        "cluster.host_topology.p2p=true cluster.host_topology.p2p_latency_us=2.5 communication.protocol=Simple",
        -0.0151,
    ),
    (  # seed 2, uneven ranks
        "default.yaml",
        "cluster.nodes=3 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=1 training.zero_stage=3 "
        "training.optimizer_sharding=fsdp communication.overlap=false communication.bucket=25MiB "
        "training.precision=fp16 training.tensor_parallel=1 training.pipeline_parallel=1 training.micro_batch=2 "
        "training.global_batch=96 communication.algorithm=auto cluster.intra_node=pcie5 "
        "cluster.host_topology.sockets=1 cluster.host_topology.gpus_per_switch=4 cluster.host_topology.p2p=true "
        "communication.protocol=Simple",
        -0.0179,
    ),
    (  # seed 3, uneven ranks
        "resnet50-32-v100-100gbe.yaml",
        "cluster.nodes=3 cluster.workers_per_node=4 cluster.inter_node.nics_per_node=1 training.zero_stage=3 "
        "training.optimizer_sharding=zero communication.overlap=false communication.bucket=100MiB "
        "training.precision=fp16 training.micro_batch=4 training.global_batch=192 "
        "training.deepspeed_reduce_bucket_size=100000000 training.deepspeed_overlap_comm=false "
        "training.deepspeed_prefetch_bucket_size=5000000 communication.algorithm=auto cluster.intra_node=pcie5 "
        "cluster.host_topology.sockets=1 cluster.host_topology.gpus_per_switch=2 cluster.host_topology.p2p=true",
        -0.0242,
    ),
    (  # seed 4, uneven ranks
        "resnet50-32-v100-100gbe.yaml",
        "cluster.nodes=2 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=1 training.zero_stage=2 "
        "training.optimizer_sharding=zero communication.overlap=true communication.bucket=100MiB "
        "training.precision=bf16 training.micro_batch=4 training.global_batch=256 communication.algorithm=auto "
        "cluster.intra_node=pcie4 cluster.host_topology.sockets=1 cluster.host_topology.gpus_per_switch=2 "
        "cluster.host_topology.p2p=true",
        -0.0247,
    ),
    (  # seed 5, uneven ranks
        "default.yaml",
        "cluster.nodes=2 cluster.workers_per_node=4 cluster.inter_node.nics_per_node=1 training.zero_stage=3 "
        "training.optimizer_sharding=fsdp communication.overlap=true communication.bucket=50MB "
        "training.precision=bf16 training.micro_batch=2 training.global_batch=64 communication.algorithm=ring "
        "cluster.intra_node=pcie5 cluster.host_topology.sockets=1 cluster.host_topology.gpus_per_switch=2 "
        "cluster.host_topology.p2p=true cluster.host_topology.p2p_latency_us=8 communication.nccl_p2p_level=PIX "
        "communication.protocol=Simple",
        -0.0767,
    ),
    (  # seed 5, uneven ranks
        "default.yaml",
        "cluster.nodes=2 cluster.workers_per_node=4 cluster.inter_node.nics_per_node=1 training.zero_stage=1 "
        "training.optimizer_sharding=megatron communication.overlap=false communication.bucket=400MB "
        "training.precision=fp16 training.micro_batch=1 training.global_batch=16 communication.algorithm=auto "
        "cluster.intra_node=pcie5 cluster.host_topology.sockets=1 cluster.host_topology.gpus_per_switch=2 "
        "cluster.host_topology.p2p=true cluster.host_topology.p2p_latency_us=2.5 communication.protocol=auto",
        -0.0439,
    ),
    (  # seed 5
        "default.yaml",
        "cluster.nodes=2 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=2 training.zero_stage=0 "
        "training.optimizer_sharding=zero communication.overlap=true communication.bucket=100MiB "
        "training.precision=fp32 training.micro_batch=1 training.global_batch=16 communication.algorithm=tree "
        "cluster.intra_node=pcie4 cluster.host_topology.sockets=1 cluster.host_topology.gpus_per_switch=8 "
        "cluster.host_topology.p2p=true communication.protocol=Simple",
        +0.0391,
    ),
    (  # seed 6, uneven ranks
        "resnet50-32-v100-100gbe.yaml",
        "cluster.nodes=4 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=1 training.zero_stage=3 "
        "training.optimizer_sharding=fsdp communication.overlap=true communication.bucket=400MB "
        "training.precision=fp16 training.micro_batch=4 training.global_batch=256 communication.algorithm=ring "
        "cluster.intra_node=pcie4 cluster.host_topology.sockets=1 cluster.host_topology.gpus_per_switch=2 "
        "cluster.host_topology.p2p=true cluster.host_topology.p2p_latency_us=8",
        -0.0174,
    ),
    (  # seed 6
        "resnet50-32-v100-100gbe.yaml",
        "cluster.nodes=4 cluster.workers_per_node=4 cluster.inter_node.nics_per_node=1 training.zero_stage=2 "
        "training.optimizer_sharding=fsdp communication.overlap=true communication.bucket=50MB "
        "training.precision=bf16 training.micro_batch=16 training.global_batch=256 training.fsdp_no_sync=true "
        "communication.algorithm=auto cluster.intra_node=pcie5 cluster.host_topology.sockets=1 "
        "cluster.host_topology.gpus_per_switch=4 cluster.host_topology.p2p=false communication.nccl_p2p_level=PXB",
        -0.0135,
    ),
    (  # seed 6
        "llama2-7b-128-h100-zero1.yaml",
        "cluster.nodes=2 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=1 training.zero_stage=0 "
        "training.optimizer_sharding=zero communication.overlap=true communication.bucket=50MB "
        "training.precision=bf16 training.micro_batch=1 training.global_batch=32 communication.algorithm=tree "
        "cluster.intra_node=pcie4 cluster.host_topology.sockets=1 cluster.host_topology.gpus_per_switch=8 "
        "cluster.host_topology.p2p=true communication.protocol=LL128",
        +0.0758,
    ),
    (  # seed 7, uneven ranks
        "resnet50-32-v100-100gbe.yaml",
        "cluster.nodes=2 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=1 training.zero_stage=1 "
        "training.optimizer_sharding=zero communication.overlap=true communication.bucket=25MiB "
        "training.precision=fp16 training.micro_batch=4 training.global_batch=64 "
        "training.deepspeed_reduce_bucket_size=2000000 training.deepspeed_overlap_comm=true "
        "communication.algorithm=auto cluster.intra_node=pcie5 cluster.host_topology.sockets=1 "
        "cluster.host_topology.gpus_per_switch=2 cluster.host_topology.p2p=true "
        "cluster.host_topology.p2p_latency_us=8",
        -0.0229,
    ),
    (  # seed 8
        "resnet50-32-v100-100gbe.yaml",
        "cluster.nodes=4 cluster.workers_per_node=4 cluster.inter_node.nics_per_node=1 training.zero_stage=3 "
        "training.optimizer_sharding=fsdp communication.overlap=true communication.bucket=400MB "
        "training.precision=fp32 training.micro_batch=4 training.global_batch=256 communication.algorithm=ring "
        "cluster.intra_node=pcie5 cluster.host_topology.sockets=1 cluster.host_topology.gpus_per_switch=2 "
        "cluster.host_topology.p2p=false",
        -0.0164,
    ),
]


@pytest.mark.parametrize(("name", "overrides", "before"), HOST_FUZZED, ids=[f"{i}" for i in range(len(HOST_FUZZED))])
def test_fuzzed_pcie_host_topologies_agree(name: str, overrides: str, before: float) -> None:
    """PCIe nodes with a host topology where the engines parted (``HOST_FUZZED``): rings mixing P2P and host-memory
    edges behind a NIC (SHM's receive-only step, now on the SHM edges' transfers of every ring step,
    :mod:`dpsim.sim.collectives.nccl`) and trees whose flows of unequal bytes share a GPU's one PCIe port (one step
    priced by the chunk level's max-min fluid, :func:`dpsim.sim.cost.phase_cost`): within 0.1 % now."""
    _agree_within_a_tenth_of_a_percent(load_scenario(SCENARIOS / name, overrides.split()), before)


def test_random_pcie_host_topologies_agree() -> None:
    """A deterministic sample of the PCIe host-topology scenarios ``benchmarks/agreement_fuzz.py --host-topology``
    draws (seed 37, the first 40: sockets, GPUs a switch, CPU class, P2P or not, a measured P2P latency, NCCL_P2P_LEVEL,
    1-4 nodes, 1-8 GPUs and NICs, every algorithm and protocol, TP / PP / ZeRO / FSDP): both engines within the
    project's 1 % on every one, none skipped. Before stop 37 the engines parted on such nodes where a ring mixed P2P
    and host-memory edges behind a NIC (SHM's receive-only step: up to 7.7 % apart on a step) and where a tree's
    flows of unequal bytes shared a PCIe port (up to 7.6 %); 2,400 drawn cases: 14 past 1 % then, 1 now."""
    import random

    fuzz = load_benchmark("agreement_fuzz")
    rng = random.Random(37)
    worst = 0.0
    for _ in range(40):
        path, sets = fuzz.draw(rng, host=True)
        scenario = load_scenario(path, sets)
        analytic, sim = predict(scenario).step_time_s, simulate(scenario).step_time_s
        worst = max(worst, abs(sim / analytic - 1))
        assert abs(sim / analytic - 1) < 0.01, (
            f"{path.name} {' '.join(sets)}: sim/analytic - 1 = {sim / analytic - 1:+.2%}"
        )
    assert worst > 0  # the sample holds cases the engines do not price alike to the bit


@pytest.mark.parametrize(
    ("name", "shape", "node"),
    [
        # agreement_fuzz.py --wide: a NIC at half speed behind 2:1 leaf uplinks, one node a leaf (analytic +20 %)
        ("llama2-7b-128-h100-zero1.yaml", "cluster.topology.kind=fat-tree cluster.topology.nodes_per_leaf=1", 1),
        # the parameter server's port, which carries every node's bytes, binds (analytic +100 %)
        ("cpu-cluster-4-ranks-1gbit.yaml", "cluster.nodes=4 communication.algorithm=parameter-server", 3),
    ],
)
def test_a_degraded_nic_slows_only_its_own_links(name: str, shape: str, node: int) -> None:
    """A degraded NIC (``variability.degraded_links``) slows that node's NIC links, not the fabric behind them: a
    ring all-reduce across 2:1 leaf uplinks (one node a leaf) already runs at half the NIC rate on every node, so
    a NIC at half speed leaves the step as it is (min(0.5, 1/2), by hand); a parameter server's one port carries all
    four nodes' bytes, so one worker NIC at half speed (two nodes' worth of time on its link) leaves it as it is too.
    Both engines now price the group on one cluster with only that node's NICs slowed
    (:attr:`dpsim.analytic.collectives.Fabric.degraded_nics`); before, the analytic engine scaled every inter-node
    link of the group (the uplinks to 0.25, the server's port to 0.5) and the simulator only the NIC."""
    sets = [*shape.split(), "cluster.topology.oversubscription=2", "training.global_batch=auto"]
    base = load_scenario(SCENARIOS / name, sets)
    slow = load_scenario(SCENARIOS / name, [*sets, f"variability.degraded_links=[{{node: {node}, factor: 0.5}}]"])
    for engine in (predict, simulate):
        assert engine(slow).step_time_s == pytest.approx(engine(base).step_time_s, rel=1e-9)


@pytest.mark.parametrize(
    ("sets", "factor"),
    [
        (["variability.stragglers=[{worker: 0, slowdown: 2}]"], 5 / 4),
        (["variability.stragglers=[{worker: 5, slowdown: 1.5}]"], 5 / 4),
        (["variability.stragglers=[{worker: 3, slowdown: 1.3}, {worker: 9, slowdown: 1.7}]",
          "communication.overlap=false"], 1.3),
    ],
)  # fmt: skip
def test_uneven_shares_are_priced_on_the_rank_that_ends_last(sets: list[str], factor: float) -> None:
    """``training.partition: weighted`` gives a straggler fewer samples and the others the spare ones, so the rank
    whose micro-batch ends last need not be the slowest: on the default scenario (256 samples a micro-step over 64
    ranks) a straggler at 2× (or 1.5×) keeps 2 (or 3) samples and two (or one) others take 5, 5/4 of the nominal
    micro-batch; with stragglers at 1.3× and 1.7× the first keeps 4 (4 × 1.3 / 4 = 1.3, the last to end), the second
    3, three others take 5 (1.25). The analytic engine priced the slowest rank at the nominal share (+57 %, +19 % and
    +28 % on the step against the simulator); both engines now take each rank's share from ``worker_microbatches``."""
    scenario = load_scenario(None, [*sets, "training.partition=weighted"])
    a, s = predict(scenario), simulate(scenario)
    assert max(s.extra["worker_samples"]) == 5 and min(s.extra["worker_samples"]) < 4
    assert a.step_time_s == pytest.approx(s.step_time_s, rel=1e-3)
    assert a.compute_s == pytest.approx(s.compute_s, rel=1e-9)
    nominal = predict(load_scenario(None, ["training.partition=weighted"]))
    assert a.extra["forward_s"] == pytest.approx(factor * nominal.extra["forward_s"], rel=1e-12)
    assert a.extra["backward_s"] == pytest.approx(factor * nominal.extra["backward_s"], rel=1e-12)


def test_a_profile_prices_the_nominal_micro_batch_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a calibration profile every rank of the equal-share path takes the nominal micro-batch that
    ``microbatch_times`` priced (``worker_microbatches`` priced it again from the fit: one concept, two calls);
    a weighted share prices each other sample count once more. Both engines' steps are unchanged to the bit."""
    from dpsim.analytic.step import dp_slowdowns, worker_samples
    from dpsim.calibration import HardwareProfile

    calls: list[int] = []
    compute_for = HardwareProfile.compute_for

    def counted(self: HardwareProfile, scenario: Scenario, micro_batch: int) -> tuple[float, float]:
        calls.append(micro_batch)
        return compute_for(self, scenario, micro_batch)

    bundled = Path(__file__).resolve().parents[1] / "dpsim" / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml"
    sets = [f"calibration.profile={PROFILE}"]
    equal = load_scenario(bundled, sets)
    before = {engine: engine(equal).step_time_s for engine in (predict, simulate)}
    monkeypatch.setattr(HardwareProfile, "compute_for", counted)
    assert predict(equal).step_time_s == before[predict] and calls == [16]
    calls.clear()
    assert simulate(equal).step_time_s == before[simulate]  # its own compute model, and the predict its record reads
    calls.clear()
    weighted = load_scenario(bundled, [*sets, "training.partition=weighted", "variability.stragglers=[{worker: 0, "
                                               "slowdown: 2}]"])  # fmt: skip
    predict(weighted)
    counts = np.unique(worker_samples(weighted, dp_slowdowns(weighted))).astype(int).tolist()
    assert len(counts) > 1 and calls == [16, *(c for c in counts if c != 16)]  # the nominal first, then each share


PROFILE = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "plain-ddp-2026-12-05-j" / "profile.yaml"
"""A stored ``dpsim calibrate`` profile (gloo on the emulated cluster: fitted links and a shared-host model) that
``agreement_fuzz.py --wide`` applies to some draws."""

PROFILED: list[tuple[str, str, float]] = [
    # (bundled scenario, overrides, sim/analytic - 1 before stop 38) with calibration.profile=PROFILE:
    # agreement_fuzz.py --wide --cases 150, seeds 1-4, after the degraded-NIC fix (15 past 1 %, all with the profile)
    (  # Megatron's distributed optimizer, hierarchical, on the host
        "resnet50-32-v100-100gbe.yaml",
        "cluster.nodes=3 cluster.workers_per_node=1 cluster.inter_node.nics_per_node=2 training.zero_stage=1 "
        "training.optimizer_sharding=megatron communication.overlap=true communication.bucket=50MB "
        "training.precision=bf16 training.micro_batch=4 training.global_batch=12 "
        "communication.algorithm=hierarchical cluster.topology.kind=fat-tree cluster.topology.oversubscription=2 "
        "cluster.topology.nodes_per_leaf=1 communication.protocol=none",
        -0.4819,
    ),
    (  # PP 2 sends on the fitted links
        "default.yaml",
        "cluster.nodes=2 cluster.workers_per_node=2 cluster.inter_node.nics_per_node=2 training.zero_stage=2 "
        "training.optimizer_sharding=fsdp communication.overlap=true communication.bucket=400MB "
        "training.precision=fp32 training.tensor_parallel=1 training.pipeline_parallel=2 training.micro_batch=1 "
        "training.global_batch=2 training.fsdp_shard_group=1 communication.algorithm=hierarchical "
        "cluster.topology.kind=fat-tree cluster.topology.oversubscription=4 cluster.topology.nodes_per_leaf=16 "
        'variability.degraded_links=[{"node":1,"factor":0.5}] communication.protocol=none',
        -0.699,
    ),
    (  # TP 4 on the fitted links
        "llama2-7b-128-h100-zero1.yaml",
        "cluster.nodes=2 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=8 training.zero_stage=2 "
        "training.optimizer_sharding=fsdp communication.overlap=false communication.bucket=50MB "
        "training.precision=bf16 training.tensor_parallel=4 training.pipeline_parallel=1 training.micro_batch=1 "
        "training.global_batch=8 communication.algorithm=ring cluster.topology.kind=switch "
        "cluster.rank_order=node_major training.sequence_parallel=false training.tp_async_grad_allreduce=true "
        "communication.protocol=none",
        -0.1031,
    ),
    (  # DeepSpeed ZeRO-2's buckets beside the backward on the host
        "default.yaml",
        "cluster.nodes=4 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=16 training.zero_stage=2 "
        "training.optimizer_sharding=zero communication.overlap=true communication.bucket=25MiB "
        "training.precision=fp32 training.tensor_parallel=1 training.pipeline_parallel=1 training.micro_batch=2 "
        "training.global_batch=64 training.deepspeed_reduce_bucket_size=2000000 "
        "training.deepspeed_overlap_comm=true communication.algorithm=ring cluster.topology.kind=switch",
        -0.0836,
    ),
    (  # FSDP SHARD_GRAD_OP reduce-scatters beside the backward on the host
        "cpu-cluster-4-ranks-1gbit.yaml",
        "cluster.nodes=1 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=16 training.zero_stage=2 "
        "training.optimizer_sharding=fsdp communication.overlap=true communication.bucket=100MiB "
        "training.precision=fp16 training.micro_batch=16 training.global_batch=128 communication.algorithm=auto "
        "cluster.topology.kind=switch",
        -0.0291,
    ),
    (  # activation recomputation on the profile's compute fit (the draws with stragglers and recomputation)
        "resnet50-32-v100-100gbe.yaml",
        "cluster.nodes=1 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=16 training.zero_stage=0 "
        "training.optimizer_sharding=zero communication.overlap=true communication.bucket=400MB "
        "training.precision=fp32 training.micro_batch=16 training.global_batch=512 communication.algorithm=auto "
        "cluster.topology.kind=switch cluster.rank_order=round_robin training.activation_recomputation=full",
        -0.1457,
    ),
    (  # the same, Megatron's distributed optimizer on one node
        "cpu-cluster-4-ranks-1gbit.yaml",
        "cluster.nodes=1 cluster.workers_per_node=8 cluster.inter_node.nics_per_node=16 training.zero_stage=1 "
        "training.optimizer_sharding=megatron communication.overlap=true communication.bucket=50MB "
        "training.precision=fp32 training.micro_batch=4 training.global_batch=64 "
        "communication.algorithm=hierarchical cluster.topology.kind=fat-tree cluster.topology.oversubscription=4 "
        "cluster.topology.nodes_per_leaf=2 communication.protocol=none training.activation_recomputation=full",
        -0.1413,
    ),
    # stop 39: FSDP reducing every micro-batch under gradient accumulation, where the profile's shared-host window
    # stretches the last backward only (both engines) and the analytic engine took the last micro-batch's spill
    # past it for every earlier one (whose reductions spill past its bare backward, as simulated)
    (  # SHARD_GRAD_OP, 2 micro-batches: the --wide case left at +46.4 % (with degraded NICs and recomputation)
        "default.yaml",
        "cluster.nodes=2 cluster.workers_per_node=1 training.zero_stage=2 training.optimizer_sharding=fsdp "
        "training.precision=fp32 training.micro_batch=2 training.global_batch=8",
        0.2447,
    ),
    (  # the same on 3 CPU nodes of 8, hierarchical, round-robin ranks: the --wide case left at +5.61 %
        "cpu-cluster-4-ranks-1gbit.yaml",
        "cluster.nodes=3 cluster.workers_per_node=8 training.zero_stage=2 training.optimizer_sharding=fsdp "
        "communication.algorithm=hierarchical cluster.rank_order=round_robin training.micro_batch=16 "
        "training.global_batch=768",
        0.0561,
    ),
    (  # HYBRID_SHARD, shard groups of 2, 2 micro-batches
        "cpu-cluster-4-ranks-1gbit.yaml",
        "cluster.nodes=2 cluster.workers_per_node=4 training.zero_stage=2 training.optimizer_sharding=fsdp "
        "training.fsdp_shard_group=2 training.micro_batch=16 training.global_batch=256",
        0.1478,
    ),
    (  # HYBRID_SHARD, shard groups of 4, 3 micro-batches
        "cpu-cluster-4-ranks-1gbit.yaml",
        "cluster.nodes=2 cluster.workers_per_node=4 training.zero_stage=2 training.optimizer_sharding=fsdp "
        "training.fsdp_shard_group=4 training.micro_batch=16 training.global_batch=384",
        0.3072,
    ),
]


@pytest.mark.parametrize(("name", "overrides", "before"), PROFILED, ids=[f"{i}" for i in range(len(PROFILED))])
def test_a_calibrated_profile_prices_both_engines_alike(name: str, overrides: str, before: float) -> None:
    """A calibration profile under tensor / pipeline parallelism and sharded optimizers (``PROFILED``): the
    simulator priced TP collectives and pipeline sends on the catalog's links where the analytic engine took the
    profile's fitted ones (now both: :func:`dpsim.analytic.step.model_parallel_fabric`), and it let the gradient
    reduction's host threads compete with the backward (the profile's shared-host model,
    :meth:`dpsim.calibration.HardwareProfile.overlap_backward`) under DDP only, where the analytic engine did under
    every sharding whose buckets overlap a backward without gathers; and it took each rank's micro-batch from the
    profile's bare compute fit, without the recomputed share of the FLOPs or the gradient accumulation pass that the
    analytic engine adds (now one function, :func:`dpsim.analytic.step.profile_microbatch_times`): within 0.1 % now."""
    _agree_within_a_tenth_of_a_percent(
        load_scenario(SCENARIOS / name, [*overrides.split(), f"calibration.profile={PROFILE}"]), before
    )
