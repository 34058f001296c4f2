#!/usr/bin/env bash
# Session 11 round 5: A-shape walks its whole tiles software-pipelined (KS 64 on aligned
# sm_90a launches). The sparse-pattern and model GPU tests, then `sparsefill bench` of
# A-shape and block-sparse at 32K and 128K with SDPA and Flex. From the pack folder.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT/sparse"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
timeout 150 bin/test-sparsefill-patterns-gpu --test-threads=1 block_sparse vertical_slash local device shipped >"$OUT/tests-sparse.log" 2>&1; el "sparse-pattern GPU tests rc=$? $(grep -E '^test result' "$OUT/tests-sparse.log" | tail -n1)"
timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$OUT/tests-model.log" 2>&1; el "model GPU tests rc=$? $(grep -E '^test result' "$OUT/tests-model.log" | tail -n1)"
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=200 PEERS_TIMEOUT=120 SPARSE_ARGS="--patterns a_shape,block_sparse --lengths 32768,131072 --heads 32,32" OUT="$R" bash run.sh >"$OUT/run.log" 2>&1; el "sparse rc=$?"
cp "$R"/sparse/bench.md "$R"/sparse/bench.json "$OUT/sparse/" 2>/dev/null
grep -E "^\| (32768|131072)" "$R/sparse/bench.md" | tee -a "$S" >/dev/null
