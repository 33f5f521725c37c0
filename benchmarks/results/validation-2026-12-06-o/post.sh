#!/bin/bash
# After the window (no root): the 18 configurations' runs in one folder, re-predicted, and the per-case table.
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/validation-2026-12-06-o
PY=${PY:-python}
export PYTHONPATH=.
mkdir -p $D/all
cat $D/A/runs.jsonl $D/B/runs.jsonl > $D/all/runs.jsonl
cp $D/CAL/profile.yaml $D/CAL/calibration-bench.json $D/all/
$PY benchmarks/validate_emulated.py --reuse $D/all --breakdown --out $D/all/reuse > $D/all/reuse-breakdown.txt 2>&1
$PY $D/table.py > $D/table.txt
