"""Calibrations side by side (no root): every fit's residual, the host's ε, the optimizer fit and the compute curve.

PYTHONPATH=. python benchmarks/results/validation-2026-12-07-e/calibs.py NAME=PROFILE.yaml ...

Per profile: each link fit's residual (inter / intra × algorithm), the host's compute sharing fit (ε, residual), the
optimizer's (free fit ε, residual), the optimizer step alone (fixed + per parameter, its value at the validation MLP's
2,362,368 parameters), the compute curve's forward + backward at a few grid points, the gate's re-measured rounds.
"""

from __future__ import annotations

import sys

from dpsim.calibration import load_profile

PARAMS = 2_362_368  # the validation MLP (4 x 768): its parameters
POINTS = ((256, 4), (512, 64), (1024, 16), (1024, 256), (2048, 64), (2048, 256))  # (hidden, micro-batch)


def main() -> None:
    profiles = [(arg.split("=", 1)[0], load_profile(arg.split("=", 1)[1])) for arg in sys.argv[1:]]
    rows: dict[str, list[str]] = {}

    def put(key: str, value: str) -> None:
        rows.setdefault(key, []).append(value)

    for _, p in profiles:
        for cls in ("inter", "intra"):
            for alg in ("backend", "ring", "tree", "halving-doubling"):
                link = p.links.get(cls, {}).get(alg)
                put(f"links.{cls}.{alg} residual %", "-" if link is None else f"{100 * link.residual:.1f}")
        h = p.host_model
        put("host: ε (compute sharing loss)", f"{h.efficiency_loss:.4f}")
        put("host residual %", f"{100 * h.residual:.1f}")
        fit = p.meta.get("host_optimizer_fit", {})
        put("host.optimizer: free-fit ε", f"{fit.get('efficiency_loss', float('nan')):.4f}")
        put("host.optimizer residual %", f"{100 * h.optimizer_residual:.1f}")
        put("host slowdown at 2 / 4 / 8", " / ".join(f"{h.measured.get(k, float('nan')):.2f}" for k in (2, 4, 8)))
        put("optimizer fit residual %", f"{100 * p.meta.get('fit_residuals', {}).get('optimizer', float('nan')):.1f}")
        o = p.optimizer
        put("optimizer: fixed ms + ns/param", f"{1e3 * o.fixed_s:.3f} + {1e9 * o.per_unit_s:.3f}")
        put("optimizer at 2,362,368 params, ms", f"{1e3 * (o.fixed_s + o.per_unit_s * PARAMS):.3f}")
        put("optimizer wait before the fit, s", str(p.meta.get("optimizer_idle_s", "-")))
        points = {(pt.hidden, pt.micro_batch): pt for pt in p.compute_curve.points} if p.compute_curve else {}
        for hidden, mb in POINTS:
            pt = points.get((hidden, mb))
            value = "-" if pt is None else f"{1e3 * (pt.forward_s + pt.backward_s):.3f}"
            put(f"curve h{hidden} mb{mb} fwd+bwd ms", value)
        put("gate: re-measured rounds", str(p.meta.get("remeasured_rounds", 0)))
    width = max(len(k) for k in rows)
    print(f"{'':{width}s} " + " ".join(f"{name:>14s}" for name, _ in profiles))
    for key, values in rows.items():
        print(f"{key:{width}s} " + " ".join(f"{v:>14s}" for v in values))


if __name__ == "__main__":
    main()
