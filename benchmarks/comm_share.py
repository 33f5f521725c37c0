"""How a large all-reduce's time and CPU grow with the ranks sharing the emulated cluster's cores (issue 10; root).

The calibration's own benchmark (:func:`runtime.calibrate.run_bench`: barrier-started, slowest rank, median
over repetitions, each rank's CPU time and the host's busy time) of gloo's all-reduce (``backend``), one rank
per node, at rank counts the calibration does not use, then per point: time per byte each rank sends, the
ranks' own CPU per byte (every thread, user and system), the host's busy time per byte (``/proc/stat``: the
kernel's network work outside the ranks included) — and how far a profile's prediction of it is off
(``HardwareProfile.link``: the wire and the host's κ·s(n), s(n) = max(1, n/C)·(1 + ε_c(n − 1)),
``HostModel.comm_share``).

    sudo PYTHONPATH=. python benchmarks/comm_share.py --ranks 5,6,8 --rates 1000 --profile PROFILE --out DIR
    sudo PYTHONPATH=. python benchmarks/comm_share.py --ranks 4 --rates 500 --sizes 9449472 \
        --algorithms backend,ring --out DIR       # the runtime's own algorithms too (runtime.collectives)
    python benchmarks/comm_share.py --reuse DIR --profile PROFILE     # print again, no root

Writes ``DIR/comm-share.json`` (the benchmark records; each with ``host_load``, :mod:`runtime.hostload`, over
its own benchmark run).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import (
    Parser,
    add_grid,
    grid,
    need_root,
    one_line_errors,
    one_of,
    read_json,
    refuse_beside_reuse,
    whole,
)
from dpsim.calibration import FIT_ALGORITHMS, LinkModel, closed_form_coefficients, load_profile


def measure(
    ranks: list[int], rates: list[float], sizes: list[int], reps: int, algorithms: tuple[str, ...] = ("backend",)
) -> list[dict[str, Any]]:  # fmt: skip
    """The benchmark's records, one per (rate, ranks, algorithm, size); each carries the host's load over its
    own benchmark run (``host_load``, :func:`runtime.hostload.host_load`: what else used the cores meanwhile)."""
    from runtime.calibrate import CalibrationPlan, run_bench
    from runtime.hostload import host_load, snapshot
    from runtime.testbed.emulated import EmulatedCluster

    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dpsim-comm-share-") as tmp:
        for rate in rates:
            for n in ranks:
                print(f"comm_share: {n} ranks at {rate * 8e-6:g} Mbit/s", flush=True)
                with EmulatedCluster(nodes=n, per_node=1, rate=rate) as testbed:
                    for algorithm in algorithms:
                        plan = CalibrationPlan(
                            sizes=sizes, algorithms=(algorithm,), collectives=("all_reduce",), reps=reps
                        )
                        before = snapshot()
                        point = run_bench(n, 1, testbed, plan, Path(tmp) / f"{n}-{rate:g}-{algorithm}")
                        load = host_load(before, snapshot())
                        for rec in point:
                            rec.update(link_class="inter", rate_bytes_per_s=rate, host_load=load)
                            records.append(rec)
    return records


def implied_kappa(
    link: LinkModel, share: float, rate: float, latency_steps: float, sent: float, time_s: float
) -> float | None:
    """The host's work per byte (κ, one pair's) that a measured time implies under ``link``'s own form.

    The link prices a byte at ``((1/(η·R))^p + (κ·s)^p)^(1/p) + c`` and a step at ``α·s``
    (:meth:`dpsim.calibration.LinkModel.per_byte_s`, ``s`` the host share); inverted, a measured time per byte
    ``t = (time − steps·α·s)/sent`` gives ``κ = ((t − c)^p − (1/(η·R))^p)^(1/p)/s``. None where the form has no
    host term or the time is at or below the wire's: the wire paced it, the host's work is hidden.
    """
    if link.sharpness is None or link.efficiency is None or share <= 0 or sent <= 0:
        return None
    per_byte = (time_s - latency_steps * link.latency_s * share) / sent - link.cpu_per_byte_s
    wire = 1.0 / (link.efficiency * rate)
    if per_byte <= wire:
        return None
    p = link.sharpness
    return float((per_byte**p - wire**p) ** (1.0 / p)) / share


def table(records: list[dict[str, Any]], profile_path: Path | None) -> None:
    """One row a point; with a profile, its price's error and κ: the profile's at the point's rate and what the
    measured time implies (:func:`implied_kappa`)."""
    profile = load_profile(profile_path) if profile_path else None
    host = profile.host_model if profile else None
    print(f"{'ranks':>5} {'algorithm':>16} {'Mbit/s':>7} {'MiB':>5} {'ms':>7} {'ns/B':>7} {'cpu/rank':>9} "
          f"{'busy/rank':>10} {'other':>5} {'predicted':>9} {'κ(R) ns':>8} {'implied':>8}")  # fmt: skip
    for r in records:
        n, rate, algorithm = r["ranks"], r["rate_bytes_per_s"], r.get("algorithm", "backend")
        sent = closed_form_coefficients(algorithm, n, r["size_bytes"])[1]
        other = (r.get("host_load") or {}).get("other_cores")
        busy = r.get("host_busy_s") or 0.0
        cells = [f"{n:5d}", f"{algorithm:>16}", f"{rate * 8e-6:7.0f}", f"{r['size_bytes'] / 2**20:5.2f}",
                 f"{1e3 * r['time_s']:7.1f}", f"{1e9 * r['time_s'] / sent:7.1f}", f"{1e9 * r['cpu_s'] / sent:9.2f}",
                 f"{1e9 * busy / (n * sent):10.2f}", "    -" if other is None else f"{other:5.2f}"]  # fmt: skip
        link = profile.link("inter", algorithm, rate, n) if profile is not None else None
        if link is not None:
            a, b = closed_form_coefficients(algorithm, n, r["size_bytes"])
            predicted = a * link.latency_s + b / link.bandwidth
            cells.append(f"{100 * (predicted - r['time_s']) / r['time_s']:+8.1f}%")
            fitted = profile.links.get("inter", {}).get(algorithm)
            if isinstance(fitted, LinkModel) and fitted.sharpness is not None and host is not None:
                kappa = implied_kappa(fitted, host.comm_share(n), rate, a, b, r["time_s"])
                cells.append(f"{1e9 * fitted.host_per_byte_at(rate):8.2f}")
                cells.append("       -" if kappa is None else f"{1e9 * kappa:8.2f}")
        print(" ".join(cells))
    if host is not None:
        kappa = 1e9 * host.comm_cpu_per_byte_s
        comm = "the compute's" if host.comm_efficiency_loss is None else f"{host.comm_efficiency_loss:.3f}"
        print(f"profile: C = {host.cores:g}, compute ε = {host.efficiency_loss:.3f}, communication ε_c = {comm}, "
              f"κ = {kappa:.2f} ns")  # fmt: skip


@one_line_errors
def main() -> int:
    p = Parser(description=__doc__.splitlines()[0])
    add_grid(p, "5,6,8", "1000", str(8 * 2**20), "comm-share.json")
    p.add_argument("--algorithms", default="backend", help="all-reduce algorithms (backend: gloo's own; ring, ...)")
    p.add_argument("--reps", type=whole(1, 1000), default=5)
    args = p.parse_args()
    if args.reuse:
        refuse_beside_reuse(sys.argv[1:], "grid", ("--profile",))  # round 27: --reps, --ranks, --out were dropped
        records = read_json(args.reuse / "comm-share.json")
    else:
        algorithms = tuple(args.algorithms.split(","))
        for algorithm in algorithms:
            one_of("--algorithms", algorithm, FIT_ALGORITHMS)
        points = grid(args)
        need_root()
        records = measure(*points, args.reps, algorithms)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "comm-share.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    table(records, args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
