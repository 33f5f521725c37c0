#!/bin/bash
# Stop 54's one quiet block (emu): stop 53's block.sh (../validation-2026-12-07-h/block.sh) with fresh54, a probe after
# every calibration and every repeat, both calibrations made by the same command, and a third calibration (CAL3) at a
# registered commit. Run as root from the repository root of a second checkout (detached at main's head when the block
# starts), from a copy of this file outside the checkout, D a private folder until every step has run:
#   WINDOW_END=01:14:00 D=<private folder> PY=<python> FALLBACK=<sha> PROBE_ROOT=<checkout> READY_FILE=<file> \
#     QUIET_FILE=<file> [CAL3_SHA=<sha>] nohup setsid bash block.sh
# In order, each step bounded by WINDOW_END (HH:MM:SS UTC):
#   0. the drift probe (runtime.calibrate.measure_optimizer_fit with the calibration's settings, ~12 s), run from
#      PROBE_ROOT (a checkout of this folder's commit: the same kernel as stops 52-53 whatever main holds);
#   1. CAL1, the defaults calibration: validate_emulated.py --case-set fresh54 --limit 1 --repeats 1 (its one run of
#      case 0, made only when the 5 % gate passes, is not used). If the gate refuses, the profile it wrote prices as it
#      stands (what --max-residual 1 accepts, nothing measured again), as stops 45-53 did. Then a probe;
#   2. repeats 1, 2, 3 (R1, R2, R3) of all 18 cases priced with CAL1's profile, each one command while it fits (else
#      chunks of consecutive cases, --skip I --limit J: a chunk's runs.jsonl is written at its end, so a kill loses one
#      chunk), a probe after each;
#   3. CAL2, a second defaults calibration (the same command), if CAL1's own time + 60 s remain; then a probe;
#   4. CAL3, a defaults calibration at the commit READY_FILE registers as "HH:MM REGISTERED-CAL calib <sha>" before
#      00:28, or at CAL3_SHA where given (stop 54: the coordinator named drift's fc432c10 at 00:25, calib's commit
#      having landed on main), from a checkout detached at it, made when the block starts, before anything is timed,
#      if the longer of CAL1's and CAL2's times + 60 s remain; then a probe (the last).
# Throughout: a load sampler every 15 s (sampler.log), `ip netns list` before and after (before.txt, netns-after.txt),
# network namespaces under the emu- prefix. At the end (or at WINDOW_END) the quiet file (QUIET_FILE) is removed and
# READY_FILE gets the line "HH:MM emu QUIET released".
cd "$(git rev-parse --show-toplevel)" || exit 1
D=${D:?a private folder for the outputs}
PY=${PY:-python}
PROBE_ROOT=${PROBE_ROOT:-$PWD}
CS=fresh54
FACTOR=${FACTOR:-1.1}  # the per-rank start cost over the need() formula (fresh53's repeats ran at ~0.77 of FACTOR 1.1)
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
probe() {  # the optimizer fit as the calibration takes it, now (beside the runs); $1: after which step
  local name="probe-$NPROBE-$1"; NPROBE=$(( NPROBE + 1 ))
  [ "$(left)" -gt 20 ] || { log "$name skipped: $(left) s left"; return; }
  (cd "$PROBE_ROOT" && PYTHONPATH=. timeout $(( $(left) - 5 )) $PY -c "
import time
import runtime.calibrate as rc
from dpsim.scenario import load_scenario
s = load_scenario(overrides=['training.optimizer=adam'])
t = time.perf_counter()
pf = rc.measure_page_fault()
fit, res = rc.measure_optimizer_fit(s, page_fault_s=pf, log=print)
print(f'probe: {1e3*fit.fixed_s:.3f} ms + {1e9*fit.per_unit_s:.3f} ns/param; at 2362368: {1e9*fit(2362368)/2362368:.3f} ns/param; residual {100*res:.1f} %; {time.perf_counter()-t:.1f} s')
") > "$D/$name.txt" 2>&1
  log "$name rc=$?: $(grep '^probe:' "$D/$name.txt")"
}
need() {  # seconds to run cases $1..$2-1 as one command: 6 s to start + per case FACTOR x (2.2 s a rank + 1 s) + 6.6
  # steps (cases.txt: ranks and fresh53 CAL2's predicted step, which over-predicted fresh53 by 1.2 % on average)
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
calibrate() {  # $1: CAL1/CAL2/CAL3, $2: seconds that must remain, $3: the checkout to run in (default this one)
  local name=$1 want=$2 root=${3:-$PWD} set=$CS t0 rc
  [ "$(left)" -gt "$want" ] || { log "$name skipped: $(left) s left, $want wanted"; return 1; }
  grep -q '^FRESH54' "$root/benchmarks/validate_emulated.py" || set=fresh53  # a commit without fresh54: case 0's
  # scenario (the one calibrate() is given) is the default MLP on 3 x 2 ranks there, 4 x 2 in fresh54
  log "$name (a defaults calibration) on $(git -C "$root" rev-parse --short HEAD), --case-set $set, $(left) s left"
  t0=$(date -u +%s)
  (cd "$root" && PYTHONPATH=. timeout $(( $(left) - AFTER )) $PY benchmarks/validate_emulated.py --case-set $set \
    --limit 1 --repeats 1 --out "$D/$name") > "$D/$name.log" 2>&1
  rc=$?; eval "${name}_S=$(( $(date -u +%s) - t0 ))"
  log "$name rc=$rc, $(( $(date -u +%s) - t0 )) s: $(grep '^error: calibration' "$D/$name.log" | cut -c1-600)"; top
  probe "$name"
  [ -f "$D/$name/profile.yaml" ]
}
release() {
  [ -n "${QUIET_FILE:-}" ] && rm -f "$QUIET_FILE" && log "released: $QUIET_FILE removed"
  [ -n "${READY_FILE:-}" ] && echo "$(date -u +%H:%M) emu QUIET released" >> "$READY_FILE"
}
git checkout -q --detach main  # main at the block's start
if ! grep -q '^FRESH54' benchmarks/validate_emulated.py && [ -n "${FALLBACK:-}" ]; then
  git checkout -q --detach "$FALLBACK"  # the prep commit not landed yet: main + the fresh54 case list
fi
CASES=${CASES:-benchmarks/results/validation-2026-12-08-a/cases.txt}  # ranks, step (s) a line
[ -f "$CASES" ] || CASES=$PROBE_ROOT/benchmarks/results/validation-2026-12-08-a/cases.txt
# CAL3's commit: the last "HH:MM REGISTERED-CAL calib <sha>" line written before 00:28 (23:xx is the evening before)
CAL3_SHA=${CAL3_SHA:-$(awk '$2 == "REGISTERED-CAL" && $3 == "calib" && ($1 ~ /^23:/ || $1 < "00:28") { s = $4 } END { print s }' \
  "${READY_FILE:-/dev/null}")}
CAL3_ROOT=${CAL3_ROOT:-$D/cal3-checkout}
if [ -n "$CAL3_SHA" ]; then
  git worktree add -q --detach "$CAL3_ROOT" "$CAL3_SHA" 2>> "$D/block.log" || CAL3_SHA=
fi
{ date -u; uptime; echo "netns: $(ip netns list | wc -l)"; ip netns list; grep -m1 MHz /proc/cpuinfo; } > "$D/before.txt"
log "start; main $(git rev-parse --short main), checkout HEAD $(git rev-parse --short HEAD), CAL3 ${CAL3_SHA:-none}, $(left) s to the block's end"
top
sampler & SAMPLER=$!
probe start
calibrate CAL1 $(( AFTER + 60 ))
PROFILE=$D/CAL1/profile.yaml
if [ -f "$PROFILE" ]; then
  repeats R1 R2 R3 && calibrate CAL2 $(( CAL1_S + 60 )) ; true
else
  log "no CAL1 profile: $(tail -1 "$D/CAL1.log" | cut -c1-300); a second calibration (CAL2) prices the repeats"
  calibrate CAL2 $(( AFTER + 60 )) && PROFILE=$D/CAL2/profile.yaml && repeats R1 R2 R3
fi
if [ -n "$CAL3_SHA" ] && [ -n "${CAL2_S:-}" ]; then
  calibrate CAL3 $(( (CAL1_S > CAL2_S ? CAL1_S : CAL2_S) + 60 )) "$CAL3_ROOT"
elif [ -n "$CAL3_SHA" ]; then
  log "CAL3 not run: no CAL2"
else
  log "CAL3 not run: no REGISTERED-CAL line before 00:28"
fi
kill $SAMPLER
ip netns list > "$D/netns-after.txt"; grep -m1 MHz /proc/cpuinfo >> "$D/block.log"
log "end; netns: $(wc -l < "$D/netns-after.txt")"
release
[ -n "$CAL3_SHA" ] && git worktree remove --force "$CAL3_ROOT" 2>> "$D/block.log"
