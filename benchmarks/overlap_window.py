"""How a bucket's all-reduce in flight slows the backward on the shared host: its work vs its share of a core.

Issue 10's fresh validation measured compute 31 % above the prediction; the 2-rank case took
40.7 ms against the compute curve's 16.3 ms and the window model's 22.8 ms
(``HardwareProfile.overlap_backward_compute``: processor sharing with the communication's
``κ(R)·R``). This script runs the validation's scenario (``benchmarks/validate_emulated.py``'s
``SCENARIO``, ``--nodes`` ranks, one per node, one micro-batch of 64 each) on the emulated cluster with
``communication.overlap`` on and off at each ``--rates`` and prints, per run, the median over
ranks of each rank's compute (wall), its thread's CPU time over it (``compute_cpu_s``: forward,
and backward up to the last bucket's hook) and the share of a core it got (CPU / wall).
Overlap off is the backward undisturbed; overlap on shows how much of the stretch is more work
(CPU) and how much is a smaller share of the cores (README, validation notes). Needs root.

    sudo PYTHONPATH=. .venv/bin/python benchmarks/overlap_window.py [--nodes 2] [--rates 200,500,1000]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, need_root, numbers, one_line_errors, whole
from benchmarks.validate_emulated import SCENARIO


def compute_split(record: Mapping[str, Any]) -> tuple[float, float, float]:
    """(compute wall, compute CPU, CPU / wall): medians over the ranks of a runtime record's per-rank medians.

    The share is the median of each rank's own CPU / wall, not the ratio of the two medians.
    """
    extra = record["extra"]
    wall, cpu = extra["per_rank_compute_s"], extra["per_rank_compute_cpu_s"]
    if not wall or set(wall) != set(cpu):
        raise ValueError("record needs per_rank_compute_s and per_rank_compute_cpu_s for the same ranks")
    shares = [cpu[r] / wall[r] for r in wall if wall[r] > 0]
    return statistics.median(wall.values()), statistics.median(cpu.values()), statistics.median(shares)


def main(argv: list[str] | None = None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=whole(1, 250), default=2)
    ap.add_argument("--rates", type=numbers(1e-3, 1e6), default="200,500,1000", help="Mbit/s, comma-separated")
    ap.add_argument("--steps", type=whole(1, 100_000), default=8)
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # Parser's one line printed (or --help)
        return int(exc.code or 0)
    return int(one_line_errors(lambda: _measure(args))())


def _measure(args: Any) -> int:
    """Root checked before the header (round 26: ``--rates x`` was ``python -m runtime``'s refusal and then a
    ``CalledProcessError`` traceback, ``--steps 0`` the same, after the table's header)."""
    need_root()
    with tempfile.TemporaryDirectory() as tmp:
        scenario = Path(tmp) / "scenario.yaml"
        scenario.write_text(SCENARIO, encoding="utf-8")
        print(f"{'rate':>6} {'overlap':>7} {'compute ms':>10} {'cpu ms':>7} {'share':>6} {'step ms':>8}")
        for rate in (f"{r:g}" for r in args.rates):
            for overlap in ("true", "false"):
                out = Path(tmp) / f"r-{rate}-{overlap}.jsonl"
                command = [sys.executable, "-m", "runtime", str(scenario), "--testbed", "emulated",
                           "--steps", str(args.steps), "--out", str(out), "--set", f"cluster.nodes={args.nodes}",
                           "--set", f"training.global_batch={64 * args.nodes}",
                           "--set", f"cluster.inter_node.bandwidth={rate} Mbit/s",
                           "--set", f"communication.overlap={overlap}"]  # fmt: skip
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                record = json.loads(out.read_text(encoding="utf-8").splitlines()[-1])
                wall, cpu, share = compute_split(record)
                print(f"{rate:>6} {overlap:>7} {wall * 1e3:10.1f} {cpu * 1e3:7.1f} {share:6.2f} "
                      f"{record['step_time_s'] * 1e3:8.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
