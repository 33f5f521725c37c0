"""The runtime does what the scenario says: stragglers slowed per layer, overlap: false, refusals up front."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from _proc import run

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
from torch import nn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_straggler_busy_waits_after_every_layer_in_forward_and_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    import runtime.job as job

    waits: list[float] = []
    monkeypatch.setattr(job, "_busy_wait", waits.append)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))
    reference = nn.Sequential(*[m for m in model])  # same modules: gradients compare after the hooks are gone
    slow = job.LayerSlowdown(job.slowed_units(model), 3.0)
    x = torch.randn(4, 8)
    loss = model(x).square().sum()
    assert len(waits) == 3  # forward: one wait per linear layer
    loss.backward()
    assert len(waits) == 6  # backward: one per layer, once its last parameter gradient is accumulated
    model(x).square().sum().backward()
    assert len(waits) == 12 and all(w >= 0 for w in waits)
    grads = [p.grad.clone() for p in model.parameters()]
    slow.remove()
    for p in reference.parameters():
        p.grad = None
    reference(x).square().sum().backward()
    reference(x).square().sum().backward()
    assert all(torch.equal(a, p.grad) for a, p in zip(grads, reference.parameters(), strict=True))


@pytest.mark.parametrize("algorithm", ["backend", "ring"])
def test_overlap_false_reduces_no_bucket_before_the_backward_pass_ends(algorithm: str) -> None:
    """One rank (the hook still runs): with overlap off every all-reduce starts after the last bucket is ready."""
    from torch.nn.parallel import DistributedDataParallel

    from runtime.hooks import CommHookState, timed_allreduce_hook
    from runtime.torchrun import destroy_group

    # an in-memory store: no port to collide on, no MASTER_* left in the environment for later tests
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    state_off = CommHookState(algorithm, 1.0, overlap=False)
    try:
        ddp = DistributedDataParallel(
            nn.Sequential(*[nn.Linear(64, 64) for _ in range(6)]), bucket_cap_mb=16 * 1024 / 2**20
        )
        ddp.register_comm_hook(state_off, timed_allreduce_hook)
        for _ in range(2):  # the second iteration runs on the rebuilt buckets
            ddp(torch.randn(4, 64)).sum().backward()
        del ddp  # it holds the group: freed before the group is destroyed (runtime.torchrun.destroy_group)
    finally:
        state_off.close()
        destroy_group()
    timings = state_off.take()
    assert len(timings) > 2
    last_ready = max(t.ready_s for t in timings)
    assert all(t.start_s >= last_ready for t in timings[-len(timings) // 2 :])


@pytest.mark.parametrize(
    ("training", "communication", "expected"),
    [
        ("", "{algorithm: direct}", "no 'direct' all-reduce"),
        ("", "{algorithm: parameter-server}", "no 'parameter-server' all-reduce"),
        # the runtime's ZeRO-2/3 are FSDP: it cannot cut its collectives as DeepSpeed's bucket sizes make the
        # engines do (dpsim.sharding.collective_pieces)
        (", zero_stage: 2, deepspeed_reduce_bucket_size: 1000", "{}", "training.deepspeed_reduce_bucket_size: "),
        (", zero_stage: 3, deepspeed_prefetch_bucket_size: 1000", "{}", "training.deepspeed_prefetch_bucket_size: "),
        # the runtime's ZeRO-1 is torch's ZeroRedundancyOptimizer (DDP's all-reduce, then a broadcast per
        # parameter from its owner) and its ZeRO-2/3 FSDP2: under another flavour the engines price another mechanism
        (", zero_stage: 1", "{}", "training.optimizer_sharding: "),
        (", zero_stage: 1, zero1_gradient_allreduce: true", "{}", "training.optimizer_sharding: "),
        (", zero_stage: 2", "{}", "training.optimizer_sharding: "),
        (", zero_stage: 3", "{}", "training.optimizer_sharding: "),
    ],
)
def test_what_the_runtime_cannot_run_is_refused_before_any_rank_starts(
    tmp_path: Path, training: str, communication: str, expected: str
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "model: {kind: mlp, layers: 2, hidden: 16}\n"
        "cluster: {nodes: 2, device: {peak_flops: 1 TFLOP/s, memory: 1 GB}}\n"
        f"training: {{global_batch: 4, micro_batch: 2, precision: fp32{training}}}\n"
        f"communication: {communication}\n"
    )
    proc = run([sys.executable, "-m", "runtime", str(scenario), "--run-dir", str(tmp_path / "run")], timeout=120,
               cwd=ROOT)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "training",
    [
        "precision: bf16, gradient_accumulation_pass: fp32_copy",
        # FSDP1's flat-parameter path: the runtime runs FSDP2, which has none
        "precision: bf16, zero_stage: 3, optimizer_sharding: fsdp, gradient_accumulation_pass: fsdp_flat",
        # fairscale FSDP's (metaseq's OPT): neither
        "precision: bf16, zero_stage: 2, optimizer_sharding: fsdp, gradient_accumulation_pass: fairscale_flat",
    ],
)
def test_gradient_passes_the_runtime_cannot_run_are_refused_before_any_rank_starts(
    tmp_path: Path, training: str
) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "model: {kind: mlp, layers: 2, hidden: 16}\n"
        "cluster: {nodes: 2, device: {peak_flops: 1 TFLOP/s, memory: 1 GB}}\n"
        f"training: {{global_batch: 8, micro_batch: 2, {training}}}\n"
    )
    proc = run([sys.executable, "-m", "runtime", str(scenario), "--run-dir", str(tmp_path / "run")], timeout=120,
               cwd=ROOT)  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "training.gradient_accumulation_pass" in proc.stderr
    assert not (tmp_path / "run").exists()
