#!/bin/bash
# Window A (stop 43, emu): teardown tests; where a small gloo all-reduce's milliseconds go (latency_probe.py at 4
# ranks with variants, at 8 ranks, and 4 x 4 MiB serial vs issued at once at 8 ranks); DDP's per-bucket timeline on
# the small-bucket cases calib asked for (ddp_timeline.py, fresh 11, 2, 5, 8 and heldout 11, 3 repeats); then 5
# repeats of the two worst cases of stop 42 (fresh 11, heldout 11; then fresh 8 if time is left) to pin their
# spread (root).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/host-latency-2026-12-06-p
T=benchmarks/results/ddp-timeline-2026-12-06-p
W=benchmarks/results/plain-ddp-2026-12-06-p
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
END_EPOCH=$(date -u -d "${WINDOW_END:-15:11:00}" +%s)
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/window.log; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/window.log; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g'; done >> $D/sampler.log; }
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
mkdir -p $T $W
log "start; main $(git rev-parse --short main), worktree HEAD $(git rev-parse --short HEAD)"; top
sampler & SAMPLER=$!
$PY -m pytest tests/test_emulated.py -k "not p2p_tree" -q -p no:cacheprovider > $D/test_emulated.txt 2>&1
log "teardown tests rc=$? ($(tail -1 $D/test_emulated.txt)); netns: $(ip netns list | wc -l)"
$PY $D/latency_probe.py --nodes 4 --variants base,spin,noqdisc,pin,spinpin,base --perf --out $D/n4 > $D/n4.log 2>&1
log "latency n4 rc=$?"
$PY $D/latency_probe.py --nodes 8 --variants base,spin --gap 0.07 --conc-reps 5 --out $D/n8 > $D/n8.log 2>&1
log "latency n8 rc=$?"; top
$PY benchmarks/ddp_timeline.py --case-set fresh --cases 11,2,5,8 --repeats 3 --steps 8 --out $T > $T/run-fresh.log 2>&1
log "timeline fresh rc=$?"
$PY benchmarks/ddp_timeline.py --case-set heldout --cases 11 --repeats 3 --steps 8 --out $T > $T/run-heldout.log 2>&1
log "timeline heldout rc=$?"; top
P=benchmarks/results/plain-ddp-2026-12-06-o/profile.yaml
for c in "fresh 11" "heldout 11" "fresh 8"; do set -- $c
  if [ "$(left)" -gt 200 ]; then
    $PY benchmarks/plain_ddp.py --ab --case-set $1 --cases $2 --sides plain --repeats 5 --profile $P \
        --out $W/worst5-$1$2 > $W/worst5-$1$2.log 2>&1
    log "plain_ddp $1 $2 x5 rc=$?"
  else
    log "plain_ddp $1 $2 skipped: $(left) s left"
  fi
done
top
kill $SAMPLER
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
