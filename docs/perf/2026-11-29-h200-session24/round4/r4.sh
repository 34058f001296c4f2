#!/usr/bin/env bash
# Session 24 round 4 (COMMIT 32a486b, the session's last code: round 3's with diag_sum
# dropped, so vs_column_scores is round 1's again): the 32K workload (32 heads) with its
# peers (`sparsefill bench`, sparse_peers.py, the merge) three times, then 128K once with
# its peers, then the patterns GPU tests with the device time left.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
rep() {  # name length heads timeout
  D="$T/$1"; mkdir -p "$D"
  timeout "$4" bin/sparsefill bench --lengths "$2" --heads "$3" --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "$1 bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 90 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "$1 peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| [0-9]+ .*(vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
}
for r in 1 2 3; do rep rep$r 32768 32 45; done
rep long 131072 32 90
tar czf "$OUT/r4-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
timeout 70 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
el done
