#!/bin/bash
# Window A (stop 39, emu): the teardown tests (this session's first window), then gloo_concurrency.py: DDP's buckets
# all in flight / one at a time / one flat all-reduce, 1000 and 500 Mbit/s, one rank a node, 2, 4, 8 ranks, 3 repeats (root).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/gloo-concurrency-2026-12-06-l
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/windowA.log; }
top() { ps aux --sort=-%cpu | head -8 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/windowA.log; }
sampler() { while sleep 20; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g'; done >> $D/sampler.log; }
log "start; main $(git rev-parse --short main)"; top
sampler & SAMPLER=$!
$PY -m pytest tests/test_emulated.py -k "not p2p_tree" -q -p no:cacheprovider > $D/test_emulated.txt 2>&1
log "teardown tests rc=$?; netns: $(ip netns list | wc -l)"; top
$PY $D/gloo_concurrency.py --ranks 2,4,8 --rates 1000,500 --repeats 3 --steps 5 --out $D > $D/run.log 2>&1
log "gloo_concurrency rc=$?"; top
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
# a fourth repeat, only if the window has room (ends before 02:56 UTC)
if [ "$(date -u +%H)" = 02 ] && [ $((10#$(date -u +%M))) -lt 47 ]; then
  $PY $D/gloo_concurrency.py --ranks 2,4,8 --rates 1000,500 --repeats 1 --first-repeat 3 --steps 5 --out $D > $D/run4.log 2>&1
  log "gloo_concurrency repeat 3 rc=$?"; top
  ip netns list > $D/netns_after.txt
  log "end; netns: $(wc -l < $D/netns_after.txt)"
fi
kill $SAMPLER
