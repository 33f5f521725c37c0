"""Why the intra-node ring fit is refused in every calibration since stop 50 (stored data only, no root).

PYTHONPATH=. python benchmarks/results/validation-2026-12-07-h/intra_lines.py ALGORITHM

Per calibration (fresh50's CAL1 and CAL2, fresh51's CAL1, fresh52's CAL1, fresh53's CAL1 and CAL2) and rank count
(2, 3, 4 ranks on the 2-core host): the 8 KiB all-reduce's time, the intercept of the straight line through the 8 MiB
and 32 MiB points (time against the closed form's bytes), the latency the profile prices at that rank count (the
closed form's steps × α × the host share), and the two large points' median uncertainties; then each large point's
error under the profile's own fit (``runtime.calibrate.link_point_errors``, what the 5 % gate reads).
"""

from __future__ import annotations

import json
import sys

from dpsim.calibration import load_profile
from runtime.calibrate import CalibrationPlan, closed_form_coefficients, link_point_errors

R = "benchmarks/results/"
CALIBRATIONS = [("50-CAL1", "validation-2026-12-07-e/R1"), ("50-CAL2", "validation-2026-12-07-e/CAL2"),
                ("51-CAL1", "validation-2026-12-07-f/R1"), ("52-CAL1", "validation-2026-12-07-g/R1"),
                ("53-CAL1", "validation-2026-12-07-h/R1"), ("53-CAL2", "validation-2026-12-07-h/CAL2")]  # fmt: skip
MiB = 2**20
alg = sys.argv[1] if len(sys.argv) > 1 else "ring"
for name, folder in CALIBRATIONS:
    prof = load_profile(R + folder + "/profile.yaml")
    assert prof.host_model is not None
    with open(R + folder + "/calibration-bench.json") as f:
        recs = json.load(f)
    link = prof.links["intra"][alg]
    t = {(r["ranks"], r["size_bytes"]): (r["time_s"], r.get("median_uncertainty", 0.0)) for r in recs
         if r["collective"] == "all_reduce" and r["link_class"] == "intra" and r["algorithm"] == alg}  # fmt: skip
    out = []
    for n in (2, 3, 4):
        a8, b8 = closed_form_coefficients(alg, n, 8 * MiB)
        b32 = closed_form_coefficients(alg, n, 32 * MiB)[1]
        (t8, u8), (t32, u32) = t[(n, 8 * MiB)], t[(n, 32 * MiB)]
        per_byte = (t32 - t8) / (b32 - b8)
        intercept = t8 - b8 * per_byte
        latency = a8 * link.latency_s * prof.host_model.comm_share(n)
        small = t.get((n, 8192), (float("nan"), 0.0))[0]
        out.append(f"{n}r: 8K {1e3 * small:5.1f} ms, 8M-32M line's intercept {1e3 * intercept:5.1f} ms, priced latency "
                   f"{1e3 * latency:5.1f} ms (uncertainty {100 * u8:.0f} / {100 * u32:.0f} %)")  # fmt: skip
    print(f"{name} {alg}: " + "; ".join(out))
    errors = link_point_errors(recs, prof.links, CalibrationPlan(), "emulated", prof.host_model.comm_share)
    print("    fit errors: " + ", ".join(
        f"{r['ranks']}r {r['size_bytes'] // MiB} MiB {100 * e:+.1f} %" for r, e in sorted(
            ((r, e) for r, e in errors if r["link_class"] == "intra" and r["algorithm"] == alg),
            key=lambda x: (x[0]["ranks"], x[0]["size_bytes"]))))  # fmt: skip
