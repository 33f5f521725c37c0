"""BigScience's micro-batch sweeps on DeepSpeed's pipeline engine against the engines' ratios.

Run: ``python benchmarks/bigscience_micro_batch.py [--engine analytic|sim]``. BigScience's tr11 chronicle
(bigscience-workshop/bigscience ``train/tr11-176B-ml/chronicles-prequel.md``, "48 node contenders", 21 Feb 2022,
seconds per iteration at iteration 2) timed a 72-layer, hidden-14,336 prototype of BLOOM at TP 8 on 48 nodes,
PP 12 / DP 4 and PP 6 / DP 8, global batch 2,048, at micro-batch 1, 2, 4 (and 8). Its code and settings then are
not BLOOM's final ones, so only the ratios between micro-batches are compared: each row is BLOOM's published
scenario (:data:`published_runs.PUBLISHED_RUNS`) with those layers and degrees, and the iteration time at
micro-batch m over that at micro-batch 2 and at micro-batch 4, measured and predicted. Nothing is fitted.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

from published_runs import PUBLISHED_RUNS, PublishedRun, predict_run

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.script_cli import Parser

MEASURED_S = {
    (12, 1): 143.31,
    (12, 2): 134.02,
    (12, 4): 123.69,
    (12, 8): 129.26,
    (6, 1): 139.82,
    (6, 2): 131.02,
    (6, 4): 121.48,
}
"""(pipeline stages, micro-batch) -> seconds per iteration (chronicles-prequel.md, 21 Feb 2022)."""


def prototype(pp: int, micro_batch: int) -> PublishedRun:
    """BLOOM's scenario with the prototype's 72 layers, TP 8, ``pp`` stages and ``micro_batch``."""
    (bloom,) = (r for r in PUBLISHED_RUNS if r.name.startswith("BLOOM"))
    data = copy.deepcopy(dict(bloom.scenario))
    model = {k: v for k, v in data["model"].items() if k != "parameters"}
    data["model"] = {**model, "layers": 72}
    update = {
        "tensor_parallel": 8,
        "pipeline_parallel": pp,
        "micro_batch": micro_batch,
        "embedding_pipeline_slots": False,
    }
    data["training"] = {**data["training"], **update}
    return PublishedRun(f"prototype pp {pp} mb {micro_batch}", "", 1.0, "seconds", data)


def main() -> None:
    parser = Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("analytic", "sim"), default="analytic")
    engine = parser.parse_args().engine
    print("PP  DP  micro-batch  measured s  predicted s  / mb 2 measured  predicted  / mb 4 measured  predicted")
    for pp in (12, 6):
        predicted = {mb: predict_run(prototype(pp, mb), engine)[1].step_time_s for (p, mb) in MEASURED_S if p == pp}
        for mb, seconds in sorted(predicted.items()):
            measured = MEASURED_S[(pp, mb)]
            print(
                f"{pp:2d}  {48 * 8 // (8 * pp):2d}  {mb:11d}  {measured:10.2f}  {seconds:11.2f}  "
                f"{measured / MEASURED_S[(pp, 2)]:15.3f}  {seconds / predicted[2]:9.3f}  "
                f"{measured / MEASURED_S[(pp, 4)]:15.3f}  {seconds / predicted[4]:9.3f}"
            )


if __name__ == "__main__":
    main()
