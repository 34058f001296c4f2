#!/usr/bin/env bash
# Session 13 round 4: the producer warpgroup alone (SPARSEFILL_SPECIALIZE=producer, the
# default) against the early start (=early: a loop on untouched shared memory starts its
# copies at kernel start), dense attention against torch SDPA, all in one call.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
PYTHONUNBUFFERED=1 timeout 70 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
for sp in early producer; do
  left=$(( 340 - ($(date +%s) - t0) ))
  [ $left -gt 30 ] || break
  SPARSEFILL_SPECIALIZE=$sp timeout $left bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench-$sp.json" --only attention >"$OUT/bench-$sp.log" 2>&1; el "bench SPECIALIZE=$sp rc=$?"
  grep -E "^\| (S=|attention)" "$OUT/bench-$sp.log" | tee -a "$S" >/dev/null
done
