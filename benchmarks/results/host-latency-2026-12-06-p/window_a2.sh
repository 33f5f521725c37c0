#!/bin/bash
# Window A, tail (stop 43, emu; the main part ended early): (d) again with more pairs at 8 ranks, and DDP's timeline
# on three more fresh cases (7: 8 ranks 8 MiB 700 Mbit/s; 6: 7 ranks accumulation 4; 10: 3 x 2) to test the rule
# "last completion = slowest rank's hand-over of bucket 0 + wire time of all bytes" at 700 Mbit/s and 25 MiB (root).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/host-latency-2026-12-06-p
T=benchmarks/results/ddp-timeline-2026-12-06-p
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/window.log; }
log "tail start"
$PY $D/latency_probe.py --nodes 8 --variants base --modes barrier --calls 5 --conc-reps 8 --out $D/n8conc > $D/n8conc.log 2>&1
log "conc n8 rc=$?"
$PY benchmarks/ddp_timeline.py --case-set fresh --cases 7,6,10 --repeats 2 --steps 8 --out $T > $T/run-fresh-tail.log 2>&1
log "timeline fresh tail rc=$?"
ip netns list > $D/netns_after.txt
log "tail end; netns: $(wc -l < $D/netns_after.txt)"
