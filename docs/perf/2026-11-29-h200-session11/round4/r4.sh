#!/usr/bin/env bash
# Session 11 round 4: block-sparse walks its unmasked blocks software-pipelined (KS 64 on
# aligned sm_90a launches); both walks skipped for blocks with no unmasked tile. The
# sparse-pattern GPU tests, then `sparsefill bench` of vertical-slash, block-sparse and
# A-shape at 32K / 128K / 512K with SDPA and Flex. From the pack folder.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT/sparse"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
timeout 200 bin/test-sparsefill-patterns-gpu --test-threads=1 block_sparse vertical_slash local device shipped >"$OUT/tests-sparse.log" 2>&1; el "sparse-pattern GPU tests rc=$? $(grep -E '^test result' "$OUT/tests-sparse.log" | tail -n1)"
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=330 PEERS_TIMEOUT=200 SPARSE_ARGS="--patterns vertical_slash,block_sparse,a_shape --heads 32,32,4" OUT="$R" bash run.sh >"$OUT/run.log" 2>&1; el "sparse rc=$?"
cp "$R"/sparse/bench.md "$R"/sparse/bench.json "$OUT/sparse/" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" | tee -a "$S" >/dev/null
