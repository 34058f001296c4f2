#!/usr/bin/env bash
# Session 14 round 3 (commit da9887c, the binaries of round 2): two more choices for dense
# attention, each timed in turns in one process, with torch SDPA before and after:
#  1. the shipped kernel against attn_loop0.tile (tile 0 in the pipelined loop too, with
#     zero probabilities for its "previous" tile: no staged K tile, no prologue softmax);
#  2. the producer alone against the early start (specialize=early).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
PYTHONUNBUFFERED=1 timeout 70 python3 torch_ops.py --out "$OUT/torch-before.json" >"$OUT/torch-before.log" 2>&1; el "torch before rc=$?"
timeout 170 bin/bench-kernels --ab "/source=attn_loop0.tile" >"$OUT/ab-loop0.log" 2>&1; el "ab loop0 rc=$?"
grep -E "^card|^\| S=|rror" "$OUT/ab-loop0.log" | tee -a "$S" >/dev/null
timeout 170 bin/bench-kernels --ab "specialize=producer/specialize=early" >"$OUT/ab-early.log" 2>&1; el "ab early rc=$?"
grep -E "^card|^\| S=|rror" "$OUT/ab-early.log" | tee -a "$S" >/dev/null
PYTHONUNBUFFERED=1 timeout 40 python3 torch_ops.py --out "$OUT/torch-after.json" >"$OUT/torch-after.log" 2>&1; el "torch after rc=$?"
el done
