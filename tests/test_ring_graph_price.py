"""NCCL's LL128 ring across NVLink nodes: each step the longer of its own step as NCCL prices it and its step graph's
wave (:func:`dpsim.sim.cost.ring_wave`), in both engines, against the closed form worked by hand.

Two p5 nodes (8 H100 each, one 400 Gbit/s EFA v2 port a GPU, aws-ofi-nccl's 75 µs reported latency), a ring/LL128
all-gather: N = 16 ranks, M = 2 nodes, T = N − 1 = 15 steps, f = M / (N − 1) = 2/15 network hops a step of the wave.
NCCL 2.30.7's constants: ``hwLatencies`` NVLink ring LL128 1.9 µs, NET ring LL128 4 µs, base latency 14 µs,
``perChMaxRingLL128Bw`` 36.7 GB/s a rail channel (8 rails), LL128's 120/128 wire share 0.92. A step of S bytes: each
rail channel moves S / (8 · 16) bytes of data a step, so its work is ``S / (128 · 36.7 GB/s)``; the network leg
(from the PXN relay) is slowest on its GPU's PCIe Gen5 x16 path to the NIC (63.0 GB/s at NCCL's ``PCI_BW`` share
12/15.75: 48.01 GB/s) with the same bytes on the wire, ``S / 0.92 / (128 · 48.01 GB/s)``. NCCL's own step: its
mean latency, 14 NVLink steps and one network step timed on the route's 22.75 µs, then its work. The wave: 13
NVLink hops and 2 network hops at the plugin's 75 µs (4 + 71) over 15 steps. Then::

    t(S) = 14 µs + T · max((14 · 1.9 + 22.75) µs / 15 + S · work,  (13 · 1.9 + 2 · 75) µs / 15 + S · f · work)
"""

from __future__ import annotations

import numpy as np
import pytest

from dpsim.analytic import collectives as cf
from dpsim.analytic.collectives import Fabric
from dpsim.analytic.step import fabric_of
from dpsim.catalog import LINKS
from dpsim.cli_collective import machine_scenario
from dpsim.sim import collectives
from dpsim.sim.chunk import ChunkEngine
from dpsim.sim.cluster import Cluster
from dpsim.sim.collectives.base import Layout

US = 1e-6
P5_NIC = {"preset": "efa-v2", "bandwidth": "400 Gbit/s", "nics_per_node": 8, "pcie_gpus_per_nic": 1}
RING_LL128 = {"nccl_algo": "ring", "nccl_proto": "LL128"}
PCIE5 = LINKS["pcie5"].bandwidth * LINKS["pcie5"].efficiency


def _fabric(inter: dict[str, object]) -> Fabric:
    return fabric_of(machine_scenario("p5", 2, 8, "h100-sxm", "nvlink4", inter, communication=RING_LL128))


def _by_hand(size: float) -> float:
    steps, f = 15, 2 / 15
    work = 1 / (128 * 36.7e9)
    own = (14 * 1.9 + 22.75) * US / 15 + size * work
    wave = (13 * 1.9 + 2 * 75) * US / 15 + size * f * max(work, 1 / 0.92 / (128 * PCIE5))
    return 14 * US + steps * max(own, wave)


@pytest.mark.parametrize("size", [1 << 20, 4 << 20, 32 << 20, 256 << 20])
def test_both_engines_price_the_hand_worked_step_graph(size: int) -> None:
    """Small sizes run at the wave's pace (two 75 µs hops over the 15 steps), large ones at NCCL's own step (its
    latency, then its work): both engines give the closed form."""
    fabric = _fabric(P5_NIC)
    choice = cf.collective("all_gather", "auto", size, fabric)
    assert (choice.algorithm, choice.protocol) == ("ring", "LL128")
    assert choice.time_s == pytest.approx(_by_hand(size), rel=1e-9)
    engine = ChunkEngine(Cluster.from_fabric(fabric), "auto", protocol=fabric.protocol)
    assert float(engine.evaluate("all_gather", size, np.zeros(16)).max()) == pytest.approx(_by_hand(size), rel=1e-9)


