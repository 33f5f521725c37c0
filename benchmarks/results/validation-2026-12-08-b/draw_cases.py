"""The rule that chose ``validate_emulated.py --case-set fresh55`` (stop 55), written and run before any of its runs.

Stop 44's rule (``../validation-2026-12-06-q/draw_cases.py``, its docstring: 18 configurations within issue 10's
ranges, every coverage item forced, algorithms allotted, 1 and 2 ranks a node, buckets, accumulation, batches, two
other MLP shapes, ``overlap: false`` once, a straggler) with stop 51's repair (``../validation-2026-12-07-f/
draw_cases.py``: a rank count one a node that the straggler's redraw loses goes to a later one-a-node case), drawn again
with another seed, ``random.Random(55)``, and other link rates: 260, 610 and 1130 Mbit/s, six cases each. No stored
result of any kind names them (checked before the draw: every rate a training run gives as ``link_rate_bytes_per_s``,
gloo's grid ``rate_mbit_s`` or a stored ``--rates`` list is one of 1, 100, 125, 150, 175, 200, 225, 250, 275, 290, 300,
325, 350, 375, 400, 450, 500, 525, 550, 575, 600, 625, 650, 675, 690, 700, 725, 750, 800, 825, 850, 875, 900, 925, 950,
975, 1000, 1025, 1050, 1090, 1100, 1150, 1175, 1200, 1250, 1300, 2000 Mbit/s, or a range in steps of 100; no code,
test, scenario or README names 260 / 610 / 1130 Mbit/s, 2.6e8 / 6.1e8 / 1.13e9 bit/s or their byte rates) and the
calibration does not use them (150 / 450 / 1200). So no case is a configuration any session ran, and fresh44 to fresh53
(seen now: models were judged on them) are not reused.

Prints the list as ``validate_emulated.FRESH55`` holds it (``tests/test_validate_emulated_cases.py`` checks the two
agree). Run: ``python benchmarks/results/validation-2026-12-08-b/draw_cases.py``.
"""

from __future__ import annotations

import runpy
from pathlib import Path

SEED, RATES_MBIT = 55, (360, 740, 1060)
RULE = Path(__file__).resolve().parent.parent / "validation-2026-12-07-f/draw_cases.py"  # stop 44's rule + 51's repair


def draw(seed: int = SEED, rates_mbit: tuple[int, int, int] = RATES_MBIT) -> list[list[tuple[str, object]]]:
    return runpy.run_path(str(RULE))["draw"](seed, rates_mbit)


if __name__ == "__main__":
    print("\n".join(f"    {case}," for case in draw()))
