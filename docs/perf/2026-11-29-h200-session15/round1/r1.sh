#!/usr/bin/env bash
# Session 15 round 1: vs_convert by C-ary searches (GPU step-by-step tests of vertical-slash,
# then its per-launch times in the bench), the prepared sparse-kernel edits as --candidate
# (timed in turns with the shipped kernels, checked on poisoned outputs), and ncu's warp
# states of the vertical-slash walk at 128K.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 580 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 120 bin/test-sparsefill-patterns-gpu vertical_slash --test-threads=1 >"$OUT/tests-vs.log" 2>&1
el "vertical-slash GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-vs.log" | tail -n1)"
grep -E "FAILED|panicked|timing" "$OUT/tests-vs.log" | head -20 | tee -a "$S" >/dev/null
timeout 260 bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 \
  --candidate sparse_vertical_slash=next_vs.tile --out "$OUT/vs" >"$OUT/bench-vs.log" 2>&1
el "bench vs rc=$?"
grep -E "^\| (32768|131072|524288)|candidate|turn" "$OUT/vs/bench.md" 2>/dev/null | tee -a "$S" >/dev/null
python3 - "$OUT/vs/bench.json" <<'PY' | tee -a "$S"
import json, sys
try: d = json.load(open(sys.argv[1]))
except Exception as e: print("no bench.json:", e); sys.exit()
for L in d["lengths"]:
    for r in L["patterns"]:
        if r.get("launches"):
            print(L["len"], L["heads"], r["pattern"], " ".join(f"{l['kernel']}={l['ms']:.3f}" for l in r["launches"]))
PY
[ $(left) -gt 150 ] && { timeout $(( $(left) - 100 )) bin/sparsefill bench --patterns block_sparse --lengths 131072 --heads 32 \
  --candidate sparse_block=next_bs.tile --out "$OUT/bs" >"$OUT/bench-bs.log" 2>&1; el "bench bs rc=$?"; }
grep -E "^\| 131072|candidate|turn" "$OUT/bs/bench.md" 2>/dev/null | tee -a "$S" >/dev/null
if command -v ncu >/dev/null && [ $(left) -gt 70 ]; then
  timeout $(( $(left) - 5 )) ncu --section WarpStateStats --section SchedulerStats --section ComputeWorkloadAnalysis --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy \
    -k regex:sparse_vertical_slash -c 1 bin/sparsefill bench --lengths 131072 --heads 32 --patterns vertical_slash --iters 1 --warmup 0 --out "$OUT/ncu-vs" >"$OUT/ncu-vs.log" 2>&1; el "ncu vs rc=$?"
fi
el done
