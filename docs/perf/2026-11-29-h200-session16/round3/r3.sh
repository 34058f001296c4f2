#!/usr/bin/env bash
# Session 16 round 3: the vertical-slash GPU tests with vs_chain jumping between the
# entries that can close a range (vs_chain_stops), then two estimation candidates, each timed in turns against the shipped
# launch in one process (sparsefill bench --candidate), their index checked equal to the
# shipped launches' and the attention on it checked on poisoned outputs:
#   vs_column_scores spreading each diagonal over 4 copies by column pair (no two lanes
#     of a warp on one bin: no compare-and-swap retries), then adding the copies;
#   topk_threshold counting over 8192-score tiles instead of BLOCK (4096 at >= 128K,
#     1024 at 32K), so a pass issues twice the loads or more at once.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
left() { echo $(( 585 - ($(date +%s) - t0) )); }
el "card: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 60 bin/test-sparsefill-patterns-gpu vertical_slash --test-threads=1 >"$OUT/tests-vs.log" 2>&1
el "vertical-slash GPU tests: rc=$? $(grep -E '^test result' "$OUT/tests-vs.log" | tail -n1)"
grep -hE "FAILED|panicked" "$OUT"/tests-*.log | head -20 | tee -a "$S" >/dev/null
launches() { python3 - "$1" <<'PY'
import json, sys
try: d = json.load(open(sys.argv[1]))
except Exception as e: print("no bench.json:", e); sys.exit()
for L in d["lengths"]:
    for r in L["patterns"]:
        if r.get("launches"):
            print(L["len"], L["heads"], r["pattern"], " ".join(f"{l['kernel']}={l['ms']:.3f}" for l in r["launches"]))
PY
}
cand() { # kernel file budget
  timeout $3 bin/sparsefill bench --patterns vertical_slash --lengths 32768,131072,524288 --heads 32,32,4 \
    --candidate $1=$2 --out "$OUT/$1" >"$OUT/bench-$1.log" 2>&1
  el "candidate $1=$2 rc=$?"
  grep -A6 "^Candidate" "$OUT/bench-$1.log" | tee -a "$S" >/dev/null
  grep -E "^\| (32768|131072|524288)" "$OUT/$1/bench.md" 2>/dev/null | tee -a "$S" >/dev/null
  launches "$OUT/$1/bench.json" | tee -a "$S"
  rm -rf "$OUT/$1"
}
cand vs_column_scores column_scores_spread.tile 200
cand topk_threshold topk_pass8192.tile 200
el done
