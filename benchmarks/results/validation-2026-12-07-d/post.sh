#!/bin/bash
# After window 2 (no root): stop 49's outputs copied from the private folder (OUT) into the results folder, the three
# repeats of fresh49 in one folder (case by case, repeat order: R1's run -- R1b's where the 5 % gate refused W1's
# calibration --, then R23's two), priced by this checkout's code (main) with window 1's profile (both engines,
# --breakdown), with each further defaults calibration's (CAL2, CAL3 -> all-cal2, all-cal3), with the first prediction's
# profiles (fresh48's W1: ../validation-2026-12-07-c/all/profile.yaml; fresh48's three pooled:
# preprice-pool-w1-cal2-cal3.yaml), pooled (--refit --pool), --refit on main; then the per-case table
# (../validation-2026-12-06-q/table.py), the per-term errors (terms.py) and the drift diagnostic (drift.py).
#   OUT=<private folder> bash post.sh           (from the repository root)
cd "$(git rev-parse --show-toplevel)" || exit 1
D=benchmarks/results/validation-2026-12-07-d
C=benchmarks/results/validation-2026-12-07-c
PY=${PY:-python}
export PYTHONPATH=.
if [ -n "${OUT:-}" ]; then
  for x in "$OUT"/*; do n=$(basename "$x"); case $n in quiet.tmp) continue;; esac; rm -rf "${D:?}/$n"; cp -r "$x" $D/; done
fi
CALS=$(for c in CAL2 CAL3; do [ -f $D/$c/profile.yaml ] && echo $c; done)
$PY - $CALS <<'PYEOF'
import json
import sys
from pathlib import Path
D = Path("benchmarks/results/validation-2026-12-07-d")
first = D / ("R1b" if (D / "R1b/runs.jsonl").exists() else "R1")
r1 = (first / "runs.jsonl").read_text().splitlines()
r23 = (D / "R23/runs.jsonl").read_text().splitlines()
assert len(r1) == 18 and len(r23) == 36, (len(r1), len(r23))
lines = [line for i in range(18) for line in (r1[i], r23[2 * i], r23[2 * i + 1])]
for folder in ["all"] + [f"all-{c.lower()}" for c in sys.argv[1:]]:
    (D / folder).mkdir(exist_ok=True)
    (D / folder / "runs.jsonl").write_text("\n".join(lines) + "\n")
    (D / folder / "summary.json").write_text(json.dumps({"case_set": "fresh49"}) + "\n")
PYEOF
cp $D/R1/profile.yaml $D/R1/calibration-bench.json $D/all/
for c in $CALS; do cp $D/$c/profile.yaml $D/$c/calibration-bench.json $D/all-${c,,}/; done
# no machine paths in the committed files (the private folder's prefix dropped: the outputs sit in this folder now)
[ -n "${OUT:-}" ] && grep -rlF "$OUT/" $D | xargs -r sed -i "s#$OUT/#$D/#g"
ve() { $PY benchmarks/validate_emulated.py "$@"; }
ve --reuse $D/all --breakdown --out $D/all/reuse > $D/all/reuse-breakdown.txt 2>&1
pairs="R1=reuse"
for c in $CALS; do
  ve --reuse $D/all-${c,,} --breakdown --out $D/all/reuse-${c,,} > $D/all/reuse-${c,,}.txt 2>&1
  pairs="$pairs $c=reuse-${c,,}"
done
ve --reuse $D/all --profile $C/all/profile.yaml --breakdown --out $D/all/reuse-c-profile > $D/all/reuse-c-profile.txt 2>&1
ve --reuse $D/all --profile $D/preprice-pool-w1-cal2-cal3.yaml --breakdown --out $D/all/reuse-c-pool \
  > $D/all/reuse-c-pool.txt 2>&1
ve --reuse $D/all --refit --out $D/all/reuse-refit > $D/all/reuse-refit.txt 2>&1
if [ -f $D/CAL2/profile.yaml ]; then
  ve --reuse $D/all --refit --pool $D/CAL2 --breakdown --out $D/all/reuse-pool-w1-cal2 > $D/all/reuse-pool-w1-cal2.txt 2>&1
  pairs="$pairs pool-w1-cal2=reuse-pool-w1-cal2"
fi
if [ -f $D/CAL2/profile.yaml ] && [ -f $D/CAL3/profile.yaml ]; then
  ve --reuse $D/all --refit --pool $D/CAL2 --pool $D/CAL3 --breakdown --out $D/all/reuse-pool-w1-cal2-cal3 \
    > $D/all/reuse-pool-w1-cal2-cal3.txt 2>&1
  pairs="$pairs pool-w1-cal2-cal3=reuse-pool-w1-cal2-cal3"
  ve --reuse $D/all-cal2 --refit --pool $D/CAL3 --out $D/all/reuse-pool-cal2-cal3 > $D/all/reuse-pool-cal2-cal3.txt 2>&1
  ve --reuse $D/all --refit --pool $D/CAL3 --out $D/all/reuse-pool-w1-cal3 > $D/all/reuse-pool-w1-cal3.txt 2>&1
fi
$PY benchmarks/results/validation-2026-12-06-q/table.py $D/all $pairs -c=reuse-c-profile -c-pool=reuse-c-pool > $D/table.txt
$PY $D/terms.py $D/all/reuse*/validation.csv > $D/terms.txt
$PY $D/drift.py $D $D/all/reuse > $D/drift.txt 2>&1
grep -h '^MAPE step time' $D/all/reuse*.txt | head -40
