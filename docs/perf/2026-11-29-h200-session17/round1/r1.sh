#!/usr/bin/env bash
# Session 17 round 1: session 16's two prepared estimation candidates, each timed in turns
# against the shipped launch (`bench --candidate`) at 32K/128K/512K (32/32/4 heads):
# topk_threshold with three probes a pass, vs_convert loading each chained range a step
# ahead. Then the vertical-slash GPU tests and an ncu profile of vs_convert at 128K.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 540 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
for c in topk_threshold=topk_quarters.tile vs_convert=vs_convert_ahead.tile; do
  n=${c%%=*}
  timeout 200 bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 --candidate "$c" --out "$T/$n" >"$T/bench-$n.log" 2>&1
  el "bench $c rc=$?"
  grep -E "^\| (32768|131072|524288)|^Candidate" "$T/bench-$n.log" | tee -a "$S" >/dev/null
done
timeout 60 bin/test-sparsefill-patterns-gpu vertical_slash --test-threads=1 >"$T/tests-vs.log" 2>&1
el "vertical-slash GPU tests: rc=$? $(grep -E '^test result' "$T/tests-vs.log" | tail -n1)"
if command -v ncu >/dev/null && [ $(left) -gt 60 ]; then
  timeout $(( $(left) - 10 )) ncu --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis --section LaunchStats --section Occupancy -k regex:vs_convert -c 1 bin/sparsefill bench --lengths 131072 --heads 32 --patterns vertical_slash --iters 1 --warmup 0 --out "$T/ncu" >"$T/ncu-convert.log" 2>&1
  el "ncu vs_convert rc=$?"
fi
cat "$T"/bench-*.log > "$OUT/bench.log"; cp "$T"/tests-vs.log "$T"/ncu-convert.log "$OUT/" 2>/dev/null
el done
