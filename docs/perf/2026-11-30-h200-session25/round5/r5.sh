#!/usr/bin/env bash
# Session 25 round 5 (COMMIT 79a8448): what 64-row programs and 64-key steps cost at the
# power limit. Our dense attention at 32K (32 heads, kv heads 8, causal and not), timed two
# ways with `bench-kernels --ab`: in turns (one shared clock: work per cycle), and with
# --sustained 6000, each side alone after 6 s of its own launches, with the SM clock and
# board power sampled (what each sustains). Pairs: 128-row programs (two consumer
# warpgroups sharing each key/value tile) against 64-row ones (two programs an SM), both
# with 64-key steps; and 128-key steps against 64-key ones at 128 rows.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv,noheader) commit $(cat COMMIT)"
ab() {  # name, sides, extra args
  timeout 150 bin/bench-kernels --ab "$2" --len 32768 $3 >"$OUT/ab-$1.log" 2>&1
  el "ab $1 ($2 $3) rc=$?"
  grep -E "^card|^\| S=" "$OUT/ab-$1.log" | tee -a "$S"
}
ab rows-sustained "BM=128,BN=64/BM=64,BN=64" "--sustained 6000"
ab keys-sustained "BM=128,BN=128/BM=128,BN=64" "--sustained 6000"
ab rows-turns "BM=128,BN=64/BM=64,BN=64" ""
ab keys-turns "BM=128,BN=128/BM=128,BN=64" ""
el done
