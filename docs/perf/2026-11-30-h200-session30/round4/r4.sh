#!/usr/bin/env bash
# Session 30 round 4 (COMMIT in pack/COMMIT, the session's last code): the demo, every GPU
# suite (new: gemm with a producer warpgroup at occupancy 1 to 4, which hung at 3 before
# a6efeaa), then 32K vertical-slash with its peers once more.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r4-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
timeout 150 bin/sparsefill demo >"$T/demo.log" 2>&1
el "demo rc=$?"
grep -E "^GPU:|^\| (dense|a_shape|tri_shape|vertical_slash|block_sparse|strided)|FAIL|error" "$T/demo.log" | tee -a "$S"
for t in patterns model runtime; do
  timeout 150 bin/test-sparsefill-$t-gpu --test-threads=4 >"$T/tests-$t.log" 2>&1
  el "$t GPU tests: rc=$? $(grep -E '^test result' "$T/tests-$t.log" | tail -n1)"
done
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
grep -E "gemm_with_a_producer" "$T/tests-patterns.log" | tee -a "$S"
timeout 60 bin/test-sparsefill-patterns-gpu gemm_with_a_producer --exact dot::gemm_with_a_producer_runs_at_every_occupancy_on_gpu >"$T/occupancy.log" 2>&1
el "occupancy test alone: rc=$? $(grep -E '^test result' "$T/occupancy.log" | tail -n1)"
D="$T/32k"; mkdir -p "$D"
timeout 60 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
el "32K bench rc=$?"
PYTHONUNBUFFERED=1 timeout 80 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
el "32K peers rc=$?"
bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
grep -E "^\| 32768 .*(dense|vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
cp "$D"/bench.md "$D"/bench.json "$D"/peers.json "$OUT/" 2>/dev/null
cp "$T/demo.log" "$OUT/"
tar czf "$OUT/r4-logs.tgz" --exclude='*.bin' --exclude='*.svg' --exclude='*.safetensors' -C "$T" . 2>/dev/null
el done
