#!/usr/bin/env bash
# Session 32 round 3 (COMMIT in pack/COMMIT, 0c8ba31: the code this session ships): what
# session 31 left unrun on the GPU. `ONLY=optouts` of run.sh itself, narrowed to two
# opt-outs (session 31 ran the whole matrix by hand); the model GPU tests under the
# opt-ins SPARSEFILL_DECOUPLED=1 and SPARSEFILL_PINGPONG=all; then 32K vertical-slash
# with its peers once more.
cd "$(dirname "$0")"
OUT=${OUT:-$PWD/out}; mkdir -p "$OUT"
for f in bin/*.xz; do [ -e "${f%.xz}" ] || { xz -dkf "$f" && chmod +x "${f%.xz}"; }; done
export SPARSEFILL_CACHE_DIR=$PWD/cache SPARSEFILL_COMMIT=$(cat COMMIT)
S="$OUT/summary.log"
T=/tmp/r3-logs; mkdir -p "$T"
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$S"; }
el "card: $(nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv,noheader) commit $(cat COMMIT)"
ONLY=optouts OPT_OUTS="SPARSEFILL_TMA=0 SPARSEFILL_ARCH=sm_80" TEST_TIMEOUT=150 OUT="$T/optouts" bash run.sh >"$T/optouts.log" 2>&1
el "run.sh ONLY=optouts rc=$?"
cat "$T/optouts/summary.log" | tee -a "$S"
for optin in SPARSEFILL_DECOUPLED=1 SPARSEFILL_PINGPONG=all; do
  env "$optin" timeout 150 bin/test-sparsefill-model-gpu --test-threads=4 >"$T/model-$optin.log" 2>&1
  el "model GPU tests with $optin rc=$? $(grep -E '^test result' "$T/model-$optin.log" | tail -1)"
  grep -E "FAILED|panicked" "$T/model-$optin.log" | head -5 | tee -a "$S"
done
D="$T/peers32k"; mkdir -p "$D"
timeout 60 bin/sparsefill bench --lengths 32768 --heads 32 --patterns vertical_slash --out "$D" >"$D/bench.log" 2>&1
el "bench rc=$?"
PYTHONUNBUFFERED=1 timeout 80 python3 sparse_peers.py --bench "$D/bench.json" --out "$D/peers.json" >"$D/peers.log" 2>&1
el "peers rc=$?"
bin/sparsefill bench --merge-peers "$D" >>"$D/bench.log" 2>&1
grep -E "^\| 32768 .*(dense|vertical_slash|cuDNN)" "$D/bench.md" | grep -v Flex | tee -a "$S"
cp "$D/bench.md" "$OUT/bench-32k.md"; cp "$D/bench.json" "$OUT/bench-32k.json"; cp "$D/peers.json" "$OUT/peers-32k.json"
tar czf "$OUT/r3-logs.tgz" -C /tmp r3-logs
el done
