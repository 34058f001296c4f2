#!/usr/bin/env bash
# Session 34 round 5 (COMMIT 8adeeff and a candidate build of it): does the query tile as
# wgmma A registers (vs_qa.diff: `qa = cast(dot(q, I))`, exact, in the scores' products of
# the masked, walk and column loops) let the vertical-slash pipeline hold a higher clock at
# the power limit? Session 20 timed it in turns (0.987-0.997x), where both kernels share
# one clock. Here each build runs alone, as round 4 measured: 32K, 10 s of untimed runs,
# then 50 timed ones, in the order A B A B (A the shipped binary, B the candidate), with
# clocks logged.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do [ -e "${f%.xz}" ] || { xz -dkf "$f" && chmod +x "${f%.xz}"; }; done
export SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r5-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
nvidia-smi --query-gpu=timestamp,temperature.gpu,power.draw,clocks.sm,clocks_event_reasons.active --format=csv -lms 200 > "$T/smi.csv" 2>&1 &
SMI=$!
run() { # name binary
  D="$T/$1"; mkdir -p "$D"
  SPARSEFILL_CACHE_DIR=$PWD/cache-$2 timeout 150 bin/$2 bench --lengths 32768 --heads 32 --patterns vertical_slash --iters 50 --settle-ms 10000 --out "$D" >"$D/bench.log" 2>&1
  el "$1 ($2) rc=$?"
  grep -E "^\| [0-9]+ .*(dense|vertical_slash)" "$D/bench.md" | tee -a "$S"
}
run a1 sparsefill
run b1 sparsefill-qa
run a2 sparsefill
run b2 sparsefill-qa
kill $SMI
tar -C "$T" -cJf "$OUT/raw.tar.xz" a1/bench.json b1/bench.json a2/bench.json b2/bench.json smi.csv
el done
