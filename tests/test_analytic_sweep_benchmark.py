"""benchmarks/analytic_sweep.py runs the grid it asks for, past the cost guard.

Its 10,000-point grid reaches 4,096 ranks of ``direct``, whose pricing the guard refuses as minutes
(``this sweep of 10,000 configurations prices 490 distinct data-parallel groups: about 2.21 minutes``):
the README's command ended in a ScenarioError traceback. Here the guard's limits are set to zero, so
any sweep is past them, and the script's own code runs on a two-point grid.
"""

from __future__ import annotations

import sys
from types import ModuleType

import pytest
from _bench import load_benchmark

import dpsim.sim.budget as budget


def _module() -> ModuleType:
    return load_benchmark("analytic_sweep")


def test_the_benchmark_runs_its_grid_past_the_cost_guard(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = _module()
    monkeypatch.setattr(budget, "PRICING_LIMIT_S", 0.0)
    monkeypatch.setattr(budget, "LIMIT_S", 0.0)
    monkeypatch.setattr(script, "GRID", {"cluster.nodes": [1, 2], "communication.algorithm": ["direct"]})
    monkeypatch.setattr(sys, "argv", ["analytic_sweep.py", "--repeats", "2"])
    script.main()
    out = capsys.readouterr().out
    assert "points per sweep:        2" in out
    assert "cold sweep (s):" in out and "points per second, warm:" in out
