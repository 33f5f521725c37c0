"""The flow-level network: vectorised max-min, flow groups, recycled flow slots (hand-computed values)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import simpy

from dpsim.analytic.collectives import Link
from dpsim.analytic.step import fabric_of
from dpsim.scenario import scenario_from_dict
from dpsim.sim.cluster import Cluster
from dpsim.sim.network import FluidNetwork, max_min_rates


def test_max_min_rates_by_progressive_filling() -> None:
    """Links 0 (1 B/s), 1 (3 B/s), 2 (10 B/s); A crosses 0 and 1, B crosses 1, C and D cross 1 and 2.
    Link 1 carries all four: its fair share 3/4 is below link 0's 1 and link 2's 10/2, so all get 3/4."""
    pad = 3
    routes = np.array([[0, 1], [1, pad], [2, 1], [1, 2]])
    rates = max_min_rates(routes, np.array([1.0, 3.0, 10.0, np.inf]), pad)
    assert rates.tolist() == pytest.approx([0.75, 0.75, 0.75, 0.75])
    # link 0 at 0.5 B/s: A is bottlenecked there first, the other three share 3 − 0.5 on link 1
    rates = max_min_rates(routes, np.array([0.5, 3.0, 10.0, np.inf]), pad)
    assert rates.tolist() == pytest.approx([0.5, 2.5 / 3, 2.5 / 3, 2.5 / 3])


def _finish_times(net: FluidNetwork, env: simpy.Environment, routes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    ends = np.full(len(sizes), np.nan)

    def delivered(tags: np.ndarray) -> None:
        ends[tags] = env.now

    net.start_many(routes, sizes, np.zeros(len(sizes)), net.owner(delivered), np.arange(len(sizes)))
    env.run()
    return ends


@pytest.mark.parametrize("flows", [1, 2, 9, 100])
def test_flows_sharing_one_link_end_together(flows: int) -> None:
    """k flows of 1000 B on one 1 MB/s link, all started at once: each at 1/k MB/s, all done at k ms."""
    env = simpy.Environment()
    net = FluidNetwork(env, [1e6])
    ends = _finish_times(net, env, np.zeros((flows, 1), dtype=np.int64), np.full(flows, 1000.0))
    assert ends.tolist() == pytest.approx([flows * 1e-3] * flows, rel=1e-12)


@pytest.mark.parametrize("flows", [3, 50])
def test_short_flow_leaves_and_the_others_speed_up(flows: int) -> None:
    """One flow of 500 B and k−1 of 1000 B on a 1 MB/s link: the short one ends at k·0.5 ms, the others then
    share the link among k−1 and end at k·0.5 ms + (k−1)·0.5 ms."""
    env = simpy.Environment()
    net = FluidNetwork(env, [1e6])
    sizes = np.full(flows, 1000.0)
    sizes[0] = 500.0
    ends = _finish_times(net, env, np.zeros((flows, 1), dtype=np.int64), sizes)
    assert ends[0] == pytest.approx(flows * 0.5e-3, rel=1e-12)
    assert ends[1:].tolist() == pytest.approx([flows * 0.5e-3 + (flows - 1) * 0.5e-3] * (flows - 1), rel=1e-12)


def test_flow_slots_are_recycled() -> None:
    """Ten waves of 100 flows, one after the other: the pool holds one wave (plus growth slack), not all ten."""
    env = simpy.Environment()
    net = FluidNetwork(env, np.full(200, 1e6))
    owner = net.owner(lambda tags: None)
    for wave in range(10):

        def start(_event: simpy.Event) -> None:
            routes = np.arange(200).reshape(100, 2)
            net.start_many(routes, np.full(100, 1000.0), np.full(100, 1e-6), owner, np.arange(100))

        env.timeout(wave * 2e-3).callbacks.append(start)
    env.run()
    assert net.events == 2 * 1000
    assert net.simpy_events < 100  # one event per wave ending, one per wave delivered
    assert len(net._remaining) < 200


# --- the GPU's path to its NIC: PCIe, not NVLink (DGX A100/H100, GPUDirect RDMA) -----------------


def _send_times(cluster: Any, pairs: list[tuple[int, int]], size: float) -> list[float]:
    """Delivery time of one ``size``-byte transfer per (src rank, dst rank), all started at once on ``cluster``."""
    env = simpy.Environment()
    net = FluidNetwork(env, cluster.links.bandwidths)
    routes, latency = cluster.routes(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    ends = np.full(len(pairs), np.nan)

    def delivered(tags: np.ndarray) -> None:
        ends[tags] = env.now

    net.start_many(routes, np.full(len(pairs), size), latency, net.owner(delivered), np.arange(len(pairs)))
    env.run()
    return ends.tolist()


NVLINK, NIC, PCIE = Link(1e-6, 240e9), Link(5e-6, 24e9), Link(2e-6, 24.0058e9)


def test_inter_node_traffic_crosses_the_pcie_link_not_the_nvswitch_port() -> None:
    """GPU 0 sends 1 GB to GPU 1 (NVSwitch) and 1 GB to GPU 8 (other node) at once: neither slows the other.

    With a host link each transfer alone: α + S/B (1 us + 1e9/240e9, 5 us + 1e9/24e9). Without one
    (the old routing), the NVSwitch port carries both: the inter-node flow is still NIC-bound, but the
    port's max-min share leaves the NVLink flow 240 − 24 GB/s until the inter-node flow ends."""
    size = 1e9
    with_pcie = Cluster(2, 8, NVLINK, NIC, 8, host=PCIE)
    intra, inter = _send_times(with_pcie, [(0, 1), (0, 8)], size)
    assert intra == pytest.approx(1e-6 + size / NVLINK.bandwidth, rel=1e-12)
    assert inter == pytest.approx(5e-6 + size / NIC.bandwidth, rel=1e-12)
    names = [with_pcie.links.names[i] for i in with_pcie.routes(np.array([0]), np.array([8]))[0][0] if i >= 0]
    assert names == ["worker0.pcie:up", "node0.nic0:up", "node1.nic0:down", "worker8.pcie:down"]
    old = Cluster(2, 8, NVLINK, NIC, 8)
    intra_old, _ = _send_times(old, [(0, 1), (0, 8)], size)
    assert intra_old == pytest.approx(1e-6 + size / (NVLINK.bandwidth - NIC.bandwidth), rel=1e-12)


