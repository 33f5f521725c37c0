"""The rule that chose ``validate_emulated.py --case-set fresh44`` (stop 44), written and run before any of its runs.

A seeded draw (``random.Random(44)``) within issue 10's ranges, with every coverage item forced:

- 18 configurations; algorithms allotted, not drawn: backend 6, ring 3, tree 3, halving-doubling 3, hierarchical 3.
- 2 ranks a node for the 3 hierarchical cases, 2 backend cases and 1 ring case (6 of 18), 1 for the rest.
  One a node: nodes 2..8, the first seven cases (in draw order) take 2, 3, …, 8 in a shuffled order (every rank
  count from 2 to 8 once), the rest uniform in 2..8. Two a node: nodes uniform in 2..4 (4, 6, 8 ranks), with 8 ranks
  forced once.
- Link rates 300, 600 and 800 Mbit/s, six cases each, shuffled: rates no stored training run of any case set used
  (validate_emulated: 200 / 500 / 1000; plain_ddp: 500 / 700 / 1000) and none the calibration uses (150 / 450 / 1200).
- Buckets (MiB) 1 twice, 100 twice (the range's ends), the other 14 from 1, 3, 5, 7, 10, 16, 25, 50, 100 at
  index ⌊exp U(0, ln 9)⌋ − 1 (the smaller more often), none a calibration size (2, 8, 32 MiB are benchmarked sizes).
- Accumulation: 1 ×7, 2 ×4, 3 ×2, 4 ×2, 6, 8 ×2 (1 and 8 forced), shuffled.
- Samples a rank per micro-batch: 32 once and 256 once forced, the rest log-uniform in [32, 256] rounded to a multiple
  of 8; a draw is taken again while micro-batch × accumulation > 512 (a rank's samples a step: the stored sets' largest)
  or ranks × micro-batch × accumulation > 2048 (the run's length on 2 cores).
- Two backend cases (one a node) get another MLP shape: layers from 3, 5, hidden from 640, 896, 1152 (none on the
  calibration's compute grid, 256 / 512 / 1024 / 2048).
- One ring or tree case (one a node) runs with ``overlap: false``; one backend case (one a node, ≥ 3 ranks) has a
  straggler: a worker other than 0, slowdown 1.25, 1.5 or 1.75.

Prints the list as ``validate_emulated.FRESH44`` holds it (``tests/test_validate_emulated_cases.py`` checks the two
agree). Run: ``python benchmarks/results/validation-2026-12-06-q/draw_cases.py``.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # benchmarks/: the script's field names
from validate_emulated import ACC, ALG, BUCKET, MB, NODES, PER_NODE, RATE


def draw(seed: int = 44, rates_mbit: tuple[int, int, int] = (300, 600, 800)) -> list[list[tuple[str, object]]]:
    """The rule's draw; ``seed`` and the three link rates are its only parameters (stop 45's ``fresh45`` draws it
    again with 45 and other rates: ``validation-2026-12-06-r/draw_cases.py``)."""
    rng = random.Random(seed)
    algorithms = ["backend"] * 6 + ["ring"] * 3 + ["tree"] * 3 + ["halving-doubling"] * 3 + ["hierarchical"] * 3
    two = [True] * 2 + [False] * 4 + [True] + [False] * 8 + [True] * 3  # backend 2, ring 1, hierarchical 3
    rates = list(rates_mbit) * 6
    rng.shuffle(rates)
    accumulation = [1] * 7 + [2] * 4 + [3, 3, 4, 4, 6, 8, 8]
    rng.shuffle(accumulation)
    every_rank = list(range(2, 9))
    rng.shuffle(every_rank)
    menu = [1, 3, 5, 7, 10, 16, 25, 50, 100]
    buckets = [1, 1, 100, 100] + [menu[min(len(menu) - 1, int(math.exp(rng.uniform(0, math.log(len(menu))))) - 1)]
                                  for _ in range(14)]  # fmt: skip
    rng.shuffle(buckets)
    forced_batches = {rng.randrange(18): 32}
    forced_batches[rng.choice([i for i in range(18) if i not in forced_batches])] = 256
    one_node_backend = [i for i in range(18) if algorithms[i] == "backend" and not two[i]]
    shaped = rng.sample(one_node_backend, 2)
    straggler = rng.choice([i for i in one_node_backend if i not in shaped])
    no_overlap = rng.choice([i for i in range(18) if algorithms[i] in ("ring", "tree") and not two[i]])
    cases = []
    one_a_node = 0
    forced_eight = rng.choice([i for i in range(18) if two[i]])
    for i in range(18):
        if two[i]:
            nodes = 4 if i == forced_eight else rng.randint(2, 4)
        else:
            nodes = every_rank[one_a_node] if one_a_node < 7 else rng.randint(2, 8)
            one_a_node += 1
            if i == straggler and nodes < 3:
                nodes = rng.randint(3, 8)
        ranks = nodes * (2 if two[i] else 1)
        acc = accumulation[i]
        limit = 256 if i in shaped else 512
        while True:
            mb = forced_batches.get(i) or 8 * round(math.exp(rng.uniform(math.log(32), math.log(256))) / 8)
            if mb * acc <= limit and ranks * mb * acc <= 2048:
                break
            if i in forced_batches:  # a forced batch keeps its value: the accumulation gives way
                acc = max(a for a in (1, 2, 3, 4, 6, 8) if mb * a <= limit and ranks * mb * a <= 2048)
                break
        case: list[tuple[str, object]] = [(NODES, nodes)]
        if two[i]:
            case.append((PER_NODE, 2))
        if algorithms[i] != "backend":
            case.append((ALG, algorithms[i]))
        if i in shaped:
            case += [("model.layers", rng.choice([3, 5])), ("model.hidden", rng.choice([640, 896, 1152]))]
        case.append((MB, mb))
        if acc != 1:
            case.append((ACC, acc))
        case += [(BUCKET, f"{buckets[i]} MiB"), (RATE, f"{rates[i]} Mbit/s")]
        if i == no_overlap:
            case.append(("communication.overlap", False))
        if i == straggler:
            case.append(("variability.stragglers", [{"worker": rng.randint(1, ranks - 1),
                                                     "slowdown": rng.choice([1.25, 1.5, 1.75])}]))  # fmt: skip
        cases.append(case)
    return cases


if __name__ == "__main__":
    for case in draw():
        print(f"    {case},")
