#!/usr/bin/env bash
# Session 27 round 1 (COMMIT 33b9f86: vertical-slash in chunks of heads, each chunk's
# estimation on the high-priority side stream beside the chunk before's attention):
# every patterns, model and runtime GPU test (the side stream's priority changed, and
# two new exact tests compare the chunked plan with the plan in one piece); then
# `sparsefill bench --vs-chunks N`, which checks the chunked launches (index, o and lse
# bit for bit) and times them in turns with the launches in one piece: 32K at 2, 4 and
# 8 chunks, then 128K (32 heads) and 512K (4 heads) at 4.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
for t in patterns model runtime; do
  timeout 150 bin/test-sparsefill-$t-gpu --test-threads=4 >"$T/tests-$t.log" 2>&1
  el "$t GPU tests: rc=$? $(grep -E '^test result' "$T/tests-$t.log" | tail -n1)"
done
grep -hE "FAILED|panicked|differ" "$T"/tests-*.log | head -20 | tee -a "$S"
grep -h "chunk" "$T"/tests-patterns.log | tee -a "$S"
for n in 4 2 8; do
  D="$T/32k-c$n"; mkdir -p "$D"
  timeout 80 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --vs-chunks $n --out "$D" >"$D/bench.log" 2>&1
  el "32K chunks $n bench rc=$?"
  grep -E "^\| 32768 .*(vertical_slash|dense)" "$D/bench.md" | tee -a "$S"
  grep -E "check failed|did not run|FAILED" "$D/bench.md" "$D/bench.log" | tee -a "$S"
  cp "$D/bench.md" "$OUT/bench-32k-c$n.md"; cp "$D/bench.json" "$OUT/bench-32k-c$n.json"
done
D="$T/long-c4"; mkdir -p "$D"
timeout 200 bin/sparsefill bench --lengths 131072,524288 --heads 32,4 --patterns vertical_slash --vs-chunks 4 --out "$D" >"$D/bench.log" 2>&1
el "128K/512K chunks 4 bench rc=$?"
grep -E "^\| (131072|524288) .*(vertical_slash|dense)" "$D/bench.md" | tee -a "$S"
grep -E "check failed|did not run|FAILED" "$D/bench.md" "$D/bench.log" | tee -a "$S"
cp "$D/bench.md" "$OUT/bench-long-c4.md" 2>/dev/null; cp "$D/bench.json" "$OUT/bench-long-c4.json" 2>/dev/null
tar czf "$OUT/r1-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
