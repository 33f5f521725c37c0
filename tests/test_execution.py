"""Dask as the execution engine (dpsim/execution.py): same results as serial, failures with coordinates, resume.

The in-process tests use a LocalCluster of 2 worker *threads* (fast to start); the CLI tests
with real worker processes and the external ``dask scheduler`` + ``dask worker`` test are
marked ``multiprocess`` and ``slow``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import dpsim
from dpsim import api, cli, execution
from dpsim.errors import ScenarioError
from dpsim.execution import Executor, ProgressReporter, TaskError

pytest.importorskip("distributed", reason="dask[distributed] (the cluster extra) is not installed")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "default.yaml"
SMALL = [  # a small cluster the chunk level simulates in well under a second a point
    "cluster.workers_per_node=2",
    "training.global_batch=64",
    "simulation.fidelity=chunk",
]
ENGINE_FUNCTION = api.engine_function
GRID = {"cluster.nodes": [1, 2, 4], "communication.algorithm": ["ring", "tree"]}


@pytest.fixture(scope="module")
def threads() -> Iterator[Executor]:
    """A LocalCluster of 2 single-threaded workers inside this process (shared by the tests here)."""
    with execution.open_executor(2, processes=False) as executor:
        yield executor


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ZeroDivisionError("three")
    return x * x


def test_map_keeps_item_order_and_turns_exceptions_into_task_errors(threads: Executor) -> None:
    for executor in (Executor(), threads):
        seen: list[int] = []

        def arrived(index: int, _outcome: object, seen: list[int] = seen) -> None:
            seen.append(index)

        out = executor.map(_fail_on_three, list(range(6)), on_result=arrived, batch=None)
        assert out[:3] == [0, 1, 4] and out[4:] == [16, 25]
        assert out[3] == TaskError("ZeroDivisionError", "three")
        assert sorted(seen) == list(range(6))


def test_sweep_on_dask_equals_serial_bit_for_bit(threads: Executor, tmp_path: Path) -> None:
    for engine, grid in (
        ("sim", GRID),
        ("analytic", {"cluster.nodes": [1, 2, 4, 8], "training.zero_stage": [0, 1, 2, 3]}),
    ):
        serial = dpsim.sweep(DEFAULT, grid, engine=engine, overrides=SMALL)
        distributed = dpsim.sweep(DEFAULT, grid, engine=engine, overrides=SMALL, executor=threads)
        pd.testing.assert_frame_equal(serial, distributed, check_exact=True)
        assert serial.to_csv(index=False) == distributed.to_csv(index=False)
        assert list(serial["cluster.nodes"]) == [p["cluster.nodes"] for p in api.grid_points(grid)]  # grid order


def test_replications_on_dask_equal_serial(threads: Executor) -> None:
    overrides = [*SMALL, "cluster.nodes=2", "variability.compute_jitter_cv=0.1", "variability.replications=4"]
    serial = dpsim.run(DEFAULT, engine="sim", overrides=overrides)
    distributed = dpsim.run(DEFAULT, engine="sim", overrides=overrides, executor=threads)
    assert serial == distributed
    times = serial.extra["replication_step_times_s"]
    assert len(set(times)) == 4  # four different seeded replications, each a pure function of its index


def test_plan_recheck_on_dask_equals_serial(threads: Executor) -> None:
    from dpsim import plan as planner

    request = planner.PlanRequest(
        model="gpt2-small", tokens=1e9, devices=("a100-80gb",), max_devices=16, tensor_parallel=(1, 2),
        pipeline_parallel=(1, 2), top=4, simulate=2,
    )  # fmt: skip
    serial = planner.plan(request)
    distributed = planner.plan(request, executor=threads)
    pd.testing.assert_frame_equal(serial.ranked, distributed.ranked, check_exact=True)
    assert serial.ranked["sim_step_time_s"].notna().sum() == 2


@pytest.mark.parametrize("where", ["serial", "dask"])
def test_failing_point_is_reported_with_its_grid_coordinates(threads: Executor, tmp_path: Path, where: str) -> None:
    # 513 nodes x 8 = 4104 ranks (8208 = lcm(16, 4104) samples): the simulator refuses the direct
    # algorithm there (at run time, in the worker; without allow_long the cost guard would refuse pricing it)
    grid = {"cluster.nodes": [1, 513, 2], "communication.algorithm": ["direct"]}
    direct = ["cluster.nodes=1", "simulation.fidelity=fast", "training.micro_batch=1", "training.global_batch=8208"]
    partial = tmp_path / "sweep.partial.jsonl"
    with pytest.raises(api.SweepError) as info:
        dpsim.sweep(DEFAULT, grid, engine="sim", overrides=direct, partial_file=partial,
                    executor=threads if where == "dask" else None, allow_long=True)  # fmt: skip
    error = info.value
    assert error.field == "communication.algorithm"
    assert "at grid point cluster.nodes=513, communication.algorithm=direct" in error.one_line()
    assert "2 finished points kept" in error.one_line()
    assert list(error.frame["cluster.nodes"]) == [1, 2]  # the others finished, in grid order
    assert [p for p, _ in error.failures] == [{"cluster.nodes": 513, "communication.algorithm": "direct"}]
    assert len(partial.read_text().splitlines()) == 3  # header + the 2 finished points


def test_unexpected_exception_names_its_type_and_point(threads: Executor, monkeypatch: pytest.MonkeyPatch) -> None:
    real = api.engine_function

    def engine(name: str, fidelity: str | None = None, allow_long: bool = False) -> Any:
        fn = real(name, fidelity, allow_long)

        def run(scenario: dpsim.Scenario) -> dpsim.StepResult:
            if scenario.cluster.nodes == 4:
                raise RuntimeError("boom")
            return fn(scenario)

        return run

    monkeypatch.setattr(api, "engine_function", engine)
    with pytest.raises(api.SweepError, match=r"RuntimeError: boom \(at grid point cluster.nodes=4\)"):
        dpsim.sweep(DEFAULT, {"cluster.nodes": [2, 4, 8]}, executor=threads)


def _interrupting_engine(monkeypatch: pytest.MonkeyPatch, after: int, ran: list[int]) -> None:
    """Count the points the engine runs; raise KeyboardInterrupt (a kill) once ``after`` have finished."""
    real = ENGINE_FUNCTION

    def engine(name: str, fidelity: str | None = None, allow_long: bool = False) -> Any:
        fn = real(name, fidelity, allow_long)

        def run(scenario: dpsim.Scenario) -> dpsim.StepResult:
            if len(ran) == after:
                raise KeyboardInterrupt
            ran.append(scenario.cluster.nodes)
            return fn(scenario)

        return run

    monkeypatch.setattr(api, "engine_function", engine)


def test_resume_after_a_killed_sweep_runs_only_the_missing_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = {"cluster.nodes": [1, 2, 4, 8], "communication.algorithm": ["ring", "hierarchical"]}
    fresh = dpsim.sweep(DEFAULT, grid, engine="sim", overrides=SMALL)
    partial = tmp_path / "out.csv.partial.jsonl"
    ran: list[int] = []
    _interrupting_engine(monkeypatch, 3, ran)
    with pytest.raises(KeyboardInterrupt):
        dpsim.sweep(DEFAULT, grid, engine="sim", overrides=SMALL, partial_file=partial)
    assert len(partial.read_text().splitlines()) == 1 + 3  # the finished points are on disk
    with partial.open("a") as fh:
        fh.write('{"index": 5, "rec')  # torn last line of a process killed mid-write
    ran.clear()
    _interrupting_engine(monkeypatch, 99, ran)
    resumed = dpsim.sweep(DEFAULT, grid, engine="sim", overrides=SMALL, partial_file=partial, resume=True)
    assert len(ran) == 8 - 3  # only the missing points ran
    pd.testing.assert_frame_equal(fresh, resumed, check_exact=True)
    assert fresh.to_csv(index=False) == resumed.to_csv(index=False)
    assert not partial.exists()  # removed once the sweep completed


def test_resume_refuses_another_sweeps_partial_file(tmp_path: Path) -> None:
    partial = tmp_path / "p.jsonl"
    partial.write_text(json.dumps({"fingerprint": "something else"}) + "\n")
    with pytest.raises(ScenarioError, match=r"--resume: .* different run"):
        dpsim.sweep(DEFAULT, {"cluster.nodes": [1, 2]}, partial_file=partial, resume=True)


def test_fingerprint_changes_with_scenario_grid_and_engine() -> None:
    base = {"a": 1}
    one = api.sweep_fingerprint(base, "x.yaml", {"n": [1, 2]}, "sim", None)
    assert one == api.sweep_fingerprint({"a": 1}, "x.yaml", {"n": [1, 2]}, "sim", None)
    assert len({one, api.sweep_fingerprint({"a": 2}, "x.yaml", {"n": [1, 2]}, "sim", None),
                api.sweep_fingerprint(base, "x.yaml", {"n": [1, 3]}, "sim", None),
                api.sweep_fingerprint(base, "x.yaml", {"n": [1, 2]}, "analytic", None)}) == 4  # fmt: skip


def test_progress_without_a_terminal_prints_periodic_lines() -> None:
    stream = io.StringIO()
    with ProgressReporter("sim sweep", 4, stream=stream, interval_s=0.0) as bar:
        for _ in range(4):
            bar.advance()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("sim sweep: 1/4 points (25 %)")
    assert lines[-1].startswith("sim sweep: 4/4 points (100 %)")
    quiet = io.StringIO()
    with ProgressReporter("sim sweep", 4, stream=quiet, interval_s=60.0) as bar:
        bar.advance(4)
    assert quiet.getvalue() == ""  # a short run says nothing


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers: must be >= 1, got 0"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
        (["--resume"], "--resume: needs --out FILE"),
    ],
)
def test_cli_rejects_bad_execution_options(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, _, err = _cli(["sweep", str(DEFAULT), "--vary", "cluster.nodes=1,2", *args], capsys)
    assert code == 2 and err.count("\n") == 1 and message in err


def test_cli_reports_a_failed_point_on_one_line_and_keeps_the_others(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "sweep.csv"
    args = ["sweep", str(DEFAULT), "--engine", "sim", "--vary", "cluster.nodes=1,513,2", "--out", str(out),
            "--set", "communication.algorithm=direct", "--set", "cluster.nodes=1", "--set", "simulation.fidelity=fast",
            "--set", "training.micro_batch=1", "--set", "training.global_batch=8208", "--allow-long"]  # fmt: skip
    code, stdout, err = _cli(args, capsys)
    assert code == 2 and stdout == "" and err.count("\n") == 1
    assert err.startswith("error: ") and "(at grid point cluster.nodes=513; 2 finished points kept in" in err
    assert not out.exists()  # no table that silently lacks a row
    partial = tmp_path / "sweep.csv.partial.jsonl"
    assert sorted(json.loads(line)["index"] for line in partial.read_text().splitlines()[1:]) == [0, 2]
    code, _, err = _cli(args, capsys)  # without --resume an earlier run's partial file is replaced, said in the line
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert err.endswith(
        "; sweep.csv.partial.jsonl from an earlier run was replaced (--resume keeps its finished points)\n"
    )


def test_cli_without_dask_says_what_to_install(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask[distributed] were not installed
    for command in (["sweep", str(DEFAULT), "--vary", "cluster.nodes=1,2"], ["run", "--engine", "sim"]):
        code, _, err = _cli([*command, "--workers", "2"], capsys)
        assert code == 2
        hint = "running on Dask needs its distributed scheduler: pip install 'dpsim[cluster]'"
        assert err == f"error: <command line>: --workers: {hint}\n"
    code, out, _ = _cli(["sweep", str(DEFAULT), "--vary", "cluster.nodes=1,2", "--format", "csv"], capsys)
    assert code == 0 and out.count("\n") == 3  # serial sweeps need no Dask


def test_dpsim_and_a_serial_sweep_never_import_dask() -> None:
    code = (
        "import sys, dpsim; dpsim.sweep(None, {'cluster.nodes': [1, 2]}); dpsim.run(engine='sim');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


# --- real worker processes --------------------------------------------------------------------


def _sweep_args(out: Path) -> list[str]:
    args = ["sweep", str(DEFAULT), "--engine", "sim", "--vary", "cluster.nodes=1,2,4",
            "--vary", "communication.algorithm=ring,tree", "--out", str(out), "--format", "csv"]  # fmt: skip
    for item in SMALL:
        args += ["--set", item]
    return args


@pytest.mark.multiprocess
@pytest.mark.slow
def test_cli_workers_2_writes_the_serial_file_bit_for_bit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(_sweep_args(tmp_path / "serial.csv"), capsys)[0] == 0
    assert _cli([*_sweep_args(tmp_path / "dask.csv"), "--workers", "2"], capsys)[0] == 0
    assert (tmp_path / "serial.csv").read_bytes() == (tmp_path / "dask.csv").read_bytes()
    assert not (tmp_path / "dask.csv.partial.jsonl").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.multiprocess
@pytest.mark.slow
def test_external_scheduler_and_two_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``dask scheduler`` + 2 ``dask worker`` processes started here, the sweep sent with --scheduler."""
    dask_cli = Path(sys.executable).with_name("dask")
    if not dask_cli.exists():
        pytest.skip(f"the dask command is not next to {sys.executable}")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    def spawn(*args: str) -> subprocess.Popen[bytes]:  # its own session: cleaned up by PID below
        return subprocess.Popen([str(dask_cli), *args], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip

    procs = [spawn("scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0", "--no-show")]
    try:
        for _ in range(2):
            procs.append(spawn("worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"))
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        assert _cli(_sweep_args(tmp_path / "serial.csv"), capsys)[0] == 0
        assert _cli([*_sweep_args(tmp_path / "remote.csv"), "--scheduler", address], capsys)[0] == 0
        assert (tmp_path / "serial.csv").read_bytes() == (tmp_path / "remote.csv").read_bytes()
    finally:
        for proc in reversed(procs):  # workers first, then the scheduler; by PID (their own sessions)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _serialised_with(callback: Any) -> None:
    """Dump a pydantic model whose field serialiser is ``callback`` (as ``Scenario``'s rates are dumped)."""
    from typing import Annotated

    from pydantic import BaseModel, PlainSerializer

    class Model(BaseModel):
        rate: Annotated[float, PlainSerializer(callback, return_type=str)]

    Model(rate=1.0).model_dump()


def test_a_signal_a_library_wrapped_ends_the_sweep_not_the_point() -> None:
    """SIGHUP arriving inside pydantic-core's serialiser callback came back as a PydanticSerializationError, which
    the sweep reported as a failed point ("Error calling function `<lambda>`: Stopped: 129", exit 2); the
    signal's Stopped now ends the run, and an ordinary error in the same place is still the point's failure."""
    from dpsim.cli_common import Stopped
    from dpsim.errors import interrupt_within

    def hup(value: float) -> str:
        raise Stopped(signal.SIGHUP)

    def wrong(value: float) -> str:
        raise ValueError("not a rate")

    with pytest.raises(Stopped) as stopped:
        execution._run_batch(lambda item: _serialised_with(hup), [0, 1])
    assert stopped.value.code == 128 + signal.SIGHUP and stopped.value.name == "SIGHUP"
    (failure,) = execution._run_batch(lambda item: _serialised_with(wrong), [0])
    assert isinstance(failure, TaskError) and failure.kind == "PydanticSerializationError"
    try:
        _serialised_with(wrong)
    except Exception as exc:
        assert interrupt_within(exc) is None
    try:
        _serialised_with(hup)
    except Exception as exc:
        assert isinstance(interrupt_within(exc), Stopped)
