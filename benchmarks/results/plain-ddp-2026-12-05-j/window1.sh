#!/bin/bash
# Window 1 (stop 37, emu), as it ran: teardown tests, one calibration with the defaults, plain DDP on 13 held-out
# configurations x 3 repeats (root). The teardown tests ran at 20:46; the calibration's first try was aborted (other
# work on the host) and restarted at 20:55 with the same command.
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/plain-ddp-2026-12-05-j
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/window1.log; }
$PY -m pytest tests/test_emulated.py -k "not p2p_tree" -q > $D/test_emulated.txt 2>&1
log "teardown tests rc=$?; netns: $(ip netns list | wc -l)"
$PY -m dpsim calibrate $D/scenario.yaml --testbed emulated --max-residual 1 \
    --records $D/calibration-bench.json -o $D/profile.yaml > $D/cal.log 2>&1
log "calibrate rc=$?"
$PY benchmarks/plain_ddp.py --ab --case-set heldout --sides plain --repeats 3 \
    --profile $D/profile.yaml --out $D > $D/run.log 2>&1
log "plain_ddp rc=$?"
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
