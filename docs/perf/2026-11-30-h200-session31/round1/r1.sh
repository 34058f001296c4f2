#!/usr/bin/env bash
# Session 31 round 1 (COMMIT in pack/COMMIT): the vertical-slash column loop's gathered
# K/V rows prefetched with cp.async (codegen::gather_ahead). Every patterns GPU test
# first (model and runtime in a later round: the pack must stay under 64 MiB; the exact vertical-slash checks cover the gathered rows, rows at
# -1 included); then the bench with this commit (bin/sparsefill) and the session's start
# (bin/sparsefill-old, 09bdbbe) in turns: 32K x3 each, 128K x2 each, 512K (4 heads) once
# each; then 32K with its peers.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 570 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
for t in patterns; do
  timeout 150 bin/test-sparsefill-$t-gpu --test-threads=4 >"$T/tests-$t.log" 2>&1
  el "$t GPU tests: rc=$? $(grep -E '^test result' "$T/tests-$t.log" | tail -n1)"
done
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
run() { # label binary cache commit len heads
  [ $(left) -gt 45 ] || { el "skip $1 $5"; return; }
  D="$T/$1-$5"; mkdir -p "$D"
  SPARSEFILL_CACHE_DIR=$PWD/$3 SPARSEFILL_COMMIT=$4 timeout $(( $(left) - 5 )) "$2" bench --patterns vertical_slash --lengths "$5" --heads "$6" --out "$D" >"$D/bench.log" 2>&1
  el "$1 S=$5 H=$6 rc=$?"
  grep -E "^\| $5 .*(dense|vertical_slash)" "$D/bench.md" | tee -a "$S"
  cp "$D/bench.md" "$OUT/$1-$5.md" 2>/dev/null
}
NEW=$(cat COMMIT)
for i in 1 2 3; do
  run new$i bin/sparsefill cache "$NEW" 32768 32
  run old$i bin/sparsefill-old cache-old 09bdbbe 32768 32
done
for i in 1 2; do
  run new$i bin/sparsefill cache "$NEW" 131072 32
  run old$i bin/sparsefill-old cache-old 09bdbbe 131072 32
done
run new1 bin/sparsefill cache "$NEW" 524288 4
run old1 bin/sparsefill-old cache-old 09bdbbe 524288 4
if [ $(left) -gt 60 ]; then
  D="$T/32k-peers"; mkdir -p "$D"
  timeout 60 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "32K bench rc=$?"
  PYTHONUNBUFFERED=1 timeout $(( $(left) - 5 )) python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "32K peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768 .*(dense|vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
  cp "$D"/bench.md "$D"/bench.json "$D"/peers.json "$OUT/" 2>/dev/null
fi
tar czf "$OUT/r1-logs.tgz" --exclude='*.bin' --exclude='*.svg' --exclude='*.safetensors' -C "$T" . 2>/dev/null
el done
