#!/usr/bin/env bash
# Session 31 round 5 (COMMIT in pack/COMMIT, 0b0969e's patterns GPU binary; the kernels and
# the patterns crate are unchanged since): the patterns GPU suite under the two documented
# opt-ins, SPARSEFILL_DECOUPLED=1 and SPARSEFILL_PINGPONG=all, each within 95 s (the
# session's device time was nearly spent).
cd "$(dirname "$0")"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT)"
export SPARSEFILL_CACHE_DIR=$PWD/cache
for config in SPARSEFILL_DECOUPLED=1 SPARSEFILL_PINGPONG=all; do
  env "$config" timeout 95 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$OUT/patterns-${config%%=*}.log" 2>&1
  el "patterns GPU tests with $config: rc=$? $(grep -E '^test result' "$OUT/patterns-${config%%=*}.log" | tail -n1)"
  grep -E "^test .*FAILED|panicked" "$OUT/patterns-${config%%=*}.log" | head -8 | tee -a "$S"
done
el done
