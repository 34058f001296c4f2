#!/usr/bin/env bash
# Session 27 round 4 (COMMIT 9fed6ca, round 2's pack): whether chunks of one head help
# beyond 512K. Round 2: 4 chunks of one head 0.892x at 512K, chunks of whole groups
# 1.004-1.025x at 32K and 128K; round 3: the head-major launch order in one launch only
# 0.983x at 512K. Here `--vs-chunks` at 32 chunks (one head each) at 128K and 32K, and
# at 512K (4 heads) 4 chunks again and 2.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
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
run 128k-c32 131072 32 32
run 32k-c32 32768 32 32
run 512k-c4 524288 4 4
run 512k-c2 524288 4 2
el done
