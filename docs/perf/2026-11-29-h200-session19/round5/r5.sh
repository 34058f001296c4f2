#!/usr/bin/env bash
# Session 19 round 5 (COMMIT: the ramp moved into AttentionCase::ramp_scores): every
# patterns GPU test again (4 test threads, cold kernel cache). The pack held only the
# patterns GPU test binary (cargo test -p sparsefill-patterns --features
# sparsefill-patterns/gpu --test gpu --no-run, xz-compressed as bin/test-sparsefill-patterns-gpu.xz).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 170 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$OUT/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-patterns.log" | tail -n1)"
grep -hE "FAILED|panicked" "$OUT/tests-patterns.log" | head -20 | tee -a "$S"
el done
