#!/bin/bash
# Stop 48's windows (emu), as root from the repository root of a checkout of main at window time (run from a copy of
# this file outside the checkout, D a private folder until every repeat has run):
#   every window first runs the drift reference: one fixed seen case (fresh47's case 12, 8 ranks halving-doubling,
#                 3 MiB, 325 Mbit/s; its stop-47 spread 1.5 %) twice with fresh47's W1 profile (REF-<W>), so the host's
#                 pace between windows is measured, not guessed (leads47 ## emu).
#   window.sh W1  (05:32-05:54 UTC): validate_emulated.py --case-set fresh48 with the defaults (the 5 % gate: a link fit
#                 above it is measured again, one still above it ends the run before any case, the profile and its
#                 benchmark records written); if the gate refuses, the refused profile is used as it stands (what
#                 --max-residual 1 accepts; nothing measured again) for repeat 1 (R1b), as stops 45-47 did. Then the next
#                 defaults calibration (CAL2, CAL3, CAL4: --limit 1 --repeats 1, its one run of case 0 not used) when
#                 more than 540 s are left.
#   window.sh W2  (05:58-06:20 UTC): repeats 2 and 3 with W1's profile (R23), the requests in W2_REQUESTS (a bash file
#                 sourced here), then the next calibration when 540 s are left.
#   window.sh W3  (06:23-06:44 UTC): on main's head: every test marked root (pytest -m root tests/; runtime changes land
#                 by 06:23), the requests in W3_REQUESTS, then the next calibration when 540 s are left if fewer than three
#                 calibrations were made, else the pricing (W3_POST).
# Each window: a load sampler every 15 s (sampler-<W>.log), `ip netns list` before and after, its own end time
# (WINDOW_END, HH:MM:SS) bounding every step.
cd "$(git rev-parse --show-toplevel)"
W=${1:?W1, W2 or W3}
D=${D:?a private folder for the outputs}
PY=${PY:-python}
REF_PROFILE=benchmarks/results/validation-2026-12-07-b/all/profile.yaml
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
mkdir -p "$D"
END_EPOCH=$(date -u -d "${WINDOW_END:?HH:MM:SS}" +%s)
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a "$D/window-$W.log"; }
clean() { sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9-]+#WT#g; s#/tm[p]/[^ ]*#<tmp>#g; s#/roo[t]/[^ ]*#<private>#g'; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | clean >> "$D/window-$W.log"; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | clean; done >> "$D/sampler-$W.log"; }
reference() {  # the drift reference: fresh47's case 12, twice
  timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh47 --skip 12 --limit 13 --repeats 2 \
    --profile "$REF_PROFILE" --out "$D/REF-$W" > "$D/REF-$W.log" 2>&1
  log "REF-$W (fresh47 case 12 twice) rc=$?: $(grep -E '^MAPE step time' "$D/REF-$W.log" | head -1)"
}
roottests() {  # every test marked root, on this checkout (the 5-8-rank tree cases of tests/test_emulated.py are xfail)
  [ "$(left)" -gt "${1:-330}" ] || { log "root tests skipped: $(left) s left"; return; }
  timeout $(( $(left) - 10 )) env CI=true $PY -m pytest -q -p no:cacheprovider -m root tests/ > "$D/root-tests-$W.txt" 2>&1
  log "pytest -m root tests/ rc=$? on $(git rev-parse --short HEAD) ($(tail -1 "$D/root-tests-$W.txt")); netns: $(ip netns list | wc -l)"
}
calibrate() {  # the next defaults calibration (CAL2, CAL3, CAL4) when more than $1 s are left, ending $2 s before
  local c; for c in CAL2 CAL3 CAL4; do [ -e "$D/$c.log" ] || break; done
  [ "$(left)" -gt "$1" ] || { log "$c skipped: $(left) s left"; return; }
  timeout $(( $(left) - ${2:-20} )) $PY benchmarks/validate_emulated.py --case-set fresh48 --limit 1 --repeats 1 \
    --out "$D/$c" > "$D/$c.log" 2>&1
  log "$c (a defaults calibration) rc=$?"; top
}
{ date -u; uptime; echo "netns: $(ip netns list | wc -l)"; ip netns list; } > "$D/before-$W.txt"
git checkout -q --detach main  # main at window time (W3: main's head for the root tests)
log "start $W; main $(git rev-parse --short main), checkout HEAD $(git rev-parse --short HEAD), $(left) s to the window's end"; top
sampler & SAMPLER=$!
reference
case $W in
  W1)
    timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh48 --repeats 1 --out "$D/R1" \
      > "$D/R1.log" 2>&1
    rc=$?; log "R1 (defaults calibration + repeat 1) rc=$rc"; top
    if [ $rc = 2 ] && grep -q '^error: calibration' "$D/R1.log" && [ -f "$D/R1/profile.yaml" ]; then
      log "the 5 % gate refused: $(grep '^error: calibration' "$D/R1.log" | cut -c1-600)"
      timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh48 --profile "$D/R1/profile.yaml" \
        --repeats 1 --out "$D/R1b" > "$D/R1b.log" 2>&1
      log "R1b (repeat 1 with the refused defaults profile as it stands) rc=$?"; top
    fi
    calibrate 540 ;;
  W2)
    timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh48 --profile "$D/R1/profile.yaml" \
      --repeats 2 --out "$D/R23" > "$D/R23.log" 2>&1
    log "R23 (repeats 2 and 3) rc=$?"; top
    # shellcheck disable=SC1090
    [ -n "${W2_REQUESTS:-}" ] && . "$W2_REQUESTS"
    calibrate 540 ;;
  W3)
    roottests 200
    # shellcheck disable=SC1090
    [ -n "${W3_REQUESTS:-}" ] && . "$W3_REQUESTS"
    # a fourth calibration only where fewer than three were made; else the window's rest prices the runs (no root;
    # post-window time is the final CI's): W3_POST, a bash file sourced here
    if [ -e "$D/CAL3.log" ]; then
      # shellcheck disable=SC1090
      [ -n "${W3_POST:-}" ] && . "$W3_POST"
    else
      calibrate 540 30
    fi ;;
esac
kill $SAMPLER
ip netns list > "$D/netns-after-$W.txt"
log "end $W; netns: $(wc -l < "$D/netns-after-$W.txt")"
