#!/usr/bin/env bash
# Prepared in session 27, not run: why one-head chunks run vertical-slash's attention
# 7-11% faster at 512K (docs/perf/2026-11-30-h200-session27.md). ncu runs each kernel
# alone at locked clocks, so what is left of the gain here is in the launch itself (its
# order, its working set), not in overlap or power. In `sparsefill bench --vs-chunks 4
# --iters 1 --warmup 0 --settle-ms 0` at 512K, 4 heads, the attention launches come in
# this order: the checked run and the stage's timing in one piece (launches 1, 2), then
# the total in four one-head chunks (3-6); compare launch 1's duration, L2 hit rate and
# DRAM bytes with the sum of 3-6. Copy into pack/ after scripts/gpu-pack, then
# OUT=$OUT bash pack/ncu_512k.sh (about 5 minutes: ncu replays each launch per section).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/ncu512k; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT) ncu: $(ncu --version | tail -n1)"
export SPARSEFILL_COMMIT=$(cat COMMIT) SPARSEFILL_CACHE_DIR=$PWD/cache
timeout 540 ncu --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
  --section SchedulerStats --section WarpStateStats --section LaunchStats \
  -k 'regex:^sparse_vertical_slash$' -c 6 -f -o "$T/attn" \
  bin/sparsefill bench --lengths 524288 --heads 4 --patterns vertical_slash --vs-chunks 4 \
  --iters 1 --warmup 0 --settle-ms 0 --out "$T/bench" >"$T/ncu.log" 2>&1
el "ncu rc=$?"
ncu --import "$T/attn.ncu-rep" --page details --print-details all > "$OUT/details.txt" 2>&1
grep -E "sparse_vertical_slash|Duration|L2 Hit Rate|DRAM Throughput|Memory Throughput|Grid Size|Achieved Occupancy|Warp Cycles Per Issued" \
  "$OUT/details.txt" | tee -a "$S"
el done
