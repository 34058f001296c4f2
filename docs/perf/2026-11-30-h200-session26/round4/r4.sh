#!/usr/bin/env bash
# Session 26 round 4 (COMMIT 2678038): where the pairs' walk waits, against the blocks'
# walk. ncu (WarpStateStats, SourceCounters, SpeedOfLight, SchedulerStats, Occupancy) on
# one launch of each attention kernel in `sparsefill bench` at 32K, 32 heads; the
# report's details and its per-SASS-instruction source page come back.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 500 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT) ncu: $(ncu --version | tail -n1)"
export SPARSEFILL_COMMIT=$(cat COMMIT) SPARSEFILL_CACHE_DIR=$PWD/cache
prof() { # name kernel-regex walk
  [ $(left) -gt 60 ] || { el "skip $1"; return; }
  timeout $(( $(left) - 20 )) ncu --section WarpStateStats --section SourceCounters --section SpeedOfLight \
    --section Occupancy --section SchedulerStats -k "regex:$2" -c 1 -f -o "$T/$1" \
    bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --vs-walk $3 --iters 1 --warmup 0 --settle-ms 0 --out "$T/bench-$1" >"$T/$1.log" 2>&1
  el "$1 rc=$?"
  ncu --import "$T/$1.ncu-rep" --page details --print-details all > "$T/$1-details.txt" 2>&1
  ncu --import "$T/$1.ncu-rep" --page source --csv --print-source sass > "$T/$1-source.csv" 2>&1
  el "$1 exported: $(wc -l < "$T/$1-details.txt") detail lines, $(wc -l < "$T/$1-source.csv") source lines"
  grep -E "Duration|Issue Slots Busy|Warp Cycles Per Issued|Achieved Active Warps|No Eligible|Tensor|SM Busy" "$T/$1-details.txt" | head -n 20 | tee -a "$S" >/dev/null
}
prof pairs '^sparse_vertical_slash_pairs$' pairs
prof blocks '^sparse_vertical_slash$' blocks
cp "$T"/*-details.txt "$OUT/" 2>/dev/null
gzip -c "$T/pairs-source.csv" > "$OUT/pairs-source.csv.gz" 2>/dev/null
gzip -c "$T/blocks-source.csv" > "$OUT/blocks-source.csv.gz" 2>/dev/null
el done
