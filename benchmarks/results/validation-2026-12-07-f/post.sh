#!/bin/bash
# After the repeats (no root): stop 51's outputs copied from the private folder (OUT) into this results folder, the
# repeats of fresh51 in one folder (all/, case by case, repeat order: R1's run -- R1b's where the 5 % gate refused CAL1
# --, then R2's and R3's; fewer where a repeat is missing), priced by this checkout's code, both engines, --breakdown:
# PRIMARY with CAL1's profile (all/reuse); secondary with CAL2 (all-cal2 -> all/reuse-cal2), CAL1 + CAL2 pooled
# (--refit --pool), --refit, the first prediction's profiles (fresh50's CAL1 and CAL2, the two pooled, fresh48's three
# pooled), each repeat with its own window's profile (own.py), the per-case table (../validation-2026-12-06-q/table.py),
# per-term errors (../validation-2026-12-07-d/terms.py), the release lags per algorithm (lags.py), the fits (calibs.py).
#   OUT=<private folder> bash post.sh    (from the repository root; TAG=<name> writes all/reuse-TAG* only, for a
#                                         registered commit's checkout, reading this folder from FOLDER_FROM if set)
cd "$(git rev-parse --show-toplevel)" || exit 1
D=benchmarks/results/validation-2026-12-07-f
E=benchmarks/results/validation-2026-12-07-e
P=benchmarks/results/validation-2026-12-07-d
PY=${PY:-python}
T=${TAG:+-$TAG}
WINDOWS=${WINDOWS:-W1 W2 W3}  # the windows of repeats 1, 2, 3
export PYTHONPATH=.
if [ -n "${OUT:-}" ]; then
  for x in "$OUT"/*; do n=$(basename "$x"); case $n in quiet.tmp) continue;; esac; rm -rf "${D:?}/$n"; cp -r "$x" $D/; done
  grep -rlF "$OUT/" $D | xargs -r sed -i "s#$OUT/#$D/#g"  # no machine paths in the committed files
fi
CALS=$(for c in CAL2 CAL3; do [ -f $D/$c/profile.yaml ] && echo $c; done)
if [ -z "${TAG:-}" ]; then
  $PY - $CALS <<'PYEOF'
import json
import sys
from pathlib import Path
D = Path("benchmarks/results/validation-2026-12-07-f")
first = D / ("R1b" if (D / "R1b/runs.jsonl").exists() else "R1")
repeats = [(first / "runs.jsonl").read_text().splitlines()]
repeats += [(D / r / "runs.jsonl").read_text().splitlines() for r in ("R2", "R3") if (D / r / "runs.jsonl").exists()]
assert all(len(r) == 18 for r in repeats), [len(r) for r in repeats]
lines = [r[i] for i in range(18) for r in repeats]  # case by case, as --reuse reads them
for folder in ["all"] + [f"all-{c.lower()}" for c in sys.argv[1:]]:
    (D / folder).mkdir(exist_ok=True)
    (D / folder / "runs.jsonl").write_text("\n".join(lines) + "\n")
    (D / folder / "summary.json").write_text(json.dumps({"case_set": "fresh51"}) + "\n")
print(f"{len(repeats)} repeats")
PYEOF
  cp $D/R1/profile.yaml $D/R1/calibration-bench.json $D/all/
  for c in $CALS; do cp $D/$c/profile.yaml $D/$c/calibration-bench.json $D/all-${c,,}/; done
fi
ve() { $PY benchmarks/validate_emulated.py "$@"; }
ve --reuse $D/all --breakdown --out $D/all/reuse$T > $D/all/reuse$T.txt 2>&1
pairs="CAL1=reuse$T"
for c in $CALS; do
  ve --reuse $D/all-${c,,} --breakdown --out $D/all/reuse$T-${c,,} > $D/all/reuse$T-${c,,}.txt 2>&1
  pairs="$pairs $c=reuse$T-${c,,}"
done
if [ -n "$CALS" ]; then
  pool=$(for c in $CALS; do echo "--pool $D/$c"; done)
  name=pool-cal1$(for c in $CALS; do echo -n "-${c,,}"; done)
  # shellcheck disable=SC2086
  ve --reuse $D/all --refit $pool --breakdown --out $D/all/reuse$T-$name > $D/all/reuse$T-$name.txt 2>&1
  pairs="$pairs $name=reuse$T-$name"
fi
if [ "${QUICK:-}" != 1 ]; then
  ve --reuse $D/all --refit --out $D/all/reuse$T-refit > $D/all/reuse$T-refit.txt 2>&1
  for x in e-cal1=$E/all/profile.yaml e-cal2=$E/CAL2/profile.yaml pool50=$D/preprice-pool50.yaml \
           pool48=$P/preprice-pool-w1-cal2-cal3.yaml; do
    ve --reuse $D/all --profile "${x#*=}" --breakdown --out $D/all/reuse$T-${x%%=*} > $D/all/reuse$T-${x%%=*}.txt 2>&1
    pairs="$pairs ${x%%=*}=reuse$T-${x%%=*}"
  done
fi
# shellcheck disable=SC2086
$PY benchmarks/results/validation-2026-12-06-q/table.py $D/all $pairs > $D/table$T.txt
$PY $P/terms.py $D/all/reuse$T*/validation.csv > $D/terms$T.txt
grep -H '^MAPE step time' $D/all/reuse$T*.txt
# each repeat with its own window's profile: CAL1 for W1's, CAL2 (taken in W2) for W2's and W3's
own=$(r=0; for w in $WINDOWS; do r=$((r + 1)); [ $r = 1 ] || [ -f $D/R$r/runs.jsonl ] || continue
      if [ $r = 1 ] || [ -z "$CALS" ]; then echo "$w=$D/all/reuse$T"; else echo "$w=$D/all/reuse$T-cal2"; fi; done)
# shellcheck disable=SC2086
$PY $D/own.py $D $own > $D/own$T.txt; cat $D/own$T.txt
if [ -z "${TAG:-}" ]; then
  $PY $D/lags.py $D/all/runs.jsonl > $D/lags.txt
  $PY benchmarks/optimizer_share.py --runs $D/all > $D/optimizer-share-runs.txt 2>&1
  C=benchmarks/results/validation-2026-12-07-c
  # shellcheck disable=SC2046
  $PY $E/calibs.py 49-W1=$P/all/profile.yaml 49-CAL2=$P/CAL2/profile.yaml 50-CAL1=$E/R1/profile.yaml \
    50-CAL2=$E/CAL2/profile.yaml 51-CAL1=$D/R1/profile.yaml \
    $(for c in $CALS; do echo "51-$c=$D/$c/profile.yaml"; done) > $D/calibs.txt
fi
