"""Fixed matmul work on one thread for 8 s: CPU and wall per unit, CPU 0's softirq counts and jiffies.

Run by ``softirq_probe.sh`` pinned to CPU 0; the argument labels the line printed.
"""

import sys
import time

import torch


def cpu0_jiffies() -> list[int]:
    """user, nice, system, idle, iowait, irq, softirq of cpu0 in /proc/stat."""
    with open("/proc/stat") as stat:
        line = next(row for row in stat if row.startswith("cpu0 "))
    return [int(v) for v in line.split()[1:8]]


def cpu0_softirqs() -> dict[str, int]:
    with open("/proc/softirqs") as table:
        rows = [row.split() for row in table if ":" in row]
    return {row[0].rstrip(":"): int(row[1]) for row in rows}


torch.set_num_threads(1)
a, x = torch.randn(768, 768), torch.randn(64, 768)
for _ in range(20):
    x @ a
w0, c0, q0, j0 = time.perf_counter(), time.thread_time(), cpu0_softirqs(), cpu0_jiffies()
units = 0
while time.perf_counter() - w0 < 8:
    for _ in range(50):
        torch.relu(x @ a) @ a
    units += 1
wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
q1, j1 = cpu0_softirqs(), cpu0_jiffies()
counts = {k: q1[k] - q0[k] for k in ("TIMER", "NET_TX", "NET_RX", "HRTIMER") if k in q1}
jiffies = [j1[i] - j0[i] for i in (0, 2, 5, 6)]
print(
    f"{sys.argv[1]:16s} work units {units}  cpu/unit {1e3 * cpu / units:.3f} ms  wall/unit {1e3 * wall / units:.3f} ms"
    f"  cpu/wall {cpu / wall:.3f}  CPU0 softirqs {counts}  cpu0 jiffies user/sys/irq/softirq {jiffies}"
)
