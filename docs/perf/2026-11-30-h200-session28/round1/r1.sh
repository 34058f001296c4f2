#!/usr/bin/env bash
# Session 28 round 1 (COMMIT b717205): (1) why one-head chunks run the 512K attention
# faster: ncu on the attention in one piece (launch 1) and in four one-head chunks
# (launches 3-6), each kernel alone at ncu's locked clocks; (2) where one-head chunks
# start to pay: 256K, 8 heads, one head a chunk, in turns with one piece; (3) a candidate
# attention kernel that loads each column step's entries a step ahead, in turns with the
# shipped kernel at 32K and 128K.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT) ncu: $(ncu --version | tail -n1)"
run() { # name lengths heads extra...
  local name=$1 lengths=$2 heads=$3; shift 3
  D="$T/$name"; mkdir -p "$D"
  timeout 200 bin/sparsefill bench --lengths $lengths --heads $heads --patterns vertical_slash "$@" --out "$D" >"$D/bench.log" 2>&1
  el "$name bench rc=$?"
  grep -E "^\| [0-9]+ .*(vertical_slash|dense)" "$D/bench.md" | tee -a "$S"
  grep -E "check failed|did not run|FAILED" "$D/bench.md" "$D/bench.log" | tee -a "$S"
  cp "$D/bench.md" "$OUT/bench-$name.md" 2>/dev/null; cp "$D/bench.json" "$OUT/bench-$name.json" 2>/dev/null
}
run cols-ahead 32768,131072 32,32 --candidate sparse_vertical_slash=vs_cols_ahead.tile
run 256k-h8-c8 262144 8 --vs-chunks 8
timeout 300 ncu --section SpeedOfLight --section MemoryWorkloadAnalysis --section LaunchStats --section Occupancy \
  -k 'regex:^sparse_vertical_slash$' -c 6 -f -o "$T/attn" \
  bin/sparsefill bench --lengths 524288 --heads 4 --patterns vertical_slash --vs-chunks 4 \
  --iters 1 --warmup 0 --settle-ms 0 --out "$T/ncu-bench" >"$T/ncu.log" 2>&1
el "ncu rc=$?"
tail -5 "$T/ncu.log" | tee -a "$S"
ncu --import "$T/attn.ncu-rep" --page details --print-details all > "$OUT/ncu-details.txt" 2>&1
ncu --import "$T/attn.ncu-rep" --page raw --csv --metrics gpu__time_duration.sum,lts__t_sector_hit_rate.pct,dram__bytes_read.sum,lts__t_sectors_srcunit_tex_op_read.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed,launch__grid_size > "$OUT/ncu-raw.csv" 2>&1
grep -E "sparse_vertical_slash|Duration|L2 Hit Rate|DRAM Throughput|Memory Throughput|Grid Size|Achieved Occupancy" \
  "$OUT/ncu-details.txt" | tee -a "$S"
el done
