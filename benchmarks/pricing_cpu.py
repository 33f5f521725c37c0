"""CPU time of pricing large collectives, against what the cost guard charges for it.

Each case runs the ``dpsim`` command line in a fresh process (``--repeat`` times) and prints the median CPU time
(user + system, from the child's resource usage), its system part, the median peak RSS, and the guard's estimate
of the pricing (:mod:`dpsim.sim.budget`: the transfers it routes at ``PRICE_TRANSFER_S``, what ``--allow-long``
is needed past).

- ``hybrid``: the README's FSDP HYBRID_SHARD example, the default scenario on ``--nodes`` nodes x 8 GPUs, shard
  groups of 16, under ``--engine analytic`` and ``--engine sim`` (its fast level prices the groups' collectives
  again, with the links each phase loads).
- ``direct``: ``dpsim collective --size 1MiB`` with ``communication.algorithm: direct`` (n(n-1) transfers a phase)
  on ``--direct-nodes`` nodes x 8 GPUs.

On a shared machine the CPU time is the steadier clock; the system time is the kernel's, mostly page faults on
freshly allocated arrays. Every figure includes the command's start-up (imports, the scenario), which the first
row (the default scenario's ``dpsim run``) shows alone.

Usage: python benchmarks/pricing_cpu.py [--cases hybrid,direct] [--nodes 32768] [--direct-nodes 128,256,512]
[--repeat 3]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, ScriptError, one_line_errors, whole, wholes
from dpsim.analytic.step import algorithm_of, dp_fabric
from dpsim.scenario import load_scenario
from dpsim.sim import budget

HYBRID = [
    "cluster.workers_per_node=8",
    "training.zero_stage=3",
    "training.optimizer_sharding=fsdp",
    "training.fsdp_shard_group=16",
    "training.global_batch=auto",
]
"""The README's HYBRID_SHARD example (``--set`` each), beside ``cluster.nodes``."""


def measure(args: list[str], repeat: int) -> tuple[float, float, float]:
    """Median (CPU seconds, system seconds, peak RSS in GB) of ``dpsim ARGS`` run ``repeat`` times, each alone."""
    runs = []
    for _ in range(repeat):
        command = [sys.executable, "-c", "import sys; from dpsim.cli import main; sys.exit(main())", *args]
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        error = child.stderr.read().decode() if child.stderr else ""
        if child.returncode != 0:
            raise ScriptError(f"dpsim {' '.join(args)} failed ({child.returncode}): {error.strip()[-400:]}")
        runs.append((usage.ru_utime + usage.ru_stime, usage.ru_stime, usage.ru_maxrss / 2**20))
    return tuple(statistics.median(r[i] for r in runs) for i in range(3))  # type: ignore[return-value]


def sets(overrides: list[str]) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


@one_line_errors
def main() -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="hybrid,direct", help="some of hybrid, direct (comma-separated)")
    parser.add_argument("--nodes", type=whole(), default=32768, help="nodes of the hybrid case")
    parser.add_argument("--direct-nodes", type=wholes(), default="128,256,512", help="nodes of the direct cases")
    parser.add_argument("--repeat", type=whole(1, 1000), default=3, help="runs of each command (medians)")
    args = parser.parse_args()
    cases = args.cases.split(",")
    if not cases or not set(cases) <= {"hybrid", "direct"}:
        raise ScriptError(f"--cases: expected some of hybrid, direct (comma-separated), got {args.cases!r}")
    print(f"{'case':<34} {'engine':>8} {'charged_s':>10} {'cpu_s':>8} {'sys_s':>7} {'peak_GB':>8}")
    cpu, system, peak = measure(["run"], args.repeat)  # the start-up every case's CPU time includes
    print(f"{'default scenario (start-up)':<34} {'analytic':>8} {'':>10} {cpu:>8.2f} {system:>7.2f} {peak:>8.2f}")
    if "hybrid" in cases:
        overrides = [f"cluster.nodes={args.nodes}", *HYBRID]
        scenario = load_scenario(None, overrides)
        for engine in ("analytic", "sim"):
            charged = budget.scenario_pricing(scenario, engine).seconds
            cpu, system, peak = measure(["run", *sets(overrides), "--engine", engine], args.repeat)
            name = f"hybrid {scenario.world_size:,} ranks"
            print(f"{name:<34} {engine:>8} {charged:>10.2f} {cpu:>8.2f} {system:>7.2f} {peak:>8.2f}")
    if "direct" in cases:
        for nodes in args.direct_nodes:
            overrides = [f"cluster.nodes={nodes}", "communication.algorithm=direct"]
            scenario = load_scenario(None, overrides, batch_free=True)
            fabric = dp_fabric(scenario)
            layout = budget.layout_of(fabric)
            work = budget.estimate_collective(
                "allreduce", algorithm_of(scenario), fabric.protocol, layout, "analytic", 1, 0, budget.ring_hops(fabric)
            )
            cpu, system, peak = measure(["collective", *sets(overrides), "--size", "1MiB", "--allow-long"], args.repeat)
            n = fabric.world_size
            per = cpu / (n * (n - 1)) * 1e6
            name = f"direct {n:,} ranks ({per:.2f} us/pair)"
            print(f"{name:<34} {'analytic':>8} {work.pricing_s:>10.2f} {cpu:>8.2f} {system:>7.2f} {peak:>8.2f}")

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
