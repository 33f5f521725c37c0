"""Gantt charts and Chrome traces at scale: time to draw/write one step of 1,024 and 8,192 workers.

The bundled GPT-2 XL scenario on N = nodes x 8 A100s at the fast level, with a straggler
(x1.5) at worker 50, so the chart has identical workers to collapse and one that must
stay visible. Prints, per N: simulate time, Gantt (PNG) time, trace time, rows drawn, trace
events, and the note the chart prints.

    PYTHONPATH=. python benchmarks/gantt_scale.py [N ...]

N: workers, a multiple of 8 from 56 (the straggler is worker 50) to 65,536.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from dpsim.scenario import load_scenario
from dpsim.sim import simulate_timeline
from dpsim.sim.trace import chrome_trace, gantt_rows, write_chrome_trace, write_gantt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, whole


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


def table(sizes: list[int]) -> None:
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


def main() -> int:
    """Round 27: ``int()`` of each argument: a word was a ``ValueError`` traceback, 4 workers (0 nodes) a
    ``ScenarioError`` one, 12 (not whole nodes) ran 8, 16 (no worker 50) an ``AssertionError`` after its chart."""
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("N", nargs="*", type=whole(56, 1 << 16), help="workers (default 1024 8192)")
    args = parser.parse_args()
    if bad := [n for n in args.N if n % 8]:
        parser.error(f"argument N: expected whole nodes of 8 workers, got {bad[0]}")
    table(args.N or [1024, 8192])
    return 0


if __name__ == "__main__":
    sys.exit(main())
