#!/usr/bin/env bash
# Session 26 round 2 (COMMIT 43c7238): why the pairs' walk leaves rows unwritten on the
# GPU (round 1), and what its ring depth is worth. The warp-group tests and the pairs'
# GPU tests with the default lowering, without the producer warpgroup and without TMA;
# then, at 32K, the pairs' kernel against its 4- and 5-stage candidates in turns.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r2-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
for v in default SPARSEFILL_SPECIALIZE=off SPARSEFILL_TMA=0; do
  L="$T/tests-$v.log"
  env $( [ $v = default ] || echo $v ) timeout 100 bin/test-sparsefill-patterns-gpu groups pairs --test-threads=4 --nocapture >"$L" 2>&1
  el "$v: rc=$? $(grep -E '^test result' "$L" | tail -n1)"
  grep -E "^test .* \.\.\. |^unwritten|with o or lse not finite|rel_l2" "$L" | head -40 | tee -a "$S"
done
for s in 4 5; do
  D="$T/cand-$s"; mkdir -p "$D"
  timeout 90 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --vs-walk pairs --candidate sparse_vertical_slash_pairs=pairs_stages$s.tile --out "$D" >"$D/bench.log" 2>&1
  el "32K pairs, candidate stages($s): rc=$?"
  grep -E "^\| 32768 .*vertical_slash" "$D/bench.md" | tee -a "$S"
done
tar czf "$OUT/r2-logs.tgz" --exclude='*.bin' --exclude='*.svg' -C "$T" . 2>/dev/null
el done
