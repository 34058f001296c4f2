#!/usr/bin/env bash
# Session 13 round 1: warp specialization (SPARSEFILL_SPECIALIZE=1: a producer warpgroup issues
# the TMA copies, setmaxnreg 24 / 240 or 232). The patterns GPU tests with it (correctness of
# every kernel it applies to), then the dense attention table against torch SDPA with it and
# with the default lowering, in the same run.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
SPARSEFILL_SPECIALIZE=1 timeout 230 bin/test-sparsefill-patterns-gpu --test-threads=1 >"$OUT/tests-specialize.log" 2>&1
el "patterns GPU tests, SPECIALIZE=1: rc=$? $(grep -E '^test result' "$OUT/tests-specialize.log" | tail -n1) $(grep -c 'FAILED\|panicked' "$OUT/tests-specialize.log") failed"
grep -E "FAILED|panicked" "$OUT/tests-specialize.log" | head -20 | tee -a "$S" >/dev/null
PYTHONUNBUFFERED=1 timeout 70 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
SPARSEFILL_SPECIALIZE=1 timeout 150 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench-specialize.json" --only attention >"$OUT/bench-specialize.log" 2>&1; el "bench SPECIALIZE=1 rc=$?"
grep -E "^\| (S=|attention)" "$OUT/bench-specialize.log" | tee -a "$S" >/dev/null
left=$(( 585 - ($(date +%s) - t0) ))
[ $left -gt 30 ] && { timeout $left bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" --only attention >"$OUT/bench.log" 2>&1; el "bench default rc=$?"; grep -E "^\| (S=|attention)" "$OUT/bench.log" | tee -a "$S" >/dev/null; }
