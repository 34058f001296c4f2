#!/usr/bin/env bash
# Session 25 round 4 (COMMIT b7ccdac, the session's last code: round 2's kernels, the
# decode kernels with one reciprocal a row): model, patterns and runtime GPU tests; then
# the 32K workload with its peers twice more.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
for t in model patterns runtime; do
  timeout 130 bin/test-sparsefill-$t-gpu --test-threads=4 >"$T/tests-$t.log" 2>&1
  el "$t GPU tests: rc=$? $(grep -E '^test result' "$T/tests-$t.log" | tail -n1)"
done
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
for rep in 1 2; do
  D="$T/rep$rep"; mkdir -p "$D"
  timeout 45 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep $rep bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 60 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep $rep peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768 .*(vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
done
tar czf "$OUT/r4-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
