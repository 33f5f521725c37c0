"""Timelines of one simulated step as a Chrome/Perfetto trace and as a Gantt chart, at any scale.

Workers whose whole step is identical (:meth:`~dpsim.sim.timeline.Timeline.groups`) are
one process in the trace and one row in the chart, labelled with their count; stragglers
and the slowest worker always get rows of their own, and the chart notes what it
collapsed or left out.

:func:`write_chrome_trace` writes the Trace Event Format (``chrome://tracing``,
https://ui.perfetto.dev): one process per group of workers with a compute track and a
communication track ("X" complete events in microseconds); a collective's event carries
its ``bytes``, ``op``, ``algorithm`` and ``bucket`` in ``args`` (and ``drawn``, with the trace's
``otherData.communication_drawn``, where DDP's buckets run on gloo's own all-reduce: the spans are the one stream both
engines price, while gloo runs two buckets at once and ends each but the last later). :func:`write_gantt`
draws the same rows with matplotlib (Agg, imported lazily) in one batched collection per
category, so 8,192 workers draw as fast as 8.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dpsim.errors import safe_text
from dpsim.outputs import replaced
from dpsim.sim.timeline import Timeline, WorkerGroup

__all__ = ["COLORS", "MAX_ROWS", "chrome_trace", "gantt_rows", "write_chrome_trace", "write_gantt"]

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

MAX_ROWS = 32
"""Rows a Gantt chart draws at most (groups of identical workers; stragglers always among them)."""

_TRACK = {"forward": 0, "backward": 0, "optimizer": 0, "bubble": 0, "idle": 0, "comm": 1, "wait": 1}
"""Compute track (0): compute and the compute stream idling; communication track (1): collectives and their waits."""
_TRACK_NAMES = {0: "compute", 1: "communication"}


def _args(args: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(args).items() if v is not None}


def chrome_trace(timeline: Timeline) -> dict[str, Any]:
    """The trace as a JSON-ready dict (``traceEvents`` plus metadata); one process per group."""
    events: list[dict[str, Any]] = []
    groups = timeline.groups()
    index = {w: i for i, w in enumerate(timeline.recorded)}
    for group in groups:
        pid = group.representative
        events.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": group.label()}})
        events.append({"ph": "M", "name": "process_sort_index", "pid": pid, "args": {"sort_index": pid}})
        for tid, name in _TRACK_NAMES.items():
            events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}})
    for group in groups:
        i = index[group.representative]
        spans = sorted(
            (s for s in timeline.spans if s.end_s[i] > s.start_s[i]), key=lambda s: (s.start_s[i], s.end_s[i], s.name)
        )
        for span in spans:
            event = {
                "ph": "X",
                "name": span.name,
                "cat": span.category,
                "pid": group.representative,
                "tid": _TRACK.get(span.category, 0),
                "ts": float(span.start_s[i]) * 1e6,
                "dur": float(span.end_s[i] - span.start_s[i]) * 1e6,
            }
            if span.args:
                event["args"] = _args(span.args)
            events.append(event)
    meta = {
        "scenario": timeline.scenario,
        "fidelity": timeline.fidelity,
        "workers": timeline.workers,
        "recorded_workers": len(timeline.recorded),
        "groups": len(groups),
        "step_time_s": timeline.step_time_s,
    }
    if timeline.comm_schedule:  # the collectives' spans are the engines' one stream (gloo's buckets run at once)
        meta["communication_drawn"] = timeline.comm_schedule
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": meta}


def write_chrome_trace(timeline: Timeline, path: str | Path) -> None:
    """Write the Chrome/Perfetto trace JSON of ``timeline`` to ``path`` (written whole or not at all)."""
    path = Path(path)
    with replaced(path) as tmp:
        tmp.write_text(json.dumps(chrome_trace(timeline)), encoding="utf-8")


def gantt_rows(timeline: Timeline, max_rows: int = MAX_ROWS) -> tuple[list[WorkerGroup], str]:
    """The groups a chart shows (in worker order) and a note of what was collapsed or left out.

    Groups with a note (stragglers, the slowest worker) are always shown; the remaining rows
    go to the largest groups.
    """
    groups = timeline.groups()
    special = [g for g in groups if g.note]
    others = sorted((g for g in groups if not g.note), key=lambda g: (-len(g.workers), g.workers[0]))
    room = max(0, max_rows - len(special))
    shown = sorted(special + others[:room], key=lambda g: g.workers[0])
    hidden = others[room:]
    collapsed = sum(len(g.workers) - 1 for g in shown)
    parts = []
    if collapsed:
        merged = sum(1 for g in shown if len(g.workers) > 1)
        rows = "1 row" if merged == 1 else f"{merged} rows"
        parts.append(f"{collapsed + merged:,} identical workers drawn as {rows}")
    if hidden:
        parts.append(f"{sum(len(g.workers) for g in hidden):,} workers in {len(hidden)} other patterns not shown")
    if len(timeline.recorded) < timeline.workers:
        parts.append(f"{timeline.workers - len(timeline.recorded):,} workers not recorded")
    return shown, "; ".join(parts)


def _plain(text: str) -> str:
    """User text for a matplotlib label: printable, and ``$`` not read as mathtext."""
    return safe_text(text).replace("$", r"\$")


def write_gantt(timeline: Timeline, path: str | Path, max_rows: int = MAX_ROWS) -> None:
    """Draw a Gantt chart (one row per group of identical workers: compute above, communication below).

    PNG, SVG or PDF by suffix; written whole or not at all.
    """
    from dpsim.plots import load_matplotlib

    load_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows, note = gantt_rows(timeline, max_rows)
    scale, unit = (1e3, "ms") if timeline.step_time_s < 10 else (1.0, "s")
    fig = Figure(figsize=(12, 2.4 + 0.45 * len(rows)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    index = {w: i for i, w in enumerate(timeline.recorded)}
    columns = np.array([index[g.representative] for g in rows], dtype=int)
    boxes: dict[str, list[np.ndarray]] = {}
    for span in timeline.spans:
        start, end = span.start_s[columns] * scale, span.end_s[columns] * scale
        keep = np.flatnonzero(end > start)
        if not len(keep):
            continue
        y = keep + (0.0 if _TRACK.get(span.category, 0) == 0 else 0.42)
        x0, x1 = start[keep], end[keep]
        verts = np.stack([np.column_stack([x0, y]), np.column_stack([x0, y + 0.4]),
                          np.column_stack([x1, y + 0.4]), np.column_stack([x1, y])], axis=1)  # fmt: skip
        boxes.setdefault(span.category, []).append(verts)
    for category, parts in boxes.items():
        ax.add_collection(
            PolyCollection(list(np.concatenate(parts)), facecolors=COLORS.get(category, "#999999"), linewidths=0)
        )
    ax.set_xlim(0, max(timeline.step_time_s * scale, 1e-12) * 1.01)
    ax.set_ylim(len(rows), -0.1)
    ax.set_yticks([row + 0.41 for row in range(len(rows))])
    ax.set_yticklabels([g.label() for g in rows], fontsize="small")
    ax.set_xlabel(f"time ({unit})")
    name = _plain(timeline.scenario)
    name = name if len(name) <= 90 else name[:87] + "..."
    length = f"{timeline.step_time_s * scale:.3g} {unit}"
    title = f"{name}\none step of {timeline.workers:,} workers: {length} ({timeline.fidelity} level)"
    if timeline.comm_schedule:
        note = "; ".join(p for p in (note, "buckets drawn one after another as priced: gloo runs two at once") if p)
    ax.set_title(title + (f"\n{note}" if note else ""), fontsize="medium")
    handles = [Patch(color=c, label=k) for k, c in COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=7, fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.6 / fig.get_figheight(), 1, 1))
    path = Path(path)
    with replaced(path) as tmp:
        fig.savefig(tmp, dpi=100, format=(path.suffix.lstrip(".") or "png").lower())
