#!/usr/bin/env bash
# Session 20 round 3 (COMMIT, the session's start): what the vertical-slash walk's
# softmax reductions cost, measured by leaving them out (measurement only: the checks
# fail by design). Candidates timed in turns with the shipped launch at 32K / 128K
# (32 heads): vs_nosum.tile (the walk's row sums not taken: l only rescaled),
# vs_nomax.tile (the walk's row max not taken: the max from the masked tiles kept),
# vs_neither.tile (neither).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r3-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 400 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
export SPARSEFILL_COMMIT=$(cat COMMIT) SPARSEFILL_CACHE_DIR=$PWD/cache
for c in vs_nosum vs_nomax vs_neither; do
  [ $(left) -gt 60 ] || { el "skip $c"; continue; }
  timeout $(( $(left) - 5 )) bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072 --heads 32,32 --candidate sparse_vertical_slash=$c.tile --out "$T/$c" >"$T/$c.log" 2>&1
  el "$c rc=$?"; grep -E "^\| [0-9]+ .*\.tile" "$T/$c.log" | tee -a "$S"
done
tar czf "$OUT/r3-logs.tgz" -C "$T" . 2>/dev/null
el done
