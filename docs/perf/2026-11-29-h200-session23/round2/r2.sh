#!/usr/bin/env bash
# Session 23 round 2 (COMMIT 78500d9: round 1's changes, bin_sum's grouped swaps reverted,
# and cache keys that hash the compiler's source): every patterns GPU test; the session
# start's way of following vs_convert's chain (two dependent loads a range,
# convert_two_loads.tile) as a vs_convert candidate, timed in turns with the shipped
# launch at 32K, 128K (32 heads) and 512K (4 heads); then the sparse run with peers
# (run.sh ONLY=sparse: our dense kernel, vertical-slash, torch SDPA's cuDNN and flash,
# FlexAttention over the same block mask, one call, both sides settled), and with the
# time left the 32K workload once more with its peers.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 130 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
D="$T/convert"; mkdir -p "$D"
timeout 170 bin/sparsefill bench --lengths 32768,131072,524288 --heads 32,32,4 --patterns vertical_slash --candidate vs_convert=convert_two_loads.tile --out "$D" >"$D/bench.log" 2>&1
el "vs_convert candidate rc=$?"
grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
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
if [ $(( $(date +%s) - t0 )) -lt 480 ]; then
  D="$T/rep"; mkdir -p "$D"
  timeout 45 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 60 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768" "$D/bench.md" | tee -a "$S"
fi
cp "$T/convert/bench.md" "$OUT/convert-bench.md" 2>/dev/null
cp "$R/sparse/bench.md" "$OUT/bench.md" 2>/dev/null; cp "$R/sparse/bench.json" "$OUT/bench.json" 2>/dev/null
cp "$R/sparse/peers.json" "$OUT/peers.json" 2>/dev/null; cp "$T/rep/bench.md" "$OUT/rep-bench.md" 2>/dev/null
cp "$T/tests-patterns.log" "$OUT/" 2>/dev/null
tar czf "$OUT/r2-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
