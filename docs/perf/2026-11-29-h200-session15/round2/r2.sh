#!/usr/bin/env bash
# Session 15 round 2: the patterns and model GPU tests (fresh random inputs, outputs poisoned)
# with vs_convert's searches and select_blocks' nearest-first merge, then block-sparse at 128K
# (its index build, select_blocks, is the change to time).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 580 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 300 bin/test-sparsefill-patterns-gpu --test-threads=1 >"$OUT/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-patterns.log" | tail -n1)"
grep -E "FAILED|panicked" "$OUT/tests-patterns.log" | head -20 | tee -a "$S" >/dev/null
timeout 90 bin/test-sparsefill-model-gpu --test-threads=1 >"$OUT/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-model.log" | tail -n1)"
grep -E "FAILED|panicked" "$OUT/tests-model.log" | head -20 | tee -a "$S" >/dev/null
[ $(left) -gt 80 ] && { timeout $(( $(left) - 5 )) bin/sparsefill bench --patterns block_sparse --lengths 131072 --heads 32 --out "$OUT/bs" >"$OUT/bench-bs.log" 2>&1; el "bench bs rc=$?"; }
grep -E "^\| 131072" "$OUT/bs/bench.md" 2>/dev/null | tee -a "$S" >/dev/null
python3 - "$OUT/bs/bench.json" <<'PY' | tee -a "$S"
import json, sys
try: d = json.load(open(sys.argv[1]))
except Exception as e: print("no bench.json:", e); sys.exit()
for L in d["lengths"]:
    for r in L["patterns"]:
        if r.get("launches"):
            print(L["len"], L["heads"], r["pattern"], " ".join(f"{l['kernel']}={l['ms']:.3f}" for l in r["launches"]))
PY
rm -f "$OUT"/bs/*.svg "$OUT"/bs/cover-*.bin
el done