def test_the_wave_and_the_own_step_cross_where_the_work_covers_the_hops() -> None:
    """The two meet where a step's work beyond the wave's share of it equals the wave's latency beyond NCCL's: below,
    the time grows at the wave's share of the work; above, at the work's rate (before stop 47, at the work's rate
    everywhere, from NCCL's latency: 2.1 µs a step less than the wave at small sizes)."""
    steps, f = 15, 2 / 15
    work = 1 / (128 * 36.7e9)
    cross = ((13 * 1.9 + 2 * 75) - (14 * 1.9 + 22.75)) * US / 15 / (work - f * work)
    fabric = _fabric(P5_NIC)
    below = cf.collective("all_gather", "auto", 0.5 * cross, fabric).time_s
    at = cf.collective("all_gather", "auto", cross, fabric).time_s
    above = cf.collective("all_gather", "auto", 2 * cross, fabric).time_s
    assert (at - below) / (0.5 * cross) == pytest.approx(steps * f * work, rel=1e-6)
    assert (above - at) / cross == pytest.approx(steps * work, rel=1e-6)


def test_only_an_ll128_ring_across_nvlink_nodes_is_a_step_graph() -> None:
    """Simple (whose NVLink steps are not cut through a line at a time), one node (no network hop), one GPU a node
    (every hop stored and forwarded) and NCCL's estimate (its tuner adds its steps) keep every transfer's latency then
    its bytes."""
    two = Layout(2, 8, nics=8, arch="hopper", nic_gbps=50.0, nccl_net_latency_s=75 * US)

    def graph(layout: Layout, protocol: str) -> object:
        return collectives.build("all_gather", "ring", layout, protocol).phases[0].ring_graph

    assert graph(two, "LL128") == pytest.approx((1.9 * US, 75 * US, 2 / 15))
    assert graph(two, "Simple") is None
    assert graph(two, "LL") is None
    assert graph(Layout(1, 8, arch="hopper"), "LL128") is None
    assert graph(Layout(4, 1, nics=1, arch="hopper", nic_gbps=50.0), "LL128") is None
    estimate = Layout(2, 8, nics=8, arch="hopper", nic_gbps=50.0, estimate=True)
    assert graph(estimate, "LL128") is None


def test_the_development_half_steps() -> None:
    """The p5 series' 22 development-half ring/LL128 points as ring steps (``benchmarks/p5_series.py --steps --half
    dev``): dpsim's step within 10 % of the measured one at 18 (17 with Intel's 1.9 µs NVLink step before the p5's
    AMD hosts floored it at NCCL's 2.0 µs network post overhead; NCCL's own step alone: 10; the step graph of
    ``benchmarks/ring_step_graph.py``: 16). The four left are where the two meet: four (nodes, chunk) pairs, 128
    KiB on 2, 8 and 32 nodes and 256 KiB on 2 (the all-reduce at (8, 128 KiB) +9.2 %, the all-gather +18.1 %); the
    measured step up to 19 % longer than the longer of them."""
    from benchmarks.p5_series import ring_ll128_steps

    table = ring_ll128_steps("dev")
    errors = [r["measured_step_s"] / r["priced_step_s"] - 1 for r in table]
    assert len(table) == 22
    assert sum(abs(e) <= 0.10 for e in errors) == 18
    missed = {(r["nodes"], r["chunk"]) for r, e in zip(table, errors, strict=True) if abs(e) > 0.10}
    assert missed == {(2, 128 * 1024), (8, 128 * 1024), (32, 128 * 1024), (2, 256 * 1024)}
    assert max(errors) < 0.20 and min(errors) > -0.08  # 32 nodes 16 KiB -6.6 -> -7.3 % with the AMD floor
