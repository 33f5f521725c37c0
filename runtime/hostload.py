"""What else ran on the host while a run was measured (issue 10: the testbed's drift).

The emulated cluster's ranks share the host's cores with everything else on the machine. A run's
record keeps, over its wall time, how busy the host was and how much of that was the run's own
ranks, so a reader can tell a run on a quiet host from one on a loaded host
(``extra.host_load``, :func:`host_load`). Read from ``/proc/stat`` (host-wide ticks per state),
``getrusage(RUSAGE_CHILDREN)`` (the CPU of the launcher's ranks, once they are reaped) and
``/proc/loadavg``.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, field

STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
"""The first eight ``cpu`` columns of ``/proc/stat``, in clock ticks."""


@dataclass(frozen=True)
class HostSnapshot:
    """The host's CPU counters at one moment."""

    ticks: dict[str, int] = field(default_factory=dict)
    """``/proc/stat``'s ``cpu`` line by :data:`STAT_FIELDS` (empty: not readable)."""
    children_cpu_s: float = 0.0
    """User + system CPU seconds of this process's reaped children (the ranks, after the run)."""
    time_s: float = 0.0
    """``time.monotonic()``."""
    loadavg_1m: float | None = None


def cpu_ticks() -> dict[str, int]:
    """``/proc/stat``'s ``cpu`` line (the whole host since boot) by :data:`STAT_FIELDS`, in clock ticks. Raises
    ``OSError`` or ``ValueError`` where it is not readable."""
    with open("/proc/stat", encoding="ascii") as fh:
        return dict(zip(STAT_FIELDS, (int(v) for v in fh.readline().split()[1:9]), strict=False))


def snapshot() -> HostSnapshot:
    """The host's counters now (``/proc`` unreadable: empty ticks, no load average)."""
    ticks: dict[str, int] = {}
    load: float | None = None
    try:
        ticks = cpu_ticks()
        with open("/proc/loadavg", encoding="ascii") as fh:
            load = float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return HostSnapshot(ticks, usage.ru_utime + usage.ru_stime, time.monotonic(), load)


def host_load(before: HostSnapshot, after: HostSnapshot, ticks_per_s: float | None = None) -> dict[str, float | None]:
    """Mean cores in use over ``before`` → ``after``: the host's, the ranks', and everything else's.

    - ``busy_cores``: user + nice + system + irq + softirq (not idle, iowait or steal);
    - ``ranks_cores``: the reaped children's CPU (the ranks, all threads, user and system);
    - ``softirq_cores``: interrupt and softirq work, charged to no process (on the emulated
      cluster mostly the run's own network: TCP, veth, bridge, tbf);
    - ``other_cores``: ``busy − ranks − softirq`` (≥ 0): other processes on the machine, the
      launcher and kernel threads (``ksoftirqd`` among them) — near 0.1–0.2 on a quiet host;
    - ``nice_cores`` (niced processes: other sessions' tests run niced) and ``steal_cores`` (time
      the hypervisor gave this VM's CPUs to someone else), apart;
    - ``loadavg_1m`` at the start.

    Ticks are ``/proc/stat``'s (``ticks_per_s`` default ``SC_CLK_TCK``). None where ``/proc/stat``
    was not readable or no time passed.
    """
    hz = float(ticks_per_s or os.sysconf("SC_CLK_TCK"))
    wall = after.time_s - before.time_s
    keys = ("busy_cores", "ranks_cores", "softirq_cores", "other_cores", "nice_cores", "steal_cores")
    if wall <= 0 or not before.ticks or not after.ticks:
        return {"wall_s": max(0.0, wall), **dict.fromkeys(keys), "loadavg_1m": before.loadavg_1m}
    d = {k: (after.ticks.get(k, 0) - before.ticks.get(k, 0)) / hz / wall for k in STAT_FIELDS}
    busy = d["user"] + d["nice"] + d["system"] + d["irq"] + d["softirq"]
    ranks = max(0.0, after.children_cpu_s - before.children_cpu_s) / wall
    softirq = d["irq"] + d["softirq"]
    return {
        "wall_s": wall,
        "busy_cores": busy,
        "ranks_cores": ranks,
        "softirq_cores": softirq,
        "other_cores": max(0.0, busy - ranks - softirq),
        "nice_cores": d["nice"],
        "steal_cores": d["steal"],
        "loadavg_1m": before.loadavg_1m,
    }
