#!/bin/bash
# Window B (stop 40, emu): one calibration with the defaults (--max-residual 1), then plain DDP on the held-out
# 13 configurations x 3 repeats (root), on main's head. The teardown tests ran at the start of window A
# (gloo-allreduce-grid-2026-12-06-m).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/plain-ddp-2026-12-06-m
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/window.log; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/window.log; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g'; done >> $D/sampler.log; }
log "start; main $(git rev-parse --short HEAD)"; top
sampler & SAMPLER=$!
$PY -m dpsim calibrate $D/scenario.yaml --testbed emulated --max-residual 1 \
    --records $D/calibration-bench.json -o $D/profile.yaml > $D/cal.log 2>&1
log "calibrate rc=$?"; top
$PY benchmarks/plain_ddp.py --ab --case-set heldout --sides plain --repeats 3 \
    --profile $D/profile.yaml --out $D > $D/run.log 2>&1
log "plain_ddp rc=$?"; top
# If the window has room (before 06:33 UTC): is window A's 600-750 Mbit/s hump bbr's? The grid's all-reduce at
# 500 / 700 / 1000 Mbit/s, 2 / 4 / 8 ranks, with the nodes' TCP on cubic and on bbr (the host's), 2 repeats each.
G=benchmarks/results/gloo-allreduce-grid-2026-12-06-m
if [ "$(date -u +%H%M)" -lt 0633 ]; then
  for r in 0 1; do
    for cc in cubic bbr; do
      DPSIM_TCP_CC=$cc $PY $G/gloo_grid.py --ranks 2,4,8 --rates 500,700,1000 --repeats 1 --first-repeat $r \
          --out $G/cc-$cc >> $G/cc.log 2>&1
      log "grid cc $cc repeat $r rc=$?"
    done
  done
fi
kill $SAMPLER
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
