"""Pipeline sends of two stage links through one NIC direction at once: the engines, the fabric, and two bounds.

Where a stage is smaller than a node (tp·dp < GPUs a node) a node holds several stages, and its NIC carries the
crossing sends of every boundary at its edges: the gradients its first stage sends back to the node before and
the activations its last stage sends on (a middle node of three; under the interleaved schedule also the wrap,
stage p − 1 → 0, on two nodes). Both engines run the schedule event by event where that happens
(:func:`dpsim.analytic.pipeline_schedule.evaluate_shared_nics`): sends of different links in flight on one NIC
direction share it (:func:`dpsim.analytic.parallel.stage_link_nic_flows`). ``alone`` is the engines with every
directed link its own (the pricing before, a lower bound); ``bound`` prices each boundary at the count of every
crossing send out of its busiest NIC, every send as if all of them were always in flight (an upper bound). The
job alone on the shared fabric (:func:`dpsim.sim.shared.simulate_shared`) releases its flows when the engines'
schedule sends them and routes them max-min fair; where it takes each send as long as the engines do, the gap is 0
(before, released at the unshared schedule's times and then queued on their links once more: PP 6 over 3 nodes
8.21 s against the engines' 3.69 s and a bound of 4.53 s).

Usage: ``PYTHONPATH=. python benchmarks/pipeline_edge_sharing.py`` (seconds).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser

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
def each_link_alone(every_send: bool = False, wrap: bool = False) -> Iterator[None]:
    """The engines with every directed stage link its own (no NIC direction shared); with ``every_send``, each
    boundary priced at every crossing send out of its busiest NIC."""
    from dpsim.analytic import parallel

    one, flows = parallel.stage_boundary_ranks_per_nic, parallel.pipeline_nic_flows
    if every_send:
        parallel.stage_boundary_ranks_per_nic = every_send_out_of_a_nic(one, wrap)  # type: ignore[assignment]
    parallel.pipeline_nic_flows = lambda scenario, fabric: ()  # type: ignore[assignment]
    try:
        yield
    finally:
        parallel.stage_boundary_ranks_per_nic, parallel.pipeline_nic_flows = one, flows


def main() -> int:
    Parser(description=__doc__.splitlines()[0]).parse_args()
    from dpsim.api import run
    from dpsim.scenario import load_scenario
    from dpsim.sim.shared import simulate_shared

    print(
        f"{'case (1 Gbit/s, 1 NIC, DP 2)':34s} {'alone':>9s} {'engines':>9s} {'fabric':>9s} {'gap':>8s} {'bound':>9s}"
    )
    for name, extra in CASES.items():
        overrides = [*BASE, *extra]
        engines = run(None, overrides=overrides).step_time_s
        sim = run(None, engine="sim", overrides=overrides).step_time_s
        assert abs(sim / engines - 1) < 1e-9, (name, engines, sim)  # both engines price the one schedule
        (fabric,) = simulate_shared([load_scenario(None, overrides)])
        with each_link_alone():
            alone = run(None, overrides=overrides).step_time_s
        with each_link_alone(every_send=True, wrap="interleaved" in name):
            bound = run(None, overrides=overrides).step_time_s
        gap = (fabric.step_time_s / engines - 1) * 100
        print(
            f"{name:34s} {alone:8.4f}s {engines:8.4f}s {fabric.step_time_s:8.4f}s {gap:+7.2f}% {bound:8.4f}s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
