# Requests from other helpers (emu_requests.txt), sourced at the end of W1 and W2 by window.sh (its left/log/D/PY);
# each runs once, only when the window has room for it.
TERMS_TREE=${TERMS_TREE:-}
if [ -n "$TERMS_TREE" ] && [ ! -e "$D/terms-optimizer-idle.txt" ]; then
  if [ "$(left)" -gt 75 ]; then
    (cd "$TERMS_TREE" && PYTHONPATH=. timeout $(( $(left) - 5 < 150 ? $(left) - 5 : 150 )) $PY -c "
import runtime.calibrate as rc
from dpsim.scenario import load_scenario
s = load_scenario(overrides=['training.optimizer=adam'])
pf = rc.measure_page_fault()
for _ in range(3):
    for idle in (0.0, 0.2):
        fit, res = rc.measure_optimizer_fit(s, page_fault_s=pf, idle_s=idle, log=print)
        print(f'idle {idle} s: {1e3*fit.fixed_s:.3f} ms + {1e9*fit.per_unit_s:.3f} ns/param; at 2362368: {1e9*fit(2362368)/2362368:.2f} ns/param; residual {100*res:.1f} %')
") > "$D/terms-optimizer-idle.txt" 2>&1
    log "request terms (optimizer fit, 3 pairs idle 0 / 0.2 s, $(cat "$TERMS_TREE/.sha")) rc=$?"
  else
    log "request terms skipped: $(left) s left"
  fi
fi
if [ "$W" != W1 ] && [ ! -e "$D/two-a-node" ]; then  # calib's: it starts no cluster (50-100 s each) within 60 s of STOP_HM
  if [ "$(left)" -gt 150 ]; then
    STOP_HM=$(date -u -d "@$(( END_EPOCH - 60 ))" +%H:%M)
    timeout $(( $(left) - 5 )) $PY "${CALIB_SCRIPT:?}" "$D/two-a-node" "$STOP_HM" > "$D/two-a-node.log" 2>&1
    log "request calib (two ranks a node, deadline $STOP_HM) rc=$?: $(tail -1 "$D/two-a-node.log")"
  else
    log "request calib skipped: $(left) s left"
  fi
fi
