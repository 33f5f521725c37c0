"""The rule that chose ``validate_emulated.py --case-set fresh45`` (stop 45), written and run before any of its runs.

Stop 44's rule (``../validation-2026-12-06-q/draw_cases.py``, its docstring: 18 configurations within issue 10's
ranges, every coverage item forced, algorithms allotted, 1 and 2 ranks a node, buckets, accumulation, batches, two
other MLP shapes, ``overlap: false`` once, a straggler) drawn again with another seed, ``random.Random(45)``, and other
link rates: 350, 650 and 1050 Mbit/s, six cases each. No stored result of any kind names them (training runs 200,
300, 500, 600, 700, 800, 1000; gloo's all-reduce grid 500, 600, 700, 750–1000 in steps of 50 and 1100; the link and
packet probes 100, 250, 524, 1300, 2000) and the calibration does not use them (150 / 450 / 1200). So no case is a
configuration any session ran, and fresh44 (seen now: models were judged on it) is not reused.

Prints the list as ``validate_emulated.FRESH45`` holds it (``tests/test_validate_emulated_cases.py`` checks the two
agree). Run: ``python benchmarks/results/validation-2026-12-06-r/draw_cases.py``.
"""

from __future__ import annotations

import runpy
from pathlib import Path

SEED, RATES_MBIT = 45, (350, 650, 1050)


def draw() -> list[list[tuple[str, object]]]:
    rule = runpy.run_path(str(Path(__file__).resolve().parent.parent / "validation-2026-12-06-q/draw_cases.py"))
    return rule["draw"](SEED, RATES_MBIT)


if __name__ == "__main__":
    for case in draw():
        print(f"    {case},")