def test_a_pcie_link_slower_than_the_nic_caps_a_gpus_inter_node_send() -> None:
    """An A100's Gen4 x16 (24 GB/s) in front of an NDR NIC (47 GB/s): α + S/24 GB/s; a faster slot leaves the NIC's."""
    ndr = Link(5e-6, 47e9)
    (slow,) = _send_times(Cluster(2, 8, NVLINK, ndr, 8, host=PCIE), [(0, 8)], 1e9)
    assert slow == pytest.approx(5e-6 + 1e9 / PCIE.bandwidth, rel=1e-12)
    (fast,) = _send_times(Cluster(2, 8, NVLINK, ndr, 8, host=Link(2e-6, 48.0117e9)), [(0, 8)], 1e9)
    assert fast == pytest.approx(5e-6 + 1e9 / ndr.bandwidth, rel=1e-12)


def test_gpus_sharing_a_nic_each_reach_it_over_their_own_pcie_link() -> None:
    """1 NIC per node: 8 GPUs send 1 GB each across at once, the NIC splits 8 ways (NIC affinity as before)."""
    ends = _send_times(Cluster(2, 8, NVLINK, NIC, 1, host=PCIE), [(r, 8 + r) for r in range(8)], 1e9)
    assert ends == pytest.approx([5e-6 + 8e9 / NIC.bandwidth] * 8, rel=1e-12)


def test_the_host_link_comes_from_the_device_or_the_scenario() -> None:
    """A100 -> pcie4 (24.0 GB/s achievable, NCCL's Gen4 x16), H100 -> pcie5; PCIe boxes and bare devices: none."""
    base = {"name": "x", "model": "gpt2-small", "training": {"global_batch": 16, "micro_batch": 1}}
    cluster = {"nodes": 2, "workers_per_node": 8, "inter_node": {"preset": "ib-hdr", "nics_per_node": 8}}

    def host(**extra: Any) -> Link | None:
        return fabric_of(scenario_from_dict({**base, "cluster": {**cluster, **extra}})).host

    a100 = host(device="a100-80gb")
    assert a100 is not None and a100.bandwidth == pytest.approx(16e9 * 16 * 128 / 130 / 8 * 12.0 / 15.75)
    assert 24e9 < a100.bandwidth < 24.01e9  # just above an HDR NIC's 24 GB/s: not the bottleneck there
    h100 = host(device="h100-sxm", intra_node="nvlink4")
    assert h100 is not None and 48e9 < h100.bandwidth < 48.02e9
    assert host(device="a100-80gb", intra_node="pcie4") is None
    assert host(device={"peak_flops": "100 TFLOP/s", "memory": "40 GB"}) is None
    given = host(device="a100-80gb", host_link={"bandwidth": "50 GB/s", "latency": "1 us"})
    assert given == Link(1e-6, 50e9)


