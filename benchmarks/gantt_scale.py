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


def main(sizes: list[int]) -> None:
    import matplotlib.figure  # noqa: F401 - import once up front: the table times drawing, not importing

    print(f"{'workers':>8} {'simulate s':>10} {'gantt s':>8} {'trace s':>8} {'rows':>5} {'events':>8}  note")
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
        start = time.perf_counter()
        _, timeline = simulate_timeline(scenario, allow_long=True)
        simulated = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            write_gantt(timeline, Path(folder) / "gantt.png")
            gantt_s = time.perf_counter() - start
            start = time.perf_counter()
            write_chrome_trace(timeline, Path(folder) / "trace.json")
            trace_s = time.perf_counter() - start
        rows, note = gantt_rows(timeline)
        events = len(chrome_trace(timeline)["traceEvents"])
        labels = [g.label() for g in rows]
        assert any("worker 50 (straggler x1.5" in label for label in labels), labels
        print(f"{n:>8,} {simulated:>10.2f} {gantt_s:>8.2f} {trace_s:>8.2f} {len(rows):>5} {events:>8,}  {note}")
        print(f"{'':>8} rows: {'; '.join(labels)}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1024, 8192])
