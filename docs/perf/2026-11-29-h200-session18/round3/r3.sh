#!/usr/bin/env bash
# Session 18 round 3: fresh wgmma accumulators zeroed by immediates (b6cd281) and the
# two-level top-k for long rows (COMMIT): every sparse-pattern, runtime and model GPU
# test; the vertical-slash bench at 32K/128K/512K (32/32/4 heads) with session 17's
# dense_two_copies.tile (128-key softmax steps over two 64-key copies, assembled without
# an injected wait since b6cd281) timed in turns against the shipped dense kernel; then
# ncu's per-instruction warp-state samples of the vertical-slash attention at 128K, 8 heads.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r3-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 570 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 170 bin/test-sparsefill-patterns-gpu --test-threads=1 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
timeout 60 bin/test-sparsefill-runtime-gpu --test-threads=1 >"$T/tests-runtime.log" 2>&1
el "runtime GPU tests: rc=$? $(grep -E '^test result' "$T/tests-runtime.log" | tail -n1)"
timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$T/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S" >/dev/null
timeout 200 bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 --candidate attention=dense_two_copies.tile --out "$T/bench" >"$T/bench.log" 2>&1
el "bench with dense_two_copies rc=$?"
grep -E "^\| (32768|131072|524288)|^Candidate" "$T/bench.log" | tee -a "$S" >/dev/null
cp "$T"/bench/bench.json "$OUT/" 2>/dev/null
if command -v ncu >/dev/null && [ $(left) -gt 50 ]; then
  timeout $(( $(left) - 5 )) ncu --section WarpStateStats --section SourceCounters --import-source no --page source --print-source sass -k sparse_vertical_slash -c 1 bin/sparsefill bench --lengths 131072 --heads 8 --patterns vertical_slash --iters 1 --warmup 0 --out /tmp/ncu-src >"$T/ncu-src.txt" 2>&1
  el "ncu source rc=$?"
  xz -9 -c "$T/ncu-src.txt" > "$OUT/ncu-vs-src.txt.xz"
fi
cat "$T"/tests-*.log > "$OUT/tests.log" 2>/dev/null
cp "$T"/bench.log "$OUT/" 2>/dev/null
el done
