"""Where ranks run: ``local`` (loopback, unshaped) or ``emulated`` (network namespaces with tc shaping).

A testbed tells the launcher how to start rank r (a command prefix and environment) and
which address rank 0 listens on. Under ``torchrun`` no testbed is needed: each process is
already a rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

__all__ = ["LocalTestbed", "Testbed"]

_T = TypeVar("_T", bound="Testbed")


@dataclass
class Testbed:
    """Base: ranks run as plain local processes talking over loopback."""

    name: str = "local"
    master_addr: str = "127.0.0.1"
    link_rate: float | None = None
    """Imposed inter-node rate in bytes/s (None: unshaped)."""
    measured_latency_s: float | None = None
    info: dict[str, object] = field(default_factory=dict)

    def prefix(self, rank: int) -> list[str]:
        """Command prefix that places rank ``rank`` (e.g. ``ip netns exec <ns>``)."""
        del rank
        return []

    def env(self, rank: int) -> dict[str, str]:
        del rank
        return {}

    def grant(self, path: Path) -> None:
        """Let the ranks write under ``path`` (a testbed that runs them as another user chowns it)."""
        del path

    def close(self) -> None:
        """Release what the testbed set up (idempotent)."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalTestbed(Testbed):
    """Loopback: every rank on this host, no shaping (works without root)."""
