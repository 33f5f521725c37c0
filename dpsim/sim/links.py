"""Links of the simulated cluster: one table of full-duplex links, each direction its own entry.

A physical full-duplex cable is two independent *directed* links of the same bandwidth and
latency (a rank can send and receive at full rate at once — the assumption of the α–β
closed forms in :mod:`dpsim.analytic.collectives`). Links are kept in flat arrays indexed
by an integer id so that routing and load computations vectorise with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LinkTable"]


@dataclass
class LinkTable:
    """Directed links: bandwidth (bytes/s), latency (s) and a name per integer id."""

    bandwidths: list[float] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    _capacity: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    """:attr:`capacity` as last built, until a link is added or scaled."""

    def add(self, name: str, bandwidth: float, latency_s: float) -> int:
        """Append one directed link; returns its id."""
        if not bandwidth > 0:
            raise ValueError(f"link {name}: bandwidth must be > 0, got {bandwidth!r}")
        self.bandwidths.append(float(bandwidth))
        self.latencies_s.append(float(latency_s))
        self.names.append(name)
        self._capacity = None
        return len(self.names) - 1

    def add_duplex(self, name: str, bandwidth: float, latency_s: float) -> tuple[int, int]:
        """Two directed links (``name:up``, ``name:down``) of one full-duplex cable: (up id, down id)."""
        return self.add(f"{name}:up", bandwidth, latency_s), self.add(f"{name}:down", bandwidth, latency_s)

    def scale(self, link_id: int, factor: float) -> None:
        """Multiply one link's bandwidth (a degraded NIC)."""
        self.bandwidths[link_id] *= factor
        self._capacity = None

    def __len__(self) -> int:
        return len(self.names)

    @property
    def capacity(self) -> np.ndarray:
        """Bandwidths as a float64 array (bytes/s), read-only. Built once, not on every read: pricing reads it for
        every phase and every step of a tree's fill (99 reads of 1.57 M links, 6.3 of 40 s profiled, on the
        README's 262,144-rank HYBRID_SHARD example)."""
        if self._capacity is None or len(self._capacity) != len(self.bandwidths):
            self._capacity = np.asarray(self.bandwidths, dtype=np.float64)
            self._capacity.flags.writeable = False
        return self._capacity
