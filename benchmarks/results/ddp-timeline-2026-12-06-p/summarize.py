"""Per bucket, per case: when the ranks hand each bucket over and when gloo completes it, against the wire (no root).

Reads ``work/<set><index>-run<r>/rank*.json`` (``benchmarks/ddp_timeline.py``'s per-rank records, every rank kept) and
prints, medians over the measured steps, on the host's one monotonic clock, relative to the median rank's step start:
- the ranks' spread: each rank's backward compute end (last gradient) minus the median rank's, the largest;
- per bucket: its bytes, the median rank's and the last rank's hand-over, the completion (median over ranks), the
  wire time of that bucket alone (gloo's ring: 2(n-1)/n x bytes at the rate x 1448/1514), and the completion minus
  max(last hand-over, previous bucket's completion): what the bucket took once it could start, serial reading;
- the whole: last completion minus (last rank's hand-over of bucket 0 + the wire time of every bucket's bytes).

    PYTHONPATH=. python benchmarks/results/ddp-timeline-2026-12-06-p/summarize.py [DIR]
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, "benchmarks")
import plain_ddp

ETA = 1448 / 1514


def wire(n: int, nbytes: float, rate: float) -> float:
    return 2 * (n - 1) / n * nbytes / (rate * ETA)


def case_rows(run: Path, rate: float) -> str:
    ranks = [json.loads(p.read_text()) for p in sorted(run.glob("rank*.json"))]
    n, warm = len(ranks), ranks[0]["warmup_steps"]
    med = statistics.median
    steps = sorted({s["step"] for s in ranks[0]["steps"]} - set(range(warm)))
    per_step = []
    for k in steps:
        rows = [{s["step"]: s for s in r["steps"]}[k] for r in ranks]
        t0 = med(s["t0"] for s in rows)
        ends = [s["micro"][-1]["grad_last"] for s in rows]
        acc = {"skew_max": max(ends) - med(ends), "skew_range": max(ends) - min(ends), "b": []}
        prev = None
        for b in range(len(rows[0]["buckets"])):
            hand = [s["buckets"][b]["launch"] for s in rows]
            done = med(s["buckets"][b]["done"] for s in rows)
            nbytes = rows[0]["buckets"][b]["bytes"]
            start = max(max(hand), prev) if prev is not None else max(hand)
            acc["b"].append({"bytes": nbytes, "hand_med": med(hand) - t0, "hand_last": max(hand) - t0,
                             "done": done - t0, "wire": wire(n, nbytes, rate), "took": done - start})  # fmt: skip
            prev = done
        total = sum(b["bytes"] for b in acc["b"])
        first_last = max(s["buckets"][0]["launch"] for s in rows) - t0
        acc["excess"] = acc["b"][-1]["done"] - (first_last + wire(n, total, rate))
        acc["wire_all"] = wire(n, total, rate)
        acc["opt"] = med(s["opt"][1] - s["opt"][0] for s in rows)
        acc["opt_share"] = med(s.get("opt_cpu", float("nan")) / (s["opt"][1] - s["opt"][0]) for s in rows)
        per_step.append(acc)
    ms = lambda v: f"{1e3 * v:.1f}"  # noqa: E731
    m = lambda key: med(a[key] for a in per_step)  # noqa: E731
    out = [f"  {n} ranks, {len(per_step)} steps: compute-end spread max-median {ms(m('skew_max'))} ms, range "
           f"{ms(m('skew_range'))}; optimizer {ms(m('opt'))} ms at {m('opt_share'):.2f} of a core; all buckets' "
           f"wire {ms(m('wire_all'))}; last completion - (last hand-over of bucket 0 + wire of all) = "
           f"{ms(m('excess'))} ms"]  # fmt: skip
    for i in range(len(per_step[0]["b"])):
        g = lambda key: med(a["b"][i][key] for a in per_step)  # noqa: B023, E731
        out.append(f"    bucket {i}: {g('bytes') / 2**20:.2f} MiB handed over {ms(g('hand_med'))} (median rank) / "
                   f"{ms(g('hand_last'))} (last), done {ms(g('done'))}; wire {ms(g('wire'))}; took {ms(g('took'))} "
                   f"from max(last hand-over, previous done)")  # fmt: skip
    return "\n".join(out)


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/ddp-timeline-2026-12-06-p")
    for run in sorted((folder / "work").iterdir()):
        name, rep = run.name.rsplit("-run", 1)
        case_set = name.rstrip("0123456789") or "heldout"
        case_set = "heldout" if case_set == "case" else case_set
        index = int(name[len(name.rstrip("0123456789")) :])
        case = plain_ddp._cases((), case_set)[index]
        rate = case.scenario.cluster.inter_node.bandwidth
        print(f"{case_set} {index} repeat {rep}: {case.label}")
        print(case_rows(run, rate))


if __name__ == "__main__":
    main()
