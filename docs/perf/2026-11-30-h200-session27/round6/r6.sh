#!/usr/bin/env bash
# Session 27 round 6 (COMMIT 6f35659: one chunk a head by default from 512K, in the device
# runner and the bench): the patterns GPU tests of the device runners and of
# vertical-slash (new: the runner in chunks on model-like strided views, equal bit for
# bit to one piece), the model GPU tests, then 512K (4 heads) with the bench's default
# chunks and its peers.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.txt"
T=/tmp/r6-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
timeout 60 bin/test-sparsefill-patterns-gpu --test-threads=4 device vertical_slash >"$T/tests-patterns.log" 2>&1
el "patterns device+vertical_slash GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
timeout 30 bin/test-sparsefill-model-gpu --test-threads=4 >"$T/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
grep -hE "FAILED|panicked|differ" "$T"/tests-*.log | head -20 | tee -a "$S"
D="$T/512k"; mkdir -p "$D"
timeout 80 bin/sparsefill bench --lengths 524288 --heads 4 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
el "512K bench (default chunks) rc=$?"
PYTHONUNBUFFERED=1 timeout 60 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
el "512K peers rc=$?"
bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
grep -E "^\| 524288 .*(vertical_slash|dense|cuDNN)|^- S=" "$D/bench.md" | tee -a "$S"
cp "$D"/bench.md "$D"/bench.json "$D"/peers.json "$OUT/" 2>/dev/null
tar czf "$OUT/r6-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
