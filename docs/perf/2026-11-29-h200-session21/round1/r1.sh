#!/usr/bin/env bash
# Session 21 round 1 (COMMIT: the occupancy(N) kernel option): every patterns GPU test,
# ncu of one vs_convert launch at 32K (32 heads), then three estimation candidates, each the shipped estimation source
# with one kernel given occupancy(N) (registers capped to fit N programs an SM), timed
# in turns with the shipped launch at 32K / 128K / 512K (32 / 32 / 4 heads; the last at
# 32K / 128K only):
#   convert_occ24.tile    vs_convert        occupancy(24): 80 registers (113 shipped)
#   colscores_occ5.tile   vs_column_scores  occupancy(5):  96 registers (128 shipped)
#   rowstats_occ4.tile    vs_row_stats      occupancy(4): 128 registers (164 shipped)
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 120 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
timeout 90 ncu --section WarpStateStats --section SourceCounters --section SpeedOfLight --section Occupancy \
  --section SchedulerStats -k "regex:^vs_convert$" -c 1 -f -o "$T/convert" \
  bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --iters 1 --warmup 0 --out "$T/bench-convert" >"$T/convert-ncu.log" 2>&1
el "ncu vs_convert rc=$?"
ncu --import "$T/convert.ncu-rep" --page details --print-details all > "$T/convert-details.txt" 2>&1
ncu --import "$T/convert.ncu-rep" --page source --csv --print-source sass > "$T/convert-source.csv" 2>&1
grep -E "Duration|Issue Slots Busy|Warp Cycles Per Issued|Achieved Active Warps|Registers" "$T/convert-details.txt" | head -n 12 | tee -a "$S"
bench() { # kernel=file lengths heads
  name=${1%%=*}
  timeout 170 bin/sparsefill bench --patterns vertical_slash --lengths "$2" --heads "$3" --candidate "$1" --out "$T/$name" >"$T/$name.log" 2>&1
  el "$1 rc=$?"; grep -E "^\| [0-9]+ .*\.tile" "$T/$name.log" | tee -a "$S"
}
bench vs_convert=convert_occ24.tile 32768,131072,524288 32,32,4
bench vs_column_scores=colscores_occ5.tile 32768,131072,524288 32,32,4
bench vs_row_stats=rowstats_occ4.tile 32768,131072 32,32
tar czf "$OUT/r1-logs.tgz" -C "$T" . 2>/dev/null
el done
