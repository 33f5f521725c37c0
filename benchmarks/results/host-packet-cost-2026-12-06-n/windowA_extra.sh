#!/bin/bash
# Window A, second part (same announced window 08:20-08:50): after windowA.sh, quiet_now touched again at once.
# RPS on every veth across all rates (does the hump follow cross-CPU reordering?), base again with TcpExt counters,
# tbf burst 256 KiB across all rates (does it follow tbf's segmentation?), RPS again.
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/host-packet-cost-2026-12-06-n
PY=${PY:-python}
END=${END:-08:47}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a $D/windowA.log; }
top() { ps aux --sort=-%cpu | head -8 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g' >> $D/windowA.log; }
log "extra start"; top
$PY $D/packet_sweep.py --repeats 1 --variants rps --end "$END" --out $D/raw >> $D/run.log 2>&1
log "rps repeat 0 rc=$?"; top
$PY $D/packet_sweep.py --repeats 1 --first-repeat 3 --end "$END" --out $D/raw >> $D/run.log 2>&1
log "base repeat 3 rc=$?"; top
$PY $D/packet_sweep.py --repeats 1 --variants burst256k --end "$END" --out $D/raw >> $D/run.log 2>&1
log "burst256k repeat 0 (all rates) rc=$?"; top
$PY $D/packet_sweep.py --repeats 1 --first-repeat 1 --variants rps --end "$END" --out $D/raw >> $D/run.log 2>&1
log "rps repeat 1 rc=$?"; top
sysctl -w net.core.dev_weight=64 >> $D/windowA.log
ip netns list > $D/netns_after.txt
log "extra end; netns: $(wc -l < $D/netns_after.txt)"
