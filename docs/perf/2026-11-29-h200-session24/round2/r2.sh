#!/usr/bin/env bash
# Session 24 round 2 (COMMIT e55b117, round 1's build): every patterns, model and runtime
# GPU test; vs_column_scores taking 4 and 2 key tiles a program (colscores_tiles4.tile,
# colscores_tiles2.tile: the query tile and row statistics loaded once a program, no
# branch at the sequence's end) as candidates timed in turns with the shipped launch;
# then the 32K workload (32 heads) with its peers (`sparsefill bench`, sparse_peers.py,
# the merge), repeated while the call has time.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
for t in patterns model runtime; do
  timeout 130 bin/test-sparsefill-$t-gpu --test-threads=4 >"$T/tests-$t.log" 2>&1
  el "$t GPU tests: rc=$? $(grep -E '^test result' "$T/tests-$t.log" | tail -n1)"
done
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
cand() {  # kernel file lengths heads
  D="$T/candidate-$2"; mkdir -p "$D"
  timeout 150 bin/sparsefill bench --lengths "$3" --heads "$4" --patterns vertical_slash --candidate "$1=$2.tile" --out "$D" >"$D/bench.log" 2>&1
  el "candidate $2 rc=$?"
  grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
  cp "$D/bench.md" "$OUT/candidate-$2.md"
}
cand vs_column_scores colscores_tiles4 32768,131072 32,32
cand vs_column_scores colscores_tiles2 32768 32
for rep in 1 2 3 4 5 6; do
  [ $(( $(date +%s) - t0 )) -lt 500 ] || break
  D="$T/rep$rep"; mkdir -p "$D"
  timeout 45 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep $rep bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 60 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep $rep peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768 .*(vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
done
tar czf "$OUT/r2-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
