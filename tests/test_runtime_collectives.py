"""Point-to-point all-reduce algorithms equal dist.all_reduce; the DDP hook gives the full-batch gradient.

Ranks are spawned on loopback (gloo). Each worker writes what it computed and the parent
asserts, so a failure names the algorithm, world size and message size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _proc import GROUP_TIMEOUT

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from runtime.launch import reserve_port  # noqa: E402
from runtime.torchrun import destroy_group  # noqa: E402

pytestmark = [pytest.mark.multiprocess]

ALGORITHMS = ("ring", "halving-doubling", "tree", "hierarchical")
SIZES = (1, 2, 5, 1000, 70_001, 400_003)  # fewer elements than ranks, odd splits, several tree chunks


def _worker(rank: int, world: int, port: int, out: str, per_node: int) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=GROUP_TIMEOUT)
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
            del ddp  # it holds the group: freed while the group lives (runtime.torchrun.destroy_group)
        Path(out, f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        destroy_group()


@pytest.mark.parametrize(("world", "per_node"), [(3, 3), (4, 2), (5, 1)])
def test_p2p_allreduce_equals_backend_and_ddp_hook_gives_full_batch_gradient(
    tmp_path: Path, world: int, per_node: int
) -> None:
    with reserve_port() as port:  # held: no other run can take it before rank 0 listens
        mp.spawn(_worker, args=(world, port, str(tmp_path), per_node), nprocs=world, join=True)
    for rank in range(world):
        results = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for algorithm in ALGORITHMS:
            for numel in SIZES:
                assert results[f"{algorithm}/{numel}"] <= 1e-12, (algorithm, world, numel, results)
            assert results[f"ddp/{algorithm}"] <= 1e-6, (algorithm, world)
            assert results[f"buckets/{algorithm}"] >= 1  # the buckets went through the hook and were timed


NCCL_DTREES = {
    # parent of each rank (-1: the root) in tree 0 and tree 1, worked by hand from NCCL's src/graph/trees.cc:
    # ncclGetBtree (a rank's lowest set bit b: parent (r ^ b) | 2b, or r ^ b when that is out of range; root 0),
    # ncclGetDtree's second tree the first mirrored (r -> n-1-r, n even) or shifted by one (r -> r+1 mod n, n odd)
    2: ([-1, 0], [1, -1]),
    3: ([-1, 2, 0], [1, -1, 0]),
    4: ([-1, 2, 0, 2], [1, 3, 1, -1]),
    5: ([-1, 2, 4, 2, 0], [1, -1, 3, 0, 3]),
    6: ([-1, 2, 4, 2, 0, 4], [1, 5, 3, 1, 3, -1]),
    7: ([-1, 2, 4, 2, 0, 6, 4], [5, -1, 3, 5, 3, 1, 0]),
    8: ([-1, 2, 4, 2, 0, 6, 4, 6], [1, 3, 1, 7, 5, 3, 5, -1]),
}
"""NCCL's double binary tree on 2-8 ranks: each rank's parent in each tree."""

BUSIEST_HALVES = {2: 2, 3: 3, 4: 4, 5: 4, 6: 4, 7: 4, 8: 4}
"""The busiest rank's tree edges in NCCL's trees above (S/2 each way per edge): S at 2 ranks, 1.5·S at 3, 2·S from 4."""


def _expected_edges(world: int, tree: int, rank: int) -> set[int]:
    """Ranks that ``rank`` sends its half to in ``tree``: its parent (reduce) and its children (broadcast)."""
    parents = NCCL_DTREES[world][tree]
    return {p for p in (parents[rank],) if p >= 0} | {c for c, p in enumerate(parents) if p == rank}


@pytest.mark.parametrize("world", sorted(NCCL_DTREES))
def test_p2p_tree_runs_nccls_double_binary_tree(world: int) -> None:
    """The runtime's two trees are NCCL's (the ones the engines and the link fit price), on any global ranks."""
    from runtime.collectives.tree import tree_roles

    ranks = [10 + 3 * r for r in range(world)]  # arbitrary global ranks: the trees are over their positions
    for pos, me in enumerate(ranks):
        for t, (parent, children) in enumerate(tree_roles(ranks, me)):
            up = NCCL_DTREES[world][t][pos]
            assert parent == (ranks[up] if up >= 0 else None), (world, t, me)
            assert sorted(children) == sorted(ranks[c] for c, p in enumerate(NCCL_DTREES[world][t]) if p == pos)
    busiest = max(sum(len(_expected_edges(world, t, r)) for t in (0, 1)) for r in range(world))
    assert busiest == BUSIEST_HALVES[world]


def _bytes_worker(rank: int, world: int, port: int, out: str) -> None:
    """Every tree all-reduce over the first 2-8 ranks, counting the bytes each ``dist.isend`` of the tree sends."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=GROUP_TIMEOUT)
    from runtime.collectives.tree import MAX_CHUNKS, tree_allreduce

    sent: dict[str, int] = {}
    isend = dist.isend

    def counting_isend(tensor: torch.Tensor, dst: int, tag: int = 0, **kwargs: object) -> object:
        key = f"{group}/{(tag - base) // (2 * MAX_CHUNKS)}/{dst}"  # group size / tree / destination
        sent[key] = sent.get(key, 0) + tensor.numel() * tensor.element_size()
        return isend(tensor, dst=dst, tag=tag, **kwargs)

    dist.isend = counting_isend  # what tree.py calls
    try:
        gaps: dict[str, float] = {}
        for group in range(2, world + 1):
            base = 4 * MAX_CHUNKS * group
            if rank < group:
                x = torch.full((NUMEL,), float(rank + 1), dtype=torch.float32)
                tree_allreduce(x, list(range(group)), rank, base)
                gaps[str(group)] = float((x - group * (group + 1) / 2).abs().max())
            dist.barrier()
        Path(out, f"rank{rank}.json").write_text(json.dumps({"sent": sent, "gaps": gaps}))
    finally:
        dist.isend = isend
        destroy_group()


