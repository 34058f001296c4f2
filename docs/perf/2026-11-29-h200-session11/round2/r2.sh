#!/usr/bin/env bash
# Session 11 round 2: softmax scaled inside one fma (f32 add/sub/mul contractable), and
# vertical-slash's masked tiles folded first so its 64-key loop runs unmasked.
# Issue 4's vertical-slash table against SDPA and Flex, the attention table against torch,
# then every patterns GPU test. From the pack folder.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
timeout 150 bin/test-sparsefill-patterns-gpu --test-threads=1 vertical_slash >"$OUT/tests-vs.log" 2>&1; el "vertical-slash GPU tests rc=$? $(grep -E '^test result' "$OUT/tests-vs.log" | tail -n1)"
ONLY=sparse SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$OUT/sparse-run" bash run.sh >"$OUT/run.log" 2>&1; el "sparse rc=$?"
grep -E "^\| (32768|131072|524288)" "$OUT/sparse-run/sparse-bench.log" | tee -a "$S" >/dev/null
PYTHONUNBUFFERED=1 timeout 60 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
timeout 140 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" --only attention >"$OUT/bench.log" 2>&1; el "bench rc=$?"
grep -E "^\| S=" "$OUT/bench.log" | tee -a "$S" >/dev/null
timeout 200 bin/test-sparsefill-patterns-gpu --test-threads=1 >"$OUT/tests.log" 2>&1; el "patterns GPU tests rc=$? $(grep -E '^test result' "$OUT/tests.log" | tail -n1)"
