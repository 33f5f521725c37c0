"""``benchmarks/ddp_reducer_passes.py``: a bad size is refused in one line (exit 2) before anything is timed."""

from __future__ import annotations

import sys

import pytest
from _bench import load_benchmark


@pytest.mark.parametrize("flag", ["--layers", "--hidden", "--micro-batch", "--steps"])
def test_a_size_below_one_is_refused_in_one_line(
    flag: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = load_benchmark("ddp_reducer_passes")
    monkeypatch.setattr(script, "time_kinds", lambda *a: pytest.fail("timed a refused size"))
    monkeypatch.setattr(sys, "argv", ["ddp_reducer_passes.py", flag, "0"])
    assert script.main() == 2
    assert capsys.readouterr().err == f"error: {flag}: must be at least 1, got 0\n"
