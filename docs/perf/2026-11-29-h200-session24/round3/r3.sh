#!/usr/bin/env bash
# Session 24 round 3 (COMMIT 6ecaf69: round 1's vs_hops; vs_chain_stops / vs_chain
# skipping the rest of their loops a span at a time; vs_column_scores summing its
# diagonals with the new diag_sum): every patterns, model and runtime GPU test; round
# 1's vs_column_scores (bin_sum), vs_chain_stops and vs_chain (estimate_e55b117.tile,
# e55b117's estimation source) as candidates timed in turns with the shipped launches;
# then the sparse
# run with peers (run.sh ONLY=sparse: our dense kernel, vertical-slash, torch SDPA's cuDNN
# and flash, FlexAttention over the same block mask, one call, both sides settled), and
# with the time left the 32K workload once more with its peers.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r3-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
for t in patterns model runtime; do
  timeout 130 bin/test-sparsefill-$t-gpu --test-threads=4 >"$T/tests-$t.log" 2>&1
  el "$t GPU tests: rc=$? $(grep -E '^test result' "$T/tests-$t.log" | tail -n1)"
done
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
cand() {  # kernel file lengths heads
  D="$T/candidate-$1"; mkdir -p "$D"
  timeout 150 bin/sparsefill bench --lengths "$3" --heads "$4" --patterns vertical_slash --candidate "$1=$2.tile" --out "$D" >"$D/bench.log" 2>&1
  el "candidate $1=$2 rc=$?"
  grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
  cp "$D/bench.md" "$OUT/candidate-$1.md"
}
cand vs_column_scores estimate_e55b117 32768,131072 32,32
cand vs_chain_stops estimate_e55b117 32768 32
cand vs_chain estimate_e55b117 32768 32
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
if [ $(( $(date +%s) - t0 )) -lt 470 ]; then
  D="$T/rep"; mkdir -p "$D"
  timeout 45 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 60 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768 .*(vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
fi
tar czf "$OUT/r3-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
