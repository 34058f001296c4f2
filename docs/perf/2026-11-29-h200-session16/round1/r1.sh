#!/usr/bin/env bash
# Session 16 round 1: the candidates session 15 prepared (docs/perf/2026-11-29-h200-session15/next/),
# each timed in turns against the shipped launch in one process with `sparsefill bench --candidate`
# (the first GPU run of that path for estimation kernels), after the vertical-slash GPU tests;
# then ncu's warp states of vs_column_scores and topk_threshold at 32K.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 580 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 60 bin/test-sparsefill-patterns-gpu vertical_slash --test-threads=1 >"$OUT/tests-vs.log" 2>&1
el "vertical-slash GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-vs.log" | tail -n1)"
grep -E "FAILED|panicked" "$OUT/tests-vs.log" | head -20 | tee -a "$S" >/dev/null
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
cand() { # name file lengths heads pattern budget
  timeout $6 bin/sparsefill bench --patterns $5 --lengths $3 --heads $4 --candidate $1=$2 --out "$OUT/$1" >"$OUT/bench-$1.log" 2>&1
  el "candidate $1=$2 rc=$?"
  grep -iE "candidate|turn|FAIL|error" "$OUT/bench-$1.log" | head -20 | tee -a "$S" >/dev/null
  grep -E "^\| (32768|131072|524288)" "$OUT/$1/bench.md" 2>/dev/null | tee -a "$S" >/dev/null
  launches "$OUT/$1/bench.json" | tee -a "$S"
}
cand vs_chain vs_chain_rest.tile 32768,131072,524288 32,32,4 vertical_slash 150
cand vs_convert vs_convert_c32.tile 32768,131072,524288 32,32,4 vertical_slash 150
[ $(left) -gt 160 ] && cand select_blocks select_blocks_ch128.tile 131072,524288 32,4 block_sparse $(( $(left) - 90 ))
if command -v ncu >/dev/null && [ $(left) -gt 60 ]; then
  timeout $(( $(left) - 5 )) ncu --section WarpStateStats --section SchedulerStats --section SpeedOfLight --section Occupancy --section LaunchStats \
    -k regex:"vs_column_scores|topk_threshold|vs_chain|vs_convert" -c 5 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --iters 1 --warmup 0 --out "$OUT/ncu" >"$OUT/ncu-est.log" 2>&1; el "ncu rc=$?"
fi
el done