def test_link_capacity_is_built_once_and_follows_added_and_scaled_links() -> None:
    """``LinkTable.capacity`` is kept between reads (pricing reads it for every phase and fill step) and follows the
    table: a link added, a link scaled (a degraded NIC: 100 → 25 B/s). Read-only, so that no reader changes it."""
    from dpsim.sim.links import LinkTable

    table = LinkTable()
    up, down = table.add_duplex("nic", 100.0, 1e-6)
    first = table.capacity
    assert first is table.capacity and first.tolist() == [100.0, 100.0]
    with pytest.raises(ValueError):
        first[up] = 1.0
    table.scale(down, 0.25)
    assert table.capacity.tolist() == [100.0, 25.0]
    table.add("server", 400.0, 0.0)
    assert table.capacity.tolist() == [100.0, 25.0, 400.0]


@pytest.mark.parametrize("flows", [3, 50])
def test_rate_work_counts_the_route_entries_each_recompute_goes_over(flows: int) -> None:
    """The shared fabric's work bound charges each max-min recompute by the flows it goes over
    (:attr:`FluidNetwork.rate_work`, round 36): k flows on one link are recomputed when they start (k rows) and
    when the short one leaves (k − 1); when the rest end together nothing is left to share. Each row is the flow
    pool's width, two columns at least (a one-link route padded: max-min goes over the padding too)."""
    env = simpy.Environment()
    net = FluidNetwork(env, [1e6])
    sizes = np.full(flows, 1000.0)
    sizes[0] = 500.0
    _finish_times(net, env, np.zeros((flows, 1), dtype=np.int64), sizes)
    assert net._route.shape[1] == 2 and net.rate_work == 2 * (flows + (flows - 1))
    alone = FluidNetwork(env := simpy.Environment(), [1e6, 1e6])  # two flows on links of their own: none shared
    _finish_times(alone, env, np.array([[0], [1]]), np.full(2, 1000.0))
    assert alone.rate_work == 0


@pytest.mark.parametrize("links", [1, 1001])
def test_link_work_counts_the_passes_over_every_link(links: int) -> None:
    """Round 37: a start, an end of sending, a recompute and each max-min filling round pass over the whole link table
    (and a recompute over the flow pool), whatever the flows: uncharged, a shared fabric of many jobs (its links grow
    with the jobs) cost the square of the jobs while its bound counted them linearly. Three flows on link 0 of
    ``links`` (the rest idle), the short one ending first: one start, two recomputes of one round each (at the start,
    and when the short one ends, each over the flow pool), two ends of sending (the last two together, nothing left to
    share): 7 passes of ``links + 1`` entries plus the pool twice. Rates and ``rate_work`` do not depend on the
    idle links."""
    env = simpy.Environment()
    net = FluidNetwork(env, [1e6] * links)
    ends = _finish_times(net, env, np.zeros((3, 1), dtype=np.int64), np.array([500.0, 1000.0, 1000.0]))
    assert net.link_work == 7 * (links + 1) + 2 * net._size  # the pool: at least 64 slots
    assert ends.tolist() == pytest.approx([1.5e-3, 2.5e-3, 2.5e-3]) and net.rate_work == 2 * (3 + 2)


def test_the_shared_fabric_charges_its_link_table_passes() -> None:
    from dpsim.sim import budget

    work = budget.SharedWork()
    assert work.over(0, 0, 0, int(budget.LIMIT_S / budget.SHARED_LINK_S) + 1) and not work.over(0, 0, 0, 10**9)
    assert work.spent(1, 2, 3, 4) == pytest.approx(
        budget.SHARED_STEP_S + 2 * budget.SHARED_FLOW_S + 3 * budget.SHARED_RATE_S + 4 * budget.SHARED_LINK_S
    )


def test_the_shared_fabric_stops_at_the_first_event_past_its_work_limit() -> None:
    """Round 37: the shared fabric checked its work every 256 simpy events, so one costly event (a max-min recompute
    over millions of route entries: about 0.16 s at 4,096 nodes) could carry a run tens of seconds past the limit before
    the check came round. A stand-in network whose tenth event charges past :data:`~dpsim.sim.budget.LIMIT_S` is
    stopped right after that event (simulated time 10), not at the 256th."""
    from dpsim.errors import ScenarioError
    from dpsim.sim import budget
    from dpsim.sim.shared import _run_bounded

    class Counted:
        events = 0
        rate_work = 0
        link_work = 0

    env, net = simpy.Environment(), Counted()

    def ticks() -> Any:
        for i in range(1, 1000):
            yield env.timeout(1)
            if i == 10:
                net.rate_work = int(budget.LIMIT_S / budget.SHARED_RATE_S) + 1

    env.process(ticks())
    with pytest.raises(ScenarioError, match="passed its work limit"):
        _run_bounded(env, net, budget.SharedWork())  # type: ignore[arg-type]
    assert env.now == 10
    env, net = simpy.Environment(), Counted()
    env.process(ticks())
    _run_bounded(env, net, budget.SharedWork(allow_long=True))  # type: ignore[arg-type]
    assert env.now == 999
