"""How many of the host's cores the calibration's all-reduces keep busy, in every stored calibration (issue 10).

The emulated cluster runs every rank on one host (2 cores on the project's VM). The links' host term prices
a rank's communication at κ·s(n) per byte, κ the host's busy time per byte a rank sends and
``s(n) = max(1, n/C)·(1 + ε_c(n − 1))`` the share of the C cores when n ranks communicate at once
(:meth:`dpsim.calibration.HostModel.comm_share`): processor sharing, every core busy from n = C on.
The calibration records the host's busy time over each benchmark (``host_busy_s``, ``/proc/stat``), so
the cores the n ranks actually kept busy are ``U = busy / time`` and the share they got is ``n / U``
(time per byte = all ranks' busy time per byte over the busy cores). This script prints, per link class,
algorithm and rank count, over every stored calibration's large all-reduces where the host binds
(loopback, and across nodes at the top shaped rate; the closed form's rank counts; medians uncertain by
at most 10 %):

- ``n / U`` (median, min–max over calibrations) beside what processor sharing says, ``max(1, n/C)``;
- the time per byte of the closed form's bandwidth coefficient, relative to the same calibration's 2-rank
  point of the same algorithm, size and rate (median): how the time grows with ranks.

No root, no testbed (a few seconds).

    PYTHONPATH=. python benchmarks/comm_utilisation.py
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.link_fit_points import calibrations
from benchmarks.script_cli import one_line_errors
from dpsim.calibration import FIT_ALGORITHMS, closed_form_coefficients, load_profile
from runtime.calibrate import KAPPA_MAX_UNCERTAINTY, MiB, _described

MIN_BYTES = 2 * MiB
"""All-reduces from this size on (the links' bandwidth points)."""


def host_bound(records: list[dict]) -> list[dict]:
    """The large all-reduces that bind the host: loopback, and across nodes at the highest shaped rate."""
    top = max((r["rate_bytes_per_s"] for r in records if r.get("rate_bytes_per_s")), default=None)
    return [r for r in records
            if r["collective"] == "all_reduce" and r["size_bytes"] >= MIN_BYTES and r.get("host_busy_s")
            and r.get("time_s") and r["algorithm"] in FIT_ALGORITHMS and _described(r["algorithm"], r["ranks"])
            and r.get("median_uncertainty", 0.0) <= KAPPA_MAX_UNCERTAINTY
            and (r["link_class"] == "intra" or r.get("rate_bytes_per_s") == top)]  # fmt: skip


Key = tuple[str, str, int]


def utilisation(records: list[dict]) -> tuple[dict[Key, list[float]], dict[Key, list[float]]]:
    """Per (link class, algorithm, ranks), over one calibration's :func:`host_bound` all-reduces: ``n / U`` (ranks
    over the cores they kept busy, ``U = host_busy_s / time_s``) and the time per byte of the closed form's
    bandwidth coefficient over the 2-rank point's of the same algorithm, size and rate."""
    share: dict[Key, list[float]] = defaultdict(list)
    growth: dict[Key, list[float]] = defaultdict(list)
    per_byte = {}
    for r in host_bound(records):
        key = (r["link_class"], r["algorithm"], int(r["ranks"]))
        share[key].append(r["ranks"] * r["time_s"] / r["host_busy_s"])
        b = closed_form_coefficients(r["algorithm"], r["ranks"], r["size_bytes"])[1]
        per_byte[(*key, r["size_bytes"], r.get("rate_bytes_per_s"))] = r["time_s"] / b
    for (cls, alg, n, size, rate), t in per_byte.items():
        two = per_byte.get((cls, alg, 2, size, rate))
        if two:
            growth[(cls, alg, n)].append(t / two)
    return share, growth


@one_line_errors
def main() -> int:
    share: dict[Key, list[float]] = defaultdict(list)
    growth: dict[Key, list[float]] = defaultdict(list)
    cores: set[float] = set()
    names = calibrations()
    for profile_path, bench in names.values():
        host = load_profile(profile_path).host_model
        if host is not None:
            cores.add(host.cores)
        one_share, one_growth = utilisation(json.loads(bench.read_text(encoding="utf-8")))
        for key, values in one_share.items():
            share[key].extend(values)
        for key, values in one_growth.items():
            growth[key].extend(values)
    c = min(cores) if cores else 2.0
    print(f"{len(names)} calibrations, C = {c:g} cores; the host-bound large all-reduces (loopback, and across "
          "nodes at the top rate)")  # fmt: skip
    print(f"{'class':6} {'algorithm':17} {'ranks':>5} {'n / busy cores':>15} {'min-max':>12} {'max(1, n/C)':>12} "
          f"{'time/byte vs 2':>15} {'points':>7}")  # fmt: skip
    every: dict[Key, list[float]] = defaultdict(list)
    every_growth: dict[Key, list[float]] = defaultdict(list)
    for key in sorted(share):
        every[("all", "", key[2])].extend(share[key])
        every_growth[("all", "", key[2])].extend(growth.get(key, []))
    for table, grown in ((share, growth), (every, every_growth)):
        for key in sorted(table):
            cls, alg, n = key
            values = table[key]
            grow = statistics.median(grown[key]) if grown.get(key) else float("nan")
            print(f"{cls:6} {alg:17} {n:5d} {statistics.median(values):15.2f} {min(values):5.2f}-{max(values):<6.2f} "
                  f"{max(1.0, n / c):12.2f} {grow:15.2f} {len(values):7d}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
