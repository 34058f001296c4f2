#!/usr/bin/env bash
# Session 26 round 5 (COMMIT bbfdbb6: with groups, ifs branch on a warp vote): the model,
# patterns and runtime GPU tests (the shared-memory regions of 2678038 touch every kernel);
# the 32K workload with the pairs' walk (with its peers and the clock sampled) and with the
# blocks' walk; then 128K and 512K with the pairs' walk (our dense the baseline, no peers;
# the blocks' walk at those lengths is round 3's).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r5-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
for t in patterns model runtime; do
  timeout 150 bin/test-sparsefill-$t-gpu --test-threads=4 >"$T/tests-$t.log" 2>&1
  el "$t GPU tests: rc=$? $(grep -E '^test result' "$T/tests-$t.log" | tail -n1)"
done
grep -hE "FAILED|panicked|with o or lse not finite|differ from" "$T"/tests-*.log | head -20 | tee -a "$S"
clock_summary() {
  python3 - "$1" "$2" <<'PY' | tee -a "$S"
import sys
rows = [l.split(", ") for l in open(sys.argv[1]) if l.count(",") >= 3]
busy = [(int(r[1].split()[0]), float(r[2].split()[0])) for r in rows if float(r[2].split()[0]) > 300]
if busy:
    c = sorted(x for x, _ in busy); p = sorted(y for _, y in busy)
    print(f"  {sys.argv[2]}: {len(busy)} samples over 300 W: SM MHz median {c[len(c)//2]} (min {c[0]}, max {c[-1]}), W median {p[len(p)//2]:.0f} (max {p[-1]:.0f})")
PY
}
for walk in pairs blocks; do
  D="$T/32k-$walk"; mkdir -p "$D"
  nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv,noheader -lms 100 >"$D/clocks.csv" 2>/dev/null & P=$!
  timeout 60 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --vs-walk $walk --out "$D" >"$D/bench.log" 2>&1
  el "32K $walk bench rc=$?"; kill $P 2>/dev/null
  clock_summary "$D/clocks.csv" "ours ($walk)"
  if [ $walk = pairs ]; then
    PYTHONUNBUFFERED=1 timeout 70 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
    el "32K $walk peers rc=$?"
    bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  fi
  grep -E "^\| 32768 .*(vertical_slash|cuDNN|dense)" "$D/bench.md" | grep -v Flex | tee -a "$S"
  grep -E "check failed|did not run" "$D/bench.md" | tee -a "$S"
  cp "$D/bench.md" "$OUT/bench-32k-$walk.md"
done
for walk in pairs; do
  D="$T/long-$walk"; mkdir -p "$D"
  timeout 150 bin/sparsefill bench --lengths 131072,524288 --heads 32,4 --patterns vertical_slash --vs-walk $walk --out "$D" >"$D/bench.log" 2>&1
  el "128K/512K $walk bench rc=$?"
  grep -E "^\| (131072|524288) .*(vertical_slash|dense)" "$D/bench.md" | tee -a "$S"
  cp "$D/bench.md" "$OUT/bench-long-$walk.md" 2>/dev/null
done
tar czf "$OUT/r5-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
