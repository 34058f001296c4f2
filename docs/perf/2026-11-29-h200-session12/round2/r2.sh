#!/usr/bin/env bash
# Session 12 round 2: the sparse kernels' walks start at tile 0 (no tile staged ahead) and
# take three stages at KS 64, so their copies run a tile ahead of the deferred products
# (113 KiB: two programs per SM); loop indices through i32 max/min are prefetched;
# attention.tile's masked tiles go first and its walk starts at tile 0, so BN 128 fits three
# stages (timed beside two); block-sparse's streaming top-k estimator; launch order by GQA
# group. The attention table against torch, vertical-slash at 32K/128K/512K and
# block-sparse and A-shape at 128K against SDPA and Flex, then the sparse GPU tests.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT/sparse"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
PYTHONUNBUFFERED=1 timeout 60 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
timeout 200 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" --only attention >"$OUT/bench.log" 2>&1; el "bench rc=$?"
grep -E "^\| (S=|attention)" "$OUT/bench.log" | tee -a "$S" >/dev/null
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=200 PEERS_TIMEOUT=120 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$OUT/run-vs.log" 2>&1; el "sparse vs rc=$?"
cp "$R"/sparse/bench.md "$OUT/sparse/vs-bench.md" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" | tee -a "$S" >/dev/null
R2=/tmp/sparse-run2
ONLY=sparse SPARSE_TIMEOUT=150 PEERS_TIMEOUT=90 SPARSE_ARGS="--patterns block_sparse,a_shape --lengths 131072 --heads 32" OUT="$R2" bash run.sh >"$OUT/run-bs.log" 2>&1; el "sparse bs rc=$?"
cp "$R2"/sparse/bench.md "$OUT/sparse/bs-bench.md" 2>/dev/null
grep -E "^\| 131072" "$R2/sparse/bench.md" | tee -a "$S" >/dev/null
left=$(( 590 - ($(date +%s) - t0) ))
[ $left -gt 20 ] && { timeout $left bin/test-sparsefill-patterns-gpu --test-threads=1 vertical_slash block_sparse local attention >"$OUT/tests.log" 2>&1; el "GPU tests rc=$? $(grep -E '^test result' "$OUT/tests.log" | tail -n1) $(grep -c ' ok$' "$OUT/tests.log") ok, $(grep -c 'FAILED\|panicked' "$OUT/tests.log") failed"; }
