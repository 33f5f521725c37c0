#!/bin/bash
# Window A, fourth part (same announced window 08:20-08:50): burst 72 KiB repeats 1-2, and 48 KiB (below TCP's
# largest GSO skb: partly segmented).
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/host-packet-cost-2026-12-06-n
PY=${PY:-python}
END=${END:-08:47}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/windowA.log; }
log "extra3 start"
$PY $D/packet_sweep.py --repeats 2 --first-repeat 1 --variants burst72k --end "$END" --out $D/raw >> $D/run.log 2>&1
log "burst72k repeats 1-2 rc=$?"
$PY $D/packet_sweep.py --repeats 1 --variants burst48k --end "$END" --out $D/raw >> $D/run.log 2>&1
log "burst48k repeat 0 rc=$?"
ip netns list > $D/netns_after.txt
log "extra3 end; netns: $(wc -l < $D/netns_after.txt)"
