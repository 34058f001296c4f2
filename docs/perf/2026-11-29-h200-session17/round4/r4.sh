#!/usr/bin/env bash
# Session 17 round 4: is the 64-key step what holds the sparse walks back? Dense attention
# with 64-key tiles (dense_bn64.tile: attention.tile with its key tile a const BK = 64 of
# its own, the launch's BN = 128 unused) timed in turns against the shipped 128-key one.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 240 bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072 --heads 32 --candidate attention=dense_bn64.tile --out /tmp/bn64 >"$OUT/bench-bn64.log" 2>&1
el "bench dense BN 64 rc=$?"
grep -E "^\| (32768|131072|524288)|^Candidate" "$OUT/bench-bn64.log" | tee -a "$S" >/dev/null
el done
