#!/usr/bin/env bash
# Session 10 round 4: index loads an iteration ahead of their copies. Every GPU test, then
# issue 4's vertical-slash table against SDPA and Flex in the same call. From the pack folder.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
for t in bin/test-sparsefill-runtime-gpu bin/test-sparsefill-patterns-gpu bin/test-sparsefill-model-gpu; do
  timeout 240 "$t" --test-threads=1 >>"$OUT/tests.log" 2>&1; el "$(basename $t) rc=$? $(grep -E '^test result' "$OUT/tests.log" | tail -n1)"
done
ONLY=sparse SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$OUT" timeout 330 bash run.sh >"$OUT/run.log" 2>&1; el "sparse rc=$?"
grep -E "^\| [0-9]" "$OUT/sparse-bench.log" | tail -n 15 | tee -a "$S" >/dev/null
