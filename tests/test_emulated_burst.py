"""The emulated testbed's tbf burst passes TCP's largest GSO skb whole (no root needed; stop 41).

Independent truth: Linux's own sizes. ``tcp_tso_autosize`` (net/ipv4/tcp_output.c) caps a TCP skb at
``gso_max_size`` (65,536 B, ``GSO_LEGACY_MAX_SIZE``) in whole MSS; ``qdisc_pkt_len_init`` (net/core/dev.c) counts it
with every segment's headers; ``tbf_enqueue`` (net/sched/sch_tbf.c) segments in software any GSO skb longer than
its ``max_size``, which ``tbf_change`` sets to the burst. Window A of stop 41 measured what segmentation costs
(``benchmarks/results/host-packet-cost-2026-12-06-n``).
"""

from __future__ import annotations

import pytest

from runtime.testbed.emulated import BURST_FLOOR_BYTES, GSO_SKB_MAX_QDISC_BYTES, burst_bytes

GSO_MAX_SIZE = 65536
MSS = 1448  # 1,500 B MTU − IPv4 20 − TCP 20 − timestamps 12
HEADERS = 14 + 20 + 32  # Ethernet, IPv4, TCP with the timestamp option


def test_largest_gso_skb_as_tbf_counts_it() -> None:
    segments = (GSO_MAX_SIZE - HEADERS) // MSS
    assert segments == 45
    assert GSO_SKB_MAX_QDISC_BYTES == segments * MSS + HEADERS + (segments - 1) * HEADERS == 68130


@pytest.mark.parametrize("mbit", [10, 100, 150, 450, 500, 600, 700, 750, 1000, 1200, 1300, 2400, 10000])
def test_burst_passes_the_largest_gso_skb_whole(mbit: int) -> None:
    # was max(16 KiB, 0.25 ms): 16,384 B up to 524 Mbit/s, 31,250 B at 1000, so tbf segmented every ~64 KB skb
    rate = mbit * 1e6 / 8
    assert burst_bytes(rate) >= GSO_SKB_MAX_QDISC_BYTES
    assert burst_bytes(rate) == max(BURST_FLOOR_BYTES, round(0.25e-3 * rate))


def test_default_calibration_still_fits_bandwidth_on_two_sizes() -> None:
    # β is fitted on messages of at least 16 bursts, the burst the records were measured with: the default plan's
    # 2 and 8 MiB stay above 16 x 72 KiB, 8 and 64 KiB below
    from runtime.calibrate import CalibrationPlan, _large_message_bytes

    plan = CalibrationPlan()
    records = [{"link_class": "inter", "tbf_burst_bytes": burst_bytes(r)} for r in plan.rates]
    large = _large_message_bytes("emulated", "inter", plan.rates, records)
    assert large == 16 * BURST_FLOOR_BYTES
    assert [s for s in plan.sizes if s >= large] == [2 * 1024 * 1024, 8 * 1024 * 1024]


def test_stored_calibrations_keep_the_burst_they_were_measured_with() -> None:
    # records from before stop 41 carry no burst: their threshold is the old one, 16 x 0.25 ms at 1200 Mbit/s
    from runtime.calibrate import CalibrationPlan, _large_message_bytes

    plan = CalibrationPlan()
    assert _large_message_bytes("emulated", "inter", plan.rates, [{"link_class": "inter"}]) == 16 * 37500
    assert _large_message_bytes("emulated", "inter", plan.rates) == 16 * 37500
