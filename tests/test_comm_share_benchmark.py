"""benchmarks/comm_share.py: each point is predicted with its own algorithm's link and traffic; bad input exits 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _bench import load_benchmark

from dpsim.calibration import load_profile

MODULE = load_benchmark("comm_share")
PROFILE = Path(__file__).parent.parent / "benchmarks/results/validation-2026-12-04-night/profile-refit.yaml"


def test_a_ring_point_is_priced_as_a_ring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    size, n, rate, measured = 9449472, 4, 62.5e6, 0.5
    record = {"collective": "all_reduce", "algorithm": "ring", "ranks": n, "size_bytes": size,
              "time_s": measured, "cpu_s": 0.1, "host_busy_s": 0.5, "rate_bytes_per_s": rate,
              "host_load": {"other_cores": 0.12}}  # fmt: skip
    (tmp_path / "comm-share.json").write_text(json.dumps([record]), encoding="utf-8")
    link = load_profile(PROFILE).link("inter", "ring", rate, n)
    assert link is not None
    # ring all-reduce by hand: 2(n - 1) steps, each rank sends 2(n - 1)/n of the buffer
    predicted = 2 * (n - 1) * link.latency_s + 2 * (n - 1) / n * size / link.bandwidth
    argv = ["comm_share.py", "--reuse", str(tmp_path), "--profile", str(PROFILE)]
    monkeypatch.setattr(sys, "argv", argv)
    assert MODULE.main() == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[1] == "ring" and row[8] == "0.12"
    assert row[9] == f"{100 * (predicted - measured) / measured:+.1f}%"


def test_an_unknown_algorithm_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["comm_share.py", "--algorithms", "backend,rign"])
    assert MODULE.main() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --algorithms: 'rign'") and err.count("\n") == 1
