#!/usr/bin/env bash
# Session 12 round 4: ncu's memory sections on vertical-slash at 512K (H 4), where its walk
# stays under 450 TFLOP/s. From the pack folder.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/sparsefill.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
t0=$(date +%s)
timeout 240 ncu --section SpeedOfLight --section MemoryWorkloadAnalysis -k regex:sparse_vertical_slash -c 1 bin/sparsefill bench --lengths 524288 --heads 4 --patterns vertical_slash --iters 1 --warmup 0 --out /tmp/ncu-vs512 >"$OUT/ncu-vs512-mem.txt" 2>&1
echo "[$(( $(date +%s) - t0 ))s] ncu rc=$?" | tee "$OUT/summary.log"
