#!/usr/bin/env bash
# Session 24 round 1 (COMMIT e55b117, against session 23's last measured build cca087a as
# bin/sparsefill-prev):
#   - vs_hops writes each closing entry's next 32 openers along vs_chain's closes, and
#     vs_convert takes a block's chained ranges from one row instead of following the
#     chain range by range; its step loop is nested 16 x 8 x 8 instead of 32 x 32.
# Every patterns GPU test; `sparsefill bench` of the new build (32K, 128K with 32 heads,
# 512K with 4) and of the previous one (32K, 128K), each timing every launch alone
# (bench.json, printed here); then candidates timed in turns with the shipped launch:
#   - convert_two_levels.tile: the new vs_convert with the old 32 x 32 step loop;
#   - colscores_warp_copies.tile: vs_column_scores' diagonal bins spread over a copy per
#     warp as well as per column pair (no two warps add into one bin);
#   - colscores_no_diagonals.tile: a measurement candidate without the diagonal sums (its
#     index check fails by design): what the shared-memory adds cost at most.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 130 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
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
run() {  # build lengths heads
  D="$T/$1"; mkdir -p "$D"
  timeout 200 bin/$1 bench --lengths "$2" --heads "$3" --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "$1 rc=$?"
  grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
  launches "$D/bench.json"
  cp "$D/bench.md" "$OUT/bench-$1.md"; cp "$D/bench.json" "$OUT/bench-$1.json"
}
run sparsefill 32768,131072,524288 32,32,4
run sparsefill-prev 32768,131072 32,32
cand() {  # kernel file lengths heads
  D="$T/candidate-$2"; mkdir -p "$D"
  timeout 150 bin/sparsefill bench --lengths "$3" --heads "$4" --patterns vertical_slash --candidate "$1=$2.tile" --out "$D" >"$D/bench.log" 2>&1
  el "candidate $2 rc=$?"
  grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
  cp "$D/bench.md" "$OUT/candidate-$2.md"
}
cand vs_convert convert_two_levels 32768,131072 32,32
cand vs_column_scores colscores_warp_copies 32768 32
cand vs_column_scores colscores_no_diagonals 32768 32
cp "$T/tests-patterns.log" "$OUT/"
el done
