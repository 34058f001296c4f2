#!/usr/bin/env bash
# Session 28 round 2 (COMMIT b717205): round 1's ncu found the 512K attention in one-head
# launches at a 93% L2 hit rate against 69% in one piece (DRAM 0.31 against 1.86 TB/s).
# Does one launch in head-major order get the same? (1) ncu at 512K on the attention in
# one piece and on two head-major candidates (a 2D grid remapped; a 1D grid); (2) ncu at
# 128K on the attention in one piece and in one-head launches; (3) the candidates timed
# in turns with the shipped kernel at 128K and 512K.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
M=gpu__time_duration.sum,lts__t_sector_hit_rate.pct,dram__bytes_read.sum,lts__t_sectors_srcunit_tex_op_read.sum,sm__cycles_elapsed.avg.per_second
prof() { # name count bench-args...
  local name=$1 count=$2; shift 2
  timeout 240 ncu --metrics $M -k 'regex:^sparse_vertical_slash$' -c $count -f -o "$T/$name" \
    bin/sparsefill bench --patterns vertical_slash --iters 1 --warmup 0 --settle-ms 0 "$@" --out "$T/$name-bench" >"$T/$name.log" 2>&1
  el "ncu $name rc=$?"
  ncu --import "$T/$name.ncu-rep" --page raw --csv --metrics $M > "$OUT/ncu-$name.csv" 2>&1
  python3 - "$OUT/ncu-$name.csv" <<'PY' | tee -a "$S"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
head = rows[0]
for r in rows[2:]:
    d = dict(zip(head, r))
    print(f"  grid {d['Grid Size']:>14} {float(d['gpu__time_duration.sum']):9.3f} ms  L2 hit {float(d['lts__t_sector_hit_rate.pct']):5.1f}%  "
          f"DRAM read {float(d['dram__bytes_read.sum'])/1e9:8.2f} GB  L2 reads {float(d['lts__t_sectors_srcunit_tex_op_read.sum'])*32/1e9:8.1f} GB  "
          f"clock {float(d['sm__cycles_elapsed.avg.per_second'])/1e6:6.0f} MHz")
PY
}
prof 512k-hm1d 4 --lengths 524288 --heads 4 --vs-chunks 1 --candidate sparse_vertical_slash=vs_head_major_1d.tile
prof 512k-hm2d 4 --lengths 524288 --heads 4 --vs-chunks 1 --candidate sparse_vertical_slash=vs_head_major.tile
prof 128k-c32 5 --lengths 131072 --heads 32 --vs-chunks 32
D="$T/turns"; mkdir -p "$D"
timeout 200 bin/sparsefill bench --lengths 131072,524288 --heads 32,4 --patterns vertical_slash --vs-chunks 1 \
  --candidate sparse_vertical_slash=vs_head_major_1d.tile --out "$D" >"$D/bench.log" 2>&1
el "turns bench rc=$?"
grep -E "^\| [0-9]+ .*(vertical_slash|dense)" "$D/bench.md" | tee -a "$S"
grep -E "check failed|did not run|FAILED" "$D/bench.md" "$D/bench.log" | tee -a "$S"
cp "$D/bench.md" "$OUT/bench-turns.md"; cp "$D/bench.json" "$OUT/bench-turns.json"
el done
