#!/usr/bin/env bash
# Session 29 round 2 (COMMIT in pack/COMMIT, the session's last code): the demo and every
# GPU test suite again, then the bench over the index-free patterns (their check now
# matched kind by kind in the sweep) and block-sparse at 16K, 8 heads.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.txt"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
timeout 150 bin/sparsefill demo >"$T/demo.log" 2>&1
el "demo rc=$?"
grep -E "^\| (dense|a_shape|tri_shape|vertical_slash|block_sparse|strided)|FAIL|error" "$T/demo.log" | tee -a "$S"
timeout 300 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
timeout 90 bin/test-sparsefill-model-gpu --test-threads=4 >"$T/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
timeout 90 bin/test-sparsefill-runtime-gpu --test-threads=4 >"$T/tests-runtime.log" 2>&1
el "runtime GPU tests: rc=$? $(grep -E '^test result' "$T/tests-runtime.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
D="$T/16k"; mkdir -p "$D"
timeout 150 bin/sparsefill bench --lengths 16384 --heads 8 --patterns a_shape,tri_shape,strided,block_sparse --out "$D" >"$D/bench.log" 2>&1
el "16K bench rc=$?"
grep -E "^\| 16384 " "$D/bench.md" | tee -a "$S"
cp "$D"/bench.md "$D"/bench.json "$OUT/" 2>/dev/null
cp "$T/demo.log" "$OUT/"
tar czf "$OUT/r2-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
