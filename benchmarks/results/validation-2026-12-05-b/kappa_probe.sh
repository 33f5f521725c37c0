#!/bin/bash
# Host CPU per byte of one TCP flow through a tbf-shaped veth pair, by shaped rate (issue 10, κ by rate).
# Run as root: PYTHON=python3 ./kappa_probe.sh > kappa_probe.txt. Namespaces emu31a/b, veth 198.18.31.0/30,
# removed at the end. Per rate: 8 s of a sender writing 1 MiB blocks as fast as the socket takes them; reported:
# payload rate, the sender's and the receiver's CPU (user+system, /proc/PID/stat) and the host's busy, system and
# softirq CPU (/proc/stat), each per payload byte.
set -u
A=emu31a; B=emu31b; PY=${PYTHON:-python3}; SECS=${SECS:-8}
cleanup() { ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; }
trap cleanup EXIT
ip netns add $A; ip netns add $B
ip link add emu31va type veth peer name emu31vb
ip link set emu31va netns $A; ip link set emu31vb netns $B
ip -n $A addr add 198.18.31.1/30 dev emu31va; ip -n $B addr add 198.18.31.2/30 dev emu31vb
for n in $A $B; do ip -n $n link set lo up; done
ip -n $A link set emu31va up; ip -n $B link set emu31vb up
echo "cc $(sysctl -n net.ipv4.tcp_congestion_control) gso_max $(ip -n $A -d link show emu31va | grep -o 'gso_max_size [0-9]*')"
printf "%8s %9s %9s %9s %9s %9s %9s %9s\n" rate MB/s snd_ns/B rcv_ns/B busy_ns/B sys_ns/B sirq_ns/B util
for RATE in ${RATES:-150 450 1000 1200 none}; do
  ip -n $A link set emu31va up
  tc -n $A qdisc del dev emu31va root 2>/dev/null
  if [ "$RATE" != none ]; then tc -n $A qdisc add dev emu31va root tbf rate ${RATE}mbit burst 16kb latency 50ms; fi
  ip netns exec $B $PY -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("198.18.31.2", 5001)); s.listen(1)
c, _ = s.accept(); n = 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    n += len(d)
open("/tmp/emu31_rcv_bytes", "w").write(str(n))' & RPID=$!
  sleep 0.5
  ip netns exec $A $PY -c '
import socket, time, sys
s = socket.create_connection(("198.18.31.2", 5001)); b = bytes(1 << 20); end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end: s.sendall(b)
s.close()' $SECS & SPID=$!
  sleep 1  # past slow start
  read -r _ u0 n0 s0 i0 w0 q0 sq0 st0 _ < /proc/stat
  cs0=$(awk '{print $14+$15}' /proc/$SPID/stat 2>/dev/null); cr0=$(awk '{print $14+$15}' /proc/$RPID/stat 2>/dev/null)
  b0=$(ip netns exec $A cat /sys/class/net/emu31va/statistics/tx_bytes); t0=$(date +%s.%N)
  [ "${TOP:-0}" = 1 ] && (top -b -n 2 -d 2 -w 200 | awk "/^top/{f++} f==2" | head -14 > "${TOP_DIR:-.}/top_$RATE.txt") &  # TOP=1: top over 2 s of the rate
  sleep $((SECS - 3))
  read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ < /proc/stat
  cs1=$(awk '{print $14+$15}' /proc/$SPID/stat 2>/dev/null); cr1=$(awk '{print $14+$15}' /proc/$RPID/stat 2>/dev/null)
  b1=$(ip netns exec $A cat /sys/class/net/emu31va/statistics/tx_bytes); t1=$(date +%s.%N)
  wait $SPID; wait $RPID
  $PY - <<PYEOF
hz = 100.0
dt = $t1 - $t0; by = $b1 - $b0
busy = (($u1 + $n1 + $s1 + $q1 + $sq1 + $st1) - ($u0 + $n0 + $s0 + $q0 + $sq0 + $st0)) / hz
print(f"{'$RATE':>8} {by / dt / 1e6:9.1f} {1e9 * ($cs1 - $cs0) / hz / by:9.2f} {1e9 * ($cr1 - $cr0) / hz / by:9.2f} "
      f"{1e9 * busy / by:9.2f} {1e9 * ($s1 - $s0) / hz / by:9.2f} {1e9 * ($sq1 - $sq0) / hz / by:9.2f} {busy / dt / 2:9.2f}")
PYEOF
done
