"""Plots of sweeps: throughput and scaling efficiency, and the stacked breakdown of the step.

matplotlib ``Figure`` objects without pyplot (works headless, no global state); the axes
functions also draw into a caller's axes (notebooks).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dpsim.errors import safe_text
from dpsim.outputs import replaced

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BREAKDOWN",
    "MAX_BARS",
    "MAX_LEGEND",
    "MAX_POINTS",
    "breakdown_axes",
    "load_matplotlib",
    "scaling_axes",
    "scaling_plot",
    "wrapped_title",
]


def load_matplotlib() -> None:
    """Import matplotlib for writing files, whatever the environment says about a screen.

    dpsim draws on bare ``Figure`` objects (no pyplot, no GUI), so ``MPLBACKEND`` does not matter to it, but
    matplotlib validates it on import: ``MPLBACKEND=bogus`` was a ``ValueError`` traceback from every plot. An
    ``MPLCONFIGDIR`` that cannot be written makes matplotlib log two warnings and use a temporary folder; they went
    to stderr of a run that succeeded. Both are kept out of the import here (the variable is restored after it).
    """
    import logging
    import os
    import sys

    if "matplotlib.figure" in sys.modules:
        return
    backend = os.environ.pop("MPLBACKEND", None)
    log = logging.getLogger("matplotlib")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        import matplotlib.figure  # noqa: F401  (its font cache is where the config folder is made)
    finally:
        log.setLevel(level)
        if backend is not None:
            os.environ["MPLBACKEND"] = backend


BREAKDOWN = (
    ("compute_s", "compute"),
    ("barrier_s", "straggler wait"),
    ("exposed_comm_s", "exposed communication"),
    ("bubble_s", "pipeline bubble"),
    ("optimizer_s", "optimizer"),
)
"""Parts of a step. ``compute_s`` is the critical path's (slowest worker's) compute and
includes ``barrier_s``, so the plot shows ``compute_s − barrier_s`` as compute; the parts then
sum to ``step_time_s`` for the analytic engine."""


MAX_LEGEND = 20
"""Most series drawn as named lines; more are drawn as one set of points (1,000 named lines, one a seed, took
minutes to draw and lay out)."""
MAX_POINTS = 5000
"""Most points drawn when the series are too many to name (:data:`MAX_LEGEND`): every k-th row beyond."""
MAX_BARS = 200
"""Most points of the step breakdown's bars (a 100,000-row sweep drew 500,000 rectangles and tick labels)."""


def _text(text: str) -> str:
    """User text for a matplotlib label: printable, and ``$`` not read as mathtext."""
    return safe_text(text).replace("$", r"\$")


def wrapped_title(text: str, width: int = 70) -> str:
    """A figure title that fits its figure: user text (:func:`_text`) broken into lines of at most ``width``
    characters (``dpsim collective --plot``'s title, the scenario's name with its ``--set`` fields, ran off the
    7-inch figure past about 78 characters)."""
    return "\n".join(textwrap.wrap(_text(text), width, break_long_words=True)) or _text(text)


def _x_column(frame: pd.DataFrame, varied: Sequence[str]) -> str:
    """Plot against world size when it varies, else against the first varied field."""
    if "world_size" in frame.columns and frame["world_size"].nunique() > 1:
        return "world_size"
    return varied[0] if varied else "world_size"


_KEY_SEPARATOR = "\x1f"
"""Joins the varied fields' texts into one legend key (ASCII's unit separator: a value's own ``, `` was split)."""


def _texts(column: pd.Series) -> pd.Series:
    """A varied column as the legend and axis write it: a list value as JSON (:func:`dpsim.records.cell_text`)."""
    from dpsim.records import cell_text

    return column.map(lambda value: str(cell_text(value)))


def _series(frame: pd.DataFrame, varied: Sequence[str], x: str) -> list[tuple[str, pd.DataFrame]] | int:
    """One line per combination of the varied fields that are not on the x axis; more than :data:`MAX_LEGEND`
    of them: their count (named one by one, 100,000 lines took minutes)."""
    others = [v for v in varied if v in frame.columns and v != x and _texts(frame[v]).nunique() > 1]
    if x == "world_size":
        others = [v for v in others if not v.startswith("cluster.")]
    if not others:
        return [("", frame)]
    keys = _texts(frame[others[0]])
    for other in others[1:]:  # column by column: a row-wise join took 17 s for 100,000 rows
        keys = keys + _KEY_SEPARATOR + _texts(frame[other])
    if keys.nunique() > MAX_LEGEND:
        return int(keys.nunique())
    label_of = {
        key: _text(", ".join(f"{o}={v}" for o, v in zip(others, key.split(_KEY_SEPARATOR), strict=False)))
        for key in dict.fromkeys(keys)
    }
    return [(label_of[key], frame[keys == key]) for key in dict.fromkeys(keys)]


