#!/usr/bin/env bash
# Session 22 round 2, the shipped code (COMMIT): the sparse run with peers (run.sh
# ONLY=sparse: our dense kernel, vertical-slash, torch SDPA's cuDNN and flash,
# FlexAttention over the same block mask, one call, both sides settled), then the 32K
# workload twice more (`sparsefill bench`, then sparse_peers.py and the merge), as in
# session 21's round 7.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=220 PEERS_TIMEOUT=160 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$T/run-sparse.log" 2>&1
el "sparse run rc=$?"
cp "$R"/sparse/bench.json "$R"/sparse/bench.md "$OUT/" 2>/dev/null; cp "$R"/sparse/peers.json "$OUT/peers.json" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" 2>/dev/null | tee -a "$S"
cat "$T"/run-sparse.log "$R"/sparse-bench.log "$R"/sparse-peers.log > "$T/sparse.log" 2>/dev/null
for rep in 1 2; do
  D="$T/rep$rep"; mkdir -p "$D"
  timeout 90 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep $rep bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 100 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep $rep peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768" "$D/bench.md" | tee -a "$S"
done
tar czf "$OUT/r2-logs.tgz" -C "$T" . 2>/dev/null
el done
