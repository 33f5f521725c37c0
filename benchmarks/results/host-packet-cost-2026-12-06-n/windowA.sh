#!/bin/bash
# Window A (stop 41, emu): the teardown tests (this session's first window), then packet_sweep.py: the base sweep
# (13 rates x 3 repeats, perf record at 500/700/1000), then the variants at 500/700/1000 (root).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/host-packet-cost-2026-12-06-n
PY=${PY:-python}
END=${END:-08:47}   # start another repeat only if it ends before this (UTC)
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/windowA.log; }
top() { ps aux --sort=-%cpu | head -8 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/windowA.log; }
sampler() { while sleep 20; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g'; done >> $D/sampler.log; }
log "start; main $(git rev-parse --short main)"; top
sampler & SAMPLER=$!
$PY -m pytest tests/test_emulated.py -k "not p2p_tree" -q -p no:cacheprovider > $D/test_emulated.txt 2>&1
log "teardown tests rc=$?; netns: $(ip netns list | wc -l)"; top
$PY $D/packet_sweep.py --repeats 2 --profile-rates 500,700,1000 --end "$END" --out $D/raw >> $D/run.log 2>&1
log "base sweep repeats 0-1 rc=$?"; top
$PY $D/packet_sweep.py --rates 500,700,1000 --repeats 1 --variants gso1,burst256k,gro,budget --end "$END" \
    --out $D/raw >> $D/run.log 2>&1
log "variants repeat 0 rc=$?"; top
$PY $D/packet_sweep.py --repeats 1 --first-repeat 2 --end "$END" --out $D/raw >> $D/run.log 2>&1
log "base sweep repeat 2 rc=$?"; top
$PY $D/packet_sweep.py --rates 500,700,1000 --repeats 1 --first-repeat 1 --variants gso1,burst256k,gro,budget \
    --end "$END" --out $D/raw >> $D/run.log 2>&1
log "variants repeat 1 rc=$?"; top
sysctl -w net.core.dev_weight=64 >> $D/windowA.log
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
kill $SAMPLER
