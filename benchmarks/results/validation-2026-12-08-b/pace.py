"""The reference kernel over the block (no root, no torch): inside each calibration part by part, in the standalone
probes between the steps, and around the runs.

PYTHONPATH=. python benchmarks/results/validation-2026-12-08-b/pace.py BLOCK.log RUNS.jsonl NAME=PROFILE.yaml ...

NAME=PROFILE.yaml: a calibration's ``meta.reference_pace`` (:mod:`runtime.pace`): per part and attempt, the kernel's
time before and after it (ms), how far apart (``max/min − 1``), and when (UTC, from ``started_utc`` + ``t_s``).
BLOCK.log: ``block.sh``'s log, whose probe lines carry the kernel timed 5 times before and 5 times after the standalone
optimizer fit (their median, ms). RUNS.jsonl: the runs case by case, repeats in order (``all/runs.jsonl``); each
run's ``extra.reference_pace`` (the kernel just before and after it): the median and range per repeat.
"""

from __future__ import annotations

import calendar
import json
import re
import statistics
import sys
import time
from pathlib import Path

import yaml


def _utc(started: str, t_s: float) -> str:
    epoch = calendar.timegm(time.strptime(started, "%Y-%m-%dT%H:%M:%SZ")) + t_s
    return time.strftime("%H:%M:%S", time.gmtime(epoch))


def calibration(name: str, path: Path) -> None:
    meta = (yaml.safe_load(path.read_text()) or {}).get("meta") or {}
    pace = meta.get("reference_pace") or {}
    probes = pace.get("probes") or []
    kernel, started = pace.get("kernel", "not recorded"), pace.get("started_utc")
    print(f"{name} ({path.parent.name}): kernel {kernel!r}, started {started}")
    pairs: dict[tuple[str, int], dict[str, dict[str, float]]] = {}
    for p in probes:
        pairs.setdefault((str(p["part"]), int(p["attempt"])), {})[str(p["at"])] = p
    for (part, attempt), at in pairs.items():
        b, a = at.get("before"), at.get("after")
        if not (b and a):
            print(f"  {part:10s} attempt {attempt}: incomplete {at}")
            continue
        kb, ka = 1e3 * float(b["kernel_s"]), 1e3 * float(a["kernel_s"])
        moved = 100 * (max(kb, ka) / min(kb, ka) - 1)
        when = f"{_utc(pace['started_utc'], float(b['t_s']))}-{_utc(pace['started_utc'], float(a['t_s']))}"
        print(f"  {part:10s} attempt {attempt}: {kb:.3f} -> {ka:.3f} ms ({moved:.1f} % apart), {when} UTC "
              f"({float(a['t_s']) - float(b['t_s']):.0f} s)")  # fmt: skip
    values = [1e3 * float(p["kernel_s"]) for p in probes]
    if values:
        print(f"  all {len(values)}: median {statistics.median(values):.3f} ms, {min(values):.3f}-{max(values):.3f}")


def standalone(log: Path) -> None:
    print("standalone probes (block.log): kernel median of 5 before / after the optimizer fit; the fit at 2,362,368")
    for line in log.read_text().splitlines():
        m = re.match(r"(\S+) (probe-\S+) rc=\S+ probe: .*?at 2362368: ([0-9.]+) ns/param"
                     r".*?kernel: before ([0-9. ]+) ms; after ([0-9. ]+) ms", line)  # fmt: skip
        if m:
            before = statistics.median(map(float, m[4].split()))
            after = statistics.median(map(float, m[5].split()))
            print(f"  {m[1]} {m[2]:16s} kernel {before:.3f} / {after:.3f} ms; optimizer {m[3]} ns/param")


def runs(path: Path) -> None:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        return
    per_case = len(lines) // 18
    print(f"around the runs (runs.jsonl, {per_case} repeats): kernel, mean of before and after a run, ms")
    for r in range(per_case):
        values = []
        for run in lines[r::per_case]:
            pace = (run.get("extra") or {}).get("reference_pace") or {}
            if isinstance(pace.get("before_s"), (int, float)) and isinstance(pace.get("after_s"), (int, float)):
                values.append(500 * (pace["before_s"] + pace["after_s"]))
        if values:
            print(f"  repeat {r + 1}: median {statistics.median(values):.3f}, {min(values):.3f}-{max(values):.3f} "
                  f"({len(values)} runs)")  # fmt: skip
        else:
            print(f"  repeat {r + 1}: not recorded")


def main() -> None:
    standalone(Path(sys.argv[1]))
    runs(Path(sys.argv[2]))
    for arg in sys.argv[3:]:
        name, path = arg.split("=", 1)
        calibration(name, Path(path))


if __name__ == "__main__":
    main()
