"""A 200-point chunk-level sweep: serial vs ``--workers N`` vs an external ``dask scheduler`` + N ``dask worker``.

Run: ``python benchmarks/sweep_dask.py [--repeat 3] [--workers 2]`` (needs ``pip install 'dpsim[cluster]'``).

Each CLI mode runs the same ``dpsim sweep`` command line (a fresh process each time, so the
``--workers`` time includes starting the LocalCluster: N worker processes that each import
Dask and dpsim); the external cluster is started once before its runs (its start-up is
printed separately) and stopped by PID afterwards. The last mode calls ``dpsim.sweep`` in
this process on a LocalCluster started (and warmed) beforehand: the parallel part alone.
Prints the median, min and max wall time of each mode over ``--repeat`` runs, points per
second, and the SHA-256 of each output CSV: the outputs must be identical bit for bit.
Numbers only, no assertions; on a shared machine the spread is large, so read the medians.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, one_line_errors, whole

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "default.yaml"
VARY = [  # 4 x 5 x 5 x 2 = 200 points
    "cluster.nodes=1,2,4,8",
    "communication.algorithm=ring,tree,hierarchical,halving-doubling,direct",
    "communication.bucket=10 MB,25 MB,50 MB,100 MB,200 MB",
    "training.zero_stage=0,1",
]
SETS = [  # 2 ranks per node; jitter makes every collective new, so the chunk level simulates each one
    "cluster.workers_per_node=2",
    "training.global_batch=128",
    "simulation.fidelity=chunk",
    "variability.compute_jitter_cv=0.05",
]


def sweep_command(out: Path, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "dpsim.cli", "sweep", str(SCENARIO), "--engine", "sim", "--out", str(out)]
    for item in VARY:
        cmd += ["--vary", item]
    for item in SETS:
        cmd += ["--set", item]
    return [*cmd, "--format", "csv", *extra]


def environment() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), path) if p)}


def timed_sweep(out: Path, *extra: str) -> tuple[float, str]:
    """Wall time of one ``dpsim sweep`` process and the SHA-256 of its CSV."""
    start = time.perf_counter()
    subprocess.run(sweep_command(out, *extra), env=environment(), check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    return elapsed, hashlib.sha256(out.read_bytes()).hexdigest()


def api_sweep(executor: Any, out: Path) -> tuple[float, str]:
    """The same sweep through the Python API on an open executor; CSV written as the CLI writes it."""
    import dpsim
    from dpsim.cli_common import parse_vary

    start = time.perf_counter()
    frame = dpsim.sweep(SCENARIO, parse_vary(VARY), engine="sim", overrides=SETS, executor=executor)
    elapsed = time.perf_counter() - start
    frame.to_csv(out, index=False)
    return elapsed, hashlib.sha256(out.read_bytes()).hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ExternalCluster:
    """``dask scheduler`` + ``workers`` × ``dask worker`` (1 thread each) on 127.0.0.1, stopped by PID."""

    def __init__(self, workers: int, directory: Path) -> None:
        self.workers, self.directory = workers, directory
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, *args: str) -> None:
        dask = Path(sys.executable).with_name("dask")
        self.procs.append(
            subprocess.Popen(
                [str(dask), *args],
                env=environment(),
                cwd=self.directory,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )

    def __enter__(self) -> ExternalCluster:
        from distributed import Client

        port = self.address.rsplit(":", 1)[1]
        self._spawn("scheduler", "--host", "127.0.0.1", "--port", port, "--dashboard-address", ":0", "--no-show")
        for _ in range(self.workers):
            self._spawn("worker", self.address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard")
        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(self.workers, timeout=120)
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _import_dpsim(_: int) -> bool:
    import dpsim.api
    import dpsim.sim

    return dpsim.api is not None and dpsim.sim is not None


@one_line_errors
def main() -> int:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=whole(1, 1000), default=3, help="runs per mode (medians are printed)")
    parser.add_argument("--workers", type=whole(1, 1 << 20), default=2, help="Dask workers (local and external)")
    args = parser.parse_args()
    from dpsim.execution import check_options

    # round 27: --repeat 0 was a KeyError once both clusters had started, --workers 0 a ScenarioError traceback
    check_options(args.workers, None)
    points = 1
    for item in VARY:
        points *= len(item.split("=", 1)[1].split(","))
    print(f"{points} chunk-level points, {args.repeat} runs per mode, {os.cpu_count()} CPU cores"
          f" (load average {os.getloadavg()[0]:.1f} at start: the machine may be shared)")  # fmt: skip
    times: dict[str, list[float]] = {}
    hashes: dict[str, set[str]] = {}
    sys.path.insert(0, str(ROOT))
    from dpsim.execution import open_executor

    with tempfile.TemporaryDirectory() as tmp, open_executor(args.workers) as local:
        directory = Path(tmp)
        start = time.perf_counter()
        local.map(abs, [-1] * args.workers)  # start the LocalCluster and its workers
        local.map(_import_dpsim, list(range(4 * args.workers)))
        local_started = time.perf_counter() - start
        start = time.perf_counter()
        with ExternalCluster(args.workers, directory) as cluster:
            started = time.perf_counter() - start
            modes = {
                "serial": (),
                f"--workers {args.workers}": ("--workers", str(args.workers)),
                f"--scheduler (dask scheduler + {args.workers} dask worker)": ("--scheduler", cluster.address),
            }
            for run in range(args.repeat):
                for name, extra in modes.items():
                    elapsed, digest = timed_sweep(directory / f"{run}-{list(modes).index(name)}.csv", *extra)
                    times.setdefault(name, []).append(elapsed)
                    hashes.setdefault(name, set()).add(digest)
                    print(f"  run {run + 1}: {name}: {elapsed:.1f} s", flush=True)
                name = f"API on a warm LocalCluster of {args.workers}"
                elapsed, digest = api_sweep(local, directory / f"api-{run}.csv")
                times.setdefault(name, []).append(elapsed)
                hashes.setdefault(name, set()).add(digest)
                print(f"  run {run + 1}: {name}: {elapsed:.1f} s", flush=True)
    print(f"external cluster start-up (scheduler + {args.workers} workers ready): {started:.1f} s, not counted below")
    print(f"LocalCluster start-up ({args.workers} workers, dpsim imported): {local_started:.1f} s, not counted in API")
    print(f"{'mode':<48} {'median s':>9} {'min s':>7} {'max s':>7} {'points/s':>9}  sha256 of the CSV")
    serial = statistics.median(times["serial"])
    for name, values in times.items():
        median = statistics.median(values)
        digest = ", ".join(sorted(h[:16] for h in hashes[name]))
        print(
            f"{name:<48} {median:>9.1f} {min(values):>7.1f} {max(values):>7.1f} {points / median:>9.1f}  {digest}"
            f"  (speed-up {serial / median:.2f}x)"
        )
    identical = len(set().union(*hashes.values())) == 1
    print(f"outputs identical bit for bit across all modes and runs: {'yes' if identical else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
