"""The bounded subprocess helper (tests/_proc.py): a command that starts a process holding its output
pipes — torchrun and its ranks — ends within the timeout, and nothing it started survives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _proc import DRAIN_S, ProcessTimeout, group_members, run

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads process groups from /proc")

SLEEPER = "import time; time.sleep(300)"


def _parent(then: str, *, escape: bool = False, quiet: bool = False) -> list[str]:
    """A command that starts a sleeping grandchild (sharing its stdout/stderr unless ``quiet``), prints
    the grandchild's PID, then runs ``then``. ``escape``: the grandchild leaves the process group."""
    start = (f"subprocess.Popen([sys.executable, '-c', {SLEEPER!r}], start_new_session={escape}"
             + (", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)" if quiet else ")"))  # fmt: skip
    code = f"import subprocess, sys, time; p = {start}; print(p.pid, flush=True); {then}"
    return [sys.executable, "-c", code]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _gone(pid: int, within_s: float = 5.0) -> bool:
    """SIGKILL is delivered asynchronously: wait briefly for the process to end."""
    end = time.monotonic() + within_s
    while _alive(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def _kill(pid: int) -> None:
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_a_hung_command_and_its_grandchild_are_killed_within_the_timeout() -> None:
    start = time.monotonic()
    with pytest.raises(ProcessTimeout) as info:
        run(_parent("time.sleep(300)"), timeout=2)
    elapsed = time.monotonic() - start
    assert 2 <= elapsed < 2 + DRAIN_S
    grandchild = int(info.value.output.split()[0])  # printed before the hang: the output so far is kept
    assert _gone(grandchild)
    assert info.value.exited is None and "timed out after 2 seconds" in str(info.value)


def test_a_grandchild_holding_the_pipes_after_its_parent_exited_is_killed() -> None:
    """torchrun gone, a rank alive and holding stdout: the read ends at the timeout, not when the rank does."""
    start = time.monotonic()
    with pytest.raises(ProcessTimeout) as info:
        run(_parent("sys.exit(3)"), timeout=2)
    assert time.monotonic() - start < 2 + DRAIN_S
    assert info.value.exited == 3
    assert "exited with status 3, but processes it started held its output past 2 s" in str(info.value)
    assert _gone(int(info.value.output.split()[0]))


def test_a_normal_exit_returns_its_output_and_kills_what_it_left_running() -> None:
    proc = run(_parent("print('done'); sys.exit(0)", quiet=True), timeout=30)
    assert proc.returncode == 0 and proc.stdout.split()[1] == "done" and proc.stderr == ""
    assert _gone(int(proc.stdout.split()[0]))


def test_a_grandchild_outside_the_group_cannot_stall_the_read() -> None:
    """It left the session (it cannot be killed with the group) and holds the pipes: the read is bounded."""
    start = time.monotonic()
    with pytest.raises(ProcessTimeout) as info:
        run(_parent("time.sleep(300)", escape=True), timeout=1)
    escaped = int(info.value.output.split()[0])
    try:
        assert time.monotonic() - start < 1 + 2 * DRAIN_S + 2
        assert _alive(escaped)  # outside the group: out of reach, as said
    finally:
        _kill(escaped)


def test_plain_subprocess_run_leaves_the_grandchild_running() -> None:
    """Why the helper exists: the standard library's timeout kills the child only."""
    with pytest.raises(subprocess.TimeoutExpired) as info:
        subprocess.run(_parent("time.sleep(300)", quiet=True), capture_output=True, text=True, timeout=2)
    grandchild = int((info.value.output or b"").split()[0])
    try:
        assert _alive(grandchild) and not _gone(grandchild, within_s=0.5)
    finally:
        _kill(grandchild)


def test_group_members_lists_the_live_processes_of_a_group() -> None:
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER], start_new_session=True)
    try:
        assert group_members(proc.pid) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()
    assert group_members(proc.pid) == []
