if [ "$(left)" -gt 240 ]; then
  timeout $(( $(left) - 15 )) $PY benchmarks/optimizer_share.py --processes 1,2,4 --modes fit,cold,ddp-flush,ddp-wait \
    --micro-batch 248 --window 3 > "$D/req-exposed-optshare.txt" 2>&1
  log "request exposed (optimizer_share.py on the quiet host) rc=$?"; top
  cp "$D/req-exposed-optshare.txt" <tmp>
else
  log "request exposed skipped: $(left) s left"
fi
