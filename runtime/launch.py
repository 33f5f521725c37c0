"""Start one process per rank on a testbed, supervise them, and collect the measured result.

Supervision: the launcher polls the ranks. A rank that exits non-zero ends the run at
once (the others are killed) with :class:`RankFailure` naming it; a run that exceeds its
timeout ends the same way, naming the ranks still running and where each was (the phase
each rank last reported: the rank furthest behind — e.g. in compute while its peers wait in
communication — is named). A per-step watchdog does the same when no rank has reported a
new phase for ``step_timeout_s`` (a hung collective). Steps completed before the failure
stay in the run directory. Rank 0's store port is held by the launcher for the whole run
(:func:`reserve_port`), so no other process is handed it.

Ranks die with their launcher: each is started with the parent-death signal set to SIGKILL
(``prctl(PR_SET_PDEATHSIG)`` via ctypes, in the child before exec) and sets it again itself
once running (:func:`die_with_launcher`), since changing credentials (dropping root) clears
it. SIGINT, SIGTERM and SIGHUP become exceptions in the launcher (:class:`signals_as_exceptions`),
so its ``finally`` blocks kill the ranks and tear the testbed down.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType

from dpsim.errors import ScenarioError
from dpsim.inputs import brief
from dpsim.records import StepResult
from dpsim.scenario import Scenario, dump_scenario
from runtime.job import BACKEND_CHOOSES, JobOptions
from runtime.measure import aggregate, ran_fields, read_rank_timings
from runtime.precision import check_precision
from runtime.testbed import Testbed

__all__ = [
    "RankFailure",
    "die_with_launcher",
    "launch",
    "launcher_pid",
    "rank_phase",
    "reserve_port",
    "signals_as_exceptions",
    "spawn_ranks",
]

LAUNCHER_PID_ENV = "DPSIM_LAUNCHER_PID"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _set_parent_death_signal() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; a no-op elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def launcher_pid() -> int | None:
    """The launcher's process id a rank was started with (:data:`LAUNCHER_PID_ENV`; None: not set).

    A one-line error naming the variable when it is not a process id (``int()`` of it was a traceback in the rank).
    """
    text = os.environ.get(LAUNCHER_PID_ENV)
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and 1 <= int(text) < 2**31):
        raise ScenarioError(LAUNCHER_PID_ENV, f"expected the launcher's process id (a whole number >= 1), got "
                            f"{brief(text)}", "<environment>")  # fmt: skip
    return int(text)


def die_with_launcher() -> None:
    """In a rank the launcher started: die with it (re-arm the parent-death signal; exit if it is already gone)."""
    launcher = launcher_pid()
    if launcher is None or sys.platform != "linux":
        return
    _set_parent_death_signal()
    if os.getppid() != launcher:  # the launcher died before the signal was armed
        os._exit(1)


class RankFailure(RuntimeError):
    """A rank died or hung; the message names it. ``completed_steps`` were recorded on all ranks."""

    def __init__(self, message: str, rank: int | None, completed_steps: int) -> None:
        super().__init__(message)
        self.rank = rank
        self.completed_steps = completed_steps


@contextlib.contextmanager
def reserve_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A free TCP port on ``host``, held for the ``with`` block, for rank 0's store (``MASTER_PORT``).

    A port picked by binding port 0 and released can be taken by any other process before
    rank 0 listens on it — a concurrent run picking the same one joins the wrong job's store. The
    port is held instead: bound with ``SO_REUSEADDR`` and not listening, so the kernel hands it to
    no other ``bind(…, 0)`` and refuses a plain ``bind`` to it, while rank 0's store (which sets
    ``SO_REUSEADDR``, as Linux requires of both) can still listen on it.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 0))
        yield int(s.getsockname()[1])


class signals_as_exceptions:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`dpsim.cli_common.Stopped` (a ``SystemExit`` with status 128 + the
    signal), so ``finally`` blocks kill the ranks and tear the testbed down, and the command says in one line what
    stopped it. A plain ``SystemExit(143)`` ended ``dpsim validate`` on SIGTERM without a word, and Ctrl-C left
    ``python -m runtime`` a ``KeyboardInterrupt`` traceback. A signal the process was started ignoring (``nohup``'s
    SIGHUP) stays ignored, as :func:`dpsim.cli_common.install_signal_cleanup` leaves it."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __enter__(self) -> None:
        from dpsim.cli_common import Stopped

        self._old = {sig: signal.getsignal(sig) for sig in self.SIGNALS}

        def raise_exit(signum: int, frame: FrameType | None) -> None:
            raise Stopped(signum)

        for sig, old in self._old.items():
            if old is not signal.SIG_IGN:
                signal.signal(sig, raise_exit)

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _worker_command(run_dir: Path, options: JobOptions) -> list[str]:
    return [
        sys.executable, "-m", "runtime.train", "--worker", str(run_dir / "scenario.yaml"),
        "--run-dir", str(run_dir), "--algorithm", options.algorithm,
        "--warmup-steps", str(options.warmup_steps), "--steps", str(options.steps), "--seed", str(options.seed),
        "--fail-rank", str(options.fail_rank), "--fail-step", str(options.fail_step), "--fail-mode", options.fail_mode,
        "--device", options.device, *(["--fp8"] if options.fp8 else []),
        *(["--trace", str(Path(options.trace).resolve())] if options.trace else []),
    ]  # fmt: skip


def rank_phase(run_dir: Path, rank: int) -> str:
    """The phase ``rank`` last reported in ``run_dir`` (``rank<N>.phase``, written by the training job)."""
    try:
        text = (run_dir / f"rank{rank}.phase").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "starting"
    return text.rstrip() or "starting"


def _progress(phase: str) -> tuple[float, ...]:
    """Order of a reported phase: the rank furthest behind is the one its peers wait for."""
    match = re.match(r"step (\d+) (micro-batch (\d+) compute|compute|communication|optimizer)", phase)
    if phase == "done":
        return (math.inf,)
    if match is None:
        return (-1.0,)
    step, what, micro = int(match.group(1)), match.group(2), match.group(3)
    stage = 0 if "compute" in what else 1 if what == "communication" else 2
    return (step, stage, int(micro) if micro is not None else -1)


def _completed(run_dir: Path) -> int:
    timings = read_rank_timings(run_dir)
    return min((len(v) for v in timings.values()), default=0)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


def spawn_ranks(
    world: int,
    command: Sequence[str],
    testbed: Testbed,
    run_dir: Path,
    *,
    workers_per_node: int = 1,
    timeout_s: float = 300.0,
    step_timeout_s: float = 120.0,
    poll_s: float = 0.05,
) -> None:
    """Start ``world`` ranks of ``command`` on ``testbed`` and wait for all; :class:`RankFailure` otherwise.

    ``step_timeout_s``: the watchdog stops the run when no rank has reported a new phase for
    that long, naming the rank furthest behind and its phase.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    testbed.grant(run_dir)
    from runtime.train import SAVE_PARAMETERS_ENV

    if os.environ.get(SAVE_PARAMETERS_ENV):  # rank 0 writes the trained parameters there
        testbed.grant(Path(os.environ[SAVE_PARAMETERS_ENV]).parent)
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    port_held = contextlib.ExitStack()
    try:
        port = port_held.enter_context(reserve_port())  # held until the ranks are gone
        for rank in range(world):
            env = {
                **os.environ,
                "RANK": str(rank),
                "WORLD_SIZE": str(world),
                "LOCAL_RANK": str(rank % workers_per_node),
                "MASTER_ADDR": testbed.master_addr,
                "MASTER_PORT": str(port),
                "OMP_NUM_THREADS": "1",
                LAUNCHER_PID_ENV: str(os.getpid()),
                **testbed.env(rank),
            }
            log = (run_dir / f"rank{rank}.log").open("wb")
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [*testbed.prefix(rank), *command],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_set_parent_death_signal,
                )
            )
        deadline = time.monotonic() + timeout_s
        seen: dict[int, str] = {}
        progress_at = time.monotonic()
        while True:
            codes = [p.poll() for p in procs]
            failed = [(r, c) for r, c in enumerate(codes) if c is not None and c != 0]
            if failed:
                # the first rank seen failing (killed by a signal preferred) is the cause; others follow it
                rank, code = min(failed, key=lambda rc: rc[0] if rc[1] < 0 else world + rc[0])
                tail = _log_tail(run_dir / f"rank{rank}.log")
                done = _completed(run_dir)
                raise RankFailure(
                    f"rank {rank} {_describe_exit(code)} during {rank_phase(run_dir, rank)}; "
                    f"{done} step(s) completed on all ranks, records kept in {run_dir}" + (f"; {tail}" if tail else ""),
                    rank,
                    done,
                )
            if all(c == 0 for c in codes):
                return
            now = time.monotonic()
            running = [r for r, c in enumerate(codes) if c is None]
            phases = {r: rank_phase(run_dir, r) for r in running}
            if any(seen.get(r) != phases[r] for r in running):
                seen.update(phases)
                progress_at = now
            started = all(phases[r] != "starting" for r in running)  # start-up is the overall timeout's
            watchdog = started and now - progress_at > step_timeout_s
            if now > deadline or watchdog:
                least = min(_progress(phases[r]) for r in running)
                stuck = [r for r in running if _progress(phases[r]) == least]
                done = _completed(run_dir)
                where = "; ".join(f"rank {r}: {phases[r]}" for r in running)
                why = (f"watchdog: no progress for {step_timeout_s:g} s" if watchdog and now <= deadline
                       else f"timeout after {timeout_s:g} s")  # fmt: skip
                hung = (f"hung in {phases[stuck[0]]}" if phases[stuck[0]] != "done"  # "done": steps over, exit due
                        else "had finished its steps but not exited (tearing down)")  # fmt: skip
                raise RankFailure(
                    f"{why}: rank {', '.join(map(str, stuck))} {hung} ({where}); "
                    f"{done} step(s) completed on all ranks, records kept in {run_dir}",
                    stuck[0],
                    done,
                )
            time.sleep(poll_s)
    finally:
        _stop(procs)
        port_held.close()
        for log in logs:
            log.close()


