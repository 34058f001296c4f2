#!/usr/bin/env bash
# Session 18 round 5: operand descriptors built once a product (COMMIT) against a10ec30
# (each k-step's descriptor built whole; bin/sparsefill-old, built from that commit) in
# one call, alternating old, new, old, new at 32K (32 heads) and old, new at 128K (8
# heads): our dense kernel and vertical-slash, each with its own kernel cache.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r5-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 205 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
run() { # label binary cache commit len heads
  [ $(left) -gt 20 ] || { el "skip $1 $5"; return; }
  SPARSEFILL_CACHE_DIR=$PWD/$3 SPARSEFILL_COMMIT=$4 timeout $(( $(left) - 5 )) "$2" bench --patterns vertical_slash --lengths "$5" --heads "$6" --out "$T/$1-$5" >"$T/$1-$5.log" 2>&1
  el "$1 S=$5 H=$6 rc=$?"
  grep -E "^\| $5" "$T/$1-$5.log" | sed "s/^/$1 /" | tee -a "$S" >/dev/null
}
run old bin/sparsefill-old cache-old a10ec30 32768 32
run new bin/sparsefill cache $(cat COMMIT) 32768 32
run old2 bin/sparsefill-old cache-old a10ec30 32768 32
run new2 bin/sparsefill cache $(cat COMMIT) 32768 32
run old bin/sparsefill-old cache-old a10ec30 131072 8
run new bin/sparsefill cache $(cat COMMIT) 131072 8
cat "$T"/*.log > "$OUT/bench.log"
el done
