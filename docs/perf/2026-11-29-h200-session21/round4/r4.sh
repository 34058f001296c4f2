#!/usr/bin/env bash
# Session 21 round 4, the session's shipped code (COMMIT): the sparse run with peers
# (run.sh ONLY=sparse: our dense kernel, vertical-slash, torch SDPA's cuDNN and flash,
# FlexAttention over the same block mask, one call), both sides now timed after 2 s of
# untimed runs (sparsefill bench --settle-ms and sparse_peers.py --settle-ms, default).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=300 PEERS_TIMEOUT=200 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$T/run-sparse.log" 2>&1
el "sparse run rc=$?"
cp "$R"/sparse/bench.json "$R"/sparse/bench.md "$OUT/" 2>/dev/null; cp "$R"/sparse/peers.json "$OUT/peers.json" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" 2>/dev/null | tee -a "$S"
el "clocks after: $(nvidia-smi --query-gpu=clocks.sm,temperature.gpu,power.draw --format=csv,noheader)"
cat "$T"/run-sparse.log "$R"/sparse-bench.log "$R"/sparse-peers.log > "$T/sparse.log" 2>/dev/null
tar czf "$OUT/r4-logs.tgz" -C "$T" . 2>/dev/null
el done
