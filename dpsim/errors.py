"""The one error type users see: a field path and what was wrong with it."""

from __future__ import annotations

__all__ = ["ScenarioError"]


class ScenarioError(ValueError):
    """Bad input, reported as ``<file>: <field.path>: <what is wrong>`` on one line.

    The CLI prints ``error: `` + :meth:`one_line` and exits with status 2.
    """

    def __init__(self, field: str, message: str, source: str = "<scenario>") -> None:
        self.field = field
        self.message = message
        self.source = source
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.source}: {self.field}: {self.message}" if self.field else f"{self.source}: {self.message}"
        return " ".join(text.split())

    def with_source(self, source: str) -> ScenarioError:
        return ScenarioError(self.field, self.message, source)
