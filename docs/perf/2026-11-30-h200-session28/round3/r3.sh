#!/usr/bin/env bash
# Session 28 round 3 (COMMIT b717205): what makes one-head launches read 6x less DRAM at
# 512K than one launch of the same heads in head-major order (round 2)? ncu on the
# attention (1) at 512K with one head (one piece is then a one-head launch), (2) at 512K
# with two heads, one piece and the head-major 1D candidate, and (3) at 32K, 32 heads, the
# vertical-slash attention and our dense kernel; then (4) the gathered columns first,
# timed in turns at 32K.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r3-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
M=gpu__time_duration.sum,lts__t_sector_hit_rate.pct,dram__bytes_read.sum,dram__bytes_write.sum,lts__t_sectors_srcunit_tex_op_read.sum,sm__cycles_elapsed.avg.per_second
prof() { # name kernel-regex count bench-args...
  local name=$1 kernels=$2 count=$3; shift 3
  timeout 200 ncu --metrics $M -k "regex:$kernels" -c $count -f -o "$T/$name" \
    bin/sparsefill bench --iters 1 --warmup 0 --settle-ms 0 "$@" --out "$T/$name-bench" >"$T/$name.log" 2>&1
  el "ncu $name rc=$?"
  ncu --import "$T/$name.ncu-rep" --page raw --csv --metrics $M > "$OUT/ncu-$name.csv" 2>&1
  python3 - "$OUT/ncu-$name.csv" <<'PY' | tee -a "$S"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
head = rows[0]
for r in rows[2:]:
    d = dict(zip(head, r))
    print(f"  {d['Kernel Name'][:22]:22} grid {d['Grid Size']:>14} {float(d['gpu__time_duration.sum']):9.3f} ms  L2 hit {float(d['lts__t_sector_hit_rate.pct']):5.1f}%  "
          f"DRAM read {d['dram__bytes_read.sum']:>10} write {d['dram__bytes_write.sum']:>10}  L2 reads {float(d['lts__t_sectors_srcunit_tex_op_read.sum'])*32/1e9:8.1f} GB  {d['sm__cycles_elapsed.avg.per_second']} GHz")
print("  (DRAM columns in", rows[1][head.index('dram__bytes_read.sum')], "/", rows[1][head.index('dram__bytes_write.sum')], ")")
PY
}
prof 512k-h1 '^sparse_vertical_slash$' 2 --lengths 524288 --heads 1 --patterns vertical_slash --vs-chunks 1
prof 512k-h2 '^sparse_vertical_slash$' 4 --lengths 524288 --heads 2 --patterns vertical_slash --vs-chunks 1 --candidate sparse_vertical_slash=vs_head_major_1d.tile
prof 32k '^(sparse_vertical_slash|attention)$' 4 --lengths 32768 --heads 32 --patterns vertical_slash --vs-chunks 1
D="$T/turns"; mkdir -p "$D"
timeout 120 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash \
  --candidate sparse_vertical_slash=vs_cols_first.tile --out "$D" >"$D/bench.log" 2>&1
el "turns bench rc=$?"
grep -E "^\| [0-9]+ .*(vertical_slash|dense)" "$D/bench.md" | tee -a "$S"
grep -E "check failed|did not run|FAILED" "$D/bench.md" "$D/bench.log" | tee -a "$S"
cp "$D/bench.md" "$OUT/bench-cols-first.md"; cp "$D/bench.json" "$OUT/bench-cols-first.json"
el done
