#!/usr/bin/env bash
# Session 32 round 5 (COMMIT in pack/COMMIT, 755bb1c: gpu-pack ships only each crate's
# test target named `gpu`): run.sh's tests part, every GPU test binary of the pack, as a
# full run does it.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "binaries packed: $(ls bin | tr '\n' ' ')"
ONLY=tests TEST_TIMEOUT=200 OUT="$OUT/run" bash run.sh >"$OUT/run.log" 2>&1
el "run.sh ONLY=tests rc=$?"
cat "$OUT/run/summary.log" | tee -a "$S"
tar czf "$OUT/r5-logs.tgz" -C "$OUT" run && rm -rf "$OUT/run"
el done
