"""benchmarks/nccl_tests_heldout.py: the held-out nccl-tests rows are priced alike by both engines."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


def _module() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "nccl_tests_heldout.py"
    spec = importlib.util.spec_from_file_location("nccl_tests_heldout", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODULE = _module()


def test_every_heldout_row_has_its_first_prediction_and_a_source() -> None:
    names = [run.name for run in MODULE.HELDOUT]
    assert len(names) == len(set(names)) == len(MODULE.FIRST_PREDICTION)
    assert set(names) == set(MODULE.FIRST_PREDICTION)
    assert all(run.source.startswith("https://github.com/") for run in MODULE.HELDOUT)


@pytest.mark.parametrize("run", MODULE.HELDOUT, ids=lambda r: r.name)
def test_engines_agree_on_heldout_row(run: object) -> None:
    analytic = MODULE.predict(run)["predicted_gbps"]
    sim = MODULE.predict(run, "sim")["predicted_gbps"]
    assert sim == pytest.approx(analytic, rel=0.01)
