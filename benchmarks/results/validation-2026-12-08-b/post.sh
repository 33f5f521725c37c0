#!/bin/bash
# After the block (no root), stop 55, from the repository root: stop 54's post.sh (../validation-2026-12-08-a/post.sh)
# for fresh55. block.sh's outputs copied from the private folder (OUT) into this results folder (no machine paths), the
# chunks of each repeat joined in case order (Rr/runs.jsonl; all/ holds the three repeats case by case, as --reuse reads
# them), then priced by this checkout's code, both engines:
#   PRIMARY: validate_emulated.py --reuse all --breakdown with CAL1 (all/reuse.txt); secondary: the same runs with CAL2's
#   profile (all/reuse-cal2.txt); the per-case table (table.txt), the per-term errors on the slowest rank (terms*.txt),
#   the first predictions printed before the block (errs.txt, stop 51's errs.py over preprice-*.txt), the release lags
#   per algorithm (lags.txt), the fits beside fresh53-54's (calibs.txt), the probes in time order (probes.txt), the
#   reference kernel inside each calibration part by part beside the standalone probes and around the runs (pace.txt).
#   OUT=<private folder> bash post.sh
# A registered commit (secondary), from a checkout of it that holds FRESH55 (this folder read from FROM, an absolute
# path of the checkout holding it), with CAL1's profile or the one PROFILE names (relative to FROM's folder, e.g.
# CAL2/profile.yaml): TAG=<name> FROM=<checkout> [PROFILE=<file>] bash post.sh -> all/reuse-TAG.txt, terms-TAG.txt.
cd "$(git rev-parse --show-toplevel)" || exit 1
H=benchmarks/results/validation-2026-12-08-b
A=benchmarks/results/validation-2026-12-08-a
HH=benchmarks/results/validation-2026-12-07-h
F=benchmarks/results/validation-2026-12-07-f
E=benchmarks/results/validation-2026-12-07-e
PY=${PY:-python}
export PYTHONPATH=.
ve() { $PY benchmarks/validate_emulated.py "$@"; }
if [ -n "${TAG:-}" ]; then
  X=${FROM:?the checkout holding this folder}/$H
  ve --reuse "$X/all" ${PROFILE:+--profile "$X/$PROFILE"} --breakdown --out "$X/all/reuse-$TAG" > "$X/all/reuse-$TAG.txt" 2>&1
  $PY benchmarks/results/validation-2026-12-07-d/terms.py "$X/all/reuse-$TAG/validation.csv" > "$X/terms-$TAG.txt"
  grep -rlF "$FROM/" "$X/all/reuse-$TAG" "$X/all/reuse-$TAG.txt" "$X/terms-$TAG.txt" | xargs -r sed -i "s#$FROM/##g"
  grep -H '^MAPE step time' "$X/all/reuse-$TAG.txt"
  exit 0
fi
if [ -n "${OUT:-}" ]; then
  for x in "$OUT"/*; do
    case $(basename "$x") in *.first) continue ;; esac
    rm -rf "${H:?}/$(basename "$x")"; cp -r "$x" $H/
  done
  grep -rlE "$OUT/|/(wor[k]|tm[p]|roo[t])/" $H | xargs -r sed -i -E "s#$OUT/#$H/#g; s#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9-]+/##g; s#/tm[p]/[^ \"']*#<tmp>#g; s#/roo[t]/[^ \"']*#<private>#g"
fi
$PY - <<'PYEOF'
import json
from pathlib import Path

H = Path("benchmarks/results/validation-2026-12-08-b")
whole = []
for r in ("R1", "R2", "R3"):
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
(H / "all" / "summary.json").write_text(json.dumps({"case_set": "fresh55"}) + "\n")
print(f"all: {len(whole)} whole repeats")
PYEOF
cp $H/CAL1/profile.yaml $H/CAL1/calibration-bench.json $H/all/
ve --reuse $H/all --breakdown --out $H/all/reuse > $H/all/reuse.txt 2>&1
grep '^MAPE step time\|spread\|other processes\|fit residuals\|host pace' $H/all/reuse.txt
pairs="CAL1=reuse"
cals="53-CAL2=$HH/CAL2/profile.yaml 54-CAL1=$A/CAL1/profile.yaml 55-CAL1=$H/CAL1/profile.yaml"
paces="CAL1=$H/CAL1/profile.yaml"
if [ -f $H/CAL2/profile.yaml ]; then
  ve --reuse $H/all --profile $H/CAL2/profile.yaml --breakdown --out $H/all/reuse-cal2 > $H/all/reuse-cal2.txt 2>&1
  grep '^MAPE step time\|host pace' $H/all/reuse-cal2.txt
  $PY benchmarks/results/validation-2026-12-07-d/terms.py $H/all/reuse-cal2/validation.csv > $H/terms-cal2.txt
  pairs="$pairs CAL2=reuse-cal2"; cals="$cals 55-CAL2=$H/CAL2/profile.yaml"; paces="$paces CAL2=$H/CAL2/profile.yaml"
fi
$PY benchmarks/results/validation-2026-12-06-q/table.py $H/all $pairs > $H/table.txt
$PY benchmarks/results/validation-2026-12-07-d/terms.py $H/all/reuse/validation.csv > $H/terms.txt
$PY $F/errs.py $H/all/runs.jsonl h-cal2=$H/preprice-h-cal2.txt a-cal1=$H/preprice-a-cal1.txt > $H/errs.txt
$PY $F/lags.py $H/all/runs.jsonl > $H/lags.txt
$PY $E/calibs.py $cals > $H/calibs.txt 2>&1
grep -h '^[0-9:]* probe-' $H/block.log | sed -E 's/;  +[0-9:]+ up .*$//' > $H/probes.txt
$PY $H/pace.py $H/block.log $H/all/runs.jsonl $paces > $H/pace.txt
cat $H/probes.txt $H/errs.txt $H/terms.txt $H/pace.txt
