#!/bin/bash
# Window A, second part (stop 40, emu; run by hand after windowA.sh, inside the same window): the first three
# repeats showed 750 Mbit/s as slow as 500 and 1000 1.5x faster, so a finer rate sweep at 2, 4, 8 ranks (one a
# node) places the step, twice; then two more repeats of 4 and 8 ranks two a node. /proc/net/softnet_stat (the
# host's per-CPU backlog drops, 2nd column) before and after.
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/gloo-allreduce-grid-2026-12-06-m
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/windowA.log; }
top() { ps aux --sort=-%cpu | head -8 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/windowA.log; }
{ echo "before $(date -u +%T)"; cat /proc/net/softnet_stat; } >> $D/softnet_stat.txt
for r in 0 1; do
  $PY $D/gloo_grid.py --ranks 2,4,8 --rates 600,700,800,850,900,950,1100 --repeats 1 --first-repeat $r --out $D >> $D/run.log 2>&1
  log "sweep repeat $r rc=$?"; top
  [ "$(date -u +%H%M)" -ge 0543 ] && break
done
$PY $D/gloo_grid.py --per-node 2 --ranks 4,8 --rates 1000 --repeats 2 --first-repeat 3 --out $D >> $D/run.log 2>&1
log "p2 repeats 3-4 rc=$?"; top
{ echo "after $(date -u +%T)"; cat /proc/net/softnet_stat; } >> $D/softnet_stat.txt
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
