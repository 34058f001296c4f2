#!/usr/bin/env bash
# Session 31 round 4 (COMMIT in pack/COMMIT, f269b1b): the runtime GPU suite (built alone
# with `cargo test --release -p sparsefill-runtime --features gpu --test gpu --no-run`)
# with the shipped options (SPARSEFILL_ALIGNED=1, the default) and with
# SPARSEFILL_ALIGNED=0, after variant_key's fix.
cd "$(dirname "$0")"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT)"
export SPARSEFILL_CACHE_DIR=$PWD/cache
for config in SPARSEFILL_ALIGNED=1 SPARSEFILL_ALIGNED=0; do
  env "$config" timeout 60 bin/test-sparsefill-runtime-gpu --test-threads=4 >"$OUT/runtime-$config.log" 2>&1
  el "runtime GPU tests with $config: rc=$? $(grep -E '^test result' "$OUT/runtime-$config.log" | tail -n1)"
  grep -E "^test .*FAILED|panicked" "$OUT/runtime-$config.log" | head -8 | tee -a "$S"
done
el done
