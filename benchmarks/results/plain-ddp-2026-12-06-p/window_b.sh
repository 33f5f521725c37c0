#!/bin/bash
# Window B (stop 43, emu): plain DDP's honest check on configurations no session ran (--case-set fresh2, 12): one
# calibration with the defaults (--max-residual 1) on main's head, then fresh2 x 3 repeats round robin; then, if
# time is left, -o's fresh set once more (drift since stop 42) (root). Teardown tests: window A
# (../host-latency-2026-12-06-p/test_emulated.txt).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/plain-ddp-2026-12-06-p
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
END_EPOCH=$(date -u -d "${WINDOW_END:-15:51:00}" +%s)
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/window.log; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/window.log; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g'; done >> $D/sampler.log; }
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
log "start; main $(git rev-parse --short main), worktree HEAD $(git rev-parse --short HEAD)"; top
sampler & SAMPLER=$!
$PY -m dpsim calibrate $D/scenario.yaml --testbed emulated --max-residual 1 \
    --records $D/calibration-bench.json -o $D/profile.yaml > $D/cal.log 2>&1
log "calibrate rc=$?"; top
$PY benchmarks/plain_ddp.py --ab --case-set fresh2 --sides plain --repeats 3 \
    --profile $D/profile.yaml --out $D/fresh2 > $D/fresh2.log 2>&1
log "plain_ddp fresh2 rc=$?"; top
if [ "$(left)" -gt 330 ]; then
  timeout $(( $(left) - 20 )) $PY benchmarks/plain_ddp.py --ab --case-set fresh --sides plain --repeats 1 \
      --profile $D/profile.yaml --out $D/fresh > $D/fresh.log 2>&1
  log "plain_ddp fresh x1 rc=$?"; top
else
  log "plain_ddp fresh skipped: $(left) s left"
fi
kill $SAMPLER
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
