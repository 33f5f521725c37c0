"""The rule that chose ``validate_emulated.py --case-set fresh51`` (stop 51), written and run before any of its runs.

Stop 44's rule (``../validation-2026-12-06-q/draw_cases.py``, its docstring: 18 configurations within issue 10's
ranges, every coverage item forced, algorithms allotted, 1 and 2 ranks a node, buckets, accumulation, batches, two
other MLP shapes, ``overlap: false`` once, a straggler) drawn again with another seed, ``random.Random(51)``, and other
link rates: 125, 525 and 1025 Mbit/s, six cases each. No stored result of any kind names them (training runs'
``link_rate_bytes_per_s``: 175, 200, 225, 275, 300, 325, 350, 400, 500, 550, 575, 600, 625, 650, 675, 725, 800, 875,
925, 975, 1000, 1050, 1150, 1250; gloo's all-reduce grid ``rate_mbit_s``: 500, 600, 700, 750, 800, 850, 900, 950, 1000,
1100; every ``--rates`` list stored: also 100, 150, 250, 450, 1200, 1300, 2000; no code, test or README names them)
and the calibration does not use them (150 / 450 / 1200). So no case is a configuration any session ran, and fresh44
to fresh50 (seen now: models were judged on them) are not reused.

One repair, written before any run: with seed 51 stop 44's rule covers only 3-8 ranks one a node. Its straggler's case
is one of the first seven one-a-node cases, which take 2..8 once each, and drew 2; the rule redraws a straggler's
nodes below 3 (a straggler needs a worker other than 0 and 2 others) and none of the later cases drew 2, so 2 ranks
is not covered. A count the first seven leave out goes to the first later one-a-node case (in draw order; its other
fields unchanged, fewer ranks keep every batch limit). Every earlier seed (44-50) drew all of 2..8, so the repair
changes none of them (``tests/test_validate_emulated_cases.py`` checks both).

Prints the list as ``validate_emulated.FRESH51`` holds it (``tests/test_validate_emulated_cases.py`` checks the two
agree). Run: ``python benchmarks/results/validation-2026-12-07-f/draw_cases.py``.
"""

from __future__ import annotations

import runpy
from pathlib import Path

SEED, RATES_MBIT = 51, (125, 525, 1025)
RULE = Path(__file__).resolve().parent.parent / "validation-2026-12-06-q/draw_cases.py"  # stop 44's rule, unchanged


def repair(cases: list[list[tuple[str, object]]]) -> list[list[tuple[str, object]]]:
    """Stop 44's coverage of 2..8 ranks one a node, restored where its straggler's redraw lost a rank count: each
    missing count goes to a later one-a-node case (after the first seven, which the rule gives 2..8), in draw order."""
    one = [i for i, case in enumerate(cases) if "cluster.workers_per_node" not in dict(case)]
    missing = sorted(set(range(2, 9)) - {dict(cases[i])["cluster.nodes"] for i in one})
    cases = [list(case) for case in cases]
    for count, i in zip(missing, one[7:], strict=False):
        cases[i] = [("cluster.nodes", count) if key == "cluster.nodes" else (key, value) for key, value in cases[i]]
    return cases


def draw(seed: int = SEED, rates_mbit: tuple[int, int, int] = RATES_MBIT) -> list[list[tuple[str, object]]]:
    return repair(runpy.run_path(str(RULE))["draw"](seed, rates_mbit))


if __name__ == "__main__":
    print("\n".join(f"    {case}," for case in draw()))
