#!/usr/bin/env bash
# Session 17 round 2: vertical-slash's attention in two launches (each block's rest tiles
# and columns at 64 rows into an f32 partial, then the tiles both blocks of a pair list at
# 128 rows from it), after the split launch vs_pair_split. The vertical-slash and model
# GPU tests, then vertical-slash at 32K/128K/512K (32/32/4 heads) against our dense
# kernel, then at 128K with SPARSEFILL_PINGPONG=all (warpgroups taking turns at their
# products in every loop, the 128-row walk's 64-wide ones too), then every patterns GPU test.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 560 - ($(date +%s) - t0) )); }
launches() {
python3 - "$1" <<'PY' | tee -a "$S"
import json, sys
try: d = json.load(open(sys.argv[1]))
except Exception as e: print("no bench.json:", e); sys.exit()
for L in d["lengths"]:
    for r in L["patterns"]:
        if r.get("launches"):
            print(L["len"], L["heads"], r["pattern"], " ".join(f"{l['kernel']}={l['ms']:.3f}" for l in r["launches"]))
PY
}
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 90 bin/test-sparsefill-patterns-gpu vertical_slash --test-threads=1 >"$T/tests-vs.log" 2>&1
el "vertical-slash GPU tests: rc=$? $(grep -E '^test result' "$T/tests-vs.log" | tail -n1)"
timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$T/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S" >/dev/null
timeout 200 bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 --out "$T/vs" >"$T/bench-vs.log" 2>&1
el "bench vs rc=$?"
grep -E "^\| (32768|131072|524288)" "$T/bench-vs.log" | tee -a "$S" >/dev/null
launches "$T/vs/bench.json"
SPARSEFILL_PINGPONG=all timeout 120 bin/sparsefill bench --patterns vertical_slash --lengths 131072 --heads 32 --out "$T/vs-pp" >"$T/bench-vs-pp.log" 2>&1
el "bench vs pingpong=all rc=$?"
grep -E "^\| (32768|131072|524288)" "$T/bench-vs-pp.log" | tee -a "$S" >/dev/null
launches "$T/vs-pp/bench.json"
if [ $(left) -gt 150 ]; then
  timeout $(( $(left) - 5 )) bin/test-sparsefill-patterns-gpu --test-threads=1 >"$T/tests-patterns.log" 2>&1
  el "all patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
  grep -hE "FAILED|panicked" "$T/tests-patterns.log" | head -20 | tee -a "$S" >/dev/null
fi
cat "$T"/tests-*.log > "$OUT/tests.log" 2>/dev/null
cat "$T"/bench-*.log > "$OUT/bench.log" 2>/dev/null
cp "$T/vs/bench.json" "$OUT/bench.json" 2>/dev/null
el done
