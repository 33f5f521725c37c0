"""DDP's buckets share a host's cores with the last backward (issue 10, stop 39).

On the emulated testbed every rank runs on one host's C cores. While the last backward runs, its N threads (a core's
demand each) and the M senders' communication (``u = κ/τ`` of a core each) share the cores with max-min fairness
(stop 42; stop 39 shared them in proportion to demand): a sender gets ``min(u, L)`` of a core, a backward thread
``min(1, L)``, ``N·min(1, L) + M·min(u, L) = C`` (:meth:`~dpsim.calibration.HostModel.fair_level`). The
backward's stretch is :meth:`~dpsim.calibration.HardwareProfile.overlap_backward_compute`; the buckets', seen from
the communication's side, :meth:`~dpsim.calibration.HardwareProfile.comm_rate_in_backward`, until the backward's own
share ends (:func:`dpsim.buckets.slowed_end`), at their own pace after it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dpsim import api
from dpsim.analytic.collectives import collective_latency
from dpsim.analytic.step import calibrated_fabric, dp_fabric
from dpsim.buckets import bucket_sizes, gradient_tensors, slowed_end
from dpsim.calibration import HostModel, load_profile
from dpsim.cli_collective import collective_rows
from dpsim.scenario import CalibrationRef, Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "benchmarks/results/plain-ddp-2026-12-05-k/profile.yaml"
HARNESS = ROOT / "benchmarks/results/plain-ddp-2026-12-05-k/scenario.yaml"


def test_slowed_end_by_hand() -> None:
    # 10 s of work from 0 at half pace until 4: 2 s done by then, 8 s after -> 12; started after 4: its own pace
    assert slowed_end(0.0, 10.0, 4.0, 0.5) == pytest.approx(12.0)
    assert slowed_end(5.0, 10.0, 4.0, 0.5) == pytest.approx(15.0)
    assert slowed_end(0.0, 1.0, 4.0, 0.5) == pytest.approx(2.0)  # done before 4 at half pace
    got = slowed_end(np.array([0.0, 5.0]), np.array([10.0, 10.0]), np.array([4.0, 4.0]), 0.5)
    assert got.tolist() == pytest.approx([12.0, 15.0])


def _harness(ranks: int, bucket_mib: float) -> Scenario:
    s = load_scenario(HARNESS)
    s.cluster.nodes = ranks
    s.training.micro_batch = 32
    s.training.global_batch = 32 * ranks
    s.communication.bucket = bucket_mib * 2**20
    s.calibration = CalibrationRef(profile=str(PROFILE))
    return s


@pytest.mark.parametrize(("ranks", "bucket_mib"), [(8, 25.0), (6, 4.0), (3, 1.0)])
def test_both_engines_price_the_buckets_beside_the_backward_by_hand(ranks: int, bucket_mib: float) -> None:
    """The reduction's end, priced by hand from the profile's own terms: buckets ready along the backward's share,
    each slowed until that share ends, one after the other on the links, each one's latency term beside the previous
    one's bytes (gloo's two worker threads, stop 43: a bucket starts at max(ready, previous end − its latency, the
    end before the previous, the previous start)); both engines alike."""
    s = _harness(ranks, bucket_mib)
    profile = load_profile(PROFILE)
    tensors = gradient_tensors(s)
    sizes = bucket_sizes(sum(tensors), s.communication.bucket, None, tensors)
    costs = [row["time_s"] for row in collective_rows(s, "allreduce", sizes)]
    rate = profile.comm_rate_in_backward(s)
    assert 0 < rate < 1  # 2 cores, 3-8 ranks: the host binds
    results = {engine: api.run(s, engine=engine) for engine in ("analytic", "sim")}
    assert results["sim"].step_time_s == pytest.approx(results["analytic"].step_time_s, rel=1e-9)
    r = results["analytic"]
    # the backward's own share as the step spends it (with DDP's copies into its buckets, and its copies back after
    # the reduction, a few ms at most, which this puts in the share: hence 0.5 %)
    share = r.step_time_s - r.exposed_comm_s - r.optimizer_s - r.extra["forward_s"]
    total = sum(sizes)
    group = dp_fabric(s, calibrated_fabric(s, profile))
    end, done, previous_start, earlier_end = 0.0, 0.0, -math.inf, -math.inf
    for size, cost in zip(sizes, costs, strict=True):
        done += size
        latency = collective_latency("allreduce", "backend", size, group)
        assert 0 < latency < cost
        start = max(share * done / total, end - latency, earlier_end, previous_start)
        previous_start, earlier_end = start, end
        end = float(slowed_end(start, cost, share, rate))
    assert r.exposed_comm_s == pytest.approx(max(0.0, end - share), rel=5e-3)


def test_fair_level_closed_forms() -> None:
    """Max-min fairness on C = 2 cores, N threads wanting a core and M wanting u (water-filling by hand)."""
    host = HostModel(2.0)
    assert host.fair_level(1, 1, 0.5) == math.inf  # 1.5 cores wanted: no one waits
    assert host.fair_level(8, 8, 0.15) == pytest.approx(2 / 16)  # 16·0.15 > 2: everyone gets C/(N + M)
    assert host.fair_level(8, 8, 0.1) == pytest.approx((2 - 0.8) / 8)  # the senders' 0.8 fits: the rest to N
    assert host.fair_level(2, 2, 2.0) == pytest.approx(0.5)  # a host-bound sender gets what a backward thread gets
    for n in (2, 3, 8):
        for m in (1.0, 2.5, 8.0):
            for u in (0.01, 0.1, 0.3, 0.9, 1.5):
                level = host.fair_level(n, m, u)
                if level != math.inf:  # the cores are all handed out, none beyond what a thread wants
                    assert n * min(1.0, level) + m * min(u, level) == pytest.approx(2.0)
                else:
                    assert n + m * u <= 2.0
    # more cores than threads, senders asking more than a core: each backward thread a core, the senders the rest,
    # 1.33 each (C/(N + M) = 1.14 left 1.1 cores idle); review of stop 42's fair_level
    many = HostModel(16.0)
    assert many.fair_level(8, 6, 1.5) == pytest.approx(8 / 6)
    for n, m, u in ((8, 6, 1.5), (4, 10, 1.3), (12, 2, 3.0)):
        level = many.fair_level(n, m, u)
        assert n * min(1.0, level) + m * min(u, level) == pytest.approx(16.0)


N_FOLDER = ROOT / "benchmarks/results/plain-ddp-2026-12-06-n"


@pytest.mark.parametrize(("nodes", "mbit", "paced"), [(8, 500, True), (6, 1000, True), (8, 1000, False)])
def test_link_bound_senders_keep_their_pace(nodes: int, mbit: int, paced: bool) -> None:
    """On the link-bound testbed (-n's profile: u = κ/τ ≈ 0.15 of a core at 1 Gbit/s, 0.07 at 500 Mbit/s) a sender
    asks less than its fair share of the 2 cores and keeps its pace: 1 (stop 39's proportional share said 0.23 and
    0.29), or at 8 ranks and 1 Gbit/s L/u = (2/16)/u. The backward's own share is then the paced window."""
    s = load_scenario(N_FOLDER / "scenario.yaml")
    s.cluster.nodes = nodes
    s.cluster.inter_node.bandwidth = mbit * 1e6 / 8
    s.training.micro_batch, s.training.global_batch = 32, 32 * nodes
    s.calibration = CalibrationRef(profile=str(N_FOLDER / "profile.yaml"))
    profile = load_profile(N_FOLDER / "profile.yaml")
    host = profile.host_model
    assert host is not None
    kappa = host.comm_cpu_per_byte_at(s.cluster.inter_node.bandwidth)
    u = profile._sender_busy(s, kappa)
    assert u is not None and nodes * u < 2.0  # the senders' demand alone fits on the cores
    assert 0.07 < u < 0.16
    if paced:  # (N + M)·u ≤ C: each sender is served its u
        assert profile.comm_rate_in_backward(s) == 1.0
        bwd, hidden = 0.05, 12e6
        window = nodes * (bwd / (nodes / 2)) / (2.0 - nodes * u)
        assert profile.overlap_backward_compute(s, bwd, hidden) == pytest.approx(
            min(window, profile.overlap_backward(s, bwd, hidden)), rel=1e-12
        )
    else:  # 16·u > 2: every thread gets 2/16 of a core, a sender 2/16 of its u
        assert profile.comm_rate_in_backward(s) == pytest.approx((2 / 16) / u, rel=1e-12)
    assert profile.comm_rate_in_backward(s) > 2 / (nodes + nodes * u)  # stop 39: C/(N + M·u) for everyone
