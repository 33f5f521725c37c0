"""The runtime runs DDP as plain PyTorch DDP wherever the scenario does not need its communication hook.

Independent truth: DDP's own logging (``_get_ddp_logging_data()['comm_hook']``, set by ``register_comm_hook``) and
torch's profiler. Without a hook DDP's reducer divides by the world size while copying each gradient into its bucket
(``Reducer::mark_variable_ready_dense``: ``at::mul_out``); the runtime's hook scaled every bucket in a pass of its own
(``buffer.mul_``), which plain DDP — what dpsim prices — does not make.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")

import torch.distributed as dist

from dpsim.scenario import Scenario, scenario_from_dict
from runtime.hooks import comm_hook_reason
from runtime.job import JobOptions, TrainingJob
from runtime.measure import ran_fields


def _scenario(**communication: object) -> Scenario:
    return scenario_from_dict(
        {
            "name": "one-rank",
            "model": {"kind": "mlp", "layers": 4, "hidden": 64, "parameters": 16640, "flops_per_sample": 99840},
            "cluster": {"nodes": 1, "device": {"peak_flops": "1 TFLOP/s", "memory": "1 GB"}},
            "training": {"global_batch": 8, "micro_batch": 4, "optimizer": "sgd", "precision": "fp32"},
            # 16 KiB buckets: several (each linear layer's 16.6 KB), so a pass a bucket is countable
            "communication": {"bucket": "16 KiB", **communication},
        },
        "<test>",
    )


@pytest.fixture
def group() -> Iterator[None]:
    from runtime.torchrun import destroy_group

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        destroy_group()


def _hook_name(job: TrainingJob) -> str:
    return str(job.wrapped._get_ddp_logging_data().get("comm_hook", ""))  # type: ignore[operator]


def _backward_ops(job: TrainingJob) -> list[str]:
    """The aten ops of one synchronising micro-batch's forward and backward (the buckets as rebuilt)."""
    from torch.profiler import ProfilerActivity, profile

    (batch, divisor), *_ = job.micro_batches(99)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        (job._ddp_loss(batch) / divisor).backward()
    return [e.name for e in prof.events()]


@pytest.mark.parametrize(
    ("communication", "algorithm", "hook"),
    [
        ({"algorithm": "backend"}, "scenario", ""),  # gloo's own all-reduce: plain DDP
        ({"algorithm": "ring"}, "backend", ""),  # python -m runtime --algorithm backend: plain DDP
        ({"algorithm": "ring"}, "scenario", "the point-to-point ring"),  # runtime.collectives over isend/irecv
        ({"algorithm": "backend", "overlap": False}, "scenario", "communication.overlap: false"),  # held to the end
    ],
)
def test_the_hook_only_where_the_scenario_needs_it(
    group: None,
    tmp_path: Path,
    communication: dict,  # type: ignore[type-arg]
    algorithm: str,
    hook: str,
) -> None:
    scenario = _scenario(**communication)
    job = TrainingJob(scenario, JobOptions(algorithm=algorithm, warmup_steps=1, steps=1), tmp_path)
    try:
        assert comm_hook_reason(scenario, job.algorithm).startswith(hook) and job.comm_hook.startswith(hook)
        assert bool(hook) == (job.hook_state is not None) == ("timed_allreduce_hook" in _hook_name(job))
        assert ran_fields(scenario, False, job.algorithm)["comm_hook"] == (job.comm_hook or "none")
        steps = [job.step(i) for i in range(3)]  # the second and later run on DDP's rebuilt buckets
        mul_ = _backward_ops(job).count("aten::mul_")
        if hook:  # the hook's own pass over every bucket, and its per-bucket times
            assert all(s.bucket_comm_s for s in steps)
            assert mul_ == len(steps[-1].bucket_bytes) >= 2, (mul_, [s.bucket_bytes for s in steps])
        else:  # plain DDP: scaled in the copy into the buckets, no pass of its own; its all-reduces are not seen
            assert mul_ == 0
            assert all(not s.bucket_comm_s for s in steps)
            # its buckets from DDP's own logging: one a linear layer (16 KiB cap), 64 x 64 + 64 fp32 parameters each
            assert steps[-1].bucket_bytes == [4 * (64 * 64 + 64)] * 4
        for s in steps:  # compute ends when the last bucket was handed over, before the backward returned
            assert s.backward_s > 0 and s.exposed_comm_s >= 0
            assert s.forward_s + s.backward_s + s.exposed_comm_s + s.optimizer_s <= s.step_s * (1 + 1e-9)
            assert s.compute_cpu_s > 0
    finally:
        job.close()


@pytest.mark.parametrize("views", [False, True])
def test_every_step_records_what_ddps_reducer_ran(group: None, tmp_path: Path, views: bool) -> None:
    """``StepTiming.gradient_as_bucket_view`` (a run's ``extra.gradient_as_bucket_view``) is what DDP's reducer
    ran, from its own logging data; the truth: with views every gradient is a view into its bucket, without them a
    tensor of its own (the reducer copies it in and back, ``tests/test_runtime_bucket_views.py``)."""
    scenario = _scenario(algorithm="backend").model_copy(deep=True)
    scenario.training.gradient_as_bucket_view = views
    job = TrainingJob(scenario, JobOptions(warmup_steps=1, steps=1), tmp_path)
    try:
        steps = [job.step(i) for i in range(2)]
        assert [s.gradient_as_bucket_view for s in steps] == [views, views]
        grads = [p.grad for p in job.model.parameters()]
        assert all(g is not None and g._is_view() == views for g in grads)
    finally:
        job.close()
