"""What happened in one simulated step: per-worker intervals of compute, communication and waiting.

Stored by column: one :class:`Span` per event of the step (a micro-batch's forward, a
bucket's all-reduce, ...) holding the start and end of every recorded worker as numpy
arrays, so a step of 8,192 workers costs a few hundred arrays, not millions of objects
(memory linear in ranks). :meth:`Timeline.groups` finds workers whose whole step is
identical, which the Gantt chart and the Chrome trace draw once with a count.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["GLOO_CONCURRENT_BUCKETS", "Interval", "Span", "Timeline", "WorkerGroup"]


GLOO_CONCURRENT_BUCKETS = (
    "one stream, as both engines price the step: gloo's own all-reduce (ProcessGroupGloo: 2 worker threads, one "
    "context) runs two buckets at once, so every bucket but the last ends later than drawn (measured 2.0-3.6x its "
    "own time, gloo-concurrency-2026-12-06-l) and the last where drawn"
)
"""The note a timeline of DDP over gloo's own all-reduce carries (:attr:`Timeline.comm_schedule`): its buckets' spans
are the one stream whose last end both engines price (a work-conserving share ends the last bucket where one after
the other does; measured together ÷ one at a time 0.99-1.09), not each bucket's own end."""


@dataclass(frozen=True)
class Interval:
    """One span on one worker's track (seconds from the start of the step)."""

    worker: int
    category: str
    """forward | backward | optimizer | bubble | idle (compute track); comm | wait (communication track)."""
    name: str
    start_s: float
    end_s: float
    args: Mapping[str, Any] = field(default_factory=dict)
    """What a communication span moved: ``bytes``, ``op``, ``algorithm``, ``bucket``."""


@dataclass(frozen=True)
class Span:
    """One event of the step on every recorded worker (``start_s``/``end_s`` indexed like ``recorded``)."""

    category: str
    name: str
    start_s: np.ndarray
    end_s: np.ndarray
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerGroup:
    """Workers whose step is identical (same spans at the same times): drawn as one row."""

    workers: tuple[int, ...]
    representative: int
    """The worker whose spans the row shows (the first of the group)."""
    note: str = ""
    """Why the group is shown on its own: "slowest", "straggler x1.5", ..."""

    def label(self) -> str:
        if len(self.workers) == 1:
            text = f"worker {self.workers[0]}"
        else:
            text = f"{len(self.workers):,} workers: {_ranges(self.workers)}"
        return f"{text} ({self.note})" if self.note else text


def _ranges(workers: tuple[int, ...], limit: int = 3) -> str:
    """``0-49, 51-63`` (at most ``limit`` runs, then ``...``)."""
    runs: list[tuple[int, int]] = []
    for w in workers:
        if runs and w == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], w)
        else:
            runs.append((w, w))
    text = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs[:limit])
    return text + (", ..." if len(runs) > limit else "")


@dataclass
class Timeline:
    """The spans of the recorded workers of one step, plus its length and provenance."""

    scenario: str
    workers: int
    """Data-parallel workers simulated (only ``recorded`` of them have spans)."""
    step_time_s: float = 0.0
    fidelity: str = ""
    recorded: list[int] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    notes: dict[int, str] = field(default_factory=dict)
    """Why a worker is special (``straggler x1.5``); the Gantt chart always shows these."""
    comm_schedule: str = ""
    """Where the collectives' spans are the engines' one-stream accounting and not when each one ends: gloo's own
    all-reduce runs DDP's buckets at once (:data:`GLOO_CONCURRENT_BUCKETS`); '' where the stream is as drawn."""

    def add_span(
        self, category: str, name: str, start_s: np.ndarray, end_s: np.ndarray, args: Mapping[str, Any] | None = None
    ) -> None:
        """Record one event on every recorded worker (arrays indexed like :attr:`recorded`)."""
        start = np.asarray(start_s, dtype=float)
        end = np.asarray(end_s, dtype=float)
        if np.any(end > start):
            self.spans.append(Span(category, name, start.copy(), end.copy(), dict(args or {})))

    def add(self, worker: int, category: str, name: str, start_s: float, end_s: float) -> None:
        """Record one interval of one worker (the other recorded workers get an empty span)."""
        if end_s <= start_s:
            return
        index = self.recorded.index(worker)
        start = np.zeros(len(self.recorded))
        end = np.zeros(len(self.recorded))
        start[index], end[index] = start_s, end_s
        self.spans.append(Span(category, name, start, end))

    def _index(self) -> dict[int, int]:
        return {w: i for i, w in enumerate(self.recorded)}

    def of(self, worker: int) -> list[Interval]:
        """Intervals of one worker, in start order."""
        i = self._index()[worker]
        found = [
            Interval(worker, s.category, s.name, float(s.start_s[i]), float(s.end_s[i]), s.args)
            for s in self.spans
            if s.end_s[i] > s.start_s[i]
        ]
        return sorted(found, key=lambda x: (x.start_s, x.end_s))

    @property
    def intervals(self) -> list[Interval]:
        """Every interval of every recorded worker (materialised; prefer :meth:`of` or :attr:`spans`)."""
        return [item for worker in self.recorded for item in self.of(worker)]

    def iter_intervals(self, workers: list[int] | None = None) -> Iterator[Interval]:
        index = self._index()
        for worker in workers if workers is not None else self.recorded:
            i = index[worker]
            for s in self.spans:
                if s.end_s[i] > s.start_s[i]:
                    yield Interval(worker, s.category, s.name, float(s.start_s[i]), float(s.end_s[i]), s.args)

    def slowest(self) -> int | None:
        """The recorded worker with the most compute (the one the others wait for); None on a tie."""
        if not self.recorded or not self.spans:
            return None
        busy = np.zeros(len(self.recorded))
        for s in self.spans:
            if s.category in ("forward", "backward", "optimizer"):
                busy += np.maximum(0.0, s.end_s - s.start_s)
        top = int(np.argmax(busy))
        return self.recorded[top] if busy[top] > float(np.min(busy)) * (1 + 1e-9) else None

    def groups(self, decimals: int = 12) -> list[WorkerGroup]:
        """Workers with identical steps grouped (times compared to ``decimals`` places of a second).

        Stragglers (:attr:`notes`) and the slowest worker always form groups of their own.
        """
        if not self.recorded:
            return []
        columns = len(self.recorded)
        matrix = np.empty((columns, 2 * len(self.spans)))
        for j, s in enumerate(self.spans):
            matrix[:, 2 * j] = s.start_s
            matrix[:, 2 * j + 1] = s.end_s
        matrix = np.round(matrix, decimals) + 0.0  # + 0.0: -0.0 and 0.0 hash alike
        members: dict[bytes, list[int]] = {}
        for position in range(columns):  # group by the exact bytes of each worker's row: O(workers)
            members.setdefault(matrix[position].tobytes(), []).append(self.recorded[position])
        notes = dict(self.notes)
        slowest = self.slowest()
        if slowest is not None:
            notes[slowest] = f"{notes[slowest]}, slowest" if slowest in notes else "slowest"
        out: list[WorkerGroup] = []
        for key in members:
            plain = [w for w in members[key] if w not in notes]
            if plain:
                out.append(WorkerGroup(tuple(plain), plain[0]))
            out.extend(WorkerGroup((w,), w, notes[w]) for w in members[key] if w in notes)
        return sorted(out, key=lambda g: g.workers[0])
