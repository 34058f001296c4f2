#!/usr/bin/env bash
# Session 31 round 2 (COMMIT in pack/COMMIT; the shipped code is 09bdbbe's): every GPU
# suite as shipped, then the patterns GPU suite under each code-generation opt-out the
# runtime offers (docs/gpu.md): cp.async instead of TMA, no launch-time `aligned`
# specialization, sm_80 code, no producer warpgroup, mma.sync on sm_90a. Round 1's
# failure of the pairs walk under its own cp.async copies asked whether the cp.async path
# with warp groups (`groups(2)`) holds as shipped; the groups and pairs tests answer it.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 575 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
for t in patterns model runtime; do
  timeout 150 bin/test-sparsefill-$t-gpu --test-threads=4 >"$T/tests-$t.log" 2>&1
  el "$t GPU tests (shipped options): rc=$? $(grep -E '^test result' "$T/tests-$t.log" | tail -n1)"
done
for config in SPARSEFILL_TMA=0 SPARSEFILL_ALIGNED=0 SPARSEFILL_ARCH=sm_80 SPARSEFILL_SPECIALIZE=off SPARSEFILL_MMA=mma.sync; do
  [ $(left) -gt 100 ] || { el "skip $config"; continue; }
  env "$config" timeout $(( $(left) - 5 )) bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/patterns-$config.log" 2>&1
  el "patterns GPU tests with $config: rc=$? $(grep -E '^test result' "$T/patterns-$config.log" | tail -n1)"
  grep -E "^test .*(FAILED|ignored)|panicked" "$T/patterns-$config.log" | head -12 | tee -a "$S"
done
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
tar czf "$OUT/r2-logs.tgz" -C "$T" . 2>/dev/null
el done