def scaling_axes(frame: pd.DataFrame, varied: Sequence[str], ax_throughput: Any, ax_efficiency: Any) -> None:
    """Throughput (samples/s) and scaling efficiency against world size (or the varied field)."""
    x = _x_column(frame, varied)
    numeric = frame[x].dtype.kind in "iuf"
    series = _series(frame, varied, x)
    if isinstance(series, int):  # the points as one unnamed artist: 20,000 lines took minutes to draw
        step = -(-len(frame) // MAX_POINTS)  # at most MAX_POINTS of them (100,000 markers: 21 MB of SVG)
        every = f", every {step}th point" if step > 1 else ""
        series = [(f"{series:,} series{every}", frame.iloc[::step])]
        style: dict[str, Any] = {"marker": "o", "linestyle": "none", "markersize": 3}
    else:
        style = {"marker": "o"}
    for label, part in series:
        xs = part[x] if numeric else _texts(part[x])
        ax_throughput.plot(xs, part["samples_per_s"], label=label or None, **style)
        ax_efficiency.plot(xs, 100 * part["scaling_efficiency"], label=label or None, **style)
    if x == "world_size":
        # log-log: ideal (linear) scaling is a straight line of slope 1, drawn from the smallest run
        ideal = frame.sort_values("world_size").iloc[0]
        xs_sorted = sorted(frame["world_size"].unique())
        per_worker = ideal["samples_per_s"] / ideal["world_size"]
        ax_throughput.plot(xs_sorted, [per_worker * w for w in xs_sorted], "k:", label="ideal scaling (from smallest)")
        ax_throughput.set_xscale("log", base=2)
        if (frame["samples_per_s"] > 0).all():
            ax_throughput.set_yscale("log")
        ax_efficiency.set_xscale("log", base=2)
    ax_throughput.set_xlabel(x)
    ax_efficiency.set_xlabel(x)
    ax_throughput.set_ylabel("samples / s")
    ax_efficiency.set_ylabel("scaling efficiency (%)")
    ax_efficiency.set_ylim(0, 105)
    for ax in (ax_throughput, ax_efficiency):
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")


def breakdown_axes(frame: pd.DataFrame, varied: Sequence[str], ax: Any) -> None:
    """Stacked bars: the step split into compute, exposed communication, bubble, wait, optimizer.

    At most :data:`MAX_BARS` points (the first), as the report's tables show at most 200 rows."""
    shown = len(frame)
    frame = frame.head(MAX_BARS)
    labels = [_text(", ".join(f"{row[v]}" for v in varied if v in frame.columns)) for _, row in frame.iterrows()]
    bottom = [0.0] * len(frame)
    positions = list(range(len(frame)))
    for column, name in BREAKDOWN:
        if column not in frame.columns:
            continue
        values = [1e3 * float(v) for v in frame[column]]
        if column == "compute_s" and "barrier_s" in frame.columns:
            values = [v - 1e3 * float(b) for v, b in zip(values, frame["barrier_s"], strict=True)]
        if not any(values):
            continue
        ax.bar(positions, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(positions)
    ax.set_xticklabels(
        labels, rotation=60 if len(frame) > 6 else 0, ha="right" if len(frame) > 6 else "center", fontsize="small"
    )
    ax.set_xlabel(", ".join(varied) + (f" (the first {MAX_BARS} of {shown:,} points)" if shown > MAX_BARS else ""))
    ax.set_ylabel("step time (ms)")
    if ax.get_legend_handles_labels()[0]:  # all-zero times draw no bar: no empty legend (a warning)
        ax.legend(fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)


def scaling_plot(frame: pd.DataFrame, varied: Sequence[str], path: str | Path) -> None:
    """Save a three-panel figure (throughput, efficiency, step breakdown) to ``path`` (.png/.svg/.pdf)."""
    load_matplotlib()
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend

    fig = Figure(figsize=(16, 4.8), layout="constrained")
    axes = fig.subplots(1, 3)
    scaling_axes(frame, varied, axes[0], axes[1])
    breakdown_axes(frame, varied, axes[2])
    title = str(frame["scenario"].iloc[0]) if "scenario" in frame.columns and len(frame) else ""
    title = _text(title)
    fig.suptitle(f"{title} ({frame['engine'].iloc[0]} engine)" if "engine" in frame.columns and len(frame) else title)
    suffix = Path(path).suffix.lstrip(".").lower() or "png"
    with replaced(path, "--plot") as tmp:
        fig.savefig(tmp, dpi=120, format=suffix)
