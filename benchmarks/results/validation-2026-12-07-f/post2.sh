#!/bin/bash
# After the repeats (no root), stop 51, from the repository root, in the order the time before the final CI allows:
# the chunks of every repeat joined in case order (R1b, R2, R3 -> Rr/runs.jsonl; all/runs.jsonl holds the whole
# repeats case by case, as --reuse reads them), errs.py over the predictions printed before the runs (PRED folder:
# preprice.py with CAL1 on main, calib's and terms' registered commits, each window's refresh, fresh50's CAL1 / CAL2 /
# the two pooled, fresh48's three pooled), the lags per algorithm, then the primary --reuse with --breakdown (CAL1, the
# per-case table and the per-term errors).
#   D=<folder with R1/, R1b/, R2/, R3/ and the probes> PRED=<folder of preprice outputs> bash post2.sh
cd "$(git rev-parse --show-toplevel)" || exit 1
F=benchmarks/results/validation-2026-12-07-f
PY=${PY:-python}
D=${D:?} PRED=${PRED:?}
export PYTHONPATH=.
$PY - "$D" <<'PYEOF'
import json
import sys
from pathlib import Path
D = Path(sys.argv[1])
whole = []
for r in ("R1b", "R2", "R3"):
    chunks = sorted((D / r).glob("c*-*/runs.jsonl"), key=lambda p: int(p.parent.name[1:].split("-")[0]))
    lines = [line for c in chunks for line in c.read_text().splitlines() if line.strip()]
    cases = [i for c in chunks for i in range(*map(int, c.parent.name[1:].split("-")))]
    assert len(lines) == len(cases), (r, len(lines), len(cases))
    (D / r / "runs.jsonl").write_text("".join(line + "\n" for line in lines))
    (D / r / "cases.json").write_text(json.dumps(cases) + "\n")
    print(f"{r}: cases {cases[0] if cases else '-'}..{cases[-1] if cases else '-'} ({len(cases)})")
    if cases == list(range(18)):
        whole.append(lines)
(D / "all").mkdir(exist_ok=True)
(D / "all" / "runs.jsonl").write_text("".join(r[i] + "\n" for i in range(18) for r in whole))
(D / "all" / "summary.json").write_text(json.dumps({"case_set": "fresh51"}) + "\n")
print(f"all: {len(whole)} whole repeats")
PYEOF
cp "$D/R1/profile.yaml" "$D/R1/calibration-bench.json" "$D/all/"
preds=$(for p in main-cal1 calib-cal1 terms-cal1 main-ref-w2 calib-ref-w2 terms-ref-w2 main-ref-w3 main-e-cal1 main-e-cal2 main-pool50 main-pool48; do
  [ -s "$PRED/$p.txt" ] && echo "$p=$PRED/$p.txt"; done)
# each repeat with its own window's refresh: repeats 1-2 ran in W2 (W1's calibration left no time), repeat 3 in W3
own=main-ref-w2,main-ref-w2,main-ref-w3; [ -s "$PRED/main-ref-w3.txt" ] || own=main-ref-w2,main-ref-w2,main-ref-w2
# shellcheck disable=SC2086
$PY $F/errs.py "$D/all/runs.jsonl" $preds --own $own > "$D/errs.txt"; cat "$D/errs.txt"
$PY $F/lags.py "$D/all/runs.jsonl" > "$D/lags.txt"
[ "$(date -u +%H%M)" -lt "${STOP_HM:-1558}" ] || { echo "stop: $(date -u +%T)"; exit 0; }
$PY benchmarks/validate_emulated.py --reuse "$D/all" --breakdown --out "$D/all/reuse" > "$D/all/reuse.txt" 2>&1
grep '^MAPE step time\|spread\|other processes' "$D/all/reuse.txt"
$PY benchmarks/results/validation-2026-12-06-q/table.py "$D/all" CAL1=reuse > "$D/table.txt"
$PY benchmarks/results/validation-2026-12-07-d/terms.py "$D/all/reuse/validation.csv" > "$D/terms.txt"
