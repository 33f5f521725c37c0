"""Where the engines differ on the tree: each engine's step and critical-rank exposed error, from saved breakdowns.

Each argument is the saved output of ``validate_emulated.py --reuse GROUP --breakdown`` (this branch's code), e.g.

    PYTHONPATH=. python benchmarks/validate_emulated.py --reuse benchmarks/results/validation-2026-12-07-g/all \\
        --breakdown > 07-g.txt
    python benchmarks/results/calib-53/tree_split.py 07-g.txt ...

For the tree cases whose median-run step differs between the engines: mean |step error| of each, how often the
simulator is closer, and the critical rank's exposed communication |error| of each. Text parsing only.
"""

from __future__ import annotations

import re
import statistics as st
import sys
from pathlib import Path

ROW = re.compile(r"\s+(\d+)" + r"\s+([-\d.]+) /\s+([-\d.]+)" * 5)


def table(text: str, title: str) -> dict[int, list[float]]:
    """``title``'s per-case measured / predicted ms: compute, exposed, optimizer, rest, step."""
    rows = {}
    for line in text.split(title)[1].split("mean residual")[0].splitlines():
        m = ROW.match(line)
        if m:
            rows[int(m.group(1))] = [float(x) for x in m.groups()[1:]]
    return rows


def labels(text: str) -> list[str]:
    out = []
    for line in text.split("case  ranks calibration_overlap")[1].splitlines()[1:]:
        if not line.strip() or line.startswith("MAPE"):
            break
        out.append(line)
    return out


def main() -> None:
    step_a, step_s, exp_a, exp_s = [], [], [], []
    for arg in sys.argv[1:]:
        text = Path(arg).read_text()
        a, s = table(text, "analytic, slowest rank"), table(text, "sim, slowest rank")
        for i, label in enumerate(labels(text)):
            if "algorithm=tree" not in label or abs(a[i][9] - s[i][9]) < 1e-6:
                continue
            step_a.append(100 * abs(a[i][9] / a[i][8] - 1))
            step_s.append(100 * abs(s[i][9] / s[i][8] - 1))
            exp_a.append(abs(a[i][3] - a[i][2]))
            exp_s.append(abs(s[i][3] - s[i][2]))
    closer = sum(y < x for x, y in zip(step_a, step_s, strict=True))
    print(f"tree cases where the engines differ: {len(step_a)}; mean |step error| analytic {st.mean(step_a):.2f} %, "
          f"simulator {st.mean(step_s):.2f} % (simulator closer in {closer}); critical rank's exposed |error| "
          f"analytic {st.mean(exp_a):.1f} ms, simulator {st.mean(exp_s):.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
