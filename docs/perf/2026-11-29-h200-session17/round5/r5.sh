#!/usr/bin/env bash
# Session 17 round 5: vertical-slash with the two-launch attention whose 128-row launch
# walks two shared tiles a step (commit in COMMIT), against the single 64-row launch of
# d90c409 (bin/sparsefill-old, built from that commit) in the same call: the
# vertical-slash GPU tests, the old binary's bench, then the new one through run.sh
# ONLY=sparse (our dense kernel, torch SDPA's cuDNN and flash, FlexAttention over the
# same block mask), then the model GPU tests.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r5-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 560 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 90 bin/test-sparsefill-patterns-gpu vertical_slash --test-threads=1 >"$T/tests-vs.log" 2>&1
el "vertical-slash GPU tests: rc=$? $(grep -E '^test result' "$T/tests-vs.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-vs.log | head -20 | tee -a "$S" >/dev/null
SPARSEFILL_CACHE_DIR=$PWD/cache-old SPARSEFILL_COMMIT=d90c409 timeout 170 bin/sparsefill-old bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 --out "$T/old" >"$T/bench-old.log" 2>&1
el "bench old (d90c409) rc=$?"
grep -E "^\| (32768|131072|524288)" "$T/bench-old.log" | tee -a "$S" >/dev/null
R=/tmp/sparse-run
ONLY=sparse SPARSE_TIMEOUT=200 PEERS_TIMEOUT=160 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$T/run-sparse.log" 2>&1
el "sparse run rc=$?"
cp "$R"/sparse/bench.json "$R"/sparse/bench.md "$OUT/" 2>/dev/null; cp "$R"/sparse/peers.json "$OUT/peers.json" 2>/dev/null
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" 2>/dev/null | tee -a "$S" >/dev/null
if [ $(left) -gt 40 ]; then
  timeout 60 bin/test-sparsefill-model-gpu --test-threads=1 >"$T/tests-model.log" 2>&1
  el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
fi
cat "$T"/tests-*.log > "$OUT/tests.log" 2>/dev/null
cat "$T"/bench-old.log "$T"/run-sparse.log "$R"/sparse-bench.log "$R"/sparse-peers.log > "$OUT/sparse.log" 2>/dev/null
el done
