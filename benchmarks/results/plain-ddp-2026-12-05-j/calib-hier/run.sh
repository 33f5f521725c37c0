cd "$(git rev-parse --show-toplevel)"
R=benchmarks/results/plain-ddp-2026-12-05-j/calib-hier
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" >> $R/window.log; }
log "start calib request (hierarchical 3x2 at 1000 Mbit/s)"
$PY benchmarks/results/validation-2026-12-05-h/hier_phases.py 1000 > $R/hier_phases_1000.txt; log "hier_phases rc=$?"
$PY -c "import benchmarks.validate_emulated as v; open('$R/v10.yaml','w').write(v.SCENARIO)"
for round in 0 1 2; do
  for X in A B C; do
    case $X in A) extra=();; B) extra=(--set communication.overlap=false);; C) extra=(--set "communication.bucket=100 MiB");; esac
    $PY -m runtime $R/v10.yaml --testbed emulated --set cluster.nodes=3 --set cluster.workers_per_node=2 \
      --set communication.algorithm=hierarchical --set training.micro_batch=32 --set training.global_batch=192 --set "cluster.inter_node.bandwidth=1000 Mbit/s" \
      "${extra[@]}" --warmup-steps 1 --steps 5 --out $R/runs_$X.jsonl > $R/run_${X}_$round.log 2>&1
    log "round $round $X rc=$?"
  done
done
ip netns list > $R/netns_after.txt
log "end; netns: $(wc -l < $R/netns_after.txt)"
