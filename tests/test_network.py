"""The flow-level network: vectorised max-min, flow groups, recycled flow slots (hand-computed values)."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

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
