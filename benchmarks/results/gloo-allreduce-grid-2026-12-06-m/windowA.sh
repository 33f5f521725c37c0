#!/bin/bash
# Window A (stop 40, emu): the teardown tests (this session's first window), then gloo_grid.py: each DDP bucket
# all-reduced alone, 2/3/4/5/6/8 ranks one a node at 1000/750/500 Mbit/s, and 4/8 ranks two a node at 1000 (root).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/gloo-allreduce-grid-2026-12-06-m
PY=${PY:-python}
END=${END:-05:51}   # start another repeat only if it ends before this (UTC)
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/windowA.log; }
top() { ps aux --sort=-%cpu | head -8 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/windowA.log; }
sampler() { while sleep 20; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g'; done >> $D/sampler.log; }
secs() { date -u -d "$1" +%s; }
log "start; main $(git rev-parse --short main)"; top
sampler & SAMPLER=$!
$PY -m pytest tests/test_emulated.py -k "not p2p_tree" -q -p no:cacheprovider > $D/test_emulated.txt 2>&1
log "teardown tests rc=$?; netns: $(ip netns list | wc -l)"; top
last=0
grid() {  # $1 = label, rest = gloo_grid args; runs only if the last such run's duration fits before END
  local t0; t0=$(date +%s)
  if [ $((t0 + last * 11 / 10)) -ge "$(secs "$END")" ]; then log "skip $1 (would end past $END)"; return 1; fi
  $PY $D/gloo_grid.py "${@:2}" --out $D >> $D/run.log 2>&1
  local rc=$?; last=$(( $(date +%s) - t0 )); log "$1 rc=$rc (${last} s)"; top
}
for r in 0 1 2; do grid "p1 repeat $r" --repeats 1 --first-repeat $r; done
lastp1=$last; last=0
grid "p2 repeats 0-2" --per-node 2 --ranks 4,8 --rates 1000 --repeats 3
last=$lastp1
for r in 3 4; do grid "p1 repeat $r" --repeats 1 --first-repeat $r || break; done
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
kill $SAMPLER
