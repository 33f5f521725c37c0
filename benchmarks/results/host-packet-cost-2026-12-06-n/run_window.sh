#!/bin/bash
# Starts window A at $START (UTC): waits for $COORD/ci-running to be absent, records the load, touches quiet_now,
# runs windowA.sh, removes quiet_now.
cd "$(git rev-parse --show-toplevel)"
D=benchmarks/results/host-packet-cost-2026-12-06-n
START=${START:-08:20:00}
while [ "$(date -u +%s)" -lt "$(date -u -d "$START" +%s)" ]; do sleep 2; done
while [ -e ${COORD:?the coordination folder}/ci-running ]; do echo "$(date -u +%T) ci-running, waiting" >> $D/windowA.log; sleep 10; done
{ date -u; uptime; ps aux --sort=-%cpu | head -12 | cut -c1-160 | sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g'; } > $D/before_window.txt
touch ${COORD:?the coordination folder}/quiet_now
PY=${PY:-python} bash $D/windowA.sh
rm -f ${COORD:?the coordination folder}/quiet_now
echo "$(date -u +%T) quiet_now removed; netns: $(ip netns list | wc -l)" >> $D/windowA.log
