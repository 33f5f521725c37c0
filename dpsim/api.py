"""The Python API: :func:`run` one scenario, :func:`sweep` a grid of variants.

Both take a :class:`~dpsim.scenario.Scenario`, a path to a scenario file, or ``None`` (the
bundled default), plus ``--set``-style overrides, and return the one result record type
(:class:`~dpsim.records.StepResult`) or a pandas DataFrame of them.

A sweep re-validates every grid point from raw scenario data (about 0.1 ms a point), so a
variant that breaks a constraint (say, a batch that no longer divides) is reported as a
:class:`~dpsim.errors.ScenarioError` naming the field and the grid point, never silently
skipped.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dpsim.errors import ScenarioError
from dpsim.records import StepResult
from dpsim.scenario import (
    Scenario,
    apply_overrides,
    default_scenario_path,
    named_after_overrides,
    parse_override,
    read_scenario_data,
    scenario_from_dict,
    scenario_source,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ENGINES", "engine_function", "grid_points", "run", "sweep"]

ENGINES = ("analytic", "sim")

Override = str | tuple[str, Any]
ScenarioLike = Scenario | str | Path | None


def engine_function(
    engine: str, fidelity: str | None = None, allow_long: bool = False
) -> Callable[[Scenario], StepResult]:
    """The ``Scenario → StepResult`` function of an engine (the simulator is imported lazily).

    ``allow_long`` lets the simulator run past its cost limit (:mod:`dpsim.sim.budget`).
    """
    if engine == "analytic":
        from dpsim.analytic.step import predict

        return predict
    if engine == "sim":
        try:
            sim = importlib.import_module("dpsim.sim")
        except ModuleNotFoundError as exc:
            if exc.name not in ("dpsim.sim", "dpsim"):
                raise
            raise ScenarioError("engine", "the simulator (dpsim.sim) is not available", "<api>") from None

        def simulate(scenario: Scenario) -> StepResult:
            result: StepResult = sim.simulate(scenario, fidelity=fidelity, allow_long=allow_long)
            return result

        return simulate
    raise ScenarioError("engine", f"expected one of {', '.join(ENGINES)}, got {engine!r}", "<api>")


class _Base:
    """Raw scenario data plus how to turn a variant of it into a validated Scenario."""

    def __init__(self, scenario: ScenarioLike, overrides: Iterable[Override]) -> None:
        overrides = list(overrides)
        if isinstance(scenario, Scenario):
            # a resolved scenario: every preset field is explicit, so setting a preset (or a
            # whole section by name) must drop the fields the old preset filled in
            self.data: dict[str, Any] = scenario.model_dump(mode="json", exclude_none=True)
            self.source = scenario.name
            self.directory: Path | None = None
            self.resolved = True
        else:
            file = Path(scenario) if scenario is not None else default_scenario_path()
            self.source = scenario_source(scenario)
            self.directory = file.parent
            self.resolved = False
            self.data = read_scenario_data(scenario)  # read once: the path may be "-" (stdin)
        parsed = [parse_override(o) if isinstance(o, str) else o for o in overrides]
        self.data = named_after_overrides(self.apply(self.data, parsed), parsed)
        self.overridden = [path for path, _ in parsed]
        if not self.resolved:
            self.build(self.data)  # full validation up front, naming the file (or the command line)

    def apply(self, data: dict[str, Any], overrides: Sequence[Override]) -> dict[str, Any]:
        parsed = [parse_override(o) if isinstance(o, str) else o for o in overrides]
        if self.resolved:
            data = _drop_preset_siblings(data, [p for p, _ in parsed])
        try:
            if all(_simple_path(data, path) for path, _ in parsed):
                for path, value in parsed:
                    data = _replace(data, path.split("."), value)
                return data
            return apply_overrides(data, parsed)
        except ScenarioError as exc:
            raise exc.with_source("<command line>") from None
        except (IndexError, KeyError, TypeError) as exc:
            raise ScenarioError("--set", f"cannot apply override: {exc}", "<command line>") from None

    def build(self, data: dict[str, Any]) -> Scenario:
        scenario = scenario_from_dict(data, self.source, getattr(self, "overridden", ()))
        cal = scenario.calibration
        if cal is not None and self.directory is not None and not Path(cal.profile).is_absolute():
            cal.profile = str((self.directory / cal.profile).resolve())
        return scenario


def _drop_preset_siblings(data: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """For a dumped scenario: ``x.preset=NAME`` resets section ``x`` to just that preset."""
    for path in paths:
        parts = path.split(".")
        if len(parts) >= 2 and parts[-1] == "preset":
            data = _replace(data, parts[:-1], {})
    return data


def _simple_path(data: dict[str, Any], path: str) -> bool:
    """True when every parent of ``path`` is a mapping (or absent): copy-on-write can set it."""
    node: Any = data
    for part in path.split(".")[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return True
        if not isinstance(node, dict):
            return False
    return True


def _replace(data: dict[str, Any], parts: Sequence[str], value: Any) -> dict[str, Any]:
    """Copy-on-write ``data`` with ``parts`` set to ``value`` (only the dicts on the path are copied)."""
    out = dict(data)
    if len(parts) == 1:
        out[parts[0]] = value
    else:
        out[parts[0]] = _replace(dict(out.get(parts[0]) or {}), parts[1:], value)
    return out


def run(
    scenario: ScenarioLike = None,
    *,
    engine: str = "analytic",
    overrides: Iterable[Override] = (),
    fidelity: str | None = None,
    allow_long: bool = False,
) -> StepResult:
    """Predict one step of ``scenario`` (a Scenario, a file path, or None for the bundled default)."""
    fn = engine_function(engine, fidelity, allow_long)
    overrides = list(overrides)
    if isinstance(scenario, Scenario) and not overrides:
        return fn(scenario)
    base = _Base(scenario, overrides)
    return fn(base.build(base.data))


def grid_points(vary: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of ``vary`` as a list of ``{path: value}`` (last path varies fastest)."""
    paths = list(vary)
    for path, values in vary.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ScenarioError(path, f"expected a non-empty list of values to vary over, got {values!r}", "<sweep>")
    return [dict(zip(paths, combo, strict=True)) for combo in itertools.product(*(vary[p] for p in paths))]


def sweep(
    scenario: ScenarioLike,
    vary: Mapping[str, Sequence[Any]],
    *,
    engine: str = "analytic",
    progress: bool = False,
    overrides: Iterable[Override] = (),
    fidelity: str | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Run every point of the grid ``vary`` (``{field.path: [values]}``); one row per point.

    Columns: the varied paths (values as given), then :meth:`StepResult.flat`. ``progress``
    shows a rich progress bar on stderr.
    """
    import pandas as pd

    fn = engine_function(engine, fidelity)
    base = _Base(scenario, overrides)
    if source is not None:
        base.source = source
    points = grid_points(vary)
    rows: list[dict[str, Any]] = []

    def one(point: dict[str, Any]) -> None:
        try:
            scenario_i = base.build(base.apply(base.data, list(point.items())))
        except ScenarioError as exc:
            where = ", ".join(f"{k}={v}" for k, v in point.items())
            raise ScenarioError(exc.field, f"{exc.message} (at grid point {where})", exc.source) from None
        rows.append({**point, **fn(scenario_i).flat()})

    if progress:
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(f"{engine} sweep", total=len(points))
            for point in points:
                one(point)
                bar.advance(task)
    else:
        for point in points:
            one(point)
    return pd.DataFrame(rows)
