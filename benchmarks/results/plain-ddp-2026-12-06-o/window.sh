#!/bin/bash
# Window B (stop 42, emu): calib landed a model change (277c2f9, tuned on -n's stored runs), so plain DDP's external
# check on main's head: one calibration with the defaults (--max-residual 1), then the 12 configurations no stored
# session ran (--case-set fresh) x 3 repeats, then -n's 13 (--case-set heldout) x 3 if they fit before 12:34 (root).
# The teardown tests ran at the start of window A (../validation-2026-12-06-o/test_emulated.txt: 9 passed).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/plain-ddp-2026-12-06-o
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
$PY benchmarks/plain_ddp.py --ab --case-set fresh --sides plain --repeats 3 \
    --profile $D/profile.yaml --out $D/fresh > $D/fresh.log 2>&1
log "plain_ddp fresh rc=$?"; top
if [ $(( $(date -u -d 12:34:00 +%s) - $(date -u +%s) )) -gt 540 ]; then
  $PY benchmarks/plain_ddp.py --ab --case-set heldout --sides plain --repeats 3 \
      --profile $D/profile.yaml --out $D/heldout > $D/heldout.log 2>&1
  log "plain_ddp heldout rc=$?"; top
else
  log "plain_ddp heldout skipped: too late"
fi
kill $SAMPLER
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
