"""Record what else uses the host while a measurement runs (issue 10: is the testbed's drift the machine being busy?).

Samples ``/proc`` every ``--interval`` seconds until ``--watch PID`` exits (or ``--seconds`` pass) and writes
one JSON line per sample to ``--out``: the host's CPU split from ``/proc/stat`` over the interval (user, nice,
system, softirq, steal, idle, in cores), the load average, the CPU the watched process tree used (the
measurement: the launcher, its ranks, their threads) and the largest other consumers by process (name, CPU
in cores). ``--summary FILE`` prints the mean of each over the file's samples, and of the samples above
``--busy`` cores of other work.

    python benchmarks/host_load.py --watch PID --out load.jsonl &
    python benchmarks/host_load.py --summary load.jsonl

Steal is time the hypervisor ran something else on this VM's virtual CPUs; ``nice`` is other sessions'
niced work (tests run with ``nice -n 10``); neither is the measurement's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from runtime.hostload import STAT_FIELDS, cpu_ticks

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, number, whole


def process_ticks() -> dict[int, tuple[str, int, int]]:
    """pid -> (name, parent pid, utime + stime ticks) for every process readable now."""
    out: dict[int, tuple[str, int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                text = fh.read()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        rest = text[text.rindex(")") + 2 :].split()
        out[int(entry)] = (name, int(rest[1]), int(rest[11]) + int(rest[12]))
    return out


def tree(root: int, procs: dict[int, tuple[str, int, int]]) -> set[int]:
    members = {root}
    grew = True
    while grew:
        grew = False
        for pid, (_, parent, _) in procs.items():
            if parent in members and pid not in members:
                members.add(pid)
                grew = True
    return members


def sample(args: argparse.Namespace) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    start = time.time()
    prev_cpu, prev_procs, prev_t = cpu_ticks(), process_ticks(), time.monotonic()
    with open(args.out, "a", encoding="utf-8") as out:
        while True:
            time.sleep(args.interval)
            cpu, procs, now = cpu_ticks(), process_ticks(), time.monotonic()
            dt = now - prev_t
            cores = {k: (cpu[k] - prev_cpu[k]) / hz / dt for k in STAT_FIELDS}
            used = {pid: (procs[pid][2] - prev_procs.get(pid, (None, 0, procs[pid][2]))[2]) / hz / dt
                    for pid in procs}  # fmt: skip
            watched = tree(args.watch, procs) if args.watch else set()
            mine = {os.getpid()}
            others = sorted(((v, procs[p][0], p) for p, v in used.items() if p not in watched | mine and v > 0),
                            reverse=True)  # fmt: skip
            line = {
                "t_s": round(time.time() - start, 2),
                "utc": time.strftime("%H:%M:%S", time.gmtime()),
                "cores": {k: round(v, 3) for k, v in cores.items()},
                "loadavg_1m": float(Path("/proc/loadavg").read_text(encoding="ascii").split()[0]),
                "watched_cores": round(sum(used.get(p, 0.0) for p in watched), 3),
                "other_cores": round(sum(v for v, _, _ in others), 3),
                "top_others": [[name, pid, round(v, 3)] for v, name, pid in others[:5]],
            }
            out.write(json.dumps(line) + "\n")
            out.flush()
            prev_cpu, prev_procs, prev_t = cpu, procs, now
            if args.watch and not os.path.exists(f"/proc/{args.watch}"):
                return
            if args.seconds and time.time() - start >= args.seconds:
                return


def summary(path: Path, busy: float) -> None:
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    if not lines:
        print(f"error: {path}: no samples", file=sys.stderr)
        raise SystemExit(2)

    def report(label: str, rows: list[dict]) -> None:
        if not rows:
            print(f"{label}: none")
            return
        mean = {k: statistics.mean(r["cores"][k] for r in rows) for k in STAT_FIELDS}
        print(
            f"{label}: {len(rows)} samples, {rows[0]['utc']}-{rows[-1]['utc']} UTC; mean cores "
            + ", ".join(f"{k} {mean[k]:.2f}" for k in STAT_FIELDS)
            + f"; watched {statistics.mean(r['watched_cores'] for r in rows):.2f}"
            f", other processes {statistics.mean(r['other_cores'] for r in rows):.2f}"
            f" (max {max(r['other_cores'] for r in rows):.2f})"
            f", load average {min(r['loadavg_1m'] for r in rows):.1f}-{max(r['loadavg_1m'] for r in rows):.1f}"
        )

    report("all", lines)
    report(f"samples with other processes > {busy} cores", [r for r in lines if r["other_cores"] > busy])
    names: dict[str, float] = {}
    for r in lines:
        for name, _, v in r["top_others"]:
            names[name] = names.get(name, 0.0) + v
    top = sorted(names.items(), key=lambda kv: -kv[1])[:8]
    print("largest other consumers (core-seconds per sample interval summed): "
          + ", ".join(f"{n} {v:.2f}" for n, v in top))  # fmt: skip


def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("--watch", type=whole(0, 1 << 22), default=0, help="the measurement's process: stop when it exits")
    p.add_argument("--seconds", type=number(0, 1e6), default=0.0, help="stop after this long (0: when --watch exits)")
    p.add_argument("--interval", type=number(1e-3, 3600), default=1.0)
    p.add_argument("--out", type=Path, help="JSON lines, appended")
    p.add_argument("--summary", type=Path, help="print the means of a recorded file instead")
    p.add_argument("--busy", type=number(0, 1e6), default=0.1, help="other processes' cores that make a sample busy")
    args = p.parse_args()  # round 26: --interval 0 or nan sampled without pause, --seconds -1 / nan never stopped
    if args.summary:
        if not args.summary.is_file():  # a FileNotFoundError traceback
            print(f"error: --summary: {args.summary}: no such file", file=sys.stderr)
            return 2
        summary(args.summary, args.busy)
        return 0
    if not args.out or not (args.watch or args.seconds):
        print("error: --out and one of --watch or --seconds are required (or --summary FILE)", file=sys.stderr)
        return 2
    sample(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
