"""Pipeline sends of two stage boundaries through one NIC at once: what the engines price, the fabric, a what-if.

Where a stage is smaller than a node (tp·dp < GPUs a node) a node holds several stages, and its NIC carries the
crossing sends of every boundary at its edges: the gradients its first stage sends back to the node before and
the activations its last stage sends on (a middle node of three; under the interleaved schedule also the wrap,
stage p − 1 → 0, on two nodes). Both engines price each directed stage link as its own
(:func:`dpsim.analytic.parallel.stage_boundary_ranks_per_nic` counts one boundary's sends a NIC), so two
boundaries' sends leaving one NIC at the same moment each get the NIC's share as if alone. The job alone on the
shared fabric (:func:`dpsim.sim.shared.simulate_shared`) routes every send flow by flow, but releases them at the
uncontended schedule's times and adds their queueing once as lateness (one pass, not a fixed point), so it is no
ground truth either. The what-if prices each boundary at the count of every crossing send out of its busiest NIC
(both directions of every boundary the schedule uses: the wrap only when interleaved), an upper bound on the
sharing: the engines with every such send at once.

Usage: ``PYTHONPATH=. python benchmarks/pipeline_edge_sharing.py`` (a minute or so; diagnostic, no model change).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# PP over 2 or 3 nodes of 4 A100s at 1 Gbit/s, one NIC a node, DP 2: stages of 2 GPUs (tests.test_parallel.SMALL_STAGES)
BASE = [
    "cluster.nodes=2",
    "cluster.workers_per_node=4",
    "cluster.device=a100-80gb",
    "cluster.intra_node={preset: nvlink3}",
    "cluster.inter_node={bandwidth: 1 Gbit/s, latency: 10 us, nics_per_node: 1}",
    "training.global_batch=16",
    "training.micro_batch=1",
    "training.pipeline_parallel=4",
    "communication.algorithm=ring",
]
INTERLEAVED = ["training.pipeline_schedule=interleaved", "training.virtual_stages=2"]
THREE_NODES = ["cluster.nodes=3", "training.pipeline_parallel=6", "training.global_batch=24"]
CASES: dict[str, list[str]] = {
    "PP 4, 2 nodes, 1F1B": [],
    "PP 4, 2 nodes, interleaved v 2": INTERLEAVED,
    "PP 6, 3 nodes, 1F1B": THREE_NODES,
    "PP 6, 3 nodes, interleaved v 2": [*THREE_NODES, *INTERLEAVED],
}


def every_send_out_of_a_nic(
    one: Callable[..., tuple[int, ...]], wrap: bool
) -> Callable[[int, int, int, int, int], tuple[int, ...]]:
    """``stage_boundary_ranks_per_nic`` where each boundary's count is every crossing send out of its busiest NIC."""

    @functools.lru_cache(maxsize=256)
    def counts(p: int, tp: int, dp: int, per_node: int, nics: int = 1) -> tuple[int, ...]:
        alone = one(p, tp, dp, per_node, nics)
        g = tp * dp
        if p <= 1 or g >= per_node:
            return alone
        out: dict[tuple[int, int], int] = {}
        used: list[set[tuple[int, int]]] = []
        for k in range(p):
            mine: set[tuple[int, int]] = set()
            if k < p - 1 or wrap:
                a, b = k * g, (k + 1) % p * g
                for i in range(g):
                    for src, dst in ((a + i, b + i), (b + i, a + i)):
                        if src // per_node != dst // per_node:
                            at = (src // per_node, src % per_node * nics // per_node)
                            out[at] = out.get(at, 0) + 1
                            mine.add(at)
            used.append(mine)
        return tuple(max(out[n] for n in mine) if mine else alone[k] for k, mine in enumerate(used))

    return counts


@contextmanager
def shared_nics(wrap: bool) -> Iterator[None]:
    from dpsim.analytic import parallel

    one = parallel.stage_boundary_ranks_per_nic
    parallel.stage_boundary_ranks_per_nic = every_send_out_of_a_nic(one, wrap)  # type: ignore[assignment]
    try:
        yield
    finally:
        parallel.stage_boundary_ranks_per_nic = one


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    from dpsim.api import run
    from dpsim.scenario import load_scenario
    from dpsim.sim.shared import simulate_shared

    print(f"{'case (1 Gbit/s, 1 NIC, DP 2)':34s} {'engines':>9s} {'fabric':>9s} {'':>9s} {'what-if':>9s}")
    for name, extra in CASES.items():
        overrides = [*BASE, *extra]
        engines = run(None, overrides=overrides).step_time_s
        sim = run(None, engine="sim", overrides=overrides).step_time_s
        assert abs(sim / engines - 1) < 1e-9, (name, engines, sim)  # both engines price the one schedule
        (alone,) = simulate_shared([load_scenario(None, overrides)])
        with shared_nics(wrap="interleaved" in name):
            what_if = run(None, overrides=overrides).step_time_s
        gap = (alone.step_time_s / engines - 1) * 100
        print(f"{name:34s} {engines:8.4f}s {alone.step_time_s:8.4f}s {gap:+8.1f}% {what_if:8.4f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