NUMEL = 300_001
"""Elements of the tree test's vector: halves of 150,001 and 150,000 float32 (4 chunks of ~147 KiB each)."""


def test_p2p_tree_sends_exactly_nccls_bytes_per_rank_per_tree(tmp_path: Path) -> None:
    """Run the tree all-reduce over 2-8 ranks and count every byte each rank sends in each tree: its half of the
    vector to its parent (the reduce) and to each child (the broadcast) of NCCL's trees, and nothing else."""
    world = max(NCCL_DTREES)
    with reserve_port() as port:
        mp.spawn(_bytes_worker, args=(world, port, str(tmp_path)), nprocs=world, join=True)
    halves = [4 * (NUMEL - NUMEL // 2), 4 * (NUMEL // 2)]  # bytes of tree 0's and tree 1's half
    for rank in range(world):
        record = json.loads((tmp_path / f"rank{rank}.json").read_text())
        for group in range(2, world + 1):
            if rank >= group:
                continue
            assert record["gaps"][str(group)] == 0.0, (group, rank)
            for t in (0, 1):
                got = {int(k.split("/")[2]): v for k, v in record["sent"].items() if k.startswith(f"{group}/{t}/")}
                assert got == dict.fromkeys(_expected_edges(group, t, rank), halves[t]), (group, t, rank, got)


@pytest.mark.parametrize("world", range(2, 65))
def test_double_binary_tree_spans_every_rank_twice_and_loads_no_link_beyond_two_s(world: int) -> None:
    """Each tree is a spanning tree (every rank but its root has one parent, which lists it as a child); a
    rank's link carries S/2 per tree edge — reduce and broadcast, each way — and at most 2·S each way: S at 2
    ranks, 1.5·S at 3, exactly 2·S on the busiest from 4 ranks on (NCCL's ``ncclGetDtree``)."""
    from runtime.collectives.tree import tree_roles

    ranks = [10 + 3 * r for r in range(world)]  # arbitrary global ranks
    roles = {me: tree_roles(ranks, me) for me in ranks}
    halves = {}
    for me, per_tree in roles.items():
        for t, (parent, children) in enumerate(per_tree):
            if parent is not None:
                assert me in roles[parent][t][1]
            assert all(roles[c][t][0] == me for c in children)
        halves[me] = sum((parent is not None) + len(children) for parent, children in per_tree)
    assert [sum(roles[me][t][0] is None for me in ranks) for t in (0, 1)] == [1, 1]
    assert sum(halves.values()) == 2 * 2 * (world - 1)  # two trees of world-1 edges, each edge counted twice
    expected = 2 if world == 2 else 3 if world == 3 else 4  # busiest link, in units of S/2
    assert max(halves.values()) == expected
