#!/bin/bash
# Waits for run_window.sh to end, then at once re-touches quiet_now (same announced window) and runs windowA_extra.sh.
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/host-packet-cost-2026-12-06-n
while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
touch ${COORD:?the coordination folder}/quiet_now
PY=${PY:-python} bash $D/windowA_extra.sh
rm -f ${COORD:?the coordination folder}/quiet_now
echo "$(date -u +%T) quiet_now removed (extra); netns: $(ip netns list | wc -l)" >> $D/windowA.log
