#!/usr/bin/env bash
# Session 27 round 3 (COMMIT 9fed6ca, round 2's pack): round 2 measured 4 chunks of one
# head each 0.892x the launches in one piece at 512K (4 heads on 1 kv head), where chunks
# of whole GQA groups gained nothing. A chunk of one head changes the attention's launch
# order: adjacent blocks of one head run together instead of a group's heads. Two
# candidate orders of the shipped attention kernel, each timed in turns with it
# (`--candidate`) at 32K, 128K (32 heads) and 512K (4 heads): head-major within a group,
# and bands of 64 blocks a head.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r3-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
for c in vs_head_major vs_band64; do
  D="$T/$c"; mkdir -p "$D"
  timeout 220 bin/sparsefill bench --lengths 32768,131072,524288 --heads 32,32,4 --patterns vertical_slash \
    --candidate sparse_vertical_slash=$c.tile --out "$D" >"$D/bench.log" 2>&1
  el "$c bench rc=$?"
  grep -E "^\| [0-9]+ .*(vertical_slash|dense)" "$D/bench.md" | tee -a "$S"
  grep -E "check failed|did not run|FAILED" "$D/bench.md" "$D/bench.log" | tee -a "$S"
  cp "$D/bench.md" "$OUT/bench-$c.md" 2>/dev/null; cp "$D/bench.json" "$OUT/bench-$c.json" 2>/dev/null
done
el done
