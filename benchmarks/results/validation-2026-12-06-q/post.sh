#!/bin/bash
# After the windows (no root): the three repeats in one folder (case by case, repeat order: R1's run, then R23's two),
# priced with window 1's profile (both engines, --breakdown), with the second calibration's (CAL2) and with the
# previous stored profile (validation-2026-12-06-o/all, the first prediction's); then the per-case table.
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/validation-2026-12-06-q
PY=${PY:-python}
export PYTHONPATH=.
mkdir -p $D/all
$PY - <<'PYEOF'
import json
from pathlib import Path
D = Path("benchmarks/results/validation-2026-12-06-q")
r1 = (D / "R1/runs.jsonl").read_text().splitlines()
r23 = (D / "R23/runs.jsonl").read_text().splitlines()
assert len(r1) == 18 and len(r23) == 36, (len(r1), len(r23))
lines = [line for i in range(18) for line in (r1[i], r23[2 * i], r23[2 * i + 1])]
(D / "all/runs.jsonl").write_text("\n".join(lines) + "\n")
(D / "all/summary.json").write_text(json.dumps({"case_set": "fresh44"}) + "\n")
PYEOF
cp $D/R1/profile.yaml $D/R1/calibration-bench.json $D/all/
$PY benchmarks/validate_emulated.py --reuse $D/all --breakdown --out $D/all/reuse > $D/all/reuse-breakdown.txt 2>&1
if [ -f $D/CAL2/profile.yaml ]; then
  $PY benchmarks/validate_emulated.py --reuse $D/all --profile $D/CAL2/profile.yaml --out $D/all/reuse-cal2 \
    > $D/all/reuse-cal2.txt 2>&1
fi
$PY benchmarks/validate_emulated.py --reuse $D/all --profile benchmarks/results/validation-2026-12-06-o/all/profile.yaml \
  --out $D/all/reuse-o-profile > $D/all/reuse-o-profile.txt 2>&1
$PY $D/table.py > $D/table.txt
