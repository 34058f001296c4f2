#!/usr/bin/env bash
# Session 12 round 3: the final tree (attention.tile back to session 11's walk, with the
# GQA launch order): every patterns, model and runtime GPU test, then block-sparse (the
# streaming top-k estimator) at 32K and 512K against SDPA and Flex. From the pack folder.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT/sparse"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
timeout 220 bin/test-sparsefill-patterns-gpu --test-threads=1 >"$OUT/tests-patterns.log" 2>&1; el "patterns GPU tests rc=$? $(grep -E '^test result' "$OUT/tests-patterns.log" | tail -n1)"
timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$OUT/tests-model.log" 2>&1; el "model GPU tests rc=$? $(grep -E '^test result' "$OUT/tests-model.log" | tail -n1)"
timeout 40 bin/test-sparsefill-runtime-gpu --test-threads=1 >"$OUT/tests-runtime.log" 2>&1; el "runtime GPU tests rc=$? $(grep -E '^test result' "$OUT/tests-runtime.log" | tail -n1)"
R=/tmp/sparse-run
left=$(( 560 - ($(date +%s) - t0) ))
ONLY=sparse SPARSE_TIMEOUT=$(( left * 6 / 10 )) PEERS_TIMEOUT=$(( left * 3 / 10 )) SPARSE_ARGS="--patterns block_sparse --lengths 32768,524288 --heads 32,4" OUT="$R" bash run.sh >"$OUT/run.log" 2>&1; el "sparse rc=$?"
cp "$R"/sparse/bench.md "$OUT/sparse/bench.md" 2>/dev/null
grep -E "^\| (32768|524288)" "$R/sparse/bench.md" | tee -a "$S" >/dev/null
