#!/usr/bin/env bash
# Session 31 round 3 (COMMIT in pack/COMMIT, 0b0969e): round 2's matrix again after the
# fixes. The changed tests with the shipped options (the producer must still be there),
# then every GPU suite (patterns, model, runtime) under each code-generation opt-out.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r3-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 540 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
for t in gemm_with_a_producer scores_rising_along_the_keys vertical_slash_pairs; do
  timeout 100 bin/test-sparsefill-patterns-gpu "$t" --test-threads=4 >"$T/shipped-$t.log" 2>&1
  el "shipped options, $t: rc=$? $(grep -E '^test result' "$T/shipped-$t.log" | tail -n1)"
done
for config in SPARSEFILL_ARCH=sm_80 SPARSEFILL_TMA=0 SPARSEFILL_SPECIALIZE=off SPARSEFILL_MMA=mma.sync SPARSEFILL_ALIGNED=0; do
  for t in patterns model runtime; do
    [ $(left) -gt 40 ] || { el "skip $t with $config"; continue; }
    env "$config" timeout $(( $(left) - 5 )) bin/test-sparsefill-$t-gpu --test-threads=4 >"$T/$t-$config.log" 2>&1
    el "$t GPU tests with $config: rc=$? $(grep -E '^test result' "$T/$t-$config.log" | tail -n1)"
    grep -E "^test .*FAILED|panicked" "$T/$t-$config.log" | head -8 | tee -a "$S"
  done
done
tar czf "$OUT/r3-logs.tgz" -C "$T" . 2>/dev/null
el done
