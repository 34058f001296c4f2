#!/usr/bin/env bash
# Session 23 round 1 (COMMIT 1a324a0, against the session start, 1e5a1e5):
#   - vs_chain stores each opener's next distance, so vs_convert follows the chain with
#     one dependent load a range;
#   - topk_threshold holds rows of up to 32K scores in registers;
#   - the sparse kernels' epilogue takes one reciprocal a row, not a division an element;
#   - gathered loads stay 16-byte vectors when some rows are outside;
#   - bin_sum adds by compare-and-swap eight elements at a time.
# Every patterns and runtime GPU test; `sparsefill bench` of the session-start build
# (bin/sparsefill-prev) and the new one, 32K, 128K (32 heads) and 512K (4 heads), each
# also timing every launch alone (bench.json, printed here); two attention candidates
# timed in turns with the shipped launch at 32K: vs_div.tile (the division-per-element
# epilogue) and vs_cols_first.tile (the column loop before the slash tiles); then, with
# the time left, 32K once more with each build.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=$OUT/logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 130 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
timeout 40 bin/test-sparsefill-runtime-gpu --test-threads=4 >"$T/tests-runtime.log" 2>&1
el "runtime GPU tests: rc=$? $(grep -E '^test result' "$T/tests-runtime.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
launches() {
  python3 - "$1" <<'PY' | tee -a "$S"
import json, sys
d = json.load(open(sys.argv[1]))
for L in d["lengths"]:
    for p in L["patterns"]:
        if p["pattern"] != "dense":
            print(f"  {L['len']}: " + " ".join(f"{x['kernel']} {x['ms']:.4f}" for x in p["launches"]))
PY
}
run() {  # build rep lengths heads
  D="$T/$1-$2"; mkdir -p "$D"
  timeout 200 bin/$1 bench --lengths "$3" --heads "$4" --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "$1 rep $2 rc=$?"
  grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
  launches "$D/bench.json"
}
for build in sparsefill-prev sparsefill; do run $build 1 32768,131072,524288 32,32,4; done
cand() {  # name
  D="$T/candidate-$1"; mkdir -p "$D"
  timeout 110 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --candidate sparse_vertical_slash=$1.tile --out "$D" >"$D/bench.log" 2>&1
  el "candidate $1 rc=$?"
  grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
}
cand vs_div
cand vs_cols_first
if [ $(( $(date +%s) - t0 )) -lt 470 ]; then
  for build in sparsefill-prev sparsefill; do run $build 2 32768 32; done
fi
el done
