#!/bin/bash
# price.sh DEADLINE(HH:MM:SS): the pricing of fresh48's runs (no root), resumable: each step skipped when its output
# exists, none started after DEADLINE - 60 s, each bounded by DEADLINE.
cd WT || exit 1
END=$(date -u -d "$1" +%s)
left() { echo $(( END - $(date -u +%s) )); }
PY=python
export PYTHONPATH=.
D=benchmarks/results/validation-2026-12-07-c
B=benchmarks/results/validation-2026-12-07-b
T=PRIVATE/trees
LOG=PRIVATE/price.log
step() {  # step OUT.txt [cd TREE] args...
  local out=$1; shift
  [ -s "$out" ] && grep -q '^MAPE step time' "$out" && return
  [ "$(left)" -gt 60 ] || { echo "$(date -u +%T) skip $out" >> $LOG; return; }
  local tree=.
  if [ "$1" = cd ]; then tree=$2; shift 2; fi
  (cd $tree && timeout $(( $(left) - 5 )) $PY benchmarks/validate_emulated.py "$@") > "$out" 2>&1
  echo "$(date -u +%T) rc=$? $out: $(grep -E '^MAPE step time' "$out" | tr '\n' ' ')" >> $LOG
}
ABS=$PWD/$D
step $D/all/reuse-breakdown.txt --reuse $D/all --breakdown --out $D/all/reuse
for s in 3fd47da f7a88fc; do
  step $D/all/reuse-$s-refit.txt cd $T/emu-$s --reuse $ABS/all --refit --breakdown --out $ABS/all/reuse-$s-refit
done
step $D/all/reuse-refit.txt --reuse $D/all --refit --breakdown --out $D/all/reuse-refit
for c in cal2 cal3; do
  [ -d $D/all-$c ] && step $D/all/reuse-$c.txt --reuse $D/all-$c --breakdown --out $D/all/reuse-$c
done
step $D/all/reuse-b-profile.txt --reuse $D/all --profile $B/all/profile.yaml --breakdown --out $D/all/reuse-b-profile
step $D/all/reuse-b-pool.txt --reuse $D/all --profile $D/preprice-pool-w1-cal2-cal3.yaml --breakdown --out $D/all/reuse-b-pool
step $D/all/reuse-pool-w1-cal2.txt --reuse $D/all --refit --pool $D/CAL2 --out $D/all/reuse-pool-w1-cal2
[ -d $D/CAL3 ] && step $D/all/reuse-pool-w1-cal2-cal3.txt --reuse $D/all --refit --pool $D/CAL2 --pool $D/CAL3 --out $D/all/reuse-pool-w1-cal2-cal3
[ -d $D/CAL3 ] && step $D/all/reuse-pool-cal2-cal3.txt --reuse $D/all-cal2 --refit --pool $D/CAL3 --out $D/all/reuse-pool-cal2-cal3
[ -d $D/CAL3 ] && step $D/all/reuse-pool-w1-cal3.txt --reuse $D/all --refit --pool $D/CAL3 --out $D/all/reuse-pool-w1-cal3
for s in 3fd47da f7a88fc; do
  step $D/all/reuse-$s.txt cd $T/emu-$s --reuse $ABS/all --breakdown --out $ABS/all/reuse-$s
  for c in cal2 cal3; do
    [ -d $D/all-$c ] && step $D/all-$c/reuse-$s-refit.txt cd $T/emu-$s --reuse $ABS/all-$c --refit --out $ABS/all-$c/reuse-$s-refit
    [ -d $D/all-$c ] && step $D/all-$c/reuse-refit.txt --reuse $D/all-$c --refit --out $D/all-$c/reuse-refit
  done
done
step $D/all/reuse-eeb5a80.txt cd $T/emu-eeb5a80 --reuse $ABS/all --out $ABS/all/reuse-eeb5a80
echo "$(date -u +%T) price.sh done or out of time" >> $LOG
