# pool's optional request (11:34): the optimizer's session state beside fresh50's runs, one process, if ~40 s spare
if [ ! -e "$D/optimizer-session-W2.txt" ]; then
  if [ "$(left)" -gt 90 ]; then
    timeout $(( $(left) - 10 )) $PY benchmarks/optimizer_share.py --processes 1 --modes warm,cold,fit,ddp-step --window 2 \
      > "$D/optimizer-session-W2.txt" 2>&1
    log "request pool (optimizer_share.py --processes 1 --modes warm,cold,fit,ddp-step --window 2) rc=$?"
  else
    log "request pool skipped: $(left) s left"
  fi
fi
