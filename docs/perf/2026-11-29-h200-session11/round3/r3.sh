#!/usr/bin/env bash
# Session 11 round 3: vertical-slash with its masked tiles folded before the unmasked walk
# (97 KB of shared memory again). The vertical-slash GPU tests, issue 4's table against SDPA
# and Flex, then the runtime and model GPU tests (f32 ops now contractable). From the pack folder.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT/sparse"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
timeout 150 bin/test-sparsefill-patterns-gpu --test-threads=1 vertical_slash >"$OUT/tests-vs.log" 2>&1; el "vertical-slash GPU tests rc=$? $(grep -E '^test result' "$OUT/tests-vs.log" | tail -n1)"
R=/tmp/sparse-run
ONLY=sparse SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$OUT/run.log" 2>&1; el "sparse rc=$?"
cp "$R"/sparse-bench.log "$R"/sparse-peers.log "$R"/sparse/bench.md "$R"/sparse/bench.json "$R"/sparse/peers.json "$R"/sparse/speedup.svg "$OUT/sparse/" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" | tee -a "$S" >/dev/null
for t in runtime model; do
  timeout 120 bin/test-sparsefill-$t-gpu --test-threads=1 >"$OUT/tests-$t.log" 2>&1; el "$t GPU tests rc=$? $(grep -E '^test result' "$OUT/tests-$t.log" | tail -n1)"
done
if command -v ncu >/dev/null; then
  timeout 150 ncu --section WarpStateStats --section SourceCounters --import-source no --page source --print-source sass -k regex:sparse_vertical_slash -c 1 bin/sparsefill bench --lengths 131072 --heads 8 --patterns vertical_slash --iters 1 --warmup 0 --out /tmp/ncu-vs >"$OUT/ncu-vs-src.txt" 2>&1; el "ncu src rc=$?"
  xz -9 "$OUT/ncu-vs-src.txt"
fi
