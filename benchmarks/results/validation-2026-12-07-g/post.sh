#!/bin/bash
# After the block (no root), stop 52, from the repository root: block.sh's outputs copied from the private folder (OUT)
# into this results folder (no machine paths), the chunks of each repeat joined in case order (Rr/runs.jsonl; all/ holds
# the whole repeats case by case, as --reuse reads them: R1's repeat -- R1b's where the 5 % gate refused CAL1 --, R2's,
# R3's), then priced by this checkout's code, both engines:
#   PRIMARY: validate_emulated.py --reuse all --breakdown (CAL1; all/reuse.txt), the per-case table (table.txt), the
#   per-term errors on the slowest rank (terms.txt), the first predictions printed before the block (errs.txt, stop 51's
#   errs.py over preprice-*.txt), the release lags per algorithm (lags.txt), the fits beside fresh50-51's (calibs.txt).
#   OUT=<private folder> bash post.sh
# A registered commit (secondary), from a checkout of it that holds FRESH52 (this folder read from FROM, an absolute
# path of the checkout holding it): TAG=<name> FROM=<checkout> bash post.sh -> all/reuse-TAG.txt, terms-TAG.txt only.
cd "$(git rev-parse --show-toplevel)" || exit 1
G=benchmarks/results/validation-2026-12-07-g
F=benchmarks/results/validation-2026-12-07-f
E=benchmarks/results/validation-2026-12-07-e
PY=${PY:-python}
export PYTHONPATH=.
ve() { $PY benchmarks/validate_emulated.py "$@"; }
if [ -n "${TAG:-}" ]; then
  H=${FROM:?the checkout holding this folder}/$G
  ve --reuse "$H/all" --breakdown --out "$H/all/reuse-$TAG" > "$H/all/reuse-$TAG.txt" 2>&1
  $PY benchmarks/results/validation-2026-12-07-d/terms.py "$H/all/reuse-$TAG/validation.csv" > "$H/terms-$TAG.txt"
  grep -rlF "$FROM/" "$H/all/reuse-$TAG" "$H/all/reuse-$TAG.txt" "$H/terms-$TAG.txt" | xargs -r sed -i "s#$FROM/##g"
  grep -H '^MAPE step time' "$H/all/reuse-$TAG.txt"
  exit 0
fi
if [ -n "${OUT:-}" ]; then
  for x in "$OUT"/*; do rm -rf "${G:?}/$(basename "$x")"; cp -r "$x" $G/; done
  grep -rlE "$OUT/|/(wor[k]|tm[p]|roo[t])/" $G | xargs -r sed -i -E "s#$OUT/#$G/#g; s#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9-]+/##g; s#/tm[p]/[^ \"']*#<tmp>#g; s#/roo[t]/[^ \"']*#<private>#g"
fi
$PY - <<'PYEOF'
import json
from pathlib import Path

G = Path("benchmarks/results/validation-2026-12-07-g")
whole = []
for r in ("R1", "R1b", "R2", "R3"):
    if r == "R1":
        lines = (G / r / "runs.jsonl").read_text().splitlines() if (G / r / "runs.jsonl").exists() else []
        cases = list(range(len(lines)))
    else:
        chunks = sorted((G / r).glob("c*-*/runs.jsonl"), key=lambda p: int(p.parent.name[1:].split("-")[0]))
        lines = [line for c in chunks for line in c.read_text().splitlines() if line.strip()]
        cases = [i for c in chunks for i in range(*map(int, c.parent.name[1:].split("-")))]
        assert len(lines) == len(cases), (r, len(lines), len(cases))
        if not cases:
            continue
        (G / r / "runs.jsonl").write_text("".join(line + "\n" for line in lines))
        (G / r / "cases.json").write_text(json.dumps(cases) + "\n")
    print(f"{r}: {len(cases)} cases {cases[:1]}..{cases[-1:]}")
    if cases == list(range(18)):
        whole.append(lines)
(G / "all").mkdir(exist_ok=True)
(G / "all" / "runs.jsonl").write_text("".join(r[i] + "\n" for i in range(18) for r in whole))
(G / "all" / "summary.json").write_text(json.dumps({"case_set": "fresh52"}) + "\n")
print(f"all: {len(whole)} whole repeats")
PYEOF
cp $G/R1/profile.yaml $G/R1/calibration-bench.json $G/all/
ve --reuse $G/all --breakdown --out $G/all/reuse > $G/all/reuse.txt 2>&1
grep '^MAPE step time\|spread\|other processes\|fit residuals' $G/all/reuse.txt
$PY benchmarks/results/validation-2026-12-06-q/table.py $G/all CAL1=reuse > $G/table.txt
$PY benchmarks/results/validation-2026-12-07-d/terms.py $G/all/reuse/validation.csv > $G/terms.txt
$PY $F/errs.py $G/all/runs.jsonl f-cal1=$G/preprice-f-cal1.txt f-ref-w2=$G/preprice-f-ref-w2.txt \
  e-cal2=$G/preprice-e-cal2.txt > $G/errs.txt
$PY $F/lags.py $G/all/runs.jsonl > $G/lags.txt
$PY $E/calibs.py 50-CAL1=$E/R1/profile.yaml 50-CAL2=$E/CAL2/profile.yaml 51-CAL1=$F/R1/profile.yaml \
  52-CAL1=$G/R1/profile.yaml > $G/calibs.txt
cat $G/errs.txt $G/terms.txt
