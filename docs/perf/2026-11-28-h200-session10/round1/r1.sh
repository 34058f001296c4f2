#!/usr/bin/env bash
# Session 10 round 1: ping-pong A/B on the whole attention table + every GPU test with it on,
# and an ncu warp-state profile of the vertical-slash kernel. From the pack folder.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader)"
PYTHONUNBUFFERED=1 timeout 80 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
timeout 150 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" --only attention >"$OUT/bench.log" 2>&1; el "bench default rc=$?"
SPARSEFILL_PINGPONG=1 timeout 150 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench-pp.json" --only attention >"$OUT/bench-pp.log" 2>&1; el "bench pingpong rc=$?"
grep -E "^\| (S=|attention)" "$OUT/bench.log" "$OUT/bench-pp.log" | tee -a "$S" >/dev/null
for t in bin/test-sparsefill-runtime-gpu bin/test-sparsefill-patterns-gpu bin/test-sparsefill-model-gpu; do
  [ -x "$t" ] || { el "missing $t"; continue; }
  SPARSEFILL_PINGPONG=1 timeout 240 "$t" --test-threads=1 >>"$OUT/tests-pp.log" 2>&1; el "$(basename $t) pingpong rc=$? $(grep -E '^test result' "$OUT/tests-pp.log" | tail -n1)"
done
if command -v ncu >/dev/null; then
  timeout 120 ncu --section WarpStateStats --section SchedulerStats --section ComputeWorkloadAnalysis --section SpeedOfLight -k regex:sparse_vertical_slash -c 1 bin/sparsefill bench --lengths 32768 --heads 8 --patterns vertical_slash --iters 1 --warmup 0 --out "$OUT/ncu-vs" >"$OUT/ncu-vs.log" 2>&1; el "ncu vs rc=$?"
fi
