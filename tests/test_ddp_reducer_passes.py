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
    with pytest.raises(SystemExit) as stopped:  # the option's type refuses it (round 27: '1_0' and '１' too)
        script.main()
    assert stopped.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: argument {flag}: expected a whole number from 1 to ")
