#!/bin/bash
# Window A, third part (same announced window 08:20-08:50): the smallest tbf burst that passes TCP's largest GSO skb
# whole (64 KiB of payload + 44 segments' headers, qdisc_pkt_len ~68 KB): 72 KiB, and 256 KiB again.
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/host-packet-cost-2026-12-06-n
PY=${PY:-python}
END=${END:-08:48}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/windowA.log; }
log "extra2 start"
$PY $D/packet_sweep.py --repeats 1 --variants burst72k --end "$END" --out $D/raw >> $D/run.log 2>&1
log "burst72k repeat 0 rc=$?"
$PY $D/packet_sweep.py --repeats 1 --first-repeat 1 --variants burst256k --end "$END" --out $D/raw >> $D/run.log 2>&1
log "burst256k repeat 1 rc=$?"
ip netns list > $D/netns_after.txt
log "extra2 end; netns: $(wc -l < $D/netns_after.txt)"
