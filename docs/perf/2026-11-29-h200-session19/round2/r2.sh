#!/usr/bin/env bash
# Session 19 round 2 (COMMIT, as round 1): two measurement candidates of the
# vertical-slash attention timed in turns against the shipped launch at 32K / 128K /
# 512K (32 / 32 / 4 heads): vs_no_columns.tile (no gathered columns: its check must
# fail; it measures what the column loop costs) and vs_v_first.tile (each column step's
# value rows gathered before its scores' product, so the two gathers' latencies
# overlap); then our dense kernel and vertical-slash again with the session's start
# (bin/sparsefill-old) and COMMIT in turns at 512K (4 heads): new, old, new, old.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 560 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
export SPARSEFILL_COMMIT=$(cat COMMIT)
for c in vs_no_columns vs_v_first; do
  [ $(left) -gt 60 ] || { el "skip $c"; continue; }
  SPARSEFILL_CACHE_DIR=$PWD/cache timeout $(( $(left) - 5 )) bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 --candidate sparse_vertical_slash=$c.tile --out "$T/$c" >"$T/$c.log" 2>&1
  el "$c rc=$?"; grep -iE "candidate|shipped" "$T/$c.log" | tail -n 8 | tee -a "$S"
done
run() { # label binary cache commit len heads
  [ $(left) -gt 30 ] || { el "skip $1 $5"; return; }
  SPARSEFILL_CACHE_DIR=$PWD/$3 SPARSEFILL_COMMIT=$4 timeout $(( $(left) - 5 )) "$2" bench --patterns vertical_slash --lengths "$5" --heads "$6" --out "$T/$1-$5" >"$T/$1-$5.log" 2>&1
  el "$1 S=$5 H=$6 rc=$?"
}
run new bin/sparsefill cache $(cat COMMIT) 524288 4
run old bin/sparsefill-old cache-old 8c6351c 524288 4
run new2 bin/sparsefill cache $(cat COMMIT) 524288 4
run old2 bin/sparsefill-old cache-old 8c6351c 524288 4
tar czf "$OUT/r2-logs.tgz" -C "$T" . 2>/dev/null
el done
