#!/usr/bin/env bash
# Session 20 round 6, the session's shipped code (COMMIT: vs_column_scores walks four key
# tiles a program): every patterns GPU test (4 test threads); then the estimation source
# before it (vs_column_scores_old.tile, one key tile a program) as a vs_column_scores
# candidate, timed in turns with the shipped launch at 32K / 128K / 512K (32 / 32 / 4
# heads).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r6-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 90 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
timeout 190 bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 --candidate vs_column_scores=vs_column_scores_old.tile --out "$T/colscores" >"$T/colscores.log" 2>&1
el "vs_column_scores candidate rc=$?"; grep -E "^\| [0-9]+ .*\.tile" "$T/colscores.log" | tee -a "$S"
grep -E "^\[[0-9]/" "$T/colscores.log" | tee -a "$S" >/dev/null
cp "$T/colscores/bench.json" "$OUT/bench.json" 2>/dev/null
tar czf "$OUT/r6-logs.tgz" -C "$T" --exclude='*.bin' --exclude='*.svg' . 2>/dev/null
el done
