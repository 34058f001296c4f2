#!/usr/bin/env bash
# Session 26 round 1 (COMMIT 14d90da: warp groups in code generation, vs_pair_union, the
# pairs' attention): model, patterns and runtime GPU tests; the 32K workload with each walk
# (--vs-walk blocks, then pairs), each with its peers and the SM clock and power sampled;
# then 128K and 512K with each walk (our dense the baseline, no peers).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv,noheader) commit $(cat COMMIT)"
for t in patterns model runtime; do
  timeout 150 bin/test-sparsefill-$t-gpu --test-threads=4 >"$T/tests-$t.log" 2>&1
  el "$t GPU tests: rc=$? $(grep -E '^test result' "$T/tests-$t.log" | tail -n1)"
done
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
grep -hE "^test .*(pairs|pair_union).* \.\.\. " "$T/tests-patterns.log" | tee -a "$S"
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
for walk in blocks pairs; do
  D="$T/32k-$walk"; mkdir -p "$D"
  nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv,noheader -lms 100 >"$D/clocks-ours.csv" 2>/dev/null & P=$!
  timeout 60 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --vs-walk $walk --out "$D" >"$D/bench.log" 2>&1
  el "32K $walk bench rc=$?"; kill $P 2>/dev/null
  clock_summary "$D/clocks-ours.csv" "ours ($walk)"
  PYTHONUNBUFFERED=1 timeout 70 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "32K $walk peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768 .*(vertical_slash|cuDNN|dense)" "$D/bench.md" | grep -v Flex | tee -a "$S"
  cp "$D/bench.md" "$OUT/bench-32k-$walk.md"
done
for walk in pairs blocks; do
  D="$T/long-$walk"; mkdir -p "$D"
  timeout 110 bin/sparsefill bench --lengths 131072,524288 --heads 32,4 --patterns vertical_slash --vs-walk $walk --out "$D" >"$D/bench.log" 2>&1
  el "128K/512K $walk bench rc=$?"
  grep -E "^\| (131072|524288) .*(vertical_slash|dense)" "$D/bench.md" | tee -a "$S"
  python3 - "$D/bench.json" <<'PY' | tee -a "$S"
import json, sys
d = json.load(open(sys.argv[1]))
for L in d["lengths"]:
    for p in L["patterns"]:
        if p["pattern"] != "dense":
            print(f"  {L['len']}: " + " ".join(f"{x['kernel']} {x['ms']:.4f}" for x in p.get("launches", [])))
PY
  cp "$D/bench.md" "$OUT/bench-long-$walk.md"
done
tar czf "$OUT/r1-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
