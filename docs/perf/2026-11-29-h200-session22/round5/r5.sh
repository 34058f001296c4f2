#!/usr/bin/env bash
# Session 22 round 5 (COMMIT: vs_column_scores stores its four spread copies and
# vs_diagonal_scores adds them, no second bin_sum): every patterns GPU test; then the
# estimate stage (vs_row_stats .. top-k, vs_column_scores and vs_diagonal_scores among
# them) timed by `sparsefill bench` at 32K and 128K (32 heads), alternating the shipped
# build (bin/sparsefill) with the previous one (bin/sparsefill-prev, round 4's build at
# ab51a33, whose estimate-stage kernels differ only there), twice each. The partials'
# layout changes with the kernels, so a one-kernel --candidate cannot time this.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r5-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 130 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
for rep in 1 2; do
  for build in sparsefill-prev sparsefill; do
    D="$T/$build-$rep"; mkdir -p "$D"
    timeout 100 bin/$build bench --lengths 32768,131072 --heads 32,32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
    el "$build rep $rep rc=$?"
    grep -E "^\| (32768|131072) .*vertical_slash" "$D/bench.md" | tee -a "$S"
  done
done
tar czf "$OUT/r5-logs.tgz" -C "$T" . 2>/dev/null
el done
