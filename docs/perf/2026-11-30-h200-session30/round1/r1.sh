#!/usr/bin/env bash
# Session 30 round 1 (COMMIT in pack/COMMIT; no shipped code changed): vs_column_scores
# walking TILES key tiles a program at occupancy(N) (session 20 timed the loop at two
# programs an SM, before occupancy(N) existed), each candidate in turns with the shipped
# launch at 32K; then the attention's per-program fixed costs, probed by indexes with
# fewer slashes and columns (the same programs, less walk).
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
launches() {
  python3 - "$1" <<'PY' | tee -a "$S"
import json, sys
d = json.load(open(sys.argv[1]))
for L in d["lengths"]:
    for p in L["patterns"]:
        if p["pattern"] != "dense":
            print(f"  {L['len']} {p['pattern']}: tiles {p.get('computed_tiles')} attn {p['ms']['attention']} " + " ".join(f"{x['kernel']} {x['ms']:.4f}" for x in p.get("launches", [])))
PY
}
cand() {  # kernel file lengths heads
  D="$T/candidate-$2"; mkdir -p "$D"
  timeout 150 bin/sparsefill bench --lengths "$3" --heads "$4" --patterns vertical_slash --candidate "$1=$2.tile" --out "$D" >"$D/bench.log" 2>&1
  el "candidate $1=$2 rc=$?"
  grep -E "^\| [0-9]+ .*vertical_slash" "$D/bench.md" | tee -a "$S"
  cp "$D/bench.md" "$OUT/candidate-$2.md"
}
cand vs_column_scores colscores_t4_o4 32768 32
cand vs_column_scores colscores_t8_o4 32768 32
cand vs_column_scores colscores_t16_o4 32768 32
cand vs_column_scores colscores_t4_o3 32768 32
D="$T/probe"; mkdir -p "$D"
timeout 200 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash,vertical_slash:vertical=30,slash=6096,vertical_slash:vertical=30,slash=100,vertical_slash:vertical=1000,slash=100 --out "$D" >"$D/bench.log" 2>&1
el "probe bench rc=$?"
grep -E "^\| 32768 " "$D/bench.md" | tee -a "$S"
launches "$D/bench.json"
cp "$D/bench.md" "$OUT/probe.md"; cp "$D/bench.json" "$OUT/probe.json"
tar czf "$OUT/r1-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
