#!/bin/bash
# Paths: SITE (the wheels) and TMP were scratch directories on the device machine; .gpu/ held the files of this directory.
# Held-out single-H200 steps for the 2026-12-04 GPU step check (benchmarks/gpu_step_check.py): configurations never
# used to find the mechanisms (other hidden/layers/seq/micro-batch, AdamW with accumulation, fp32), plus a GEMM
# power/clock diagnostic. Needs .gpu/heldout-{a,b,c,d}.yaml and .gpu/gemm_power.py. Budget ~190 s.
export PYTHONUNBUFFERED=1
T0=$(date +%s); stamp() { echo "== $1 at +$(( $(date +%s) - T0 )) s"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $SITE .whl/*.whl 2>&1 | grep -v WARNING
export PYTHONPATH=$SITE:$PWD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit,temperature.gpu --format=csv | tee $OUT/nvidia-smi.txt
step() {  # name, timeout, extra args
  local c=$1; local to=$2; shift 2
  stamp "step $c"
  timeout $to python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m runtime .gpu/heldout-$c.yaml \
    --device cuda --algorithm backend --run-dir $TMP/run-$c --out $OUT/steps-$c.jsonl --steps 6 --warmup-steps 3 "$@" 2>&1 \
    | grep -v '^\[rank0\]:  \|^  File\|^    ' | tail -8; echo "step $c rc=${PIPESTATUS[0]}"
  cp -r $TMP/run-$c $OUT/run-$c 2>/dev/null
}
step a 45 --trace $TMP/trace-a.json
[ -f $TMP/trace-a.json ] && gzip -c $TMP/trace-a.json > $OUT/trace-a.json.gz
step b 35
step c 35
step d 35
stamp gemm-power
(for i in $(seq 1 40); do nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv,noheader; sleep 0.5; done) > $OUT/gemm-power-smi.csv 2>&1 &
SMI=$!
timeout 30 python3 .gpu/gemm_power.py $OUT/gemm-power.json 2>&1 | tail -8; echo "gemm-power rc=${PIPESTATUS[0]}"
kill $SMI 2>/dev/null
stamp done
