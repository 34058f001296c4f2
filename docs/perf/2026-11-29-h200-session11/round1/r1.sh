#!/usr/bin/env bash
# Session 11 round 1: attention.tile folds its masked tile first, then walks up from tile 0. The attention table
# against torch in the same call, then the attention GPU tests. From the pack folder.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/bench-kernels.xz bin/test-sparsefill-patterns-gpu.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
PYTHONUNBUFFERED=1 timeout 60 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
timeout 140 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" --only attention >"$OUT/bench.log" 2>&1; el "bench rc=$?"
grep -E "^\| S=" "$OUT/bench.log" | tee -a "$S" >/dev/null
timeout 60 bin/test-sparsefill-patterns-gpu --test-threads=1 attention >"$OUT/tests.log" 2>&1; el "attention GPU tests rc=$? $(grep -E '^test result' "$OUT/tests.log" | tail -n1)"
