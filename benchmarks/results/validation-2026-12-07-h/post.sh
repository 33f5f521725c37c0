#!/bin/bash
# After the block (no root), stop 53, from the repository root: stop 52's post.sh (../validation-2026-12-07-g/post.sh)
# for fresh53 with CAL2. block.sh's outputs copied from the private folder (OUT) into this results folder (no machine
# paths), the chunks of each repeat joined in case order (Rr/runs.jsonl; all/ holds the whole repeats case by case, as
# --reuse reads them: R1's repeat -- R1b's where the 5 % gate refused CAL1 --, R2's, R3's), then priced by this
# checkout's code, both engines:
#   PRIMARY: validate_emulated.py --reuse all --breakdown (CAL1; all/reuse.txt); secondary: the same runs with CAL2's
#   profile (all/reuse-cal2.txt); the per-case table (table.txt), the per-term errors on the slowest rank (terms.txt,
#   terms-cal2.txt), the first predictions printed before the block (errs.txt, stop 51's errs.py over preprice-*.txt),
#   the release lags per algorithm (lags.txt), the fits beside fresh50-52's (calibs.txt).
#   OUT=<private folder> bash post.sh
# A registered commit (secondary), from a checkout of it that holds FRESH53 (this folder read from FROM, an absolute
# path of the checkout holding it): TAG=<name> FROM=<checkout> bash post.sh -> all/reuse-TAG.txt, terms-TAG.txt only.
cd "$(git rev-parse --show-toplevel)" || exit 1
H=benchmarks/results/validation-2026-12-07-h
G=benchmarks/results/validation-2026-12-07-g
F=benchmarks/results/validation-2026-12-07-f
E=benchmarks/results/validation-2026-12-07-e
PY=${PY:-python}
export PYTHONPATH=.
ve() { $PY benchmarks/validate_emulated.py "$@"; }
if [ -n "${TAG:-}" ]; then
  X=${FROM:?the checkout holding this folder}/$H
  ve --reuse "$X/all" --breakdown --out "$X/all/reuse-$TAG" > "$X/all/reuse-$TAG.txt" 2>&1
  $PY benchmarks/results/validation-2026-12-07-d/terms.py "$X/all/reuse-$TAG/validation.csv" > "$X/terms-$TAG.txt"
  grep -rlF "$FROM/" "$X/all/reuse-$TAG" "$X/all/reuse-$TAG.txt" "$X/terms-$TAG.txt" | xargs -r sed -i "s#$FROM/##g"
  grep -H '^MAPE step time' "$X/all/reuse-$TAG.txt"
  exit 0
fi
if [ -n "${OUT:-}" ]; then
  for x in "$OUT"/*; do rm -rf "${H:?}/$(basename "$x")"; cp -r "$x" $H/; done
  grep -rlE "$OUT/|/(wor[k]|tm[p]|roo[t])/" $H | xargs -r sed -i -E "s#$OUT/#$H/#g; s#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9-]+/##g; s#/tm[p]/[^ \"']*#<tmp>#g; s#/roo[t]/[^ \"']*#<private>#g"
fi
$PY - <<'PYEOF'
import json
from pathlib import Path

H = Path("benchmarks/results/validation-2026-12-07-h")
whole = []
for r in ("R1", "R1b", "R2", "R3"):
    if r == "R1":
        lines = (H / r / "runs.jsonl").read_text().splitlines() if (H / r / "runs.jsonl").exists() else []
        cases = list(range(len(lines)))
    else:
        chunks = sorted((H / r).glob("c*-*/runs.jsonl"), key=lambda p: int(p.parent.name[1:].split("-")[0]))
        lines = [line for c in chunks for line in c.read_text().splitlines() if line.strip()]
        cases = [i for c in chunks for i in range(*map(int, c.parent.name[1:].split("-")))]
        assert len(lines) == len(cases), (r, len(lines), len(cases))
        if not cases:
            continue
        (H / r / "runs.jsonl").write_text("".join(line + "\n" for line in lines))
        (H / r / "cases.json").write_text(json.dumps(cases) + "\n")
    print(f"{r}: {len(cases)} cases {cases[:1]}..{cases[-1:]}")
    if cases == list(range(18)):
        whole.append(lines)
(H / "all").mkdir(exist_ok=True)
(H / "all" / "runs.jsonl").write_text("".join(r[i] + "\n" for i in range(18) for r in whole))
(H / "all" / "summary.json").write_text(json.dumps({"case_set": "fresh53"}) + "\n")
print(f"all: {len(whole)} whole repeats")
PYEOF
cp $H/R1/profile.yaml $H/R1/calibration-bench.json $H/all/
ve --reuse $H/all --breakdown --out $H/all/reuse > $H/all/reuse.txt 2>&1
grep '^MAPE step time\|spread\|other processes\|fit residuals' $H/all/reuse.txt
pairs="CAL1=reuse"
cals="50-CAL1=$E/R1/profile.yaml 50-CAL2=$E/CAL2/profile.yaml 52-CAL1=$G/R1/profile.yaml 53-CAL1=$H/R1/profile.yaml"
if [ -f $H/CAL2/profile.yaml ]; then
  ve --reuse $H/all --profile $H/CAL2/profile.yaml --breakdown --out $H/all/reuse-cal2 > $H/all/reuse-cal2.txt 2>&1
  grep '^MAPE step time' $H/all/reuse-cal2.txt
  $PY benchmarks/results/validation-2026-12-07-d/terms.py $H/all/reuse-cal2/validation.csv > $H/terms-cal2.txt
  pairs="$pairs CAL2=reuse-cal2"; cals="$cals 53-CAL2=$H/CAL2/profile.yaml"
fi
$PY benchmarks/results/validation-2026-12-06-q/table.py $H/all $pairs > $H/table.txt
$PY benchmarks/results/validation-2026-12-07-d/terms.py $H/all/reuse/validation.csv > $H/terms.txt
$PY $F/errs.py $H/all/runs.jsonl g-cal1=$H/preprice-g-cal1.txt e-cal2=$H/preprice-e-cal2.txt > $H/errs.txt
$PY $F/lags.py $H/all/runs.jsonl > $H/lags.txt
$PY $E/calibs.py $cals > $H/calibs.txt
cat $H/errs.txt $H/terms.txt
