#!/bin/bash
# After window 2 (no root): the fresh44 runs priced by calib's registered change (17:30, eee27d0 on 4b650cf; the same
# diff rebased onto main, e6c0ebe), with window 1's calibration (all/) and the second one (all-cal2/), each with its
# stored link fits and refitted by that code from the calibration's own records (--refit, what calib asked for).
# TREE_<sha>: a checkout of that commit (git archive <sha> | tar -x -C DIR); eee27d0 lacks --case-set fresh44, so its
# checkout gets this commit's benchmarks/validate_emulated.py (the harness; the model is eee27d0's).
cd "$(git rev-parse --show-toplevel)"
D=$PWD/benchmarks/results/validation-2026-12-06-q
PY=${PY:-python}
mkdir -p $D/all-cal2
cp $D/all/runs.jsonl $D/all/summary.json $D/all-cal2/
cp $D/CAL2/profile.yaml $D/CAL2/calibration-bench.json $D/all-cal2/
for sha in e6c0ebe eee27d0; do
  tree=${TREES:?set TREES to the folder holding emu-<sha> checkouts}/emu-$sha
  for cal in all all-cal2; do
    for refit in "" --refit; do
      (cd $tree && PYTHONPATH=. $PY benchmarks/validate_emulated.py --reuse $D/$cal $refit \
        --out $D/$cal/reuse-$sha${refit:+-refit}) > $D/$cal/reuse-$sha${refit:+-refit}.txt 2>&1
      echo "$sha $cal ${refit:-stored fits}: $(grep -E '^MAPE step time \(analytic\)' $D/$cal/reuse-$sha${refit:+-refit}.txt)"
      echo "$sha $cal ${refit:-stored fits}: $(grep -E '^MAPE step time \(sim\)' $D/$cal/reuse-$sha${refit:+-refit}.txt)"
    done
  done
done
# this checkout's own code (main at window time, e3fec0a's model), window 2's calibration refitted too (the same code)
$PY benchmarks/validate_emulated.py --reuse $D/all-cal2 --refit --out $D/all-cal2/reuse-main-refit > $D/all-cal2/reuse-main-refit.txt 2>&1
echo "main all-cal2 --refit: $(grep -E '^MAPE step time \(analytic\)' $D/all-cal2/reuse-main-refit.txt)"
