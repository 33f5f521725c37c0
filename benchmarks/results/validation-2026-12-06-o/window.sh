#!/bin/bash
# Window A (stop 42, emu): teardown tests; the mechanism runs calib asked for (runtime overlap on/off at 8 and 3x2
# ranks) and DDP's per-bucket timeline (benchmarks/ddp_timeline.py) on plain_ddp's held-out cases 5, 9, 0; then the
# held-out validation on main's head (one calibration with defaults, --max-residual 1; 18 configurations x 3,
# round robin, in two parts); then, if time remains, the shaper sweep (tbf 72 KiB vs htb one-MTU bucket).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/validation-2026-12-06-o
O=benchmarks/results/overlap-2026-12-06-o
T=benchmarks/results/ddp-timeline-2026-12-06-o
H=benchmarks/results/shaper-2026-12-06-o
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
END_EPOCH=$(date -u -d "${WINDOW_END:-11:51:30}" +%s)
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/window.log; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/window.log; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g'; done >> $D/sampler.log; }
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
mkdir -p $O $T $H
log "start; main $(git rev-parse --short main), worktree HEAD $(git rev-parse --short HEAD)"; top
sampler & SAMPLER=$!
$PY -m pytest tests/test_emulated.py -k "not p2p_tree" -q -p no:cacheprovider > $D/test_emulated.txt 2>&1
log "teardown tests rc=$? ($(tail -1 $D/test_emulated.txt)); netns: $(ip netns list | wc -l)"
S=benchmarks/results/plain-ddp-2026-12-06-n/scenario.yaml
for c in "8 1 32 1000 25 2" "3 2 32 500 8 1"; do set -- $c
  for rep in $(seq 0 $(( $6 - 1 ))); do for o in true false; do
    $PY -m runtime $S --testbed emulated --algorithm backend --warmup-steps 1 --steps 6 \
      --run-dir $O/n$1x$2-r$4-o$o-$rep --out $O/runs.jsonl --set cluster.nodes=$1 --set cluster.workers_per_node=$2 \
      --set training.micro_batch=$3 --set training.global_batch=$(( $1*$2*$3 )) \
      --set "cluster.inter_node.bandwidth=$4 Mbit/s" --set "communication.bucket=$5 MiB" \
      --set communication.overlap=$o >> $O/run.log 2>&1
    log "overlap n$1x$2 r$4 overlap=$o rep $rep rc=$?"
  done; done
done
$PY benchmarks/ddp_timeline.py --cases 5,9,0 --steps 8 --out $T > $T/run.log 2>&1
log "timeline rc=$?"
$PY benchmarks/validate_emulated.py --limit 1 --repeats 1 --max-residual 1 --out $D/CAL > $D/cal.log 2>&1
log "CAL rc=$?"; top
$PY benchmarks/validate_emulated.py --profile $D/CAL/profile.yaml --limit 9 --repeats 3 --out $D/A > $D/A.log 2>&1
log "A rc=$?"; top
$PY benchmarks/validate_emulated.py --profile $D/CAL/profile.yaml --skip 9 --repeats 3 --out $D/B > $D/B.log 2>&1
log "B rc=$?"; top
if [ "$(left)" -gt 75 ]; then
  timeout $(( $(left) - 15 )) $PY $H/shaper_sweep.py --variants tbf72k,htb1514 --rates 500,700,1000 --repeats 1 \
    --out $H > $H/run.log 2>&1
  log "shaper rc=$?"
else
  log "shaper skipped: $(left) s left"
fi
kill $SAMPLER
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
