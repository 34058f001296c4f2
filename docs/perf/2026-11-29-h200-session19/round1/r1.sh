#!/usr/bin/env bash
# Session 19 round 1: the rescale skipped behind a warp vote with a lazy running max
# (COMMIT) against the session's start (bin/sparsefill-old, built from 8c6351c, whose
# scores_rising_along_the_keys_rescale_mid_walk_on_gpu), then `bench --patterns
# vertical_slash` with each binary in turns (own kernel caches): old, new, old, new at 32K
# (32 heads), old, new at 128K (8 heads) and at 512K (4 heads).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 570 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
export SPARSEFILL_COMMIT=$(cat COMMIT)
SPARSEFILL_CACHE_DIR=$PWD/cache timeout 170 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
SPARSEFILL_CACHE_DIR=$PWD/cache timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$T/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S" >/dev/null
cat "$T"/tests-*.log > "$OUT/tests.log" 2>/dev/null
run() { # label binary cache commit len heads
  [ $(left) -gt 30 ] || { el "skip $1 $5"; return; }
  SPARSEFILL_CACHE_DIR=$PWD/$3 SPARSEFILL_COMMIT=$4 timeout $(( $(left) - 5 )) "$2" bench --patterns vertical_slash --lengths "$5" --heads "$6" --out "$T/$1-$5" >"$T/$1-$5.log" 2>&1
  el "$1 S=$5 H=$6 rc=$?"
  grep -E "^\| $5" "$T/$1-$5.log" | sed "s/^/$1 /" | tee -a "$S" >/dev/null
}
run old bin/sparsefill-old cache-old 8c6351c 32768 32
run new bin/sparsefill cache $(cat COMMIT) 32768 32
run old2 bin/sparsefill-old cache-old 8c6351c 32768 32
run new2 bin/sparsefill cache $(cat COMMIT) 32768 32
run old bin/sparsefill-old cache-old 8c6351c 131072 8
run new bin/sparsefill cache $(cat COMMIT) 131072 8
run old bin/sparsefill-old cache-old 8c6351c 524288 4
run new bin/sparsefill cache $(cat COMMIT) 524288 4
for f in "$T"/*/bench.json; do d=$(basename "$(dirname "$f")"); cp "$f" "$OUT/bench-$d.json"; done 2>/dev/null
cat "$T"/old*.log "$T"/new*.log > "$OUT/bench.log" 2>/dev/null
el done
