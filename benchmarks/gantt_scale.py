"""Gantt charts and Chrome traces at scale: time to draw/write one step of 1,024 and 8,192 workers.

The bundled GPT-2 XL scenario on N = nodes x 8 A100s at the fast level, with a straggler
(x1.5) at worker 50, so the chart has identical workers to collapse and one that must
stay visible. Prints, per N: simulate time, Gantt (PNG) time, trace time, rows drawn, trace
events, and the note the chart prints.

    PYTHONPATH=. python benchmarks/gantt_scale.py [N ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from dpsim.scenario import load_scenario
from dpsim.sim import simulate_timeline
from dpsim.sim.trace import chrome_trace, gantt_rows, write_chrome_trace, write_gantt


class _Clock:
    """Wall and CPU time since the last lap, as ``"1.23 (1.10)"``."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> str:
        wall, cpu = time.perf_counter(), time.process_time()
        text = f"{wall - self.wall:.2f} ({cpu - self.cpu:.2f})"
        self.wall, self.cpu = wall, cpu
        return text


def _warm_up() -> None:
    """Draw one small chart first: the table times drawing, not importing matplotlib or loading fonts."""
    scenario = load_scenario(None, [("cluster.nodes", 1), ("training.global_batch", "auto")])
    _, timeline = simulate_timeline(scenario)
    with tempfile.TemporaryDirectory() as folder:
        write_gantt(timeline, Path(folder) / "warm.png")


def main(sizes: list[int]) -> None:
    _warm_up()
    print("wall seconds (CPU seconds of this process in brackets: the machine may be shared)")
    print(f"{'workers':>8} {'simulate':>14} {'gantt':>14} {'trace':>14} {'rows':>5} {'events':>8}  note")
    for n in sizes:
        scenario = load_scenario(
            None,
            [
                ("cluster.nodes", n // 8),
                ("training.global_batch", "auto"),
                ("training.micro_batch", 1),
                ("simulation.fidelity", "fast"),
                ("variability.stragglers", [{"worker": 50, "slowdown": 1.5}]),
            ],
        )
        clock = _Clock()
        _, timeline = simulate_timeline(scenario, allow_long=True)
        simulated = clock.lap()
        with tempfile.TemporaryDirectory() as folder:
            write_gantt(timeline, Path(folder) / "gantt.png")
            gantt_s = clock.lap()
            write_chrome_trace(timeline, Path(folder) / "trace.json")
            trace_s = clock.lap()
        rows, note = gantt_rows(timeline)
        events = len(chrome_trace(timeline)["traceEvents"])
        labels = [g.label() for g in rows]
        assert any("worker 50 (straggler x1.5" in label for label in labels), labels
        print(f"{n:>8,} {simulated:>14} {gantt_s:>14} {trace_s:>14} {len(rows):>5} {events:>8,}  {note}")
        print(f"{'':>8} rows: {'; '.join(labels)}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1024, 8192])
