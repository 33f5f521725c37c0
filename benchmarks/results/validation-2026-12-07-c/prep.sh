#!/bin/bash
# copy the private outputs into the results folder and assemble all*/ (post.sh's first part)
cd WT || exit 1
D=benchmarks/results/validation-2026-12-07-c
for x in PRIVATE/out/*; do
  n=$(basename $x)
  case $n in CAL4*|W3*|*-W3*|root-tests*|req-*) continue;; esac
  rm -rf $D/$n; cp -r $x $D/
done
CALS=$(for c in CAL2 CAL3; do [ -f $D/$c/profile.yaml ] && echo $c; done)
PYTHONPATH=. python - $CALS <<'PYEOF'
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
echo "prep done: $CALS"
# no machine paths in the committed files: the private folder's prefix dropped (the outputs sit in this folder now)
grep -rl "PRIVATE/out/" $D | xargs -r sed -i 's#PRIVATE/out/#benchmarks/results/validation-2026-12-07-c/#g'
grep -rlE "/wor[k]/|/roo[t]/" $D --include=*.log --include=*.txt --include=*.json --include=*.jsonl --include=*.yaml | head
