#!/usr/bin/env bash
# Session 21 round 6 (COMMIT: Gpu::settle in the runtime, used by sparsefill bench and
# bench-kernels): the runtime GPU tests (among them settle_runs_the_work_for_the_time_asked),
# then sparsefill bench at 32K, 32 heads, through the runtime's settling.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r6-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 60 bin/test-sparsefill-runtime-gpu --test-threads=1 >"$T/tests-runtime.log" 2>&1
el "runtime GPU tests: rc=$? $(grep -E '^test result' "$T/tests-runtime.log" | tail -n1)"
grep -hE "FAILED|panicked|settle" "$T"/tests-*.log | head -20 | tee -a "$S"
timeout 120 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$T/bench" >"$T/bench.log" 2>&1
el "bench rc=$?"; grep -E "^\| 32768" "$T/bench.log" | tee -a "$S"
cp "$T/bench/bench.json" "$OUT/" 2>/dev/null
tar czf "$OUT/r6-logs.tgz" -C "$T" . 2>/dev/null
el done
