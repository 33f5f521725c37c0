"""benchmarks/nccl_tests_heldout.py: the held-out nccl-tests rows are priced alike by both engines."""

from __future__ import annotations

import pytest
from _bench import load_benchmark

MODULE = load_benchmark("nccl_tests_heldout")


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
