#!/usr/bin/env bash
# Session 19 round 4 (COMMIT, the shipped code): two candidates of the vertical-slash
# attention's column loop, each timed in turns against the shipped launch at 32K / 128K /
# 512K (32 / 32 / 4 heads): vs_k_ahead.tile (each column step's key rows gathered a step
# ahead into registers, so their loads run while the step before computes) and
# vs_k_ahead_cols.tile (the same, with the step's columns carried instead of loaded again).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 540 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
export SPARSEFILL_COMMIT=$(cat COMMIT) SPARSEFILL_CACHE_DIR=$PWD/cache
for c in vs_k_ahead vs_k_ahead_cols; do
  [ $(left) -gt 60 ] || { el "skip $c"; continue; }
  timeout $(( $(left) - 5 )) bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 --candidate sparse_vertical_slash=$c.tile --out "$T/$c" >"$T/$c.log" 2>&1
  el "$c rc=$?"; grep -E "^\| [0-9]+ .*\.tile" "$T/$c.log" | tee -a "$S"
done
tar czf "$OUT/r4-logs.tgz" -C "$T" . 2>/dev/null
el done
