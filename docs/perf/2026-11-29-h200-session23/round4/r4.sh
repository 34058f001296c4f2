#!/usr/bin/env bash
# Session 23 round 4 (COMMIT cca087a, the session's last code): the sparse run with peers
# (run.sh ONLY=sparse: our dense kernel, vertical-slash, torch SDPA's cuDNN and flash,
# FlexAttention over the same block mask, one call, both sides settled) at 32K, 128K
# (32 heads) and 512K (4 heads).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
R=$T/sparse-run
ONLY=sparse SPARSE_TIMEOUT=200 PEERS_TIMEOUT=120 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$T/run-sparse.log" 2>&1
el "sparse run rc=$?"
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" 2>/dev/null | tee -a "$S"
cp "$R/sparse/bench.md" "$OUT/bench.md" 2>/dev/null; cp "$R/sparse/bench.json" "$OUT/bench.json" 2>/dev/null
cp "$R/sparse/peers.json" "$OUT/peers.json" 2>/dev/null
el done
