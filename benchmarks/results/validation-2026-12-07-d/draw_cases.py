"""The rule that chose ``validate_emulated.py --case-set fresh49`` (stop 49), written and run before any of its runs.

Stop 44's rule (``../validation-2026-12-06-q/draw_cases.py``, its docstring: 18 configurations within issue 10's
ranges, every coverage item forced, algorithms allotted, 1 and 2 ranks a node, buckets, accumulation, batches, two
other MLP shapes, ``overlap: false`` once, a straggler) drawn again with another seed, ``random.Random(49)``, and other
link rates: 225, 575 and 925 Mbit/s, six cases each. No stored result of any kind names them (training runs'
``link_rate_bytes_per_s``: 200, 275, 300, 325, 350, 400, 500, 550, 600, 625, 650, 725, 800, 875, 1000, 1050, 1150,
1250; gloo's all-reduce grid ``rate_mbit_s``: 500, 600, 700, 750, 800, 850, 900, 950, 1000, 1100; every ``--rates``
list stored: also 100, 150, 250, 450, 1200, 1300, 2000) and the calibration does not use them (150 / 450 / 1200). So no
case is a configuration any session ran, and fresh44 to fresh48 (seen now: models were judged on them) are not reused.

Prints the list as ``validate_emulated.FRESH49`` holds it (``tests/test_validate_emulated_cases.py`` checks the two
agree). Run: ``python benchmarks/results/validation-2026-12-07-d/draw_cases.py``.
"""

from __future__ import annotations

import runpy
from pathlib import Path

SEED, RATES_MBIT = 49, (225, 575, 925)
RULE = Path(__file__).resolve().parent.parent / "validation-2026-12-06-q/draw_cases.py"  # stop 44's rule, unchanged


def draw() -> list[list[tuple[str, object]]]:
    return runpy.run_path(str(RULE))["draw"](SEED, RATES_MBIT)


if __name__ == "__main__":
    print("\n".join(f"    {case}," for case in draw()))
