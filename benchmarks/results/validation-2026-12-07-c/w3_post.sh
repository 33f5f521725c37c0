bash PRIVATE/prep.sh >> PRIVATE/price.log 2>&1
log "pricing (price.sh, no root) until 30 s before the end"
bash PRIVATE/price.sh "$(date -u -d @$(( END_EPOCH - 30 )) +%T)"
log "pricing done: $(tail -1 PRIVATE/price.log)"
