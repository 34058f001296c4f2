#!/usr/bin/env bash
# Session 25 round 1 (COMMIT 061cbfa: vs_column_scores summing its diagonals in fixed
# point with i32 bin_sum): patterns, model and runtime GPU tests; vs_column_scores
# candidates at 32K in turns with the shipped launch (the f32 compare-and-swap sums of
# 16ec485, fixed point without the 4 copies, fixed point with one conversion fewer);
# session 24's prepared vs_convert candidates at 32K/128K/512K; then 32K with its peers.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
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
  el "candidate $1=$2 rc=$?"
  grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
  grep -iE "candidate" "$D/bench.md" | tail -n 4 >>"$S"
  cp "$D/bench.md" "$OUT/candidate-$2.md"
}
cand vs_column_scores colscores_f32 32768 32
cand vs_column_scores colscores_i32_one_copy 32768 32
cand vs_column_scores colscores_i32_magic 32768 32
cand vs_convert convert_slots 32768,131072,524288 32,32,4
cand vs_convert convert_column_slots 32768,131072,524288 32,32,4
if [ $(( $(date +%s) - t0 )) -lt 500 ]; then
  D="$T/rep"; mkdir -p "$D"
  timeout 45 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
  el "rep bench rc=$?"
  PYTHONUNBUFFERED=1 timeout 60 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
  el "rep peers rc=$?"
  bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
  grep -E "^\| 32768 .*(vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
  python3 - "$D/bench.json" <<'PY' | tee -a "$S"
import json, sys
d = json.load(open(sys.argv[1]))
for L in d["lengths"]:
    for p in L["patterns"]:
        if p["pattern"] != "dense":
            print(f"  {L['len']}: " + " ".join(f"{x['kernel']} {x['ms']:.4f}" for x in p["launches"]))
PY
fi
tar czf "$OUT/r1-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
