#!/usr/bin/env bash
# Session 28 round 4 (COMMIT b717205, the shipped code): the mission's headline length.
# Vertical-slash (1000, 6096) at 1M tokens (1048576), 4 heads on 1 kv head, with the
# bench's default chunks (one head a chunk from 512K), our dense kernel, and its peers
# (SDPA cuDNN and flash, FlexAttention over the same cover) in the same call.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.txt"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
D="$T/1m"; mkdir -p "$D"
timeout 300 bin/sparsefill bench --lengths 1048576 --heads 4 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
el "1M bench rc=$?"
tail -n 5 "$D/bench.log" | tee -a "$S"
PYTHONUNBUFFERED=1 timeout 200 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
el "1M peers rc=$?"
tail -n 5 "$D/peers.log" | tee -a "$S"
bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
grep -E "^\| 1048576 .*(vertical_slash|dense|cuDNN)|^- S=" "$D/bench.md" | tee -a "$S"
cp "$D"/bench.md "$D"/bench.json "$D"/peers.json "$D"/bench.log "$D"/peers.log "$OUT/" 2>/dev/null
el done
