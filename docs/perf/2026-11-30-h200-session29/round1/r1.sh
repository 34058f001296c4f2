#!/usr/bin/env bash
# Session 29 round 1 (COMMIT in pack/COMMIT): the session's code on the GPU. The demo
# (new: every attention pattern on the GPU backend, each checked against f64 attention
# over the keys it kept), every GPU test suite (patterns, model, runtime: the dispatch
# now checks a pattern's values first, on the host and the device side), `attn --device
# cuda` refusing bad values before the GPU, then 32K vertical-slash with its peers.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do xz -dkf "$f" && chmod +x "${f%.xz}"; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.txt"
T=/tmp/r1-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader) commit $(cat COMMIT)"
timeout 150 bin/sparsefill demo >"$T/demo.log" 2>&1
el "demo rc=$?"
grep -E "^GPU:|^\| (dense|a_shape|tri_shape|vertical_slash|block_sparse|strided)|FAIL|error" "$T/demo.log" | tee -a "$S"
timeout 300 bin/test-sparsefill-patterns-gpu --test-threads=4 >"$T/tests-patterns.log" 2>&1
el "patterns GPU tests: rc=$? $(grep -E '^test result' "$T/tests-patterns.log" | tail -n1)"
timeout 90 bin/test-sparsefill-model-gpu --test-threads=4 >"$T/tests-model.log" 2>&1
el "model GPU tests: rc=$? $(grep -E '^test result' "$T/tests-model.log" | tail -n1)"
timeout 90 bin/test-sparsefill-runtime-gpu --test-threads=4 >"$T/tests-runtime.log" 2>&1
el "runtime GPU tests: rc=$? $(grep -E '^test result' "$T/tests-runtime.log" | tail -n1)"
grep -hE "FAILED|panicked" "$T"/tests-*.log | head -20 | tee -a "$S"
cp qkv.safetensors "$T/qkv.safetensors"  # q [1, 4, 256, 64], k and v [1, 1, 256, 64], standard normal (seed 0)
timeout 30 bin/sparsefill attn --device cuda --input "$T/qkv.safetensors" --output "$T/o.safetensors" --pattern a_shape:n_init=1,n_local=0 >"$T/attn-bad.log" 2>&1
el "attn cuda, empty window: rc=$? $(tail -n1 "$T/attn-bad.log")"
timeout 60 bin/sparsefill attn --device cuda --input "$T/qkv.safetensors" --output "$T/o.safetensors" --pattern vertical_slash:vertical=32,slash=64 --recall >"$T/attn-vs.log" 2>&1
el "attn cuda, vertical_slash with --recall: rc=$?"
tail -n 8 "$T/attn-vs.log" | tee -a "$S"
D="$T/32k"; mkdir -p "$D"
timeout 90 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
el "32K bench rc=$?"
PYTHONUNBUFFERED=1 timeout 90 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
el "32K peers rc=$?"
bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
grep -E "^\| 32768 .*(vertical_slash|dense|cuDNN)|^- S=" "$D/bench.md" | tee -a "$S"
cp "$D"/bench.md "$D"/bench.json "$D"/peers.json "$OUT/" 2>/dev/null
cp "$T/demo.log" "$OUT/"
tar czf "$OUT/r1-logs.tgz" --exclude='*.bin' --exclude='*.svg' --exclude='*.safetensors' -C "$T" . 2>/dev/null
el done
