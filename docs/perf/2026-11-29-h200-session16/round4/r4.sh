#!/usr/bin/env bash
# Session 16 round 4 (final): the vertical-slash, model and runtime GPU tests on the final
# kernels (vs_column_scores spread over 4 bins per diagonal, topk_threshold in 8192-wide
# tiles, vs_chain jumping along vs_chain_stops, the vertical selection on the side
# stream); then vertical-slash and block-sparse at 32K/128K/512K against our dense kernel,
# torch SDPA (cuDNN, flash) and FlexAttention over the same masks in the same call
# (gpu-run.sh ONLY=sparse); then every patterns GPU test if time is left.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"   # logs gathered into $OUT at the end: few files come back
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 540 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 60 bin/test-sparsefill-patterns-gpu vertical_slash --test-threads=1 >"$T/tests-vs.log" 2>&1
el "vertical-slash GPU tests: rc=$? $(grep -E '^test result' "$T/tests-vs.log" | tail -n1)"
timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$T/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
timeout 30 bin/test-sparsefill-runtime-gpu --test-threads=1 >"$T/tests-runtime.log" 2>&1
el "runtime GPU tests: rc=$? $(grep -E '^test result' "$T/tests-runtime.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S" >/dev/null
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=260 PEERS_TIMEOUT=160 SPARSE_ARGS="--patterns vertical_slash,block_sparse --heads 32,32,4" OUT="$R" bash run.sh >"$T/run-sparse.log" 2>&1
el "sparse run rc=$?"
cp "$R"/sparse/bench.json "$R"/sparse/bench.md "$OUT/" 2>/dev/null; cp "$R"/sparse/peers.json "$OUT/peers.json" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" 2>/dev/null | tee -a "$S" >/dev/null
python3 - "$R/sparse/bench.json" <<'PY' | tee -a "$S"
import json, sys
try: d = json.load(open(sys.argv[1]))
except Exception as e: print("no bench.json:", e); sys.exit()
for L in d["lengths"]:
    for r in L["patterns"]:
        if r.get("launches"):
            print(L["len"], L["heads"], r["pattern"], " ".join(f"{l['kernel']}={l['ms']:.3f}" for l in r["launches"]))
PY
if [ $(left) -gt 150 ]; then
  timeout $(( $(left) - 5 )) bin/test-sparsefill-patterns-gpu --test-threads=1 >"$T/tests-patterns.log" 2>&1
  el "all patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
  grep -hE "FAILED|panicked" "$T/tests-patterns.log" | head -20 | tee -a "$S" >/dev/null
fi
cat "$T"/tests-*.log > "$OUT/tests.log" 2>/dev/null
cat "$T"/run-sparse.log "$R"/sparse-bench.log "$R"/sparse-peers.log > "$OUT/sparse.log" 2>/dev/null
el done
