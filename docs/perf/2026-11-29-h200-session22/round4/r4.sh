#!/usr/bin/env bash
# Session 22 round 4 (COMMIT: vs_convert at occupancy(32), 64 registers, no spill):
# every patterns, model and runtime GPU test; the same source at occupancy(24) (72
# registers) as a vs_convert candidate, timed in turns with the shipped launch at 32K /
# 128K / 512K (32 / 32 / 4 heads) and checked by the index it leads to; then the 32K
# workload twice (`sparsefill bench`, then sparse_peers.py and the merge, both settled).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 130 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$T/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
timeout 40 bin/test-sparsefill-runtime-gpu --test-threads=1 >"$T/tests-runtime.log" 2>&1
el "runtime GPU tests: rc=$? $(grep -E '^test result' "$T/tests-runtime.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
timeout 170 bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 --candidate vs_convert=convert_occ24.tile --out "$T/convert" >"$T/convert.log" 2>&1
el "vs_convert candidate rc=$?"; grep -E "^\| [0-9]+ .*\.tile" "$T/convert.log" | tee -a "$S"
for rep in 1 2; do
  D="$T/rep$rep"; mkdir -p "$D"
  timeout 90 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep $rep bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 100 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep $rep peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768" "$D/bench.md" | tee -a "$S"
done
tar czf "$OUT/r4-logs.tgz" -C "$T" . 2>/dev/null
el done
