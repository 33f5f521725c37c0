"""dpsim: predict data-parallel (and hybrid-parallel) training step time, and validate it for real.

Public API::

    scenario = dpsim.load_scenario("scenarios/default.yaml", overrides=["cluster.nodes=16"])
    result = dpsim.run(scenario, engine="analytic")        # a StepResult record
    frame = dpsim.sweep(scenario, {"cluster.nodes": [1, 2, 4, 8]})  # a pandas DataFrame
    shards = dpsim.partition(1000, 8, scheme="round_robin", seed=0)
"""

from __future__ import annotations

import importlib
from typing import Any

from dpsim.errors import ScenarioError
from dpsim.partition import partition  # the function shadows the submodule of the same name
from dpsim.records import StepResult
from dpsim.scenario import Scenario, dump_scenario, load_scenario

__all__ = [
    "Scenario",
    "ScenarioError",
    "StepResult",
    "dump_scenario",
    "load_scenario",
    "partition",
    "run",
    "sweep",
]
__version__ = "0.1.0"

_LAZY = {"run": "dpsim.api", "sweep": "dpsim.api"}


def __getattr__(name: str) -> Any:
    """Import the engines only when used, so ``import dpsim`` stays fast."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dpsim' has no attribute {name!r}")
