#!/usr/bin/env bash
# Session 15 round 5 (final): the vertical-slash GPU tests (step by step against the host
# estimator) with vs_chain walking only entries that can close a range and vs_convert
# handling a range in the step that closes it, select_blocks back to one query block per
# program; then vertical-slash and block-sparse at 32K/128K/512K against our dense kernel,
# then torch SDPA (cuDNN, flash) and FlexAttention over the same masks in the same call
# (gpu-run.sh ONLY=sparse).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 60 bin/test-sparsefill-patterns-gpu vertical_slash --test-threads=1 >"$OUT/tests-vs.log" 2>&1
el "vertical-slash GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-vs.log" | tail -n1)"
grep -E "FAILED|panicked" "$OUT/tests-vs.log" | head -20 | tee -a "$S" >/dev/null
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=330 PEERS_TIMEOUT=200 SPARSE_ARGS="--patterns vertical_slash,block_sparse --heads 32,32,4" OUT="$R" bash run.sh >"$OUT/run-sparse.log" 2>&1
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
