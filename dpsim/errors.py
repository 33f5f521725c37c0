"""The one error type users see: a field path and what was wrong with it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["MAX_MESSAGE_CHARS", "ScenarioError", "did_you_mean", "interrupt_within", "safe_text"]

MAX_MESSAGE_CHARS = 400
"""Longest error line printed (an error never echoes unbounded input)."""


def did_you_mean(name: str, known: Iterable[str], limit: int = 4) -> str:
    """``did you mean 'x'?`` for a name that is not one of ``known`` (empty when nothing is close): every known name
    that contains it, shortest first (at most ``limit``; a fragment of three characters or more: ``h100`` is
    ``h100-sxm``, ``recompute`` one of three fields), else difflib's closest. difflib alone answered ``h100`` with
    ``v100`` and ``recompute`` with ``recompute_early_stop`` beside ``activation_recomputation``. A name of five
    characters or more ending in ``e`` or ``s`` also matches without it (an English word's other ending: ``recompute``
    is in ``activation_recomputation`` as ``recomput``, ``buckets`` in ``bucket``; the plain fragment offered only the
    two ``recompute_*`` fields). A name that differs from a known one only in case or surrounding spaces is offered
    that one alone (``Adam``: ``adam``, not also ``adamw``)."""
    key, names = name.strip().lower(), list(known)
    same = [n for n in names if n.lower() == key]  # 'Adam' is 'adam', not also 'adamw'
    if same:
        return f"did you mean {same[0]!r}?"
    stems = [key] + ([key[:-1]] if len(key) >= 5 and key[-1] in "es" else [])
    hits = sorted((n for n in names if len(key) >= 3 and any(s in n.lower() for s in stems)), key=lambda n: (len(n), n))
    hits = hits[:limit]
    hits = hits or difflib.get_close_matches(key, names, n=1)
    if not hits:
        return ""
    listed = ", ".join(repr(n) for n in hits[:-1])
    return f"did you mean {listed + ' or ' if listed else ''}{hits[-1]!r}?"


def safe_text(text: str) -> str:
    """``text`` with every non-printable character (ANSI escapes, NUL, lone surrogates) escaped."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


class ScenarioError(ValueError):
    """Bad input, reported as ``<file>: <field.path>: <what is wrong>`` on one line.

    The CLI prints ``error: `` + :meth:`one_line` and exits with status 2. The line is
    printable (control characters escaped) and at most :data:`MAX_MESSAGE_CHARS` long.
    """

    def __init__(self, field: str, message: str, source: str = "<scenario>") -> None:
        self.field = field
        self.message = message
        self.source = source
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = f"{self.source}: {self.field}: {self.message}" if self.field else f"{self.source}: {self.message}"
        text = safe_text(" ".join(text.split()))
        return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."

    def with_source(self, source: str) -> ScenarioError:
        return ScenarioError(self.field, self.message, source)


def interrupt_within(exc: BaseException) -> BaseException | None:
    """The ``SystemExit`` / ``KeyboardInterrupt`` that ``exc`` wraps, if any (else ``None``).

    A signal turned into :class:`dpsim.cli_common.Stopped` can arrive while a library runs a Python callback, and
    some libraries re-raise what the callback raised as their own error: pydantic-core reports it as a
    ``PydanticSerializationError`` ("Error calling function ...") with the original as its ``__cause__``. Found
    here, the interruption ends the command as the signal asked, instead of being reported as a failed point.
    """
    seen: set[int] = set()
    inner = exc.__cause__ or exc.__context__
    while inner is not None and id(inner) not in seen:
        if not isinstance(inner, Exception):
            return inner
        seen.add(id(inner))
        inner = inner.__cause__ or inner.__context__
    return None
