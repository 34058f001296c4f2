#!/usr/bin/env bash
# Session 30 round 5 (COMMIT in pack/COMMIT plus the uncommitted edit of
# patterns/tests/gpu/dot.rs that round 4's failure asked for: the occupancy test's gemm in
# 64 x 64 programs, which ptxas assembles at every occupancy; bin/test-sparsefill-patterns-gpu
# rebuilt from it): the occupancy test alone, then every patterns GPU test.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do [ -e "${f%.xz}" ] || { xz -dkf "$f" && chmod +x "${f%.xz}"; }; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT)"
timeout 60 bin/test-sparsefill-patterns-gpu --exact dot::gemm_with_a_producer_runs_at_every_occupancy_on_gpu --nocapture >"$OUT/occupancy.log" 2>&1
el "occupancy test alone: rc=$? $(grep -E '^test result' "$OUT/occupancy.log" | tail -n1)"
timeout 150 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$OUT/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-patterns.log" | tail -n1)"
grep -hE "FAILED|panicked" "$OUT"/*.log | head -20 | tee -a "$S"
el done
