#!/bin/bash
# After window 2 (no root): the three repeats of fresh48 in one folder (case by case, repeat order: R1's run (R1b's
# where the 5 % gate refused W1's calibration), then R23's two), priced by this checkout's code (main at window time)
# with window 1's profile (both engines, --breakdown), with each further defaults calibration's (CAL2.. → all-cal2..),
# with the first prediction's profiles (fresh47's W1: ../validation-2026-12-07-b/all/profile.yaml; fresh47's three
# pooled: preprice-pool-w1-cal2-cal3.yaml), and pooled (--refit --pool: W1 with every further calibration); then the
# per-case table (../validation-2026-12-06-q/table.py).
# Registered model commits: post.sh SHA... with TREES set to a folder holding a checkout of each as emu-<sha>
# (git archive <sha> | tar -x -C DIR); each prices every calibration, stored fits and --refit.
cd "$(git rev-parse --show-toplevel)"
D=$PWD/benchmarks/results/validation-2026-12-07-c
B=$PWD/benchmarks/results/validation-2026-12-07-b
PY=${PY:-python}
export PYTHONPATH=.
CALS=$(for c in CAL2 CAL3 CAL4; do [ -f $D/$c/profile.yaml ] && echo $c; done)
mkdir -p $D/all
$PY - $CALS <<'PYEOF'
import json
import sys
from pathlib import Path
D = Path("benchmarks/results/validation-2026-12-07-c")
first = D / ("R1b" if (D / "R1b/runs.jsonl").exists() else "R1")
r1 = (first / "runs.jsonl").read_text().splitlines()
r23 = (D / "R23/runs.jsonl").read_text().splitlines()
assert len(r1) == 18 and len(r23) == 36, (len(r1), len(r23))
lines = [line for i in range(18) for line in (r1[i], r23[2 * i], r23[2 * i + 1])]
for folder in ["all"] + [f"all-{c.lower()}" for c in sys.argv[1:]]:
    (D / folder).mkdir(exist_ok=True)
    (D / folder / "runs.jsonl").write_text("\n".join(lines) + "\n")
    (D / folder / "summary.json").write_text(json.dumps({"case_set": "fresh48"}) + "\n")
PYEOF
cp $D/R1/profile.yaml $D/R1/calibration-bench.json $D/all/
for c in $CALS; do cp $D/$c/profile.yaml $D/$c/calibration-bench.json $D/all-${c,,}/; done
ve() { $PY benchmarks/validate_emulated.py "$@"; }
if [ $# -eq 0 ]; then
  ve --reuse $D/all --breakdown --out $D/all/reuse > $D/all/reuse-breakdown.txt 2>&1
  pairs="R1=reuse"
  for c in $CALS; do
    ve --reuse $D/all-${c,,} --breakdown --out $D/all/reuse-${c,,} > $D/all/reuse-${c,,}.txt 2>&1
    pairs="$pairs $c=reuse-${c,,}"
  done
  ve --reuse $D/all --profile $B/all/profile.yaml --breakdown --out $D/all/reuse-b-profile > $D/all/reuse-b-profile.txt 2>&1
  ve --reuse $D/all --profile $D/preprice-pool-w1-cal2-cal3.yaml --breakdown --out $D/all/reuse-b-pool \
    > $D/all/reuse-b-pool.txt 2>&1
  pool=""
  for c in $CALS; do
    pool="$pool --pool $D/$c"
    ve --reuse $D/all --refit $pool --out $D/all/reuse-pool-w1${pool//[^0-9]/} > $D/all/reuse-pool-w1${pool//[^0-9]/}.txt 2>&1
  done
  $PY benchmarks/results/validation-2026-12-06-q/table.py $D/all $pairs -b=reuse-b-profile -b-pool=reuse-b-pool > $D/table.txt
fi
for sha in "$@"; do  # a registered commit's model on the same runs
  tree=${TREES:?set TREES to the folder holding emu-<sha> checkouts}/emu-$sha
  grep -q '^FRESH48' $tree/benchmarks/validate_emulated.py || cp benchmarks/validate_emulated.py $tree/benchmarks/  # harness only
  for cal in all $(for c in $CALS; do echo all-${c,,}; done); do
    for refit in "" --refit; do
      out=$D/$cal/reuse-$sha${refit:+-refit}
      (cd $tree && PYTHONPATH=. $PY benchmarks/validate_emulated.py --reuse $D/$cal $refit --breakdown --out $out) > $out.txt 2>&1
      echo "$sha $cal ${refit:-stored fits}: $(grep -E '^MAPE step time' $out.txt | tr '\n' ' ')"
    done
  done
done
