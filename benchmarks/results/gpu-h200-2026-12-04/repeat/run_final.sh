#!/bin/bash
# Last device check of the session: the attention shapes the FA2 curve was not fitted on (head dim 64, unmasked),
# with everything else gpu_device_check measures, then a repeat of the new-block steps (run-to-run spread).
export PYTHONUNBUFFERED=1
W=$(mktemp -d)  # scratch: installed wheels and rank files
T0=$(date +%s); stamp() { echo "== $1 at +$(( $(date +%s) - T0 )) s"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $W/site .whl/*.whl 2>&1 | grep -v WARNING
export PYTHONPATH=$W/site:$PWD
stamp kernels
timeout 120 python3 benchmarks/gpu_device_check.py --measure $OUT/kernels2.json --reps 20 --trials 5 2>&1 | grep -i "attention\|copy\|wrote\|Error" ; echo "kernels rc=${PIPESTATUS[0]}"
for mb in 4 8; do
  stamp "step mb$mb"
  timeout 60 python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m runtime .gpu/gpt-h200-block.yaml \
    --set training.micro_batch=$mb --set training.global_batch=$mb --device cuda --algorithm backend \
    --run-dir $W/run$mb --out $OUT/steps-repeat.jsonl --steps 8 --warmup-steps 3 2>&1 | grep -o '"step_time_s": [0-9.]*\|"memory_measured_bytes": [0-9.]*\|rror.*' ; echo "step mb$mb rc=${PIPESTATUS[0]}"
done
stamp done
