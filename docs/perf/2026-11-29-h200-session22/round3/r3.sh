#!/usr/bin/env bash
# Session 22 round 3 (COMMIT: topk_threshold takes two bisection steps a pass): every
# patterns GPU test; the previous top-k source (one step a pass) as a topk_threshold
# candidate, timed in turns with the shipped launch and checked by the index it leads to,
# at 32K and 128K (32 heads); then ncu (warp states and per-instruction samples) of one
# vs_column_scores and one vs_convert launch at 32K, 32 heads.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r3-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 130 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
timeout 150 bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072 --heads 32,32 --candidate topk_threshold=topk_one_step.tile --out "$T/threshold" >"$T/threshold.log" 2>&1
el "topk_threshold candidate rc=$?"; grep -E "^\| [0-9]+ .*\.tile" "$T/threshold.log" | tee -a "$S"
for k in vs_column_scores vs_convert; do
  timeout 90 ncu --section WarpStateStats --section SourceCounters --section SpeedOfLight --section Occupancy \
    --section SchedulerStats --section MemoryWorkloadAnalysis -k "regex:^$k\$" -c 1 -f -o "$T/$k" \
    bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --iters 1 --warmup 0 --settle-ms 0 --out "$T/bench-$k" >"$T/$k-ncu.log" 2>&1
  el "ncu $k rc=$?"
  ncu --import "$T/$k.ncu-rep" --page details --print-details all > "$OUT/$k-details.txt" 2>&1
  ncu --import "$T/$k.ncu-rep" --page source --csv --print-source sass > "$T/$k-source.csv" 2>&1
  python3 ncu_source.py hot "$T/$k-source.csv" --top 40 > "$OUT/$k-hot.txt" 2>&1
  xz -k "$T/$k-source.csv" && mv "$T/$k-source.csv.xz" "$OUT/"
  grep -E "Duration|Issue Slots Busy|Warp Cycles Per Issued|Achieved Active Warps|Registers Per|L2 Hit|Memory Throughput" "$OUT/$k-details.txt" | head -n 12 | tee -a "$S"
done
tar czf "$OUT/r3-logs.tgz" -C "$T" --exclude='*.csv' . 2>/dev/null
el done
