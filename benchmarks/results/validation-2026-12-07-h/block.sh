#!/bin/bash
# Stop 53's one quiet block (emu): stop 52's block.sh (../validation-2026-12-07-g/block.sh) with fresh53, no root tests
# (the fresh-clone CI runs them) and a second defaults calibration (CAL2) after the repeats. Run as root from the
# repository root of a second checkout (detached at main's head when the block starts), from a copy of this file
# outside the checkout, D a private folder until every step has run:
#   WINDOW_END=22:04:00 D=<private folder> PY=<python> FALLBACK=<sha> nohup setsid bash block.sh
# In order, each step bounded by WINDOW_END (HH:MM:SS UTC):
#   1. the drift probe (runtime.calibrate.measure_optimizer_fit with the calibration's settings, ~10 s);
#   2. CAL1 + repeat 1: validate_emulated.py --case-set fresh53 --repeats 1 with the defaults (R1). If the 5 % gate
#      refuses, the profile it wrote is used as it stands (what --max-residual 1 accepts, nothing measured again) and
#      repeat 1 runs as R1b, as stops 45-52 did;
#   3. repeats 2 and 3 (R2, R3) with CAL1's profile, in chunks of consecutive cases (--skip I --limit J, one command
#      each: a chunk's runs.jsonl is written at its end, so a kill loses one chunk), each chunk as long as its estimate
#      fits what is left; a whole repeat is one command while it fits;
#   4. CAL2, a second defaults calibration (validate_emulated.py --case-set fresh53 --limit 1 --repeats 1, as stop 50's
#      CAL2; its one run of case 0, made only when the gate passes, is not used), if CAL1's own time + 60 s remain;
#   5. the drift probe again.
# Throughout: a load sampler every 15 s (sampler.log), `ip netns list` before and after (before.txt, netns-after.txt),
# network namespaces under the emu- prefix. At the end (or at WINDOW_END) the quiet file (QUIET_FILE) is removed and
# READY_FILE gets the line "HH:MM emu QUIET released".
cd "$(git rev-parse --show-toplevel)" || exit 1
D=${D:?a private folder for the outputs}
PY=${PY:-python}
CS=fresh53
FACTOR=${FACTOR:-1.1}  # the per-rank start cost over the need() formula (fresh52's repeats ran at ~0.9 of FACTOR 1)
AFTER=${AFTER:-25}     # kept free after the repeats: the end probe and the release
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
mkdir -p "$D/R1b" "$D/R2" "$D/R3"
END_EPOCH=$(date -u -d "${WINDOW_END:?HH:MM:SS}" +%s)
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a "$D/block.log"; }
clean() { sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9-]+#WT#g; s#/tm[p]/[^ ]*#<tmp>#g; s#/roo[t]/[^ ]*#<private>#g'; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | clean >> "$D/block.log"; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg) $(head -1 /proc/stat)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | clean; done >> "$D/sampler.log"; }
probe() {  # the optimizer fit as the calibration takes it, now (beside the runs); $1: start or end
  [ "$(left)" -gt 20 ] || { log "probe-$1 skipped: $(left) s left"; return; }
  timeout $(( $(left) - 5 )) $PY -c "
import time
import runtime.calibrate as rc
from dpsim.scenario import load_scenario
s = load_scenario(overrides=['training.optimizer=adam'])
t = time.perf_counter()
pf = rc.measure_page_fault()
fit, res = rc.measure_optimizer_fit(s, page_fault_s=pf, log=print)
print(f'probe: {1e3*fit.fixed_s:.3f} ms + {1e9*fit.per_unit_s:.3f} ns/param; at 2362368: {1e9*fit(2362368)/2362368:.3f} ns/param; residual {100*res:.1f} %; {time.perf_counter()-t:.1f} s')
" > "$D/probe-$1.txt" 2>&1
  log "probe-$1 rc=$?: $(grep '^probe:' "$D/probe-$1.txt")"
}
need() {  # seconds to run cases $1..$2-1 as one command: 6 s to start + per case FACTOR x (2.2 s a rank + 1 s) + 6.6
  # steps (cases.txt: ranks and fresh52 CAL1's predicted step, which under-predicted fresh52 by 7 %)
  awk -v a="$1" -v b="$2" -v f="$FACTOR" 'BEGIN { t = 6 } NR > a && NR <= b { t += f * (2.2 * $1 + 1) + 6.6 * $2 }
    END { printf "%d\n", t }' "$CASES"
}
repeats() {  # chunks of the repeats named in $@, in order, until WINDOW_END less AFTER
  local r i j k rc
  for r in "$@"; do
    i=0
    while [ "$i" -lt 18 ]; do
      j=$i; for k in $(seq $(( i + 1 )) 18); do [ "$(need "$i" "$k")" -le $(( $(left) - AFTER )) ] && j=$k; done
      [ "$j" -gt "$i" ] || { log "$r: case $i needs $(need "$i" $(( i + 1 ))) s, $(left) s left: stop"; return 1; }
      log "$r cases $i..$(( j - 1 )) (estimated $(need "$i" "$j") s)"
      timeout $(( $(left) - AFTER + 10 )) $PY benchmarks/validate_emulated.py --case-set $CS \
        --profile "$D/R1/profile.yaml" --repeats 1 --skip "$i" --limit "$j" --out "$D/$r/c$i-$j" > "$D/$r/c$i-$j.log" 2>&1
      rc=$?
      log "$r cases $i..$(( j - 1 )) rc=$rc on $(git rev-parse --short HEAD)"; top
      [ $rc = 0 ] && [ -f "$D/$r/c$i-$j/runs.jsonl" ] || { mv "$D/$r/c$i-$j" "$D/$r/failed-c$i-$j" 2>/dev/null; return 1; }
      i=$j
    done
  done
}
calibrate2() {  # CAL2: a second defaults calibration, when CAL1's own time + 60 s remain (it ends 20 s before the end)
  local want=$(( CAL1_S + 60 ))
  [ "$(left)" -gt "$want" ] || { log "CAL2 skipped: $(left) s left, CAL1 took $CAL1_S s"; return; }
  log "CAL2 (a second defaults calibration) on $(git rev-parse --short HEAD), $(left) s left"
  timeout $(( $(left) - 20 )) $PY benchmarks/validate_emulated.py --case-set $CS --limit 1 --repeats 1 \
    --out "$D/CAL2" > "$D/CAL2.log" 2>&1
  log "CAL2 rc=$?: $(grep '^error: calibration' "$D/CAL2.log" | cut -c1-600)"; top
}
release() {
  [ -n "${QUIET_FILE:-}" ] && rm -f "$QUIET_FILE" && log "released: $QUIET_FILE removed"
  [ -n "${READY_FILE:-}" ] && echo "$(date -u +%H:%M) emu QUIET released" >> "$READY_FILE"
}
git checkout -q --detach main  # main at the block's start
if ! grep -q '^FRESH53' benchmarks/validate_emulated.py && [ -n "${FALLBACK:-}" ]; then
  git checkout -q --detach "$FALLBACK"  # the prep commit not landed yet: main + the fresh53 case list
