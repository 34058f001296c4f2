#!/usr/bin/env bash
# Session 33 round 2 (COMMIT ef57120: the band walk, opt-in): the band's GPU tests, then
# the 32K workload with the blocks' walk and the band walk in turns (twice each, clocks
# sampled), then 128K once each. Our dense kernel is each bench's baseline; no peers.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
timeout 200 bin/test-sparsefill-patterns-gpu band pair_band --test-threads=4 --nocapture >"$T/tests.log" 2>&1
el "band GPU tests: rc=$? $(grep -E '^test result' "$T/tests.log" | tail -n1)"
grep -E "^test .* \.\.\. |vs_pair_band|panicked|differ" "$T/tests.log" | head -20 | tee -a "$S"
clock_summary() {
  python3 - "$1" "$2" <<'PY' | tee -a "$S"
import sys
rows = [l.split(", ") for l in open(sys.argv[1]) if l.count(",") >= 3]
busy = [(int(r[1].split()[0]), float(r[2].split()[0])) for r in rows if float(r[2].split()[0]) > 300]
if busy:
    c = sorted(x for x, _ in busy); p = sorted(y for _, y in busy)
    print(f"  {sys.argv[2]}: {len(busy)} samples over 300 W: SM MHz median {c[len(c)//2]} (min {c[0]}, max {c[-1]}), W median {p[len(p)//2]:.0f}")
PY
}
run() { # len heads walk tag
  D="$T/$4"; mkdir -p "$D"
  nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv,noheader -lms 100 >"$D/clocks.csv" 2>/dev/null & P=$!
  timeout 150 bin/sparsefill bench --lengths $1 --heads $2 --patterns vertical_slash --vs-walk $3 --out "$D" >"$D/bench.log" 2>&1
  el "$4: rc=$?"; kill $P 2>/dev/null
  clock_summary "$D/clocks.csv" "$4"
  grep -E "^\| $1 " "$D/bench.md" | tee -a "$S"
  grep -E "check failed|did not run|error" "$D/bench.md" "$D/bench.log" | head -5 | tee -a "$S"
  cp "$D/bench.md" "$OUT/bench-$4.md"; cp "$D/bench.json" "$OUT/bench-$4.json" 2>/dev/null
}
run 32768 32 blocks 32k-blocks-1
run 32768 32 band 32k-band-1
run 32768 32 blocks 32k-blocks-2
run 32768 32 band 32k-band-2
run 131072 32 blocks 128k-blocks
run 131072 32 band 128k-band
tar czf "$OUT/logs.tgz" -C "$T" .
el done
