#!/usr/bin/env bash
# Session 27 round 2 (COMMIT 9fed6ca: the chunked launches keyed by one view a buffer and
# chunk, fixing round 1's race; the bench's total timed as one range): the vertical-slash
# and runtime GPU tests; `sparsefill bench --vs-chunks N` at 32K (2 and 4 chunks), with
# the peers once; then 128K (32 heads) and 512K (4 heads) at 4 chunks.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
timeout 120 bin/test-sparsefill-patterns-gpu --test-threads=4 vertical_slash >"$T/tests-patterns.log" 2>&1
el "patterns vertical_slash GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
timeout 60 bin/test-sparsefill-runtime-gpu --test-threads=4 >"$T/tests-runtime.log" 2>&1
el "runtime GPU tests: rc=$? $(grep -E '^test result' "$T/tests-runtime.log" | tail -n1)"
grep -hE "FAILED|panicked|differ" "$T"/tests-*.log | head -20 | tee -a "$S"
for n in 2 4; do
  D="$T/32k-c$n"; mkdir -p "$D"
  timeout 80 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --vs-chunks $n --out "$D" >"$D/bench.log" 2>&1
  el "32K chunks $n bench rc=$?"
  if [ $n = 2 ]; then
    PYTHONUNBUFFERED=1 timeout 70 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
    el "32K peers rc=$?"
    bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  fi
  grep -E "^\| 32768 .*(vertical_slash|dense|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
  grep -E "check failed|did not run|FAILED" "$D/bench.md" "$D/bench.log" | tee -a "$S"
  cp "$D/bench.md" "$OUT/bench-32k-c$n.md"; cp "$D/bench.json" "$OUT/bench-32k-c$n.json"
done
for n in 4; do
  D="$T/long-c$n"; mkdir -p "$D"
  timeout 170 bin/sparsefill bench --lengths 131072,524288 --heads 32,4 --patterns vertical_slash --vs-chunks $n --out "$D" >"$D/bench.log" 2>&1
  el "128K/512K chunks $n bench rc=$?"
  grep -E "^\| (131072|524288) .*(vertical_slash|dense)" "$D/bench.md" | tee -a "$S"
  grep -E "check failed|did not run|FAILED" "$D/bench.md" "$D/bench.log" | tee -a "$S"
  cp "$D/bench.md" "$OUT/bench-long-c$n.md" 2>/dev/null; cp "$D/bench.json" "$OUT/bench-long-c$n.json" 2>/dev/null
  [ $(( $(date +%s) - t0 )) -gt 380 ] && break
done
tar czf "$OUT/r2-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
