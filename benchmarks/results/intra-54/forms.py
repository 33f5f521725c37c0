"""The intra-node link fit's form, tested on every distinct stored calibration's points (no root, no testbed).

PYTHONPATH=. python benchmarks/results/intra-54/forms.py [ALGORITHM]   (default ring; ~1 min of CPU)

Every distinct ``calibration-bench.json`` beside a ``profile.yaml`` with a host model (duplicates by content; the
deliberately loaded ``cal-loaded`` and the host-model-less ``link-capacity`` left out): its 12 intra-node all-reduce
points (2, 3, 4 ranks × 8 KiB, 64 KiB, 8 MiB, 32 MiB) refitted under six forms of the shared-host link,
``t = a·α·σ(n) + b·(w^p + (κ·s(n))^p)^(1/p)`` with ``s(n) = max(1, n/C)`` (C the profile's cores) and

- σ = s (the host share on α, main's form) or σ = 1 (α per step without the share);
- α from the small points (the median of what the bytes leave, main's), from the large points (least squares in
  relative error beside the bandwidth terms, the line's intercept), or from all points (least squares, relative).

(w, κ, p) on main's grids, minimising the squared relative error over the large points (the joint forms: over the
points α is taken from as well). Printed per form: the gate's worst large-point error (median over calibrations,
how many within 5 %, how many within 5 % beyond their points' own scatter), leave-one-size-out (fit on three sizes,
predict the fourth: median |error| and median signed error per held-out size; a large-only α with one large size
left falls back to all points) and leave-one-rank-count-out (fit on two rank counts, predict the third).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys

import numpy as np

from dpsim.calibration import SHARPNESS_GRID, closed_form_coefficients, load_profile

MiB = 2**20
ALG = sys.argv[1] if len(sys.argv) > 1 else "ring"
LARGE = float(MiB)  # runtime.calibrate.INTRA_LARGE_BYTES


def calibrations() -> list[tuple[str, np.ndarray]]:
    """(folder, rows of ranks, size, time, uncertainty, cores) per distinct stored calibration."""
    out, seen = [], set()
    files = sorted(
        glob.glob("benchmarks/results/*/calibration-bench.json")
        + glob.glob("benchmarks/results/*/*/calibration-bench.json")
    )
    for f in files:
        folder = os.path.dirname(f)
        if "cal-loaded" in folder or not os.path.exists(folder + "/profile.yaml"):
            continue
        with open(f) as fh:
            recs = json.load(fh)
        rows = sorted(
            (r["ranks"], r["size_bytes"], r["time_s"], r.get("median_uncertainty", 0.0))
            for r in recs
            if r["collective"] == "all_reduce" and r["link_class"] == "intra" and r["algorithm"] == ALG
        )
        key = hashlib.md5(repr(rows).encode()).hexdigest()
        if not rows or key in seen:
            continue
        host = load_profile(folder + "/profile.yaml").host_model
        if host is None:
            continue
        seen.add(key)
        out.append((folder.removeprefix("benchmarks/results/"), np.array([(*r, host.cores) for r in rows], float)))
    return out


def fit(d: np.ndarray, alpha_share: bool, source: str) -> tuple[float, float, float, float, float]:
    """(α, w, κ, p, C) of one form on rows ``d``."""
    n, size, t, cores = d[:, 0], d[:, 1], d[:, 2], d[:, 4]
    ab = np.array([closed_form_coefficients(ALG, int(k), s) for k, s in zip(n, size, strict=True)])
    a, b = ab[:, 0], ab[:, 1]
    large = b / np.maximum(a, 1.0) >= LARGE
    small = ~large & (a > 0)
    if source == "large" and len(set(size[large])) < 2:
        source = "all"
    share = np.maximum(1.0, n / cores)
    sigma = share if alpha_share else np.ones_like(share)
    per_byte = t[large] / b[large]
    ws = np.concatenate([[0.0], np.geomspace(per_byte.min() * 0.05, per_byte.max(), 60)])
    ks = np.geomspace(per_byte.min() * 1e-3, per_byte.max() * 2.0, 400)
    rows = large if source != "all" else (a > 0) | large
    best = None
    alpha = 0.0
    for _ in range(2 if source == "small" else 1):
        for p in SHARPNESS_GRID:
            tau = (ws[None, :, None] ** p + (share[:, None, None] * ks[None, None, :]) ** p) ** (1.0 / p)  # i × w × κ
            bytes_t = b[:, None, None] * tau
            if source == "small":
                al = np.full(bytes_t.shape[1:], alpha)
            else:  # relative least squares of α over ``rows``, α ≥ 0
                c = (a * sigma / t)[rows][:, None, None]
                r = ((t[:, None, None] - bytes_t) / t[:, None, None])[rows]
                al = np.maximum(0.0, (c * r).sum(0) / (c * c).sum(0))
            pred = a[:, None, None] * sigma[:, None, None] * al[None] + bytes_t
            sq = (((pred - t[:, None, None]) / t[:, None, None])[rows] ** 2).sum(0)
            if p != SHARPNESS_GRID[0]:
                sq[0, :] = np.inf  # w = 0 is the same fit at every p
            i, j = np.unravel_index(np.argmin(sq), sq.shape)
            if best is None or sq[i, j] < best[0]:
                best = (float(sq[i, j]), float(al[i, j]), float(ws[i]), float(ks[j]), p)
        assert best is not None
        _, alpha, w, k, p = best
        if source == "small":
            tau = (w**p + (share * k) ** p) ** (1.0 / p)
            alpha = max(0.0, float(np.median((t[small] - b[small] * tau[small]) / (a[small] * sigma[small]))))
            best = (np.inf, alpha, w, k, p)
    assert best is not None
    _, alpha, w, k, p = best
    return alpha, w, k, p, float(cores[0])


def predict(d: np.ndarray, params: tuple[float, float, float, float, float], alpha_share: bool) -> np.ndarray:
    alpha, w, k, p, cores = params
    n, size = d[:, 0], d[:, 1]
    ab = np.array([closed_form_coefficients(ALG, int(m), s) for m, s in zip(n, size, strict=True)])
    share = np.maximum(1.0, n / cores)
    sigma = share if alpha_share else 1.0
    return ab[:, 0] * alpha * sigma + ab[:, 1] * (w**p + (share * k) ** p) ** (1.0 / p)


FORMS = {
    "share-small (main)": (True, "small"),
    "noshare-small": (False, "small"),
    "share-large": (True, "large"),
    "noshare-large": (False, "large"),
    "share-all": (True, "all"),
    "noshare-all": (False, "all"),
}


def main() -> None:
    cals = calibrations()
    print(f"intra {ALG}: {len(cals)} distinct calibrations")
    sizes = sorted({float(s) for _, d in cals for s in d[:, 1]})
    print(
        f"{'form':20s} | gate worst: median  <=5%  <=5%+U "
        f"| leave one size out, median |err| (signed) per held-out size "
        f"| leave one rank count out, median |err| (signed) at 2 / 3 / 4 ranks"
    )
    for name, (share_on_alpha, source) in FORMS.items():
        gate, within, within_u = [], 0, 0
        loso: dict[float, list[float]] = {s: [] for s in sizes}
        loro: dict[int, list[float]] = {2: [], 3: [], 4: []}
        for _, d in cals:
            params = fit(d, share_on_alpha, source)
            err = (predict(d, params, share_on_alpha) - d[:, 2]) / d[:, 2]
            big = d[:, 1] >= 8 * MiB
            worst = float(np.max(np.abs(err[big])))
            gate.append(worst)
            within += worst <= 0.05
            within_u += float(np.max(np.abs(err[big]) - d[big, 3])) <= 0.05
            for s in sizes:
                keep = d[:, 1] != s
                pr = fit(d[keep], share_on_alpha, source)
                loso[s] += list((predict(d[~keep], pr, share_on_alpha) - d[~keep, 2]) / d[~keep, 2])
            for m in (2, 3, 4):
                keep = d[:, 0] != m
                pr = fit(d[keep], share_on_alpha, source)
                loro[m] += list((predict(d[~keep], pr, share_on_alpha) - d[~keep, 2]) / d[~keep, 2])
        cells = "  ".join(
            f"{int(s) // 1024 if s < MiB else int(s) // MiB}{'K' if s < MiB else 'M'} "
            f"{100 * np.median(np.abs(v)):4.1f} ({100 * np.median(v):+5.1f})"
            for s, v in loso.items()
        )
        ranks = "  ".join(f"{100 * np.median(np.abs(v)):4.1f} ({100 * np.median(v):+5.1f})" for v in loro.values())
        print(f"{name:20s} | {100 * np.median(gate):5.1f} % {within:3d} {within_u:5d} | {cells} | {ranks}")


if __name__ == "__main__":
    main()
