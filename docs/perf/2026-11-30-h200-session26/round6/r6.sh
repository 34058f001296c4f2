#!/usr/bin/env bash
# Session 26 round 6 (COMMIT bbfdbb6's pack): the pairs' walk with both products of every
# union tile issued by both groups (pairs_products.tile: the probabilities of a tile a group
# skips are 0, so its P.V adds nothing, and no `if` holds a product, so P.V runs across the
# softmax into the next iteration as in the blocks' walk), timed in turns against the
# shipped pairs' walk at 32K and 128K (32 heads), outputs checked.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r6-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
D="$T/cand"; mkdir -p "$D"
timeout 200 bin/sparsefill bench --lengths 32768,131072 --heads 32,32 --patterns vertical_slash --vs-walk pairs --candidate sparse_vertical_slash_pairs=pairs_products.tile --out "$D" >"$D/bench.log" 2>&1
el "pairs candidate rc=$?"
grep -E "^\| (32768|131072) " "$D/bench.md" | tee -a "$S"
grep -E "check failed|did not run" "$D/bench.md" | tee -a "$S"
cp "$D/bench.md" "$OUT/bench-candidate.md"
el done
