#!/usr/bin/env bash
# Session 33 round 4 (COMMIT 9b474f0): where the band walk's time goes at 32K. Each
# candidate is the band kernel with one part taken out (its outputs then fail the check;
# only its time is read), timed in turns with the shipped band kernel by `bench --candidate`.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
for c in band_only rest_only no_columns; do
  D="$T/$c"; mkdir -p "$D"
  timeout 170 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --vs-walk band \
    --candidate sparse_vertical_slash_band=$c.tile --out "$D" >"$D/bench.log" 2>&1
  el "$c: rc=$?"
  grep -E "^\| [0-9]+ .*\`" "$D/bench.md" | tee -a "$S"
  cp "$D/bench.md" "$T/bench-$c.md"
done
tar czf "$OUT/logs.tgz" -C "$T" .
el done
