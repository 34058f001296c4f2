#!/usr/bin/env bash
# Session 27 round 5 (COMMIT 9fed6ca, round 2's pack): one-head chunks were faster only
# at 512K with 4 heads (0.889x and 0.892x in two calls; 2 chunks 0.980x; 32 one-head
# chunks at 128K 1.055x, at 32K 1.651x). Is it the few heads or the length? One-head
# chunks at 128K and 32K with 4 heads, and at 512K with 8 heads.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.txt"
T=/tmp/r5-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
run() { # name lengths heads chunks
  D="$T/$1"; mkdir -p "$D"
  timeout 120 bin/sparsefill bench --lengths $2 --heads $3 --patterns vertical_slash --vs-chunks $4 --out "$D" >"$D/bench.log" 2>&1
  el "$1 bench rc=$?"
  grep -E "^\| [0-9]+ .*(vertical_slash|dense)" "$D/bench.md" | tee -a "$S"
  grep -E "check failed|did not run|FAILED" "$D/bench.md" "$D/bench.log" | tee -a "$S"
  cp "$D/bench.md" "$OUT/bench-$1.md" 2>/dev/null; cp "$D/bench.json" "$OUT/bench-$1.json" 2>/dev/null
}
run 128k-h4-c4 131072 4 4
run 32k-h4-c4 32768 4 4
run 512k-h8-c8 524288 8 8
el done
