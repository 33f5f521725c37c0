"""The in-step all-reduce time of the runtime's point-to-point algorithms, measured against priced, per layout.

    PYTHONPATH=. python benchmarks/validate_emulated.py --reuse GROUP --refit --out OUT/NAME   (every stored group)
    PYTHONPATH=. python benchmarks/results/intra-55/onebucket.py OUT [ALGORITHM]

Measured: the critical rank's ``comm_s``, the sum of its buckets' all-reduce times on its communication thread,
start to end (``runtime.hooks``: the point-to-point algorithms record each bucket; gloo's own does not). Priced:
the analytic engine's ``comm_s`` for the same case. With one bucket nothing overlaps the backward, so the two
compare the collective itself inside the step. Without ALGORITHM: a table per algorithm, layout and bucket count;
with it, one line per case.
"""

from __future__ import annotations

import collections
import json
import statistics
import sys
from pathlib import Path


def cases(folder: Path):
    for d in sorted(p for p in folder.iterdir() if (p / "records.jsonl").exists()):
        records = [json.loads(line) for line in (d / "records.jsonl").read_text().splitlines() if line.strip()]
        measured = [r for r in records if r["engine"] == "runtime"]
        priced = [r for r in records if r["engine"] == "analytic"]
        for m, p in zip(measured, priced, strict=True):
            if m["comm_s"] <= 0:  # gloo's own all-reduce: the buckets' times are not observable
                continue
            nodes = len(m["extra"].get("namespaces", [])) - 1
            yield d.name, m, p, f"{nodes}x{m['world_size'] // max(nodes, 1)}", len(m["extra"].get("bucket_bytes", []))


def main() -> None:
    folder = Path(sys.argv[1])
    if len(sys.argv) > 2:
        for name, m, p, layout, buckets in cases(folder):
            if m["extra"].get("algorithm") != sys.argv[2]:
                continue
            rate = m["extra"].get("link_rate_bytes_per_s", 0) * 8 / 1e6
            print(
                f"{name[:26]:26s} {layout} {rate:5.0f} Mbit/s {buckets} bucket(s)  measured {1e3 * m['comm_s']:6.1f} "
                f"priced {1e3 * p['comm_s']:6.1f} ms  {100 * (p['comm_s'] / m['comm_s'] - 1):+6.1f} %"
            )
        return
    groups: dict[tuple[str, str, str], list[tuple[float, float]]] = collections.defaultdict(list)
    for _, m, p, layout, buckets in cases(folder):
        key = (m["extra"].get("algorithm", "?"), layout, "1 bucket" if buckets == 1 else "more")
        groups[key].append((1e3 * m["comm_s"], 1e3 * p["comm_s"]))
    print("algorithm        layout buckets  | cases | measured ms  priced ms | priced − measured: mean  median | under")
    for key in sorted(groups):
        rows = groups[key]
        diff = [b - a for a, b in rows]
        print(
            f"{key[0]:16s} {key[1]:6s} {key[2]:8s} | {len(rows):5d} | {statistics.mean(a for a, _ in rows):11.1f} "
            f"{statistics.mean(b for _, b in rows):10.1f} | {statistics.mean(diff):+22.1f} "
            f"{statistics.median(diff):+7.1f} "
            f"| {sum(d < 0 for d in diff)}/{len(diff)}"
        )


if __name__ == "__main__":
    main()
