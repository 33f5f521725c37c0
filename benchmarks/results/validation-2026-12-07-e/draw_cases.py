"""The rule that chose ``validate_emulated.py --case-set fresh50`` (stop 50), written and run before any of its runs.

Stop 44's rule (``../validation-2026-12-06-q/draw_cases.py``, its docstring: 18 configurations within issue 10's
ranges, every coverage item forced, algorithms allotted, 1 and 2 ranks a node, buckets, accumulation, batches, two
other MLP shapes, ``overlap: false`` once, a straggler) drawn again with another seed, ``random.Random(50)``, and other
link rates: 175, 675 and 975 Mbit/s, six cases each. No stored result of any kind names them (training runs'
``link_rate_bytes_per_s``: 200, 225, 275, 300, 325, 350, 400, 500, 550, 575, 600, 625, 650, 725, 800, 875, 925, 1000,
1050, 1150, 1250; gloo's all-reduce grid ``rate_mbit_s``: 500, 600, 700, 750, 800, 850, 900, 950, 1000, 1100; every
``--rates`` list stored: also 100, 150, 250, 450, 1200, 1300, 2000) and the calibration does not use them (150 / 450 /
1200). So no case is a configuration any session ran, and fresh44 to fresh49 (seen now: models were judged on them)
are not reused.

Prints the list as ``validate_emulated.FRESH50`` holds it (``tests/test_validate_emulated_cases.py`` checks the two
agree). Run: ``python benchmarks/results/validation-2026-12-07-e/draw_cases.py``.
"""

from __future__ import annotations

import runpy
from pathlib import Path

SEED, RATES_MBIT = 50, (175, 675, 975)
RULE = Path(__file__).resolve().parent.parent / "validation-2026-12-06-q/draw_cases.py"  # stop 44's rule, unchanged


def draw() -> list[list[tuple[str, object]]]:
    return runpy.run_path(str(RULE))["draw"](SEED, RATES_MBIT)


if __name__ == "__main__":
    print("\n".join(f"    {case}," for case in draw()))
