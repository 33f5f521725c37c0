"""Issue 10 item 3 (terms, stop 51), a what-if, not priced: the barrier as the critical rank's extra compute from the
host sweep's max-of-k order statistic.

Each profile records, per k, the median over the sweep's rounds of the slowest of k processes over k = 1
(``host_model.slowest_slowdown``) beside the median one (``measured_slowdown``). Their ratio per k is noisy (k = 3 on
2 cores: 1.02-1.86), so one spread per profile: sigma = the median over k > 1 of (slowest/median - 1) / E_k, E_k the
expected largest of k standard normals (1 -> 0, 2 -> 0.5642, 4 -> 1.0294, 8 -> 1.4236). The what-if adds
compute x sigma x E_k to each multi-rank case's predicted step (no straggler) and scores the step MAPE over the
cases' median runs against the same cases as predicted.

    python benchmarks/validate_emulated.py --reuse benchmarks/results/G/P --out OUT/G:P   # each stored profile
    python benchmarks/results/terms-51/whatif.py OUT                                      # from the repository root

(OUT/G:P/validation.csv is what validate_emulated writes; the profile is read from benchmarks/results/G/P.)
"""

import csv
import statistics
import sys
from pathlib import Path

import yaml

E = {1: 0.0, 2: 0.5642, 3: 0.8463, 4: 1.0294, 5: 1.1630, 6: 1.2672, 7: 1.3522, 8: 1.4236}  # E[max of k N(0, 1)]


def main(out: Path) -> None:
    scores = []
    for folder in sorted(out.iterdir()):
        table = folder / "validation.csv"
        source = Path("benchmarks/results") / folder.name.replace(":", "/") / "profile.yaml"
        if not table.exists() or not source.exists():
            continue
        host = yaml.safe_load(source.read_text(encoding="utf-8"))["host_model"]
        median, slowest = host.get("measured_slowdown"), host.get("slowest_slowdown")
        if not slowest or not median:
            continue
        sigma = statistics.median((slowest[k] / median[k] - 1) / E[k] for k in slowest if k > 1 and k in median)
        before, after = [], []
        for row in csv.DictReader(table.open(encoding="utf-8")):
            k, measured = int(row["ranks"]), float(row["measured_step_time_s"])
            predicted, compute = (
                float(row["predicted_analytic_step_time_s"]),
                float(row["predicted_analytic_compute_s"]),
            )
            extra = compute * sigma * E.get(k, E[8]) if k > 1 and float(row["straggler"] or 1) == 1 else 0.0
            before.append(abs(predicted / measured - 1))
            after.append(abs((predicted + extra) / measured - 1))
        scores.append((folder.name, 100 * statistics.mean(before), 100 * statistics.mean(after), sigma))
    for name, b, a, s in scores:
        print(f"{name:36s} {b:5.2f} -> {a:5.2f} %  sigma {s:.3f}")
    better = sum(a < b for _, b, a, _ in scores)
    print(
        f"mean {statistics.mean(s[1] for s in scores):.2f} -> {statistics.mean(s[2] for s in scores):.2f} %, "
        f"{better} of {len(scores)} better"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
