# pool's optional request (11:34): the optimizer's session state beside fresh50's runs, one process, if ~40 s spare
if ! ls "$D"/optimizer-session-W*.txt > /dev/null 2>&1; then
  if [ "$(left)" -gt 75 ]; then
    timeout $(( $(left) - 10 )) $PY benchmarks/optimizer_share.py --processes 1 --modes warm,cold,fit,ddp-step --window 2 \
      > "$D/optimizer-session-$W.txt" 2>&1
    log "request pool (optimizer_share.py --processes 1 --modes warm,cold,fit,ddp-step --window 2) rc=$?"
  else
    log "request pool skipped: $(left) s left"
  fi
fi
