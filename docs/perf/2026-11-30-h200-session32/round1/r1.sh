#!/usr/bin/env bash
# Session 32 round 1 (COMMIT in pack/COMMIT): four vs_convert candidates, each timed in
# turns with the shipped launch by `bench --candidate` at 32K (32 heads), the two
# masked-search ones at 128K too:
#   vsconv_rev       each head's blocks heaviest (last) first
#   vsconv_lpt       every head's block i before any head's block i - 1
#   vsconv_mask      the vertical searches only in the lanes whose results are used
#   vsconv_mask_lpt  both
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do [ -e "${f%.xz}" ] || { xz -dkf "$f" && chmod +x "${f%.xz}"; }; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
run() { # name length heads timeout
  D="$T/$1-$2"; mkdir -p "$D"
  timeout "$4" bin/sparsefill bench --lengths "$2" --heads "$3" --patterns vertical_slash --candidate "vs_convert=$1.tile" --out "$D" >"$D/bench.log" 2>&1
  el "$1 at $2 rc=$?"
  grep -E "^\| [0-9]+ .*\`" "$D/bench.md" | tee -a "$S"
  cp "$D/bench.md" "$OUT/candidate-$1-$2.md" 2>/dev/null; tail -n 4 "$D/bench.log" >"$OUT/tail-$1-$2.log"
}
for c in vsconv_rev vsconv_lpt vsconv_mask vsconv_mask_lpt; do run "$c" 32768 32 100; done
for c in vsconv_mask_lpt vsconv_mask; do run "$c" 131072 32 170; done
el done
