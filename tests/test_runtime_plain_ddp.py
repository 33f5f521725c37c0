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

import torch
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


def _update_that_ran(optimizer: torch.optim.Optimizer) -> str:
    """The update one ``optimizer.step()`` ran, from torch's profiler: the fused kernel (``aten::_fused_adam_``),
    the multi-tensor ops (``aten::_foreach_*``), else one op a tensor (the single-tensor loop)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        optimizer.step()
    names = {e.name for e in prof.events()}
    return "fused" if any("_fused_" in n for n in names) else "foreach" if any("_foreach_" in n for n in names) else (
        "for-loop")  # fmt: skip


@pytest.mark.parametrize("options", [{}, {"foreach": True}, {"fused": True}, {"foreach": False}])
@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_the_resolved_update_is_the_one_torch_runs(name: str, options: dict[str, bool]) -> None:
    """Stop 43: ``runtime.optim.resolved_update`` names what ``torch.optim`` runs, a group's own keyword or torch's
    default (on CPU the single-tensor loop), against the ops the profiler sees."""
    from runtime.optim import OPTIMIZERS, resolved_update

    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 2))
    model(torch.randn(4, 8)).sum().backward()
    optimizer = OPTIMIZERS[name](model.parameters(), lr=0.1, **options)
    assert resolved_update(optimizer) == _update_that_ran(optimizer)


def test_every_step_records_the_optimizer_update_torch_ran(group: None, tmp_path: Path) -> None:
    """Stop 43: a run's record says which update its optimizer ran (``StepTiming.optimizer_update``, a run's
    ``extra.optimizer_update``): the engines price the fused one or a profile's fit of what the calibration ran,
    and on CPU torch runs its single-tensor loop whatever ``training.optimizer_kernels`` says."""
    job = TrainingJob(_scenario(algorithm="backend"), JobOptions(warmup_steps=1, steps=1), tmp_path)
    try:
        steps = [job.step(i) for i in range(2)]
        assert [s.optimizer_update for s in steps] == ["for-loop", "for-loop"]
        assert _update_that_ran(job.optimizer) == "for-loop"
    finally:
        job.close()
