#!/bin/bash
# Stop 51's windows W2 and W3 (emu), after W1's defaults calibration took 926 s (its 5 % gate's two re-measure rounds)
# and W1's repeat 1 ran 10 of 18 cases in 4.3 min (the host ~1.6x slower per rank started than at stop 50): a repeat
# needs ~510 s, two windows hold ~1,650 s of repeats. So the repeats run in chunks of consecutive cases
# (validate_emulated.py --skip I --limit J: cases I..J-1, one command each; a chunk's runs.jsonl is written at its end,
# so a kill loses one chunk), each chunk as long as fits the window, the next case's time estimated from its ranks and
# its predicted step (NEED below, fitted on W1's 9 whole cases: 257 s); repeats in order R1b, R2, R3, cases in order.
# Run as root from the repository root of a checkout of main, from a copy of this file outside the checkout:
#   W=W2 WINDOW_END=15:43:00 D=<private folder> STEPS="probe refresh root repeats probe" bash window2.sh
# Each window: a load sampler every 15 s, `ip netns list` before and after, the drift probe (as window.sh), pool's
# refresh (REFRESH, sourced), every root test on main's head (root), and at its end the window's line leaves QUIET_FILE.
cd "$(git rev-parse --show-toplevel)" || exit 1
W=${W:?W2 or W3}
D=${D:?a private folder for the outputs}
PY=${PY:-python}
CS=fresh51
FACTOR=${FACTOR:-1.6}  # W1: the host's per-rank start cost over stop 50's (9 cases 257 s vs 163 s estimated)
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
END_EPOCH=$(date -u -d "${WINDOW_END:?HH:MM:SS}" +%s)
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a "$D/window-$W.log"; }
clean() { sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9-]+#WT#g; s#/tm[p]/[^ ]*#<tmp>#g; s#/roo[t]/[^ ]*#<private>#g'; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg) $(head -1 /proc/stat)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | clean; done >> "$D/sampler-$W.log"; }
probe() {  # the optimizer fit as the calibration takes it (window.sh's), $1: start or end
  [ "$(left)" -gt 25 ] || { log "probe-$W-$1 skipped: $(left) s left"; return; }
  timeout $(( $(left) - 5 )) $PY -c "
import time
import runtime.calibrate as rc
from dpsim.scenario import load_scenario
s = load_scenario(overrides=['training.optimizer=adam'])
t = time.perf_counter()
pf = rc.measure_page_fault()
fit, res = rc.measure_optimizer_fit(s, page_fault_s=pf, log=print)
print(f'probe: {1e3*fit.fixed_s:.3f} ms + {1e9*fit.per_unit_s:.3f} ns/param; at 2362368: {1e9*fit(2362368)/2362368:.3f} ns/param; residual {100*res:.1f} %; {time.perf_counter()-t:.1f} s')
" > "$D/probe-$W-$1.txt" 2>&1
  log "probe-$W-$1 rc=$?: $(grep '^probe:' "$D/probe-$W-$1.txt")"
}
roottests() {
  [ "$(left)" -gt 200 ] || { log "root tests skipped: $(left) s left"; return; }
  git checkout -q --detach main
  timeout $(( $(left) - 5 )) env CI=true $PY -m pytest -q -p no:cacheprovider -m root tests/ > "$D/root-tests-$W.txt" 2>&1
  local rc=$?
  echo "$rc $(git rev-parse --short HEAD)" > "$D/root-tests-$W.rc"
  log "pytest -m root tests/ rc=$rc on $(git rev-parse --short HEAD) ($(tail -1 "$D/root-tests-$W.txt")); netns: $(ip netns list | wc -l)"
}
need() {  # seconds to run cases $1..$2-1 as one command: 6 s to start + per case FACTOR x (2.2 s a rank + 1 s) + 6.6 steps
  awk -v a="$1" -v b="$2" -v f="$FACTOR" 'BEGIN { t = 6 } NR > a && NR <= b { t += f * (2.2 * $1 + 1) + 6.6 * $2 }
    END { printf "%d\n", t }' "$D/cases.txt"
}
repeats() {  # chunks of R1b, R2, R3 in order until the window's end (less $1 s for what follows)
  local r i j k done_to rc
  for r in R1b R2 R3; do
    i=0; for done_to in "$D/$r"/c*-*/runs.jsonl; do  # resume after the last chunk that ran
      [ -f "$done_to" ] || continue; done_to=${done_to%/runs.jsonl}; [ "${done_to##*-}" -gt "$i" ] && i=${done_to##*-}
    done
    while [ "$i" -lt 18 ]; do
      j=$i; for k in $(seq $(( i + 1 )) 18); do [ "$(need "$i" "$k")" -le $(( $(left) - $1 )) ] && j=$k; done
      [ "$j" -gt "$i" ] || { log "$r: case $i needs $(need "$i" $(( i + 1 ))) s, $(left) s left: stop"; return; }
      log "$r cases $i..$(( j - 1 )) (estimated $(need "$i" "$j") s)"
      timeout $(( $(left) - $1 + 10 )) $PY benchmarks/validate_emulated.py --case-set $CS --profile "$D/R1/profile.yaml" \
        --repeats 1 --skip "$i" --limit "$j" --out "$D/$r/c$i-$j" > "$D/$r/c$i-$j.log" 2>&1
      rc=$?
      log "$r cases $i..$(( j - 1 )) rc=$rc on $(git rev-parse --short HEAD)"
      [ $rc = 0 ] && [ -f "$D/$r/c$i-$j/runs.jsonl" ] || { mv "$D/$r/c$i-$j" "$D/$r/failed-c$i-$j" 2>/dev/null; return; }
      i=$j
    done
  done
}
mkdir -p "$D/R1b" "$D/R2" "$D/R3"
{ date -u; uptime; echo "netns: $(ip netns list | wc -l)"; ip netns list; grep -m1 MHz /proc/cpuinfo; } > "$D/before-$W.txt"
git checkout -q --detach main  # main at window time
log "start $W; main $(git rev-parse --short main), $(left) s to the window's end; steps: ${STEPS:?}"
sampler & SAMPLER=$!
n=0; for s in $STEPS; do
  n=$(( n + 1 ))
  case $s in
    probe) if [ $n = 1 ]; then probe start; else probe end; fi ;;
    # shellcheck disable=SC1090
    refresh) [ -n "${REFRESH:-}" ] && . "$REFRESH" ;;
    root) roottests ;;
    repeats) repeats "${AFTER:-25}" ;;
  esac
done
kill $SAMPLER
ip netns list > "$D/netns-after-$W.txt"; grep -m1 MHz /proc/cpuinfo >> "$D/window-$W.log"
log "end $W; netns: $(wc -l < "$D/netns-after-$W.txt")"
if [ -n "${QUIET_FILE:-}" ] && [ -n "${QUIET_LINE:-}" ]; then
  grep -vxF "$QUIET_LINE" "$QUIET_FILE" > "$D/quiet.tmp"; [ -s "$D/quiet.tmp" ] || echo none > "$D/quiet.tmp"
  cat "$D/quiet.tmp" > "$QUIET_FILE"; rm -f "$D/quiet.tmp"
  log "released: '$QUIET_LINE' removed from the quiet file"
fi
