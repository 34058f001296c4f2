#!/usr/bin/env bash
# Session 14 round 2 (commit da9887c): attention's masked tiles in the one pipelined loop
# (the mask under an if that leaves the previous product running), the last tile's values
# loaded with the prologue, one division per row. In one call: the previous kernel
# (attention_prev.tile, session 13's) against the new one in turns (--ab); the attention
# table against torch SDPA; the patterns and model GPU tests; torch SDPA again at the end.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 585 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) commit $(cat COMMIT 2>/dev/null)"
PYTHONUNBUFFERED=1 timeout 70 python3 torch_ops.py --out "$OUT/torch.json" >"$OUT/torch.log" 2>&1; el "torch rc=$?"
timeout 170 bin/bench-kernels --ab "source=attention_prev.tile/" >"$OUT/ab.log" 2>&1; el "ab prev/new rc=$?"
grep -E "^card|^\| S=|rror" "$OUT/ab.log" | tee -a "$S" >/dev/null
timeout 160 bin/bench-kernels --torch "$OUT/torch.json" --json "$OUT/bench.json" --only attention >"$OUT/bench.log" 2>&1; el "bench rc=$?"
grep -E "^\| (S=|attention)" "$OUT/bench.log" | tee -a "$S" >/dev/null
timeout $(( $(left) - 60 )) bin/test-sparsefill-patterns-gpu --test-threads=1 >"$OUT/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-patterns.log" | tail -n1)"
grep -E "FAILED|panicked" "$OUT/tests-patterns.log" | head -20 | tee -a "$S" >/dev/null
timeout $(( $(left) - 25 )) bin/test-sparsefill-model-gpu --test-threads=1 >"$OUT/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-model.log" | tail -n1)"
grep -E "FAILED|panicked" "$OUT/tests-model.log" | head -20 | tee -a "$S" >/dev/null
[ "$(left)" -gt 20 ] && { PYTHONUNBUFFERED=1 timeout $(( $(left) - 3 )) python3 torch_ops.py --out "$OUT/torch-after.json" >"$OUT/torch-after.log" 2>&1; el "torch after rc=$?"; }
el done
