#!/bin/bash
# Stop 55's one quiet block (emu): stop 54's block.sh (../validation-2026-12-08-a/block.sh) with fresh55, the
# reference kernel (runtime.pace.reference_kernel_s, the one a calibration brackets its parts with) timed in every
# standalone probe, CAL1's first pass timed, and the second calibration's rule below; no CAL3. Run as root from the
# repository root of a second checkout (detached at main's head when the block starts), from a copy of this file
# outside the checkout, D a private folder until every step has run:
#   WINDOW_END=04:39:00 D=<private folder> PY=<python> FALLBACK=<sha> PROBE_ROOT=<checkout> READY_FILE=<file> \
#     QUIET_FILE=<file> nohup setsid bash block.sh
# In order, each step bounded by WINDOW_END (HH:MM:SS UTC):
#   0. the probe, run from PROBE_ROOT (a checkout of this folder's commit: the same code whatever main holds): the
#      reference kernel 5 times, the optimizer fit (runtime.calibrate.measure_optimizer_fit with the calibration's
#      settings), the reference kernel 5 times again (~13 s);
#   1. CAL1, the defaults calibration: validate_emulated.py --case-set fresh55 --limit 1 --repeats 1 (its one run of
#      case 0, made only when the 5 % gate passes, is not used). If the gate refuses, the profile it wrote prices as it
#      stands (what --max-residual 1 accepts, nothing measured again), as stops 45-54 did. Its log is written as it
#      goes (PYTHONUNBUFFERED=1), and the time to its first "round 1 of" line (the gate's first re-measure round, i.e.
#      the first pass over every part) is CAL1's first pass (CAL1_FIRST_S; CAL1's whole time where it has none).
#      Then a probe;
#   2. repeats 1, 2, 3 (R1, R2, R3) of all 18 cases priced with CAL1's profile, each one command while it fits (else
#      chunks of consecutive cases, --skip I --limit J: a chunk's runs.jsonl is written at its end, so a kill loses one
#      chunk), a probe after each;
#   3. CAL2, a second calibration, then a probe (the last), by the rule fixed before the block:
#      (a) if CAL1's own time + 60 s remain: the defaults calibration again (the same command as CAL1);
#      (b) else if CAL1's first pass + case 0's one run (need()) + 60 s remain: the same command with
#          --max-residual 1 (CAL2-first-pass: every part measured once, as CAL1's first pass was; no gate re-measure
#          round and no re-timing of a part whose reference kernel moved, since both use the limit; the gate then
#          passes and case 0 runs once, not used);
#      (c) else none (logged).
# Throughout: a load sampler every 15 s (sampler.log), `ip netns list` before and after (before.txt, netns-after.txt),
# network namespaces under the emu- prefix. At the end (or at WINDOW_END) the quiet file (QUIET_FILE) is removed and
# READY_FILE gets the line "HH:MM emu QUIET released".
cd "$(git rev-parse --show-toplevel)" || exit 1
D=${D:?a private folder for the outputs}
PY=${PY:-python}
PROBE_ROOT=${PROBE_ROOT:-$PWD}
CS=fresh55
H=benchmarks/results/validation-2026-12-08-b
FACTOR=${FACTOR:-1.1}  # the per-rank start cost over the need() formula (fresh54's repeats ran at ~0.93 of FACTOR 1.1)
AFTER=${AFTER:-20}     # kept free after a step: its probe
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
mkdir -p "$D/R1" "$D/R2" "$D/R3"
END_EPOCH=$(date -u -d "${WINDOW_END:?HH:MM:SS}" +%s)
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a "$D/block.log"; }
clean() { sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9-]+#WT#g; s#/tm[p]/[^ ]*#<tmp>#g; s#/roo[t]/[^ ]*#<private>#g'; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | clean >> "$D/block.log"; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg) $(head -1 /proc/stat)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | clean; done >> "$D/sampler.log"; }
NPROBE=0
probe() {  # the reference kernel and the optimizer fit as the calibration takes them, now; $1: after which step
  local name="probe-$NPROBE-$1"; NPROBE=$(( NPROBE + 1 ))
  [ "$(left)" -gt 20 ] || { log "$name skipped: $(left) s left"; return; }
  (cd "$PROBE_ROOT" && PYTHONPATH=. timeout $(( $(left) - 5 )) $PY -c "
import time
import runtime.calibrate as rc
from runtime.pace import reference_kernel_s
from dpsim.scenario import load_scenario
s = load_scenario(overrides=['training.optimizer=adam'])
t = time.perf_counter()
before = [reference_kernel_s() for _ in range(5)]
pf = rc.measure_page_fault()
fit, res = rc.measure_optimizer_fit(s, page_fault_s=pf, log=print)
after = [reference_kernel_s() for _ in range(5)]
print(f'probe: {1e3*fit.fixed_s:.3f} ms + {1e9*fit.per_unit_s:.3f} ns/param; at 2362368: {1e9*fit(2362368)/2362368:.3f} ns/param; residual {100*res:.1f} %; {time.perf_counter()-t:.1f} s')
ms = lambda v: ' '.join(f'{1e3 * x:.3f}' for x in v)
print(f'kernel: before {ms(before)} ms; after {ms(after)} ms')
") > "$D/$name.txt" 2>&1
  log "$name rc=$?: $(grep '^probe:' "$D/$name.txt"); $(grep '^kernel:' "$D/$name.txt")"
}
need() {  # seconds to run cases $1..$2-1 as one command: 6 s to start + per case FACTOR x (2.2 s a rank + 1 s) + 6.6
  # steps (cases.txt: ranks and fresh53 CAL2's predicted step, which under-predicted fresh54 by 6.1 % on average)
  awk -v a="$1" -v b="$2" -v f="$FACTOR" 'BEGIN { t = 6 } NR > a && NR <= b { t += f * (2.2 * $1 + 1) + 6.6 * $2 }
    END { printf "%d\n", t }' "$CASES"
}
repeats() {  # the repeats named in $@, in order, each followed by a probe, until WINDOW_END less AFTER
  local r i j k rc
  for r in "$@"; do
    i=0
    while [ "$i" -lt 18 ]; do
      j=$i; for k in $(seq $(( i + 1 )) 18); do [ "$(need "$i" "$k")" -le $(( $(left) - AFTER )) ] && j=$k; done
      [ "$j" -gt "$i" ] || { log "$r: case $i needs $(need "$i" $(( i + 1 ))) s, $(left) s left: stop"; return 1; }
      log "$r cases $i..$(( j - 1 )) (estimated $(need "$i" "$j") s)"
      timeout $(( $(left) - AFTER + 10 )) $PY benchmarks/validate_emulated.py --case-set $CS \
        --profile "$PROFILE" --repeats 1 --skip "$i" --limit "$j" --out "$D/$r/c$i-$j" > "$D/$r/c$i-$j.log" 2>&1
      rc=$?
      log "$r cases $i..$(( j - 1 )) rc=$rc on $(git rev-parse --short HEAD)"; top
      [ $rc = 0 ] && [ -f "$D/$r/c$i-$j/runs.jsonl" ] || { mv "$D/$r/c$i-$j" "$D/$r/failed-c$i-$j" 2>/dev/null; return 1; }
      i=$j
    done
    probe "$r"
  done
}
first_pass() {  # $1: the log; writes the epoch of its first "round 1 of" line to $2 (polls every 2 s)
  while sleep 2; do grep -q 'round 1 of' "$1" 2>/dev/null && { date -u +%s > "$2"; return; }; done
}
calibrate() {  # $1: CAL1/CAL2, $2: seconds that must remain, then extra options for validate_emulated.py
  local name=$1 want=$2 t0 rc watcher; shift 2
  [ "$(left)" -gt "$want" ] || { log "$name skipped: $(left) s left, $want wanted"; return 1; }
  log "$name (a calibration${*:+, $*}) on $(git rev-parse --short HEAD), --case-set $CS, $(left) s left"
  t0=$(date -u +%s)
  first_pass "$D/$name.log" "$D/$name.first" & watcher=$!
  PYTHONUNBUFFERED=1 timeout $(( $(left) - AFTER )) $PY benchmarks/validate_emulated.py --case-set $CS \
    --limit 1 --repeats 1 "$@" --out "$D/$name" > "$D/$name.log" 2>&1
  rc=$?; eval "${name}_S=$(( $(date -u +%s) - t0 ))"
  kill $watcher 2>/dev/null; wait $watcher 2>/dev/null
  if [ -f "$D/$name.first" ]; then eval "${name}_FIRST_S=$(( $(cat "$D/$name.first") - t0 ))"
  else eval "${name}_FIRST_S=\$${name}_S"; fi
  log "$name rc=$rc, $(( $(date -u +%s) - t0 )) s (first pass $(eval echo "\$${name}_FIRST_S") s): $(grep '^error: calibration' "$D/$name.log" | cut -c1-600)"; top
  probe "$name"
  [ -f "$D/$name/profile.yaml" ]
}
release() {
  [ -n "${QUIET_FILE:-}" ] && rm -f "$QUIET_FILE" && log "released: $QUIET_FILE removed"
  [ -n "${READY_FILE:-}" ] && echo "$(date -u +%H:%M) emu QUIET released" >> "$READY_FILE"
}
git checkout -q --detach main  # main at the block's start
if ! grep -q '^FRESH55' benchmarks/validate_emulated.py && [ -n "${FALLBACK:-}" ]; then
  git checkout -q --detach "$FALLBACK"  # the prep commit not landed yet: main + the fresh55 case list
fi
CASES=${CASES:-$H/cases.txt}  # ranks, step (s) a line
[ -f "$CASES" ] || CASES=$PROBE_ROOT/$H/cases.txt
{ date -u; uptime; echo "netns: $(ip netns list | wc -l)"; ip netns list; grep -m1 MHz /proc/cpuinfo; } > "$D/before.txt"
log "start; main $(git rev-parse --short main), checkout HEAD $(git rev-parse --short HEAD), probe $(git -C "$PROBE_ROOT" rev-parse --short HEAD), $(left) s to the block's end"
top
sampler & SAMPLER=$!
probe start
calibrate CAL1 $(( AFTER + 60 ))
PROFILE=$D/CAL1/profile.yaml
if [ -f "$PROFILE" ]; then
  if repeats R1 R2 R3; then
    if [ "$(left)" -gt $(( CAL1_S + 60 )) ]; then
      calibrate CAL2 $(( CAL1_S + 60 ))
    elif [ "$(left)" -gt $(( CAL1_FIRST_S + $(need 0 1) + 60 )) ]; then
      log "CAL2 as the first pass alone (rule b): $(left) s left, CAL1 took $CAL1_S s, its first pass $CAL1_FIRST_S s"
      calibrate CAL2 $(( CAL1_FIRST_S + $(need 0 1) + 60 )) --max-residual 1
    else
      log "CAL2 not run (rule c): $(left) s left, CAL1 took $CAL1_S s, its first pass $CAL1_FIRST_S s"
    fi
  fi
else
  log "no CAL1 profile: $(tail -1 "$D/CAL1.log" | cut -c1-300); a second calibration (CAL2) prices the repeats"
  calibrate CAL2 $(( AFTER + 60 )) && PROFILE=$D/CAL2/profile.yaml && repeats R1 R2 R3
fi
kill $SAMPLER
ip netns list > "$D/netns-after.txt"; grep -m1 MHz /proc/cpuinfo >> "$D/block.log"
log "end; netns: $(wc -l < "$D/netns-after.txt")"
release
