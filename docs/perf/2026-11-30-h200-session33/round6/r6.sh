#!/usr/bin/env bash
# Session 33 round 6 (COMMIT 7e1c651, ping-pong turns off by default): every GPU test
# binary with the shipped defaults, 4 tests at a time, then the demo on the GPU.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
for t in bin/test-*; do
  case "$t" in *.xz) continue ;; esac
  timeout 240 "$t" --test-threads=4 >>"$OUT/gpu-tests.log" 2>&1
  el "$(basename "$t"): rc=$? $(grep -E '^test result' "$OUT/gpu-tests.log" | tail -n1)"
done
timeout 120 bin/sparsefill demo >"$OUT/demo.log" 2>&1
el "demo: rc=$?"
grep -E "^\| |FAIL" "$OUT/demo.log" | tail -12 | tee -a "$S"
el done
