#!/usr/bin/env bash
# Session 12 round 1: launch order (attention.tile's `launch_slot`): a GQA group widened to
# 8 heads side by side, heaviest blocks first, in dense attention and the vertical-slash,
# block-sparse and A-shape kernels. The attention table against torch, issue 4's
# vertical-slash table against SDPA and Flex, the GPU tests of the changed kernels, then
# ncu's memory sections on vertical-slash at 128K. From the pack folder.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT/sparse"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
PYTHONUNBUFFERED=1 timeout 60 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
timeout 140 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" --only attention >"$OUT/bench.log" 2>&1; el "bench rc=$?"
grep -E "^\| S=" "$OUT/bench.log" | tee -a "$S" >/dev/null
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=220 PEERS_TIMEOUT=120 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$OUT/run.log" 2>&1; el "sparse rc=$?"
cp "$R"/sparse/bench.md "$R"/sparse/bench.json "$OUT/sparse/" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" | tee -a "$S" >/dev/null
timeout 110 bin/test-sparsefill-patterns-gpu --test-threads=1 attention vertical_slash block_sparse local >"$OUT/tests.log" 2>&1; el "GPU tests rc=$? $(grep -E '^test result' "$OUT/tests.log" | tail -n1)"
if command -v ncu >/dev/null && [ $(( $(date +%s) - t0 )) -lt 520 ]; then
  timeout $(( 585 - ($(date +%s) - t0) )) ncu --section SpeedOfLight --section MemoryWorkloadAnalysis -k regex:sparse_vertical_slash -c 1 bin/sparsefill bench --lengths 131072 --heads 8 --patterns vertical_slash --iters 1 --warmup 0 --out /tmp/ncu-vs >"$OUT/ncu-vs-mem.txt" 2>&1; el "ncu rc=$?"
fi
