#!/usr/bin/env bash
# Session 23 round 3 (COMMIT cca087a, the session's last code: round 2's, with vs_chain's
# stored distance dropped): every patterns, model and runtime GPU test; then the 32K
# workload (32 heads) with its peers (`sparsefill bench`, sparse_peers.py, the merge),
# repeated while the call has time, for the ratio to cuDNN over several runs.
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
for rep in 1 2 3 4 5 6; do
  [ $(( $(date +%s) - t0 )) -lt 420 ] || break
  D="$T/rep$rep"; mkdir -p "$D"
  timeout 45 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep $rep bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 60 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep $rep peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768 .*(vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
  cp "$D/bench.md" "$OUT/rep$rep-bench.md" 2>/dev/null
done
cp "$T"/tests-*.log "$OUT/" 2>/dev/null
tar czf "$OUT/r3-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
