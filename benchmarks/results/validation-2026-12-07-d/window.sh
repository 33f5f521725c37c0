#!/bin/bash
# Stop 49's windows (emu), as root from the repository root of a second worktree of main (run from a per-window copy of
# this file outside the checkout -- never the file being edited --, D a private folder until every repeat has run):
#   the drift reference, a diagnostic only, runs where it fits after a window's own work (not at its start: the
#                 windows' work needs ~2630 s of their 2610): one fixed seen case (fresh47's case 12, 8 ranks
#                 halving-doubling, 3 MiB, 325 Mbit/s; stop 48 ran it twice a window) 4 times with fresh47's W1 profile
#                 (REF-<W>; leads48 ## emu: two runs are too noisy to correct with).
#   window.sh W1  validate_emulated.py --case-set fresh49 with the defaults (the 5 % gate: a link fit above it is
#                 measured again, one still above it ends the run before any case, the profile and its benchmark records
#                 written); if the gate refuses, the refused profile is used as it stands (what --max-residual 1
#                 accepts; nothing measured again) for repeat 1 (R1b), as stops 45-48 did. Then a second defaults
#                 calibration (CAL2: --limit 1 --repeats 1, its one run of case 0 not used) when more than 520 s are left.
#   window.sh W2  repeats 2 and 3 with W1's profile (R23); then the third calibration (CAL3, with CAL3_TREE's code when
#                 set: a checkout of a registered calibration-side commit; else this checkout's) and every test marked
#                 root on main's head (CAL3 first when both fit, else the root tests first).
#   W1 and W2 end with the requests in REQUESTS (a bash file sourced here; each request checks the time left).
#   window.sh W3  (only if W2 could not hold CAL3 or the root tests): what is missing.
# Each window: a load sampler every 15 s (sampler-<W>.log), `ip netns list` before and after, its own end time
# (WINDOW_END, HH:MM:SS) bounding every step; at its end the window's line (QUIET_LINE) leaves QUIET_FILE.
cd "$(git rev-parse --show-toplevel)" || exit 1
W=${1:?W1, W2 or W3}
D=${D:?a private folder for the outputs}
PY=${PY:-python}
REF_PROFILE=benchmarks/results/validation-2026-12-07-b/all/profile.yaml
CAL_NEED=${CAL_NEED:-520}  # a defaults calibration took 430-520 s at stop 48 (terms' ba9899b: +30-40 s)
ROOT_NEED=195  # pytest -m root tests/: 177 s at stop 48
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
mkdir -p "$D"
END_EPOCH=$(date -u -d "${WINDOW_END:?HH:MM:SS}" +%s)
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a "$D/window-$W.log"; }
clean() { sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9-]+#WT#g; s#/tm[p]/[^ ]*#<tmp>#g; s#/roo[t]/[^ ]*#<private>#g'; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | clean >> "$D/window-$W.log"; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | clean; done >> "$D/sampler-$W.log"; }
reference() {  # the drift reference: fresh47's case 12, 4 times
  [ "$(left)" -gt "${1:-110}" ] || { log "REF-$W skipped: $(left) s left"; return; }
  timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh47 --skip 12 --limit 13 --repeats 4 \
    --profile "$REF_PROFILE" --out "$D/REF-$W" > "$D/REF-$W.log" 2>&1
  log "REF-$W (fresh47 case 12, 4 runs) rc=$?: $(grep -E '^MAPE step time' "$D/REF-$W.log" | head -1)"
}
roottests() {  # every test marked root, on main's head (the 5-8-rank tree cases of tests/test_emulated.py are xfail)
  [ "$(left)" -gt "$ROOT_NEED" ] || { log "root tests skipped: $(left) s left"; return; }
  git checkout -q --detach main
  timeout $(( $(left) - 5 )) env CI=true $PY -m pytest -q -p no:cacheprovider -m root tests/ > "$D/root-tests-$W.txt" 2>&1
  local rc=$?
  echo "$rc $(git rev-parse --short HEAD)" > "$D/root-tests-$W.rc"
  log "pytest -m root tests/ rc=$rc on $(git rev-parse --short HEAD) ($(tail -1 "$D/root-tests-$W.txt")); netns: $(ip netns list | wc -l)"
}
calibrate() {  # the next defaults calibration (CAL2, CAL3; or $3) when more than $1 s are left, ending $2 s before the end
  local c tree=. cs=fresh49; for c in CAL2 CAL3 CAL4; do [ -e "$D/$c.log" ] || break; done
  [ -n "${3:-}" ] && c=$3
  [ "$(left)" -gt "$1" ] || { log "$c skipped: $(left) s left"; return; }
  if [ "$c" = CAL3 ] && [ -n "${CAL3_TREE:-}" ]; then
    tree=$CAL3_TREE
    grep -q '^FRESH49' "$tree/benchmarks/validate_emulated.py" || cs=default  # its one run of case 0 is not used
  fi
  log "$c (a defaults calibration) from $( [ "$tree" = . ] && git rev-parse --short HEAD || echo "CAL3_TREE $(cat "$tree/.sha" 2>/dev/null)")"
  (cd "$tree" && timeout $(( $(left) - ${2:-20} )) $PY benchmarks/validate_emulated.py --case-set $cs --limit 1 \
    --repeats 1 --out "$D/$c") > "$D/$c.log" 2>&1
  log "$c rc=$?: $(grep '^error: calibration' "$D/$c.log" | cut -c1-400)"; top
}
{ date -u; uptime; echo "netns: $(ip netns list | wc -l)"; ip netns list; } > "$D/before-$W.txt"
git checkout -q --detach main  # main at window time
log "start $W; main $(git rev-parse --short main), checkout HEAD $(git rev-parse --short HEAD), $(left) s to the window's end"; top
sampler & SAMPLER=$!
case $W in
  W1)
    timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh49 --repeats 1 --out "$D/R1" \
      > "$D/R1.log" 2>&1
    rc=$?; log "R1 (defaults calibration + repeat 1) rc=$rc"; top
    if [ $rc = 2 ] && grep -q '^error: calibration' "$D/R1.log" && [ -f "$D/R1/profile.yaml" ]; then
      log "the 5 % gate refused: $(grep '^error: calibration' "$D/R1.log" | cut -c1-600)"
      timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh49 --profile "$D/R1/profile.yaml" \
        --repeats 1 --out "$D/R1b" > "$D/R1b.log" 2>&1
      log "R1b (repeat 1 with the refused defaults profile as it stands) rc=$?"; top
    fi
    calibrate 520 15
    reference
    # shellcheck disable=SC1090
    [ -n "${REQUESTS:-}" ] && . "$REQUESTS" ;;
  W2)
    timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh49 --profile "$D/R1/profile.yaml" \
      --repeats 2 --out "$D/R23" > "$D/R23.log" 2>&1
    log "R23 (repeats 2 and 3) rc=$?"; top
    if [ "$(left)" -gt $(( CAL_NEED + ROOT_NEED )) ]; then
      calibrate $CAL_NEED $ROOT_NEED CAL3
      roottests
    else
      log "CAL3 + root tests do not both fit ($(left) s left): root tests first"
      roottests
      calibrate $CAL_NEED 20 CAL3
    fi
    [ -e "$D/REF-W1.log" ] && reference  # a drift reference needs W1's to compare with
    # shellcheck disable=SC1090
    [ -n "${REQUESTS:-}" ] && . "$REQUESTS" ;;
  W3)
    [ -e "$D/root-tests-W2.rc" ] || roottests
    [ -e "$D/CAL3.log" ] || calibrate 300 20 CAL3 ;;
esac
kill $SAMPLER
ip netns list > "$D/netns-after-$W.txt"
log "end $W; netns: $(wc -l < "$D/netns-after-$W.txt")"
if [ -n "${QUIET_FILE:-}" ] && [ -n "${QUIET_LINE:-}" ]; then
  grep -vxF "$QUIET_LINE" "$QUIET_FILE" > "$D/quiet.tmp"; [ -s "$D/quiet.tmp" ] || echo none > "$D/quiet.tmp"
  cat "$D/quiet.tmp" > "$QUIET_FILE"; rm -f "$D/quiet.tmp"
  log "released: '$QUIET_LINE' removed from the quiet file"
fi
