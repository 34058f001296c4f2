#!/usr/bin/env bash
# Session 13 round 2: warp specialization (SPARSEFILL_SPECIALIZE=1) on the rest: the model GPU
# tests with it, the GEMM against cuBLAS with it and without, and the sparse kernels
# (vertical-slash at 32K/128K/512K, block-sparse and A-shape at 128K) with it, against SDPA
# and Flex in the same run.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT/sparse"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
SPARSEFILL_SPECIALIZE=1 timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$OUT/tests-model-specialize.log" 2>&1
el "model GPU tests, SPECIALIZE=1: rc=$? $(grep -E '^test result' "$OUT/tests-model-specialize.log" | tail -n1)"
PYTHONUNBUFFERED=1 timeout 70 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
for sp in 1 0; do
  SPARSEFILL_SPECIALIZE=$sp timeout 60 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench-gemm-$sp.json" --only gemm >"$OUT/bench-gemm-$sp.log" 2>&1; el "bench gemm SPECIALIZE=$sp rc=$?"
  grep -E "^\| (gemm|[0-9])" "$OUT/bench-gemm-$sp.log" | tee -a "$S" >/dev/null
done
export SPARSEFILL_SPECIALIZE=1
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=200 PEERS_TIMEOUT=120 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$OUT/run-vs.log" 2>&1; el "sparse vs rc=$?"
cp "$R"/sparse/bench.md "$OUT/sparse/vs-bench.md" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" | tee -a "$S" >/dev/null
left=$(( 585 - ($(date +%s) - t0) ))
R2=/tmp/sparse-run2
[ $left -gt 60 ] && { ONLY=sparse SPARSE_TIMEOUT=$((left-10)) PEERS_TIMEOUT=90 SPARSE_ARGS="--patterns block_sparse,a_shape --lengths 131072 --heads 32" OUT="$R2" bash run.sh >"$OUT/run-bs.log" 2>&1; el "sparse bs rc=$?"; }
cp "$R2"/sparse/bench.md "$OUT/sparse/bs-bench.md" 2>/dev/null
grep -E "^\| 131072" "$R2/sparse/bench.md" 2>/dev/null | tee -a "$S" >/dev/null
