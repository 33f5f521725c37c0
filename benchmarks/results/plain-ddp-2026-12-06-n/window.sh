#!/bin/bash
# Window B (stop 41, emu): calib landed a model change by 09:00, so plain DDP's external check on main's head: one
# calibration with the defaults (--max-residual 1), then the held-out 13 configurations x 3 repeats (root). The
# teardown tests ran at the start of window A (../host-packet-cost-2026-12-06-n/test_emulated.txt: 8 passed).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/plain-ddp-2026-12-06-n
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/window.log; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/window.log; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g'; done >> $D/sampler.log; }
log "start; main $(git rev-parse --short main), worktree HEAD $(git rev-parse --short HEAD)"; top
sampler & SAMPLER=$!
$PY -m dpsim calibrate $D/scenario.yaml --testbed emulated --max-residual 1 \
    --records $D/calibration-bench.json -o $D/profile.yaml > $D/cal.log 2>&1
log "calibrate rc=$?"; top
$PY benchmarks/plain_ddp.py --ab --case-set heldout --sides plain --repeats 3 \
    --profile $D/profile.yaml --out $D > $D/run.log 2>&1
log "plain_ddp rc=$?"; top
kill $SAMPLER
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
