#!/bin/bash
# Stop 50's windows (emu), as root from the repository root of a second worktree checked out at main when the window
# starts (run from a per-window copy of this file outside the checkout -- never the file being edited --, D a private
# folder until every repeat has run):
#   window.sh W1  validate_emulated.py --case-set fresh50 with the defaults (CAL1: the 5 % gate re-measures a link fit
#                 above it; one still above it ends the run before any case, the profile and its benchmark records
#                 written); if the gate refuses, the refused profile is used as it stands (what --max-residual 1
#                 accepts; nothing measured again) for repeat 1 (R1b), as stops 45-49 did. Then the optimizer probe
#                 and calib's two-a-node all-reduces (calib_two_a_node.py, records to D/two-a-node) if > 150 s remain.
#   window.sh W2  repeats 2 and 3 with CAL1's profile (R2, R3: one command each, each started only if it can end by
#                 ROOT_BY, so that the root tests start by then), the optimizer probe, every test marked root on main's
#                 head, then a second defaults calibration (CAL2) if CAL_NEED s remain.
#   window.sh W3  what is missing: two-a-node first, then a repeat W2 could not hold, the root tests if W2 skipped them,
#                 then CAL2 (or CAL3) -- with CAL_TREE's code when set (a checkout of a registered calibration-side
#                 commit), else this checkout's.
#   W1 and W2 end with the requests in REQUESTS (a bash file sourced here; each request checks the time left).
# The optimizer probe (leads49 ## hostile: the training step's optimizer / fit ratio moves between sessions): one
# runtime.calibrate.measure_optimizer_fit with the calibration's own settings (cold, OPTIMIZER_IDLE_S idle), ~20 s.
# Each window: a load sampler every 15 s (sampler-<W>.log), `ip netns list` before and after, its own end time
# (WINDOW_END, HH:MM:SS) bounding every step; at its end the window's line (QUIET_LINE) leaves QUIET_FILE.
cd "$(git rev-parse --show-toplevel)" || exit 1
W=${1:?W1, W2 or W3}
D=${D:?a private folder for the outputs}
PY=${PY:-python}
CS=fresh50
CAL_NEED=${CAL_NEED:-570}  # a defaults calibration: 500-520 s at stop 49; CAL3 > 621 s; CAL1 here 514 s (+ its case-0 run)
ROOT_NEED=200              # pytest -m root tests/: 166-177 s at stops 48-49
export PYTHONPATH=. DPSIM_NETNS_PREFIX=emu-
mkdir -p "$D"
END_EPOCH=$(date -u -d "${WINDOW_END:?HH:MM:SS}" +%s)
left() { echo $(( END_EPOCH - $(date -u +%s) )); }
log() { echo "$(date -u +%T) $*;  $(uptime)" | tee -a "$D/window-$W.log"; }
clean() { sed -E 's#/wor[k]/main/\.venv/bin/python#.venv/bin/python#g; s#/wor[k]/wt/[a-z0-9-]+#WT#g; s#/tm[p]/[^ ]*#<tmp>#g; s#/roo[t]/[^ ]*#<private>#g'; }
top() { ps aux --sort=-%cpu | head -6 | cut -c1-160 | clean >> "$D/window-$W.log"; }
sampler() { while sleep 15; do echo "== $(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"; ps -eo pid,stat,pcpu,etime,args --sort=-pcpu | head -6 | cut -c1-150 | clean; done >> "$D/sampler-$W.log"; }
probe() {  # the optimizer fit as the calibration takes it, now (beside the runs)
  [ "$(left)" -gt 60 ] || { log "probe-$W skipped: $(left) s left"; return; }
  timeout 90 $PY -c "
import time
import runtime.calibrate as rc
from dpsim.scenario import load_scenario
s = load_scenario(overrides=['training.optimizer=adam'])
t = time.perf_counter()
pf = rc.measure_page_fault()
fit, res = rc.measure_optimizer_fit(s, page_fault_s=pf, log=print)
print(f'probe: {1e3*fit.fixed_s:.3f} ms + {1e9*fit.per_unit_s:.3f} ns/param; at 2362368: {1e9*fit(2362368)/2362368:.3f} ns/param; residual {100*res:.1f} %; {time.perf_counter()-t:.1f} s')
" > "$D/probe-$W.txt" 2>&1
  log "probe-$W rc=$?: $(grep '^probe:' "$D/probe-$W.txt")"
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
  local c tree=. cs=$CS; for c in CAL2 CAL3 CAL4; do [ -e "$D/$c.log" ] || break; done
  [ "$(left)" -gt "$1" ] || { log "$c skipped: $(left) s left"; return; }
  if [ -n "${CAL_TREE:-}" ]; then
    tree=$CAL_TREE
    grep -q '^FRESH50' "$tree/benchmarks/validate_emulated.py" || cs=default  # its one run of case 0 is not used
  fi
  log "$c (a defaults calibration) from $( [ "$tree" = . ] && git rev-parse --short HEAD || echo "CAL_TREE $(cd "$tree" && git rev-parse --short HEAD)")"
  (cd "$tree" && timeout $(( $(left) - ${2:-20} )) $PY benchmarks/validate_emulated.py --case-set $cs --limit 1 \
    --repeats 1 --out "$D/$c") > "$D/$c.log" 2>&1
  log "$c rc=$?: $(grep '^error: calibration' "$D/$c.log" | cut -c1-400)"; top
}
repeats() {  # repeats 2 and 3 with CAL1's profile, one run of each case a command (runs.jsonl is written at a run's
  # end: a repeat cut short loses only itself), a repeat starting only if it ends by ROOT_BY (the root tests' start)
  local r root_epoch; root_epoch=$(date -u -d "${ROOT_BY:-12:17:00}" +%s)
  for r in R2 R3; do
    [ -f "$D/$r/runs.jsonl" ] && continue
    [ $(( root_epoch - $(date -u +%s) )) -gt "${REPEAT_NEED:-270}" ] || { log "$r skipped: the root tests start by ${ROOT_BY:-12:17:00}"; continue; }
    timeout $(( root_epoch - $(date -u +%s) )) $PY benchmarks/validate_emulated.py --case-set $CS \
      --profile "$D/R1/profile.yaml" --repeats 1 --out "$D/$r" > "$D/$r.log" 2>&1
    log "$r (repeat ${r#R}) rc=$? on $(git rev-parse --short HEAD)"; top
    if [ ! -f "$D/$r/runs.jsonl" ] && [ -n "${FALLBACK:-}" ] && [ "$(git rev-parse HEAD)" != "$(git rev-parse "$FALLBACK")" ]; then
      git checkout -q --detach "$FALLBACK"  # main's head failed to run a repeat: the window-1 sha (the same code as R1)
      log "$r failed on main's head: FALLBACK $(git rev-parse --short HEAD) for the repeats"
      mv "$D/$r.log" "$D/$r-failed.log"; rm -rf "${D:?}/$r"
      [ $(( root_epoch - $(date -u +%s) )) -gt "${REPEAT_NEED:-270}" ] || { log "$r skipped after the failure"; continue; }
      timeout $(( root_epoch - $(date -u +%s) )) $PY benchmarks/validate_emulated.py --case-set $CS \
        --profile "$D/R1/profile.yaml" --repeats 1 --out "$D/$r" > "$D/$r.log" 2>&1
      log "$r (repeat ${r#R}) rc=$? on $(git rev-parse --short HEAD)"; top
    fi
  done
}
twoanode() {  # calib's request: two ranks a node (it starts no cluster within 60 s of its deadline); W3 runs it again
  # (into two-a-node-W3) only if W1's did not finish its 4 clusters
  local out=two-a-node stop_hm
  if [ -f "$D/two-a-node/run.log" ]; then
    [ "$(grep -c '^two-.*: [0-9.]* s$' "$D/two-a-node/run.log")" -ge 4 ] && return
    out=two-a-node-$W
  fi
  [ "$(left)" -gt "${1:-150}" ] || { log "two-a-node skipped: $(left) s left"; return; }
  stop_hm=$(date -u -d "@$(( END_EPOCH - 30 ))" +%H:%M)
  log "two-a-node start (calib_two_a_node.py -> $out, deadline $stop_hm)"
  timeout $(( $(left) - 5 )) $PY "${CALIB_SCRIPT:?}" "$D/$out" "$stop_hm" > "$D/$out.log" 2>&1
  log "two-a-node end rc=$?: $(tail -1 "$D/$out.log"); $(cat "$D/$out/run.log" 2>/dev/null | tr '\n' ';')"
  if [ -n "${SHARE:-}" ] && [ -f "$D/$out/records.json" ]; then  # calib reads them at once: the records, the
    mkdir -p "$SHARE/$out"                                        # window's calibration (profile + bench)
    cp "$D/$out/records.json" "$D/$out/run.log" "$D/$out.log" "$SHARE/$out/"
    cp "$D/R1/profile.yaml" "$D/R1/calibration-bench.json" "$SHARE/" 2>/dev/null
    echo "$(date -u +%H:%M) emu -> calib: two-a-node records ($(grep -c '"algorithm"' "$SHARE/$out/records.json") records, $W) are in $SHARE/$out: records.json, run.log, $out.log; CAL1's profile.yaml + calibration-bench.json (the control, W1's calibration) in $SHARE. They go into the repo as benchmarks/results/two-a-node-2026-12-07-b/ after the windows." >> "${CALIB_NOTE:?}"
    log "two-a-node records shared with calib"
  fi
}
{ date -u; uptime; echo "netns: $(ip netns list | wc -l)"; ip netns list; } > "$D/before-$W.txt"
git checkout -q --detach main  # main at window time
log "start $W; main $(git rev-parse --short main), checkout HEAD $(git rev-parse --short HEAD), $(left) s to the window's end"; top
sampler & SAMPLER=$!
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
    fi
    probe
    twoanode
    # shellcheck disable=SC1090
    [ -n "${REQUESTS:-}" ] && . "$REQUESTS" ;;
  W2)
    repeats
    probe
    roottests
    calibrate $CAL_NEED 20
    # shellcheck disable=SC1090
    [ -n "${REQUESTS:-}" ] && . "$REQUESTS" ;;
  W3)
    twoanode
    ROOT_BY=$WINDOW_END repeats
    [ -e "$D/root-tests-W2.rc" ] || roottests
    calibrate 545 15
    # shellcheck disable=SC1090
    [ -n "${REQUESTS:-}" ] && . "$REQUESTS" ;;
esac
kill $SAMPLER
ip netns list > "$D/netns-after-$W.txt"
log "end $W; netns: $(wc -l < "$D/netns-after-$W.txt")"
if [ -n "${QUIET_FILE:-}" ] && [ -n "${QUIET_LINE:-}" ]; then
  grep -vxF "$QUIET_LINE" "$QUIET_FILE" > "$D/quiet.tmp"; [ -s "$D/quiet.tmp" ] || echo none > "$D/quiet.tmp"
  cat "$D/quiet.tmp" > "$QUIET_FILE"; rm -f "$D/quiet.tmp"
  log "released: '$QUIET_LINE' removed from the quiet file"
fi
