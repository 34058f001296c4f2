#!/usr/bin/env bash
# Session 14 round 4 (the shipped attention with tile 0 in the pipelined loop): the attention
# table against torch SDPA (timed first, in the same call), then the patterns and model GPU
# tests (fresh random inputs, outputs poisoned).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 450 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
PYTHONUNBUFFERED=1 timeout 70 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
timeout 150 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" --only attention >"$OUT/bench.log" 2>&1; el "bench rc=$?"
grep -E "^\| (S=|attention)" "$OUT/bench.log" | tee -a "$S" >/dev/null
timeout $(( $(left) - 30 )) bin/test-sparsefill-patterns-gpu --test-threads=1 >"$OUT/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-patterns.log" | tail -n1)"
grep -E "FAILED|panicked" "$OUT/tests-patterns.log" | head -20 | tee -a "$S" >/dev/null
timeout $(( $(left) - 2 )) bin/test-sparsefill-model-gpu --test-threads=1 >"$OUT/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-model.log" | tail -n1)"
grep -E "FAILED|panicked" "$OUT/tests-model.log" | head -20 | tee -a "$S" >/dev/null
el done
