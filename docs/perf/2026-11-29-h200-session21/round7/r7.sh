#!/usr/bin/env bash
# Session 21 round 7, the shipped code (COMMIT): the 32K ratio to cuDNN with both sides
# settled (2 s of untimed runs first, the default, through Gpu::settle), three times: `sparsefill bench` at 32K, 32 heads (our dense kernel and
# vertical-slash, 5 timed runs) followed by sparse_peers.py (SDPA cuDNN and flash,
# FlexAttention over the same cover, 5 timed runs) and the merge, as run.sh ONLY=sparse
# does once.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r7-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
for rep in 1 2 3; do
  D="$T/rep$rep"; mkdir -p "$D"
  timeout 90 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep $rep bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 100 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep $rep peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768" "$D/bench.md" | tee -a "$S"
done
tar czf "$OUT/r7-logs.tgz" -C "$T" . 2>/dev/null
el done
