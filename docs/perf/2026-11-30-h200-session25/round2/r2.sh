#!/usr/bin/env bash
# Session 25 round 2 (COMMIT 8965f18: the shipped kernels of 16ec485, vs_column_scores back
# to its f32 sums, and the i32 bin_sum in the language): patterns GPU tests; session 24's
# convert_slots.tile candidate at 32K/128K (it ran past round 1's 150 s limit at three
# lengths); the 32K workload with its peers twice, with the SM clock and power sampled
# every 100 ms during each; then the sparse run with peers (run.sh ONLY=sparse).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv,noheader) commit $(cat COMMIT)"
timeout 130 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
D="$T/candidate-convert_slots"; mkdir -p "$D"
timeout 200 bin/sparsefill bench --lengths 32768,131072 --heads 32,32 --patterns vertical_slash --candidate vs_convert=convert_slots.tile --out "$D" >"$D/bench.log" 2>&1
el "candidate vs_convert=convert_slots rc=$?"
grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
cp "$D/bench.md" "$OUT/candidate-convert_slots.md"
for rep in 1 2; do
  D="$T/rep$rep"; mkdir -p "$D"
  nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv,noheader -lms 100 >"$D/clocks-ours.csv" 2>/dev/null & P=$!
  timeout 45 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep $rep bench rc=$?"; kill $P 2>/dev/null
  nvidia-smi --query-gpu=timestamp,clocks.sm,power.draw,temperature.gpu --format=csv,noheader -lms 100 >"$D/clocks-peers.csv" 2>/dev/null & P=$!
  PYTHONUNBUFFERED=1 timeout 60 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep $rep peers rc=$?"; kill $P 2>/dev/null
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768 .*(vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
  for w in ours peers; do
    python3 - "$D/clocks-$w.csv" "$w" <<'PY' | tee -a "$S"
import sys
rows = [l.split(", ") for l in open(sys.argv[1]) if l.count(",") >= 3]
busy = [(int(r[1].split()[0]), float(r[2].split()[0])) for r in rows if float(r[2].split()[0]) > 300]
if busy:
    c = sorted(x for x, _ in busy); p = sorted(y for _, y in busy)
    print(f"  {sys.argv[2]}: {len(busy)} samples over 300 W: SM MHz median {c[len(c)//2]} (min {c[0]}, max {c[-1]}), W median {p[len(p)//2]:.0f} (max {p[-1]:.0f})")
PY
  done
done
R=$T/sparse-run
ONLY=sparse SPARSE_TIMEOUT=200 PEERS_TIMEOUT=150 SPARSE_ARGS="--patterns vertical_slash --heads 32,32,4" OUT="$R" bash run.sh >"$T/run-sparse.log" 2>&1
el "sparse run rc=$?"
grep -E "^\| (32768|131072|524288)" "$R/sparse/bench.md" 2>/dev/null | tee -a "$S"
python3 - "$R/sparse/bench.json" <<'PY' | tee -a "$S"
import json, sys
d = json.load(open(sys.argv[1]))
for L in d["lengths"]:
    for p in L["patterns"]:
        if p["pattern"] != "dense":
            print(f"  {L['len']}: " + " ".join(f"{x['kernel']} {x['ms']:.4f}" for x in p["launches"]))
PY
cp "$R/sparse/bench.md" "$OUT/bench.md" 2>/dev/null; cp "$R/sparse/bench.json" "$OUT/bench.json" 2>/dev/null
cp "$R/sparse/peers.json" "$OUT/peers.json" 2>/dev/null
tar czf "$OUT/r2-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
