"""Timelines of one simulated step as a Chrome/Perfetto trace and as a Gantt chart.

:func:`write_chrome_trace` writes the Trace Event Format (``chrome://tracing``,
https://ui.perfetto.dev): one process per recorded worker with a compute track and a
communication track ("X" complete events in microseconds). :func:`write_gantt` draws the
same intervals with matplotlib (Agg backend, imported lazily) as a PNG.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dpsim.sim.timeline import Timeline

__all__ = ["COLORS", "chrome_trace", "write_chrome_trace", "write_gantt"]

COLORS = {
    "forward": "#4c72b0",
    "backward": "#55a868",
    "optimizer": "#8172b2",
    "comm": "#dd8452",
    "wait": "#c44e52",
    "idle": "#e8a0a2",
    "bubble": "#937860",
}
"""Colour of each interval category in the Gantt chart."""

_TRACK = {"forward": 0, "backward": 0, "optimizer": 0, "bubble": 0, "idle": 0, "comm": 1, "wait": 1}
"""Compute track (0): compute and the compute stream idling; communication track (1): collectives and their waits."""
_TRACK_NAMES = {0: "compute", 1: "communication"}


def chrome_trace(timeline: Timeline) -> dict[str, Any]:
    """The trace as a JSON-ready dict (``traceEvents`` plus metadata)."""
    events: list[dict[str, Any]] = []
    for worker in timeline.recorded:
        events.append({"ph": "M", "name": "process_name", "pid": worker, "args": {"name": f"worker {worker}"}})
        for tid, name in _TRACK_NAMES.items():
            events.append({"ph": "M", "name": "thread_name", "pid": worker, "tid": tid, "args": {"name": name}})
    for item in sorted(timeline.intervals, key=lambda i: (i.worker, i.start_s, i.end_s, i.name)):
        events.append(
            {
                "ph": "X",
                "name": item.name,
                "cat": item.category,
                "pid": item.worker,
                "tid": _TRACK.get(item.category, 0),
                "ts": item.start_s * 1e6,
                "dur": (item.end_s - item.start_s) * 1e6,
            }
        )
    meta = {
        "scenario": timeline.scenario,
        "fidelity": timeline.fidelity,
        "workers": timeline.workers,
        "step_time_s": timeline.step_time_s,
    }
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": meta}


def write_chrome_trace(timeline: Timeline, path: str | Path) -> None:
    """Write the Chrome/Perfetto trace JSON of ``timeline`` to ``path`` (written whole or not at all)."""
    path = Path(path)
    text = json.dumps(chrome_trace(timeline))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_gantt(timeline: Timeline, path: str | Path, max_workers: int = 32) -> None:
    """Draw a Gantt chart (one row per worker: compute above, communication below): PNG, SVG or PDF by suffix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    workers = timeline.recorded[:max_workers]
    scale, unit = (1e3, "ms") if timeline.step_time_s < 10 else (1.0, "s")
    fig, ax = plt.subplots(figsize=(12, 1.0 + 0.45 * len(workers)))
    for row, worker in enumerate(workers):
        for item in timeline.of(worker):
            lane = _TRACK.get(item.category, 0)
            y = row + (0.0 if lane == 0 else 0.42)
            ax.broken_barh(
                [(item.start_s * scale, (item.end_s - item.start_s) * scale)],
                (y, 0.4),
                facecolors=COLORS.get(item.category, "#999999"),
                linewidth=0,
            )
    ax.set_yticks([row + 0.41 for row in range(len(workers))])
    ax.set_yticklabels([f"worker {w}" for w in workers])
    ax.invert_yaxis()
    ax.set_xlabel(f"time ({unit})")
    ax.set_title(
        f"{timeline.scenario}: one step, {timeline.step_time_s * scale:.3g} {unit} ({timeline.fidelity} level)"
    )
    handles = [Patch(color=c, label=k) for k, c in COLORS.items()]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08 - 1.5 / (4 + len(workers))), ncol=6)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix or '.png'}")  # format follows the suffix
    fig.savefig(tmp, dpi=100, format=(path.suffix.lstrip(".") or "png").lower())
    plt.close(fig)
    tmp.replace(path)
