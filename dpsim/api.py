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

import contextlib
import importlib
import itertools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dpsim import inputs
from dpsim.errors import ScenarioError
from dpsim.records import StepResult
from dpsim.scenario import (
    Scenario,
    apply_overrides,
    default_scenario_path,
    named_after_overrides,
    parse_override,
    read_scenario_data,
    refuse_overlapping_sets,
    resolve_profile,
    scenario_from_dict,
    scenario_source,
)

if TYPE_CHECKING:
    import pandas as pd

    from dpsim.execution import Executor

__all__ = ["ENGINES", "SweepError", "engine_function", "grid_points", "run", "sweep", "sweep_fingerprint"]

ENGINES = ("analytic", "sim")

Override = str | tuple[str, Any]
ScenarioLike = Scenario | str | Path | None


def engine_function(
    engine: str, fidelity: str | None = None, allow_long: bool = False
) -> Callable[[Scenario], StepResult]:
    """The ``Scenario → StepResult`` function of an engine (the simulator is imported lazily).

    ``allow_long`` lets either engine run past its cost limits (:mod:`dpsim.sim.budget`: pricing the
    collectives at a million ranks, and the simulator's events).
    """
    if engine == "analytic":
        from dpsim.analytic.step import predict
        from dpsim.sim.budget import check_pricing

        def analytic(scenario: Scenario) -> StepResult:
            check_pricing(scenario, allow_long)  # the collectives' schedules are priced once: bounded up front
            return predict(scenario)

        return analytic
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

    def __init__(self, scenario: ScenarioLike, overrides: Iterable[Override], varied: Iterable[str] = ()) -> None:
        """``varied``: paths a sweep replaces at every grid point; a ``--set`` of one (or inside one) shapes only the
        base scenario, so the name does not carry it (each row would claim a value it did not run)."""
        overrides = list(overrides)
        varied = list(varied)
        self.cwd = Path.cwd()  # a typed profile path is the shell's: grid points may be built on a Dask worker
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
        refuse_overlapping_sets(parsed)
        named = [(p, v) for p, v in parsed if not any(p == u or p.startswith(u + ".") for u in varied)]
        self.replaced = {
            p: f"set by --set, replaced at every grid point by --vary {u}"
            for p, _ in parsed
            for u in varied
            if p == u or p.startswith(u + ".")
        }
        """Each ``--set`` path a ``--vary`` path replaces (itself or a section holding it): it shapes only the base
        scenario, and every row lists it in ``ignored_fields`` (round 36: accepted and read by nothing, unlisted)."""
        read = self.data
        self.data = named_after_overrides(self.apply(self.data, parsed), named)
        self.overridden = [path for path, _ in parsed]
        if not self.resolved:
            self.build(self.data, before=read)  # full validation up front, naming the file (or the command line)

    def apply(self, data: dict[str, Any], overrides: Sequence[Override]) -> dict[str, Any]:
        parsed = [parse_override(o) if isinstance(o, str) else o for o in overrides]
        if self.resolved:
            data = _drop_preset_siblings(data, [p for p, _ in parsed])
        try:
            if all(_simple_path(data, path) and not _creates_default_link(data, path) for path, _ in parsed):
                for path, value in parsed:
                    data = _replace(data, path.split("."), value)
                return data
            return apply_overrides(data, parsed)
        except ScenarioError as exc:
            raise exc.with_source("<command line>") from None
        except (IndexError, KeyError, TypeError) as exc:
            raise ScenarioError("--set", f"cannot apply override: {exc}", "<command line>") from None

    def build(self, data: dict[str, Any], varied: Iterable[str] = (), before: Any = None) -> Scenario:
        """The scenario of ``data``; an error in a field ``--set`` or ``--vary`` (``varied``) gave names the command
        line (a grid point's value was blamed on the file), as does one in a field of the file that ``before`` (the
        data without them) did not have (:func:`dpsim.scenario.scenario_from_dict`)."""
        typed = [*getattr(self, "overridden", ()), *varied]
        scenario = scenario_from_dict(data, self.source, typed, before)
        resolve_profile(scenario, self.directory, typed, self.cwd)
        return scenario


