#!/usr/bin/env bash
# Session 16 round 2: the runtime GPU tests (the two-stream chain among them), the
# vertical-slash and model GPU tests with the vertical selection on the side stream;
# vertical-slash at 32K/128K/512K against our dense kernel, then torch SDPA (cuDNN,
# flash) and FlexAttention over the same masks in the same call (gpu-run.sh ONLY=sparse);
# then vs_column_scores with its old division per element as a --candidate, timed in
# turns against the shipped one.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 585 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 60 bin/test-sparsefill-runtime-gpu --test-threads=1 >"$OUT/tests-runtime.log" 2>&1
el "runtime GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-runtime.log" | tail -n1)"
timeout 60 bin/test-sparsefill-patterns-gpu vertical_slash --test-threads=1 >"$OUT/tests-vs.log" 2>&1
el "vertical-slash GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-vs.log" | tail -n1)"
timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$OUT/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-model.log" | tail -n1)"
grep -hE "FAILED|panicked" "$OUT"/tests-*.log | head -20 | tee -a "$S" >/dev/null
launches() { python3 - "$1" <<'PY'
import json, sys
try: d = json.load(open(sys.argv[1]))
except Exception as e: print("no bench.json:", e); sys.exit()
for L in d["lengths"]:
    for r in L["patterns"]:
        if r.get("launches"):
            print(L["len"], L["heads"], r["pattern"], " ".join(f"{l['kernel']}={l['ms']:.3f}" for l in r["launches"]))
PY
}
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=200 PEERS_TIMEOUT=150 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$OUT/run-sparse.log" 2>&1
el "sparse run rc=$?"
mkdir -p "$OUT/sparse"; cp "$R"/sparse/bench.json "$R"/sparse/bench.md "$R"/sparse/peers.json "$R"/sparse-bench.log "$R"/sparse-peers.log "$OUT/sparse/" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" 2>/dev/null | tee -a "$S" >/dev/null
launches "$R/sparse/bench.json" | tee -a "$S"
if [ $(left) -gt 150 ]; then
  timeout $(( $(left) - 5 )) bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 \
    --candidate vs_column_scores=column_scores_divide.tile --out "$OUT/cs" >"$OUT/bench-cs.log" 2>&1
  el "candidate vs_column_scores=column_scores_divide.tile rc=$?"
  grep -A6 "^Candidate" "$OUT/bench-cs.log" | tee -a "$S" >/dev/null
  launches "$OUT/cs/bench.json" | tee -a "$S"
  rm -f "$OUT"/cs/*.svg "$OUT"/cs/*.bin
fi
el done
