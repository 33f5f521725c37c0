#!/bin/bash
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/host-packet-cost-2026-12-06-n
while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
touch ${COORD:?the coordination folder}/quiet_now
PY=${PY:-python} bash $D/windowA_extra3.sh
rm -f ${COORD:?the coordination folder}/quiet_now
echo "$(date -u +%T) quiet_now removed (extra3); netns: $(ip netns list | wc -l)" >> $D/windowA.log
