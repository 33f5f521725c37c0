"""Where independent pieces of work run: in this process, or on Dask (an embedded LocalCluster or any cluster).

Sweeps (one task per grid point), the planner's re-check stage (one task per configuration)
and the simulator's replications (one task per replication) all go through
:meth:`Executor.map`: a list of items in, a list of outcomes out **in item order**, each
either the function's value or a :class:`TaskError` naming what failed. Every task is a
pure function of its item (scenario data, seed, replication index), so where it runs does
not change its result: serial and Dask runs are identical bit for bit.

- :func:`open_executor` with neither ``workers`` nor ``scheduler`` runs items one after
  another here (no Dask needed); ``workers=N`` starts a ``dask.distributed.LocalCluster``
  of N single-threaded worker processes (the simulator is pure Python: threads would share
  one GIL); ``scheduler="tcp://HOST:8786"`` connects to a running Dask scheduler
  (``dask scheduler`` + ``dask worker``, each with dpsim installed). The cluster starts on
  the first :meth:`Executor.map` and stops when the ``with`` block ends.
- A task that raises does not stop the others: its exception becomes a :class:`TaskError`
  in its place (converted in the worker, so nothing unpicklable crosses the wire), and
  ``on_result`` sees every outcome as it arrives — callers journal finished work with it.
- Cheap items are sent in batches (``batch``) so Dask's ~1 ms per task does not dominate.

Dask is an optional dependency (``pip install 'dpsim[cluster]'``); without it, asking for
workers is a one-line error and everything else works.
See https://distributed.dask.org/en/stable/ (``LocalCluster``, ``Client.submit``, ``as_completed``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from dpsim.errors import ScenarioError, interrupt_within
from dpsim.inputs import safe_text
from dpsim.outputs import replaced

__all__ = [
    "INSTALL_HINT",
    "Executor",
    "Journal",
    "ProgressReporter",
    "TaskError",
    "check_options",
    "open_executor",
    "raise_first_failure",
]

R = TypeVar("R")

INSTALL_HINT = "pip install 'dpsim[cluster]'"
"""What to install for ``--workers``/``--scheduler`` (Dask's distributed scheduler)."""

SOURCE = "<command line>"
CONNECT_TIMEOUT_S = 20.0
"""How long to wait for an external scheduler (and its first worker) to answer."""


@dataclass(frozen=True)
class TaskError:
    """A task that raised: the exception's type, message and (for a ScenarioError) its field and source."""

    kind: str
    message: str
    field: str = ""
    source: str = ""

    @classmethod
    def of(cls, exc: BaseException) -> TaskError:
        if isinstance(exc, ScenarioError):
            return cls("ScenarioError", exc.message, exc.field, exc.source)
        return cls(type(exc).__name__, str(exc) or repr(exc))

    def to_error(self, where: str, source: str) -> ScenarioError:
        """A one-line :class:`ScenarioError` saying what failed and ``where`` (e.g. the grid point)."""
        if self.kind == "ScenarioError":
            return ScenarioError(self.field, f"{self.message} ({where})", self.source or source)
        return ScenarioError("", f"{self.kind}: {self.message} ({where})", source)


def _run_batch(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """Run ``fn`` on each item (on a worker); an exception becomes a :class:`TaskError` in its place."""
    out: list[Any] = []
    for item in items:
        try:
            out.append(fn(item))
        except Exception as exc:  # reported to the client with the item's coordinates, never lost
            stop = interrupt_within(exc)
            if stop is not None:  # a signal (or Ctrl-C) that a library wrapped: it ends the run, not the item
                raise stop from None
            out.append(TaskError.of(exc))
    return out


class ProgressReporter:
    """Progress on stderr: a rich bar on a terminal, else one line every ``interval_s`` (for logs and CI).

    Short runs print nothing without a terminal: the first line comes after ``interval_s``.
    """

    def __init__(self, label: str, total: int, unit: str = "points", stream: TextIO | None = None,
                 interval_s: float = 10.0) -> None:  # fmt: skip
        self.label, self.total, self.unit, self.interval_s = label, total, unit, interval_s
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.start = time.monotonic()
        self._last_line = self.start
        self._lines = 0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressReporter:
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def advance(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
            return
        now = time.monotonic()
        if now - self._last_line >= self.interval_s:
            self._last_line = now
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = now - self.start
        share = self.done / self.total if self.total else 1.0
        left = f", ~{elapsed / share - elapsed:.0f} s left" if 0 < share < 1 else ""
        self.stream.write(
            f"{self.label}: {self.done}/{self.total} {self.unit} ({100 * share:.0f} %), {elapsed:.0f} s{left}\n"
        )
        self.stream.flush()
        self._lines += 1

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
        elif self._lines:  # a run long enough to have reported: say when it ended
            self._line(time.monotonic())


class Executor:
    """Runs ``fn(item)`` for every item, here or on a Dask cluster; outcomes come back in item order."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None, processes: bool = True) -> None:
        self.workers = workers
        self.scheduler = scheduler
        self.processes = processes
        self._client: Any = None
        self._cluster: Any = None

    @property
    def distributed(self) -> bool:
        """True when work goes to Dask (``workers`` or ``scheduler`` given)."""
        return self.workers is not None or self.scheduler is not None

    def map(
        self,
        fn: Callable[[Any], R],
        items: Sequence[Any],
        *,
        on_result: Callable[[int, R | TaskError], None] | None = None,
        batch: int | None = 1,
    ) -> list[R | TaskError]:
        """``[fn(item) or TaskError for item in items]``, in item order.

        ``on_result(index, outcome)`` is called in this process as each outcome arrives (in
        completion order on Dask). ``batch``: items per Dask task (``None``: about eight
        tasks per worker, for cheap items).
        """
        if not self.distributed or not items:
            results: list[R | TaskError] = []
            for index, item in enumerate(items):
                (outcome,) = _run_batch(fn, [item])
                results.append(outcome)
                if on_result is not None:
                    on_result(index, outcome)
            return results
        return self._map_dask(fn, items, on_result, batch)

    def _map_dask(
        self,
        fn: Callable[[Any], R],
        items: Sequence[Any],
        on_result: Callable[[int, R | TaskError], None] | None,
        batch: int | None,
    ) -> list[R | TaskError]:
        client = self._connect()
        from distributed import as_completed

        if batch is None:
            slots = max(1, sum(client.nthreads().values()))
            batch = max(1, min(1000, math.ceil(len(items) / (8 * slots))))
        starts = range(0, len(items), batch)
        futures = {client.submit(_run_batch, fn, list(items[s : s + batch]), pure=False): s for s in starts}
        results: list[Any] = [None] * len(items)
        try:
            for future, value in as_completed(futures, loop=client.loop, with_results=True, raise_errors=False):
                s = futures[future]
                count = min(batch, len(items) - s)
                # a lost worker or an unpicklable result arrives as the exception itself
                outcomes = value if isinstance(value, list) else [TaskError.of(value)] * count
                for offset, outcome in enumerate(outcomes):
                    results[s + offset] = outcome
                    if on_result is not None:
                        on_result(s + offset, outcome)
        finally:
            client.cancel(list(futures))
        return results

    def _connect(self) -> Any:
        if self._client is not None:
            return self._client
        option = _dask_option(self.workers)
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise _needs_distributed(option) from None
        except Exception as exc:  # Dask reads its settings when imported: a malformed YAML file of them
            raise dask_failure(option, exc) from None
        if self.scheduler is not None:
            try:
                self._client = Client(self.scheduler, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ScenarioError(
                    "--scheduler", f"cannot reach a Dask scheduler at {self.scheduler!r}: {exc}", SOURCE
                ) from None
            except Exception as exc:
                raise dask_failure(option, exc) from None
            if not self._client.nthreads():
                try:
                    self._client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
                except TimeoutError:
                    self.close()
                    raise ScenarioError(
                        "--scheduler", f"the Dask scheduler at {self.scheduler!r} has no workers", SOURCE
                    ) from None
            return self._client
        try:
            with _workers_ignore_sigint(), _quiet_start():
                self._cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=self.processes,
                    **({"host": "127.0.0.1"} if self.processes else {}),  # threads talk in-process
                    dashboard_address=None,
                    # the scheduler's HTTP server (health, metrics) still listened on 8787 and, with that port taken
                    # (a second sweep, another Dask), warned on stderr: a free port of this host, as the workers have
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                    # a worker that cannot start (settings of DASK_* variables) logged its traceback at ERROR,
                    # in its own process; what failed is said in one line (dask_failure), as a task's failure is
                    silence_logs=logging.CRITICAL,
                )
                self._client = Client(self._cluster, set_as_default=False)
        except Exception as exc:  # settings Dask cannot start with (DASK_* variables): tracebacks from each worker
            self.close(quiet=True)
            raise dask_failure(option, exc) from None
        return self._client

    def close(self, quiet: bool = False) -> None:
        """Disconnect, and stop the embedded cluster if this executor started one.

        ``quiet``: the command is ending on an error or a signal; Dask's scheduler logs the tasks it loses on the
        way down (``CancelledError``, ``CommClosedError`` tracebacks at ERROR level), which would bury the one line
        that says why, so its loggers are silenced while it stops.
        """
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        loggers = [logging.getLogger(name) for name in ("distributed", "tornado", "asyncio")] if quiet else []
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.CRITICAL + 1)
        try:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


DASK_CONFIG_VARIABLES = ("DASK_CONFIG", "DASK_ROOT_CONFIG")
"""Where Dask reads its YAML settings when imported (``dask.config``: every ``.yaml``/``.yml``/``.json`` file of
the folder, or the file named)."""


def dask_settings() -> list[str]:
    """The ``DASK_*`` variables of the environment: Dask takes its settings from them when it is imported."""
    return sorted(name for name in os.environ if name.startswith("DASK_"))


def check_dask_config() -> None:
    """The files :data:`DASK_CONFIG_VARIABLES` name are regular files Dask can read whole: ``DASK_CONFIG=/dev/zero``
    (or a FIFO among its YAML files) was read until memory ran out, or waited for a writer, before any work."""
    for variable in DASK_CONFIG_VARIABLES:
        text = os.environ.get(variable)
        if not text:
            continue
        path = Path(text).expanduser()
        try:
            files = sorted(path.iterdir()) if path.is_dir() else [path]
        except OSError:
            continue  # Dask skips what it cannot list
        for file in files:
            if file is not path and file.suffix not in (".yaml", ".yml", ".json"):
                continue
            try:
                mode = file.stat().st_mode
            except OSError:
                continue  # Dask skips a missing path
            if not (stat.S_ISREG(mode) or (file is path and stat.S_ISDIR(mode))):
                raise ScenarioError(
                    variable,
                    f"{str(file)!r} is not a regular file (a device, pipe or socket): expected a folder of Dask's "
                    "YAML settings, or one such file",
                    "<environment>",
                )


def _dask_option(workers: int | None) -> str:
    """The option that asked for Dask, which its errors name: ``--workers`` (a local cluster), else ``--scheduler``."""
    return "--workers" if workers is not None else "--scheduler"


def _needs_distributed(option: str) -> ScenarioError:
    """The error for Dask asked for (``option``) where its distributed scheduler is not installed."""
    return ScenarioError(option, f"running on Dask needs its distributed scheduler: {INSTALL_HINT}", SOURCE)


def dask_failure(option: str, exc: BaseException) -> ScenarioError:
    """One line for a Dask that did not start: named by the ``DASK_*`` variables set, which are the likely cause,
    else by ``option``. The first line of the innermost exception says why."""
    root = exc
    for _ in range(100):  # a chain can be a cycle
        inner = root.__cause__ or (None if root.__suppress_context__ else root.__context__)
        if inner is None:
            break
        root = inner
    lines = str(root).strip().splitlines()
    reason = safe_text(f"{type(root).__name__}: {lines[0] if lines else ''}".rstrip(": "))[:200]
    names = dask_settings()
    if names:
        if len(names) == 1:
            return ScenarioError(names[0], f"Dask did not start with this setting: {reason}", "<environment>")
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return ScenarioError("DASK_*", f"Dask did not start with the settings {shown}: {reason}", "<environment>")
    return ScenarioError(option, f"Dask did not start: {reason} (its settings: ~/.config/dask, /etc/dask)", SOURCE)


@contextmanager
def _quiet_start() -> Iterator[None]:
    """Dask's own loggers silenced while the cluster starts: a worker that cannot start logs its traceback at ERROR
    level before the start fails, which :func:`dask_failure` then says in one line."""
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado", "asyncio")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Start worker processes with SIGINT ignored: they inherit it (POSIX keeps an ignored signal across exec, and
    Python then installs no KeyboardInterrupt handler), so only this process, which owns the work, handles Ctrl-C
    and stops them. Ctrl-C reaches the terminal's whole process group: each worker printed its own KeyboardInterrupt
    traceback. (A blocked signal mask did not reach the workers.) A Ctrl-C in the second or two the cluster takes
    to start is ignored."""
    import signal

    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals are not this thread's to set
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


WORKERS_PER_CPU = 4
"""``--workers`` may start at most this many local processes per CPU core (each imports dpsim: ~150 MB)."""
_ADDRESS = re.compile(r"(?:(?:tcp|tls|inproc|ucx|ws|wss)://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}/?")
"""A Dask scheduler address: optional protocol, host (or [IPv6]) and port."""


def max_local_workers() -> int:
    """Most ``--workers`` this machine accepts: :data:`WORKERS_PER_CPU` per core."""
    return WORKERS_PER_CPU * (os.cpu_count() or 1)


def check_options(workers: int | None, scheduler: str | None) -> None:
    """One-line errors for impossible ``--workers``/``--scheduler`` combinations (before any work)."""
    if workers is not None and scheduler is not None:
        raise ScenarioError(
            "--workers", "give --workers N (a local Dask cluster) or --scheduler ADDRESS, not both", SOURCE
        )
    if workers is not None and workers < 1:
        raise ScenarioError("--workers", f"must be >= 1, got {workers}", SOURCE)
    if workers is not None and workers > max_local_workers():
        raise ScenarioError(
            "--workers",
            f"at most {max_local_workers()} local worker processes ({WORKERS_PER_CPU} per CPU core here), got "
            f"{workers:,}; for more, start a Dask cluster and pass --scheduler ADDRESS",
            SOURCE,
        )
    if scheduler is not None and _ADDRESS.fullmatch(scheduler.strip()) is None:
        shown = scheduler.strip()[:60]
        raise ScenarioError("--scheduler", f"expected an address like tcp://HOST:8786, got {shown!r}", SOURCE)
    if workers is not None or scheduler is not None:
        import importlib.util

        if importlib.util.find_spec("distributed") is None:
            raise _needs_distributed(_dask_option(workers))
        check_dask_config()


def raise_first_failure(outcomes: Sequence[Any], where: Callable[[int], str], source: str) -> None:
    """Raise the first :class:`TaskError` in ``outcomes`` as a one-line error naming ``where(index)``."""
    failed = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, TaskError)]
    if failed:
        first = outcomes[failed[0]]
        more = f"; {len(failed) - 1} more failed" if len(failed) > 1 else ""
        raise first.to_error(where(failed[0]) + more, source)


JOURNAL_MAX_BYTES = 1 << 30
"""Largest file of partial results ``--resume`` reads (1 GiB; a 100,000-point sweep writes about 100 MB)."""


class Journal:
    """Finished results of a long map, one JSON line each, appended and flushed as they arrive.

    The first line identifies the work (``fingerprint``); a run killed midway leaves every
    finished item on disk, and :meth:`load` gives them back to a resumed run only if the
    fingerprint matches. Floats survive the JSON round trip exactly (``repr`` is shortest
    round-trip), so a resumed result equals an uninterrupted one bit for bit.
    """

    def __init__(self, path: str | Path, fingerprint: str) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self._file: TextIO | None = None
        self._whole = self._items = 0
        """The journal's length after its last whole line, and the items it holds."""

    def load(self, count: int | None = None) -> dict[int, Any]:
        """``{index: record}`` of finished items (empty when there is no journal); error if it is another run's.

        A line that is not a ``{"index": i, "record": {...}}`` object with ``0 <= i < count`` (torn by a
        kill, or damaged) is skipped: its item runs again.
        """
        if not self.path.exists() and not self.path.is_symlink():
            return {}
        from dpsim.inputs import read_text

        lines = read_text(self.path, limit=JOURNAL_MAX_BYTES).split("\n")
        try:
            header = json.loads(lines[0])
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("fingerprint") != self.fingerprint:
            raise ScenarioError(
                "--resume",
                f"{str(self.path)!r} holds the results of a different run (scenario, grid or engine differ);"
                " remove it or run without --resume",
                SOURCE,
            )
        done: dict[int, Any] = {}
        for line in lines[1:]:
            try:
                entry = json.loads(line)
            except ValueError:  # the last line of a run killed while writing it
                continue
            index = entry.get("index") if isinstance(entry, dict) else None
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                continue
            if (count is None or index < count) and isinstance(entry.get("record"), dict):
                done[index] = entry["record"]
        return done

    def start(self, done: dict[int, Any]) -> None:
        """Rewrite the journal with the header and ``done`` (dropping a torn last line), then append."""
        try:
            with replaced(self.path, "--out") as tmp, tmp.open("w", encoding="utf-8") as fh:
                fh.write(json.dumps({"fingerprint": self.fingerprint}) + "\n")
                for index in sorted(done):
                    fh.write(json.dumps({"index": index, "record": done[index]}, allow_nan=True) + "\n")
            self._file = self.path.open("a", encoding="utf-8")
            self._whole, self._items = self._file.tell(), len(done)
        except OSError as exc:
            raise self._failed(exc) from None

    def append(self, index: int, record: Any) -> None:
        """Append one finished item; a write that fails (a full disk) cuts the file back to its whole lines."""
        assert self._file is not None, "call start() first"
        try:
            self._file.write(json.dumps({"index": index, "record": record}, allow_nan=True) + "\n")
            self._file.flush()
            self._whole, self._items = self._file.tell(), self._items + 1
        except OSError as exc:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):
                file.close()  # what is still buffered fails again: dropped
            with contextlib.suppress(OSError):
                if self._items:
                    os.truncate(self.path, self._whole)  # no torn last line (load would skip it; a reader need not)
                else:
                    self.path.unlink()  # nothing finished: no file of partial results is left behind
            raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> ScenarioError:
        points = f"{self._items:,} finished point{'s' if self._items != 1 else ''}"
        kept = f"; the {points} before it are kept there (--resume)" if self._items else ""
        return ScenarioError(
            "--out", f"cannot write the partial results {str(self.path)!r}: {exc.strerror or exc}{kept}", SOURCE
        )

    def close(self, remove: bool = False) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:
                raise self._failed(exc) from None
        if remove and self.path.exists():
            self.path.unlink()


@contextmanager
def open_executor(
    workers: int | None = None, scheduler: str | None = None, *, processes: bool = True
) -> Iterator[Executor]:
    """An :class:`Executor` for the ``with`` block: serial, a LocalCluster of ``workers``, or ``scheduler``.

    ``processes=False`` runs the local workers as threads of this process (for tests).
    """
    check_options(workers, scheduler)
    executor = Executor(workers, scheduler, processes)
    try:
        yield executor
    except BaseException:  # an error or a signal (KeyboardInterrupt, SystemExit from SIGTERM) ends the command
        executor.close(quiet=True)
        raise
    executor.close()
