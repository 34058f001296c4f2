#!/usr/bin/env bash
# Session 12 round 5: select_blocks loads each chunk's pooled keys an iteration ahead and
# starts from the heaviest query block. Block-sparse at 512K (H 4) against SDPA and Flex,
# then the block-sparse GPU tests. From the pack folder (only bin/sparsefill and the
# patterns GPU tests packed: the full pack and the docs pass the 64 MiB limit).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=110 PEERS_TIMEOUT=60 SPARSE_ARGS="--patterns block_sparse --lengths 524288 --heads 4" OUT="$R" bash run.sh >"$OUT/run.log" 2>&1; el "sparse rc=$?"
cp "$R"/sparse/bench.md "$OUT/bench.md" 2>/dev/null
grep -E "^\| 524288" "$R/sparse/bench.md" | tee -a "$S" >/dev/null
left=$(( 200 - ($(date +%s) - t0) ))
[ $left -gt 15 ] && { timeout $left bin/test-sparsefill-patterns-gpu --test-threads=1 block_sparse >"$OUT/tests.log" 2>&1; el "block-sparse GPU tests rc=$? $(grep -E '^test result' "$OUT/tests.log" | tail -n1)"; }
