#!/usr/bin/env bash
# Session 14 round 1, dense attention, all in one call:
#  1. the shipped kernel against an edit of it (attn_where.tile: every key tile in the one
#     pipelined loop, masked by one compare per score, and the last tile's values loaded
#     with the prologue), timed in turns in one process (--ab);
#  2. 64-row blocks (one consumer warpgroup, two programs per SM) against 128-row blocks (--ab);
#  3. the tile sweep (8K and 32K rows);
# with torch SDPA (cuDNN) timed before and after.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 560 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
PYTHONUNBUFFERED=1 timeout 70 python3 torch_ops.py --out "$OUT/torch-before.json" >"$OUT/torch-before.log" 2>&1; el "torch before rc=$?"
grep -i "sdpa" "$OUT/torch-before.log" | head -20 >>"$S"
timeout 200 bin/bench-kernels --ab "/source=attn_where.tile" >"$OUT/ab-where.log" 2>&1; el "ab where rc=$?"
grep -E "^card|^\| S=|rror" "$OUT/ab-where.log" | tee -a "$S" >/dev/null
timeout 160 bin/bench-kernels --ab "BM=128,BN=128/BM=64,BN=64,STAGES=2" >"$OUT/ab-bm64.log" 2>&1; el "ab bm64 rc=$?"
grep -E "^card|^\| S=|rror" "$OUT/ab-bm64.log" | tee -a "$S" >/dev/null
[ "$(left)" -gt 100 ] && { timeout $(( $(left) - 40 )) bin/bench-kernels --sweep >"$OUT/sweep.log" 2>&1; el "sweep rc=$?"; grep -E "^\| [0-9]" "$OUT/sweep.log" >>"$S"; }
[ "$(left)" -gt 25 ] && { PYTHONUNBUFFERED=1 timeout $(( $(left) - 5 )) python3 torch_ops.py --out "$OUT/torch-after.json" >"$OUT/torch-after.log" 2>&1; el "torch after rc=$?"; grep -i "sdpa" "$OUT/torch-after.log" | head -20 >>"$S"; }
el done
