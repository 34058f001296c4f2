#!/usr/bin/env bash
# Session 10 round 2 (defaults: ping-pong on wide loops, causal blocks heaviest first, VS causal-only
# slash mask with its key step by alignment): every GPU test, the attention table against torch,
# and ncu's warp stall reasons of the vertical-slash kernel. From the pack folder.
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
PYTHONUNBUFFERED=1 timeout 80 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
timeout 150 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" --only attention >"$OUT/bench.log" 2>&1; el "bench rc=$?"
grep -E "^\| S=" "$OUT/bench.log" | tee -a "$S" >/dev/null
if command -v ncu >/dev/null; then
  timeout 150 ncu --section WarpStateStats --section SchedulerStats --section SpeedOfLight --print-details all -k regex:sparse_vertical_slash -c 1 bin/sparsefill bench --lengths 32768 --heads 8 --patterns vertical_slash --iters 1 --warmup 0 --out "$OUT/ncu-vs" >"$OUT/ncu-vs.log" 2>&1; el "ncu vs rc=$?"
  rm -rf "$OUT/ncu-vs"
fi
