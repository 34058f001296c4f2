#!/usr/bin/env bash
# Session 18 round 2: the shipped code with vs_convert following chained ranges 32 at a
# time (COMMIT): the vertical-slash GPU tests, the sparse run with peers (run.sh
# ONLY=sparse: our dense kernel, torch SDPA's cuDNN and flash, FlexAttention over the
# same block mask), the model GPU tests, then ncu's per-instruction warp-state samples
# (SourceCounters) of the dense kernel and of the vertical-slash attention at 128K, 8
# heads, to compare where a 128-key and a 64-key softmax step stall.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 570 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 90 bin/test-sparsefill-patterns-gpu vertical_slash --test-threads=1 >"$T/tests-vs.log" 2>&1
el "vertical-slash GPU tests: rc=$? $(grep -E '^test result' "$T/tests-vs.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-vs.log | head -20 | tee -a "$S" >/dev/null
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=200 PEERS_TIMEOUT=160 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$T/run-sparse.log" 2>&1
el "sparse run rc=$?"
cp "$R"/sparse/bench.json "$R"/sparse/bench.md "$OUT/" 2>/dev/null; cp "$R"/sparse/peers.json "$OUT/peers.json" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" 2>/dev/null | tee -a "$S" >/dev/null
timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$T/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
if command -v ncu >/dev/null && [ $(left) -gt 60 ]; then
  timeout $(( $(left) - 10 )) ncu --section WarpStateStats --section SourceCounters --import-source no --page source --print-source sass -k regex:'^(attention|sparse_vertical_slash)$' -c 2 bin/sparsefill bench --lengths 131072 --heads 8 --patterns vertical_slash --iters 1 --warmup 0 --out /tmp/ncu-src >"$T/ncu-src.txt" 2>&1
  el "ncu source rc=$?"
  xz -9 -c "$T/ncu-src.txt" > "$OUT/ncu-src.txt.xz"
fi
cat "$T"/tests-*.log > "$OUT/tests.log" 2>/dev/null
cat "$T"/run-sparse.log "$R"/sparse-bench.log "$R"/sparse-peers.log > "$OUT/sparse.log" 2>/dev/null
el done
