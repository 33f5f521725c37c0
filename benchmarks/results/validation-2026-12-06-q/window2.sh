#!/bin/bash
# Window 2 (stop 44, emu, 18:30-18:50 UTC): repeats 2 and 3 of validate_emulated.py --case-set fresh44, round robin,
# with window 1's profile (R1/profile.yaml: no second calibration in between); then, time allowing, a second
# calibration with the defaults (CAL2: --limit 1 --repeats 1, its one run of case 0 not used) to price the same runs
# with, and the thread_share root test 5 times. Same checkout as window 1 (not rebased: the runtime measured is W1's). Run as root from the repository root.
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/validation-2026-12-06-q
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
END_EPOCH=$(date -u -d "${WINDOW_END:-18:49:40}" +%s)
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/window2.log; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/window2.log; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g'; done >> $D/sampler2.log; }
{ date -u; uptime; ip netns list | wc -l; } > $D/before_window2.txt
log "start; main $(git rev-parse --short main), checkout HEAD $(git rev-parse --short HEAD)"; top
sampler & SAMPLER=$!
timeout $(( $(left) - 20 )) $PY benchmarks/validate_emulated.py --case-set fresh44 --profile $D/R1/profile.yaml \
  --repeats 2 --out $D/R23 > $D/R23.log 2>&1
log "R23 (repeats 2 and 3) rc=$?"; top
if [ "$(left)" -gt 450 ]; then
  timeout $(( $(left) - 20 )) $PY benchmarks/validate_emulated.py --case-set fresh44 --limit 1 --repeats 1 \
    --max-residual 1 --out $D/CAL2 > $D/CAL2.log 2>&1
  log "CAL2 (second calibration) rc=$?"; top
else
  log "CAL2 skipped: $(left) s left"
fi
for i in 1 2 3 4 5; do  # the root test again, with the probe reading its own thread's CPU exactly (this branch)
  [ "$(left)" -gt 40 ] || break
  $PY -m pytest tests/test_thread_share.py -m root -q -p no:cacheprovider > $D/test_thread_share_w2_$i.txt 2>&1
  log "tests/test_thread_share.py -m root ($i, thread_time_ns probe) rc=$? ($(tail -1 $D/test_thread_share_w2_$i.txt))"
done
kill $SAMPLER
ip netns list > $D/netns_after_window2.txt
log "end; netns: $(wc -l < $D/netns_after_window2.txt)"
