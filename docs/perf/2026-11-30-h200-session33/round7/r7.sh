#!/usr/bin/env bash
# Session 33 round 7 (COMMIT 7e1c651, turns off by default): 32K vertical-slash with its peers,
# twice, for the 32K ratio series (sessions 30 and 32).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do [ -e "${f%.xz}" ] || { xz -dkf "$f" && chmod +x "${f%.xz}"; }; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r7-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
for rep in 1 2; do
  D="$T/rep$rep"; mkdir -p "$D"
  timeout 60 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep $rep bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 80 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep $rep peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768 .*(dense|vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
  cp "$D/bench.md" "$OUT/rep$rep-bench.md"; cp "$D/bench.json" "$OUT/rep$rep-bench.json"; cp "$D/peers.json" "$OUT/rep$rep-peers.json"
done
el done
