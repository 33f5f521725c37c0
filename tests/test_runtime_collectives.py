"""Point-to-point all-reduce algorithms equal dist.all_reduce; the DDP hook gives the full-batch gradient.

Ranks are spawned on loopback (gloo). Each worker writes what it computed and the parent
asserts, so a failure names the algorithm, world size and message size.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

pytestmark = [pytest.mark.multiprocess]

ALGORITHMS = ("ring", "halving-doubling", "tree", "hierarchical")
SIZES = (1, 2, 5, 1000, 70_001, 400_003)  # fewer elements than ranks, odd splits, several tree chunks


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, out: str, per_node: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    from torch.nn.parallel import DistributedDataParallel

    from runtime.collectives import all_reduce
    from runtime.hooks import CommHookState, timed_allreduce_hook

    results: dict[str, float] = {}
    try:
        for algorithm in ALGORITHMS:
            for numel in SIZES:
                g = torch.Generator().manual_seed(1000 * rank + numel)
                x = torch.randn(numel, generator=g, dtype=torch.float64)
                expected = x.clone()
                dist.all_reduce(expected)
                all_reduce(x, algorithm, per_node=per_node if algorithm == "hierarchical" else 1)
                results[f"{algorithm}/{numel}"] = float((x - expected).abs().max())
        # DDP + hook: each rank's slice of one global batch → the single-process full-batch gradient
        batch = 4 * world
        g = torch.Generator().manual_seed(7)
        inputs, targets = torch.randn(batch, 16, generator=g), torch.randn(batch, 4, generator=g)
        for algorithm in ALGORITHMS:
            torch.manual_seed(0)
            model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
            reference = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
            reference.load_state_dict(model.state_dict())
            ddp = DistributedDataParallel(model, bucket_cap_mb=0.001)  # several buckets
            state = CommHookState(algorithm, 1.0 / world, per_node=per_node)
            ddp.register_comm_hook(state, timed_allreduce_hook)
            mine = slice(4 * rank, 4 * rank + 4)
            torch.nn.functional.mse_loss(ddp(inputs[mine]), targets[mine]).backward()
            torch.nn.functional.mse_loss(reference(inputs), targets).backward()
            pairs = zip(model.parameters(), reference.parameters(), strict=True)
            gap = max(float((p.grad - q.grad).abs().max()) for p, q in pairs)
            results[f"ddp/{algorithm}"] = gap
            results[f"buckets/{algorithm}"] = len(state.take())
            state.close()
        Path(out, f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize(("world", "per_node"), [(3, 3), (4, 2), (5, 1)])
def test_p2p_allreduce_equals_backend_and_ddp_hook_gives_full_batch_gradient(
    tmp_path: Path, world: int, per_node: int
) -> None:
    mp.spawn(_worker, args=(world, _free_port(), str(tmp_path), per_node), nprocs=world, join=True)
    for rank in range(world):
        results = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for algorithm in ALGORITHMS:
            for numel in SIZES:
                assert results[f"{algorithm}/{numel}"] <= 1e-12, (algorithm, world, numel, results)
            assert results[f"ddp/{algorithm}"] <= 1e-6, (algorithm, world)
            assert results[f"buckets/{algorithm}"] >= 1  # the buckets went through the hook and were timed
