"""Every distinct stored calibration's intra-node link fits, refitted by the code at hand: the gate's figures.

PYTHONPATH=. python benchmarks/results/intra-54/gate.py   (no root, no testbed; ~20 s)

Per calibration (every distinct ``calibration-bench.json`` beside a ``profile.yaml`` with a host model, duplicates by
content, as ``forms.py``): for the ring, gloo's own (backend), the tree and halving–doubling, the fit's worst
relative error over its large points (``residual``) and how far that lies beyond the points' own scatter
(``beyond_scatter``, what ``dpsim.calibration.check_residuals`` holds to 5 %), with α (µs) and whether it is
stretched by the host share. The intra records alone are fitted (the inter-node fits do not depend on them), on
the host's C refitted as ``runtime.calibrate.refit_links`` does and ε_c = 0.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import statistics

from dpsim.calibration import LinkModel, load_profile
from runtime.calibrate import CalibrationPlan, fit_host, fit_links, host_cores, worst_link_points

ALGS = ("ring", "backend", "tree", "halving-doubling")
plan = CalibrationPlan()
seen: set[str] = set()
table: dict[str, list[tuple[float, float]]] = {a: [] for a in ALGS}
files = sorted(
    glob.glob("benchmarks/results/*/calibration-bench.json")
    + glob.glob("benchmarks/results/*/*/calibration-bench.json")
)
for f in files:
    folder = os.path.dirname(f)
    if "cal-loaded" in folder or not os.path.exists(folder + "/profile.yaml"):
        continue
    with open(f) as fh:
        recs = [r for r in json.load(fh) if r["collective"] == "all_reduce" and r["link_class"] == "intra"]
    key = hashlib.md5(repr(sorted((r["algorithm"], r["ranks"], r["size_bytes"], r["time_s"]) for r in recs)).encode())
    profile = load_profile(folder + "/profile.yaml")
    if not recs or key.hexdigest() in seen or profile.host_model is None:
        continue
    seen.add(key.hexdigest())
    host = profile.host_model
    if 1 in host.measured:
        host = dataclasses.replace(
            host, cores=fit_host(host.measured, max_cores=int(profile.meta.get("cores") or host_cores())).cores
        )
    host = dataclasses.replace(host, comm_efficiency_loss=0.0)
    links, _ = fit_links(recs, plan, "emulated", host.comm_share)
    worst = worst_link_points(recs, links, plan, "emulated", host.comm_share)
    cells = []
    for alg in ALGS:
        link = links.get("intra", {}).get(alg)
        point = worst.get(f"links.intra.{alg}")
        if not isinstance(link, LinkModel) or point is None:
            cells.append(f"{alg[:4]} -")
            continue
        table[alg].append((link.residual, point["beyond_scatter"]))
        cells.append(
            f"{alg[:4]} α {1e6 * link.latency_s:5.0f}{'·s' if getattr(link, 'latency_shared', True) else '  '} "
            f"{100 * link.residual:5.1f} / {100 * point['beyond_scatter']:4.1f} %"
        )
    print(f"{folder.removeprefix('benchmarks/results/'):42s} " + " | ".join(cells))
print(
    f"{len(seen)} calibrations; per algorithm: median worst residual, median beyond the scatter, how many pass "
    "the gate (beyond the scatter <= 5 %), how many have a worst residual <= 5 %"
)
for alg, rows in table.items():
    res, beyond = [r for r, _ in rows], [b for _, b in rows]
    print(
        f"  {alg:17s} {100 * statistics.median(res):5.1f} %  {100 * statistics.median(beyond):5.1f} %  "
        f"pass {sum(b <= 0.05 for b in beyond):2d} of {len(rows)}  raw <= 5 %: {sum(r <= 0.05 for r in res):2d}"
    )