fi
CASES=${CASES:-benchmarks/results/validation-2026-12-07-h/cases.txt}  # ranks, step (s) a line
{ date -u; uptime; echo "netns: $(ip netns list | wc -l)"; ip netns list; grep -m1 MHz /proc/cpuinfo; } > "$D/before.txt"
log "start; main $(git rev-parse --short main), checkout HEAD $(git rev-parse --short HEAD), $(left) s to the block's end"
top
sampler & SAMPLER=$!
probe start
T0=$(date -u +%s)
timeout $(( $(left) - AFTER )) $PY benchmarks/validate_emulated.py --case-set $CS --repeats 1 --out "$D/R1" \
  > "$D/R1.log" 2>&1
rc=$?; CAL1_S=$(( $(date -u +%s) - T0 )); log "R1 (CAL1, the defaults calibration, + repeat 1) rc=$rc, $CAL1_S s"; top
if [ -f "$D/R1/runs.jsonl" ]; then
  repeats R2 R3; calibrate2
elif [ -f "$D/R1/profile.yaml" ]; then
  log "no repeat 1 in R1: $(grep '^error: calibration' "$D/R1.log" | cut -c1-600)"
  repeats R1b R2 R3; calibrate2  # the refused profile as it stands
else
  log "no CAL1 profile: nothing to price"
fi
probe end
kill $SAMPLER
ip netns list > "$D/netns-after.txt"; grep -m1 MHz /proc/cpuinfo >> "$D/block.log"
log "end; netns: $(wc -l < "$D/netns-after.txt")"
release
