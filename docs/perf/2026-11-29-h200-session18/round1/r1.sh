#!/usr/bin/env bash
# Session 18 round 1: session 17's prepared candidates, each timed in turns against the
# shipped launch it replaces (`bench --candidate`): the 64-row vertical-slash walk taking
# two tiles a softmax step at three stages (vs_two_tiles_s3) and at two (vs_two_tiles_s2),
# and vs_convert following the chained ranges 32 at a time (vs_convert_batched).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 570 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
bench() { # name candidate lengths heads timeout
  timeout "$5" bin/sparsefill bench --patterns vertical_slash --lengths "$3" --heads "$4" --candidate "$2" --out "$T/$1" >"$T/bench-$1.log" 2>&1
  el "bench $1 $2 rc=$?"
  grep -E "^\| (32768|131072|524288)|^Candidate" "$T/bench-$1.log" | tee -a "$S" >/dev/null
}
bench s3 sparse_vertical_slash=vs_two_tiles_s3.tile 32768,131072,524288 32,32,4 200
bench batched vs_convert=vs_convert_batched.tile 32768,131072,524288 32,32,4 200
[ $(left) -gt 110 ] && bench s2 sparse_vertical_slash=vs_two_tiles_s2.tile 32768,131072 32,32 $(( $(left) - 10 ))
cat "$T"/bench-*.log > "$OUT/bench.log"
el done
