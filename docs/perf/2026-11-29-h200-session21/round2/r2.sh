#!/usr/bin/env bash
# Session 21 round 2, the session's shipped code (COMMIT: vs_convert, vs_column_scores and
# vs_row_stats at occupancy 24 / 5 / 4): every patterns, model and runtime GPU test; the
# shipped estimation source with vs_convert at occupancy(32) (64 registers, 164 bytes
# spilled) as a candidate, timed in turns with the shipped launch at 32K / 128K / 512K
# (32 / 32 / 4 heads); then the sparse run with peers (run.sh ONLY=sparse: our dense
# kernel, torch SDPA's cuDNN and flash, FlexAttention over the same block mask, one call).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 120 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$T/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
timeout 40 bin/test-sparsefill-runtime-gpu --test-threads=1 >"$T/tests-runtime.log" 2>&1
el "runtime GPU tests: rc=$? $(grep -E '^test result' "$T/tests-runtime.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
timeout 170 bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 --candidate vs_convert=convert_occ32.tile --out "$T/convert" >"$T/convert.log" 2>&1
el "vs_convert candidate rc=$?"; grep -E "^\| [0-9]+ .*\.tile" "$T/convert.log" | tee -a "$S"
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=200 PEERS_TIMEOUT=150 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$T/run-sparse.log" 2>&1
el "sparse run rc=$?"
cp "$R"/sparse/bench.json "$R"/sparse/bench.md "$OUT/" 2>/dev/null; cp "$R"/sparse/peers.json "$OUT/peers.json" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" 2>/dev/null | tee -a "$S"
cat "$T"/run-sparse.log "$R"/sparse-bench.log "$R"/sparse-peers.log > "$T/sparse.log" 2>/dev/null
tar czf "$OUT/r2-logs.tgz" -C "$T" . 2>/dev/null
el done
