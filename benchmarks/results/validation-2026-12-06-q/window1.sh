#!/bin/bash
# Window 1 (stop 44, emu, 17:55-18:15 UTC): the root tests on main's head; then validate_emulated.py --case-set
# fresh44: one calibration with the defaults (--max-residual 1: every fit is recorded, none ends the run) and repeat 1
# of the 18 configurations, both engines from that profile. Run as root from the repository root of a checkout of main.
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/validation-2026-12-06-q
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/window1.log; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/window1.log; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g'; done >> $D/sampler1.log; }
{ date -u; uptime; ip netns list | wc -l; } > $D/before_window1.txt
log "start; main $(git rev-parse --short main), checkout HEAD $(git rev-parse --short HEAD)"; top
sampler & SAMPLER=$!
$PY -m pytest tests/test_emulated.py -k "not p2p_tree" -q -p no:cacheprovider > $D/test_emulated.txt 2>&1
log "tests/test_emulated.py -k 'not p2p_tree' rc=$? ($(tail -1 $D/test_emulated.txt)); netns: $(ip netns list | wc -l)"
$PY -m pytest tests/test_thread_share.py -q -p no:cacheprovider > $D/test_thread_share.txt 2>&1
log "tests/test_thread_share.py (its root test included) rc=$? ($(tail -1 $D/test_thread_share.txt)); netns: $(ip netns list | wc -l)"
timeout 960 $PY benchmarks/validate_emulated.py --case-set fresh44 --repeats 1 --max-residual 1 --out $D/R1 > $D/R1.log 2>&1
log "R1 (calibration + repeat 1) rc=$?"; top
kill $SAMPLER
ip netns list > $D/netns_after_window1.txt
log "end; netns: $(wc -l < $D/netns_after_window1.txt)"
