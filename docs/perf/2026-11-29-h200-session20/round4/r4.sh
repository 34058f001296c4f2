#!/usr/bin/env bash
# Session 20 round 4 (COMMIT, the session's start): what the exponentials of the
# vertical-slash walk's probabilities cost, measured by leaving them out (measurement
# only: the check fails by design). vs_nomufu.tile computes p = max(x + 1, 0) for
# x = s * scale - m instead of exp2(x), timed in turns with the shipped launch at 32K /
# 128K (32 heads).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 200 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
export SPARSEFILL_COMMIT=$(cat COMMIT) SPARSEFILL_CACHE_DIR=$PWD/cache
for c in vs_nomufu; do
  [ $(left) -gt 60 ] || { el "skip $c"; continue; }
  timeout $(( $(left) - 5 )) bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072 --heads 32,32 --candidate sparse_vertical_slash=$c.tile --out "$T/$c" >"$T/$c.log" 2>&1
  el "$c rc=$?"; grep -E "^\| [0-9]+ .*\.tile" "$T/$c.log" | tee -a "$S"
done
tar czf "$OUT/r4-logs.tgz" -C "$T" . 2>/dev/null
el done