def _drop_preset_siblings(data: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """For a dumped scenario: ``x.preset=NAME`` resets section ``x`` to just that preset."""
    for path in paths:
        parts = path.split(".")
        if len(parts) >= 2 and parts[-1] == "preset":
            data = _replace(data, parts[:-1], {})
    return data


def _creates_default_link(data: dict[str, Any], path: str) -> bool:
    """Whether ``path`` sets a field of a link the scenario leaves to its default (``cluster.inter_node.nics_per_node``
    without ``inter_node``): :func:`dpsim.scenario.apply_overrides` fills in that default's preset, which the
    copy-on-write path did not, so ``sweep --set`` / ``--vary`` of such a field failed ("a link needs a bandwidth
    ... got only nics_per_node") where ``run --set`` ran (round 20)."""
    parts = path.split(".")
    cluster = data.get("cluster", {})
    return (
        len(parts) > 2
        and parts[0] == "cluster"
        and parts[1] in ("intra_node", "inter_node", "host_link")
        and isinstance(cluster, dict)
        and cluster.get(parts[1]) is None
    )


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
    workers: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
) -> StepResult:
    """Predict one step of ``scenario`` (a Scenario, a file path, or None for the bundled default).

    With the simulator, ``workers``/``scheduler``/``executor`` run its replications
    (``variability.replications``) on Dask, as :func:`sweep` runs points; same result.
    """
    fn = engine_function(engine, fidelity, allow_long)
    overrides = list(overrides)
    if isinstance(scenario, Scenario) and not overrides:
        built = scenario
    else:
        base = _Base(scenario, overrides)
        built = base.build(base.data)
    if engine != "sim" or (executor is None and workers is None and scheduler is None):
        return fn(built)
    from dpsim import execution
    from dpsim.sim import simulate

    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(execution.open_executor(workers, scheduler))
        return simulate(built, fidelity=fidelity, allow_long=allow_long, executor=executor)


