"""What happened in one simulated step: per-worker intervals of compute, communication and waiting."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Interval", "Timeline"]


@dataclass(frozen=True)
class Interval:
    """One span on one worker's track (seconds from the start of the step)."""

    worker: int
    category: str
    """forward | backward | optimizer | bubble | idle (compute track); comm | wait (communication track)."""
    name: str
    start_s: float
    end_s: float


@dataclass
class Timeline:
    """The intervals of the recorded workers of one step, plus its length and provenance."""

    scenario: str
    workers: int
    """Data-parallel workers simulated (only ``recorded`` of them have intervals)."""
    step_time_s: float = 0.0
    fidelity: str = ""
    recorded: list[int] = field(default_factory=list)
    intervals: list[Interval] = field(default_factory=list)

    def add(self, worker: int, category: str, name: str, start_s: float, end_s: float) -> None:
        if end_s > start_s:
            self.intervals.append(Interval(worker, category, name, float(start_s), float(end_s)))

    def of(self, worker: int) -> list[Interval]:
        """Intervals of one worker, in start order."""
        return sorted((i for i in self.intervals if i.worker == worker), key=lambda i: (i.start_s, i.end_s))
