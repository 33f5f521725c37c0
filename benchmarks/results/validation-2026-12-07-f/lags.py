"""When each rank leaves the step's last collective, per algorithm (``extra.per_rank_release_lag_s``, stop 50's record;
no root): for terms' ``completion_fractions`` (leads50 ## emu).

PYTHONPATH=. python benchmarks/results/validation-2026-12-07-f/lags.py RUNS.jsonl

Per case: algorithm, ranks (× per node), the buckets' bytes, and per run the ranks' release lags after the first rank
to leave (ms, rank order); then per algorithm the median and largest spread (last − first) over its runs.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

runs = [json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines() if line.strip()]
runs = [r for r in runs if r.get("engine") == "runtime" and r["extra"].get("per_rank_release_lag_s")]
spreads: dict[str, list[float]] = defaultdict(list)
for r in runs:
    extra = r["extra"]
    lags = {int(k): v for k, v in extra["per_rank_release_lag_s"].items()}
    first = min(lags.values())
    rel = [1e3 * (lags[k] - first) for k in sorted(lags)]
    spreads[r["algorithm"]].append(max(rel))
    per_node = r["world_size"] // max(1, len(extra.get("namespaces", [])) - 1) if extra.get("namespaces") else 1
    mb = "+".join(f"{b / 2**20:.2f}" for b in extra.get("bucket_bytes", []))
    rate = 8 * extra["link_rate_bytes_per_s"] / 1e6
    print(f"{r['algorithm']:17s} {r['world_size']} ranks ({per_node}/node) buckets {mb} MiB, {rate:.0f} Mbit/s: "
          f"lags ms {' '.join(f'{x:.0f}' for x in rel)}")  # fmt: skip
print()
for alg, values in sorted(spreads.items()):
    median = statistics.median(values)
    print(f"{alg:17s} runs {len(values):2d}: spread (last - first rank to leave) median {median:.1f} ms, largest "
          f"{max(values):.1f} ms")  # fmt: skip
