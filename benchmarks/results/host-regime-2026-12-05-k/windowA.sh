#!/bin/bash
# Window A (stop 38, emu), as it ran: the teardown tests (this session's first window), then host_regime.py:
# plain DDP and the split (hook / no overlap / comm alone) at 1000 Mbit/s, one rank a node, 2-8 ranks, 3 repeats (root).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/host-regime-2026-12-05-k
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/windowA.log; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 >> $D/windowA.log; }
log "start"; top
$PY -m pytest tests/test_emulated.py -k "not p2p_tree" -q > $D/test_emulated.txt 2>&1
log "teardown tests rc=$?; netns: $(ip netns list | wc -l)"; top
$PY $D/host_regime.py --ranks 2,3,4,6,8 --repeats 3 --steps 5 --out $D > $D/run.log 2>&1
log "host_regime rc=$?"; top
ip netns list > $D/netns_after.txt
log "end; netns: $(wc -l < $D/netns_after.txt)"
# contrast, only if the window has room (ends before 23:53 UTC): the same at 500 Mbit/s on 4 and 8 ranks, 2 repeats
if [ "$(date -u +%H)" = 23 ] && [ $((10#$(date -u +%M))) -lt 43 ]; then
  $PY $D/host_regime.py --ranks 4,8 --repeats 2 --steps 5 --rate 500 --out $D/rate500 > $D/rate500.log 2>&1
  log "host_regime 500 rc=$?"; top
  ip netns list > $D/netns_after.txt
  log "end; netns: $(wc -l < $D/netns_after.txt)"
fi
