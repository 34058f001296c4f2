#!/usr/bin/env bash
# Session 17 round 3: ncu of vertical-slash's two attention launches (64-row rest tiles and
# columns, 128-row shared tiles) at 128K (8 heads) and 32K (32 heads): duration, throughput,
# warp states, memory.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
for run in "131072 8" "32768 32"; do
  set -- $run
  timeout 200 ncu --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
    -k regex:"sparse_(vertical_slash|slash_pairs)" -c 2 bin/sparsefill bench --lengths $1 --heads $2 --patterns vertical_slash --iters 1 --warmup 0 --out /tmp/ncu-$1 >"$OUT/ncu-$1.log" 2>&1
  el "ncu $1 rc=$?"
  grep -E "^  sparse_|Duration|Compute \(SM\) Throughput|L2 Cache Throughput|Memory Throughput|DRAM Throughput|L2 Hit Rate|Warp Cycles Per Issued|Achieved Active Warps|Registers Per|Grid Size|Dynamic Shared" "$OUT/ncu-$1.log" | tee -a "$S" >/dev/null
done
el done
