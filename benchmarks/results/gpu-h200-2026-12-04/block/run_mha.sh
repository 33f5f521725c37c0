#!/bin/bash
# The runtime GPT with its new block (fused QKV nn.Linear + F.scaled_dot_product_attention(is_causal=True) + out
# projection, in place of nn.TransformerEncoderLayer) re-measured at the 2026-12-04 configurations: 12 x 2048,
# s 2048, bf16 autocast, DDP at one rank, micro-batch 4 (traced) and 8. Then .gpu/mem_probe.py: saved bytes and peaks per sample. Needs .gpu/gpt-h200-block.yaml. ~130 s.
export PYTHONUNBUFFERED=1
W=$(mktemp -d)
T0=$(date +%s); stamp() { echo "== $1 at +$(( $(date +%s) - T0 )) s"; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target $W/site .whl/*.whl 2>&1 | grep -v WARNING
export PYTHONPATH=$W/site:$PWD
git log -1 --format='%h %s' 2>/dev/null | cut -c1-100 | tee $OUT/commit.txt
python3 -c "import runtime.model as m; print('Block' in dir(m))" | tee -a $OUT/commit.txt
for mb in 4 8; do
  stamp "step mb$mb"
  tr=""; [ $mb = 4 ] && tr="--trace $W/trace.json"
  timeout 60 python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m runtime .gpu/gpt-h200-block.yaml \
    --set training.micro_batch=$mb --set training.global_batch=$mb --device cuda --algorithm backend \
    --run-dir $W/run$mb --out $OUT/steps.jsonl --steps 8 --warmup-steps 3 $tr 2>&1 | grep -v '^\[rank0\]:  \|^  File\|^    ' | tail -12; echo "step mb$mb rc=${PIPESTATUS[0]}"
  cp $W/run$mb/rank0.jsonl $OUT/run$mb-rank0.jsonl 2>/dev/null
done
[ -f $W/trace.json ] && gzip -c $W/trace.json > $OUT/trace.json.gz
stamp mem-probe
timeout 40 python3 .gpu/mem_probe.py $OUT/mem-probe.json 2>&1 | tail -6; echo "mem-probe rc=${PIPESTATUS[0]}"
stamp done
