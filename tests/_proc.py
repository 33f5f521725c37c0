"""Run a command for a test with a hard bound on time and nothing left behind.

``subprocess.run(..., timeout=T)`` kills only the process it started: the processes *that*
one started (torchrun's ranks, the launcher's ranks) live on, keep their sockets and ports,
and, while they hold the output pipes, a run without a timeout waits for them for ever.
:func:`run` starts the command in its own session (so it leads a process group of its own,
which its descendants inherit), and kills the whole group with SIGKILL — on timeout, and
after a normal exit too, so a rank that outlived its launcher does not outlive the test.
Reading the output after the kill is bounded as well: a descendant that left the group
(``setsid``) and still holds a pipe cannot stall the test.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["GROUP_TIMEOUT", "LONG_S", "ProcessTimeout", "group_members", "run"]

LONG_S = 480.0
"""Timeout for a multi-process run (torchrun and its ranks): under pytest-timeout's 600 s a test, so
this kill — of the whole group, with the output shown — comes first."""

GROUP_TIMEOUT = datetime.timedelta(seconds=120)
"""``init_process_group(timeout=…)`` of a test's ranks: a collective waits at most this long for a
peer that hung, then fails (and ``mp.spawn``'s join with it), instead of gloo's default 30 minutes."""

DRAIN_S = 5.0
"""How long the output is read after the group was killed (pipes close once every holder is dead)."""


class ProcessTimeout(subprocess.TimeoutExpired):
    """The command (or what it started) ran past its timeout; its process group was killed.

    ``exited``: the command's own exit status when it had ended and processes it started still
    held its output (torchrun gone, a rank alive); None when the command itself was still running.
    """

    def __init__(self, cmd: list[str], timeout: float, output: str, stderr: str, exited: int | None) -> None:
        super().__init__(cmd, timeout, output, stderr)
        self.exited = exited

    def __str__(self) -> str:
        what = (f"the command exited with status {self.exited}, but processes it started held its output past "
                f"{self.timeout:g} s" if self.exited is not None else super().__str__())  # fmt: skip
        tail = _text(self.stderr)[-3000:]
        return f"{what}; its process group was killed" + (f"; stderr:\n{tail}" if tail else "")


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name: state, ppid, process group, ...; None when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def group_members(pgid: int) -> list[int]:
    """PIDs of the live (not zombie) processes in process group ``pgid`` (Linux: read from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is empty
        os.killpg(pgid, signal.SIGKILL)


def _text(data: Any) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data or ""


def run(command: Sequence[str], *, timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)``, bounded.

    Raises :class:`ProcessTimeout` (with the output so far) when the command, or anything it
    started that still holds its output, runs past ``timeout`` seconds; returns within about
    ``timeout + DRAIN_S`` seconds in every case, with the command's process group killed.
    """
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True, **kwargs) as proc:  # fmt: skip
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as late:
            leader = _stat(proc.pid)  # "Z": the command exited by itself; what it started holds the pipes
            _kill_group(proc.pid)  # the leader is not reaped yet: its PID still names the group
            exited = proc.wait(timeout=DRAIN_S) if leader is not None and leader[0] == "Z" else None
            try:
                stdout, stderr = proc.communicate(timeout=DRAIN_S)
            except subprocess.TimeoutExpired as held:  # a process outside the group holds a pipe
                stdout, stderr = _text(held.stdout), _text(held.stderr)
                for pipe in (proc.stdout, proc.stderr):
                    if pipe is not None:
                        pipe.close()
                proc.stdout = proc.stderr = None  # closed: Popen.__exit__ must not read them
                proc.wait(timeout=DRAIN_S)
            raise ProcessTimeout(list(command), late.timeout, _text(stdout), _text(stderr), exited) from None
        finally:
            if group_members(proc.pid):  # after a normal exit: whatever the command left running (while one
                _kill_group(proc.pid)  # lives, the leader's PID cannot be reused: it still names the group)
    return subprocess.CompletedProcess(list(command), proc.returncode, stdout, stderr)
