#!/usr/bin/env bash
# Session 32 round 2 (COMMIT in pack/COMMIT plus the carried-product change; bin/sparsefill-old
# is 0c8ba31, the session's start): every patterns GPU test on the new code generation,
# then the vertical-slash bench with the old and the new CLI in turns, 32K twice each
# and 128K once each (the dense kernel, whose ping-pong loop keeps its wait, is the
# control).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do [ -e "${f%.xz}" ] || { xz -dkf "$f" && chmod +x "${f%.xz}"; }; done
export SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
SPARSEFILL_CACHE_DIR=$PWD/cache-new timeout 170 bin/test-sparsefill-patterns-gpu --test-threads 4 >"$T/patterns.log" 2>&1
el "patterns GPU tests rc=$? $(grep -E '^test result' "$T/patterns.log" | tail -1)"
grep -E "FAILED|panicked" "$T/patterns.log" | head -20 | tee -a "$S"
bench() { # tag binary cache length timeout
  D="$T/$1-$4"; mkdir -p "$D"
  SPARSEFILL_CACHE_DIR=$PWD/$3 timeout "$5" "bin/$2" bench --lengths "$4" --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "$1 at $4 rc=$?"
  grep -E "^\| [0-9]+ " "$D/bench.md" | tee -a "$S"
  cp "$D/bench.md" "$OUT/bench-$1-$4.md" 2>/dev/null; cp "$D/bench.json" "$OUT/bench-$1-$4.json" 2>/dev/null
}
bench old1 sparsefill-old cache-old 32768 90
bench new1 sparsefill cache-new 32768 90
bench old2 sparsefill-old cache-old 32768 90
bench new2 sparsefill cache-new 32768 90
bench old1 sparsefill-old cache-old 131072 150
bench new1 sparsefill cache-new 131072 150
tar czf "$OUT/r2-logs.tgz" -C /tmp r2-logs
el done
