#!/usr/bin/env bash
# Session 10 round 3 (same pack as round 2): issue 4's vertical-slash table against SDPA and
# Flex, the tile sweep, and ncu's per-instruction stall samples of the vertical-slash kernel.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
ONLY=sparse SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$OUT" bash run.sh >"$OUT/run.log" 2>&1; el "sparse rc=$?"
export SPARSEFILL_CACHE_DIR=$PWD/cache
timeout 150 bin/bench-kernels --sweep >"$OUT/sweep.log" 2>&1; el "sweep rc=$?"
if command -v ncu >/dev/null; then
  timeout 150 ncu --section WarpStateStats --section SourceCounters --import-source no --page source --print-source sass -k regex:sparse_vertical_slash -c 1 bin/sparsefill bench --lengths 32768 --heads 8 --patterns vertical_slash --iters 1 --warmup 0 --out /tmp/ncu-vs >"$OUT/ncu-vs-src.txt" 2>&1; el "ncu src rc=$?"
  xz -9 "$OUT/ncu-vs-src.txt"
fi
