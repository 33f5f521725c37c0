#!/bin/bash
# Run as root with torch importable (PYTHON=...): RATE=450mbit FLOWCPU=0|1 ./softirq_probe.sh. Namespaces emu30a/b, veth 198.18.30.0/30, removed at the end.
# softirq charged to a busy thread? veth pair between two namespaces, tbf-paced; flow pinned to CPU 1, compute on CPU 0
set -u
A=emu30a; B=emu30b; RATE=${RATE:-450mbit}
ip netns add $A; ip netns add $B
ip link add emu30va type veth peer name emu30vb
ip link set emu30va netns $A; ip link set emu30vb netns $B
ip -n $A addr add 198.18.30.1/30 dev emu30va; ip -n $B addr add 198.18.30.2/30 dev emu30vb
ip -n $A link set emu30va up; ip -n $B link set emu30vb up; ip -n $A link set lo up; ip -n $B link set lo up
if [ "$RATE" != none ]; then
  ip netns exec $A tc qdisc add dev emu30va root tbf rate $RATE burst 32kb latency 50ms
  ip netns exec $B tc qdisc add dev emu30vb root tbf rate $RATE burst 32kb latency 50ms
fi
PY=${PYTHON:-python3}; HERE=$(dirname "$0")
run_compute() { taskset -c 0 $PY "$HERE/softirq_probe_compute.py" "$1"; }
run_compute idle
ip netns exec $B taskset -c ${FLOWCPU:-1} $PY -c '
import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(("198.18.30.2",5001)); s.listen(1); c,_=s.accept()
while c.recv(1<<20): pass' & RPID=$!
sleep 1
ip netns exec $A taskset -c ${FLOWCPU:-1} timeout 40 $PY -c '
import socket; s=socket.create_connection(("198.18.30.2",5001)); b=bytes(1<<20)
while True: s.sendall(b)' & SPID=$!
sleep 2
run_compute "flow $RATE"
kill $SPID $RPID 2>/dev/null; wait $SPID $RPID 2>/dev/null
ip netns del $A; ip netns del $B
# control: a busy loop on the compute's CPU, no network
taskset -c ${FLOWCPU:-1} timeout 15 $PY -c 'while 1: pass' & HPID=$!
sleep 1; run_compute "hog cpu${FLOWCPU:-1}"; kill $HPID 2>/dev/null; wait $HPID 2>/dev/null