def launch(
    scenario: Scenario,
    options: JobOptions,
    testbed: Testbed,
    run_dir: Path,
    *,
    timeout_s: float = 300.0,
    extra_meta: dict[str, object] | None = None,
    step_timeout_s: float = 120.0,
) -> StepResult:
    """Run ``scenario`` with ``scenario.world_size`` ranks on ``testbed``; return the measured record."""
    from runtime.job import check_supported

    check_supported(scenario)
    run_dir.mkdir(parents=True, exist_ok=True)
    for old in run_dir.glob("rank*"):
        old.unlink()
    (run_dir / "scenario.yaml").write_text(dump_scenario(scenario), encoding="utf-8")
    from runtime.hostload import host_load, snapshot

    before = snapshot()
    spawn_ranks(
        scenario.world_size,
        _worker_command(run_dir, options),
        testbed,
        run_dir,
        workers_per_node=scenario.cluster.workers_per_node,
        timeout_s=timeout_s,
        step_timeout_s=step_timeout_s,
    )
    load = host_load(before, snapshot())  # what else used the host meanwhile (the ranks are reaped by now)
    import torch

    algorithm: str = scenario.communication.algorithm
    if options.algorithm == "backend" or scenario.training.zero_stage >= 2 or algorithm in BACKEND_CHOOSES:
        algorithm = "backend"
    ran = check_precision(scenario, options.device, fp8=options.fp8)
    meta: dict[str, object] = {
        "backend": "gloo",
        "torch_version": str(torch.__version__),
        "algorithm": algorithm,
        "testbed": testbed.name,
        "link_rate_bytes_per_s": testbed.link_rate,
        "measured_latency_s": testbed.measured_latency_s,
        "scenario_hash": scenario.scenario_hash(),
        "precision": ran.label,
        **ran_fields(scenario, ran.autocast, algorithm),  # extra.autocast, .ddp_at_one_rank, .comm_hook
        "host_load": load,
        **(extra_meta or {}),
    }
    return aggregate(scenario, read_rank_timings(run_dir), warmup_steps=options.warmup_steps, meta=meta)


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    interesting = [line for line in text if line.strip() and not line.startswith(" ")]
    return " | ".join(interesting[-lines:])
