"""runtime.hostload: what else used the host while a run was measured (hand-computed values)."""

from __future__ import annotations

import pytest

from runtime.hostload import HostSnapshot, host_load, snapshot


def _ticks(user: int, nice: int, system: int, idle: int, softirq: int, steal: int) -> dict[str, int]:
    return {"user": user, "nice": nice, "system": system, "idle": idle, "iowait": 0, "irq": 0, "softirq": softirq,
            "steal": steal}  # fmt: skip


def test_host_load_splits_the_hosts_busy_cores_into_the_ranks_softirq_and_everything_else() -> None:
    """10 s on 2 cores at 100 ticks/s (2,000 ticks): user +900, nice +300, system +400, softirq +200, steal +20,
    idle +180. Busy = 900 + 300 + 400 + 200 = 1,800 ticks = 1.8 cores; the ranks used 9 CPU-seconds = 0.9 cores,
    softirq 0.2, so other processes 1.8 − 0.9 − 0.2 = 0.7 cores, of it niced 0.3; steal 0.02 is not busy."""
    before = HostSnapshot(_ticks(1000, 500, 300, 5000, 100, 10), children_cpu_s=3.0, time_s=100.0, loadavg_1m=4.5)
    after = HostSnapshot(_ticks(1900, 800, 700, 5180, 300, 30), children_cpu_s=12.0, time_s=110.0, loadavg_1m=6.0)
    load = host_load(before, after, ticks_per_s=100)
    assert load["wall_s"] == pytest.approx(10.0)
    assert load["busy_cores"] == pytest.approx(1.8)
    assert load["ranks_cores"] == pytest.approx(0.9)
    assert load["softirq_cores"] == pytest.approx(0.2)
    assert load["other_cores"] == pytest.approx(0.7)
    assert load["nice_cores"] == pytest.approx(0.3)
    assert load["steal_cores"] == pytest.approx(0.02)
    assert load["loadavg_1m"] == 4.5  # at the start


def test_host_load_without_proc_stat_or_elapsed_time_is_none_not_an_error() -> None:
    empty = host_load(HostSnapshot(time_s=1.0), HostSnapshot(time_s=2.0), ticks_per_s=100)
    assert empty["other_cores"] is None and empty["wall_s"] == 1.0
    same = HostSnapshot(_ticks(1, 1, 1, 1, 1, 1), time_s=5.0)
    assert host_load(same, same, ticks_per_s=100)["busy_cores"] is None


def test_a_snapshot_reads_this_host() -> None:
    now = snapshot()
    assert now.time_s > 0 and now.children_cpu_s >= 0
