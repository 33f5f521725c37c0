#!/bin/bash
# Stop 51's windows (emu), as root from the repository root of a second worktree (checked out at main when the window
# starts), run from a per-window copy of this file outside the checkout, D a private folder until every repeat has run:
#   window.sh W1  probe; validate_emulated.py --case-set fresh51 with the defaults (CAL1 + repeat 1 in R1; if the 5 %
#                 gate refuses, the refused profile as it stands -- what --max-residual 1 accepts, nothing measured
#                 again -- prices repeat 1, R1b, as stops 45-50 did); probe.
#   window.sh W2  probe; a registered refresh (REFRESH, a bash file sourced here) if any; repeat 2 with CAL1's profile
#                 (started only if it ends by ROOT_BY); every test marked root on main's head; CAL2 (a second defaults
#                 calibration) if >= CAL_NEED s remain, else repeat 3; probe. With ROOT_FIRST set (stop 51: W1's
#                 calibration ran 17 min, its gate's two rounds, and left no time for repeat 1): the root tests, then
#                 repeat 1 (R1b) if W1 has none, repeat 2, repeat 3 if it fits; probe.
#   window.sh W3  probe; refresh; what W2 could not hold (repeat 3, or CAL2); probe.
# The drift probe (leads50 ## emu): one runtime.calibrate.measure_optimizer_fit with the calibration's own settings (cold,
# OPTIMIZER_IDLE_S idle), 9-10 s, at the start and the end of every window (probe-<W>-start.txt / -end.txt).
# Each window: a load sampler every 15 s (sampler-<W>.log), `ip netns list` before and after, its own end time
# (WINDOW_END, HH:MM:SS) bounding every step; at its end the window's line (QUIET_LINE) leaves QUIET_FILE.
cd "$(git rev-parse --show-toplevel)" || exit 1
W=${1:?W1, W2 or W3}
D=${D:?a private folder for the outputs}
PY=${PY:-python}
CS=fresh51
CAL_NEED=${CAL_NEED:-660}  # a defaults calibration: 514-580 s at stop 50 (one killed at 569 s): 640 s + the end probe
REPEAT_NEED=${REPEAT_NEED:-340}  # fresh50's repeats 248-265 s; fresh51's predicted steps sum to 1.6x fresh50's
ROOT_NEED=200              # pytest -m root tests/: 181 s at stop 50
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
mkdir -p "$D"
END_EPOCH=$(date -u -d "${WINDOW_END:?HH:MM:SS}" +%s)
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a "$D/window-$W.log"; }
clean() { sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9-]+#WT#g; s#/tm[p]/[^ ]*#<tmp>#g; s#/roo[t]/[^ ]*#<private>#g'; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | clean >> "$D/window-$W.log"; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg) $(head -1 /proc/stat)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | clean; done >> "$D/sampler-$W.log"; }
probe() {  # the optimizer fit as the calibration takes it, now (beside the runs); $1: start or end
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
roottests() {  # every test marked root, on main's head (the 5-8-rank tree cases of tests/test_emulated.py are xfail)
  [ "$(left)" -gt "$ROOT_NEED" ] || { log "root tests skipped: $(left) s left"; return; }
  git checkout -q --detach main
  timeout $(( $(left) - 5 )) env CI=true $PY -m pytest -q -p no:cacheprovider -m root tests/ > "$D/root-tests-$W.txt" 2>&1
  local rc=$?
  echo "$rc $(git rev-parse --short HEAD)" > "$D/root-tests-$W.rc"
  log "pytest -m root tests/ rc=$rc on $(git rev-parse --short HEAD) ($(tail -1 "$D/root-tests-$W.txt")); netns: $(ip netns list | wc -l)"
}
calibrate() {  # the next defaults calibration (CAL2, CAL3) when more than $1 s are left, ending $2 s before the end
  local c; for c in CAL2 CAL3; do [ -e "$D/$c.log" ] || break; done
  [ "$(left)" -gt "$1" ] || { log "$c skipped: $(left) s left"; return 1; }
  log "$c (a defaults calibration) from $(git rev-parse --short HEAD)"
  timeout $(( $(left) - ${2:-20} )) $PY benchmarks/validate_emulated.py --case-set $CS --limit 1 --repeats 1 \
    --out "$D/$c" > "$D/$c.log" 2>&1
  log "$c rc=$?: $(grep '^error: calibration' "$D/$c.log" | cut -c1-600)"; top
}
repeat() {  # one repeat ($1: R2, R3) with CAL1's profile, one command (runs.jsonl is written at a run's end), started
  # only if it can end $2 s before the epoch $3
  local r=$1
  [ -f "$D/$r/runs.jsonl" ] && return 0
  [ $(( $3 - $(date -u +%s) - $2 )) -gt "$REPEAT_NEED" ] || { log "$r skipped: $(( $3 - $(date -u +%s) )) s to its bound"; return 1; }
  timeout $(( $3 - $(date -u +%s) - $2 )) $PY benchmarks/validate_emulated.py --case-set $CS \
    --profile "$D/R1/profile.yaml" --repeats 1 --out "$D/$r" > "$D/$r.log" 2>&1
  log "$r (repeat ${r#R}) rc=$? on $(git rev-parse --short HEAD)"; top
}
{ date -u; uptime; echo "netns: $(ip netns list | wc -l)"; ip netns list; } > "$D/before-$W.txt"
git checkout -q --detach main  # main at window time
log "start $W; main $(git rev-parse --short main), checkout HEAD $(git rev-parse --short HEAD), $(left) s to the window's end"; top
sampler & SAMPLER=$!
probe start
case $W in
  W1)
    timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set $CS --repeats 1 --out "$D/R1" \
      > "$D/R1.log" 2>&1
    rc=$?; log "R1 (CAL1, the defaults calibration, + repeat 1) rc=$rc"; top
    if [ $rc = 2 ] && grep -q '^error: calibration' "$D/R1.log" && [ -f "$D/R1/profile.yaml" ]; then
      log "the 5 % gate refused: $(grep '^error: calibration' "$D/R1.log" | cut -c1-600)"
      timeout $(( $(left) - 20 )) $PY benchmarks/validate_emulated.py --case-set $CS --profile "$D/R1/profile.yaml" \
        --repeats 1 --out "$D/R1b" > "$D/R1b.log" 2>&1
      log "R1b (repeat 1 with the refused defaults profile as it stands) rc=$?"; top
    fi ;;
  W2)
    # shellcheck disable=SC1090
    [ -n "${REFRESH:-}" ] && . "$REFRESH"
    if [ -n "${ROOT_FIRST:-}" ]; then  # W1's calibration left no time for repeat 1 (14:59): the root tests first,
      roottests                        # then repeat 1 (R1b) and 2, and 3 if it ends 30 s before the window
      [ -f "$D/R1/runs.jsonl" ] || repeat R1b 30 "$END_EPOCH"
      repeat R2 30 "$END_EPOCH" && repeat R3 30 "$END_EPOCH"
    else
      repeat R2 0 "$(date -u -d "${ROOT_BY:?HH:MM:SS}" +%s)"
      roottests
      calibrate "$CAL_NEED" 20 || repeat R3 20 "$END_EPOCH"
    fi ;;
  W3)
    # shellcheck disable=SC1090
    [ -n "${REFRESH:-}" ] && . "$REFRESH"
    if [ -f "$D/R3/runs.jsonl" ]; then calibrate 600 15; else repeat R3 20 "$END_EPOCH"; fi
    [ -e "$D/root-tests-W2.rc" ] || roottests ;;
esac
probe end
# shellcheck disable=SC1090
[ -n "${REQUESTS:-}" ] && . "$REQUESTS"
kill $SAMPLER
ip netns list > "$D/netns-after-$W.txt"
log "end $W; netns: $(wc -l < "$D/netns-after-$W.txt")"
if [ -n "${QUIET_FILE:-}" ] && [ -n "${QUIET_LINE:-}" ]; then
  grep -vxF "$QUIET_LINE" "$QUIET_FILE" > "$D/quiet.tmp"; [ -s "$D/quiet.tmp" ] || echo none > "$D/quiet.tmp"
  cat "$D/quiet.tmp" > "$QUIET_FILE"; rm -f "$D/quiet.tmp"
  log "released: '$QUIET_LINE' removed from the quiet file"
fi
