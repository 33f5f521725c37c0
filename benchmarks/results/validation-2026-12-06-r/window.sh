#!/bin/bash
# Stop 45's windows (emu), as root from the repository root of a checkout of main at window time:
#   window.sh W1  (20:40-21:01 UTC): validate_emulated.py --case-set fresh45: one calibration with the defaults
#                 (--max-residual 1: every fit recorded, none ends the run) + repeat 1; then the root tests.
#   window.sh W2  (21:10-21:31 UTC): repeats 2 and 3 with W1's profile (no calibration in between), then a second
#                 calibration with the defaults (CAL2: --limit 1 --repeats 1, its one run of case 0 not used).
#   window.sh W3  (21:34-21:45 UTC): the root tests on main again.
# Each window: a load sampler every 15 s (sampler-<W>.log), `ip netns list` before and after, its own end time
# (WINDOW_END, HH:MM:SS) bounding every step. D: where the outputs go (kept private until every repeat has run).
cd "$(git rev-parse --show-toplevel)"
W=${1:?W1, W2 or W3}
D=${D:-benchmarks/results/validation-2026-12-06-r}
PY=${PY:-python}
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
mkdir -p "$D"
END_EPOCH=$(date -u -d "${WINDOW_END:?HH:MM:SS}" +%s)
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a "$D/window-$W.log"; }
clean() { sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9]+#WT#g; s#/tm[p]/[^ ]*#<tmp>#g'; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | clean >> "$D/window-$W.log"; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | clean; done >> "$D/sampler-$W.log"; }
roottests() {  # the root tests on this checkout (tests/test_emulated.py whole: the 5-8-rank tree cases are xfail)
  [ "$(left)" -gt 200 ] || { log "root tests skipped: $(left) s left"; return; }
  timeout $(( $(left) - 60 )) $PY -m pytest tests/test_emulated.py -q -p no:cacheprovider > "$D/test_emulated-$W.txt" 2>&1
  log "tests/test_emulated.py rc=$? ($(tail -1 "$D/test_emulated-$W.txt")); netns: $(ip netns list | wc -l)"
  [ "$(left)" -gt 45 ] || return
  timeout $(( $(left) - 15 )) $PY -m pytest tests/test_thread_share.py -m root -q -p no:cacheprovider > "$D/test_thread_share-$W.txt" 2>&1
  log "tests/test_thread_share.py -m root rc=$? ($(tail -1 "$D/test_thread_share-$W.txt")); netns: $(ip netns list | wc -l)"
}
{ date -u; uptime; echo "netns: $(ip netns list | wc -l)"; } > "$D/before-$W.txt"
log "start $W; main $(git rev-parse --short main), checkout HEAD $(git rev-parse --short HEAD), $(left) s to the window's end"; top
sampler & SAMPLER=$!
case $W in
  W1)
    timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh45 --repeats 1 --max-residual 1 \
      --out "$D/R1" > "$D/R1.log" 2>&1
    log "R1 (calibration + repeat 1) rc=$?"; top
    roottests ;;
  W2)
    timeout $(( $(left) - 30 )) $PY benchmarks/validate_emulated.py --case-set fresh45 --profile "$D/R1/profile.yaml" \
      --repeats 2 --out "$D/R23" > "$D/R23.log" 2>&1
    log "R23 (repeats 2 and 3) rc=$?"; top
    if [ "$(left)" -gt 420 ]; then
      timeout $(( $(left) - 20 )) $PY benchmarks/validate_emulated.py --case-set fresh45 --limit 1 --repeats 1 \
        --max-residual 1 --out "$D/CAL2" > "$D/CAL2.log" 2>&1
      log "CAL2 (second calibration) rc=$?"; top
    else
      log "CAL2 skipped: $(left) s left"
    fi ;;
  W3) roottests ;;
esac
kill $SAMPLER
ip netns list > "$D/netns-after-$W.txt"
log "end $W; netns: $(wc -l < "$D/netns-after-$W.txt")"
