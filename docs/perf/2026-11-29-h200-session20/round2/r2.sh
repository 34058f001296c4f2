#!/usr/bin/env bash
# Session 20 round 2 (COMMIT, the session's start): where the 32K workload's kernels
# stall. ncu (WarpStateStats, SourceCounters, SpeedOfLight, ComputeWorkloadAnalysis,
# Occupancy) on one launch each of our dense kernel (`attention`, BM 128 BN 128), the
# vertical-slash attention, vs_convert and vs_column_scores, in `sparsefill bench` at
# 32K, 32 heads; then the report's details and its per-SASS-instruction source page.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 560 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT) ncu: $(ncu --version | tail -n1)"
export SPARSEFILL_COMMIT=$(cat COMMIT) SPARSEFILL_CACHE_DIR=$PWD/cache
prof() { # name kernel-regex
  [ $(left) -gt 60 ] || { el "skip $1"; return; }
  timeout $(( $(left) - 30 )) ncu --section WarpStateStats --section SourceCounters --section SpeedOfLight \
    --section ComputeWorkloadAnalysis --section Occupancy --section SchedulerStats -k "regex:$2" -c 1 -f -o "$T/$1" \
    bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --iters 1 --warmup 0 --out "$T/bench-$1" >"$T/$1.log" 2>&1
  el "$1 rc=$?"
  ncu --import "$T/$1.ncu-rep" --page details --print-details all > "$T/$1-details.txt" 2>&1
  ncu --import "$T/$1.ncu-rep" --page source --csv --print-source sass > "$T/$1-source.csv" 2>&1
  el "$1 exported: $(wc -l < "$T/$1-details.txt") detail lines, $(wc -l < "$T/$1-source.csv") source lines"
  grep -E "Duration|Issue Slots Busy|Warp Cycles Per Issued|Achieved Active Warps|Stall|stall" "$T/$1-details.txt" | head -n 40 | tee -a "$S" >/dev/null
}
prof vs '^sparse_vertical_slash$'
prof dense '^attention$'
prof convert '^vs_convert$'
prof colscores '^vs_column_scores$'
tar czf "$OUT/r2-logs.tgz" -C "$T" . 2>/dev/null
el done
