"""The rule that chose ``validate_emulated.py --case-set fresh47`` (stop 47), written and run before any of its runs.

Stop 44's rule (``../validation-2026-12-06-q/draw_cases.py``, its docstring: 18 configurations within issue 10's
ranges, every coverage item forced, algorithms allotted, 1 and 2 ranks a node, buckets, accumulation, batches, two
other MLP shapes, ``overlap: false`` once, a straggler) drawn again with another seed, ``random.Random(47)``, and other
link rates: 325, 725 and 1250 Mbit/s, six cases each. No stored result of any kind names them (training runs 200,
300, 350, 400, 500, 550, 600, 650, 800, 1000, 1050, 1150; gloo's all-reduce grid 500, 600, 700, 750–1000 in steps of
50 and 1100 (so not 750, which stop 46's leads proposed); the link and packet probes 100, 250, 524, 1300, 2000)
and the calibration does not use them (150 / 450 / 1200). So no case is a configuration any session ran, and fresh44,
fresh45 and fresh46 (seen now: models were judged on them) are not reused.

Prints the list as ``validate_emulated.FRESH47`` holds it (``tests/test_validate_emulated_cases.py`` checks the two
agree). Run: ``python benchmarks/results/validation-2026-12-07-b/draw_cases.py``.
"""

from __future__ import annotations

import runpy
from pathlib import Path

SEED, RATES_MBIT = 47, (325, 725, 1250)
RULE = Path(__file__).resolve().parent.parent / "validation-2026-12-06-q/draw_cases.py"  # stop 44's rule, unchanged


def draw() -> list[list[tuple[str, object]]]:
    return runpy.run_path(str(RULE))["draw"](SEED, RATES_MBIT)


if __name__ == "__main__":
    print("\n".join(f"    {case}," for case in draw()))
