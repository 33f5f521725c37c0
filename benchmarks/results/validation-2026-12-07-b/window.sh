#!/bin/bash
# Stop 47's windows (emu), as root from the repository root of a checkout of main at window time (run from a copy of
# this file outside the checkout, with D a private folder, so that W3 may move the checkout to main's head):
#   window.sh W1  (02:24-02:46 UTC): validate_emulated.py --case-set fresh47 with the defaults (the 5 % gate: a link
#                 fit above it is measured again, one still above it ends the run before any case, the profile and
#                 its benchmark records written); if the gate refuses, the refused profile is used as it stands
#                 (the fits are what --max-residual 1 accepts; nothing measured again) for repeat 1 (R1b), as stops
#                 45-46 did. Then another calibration with the defaults (the next of CAL2, CAL3, CAL4: --limit 1
#                 --repeats 1, its one run of case 0 not used) when more than 480 s are left (pooling's variance needs
#                 at least 3 calibrations, leads46 ## calib).
#   window.sh W2  (02:50-03:12 UTC): repeats 2 and 3 with W1's profile, the requests in W2_REQUESTS (a bash file
#                 sourced here), then the next calibration (480 s left).
#   window.sh W3  (03:14-03:36 UTC): the requests of other helpers (W3_REQUESTS: a bash file sourced here, each
#                 request bounded by the window), on main's head the next calibration (when 540 s are left; stopped
#                 220 s before the end), then every test marked root on main's head then (pytest -m root tests/;
#                 runtime changes land by 03:15).
# Each window: a load sampler every 15 s (sampler-<W>.log), `ip netns list` before and after, its own end time
# (WINDOW_END, HH:MM:SS) bounding every step. D: where the outputs go (kept private until every repeat has run).
cd "$(git rev-parse --show-toplevel)"
W=${1:?W1, W2 or W3}
D=${D:?a private folder for the outputs}
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
mkdir -p "$D"
END_EPOCH=$(date -u -d "${WINDOW_END:?HH:MM:SS}" +%s)
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a "$D/window-$W.log"; }
clean() { sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g; s#/tm[p]/[^ ]*#<tmp>#g; s#/roo[t]/[^ ]*#<private>#g'; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | clean >> "$D/window-$W.log"; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | clean; done >> "$D/sampler-$W.log"; }
roottests() {  # every test marked root, on this checkout (the 5-8-rank tree cases of tests/test_emulated.py are xfail)
  [ "$(left)" -gt "${1:-330}" ] || { log "root tests skipped: $(left) s left"; return; }
  timeout $(( $(left) - 10 )) env CI=true $PY -m pytest -q -p no:cacheprovider -m root tests/ > "$D/root-tests-$W.txt" 2>&1
  log "pytest -m root tests/ rc=$? on $(git rev-parse --short HEAD) ($(tail -1 "$D/root-tests-$W.txt")); netns: $(ip netns list | wc -l)"
}
calibrate() {  # the next defaults calibration (CAL2, CAL3, CAL4) when more than $1 s are left, ending $2 s before
  local c; for c in CAL2 CAL3 CAL4; do [ -e "$D/$c.log" ] || break; done
  [ "$(left)" -gt "$1" ] || { log "$c skipped: $(left) s left"; return; }
  timeout $(( $(left) - ${2:-20} )) $PY benchmarks/validate_emulated.py --case-set fresh47 --limit 1 --repeats 1 \
    --out "$D/$c" > "$D/$c.log" 2>&1
  log "$c (a defaults calibration) rc=$?"; top
}
{ date -u; uptime; echo "netns: $(ip netns list | wc -l)"; ip netns list; } > "$D/before-$W.txt"
log "start $W; main $(git rev-parse --short main), checkout HEAD $(git rev-parse --short HEAD), $(left) s to the window's end"; top
sampler & SAMPLER=$!
case $W in
  W1)
    timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh47 --repeats 1 --out "$D/R1" \
      > "$D/R1.log" 2>&1
    rc=$?; log "R1 (defaults calibration + repeat 1) rc=$rc"; top
    if [ $rc = 2 ] && grep -q '^error: calibration' "$D/R1.log" && [ -f "$D/R1/profile.yaml" ]; then
      log "the 5 % gate refused: $(grep '^error: calibration' "$D/R1.log" | cut -c1-400)"
      timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh47 --profile "$D/R1/profile.yaml" \
        --repeats 1 --out "$D/R1b" > "$D/R1b.log" 2>&1
      log "R1b (repeat 1 with the refused defaults profile as it stands) rc=$?"; top
    fi
    calibrate 480 ;;
  W2)
    timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh47 --profile "$D/R1/profile.yaml" \
      --repeats 2 --out "$D/R23" > "$D/R23.log" 2>&1
    log "R23 (repeats 2 and 3) rc=$?"; top
    # shellcheck disable=SC1090
    [ -n "${W2_REQUESTS:-}" ] && . "$W2_REQUESTS"
    calibrate 480 ;;
  W3)
    # shellcheck disable=SC1090
    [ -n "${W3_REQUESTS:-}" ] && . "$W3_REQUESTS"
    git checkout -q --detach main && log "checkout main's head $(git rev-parse --short HEAD)"
    calibrate 540 220
    git checkout -q --detach main && log "checkout main's head $(git rev-parse --short HEAD) for the root tests"
    roottests 180 ;;
esac
kill $SAMPLER
ip netns list > "$D/netns-after-$W.txt"
log "end $W; netns: $(wc -l < "$D/netns-after-$W.txt")"
