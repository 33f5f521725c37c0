"""DDP's buckets share a host's cores with the last backward (issue 10, stop 39).

On the emulated testbed every rank runs on one host's C cores. While the last backward runs, its N threads (a core's
demand each) and the M senders' communication (``u = κ/τ`` of a core each) share the cores in proportion to demand:
everyone runs ``min(1, C/(N + M·u))`` of their own pace. The backward's stretch is
:meth:`~dpsim.calibration.HardwareProfile.overlap_backward_compute`; the buckets', seen from the communication's
side, :meth:`~dpsim.calibration.HardwareProfile.comm_rate_in_backward`, until the backward's own share ends
(:func:`dpsim.buckets.slowed_end`), at their own pace after it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dpsim import api
from dpsim.buckets import bucket_sizes, gradient_tensors, slowed_end
from dpsim.calibration import load_profile
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
    each slowed until that share ends, one after the other; both engines alike."""
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
    end = 0.0
    done = 0.0
    for size, cost in zip(sizes, costs, strict=True):
        done += size
        end = float(slowed_end(max(end, share * done / total), cost, share, rate))
    assert r.exposed_comm_s == pytest.approx(max(0.0, end - share), rel=5e-3)
