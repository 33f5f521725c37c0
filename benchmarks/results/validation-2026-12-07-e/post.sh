#!/bin/bash
# After the repeats (no root): stop 50's outputs copied from the private folder (OUT) into the results folder, the three
# repeats of fresh50 in one folder (case by case, repeat order: R1's run -- R1b's where the 5 % gate refused CAL1 --,
# then R2's and R3's), priced by this checkout's code with CAL1's profile (both engines, --breakdown), with each further
# defaults calibration's (CAL2, CAL3 -> all-cal2, all-cal3), with the first prediction's profiles (fresh49's W1 and
# CAL2: ../validation-2026-12-07-d/all/profile.yaml, CAL2/profile.yaml; fresh48's three pooled:
# ../validation-2026-12-07-d/preprice-pool-w1-cal2-cal3.yaml), the calibrations pooled (--refit --pool), --refit; then
# the per-case table (../validation-2026-12-06-q/table.py) and the per-term errors (../validation-2026-12-07-d/terms.py).
#   OUT=<private folder> bash post.sh           (from the repository root; TAG=<name> writes all/reuse-TAG* instead,
#                                                for a registered commit's checkout)
cd "$(git rev-parse --show-toplevel)" || exit 1
D=benchmarks/results/validation-2026-12-07-e
P=benchmarks/results/validation-2026-12-07-d
PY=${PY:-python}
T=${TAG:+-$TAG}
export PYTHONPATH=.
if [ -n "${OUT:-}" ]; then
  for x in "$OUT"/*; do n=$(basename "$x"); case $n in quiet.tmp|two-a-node*) continue;; esac; rm -rf "${D:?}/$n"; cp -r "$x" $D/; done
  # no machine paths in the committed files (the private folder's prefix dropped: the outputs sit in this folder now)
  grep -rlF "$OUT/" $D | xargs -r sed -i "s#$OUT/#$D/#g"
fi
CALS=$(for c in CAL2 CAL3; do [ -f $D/$c/profile.yaml ] && echo $c; done)
if [ -z "${TAG:-}" ]; then
  $PY - $CALS <<'PYEOF'
import json
import sys
from pathlib import Path
D = Path("benchmarks/results/validation-2026-12-07-e")
first = D / ("R1b" if (D / "R1b/runs.jsonl").exists() else "R1")
r1 = (first / "runs.jsonl").read_text().splitlines()
r2, r3 = ((D / r / "runs.jsonl").read_text().splitlines() for r in ("R2", "R3"))
assert len(r1) == len(r2) == len(r3) == 18, (len(r1), len(r2), len(r3))
lines = [line for i in range(18) for line in (r1[i], r2[i], r3[i])]  # case by case, as --reuse reads them
for folder in ["all"] + [f"all-{c.lower()}" for c in sys.argv[1:]]:
    (D / folder).mkdir(exist_ok=True)
    (D / folder / "runs.jsonl").write_text("\n".join(lines) + "\n")
    (D / folder / "summary.json").write_text(json.dumps({"case_set": "fresh50"}) + "\n")
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
ve --reuse $D/all --refit --out $D/all/reuse$T-refit > $D/all/reuse$T-refit.txt 2>&1
ve --reuse $D/all --profile $P/all/profile.yaml --breakdown --out $D/all/reuse$T-d-w1 > $D/all/reuse$T-d-w1.txt 2>&1
ve --reuse $D/all --profile $P/CAL2/profile.yaml --breakdown --out $D/all/reuse$T-d-cal2 > $D/all/reuse$T-d-cal2.txt 2>&1
ve --reuse $D/all --profile $P/preprice-pool-w1-cal2-cal3.yaml --breakdown --out $D/all/reuse$T-c-pool \
  > $D/all/reuse$T-c-pool.txt 2>&1
pairs="$pairs -d-w1=reuse$T-d-w1 -d-cal2=reuse$T-d-cal2 -c-pool=reuse$T-c-pool"
# pool's forward check (registered.txt 11:26): two stored pools priced as they stand (no --refit: it would fit their
# links on fresh50's own calibration records)
F=benchmarks/results/pool-forward-2026-12-07
for pool in prev earlier; do
  [ -f $F/$pool.yaml ] || continue
  ve --reuse $D/all --profile $F/$pool.yaml --breakdown --out $D/all/reuse$T-pool-$pool > $D/all/reuse$T-pool-$pool.txt 2>&1
  pairs="$pairs pool-$pool=reuse$T-pool-$pool"
done
# shellcheck disable=SC2086
$PY benchmarks/results/validation-2026-12-06-q/table.py $D/all $pairs > $D/table$T.txt
$PY $P/terms.py $D/all/reuse$T*/validation.csv > $D/terms$T.txt
grep -H '^MAPE step time' $D/all/reuse$T*.txt
if [ -z "${TAG:-}" ]; then
  $PY benchmarks/optimizer_share.py --runs $D/all > $D/optimizer-share-runs.txt 2>&1
  C=benchmarks/results/validation-2026-12-07-c
  # shellcheck disable=SC2046
  $PY $D/calibs.py 48-W1=$C/all/profile.yaml 48-CAL2=$C/CAL2/profile.yaml 48-CAL3=$C/CAL3/profile.yaml \
    49-W1=$P/all/profile.yaml 49-CAL2=$P/CAL2/profile.yaml 50-CAL1=$D/R1/profile.yaml \
    $(for c in $CALS; do echo "50-$c=$D/$c/profile.yaml"; done) > $D/calibs.txt
fi
