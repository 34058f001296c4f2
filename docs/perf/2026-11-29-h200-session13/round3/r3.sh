#!/usr/bin/env bash
# Session 13 round 3: the producer warpgroup by default, and a fed loop on fresh shared memory
# starting its copies at kernel start (attention's unmasked loop, the GEMM's loop, the sparse
# kernels' first loop). The patterns and model GPU tests, the dense attention table against
# torch SDPA, and vertical-slash at 32K/128K/512K against SDPA and Flex, in one run.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT/sparse"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
timeout 220 bin/test-sparsefill-patterns-gpu --test-threads=1 >"$OUT/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-patterns.log" | tail -n1)"
grep -E "FAILED|panicked" "$OUT/tests-patterns.log" | head -20 | tee -a "$S" >/dev/null
timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$OUT/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-model.log" | tail -n1)"
PYTHONUNBUFFERED=1 timeout 70 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
timeout 150 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" --only attention >"$OUT/bench.log" 2>&1; el "bench rc=$?"
grep -E "^\| (S=|attention)" "$OUT/bench.log" | tee -a "$S" >/dev/null
left=$(( 585 - ($(date +%s) - t0) ))
R=/tmp/sparse-run
[ $left -gt 60 ] && { ONLY=sparse SPARSE_TIMEOUT=$((left-15)) PEERS_TIMEOUT=120 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$OUT/run-vs.log" 2>&1; el "sparse vs rc=$?"; }
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" 2>/dev/null | tee -a "$S" >/dev/null
