"""Data-parallel training equals single-process full-batch training (seed document §4.2).

Real multi-process runs: ``world_size`` gloo processes on 127.0.0.1 train a small float64
MLP with DistributedDataParallel; a single process trains the same model on the whole
batch. After several optimizer steps the parameters must agree within 1e-9 for equal
shards, uneven shards with the weighted hook, gradient accumulation with ``no_sync``
and ZeRO-1 (ZeroRedundancyOptimizer). Negative control: uneven shards with DDP's plain
mean differ measurably. Each world size is spawned once (module fixture) and runs all its
cases, to keep the test time low.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _proc import GROUP_TIMEOUT
from torch.nn.parallel import DistributedDataParallel

from dpsim.partition import partition, shard_sizes
from runtime.aggregation import register_weighted_aggregation
from runtime.launch import reserve_port
from runtime.optim import build_optimizer
from runtime.sampler import DpsimSampler

pytestmark = [
    pytest.mark.multiprocess,
    pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs torch.distributed gloo"),
]

TOL = 1e-9
IN, HIDDEN, OUT = 4, 8, 3


@dataclass(frozen=True)
class Case:
    """One data-parallel training configuration."""

    name: str
    world_size: int
    num_samples: int
    scheme: str = "round_robin"
    weights: tuple[float, ...] | None = None
    hook: str = "mean"  # "mean": DDP's default all-reduce; "weighted": runtime.aggregation
    micro_batches: int = 1  # gradient accumulation steps per optimizer step
    optimizer: str = "sgd"
    zero: bool = False
    steps: int = 5
    lr: float = 0.1


CASES: tuple[Case, ...] = (
    # (a) equal shards, shuffled per step
    Case("equal", 2, 12),
    Case("equal", 3, 12),
    # (b) uneven shards with the weighted hook: 11 = 6 + 5; weights 1 : 2 : 1.5 of 10 = 2 + 5 + 3
    Case("uneven_weighted", 2, 11, hook="weighted"),
    Case("uneven_weighted", 3, 10, scheme="weighted", weights=(1.0, 2.0, 1.5), hook="weighted"),
    # negative control: the same uneven shards with DDP's plain mean
    Case("uneven_plain_mean", 2, 11, hook="mean"),
    Case("uneven_plain_mean", 3, 10, scheme="weighted", weights=(1.0, 2.0, 1.5), hook="mean"),
    # (c) gradient accumulation: k micro-batches per step with no_sync
    Case("accumulation", 2, 12, micro_batches=3),
    Case("accumulation", 3, 10, scheme="weighted", weights=(1.0, 2.0, 1.5), hook="weighted", micro_batches=2),
    # (d) ZeRO-1: optimizer state sharded with ZeroRedundancyOptimizer
    Case("zero1_adam", 2, 12, optimizer="adam", zero=True, lr=0.01),
    Case("zero1_adam", 3, 12, optimizer="adam", zero=True, lr=0.01),
    Case("zero1_sgd", 2, 11, hook="weighted", zero=True),
    Case("zero1_sgd", 3, 10, scheme="weighted", weights=(1.0, 2.0, 1.5), hook="weighted", zero=True),
)

Params = dict[str, np.ndarray]


def _data(num_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(num_samples, IN, generator=g, dtype=torch.float64)
    y = torch.randn(num_samples, OUT, generator=g, dtype=torch.float64)
    return x, y


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(IN, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, OUT)).double()


def _per_sample_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((pred - target) ** 2).sum(dim=1)


def _params(model: torch.nn.Module) -> Params:
    return {k: v.detach().clone().numpy() for k, v in model.state_dict().items()}


def _reference(case: Case) -> Params:
    """Single process, full batch: minimise (1/M) Σᵢ ℓᵢ with the same optimizer."""
    x, y = _data(case.num_samples)
    model = _model()
    opt, sched = build_optimizer(model, case.optimizer, case.lr, case.num_samples, case.num_samples, "none", 0)
    for _ in range(case.steps):
        opt.zero_grad()
        _per_sample_loss(model(x), y).mean().backward()
        opt.step()
        sched.step()
    return _params(model)


def _train_ddp(case: Case, rank: int) -> Params:
    x, y = _data(case.num_samples)
    ddp = DistributedDataParallel(_model())
    sizes = shard_sizes(case.num_samples, case.world_size, case.scheme, case.weights, pad=False)
    sampler = DpsimSampler(case.num_samples, scheme=case.scheme, weights=case.weights, seed=7, pad=False)
    if case.hook == "weighted":
        weight = register_weighted_aggregation(ddp, sizes[rank])
        assert weight == sampler.aggregation_weight == sizes[rank] / case.num_samples
    opt, sched = build_optimizer(
        ddp, case.optimizer, case.lr, case.num_samples, case.num_samples, "none", 0, zero_redundancy=case.zero
    )
    for step in range(case.steps):
        # A new shuffle every step: the union of the shards is still the whole batch.
        sampler.set_epoch(step)
        shard = list(sampler)
        expected = partition(
            case.num_samples, case.world_size, case.scheme, case.weights, seed=7, epoch=step, pad=False
        )
        assert shard == expected[rank]
        assert len(shard) == len(sampler) == sizes[rank]
        micro = np.array_split(np.asarray(shard), case.micro_batches)
        opt.zero_grad()
        for j, mb in enumerate(micro):
            sync = j == len(micro) - 1
            with contextlib.nullcontext() if sync else ddp.no_sync():
                idx = torch.as_tensor(mb, dtype=torch.long)
                # Σ over the micro-batch / Mₙ: the accumulated gradient is ∇ℓₙ of the shard mean.
                loss = _per_sample_loss(ddp(x[idx]), y[idx]).sum() / len(shard)
                loss.backward()
        opt.step()
        sched.step()
    return _params(ddp.module)


def _worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=GROUP_TIMEOUT)
    try:
        results = {case: _train_ddp(case, rank) for case in CASES if case.world_size == world_size}
        Path(out_dir, f"rank{rank}.pkl").write_bytes(pickle.dumps(results))
        # Free the DDP reducers and let every rank finish before the group goes away.
        gc.collect()
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module", params=[2, 3], ids=lambda n: f"world{n}")
def ddp_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[Case, list[Params]]:
    """Final parameters of every case of one world size, one entry per rank."""
    world_size: int = request.param
    out = tmp_path_factory.mktemp(f"ddp{world_size}")
    with reserve_port() as port:  # held: no other run can take it before rank 0 listens
        mp.spawn(_worker, args=(world_size, port, str(out)), nprocs=world_size, join=True)
    per_rank = [pickle.loads((out / f"rank{r}.pkl").read_bytes()) for r in range(world_size)]
    return {case: [per_rank[r][case] for r in range(world_size)] for case in per_rank[0]}


def _max_abs_diff(a: Params, b: Params) -> float:
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


@pytest.mark.parametrize(
    "name", ["equal", "uneven_weighted", "accumulation", "zero1_adam", "zero1_sgd"], ids=lambda s: str(s)
)
def test_ddp_equals_full_batch(ddp_results: dict[Case, list[Params]], name: str) -> None:
    cases = [c for c in ddp_results if c.name == name]
    assert cases, f"no case {name!r} at this world size"
    for case in cases:
        replicas = ddp_results[case]
        reference = _reference(case)
        # Not vacuous: training moved the parameters well beyond the tolerance.
        assert _max_abs_diff(reference, _params(_model())) > 1e-3
        for rank, params in enumerate(replicas):
            diff = _max_abs_diff(params, reference)
            print(f"{case.name} world={case.world_size} rank={rank}: max |Δθ| = {diff:.3e}")
            assert diff <= TOL, f"{case}: rank {rank} differs from full-batch training by {diff:.3e}"
        # Replicas stay bit-identical to each other.
        for params in replicas[1:]:
            assert _max_abs_diff(params, replicas[0]) == 0.0


def test_uneven_shards_with_plain_mean_differ(ddp_results: dict[Case, list[Params]]) -> None:
    """Negative control: DDP's (1/N)Σ∇ℓₙ is not the full-batch gradient when Mₙ differ."""
    (case,) = [c for c in ddp_results if c.name == "uneven_plain_mean"]
    diff = _max_abs_diff(ddp_results[case][0], _reference(case))
    print(f"{case.name} world={case.world_size}: max |Δθ| = {diff:.3e}")
    assert diff > 1e-3
