"""``cluster.rank_order``: which GPU each rank runs on, and what that changes.

Independent truths: the α–β ring formula (Thakur et al. 2005) with the bandwidth a rank
gets when all G ranks of its node send through its NICs at once (``Fabric.inter_per_rank``),
and NCCL's topology-built rings (``src/graph/search.cc``), which do not depend on the rank
numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dpsim.analytic import collectives as cf
from dpsim.cli import main
from dpsim.errors import ScenarioError
from dpsim.scenario import load_scenario
from dpsim.sim import collectives
from dpsim.sim.chunk import ChunkEngine
from dpsim.sim.cluster import Cluster
from dpsim.sim.fast import FastEngine
from dpsim.sim.shared import simulate_shared

NVLINK = cf.Link(1e-6, 240e9)
NIC = cf.Link(5e-6, 24e9)
SIZE = 64e6
NODES, G = 4, 8
DEFAULT = Path(__file__).resolve().parents[1] / "scenarios" / "default.yaml"


def _round_robin(nodes: int, g: int) -> tuple[int, ...]:
    return tuple((r % nodes) * g + r // nodes for r in range(nodes * g))


def _fabric(nics: int, order: tuple[int, ...] = (), protocol: str = "none") -> cf.Fabric:
    return cf.Fabric(NODES, G, NVLINK, NIC, nics, protocol=protocol, rank_order=order)


def _times(algorithm: str, fabric: cf.Fabric) -> tuple[float, float, float]:
    analytic = cf.collective("allreduce", algorithm, SIZE, fabric).time_s
    cluster = Cluster.from_fabric(fabric)
    joins = np.zeros(fabric.world_size)
    fast = float(FastEngine(cluster, algorithm, fabric.protocol).evaluate("allreduce", SIZE, joins).max())
    chunk = float(ChunkEngine(cluster, algorithm, protocol=fabric.protocol).evaluate("allreduce", SIZE, joins).max())
    return analytic, fast, chunk


def _crossings(algorithm: str, fabric: cf.Fabric) -> int:
    """Transfers of one step of the schedule whose two ranks sit on different nodes."""
    schedule = collectives.build("allreduce", algorithm, fabric.layout(), fabric.protocol)
    slot = Cluster.from_fabric(fabric).slot
    phase = schedule.phases[0]
    return int(np.sum(slot[phase.src] // G != slot[phase.dst] // G))


@pytest.mark.parametrize("nics", [1, 4])
def test_round_robin_ranks_make_the_rank_ordered_ring_cross_nodes_at_every_hop(nics: int) -> None:
    """gloo's ring over round-robin ranks: all N hops cross nodes (node-major: one per node), and all G ranks of a
    node send through its NICs at once: 2(N−1)α + 2(N−1)/N · S / (B · nics/G), on every engine."""
    n = NODES * G
    rr = _fabric(nics, _round_robin(NODES, G))
    block = _fabric(nics)
    assert _crossings("backend", rr) == n and _crossings("backend", block) == NODES
    expected = cf.ring_allreduce_time(SIZE, n, cf.Link(NIC.latency_s, rr.inter_per_rank(G)))
    analytic, fast, chunk = _times("backend", rr)
    assert analytic == pytest.approx(expected, rel=1e-9)
    assert fast == pytest.approx(expected, rel=1e-9)
    assert chunk == pytest.approx(expected, rel=0.01)
    node_major = cf.ring_allreduce_time(SIZE, n, cf.Link(NIC.latency_s, NIC.bandwidth))
    assert _times("backend", block)[0] == pytest.approx(node_major, rel=1e-9)


def test_an_explicit_order_is_followed_and_nccl_rings_do_not_depend_on_it() -> None:
    """A shuffled placement: the rank-ordered halving–doubling changes; NCCL's topology-built ring and tree do not."""
    order = tuple(int(x) for x in np.random.default_rng(0).permutation(NODES * G))
    for algorithm, protocol in (("ring", "Simple"), ("tree", "Simple"), ("ring", "none")):
        placed = _times(algorithm, _fabric(4, order, protocol))
        plain = _times(algorithm, _fabric(4, (), protocol))
        assert placed[0] == pytest.approx(plain[0], rel=1e-12)
        assert placed[2] == pytest.approx(plain[2], rel=1e-9)
    shuffled, block = _times("halving-doubling", _fabric(1, order)), _times("halving-doubling", _fabric(1))
    # steps that stayed in a node now cross it, several ranks to one NIC: slower than node-major
    assert shuffled[0] == pytest.approx(shuffled[1], rel=1e-12) and shuffled[0] > block[0]
    assert block[2] < shuffled[2] and abs(shuffled[2] / shuffled[1] - 1) < 0.01


