#!/usr/bin/env bash
# Session 22 round 1 (COMMIT: scans and scatters in the language; topk_write, vs_convert
# and vs_chain_stops compact with them): every patterns GPU test (among them the new
# scan and scatter tests against the interpreter) and every model GPU test; then the
# session start's sources as candidates, each timed in turns with the shipped launch
# and checked by the index it leads to:
#   convert_staged.tile  vs_convert   staged C-entry writes, [C, C] prefix sums and searches
#   topk_staged.tile     topk_write   64-score chunks with [64, 64] prefix counts
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 130 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
grep -E "^test .*scan" "$T/tests-patterns.log" | tee -a "$S"
timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$T/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
bench() { # kernel=file lengths heads
  name=${1%%=*}
  timeout 170 bin/sparsefill bench --patterns vertical_slash --lengths "$2" --heads "$3" --candidate "$1" --out "$T/$name" >"$T/$name.log" 2>&1
  el "$1 rc=$?"; grep -E "^\| [0-9]+ .*\.tile" "$T/$name.log" | tee -a "$S"
}
bench vs_convert=convert_staged.tile 32768,131072,524288 32,32,4
bench topk_write=topk_staged.tile 32768,131072 32,32
tar czf "$OUT/r1-logs.tgz" -C "$T" . 2>/dev/null
el done
