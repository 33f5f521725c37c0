#!/bin/bash
# After window 2 (no root): the three repeats of fresh47 in one folder (case by case, repeat order: R1's run (R1b's
# where the 5 % gate refused W1's calibration), then R23's two), priced by this checkout's code (main at window time)
# with window 1's profile (both engines, --breakdown), with each further defaults calibration's (CAL2.. → all-cal2..)
# and with the newest stored profile before the windows (validation-2026-12-07-a/all, the first prediction's); then
# the per-case table (validation-2026-12-06-q/table.py).
# Registered model commits: post.sh SHA... with TREES set to a folder holding a checkout of each as emu-<sha>
# (git archive <sha> | tar -x -C DIR); each prices every calibration, stored fits and --refit.
cd "$(git rev-parse --show-toplevel)"
D=$PWD/benchmarks/results/validation-2026-12-07-b
PY=${PY:-python}
export PYTHONPATH=.
CALS=$(for c in CAL2 CAL3 CAL4; do [ -f $D/$c/profile.yaml ] && echo $c; done)
mkdir -p $D/all
$PY - $CALS <<'PYEOF'
import json
import sys
from pathlib import Path
D = Path("benchmarks/results/validation-2026-12-07-b")
first = D / ("R1b" if (D / "R1b/runs.jsonl").exists() else "R1")
r1 = (first / "runs.jsonl").read_text().splitlines()
r23 = (D / "R23/runs.jsonl").read_text().splitlines()
assert len(r1) == 18 and len(r23) == 36, (len(r1), len(r23))
lines = [line for i in range(18) for line in (r1[i], r23[2 * i], r23[2 * i + 1])]
for folder in ["all"] + [f"all-{c.lower()}" for c in sys.argv[1:]]:
    (D / folder).mkdir(exist_ok=True)
    (D / folder / "runs.jsonl").write_text("\n".join(lines) + "\n")
    (D / folder / "summary.json").write_text(json.dumps({"case_set": "fresh47"}) + "\n")
PYEOF
cp $D/R1/profile.yaml $D/R1/calibration-bench.json $D/all/
for c in $CALS; do cp $D/$c/profile.yaml $D/$c/calibration-bench.json $D/all-${c,,}/; done
if [ $# -eq 0 ]; then
  $PY benchmarks/validate_emulated.py --reuse $D/all --breakdown --out $D/all/reuse > $D/all/reuse-breakdown.txt 2>&1
  pairs="R1=reuse"
  for c in $CALS; do
    $PY benchmarks/validate_emulated.py --reuse $D/all-${c,,} --breakdown --out $D/all/reuse-${c,,} \
      > $D/all/reuse-${c,,}.txt 2>&1
    pairs="$pairs $c=reuse-${c,,}"
  done
  $PY benchmarks/validate_emulated.py --reuse $D/all --profile benchmarks/results/validation-2026-12-07-a/all/profile.yaml \
    --breakdown --out $D/all/reuse-a-profile > $D/all/reuse-a-profile.txt 2>&1
  $PY benchmarks/results/validation-2026-12-06-q/table.py $D/all $pairs -a=reuse-a-profile > $D/table.txt
fi
for sha in "$@"; do  # a registered commit's model on the same runs
  tree=${TREES:?set TREES to the folder holding emu-<sha> checkouts}/emu-$sha
  grep -q '^FRESH47' $tree/benchmarks/validate_emulated.py || cp benchmarks/validate_emulated.py $tree/benchmarks/  # harness only
  for cal in all $(for c in $CALS; do echo all-${c,,}; done); do
    for refit in "" --refit; do
      out=$D/$cal/reuse-$sha${refit:+-refit}
      (cd $tree && PYTHONPATH=. $PY benchmarks/validate_emulated.py --reuse $D/$cal $refit --breakdown --out $out) > $out.txt 2>&1
      echo "$sha $cal ${refit:-stored fits}: $(grep -E '^MAPE step time' $out.txt | tr '\n' ' ')"
    done
  done
done
