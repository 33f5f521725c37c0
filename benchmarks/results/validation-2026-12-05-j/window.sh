#!/bin/bash
# The held-out validation on main (stop 37, emu): teardown tests, one calibration with defaults, 18 configurations x 3.
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/validation-2026-12-05-j
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/window.log; }
log "start; main at $(git rev-parse --short HEAD)"
$PY -m pytest tests/test_emulated.py -k "not p2p_tree" -q > $D/test_emulated.txt 2>&1; rc=$?
log "teardown tests rc=$rc; netns: $(ip netns list | wc -l)"
$PY benchmarks/validate_emulated.py --limit 1 --repeats 1 --max-residual 1 --out $D/CAL > $D/cal.log 2>&1; rc=$?
log "CAL rc=$rc"
$PY benchmarks/validate_emulated.py --profile $D/CAL/profile.yaml --limit 9 --repeats 3 --out $D/A > $D/A.log 2>&1; rc=$?
log "A rc=$rc"
$PY benchmarks/validate_emulated.py --profile $D/CAL/profile.yaml --skip 9 --repeats 3 --out $D/B > $D/B.log 2>&1; rc=$?
log "B rc=$rc"
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
