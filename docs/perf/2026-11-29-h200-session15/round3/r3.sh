#!/usr/bin/env bash
# Session 15 round 3: the vertical-slash and block-sparse GPU tests and the model GPU tests
# (vs_chain, vs_convert's searches, select_blocks on four query blocks), then the sparse
# table: vertical-slash, block-sparse and A-shape at 32K/128K/512K against our dense kernel,
# then torch SDPA (cuDNN, flash) and FlexAttention over the same masks in the same call
# (gpu-run.sh ONLY=sparse).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 585 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 100 bin/test-sparsefill-patterns-gpu vertical_slash block_sparse --test-threads=1 >"$OUT/tests-vs-bs.log" 2>&1
el "vertical-slash + block-sparse GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-vs-bs.log" | tail -n1)"
grep -E "FAILED|panicked" "$OUT/tests-vs-bs.log" | head -20 | tee -a "$S" >/dev/null
timeout 40 bin/test-sparsefill-model-gpu --test-threads=1 >"$OUT/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-model.log" | tail -n1)"
R=/tmp/sparse-run
L=$(left)
ONLY=sparse SPARSE_TIMEOUT=$(( L - 150 )) PEERS_TIMEOUT=140 SPARSE_ARGS="--patterns vertical_slash,block_sparse,a_shape --heads 32,32,4" OUT="$R" bash run.sh >"$OUT/run-sparse.log" 2>&1
el "sparse run rc=$?"
mkdir -p "$OUT/sparse"; cp "$R"/sparse/bench.json "$R"/sparse/bench.md "$R"/sparse/peers.json "$R"/sparse-bench.log "$R"/sparse-peers.log "$OUT/sparse/" 2>/dev/null
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
el done
