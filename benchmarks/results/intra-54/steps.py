"""Per-step cost of the intra-node all-reduces: the small messages' against the large ones' line (stored data only).

PYTHONPATH=. python benchmarks/results/intra-54/steps.py [ALGORITHM]   (default ring; a second)

Over the distinct stored calibrations (``forms.py``'s set), per rank count: the median of the 8 KiB and 64 KiB
all-reduces' time per closed-form step, the median per-step intercept of the line through the 8 and 32 MiB points
(time against the closed form's bytes), and how many calibrations have that intercept below the 8 KiB step.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forms import ALG, MiB, calibrations

from dpsim.calibration import closed_form_coefficients

cals = calibrations()
print(f"intra {ALG}, {len(cals)} calibrations: medians per closed-form step, ms")
for n in (2, 3, 4):
    small8, small64, intercept, below = [], [], [], 0
    for _, d in cals:
        t = {(int(r[0]), int(r[1])): r[2] for r in d}
        a8, b8 = closed_form_coefficients(ALG, n, 8 * MiB)
        b32 = closed_form_coefficients(ALG, n, 32 * MiB)[1]
        line = t[(n, 8 * MiB)] - b8 * (t[(n, 32 * MiB)] - t[(n, 8 * MiB)]) / (b32 - b8)
        k8 = next(s for (m, s) in t if m == n and s < 32 * 1024)
        k64 = next(s for (m, s) in t if m == n and 32 * 1024 <= s < MiB)
        steps = closed_form_coefficients(ALG, n, k8)[0]
        small8.append(t[(n, k8)] / steps)
        small64.append(t[(n, k64)] / closed_form_coefficients(ALG, n, k64)[0])
        intercept.append(line / a8)
        below += line / a8 < t[(n, k8)] / steps
    quartiles = statistics.quantiles(intercept, n=4)
    print(
        f"  {n} ranks: 8 KiB {1e3 * statistics.median(small8):.2f}, 64 KiB {1e3 * statistics.median(small64):.2f}, "
        f"8-32 MiB line's intercept {1e3 * statistics.median(intercept):.2f} "
        f"(quartiles {1e3 * quartiles[0]:.2f}-{1e3 * quartiles[2]:.2f}); "
        f"intercept below the 8 KiB step in {below} of {len(cals)}"
    )
