#!/usr/bin/env bash
# Session 30 round 2 (COMMIT in pack/COMMIT: vs_column_scores walking 16 key tiles a
# program at occupancy(4); Split::of asking setmaxnreg only for the registers a program
# holds): every GPU test suite; the occupancy(3) candidate that hung round 1, now built
# by the fixed split, and two more vs_column_scores candidates in turns with the shipped
# launch at 32K; then the sparse run with peers at 32K / 128K / 512K (run.sh ONLY=sparse).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
for t in patterns model runtime; do
  timeout 130 bin/test-sparsefill-$t-gpu --test-threads=4 >"$T/tests-$t.log" 2>&1
  el "$t GPU tests: rc=$? $(grep -E '^test result' "$T/tests-$t.log" | tail -n1)"
done
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
cand() {  # kernel file lengths heads
  D="$T/candidate-$2"; mkdir -p "$D"
  timeout 60 bin/sparsefill bench --lengths "$3" --heads "$4" --patterns vertical_slash --candidate "$1=$2.tile" --out "$D" >"$D/bench.log" 2>&1
  el "candidate $1=$2 rc=$?"
  grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
  cp "$D/bench.md" "$OUT/candidate-$2.md"
}
cand vs_column_scores colscores_t4_o3 32768 32
cand vs_column_scores colscores_t16_o3 32768 32
cand vs_column_scores colscores_t32_o4 32768 32
R=$T/sparse-run
ONLY=sparse SPARSE_TIMEOUT=200 PEERS_TIMEOUT=150 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$T/run-sparse.log" 2>&1
el "sparse run rc=$?"
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" 2>/dev/null | tee -a "$S"
python3 - "$R/sparse/bench.json" <<'PY' | tee -a "$S"
import json, sys
d = json.load(open(sys.argv[1]))
for L in d["lengths"]:
    for p in L["patterns"]:
        if p["pattern"] != "dense":
            print(f"  {L['len']}: " + " ".join(f"{x['kernel']} {x['ms']:.4f}" for x in p["launches"]))
PY
cp "$R/sparse/bench.md" "$OUT/bench.md" 2>/dev/null; cp "$R/sparse/bench.json" "$OUT/bench.json" 2>/dev/null
cp "$R/sparse/peers.json" "$OUT/peers.json" 2>/dev/null
tar czf "$OUT/r2-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
