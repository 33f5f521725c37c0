"""Fields a scenario sets that nothing reads are named in the record (``extra.ignored_fields``), not refused.

A field is listed only where the step priced with it is the step priced with its default, to the bit, on both
engines (the test of "read by nothing"); where it is read it is not listed and the step moves. A scenario that sets
none of them prints as before: no ``ignored_fields`` key at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dpsim import api
from dpsim.errors import ScenarioError
from dpsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"
LLAMA = ROOT / "scenarios" / "llama2-7b-128-h100-zero1.yaml"
CPU = ROOT / "scenarios" / "cpu-cluster-4-ranks-1gbit.yaml"
RESNET = ROOT / "scenarios" / "resnet50-32-v100-100gbe.yaml"
SMALL_LLAMA = ["cluster.nodes=2", "training.global_batch=64"]
PP2 = [*SMALL_LLAMA, "training.pipeline_parallel=2", "training.zero_stage=0"]
ONE_NODE = ["cluster.nodes=1", "training.global_batch=32", "cluster.topology.kind=switch"]
PCIE_NODE = ["cluster.nodes=1", "cluster.intra_node=pcie4", "cluster.host_topology={gpus_per_switch: 2}"]
"""The default scenario on one PCIe node of 8 A100, two a switch (NCCL's default P2P level: PIX pairs P2P)."""
PCIE_GPUS_PER_NIC = "cluster.inter_node.pcie_gpus_per_nic=1"
H100_PCIE = ["cluster.device=h100-sxm", "cluster.intra_node=pcie5", "communication.overlap=false"]
GPT2_ON_CPU = ["model=gpt2-small", "training.micro_batch=1", "training.global_batch=4"]
TP_OVERLAP = ["training.tensor_parallel=2", "training.sequence_parallel=true", "training.tp_comm_overlap=true"]
FLAT = "cluster.device.efficiency=0.5"
FSDP = [*SMALL_LLAMA, "training.zero_stage=3", "training.optimizer_sharding=fsdp"]
ONE_RANK = ["cluster.nodes=1", "cluster.workers_per_node=1", "training.global_batch=16"]
FITTED = [
    "training.optimizer=adam",
    f"calibration.profile={ROOT / 'benchmarks/results/plain-ddp-2026-12-06-n/profile.yaml'}",
]
"""The CPU scenario priced with a profile whose optimizer fit times Adam's ``optimizer.step()`` (the -n session)."""
BF16_OPTIMIZER = "training.gradient_accumulation_pass=fp32_copy"
"""DeepSpeed's BF16_Optimizer under ``optimizer_sharding: zero`` (BigScience's bf16 runs)."""


def _step(path: Path, sets: list[str], engine: str) -> dict[str, Any]:
    record = api.run(load_scenario(path, sets), engine=engine).to_dict()
    for name in ("scenario", "scenario_hash"):
        record.pop(name)
    record["extra"].pop("ignored_fields", None)
    return record


def _ignored(path: Path, sets: list[str], engine: str = "analytic") -> dict[str, str]:
    return dict(api.run(load_scenario(path, sets), engine=engine).extra.get("ignored_fields", {}))


UNREAD = [
    (DEFAULT, [], ["training.pipeline_schedule=gpipe"], "training.pipeline_schedule"),
    (DEFAULT, [], ["training.pipeline_schedule=interleaved"], "training.pipeline_schedule"),
    # one model chunk a stage is Megatron-LM's plain 1F1B (Scenario.interleaves_chunks): with synchronous exchanges
    # at 2 stages it was priced with two exchanges a micro-batch (1.2192 s, 1F1B's one 1.2153 s on the default
    # scenario), and 3 micro-batches over 2 stages were refused as not divisible
    (LLAMA, PP2, ["training.pipeline_schedule=interleaved"], "training.pipeline_schedule"),
    (LLAMA, [*PP2, "training.pipeline_p2p=synchronous"], ["training.pipeline_schedule=interleaved"],
     "training.pipeline_schedule"),
    (LLAMA, [*PP2, "training.global_batch=24"], ["training.pipeline_schedule=interleaved"],
     "training.pipeline_schedule"),
    (LLAMA, SMALL_LLAMA, ["training.pipeline_p2p=synchronous"], "training.pipeline_p2p"),
    (CPU, [], ["training.pipeline_p2p=blocking"], "training.pipeline_p2p"),
    (LLAMA, SMALL_LLAMA, ["training.embedding_pipeline_slots=true"], "training.embedding_pipeline_slots"),
    (DEFAULT, [], ["training.pipeline_runtime=torch"], "training.pipeline_runtime"),
    (LLAMA, PP2, ["training.pipeline_releases_input_grads=true"], "training.pipeline_releases_input_grads"),  # megatron
    (
        LLAMA,
        [*PP2, "training.pipeline_p2p=blocking"],
        ["training.pipeline_grad_partitioned=false"],
        "training.pipeline_grad_partitioned",
    ),  # PP 2 without TP: activations and gradients travel whole either way
    (LLAMA, SMALL_LLAMA, ["training.sequence_parallel=true"], "training.sequence_parallel"),
    (LLAMA, PP2, ["training.sequence_parallel=true"], "training.sequence_parallel"),  # the p2p message / 1
    (DEFAULT, [], ["training.tp_async_grad_allreduce=true"], "training.tp_async_grad_allreduce"),
    (
        LLAMA,
        [*SMALL_LLAMA, "training.sequence_parallel=true"],
        ["training.tp_comm_overlap=true", "training.tp_overlap_kind=torch_async_tp"],
        "training.tp_comm_overlap",
    ),
    (
        LLAMA,
        SMALL_LLAMA,
        ["training.sequence_parallel=true", "training.sequence_parallel_kind=dtensor"],
        "training.sequence_parallel_kind",
    ),
    (DEFAULT, [], ["cluster.topology.oversubscription=4"], "cluster.topology.oversubscription"),
    (DEFAULT, [], ["cluster.topology.nodes_per_leaf=2"], "cluster.topology.nodes_per_leaf"),
    (
        DEFAULT,
        ["cluster.topology.kind=ring"],
        ["cluster.topology.oversubscription=2"],
        "cluster.topology.oversubscription",
    ),
    (DEFAULT, [], ["communication.nccl_nic_fusion=false"], "communication.nccl_nic_fusion"),  # one port a NIC
    (DEFAULT, [], ["cluster.device.sm_count=7"], "cluster.device.sm_count"),  # without gemm_waves
    (DEFAULT, [], ["cluster.device.gemm_tile=[64, 64]"], "cluster.device.gemm_tile"),
    (DEFAULT, ["cluster.device=v100"], ["cluster.device.gemm_waves=true"], "cluster.device.gemm_waves"),  # no SMs
    (CPU, [], ["cluster.device.sm_count=64", "cluster.device.gemm_tile=[32, 32]"], "cluster.device.sm_count"),
    # one node of 8 H100 on NVSwitch: NVLS runs (the cap is accepted), NVLS-tree, which reads it, does not
    (LLAMA, ONE_NODE, ["communication.nccl_nvlstree_max_chunksize=64KiB"], "communication.nccl_nvlstree_max_chunksize"),
    (DEFAULT, [], ["cluster.device.attention_efficiency=[0.4, 0.3]"], "cluster.device.attention_efficiency"),
    (
        DEFAULT,
        ["cluster.device=h100-sxm", "cluster.intra_node=nvlink4", "model.attention=flash"],
        ["cluster.device.attention_half_seq_fa2=[100, 100]", "cluster.device.attention_efficiency_fa2=[0.3, 0.2]"],
        "cluster.device.attention_half_seq_fa2",
    ),  # flash attention on the device's own kernels: FlashAttention-2's curves unread
    # NCCL's C2C path: the default release (2.30.7) enables LL128 on it as on PCIe, and the A100 has no NVLS-tree
    (DEFAULT, [], ["cluster.inter_node.nic_path=c2c"], "cluster.inter_node.nic_path"),
    (LLAMA, ONE_NODE, ["cluster.inter_node.nic_path=c2c"], "cluster.inter_node.nic_path"),  # no NIC on one node
    (CPU, [], ["cluster.inter_node.nic_path=c2c"], "cluster.inter_node.nic_path"),  # gloo
    # round 30: NCCL's tuner reads the host CPU's constants across nodes only, and gloo none
    (LLAMA, ONE_NODE, ["cluster.cpu_vendor=amd"], "cluster.cpu_vendor"),
    (CPU, [], ["cluster.cpu_vendor=amd"], "cluster.cpu_vendor"),
    # round 31: across nodes of GPUs with protocol none (every collective on the links' alpha-beta), TP and PP too
    (LLAMA, [*SMALL_LLAMA, "communication.protocol=none"], ["cluster.cpu_vendor=amd"], "cluster.cpu_vendor"),
    (LLAMA, [*PP2, "training.tensor_parallel=8", "communication.protocol=none"], ["cluster.cpu_vendor=amd"],
     "cluster.cpu_vendor"),
    (DEFAULT, [], ["training.fp32_matmul=tf32"], "training.fp32_matmul"),  # bf16 training
    (CPU, ["training.precision=fp32"], ["training.fp32_matmul=tf32"], "training.fp32_matmul"),  # no IEEE peak
    (
        DEFAULT,
        [],
        ["cluster.device.peak_flops_fp32=200TFLOP/s", "cluster.device.peak_flops_fp32_ieee=30TFLOP/s"],
        "cluster.device.peak_flops_fp32",
    ),  # bf16 training: neither fp32 peak
    (
        DEFAULT,
        ["training.precision=fp32"],
        ["cluster.device.peak_flops_fp32=200TFLOP/s"],
        "cluster.device.peak_flops_fp32",
    ),  # fp32_matmul ieee (the default): the A100's FP32 units' 19.5 TFLOP/s
    (
        LLAMA,
        SMALL_LLAMA,
        ["cluster.device.peak_flops_fp8=3PFLOP/s", "cluster.device.matmul_efficiency_fp8=0.5"],
        "cluster.device.peak_flops_fp8",
    ),  # bf16 training on H100s
    (DEFAULT, ["training.precision=fp32"], ["cluster.device.peak_flops=200TFLOP/s"], "cluster.device.peak_flops"),
    (CPU, [], ["cluster.device.peak_flops=2TFLOP/s"], "cluster.device.peak_flops"),  # fp32 on its fp32 peak
    (DEFAULT, [], ["training.ddp_at_one_rank=true"], "training.ddp_at_one_rank"),  # 64 data-parallel ranks
    (CPU, [], ["training.gradient_accumulation_pass=autograd"], "training.gradient_accumulation_pass"),  # 1 step
    (DEFAULT, [], ["variability.seed=3", "variability.jitter_distribution=gamma"], "variability.seed"),  # no jitter
    # a CNN is priced at one fraction of peak: the GEMM curve, its waves and the attention curves are not read
    (
        RESNET,
        [],
        ["cluster.device.gemm_waves=true", "cluster.device.sm_count=7", "cluster.device.kernel_overhead=9us"],
        "cluster.device.sm_count",
    ),
    (
        RESNET,
        [],
        ["cluster.device.matmul_efficiency=0.3", "cluster.device.gemm_epilogue_exposed=true"],
        "cluster.device.matmul_efficiency",
    ),
    (
        DEFAULT,
        ["cluster.device.efficiency=0.4"],
        ["cluster.device.kernel_overhead=9us", "cluster.device.flat_efficiency=0.3"],
        "cluster.device.kernel_overhead",
    ),  # the device's flat override
    (DEFAULT, [], ["cluster.device.flat_efficiency=0.3"], "cluster.device.flat_efficiency"),  # GPT-2's operations
    # DeepSpeed ZeRO-1 (the Llama scenario): reduce_bucket_size buckets, one post-step gather, overlap_comm off
    (LLAMA, SMALL_LLAMA, ["communication.bucket=100MB", "communication.overlap=false"], "communication.bucket"),
    (LLAMA, [*SMALL_LLAMA, "training.zero_stage=2"], ["communication.overlap=false"], "communication.overlap"),
    (LLAMA, [*SMALL_LLAMA, "training.zero_stage=3"], ["communication.bucket=1MB"], "communication.bucket"),
    (LLAMA, [*SMALL_LLAMA, "training.zero_stage=3", "training.deepspeed_prefetch_bucket_size=0",
             "training.deepspeed_overlap_comm=false"], ["communication.overlap=false"], "communication.overlap"),
    # PCIe nodes: two GPUs a switch, so NCCL's ring crosses between switches through host memory (SHM edges)
    (DEFAULT, PCIE_NODE, ["cluster.host_topology.p2p_latency_us=1.0"], "cluster.host_topology.p2p_latency_us"),
    # every edge P2P, but nothing runs NCCL's ring steps on the node: a textbook algorithm, protocol none, or
    # tensor parallelism leaving each data-parallel group two of the node's GPUs (no host topology)
    (DEFAULT, [*PCIE_NODE, "communication.nccl_p2p_level=SYS", "communication.algorithm=halving-doubling"],
     ["cluster.host_topology.p2p_latency_us=1.0"], "cluster.host_topology.p2p_latency_us"),
    (DEFAULT, [*PCIE_NODE, "communication.nccl_p2p_level=SYS", "communication.protocol=none"],
     ["cluster.host_topology.p2p_latency_us=1.0"], "cluster.host_topology.p2p_latency_us"),
    (DEFAULT, [*PCIE_NODE, "communication.nccl_p2p_level=SYS", "model=llama2-7b", "training.tensor_parallel=4",
               "training.global_batch=8", "training.micro_batch=1"],
     ["cluster.host_topology.p2p_latency_us=1.0"], "cluster.host_topology.p2p_latency_us"),
    # one node: no traffic crosses a NIC, so a degraded one changes nothing
    (LLAMA, ONE_NODE, ["variability.degraded_links=[{node: 0, factor: 0.5}]"], "variability.degraded_links"),
    # 8 nodes under one leaf of 16: nothing crosses the spine
    (DEFAULT, ["cluster.topology.kind=fat-tree"], ["cluster.topology.oversubscription=4"],
     "cluster.topology.oversubscription"),
    # at oversubscription 1 a leaf's uplink carries all its nodes' NICs: 8 nodes under 4 leaves or 8 price as under 1
    (DEFAULT, ["cluster.topology.kind=fat-tree"], ["cluster.topology.nodes_per_leaf=2"],
     "cluster.topology.nodes_per_leaf"),
    (DEFAULT, ["cluster.topology.kind=fat-tree", "communication.algorithm=parameter-server"],
     ["cluster.topology.nodes_per_leaf=1"], "cluster.topology.nodes_per_leaf"),
    # the host topology as a whole where no data-parallel group holds a whole node: tensor parallelism 2 or 4,
    # pipeline parallelism 2 on one node of 8 (each group 4, 2 or 4 of the 8), FSDP HYBRID_SHARD beside TP 2
    (DEFAULT, [*PCIE_NODE[:2], "model=llama2-7b", "training.tensor_parallel=4", "training.global_batch=8",
               "training.micro_batch=1"], [PCIE_NODE[2]], "cluster.host_topology"),
    (DEFAULT, [*PCIE_NODE[:2], "model=llama2-7b", "training.pipeline_parallel=2", "training.global_batch=16",
               "training.micro_batch=1"], ["cluster.host_topology={gpus_per_switch: 4, sockets: 2, cpu: amd}"],
     "cluster.host_topology"),
    (DEFAULT, [*PCIE_NODE[:2], "model=llama2-7b", "training.tensor_parallel=2", "training.micro_batch=1",
               "training.global_batch=16", "training.optimizer_sharding=fsdp", "training.zero_stage=3",
               "training.fsdp_shard_group=2"], [PCIE_NODE[2]], "cluster.host_topology"),
    (DEFAULT, [*PCIE_NODE[:2], "cluster.workers_per_node=1", "training.global_batch=8"],
     ["cluster.host_topology={gpus_per_switch: 1}"], "cluster.host_topology"),  # one GPU a node
    # DeepSpeed's BF16_Optimizer (fp32_copy) at stage 1: no gradient hooks, no reduce buckets or buffers; it
    # all-reduces its flat fp32 gradient after the backward (overlap_comm priced an overlap there: 1 ulp in the sim)
    (LLAMA, [*SMALL_LLAMA, BF16_OPTIMIZER, "training.deepspeed_overlap_comm=true"], ["communication.overlap=false"],
     "communication.overlap"),
    (LLAMA, [*SMALL_LLAMA, BF16_OPTIMIZER, "training.tensor_parallel=2"], ["training.deepspeed_overlap_comm=true"],
     "training.deepspeed_overlap_comm"),
    (LLAMA, [*SMALL_LLAMA, BF16_OPTIMIZER], ["training.deepspeed_reduce_bucket_size=1000"],
     "training.deepspeed_reduce_bucket_size"),
    # round 20: one GPU on each NIC's PCIe switch is read by PXN's relay (NVLink inside the node) and by NCCL's tree
    # falling back to its TREE pattern (Hopper and later): not on an A100 PCIe node, on one node, at one GPU a node,
    # under gloo, nor by a ring on an H100 PCIe node
    *[(path, base, [PCIE_GPUS_PER_NIC], "cluster.inter_node.pcie_gpus_per_nic") for path, base in (
        (DEFAULT, ["cluster.intra_node=pcie4", "communication.overlap=false"]),
        (DEFAULT, [*ONE_NODE, "cluster.device=h100-sxm", "cluster.intra_node=nvlink4", "communication.algorithm=tree"]),
        (DEFAULT, ["cluster.workers_per_node=1", "cluster.inter_node.nics_per_node=1", "training.global_batch=32",
                   "cluster.device=h100-sxm", "cluster.intra_node=nvlink4", "communication.algorithm=tree"]),
        (CPU, []),
        (DEFAULT, [*H100_PCIE, "communication.algorithm=ring"]),
    )],
    # round 20: a GPU's link to its NIC on one node, where nothing crosses a NIC
    (DEFAULT, [*ONE_NODE, "communication.overlap=false"], ["cluster.host_link={bandwidth: 10GB/s, latency: 50us}"],
     "cluster.host_link"),
    (DEFAULT, [*ONE_NODE, "communication.overlap=false"], ["cluster.host_link=pcie3"], "cluster.host_link"),
    # round 20: the learning rate is the runtime's optimizer's (no engine module reads it)
    (DEFAULT, [], ["training.learning_rate=0.5"], "training.learning_rate"),
    (LLAMA, [*SMALL_LLAMA, "training.zero_stage=3"], ["training.learning_rate=3e-4"], "training.learning_rate"),
    # round 22: a step's micro-batch splits into equal shards under every scheme while the ranks' paces are equal
    (DEFAULT, [], ["training.partition=contiguous"], "training.partition"),
    (DEFAULT, [], ["training.partition=weighted"], "training.partition"),
    (DEFAULT, ["variability.stragglers=[{worker: 5, slowdown: 1.5}]"], ["training.partition=contiguous"],
     "training.partition"),
    (LLAMA, [*PP2, "variability.stragglers=[" + ", ".join(f"{{worker: {r}, slowdown: 2}}" for r in range(8, 16)) + "]"],
     ["training.partition=weighted"], "training.partition"),  # every data-parallel rank has one slow stage
    # stop 42 (stop 41's hostile probe): a transformer's memory-bound kernels where the step is priced flat (a CPU,
    # the device's efficiency set; with TP's overlapped collectives beside its GEMMs too)
    *[(path, base, [f"model.{field}"], f"model.{field.split('=')[0]}") for path, base in (
        (CPU, GPT2_ON_CPU), (DEFAULT, ["cluster.device.efficiency=0.5"]), (LLAMA, [*SMALL_LLAMA, *TP_OVERLAP, FLAT]),
    ) for field in ("norm_kernel=torch_two_pass", "rope_kernels=rotate_half", "bias_dropout_fusion=false",
                    "mlp_fused_bias=false", "attention_qkv_copies=true", "attention_nan_to_num=true")],
    (CPU, [*GPT2_ON_CPU, "model.attention=flash"], ["model.attention_kernel=fa2"], "model.attention_kernel"),
    # selective recomputation on a model without attention; FSDP's no_sync at one accumulation step; DDP's bucket
    # views and overlap where no reducer runs (one data-parallel rank); plain SGD's foreach update (12 bytes either way)
    (CPU, [], ["training.activation_recomputation=selective"], "training.activation_recomputation"),
    (RESNET, [], ["training.activation_recomputation=selective"], "training.activation_recomputation"),
    (LLAMA, [*FSDP, "training.global_batch=16"], ["training.fsdp_no_sync=true"], "training.fsdp_no_sync"),
    (CPU, ONE_RANK, ["training.gradient_as_bucket_view=true"], "training.gradient_as_bucket_view"),
    (LLAMA, [*ONE_NODE, "training.tensor_parallel=4", "training.pipeline_parallel=2", "training.zero_stage=0",
             "training.global_batch=8"], ["training.gradient_as_bucket_view=true"], "training.gradient_as_bucket_view"),
    (CPU, ONE_RANK, ["communication.overlap=false"], "communication.overlap"),
    (CPU, [*ONE_RANK, "training.ddp_at_one_rank=true"], ["communication.overlap=false"], "communication.overlap"),
    (LLAMA, [*ONE_NODE, "training.tensor_parallel=8", "training.global_batch=8"], ["communication.overlap=false"],
     "communication.overlap"),
    (LLAMA, [*ONE_NODE, "training.tensor_parallel=4", "training.pipeline_parallel=2", "training.zero_stage=3",
             "training.optimizer_sharding=fsdp", "training.global_batch=8"], ["communication.overlap=false"],
     "communication.overlap"),
    (CPU, [], ["training.optimizer_kernels=foreach"], "training.optimizer_kernels"),
    (DEFAULT, ["training.optimizer=sgd"], ["training.optimizer_kernels=foreach"], "training.optimizer_kernels"),
    # stop 43: a causal mask and gpt-neox's parallel block where every FLOP is priced at one fraction of peak (the
    # attention's FLOPs and the layer's operations are not priced; without TP no all-reduce count either)
    *[(path, base, [f"model.{f}"], f"model.{f.split('=')[0]}") for path, base in (
        (CPU, GPT2_ON_CPU), (DEFAULT, [FLAT])) for f in ("causal=false", "parallel_block=true")],
    # stop 43: under a profile's optimizer fit the update and clipping are the measured step's (unlisted before)
    (CPU, FITTED, ["training.optimizer_kernels=foreach"], "training.optimizer_kernels"),
    (CPU, FITTED, ["training.gradient_clipping=true"], "training.gradient_clipping"),
]  # fmt: skip


@pytest.mark.parametrize("engine", ["analytic", "sim"])
@pytest.mark.parametrize(("path", "base", "sets", "field"), UNREAD)
def test_a_field_read_by_nothing_is_named_and_changes_nothing(
    path: Path, base: list[str], sets: list[str], field: str, engine: str
) -> None:
    assert _step(path, [*base, *sets], engine) == _step(path, base, engine)
    ignored = _ignored(path, [*base, *sets], engine)
    assert field in ignored
    assert set(ignored) == {s.split("=")[0] for s in sets} | set(_ignored(path, base, engine))


ONE_GPU = ["cluster.nodes=1", "cluster.workers_per_node=1", "training.global_batch=16"]
TP8 = [*ONE_NODE, "training.tensor_parallel=8", "training.global_batch=8"]
TP4_PP2 = [*ONE_NODE, "training.tensor_parallel=4", "training.pipeline_parallel=2", "training.zero_stage=0",
           "training.global_batch=8"]  # fmt: skip
TP8_PP2 = ["cluster.nodes=2", "training.tensor_parallel=8", "training.pipeline_parallel=2", "training.zero_stage=0",
           "training.global_batch=8"]  # fmt: skip
ECHOES = ("collective_algorithm", "collective_protocol", "bucket_bytes", "buckets", "gradient_bytes")
"""What a record says of its gradient collective (and the record's ``algorithm``): the setting echoed, at one
data-parallel rank a collective that never runs."""

WITHOUT_GRADIENT_COLLECTIVE = [
    # one rank in all (stop 42's lead: unlisted before; the runtime's reading of them aside)
    *[(CPU, ONE_RANK, f"communication.{f}") for f in ("algorithm=tree", "bucket=1MiB", "dtype=bf16")],
    *[(DEFAULT, ONE_GPU, f"communication.{f}") for f in (
        "algorithm=ring", "protocol=LL", "bucket=1MiB", "dtype=fp32", "nccl_algo=[Ring]", "nccl_proto=[Simple]",
        "nccl_buffsize=1MiB", "nccl_version=2.18.3", "nccl_pxn_disable=true")],
    # one data-parallel rank beside tensor and pipeline parallelism: their rings and sends read none of these
    *[(LLAMA, base, f"communication.{f}") for base in (TP8, TP4_PP2, TP8_PP2)
      for f in ("algorithm=tree", "protocol=Simple", "bucket=1MiB")],
]  # fmt: skip


def _unechoed(path: Path, sets: list[str], engine: str) -> dict[str, Any]:
    record = _step(path, sets, engine)
    record.pop("algorithm")
    record["extra"] = {k: v for k, v in record["extra"].items() if k not in ECHOES}
    return record


@pytest.mark.parametrize("engine", ["analytic", "sim"])
@pytest.mark.parametrize(("path", "base", "field"), WITHOUT_GRADIENT_COLLECTIVE)
def test_the_gradient_collectives_settings_are_named_where_there_is_none(
    path: Path, base: list[str], field: str, engine: str
) -> None:
    """Each is the same step to the bit (what the record says of the collective aside: :data:`ECHOES`) and named."""
    assert _unechoed(path, [*base, field], engine) == _unechoed(path, base, engine)
    ignored = _ignored(path, [*base, field], engine)
    assert set(ignored) == {field.split("=")[0]} | set(_ignored(path, base, engine))


def test_the_gradient_collectives_settings_are_read_where_it_runs() -> None:
    """Not named where they are read: with data parallelism (the step moves), a DDP reducer's bucket and dtype at
    one rank (``ddp_at_one_rank``: its buckets are built), NCCL's settings beside tensor parallelism."""
    assert _step(DEFAULT, ["communication.algorithm=ring"], "analytic") != _step(DEFAULT, [], "analytic")
    assert "communication.algorithm" not in _ignored(DEFAULT, ["communication.algorithm=ring"])
    ddp = [*ONE_RANK, "training.ddp_at_one_rank=true"]
    assert not {"communication.bucket", "communication.dtype"} & set(
        _ignored(CPU, [*ddp, "communication.bucket=1MiB", "communication.dtype=bf16"])
    )
    assert "communication.nccl_version" not in _ignored(LLAMA, [*TP8, "communication.nccl_version=2.18.3"])


def test_interleaved_at_one_chunk_under_torchs_pipelining_is_refused() -> None:
    """torch's ScheduleInterleaved1F1B at one stage a rank is not 1F1B (it warms up 2(p-1-rank) forwards) and
    torchtitan refuses it: refused, naming virtual_stages, not priced as 1F1B."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(LLAMA, [*PP2, "training.pipeline_runtime=torch", "training.pipeline_schedule=interleaved"])
    assert info.value.field == "training.virtual_stages"
    assert "needs virtual_stages >= 2 (got 1)" in info.value.message
    torch = [*PP2, "training.pipeline_runtime=torch", "training.pipeline_schedule=interleaved"]
    assert load_scenario(LLAMA, [*torch, "training.virtual_stages=2"]).interleaves_chunks


READ = [
    (DEFAULT, [FLAT], ["model.flops_per_sample=1e12"], "model.flops_per_sample"),  # one fraction of peak: the count
    (LLAMA, [*SMALL_LLAMA, "training.tensor_parallel=2"], ["training.sequence_parallel=true"],
     "training.sequence_parallel"),
    (LLAMA, [*SMALL_LLAMA, "training.tensor_parallel=2", "training.sequence_parallel=true"],
     ["training.sequence_parallel_kind=dtensor"], "training.sequence_parallel_kind"),
    (LLAMA, PP2, ["training.pipeline_p2p=synchronous"], "training.pipeline_p2p"),
    (LLAMA, PP2, ["training.pipeline_runtime=torch"], "training.pipeline_runtime"),  # its stage buffers' memory
    (LLAMA, [*PP2, "training.pipeline_runtime=torch"], ["training.pipeline_releases_input_grads=true"],
     "training.pipeline_releases_input_grads"),  # stage 1's kept input gradients
    (LLAMA, [*PP2, "cluster.nodes=4", "training.global_batch=128"], ["training.pipeline_schedule=gpipe"],
     "training.pipeline_schedule"),
    (DEFAULT, ["cluster.topology.kind=fat-tree", "cluster.topology.nodes_per_leaf=2"],
     ["cluster.topology.oversubscription=4"], "cluster.topology.oversubscription"),
    (DEFAULT, ["cluster.inter_node.nics_per_node=8", "cluster.inter_node.ports_per_nic=2"],
     ["communication.nccl_nic_fusion=false"], "communication.nccl_nic_fusion"),
    (DEFAULT, ["cluster.device.gemm_waves=true"], ["cluster.device.sm_count=7"], "cluster.device.sm_count"),
    (DEFAULT, ["cluster.device.gemm_waves=true"], ["cluster.device.gemm_tile=[64, 64]"], "cluster.device.gemm_tile"),
    (DEFAULT, [], ["cluster.device.gemm_waves=true"], "cluster.device.gemm_waves"),  # A100: 108 SMs
    (DEFAULT, ["variability.stragglers=[{worker: 5, slowdown: 1.5}]"], ["training.partition=weighted"],
     "training.partition"),
    (LLAMA, [*SMALL_LLAMA, "training.zero_stage=0", "communication.algorithm=nvls-tree"],
     ["communication.nccl_nvls_chunksize=8KiB"], "communication.nccl_nvls_chunksize"),  # 2 nodes: NVLS-tree's fill
    # one node: NVLS all-reduces 4 GiB buckets in 512 KiB chunks (128 KiB unset): its fill, comm 0.0486 -> 0.0497 s
    (LLAMA, [*ONE_NODE, "training.zero_stage=0", "communication.algorithm=nvls", "communication.bucket=4GiB"],
     ["communication.nccl_nvls_chunksize=512KiB"], "communication.nccl_nvls_chunksize"),
    (DEFAULT, ["model.attention=flash"], ["cluster.device.attention_efficiency=[0.4, 0.3]"],
     "cluster.device.attention_efficiency"),
    (DEFAULT, ["cluster.device=h100-sxm", "cluster.intra_node=nvlink4", "model.attention=flash",
               "model.attention_kernel=fa2"], ["cluster.device.attention_half_seq_fa2=[100, 100]"],
     "cluster.device.attention_half_seq_fa2"),
    # NCCL 2.26.2 sees the C2C path as PHB: no LL128 across nodes on the A100 (its tree LL128 buckets move)
    (DEFAULT, ["communication.nccl_version=2.26.2"], ["cluster.inter_node.nic_path=c2c"],
     "cluster.inter_node.nic_path"),
    (DEFAULT, ["training.precision=fp32"], ["training.fp32_matmul=tf32"], "training.fp32_matmul"),
    # every edge P2P (NCCL_P2P_LEVEL=SYS): each intra-node step of the gradient rings at the measured 1 us
    (DEFAULT, [*PCIE_NODE, "communication.nccl_p2p_level=SYS"], ["cluster.host_topology.p2p_latency_us=1.0"],
     "cluster.host_topology.p2p_latency_us"),
    (DEFAULT, ["training.precision=fp8", "cluster.device=h100-sxm", "cluster.intra_node=nvlink4"],
     ["cluster.device.peak_flops=800TFLOP/s"], "cluster.device.peak_flops"),  # fp8: the 16-bit rest reads it
    (DEFAULT, ["training.precision=fp32", "training.fp32_matmul=tf32"], ["cluster.device.peak_flops_fp32=200TFLOP/s"],
     "cluster.device.peak_flops_fp32"),
    (DEFAULT, ["training.precision=fp32"], ["cluster.device.peak_flops_fp32_ieee=30TFLOP/s"],
     "cluster.device.peak_flops_fp32_ieee"),
    (LLAMA, [*SMALL_LLAMA, "training.precision=fp8"], ["cluster.device.matmul_efficiency_fp8=0.5"],
     "cluster.device.matmul_efficiency_fp8"),
    (LLAMA, [*ONE_NODE, "cluster.workers_per_node=1", "training.global_batch=8", "training.zero_stage=0"],
     ["training.ddp_at_one_rank=true"], "training.ddp_at_one_rank"),  # one rank: DDP's bucket copies
    (DEFAULT, [], ["training.gradient_accumulation_pass=autograd"], "training.gradient_accumulation_pass"),  # 2 steps
    (RESNET, [], ["cluster.device.flat_efficiency=0.3"], "cluster.device.flat_efficiency"),
    (DEFAULT, [], ["cluster.device.kernel_overhead=9us"], "cluster.device.kernel_overhead"),
    # a parameter server above the spine: within one leaf its traffic still crosses the leaf's uplink (64 NICs / 100
    # below the server's one)
    (DEFAULT, ["cluster.topology.kind=fat-tree", "communication.algorithm=parameter-server"],
     ["cluster.topology.oversubscription=100"], "cluster.topology.oversubscription"),
    # DeepSpeed's overlap_comm: the gradient buckets reduce during the backward only with communication.overlap too
    (LLAMA, [*SMALL_LLAMA, "training.deepspeed_overlap_comm=true"],
     ["communication.overlap=false"], "communication.overlap"),
    (DEFAULT, [], ["variability.degraded_links=[{node: 0, factor: 0.5}]"], "variability.degraded_links"),
    # ZeRO-3's prefetch: the next pieces gathered ahead of their use
    (LLAMA, [*SMALL_LLAMA, "training.zero_stage=3"], ["communication.overlap=false"], "communication.overlap"),
    # under oversubscription a leaf's uplink is a bottleneck: 8 nodes under 4 leaves of 2 cross it, under 1 do not
    (DEFAULT, ["cluster.topology.kind=fat-tree", "cluster.topology.oversubscription=4"],
     ["cluster.topology.nodes_per_leaf=2"], "cluster.topology.nodes_per_leaf"),
    # each data-parallel group a whole PCIe node (pipeline stages on two nodes), and FSDP HYBRID_SHARD groups whose
    # transfers take the node's links: the host topology is read
    (DEFAULT, [*PCIE_NODE[:2], "cluster.nodes=2", "model=llama2-7b", "training.pipeline_parallel=2",
               "training.global_batch=16", "training.micro_batch=1"], [PCIE_NODE[2]], "cluster.host_topology"),
    (DEFAULT, [*PCIE_NODE[:2], "model=llama2-7b", "training.micro_batch=1", "training.global_batch=16",
               "training.optimizer_sharding=fsdp", "training.zero_stage=3", "training.fsdp_shard_group=2"],
     [PCIE_NODE[2]], "cluster.host_topology"),
    # two nodes: every inter-node transfer crosses the GPU's link to its NIC (0.0560 -> 0.0823 s of communication)
    (DEFAULT, ["communication.overlap=false"], ["cluster.host_link.latency=50us"], "cluster.host_link"),
    # NCCL's tree on Hopper falls back to its TREE pattern (the tuner's 0.85): on an H100 PCIe node (auto picks it)
    # and on NVLink, named
    (DEFAULT, H100_PCIE, [PCIE_GPUS_PER_NIC], "cluster.inter_node.pcie_gpus_per_nic"),
    (DEFAULT, ["cluster.device=h100-sxm", "cluster.intra_node=nvlink4", "communication.algorithm=tree",
               "communication.overlap=false"], [PCIE_GPUS_PER_NIC], "cluster.inter_node.pcie_gpus_per_nic"),
    # stop 42: the counterparts of the no-op cases above, where the field is read
    (DEFAULT, [], ["model.norm_kernel=torch_two_pass"], "model.norm_kernel"),  # priced by operations
    (LLAMA, [*SMALL_LLAMA, *TP_OVERLAP], ["model.norm_kernel=torch_two_pass"], "model.norm_kernel"),
    (CPU, [], ["training.activation_recomputation=full"], "training.activation_recomputation"),  # a rerun forward
    (LLAMA, [*FSDP, "training.global_batch=64"], ["training.fsdp_no_sync=true"], "training.fsdp_no_sync"),  # 2 steps
    (CPU, [*ONE_RANK, "training.ddp_at_one_rank=true"], ["training.gradient_as_bucket_view=true"],
     "training.gradient_as_bucket_view"),  # one rank under DDP: its bucket copies
    (CPU, [], ["communication.overlap=false"], "communication.overlap"),
    (CPU, ["training.optimizer=momentum"], ["training.optimizer_kernels=foreach"], "training.optimizer_kernels"),
    (CPU, ["training.optimizer=adam"], ["training.gradient_clipping=true"], "training.gradient_clipping"),  # no fit
    (DEFAULT, [], ["model.causal=false"], "model.causal"),  # priced by operations: the attention's FLOPs double
    (LLAMA, [*SMALL_LLAMA, "training.tensor_parallel=2", FLAT], ["model.parallel_block=true"],
     "model.parallel_block"),  # flat, but one all-reduce fewer in each layer's forward
]  # fmt: skip


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_a_price_per_device_hour_is_the_step_cost(engine: str) -> None:
    """Round 20: ``cluster.price_per_device_hour`` was read by nothing (``dpsim plan`` prices with ``--price``), so a
    price was accepted and silently ignored. Honoured now: the record's ``extra.cost_per_step`` is the rent of every
    device for one step, price · devices · step / 3600 s (by hand below), in both engines, a sweep's rows and the
    run table; without a price there is no such key."""
    from dpsim.report import format_result

    plain = api.run(load_scenario(DEFAULT, []), engine=engine)
    priced = api.run(load_scenario(DEFAULT, ["cluster.price_per_device_hour=2.5"]), engine=engine)
    assert "cost_per_step" not in plain.extra and "ignored_fields" not in priced.extra
    assert priced.step_time_s == plain.step_time_s
    assert priced.extra["cost_per_step"] == pytest.approx(2.5 * 64 * 0.6936874195315402 / 3600, rel=1e-12)
    assert priced.flat()["cost_per_step"] == priced.extra["cost_per_step"]
    assert "cost_per_step" in format_result(priced, "table") and "cost_per_step" not in format_result(plain, "table")


def test_the_seed_is_read_with_jitter() -> None:
    """``variability.seed`` and ``jitter_distribution`` draw the simulator's compute jitter: with a CV above 0 the
    step moves and they are not named."""
    base = ["variability.compute_jitter_cv=0.1"]
    for sets in (["variability.seed=3"], ["variability.jitter_distribution=gamma"]):
        assert _step(DEFAULT, [*base, *sets], "sim") != _step(DEFAULT, base, "sim")
        assert not _ignored(DEFAULT, [*base, *sets], "sim")


SIMULATOR_ONLY = [
    "variability.replications=3", "variability.seed=5", "simulation.steps=4", "simulation.fidelity=fast",
]  # fmt: skip


def test_the_simulators_fields_are_named_under_the_analytic_engine() -> None:
    """The analytic engine prices one deterministic step: the jitter's draws (its seed), replications, steps and
    fidelity change nothing there (to the bit) and are named; the simulator reads them (its step moves) and names
    none. The jitter's CV and distribution are read by both (stop 46: the analytic engine prices the expected
    slowest rank's jittered compute, :func:`dpsim.rank_speed.expected_slowest_sum`; it named them before)."""
    jitter = ["variability.compute_jitter_cv=0.2"]
    for sets in ([s] for s in SIMULATOR_ONLY):
        assert _step(DEFAULT, [*jitter, *sets], "analytic") == _step(DEFAULT, jitter, "analytic"), sets
        assert list(_ignored(DEFAULT, [*jitter, *sets])) == [sets[0].split("=")[0]], sets
    assert set(_ignored(DEFAULT, [*jitter, *SIMULATOR_ONLY])) == {s.split("=")[0] for s in SIMULATOR_ONLY}
    assert _ignored(DEFAULT, ["variability.seed=5"])["variability.seed"].startswith("read only with variability")
    gamma = [*jitter, "variability.jitter_distribution=gamma"]
    steps = [_step(DEFAULT, sets, "analytic")["step_time_s"] for sets in ([], jitter, gamma)]
    assert steps[1] > steps[0] and steps[2] not in steps[:2]
    assert not _ignored(DEFAULT, jitter) and not _ignored(DEFAULT, gamma)
    small = ["cluster.nodes=2", "training.global_batch=64"]
    assert _step(DEFAULT, [*small, *jitter, *SIMULATOR_ONLY], "sim") != _step(DEFAULT, small, "sim")
    assert not _ignored(DEFAULT, [*small, *jitter, *SIMULATOR_ONLY], "sim")


def test_oversubscription_on_a_shared_fabric_is_named_by_where_the_job_was_placed() -> None:
    """A shared fabric holds every job's nodes: with 3 nodes a leaf, two 2-node jobs packed put the first under one
    leaf (its oversubscription read by nothing: its step is the step at 1) and the second across two (read)."""
    from dpsim.sim.shared import simulate_shared

    tree = ["cluster.nodes=2", "training.global_batch=64", "cluster.topology.kind=fat-tree",
            "cluster.topology.nodes_per_leaf=3"]  # fmt: skip
    jobs = [load_scenario(DEFAULT, [*tree, f"name=job{i}", "cluster.topology.oversubscription=4"]) for i in (0, 1)]
    plain = [load_scenario(DEFAULT, [*tree, f"name=job{i}"]) for i in (0, 1)]
    over, flat = simulate_shared(jobs), simulate_shared(plain)  # packed
    assert over[0].step_time_s == flat[0].step_time_s and over[1].step_time_s > flat[1].step_time_s
    assert list(over[0].extra.get("ignored_fields", {})) == ["cluster.topology.oversubscription"]
    assert "ignored_fields" not in over[1].extra
    alone = ["cluster.topology.oversubscription=4"]  # a job alone: 2 nodes under one leaf, 8 under three
    assert "cluster.topology.oversubscription" in _ignored(DEFAULT, [*tree, *alone])
    assert "cluster.topology.oversubscription" not in _ignored(DEFAULT, [*tree[2:], *alone])


def test_a_shared_fabric_lists_the_replications_steps_and_fidelity_it_does_not_run() -> None:
    """A shared fabric simulates one step of every job together at chunk level (jitter drawn once): a job's
    ``variability.replications`` 3, ``simulation.steps`` 4 and ``simulation.fidelity: fast`` give the step of the
    job without them, and each is listed (they ran as 1, 1 and chunk unlisted before, the record saying
    ``replications: 1``); alone, the simulator runs them (3 replications, 4 steps)."""
    from dpsim.sim.shared import simulate_shared

    small = ["cluster.nodes=2", "training.global_batch=64", "variability.compute_jitter_cv=0.2"]
    plain = simulate_shared([load_scenario(DEFAULT, [*small, f"name=job{i}"]) for i in (0, 1)])
    unread = {"variability.replications": "3", "simulation.steps": "4", "simulation.fidelity": "fast"}
    for name, value in unread.items():
        jobs = simulate_shared([load_scenario(DEFAULT, [*small, f"name=job{i}", f"{name}={value}"]) for i in (0, 1)])
        assert [j.step_time_s for j in jobs] == [p.step_time_s for p in plain], name
        assert all(list(j.extra["ignored_fields"]) == [name] for j in jobs), name
    assert all("ignored_fields" not in p.extra for p in plain)
    alone = _step(DEFAULT, [*small, "variability.replications=3", "simulation.steps=4"], "sim")["extra"]
    assert (alone["replications"], alone["steps_per_replication"]) == (3, 4) and "ignored_fields" not in alone
    # a one-node job's host link (a GPU's path to its NIC) on a shared fabric: no traffic of it leaves its node
    one = ["cluster.nodes=1", "training.global_batch=32"]
    plain = simulate_shared([load_scenario(DEFAULT, [*one, f"name=job{i}"]) for i in (0, 1)])
    jobs = simulate_shared(
        [load_scenario(DEFAULT, [*one, f"name=job{i}", "cluster.host_link.latency=50us"]) for i in (0, 1)]
    )
    assert [j.step_time_s for j in jobs] == [p.step_time_s for p in plain]
    assert all(list(j.extra["ignored_fields"]) == ["cluster.host_link"] for j in jobs)


def test_a_shared_fabric_lists_what_a_profiles_optimizer_fit_leaves_unread(tmp_path: Path) -> None:
    """On a shared fabric (a profile of compute only: its links and host model would be refused) as alone."""
    import yaml

    from dpsim.sim.shared import simulate_shared

    profile = yaml.safe_load(Path(FITTED[1].split("=", 1)[1]).read_text())
    del profile["links"], profile["host_model"]
    (tmp_path / "compute.yaml").write_text(yaml.safe_dump(profile))
    fitted = [FITTED[0], f"calibration.profile={tmp_path / 'compute.yaml'}"]
    plain = simulate_shared([load_scenario(CPU, [*fitted, f"name=job{i}"]) for i in (0, 1)])
    jobs = simulate_shared([load_scenario(CPU, [*fitted, f"name=job{i}", "training.optimizer_kernels=foreach"])
                            for i in (0, 1)])  # fmt: skip
    assert [j.step_time_s for j in jobs] == [p.step_time_s for p in plain]
    assert all(list(j.extra["ignored_fields"]) == ["training.optimizer_kernels"] for j in jobs)


def _links_profile(tmp_path: Path, links: bool = True) -> str:
    """A profile (written to ``tmp_path``) with fitted ring links for both link classes, or of compute only."""
    import dpsim.analytic.collectives as cf
    from dpsim.calibration import HardwareProfile, LinearTime, save_profile

    fitted = {"intra": {"ring": cf.Link(1e-5, 50e9)}, "inter": {"ring": cf.Link(2e-5, 10e9)}} if links else {}
    profile = HardwareProfile(name="fitted", links=fitted, forward=LinearTime(1e-4, 0.0),
                              backward=LinearTime(2e-4, 0.0))  # fmt: skip
    path = tmp_path / ("links.yaml" if links else "compute.yaml")
    save_profile(profile, path)
    return f"calibration.profile={path}"


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_cpu_vendor_beside_a_profiles_fitted_links_is_named(tmp_path: Path, engine: str) -> None:
    """Round 31: ``cluster.cpu_vendor`` is read by NCCL's tuner alone, and a profile's fitted links price every
    collective on their measured alpha-beta (``protocol: none``): across nodes, where round 30 left it read, it was
    accepted beside them and read by nothing, the same step to the bit and unlisted. Named now; a profile of
    compute only leaves NCCL's model, and the field, read (the step moves, not named)."""
    fitted = [*SMALL_LLAMA, _links_profile(tmp_path)]
    assert _step(LLAMA, [*fitted, "cluster.cpu_vendor=amd"], engine) == _step(LLAMA, fitted, engine)
    ignored = _ignored(LLAMA, [*fitted, "cluster.cpu_vendor=amd"], engine)
    assert "calibration.profile has fitted ring links" in ignored["cluster.cpu_vendor"]
    compute = [*SMALL_LLAMA, _links_profile(tmp_path, links=False)]
    assert _step(LLAMA, [*compute, "cluster.cpu_vendor=amd"], engine) != _step(LLAMA, compute, engine)
    assert "cluster.cpu_vendor" not in _ignored(LLAMA, [*compute, "cluster.cpu_vendor=amd"], engine)


def test_a_host_topology_under_tensor_parallelism_is_read_on_a_shared_fabric() -> None:
    """Alone, a job whose data-parallel groups hold part of a PCIe node never reads ``cluster.host_topology`` (listed);
    on a shared fabric one cluster routes every job's groups over the nodes' switch uplinks and socket links, so
    there it is read (the step moves) and not listed."""
    from dpsim.sim.shared import simulate_shared

    sets = [*PCIE_NODE[:2], "cluster.nodes=2", "model=llama2-7b", "training.tensor_parallel=2",
            "training.global_batch=16", "training.micro_batch=1"]  # fmt: skip
    assert "cluster.host_topology" in _ignored(DEFAULT, [*sets, PCIE_NODE[2]])
    jobs = [load_scenario(DEFAULT, [*sets, PCIE_NODE[2], f"name=job{i}"]) for i in (0, 1)]
    plain = [load_scenario(DEFAULT, [*sets, f"name=job{i}"]) for i in (0, 1)]
    over, flat = simulate_shared(jobs), simulate_shared(plain)
    assert all(o.step_time_s > f.step_time_s for o, f in zip(over, flat, strict=True))  # 1.758 -> 1.826 s
    assert all("cluster.host_topology" not in o.extra.get("ignored_fields", {}) for o in over)


def test_a_catalog_devices_own_values_are_not_named() -> None:
    """``sm_count`` and the attention curves are named only where they differ from the catalog's (a dumped scenario
    writes the catalog's 108 SMs and the A100's (0.6, 0.5))."""
    assert "cluster.device.sm_count" not in _ignored(DEFAULT, ["cluster.device.sm_count=108"])
    assert not _ignored(DEFAULT, ["cluster.device.attention_efficiency=[0.6, 0.5]"])  # A100's own curve
    assert _ignored(DEFAULT, ["cluster.device.sm_count=107"]) == {
        "cluster.device.sm_count": "read only with cluster.device.gemm_waves: true"
    }


@pytest.mark.parametrize(("path", "base", "sets", "field"), READ)
def test_a_field_that_is_read_is_not_named(path: Path, base: list[str], sets: list[str], field: str) -> None:
    assert _step(path, [*base, *sets], "analytic") != _step(path, base, "analytic")
    assert field not in _ignored(path, [*base, *sets])


def test_the_json_contract_is_extended_not_changed(capsys: pytest.CaptureFixture[str]) -> None:
    """``dpsim run --format json`` keeps every field; ``extra.ignored_fields`` appears only where a field is
    ignored (the default scenario prints without it), and the table names each ignored field on a row."""
    from typer.testing import CliRunner

    from dpsim.cli import app

    runner = CliRunner()
    plain = json.loads(runner.invoke(app, ["run", str(DEFAULT), "--format", "json"]).stdout)
    assert "ignored_fields" not in plain["extra"]
    sets = ["--set", "training.pipeline_schedule=gpipe"]
    noted = json.loads(runner.invoke(app, ["run", str(DEFAULT), *sets, "--format", "json"]).stdout)
    assert noted["extra"]["ignored_fields"] == {"training.pipeline_schedule": "read only with pipeline_parallel > 1"}
    assert {k: v for k, v in noted.items() if k not in ("scenario", "scenario_hash", "extra")} == {
        k: v for k, v in plain.items() if k not in ("scenario", "scenario_hash", "extra")
    }
    table = runner.invoke(app, ["run", str(DEFAULT), *sets]).stdout
    assert "ignored: training.pipeline_schedule" in table


def test_a_quantity_left_at_its_default_is_not_named(tmp_path: Path) -> None:
    """A quantity's default is text until parsed (``communication.bucket``: ``"25 MiB"``), and the check compared the
    parsed value with that text, so a quantity never set was always "set": every DeepSpeed ZeRO scenario without a
    bucket was told its ``communication.bucket`` is unread, and every custom device with ``efficiency`` its
    ``kernel_overhead``. Left out, or written at the default, they are not named; set to another value, they are."""
    from dpsim.scenario import CommunicationConfig, DeviceConfig, field_default

    assert field_default(CommunicationConfig, "bucket") == 25 * 2**20
    assert field_default(DeviceConfig, "kernel_overhead") == 4e-6
    (tmp_path / "s.yaml").write_text(
        "name: custom\nmodel: {preset: gpt2-xl}\n"
        "cluster: {nodes: 2, workers_per_node: 8, device: {peak_flops: 300 TFLOP/s, memory: 80 GiB, efficiency: 0.5},\n"
        "  intra_node: {preset: nvlink3}, inter_node: {preset: ib-hdr, nics_per_node: 8}}\n"
        "training: {global_batch: 512, micro_batch: 4, precision: bf16, optimizer_sharding: zero, zero_stage: 2}\n",
        encoding="utf-8",
    )
    assert _ignored(tmp_path / "s.yaml", []) == {}
    assert _ignored(tmp_path / "s.yaml", ["communication.bucket=25 MiB", "cluster.device.kernel_overhead=4 us"]) == {}
    named = _ignored(tmp_path / "s.yaml", ["communication.bucket=50 MB", "cluster.device.kernel_overhead=5 us"])
    assert list(named) == ["communication.bucket", "cluster.device.kernel_overhead"]
    for engine in ("analytic", "sim"):  # and the step is the one priced at the defaults (each is unread)
        assert _step(tmp_path / "s.yaml", ["communication.bucket=50 MB", "cluster.device.kernel_overhead=5 us"],
                     engine) == _step(tmp_path / "s.yaml", [], engine)  # fmt: skip


def test_an_ignored_field_is_named_under_the_table_and_leaves_its_columns_as_they_were(tmp_path: Path) -> None:
    """A long reason on a row of the table widened its right-justified value column to the reason's length (DeepSpeed
    ZeRO's unread ``communication.bucket``: every value 170 characters right of its name). The reason goes under the
    table: the table's rows are those of the same run with nothing ignored, the title aside."""
    from typer.testing import CliRunner

    from dpsim.cli import app

    text = DEFAULT.read_text(encoding="utf-8").replace("bucket: 25 MB, ", "")
    assert "bucket:" not in text
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
    runner = CliRunner()
    zero = ["--set", "training.optimizer_sharding=zero", "--set", "training.zero_stage=3"]
    base = ["run", str(tmp_path / "s.yaml"), *zero]
    plain = runner.invoke(app, base).stdout.splitlines()
    noted = runner.invoke(app, [*base, "--set", "communication.bucket=50 MB"]).stdout.splitlines()
    record = json.loads(runner.invoke(app, [*base, "--set", "communication.bucket=50 MB", "--format", "json"]).stdout)
    why = record["extra"]["ignored_fields"]
    assert list(why) == ["communication.bucket"] and len(why["communication.bucket"]) > 80
    assert "ignored" not in "\n".join(plain)
    assert noted[1 : len(plain)] == plain[1:]
    assert noted[len(plain) :] == ["", f"ignored: communication.bucket: {why['communication.bucket']}"]


def test_sweep_and_csv_rows_name_the_ignored_fields_as_the_run_record_does(tmp_path: Path) -> None:
    """``StepResult.flat`` kept only scalar ``extra`` entries, so a sweep row (JSON, CSV, ``--out``) and ``run --format
    csv`` dropped ``ignored_fields`` that the run's JSON record lists. Each row now holds them as one text,
    ``field: why; field: why``, the record's entries in its order; a point that ignores nothing has none (empty in CSV,
    null in JSON)."""
    import csv
    import io

    from typer.testing import CliRunner

    from dpsim.cli import app

    runner = CliRunner()
    sets = ["--set", "training.pipeline_schedule=gpipe", "--set", "cluster.topology.oversubscription=2", "--set",
            "cluster.topology.nodes_per_leaf=4"]  # fmt: skip
    record = json.loads(runner.invoke(app, ["run", str(DEFAULT), *sets, "--format", "json"]).stdout)
    text = "; ".join(f"{name}: {why}" for name, why in record["extra"]["ignored_fields"].items())
    assert text == (
        "training.pipeline_schedule: read only with pipeline_parallel > 1; "
        "cluster.topology.oversubscription: read only with topology kind fat-tree, not switch; "
        "cluster.topology.nodes_per_leaf: read only with topology kind fat-tree, not switch"
    )
    row = next(csv.DictReader(io.StringIO(runner.invoke(app, ["run", str(DEFAULT), *sets, "--format", "csv"]).stdout)))
    assert row["ignored_fields"] == text
    sweep = ["sweep", str(DEFAULT), *sets, "--vary", "cluster.topology.kind=switch,fat-tree"]
    rows = json.loads(runner.invoke(app, [*sweep, "--format", "json"]).stdout)
    assert [r["ignored_fields"] for r in rows] == [
        text,
        "training.pipeline_schedule: read only with pipeline_parallel > 1",
    ]
    out = tmp_path / "o.csv"
    assert runner.invoke(app, [*sweep, "--out", str(out)]).exit_code == 0
    for got in (list(csv.DictReader(io.StringIO(runner.invoke(app, [*sweep, "--format", "csv"]).stdout))),
                list(csv.DictReader(out.open(encoding="utf-8")))):  # fmt: skip
        assert [r["ignored_fields"] for r in got] == [r["ignored_fields"] for r in rows]
    plain = json.loads(runner.invoke(app, ["sweep", str(DEFAULT), "--vary", "training.micro_batch=4,8", "--format",
                                           "json"]).stdout)  # fmt: skip
    assert all("ignored_fields" not in r for r in plain)  # nothing ignored: no column, as the run record has no key


def test_the_input_gradients_release_leaves_the_schedules_notes_as_they_were() -> None:
    # dcff0b7 put its check between the pipeline_parallel == 1 branch and the interleaved-at-one-chunk elif, which
    # then hung on the new check: at PP 1 an interleaved schedule read "interleaved with virtual_stages 1 is 1F1B"
    # instead of "read only with pipeline_parallel > 1", and with the release flag set on Megatron's runtime the
    # interleaved-at-one-chunk note was dropped
    one = load_scenario(LLAMA, [*SMALL_LLAMA, "training.pipeline_schedule=interleaved", "training.virtual_stages=1"])
    assert one.ignored_fields()["training.pipeline_schedule"] == "read only with pipeline_parallel > 1"
    both = load_scenario(
        LLAMA,
        [*PP2, "training.pipeline_schedule=interleaved", "training.virtual_stages=1",
         "training.pipeline_releases_input_grads=true"],
    )  # fmt: skip
    ignored = both.ignored_fields()
    assert ignored["training.pipeline_schedule"].startswith("interleaved with virtual_stages 1 is 1F1B")
    assert ignored["training.pipeline_releases_input_grads"].startswith("read only with pipeline_runtime: torch")


@pytest.mark.parametrize("engine", ["analytic", "sim"])
def test_a_transformers_flops_given_beside_its_operations_is_read_only_by_mfu(engine: str) -> None:
    """Round 26 (hostile): priced from its layers' operations, a transformer's step never reads a given
    ``model.flops_per_sample``; only MFU divides it by the step, and it was not listed. Every other number of the
    record stays as it was; the shape's own count is not listed. A count that puts MFU past 1 (``1e15`` on GPT-2
    small: 211.9) is refused naming the field (round 27)."""
    base = _step(DEFAULT, [], engine)
    for value in ("1", "1e13"):
        given = _step(DEFAULT, [f"model.flops_per_sample={value}"], engine)
        assert given["mfu"] != base["mfu"] and {**given, "mfu": base["mfu"]} == base
        assert list(_ignored(DEFAULT, [f"model.flops_per_sample={value}"], engine)) == ["model.flops_per_sample"]
    shape = load_scenario(DEFAULT).model.shape_flops_per_sample
    assert not _ignored(DEFAULT, [f"model.flops_per_sample={shape!r}"], engine)
    with pytest.raises(ScenarioError, match=r"model\.flops_per_sample: 1e\+16 FLOPs a sample in a step priced at .* "
                       r"an MFU of [0-9.]+, past the devices' peak .* expected at most "):  # fmt: skip
        _step(DEFAULT, ["model.flops_per_sample=1e16"], engine)