def grid_points(vary: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of ``vary`` as a list of ``{path: value}`` (last path varies fastest)."""
    paths = list(vary)
    for path, values in vary.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ScenarioError(path, f"expected a non-empty list of values to vary over, got {values!r}", "<sweep>")
        repeated = inputs.first_repeat(list(values))
        if repeated is not None:
            raise ScenarioError(
                path,
                f"the value {inputs.brief(values[repeated])} is listed more than once (each grid point runs once)",
                "<sweep>",
            )
    return [dict(zip(paths, combo, strict=True)) for combo in itertools.product(*(vary[p] for p in paths))]


class SweepError(ScenarioError):
    """Some grid points failed: the first one's error (with its grid coordinates) as the message.

    ``frame`` holds the points that finished (grid order), ``failures`` every failed point
    with its :class:`~dpsim.execution.TaskError`.
    """

    def __init__(self, error: ScenarioError, frame: pd.DataFrame, failures: list[tuple[dict[str, Any], Any]]) -> None:
        super().__init__(error.field, error.message, error.source)
        self.frame = frame
        self.failures = failures


class _PointRunner:
    """Scenario data + engine → one grid point's row; picklable, so Dask workers can run it."""

    def __init__(self, base: _Base, engine: str, fidelity: str | None, allow_long: bool = False) -> None:
        self.base, self.engine, self.fidelity, self.allow_long = base, engine, fidelity, allow_long
        self._fn: Callable[[Scenario], StepResult] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fn": None}  # the engine function is looked up again where it runs

    def scenario(self, point: Mapping[str, Any]) -> Scenario:
        return self.base.build(self.base.apply(self.base.data, list(point.items())), point, before=True)

    def __call__(self, point: Mapping[str, Any]) -> dict[str, Any]:
        if self._fn is None:
            self._fn = engine_function(self.engine, self.fidelity, self.allow_long)
        row = {**point, **self._fn(self.scenario(point)).flat()}
        if self.base.replaced:  # a --set that no grid point reads (the --vary value replaced it)
            text = "; ".join(f"{path}: {why}" for path, why in self.base.replaced.items())
            row["ignored_fields"] = f"{row['ignored_fields']}; {text}" if row.get("ignored_fields") else text
        return row


def _where(point: Mapping[str, Any]) -> str:
    return "at grid point " + ", ".join(f"{k}={v}" for k, v in point.items())


PRICING_FREE = ("name", "model", "variability", "simulation", "reliability")
"""Top-level sections whose fields do not shape the data-parallel group a step's collectives are priced on."""


def _check_cost(runner: _PointRunner, points: list[dict[str, Any]], engine: str, allow_long: bool) -> float:
    """Refuse a sweep whose points cost too much in all (:func:`dpsim.sim.budget.check_total`), before any runs;
    returns its estimate (the distinct data-parallel groups' pricing; with the simulator every point's run too).

    With the simulator every point is built (a point that cannot be built fails now, not after hours);
    with the closed forms one point per distinct value of the fields that shape the data-parallel group.
    """
    from dpsim.sim.budget import check_total

    if engine != "sim":
        distinct: dict[tuple[Any, ...], dict[str, Any]] = {}
        for point in points:
            key = tuple((k, repr(v)) for k, v in point.items() if k.split(".")[0] not in PRICING_FREE)
            distinct.setdefault(key, point)
        points = list(distinct.values())

    def built() -> Iterator[tuple[str, Scenario]]:
        for point in points:
            try:
                yield _where(point), runner.scenario(point)
            except ScenarioError as exc:  # the simulator's points are expensive: one that cannot be built fails now
                if engine == "sim":
                    raise ScenarioError(exc.field, f"{exc.message} ({_where(point)})", exc.source) from None

    return check_total(built(), "this sweep", allow_long, engine, checked_when_run=True)


JITTER_FREE = ("name", "simulation", "reliability")
"""Top-level sections whose fields do not move a step's jitter price (its stretches' draws: the ranks, their compute
and accumulation, the stragglers and the distribution); of ``communication`` only ``overlap`` moves it (a reduction
waited for at every micro-batch couples the ranks at each forward: :func:`dpsim.analytic.step.jitter_sync_passes`)."""


def _moves_jitter(path: str) -> bool:
    """Whether a field at ``path`` can move a step's jitter price (:data:`JITTER_FREE`)."""
    top = path.split(".")[0]
    return top not in JITTER_FREE and (top != "communication" or path in ("communication", "communication.overlap"))


def _check_jitter_cost(runner: _PointRunner, points: list[dict[str, Any]], other_s: float, allow_long: bool) -> float:
    """Refuse a closed-form sweep whose points' compute jitter costs too much in all
    (:func:`dpsim.sim.budget.check_jitter_total`), before any runs; returns its estimate: one price a distinct point
    (points differing only in fields that do not move it, :func:`_moves_jitter`, share their prices' caches), the
    highest :func:`dpsim.sim.budget.jitter_pricing_s` of :data:`SWEEP_TIMING_SAMPLE` of them spread over the rest
    (built, not run). ``other_s``: the groups' pricing (:func:`_check_cost`)."""
    from dpsim.sim.budget import check_jitter_total, jitter_pricing_s

    distinct: dict[tuple[Any, ...], dict[str, Any]] = {}
    for point in points:
        distinct.setdefault(tuple((k, repr(v)) for k, v in point.items() if _moves_jitter(k)), point)
    if not distinct:
        return 0.0
    prices = _sampled_prices(runner, list(distinct.values()), jitter_pricing_s)
    return check_jitter_total(max(prices, default=0.0), len(distinct), len(prices), other_s, allow_long)


SWEEP_CONFIRM_POINTS = 100_000
"""Sweeps of more points need ``dpsim sweep --yes``; with the closed forms they are timed on a sample before they run
(:func:`_check_points_time`). Smaller sweeps run as they did (their points are not timed)."""
SWEEP_TIMING_SAMPLE = 16
"""Points timed: spread evenly over the grid, first and last included (a point's cost grows with its model)."""
_clock: Callable[[], float] = time.process_time
"""CPU time, as the cost guard's limits are (``tests`` replace it)."""


def _sample(points: int) -> list[int]:
    """:data:`SWEEP_TIMING_SAMPLE` indices spread evenly over ``points``, the first and the last included."""
    last = points - 1
    return sorted({round(i * last / (SWEEP_TIMING_SAMPLE - 1)) for i in range(SWEEP_TIMING_SAMPLE)})


def _sampled_prices(
    runner: _PointRunner, points: list[dict[str, Any]], price: Callable[[Scenario], float]
) -> list[float]:
    """``price`` of :data:`SWEEP_TIMING_SAMPLE` of ``points`` spread over them (built, not run); a point that cannot
    be built is left out (it fails again, reported with the others, when the sweep runs it)."""
    prices = []
    for index in _sample(len(points)):
        try:
            prices.append(price(runner.scenario(points[index])))
        except ScenarioError:
            continue
    return prices


def _check_max_time(
    runner: _PointRunner, points: list[dict[str, Any]], todo: int, engine: str, cost_s: float, max_time_s: float
) -> None:
    """Refuse, before any point runs, a sweep priced past the user's ``max_time_s`` (``dpsim sweep --max-time``,
    :func:`dpsim.sim.budget.check_max_time`). The simulator's: ``cost_s``, every point's estimated run
    (:func:`_check_cost`). The closed forms': ``cost_s`` (pricing each distinct data-parallel group) plus the
    ``todo`` points left to run at the highest :func:`dpsim.sim.budget.sweep_point_s` of :data:`SWEEP_TIMING_SAMPLE`
    points spread over the grid (built, not run: the price is the same on every machine)."""
    from dpsim.sim.budget import check_max_time, sweep_point_s

    if engine == "sim":
        check_max_time(cost_s, len(points), max_time_s, "every point's simulation as the cost guard estimates it")
        return
    prices = _sampled_prices(runner, points, sweep_point_s)
    each = max(prices, default=0.0)
    how = f"{todo:,} points at {each * 1e3:.3g} ms, the highest of {len(prices)} sampled across the grid"
    check_max_time(cost_s + each * todo, len(points), max_time_s, how + (", and pricing its groups" if cost_s else ""))


def _check_points_time(runner: _PointRunner, points: list[dict[str, Any]], todo: int, allow_long: bool) -> None:
    """Refuse a closed-form sweep of more than :data:`SWEEP_CONFIRM_POINTS` points whose ``todo`` points left to run
    would take past the cost guard's limit (:func:`dpsim.sim.budget.check_points_time`), timed on
    :data:`SWEEP_TIMING_SAMPLE` of them (run, then discarded: nothing is written). A point that fails here is left
    out of the mean; it fails again, reported with the others, when the sweep runs it."""
    from dpsim.sim.budget import check_points_time

    if allow_long or len(points) <= SWEEP_CONFIRM_POINTS or todo == 0:
        return
    timed, spent = 0, 0.0
    for index in _sample(len(points)):
        start = _clock()
        try:
            runner(points[index])
        except ScenarioError:
            continue
        spent += _clock() - start
        timed += 1
    if timed:
        check_points_time(spent / timed, todo, timed, "this sweep", allow_long)


def sweep_fingerprint(
    base_data: Any, source: str, vary: Mapping[str, Sequence[Any]], engine: str, fidelity: str | None
) -> str:
    """What identifies a sweep for ``--resume``: the scenario data, the grid and the engine."""
    import hashlib
    import json

    from dpsim import __version__

    text = json.dumps(
        [__version__, base_data, source, [[k, list(v)] for k, v in vary.items()], engine, fidelity],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def sweep(
    scenario: ScenarioLike,
    vary: Mapping[str, Sequence[Any]],
    *,
    engine: str = "analytic",
    progress: bool = False,
    overrides: Iterable[Override] = (),
    fidelity: str | None = None,
    source: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    partial_file: str | Path | None = None,
    resume: bool = False,
    executor: Executor | None = None,
    allow_long: bool = False,
    max_time_s: float | None = None,
) -> pd.DataFrame:
    """Run every point of the grid ``vary`` (``{field.path: [values]}``); one row per point, in grid order.

    Columns: the varied paths (values as given), then :meth:`StepResult.flat`. ``progress``
    reports on stderr (a bar on a terminal, periodic lines otherwise).

    Where points run (:mod:`dpsim.execution`): here by default; ``workers=N`` on an embedded
    Dask LocalCluster; ``scheduler="tcp://HOST:8786"`` on a running Dask cluster (or pass an
    open ``executor``). The result is the same, bit for bit. ``partial_file``: finished points
    are appended there as they arrive (JSON lines; deleted when the sweep completes), and
    ``resume=True`` takes the points already in it instead of running them again. A point
    that fails does not stop the others; afterwards :class:`SweepError` names the first
    failed point's grid coordinates (``.frame`` holds the finished points). ``allow_long``: every
    point may run past the engines' cost limits (:func:`engine_function`), and the sweep past its own: the sum
    of its points' prices (:func:`_check_cost`) and, past :data:`SWEEP_CONFIRM_POINTS` points of the closed forms,
    their timed sample (:func:`_check_points_time`). ``max_time_s`` (``dpsim sweep --max-time``): refuse, before any
    point runs, a sweep priced past it from its scenarios alone (:func:`_check_max_time`); without it nothing changes.
    """
    import pandas as pd

    from dpsim import execution

    engine_function(engine, fidelity)  # an unknown engine fails before any work
    base = _Base(scenario, overrides, varied=vary)
    if source is not None:
        base.source = source
    points = grid_points(vary)
    runner = _PointRunner(base, engine, fidelity, allow_long)
    if resume and partial_file is None:
        raise ScenarioError("--resume", "needs the file of partial results (--out FILE)", "<command line>")
    if max_time_s is not None and (
        isinstance(max_time_s, bool) or not isinstance(max_time_s, int | float) or not 0 < max_time_s < math.inf
    ):  # a NaN would refuse nothing without a word, a negative limit everything
        raise ScenarioError("--max-time", f"expected seconds above zero, got {max_time_s!r}", "<command line>")
    cost_s = _check_cost(runner, points, engine, allow_long)
    journal = None
    done: dict[int, Any] = {}
    if partial_file is not None:
        journal = execution.Journal(partial_file, sweep_fingerprint(base.data, base.source, vary, engine, fidelity))
        done = journal.load(len(points)) if resume else {}
    if engine != "sim":  # (the simulator draws the jitter: its points' runs are priced above)
        cost_s += _check_jitter_cost(runner, [p for i, p in enumerate(points) if i not in done], cost_s, allow_long)
    if max_time_s is not None:  # priced, not timed: before the sample below runs any point
        _check_max_time(runner, points, len(points) - len(done), engine, cost_s, max_time_s)
    if engine != "sim":  # the simulator's points are priced one by one above
        _check_points_time(runner, points, len(points) - len(done), allow_long)
    if journal is not None:
        journal.start(done)
    todo = [i for i in range(len(points)) if i not in done]
    rows: dict[int, Any] = dict(done)
    reporter = execution.ProgressReporter(f"{engine} sweep", len(todo)) if progress else None

    def arrived(k: int, outcome: Any) -> None:
        if not isinstance(outcome, execution.TaskError):
            rows[todo[k]] = outcome
            if journal is not None:
                journal.append(todo[k], outcome)
        if reporter is not None:
            reporter.advance()

    try:
        with contextlib.ExitStack() as stack:
            if reporter is not None:
                stack.enter_context(reporter)
            if executor is None:
                executor = stack.enter_context(execution.open_executor(workers, scheduler))
            outcomes = executor.map(
                runner, [points[i] for i in todo], on_result=arrived, batch=1 if engine == "sim" else None
            )
    except BaseException:  # an error (a Dask that did not start) or a signal: the finished points stay, if any
        if journal is not None:
            journal.close(remove=not rows)
        raise
    if journal is not None:
        journal.close()
    frame = pd.DataFrame([rows[i] for i in sorted(rows)])
    failures = [(points[todo[k]], o) for k, o in enumerate(outcomes) if isinstance(o, execution.TaskError)]
    if failures:
        kept = f"; {len(rows)} finished points kept in {partial_file}" if journal is not None and rows else ""
        if journal is not None and not rows:  # nothing finished: no file of partial results is left behind
            journal.close(remove=True)
        more = f"; {len(failures) - 1} more points failed" if len(failures) > 1 else ""
        point, error = failures[0]
        raise SweepError(error.to_error(_where(point) + more + kept, base.source), frame, failures)
    if journal is not None:
        journal.close(remove=True)
    return frame
