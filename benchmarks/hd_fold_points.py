"""Halving–doubling on 3 ranks, as every stored calibration measured it and no fit used (issue 10, stop 47).

``dpsim calibrate`` benchmarks halving–doubling on 2, 3 and 4 ranks one a node, and fits the link on 2 and 4 only
(``runtime.calibrate._described``: on 3 ranks the extra rank folds in and out while the others wait). The 3-rank
points are therefore an independent check of how the engines price a rank count that is not a power of two: the
fold (1 sender), halving–doubling on 2 ranks (2 senders), the unfold (1 sender). For every stored calibration
(``benchmarks/results/**/calibration-bench.json`` beside a ``profile.yaml`` with a fitted shared-host
halving–doubling link; identical benchmark files counted once), it prints each large point (≥ 1 MiB) measured
against the engines' price (:func:`dpsim.analytic.step.calibrated_fabric`, phase by phase since stop 47:
:func:`dpsim.analytic.step.phase_shared_inter_link`) and against the price with every phase at the job's 3
senders (before), and the summary.

    PYTHONPATH=. python benchmarks/hd_fold_points.py
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser, one_line_errors
from dpsim.analytic.collectives import allreduce_time
from dpsim.analytic.step import calibrated_fabric
from dpsim.calibration import LinkModel, load_profile
from dpsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = """\
name: hd-fold-points
model: {kind: mlp, layers: 4, hidden: 768}
cluster:
  nodes: 3
  device: {peak_flops: 50 GFLOP/s, memory: 8 GB}
  intra_node: {bandwidth: 2 GB/s, latency: 20 us}
  inter_node: {bandwidth: 500 Mbit/s, latency: 50 us}
training: {global_batch: auto, micro_batch: 64, optimizer: adam, precision: fp32}
communication: {algorithm: halving-doubling}
"""


def rows(results: Path) -> list[dict[str, object]]:
    """Every large 3-rank halving–doubling all-reduce of every distinct stored calibration, measured and priced."""
    out: list[dict[str, object]] = []
    seen: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(SCENARIO, encoding="utf-8")
        for bench in sorted(results.glob("**/calibration-bench.json")):
            text = bench.read_text(encoding="utf-8")
            digest = hashlib.sha256(text.encode()).hexdigest()
            profile_path = bench.with_name("profile.yaml")
            if digest in seen or not profile_path.exists():
                continue
            profile = load_profile(profile_path)
            link = profile.links.get("inter", {}).get("halving-doubling")
            if profile.host_model is None or not isinstance(link, LinkModel) or link.sharpness is None:
                continue
            seen.add(digest)
            for r in json.loads(text):
                if (r["collective"] != "all_reduce" or r["algorithm"] != "halving-doubling" or r["ranks"] != 3
                        or r["link_class"] != "inter" or r["size_bytes"] < 2**20):  # fmt: skip
                    continue
                mbit = r["rate_bytes_per_s"] * 8 / 1e6
                s = load_scenario(path, [f"cluster.inter_node.bandwidth={mbit:g} Mbit/s"])
                rate, every = s.cluster.inter_node.bandwidth, profile.host_model.comm_share(3)
                size = float(r["size_bytes"])
                before = 4 * link.latency_s * every + 3 * size * link.per_byte_s(rate, every)
                now = allreduce_time("halving-doubling", size, calibrated_fabric(s, profile))
                out.append({"calibration": str(bench.parent.relative_to(results)), "MiB": size / 2**20,
                            "Mbit/s": mbit, "measured_s": r["time_s"], "before_s": before, "now_s": now})  # fmt: skip
    return out


@one_line_errors
def main() -> int:
    Parser(description=__doc__.splitlines()[0]).parse_args()
    table = rows(ROOT / "benchmarks" / "results")
    if not table:
        print("no stored calibration with a shared-host halving-doubling link and 3-rank points")
        return 1
    err_before, err_now = [], []
    for row in table:
        m = float(row["measured_s"])  # type: ignore[arg-type]
        b, n = (float(row["before_s"]) / m - 1) * 100, (float(row["now_s"]) / m - 1) * 100  # type: ignore[arg-type]
        err_before.append(b)
        err_now.append(n)
        print(f"{row['calibration']:40s} {row['MiB']:4.0f} MiB {row['Mbit/s']:6.0f} Mbit/s  measured {m * 1e3:8.1f} ms"
              f"  every phase at 3 senders {b:+6.1f} %  phase by phase {n:+6.1f} %")  # fmt: skip
    closer = sum(abs(n) < abs(b) for b, n in zip(err_before, err_now, strict=True))
    mean_before, mean_now = statistics.mean(map(abs, err_before)), statistics.mean(map(abs, err_now))
    print(f"{len(table)} points of {len({r['calibration'] for r in table})} calibrations: mean |error| every phase at "
          f"3 senders {mean_before:.2f} %, phase by phase {mean_now:.2f} %; mean error "
          f"{statistics.mean(err_before):+.2f} / {statistics.mean(err_now):+.2f} %; worst "
          f"{max(err_before, key=abs):+.1f} / {max(err_now, key=abs):+.1f} %; "
          f"closer on {closer} of {len(table)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