@pytest.mark.parametrize("nics", [1, 2, 4])
@pytest.mark.parametrize(("nodes", "g"), [(4, 8), (2, 8), (4, 4)])
@pytest.mark.parametrize("seed", [0, 1, 4, 6])
def test_shuffled_halving_doubling_engines_agree(nodes: int, g: int, nics: int, seed: int) -> None:
    """Under a shuffled placement the NICs are loaded unevenly step by step, ranks that finish a step early
    start the next on other links, and the lock-step sum was off by −22…+5 % against the chunk level; the
    fast level and the analytic engine now price that schedule by its per-rank dependencies: within 1 %."""
    order = tuple(int(x) for x in np.random.default_rng(seed).permutation(nodes * g))
    fabric = cf.Fabric(nodes, g, NVLINK, NIC, nics, rank_order=order)
    cluster = Cluster.from_fabric(fabric)
    joins = np.zeros(fabric.world_size)
    analytic = cf.collective("allreduce", "halving-doubling", SIZE, fabric).time_s
    fast = float(FastEngine(cluster, "halving-doubling").evaluate("allreduce", SIZE, joins).max())
    chunk = float(ChunkEngine(cluster, "halving-doubling").evaluate("allreduce", SIZE, joins).max())
    assert analytic == pytest.approx(fast, rel=1e-12)
    assert abs(chunk / fast - 1) < 0.01


def test_lock_step_is_kept_where_every_rank_is_busy_to_the_end_of_each_step() -> None:
    """Node-major halving–doubling loads every link of a step alike: the phase-by-phase sum is the price,
    2·(log2 p)·α + the per-step loads (exact), and the fluid run is not needed."""
    from dpsim.sim.cost import lock_step, phase_cost

    block, shuffled = _fabric(1), _fabric(1, tuple(int(x) for x in np.random.default_rng(0).permutation(NODES * G)))
    schedule = collectives.build("allreduce", "halving-doubling", block.layout())
    assert lock_step(schedule, Cluster.from_fabric(block))
    assert not lock_step(
        collectives.build("allreduce", "halving-doubling", shuffled.layout()), Cluster.from_fabric(shuffled)
    )
    # steps 16 and 8 apart cross nodes with all 8 ranks of a node on its one NIC; the rest stay on NVLink
    inter = 8 * (1 / 2 + 1 / 4) / NIC.bandwidth
    intra = (1 / 8 + 1 / 16 + 1 / 32) / NVLINK.bandwidth
    cost = phase_cost(schedule, Cluster.from_fabric(block))
    assert cost.seconds_per_byte == pytest.approx(2 * (inter + intra), rel=1e-12)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("block", "expected node_major or round_robin"),
        ("[0, 1]", "must hold each of 0 .. 63 once"),
        ("[true]", "GPU slots are integers"),
        ("7", "expected node_major or round_robin"),
    ],
)
def test_bad_rank_orders_are_one_line_errors(capsys: pytest.CaptureFixture[str], value: str, message: str) -> None:
    code, err = _cli(capsys, "check", str(DEFAULT), "--set", f"cluster.rank_order={value}")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "cluster.rank_order" in err and message in err


def test_rank_order_with_model_parallelism_or_a_shared_fabric_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _cli(
        capsys,
        "check",
        str(DEFAULT),
        "--set",
        "cluster.rank_order=round_robin",
        "--set",
        "training.pipeline_parallel=2",
        "--set",
        "model.layers=48",
    )
    assert code == 2 and "cluster.rank_order" in err and len(err.strip().splitlines()) == 1
    scenario = load_scenario(DEFAULT, ["cluster.rank_order=round_robin"])
    with pytest.raises(ScenarioError, match="node-major"):
        simulate_shared([scenario])
