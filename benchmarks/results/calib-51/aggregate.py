"""Read split.py's output: every stored case's step error and exposed-communication error per variant, grouped by
algorithm, layout (nodes x ranks a node) and bucket count; and per group, which variant wins.

    PYTHONPATH=. python benchmarks/results/calib-51/aggregate.py SPLIT.txt
"""

import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def rows(text: str) -> tuple[list[str], list[dict]]:
    variants = re.search(r"variants: (.*?);", text).group(1).split(" / ")
    out, group = [], ""
    for line in text.splitlines():
        if line.startswith("## "):
            group = line[3:].split(":")[0]
            continue
        m = re.match(r"\s*(\d+)\s+(\S+)\s+(\d+)x(\d+)\s+(\d+)\s+(\d+)\s+(.*)", line)
        if not m:
            continue
        cells = m.group(7).split()
        terms = [[float(v.rstrip("%")) for v in cell.split("/")] for cell in cells]
        out.append({"group": group, "case": int(m.group(1)), "algorithm": m.group(2), "nodes": int(m.group(3)),
                    "per_node": int(m.group(4)), "buckets": int(m.group(5)), "rate": int(m.group(6)),
                    "step": terms[0], "compute": terms[1], "exposed": terms[2], "optimizer": terms[3],
                    "barrier": terms[4]})  # fmt: skip
    return variants, out


def main() -> None:
    variants, cases = rows(Path(sys.argv[1]).read_text())
    names = " / ".join(variants)
    print(f"{len(cases)} cases; variants {names}")
    print("mean |step error| %: " + " / ".join(f"{statistics.mean(abs(c['step'][i]) for c in cases):.2f}"
                                                 for i in range(len(variants))))  # fmt: skip
    for key, label in (("algorithm", "algorithm"), ("per_node", "ranks a node"), ("buckets", "buckets"),
                       ("layout", "layout")):  # fmt: skip
        print(f"\nby {label}: cases, mean |step error| % ({names}), mean step error %, mean exposed error ms "
              "(predicted - measured), mean barrier error ms, mean compute error ms")  # fmt: skip
        by: dict = defaultdict(list)
        for c in cases:
            k = f"{c['nodes']}x{c['per_node']}" if key == "layout" else c[key]
            by[k].append(c)
        for k in sorted(by, key=str):
            cs = by[k]
            cells = []
            for term, fmt in (("step", "{:.2f}"),):
                cells.append("/".join(fmt.format(statistics.mean(abs(c[term][i]) for c in cs))
                                      for i in range(len(variants))))  # fmt: skip
            cells.append("/".join(f"{statistics.mean(c['step'][i] for c in cs):+.2f}" for i in range(len(variants))))
            cells.append("/".join(f"{statistics.mean(c['exposed'][i] for c in cs):+.1f}"
                                  for i in range(len(variants))))  # fmt: skip
            cells.append(f"{statistics.mean(c['barrier'][0] for c in cs):+.1f}")
            cells.append(f"{statistics.mean(c['compute'][0] for c in cs):+.1f}")
            print(f"  {k!s:>16} {len(cs):4d}  " + "  ".join(f"{c:>22}" for c in cells))
    print("\nper group: step MAPE per variant, and the cases whose |step error| grew most under the last variant")
    by_group: dict = defaultdict(list)
    for c in cases:
        by_group[c["group"]].append(c)
    worse = [0] * len(variants)
    for g, cs in by_group.items():
        mapes = [statistics.mean(abs(c["step"][i]) for c in cs) for i in range(len(variants))]
        for i in range(1, len(variants)):
            worse[i] += mapes[i] > mapes[0] + 1e-9
        print(f"  {g:40} " + " / ".join(f"{m:.2f}" for m in mapes))
    print("groups worse than main: " + ", ".join(f"{variants[i]} {worse[i]} of {len(by_group)}"
                                                 for i in range(1, len(variants))))  # fmt: skip


if __name__ == "__main__":
    main()
